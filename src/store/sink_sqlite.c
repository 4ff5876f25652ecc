/* SQLite sink ("sqlite:PATH"): one write connection used only by the store's writer thread, in WAL
 * mode with synchronous=FULL so that COMMIT returns after the log is on disk, and a small pool of
 * read-only connections for get/list. In WAL mode readers see the last committed snapshot and
 * neither wait for the writer nor make it wait. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/predictions.h"
#include "store/sink.h"
#include "store/uuid7.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"

/* Versioned schema. Entry i takes a database from version i to i+1; applied ones are recorded in
 * schema_version, so opening runs only the missing ones. Never edit an entry once released: add
 * the next one. */
static const char *const migrations[] = {
    /* 1: the inference log. Ids are UUIDv7, so the primary key is also time order and new rows
     * append at the right edge of every index. since/until are answered through id ranges (an
     * id's time is its ts_us's millisecond), which is why ts_us needs no index of its own. */
    "CREATE TABLE inferences ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " ts_us INTEGER NOT NULL,"
    " model TEXT NOT NULL,"
    " version TEXT,"
    " request_id TEXT,"
    " input TEXT,"
    " output TEXT,"
    " latency_ms REAL NOT NULL);"
    "CREATE INDEX inferences_model_id ON inferences (model, id);",
    /* 2: buffered records that inferences refused (a constraint, a value too big): acknowledged,
     * so kept here rather than lost or left to block the queue. */
    "CREATE TABLE inferd_dead_letters ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " ts_us INTEGER NOT NULL,"
    " dead_us INTEGER NOT NULL,"
    " model TEXT NOT NULL,"
    " version TEXT,"
    " request_id TEXT,"
    " input BLOB,"
    " output BLOB,"
    " latency_ms REAL NOT NULL,"
    " error TEXT NOT NULL);",
    /* 3: how far the journal has been applied (store.c's journal mode), updated in the
     * transaction that applies the records. */
    "CREATE TABLE inferd_journal ("
    " journal_id TEXT PRIMARY KEY NOT NULL,"
    " applied_lsn INTEGER NOT NULL);",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

#define COLS        "id, ts_us, model, version, request_id, input, output, latency_ms"
#define INSERT_ROWS 16

typedef struct rconn {
    pthread_mutex_t mu;
    sqlite3 *db;
    sqlite3_stmt *get, *list, *list_model;
} rconn_t;

struct sink {
    char *path;
    int busy_ms;
    int want_read; /* read connections to open once the schema exists */
    sqlite3 *db;   /* the writer's */
    sqlite3_stmt *begin, *commit, *rollback, *dead, *set_lsn;
    struct { /* each table's INSERTs, made from its schema */
        const store_table_t *t;
        sqlite3_stmt *insert, *insert_many; /* one row; INSERT_ROWS rows (see sq_write_batch) */
    } tw[STORE_MAX_TABLES];
    int ntw;
    uint64_t lsn_next; /* set_applied's LSN for the next write, or 0 */
    const char *lsn_journal;
    char *wal_path;
    struct stat db_st, wal_st; /* the files we opened (st_ino 0 until known) */
    bool gone;                 /* they were deleted or replaced: we write nothing more */
    char gone_why[200];
    int nread;
    rconn_t *r;
    atomic_uint next_r; /* round-robin start for picking a read connection */
};

/* Maps an SQLite result to -errno; I/O failures keep the operating system's errno. */
static int map_rc(sqlite3 *db, int rc)
{
    int sys = db ? sqlite3_system_errno(db) : 0;
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE: return 0;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return -EBUSY;
    case SQLITE_NOMEM: return -ENOMEM;
    case SQLITE_READONLY: return -EROFS;
    case SQLITE_FULL: return -ENOSPC;
    case SQLITE_TOOBIG: return -E2BIG;
    case SQLITE_CONSTRAINT: return -EEXIST;
    case SQLITE_PERM:
    case SQLITE_AUTH: return -EACCES;
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR: return sys > 0 ? -sys : -EIO;
    default: return -EIO;
    }
}

