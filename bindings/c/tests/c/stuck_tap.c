/* Deadlines and idleness: with nothing written, no logship thread wakes (context switches of
 * every thread but main, over two idle seconds); log_shutdown returns by its deadline although
 * a tap callback never returns (LOG_E_TIMEOUT, saying so); a later log_init works.
 * usage: stuck_tap CONFIG_JSON */
#include <dirent.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static pthread_mutex_t calls_lock = PTHREAD_MUTEX_INITIALIZER;
static int stuck_calls;
static pthread_mutex_t block_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never = PTHREAD_COND_INITIALIZER;

static int calls_so_far(void) {
    int calls;
    CHECK(pthread_mutex_lock(&calls_lock) == 0);
    calls = stuck_calls;
    CHECK(pthread_mutex_unlock(&calls_lock) == 0);
    return calls;
}

/* Blocks forever on its first call (a callback that never returns). */
static void stuck(const char *entry, size_t len, void *user) {
    (void)entry;
    (void)len;
    (void)user;
    CHECK(pthread_mutex_lock(&calls_lock) == 0);
    stuck_calls++;
    CHECK(pthread_mutex_unlock(&calls_lock) == 0);
    CHECK(pthread_mutex_lock(&block_lock) == 0);
    for (;;) {
        pthread_cond_wait(&never, &block_lock);
    }
}

static void ignore(const char *entry, size_t len, void *user) {
    (void)entry;
    (void)len;
    (void)user;
}

/* Voluntary plus involuntary context switches of every thread of this process but main. */
static long other_threads_switches(void) {
    DIR *tasks = opendir("/proc/self/task");
    struct dirent *task;
    long total = 0;
    CHECK(tasks != NULL);
    while ((task = readdir(tasks)) != NULL) {
        char path[300], line[256];
        FILE *status;
        if (task->d_name[0] == '.' || atol(task->d_name) == (long)getpid()) {
            continue;
        }
        snprintf(path, sizeof path, "/proc/self/task/%s/status", task->d_name);
        status = fopen(path, "r");
        if (status == NULL) {
            continue; /* the thread ended meanwhile */
        }
        while (fgets(line, sizeof line, status) != NULL) {
            if (strncmp(line, "voluntary_ctxt_switches:", 24) == 0 ||
                strncmp(line, "nonvoluntary_ctxt_switches:", 27) == 0) {
                total += atol(strchr(line, ':') + 1);
            }
        }
        fclose(status);
    }
    closedir(tasks);
    return total;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    long before, woke;
    double started, took;
    struct timespec idle = {2, 0};

    CHECK(argc == 2);
    CHECK_RC(log_init(argv[1]), LOG_OK);
    CHECK(log_subscribe(ignore, NULL) >= 0);
    CHECK_RC(log_write("settle", 6), LOG_OK);
    CHECK_RC(log_flush(10000), LOG_OK);
    nanosleep(&idle, NULL); /* what the flush started has ended */

    before = other_threads_switches();
    nanosleep(&idle, NULL);
    woke = other_threads_switches() - before;
    printf("idle wake-ups in 2 s: %ld\n", woke);
    CHECK(woke == 0);

    CHECK(log_subscribe(stuck, NULL) >= 0);
    CHECK_RC(log_write("into the stuck callback", 23), LOG_OK);
    while (calls_so_far() == 0) {
        struct timespec tick = {0, 10000000L};
        nanosleep(&tick, NULL);
    }
    started = now_s();
    CHECK_RC(log_shutdown(500), LOG_E_TIMEOUT);
    took = now_s() - started;
    printf("log_shutdown(500) with a stuck tap callback returned after %.0f ms\n", took * 1000);
    CHECK(took < 5.0);
    CHECK(strstr(log_last_error(), "tap callback") != NULL);
    CHECK_RC(log_shutdown(500), LOG_E_TIMEOUT); /* the first call's result, again */

    CHECK_RC(log_init(argv[1]), LOG_OK);
    CHECK_RC(log_write("after the stuck one", 19), LOG_OK);
    CHECK_RC(log_shutdown(10000), LOG_OK);
    return 0;
}
