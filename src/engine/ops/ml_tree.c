/* ai.onnx.ml TreeEnsembleRegressor and TreeEnsembleClassifier. prepare validates the node tuples
 * and lays every tree out as a compact node array in preorder (false child next); run walks blocks
 * of rows tree by tree, eight rows at a time, and aggregates as ONNX Runtime 1.30 does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops/ml_common.h"

enum { TN_LEQ, TN_LT, TN_GTE, TN_GT, TN_EQ, TN_NEQ, TN_LEAF };
static const char *const mode_names[] = {"BRANCH_LEQ", "BRANCH_LT",  "BRANCH_GTE", "BRANCH_GT",
                                         "BRANCH_EQ",  "BRANCH_NEQ", "LEAF"};

typedef enum { AGG_SUM, AGG_AVERAGE, AGG_MIN, AGG_MAX } agg_t;

typedef struct tnode {
    float thr;       /* branch: threshold; leaf in single-value mode: the leaf's value */
    int32_t feat;    /* branch: feature index; leaf: 0 */
    int32_t kid[2];  /* branch: next node when the comparison fails [0] or holds [1]; a leaf points
                      * to itself, so stepping past it is harmless (see eval's row groups) */
    uint8_t mode;    /* TN_* */
    uint8_t nan_yes; /* a NaN feature takes kid[1] (nodes_missing_value_tracks_true) */
} tnode_t;

typedef struct tweight {
    int32_t target; /* target or class index */
    float w;
} tweight_t;

typedef struct trees {
    bool classifier;
    bool single;  /* one target: each leaf holds one value (node thr/thr64), as ORT's fast path */
    bool all_leq; /* every branch is BRANCH_LEQ without NaN tracking: the fast walk */
    bool f64;     /* some *_as_tensor attribute is DOUBLE: evaluate in double */
    agg_t agg;
    ml_post_t post;
    int64_t nout; /* targets or classes */
    int32_t ntrees, nnodes, nweights;
    int64_t max_feat; /* largest feature index used, -1 if none */
    int32_t *roots;
    tnode_t *nodes;
    int32_t *wfirst, *wcount; /* per node: a leaf's weights w[wfirst .. wfirst + wcount) */
    double *thr64;            /* per node, thr in double (the double-input path) */
    tweight_t *w;
    double *w64;
    double *base;
    int64_t nbase;
    /* Classifier. */
    ml_labels_t labels;
    bool binary_case;  /* two labels but only one class id used by the weights */
    bool all_positive; /* no class weight is negative */
} trees_t;

/* Rows per block: within a block the trees are the outer loop and the rows the inner one (ORT does
 * the same with 128); 1 gives trees-inside-rows. Tunable for the benchmark in test_ops_ml.c. */
int ml_tree_block = 128;

/* ============================== evaluation ============================== */

/* Walks one tree from node i to its leaf. T is float (FLOAT and integer inputs, compared with the
 * float thresholds as ORT does) or double (DOUBLE input, or DOUBLE *_as_tensor thresholds). The
 * child is picked by indexing kid[] with the comparison, which compiles without a branch. */
#define DEFINE_WALK(NAME, T, THR)                                                                  \
    static inline int32_t NAME(const trees_t *t, int32_t i, const T *x)                            \
    {                                                                                              \
        const tnode_t *nd = t->nodes;                                                              \
        if (t->all_leq) {                                                                          \
            while (nd[i].mode != TN_LEAF) i = nd[i].kid[x[nd[i].feat] <= THR(i)];                  \
            return i;                                                                              \
        }                                                                                          \
        while (nd[i].mode != TN_LEAF) {                                                            \
            T v = x[nd[i].feat], th = THR(i);                                                      \
            int c;                                                                                 \
            switch (nd[i].mode) {                                                                  \
            case TN_LEQ: c = v <= th; break;                                                       \
            case TN_LT: c = v < th; break;                                                         \
            case TN_GTE: c = v >= th; break;                                                       \
            case TN_GT: c = v > th; break;                                                         \
            case TN_EQ: c = v == th; break;                                                        \
            default: c = v != th; break;                                                           \
            }                                                                                      \
            if (!c && nd[i].nan_yes && isnan(v)) c = 1;                                            \
            i = nd[i].kid[c];                                                                      \
        }                                                                                          \
        return i;                                                                                  \
    }

#define THR32(i) nd[i].thr
#define THR64(i) t->thr64[i]
DEFINE_WALK(walk32, float, THR32)
DEFINE_WALK(walk64, double, THR64)

