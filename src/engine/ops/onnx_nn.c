/* Neural-network ops over the kern/nn.h kernels: Erf and LayerNormalization (opset 17). */
#include <string.h>

#include "engine/ops/kern.h"

static int f32_unary_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                           size_t errlen)
{
    if (in[0]->dtype != DT_FLOAT)
        return kern_fail(err, errlen, "%s: unsupported type %s (FP32)", n->op_type,
                         dtype_name(in[0]->dtype));
    out[0] = *in[0];
    out[0].data = NULL;
    out[0].map_keys = NULL;
    return 0;
}

static int erf_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    kern_erf_f32(in[0]->data, out[0].data, tensor_numel(in[0]));
    return 0;
}

/* ==== LayerNormalization ==== */

/* The input as rows x len, normalised over the dims from `axis` on. */
static int ln_geom(const node_t *n, const tensor_t *const *in, int64_t *rows, int64_t *len,
                   char *err, size_t errlen)
{
    const tensor_t *a = in[0];
    int ax = ops_axis(node_attr_int(n, "axis", -1), a->rank);
    if (ax < 0)
        return kern_fail(err, errlen, "LayerNormalization: axis %lld is out of range for %s",
                         (long long)node_attr_int(n, "axis", -1), KERN_SHAPE(a));
    *rows = *len = 1;
    for (int i = 0; i < a->rank; i++) *(i < ax ? rows : len) *= a->dims[i];
    return 0;
}

static int ln_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                    size_t errlen)
{
    if (n->nout > 1)
        return kern_fail(err, errlen,
                         "LayerNormalization: the Mean and InvStdDev outputs are not supported");
    if (f32_unary_infer(n, in, out, err, errlen)) return -1;
    int64_t rows, len;
    if (ln_geom(n, in, &rows, &len, err, errlen)) return -1;
    for (int i = 1; i < n->nin && i < 3; i++)
        if (in[i] && (in[i]->dtype != DT_FLOAT || tensor_numel(in[i]) != len))
            return kern_fail(err, errlen,
                             "LayerNormalization: %s is %s %s; expected FP32 with %lld values",
                             i == 1 ? "Scale" : "B", dtype_name(in[i]->dtype), KERN_SHAPE(in[i]),
                             (long long)len);
    return 0;
}

static int ln_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    int64_t rows, len;
    char err[256];
    if (ln_geom(n, in, &rows, &len, err, sizeof err)) return exec_fail(x, "%s", err);
    kern_layernorm_f32(in[0]->data, out[0].data, rows, len, in[1]->data,
                       n->nin > 2 && in[2] ? in[2]->data : NULL,
                       node_attr_float(n, "epsilon", 1e-5f));
    return 0;
}

const op_def_t onnx_op_erf = {
    .domain = "",
    .name = "Erf",
    .since = 9,
    .until = 21,
    .infer = f32_unary_infer,
    .run = erf_run,
};

const op_def_t onnx_op_layer_norm = {
    .domain = "",
    .name = "LayerNormalization",
    .since = 17,
    .until = 21,
    .infer = ln_infer,
    .run = ln_run,
};