static int fail(sqlite3 *db, int rc, const char *what, char *err, size_t errlen)
{
    if (err && errlen)
        snprintf(err, errlen, "sqlite: %s: %s", what, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    int e = map_rc(db, rc);
    return e ? e : -EIO;
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : fail(db, rc, sql, err, errlen);
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
    /* PERSISTENT: these statements live as long as the connection, so SQLite keeps them out of
     * its short-lived lookaside memory. */
    int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);
    return rc == SQLITE_OK ? 0 : fail(db, rc, sql, err, errlen);
}

static void sq_close(sink_t *k)
{
    if (!k) return;
    for (int i = 0; i < k->nread; i++) {
        rconn_t *c = &k->r[i];
        sqlite3_finalize(c->get);
        sqlite3_finalize(c->list);
        sqlite3_finalize(c->list_model);
        sqlite3_close(c->db);
        pthread_mutex_destroy(&c->mu);
    }
    free(k->r);
    sqlite3_finalize(k->begin);
    sqlite3_finalize(k->commit);
    sqlite3_finalize(k->rollback);
    for (int i = 0; i < k->ntw; i++) {
        sqlite3_finalize(k->tw[i].insert);
        sqlite3_finalize(k->tw[i].insert_many);
    }
    sqlite3_finalize(k->dead);
    sqlite3_finalize(k->set_lsn);
    sqlite3_close(k->db);
    free(k->path);
    free(k->wal_path);
    free(k);
}

static int sq_open(const char *target, const store_opts_t *o, sink_t **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    if (!*target || strcmp(target, ":memory:") == 0 || strncmp(target, "file:", 5) == 0) {
        /* Readers use their own connections, so they must reach the same file by name. */
        snprintf(err, errlen, "sqlite: need a database file path, got \"%s\"", target);
        return -EINVAL;
    }
    if (!sqlite3_threadsafe()) {
        snprintf(err, errlen, "sqlite: the library was built without thread support");
        return -ENOTSUP;
    }
    sink_t *k = calloc(1, sizeof *k);
    size_t plen = strlen(target);
    if (!k || !(k->path = strdup(target)) || !(k->wal_path = malloc(plen + 5))) {
        if (k) free(k->path);
        free(k);
        snprintf(err, errlen, "sqlite: out of memory");
        return -ENOMEM;
    }
    memcpy(k->wal_path, target, plen);
    memcpy(k->wal_path + plen, "-wal", 5);
    k->busy_ms = o->busy_timeout_ms;
    k->want_read = o->read_conns > 0 ? o->read_conns : 1;
    /* NOMUTEX: each connection is used by one thread at a time (the writer, or a reader holding
     * its rconn mutex), so SQLite's own per-call locking would be pure overhead. */
    int rc = sqlite3_open_v2(
        k->path, &k->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        int e = fail(k->db, rc, k->path, err, errlen);
        sq_close(k);
        return e;
    }
    sqlite3_extended_result_codes(k->db, 1);
    sqlite3_busy_timeout(k->db, k->busy_ms);

    /* journal_mode answers with the mode in force: anything but "wal" (a read-only medium, say)
     * would make readers block the writer, so refuse it. */
    sqlite3_stmt *st = NULL;
    int e = prepare(k->db, "PRAGMA journal_mode=WAL", &st, err, errlen);
    if (!e) {
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
            e = fail(k->db, rc, "PRAGMA journal_mode=WAL", err, errlen);
        else if (strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
            snprintf(err, errlen, "sqlite: %s: cannot use WAL mode (got %s)", k->path,
                     (const char *)sqlite3_column_text(st, 0));
            e = -ENOTSUP;
        }
    }
    sqlite3_finalize(st);
    /* synchronous=FULL: every COMMIT fsyncs the WAL, which is what a durable ack promises.
     * journal_size_limit trims the WAL file back after checkpoints instead of leaving it at its
     * high-water mark. */
    if (!e)
        e = exec(k->db, "PRAGMA synchronous=FULL; PRAGMA journal_size_limit=67108864;", err,
                 errlen);
    if (e) {
        sq_close(k);
        return e;
    }
    *out = k;
    return 0;
}

