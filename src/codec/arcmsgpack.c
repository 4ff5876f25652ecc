/* Arc's MessagePack format (arcmsgpack.h): msgpack-c unpacks the body into its object tree, and
 * each map is checked and handed on, a row map as a point and a columnar map as typed arrays. */
#include "codec/arcmsgpack.h"

#include <errno.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct am {
    const am_sink_t *sink;
    int64_t map; /* 1-based, for messages */
    lp_tag_t *tags;
    lp_field_t *fields;
    char *err;
    size_t errlen;
} am_t;

static int bad(am_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(am_t *a, const char *fmt, ...)
{
    int n = snprintf(a->err, a->errlen, "map %lld: ", (long long)a->map);
    if (n >= 0 && (size_t)n < a->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(a->err + n, a->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

int64_t am_time_ns(int64_t t)
{
    int64_t m = t < 0 ? -(t + 1) : t, scale = m < 10000000000ll         ? 1000000000
                                              : m < 10000000000000ll    ? 1000000
                                              : m < 10000000000000000ll ? 1000
                                                                        : 1;
    if (t > INT64_MAX / scale) return INT64_MAX;
    if (t < INT64_MIN / scale) return INT64_MIN;
    return t * scale;
}

static bool is_str(const msgpack_object *o, lp_str_t *s)
{
    if (!o || o->type != MSGPACK_OBJECT_STR) return false;
    *s = (lp_str_t){o->via.str.ptr, o->via.str.size};
    return true;
}

/* The value of member key of map m, or NULL. */
static const msgpack_object *get(const msgpack_object *m, const char *key)
{
    size_t n = strlen(key);
    for (uint32_t i = 0; m->type == MSGPACK_OBJECT_MAP && i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
            !memcmp(k->via.str.ptr, key, n))
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

/* A time, as nanoseconds; false when o is not an integer that fits int64. A float holding an
 * integer counts: JavaScript's encoders write numbers above 2^32 (Date.now() in ms) as float64. */
static bool time_of(const msgpack_object *o, int64_t *ns)
{
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) return *ns = am_time_ns(o->via.i64), true;
    if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) {
        double d = o->via.f64;
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != floor(d))
            return false;
        return *ns = am_time_ns((int64_t)d), true;
    }
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > INT64_MAX) return false;
    *ns = am_time_ns((int64_t)o->via.u64);
    return true;
}

#define NAME(s) (int)((s).n < 64 ? (s).n : 64), (s).p

/* A scalar field value; false for a map, an array, binary or an extension. */
static bool scalar(const msgpack_object *o, lp_field_t *f)
{
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > INT64_MAX) return f->type = LP_UINT, f->v.u = o->via.u64, true;
        return f->type = LP_INT, f->v.i = (int64_t)o->via.u64, true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return f->type = LP_INT, f->v.i = o->via.i64, true;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return f->type = LP_FLOAT, f->v.f = o->via.f64, true;
    case MSGPACK_OBJECT_BOOLEAN: return f->type = LP_BOOL, f->v.b = o->via.boolean, true;
    case MSGPACK_OBJECT_STR:
        return f->type = LP_STRING, f->v.s = (lp_str_t){o->via.str.ptr, o->via.str.size}, true;
    default: return false;
    }
}

