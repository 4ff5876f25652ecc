/* ai.onnx.ml LabelEncoder: v1 (classes_strings, string <-> index), v2-3 (keys_* -> values_* over
 * strings, int64s and floats) and v4 (adds tensor keys/values/default of more types). The keys
 * are hashed once in prepare. */
#include <stdio.h>
#include <string.h>

#include "engine/ops/ml_common.h"

typedef struct lenc {
    dtype_t in_dt, out_dt; /* X's required type and Y's type */
    ml_index_t ix;         /* over the keys (int64, double or string) */
    const void *values;    /* out_dt elements, one per key */
    union {                /* the default for keys not found */
        int64_t i;
        int32_t i32;
        int16_t i16;
        float f;
        double d;
        const char *s;
    } def;
    bool v1;                /* classes_strings: string -> position, or position -> string */
    int64_t nclasses;       /* v1 */
    int64_t v1_def_int;     /* v1: default_int64 */
    const char *v1_def_str; /* v1: default_string */
} lenc_t;

/* Element i of an integer tensor (INT64, INT32, INT16) as int64, without a detour via double. */
static int64_t get_int(dtype_t dt, const void *p, int64_t i)
{
    if (dt == DT_INT64) return ((const int64_t *)p)[i];
    if (dt == DT_INT32) return ((const int32_t *)p)[i];
    return ((const int16_t *)p)[i];
}

/* The key type the index uses for an element type. */
static dtype_t key_class(dtype_t t)
{
    if (t == DT_STRING) return DT_STRING;
    if (t == DT_FLOAT || t == DT_DOUBLE) return DT_DOUBLE;
    return DT_INT64;
}

static bool supported(dtype_t t)
{
    return t == DT_STRING || t == DT_INT64 || t == DT_FLOAT || t == DT_DOUBLE || t == DT_INT32 ||
           t == DT_INT16;
}

/* Widens n keys of type dt (list or tensor data) into the index's key class, in the arena. */
static const void *widen_keys(arena_t *a, dtype_t dt, const void *src, int64_t n)
{
    dtype_t kc = key_class(dt);
    if (dt == kc) return src;
    void *out = arena_alloc(a, (size_t)(n ? n : 1) * 8);
    if (!out) return NULL;
    tensor_t t = {.dtype = dt, .rank = 1, .dims = {n}, .data = (void *)src};
    for (int64_t i = 0; i < n; i++) {
        if (kc == DT_DOUBLE)
            ((double *)out)[i] = ml_get_f64(&t, i);
        else
            ((int64_t *)out)[i] = get_int(dt, src, i);
    }
    return out;
}

/* One of keys_strings / keys_int64s / keys_floats / keys_tensor (prefix "keys"), likewise for
 * values: its element type, data and length. 0 when exactly one is set. */
static int pick(const node_t *n, const char *prefix, bool tensors, dtype_t *dt, const void **data,
                int64_t *cnt, char *err, size_t errlen)
{
    char name[32];
    int found = 0;
    int64_t c;
    snprintf(name, sizeof name, "%s_strings", prefix);
    const char **s = node_attr_strings(n, name, &c);
    if (c > 0) found++, *dt = DT_STRING, *data = s, *cnt = c;
    snprintf(name, sizeof name, "%s_int64s", prefix);
    const int64_t *iv = node_attr_ints(n, name, &c);
    if (c > 0) found++, *dt = DT_INT64, *data = iv, *cnt = c;
    snprintf(name, sizeof name, "%s_floats", prefix);
    const float *fv = node_attr_floats(n, name, &c);
    if (c > 0) found++, *dt = DT_FLOAT, *data = fv, *cnt = c;
    snprintf(name, sizeof name, "%s_tensor", prefix);
    const attr_t *ta = tensors ? node_attr(n, name) : NULL;
    if (ta && ta->type == ATTR_TENSOR && ta->t) {
        found++;
        *dt = ta->t->dtype, *data = ta->t->data, *cnt = tensor_numel(ta->t);
        if (!supported(*dt))
            return kern_fail(err, errlen, "LabelEncoder: %s cannot be %s", name, dtype_name(*dt));
    }
    if (found != 1)
        return kern_fail(err, errlen,
                         "LabelEncoder: exactly one %s_* attribute must be set (%d are)", prefix,
                         found);
    return 0;
}

static int v1_prepare(graph_t *g, node_t *n, lenc_t *s, char *err, size_t errlen)
{
    int64_t nc;
    const char **classes = node_attr_strings(n, "classes_strings", &nc);
    s->v1 = true;
    s->values = classes;
    s->nclasses = nc;
    s->v1_def_int = node_attr_int(n, "default_int64", -1);
    s->v1_def_str = node_attr_str(n, "default_string", "_Unused");
    /* string -> position keeps the last position of a repeated string, as ORT's map. */
    if (ml_index_build(&g->arena, &s->ix, DT_STRING, classes, nc, true, false))
        return kern_fail(err, errlen, "LabelEncoder: out of memory");
    n->state = s;
    return 0;
}

