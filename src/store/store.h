/* The durable store: rows of tables with a schema (store/table.h) go into a bounded queue; one
 * writer thread per store drains it and commits everything waiting as one transaction or one
 * journal append (group commit), so many requests share one fsync. The machinery (queue, journal,
 * ids, acks, appliers, sinks) knows tables only by their schema; predictions (every prediction
 * one row: id, time, model, version, request id, input, output, latency) is the first table, and
 * has a record-shaped API of its own (store_submit, store_get, store_list). Reads go through
 * separate connections and never wait for the writer.
 *
 * Threads: store_submit, store_get, store_list and store_stats may be called from any thread at
 * any time between store_open and store_close. store_get and store_list block on the database:
 * call them from a worker thread, never from an event loop. */
#ifndef INFERD_STORE_STORE_H
#define INFERD_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/table.h"
#include "util/durability.h"

#define STORE_MAX_TABLES 16 /* tables one store serves: table.c's and store_opts_t.tables */

/* Per model or endpoint: util/durability.h. In the store, DUR_BUFFERED submissions are
 * written within flush_interval_ms plus one write when the writer keeps up, and at worst within
 * that plus the time to drain a full queue (queue_max_records at the write rate); DUR_COMMITTED
 * submissions in journal mode are refused (-EAGAIN) while the sink cannot write; without a
 * journal DUR_COMMITTED is DUR_DURABLE. */
typedef struct store_record {
    char id[37];       /* out: UUIDv7 assigned by store_submit */
    int64_t ts_us;     /* out: unix microseconds assigned by store_submit; always in the id's ms */
    const char *model; /* required, non-empty */
    const char *version, *request_id;     /* optional: NULL is stored as null */
    const char *input_json, *output_json; /* valid JSON text, stored and served verbatim; NULL is
                                             stored as null; a length of 0 means strlen() */
    size_t input_len, output_len;
    double latency_ms; /* finite, >= 0 */
} store_record_t;

typedef struct store_opts {
    size_t queue_max_records; /* records accepted but not yet committed (default 65536) */
    size_t queue_max_bytes;   /* and their bytes, copies included (default 256 MiB) */
    int batch_max_records;    /* per transaction; a larger single submission still goes whole
                                 (default 4096) */
    int flush_interval_ms;    /* buffered: longest wait before a commit (default 50); durable
                                 records commit as soon as the writer is free */
    int read_conns;           /* connections for store_get/store_list (default 4) */
    int busy_timeout_ms;      /* how long a statement waits for a lock held by another process,
                                 e.g. a backup (default 5000) */
    /* Journal mode (store/journal.h) when journal_dir is set: the writer appends every batch to
     * the journal and acknowledges durable submissions on its fdatasync; an applier thread feeds
     * the sink from the journal in batches of whole submissions of one table, up to
     * batch_max_records unless one submission is larger, recording the applied LSN in the same
     * transaction (exactly once across crashes); at open, what the journal holds beyond that
     * LSN is applied again. Sinks: sqlite, postgres and null. */
    const char *journal_dir;
    size_t journal_segment_bytes; /* default 16 MiB */
    size_t journal_max_bytes;     /* default 1 GiB: past it durable submissions get -EAGAIN */
    size_t journal_feed_bytes;    /* appends kept in memory for the applier (default 32 MiB);
                                     beyond it the applier reads the journal back */
    /* Tables beyond table.c's (tests; NULL = none): the sinks create them from their schema
     * (CREATE TABLE IF NOT EXISTS) and store_submit_rows takes their rows. */
    const store_table_t *const *tables;
    int ntables;
} store_opts_t;

typedef struct store_stats {
    uint64_t commits;         /* successful transactions */
    uint64_t records_written; /* records in them */
    uint64_t commit_errors;   /* failed transactions */
    uint64_t rejected;        /* submissions refused with -EAGAIN */
    uint64_t dropped;         /* acknowledged (buffered) records lost: given up on at close after
                                 repeated failures, or refused by the sink and its dead letters */
    uint64_t refused;         /* records the sink refused for their data, alone in a commit */
    uint64_t dead_letters;    /* refused buffered records kept in the dead-letter table */
    size_t queued_records;    /* accepted, not yet committed (in-flight batch included) */
    size_t queued_bytes;
    /* Journal mode only (0 otherwise). */
    uint64_t journal_next_lsn; /* the LSN the next record gets */
    uint64_t applied_lsn;      /* the sink has every record below or at it */
    uint64_t apply_errors;     /* failed apply transactions */
    bool apply_failing;        /* the sink cannot write now: the journal grows */
    uint64_t journal_rereads;  /* records the applier read back from the journal, not memory */
} store_stats_t;

typedef struct store store_t;

/* Opens "sqlite:PATH", "postgres:CONNINFO" or "null:[MICROSECONDS]" (benchmarks only: records are
 * discarded): creates or opens the database, runs the schema migrations, makes new ids continue
 * after the newest stored one (even if the clock went back since it was written) and starts the
 * writer thread. o may be NULL, and zero fields take their defaults. Returns NULL with a message
 * in err on failure. */
store_t *store_open(const char *uri, const store_opts_t *o, char *err, size_t errlen);

/* Queues n rows of table t (rows: n rows of t->ncols values in column order), copying
 * everything they point to. The store assigns each row's id: rows[i * ncols].s must point at a
 * char[37] of the caller's, which gets the id, NUL-terminated, before done() can run; the
 * table's time column (if any) gets the id's time likewise. Ids increase in queue order, which
 * is also commit order. Rows are checked first (table_row_check). Thread-safe; never blocks on
 * I/O. Everything store_submit says below holds (a submission is one table's rows); -EINVAL
 * also for a table the store was not opened with. */
