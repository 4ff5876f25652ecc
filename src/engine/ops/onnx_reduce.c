/* Reductions: ReduceSum, ReduceMean, ReduceMax, and the sums of a mapped input ReduceL1
 * (|x|), ReduceL2 (sqrt of x*x), ReduceSumSquare, ReduceLogSum (log of the sum), and ReduceMin
 * (the max of a reversed input) (axes as an
 * attribute, or as an input from opset 13 for ReduceSum and 18 for the others); ArgMax, ArgMin. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "engine/ops/kern.h"

typedef enum red_kind {
    RED_SUM,
    RED_MEAN,
    RED_MAX,
    /* sums of a mapped input, then a map of the sum (floating point only) */
    RED_L1,
    RED_L2,
    RED_SUMSQ,
    RED_LOGSUM,
    RED_MIN, /* the max of an order-reversed input (-x, or ~x for integers), reversed back */
} red_kind_t;

/* ==== kernels ==== */

/* Once size-1 dims are dropped and neighbours of the same kind merged, a reduction is built
 * from three loops: rows (an innermost reduced group, each result a contiguous row), columns
 * ([keep, R, inner], each output row a fold of R contiguous rows), and a general walk, element
 * by element, for reduced groups in several places. */
#define RED_KERNELS(sfx, T, ADD)                                                                   \
    static void sum_rows_##sfx(const T *x, T *y, int64_t rows, int64_t R)                          \
    {                                                                                              \
        for (int64_t r = 0; r < rows; r++) {                                                       \
            T s = 0;                                                                               \
            for (int64_t i = 0; i < R; i++) s = ADD(s, x[r * R + i]);                              \
            y[r] = s;                                                                              \
        }                                                                                          \
    }                                                                                              \
    static void max_rows_##sfx(const T *x, T *y, int64_t rows, int64_t R)                          \
    {                                                                                              \
        for (int64_t r = 0; r < rows; r++) {                                                       \
            T m = x[r * R];                                                                        \
            for (int64_t i = 1; i < R; i++) m = x[r * R + i] > m ? x[r * R + i] : m;               \
            y[r] = m;                                                                              \
        }                                                                                          \
    }                                                                                              \
    KERN_CLONES static void cols_##sfx(const T *x, T *y, int64_t outer, int64_t R, int64_t inner,  \
                                       int max)                                                    \
    {                                                                                              \
        for (int64_t o = 0; o < outer; o++) {                                                      \
            const T *xo = x + o * R * inner;                                                       \
            T *yo = y + o * inner;                                                                 \
            memcpy(yo, xo, (size_t)inner * sizeof(T));                                             \
            for (int64_t k = 1; k < R; k++) {                                                      \
                const T *xr = xo + k * inner;                                                      \
                if (max)                                                                           \
                    for (int64_t j = 0; j < inner; j++) yo[j] = xr[j] > yo[j] ? xr[j] : yo[j];     \
                else                                                                               \
                    for (int64_t j = 0; j < inner; j++) yo[j] = ADD(yo[j], xr[j]);                 \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    static void walk_##sfx(const T *x, T *y, int rank, const int64_t *dims, const int64_t *ostr,   \
                           int max)                                                                \
    {                                                                                              \
        int64_t idx[TENSOR_MAX_RANK] = {0}, oi = 0, total = 1;                                     \
        for (int k = 0; k < rank; k++) total *= dims[k];                                           \
        for (int64_t i = 0; i < total; i++) {                                                      \
            if (max)                                                                               \
                y[oi] = x[i] > y[oi] ? x[i] : y[oi];                                               \
            else                                                                                   \
                y[oi] = ADD(y[oi], x[i]);                                                          \
            for (int k = rank - 1; k >= 0; k--) {                                                  \
                oi += ostr[k];                                                                     \
                if (++idx[k] < dims[k]) break;                                                     \
                oi -= ostr[k] * dims[k];                                                           \
                idx[k] = 0;                                                                        \
            }                                                                                      \
        }                                                                                          \
    }

#define FADD(a, b)   ((a) + (b))
#define IADD32(a, b) ((int32_t)((uint32_t)(a) + (uint32_t)(b)))
#define IADD64(a, b) ((int64_t)((uint64_t)(a) + (uint64_t)(b)))
#define NOADD(a, b)  (a)

RED_KERNELS(f32, float, FADD)
RED_KERNELS(f64, double, FADD)
RED_KERNELS(i32, int32_t, IADD32)
RED_KERNELS(i64, int64_t, IADD64)
RED_KERNELS(u8, uint8_t, NOADD)
RED_KERNELS(i8, int8_t, NOADD)

/* ==== axes ==== */

static int axes_from_input(const node_t *n)
{
    if (strcmp(n->op_type, "ReduceSum") == 0) return n->opset >= 13;
    return n->opset >= 18;
}

/* Marks the reduced dims of input a in mask. Returns 1 for "no reduction" (empty axes with
 * noop_with_empty_axes), 0 otherwise, -1 on error. */
static int red_axes(const node_t *n, const tensor_t *const *in, int *mask, char *err, size_t errlen)
{
    const tensor_t *a = in[0];
    int64_t axes[TENSOR_MAX_RANK], na = 0;
    if (axes_from_input(n)) {
        const tensor_t *t = n->nin > 1 ? in[1] : NULL;
        if (t) {
            if (!t->data && tensor_numel(t) > 0)
                return kern_fail(err, errlen,
                                 "%s: the axes input must be a constant (data-dependent shapes "
                                 "are not supported)",
                                 n->op_type);
            if (t->dtype != DT_INT64 || t->rank > 1)
                return kern_fail(err, errlen, "%s: axes must be a 1-D INT64 tensor, got %s %s",
                                 n->op_type, dtype_name(t->dtype), KERN_SHAPE(t));
            if (kern_read_ints(t, axes, TENSOR_MAX_RANK, &na) < 0)
                return kern_fail(err, errlen, "%s: %lld axes for input %s", n->op_type,
                                 (long long)tensor_numel(t), KERN_SHAPE(a));
        }
        if (na == 0 && node_attr_int(n, "noop_with_empty_axes", 0)) return 1;
    } else {
        const int64_t *v = node_attr_ints(n, "axes", &na);
        if (na > TENSOR_MAX_RANK)
            return kern_fail(err, errlen, "%s: %lld axes for input %s", n->op_type, (long long)na,
                             KERN_SHAPE(a));
        if (na) memcpy(axes, v, sizeof(int64_t) * (size_t)na);
    }
    for (int i = 0; i < a->rank; i++) mask[i] = na == 0;
    for (int64_t i = 0; i < na; i++) {
        int ax = ops_axis(axes[i], a->rank);
        if (ax < 0 || a->rank == 0)
            return kern_fail(err, errlen, "%s: axis %lld is out of range for input %s", n->op_type,
                             (long long)axes[i], KERN_SHAPE(a));
        if (mask[ax])
            return kern_fail(err, errlen, "%s: axis %lld is repeated", n->op_type,
                             (long long)axes[i]);
        mask[ax] = 1;
    }
    return 0;
}

static int red_type_ok(red_kind_t k, dtype_t t)
{
    if (k == RED_MIN) return red_type_ok(RED_MAX, t);
    if (k >= RED_L1) return t == DT_FLOAT || t == DT_DOUBLE;
    if (t == DT_FLOAT || t == DT_DOUBLE || t == DT_INT32 || t == DT_INT64) return 1;
    return k == RED_MAX && (t == DT_UINT8 || t == DT_INT8);
}

static int red_infer(red_kind_t k, const node_t *n, const tensor_t *const *in, tensor_t *out,
                     char *err, size_t errlen)
{
    if (n->nin < 1 || !in[0]) return kern_fail(err, errlen, "%s: missing input", n->op_type);
    const tensor_t *a = in[0];
    if (!red_type_ok(k, a->dtype))
        return kern_fail(err, errlen, "%s: unsupported type %s", n->op_type, dtype_name(a->dtype));
    int mask[TENSOR_MAX_RANK];
    int noop = red_axes(n, in, mask, err, errlen);
    if (noop < 0) return -1;
    tensor_t *o = &out[0];
    o->dtype = a->dtype;
    o->rank = 0;
    o->map_keys = NULL;
    int keep = node_attr_int(n, "keepdims", 1) != 0;
    for (int i = 0; i < a->rank; i++) {
        if (noop || !mask[i])
            o->dims[o->rank++] = a->dims[i];
        else if (keep)
            o->dims[o->rank++] = 1;
    }
    return 0;
}

static void fill_lowest(dtype_t t, void *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        switch (t) {
        case DT_FLOAT: ((float *)y)[i] = -INFINITY; break;
        case DT_DOUBLE: ((double *)y)[i] = -INFINITY; break;
        case DT_INT32: ((int32_t *)y)[i] = INT32_MIN; break;
        case DT_INT64: ((int64_t *)y)[i] = INT64_MIN; break;
        case DT_UINT8: ((uint8_t *)y)[i] = 0; break;
        default: ((int8_t *)y)[i] = INT8_MIN; break;
        }
    }
}

static void divide(dtype_t t, void *y, int64_t n, int64_t cnt)
{
    for (int64_t i = 0; i < n; i++) {
        switch (t) {
        case DT_FLOAT: ((float *)y)[i] /= (float)cnt; break;
        case DT_DOUBLE: ((double *)y)[i] /= (double)cnt; break;
        case DT_INT32: ((int32_t *)y)[i] /= (int32_t)cnt; break;
        default: ((int64_t *)y)[i] /= cnt; break;
        }
    }
}

#define DISPATCH(t, CALL)                                                                          \
    switch (t) {                                                                                   \
    case DT_FLOAT: CALL(f32, float); break;                                                        \
    case DT_DOUBLE: CALL(f64, double); break;                                                      \
    case DT_INT32: CALL(i32, int32_t); break;                                                      \
    case DT_INT64: CALL(i64, int64_t); break;                                                      \
    case DT_UINT8: CALL(u8, uint8_t); break;                                                       \
    default: CALL(i8, int8_t); break;                                                              \
    }

/* y[i] = sum or max of x[i * len .. (i + 1) * len). */
static void fold_rows(dtype_t t, int max, const void *xd, void *yd, int64_t rows, int64_t len)
{
    if (t == DT_FLOAT) {
        const float *xf = xd;
        for (int64_t i = 0; i < rows; i++)
            ((float *)yd)[i] =
                max ? kern_max_f32(xf + i * len, len) : kern_sum_f32(xf + i * len, len);
    } else if (t == DT_DOUBLE && !max) {
        for (int64_t i = 0; i < rows; i++)
            ((double *)yd)[i] = kern_sum_f64((const double *)xd + i * len, len);
    } else {
#define ROWS(sfx, T) max ? max_rows_##sfx(xd, yd, rows, len) : sum_rows_##sfx(xd, yd, rows, len)
        DISPATCH(t, ROWS)
#undef ROWS
    }
}

/* Reduces a (RED_SUM, RED_MEAN or RED_MAX) over the dims in mask into out; temporary rows go to
 * scratch past its first `skip` bytes. */
static int red_core(red_kind_t k, const node_t *n, const tensor_t *a, const int *mask, int noop,
                    tensor_t *out, exec_ctx_t *x, size_t skip)
{
    dtype_t t = a->dtype;
    int64_t nout = tensor_numel(&out[0]), nin = tensor_numel(a), cnt = nout ? nin / nout : 0;
    if (nout == 0) return 0;
    if (noop || nin == nout) {
        memcpy(out[0].data, a->data, (size_t)nin * dtype_size(t));
        return 0;
    }
    if (nin == 0) {
        /* An empty reduction: the sum is 0, the mean 0/0 and the max the lowest value. */
        memset(out[0].data, 0, (size_t)nout * dtype_size(t));
        if (k == RED_MAX) fill_lowest(t, out[0].data, nout);
        if (k == RED_MEAN) divide(t, out[0].data, nout, 0);
        return 0;
    }
    /* Drop size-1 dims and merge neighbours of the same kind into groups. */
    int64_t d[TENSOR_MAX_RANK];
    int r[TENSOR_MAX_RANK], g = 0;
    for (int i = 0; i < a->rank; i++) {
        if (a->dims[i] == 1) continue;
        if (g && r[g - 1] == mask[i]) {
            d[g - 1] *= a->dims[i];
        } else {
            d[g] = a->dims[i];
            r[g++] = mask[i];
        }
    }
    int max = k == RED_MAX;
    const void *xd = a->data;
    void *yd = out[0].data;
    /* An innermost reduced group is folded first, contiguous row by row, as ONNX Runtime does
     * (its per-row sums are what a [R,K,R] sum then adds up); what is left to reduce has its
     * innermost group kept. */
    if (r[g - 1]) {
        int64_t len = d[--g], rows = nin / len;
        char *scr = g <= 1 ? NULL : exec_scratch(x, skip + (size_t)rows * dtype_size(t));
        if (g > 1 && !scr) return exec_fail(x, "%s: out of memory", n->op_type);
        void *dst = g <= 1 ? yd : scr + skip;
        fold_rows(t, max, xd, dst, rows, len);
        xd = dst;
        if (g <= 1) {
            if (k == RED_MEAN) divide(t, yd, nout, cnt);
            return 0;
        }
    }
    if (g <= 3) {
        int64_t outer = g == 3 ? d[0] : 1, inner = d[g - 1];
#define COLS(sfx, T) cols_##sfx(xd, yd, outer, d[g - 2], inner, max)
        DISPATCH(t, COLS)
#undef COLS
        if (k == RED_MEAN) divide(t, yd, nout, cnt);
        return 0;
    }
    /* Reduced groups in several places: walk the input once, each element folding into its
     * output, whose stride is 0 along reduced groups. */
    int64_t ostr[TENSOR_MAX_RANK], s = 1;
    for (int i = g - 1; i >= 0; i--) {
        ostr[i] = r[i] ? 0 : s;
        if (!r[i]) s *= d[i];
    }
    if (max)
        fill_lowest(t, yd, nout);
    else
        memset(yd, 0, (size_t)nout * dtype_size(t));
#define WALK(sfx, T) walk_##sfx(xd, yd, g, d, ostr, max)
    DISPATCH(t, WALK)
#undef WALK
    if (k == RED_MEAN) divide(t, yd, nout, cnt);
    return 0;
}

/* dst = an order-reversing, exact, self-inverse map of src: -x for floats, ~x for integers
 * (which cannot overflow as -INT_MIN would). */
static void reverse_order(dtype_t t, const void *src, void *dst, int64_t n)
{
#define REV(sfx, T)                                                                                \
    for (int64_t i = 0; i < n; i++) {                                                              \
        T v = ((const T *)src)[i];                                                                 \
        ((T *)dst)[i] = (T)(t == DT_FLOAT || t == DT_DOUBLE ? -v : (T) ~(int64_t)v);               \
    }
    DISPATCH(t, REV)
#undef REV
}

static int red_min(const node_t *n, const tensor_t *a, const int *mask, int noop, tensor_t *out,
                   exec_ctx_t *x)
{
    tensor_t m = *a;
    int64_t cnt = tensor_numel(&m);
    size_t skip = ((size_t)cnt * dtype_size(m.dtype) + 63) & ~(size_t)63;
    if (!(m.data = exec_scratch(x, 2 * skip + 64))) return exec_fail(x, "out of memory");
    reverse_order(m.dtype, a->data, m.data, cnt);
    if (red_core(RED_MAX, n, &m, mask, noop, out, x, skip)) return -1;
    reverse_order(m.dtype, out[0].data, out[0].data, tensor_numel(&out[0]));
    return 0;
}

static int red_run(red_kind_t k, const node_t *n, const tensor_t *const *in, tensor_t *out,
                   exec_ctx_t *x)
{
    int mask[TENSOR_MAX_RANK];
    char err[256];
    int noop = red_axes(n, in, mask, err, sizeof err);
    if (noop < 0) return exec_fail(x, "%s", err);
    if (k < RED_L1) return red_core(k, n, in[0], mask, noop, out, x, 0);
    if (k == RED_MIN) return red_min(n, in[0], mask, noop, out, x);
    /* The mapped input goes to the start of scratch; red_core's rows come after it. */
    tensor_t m = *in[0];
    int64_t cnt = tensor_numel(&m), nout = tensor_numel(&out[0]);
    size_t es = dtype_size(m.dtype), skip = ((size_t)cnt * es + 63) & ~(size_t)63;
    if (!(m.data = exec_scratch(x, 2 * skip + 64))) return exec_fail(x, "out of memory");
    for (int64_t i = 0; i < cnt; i++) {
        double v = m.dtype == DT_FLOAT ? ((const float *)in[0]->data)[i]
                                       : ((const double *)in[0]->data)[i];
        v = k == RED_L1 ? fabs(v) : k == RED_LOGSUM ? v : v * v;
        if (m.dtype == DT_FLOAT) /* x*x rounded to float, as a float computation does */
            ((float *)m.data)[i] =
                k == RED_L2 || k == RED_SUMSQ
                    ? ((const float *)in[0]->data)[i] * ((const float *)in[0]->data)[i]
                    : (float)v;
        else
            ((double *)m.data)[i] = v;
    }
    if (red_core(RED_SUM, n, &m, mask, noop, out, x, skip)) return -1;
    if (k == RED_L2 || k == RED_LOGSUM)
        for (int64_t i = 0; i < nout; i++) {
            if (m.dtype == DT_FLOAT) {
                float *y = out[0].data;
                y[i] = k == RED_L2 ? sqrtf(y[i]) : logf(y[i]);
            } else {
                double *y = out[0].data;
                y[i] = k == RED_L2 ? sqrt(y[i]) : log(y[i]);
            }
        }
    return 0;
}

#define REDOP(fn, KIND)                                                                            \
    static int fn##_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,    \
                          size_t errlen)                                                           \
    {                                                                                              \
        return red_infer(KIND, n, in, out, err, errlen);                                           \
    }                                                                                              \
    static int fn##_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)  \
    {                                                                                              \
        return red_run(KIND, n, in, out, x);                                                       \
    }

