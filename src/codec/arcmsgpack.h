/* Arc's MessagePack ingestion format, decoded with msgpack-c. A body is one map, an array of
 * maps, or {"batch": [...]} of maps, each map either
 *
 *   columnar: {"m": measurement, "columns": {"time": [...], name: [...], ...}}  (every array of
 *             one length; every key a column; no "time": the server's clock, the caller's)
 *   row:      {"m": measurement, "t"?: time, "h"?: host, "tags"?: {k: v}, "fields" | "f": {k: v}}
 *
 * Times are integers (or floats holding one, as JavaScript encoders write large numbers) whose
 * unit is guessed from the magnitude as Arc does (< 1e10 seconds,
 * < 1e13 milliseconds, < 1e16 microseconds, else nanoseconds) and given here in nanoseconds.
 * Values: integers (int64, or uint64 above its range), floats (finite), booleans, strings, nil
 * (a null). A row's "h" is the tag "host"; tag values are strings. The decoder takes untrusted
 * bytes (fuzzed: fuzz/fuzz_arcmsgpack.c). */
#ifndef INFERD_CODEC_ARCMSGPACK_H
#define INFERD_CODEC_ARCMSGPACK_H

#include "codec/lineproto.h"

/* One column of a columnar map: rows values of one type (numbers of mixed kinds are widened:
 * any float makes a float column, else any integer above int64 an unsigned one). */
typedef struct am_column {
    lp_str_t name;
    lp_type_t type;
    const uint8_t *valid; /* NULL: no nulls; else 1/0 per row */
    union {
        const double *f;
        const int64_t *i;
        const uint64_t *u;
        const uint8_t *b;
        const lp_str_t *s;
    } v;
} am_column_t;

typedef struct am_batch {
    lp_str_t measurement;
    int64_t rows;
    const int64_t *time; /* nanoseconds per row, or NULL (no "time" column) */
    const am_column_t *cols;
    int ncols;
} am_batch_t;

typedef struct am_sink {
    /* A row map, as a point: its time (when has_time) is in nanoseconds. */
    int (*point)(void *arg, const lp_line_t *p);
    /* A columnar map. */
    int (*batch)(void *arg, const am_batch_t *b);
    void *arg;
} am_sink_t;

/* Arc's unit guess: t in s, ms, us or ns by magnitude, as nanoseconds (saturating). */
int64_t am_time_ns(int64_t t);

/* Decodes body[0..len) and passes each map to the sink, in order. 0, what a callback returned
 * (non-zero stops), or -EINVAL with the problem in err ("map 3: ..." counts maps from 1), or
 * -ENOMEM. Strings passed point into body. */
int am_decode(const char *body, size_t len, const am_sink_t *sink, char *err, size_t errlen);

#endif
