/* Tiny assertion helpers for the C door tests: a failed check prints where and why (with
 * log_last_error()) and exits with status 1, which tests/c_door.rs reports. */
#ifndef LOGSHIP_TEST_CHECK_H
#define LOGSHIP_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#include "logship.h"

static const char *last_error_or_none(void) {
    const char *message = log_last_error();
    return message ? message : "(none)";
}

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s (log_last_error: %s)\n", __FILE__,      \
                    __LINE__, #cond, last_error_or_none());                                  \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

#define CHECK_RC(call, expected)                                                             \
    do {                                                                                     \
        int rc_ = (call);                                                                    \
        if (rc_ != (expected)) {                                                             \
            fprintf(stderr, "%s:%d: %s returned %d, expected %s = %d (log_last_error: %s)\n", \
                    __FILE__, __LINE__, #call, rc_, #expected, (expected),                   \
                    last_error_or_none());                                                   \
            exit(1);                                                                         \
        }                                                                                    \
    } while (0)

#endif
