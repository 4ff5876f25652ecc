/* Unit tests for the ai.onnx operators: each op through the registry, infer then run, against
 * hand-computed values or a plain scalar reference in this file. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops/ops.h"
#include "th.h"

/* ==== harness ==== */

typedef struct tnode {
    node_t n;
    attr_t attrs[8];
    int ins[8], outs[2];
} tnode_t;

static tnode_t *node(const char *op, int opset, int nin)
{
    static tnode_t t;
    memset(&t, 0, sizeof t);
    t.n.name = "n0";
    t.n.op_type = op;
    t.n.domain = "";
    t.n.opset = opset;
    t.n.in = t.ins;
    t.n.nin = nin;
    t.n.out = t.outs;
    t.n.nout = 1;
    t.n.attrs = t.attrs;
    return &t;
}

static attr_t *add_attr(tnode_t *t, const char *name, attr_type_t type)
{
    attr_t *a = &t->attrs[t->n.nattrs++];
    a->name = name;
    a->type = type;
    return a;
}

static void set_int(tnode_t *t, const char *name, int64_t v)
{
    add_attr(t, name, ATTR_INT)->i = v;
}

static void set_float(tnode_t *t, const char *name, float v)
{
    add_attr(t, name, ATTR_FLOAT)->f = v;
}

static void set_ints(tnode_t *t, const char *name, const int64_t *v, int64_t n)
{
    attr_t *a = add_attr(t, name, ATTR_INTS);
    a->ints = v;
    a->n = n;
}

/* A tensor over caller-owned data; shape as "2,3" ("" for a scalar). */
static tensor_t tens(dtype_t dt, const void *data, const char *shape)
{
    tensor_t t;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.data = (void *)data;
    for (const char *p = shape; *p;) {
        char *end;
        t.dims[t.rank++] = strtoll(p, &end, 10);
        p = *end ? end + 1 : end;
    }
    return t;
}

static char err[512];
static exec_ctx_t ctx = {.nthreads = 1, .err = err, .errlen = sizeof err};
static void **allocs;
static int nallocs;

/* Remembers p to free at exit, so the sanitizer's leak check stays quiet. */
static void *track(void *p)
{
    allocs = realloc(allocs, sizeof *allocs * (size_t)(nallocs + 1));
    allocs[nallocs++] = p;
    return p;
}

/* Infer then run n on inputs (NULL entries are omitted optional inputs). Output buffers are
 * filled with a garbage pattern first, so an op that skips elements shows up. Returns 0, -1 if
 * infer failed, -2 if run failed; err holds the message. */
static int run(tnode_t *t, const tensor_t *in0, const tensor_t *in1, const tensor_t *in2,
               tensor_t *out)
{
    const tensor_t *in[3] = {in0, in1, in2};
    for (int i = 0; i < t->n.nin; i++) t->ins[i] = in[i] ? i : -1;
    const op_def_t *op = ops_find("", t->n.op_type, t->n.opset);
    err[0] = 0;
    if (!op) {
        snprintf(err, sizeof err, "no op %s-%d", t->n.op_type, t->n.opset);
        return -1;
    }
    t->n.op = op;
    memset(out, 0, sizeof *out);
    if (op->infer(&t->n, in, out, err, sizeof err) < 0) return -1;
    size_t nb = tensor_nbytes(out);
    out->data = track(malloc(nb ? nb : 1));
    memset(out->data, 0xA5, nb);
    if (op->run(&t->n, in, out, &ctx) < 0) return -2;
    return 0;
}

static int near_abs(double got, double want, double rel, double abs)
{
    if (isnan(want)) return isnan(got);
    if (isinf(want)) return got == want;
    return fabs(got - want) <= rel * fabs(want) + abs;
}

static int near(double got, double want, double rel)
{
    return near_abs(got, want, rel, 1e-6);
}

/* Elementwise comparison within rel * |want| + abs; the first mismatch is printed. */
#define CHECK_FA(got, want, n, rel, abs)                                                           \
    do {                                                                                           \
        int bad = -1;                                                                              \
        for (int64_t q = 0; q < (int64_t)(n) && bad < 0; q++)                                      \
            if (!near_abs((got)[q], (want)[q], rel, abs)) bad = (int)q;                            \
        if (bad >= 0)                                                                              \
            fprintf(stderr, "  [%d] got %.9g want %.9g\n", bad, (double)(got)[bad],                \
                    (double)(want)[bad]);                                                          \
        CHECK(bad < 0);                                                                            \
    } while (0)

#define CHECK_F(got, want, n, rel) CHECK_FA(got, want, n, rel, 1e-6)

#define CHECK_I(got, want, n)                                                                      \
    do {                                                                                           \
        int bad = -1;                                                                              \
        for (int64_t q = 0; q < (int64_t)(n) && bad < 0; q++)                                      \
            if ((int64_t)(got)[q] != (int64_t)(want)[q]) bad = (int)q;                             \
        if (bad >= 0)                                                                              \
            fprintf(stderr, "  [%d] got %lld want %lld\n", bad, (long long)(got)[bad],             \
                    (long long)(want)[bad]);                                                       \
        CHECK(bad < 0);                                                                            \
    } while (0)

#define CHECK_SHAPE(t, s) CHECK_STR(tensor_shape_str(&(t), (char[200]){0}, 200), s)

/* err contains s */
#define CHECK_ERR(s)                                                                               \
    do {                                                                                           \
        if (!strstr(err, s)) fprintf(stderr, "  error was: %s\n", err);                            \
        CHECK(strstr(err, s) != NULL);                                                             \
    } while (0)

static uint64_t rng = 88172645463325252ull;

static float frand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 4.0 - 2.0);
}

static float *frands(int64_t n)
{
    float *v = track(malloc((size_t)(n ? n : 1) * sizeof *v));
    for (int64_t i = 0; i < n; i++) v[i] = frand();
    return v;
}

/* Element of t under numpy broadcasting for flat output index i of shape o. */
static int64_t bidx(const tensor_t *t, const tensor_t *o, int64_t i)
{
    int64_t off = 0, stride = 1;
    for (int k = o->rank - 1, kt = t->rank - 1; k >= 0; k--, kt--) {
        int64_t c = i % o->dims[k];
        i /= o->dims[k];
        if (kt < 0) continue;
        if (t->dims[kt] != 1) off += c * stride;
        stride *= t->dims[kt];
    }
    return off;
}

/* ==== binary elementwise ==== */

static double ref_bin(const char *op, double x, double y)
{
    if (!strcmp(op, "Add")) return x + y;
    if (!strcmp(op, "Sub")) return x - y;
    if (!strcmp(op, "Mul")) return x * y;
    if (!strcmp(op, "Div")) return x / y;
    return pow(x, y);
}

static void test_binary_broadcast(void)
{
    static const char *const ops[] = {"Add", "Sub", "Mul", "Div", "Pow"};
    static const char *const shapes[][3] = {
        {"4,3", "4,3", "[4,3]"},
        {"5,3", "3", "[5,3]"},
        {"5,1", "1,4", "[5,4]"},
        {"2,3", "", "[2,3]"},
        {"", "2,3", "[2,3]"},
        {"2,3,4", "4", "[2,3,4]"},
        {"2,1,4", "3,1", "[2,3,4]"},
        {"3,1,5", "1,4,1", "[3,4,5]"},
        {"1", "6", "[6]"},
        {"2,3,1", "2,3,5", "[2,3,5]"},
        {"2,0,3", "3", "[2,0,3]"},
        {"", "", "[]"},
        /* Tiled row broadcasts: many short rows, in one chunk or several (341 rows of 3). */
        {"40,3", "3", "[40,3]"},
        {"3", "700,3", "[700,3]"},
        {"2,20,3", "2,1,3", "[2,20,3]"},
        {"3,1,20,4", "3,1,1,4", "[3,1,20,4]"},
    };
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            tensor_t a = tens(DT_FLOAT, NULL, shapes[s][0]), b = tens(DT_FLOAT, NULL, shapes[s][1]);
            a.data = frands(tensor_numel(&a));
            b.data = frands(tensor_numel(&b));
            if (!strcmp(ops[o], "Pow"))
                for (int64_t i = 0; i < tensor_numel(&a); i++)
                    ((float *)a.data)[i] = fabsf(((float *)a.data)[i]) + 0.1f;
            tensor_t y;
            CHECK_EQ(run(node(ops[o], 14, 2), &a, &b, NULL, &y), 0);
            CHECK_SHAPE(y, shapes[s][2]);
            int64_t n = tensor_numel(&y);
            float *want = track(malloc(sizeof(float) * (size_t)(n + 1)));
            for (int64_t i = 0; i < n; i++)
                want[i] = (float)ref_bin(ops[o], ((float *)a.data)[bidx(&a, &y, i)],
                                         ((float *)b.data)[bidx(&b, &y, i)]);
            CHECK_F((float *)y.data, want, n, 1e-6);
        }
    }
    /* A long same-shape run goes through the vectorised clones. */
    tensor_t a = tens(DT_FLOAT, frands(1000), "1000"), b = tens(DT_FLOAT, frands(1000), "1000");
    tensor_t y;
    CHECK_EQ(run(node("Mul", 13, 2), &a, &b, NULL, &y), 0);
    int ok = 1;
    for (int i = 0; i < 1000; i++)
        ok &= ((float *)y.data)[i] == ((float *)a.data)[i] * ((float *)b.data)[i];
    CHECK(ok);

    double da[3] = {1, 2, 3}, db[1] = {0.5};
    a = tens(DT_DOUBLE, da, "3"), b = tens(DT_DOUBLE, db, "1");
    CHECK_EQ(run(node("Div", 7, 2), &a, &b, NULL, &y), 0);
    CHECK_F((double *)y.data, ((double[]){2, 4, 6}), 3, 0);
}

