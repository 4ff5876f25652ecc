/* Elementwise ai.onnx ops: Add, Sub, Mul, Div, Pow with numpy broadcasting; Neg, Abs, Relu,
 * LeakyRelu, Sigmoid, Tanh, Exp, Log, Sqrt; Clip. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/ops/kern.h"

/* ==== binary kernels ==== */

/* Each binary op has three inner loops: both operands advance (vv), the left one is a single
 * element repeated over the run (sv), or the right one is (vs). kern_bcast_t reduces every
 * broadcast to runs of one of these shapes. */
typedef void (*bin_fn)(const void *a, const void *b, void *o, int64_t n);
typedef struct bin_kernels {
    bin_fn vv, sv, vs;
} bin_kernels_t;

#define BIN_KERNELS(name, T, EXPR)                                                                 \
    KERN_CLONES static void name##_vv(const void *pa, const void *pb, void *po, int64_t n)         \
    {                                                                                              \
        const T *a = pa, *b = pb;                                                                  \
        T *o = po;                                                                                 \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T x = a[i], y = b[i];                                                                  \
            o[i] = (EXPR);                                                                         \
        }                                                                                          \
    }                                                                                              \
    KERN_CLONES static void name##_sv(const void *pa, const void *pb, void *po, int64_t n)         \
    {                                                                                              \
        const T *b = pb;                                                                           \
        T *o = po, x = *(const T *)pa;                                                             \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T y = b[i];                                                                            \
            o[i] = (EXPR);                                                                         \
        }                                                                                          \
    }                                                                                              \
    KERN_CLONES static void name##_vs(const void *pa, const void *pb, void *po, int64_t n)         \
    {                                                                                              \
        const T *a = pa;                                                                           \
        T *o = po, y = *(const T *)pb;                                                             \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T x = a[i];                                                                            \
            o[i] = (EXPR);                                                                         \
        }                                                                                          \
    }                                                                                              \
    static const bin_kernels_t name = {name##_vv, name##_sv, name##_vs};

/* Integer add, sub, mul and negation wrap around in two's complement (as ONNX Runtime does on
 * every target it supports); computing them in the unsigned type keeps that defined in C. */
BIN_KERNELS(add_f32, float, x + y)
BIN_KERNELS(add_f64, double, x + y)
BIN_KERNELS(add_i32, int32_t, (int32_t)((uint32_t)x + (uint32_t)y))
BIN_KERNELS(add_i64, int64_t, (int64_t)((uint64_t)x + (uint64_t)y))
BIN_KERNELS(sub_f32, float, x - y)
BIN_KERNELS(sub_f64, double, x - y)
BIN_KERNELS(sub_i32, int32_t, (int32_t)((uint32_t)x - (uint32_t)y))
BIN_KERNELS(sub_i64, int64_t, (int64_t)((uint64_t)x - (uint64_t)y))
BIN_KERNELS(mul_f32, float, x *y)
BIN_KERNELS(mul_f64, double, x *y)
BIN_KERNELS(mul_i32, int32_t, (int32_t)((uint32_t)x *(uint32_t)y))
BIN_KERNELS(mul_i64, int64_t, (int64_t)((uint64_t)x *(uint64_t)y))
BIN_KERNELS(div_f32, float, x / y)
BIN_KERNELS(div_f64, double, x / y)
/* Integer Div truncates toward zero like C++ (ONNX Runtime), not floor like numpy. A zero
 * divisor is rejected before the kernel runs; MIN / -1 wraps instead of trapping. */
BIN_KERNELS(div_i32, int32_t, y == -1 ? (int32_t)(0u - (uint32_t)x) : x / y)
BIN_KERNELS(div_i64, int64_t, y == -1 ? (int64_t)(0u - (uint64_t)x) : x / y)
/* UINT8 (as ONNX Runtime registers it for the four arithmetic ops): wraps modulo 256. */
BIN_KERNELS(add_u8, uint8_t, (uint8_t)(x + y))
BIN_KERNELS(sub_u8, uint8_t, (uint8_t)(x - y))
BIN_KERNELS(mul_u8, uint8_t, (uint8_t)(x *y))
BIN_KERNELS(div_u8, uint8_t, (uint8_t)(x / y))
BIN_KERNELS(pow_f32, float, powf(x, y))
BIN_KERNELS(pow_f64, double, pow(x, y))

/* ONNX Runtime special-cases a scalar exponent of 2 or 3 as repeated multiplication. */
KERN_CLONES static void sq_f32(const float *a, float *o, int64_t n)
{
    for (int64_t i = 0; i < n; i++) o[i] = a[i] * a[i];
}

KERN_CLONES static void cube_f32(const float *a, float *o, int64_t n)
{
    for (int64_t i = 0; i < n; i++) o[i] = a[i] * a[i] * a[i];
}

typedef struct binop {
    const bin_kernels_t *f32, *f64, *i32, *i64, *u8;
} binop_t;

static const binop_t ADD = {&add_f32, &add_f64, &add_i32, &add_i64, &add_u8};
static const binop_t SUB = {&sub_f32, &sub_f64, &sub_i32, &sub_i64, &sub_u8};
static const binop_t MUL = {&mul_f32, &mul_f64, &mul_i32, &mul_i64, &mul_u8};
static const binop_t DIV = {&div_f32, &div_f64, &div_i32, &div_i64, &div_u8};

static const bin_kernels_t *bin_pick(const binop_t *op, dtype_t t)
{
    switch (t) {
    case DT_FLOAT: return op->f32;
    case DT_DOUBLE: return op->f64;
    case DT_INT32: return op->i32;
    case DT_INT64: return op->i64;
    case DT_UINT8: return op->u8;
    default: return NULL;
    }
}

static int bcast_out(const node_t *n, const tensor_t *a, const tensor_t *b, tensor_t *o, char *err,
                     size_t errlen)
{
    char why[512];
    o->map_keys = NULL;
    if (ops_broadcast_shape(a, b, o, why, sizeof why) < 0)
        return kern_fail(err, errlen, "%s: %s", n->op_type, why);
    return 0;
}

static int bin_infer(const binop_t *op, const node_t *n, const tensor_t *const *in, tensor_t *out,
                     char *err, size_t errlen)
{
    if (n->nin != 2 || !in[0] || !in[1])
        return kern_fail(err, errlen, "%s: expects 2 inputs, got %d", n->op_type, n->nin);
    if (in[0]->dtype != in[1]->dtype)
        return kern_fail(err, errlen, "%s: A is %s but B is %s: input types must match", n->op_type,
                         dtype_name(in[0]->dtype), dtype_name(in[1]->dtype));
    if (!bin_pick(op, in[0]->dtype))
        return kern_fail(err, errlen, "%s: unsupported type %s (FP32, FP64, INT32, INT64, UINT8)",
                         n->op_type, dtype_name(in[0]->dtype));
    out[0].dtype = in[0]->dtype;
    return bcast_out(n, in[0], in[1], &out[0], err, errlen);
}

/* A short row broadcast against many rows ([N,3] + [3]) would make one kernel call per
 * 3-element run. Instead the row is tiled into scratch up to TILE elements, so each call covers
 * many rows of the contiguous operand. */
#define TILE 1024

static int bin_tiled(const bin_kernels_t *k, kern_bcast_t *p, const char *pa, const char *pb,
                     char *po, size_t es, exec_ctx_t *x)
{
    int last = p->rank - 1;
    if (last < 0 || p->inner * 16 > TILE || !p->a_step || !p->b_step) return 0;
    int64_t sa = p->sa[last], sb = p->sb[last], rows = p->dims[last], inner = p->inner;
    /* One operand must step through the last outer dim contiguously while the other repeats. */
    int arow = sa == 0 && sb == inner, brow = sb == 0 && sa == inner;
    if (!(arow || brow) || rows < 16) return 0;
    int64_t R = TILE / inner < rows ? TILE / inner : rows;
    char *tile = exec_scratch(x, (size_t)(R * inner) * es);
    if (!tile) return 0;
    for (int64_t h = 0; h < p->outer; h += rows) {
        const char *row = arow ? pa + p->oa * (int64_t)es : pb + p->ob * (int64_t)es;
        const char *full = arow ? pb + p->ob * (int64_t)es : pa + p->oa * (int64_t)es;
        for (int64_t r = 0; r < R; r++) memcpy(tile + r * inner * (int64_t)es, row, inner * es);
        for (int64_t r = 0; r < rows; r += R) {
            int64_t n = (rows - r < R ? rows - r : R) * inner;
            const char *f = full + r * inner * (int64_t)es;
            k->vv(arow ? tile : f, arow ? f : tile, po, n);
            po += n * (int64_t)es;
        }
        /* Jump the walk to the last run of this block, then step past it. */
        p->idx[last] = rows - 1;
        p->oa += sa * (rows - 1);
        p->ob += sb * (rows - 1);
        kern_bcast_next(p);
    }
    return 1;
}

static void bin_apply(const bin_kernels_t *k, const tensor_t *a, const tensor_t *b, tensor_t *o,
                      exec_ctx_t *x)
{
    size_t es = dtype_size(o->dtype);
    kern_bcast_t p;
    kern_bcast_init(&p, a, b, o);
    bin_fn f = p.a_step && p.b_step ? k->vv : p.a_step ? k->vs : k->sv;
    const char *pa = a->data, *pb = b->data;
    char *po = o->data;
    if (bin_tiled(k, &p, pa, pb, po, es, x)) return;
    for (int64_t r = 0; r < p.outer; r++) {
        f(pa + p.oa * es, pb + p.ob * es, po + r * p.inner * es, p.inner);
        kern_bcast_next(&p);
    }
}

static int bin_run(const binop_t *op, const node_t *n, const tensor_t *const *in, tensor_t *out,
                   exec_ctx_t *x)
{
    const bin_kernels_t *k = bin_pick(op, in[0]->dtype);
    if (!k) return exec_fail(x, "%s: unsupported type %s", n->op_type, dtype_name(in[0]->dtype));
    bin_apply(k, in[0], in[1], &out[0], x);
    return 0;
}

#define BINOP(fn, OP)                                                                              \
    static int fn##_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,    \
                          size_t errlen)                                                           \
    {                                                                                              \
        return bin_infer(&OP, n, in, out, err, errlen);                                            \
    }                                                                                              \
    static int fn##_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)  \
    {                                                                                              \
        return bin_run(&OP, n, in, out, x);                                                        \
    }