static int lenc_prepare(graph_t *g, node_t *n, char *err, size_t errlen)
{
    lenc_t *s = arena_alloc(&g->arena, sizeof *s);
    if (!s) return kern_fail(err, errlen, "LabelEncoder: out of memory");
    if (n->opset < 2) return v1_prepare(g, n, s, err, errlen);
    bool v4 = n->opset >= 4;
    const void *keys, *vals;
    int64_t nk, nv;
    if (pick(n, "keys", v4, &s->in_dt, &keys, &nk, err, errlen) ||
        pick(n, "values", v4, &s->out_dt, &vals, &nv, err, errlen))
        return -1;
    if (nk != nv)
        return kern_fail(err, errlen, "LabelEncoder: %lld keys but %lld values", (long long)nk,
                         (long long)nv);
    s->values = vals;
    keys = widen_keys(&g->arena, s->in_dt, keys, nk);
    /* A repeated key keeps its first value (ORT's emplace, in v2 and v4 alike); only v4 lets a
     * NaN key match NaN inputs. */
    if (!keys || ml_index_build(&g->arena, &s->ix, key_class(s->in_dt), keys, nk, false, v4))
        return kern_fail(err, errlen, "LabelEncoder: out of memory");

    /* default_tensor (v4) wins over the default_* attribute of the values' type. */
    const attr_t *dt = v4 ? node_attr(n, "default_tensor") : NULL;
    if (dt && dt->type == ATTR_TENSOR && dt->t) {
        if (dt->t->dtype != s->out_dt || tensor_numel(dt->t) != 1)
            return kern_fail(err, errlen, "LabelEncoder: default_tensor must hold one %s value",
                             dtype_name(s->out_dt));
        memcpy(&s->def, dt->t->data, dtype_size(s->out_dt));
    } else {
        switch (s->out_dt) {
        case DT_STRING: s->def.s = node_attr_str(n, "default_string", "_Unused"); break;
        case DT_FLOAT: s->def.f = node_attr_float(n, "default_float", -0.0f); break;
        case DT_DOUBLE: s->def.d = node_attr_float(n, "default_float", -0.0f); break;
        case DT_INT32: s->def.i32 = (int32_t)node_attr_int(n, "default_int64", -1); break;
        case DT_INT16: s->def.i16 = (int16_t)node_attr_int(n, "default_int64", -1); break;
        default: s->def.i = node_attr_int(n, "default_int64", -1); break;
        }
    }
    n->state = s;
    return 0;
}

static int lenc_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                      size_t errlen)
{
    const lenc_t *s = n->state;
    const tensor_t *X = in[0];
    dtype_t odt;
    if (s->v1) {
        /* v1 converts strings to positions and int64 positions to strings. */
        if (X->dtype != DT_STRING && X->dtype != DT_INT64)
            return kern_fail(err, errlen, "LabelEncoder: X must be STRING or INT64, not %s",
                             dtype_name(X->dtype));
        odt = X->dtype == DT_STRING ? DT_INT64 : DT_STRING;
    } else {
        if (X->dtype != s->in_dt)
            return kern_fail(err, errlen, "LabelEncoder: X is %s but the keys are %s",
                             dtype_name(X->dtype), dtype_name(s->in_dt));
        odt = s->out_dt;
    }
    out[0].dtype = odt;
    out[0].rank = X->rank;
    memcpy(out[0].dims, X->dims, sizeof out[0].dims);
    out[0].map_keys = NULL;
    return 0;
}

static int lenc_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const lenc_t *s = n->state;
    const tensor_t *X = in[0];
    int64_t total = tensor_numel(X);
    if (s->v1) {
        const char *const *classes = s->values;
        for (int64_t i = 0; i < total; i++) {
            if (X->dtype == DT_STRING) {
                int64_t k = ml_index_str(&s->ix, ((const char *const *)X->data)[i]);
                ((int64_t *)out[0].data)[i] = k >= 0 ? k : s->v1_def_int;
            } else {
                int64_t k = ((const int64_t *)X->data)[i];
                ((const char **)out[0].data)[i] =
                    k >= 0 && k < s->nclasses ? classes[k] : s->v1_def_str;
            }
        }
        (void)x;
        return 0;
    }
    size_t es = dtype_size(s->out_dt);
    char *dst = out[0].data;
    for (int64_t i = 0; i < total; i++, dst += es) {
        int64_t k;
        switch (X->dtype) {
        case DT_STRING: k = ml_index_str(&s->ix, ((const char *const *)X->data)[i]); break;
        case DT_FLOAT:
        case DT_DOUBLE: k = ml_index_real(&s->ix, ml_get_f64(X, i)); break;
        default: k = ml_index_int(&s->ix, get_int(X->dtype, X->data, i)); break;
        }
        memcpy(dst, k >= 0 ? (const char *)s->values + (size_t)k * es : (const char *)&s->def, es);
    }
    (void)x;
    return 0;
}

const op_def_t ml_op_label_encoder = {
    .domain = ML_DOMAIN,
    .name = "LabelEncoder",
    .since = 1,
    .until = 5,
    .prepare = lenc_prepare,
    .infer = lenc_infer,
    .run = lenc_run,
};
