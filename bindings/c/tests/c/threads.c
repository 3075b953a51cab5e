/* 8 threads x 100,000 writes, all at once; every one must arrive (tests/c_door.rs counts them).
 * usage: threads CONFIG_JSON */
#include <pthread.h>
#include <string.h>

#include "check.h"

#define THREADS 8
#define WRITES 100000

static void *writer(void *arg) {
    int thread = *(int *)arg;
    char line[64];
    int i;
    for (i = 0; i < WRITES; i++) {
        int len = snprintf(line, sizeof line, "thread %d line %d", thread, i);
        CHECK_RC(log_write(line, (size_t)len), LOG_OK);
    }
    return NULL;
}

int main(int argc, char **argv) {
    pthread_t threads[THREADS];
    int ids[THREADS];
    struct logship_stats stats;
    int t;

    CHECK(argc == 2);
    CHECK_RC(log_init(argv[1]), LOG_OK);
    for (t = 0; t < THREADS; t++) {
        ids[t] = t;
        CHECK(pthread_create(&threads[t], NULL, writer, &ids[t]) == 0);
    }
    for (t = 0; t < THREADS; t++) {
        CHECK(pthread_join(threads[t], NULL) == 0);
    }
    CHECK_RC(log_flush(300000), LOG_OK);
    CHECK_RC(log_stats(&stats), LOG_OK);
    printf("written=%llu uploaded=%llu dropped=%llu rejected=%llu retries=%llu\n",
           (unsigned long long)stats.written, (unsigned long long)stats.uploaded,
           (unsigned long long)stats.dropped, (unsigned long long)stats.rejected,
           (unsigned long long)stats.retries);
    CHECK(stats.written == THREADS * WRITES);
    CHECK(stats.uploaded == THREADS * WRITES);
    CHECK(stats.dropped == 0 && stats.rejected == 0);
    CHECK_RC(log_shutdown(10000), LOG_OK);
    return 0;
}
