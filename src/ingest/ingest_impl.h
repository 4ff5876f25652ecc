/* Inside the ingest layer: a request's decoded rows (decode.c), shared with ingest.c. */
#ifndef INFERD_INGEST_INGEST_IMPL_H
#define INFERD_INGEST_INGEST_IMPL_H

#include "ingest/colbuf.h"
#include "ingest/ingest.h"

#define INGEST_NAME_MAX 200

/* One measurement's rows of a request. */
typedef struct req_meas {
    char name[INGEST_NAME_MAX + 1];
    size_t nlen;
    colbuf_t cb;
} req_meas_t;

struct ingest_req {
    char db[INGEST_NAME_MAX + 1];
    ingest_format_t format;
    int64_t unit_ns, now_ns;
    req_meas_t *ms;
    int nms, capms, last;
    int64_t rows;
    int64_t expect; /* line protocol: the body's lines, the rows it likely holds */
    size_t bytes;   /* what the memory cap counts while the request waits */

    /* wal: while queued for the journal writer */
    struct ingest_req *next;
    const char *body;
    size_t len;
    ingest_done_fn done;
    void *arg;
    int code; /* set by the writer: 0 or why it was refused */
    char msg[256];
};

/* A (database, measurement)'s open buffer (ingest.c, under its lock). */
typedef struct ibuf {
    char *db, *meas;
    uint32_t hash;
    struct ibuf *hnext, *next;
    colbuf_t cb;
    uint64_t first_ns;         /* monotonic time its first row arrived (0: empty) */
    uint64_t min_lsn, max_lsn; /* wal: the journal records its rows came from (0: none) */
    uint64_t through;          /* wal, at open: every record up to it is in a file already */
    size_t bytes;              /* colbuf_bytes(cb) as the memory cap last counted it */
} ibuf_t;

/* A buffer's rows on their way to files: made by a flush, written by a flush thread. */
typedef struct job {
    ibuf_t *buf; /* for its names; the buffer itself goes on taking rows */
    colbuf_t cb;
    uint64_t min_lsn, max_lsn, first_ns;
    size_t bytes;
    int attempts;
    struct job *next;
} job_t;

#endif
