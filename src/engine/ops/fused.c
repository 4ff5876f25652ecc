/* Ops the fusion pass (engine/fuse.c) puts in place of ONNX subgraphs; never named by a model
 * file. State set by the pass: FusedLayerNorm's epsilon (a float in n->state). */
#include <string.h>

#include "engine/ops/fused.h"
#include "engine/ops/kern.h"
#include "kern/gemm.h"

static int same_shape_f32(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                          size_t errlen)
{
    if (in[0]->dtype != DT_FLOAT || in[0]->rank < 1)
        return kern_fail(err, errlen, "%s: expected FP32 with rank >= 1, got %s %s", n->op_type,
                         dtype_name(in[0]->dtype), KERN_SHAPE(in[0]));
    out[0] = *in[0];
    out[0].data = NULL;
    out[0].map_keys = NULL;
    return 0;
}

/* ==== layer norm over the last axis: in = x, gamma, beta (or -1) ==== */

static int fln_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                     size_t errlen)
{
    if (same_shape_f32(n, in, out, err, errlen)) return -1;
    int64_t len = in[0]->dims[in[0]->rank - 1];
    for (int i = 1; i < 3; i++)
        if (in[i] && (in[i]->dtype != DT_FLOAT || tensor_numel(in[i]) != len))
            return kern_fail(err, errlen, "%s: %s is %s, not %lld floats", n->op_type,
                             i == 1 ? "scale" : "bias", KERN_SHAPE(in[i]), (long long)len);
    return 0;
}

typedef struct {
    const float *x, *gamma, *beta;
    float *y, eps;
    int64_t rows, len;
} fln_job_t;

/* Rows per item: a thread's share of a 128-token MiniLM layer norm is a few microseconds, so
 * chunks are coarse; below two chunks the op runs on the caller's thread alone. */
#define FLN_ROWS 32

static int fln_chunk(void *arg, int i)
{
    const fln_job_t *j = arg;
    int64_t r0 = (int64_t)i * FLN_ROWS, nr = j->rows - r0 < FLN_ROWS ? j->rows - r0 : FLN_ROWS;
    kern_layernorm_f32(j->x + r0 * j->len, j->y + r0 * j->len, nr, j->len, j->gamma, j->beta,
                       j->eps);
    return 0;
}

static int fln_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    int64_t len = in[0]->dims[in[0]->rank - 1], rows = len ? tensor_numel(in[0]) / len : 0;
    fln_job_t j = {
        in[0]->data, in[1]->data, in[2] ? in[2]->data : NULL, out[0].data, *(const float *)n->state,
        rows,        len};
    return exec_parallel(x, (int)((rows + FLN_ROWS - 1) / FLN_ROWS), fln_chunk, &j);
}

/* ==== GELU ==== */

static int gelu_erf_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    kern_gelu_erf_f32(in[0]->data, out[0].data, tensor_numel(in[0]));
    return 0;
}

static int gelu_tanh_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    kern_gelu_tanh_f32(in[0]->data, out[0].data, tensor_numel(in[0]));
    return 0;
}

/* ==== MatMul + bias: in = x [..., K], W [K, N], b [N] ==== */

static int mmb_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                     size_t errlen)
{
    const tensor_t *a = in[0], *w = in[1], *b = in[2];
    if (a->dtype != DT_FLOAT || w->dtype != DT_FLOAT || b->dtype != DT_FLOAT || a->rank < 2 ||
        w->rank != 2 || a->dims[a->rank - 1] != w->dims[0] || tensor_numel(b) != w->dims[1])
        return kern_fail(err, errlen, "%s: shapes %s x %s + %s do not fit", n->op_type,
                         KERN_SHAPE(a), KERN_SHAPE(w), KERN_SHAPE(b));
    out[0] = *a;
    out[0].data = NULL;
    out[0].map_keys = NULL;
    out[0].dims[a->rank - 1] = w->dims[1];
    return 0;
}

static void mmb(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x,
                kern_map_fn act)
{
    const tensor_t *a = in[0], *w = in[1];
    int64_t K = w->dims[0], N = w->dims[1], M = K ? tensor_numel(a) / K : 0;
    bool packed = n->state != NULL;
    kern_sgemm_bias(x->nthreads > 1 ? x->pool : NULL, M, N, K, a->data, w->data, packed,
                    in[2]->data, act, out[0].data);
}

static int mmb_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    mmb(n, in, out, x, NULL);
    return 0;
}

/* With the GELU that follows a transformer's first feed-forward product: each thread maps the
 * block it just computed, instead of one thread making a pass over the whole output after. */
static int mmb_gelu_erf_run(const node_t *n, const tensor_t *const *in, tensor_t *out,
                            exec_ctx_t *x)
{
    mmb(n, in, out, x, kern_gelu_erf_f32);
    return 0;
}

static int mmb_gelu_tanh_run(const node_t *n, const tensor_t *const *in, tensor_t *out,
                             exec_ctx_t *x)
{
    mmb(n, in, out, x, kern_gelu_tanh_f32);
    return 0;
}

/* ==== attention: in = Q, K, V [B,S,A*D], mask [B or 1, 1, 1 or S, S] (added to the scores);
 * n->state: int64 A, int64 D, float c (scores are divided by c) ==== */

