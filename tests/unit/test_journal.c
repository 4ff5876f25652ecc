/* Unit tests for store/journal.c and util/crc32c.c: CRC-32C against its published check value and
 * the table version; appends read back across many small segments, from any LSN, after reopen;
 * release and segment reuse; the size cap; torn tails (the last segment cut at every kind of
 * offset, bytes flipped after the last sync); damage before later segments refused; a failed
 * fdatasync never acknowledged and final; kill -9 of an appending child never loses an
 * acknowledged record. Every payload is derived from its LSN, so any record can be checked. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/journal.h"
#include "th.h"
#include "util/crc32c.h"

static char root[256];
static int ndir;

/* A fresh directory path (not created) under root. */
static void fresh(char *out, size_t n)
{
    snprintf(out, n, "%s/j%d", root, ndir++);
}

/* Payload of LSN l: 1 to 700 bytes, each a function of l and its position. */
static size_t payload(uint64_t l, unsigned char *out)
{
    size_t len = 1 + (size_t)((l * 2654435761u) % 700);
    for (size_t i = 0; i < len; i++) out[i] = (unsigned char)(l * 31 + i * 7);
    return len;
}

static int check_rec(uint64_t l, const journal_rec_t *r)
{
    unsigned char want[800];
    size_t len = payload(l, want);
    return r->table == (uint16_t)(l % 3 + 1) && r->len == len && memcmp(r->data, want, len) == 0;
}

/* Appends records from..from+n-1 (LSNs expected to match) in one call, in groups of g (the
 * records of one group joined by `more`). */
static int append_groups(journal_t *j, uint64_t from, int n, int g)
{
    static unsigned char bufs[64][800];
    journal_rec_t recs[64];
    for (int i = 0; i < n; i++) {
        uint64_t l = from + (uint64_t)i;
        recs[i] = (journal_rec_t){(uint16_t)(l % 3 + 1), bufs[i], payload(l, bufs[i]),
                                  i % g != g - 1 && i + 1 < n};
    }
    uint64_t first = 0;
    char err[256] = "";
    int rc = journal_append(j, recs, n, &first, err, sizeof err);
    if (rc) return rc;
    return first == from ? 0 : -1000;
}

/* Appends records from..from+n-1, each its own group. */
static int append_n(journal_t *j, uint64_t from, int n)
{
    return append_groups(j, from, n, 1);
}

/* Reads every record from `from` to the end; returns how many, or -1 on a wrong one. */
static long read_all(journal_t *j, uint64_t from)
{
    char err[256] = "";
    journal_cursor_t *c = journal_cursor_open(j, from, err, sizeof err);
    if (!c) {
        fprintf(stderr, "cursor_open(%llu): %s\n", (unsigned long long)from, err);
        return -1;
    }
    long n = 0;
    uint64_t lsn, want = from;
    journal_rec_t r;
    int rc;
    while ((rc = journal_cursor_next(c, &lsn, &r, err, sizeof err)) == 1) {
        if (lsn != want++ || !check_rec(lsn, &r)) {
            fprintf(stderr, "record %llu wrong (want %llu, len %zu table %d)\n",
                    (unsigned long long)lsn, (unsigned long long)want - 1, r.len, r.table);
            journal_cursor_close(c);
            return -1;
        }
        n++;
    }
    if (rc < 0) fprintf(stderr, "cursor_next: %s\n", err);
    journal_cursor_close(c);
    return rc < 0 ? -1 : n;
}

static const journal_opts_t small = {.segment_bytes = 64 << 10};

static void test_crc32c(void)
{
    CHECK_EQ(crc32c(0, "123456789", 9), 0xE3069283u); /* the published check value */
    CHECK_EQ(crc32c_sw(0, "123456789", 9), 0xE3069283u);
    CHECK_EQ(crc32c(0, "", 0), 0);
    unsigned char buf[4096 + 16];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 131 + 7);
    int same = 1;
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n < 300; n += 7)
            same &= crc32c(0, buf + off, n) == crc32c_sw(0, buf + off, n);
    CHECK(same);
    /* Extending is the same as one pass. */
    CHECK_EQ(crc32c(crc32c(0, buf, 1000), buf + 1000, 3000), crc32c(0, buf, 4000));
}

