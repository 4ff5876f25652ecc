/* Unit tests for the generic store: a table other than predictions, described only by its
 * schema, goes through the same queue, journal, applier and sinks. Rows of both tables are
 * submitted interleaved (without a journal, with one, and across a kill -9 of a journaled
 * process) and read back with SQLite's own API, value by value.
 *
 * "test_store_tables postgres:CONNINFO" runs the same submissions against PostgreSQL (without
 * and with a journal) and prints what was acknowledged, one line per row ("M <i> <id> <at_us>"
 * for a row of test_measurements made from i, "P <id>" for a prediction), for
 * tests/integration/test_postgres.py to compare with what psql reads. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/predictions.h"
#include "store/store.h"
#include "th.h"

static const store_column_t meas_cols[] = {
    {"id", ST_UUID, false},       {"at", ST_TIME, false},      {"sensor", ST_TEXT, false},
    {"value", ST_FLOAT64, false}, {"n", ST_INT64, true},       {"note", ST_TEXT, true},
    {"doc", ST_JSON, true},       {"ratio", ST_FLOAT64, true},
};
#define MEAS_NCOLS ((int)(sizeof meas_cols / sizeof meas_cols[0]))
static const store_table_t meas = {200, "test_measurements", MEAS_NCOLS, meas_cols, 1, NULL};
static const store_table_t *const extra[] = {&meas};
/* A table no store below is opened with. */
static const store_table_t stranger = {201, "test_strangers", 1, meas_cols, -1, NULL};

#define ROWS 400 /* of each table, per run */

static char dir[256];

/* Row i of test_measurements: nulls, non-ASCII text, quotes, big integers, JSON. The same
 * formulas are in tests/integration/test_postgres.py. */
typedef struct mrow {
    char id[37];
    char sensor[32], note[40], doc[32];
    store_value_t v[MEAS_NCOLS];
} mrow_t;

static void make_row(int i, mrow_t *r)
{
    snprintf(r->sensor, sizeof r->sensor, "s%d-\xc3\xbc\xe2\x82\xac", i % 7);
    snprintf(r->note, sizeof r->note, "note \"%d\",\ttab", i);
    snprintf(r->doc, sizeof r->doc, "{\"i\": %d}", i);
    r->v[0] = (store_value_t){.s = r->id};
    r->v[2] = (store_value_t){.s = r->sensor, .len = strlen(r->sensor)};
    r->v[3] = (store_value_t){.f = i * 0.5 - 3};
    r->v[4] =
        i % 3 == 0 ? (store_value_t){.null = true} : (store_value_t){.i = i * INT64_C(1000000007)};
    r->v[5] = i % 2 ? (store_value_t){0} : (store_value_t){.s = r->note, .len = strlen(r->note)};
    r->v[6] = i % 4 ? (store_value_t){.s = r->doc, .len = strlen(r->doc)} : (store_value_t){0};
    r->v[7] = i % 5 ? (store_value_t){.null = true} : (store_value_t){.f = i / 7.0};
}

/* ==== waiting for acks ==== */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int acks, failures;

static void on_done(void *arg, int status)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    acks++;
    if (status) failures++;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
}

static void wait_acks(int n)
{
    pthread_mutex_lock(&mu);
    while (acks < n) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
}

/* ==== submitting ==== */

typedef struct run {
    mrow_t m[ROWS];
    store_record_t p[ROWS];
    FILE *report; /* each acked row as a line, or NULL */
} run_t;

/* Submits ROWS rows of each table durably, interleaved: one prediction, then one to three
 * measurement rows in one submission, so writer batches and journal appends mix the tables and
 * cut between them. Returns submissions made (each one ack). */
