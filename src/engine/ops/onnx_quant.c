/* 8-bit quantization, as onnxruntime.quantization's dynamic int8 exports use it
 * (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul, Gather -> DequantizeLinear):
 * QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, MatMulInteger and QLinearMatMul.
 * Rounding and scale arithmetic follow ONNX Runtime's CPU kernels exactly (float division by the
 * scale, then round half to even), so quantized values match ORT's bit for bit. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "engine/ops/kern.h"

static int is_q8(dtype_t t)
{
    return t == DT_UINT8 || t == DT_INT8;
}

/* Element i of a UINT8 or INT8 tensor. */
static inline int32_t q8_at(const tensor_t *t, int64_t i)
{
    return t->dtype == DT_UINT8 ? ((const uint8_t *)t->data)[i] : ((const int8_t *)t->data)[i];
}

/* x / scale rounded half to even, plus the zero point, saturated to the 8-bit type (ORT's
 * MlasQuantizeLinear). NaN gives the lowest value, as MLAS's max-then-min clamp does on x86. */
static inline int32_t quantize1(float x, float scale, int32_t zp, int32_t lo, int32_t hi)
{
    float v = nearbyintf(x / scale) + (float)zp;
    v = !(v >= (float)lo) ? (float)lo : v > (float)hi ? (float)hi : v;
    return (int32_t)v;
}

/* ==== per-tensor or per-axis parameters (QuantizeLinear, DequantizeLinear) ==== */

/* How scale and zero point index x: one value for the whole tensor (C == 1), or one per index
 * of axis (x walked as outer x C x inner). */
typedef struct qparams {
    int64_t outer, C, inner;
} qparams_t;

static int qparams(const node_t *n, const char *op, const tensor_t *x, const tensor_t *scale,
                   const tensor_t *zp, qparams_t *p, char *err, size_t errlen)
{
    if (node_attr_int(n, "block_size", 0) != 0)
        return kern_fail(err, errlen, "%s: blocked quantization is not supported", op);
    if (scale->dtype != DT_FLOAT)
        return kern_fail(err, errlen, "%s: the scale must be FP32, got %s", op,
                         dtype_name(scale->dtype));
    int64_t ns = tensor_numel(scale);
    if (zp && (tensor_numel(zp) != ns || zp->rank != scale->rank))
        return kern_fail(err, errlen, "%s: zero point %s and scale %s differ in shape", op,
                         KERN_SHAPE(zp), KERN_SHAPE(scale));
    p->outer = 1;
    p->C = 1;
    p->inner = tensor_numel(x);
    if (scale->rank == 0 || (scale->rank == 1 && ns == 1 && n->opset < 13)) {
        if (ns != 1) return kern_fail(err, errlen, "%s: the scale must be a scalar", op);
        return 0;
    }
    if (n->opset < 13 || scale->rank != 1)
        return kern_fail(err, errlen, "%s: the scale must be a scalar or 1-D, got %s", op,
                         KERN_SHAPE(scale));
    int axis = ops_axis(node_attr_int(n, "axis", 1), x->rank);
    if (axis < 0) return kern_fail(err, errlen, "%s: axis out of range for %s", op, KERN_SHAPE(x));
    if (x->dims[axis] != ns)
        return kern_fail(err, errlen, "%s: %lld scales for axis %d of %s", op, (long long)ns, axis,
                         KERN_SHAPE(x));
    p->C = ns;
    p->inner = 1;
    for (int d = 0; d < axis; d++) p->outer *= x->dims[d];
    for (int d = axis + 1; d < x->rank; d++) p->inner *= x->dims[d];
    return 0;
}

/* ==== QuantizeLinear ==== */

static int quantize_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                          size_t errlen)
{
    const tensor_t *x = in[0], *scale = in[1], *zp = n->nin > 2 ? in[2] : NULL;
    if (x->dtype != DT_FLOAT && x->dtype != DT_INT32)
        return kern_fail(err, errlen, "QuantizeLinear: input must be FP32 or INT32, got %s",
                         dtype_name(x->dtype));
    dtype_t t = zp ? zp->dtype : (dtype_t)node_attr_int(n, "output_dtype", DT_UINT8);
    if (!is_q8(t))
        return kern_fail(err, errlen,
                         "QuantizeLinear: output type %s is not supported (UINT8, "
                         "INT8)",
                         dtype_name(t));
    qparams_t p;
    if (qparams(n, "QuantizeLinear", x, scale, zp, &p, err, errlen)) return -1;
    out[0] = *x;
    out[0].dtype = t;
    out[0].data = NULL;
    return 0;
}

