/* Unit tests for the ai.onnx.ml operators (src/engine/ops/ml_*.c): nodes built by hand, run
 * through prepare/infer/run. Expected values marked "ORT" were produced by ONNX Runtime 1.30.0
 * (onnxruntime-node, CPU) on the same one-node model and inputs; the others are hand-computed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/ops/ml_common.h"
#include "th.h"

/* ============================== harness ============================== */

static graph_t G;
static exec_ctx_t X;
static char ERR[512];

typedef struct nb {
    node_t n;
    attr_t a[40];
    int ins[4], outs[4];
} nb_t;

static nb_t *node_new(const char *op, int opset, int nin, int nout)
{
    nb_t *b = arena_alloc(&G.arena, sizeof *b);
    b->n.name = op;
    b->n.op_type = op;
    b->n.domain = "ai.onnx.ml";
    b->n.opset = opset;
    b->n.in = b->ins;
    b->n.nin = nin;
    b->n.out = b->outs;
    b->n.nout = nout;
    b->n.attrs = b->a;
    for (int i = 0; i < 4; i++) b->ins[i] = i, b->outs[i] = 10 + i;
    return b;
}

static attr_t *add(nb_t *b, const char *name, attr_type_t t)
{
    attr_t *a = &b->a[b->n.nattrs++];
    a->name = name;
    a->type = t;
    return a;
}

static void set_i(nb_t *b, const char *name, int64_t v)
{
    add(b, name, ATTR_INT)->i = v;
}

static void set_f(nb_t *b, const char *name, float v)
{
    add(b, name, ATTR_FLOAT)->f = v;
}

static void set_s(nb_t *b, const char *name, const char *v)
{
    attr_t *a = add(b, name, ATTR_STRING);
    a->s = v;
    a->slen = strlen(v);
}

/* List attributes are copied into the graph arena, as the loader leaves them. */
static void set_ints(nb_t *b, const char *name, const int64_t *v, int64_t n)
{
    attr_t *a = add(b, name, ATTR_INTS);
    int64_t *p = arena_alloc(&G.arena, (size_t)(n + 1) * sizeof *p);
    memcpy(p, v, (size_t)n * sizeof *p);
    a->ints = p;
    a->n = n;
}

static void set_floats(nb_t *b, const char *name, const float *v, int64_t n)
{
    attr_t *a = add(b, name, ATTR_FLOATS);
    float *p = arena_alloc(&G.arena, (size_t)(n + 1) * sizeof *p);
    memcpy(p, v, (size_t)n * sizeof *p);
    a->floats = p;
    a->n = n;
}

static void set_strs(nb_t *b, const char *name, const char *const *v, int64_t n)
{
    attr_t *a = add(b, name, ATTR_STRINGS);
    const char **p = arena_alloc(&G.arena, (size_t)(n + 1) * sizeof *p);
    memcpy(p, v, (size_t)n * sizeof *p);
    a->strings = p;
    a->n = n;
}

static void set_tensor(nb_t *b, const char *name, dtype_t dt, int64_t n, const void *data)
{
    attr_t *a = add(b, name, ATTR_TENSOR);
    tensor_t *t = arena_alloc(&G.arena, sizeof *t);
    void *p = arena_alloc(&G.arena, (size_t)n * dtype_size(dt) + 8);
    memcpy(p, data, (size_t)n * dtype_size(dt));
    *t = (tensor_t){.dtype = dt, .rank = 1, .dims = {n}, .data = p};
    a->t = t;
}

#define NELEM(T, ...) ((int64_t)(sizeof((T[]){__VA_ARGS__}) / sizeof(T)))
#define INTS(...)     (const int64_t[]){__VA_ARGS__}, NELEM(int64_t, __VA_ARGS__)
#define FLOATS(...)   (const float[]){__VA_ARGS__}, NELEM(float, __VA_ARGS__)
#define STRS(...)     (const char *const[]){__VA_ARGS__}, NELEM(const char *, __VA_ARGS__)

/* Finds the op for the node's domain/name/opset and prepares it; -1 with ERR on failure. */
static int prepare(nb_t *b)
{
    ERR[0] = 0;
    b->n.op = ops_find(b->n.domain, b->n.op_type, b->n.opset);
    if (!b->n.op) {
        snprintf(ERR, sizeof ERR, "no implementation of %s-%d", b->n.op_type, b->n.opset);
        return -1;
    }
    return b->n.op->prepare ? b->n.op->prepare(&G, &b->n, ERR, sizeof ERR) : 0;
}

/* infer + run on one or two inputs; outputs are allocated from the arena and pre-filled with a
 * pattern so an unwritten element shows up. */
static int exec(nb_t *b, const tensor_t *in0, const tensor_t *in1, tensor_t *out)
{
    const tensor_t *in[2] = {in0, in1};
    ERR[0] = 0;
    memset(out, 0, 2 * sizeof *out);
    if (b->n.op->infer(&b->n, in, out, ERR, sizeof ERR)) return -1;
    for (int o = 0; o < b->n.nout; o++) {
        size_t nb = tensor_nbytes(&out[o]);
        out[o].data = arena_alloc(&G.arena, nb + 8);
        if (out[o].dtype != DT_STRING) memset(out[o].data, 0x7f, nb);
    }
    X.err = ERR;
    X.errlen = sizeof ERR;
    return b->n.op->run(&b->n, in, out, &X);
}

/* prepare + exec, expecting success. */
static int go(nb_t *b, const tensor_t *in0, const tensor_t *in1, tensor_t *out)
{
    if (prepare(b) || exec(b, in0, in1, out)) {
        fprintf(stderr, "%s: unexpected failure: %s\n", b->n.op_type, ERR);
        th_failed++;
        return -1;
    }
    return 0;
}

static tensor_t ten(dtype_t dt, int rank, int64_t d0, int64_t d1, const void *data)
{
    tensor_t t = {.dtype = dt, .rank = rank, .dims = {d0, d1}, .data = (void *)data};
    return t;
}

#define TF(d0, d1, ...) ten(DT_FLOAT, 2, d0, d1, (const float[]){__VA_ARGS__})
#define TD(d0, d1, ...) ten(DT_DOUBLE, 2, d0, d1, (const double[]){__VA_ARGS__})
#define TI(d0, d1, ...) ten(DT_INT64, 2, d0, d1, (const int64_t[]){__VA_ARGS__})

/* Relative 1e-5 (the project's bar against ORT) with a 1e-6 floor near zero; NaN and infinities
 * must match exactly. */
static bool feq(float a, float b)
{
    if (isnan(b)) return isnan(a);
    if (isinf(b)) return a == b;
    return fabsf(a - b) <= 1e-5f * fmaxf(fabsf(a), fabsf(b)) + 1e-6f;
}

static void check_f(const float *got, const float *want, int n, int line)
{
    for (int i = 0; i < n; i++)
        if (!feq(got[i], want[i])) {
            th_failed++;
            fprintf(stderr, "%s:%d: value [%d] = %.9g, expected %.9g\n", __FILE__, line, i, got[i],
                    want[i]);
            return;
        }
    th_passed++;
}

static void check_i(const int64_t *got, const int64_t *want, int n, int line)
{
    for (int i = 0; i < n; i++)
        if (got[i] != want[i]) {
            th_failed++;
            fprintf(stderr, "%s:%d: label [%d] = %lld, expected %lld\n", __FILE__, line, i,
                    (long long)got[i], (long long)want[i]);
            return;
        }
    th_passed++;
}

static void check_s(const char *const *got, const char *const *want, int n, int line)
{
    for (int i = 0; i < n; i++)
        if (!got[i] || strcmp(got[i], want[i]) != 0) {
            th_failed++;
            fprintf(stderr, "%s:%d: label [%d] = \"%s\", expected \"%s\"\n", __FILE__, line, i,
                    got[i] ? got[i] : "(null)", want[i]);
            return;
        }
    th_passed++;
}

#define CHECK_F(got, ...)                                                                          \
    check_f((const float *)(got), (const float[]){__VA_ARGS__}, (int)NELEM(float, __VA_ARGS__),    \
            __LINE__)
#define CHECK_I(got, ...)                                                                          \
    check_i((const int64_t *)(got), (const int64_t[]){__VA_ARGS__},                                \
            (int)NELEM(int64_t, __VA_ARGS__), __LINE__)
#define CHECK_S(got, ...)                                                                          \
    check_s((const char *const *)(got), (const char *const[]){__VA_ARGS__},                        \
            (int)NELEM(const char *, __VA_ARGS__), __LINE__)
#define CHECK_SHAPE(t, ...)                                                                        \
    CHECK((t).rank == (int)NELEM(int64_t, __VA_ARGS__) &&                                          \
          memcmp((t).dims, (const int64_t[]){__VA_ARGS__}, sizeof((int64_t[]){__VA_ARGS__})) == 0)
/* The step fails and its message names `what`. */
#define CHECK_ERR(call, what) CHECK((call) != 0 && strstr(ERR, (what)) != NULL)

static const char *const posts[] = {"NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"};

/* ============================== transforms ============================== */

static void test_transforms(void)
{
    /* ORT: probit(0.3), probit(0.55), probit(0.05); probit(0) is -inf, probit(<0) NaN. */
    CHECK(feq(ml_probit(0.3f), -0.524445891f));
    CHECK(feq(ml_probit(0.55f), 0.125662014f));
    CHECK(feq(ml_probit(0.05f), -1.64466965f));
    CHECK(isinf(ml_probit(0.f)) && ml_probit(0.f) < 0);
    CHECK(isnan(ml_probit(-0.2f)));
    CHECK(feq(ml_logistic(0.3f), 0.574442506f));
    CHECK(feq(ml_logistic(-0.3f), 1 - 0.574442506f));
    CHECK(feq(ml_logistic(-100.f), 0.f) && ml_logistic(100.f) == 1.f);
    float v[3] = {1.f, 2.f, 3.f};
    ml_softmax(v, 3);
    CHECK_F(v, 0.0900305733f, 0.244728476f, 0.665240943f);
    float w[3] = {0.f, 0.5f, -0.2f}; /* the zero stays zero */
    ml_softmax_zero(w, 3);
    CHECK_F(w, 0.f, 0.668187797f, 0.331812233f);
}

/* ============================== linear ============================== */

