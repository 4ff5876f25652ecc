/* ai.onnx.ml feature transforms: Scaler, Normalizer, Imputer, Binarizer, OneHotEncoder,
 * ArrayFeatureExtractor and ZipMap, with ONNX Runtime's per-type arithmetic. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "engine/ops/ml_common.h"

/* Feature count of X for the per-feature attributes: the last dim of [F] or the second of [N,F]
 * (ORT's "stride"). */
static int64_t stride_of(const tensor_t *x)
{
    return x->rank == 1 ? x->dims[0] : x->dims[1];
}

static void copy_shape(tensor_t *out, const tensor_t *in, dtype_t dt)
{
    out->dtype = dt;
    out->rank = in->rank;
    memcpy(out->dims, in->dims, sizeof out->dims);
    out->map_keys = NULL;
}

static int numeric_x(const node_t *n, const tensor_t *x, int maxrank, char *err, size_t errlen)
{
    char sh[96];
    if (!ml_numeric(x->dtype))
        return kern_fail(err, errlen, "%s: X must be FLOAT, DOUBLE, INT64 or INT32, not %s",
                         n->op_type, dtype_name(x->dtype));
    if (x->rank < 1 || x->rank > maxrank)
        return kern_fail(err, errlen, "%s: X must have rank 1..%d, got %s", n->op_type, maxrank,
                         tensor_shape_str(x, sh, sizeof sh));
    return 0;
}

/* Checks that a per-feature list has 1 or F entries. */
static int per_feature(const node_t *n, const char *name, int64_t cnt, int64_t f, char *err,
                       size_t errlen)
{
    if (f >= 0 && cnt != 1 && cnt != f)
        return kern_fail(err, errlen, "%s: %s has %lld values for %lld features (want 1 or %lld)",
                         n->op_type, name, (long long)cnt, (long long)f, (long long)f);
    return 0;
}

/* ============================== Scaler ============================== */

typedef struct scaler {
    const float *scale, *offset; /* offset NULL: zero */
    int64_t nscale, noffset;
} scaler_t;

static int scaler_prepare(graph_t *g, node_t *n, char *err, size_t errlen)
{
    scaler_t *s = arena_alloc(&g->arena, sizeof *s);
    if (!s) return kern_fail(err, errlen, "Scaler: out of memory");
    s->scale = node_attr_floats(n, "scale", &s->nscale);
    s->offset = node_attr_floats(n, "offset", &s->noffset);
    if (s->nscale == 0) return kern_fail(err, errlen, "Scaler: scale is required");
    /* ORT wants offset as long as scale; a missing offset is taken as zeros here. */
    if (s->noffset != 0 && s->noffset != s->nscale)
        return kern_fail(err, errlen, "Scaler: scale has %lld values but offset %lld",
                         (long long)s->nscale, (long long)s->noffset);
    n->state = s;
    return 0;
}

static int scaler_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                        size_t errlen)
{
    const scaler_t *s = n->state;
    if (numeric_x(n, in[0], TENSOR_MAX_RANK, err, errlen)) return -1;
    if (per_feature(n, "scale", s->nscale, stride_of(in[0]), err, errlen)) return -1;
    copy_shape(&out[0], in[0], DT_FLOAT);
    return 0;
}

static int scaler_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const scaler_t *s = n->state;
    const tensor_t *X = in[0];
    int64_t total = tensor_numel(X), f = stride_of(X);
    float *y = out[0].data;
    bool per = s->nscale != 1;
    if (X->dtype == DT_FLOAT && per && s->offset && s->noffset == s->nscale) {
        /* The common case (StandardScaler on float features): row by row, no conversions. */
        const float *xs = X->data;
        for (int64_t i = 0; i < total; i += f)
            for (int64_t k = 0; k < f; k++) y[i + k] = (xs[i + k] - s->offset[k]) * s->scale[k];
        return 0;
    }
    for (int64_t i = 0; i < total; i++) {
        int64_t k = per ? i % f : 0;
        float sc = s->scale[k], of = s->offset ? s->offset[k] : 0.f;
        /* (x - offset) * scale in the type C++ promotes to: double for DOUBLE input, float for
         * the others (integers convert to float first). */
        if (X->dtype == DT_DOUBLE)
            y[i] = (float)((((const double *)X->data)[i] - of) * sc);
        else
            y[i] = (ml_get_f32(X, i) - of) * sc;
    }
    (void)x;
    return 0;
}