/* Adds one leaf's votes to a row's accumulators a[nout] and vote flags h[nout]. */
#define DEFINE_ADD(NAME, T, LEAFV, WV)                                                             \
    static inline void NAME(const trees_t *t, int32_t leaf, T *a, uint8_t *h)                      \
    {                                                                                              \
        if (t->single) {                                                                           \
            T v = LEAFV(leaf);                                                                     \
            if (t->agg <= AGG_AVERAGE)                                                             \
                *a += v;                                                                           \
            else if (!*h || (t->agg == AGG_MIN ? v < *a : v > *a))                                 \
                *a = v;                                                                            \
            *h = 1;                                                                                \
            return;                                                                                \
        }                                                                                          \
        for (int32_t j = t->wfirst[leaf]; j < t->wfirst[leaf] + t->wcount[leaf]; j++) {            \
            int32_t c = t->w[j].target;                                                            \
            T v = WV(j);                                                                           \
            if (t->agg <= AGG_AVERAGE)                                                             \
                a[c] += v;                                                                         \
            else if (!h[c] || (t->agg == AGG_MIN ? v < a[c] : v > a[c]))                           \
                a[c] = v;                                                                          \
            h[c] = 1;                                                                              \
        }                                                                                          \
    }

/* Aggregates every tree over nb rows (stride nfeat) into acc[nb, nout] (in T, as ORT accumulates
 * in its threshold type) and has[] (which targets some leaf voted for). With BRANCH_LEQ-only
 * trees, eight rows descend a tree together: their loads and compares are independent, so they
 * overlap instead of waiting on one another; a row already at its leaf just stays there. Each
 * row still adds its trees in tree order, so the float sums are ORT's. */
#define DEFINE_EVAL(NAME, T, WALK, ADD, THR)                                                       \
    static void NAME(const trees_t *t, const T *xb, int64_t nb, int64_t nfeat, T *acc,             \
                     uint8_t *has)                                                                 \
    {                                                                                              \
        const tnode_t *nd = t->nodes;                                                              \
        int64_t no = t->nout;                                                                      \
        memset(acc, 0, (size_t)(nb * no) * sizeof(T));                                             \
        memset(has, 0, (size_t)(nb * no));                                                         \
        for (int32_t k = 0; k < t->ntrees; k++) {                                                  \
            int32_t root = t->roots[k];                                                            \
            int64_t r = 0;                                                                         \
            if (t->all_leq)                                                                        \
                for (; r + 8 <= nb; r += 8) {                                                      \
                    int32_t i[8];                                                                  \
                    for (int g = 0; g < 8; g++) i[g] = root;                                       \
                    for (;;) {                                                                     \
                        int all = 1;                                                               \
                        for (int g = 0; g < 8; g++) all &= nd[i[g]].mode == TN_LEAF;               \
                        if (all) break;                                                            \
                        for (int g = 0; g < 8; g++)                                                \
                            i[g] = nd[i[g]].kid[xb[(r + g) * nfeat + nd[i[g]].feat] <= THR(i[g])]; \
                    }                                                                              \
                    for (int g = 0; g < 8; g++)                                                    \
                        ADD(t, i[g], acc + (r + g) * no, has + (r + g) * no);                      \
                }                                                                                  \
            for (; r < nb; r++) ADD(t, WALK(t, root, xb + r * nfeat), acc + r * no, has + r * no); \
        }                                                                                          \
    }

#define LEAF32(i) t->nodes[i].thr
#define LEAF64(i) t->thr64[i]
#define W32(j)    t->w[j].w
#define W64(j)    t->w64[j]
DEFINE_ADD(add32, float, LEAF32, W32)
DEFINE_ADD(add64, double, LEAF64, W64)
DEFINE_EVAL(eval32, float, walk32, add32, THR32)
DEFINE_EVAL(eval64, double, walk64, add64, THR64)

/* Rounds to float when evaluating in float, so the finishing arithmetic below (done in double)
 * lands on the values ORT's float arithmetic gives. */
static inline double rnd(bool f32, double v)
{
    return f32 ? (double)(float)v : v;
}

/* One regressor row: ORT's FinalizeScores1 (one target) or FinalizeScores (several). */
static void finish_regression(const trees_t *t, bool f32, const double *s, const uint8_t *has,
                              float *y)
{
    if (t->nout == 1) {
        double origin = t->nbase ? t->base[0] : 0, v;
        if (t->agg == AGG_SUM)
            v = rnd(f32, s[0] + origin);
        else if (t->agg == AGG_AVERAGE)
            v = rnd(f32, rnd(f32, s[0] / t->ntrees) + origin);
        else
            v = has[0] ? rnd(f32, s[0] + origin) : origin;
        /* Only PROBIT applies to a single target in ORT; the other transforms are skipped. */
        y[0] = t->post == ML_POST_PROBIT ? ml_probit((float)v) : (float)v;
        return;
    }
    for (int64_t j = 0; j < t->nout; j++) {
        double b = t->nbase ? t->base[j] : 0, v = s[j];
        if (t->agg == AGG_AVERAGE) v = rnd(f32, v / t->ntrees);
        v = rnd(f32, v + b);
        /* A target no leaf voted for reads as 0 even with a base value (ORT's ScoreValue). */
        y[j] = has[j] ? (float)v : 0.f;
    }
    ml_post_vector(t->post, y, t->nout);
}