static int quantize_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const tensor_t *zp = n->nin > 2 ? in[2] : NULL;
    qparams_t p;
    char err[256];
    if (qparams(n, "QuantizeLinear", in[0], in[1], zp, &p, err, sizeof err))
        return exec_fail(x, "%s", err);
    const float *scale = in[1]->data;
    int u8 = out[0].dtype == DT_UINT8;
    int32_t lo = u8 ? 0 : -128, hi = u8 ? 255 : 127;
    int64_t i = 0;
    for (int64_t o = 0; o < p.outer; o++)
        for (int64_t c = 0; c < p.C; c++) {
            float s = scale[c];
            int32_t z = zp ? q8_at(zp, c) : 0;
            for (int64_t k = 0; k < p.inner; k++, i++) {
                float v = in[0]->dtype == DT_FLOAT ? ((const float *)in[0]->data)[i]
                                                   : (float)((const int32_t *)in[0]->data)[i];
                int32_t q = quantize1(v, s, z, lo, hi);
                if (u8)
                    ((uint8_t *)out[0].data)[i] = (uint8_t)q;
                else
                    ((int8_t *)out[0].data)[i] = (int8_t)q;
            }
        }
    return 0;
}

const op_def_t onnx_op_quantize_linear = {
    .domain = "",
    .name = "QuantizeLinear",
    .since = 10,
    .until = 21,
    .infer = quantize_infer,
    .run = quantize_run,
};

/* ==== DequantizeLinear ==== */

static int dequantize_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                            size_t errlen)
{
    const tensor_t *x = in[0], *scale = in[1], *zp = n->nin > 2 ? in[2] : NULL;
    if (!is_q8(x->dtype) && x->dtype != DT_INT32)
        return kern_fail(err, errlen,
                         "DequantizeLinear: input type %s is not supported (UINT8, "
                         "INT8, INT32)",
                         dtype_name(x->dtype));
    if (zp && zp->dtype != x->dtype)
        return kern_fail(err, errlen, "DequantizeLinear: zero point is %s, input %s",
                         dtype_name(zp->dtype), dtype_name(x->dtype));
    qparams_t p;
    if (qparams(n, "DequantizeLinear", x, scale, zp, &p, err, errlen)) return -1;
    out[0] = *x;
    out[0].dtype = DT_FLOAT;
    out[0].data = NULL;
    return 0;
}

static int dequantize_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const tensor_t *zp = n->nin > 2 ? in[2] : NULL;
    qparams_t p;
    char err[256];
    if (qparams(n, "DequantizeLinear", in[0], in[1], zp, &p, err, sizeof err))
        return exec_fail(x, "%s", err);
    const float *scale = in[1]->data;
    float *y = out[0].data;
    int i32 = in[0]->dtype == DT_INT32;
    int64_t i = 0;
    for (int64_t o = 0; o < p.outer; o++)
        for (int64_t c = 0; c < p.C; c++) {
            float s = scale[c];
            int32_t z = !zp ? 0 : i32 ? ((const int32_t *)zp->data)[c] : q8_at(zp, c);
            for (int64_t k = 0; k < p.inner; k++, i++) {
                int32_t v = i32 ? ((const int32_t *)in[0]->data)[i] : q8_at(in[0], i);
                y[i] = (float)(v - z) * s; /* ORT: float(int32(x) - zp) * scale */
            }
        }
    return 0;
}

const op_def_t onnx_op_dequantize_linear = {
    .domain = "",
    .name = "DequantizeLinear",
    .since = 10,
    .until = 21,
    .infer = dequantize_infer,
    .run = dequantize_run,
};

/* ==== DynamicQuantizeLinear ==== */

static int dynq_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                      size_t errlen)
{
    if (in[0]->dtype != DT_FLOAT)
        return kern_fail(err, errlen, "DynamicQuantizeLinear: input must be FP32, got %s",
                         dtype_name(in[0]->dtype));
    out[0] = *in[0];
    out[0].dtype = DT_UINT8;
    out[0].data = NULL;
    memset(&out[1], 0, sizeof out[1]);
    out[1].dtype = DT_FLOAT;
    if (n->nout > 2) {
        memset(&out[2], 0, sizeof out[2]);
        out[2].dtype = DT_UINT8;
    }
    return 0;
}