BINOP(add, ADD)
BINOP(sub, SUB)
BINOP(mul, MUL)

static int div_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                     size_t errlen)
{
    return bin_infer(&DIV, n, in, out, err, errlen);
}

static int div_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const tensor_t *b = in[1];
    int64_t nb = tensor_numel(b);
    if (b->dtype == DT_INT32) {
        const int32_t *v = b->data;
        for (int64_t i = 0; i < nb; i++)
            if (!v[i]) return exec_fail(x, "Div: integer division by zero");
    } else if (b->dtype == DT_INT64) {
        const int64_t *v = b->data;
        for (int64_t i = 0; i < nb; i++)
            if (!v[i]) return exec_fail(x, "Div: integer division by zero");
    } else if (b->dtype == DT_UINT8) {
        const uint8_t *v = b->data;
        for (int64_t i = 0; i < nb; i++)
            if (!v[i]) return exec_fail(x, "Div: integer division by zero");
    }
    return bin_run(&DIV, n, in, out, x);
}

/* ==== Pow ==== */

static int pow_type_ok(dtype_t t)
{
    return t == DT_FLOAT || t == DT_DOUBLE || t == DT_INT32 || t == DT_INT64;
}

static int pow_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                     size_t errlen)
{
    if (n->nin != 2 || !in[0] || !in[1])
        return kern_fail(err, errlen, "Pow: expects 2 inputs, got %d", n->nin);
    if (!pow_type_ok(in[0]->dtype) || !pow_type_ok(in[1]->dtype))
        return kern_fail(err, errlen,
                         "Pow: unsupported types %s ^ %s (FP32, FP64, INT32, INT64 each)",
                         dtype_name(in[0]->dtype), dtype_name(in[1]->dtype));
    /* Before opset 12 base and exponent share one type parameter. */
    if (n->opset < 12 && in[0]->dtype != in[1]->dtype)
        return kern_fail(err, errlen, "Pow: X is %s but Y is %s (opset %d needs one type)",
                         dtype_name(in[0]->dtype), dtype_name(in[1]->dtype), n->opset);
    out[0].dtype = in[0]->dtype;
    return bcast_out(n, in[0], in[1], &out[0], err, errlen);
}

