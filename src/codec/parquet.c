/* Parquet writer (parquet.h). A file is "PAR1", the column chunks of each row group (an optional
 * dictionary page, then data pages: a thrift PageHeader and the page's bytes, compressed), the
 * FileMetaData in thrift's compact protocol, its length (u32 LE) and "PAR1" again.
 *
 * A v1 data page holds, for an OPTIONAL column, the definition levels (a u32 LE byte count,
 * then the RLE/bit-packed hybrid at bit width 1: runs of equal levels), then the values of the
 * rows that have one: PLAIN (little-endian numbers, booleans one bit each, strings as a u32
 * length and the bytes) or dictionary indices (a byte of bit width, then bit-packed groups of
 * eight, the last padded). */
#include "codec/parquet.h"

#include <errno.h>
#include <snappy-c.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

/* ==================================================== thrift compact protocol ==== */

enum {
    CT_TRUE = 1,
    CT_FALSE = 2,
    CT_I32 = 5,
    CT_I64 = 6,
    CT_BINARY = 8,
    CT_LIST = 9,
    CT_STRUCT = 12
};
#define TW_DEPTH 16

/* A writer whose first failure (out of memory) sticks: callers check w->err once at the end. */
typedef struct tw {
    buf_t *b;
    int16_t last[TW_DEPTH]; /* the last field id, per open struct */
    int depth;
    int err;
} tw_t;

static void put(tw_t *w, const void *p, size_t n)
{
    if (!w->err && buf_append(w->b, p, n)) w->err = -ENOMEM;
}

static void byte(tw_t *w, unsigned v)
{
    uint8_t c = (uint8_t)v;
    put(w, &c, 1);
}

