/* Store: the bounded record queue, the group-commit writer thread, and the JSON of the read path.
 *
 * Submitters copy their records into one allocation each (a "submission"), take ids under the
 * queue lock and append to a FIFO list, so queue order, id order and commit order are the same.
 * That is what lets keyset pagination on id never skip a record: a reader's snapshot always holds
 * every id below the largest it can see. The writer takes whole submissions from the head (up to
 * batch_max_records) and commits them in one transaction: requests that arrive while a commit is
 * in flight all ride on the next one, so under load many share one fsync. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "store/store.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/metrics.h"
#include "store/journal.h"
#include "store/predictions.h"
#include "store/sink.h"
#include "store/uuid7.h"
#include "util/clock.h"
#include "util/log.h"

#define DEF_QUEUE_RECORDS 65536
#define DEF_QUEUE_BYTES   ((size_t)256 << 20)
#define DEF_BATCH         4096
#define DEF_FLUSH_MS      50
#define DEF_FEED_BYTES    ((size_t)32 << 20)
#define DEF_READ_CONNS    4
#define DEF_BUSY_MS       5000
#define RETRY_MIN_MS      10          /* back-off after a failed commit, doubling ... */
#define RETRY_MAX_MS      1000        /* ... up to this */
#define CLOSE_ATTEMPTS    3           /* failed commits tolerated at close before giving up */
#define IDLE_CHECK_NS     1000000000u /* an idle writer asks the sink to check its files */
#define LIST_MAX          1000
/* since/until must map to a 48-bit millisecond id prefix (year 10889). */
#define TS_MAX_US (((INT64_C(1) << 48) - 1) * 1000)

static const sink_ops_t *const sinks[] = {&sink_sqlite_ops, &sink_pg_ops, &sink_null_ops};
#define NSINKS ((int)(sizeof sinks / sizeof sinks[0]))

/* ==== metrics ==== */

/* One set of series per sink kind, created on first open and kept for the process: stores may be
 * opened and closed repeatedly (tests do), and the registry has no way to remove a series. */
typedef struct store_metrics {
    metric_t *depth, *batch, *commit, *written, *errors, *rejected, *dropped, *refused, *dead;
    metric_t *jsync, *jbatch; /* journal mode: the writer's appends */
    metric_t *jreread;        /* journal mode: records the applier read back from the journal */
    _Atomic double window_s;
    _Atomic double healthy;              /* of the store opened last with this sink kind */
    _Atomic double jlag, jbytes, japply; /* journal: records not applied, segment bytes, 1/0 */
    _Atomic uint64_t joldest_ns;         /* journal: when the oldest unapplied record was
                                            journaled (CLOCK_MONOTONIC), 0 if none */
} store_metrics_t;

static pthread_mutex_t metrics_mu = PTHREAD_MUTEX_INITIALIZER;
static store_metrics_t *metrics_of[NSINKS];

/* Batch sizes are counts, but the registry's histograms take nanoseconds and print seconds, so a
 * batch of n records is observed as n "seconds" against these bounds. */
static const double batch_bounds[] = {1,   2,   4,    8,    16,   32,   64,    128,
                                      256, 512, 1024, 2048, 4096, 8192, 16384, 65536};

/* A gauge that reads one of store_metrics_t's atomics. */
static double atomic_gauge(void *arg)
{
    return atomic_load_explicit((_Atomic double *)arg, memory_order_relaxed);
}

/* Seconds since the oldest record the sink does not have yet was journaled. */
static double lag_seconds(void *arg)
{
    uint64_t t = atomic_load_explicit((_Atomic uint64_t *)arg, memory_order_relaxed);
    uint64_t now = clock_mono_ns();
    return t && now > t ? (double)(now - t) / 1e9 : 0.0;
}

static store_metrics_t *metrics_get(int sink_index, const char *scheme, int flush_ms)
{
    pthread_mutex_lock(&metrics_mu);
    store_metrics_t *m = metrics_of[sink_index];
    if (!m && (m = calloc(1, sizeof *m))) {
        char l[64];
        snprintf(l, sizeof l, "sink=\"%s\"", scheme);
        m->depth = metrics_series(
            metrics_family("inferd_store_queue_depth",
                           "Records accepted and not yet committed (in-flight batch included)",
                           METRIC_GAUGE, NULL, 0),
            l, false);
        m->batch = metrics_series(metrics_family("inferd_store_commit_batch_records",
                                                 "Records per committed transaction",
                                                 METRIC_HISTOGRAM, batch_bounds,
                                                 (int)(sizeof batch_bounds / sizeof *batch_bounds)),
                                  l, false);
        m->commit = metrics_series(
            metrics_family("inferd_store_commit_seconds",
                           "Time to write and commit one batch (fsync included)", METRIC_HISTOGRAM,
                           metrics_latency_buckets, metrics_latency_nbuckets),
            l, false);
        m->written = metrics_series(metrics_family("inferd_store_records_written_total",
                                                   "Records committed", METRIC_COUNTER, NULL, 0),
                                    l, false);
        m->errors = metrics_series(metrics_family("inferd_store_commit_errors_total",
                                                  "Failed transactions", METRIC_COUNTER, NULL, 0),
                                   l, false);
        m->rejected = metrics_series(
            metrics_family("inferd_store_rejected_total",
                           "Submissions refused because the queue was full (answered 503)",
                           METRIC_COUNTER, NULL, 0),
            l, false);
        m->dropped = metrics_series(
            metrics_family(
                "inferd_store_dropped_records_total",
                "Acknowledged (buffered) records lost: given up on at shutdown after repeated "
                "commit failures, or refused by the sink and by its dead-letter table",
                METRIC_COUNTER, NULL, 0),
            l, false);
        m->refused = metrics_series(
            metrics_family("inferd_store_refused_records_total",
                           "Records the sink refused for their data, alone in their own commit "
                           "(durable: answered 422; buffered: set aside as dead letters)",
                           METRIC_COUNTER, NULL, 0),
            l, false);
        m->dead = metrics_series(
            metrics_family("inferd_store_dead_letters_total",
                           "Refused buffered records written to the inferd_dead_letters table",
                           METRIC_COUNTER, NULL, 0),
            l, false);
        metrics_gauge_fn(metrics_family("inferd_store_healthy",
                                        "1 while the store can write; 0 while commits fail or "
                                        "the database is gone",
                                        METRIC_GAUGE, NULL, 0),
                         l, atomic_gauge, &m->healthy);
        metrics_gauge_fn(metrics_family("inferd_store_buffered_window_seconds",
                                        "Longest wait before buffered records are committed",
                                        METRIC_GAUGE, NULL, 0),
                         l, atomic_gauge, &m->window_s);
        m->jsync = metrics_series(
            metrics_family("inferd_journal_fsync_seconds",
                           "Journal mode: time to append one batch to the journal and fdatasync it "
                           "(what a durable request waits for)",
                           METRIC_HISTOGRAM, metrics_latency_buckets, metrics_latency_nbuckets),
            l, false);
        m->jbatch = metrics_series(
            metrics_family("inferd_journal_append_records",
                           "Journal mode: records per journal append", METRIC_HISTOGRAM,
                           batch_bounds, (int)(sizeof batch_bounds / sizeof *batch_bounds)),
            l, false);
        m->jreread = metrics_series(
            metrics_family("inferd_journal_reread_records_total",
                           "Journal mode: records the applier read back from the journal files "
                           "(after a restart, or when journal_feed_bytes had no room for them) "
                           "rather than from memory",
                           METRIC_COUNTER, NULL, 0),
            l, false);
        metrics_gauge_fn(metrics_family("inferd_journal_lag_records",
                                        "Journal mode: records journaled (acknowledged) and not "
                                        "yet applied to the sink",
                                        METRIC_GAUGE, NULL, 0),
                         l, atomic_gauge, &m->jlag);
        metrics_gauge_fn(metrics_family("inferd_journal_lag_seconds",
                                        "Journal mode: age of the oldest journaled record not "
                                        "yet applied to the sink (0 when none waits)",
                                        METRIC_GAUGE, NULL, 0),
                         l, lag_seconds, &m->joldest_ns);
        metrics_gauge_fn(metrics_family("inferd_journal_bytes",
                                        "Journal mode: size of the journal's live segments",
                                        METRIC_GAUGE, NULL, 0),
                         l, atomic_gauge, &m->jbytes);
        metrics_gauge_fn(metrics_family("inferd_journal_applying",
                                        "Journal mode: 1 while the sink takes the journal's "
                                        "records, 0 while applying fails (the journal grows)",
                                        METRIC_GAUGE, NULL, 0),
                         l, atomic_gauge, &m->japply);
        metrics_of[sink_index] = m;
    }
    pthread_mutex_unlock(&metrics_mu);
    if (m) {
        atomic_store_explicit(&m->window_s, flush_ms / 1000.0, memory_order_relaxed);
        atomic_store_explicit(&m->healthy, 1.0, memory_order_relaxed);
    }
    return m;
}

/* ==== queue ==== */

/* One store_submit call: its records and every byte they point to in one allocation, so it is
 * freed with one free() and its size counts exactly against queue_max_bytes. */
/* A submission's fate in the batch being written (set by the writer while it holds the batch). */
enum { SUB_PENDING, SUB_DONE, SUB_REFUSED, SUB_DEAD };

typedef struct sub {
    struct sub *next;
    durability_t dur;
    int state; /* SUB_*: PENDING until committed, refused (durable) or set aside (buffered) */
    char *why; /* SUB_REFUSED: the sink's words, for the done() callback */
    int n;
    void (*done)(void *arg, int status);
    void *arg;
    size_t bytes;
    size_t enc_bytes; /* journal mode: its rows' encoded bytes (table_row_size) */
    uint64_t enq_ns;
    uint64_t last_lsn;      /* journal mode: the LSN of its last record, once journaled */
    const store_table_t *t; /* every row of a submission is of one table */
    store_value_t vals[];   /* n rows of t->ncols values, then the ids and strings they hold */
} sub_t;

/* Row i of submission b. */
static inline const store_value_t *sub_row(const sub_t *b, int i)
{
    return &b->vals[(size_t)i * (size_t)b->t->ncols];
}

/* A row's id: its UUID column's text. */
static inline const char *row_id(const store_value_t *row)
{
    return row[0].s;
}

/* Whether a submission's done() waits for its records to be written. */
static inline bool waits(const sub_t *b)
{
    return b->dur >= DUR_DURABLE;
}

