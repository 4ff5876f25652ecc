/* Matrix products: MatMul (numpy matmul, batched with broadcasting) and Gemm (alpha, beta,
 * transposes, unidirectionally broadcast C), on OpenBLAS for float and double. */
#include <cblas.h>
#include <string.h>

#include "engine/ops/kern.h"
#include "kern/gemm.h"

static int mm_type_ok(dtype_t t)
{
    return t == DT_FLOAT || t == DT_DOUBLE || t == DT_INT32 || t == DT_INT64;
}

/* ==== kernels ==== */

/* c[M,N] = a[M,K] b[K,N], row by row as axpy so the inner loop is contiguous in b and c. */
#define MM_INT(name, T, U)                                                                         \
    static void name(int64_t M, int64_t N, int64_t K, const T *a, const T *b, T *c)                \
    {                                                                                              \
        for (int64_t i = 0; i < M; i++) {                                                          \
            T *ci = c + i * N;                                                                     \
            for (int64_t j = 0; j < N; j++) ci[j] = 0;                                             \
            for (int64_t k = 0; k < K; k++) {                                                      \
                U av = (U)a[i * K + k];                                                            \
                const T *bk = b + k * N;                                                           \
                for (int64_t j = 0; j < N; j++) ci[j] = (T)((U)ci[j] + av * (U)bk[j]);             \
            }                                                                                      \
        }                                                                                          \
    }

/* Integer products wrap like the elementwise integer ops. */
MM_INT(mm_i32, int32_t, uint32_t)
MM_INT(mm_i64, int64_t, uint64_t)

static void gemm_any(tpool_t *pool, dtype_t t, int64_t M, int64_t N, int64_t K, const void *a,
                     const void *b, void *c)
{
    if (M == 0 || N == 0) return;
    if (K == 0) {
        memset(c, 0, (size_t)(M * N) * dtype_size(t));
        return;
    }
    switch (t) {
    case DT_FLOAT: kern_sgemm(pool, false, false, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N); break;
    case DT_DOUBLE:
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)M, (int)N, (int)K, 1.0, a,
                    (int)K, b, (int)N, 0.0, c, (int)N);
        break;
    case DT_INT32: mm_i32(M, N, K, a, b, c); break;
    default: mm_i64(M, N, K, a, b, c); break;
    }
}

/* ==== MatMul ==== */

static int matmul_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                        size_t errlen)
{
    if (n->nin != 2 || !in[0] || !in[1])
        return kern_fail(err, errlen, "MatMul: expects 2 inputs, got %d", n->nin);
    const tensor_t *a = in[0], *b = in[1];
    if (a->dtype != b->dtype)
        return kern_fail(err, errlen, "MatMul: A is %s but B is %s: input types must match",
                         dtype_name(a->dtype), dtype_name(b->dtype));
    if (!mm_type_ok(a->dtype))
        return kern_fail(err, errlen, "MatMul: unsupported type %s (FP32, FP64, INT32, INT64)",
                         dtype_name(a->dtype));
    kern_mm_t s;
    if (kern_mm_shape("MatMul", a, b, &s, err, errlen) < 0) return -1;
    kern_mm_out_shape(a, b, &s, a->dtype, &out[0]);
    return 0;
}

typedef struct mm_batch {
    const kern_mm_t *s;
    const float *a, *b;
    float *o;
} mm_batch_t;

static int mm_batch_item(void *arg, int64_t i, int w)
{
    (void)w;
    const mm_batch_t *j = arg;
    const kern_mm_t *s = j->s;
    int64_t ia = kern_mm_batch_off(&s->ba, &s->bo, i), ib = kern_mm_batch_off(&s->bb, &s->bo, i);
    kern_sgemm1(false, false, s->M, s->N, s->K, 1.0f, j->a + ia * s->M * s->K, s->K,
                j->b + ib * s->K * s->N, s->N, 0.0f, j->o + i * s->M * s->N, s->N);
    return 0;
}

static int matmul_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    kern_mm_t s;
    char err[256];
    if (kern_mm_shape("MatMul", in[0], in[1], &s, err, sizeof err) < 0)
        return exec_fail(x, "%s", err);
    dtype_t t = in[0]->dtype;
    size_t es = dtype_size(t);
    int64_t nb = tensor_numel(&s.bo), na = tensor_numel(&s.ba);
    const char *a = in[0]->data, *b = in[1]->data;
    char *o = out[0].data;
    /* One shared B under a batch of A that is not itself broadcast: the batch stacks into one
     * taller matrix and a single GEMM does it all. */
    if (tensor_numel(&s.bb) == 1 && na == nb) {
        gemm_any(x->pool, t, nb * s.M, s.N, s.K, a, b, o);
        return 0;
    }
    if (t == DT_FLOAT && nb > 1) { /* attention heads: one small GEMM per pool item */
        mm_batch_t j = {&s, (const float *)a, (const float *)b, (float *)o};
        tpool_run(x->nthreads > 1 ? x->pool : NULL, nb, mm_batch_item, &j);
        return 0;
    }
    for (int64_t i = 0; i < nb; i++) {
        int64_t ia = kern_mm_batch_off(&s.ba, &s.bo, i), ib = kern_mm_batch_off(&s.bb, &s.bo, i);
        gemm_any(x->pool, t, s.M, s.N, s.K, a + ia * s.M * s.K * (int64_t)es,
                 b + ib * s.K * s.N * (int64_t)es, o + i * s.M * s.N * (int64_t)es);
    }
    return 0;
}

