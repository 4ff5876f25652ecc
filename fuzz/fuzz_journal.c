/* libFuzzer target for the journal's recovery (src/store/journal.c): the input becomes a segment
 * file (after a valid header, or whole when its first byte is odd), then the journal is opened.
 * Whatever the bytes, open either refuses with a message or recovers a prefix that a cursor
 * reads back in full; an append after it must survive a reopen. Segment files are our own, but
 * recovery reads what a crash or a disk left, so it gets the same treatment as untrusted input. */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/journal.h"
#include "util/crc32c.h"

#include "require.h"

#define SEG (64u << 10)

static char dir[128];

static void clear_dir(void)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            char p[400];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
}

static long read_all(journal_t *j)
{
    char err[256];
    journal_cursor_t *c = journal_cursor_open(j, 1, err, sizeof err);
    REQUIRE(c != NULL);
    uint64_t lsn, want = 1;
    journal_rec_t r;
    long n = 0;
    int rc;
    while ((rc = journal_cursor_next(c, &lsn, &r, err, sizeof err)) == 1) {
        REQUIRE(lsn == want++);
        n++;
    }
    REQUIRE(rc == 0);
    journal_cursor_close(c);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/inferd-fuzz-journal-XXXXXX");
        if (!mkdtemp(dir)) abort();
    }
    clear_dir();
    char path[256];
    snprintf(path, sizeof path, "%s/%020d.jnl", dir, 1);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    REQUIRE(fd >= 0);
    unsigned char hdr[64] = "INFERDJ1";
    uint32_t ver = 1;
    uint64_t first = 1, bytes = SEG;
    memcpy(hdr + 8, &ver, 4);
    memcpy(hdr + 16, &first, 8);
    memcpy(hdr + 24, &bytes, 8);
    uint32_t crc = crc32c(0, hdr, 60);
    memcpy(hdr + 60, &crc, 4);
    bool whole = size && (data[0] & 1);
    if (!whole) REQUIRE(pwrite(fd, hdr, 64, 0) == 64);
    size_t n = size > SEG - (whole ? 0 : 64) ? SEG - (whole ? 0 : 64) : size;
    if (n) REQUIRE(pwrite(fd, data, n, whole ? 0 : 64) == (ssize_t)n);
    if (!whole) REQUIRE(ftruncate(fd, SEG) == 0);
    close(fd);

    journal_opts_t o = {.segment_bytes = SEG};
    char err[256] = "";
    journal_t *j = journal_open(dir, &o, err, sizeof err);
    if (!j) {
        REQUIRE(err[0] != 0);
        return 0;
    }
    uint64_t next = journal_next_lsn(j);
    REQUIRE(next >= 1);
    REQUIRE(read_all(j) == (long)(next - 1));
    journal_rec_t rec = {1, "x", 1, false};
    uint64_t got;
    REQUIRE(journal_append(j, &rec, 1, &got, err, sizeof err) == 0 && got == next);
    journal_close(j);
    j = journal_open(dir, &o, err, sizeof err);
    REQUIRE(j != NULL);
    REQUIRE(journal_next_lsn(j) == next + 1);
    REQUIRE(read_all(j) == (long)next);
    journal_close(j);
    return 0;
}