static int submit_mixed(store_t *s, run_t *r)
{
    int subs = 0;
    for (int i = 0, k = 0; i < ROWS || k < ROWS;) {
        if (k < ROWS) {
            r->p[k] = (store_record_t){
                .model = "tables", .input_json = "[1]", .output_json = "[2]", .latency_ms = 0.5};
            CHECK_EQ(store_submit(s, &r->p[k], 1, DUR_DURABLE, on_done, NULL), 0);
            k++, subs++;
        }
        int n = 1 + i % 3;
        if (n > ROWS - i) n = ROWS - i;
        if (n <= 0) continue;
        store_value_t rows[3 * MEAS_NCOLS];
        for (int j = 0; j < n; j++) {
            make_row(i + j, &r->m[i + j]);
            memcpy(&rows[j * MEAS_NCOLS], r->m[i + j].v, sizeof r->m[i + j].v);
        }
        int rc;
        while ((rc = store_submit_rows(s, &meas, rows, n, DUR_DURABLE, on_done, NULL)) == -EAGAIN)
            usleep(1000);
        CHECK_EQ(rc, 0);
        for (int j = 0; j < n; j++) /* the store set the time column in the caller's rows */
            r->m[i + j].v[1] = rows[j * MEAS_NCOLS + 1];
        i += n, subs++;
    }
    return subs;
}

static void report(const run_t *r)
{
    if (!r->report) return;
    for (int i = 0; i < ROWS; i++)
        fprintf(r->report, "M %d %s %lld\nP %s\n", i, r->m[i].id, (long long)r->m[i].v[1].i,
                r->p[i].id);
    fflush(r->report);
}

/* ==== checking in SQLite ==== */

static bool text_eq(const unsigned char *got, const store_value_t *want)
{
    if (!want->s) return got == NULL;
    return got && strlen((const char *)got) == want->len && !memcmp(got, want->s, want->len);
}

