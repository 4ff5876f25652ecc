/* Tables with a schema: what the store keeps, described once. Each table has a journal id (the
 * table field of its journal frames: never reused), a name (the database table), and typed
 * columns; a row is one store_value_t per column. This file also holds the journal's row
 * encoding, driven by the schema, so every table is journaled, recovered and applied the same
 * way. Tables: predictions (store/predictions.h); events, collection points and detections come
 * with their issues.
 *
 * Row encoding: u8 format (1), then each column in schema order: UUID 36 bytes; INT64 and
 * FLOAT64 8 bytes little-endian (a nullable one is preceded by a byte, 1 = null); TEXT and JSON
 * a u32 length (0xFFFFFFFF = null) and the bytes. */
#ifndef INFERD_STORE_TABLE_H
#define INFERD_STORE_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum store_type {
    ST_UUID, /* a canonical UUID's 36 characters: the row's id, never null */
    ST_INT64,
    ST_FLOAT64,
    ST_TEXT, /* UTF-8 */
    ST_JSON  /* JSON text the server produced, stored and served verbatim */
} store_type_t;

typedef struct store_column {
    const char *name;
    store_type_t type;
    bool nullable;
} store_column_t;

typedef struct store_table {
    uint16_t id;      /* journal table id, >= 1 */
    const char *name; /* the database table */
    int ncols;
    const store_column_t *cols; /* cols[0] is the row's ST_UUID id */
} store_table_t;

/* One column's value: s/len for UUID, TEXT and JSON (s NULL = null), i for INT64, f for
 * FLOAT64; null marks a null number. */
typedef struct store_value {
    const char *s;
    size_t len;
    int64_t i;
    double f;
    bool null;
} store_value_t;

#define STORE_MAX_COLS 32

/* The table with this journal id, or NULL. */
const store_table_t *store_table_by_id(uint16_t id);

/* Bytes table_row_encode writes for row. */
size_t table_row_size(const store_table_t *t, const store_value_t *row);
/* Writes row into out (table_row_size bytes); returns the bytes written. The caller has checked
 * the row against the schema (a null in a column that is not nullable is written as empty). */
size_t table_row_encode(const store_table_t *t, const store_value_t *row, unsigned char *out);
/* Decodes p[0..n) into row (t->ncols values). Strings are copied NUL-terminated into scratch
 * (n + t->ncols bytes are enough) and point there, so sinks may read them as C strings. 0, or
 * -EBADMSG for bytes that are not a row of t. */
int table_row_decode(const store_table_t *t, const unsigned char *p, size_t n, store_value_t *row,
                     char *scratch);

#endif
