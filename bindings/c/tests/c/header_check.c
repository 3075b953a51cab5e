/* Compiled as C99 and as C++ with every warning as an error: the header must be clean in both,
 * declare `struct logship_stats` with its fields in order, and be safe to include twice. */
#include "logship.h"
#include "logship.h"

#include <stddef.h>

static void on_entry(const char *entry, size_t len, void *user) {
    (void)entry;
    (void)len;
    (void)user;
}

typedef char stats_fields_in_order[
    (offsetof(struct logship_stats, written) == 0 && offsetof(struct logship_stats, uploaded) == 8 &&
     offsetof(struct logship_stats, dropped) == 16 && offsetof(struct logship_stats, rejected) == 24 &&
     offsetof(struct logship_stats, retries) == 32 && offsetof(struct logship_stats, bytes_on_wire) == 40 &&
     offsetof(struct logship_stats, queued_bytes) == 48 && offsetof(struct logship_stats, beaconed) == 56 &&
     sizeof(struct logship_stats) == 64) ? 1 : -1];

int main(void) {
    struct logship_stats stats;
    logship_tap_fn tap = on_entry;
    int (*init)(const char *) = log_init;
    int (*write)(const char *, size_t) = log_write;
    int (*flush)(uint32_t) = log_flush;
    int (*shutdown)(uint32_t) = log_shutdown;
    const char *(*last_error)(void) = log_last_error;
    int (*get_stats)(struct logship_stats *) = log_stats;
    int (*get_destination_stats)(uint32_t, struct logship_stats *, int *) = log_destination_stats;
    int (*subscribe)(logship_tap_fn, void *) = log_subscribe;
    int (*unsubscribe)(int) = log_unsubscribe;
    int codes[] = {LOG_OK, LOG_E_INVALID_ARG, LOG_E_CONFIG, LOG_E_NOT_INITIALIZED,
                   LOG_E_ALREADY_INITIALIZED, LOG_E_SHUT_DOWN, LOG_E_TIMEOUT, LOG_E_PANIC,
                   LOG_E_DROPPED, LOG_E_IN_CALLBACK, LOG_E_RUNTIME, LOG_E_RANDOM};
    (void)stats;
    (void)init;
    (void)write;
    (void)flush;
    (void)shutdown;
    (void)last_error;
    (void)get_stats;
    (void)get_destination_stats;
    (void)subscribe;
    (void)unsubscribe;
    (void)codes;
    return tap == NULL;
}