static double load_f64(const void *p, dtype_t t, int64_t i)
{
    switch (t) {
    case DT_FLOAT: return ((const float *)p)[i];
    case DT_DOUBLE: return ((const double *)p)[i];
    case DT_INT32: return ((const int32_t *)p)[i];
    default: return (double)((const int64_t *)p)[i];
    }
}

/* double -> integer where C leaves out-of-range values undefined: x86's cvttsd2si answer (the
 * minimum value), which is what ONNX Runtime's static_cast yields there. */
static int64_t f64_to_i64(double v)
{
    return v >= -9223372036854775808.0 && v < 9223372036854775808.0 ? (int64_t)v : INT64_MIN;
}

static int32_t f64_to_i32(double v)
{
    return v > -2147483649.0 && v < 2147483648.0 ? (int32_t)v : INT32_MIN;
}

/* Mixed base/exponent types follow C++ std::pow's promotion: anything other than float^float
 * is computed in double and converted back to the base's type. */
static void pow_generic(const tensor_t *a, const tensor_t *b, tensor_t *o)
{
    kern_bcast_t p;
    kern_bcast_init(&p, a, b, o);
    int64_t j = 0;
    for (int64_t r = 0; r < p.outer; r++) {
        for (int64_t i = 0; i < p.inner; i++, j++) {
            double v = pow(load_f64(a->data, a->dtype, p.oa + i * p.a_step),
                           load_f64(b->data, b->dtype, p.ob + i * p.b_step));
            switch (o->dtype) {
            case DT_FLOAT: ((float *)o->data)[j] = (float)v; break;
            case DT_DOUBLE: ((double *)o->data)[j] = v; break;
            case DT_INT32: ((int32_t *)o->data)[j] = f64_to_i32(v); break;
            default: ((int64_t *)o->data)[j] = f64_to_i64(v); break;
            }
        }
        kern_bcast_next(&p);
    }
}

