/* fork() while other threads are writing: every child finds logship uninitialized (never hangs),
 * starts its own logger and ships; the parent keeps logging as if nothing happened.
 * usage: fork PARENT_CONFIG_JSON CHILD_CONFIG_JSON */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

#define FORKS 50
#define WRITERS 4

static volatile sig_atomic_t stop_writing;
static long written_by[WRITERS];

static void *writer(void *arg) {
    long *written = arg;
    char line[64];
    struct timespec pause = {0, 1000000L};
    while (!stop_writing) {
        int len = snprintf(line, sizeof line, "hammer %ld", *written);
        CHECK_RC(log_write(line, (size_t)len), LOG_OK);
        (*written)++;
        if (*written % 8 == 0) nanosleep(&pause, NULL); /* keep forking under writes, not a flood */
    }
    return NULL;
}

/* Exit codes name the step that failed, for the parent's report. */
static int run_child(int k, const char *config) {
    struct logship_stats stats;
    char line[64];
    int len;
    alarm(60); /* a hang kills the child (SIGALRM), which the parent reports */
    if (log_write("child", 5) != LOG_E_NOT_INITIALIZED) return 10;
    if (log_last_error() == NULL || strstr(log_last_error(), "not initialized") == NULL) return 11;
    if (log_flush(10) != LOG_E_NOT_INITIALIZED) return 12;
    if (log_stats(&stats) != LOG_E_NOT_INITIALIZED) return 13;
    if (log_shutdown(10) != LOG_E_NOT_INITIALIZED) return 14;
    if (log_init(config) != LOG_OK) return 15;
    len = snprintf(line, sizeof line, "child %d says hi", k);
    if (log_write(line, (size_t)len) != LOG_OK) return 16;
    if (log_flush(20000) != LOG_OK) return 17;
    if (log_shutdown(10000) != LOG_OK) return 18;
    return 0;
}

int main(int argc, char **argv) {
    pthread_t writers[WRITERS];
    struct logship_stats stats;
    long total = 0;
    int k, t;

    CHECK(argc == 3);
    CHECK_RC(log_init(argv[1]), LOG_OK);
    CHECK_RC(log_write("parent before fork", 18), LOG_OK);
    for (t = 0; t < WRITERS; t++) CHECK(pthread_create(&writers[t], NULL, writer, &written_by[t]) == 0);
    for (k = 0; k < FORKS; k++) {
        int status;
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) _exit(run_child(k, argv[2]));
        CHECK(waitpid(pid, &status, 0) == pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "child %d failed: %s %d\n", k, WIFEXITED(status) ? "exit status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            return 1;
        }
    }
    stop_writing = 1;
    for (t = 0; t < WRITERS; t++) {
        CHECK(pthread_join(writers[t], NULL) == 0);
        total += written_by[t];
    }
    CHECK_RC(log_write("parent after fork", 17), LOG_OK);
    CHECK_RC(log_flush(60000), LOG_OK);
    CHECK_RC(log_stats(&stats), LOG_OK);
    CHECK(stats.written == (unsigned long long)total + 2);
    CHECK(stats.uploaded == stats.written && stats.dropped == 0);
    CHECK_RC(log_shutdown(10000), LOG_OK);
    printf("hammer writes: %ld\n", total);
    return 0;
}
