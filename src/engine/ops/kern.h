/* Shared pieces of the ai.onnx operators: error formatting, reading integer constant inputs and
 * numpy broadcasting plans (onnx_common.c). The numeric kernels themselves live in src/kern/. */
#ifndef INFERD_ENGINE_OPS_KERN_H
#define INFERD_ENGINE_OPS_KERN_H

#include <stddef.h>
#include <stdint.h>

#include "engine/ops/ops.h"
#include "kern/nn.h"
#include "kern/vec.h"

/* Hot loops are compiled once per ISA level and picked by the CPU at load time (ifunc). */
#define KERN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

/* A shape as "[2,3,4]" in a compound-literal buffer (alive to the end of the enclosing block),
 * for use directly as an error-message argument. */
#define KERN_SHAPE(t) tensor_shape_str((t), (char[200]){0}, 200)

/* snprintf into err; returns -1 so infer can `return kern_fail(...)`. */
int kern_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Reads an INT32 or INT64 tensor of at most max elements into out (as int64) and sets *n.
 * -1 when the dtype is neither or there are more than max values. */
int kern_read_ints(const tensor_t *t, int64_t *out, int64_t max, int64_t *n);

/* Plans a binary elementwise op over the broadcast of a and b into o (o's shape already set by
 * ops_broadcast_shape). Dims of size 1 are dropped and adjacent dims that step alike in both
 * inputs are merged, so the output is walked as `outer` runs of `inner` contiguous elements; in
 * each run a input advances by a_step (1) or stays on one element (0), likewise b. */
typedef struct kern_bcast {
    int64_t inner, outer;
    int a_step, b_step;
    int rank; /* outer dims after merging */
    int64_t dims[TENSOR_MAX_RANK], sa[TENSOR_MAX_RANK], sb[TENSOR_MAX_RANK];
    int64_t idx[TENSOR_MAX_RANK];
    int64_t oa, ob; /* element offsets of the current run's first a and b */
} kern_bcast_t;

void kern_bcast_init(kern_bcast_t *p, const tensor_t *a, const tensor_t *b, const tensor_t *o);
/* Moves oa/ob to the next run. */
void kern_bcast_next(kern_bcast_t *p);

/* MatMul operands as batched matrices (MatMul, MatMulInteger, QLinearMatMul): rank-1 A is a row
 * [1,K], rank-1 B a column [K,1]; dims before the last two are batch dims, broadcast
 * numpy-style. */
typedef struct kern_mm {
    int64_t M, N, K;
    tensor_t ba, bb, bo; /* batch dims of A, B and the output */
} kern_mm_t;

/* Fills s from A and B's shapes; -1 with a message (naming op) when they do not multiply. */
int kern_mm_shape(const char *op, const tensor_t *a, const tensor_t *b, kern_mm_t *s, char *err,
                  size_t errlen);
/* The product's shape (batch dims, then M unless A is a vector, then N unless B is one). */
void kern_mm_out_shape(const tensor_t *a, const tensor_t *b, const kern_mm_t *s, dtype_t t,
                       tensor_t *o);
/* Offset (in matrices) of output batch i within the broadcast input batch in. */
int64_t kern_mm_batch_off(const tensor_t *in, const tensor_t *o, int64_t i);

#endif