REDOP(rsum, RED_SUM)
REDOP(rmean, RED_MEAN)
REDOP(rmax, RED_MAX)
REDOP(rl1, RED_L1)
REDOP(rl2, RED_L2)
REDOP(rsumsq, RED_SUMSQ)
REDOP(rlogsum, RED_LOGSUM)
REDOP(rmin, RED_MIN)

/* ==== ArgMax, ArgMin ==== */

static int arg_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                     size_t errlen)
{
    if (n->nin < 1 || !in[0]) return kern_fail(err, errlen, "%s: missing input", n->op_type);
    const tensor_t *a = in[0];
    if (!red_type_ok(RED_MAX, a->dtype))
        return kern_fail(err, errlen, "%s: unsupported type %s", n->op_type, dtype_name(a->dtype));
    int64_t axis = node_attr_int(n, "axis", 0);
    int ax = a->rank ? ops_axis(axis, a->rank) : -1;
    if (ax < 0)
        return kern_fail(err, errlen, "%s: axis %lld is out of range for input %s", n->op_type,
                         (long long)axis, KERN_SHAPE(a));
    if (a->dims[ax] == 0)
        return kern_fail(err, errlen, "%s: axis %d of input %s is empty", n->op_type, ax,
                         KERN_SHAPE(a));
    int keep = node_attr_int(n, "keepdims", 1) != 0;
    tensor_t *o = &out[0];
    o->dtype = DT_INT64;
    o->rank = 0;
    o->map_keys = NULL;
    for (int i = 0; i < a->rank; i++) {
        if (i != ax)
            o->dims[o->rank++] = a->dims[i];
        else if (keep)
            o->dims[o->rank++] = 1;
    }
    return 0;
}