static int open_reader(sink_t *k, rconn_t *c, char *err, size_t errlen)
{
    int rc = sqlite3_open_v2(k->path, &c->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) return fail(c->db, rc, "open read connection", err, errlen);
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, k->busy_ms);
    int e = prepare(c->db, "SELECT " COLS " FROM inferences WHERE id = ?1", &c->get, err, errlen);
    /* Bounds on id let both statements walk one index range; the ts_us terms only trim the
     * first and last millisecond of a since/until window. */
    if (!e)
        e = prepare(c->db,
                    "SELECT " COLS " FROM inferences WHERE id > ?1 AND id < ?2"
                    " AND ts_us >= ?3 AND ts_us < ?4 ORDER BY id LIMIT ?5",
                    &c->list, err, errlen);
    if (!e)
        e = prepare(c->db,
                    "SELECT " COLS " FROM inferences WHERE model = ?6 AND id > ?1 AND id < ?2"
                    " AND ts_us >= ?3 AND ts_us < ?4 ORDER BY id LIMIT ?5",
                    &c->list_model, err, errlen);
    return e;
}

/* Opens the read pool (its size was taken from the options at open). */
static int open_readers(sink_t *k, char *err, size_t errlen)
{
    int nread = k->want_read;
    k->r = calloc((size_t)nread, sizeof *k->r);
    if (!k->r) {
        snprintf(err, errlen, "sqlite: out of memory");
        return -ENOMEM;
    }
    for (int i = 0; i < nread; i++) {
        pthread_mutex_init(&k->r[i].mu, NULL);
        k->nread = i + 1; /* so that sq_close cleans up what exists */
        int e = open_reader(k, &k->r[i], err, errlen);
        if (e) return e;
    }
    return 0;
}

/* SQLite's column types for the schema's (a time is integer microseconds: NAME_us). */
static const char *const sql_types[] = {
    [ST_UUID] = "TEXT",    [ST_INT64] = "INTEGER", [ST_FLOAT64] = "REAL",
    [ST_TIME] = "INTEGER", [ST_TEXT] = "TEXT",     [ST_JSON] = "TEXT"};

/* Creates table t if it does not exist and prepares its INSERTs into k->tw. */
static int table_ready(sink_t *k, const store_table_t *t, char *err, size_t errlen)
{
    buf_t b;
    buf_init(&b);
    int e = table_sql_create(t, true, sql_types, &b);
    if (!e) e = exec(k->db, b.data, err, errlen);
    for (int many = 0; many < 2 && !e; many++) {
        b.len = 0;
        e = buf_printf(&b, "INSERT INTO %s (", t->name);
        if (!e) e = table_sql_columns(t, true, &b);
        if (!e) e = buf_puts(&b, ") VALUES ");
        for (int r = 0; r < (many ? INSERT_ROWS : 1) && !e; r++) {
            e = buf_puts(&b, r ? ",(" : "(");
            for (int c = 0; c < t->ncols && !e; c++) e = buf_puts(&b, c ? ",?" : "?");
            if (!e) e = buf_printf(&b, ")"); /* printf: NUL-terminated */
        }
        if (!e)
            e = prepare(k->db, b.data, many ? &k->tw[k->ntw].insert_many : &k->tw[k->ntw].insert,
                        err, errlen);
    }
    if (e == -ENOMEM) snprintf(err, errlen, "sqlite: out of memory");
    k->tw[k->ntw++].t = t; /* close() finalizes what was prepared, even after a failure */
    buf_deinit(&b);
    return e;
}