/* One journal append's records, as the journal holds them: n payloads back to back. */
typedef struct chunk {
    struct chunk *next;
    uint64_t first_lsn;
    int n;
    size_t bytes;   /* the whole allocation */
    uint32_t off[]; /* n + 1 payload offsets, n table ids (uint16_t), n group flags (bool: the
                       next record belongs to the same request), then the payloads */
} chunk_t;

static uint16_t *chunk_tables(const chunk_t *c)
{
    return (uint16_t *)&c->off[c->n + 1];
}

static bool *chunk_more(const chunk_t *c)
{
    return (bool *)(chunk_tables(c) + c->n);
}

static const unsigned char *chunk_data(const chunk_t *c)
{
    return (const unsigned char *)(chunk_more(c) + c->n);
}

struct store {
    const sink_ops_t *ops;
    sink_t *sink;
    store_opts_t o;
    store_metrics_t *m;
    const store_table_t *tables[STORE_MAX_TABLES]; /* table.c's, then o.tables */
    int ntables;

    pthread_mutex_t mu;
    pthread_cond_t wake;             /* the writer waits on it, with CLOCK_MONOTONIC deadlines */
    sub_t *head, *tail;              /* waiting submissions; ids increase from head to tail */
    size_t wait_records;             /* records in the list */
    size_t wait_durable;             /* durable submissions in the list */
    size_t used_records, used_bytes; /* list plus the batch in flight: what the bounds limit */
    uint64_t retry_at_ns;            /* after a failed commit, buffered work waits until then */
    bool closing;
    bool failing;  /* the last commit failed and is being retried */
    bool broken;   /* the sink said the database is gone for good (-ESTALE) */
    char why[256]; /* the failure, while failing or broken */
    void (*hook)(void *arg, const char *const *ids, int n);
    void *hook_arg;
    store_stats_t st;

    pthread_t writer;
    bool writer_started;
    /* Owned by the writer thread. */
    const store_value_t **batch; /* rows of one table (a sink writes one table at a time) */
    const char **ids;
    size_t batch_cap;
    sub_t **units; /* the submissions of the batch being written, in queue order */
    size_t units_cap;
    uint64_t w_commits, w_written, w_refused, w_dead, w_dropped; /* for settle() to add to st */
    char err[256];                                               /* the last failure's words */
    uint64_t backoff_ms;
    int close_failures;
    uint64_t last_err_log_ns;
    unsigned err_suppressed;
    uint64_t checked_ns; /* the last idle check */

    /* Journal mode (NULL jnl otherwise). Under mu unless said. */
    journal_t *jnl;
    pthread_t applier;
    bool applier_started;
    pthread_cond_t apply_wake; /* the applier waits on it (new records, closing) */
    uint64_t applied;          /* the sink holds every LSN up to it */
    uint64_t settled_next;     /* every LSN below it is journaled and settled: its append in the
                                  feed (or left to the journal). The applier applies below it,
                                  not below journal_next_lsn, which runs ahead between an append
                                  and its settle (a record read back from disk for nothing) */
    sub_t *await, *await_tail; /* committed submissions journaled, waiting for the sink */
    bool writer_done;          /* the writer has exited: nothing more will be journaled */
    bool apply_failing;
    bool apply_idle; /* the applier waits for records (the writer wakes it for the next) */
    int readers;     /* reads scanning the journal: release waits for them */
    uint64_t apply_retry_at_ns, apply_backoff_ms;
    uint64_t apply_due_ns; /* the next apply waits until then unless work presses (see below) */
    int apply_close_failures;
    unsigned char *enc; /* writer-owned: encoded records of a batch */
    size_t enc_cap;
    journal_rec_t *jrecs;
    size_t jrecs_cap;
    uint64_t jrecs_first; /* the first LSN of the last append */
    /* When each unapplied append was journaled, oldest first, for the lag in seconds. Under mu;
     * when full, the newest entry absorbs later appends (the age shown can only be too old). */
    struct {
        uint64_t last_lsn, ns;
    } jtimes[64];
    unsigned jt_head, jt_n;
    uint64_t w_jlast, w_jns; /* writer-owned: the last append's last LSN and time, for settle() */
    /* The feed: what the writer appended, kept in memory for the applier so that it need not
     * read the journal back (with direct writes that would be a read from the device). Chunks
     * in LSN order under mu, at most o.journal_feed_bytes; an append that does not fit is left
     * out and the applier reads those records from the journal. The writer links chunks at the
     * tail; only the applier unlinks and frees them. */
    struct chunk *feed, *feed_tail;
    size_t feed_bytes;
    struct chunk *w_chunk; /* writer-owned: the last append's chunk, until settle() links it */
    /* Applier-owned. */
    const store_table_t *a_table; /* of the batch read: a batch holds rows of one table */
    store_value_t *a_vals;        /* the batch's rows, decoded */
    size_t a_vals_cap;
    const store_value_t **a_ptrs;
    uint64_t *a_lsns;
    size_t a_cap;
    journal_cursor_t *a_cur; /* at applied + 1 between applies; NULL after a failure */
    unsigned char *a_raw;    /* the batch's payloads, back to back */
    size_t a_raw_cap;
    size_t *a_off;
    char *a_scratch;
    size_t a_scratch_cap;
    uint64_t a_done; /* the last LSN this apply call committed */
    bool a_resync;   /* under mu: read the sink's applied LSN before the next apply */
    char a_err[256];
};

static void journal_gauges(store_t *s);
static void note_journaled(store_t *s, uint64_t last_lsn, uint64_t ns);

/* Copies n bytes of p (plus a NUL) to *dst and advances it; NULL stays NULL. */
static const char *copy_str(char **dst, const char *p, size_t n)
{
    if (!p) return NULL;
    char *d = *dst;
    memcpy(d, p, n);
    d[n] = 0;
    *dst = d + n + 1;
    return d;
}

static void release(store_t *s, size_t records, size_t bytes)
{
    s->used_records -= records;
    s->used_bytes -= bytes;
    metric_add(s->m->depth, -(int64_t)records);
}

/* Whether s was opened with table t. */
static bool has_table(const store_t *s, const store_table_t *t)
{
    for (int k = 0; k < s->ntables; k++)
        if (s->tables[k] == t) return true;
    return false;
}

/* Bytes a row's strings take in a submission (the id excluded: it has its own slot). */
static size_t row_bytes(const store_table_t *t, const store_value_t *row, size_t max)
{
    size_t n = 0;
    for (int c = 1; c < t->ncols; c++) {
        store_type_t ty = t->cols[c].type;
        if ((ty == ST_TEXT || ty == ST_JSON) && row[c].s) {
            if (row[c].len > max) return SIZE_MAX;
            n += row[c].len + 1;
        }
    }
    return n;
}

int store_submit_rows(store_t *s, const store_table_t *t, store_value_t *rows, int n,
                      durability_t d, void (*done)(void *arg, int status), void *arg)
{
    if (n <= 0 || !rows || !t || !has_table(s, t)) return -EINVAL;
    const int nc = t->ncols;
    char why[160];
    for (int i = 0; i < n; i++)
        if (!rows[(size_t)i * nc].s || !table_row_check(t, &rows[(size_t)i * nc], why, sizeof why))
            return -EINVAL;
    if (d == DUR_COMMITTED && !s->jnl) d = DUR_DURABLE; /* the same without a journal */
    if (d == DUR_OFF) {
        /* Nothing is stored, but callers still get ids to return. */
        int64_t now = (int64_t)(clock_wall_ns() / 1000);
        for (int i = 0; i < n; i++) {
            store_value_t *row = &rows[(size_t)i * nc];
            int64_t ts = uuid7_next((char *)row[0].s, now);
            if (t->time_col >= 0) row[t->time_col].i = ts;
        }
        if (done) done(arg, 0);
        return 0;
    }
    if ((size_t)n > s->o.queue_max_records) return -EMSGSIZE;

    /* Size everything first: one allocation, and an early -EMSGSIZE for what can never fit. */
    size_t max = s->o.queue_max_bytes;
    size_t bytes =
        sizeof(sub_t) + (size_t)n * ((size_t)nc * sizeof(store_value_t) + UUID_STRLEN + 1);
    for (int i = 0; i < n && bytes <= max; i++) {
        size_t rb = row_bytes(t, &rows[(size_t)i * nc], max);
        bytes = rb == SIZE_MAX ? SIZE_MAX : bytes + rb;
    }
    if (bytes > max) return -EMSGSIZE;
    size_t enc_bytes = 0;
    if (s->jnl) { /* a submission is one append: it must fit in one journal segment */
        size_t framed = 0;
        for (int i = 0; i < n; i++) {
            size_t len = table_row_size(t, &rows[(size_t)i * nc]);
            enc_bytes += len;
            framed += journal_frame_bytes(len);
        }
        if (framed > journal_segment_room(s->jnl)) return -EMSGSIZE;
    }

    sub_t *b = malloc(bytes);
    if (!b) return -ENOMEM;
    *b = (sub_t){.dur = d,
                 .state = SUB_PENDING,
                 .t = t,
                 .n = n,
                 .done = done,
                 .arg = arg,
                 .bytes = bytes,
                 .enc_bytes = enc_bytes};
    char *p = (char *)&b->vals[(size_t)n * nc];
    for (int i = 0; i < n; i++) {
        const store_value_t *r = &rows[(size_t)i * nc];
        store_value_t *c = &b->vals[(size_t)i * nc];
        memcpy(c, r, (size_t)nc * sizeof *c);
        c[0] = (store_value_t){.s = p, .len = UUID_STRLEN}; /* filled under the lock */
        p += UUID_STRLEN + 1;
        for (int k = 1; k < nc; k++) {
            store_type_t ty = t->cols[k].type;
            if ((ty == ST_TEXT || ty == ST_JSON) && r[k].s) c[k].s = copy_str(&p, r[k].s, r[k].len);
        }
    }

    pthread_mutex_lock(&s->mu);
    if (s->closing || s->broken) {
        int e = s->closing ? -ESHUTDOWN : -ESTALE;
        pthread_mutex_unlock(&s->mu);
        free(b);
        return e;
    }
    if (d == DUR_COMMITTED && s->apply_failing) { /* fail fast while the sink is down */
        s->st.rejected++;
        pthread_mutex_unlock(&s->mu);
        free(b);
        return -EAGAIN;
    }
    if (s->used_records + (size_t)n > s->o.queue_max_records ||
        s->used_bytes + bytes > s->o.queue_max_bytes) {
        s->st.rejected++;
        pthread_mutex_unlock(&s->mu);
        free(b);
        metric_add(s->m->rejected, 1);
        return -EAGAIN;
    }
    /* Ids are taken under the queue lock so that id order is queue order (see the top). */
    int64_t now = (int64_t)(clock_wall_ns() / 1000);
    b->enq_ns = clock_mono_ns();
    for (int i = 0; i < n; i++) {
        store_value_t *c = &b->vals[(size_t)i * nc], *r = &rows[(size_t)i * nc];
        int64_t ts = uuid7_next((char *)c[0].s, now);
        memcpy((char *)r[0].s, c[0].s, UUID_STRLEN + 1);
        if (t->time_col >= 0) c[t->time_col].i = r[t->time_col].i = ts;
    }
    bool was_empty = !s->head;
    if (s->tail)
        s->tail->next = b;
    else
        s->head = b;
    s->tail = b;
    s->wait_records += (size_t)n;
    s->used_records += (size_t)n;
    s->used_bytes += bytes;
    if (waits(b)) s->wait_durable++;
    /* The writer sleeps without a deadline only on an empty list, and otherwise until the head's
     * buffered deadline, which a later buffered submission does not move. The signal follows
     * the unlock, or the woken writer would at once block on the lock this thread still holds
     * (a third of the writer's context switches at wrk -c50). */
    bool wake = waits(b) || was_empty || s->wait_records >= (size_t)s->o.batch_max_records;
    pthread_mutex_unlock(&s->mu);
    if (wake) pthread_cond_signal(&s->wake);
    metric_add(s->m->depth, n);

    if (d < DUR_DURABLE && done) done(arg, 0); /* b may be freed by now: not b->dur */
    return 0;
}

