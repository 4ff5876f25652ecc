/* Column buffers for ingestion: colbuf.h. */
#include "ingest/colbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/utf8.h"

static const char *const type_names[] = {"float", "integer", "unsigned", "boolean", "string"};

static size_t elem_size(lp_type_t t)
{
    return t == LP_BOOL ? 1 : 8;
}

static uint32_t name_hash(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

void colbuf_init(colbuf_t *b)
{
    memset(b, 0, sizeof *b);
}

static void col_free(colbuf_col_t *c)
{
    free(c->name);
    free(c->valid);
    free(c->vals);
    free(c->data);
}

void colbuf_free(colbuf_t *b)
{
    for (int i = 0; i < b->ncols; i++) col_free(&b->cols[i]);
    free(b->cols);
    free(b->time);
    free(b->slots);
    colbuf_init(b);
}

void colbuf_move(colbuf_t *dst, colbuf_t *src)
{
    *dst = *src;
    colbuf_init(src);
}

size_t colbuf_bytes(const colbuf_t *b)
{
    size_t n = (size_t)b->cap * 8 + (size_t)b->capcols * sizeof(colbuf_col_t) +
               (size_t)b->nslots * sizeof(int32_t);
    for (int i = 0; i < b->ncols; i++) {
        const colbuf_col_t *c = &b->cols[i];
        n += c->nlen + 1 + (size_t)c->cap * elem_size(c->type) + c->dcap;
        if (c->type == LP_STRING) n += 8;
        if (c->valid) n += (size_t)c->cap;
    }
    return n;
}

static int col_reserve(colbuf_col_t *c, int64_t rows);
static void col_free(colbuf_col_t *c);

/* ---- the name index ---- */

static int rehash(colbuf_t *b, int nslots)
{
    int32_t *s = malloc((size_t)nslots * sizeof *s);
    if (!s) return -ENOMEM;
    for (int i = 0; i < nslots; i++) s[i] = -1;
    for (int i = 0; i < b->ncols; i++) {
        uint32_t h = name_hash(b->cols[i].name, b->cols[i].nlen) & (uint32_t)(nslots - 1);
        while (s[h] >= 0) h = (h + 1) & (uint32_t)(nslots - 1);
        s[h] = i;
    }
    free(b->slots);
    b->slots = s;
    b->nslots = nslots;
    return 0;
}

static bool name_is(const colbuf_col_t *c, const char *p, size_t n)
{
    return c->nlen == n && memcmp(c->name, p, n) == 0;
}

static int find_col(colbuf_t *b, const char *p, size_t n)
{
    if (b->hint < b->ncols && name_is(&b->cols[b->hint], p, n)) return b->hint++;
    if (!b->nslots) return -1;
    uint32_t h = name_hash(p, n) & (uint32_t)(b->nslots - 1);
    for (int32_t i; (i = b->slots[h]) >= 0; h = (h + 1) & (uint32_t)(b->nslots - 1))
        if (name_is(&b->cols[i], p, n)) return (b->hint = i + 1) - 1;
    return -1;
}

/* A new empty column; its index, or -EINVAL (too many) / -ENOMEM. */
static int add_col(colbuf_t *b, const char *p, size_t n, lp_type_t t, char *err, size_t errlen)
{
    if (b->ncols >= COLBUF_MAX_COLUMNS)
        return err_fail(err, errlen, ERR_INVALID, "more than %d columns in measurement",
                        COLBUF_MAX_COLUMNS);
    if (b->ncols == b->capcols) {
        int nc = b->capcols ? 2 * b->capcols : 16;
        colbuf_col_t *c = realloc(b->cols, (size_t)nc * sizeof *c);
        if (!c) return -ENOMEM;
        b->cols = c;
        b->capcols = nc;
    }
    colbuf_col_t *c = &b->cols[b->ncols];
    memset(c, 0, sizeof *c);
    if (!(c->name = malloc(n + 1))) return -ENOMEM;
    memcpy(c->name, p, n);
    c->name[n] = 0;
    c->nlen = n;
    c->type = t;
    if (b->expect > 0 && col_reserve(c, b->expect)) {
        col_free(c);
        return -ENOMEM;
    }
    b->ncols++;
    if (2 * b->ncols > b->nslots) {
        if (rehash(b, b->nslots ? 2 * b->nslots : 32)) {
            col_free(&b->cols[--b->ncols]);
            return -ENOMEM;
        }
    } else {
        uint32_t h = name_hash(p, n) & (uint32_t)(b->nslots - 1);
        while (b->slots[h] >= 0) h = (h + 1) & (uint32_t)(b->nslots - 1);
        b->slots[h] = b->ncols - 1;
    }
    return b->ncols - 1;
}

/* Drops the columns from ncols on (added by a call that failed). */
static void drop_cols(colbuf_t *b, int ncols)
{
    if (ncols == b->ncols) return;
    while (b->ncols > ncols) col_free(&b->cols[--b->ncols]);
    b->hint = 0;
    if (rehash(b, b->nslots)) { /* cannot fail to shrink: keep the old slots minus the dropped */
        for (int i = 0; i < b->nslots; i++)
            if (b->slots[i] >= ncols) b->slots[i] = -1;
    }
}

/* ---- one column's storage ---- */

static int col_reserve(colbuf_col_t *c, int64_t rows)
{
    if (rows <= c->cap) return 0;
    int64_t nc = c->cap ? 2 * c->cap : 64;
    if (nc < rows) nc = rows;
    size_t extra = c->type == LP_STRING ? 1 : 0;
    void *v = realloc(c->vals, ((size_t)nc + extra) * elem_size(c->type));
    if (!v) return -ENOMEM;
    c->vals = v;
    if (c->type == LP_STRING && c->cap == 0) ((uint64_t *)v)[0] = 0;
    if (c->valid) {
        uint8_t *m = realloc(c->valid, (size_t)nc);
        if (!m) return -ENOMEM;
        c->valid = m;
    }
    c->cap = nc;
    return 0;
}

static int data_reserve(colbuf_col_t *c, size_t extra)
{
    if (c->dlen + extra <= c->dcap) return 0;
    size_t nc = c->dcap ? 2 * c->dcap : 1024;
    while (nc < c->dlen + extra) nc *= 2;
    char *d = realloc(c->data, nc);
    if (!d) return -ENOMEM;
    c->data = d;
    c->dcap = nc;
    return 0;
}

/* The validity array, made on the first null (every row before it has a value). */
static int col_want_valid(colbuf_col_t *c)
{
    if (c->valid) return 0;
    if (!(c->valid = malloc(c->cap ? (size_t)c->cap : 1))) return -ENOMEM;
    memset(c->valid, 1, (size_t)c->filled);
    return 0;
}

/* Nulls in rows [filled, upto); capacity for them reserved. */
static int col_pad(colbuf_col_t *c, int64_t upto)
{
    if (c->filled >= upto) return 0;
    if (col_reserve(c, upto) || col_want_valid(c)) return -ENOMEM;
    int64_t n = upto - c->filled;
    memset(c->valid + c->filled, 0, (size_t)n);
    if (c->type == LP_STRING) {
        uint64_t *off = c->vals;
        for (int64_t r = c->filled; r < upto; r++) off[r + 1] = off[r];
    } else {
        memset((char *)c->vals + (size_t)c->filled * elem_size(c->type), 0,
               (size_t)n * elem_size(c->type));
    }
    c->nulls += n;
    c->filled = upto;
    return 0;
}

/* Takes the column back to rows rows (undoing a failed append). */
static void col_truncate(colbuf_col_t *c, int64_t rows)
{
    if (c->filled <= rows) return;
    if (c->valid)
        for (int64_t r = rows; r < c->filled; r++) c->nulls -= !c->valid[r];
    if (c->type == LP_STRING) c->dlen = ((uint64_t *)c->vals)[rows];
    c->filled = rows;
}

static void rollback(colbuf_t *b, int64_t rows, int ncols)
{
    for (int i = 0; i < ncols; i++) col_truncate(&b->cols[i], rows);
    drop_cols(b, ncols);
    b->rows = rows;
}

static int time_reserve(colbuf_t *b, int64_t rows)
{
    if (rows <= b->cap) return 0;
    int64_t nc = b->cap ? 2 * b->cap : b->expect > 64 ? b->expect : 64;
    if (nc < rows) nc = rows;
    int64_t *t = realloc(b->time, (size_t)nc * sizeof *t);
    if (!t) return -ENOMEM;
    b->time = t;
    b->cap = nc;
    return 0;
}

static void note_time(colbuf_t *b, int64_t t)
{
    if (b->rows == 0 || t < b->tmin) b->tmin = t;
    if (b->rows == 0 || t > b->tmax) b->tmax = t;
}

/* Whether p[0..n) is UTF-8 text without NUL bytes, what a Parquet STRING (and its readers)
 * holds; ASCII is checked here, the rest by util/utf8. */
static bool text_ok(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!p[i] || (unsigned char)p[i] >= 0x80) return utf8_valid_text(p, n);
    return true;
}