static int sq_migrate(sink_t *k, const store_table_t *const *tables, int ntables, char *err,
                      size_t errlen)
{
    /* IMMEDIATE takes the write lock first, so two processes opening a new file never both
     * apply the same migration. */
    int e = exec(k->db, "BEGIN IMMEDIATE", err, errlen);
    if (e) return e;
    e = exec(k->db,
             "CREATE TABLE IF NOT EXISTS schema_version ("
             " version INTEGER PRIMARY KEY, applied_us INTEGER NOT NULL)",
             err, errlen);
    int cur = 0;
    sqlite3_stmt *st = NULL;
    if (!e)
        e = prepare(k->db, "SELECT coalesce(max(version), 0) FROM schema_version", &st, err,
                    errlen);
    if (!e) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            cur = sqlite3_column_int(st, 0);
        else
            e = fail(k->db, rc, "read schema_version", err, errlen);
    }
    sqlite3_finalize(st);
    st = NULL;
    if (!e && cur > NMIGRATIONS) {
        snprintf(err, errlen, "sqlite: %s has schema version %d, newer than this inferd knows (%d)",
                 k->path, cur, NMIGRATIONS);
        e = -EPROTO;
    }
    if (!e && cur < NMIGRATIONS)
        e = prepare(k->db, "INSERT INTO schema_version (version, applied_us) VALUES (?1, ?2)", &st,
                    err, errlen);
    for (int v = cur; !e && v < NMIGRATIONS; v++) {
        e = exec(k->db, migrations[v], err, errlen);
        if (e) break;
        sqlite3_bind_int(st, 1, v + 1);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)(clock_wall_ns() / 1000));
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) e = fail(k->db, rc, "record schema_version", err, errlen);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (!e) e = exec(k->db, "COMMIT", err, errlen);
    if (e) {
        sqlite3_exec(k->db, "ROLLBACK", NULL, NULL, NULL);
        return e;
    }
    if (cur < NMIGRATIONS)
        log_info("store: %s: schema migrated from version %d to %d", k->path, cur, NMIGRATIONS);

    e = prepare(k->db, "BEGIN IMMEDIATE", &k->begin, err, errlen);
    if (!e)
        e = prepare(k->db,
                    "INSERT INTO inferd_journal (journal_id, applied_lsn) VALUES (?1, ?2) "
                    "ON CONFLICT (journal_id) DO UPDATE SET applied_lsn = excluded.applied_lsn",
                    &k->set_lsn, err, errlen);
    if (!e) e = prepare(k->db, "COMMIT", &k->commit, err, errlen);
    if (!e) e = prepare(k->db, "ROLLBACK", &k->rollback, err, errlen);
    for (int i = 0; i < ntables && !e; i++) e = table_ready(k, tables[i], err, errlen);
    if (!e)
        e = prepare(k->db,
                    "INSERT OR IGNORE INTO inferd_dead_letters (id, ts_us, dead_us, model, version,"
                    " request_id, input, output, latency_ms, error)"
                    " VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
                    &k->dead, err, errlen);
    if (e) return e;
    /* The files as opened, to notice if they are deleted or replaced under us (see
     * files_moved). The WAL exists from the migration's transaction on. */
    if (stat(k->path, &k->db_st) != 0) k->db_st.st_ino = 0;
    if (stat(k->wal_path, &k->wal_st) != 0) k->wal_st.st_ino = 0;
    /* Readers come last: their statements need the schema. */
    return open_readers(k, err, errlen);
}

/* SQLITE_STATIC: the records outlive the statement step, so SQLite need not copy them. */
static int bind_text(sqlite3_stmt *st, int i, const char *p, size_t n)
{
    if (!p) return sqlite3_bind_null(st, i);
    if (n > INT_MAX) return SQLITE_TOOBIG;
    return sqlite3_bind_text(st, i, p, (int)n, SQLITE_STATIC);
}

/* Results that the same records would get again: the store isolates them instead of retrying. */
static bool data_error(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_TOOBIG:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE: return true;
    default: return false;
    }
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev;
}

/* Whether the database file or its WAL is no longer the one we opened (deleted, or replaced by
 * another file of that name); if so, says which in k->gone_why. Our connections keep the old
 * files open and go on committing into them, so without this check every later commit would be
 * acknowledged and lost. Two stat() calls: about 2 us against a ~300 us commit. */