static void test_binary_int_and_errors(void)
{
    int64_t a64[4] = {7, -7, INT64_MAX, 6}, b64[4] = {2, 2, 1, -3};
    tensor_t a = tens(DT_INT64, a64, "4"), b = tens(DT_INT64, b64, "4"), y;
    CHECK_EQ(run(node("Add", 14, 2), &a, &b, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){9, -5, INT64_MIN, 3}), 4); /* wraps */
    CHECK_EQ(run(node("Sub", 14, 2), &a, &b, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){5, -9, INT64_MAX - 1, 9}), 4);
    CHECK_EQ(run(node("Mul", 14, 2), &a, &b, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){14, -14, INT64_MAX, -18}), 4);
    /* Truncating division, as ONNX Runtime (numpy would floor -7/2 to -4). */
    CHECK_EQ(run(node("Div", 14, 2), &a, &b, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){3, -3, INT64_MAX, -2}), 4);

    /* Shape arithmetic: [batch, 4] shape vector times a scalar. */
    int64_t shp[2] = {3, 4}, two = 2;
    a = tens(DT_INT64, shp, "2"), b = tens(DT_INT64, &two, "");
    CHECK_EQ(run(node("Mul", 13, 2), &a, &b, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){6, 8}), 2);

    int32_t a32[3] = {10, -9, 5}, b32[3] = {3, 4, 0};
    a = tens(DT_INT32, a32, "3"), b = tens(DT_INT32, b32, "3");
    CHECK_EQ(run(node("Div", 14, 2), &a, &b, NULL, &y), -2);
    CHECK_ERR("Div: integer division by zero");
    b32[2] = -1;
    CHECK_EQ(run(node("Div", 14, 2), &a, &b, NULL, &y), 0);
    CHECK_I((int32_t *)y.data, ((int32_t[]){3, -2, -5}), 3);
    CHECK_EQ(run(node("Add", 14, 2), &a, &b, NULL, &y), 0);
    CHECK_I((int32_t *)y.data, ((int32_t[]){13, -5, 4}), 3);

    float f[6] = {0};
    a = tens(DT_FLOAT, f, "2,3"), b = tens(DT_FLOAT, f, "2");
    CHECK_EQ(run(node("Add", 14, 2), &a, &b, NULL, &y), -1);
    CHECK_ERR("Add: shapes [2,3] and [2] cannot be broadcast");
    b = tens(DT_INT64, a64, "3");
    CHECK_EQ(run(node("Mul", 14, 2), &a, &b, NULL, &y), -1);
    CHECK_ERR("Mul: A is FP32 but B is INT64");
    a = tens(DT_BOOL, f, "3"), b = tens(DT_BOOL, f, "3");
    CHECK_EQ(run(node("Sub", 14, 2), &a, &b, NULL, &y), -1);
    CHECK_ERR("Sub: unsupported type BOOL");
}

static void test_pow(void)
{
    float x[4] = {1.5f, -2.0f, 3.0f, 0.25f}, e2 = 2.0f, e3 = 3.0f, eh = 0.5f;
    tensor_t a = tens(DT_FLOAT, x, "4"), b = tens(DT_FLOAT, &e2, ""), y;
    CHECK_EQ(run(node("Pow", 15, 2), &a, &b, NULL, &y), 0);
    CHECK_F((float *)y.data, ((float[]){2.25f, 4.0f, 9.0f, 0.0625f}), 4, 0);
    b = tens(DT_FLOAT, &e3, "");
    CHECK_EQ(run(node("Pow", 15, 2), &a, &b, NULL, &y), 0);
    CHECK_F((float *)y.data, ((float[]){3.375f, -8.0f, 27.0f, 0.015625f}), 4, 0);
    b = tens(DT_FLOAT, &eh, "1");
    CHECK_EQ(run(node("Pow", 15, 2), &a, &b, NULL, &y), 0);
    CHECK(isnan(((float *)y.data)[1]));
    CHECK(near(((float *)y.data)[0], sqrt(1.5), 1e-6));
    /* Integer exponent with a float base (opset 12 split the type parameters). */
    int64_t ei[4] = {2, 3, -1, 0};
    b = tens(DT_INT64, ei, "4");
    CHECK_EQ(run(node("Pow", 12, 2), &a, &b, NULL, &y), 0);
    CHECK_EQ(y.dtype, DT_FLOAT);
    CHECK_F((float *)y.data, ((float[]){2.25f, -8.0f, 1.0f / 3.0f, 1.0f}), 4, 1e-6);
    CHECK_EQ(run(node("Pow", 7, 2), &a, &b, NULL, &y), -1);
    CHECK_ERR("Pow: X is FP32 but Y is INT64");
    int64_t bi[3] = {2, -3, 10}, ee = 3;
    a = tens(DT_INT64, bi, "3"), b = tens(DT_INT64, &ee, "");
    CHECK_EQ(run(node("Pow", 13, 2), &a, &b, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){8, -27, 1000}), 3);
}

/* ==== unary ==== */

static double ref_un(const char *op, double x)
{
    if (!strcmp(op, "Neg")) return -x;
    if (!strcmp(op, "Abs")) return fabs(x);
    if (!strcmp(op, "Relu")) return x > 0 ? x : 0;
    if (!strcmp(op, "LeakyRelu")) return x >= 0 ? x : 0.01 * x;
    if (!strcmp(op, "Sigmoid")) return 1 / (1 + exp(-x));
    if (!strcmp(op, "Tanh")) return tanh(x);
    if (!strcmp(op, "Exp")) return exp(x);
    if (!strcmp(op, "Log")) return log(x);
    return sqrt(x);
}

static void test_unary(void)
{
    static const char *const ops[] = {"Neg",  "Abs", "Relu", "LeakyRelu", "Sigmoid",
                                      "Tanh", "Exp", "Log",  "Sqrt"};
    float *x = frands(100);
    double xd[100];
    x[0] = 0.0f, x[1] = -0.0f, x[2] = -30.0f, x[3] = 30.0f;
    for (int i = 0; i < 100; i++) xd[i] = x[i];
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        int pos = !strcmp(ops[o], "Log") || !strcmp(ops[o], "Sqrt");
        float in[100], want[100];
        double ind[100], wantd[100];
        for (int i = 0; i < 100; i++) {
            in[i] = pos ? fabsf(x[i]) + 0.01f : x[i];
            ind[i] = pos ? fabs(xd[i]) + 0.01 : xd[i];
            want[i] = (float)ref_un(ops[o], in[i]);
            wantd[i] = ref_un(ops[o], ind[i]);
        }
        tensor_t a = tens(DT_FLOAT, in, "4,25"), y;
        CHECK_EQ(run(node(ops[o], 14, 1), &a, NULL, NULL, &y), 0);
        CHECK_SHAPE(y, "[4,25]");
        CHECK_EQ(y.dtype, DT_FLOAT);
        CHECK_F((float *)y.data, want, 100, 2e-6);
        a = tens(DT_DOUBLE, ind, "100");
        CHECK_EQ(run(node(ops[o], 13, 1), &a, NULL, NULL, &y), 0);
        CHECK_F((double *)y.data, wantd, 100, 1e-12);
    }
    tnode_t *t = node("LeakyRelu", 16, 1);
    set_float(t, "alpha", 0.5f);
    float lx[3] = {-2.0f, 0.0f, 3.0f};
    tensor_t a = tens(DT_FLOAT, lx, "3"), y;
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_F((float *)y.data, ((float[]){-1.0f, 0.0f, 3.0f}), 3, 0);

    int64_t iv[4] = {-5, 0, 7, INT64_MIN};
    a = tens(DT_INT64, iv, "4");
    CHECK_EQ(run(node("Neg", 13, 1), &a, NULL, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){5, 0, -7, INT64_MIN}), 4);
    CHECK_EQ(run(node("Abs", 13, 1), &a, NULL, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){5, 0, 7, INT64_MIN}), 4);
    CHECK_EQ(run(node("Relu", 14, 1), &a, NULL, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){0, 0, 7, 0}), 4);
    int32_t i32[2] = {-3, 4};
    a = tens(DT_INT32, i32, "2");
    CHECK_EQ(run(node("Abs", 13, 1), &a, NULL, NULL, &y), 0);
    CHECK_I((int32_t *)y.data, ((int32_t[]){3, 4}), 2);
    CHECK_EQ(run(node("Exp", 13, 1), &a, NULL, NULL, &y), -1);
    CHECK_ERR("Exp: unsupported type INT32");
}

