/* ai.onnx.ml LinearClassifier and LinearRegressor: one dot product per class or target plus an
 * intercept, then the post_transform, with ONNX Runtime's handling of the one-row binary case. */
#include <math.h>
#include <string.h>

#include "engine/ops/ml_common.h"

typedef struct linear {
    int64_t nout;      /* classes (classifier) or targets (regressor): rows of coefficients */
    int64_t nfeat;     /* coefficients per row */
    const float *coef; /* [nout, nfeat] */
    const float *bias; /* [nout], or NULL */
    ml_post_t post;
    ml_labels_t labels; /* classifier only */
} linear_t;

/* score[c] = x . coef[c] + bias[c], rounded as ORT's GEMM does; its single-row kernel (one row
 * in X) sums in another order (see ml_dot, ml_dot_m1). */
static void linear_row(const linear_t *s, const float *x, bool one_row, float *score)
{
    for (int64_t c = 0; c < s->nout; c++) {
        const float *w = s->coef + c * s->nfeat;
        score[c] = one_row ? ml_dot_m1(x, w, s->nfeat, c, s->nout) : ml_dot(x, w, s->nfeat);
        if (s->bias) score[c] += s->bias[c];
    }
}

#define LIN_BLOCK 16 /* rows scored together, one per SIMD lane (16 floats = one AVX-512 op) */

/* The scores of rows [b, b+nb) of X (nb <= LIN_BLOCK) into scores[nb][nout]. Each row's sum is
 * exactly ml_dot's (one fused multiply-add per feature, in order); only the rows sit side by side
 * in SIMD lanes, which makes batches fast without changing a single rounding. xt is scratch for
 * the block transposed ([nfeat][LIN_BLOCK]), row scratch for one converted row. */
__attribute__((target_clones("avx512f", "arch=haswell", "default"))) static void
linear_block(const linear_t *s, const tensor_t *X, int64_t b, int64_t nb, float *xt, float *row,
             float *scores)
{
    int64_t F = s->nfeat;
    for (int64_t k = 0; k < LIN_BLOCK; k++) {
        if (k < nb) ml_to_f32(X, (b + k) * F, F, row);
        for (int64_t j = 0; j < F; j++) xt[j * LIN_BLOCK + k] = k < nb ? row[j] : 0.f;
    }
    for (int64_t c = 0; c < s->nout; c++) {
        const float *w = s->coef + c * F;
        float acc[LIN_BLOCK] = {0};
        for (int64_t j = 0; j < F; j++)
            for (int k = 0; k < LIN_BLOCK; k++) acc[k] = fmaf(xt[j * LIN_BLOCK + k], w[j], acc[k]);
        for (int64_t k = 0; k < nb; k++)
            scores[k * s->nout + c] = s->bias ? acc[k] + s->bias[c] : acc[k];
    }
}

/* Scratch for linear_block: xt, row and a block of scores. */
static float *block_scratch(const linear_t *s, exec_ctx_t *x, float **row, float **scores)
{
    size_t nxt = (size_t)s->nfeat * LIN_BLOCK, nrow = (size_t)s->nfeat,
           nsc = (size_t)(s->nout < 2 ? 2 : s->nout) * LIN_BLOCK;
    float *xt = exec_scratch(x, (nxt + nrow + nsc) * sizeof(float));
    if (!xt) return NULL;
    *row = xt + nxt;
    *scores = *row + nrow;
    return xt;
}

static int check_x(const linear_t *s, const node_t *n, const tensor_t *x, int64_t *nrows, char *err,
                   size_t errlen)
{
    int64_t nf;
    if (!ml_numeric(x->dtype))
        return kern_fail(err, errlen, "%s: X must be FLOAT, DOUBLE, INT64 or INT32, not %s",
                         n->op_type, dtype_name(x->dtype));
    if (ml_rows(x, n->op_type, nrows, &nf, err, errlen)) return -1;
    if (nf >= 0 && nf != s->nfeat)
        return kern_fail(err, errlen, "%s: X has %lld features but coefficients hold %lld per %s",
                         n->op_type, (long long)nf, (long long)s->nfeat,
                         strcmp(n->op_type, "LinearRegressor") == 0 ? "target" : "class");
    return 0;
}

