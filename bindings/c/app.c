/* logship from C: the smallest complete program.
 *
 *   cargo run -p logship-collector &                 # a collector on http://127.0.0.1:8080
 *   make && ./app                                    # or: ./app http://HOST:PORT
 *
 * or, after `make lib && sudo make install`:
 *
 *   cc app.c $(pkg-config --cflags --libs logship) -o app
 */
#include <stdio.h>

#include "logship.h"

/* The tap: every entry, live, on logship's own thread for this subscription. */
static void show_entry(const char *entry, size_t len, void *user) {
    (void)user;
    fprintf(stderr, "tap: %.*s\n", (int)len, entry);
}

static void write_line(const char *line, size_t len) {
    int rc = log_write(line, len);
    if (rc != LOG_OK) fprintf(stderr, "log_write: %s (%d)\n", log_last_error(), rc);
}

int main(int argc, char **argv) {
    const char *base_url = argc > 1 ? argv[1] : "http://127.0.0.1:8080";
    char config[512];
    struct logship_stats stats;
    int tap, rc;

    snprintf(config, sizeof config,
             "{\"base_url\":\"%s\",\"collection\":\"c-example\",\"flush_delay_ms\":100}", base_url);
    if (log_init(config) != LOG_OK) {
        fprintf(stderr, "log_init: %s\n", log_last_error());
        return 1;
    }
    tap = log_subscribe(show_entry, NULL);
    if (tap < 0) fprintf(stderr, "log_subscribe: %s\n", log_last_error());

    write_line("hello from C", 12);
    write_line("[v1] a level-1 line", 19);
    write_line("{\"event\":\"started\",\"pid\":42}", 28);

    if (log_flush(5000) != LOG_OK) fprintf(stderr, "log_flush: %s\n", log_last_error());
    if (log_stats(&stats) == LOG_OK)
        printf("written %llu, uploaded %llu, dropped %llu\n", (unsigned long long)stats.written,
               (unsigned long long)stats.uploaded, (unsigned long long)stats.dropped);
    if (tap >= 0) log_unsubscribe(tap);
    rc = log_shutdown(2000);
    if (rc != LOG_OK) {
        fprintf(stderr, "log_shutdown: %s\n", log_last_error());
        return 1;
    }
    return 0;
}
