/* Per-destination counters through the C door: two destinations, the second one's primary
 * refusing connections, so it fails over to its backup. Each destination's counters are read with
 * log_destination_stats while running and after log_shutdown; bad arguments get error codes.
 * usage: destinations CONFIG_JSON LINES */
#include <string.h>
#include <time.h>

#include "check.h"

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* Polls destination `index` until it uploaded `lines` entries (at most 30 s). */
static void wait_uploaded(uint32_t index, uint64_t lines, int expect_backup) {
    struct logship_stats stats;
    int using_backup = -1;
    int waited;
    for (waited = 0; waited < 30000; waited += 20) {
        CHECK_RC(log_destination_stats(index, &stats, &using_backup), 2);
        if (stats.uploaded == lines) break;
        sleep_ms(20);
    }
    CHECK(stats.uploaded == lines);
    CHECK(stats.written == lines);
    CHECK(stats.dropped == 0 && stats.rejected == 0);
    CHECK(using_backup == expect_backup);
}

int main(int argc, char **argv) {
    struct logship_stats first, again, second;
    uint64_t lines, i;
    char line[64];
    int using_backup = -1;
    const char *message;
    CHECK(argc == 3);
    lines = (uint64_t)strtoull(argv[2], NULL, 10);

    CHECK_RC(log_destination_stats(0, &first, NULL), LOG_E_NOT_INITIALIZED);
    CHECK_RC(log_init(argv[1]), LOG_OK);
    for (i = 0; i < lines; i++) {
        int len = snprintf(line, sizeof line, "destinations line %lu", (unsigned long)i);
        CHECK_RC(log_write(line, (size_t)len), LOG_OK);
    }

    /* The live destination is not held back by the dead primary of the other. */
    wait_uploaded(0, lines, 0);
    /* The other one gets there through its backup, after some failed attempts. */
    wait_uploaded(1, lines, 1);
    CHECK_RC(log_destination_stats(1, &second, NULL), 2);
    CHECK(second.retries >= 1);

    /* log_stats gives destination 0. */
    CHECK_RC(log_stats(&again), LOG_OK);
    CHECK_RC(log_destination_stats(0, &first, NULL), 2);
    CHECK(again.uploaded == first.uploaded && again.written == first.written);

    /* Bad arguments. */
    CHECK_RC(log_destination_stats(2, &first, &using_backup), LOG_E_INVALID_ARG);
    message = log_last_error();
    CHECK(message != NULL && strstr(message, "no destination 2; there are 2") != NULL);
    CHECK_RC(log_destination_stats(0, NULL, &using_backup), LOG_E_INVALID_ARG);
    CHECK(strstr(log_last_error(), "out is NULL") != NULL);

    CHECK_RC(log_shutdown(5000), LOG_OK);
    /* The final counters stay readable after shutdown. */
    CHECK_RC(log_destination_stats(1, &second, &using_backup), 2);
    CHECK(second.uploaded == lines && second.queued_bytes == 0);
    CHECK(using_backup == 1);
    printf("retries %lu\n", (unsigned long)second.retries);
    return 0;
}