static int pow_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const tensor_t *a = in[0], *b = in[1];
    if (a->dtype == DT_FLOAT && b->dtype == DT_FLOAT) {
        if (tensor_numel(b) == 1 && tensor_same_shape(a, &out[0])) {
            float e = *(const float *)b->data;
            if (e == 2.0f || e == 3.0f) {
                (e == 2.0f ? sq_f32 : cube_f32)(a->data, out[0].data, tensor_numel(a));
                return 0;
            }
        }
        bin_apply(&pow_f32, a, b, &out[0], x);
    } else if (a->dtype == DT_DOUBLE && b->dtype == DT_DOUBLE) {
        bin_apply(&pow_f64, a, b, &out[0], x);
    } else {
        pow_generic(a, b, &out[0]);
    }
    return 0;
}

/* ==== unary kernels ==== */

typedef void (*un_fn)(const void *x, void *o, int64_t n, float alpha);

#define UN_KERNEL(name, T, EXPR)                                                                   \
    KERN_CLONES static void name(const void *px, void *po, int64_t n, float alpha)                 \
    {                                                                                              \
        const T *a = px;                                                                           \
        T *o = po;                                                                                 \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T x = a[i];                                                                            \
            o[i] = (EXPR);                                                                         \
        }                                                                                          \
    }

UN_KERNEL(neg_f32, float, -x)
UN_KERNEL(neg_f64, double, -x)
UN_KERNEL(neg_i32, int32_t, (int32_t)(0u - (uint32_t)x))
UN_KERNEL(neg_i64, int64_t, (int64_t)(0u - (uint64_t)x))
UN_KERNEL(abs_f32, float, fabsf(x))
UN_KERNEL(abs_f64, double, fabs(x))
UN_KERNEL(abs_i32, int32_t, x < 0 ? (int32_t)(0u - (uint32_t)x) : x)
UN_KERNEL(abs_i64, int64_t, x < 0 ? (int64_t)(0u - (uint64_t)x) : x)
UN_KERNEL(relu_f32, float, x > 0 ? x : 0.0f)
UN_KERNEL(relu_f64, double, x > 0 ? x : 0.0)
UN_KERNEL(relu_i32, int32_t, x > 0 ? x : 0)
UN_KERNEL(relu_i64, int64_t, x > 0 ? x : 0)
UN_KERNEL(leaky_f32, float, x >= 0 ? x : alpha * x)
UN_KERNEL(leaky_f64, double, x >= 0 ? x : (double)alpha * x)
UN_KERNEL(sigmoid_f32, float, 1.0f / (1.0f + expf(-x)))
UN_KERNEL(sigmoid_f64, double, 1.0 / (1.0 + exp(-x)))
UN_KERNEL(tanh_f32, float, tanhf(x))
UN_KERNEL(tanh_f64, double, tanh(x))
UN_KERNEL(exp_f32, float, expf(x))
UN_KERNEL(exp_f64, double, exp(x))
UN_KERNEL(log_f32, float, logf(x))
UN_KERNEL(log_f64, double, log(x))
UN_KERNEL(sqrt_f32, float, sqrtf(x))
UN_KERNEL(sqrt_f64, double, sqrt(x))

