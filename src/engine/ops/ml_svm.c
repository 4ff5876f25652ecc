/* ai.onnx.ml SVMClassifier and SVMRegressor: libsvm-style kernel machines (LINEAR, POLY, RBF,
 * SIGMOID) with one-vs-one voting, Platt probabilities with pairwise coupling, and the liblinear
 * form without support vectors, following ONNX Runtime's arithmetic and quirks. */
#include <math.h>
#include <string.h>

#include "engine/ops/ml_common.h"

typedef enum svm_kernel { K_LINEAR, K_POLY, K_RBF, K_SIGMOID } svm_kernel_t;

typedef struct svm {
    svm_kernel_t kernel;
    float gamma, coef0, degree;
    bool svc;          /* support vectors present; otherwise liblinear: x . coef + rho[0] */
    int64_t nfeat;     /* features per support vector (or per coefficient row) */
    int64_t nsv;       /* support vectors */
    const float *sv;   /* [nsv, nfeat] */
    const float *coef; /* SVC: [nclass-1, nsv]; linear: [nclass, nfeat] */
    const float *rho;  /* SVC: one per classifier; linear: rho[0] */
    /* Classifier only. */
    int64_t nclass;
    int64_t npairs;               /* nclass * (nclass - 1) / 2 one-vs-one classifiers */
    const int64_t *per_class;     /* support vectors of each class, consecutive in sv */
    int64_t *first;               /* index of each class's first support vector */
    const float *prob_a, *prob_b; /* Platt scaling per classifier, or NULL */
    bool all_positive;            /* every coefficient >= 0 (ORT's binary label rule) */
    ml_post_t post;
    ml_labels_t labels;
    /* Regressor only. */
    bool one_class;
} svm_t;

static int read_kernel(const node_t *n, svm_t *s, char *err, size_t errlen)
{
    static const char *const names[] = {"LINEAR", "POLY", "RBF", "SIGMOID"};
    const char *k = node_attr_str(n, "kernel_type", "LINEAR");
    int64_t np;
    const float *kp = node_attr_floats(n, "kernel_params", &np);
    s->kernel = (svm_kernel_t)-1;
    for (int i = 0; i < 4; i++)
        if (strcmp(k, names[i]) == 0) s->kernel = (svm_kernel_t)i;
    if ((int)s->kernel < 0)
        return kern_fail(err, errlen,
                         "%s: kernel_type '%s' is not one of LINEAR, POLY, RBF, SIGMOID",
                         n->op_type, k);
    /* kernel_params is [gamma, coef0, degree]. ORT requires the attribute; absent, the kernel
     * parameters are taken as zero. */
    if (np != 0 && np != 3)
        return kern_fail(err, errlen,
                         "%s: kernel_params must hold [gamma, coef0, degree], got %lld", n->op_type,
                         (long long)np);
    if (np == 3) s->gamma = kp[0], s->coef0 = kp[1], s->degree = kp[2];
    return 0;
}

/* k(x, sv) in float as ORT evaluates it. Its GEMM computes the dot products (ml_dot, or ml_dot_m1
 * for output col of ncols when X is one row and alpha = gamma is 1) and adds coef0 with alpha. */
/* Row i of a [*, width] attribute, which is NULL when the model has none (width 0): no
 * arithmetic on a null pointer. */
static inline const float *row_of(const float *base, int64_t i, int64_t width)
{
    return base ? base + i * width : NULL;
}

static float kernel(const svm_t *s, const float *x, const float *sv, bool one_row, int64_t col,
                    int64_t ncols)
{
    if (s->kernel == K_RBF) {
        float sum = 0.f;
        for (int64_t f = 0; f < s->nfeat; f++) {
            float d = x[f] - sv[f];
            sum += d * d;
        }
        return expf(-s->gamma * sum);
    }
    bool m1 = one_row && (s->kernel == K_LINEAR || s->gamma == 1.f);
    float dot = m1 ? ml_dot_m1(x, sv, s->nfeat, col, ncols) : ml_dot(x, sv, s->nfeat);
    if (s->kernel == K_LINEAR) return dot;
    /* gamma * dot + coef0 is the GEMM's alpha * acc + C, one fused operation (bit-exact with ORT
     * for degrees 2 and 3; a fractional degree goes through powf, within 1e-6 of ORT's pow). */
    float v = m1 ? dot + s->coef0 : fmaf(s->gamma, dot, s->coef0);
    if (s->kernel == K_SIGMOID) return ml_tanh_mlas(v);
    if (s->degree == 2) return v * v;
    if (s->degree == 3) return v * v * v;
    return powf(v, s->degree);
}