static void test_append_read_reopen(void)
{
    char d[300], err[256] = "";
    fresh(d, sizeof d);
    journal_t *j = journal_open(d, &small, err, sizeof err);
    CHECK(j != NULL);
    if (!j) return;
    CHECK_EQ(journal_next_lsn(j), 1);
    /* One writer per journal: a second open (another process, or this one) is refused. */
    CHECK(journal_open(d, &small, err, sizeof err) == NULL);
    CHECK(strstr(err, "in use by another inferd") != NULL);
    uint64_t next = 1;
    for (int b = 0; b < 120; b++) { /* ~2,000 records of ~350 bytes over ~12 segments */
        int n = 1 + b % 33;
        CHECK_EQ(append_n(j, next, n), 0);
        next += (uint64_t)n;
    }
    CHECK_EQ(journal_next_lsn(j), next);
    journal_stats_t st;
    journal_stats(j, &st);
    CHECK(st.segments > 5);
    CHECK_EQ(st.records, next - 1);
    CHECK_EQ(read_all(j, 1), (long)(next - 1));
    CHECK_EQ(read_all(j, next / 2), (long)(next - next / 2));
    CHECK_EQ(read_all(j, next), 0);
    CHECK(journal_cursor_open(j, next + 1, err, sizeof err) == NULL);
    /* A cursor at the end sees what is appended later. */
    journal_cursor_t *c = journal_cursor_open(j, next, err, sizeof err);
    uint64_t lsn;
    journal_rec_t r;
    CHECK_EQ(journal_cursor_next(c, &lsn, &r, err, sizeof err), 0);
    CHECK_EQ(append_n(j, next, 5), 0);
    CHECK_EQ(journal_cursor_next(c, &lsn, &r, err, sizeof err), 1);
    CHECK(lsn == next && check_rec(lsn, &r));
    journal_cursor_close(c);
    next += 5;
    journal_close(j);

    j = journal_open(d, &small, err, sizeof err);
    CHECK(j != NULL);
    if (!j) return;
    journal_stats(j, &st);
    CHECK_EQ(st.recovered_records, next - 1);
    CHECK_EQ(journal_next_lsn(j), next);
    CHECK_EQ(read_all(j, 1), (long)(next - 1));
    CHECK_EQ(append_n(j, next, 7), 0);
    CHECK_EQ(read_all(j, next), 7);
    journal_close(j);
}

static void test_release_reuse_cap(void)
{
    char d[300], err[256] = "";
    fresh(d, sizeof d);
    journal_opts_t o = {.segment_bytes = 64 << 10, .max_bytes = 6 * (64 << 10)};
    journal_t *j = journal_open(d, &o, err, sizeof err);
    CHECK(j != NULL);
    if (!j) return;
    uint64_t next = 1;
    int rc = 0;
    while (!rc) { /* fill to the cap */
        rc = append_n(j, next, 20);
        if (!rc) next += 20;
    }
    CHECK_EQ(rc, -ENOBUFS);
    journal_stats_t st;
    journal_stats(j, &st);
    CHECK(st.bytes <= o.max_bytes);
    CHECK(st.segments >= 5);
    /* Release half: segments below go to spares (two kept) or away; appends work again. */
    journal_release(j, next / 2);
    journal_stats(j, &st);
    CHECK(st.segments < 5);
    CHECK(st.recycled >= 1);
    CHECK(journal_cursor_open(j, 1, err, sizeof err) == NULL); /* released */
    uint64_t kept_from = next / 2;
    for (int i = 0; i < 20; i++) {
        CHECK_EQ(append_n(j, next, 20), 0);
        next += 20;
        journal_release(j, next - 100); /* keep about 100 records */
    }
    journal_stats(j, &st);
    CHECK(st.recycled >= 3);
    CHECK_EQ(read_all(j, next - 100), 100);
    (void)kept_from;
    journal_close(j);
    /* Reopen: spares are not segments; the records kept are all there. */
    j = journal_open(d, &o, err, sizeof err);
    if (!j) fprintf(stderr, "reopen: %s\n", err);
    CHECK(j != NULL);
    if (!j) return;
    CHECK_EQ(journal_next_lsn(j), next);
    CHECK_EQ(read_all(j, next - 100), 100);
    CHECK_EQ(append_n(j, next, 64), 0);
    journal_close(j);
}

