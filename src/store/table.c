#include "store/table.h"

#include <errno.h>
#include <string.h>

#include "store/predictions.h"
#include "util/bytes.h"

#define FORMAT   1
#define NUL32    0xFFFFFFFFu
#define UUID_LEN 36

static const store_table_t *const tables[] = {&store_table_predictions};

const store_table_t *store_table_by_id(uint16_t id)
{
    for (size_t k = 0; k < sizeof tables / sizeof *tables; k++)
        if (tables[k]->id == id) return tables[k];
    return NULL;
}

size_t table_row_size(const store_table_t *t, const store_value_t *row)
{
    size_t n = 1;
    for (int c = 0; c < t->ncols; c++) {
        const store_column_t *col = &t->cols[c];
        switch (col->type) {
        case ST_UUID: n += UUID_LEN; break;
        case ST_INT64:
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
        case ST_FLOAT64:
            if (col->nullable) *o++ = v->null;
            if (col->type == ST_INT64)
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
        case ST_FLOAT64:
            if (col->nullable) {
                if (p == end || *p > 1) return -EBADMSG;
                v->null = *p++;
            }
            if (end - p < 8) return -EBADMSG;
            if (col->type == ST_INT64)
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
