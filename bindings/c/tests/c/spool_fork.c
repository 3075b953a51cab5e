/* A fork child of a logger with a disk spool does not keep the spool locked: while the child
 * lives on (as a pre-fork server's worker would), the parent shuts down and a new logger opens
 * the same spool_dir. usage: spool_fork CONFIG_JSON (with spool_dir) */
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

int main(int argc, char **argv) {
    int status;
    pid_t child;

    CHECK(argc == 2);
    CHECK_RC(log_init(argv[1]), LOG_OK);
    CHECK_RC(log_write("before fork", 11), LOG_OK);
    child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        /* Lives on without touching logship until the parent kills it; its output closed, so
         * that the test sees the parent's end, and an alarm in case the parent never kills it. */
        close(1);
        close(2);
        alarm(60);
        for (;;) pause();
    }
    CHECK_RC(log_shutdown(10000), LOG_OK);
    /* Fails with "in use by another logger" if the child still held the spool's lock. */
    CHECK_RC(log_init(argv[1]), LOG_OK);
    CHECK_RC(log_write("after fork", 10), LOG_OK);
    CHECK_RC(log_shutdown(10000), LOG_OK);
    CHECK(kill(child, SIGKILL) == 0);
    CHECK(waitpid(child, &status, 0) == child);
    return 0;
}