static int row_map(am_t *a, const msgpack_object *m)
{
    lp_line_t p = {.tags = a->tags, .fields = a->fields, .lineno = a->map};
    if (!is_str(get(m, "m"), &p.measurement) || !p.measurement.n)
        return bad(a, "\"m\" (the measurement) must be a non-empty string");
    const msgpack_object *t = get(m, "t"), *h = get(m, "h"), *tags = get(m, "tags");
    const msgpack_object *fields = get(m, "fields");
    if (!fields) fields = get(m, "f");
    if (t && t->type != MSGPACK_OBJECT_NIL) {
        if (!time_of(t, &p.time)) return bad(a, "\"t\" must be an integer time");
        p.has_time = true;
    }
    if (h && h->type != MSGPACK_OBJECT_NIL) {
        lp_tag_t *g = &a->tags[p.ntags++];
        g->key = (lp_str_t){"host", 4};
        if (!is_str(h, &g->value)) return bad(a, "\"h\" (the host) must be a string");
    }
    if (tags && tags->type != MSGPACK_OBJECT_NIL) {
        if (tags->type != MSGPACK_OBJECT_MAP) return bad(a, "\"tags\" must be a map");
        for (uint32_t i = 0; i < tags->via.map.size; i++) {
            const msgpack_object_kv *kv = &tags->via.map.ptr[i];
            if (kv->val.type == MSGPACK_OBJECT_NIL) continue;
            if (p.ntags == LP_MAX_TAGS) return bad(a, "more than %d tags", LP_MAX_TAGS);
            lp_tag_t *g = &a->tags[p.ntags++];
            if (!is_str(&kv->key, &g->key) || !g->key.n)
                return bad(a, "a tag name is not a string");
            if (!is_str(&kv->val, &g->value))
                return bad(a, "tag \"%.*s\" must be a string", NAME(g->key));
        }
    }
    if (!fields || fields->type != MSGPACK_OBJECT_MAP)
        return bad(a, "a row needs \"fields\" (or \"f\"): a map of field values");
    for (uint32_t i = 0; i < fields->via.map.size; i++) {
        const msgpack_object_kv *kv = &fields->via.map.ptr[i];
        if (kv->val.type == MSGPACK_OBJECT_NIL) continue;
        if (p.nfields == LP_MAX_FIELDS) return bad(a, "more than %d fields", LP_MAX_FIELDS);
        lp_field_t *f = &a->fields[p.nfields++];
        if (!is_str(&kv->key, &f->key) || !f->key.n) return bad(a, "a field name is not a string");
        if (!scalar(&kv->val, f))
            return bad(a, "field \"%.*s\" must be a number, a boolean, a string or nil",
                       NAME(f->key));
        if (f->type == LP_FLOAT && !isfinite(f->v.f))
            return bad(a, "field \"%.*s\" is not a finite number", NAME(f->key));
    }
    if (!p.nfields) return bad(a, "a row needs at least one field that is not nil");
    return a->sink->point(a->sink->arg, &p);
}

/* The column type of array o (widening numbers), or -1 for a mix, a nested value or a
 * non-finite float; LP_FLOAT for an array of nils only. */
static int column_type(const msgpack_object *o)
{
    int t = -1;
    bool num = false, flt = false, big = false, neg = false;
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        const msgpack_object *v = &o->via.array.ptr[i];
        int k;
        switch (v->type) {
        case MSGPACK_OBJECT_NIL: continue;
        case MSGPACK_OBJECT_POSITIVE_INTEGER: big |= v->via.u64 > INT64_MAX, k = LP_INT; break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: neg = true, k = LP_INT; break;
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64:
            if (!isfinite(v->via.f64)) return -1;
            flt = true, k = LP_INT;
            break;
        case MSGPACK_OBJECT_BOOLEAN: k = LP_BOOL; break;
        case MSGPACK_OBJECT_STR: k = LP_STRING; break;
        default: return -1;
        }
        num |= k == LP_INT;
        if (t >= 0 && t != k) return -1;
        t = k;
    }
    if (t < 0) return LP_FLOAT;
    if (!num) return t;
    if (flt) return LP_FLOAT;
    if (big) return neg ? -1 : LP_UINT;
    return LP_INT;
}

static double as_double(const msgpack_object *v)
{
    return v->type == MSGPACK_OBJECT_POSITIVE_INTEGER   ? (double)v->via.u64
           : v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? (double)v->via.i64
                                                        : v->via.f64;
}

