/* Unit tests for store/: UUIDv7 ids, group commit against a real SQLite file (durable acks only
 * after their commit, batching under concurrency, buffered window, backpressure, flush at close,
 * commit failures), the read path (get, filters, keyset paging) and migrations. Prints the
 * measured durable commit rate. */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/records_json.h"
#include "metrics/metrics.h"
#include "store/predictions.h"
#include "store/store.h"
#include "store/uuid7.h"
#include "th.h"
#include "util/clock.h"
#include "util/json.h"

static char dir[256];

static void path_of(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

static store_t *open_db(const char *name, const store_opts_t *o)
{
    char uri[512], err[256] = "";
    snprintf(uri, sizeof uri, "sqlite:%s/%s", dir, name);
    store_t *s = store_open(uri, o, err, sizeof err);
    if (!s) fprintf(stderr, "store_open(%s): %s\n", uri, err);
    return s;
}

static void sleep_ms(int ms)
{
    usleep((useconds_t)ms * 1000);
}

static double ms_since(uint64_t t0)
{
    return (double)(clock_mono_ns() - t0) / 1e6;
}

/* ==== a set of ids, shared by the commit hook and the callbacks ==== */

#define SET_CAP 65536 /* power of two, well above the ids one test commits */

typedef struct idset {
    pthread_mutex_t mu;
    char (*slot)[37];
    int n;
} idset_t;

static void set_init(idset_t *s)
{
    pthread_mutex_init(&s->mu, NULL);
    s->slot = calloc(SET_CAP, sizeof *s->slot);
    s->n = 0;
}

static void set_free(idset_t *s)
{
    free(s->slot);
    pthread_mutex_destroy(&s->mu);
}

static unsigned hash(const char *id)
{
    unsigned h = 2166136261u;
    for (const char *p = id; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

/* Adds id; false if it was there already. Caller holds mu. */
static bool set_add(idset_t *s, const char *id)
{
    for (unsigned i = hash(id) & (SET_CAP - 1);; i = (i + 1) & (SET_CAP - 1)) {
        if (!s->slot[i][0]) {
            memcpy(s->slot[i], id, 37);
            s->n++;
            return true;
        }
        if (strcmp(s->slot[i], id) == 0) return false;
    }
}

static bool set_has(idset_t *s, const char *id)
{
    for (unsigned i = hash(id) & (SET_CAP - 1);; i = (i + 1) & (SET_CAP - 1)) {
        if (!s->slot[i][0]) return false;
        if (strcmp(s->slot[i], id) == 0) return true;
    }
}

/* ==== a latch: wait until n callbacks have run ==== */

typedef struct latch {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int count, failures, last_status;
} latch_t;

static void latch_init(latch_t *l)
{
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    l->count = l->failures = l->last_status = 0;
}

static void latch_deinit(latch_t *l)
{
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
}

static void latch_done(void *arg, int status)
{
    latch_t *l = arg;
    pthread_mutex_lock(&l->mu);
    l->count++;
    l->last_status = status;
    if (status) l->failures++;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static void latch_wait(latch_t *l, int n)
{
    pthread_mutex_lock(&l->mu);
    while (l->count < n) pthread_cond_wait(&l->cv, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

static store_record_t rec(const char *model, const char *in, const char *out)
{
    return (store_record_t){.model = model,
                            .version = "1",
                            .request_id = "req",
                            .input_json = in,
                            .output_json = out,
                            .latency_ms = 1.25};
}

/* ==== reading pages back ==== */

/* One page as the API renders it (api/records_json.c). */
static int list_json(store_t *s, const char *model, int64_t since, int64_t until, int limit,
                     const char *cursor, buf_t *b, char *err, size_t errlen)
{
    store_query_t q = {model, since, until, limit, cursor};
    return api_records_list_json(s, &q, b, err, errlen);
}

/* Pages through store_list and appends every id to ids (up to max); returns the count, or -1 on
 * an error or a page that breaks the format. */
static int list_all(store_t *s, const char *model, int64_t since, int64_t until, int limit,
                    char (*ids)[37], int max)
{
    char cursor[37] = "", err[128];
    int n = 0;
    for (;;) {
        buf_t b;
        buf_init(&b);
        int rc = list_json(s, model, since, until, limit, cursor, &b, err, sizeof err);
        if (rc) {
            fprintf(stderr, "store_list: %d %s\n", rc, err);
            buf_deinit(&b);
            return -1;
        }
        json_doc_t *d = json_parse(b.data, b.len, NULL, err, sizeof err);
        buf_deinit(&b);
        if (!d) {
            fprintf(stderr, "list JSON: %s\n", err);
            return -1;
        }
        const json_value_t *recs = json_get(json_root(d), "records");
        size_t k = json_size(recs);
        if (k > (size_t)limit || json_type(recs) != JSON_ARRAY) n = -1;
        for (size_t i = 0; n >= 0 && i < k; i++) {
            const char *id = json_string(json_get(json_at(recs, i), "id"), NULL);
            if (!id || n >= max) {
                n = -1;
                break;
            }
            snprintf(ids[n++], 37, "%s", id);
        }
        const json_value_t *next = json_get(json_root(d), "next_cursor");
        bool more = json_type(next) == JSON_STRING;
        if (more) snprintf(cursor, sizeof cursor, "%s", json_string(next, NULL));
        json_doc_free(d);
        if (n < 0 || !more) return n;
        if (k != (size_t)limit) return -1; /* a next page after a short page */
    }
}

static int count_all(store_t *s)
{
    static char ids[20000][37];
    return list_all(s, NULL, 0, 0, 1000, ids, 20000);
}

/* ==== uuid7 ==== */

static void test_uuid7(void)
{
    enum { N = 200000 };
    char prev[37] = "", id[37];
    int64_t prev_ts = 0;
    bool ordered = true, valid = true, consistent = true;
    int64_t now = (int64_t)(clock_wall_ns() / 1000);
    for (int i = 0; i < N; i++) {
        int64_t ts = uuid7_next(id, (int64_t)(clock_wall_ns() / 1000));
        if (strcmp(prev, id) >= 0 || ts < prev_ts) ordered = false;
        if (!uuid7_valid(id)) valid = false;
        if (uuid7_ms(id) != ts / 1000) consistent = false;
        memcpy(prev, id, sizeof id);
        prev_ts = ts;
    }
    CHECK(ordered);
    CHECK(valid);
    CHECK(consistent);
    CHECK_EQ(strlen(id), 36);
    CHECK(id[14] == '7');
    CHECK(strchr("89ab", id[19]) != NULL);
    CHECK(uuid7_ms(id) >= now / 1000 && uuid7_ms(id) < now / 1000 + 60000);

    /* A wall clock that steps back by a minute: time is held, ids keep increasing. */
    int64_t ts = uuid7_next(id, now - 60000000);
    CHECK(strcmp(prev, id) < 0);
    CHECK(ts >= prev_ts);
    CHECK_EQ(uuid7_ms(id), ts / 1000);

    /* Prefix bounds: every id of a millisecond sorts between its prefix and the next one's. */
    char lo[14], hi[14];
    uuid7_ms_prefix(lo, uuid7_ms(id));
    uuid7_ms_prefix(hi, uuid7_ms(id) + 1);
    CHECK(strcmp(lo, id) < 0 && strcmp(id, hi) < 0);
    CHECK(memcmp(lo, id, 13) == 0);
    uuid7_ms_prefix(lo, 0x0123456789ab);
    CHECK_STR(lo, "01234567-89ab");

    CHECK(uuid_canonical("0190a1b2-c3d4-4e5f-8a6b-7c8d9e0f1a2b"));
    CHECK(!uuid7_valid("0190a1b2-c3d4-4e5f-8a6b-7c8d9e0f1a2b")); /* version 4 */
    CHECK(!uuid7_valid("0190a1b2-c3d4-7e5f-ca6b-7c8d9e0f1a2b")); /* variant 110 */
    CHECK(uuid7_valid("0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b"));
    CHECK(!uuid_canonical("0190A1B2-c3d4-7e5f-8a6b-7c8d9e0f1a2b")); /* upper case */
    CHECK(!uuid_canonical("0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2"));
    CHECK(!uuid_canonical("0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2bb"));
    CHECK(!uuid_canonical("0190a1b2xc3d4-7e5f-8a6b-7c8d9e0f1a2b"));
    CHECK(!uuid_canonical(""));
}

/* ==== durable under concurrency ==== */

enum { NTHREADS = 8, PER_THREAD = 500 };

typedef struct shared {
    store_t *s;
    idset_t committed; /* filled by the commit hook */
    int commits;       /* hook calls */
    int early_acks;    /* acks whose record no commit had reported yet */
    int bulk;          /* records per submission */
    char (*ids)[37];   /* every id, NTHREADS * PER_THREAD */
} shared_t;

static void hook_log(void *arg, const char *const *ids, int n)
{
    shared_t *sh = arg;
    pthread_mutex_lock(&sh->committed.mu);
    sh->commits++;
    for (int i = 0; i < n; i++) set_add(&sh->committed, ids[i]);
    pthread_mutex_unlock(&sh->committed.mu);
}

typedef struct client {
    shared_t *sh;
    int index;
    latch_t l;
    store_record_t recs[16];
    int n;
    int bad_submits;
} client_t;

/* The durable ack: every record of the submission must already be in a reported commit. */
static void client_done(void *arg, int status)
{
    client_t *c = arg;
    pthread_mutex_lock(&c->sh->committed.mu);
    for (int i = 0; i < c->n; i++)
        if (!set_has(&c->sh->committed, c->recs[i].id)) c->sh->early_acks++;
    pthread_mutex_unlock(&c->sh->committed.mu);
    latch_done(&c->l, status);
}

/* A closed-loop client, like an HTTP client waiting for each reply: submit, wait, repeat. */
static void *client_main(void *arg)
{
    client_t *c = arg;
    char in[64], out[64];
    int done = 0;
    for (int i = 0; i < PER_THREAD; i += c->sh->bulk) {
        c->n = c->sh->bulk;
        snprintf(in, sizeof in, "{\"x\":[%d,%d]}", c->index, i);
        snprintf(out, sizeof out, "[%d]", i);
        for (int j = 0; j < c->n; j++) {
            c->recs[j] = rec(c->index % 2 ? "odd" : "even", in, out);
            c->recs[j].id[0] = 0;
        }
        int rc;
        while ((rc = store_submit(c->sh->s, c->recs, c->n, DUR_DURABLE, client_done, c)) == -EAGAIN)
            sleep_ms(1);
        if (rc) {
            c->bad_submits++;
            continue;
        }
        latch_wait(&c->l, ++done);
        for (int j = 0; j < c->n; j++)
            memcpy(c->sh->ids[c->index * PER_THREAD + i + j], c->recs[j].id, 37);
    }
    return NULL;
}

/* Runs NTHREADS closed-loop clients submitting `bulk` records at a time; returns records/s. */
static double run_clients(shared_t *sh, int bulk, int *bad, int *failures)
{
    sh->bulk = bulk;
    client_t c[NTHREADS];
    pthread_t th[NTHREADS];
    uint64_t t0 = clock_mono_ns();
    for (int i = 0; i < NTHREADS; i++) {
        c[i] = (client_t){.sh = sh, .index = i};
        latch_init(&c[i].l);
        pthread_create(&th[i], NULL, client_main, &c[i]);
    }
    *bad = *failures = 0;
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        *bad += c[i].bad_submits;
        *failures += c[i].l.failures;
        latch_deinit(&c[i].l);
    }
    return NTHREADS * PER_THREAD / (ms_since(t0) / 1000);
}

static void test_durable_concurrent(void)
{
    store_t *s = open_db("durable.db", NULL);
    CHECK(s != NULL);
    if (!s) return;
    static char ids[NTHREADS * PER_THREAD][37];
    shared_t sh = {.s = s, .ids = ids};
    set_init(&sh.committed);
    store_set_commit_hook(s, hook_log, &sh);

    int bad, failures;
    double rate = run_clients(&sh, 1, &bad, &failures);
    CHECK_EQ(bad, 0);
    CHECK_EQ(failures, 0);
    CHECK_EQ(sh.early_acks, 0);
    CHECK_EQ(sh.committed.n, NTHREADS * PER_THREAD);
    /* Group commit: 4000 submissions from 8 clients must share transactions. */
    int submits = NTHREADS * PER_THREAD;
    CHECK(sh.commits < submits / 2);
    printf("# durable, %d closed-loop clients x 1 record: %.0f records/s, %d commits, "
           "%.2f records per commit\n",
           NTHREADS, rate, sh.commits, (double)submits / sh.commits);

    /* Every id reads back, by id and by paging (ascending, no duplicates, no gaps). */
    int missing = 0;
    buf_t b;
    buf_init(&b);
    for (int i = 0; i < submits; i++) {
        b.len = 0;
        if (api_record_get_json(s, ids[i], &b) != 0) {
            missing++;
            continue;
        }
        json_doc_t *d = json_parse(b.data, b.len, NULL, NULL, 0);
        const json_value_t *r = d ? json_root(d) : NULL;
        const char *id = json_string(json_get(r, "id"), NULL);
        if (!d || !id || strcmp(id, ids[i]) != 0 ||
            json_type(json_get(r, "input")) != JSON_OBJECT ||
            json_type(json_get(r, "output")) != JSON_ARRAY ||
            json_number(json_get(r, "latency_ms")) != 1.25)
            missing++;
        json_doc_free(d);
    }
    CHECK_EQ(missing, 0);
    static char paged[NTHREADS * PER_THREAD + 1][37];
    int n = list_all(s, NULL, 0, 0, 97, paged, submits + 1);
    CHECK_EQ(n, submits);
    bool ascending = true, known = true;
    for (int i = 0; i < n; i++) {
        if (i && strcmp(paged[i - 1], paged[i]) >= 0) ascending = false;
        if (!set_has(&sh.committed, paged[i])) known = false;
    }
    CHECK(ascending);
    CHECK(known);

    /* Bulk: 10 records per request, all acked only after the one commit that holds them. */
    set_free(&sh.committed);
    set_init(&sh.committed);
    sh.commits = 0;
    sh.early_acks = 0;
    rate = run_clients(&sh, 10, &bad, &failures);
    CHECK_EQ(bad, 0);
    CHECK_EQ(failures, 0);
    CHECK_EQ(sh.early_acks, 0);
    CHECK_EQ(sh.committed.n, submits);
    printf("# durable, %d closed-loop clients x 10 records: %.0f records/s, %d commits, "
           "%.2f records per commit\n",
           NTHREADS, rate, sh.commits, (double)submits / sh.commits);

    store_stats_t st;
    store_stats(s, &st);
    CHECK_EQ(st.records_written, 2 * submits);
    CHECK_EQ(st.commit_errors, 0);
    CHECK_EQ(st.queued_records, 0);
    CHECK_EQ(st.queued_bytes, 0);
    buf_deinit(&b);
    store_close(s);
    set_free(&sh.committed);
}

/* ==== buffered window ==== */

typedef struct stamp {
    pthread_mutex_t mu;
    uint64_t at_ns;
    int records;
} stamp_t;

static void hook_stamp(void *arg, const char *const *ids, int n)
{
    stamp_t *t = arg;
    pthread_mutex_lock(&t->mu);
    if (!t->at_ns) t->at_ns = clock_mono_ns();
    t->records += n;
    pthread_mutex_unlock(&t->mu);
}

static void test_buffered_window(void)
{
    store_opts_t o = {.flush_interval_ms = 50};
    store_t *s = open_db("buffered.db", &o);
    CHECK(s != NULL);
    if (!s) return;
    stamp_t t = {.mu = PTHREAD_MUTEX_INITIALIZER};
    store_set_commit_hook(s, hook_stamp, &t);
    latch_t l;
    latch_init(&l);
    store_record_t r[3] = {rec("m", "1", "2"), rec("m", "3", "4"), rec("m", "5", "6")};
    uint64_t t0 = clock_mono_ns();
    CHECK_EQ(store_submit(s, r, 2, DUR_BUFFERED, latch_done, &l), 0);
    CHECK_EQ(l.count, 1); /* acked before store_submit returned */
    CHECK_EQ(store_submit(s, r + 2, 1, DUR_BUFFERED, NULL, NULL), 0);
    buf_t b;
    buf_init(&b);
    while (api_record_get_json(s, r[2].id, &b) == -ENOENT && ms_since(t0) < 5000) sleep_ms(1);
    double seen = ms_since(t0);
    CHECK(b.len > 0);
    CHECK_EQ(api_record_get_json(s, r[0].id, &b), 0);
    pthread_mutex_lock(&t.mu);
    double committed = (double)(t.at_ns - t0) / 1e6;
    int nrec = t.records;
    pthread_mutex_unlock(&t.mu);
    /* The writer waits out the window (that is what groups buffered work), then commits all
     * three records at once; visible on disk well within window + one commit. */
    CHECK(committed >= 49);
    CHECK_EQ(nrec, 3);
    CHECK(seen <= 50 + 250);
    printf("# buffered: on disk %.1f ms after submit (window 50 ms)\n", seen);
    buf_deinit(&b);
    latch_deinit(&l);
    store_close(s);
}

/* ==== backpressure ==== */

typedef struct gate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool entered, open;
} gate_t;

/* Blocks the writer inside its first commit until the test opens the gate. */
static void hook_gate(void *arg, const char *const *ids, int n)
{
    gate_t *g = arg;
    pthread_mutex_lock(&g->mu);
    g->entered = true;
    pthread_cond_broadcast(&g->cv);
    while (!g->open) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_wait_entered(gate_t *g)
{
    pthread_mutex_lock(&g->mu);
    while (!g->entered) pthread_cond_wait(&g->cv, &g->mu);
    pthread_mutex_unlock(&g->mu);
}

static void gate_open(gate_t *g)
{
    pthread_mutex_lock(&g->mu);
    g->open = true;
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
}

static void test_queue_full(void)
{
    store_opts_t o = {.queue_max_records = 8, .batch_max_records = 4};
    store_t *s = open_db("full.db", &o);
    CHECK(s != NULL);
    if (!s) return;
    gate_t g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    store_set_commit_hook(s, hook_gate, &g);
    latch_t l;
    latch_init(&l);
    store_record_t first = rec("m", "0", "0");
    CHECK_EQ(store_submit(s, &first, 1, DUR_DURABLE, latch_done, &l), 0);
    /* The writer is now stuck in the hook of its first commit (whose record no longer counts
     * against the bound), so nothing drains the queue. */
    gate_wait_entered(&g);

    static store_record_t r[16];
    int accepted = 0, rc = 0;
    for (int i = 0; i < 16; i++) {
        r[i] = rec("m", "1", "2");
        rc = store_submit(s, &r[i], 1, DUR_BUFFERED, NULL, NULL);
        if (rc) break;
        accepted++;
    }
    CHECK_EQ(rc, -EAGAIN);
    CHECK_EQ(accepted, 8);
    store_record_t two[2] = {rec("m", "1", "2"), rec("m", "1", "2")};
    store_record_t nine[9];
    for (int i = 0; i < 9; i++) nine[i] = rec("m", "1", "2");
    CHECK_EQ(store_submit(s, nine, 9, DUR_BUFFERED, NULL, NULL), -EMSGSIZE);
    CHECK_EQ(store_submit(s, two, 2, DUR_DURABLE, latch_done, &l), -EAGAIN);
    CHECK_EQ(l.count, 0); /* refused: no callback */
    store_stats_t st;
    store_stats(s, &st);
    CHECK_EQ(st.queued_records, 8);
    CHECK(st.rejected >= 2);

    gate_open(&g);
    latch_wait(&l, 1);
    CHECK_EQ(l.failures, 0);
    /* Room again once the writer catches up. */
    rc = -EAGAIN;
    for (int i = 0; i < 2000 && rc == -EAGAIN; i++) {
        rc = store_submit(s, two, 2, DUR_DURABLE, latch_done, &l);
        if (rc == -EAGAIN) sleep_ms(1);
    }
    CHECK_EQ(rc, 0);
    latch_wait(&l, 2);
    store_close(s);

    s = open_db("full.db", NULL);
    CHECK(s != NULL);
    if (!s) return;
    CHECK_EQ(count_all(s), 1 + 8 + 2);
    buf_t b;
    buf_init(&b);
    for (int i = 0; i < accepted; i++) CHECK_EQ(api_record_get_json(s, r[i].id, &b), 0);
    buf_deinit(&b);
    store_close(s);
    latch_deinit(&l);
}

/* ==== close flushes, reopen, migrations ==== */

static void test_close_flush_reopen(void)
{
    store_opts_t o = {.flush_interval_ms = 10000};
    store_t *s = open_db("flush.db", &o);
    CHECK(s != NULL);
    if (!s) return;
    static store_record_t r[1000];
    for (int i = 0; i < 1000; i++) r[i] = rec(i % 3 ? "a" : "b", "[1]", "[2]");
    for (int i = 0; i < 1000; i += 10)
        CHECK_EQ(store_submit(s, r + i, 10, DUR_BUFFERED, NULL, NULL), 0);
    uint64_t t0 = clock_mono_ns();
    store_close(s); /* must not wait out the 10 s window */
    CHECK(ms_since(t0) < 5000);

    for (int round = 0; round < 2; round++) {
        s = open_db("flush.db", NULL);
        CHECK(s != NULL);
        if (!s) return;
        CHECK_EQ(count_all(s), 1000);
        buf_t b;
        buf_init(&b);
        CHECK_EQ(api_record_get_json(s, r[999].id, &b), 0);
        buf_deinit(&b);
        store_close(s);
    }

    /* One row per applied migration, however often the file was opened. */
    char path[512];
    path_of(path, sizeof path, "flush.db");
    sqlite3 *db;
    CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    CHECK_EQ(
        sqlite3_prepare_v2(db, "SELECT count(*), max(version) FROM schema_version", -1, &st, NULL),
        SQLITE_OK);
    CHECK_EQ(sqlite3_step(st), SQLITE_ROW);
    CHECK_EQ(sqlite3_column_int(st, 0), 3);
    CHECK_EQ(sqlite3_column_int(st, 1), 3);
    sqlite3_finalize(st);
    /* The file is readable with plain SQL, and the list query walks the (model, id) index. */
    CHECK_EQ(sqlite3_prepare_v2(db,
                                "EXPLAIN QUERY PLAN SELECT id FROM inferences WHERE model = 'a' "
                                "AND id > '' AND id < '~' AND ts_us >= 0 AND ts_us < 9 "
                                "ORDER BY id LIMIT 5",
                                -1, &st, NULL),
             SQLITE_OK);
    bool uses_index = false;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *detail = (const char *)sqlite3_column_text(st, 3);
        if (detail && strstr(detail, "inferences_model_id") && !strstr(detail, "TEMP B-TREE"))
            uses_index = true;
        if (detail && strstr(detail, "TEMP B-TREE")) uses_index = false;
    }
    sqlite3_finalize(st);
    CHECK(uses_index);
    /* A database from a newer inferd is refused, not written. */
    CHECK_EQ(sqlite3_exec(db, "INSERT INTO schema_version VALUES (99, 0)", NULL, NULL, NULL),
             SQLITE_OK);
    sqlite3_close(db);
    char uri[600], err[256] = "";
    snprintf(uri, sizeof uri, "sqlite:%s", path);
    CHECK(store_open(uri, NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "newer") != NULL);
}

/* ==== list filters, validation, JSON ==== */

static int page_count(const char *json)
{
    json_doc_t *d = json_parse(json, strlen(json), NULL, NULL, 0);
    int n = d ? (int)json_size(json_get(json_root(d), "records")) : -1;
    json_doc_free(d);
    return n;
}

static void test_list_filters(void)
{
    store_t *s = open_db("list.db", NULL);
    CHECK(s != NULL);
    if (!s) return;
    enum { N = 60 };
    store_record_t r[N];
    for (int i = 0; i < N; i++) {
        r[i] = rec(i % 3 == 0 ? "a" : "b", "{\"k\":1}", "[0.5]");
        if (i % 20 == 0 && i) sleep_ms(3); /* three groups in three different milliseconds */
        CHECK_EQ(store_submit(s, &r[i], 1, i == N - 1 ? DUR_DURABLE : DUR_BUFFERED, NULL, NULL), 0);
    }
    latch_t l;
    latch_init(&l);
    store_record_t last = rec("c\"q", NULL, NULL); /* escaped model, null fields */
    last.version = last.request_id = NULL;
    CHECK_EQ(store_submit(s, &last, 1, DUR_DURABLE, latch_done, &l), 0);
    latch_wait(&l, 1); /* FIFO commits: everything before it is on disk too */
    CHECK_EQ(l.failures, 0);

    char ids[N + 1][37];
    CHECK_EQ(list_all(s, "a", 0, 0, 7, ids, N + 1), N / 3);
    CHECK_EQ(list_all(s, "b", 0, 0, 1000, ids, N + 1), N - N / 3);
    CHECK_EQ(list_all(s, "", 0, 0, 1000, ids, N + 1), N + 1);
    CHECK_EQ(list_all(s, "nope", 0, 0, 10, ids, N + 1), 0);

    /* since/until are exact to the microsecond, also inside one millisecond. */
    int64_t since = r[20].ts_us, until = r[40].ts_us;
    int expect = 0, expect_b = 0;
    for (int i = 0; i < N; i++) {
        if (r[i].ts_us >= since + 1 && r[i].ts_us < until) {
            expect++;
            if (i % 3) expect_b++;
        }
    }
    CHECK_EQ(list_all(s, NULL, since + 1, until, 5, ids, N + 1), expect);
    CHECK_EQ(list_all(s, "b", since + 1, until, 5, ids, N + 1), expect_b);
    CHECK_EQ(list_all(s, NULL, since, 0, 1000, ids, N + 1), N + 1 - 20);
    CHECK_EQ(list_all(s, NULL, 0, since, 1000, ids, N + 1), 20);
    CHECK_EQ(list_all(s, NULL, 1, 2, 10, ids, N + 1), 0);

    char err[128];
    buf_t b;
    buf_init(&b);
    CHECK_EQ(list_json(s, NULL, 0, 0, 0, NULL, &b, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "limit") != NULL);
    CHECK_EQ(list_json(s, NULL, 0, 0, 1001, NULL, &b, err, sizeof err), -EINVAL);
    CHECK_EQ(list_json(s, NULL, 0, 0, 10, "garbage", &b, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "cursor") != NULL);
    CHECK_EQ(list_json(s, NULL, -1, 0, 10, NULL, &b, err, sizeof err), -EINVAL);
    CHECK_EQ(list_json(s, NULL, 100, 100, 10, NULL, &b, err, sizeof err), -EINVAL);
    CHECK_EQ(b.len, 0);
    CHECK_EQ(list_json(s, NULL, 0, 0, 1000, NULL, &b, err, sizeof err), 0);
    CHECK_EQ(buf_append(&b, "", 1), 0);
    CHECK_EQ(page_count(b.data), N + 1);
    CHECK(strstr(b.data, "\"next_cursor\":null}") != NULL);

    /* A cursor past the end, and the last page's cursor, give empty pages. */
    b.len = 0;
    CHECK_EQ(list_json(s, NULL, 0, 0, 10, last.id, &b, err, sizeof err), 0);
    CHECK_EQ(buf_append(&b, "", 1), 0);
    CHECK_STR(b.data, "{\"records\":[],\"next_cursor\":null}");

    b.len = 0;
    CHECK_EQ(api_record_get_json(s, last.id, &b), 0);
    CHECK_EQ(buf_append(&b, "", 1), 0);
    CHECK(strstr(b.data, "\"model\":\"c\\\"q\",\"version\":null,\"request_id\":null,"
                         "\"input\":null,\"output\":null,\"latency_ms\":1.250}") != NULL);
    json_doc_t *d = json_parse(b.data, b.len - 1, NULL, err, sizeof err);
    CHECK(d != NULL);
    CHECK_EQ(json_int(json_get(json_root(d), "ts_us")), last.ts_us);
    const char *ts = json_string(json_get(json_root(d), "ts"), NULL);
    CHECK(ts && strlen(ts) == 27 && ts[10] == 'T' && ts[26] == 'Z');
    json_doc_free(d);

    b.len = 0;
    CHECK_EQ(api_record_get_json(s, "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", &b), -ENOENT);
    CHECK_EQ(api_record_get_json(s, "not-an-id", &b), -ENOENT);
    CHECK_EQ(api_record_get_json(s, NULL, &b), -ENOENT);
    CHECK_EQ(b.len, 0);

    /* Refused submissions. */
    store_record_t bad = rec("", "1", "1");
    CHECK_EQ(store_submit(s, &bad, 1, DUR_DURABLE, NULL, NULL), -EINVAL);
    bad = rec("m", "1", "1");
    bad.latency_ms = -1;
    CHECK_EQ(store_submit(s, &bad, 1, DUR_DURABLE, NULL, NULL), -EINVAL);
    CHECK_EQ(store_submit(s, &bad, 0, DUR_DURABLE, NULL, NULL), -EINVAL);

    /* off: an id to answer with, nothing stored. */
    store_record_t off = rec("m", "1", "1");
    CHECK_EQ(store_submit(s, &off, 1, DUR_OFF, latch_done, &l), 0);
    CHECK_EQ(l.count, 2);
    CHECK(uuid7_valid(off.id));
    CHECK_EQ(api_record_get_json(s, off.id, &b), -ENOENT);

    buf_deinit(&b);
    latch_deinit(&l);
    store_close(s);
}

/* ==== big submissions, re-entrant callbacks ==== */

typedef struct reenter {
    store_t *s;
    store_record_t r;
    int rc;
    latch_t l;
} reenter_t;

static void done_resubmit(void *arg, int status)
{
    reenter_t *x = arg;
    /* On the writer thread: submitting from here must not deadlock. */
    x->rc = store_submit(x->s, &x->r, 1, DUR_BUFFERED, NULL, NULL);
    latch_done(&x->l, status);
}

static void hook_sizes(void *arg, const char *const *ids, int n)
{
    int *max = arg;
    if (n > *max) *max = n;
}

static void test_bulk_and_reentry(void)
{
    store_opts_t o = {.batch_max_records = 100};
    store_t *s = open_db("bulk.db", &o);
    CHECK(s != NULL);
    if (!s) return;
    int biggest = 0;
    store_set_commit_hook(s, hook_sizes, &biggest);
    enum { BIG = 5000 };
    store_record_t *r = calloc(BIG, sizeof *r);
    for (int i = 0; i < BIG; i++) r[i] = rec("bulk", "[1,2,3]", "[0]");
    reenter_t x = {.s = s, .r = rec("again", "1", "2")};
    latch_init(&x.l);
    CHECK_EQ(store_submit(s, r, BIG, DUR_DURABLE, done_resubmit, &x), 0);
    latch_wait(&x.l, 1);
    CHECK_EQ(x.l.failures, 0);
    CHECK_EQ(x.rc, 0);
    CHECK_EQ(biggest, BIG); /* one request, one transaction, above batch_max_records */
    for (int i = 1; i < BIG; i++)
        if (strcmp(r[i - 1].id, r[i].id) >= 0) CHECK(!"ids of one submission not ascending");
    store_close(s);
    s = open_db("bulk.db", NULL);
    CHECK(s != NULL);
    if (s) {
        CHECK_EQ(count_all(s), BIG + 1);
        store_close(s);
    }
    free(r);
    latch_deinit(&x.l);
}

/* ==== commit failures ==== */

static void test_commit_errors(void)
{
    store_opts_t o = {.busy_timeout_ms = 30, .flush_interval_ms = 5};
    store_t *s = open_db("errors.db", &o);
    CHECK(s != NULL);
    if (!s) return;
    char path[512];
    path_of(path, sizeof path, "errors.db");
    sqlite3 *db;
    CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
    /* Another process holding the write lock: every commit fails with -EBUSY meanwhile. */
    CHECK_EQ(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    latch_t l;
    latch_init(&l);
    store_record_t buffered = rec("m", "1", "1"), durable = rec("m", "2", "2");
    CHECK_EQ(store_submit(s, &buffered, 1, DUR_BUFFERED, NULL, NULL), 0);
    CHECK_EQ(store_submit(s, &durable, 1, DUR_DURABLE, latch_done, &l), 0);
    latch_wait(&l, 1);
    CHECK_EQ(l.last_status, -EBUSY); /* the durable request hears of the failure */
    char why[200] = "";
    CHECK(!store_healthy(s, why, sizeof why)); /* readiness hears of it too */
    CHECK(strstr(why, "locked") != NULL);
    store_stats_t st;
    store_stats(s, &st);
    CHECK(st.commit_errors >= 1);
    CHECK_EQ(st.queued_records, 1); /* the acked buffered record waits for a retry */

    CHECK_EQ(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    store_record_t after = rec("m", "3", "3");
    CHECK_EQ(store_submit(s, &after, 1, DUR_DURABLE, latch_done, &l), 0);
    latch_wait(&l, 2);
    CHECK_EQ(l.last_status, 0);
    CHECK(store_healthy(s, why, sizeof why));
    buf_t b;
    buf_init(&b);
    CHECK_EQ(api_record_get_json(s, buffered.id, &b), 0); /* retried, in order, not lost */
    CHECK_EQ(api_record_get_json(s, durable.id, &b), -ENOENT);
    CHECK_EQ(api_record_get_json(s, after.id, &b), 0);

    /* At shutdown a sink that keeps failing is given up on after a few attempts, loudly. */
    CHECK_EQ(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    store_record_t lost = rec("m", "4", "4");
    CHECK_EQ(store_submit(s, &lost, 1, DUR_BUFFERED, NULL, NULL), 0);
    uint64_t t0 = clock_mono_ns();
    CHECK_EQ(store_close(s), 1); /* says that an acknowledged record was lost */
    CHECK(ms_since(t0) < 5000);
    CHECK_EQ(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    b.len = 0;
    CHECK_EQ(metrics_render(&b), 0);
    CHECK_EQ(buf_append(&b, "", 1), 0);
    CHECK(strstr(b.data, "inferd_store_dropped_records_total{sink=\"sqlite\"} 1\n") != NULL);
    buf_deinit(&b);
    latch_deinit(&l);
}

/* After a failed durable commit with nothing left to retry, the idle writer probes the sink,
 * so the store reports itself healthy again without waiting for traffic (a node out of its load
 * balancer gets none). */
static void test_health_recovers_when_idle(void)
{
    store_opts_t o = {.busy_timeout_ms = 30};
    store_t *s = open_db("probe.db", &o);
    CHECK(s != NULL);
    if (!s) return;
    char path[512], why[200] = "";
    path_of(path, sizeof path, "probe.db");
    sqlite3 *db;
    CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_EQ(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    latch_t l;
    latch_init(&l);
    store_record_t r = rec("m", "1", "1");
    CHECK_EQ(store_submit(s, &r, 1, DUR_DURABLE, latch_done, &l), 0);
    latch_wait(&l, 1);
    CHECK_EQ(l.last_status, -EBUSY);
    sleep_ms(100); /* probes keep failing while the lock is held */
    CHECK(!store_healthy(s, why, sizeof why));
    CHECK_EQ(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    bool ok = false;
    for (int i = 0; i < 300 && !ok; i++) {
        ok = store_healthy(s, why, sizeof why);
        if (!ok) sleep_ms(10);
    }
    CHECK(ok);
    sqlite3_close(db);
    CHECK_EQ(store_close(s), 0);
    latch_deinit(&l);
}

/* ==== records the sink refuses for their data ==== */

typedef struct outcome {
    latch_t *l;
    int status;
    char why[200];
} outcome_t;

static void outcome_done(void *arg, int status)
{
    outcome_t *o = arg;
    o->status = status;
    snprintf(o->why, sizeof o->why, "%s", store_done_reason());
    latch_done(o->l, status);
}

/* Holds the writer in its first commit until opened, and logs every committed id. */
typedef struct gate_log {
    gate_t g;
    idset_t ids;
    int commits;
} gate_log_t;

static void hook_gate_log(void *arg, const char *const *ids, int n)
{
    gate_log_t *gl = arg;
    pthread_mutex_lock(&gl->ids.mu);
    for (int i = 0; i < n; i++) set_add(&gl->ids, ids[i]);
    gl->commits++;
    pthread_mutex_unlock(&gl->ids.mu);
    hook_gate(&gl->g, ids, n);
}

/* One batch holding durable and buffered submissions, some with a record the sink refuses
 * (the null sink's test switch stands for a value the database cannot store): the writer splits
 * the batch until every innocent submission has committed, refused durable ones hear -EBADMSG
 * and why, refused buffered ones become dead letters, and nothing wedges. */
static void test_poison_isolation(void)
{
    for (int dead_refuses = 0; dead_refuses < 2; dead_refuses++) {
        char err[256];
        store_opts_t o = {.batch_max_records = 4096, .flush_interval_ms = 1};
        store_t *s =
            store_open(dead_refuses ? "null:?refuse=POISON&dead=refuse" : "null:0?refuse=POISON",
                       &o, err, sizeof err);
        CHECK(s != NULL);
        if (!s) return;
        gate_log_t gl = {.g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER}};
        set_init(&gl.ids);
        store_set_commit_hook(s, hook_gate_log, &gl);
        latch_t l;
        latch_init(&l);
        outcome_t first = {.l = &l};
        store_record_t r0 = rec("m", "[0]", "1");
        CHECK_EQ(store_submit(s, &r0, 1, DUR_DURABLE, outcome_done, &first), 0);
        gate_wait_entered(&gl.g); /* everything below queues up behind it: one batch */

        enum { N = 40 };
        static store_record_t r[N];
        static outcome_t out[N];
        int durable = 0;
        for (int i = 0; i < N; i++) {
            bool poison = i == 5 || i == 6 || i == 23 || i == 39;
            r[i] = rec("m", poison ? "[\"POISON\"]" : "[1]", "2");
            out[i] = (outcome_t){.l = &l, .status = 1};
            durability_t d = i % 3 == 2 ? DUR_BUFFERED : DUR_DURABLE;
            durable += d == DUR_DURABLE;
            CHECK_EQ(store_submit(s, &r[i], 1, d, outcome_done, &out[i]), 0);
        }
        /* A durable submission of three records, one refused: all three fail together. */
        store_record_t three[3] = {rec("m", "[1]", "2"), rec("m", "[POISON]", "2"),
                                   rec("m", "[3]", "2")};
        outcome_t out3 = {.l = &l};
        CHECK_EQ(store_submit(s, three, 3, DUR_DURABLE, outcome_done, &out3), 0);
        store_record_t last = rec("m", "[4]", "5");
        outcome_t outl = {.l = &l};
        CHECK_EQ(store_submit(s, &last, 1, DUR_DURABLE, outcome_done, &outl), 0);
        gate_open(&gl.g);
        latch_wait(&l, 1 + durable + N - durable + 2); /* buffered callbacks ran at submit */

        CHECK_EQ(first.status, 0);
        int refused_durable = 0, refused_buffered = 0;
        for (int i = 0; i < N; i++) {
            bool poison = strstr(r[i].input_json, "POISON") != NULL;
            bool buffered = i % 3 == 2;
            if (buffered) {
                CHECK_EQ(out[i].status, 0); /* acknowledged at once, as always */
                refused_buffered += poison;
            } else if (poison) {
                CHECK_EQ(out[i].status, -EBADMSG);
                CHECK(strstr(out[i].why, "POISON") != NULL);
                refused_durable++;
            } else {
                CHECK_EQ(out[i].status, 0);
            }
            CHECK_EQ(set_has(&gl.ids, r[i].id), !poison);
        }
        CHECK_EQ(out3.status, -EBADMSG);
        for (int i = 0; i < 3; i++) CHECK(!set_has(&gl.ids, three[i].id));
        CHECK_EQ(outl.status, 0);
        CHECK(set_has(&gl.ids, last.id));
        CHECK_EQ(refused_durable, 2);
        CHECK_EQ(refused_buffered, 2);

        /* The queue moves on: a later record commits at once. */
        store_record_t after = rec("m", "[5]", "6");
        outcome_t outa = {.l = &l};
        int seen = l.count;
        CHECK_EQ(store_submit(s, &after, 1, DUR_DURABLE, outcome_done, &outa), 0);
        latch_wait(&l, seen + 1);
        CHECK_EQ(outa.status, 0);
        char why[128];
        CHECK(store_healthy(s, why, sizeof why));
        store_stats_t st;
        store_stats(s, &st);
        CHECK_EQ(st.refused, 2 + 3 + 2);
        CHECK_EQ(st.dead_letters, dead_refuses ? 0 : 2);
        CHECK_EQ(st.dropped, dead_refuses ? 2 : 0);
        CHECK_EQ(st.queued_records, 0);
        /* The refused buffered record was acknowledged: losing it is reported at close. */
        CHECK_EQ(store_close(s), dead_refuses ? 2u : 0u);
        set_free(&gl.ids);
        latch_deinit(&l);
    }
}

/* The same against SQLite, with a trigger that refuses some inputs (as PostgreSQL's jsonb
 * refuses 1e-400000): the refused buffered record is kept in inferd_dead_letters. */
static void test_sqlite_dead_letters(void)
{
    store_t *s = open_db("poison.db", NULL);
    CHECK(s != NULL);
    if (!s) return;
    char path[512];
    path_of(path, sizeof path, "poison.db");
    sqlite3 *db;
    CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
    CHECK_EQ(sqlite3_exec(db,
                          "CREATE TRIGGER refuse BEFORE INSERT ON inferences"
                          " WHEN NEW.input LIKE '%POISON%'"
                          " BEGIN SELECT RAISE(ABORT, 'poison value'); END",
                          NULL, NULL, NULL),
             SQLITE_OK);
    latch_t l;
    latch_init(&l);
    store_record_t good = rec("m", "[1]", "2"), bad = rec("m", "[\"POISON\"]", "2"),
                   bad_d = rec("m", "[\"POISON\"]", "3"), good_d = rec("m", "[4]", "5");
    CHECK_EQ(store_submit(s, &good, 1, DUR_BUFFERED, NULL, NULL), 0);
    CHECK_EQ(store_submit(s, &bad, 1, DUR_BUFFERED, NULL, NULL), 0);
    outcome_t ob = {.l = &l}, og = {.l = &l};
    CHECK_EQ(store_submit(s, &bad_d, 1, DUR_DURABLE, outcome_done, &ob), 0);
    CHECK_EQ(store_submit(s, &good_d, 1, DUR_DURABLE, outcome_done, &og), 0);
    latch_wait(&l, 2);
    CHECK_EQ(ob.status, -EBADMSG);
    CHECK(strstr(ob.why, "poison value") != NULL);
    CHECK_EQ(og.status, 0);
    CHECK_EQ(store_close(s), 0);

    sqlite3_stmt *st;
    CHECK_EQ(sqlite3_prepare_v2(db, "SELECT id, model, input, error FROM inferd_dead_letters", -1,
                                &st, NULL),
             SQLITE_OK);
    CHECK_EQ(sqlite3_step(st), SQLITE_ROW);
    CHECK_STR((const char *)sqlite3_column_text(st, 0), bad.id);
    CHECK_STR((const char *)sqlite3_column_text(st, 1), "m");
    CHECK_STR((const char *)sqlite3_column_text(st, 2), "[\"POISON\"]");
    CHECK(strstr((const char *)sqlite3_column_text(st, 3), "poison value") != NULL);
    CHECK_EQ(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    CHECK_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM inferences WHERE id IN (?1, ?2)", -1, &st,
                                NULL),
             SQLITE_OK);
    sqlite3_bind_text(st, 1, good.id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, good_d.id, -1, SQLITE_STATIC);
    CHECK_EQ(sqlite3_step(st), SQLITE_ROW);
    CHECK_EQ(sqlite3_column_int(st, 0), 2);
    sqlite3_finalize(st);
    sqlite3_close(db);
    latch_deinit(&l);
}

/* ==== the database file deleted under a running store ==== */

static void unlink_db(const char *name, const char *suffixes)
{
    char path[600];
    for (const char *sfx = suffixes; *sfx; sfx += strlen(sfx) + 1) {
        snprintf(path, sizeof path, "%s/%s%s", dir, name, strcmp(sfx, "-") == 0 ? "" : sfx);
        CHECK_EQ(unlink(path), 0);
    }
}

static void test_deleted_database(void)
{
    /* Every file gone: nothing can be saved; the store stops acknowledging at once. */
    store_t *s = open_db("gone.db", NULL);
    CHECK(s != NULL);
    if (!s) return;
    latch_t l;
    latch_init(&l);
    store_record_t a = rec("m", "[1]", "1"), b = rec("m", "[2]", "2"), c = rec("m", "[3]", "3");
    CHECK_EQ(store_submit(s, &a, 1, DUR_DURABLE, latch_done, &l), 0);
    latch_wait(&l, 1);
    CHECK_EQ(l.last_status, 0);
    char why[200] = "";
    CHECK(store_healthy(s, why, sizeof why));
    unlink_db("gone.db", "-\0-wal\0-shm\0");
    CHECK_EQ(store_submit(s, &b, 1, DUR_BUFFERED, NULL, NULL), 0);
    CHECK_EQ(store_submit(s, &c, 1, DUR_DURABLE, latch_done, &l), 0);
    latch_wait(&l, 2);
    CHECK_EQ(l.last_status, -ESTALE); /* not acknowledged: the commit went into a deleted file */
    CHECK(!store_healthy(s, why, sizeof why));
    CHECK(strstr(why, "gone.db was deleted or replaced") != NULL);
    store_record_t d = rec("m", "[4]", "4");
    CHECK_EQ(store_submit(s, &d, 1, DUR_BUFFERED, NULL, NULL), -ESTALE);
    CHECK_EQ(store_submit(s, &d, 1, DUR_DURABLE, latch_done, &l), -ESTALE);
    buf_t mb;
    buf_init(&mb);
    CHECK_EQ(metrics_render(&mb), 0);
    CHECK_EQ(buf_append(&mb, "", 1), 0);
    CHECK(strstr(mb.data, "inferd_store_healthy{sink=\"sqlite\"} 0\n") != NULL);
    buf_deinit(&mb);
    /* b was acknowledged before the deletion was seen: its loss is reported at close. */
    CHECK_EQ(store_close(s), 1);

    /* Only the WAL gone: a checkpoint through the open connection saves every acknowledged
     * record into the database file before the store stops. */
    s = open_db("walgone.db", NULL);
    CHECK(s != NULL);
    if (!s) return;
    enum { N = 50 };
    static store_record_t w[N];
    latch_t lw;
    latch_init(&lw);
    for (int i = 0; i < N; i++) {
        w[i] = rec("m", "[1]", "1");
        CHECK_EQ(store_submit(s, &w[i], 1, DUR_DURABLE, latch_done, &lw), 0);
    }
    latch_wait(&lw, N);
    CHECK_EQ(lw.failures, 0);
    unlink_db("walgone.db", "-wal\0");
    store_record_t x = rec("m", "[2]", "2");
    CHECK_EQ(store_submit(s, &x, 1, DUR_DURABLE, latch_done, &lw), 0);
    latch_wait(&lw, N + 1);
    CHECK_EQ(lw.last_status, -ESTALE);
    CHECK(!store_healthy(s, why, sizeof why));
    CHECK(strstr(why, "walgone.db-wal was deleted or replaced") != NULL);
    CHECK_EQ(store_close(s), 0);
    s = open_db("walgone.db", NULL);
    CHECK(s != NULL);
    if (!s) return;
    buf_t gb;
    buf_init(&gb);
    for (int i = 0; i < N; i++) CHECK_EQ(api_record_get_json(s, w[i].id, &gb), 0);
    buf_deinit(&gb);
    CHECK(store_healthy(s, why, sizeof why));
    store_close(s);
    latch_deinit(&l);
    latch_deinit(&lw);

    /* The WAL deleted while the store is idle: the writer's idle check notices within about a
     * second, saves the WAL, and a kill -9 then loses nothing acknowledged. */
    s = open_db("idle.db", NULL);
    CHECK(s != NULL);
    if (!s) return;
    static store_record_t iw[N];
    latch_t li;
    latch_init(&li);
    for (int i = 0; i < N; i++) {
        iw[i] = rec("m", "[1]", "1");
        CHECK_EQ(store_submit(s, &iw[i], 1, DUR_DURABLE, latch_done, &li), 0);
    }
    latch_wait(&li, N);
    CHECK_EQ(li.failures, 0);
    unlink_db("idle.db", "-wal\0");
    bool seen = false;
    for (int i = 0; i < 300 && !seen; i++) {
        seen = !store_healthy(s, why, sizeof why);
        if (!seen) sleep_ms(10);
    }
    CHECK(seen && strstr(why, "idle.db-wal was deleted") != NULL);
    /* No close: what the kill -9 leaves is what counts. A second store on the same file reads
     * it (the first one's connections still hold the old WAL open, harmlessly). */
    char ipath[512];
    path_of(ipath, sizeof ipath, "idle.db");
    sqlite3 *idb;
    CHECK_EQ(sqlite3_open(ipath, &idb), SQLITE_OK);
    sqlite3_stmt *ist;
    CHECK_EQ(sqlite3_prepare_v2(idb, "SELECT count(*) FROM inferences", -1, &ist, NULL), SQLITE_OK);
    CHECK_EQ(sqlite3_step(ist), SQLITE_ROW);
    CHECK_EQ(sqlite3_column_int(ist, 0), N);
    sqlite3_finalize(ist);
    sqlite3_close(idb);
    CHECK_EQ(store_close(s), 0);
    latch_deinit(&li);

    /* What the check costs per commit: two stat() calls. */
    char path[512];
    path_of(path, sizeof path, "walgone.db");
    struct stat sb;
    uint64_t t0 = clock_mono_ns();
    for (int i = 0; i < 10000; i++) {
        stat(path, &sb);
        stat(path, &sb);
    }
    printf("# file check after each commit: %.2f us\n", ms_since(t0) * 1000 / 10000);
}

/* ==== crash: what was acked durable survives kill -9 ==== */

static int ack_fd;

static void ack_to_pipe(void *arg, int status)
{
    store_record_t *r = arg;
    if (status == 0 && write(ack_fd, r->id, 37) != 37) _exit(3);
}

static void test_crash_durability(void)
{
    int fds[2];
    if (pipe(fds) != 0) return;
    pid_t pid = fork();
    if (pid == 0) {
        /* The child submits durable records one after another and reports each ack's id. */
        close(fds[0]);
        ack_fd = fds[1];
        store_t *s = open_db("crash.db", NULL);
        if (!s) _exit(2);
        static store_record_t r[100000];
        for (int i = 0; i < 100000; i++) {
            r[i] = rec("crash", "[1]", "[2]");
            while (store_submit(s, &r[i], 1, DUR_DURABLE, ack_to_pipe, &r[i]) == -EAGAIN)
                sleep_ms(1);
        }
        pause(); /* never exits by itself: only SIGKILL ends it */
        _exit(0);
    }
    close(fds[1]);
    static char acked[2000][37];
    int n = 0;
    while (n < 2000 && read(fds[0], acked[n], 37) == 37) n++;
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    close(fds[0]);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK_EQ(n, 2000);
    store_t *s = open_db("crash.db", NULL);
    CHECK(s != NULL);
    if (!s) return;
    buf_t b;
    buf_init(&b);
    int missing = 0;
    for (int i = 0; i < n; i++)
        if (api_record_get_json(s, acked[i], &b) != 0) missing++;
    CHECK_EQ(missing, 0);
    buf_deinit(&b);
    store_close(s);
}

static void test_open_errors(void)
{
    char err[256] = "", p[512];
    CHECK(store_open("mysql:host=x", NULL, err, sizeof err) == NULL);
    CHECK(strstr(err, "unknown sink") != NULL);
    CHECK(store_open("postgres:host=127.0.0.1 port=1 connect_timeout=2", NULL, err, sizeof err) ==
          NULL);
    CHECK(strstr(err, "postgres") != NULL);
    CHECK(store_open("sqlite:", NULL, err, sizeof err) == NULL);
    CHECK(store_open("sqlite::memory:", NULL, err, sizeof err) == NULL);
    CHECK(store_open("records.db", NULL, err, sizeof err) == NULL);
    snprintf(p, sizeof p, "sqlite:%s/no/such/dir/x.db", dir);
    CHECK(store_open(p, NULL, err, sizeof err) == NULL);
    path_of(p, sizeof p, "not_a_db");
    FILE *f = fopen(p, "w");
    if (f) {
        for (int i = 0; i < 100; i++) fputs("this is not an sqlite database\n", f);
        fclose(f);
    }
    char uri[600];
    snprintf(uri, sizeof uri, "sqlite:%s", p);
    err[0] = 0;
    CHECK(store_open(uri, NULL, err, sizeof err) == NULL);
    CHECK(err[0] != 0);
    store_opts_t o = {.batch_max_records = -1};
    snprintf(uri, sizeof uri, "sqlite:%s/x.db", dir);
    CHECK(store_open(uri, &o, err, sizeof err) == NULL);
    CHECK_EQ(durability_parse("durable"), DUR_DURABLE);
    CHECK_EQ(durability_parse("buffered"), DUR_BUFFERED);
    CHECK_EQ(durability_parse("off"), DUR_OFF);
    CHECK_EQ(durability_parse("sync"), -1);
    CHECK_STR(durability_name(DUR_BUFFERED), "buffered");
}

/* The null sink: the queue and callbacks work, nothing is kept, and a commit takes its delay. */
static void test_null_sink(void)
{
    char err[256] = "";
    store_t *s = store_open("null:", NULL, err, sizeof err);
    CHECK(s != NULL);
    if (!s) return;
    latch_t w;
    latch_init(&w);
    store_record_t r = {.model = "m", .input_json = "[1]", .latency_ms = 1};
    CHECK_EQ(store_submit(s, &r, 1, DUR_DURABLE, latch_done, &w), 0);
    latch_wait(&w, 1);
    CHECK_EQ(w.failures, 0);
    CHECK(uuid7_valid(r.id));
    buf_t b;
    buf_init(&b);
    CHECK_EQ(api_record_get_json(s, r.id, &b), -ENOENT);
    CHECK_EQ(list_json(s, NULL, 0, 0, 10, NULL, &b, err, sizeof err), 0);
    CHECK_EQ(buf_append(&b, "", 1), 0);
    CHECK(strstr(b.data, "\"records\":[]") != NULL);
    buf_deinit(&b);
    store_stats_t st;
    store_stats(s, &st);
    CHECK_EQ(st.records_written, 1);
    store_close(s);

    latch_deinit(&w);
    s = store_open("null:20000", NULL, err, sizeof err);
    CHECK(s != NULL);
    if (!s) return;
    latch_init(&w);
    uint64_t t0 = clock_mono_ns();
    CHECK_EQ(store_submit(s, &r, 1, DUR_DURABLE, latch_done, &w), 0);
    latch_wait(&w, 1);
    CHECK_EQ(w.failures, 0);
    CHECK(ms_since(t0) >= 20.0); /* the acknowledgement waits for the commit's delay */
    store_close(s);
    latch_deinit(&w);
    for (const char *bad = "null:x\0null:-1\0null:1000001\0null:5us\0null:?foo\0null:5?refuse=\0";
         *bad; bad += strlen(bad) + 1) {
        err[0] = 0;
        CHECK(store_open(bad, NULL, err, sizeof err) == NULL);
        CHECK(strstr(err, "MICROSECONDS") != NULL);
    }
}

/* Ids continue after the newest stored one: a database holding an id from 5 s in the future (a
 * clock that went back between runs) gets new ids above it, so pages stay in commit order. Runs
 * last: it moves the process-wide id clock ahead. */
static void test_ids_continue_after_newest(void)
{
    store_t *s = open_db("floor.db", NULL);
    CHECK(s != NULL);
    if (!s) return;
    store_record_t r = rec("m", "[1]", "{}");
    latch_t l;
    latch_init(&l);
    CHECK_EQ(store_submit(s, &r, 1, DUR_DURABLE, latch_done, &l), 0);
    latch_wait(&l, 1);
    store_close(s);

    int64_t ms = (int64_t)(clock_wall_ns() / 1000000) + 5000;
    char future[UUID_STRLEN + 1], path[512];
    uuid7_ms_prefix(future, ms);
    strcat(future, "-7abc-8def-0123456789ab"); /* counter 0xabc << 14 | 0xdef */
    CHECK(uuid7_valid(future));
    path_of(path, sizeof path, "floor.db");
    sqlite3 *db = NULL;
    CHECK_EQ(sqlite3_open(path, &db), SQLITE_OK);
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO inferences (id, ts_us, model, latency_ms) VALUES ('%s', %lld, 'm', 0)",
             future, (long long)ms * 1000);
    CHECK_EQ(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    s = open_db("floor.db", NULL);
    CHECK(s != NULL);
    if (!s) return;
    store_record_t r2[2] = {rec("m", "[2]", "{}"), rec("m", "[3]", "{}")};
    CHECK_EQ(store_submit(s, r2, 2, DUR_DURABLE, latch_done, &l), 0);
    latch_wait(&l, 2);
    CHECK_EQ(l.failures, 0);
    CHECK(strcmp(r2[0].id, future) > 0 && strcmp(r2[1].id, r2[0].id) > 0);
    CHECK_EQ(uuid7_ms(r2[0].id), ms); /* held at the newest id's millisecond ... */
    CHECK(strncmp(r2[0].id + 14, "7abc-8df0", 9) == 0); /* ... counting on from its counter */
    char err[256];
    buf_t b;
    buf_init(&b);
    CHECK_EQ(list_json(s, "m", 0, 0, 10, NULL, &b, err, sizeof err), 0);
    CHECK_EQ(buf_append(&b, "", 1), 0);
    const char *p1 = strstr(b.data, r.id), *pf = strstr(b.data, future),
               *p2 = strstr(b.data, r2[0].id), *p3 = strstr(b.data, r2[1].id);
    CHECK(p1 && pf && p2 && p3 && p1 < pf && pf < p2 && p2 < p3);
    buf_deinit(&b);
    store_close(s);
    latch_deinit(&l);
    /* An older id than the generator's own moves nothing. */
    char now_id[UUID_STRLEN + 1], next[UUID_STRLEN + 1];
    uuid7_next(now_id, (int64_t)(clock_wall_ns() / 1000));
    CHECK_EQ(uuid7_floor(r.id, (int64_t)(clock_wall_ns() / 1000)), 0);
    uuid7_next(next, (int64_t)(clock_wall_ns() / 1000));
    CHECK(strcmp(next, now_id) > 0);
}

static void test_metrics(void)
{
    buf_t b;
    buf_init(&b);
    CHECK_EQ(metrics_render(&b), 0);
    CHECK_EQ(buf_append(&b, "", 1), 0);
    const char *m = b.data;
    CHECK(strstr(m, "inferd_store_queue_depth{sink=\"sqlite\"} 0\n") != NULL);
    CHECK(strstr(m, "# TYPE inferd_store_commit_batch_records histogram\n") != NULL);
    CHECK(strstr(m, "inferd_store_commit_batch_records_bucket{sink=\"sqlite\",le=\"1\"}") != NULL);
    CHECK(strstr(m, "inferd_store_commit_seconds_count{sink=\"sqlite\"}") != NULL);
    CHECK(strstr(m, "inferd_store_records_written_total{sink=\"sqlite\"}") != NULL);
    CHECK(strstr(m, "inferd_store_commit_errors_total{sink=\"sqlite\"}") != NULL);
    CHECK(strstr(m, "inferd_store_buffered_window_seconds{sink=\"sqlite\"}") != NULL);
    buf_deinit(&b);
}

static void rm_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(path);
}

/* ==== journal mode ==== */

static store_t *open_journaled(const char *name, store_opts_t *o)
{
    static char jdir[600];
    snprintf(jdir, sizeof jdir, "%s/%s.journal", dir, name);
    o->journal_dir = jdir;
    o->journal_segment_bytes = 256 << 10; /* many segments */
    return open_db(name, o);
}

/* Waits (up to 5 s) until the applier has applied LSN lsn; *st holds the stats seen last. */
static void wait_applied(store_t *s, uint64_t lsn, store_stats_t *st)
{
    uint64_t t0 = clock_mono_ns();
    store_stats(s, st);
    while (st->applied_lsn < lsn && ms_since(t0) < 5000) {
        sleep_ms(1);
        store_stats(s, st);
    }
}

/* Rows of the inferences table, read with plain SQL: every id exactly once? */
static int sql_count(const char *name, const char *sql)
{
    char path[512];
    path_of(path, sizeof path, name);
    sqlite3 *db;
    if (sqlite3_open(path, &db) != SQLITE_OK) return -1;
    sqlite3_stmt *st;
    int n = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Durable acks come from the journal; the applier brings every record to SQLite exactly once;
 * reads see records journaled but not applied yet; committed waits for the sink; the applied
 * LSN is in the database. */
static void test_journal_mode(const char *db, size_t feed)
{
    store_opts_t o = {.journal_feed_bytes = feed};
    store_t *s = open_journaled(db, &o);
    CHECK(s != NULL);
    if (!s) return;
    latch_t l;
    latch_init(&l);
    static store_record_t r[3000];
    for (int i = 0; i < 3000; i++) {
        r[i] = rec(i % 2 ? "ja" : "jb", "[1]", "[2]");
        CHECK_EQ(
            store_submit(s, &r[i], 1, i % 3 == 0 ? DUR_COMMITTED : DUR_DURABLE, latch_done, &l), 0);
        /* One append per record at first (small: they fit in a 40 kB feed), then a burst
         * (appends of hundreds: they do not). */
        if (feed == 40000 && i < 150) latch_wait(&l, i + 1);
    }
    latch_wait(&l, 3000);
    CHECK_EQ(l.failures, 0);
    /* Every acked record is readable at once, applied or not. */
    buf_t b;
    buf_init(&b);
    int missing = 0;
    for (int i = 0; i < 3000; i += 7)
        if (api_record_get_json(s, r[i].id, &b)) missing++;
    CHECK_EQ(missing, 0);
    buf_deinit(&b);
    CHECK_EQ(count_all(s), 3000);
    static char ids[3000][37];
    CHECK_EQ(list_all(s, "ja", 0, 0, 100, ids, 3000), 1500);
    store_stats_t st;
    wait_applied(s, 3000, &st);
    CHECK_EQ(st.journal_next_lsn, 3001);
    if (feed == 1) CHECK_EQ(st.journal_rereads, 3000); /* no append fits in the feed */
    if (feed == 0) CHECK_EQ(st.journal_rereads, 0);    /* every one does */
    if (feed == 40000) CHECK(st.journal_rereads > 0 && st.journal_rereads < 3000);
    /* A submission must fit in one segment (256 KiB here): larger is 413, nothing journaled. */
    static char big[300000];
    memset(big, '7', sizeof big - 1);
    store_record_t huge = rec("ja", big, "[0]");
    CHECK_EQ(store_submit(s, &huge, 1, DUR_DURABLE, latch_done, &l), -EMSGSIZE);
    CHECK_EQ(store_close(s), 0);
    /* After close everything is applied, once, and the LSN recorded with it. */
    CHECK_EQ(sql_count(db, "SELECT count(*) FROM inferences"), 3000);
    CHECK_EQ(sql_count(db, "SELECT count(DISTINCT id) FROM inferences"), 3000);
    CHECK_EQ(sql_count(db, "SELECT applied_lsn FROM inferd_journal"), 3000);
    /* Reopen: nothing to apply again; new records continue the LSNs and the ids. */
    s = open_journaled(db, &o);
    CHECK(s != NULL);
    if (!s) return;
    store_record_t x = rec("ja", "[3]", "[4]");
    latch_init(&l);
    CHECK_EQ(store_submit(s, &x, 1, DUR_COMMITTED, latch_done, &l), 0);
    latch_wait(&l, 1);
    CHECK_EQ(l.failures, 0);
    CHECK(strcmp(x.id, r[2999].id) > 0);
    store_stats(s, &st);
    CHECK_EQ(st.applied_lsn, 3001); /* committed: applied before the answer */
    CHECK_EQ(store_close(s), 0);
    CHECK_EQ(sql_count(db, "SELECT count(*) FROM inferences"), 3001);
    latch_deinit(&l);
}

/* The applier commits in large batches: durable records journaled in a burst reach SQLite in a
 * few transactions, from the feed (a regression once made every apply one record long, and
 * only the commit count showed it). */
static void test_journal_apply_batches(void)
{
    store_opts_t o = {0};
    store_t *s = open_journaled("jb.db", &o);
    CHECK(s != NULL);
    if (!s) return;
    latch_t l;
    latch_init(&l);
    static store_record_t r[2000];
    for (int i = 0; i < 2000; i++) {
        r[i] = rec("jb", "[1]", "[2]");
        CHECK_EQ(store_submit(s, &r[i], 1, DUR_DURABLE, latch_done, &l), 0);
    }
    latch_wait(&l, 2000);
    store_stats_t st;
    wait_applied(s, 2000, &st);
    CHECK_EQ(st.applied_lsn, 2000);
    CHECK(st.commits <= 20);
    CHECK_EQ(st.journal_rereads, 0);
    CHECK_EQ(store_close(s), 0);
    CHECK_EQ(sql_count("jb.db", "SELECT count(DISTINCT id) FROM inferences"), 2000);
    latch_deinit(&l);
}

/* A lost journal directory is replaced by a new journal (a new identity, LSNs from 1); a journal
 * restored from a backup, behind what the database has applied from it, is refused. */
static void test_journal_mismatch(void)
{
    store_opts_t o = {0};
    store_t *s = open_journaled("jx.db", &o);
    CHECK(s != NULL);
    if (!s) return;
    latch_t l;
    latch_init(&l);
    store_record_t x = rec("m", "[1]", "[1]");
    CHECK_EQ(store_submit(s, &x, 1, DUR_DURABLE, latch_done, &l), 0);
    latch_wait(&l, 1);
    store_close(s);
    char cmd[1600];
    /* A backup of the journal now, then more records. */
    snprintf(cmd, sizeof cmd, "cp -a '%s/jx.db.journal' '%s/jx-backup'", dir, dir);
    CHECK_EQ(system(cmd), 0);
    s = open_journaled("jx.db", &o);
    CHECK(s != NULL);
    if (!s) return;
    store_record_t y[3] = {rec("m", "[2]", "[2]"), rec("m", "[3]", "[3]"), rec("m", "[4]", "[4]")};
    CHECK_EQ(store_submit(s, y, 3, DUR_COMMITTED, latch_done, &l), 0);
    latch_wait(&l, 2);
    store_close(s);
    /* The backup restored: the database has applied LSN 4 of it, the journal ends at 1. */
    snprintf(cmd, sizeof cmd,
             "rm -rf '%s/jx.db.journal' && cp -a '%s/jx-backup' '%s/jx.db.journal'", dir, dir, dir);
    CHECK_EQ(system(cmd), 0);
    char uri[600], err[512] = "";
    snprintf(uri, sizeof uri, "sqlite:%s/jx.db", dir);
    s = store_open(uri, &o, err, sizeof err);
    CHECK(s == NULL);
    CHECK(strstr(err, "older than the database") != NULL);
    store_close(s);
    /* The journal directory gone: a new journal, a second row in inferd_journal. */
    snprintf(cmd, sizeof cmd, "rm -rf '%s/jx.db.journal'", dir);
    CHECK_EQ(system(cmd), 0);
    s = open_journaled("jx.db", &o);
    CHECK(s != NULL);
    if (s) {
        store_record_t z = rec("m", "[5]", "[5]");
        CHECK_EQ(store_submit(s, &z, 1, DUR_COMMITTED, latch_done, &l), 0);
        latch_wait(&l, 3);
        store_stats_t st;
        store_stats(s, &st);
        CHECK_EQ(st.journal_next_lsn, 2);
        CHECK_EQ(l.failures, 0);
        store_close(s);
    }
    CHECK_EQ(sql_count("jx.db", "SELECT count(*) FROM inferd_journal"), 2);
    CHECK_EQ(sql_count("jx.db", "SELECT count(*) FROM inferences"), 5);
    latch_deinit(&l);
}

/* kill -9 while appending in journal mode, several rounds on one database: every acknowledged
 * record is in SQLite after a restart, exactly once. */
static void test_journal_crash(void)
{
    static char acked[6][2000][37];
    int total = 0;
    for (int round = 0; round < 6; round++) {
        int fds[2];
        if (pipe(fds) != 0) return;
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            ack_fd = fds[1];
            store_opts_t o = {0};
            store_t *s = open_journaled("jcrash.db", &o);
            if (!s) _exit(2);
            static store_record_t r[100000];
            for (int i = 0; i < 100000; i++) {
                r[i] = rec("crash", "[1]", "[2]");
                while (store_submit(s, &r[i], 1, DUR_DURABLE, ack_to_pipe, &r[i]) == -EAGAIN)
                    sleep_ms(1);
            }
            pause();
            _exit(0);
        }
        close(fds[1]);
        int n = 0, want = 300 + 300 * round;
        while (n < want && read(fds[0], acked[round][n], 37) == 37) n++;
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        close(fds[0]);
        CHECK(WIFSIGNALED(status));
        CHECK_EQ(n, want);
        total += n;
        /* Recover (and apply) in this process, check, close: the next round adds to it. */
        store_opts_t o = {0};
        store_t *s = open_journaled("jcrash.db", &o);
        CHECK(s != NULL);
        if (!s) return;
        buf_t b;
        buf_init(&b);
        int missing = 0;
        for (int k = 0; k <= round; k++)
            for (int i = 0; i < (k == round ? n : 300 + 300 * k); i++)
                if (api_record_get_json(s, acked[k][i], &b) != 0) missing++;
        CHECK_EQ(missing, 0);
        buf_deinit(&b);
        CHECK_EQ(store_close(s), 0);
        CHECK_EQ(sql_count("jcrash.db", "SELECT count(*) - count(DISTINCT id) FROM inferences"), 0);
    }
    CHECK(sql_count("jcrash.db", "SELECT count(*) FROM inferences") >= total);
}

/* ==== table rows ==== */

/* The journal's row encoding: a prediction round-trips through it, the bytes are the format the
 * journal used before tables had a schema (written out here by hand from its description), and
 * truncations and nulls where the schema forbids them are refused. */
static void test_table_rows(void)
{
    static const unsigned char old[] =
        "\x01"                                 /* format */
        "01a24ec6-5ba9-76d8-a135-6ccfc2921f00" /* id */
        "\x00\xa0\xab\xc9\x0b\x01\x06\x00"     /* ts_us 1690000000000000, little-endian */
        "\x00\x00\x00\x00\x00\x00\xf4\x3f"     /* latency_ms 1.25 */
        "\x02\x00\x00\x00m1"                   /* model */
        "\x01\x00\x00\x00"
        "7"                   /* version */
        "\xff\xff\xff\xff"    /* request_id: null */
        "\x03\x00\x00\x00[1]" /* input */
        "\x02\x00\x00\x00{}"; /* output */
    size_t n = sizeof old - 1;
    char scratch[256];
    store_record_t r;
    CHECK_EQ(predictions_decode(old, n, &r, scratch), 0);
    CHECK_STR(r.id, "01a24ec6-5ba9-76d8-a135-6ccfc2921f00");
    CHECK_EQ(r.ts_us, INT64_C(1690000000000000));
    CHECK(r.latency_ms == 1.25);
    CHECK_STR(r.model, "m1");
    CHECK_STR(r.version, "7");
    CHECK(r.request_id == NULL);
    CHECK(r.input_len == 3 && memcmp(r.input_json, "[1]", 3) == 0);
    CHECK(r.output_len == 2 && memcmp(r.output_json, "{}", 2) == 0);
    unsigned char again[256];
    CHECK_EQ(predictions_size(&r), n);
    CHECK_EQ(predictions_encode(&r, again), n);
    CHECK(memcmp(again, old, n) == 0);
    for (size_t k = 0; k < n; k++) /* every truncation is refused */
        CHECK_EQ(predictions_decode(old, k, &r, scratch), -EBADMSG);
    unsigned char bad[256];
    memcpy(bad, old, n);
    memcpy(bad + 1 + 36 + 16, "\xff\xff\xff\xff", 4); /* a null model */
    CHECK_EQ(predictions_decode(bad, n - 2, &r, scratch), -EBADMSG);
    CHECK(store_table_by_id(1) == &store_table_predictions);
    CHECK(store_table_by_id(0) == NULL && store_table_by_id(999) == NULL);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/inferd_store_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_uuid7();
    test_open_errors();
    test_durable_concurrent();
    test_buffered_window();
    test_queue_full();
    test_close_flush_reopen();
    test_list_filters();
    test_bulk_and_reentry();
    test_commit_errors();
    test_health_recovers_when_idle();
    test_poison_isolation();
    test_sqlite_dead_letters();
    test_deleted_database();
    test_crash_durability();
    test_null_sink();
    test_metrics();
    test_ids_continue_after_newest();
    /* The applier reads from the in-memory feed (default), from the journal only (a feed too
     * small for any append), and from both in turn (room for some appends: gaps). */
    test_journal_mode("jm.db", 0);
    test_journal_mode("jm1.db", 1);
    test_journal_mode("jm2.db", 40000);
    test_journal_apply_batches();
    test_journal_mismatch();
    test_journal_crash();
    test_table_rows();
    rm_dir(dir);
    metrics_free_all();
    return TH_DONE();
}
