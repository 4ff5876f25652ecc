/* Softmax and LogSoftmax: before opset 13 over the input coerced to 2-D at `axis` (default 1),
 * from 13 along the single dimension `axis` (default -1). Float arithmetic as ONNX Runtime:
 * subtract the max, exponentiate, sum, then divide (or subtract the log of the sum). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "engine/ops/kern.h"

static int sm_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                    size_t errlen)
{
    if (n->nin < 1 || !in[0]) return kern_fail(err, errlen, "%s: missing input", n->op_type);
    const tensor_t *a = in[0];
    if (a->dtype != DT_FLOAT && a->dtype != DT_DOUBLE)
        return kern_fail(err, errlen, "%s: unsupported type %s (FP32, FP64)", n->op_type,
                         dtype_name(a->dtype));
    int64_t axis = node_attr_int(n, "axis", n->opset >= 13 ? -1 : 1);
    if (a->rank < 1 || ops_axis(axis, a->rank) < 0)
        return kern_fail(err, errlen, "%s: axis %lld is out of range for input %s", n->op_type,
                         (long long)axis, KERN_SHAPE(a));
    out[0] = *a;
    out[0].data = NULL;
    out[0].map_keys = NULL;
    return 0;
}

/* The input as [outer, len, inner] with the softmax taken over len. */
static void sm_geom(const node_t *n, const tensor_t *a, int64_t *outer, int64_t *len,
                    int64_t *inner)
{
    int ax = ops_axis(node_attr_int(n, "axis", n->opset >= 13 ? -1 : 1), a->rank);
    *outer = *len = *inner = 1;
    for (int i = 0; i < a->rank; i++) {
        if (i < ax)
            *outer *= a->dims[i];
        else if (i == ax || n->opset < 13)
            *len *= a->dims[i];
        else
            *inner *= a->dims[i];
    }
}

/* Softmax (or log-softmax) of `rows` contiguous rows of len floats. The sum of each row is taken
 * in order, as a plain loop would. */
static void sm_rows_f32(const float *x, float *y, int64_t rows, int64_t len, int lg)
{
    bool finite = true;
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * len;
        float m = kern_max_f32(xr, len);
        finite &= isfinite(m);
        for (int64_t i = 0; i < len; i++) y[r * len + i] = xr[i] - m;
    }
    if (finite) { /* one call over every row: short rows (10 classes) would leave a per-row
                   * loop mostly in its scalar tail */
        kern_exp_f32(y, y, rows * len);
    } else { /* NaN or infinity somewhere: libm gives IEEE's answers */
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * len;
            float m = kern_max_f32(xr, len);
            for (int64_t i = 0; i < len; i++) y[r * len + i] = expf(xr[i] - m);
        }
    }
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * len, s = 0.0f;
        for (int64_t i = 0; i < len; i++) s += yr[i];
        if (lg) {
            const float *xr = x + r * len;
            float m = kern_max_f32(xr, len), ls = logf(s);
            for (int64_t i = 0; i < len; i++) yr[i] = xr[i] - m - ls;
        } else {
            for (int64_t i = 0; i < len; i++) yr[i] /= s;
        }
    }
}

static void sm_row_f64(const double *x, double *y, int64_t len, int lg)
{
    double m = x[0], s = 0.0;
    for (int64_t i = 1; i < len; i++) m = x[i] > m ? x[i] : m;
    for (int64_t i = 0; i < len; i++) {
        y[i] = exp(x[i] - m);
        s += y[i];
    }
    if (lg) {
        double ls = log(s);
        for (int64_t i = 0; i < len; i++) y[i] = x[i] - m - ls;
    } else {
        for (int64_t i = 0; i < len; i++) y[i] /= s;
    }
}

/* A softmax over a non-innermost axis: `inner` independent columns of stride inner, processed
 * together so every loop runs over contiguous memory. mx and sum hold inner values each. */