/* Writes the literal label ORT returns for a two-class model that is not its "binary case": the
 * ints 1 / 0 (not classlabels entries), or classlabels_strings[1] / [0]. */
static void put_posneg(const trees_t *t, tensor_t *yl, int64_t row, bool pos)
{
    if (t->labels.strs)
        ((const char **)yl->data)[row] = t->labels.strs[pos ? 1 : 0];
    else
        ((int64_t *)yl->data)[row] = pos ? 1 : 0;
}

/* One classifier row, following ORT's TreeAggregatorClassifier::FinalizeScores including its
 * two-class special cases (every combination is pinned by bin_table in test_ops_ml.c). With more
 * than two classes and no vote and no base value at all ORT fails at run time; this picks label 0.
 */
static void finish_class(const trees_t *t, bool f32, double *s, uint8_t *has, tensor_t *yl,
                         int64_t row, float *z)
{
    int64_t n = t->nout;
    if (n > 2) {
        for (int64_t k = 0; k < t->nbase; k++) {
            s[k] = has[k] ? rnd(f32, s[k] + t->base[k]) : t->base[k];
            has[k] = 1;
        }
        int64_t best = -1;
        for (int64_t k = 0; k < n; k++)
            if (has[k] && (best < 0 || s[k] > s[best])) best = k;
        ml_put_label(&t->labels, yl, row, best < 0 ? 0 : best);
        if (!z) return;
        for (int64_t k = 0; k < n; k++) z[k] = has[k] ? (float)s[k] : 0.f;
        ml_post_vector(t->post, z, n);
        return;
    }
    int wa = -1; /* ORT's write_additional_scores: how one score becomes two columns */
    int size = 2;
    if (t->nbase == 2) {
        if (has[1]) {
            /* ORT drops class 1's own sum here: score1 = base[1] + score0, score0 = -score1. */
            s[1] = rnd(f32, t->base[1] + s[0]);
            s[0] = -s[1];
            has[1] = 1;
        } else {
            s[1] = rnd(f32, s[1] + t->base[1]);
            s[0] = rnd(f32, s[0] + t->base[0]);
        }
    } else if (t->nbase == 1) {
        s[0] = rnd(f32, s[0] + t->base[0]);
        if (!has[1]) size = 1;
    } else {
        wa = 3;
        if (!has[1]) size = 1;
    }
    double pos = size == 2 && has[1] ? s[1] : (has[0] ? s[0] : 0);
    if (t->binary_case) {
        bool win;
        if (t->all_positive) {
            win = pos > 0.5;
            wa = win ? 0 : 1;
        } else {
            win = pos > 0;
            wa = win ? 2 : 3;
        }
        ml_put_label(&t->labels, yl, row, win ? 1 : 0);
    } else {
        put_posneg(t, yl, row, pos > 0);
    }
    if (!z) return;
    if (size == 2) {
        z[0] = has[0] ? (float)s[0] : 0.f;
        z[1] = has[1] ? (float)s[1] : 0.f;
        ml_post_vector(t->post, z, 2);
        return;
    }
    float v = has[0] ? (float)s[0] : 0.f;
    if (t->post == ML_POST_PROBIT) {
        z[0] = ml_probit(v);
        z[1] = 0.f; /* ORT writes one column only */
    } else if (wa >= 0) {
        ml_binary_pair(t->post, wa >= 2, v, z);
    } else {
        z[0] = v;
        z[1] = 0.f;
    }
}

static int check_x(const trees_t *t, const node_t *n, const tensor_t *x, int64_t *nrows,
                   int64_t *nfeat, char *err, size_t errlen)
{
    if (!ml_numeric(x->dtype))
        return kern_fail(err, errlen, "%s: X must be FLOAT, DOUBLE, INT64 or INT32, not %s",
                         n->op_type, dtype_name(x->dtype));
    if (ml_rows(x, n->op_type, nrows, nfeat, err, errlen)) return -1;
    if (*nfeat >= 0 && t->max_feat >= *nfeat)
        return kern_fail(err, errlen, "%s: the trees use feature %lld but X has %lld features",
                         n->op_type, (long long)t->max_feat, (long long)*nfeat);
    return 0;
}

static int trees_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                       size_t errlen)
{
    const trees_t *t = n->state;
    int64_t nrows, nfeat;
    if (check_x(t, n, in[0], &nrows, &nfeat, err, errlen)) return -1;
    if (!t->classifier) {
        ml_shape2(&out[0], DT_FLOAT, nrows, t->nout);
        return 0;
    }
    out[0].dtype = ml_label_dtype(&t->labels);
    out[0].rank = 1;
    out[0].dims[0] = nrows;
    out[0].map_keys = NULL;
    if (n->nout > 1) ml_shape2(&out[1], DT_FLOAT, nrows, t->nout);
    return 0;
}