int store_submit(store_t *s, store_record_t *recs, int n, durability_t d,
                 void (*done)(void *arg, int status), void *arg)
{
    if (n <= 0 || !recs) return -EINVAL;
    store_value_t small[4 * PRED_NCOLS];
    store_value_t *rows = n <= 4 ? small : malloc((size_t)n * PRED_NCOLS * sizeof *rows);
    if (!rows) return -ENOMEM;
    for (int i = 0; i < n; i++) {
        store_value_t *row = &rows[(size_t)i * PRED_NCOLS];
        predictions_row(&recs[i], row); /* its id column points at recs[i].id, filled there */
    }
    int rc = store_submit_rows(s, &store_table_predictions, rows, n, d, done, arg);
    for (int i = 0; rc == 0 && i < n; i++) /* set before done() in rows; in recs only now */
        recs[i].ts_us = rows[(size_t)i * PRED_NCOLS + PRED_TS_US].i;
    if (rows != small) free(rows);
    return rc;
}

/* ==== writer ==== */

/* Logs a writer failure: the first, then at most one line a second, since a broken disk or a
 * flood of refused records fails every attempt. */
static void log_limited(store_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_limited(store_t *s, const char *fmt, ...)
{
    uint64_t now = clock_mono_ns();
    if (s->last_err_log_ns && now - s->last_err_log_ns < 1000000000u) {
        s->err_suppressed++;
        return;
    }
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_error("%s%s", line, s->err_suppressed ? " (and earlier failures not logged)" : "");
    s->last_err_log_ns = now;
    s->err_suppressed = 0;
}

/* Makes room for n record pointers in the batch arrays. */
static int batch_room(store_t *s, size_t n)
{
    if (n <= s->batch_cap) return 0;
    const store_value_t **nb = realloc(s->batch, n * sizeof *nb);
    if (nb) s->batch = nb;
    const char **ni = nb ? realloc(s->ids, n * sizeof *ni) : NULL;
    if (ni) s->ids = ni;
    if (!nb || !ni) return -ENOMEM;
    s->batch_cap = n;
    return 0;
}

/* Journal mode: appends the s->batch records (nrec, bytes once encoded) to the journal with one
 * durable write; sets s->jrecs_first. The journal takes any bytes, so -EBADMSG comes only from a
 * submission bigger than a segment; a failed write stops acknowledgements for good (-ESTALE, as
 * a sink whose database is gone). */
static int journal_units(store_t *s, sub_t **u, size_t lo, size_t hi, size_t nrec, size_t bytes)
{
    if (bytes > s->enc_cap) {
        unsigned char *e = realloc(s->enc, bytes);
        if (!e) return snprintf(s->err, sizeof s->err, "out of memory"), -ENOMEM;
        s->enc = e, s->enc_cap = bytes;
    }
    if (nrec > s->jrecs_cap) {
        journal_rec_t *r = realloc(s->jrecs, nrec * sizeof *r);
        if (!r) return snprintf(s->err, sizeof s->err, "out of memory"), -ENOMEM;
        s->jrecs = r, s->jrecs_cap = nrec;
    }
    size_t off = 0, i = 0;
    for (size_t k = lo; k < hi; k++) /* a submission's records are one group: all or none */
        for (int r = 0; r < u[k]->n; r++, i++) {
            size_t n = table_row_encode(u[k]->t, sub_row(u[k], r), s->enc + off);
            s->jrecs[i] = (journal_rec_t){u[k]->t->id, s->enc + off, n, r + 1 < u[k]->n};
            off += n;
        }
    int rc = journal_append(s->jnl, s->jrecs, (int)nrec, &s->jrecs_first, s->err, sizeof s->err);
    if (rc == -EMSGSIZE) return -EBADMSG;
    if (rc == -ENOBUFS || rc == -ENOSPC || rc == -ENOMEM) return rc;
    return rc ? -ESTALE : 0;
}

/* Copies the last append (s->jrecs, nrec records from s->jrecs_first) into s->w_chunk for the
 * feed; without memory, or when the feed is full anyway, there is simply no chunk. */
static void make_chunk(store_t *s, size_t nrec)
{
    size_t payload = 0;
    for (size_t i = 0; i < nrec; i++) payload += s->jrecs[i].len;
    size_t bytes = sizeof(chunk_t) + (nrec + 1) * sizeof(uint32_t) +
                   nrec * (sizeof(uint16_t) + sizeof(bool)) + payload;
    free(s->w_chunk); /* an earlier one settle() did not take: cannot happen, but never leak */
    s->w_chunk = NULL;
    if (payload > UINT32_MAX || bytes > s->o.journal_feed_bytes) return;
    chunk_t *c = malloc(bytes);
    if (!c) return;
    c->next = NULL;
    c->first_lsn = s->jrecs_first;
    c->n = (int)nrec;
    c->bytes = bytes;
    unsigned char *d = (unsigned char *)chunk_data(c);
    uint32_t o = 0;
    for (size_t i = 0; i < nrec; i++) {
        chunk_tables(c)[i] = s->jrecs[i].table;
        chunk_more(c)[i] = s->jrecs[i].more;
        c->off[i] = o;
        memcpy(d + o, s->jrecs[i].data, s->jrecs[i].len);
        o += (uint32_t)s->jrecs[i].len;
    }
    c->off[nrec] = o;
    s->w_chunk = c;
}

/* Writes the submissions u[lo, hi) in one transaction and marks them SUB_DONE if it commits.
 * Returns 0, -EBADMSG when the sink refused a record for its data (retrying the same
 * transaction would fail again), or another -errno (transient). Called unlocked. */
static int write_units(store_t *s, sub_t **u, size_t lo, size_t hi)
{
    size_t nrec = 0, enc_bytes = 0;
    for (size_t k = lo; k < hi; k++) nrec += (size_t)u[k]->n, enc_bytes += u[k]->enc_bytes;
    int rc = batch_room(s, nrec);
    if (rc) {
        snprintf(s->err, sizeof s->err, "out of memory");
        return rc;
    }
    size_t i = 0;
    for (size_t k = lo; k < hi; k++) {
        for (int j = 0; j < u[k]->n; j++, i++) {
            s->batch[i] = sub_row(u[k], j);
            s->ids[i] = row_id(s->batch[i]);
        }
    }
    s->err[0] = 0;
    uint64_t t0 = clock_mono_ns();
    /* Without a journal a batch holds one table's rows (writer_main cuts it there). */
    rc = s->jnl
             ? journal_units(s, u, lo, hi, nrec, enc_bytes)
             : s->ops->write_batch(s->sink, u[lo]->t, s->batch, (int)nrec, s->err, sizeof s->err);
    uint64_t dt = clock_mono_ns() - t0;
    if (rc == 0 && s->jnl) { /* the sink's counters move when the applier commits */
        metric_observe_ns(s->m->jsync, dt);
        metric_observe_ns(s->m->jbatch, (uint64_t)nrec * 1000000000u);
        uint64_t lsn = s->jrecs_first;
        for (size_t k = lo; k < hi; k++) {
            lsn += (uint64_t)u[k]->n;
            u[k]->last_lsn = lsn - 1; /* a committed submission is answered once it is applied */
            u[k]->state = SUB_DONE;
        }
        s->w_jlast = lsn - 1;
        s->w_jns = clock_mono_ns();
        make_chunk(s, nrec);
        return 0;
    }
    if (rc == 0) {
        metric_observe_ns(s->m->commit, dt);
        metric_observe_ns(s->m->batch, (uint64_t)nrec * 1000000000u);
        metric_add(s->m->written, (int64_t)nrec);
        s->w_commits++;
        s->w_written += nrec;
        for (size_t k = lo; k < hi; k++) u[k]->state = SUB_DONE;
        return 0;
    }
    metric_add(s->m->errors, 1);
    if (!s->err[0]) snprintf(s->err, sizeof s->err, "%s", strerror(-rc));
    if (rc != -EBADMSG)
        log_limited(s, "store: commit of %zu records failed (%s): %s", nrec, strerror(-rc), s->err);
    return rc;
}

/* A submission that fails alone for its data. Durable: refused, its request hears why (422).
 * Buffered (already acknowledged): its records go to the sink's dead-letter table, or are
 * counted as lost if even that refuses them. 0, or a transient -errno from the dead-letter
 * write (the submission then stays pending and is tried again). */
static int set_aside(store_t *s, sub_t *b)
{
    char why[256];
    snprintf(why, sizeof why, "%s", s->err);
    s->w_refused += (uint64_t)b->n;
    metric_add(s->m->refused, b->n);
    if (waits(b)) {
        b->state = SUB_REFUSED;
        b->why = strdup(why); /* NULL is read as no reason */
        log_limited(s, "store: %d row(s) of %s refused by the sink: %s (answered 422)", b->n,
                    b->t->name, why);
        return 0;
    }
    int rc = batch_room(s, (size_t)b->n);
    for (int j = 0; !rc && j < b->n; j++) s->batch[j] = sub_row(b, j);
    char err[256] = "";
    if (!rc)
        rc = s->ops->write_dead
                 ? s->ops->write_dead(s->sink, b->t, s->batch, b->n, why, err, sizeof err)
                 : -EBADMSG;
    if (rc && rc != -EBADMSG) {
        snprintf(s->err, sizeof s->err, "dead-letter write: %.200s", err[0] ? err : strerror(-rc));
        log_limited(s, "store: %s", s->err);
        return rc;
    }
    b->state = SUB_DEAD;
    if (rc == 0) {
        s->w_dead += (uint64_t)b->n;
        metric_add(s->m->dead, b->n);
        log_limited(s,
                    "store: %d buffered row(s) of %s refused by the sink: %s; set aside as dead "
                    "letters (first id %s)",
                    b->n, b->t->name, why, row_id(sub_row(b, 0)));
    } else {
        s->w_dropped += (uint64_t)b->n;
        metric_add(s->m->dropped, b->n);
        log_error("store: %d acknowledged row(s) of %s lost: the sink refused them (%s) and so "
                  "did its dead-letter table (%s); first id %s",
                  b->n, b->t->name, why, err[0] ? err : "none", row_id(sub_row(b, 0)));
    }
    return 0;
}

/* Writes u[lo, hi). When the sink refuses the data, bisects so that every submission that can
 * commit does, and the refused ones end alone (set_aside). Halves go left first, so commits stay
 * in id order and what is resolved is always a prefix of the batch. 0, or the first transient
 * -errno (later submissions are then left pending). */
static int write_bisect(store_t *s, sub_t **u, size_t lo, size_t hi)
{
    int rc = write_units(s, u, lo, hi);
    if (rc != -EBADMSG) return rc;
    if (hi - lo == 1) return set_aside(s, u[lo]);
    size_t mid = lo + (hi - lo) / 2;
    rc = write_bisect(s, u, lo, mid);
    return rc ? rc : write_bisect(s, u, mid, hi);
}

/* Writes one batch (the list from first, nsub submissions). Called unlocked. */
static int write_batch(store_t *s, sub_t *first, size_t nsub)
{
    if (nsub > s->units_cap) {
        sub_t **nu = realloc(s->units, nsub * sizeof *nu);
        if (!nu) {
            snprintf(s->err, sizeof s->err, "out of memory");
            return -ENOMEM;
        }
        s->units = nu;
        s->units_cap = nsub;
    }
    size_t k = 0;
    for (sub_t *b = first; b; b = b->next) s->units[k++] = b;
    return write_bisect(s, s->units, 0, nsub);
}

static _Thread_local const char *done_reason;

const char *store_done_reason(void)
{
    return done_reason ? done_reason : "";
}

/* Runs the durable callbacks of a list of finished submissions, then frees them: status for
 * those still pending, 0 for committed ones, -EBADMSG for refused ones. */
static void finish(sub_t *list, int status)
{
    for (sub_t *b = list, *next; b; b = next) {
        next = b->next;
        if (waits(b) && b->done) {
            int st = b->state == SUB_DONE ? 0 : b->state == SUB_REFUSED ? -EBADMSG : status;
            done_reason = b->state == SUB_REFUSED ? b->why : NULL;
            b->done(b->arg, st);
            done_reason = NULL;
        }
        free(b->why);
        free(b);
    }
}

/* After a commit attempt: durable submissions get their ack or failure, committed (or set
 * aside) buffered ones are freed, and pending buffered ones (already acknowledged, so they must
 * not be lost) go back to the head of the list, in order, for the next attempt. Called with the
 * lock held; drops it around the callbacks so that done() may call store_submit. */
static void settle(store_t *s, sub_t *first, int rc)
{
    sub_t *fin = NULL, **fin_tail = &fin, *keep = NULL, *keep_last = NULL, *lost = NULL;
    size_t fin_records = 0, fin_bytes = 0, keep_records = 0, dropped = 0;
    for (sub_t *b = first, *next; b; b = next) {
        next = b->next;
        b->next = NULL;
        if (b->state == SUB_PENDING && !waits(b)) {
            if (keep_last)
                keep_last->next = b;
            else
                keep = b;
            keep_last = b;
            keep_records += (size_t)b->n;
        } else if (s->jnl && b->dur == DUR_COMMITTED && b->state == SUB_DONE) {
            /* Journaled: answered when the applier has committed it to the sink. */
            if (s->await_tail)
                s->await_tail->next = b;
            else
                s->await = b;
            s->await_tail = b;
        } else {
            *fin_tail = b;
            fin_tail = &b->next;
            fin_records += (size_t)b->n;
            fin_bytes += b->bytes;
        }
    }
    /* Capacity comes back before the callbacks run, so a client acked now can submit again at
     * once. */
    release(s, fin_records, fin_bytes);
    s->st.commits += s->w_commits;
    s->st.records_written += s->w_written;
    s->st.refused += s->w_refused;
    s->st.dead_letters += s->w_dead;
    s->st.dropped += s->w_dropped;
    s->w_commits = s->w_written = s->w_refused = s->w_dead = s->w_dropped = 0;
    uint64_t jlast = s->w_jlast;
    if (s->w_jlast) {
        note_journaled(s, s->w_jlast, s->w_jns);
        s->w_jlast = 0;
    }
    if (s->w_chunk) {
        chunk_t *c = s->w_chunk;
        s->w_chunk = NULL;
        if (s->feed_bytes + c->bytes <= s->o.journal_feed_bytes) {
            if (s->feed_tail)
                s->feed_tail->next = c;
            else
                s->feed = c;
            s->feed_tail = c;
            s->feed_bytes += c->bytes;
        } else {
            free(c); /* the applier reads these from the journal */
        }
    }
    if (jlast) s->settled_next = jlast + 1;
    /* The hook sees the committed ids in order, after their capacity came back (tests rely on
     * both). batch_room() made ids big enough for the whole batch before anything committed. */
    size_t nids = 0;
    for (sub_t *b = fin; b; b = b->next)
        for (int j = 0; b->state == SUB_DONE && j < b->n; j++)
            s->ids[nids++] = row_id(sub_row(b, j));
    void (*hook)(void *, const char *const *, int) = s->hook;
    void *hook_arg = s->hook_arg;
    if (rc == 0) {
        s->backoff_ms = 0;
        s->close_failures = 0;
        s->retry_at_ns = 0;
        s->failing = false;
        if (s->jnl) {
            journal_gauges(s);
            /* The applier sleeps until its next apply is due (see applier_main); waking it for
             * every append cost a context switch each, thousands a second, for nothing. */
            if (s->apply_idle || s->await ||
                journal_next_lsn(s->jnl) - 1 - s->applied >= (uint64_t)s->o.batch_max_records)
                pthread_cond_signal(&s->apply_wake);
        }
    } else {
        s->st.commit_errors++;
        s->failing = true;
        if (rc == -ESTALE && !s->broken) {
            s->broken = true;
            log_error("store: stopped acknowledging records: %s", s->err);
        }
        snprintf(s->why, sizeof s->why, "%s", s->err);
        if (keep) {
            /* Back in front of anything queued meanwhile: their ids are all larger. */
            keep_last->next = s->head;
            s->head = keep;
            if (!s->tail) s->tail = keep_last;
            s->wait_records += keep_records;
            /* Durable submissions queued behind them cannot commit before them, and they just
             * failed: answer those now. Left queued, they would wait as long as the sink stays
             * down, since with a batch's worth of buffered records in front none would ever
             * be in the batch that is tried. */
            size_t out_records = 0, out_bytes = 0;
            for (sub_t *prev = keep_last, *b = prev->next, *next; b; b = next) {
                next = b->next;
                if (!waits(b)) {
                    prev = b;
                    continue;
                }
                prev->next = next;
                if (s->tail == b) s->tail = prev;
                b->next = NULL;
                *fin_tail = b;
                fin_tail = &b->next;
                out_records += (size_t)b->n;
                out_bytes += b->bytes;
                s->wait_records -= (size_t)b->n;
                s->wait_durable--;
            }
            release(s, out_records, out_bytes);
        }
        s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : RETRY_MIN_MS;
        if (s->backoff_ms > RETRY_MAX_MS) s->backoff_ms = RETRY_MAX_MS;
        s->retry_at_ns = clock_mono_ns() + s->backoff_ms * 1000000u;
        if (s->closing && ++s->close_failures >= CLOSE_ATTEMPTS) {
            /* Shutting down and the sink keeps failing: fail what is durable, count and log
             * what was buffered, and let the process exit rather than hang. */
            lost = s->head;
            size_t lost_records = 0, lost_bytes = 0;
            for (sub_t *b = lost; b; b = b->next) {
                lost_records += (size_t)b->n;
                lost_bytes += b->bytes;
                if (!waits(b)) dropped += (size_t)b->n;
            }
            s->head = s->tail = NULL;
            s->wait_records = s->wait_durable = 0;
            s->st.dropped += dropped;
            release(s, lost_records, lost_bytes);
        }
    }
    atomic_store_explicit(&s->m->healthy, s->failing || s->broken ? 0.0 : 1.0,
                          memory_order_relaxed);
    pthread_mutex_unlock(&s->mu);

    if (nids && hook) hook(hook_arg, s->ids, (int)nids);
    finish(fin, rc);
    if (dropped) {
        log_error("store: giving up at shutdown after %d failed commits: %zu buffered records "
                  "were not written",
                  CLOSE_ATTEMPTS, dropped);
        metric_add(s->m->dropped, (int64_t)dropped);
    }
    finish(lost, rc);
    pthread_mutex_lock(&s->mu);
}

static void wait_until_cv(pthread_cond_t *cv, pthread_mutex_t *mu, uint64_t due_ns)
{
    struct timespec ts = {.tv_sec = (time_t)(due_ns / 1000000000u),
                          .tv_nsec = (long)(due_ns % 1000000000u)};
    pthread_cond_timedwait(cv, mu, &ts);
}

static void wait_until(store_t *s, uint64_t due_ns)
{
    wait_until_cv(&s->wake, &s->mu, due_ns);
}

/* The last commit failed and nothing waits to be retried, yet readiness says the store cannot
 * write: a node taken out of its load balancer for that would never get the request that
 * clears it. So the idle writer tries an empty commit (BEGIN and COMMIT, or a reconnect and an
 * INSERT of no rows) at the back-off's pace until one works. Called and returns locked. */
static void probe(store_t *s)
{
    if (clock_mono_ns() < s->retry_at_ns) {
        wait_until(s, s->retry_at_ns);
        return; /* woken by a submission, perhaps: the caller looks again */
    }
    if (s->jnl) {
        /* The sink's connection belongs to the applier; a full journal or disk clears only by
         * appending, so readiness comes back and the next append tells. */
        s->failing = false;
        atomic_store_explicit(&s->m->healthy, s->broken ? 0.0 : 1.0, memory_order_relaxed);
        return;
    }
    pthread_mutex_unlock(&s->mu);
    char err[256] = "";
    int rc = s->ops->write_batch(s->sink, s->tables[0], s->batch, 0, err, sizeof err);
    pthread_mutex_lock(&s->mu);
    if (rc == 0) {
        log_info("store: commits work again");
        s->failing = false;
        s->backoff_ms = 0;
        s->retry_at_ns = 0;
    } else {
        snprintf(s->why, sizeof s->why, "%s", err[0] ? err : strerror(-rc));
        if (rc == -ESTALE && !s->broken) {
            s->broken = true;
            log_error("store: stopped acknowledging records: %s", s->why);
        }
        s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : RETRY_MIN_MS;
        if (s->backoff_ms > RETRY_MAX_MS) s->backoff_ms = RETRY_MAX_MS;
        s->retry_at_ns = clock_mono_ns() + s->backoff_ms * 1000000u;
    }
    atomic_store_explicit(&s->m->healthy, s->failing || s->broken ? 0.0 : 1.0,
                          memory_order_relaxed);
}

/* While idle, about once a second: asks the sink whether its database is still there, so that
 * a file deleted between commits is reported (and a deleted WAL saved) without waiting for the
 * next commit: a kill -9 before it would lose what the WAL held. Called and returns locked. */
static void idle_check(store_t *s)
{
    if (s->jnl) { /* the sink's connection belongs to the applier */
        pthread_cond_wait(&s->wake, &s->mu);
        return;
    }
    uint64_t due = s->checked_ns + IDLE_CHECK_NS;
    if (clock_mono_ns() < due) {
        wait_until(s, due);
        return;
    }
    pthread_mutex_unlock(&s->mu);
    char err[256] = "";
    int rc = s->ops->check(s->sink, err, sizeof err);
    pthread_mutex_lock(&s->mu);
    s->checked_ns = clock_mono_ns();
    if (rc == -ESTALE && !s->broken) {
        snprintf(s->why, sizeof s->why, "%s", err);
        s->broken = s->failing = true;
        log_error("store: stopped acknowledging records: %s", s->why);
        atomic_store_explicit(&s->m->healthy, 0.0, memory_order_relaxed);
    }
}

static void *writer_main(void *arg)
{
    store_t *s = arg;
    const size_t batch_max = (size_t)s->o.batch_max_records;
    const uint64_t window_ns = (uint64_t)s->o.flush_interval_ms * 1000000u;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (!s->head) {
            if (s->closing) break;
            if (s->failing && !s->broken) {
                probe(s);
                continue;
            }
            if (s->ops->check && !s->broken) {
                idle_check(s);
                continue;
            }
            pthread_cond_wait(&s->wake, &s->mu);
            continue;
        }
        /* Durable work goes now (a durable request waits for nothing but the writer), and so
         * does a full batch; buffered work waits for its window, and after a failure for the
         * back-off too, so a broken disk is not hammered. */
        uint64_t due = 0;
        if (!s->wait_durable) {
            if (!s->closing && s->wait_records < batch_max) due = s->head->enq_ns + window_ns;
            if (s->retry_at_ns > due) due = s->retry_at_ns;
        }
        if (due && clock_mono_ns() < due) {
            wait_until(s, due);
            continue;
        }
        /* Whole submissions only: a request's records commit together or not at all. Without
         * a journal a sink writes one table per transaction, so a batch ends where the table
         * changes; the journal takes any mix. */
        sub_t *first = s->head, *last = NULL;
        size_t nrec = 0, nsub = 0;
        while (s->head && (nrec == 0 || (nrec + (size_t)s->head->n <= batch_max &&
                                         (s->jnl || s->head->t == first->t)))) {
            last = s->head;
            s->head = last->next;
            nrec += (size_t)last->n;
            nsub++;
            if (waits(last)) s->wait_durable--;
        }
        last->next = NULL;
        if (!s->head) s->tail = NULL;
        s->wait_records -= nrec;
        pthread_mutex_unlock(&s->mu);

        int rc = write_batch(s, first, nsub);

        pthread_mutex_lock(&s->mu);
        settle(s, first, rc);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ==== applier (journal mode) ==== */

/* Remembers when the records up to last_lsn were journaled. Called locked. */
static void note_journaled(store_t *s, uint64_t last_lsn, uint64_t ns)
{
    const unsigned cap = (unsigned)(sizeof s->jtimes / sizeof *s->jtimes);
    if (s->jt_n == cap) {
        s->jtimes[(s->jt_head + cap - 1) % cap].last_lsn = last_lsn;
        return;
    }
    unsigned i = (s->jt_head + s->jt_n++) % cap;
    s->jtimes[i].last_lsn = last_lsn;
    s->jtimes[i].ns = ns;
}

/* Refreshes the journal gauges. Called locked. */
static void journal_gauges(store_t *s)
{
    const unsigned cap = (unsigned)(sizeof s->jtimes / sizeof *s->jtimes);
    while (s->jt_n && s->jtimes[s->jt_head].last_lsn <= s->applied) {
        s->jt_head = (s->jt_head + 1) % cap;
        s->jt_n--;
    }
    atomic_store_explicit(&s->m->joldest_ns, s->jt_n ? s->jtimes[s->jt_head].ns : 0,
                          memory_order_relaxed);
    journal_stats_t js;
    journal_stats(s->jnl, &js);
    atomic_store_explicit(&s->m->jlag, (double)(js.next_lsn - 1 - s->applied),
                          memory_order_relaxed);
    atomic_store_explicit(&s->m->jbytes, (double)js.bytes, memory_order_relaxed);
    atomic_store_explicit(&s->m->japply, s->apply_failing ? 0.0 : 1.0, memory_order_relaxed);
}

/* Releases the journal up to the applied LSN unless a read is scanning it. Called locked. */
static void release_applied(store_t *s)
{
    if (!s->readers) journal_release(s->jnl, s->applied + 1);
}

/* The applier's counters: a metric and its store_stats field (which is under mu). */
static void count(store_t *s, metric_t *m, uint64_t *stat, uint64_t n)
{
    metric_add(m, (int64_t)n);
    pthread_mutex_lock(&s->mu);
    *stat += n;
    pthread_mutex_unlock(&s->mu);
}

/* The table with this journal id among s's, or NULL. */
static const store_table_t *table_of(const store_t *s, uint16_t id)
{
    for (int k = 0; k < s->ntables; k++)
        if (s->tables[k]->id == id) return s->tables[k];
    return NULL;
}

/* Whether record n (of table id) belongs in the batch being read: a batch holds one table's
 * rows. Sets a_table from the first; -EBADMSG for a table this store does not have. */
static int apply_same_table(store_t *s, size_t n, uint64_t lsn, uint16_t id)
{
    if (n && s->a_table->id == id) return 1;
    if (n) return 0;
    if (!(s->a_table = table_of(s, id))) {
        const store_table_t *t = store_table_by_id(id);
        snprintf(s->a_err, sizeof s->a_err,
                 "journal LSN %llu: a record of table %u (%s), which this store does not apply",
                 (unsigned long long)lsn, id,
                 t ? t->name : "unknown to this build: written by a newer inferd?");
        return -EBADMSG;
    }
    return 1;
}

/* Appends record n (its LSN and payload) to the batch being read: a_raw, a_off, a_lsns (grown
 * as needed: a request larger than a batch is still applied whole). */
static int apply_take(store_t *s, size_t n, size_t *raw, uint64_t lsn, const void *p, size_t len)
{
    if (n + 1 > s->a_cap) {
        size_t cap = s->a_cap ? s->a_cap * 2 : (size_t)s->o.batch_max_records;
        const store_value_t **q = realloc(s->a_ptrs, cap * sizeof *q);
        if (q) s->a_ptrs = q;
        uint64_t *l = q ? realloc(s->a_lsns, cap * sizeof *l) : NULL;
        if (l) s->a_lsns = l;
        size_t *o = l ? realloc(s->a_off, (cap + 1) * sizeof *o) : NULL;
        if (o) s->a_off = o;
        if (!o) return snprintf(s->a_err, sizeof s->a_err, "out of memory"), -ENOMEM;
        s->a_cap = cap;
    }
    if (*raw + len > s->a_raw_cap) {
        size_t cap = s->a_raw_cap ? s->a_raw_cap : 1u << 16;
        while (cap < *raw + len) cap *= 2;
        unsigned char *b = realloc(s->a_raw, cap);
        if (!b) return snprintf(s->a_err, sizeof s->a_err, "out of memory"), -ENOMEM;
        s->a_raw = b, s->a_raw_cap = cap;
    }
    memcpy(s->a_raw + *raw, p, len);
    s->a_off[n] = *raw;
    s->a_lsns[n] = lsn;
    *raw += len;
    return 0;
}

/* Reads the next batch from LSN from and decodes it into a_table/a_ptrs/a_lsns: whole requests
 * (journal groups) of one table, up to batch_max_records records unless one request alone is
 * larger, so that the database gets a request's rows in one transaction, as without a journal.
 * The records come from the feed when it holds from (the usual case), else from the journal, up
 * to where the feed starts. Returns how many, or -errno. */
static int apply_read(store_t *s, uint64_t from)
{
    size_t max = (size_t)s->o.batch_max_records, n = 0, raw = 0;
    bool more = false; /* the last record taken has more of its group after it */
    /* The chunks up to the tail seen here are complete and stay put: the writer only links new
     * ones after the tail, and only this thread frees them. */
    pthread_mutex_lock(&s->mu);
    chunk_t *c = s->feed, *last = s->feed_tail;
    pthread_mutex_unlock(&s->mu);
    while (c && c != last && c->first_lsn + (uint64_t)c->n <= from) c = c->next;
    if (c && c->first_lsn + (uint64_t)c->n <= from) c = NULL; /* the feed ends before from */
    int rc = 0;
    if (c && c->first_lsn <= from) {
        journal_cursor_close(s->a_cur); /* it no longer stands at from */
        s->a_cur = NULL;
        for (uint64_t lsn = from; c && (n < max || more);) {
            int k = (int)(lsn - c->first_lsn);
            const unsigned char *d = chunk_data(c);
            if ((rc = apply_same_table(s, n, lsn, chunk_tables(c)[k])) < 0) return rc;
            if (!rc) break;
            rc = apply_take(s, n, &raw, lsn, d + c->off[k], c->off[k + 1] - c->off[k]);
            if (rc) return rc;
            more = chunk_more(c)[k];
            n++, lsn++;
            if (lsn == c->first_lsn + (uint64_t)c->n) {
                c = c == last ? NULL : c->next;
                if (c && c->first_lsn != lsn) c = NULL; /* a gap: an append the feed left out */
            }
        }
    } else {
        uint64_t stop = c ? c->first_lsn : UINT64_MAX; /* the feed has the rest */
        if (!s->a_cur) s->a_cur = journal_cursor_open(s->jnl, from, s->a_err, sizeof s->a_err);
        if (!s->a_cur) return -EIO;
        uint64_t lsn;
        journal_rec_t jr;
        while ((n < max || more) && from + n < stop &&
               (rc = journal_cursor_next(s->a_cur, &lsn, &jr, s->a_err, sizeof s->a_err)) == 1) {
            if ((rc = apply_same_table(s, n, lsn, jr.table)) <= 0) {
                /* The cursor moved past a record this batch does not take: reopen at it. */
                journal_cursor_close(s->a_cur);
                s->a_cur = NULL;
                break;
            }
            if ((rc = apply_take(s, n, &raw, lsn, jr.data, jr.len))) return rc;
            more = jr.more;
            n++;
        }
        if (rc < 0) return rc;
        count(s, s->m->jreread, &s->st.journal_rereads, n);
    }
    s->a_off[n] = raw;
    size_t nc = n ? (size_t)s->a_table->ncols : 0;
    if (raw + n * nc > s->a_scratch_cap) { /* table_row_decode: a row's bytes + ncols */
        char *b = realloc(s->a_scratch, raw + n * nc + 64);
        if (!b) return snprintf(s->a_err, sizeof s->a_err, "out of memory"), -ENOMEM;
        s->a_scratch = b, s->a_scratch_cap = raw + n * nc + 64;
    }
    if (n * nc > s->a_vals_cap) {
        store_value_t *v = realloc(s->a_vals, n * nc * sizeof *v);
        if (!v) return snprintf(s->a_err, sizeof s->a_err, "out of memory"), -ENOMEM;
        s->a_vals = v, s->a_vals_cap = n * nc;
    }
    char *scratch = s->a_scratch;
    for (size_t i = 0; i < n; i++) {
        size_t len = s->a_off[i + 1] - s->a_off[i];
        if (table_row_decode(s->a_table, s->a_raw + s->a_off[i], len, &s->a_vals[i * nc], scratch))
            return snprintf(s->a_err, sizeof s->a_err, "journal LSN %llu: not a row of %s",
                            (unsigned long long)s->a_lsns[i], s->a_table->name),
                   -EBADMSG;
        scratch += len + nc;
        s->a_ptrs[i] = &s->a_vals[i * nc];
    }
    return (int)n;
}

/* Frees the feed's chunks that hold nothing after the applied LSN. Called locked. */
static void feed_trim(store_t *s)
{
    while (s->feed && s->feed->first_lsn + (uint64_t)s->feed->n <= s->applied + 1) {
        chunk_t *c = s->feed;
        s->feed = c->next;
        if (!s->feed) s->feed_tail = NULL;
        s->feed_bytes -= c->bytes;
        free(c);
    }
}

/* Applies a_ptrs[lo, hi) in one transaction that also records the last one's LSN. When the sink
 * refuses the data, bisects: the records that commit do, and each refused one goes alone to the
 * dead-letter table (it was acknowledged), or, if that refuses it too, is counted as lost; the
 * LSN moves past it either way, or the journal would be stuck behind it. Sets a_done. 0 or the
 * first transient -errno. */
static int apply_range(store_t *s, size_t lo, size_t hi)
{
    s->ops->set_applied(s->sink, journal_id(s->jnl), s->a_lsns[hi - 1]);
    int rc = s->ops->write_batch(s->sink, s->a_table, s->a_ptrs + lo, (int)(hi - lo), s->a_err,
                                 sizeof s->a_err);
    if (rc == 0) {
        s->a_done = s->a_lsns[hi - 1];
        metric_add(s->m->written, (int64_t)(hi - lo));
        return 0;
    }
    if (rc != -EBADMSG) return rc;
    if (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        rc = apply_range(s, lo, mid);
        return rc ? rc : apply_range(s, mid, hi);
    }
    char why[256];
    snprintf(why, sizeof why, "%s", s->a_err);
    const char *id = row_id(s->a_ptrs[lo]), *table = s->a_table->name;
    s->ops->set_applied(s->sink, journal_id(s->jnl), s->a_lsns[lo]);
    rc = s->ops->write_dead ? s->ops->write_dead(s->sink, s->a_table, s->a_ptrs + lo, 1, why,
                                                 s->a_err, sizeof s->a_err)
                            : -EBADMSG;
    if (rc == -EBADMSG) { /* not even there: lost, but the LSN must move on */
        log_error("store: acknowledged row %s of %s lost: the sink refused it (%s) and so did "
                  "its dead-letter table",
                  id, table, why);
        count(s, s->m->dropped, &s->st.dropped, 1);
        s->ops->set_applied(s->sink, journal_id(s->jnl), s->a_lsns[lo]);
        rc = s->ops->write_batch(s->sink, s->a_table, NULL, 0, s->a_err, sizeof s->a_err);
    } else if (rc == 0) {
        log_warn("store: row %s of %s refused by the sink: %s; set aside as a dead letter", id,
                 table, why);
        count(s, s->m->dead, &s->st.dead_letters, 1);
    }
    if (rc == 0) s->a_done = s->a_lsns[lo];
    return rc;
}

/* Answers the committed submissions up to the applied LSN (status 0), or all of them with
 * status while the sink fails. Called locked; unlocks around the callbacks. */
static void answer_awaiting(store_t *s, int status)
{
    sub_t *fin = NULL, **tail = &fin;
    size_t recs = 0, bytes = 0;
    while (s->await && (status || s->await->last_lsn <= s->applied)) {
        sub_t *b = s->await;
        s->await = b->next;
        b->next = NULL;
        if (status) b->state = SUB_PENDING; /* finish() gives it the status */
        *tail = b;
        tail = &b->next;
        recs += (size_t)b->n;
        bytes += b->bytes;
    }
    if (!s->await) s->await_tail = NULL;
    if (!fin) return;
    release(s, recs, bytes);
    pthread_mutex_unlock(&s->mu);
    finish(fin, status);
    pthread_mutex_lock(&s->mu);
}

static void *applier_main(void *arg)
{
    store_t *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        uint64_t next = s->settled_next;
        if (s->applied + 1 >= next) {
            if (s->writer_done) break; /* closing, and everything journaled is applied */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += 1;
            s->apply_idle = true;
            pthread_cond_timedwait(&s->apply_wake, &s->mu, &ts);
            s->apply_idle = false;
            /* Records arrived after a quiet spell: they wait one window too, to share an
             * apply with those that follow them. */
            uint64_t due = clock_mono_ns() + (uint64_t)s->o.flush_interval_ms * 1000000u;
            if (s->apply_due_ns < due) s->apply_due_ns = due;
            continue;
        }
        if (s->apply_retry_at_ns && clock_mono_ns() < s->apply_retry_at_ns) {
            wait_until_cv(&s->apply_wake, &s->mu, s->apply_retry_at_ns);
            continue;
        }
        /* Large batches: applying every group commit as it lands made SQLite commit ~20 rows
         * at a time and kept a core busy (0.56 ms per commit, 1,700 commits/s at 34k req/s).
         * So the applier waits up to flush_interval_ms between applies, unless a batch is
         * full, a committed request waits for it, or the store is closing. */
        if (!s->await && !s->writer_done &&
            next - 1 - s->applied < (uint64_t)s->o.batch_max_records &&
            clock_mono_ns() < s->apply_due_ns) {
            wait_until_cv(&s->apply_wake, &s->mu, s->apply_due_ns);
            continue;
        }
        uint64_t from = s->applied + 1;
        bool resync = s->a_resync;
        pthread_mutex_unlock(&s->mu);
        s->a_done = 0;
        s->a_err[0] = 0;
        uint64_t t0 = clock_mono_ns();
        int rc = 0;
        uint64_t last = 0;
        if (resync) {
            /* After a failure the last transaction may have committed without our hearing of it
             * (a connection lost during COMMIT): ask the sink how far it got before going on. */
            uint64_t v = 0;
            rc = s->ops->applied_lsn(s->sink, journal_id(s->jnl), &v);
            if (rc)
                snprintf(s->a_err, sizeof s->a_err, "reading the applied LSN: %s", strerror(-rc));
            if (!rc && v >= from) s->a_done = last = v < next ? v : next - 1;
        } else {
            rc = apply_read(s, from);
            last = rc > 0 ? s->a_lsns[rc - 1] : 0;
            if (rc > 0) rc = apply_range(s, 0, (size_t)rc);
        }
        if (rc < 0 || s->a_done != last) { /* the cursor is not at the next LSN to apply */
            journal_cursor_close(s->a_cur);
            s->a_cur = NULL;
        }
        uint64_t dt = clock_mono_ns() - t0;
        pthread_mutex_lock(&s->mu);
        s->a_resync = rc < 0;
        if (resync && rc == 0)
            s->apply_due_ns = 0; /* resynced: apply at once */
        else
            s->apply_due_ns = clock_mono_ns() + (uint64_t)s->o.flush_interval_ms * 1000000u;
        if (s->a_done > s->applied) {
            metric_observe_ns(s->m->commit, dt);
            metric_observe_ns(s->m->batch, (s->a_done - s->applied) * 1000000000u);
            s->st.commits++;
            s->st.records_written += s->a_done - s->applied;
            s->applied = s->a_done;
            release_applied(s);
            feed_trim(s);
            answer_awaiting(s, 0);
        }
        if (rc < 0) {
            s->st.apply_errors++;
            metric_add(s->m->errors, 1);
            if (!s->apply_failing)
                log_error("store: applying the journal to the sink failed (%s); durable requests "
                          "go on, the journal holds them until it works again",
                          s->a_err[0] ? s->a_err : strerror(-rc));
            s->apply_failing = true;
            snprintf(s->why, sizeof s->why, "%s", s->a_err[0] ? s->a_err : strerror(-rc));
            answer_awaiting(s, -EIO); /* committed requests fail fast while the sink is down */
            s->apply_backoff_ms = s->apply_backoff_ms ? s->apply_backoff_ms * 2 : RETRY_MIN_MS;
            if (s->apply_backoff_ms > RETRY_MAX_MS) s->apply_backoff_ms = RETRY_MAX_MS;
            s->apply_retry_at_ns = clock_mono_ns() + s->apply_backoff_ms * 1000000u;
            if (s->writer_done && ++s->apply_close_failures >= CLOSE_ATTEMPTS) {
                log_error("store: giving up at shutdown: %llu journaled records are not in the "
                          "sink yet; they are applied at the next start",
                          (unsigned long long)(journal_next_lsn(s->jnl) - 1 - s->applied));
                break;
            }
        } else if (s->apply_failing) {
            log_info("store: the sink takes records again; the journal is draining");
            s->apply_failing = false;
            s->apply_backoff_ms = 0;
            s->apply_retry_at_ns = 0;
        }
        journal_gauges(s);
    }
    answer_awaiting(s, -EIO); /* only if applying gave up */
    pthread_mutex_unlock(&s->mu);
    journal_cursor_close(s->a_cur);
    s->a_cur = NULL;
    return NULL;
}

/* ==== open / close ==== */

/* The id of the last journaled record, into out. 0 or -errno. */
static int newest_journaled(store_t *s, char *out)
{
    char err[256];
    journal_cursor_t *c =
        journal_cursor_open(s->jnl, journal_next_lsn(s->jnl) - 1, err, sizeof err);
    if (!c) return -EIO;
    uint64_t lsn;
    journal_rec_t jr;
    int rc = journal_cursor_next(c, &lsn, &jr, err, sizeof err);
    const store_table_t *t = rc == 1 ? table_of(s, jr.table) : NULL;
    char *scratch = t ? malloc(jr.len + STORE_MAX_COLS) : NULL;
    store_value_t row[STORE_MAX_COLS];
    if (scratch && table_row_decode(t, jr.data, jr.len, row, scratch) == 0 &&
        uuid7_valid(row_id(row))) {
        memcpy(out, row_id(row), UUID_STRLEN + 1);
        rc = 0;
    } else {
        rc = -EIO;
    }
    free(scratch);
    journal_cursor_close(c);
    return rc;
}

/* Journal mode at open: opens and recovers the journal, checks it belongs to this database, and
 * positions the applier after the sink's applied LSN. */
static int open_journal(store_t *s, char *err, size_t errlen)
{
    if (!s->ops->applied_lsn || !s->ops->set_applied)
        return snprintf(err, errlen, "store: journal mode is not available with %s: sinks",
                        s->ops->scheme),
               -ENOTSUP;
    journal_opts_t jo = {s->o.journal_segment_bytes, s->o.journal_max_bytes};
    s->jnl = journal_open(s->o.journal_dir, &jo, err, errlen);
    if (!s->jnl) return -EIO;
    uint64_t applied = 0;
    int e = s->ops->applied_lsn(s->sink, journal_id(s->jnl), &applied);
    if (e)
        return snprintf(err, errlen, "store: cannot read the applied journal LSN: %s",
                        strerror(-e)),
               e;
    uint64_t next = journal_next_lsn(s->jnl);
    if (next < applied + 1)
        return snprintf(err, errlen,
                        "store: the journal in %s ends at LSN %llu, but the database has applied "
                        "its records up to LSN %llu: the journal is older than the database "
                        "(restored from a backup?); move it aside",
                        s->o.journal_dir, (unsigned long long)next - 1,
                        (unsigned long long)applied),
               -EBADMSG;
    s->applied = applied;
    s->settled_next = next; /* what recovery found is settled: nothing of it is in the feed */
    journal_release(s->jnl, applied + 1);
    journal_stats_t js;
    journal_stats(s->jnl, &js);
    log_info("store: journal %s: appends are %s", s->o.journal_dir,
             js.direct ? "O_DIRECT | O_DSYNC writes"
                       : "writes and fdatasync (this file system refuses O_DIRECT)");
    if (next > applied + 1) {
        log_info("store: journal %s: %llu records to apply to the sink", s->o.journal_dir,
                 (unsigned long long)(next - 1 - applied));
        note_journaled(s, next - 1, clock_mono_ns()); /* their age counts from this start */
    }
    return 0;
}

/* New ids must sort after every stored one, or keyset pages could skip records committed after
 * a restart: if the wall clock went back between runs (or this machine's clock is behind the
 * one that wrote them), ids continue after the newest stored id rather than before it. */
static void continue_after_newest(store_t *s)
{
    char newest[UUID_STRLEN + 1];
    if (s->jnl && journal_next_lsn(s->jnl) > s->applied + 1) {
        /* Journaled records not applied yet are newer than every applied one. */
        if (newest_journaled(s, newest) == 0) {
            uuid7_floor(newest, (int64_t)(clock_wall_ns() / 1000));
            return;
        }
    }
    newest[0] = 0;
    for (int k = 0; s->ops->newest_id && k < s->ntables; k++) { /* one id sequence for all */
        char id[UUID_STRLEN + 1];
        if (s->ops->newest_id(s->sink, s->tables[k], id) == 0 && uuid7_valid(id) &&
            strcmp(id, newest) > 0)
            memcpy(newest, id, sizeof id);
    }
    if (!newest[0]) return;
    int64_t ahead_ms = uuid7_floor(newest, (int64_t)(clock_wall_ns() / 1000));
    if (ahead_ms > 1000)
        log_warn("store: the newest stored record (%s) is %.1f s ahead of this clock; new ids "
                 "continue after it",
                 newest, ahead_ms / 1000.0);
}

store_t *store_open(const char *uri, const store_opts_t *o, char *err, size_t errlen)
{
    const char *colon = uri ? strchr(uri, ':') : NULL;
    const sink_ops_t *ops = NULL;
    int si = 0;
    for (; colon && si < NSINKS; si++) {
        if (strlen(sinks[si]->scheme) == (size_t)(colon - uri) &&
            memcmp(sinks[si]->scheme, uri, (size_t)(colon - uri)) == 0) {
            ops = sinks[si];
            break;
        }
    }
    if (!ops) {
        snprintf(err, errlen,
                 "store: unknown sink \"%s\" (expected sqlite:PATH, postgres:CONNINFO or null:)",
                 uri ? uri : "");
        return NULL;
    }
    store_opts_t opt = o ? *o : (store_opts_t){0};
    if (opt.batch_max_records < 0 || opt.flush_interval_ms < 0 || opt.read_conns < 0 ||
        opt.busy_timeout_ms < 0) {
        snprintf(err, errlen, "store: negative option");
        return NULL;
    }
    if (!opt.queue_max_records) opt.queue_max_records = DEF_QUEUE_RECORDS;
    if (!opt.queue_max_bytes) opt.queue_max_bytes = DEF_QUEUE_BYTES;
    /* Keeps the size arithmetic in store_submit (a few bounded terms) far from overflow. */
    if (opt.queue_max_bytes > SIZE_MAX / 8) opt.queue_max_bytes = SIZE_MAX / 8;
    if (!opt.batch_max_records) opt.batch_max_records = DEF_BATCH;
    if (!opt.flush_interval_ms) opt.flush_interval_ms = DEF_FLUSH_MS;
    if (!opt.journal_feed_bytes) opt.journal_feed_bytes = DEF_FEED_BYTES;
    if (!opt.read_conns) opt.read_conns = DEF_READ_CONNS;
    if (!opt.busy_timeout_ms) opt.busy_timeout_ms = DEF_BUSY_MS;

    store_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "store: out of memory");
        return NULL;
    }
    s->ops = ops;
    s->o = opt;
    int nbuilt;
    const store_table_t *const *built = store_tables(&nbuilt);
    int e = 0;
    for (int k = 0; k < nbuilt + opt.ntables && !e; k++) {
        const store_table_t *t = k < nbuilt ? built[k] : opt.tables[k - nbuilt];
        char why[160];
        if (s->ntables == STORE_MAX_TABLES)
            e = -E2BIG, snprintf(why, sizeof why, "more than %d tables", STORE_MAX_TABLES);
        else if (!table_valid(t, why, sizeof why))
            e = -EINVAL;
        for (int j = 0; j < s->ntables && !e; j++)
            if (s->tables[j]->id == t->id || !strcmp(s->tables[j]->name, t->name))
                e = -EINVAL, snprintf(why, sizeof why, "tables %s and %s share an id or a name",
                                      s->tables[j]->name, t->name);
        if (e)
            snprintf(err, errlen, "store: %s", why);
        else
            s->tables[s->ntables++] = t;
    }
    s->o.tables = NULL, s->o.ntables = 0; /* the caller's array need not outlive the call */
    if (!e) e = ops->open(colon + 1, &s->o, &s->sink, err, errlen);
    if (!e) e = ops->migrate(s->sink, s->tables, s->ntables, err, errlen);
    if (!e && opt.journal_dir) e = open_journal(s, err, errlen);
    if (e) {
        journal_close(s->jnl);
        if (s->sink) ops->close(s->sink);
        free(s);
        return NULL;
    }
    continue_after_newest(s);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &ca);
    pthread_cond_init(&s->apply_wake, &ca);
    pthread_condattr_destroy(&ca);
    s->batch_cap = (size_t)opt.batch_max_records;
    s->batch = malloc(s->batch_cap * sizeof *s->batch);
    s->ids = malloc(s->batch_cap * sizeof *s->ids);
    s->m = metrics_get(si, ops->scheme, opt.flush_interval_ms);
    if (!s->batch || !s->ids || !s->m) {
        snprintf(err, errlen, "store: out of memory");
        store_close(s);
        return NULL;
    }
    int rc = pthread_create(&s->writer, NULL, writer_main, s);
    if (rc) {
        snprintf(err, errlen, "store: cannot start the writer thread: %s", strerror(rc));
        store_close(s);
        return NULL;
    }
    pthread_setname_np(s->writer, "inferd-store"); /* for top -H and perf; failure is harmless */
    s->writer_started = true;
    if (s->jnl) {
        journal_gauges(s);
        rc = pthread_create(&s->applier, NULL, applier_main, s);
        if (rc) {
            snprintf(err, errlen, "store: cannot start the applier thread: %s", strerror(rc));
            store_close(s);
            return NULL;
        }
        pthread_setname_np(s->applier, "inferd-apply");
        s->applier_started = true;
    }
    return s;
}