const op_def_t ml_op_scaler = {
    .domain = ML_DOMAIN,
    .name = "Scaler",
    .since = 1,
    .until = 5,
    .prepare = scaler_prepare,
    .infer = scaler_infer,
    .run = scaler_run,
};

/* ============================== Normalizer ============================== */

typedef enum { NORM_MAX, NORM_L1, NORM_L2 } norm_t;

static int norm_prepare(graph_t *g, node_t *n, char *err, size_t errlen)
{
    static const char *const names[] = {"MAX", "L1", "L2"};
    const char *s = node_attr_str(n, "norm", "MAX");
    norm_t *st = arena_alloc(&g->arena, sizeof *st);
    if (!st) return kern_fail(err, errlen, "Normalizer: out of memory");
    for (int i = 0; i < 3; i++)
        if (strcmp(s, names[i]) == 0) {
            *st = (norm_t)i;
            n->state = st;
            return 0;
        }
    return kern_fail(err, errlen, "Normalizer: norm '%s' is not one of MAX, L1, L2", s);
}

static int norm_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                      size_t errlen)
{
    /* ORT normalizes [F] or the rows of [N,F] and refuses higher ranks. */
    if (numeric_x(n, in[0], 2, err, errlen)) return -1;
    copy_shape(&out[0], in[0], DT_FLOAT);
    return 0;
}

/* x * x in X's own type (as ORT squares before converting), wrapping for huge integers. */
static float square_of(const tensor_t *t, int64_t i)
{
    switch (t->dtype) {
    case DT_DOUBLE: {
        double v = ((const double *)t->data)[i];
        return (float)(v * v);
    }
    case DT_INT64: {
        uint64_t v = (uint64_t)((const int64_t *)t->data)[i];
        return (float)(int64_t)(v * v);
    }
    case DT_INT32: {
        uint32_t v = (uint32_t)((const int32_t *)t->data)[i];
        return (float)(int32_t)(v * v);
    }
    default: {
        float v = ((const float *)t->data)[i];
        return v * v;
    }
    }
}

static float abs_of(const tensor_t *t, int64_t i)
{
    switch (t->dtype) {
    case DT_DOUBLE: return (float)fabs(((const double *)t->data)[i]);
    case DT_INT64: {
        int64_t v = ((const int64_t *)t->data)[i];
        return (float)(v < 0 ? -(uint64_t)v : (uint64_t)v);
    }
    case DT_INT32: {
        int64_t v = ((const int32_t *)t->data)[i];
        return (float)(v < 0 ? -v : v);
    }
    default: return fabsf(((const float *)t->data)[i]);
    }
}

static int norm_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    norm_t mode = *(const norm_t *)n->state;
    const tensor_t *X = in[0];
    int64_t f = stride_of(X), rows = f ? tensor_numel(X) / f : 0;
    float *y = out[0].data;
    for (int64_t r = 0; r < rows; r++) {
        int64_t o = r * f;
        float d = 0.f;
        if (mode == NORM_MAX) {
            d = -FLT_MAX; /* std::max(d, v) keeps d when v is NaN */
            for (int64_t i = 0; i < f; i++) {
                float v = ml_get_f32(X, o + i);
                if (d < v) d = v;
            }
        } else if (mode == NORM_L1) {
            for (int64_t i = 0; i < f; i++) d += abs_of(X, o + i);
        } else {
            for (int64_t i = 0; i < f; i++) {
                y[o + i] = square_of(X, o + i);
                d += y[o + i];
            }
        }
        for (int64_t i = 0; i < f; i++) {
            float v = ml_get_f32(X, o + i);
            if (d == 0.f)
                y[o + i] = v; /* an all-zero row (or max 0) is copied as is */
            else if (mode != NORM_L2)
                y[o + i] = v / d;
            else /* ORT divides the squares and takes the root, restoring the sign */
                y[o + i] = v < 0 ? -sqrtf(y[o + i] / d) : sqrtf(y[o + i] / d);
        }
    }
    (void)x;
    return 0;
}

const op_def_t ml_op_normalizer = {
    .domain = ML_DOMAIN,
    .name = "Normalizer",
    .since = 1,
    .until = 5,
    .prepare = norm_prepare,
    .infer = norm_infer,
    .run = norm_run,
};

/* ============================== Imputer ============================== */