static bool files_moved(sink_t *k)
{
    struct stat st;
    if (stat(k->path, &st) != 0 || !same_file(&st, &k->db_st) || st.st_nlink == 0) {
        snprintf(k->gone_why, sizeof k->gone_why, "sqlite: %s was deleted or replaced", k->path);
        return true;
    }
    if (k->wal_st.st_ino == 0) {
        /* Not there at open (a fresh file on some file systems): the first commit made it. */
        if (stat(k->wal_path, &k->wal_st) != 0) k->wal_st.st_ino = 0;
        return false;
    }
    if (stat(k->wal_path, &st) != 0 || !same_file(&st, &k->wal_st)) {
        snprintf(k->gone_why, sizeof k->gone_why, "sqlite: %s was deleted or replaced",
                 k->wal_path);
        return true;
    }
    return false;
}

/* The WAL was deleted but the database file is ours: the WAL's content is still readable through
 * our open handle, so a checkpoint copies every committed record (acknowledged ones included)
 * into the database file, where it survives. */
static void save_wal(sink_t *k)
{
    struct stat st;
    if (stat(k->path, &st) != 0 || !same_file(&st, &k->db_st)) return; /* nothing to save into */
    int log = -1, done = -1;
    int rc = sqlite3_wal_checkpoint_v2(k->db, NULL, SQLITE_CHECKPOINT_FULL, &log, &done);
    if (rc == SQLITE_OK && log == done)
        log_warn("store: %s: checkpointed %d WAL frames from the deleted WAL into %s", k->path, log,
                 k->path);
    else
        log_error("store: %s: could not checkpoint the deleted WAL (%s, %d of %d frames): records "
                  "acknowledged since the last checkpoint may be lost",
                  k->path, sqlite3_errmsg(k->db), done, log);
}

/* After each commit and before it is acknowledged. */
static int check_files(sink_t *k, char *err, size_t errlen)
{
    if (!k->gone && files_moved(k)) {
        k->gone = true;
        log_error("store: %s: stopping: nothing written from now on would survive (restart inferd "
                  "to create or reopen the database)",
                  k->gone_why);
        save_wal(k);
    }
    if (!k->gone) return 0;
    snprintf(err, errlen, "%s", k->gone_why);
    return -ESTALE;
}