static void test_linear_classifier(void)
{
    tensor_t x = TF(3, 2, 1.f, 2.f, -1.f, -1.f, 0.f, 0.f), out[2];
    /* One coefficient row and two labels: the binary case. ORT: */
    static const float z1[4][6] = {
        {0.449999988f, 0.550000012f, 1.25f, -0.25f, 0.949999988f, 0.0500000007f},
        {0.365864396f, 0.634135604f, 0.562176526f, 0.437823474f, 0.487502635f, 0.512497365f},
        {0.449999988f, 0.550000012f, 1.25f, -0.25f, 0.949999988f, 0.0500000007f},
        /* PROBIT: ORT writes the N probits packed at the start of Z, the rest zero */
        {0.125662014f, NAN, -1.64466965f, 0.0f, 0.0f, 0.0f},
    };
    static const int pi1[4] = {0, 1, 2, 4};
    for (int k = 0; k < 4; k++) {
        nb_t *b = node_new("LinearClassifier", 1, 1, 2);
        set_floats(b, "coefficients", FLOATS(0.1f, 0.2f));
        set_floats(b, "intercepts", FLOATS(0.05f));
        set_ints(b, "classlabels_ints", INTS(5, 9));
        set_s(b, "post_transform", posts[pi1[k]]);
        if (go(b, &x, NULL, out)) continue;
        CHECK_SHAPE(out[0], 3);
        CHECK_SHAPE(out[1], 3, 2);
        CHECK_I(out[0].data, 9, 5, 9);
        check_f(out[1].data, z1[k], 6, __LINE__);
    }
    /* Three classes. ORT: */
    static const float z3[5][9] = {
        {0.550000012f, -0.550000012f, 0.0f, -0.25f, 0.25f, 0.0f, 0.0500000007f, -0.0500000007f,
         0.0f},
        {0.634135604f, 0.365864396f, 0.5f, 0.437823504f, 0.562176466f, 0.5f, 0.512497365f,
         0.487502605f, 0.5f},
        {0.52360934f, 0.174294412f, 0.302096277f, 0.254275233f, 0.419228971f, 0.326495856f,
         0.350131869f, 0.316812426f, 0.333055764f},
        {0.750260115f, 0.249739885f, 0.0f, 0.377540678f, 0.622459352f, 0.0f, 0.524979174f,
         0.475020826f, 0.0f},
        {0.125662014f, NAN, -INFINITY, NAN, -0.674574316f, -INFINITY, -1.64466965f, NAN, -INFINITY},
    };
    for (int p = 0; p < 5; p++) {
        nb_t *b = node_new("LinearClassifier", 1, 1, 2);
        set_floats(b, "coefficients", FLOATS(0.1f, 0.2f, -0.1f, -0.2f, 0.f, 0.f));
        set_floats(b, "intercepts", FLOATS(0.05f, -0.05f, 0.f));
        set_ints(b, "classlabels_ints", INTS(1, 2, 3));
        set_s(b, "post_transform", posts[p]);
        if (go(b, &x, NULL, out)) continue;
        CHECK_I(out[0].data, 1, 2, 1);
        check_f(out[1].data, z3[p], 9, __LINE__);
    }
    /* String labels, DOUBLE and INT64 inputs (cast to float), a 1-D input as one row. */
    nb_t *b = node_new("LinearClassifier", 1, 1, 2);
    set_floats(b, "coefficients", FLOATS(0.1f, 0.2f, -0.1f, -0.2f));
    set_floats(b, "intercepts", FLOATS(0.05f, -0.05f));
    set_strs(b, "classlabels_strings", STRS("a", "b"));
    tensor_t xd = TD(2, 2, 1., 2., -1., -1.), xi = TI(2, 2, 1, 2, -1, -1);
    tensor_t x1 = ten(DT_FLOAT, 1, 2, 0, (const float[]){1.f, 2.f});
    if (!go(b, &xd, NULL, out)) {
        CHECK(out[0].dtype == DT_STRING);
        CHECK_S(out[0].data, "a", "b");
        CHECK_F(out[1].data, 0.55f, -0.55f, -0.25f, 0.25f);
    }
    if (!exec(b, &xi, NULL, out)) CHECK_S(out[0].data, "a", "b");
    if (!exec(b, &x1, NULL, out)) {
        CHECK_SHAPE(out[0], 1);
        CHECK_SHAPE(out[1], 1, 2);
        CHECK_S(out[0].data, "a");
    }
    /* Equal scores pick the first class (ORT: labels 1, 1, 1). */
    b = node_new("LinearClassifier", 1, 1, 2);
    set_floats(b, "coefficients", FLOATS(0, 0, 0, 0, 0, 0));
    set_floats(b, "intercepts", FLOATS(1, 1, 1));
    set_ints(b, "classlabels_ints", INTS(1, 2, 3));
    if (!go(b, &x, NULL, out)) CHECK_I(out[0].data, 1, 1, 1);
    /* Errors. */
    b = node_new("LinearClassifier", 1, 1, 2);
    set_floats(b, "coefficients", FLOATS(0.1f, 0.2f));
    set_floats(b, "intercepts", FLOATS(0.05f));
    set_ints(b, "classlabels_ints", INTS(5));
    CHECK_ERR(prepare(b), "classlabels");
    b = node_new("LinearClassifier", 1, 1, 2);
    set_floats(b, "coefficients", FLOATS(0.1f, 0.2f, 0.3f));
    set_floats(b, "intercepts", FLOATS(0.f, 0.f));
    set_ints(b, "classlabels_ints", INTS(1, 2));
    CHECK_ERR(prepare(b), "coefficients");
    b = node_new("LinearClassifier", 1, 1, 2);
    set_floats(b, "coefficients", FLOATS(0.1f, 0.2f));
    set_ints(b, "classlabels_ints", INTS(1, 2));
    CHECK_ERR(prepare(b), "intercepts");
    b = node_new("LinearClassifier", 1, 1, 2);
    set_floats(b, "coefficients", FLOATS(0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f));
    set_floats(b, "intercepts", FLOATS(0.f, 0.f));
    set_ints(b, "classlabels_ints", INTS(1, 2));
    CHECK(prepare(b) == 0);
    CHECK_ERR(exec(b, &x, NULL, out), "features");
}

static void test_linear_regressor(void)
{
    tensor_t x = TF(3, 2, 1.f, 2.f, -1.f, -1.f, 0.f, 0.f), out[2];
    /* ORT: one target takes PROBIT only; two targets take every transform. */
    static const float y1[4][3] = {
        {0.550000012f, -0.25f, 0.0500000007f},
        {0.550000012f, -0.25f, 0.0500000007f},
        {0.550000012f, -0.25f, 0.0500000007f},
        {0.125662014f, NAN, -1.64466965f},
    };
    static const float y2[4][6] = {
        {0.550000012f, -0.550000012f, -0.25f, 0.25f, 0.0500000007f, -0.0500000007f},
        {0.634135604f, 0.365864396f, 0.437823504f, 0.562176466f, 0.512497365f, 0.487502605f},
        {0.750260115f, 0.249739885f, 0.377540678f, 0.622459352f, 0.524979174f, 0.475020826f},
        {0.125662014f, NAN, NAN, -0.674574316f, -1.64466965f, NAN},
    };
    static const int pi[4] = {0, 1, 2, 4};
    for (int k = 0; k < 4; k++) {
        nb_t *b = node_new("LinearRegressor", 1, 1, 1);
        set_floats(b, "coefficients", FLOATS(0.1f, 0.2f));
        set_floats(b, "intercepts", FLOATS(0.05f));
        set_s(b, "post_transform", posts[pi[k]]);
        if (!go(b, &x, NULL, out)) {
            CHECK_SHAPE(out[0], 3, 1);
            check_f(out[0].data, y1[k], 3, __LINE__);
        }
        b = node_new("LinearRegressor", 1, 1, 1);
        set_floats(b, "coefficients", FLOATS(0.1f, 0.2f, -0.1f, -0.2f));
        set_floats(b, "intercepts", FLOATS(0.05f, -0.05f));
        set_i(b, "targets", 2);
        set_s(b, "post_transform", posts[pi[k]]);
        if (!go(b, &x, NULL, out)) {
            CHECK_SHAPE(out[0], 3, 2);
            check_f(out[0].data, y2[k], 6, __LINE__);
        }
    }
    nb_t *b = node_new("LinearRegressor", 1, 1, 1);
    set_floats(b, "coefficients", FLOATS(0.1f, 0.2f, 0.3f));
    set_i(b, "targets", 2);
    CHECK_ERR(prepare(b), "coefficients");
    b = node_new("LinearRegressor", 1, 1, 1);
    set_floats(b, "coefficients", FLOATS(0.1f, 0.2f, 0.3f, 0.4f));
    set_floats(b, "intercepts", FLOATS(0.5f));
    set_i(b, "targets", 2);
    CHECK_ERR(prepare(b), "intercepts");
    b = node_new("LinearRegressor", 1, 1, 1);
    set_floats(b, "coefficients", FLOATS(1.f));
    set_s(b, "post_transform", "EXP");
    CHECK_ERR(prepare(b), "post_transform");
}

/* ============================== SVM ============================== */

static void svm_binary(nb_t *b, const char *post, bool proba)
{
    set_floats(b, "support_vectors", FLOATS(1.f, 1.f, -1.f, 0.f, 0.5f, -0.5f));
    set_ints(b, "vectors_per_class", INTS(2, 1));
    set_floats(b, "coefficients", FLOATS(0.5f, -0.3f, -0.7f));
    set_floats(b, "rho", FLOATS(0.1f));
    set_s(b, "kernel_type", "RBF");
    set_floats(b, "kernel_params", FLOATS(0.5f, 0.f, 3.f));
    set_ints(b, "classlabels_ints", INTS(3, 8));
    set_s(b, "post_transform", post);
    if (proba) {
        set_floats(b, "prob_a", FLOATS(-2.5f));
        set_floats(b, "prob_b", FLOATS(0.3f));
    }
}

static void svm_three(nb_t *b, const char *kernel, bool proba)
{
    set_floats(b, "support_vectors", FLOATS(1.f, 1.f, -1.f, 0.f, 0.5f, -0.5f, 0.2f, 0.9f));
    set_ints(b, "vectors_per_class", INTS(2, 1, 1));
    set_floats(b, "coefficients", FLOATS(0.5f, -0.3f, -0.7f, 0.4f, 0.6f, 0.2f, -0.9f, 0.1f));
    set_floats(b, "rho", FLOATS(0.1f, -0.2f, 0.3f));
    set_floats(b, "kernel_params", FLOATS(0.5f, 0.1f, 3.f));
    set_strs(b, "classlabels_strings", STRS("a", "b", "c"));
    set_s(b, "kernel_type", kernel);
    if (proba) {
        set_floats(b, "prob_a", FLOATS(-2.5f, -1.f, -3.f));
        set_floats(b, "prob_b", FLOATS(0.3f, 0.1f, -0.2f));
    }
}