typedef struct imputer {
    const float *fv;   /* imputed_value_floats */
    const int64_t *iv; /* imputed_value_int64s */
    int64_t nf, ni;
    float frep;
    int64_t irep;
} imputer_t;

static int imputer_prepare(graph_t *g, node_t *n, char *err, size_t errlen)
{
    imputer_t *s = arena_alloc(&g->arena, sizeof *s);
    if (!s) return kern_fail(err, errlen, "Imputer: out of memory");
    s->fv = node_attr_floats(n, "imputed_value_floats", &s->nf);
    s->iv = node_attr_ints(n, "imputed_value_int64s", &s->ni);
    s->frep = node_attr_float(n, "replaced_value_float", 0.f);
    s->irep = node_attr_int(n, "replaced_value_int64", 0);
    if ((s->nf > 0) == (s->ni > 0))
        return kern_fail(
            err, errlen,
            "Imputer: exactly one of imputed_value_floats and imputed_value_int64s must "
            "be set");
    n->state = s;
    return 0;
}

static int imputer_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                         size_t errlen)
{
    const imputer_t *s = n->state;
    const tensor_t *X = in[0];
    if (numeric_x(n, X, TENSOR_MAX_RANK, err, errlen)) return -1;
    bool real = X->dtype == DT_FLOAT || X->dtype == DT_DOUBLE;
    if (real ? s->nf == 0 : s->ni == 0)
        return kern_fail(err, errlen, "Imputer: X is %s but %s is empty", dtype_name(X->dtype),
                         real ? "imputed_value_floats" : "imputed_value_int64s");
    copy_shape(&out[0], X, X->dtype);
    return 0;
}

static int imputer_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const imputer_t *s = n->state;
    const tensor_t *X = in[0];
    int64_t total = tensor_numel(X), f = stride_of(X);
    /* A list as long as the features is per feature; any other length uses its first value (ORT
     * does not check). */
    bool per = (X->dtype == DT_FLOAT || X->dtype == DT_DOUBLE) ? s->nf == f : s->ni == f;
    for (int64_t i = 0; i < total; i++) {
        int64_t k = per ? i % f : 0;
        switch (X->dtype) {
        case DT_FLOAT: {
            float v = ((const float *)X->data)[i];
            bool hit = (isnan(v) && isnan(s->frep)) || v == s->frep;
            ((float *)out[0].data)[i] = hit ? s->fv[k] : v;
            break;
        }
        case DT_DOUBLE: {
            double v = ((const double *)X->data)[i];
            bool hit = (isnan(v) && isnan(s->frep)) || v == (double)s->frep;
            ((double *)out[0].data)[i] = hit ? s->fv[k] : v;
            break;
        }
        case DT_INT64: {
            int64_t v = ((const int64_t *)X->data)[i];
            ((int64_t *)out[0].data)[i] = v == s->irep ? s->iv[k] : v;
            break;
        }
        default: {
            int32_t v = ((const int32_t *)X->data)[i];
            ((int32_t *)out[0].data)[i] = v == s->irep ? (int32_t)s->iv[k] : v;
            break;
        }
        }
    }
    (void)x;
    return 0;
}

const op_def_t ml_op_imputer = {
    .domain = ML_DOMAIN,
    .name = "Imputer",
    .since = 1,
    .until = 5,
    .prepare = imputer_prepare,
    .infer = imputer_infer,
    .run = imputer_run,
};

/* ============================== Binarizer ============================== */

static int bin_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                     size_t errlen)
{
    if (numeric_x(n, in[0], TENSOR_MAX_RANK, err, errlen)) return -1;
    copy_shape(&out[0], in[0], in[0]->dtype);
    return 0;
}

static int bin_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const tensor_t *X = in[0];
    float thr = node_attr_float(n, "threshold", 0.f);
    int64_t total = tensor_numel(X);
    for (int64_t i = 0; i < total; i++) {
        switch (X->dtype) {
        case DT_FLOAT: {
            float v = ((const float *)X->data)[i];
            if (isnan(v)) return exec_fail(x, "Binarizer: X[%lld] is NaN", (long long)i);
            ((float *)out[0].data)[i] = v > thr ? 1.f : 0.f;
            break;
        }
        case DT_DOUBLE: {
            double v = ((const double *)X->data)[i];
            if (isnan(v)) return exec_fail(x, "Binarizer: X[%lld] is NaN", (long long)i);
            ((double *)out[0].data)[i] = v > thr ? 1. : 0.;
            break;
        }
        case DT_INT64: ((int64_t *)out[0].data)[i] = ml_get_f32(X, i) > thr; break;
        default: ((int32_t *)out[0].data)[i] = ml_get_f32(X, i) > thr; break;
        }
    }
    return 0;
}