int store_submit_rows(store_t *s, const store_table_t *t, store_value_t *rows, int n,
                      durability_t d, void (*done)(void *arg, int status), void *arg);

/* Queues n prediction records (1 <= n), copying everything they point to; fills each
 * recs[i].id before done() can run, and recs[i].ts_us before it returns (ids increase in queue
 * order, which is also commit order). Thread-safe; never blocks on I/O.
 *   DURABLE: done(arg, 0) runs on the writer thread after the one transaction holding all n
 *   records has committed, or done(arg, -errno) if it failed (the records are then not stored).
 *   -EBADMSG means the sink refused one of the records for its data (a value the database cannot
 *   store): permanent, answer 422 with store_done_reason(); any other -errno is transient
 *   (answer 503 with Retry-After). It may run before store_submit returns. Commits are in queue
 *   order, so an ack also means every record submitted before it is on disk.
 *   BUFFERED and OFF: done(arg, 0) runs before store_submit returns. done may be NULL. A
 *   buffered submission the sink refuses is written to its dead-letter table instead.
 * A submission's records commit together or not at all. When the sink refuses a batch for its
 * data, the writer splits it and commits every submission that commits alone, so one bad record
 * fails only its own submission.
 * done must be quick and must not block; it may call store_submit but not store_close.
 * Returns 0; -EAGAIN if the queue is full right now (nothing queued, done not called: answer 503
 * with Retry-After); -EMSGSIZE if the n records exceed the whole queue's bounds (answer 413);
 * -EINVAL for a record without a model or with a negative or non-finite latency; -ENOMEM;
 * -ESTALE once the sink found its database gone (deleted or replaced: nothing more can be made
 * durable until a restart; answer 503); -ESHUTDOWN once store_close has begun. */
int store_submit(store_t *s, store_record_t *recs, int n, durability_t d,
                 void (*done)(void *arg, int status), void *arg);

/* Receives one record; its pointers are valid only during the call. Returns 0 to go on, > 0 to
 * stop early (not an error), or -errno to stop and fail the read with that value. */
typedef int (*store_row_fn)(void *arg, const store_record_t *row);

/* Hands the record with this id to fn (once), from the database or, in journal mode, from the
 * journal if it is not applied yet. Blocking. Returns 0, -ENOENT if no record has this id
 * (malformed ids included), fn's error, or -errno. The JSON the API shows is api/records_json.c's.
 */
int store_get(store_t *s, const char *id, store_row_fn fn, void *arg);

/* A page of records: of one model (NULL or "" = all), with since_us <= ts_us < until_us (0 =
 * unbounded), at most limit (1..1000), after cursor (NULL or "" = from the start; otherwise a
 * next_cursor from an earlier page). */
typedef struct store_query {
    const char *model;
    int64_t since_us, until_us;
    int limit;
    const char *cursor;
} store_query_t;

/* Hands the page's records to fn in ascending id (= time) order and sets next_cursor to the id a
 * next page starts after ("" when there is none). Pages never skip a record committed later by
 * this store, since ids are committed in increasing order. Blocking. Returns 0, -EINVAL with a
 * message in err for bad arguments, or -errno (fn's included, with err set). */
int store_list(store_t *s, const store_query_t *q, store_row_fn fn, void *arg, char next_cursor[37],
               char *err, size_t errlen);

/* Receives one row of a table: t->ncols values in schema order (a time as unix microseconds);
 * strings are NUL-terminated and valid only during the call. 0 to go on, > 0 to stop early,
 * -errno to stop and fail with that value. */
typedef int (*store_values_fn)(void *arg, const store_value_t *row);

/* Hands every row of table t to fn, in id order (= the order they were submitted in). In
 * journal mode it first waits, up to wait_ms, until the sink holds every record journaled
 * before the call (-ETIMEDOUT if it does not: the sink is down or slow), so nothing
 * acknowledged is missed. progress(arg, rows) is called every 10,000 rows (optional). Blocking.
 * 0, fn's error, -ENOTSUP for a sink that cannot be read back (null:), -EINVAL for a table the
 * store was not opened with, or -errno. */
int store_scan(store_t *s, const store_table_t *t, int wait_ms, store_values_fn fn,
               void (*progress)(void *arg, int64_t rows), void *arg);

/* Inside a done() callback called with -EBADMSG, on its thread: the sink's reason for refusing
 * the records (valid until done returns); "" anywhere else. */
const char *store_done_reason(void);

/* Commits everything queued (done() runs for every durable submission), stops the writer and
 * closes the database. If commits keep failing it gives up after a few attempts, failing the
 * durable submissions and logging how many buffered records were lost. Returns how many
 * acknowledged records were never written over the store's life (that, plus buffered records
 * that neither the sink nor its dead-letter table would take): 0 means everything acknowledged
 * is stored. No other store_* call on s may run concurrently with or after it. NULL is a no-op
 * (returns 0). */
uint64_t store_close(store_t *s);

/* For readiness: false, with a short reason in why (len bytes, may be 0), while the store
 * cannot write: its last commit failed and is being retried (database down, disk full, a lock
 * held too long), or the sink found its database file deleted or replaced (then until a
 * restart). True otherwise, including before the first commit. Thread-safe and cheap (one
 * lock, no I/O). */
bool store_healthy(store_t *s, char *why, size_t len);

/* Snapshot of the counters. */
void store_stats(store_t *s, store_stats_t *out);

/* Test hook: the writer calls hook(arg, ids, n) after each batch it took from the queue has
 * committed (in one commit, or in several when refused records were split out), once its
 * capacity is back and before any done() of that batch, with the ids committed, in order. */
void store_set_commit_hook(store_t *s, void (*hook)(void *arg, const char *const *ids, int n),
                           void *arg);

#endif
