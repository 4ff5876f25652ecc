/* Helpers shared by the ai.onnx.ml operators (see ml_common.h): post-transforms, X row views,
 * labels and attribute readers. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "engine/ops/ml_common.h"

int ml_parse_post(const node_t *n, ml_post_t *out, char *err, size_t errlen)
{
    static const char *const names[] = {"NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"};
    const char *s = node_attr_str(n, "post_transform", "NONE");
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) return *out = (ml_post_t)i, 0;
    return kern_fail(err, errlen,
                     "%s: post_transform '%s' is not one of NONE, LOGISTIC, SOFTMAX, SOFTMAX_ZERO, "
                     "PROBIT",
                     n->op_type, s);
}

/* ============================== transforms ============================== */

float ml_logistic(float v)
{
    /* exp of a non-positive number cannot overflow; the sign is restored by symmetry. */
    float e = 1.0f / (1.0f + expf(-fabsf(v)));
    return v < 0 ? 1.0f - e : e;
}

/* erfinv by Winitzki's approximation (a = 0.147), the one ORT uses, kept in float step by step so
 * the results agree to the last bits. */
static float erfinv_approx(float x)
{
    float sgn = x < 0 ? -1.0f : 1.0f;
    x = (1 - x) * (1 + x);
    float lg = logf(x);
    float v = 2 / ((float)M_PI * 0.147f) + 0.5f * lg;
    float v2 = 1 / (0.147f) * lg;
    float v3 = -v + sqrtf(v * v - v2);
    return sgn * sqrtf(v3);
}

float ml_probit(float v)
{
    return (float)M_SQRT2 * erfinv_approx(2 * v - 1);
}

void ml_softmax(float *v, int64_t n)
{
    float mx = -FLT_MAX, sum = 0.f;
    for (int64_t i = 0; i < n; i++)
        if (v[i] > mx) mx = v[i];
    for (int64_t i = 0; i < n; i++) {
        v[i] = expf(v[i] - mx);
        sum += v[i];
    }
    for (int64_t i = 0; i < n; i++) v[i] /= sum;
}

void ml_softmax_zero(float *v, int64_t n)
{
    /* Scores within 1e-7 of zero are "absent" and stay zero instead of becoming exp(0 - max). */
    float mx = -FLT_MAX, sum = 0.f;
    for (int64_t i = 0; i < n; i++)
        if (v[i] > mx) mx = v[i];
    float scale = expf(-mx);
    for (int64_t i = 0; i < n; i++) {
        if (v[i] > 0.0000001f || v[i] < -0.0000001f) {
            v[i] = expf(v[i] - mx);
            sum += v[i];
        } else {
            v[i] *= scale;
        }
    }
    for (int64_t i = 0; i < n; i++) v[i] /= sum;
}

float ml_logistic_mlas(float v)
{
    /* MlasComputeLogistic: an odd rational polynomial (Eigen's coefficients) on [-18, 18],
     * evaluated with fused multiply-adds as its FMA3 kernel does, then clamped to [0, 1]. */
    float x = v < -18.0f ? -18.0f : v > 18.0f ? 18.0f : v;
    if (isnan(v)) x = v;
    float x2 = x * x;
    float p = fmaf(x2, 4.37031012579801e-11f, 1.15627324459942e-07f);
    p = fmaf(p, x2, 6.08574864600143e-05f);
    p = fmaf(p, x2, 8.51377133304701e-03f);
    p = fmaf(p, x2, 2.48287947061529e-01f);
    p = p * x;
    float q = fmaf(x2, 6.10247389755681e-13f, 5.76102136993427e-09f);
    q = fmaf(q, x2, 6.29106785017040e-06f);
    q = fmaf(q, x2, 1.70198817374094e-03f);
    q = fmaf(q, x2, 1.16817656904453e-01f);
    q = fmaf(q, x2, 9.93151921023180e-01f);
    float r = p / q + 0.5f;
    return r < 0.f ? 0.f : r > 1.f ? 1.f : r;
}

