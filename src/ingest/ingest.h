/* Event ingestion: decoded points go into per-(database, measurement) column buffers; a buffer
 * is flushed to a Parquet file when it reaches flush_records rows or its first row is
 * flush_ms old, by writer threads, in parallel across measurements, while ingestion goes on into
 * a fresh buffer. Files:
 *
 *   DIR/{db}/{measurement}/YYYY/MM/DD/HH/{measurement}_{YYYYMMDD_HHMMSS}_{nanos}.parquet
 *
 * (the hour and the name's time from the rows' earliest timestamp; a buffer spanning hours
 * makes one file per hour), written under DIR/.tmp, fsynced, renamed into place, the directory
 * fsynced.
 *
 * Durability (docs/ingest.md):
 *   buffered  a write is answered once its rows are in a buffer: a crash loses what is not yet
 *             in a file (at most flush_ms of rows, per measurement, plus the flush's own time).
 *   wal       a write is answered once its body is in the ingest journal (store/journal.h, in
 *             DIR/.wal, one fdatasync per group of writes); at open, journaled writes whose rows
 *             are not in a file yet are replayed. DIR/.wal/flushed records, per measurement,
 *             the last journal record each file holds, so a replay never writes a row twice.
 *
 * Threads: ingest_decode, ingest_submit, ingest_stats and ingest_flush_all from any thread;
 * ingest_open and ingest_close from one, with nothing else running. */
#ifndef INFERD_INGEST_INGEST_H
#define INFERD_INGEST_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/parquet.h"

typedef enum ingest_format { INGEST_LINEPROTO = 1, INGEST_MSGPACK = 2 } ingest_format_t;
typedef enum ingest_durability { INGEST_BUFFERED, INGEST_WAL } ingest_durability_t;

typedef struct ingest_opts {
    const char *dir;
    ingest_durability_t durability;
    int64_t flush_records; /* rows in one measurement's buffer that start a flush (50,000) */
    int64_t flush_ms;      /* age of a buffer's first row that starts a flush (5,000) */
    pq_codec_t codec;      /* PQ_ZSTD */
    int zstd_level;        /* with PQ_ZSTD (0: zstd's default, 3) */
    size_t max_bytes;      /* buffers, flushes and queued writes together, before -EAGAIN */
    int flush_threads;     /* writer threads (2) */
    int max_measurements;  /* (database, measurement) pairs at most (10,000) */
    size_t journal_segment_bytes, journal_max_bytes; /* wal: the journal's (0: its defaults) */
} ingest_opts_t;

typedef struct ingest ingest_t;
/* One request's rows, decoded and checked, in no buffer yet. */
typedef struct ingest_req ingest_req_t;

/* Whether s (n bytes) may name a database or measurement, which become directory names: 1 to
 * 200 bytes of UTF-8, no '/', no control character, not starting with '.'. */
bool ingest_name_ok(const char *s, size_t n);

/* Decodes body into a request for database db (checked with ingest_name_ok): line protocol with
 * its times in units of unit_ns nanoseconds, or Arc's MessagePack; rows without a time get
 * now_ns. NULL with the problem in err and the error code (util/err.h) in *code: a bad line or
 * map, a bad name, a type clash inside the body. */
ingest_req_t *ingest_decode(const char *db, ingest_format_t f, int64_t unit_ns, int64_t now_ns,
                            const char *body, size_t len, int *code, char *err, size_t errlen);
/* Rows the request holds. */
int64_t ingest_req_rows(const ingest_req_t *r);
void ingest_req_free(ingest_req_t *r);

/* Called once a pending write is settled: 0, or an error code with its message. */
typedef void (*ingest_done_fn)(void *arg, int code, const char *msg);

/* Takes r (always: it is freed here or later) into the buffers. body[0..len) is what was
 * decoded, journaled under wal (it must stay valid until done runs). Returns 0 when the write
 * is settled and done will not be called (buffered), 1 when done will be called from another
 * thread (wal), or an error code with err: ERR_INVALID (a field whose type differs from its
 * buffer's), ERR_BUSY (the memory cap; retry), ERR_TOO_LARGE, ERR_SHUTDOWN. */
int ingest_submit(ingest_t *g, ingest_req_t *r, const char *body, size_t len, ingest_done_fn done,
                  void *arg, char *err, size_t errlen);

/* Whether the memory cap is reached now: a write arriving would be refused, so its body need
 * not be decoded first. Lock-free. */
bool ingest_full(ingest_t *g);

/* Opens DIR (creating it), and under wal opens the journal and replays what it holds that no
 * file has, writing those files before returning. NULL with err on failure. */
ingest_t *ingest_open(const ingest_opts_t *o, char *err, size_t errlen);

/* Flushes every buffer now and waits until the files are written (a test and shutdown aid).
 * 0, or the -errno of a flush that failed. */
int ingest_flush_all(ingest_t *g);

typedef struct ingest_stats {
    uint64_t requests, rows, rejected;   /* accepted writes and their rows; refused writes */
    uint64_t flushes, files, file_bytes; /* flushes done, files written, their bytes */
    uint64_t flush_errors;               /* failed file writes (retried) */
    uint64_t replayed_rows;              /* rows replayed from the journal at open */
    int64_t buffered_rows;               /* rows in buffers or flushes, in no file yet */
    int64_t flushing_rows;               /* of those, the rows handed to flushes (queued or being
                                            written): a backlog when it stays high */
    size_t mem_bytes;                    /* what the memory cap counts */
    double oldest_s;                     /* age of the oldest row in no file yet (0: none) */
} ingest_stats_t;
void ingest_stats(ingest_t *g, ingest_stats_t *s);

/* Refuses new writes, flushes every buffer, waits for the files, stops the threads and closes
 * the journal. Returns how many rows that were acknowledged could not be written (0: none).
 * NULL is a no-op. */
uint64_t ingest_close(ingest_t *g);

#endif
