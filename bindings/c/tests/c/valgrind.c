/* A whole life cycle for valgrind (tests/c_door.rs runs it with --leak-check=full
 * --errors-for-leak-kinds=definite --error-exitcode=1): init, write, subscribe, an error, flush,
 * unsubscribe, stats, shutdown, and a second init/shutdown.
 * usage: valgrind CONFIG_JSON */
#include <string.h>

#include "check.h"

static void count_entry(const char *entry, size_t len, void *user) {
    CHECK(strlen(entry) == len);
    (*(long *)user)++;
}

int main(int argc, char **argv) {
    struct logship_stats stats;
    long seen = 0;
    int id, i;
    char line[64];

    CHECK(argc == 2);
    CHECK_RC(log_init(argv[1]), LOG_OK);
    id = log_subscribe(count_entry, &seen);
    CHECK(id >= 0);
    for (i = 0; i < 200; i++) {
        int len = snprintf(line, sizeof line, i % 2 ? "line %d" : "{\"line\":%d}", i);
        CHECK_RC(log_write(line, (size_t)len), LOG_OK);
    }
    CHECK_RC(log_write(NULL, 1), LOG_E_INVALID_ARG);
    CHECK(log_last_error() != NULL);
    CHECK_RC(log_flush(60000), LOG_OK);
    CHECK_RC(log_unsubscribe(id), LOG_OK);
    CHECK_RC(log_stats(&stats), LOG_OK);
    CHECK(stats.uploaded == 200);
    CHECK_RC(log_shutdown(30000), LOG_OK);
    CHECK(seen > 0 && seen <= 200);

    CHECK_RC(log_init(argv[1]), LOG_OK);
    CHECK_RC(log_write("second logger", 13), LOG_OK);
    CHECK_RC(log_shutdown(30000), LOG_OK);
    printf("tap saw %ld entries\n", seen);
    return 0;
}
