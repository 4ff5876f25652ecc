/* PostgreSQL sink ("postgres:CONNINFO", CONNINFO as libpq takes it: "host=.. dbname=.." or a
 * postgresql:// URI). One write connection used only by the store's writer thread and a small
 * pool of read connections for get/list, so a slow read never delays a commit and MVCC keeps
 * readers and the writer from waiting on each other.
 *
 * Writes: each batch is one statement in autocommit mode, so the batch is one transaction and
 * its CommandComplete arrives only after the commit has been made as durable as the server's
 * synchronous_commit says (we never change that setting). Measured against a pipelined per-row
 * INSERT (docs/postgres.md has the numbers), the fastest were a prepared INSERT ... SELECT FROM
 * unnest($1::uuid[], ...) for small batches (one round trip) and a binary COPY for large ones
 * (two round trips, cheaper per row), so both are used, split at SMALL_ROWS. Every value
 * travels as a binary parameter or COPY field, never as SQL text.
 *
 * Failures: every socket wait has a deadline, so a batch or a read ends within about
 * CONNECT_MS + IO_MS whatever the network does. A broken connection makes write_batch return
 * -errno; the next call reconnects, after a back-off that grows while attempts keep failing. When
 * a connection dies after a write was sent, the batch may or may not have committed; the store
 * retries buffered records (they were already acknowledged), so the next batch first asks which
 * of its ids exist and skips those, and no row is written twice. */
#include <endian.h>
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/predictions.h"
#include "store/sink.h"
#include "store/uuid7.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/utf8.h"

#define CONNECT_MS       5000  /* one connection attempt, unless conninfo's connect_timeout says */
#define IO_MS            10000 /* one batch or one read, from the first byte sent to the answer */
#define RECONNECT_MIN_MS 50    /* wait before reconnecting after a failed attempt, doubling ... */
#define RECONNECT_MAX_MS 1000  /* ... up to this */
#define COPY_CHUNK       (256 * 1024) /* bytes per CopyData message */
/* Batches up to this many rows go as one INSERT ... unnest(arrays) and larger ones as a binary
 * COPY: COPY costs a second round trip (libpq sends the data only after the server has asked
 * for it) but inserts faster; on loopback the two cross between 24 and 48 rows, and over a
 * network the saved round trip weighs more (docs/postgres.md). */
#define SMALL_ROWS 32
#define COPY_KEEP  (8u << 20) /* a larger COPY buffer is freed after its batch */
/* Postgres counts time from 2000-01-01 UTC; unix microseconds of that instant. */
#define PG_EPOCH_US INT64_C(946684800000000)
/* Far beyond any id's time (ids end in year 10889) and inside timestamptz's range. */
#define TS_CLAMP_US (INT64_C(1) << 60)
/* pg_advisory_xact_lock key that serialises migrations between nodes ("inferd" in ASCII). */
#define MIGRATE_LOCK "120276345890148"

/* Type oids (pg_type.h is a server header; these values are fixed by the catalog). */
#define OID_INT8         20
#define OID_INT8_ARRAY   1016
#define OID_INT4         23
#define OID_TEXT         25
#define OID_FLOAT8       701
#define OID_TIMESTAMPTZ  1184
#define OID_UUID         2950
#define OID_UUID_ARRAY   2951
#define OID_TEXT_ARRAY   1009
#define OID_FLOAT8_ARRAY 1022
#define OID_TSTZ_ARRAY   1185
#define OID_JSONB_ARRAY  3807
#define OID_JSONB        3802

/* Versioned schema, as in the SQLite sink: entry i takes a database from version i to i+1 and
 * is recorded in schema_version. Never edit an entry once released: add the next one. */
static const char *const migrations[] = {
    /* 1: the inference log. Ids are UUIDv7, so the primary key is also time order and new rows
     * append at the right edge of both indexes; since/until become id ranges, so ts needs no
     * index of its own. */
    "CREATE TABLE inferences ("
    " id uuid PRIMARY KEY,"
    " ts timestamptz NOT NULL,"
    " model text NOT NULL,"
    " version text,"
    " request_id text,"
    " input jsonb,"
    " output jsonb,"
    " latency_ms double precision NOT NULL);"
    "CREATE INDEX inferences_model_id ON inferences (model, id);",
    /* 2: buffered records that inferences refused for their data (an acknowledged record must
     * not be lost, and must not block the queue). Every column takes any bytes: text is made
     * valid UTF-8 and the JSON is kept as bytes, so a record always fits here. */
    "CREATE TABLE inferd_dead_letters ("
    " id uuid PRIMARY KEY,"
    " ts timestamptz NOT NULL,"
    " dead_at timestamptz NOT NULL DEFAULT now(),"
    " model text NOT NULL,"
    " version text,"
    " request_id text,"
    " input bytea,"
    " output bytea,"
    " latency_ms double precision NOT NULL,"
    " error text NOT NULL);",
    /* 3: how far each journal (each inferd node's) has been applied, updated in the
     * transaction that applies its records. */
    "CREATE TABLE inferd_journal ("
    " journal_id text PRIMARY KEY,"
    " applied_lsn bigint NOT NULL);",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))

/* Reads: the predictions table's columns, and the types hand_rows expects of them. */
#define COLS "id, ts, model, version, request_id, input, output, latency_ms"
static const Oid read_types[8] = {OID_UUID, OID_TIMESTAMPTZ, OID_TEXT,  OID_TEXT,
                                  OID_TEXT, OID_JSONB,       OID_JSONB, OID_FLOAT8};

/* Each schema type's PostgreSQL type, its oid and its array's oid. */
static const char *const sql_types[] = {
    [ST_UUID] = "uuid",        [ST_INT64] = "bigint", [ST_FLOAT64] = "double precision",
    [ST_TIME] = "timestamptz", [ST_TEXT] = "text",    [ST_JSON] = "jsonb"};
static const Oid type_oids[] = {
    [ST_UUID] = OID_UUID,        [ST_INT64] = OID_INT8, [ST_FLOAT64] = OID_FLOAT8,
    [ST_TIME] = OID_TIMESTAMPTZ, [ST_TEXT] = OID_TEXT,  [ST_JSON] = OID_JSONB};
static const Oid array_oids[] = {
    [ST_UUID] = OID_UUID_ARRAY, [ST_INT64] = OID_INT8_ARRAY, [ST_FLOAT64] = OID_FLOAT8_ARRAY,
    [ST_TIME] = OID_TSTZ_ARRAY, [ST_TEXT] = OID_TEXT_ARRAY,  [ST_JSON] = OID_JSONB_ARRAY};

/* Bounds are inclusive and precomputed in C (see bounds_from), so both lists walk one index
 * range; the ts terms only trim the first and last millisecond of a since/until window. */
#define SQL_GET "SELECT " COLS " FROM inferences WHERE id = $1"
#define SQL_LIST                                                                                   \
    "SELECT " COLS " FROM inferences WHERE id >= $1 AND id <= $2 AND ts >= $3 AND ts < $4"
#define SQL_LIST_ALL   SQL_LIST " ORDER BY id LIMIT $5"
#define SQL_LIST_MODEL SQL_LIST " AND model = $6 ORDER BY id LIMIT $5"
/* Idempotent, since a dead-letter write whose answer was lost is tried again. */
#define SQL_DEAD                                                                                   \
    "INSERT INTO inferd_dead_letters (id, ts, model, version, request_id, input, output,"          \
    " latency_ms, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING"
#define OID_BYTEA 17

typedef struct rconn {
    pthread_mutex_t mu;
    PGconn *c;
    uint64_t retry_at_ns; /* no attempt to connect before this */
    unsigned backoff_ms;
} rconn_t;

