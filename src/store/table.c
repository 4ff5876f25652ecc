#include "store/table.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "store/points.h"
#include "store/predictions.h"
#include "util/buf.h"
#include "util/bytes.h"

#define FORMAT   1
#define NUL32    0xFFFFFFFFu
#define UUID_LEN 36

static const store_table_t *const tables[] = {&store_table_predictions, &store_table_points};

const store_table_t *store_table_by_id(uint16_t id)
{
    for (size_t k = 0; k < sizeof tables / sizeof *tables; k++)
        if (tables[k]->id == id) return tables[k];
    return NULL;
}

const store_table_t *const *store_tables(int *n)
{
    *n = (int)(sizeof tables / sizeof *tables);
    return tables;
}

/* [a-z_][a-z0-9_]{0,59}: safe to put in SQL text unquoted, and short enough for any database. */
static bool sql_ident(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 60 || (s[0] >= '0' && s[0] <= '9')) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

bool table_valid(const store_table_t *t, char *err, size_t errlen)
{
    if (!t || t->id < 1 || !sql_ident(t->name) || t->ncols < 1 || t->ncols > STORE_MAX_COLS ||
        !t->cols) {
        snprintf(err, errlen, "table %s: needs an id >= 1, a lower-case name and 1 to %d columns",
                 t && t->name ? t->name : "?", STORE_MAX_COLS);
        return false;
    }
    for (int c = 0; c < t->ncols; c++) {
        const store_column_t *col = &t->cols[c];
        const char *bad = !sql_ident(col->name) ? "is not a lower-case SQL name"
                          : (c == 0) != (col->type == ST_UUID)
                              ? "must be the first column, the only ST_UUID one"
                          : c == 0 && col->nullable ? "(the id) cannot be nullable"
                          : c == t->time_col && (col->type != ST_TIME || col->nullable)
                              ? "(time_col) must be a non-null ST_TIME"
                              : NULL;
        if (bad) {
            snprintf(err, errlen, "table %s: column %d (%s) %s", t->name, c,
                     col->name ? col->name : "?", bad);
            return false;
        }
    }
    if (t->time_col < -1 || t->time_col >= t->ncols || t->time_col == 0) {
        snprintf(err, errlen, "table %s: time_col %d is not a column", t->name, t->time_col);
        return false;
    }
    return true;
}

static bool is_null(const store_column_t *col, const store_value_t *v)
{
    switch (col->type) {
    case ST_INT64:
    case ST_FLOAT64:
    case ST_TIME: return v->null;
    default: return v->s == NULL;
    }
}

bool table_row_check(const store_table_t *t, const store_value_t *row, char *err, size_t errlen)
{
    for (int c = 1; c < t->ncols; c++) {
        const store_column_t *col = &t->cols[c];
        if (c == t->time_col) continue;
        if (!col->nullable && is_null(col, &row[c])) {
            snprintf(err, errlen, "%s.%s cannot be null", t->name, col->name);
            return false;
        }
        if (col->type == ST_FLOAT64 && !row[c].null && !isfinite(row[c].f)) {
            snprintf(err, errlen, "%s.%s must be a finite number", t->name, col->name);
            return false;
        }
    }
    return !t->check || t->check(row, err, errlen);
}

static int sql_name(const store_column_t *c, bool time_as_us, buf_t *b)
{
    return buf_printf(b, c->type == ST_TIME && time_as_us ? "%s_us" : "%s", c->name);
}

int table_sql_columns(const store_table_t *t, bool time_as_us, buf_t *b)
{
    int rc = 0;
    for (int c = 0; c < t->ncols && !rc; c++) {
        if (c) rc = buf_puts(b, ", ");
        if (!rc) rc = sql_name(&t->cols[c], time_as_us, b);
    }
    return rc;
}