typedef struct unop {
    un_fn f32, f64, i32, i64;
} unop_t;

static const unop_t NEG = {neg_f32, neg_f64, neg_i32, neg_i64};
static const unop_t ABS = {abs_f32, abs_f64, abs_i32, abs_i64};
static const unop_t RELU = {relu_f32, relu_f64, relu_i32, relu_i64};
static const unop_t LEAKY = {leaky_f32, leaky_f64, NULL, NULL};
static const unop_t SIGMOID = {sigmoid_f32, sigmoid_f64, NULL, NULL};
static const unop_t TANH = {tanh_f32, tanh_f64, NULL, NULL};
static const unop_t EXP = {exp_f32, exp_f64, NULL, NULL};
static const unop_t LOG = {log_f32, log_f64, NULL, NULL};
static const unop_t SQRT = {sqrt_f32, sqrt_f64, NULL, NULL};

static un_fn un_pick(const unop_t *op, dtype_t t)
{
    switch (t) {
    case DT_FLOAT: return op->f32;
    case DT_DOUBLE: return op->f64;
    case DT_INT32: return op->i32;
    case DT_INT64: return op->i64;
    default: return NULL;
    }
}

static int un_infer(const unop_t *op, const node_t *n, const tensor_t *const *in, tensor_t *out,
                    char *err, size_t errlen)
{
    if (n->nin < 1 || !in[0]) return kern_fail(err, errlen, "%s: missing input", n->op_type);
    if (!un_pick(op, in[0]->dtype))
        return kern_fail(err, errlen, "%s: unsupported type %s (%s)", n->op_type,
                         dtype_name(in[0]->dtype),
                         op->i32 ? "FP32, FP64, INT32, INT64" : "FP32, FP64");
    out[0] = *in[0];
    out[0].data = NULL;
    out[0].map_keys = NULL;
    return 0;
}

static int un_run(const unop_t *op, float alpha, const tensor_t *const *in, tensor_t *out)
{
    un_pick(op, in[0]->dtype)(in[0]->data, out[0].data, tensor_numel(in[0]), alpha);
    return 0;
}

#define UNOP(fn, OP)                                                                               \
    static int fn##_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,    \
                          size_t errlen)                                                           \
    {                                                                                              \
        return un_infer(&OP, n, in, out, err, errlen);                                             \
    }                                                                                              \
    static int fn##_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)  \
    {                                                                                              \
        return un_run(&OP, 0.0f, in, out);                                                         \
    }

UNOP(neg, NEG)
UNOP(abs, ABS)
UNOP(relu, RELU)
UNOP(sigmoid, SIGMOID)
UNOP(tanh, TANH)
UNOP(exp, EXP)
UNOP(log, LOG)
UNOP(sqrt, SQRT)

static int leaky_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                       size_t errlen)
{
    return un_infer(&LEAKY, n, in, out, err, errlen);
}

static int leaky_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    return un_run(&LEAKY, node_attr_float(n, "alpha", 0.01f), in, out);
}

/* ==== Clip ==== */

#define CLIP_KERNEL(name, T)                                                                       \
    KERN_CLONES static void name(const T *a, T *o, int64_t n, T lo, T hi)                          \
    {                                                                                              \
        for (int64_t i = 0; i < n; i++) {                                                          \
            T v = a[i] < lo ? lo : a[i];                                                           \
            o[i] = v > hi ? hi : v;                                                                \
        }                                                                                          \
    }

/* min(max(x, lo), hi): when lo > hi every element becomes hi, as the spec says. */
CLIP_KERNEL(clip_f32, float)
CLIP_KERNEL(clip_f64, double)
CLIP_KERNEL(clip_i32, int32_t)
CLIP_KERNEL(clip_i64, int64_t)
CLIP_KERNEL(clip_u8, uint8_t)
CLIP_KERNEL(clip_i8, int8_t)