float ml_tanh_mlas(float v)
{
    float x = v < -9.0f ? -9.0f : v > 9.0f ? 9.0f : v;
    if (isnan(v)) x = v;
    float x2 = x * x;
    float p = fmaf(x2, -2.76076847742355e-16f, 2.00018790482477e-13f);
    p = fmaf(p, x2, -8.60467152213735e-11f);
    p = fmaf(p, x2, 5.12229709037114e-08f);
    p = fmaf(p, x2, 1.48572235717979e-05f);
    p = fmaf(p, x2, 6.37261928875436e-04f);
    p = fmaf(p, x2, 4.89352455891786e-03f);
    p = p * x;
    float q = fmaf(x2, 1.19825839466702e-06f, 1.18534705686654e-04f);
    q = fmaf(q, x2, 2.26843463243900e-03f);
    q = fmaf(q, x2, 4.89352518554385e-03f);
    return p / q;
}

void ml_post_rows(ml_post_t p, float *v, int64_t n)
{
    if (p != ML_POST_LOGISTIC) {
        ml_post_vector(p, v, n);
        return;
    }
    for (int64_t i = 0; i < n; i++) v[i] = ml_logistic_mlas(v[i]);
}

void ml_post_vector(ml_post_t p, float *v, int64_t n)
{
    switch (p) {
    case ML_POST_LOGISTIC:
        for (int64_t i = 0; i < n; i++) v[i] = ml_logistic(v[i]);
        break;
    case ML_POST_PROBIT:
        for (int64_t i = 0; i < n; i++) v[i] = ml_probit(v[i]);
        break;
    case ML_POST_SOFTMAX: ml_softmax(v, n); break;
    case ML_POST_SOFTMAX_ZERO: ml_softmax_zero(v, n); break;
    case ML_POST_NONE: break;
    }
}

float ml_dot(const float *a, const float *b, int64_t n)
{
    float acc = 0.f;
    for (int64_t i = 0; i < n; i++) acc = fmaf(a[i], b[i], acc);
    return acc;
}

float ml_dot_m1(const float *a, const float *b, int64_t n, int64_t col, int64_t ncols)
{
    float l[8] = {0};
    for (int64_t i = 0; i < n; i++) {
        float p = a[i] * b[i]; /* vmulps then vaddps: two roundings */
        l[i & 7] += p;
    }
    int64_t full = ncols / 4 * 4;
    if (col < full) /* outputs in fours: a transpose, then lanes 0..3 and 4..7 summed in order */
        return (((l[0] + l[1]) + l[2]) + l[3]) + (((l[4] + l[5]) + l[6]) + l[7]);
    if (ncols - full >= 2 && col < full + 2) /* a pair: unpack, 128-bit halves, movhlps */
        return ((l[2] + l[0]) + (l[6] + l[4])) + ((l[3] + l[1]) + (l[7] + l[5]));
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7])); /* two vhaddps */
}

void ml_binary_pair(ml_post_t p, bool mixed, float s, float *z)
{
    if (mixed) {
        z[0] = p == ML_POST_LOGISTIC ? ml_logistic(-s) : -s;
        z[1] = p == ML_POST_LOGISTIC ? ml_logistic(s) : s;
    } else {
        /* ORT 1.30 applies the logistic here too (probed: LinearClassifier with one coefficient
         * row, LOGISTIC, score 0.55 gives [0.365864, 0.634136]). */
        float q = p == ML_POST_LOGISTIC ? ml_logistic(s) : s;
        z[0] = 1 - q;
        z[1] = q;
    }
}

/* ============================== inputs ============================== */

bool ml_numeric(dtype_t t)
{
    return t == DT_FLOAT || t == DT_DOUBLE || t == DT_INT64 || t == DT_INT32;
}

int ml_rows(const tensor_t *x, const char *op, int64_t *nrows, int64_t *nfeat, char *err,
            size_t errlen)
{
    if (x->rank == 1) {
        *nrows = 1;
        *nfeat = x->dims[0];
        return 0;
    }
    if (x->rank == 2) {
        *nrows = x->dims[0];
        *nfeat = x->dims[1];
        return 0;
    }
    char sh[96];
    return kern_fail(err, errlen, "%s: X must be [N,F] or [F], got %s", op,
                     tensor_shape_str(x, sh, sizeof sh));
}

