/* Sink interface: where the store's rows end up. Each sink is one file (sink_sqlite.c,
 * sink_pg.c, and sink_null.c for benchmarks) that fills a sink_ops_t; store.c picks it by the URI
 * scheme and owns the queue, batching, journal and callbacks, so a sink only moves rows in and out
 * of its database. Writes take any table from its schema (store/table.h); reads are the
 * predictions table's (store_record_t). */
#ifndef INFERD_STORE_SINK_H
#define INFERD_STORE_SINK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

typedef struct sink sink_t; /* defined by each implementation */

/* Read connections are a small array whose elements each hold a pthread_mutex_t at offset
 * mu_off: returns the index of the first one free from a rotating start (so concurrent readers
 * spread out), else waits for the start one. The chosen connection's mutex is held on return. */
static inline int sink_pool_acquire(void *conns, int n, size_t stride, size_t mu_off,
                                    atomic_uint *next)
{
    unsigned start = atomic_fetch_add_explicit(next, 1, memory_order_relaxed);
    for (int i = 0; i < n; i++) {
        int k = (int)((start + (unsigned)i) % (unsigned)n);
        if (pthread_mutex_trylock(
                (pthread_mutex_t *)((char *)conns + (size_t)k * stride + mu_off)) == 0)
            return k;
    }
    int k = (int)(start % (unsigned)n);
    pthread_mutex_lock((pthread_mutex_t *)((char *)conns + (size_t)k * stride + mu_off));
    return k;
}

/* Rows go to the store as the store hands them to its readers (store.h). */
typedef store_row_fn sink_row_fn;

/* A page of records in ascending id order. The id bounds are exclusive and compare as text;
 * store.c derives them from the cursor and from since/until (an id's time is its ts_us's
 * millisecond), so a sink can answer from an index on id or (model, id) alone. */
typedef struct sink_query {
    const char *model;          /* NULL = every model */
    const char *id_after;       /* "" = no lower bound */
    const char *id_before;      /* "~" sorts above every id */
    int64_t since_us, until_us; /* since_us <= ts_us < until_us */
    int limit;                  /* rows to hand to fn at most */
} sink_query_t;

typedef struct sink_ops {
    const char *scheme; /* "sqlite" in "sqlite:PATH" */
    /* Connects to target (the URI after "scheme:"). 0 or -errno with a message in err. */
    int (*open)(const char *target, const store_opts_t *o, sink_t **out, char *err, size_t errlen);
    /* Creates or upgrades the schema (versioned, idempotent), creates each of the n tables
     * that does not exist yet from its schema, then readies writes and reads. 0 or -errno with
     * a message in err. */
    int (*migrate)(sink_t *k, const store_table_t *const *tables, int n, char *err, size_t errlen);
    /* Writes n rows of table t (one of migrate's; rows[i] holds t->ncols values) in one
     * transaction and commits it durably; all or nothing. Called only from the writer thread.
     * 0, or -errno with a message in err (nothing was written). The error says what retrying
     * can do:
     *   -EBADMSG  the database refused a value (a data or integrity error): the same records
     *             will fail again, so the store splits the batch to find them;
     *   -ESTALE   the database file is gone or was replaced: nothing more can be made durable
     *             (the store stops acknowledging until a restart);
     *   other     transient (connection lost, server shutting down, disk full, busy or
     *             locked, serialization failure): retried with back-off.
     * n may be 0: a probe that the database takes a commit now (the store's writer uses it to
     * learn when a failure is over while nothing is queued). */
    int (*write_batch)(sink_t *k, const store_table_t *t, const store_value_t *const *rows, int n,
                       char *err, size_t errlen);
    /* Writes n rows of t that write_batch refused (-EBADMSG) to the dead-letter table, with why,
     * in one transaction, in a form the database always accepts (text made valid, JSON as
     * bytes). Same return values; -EBADMSG for a table without dead letters (today every table
     * but predictions). Optional (NULL): refused buffered rows are then lost. */
    int (*write_dead)(sink_t *k, const store_table_t *t, const store_value_t *const *rows, int n,
                      const char *why, char *err, size_t errlen);
    /* Checks, without writing, that the database is still the one opened; -ESTALE (with err)
     * once it is gone, as write_batch would say. The writer calls it about once a second while
     * idle, so that a deletion is noticed (and what can be saved is saved) before the next
     * commit, not at it. Optional (NULL). */
    int (*check)(sink_t *k, char *err, size_t errlen);
    /* Journal mode (store.c feeds the sink from the journal): the LSN up to which the journal
     * with this identity (journal_id) has been applied, as set_applied recorded it; 0 when
     * never. Several journals (inferd nodes) may feed one database. Optional (NULL: the sink
     * cannot be fed from a journal). */
    int (*applied_lsn)(sink_t *k, const char *journal, uint64_t *out);
    /* The next successful write_batch or write_dead (n may be 0) also records lsn as the
     * journal's applied LSN, in the same transaction, so a record is applied exactly once across
     * crashes. Required with applied_lsn. journal must outlive the call that uses it. */
    void (*set_applied)(sink_t *k, const char *journal, uint64_t lsn);
    /* Writes the largest id stored in table t (37 bytes with the NUL) to out, read on the
     * writer's connection before the writer starts. 0, -ENOENT when there is none, or -errno.
     * Optional (NULL): the store then has nothing to continue after. */
    int (*newest_id)(sink_t *k, const store_table_t *t, char *out);
    /* Hands the record with this id to fn. 0, -ENOENT, fn's error or -errno. Thread-safe. */
    int (*get)(sink_t *k, const char *id, sink_row_fn fn, void *arg);
    /* Hands the rows matching q to fn. 0, fn's error or -errno. Thread-safe. */
    int (*list)(sink_t *k, const sink_query_t *q, sink_row_fn fn, void *arg);
    /* Hands the rows of table t (one of migrate's) whose id sorts after `after` ("" = from the
     * first), at most limit, in id order, to fn; *nrows counts those handed. 0, fn's error or
     * -errno. Thread-safe. Optional (NULL: store_scan answers -ENOTSUP). */
    int (*scan)(sink_t *k, const store_table_t *t, const char *after, int limit, store_values_fn fn,
                void *arg, int *nrows);
    /* Closes every connection and frees the sink. */
    void (*close)(sink_t *k);
} sink_ops_t;

extern const sink_ops_t sink_sqlite_ops;
extern const sink_ops_t sink_pg_ops;
extern const sink_ops_t sink_null_ops;

#endif
