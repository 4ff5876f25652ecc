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

static int fln_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    int64_t len = in[0]->dims[in[0]->rank - 1], rows = len ? tensor_numel(in[0]) / len : 0;
    kern_layernorm_f32(in[0]->data, out[0].data, rows, len, in[1]->data, in[2] ? in[2]->data : NULL,
                       *(const float *)n->state);
    return 0;
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

static int mmb_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const tensor_t *a = in[0], *w = in[1];
    int64_t K = w->dims[0], N = w->dims[1], M = K ? tensor_numel(a) / K : 0;
    kern_sgemm_bias(x->nthreads > 1 ? x->pool : NULL, M, N, K, a->data, w->data, in[2]->data,
                    out[0].data);
    return 0;
}

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