/* Every row of r is in the database once with its values, and every prediction too. */
static void check_sqlite(const char *path, const run_t *r)
{
    sqlite3 *db = NULL;
    CHECK_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK_EQ(sqlite3_prepare_v2(db,
                                "SELECT at_us, sensor, value, n, note, doc, ratio, "
                                "(SELECT count(*) FROM test_measurements WHERE id = ?1) "
                                "FROM test_measurements WHERE id = ?1",
                                -1, &st, NULL),
             SQLITE_OK);
    int bad = 0;
    for (int i = 0; i < ROWS && st; i++) {
        const store_value_t *v = r->m[i].v;
        sqlite3_bind_text(st, 1, r->m[i].id, -1, SQLITE_STATIC);
        bool ok = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 7) == 1 &&
                  sqlite3_column_int64(st, 0) == v[1].i &&
                  text_eq(sqlite3_column_text(st, 1), &v[2]) &&
                  sqlite3_column_double(st, 2) == v[3].f &&
                  (v[4].null ? sqlite3_column_type(st, 3) == SQLITE_NULL
                             : sqlite3_column_int64(st, 3) == v[4].i) &&
                  text_eq(sqlite3_column_text(st, 4), &v[5]) &&
                  text_eq(sqlite3_column_text(st, 5), &v[6]) &&
                  (v[7].null ? sqlite3_column_type(st, 6) == SQLITE_NULL
                             : sqlite3_column_double(st, 6) == v[7].f);
        if (!ok && bad++ < 3) fprintf(stderr, "row %d (%s) differs or is missing\n", i, r->m[i].id);
        sqlite3_reset(st);
    }
    CHECK_EQ(bad, 0);
    sqlite3_finalize(st);
    st = NULL;
    CHECK_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM inferences WHERE id = ?1", -1, &st, NULL),
             SQLITE_OK);
    int missing = 0;
    for (int i = 0; i < ROWS && st; i++) {
        sqlite3_bind_text(st, 1, r->p[i].id, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int(st, 0) != 1) missing++;
        sqlite3_reset(st);
    }
    CHECK_EQ(missing, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* ==== the tests ==== */

/* The unix milliseconds in a UUIDv7's first 48 bits. */
static int64_t id_ms(const char *id)
{
    char hex[13];
    memcpy(hex, id, 8);
    memcpy(hex + 8, id + 9, 4);
    hex[12] = 0;
    return (int64_t)strtoll(hex, NULL, 16);
}

static store_t *open_store(const char *uri, const char *journal, int flush_ms, int batch)
{
    char jdir[400], err[512] = "";
    snprintf(jdir, sizeof jdir, "%s/%s", dir, journal ? journal : "");
    store_opts_t o = {.tables = extra,
                      .ntables = 1,
                      .journal_dir = journal ? jdir : NULL,
                      .flush_interval_ms = flush_ms,
                      .batch_max_records = batch};
    store_t *s = store_open(uri, &o, err, sizeof err);
    if (!s) fprintf(stderr, "store_open(%s): %s\n", uri, err);
    return s;
}

/* Rows of both tables, without and with a journal: acked, then each value read back. */
static void test_mixed(const char *uri, const char *journal, const char *db_path, FILE *out)
{
    store_t *s = open_store(uri, journal, 0, 0);
    CHECK(s != NULL);
    if (!s) return;
    static run_t r;
    memset(&r, 0, sizeof r);
    r.report = out;
    acks = failures = 0;
    wait_acks(submit_mixed(s, &r));
    CHECK_EQ(failures, 0);
    int off = 0; /* the time column holds the id's time: the same millisecond */
    for (int i = 0; i < ROWS; i++) off += r.m[i].v[1].i / 1000 != id_ms(r.m[i].id);
    CHECK_EQ(off, 0);
    CHECK_EQ(store_close(s), 0);
    report(&r);
    if (db_path) check_sqlite(db_path, &r);
}

/* What store_submit_rows refuses, and tables store_open refuses. */
static void test_refusals(const char *uri)
{
    store_t *s = open_store(uri, NULL, 0, 0);
    CHECK(s != NULL);
    if (!s) return;
    mrow_t m;
    make_row(1, &m);
    m.v[2].s = NULL; /* sensor is NOT NULL */
    CHECK_EQ(store_submit_rows(s, &meas, m.v, 1, DUR_DURABLE, NULL, NULL), -EINVAL);
    make_row(1, &m);
    m.v[3].f = NAN;
    CHECK_EQ(store_submit_rows(s, &meas, m.v, 1, DUR_DURABLE, NULL, NULL), -EINVAL);
    make_row(1, &m);
    m.v[0].s = NULL; /* nowhere to put the id */
    CHECK_EQ(store_submit_rows(s, &meas, m.v, 1, DUR_DURABLE, NULL, NULL), -EINVAL);
    make_row(1, &m);
    CHECK_EQ(store_submit_rows(s, &stranger, m.v, 1, DUR_DURABLE, NULL, NULL), -EINVAL);
    acks = failures = 0;
    CHECK_EQ(store_submit_rows(s, &meas, m.v, 1, DUR_OFF, on_done, NULL), 0);
    CHECK_EQ(acks, 1);
    CHECK_EQ(strlen(m.id), 36);
    CHECK(m.v[1].i > 0);
    store_close(s);

    static const store_column_t bad_cols[] = {{"id", ST_UUID, false}, {"Bad-Name", ST_TEXT, true}};
    const store_table_t bad = {202, "test_bad", 2, bad_cols, -1, NULL};
    const store_table_t dup = {1, "test_dup", 1, meas_cols, -1, NULL};
    const store_table_t no_id = {203, "test_no_id", 1, meas_cols + 2, -1, NULL};
    const store_table_t *const cases[] = {&bad, &dup, &no_id};
    const char *says[] = {"Bad-Name", "share an id", "ST_UUID"};
    for (int k = 0; k < 3; k++) {
        char err[256] = "";
        store_opts_t o = {.tables = &cases[k], .ntables = 1};
        store_t *x = store_open(uri, &o, err, sizeof err);
        CHECK(x == NULL);
        if (x) store_close(x);
        if (!strstr(err, says[k])) fprintf(stderr, "case %d: %s\n", k, err);
        CHECK(strstr(err, says[k]) != NULL);
    }
}

/* A journaled process acks mixed rows and is killed with -9 before applying any (a long apply
 * window): the next open applies them from the journal, each to its own table, once. */
static void test_crash_replay(void)
{
    char uri[400], path[300];
    snprintf(path, sizeof path, "%s/crash.db", dir);
    snprintf(uri, sizeof uri, "sqlite:%s", path);
    static run_t r;
    memset(&r, 0, sizeof r);
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        store_t *s = open_store(uri, "crash.journal", 600000, 0);
        if (!s) _exit(2);
        acks = 0;
        wait_acks(submit_mixed(s, &r));
        if (write(fds[1], &r, sizeof r) != (ssize_t)sizeof r) _exit(3);
        pause(); /* only SIGKILL ends it */
        _exit(0);
    }
    close(fds[1]);
    size_t got = 0;
    for (ssize_t n; got < sizeof r && (n = read(fds[0], (char *)&r + got, sizeof r - got)) > 0;)
        got += (size_t)n;
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    close(fds[0]);
    CHECK_EQ(got, sizeof r);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* The child's pointers mean nothing here: the values are rebuilt from i. */
    for (int i = 0; i < ROWS; i++) {
        int64_t at = r.m[i].v[1].i;
        make_row(i, &r.m[i]);
        r.m[i].v[1].i = at;
    }
    /* Nothing was applied before the kill. */
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    CHECK_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CHECK_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM test_measurements", -1, &st, NULL),
             SQLITE_OK);
    CHECK(st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    store_t *s = open_store(uri, "crash.journal", 0, 0);
    CHECK(s != NULL);
    if (s) CHECK_EQ(store_close(s), 0);
    check_sqlite(path, &r);
}