static int bad_text(char *err, size_t errlen, const char *what, const lp_str_t *name)
{
    return err_fail(err, errlen, ERR_INVALID, "%s \"%.*s\" is not UTF-8 text (or holds a NUL)",
                    what, (int)(name->n > 200 ? 200 : name->n), name->p);
}

/* The column for name, made with type t if new; -EINVAL naming the clash when its type is not t. */
static int col_for(colbuf_t *b, const lp_str_t *name, lp_type_t t, char *err, size_t errlen)
{
    if (name->n == 4 && memcmp(name->p, "time", 4) == 0)
        return err_fail(err, errlen, ERR_INVALID,
                        "\"time\" is the time column, not a field or tag");
    if (!name->n || !text_ok(name->p, name->n)) return bad_text(err, errlen, "name", name);
    int i = find_col(b, name->p, name->n);
    if (i < 0) return add_col(b, name->p, name->n, t, err, errlen);
    if (b->cols[i].type != t)
        return err_fail(err, errlen, ERR_INVALID, "field \"%.*s\" is %s here, %s in earlier rows",
                        (int)(name->n > 200 ? 200 : name->n), name->p, type_names[t],
                        type_names[b->cols[i].type]);
    return i;
}

/* Puts one value in row r of c (filled <= r + 1: a second value for the row replaces the
 * first). */