/* ==== Gemm ==== */

static int gemm_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                      size_t errlen)
{
    if (n->nin < 2 || !in[0] || !in[1])
        return kern_fail(err, errlen, "Gemm: expects inputs A and B");
    const tensor_t *a = in[0], *b = in[1], *c = n->nin > 2 ? in[2] : NULL;
    if (!c && n->opset < 11)
        return kern_fail(err, errlen, "Gemm: input C is required before opset 11");
    if (a->dtype != b->dtype || (c && c->dtype != a->dtype))
        return kern_fail(err, errlen, "Gemm: input types differ (A %s, B %s, C %s)",
                         dtype_name(a->dtype), dtype_name(b->dtype),
                         c ? dtype_name(c->dtype) : "none");
    if (a->dtype != DT_FLOAT && a->dtype != DT_DOUBLE)
        return kern_fail(err, errlen, "Gemm: unsupported type %s (FP32, FP64)",
                         dtype_name(a->dtype));
    if (a->rank != 2 || b->rank != 2)
        return kern_fail(err, errlen, "Gemm: A and B must be 2-D, got %s and %s", KERN_SHAPE(a),
                         KERN_SHAPE(b));
    int ta = node_attr_int(n, "transA", 0) != 0, tb = node_attr_int(n, "transB", 0) != 0;
    int64_t M = a->dims[ta], K = a->dims[!ta], Kb = b->dims[tb], N = b->dims[!tb];
    if (K != Kb)
        return kern_fail(err, errlen,
                         "Gemm: A is %s%s but B is %s%s: inner dimensions differ (%lld vs %lld)",
                         KERN_SHAPE(a), ta ? " (transposed)" : "", KERN_SHAPE(b),
                         tb ? " (transposed)" : "", (long long)K, (long long)Kb);
    if (c) {
        int ok = c->rank <= 2;
        if (ok && c->rank >= 1) ok = c->dims[c->rank - 1] == N || c->dims[c->rank - 1] == 1;
        if (ok && c->rank == 2) ok = c->dims[0] == M || c->dims[0] == 1;
        if (!ok)
            return kern_fail(err, errlen, "Gemm: C is %s, which does not broadcast to [%lld,%lld]",
                             KERN_SHAPE(c), (long long)M, (long long)N);
    }
    out[0].dtype = a->dtype;
    out[0].map_keys = NULL;
    out[0].rank = 2;
    out[0].dims[0] = M;
    out[0].dims[1] = N;
    return 0;
}

/* Writes C broadcast to [M,N] into y (which the BLAS call then scales by beta). */
static void fill_c(const tensor_t *c, int64_t M, int64_t N, char *y, size_t es)
{
    const char *cd = c->data;
    int64_t cm = c->rank == 2 ? c->dims[0] : 1, cn = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
    for (int64_t i = 0; i < M; i++) {
        const char *row = cd + (cm == 1 ? 0 : i * cn) * (int64_t)es;
        char *yr = y + i * N * (int64_t)es;
        if (cn == N) {
            memcpy(yr, row, (size_t)N * es);
        } else {
            for (int64_t j = 0; j < N; j++) memcpy(yr + j * (int64_t)es, row, es);
        }
    }
}

static int gemm_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const tensor_t *a = in[0], *b = in[1], *c = n->nin > 2 ? in[2] : NULL;
    int ta = node_attr_int(n, "transA", 0) != 0, tb = node_attr_int(n, "transB", 0) != 0;
    float alpha = node_attr_float(n, "alpha", 1.0f), beta = node_attr_float(n, "beta", 1.0f);
    int64_t M = out[0].dims[0], N = out[0].dims[1], K = a->dims[!ta];
    size_t es = dtype_size(a->dtype);
    if (M == 0 || N == 0) return 0;
    /* ONNX Runtime ignores C when beta is 0, so NaNs in C do not propagate then. */
    if (c && beta != 0.0f) {
        fill_c(c, M, N, out[0].data, es);
    } else {
        beta = 0.0f;
        memset(out[0].data, 0, (size_t)(M * N) * es);
    }
    if (K == 0) {
        /* Nothing to multiply: Y = beta * C. */
        for (int64_t i = 0; i < M * N; i++) {
            if (a->dtype == DT_FLOAT)
                ((float *)out[0].data)[i] *= beta;
            else
                ((double *)out[0].data)[i] *= beta;
        }
        return 0;
    }
    int lda = (int)(ta ? M : K), ldb = (int)(tb ? K : N);
    if (a->dtype == DT_DOUBLE) {
        cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (int)M, (int)N, (int)K, alpha, a->data, lda, b->data, ldb, beta, out[0].data,
                    (int)N);
    } else {
        kern_sgemm(x->pool, ta, tb, M, N, K, alpha, a->data, lda, b->data, ldb, beta, out[0].data,
                   N);
    }
    return 0;
}

const op_def_t onnx_op_matmul = {
    .domain = "",
    .name = "MatMul",
    .since = 1,
    .until = 21,
    .infer = matmul_infer,
    .run = matmul_run,
};

/* Gemm-6 and older carry a `broadcast` attribute; from 7 C always broadcasts. */
const op_def_t onnx_op_gemm = {
    .domain = "",
    .name = "Gemm",
    .since = 7,
    .until = 21,
    .infer = gemm_infer,
    .run = gemm_run,
};
