/* Tables with a schema: what the store keeps, described once. Each table has a journal id (the
 * table field of its journal frames: never reused), a name (the database table), and typed
 * columns; a row is one store_value_t per column. The store (queue, journal, group commit, ids,
 * acks) and the sinks (INSERT, COPY, CREATE TABLE) work from this description alone, and this
 * file holds the journal's row encoding, so every table is journaled, recovered and applied the
 * same way. Tables: predictions (store/predictions.h); events, collection points and detections
 * come with their issues, each a store_table_t added to the list in table.c.
 *
 * Row encoding: u8 format (1), then each column in schema order: UUID 36 bytes; INT64, TIME and
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
    ST_FLOAT64, /* finite: SQLite would store NaN as NULL */
    ST_TIME,    /* unix microseconds: NAME timestamptz in PostgreSQL, NAME_us INTEGER in SQLite */
    ST_TEXT,    /* UTF-8 */
    ST_JSON     /* JSON text the server produced, stored and served verbatim */
} store_type_t;

typedef struct store_column {
    const char *name;
    store_type_t type;
    bool nullable;
} store_column_t;

/* One column's value: s/len for UUID, TEXT and JSON (s NULL = null), i for INT64, f for
 * FLOAT64; null marks a null number. */
typedef struct store_value {
    const char *s;
    size_t len;
    int64_t i;
    double f;
    bool null;
} store_value_t;

typedef struct store_table {
    uint16_t id;      /* journal table id, >= 1 */
    const char *name; /* the database table */
    int ncols;
    const store_column_t *cols; /* cols[0] is the row's ST_UUID id, assigned by the store */
    int time_col; /* a non-null ST_TIME column the store sets to the id's time, or -1 */
    /* Checks what the schema cannot say (a range, a non-empty name): true, or false with the
     * problem in err. Optional. */
    bool (*check)(const store_value_t *row, char *err, size_t errlen);
} store_table_t;

#define STORE_MAX_COLS 32

/* The table with this journal id, or NULL. */
const store_table_t *store_table_by_id(uint16_t id);
/* Every table the store knows, and how many (tables[i] for i < *n). */
const store_table_t *const *store_tables(int *n);

/* Whether t is a table the store can serve: id >= 1, 1 to STORE_MAX_COLS columns named like
 * SQL identifiers ([a-z_][a-z0-9_]*, at most 60 bytes), cols[0] a non-null ST_UUID and no other
 * UUID, time_col -1 or a non-null ST_TIME. False with the problem in err. */
bool table_valid(const store_table_t *t, char *err, size_t errlen);
/* Checks row against t before the store assigns the id and the time column (those two are not
 * looked at): nulls only in nullable columns, finite floats, then t->check. True if it fits,
 * else false with the problem (naming the column) in err. */
bool table_row_check(const store_table_t *t, const store_value_t *row, char *err, size_t errlen);
/* SQL of a table for the sinks. time_as_us: the database has no time type (SQLite), so an
 * ST_TIME column NAME is NAME_us, an integer of microseconds. */
struct buf;
/* Appends t's column names, in schema order and comma-separated, to b. 0 or -ENOMEM. */
int table_sql_columns(const store_table_t *t, bool time_as_us, struct buf *b);
/* Appends "CREATE TABLE IF NOT EXISTS name (...)" to b: types[type] per column, NOT NULL where
 * the schema says so, the id the primary key. 0 or -ENOMEM. */
int table_sql_create(const store_table_t *t, bool time_as_us, const char *const types[],
                     struct buf *b);

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