static void test_svm_classifier(void)
{
    tensor_t x = TF(3, 2, 1.f, 2.f, -1.f, -0.5f, 0.3f, 0.1f), out[2];
    /* Binary RBF without probabilities: Z is [-f, f] under NONE, [1-f, f] otherwise (logistic
     * applied under LOGISTIC), [probit(f), 0] under PROBIT; a positive f votes for class 0. ORT: */
    static const float zb[4][6] = {
        {-0.370628685f, 0.370628685f, 0.370037317f, -0.370037317f, 0.340313137f, -0.340313137f},
        {0.408389151f, 0.591610849f, 0.591467977f, 0.408532023f, 0.584266603f, 0.415733397f},
        {0.629371285f, 0.370628685f, 1.37003732f, -0.370037317f, 1.3403132f, -0.340313137f},
        {-0.330200881f, 0.0f, NAN, 0.0f, NAN, 0.0f},
    };
    /* The same with prob_a/prob_b: Platt probabilities, then the transform on both columns. */
    static const float zp[4][6] = {
        {0.649332821f, 0.350667208f, 0.227028787f, 0.772971213f, 0.240339175f, 0.759660661f},
        {0.656860113f, 0.586779356f, 0.55651468f, 0.684163272f, 0.559797227f, 0.681280017f},
        {0.57411629f, 0.42588371f, 0.366806298f, 0.633193672f, 0.373010904f, 0.626989067f},
        {0.38353923f, -0.38353923f, -0.748774469f, 0.748774469f, -0.705305338f, 0.705304682f},
    };
    static const int pi[4] = {0, 1, 2, 4};
    for (int k = 0; k < 4; k++)
        for (int proba = 0; proba < 2; proba++) {
            nb_t *b = node_new("SVMClassifier", 1, 1, 2);
            svm_binary(b, posts[pi[k]], proba);
            if (go(b, &x, NULL, out)) continue;
            CHECK_SHAPE(out[1], 3, 2);
            CHECK_I(out[0].data, 3, 8, 8);
            check_f(out[1].data, proba ? zp[k] : zb[k], 6, __LINE__);
        }
    /* Three classes, every kernel: one-vs-one decision values, or coupled probabilities. ORT: */
    static const char *const kernels[] = {"LINEAR", "POLY", "RBF", "SIGMOID"};
    static const float z3[4][9] = {
        {2.25f, 2.20000005f, 0.949999988f, -0.775000036f, -1.16000009f, 0.460000008f, 0.319999993f,
         0.0400000066f, 0.225000009f},
        {2.16956258f, 2.77720022f, 0.436137527f, -0.102101557f, -0.326131225f, 0.298875004f,
         0.111175001f, -0.181681246f, 0.297498435f},
        {0.370628685f, 0.326194108f, 0.304756373f, -0.370037317f, 0.0759349465f, 0.0260811504f,
         -0.340313137f, 0.487721443f, -0.36460489f},
        {0.779038489f, 0.597211003f, 0.514046431f, -0.329453498f, -0.524103403f, 0.300367475f,
         0.156424299f, 0.0340899527f, 0.183327019f},
    };
    static const float z3p[4][9] = {
        {0.930769503f, 0.0126117794f, 0.0566187277f, 0.0672998056f, 0.768538356f, 0.164162025f,
         0.398747176f, 0.34472549f, 0.256527364f},
        {0.948159039f, 0.0127140116f, 0.0391270183f, 0.238743678f, 0.533669233f, 0.227587208f,
         0.316424519f, 0.447705925f, 0.235869631f},
        {0.455145419f, 0.328287721f, 0.21656692f, 0.199756205f, 0.490407705f, 0.309836179f,
         0.273264945f, 0.320720166f, 0.406014949f},
        {0.619232833f, 0.195944875f, 0.184822217f, 0.166136533f, 0.609549522f, 0.224314108f,
         0.346848488f, 0.394752532f, 0.25839892f},
    };
    for (int k = 0; k < 4; k++)
        for (int proba = 0; proba < 2; proba++) {
            nb_t *b = node_new("SVMClassifier", 1, 1, 2);
            svm_three(b, kernels[k], proba);
            if (go(b, &x, NULL, out)) continue;
            CHECK_S(out[0].data, "a", "b", "a");
            check_f(out[1].data, proba ? z3p[k] : z3[k], 9, __LINE__);
        }
    nb_t *b = node_new("SVMClassifier", 1, 1, 2);
    svm_three(b, "RBF", false);
    set_s(b, "post_transform", "SOFTMAX");
    if (!go(b, &x, NULL, out))
        CHECK_F(out[1].data, 0.345687211f, 0.330662996f, 0.323649764f, 0.247032285f, 0.385866463f,
                0.367101192f, 0.234476656f, 0.536673903f, 0.228849441f);
    b = node_new("SVMClassifier", 1, 1, 2); /* POLY with a non-integer degree goes through pow */
    svm_three(b, "POLY", false);
    b->a[4].floats = (const float[]){0.5f, 1.1f, 2.5f};
    if (!go(b, &x, NULL, out)) {
        CHECK_S(out[0].data, "a", "a", "a");
        CHECK_F(out[1].data, 5.00015116f, 8.95215321f, 0.339568734f, -1.49228275f, 0.702619612f,
                -0.491924793f, -0.193202347f, 1.73069263f, -0.826744556f);
    }
    /* liblinear form (no support vectors): x . coef + rho[0]; ORT's binary label rule picks the
     * second label on a positive maximum when some coefficient is negative. ORT: */
    b = node_new("SVMClassifier", 1, 1, 2);
    set_floats(b, "coefficients", FLOATS(0.5f, -0.3f, -0.7f, 0.4f));
    set_floats(b, "rho", FLOATS(0.1f, 0.2f));
    set_floats(b, "kernel_params", FLOATS(0.5f, 0.f, 3.f));
    set_ints(b, "classlabels_ints", INTS(3, 8));
    if (!go(b, &x, NULL, out)) {
        CHECK_I(out[0].data, 8, 8, 8);
        CHECK_F(out[1].data, -2.23517418e-08f, 0.200000018f, -0.25f, 0.600000024f, 0.219999999f,
                -0.0700000003f);
    }
    b = node_new("SVMClassifier", 1, 1, 2);
    set_floats(b, "coefficients", FLOATS(0.5f, 0.3f, 0.7f, 0.4f));
    set_floats(b, "rho", FLOATS(0.1f));
    set_ints(b, "classlabels_ints", INTS(3, 8));
    set_s(b, "post_transform", "LOGISTIC");
    if (!go(b, &x, NULL, out)) { /* all positive: the second label needs a maximum >= 0.5 */
        CHECK_I(out[0].data, 8, 3, 8);
        CHECK_F(out[1].data, 0.768524826f, 0.832018256f, 0.365864396f, 0.310025513f, 0.569546998f,
                0.586618f);
    }
    b = node_new("SVMClassifier", 1, 1, 2);
    set_floats(b, "coefficients", FLOATS(0.5f, -0.3f, -0.7f, 0.4f, 0.1f, 0.1f));
    set_floats(b, "rho", FLOATS(0.1f));
    set_ints(b, "classlabels_ints", INTS(3, 8, 9));
    if (!go(b, &x, NULL, out)) {
        CHECK_I(out[0].data, 9, 8, 3);
        CHECK_F(out[1].data, -2.23517418e-08f, 0.200000018f, 0.400000006f, -0.25f, 0.600000024f,
                -0.0500000045f, 0.219999999f, -0.0700000003f, 0.140000001f);
    }
    /* Errors. */
    b = node_new("SVMClassifier", 1, 1, 2);
    svm_binary(b, "NONE", false);
    b->a[1].ints = (const int64_t[]){1, 1};
    CHECK_ERR(prepare(b), "coefficients");
    b = node_new("SVMClassifier", 1, 1, 2);
    svm_binary(b, "NONE", false);
    set_floats(b, "prob_a", FLOATS(1.f));
    CHECK_ERR(prepare(b), "prob_b");
    b = node_new("SVMClassifier", 1, 1, 2);
    svm_binary(b, "NONE", false);
    b->a[4].s = "CUBIC";
    CHECK_ERR(prepare(b), "kernel_type");
    b = node_new("SVMClassifier", 1, 1, 2);
    svm_binary(b, "NONE", false);
    CHECK(prepare(b) == 0);
    tensor_t x3 = TF(1, 3, 1.f, 2.f, 3.f);
    CHECK_ERR(exec(b, &x3, NULL, out), "features");
}

static void test_svm_regressor(void)
{
    tensor_t x = TF(3, 2, 1.f, 2.f, -1.f, -0.5f, 0.3f, 0.1f), out[2];
    static const char *const kernels[] = {"LINEAR", "POLY", "RBF", "SIGMOID"};
    static const float y[4][3] = {/* ORT */
                                  {2.24999976f, -0.774999917f, 0.320000023f},
                                  {2.56468749f, -0.0863828138f, 0.121025003f},
                                  {0.370628685f, -0.370037347f, -0.340313137f},
                                  {0.690069199f, -0.383972257f, 0.10354393f}};
    for (int k = 0; k < 4; k++) {
        nb_t *b = node_new("SVMRegressor", 1, 1, 1);
        set_floats(b, "support_vectors", FLOATS(1.f, 1.f, -1.f, 0.f, 0.5f, -0.5f));
        set_i(b, "n_supports", 3);
        set_floats(b, "coefficients", FLOATS(0.5f, -0.3f, -0.7f));
        set_floats(b, "rho", FLOATS(0.1f));
        set_s(b, "kernel_type", kernels[k]);
        set_floats(b, "kernel_params", FLOATS(0.5f, 0.2f, 3.f));
        if (k == 2) set_i(b, "one_class", 0);
        if (go(b, &x, NULL, out)) continue;
        CHECK_SHAPE(out[0], 3, 1);
        check_f(out[0].data, y[k], 3, __LINE__);
        if (k == 2) { /* one_class maps to +-1 */
            b->a[6].i = 1;
            if (!go(b, &x, NULL, out)) CHECK_F(out[0].data, 1.f, -1.f, -1.f);
        }
    }
    /* liblinear form; post_transform is not applied (ORT). */
    nb_t *b = node_new("SVMRegressor", 1, 1, 1);
    set_floats(b, "coefficients", FLOATS(0.5f, -0.3f));
    set_floats(b, "rho", FLOATS(0.1f));
    set_s(b, "post_transform", "LOGISTIC");
    if (!go(b, &x, NULL, out)) CHECK_F(out[0].data, -2.23517418e-08f, -0.25f, 0.219999999f);
    b = node_new("SVMRegressor", 1, 1, 1);
    set_floats(b, "support_vectors", FLOATS(1.f, 1.f, -1.f, 0.f, 0.5f));
    set_i(b, "n_supports", 3);
    set_floats(b, "coefficients", FLOATS(0.5f, -0.3f, -0.7f));
    set_floats(b, "rho", FLOATS(0.1f));
    CHECK_ERR(prepare(b), "support_vectors");
}

/* ============================== trees ============================== */

/* Tree nodes as (tree, node, feature, threshold, mode, true, false) tuples. */
typedef struct tn {
    int64_t tree, node, feat;
    float thr;
    const char *mode;
    int64_t t, f;
} tn_t;

/* Leaf weights as (tree, node, target/class, weight). */
typedef struct tw {
    int64_t tree, node, id;
    float w;
} tw_t;

static void set_trees(nb_t *b, const tn_t *nodes, int nn, const tw_t *w, int nw, bool classifier)
{
    int64_t a[6][64];
    float v[64];
    const char *m[64];
    for (int i = 0; i < nn; i++) {
        a[0][i] = nodes[i].tree, a[1][i] = nodes[i].node, a[2][i] = nodes[i].feat;
        a[3][i] = nodes[i].t, a[4][i] = nodes[i].f;
        v[i] = nodes[i].thr, m[i] = nodes[i].mode;
    }
    set_ints(b, "nodes_treeids", a[0], nn);
    set_ints(b, "nodes_nodeids", a[1], nn);
    set_ints(b, "nodes_featureids", a[2], nn);
    set_ints(b, "nodes_truenodeids", a[3], nn);
    set_ints(b, "nodes_falsenodeids", a[4], nn);
    set_floats(b, "nodes_values", v, nn);
    set_strs(b, "nodes_modes", m, nn);
    for (int i = 0; i < nw; i++) {
        a[0][i] = w[i].tree, a[1][i] = w[i].node, a[2][i] = w[i].id;
        v[i] = w[i].w;
    }
    set_ints(b, classifier ? "class_treeids" : "target_treeids", a[0], nw);
    set_ints(b, classifier ? "class_nodeids" : "target_nodeids", a[1], nw);
    set_ints(b, classifier ? "class_ids" : "target_ids", a[2], nw);
    set_floats(b, classifier ? "class_weights" : "target_weights", v, nw);
}

#define STUMP(tr, thr)                                                                             \
    {tr, 0, 0, thr, "BRANCH_LEQ", 1, 2}, {tr, 1, 0, 0, "LEAF", 0, 0},                              \
    {                                                                                              \
        tr, 2, 0, 0, "LEAF", 0, 0                                                                  \
    }

static void test_tree_modes(void)
{
    tensor_t out[2];
    tensor_t x = TF(4, 1, -1.f, 0.f, 1.f, NAN);
    static const char *const modes[] = {"BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE",
                                        "BRANCH_GT",  "BRANCH_EQ", "BRANCH_NEQ"};
    /* true branch -> 1, false -> 2; NaN compares false except under NEQ (ORT). */
    static const float want[6][4] = {{1, 1, 2, 2}, {1, 2, 2, 2}, {2, 1, 1, 2},
                                     {2, 2, 1, 2}, {2, 1, 2, 2}, {1, 2, 1, 1}};
    for (int k = 0; k < 6; k++)
        for (int track = 0; track < 2; track++) {
            nb_t *b = node_new("TreeEnsembleRegressor", 3, 1, 1);
            tn_t nodes[] = {{0, 0, 0, 0.f, modes[k], 1, 2},
                            {0, 1, 0, 0, "LEAF", 0, 0},
                            {0, 2, 0, 0, "LEAF", 0, 0}};
            tw_t w[] = {{0, 1, 0, 1.f}, {0, 2, 0, 2.f}};
            set_trees(b, nodes, 3, w, 2, false);
            set_i(b, "n_targets", 1);
            if (track) set_ints(b, "nodes_missing_value_tracks_true", INTS(1, 0, 0));
            if (go(b, &x, NULL, out)) continue;
            float exp[4];
            memcpy(exp, want[k], sizeof exp);
            if (track) exp[3] = 1; /* NaN follows the true branch */
            check_f(out[0].data, exp, 4, __LINE__);
        }
    /* Mixed modes in one tree, two features, node ids out of order and a root listed first. */
    nb_t *b = node_new("TreeEnsembleRegressor", 1, 1, 1);
    tn_t nodes[] = {{5, 0, 1, 2.5f, "BRANCH_GT", 2, 1},
                    {5, 2, 0, 0, "LEAF", 0, 0},
                    {5, 1, 0, 1.f, "BRANCH_LT", 3, 4},
                    {5, 4, 0, 0, "LEAF", 0, 0},
                    {5, 3, 0, 0, "LEAF", 0, 0}};
    tw_t w[] = {{5, 2, 0, 10.f}, {5, 3, 0, 20.f}, {5, 4, 0, 30.f}};
    set_trees(b, nodes, 5, w, 3, false);
    set_i(b, "n_targets", 1);
    tensor_t x2 = TF(3, 2, 0.f, 0.f, 5.f, 0.f, 0.f, 3.f);
    if (!go(b, &x2, NULL, out)) CHECK_F(out[0].data, 20.f, 30.f, 10.f);
}