static int check_x(const svm_t *s, const node_t *n, const tensor_t *x, int64_t *nrows, char *err,
                   size_t errlen)
{
    int64_t nf;
    if (!ml_numeric(x->dtype))
        return kern_fail(err, errlen, "%s: X must be FLOAT, DOUBLE, INT64 or INT32, not %s",
                         n->op_type, dtype_name(x->dtype));
    if (ml_rows(x, n->op_type, nrows, &nf, err, errlen)) return -1;
    if (nf >= 0 && nf != s->nfeat)
        return kern_fail(err, errlen, "%s: X has %lld features, the model %lld", n->op_type,
                         (long long)nf, (long long)s->nfeat);
    return 0;
}

/* ============================== SVMClassifier ============================== */

static int sc_prepare(graph_t *g, node_t *n, char *err, size_t errlen)
{
    svm_t *s = arena_alloc(&g->arena, sizeof *s);
    int64_t nvpc, nsvf, ncoef, nrho, npa, npb;
    if (!s) return kern_fail(err, errlen, "SVMClassifier: out of memory");
    if (read_kernel(n, s, err, errlen) || ml_parse_post(n, &s->post, err, errlen)) return -1;
    if (ml_read_labels(n, "classlabels_ints", &s->labels, true, "SVMClassifier", err, errlen))
        return -1;
    s->per_class = node_attr_ints(n, "vectors_per_class", &nvpc);
    s->sv = node_attr_floats(n, "support_vectors", &nsvf);
    s->coef = node_attr_floats(n, "coefficients", &ncoef);
    s->rho = node_attr_floats(n, "rho", &nrho);
    s->prob_a = node_attr_floats(n, "prob_a", &npa);
    s->prob_b = node_attr_floats(n, "prob_b", &npb);
    s->nclass = s->labels.n;
    s->npairs = s->nclass * (s->nclass - 1) / 2;
    if (ncoef == 0) return kern_fail(err, errlen, "SVMClassifier: coefficients is required");
    if (nrho == 0) return kern_fail(err, errlen, "SVMClassifier: rho is required");
    if (npa != npb)
        return kern_fail(err, errlen, "SVMClassifier: prob_a has %lld values, prob_b %lld",
                         (long long)npa, (long long)npb);
    for (int64_t i = 0; i < nvpc; i++) {
        if (s->per_class[i] < 0)
            return kern_fail(err, errlen, "SVMClassifier: vectors_per_class[%lld] is negative",
                             (long long)i);
        s->nsv += s->per_class[i];
    }
    s->all_positive = true;
    for (int64_t i = 0; i < ncoef; i++)
        if (s->coef[i] < 0) s->all_positive = false;
    if (s->nsv == 0) {
        /* liblinear form: one coefficient row per class, rho[0] added to each score. */
        s->svc = false;
        s->kernel = K_LINEAR;
        if (ncoef % s->nclass)
            return kern_fail(err, errlen,
                             "SVMClassifier: coefficients has %lld values, not a multiple of the "
                             "%lld classes",
                             (long long)ncoef, (long long)s->nclass);
        s->nfeat = ncoef / s->nclass;
        n->state = s;
        return 0;
    }
    s->svc = true;
    if (s->nclass < 2)
        return kern_fail(err, errlen, "SVMClassifier: support vectors need at least 2 classes");
    if (nvpc != s->nclass)
        return kern_fail(err, errlen,
                         "SVMClassifier: vectors_per_class has %lld entries for %lld "
                         "classes",
                         (long long)nvpc, (long long)s->nclass);
    if (nsvf % s->nsv)
        return kern_fail(err, errlen,
                         "SVMClassifier: support_vectors has %lld values, not a multiple of the "
                         "%lld vectors",
                         (long long)nsvf, (long long)s->nsv);
    s->nfeat = nsvf / s->nsv;
    if (ncoef != (s->nclass - 1) * s->nsv)
        return kern_fail(
            err, errlen,
            "SVMClassifier: coefficients has %lld values, want (classes-1) x vectors = "
            "%lld",
            (long long)ncoef, (long long)((s->nclass - 1) * s->nsv));
    if (nrho != s->npairs)
        return kern_fail(err, errlen, "SVMClassifier: rho has %lld values for %lld classifiers",
                         (long long)nrho, (long long)s->npairs);
    if (npa != 0 && npa != s->npairs)
        return kern_fail(err, errlen, "SVMClassifier: prob_a has %lld values for %lld classifiers",
                         (long long)npa, (long long)s->npairs);
    if (npa == 0) s->prob_a = s->prob_b = NULL;
    s->first = arena_alloc(&g->arena, (size_t)s->nclass * sizeof(int64_t));
    if (!s->first) return kern_fail(err, errlen, "SVMClassifier: out of memory");
    for (int64_t c = 1; c < s->nclass; c++) s->first[c] = s->first[c - 1] + s->per_class[c - 1];
    n->state = s;
    return 0;
}

