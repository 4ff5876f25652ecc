/* Variadic elementwise ops: Max, Min, Sum, Mean over one or more inputs, broadcast numpy-style.
 * The inputs are folded into the output one by one in input order, as ONNX Runtime does (so a
 * float Sum rounds the same way), and Mean divides the sum by the input count. */
#include <string.h>

#include "engine/ops/kern.h"

typedef enum vkind { V_MAX, V_MIN, V_SUM, V_MEAN } vkind_t;

static int var_type_ok(vkind_t k, dtype_t t)
{
    if (t == DT_FLOAT || t == DT_DOUBLE) return 1;
    if (k != V_MAX && k != V_MIN) return 0;
    switch (t) {
    case DT_INT8:
    case DT_UINT8:
    case DT_INT16:
    case DT_UINT16:
    case DT_INT32:
    case DT_UINT32:
    case DT_INT64:
    case DT_UINT64: return 1;
    default: return 0;
    }
}

static int var_infer(vkind_t k, const node_t *n, const tensor_t *const *in, tensor_t *out,
                     char *err, size_t errlen)
{
    if (n->nin < 1 || !in[0]) return kern_fail(err, errlen, "%s: needs an input", n->op_type);
    dtype_t t = in[0]->dtype;
    if (!var_type_ok(k, t))
        return kern_fail(err, errlen, "%s: unsupported type %s", n->op_type, dtype_name(t));
    tensor_t shape = *in[0];
    for (int i = 1; i < n->nin; i++) {
        if (!in[i]) return kern_fail(err, errlen, "%s: input %d is missing", n->op_type, i);
        if (in[i]->dtype != t)
            return kern_fail(err, errlen, "%s: input %d is %s, input 0 %s", n->op_type, i,
                             dtype_name(in[i]->dtype), dtype_name(t));
        tensor_t next;
        char why[400];
        if (ops_broadcast_shape(&shape, in[i], &next, why, sizeof why) < 0)
            return kern_fail(err, errlen, "%s: %s", n->op_type, why);
        shape.rank = next.rank;
        memcpy(shape.dims, next.dims, sizeof shape.dims);
    }
    out[0] = shape;
    out[0].data = NULL;
    out[0].map_keys = NULL;
    return 0;
}

#define V_FOLD(T, EXPR)                                                                            \
    do {                                                                                           \
        T *y = o->data;                                                                            \
        const T *b = src->data;                                                                    \
        kern_bcast_t p;                                                                            \
        kern_bcast_init(&p, o, src, o);                                                            \
        int64_t j = 0;                                                                             \
        for (int64_t r = 0; r < p.outer; r++) {                                                    \
            for (int64_t i = 0; i < p.inner; i++, j++) {                                           \
                T x = first ? 0 : y[j], v = b[p.ob + i * p.b_step];                                \
                y[j] = first ? v : (EXPR);                                                         \
            }                                                                                      \
            kern_bcast_next(&p);                                                                   \
        }                                                                                          \
    } while (0)

/* o = src broadcast (first), or o = o (op) src. */
#define V_TYPED(T)                                                                                 \
    do {                                                                                           \
        if (k == V_MAX)                                                                            \
            V_FOLD(T, v > x ? v : x);                                                              \
        else if (k == V_MIN)                                                                       \
            V_FOLD(T, v < x ? v : x);                                                              \
        else                                                                                       \
            V_FOLD(T, x + v);                                                                      \
    } while (0)

static void var_fold(vkind_t k, tensor_t *o, const tensor_t *src, int first)
{
    switch (o->dtype) {
    case DT_FLOAT: V_TYPED(float); break;
    case DT_DOUBLE: V_TYPED(double); break;
    case DT_INT8: V_TYPED(int8_t); break;
    case DT_UINT8: V_TYPED(uint8_t); break;
    case DT_INT16: V_TYPED(int16_t); break;
    case DT_UINT16: V_TYPED(uint16_t); break;
    case DT_INT32: V_TYPED(int32_t); break;
    case DT_UINT32: V_TYPED(uint32_t); break;
    case DT_UINT64: V_TYPED(uint64_t); break;
    default: V_TYPED(int64_t); break;
    }
}

static int var_run(vkind_t k, const node_t *n, const tensor_t *const *in, tensor_t *out)
{
    for (int i = 0; i < n->nin; i++) var_fold(k, &out[0], in[i], i == 0);
    if (k == V_MEAN) {
        int64_t cnt = tensor_numel(&out[0]);
        if (out[0].dtype == DT_FLOAT)
            for (int64_t j = 0; j < cnt; j++) ((float *)out[0].data)[j] /= (float)n->nin;
        else
            for (int64_t j = 0; j < cnt; j++) ((double *)out[0].data)[j] /= (double)n->nin;
    }
    return 0;
}

#define VAROP(var, NAME, KIND)                                                                     \
    static int var##_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,   \
                           size_t errlen)                                                          \
    {                                                                                              \
        return var_infer(KIND, n, in, out, err, errlen);                                           \
    }                                                                                              \
    static int var##_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x) \
    {                                                                                              \
        return var_run(KIND, n, in, out);                                                          \
    }                                                                                              \
    const op_def_t onnx_op_##var = {                                                               \
        .domain = "",                                                                              \
        .name = NAME,                                                                              \
        .since = 8, /* multidirectional broadcasting */                                            \
        .until = 21,                                                                               \
        .infer = var##_infer,                                                                      \
        .run = var##_run,                                                                          \
    };

VAROP(max, "Max", V_MAX)
VAROP(min, "Min", V_MIN)
VAROP(sum, "Sum", V_SUM)
VAROP(mean, "Mean", V_MEAN)
