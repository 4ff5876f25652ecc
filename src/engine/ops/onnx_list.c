/* The ai.onnx operator table that ops/registry.c searches: every op_def of the onnx_*.c
 * families, NULL-terminated. */
#include "engine/ops/ops.h"

extern const op_def_t onnx_op_abs;
extern const op_def_t onnx_op_add;
extern const op_def_t onnx_op_argmax;
extern const op_def_t onnx_op_argmin;
extern const op_def_t onnx_op_cast;
extern const op_def_t onnx_op_clip;
extern const op_def_t onnx_op_concat;
extern const op_def_t onnx_op_constant;
extern const op_def_t onnx_op_div;
extern const op_def_t onnx_op_exp;
extern const op_def_t onnx_op_flatten;
extern const op_def_t onnx_op_gather;
extern const op_def_t onnx_op_split;
extern const op_def_t onnx_op_gemm;
extern const op_def_t onnx_op_identity;
extern const op_def_t onnx_op_leaky_relu;
extern const op_def_t onnx_op_log;
extern const op_def_t onnx_op_logsoftmax;
extern const op_def_t onnx_op_matmul;
extern const op_def_t onnx_op_mul;
extern const op_def_t onnx_op_neg;
extern const op_def_t onnx_op_pow;
extern const op_def_t onnx_op_reduce_max;
extern const op_def_t onnx_op_reduce_mean;
extern const op_def_t onnx_op_reduce_sum;
extern const op_def_t onnx_op_reduce_l1;
extern const op_def_t onnx_op_reduce_l2;
extern const op_def_t onnx_op_reduce_sum_square;
extern const op_def_t onnx_op_reduce_log_sum;
extern const op_def_t onnx_op_reduce_min;
extern const op_def_t onnx_op_size;
extern const op_def_t onnx_op_dropout;
extern const op_def_t onnx_op_max;
extern const op_def_t onnx_op_min;
extern const op_def_t onnx_op_sum;
extern const op_def_t onnx_op_mean;
extern const op_def_t onnx_op_floor;
extern const op_def_t onnx_op_ceil;
extern const op_def_t onnx_op_round;
extern const op_def_t onnx_op_reciprocal;
extern const op_def_t onnx_op_sign;
extern const op_def_t onnx_op_sin;
extern const op_def_t onnx_op_cos;
extern const op_def_t onnx_op_tan;
extern const op_def_t onnx_op_asin;
extern const op_def_t onnx_op_acos;
extern const op_def_t onnx_op_atan;
extern const op_def_t onnx_op_sinh;
extern const op_def_t onnx_op_cosh;
extern const op_def_t onnx_op_asinh;
extern const op_def_t onnx_op_acosh;
extern const op_def_t onnx_op_atanh;
extern const op_def_t onnx_op_softplus;
extern const op_def_t onnx_op_softsign;
extern const op_def_t onnx_op_elu;
extern const op_def_t onnx_op_selu;
extern const op_def_t onnx_op_celu;
extern const op_def_t onnx_op_hardsigmoid;
extern const op_def_t onnx_op_hardswish;
extern const op_def_t onnx_op_thresholded_relu;
extern const op_def_t onnx_op_isnan;
extern const op_def_t onnx_op_isinf;
extern const op_def_t onnx_op_relu;
extern const op_def_t onnx_op_reshape;
extern const op_def_t onnx_op_shape;
extern const op_def_t onnx_op_sigmoid;
extern const op_def_t onnx_op_softmax;
extern const op_def_t onnx_op_sqrt;
extern const op_def_t onnx_op_squeeze;
extern const op_def_t onnx_op_sub;
extern const op_def_t onnx_op_tanh;
extern const op_def_t onnx_op_transpose;
extern const op_def_t onnx_op_unsqueeze;
extern const op_def_t onnx_op_quantize_linear;
extern const op_def_t onnx_op_dequantize_linear;
extern const op_def_t onnx_op_dynamic_quantize_linear;
extern const op_def_t onnx_op_matmul_integer;
extern const op_def_t onnx_op_qlinear_matmul;

extern const op_def_t onnx_op_constant_of_shape;
extern const op_def_t onnx_op_equal;
extern const op_def_t onnx_op_erf;
extern const op_def_t onnx_op_expand;
extern const op_def_t onnx_op_layer_norm;
extern const op_def_t onnx_op_not;
extern const op_def_t onnx_op_range;
extern const op_def_t onnx_op_slice;
extern const op_def_t onnx_op_where;

const op_def_t *const ops_onnx[] = {
    &onnx_op_abs,
    &onnx_op_add,
    &onnx_op_argmax,
    &onnx_op_argmin,
    &onnx_op_cast,
    &onnx_op_clip,
    &onnx_op_concat,
    &onnx_op_constant,
    &onnx_op_div,
    &onnx_op_exp,
    &onnx_op_flatten,
    &onnx_op_gather,
    &onnx_op_split,
    &onnx_op_gemm,
    &onnx_op_identity,
    &onnx_op_leaky_relu,
    &onnx_op_log,
    &onnx_op_logsoftmax,
    &onnx_op_matmul,
    &onnx_op_mul,
    &onnx_op_neg,
    &onnx_op_pow,
    &onnx_op_reduce_max,
    &onnx_op_reduce_mean,
    &onnx_op_reduce_sum,
    &onnx_op_relu,
    &onnx_op_reshape,
    &onnx_op_shape,
    &onnx_op_sigmoid,
    &onnx_op_softmax,
    &onnx_op_sqrt,
    &onnx_op_squeeze,
    &onnx_op_sub,
    &onnx_op_tanh,
    &onnx_op_transpose,
    &onnx_op_unsqueeze,
    &onnx_op_quantize_linear,
    &onnx_op_dequantize_linear,
    &onnx_op_dynamic_quantize_linear,
    &onnx_op_matmul_integer,
    &onnx_op_qlinear_matmul,
    &onnx_op_reduce_l1,
    &onnx_op_reduce_l2,
    &onnx_op_reduce_sum_square,
    &onnx_op_reduce_log_sum,
    &onnx_op_reduce_min,
    &onnx_op_size,
    &onnx_op_dropout,
    &onnx_op_max,
    &onnx_op_min,
    &onnx_op_sum,
    &onnx_op_mean,
    &onnx_op_floor,
    &onnx_op_ceil,
    &onnx_op_round,
    &onnx_op_reciprocal,
    &onnx_op_sign,
    &onnx_op_sin,
    &onnx_op_cos,
    &onnx_op_tan,
    &onnx_op_asin,
    &onnx_op_acos,
    &onnx_op_atan,
    &onnx_op_sinh,
    &onnx_op_cosh,
    &onnx_op_asinh,
    &onnx_op_acosh,
    &onnx_op_atanh,
    &onnx_op_softplus,
    &onnx_op_softsign,
    &onnx_op_elu,
    &onnx_op_selu,
    &onnx_op_celu,
    &onnx_op_hardsigmoid,
    &onnx_op_hardswish,
    &onnx_op_thresholded_relu,
    &onnx_op_isnan,
    &onnx_op_isinf,
    &onnx_op_constant_of_shape,
    &onnx_op_equal,
    &onnx_op_erf,
    &onnx_op_expand,
    &onnx_op_layer_norm,
    &onnx_op_not,
    &onnx_op_range,
    &onnx_op_slice,
    &onnx_op_where,
    NULL,
};