struct sink {
    char *conninfo;
    int connect_ms;
    int lock_ms;
    /* The writer's, touched only by the writer thread (and open/migrate/close before/after). */
    PGconn *w;
    uint64_t w_retry_at_ns;
    unsigned w_backoff_ms;
    bool w_lost;    /* a live connection broke: log when it comes back */
    bool uncertain; /* an earlier write may have committed without our hearing of it */
    /* Each table's writes, made from its schema by migrate. */
    struct pgtab {
        const store_table_t *t;
        char *copy;     /* COPY t (cols) FROM STDIN (FORMAT binary) */
        char *insert;   /* INSERT INTO t (cols) SELECT * FROM unnest($1::type[], ...) */
        char *existing; /* SELECT id FROM t WHERE id = ANY($1::uuid[]) ORDER BY id */
        char stmt[24];  /* the name insert is prepared under on k->w: insert_<table id> */
        bool prepared;  /* on the current k->w */
    } tabs[STORE_MAX_TABLES];
    int ntabs;
    buf_t copy;                 /* the COPY stream of one batch */
    buf_t cols[STORE_MAX_COLS]; /* or its column arrays */
    buf_t param;                /* a uuid[] parameter */
    bool *skip;                 /* per record of a batch: already in the table */
    size_t skip_cap;
    uint64_t lsn_next; /* journal mode: set_applied's LSN for the next write, or 0 */
    const char *lsn_journal;
    /* Reads. */
    int nread;
    rconn_t *r;
    atomic_uint next_r;
    atomic_bool reads_down; /* logged once per outage, not once per read */
};

/* ==== errors ==== */

/* Writes "postgres: what: msg" to err on one line: libpq's messages end in a newline and some
 * carry a second, indented line (a hint), which would break a log line in two. */
static void set_err(char *err, size_t errlen, const char *what, const char *msg)
{
    if (!err || !errlen) return;
    int n = snprintf(err, errlen, "postgres: %s: %s", what, msg && *msg ? msg : "unknown error");
    size_t len = n < 0 ? 0 : (size_t)n < errlen ? (size_t)n : errlen - 1, o = 0;
    for (size_t i = 0; i < len; i++) {
        if (err[i] == '\n' || err[i] == '\t') {
            if (o && err[o - 1] != ' ') err[o++] = ' ';
        } else {
            err[o++] = err[i];
        }
    }
    while (o && err[o - 1] == ' ') o--;
    err[o] = 0;
}

/* Maps a failed result (or none, for a client-side failure) to -errno. A lost connection is
 * -ECONNRESET, which is also what tells the callers to reconnect. */
static int res_errno(PGconn *c, const PGresult *res)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (PQstatus(c) == CONNECTION_BAD) return -ECONNRESET;
    if (!st) return -EIO;
    if (strcmp(st, "23505") == 0) return -EEXIST; /* unique_violation */
    /* Data exceptions (a jsonb number beyond numeric's range, text it cannot convert) and
     * integrity violations: the same rows fail however often they are sent. */
    if (strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0) return -EBADMSG;
    if (strcmp(st, "53100") == 0) return -ENOSPC;       /* disk_full */
    if (strcmp(st, "53200") == 0) return -ENOMEM;       /* out_of_memory */
    if (strcmp(st, "55P03") == 0) return -EBUSY;        /* lock_not_available: lock_timeout */
    if (strcmp(st, "57014") == 0) return -ETIMEDOUT;    /* query_canceled: statement_timeout */
    if (strcmp(st, "25006") == 0) return -EROFS;        /* read-only transaction: a standby */
    if (strncmp(st, "08", 2) == 0) return -ECONNRESET;  /* connection exception */
    if (strncmp(st, "57P", 3) == 0) return -ECONNRESET; /* server shutting down */
    if (strncmp(st, "53", 2) == 0) return -EAGAIN;      /* insufficient resources */
    if (strncmp(st, "40", 2) == 0) return -EAGAIN;      /* serialization, deadlock */
    if (strncmp(st, "28", 2) == 0 || strcmp(st, "42501") == 0) return -EACCES;
    /* Schema not as expected (a dropped table or column, a changed type): an operator's
     * business, so retried (and reported by readiness) rather than blamed on the records. */
    if (strncmp(st, "42", 2) == 0) return -EPROTO;
    return -EIO;
}

/* Routes the server's notices to our log instead of libpq's default stderr print: WARNINGs
 * matter (a commit that could not wait for a synchronous standby says so this way), the NOTICEs
 * of CREATE ... IF NOT EXISTS do not. */
static void on_notice(void *arg, const PGresult *res)
{
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorMessage(res);
    int n = (int)strlen(msg);
    while (n > 0 && msg[n - 1] == '\n') n--;
    if (sev && strcmp(sev, "WARNING") == 0)
        log_warn("store: postgres: %.*s", n, msg);
    else
        log_debug("store: postgres: %.*s", n, msg);
}

/* ==== socket waits with deadlines (every connection is non-blocking) ==== */

static uint64_t deadline_in(uint64_t ms)
{
    return clock_mono_ns() + ms * 1000000u;
}

/* Waits until fd is ready for ev, or the deadline. 0, -ETIMEDOUT or -errno. Readiness includes
 * errors and hang-ups: the next libpq call reports those. */
static int wait_fd(int fd, short ev, uint64_t deadline)
{
    if (fd < 0) return -ECONNRESET;
    for (;;) {
        uint64_t now = clock_mono_ns();
        if (now >= deadline) return -ETIMEDOUT;
        uint64_t left = (deadline - now + 999999) / 1000000;
        struct pollfd p = {.fd = fd, .events = ev};
        int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r > 0) return 0;
        if (r < 0 && errno != EINTR) return -errno;
    }
}

/* Sends everything libpq has queued. While waiting to write it also reads, so that a server
 * answering (or complaining) while we send cannot deadlock both sides' buffers. */
static int flush_out(PGconn *c, uint64_t deadline)
{
    int r;
    while ((r = PQflush(c)) == 1) {
        int e = wait_fd(PQsocket(c), POLLIN | POLLOUT, deadline);
        if (e) return e;
        if (!PQconsumeInput(c)) return -ECONNRESET;
    }
    return r == 0 ? 0 : -ECONNRESET;
}

/* The next result of what was sent; NULL when they are exhausted (*e = 0) or on a timeout or a
 * broken connection (*e < 0). */
static PGresult *next_result(PGconn *c, uint64_t deadline, int *e)
{
    *e = 0;
    while (PQisBusy(c)) {
        int r = wait_fd(PQsocket(c), POLLIN, deadline);
        if (r) {
            *e = r;
            return NULL;
        }
        if (!PQconsumeInput(c)) break; /* PQgetResult now reports the failure */
    }
    return PQgetResult(c);
}

/* Finishes a command that was queued with a PQsend* call returning ok: flushes it and gathers
 * every result. Keeps in *keep (when not NULL) the one the caller wants: the first failure, else
 * the last result. 0, or -errno with a message in err. */
static int finish_cmd(PGconn *c, int ok, uint64_t deadline, const char *what, PGresult **keep,
                      char *err, size_t errlen)
{
    if (keep) *keep = NULL;
    if (!ok) {
        set_err(err, errlen, what, PQerrorMessage(c));
        return PQstatus(c) == CONNECTION_BAD ? -ECONNRESET : -EIO;
    }
    int e = flush_out(c, deadline);
    PGresult *res, *kept = NULL;
    int fail = 0;
    while (!e && (res = next_result(c, deadline, &e))) {
        ExecStatusType st = PQresultStatus(res);
        if (!fail && st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_COPY_IN) {
            fail = res_errno(c, res);
            set_err(err, errlen, what, PQresultErrorMessage(res));
        }
        if (fail) {
            PQclear(res); /* the rest only has to be drained */
        } else {
            PQclear(kept);
            kept = res;
        }
        /* COPY waits for its data: the caller carries on from here. */
        if (st == PGRES_COPY_IN) break;
    }
    if (e) {
        set_err(err, errlen, what, e == -ETIMEDOUT ? "no answer in time" : PQerrorMessage(c));
        PQclear(kept);
        return e;
    }
    if (fail) {
        PQclear(kept);
        return fail;
    }
    if (keep)
        *keep = kept;
    else
        PQclear(kept);
    return 0;
}