#define SM_COLS(name, T, EXP, LOG)                                                                 \
    KERN_CLONES static void name(const T *x, T *y, int64_t len, int64_t inner, int lg, T *mx,      \
                                 T *sum)                                                           \
    {                                                                                              \
        memcpy(mx, x, (size_t)inner * sizeof(T));                                                  \
        for (int64_t k = 1; k < len; k++)                                                          \
            for (int64_t j = 0; j < inner; j++)                                                    \
                mx[j] = x[k * inner + j] > mx[j] ? x[k * inner + j] : mx[j];                       \
        memset(sum, 0, (size_t)inner * sizeof(T));                                                 \
        for (int64_t k = 0; k < len; k++)                                                          \
            for (int64_t j = 0; j < inner; j++) {                                                  \
                T e = EXP(x[k * inner + j] - mx[j]);                                               \
                y[k * inner + j] = e;                                                              \
                sum[j] += e;                                                                       \
            }                                                                                      \
        if (lg) {                                                                                  \
            for (int64_t j = 0; j < inner; j++) sum[j] = LOG(sum[j]);                              \
            for (int64_t k = 0; k < len; k++)                                                      \
                for (int64_t j = 0; j < inner; j++)                                                \
                    y[k * inner + j] = x[k * inner + j] - mx[j] - sum[j];                          \
        } else {                                                                                   \
            for (int64_t k = 0; k < len; k++)                                                      \
                for (int64_t j = 0; j < inner; j++) y[k * inner + j] /= sum[j];                    \
        }                                                                                          \
    }

SM_COLS(sm_cols_f32, float, expf, logf)
SM_COLS(sm_cols_f64, double, exp, log)

/* Rows of a float softmax split over the session's pool (attention scores: heads x tokens
 * rows); every row is computed alone, so the split never changes a bit. */
typedef struct sm_job {
    const float *x;
    float *y;
    int64_t rows, len, per;
    int lg;
} sm_job_t;

static int sm_chunk(void *arg, int64_t i, int w)
{
    (void)w;
    const sm_job_t *j = arg;
    int64_t r0 = i * j->per, nr = j->rows - r0 < j->per ? j->rows - r0 : j->per;
    sm_rows_f32(j->x + r0 * j->len, j->y + r0 * j->len, nr, j->len, j->lg);
    return 0;
}

static int sm_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x, int lg)
{
    const tensor_t *a = in[0];
    int64_t outer, len, inner;
    sm_geom(n, a, &outer, &len, &inner);
    if (len == 0 || inner == 0) return 0;
    int dbl = a->dtype == DT_DOUBLE;
    size_t es = dbl ? sizeof(double) : sizeof(float);
    void *tmp = NULL;
    if (inner > 1 && !(tmp = exec_scratch(x, 2 * (size_t)inner * es)))
        return exec_fail(x, "%s: out of memory for %lld columns", n->op_type, (long long)inner);
    if (!dbl && inner == 1) {
        /* Chunks of at least 16K elements: less is not worth a region. */
        int64_t per = (16384 + len - 1) / len;
        if (x->nthreads > 1 && x->pool && outer > per) {
            sm_job_t j = {a->data, out[0].data, outer, len, per, lg};
            return tpool_run(x->pool, (outer + per - 1) / per, sm_chunk, &j);
        }
        sm_rows_f32(a->data, out[0].data, outer, len, lg);
        return 0;
    }
    for (int64_t o = 0; o < outer; o++) {
        int64_t off = o * len * inner;
        if (dbl && inner == 1)
            sm_row_f64((const double *)a->data + off, (double *)out[0].data + off, len, lg);
        else if (dbl)
            sm_cols_f64((const double *)a->data + off, (double *)out[0].data + off, len, inner, lg,
                        tmp, (double *)tmp + inner);
        else
            sm_cols_f32((const float *)a->data + off, (float *)out[0].data + off, len, inner, lg,
                        tmp, (float *)tmp + inner);
    }
    return 0;
}

static int softmax_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    return sm_run(n, in, out, x, 0);
}

static int logsoftmax_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    return sm_run(n, in, out, x, 1);
}

const op_def_t onnx_op_softmax = {
    .domain = "",
    .name = "Softmax",
    .since = 1,
    .until = 21,
    .infer = sm_infer,
    .run = softmax_run,
};

const op_def_t onnx_op_logsoftmax = {
    .domain = "",
    .name = "LogSoftmax",
    .since = 1,
    .until = 21,
    .infer = sm_infer,
    .run = logsoftmax_run,
};