static void test_tree_regressor(void)
{
    tensor_t x = TF(3, 1, -1.f, 1.f, 6.f), out[2];
    static const char *const aggs[] = {"SUM", "AVERAGE", "MIN", "MAX"};
    tn_t nodes[] = {STUMP(0, 0.f), STUMP(1, 5.f)};
    /* One target, base 0.05: only PROBIT applies (ORT) -- [agg][NONE, PROBIT] */
    static const float y1[4][2][3] = {
        {{0.550000012f, 0.650000036f, 1.04999995f}, {0.125662014f, 0.385340244f, NAN}},
        {{0.300000012f, 0.350000024f, 0.550000012f}, {-0.524445891f, -0.385340244f, 0.125662014f}},
        {{0.150000006f, 0.25f, 0.25f}, {-1.03661311f, -0.674574316f, -0.674574316f}},
        {{0.450000018f, 0.450000018f, 0.850000024f}, {-0.125662014f, -0.125662014f, 1.03661358f}},
    };
    /* Two targets, base (0.05, 0.25); a target no leaf voted for is 0 despite its base.
     * ORT -- [agg][NONE, PROBIT, LOGISTIC, SOFTMAX, SOFTMAX_ZERO] */
    static const float y2[4][5][6] = {
        {{0.550000012f, 0.0f, 0.450000018f, 0.449999988f, 0.850000024f, 0.149999991f},
         {0.125662014f, -INFINITY, -0.125662014f, -0.125662014f, 1.03661358f, -1.03661358f},
         {0.634135604f, 0.5f, 0.610639274f, 0.610639274f, 0.700567186f, 0.53742981f},
         {0.634135604f, 0.365864366f, 0.5f, 0.5f, 0.668187797f, 0.331812233f},
         {1.0f, 0.0f, 0.5f, 0.5f, 0.668187797f, 0.331812233f}},
        {{0.300000012f, 0.0f, 0.25f, 0.349999994f, 0.450000018f, 0.199999988f},
         {-0.524445891f, -INFINITY, -0.674574316f, -0.385340244f, -0.125662014f, -0.841756105f},
         {0.574442506f, 0.5f, 0.562176526f, 0.586617589f, 0.610639274f, 0.549833953f},
         {0.574442506f, 0.425557464f, 0.475020826f, 0.524979174f, 0.562176526f, 0.437823504f},
         {1.0f, 0.0f, 0.475020826f, 0.524979174f, 0.562176526f, 0.437823504f}},
        {{0.150000006f, 0.0f, 0.450000018f, 0.449999988f, 0.850000024f, -0.0500000119f},
         {-1.03661311f, -INFINITY, -0.125662014f, -0.125662014f, 1.03661358f, NAN},
         {0.53742981f, 0.5f, 0.610639274f, 0.610639274f, 0.700567186f, 0.487502575f},
         {0.53742981f, 0.462570161f, 0.5f, 0.5f, 0.710949481f, 0.28905049f},
         {1.0f, 0.0f, 0.5f, 0.5f, 0.710949481f, 0.28905049f}},
        {{0.450000018f, 0.0f, 0.450000018f, 0.449999988f, 0.850000024f, 0.449999988f},
         {-0.125662014f, -INFINITY, -0.125662014f, -0.125662014f, 1.03661358f, -0.125662014f},
         {0.610639274f, 0.5f, 0.610639274f, 0.610639274f, 0.700567186f, 0.610639274f},
         {0.610639274f, 0.389360785f, 0.5f, 0.5f, 0.598687649f, 0.401312321f},
         {1.0f, 0.0f, 0.5f, 0.5f, 0.598687649f, 0.401312321f}},
    };
    static const char *const p2[] = {"NONE", "PROBIT", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"};
    for (int a = 0; a < 4; a++)
        for (int p = 0; p < 5; p++) {
            nb_t *b = node_new("TreeEnsembleRegressor", 3, 1, 1);
            tw_t w1[] = {{0, 1, 0, 0.1f}, {0, 2, 0, 0.2f}, {1, 1, 0, 0.4f}, {1, 2, 0, 0.8f}};
            set_trees(b, nodes, 6, w1, 4, false);
            set_i(b, "n_targets", 1);
            set_s(b, "aggregate_function", aggs[a]);
            set_s(b, "post_transform", p2[p]);
            set_floats(b, "base_values", FLOATS(0.05f));
            if (!go(b, &x, NULL, out)) {
                CHECK_SHAPE(out[0], 3, 1);
                check_f(out[0].data, y1[a][p == 1 ? 1 : 0], 3, __LINE__);
            }
            b = node_new("TreeEnsembleRegressor", 3, 1, 1);
            tw_t w2[] = {{0, 1, 0, 0.1f},
                         {0, 2, 1, 0.2f},
                         {1, 1, 0, 0.4f},
                         {1, 2, 0, 0.8f},
                         {1, 2, 1, -0.3f}};
            set_trees(b, nodes, 6, w2, 5, false);
            set_i(b, "n_targets", 2);
            set_s(b, "aggregate_function", aggs[a]);
            set_s(b, "post_transform", p2[p]);
            set_floats(b, "base_values", FLOATS(0.05f, 0.25f));
            if (!go(b, &x, NULL, out)) {
                CHECK_SHAPE(out[0], 3, 2);
                check_f(out[0].data, y2[a][p], 6, __LINE__);
            }
        }
    /* One target: a leaf with two weights counts its first only; a leaf without weights adds its
     * nodes_values entry (here 0); weights on a branch are ignored (ORT: 10, 0 and 1, 2). */
    nb_t *b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    tw_t w3[] = {{0, 1, 0, 10.f}, {0, 1, 0, 5.f}, {0, 0, 0, 100.f}};
    set_trees(b, nodes, 3, w3, 3, false);
    set_i(b, "n_targets", 1);
    tensor_t x2 = TF(2, 1, -1.f, 1.f);
    if (!go(b, &x2, NULL, out)) CHECK_F(out[0].data, 10.f, 0.f);
    /* Float input sums in float, DOUBLE input in double (ORT: 0 and 1 for 1e8 + 1 - 1e8). */
    tn_t n3[] = {STUMP(0, 0.f), STUMP(1, 0.f), STUMP(2, 0.f)};
    tw_t w4[] = {{0, 1, 0, 1e8f}, {0, 2, 0, 1e8f},  {1, 1, 0, 1.f},
                 {1, 2, 0, 1.f},  {2, 1, 0, -1e8f}, {2, 2, 0, -1e8f}};
    b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    set_trees(b, n3, 9, w4, 6, false);
    set_i(b, "n_targets", 1);
    tensor_t xd = TD(2, 1, -1., 1.);
    if (!go(b, &x2, NULL, out)) CHECK_F(out[0].data, 0.f, 0.f);
    if (!exec(b, &xd, NULL, out)) CHECK_F(out[0].data, 1.f, 1.f);
    /* DOUBLE input compares in double: 0.100000001 <= 0.1f (0.10000000149) holds, 0.100000002
     * does not (ORT: 1, 2; as float both would round to 0.1f). */
    b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    tn_t n4[] = {STUMP(0, 0.1f)};
    tw_t w5[] = {{0, 1, 0, 1.f}, {0, 2, 0, 2.f}};
    set_trees(b, n4, 3, w5, 2, false);
    set_i(b, "n_targets", 1);
    tensor_t xd2 = TD(2, 1, 0.100000001, 0.100000002);
    if (!go(b, &xd2, NULL, out)) CHECK_F(out[0].data, 1.f, 2.f);
    /* v3 *_as_tensor in double: thresholds, weights and base in double. */
    b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    set_ints(b, "nodes_treeids", INTS(0, 0, 0));
    set_ints(b, "nodes_nodeids", INTS(0, 1, 2));
    set_ints(b, "nodes_featureids", INTS(0, 0, 0));
    set_strs(b, "nodes_modes", STRS("BRANCH_LEQ", "LEAF", "LEAF"));
    set_ints(b, "nodes_truenodeids", INTS(1, 0, 0));
    set_ints(b, "nodes_falsenodeids", INTS(2, 0, 0));
    set_tensor(b, "nodes_values_as_tensor", DT_DOUBLE, 3, (const double[]){0.1, 0, 0});
    set_ints(b, "target_treeids", INTS(0, 0));
    set_ints(b, "target_nodeids", INTS(1, 2));
    set_ints(b, "target_ids", INTS(0, 0));
    set_tensor(b, "target_weights_as_tensor", DT_DOUBLE, 2, (const double[]){0.25, 1e-9});
    set_tensor(b, "base_values_as_tensor", DT_DOUBLE, 1, (const double[]){1.});
    set_i(b, "n_targets", 1);
    tensor_t xd3 = TD(2, 1, 0.1, 0.1000000000001);
    if (!go(b, &xd3, NULL, out)) CHECK_F(out[0].data, 1.25f, 1.f);
    /* 1-D X is one row. */
    b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    set_trees(b, n4, 3, w5, 2, false);
    set_i(b, "n_targets", 1);
    tensor_t x1 = ten(DT_FLOAT, 1, 1, 0, (const float[]){0.5f});
    if (!go(b, &x1, NULL, out)) {
        CHECK_SHAPE(out[0], 1, 1);
        CHECK_F(out[0].data, 2.f);
    }
}

/* The two-class table: every combination of which class ids carry weights, their signs, the
 * base_values count and the post_transform, on one stump (x=-1 -> node 1, x=1 -> node 2) with
 * labels 10, 20. Expected labels and Z from ORT 1.30.0. Configurations (cfgs[] below): c1+ / c1+-
 * only class 1 votes (positive / mixed weights), c0+ / c0+- only class 0, split / split+- class 0
 * on one leaf and class 1 on the other, full both classes on both leaves; base 1 = (0.25),
 * base 2 = (0.25, 0.5). */
static const struct {
    int cfg, base, post;
    int64_t y[2];
    float z[4];
} bin_table[] = {
    /* clang-format off */
    {0, 0, 0, {10, 20}, {0.0f, 0.3f, 0.0f, 0.8f}}, /* c1+, no base, NONE */
    {0, 0, 1, {10, 20}, {0.5f, 0.5744425f, 0.5f, 0.6899745f}}, /* c1+, no base, LOGISTIC */
    {0, 0, 2, {10, 20}, {0.42555746f, 0.5744425f, 0.31002554f, 0.6899745f}},
    {0, 0, 3, {10, 20}, {0.0f, 1.0f, 0.0f, 1.0f}}, /* c1+, no base, SOFTMAX_ZERO */
    {0, 0, 4, {10, 20}, {-INFINITY, -0.5244459f, -INFINITY, 0.8417561f}}, /* c1+, no base, PROBIT */
    {0, 1, 0, {10, 20}, {0.0f, 0.3f, 0.0f, 0.8f}}, /* c1+, base 1, NONE */
    {0, 1, 1, {10, 20}, {0.5f, 0.5744425f, 0.5f, 0.6899745f}}, /* c1+, base 1, LOGISTIC */
    {0, 1, 2, {10, 20}, {0.42555746f, 0.5744425f, 0.31002554f, 0.6899745f}},
    {0, 1, 3, {10, 20}, {0.0f, 1.0f, 0.0f, 1.0f}}, /* c1+, base 1, SOFTMAX_ZERO */
    {0, 1, 4, {10, 20}, {-INFINITY, -0.5244459f, -INFINITY, 0.8417561f}}, /* c1+, base 1, PROBIT */
    {0, 2, 0, {10, 10}, {0.0f, 0.5f, 0.0f, 0.5f}}, /* c1+, base 2, NONE */
    {0, 2, 1, {10, 10}, {0.5f, 0.62245935f, 0.5f, 0.62245935f}}, /* c1+, base 2, LOGISTIC */
    {0, 2, 2, {10, 10}, {0.37754068f, 0.62245935f, 0.37754068f, 0.62245935f}},
    {0, 2, 3, {10, 10}, {0.0f, 1.0f, 0.0f, 1.0f}}, /* c1+, base 2, SOFTMAX_ZERO */
    {0, 2, 4, {10, 10}, {-INFINITY, 0.0f, -INFINITY, 0.0f}}, /* c1+, base 2, PROBIT */
    {1, 0, 0, {10, 20}, {0.0f, -0.3f, 0.0f, 0.8f}}, /* c1+-, no base, NONE */
    {1, 0, 1, {10, 20}, {0.5f, 0.4255575f, 0.5f, 0.6899745f}}, /* c1+-, no base, LOGISTIC */
    {1, 0, 2, {10, 20}, {0.5744425f, 0.42555746f, 0.31002554f, 0.6899745f}},
    {1, 0, 3, {10, 20}, {0.0f, 1.0f, 0.0f, 1.0f}}, /* c1+-, no base, SOFTMAX_ZERO */
    {1, 0, 4, {10, 20}, {-INFINITY, NAN, -INFINITY, 0.8417561f}}, /* c1+-, no base, PROBIT */
    {1, 1, 0, {10, 20}, {0.0f, -0.3f, 0.0f, 0.8f}}, /* c1+-, base 1, NONE */
    {1, 1, 1, {10, 20}, {0.5f, 0.4255575f, 0.5f, 0.6899745f}}, /* c1+-, base 1, LOGISTIC */
    {1, 1, 2, {10, 20}, {0.5744425f, 0.42555746f, 0.31002554f, 0.6899745f}},
    {1, 1, 3, {10, 20}, {0.0f, 1.0f, 0.0f, 1.0f}}, /* c1+-, base 1, SOFTMAX_ZERO */
    {1, 1, 4, {10, 20}, {-INFINITY, NAN, -INFINITY, 0.8417561f}}, /* c1+-, base 1, PROBIT */
    {1, 2, 0, {20, 20}, {0.0f, 0.5f, 0.0f, 0.5f}}, /* c1+-, base 2, NONE */
    {1, 2, 1, {20, 20}, {0.5f, 0.62245935f, 0.5f, 0.62245935f}}, /* c1+-, base 2, LOGISTIC */
    {1, 2, 2, {20, 20}, {0.37754068f, 0.62245935f, 0.37754068f, 0.62245935f}},
    {1, 2, 3, {20, 20}, {0.0f, 1.0f, 0.0f, 1.0f}}, /* c1+-, base 2, SOFTMAX_ZERO */
    {1, 2, 4, {20, 20}, {-INFINITY, 0.0f, -INFINITY, 0.0f}}, /* c1+-, base 2, PROBIT */
    {2, 0, 0, {10, 20}, {0.7f, 0.3f, 0.19999999f, 0.8f}}, /* c0+, no base, NONE */
    {2, 0, 1, {10, 20}, {0.4255575f, 0.5744425f, 0.3100255f, 0.6899745f}},
    {2, 0, 2, {10, 20}, {0.7f, 0.3f, 0.19999999f, 0.8f}}, /* c0+, no base, SOFTMAX */
    {2, 0, 3, {10, 20}, {0.7f, 0.3f, 0.19999999f, 0.8f}}, /* c0+, no base, SOFTMAX_ZERO */
    {2, 0, 4, {10, 20}, {-0.5244459f, 0.0f, 0.8417561f, 0.0f}}, /* c0+, no base, PROBIT */
    {2, 1, 0, {20, 20}, {0.45f, 0.55f, -0.049999952f, 1.05f}}, /* c0+, base 1, NONE */
    {2, 1, 1, {20, 20}, {0.3658644f, 0.6341356f, 0.25922513f, 0.74077487f}},
    {2, 1, 2, {20, 20}, {0.45f, 0.55f, -0.049999952f, 1.05f}}, /* c0+, base 1, SOFTMAX */
    {2, 1, 3, {20, 20}, {0.45f, 0.55f, -0.049999952f, 1.05f}}, /* c0+, base 1, SOFTMAX_ZERO */
    {2, 1, 4, {20, 20}, {0.12566201f, 0.0f, NAN, 0.0f}}, /* c0+, base 1, PROBIT */
    {2, 2, 0, {20, 20}, {0.55f, 0.0f, 1.05f, 0.0f}}, /* c0+, base 2, NONE */
    {2, 2, 1, {20, 20}, {0.6341356f, 0.5f, 0.74077487f, 0.5f}}, /* c0+, base 2, LOGISTIC */
    {2, 2, 2, {20, 20}, {0.6341356f, 0.36586437f, 0.74077487f, 0.2592251f}},
    {2, 2, 3, {20, 20}, {1.0f, 0.0f, 1.0f, 0.0f}}, /* c0+, base 2, SOFTMAX_ZERO */
    {2, 2, 4, {20, 20}, {0.12566201f, -INFINITY, NAN, -INFINITY}}, /* c0+, base 2, PROBIT */
    {3, 0, 0, {10, 20}, {0.3f, -0.3f, -0.8f, 0.8f}}, /* c0+-, no base, NONE */
    {3, 0, 1, {10, 20}, {0.5744425f, 0.4255575f, 0.3100255f, 0.6899745f}},
    {3, 0, 2, {10, 20}, {0.3f, -0.3f, -0.8f, 0.8f}}, /* c0+-, no base, SOFTMAX */
    {3, 0, 3, {10, 20}, {0.3f, -0.3f, -0.8f, 0.8f}}, /* c0+-, no base, SOFTMAX_ZERO */
    {3, 0, 4, {10, 20}, {NAN, 0.0f, 0.8417561f, 0.0f}}, /* c0+-, no base, PROBIT */
    {3, 1, 0, {10, 20}, {0.050000012f, -0.050000012f, -1.05f, 1.05f}}, /* c0+-, base 1, NONE */
    {3, 1, 1, {10, 20}, {0.5124974f, 0.48750257f, 0.25922513f, 0.74077487f}},
    {3, 1, 2, {10, 20}, {0.050000012f, -0.050000012f, -1.05f, 1.05f}}, /* c0+-, base 1, SOFTMAX */
    {3, 1, 3, {10, 20}, {0.050000012f, -0.050000012f, -1.05f, 1.05f}},
    {3, 1, 4, {10, 20}, {NAN, 0.0f, NAN, 0.0f}}, /* c0+-, base 1, PROBIT */
    {3, 2, 0, {10, 20}, {-0.050000012f, 0.0f, 1.05f, 0.0f}}, /* c0+-, base 2, NONE */
    {3, 2, 1, {10, 20}, {0.48750257f, 0.5f, 0.74077487f, 0.5f}}, /* c0+-, base 2, LOGISTIC */
    {3, 2, 2, {10, 20}, {0.4875026f, 0.5124974f, 0.74077487f, 0.2592251f}},
    {3, 2, 3, {10, 20}, {1.0f, 0.0f, 1.0f, 0.0f}}, /* c0+-, base 2, SOFTMAX_ZERO */
    {3, 2, 4, {10, 20}, {NAN, -INFINITY, NAN, -INFINITY}}, /* c0+-, base 2, PROBIT */
    {4, 0, 0, {1, 1}, {-0.3f, 0.3f, 0.0f, 0.8f}}, /* split, no base, NONE */
    {4, 0, 1, {1, 1}, {0.4255575f, 0.5744425f, 0.5f, 0.6899745f}}, /* split, no base, LOGISTIC */
    {4, 0, 2, {1, 1}, {-0.3f, 0.3f, 0.31002554f, 0.6899745f}}, /* split, no base, SOFTMAX */
    {4, 0, 3, {1, 1}, {-0.3f, 0.3f, 0.0f, 1.0f}}, /* split, no base, SOFTMAX_ZERO */
    {4, 0, 4, {1, 1}, {-0.5244459f, 0.0f, -INFINITY, 0.8417561f}}, /* split, no base, PROBIT */
    {4, 1, 0, {1, 1}, {0.55f, 0.0f, 0.0f, 0.8f}}, /* split, base 1, NONE */
    {4, 1, 1, {1, 1}, {0.55f, 0.0f, 0.5f, 0.6899745f}}, /* split, base 1, LOGISTIC */
    {4, 1, 2, {1, 1}, {0.55f, 0.0f, 0.31002554f, 0.6899745f}}, /* split, base 1, SOFTMAX */
    {4, 1, 3, {1, 1}, {0.55f, 0.0f, 0.0f, 1.0f}}, /* split, base 1, SOFTMAX_ZERO */
    {4, 1, 4, {1, 1}, {0.12566201f, 0.0f, -INFINITY, 0.8417561f}}, /* split, base 1, PROBIT */
    {4, 2, 0, {1, 1}, {0.55f, 0.0f, 0.0f, 0.5f}}, /* split, base 2, NONE */
    {4, 2, 1, {1, 1}, {0.6341356f, 0.5f, 0.5f, 0.62245935f}}, /* split, base 2, LOGISTIC */
    {4, 2, 2, {1, 1}, {0.6341356f, 0.36586437f, 0.37754068f, 0.62245935f}},
    {4, 2, 3, {1, 1}, {1.0f, 0.0f, 0.0f, 1.0f}}, /* split, base 2, SOFTMAX_ZERO */
    {4, 2, 4, {1, 1}, {0.12566201f, -INFINITY, -INFINITY, 0.0f}}, /* split, base 2, PROBIT */
    {5, 0, 0, {0, 1}, {0.3f, -0.3f, 0.0f, 0.8f}}, /* split+-, no base, NONE */
    {5, 0, 1, {0, 1}, {0.5744425f, 0.4255575f, 0.5f, 0.6899745f}}, /* split+-, no base, LOGISTIC */
    {5, 0, 2, {0, 1}, {0.3f, -0.3f, 0.31002554f, 0.6899745f}}, /* split+-, no base, SOFTMAX */
    {5, 0, 3, {0, 1}, {0.3f, -0.3f, 0.0f, 1.0f}}, /* split+-, no base, SOFTMAX_ZERO */
    {5, 0, 4, {0, 1}, {NAN, 0.0f, -INFINITY, 0.8417561f}}, /* split+-, no base, PROBIT */
    {5, 1, 0, {0, 1}, {-0.050000012f, 0.0f, 0.0f, 0.8f}}, /* split+-, base 1, NONE */
    {5, 1, 1, {0, 1}, {-0.050000012f, 0.0f, 0.5f, 0.6899745f}}, /* split+-, base 1, LOGISTIC */
    {5, 1, 2, {0, 1}, {-0.050000012f, 0.0f, 0.31002554f, 0.6899745f}},
    {5, 1, 3, {0, 1}, {-0.050000012f, 0.0f, 0.0f, 1.0f}}, /* split+-, base 1, SOFTMAX_ZERO */
    {5, 1, 4, {0, 1}, {NAN, 0.0f, -INFINITY, 0.8417561f}}, /* split+-, base 1, PROBIT */
    {5, 2, 0, {0, 1}, {-0.050000012f, 0.0f, 0.0f, 0.5f}}, /* split+-, base 2, NONE */
    {5, 2, 1, {0, 1}, {0.48750257f, 0.5f, 0.5f, 0.62245935f}}, /* split+-, base 2, LOGISTIC */
    {5, 2, 2, {0, 1}, {0.4875026f, 0.5124974f, 0.37754068f, 0.62245935f}},
    {5, 2, 3, {0, 1}, {1.0f, 0.0f, 0.0f, 1.0f}}, /* split+-, base 2, SOFTMAX_ZERO */
    {5, 2, 4, {0, 1}, {NAN, -INFINITY, -INFINITY, 0.0f}}, /* split+-, base 2, PROBIT */
    {6, 0, 0, {1, 1}, {0.7f, 0.3f, 0.2f, 0.8f}}, /* full, no base, NONE */
    {6, 0, 1, {1, 1}, {0.66818774f, 0.5744425f, 0.54983395f, 0.6899745f}},
    {6, 0, 2, {1, 1}, {0.59868765f, 0.40131232f, 0.35434368f, 0.6456563f}},
    {6, 0, 3, {1, 1}, {0.59868765f, 0.40131232f, 0.35434368f, 0.6456563f}},
    {6, 0, 4, {1, 1}, {0.5244459f, -0.5244459f, -0.8417561f, 0.8417561f}},
    {6, 1, 0, {1, 1}, {0.95f, 0.3f, 0.45f, 0.8f}}, /* full, base 1, NONE */
    {6, 1, 1, {1, 1}, {0.7211152f, 0.5744425f, 0.6106393f, 0.6899745f}},
    {6, 1, 2, {1, 1}, {0.65701044f, 0.34298953f, 0.4133824f, 0.5866176f}},
    {6, 1, 3, {1, 1}, {0.65701044f, 0.34298953f, 0.4133824f, 0.5866176f}},
    {6, 1, 4, {1, 1}, {1.6446697f, -0.5244459f, -0.12566201f, 0.8417561f}},
    {6, 2, 0, {1, 1}, {-1.2f, 1.2f, -0.7f, 0.7f}}, /* full, base 2, NONE */
    {6, 2, 1, {1, 1}, {0.23147517f, 0.7685248f, 0.33181226f, 0.66818774f}},
    {6, 2, 2, {1, 1}, {0.08317269f, 0.9168273f, 0.19781613f, 0.8021839f}},
    {6, 2, 3, {1, 1}, {0.08317269f, 0.9168273f, 0.19781613f, 0.8021839f}},
    {6, 2, 4, {1, 1}, {NAN, NAN, NAN, 0.5244459f}}, /* full, base 2, PROBIT */
    /* clang-format on */
};

static void test_tree_classifier_binary(void)
{
    static const tw_t cfgs[7][4] = {
        {{0, 1, 1, 0.3f}, {0, 2, 1, 0.8f}},  /* only class 1, positive */
        {{0, 1, 1, -0.3f}, {0, 2, 1, 0.8f}}, /* only class 1, mixed signs */
        {{0, 1, 0, 0.3f}, {0, 2, 0, 0.8f}},  /* only class 0, positive */
        {{0, 1, 0, -0.3f}, {0, 2, 0, 0.8f}}, /* only class 0, mixed */
        {{0, 1, 0, 0.3f}, {0, 2, 1, 0.8f}},  /* class 0 on one leaf, class 1 on the other */
        {{0, 1, 0, -0.3f}, {0, 2, 1, 0.8f}}, /* the same, mixed */
        {{0, 1, 0, 0.7f}, {0, 1, 1, 0.3f}, {0, 2, 0, 0.2f}, {0, 2, 1, 0.8f}}, /* both everywhere */
    };
    static const int nw[7] = {2, 2, 2, 2, 2, 2, 4};
    tn_t nodes[] = {STUMP(0, 0.f)};
    tensor_t x = TF(2, 1, -1.f, 1.f), out[2];
    int bad = 0;
    for (size_t i = 0; i < sizeof bin_table / sizeof *bin_table; i++) {
        nb_t *b = node_new("TreeEnsembleClassifier", 3, 1, 2);
        set_trees(b, nodes, 3, cfgs[bin_table[i].cfg], nw[bin_table[i].cfg], true);
        set_ints(b, "classlabels_int64s", INTS(10, 20));
        set_s(b, "post_transform", posts[bin_table[i].post]);
        if (bin_table[i].base == 1) set_floats(b, "base_values", FLOATS(0.25f));
        if (bin_table[i].base == 2) set_floats(b, "base_values", FLOATS(0.25f, 0.5f));
        if (go(b, &x, NULL, out)) continue;
        const int64_t *y = out[0].data;
        const float *z = out[1].data;
        bool ok = y[0] == bin_table[i].y[0] && y[1] == bin_table[i].y[1];
        for (int k = 0; k < 4; k++) ok = ok && feq(z[k], bin_table[i].z[k]);
        if (!ok && bad++ < 5)
            fprintf(
                stderr, "%s:%d: binary case cfg %d base %d post %s: got %lld %lld [%g %g %g %g]\n",
                __FILE__, __LINE__, bin_table[i].cfg, bin_table[i].base, posts[bin_table[i].post],
                (long long)y[0], (long long)y[1], z[0], z[1], z[2], z[3]);
        CHECK(ok);
    }
    /* String labels when both class ids are used: ORT's not-"binary case" label is
     * classlabels_strings[1] for a positive score, [0] otherwise. */
    nb_t *b = node_new("TreeEnsembleClassifier", 3, 1, 2);
    set_trees(b, nodes, 3, cfgs[5], 2, true);
    set_strs(b, "classlabels_strings", STRS("no", "yes"));
    if (!go(b, &x, NULL, out)) {
        CHECK_S(out[0].data, "no", "yes");
        CHECK_F(out[1].data, 0.3f, -0.3f, 0.f, 0.8f);
    }
    /* INT64 input, BRANCH_LT 2.5; with both classes voting, ORT's label is the literal 1 for a
     * positive class-1 score, whatever the labels are. */
    b = node_new("TreeEnsembleClassifier", 3, 1, 2);
    tn_t n2[] = {
        {0, 0, 0, 2.5f, "BRANCH_LT", 1, 2}, {0, 1, 0, 0, "LEAF", 0, 0}, {0, 2, 0, 0, "LEAF", 0, 0}};
    tw_t w2[] = {{0, 1, 0, 0.9f}, {0, 1, 1, 0.1f}, {0, 2, 0, 0.2f}, {0, 2, 1, 0.8f}};
    set_trees(b, n2, 3, w2, 4, true);
    set_ints(b, "classlabels_int64s", INTS(0, 1));
    tensor_t xi = TI(3, 1, 2, 3, -5);
    if (!go(b, &xi, NULL, out)) {
        CHECK_I(out[0].data, 1, 1, 1);
        CHECK_F(out[1].data, 0.9f, 0.1f, 0.2f, 0.8f, 0.9f, 0.1f);
    }
}

static void test_tree_classifier_multi(void)
{
    tn_t nodes[] = {STUMP(0, 0.f), STUMP(1, 5.f)};
    tw_t w[] = {{0, 1, 0, 0.5f}, {0, 1, 1, 0.2f}, {0, 2, 2, 0.7f},
                {1, 1, 0, 0.1f}, {1, 1, 2, 0.1f}, {1, 2, 1, 0.9f}};
    tensor_t x = TF(3, 1, -1.f, 1.f, 6.f), out[2];
    /* ORT -- [post][no base, base (0.1, -0.2, 0.3)] */
    static const float z[5][2][9] = {
        {{0.600000024f, 0.200000003f, 0.100000001f, 0.100000001f, 0.0f, 0.800000012f, 0.0f,
          0.899999976f, 0.699999988f},
         {0.700000048f, 0.0f, 0.400000006f, 0.200000003f, -0.200000003f, 1.10000002f, 0.100000001f,
          0.699999988f, 1.0f}},
        {{0.645656288f, 0.549833953f, 0.524979174f, 0.524979174f, 0.5f, 0.689974487f, 0.5f,
          0.710949481f, 0.668187737f},
         {0.668187797f, 0.5f, 0.598687649f, 0.549833953f, 0.450166047f, 0.750260115f, 0.524979174f,
          0.668187737f, 0.731058598f}},
        {{0.439203143f, 0.294406682f, 0.266390175f, 0.25519383f, 0.230908915f, 0.51389724f,
          0.182703257f, 0.449377507f, 0.367919177f},
         {0.446946681f, 0.221947134f, 0.331106216f, 0.242135257f, 0.162308112f, 0.595556617f,
          0.189332187f, 0.344985723f, 0.46568203f}},
        {{0.439203143f, 0.294406682f, 0.266390175f, 0.331812203f, 0.0f, 0.668187737f, 0.0f,
          0.549833953f, 0.450165987f},
         {0.574442506f, 0.0f, 0.425557464f, 0.242135257f, 0.162308112f, 0.595556617f, 0.189332187f,
          0.344985723f, 0.46568203f}},
        {{0.253353506f, -0.841756105f, -1.28171289f, -1.28171289f, -INFINITY, 0.841756105f,
          -INFINITY, 1.28171289f, 0.524445891f},
         {0.524445891f, -INFINITY, -0.253353506f, -0.841756105f, NAN, NAN, -1.28171289f,
          0.524445891f, INFINITY}},
    };
    for (int p = 0; p < 5; p++)
        for (int base = 0; base < 2; base++) {
            nb_t *b = node_new("TreeEnsembleClassifier", 1, 1, 2);
            set_trees(b, nodes, 6, w, 6, true);
            set_ints(b, "classlabels_int64s", INTS(7, 8, 9));
            set_s(b, "post_transform", posts[p]);
            if (base) set_floats(b, "base_values", FLOATS(0.1f, -0.2f, 0.3f));
            if (go(b, &x, NULL, out)) continue;
            CHECK_SHAPE(out[0], 3);
            CHECK_SHAPE(out[1], 3, 3);
            if (base)
                CHECK_I(out[0].data, 7, 9, 9);
            else
                CHECK_I(out[0].data, 7, 9, 8);
            check_f(out[1].data, z[p][base], 9, __LINE__);
        }
    /* The Z output may be omitted. */
    nb_t *b = node_new("TreeEnsembleClassifier", 1, 1, 2);
    set_trees(b, nodes, 6, w, 6, true);
    set_strs(b, "classlabels_strings", STRS("x", "y", "z"));
    b->outs[1] = -1;
    if (!go(b, &x, NULL, out)) CHECK_S(out[0].data, "x", "z", "y");
}

static void test_tree_errors(void)
{
    tn_t nodes[] = {STUMP(0, 0.f)};
    tw_t w[] = {{0, 1, 0, 1.f}, {0, 2, 0, 2.f}};
    tensor_t out[2];
    nb_t *b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    set_trees(b, nodes, 3, w, 2, false);
    set_i(b, "n_targets", 1);
    b->a[0].n = 2; /* nodes_treeids shorter than nodes_nodeids */
    CHECK_ERR(prepare(b), "nodes_treeids");
    b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    tn_t bad_child[] = {
        {0, 0, 0, 0.f, "BRANCH_LEQ", 1, 7}, {0, 1, 0, 0, "LEAF", 0, 0}, {0, 2, 0, 0, "LEAF", 0, 0}};
    set_trees(b, bad_child, 3, w, 2, false);
    set_i(b, "n_targets", 1);
    CHECK_ERR(prepare(b), "nodes_falsenodeids");
    b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    tn_t cycle[] = {{0, 0, 0, 0.f, "BRANCH_LEQ", 1, 2},
                    {0, 1, 0, 0, "LEAF", 0, 0},
                    {0, 2, 0, 0.f, "BRANCH_LEQ", 1, 0}};
    set_trees(b, cycle, 3, w, 1, false);
    set_i(b, "n_targets", 1);
    CHECK_ERR(prepare(b), "cycle");
    b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    tn_t self[] = {{0, 0, 0, 0.f, "BRANCH_LEQ", 0, 1}, {0, 1, 0, 0, "LEAF", 0, 0}};
    set_trees(b, self, 2, w, 1, false);
    set_i(b, "n_targets", 1);
    CHECK_ERR(prepare(b), "cycle");
    b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    tn_t dup[] = {
        {0, 0, 0, 0.f, "BRANCH_LEQ", 1, 2}, {0, 1, 0, 0, "LEAF", 0, 0}, {0, 1, 0, 0, "LEAF", 0, 0}};
    set_trees(b, dup, 3, w, 2, false);
    set_i(b, "n_targets", 1);
    CHECK_ERR(prepare(b), "twice");
    b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    tn_t badmode[] = {{0, 0, 0, 0.f, "BRANCH_SOMETIMES", 1, 2},
                      {0, 1, 0, 0, "LEAF", 0, 0},
                      {0, 2, 0, 0, "LEAF", 0, 0}};
    set_trees(b, badmode, 3, w, 2, false);
    set_i(b, "n_targets", 1);
    CHECK_ERR(prepare(b), "nodes_modes");
    b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    tw_t w_bad_node[] = {{0, 1, 0, 1.f}, {0, 9, 0, 2.f}};
    set_trees(b, nodes, 3, w_bad_node, 2, false);
    set_i(b, "n_targets", 1);
    CHECK_ERR(prepare(b), "target_nodeids");
    b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    tw_t w_bad_target[] = {{0, 1, 0, 1.f}, {0, 2, 1, 2.f}};
    set_trees(b, nodes, 3, w_bad_target, 2, false);
    set_i(b, "n_targets", 1);
    CHECK_ERR(prepare(b), "target_ids");
    b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    set_trees(b, nodes, 3, w, 2, false);
    CHECK_ERR(prepare(b), "n_targets");
    b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    set_trees(b, nodes, 3, w, 2, false);
    set_i(b, "n_targets", 1);
    set_s(b, "aggregate_function", "MEDIAN");
    CHECK_ERR(prepare(b), "aggregate_function");
    b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    set_trees(b, nodes, 3, w, 2, false);
    set_i(b, "n_targets", 1);
    set_floats(b, "base_values", FLOATS(1.f, 2.f, 3.f));
    CHECK_ERR(prepare(b), "base_values");
    b = node_new("TreeEnsembleRegressor", 3, 1, 1); /* ORT 1.30: 0 or n_targets values */
    set_trees(b, nodes, 3, w, 2, false);
    set_i(b, "n_targets", 2);
    set_floats(b, "base_values", FLOATS(1.f));
    CHECK_ERR(prepare(b), "base_values");
    b = node_new("TreeEnsembleClassifier", 3, 1, 2); /* 0 or n classes (1 allowed for 2) */
    set_trees(b, nodes, 3, w, 2, true);
    set_ints(b, "classlabels_int64s", INTS(0, 1, 2));
    set_floats(b, "base_values", FLOATS(1.f, 2.f));
    CHECK_ERR(prepare(b), "base_values");
    b = node_new("TreeEnsembleClassifier", 3, 1, 2);
    tw_t w_bad_class[] = {{0, 1, 0, 1.f}, {0, 2, 2, 2.f}};
    set_trees(b, nodes, 3, w_bad_class, 2, true);
    set_ints(b, "classlabels_int64s", INTS(0, 1));
    CHECK_ERR(prepare(b), "class_ids");
    b = node_new("TreeEnsembleClassifier", 3, 1, 2);
    set_trees(b, nodes, 3, w, 2, true);
    b->a[8].n = 1; /* class_nodeids shorter */
    set_ints(b, "classlabels_int64s", INTS(0, 1));
    CHECK_ERR(prepare(b), "class_nodeids");
    b = node_new("TreeEnsembleClassifier", 3, 1, 2);
    set_trees(b, nodes, 3, w, 2, true);
    CHECK_ERR(prepare(b), "classlabels");
    /* The trees use feature 0..1 but X has one column. */
    b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    tn_t f1[] = {
        {0, 0, 1, 0.f, "BRANCH_LEQ", 1, 2}, {0, 1, 0, 0, "LEAF", 0, 0}, {0, 2, 0, 0, "LEAF", 0, 0}};
    set_trees(b, f1, 3, w, 2, false);
    set_i(b, "n_targets", 1);
    tensor_t x = TF(1, 1, 0.f);
    CHECK(prepare(b) == 0);
    CHECK_ERR(exec(b, &x, NULL, out), "feature 1");
    tensor_t x3 = {.dtype = DT_FLOAT, .rank = 3, .dims = {1, 1, 1}, .data = (float[]){0.f}};
    CHECK_ERR(exec(b, &x3, NULL, out), "[N,F]");
    /* TreeEnsemble* are deprecated in ai.onnx.ml 5 (ORT refuses them there). */
    CHECK(ops_find("ai.onnx.ml", "TreeEnsembleRegressor", 5) == NULL);
    CHECK(ops_find("ai.onnx.ml", "TreeEnsembleRegressor", 4) != NULL);
}

/* ============================== tree benchmark ============================== */

static uint32_t rng = 12345;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / 16777216.f;
}