/* ============================== LinearClassifier ============================== */

static int lc_prepare(graph_t *g, node_t *n, char *err, size_t errlen)
{
    linear_t *s = arena_alloc(&g->arena, sizeof *s);
    int64_t ncoef, nbias;
    if (!s) return kern_fail(err, errlen, "LinearClassifier: out of memory");
    s->coef = node_attr_floats(n, "coefficients", &ncoef);
    s->bias = node_attr_floats(n, "intercepts", &nbias);
    if (ml_parse_post(n, &s->post, err, errlen)) return -1;
    if (ml_read_labels(n, "classlabels_ints", &s->labels, true, "LinearClassifier", err, errlen))
        return -1;
    if (ncoef == 0) return kern_fail(err, errlen, "LinearClassifier: coefficients is required");
    /* ORT takes the class count from intercepts and refuses a model without them. */
    if (nbias == 0) return kern_fail(err, errlen, "LinearClassifier: intercepts is required");
    s->nout = nbias;
    if (ncoef % nbias)
        return kern_fail(
            err, errlen,
            "LinearClassifier: coefficients has %lld values, not a multiple of the %lld "
            "intercepts",
            (long long)ncoef, (long long)nbias);
    s->nfeat = ncoef / nbias;
    /* One coefficient row is the binary case: it needs exactly two labels. */
    if (nbias == 1 ? s->labels.n != 2 : s->labels.n != nbias)
        return kern_fail(
            err, errlen, "LinearClassifier: %lld classlabels for %lld intercepts (want %lld)",
            (long long)s->labels.n, (long long)nbias, (long long)(nbias == 1 ? 2 : nbias));
    n->state = s;
    return 0;
}

static int lc_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                    size_t errlen)
{
    const linear_t *s = n->state;
    int64_t nrows;
    if (check_x(s, n, in[0], &nrows, err, errlen)) return -1;
    out[0].dtype = ml_label_dtype(&s->labels);
    out[0].rank = 1;
    out[0].dims[0] = nrows;
    out[0].map_keys = NULL;
    if (n->nout > 1) ml_shape2(&out[1], DT_FLOAT, nrows, s->nout == 1 ? 2 : s->nout);
    return 0;
}

static int lc_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const linear_t *s = n->state;
    const tensor_t *X = in[0];
    int64_t nrows = X->rank == 1 ? 1 : X->dims[0];
    float *row, *scores, *xt = block_scratch(s, x, &row, &scores);
    if (!xt) return exec_fail(x, "LinearClassifier: out of memory");
    float *z = n->nout > 1 && n->out[1] >= 0 ? out[1].data : NULL;
    for (int64_t b = 0; b < nrows; b += LIN_BLOCK) {
        int64_t nb = nrows - b < LIN_BLOCK ? nrows - b : LIN_BLOCK;
        if (nrows == 1) { /* ORT's single-row kernel rounds differently */
            ml_to_f32(X, 0, s->nfeat, row);
            linear_row(s, row, true, scores);
        } else {
            linear_block(s, X, b, nb, xt, row, scores);
        }
        for (int64_t k = 0; k < nb; k++) {
            int64_t r = b + k;
            float *score = scores + k * s->nout;
            if (s->nout == 1) {
                ml_put_label(&s->labels, &out[0], r, score[0] > 0 ? 1 : 0);
                if (!z) continue;
                if (s->post == ML_POST_PROBIT) {
                    /* ORT transforms the N packed scores in place without spreading them to two
                     * columns: Z's first N values are probit(score) and the rest stay zero. */
                    z[r] = ml_probit(score[0]);
                } else {
                    ml_binary_pair(s->post, false, score[0], z + 2 * r);
                }
                continue;
            }
            int64_t best = 0; /* the first of equal maxima, as ORT */
            for (int64_t c = 1; c < s->nout; c++)
                if (score[c] > score[best]) best = c;
            ml_put_label(&s->labels, &out[0], r, best);
            if (!z) continue;
            ml_post_rows(s->post, score, s->nout);
            memcpy(z + r * s->nout, score, (size_t)s->nout * sizeof(float));
        }
    }
    if (z && s->nout == 1 && s->post == ML_POST_PROBIT)
        memset(z + nrows, 0, (size_t)nrows * sizeof(float));
    return 0;
}

