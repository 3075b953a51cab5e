/* Every bad input gets an error code and a message, never a crash: calls before log_init, NULL
 * pointers, invalid configurations (the message names the problem and never the private id),
 * double init, calls after log_shutdown, a 10 MiB line, a full buffer, a deadline that passes,
 * a 17th subscription.
 * usage: bad_input COLLECTOR_URL REFUSING_URL PRIVATE_ID */
#include <pthread.h>
#include <string.h>

#include "check.h"

#define BIG_LINE (10 * 1024 * 1024)

static char config[4096];
static const char *private_id;

static void ignore_entry(const char *entry, size_t len, void *user) {
    (void)entry;
    (void)len;
    (void)user;
}

/* The call fails with `code` and log_last_error() contains `needle` but not the private id. */
static void expect_failure(int rc, int code, const char *needle, const char *what, int line) {
    const char *message = log_last_error();
    if (rc != code || message == NULL || strstr(message, needle) == NULL ||
        strstr(message, private_id) != NULL) {
        fprintf(stderr, "bad_input.c:%d: %s returned %d (expected %d), message %s (expected to mention \"%s\")\n",
                line, what, rc, code, message ? message : "NULL", needle);
        exit(1);
    }
}
#define EXPECT_FAILURE(call, code, needle) expect_failure((call), (code), (needle), #call, __LINE__)

/* A thread that writes under one logger, after its shutdown, and under the next one: each write
 * goes to the logger that is current at that moment. */
static pthread_barrier_t step;

static void *worker(void *arg) {
    (void)arg;
    CHECK_RC(log_write("worker, first logger", 20), LOG_OK);
    pthread_barrier_wait(&step); /* 1: written */
    pthread_barrier_wait(&step); /* 2: main has shut the first logger down */
    CHECK_RC(log_write("worker, after shutdown", 22), LOG_E_SHUT_DOWN);
    pthread_barrier_wait(&step); /* 3: written */
    pthread_barrier_wait(&step); /* 4: main has started the second logger */
    CHECK_RC(log_write("worker, second logger", 21), LOG_OK);
    return NULL;
}

static void *last_error_on_a_new_thread(void *arg) {
    (void)arg;
    return (void *)log_last_error();
}

static const char *with(const char *base_url, const char *collection, const char *extra) {
    snprintf(config, sizeof config,
             "{\"base_url\":\"%s\",\"collection\":\"%s\",\"private_id\":\"%s\","
             "\"skip_client_time\":true,\"flush_delay_ms\":50%s}",
             base_url, collection, private_id, extra);
    return config;
}

