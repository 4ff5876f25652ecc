/* A measurement's rows, held column by column: a time column and one typed column per tag or
 * field name, in the order the names first arrived. A row without a value for a column is a
 * null there (padded lazily: a column remembers how many rows it has filled). Decoded points
 * (line protocol, Arc's row maps) are appended one at a time, Arc's columnar maps a column at a
 * time; one request's rows are decoded into a colbuf of their own and then merged into the
 * measurement's open buffer, which is what a flush turns into Parquet.
 *
 * Not thread-safe: a colbuf has one owner at a time (its request, or the ingest lock). */
#ifndef INFERD_INGEST_COLBUF_H
#define INFERD_INGEST_COLBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/arcmsgpack.h"
#include "codec/lineproto.h"
#include "codec/parquet.h"

#define COLBUF_MAX_COLUMNS 1024 /* tag and field columns of one measurement, time excluded */

typedef struct colbuf_col {
    char *name; /* NUL-terminated copy; tags and fields share the name space */
    size_t nlen;
    lp_type_t type;
    int64_t filled; /* rows with a value or a null so far; the rest are nulls to pad */
    int64_t nulls;
    uint8_t *valid; /* NULL while every row so far has a value; else 1/0 per row */
    void *vals;     /* 8 bytes per row (1 for bools); strings: uint64_t offsets, rows + 1 */
    char *data;     /* strings' bytes */
    size_t dlen, dcap;
    int64_t cap; /* rows vals (and valid) can hold */
} colbuf_col_t;

typedef struct colbuf {
    int64_t rows, cap;
    int64_t *time; /* nanoseconds since the epoch */
    int64_t tmin, tmax;
    colbuf_col_t *cols;
    int ncols, capcols;
    int32_t *slots; /* open-addressing index of cols by name: -1 empty */
    int nslots;
    int hint;       /* the column the previous lookup found: lines repeat their keys in order */
    int64_t expect; /* rows it will likely hold (0: unknown): its columns' first allocation, so
                       that a request's rows do not grow through a chain of reallocations */
} colbuf_t;

void colbuf_init(colbuf_t *b);
void colbuf_free(colbuf_t *b);
/* Moves src's rows into an empty dst (src is left empty). */
void colbuf_move(colbuf_t *dst, colbuf_t *src);

/* Bytes of memory the buffer holds (its capacity, as the memory cap counts it). */
size_t colbuf_bytes(const colbuf_t *b);

/* Appends one point at time_ns: tags as strings, then fields. A name given twice in one point
 * keeps the last value. 0, or -EINVAL with the problem in err (a field whose type differs from
 * the column's, the reserved name "time", too many columns), or -ENOMEM; a failed append leaves
 * the buffer as it was before the call. */
int colbuf_append_point(colbuf_t *b, const lp_line_t *p, int64_t time_ns, char *err, size_t errlen);

/* Appends a columnar batch: times in nanoseconds (b->time, or now_ns for every row when NULL).
 * The same errors as colbuf_append_point. */
int colbuf_append_batch(colbuf_t *b, const am_batch_t *a, int64_t now_ns, char *err, size_t errlen);

/* Whether src's columns fit dst's (same type for every shared name, and at most
 * COLBUF_MAX_COLUMNS together): 0, or -EINVAL naming the first clash in err. */
int colbuf_check_merge(const colbuf_t *dst, const colbuf_t *src, char *err, size_t errlen);
/* Adds to dst, empty, the columns of src it lacks (checked with colbuf_check_merge first), so
 * that later checks see their types. 0 or -ENOMEM. */
int colbuf_declare(colbuf_t *dst, const colbuf_t *src);
/* Appends src's rows to dst (checked with colbuf_check_merge first). 0 or -ENOMEM, which
 * leaves dst as it was. */
int colbuf_merge(colbuf_t *dst, const colbuf_t *src);

/* Pads every column to the row count and describes the buffer as Parquet columns (time first,
 * named "time"): cols needs ncols + 1 entries; returns how many it filled. The columns point
 * into b, valid until b changes. */
int colbuf_pq_columns(colbuf_t *b, pq_column_t *cols);

/* Copies the rows whose indexes are in idx (n of them, in that order) into an empty dst, with
 * every column of src. 0 or -ENOMEM. */
int colbuf_gather(colbuf_t *dst, colbuf_t *src, const int64_t *idx, int64_t n);

#endif