/* Inside a write's transaction: records set_applied's LSN, if any. SQLITE_DONE or an error. */
static int record_lsn(sink_t *k, const char **what)
{
    if (!k->lsn_next) return SQLITE_DONE;
    *what = "UPDATE inferd_journal";
    int rc = sqlite3_bind_text(k->set_lsn, 1, k->lsn_journal, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(k->set_lsn, 2, (sqlite3_int64)k->lsn_next);
    if (rc == SQLITE_OK) rc = sqlite3_step(k->set_lsn);
    sqlite3_reset(k->set_lsn);
    return rc;
}

static void sq_set_applied(sink_t *k, const char *journal, uint64_t lsn)
{
    k->lsn_journal = journal;
    k->lsn_next = lsn;
}

static int sq_applied_lsn(sink_t *k, const char *journal, uint64_t *out)
{
    sqlite3_stmt *st = NULL;
    int e = prepare(k->db, "SELECT applied_lsn FROM inferd_journal WHERE journal_id = ?1", &st,
                    NULL, 0);
    if (e) return e;
    int rc = sqlite3_bind_text(st, 1, journal, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) e = fail(k->db, rc, "applied LSN", NULL, 0);
    sqlite3_finalize(st);
    return e;
}

/* Binds row (of t) as the row whose first parameter is p + 1. */
static int bind_row(sqlite3_stmt *st, int p, const store_table_t *t, const store_value_t *row)
{
    int rc = SQLITE_OK;
    for (int c = 0; c < t->ncols && rc == SQLITE_OK; c++) {
        const store_value_t *v = &row[c];
        switch (t->cols[c].type) {
        case ST_INT64:
        case ST_TIME:
            rc = v->null ? sqlite3_bind_null(st, p + c + 1)
                         : sqlite3_bind_int64(st, p + c + 1, v->i);
            break;
        case ST_FLOAT64:
            rc = v->null ? sqlite3_bind_null(st, p + c + 1)
                         : sqlite3_bind_double(st, p + c + 1, v->f);
            break;
        default: rc = bind_text(st, p + c + 1, v->s, v->len);
        }
    }
    return rc;
}

/* The writes prepared for t (migrate prepared one for each table). */
static int table_writes(const sink_t *k, const store_table_t *t)
{
    for (int i = 0; i < k->ntw; i++)
        if (k->tw[i].t == t) return i;
    return -1;
}

/* Rows go INSERT_ROWS to a statement while that many remain, then one at a time: one statement
 * step per row was a quarter of SQLite's CPU per row (measured with this schema in 2,500-row
 * transactions: 4.4 against 3.2 µs). A statement that fails fails the transaction, as a single
 * row's would. */
static int sq_write_batch(sink_t *k, const store_table_t *t, const store_value_t *const *rows,
                          int n, char *err, size_t errlen)
{
    if (k->gone) return check_files(k, err, errlen);
    int w = table_writes(k, t);
    if (w < 0) {
        snprintf(err, errlen, "sqlite: table %s was not opened", t->name);
        return -EINVAL;
    }
    sqlite3_stmt *one = k->tw[w].insert, *many = k->tw[w].insert_many;
    const char *what = "BEGIN";
    int rc = sqlite3_step(k->begin);
    sqlite3_reset(k->begin);
    if (rc != SQLITE_DONE) goto out;
    what = "INSERT";
    for (int i = 0; i < n;) {
        int m = n - i >= INSERT_ROWS ? INSERT_ROWS : 1;
        sqlite3_stmt *st = m > 1 ? many : one;
        rc = SQLITE_OK;
        for (int j = 0; j < m && rc == SQLITE_OK; j++)
            rc = bind_row(st, t->ncols * j, t, rows[i + j]);
        if (rc == SQLITE_OK) rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) goto out;
        i += m;
    }
    sqlite3_clear_bindings(one);
    sqlite3_clear_bindings(many);
    if ((rc = record_lsn(k, &what)) != SQLITE_DONE) goto out;
    what = "COMMIT";
    rc = sqlite3_step(k->commit);
    sqlite3_reset(k->commit);
out:
    k->lsn_next = 0;
    if (rc == SQLITE_DONE) return check_files(k, err, errlen);
    int e = fail(k->db, rc, what, err, errlen);
    if (data_error(rc)) e = -EBADMSG;
    sqlite3_clear_bindings(one);
    sqlite3_clear_bindings(many);
    /* A failed statement or COMMIT can leave the transaction open; close it so the next batch
     * starts clean. */
    if (!sqlite3_get_autocommit(k->db)) {
        sqlite3_step(k->rollback);
        sqlite3_reset(k->rollback);
    }
    return e;
}

static int sq_write_dead(sink_t *k, const store_table_t *t, const store_value_t *const *rows, int n,
                         const char *why, char *err, size_t errlen)
{
    if (k->gone) return check_files(k, err, errlen);
    if (t != &store_table_predictions) {
        snprintf(err, errlen, "sqlite: %s has no dead-letter table", t->name);
        return -EBADMSG;
    }
    const char *what = "BEGIN";
    int rc = sqlite3_step(k->begin);
    sqlite3_reset(k->begin);
    if (rc != SQLITE_DONE) goto out;
    what = "INSERT INTO inferd_dead_letters";
    for (int i = 0; i < n; i++) {
        store_record_t rec, *r = &rec;
        predictions_record(rows[i], r);
        sqlite3_stmt *st = k->dead;
        rc = sqlite3_bind_text(st, 1, r->id, UUID_STRLEN, SQLITE_STATIC);
        if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 2, r->ts_us);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_int64(st, 3, (sqlite3_int64)(clock_wall_ns() / 1000));
        if (rc == SQLITE_OK) rc = bind_text(st, 4, r->model, strlen(r->model));
        if (rc == SQLITE_OK) rc = bind_text(st, 5, r->version, r->version ? strlen(r->version) : 0);
        if (rc == SQLITE_OK)
            rc = bind_text(st, 6, r->request_id, r->request_id ? strlen(r->request_id) : 0);
        if (rc == SQLITE_OK)
            rc = r->input_json && r->input_len <= INT_MAX
                     ? sqlite3_bind_blob(st, 7, r->input_json, (int)r->input_len, SQLITE_STATIC)
                     : sqlite3_bind_null(st, 7);
        if (rc == SQLITE_OK)
            rc = r->output_json && r->output_len <= INT_MAX
                     ? sqlite3_bind_blob(st, 8, r->output_json, (int)r->output_len, SQLITE_STATIC)
                     : sqlite3_bind_null(st, 8);
        if (rc == SQLITE_OK) rc = sqlite3_bind_double(st, 9, r->latency_ms);
        if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 10, why, -1, SQLITE_TRANSIENT);
        if (rc == SQLITE_OK) rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE) goto out;
    }
    if ((rc = record_lsn(k, &what)) != SQLITE_DONE) goto out;
    what = "COMMIT";
    rc = sqlite3_step(k->commit);
    sqlite3_reset(k->commit);