/* Strict comparison keeps the first of equal extremes; non-strict (select_last_index) the
 * last. Along a non-innermost axis all `inner` columns advance together (best values in
 * scratch, indices straight into y), so memory is read row by row rather than down columns. */
#define ARG_BETTER(v, b) (min ? (last ? (v) <= (b) : (v) < (b)) : (last ? (v) >= (b) : (v) > (b)))
#define ARG_KERNEL(sfx, T)                                                                         \
    static void arg_##sfx(const T *x, int64_t *y, int64_t outer, int64_t len, int64_t inner,       \
                          int min, int last, T *best)                                              \
    {                                                                                              \
        for (int64_t o = 0; o < outer; o++) {                                                      \
            const T *xo = x + o * len * inner;                                                     \
            int64_t *yo = y + o * inner;                                                           \
            if (inner == 1) {                                                                      \
                T b = xo[0];                                                                       \
                int64_t bi = 0;                                                                    \
                for (int64_t k = 1; k < len; k++)                                                  \
                    if (ARG_BETTER(xo[k], b)) b = xo[k], bi = k;                                   \
                *yo = bi;                                                                          \
                continue;                                                                          \
            }                                                                                      \
            memcpy(best, xo, (size_t)inner * sizeof(T));                                           \
            memset(yo, 0, (size_t)inner * sizeof *yo);                                             \
            for (int64_t k = 1; k < len; k++)                                                      \
                for (int64_t j = 0; j < inner; j++)                                                \
                    if (ARG_BETTER(xo[k * inner + j], best[j]))                                    \
                        best[j] = xo[k * inner + j], yo[j] = k;                                    \
        }                                                                                          \
    }