static void test_clip(void)
{
    float x[5] = {-3.0f, -1.0f, 0.5f, 2.0f, 9.0f}, lo = -1.5f, hi = 2.5f;
    tensor_t a = tens(DT_FLOAT, x, "5"), tl = tens(DT_FLOAT, &lo, ""), th = tens(DT_FLOAT, &hi, "");
    tensor_t y;
    tnode_t *t = node("Clip", 6, 1);
    set_float(t, "min", -1.0f);
    set_float(t, "max", 1.0f);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_F((float *)y.data, ((float[]){-1.0f, -1.0f, 0.5f, 1.0f, 1.0f}), 5, 0);
    t = node("Clip", 6, 1);
    set_float(t, "max", 0.0f);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_F((float *)y.data, ((float[]){-3.0f, -1.0f, 0.0f, 0.0f, 0.0f}), 5, 0);
    /* From 11 the bounds are optional inputs; attributes are no longer read. */
    t = node("Clip", 13, 3);
    set_float(t, "min", 100.0f);
    CHECK_EQ(run(t, &a, &tl, &th, &y), 0);
    CHECK_F((float *)y.data, ((float[]){-1.5f, -1.0f, 0.5f, 2.0f, 2.5f}), 5, 0);
    CHECK_EQ(run(node("Clip", 11, 3), &a, NULL, &th, &y), 0);
    CHECK_F((float *)y.data, ((float[]){-3.0f, -1.0f, 0.5f, 2.0f, 2.5f}), 5, 0);
    CHECK_EQ(run(node("Clip", 11, 2), &a, &tl, NULL, &y), 0);
    CHECK_F((float *)y.data, ((float[]){-1.5f, -1.0f, 0.5f, 2.0f, 9.0f}), 5, 0);
    CHECK_EQ(run(node("Clip", 12, 1), &a, NULL, NULL, &y), 0);
    CHECK_F((float *)y.data, x, 5, 0);
    /* min > max: everything becomes max. */
    CHECK_EQ(run(node("Clip", 13, 3), &a, &th, &tl, &y), 0);
    CHECK_F((float *)y.data, ((float[]){-1.5f, -1.5f, -1.5f, -1.5f, -1.5f}), 5, 0);
    int64_t iv[4] = {-10, 0, 5, 100}, ilo = 0, ihi = 6;
    a = tens(DT_INT64, iv, "2,2"), tl = tens(DT_INT64, &ilo, ""), th = tens(DT_INT64, &ihi, "");
    CHECK_EQ(run(node("Clip", 13, 3), &a, &tl, &th, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){0, 0, 5, 6}), 4);
    CHECK_EQ(run(node("Clip", 11, 3), &a, &tl, &th, &y), -1);
    CHECK_ERR("Clip: unsupported type INT64 at opset 11");
    a = tens(DT_FLOAT, x, "5"), tl = tens(DT_FLOAT, x, "2");
    CHECK_EQ(run(node("Clip", 13, 2), &a, &tl, NULL, &y), -1);
    CHECK_ERR("Clip: min must be a scalar");
}

/* ==== softmax ==== */

/* Softmax of x over [outer, len, inner] in double. */
static void ref_softmax(const float *x, float *y, int64_t outer, int64_t len, int64_t inner, int lg)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < inner; j++) {
            const float *c = x + o * len * inner + j;
            double m = c[0], s = 0;
            for (int64_t k = 0; k < len; k++) m = c[k * inner] > m ? c[k * inner] : m;
            for (int64_t k = 0; k < len; k++) s += exp(c[k * inner] - m);
            for (int64_t k = 0; k < len; k++)
                y[o * len * inner + k * inner + j] =
                    (float)(lg ? c[k * inner] - m - log(s) : exp(c[k * inner] - m) / s);
        }
}

static void test_softmax(void)
{
    float *x = frands(2 * 3 * 40), want[240];
    x[5] = 80.0f; /* large values must not overflow */
    tensor_t a = tens(DT_FLOAT, x, "2,3,40"), y;
    for (int lg = 0; lg < 2; lg++) {
        const char *op = lg ? "LogSoftmax" : "Softmax";
        /* Opset 13 default: the last axis. */
        CHECK_EQ(run(node(op, 13, 1), &a, NULL, NULL, &y), 0);
        CHECK_SHAPE(y, "[2,3,40]");
        ref_softmax(x, want, 6, 40, 1, lg);
        CHECK_F((float *)y.data, want, 240, 1e-5);
        /* Opset 13 axis 1: a single middle dim (strided columns). */
        tnode_t *t = node(op, 13, 1);
        set_int(t, "axis", 1);
        CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
        ref_softmax(x, want, 2, 3, 40, lg);
        CHECK_F((float *)y.data, want, 240, 1e-5);
        t = node(op, 13, 1);
        set_int(t, "axis", -3);
        CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
        ref_softmax(x, want, 1, 2, 120, lg);
        CHECK_F((float *)y.data, want, 240, 1e-5);
        /* Opset 11 default axis 1 coerces to [2, 120]. */
        CHECK_EQ(run(node(op, 11, 1), &a, NULL, NULL, &y), 0);
        ref_softmax(x, want, 2, 120, 1, lg);
        CHECK_F((float *)y.data, want, 240, 1e-5);
        t = node(op, 1, 1);
        set_int(t, "axis", 2);
        CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
        ref_softmax(x, want, 6, 40, 1, lg);
        CHECK_F((float *)y.data, want, 240, 1e-5);
        t = node(op, 11, 1);
        set_int(t, "axis", -2);
        CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
        ref_softmax(x, want, 2, 120, 1, lg);
        CHECK_F((float *)y.data, want, 240, 1e-5);
    }
    float v[3] = {1.0f, 2.0f, 3.0f};
    a = tens(DT_FLOAT, v, "3");
    CHECK_EQ(run(node("Softmax", 13, 1), &a, NULL, NULL, &y), 0);
    double e1 = exp(-2.0), e2 = exp(-1.0), s = e1 + e2 + 1;
    CHECK_F((float *)y.data, ((float[]){(float)(e1 / s), (float)(e2 / s), (float)(1 / s)}), 3,
            1e-6);
    double vd[3] = {1, 2, 3};
    a = tens(DT_DOUBLE, vd, "1,3");
    CHECK_EQ(run(node("LogSoftmax", 13, 1), &a, NULL, NULL, &y), 0);
    CHECK_F((double *)y.data, ((double[]){-2 - log(s), -1 - log(s), -log(s)}), 3, 1e-12);
    tnode_t *t = node("Softmax", 13, 1);
    set_int(t, "axis", 2);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), -1);
    CHECK_ERR("Softmax: axis 2 is out of range for input [1,3]");
}

/* ==== Gemm, MatMul ==== */

/* y[M,N] = alpha op(A) op(B) + beta C, in double. */
static void ref_gemm(const float *a, const float *b, const tensor_t *c, float *y, int64_t M,
                     int64_t N, int64_t K, int ta, int tb, float alpha, float beta)
{
    tensor_t o = tens(DT_FLOAT, NULL, "");
    o.rank = 2, o.dims[0] = M, o.dims[1] = N;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++)
                s +=
                    (double)(ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
            s *= alpha;
            if (c) s += (double)beta * ((float *)c->data)[bidx(c, &o, i * N + j)];
            y[i * N + j] = (float)s;
        }
}

static void test_gemm(void)
{
    static const int64_t mnk[][3] = {{3, 4, 5}, {1, 7, 9}, {6, 1, 8}, {33, 20, 70}, {1, 300, 200}};
    static const char *const cshapes[] = {NULL, "", "1", "N", "1,N", "M,1", "M,N"};
    float want[6000];
    for (size_t s = 0; s < sizeof mnk / sizeof mnk[0]; s++) {
        int64_t M = mnk[s][0], N = mnk[s][1], K = mnk[s][2];
        float *a = frands(M * K), *b = frands(K * N), *c = frands(M * N);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (size_t cs = 0; cs < sizeof cshapes / sizeof cshapes[0]; cs++) {
                    char as[32], bs[32], csh[32] = "";
                    snprintf(as, sizeof as, "%lld,%lld", (long long)(ta ? K : M),
                             (long long)(ta ? M : K));
                    snprintf(bs, sizeof bs, "%lld,%lld", (long long)(tb ? N : K),
                             (long long)(tb ? K : N));
                    const char *p = cshapes[cs];
                    for (; p && *p; p++) {
                        if (*p == 'M' || *p == 'N')
                            snprintf(csh + strlen(csh), sizeof csh - strlen(csh), "%lld",
                                     (long long)(*p == 'M' ? M : N));
                        else
                            snprintf(csh + strlen(csh), sizeof csh - strlen(csh), "%c", *p);
                    }
                    tensor_t ta_ = tens(DT_FLOAT, a, as), tb_ = tens(DT_FLOAT, b, bs);
                    tensor_t tc = tens(DT_FLOAT, c, csh), y;
                    tnode_t *t = node("Gemm", 13, cshapes[cs] ? 3 : 2);
                    float alpha = cs % 2 ? 0.5f : 1.0f, beta = cs % 3 ? 2.0f : 1.0f;
                    if (ta) set_int(t, "transA", 1);
                    if (tb) set_int(t, "transB", 1);
                    if (alpha != 1.0f) set_float(t, "alpha", alpha);
                    if (beta != 1.0f) set_float(t, "beta", beta);
                    CHECK_EQ(run(t, &ta_, &tb_, cshapes[cs] ? &tc : NULL, &y), 0);
                    CHECK_EQ(y.dims[0], M);
                    CHECK_EQ(y.dims[1], N);
                    ref_gemm(a, b, cshapes[cs] ? &tc : NULL, want, M, N, K, ta, tb, alpha, beta);
                    /* Float accumulation over K terms of size ~1: absolute error ~1e-6. */
                    CHECK_FA((float *)y.data, want, M * N, 1e-5, 1e-4);
                }
    }
    float a[6] = {1, 2, 3, 4, 5, 6}, b[6] = {1, 0, 0, 1, 1, 1}, c[2] = {10, 20};
    tensor_t ta = tens(DT_FLOAT, a, "2,3"), tb = tens(DT_FLOAT, b, "3,2"),
             tc = tens(DT_FLOAT, c, "2");
    tensor_t y;
    CHECK_EQ(run(node("Gemm", 9, 3), &ta, &tb, &tc, &y), 0);
    CHECK_F((float *)y.data, ((float[]){14, 25, 20, 31}), 4, 0);
    /* beta = 0 ignores C entirely, NaN included. */
    float cn[2] = {NAN, NAN};
    tensor_t tcn = tens(DT_FLOAT, cn, "2");
    tnode_t *t = node("Gemm", 13, 3);
    set_float(t, "beta", 0.0f);
    CHECK_EQ(run(t, &ta, &tb, &tcn, &y), 0);
    CHECK_F((float *)y.data, ((float[]){4, 5, 10, 11}), 4, 0);
    CHECK_EQ(run(node("Gemm", 9, 2), &ta, &tb, NULL, &y), -1);
    CHECK_ERR("Gemm: input C is required before opset 11");
    CHECK_EQ(run(node("Gemm", 11, 2), &ta, &tb, NULL, &y), 0);
    CHECK_F((float *)y.data, ((float[]){4, 5, 10, 11}), 4, 0);
    ta = tens(DT_FLOAT, a, "3,2");
    CHECK_EQ(run(node("Gemm", 13, 2), &ta, &tb, NULL, &y), -1);
    CHECK_ERR("Gemm: A is [3,2] but B is [3,2]: inner dimensions differ");
    ta = tens(DT_FLOAT, a, "2,3"), tc = tens(DT_FLOAT, c, "3");
    CHECK_EQ(run(node("Gemm", 13, 3), &ta, &tb, &tc, &y), -1);
    CHECK_ERR("Gemm: C is [3], which does not broadcast to [2,2]");
    double ad[4] = {1, 2, 3, 4}, bd[4] = {1, 1, 1, 1};
    ta = tens(DT_DOUBLE, ad, "2,2"), tb = tens(DT_DOUBLE, bd, "2,2");
    t = node("Gemm", 13, 2);
    set_int(t, "transA", 1);
    CHECK_EQ(run(t, &ta, &tb, NULL, &y), 0);
    CHECK_F((double *)y.data, ((double[]){4, 4, 6, 6}), 4, 0);
}

