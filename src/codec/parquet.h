/* Parquet files, written (no packaged C library writes them): flat schemas of typed columns,
 * each REQUIRED or OPTIONAL (a row without a value is a null, written as a definition level).
 * Row groups of o->row_group_rows, data pages (v1) of o->page_rows; strings dictionary-encoded
 * while their distinct values stay few (PARQUET_DICT_MAX), PLAIN otherwise and for every other
 * type; min/max/null-count statistics per column chunk; pages compressed with snappy, zstd or
 * not at all; key-value metadata. The layout follows the Apache Parquet format specification
 * (parquet.thrift, thrift's compact protocol for the metadata). docs/ingest.md. */
#ifndef INFERD_CODEC_PARQUET_H
#define INFERD_CODEC_PARQUET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define PARQUET_DICT_MAX 65536 /* distinct strings a column chunk's dictionary holds at most */

typedef enum pq_type {
    PQ_BOOL,    /* uint8_t 0/1 per row: BOOLEAN */
    PQ_INT64,   /* int64_t: INT64 */
    PQ_UINT64,  /* uint64_t: INT64, logical INTEGER(64, unsigned) */
    PQ_DOUBLE,  /* double: DOUBLE */
    PQ_STRING,  /* UTF-8 bytes: BYTE_ARRAY, logical STRING */
    PQ_TIME_NS, /* int64_t nanoseconds since the epoch: INT64, logical TIMESTAMP(UTC, NANOS) */
} pq_type_t;

/* Parquet's own CompressionCodec numbers. */
typedef enum pq_codec { PQ_UNCOMPRESSED = 0, PQ_SNAPPY = 1, PQ_ZSTD = 6 } pq_codec_t;

typedef struct pq_column {
    const char *name; /* UTF-8, not empty */
    pq_type_t type;
    /* NULL: a value in every row (REQUIRED). Else 1 or 0 per row (OPTIONAL): 0 is a null, and
     * values[row] (or the string) is then ignored. */
    const uint8_t *valid;
    const void *values;      /* one per row, of the type's C type; strings: NULL */
    const uint64_t *offsets; /* strings: row i is data[offsets[i] .. offsets[i + 1]) */
    const char *data;
} pq_column_t;

typedef struct pq_options {
    pq_codec_t codec;
    int zstd_level;         /* 0: zstd's default (3) */
    int64_t row_group_rows; /* 0: 1,048,576 */
    int64_t page_rows;      /* 0: 65,536 */
    const char *const *kv;  /* key-value metadata: key, value, key, value, ..., NULL (or NULL) */
    const char *created_by; /* NULL: "inferd" */
} pq_options_t;

/* Appends a whole Parquet file of nrows rows of the ncols columns (1..PARQUET_MAX_COLUMNS) to
 * out. 0, or -EINVAL (a column without a name or values, an unknown type or codec) or -ENOMEM,
 * with the problem in err. */
#define PARQUET_MAX_COLUMNS 4096
int parquet_encode(buf_t *out, const pq_column_t *cols, int ncols, int64_t nrows,
                   const pq_options_t *o, char *err, size_t errlen);

#endif