/* Columns of Z, as ORT lays them out: class probabilities with prob_a/prob_b, otherwise the
 * one-vs-one decision values (two columns for a binary model). */
static int64_t sc_width(const svm_t *s)
{
    if (!s->svc || s->prob_a) return s->nclass;
    return s->nclass > 2 ? s->npairs : 2;
}

static int sc_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                    size_t errlen)
{
    const svm_t *s = n->state;
    int64_t nrows;
    if (check_x(s, n, in[0], &nrows, err, errlen)) return -1;
    out[0].dtype = ml_label_dtype(&s->labels);
    out[0].rank = 1;
    out[0].dims[0] = nrows;
    out[0].map_keys = NULL;
    if (n->nout > 1) ml_shape2(&out[1], DT_FLOAT, nrows, sc_width(s));
    return 0;
}

/* Pairwise coupling of one-vs-one probabilities r (k x k, r[i][j] = P(i | i or j)) into class
 * probabilities p: the iterative method of Wu, Lin and Weng (2004) as in libsvm, in float like
 * ORT. Q is k*k and Qp k floats of scratch. */
static void couple(int64_t k, const float *r, float *p, float *Q, float *Qp)
{
    float eps = 0.005f / (float)k;
    memset(Q, 0, (size_t)(k * k) * sizeof(float));
    for (int64_t i = 0; i < k; i++) {
        p[i] = 1.0f / (float)k;
        for (int64_t j = 0; j < i; j++) {
            Q[i * k + i] += r[j * k + i] * r[j * k + i];
            Q[i * k + j] = Q[j * k + i];
        }
        for (int64_t j = i + 1; j < k; j++) {
            Q[i * k + i] += r[j * k + i] * r[j * k + i];
            Q[i * k + j] = -r[j * k + i] * r[i * k + j];
        }
    }
    for (int iter = 0; iter < 100; iter++) {
        float pQp = 0, max_err = 0;
        for (int64_t i = 0; i < k; i++) {
            Qp[i] = 0;
            for (int64_t j = 0; j < k; j++) Qp[i] += Q[i * k + j] * p[j];
            pQp += p[i] * Qp[i];
        }
        for (int64_t i = 0; i < k; i++) {
            float e = fabsf(Qp[i] - pQp);
            if (e > max_err) max_err = e;
        }
        if (max_err < eps) break;
        for (int64_t i = 0; i < k; i++) {
            float diff = (-Qp[i] + pQp) / Q[i * k + i];
            p[i] += diff;
            pQp = (pQp + diff * (diff * Q[i * k + i] + 2 * Qp[i])) / (1 + diff) / (1 + diff);
            for (int64_t j = 0; j < k; j++) {
                Qp[j] = (Qp[j] + diff * Q[i * k + j]) / (1 + diff);
                p[j] /= (1 + diff);
            }
        }
    }
}