static int att_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                     size_t errlen)
{
    const int64_t *st = n->state;
    const tensor_t *q = in[0], *m = in[3];
    for (int i = 0; i < 3; i++)
        if (in[i]->dtype != DT_FLOAT || in[i]->rank != 3 || !tensor_same_shape(in[i], q) ||
            q->dims[2] != st[0] * st[1])
            return kern_fail(err, errlen, "%s: Q, K, V must be FP32 [B,S,%lld], got %s", n->op_type,
                             (long long)(st[0] * st[1]), KERN_SHAPE(in[i]));
    int64_t B = q->dims[0], S = q->dims[1];
    if (m->dtype != DT_FLOAT || m->rank != 4 || (m->dims[0] != B && m->dims[0] != 1) ||
        m->dims[1] != 1 || (m->dims[2] != 1 && m->dims[2] != S) || m->dims[3] != S)
        return kern_fail(err, errlen, "%s: the mask is %s, expected FP32 [%lld,1,1,%lld]",
                         n->op_type, KERN_SHAPE(m), (long long)B, (long long)S);
    out[0] = *q;
    out[0].data = NULL;
    out[0].map_keys = NULL;
    return 0;
}

typedef struct att_job {
    const float *q, *k, *v, *mask;
    float *o, *scratch, c;
    int64_t B, S, A, D, mb, ms;
} att_job_t;

/* One (batch row, head): scores = Q_h K_h^T / c + mask, softmax by row, times V_h, written into
 * the head's columns of the output; the exporter's graph computes the same, op by op. */
static int att_item(void *arg, int64_t it, int w)
{
    const att_job_t *j = arg;
    int64_t b = it / j->A, h = it % j->A, S = j->S, D = j->D, H = j->A * j->D;
    const float *q = j->q + b * S * H + h * D, *k = j->k + b * S * H + h * D,
                *v = j->v + b * S * H + h * D;
    float *sc = j->scratch + (int64_t)w * (S * S + D * S), *kt = sc + S * S;
    /* From 64 tokens, K_h transposed into [D][S] lets the product stream it like a weight matrix
     * instead of going to BLAS with a transposed operand (128 tokens, 2 threads: 14.6 -> 14.3 ms
     * for the MiniLM-shaped encoder). Shorter rows are too few columns for the streaming kernel. */
    if (S >= 64) {
        for (int64_t t = 0; t < S; t++)
            for (int64_t d = 0; d < D; d++) kt[d * S + t] = k[t * H + d];
        kern_sgemm1(false, false, S, S, D, 1.0f, q, H, kt, S, 0.0f, sc, S);
    } else {
        kern_sgemm1(false, true, S, S, D, 1.0f, q, H, k, H, 0.0f, sc, S);
    }
    const float *mk = j->mask + (j->mb == 1 ? 0 : b) * j->ms * S;
    for (int64_t r = 0; r < S; r++) {
        const float *mr = mk + (j->ms == 1 ? 0 : r * S);
        float *row = sc + r * S;
        for (int64_t c = 0; c < S; c++) row[c] = row[c] / j->c + mr[c];
    }
    kern_softmax_f32(sc, S, S);
    kern_sgemm1(false, false, S, D, S, 1.0f, sc, S, v, H, 0.0f, j->o + b * S * H + h * D, H);
    return 0;
}

static int att_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const int64_t *st = n->state;
    const tensor_t *q = in[0], *m = in[3];
    att_job_t j = {q->data,    in[1]->data, in[2]->data, m->data, out[0].data, NULL,      0.0f,
                   q->dims[0], q->dims[1],  st[0],       st[1],   m->dims[0],  m->dims[2]};
    memcpy(&j.c, st + 2, sizeof j.c);
    int nt = x->nthreads > 1 && x->pool ? tpool_size(x->pool) : 1;
    j.scratch = exec_scratch(x, sizeof(float) * (size_t)(j.S * j.S + j.D * j.S) * (size_t)nt);
    if (!j.scratch) return exec_fail(x, "%s: out of memory", n->op_type);
    return tpool_run(nt > 1 ? x->pool : NULL, j.B * j.A, att_item, &j);
}

const op_def_t fused_op_attention = {
    .domain = "inferd",
    .name = "FusedAttention",
    .since = 1,
    .until = 1,
    .infer = att_infer,
    .run = att_run,
};

const op_def_t fused_op_layer_norm = {
    .domain = "inferd",
    .name = "FusedLayerNorm",
    .since = 1,
    .until = 1,
    .infer = fln_infer,
    .run = fln_run,
};
const op_def_t fused_op_gelu_erf = {
    .domain = "inferd",
    .name = "FusedGeluErf",
    .since = 1,
    .until = 1,
    .infer = same_shape_f32,
    .run = gelu_erf_run,
};
const op_def_t fused_op_gelu_tanh = {
    .domain = "inferd",
    .name = "FusedGeluTanh",
    .since = 1,
    .until = 1,
    .infer = same_shape_f32,
    .run = gelu_tanh_run,
};
const op_def_t fused_op_matmul_bias = {
    .domain = "inferd",
    .name = "FusedMatMulBias",
    .since = 1,
    .until = 1,
    .infer = mmb_infer,
    .run = mmb_run,
};
const op_def_t fused_op_matmul_bias_gelu_erf = {
    .domain = "inferd",
    .name = "FusedMatMulBiasGeluErf",
    .since = 1,
    .until = 1,
    .infer = mmb_infer,
    .run = mmb_gelu_erf_run,
};
const op_def_t fused_op_matmul_bias_gelu_tanh = {
    .domain = "inferd",
    .name = "FusedMatMulBiasGeluTanh",
    .since = 1,
    .until = 1,
    .infer = mmb_infer,
    .run = mmb_gelu_tanh_run,
};