/* 100 complete trees of depth 8 over 20 features, 1000 rows: prints the time per batch with
 * rows-inside-trees blocks (the default) and trees-inside-rows. Not asserted; both orders must
 * agree exactly. */
static void bench_trees(void)
{
    enum { TREES = 100, DEPTH = 8, FEAT = 20, ROWS = 1000 };
    const int per = (1 << (DEPTH + 1)) - 1, leaves = 1 << DEPTH;
    int64_t n = (int64_t)TREES * per, nl = (int64_t)TREES * leaves;
    int64_t *tid = malloc(n * 8), *nid = malloc(n * 8), *fid = malloc(n * 8), *yes = malloc(n * 8),
            *no = malloc(n * 8), *wt = malloc(nl * 8), *wn = malloc(nl * 8), *wi = calloc(nl, 8);
    float *thr = malloc(n * 4), *wv = malloc(nl * 4), *xs = malloc(ROWS * FEAT * 4);
    const char **mode = malloc(n * sizeof *mode);
    int64_t k = 0, l = 0;
    for (int t = 0; t < TREES; t++)
        for (int i = 0; i < per; i++, k++) {
            bool leaf = i >= per - leaves;
            tid[k] = t, nid[k] = i, fid[k] = leaf ? 0 : (int64_t)(frand() * FEAT);
            yes[k] = leaf ? 0 : 2 * i + 1, no[k] = leaf ? 0 : 2 * i + 2;
            thr[k] = leaf ? 0 : frand(), mode[k] = leaf ? "LEAF" : "BRANCH_LEQ";
            if (leaf) wt[l] = t, wn[l] = i, wv[l++] = frand() - 0.5f;
        }
    for (int i = 0; i < ROWS * FEAT; i++) xs[i] = frand();
    nb_t *b = node_new("TreeEnsembleRegressor", 3, 1, 1);
    set_ints(b, "nodes_treeids", tid, n);
    set_ints(b, "nodes_nodeids", nid, n);
    set_ints(b, "nodes_featureids", fid, n);
    set_ints(b, "nodes_truenodeids", yes, n);
    set_ints(b, "nodes_falsenodeids", no, n);
    set_floats(b, "nodes_values", thr, n);
    set_strs(b, "nodes_modes", mode, n);
    set_ints(b, "target_treeids", wt, nl);
    set_ints(b, "target_nodeids", wn, nl);
    set_ints(b, "target_ids", wi, nl);
    set_floats(b, "target_weights", wv, nl);
    set_i(b, "n_targets", 1);
    tensor_t x = ten(DT_FLOAT, 2, ROWS, FEAT, xs), out[2];
    float *ref = malloc(ROWS * 4);
    double best[2] = {1e9, 1e9};
    if (prepare(b) == 0) {
        static const int blocks[2] = {128, 1};
        for (int rep = 0; rep < 5; rep++)
            for (int m = 0; m < 2; m++) {
                ml_tree_block = blocks[m];
                struct timespec t0, t1;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                int rc = exec(b, &x, NULL, out);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                double dt = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
                if (dt < best[m]) best[m] = dt;
                if (rc == 0 && rep == 0 && m == 0) memcpy(ref, out[0].data, ROWS * 4);
                if (rc == 0 && rep == 0 && m == 1) CHECK(memcmp(ref, out[0].data, ROWS * 4) == 0);
            }
        ml_tree_block = 128;
        printf("trees: 100 trees x depth 8 x 1000 rows: %.3f ms rows-inside-trees (blocks of 128), "
               "%.3f ms trees-inside-rows\n",
               best[0], best[1]);
    } else {
        fprintf(stderr, "bench prepare failed: %s\n", ERR);
        th_failed++;
    }
    free(tid), free(nid), free(fid), free(yes), free(no), free(wt), free(wn), free(wi);
    free(thr), free(wv), free(xs), free(mode), free(ref);
}