static int sc_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const svm_t *s = n->state;
    const tensor_t *X = in[0];
    int64_t nrows = X->rank == 1 ? 1 : X->dims[0], C = s->nclass, width = sc_width(s);
    float *z = n->nout > 1 && n->out[1] >= 0 ? out[1].data : NULL;
    /* scratch: row, kernels, scores (pairs or classes), votes, pairwise r, Q, Qp */
    size_t nf = (size_t)(s->nfeat + s->nsv + s->npairs + C + C * C + C * C + C + width);
    int64_t *votes = exec_scratch(x, (size_t)C * sizeof(int64_t) + nf * sizeof(float));
    if (!votes) return exec_fail(x, "SVMClassifier: out of memory");
    float *row = (float *)(votes + C), *kv = row + s->nfeat, *pair = kv + s->nsv;
    float *cls = pair + s->npairs, *r = cls + C, *Q = r + C * C, *Qp = Q + C * C;
    float *zrow = Qp + C;

    for (int64_t rr = 0; rr < nrows; rr++) {
        ml_to_f32(X, rr * s->nfeat, s->nfeat, row);
        int64_t best;
        if (!s->svc) {
            for (int64_t c = 0; c < C; c++)
                cls[c] = kernel(s, row, row_of(s->coef, c, s->nfeat), nrows == 1, c, C) + s->rho[0];
            best = 0;
            for (int64_t c = 1; c < C; c++)
                if (cls[c] > cls[best]) best = c;
            float w = cls[best];
            /* ORT's binary rule without probabilities: the second label wins on a maximum score
             * >= 0.5 when no coefficient is negative, or on any positive maximum otherwise. */
            if (C == 2 && !s->prob_a) {
                if ((s->all_positive && w >= 0.5f) || (!s->all_positive && w > 0)) best = 1;
            }
            ml_put_label(&s->labels, &out[0], rr, best);
            if (!z) continue;
            memcpy(zrow, cls, (size_t)C * sizeof(float));
            if (C > 1)
                ml_post_rows(s->post, zrow, C);
            else if (s->post == ML_POST_PROBIT)
                zrow[0] = ml_probit(zrow[0]);
            memcpy(z + rr * width, zrow, (size_t)width * sizeof(float));
            continue;
        }
        for (int64_t v = 0; v < s->nsv; v++)
            kv[v] = kernel(s, row, row_of(s->sv, v, s->nfeat), nrows == 1, v, s->nsv);
        memset(votes, 0, (size_t)C * sizeof(int64_t));
        int64_t k = 0;
        for (int64_t i = 0; i < C - 1; i++) {
            for (int64_t j = i + 1; j < C; j++, k++) {
                /* Decision value of i vs j: class i's vectors weighted by coefficient row j-1,
                 * class j's by row i (libsvm's layout), summed in double as ORT. */
                const float *ci = row_of(s->coef, j - 1, s->nsv), *cj = row_of(s->coef, i, s->nsv);
                double sum = 0;
                for (int64_t m = s->first[i]; m < s->first[i] + s->per_class[i]; m++)
                    sum += ci[m] * kv[m];
                for (int64_t m = s->first[j]; m < s->first[j] + s->per_class[j]; m++)
                    sum += cj[m] * kv[m];
                sum += s->rho[k];
                pair[k] = (float)sum;
                votes[sum > 0 ? i : j]++;
            }
        }
        best = 0; /* the first class with the most votes, as std::max_element */
        for (int64_t c = 1; c < C; c++)
            if (votes[c] > votes[best]) best = c;
        ml_put_label(&s->labels, &out[0], rr, best);
        if (!z) continue;
        if (s->prob_a) {
            memset(r, 0, (size_t)(C * C) * sizeof(float));
            k = 0;
            for (int64_t i = 0; i < C - 1; i++) {
                for (int64_t j = i + 1; j < C; j++, k++) {
                    /* Platt: P(i | i or j) = 1 - logistic(A f + B), kept inside (1e-7, 1-1e-7) */
                    float p = 1 - ml_logistic(pair[k] * s->prob_a[k] + s->prob_b[k]);
                    p = p < 1.0e-7f ? 1.0e-7f : p;
                    p = p > 1 - 1.0e-7f ? 1 - 1.0e-7f : p;
                    r[i * C + j] = p;
                    r[j * C + i] = 1 - p;
                }
            }
            couple(C, r, zrow, Q, Qp);
            ml_post_rows(s->post, zrow, C);
        } else if (C > 2) {
            memcpy(zrow, pair, (size_t)s->npairs * sizeof(float));
            ml_post_rows(s->post, zrow, s->npairs);
        } else if (s->post == ML_POST_PROBIT) {
            zrow[0] = ml_probit(pair[0]);
            zrow[1] = 0; /* ORT leaves the second column unwritten */
        } else {
            /* ORT spreads the one decision value to two columns: [-f, f] under NONE, else
             * [1-f, f] (logistic applied under LOGISTIC only). */
            ml_binary_pair(s->post, s->post == ML_POST_NONE, pair[0], zrow);
        }
        memcpy(z + rr * width, zrow, (size_t)width * sizeof(float));
    }
    return 0;
}