static int col_put(colbuf_col_t *c, int64_t r, const void *v, const lp_str_t *s)
{
    if (c->filled == r + 1) { /* the same name twice in one point: the last one stays */
        if (c->valid && !c->valid[r]) c->nulls--;
        c->filled = r;
        if (c->type == LP_STRING) c->dlen = ((uint64_t *)c->vals)[r];
    }
    if (col_pad(c, r) || col_reserve(c, r + 1)) return -ENOMEM;
    if (c->valid) c->valid[r] = 1;
    if (c->type == LP_STRING) {
        if (data_reserve(c, s->n)) return -ENOMEM;
        if (s->n) memcpy(c->data + c->dlen, s->p, s->n);
        c->dlen += s->n;
        ((uint64_t *)c->vals)[r + 1] = c->dlen;
    } else {
        memcpy((char *)c->vals + (size_t)r * elem_size(c->type), v, elem_size(c->type));
    }
    c->filled = r + 1;
    return 0;
}

int colbuf_append_point(colbuf_t *b, const lp_line_t *p, int64_t time_ns, char *err, size_t errlen)
{
    int64_t r = b->rows;
    int ncols = b->ncols, rc = 0;
    if (time_reserve(b, r + 1)) return -ENOMEM;
    b->hint = 0;
    for (int i = 0; i < p->ntags && !rc; i++) {
        int c = col_for(b, &p->tags[i].key, LP_STRING, err, errlen);
        if (c >= 0 && !text_ok(p->tags[i].value.p, p->tags[i].value.n))
            c = bad_text(err, errlen, "the value of tag", &p->tags[i].key);
        rc = c < 0 ? c : col_put(&b->cols[c], r, NULL, &p->tags[i].value);
    }
    for (int i = 0; i < p->nfields && !rc; i++) {
        const lp_field_t *f = &p->fields[i];
        int c = col_for(b, &f->key, f->type, err, errlen);
        if (c >= 0 && f->type == LP_STRING && !text_ok(f->v.s.p, f->v.s.n))
            c = bad_text(err, errlen, "the value of field", &f->key);
        if (c < 0) {
            rc = c;
        } else {
            uint8_t bv = f->type == LP_BOOL && f->v.b; /* read the union's bool only if it is one */
            rc = col_put(&b->cols[c], r, f->type == LP_BOOL ? (const void *)&bv : &f->v, &f->v.s);
        }
    }
    if (rc) {
        rollback(b, r, ncols);
        if (rc == -ENOMEM) err_set(err, errlen, "out of memory");
        return rc;
    }
    note_time(b, time_ns);
    b->time[r] = time_ns;
    b->rows = r + 1;
    return 0;
}