uint64_t store_close(store_t *s)
{
    if (!s) return 0;
    pthread_mutex_lock(&s->mu);
    s->closing = true;
    pthread_cond_broadcast(&s->wake);
    pthread_mutex_unlock(&s->mu);
    if (s->writer_started) pthread_join(s->writer, NULL);
    /* Journal mode: then the applier drains the journal into the sink (or gives up after a few
     * failed attempts: the records stay in the journal for the next start, not lost). */
    pthread_mutex_lock(&s->mu);
    s->writer_done = true;
    pthread_cond_broadcast(&s->apply_wake);
    pthread_mutex_unlock(&s->mu);
    if (s->applier_started) pthread_join(s->applier, NULL);
    uint64_t lost = s->st.dropped;
    s->ops->close(s->sink);
    journal_close(s->jnl);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->apply_wake);
    pthread_mutex_destroy(&s->mu);
    free(s->batch);
    free(s->ids);
    free(s->units);
    free(s->enc);
    free(s->jrecs);
    free(s->a_vals);
    free(s->a_ptrs);
    free(s->a_lsns);
    free(s->a_off);
    free(s->a_raw);
    free(s->a_scratch);
    while (s->feed) {
        chunk_t *c = s->feed;
        s->feed = c->next;
        free(c);
    }
    free(s->w_chunk);
    free(s);
    return lost;
}

