/* The fused ops engine/fuse.c substitutes for ONNX subgraphs (ops/fused.c). */
#ifndef INFERD_ENGINE_OPS_FUSED_H
#define INFERD_ENGINE_OPS_FUSED_H

#include "engine/ops/ops.h"

/* x, gamma, beta (optional) -> layer norm over the last axis; n->state: const float *eps. */
extern const op_def_t fused_op_layer_norm;
/* x -> 0.5 x (1 + erf(x / sqrt 2)). */
extern const op_def_t fused_op_gelu_erf;
/* x -> 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
extern const op_def_t fused_op_gelu_tanh;
/* x [..., K], W [K, N], b [N] -> x W + b. */
extern const op_def_t fused_op_matmul_bias;
/* The same followed by GELU (erf or tanh form), mapped block by block as the product finishes. */
extern const op_def_t fused_op_matmul_bias_gelu_erf;
extern const op_def_t fused_op_matmul_bias_gelu_tanh;

/* Q, K, V [B,S,A*D], additive mask [B|1,1,1|S,S] -> softmax(Q_h K_h^T / c + mask) V_h per head,
 * as [B,S,A*D]; n->state: int64 A, int64 D, float c. */
extern const op_def_t fused_op_attention;

#endif