int table_sql_create(const store_table_t *t, bool time_as_us, const char *const types[], buf_t *b)
{
    int rc = buf_printf(b, "CREATE TABLE IF NOT EXISTS %s (", t->name);
    for (int c = 0; c < t->ncols && !rc; c++) {
        const store_column_t *col = &t->cols[c];
        if (c) rc = buf_puts(b, ", ");
        if (!rc) rc = sql_name(col, time_as_us, b);
        if (!rc)
            rc = buf_printf(b, " %s%s", types[col->type],
                            c == 0          ? " PRIMARY KEY NOT NULL"
                            : col->nullable ? ""
                                            : " NOT NULL");
    }
    return rc ? rc : buf_printf(b, ")"); /* printf: NUL-terminated */
}

size_t table_row_size(const store_table_t *t, const store_value_t *row)
{
    size_t n = 1;
    for (int c = 0; c < t->ncols; c++) {
        const store_column_t *col = &t->cols[c];
        switch (col->type) {
        case ST_UUID: n += UUID_LEN; break;
        case ST_INT64:
        case ST_TIME:
        case ST_FLOAT64: n += 8 + (col->nullable ? 1 : 0); break;
        case ST_TEXT:
        case ST_JSON: n += 4 + (row[c].s ? row[c].len : 0); break;
        }
    }
    return n;
}

size_t table_row_encode(const store_table_t *t, const store_value_t *row, unsigned char *out)
{
    unsigned char *o = out;
    *o++ = FORMAT;
    for (int c = 0; c < t->ncols; c++) {
        const store_column_t *col = &t->cols[c];
        const store_value_t *v = &row[c];
        switch (col->type) {
        case ST_UUID:
            memset(o, 0, UUID_LEN);
            if (v->s) memcpy(o, v->s, v->len < UUID_LEN ? v->len : UUID_LEN);
            o += UUID_LEN;
            break;
        case ST_INT64:
        case ST_TIME:
        case ST_FLOAT64:
            if (col->nullable) *o++ = v->null;
            if (col->type != ST_FLOAT64)
                store_u64(o, (uint64_t)v->i);
            else
                memcpy(o, &v->f, 8);
            o += 8;
            break;
        case ST_TEXT:
        case ST_JSON:
            store_u32(o, v->s ? (uint32_t)v->len : NUL32);
            o += 4;
            if (v->s && v->len) memcpy(o, v->s, v->len);
            o += v->s ? v->len : 0;
            break;
        }
    }
    return (size_t)(o - out);
}

int table_row_decode(const store_table_t *t, const unsigned char *p, size_t n, store_value_t *row,
                     char *scratch)
{
    const unsigned char *end = p + n;
    if (n < 1 || *p++ != FORMAT) return -EBADMSG;
    for (int c = 0; c < t->ncols; c++) {
        const store_column_t *col = &t->cols[c];
        store_value_t *v = &row[c];
        memset(v, 0, sizeof *v);
        size_t len;
        switch (col->type) {
        case ST_UUID:
            if (end - p < UUID_LEN) return -EBADMSG;
            len = UUID_LEN;
            break;
        case ST_INT64:
        case ST_TIME:
        case ST_FLOAT64:
            if (col->nullable) {
                if (p == end || *p > 1) return -EBADMSG;
                v->null = *p++;
            }
            if (end - p < 8) return -EBADMSG;
            if (col->type != ST_FLOAT64)
                v->i = (int64_t)load_u64(p);
            else
                memcpy(&v->f, p, 8);
            p += 8;
            continue;
        case ST_TEXT:
        case ST_JSON:
            if (end - p < 4) return -EBADMSG;
            len = load_u32(p);
            p += 4;
            if (len == NUL32) {
                if (!col->nullable) return -EBADMSG;
                continue; /* null: s stays NULL */
            }
            if ((size_t)(end - p) < len) return -EBADMSG;
            break;
        default: return -EBADMSG;
        }
        memcpy(scratch, p, len);
        scratch[len] = 0;
        v->s = scratch;
        v->len = len;
        scratch += len + 1;
        p += len;
    }
    return p == end ? 0 : -EBADMSG;
}