const op_def_t ml_op_linear_classifier = {
    .domain = ML_DOMAIN,
    .name = "LinearClassifier",
    .since = 1,
    .until = 5,
    .prepare = lc_prepare,
    .infer = lc_infer,
    .run = lc_run,
};

/* ============================== LinearRegressor ============================== */

static int lr_prepare(graph_t *g, node_t *n, char *err, size_t errlen)
{
    linear_t *s = arena_alloc(&g->arena, sizeof *s);
    int64_t ncoef, nbias;
    if (!s) return kern_fail(err, errlen, "LinearRegressor: out of memory");
    s->coef = node_attr_floats(n, "coefficients", &ncoef);
    s->bias = node_attr_floats(n, "intercepts", &nbias);
    s->nout = node_attr_int(n, "targets", 1);
    if (ml_parse_post(n, &s->post, err, errlen)) return -1;
    if (s->nout < 1)
        return kern_fail(err, errlen, "LinearRegressor: targets must be >= 1, got %lld",
                         (long long)s->nout);
    if (ncoef == 0 || ncoef % s->nout)
        return kern_fail(
            err, errlen,
            "LinearRegressor: coefficients has %lld values, not a positive multiple of "
            "targets (%lld)",
            (long long)ncoef, (long long)s->nout);
    /* ORT silently drops intercepts whose count differs from targets; such a model is malformed,
     * so it is refused here rather than scored without its intercepts. */
    if (nbias != 0 && nbias != s->nout)
        return kern_fail(err, errlen,
                         "LinearRegressor: intercepts has %lld values for %lld targets",
                         (long long)nbias, (long long)s->nout);
    if (nbias == 0) s->bias = NULL;
    s->nfeat = ncoef / s->nout;
    n->state = s;
    return 0;
}

static int lr_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                    size_t errlen)
{
    const linear_t *s = n->state;
    int64_t nrows;
    if (check_x(s, n, in[0], &nrows, err, errlen)) return -1;
    ml_shape2(&out[0], DT_FLOAT, nrows, s->nout);
    return 0;
}

static int lr_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const linear_t *s = n->state;
    const tensor_t *X = in[0];
    int64_t nrows = X->rank == 1 ? 1 : X->dims[0];
    float *row, *scores, *xt = block_scratch(s, x, &row, &scores);
    if (!xt) return exec_fail(x, "LinearRegressor: out of memory");
    float *y = out[0].data;
    for (int64_t b = 0; b < nrows; b += LIN_BLOCK) {
        int64_t nb = nrows - b < LIN_BLOCK ? nrows - b : LIN_BLOCK;
        if (nrows == 1) {
            ml_to_f32(X, 0, s->nfeat, row);
            linear_row(s, row, true, y);
        } else {
            linear_block(s, X, b, nb, xt, row, y + b * s->nout);
        }
        for (int64_t r = b; r < b + nb; r++) {
            /* With one target ORT applies PROBIT only; LOGISTIC and the softmaxes leave it. */
            if (s->nout > 1)
                ml_post_rows(s->post, y + r * s->nout, s->nout);
            else if (s->post == ML_POST_PROBIT)
                y[r] = ml_probit(y[r]);
        }
    }
    return 0;
}

const op_def_t ml_op_linear_regressor = {
    .domain = ML_DOMAIN,
    .name = "LinearRegressor",
    .since = 1,
    .until = 5,
    .prepare = lr_prepare,
    .infer = lr_infer,
    .run = lr_run,
};