bool store_healthy(store_t *s, char *why, size_t len)
{
    pthread_mutex_lock(&s->mu);
    bool ok = !s->failing && !s->broken;
    if (!ok && why && len)
        snprintf(why, len, "%s%s",
                 s->broken ? "the store stopped: " : "store commits failing: ", s->why);
    pthread_mutex_unlock(&s->mu);
    return ok;
}

void store_set_commit_hook(store_t *s, void (*hook)(void *arg, const char *const *ids, int n),
                           void *arg)
{
    pthread_mutex_lock(&s->mu);
    s->hook = hook;
    s->hook_arg = arg;
    pthread_mutex_unlock(&s->mu);
}

void store_stats(store_t *s, store_stats_t *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    out->queued_records = s->used_records;
    out->queued_bytes = s->used_bytes;
    if (s->jnl) {
        out->journal_next_lsn = journal_next_lsn(s->jnl);
        out->applied_lsn = s->applied;
        out->apply_failing = s->apply_failing;
    }
    pthread_mutex_unlock(&s->mu);
}

/* ==== reads ==== */

typedef struct scan_ctx {
    store_values_fn fn;
    void *arg;
    char last[UUID_STRLEN + 1];
    bool stopped;
} scan_ctx_t;

static int scan_row(void *arg, const store_value_t *row)
{
    scan_ctx_t *c = arg;
    snprintf(c->last, sizeof c->last, "%.*s", (int)row[0].len, row[0].s ? row[0].s : "");
    int r = c->fn(c->arg, row);
    c->stopped = r != 0;
    return r;
}