/* ============================== feature transforms ============================== */

static void test_scaler_normalizer(void)
{
    tensor_t x = TF(2, 3, -2.f, -1.f, 0.f, 3.f, 0.f, 4.f), out[2];
    nb_t *b = node_new("Scaler", 1, 1, 1);
    set_floats(b, "scale", FLOATS(2.f, 0.5f, 1.f));
    set_floats(b, "offset", FLOATS(1.f, 0.f, -1.f));
    if (!go(b, &x, NULL, out)) CHECK_F(out[0].data, -6.f, -0.5f, 1.f, 4.f, 0.f, 5.f); /* ORT */
    tensor_t xi = TI(1, 3, 1, 2, 3), xd = TD(1, 3, 1., 2., 3.);
    if (!exec(b, &xi, NULL, out)) CHECK_F(out[0].data, 0.f, 1.f, 4.f);
    if (!exec(b, &xd, NULL, out)) {
        CHECK(out[0].dtype == DT_FLOAT);
        CHECK_F(out[0].data, 0.f, 1.f, 4.f);
    }
    b = node_new("Scaler", 1, 1, 1);
    set_floats(b, "scale", FLOATS(2.f));
    set_floats(b, "offset", FLOATS(1.f));
    if (!go(b, &x, NULL, out)) CHECK_F(out[0].data, -6.f, -4.f, -2.f, 4.f, -2.f, 6.f); /* ORT */
    b = node_new("Scaler", 1, 1, 1);
    set_floats(b, "scale", FLOATS(2.f, 1.f));
    set_floats(b, "offset", FLOATS(1.f, 1.f));
    CHECK(prepare(b) == 0);
    CHECK_ERR(exec(b, &x, NULL, out), "scale");
    b = node_new("Scaler", 1, 1, 1);
    set_floats(b, "scale", FLOATS(2.f));
    set_floats(b, "offset", FLOATS(1.f, 0.f, -1.f));
    CHECK_ERR(prepare(b), "offset");

    /* Normalizer, ORT: MAX divides by the (signed) maximum; L2 is sqrt(x^2 / sum) with sign. */
    static const char *const norms[] = {"MAX", "L1", "L2"};
    static const float want[3][6] = {
        {-2.f, -1.f, 0.f, 0.75f, 0.f, 1.f},
        {-0.666666687f, -0.333333343f, 0.f, 0.428571433f, 0.f, 0.571428597f},
        {-0.89442718f, -0.44721359f, 0.f, 0.600000024f, 0.f, 0.800000012f},
    };
    for (int k = 0; k < 3; k++) {
        b = node_new("Normalizer", 1, 1, 1);
        set_s(b, "norm", norms[k]);
        if (!go(b, &x, NULL, out)) check_f(out[0].data, want[k], 6, __LINE__);
    }
    tensor_t z = TF(1, 2, 0.f, 0.f), x1 = ten(DT_INT64, 1, 3, 0, (const int64_t[]){1, 2, 3});
    if (!exec(b, &z, NULL, out)) CHECK_F(out[0].data, 0.f, 0.f); /* all zero: copied */
    b = node_new("Normalizer", 1, 1, 1);
    set_s(b, "norm", "L1");
    if (!go(b, &x1, NULL, out)) {
        CHECK_SHAPE(out[0], 3);
        CHECK_F(out[0].data, 0.166666672f, 0.333333343f, 0.5f);
    }
    tensor_t x3 = {.dtype = DT_FLOAT, .rank = 3, .dims = {1, 2, 2}, .data = (float[]){1, 2, 3, 4}};
    CHECK_ERR(exec(b, &x3, NULL, out), "rank");
    b = node_new("Normalizer", 1, 1, 1);
    set_s(b, "norm", "L3");
    CHECK_ERR(prepare(b), "norm");
}