const op_def_t ml_op_svm_classifier = {
    .domain = ML_DOMAIN,
    .name = "SVMClassifier",
    .since = 1,
    .until = 5,
    .prepare = sc_prepare,
    .infer = sc_infer,
    .run = sc_run,
};

/* ============================== SVMRegressor ============================== */

static int sr_prepare(graph_t *g, node_t *n, char *err, size_t errlen)
{
    svm_t *s = arena_alloc(&g->arena, sizeof *s);
    int64_t nsvf, ncoef, nrho;
    if (!s) return kern_fail(err, errlen, "SVMRegressor: out of memory");
    if (read_kernel(n, s, err, errlen)) return -1;
    s->nsv = node_attr_int(n, "n_supports", 0);
    s->sv = node_attr_floats(n, "support_vectors", &nsvf);
    s->coef = node_attr_floats(n, "coefficients", &ncoef);
    s->rho = node_attr_floats(n, "rho", &nrho);
    s->one_class = node_attr_int(n, "one_class", 0) != 0;
    /* post_transform is accepted but, as in ORT, not applied to the regression value. */
    if (ml_parse_post(n, &s->post, err, errlen)) return -1;
    if (ncoef == 0) return kern_fail(err, errlen, "SVMRegressor: coefficients is required");
    if (nrho == 0) return kern_fail(err, errlen, "SVMRegressor: rho is required");
    if (s->nsv < 0)
        return kern_fail(err, errlen, "SVMRegressor: n_supports is negative (%lld)",
                         (long long)s->nsv);
    if (s->nsv == 0) {
        s->svc = false;
        s->kernel = K_LINEAR;
        s->nfeat = ncoef;
    } else {
        s->svc = true;
        if (nsvf == 0 || nsvf % s->nsv)
            return kern_fail(
                err, errlen,
                "SVMRegressor: support_vectors has %lld values, not a positive multiple "
                "of n_supports (%lld)",
                (long long)nsvf, (long long)s->nsv);
        if (ncoef != s->nsv)
            return kern_fail(err, errlen,
                             "SVMRegressor: coefficients has %lld values for %lld support vectors",
                             (long long)ncoef, (long long)s->nsv);
        s->nfeat = nsvf / s->nsv;
    }
    n->state = s;
    return 0;
}

static int sr_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                    size_t errlen)
{
    const svm_t *s = n->state;
    int64_t nrows;
    if (check_x(s, n, in[0], &nrows, err, errlen)) return -1;
    ml_shape2(&out[0], DT_FLOAT, nrows, 1);
    return 0;
}

static int sr_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const svm_t *s = n->state;
    const tensor_t *X = in[0];
    int64_t nrows = X->rank == 1 ? 1 : X->dims[0];
    float *row = exec_scratch(x, (size_t)(s->nfeat + s->nsv) * sizeof(float));
    if (!row) return exec_fail(x, "SVMRegressor: out of memory");
    float *kv = row + s->nfeat;
    float *y = out[0].data;
    for (int64_t r = 0; r < nrows; r++) {
        ml_to_f32(X, r * s->nfeat, s->nfeat, row);
        float v;
        if (s->svc) {
            /* kernel values, then a GEMM against the coefficients plus rho[0] */
            for (int64_t i = 0; i < s->nsv; i++)
                kv[i] = kernel(s, row, row_of(s->sv, i, s->nfeat), nrows == 1, i, s->nsv);
            v = (nrows == 1 ? ml_dot_m1(kv, s->coef, s->nsv, 0, 1) : ml_dot(kv, s->coef, s->nsv)) +
                s->rho[0];
        } else {
            v = kernel(s, row, s->coef, nrows == 1, 0, 1) + s->rho[0];
        }
        y[r] = s->one_class ? (v > 0 ? 1.f : -1.f) : v;
    }
    return 0;
}

const op_def_t ml_op_svm_regressor = {
    .domain = ML_DOMAIN,
    .name = "SVMRegressor",
    .since = 1,
    .until = 5,
    .prepare = sr_prepare,
    .infer = sr_infer,
    .run = sr_run,
};