int store_scan(store_t *s, const store_table_t *t, int wait_ms, store_values_fn fn,
               void (*progress)(void *arg, int64_t rows), void *arg)
{
    enum { PAGE = 10000 };
    if (!has_table(s, t)) return -EINVAL;
    if (!s->ops->scan) return -ENOTSUP;
    if (s->jnl) { /* what is journaled but not applied would be missed */
        store_stats_t st;
        store_stats(s, &st);
        uint64_t want = st.journal_next_lsn - 1,
                 until = clock_mono_ns() + (uint64_t)wait_ms * 1000000u;
        while (st.applied_lsn < want) {
            if (clock_mono_ns() > until) return -ETIMEDOUT;
            nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
            store_stats(s, &st);
        }
    }
    scan_ctx_t c = {.fn = fn, .arg = arg};
    int64_t total = 0;
    for (;;) {
        int n = 0;
        char after[UUID_STRLEN + 1];
        memcpy(after, c.last, sizeof after);
        int e = s->ops->scan(s->sink, t, after, PAGE, scan_row, &c, &n);
        if (e) return e;
        total += n;
        if (progress && n) progress(arg, total);
        if (n < PAGE || c.stopped) return 0;
    }
}

/* Journal mode, for reads that must see records journaled but not applied yet: pin() holds
 * the journal from the applied LSN on (it is not released while a read scans it) and returns
 * that LSN, read before the sink is queried: a record applied after it is in the sink's answer
 * or still in the journal past it, never in neither. */