out:
    k->lsn_next = 0;
    sqlite3_clear_bindings(k->dead);
    if (rc == SQLITE_DONE) return check_files(k, err, errlen);
    int e = fail(k->db, rc, what, err, errlen);
    if (data_error(rc)) e = -EBADMSG;
    if (!sqlite3_get_autocommit(k->db)) {
        sqlite3_step(k->rollback);
        sqlite3_reset(k->rollback);
    }
    return e;
}

static int sq_newest_id(sink_t *k, const store_table_t *t, char *out)
{
    sqlite3_stmt *st = NULL;
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT max(id) FROM %s", t->name); /* a checked identifier */
    /* The primary key's index answers this from its last entry. */
    int e = prepare(k->db, sql, &st, NULL, 0);
    if (e) return e;
    int rc = sqlite3_step(st);
    const char *id = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    if (id && strlen(id) == UUID_STRLEN)
        memcpy(out, id, UUID_STRLEN + 1);
    else
        e = rc == SQLITE_ROW ? -ENOENT : fail(k->db, rc, "newest id", NULL, 0);
    sqlite3_finalize(st);
    return e;
}

static rconn_t *reader_acquire(sink_t *k)
{
    return &k->r[sink_pool_acquire(k->r, k->nread, sizeof *k->r, offsetof(rconn_t, mu),
                                   &k->next_r)];
}

static void row_from(sqlite3_stmt *st, store_record_t *r)
{
    const char *id = (const char *)sqlite3_column_text(st, 0);
    snprintf(r->id, sizeof r->id, "%s", id ? id : "");
    r->ts_us = sqlite3_column_int64(st, 1);
    r->model = (const char *)sqlite3_column_text(st, 2);
    if (!r->model) r->model = "";
    r->version = (const char *)sqlite3_column_text(st, 3);
    r->request_id = (const char *)sqlite3_column_text(st, 4);
    /* column_text before column_bytes, as the SQLite documentation asks. */
    r->input_json = (const char *)sqlite3_column_text(st, 5);
    r->input_len = (size_t)sqlite3_column_bytes(st, 5);
    r->output_json = (const char *)sqlite3_column_text(st, 6);
    r->output_len = (size_t)sqlite3_column_bytes(st, 6);
    r->latency_ms = sqlite3_column_double(st, 7);
}

/* Steps st, handing each row to fn until it stops; counts rows in *nrows. Returns 0, fn's
 * error, or -errno. */
static int run_rows(sqlite3 *db, sqlite3_stmt *st, sink_row_fn fn, void *arg, int *nrows)
{
    int e = 0, rc;
    *nrows = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_record_t row;
        row_from(st, &row);
        (*nrows)++;
        int r = fn(arg, &row);
        if (r < 0) e = r;
        if (r != 0) break;
    }
    if (!e && rc != SQLITE_ROW && rc != SQLITE_DONE) {
        log_warn("store: sqlite read: %s", sqlite3_errmsg(db));
        e = map_rc(db, rc);
        if (!e) e = -EIO;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return e;
}