/* One worker's share of a trees_run: rows [r0, r1) with its own scratch. */
typedef struct trees_job {
    const node_t *n;
    const trees_t *t;
    const tensor_t *X;
    tensor_t *out;
    int64_t nfeat, no, B, rows_per;
    bool f64;
    size_t xbytes, abytes, hbytes, per; /* scratch layout, per worker */
    char *mem;
} trees_job_t;

static int trees_rows(void *arg, int w)
{
    const trees_job_t *j = arg;
    const trees_t *t = j->t;
    const tensor_t *X = j->X;
    int64_t nrows = X->rank == 1 ? 1 : X->dims[0], nfeat = j->nfeat, no = j->no, B = j->B;
    int64_t r0 = (int64_t)w * j->rows_per, r1 = r0 + j->rows_per < nrows ? r0 + j->rows_per : nrows;
    char *mem = j->mem + (size_t)w * j->per;
    void *xbuf = mem, *acc = mem + j->xbytes;
    uint8_t *has = (uint8_t *)(mem + j->xbytes + j->abytes);
    double *srow = (double *)(mem + j->xbytes + j->abytes + j->hbytes);
    bool f64 = j->f64;
    tensor_t *out = j->out;
    float *y = t->classifier ? NULL : out[0].data;
    float *z = t->classifier && j->n->nout > 1 && j->n->out[1] >= 0 ? out[1].data : NULL;

    for (int64_t b = r0; b < r1; b += B) {
        int64_t nb = r1 - b < B ? r1 - b : B;
        if (f64) {
            double *xb = xbuf;
            if (X->dtype == DT_DOUBLE) {
                xb = (double *)X->data + b * nfeat;
            } else {
                /* ORT compares integer inputs with float thresholds, i.e. as floats. */
                for (int64_t i = 0; i < nb * nfeat; i++) xb[i] = ml_get_f32(X, b * nfeat + i);
            }
            eval64(t, xb, nb, nfeat, acc, has);
        } else {
            float *xb = xbuf;
            if (X->dtype == DT_FLOAT)
                xb = (float *)X->data + b * nfeat;
            else
                ml_to_f32(X, b * nfeat, nb * nfeat, xb);
            eval32(t, xb, nb, nfeat, acc, has);
        }
        for (int64_t r = 0; r < nb; r++) {
            for (int64_t k = 0; k < no; k++)
                srow[k] = f64 ? ((double *)acc)[r * no + k] : ((float *)acc)[r * no + k];
            if (t->classifier)
                finish_class(t, !f64, srow, has + r * no, &out[0], b + r,
                             z ? z + (b + r) * no : NULL);
            else
                finish_regression(t, !f64, srow, has + r * no, y + (b + r) * no);
        }
    }
    return 0;
}

static int trees_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const trees_t *t = n->state;
    const tensor_t *X = in[0];
    int64_t nrows = X->rank == 1 ? 1 : X->dims[0];
    trees_job_t j = {.n = n, .t = t, .X = X, .out = out};
    j.nfeat = X->rank == 1 ? X->dims[0] : X->dims[1];
    j.no = t->nout;
    j.B = ml_tree_block < 1 ? 1 : ml_tree_block;
    j.f64 = t->f64 || X->dtype == DT_DOUBLE;
    size_t esz = j.f64 ? sizeof(double) : sizeof(float);
    if (t->max_feat >= j.nfeat)
        return exec_fail(x, "%s: the trees use feature %lld but X has %lld features", n->op_type,
                         (long long)t->max_feat, (long long)j.nfeat);
    /* Per worker scratch: a converted block of X, the accumulators, the vote flags, one row in
     * double; each part rounded to 64 bytes so the doubles stay aligned. */
    j.xbytes = ((size_t)(j.B * j.nfeat) * esz + 63) & ~(size_t)63;
    j.abytes = ((size_t)(j.B * j.no) * esz + 63) & ~(size_t)63;
    j.hbytes = ((size_t)(j.B * j.no) + 63) & ~(size_t)63;
    j.per = (j.xbytes + j.abytes + j.hbytes + (size_t)j.no * sizeof(double) + 63) & ~(size_t)63;
    /* A pool region costs a wake-up and a join: split only work of about a millisecond per
     * worker (node visits ~ rows x nodes / trees x depth; nnodes is a cheap proxy). */
    int workers = x->nthreads < 1 ? 1 : x->nthreads;
    int64_t max_workers = (int64_t)((double)nrows * (double)t->nnodes / 3e5);
    if (max_workers > nrows / (2 * j.B)) max_workers = nrows / (2 * j.B);
    if (workers > max_workers) workers = (int)(max_workers > 0 ? max_workers : 1);
    j.rows_per = (nrows + workers - 1) / workers;
    j.rows_per = (j.rows_per + j.B - 1) / j.B * j.B;
    j.mem = exec_scratch(x, j.per * (size_t)workers);
    if (!j.mem) return exec_fail(x, "%s: out of memory", n->op_type);
    return exec_parallel(x, workers, trees_rows, &j);
}