ARG_KERNEL(f32, float)
ARG_KERNEL(f64, double)
ARG_KERNEL(i32, int32_t)
ARG_KERNEL(i64, int64_t)
ARG_KERNEL(u8, uint8_t)
ARG_KERNEL(i8, int8_t)

static int arg_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x,
                   int min)
{
    const tensor_t *a = in[0];
    int ax = ops_axis(node_attr_int(n, "axis", 0), a->rank);
    int last = n->opset >= 12 && node_attr_int(n, "select_last_index", 0) != 0;
    int64_t outer = 1, inner = 1, len = a->dims[ax];
    for (int i = 0; i < a->rank; i++) {
        if (i < ax) outer *= a->dims[i];
        if (i > ax) inner *= a->dims[i];
    }
    void *best = exec_scratch(x, (size_t)inner * dtype_size(a->dtype));
    if (!best) return exec_fail(x, "%s: out of memory", n->op_type);
#define ARG(sfx, T) arg_##sfx(a->data, out[0].data, outer, len, inner, min, last, best)
    DISPATCH(a->dtype, ARG)
#undef ARG
    return 0;
}

static int argmax_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    return arg_run(n, in, out, x, 0);
}

static int argmin_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    return arg_run(n, in, out, x, 1);
}

#define DEF(var, NAME, fn) ONNX_OP(var, NAME, 1, fn##_infer, fn##_run)

DEF(reduce_sum, "ReduceSum", rsum)
DEF(reduce_mean, "ReduceMean", rmean)
DEF(reduce_max, "ReduceMax", rmax)
DEF(reduce_l1, "ReduceL1", rl1)
DEF(reduce_l2, "ReduceL2", rl2)
DEF(reduce_sum_square, "ReduceSumSquare", rsumsq)
DEF(reduce_log_sum, "ReduceLogSum", rlogsum)
DEF(reduce_min, "ReduceMin", rmin)

const op_def_t onnx_op_argmax = {
    .domain = "",
    .name = "ArgMax",
    .since = 1,
    .until = 21,
    .infer = arg_infer,
    .run = argmax_run,
};

const op_def_t onnx_op_argmin = {
    .domain = "",
    .name = "ArgMin",
    .since = 1,
    .until = 21,
    .infer = arg_infer,
    .run = argmin_run,
};