static int sq_get(sink_t *k, const char *id, sink_row_fn fn, void *arg)
{
    rconn_t *c = reader_acquire(k);
    int n = 0, e = sqlite3_bind_text(c->get, 1, id, -1, SQLITE_STATIC);
    e = e == SQLITE_OK ? run_rows(c->db, c->get, fn, arg, &n) : map_rc(c->db, e);
    pthread_mutex_unlock(&c->mu);
    return e ? e : n ? 0 : -ENOENT;
}

static int sq_list(sink_t *k, const sink_query_t *q, sink_row_fn fn, void *arg)
{
    rconn_t *c = reader_acquire(k);
    sqlite3_stmt *st = q->model ? c->list_model : c->list;
    int n = 0, rc = sqlite3_bind_text(st, 1, q->id_after, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_bind_text(st, 2, q->id_before, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 3, q->since_us);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int64(st, 4, q->until_us);
    if (rc == SQLITE_OK) rc = sqlite3_bind_int(st, 5, q->limit);
    if (rc == SQLITE_OK && q->model) rc = sqlite3_bind_text(st, 6, q->model, -1, SQLITE_STATIC);
    int e = rc == SQLITE_OK ? run_rows(c->db, st, fn, arg, &n) : map_rc(c->db, rc);
    pthread_mutex_unlock(&c->mu);
    return e;
}

/* One page of a table, read on a read connection with a statement made for the call (scans are
 * rare: at start). */
static int sq_scan(sink_t *k, const store_table_t *t, const char *after, int limit,
                   store_values_fn fn, void *arg, int *nrows)
{
    buf_t sql;
    buf_init(&sql);
    int e = buf_puts(&sql, "SELECT ");
    if (!e) e = table_sql_columns(t, true, &sql);
    if (!e) e = buf_printf(&sql, " FROM %s WHERE id > ?1 ORDER BY id LIMIT ?2", t->name);
    if (e) return buf_deinit(&sql), -ENOMEM;
    rconn_t *c = reader_acquire(k);
    sqlite3_stmt *st = NULL;
    e = prepare(c->db, sql.data, &st, NULL, 0);
    buf_deinit(&sql);
    int rc = SQLITE_OK;
    *nrows = 0;
    if (!e) rc = sqlite3_bind_text(st, 1, after, -1, SQLITE_STATIC);
    if (!e && rc == SQLITE_OK) rc = sqlite3_bind_int(st, 2, limit);
    if (!e && rc != SQLITE_OK) e = map_rc(c->db, rc);
    while (!e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        store_value_t row[STORE_MAX_COLS];
        for (int j = 0; j < t->ncols; j++) {
            store_value_t *v = &row[j];
            *v = (store_value_t){.null = sqlite3_column_type(st, j) == SQLITE_NULL};
            switch (t->cols[j].type) {
            case ST_INT64:
            case ST_TIME: v->i = sqlite3_column_int64(st, j); break;
            case ST_FLOAT64: v->f = sqlite3_column_double(st, j); break;
            default: /* text before bytes, as SQLite asks */
                v->s = (const char *)sqlite3_column_text(st, j);
                v->len = v->s ? (size_t)sqlite3_column_bytes(st, j) : 0;
            }
        }
        (*nrows)++;
        int r = fn(arg, row);
        if (r) {
            e = r < 0 ? r : 0;
            rc = SQLITE_DONE;
            break;
        }
    }
    if (!e && rc != SQLITE_DONE) e = map_rc(c->db, rc) ? map_rc(c->db, rc) : -EIO;
    sqlite3_finalize(st);
    pthread_mutex_unlock(&c->mu);
    return e;
}

const sink_ops_t sink_sqlite_ops = {
    .scheme = "sqlite",
    .open = sq_open,
    .migrate = sq_migrate,
    .write_batch = sq_write_batch,
    .applied_lsn = sq_applied_lsn,
    .set_applied = sq_set_applied,
    .write_dead = sq_write_dead,
    .check = check_files,
    .newest_id = sq_newest_id,
    .get = sq_get,
    .list = sq_list,
    .scan = sq_scan,
    .close = sq_close,
};