static uint64_t pin(store_t *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t a = s->applied;
    s->readers++;
    pthread_mutex_unlock(&s->mu);
    return a;
}

static void unpin(store_t *s)
{
    pthread_mutex_lock(&s->mu);
    if (--s->readers == 0) release_applied(s);
    pthread_mutex_unlock(&s->mu);
}

/* Hands every journaled record after LSN from to fn, in LSN (= id) order, until fn returns
 * nonzero. 0, fn's error, or -errno. */
static int scan_pending(store_t *s, uint64_t from, store_row_fn fn, void *arg)
{
    char err[256];
    if (journal_next_lsn(s->jnl) <= from + 1) return 0;
    journal_cursor_t *c = journal_cursor_open(s->jnl, from + 1, err, sizeof err);
    if (!c) return -EIO;
    char *scratch = NULL;
    size_t cap = 0;
    int rc;
    uint64_t lsn;
    journal_rec_t jr;
    while ((rc = journal_cursor_next(c, &lsn, &jr, err, sizeof err)) == 1) {
        if (jr.table != store_table_predictions.id) continue;
        if (jr.len + 8 > cap) {
            char *b = realloc(scratch, jr.len + 8);
            if (!b) {
                rc = -ENOMEM;
                break;
            }
            scratch = b, cap = jr.len + 8;
        }
        store_record_t r;
        if (predictions_decode(jr.data, jr.len, &r, scratch)) continue;
        rc = fn(arg, &r);
        if (rc) break;
    }
    free(scratch);
    journal_cursor_close(c);
    return rc < 0 ? rc : 0;
}