const op_def_t ml_op_binarizer = {
    .domain = ML_DOMAIN,
    .name = "Binarizer",
    .since = 1,
    .until = 5,
    .infer = bin_infer,
    .run = bin_run,
};

/* ============================== OneHotEncoder ============================== */

typedef struct ohe {
    ml_index_t ix;
    int64_t ncat;
    bool strings;
    bool zeros; /* unknown category: all-zero row (1) or an error (0) */
} ohe_t;

static int ohe_prepare(graph_t *g, node_t *n, char *err, size_t errlen)
{
    ohe_t *s = arena_alloc(&g->arena, sizeof *s);
    int64_t ni, ns;
    if (!s) return kern_fail(err, errlen, "OneHotEncoder: out of memory");
    const int64_t *ints = node_attr_ints(n, "cats_int64s", &ni);
    const char **strs = node_attr_strings(n, "cats_strings", &ns);
    if ((ni > 0) == (ns > 0))
        return kern_fail(err, errlen,
                         "OneHotEncoder: exactly one of cats_int64s and cats_strings must be set");
    s->zeros = node_attr_int(n, "zeros", 1) != 0;
    s->strings = ns > 0;
    s->ncat = s->strings ? ns : ni;
    /* A repeated category maps to its last position (ORT fills a map in order). */
    if (ml_index_build(&g->arena, &s->ix, s->strings ? DT_STRING : DT_INT64,
                       s->strings ? (const void *)strs : (const void *)ints, s->ncat, true, false))
        return kern_fail(err, errlen, "OneHotEncoder: out of memory");
    n->state = s;
    return 0;
}

static int ohe_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                     size_t errlen)
{
    const ohe_t *s = n->state;
    const tensor_t *X = in[0];
    if (X->dtype == DT_STRING ? !s->strings : (!ml_numeric(X->dtype) || s->strings))
        return kern_fail(err, errlen, "OneHotEncoder: X is %s but the categories are %s",
                         dtype_name(X->dtype), s->strings ? "strings" : "integers");
    if (X->rank >= TENSOR_MAX_RANK)
        return kern_fail(err, errlen, "OneHotEncoder: X has rank %d, too high", X->rank);
    copy_shape(&out[0], X, DT_FLOAT);
    out[0].dims[out[0].rank++] = s->ncat;
    return 0;
}

static int ohe_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const ohe_t *s = n->state;
    const tensor_t *X = in[0];
    int64_t total = tensor_numel(X);
    float *y = out[0].data;
    memset(y, 0, (size_t)(total * s->ncat) * sizeof(float));
    for (int64_t i = 0; i < total; i++) {
        int64_t k;
        if (X->dtype == DT_STRING) {
            k = ml_index_str(&s->ix, ((const char *const *)X->data)[i]);
        } else if (X->dtype == DT_INT64 || X->dtype == DT_INT32) {
            k = ml_index_int(&s->ix, (int64_t)ml_get_f64(X, i));
        } else {
            /* Real inputs are truncated to int64 first, as ORT's static_cast. */
            double v = ml_get_f64(X, i);
            k = v > -9.2e18 && v < 9.2e18 ? ml_index_int(&s->ix, (int64_t)v) : -1;
        }
        if (k >= 0)
            y[i * s->ncat + k] = 1.f;
        else if (!s->zeros)
            return exec_fail(x, "OneHotEncoder: X[%lld] is not a known category and zeros = 0",
                             (long long)i);
    }
    return 0;
}

const op_def_t ml_op_one_hot_encoder = {
    .domain = ML_DOMAIN,
    .name = "OneHotEncoder",
    .since = 1,
    .until = 5,
    .prepare = ohe_prepare,
    .infer = ohe_infer,
    .run = ohe_run,
};

/* ============================== ArrayFeatureExtractor ============================== */