KERN_CLONES static void minmax_f32(const float *x, int64_t n, float *mn, float *mx)
{
    float lo = 0, hi = 0; /* the range always includes zero */
    for (int64_t i = 0; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    *mn = lo;
    *mx = hi;
}

static int dynq_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const float *v = in[0]->data;
    int64_t count = tensor_numel(in[0]);
    float mn, mx;
    minmax_f32(v, count, &mn, &mx);
    /* ORT's GetQuantizationParameter: scale 1 for an all-zero input (the spec's formula would
     * divide by zero), zero point clamped to [0, 255] then rounded half to even. */
    float scale = mx == mn ? 1.0f : (mx - mn) / 255.0f;
    float zpf = 0.0f - mn / scale;
    zpf = zpf < 0.0f ? 0.0f : zpf > 255.0f ? 255.0f : zpf;
    int32_t zp = (int32_t)nearbyintf(zpf);
    uint8_t *y = out[0].data;
    for (int64_t i = 0; i < count; i++) y[i] = (uint8_t)quantize1(v[i], scale, zp, 0, 255);
    *(float *)out[1].data = scale;
    if (n->nout > 2) *(uint8_t *)out[2].data = (uint8_t)zp;
    return 0;
}

const op_def_t onnx_op_dynamic_quantize_linear = {
    .domain = "",
    .name = "DynamicQuantizeLinear",
    .since = 11,
    .until = 21,
    .infer = dynq_infer,
    .run = dynq_run,
};

/* ==== MatMulInteger, QLinearMatMul ==== */

/* numpy matmul shapes of two 8-bit operands (rank-1 A is a row, rank-1 B a column; batch dims
 * broadcast). */
static int qmm_shape(const char *op, const tensor_t *a, const tensor_t *b, kern_mm_t *s, char *err,
                     size_t errlen)
{
    if (!is_q8(a->dtype) || !is_q8(b->dtype))
        return kern_fail(err, errlen, "%s: inputs must be UINT8 or INT8, got %s and %s", op,
                         dtype_name(a->dtype), dtype_name(b->dtype));
    return kern_mm_shape(op, a, b, s, err, errlen);
}

/* A zero point is one value, or one per row of A (M values) / per column of B (N values). */
static int zp_ok(const tensor_t *zp, int64_t per)
{
    if (!zp) return 1;
    int64_t n = tensor_numel(zp);
    return n == 1 || (n == per && zp->dims[zp->rank - 1] == per);
}

/* c[M,N] = (a - za)[M,K] (b - zb)[K,N] in int32 (exact: ONNX says the sum may wrap only past
 * 32 bits). za has one value per row (or the same for all), zb one per column. Row by row as
 * axpy, so the inner loop is contiguous in b and c and vectorises. */
KERN_CLONES static void qgemm_row(int64_t N, int64_t K, const void *arow, int a_u8, int32_t za,
                                  const void *b, int b_u8, const int32_t *zb, int32_t *c)
{
    for (int64_t j = 0; j < N; j++) c[j] = 0;
    for (int64_t k = 0; k < K; k++) {
        int32_t av = (a_u8 ? ((const uint8_t *)arow)[k] : ((const int8_t *)arow)[k]) - za;
        if (av == 0) continue;
        if (b_u8) {
            const uint8_t *bk = (const uint8_t *)b + k * N;
            for (int64_t j = 0; j < N; j++) c[j] += av * ((int32_t)bk[j] - zb[j]);
        } else {
            const int8_t *bk = (const int8_t *)b + k * N;
            for (int64_t j = 0; j < N; j++) c[j] += av * ((int32_t)bk[j] - zb[j]);
        }
    }
}

/* The int32 product of the batched operands into c, zero points za (A) and zb (B) or NULL;
 * zbv is room for N int32. */
static void qmm_run(const kern_mm_t *s, const tensor_t *a, const tensor_t *za, const tensor_t *b,
                    const tensor_t *zb, int32_t *zbv, int32_t *c)
{
    int64_t nzb = zb ? tensor_numel(zb) : 0;
    for (int64_t j = 0; j < s->N; j++) zbv[j] = !zb ? 0 : q8_at(zb, nzb == 1 ? 0 : j);
    int64_t nza = za ? tensor_numel(za) : 0;
    int64_t nb = tensor_numel(&s->bo);
    for (int64_t i = 0; i < nb; i++) {
        int64_t ia = kern_mm_batch_off(&s->ba, &s->bo, i),
                ib = kern_mm_batch_off(&s->bb, &s->bo, i);
        const char *am = (const char *)a->data + ia * s->M * s->K;
        const char *bm = (const char *)b->data + ib * s->K * s->N;
        for (int64_t r = 0; r < s->M; r++) {
            int32_t zav = !za ? 0 : q8_at(za, nza == 1 ? 0 : r);
            qgemm_row(s->N, s->K, am + r * s->K, a->dtype == DT_UINT8, zav, bm,
                      b->dtype == DT_UINT8, zbv, c + (i * s->M + r) * s->N);
        }
    }
}