/* Runs one parameterised statement (binary parameters, binary results). */
static int exec_params(PGconn *c, const char *sql, int n, const Oid *types, const char *const *vals,
                       const int *lens, uint64_t deadline, PGresult **keep, char *err,
                       size_t errlen)
{
    int fmts[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    if (n > 16) return -EINVAL;
    int ok = PQsendQueryParams(c, sql, n, types, vals, lens, fmts, 1);
    return finish_cmd(c, ok, deadline, sql, keep, err, errlen);
}

/* Runs constant SQL (several statements allowed) through the simple protocol. */
static int exec_simple(PGconn *c, const char *sql, uint64_t deadline, PGresult **keep, char *err,
                       size_t errlen)
{
    return finish_cmd(c, PQsendQuery(c, sql), deadline, sql, keep, err, errlen);
}

/* ==== connections ==== */

/* Opens a connection (a reader's if reader) and sets it up; NULL with *e and err on failure. */
static PGconn *pg_connect(sink_t *k, bool reader, int *e, char *err, size_t errlen)
{
    /* fallback_application_name names us in pg_stat_activity unless conninfo does; the
     * conninfo is expanded from "dbname"; client_encoding comes after it so that it wins: we
     * send UTF-8 and read UTF-8 whatever the database's encoding. */
    const char *const keys[] = {"fallback_application_name", "dbname", "client_encoding", NULL};
    const char *const vals[] = {reader ? "inferd-read" : "inferd", k->conninfo, "UTF8", NULL};
    uint64_t deadline = deadline_in(k->connect_ms);
    PGconn *c = PQconnectStartParams(keys, vals, 1);
    if (!c) {
        set_err(err, errlen, "connect", "out of memory");
        *e = -ENOMEM;
        return NULL;
    }
    /* Polled as the documentation says: start as if PQconnectPoll had asked to write. */
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    int r = 0;
    while (PQstatus(c) != CONNECTION_BAD && st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        r = wait_fd(PQsocket(c), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
        if (r) break;
        st = PQconnectPoll(c);
    }
    if (r || st != PGRES_POLLING_OK) {
        set_err(err, errlen, "connect", r == -ETIMEDOUT ? "timed out" : PQerrorMessage(c));
        *e = r ? r : -ECONNREFUSED;
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeReceiver(c, on_notice, NULL);
    const char *enc = PQparameterStatus(c, "server_encoding");
    const char *idt = PQparameterStatus(c, "integer_datetimes");
    *e = 0;
    if (PQsetnonblocking(c, 1) != 0) {
        set_err(err, errlen, "connect", PQerrorMessage(c));
        *e = -EIO;
    } else if (PQserverVersion(c) < 90500) {
        set_err(err, errlen, "connect", "PostgreSQL 9.5 or later is needed");
        *e = -EPROTO;
    } else if (!enc || (strcmp(enc, "UTF8") != 0 && strcmp(enc, "SQL_ASCII") != 0)) {
        /* jsonb and text must hold any UTF-8 the server sends them; a LATIN1 database, say,
         * would reject some records and stall the queue behind them. */
        set_err(err, errlen, "connect",
                "the database's encoding must be UTF8 (CREATE DATABASE ... ENCODING 'UTF8')");
        *e = -EPROTO;
    } else if (!idt || strcmp(idt, "on") != 0) {
        set_err(err, errlen, "connect", "the server must use integer datetimes");
        *e = -EPROTO;
    }
    if (!*e) {
        /* lock_timeout: a commit waits this long for a lock held by someone else (ALTER TABLE,
         * a non-concurrent CREATE INDEX) instead of without bound. statement_timeout, for
         * reads only: the server gives up on a read about when we stop waiting for it. A
         * write is never cut short by the server, since a big batch may take long; our own
         * deadline covers it. */
        char lock[16], stmt[16];
        snprintf(lock, sizeof lock, "%d", k->lock_ms);
        snprintf(stmt, sizeof stmt, "%d", reader ? IO_MS : 0);
        const char *const p[2] = {lock, stmt};
        int l[2] = {(int)strlen(lock), (int)strlen(stmt)};
        const Oid t[2] = {OID_TEXT, OID_TEXT};
        *e = exec_params(c,
                         "SELECT set_config('lock_timeout', $1, false),"
                         " set_config('statement_timeout', $2, false)",
                         2, t, p, l, deadline_in(IO_MS), NULL, err, errlen);
    }
    if (*e) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

static unsigned next_backoff(unsigned ms)
{
    ms = ms ? ms * 2 : RECONNECT_MIN_MS;
    return ms > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : ms;
}

static void sleep_until(uint64_t t_ns)
{
    uint64_t now = clock_mono_ns();
    if (now >= t_ns) return;
    uint64_t d = t_ns - now;
    struct timespec ts = {.tv_sec = (time_t)(d / 1000000000u), .tv_nsec = (long)(d % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Makes sure the writer has a connection. While attempts keep failing they are spaced out by a
 * growing back-off, waited out here: the store's retry loop would otherwise call again at once
 * for durable work, and a server that is starting up would take a connection attempt per batch.
 * The wait is at most RECONNECT_MAX_MS, so durable requests still fail within a bounded time. */
static int writer_ready(sink_t *k, char *err, size_t errlen)
{
    if (k->w && PQstatus(k->w) == CONNECTION_OK) return 0;
    if (k->w) {
        PQfinish(k->w);
        k->w = NULL;
    }
    sleep_until(k->w_retry_at_ns);
    int e;
    k->w = pg_connect(k, false, &e, err, errlen);
    for (int i = 0; i < k->ntabs; i++) k->tabs[i].prepared = false;
    if (!k->w) {
        k->w_backoff_ms = next_backoff(k->w_backoff_ms);
        k->w_retry_at_ns = deadline_in(k->w_backoff_ms);
        return e;
    }
    if (k->w_lost) log_info("store: postgres: writer reconnected");
    k->w_lost = false;
    k->w_backoff_ms = 0;
    k->w_retry_at_ns = 0;
    return 0;
}

/* Drops a broken writer connection; the next batch reconnects at once (a single break is most
 * likely a server restart or a failover that is already over). */
static void writer_lost(sink_t *k)
{
    if (!k->w_lost) log_warn("store: postgres: the write connection was lost; reconnecting");
    k->w_lost = true;
    PQfinish(k->w);
    k->w = NULL;
}

/* ==== open / migrate / close ==== */

static void pg_close(sink_t *k)
{
    if (!k) return;
    for (int i = 0; i < k->nread; i++) {
        PQfinish(k->r[i].c);
        pthread_mutex_destroy(&k->r[i].mu);
    }
    free(k->r);
    PQfinish(k->w);
    buf_deinit(&k->copy);
    for (int c = 0; c < STORE_MAX_COLS; c++) buf_deinit(&k->cols[c]);
    buf_deinit(&k->param);
    for (int i = 0; i < k->ntabs; i++) {
        free(k->tabs[i].copy);
        free(k->tabs[i].insert);
        free(k->tabs[i].existing);
    }
    free(k->skip);
    free(k->conninfo);
    free(k);
}

static int pg_open(const char *target, const store_opts_t *o, sink_t **out, char *err,
                   size_t errlen)
{
    *out = NULL;
    /* Parsed here only to refuse a malformed conninfo with libpq's own words, and to learn
     * connect_timeout; the error never quotes the conninfo, which may hold a password. */
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(target, &perr);
    if (!opts) {
        set_err(err, errlen, "bad connection string", perr ? perr : "out of memory");
        PQfreemem(perr);
        return perr ? -EINVAL : -ENOMEM;
    }
    int connect_ms = CONNECT_MS;
    for (PQconninfoOption *p = opts; p->keyword; p++) {
        if (strcmp(p->keyword, "connect_timeout") == 0 && p->val && atoi(p->val) > 0) {
            int sec = atoi(p->val);
            connect_ms = sec < 2 ? 2000 : sec > 3600 ? 3600000 : sec * 1000; /* libpq: >= 2 */
        }
    }
    PQconninfoFree(opts);
    sink_t *k = calloc(1, sizeof *k);
    if (!k || !(k->conninfo = strdup(target))) {
        free(k);
        set_err(err, errlen, "open", "out of memory");
        return -ENOMEM;
    }
    k->connect_ms = connect_ms;
    k->lock_ms = o->busy_timeout_ms;
    int nread = o->read_conns > 0 ? o->read_conns : 1;
    buf_init(&k->copy);
    for (int c = 0; c < STORE_MAX_COLS; c++) buf_init(&k->cols[c]);
    buf_init(&k->param);
    k->r = calloc((size_t)nread, sizeof *k->r);
    if (!k->r) {
        pg_close(k);
        set_err(err, errlen, "open", "out of memory");
        return -ENOMEM;
    }
    for (int i = 0; i < nread; i++) pthread_mutex_init(&k->r[i].mu, NULL);
    k->nread = nread;
    /* The writer connects now, so that a wrong host or password stops the server at start with
     * a clear message instead of failing every request later. */
    int e;
    k->w = pg_connect(k, false, &e, err, errlen);
    if (!k->w) {
        pg_close(k);
        return e;
    }
    *out = k;
    return 0;
}

/* Warns once if the server would acknowledge commits that a crash can undo. */
static void check_durability(sink_t *k)
{
    PGresult *res = NULL;
    char err[256];
    if (exec_simple(k->w, "SELECT current_setting('synchronous_commit'), current_setting('fsync')",
                    deadline_in(IO_MS), &res, err, sizeof err) == 0 &&
        res && PQntuples(res) == 1) {
        if (strcmp(PQgetvalue(res, 0, 0), "off") == 0)
            log_warn("store: postgres: synchronous_commit is off: durable answers may be lost "
                     "if the database server crashes");
        if (strcmp(PQgetvalue(res, 0, 1), "off") == 0)
            log_warn("store: postgres: fsync is off: committed records may be lost if the "
                     "database machine crashes");
    }
    PQclear(res);
}

/* The SQL of table t's writes, into k->tabs[k->ntabs++]; appends its CREATE TABLE to ddl. 0 or
 * -ENOMEM. */
static int table_sql(sink_t *k, const store_table_t *t, buf_t *ddl)
{
    struct pgtab *pt = &k->tabs[k->ntabs++];
    *pt = (struct pgtab){.t = t};
    snprintf(pt->stmt, sizeof pt->stmt, "insert_%d", t->id);
    buf_t b;
    buf_init(&b);
    int e = table_sql_create(t, false, sql_types, ddl);
    if (!e) e = buf_printf(ddl, ";"); /* printf: NUL-terminated */
    if (!e) e = buf_printf(&b, "COPY %s (", t->name);
    if (!e) e = table_sql_columns(t, false, &b);
    if (!e) e = buf_printf(&b, ") FROM STDIN (FORMAT binary)");
    if (!e && !(pt->copy = strdup(b.data))) e = -ENOMEM;
    b.len = 0;
    if (!e) e = buf_printf(&b, "INSERT INTO %s (", t->name);
    if (!e) e = table_sql_columns(t, false, &b);
    if (!e) e = buf_puts(&b, ") SELECT * FROM unnest(");
    for (int c = 0; c < t->ncols && !e; c++)
        e = buf_printf(&b, "%s$%d::%s[]", c ? ", " : "", c + 1, sql_types[t->cols[c].type]);
    if (!e) e = buf_printf(&b, ")");
    if (!e && !(pt->insert = strdup(b.data))) e = -ENOMEM;
    b.len = 0;
    if (!e) e = buf_printf(&b, "SELECT id FROM %s WHERE id = ANY($1::uuid[]) ORDER BY id", t->name);
    if (!e && !(pt->existing = strdup(b.data))) e = -ENOMEM;
    buf_deinit(&b);
    return e;
}

static int pg_migrate(sink_t *k, const store_table_t *const *tables, int ntables, char *err,
                      size_t errlen)
{
    PGconn *c = k->w;
    uint64_t dl = deadline_in(IO_MS + k->lock_ms);
    PGresult *res = NULL;
    /* The advisory lock makes nodes that start together take turns: without it two could both
     * see version 0 and both try CREATE TABLE. */
    int e = exec_simple(c,
                        "BEGIN;"
                        "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ");"
                        "CREATE TABLE IF NOT EXISTS schema_version ("
                        " version integer PRIMARY KEY,"
                        " applied timestamptz NOT NULL DEFAULT now());"
                        "SELECT coalesce(max(version), 0) FROM schema_version",
                        dl, &res, err, errlen);
    int cur = 0;
    if (!e) {
        if (PQntuples(res) != 1) {
            set_err(err, errlen, "migrate", "cannot read schema_version");
            e = -EPROTO;
        } else {
            cur = atoi(PQgetvalue(res, 0, 0));
        }
    }
    PQclear(res);
    if (!e && cur > NMIGRATIONS) {
        snprintf(err, errlen,
                 "postgres: the database has schema version %d, newer than this inferd knows "
                 "(%d)",
                 cur, NMIGRATIONS);
        e = -EPROTO;
    }
    for (int v = cur; !e && v < NMIGRATIONS; v++) {
        e = exec_simple(c, migrations[v], dl, NULL, err, errlen);
        char ver[16];
        snprintf(ver, sizeof ver, "%d", v + 1);
        const char *const p[1] = {ver};
        int l[1] = {(int)strlen(ver)};
        const Oid t[1] = {OID_TEXT};
        if (!e)
            e = exec_params(c, "INSERT INTO schema_version (version) VALUES ($1::text::integer)", 1,
                            t, p, l, dl, NULL, err, errlen);
    }
    /* Tables the migrations do not make come from their schema. */
    buf_t ddl;
    buf_init(&ddl);
    for (int i = 0; i < ntables && !e; i++)
        if ((e = table_sql(k, tables[i], &ddl))) set_err(err, errlen, "migrate", "out of memory");
    if (!e) e = exec_simple(c, ddl.data, dl, NULL, err, errlen);
    buf_deinit(&ddl);
    if (!e) e = exec_simple(c, "COMMIT", dl, NULL, err, errlen);
    if (e) {
        char ignore[64];
        if (PQstatus(c) == CONNECTION_OK)
            exec_simple(c, "ROLLBACK", deadline_in(IO_MS), NULL, ignore, sizeof ignore);
        return e;
    }
    if (cur < NMIGRATIONS)
        log_info("store: postgres: schema migrated from version %d to %d", cur, NMIGRATIONS);
    check_durability(k);
    return 0;
}

/* ==== binary encoding ==== */

static int put_u16(buf_t *b, uint16_t v)
{
    v = htobe16(v);
    return buf_append(b, &v, 2);
}

static int put_u32(buf_t *b, uint32_t v)
{
    v = htobe32(v);
    return buf_append(b, &v, 4);
}

static int put_u64(buf_t *b, uint64_t v)
{
    v = htobe64(v);
    return buf_append(b, &v, 8);
}

static uint64_t get_u64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return be64toh(v);
}

/* Appends p as PostgreSQL will take it: each byte that is not part of well-formed UTF-8 becomes
 * U+FFFD, and in JSON the escape \u0000 (which jsonb refuses) becomes \ufffd. SQLite stores such
 * bytes as they are, but here one bad record would fail its batch on every retry and stall the
 * queue behind it. A request id cut at its length limit in the middle of a character is the
 * case that happens; the JSON the server writes is always valid already. */
static int put_clean(buf_t *b, const char *s, size_t n, bool json)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    int rc = 0;
    while (p < end && !rc) {
        const unsigned char *run = p;
        size_t m;
        while (p < end && *p && (m = utf8_seq(p, end)) != 0) { /* NUL: refused */
            if (json && *p == '\\' && p + 1 < end) {
                if (end - p >= 6 && memcmp(p, "\\u0000", 6) == 0) break;
                p += 2; /* an escape: the next byte cannot start one */
                continue;
            }
            p += m;
        }
        rc = buf_append(b, run, (size_t)(p - run));
        if (rc || p >= end) break;
        if (*p == '\\') {
            rc = buf_append(b, "\\ufffd", 6);
            p += 6;
        } else {
            rc = buf_append(b, "\xef\xbf\xbd", 3);
            p++;
        }
    }
    return rc;
}

/* Appends one COPY field holding text (or jsonb: a version byte, then the text); NULL -> null.
 * The length is patched in afterwards, since cleaning may change it. */
static int put_field_text(buf_t *b, const char *s, size_t n, bool jsonb)
{
    if (!s) return put_u32(b, UINT32_MAX); /* -1: NULL */
    size_t at = b->len;
    int rc = put_u32(b, 0);
    if (!rc && jsonb) rc = buf_append(b, "\x01", 1);
    if (!rc) rc = put_clean(b, s, n, jsonb);
    if (rc) return rc;
    size_t len = b->len - at - 4;
    if (len > INT32_MAX) return -E2BIG;
    uint32_t be = htobe32((uint32_t)len);
    memcpy(b->data + at, &be, 4);
    return 0;
}

/* Appends an 8-byte binary field, or NULL. */
static int put_field_u64(buf_t *b, bool null, uint64_t v)
{
    if (null) return put_u32(b, UINT32_MAX);
    int rc = put_u32(b, 8);
    return rc ? rc : put_u64(b, v);
}

/* Appends column c of row (of t) as one binary field: an int32 length (-1 for NULL), then the
 * value in its type's binary form. A COPY row and an array element are both made of these. */
static int put_field(buf_t *b, const store_table_t *t, const store_value_t *row, int c)
{
    const store_value_t *v = &row[c];
    switch (t->cols[c].type) {
    case ST_UUID: {
        uint8_t id[16];
        if (!v->s || uuid_parse(v->s, id) != 32) return -EINVAL;
        int rc = put_u32(b, 16);
        return rc ? rc : buf_append(b, id, 16);
    }
    case ST_TIME: return put_field_u64(b, v->null, (uint64_t)(v->i - PG_EPOCH_US));
    case ST_INT64: return put_field_u64(b, v->null, (uint64_t)v->i);
    case ST_FLOAT64: {
        uint64_t bits;
        memcpy(&bits, &v->f, 8);
        return put_field_u64(b, v->null, bits);
    }
    case ST_TEXT: return put_field_text(b, v->s, v->len, false);
    /* Empty text is not JSON; it is read back as null either way. */
    case ST_JSON: return put_field_text(b, v->len ? v->s : NULL, v->len, true);
    }
    return -EINVAL;
}

/* The binary COPY stream of the rows not marked in skip. */
static int encode_copy(buf_t *b, const store_table_t *t, const store_value_t *const *rows, int n,
                       const bool *skip)
{
    b->len = 0;
    int rc = buf_append(b, "PGCOPY\n\377\r\n\0", 11); /* signature */
    if (!rc) rc = put_u32(b, 0);                      /* flags: no OIDs */
    if (!rc) rc = put_u32(b, 0);                      /* no header extension */
    for (int i = 0; i < n && !rc; i++) {
        if (skip[i]) continue;
        rc = put_u16(b, (uint16_t)t->ncols);
        for (int c = 0; c < t->ncols && !rc; c++) rc = put_field(b, t, rows[i], c);
    }
    return rc ? rc : put_u16(b, UINT16_MAX); /* trailer: -1 */
}

/* A binary array header: one dimension of n elements of type elem, lower bound 1. */
static int put_array_header(buf_t *b, Oid elem, int n)
{
    b->len = 0;
    int rc = put_u32(b, 1);
    if (!rc) rc = put_u32(b, 0); /* flags; NULL elements are marked by their length */
    if (!rc) rc = put_u32(b, elem);
    if (!rc) rc = put_u32(b, (uint32_t)n);
    return rc ? rc : put_u32(b, 1);
}

/* One binary array per column for the table's unnest INSERT, of the rows not marked in skip. */
static int encode_arrays(buf_t *cols, const store_table_t *t, const store_value_t *const *rows,
                         int n, const bool *skip, int todo)
{
    int rc = 0;
    for (int c = 0; c < t->ncols && !rc; c++) {
        rc = put_array_header(&cols[c], type_oids[t->cols[c].type], todo);
        for (int i = 0; i < n && !rc; i++)
            if (!skip[i]) rc = put_field(&cols[c], t, rows[i], c);
        if (!rc && cols[c].len > INT_MAX) rc = -E2BIG;
    }
    return rc;
}

/* A binary uuid[] parameter of the rows' ids (one dimension, lower bound 1, no NULLs). */
static int put_uuid_array(buf_t *b, const store_value_t *const *rows, int n)
{
    int rc = put_array_header(b, OID_UUID, n);
    for (int i = 0; i < n && !rc; i++) {
        uint8_t id[16];
        if (uuid_parse(rows[i][0].s, id) != 32) return -EINVAL;
        rc = put_u32(b, 16);
        if (!rc) rc = buf_append(b, id, 16);
    }
    return rc;
}

/* ==== writes ==== */

static int cmp_uuid(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

/* After a batch whose fate is unknown: marks in k->skip the records already in the table. The
 * table is keyed on id, so asking by id is exact; the query costs one index probe per id and is
 * made only after such a failure. */
static int mark_existing(sink_t *k, const struct pgtab *pt, const store_value_t *const *rows, int n,
                         int *nskip, char *err, size_t errlen)
{
    *nskip = 0;
    int e = put_uuid_array(&k->param, rows, n);
    if (e) {
        set_err(err, errlen, "write", "out of memory");
        return e;
    }
    if (k->param.len > INT_MAX) return -E2BIG;
    const char *const p[1] = {k->param.data};
    int l[1] = {(int)k->param.len};
    const Oid t[1] = {OID_UUID_ARRAY};
    PGresult *res = NULL;
    e = exec_params(k->w, pt->existing, 1, t, p, l, deadline_in(IO_MS), &res, err, errlen);
    if (e) return e;
    int found = PQntuples(res);
    for (int j = 0; j < found; j++) {
        if (PQgetlength(res, j, 0) != 16) {
            PQclear(res);
            set_err(err, errlen, "write", "unexpected answer to the id check");
            return -EPROTO;
        }
    }
    for (int i = 0; i < n && found; i++) {
        uint8_t id[16];
        uuid_parse(rows[i][0].s, id);
        int lo = 0, hi = found - 1;
        while (lo <= hi) { /* the answer is in id order */
            int mid = (lo + hi) / 2;
            int c = cmp_uuid(id, PQgetvalue(res, mid, 0));
            if (c == 0) {
                k->skip[i] = true;
                (*nskip)++;
                break;
            }
            if (c < 0)
                hi = mid - 1;
            else
                lo = mid + 1;
        }
    }
    PQclear(res);
    return 0;
}

/* Sends the COPY stream in k->copy as a run of CopyData messages and ends it. */
static int send_copy(PGconn *c, const buf_t *data, uint64_t deadline)
{
    for (size_t off = 0; off < data->len;) {
        size_t n = data->len - off < COPY_CHUNK ? data->len - off : COPY_CHUNK;
        int r = PQputCopyData(c, data->data + off, (int)n);
        if (r < 0) return -ECONNRESET;
        if (r == 0) { /* libpq's buffer is full: let the socket drain it */
            int e = flush_out(c, deadline);
            if (e) return e;
            continue;
        }
        off += n;
    }
    int r;
    while ((r = PQputCopyEnd(c, NULL)) == 0) {
        int e = flush_out(c, deadline);
        if (e) return e;
    }
    return r < 0 ? -ECONNRESET : 0;
}

/* Makes k->skip hold n cleared flags. 0 or -ENOMEM. */
static int reset_skip(sink_t *k, int n, char *err, size_t errlen)
{
    if ((size_t)n > k->skip_cap) {
        bool *ns = realloc(k->skip, (size_t)n * sizeof *ns);
        if (!ns) {
            set_err(err, errlen, "write", "out of memory");
            return -ENOMEM;
        }
        k->skip = ns;
        k->skip_cap = (size_t)n;
    }
    if (n) memset(k->skip, 0, (size_t)n * sizeof *k->skip);
    return 0;
}

/* The deadline of a write of this many encoded bytes: room for a lock wait to end in the
 * server's own lock_timeout error, growing with the batch (1 ms per 10 kB: 10 MB/s), so one big
 * submission still fits. */
static uint64_t write_deadline(const sink_t *k, size_t bytes)
{
    uint64_t io_ms = (uint64_t)k->lock_ms + 1000 > IO_MS ? (uint64_t)k->lock_ms + 1000 : IO_MS;
    return deadline_in(io_ms + bytes / 10000);
}

/* Sends k->copy (rows records) with COPY and checks the server stored that many. autocommit:
 * the COPY is its own transaction, so from the data on the commit may happen without our
 * hearing of it (k->uncertain). 0 or -errno with err. */
static int copy_rows(sink_t *k, const struct pgtab *pt, int rows, bool autocommit, uint64_t dl,
                     char *err, size_t errlen)
{
    PGresult *res = NULL;
    int e = finish_cmd(k->w, PQsendQuery(k->w, pt->copy), dl, "COPY", &res, err, errlen);
    if (!e && PQresultStatus(res) != PGRES_COPY_IN) {
        set_err(err, errlen, "COPY", "the server did not ask for the data");
        e = -EPROTO;
    }
    PQclear(res);
    res = NULL;
    if (e) return e;
    if (autocommit) k->uncertain = true;
    e = send_copy(k->w, &k->copy, dl);
    if (e)
        set_err(err, errlen, "COPY", e == -ETIMEDOUT ? "timed out" : PQerrorMessage(k->w));
    else
        e = finish_cmd(k->w, 1, dl, "COPY", &res, err, errlen);
    /* "COPY n": a mismatch would mean rows went missing on the way. */
    if (!e && strtol(PQcmdTuples(res), NULL, 10) != rows) {
        set_err(err, errlen, "COPY", "the server reports a different row count");
        e = -EIO;
    }
    PQclear(res);
    return e;
}

/* One attempt at a batch. *stale is set when the attempt failed on a connection that was
 * already open before it, so that a fresh one may be tried at once. */
static int write_once(sink_t *k, struct pgtab *pt, const store_value_t *const *rows, int n,
                      bool *stale, char *err, size_t errlen)
{
    const store_table_t *t = pt->t;
    *stale = false;
    bool was_open = k->w && PQstatus(k->w) == CONNECTION_OK, prev_uncertain = k->uncertain;
    int e = writer_ready(k, err, errlen);
    if (e) return e;
    if ((e = reset_skip(k, n, err, errlen))) return e;
    int nskip = 0;
    if (k->uncertain) {
        e = mark_existing(k, pt, rows, n, &nskip, err, errlen);
        if (e) goto fail;
        if (nskip)
            log_info("store: postgres: %d of %d records were committed by an attempt whose "
                     "answer was lost; not writing them again",
                     nskip, n);
        if (nskip == n) {
            k->uncertain = false;
            return 0;
        }
    }

    /* Everything is encoded before anything is sent, so an encoding failure leaves the
     * connection untouched. */
    int todo = n - nskip;
    bool small = todo <= SMALL_ROWS;
    size_t bytes = 0;
    if (small) {
        e = encode_arrays(k->cols, t, rows, n, k->skip, todo);
        for (int c = 0; c < t->ncols; c++) bytes += k->cols[c].len;
    } else {
        e = encode_copy(&k->copy, t, rows, n, k->skip);
        bytes = k->copy.len;
    }
    if (e) {
        set_err(err, errlen, "write", e == -ENOMEM ? "out of memory" : "cannot encode a record");
        return e == -ENOMEM ? e : -EBADMSG; /* too big for the protocol: it always will be */
    }
    uint64_t dl = write_deadline(k, bytes);
    if (small) {
        /* Prepared once per connection: the statement is parsed and planned once. */
        if (!pt->prepared) {
            Oid types[STORE_MAX_COLS];
            for (int c = 0; c < t->ncols; c++) types[c] = array_oids[t->cols[c].type];
            e = finish_cmd(k->w, PQsendPrepare(k->w, pt->stmt, pt->insert, t->ncols, types), dl,
                           "prepare", NULL, err, errlen);
            if (e) goto fail;
            pt->prepared = true;
        }
        const char *vals[STORE_MAX_COLS];
        int lens[STORE_MAX_COLS], fmts[STORE_MAX_COLS];
        for (int c = 0; c < t->ncols; c++) {
            vals[c] = k->cols[c].data;
            lens[c] = (int)k->cols[c].len;
            fmts[c] = 1;
        }
        /* From the send on, the commit may happen without our hearing of it. */
        k->uncertain = true;
        PGresult *res = NULL;
        e = finish_cmd(k->w, PQsendQueryPrepared(k->w, pt->stmt, t->ncols, vals, lens, fmts, 1), dl,
                       "INSERT", &res, err, errlen);
        /* "INSERT 0 n": a mismatch would mean rows went missing on the way. */
        if (!e && strtol(PQcmdTuples(res), NULL, 10) != todo) {
            set_err(err, errlen, "INSERT", "the server reports a different row count");
            e = -EIO;
        }
        PQclear(res);
    } else {
        e = copy_rows(k, pt, todo, true, dl, err, errlen);
    }
    /* One huge batch should not pin its memory. */
    if (bytes > COPY_KEEP) {
        buf_deinit(&k->copy);
        for (int c = 0; c < t->ncols; c++) buf_deinit(&k->cols[c]);
    }
    if (!e) {
        k->uncertain = false;
        return 0;
    }
    /* The server answered with an error and the connection is fine: nothing was committed. */
    if (PQstatus(k->w) == CONNECTION_OK && e != -ETIMEDOUT && e != -EEXIST)
        k->uncertain = prev_uncertain;
fail:
    if (e == -ETIMEDOUT || PQstatus(k->w) != CONNECTION_OK) {
        /* After a timeout the connection is in an unknown state mid-protocol: start over. */
        *stale = was_open && e != -ETIMEDOUT;
        writer_lost(k);
        if (e != -ETIMEDOUT) e = -ECONNRESET;
    }
    if (e == -EEXIST) k->uncertain = true; /* an interrupted attempt committed meanwhile */
    return e;
}

#define SQL_SET_LSN                                                                                \
    "INSERT INTO inferd_journal (journal_id, applied_lsn) VALUES ($1, $2::text::bigint) "          \
    "ON CONFLICT (journal_id) DO UPDATE SET applied_lsn = excluded.applied_lsn"

/* Records set_applied's LSN on the writer connection (inside the caller's transaction, if any). */
static int record_lsn(sink_t *k, uint64_t dl, char *err, size_t errlen)
{
    char v[24];
    snprintf(v, sizeof v, "%llu", (unsigned long long)k->lsn_next);
    const char *const p[2] = {k->lsn_journal, v};
    int l[2] = {(int)strlen(k->lsn_journal), (int)strlen(v)};
    const Oid t[2] = {OID_TEXT, OID_TEXT};
    return exec_params(k->w, SQL_SET_LSN, 2, t, p, l, dl, NULL, err, errlen);
}

/* Journal mode: the rows (binary COPY) and the journal's applied LSN in one transaction. If the
 * answer to COMMIT is lost, the store reads the applied LSN back before trying again, so nothing
 * is applied twice. */
static int write_journaled(sink_t *k, const struct pgtab *pt, const store_value_t *const *rows,
                           int n, char *err, size_t errlen)
{
    int e = writer_ready(k, err, errlen);
    if (!e) e = reset_skip(k, n, err, errlen);
    if (e) return e;
    e = n ? encode_copy(&k->copy, pt->t, rows, n, k->skip) : 0;
    if (e) {
        set_err(err, errlen, "write", e == -ENOMEM ? "out of memory" : "cannot encode a record");
        return e == -ENOMEM ? e : -EBADMSG;
    }
    uint64_t dl = write_deadline(k, n ? k->copy.len : 0);
    e = exec_simple(k->w, "BEGIN", dl, NULL, err, errlen);
    if (!e && n) e = copy_rows(k, pt, n, false, dl, err, errlen);
    if (!e) e = record_lsn(k, dl, err, errlen);
    if (!e) e = exec_simple(k->w, "COMMIT", dl, NULL, err, errlen);
    if (k->copy.len > COPY_KEEP) buf_deinit(&k->copy);
    if (!e) return 0;
    if (e != -ETIMEDOUT && PQstatus(k->w) == CONNECTION_OK) {
        char ignore[64];
        exec_simple(k->w, "ROLLBACK", deadline_in(IO_MS), NULL, ignore, sizeof ignore);
    } else {
        writer_lost(k);
        if (e != -ETIMEDOUT) e = -ECONNRESET;
    }
    return e;
}

static void pg_set_applied(sink_t *k, const char *journal, uint64_t lsn)
{
    k->lsn_journal = journal;
    k->lsn_next = lsn;
}

static int pg_applied_lsn(sink_t *k, const char *journal, uint64_t *out)
{
    char err[256];
    int e = writer_ready(k, err, sizeof err);
    if (e) return e;
    const char *const p[1] = {journal};
    int l[1] = {(int)strlen(journal)};
    const Oid t[1] = {OID_TEXT};
    PGresult *res = NULL;
    e = exec_params(k->w, "SELECT applied_lsn::text FROM inferd_journal WHERE journal_id = $1", 1,
                    t, p, l, deadline_in(IO_MS), &res, err, sizeof err);
    if (e) {
        if (e == -ETIMEDOUT || PQstatus(k->w) != CONNECTION_OK) writer_lost(k);
        return e;
    }
    *out = PQntuples(res) == 1 ? strtoull(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return 0;
}

static int pg_write_batch(sink_t *k, const store_table_t *t, const store_value_t *const *rows,
                          int n, char *err, size_t errlen)
{
    struct pgtab *pt = NULL;
    for (int i = 0; i < k->ntabs && !pt; i++)
        if (k->tabs[i].t == t) pt = &k->tabs[i];
    if (!pt) {
        k->lsn_next = 0;
        set_err(err, errlen, "write", "a table that was not opened");
        return -EINVAL;
    }
    if (k->lsn_next) {
        int e = write_journaled(k, pt, rows, n, err, errlen);
        k->lsn_next = 0;
        return e;
    }
    bool stale;
    int e = write_once(k, pt, rows, n, &stale, err, errlen);
    /* A connection that broke while idle (server restart, failover, a proxy's idle timeout)
     * fails the first batch sent on it. One more attempt on a new connection hides that from
     * clients; the check for committed ids keeps it from writing a row twice. */
    if (e && stale) e = write_once(k, pt, rows, n, &stale, err, errlen);
    return e;
}

/* Text that PostgreSQL always accepts (see put_clean) in b, for a binary text parameter. */
static int clean_param(buf_t *b, const char *p, const char **val, int *len)
{
    b->len = 0;
    int rc = p ? put_clean(b, p, strlen(p), false) : 0;
    *val = p ? (b->data ? b->data : "") : NULL;
    *len = p ? (int)b->len : 0;
    return rc;
}

static int pg_write_dead(sink_t *k, const store_table_t *t, const store_value_t *const *rows, int n,
                         const char *why, char *err, size_t errlen)
{
    if (t != &store_table_predictions) {
        k->lsn_next = 0;
        set_err(err, errlen, "dead letter", "only predictions have a dead-letter table");
        return -EBADMSG;
    }
    int e = writer_ready(k, err, errlen);
    if (e) return e;
    /* Each row commits alone: dead letters are rare, and ON CONFLICT makes a retry harmless. */
    for (int i = 0; i < n && !e; i++) {
        store_record_t rec, *r = &rec;
        predictions_record(rows[i], r);
        uint8_t id[16];
        uint64_t ts = htobe64((uint64_t)(r->ts_us - PG_EPOCH_US)), lat;
        memcpy(&lat, &r->latency_ms, 8);
        lat = htobe64(lat);
        if (uuid_parse(r->id, id) != 32) return -EBADMSG;
        const char *v[9] = {(const char *)id, (const char *)&ts};
        int l[9] = {16, 8};
        e = clean_param(&k->cols[2], r->model, &v[2], &l[2]);
        if (!e) e = clean_param(&k->cols[3], r->version, &v[3], &l[3]);
        if (!e) e = clean_param(&k->cols[4], r->request_id, &v[4], &l[4]);
        if (!e) e = clean_param(&k->cols[5], why, &v[8], &l[8]);
        if (e) {
            set_err(err, errlen, "dead letter", "out of memory");
            return e;
        }
        v[5] = r->input_len ? r->input_json : NULL;
        l[5] = (int)(r->input_len < INT_MAX ? r->input_len : INT_MAX);
        v[6] = r->output_len ? r->output_json : NULL;
        l[6] = (int)(r->output_len < INT_MAX ? r->output_len : INT_MAX);
        v[7] = (const char *)&lat;
        l[7] = 8;
        static const Oid types[9] = {OID_UUID,  OID_TIMESTAMPTZ, OID_TEXT,   OID_TEXT, OID_TEXT,
                                     OID_BYTEA, OID_BYTEA,       OID_FLOAT8, OID_TEXT};
        e = exec_params(k->w, SQL_DEAD, 9, types, v, l, deadline_in(IO_MS + k->lock_ms), NULL, err,
                        errlen);
    }
    /* Journal mode: dead letters are idempotent (ON CONFLICT), so the LSN may follow them in a
     * transaction of its own: a crash between the two only writes them again. */
    if (!e && k->lsn_next) e = record_lsn(k, deadline_in(IO_MS + k->lock_ms), err, errlen);
    k->lsn_next = 0;
    if (e == -ETIMEDOUT || (e && PQstatus(k->w) != CONNECTION_OK)) {
        writer_lost(k);
        if (e != -ETIMEDOUT) e = -ECONNRESET;
    }
    return e;
}

/* ==== reads ==== */

static rconn_t *reader_acquire(sink_t *k)
{
    return &k->r[sink_pool_acquire(k->r, k->nread, sizeof *k->r, offsetof(rconn_t, mu),
                                   &k->next_r)];
}

/* Connects and prepares a read connection if it has none. While attempts fail, reads fail at
 * once until the back-off has passed: a compute worker should not sit in a connect that is
 * likely to fail again. */
static int reader_ready(sink_t *k, rconn_t *r, bool *fresh)
{
    *fresh = false;
    if (r->c && PQstatus(r->c) == CONNECTION_OK) return 0;
    PQfinish(r->c);
    r->c = NULL;
    if (clock_mono_ns() < r->retry_at_ns) return -ECONNREFUSED;
    char err[256];
    int e;
    PGconn *c = pg_connect(k, true, &e, err, sizeof err);
    uint64_t dl = deadline_in(IO_MS);
    const Oid lt[6] = {OID_UUID, OID_UUID, OID_TIMESTAMPTZ, OID_TIMESTAMPTZ, OID_INT4, OID_TEXT};
    if (c)
        e = finish_cmd(c, PQsendPrepare(c, "get", SQL_GET, 1, lt), dl, "prepare", NULL, err,
                       sizeof err);
    if (c && !e)
        e = finish_cmd(c, PQsendPrepare(c, "list", SQL_LIST_ALL, 5, lt), dl, "prepare", NULL, err,
                       sizeof err);
    if (c && !e)
        e = finish_cmd(c, PQsendPrepare(c, "list_model", SQL_LIST_MODEL, 6, lt), dl, "prepare",
                       NULL, err, sizeof err);
    if (e) {
        PQfinish(c);
        r->backoff_ms = next_backoff(r->backoff_ms);
        r->retry_at_ns = deadline_in(r->backoff_ms);
        if (!atomic_exchange(&k->reads_down, true))
            log_warn("store: %s (reads fail until a read connection opens again)", err);
        return e;
    }
    if (atomic_exchange(&k->reads_down, false)) log_info("store: postgres: reads reconnected");
    r->c = c;
    r->backoff_ms = 0;
    r->retry_at_ns = 0;
    *fresh = true;
    return 0;
}

/* Hands the rows of res to fn. The result is binary, so every value is checked for the size
 * its type has: a column altered behind our back fails the read instead of misreading it. */
static int hand_rows(const PGresult *res, sink_row_fn fn, void *arg, int *nrows)
{
    *nrows = PQntuples(res);
    if (PQnfields(res) != 8) return -EPROTO;
    for (int j = 0; j < 8; j++)
        if (PQfformat(res, j) != 1 || PQftype(res, j) != read_types[j]) return -EPROTO;
    for (int i = 0; i < *nrows; i++) {
        if (PQgetlength(res, i, 0) != 16 || PQgetlength(res, i, 1) != 8 ||
            PQgetlength(res, i, 7) != 8 || PQgetisnull(res, i, 2))
            return -EPROTO;
        store_record_t row = {0};
        uuid_format((const uint8_t *)PQgetvalue(res, i, 0), row.id);
        row.ts_us = (int64_t)get_u64(PQgetvalue(res, i, 1)) + PG_EPOCH_US;
        row.model = PQgetvalue(res, i, 2);
        row.version = PQgetisnull(res, i, 3) ? NULL : PQgetvalue(res, i, 3);
        row.request_id = PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4);
        for (int j = 5; j <= 6; j++) {
            const char *v = NULL;
            size_t len = 0;
            if (!PQgetisnull(res, i, j)) {
                /* jsonb's binary form: a version byte (1), then the JSON text. */
                v = PQgetvalue(res, i, j);
                if (PQgetlength(res, i, j) < 1 || v[0] != 1) return -EPROTO;
                len = (size_t)PQgetlength(res, i, j) - 1;
                v++;
            }
            if (j == 5) {
                row.input_json = v;
                row.input_len = len;
            } else {
                row.output_json = v;
                row.output_len = len;
            }
        }
        uint64_t bits = get_u64(PQgetvalue(res, i, 7));
        memcpy(&row.latency_ms, &bits, 8);
        int r = fn(arg, &row);
        if (r) return r < 0 ? r : 0;
    }
    return 0;
}

/* Runs a prepared read and hands its rows to fn. A connection found broken is replaced and the
 * read tried once more: reads change nothing, and after a server restart every pooled
 * connection is dead, which clients should not see as one failed read per connection. */
static int run_read(sink_t *k, const char *stmt, int n, const char *const *vals, const int *lens,
                    sink_row_fn fn, void *arg, int *nrows)
{
    rconn_t *r = reader_acquire(k);
    int e;
    *nrows = 0;
    for (int attempt = 0;; attempt++) {
        bool fresh;
        e = reader_ready(k, r, &fresh);
        if (e) break;
        int fmts[6] = {1, 1, 1, 1, 1, 1};
        char err[256];
        PGresult *res = NULL;
        e = finish_cmd(r->c, PQsendQueryPrepared(r->c, stmt, n, vals, lens, fmts, 1),
                       deadline_in(IO_MS), stmt, &res, err, sizeof err);
        if (!e) {
            e = hand_rows(res, fn, arg, nrows);
            if (e == -EPROTO) log_error("store: postgres: inferences has unexpected column types");
        } else if (PQstatus(r->c) == CONNECTION_OK || e == -ETIMEDOUT) {
            log_warn("store: %s", err); /* a lost connection is retried, or logged at connect */
        }
        PQclear(res);
        if (e == -ETIMEDOUT || PQstatus(r->c) != CONNECTION_OK) {
            PQfinish(r->c); /* mid-protocol after a timeout: start over */
            r->c = NULL;
            if (e != -ETIMEDOUT) e = -ECONNRESET;
        }
        if (e != -ECONNRESET || fresh || attempt) break;
    }
    pthread_mutex_unlock(&r->mu);
    return e;
}

static int pg_newest_id(sink_t *k, const store_table_t *t, char *out)
{
    PGresult *res = NULL;
    char sql[160]; /* t->name is a checked identifier */
    snprintf(sql, sizeof sql, "SELECT id::text FROM %s ORDER BY id DESC LIMIT 1", t->name);
    /* PostgreSQL has no max(uuid); the primary key's index answers this from its last entry. */
    int e = exec_simple(k->w, sql, deadline_in(IO_MS), &res, NULL, 0);
    if (e) return e;
    if (PQntuples(res) == 1 && PQgetlength(res, 0, 0) == UUID_STRLEN)
        memcpy(out, PQgetvalue(res, 0, 0), UUID_STRLEN + 1);
    else
        e = -ENOENT;
    PQclear(res);
    return e;
}

static int pg_get(sink_t *k, const char *id, sink_row_fn fn, void *arg)
{
    uint8_t u[16];
    if (uuid_parse(id, u) != 32) return -ENOENT;
    const char *const vals[1] = {(const char *)u};
    int lens[1] = {16}, n = 0;
    int e = run_read(k, "get", 1, vals, lens, fn, arg, &n);
    return e ? e : n ? 0 : -ENOENT;
}

static void uuid_add(uint8_t u[16], int d, bool *wrapped)
{
    for (int i = 15; i >= 0; i--) {
        uint8_t old = u[i];
        u[i] = (uint8_t)(u[i] + d);
        if ((d > 0 && u[i] > old) || (d < 0 && u[i] < old)) return; /* no carry or borrow */
    }
    *wrapped = true;
}

/* Turns the store's exclusive text bounds on id into inclusive uuid bounds. For canonical ids
 * (lowercase hex), text order is uuid order, and for a bound made of the first digits of an id
 * (a millisecond prefix), id > "p" means id >= p000..., and id < "p" means id <= p000... - 1.
 * Returns false when no id can lie between them. */
static bool bounds_from(const sink_query_t *q, uint8_t lo[16], uint8_t hi[16], int *e)
{
    bool wrapped = false;
    *e = 0;
    int d = uuid_parse(q->id_after, lo);
    if (d < 0) {
        *e = -EINVAL;
        return false;
    }
    if (d == 32) uuid_add(lo, 1, &wrapped);
    if ((unsigned char)q->id_before[0] > 'f') {
        memset(hi, 0xff, 16);
    } else {
        d = uuid_parse(q->id_before, hi);
        if (d < 0) {
            *e = -EINVAL;
            return false;
        }
        uuid_add(hi, -1, &wrapped);
    }
    return !wrapped && memcmp(lo, hi, 16) <= 0;
}

static int pg_list(sink_t *k, const sink_query_t *q, sink_row_fn fn, void *arg)
{
    uint8_t lo[16], hi[16];
    int e;
    if (!bounds_from(q, lo, hi, &e)) return e;
    /* Names are stored as valid UTF-8, so one that is not matches nothing (and the server
     * would refuse it as a parameter). */
    if (q->model && !utf8_valid_text(q->model, strlen(q->model))) return 0;
    int64_t since = q->since_us, until = q->until_us;
    if (since > TS_CLAMP_US) since = TS_CLAMP_US;
    if (until > TS_CLAMP_US) until = TS_CLAMP_US;
    uint64_t since_be = htobe64((uint64_t)(since - PG_EPOCH_US));
    uint64_t until_be = htobe64((uint64_t)(until - PG_EPOCH_US));
    uint32_t limit_be = htobe32((uint32_t)q->limit);
    const char *const vals[6] = {(const char *)lo,        (const char *)hi,
                                 (const char *)&since_be, (const char *)&until_be,
                                 (const char *)&limit_be, q->model};
    int lens[6] = {16, 16, 8, 8, 4, q->model ? (int)strlen(q->model) : 0};
    int n;
    return run_read(k, q->model ? "list_model" : "list", q->model ? 6 : 5, vals, lens, fn, arg, &n);
}

/* SELECT of t's columns as text (a time as integer microseconds), after $1, $2 rows. */
static int scan_sql(const store_table_t *t, buf_t *b)
{
    int e = buf_puts(b, "SELECT ");
    for (int j = 0; j < t->ncols && !e; j++) {
        const char *n = t->cols[j].name, *sep = j ? "," : "";
        switch (t->cols[j].type) {
        case ST_TIME:
            e = buf_printf(b, "%sfloor(extract(epoch from %s) * 1000000)::int8::text", sep, n);
            break;
        default: e = buf_printf(b, "%s%s::text", sep, n);
        }
    }
    if (!e) e = buf_printf(b, " FROM %s WHERE id > $1::uuid ORDER BY id LIMIT $2::int4", t->name);
    return e;
}

/* One page of a table in text form on a read connection (scans are rare: at start). */
static int pg_scan(sink_t *k, const store_table_t *t, const char *after, int limit,
                   store_values_fn fn, void *arg, int *nrows)
{
    buf_t sql;
    buf_init(&sql);
    *nrows = 0;
    if (scan_sql(t, &sql)) return buf_deinit(&sql), -ENOMEM;
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *vals[2] = {*after ? after : "00000000-0000-0000-0000-000000000000", lim};
    rconn_t *r = reader_acquire(k);
    bool fresh;
    PGresult *res = NULL;
    char err[256] = "";
    int e = reader_ready(k, r, &fresh);
    if (!e)
        e = finish_cmd(r->c, PQsendQueryParams(r->c, sql.data, 2, NULL, vals, NULL, NULL, 0),
                       deadline_in(IO_MS), "scan", &res, err, sizeof err);
    if (e && r->c) {
        log_warn("store: %s", err);
        if (e == -ETIMEDOUT || PQstatus(r->c) != CONNECTION_OK) PQfinish(r->c), r->c = NULL;
    }
    int n = res ? PQntuples(res) : 0;
    if (!e && PQnfields(res) != t->ncols) e = -EPROTO;
    for (int i = 0; i < n && !e; i++) {
        store_value_t row[STORE_MAX_COLS];
        for (int j = 0; j < t->ncols; j++) {
            store_value_t *v = &row[j];
            *v = (store_value_t){.null = PQgetisnull(res, i, j)};
            const char *txt = v->null ? NULL : PQgetvalue(res, i, j);
            if (t->cols[j].type == ST_INT64 || t->cols[j].type == ST_TIME)
                v->i = txt ? strtoll(txt, NULL, 10) : 0;
            else if (t->cols[j].type == ST_FLOAT64)
                v->f = txt ? strtod(txt, NULL) : 0;
            else
                v->s = txt, v->len = txt ? (size_t)PQgetlength(res, i, j) : 0;
        }
        (*nrows)++;
        int rc = fn(arg, row);
        if (rc) {
            e = rc < 0 ? rc : 0;
            break;
        }
    }
    PQclear(res);
    pthread_mutex_unlock(&r->mu);
    buf_deinit(&sql);
    return e;
}

const sink_ops_t sink_pg_ops = {
    .scheme = "postgres",
    .open = pg_open,
    .migrate = pg_migrate,
    .write_batch = pg_write_batch,
    .write_dead = pg_write_dead,
    .applied_lsn = pg_applied_lsn,
    .set_applied = pg_set_applied,
    .newest_id = pg_newest_id,
    .get = pg_get,
    .list = pg_list,
    .scan = pg_scan,
    .close = pg_close,
};