static void test_imputer_binarizer(void)
{
    tensor_t out[2];
    tensor_t x = TF(2, 3, NAN, 1.f, NAN, 2.f, NAN, 0.f);
    nb_t *b = node_new("Imputer", 1, 1, 1);
    set_floats(b, "imputed_value_floats", FLOATS(7.f, 8.f, 9.f));
    set_f(b, "replaced_value_float", NAN);
    if (!go(b, &x, NULL, out)) CHECK_F(out[0].data, 7.f, 1.f, 9.f, 2.f, 8.f, 0.f); /* ORT */
    tensor_t xd = TD(1, 3, NAN, 5., NAN);
    if (!exec(b, &xd, NULL, out)) {
        CHECK(out[0].dtype == DT_DOUBLE);
        CHECK(((double *)out[0].data)[0] == 7. && ((double *)out[0].data)[2] == 9.);
    }
    /* A list neither 1 nor F long: its first value is used (ORT). */
    b = node_new("Imputer", 1, 1, 1);
    set_floats(b, "imputed_value_floats", FLOATS(7.f, 8.f));
    tensor_t x2 = TF(2, 3, -2.f, -1.f, 0.f, 3.f, 0.f, 4.f);
    if (!go(b, &x2, NULL, out)) CHECK_F(out[0].data, -2.f, -1.f, 7.f, 3.f, 7.f, 4.f);
    b = node_new("Imputer", 1, 1, 1);
    set_ints(b, "imputed_value_int64s", INTS(-1));
    set_i(b, "replaced_value_int64", 3);
    tensor_t xi = TI(1, 3, 3, 4, 3);
    if (!go(b, &xi, NULL, out)) CHECK_I(out[0].data, -1, 4, -1);
    CHECK_ERR(exec(b, &x, NULL, out), "imputed_value_floats");
    b = node_new("Imputer", 1, 1, 1);
    CHECK_ERR(prepare(b), "imputed_value");

    /* Binarizer: threshold defaults to 0 (ORT); the output keeps X's type; NaN is an error. */
    b = node_new("Binarizer", 1, 1, 1);
    tensor_t xb = TF(2, 2, 0.5f, 1.f, 1.5f, -1.f);
    if (!go(b, &xb, NULL, out)) CHECK_F(out[0].data, 1.f, 1.f, 1.f, 0.f);
    b = node_new("Binarizer", 1, 1, 1);
    set_f(b, "threshold", 1.f);
    if (!go(b, &xb, NULL, out)) CHECK_F(out[0].data, 0.f, 0.f, 1.f, 0.f);
    tensor_t xbi = TI(1, 3, 0, 1, 2);
    if (!exec(b, &xbi, NULL, out)) {
        CHECK(out[0].dtype == DT_INT64);
        CHECK_I(out[0].data, 0, 0, 1);
    }
    tensor_t xn = TF(1, 2, 0.5f, NAN);
    CHECK_ERR(exec(b, &xn, NULL, out), "NaN");
}