/* Rows of K a float GEMM may sum exactly: every |(a - za)(b - zb)| <= 255 * 255, so 256 of them
 * and every partial sum, in any order, stay below 2^24, where floats hold integers exactly. */
#define QMM_EXACT_K 256

/* dst[j] = float(src[j] - z[step ? j : 0]) over one row of 8-bit values. */
KERN_CLONES static void widen_row(int u8, const char *src, const int32_t *z, int step, float *dst,
                                  int64_t n)
{
    if (u8) {
        const uint8_t *v = (const uint8_t *)src;
        if (step)
            for (int64_t j = 0; j < n; j++) dst[j] = (float)((int32_t)v[j] - z[j]);
        else
            for (int64_t j = 0; j < n; j++) dst[j] = (float)((int32_t)v[j] - z[0]);
    } else {
        const int8_t *v = (const int8_t *)src;
        if (step)
            for (int64_t j = 0; j < n; j++) dst[j] = (float)((int32_t)v[j] - z[j]);
        else
            for (int64_t j = 0; j < n; j++) dst[j] = (float)((int32_t)v[j] - z[0]);
    }
}

static size_t align64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

/* The common case of a shared 2-D B (weights) under a batch of A, on sgemm: A's batch stacks into
 * one matrix of rows, operands are widened to float with their zero points subtracted, and K is
 * split into runs of QMM_EXACT_K whose float sums are exact integers, added up in int32. Gives
 * exactly qmm_run's result, several times faster (BLAS kernels). 0, or -1 when out of memory. */
static int qmm_run_f32(exec_ctx_t *x, const kern_mm_t *s, const tensor_t *a, const tensor_t *za,
                       const tensor_t *b, const tensor_t *zb, int32_t *c)
{
    int64_t rows = tensor_numel(&s->bo) * s->M, N = s->N, K = s->K;
    size_t oa = 0, ob = oa + align64(sizeof(float) * (size_t)(rows * K)),
           oc = ob + align64(sizeof(float) * (size_t)(K * N)),
           end = oc + align64(sizeof(float) * (size_t)(rows * N));
    char *scr = exec_scratch(x, end + sizeof(int32_t) * (size_t)N);
    if (!scr) return -1;
    float *af = (float *)(scr + oa), *bf = (float *)(scr + ob), *cf = (float *)(scr + oc);
    int64_t nza = za ? tensor_numel(za) : 0, nzb = zb ? tensor_numel(zb) : 0;
    int32_t zrow[1];
    for (int64_t r = 0; r < rows; r++) {
        zrow[0] = !za ? 0 : q8_at(za, nza == 1 ? 0 : r % s->M);
        widen_row(a->dtype == DT_UINT8, (const char *)a->data + r * K, zrow, 0, af + r * K, K);
    }
    /* the zero points of B's columns, as int32 past the end of cf */
    int32_t *zcol = (int32_t *)(scr + end);
    for (int64_t j = 0; j < N; j++) zcol[j] = !zb ? 0 : q8_at(zb, nzb == 1 ? 0 : j);
    for (int64_t k = 0; k < K; k++)
        widen_row(b->dtype == DT_UINT8, (const char *)b->data + k * N, zcol, 1, bf + k * N, N);
    for (int64_t k0 = 0; k0 < K; k0 += QMM_EXACT_K) {
        int64_t kc = K - k0 < QMM_EXACT_K ? K - k0 : QMM_EXACT_K;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)N, (int)kc, 1.0f,
                    af + k0, (int)K, bf + k0 * N, (int)N, 0.0f, cf, (int)N);
        if (k0 == 0)
            for (int64_t i = 0; i < rows * N; i++) c[i] = (int32_t)cf[i];
        else
            for (int64_t i = 0; i < rows * N; i++) c[i] += (int32_t)cf[i];
    }
    return 0;
}

static int mmi_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                     size_t errlen)
{
    const tensor_t *za = n->nin > 2 ? in[2] : NULL, *zb = n->nin > 3 ? in[3] : NULL;
    kern_mm_t s;
    if (qmm_shape("MatMulInteger", in[0], in[1], &s, err, errlen)) return -1;
    if ((za && za->dtype != in[0]->dtype) || (zb && zb->dtype != in[1]->dtype))
        return kern_fail(err, errlen, "MatMulInteger: zero points must have their input's type");
    if (!zp_ok(za, s.M) || !zp_ok(zb, s.N))
        return kern_fail(err, errlen,
                         "MatMulInteger: zero points must be scalars, per row of A "
                         "or per column of B");
    kern_mm_out_shape(in[0], in[1], &s, DT_INT32, &out[0]);
    return 0;
}

