/* The tap: two subscriptions each see every entry, in order, as NUL-terminated JSON; a third is
 * unsubscribed half way and is never called after log_unsubscribe returns; what a callback may
 * not call is refused with LOG_E_IN_CALLBACK; what a callback writes is uploaded, never tapped. Prints subscription A's entries, one per line, for
 * tests/c_door.rs to compare with what the collector stored.
 * usage: tap CONFIG_JSON */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "check.h"

#define LINES 3000

struct recorder {
    pthread_mutex_t lock;
    char **entries;
    size_t count;
    size_t capacity;
    int probe_forbidden_calls; /* check, from inside the callback, what it may not call */
    int forbidden_rc[3];
    int write_rc; /* a write from inside the callback: uploaded, never tapped */
    int own_id;
};

static void record(const char *entry, size_t len, void *user) {
    struct recorder *r = user;
    char *copy;
    CHECK(entry != NULL && entry[len] == '\0' && strlen(entry) == len);
    CHECK(len >= 2 && entry[0] == '{' && entry[len - 1] == '}');
    copy = malloc(len + 1);
    CHECK(copy != NULL);
    memcpy(copy, entry, len + 1);
    CHECK(pthread_mutex_lock(&r->lock) == 0);
    if (r->count == r->capacity) {
        r->capacity = r->capacity ? 2 * r->capacity : 64;
        r->entries = realloc(r->entries, r->capacity * sizeof *r->entries);
        CHECK(r->entries != NULL);
    }
    r->entries[r->count++] = copy;
    if (r->probe_forbidden_calls) {
        struct logship_stats stats;
        r->probe_forbidden_calls = 0;
        r->forbidden_rc[0] = log_unsubscribe(r->own_id);
        r->forbidden_rc[1] = log_shutdown(0);
        r->forbidden_rc[2] = log_init("{}");
        r->write_rc = log_write("written from a tap callback", 27);
        CHECK_RC(log_stats(&stats), LOG_OK); /* allowed */
    }
    CHECK(pthread_mutex_unlock(&r->lock) == 0);
}

static size_t count_of(struct recorder *r) {
    size_t count;
    CHECK(pthread_mutex_lock(&r->lock) == 0);
    count = r->count;
    CHECK(pthread_mutex_unlock(&r->lock) == 0);
    return count;
}

static void sleep_ms(long ms) {
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static void write_line(int i) {
    char line[128];
    int len;
    switch (i % 3) {
    case 0: len = snprintf(line, sizeof line, "[v1] tap line %d", i); break;
    case 1: len = snprintf(line, sizeof line, "{\"tap\":%d, \"note\":\"json \\\"entry\\\"\"}", i); break;
    default: len = snprintf(line, sizeof line, "tap line %d with a tab\tand a quote \"", i); break;
    }
    CHECK_RC(log_write(line, (size_t)len), LOG_OK);
}

static void init_recorder(struct recorder *r) {
    memset(r, 0, sizeof *r);
    CHECK(pthread_mutex_init(&r->lock, NULL) == 0);
}

int main(int argc, char **argv) {
    static struct recorder a, b, c;
    int id_a, id_b, id_c, i, waited;
    size_t c_at_unsubscribe, n;

    CHECK(argc == 2);
    init_recorder(&a);
    init_recorder(&b);
    init_recorder(&c);
    CHECK_RC(log_init(argv[1]), LOG_OK);
    id_a = log_subscribe(record, &a);
    CHECK(id_a >= 0);
    b.probe_forbidden_calls = 1;
    id_b = log_subscribe(record, &b);
    CHECK(id_b >= 0 && id_b != id_a);
    CHECK(pthread_mutex_lock(&b.lock) == 0);
    b.own_id = id_b;
    CHECK(pthread_mutex_unlock(&b.lock) == 0);
    id_c = log_subscribe(record, &c);
    CHECK(id_c >= 0 && id_c != id_b && id_c != id_a);

    for (i = 0; i < LINES / 2; i++) write_line(i);
    for (waited = 0; count_of(&c) == 0; waited += 10) {
        CHECK(waited < 30000);
        sleep_ms(10);
    }
    CHECK_RC(log_unsubscribe(id_c), LOG_OK);
    c_at_unsubscribe = count_of(&c);
    CHECK_RC(log_unsubscribe(id_c), LOG_E_INVALID_ARG);
    for (; i < LINES; i++) write_line(i);

    CHECK_RC(log_flush(30000), LOG_OK);
    CHECK_RC(log_shutdown(30000), LOG_OK);
    /* log_shutdown returned: every tap thread has ended. */
    CHECK_RC(log_subscribe(record, &c), LOG_E_SHUT_DOWN);
    CHECK_RC(log_unsubscribe(id_a), LOG_E_SHUT_DOWN);

    CHECK(count_of(&c) == c_at_unsubscribe);
    CHECK(b.forbidden_rc[0] == LOG_E_IN_CALLBACK);
    CHECK(b.forbidden_rc[1] == LOG_E_IN_CALLBACK);
    CHECK(b.forbidden_rc[2] == LOG_E_IN_CALLBACK);
    CHECK(b.write_rc == LOG_OK);
    if (a.count != LINES || b.count != LINES) {
        fprintf(stderr, "subscription A saw %lu entries, B %lu, of %d\n", (unsigned long)a.count,
                (unsigned long)b.count, LINES);
        return 1;
    }
    for (n = 0; n < a.count; n++) {
        CHECK(strcmp(a.entries[n], b.entries[n]) == 0);
        printf("%s\n", a.entries[n]);
        free(a.entries[n]);
        free(b.entries[n]);
    }
    for (n = 0; n < c.count; n++) free(c.entries[n]);
    free(a.entries);
    free(b.entries);
    free(c.entries);
    return 0;
}