static void test_one_hot(void)
{
    tensor_t out[2];
    nb_t *b = node_new("OneHotEncoder", 1, 1, 1);
    set_ints(b, "cats_int64s", INTS(1, 2, 3));
    tensor_t xf = TF(1, 3, 2.7f, -1.5f, 3.f); /* reals are truncated: 2, -1, 3 (ORT) */
    if (!go(b, &xf, NULL, out)) {
        CHECK_SHAPE(out[0], 1, 3, 3);
        CHECK_F(out[0].data, 0, 1, 0, 0, 0, 0, 0, 0, 1);
    }
    tensor_t xi = TI(1, 2, 3, 1);
    if (!exec(b, &xi, NULL, out)) CHECK_F(out[0].data, 0, 0, 1, 1, 0, 0);
    b = node_new("OneHotEncoder", 1, 1, 1);
    set_ints(b, "cats_int64s", INTS(1, 2, 3));
    set_i(b, "zeros", 0);
    tensor_t xu = TI(1, 2, 2, 5);
    CHECK(prepare(b) == 0);
    CHECK_ERR(exec(b, &xu, NULL, out), "zeros");
    b = node_new("OneHotEncoder", 1, 1, 1);
    set_strs(b, "cats_strings", STRS("a", "b"));
    tensor_t xs = ten(DT_STRING, 2, 2, 1, (const char *const[]){"b", "q"});
    if (!go(b, &xs, NULL, out)) {
        CHECK_SHAPE(out[0], 2, 1, 2);
        CHECK_F(out[0].data, 0, 1, 0, 0);
    }
    CHECK_ERR(exec(b, &xi, NULL, out), "strings");
    b = node_new("OneHotEncoder", 1, 1, 1);
    CHECK_ERR(prepare(b), "cats_");
}

static void test_array_feature_extractor(void)
{
    tensor_t out[2];
    tensor_t x = TF(2, 3, -2.f, -1.f, 0.f, 3.f, 0.f, 4.f);
    tensor_t idx = ten(DT_INT64, 2, 1, 2, (const int64_t[]){2, 0});
    nb_t *b = node_new("ArrayFeatureExtractor", 1, 2, 1);
    if (!go(b, &x, &idx, out)) {
        CHECK_SHAPE(out[0], 2, 2);
        CHECK_F(out[0].data, 0.f, -2.f, 4.f, 3.f); /* ORT */
    }
    tensor_t x1 = ten(DT_FLOAT, 1, 3, 0, (const float[]){1.f, 2.f, 3.f});
    if (!exec(b, &x1, &idx, out)) { /* [F] gives [1, K] (ORT) */
        CHECK_SHAPE(out[0], 1, 2);
        CHECK_F(out[0].data, 3.f, 1.f);
    }
    tensor_t xs = ten(DT_STRING, 2, 1, 2, (const char *const[]){"a", "b"});
    tensor_t i1 = ten(DT_INT64, 1, 1, 0, (const int64_t[]){1});
    if (!exec(b, &xs, &i1, out)) CHECK_S(out[0].data, "b");
    tensor_t x3 = {
        .dtype = DT_INT32, .rank = 3, .dims = {2, 1, 2}, .data = (int32_t[]){1, 2, 3, 4}};
    if (!exec(b, &x3, &i1, out)) {
        CHECK_SHAPE(out[0], 2, 1, 1);
        CHECK(((int32_t *)out[0].data)[0] == 2 && ((int32_t *)out[0].data)[1] == 4);
    }
    tensor_t neg = ten(DT_INT64, 1, 1, 0, (const int64_t[]){-1});
    tensor_t big = ten(DT_INT64, 1, 1, 0, (const int64_t[]){3});
    CHECK_ERR(exec(b, &x, &neg, out), "outside");
    CHECK_ERR(exec(b, &x, &big, out), "outside");
}

static void test_zipmap(void)
{
    tensor_t out[2];
    tensor_t x = TF(2, 2, 0.1f, 0.9f, 0.3f, 0.7f);
    nb_t *b = node_new("ZipMap", 1, 1, 1);
    set_ints(b, "classlabels_int64s", INTS(3, 7));
    if (!go(b, &x, NULL, out)) {
        CHECK_SHAPE(out[0], 2, 2);
        CHECK(out[0].map_keys && out[0].map_keys->dtype == DT_INT64);
        CHECK(out[0].map_keys && out[0].map_keys->dims[0] == 2);
        CHECK_I(out[0].map_keys->data, 3, 7);
        CHECK_F(out[0].data, 0.1f, 0.9f, 0.3f, 0.7f);
    }
    b = node_new("ZipMap", 1, 1, 1);
    set_strs(b, "classlabels_strings", STRS("no", "yes"));
    tensor_t x1 = ten(DT_FLOAT, 1, 2, 0, (const float[]){0.25f, 0.75f});
    if (!go(b, &x1, NULL, out)) {
        CHECK_SHAPE(out[0], 1, 2);
        CHECK(out[0].map_keys && out[0].map_keys->dtype == DT_STRING);
        CHECK_S(out[0].map_keys->data, "no", "yes");
    }
    tensor_t x3 = TF(1, 3, 0.1f, 0.2f, 0.7f);
    CHECK_ERR(exec(b, &x3, NULL, out), "columns");
    b = node_new("ZipMap", 1, 1, 1);
    CHECK_ERR(prepare(b), "classlabels");
}

/* ============================== LabelEncoder ============================== */

static void test_label_encoder(void)
{
    tensor_t out[2];
    tensor_t xs = ten(DT_STRING, 1, 3, 0, (const char *const[]){"b", "zz", "a"});
    tensor_t xi = ten(DT_INT64, 1, 3, 0, (const int64_t[]){2, 5, -1});
    /* v1: classes_strings, string -> position and position -> string (ORT). */
    nb_t *b = node_new("LabelEncoder", 1, 1, 1);
    set_strs(b, "classes_strings", STRS("a", "b", "c"));
    set_i(b, "default_int64", -7);
    if (!go(b, &xs, NULL, out)) CHECK_I(out[0].data, 1, -7, 0);
    if (!exec(b, &xi, NULL, out)) CHECK_S(out[0].data, "c", "_Unused", "_Unused");
    /* v2: every key/value pairing, with defaults. */
    b = node_new("LabelEncoder", 2, 1, 1);
    set_strs(b, "keys_strings", STRS("a", "b", "a"));
    set_ints(b, "values_int64s", INTS(1, 2, 3));
    if (!go(b, &xs, NULL, out)) CHECK_I(out[0].data, 2, -1, 1); /* first of repeated keys */
    b = node_new("LabelEncoder", 2, 1, 1);
    set_ints(b, "keys_int64s", INTS(2, 5));
    set_strs(b, "values_strings", STRS("two", "five"));
    set_s(b, "default_string", "?");
    if (!go(b, &xi, NULL, out)) CHECK_S(out[0].data, "two", "five", "?");
    b = node_new("LabelEncoder", 2, 1, 1);
    set_strs(b, "keys_strings", STRS("a", "b"));
    set_floats(b, "values_floats", FLOATS(1.5f, 2.5f));
    if (!go(b, &xs, NULL, out)) {
        CHECK_F(out[0].data, 2.5f, 0.f, 1.5f);
        CHECK(signbit(((float *)out[0].data)[1])); /* default_float is -0.0 */
    }
    b = node_new("LabelEncoder", 2, 1, 1);
    set_floats(b, "keys_floats", FLOATS(NAN, 1.f, -0.f));
    set_floats(b, "values_floats", FLOATS(5.f, 6.f, 8.f));
    set_f(b, "default_float", 9.f);
    tensor_t xf = ten(DT_FLOAT, 1, 4, 0, (const float[]){NAN, 1.f, 3.f, 0.f});
    if (!go(b, &xf, NULL, out))
        CHECK_F(out[0].data, 9.f, 6.f, 9.f, 8.f); /* v2: NaN never matches */
    b->n.opset = 4;
    if (!go(b, &xf, NULL, out)) CHECK_F(out[0].data, 5.f, 6.f, 9.f, 8.f); /* v4: NaN matches NaN */
    b = node_new("LabelEncoder", 3, 1, 1);
    set_ints(b, "keys_int64s", INTS(INT64_MAX, 1));
    set_ints(b, "values_int64s", INTS(10, 11));
    tensor_t xbig = ten(DT_INT64, 1, 2, 0, (const int64_t[]){INT64_MAX, INT64_MAX - 1});
    if (!go(b, &xbig, NULL, out)) CHECK_I(out[0].data, 10, -1);
    CHECK_ERR(exec(b, &xs, NULL, out), "keys");
    /* v4: tensor keys/values/default, INT32 -> DOUBLE. */
    b = node_new("LabelEncoder", 4, 1, 1);
    set_tensor(b, "keys_tensor", DT_INT32, 2, (const int32_t[]){4, 8});
    set_tensor(b, "values_tensor", DT_DOUBLE, 2, (const double[]){0.25, 0.5});
    set_tensor(b, "default_tensor", DT_DOUBLE, 1, (const double[]){-2.});
    tensor_t x32 = ten(DT_INT32, 1, 3, 0, (const int32_t[]){8, 4, 1});
    if (!go(b, &x32, NULL, out)) {
        CHECK(out[0].dtype == DT_DOUBLE);
        const double *d = out[0].data;
        CHECK(d[0] == 0.5 && d[1] == 0.25 && d[2] == -2.);
    }
    b = node_new("LabelEncoder", 4, 1, 1);
    set_strs(b, "keys_strings", STRS("x"));
    set_tensor(b, "values_tensor", DT_INT16, 1, (const int16_t[]){7});
    if (!go(b, &xs, NULL, out)) {
        const int16_t *d = out[0].data;
        CHECK(out[0].dtype == DT_INT16 && d[0] == -1 && d[1] == -1);
    }
    /* Errors. */
    b = node_new("LabelEncoder", 2, 1, 1);
    set_strs(b, "keys_strings", STRS("a", "b"));
    set_ints(b, "values_int64s", INTS(1));
    CHECK_ERR(prepare(b), "keys");
    b = node_new("LabelEncoder", 2, 1, 1);
    set_strs(b, "keys_strings", STRS("a"));
    set_ints(b, "keys_int64s", INTS(1));
    set_ints(b, "values_int64s", INTS(1));
    CHECK_ERR(prepare(b), "keys_");
    b = node_new("LabelEncoder", 4, 1, 1);
    set_strs(b, "keys_strings", STRS("a"));
    set_ints(b, "values_int64s", INTS(1));
    set_tensor(b, "default_tensor", DT_FLOAT, 1, (const float[]){1.f});
    CHECK_ERR(prepare(b), "default_tensor");
}

/* ============================== registry ============================== */

static void test_registry(void)
{
    static const char *const names[] = {"LinearClassifier",
                                        "LinearRegressor",
                                        "Scaler",
                                        "Normalizer",
                                        "Imputer",
                                        "Binarizer",
                                        "OneHotEncoder",
                                        "LabelEncoder",
                                        "ArrayFeatureExtractor",
                                        "ZipMap",
                                        "SVMClassifier",
                                        "SVMRegressor",
                                        "TreeEnsembleClassifier",
                                        "TreeEnsembleRegressor"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        CHECK(ops_find("ai.onnx.ml", names[i], 1) != NULL);
        CHECK(ops_find("ai.onnx.ml", names[i], 4) != NULL);
        CHECK(ops_known("ai.onnx.ml", names[i]));
    }
    CHECK(ops_find("ai.onnx.ml", "LabelEncoder", 5) != NULL);
    CHECK(ops_find("ai.onnx.ml", "DictVectorizer", 1) == NULL);
}

int main(void)
{
    arena_init(&G.arena, 1 << 16);
    test_transforms();
    test_linear_classifier();
    test_linear_regressor();
    test_svm_classifier();
    test_svm_regressor();
    test_tree_modes();
    test_tree_regressor();
    test_tree_classifier_binary();
    test_tree_classifier_multi();
    test_tree_errors();
    test_scaler_normalizer();
    test_imputer_binarizer();
    test_one_hot();
    test_array_feature_extractor();
    test_zipmap();
    test_label_encoder();
    test_registry();
    bench_trees();
    free(X.scratch);
    arena_deinit(&G.arena);
    return TH_DONE();
}