static int clip_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                      size_t errlen)
{
    if (n->nin < 1 || !in[0]) return kern_fail(err, errlen, "Clip: missing input");
    dtype_t t = in[0]->dtype;
    int ok = t == DT_FLOAT || t == DT_DOUBLE;
    if (n->opset >= 12) ok = ok || t == DT_INT32 || t == DT_INT64 || t == DT_UINT8 || t == DT_INT8;
    if (!ok)
        return kern_fail(err, errlen, "Clip: unsupported type %s at opset %d", dtype_name(t),
                         n->opset);
    for (int i = 1; i < n->nin && i < 3 && n->opset >= 11; i++) {
        if (!in[i]) continue;
        if (in[i]->dtype != t)
            return kern_fail(err, errlen, "Clip: %s is %s but input is %s", i == 1 ? "min" : "max",
                             dtype_name(in[i]->dtype), dtype_name(t));
        if (tensor_numel(in[i]) != 1)
            return kern_fail(err, errlen, "Clip: %s must be a scalar, got shape %s",
                             i == 1 ? "min" : "max", KERN_SHAPE(in[i]));
    }
    out[0] = *in[0];
    out[0].data = NULL;
    out[0].map_keys = NULL;
    return 0;
}

static const void *clip_bound(const node_t *n, const tensor_t *const *in, int i)
{
    return n->opset >= 11 && i < n->nin && in[i] ? in[i]->data : NULL;
}

static int clip_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const void *lo = clip_bound(n, in, 1), *hi = clip_bound(n, in, 2);
    int64_t cnt = tensor_numel(in[0]);
    void *o = out[0].data;
    const void *a = in[0]->data;
#define CLIP_CASE(DT, fn, T, MIN, MAX)                                                             \
    case DT: fn(a, o, cnt, lo ? *(const T *)lo : (MIN), hi ? *(const T *)hi : (MAX)); break;
    switch (in[0]->dtype) {
    case DT_FLOAT: {
        float l = -FLT_MAX, h = FLT_MAX;
        if (n->opset < 11) {
            l = node_attr_float(n, "min", -FLT_MAX);
            h = node_attr_float(n, "max", FLT_MAX);
        }
        clip_f32(a, o, cnt, lo ? *(const float *)lo : l, hi ? *(const float *)hi : h);
        break;
    }
    case DT_DOUBLE: {
        double l = -DBL_MAX, h = DBL_MAX;
        if (n->opset < 11) {
            l = node_attr_float(n, "min", -FLT_MAX);
            h = node_attr_float(n, "max", FLT_MAX);
        }
        clip_f64(a, o, cnt, lo ? *(const double *)lo : l, hi ? *(const double *)hi : h);
        break;
    }
        CLIP_CASE(DT_INT32, clip_i32, int32_t, INT32_MIN, INT32_MAX)
        CLIP_CASE(DT_INT64, clip_i64, int64_t, INT64_MIN, INT64_MAX)
        CLIP_CASE(DT_UINT8, clip_u8, uint8_t, 0, UINT8_MAX)
        CLIP_CASE(DT_INT8, clip_i8, int8_t, INT8_MIN, INT8_MAX)
    default: return exec_fail(x, "Clip: unsupported type %s", dtype_name(in[0]->dtype));
    }
#undef CLIP_CASE
    return 0;
}

/* ==== op table ==== */

#define DEF(var, NAME, SINCE, fn) ONNX_OP(var, NAME, SINCE, fn##_infer, fn##_run)

/* Broadcasting binary ops start at 7 (before it they had a `broadcast` attribute); the unary
 * ops' semantics are unchanged since 6 (only types were added). */
DEF(add, "Add", 7, add)
DEF(sub, "Sub", 7, sub)
DEF(mul, "Mul", 7, mul)
DEF(div, "Div", 7, div)
DEF(pow, "Pow", 7, pow)
DEF(neg, "Neg", 6, neg)
DEF(abs, "Abs", 6, abs)
DEF(relu, "Relu", 6, relu)
DEF(leaky_relu, "LeakyRelu", 6, leaky)
DEF(sigmoid, "Sigmoid", 6, sigmoid)
DEF(tanh, "Tanh", 6, tanh)
DEF(exp, "Exp", 6, exp)
DEF(log, "Log", 6, log)
DEF(sqrt, "Sqrt", 6, sqrt)
DEF(clip, "Clip", 6, clip)
