/* 8 threads x 100,000 writes, all at once, and one more from each thread's exit (a thread-specific
 * data destructor); every one must arrive (tests/c_door.rs counts them).
 * usage: threads CONFIG_JSON */
#include <pthread.h>
#include <string.h>

#include "check.h"

#define THREADS 8
#define WRITES 100000

static pthread_key_t exit_key;

/* Runs at thread exit, after the thread's Rust thread-locals (logship's writer cache among them)
 * are gone: glibc destroys thread-specific data last. */
static void write_at_exit(void *arg) {
    int thread = *(int *)arg;
    char line[64];
    int len = snprintf(line, sizeof line, "thread %d line %d", thread, WRITES);
    CHECK_RC(log_write(line, (size_t)len), LOG_OK);
}

static void *writer(void *arg) {
    int thread = *(int *)arg;
    char line[64];
    int i;
    CHECK(pthread_setspecific(exit_key, arg) == 0);
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
    CHECK(pthread_key_create(&exit_key, write_at_exit) == 0);
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
    CHECK(stats.written == THREADS * (WRITES + 1));
    CHECK(stats.uploaded == THREADS * (WRITES + 1));
    CHECK(stats.dropped == 0 && stats.rejected == 0);
    CHECK_RC(log_shutdown(10000), LOG_OK);
    return 0;
}