/* Journals 4 requests of 3 rows and one of 20 in a process killed before applying any, then
 * applies them with batches of 4 rows: a request's rows never straddle two transactions, so
 * the batches are 3+3, 3+3 and the 20 alone (3 commits, where 4-row cuts would take 8). */
static void test_apply_keeps_requests_whole(void)
{
    char uri[400], path[300];
    snprintf(path, sizeof path, "%s/groups.db", dir);
    snprintf(uri, sizeof uri, "sqlite:%s", path);
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        store_t *s = open_store(uri, "groups.journal", 600000, 0);
        if (!s) _exit(2);
        static mrow_t m[32];
        store_value_t rows[20 * MEAS_NCOLS];
        acks = 0;
        for (int g = 0, i = 0; g < 5; g++) {
            int n = g < 4 ? 3 : 20;
            for (int j = 0; j < n; j++, i++) {
                make_row(i, &m[i]);
                memcpy(&rows[j * MEAS_NCOLS], m[i].v, sizeof m[i].v);
            }
            if (store_submit_rows(s, &meas, rows, n, DUR_DURABLE, on_done, NULL)) _exit(3);
        }
        wait_acks(5);
        if (write(fds[1], "k", 1) != 1) _exit(4);
        pause(); /* only SIGKILL ends it */
        _exit(0);
    }
    close(fds[1]);
    char c = 0;
    CHECK_EQ(read(fds[0], &c, 1), 1);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(fds[0]);
    store_t *s = open_store(uri, "groups.journal", 1, 4);
    CHECK(s != NULL);
    if (!s) return;
    store_stats_t st = {0};
    for (int i = 0; i < 500; i++) {
        store_stats(s, &st);
        if (st.applied_lsn == 32) break;
        usleep(10000);
    }
    CHECK_EQ(st.applied_lsn, 32);
    CHECK_EQ(st.commits, 3);
    CHECK_EQ(st.journal_rereads, 32);
    CHECK_EQ(store_close(s), 0);
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    CHECK_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    CHECK_EQ(
        sqlite3_prepare_v2(db, "SELECT count(DISTINCT id) FROM test_measurements", -1, &q, NULL),
        SQLITE_OK);
    CHECK(q && sqlite3_step(q) == SQLITE_ROW && sqlite3_column_int(q, 0) == 32);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

static void rm_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char p[600];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (e->d_type == DT_DIR)
            rm_dir(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(path);
}

int main(int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/inferd_tables_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (argc == 2 && !strncmp(argv[1], "postgres:", 9)) {
        test_refusals(argv[1]);
        test_mixed(argv[1], NULL, NULL, stdout);
        test_mixed(argv[1], "pg.journal", NULL, stdout);
    } else {
        char uri[400], path[300];
        snprintf(path, sizeof path, "%s/direct.db", dir);
        snprintf(uri, sizeof uri, "sqlite:%s", path);
        test_refusals(uri);
        test_mixed(uri, NULL, path, NULL);
        snprintf(path, sizeof path, "%s/journal.db", dir);
        snprintf(uri, sizeof uri, "sqlite:%s", path);
        test_mixed(uri, "journal.db.journal", path, NULL);
        test_crash_replay();
        test_apply_keeps_requests_whole();
    }
    rm_dir(dir);
    /* Results go to stderr in postgres mode: stdout carries the acknowledged rows. */
    fprintf(argc == 2 ? stderr : stdout, "%d passed, %d failed\n", th_passed, th_failed);
    return th_failed ? 1 : 0;
}