int colbuf_append_batch(colbuf_t *b, const am_batch_t *a, int64_t now_ns, char *err, size_t errlen)
{
    int64_t r0 = b->rows, n = a->rows;
    int ncols = b->ncols, rc = 0;
    if (n == 0) return 0;
    if (time_reserve(b, r0 + n)) return -ENOMEM;
    b->hint = 0;
    for (int i = 0; i < a->ncols && !rc; i++) {
        const am_column_t *ac = &a->cols[i];
        int ci = col_for(b, &ac->name, ac->type, err, errlen);
        if (ci < 0) {
            rc = ci;
            break;
        }
        colbuf_col_t *c = &b->cols[ci];
        if (c->filled > r0) {
            rc = err_fail(err, errlen, ERR_INVALID, "column \"%.*s\" given twice",
                          (int)(ac->name.n > 200 ? 200 : ac->name.n), ac->name.p);
            break;
        }
        if (c->type == LP_STRING)
            for (int64_t k = 0; k < n && !rc; k++)
                if ((!ac->valid || ac->valid[k]) && !text_ok(ac->v.s[k].p, ac->v.s[k].n))
                    rc = bad_text(err, errlen, "a value of column", &ac->name);
        if (rc || (rc = col_pad(c, r0)) || (rc = col_reserve(c, r0 + n))) break;
        if (ac->valid && (rc = col_want_valid(c))) break;
        if (c->valid) {
            if (ac->valid) {
                memcpy(c->valid + r0, ac->valid, (size_t)n);
                for (int64_t k = 0; k < n; k++) c->nulls += !ac->valid[k];
            } else {
                memset(c->valid + r0, 1, (size_t)n);
            }
        }
        if (c->type == LP_STRING) {
            size_t bytes = 0;
            for (int64_t k = 0; k < n; k++) bytes += ac->v.s[k].n;
            if ((rc = data_reserve(c, bytes))) break;
            uint64_t *off = c->vals;
            for (int64_t k = 0; k < n; k++) {
                const lp_str_t *s = &ac->v.s[k];
                if (s->n) memcpy(c->data + c->dlen, s->p, s->n);
                c->dlen += s->n;
                off[r0 + k + 1] = c->dlen;
            }
        } else {
            memcpy((char *)c->vals + (size_t)r0 * elem_size(c->type), ac->v.f,
                   (size_t)n * elem_size(c->type));
        }
        c->filled = r0 + n;
    }
    if (rc) {
        rollback(b, r0, ncols);
        if (rc == -ENOMEM) err_set(err, errlen, "out of memory");
        return rc;
    }
    for (int64_t k = 0; k < n; k++) {
        int64_t t = a->time ? a->time[k] : now_ns;
        b->time[r0 + k] = t;
        if (k == 0 && r0 == 0) b->tmin = b->tmax = t;
        if (t < b->tmin) b->tmin = t;
        if (t > b->tmax) b->tmax = t;
    }
    b->rows = r0 + n;
    return 0;
}

int colbuf_check_merge(const colbuf_t *dst, const colbuf_t *src, char *err, size_t errlen)
{
    int added = 0;
    for (int i = 0; i < src->ncols; i++) {
        const colbuf_col_t *s = &src->cols[i];
        int j = find_col((colbuf_t *)dst, s->name, s->nlen);
        if (j < 0) {
            added++;
        } else if (dst->cols[j].type != s->type) {
            return err_fail(err, errlen, ERR_INVALID,
                            "field \"%.200s\" is %s here, %s in the rows buffered before", s->name,
                            type_names[s->type], type_names[dst->cols[j].type]);
        }
    }
    if (dst->ncols + added > COLBUF_MAX_COLUMNS)
        return err_fail(err, errlen, ERR_INVALID, "more than %d columns in measurement",
                        COLBUF_MAX_COLUMNS);
    return 0;
}