/* Batched matmul reference: a [.., M, K] (broadcast) x b [.., K, N] into o's shape. */
static void ref_matmul(const tensor_t *a, const tensor_t *b, const tensor_t *o, float *y)
{
    int ra = a->rank, rb = b->rank;
    int64_t M = ra == 1 ? 1 : a->dims[ra - 2], K = a->dims[ra - 1],
            N = rb == 1 ? 1 : b->dims[rb - 1];
    tensor_t ba = *a, bb = *b, bo = *o;
    ba.rank = ra > 2 ? ra - 2 : 0;
    bb.rank = rb > 2 ? rb - 2 : 0;
    bo.rank = o->rank - (ra > 1) - (rb > 1);
    int64_t nb = tensor_numel(&bo);
    for (int64_t i = 0; i < nb; i++) {
        const float *pa = (const float *)a->data + bidx(&ba, &bo, i) * M * K;
        const float *pb = (const float *)b->data + bidx(&bb, &bo, i) * K * N;
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++) s += (double)pa[m * K + k] * pb[k * N + n];
                y[i * M * N + m * N + n] = (float)s;
            }
    }
}

static void test_matmul(void)
{
    static const char *const shapes[][3] = {
        {"3,4", "4,5", "[3,5]"},         {"1,64", "64,100", "[1,100]"},
        {"50,64", "64,1", "[50,1]"},     {"40,30", "30,20", "[40,20]"},
        {"2,3,4,5", "5,6", "[2,3,4,6]"}, {"2,1,4,5", "3,5,6", "[2,3,4,6]"},
        {"4,5", "2,5,3", "[2,4,3]"},     {"5", "5,3", "[3]"},
        {"2,4,5", "5", "[2,4]"},         {"7", "7", "[]"},
        {"1,80", "3,80,90", "[3,1,90]"}, {"3,0", "0,2", "[3,2]"},
    };
    float want[5000];
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        tensor_t a = tens(DT_FLOAT, NULL, shapes[s][0]), b = tens(DT_FLOAT, NULL, shapes[s][1]), y;
        a.data = frands(tensor_numel(&a));
        b.data = frands(tensor_numel(&b));
        CHECK_EQ(run(node("MatMul", 13, 2), &a, &b, NULL, &y), 0);
        CHECK_SHAPE(y, shapes[s][2]);
        ref_matmul(&a, &b, &y, want);
        CHECK_FA((float *)y.data, want, tensor_numel(&y), 1e-5, 1e-4);
    }
    int64_t ai[4] = {1, 2, 3, 4}, bi[2] = {10, -1};
    tensor_t a = tens(DT_INT64, ai, "2,2"), b = tens(DT_INT64, bi, "2,1"), y;
    CHECK_EQ(run(node("MatMul", 13, 2), &a, &b, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){8, 26}), 2);
    double ad[4] = {1, 2, 3, 4};
    a = tens(DT_DOUBLE, ad, "2,2");
    CHECK_EQ(run(node("MatMul", 9, 2), &a, &a, NULL, &y), 0);
    CHECK_F((double *)y.data, ((double[]){7, 10, 15, 22}), 4, 0);
    float f[30] = {0};
    a = tens(DT_FLOAT, f, "3,4"), b = tens(DT_FLOAT, f, "5,2");
    CHECK_EQ(run(node("MatMul", 13, 2), &a, &b, NULL, &y), -1);
    CHECK_ERR("MatMul: A is [3,4] but B is [5,2]: inner dimensions differ");
    a = tens(DT_FLOAT, f, "2,3,4"), b = tens(DT_FLOAT, f, "3,4,2");
    CHECK_EQ(run(node("MatMul", 13, 2), &a, &b, NULL, &y), -1);
    CHECK_ERR("MatMul: batch dimensions of A [2,3,4] and B [3,4,2] differ");
    b = tens(DT_DOUBLE, f, "4,2");
    CHECK_EQ(run(node("MatMul", 13, 2), &a, &b, NULL, &y), -1);
    CHECK_ERR("MatMul: A is FP32 but B is FP64");
}

/* ==== shape ops ==== */

static void test_reshape(void)
{
    float x[24];
    for (int i = 0; i < 24; i++) x[i] = (float)i;
    tensor_t a = tens(DT_FLOAT, x, "2,3,4"), y;
    int64_t s1[3] = {0, -1, 2};
    tensor_t sh = tens(DT_INT64, s1, "3");
    CHECK_EQ(run(node("Reshape", 13, 2), &a, &sh, NULL, &y), 0);
    CHECK_SHAPE(y, "[2,6,2]");
    CHECK_F((float *)y.data, x, 24, 0);
    int64_t s2[2] = {-1, 0};
    sh = tens(DT_INT64, s2, "2");
    CHECK_EQ(run(node("Reshape", 5, 2), &a, &sh, NULL, &y), 0);
    CHECK_SHAPE(y, "[8,3]");
    sh = tens(DT_INT64, s2, "0");
    tensor_t one = tens(DT_FLOAT, x, "1,1");
    CHECK_EQ(run(node("Reshape", 14, 2), &one, &sh, NULL, &y), 0);
    CHECK_SHAPE(y, "[]");

    /* allowzero: a 0 is a real zero-size dim (only valid when the input is empty too). */
    tensor_t empty = tens(DT_FLOAT, x, "0,4");
    int64_t s3[2] = {4, 0};
    sh = tens(DT_INT64, s3, "2");
    tnode_t *t = node("Reshape", 14, 2);
    set_int(t, "allowzero", 1);
    CHECK_EQ(run(t, &empty, &sh, NULL, &y), 0);
    CHECK_SHAPE(y, "[4,0]");
    CHECK_EQ(run(node("Reshape", 14, 2), &empty, &sh, NULL, &y), -1);
    CHECK_ERR("Reshape: cannot reshape input [0,4] (0 elements) to shape [4,0] (16 elements)");
    t = node("Reshape", 13, 2); /* allowzero does not exist before 14 */
    set_int(t, "allowzero", 1);
    CHECK_EQ(run(t, &empty, &sh, NULL, &y), -1);
    int64_t s4[2] = {0, -1};
    sh = tens(DT_INT64, s4, "2");
    t = node("Reshape", 14, 2);
    set_int(t, "allowzero", 1);
    CHECK_EQ(run(t, &a, &sh, NULL, &y), -1);
    CHECK_ERR("both -1 and 0");

    int64_t s5[2] = {5, -1}, s6[2] = {-1, -1}, s7[4] = {0, 0, 0, 0}, s8[2] = {-2, 12};
    sh = tens(DT_INT64, s5, "2");
    CHECK_EQ(run(node("Reshape", 14, 2), &a, &sh, NULL, &y), -1);
    CHECK_ERR("Reshape: cannot reshape input [2,3,4] (24 elements) to shape [5,-1]");
    sh = tens(DT_INT64, s6, "2");
    CHECK_EQ(run(node("Reshape", 14, 2), &a, &sh, NULL, &y), -1);
    CHECK_ERR("more than one -1");
    sh = tens(DT_INT64, s7, "4");
    CHECK_EQ(run(node("Reshape", 14, 2), &a, &sh, NULL, &y), -1);
    CHECK_ERR("copies dim 3 (0), but the input [2,3,4] has rank 3");
    sh = tens(DT_INT64, s8, "2");
    CHECK_EQ(run(node("Reshape", 14, 2), &a, &sh, NULL, &y), -1);
    CHECK_ERR("invalid dim -2");
    sh = tens(DT_INT64, NULL, "2");
    CHECK_EQ(run(node("Reshape", 14, 2), &a, &sh, NULL, &y), -1);
    CHECK_ERR("Reshape: the shape input must be a constant (data-dependent shapes are not "
              "supported)");

    const char *strs[4] = {"a", "b", "c", "d"};
    tensor_t st = tens(DT_STRING, strs, "4");
    int64_t s9[2] = {2, 2};
    sh = tens(DT_INT64, s9, "2");
    CHECK_EQ(run(node("Reshape", 21, 2), &st, &sh, NULL, &y), 0);
    CHECK_SHAPE(y, "[2,2]");
    CHECK_STR(((const char **)y.data)[3], "d");
}