int main(int argc, char **argv) {
    const char *url, *refusing_url;
    struct logship_stats stats;
    pthread_t thread, writer;
    void *other_thread_error = (void *)1;
    char *big;
    int i, dropped_at = -1;

    CHECK(argc == 4);
    url = argv[1];
    refusing_url = argv[2];
    private_id = argv[3];

    /* Before log_init. */
    CHECK(log_last_error() == NULL);
    EXPECT_FAILURE(log_write("x", 1), LOG_E_NOT_INITIALIZED, "not initialized");
    CHECK_RC(log_write(NULL, 0), LOG_OK);
    CHECK_RC(log_write("x", 0), LOG_OK);
    EXPECT_FAILURE(log_flush(10), LOG_E_NOT_INITIALIZED, "log_init");
    EXPECT_FAILURE(log_shutdown(10), LOG_E_NOT_INITIALIZED, "log_init");
    EXPECT_FAILURE(log_stats(&stats), LOG_E_NOT_INITIALIZED, "log_init");
    EXPECT_FAILURE(log_subscribe(ignore_entry, NULL), LOG_E_NOT_INITIALIZED, "log_init");
    EXPECT_FAILURE(log_unsubscribe(1), LOG_E_NOT_INITIALIZED, "log_init");
    /* The message belongs to the thread that failed. */
    CHECK(pthread_create(&thread, NULL, last_error_on_a_new_thread, NULL) == 0);
    CHECK(pthread_join(thread, &other_thread_error) == 0);
    CHECK(other_thread_error == NULL);

    /* Invalid configurations: the message names the problem. */
    EXPECT_FAILURE(log_init(NULL), LOG_E_INVALID_ARG, "config_json is NULL");
    EXPECT_FAILURE(log_init(""), LOG_E_CONFIG, "EOF");
    EXPECT_FAILURE(log_init("{\"base_url\":"), LOG_E_CONFIG, "EOF");
    EXPECT_FAILURE(log_init("[1,2]"), LOG_E_CONFIG, "invalid type");
    EXPECT_FAILURE(log_init("\xff\xfe"), LOG_E_CONFIG, "UTF-8");
    EXPECT_FAILURE(log_init(with(url, "app", ",\"flush_delay\":5")), LOG_E_CONFIG, "unknown field `flush_delay`");
    EXPECT_FAILURE(log_init("{\"base_url\":\"http://x\",\"collection\":\"a\",\"flush_delay_ms\":\"soon\"}"),
                   LOG_E_CONFIG, "flush_delay_ms: invalid type");
    EXPECT_FAILURE(log_init(with(url, "app", ",\"on_full\":\"drop_all\"")), LOG_E_CONFIG, "on_full: unknown variant");
    EXPECT_FAILURE(log_init(with("ftp://x", "app", "")), LOG_E_CONFIG, "base_url");
    EXPECT_FAILURE(log_init(with(url, "no/slash", "")), LOG_E_CONFIG, "collection");
    EXPECT_FAILURE(log_init(with(url, "app", ",\"buffer_bytes\":1000")), LOG_E_CONFIG, "buffer_bytes");
    EXPECT_FAILURE(log_init("{\"base_url\":\"http://x\",\"collection\":\"a\",\"private_id\":\"xyz\"}"),
                   LOG_E_CONFIG, "private_id: must be 64");
    EXPECT_FAILURE(log_init("{\"collection\":\"a\"}"), LOG_E_CONFIG, "base_url");
    /* The private id is in the JSON but never in the message. */
    snprintf(config, sizeof config, "{\"base_url\":\"http://h/%s\",\"private_id\":\"%s\",\"collection\":\"\"}",
             private_id, private_id);
    EXPECT_FAILURE(log_init(config), LOG_E_CONFIG, "collection");
    snprintf(config, sizeof config, "{\"base_url\":\"ftp://h/%s\",\"private_id\":\"%s\",\"collection\":\"a\"}",
             private_id, private_id);
    EXPECT_FAILURE(log_init(config), LOG_E_CONFIG, "base_url");
    /* Failed inits leave logship uninitialized. */
    EXPECT_FAILURE(log_write("x", 1), LOG_E_NOT_INITIALIZED, "not initialized");

    /* A running logger: double init, NULL pointers, bad ids, a 10 MiB line. */
    CHECK_RC(log_init(with(url, "bad-input", "")), LOG_OK);
    CHECK(pthread_barrier_init(&step, NULL, 2) == 0);
    CHECK(pthread_create(&writer, NULL, worker, NULL) == 0);
    EXPECT_FAILURE(log_init(with(url, "bad-input", "")), LOG_E_ALREADY_INITIALIZED, "already initialized");
    EXPECT_FAILURE(log_write(NULL, 3), LOG_E_INVALID_ARG, "buf is NULL");
    EXPECT_FAILURE(log_write("x", (size_t)-1), LOG_E_INVALID_ARG, "len");
    CHECK_RC(log_write(NULL, 0), LOG_OK);
    EXPECT_FAILURE(log_stats(NULL), LOG_E_INVALID_ARG, "out is NULL");
    EXPECT_FAILURE(log_subscribe(NULL, NULL), LOG_E_INVALID_ARG, "fn is NULL");
    EXPECT_FAILURE(log_unsubscribe(-1), LOG_E_INVALID_ARG, "no subscription");
    EXPECT_FAILURE(log_unsubscribe(999999), LOG_E_INVALID_ARG, "no subscription");
    {
        int ids[16], n;
        for (n = 0; n < 16; n++) CHECK((ids[n] = log_subscribe(ignore_entry, NULL)) >= 0);
        EXPECT_FAILURE(log_subscribe(ignore_entry, NULL), LOG_E_TOO_MANY_TAPS, "at most 16");
        CHECK_RC(log_unsubscribe(ids[0]), LOG_OK);
        CHECK((ids[0] = log_subscribe(ignore_entry, NULL)) >= 0);
        for (n = 0; n < 16; n++) CHECK_RC(log_unsubscribe(ids[n]), LOG_OK);
    }
    big = malloc(BIG_LINE);
    CHECK(big != NULL);
    memset(big, 'x', BIG_LINE);
    memcpy(big, "big line ", 9);
    pthread_barrier_wait(&step); /* 1: the worker's write comes first */
    CHECK_RC(log_write(big, BIG_LINE), LOG_OK);
    free(big);
    CHECK_RC(log_write("after the big line", 18), LOG_OK);
    CHECK_RC(log_flush(30000), LOG_OK);
    CHECK_RC(log_stats(&stats), LOG_OK);
    CHECK(stats.written == 3 && stats.uploaded == 3 && stats.dropped == 0);

    /* Shutdown is idempotent; afterwards calls fail cleanly, stats stay readable. */
    CHECK_RC(log_shutdown(10000), LOG_OK);
    pthread_barrier_wait(&step); /* 2 */
    pthread_barrier_wait(&step); /* 3 */
    CHECK_RC(log_shutdown(0), LOG_OK);
    EXPECT_FAILURE(log_write("late", 4), LOG_E_SHUT_DOWN, "shut down");
    EXPECT_FAILURE(log_flush(10), LOG_E_SHUT_DOWN, "shut down");
    EXPECT_FAILURE(log_subscribe(ignore_entry, NULL), LOG_E_SHUT_DOWN, "shut down");
    EXPECT_FAILURE(log_unsubscribe(1), LOG_E_SHUT_DOWN, "shut down");
    memset(&stats, 0, sizeof stats);
    CHECK_RC(log_stats(&stats), LOG_OK);
    CHECK(stats.written == 3 && stats.uploaded == 3);

    /* log_init again after shutdown. */
    CHECK_RC(log_init(with(url, "bad-input-again", "")), LOG_OK);
    pthread_barrier_wait(&step); /* 4 */
    CHECK(pthread_join(writer, NULL) == 0);
    CHECK(pthread_barrier_destroy(&step) == 0);
    CHECK_RC(log_write("second life", 11), LOG_OK);
    CHECK_RC(log_shutdown(10000), LOG_OK);

    /* A full buffer with drop_newest, and deadlines that pass, against a server that refuses
     * connections (retried only after a minute). */
    CHECK_RC(log_init(with(refusing_url, "nowhere",
                           ",\"retry_initial_ms\":60000,\"retry_max_ms\":60000,"
                           "\"max_batch_bytes\":1024,\"buffer_bytes\":2048,\"on_full\":\"drop_newest\"")),
             LOG_OK);
    big = malloc(1000);
    CHECK(big != NULL);
    memset(big, 'y', 1000);
    for (i = 0; i < 1000 && dropped_at < 0; i++) {
        int rc = log_write(big, 1000);
        if (rc == LOG_E_DROPPED) {
            dropped_at = i;
            EXPECT_FAILURE(rc, LOG_E_DROPPED, "full");
        } else {
            CHECK_RC(rc, LOG_OK);
        }
    }
    free(big);
    CHECK(dropped_at >= 0);
    CHECK_RC(log_stats(&stats), LOG_OK);
    CHECK(stats.dropped >= 1 && stats.uploaded == 0);
    EXPECT_FAILURE(log_flush(100), LOG_E_TIMEOUT, "undelivered");
    EXPECT_FAILURE(log_shutdown(100), LOG_E_TIMEOUT, "undelivered");
    EXPECT_FAILURE(log_shutdown(0), LOG_E_TIMEOUT, "undelivered"); /* the first result, again */
    CHECK_RC(log_stats(&stats), LOG_OK);
    CHECK(stats.uploaded == 0 && stats.dropped == stats.written);
    printf("ok: first refused write was number %d\n", dropped_at + 1);
    return 0;
}