int colbuf_declare(colbuf_t *dst, const colbuf_t *src)
{
    char err[160];
    for (int i = 0; i < src->ncols; i++) {
        const colbuf_col_t *s = &src->cols[i];
        if (find_col(dst, s->name, s->nlen) < 0 &&
            add_col(dst, s->name, s->nlen, s->type, err, sizeof err) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* Pads every column of b to its row count. */
static int pad_all(colbuf_t *b)
{
    for (int i = 0; i < b->ncols; i++)
        if (col_pad(&b->cols[i], b->rows)) return -ENOMEM;
    return 0;
}

int colbuf_merge(colbuf_t *dst, const colbuf_t *csrc)
{
    colbuf_t *src = (colbuf_t *)csrc; /* padding changes no row's value */
    if (src->rows == 0) return 0;
    if (pad_all(src)) return -ENOMEM;
    int64_t r0 = dst->rows, n = src->rows;
    int ncols = dst->ncols;
    char err[160];
    /* Everything that can fail first: columns and room, so that the copy cannot. */
    int *map = malloc((size_t)(src->ncols ? src->ncols : 1) * sizeof *map);
    if (!map || time_reserve(dst, r0 + n)) goto nomem;
    dst->hint = 0;
    for (int i = 0; i < src->ncols; i++) {
        colbuf_col_t *s = &src->cols[i];
        int j = find_col(dst, s->name, s->nlen);
        if (j < 0 && (j = add_col(dst, s->name, s->nlen, s->type, err, sizeof err)) < 0) goto nomem;
        colbuf_col_t *d = &dst->cols[j];
        map[i] = j;
        if (col_pad(d, r0) || col_reserve(d, r0 + n)) goto nomem;
        if (s->nulls && col_want_valid(d)) goto nomem;
        if (s->type == LP_STRING && data_reserve(d, s->dlen)) goto nomem;
    }
    for (int i = 0; i < src->ncols; i++) {
        colbuf_col_t *s = &src->cols[i], *d = &dst->cols[map[i]];
        if (d->valid) {
            if (s->nulls)
                memcpy(d->valid + r0, s->valid, (size_t)n);
            else
                memset(d->valid + r0, 1, (size_t)n);
        }
        d->nulls += s->nulls;
        if (s->type == LP_STRING) {
            uint64_t *so = s->vals, *doff = d->vals, base = d->dlen;
            if (s->dlen) memcpy(d->data + d->dlen, s->data, s->dlen);
            for (int64_t k = 0; k < n; k++) doff[r0 + k + 1] = base + so[k + 1];
            d->dlen += s->dlen;
        } else {
            memcpy((char *)d->vals + (size_t)r0 * elem_size(d->type), s->vals,
                   (size_t)n * elem_size(d->type));
        }
        d->filled = r0 + n;
    }
    free(map);
    memcpy(dst->time + r0, src->time, (size_t)n * sizeof *dst->time);
    if (r0 == 0 || src->tmin < dst->tmin) dst->tmin = src->tmin;
    if (r0 == 0 || src->tmax > dst->tmax) dst->tmax = src->tmax;
    dst->rows = r0 + n;
    return 0;
nomem:
    free(map);
    rollback(dst, r0, ncols);
    return -ENOMEM;
}

int colbuf_pq_columns(colbuf_t *b, pq_column_t *cols)
{
    if (pad_all(b)) return -ENOMEM;
    cols[0] = (pq_column_t){.name = "time", .type = PQ_TIME_NS, .values = b->time};
    static const pq_type_t pq[] = {PQ_DOUBLE, PQ_INT64, PQ_UINT64, PQ_BOOL, PQ_STRING};
    for (int i = 0; i < b->ncols; i++) {
        colbuf_col_t *c = &b->cols[i];
        pq_column_t *p = &cols[i + 1];
        *p = (pq_column_t){
            .name = c->name, .type = pq[c->type], .valid = c->nulls ? c->valid : NULL};
        if (c->type == LP_STRING) {
            p->offsets = c->vals;
            p->data = c->data ? c->data : "";
        } else {
            p->values = c->vals;
        }
    }
    return b->ncols + 1;
}

int colbuf_gather(colbuf_t *dst, colbuf_t *src, const int64_t *idx, int64_t n)
{
    if (pad_all(src) || time_reserve(dst, n)) goto nomem;
    char err[160];
    for (int i = 0; i < src->ncols; i++) {
        colbuf_col_t *s = &src->cols[i];
        int j = add_col(dst, s->name, s->nlen, s->type, err, sizeof err);
        if (j < 0) goto nomem;
        colbuf_col_t *d = &dst->cols[j];
        if (col_reserve(d, n) || (s->nulls && col_want_valid(d))) goto nomem;
        size_t es = elem_size(s->type);
        for (int64_t k = 0; k < n; k++) {
            int64_t r = idx[k];
            if (d->valid) {
                d->valid[k] = s->valid[r];
                d->nulls += !s->valid[r];
            }
            if (s->type == LP_STRING) {
                uint64_t *so = s->vals, len = so[r + 1] - so[r];
                if (data_reserve(d, len)) goto nomem;
                if (len) memcpy(d->data + d->dlen, s->data + so[r], len);
                d->dlen += len;
                ((uint64_t *)d->vals)[k + 1] = d->dlen;
            } else {
                memcpy((char *)d->vals + (size_t)k * es, (char *)s->vals + (size_t)r * es, es);
            }
        }
        d->filled = n;
    }
    for (int64_t k = 0; k < n; k++) {
        int64_t t = src->time[idx[k]];
        if (k == 0 || t < dst->tmin) dst->tmin = t;
        if (k == 0 || t > dst->tmax) dst->tmax = t;
        dst->time[k] = t;
    }
    dst->rows = n;
    return 0;
nomem:
    colbuf_free(dst);
    return -ENOMEM;
}