float ml_get_f32(const tensor_t *t, int64_t i)
{
    switch (t->dtype) {
    case DT_FLOAT: return ((const float *)t->data)[i];
    case DT_DOUBLE: return (float)((const double *)t->data)[i];
    case DT_INT64: return (float)((const int64_t *)t->data)[i];
    case DT_INT32: return (float)((const int32_t *)t->data)[i];
    default: return 0.f;
    }
}

double ml_get_f64(const tensor_t *t, int64_t i)
{
    switch (t->dtype) {
    case DT_FLOAT: return ((const float *)t->data)[i];
    case DT_DOUBLE: return ((const double *)t->data)[i];
    case DT_INT64: return (double)((const int64_t *)t->data)[i];
    case DT_INT32: return ((const int32_t *)t->data)[i];
    default: return 0.;
    }
}

void ml_to_f32(const tensor_t *t, int64_t off, int64_t count, float *out)
{
    if (t->dtype == DT_FLOAT) {
        memcpy(out, (const float *)t->data + off, (size_t)count * sizeof(float));
        return;
    }
    for (int64_t i = 0; i < count; i++) out[i] = ml_get_f32(t, off + i);
}

/* ============================== labels ============================== */

int ml_read_labels(const node_t *n, const char *ints_name, ml_labels_t *l, bool required,
                   const char *op, char *err, size_t errlen)
{
    int64_t ni, ns;
    const int64_t *ints = node_attr_ints(n, ints_name, &ni);
    const char **strs = node_attr_strings(n, "classlabels_strings", &ns);
    memset(l, 0, sizeof *l);
    if (ni > 0 && ns > 0)
        return kern_fail(err, errlen, "%s: both %s and classlabels_strings are set", op, ints_name);
    if (ni > 0) {
        l->n = ni;
        l->ints = ints;
    } else if (ns > 0) {
        l->n = ns;
        l->strs = strs;
    } else if (required) {
        return kern_fail(err, errlen, "%s: one of %s or classlabels_strings is required", op,
                         ints_name);
    }
    return 0;
}

dtype_t ml_label_dtype(const ml_labels_t *l)
{
    return l->strs ? DT_STRING : DT_INT64;
}

void ml_put_label(const ml_labels_t *l, tensor_t *y, int64_t i, int64_t k)
{
    if (l->strs)
        ((const char **)y->data)[i] = l->strs[k];
    else
        ((int64_t *)y->data)[i] = l->ints[k];
}

/* ============================== attributes ============================== */

int ml_attr_reals(graph_t *g, const node_t *n, const char *name, const char *tensor_name,
                  double **out, int64_t *count, bool *is_double, char *err, size_t errlen)
{
    int64_t nf = 0;
    const float *f = node_attr_floats(n, name, &nf);
    const attr_t *ta = tensor_name ? node_attr(n, tensor_name) : NULL;
    const tensor_t *t = ta && ta->type == ATTR_TENSOR ? ta->t : NULL;
    *out = NULL;
    *count = 0;
    *is_double = false;
    if (nf > 0 && t)
        return kern_fail(err, errlen, "%s: both %s and %s are set", n->op_type, name, tensor_name);
    if (t) {
        if (t->dtype != DT_FLOAT && t->dtype != DT_DOUBLE)
            return kern_fail(err, errlen, "%s: %s must be a FLOAT or DOUBLE tensor, not %s",
                             n->op_type, tensor_name, dtype_name(t->dtype));
        int64_t cnt = tensor_numel(t);
        if (cnt == 0) return 0;
        double *d = arena_alloc(&g->arena, (size_t)cnt * sizeof(double));
        if (!d) return kern_fail(err, errlen, "%s: out of memory", n->op_type);
        for (int64_t i = 0; i < cnt; i++) d[i] = ml_get_f64(t, i);
        *out = d;
        *count = cnt;
        *is_double = t->dtype == DT_DOUBLE;
        return 0;
    }
    if (nf == 0) return 0;
    double *d = arena_alloc(&g->arena, (size_t)nf * sizeof(double));
    if (!d) return kern_fail(err, errlen, "%s: out of memory", n->op_type);
    for (int64_t i = 0; i < nf; i++) d[i] = f[i];
    *out = d;
    *count = nf;
    return 0;
}