/* ============================== prepare ============================== */

typedef struct nkey {
    int64_t tree, node;
    int32_t idx;
} nkey_t;

static int nkey_cmp(const void *a, const void *b)
{
    const nkey_t *x = a, *y = b;
    if (x->tree != y->tree) return x->tree < y->tree ? -1 : 1;
    if (x->node != y->node) return x->node < y->node ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Index (in attribute order) of node `node` of tree `tree`, or -1. */
static int32_t find_node(const nkey_t *keys, int32_t n, int64_t tree, int64_t node)
{
    int32_t lo = 0, hi = n;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (keys[mid].tree < tree || (keys[mid].tree == tree && keys[mid].node < node))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && keys[lo].tree == tree && keys[lo].node == node ? keys[lo].idx : -1;
}

/* The attributes that differ between the two ops. */
typedef struct tattrs {
    const char *op, *w_tree, *w_node, *w_id, *w_weight;
} tattrs_t;

/* Temporaries of trees_prepare, freed together. */
typedef struct tmp {
    nkey_t *keys;
    int32_t *stack, *newidx, *cnt;
    uint8_t *color, *mode;
    int32_t *yes, *no;
} tmp_t;

static void tmp_free(tmp_t *m)
{
    free(m->keys), free(m->stack), free(m->newidx), free(m->cnt);
    free(m->color), free(m->mode), free(m->yes), free(m->no);
}

#define LEN_CHECK(name, cnt, want)                                                                 \
    do {                                                                                           \
        if ((cnt) != (want)) {                                                                     \
            rc = kern_fail(err, errlen, "%s: %s has %lld entries, nodes_nodeids %lld", a->op,      \
                           name, (long long)(cnt), (long long)(want));                             \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

static int trees_prepare(graph_t *g, node_t *n, trees_t *t, const tattrs_t *a, char *err,
                         size_t errlen)
{
    int rc = 0;
    tmp_t m = {0};
    int64_t nn, c_tree, c_feat, c_mode, c_yes, c_no, c_miss, c_val;
    const int64_t *nodeids = node_attr_ints(n, "nodes_nodeids", &nn);
    const int64_t *treeids = node_attr_ints(n, "nodes_treeids", &c_tree);
    const int64_t *featids = node_attr_ints(n, "nodes_featureids", &c_feat);
    const char **modes = node_attr_strings(n, "nodes_modes", &c_mode);
    const int64_t *yesids = node_attr_ints(n, "nodes_truenodeids", &c_yes);
    const int64_t *noids = node_attr_ints(n, "nodes_falsenodeids", &c_no);
    const int64_t *miss = node_attr_ints(n, "nodes_missing_value_tracks_true", &c_miss);
    double *vals, *wts, *base;
    int64_t c_w, c_base, c_wt, c_wn, c_wi;
    bool dbl;

    if (nn == 0) return kern_fail(err, errlen, "%s: nodes_nodeids is empty", a->op);
    if (nn > INT32_MAX / 2) return kern_fail(err, errlen, "%s: too many nodes", a->op);
    LEN_CHECK("nodes_treeids", c_tree, nn);
    LEN_CHECK("nodes_featureids", c_feat, nn);
    LEN_CHECK("nodes_modes", c_mode, nn);
    LEN_CHECK("nodes_truenodeids", c_yes, nn);
    LEN_CHECK("nodes_falsenodeids", c_no, nn);
    if (c_miss != 0) LEN_CHECK("nodes_missing_value_tracks_true", c_miss, nn);
    if (ml_attr_reals(g, n, "nodes_values", "nodes_values_as_tensor", &vals, &c_val, &dbl, err,
                      errlen))
        return -1;
    t->f64 |= dbl;
    LEN_CHECK(c_val && node_attr(n, "nodes_values_as_tensor") ? "nodes_values_as_tensor"
                                                              : "nodes_values",
              c_val, nn);
    if (ml_attr_reals(g, n, a->w_weight, "target_weights_as_tensor", &wts, &c_w, &dbl, err, errlen))
        return -1;
    t->f64 |= dbl;
    if (ml_attr_reals(g, n, "base_values", "base_values_as_tensor", &base, &c_base, &dbl, err,
                      errlen))
        return -1;
    t->f64 |= dbl;
    t->base = base;
    t->nbase = c_base;

    int32_t N = (int32_t)nn;
    m.keys = malloc((size_t)N * sizeof *m.keys);
    m.stack = malloc((size_t)N * 2 * sizeof(int32_t));
    m.newidx = malloc((size_t)N * sizeof(int32_t));
    m.cnt = calloc((size_t)N + 1, sizeof(int32_t));
    m.color = calloc((size_t)N, 1);
    m.mode = malloc((size_t)N);
    m.yes = malloc((size_t)N * sizeof(int32_t));
    m.no = malloc((size_t)N * sizeof(int32_t));
    if (!m.keys || !m.stack || !m.newidx || !m.cnt || !m.color || !m.mode || !m.yes || !m.no) {
        rc = kern_fail(err, errlen, "%s: out of memory", a->op);
        goto out;
    }
    for (int32_t i = 0; i < N; i++) m.keys[i] = (nkey_t){treeids[i], nodeids[i], i};
    qsort(m.keys, (size_t)N, sizeof *m.keys, nkey_cmp);
    for (int32_t k = 1; k < N; k++)
        if (m.keys[k].tree == m.keys[k - 1].tree && m.keys[k].node == m.keys[k - 1].node) {
            rc = kern_fail(err, errlen, "%s: nodes_nodeids: node %lld appears twice in tree %lld",
                           a->op, (long long)m.keys[k].node, (long long)m.keys[k].tree);
            goto out;
        }

    /* Modes, children and features of every node. */
    t->max_feat = -1;
    t->all_leq = true;
    for (int32_t i = 0; i < N; i++) {
        int md = -1;
        for (int k = 0; k <= TN_LEAF; k++)
            if (strcmp(modes[i], mode_names[k]) == 0) md = k;
        if (md < 0) {
            rc = kern_fail(err, errlen, "%s: nodes_modes[%d] '%s' is not a known mode", a->op, i,
                           modes[i]);
            goto out;
        }
        m.mode[i] = (uint8_t)md;
        m.yes[i] = m.no[i] = -1;
        if (md == TN_LEAF) continue;
        if (md != TN_LEQ || (c_miss && miss[i])) t->all_leq = false;
        if (featids[i] < 0 || featids[i] > INT32_MAX) {
            rc = kern_fail(err, errlen, "%s: nodes_featureids[%d] = %lld is not a feature index",
                           a->op, i, (long long)featids[i]);
            goto out;
        }
        if (featids[i] > t->max_feat) t->max_feat = featids[i];
        m.yes[i] = find_node(m.keys, N, treeids[i], yesids[i]);
        m.no[i] = find_node(m.keys, N, treeids[i], noids[i]);
        if (m.yes[i] < 0 || m.no[i] < 0) {
            bool y = m.yes[i] < 0;
            rc = kern_fail(err, errlen, "%s: %s[%d] = %lld: tree %lld has no such node", a->op,
                           y ? "nodes_truenodeids" : "nodes_falsenodeids", i,
                           (long long)(y ? yesids[i] : noids[i]), (long long)treeids[i]);
            goto out;
        }
    }

    /* Roots: the first node listed for each tree id, trees in order of first appearance (ORT's
     * order, which fixes the float summation order). color[] marks tree ids already seen via
     * their first key. */
    t->roots = arena_alloc(&g->arena, (size_t)N * sizeof(int32_t));
    if (!t->roots) {
        rc = kern_fail(err, errlen, "%s: out of memory", a->op);
        goto out;
    }
    for (int32_t i = 0; i < N; i++) {
        int32_t lo = 0, hi = N; /* first key of tree treeids[i] */
        while (lo < hi) {
            int32_t mid = lo + (hi - lo) / 2;
            if (m.keys[mid].tree < treeids[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        if (m.color[lo]) continue;
        m.color[lo] = 1;
        t->roots[t->ntrees++] = i;
    }

    /* Cycle check: depth-first from every root with white/grey/black marks; a grey child is an
     * ancestor, so following it would loop forever. The stack holds (node, step) pairs. */
    memset(m.color, 0, (size_t)N);
    for (int32_t k = 0; k < t->ntrees; k++) {
        int32_t sp = 0;
        m.stack[sp++] = t->roots[k], m.stack[sp++] = 0;
        while (sp) {
            int32_t u = m.stack[sp - 2], step = m.stack[sp - 1];
            if (step == 0) {
                if (m.color[u] == 2) {
                    sp -= 2;
                    continue;
                }
                m.color[u] = 1;
            }
            if (m.mode[u] == TN_LEAF || step == 2) {
                m.color[u] = 2;
                sp -= 2;
                continue;
            }
            int32_t c = step == 0 ? m.yes[u] : m.no[u];
            m.stack[sp - 1] = step + 1;
            if (m.color[c] == 1) {
                rc = kern_fail(err, errlen,
                               "%s: tree %lld has a cycle: node %lld leads back to its ancestor "
                               "node %lld",
                               a->op, (long long)treeids[u], (long long)nodeids[u],
                               (long long)nodeids[c]);
                goto out;
            }
            if (m.color[c] == 0) m.stack[sp++] = c, m.stack[sp++] = 0;
        }
    }

    /* Layout: reachable nodes in preorder with the false child right after its parent. */
    int32_t cnt = 0;
    for (int32_t i = 0; i < N; i++) m.newidx[i] = -1;
    for (int32_t k = 0; k < t->ntrees; k++) {
        int32_t sp = 0;
        m.stack[sp++] = t->roots[k];
        while (sp) {
            int32_t u = m.stack[--sp];
            if (m.newidx[u] >= 0) continue;
            m.newidx[u] = cnt++;
            if (m.mode[u] != TN_LEAF) m.stack[sp++] = m.yes[u], m.stack[sp++] = m.no[u];
        }
        t->roots[k] = m.newidx[t->roots[k]];
    }
    t->nnodes = cnt;
    t->nodes = arena_alloc(&g->arena, (size_t)cnt * sizeof(tnode_t));
    t->thr64 = arena_alloc(&g->arena, (size_t)cnt * sizeof(double));
    t->wfirst = arena_alloc(&g->arena, (size_t)cnt * sizeof(int32_t));
    t->wcount = arena_alloc(&g->arena, (size_t)cnt * sizeof(int32_t));
    if (!t->nodes || !t->thr64 || !t->wfirst || !t->wcount) {
        rc = kern_fail(err, errlen, "%s: out of memory", a->op);
        goto out;
    }
    for (int32_t i = 0; i < N; i++) {
        int32_t j = m.newidx[i];
        if (j < 0) continue;
        tnode_t *nd = &t->nodes[j];
        nd->mode = m.mode[i];
        nd->thr = (float)vals[i];
        t->thr64[j] = vals[i];
        if (nd->mode == TN_LEAF) {
            nd->kid[0] = nd->kid[1] = j;
            continue;
        }
        nd->feat = (int32_t)featids[i];
        nd->kid[1] = m.newidx[m.yes[i]];
        nd->kid[0] = m.newidx[m.no[i]];
        nd->nan_yes = c_miss && miss[i] ? 1 : 0;
    }

    /* Leaf weights. */
    const int64_t *wtree = node_attr_ints(n, a->w_tree, &c_wt);
    const int64_t *wnode = node_attr_ints(n, a->w_node, &c_wn);
    const int64_t *wid = node_attr_ints(n, a->w_id, &c_wi);
    if (c_wt != c_wn || c_wi != c_wn || c_w != c_wn) {
        rc = kern_fail(err, errlen, "%s: %s, %s, %s and %s have %lld, %lld, %lld and %lld entries",
                       a->op, a->w_tree, a->w_node, a->w_id, a->w_weight, (long long)c_wt,
                       (long long)c_wn, (long long)c_wi, (long long)c_w);
        goto out;
    }
    if (c_wn > INT32_MAX / 2) {
        rc = kern_fail(err, errlen, "%s: too many weights", a->op);
        goto out;
    }
    bool several_ids = false; /* class ids used by more than one distinct class */
    t->all_positive = true;
    for (int64_t i = 0; i < c_wn; i++) {
        int32_t u = find_node(m.keys, N, wtree[i], wnode[i]);
        if (u < 0) {
            rc = kern_fail(err, errlen, "%s: %s[%lld] = %lld: tree %lld has no such node", a->op,
                           a->w_node, (long long)i, (long long)wnode[i], (long long)wtree[i]);
            goto out;
        }
        if (wid[i] < 0 || wid[i] >= t->nout) {
            rc = kern_fail(err, errlen, "%s: %s[%lld] = %lld is outside [0, %lld)", a->op, a->w_id,
                           (long long)i, (long long)wid[i], (long long)t->nout);
            goto out;
        }
        /* ORT derives these from every entry, including weights it then ignores. */
        if (wts[i] < 0) t->all_positive = false;
        if (wid[i] != wid[0]) several_ids = true;
        /* Weights on branch nodes are ignored, as ORT does (old onnxmltools emitted them). */
        if (m.mode[u] == TN_LEAF && m.newidx[u] >= 0) m.cnt[m.newidx[u] + 1]++;
    }
    t->binary_case = t->nout == 2 && c_wn > 0 && !several_ids;
    for (int32_t j = 0; j < cnt; j++) m.cnt[j + 1] += m.cnt[j];
    t->nweights = m.cnt[cnt];
    t->w = arena_alloc(&g->arena, (size_t)(t->nweights + 1) * sizeof(tweight_t));
    t->w64 = arena_alloc(&g->arena, (size_t)(t->nweights + 1) * sizeof(double));
    if (!t->w || !t->w64) {
        rc = kern_fail(err, errlen, "%s: out of memory", a->op);
        goto out;
    }
    for (int32_t j = 0; j < cnt; j++) t->wfirst[j] = m.cnt[j];
    for (int64_t i = 0; i < c_wn; i++) {
        int32_t u = find_node(m.keys, N, wtree[i], wnode[i]);
        if (m.mode[u] != TN_LEAF || m.newidx[u] < 0) continue;
        int32_t j = m.newidx[u], k = t->wfirst[j] + t->wcount[j]++;
        t->w[k] = (tweight_t){(int32_t)wid[i], (float)wts[i]};
        t->w64[k] = wts[i];
    }
    /* One target: ORT keeps each leaf's first weight as its value (a leaf without weights keeps
     * its nodes_values entry). */
    t->single = !t->classifier && t->nout == 1;
    if (t->single)
        for (int32_t j = 0; j < cnt; j++) {
            if (t->nodes[j].mode != TN_LEAF || t->wcount[j] == 0) continue;
            t->nodes[j].thr = t->w[t->wfirst[j]].w;
            t->thr64[j] = t->w64[t->wfirst[j]];
        }
    n->state = t;
out:
    tmp_free(&m);
    return rc;
}

/* ============================== the two ops ============================== */

static int reg_prepare(graph_t *g, node_t *n, char *err, size_t errlen)
{
    static const tattrs_t a = {"TreeEnsembleRegressor", "target_treeids", "target_nodeids",
                               "target_ids", "target_weights"};
    static const char *const aggs[] = {"SUM", "AVERAGE", "MIN", "MAX"};
    trees_t *t = arena_alloc(&g->arena, sizeof *t);
    if (!t) return kern_fail(err, errlen, "%s: out of memory", a.op);
    t->nout = node_attr_int(n, "n_targets", 0);
    if (t->nout < 1)
        return kern_fail(err, errlen, "%s: n_targets must be >= 1, got %lld", a.op,
                         (long long)t->nout);
    const char *agg = node_attr_str(n, "aggregate_function", "SUM");
    t->agg = (agg_t)-1;
    for (int k = 0; k < 4; k++)
        if (strcmp(agg, aggs[k]) == 0) t->agg = (agg_t)k;
    if ((int)t->agg < 0)
        return kern_fail(err, errlen,
                         "%s: aggregate_function '%s' is not one of SUM, AVERAGE, MIN, MAX", a.op,
                         agg);
    if (ml_parse_post(n, &t->post, err, errlen)) return -1;
    if (trees_prepare(g, n, t, &a, err, errlen)) return -1;
    /* One base value per target, or none (ORT 1.30 refuses other counts too). */
    if (t->nbase != 0 && t->nbase != t->nout)
        return kern_fail(err, errlen, "%s: base_values has %lld values for %lld targets", a.op,
                         (long long)t->nbase, (long long)t->nout);
    return 0;
}

static int cls_prepare(graph_t *g, node_t *n, char *err, size_t errlen)
{
    static const tattrs_t a = {"TreeEnsembleClassifier", "class_treeids", "class_nodeids",
                               "class_ids", "class_weights"};
    trees_t *t = arena_alloc(&g->arena, sizeof *t);
    if (!t) return kern_fail(err, errlen, "%s: out of memory", a.op);
    t->classifier = true;
    t->agg = AGG_SUM;
    if (ml_read_labels(n, "classlabels_int64s", &t->labels, true, a.op, err, errlen)) return -1;
    if (t->labels.n < 2)
        return kern_fail(err, errlen, "%s: classlabels must name at least 2 classes, got %lld",
                         a.op, (long long)t->labels.n);
    t->nout = t->labels.n;
    if (ml_parse_post(n, &t->post, err, errlen)) return -1;
    if (trees_prepare(g, n, t, &a, err, errlen)) return -1;
    /* None or one per class; two classes also take a single value (as ORT 1.30). */
    if (t->nbase != 0 && t->nbase != t->nout && !(t->nout == 2 && t->nbase == 1))
        return kern_fail(err, errlen, "%s: base_values has %lld values for %lld classes", a.op,
                         (long long)t->nbase, (long long)t->nout);
    return 0;
}

/* TreeEnsemble*-3 added the *_as_tensor attributes; ai.onnx.ml 5 deprecates both ops in favour of
 * TreeEnsemble (ONNX Runtime refuses them there), hence until = 4. */
const op_def_t ml_op_tree_regressor = {
    .domain = ML_DOMAIN,
    .name = "TreeEnsembleRegressor",
    .since = 1,
    .until = 4,
    .prepare = reg_prepare,
    .infer = trees_infer,
    .run = trees_run,
};

const op_def_t ml_op_tree_classifier = {
    .domain = ML_DOMAIN,
    .name = "TreeEnsembleClassifier",
    .since = 1,
    .until = 4,
    .prepare = cls_prepare,
    .infer = trees_infer,
    .run = trees_run,
};
