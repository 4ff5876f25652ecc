/* Unit tests for ingest/ingest: threads submitting at once while flush threads and the tick
 * write files (run under TSan by `make test-tsan`), in both durability modes; every row
 * accounted for; the memory cap; a type clash refused whole; a reopen under wal replays nothing
 * that is already in a file. Files' contents are read back by DuckDB in
 * tests/integration/test_ingest.py; here the counts and the directory tree are checked. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest/ingest.h"
#include "th.h"
#include "util/err.h"

#define WRITERS  3
#define REQUESTS 40
#define LINES    25

static _Atomic int settled, failed;
static int64_t parquet_files;

static void done(void *arg, int code, const char *msg)
{
    if (code) {
        fprintf(stderr, "write failed: %s\n", msg);
        atomic_fetch_add(&failed, 1);
    }
    free(arg);
    atomic_fetch_add(&settled, 1);
}

typedef struct writer {
    ingest_t *g;
    int id;
} writer_t;

/* Posts REQUESTS bodies of LINES rows over two measurements, each row a unique id. */
static void *write_many(void *arg)
{
    writer_t *w = arg;
    for (int k = 0; k < REQUESTS; k++) {
        char *body = malloc(LINES * 64), err[256];
        size_t n = 0;
        for (int i = 0; i < LINES; i++)
            n += (size_t)snprintf(body + n, 64, "m%d,w=%d id=%di %lld\n", i % 2, w->id,
                                  (w->id * REQUESTS + k) * LINES + i,
                                  1700000000000000000LL + (long long)k * 1000000 + i);
        int code;
        ingest_req_t *r =
            ingest_decode("db", INGEST_LINEPROTO, 1, 1, body, n, &code, err, sizeof err);
        if (!r) { /* counted, not CHECKed: the harness's counters are not thread-safe */
            fprintf(stderr, "decode: %s\n", err);
            free(body);
            atomic_fetch_add(&failed, 1);
            atomic_fetch_add(&settled, 1);
            continue;
        }
        int rc = ingest_submit(w->g, r, body, n, done, body, err, sizeof err);
        if (rc == 0) {
            free(body);
            atomic_fetch_add(&settled, 1);
        } else if (rc < 0) {
            fprintf(stderr, "submit: %s\n", err);
            free(body);
            atomic_fetch_add(&failed, 1);
            atomic_fetch_add(&settled, 1);
        }
    }
    return NULL;
}

static int count_file(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    size_t n = strlen(path);
    if (flag == FTW_F && n > 8 && !strcmp(path + n - 8, ".parquet")) parquet_files++;
    return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    return remove(path);
}

static void run(ingest_durability_t d)
{
    char dir[] = "/tmp/inferd-ingest-XXXXXX", err[512];
    CHECK(mkdtemp(dir) != NULL);
    ingest_opts_t o = {.dir = dir,
                       .durability = d,
                       .flush_records = 300,
                       .flush_ms = 20,
                       .codec = PQ_ZSTD,
                       .max_bytes = 64 << 20,
                       .flush_threads = 2,
                       .journal_segment_bytes = 1 << 20};
    ingest_t *g = ingest_open(&o, err, sizeof err);
    CHECK(g != NULL);
    if (!g) return;
    atomic_store(&settled, 0);
    atomic_store(&failed, 0);
    pthread_t th[WRITERS];
    writer_t ws[WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        ws[i] = (writer_t){g, i};
        pthread_create(&th[i], NULL, write_many, &ws[i]);
    }
    for (int i = 0; i < WRITERS; i++) pthread_join(th[i], NULL);
    while (atomic_load(&settled) < WRITERS * REQUESTS) usleep(1000);
    CHECK_EQ(atomic_load(&failed), 0);

    CHECK_EQ(ingest_flush_all(g), 0);
    ingest_stats_t s;
    ingest_stats(g, &s);
    CHECK_EQ(s.rows, (uint64_t)WRITERS * REQUESTS * LINES);
    CHECK_EQ(s.requests, (uint64_t)WRITERS * REQUESTS);
    CHECK_EQ(s.rejected, 0u);
    CHECK_EQ(s.buffered_rows, 0);
    CHECK(s.files >= (uint64_t)WRITERS * REQUESTS * LINES / 300);
    CHECK_EQ(s.mem_bytes, 0u);
    CHECK_EQ(ingest_close(g), 0u);
    parquet_files = 0;
    nftw(dir, count_file, 16, FTW_PHYS);
    CHECK_EQ(parquet_files, (int64_t)s.files);

    if (d == INGEST_WAL) { /* a reopen finds every journaled row in a file already */
        int64_t before = parquet_files;
        g = ingest_open(&o, err, sizeof err);
        CHECK(g != NULL);
        if (g) {
            ingest_stats(g, &s);
            CHECK_EQ(s.replayed_rows, 0u);
            CHECK_EQ(ingest_close(g), 0u);
        }
        parquet_files = 0;
        nftw(dir, count_file, 16, FTW_PHYS);
        CHECK_EQ(parquet_files, before);
    }
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A buffered instance that never flushes by age: the memory cap, and a type clash. */
static void limits(void)
{
    char dir[] = "/tmp/inferd-ingest-XXXXXX", err[512];
    CHECK(mkdtemp(dir) != NULL);
    ingest_opts_t o = {.dir = dir, .flush_ms = 60000, .max_bytes = 256 << 10};
    ingest_t *g = ingest_open(&o, err, sizeof err);
    CHECK(g != NULL);
    if (!g) return;
    char body[4096];
    int64_t rows = 1;
    int busy = 0, code;
    ingest_stats_t s;
    ingest_req_t *one =
        ingest_decode("db", INGEST_LINEPROTO, 1, 1, "m0 v=1i 1", 9, &code, err, sizeof err);
    CHECK_EQ(ingest_submit(g, one, "m0 v=1i 1", 9, done, NULL, err, sizeof err), 0);
    /* A clash with the buffered rows (v is an integer in m0's) keeps nothing of the write, not
     * even its rows for m1. */
    const char *clash = "m1 v=2i 2\nm0 v=1.5 1\n";
    ingest_req_t *c =
        ingest_decode("db", INGEST_LINEPROTO, 1, 1, clash, strlen(clash), &code, err, sizeof err);
    CHECK(c != NULL);
    CHECK_EQ(ingest_submit(g, c, clash, strlen(clash), done, NULL, err, sizeof err), ERR_INVALID);
    CHECK(strstr(err, "measurement \"m0\": field \"v\" is float here, integer") != NULL);
    ingest_stats(g, &s);
    CHECK_EQ(s.rows, 1u);
    CHECK_EQ(s.buffered_rows, 1);

    for (int k = 0; k < 400 && !busy; k++) {
        size_t n = 0;
        for (int i = 0; i < 50; i++)
            n += (size_t)snprintf(body + n, sizeof body - n, "m%d v=%di\n", k % 8, i);
        ingest_req_t *r =
            ingest_decode("db", INGEST_LINEPROTO, 1, 1, body, n, &code, err, sizeof err);
        int rc = ingest_submit(g, r, body, n, done, NULL, err, sizeof err);
        if (rc == 0) rows += 50;
        if (rc == ERR_BUSY) {
            busy = 1;
            CHECK(strstr(err, "ingest_max_bytes") != NULL);
        }
    }
    CHECK(busy);
    ingest_stats(g, &s);
    CHECK_EQ(s.rows, (uint64_t)rows);
    CHECK_EQ(ingest_close(g), 0u);
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    run(INGEST_BUFFERED);
    run(INGEST_WAL);
    limits();
    return TH_DONE();
}