void ml_shape2(tensor_t *out, dtype_t dt, int64_t d0, int64_t d1)
{
    out->dtype = dt;
    out->rank = 2;
    out->dims[0] = d0;
    out->dims[1] = d1;
    out->map_keys = NULL;
}

/* ============================== hash index ============================== */

static uint64_t mix64(uint64_t x)
{
    /* splitmix64 finaliser: spreads nearby integers over the table */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return mix64(h);
}

static uint64_t hash_real(double d)
{
    uint64_t u;
    if (d == 0) d = 0; /* -0.0 and 0.0 are equal keys */
    if (isnan(d)) return 0;
    memcpy(&u, &d, sizeof u);
    return mix64(u);
}

static uint64_t key_hash(const ml_index_t *ix, int64_t i)
{
    switch (ix->kt) {
    case DT_INT64: return mix64((uint64_t)((const int64_t *)ix->keys)[i]);
    case DT_DOUBLE: return hash_real(((const double *)ix->keys)[i]);
    default: return hash_str(((const char *const *)ix->keys)[i]);
    }
}

static bool real_eq(const ml_index_t *ix, double a, double b)
{
    return a == b || (ix->nan_eq && isnan(a) && isnan(b));
}

int ml_index_build(arena_t *a, ml_index_t *ix, dtype_t kt, const void *keys, int64_t n,
                   bool last_wins, bool nan_eq)
{
    uint64_t cap = 8;
    while (cap < (uint64_t)n * 2) cap *= 2;
    ix->kt = kt;
    ix->keys = keys;
    ix->nan_eq = nan_eq;
    ix->mask = cap - 1;
    ix->slots = arena_alloc(a, cap * sizeof(int32_t));
    if (!ix->slots || n > INT32_MAX) return -1;
    memset(ix->slots, 0xff, cap * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) {
        uint64_t h = key_hash(ix, i) & ix->mask;
        for (;; h = (h + 1) & ix->mask) {
            int32_t s = ix->slots[h];
            if (s < 0) {
                ix->slots[h] = (int32_t)i;
                break;
            }
            bool same;
            if (kt == DT_INT64)
                same = ((const int64_t *)keys)[s] == ((const int64_t *)keys)[i];
            else if (kt == DT_DOUBLE)
                same = real_eq(ix, ((const double *)keys)[s], ((const double *)keys)[i]);
            else
                same = strcmp(((const char *const *)keys)[s], ((const char *const *)keys)[i]) == 0;
            if (same) {
                if (last_wins) ix->slots[h] = (int32_t)i;
                break;
            }
        }
    }
    return 0;
}

int64_t ml_index_int(const ml_index_t *ix, int64_t key)
{
    const int64_t *k = ix->keys;
    for (uint64_t h = mix64((uint64_t)key) & ix->mask;; h = (h + 1) & ix->mask) {
        int32_t s = ix->slots[h];
        if (s < 0 || k[s] == key) return s;
    }
}

int64_t ml_index_real(const ml_index_t *ix, double key)
{
    const double *k = ix->keys;
    if (isnan(key) && !ix->nan_eq) return -1;
    for (uint64_t h = hash_real(key) & ix->mask;; h = (h + 1) & ix->mask) {
        int32_t s = ix->slots[h];
        if (s < 0 || real_eq(ix, k[s], key)) return s;
    }
}

int64_t ml_index_str(const ml_index_t *ix, const char *key)
{
    const char *const *k = ix->keys;
    for (uint64_t h = hash_str(key) & ix->mask;; h = (h + 1) & ix->mask) {
        int32_t s = ix->slots[h];
        if (s < 0 || strcmp(k[s], key) == 0) return s;
    }
}