typedef struct find_ctx {
    const char *id;
    store_row_fn fn;
    void *arg;
    bool found;
} find_ctx_t;

/* For the sink: notes that the record was handed on, so a failure after it is not retried. */
static int found_row(void *arg, const store_record_t *r)
{
    find_ctx_t *f = arg;
    f->found = true;
    return f->fn(f->arg, r);
}

static int find_row(void *arg, const store_record_t *r)
{
    find_ctx_t *f = arg;
    if (strcmp(r->id, f->id)) return 0;
    f->found = true;
    int rc = f->fn(f->arg, r);
    return rc ? rc : 1;
}

int store_get(store_t *s, const char *id, store_row_fn fn, void *arg)
{
    if (!id || !uuid_canonical(id)) return -ENOENT; /* no record can have it */
    find_ctx_t f = {id, fn, arg, false};
    uint64_t from = s->jnl ? pin(s) : 0;
    int rc = s->ops->get(s->sink, id, found_row, &f);
    if (rc && !f.found && s->jnl) {
        /* Not in the sink, or the sink cannot be read (down): a record the journal holds past
         * the applied LSN is found there either way. */
        int jr = scan_pending(s, from, find_row, &f);
        if (jr || f.found) rc = jr;
    }
    if (s->jnl) unpin(s);
    return rc;
}

typedef struct list_ctx {
    store_row_fn fn;
    void *arg;
    int limit, count;
    bool more;
    char last[UUID_STRLEN + 1];
} list_ctx_t;

static int list_row(void *arg, const store_record_t *row)
{
    list_ctx_t *c = arg;
    if (c->count == c->limit) {
        c->more = true; /* the extra row asked for only to learn whether a next page exists */
        return 1;
    }
    int rc = c->fn(c->arg, row);
    if (rc) return rc;
    snprintf(c->last, sizeof c->last, "%s", row->id);
    c->count++;
    return 0;
}

typedef struct pending_ctx {
    const sink_query_t *q;
    list_ctx_t *c;
} pending_ctx_t;

static int pending_row(void *arg, const store_record_t *r)
{
    pending_ctx_t *p = arg;
    const sink_query_t *q = p->q;
    if (strcmp(r->id, q->id_after) <= 0 || strcmp(r->id, q->id_before) >= 0) return 0;
    if (p->c->count && strcmp(r->id, p->c->last) <= 0) return 0; /* applied meanwhile: listed */
    if (q->model && strcmp(r->model, q->model)) return 0;
    if (r->ts_us < q->since_us || r->ts_us >= q->until_us) return 0;
    return list_row(p->c, r);
}

int store_list(store_t *s, const store_query_t *sq, store_row_fn fn, void *arg,
               char next_cursor[UUID_STRLEN + 1], char *err, size_t errlen)
{
    int64_t since_us = sq->since_us, until_us = sq->until_us;
    const char *cursor = sq->cursor;
    next_cursor[0] = 0;
    if (sq->limit < 1 || sq->limit > LIST_MAX) {
        snprintf(err, errlen, "limit must be between 1 and %d", LIST_MAX);
        return -EINVAL;
    }
    if (since_us < 0 || until_us < 0 || since_us > TS_MAX_US || until_us > TS_MAX_US) {
        snprintf(err, errlen, "since and until must be unix times in microseconds");
        return -EINVAL;
    }
    if (until_us && until_us <= since_us) {
        snprintf(err, errlen, "until must be later than since");
        return -EINVAL;
    }
    if (cursor && *cursor && !uuid_canonical(cursor)) {
        snprintf(err, errlen, "cursor must be a next_cursor from an earlier page");
        return -EINVAL;
    }
    /* Time bounds become id bounds: an id's first 48 bits are its record's millisecond, so the
     * sink walks only the index range of the window (see uuid7_ms_prefix). */
    char lo[UUID7_PREFIX_LEN + 1] = "", hi[UUID7_PREFIX_LEN + 1] = "~";
    if (since_us) uuid7_ms_prefix(lo, since_us / 1000);
    if (until_us) uuid7_ms_prefix(hi, (until_us - 1) / 1000 + 1);
    sink_query_t q = {
        .model = sq->model && *sq->model ? sq->model : NULL,
        .id_after = cursor && *cursor && strcmp(cursor, lo) > 0 ? cursor : lo,
        .id_before = hi,
        .since_us = since_us,
        .until_us = until_us ? until_us : INT64_MAX,
        .limit = sq->limit + 1,
    };
    list_ctx_t c = {.fn = fn, .arg = arg, .limit = sq->limit};
    uint64_t from = s->jnl ? pin(s) : 0;
    int rc = s->ops->list(s->sink, &q, list_row, &c);
    if (!rc && s->jnl && !c.more) {
        /* The page has room: the records journaled but not applied yet come after every
         * applied one (their ids are larger), filtered as the sink filtered. */
        pending_ctx_t p = {&q, &c};
        rc = scan_pending(s, from, pending_row, &p);
    }
    if (s->jnl) unpin(s);
    if (rc)
        snprintf(err, errlen, "reading records failed: %s", strerror(-rc));
    else if (c.more)
        memcpy(next_cursor, c.last, sizeof c.last);
    return rc;
}