static void varint(tw_t *w, uint64_t v)
{
    uint8_t t[10];
    int n = 0;
    do {
        t[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) t[n] |= 0x80;
        n++;
    } while (v);
    put(w, t, (size_t)n);
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static void field(tw_t *w, int id, int type)
{
    int d = id - w->last[w->depth];
    if (d > 0 && d <= 15) {
        byte(w, (unsigned)(d << 4 | type));
    } else {
        byte(w, (unsigned)type);
        varint(w, zigzag(id));
    }
    w->last[w->depth] = (int16_t)id;
}

static void f_i32(tw_t *w, int id, int64_t v)
{
    field(w, id, CT_I32);
    varint(w, zigzag(v));
}

static void f_i64(tw_t *w, int id, int64_t v)
{
    field(w, id, CT_I64);
    varint(w, zigzag(v));
}

static void f_bin(tw_t *w, int id, const void *p, size_t n)
{
    field(w, id, CT_BINARY);
    varint(w, n);
    put(w, p, n);
}

static void f_str(tw_t *w, int id, const char *s)
{
    f_bin(w, id, s, strlen(s));
}

static void f_bool(tw_t *w, int id, bool v)
{
    field(w, id, v ? CT_TRUE : CT_FALSE);
}

/* Opens a struct: as field id of the enclosing one (id > 0) or as a list element (id 0). */
static void open_struct(tw_t *w, int id)
{
    if (id) field(w, id, CT_STRUCT);
    w->last[++w->depth] = 0;
}

static void close_struct(tw_t *w)
{
    byte(w, 0);
    w->depth--;
}

static void f_list(tw_t *w, int id, int etype, int64_t n)
{
    field(w, id, CT_LIST);
    if (n < 15) {
        byte(w, (unsigned)(n << 4 | etype));
    } else {
        byte(w, 0xf0u | (unsigned)etype);
        varint(w, (uint64_t)n);
    }
}

/* ========================================================== parquet.thrift ==== */

enum { T_BOOLEAN = 0, T_INT64 = 2, T_DOUBLE = 5, T_BYTE_ARRAY = 6 };
enum { E_PLAIN = 0, E_RLE = 3, E_RLE_DICTIONARY = 8 };
enum { PAGE_DATA = 0, PAGE_DICTIONARY = 2 };
enum { CONV_UTF8 = 0, CONV_UINT_64 = 14 };

static int physical(pq_type_t t)
{
    switch (t) {
    case PQ_BOOL: return T_BOOLEAN;
    case PQ_DOUBLE: return T_DOUBLE;
    case PQ_STRING: return T_BYTE_ARRAY;
    default: return T_INT64;
    }
}

/* What the footer says of one column chunk. */
typedef struct chunk {
    int64_t start, dict_off, data_off; /* dict_off -1: no dictionary */
    int64_t usize, csize;              /* page headers included */
    int64_t nulls;
    bool has_stats;
    uint8_t min[64], max[64];
    size_t min_n, max_n;
} chunk_t;

typedef struct pw {
    buf_t *out;
    const pq_options_t *o;
    buf_t page, packed, head; /* one page's bytes, compressed, its header */
    ZSTD_CCtx *zc;            /* made at the first zstd page, kept for the file's others */
    char *err;
    size_t errlen;
} pw_t;

static int fail(pw_t *p, int e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(pw_t *p, int e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
    return e;
}

/* Compresses p->page into p->packed by the options' codec (a copy when uncompressed). */
static int compress_page(pw_t *p)
{
    buf_t *in = &p->page, *z = &p->packed;
    z->len = 0;
    size_t bound = p->o->codec == PQ_SNAPPY ? snappy_max_compressed_length(in->len)
                   : p->o->codec == PQ_ZSTD ? ZSTD_compressBound(in->len)
                                            : in->len;
    if (buf_reserve(z, bound + 1)) return fail(p, -ENOMEM, "out of memory");
    size_t n = bound;
    if (p->o->codec == PQ_SNAPPY) {
        if (snappy_compress(in->data, in->len, z->data, &n) != SNAPPY_OK)
            return fail(p, -EIO, "snappy failed");
    } else if (p->o->codec == PQ_ZSTD) {
        /* One context for every page: ZSTD_compress would make (allocate and set up) one per
         * call, a fixed cost that dominated small files' compression. */
        if (!p->zc && !(p->zc = ZSTD_createCCtx())) return fail(p, -ENOMEM, "out of memory");
        n = ZSTD_compressCCtx(p->zc, z->data, bound, in->data, in->len,
                              p->o->zstd_level ? p->o->zstd_level : ZSTD_CLEVEL_DEFAULT);
        if (ZSTD_isError(n)) return fail(p, -EIO, "zstd: %s", ZSTD_getErrorName(n));
    } else {
        memcpy(z->data, in->data, in->len);
    }
    z->len = n;
    return 0;
}

/* Writes p->page as a page of the given type: its header, then its compressed bytes. For a
 * data page, nvalues counts rows (nulls included) and enc is the values' encoding; for a
 * dictionary page, nvalues is the dictionary's size. */
static int emit_page(pw_t *p, chunk_t *c, int type, int64_t nvalues, int enc)
{
    int e = compress_page(p);
    if (e) return e;
    if (p->page.len > INT32_MAX || p->packed.len > INT32_MAX)
        return fail(p, -EINVAL, "a page of %zu bytes is over Parquet's 2 GiB", p->page.len);
    p->head.len = 0;
    tw_t w = {.b = &p->head};
    f_i32(&w, 1, type);
    f_i32(&w, 2, (int64_t)p->page.len);
    f_i32(&w, 3, (int64_t)p->packed.len);
    if (type == PAGE_DATA) {
        open_struct(&w, 5); /* DataPageHeader */
        f_i32(&w, 1, nvalues);
        f_i32(&w, 2, enc);
        f_i32(&w, 3, E_RLE); /* definition levels */
        f_i32(&w, 4, E_RLE); /* repetition levels (none: the schema is flat) */
        close_struct(&w);
    } else {
        open_struct(&w, 7); /* DictionaryPageHeader */
        f_i32(&w, 1, nvalues);
        f_i32(&w, 2, E_PLAIN);
        close_struct(&w);
    }
    byte(&w, 0);
    if (w.err || buf_append(p->out, p->head.data, p->head.len) ||
        buf_append(p->out, p->packed.data, p->packed.len))
        return fail(p, -ENOMEM, "out of memory");
    c->usize += (int64_t)(p->head.len + p->page.len);
    c->csize += (int64_t)(p->head.len + p->packed.len);
    return 0;
}

static void set_u32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (char)(uint8_t)(v >> (8 * i));
}

static int put_u32(buf_t *b, uint32_t v)
{
    char t[4];
    set_u32(t, v);
    return buf_append(b, t, 4);
}

static bool has(const pq_column_t *col, int64_t r)
{
    return !col->valid || col->valid[r];
}

/* The definition levels of rows [a, b) as runs of equal levels, behind their byte count. */
static int put_levels(buf_t *b, const uint8_t *valid, int64_t a, int64_t b_end)
{
    size_t at = b->len;
    if (put_u32(b, 0)) return -ENOMEM;
    tw_t w = {.b = b};
    for (int64_t r = a; r < b_end;) {
        int64_t s = r;
        uint8_t v = valid[r] ? 1 : 0;
        while (r < b_end && (valid[r] ? 1 : 0) == v) r++;
        varint(&w, (uint64_t)(r - s) << 1);
        byte(&w, v);
    }
    if (w.err) return w.err;
    set_u32(b->data + at, (uint32_t)(b->len - at - 4));
    return 0;
}

static uint64_t str_len(const pq_column_t *col, int64_t r)
{
    return col->offsets[r + 1] - col->offsets[r];
}

/* The PLAIN values of the rows of [a, b) that have one. */
static int put_plain(buf_t *b, const pq_column_t *col, int64_t a, int64_t e)
{
    int rc = 0;
    if (col->type == PQ_BOOL) {
        const uint8_t *v = col->values;
        uint8_t acc = 0;
        int bits = 0;
        for (int64_t r = a; r < e && !rc; r++) {
            if (!has(col, r)) continue;
            acc |= (uint8_t)((v[r] ? 1 : 0) << bits);
            if (++bits == 8) rc = buf_append(b, &acc, 1), acc = 0, bits = 0;
        }
        if (bits && !rc) rc = buf_append(b, &acc, 1);
        return rc;
    }
    for (int64_t r = a; r < e && !rc; r++) {
        if (!has(col, r)) continue;
        if (col->type == PQ_STRING) {
            uint64_t n = str_len(col, r);
            rc = put_u32(b, (uint32_t)n) || buf_append(b, col->data + col->offsets[r], n);
        } else { /* 8-byte numbers: the host is little-endian (x86-64, as the engine assumes) */
            rc = buf_append(b, (const char *)col->values + (size_t)r * 8, 8);
        }
    }
    return rc ? -ENOMEM : 0;
}

/* ============================================================ dictionaries ==== */

typedef struct dict {
    uint32_t *slot;  /* open addressing: 0 empty, else 1 + index into first */
    int64_t *first;  /* per entry: the row that holds it */
    uint32_t *index; /* per row of the chunk: its entry (rows without a value: 0) */
    uint32_t n, mask;
} dict_t;

static uint64_t hash(const char *p, uint64_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint64_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 0x100000001b3ull;
    return h;
}

/* Builds the dictionary of the strings of rows [a, e): true when it fits PARQUET_DICT_MAX
 * entries and holds fewer bytes than the plain values would (false: write PLAIN). */
static bool dict_build(dict_t *d, const pq_column_t *col, int64_t a, int64_t e, int *rc)
{
    int64_t rows = e - a, cap = 16;
    while (cap < 2 * (rows < PARQUET_DICT_MAX ? rows : PARQUET_DICT_MAX)) cap *= 2;
    d->slot = calloc((size_t)cap, sizeof *d->slot);
    d->first =
        malloc((size_t)(rows < PARQUET_DICT_MAX ? rows : PARQUET_DICT_MAX) * sizeof(int64_t) + 8);
    d->index = calloc((size_t)rows + 1, sizeof *d->index);
    d->mask = (uint32_t)(cap - 1), d->n = 0;
    if (!d->slot || !d->first || !d->index) return *rc = -ENOMEM, false;
    uint64_t dict_bytes = 0, plain_bytes = 0;
    for (int64_t r = a; r < e; r++) {
        if (!has(col, r)) continue;
        const char *s = col->data + col->offsets[r];
        uint64_t n = str_len(col, r);
        plain_bytes += 4 + n;
        uint32_t i = (uint32_t)hash(s, n) & d->mask;
        for (;; i = (i + 1) & d->mask) {
            uint32_t v = d->slot[i];
            if (!v) break;
            int64_t f = d->first[v - 1];
            if (str_len(col, f) == n && !memcmp(col->data + col->offsets[f], s, n)) break;
        }
        if (!d->slot[i]) {
            if (d->n == PARQUET_DICT_MAX) return false;
            d->first[d->n] = r;
            d->slot[i] = ++d->n;
            dict_bytes += 4 + n;
        }
        d->index[r - a] = d->slot[i] - 1;
    }
    return dict_bytes < plain_bytes;
}

static void dict_free(dict_t *d)
{
    free(d->slot);
    free(d->first);
    free(d->index);
}

static int bit_width(uint32_t n)
{
    int w = 1;
    while (w < 32 && (n - 1) >> w) w++;
    return w;
}

/* Dictionary indices of the rows of [a, e) that have a value: a byte of bit width, then one
 * bit-packed run (groups of 8 values, LSB first; the last group padded with zeros). */
static int put_indices(buf_t *b, const pq_column_t *col, const dict_t *d, int64_t c0, int64_t a,
                       int64_t e)
{
    int w = bit_width(d->n);
    int64_t n = 0;
    for (int64_t r = a; r < e; r++) n += has(col, r);
    int64_t groups = (n + 7) / 8;
    tw_t t = {.b = b};
    byte(&t, (unsigned)w);
    if (!n) return t.err; /* every row null: no run at all */
    varint(&t, (uint64_t)groups << 1 | 1);
    if (t.err || buf_reserve(b, (size_t)(groups * w) + 8)) return -ENOMEM;
    uint8_t *o = (uint8_t *)b->data + b->len;
    memset(o, 0, (size_t)(groups * w));
    /* Values go into an accumulator LSB first and leave it a byte at a time (w <= 32, so it never
     * holds more than 39 bits). */
    uint64_t acc = 0;
    int nbits = 0;
    for (int64_t r = a; r < e; r++) {
        if (!has(col, r)) continue;
        acc |= (uint64_t)d->index[r - c0] << nbits;
        for (nbits += w; nbits >= 8; nbits -= 8, acc >>= 8) *o++ = (uint8_t)acc;
    }
    if (nbits) *o = (uint8_t)acc; /* the last group's padding stays zero */
    buf_commit(b, (size_t)(groups * w));
    return 0;
}

/* ================================================================ statistics ==== */

static int cmp_bytes(const char *a, uint64_t an, const char *b, uint64_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

/* Min, max and null count of rows [a, e) (strings longer than the 64 bytes kept get none). */
static void stats(chunk_t *c, const pq_column_t *col, int64_t a, int64_t e)
{
    int64_t lo = -1, hi = -1;
    c->nulls = 0;
    for (int64_t r = a; r < e; r++) {
        if (!has(col, r)) {
            c->nulls++;
            continue;
        }
        if (lo < 0) {
            lo = hi = r;
            continue;
        }
        int lt = 0, gt = 0;
        switch (col->type) {
        case PQ_BOOL: {
            const uint8_t *v = col->values;
            lt = !!v[r]<!!v[lo], gt = !!v[r]> !!v[hi];
            break;
        }
        case PQ_UINT64: {
            const uint64_t *v = col->values;
            lt = v[r]<v[lo], gt = v[r]> v[hi];
            break;
        }
        case PQ_DOUBLE: {
            const double *v = col->values;
            lt = v[r]<v[lo], gt = v[r]> v[hi];
            break;
        }
        case PQ_STRING:
            lt = cmp_bytes(col->data + col->offsets[r], str_len(col, r),
                           col->data + col->offsets[lo], str_len(col, lo)) < 0;
            gt = cmp_bytes(col->data + col->offsets[r], str_len(col, r),
                           col->data + col->offsets[hi], str_len(col, hi)) > 0;
            break;
        default: {
            const int64_t *v = col->values;
            lt = v[r]<v[lo], gt = v[r]> v[hi];
        }
        }
        if (lt) lo = r;
        if (gt) hi = r;
    }
    c->has_stats = lo >= 0;
    if (!c->has_stats) return;
    if (col->type == PQ_STRING) {
        c->min_n = str_len(col, lo), c->max_n = str_len(col, hi);
        if (c->min_n > sizeof c->min || c->max_n > sizeof c->max) {
            c->has_stats = false;
            return;
        }
        memcpy(c->min, col->data + col->offsets[lo], c->min_n);
        memcpy(c->max, col->data + col->offsets[hi], c->max_n);
    } else if (col->type == PQ_BOOL) {
        c->min[0] = !!((const uint8_t *)col->values)[lo], c->min_n = 1;
        c->max[0] = !!((const uint8_t *)col->values)[hi], c->max_n = 1;
    } else {
        memcpy(c->min, (const char *)col->values + (size_t)lo * 8, 8), c->min_n = 8;
        memcpy(c->max, (const char *)col->values + (size_t)hi * 8, 8), c->max_n = 8;
    }
}

/* ==================================================================== chunks ==== */

/* Writes column col's chunk of rows [a, e) in pages of page_rows. */
static int write_chunk(pw_t *p, const pq_column_t *col, int64_t a, int64_t e, chunk_t *c)
{
    const int64_t page_rows = p->o->page_rows > 0 ? p->o->page_rows : 65536;
    *c = (chunk_t){.start = (int64_t)p->out->len, .dict_off = -1};
    stats(c, col, a, e);
    dict_t d = {0};
    int rc = 0;
    bool use_dict = col->type == PQ_STRING && dict_build(&d, col, a, e, &rc);
    if (!rc && use_dict) { /* the dictionary page: each entry, PLAIN */
        p->page.len = 0;
        for (uint32_t i = 0; i < d.n && !rc; i++) {
            int64_t r = d.first[i];
            if (put_u32(&p->page, (uint32_t)str_len(col, r)) ||
                buf_append(&p->page, col->data + col->offsets[r], str_len(col, r)))
                rc = fail(p, -ENOMEM, "out of memory");
        }
        c->dict_off = (int64_t)p->out->len;
        if (!rc) rc = emit_page(p, c, PAGE_DICTIONARY, d.n, 0);
    } else if (rc) {
        fail(p, rc, "out of memory");
    }
    c->data_off = (int64_t)p->out->len;
    for (int64_t s = a; s < e && !rc; s += page_rows) {
        int64_t t = e - s < page_rows ? e : s + page_rows;
        p->page.len = 0;
        if (col->valid && put_levels(&p->page, col->valid, s, t))
            rc = fail(p, -ENOMEM, "out of memory");
        if (!rc &&
            (use_dict ? put_indices(&p->page, col, &d, a, s, t) : put_plain(&p->page, col, s, t)))
            rc = fail(p, -ENOMEM, "out of memory");
        if (!rc) rc = emit_page(p, c, PAGE_DATA, t - s, use_dict ? E_RLE_DICTIONARY : E_PLAIN);
    }
    dict_free(&d);
    return rc;
}

/* =================================================================== footer ==== */

static void schema_element(tw_t *w, const pq_column_t *col)
{
    open_struct(w, 0);
    f_i32(w, 1, physical(col->type));
    f_i32(w, 3, col->valid ? 1 : 0); /* OPTIONAL : REQUIRED */
    f_str(w, 4, col->name);
    if (col->type == PQ_STRING) f_i32(w, 6, CONV_UTF8);
    if (col->type == PQ_UINT64) f_i32(w, 6, CONV_UINT_64);
    if (col->type == PQ_STRING || col->type == PQ_UINT64 || col->type == PQ_TIME_NS) {
        open_struct(w, 10); /* LogicalType, a union */
        if (col->type == PQ_STRING) {
            open_struct(w, 1); /* StringType {} */
            close_struct(w);
        } else if (col->type == PQ_UINT64) {
            open_struct(w, 10); /* IntType */
            field(w, 1, 3);     /* i8 bitWidth */
            byte(w, 64);
            f_bool(w, 2, false);
            close_struct(w);
        } else {
            open_struct(w, 8); /* TimestampType */
            f_bool(w, 1, true);
            open_struct(w, 2); /* TimeUnit: NANOS */
            open_struct(w, 3);
            close_struct(w);
            close_struct(w);
            close_struct(w);
        }
        close_struct(w);
    }
    close_struct(w);
}

static void column_chunk(tw_t *w, const pq_column_t *col, const chunk_t *c, int64_t rows,
                         pq_codec_t codec)
{
    open_struct(w, 0);
    f_i64(w, 2, c->start); /* file_offset */
    open_struct(w, 3);     /* ColumnMetaData */
    f_i32(w, 1, physical(col->type));
    bool dict = c->dict_off >= 0;
    f_list(w, 2, CT_I32, dict ? 3 : 2);
    varint(w, zigzag(E_PLAIN));
    varint(w, zigzag(E_RLE));
    if (dict) varint(w, zigzag(E_RLE_DICTIONARY));
    f_list(w, 3, CT_BINARY, 1);
    varint(w, strlen(col->name));
    put(w, col->name, strlen(col->name));
    f_i32(w, 4, codec);
    f_i64(w, 5, rows);
    f_i64(w, 6, c->usize);
    f_i64(w, 7, c->csize);
    f_i64(w, 9, c->data_off);
    if (dict) f_i64(w, 11, c->dict_off);
    open_struct(w, 12); /* Statistics */
    f_i64(w, 3, c->nulls);
    if (c->has_stats) {
        f_bin(w, 5, c->max, c->max_n);
        f_bin(w, 6, c->min, c->min_n);
    }
    close_struct(w);
    close_struct(w);
    close_struct(w);
}

int parquet_encode(buf_t *out, const pq_column_t *cols, int ncols, int64_t nrows,
                   const pq_options_t *o, char *err, size_t errlen)
{
    static const pq_options_t defaults;
    pw_t p = {.out = out, .o = o ? o : &defaults, .err = err, .errlen = errlen};
    o = p.o;
    if (ncols < 1 || ncols > PARQUET_MAX_COLUMNS || nrows < 0)
        return fail(&p, -EINVAL, "%d columns of %lld rows", ncols, (long long)nrows);
    if (o->codec != PQ_UNCOMPRESSED && o->codec != PQ_SNAPPY && o->codec != PQ_ZSTD)
        return fail(&p, -EINVAL, "unknown codec %d", (int)o->codec);
    for (int i = 0; i < ncols; i++) {
        const pq_column_t *c = &cols[i];
        if (!c->name || !*c->name || (int)c->type < PQ_BOOL || c->type > PQ_TIME_NS ||
            (c->type == PQ_STRING ? !c->offsets || !c->data : !c->values))
            return fail(&p, -EINVAL, "column %d: no name, an unknown type or no values", i);
    }
    const int64_t group = o->row_group_rows > 0 ? o->row_group_rows : 1 << 20;
    const int64_t ngroups = nrows ? (nrows + group - 1) / group : 0;
    chunk_t *chunks = calloc((size_t)(ngroups ? ngroups : 1) * (size_t)ncols, sizeof *chunks);
    int rc = chunks ? 0 : fail(&p, -ENOMEM, "out of memory");
    if (!rc && buf_append(out, "PAR1", 4)) rc = fail(&p, -ENOMEM, "out of memory");
    for (int64_t g = 0; g < ngroups && !rc; g++) {
        int64_t a = g * group, e = a + group < nrows ? a + group : nrows;
        for (int i = 0; i < ncols && !rc; i++)
            rc = write_chunk(&p, &cols[i], a, e, &chunks[g * ncols + i]);
    }
    /* FileMetaData. */
    size_t meta = out->len;
    tw_t w = {.b = out};
    if (!rc) {
        f_i32(&w, 1, 1); /* version */
        f_list(&w, 2, CT_STRUCT, ncols + 1);
        open_struct(&w, 0); /* the root */
        f_str(&w, 4, "schema");
        f_i32(&w, 5, ncols);
        close_struct(&w);
        for (int i = 0; i < ncols; i++) schema_element(&w, &cols[i]);
        f_i64(&w, 3, nrows);
        f_list(&w, 4, CT_STRUCT, ngroups);
        for (int64_t g = 0; g < ngroups; g++) {
            int64_t a = g * group, rows = (a + group < nrows ? a + group : nrows) - a, bytes = 0;
            open_struct(&w, 0);
            f_list(&w, 1, CT_STRUCT, ncols);
            for (int i = 0; i < ncols; i++) {
                const chunk_t *c = &chunks[g * ncols + i];
                column_chunk(&w, &cols[i], c, rows, o->codec);
                bytes += c->usize;
            }
            f_i64(&w, 2, bytes);
            f_i64(&w, 3, rows);
            close_struct(&w);
        }
        int64_t nkv = 0;
        while (o->kv && o->kv[2 * nkv] && o->kv[2 * nkv + 1]) nkv++;
        if (nkv) {
            f_list(&w, 5, CT_STRUCT, nkv);
            for (int64_t k = 0; k < nkv; k++) {
                open_struct(&w, 0);
                f_str(&w, 1, o->kv[2 * k]);
                f_str(&w, 2, o->kv[2 * k + 1]);
                close_struct(&w);
            }
        }
        f_str(&w, 6, o->created_by ? o->created_by : "inferd");
        byte(&w, 0);
        if (w.err) rc = fail(&p, -ENOMEM, "out of memory");
    }
    if (!rc && (put_u32(out, (uint32_t)(out->len - meta)) || buf_append(out, "PAR1", 4)))
        rc = fail(&p, -ENOMEM, "out of memory");
    free(chunks);
    buf_deinit(&p.page);
    buf_deinit(&p.packed);
    buf_deinit(&p.head);
    ZSTD_freeCCtx(p.zc);
    return rc;
}