static int mmi_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const tensor_t *za = n->nin > 2 ? in[2] : NULL, *zb = n->nin > 3 ? in[3] : NULL;
    kern_mm_t s;
    char err[256];
    if (qmm_shape("MatMulInteger", in[0], in[1], &s, err, sizeof err))
        return exec_fail(x, "%s", err);
    /* Large products with one shared B go to sgemm (exactly the same integers); small ones are
     * faster in plain loops than the widening copies. */
    int64_t nb = tensor_numel(&s.bo);
    if (tensor_numel(&s.bb) == 1 && tensor_numel(&s.ba) == nb && s.K > 0 &&
        nb * s.M * s.N * s.K >= ((int64_t)1 << 16) && nb * s.M * s.K < INT32_MAX &&
        s.N * s.K < INT32_MAX) {
        if (qmm_run_f32(x, &s, in[0], za, in[1], zb, out[0].data))
            return exec_fail(x, "out of memory");
        return 0;
    }
    int32_t *zbv = exec_scratch(x, sizeof(int32_t) * (size_t)(s.N + 1));
    if (!zbv) return exec_fail(x, "out of memory");
    qmm_run(&s, in[0], za, in[1], zb, zbv, out[0].data);
    return 0;
}

const op_def_t onnx_op_matmul_integer = {
    .domain = "",
    .name = "MatMulInteger",
    .since = 10,
    .until = 21,
    .infer = mmi_infer,
    .run = mmi_run,
};

/* QLinearMatMul: inputs a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale,
 * y_zero_point; per-tensor scales and zero points (ORT's CPU kernel's limit too). */
static int qlmm_check(const tensor_t *const *in, kern_mm_t *s, char *err, size_t errlen)
{
    if (qmm_shape("QLinearMatMul", in[0], in[3], s, err, errlen)) return -1;
    for (int i = 1; i < 8; i++) {
        if (i == 3) continue;
        if (tensor_numel(in[i]) != 1)
            return kern_fail(err, errlen,
                             "QLinearMatMul: only per-tensor scales and zero points "
                             "are supported (input %d is %s)",
                             i, KERN_SHAPE(in[i]));
        dtype_t want = i == 1 || i == 4 || i == 6 ? DT_FLOAT : in[i == 7 ? 7 : i - 2]->dtype;
        if (in[i]->dtype != want)
            return kern_fail(err, errlen, "QLinearMatMul: input %d is %s, expected %s", i,
                             dtype_name(in[i]->dtype), dtype_name(want));
    }
    if (!is_q8(in[7]->dtype))
        return kern_fail(err, errlen, "QLinearMatMul: output type %s is not supported",
                         dtype_name(in[7]->dtype));
    return 0;
}

static int qlmm_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                      size_t errlen)
{
    kern_mm_t s;
    if (qlmm_check(in, &s, err, errlen)) return -1;
    kern_mm_out_shape(in[0], in[3], &s, in[7]->dtype, &out[0]);
    return 0;
}

static int qlmm_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    kern_mm_t s;
    char err[256];
    if (qlmm_check(in, &s, err, sizeof err)) return exec_fail(x, "%s", err);
    int64_t count = tensor_numel(&out[0]);
    int32_t *zbv = exec_scratch(x, sizeof(int32_t) * (size_t)(count + s.N + 1));
    if (!zbv) return exec_fail(x, "out of memory");
    int32_t *prod = zbv + s.N + 1;
    qmm_run(&s, in[0], in[2], in[3], in[5], zbv, prod);
    /* ORT requantizes with one float multiplier: acc * (a_scale * b_scale / y_scale). */
    float mult =
        *(const float *)in[1]->data * *(const float *)in[4]->data / *(const float *)in[6]->data;
    int32_t zy = q8_at(in[7], 0);
    int u8 = out[0].dtype == DT_UINT8;
    for (int64_t i = 0; i < count; i++) {
        int32_t q = quantize1((float)prod[i] * mult, 1.0f, zy, u8 ? 0 : -128, u8 ? 255 : 127);
        if (u8)
            ((uint8_t *)out[0].data)[i] = (uint8_t)q;
        else
            ((int8_t *)out[0].data)[i] = (int8_t)q;
    }
    return 0;
}

const op_def_t onnx_op_qlinear_matmul = {
    .domain = "",
    .name = "QLinearMatMul",
    .since = 10,
    .until = 21,
    .infer = qlmm_infer,
    .run = qlmm_run,
};