static void test_flatten_squeeze(void)
{
    float x[24] = {0};
    x[23] = 7;
    tensor_t a = tens(DT_FLOAT, x, "2,3,4"), y;
    static const struct {
        int64_t axis;
        const char *shape;
    } fl[] = {{0, "[1,24]"}, {1, "[2,12]"}, {2, "[6,4]"},
              {3, "[24,1]"}, {-1, "[6,4]"}, {-3, "[1,24]"}};
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
        tnode_t *t = node("Flatten", 13, 1);
        set_int(t, "axis", fl[i].axis);
        CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
        CHECK_SHAPE(y, fl[i].shape);
        CHECK(((float *)y.data)[23] == 7);
    }
    CHECK_EQ(run(node("Flatten", 9, 1), &a, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[2,12]");
    tnode_t *t = node("Flatten", 13, 1);
    set_int(t, "axis", 4);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), -1);
    CHECK_ERR("Flatten: axis 4 is out of range for input [2,3,4]");

    tensor_t b = tens(DT_FLOAT, x, "1,3,1,4,1");
    CHECK_EQ(run(node("Squeeze", 13, 1), &b, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[3,4]");
    CHECK(((float *)y.data)[11] == 0);
    int64_t ax[2] = {0, -1};
    t = node("Squeeze", 11, 1);
    set_ints(t, "axes", ax, 2);
    CHECK_EQ(run(t, &b, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[3,1,4]");
    tensor_t axt = tens(DT_INT64, ax, "2");
    CHECK_EQ(run(node("Squeeze", 13, 2), &b, &axt, NULL, &y), 0);
    CHECK_SHAPE(y, "[3,1,4]");
    /* At 13 an axes attribute is no longer read. */
    t = node("Squeeze", 13, 1);
    set_ints(t, "axes", ax, 2);
    CHECK_EQ(run(t, &b, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[3,4]");
    int64_t bad = 1;
    axt = tens(DT_INT64, &bad, "1");
    CHECK_EQ(run(node("Squeeze", 13, 2), &b, &axt, NULL, &y), -1);
    CHECK_ERR("Squeeze: cannot squeeze axis 1 of input [1,3,1,4,1]: its size is 3, not 1");
    axt = tens(DT_INT64, NULL, "1");
    CHECK_EQ(run(node("Squeeze", 13, 2), &b, &axt, NULL, &y), -1);
    CHECK_ERR("Squeeze: the axes input must be a constant");
    bad = 5;
    axt = tens(DT_INT64, &bad, "1");
    CHECK_EQ(run(node("Squeeze", 13, 2), &b, &axt, NULL, &y), -1);
    CHECK_ERR("Squeeze: axis 5 is out of range");

    int64_t ua[3] = {0, -1, 2};
    tensor_t c = tens(DT_INT64, x, "3,4");
    t = node("Unsqueeze", 11, 1);
    set_ints(t, "axes", ua, 3);
    CHECK_EQ(run(t, &c, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[1,3,1,4,1]");
    axt = tens(DT_INT64, ua, "3");
    CHECK_EQ(run(node("Unsqueeze", 13, 2), &c, &axt, NULL, &y), 0);
    CHECK_SHAPE(y, "[1,3,1,4,1]");
    CHECK_EQ(y.dtype, DT_INT64);
    int64_t u1 = 0;
    tensor_t sc = tens(DT_INT64, &u1, "");
    axt = tens(DT_INT64, &u1, "1");
    CHECK_EQ(run(node("Unsqueeze", 21, 2), &sc, &axt, NULL, &y), 0);
    CHECK_SHAPE(y, "[1]");
    CHECK_EQ(run(node("Unsqueeze", 13, 1), &c, NULL, NULL, &y), -1);
    CHECK_ERR("Unsqueeze: axes are required");
    int64_t dup[2] = {1, -3};
    axt = tens(DT_INT64, dup, "2");
    CHECK_EQ(run(node("Unsqueeze", 13, 2), &c, &axt, NULL, &y), -1);
    CHECK_ERR("Unsqueeze: axis -3 is repeated");
    dup[1] = 4;
    CHECK_EQ(run(node("Unsqueeze", 13, 2), &c, &axt, NULL, &y), -1);
    CHECK_ERR("Unsqueeze: axis 4 is out of range for output rank 4");
}

static void test_concat_identity_shape(void)
{
    float a[6] = {1, 2, 3, 4, 5, 6}, b[4] = {7, 8, 9, 10};
    tensor_t ta = tens(DT_FLOAT, a, "2,3"), tb = tens(DT_FLOAT, b, "2,2"), y;
    tnode_t *t = node("Concat", 13, 2);
    set_int(t, "axis", -1);
    CHECK_EQ(run(t, &ta, &tb, NULL, &y), 0);
    CHECK_SHAPE(y, "[2,5]");
    CHECK_F((float *)y.data, ((float[]){1, 2, 3, 7, 8, 4, 5, 6, 9, 10}), 10, 0);
    tb = tens(DT_FLOAT, b, "1,3");
    t = node("Concat", 4, 3);
    set_int(t, "axis", 0);
    CHECK_EQ(run(t, &ta, &tb, &ta, &y), 0);
    CHECK_SHAPE(y, "[5,3]");
    CHECK_F((float *)y.data, ((float[]){1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6}), 15, 0);
    t = node("Concat", 13, 2);
    set_int(t, "axis", 1);
    CHECK_EQ(run(t, &ta, &tb, NULL, &y), -1);
    CHECK_ERR("Concat: input 1 is [1,3] but input 0 is [2,3]: all dims but axis 1 must match");
    CHECK_EQ(run(node("Concat", 13, 2), &ta, &tb, NULL, &y), -1);
    CHECK_ERR("Concat: the axis attribute is required");
    /* Shape vectors: the common exported-model use. */
    int64_t s1[2] = {-1, 4}, s2[1] = {8};
    ta = tens(DT_INT64, s1, "2"), tb = tens(DT_INT64, s2, "1");
    t = node("Concat", 11, 2);
    set_int(t, "axis", 0);
    CHECK_EQ(run(t, &ta, &tb, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){-1, 4, 8}), 3);
    const char *sa[2] = {"x", "y"}, *sb[1] = {"z"};
    ta = tens(DT_STRING, sa, "2"), tb = tens(DT_STRING, sb, "1");
    t = node("Concat", 13, 2);
    set_int(t, "axis", 0);
    CHECK_EQ(run(t, &tb, &ta, NULL, &y), 0);
    CHECK_STR(((const char **)y.data)[0], "z");
    CHECK_STR(((const char **)y.data)[2], "y");

    ta = tens(DT_STRING, sa, "2");
    CHECK_EQ(run(node("Identity", 16, 1), &ta, NULL, NULL, &y), 0);
    CHECK_EQ(y.dtype, DT_STRING);
    CHECK_STR(((const char **)y.data)[1], "y");
    ta = tens(DT_FLOAT, a, "3,2");
    CHECK_EQ(run(node("Identity", 1, 1), &ta, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[3,2]");
    CHECK_F((float *)y.data, a, 6, 0);

    /* Shape reads dims only: the data pointer may be NULL. */
    tensor_t big = tens(DT_FLOAT, NULL, "2,3,4,5");
    CHECK_EQ(run(node("Shape", 13, 1), &big, NULL, NULL, &y), 0);
    CHECK_EQ(y.dtype, DT_INT64);
    CHECK_SHAPE(y, "[4]");
    CHECK_I((int64_t *)y.data, ((int64_t[]){2, 3, 4, 5}), 4);
    static const struct {
        int64_t start, end;
        int has_end;
        const char *shape;
        int64_t first;
    } sl[] = {{1, 0, 0, "[3]", 3}, {-1, 0, 0, "[1]", 5},   {0, -1, 1, "[3]", 2},
              {1, 3, 1, "[2]", 3}, {-10, 10, 1, "[4]", 2}, {3, 1, 1, "[0]", 0}};
    for (size_t i = 0; i < sizeof sl / sizeof sl[0]; i++) {
        t = node("Shape", 15, 1);
        set_int(t, "start", sl[i].start);
        if (sl[i].has_end) set_int(t, "end", sl[i].end);
        CHECK_EQ(run(t, &big, NULL, NULL, &y), 0);
        CHECK_SHAPE(y, sl[i].shape);
        if (y.dims[0]) CHECK_EQ(((int64_t *)y.data)[0], sl[i].first);
    }
    t = node("Shape", 13, 1); /* start/end arrived in 15 */
    set_int(t, "start", 2);
    CHECK_EQ(run(t, &big, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[4]");
    tensor_t scalar = tens(DT_FLOAT, a, "");
    CHECK_EQ(run(node("Shape", 15, 1), &scalar, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[0]");
}

static void test_transpose(void)
{
    float x[24];
    for (int i = 0; i < 24; i++) x[i] = (float)i;
    tensor_t a = tens(DT_FLOAT, x, "2,3,4"), y;
    static const struct {
        int64_t perm[3];
        int has;
        const char *shape;
    } cases[] = {{{0}, 0, "[4,3,2]"},       {{0, 2, 1}, 1, "[2,4,3]"}, {{1, 0, 2}, 1, "[3,2,4]"},
                 {{2, 0, 1}, 1, "[4,2,3]"}, {{0, 1, 2}, 1, "[2,3,4]"}, {{-1, 0, 1}, 1, "[4,2,3]"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int p[3];
        for (int i = 0; i < 3; i++)
            p[i] = cases[c].has ? (int)(cases[c].perm[i] + (cases[c].perm[i] < 0 ? 3 : 0)) : 2 - i;
        tnode_t *t = node("Transpose", 13, 1);
        if (cases[c].has) set_ints(t, "perm", cases[c].perm, 3);
        CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
        CHECK_SHAPE(y, cases[c].shape);
        float want[24];
        int64_t st[3] = {12, 4, 1}, k = 0;
        for (int64_t i = 0; i < y.dims[0]; i++)
            for (int64_t j = 0; j < y.dims[1]; j++)
                for (int64_t l = 0; l < y.dims[2]; l++)
                    want[k++] = x[i * st[p[0]] + j * st[p[1]] + l * st[p[2]]];
        CHECK_F((float *)y.data, want, 24, 0);
    }
    const char *sv[6] = {"a", "b", "c", "d", "e", "f"};
    a = tens(DT_STRING, sv, "2,3");
    CHECK_EQ(run(node("Transpose", 21, 1), &a, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[3,2]");
    CHECK_STR(((const char **)y.data)[1], "d");
    CHECK_STR(((const char **)y.data)[4], "c");
    int64_t bad[2] = {0, 0};
    tnode_t *t = node("Transpose", 13, 1);
    set_ints(t, "perm", bad, 2);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), -1);
    CHECK_ERR("Transpose: perm [0,0] is not a permutation of 0..1");
}

static void test_gather(void)
{
    float d[6] = {1.0f, 1.2f, 2.3f, 3.4f, 4.5f, 5.7f};
    int64_t i64[4] = {0, 1, 1, 2};
    tensor_t data = tens(DT_FLOAT, d, "3,2"), idx = tens(DT_INT64, i64, "2,2"), y;
    CHECK_EQ(run(node("Gather", 13, 2), &data, &idx, NULL, &y), 0);
    CHECK_SHAPE(y, "[2,2,2]");
    CHECK_F((float *)y.data, ((float[]){1.0f, 1.2f, 2.3f, 3.4f, 2.3f, 3.4f, 4.5f, 5.7f}), 8, 0);
    float d2[9] = {1.0f, 1.2f, 1.9f, 2.3f, 3.4f, 3.9f, 4.5f, 5.7f, 5.9f};
    int32_t i32[2] = {0, -1};
    data = tens(DT_FLOAT, d2, "3,3"), idx = tens(DT_INT32, i32, "1,2");
    tnode_t *t = node("Gather", 11, 2);
    set_int(t, "axis", 1);
    CHECK_EQ(run(t, &data, &idx, NULL, &y), 0);
    CHECK_SHAPE(y, "[3,1,2]");
    CHECK_F((float *)y.data, ((float[]){1.0f, 1.9f, 2.3f, 3.9f, 4.5f, 5.9f}), 6, 0);
    t = node("Gather", 13, 2);
    set_int(t, "axis", -2);
    CHECK_EQ(run(t, &data, &idx, NULL, &y), 0);
    CHECK_SHAPE(y, "[1,2,3]");
    CHECK_F((float *)y.data, ((float[]){1.0f, 1.2f, 1.9f, 4.5f, 5.7f, 5.9f}), 6, 0);
    /* Scalar index into a shape vector: the usual Shape -> Gather pattern. */
    int64_t shp[3] = {8, 16, 32}, k = -1;
    data = tens(DT_INT64, shp, "3"), idx = tens(DT_INT64, &k, "");
    CHECK_EQ(run(node("Gather", 13, 2), &data, &idx, NULL, &y), 0);
    CHECK_SHAPE(y, "[]");
    CHECK_EQ(((int64_t *)y.data)[0], 32);
    k = 3;
    CHECK_EQ(run(node("Gather", 13, 2), &data, &idx, NULL, &y), -2);
    CHECK_ERR("Gather: index 3 is out of range for axis 0 of size 3");
    k = -4;
    CHECK_EQ(run(node("Gather", 13, 2), &data, &idx, NULL, &y), -2);
    CHECK_ERR("Gather: index -4 is out of range");
    const char *words[3] = {"a", "b", "c"};
    int64_t wi[2] = {2, 0};
    data = tens(DT_STRING, words, "3"), idx = tens(DT_INT64, wi, "2");
    CHECK_EQ(run(node("Gather", 13, 2), &data, &idx, NULL, &y), 0);
    CHECK_STR(((const char **)y.data)[0], "c");
    CHECK_STR(((const char **)y.data)[1], "a");
    idx = tens(DT_FLOAT, d, "1");
    CHECK_EQ(run(node("Gather", 13, 2), &data, &idx, NULL, &y), -1);
    CHECK_ERR("Gather: indices must be INT32 or INT64, got FP32");
    t = node("Gather", 13, 2);
    set_int(t, "axis", 1);
    idx = tens(DT_INT64, wi, "2");
    CHECK_EQ(run(t, &data, &idx, NULL, &y), -1);
    CHECK_ERR("Gather: axis 1 is out of range for data [3]");
}

static void test_constant(void)
{
    float v[4] = {1, 2, 3, 4};
    tensor_t val = tens(DT_FLOAT, v, "2,2"), y;
    tnode_t *t = node("Constant", 13, 0);
    add_attr(t, "value", ATTR_TENSOR)->t = &val;
    CHECK_EQ(run(t, NULL, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[2,2]");
    CHECK(y.data != v);
    CHECK_F((float *)y.data, v, 4, 0);
    t = node("Constant", 12, 0);
    set_float(t, "value_float", 2.5f);
    CHECK_EQ(run(t, NULL, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[]");
    CHECK_EQ(y.dtype, DT_FLOAT);
    CHECK(((float *)y.data)[0] == 2.5f);
    t = node("Constant", 12, 0);
    set_int(t, "value_int", -7);
    CHECK_EQ(run(t, NULL, NULL, NULL, &y), 0);
    CHECK_EQ(y.dtype, DT_INT64);
    CHECK_EQ(((int64_t *)y.data)[0], -7);
    int64_t iv[3] = {1, -1, 5};
    t = node("Constant", 13, 0);
    set_ints(t, "value_ints", iv, 3);
    CHECK_EQ(run(t, NULL, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[3]");
    CHECK_I((int64_t *)y.data, iv, 3);
    float fv[2] = {0.5f, -1};
    t = node("Constant", 13, 0);
    attr_t *at = add_attr(t, "value_floats", ATTR_FLOATS);
    at->floats = fv, at->n = 2;
    CHECK_EQ(run(t, NULL, NULL, NULL, &y), 0);
    CHECK_F((float *)y.data, fv, 2, 0);
    t = node("Constant", 13, 0);
    at = add_attr(t, "value_string", ATTR_STRING);
    at->s = "hello", at->slen = 5;
    CHECK_EQ(run(t, NULL, NULL, NULL, &y), 0);
    CHECK_EQ(y.dtype, DT_STRING);
    CHECK_STR(((const char **)y.data)[0], "hello");
    const char *sv[2] = {"p", "q"};
    t = node("Constant", 13, 0);
    at = add_attr(t, "value_strings", ATTR_STRINGS);
    at->strings = sv, at->n = 2;
    CHECK_EQ(run(t, NULL, NULL, NULL, &y), 0);
    CHECK_STR(((const char **)y.data)[1], "q");
    CHECK_EQ(run(node("Constant", 13, 0), NULL, NULL, NULL, &y), -1);
    CHECK_ERR("Constant: no value attribute");
    t = node("Constant", 13, 0);
    set_float(t, "value_float", 1);
    set_int(t, "value_int", 1);
    CHECK_EQ(run(t, NULL, NULL, NULL, &y), -1);
    CHECK_ERR("Constant: has both value_float and value_int");
}

/* FLOAT <-> FLOAT16, round to nearest even: expected bits from numpy's astype(float16) (ties,
 * overflow to infinity, subnormals, underflow to zero, signed zero). */
static void test_cast_half(void)
{
    float f[18] = {1,           -2.5f,           65504, 65520,    65519.9883f, 6.10351562e-05f,
                   5.96e-8f,    2.98023224e-08f, 3e-8f, 1e-10f,   0.1f,        1.0f / 3,
                   1.00048828f, 1.00146484f,     -0.0f, INFINITY, 1e-5f,       -7.5e-6f};
    uint16_t want[18] = {0x3c00, 0xc100, 0x7bff, 0x7c00, 0x7bff, 0x0400, 0x0001, 0x0000, 0x0001,
                         0x0000, 0x2e66, 0x3555, 0x3c00, 0x3c02, 0x8000, 0x7c00, 0x00a8, 0x807e};
    tensor_t a = tens(DT_FLOAT, f, "18"), y, back;
    tnode_t *t = node("Cast", 13, 1);
    set_int(t, "to", DT_FLOAT16);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_I((uint16_t *)y.data, want, 18);
    t = node("Cast", 13, 1);
    set_int(t, "to", DT_FLOAT);
    CHECK_EQ(run(t, &y, NULL, NULL, &back), 0);
    CHECK_FA((float *)back.data,
             ((float[]){1, -2.5f, 65504, INFINITY, 65504, 6.10351562e-05f, 5.96046448e-08f, 0,
                        5.96046448e-08f, 0, 0.0999755859f, 0.333251953f, 1, 1.00195312f, -0.0f,
                        INFINITY, 1.00135803e-05f, -7.51018524e-06f}),
             18, 0, 0);
}

/* QuantizeLinear and DynamicQuantizeLinear on NaN, saturation and a rounding tie (1.25 / 0.5 =
 * 2.5 -> 2); expected values are ONNX Runtime 1.30's for the same inputs. */
static void test_quantize(void)
{
    float xv[4] = {NAN, 1000, -1000, 1.25f}, sv = 0.5f, x2v[4] = {NAN, 1.0f, -2.0f, 0.5f};
    uint8_t zv = 10;
    tensor_t x = tens(DT_FLOAT, xv, "4"), s = tens(DT_FLOAT, &sv, ""), z = tens(DT_UINT8, &zv, "");
    tensor_t y;
    tnode_t *t = node("QuantizeLinear", 13, 3);
    CHECK_EQ(run(t, &x, &s, &z, &y), 0);
    CHECK_EQ(y.dtype, DT_UINT8);
    CHECK_I((uint8_t *)y.data, ((uint8_t[]){0, 255, 0, 12}), 4);
    t = node("DynamicQuantizeLinear", 11, 1);
    x = tens(DT_FLOAT, x2v, "4");
    tensor_t outs[3];
    const tensor_t *in[1] = {&x};
    const op_def_t *op = ops_find("", "DynamicQuantizeLinear", 11);
    t->n.op = op;
    t->n.nout = 3;
    CHECK_EQ(op->infer(&t->n, in, outs, err, sizeof err), 0);
    uint8_t qv[4], zp = 0;
    float scale = 0;
    outs[0].data = qv;
    outs[1].data = &scale;
    outs[2].data = &zp;
    CHECK_EQ(op->run(&t->n, in, outs, &ctx), 0);
    CHECK_I(qv, ((uint8_t[]){0, 255, 0, 212}), 4);
    CHECK(scale == 3.0f / 255.0f);
    CHECK_EQ(zp, 170);
}

/* MatMulInteger: the sgemm path (a shared B, large) and the integer loops (a batched B) give
 * the exact int32 products, also at the extremes (|a - za| = |b - zb| = 255 everywhere) and
 * with K over several exact runs. */
static void test_matmul_integer(void)
{
    enum { B = 2, M = 5, K = 600, N = 70 };
    static uint8_t a[B * M * K], b[K * N], b2[B * K * N];
    static int32_t want[B * M * N];
    uint8_t za = 0, zb[N];
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < B * M * K; i++) a[i] = pass ? 255 : (uint8_t)(frand() * 128 + 128);
        for (int i = 0; i < K * N; i++) b[i] = pass ? 0 : (uint8_t)(frand() * 128 + 128);
        for (int j = 0; j < N; j++) zb[j] = pass ? 255 : (uint8_t)(j * 3);
        for (int i = 0; i < B; i++) memcpy(b2 + i * K * N, b, sizeof b);
        for (int i = 0; i < B * M; i++)
            for (int j = 0; j < N; j++) {
                int64_t acc = 0;
                for (int k = 0; k < K; k++)
                    acc += (int64_t)(a[i * K + k] - za) * (b[k * N + j] - zb[j]);
                want[i * N + j] = (int32_t)acc;
            }
        tensor_t ta = tens(DT_UINT8, a, "2,5,600"), tb = tens(DT_UINT8, b, "600,70"),
                 tb2 = tens(DT_UINT8, b2, "2,600,70"), tza = tens(DT_UINT8, &za, ""),
                 tzb = tens(DT_UINT8, zb, "70"), y;
        const tensor_t *in[4] = {&ta, &tb, &tza, &tzb};
        tnode_t *t = node("MatMulInteger", 10, 4);
        const op_def_t *op = ops_find("", "MatMulInteger", 10);
        t->n.op = op;
        memset(&y, 0, sizeof y);
        CHECK_EQ(op->infer(&t->n, in, &y, err, sizeof err), 0);
        y.data = track(malloc(tensor_nbytes(&y)));
        CHECK_EQ(op->run(&t->n, in, &y, &ctx), 0);
        CHECK_I((int32_t *)y.data, want, B * M * N);
        in[1] = &tb2;
        CHECK_EQ(op->run(&t->n, in, &y, &ctx), 0);
        CHECK_I((int32_t *)y.data, want, B * M * N);
    }
}

static void test_cast(void)
{
    float f[6] = {1.7f, -1.7f, 0.0f, 300.0f, -1.0f, NAN};
    tensor_t a = tens(DT_FLOAT, f, "2,3"), y;
    tnode_t *t = node("Cast", 13, 1);
    set_int(t, "to", DT_INT32);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[2,3]");
    CHECK_EQ(y.dtype, DT_INT32);
    CHECK_I((int32_t *)y.data, ((int32_t[]){1, -1, 0, 300, -1, INT32_MIN}), 6);
    t = node("Cast", 13, 1);
    set_int(t, "to", DT_INT64);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){1, -1, 0, 300, -1, INT64_MIN}), 6);
    t = node("Cast", 13, 1);
    set_int(t, "to", DT_UINT8);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_I((uint8_t *)y.data, ((uint8_t[]){1, 255, 0, 44, 255, 0}), 6);
    t = node("Cast", 13, 1);
    set_int(t, "to", DT_BOOL);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_I((uint8_t *)y.data, ((uint8_t[]){1, 1, 0, 1, 1, 1}), 6);
    t = node("Cast", 13, 1);
    set_int(t, "to", DT_DOUBLE);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK(((double *)y.data)[0] == (double)1.7f);

    int64_t iv[4] = {3, -2, 16777217, 0};
    a = tens(DT_INT64, iv, "4");
    t = node("Cast", 9, 1);
    set_int(t, "to", DT_FLOAT);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_F((float *)y.data, ((float[]){3, -2, 16777216.0f, 0}), 4, 0);
    t = node("Cast", 6, 1);
    set_int(t, "to", DT_INT8);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_I((int8_t *)y.data, ((int8_t[]){3, -2, 1, 0}), 4);
    t = node("Cast", 19, 1);
    set_int(t, "to", DT_INT64);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, iv, 4);
    uint8_t bv[3] = {1, 0, 1};
    a = tens(DT_BOOL, bv, "3");
    t = node("Cast", 13, 1);
    set_int(t, "to", DT_FLOAT);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_F((float *)y.data, ((float[]){1, 0, 1}), 3, 0);
    double dv[2] = {1e300, 0.1};
    a = tens(DT_DOUBLE, dv, "2");
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK(isinf(((float *)y.data)[0]));
    CHECK(((float *)y.data)[1] == 0.1f);

    const char *sv[5] = {"3.5", "-INF", "nan", "1e-5", "+inf"};
    a = tens(DT_STRING, sv, "5");
    t = node("Cast", 13, 1);
    set_int(t, "to", DT_FLOAT);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_F((float *)y.data, ((float[]){3.5f, -INFINITY, NAN, 1e-5f, INFINITY}), 5, 0);
    const char *si[2] = {"42", "-9000000000"};
    a = tens(DT_STRING, si, "2");
    t = node("Cast", 13, 1);
    set_int(t, "to", DT_INT64);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){42, -9000000000LL}), 2);
    const char *sb[1] = {"pear"};
    a = tens(DT_STRING, sb, "1");
    t = node("Cast", 13, 1);
    set_int(t, "to", DT_DOUBLE);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), -2);
    CHECK_ERR("Cast: cannot parse \"pear\" as FP64");
    t = node("Cast", 13, 1);
    set_int(t, "to", DT_STRING);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_STR(((const char **)y.data)[0], "pear");
    a = tens(DT_FLOAT, f, "2");
    CHECK_EQ(run(t, &a, NULL, NULL, &y), -1);
    CHECK_ERR("Cast: casting FP32 to BYTES");
    CHECK_EQ(run(node("Cast", 13, 1), &a, NULL, NULL, &y), -1);
    CHECK_ERR("Cast: the integer attribute 'to' is required");
}

/* ==== reductions ==== */

/* Reduces x (shape a) over mask in double: kind 0 sum, 1 mean, 2 max. */
static void ref_reduce(const float *x, const tensor_t *a, const int *mask, int kind, float *y,
                       int64_t nout)
{
    double acc[512];
    int64_t cnt[512] = {0};
    for (int64_t i = 0; i < nout; i++) acc[i] = kind == 2 ? -INFINITY : 0;
    int64_t n = tensor_numel(a);
    for (int64_t i = 0; i < n; i++) {
        int64_t rem = i, oi = 0, stride = 1;
        for (int k = a->rank - 1; k >= 0; k--) {
            int64_t c = rem % a->dims[k];
            rem /= a->dims[k];
            if (!mask[k]) oi += c * stride, stride *= a->dims[k];
        }
        acc[oi] = kind == 2 ? (x[i] > acc[oi] ? x[i] : acc[oi]) : acc[oi] + x[i];
        cnt[oi]++;
    }
    for (int64_t i = 0; i < nout; i++) y[i] = (float)(kind == 1 ? acc[i] / (double)cnt[i] : acc[i]);
}

static void test_reduce(void)
{
    static const char *const ops[] = {"ReduceSum", "ReduceMean", "ReduceMax"};
    static const int masks[][4] = {{0, 0, 0, 1}, {1, 0, 0, 0}, {0, 1, 0, 0}, {0, 1, 1, 0},
                                   {1, 0, 1, 0}, {0, 1, 0, 1}, {1, 1, 1, 1}, {0, 0, 1, 1},
                                   {1, 1, 0, 0}, {0, 0, 0, 0}};
    float *x = frands(3 * 4 * 5 * 6), want[512];
    tensor_t a = tens(DT_FLOAT, x, "3,4,5,6"), y;
    for (int o = 0; o < 3; o++)
        for (size_t m = 0; m < sizeof masks / sizeof masks[0]; m++)
            for (int keep = 0; keep < 2; keep++)
                for (int form = 0; form < 2; form++) {
                    /* form 0: axes attribute (opset 11); form 1: axes input (opset 18). */
                    int64_t axes[4], na = 0;
                    for (int k = 0; k < 4; k++)
                        if (masks[m][k]) axes[na++] = k - (k % 2 ? 4 : 0); /* mix negatives */
                    tnode_t *t = node(ops[o], form ? 18 : 11, form ? 2 : 1);
                    if (!keep) set_int(t, "keepdims", 0);
                    if (!form && na) set_ints(t, "axes", axes, na);
                    tensor_t at = tens(DT_INT64, axes, "");
                    at.rank = 1, at.dims[0] = na;
                    CHECK_EQ(run(t, &a, form && na ? &at : NULL, NULL, &y), 0);
                    int all = na == 0, full[4];
                    int64_t nout = 1;
                    for (int k = 0; k < 4; k++) {
                        full[k] = all || masks[m][k];
                        if (!full[k]) nout *= a.dims[k];
                    }
                    CHECK_EQ(y.rank, keep ? 4 : 4 - (all ? 4 : (int)na));
                    CHECK_EQ(tensor_numel(&y), nout);
                    ref_reduce(x, &a, full, o, want, nout);
                    CHECK_F((float *)y.data, want, nout, 1e-5);
                }
    /* ReduceSum takes the axes input from 13, the others from 18. */
    int64_t ax1 = 1;
    tensor_t at = tens(DT_INT64, &ax1, "1");
    CHECK_EQ(run(node("ReduceSum", 13, 2), &a, &at, NULL, &y), 0);
    CHECK_SHAPE(y, "[3,1,5,6]");
    tnode_t *t = node("ReduceMean", 13, 1);
    set_ints(t, "axes", &ax1, 1);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[3,1,5,6]");
    /* noop_with_empty_axes: no axes means identity rather than reduce-all. */
    t = node("ReduceSum", 13, 1);
    set_int(t, "noop_with_empty_axes", 1);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[3,4,5,6]");
    CHECK_F((float *)y.data, x, 360, 0);
    at = tens(DT_INT64, NULL, "1");
    CHECK_EQ(run(node("ReduceMax", 18, 2), &a, &at, NULL, &y), -1);
    CHECK_ERR("ReduceMax: the axes input must be a constant");
    ax1 = 4;
    t = node("ReduceSum", 11, 1);
    set_ints(t, "axes", &ax1, 1);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), -1);
    CHECK_ERR("ReduceSum: axis 4 is out of range for input [3,4,5,6]");

    int64_t iv[6] = {1, 2, 3, 4, 5, 6}, ax0 = 0;
    tensor_t ai = tens(DT_INT64, iv, "2,3");
    at = tens(DT_INT64, &ax0, "1");
    CHECK_EQ(run(node("ReduceSum", 13, 2), &ai, &at, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){5, 7, 9}), 3);
    t = node("ReduceMax", 13, 1);
    set_int(t, "keepdims", 0);
    CHECK_EQ(run(t, &ai, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[]");
    CHECK_EQ(((int64_t *)y.data)[0], 6);
    t = node("ReduceMean", 13, 1);
    CHECK_EQ(run(t, &ai, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[1,1]");
    CHECK_EQ(((int64_t *)y.data)[0], 3); /* 21 / 6 truncates */
    double dv[4] = {1, 2, 3, 4};
    tensor_t ad = tens(DT_DOUBLE, dv, "2,2");
    CHECK_EQ(run(node("ReduceMean", 18, 1), &ad, NULL, NULL, &y), 0);
    CHECK(((double *)y.data)[0] == 2.5);
}

static void test_argmax(void)
{
    float x[12] = {1, 5, 5, 2, /**/ 9, 0, 9, 3, /**/ -1, -1, -7, -7};
    tensor_t a = tens(DT_FLOAT, x, "3,4"), y;
    CHECK_EQ(run(node("ArgMax", 13, 1), &a, NULL, NULL, &y), 0);
    CHECK_EQ(y.dtype, DT_INT64);
    CHECK_SHAPE(y, "[1,4]");
    CHECK_I((int64_t *)y.data, ((int64_t[]){1, 0, 1, 1}), 4);
    tnode_t *t = node("ArgMax", 13, 1);
    set_int(t, "axis", -1);
    set_int(t, "keepdims", 0);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[3]");
    CHECK_I((int64_t *)y.data, ((int64_t[]){1, 0, 0}), 3);
    t = node("ArgMax", 12, 1);
    set_int(t, "axis", 1);
    set_int(t, "select_last_index", 1);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[3,1]");
    CHECK_I((int64_t *)y.data, ((int64_t[]){2, 2, 1}), 3);
    t = node("ArgMin", 13, 1);
    set_int(t, "axis", 1);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){0, 1, 2}), 3);
    t = node("ArgMin", 13, 1);
    set_int(t, "axis", 1);
    set_int(t, "select_last_index", 1);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){0, 1, 3}), 3);
    t = node("ArgMin", 11, 1); /* select_last_index arrived in 12 */
    set_int(t, "axis", 1);
    set_int(t, "select_last_index", 1);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_I((int64_t *)y.data, ((int64_t[]){0, 1, 2}), 3);
    int64_t iv[6] = {3, 1, 4, 1, 5, 9};
    a = tens(DT_INT64, iv, "2,1,3");
    t = node("ArgMax", 13, 1);
    set_int(t, "axis", 2);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), 0);
    CHECK_SHAPE(y, "[2,1,1]");
    CHECK_I((int64_t *)y.data, ((int64_t[]){2, 2}), 2);
    t = node("ArgMax", 13, 1);
    set_int(t, "axis", 3);
    CHECK_EQ(run(t, &a, NULL, NULL, &y), -1);
    CHECK_ERR("ArgMax: axis 3 is out of range for input [2,1,3]");
}

static void test_registry(void)
{
    static const char *const all[] = {
        "Gemm",      "MatMul",     "Add",       "Sub",      "Mul",   "Div",     "Neg",
        "Abs",       "Relu",       "LeakyRelu", "Sigmoid",  "Tanh",  "Softmax", "LogSoftmax",
        "Exp",       "Log",        "Sqrt",      "Pow",      "Clip",  "Flatten", "Reshape",
        "Squeeze",   "Unsqueeze",  "Concat",    "Identity", "Cast",  "ArgMax",  "ArgMin",
        "ReduceSum", "ReduceMean", "ReduceMax", "Constant", "Shape", "Gather",  "Transpose"};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        CHECK(ops_find("", all[i], 7) != NULL);
        CHECK(ops_find("ai.onnx", all[i], 21) != NULL);
        CHECK(ops_find("", all[i], 22) == NULL);
        CHECK(ops_known("", all[i]));
    }
    CHECK(ops_find("", "Gemm", 6) == NULL);
    CHECK(ops_find("", "Split", 13) != NULL);
    CHECK(ops_find("", "Loop", 13) == NULL);
}

int main(void)
{
    test_registry();
    test_binary_broadcast();
    test_binary_int_and_errors();
    test_pow();
    test_unary();
    test_clip();
    test_softmax();
    test_gemm();
    test_matmul();
    test_reshape();
    test_flatten_squeeze();
    test_concat_identity_shape();
    test_transpose();
    test_gather();
    test_constant();
    test_cast();
    test_cast_half();
    test_quantize();
    test_matmul_integer();
    test_reduce();
    test_argmax();
    for (int i = 0; i < nallocs; i++) free(allocs[i]);
    free(allocs);
    free(ctx.scratch);
    return TH_DONE();
}