/* The newest segment file of d (the largest first LSN). */
static void last_segment(const char *d, char *out, size_t n)
{
    DIR *dd = opendir(d);
    char best[256] = "";
    struct dirent *e;
    while ((e = readdir(dd)))
        if (strlen(e->d_name) == 24 && strstr(e->d_name, ".jnl") && strcmp(e->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", e->d_name);
    closedir(dd);
    snprintf(out, n, "%s/%s", d, best);
}

static void copy_dir(const char *from, const char *to)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
    CHECK_EQ(system(cmd), 0);
}

/* Where the frames of LSNs seg_first..next-1 end in their segment, recomputed from the format
 * (header 64, frames 24 + len padded to 8), and where their payloads end (padding is not data).
 * Returns how many. */
static int frame_ends(uint64_t seg_first, uint64_t next, size_t *ends, size_t *data_ends)
{
    int nends = 0;
    size_t off = 64;
    unsigned char tmp[800];
    for (uint64_t l = seg_first; l < next; l++) {
        size_t len = payload(l, tmp);
        data_ends[nends] = off + 24 + len;
        off += (24 + len + 7) & ~(size_t)7;
        ends[nends++] = off;
    }
    return nends;
}

/* Frame boundaries of the last segment: offsets where each record starts, as appended. */
static void test_torn_tails(void)
{
    char d[300], err[256] = "";
    fresh(d, sizeof d);
    journal_t *j = journal_open(d, &small, err, sizeof err);
    CHECK(j != NULL);
    if (!j) return;
    uint64_t next = 1;
    for (int b = 0; b < 20; b++) { /* ends mid-way in a segment */
        CHECK_EQ(append_n(j, next, 9), 0);
        next += 9;
    }
    journal_close(j);
    char seg[400];
    last_segment(d, seg, sizeof seg);
    struct stat st0;
    stat(seg, &st0);
    uint64_t seg_first = strtoull(strrchr(seg, '/') + 1, NULL, 10);
    size_t ends[400], data_ends[400]; /* frame ends, and payload ends (padding is not data) */
    int nends = frame_ends(seg_first, next, ends, data_ends);
    /* Cut the file at offsets inside and at the edges of frames: recovery keeps exactly the
     * frames wholly before the cut and never fails. */
    int ok = 1;
    for (int k = 0; k < nends; k += 3) {
        size_t cuts[3] = {data_ends[k] - 1, data_ends[k], ends[k] + 5};
        for (int c = 0; c < 3; c++) {
            char d2[320];
            snprintf(d2, sizeof d2, "%s-cut", d);
            copy_dir(d, d2);
            char seg2[400];
            snprintf(seg2, sizeof seg2, "%s/%s", d2, strrchr(seg, '/') + 1);
            CHECK_EQ(truncate(seg2, (off_t)cuts[c]), 0);
            journal_t *j2 = journal_open(d2, &small, err, sizeof err);
            if (!j2) {
                fprintf(stderr, "open after cut at %zu: %s\n", cuts[c], err);
                ok = 0;
                continue;
            }
            uint64_t whole = seg_first + (uint64_t)k + (cuts[c] >= data_ends[k] ? 1 : 0);
            ok &= journal_next_lsn(j2) == whole;
            ok &= read_all(j2, 1) == (long)(whole - 1);
            /* and it appends after them, and that survives another reopen */
            ok &= append_n(j2, whole, 3) == 0;
            journal_close(j2);
            j2 = journal_open(d2, &small, err, sizeof err);
            ok &= j2 && read_all(j2, 1) == (long)(whole + 2);
            journal_close(j2);
        }
    }
    CHECK(ok);
    /* Flip a byte in each of the last three frames: recovery stops before the damaged one. */
    for (int k = nends - 3; k < nends; k++) {
        char d2[320];
        snprintf(d2, sizeof d2, "%s-flip", d);
        copy_dir(d, d2);
        char seg2[400];
        snprintf(seg2, sizeof seg2, "%s/%s", d2, strrchr(seg, '/') + 1);
        int fd = open(seg2, O_RDWR);
        unsigned char b;
        off_t at = (off_t)ends[k] - 3; /* inside frame k's payload or padding */
        if (k == nends - 1) at = (off_t)(k ? ends[k - 1] : 64) + 10; /* inside its header */
        CHECK_EQ(pread(fd, &b, 1, at), 1);
        b ^= 0x40;
        CHECK_EQ(pwrite(fd, &b, 1, at), 1);
        close(fd);
        journal_t *j2 = journal_open(d2, &small, err, sizeof err);
        CHECK(j2 != NULL);
        if (!j2) continue;
        journal_stats_t st;
        journal_stats(j2, &st);
        /* Padding is not checksummed: a flip there loses nothing; anywhere else in frame k,
         * recovery keeps exactly the frames before it. */
        uint64_t want = (size_t)at >= data_ends[k] ? next : seg_first + (uint64_t)k;
        CHECK_EQ(journal_next_lsn(j2), want);
        CHECK_EQ(read_all(j2, 1), (long)(journal_next_lsn(j2) - 1));
        journal_close(j2);
    }
}

/* A group (one request's records, joined by `more`) never straddles two segments, and recovery
 * keeps a torn group whole or not at all: cut inside the last group, the journal ends before it. */
static void test_groups(void)
{
    char d[300], err[256] = "";
    fresh(d, sizeof d);
    journal_t *j = journal_open(d, &small, err, sizeof err);
    CHECK(j != NULL);
    if (!j) return;
    uint64_t next = 1;
    for (int b = 0; b < 60; b++) { /* ~1,260 records of ~350 bytes: several 64 KiB segments */
        CHECK_EQ(append_groups(j, next, 21, 7), 0);
        next += 21;
    }
    journal_close(j);
    DIR *dd = opendir(d);
    struct dirent *e;
    int segs = 0, straddle = 0;
    while (dd && (e = readdir(dd))) {
        if (!strstr(e->d_name, ".jnl")) continue;
        segs++;
        if ((strtoull(e->d_name, NULL, 10) - 1) % 7) straddle++; /* groups start at 1, 8, ... */
    }
    if (dd) closedir(dd);
    CHECK(segs > 3);
    CHECK_EQ(straddle, 0);
    char seg[400];
    last_segment(d, seg, sizeof seg);
    uint64_t seg_first = strtoull(strrchr(seg, '/') + 1, NULL, 10);
    size_t ends[400], data_ends[400];
    int nends = frame_ends(seg_first, next, ends, data_ends);
    /* Cut after each whole frame of the last group: only a cut after its last frame keeps it. */
    for (int k = nends - 7; k < nends; k++) {
        char d2[320];
        snprintf(d2, sizeof d2, "%s-cut", d);
        copy_dir(d, d2);
        char seg2[400];
        snprintf(seg2, sizeof seg2, "%s/%s", d2, strrchr(seg, '/') + 1);
        CHECK_EQ(truncate(seg2, (off_t)ends[k]), 0);
        journal_t *j2 = journal_open(d2, &small, err, sizeof err);
        CHECK(j2 != NULL);
        if (!j2) continue;
        uint64_t want = k == nends - 1 ? next : next - 7;
        CHECK_EQ(journal_next_lsn(j2), want);
        CHECK_EQ(read_all(j2, 1), (long)(want - 1));
        CHECK_EQ(append_groups(j2, want, 14, 7), 0); /* and appends go on from there */
        journal_close(j2);
        j2 = journal_open(d2, &small, err, sizeof err);
        CHECK(j2 && read_all(j2, 1) == (long)(want + 13));
        journal_close(j2);
    }
}

static void test_damage_before_later_segments(void)
{
    char d[300], err[256] = "";
    fresh(d, sizeof d);
    journal_t *j = journal_open(d, &small, err, sizeof err);
    CHECK(j != NULL);
    if (!j) return;
    uint64_t next = 1;
    for (int b = 0; b < 40; b++) {
        CHECK_EQ(append_n(j, next, 10), 0);
        next += 10;
    }
    journal_close(j);
    char first[400];
    snprintf(first, sizeof first, "%s/%020d.jnl", d, 1);
    int fd = open(first, O_RDWR);
    unsigned char b = 0;
    CHECK_EQ(pread(fd, &b, 1, 64 + 30), 1); /* the first frame's payload */
    b ^= 1;
    CHECK_EQ(pwrite(fd, &b, 1, 64 + 30), 1);
    close(fd);
    err[0] = 0;
    j = journal_open(d, &small, err, sizeof err);
    CHECK(j == NULL);
    CHECK(strstr(err, "refusing to discard") != NULL);
    journal_close(j);
}

static int fail_sync(int fd)
{
    (void)fd;
    errno = EIO;
    return -1;
}

static void test_fsync_failure_is_final(void)
{
    char d[300], err[256] = "";
    fresh(d, sizeof d);
    journal_t *j = journal_open(d, &small, err, sizeof err);
    CHECK(j != NULL);
    if (!j) return;
    CHECK_EQ(append_n(j, 1, 5), 0);
    journal_set_sync_hook(fail_sync);
    CHECK_EQ(append_n(j, 6, 5), -EIO);
    journal_set_sync_hook(NULL);
    CHECK_EQ(append_n(j, 6, 5), -EIO); /* never retried on the same data */
    journal_stats_t st;
    journal_stats(j, &st);
    CHECK_EQ(st.failed, -EIO);
    CHECK_EQ(st.records, 5);
    journal_close(j);
    /* Reopening re-reads what is on disk (here the unsynced frames did reach the file). */
    j = journal_open(d, &small, err, sizeof err);
    CHECK(j != NULL);
    if (j) CHECK(journal_next_lsn(j) == 6 || journal_next_lsn(j) == 11);
    journal_close(j);
}

/* A child appends as fast as it can and reports each acknowledged end LSN on a pipe; killed with
 * SIGKILL at a random moment, every acknowledged record must be there after recovery. */
static void test_kill9(void)
{
    int ok = 1;
    for (int round = 0; round < 6; round++) {
        char d[300], err[256] = "";
        fresh(d, sizeof d);
        int p[2];
        CHECK_EQ(pipe(p), 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            journal_t *j = journal_open(d, &small, err, sizeof err);
            if (!j) _exit(2);
            uint64_t next = 1;
            for (;;) {
                int n = 1 + (int)(next % 17);
                if (append_n(j, next, n)) _exit(3);
                next += (uint64_t)n;
                if (write(p[1], &next, sizeof next) != sizeof next) _exit(4);
            }
        }
        close(p[1]);
        usleep(50000 + 40000 * (useconds_t)round);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        uint64_t acked = 1, v;
        while (read(p[0], &v, sizeof v) == sizeof v) acked = v;
        close(p[0]);
        journal_t *j = journal_open(d, &small, err, sizeof err);
        if (!j) {
            fprintf(stderr, "round %d: %s\n", round, err);
            ok = 0;
            continue;
        }
        uint64_t next = journal_next_lsn(j);
        ok &= acked > 1 && next >= acked;
        ok &= read_all(j, 1) == (long)(next - 1);
        ok &= append_n(j, next, 4) == 0;
        journal_close(j);
    }
    CHECK(ok);
}

int main(void)
{
    snprintf(root, sizeof root, "%s/inferd-journal-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) return perror("mkdtemp"), 1;
    test_crc32c();
    test_append_read_reopen();
    test_release_reuse_cap();
    test_torn_tails();
    test_groups();
    test_damage_before_later_segments();
    test_fsync_failure_is_final();
    test_kill9();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", root);
    return TH_DONE();
}