static int columnar_map(am_t *a, const msgpack_object *m, const msgpack_object *cols)
{
    am_batch_t b = {0};
    if (!is_str(get(m, "m"), &b.measurement) || !b.measurement.n)
        return bad(a, "\"m\" (the measurement) must be a non-empty string");
    if (cols->type != MSGPACK_OBJECT_MAP) return bad(a, "\"columns\" must be a map of arrays");
    uint32_t nc = cols->via.map.size;
    if (nc > LP_MAX_FIELDS + 1) return bad(a, "more than %d columns", LP_MAX_FIELDS);
    am_column_t *out = calloc(nc ? nc : 1, sizeof *out);
    void **mem = calloc(nc ? nc : 1, sizeof *mem);
    int64_t *time = NULL;
    int rc = out && mem ? 0 : -ENOMEM;
    b.rows = -1;
    for (uint32_t c = 0; c < nc && !rc; c++) {
        const msgpack_object_kv *kv = &cols->via.map.ptr[c];
        lp_str_t name;
        if (!is_str(&kv->key, &name) || !name.n) {
            rc = bad(a, "a column name is not a non-empty string");
            break;
        }
        if (kv->val.type != MSGPACK_OBJECT_ARRAY) {
            rc = bad(a, "column \"%.*s\" must be an array", NAME(name));
            break;
        }
        int64_t n = kv->val.via.array.size;
        if (b.rows >= 0 && n != b.rows) {
            rc = bad(a, "column \"%.*s\" has %lld values, the columns before it %lld", NAME(name),
                     (long long)n, (long long)b.rows);
            break;
        }
        b.rows = n;
        const msgpack_object *v = kv->val.via.array.ptr;
        if (name.n == 4 && !memcmp(name.p, "time", 4)) {
            if (time) {
                rc = bad(a, "two \"time\" columns");
                break;
            }
            if (!(time = malloc((size_t)(n ? n : 1) * sizeof *time))) rc = -ENOMEM;
            for (int64_t i = 0; i < n && !rc; i++)
                if (!time_of(&v[i], &time[i]))
                    rc = bad(a, "\"time\"[%lld] must be an integer time", (long long)i);
            continue;
        }
        int t = column_type(&kv->val);
        if (t < 0) {
            rc = bad(a,
                     "column \"%.*s\" mixes types (or holds a map, an array, binary or a "
                     "non-finite float)",
                     NAME(name));
            break;
        }
        am_column_t *col = &out[b.ncols++];
        col->name = name, col->type = (lp_type_t)t;
        size_t width = t == LP_STRING ? sizeof(lp_str_t) : t == LP_BOOL ? 1 : 8;
        uint8_t *p = mem[c] = malloc((size_t)n * (width + 1) + 1);
        if (!p) {
            rc = -ENOMEM;
            break;
        }
        uint8_t *valid = p + (size_t)n * width;
        bool nulls = false;
        for (int64_t i = 0; i < n; i++) {
            const msgpack_object *x = &v[i];
            valid[i] = x->type != MSGPACK_OBJECT_NIL;
            nulls |= !valid[i];
            void *slot = p + (size_t)i * width;
            if (!valid[i]) {
                memset(slot, 0, width);
            } else if (t == LP_FLOAT) {
                double d = as_double(x);
                memcpy(slot, &d, 8);
            } else if (t == LP_INT || t == LP_UINT) {
                memcpy(slot,
                       x->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? (const void *)&x->via.i64
                                                                  : (const void *)&x->via.u64,
                       8);
            } else if (t == LP_BOOL) {
                *(uint8_t *)slot = x->via.boolean;
            } else {
                lp_str_t s = {x->via.str.ptr, x->via.str.size};
                memcpy(slot, &s, sizeof s);
            }
        }
        col->valid = nulls ? valid : NULL;
        col->v.f = (const double *)(void *)p;
    }
    if (!rc) {
        if (b.rows < 0) b.rows = 0;
        b.time = time, b.cols = out;
        if (!b.ncols)
            rc = bad(a, "a columnar map needs a column besides \"time\"");
        else
            rc = a->sink->batch(a->sink->arg, &b);
    }
    for (uint32_t c = 0; mem && c < nc; c++) free(mem[c]);
    free(mem);
    free(out);
    free(time);
    if (rc == -ENOMEM) snprintf(a->err, a->errlen, "out of memory");
    return rc;
}

static int one_map(am_t *a, const msgpack_object *m)
{
    a->map++;
    if (m->type != MSGPACK_OBJECT_MAP) return bad(a, "not a map");
    const msgpack_object *cols = get(m, "columns");
    return cols ? columnar_map(a, m, cols) : row_map(a, m);
}