static int afe_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                     size_t errlen)
{
    const tensor_t *X = in[0], *Y = in[1];
    (void)n;
    if (!ml_numeric(X->dtype) && X->dtype != DT_STRING)
        return kern_fail(err, errlen, "ArrayFeatureExtractor: X cannot be %s",
                         dtype_name(X->dtype));
    if (!Y || Y->dtype != DT_INT64)
        return kern_fail(err, errlen, "ArrayFeatureExtractor: the indices Y must be INT64");
    if (X->rank < 1) return kern_fail(err, errlen, "ArrayFeatureExtractor: X must have rank >= 1");
    int64_t k = tensor_numel(Y);
    if (k == 0) return kern_fail(err, errlen, "ArrayFeatureExtractor: Y holds no indices");
    copy_shape(&out[0], X, X->dtype);
    if (X->rank == 1) { /* [F] gives [1, K], as ORT keeps for compatibility */
        out[0].rank = 2;
        out[0].dims[0] = 1;
    }
    out[0].dims[out[0].rank - 1] = k;
    return 0;
}

static int afe_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const tensor_t *X = in[0], *Y = in[1];
    int64_t f = X->dims[X->rank - 1], k = tensor_numel(Y);
    int64_t rows = f ? tensor_numel(X) / f : 0;
    const int64_t *idx = Y->data;
    size_t es = dtype_size(X->dtype);
    for (int64_t j = 0; j < k; j++)
        if (idx[j] < 0 || idx[j] >= f)
            return exec_fail(x, "ArrayFeatureExtractor: index Y[%lld] = %lld is outside [0, %lld)",
                             (long long)j, (long long)idx[j], (long long)f);
    const char *src = X->data;
    char *dst = out[0].data;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < k; j++, dst += es)
            memcpy(dst, src + (size_t)(r * f + idx[j]) * es, es);
    (void)n;
    return 0;
}

const op_def_t ml_op_array_feature_extractor = {
    .domain = ML_DOMAIN,
    .name = "ArrayFeatureExtractor",
    .since = 1,
    .until = 5,
    .infer = afe_infer,
    .run = afe_run,
};

/* ============================== ZipMap ============================== */

static int zipmap_prepare(graph_t *g, node_t *n, char *err, size_t errlen)
{
    int64_t ni, ns;
    const int64_t *ints = node_attr_ints(n, "classlabels_int64s", &ni);
    const char **strs = node_attr_strings(n, "classlabels_strings", &ns);
    if ((ni > 0) == (ns > 0))
        return kern_fail(
            err, errlen,
            "ZipMap: exactly one of classlabels_int64s and classlabels_strings must be "
            "set");
    /* The keys tensor lives as long as the graph and borrows the attribute's array. */
    tensor_t *keys = arena_alloc(&g->arena, sizeof *keys);
    if (!keys) return kern_fail(err, errlen, "ZipMap: out of memory");
    keys->dtype = ni > 0 ? DT_INT64 : DT_STRING;
    keys->rank = 1;
    keys->dims[0] = ni > 0 ? ni : ns;
    keys->data = ni > 0 ? (void *)ints : (void *)strs;
    n->state = keys;
    return 0;
}

static int zipmap_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                        size_t errlen)
{
    const tensor_t *keys = n->state, *X = in[0];
    char sh[96];
    if (X->dtype != DT_FLOAT)
        return kern_fail(err, errlen, "ZipMap: X must be FLOAT, not %s", dtype_name(X->dtype));
    if (X->rank != 1 && X->rank != 2)
        return kern_fail(err, errlen, "ZipMap: X must be [N,C] or [C], got %s",
                         tensor_shape_str(X, sh, sizeof sh));
    int64_t c = X->dims[X->rank - 1];
    if (c >= 0 && c != keys->dims[0])
        return kern_fail(err, errlen, "ZipMap: X has %lld columns for %lld class labels",
                         (long long)c, (long long)keys->dims[0]);
    ml_shape2(&out[0], DT_FLOAT, X->rank == 1 ? 1 : X->dims[0], keys->dims[0]);
    out[0].map_keys = keys;
    return 0;
}

static int zipmap_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    memcpy(out[0].data, in[0]->data, (size_t)tensor_numel(in[0]) * sizeof(float));
    out[0].map_keys = n->state;
    (void)x;
    return 0;
}

const op_def_t ml_op_zipmap = {
    .domain = ML_DOMAIN,
    .name = "ZipMap",
    .since = 1,
    .until = 5,
    .prepare = zipmap_prepare,
    .infer = zipmap_infer,
    .run = zipmap_run,
};
