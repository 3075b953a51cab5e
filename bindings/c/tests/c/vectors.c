/* Feeds every record of a file to log_write, so the shared encoding vectors cross the C boundary.
 * usage: vectors CONFIG_JSON RECORDS_FILE
 * A record is a 4-byte little-endian length and then that many bytes. */
#include <stdint.h>
#include <string.h>

#include "check.h"

int main(int argc, char **argv) {
    FILE *records;
    unsigned char header[4];
    unsigned long count = 0;
    struct logship_stats stats;

    CHECK(argc == 3);
    CHECK_RC(log_init(argv[1]), LOG_OK);
    records = fopen(argv[2], "rb");
    CHECK(records != NULL);
    while (fread(header, 1, 4, records) == 4) {
        size_t len = (size_t)header[0] | (size_t)header[1] << 8 | (size_t)header[2] << 16 |
                     (size_t)header[3] << 24;
        char *buf = malloc(len + 1);
        CHECK(buf != NULL);
        CHECK(fread(buf, 1, len, records) == len);
        /* An empty vector goes through the NULL, 0 no-op. */
        CHECK_RC(log_write(len ? buf : NULL, len), LOG_OK);
        free(buf);
        count++;
    }
    fclose(records);
    CHECK_RC(log_flush(60000), LOG_OK);
    CHECK_RC(log_stats(&stats), LOG_OK);
    CHECK(stats.dropped == 0 && stats.rejected == 0);
    CHECK_RC(log_shutdown(10000), LOG_OK);
    printf("wrote %lu records, %llu entries\n", count, (unsigned long long)stats.written);
    return 0;
}