static uint64_t be(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* Walks the body's structure before msgpack-c unpacks it: msgpack-c allocates an array's or a
 * map's elements as declared, so six bytes declaring a map of 2^26 entries would cost 2 GB.
 * Every value takes at least a byte, so a container may declare no more elements than bytes
 * remain, and a string, binary or extension no more bytes; that bounds what msgpack-c allocates
 * by the body's length. 0, or -EINVAL naming the offset. */
static int check_sizes(const uint8_t *p, size_t n, char *err, size_t errlen)
{
    uint64_t pending = 1;
    size_t i = 0;
    while (pending && i < n) {
        size_t at = i;
        uint8_t b = p[i++];
        uint64_t kids = 0, skip = 0;
        int w = 0; /* bytes of a length or count field */
        if (b <= 0x7f || b >= 0xe0 || (b >= 0xc0 && b <= 0xc3)) {
            /* fixints, nil, (never used), false, true */
        } else if (b <= 0x8f) {
            kids = 2 * (uint64_t)(b & 0x0f);
        } else if (b <= 0x9f) {
            kids = b & 0x0f;
        } else if (b <= 0xbf) {
            skip = b & 0x1f;
        } else {
            static const int8_t len_w[0xe0 - 0xc4] = {
                [0xc4 - 0xc4] = 1, [0xc5 - 0xc4] = 2, [0xc6 - 0xc4] = 4, /* bin */
                [0xc7 - 0xc4] = 1, [0xc8 - 0xc4] = 2, [0xc9 - 0xc4] = 4, /* ext */
                [0xd9 - 0xc4] = 1, [0xda - 0xc4] = 2, [0xdb - 0xc4] = 4, /* str */
                [0xdc - 0xc4] = 2, [0xdd - 0xc4] = 4, [0xde - 0xc4] = 2, [0xdf - 0xc4] = 4};
            static const int8_t fixed[0xe0 - 0xc4] = {
                [0xca - 0xc4] = 4, [0xcb - 0xc4] = 8, [0xcc - 0xc4] = 1, [0xcd - 0xc4] = 2,
                [0xce - 0xc4] = 4, [0xcf - 0xc4] = 8, [0xd0 - 0xc4] = 1, [0xd1 - 0xc4] = 2,
                [0xd2 - 0xc4] = 4, [0xd3 - 0xc4] = 8, [0xd4 - 0xc4] = 2, [0xd5 - 0xc4] = 3,
                [0xd6 - 0xc4] = 5, [0xd7 - 0xc4] = 9, [0xd8 - 0xc4] = 17};
            w = len_w[b - 0xc4];
            skip = (uint64_t)fixed[b - 0xc4];
            if (w) {
                if ((size_t)w > n - i) break;
                uint64_t v = be(p + i, w);
                i += (size_t)w;
                if (b >= 0xdc)
                    kids = b >= 0xde ? 2 * v : v;
                else
                    skip = v + (b >= 0xc7 && b <= 0xc9); /* ext: a type byte too */
            }
        }
        if (skip > n - i || kids > n - i || pending - 1 + kids > n - i)
            return snprintf(err, errlen,
                            "the body declares more than it holds (offset %zu of %zu bytes)", at,
                            n),
                   -EINVAL;
        i += (size_t)skip;
        pending = pending - 1 + kids;
    }
    return 0; /* truncation and trailing bytes: msgpack-c says */
}

int am_decode(const char *body, size_t len, const am_sink_t *sink, char *err, size_t errlen)
{
    int e = check_sizes((const uint8_t *)body, len, err, errlen);
    if (e) return e;
    am_t a = {.sink = sink, .err = err, .errlen = errlen};
    a.tags = malloc((LP_MAX_TAGS + 1) * sizeof *a.tags);
    a.fields = malloc(LP_MAX_FIELDS * sizeof *a.fields);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    int rc = a.tags && a.fields ? 0 : -ENOMEM;
    msgpack_unpack_return r =
        rc ? MSGPACK_UNPACK_NOMEM_ERROR : msgpack_unpack_next(&up, body, len, &off);
    if (rc) {
        snprintf(err, errlen, "out of memory");
    } else if (r == MSGPACK_UNPACK_NOMEM_ERROR) {
        rc = -ENOMEM, snprintf(err, errlen, "out of memory");
    } else if (r != MSGPACK_UNPACK_SUCCESS || off != len) {
        rc = -EINVAL;
        snprintf(err, errlen, "the body is not one MessagePack value%s",
                 r == MSGPACK_UNPACK_SUCCESS ? " (bytes follow it)" : "");
    } else {
        const msgpack_object *o = &up.data, *batch = NULL;
        if (o->type == MSGPACK_OBJECT_MAP && !get(o, "m") && (batch = get(o, "batch"))) o = batch;
        if (o->type == MSGPACK_OBJECT_ARRAY) {
            for (uint32_t i = 0; i < o->via.array.size && !rc; i++)
                rc = one_map(&a, &o->via.array.ptr[i]);
        } else if (o->type == MSGPACK_OBJECT_MAP) {
            rc = one_map(&a, o);
        } else {
            rc = -EINVAL;
            snprintf(err, errlen,
                     "the body must be a map, an array of maps, or "
                     "{\"batch\": [maps]}");
        }
    }
    msgpack_unpacked_destroy(&up);
    free(a.tags);
    free(a.fields);
    return rc;
}
