/* Matrix products over OpenBLAS, split across the compute pool. OpenBLAS itself is kept to one
 * thread (kern_blas_init): the pool splits C into column (or row) blocks and each thread calls
 * the single-threaded BLAS on its block, so an inference never starts or wakes OpenBLAS's own
 * threads (docs/engine.md has the measurement). Row-major throughout. */
#ifndef INFERD_KERN_GEMM_H
#define INFERD_KERN_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "kern/tpool.h"

/* C[M,N] = alpha op(A) op(B) + beta C, op(X) = X or X^T; beta 0 ignores C's old contents
 * (NaNs included). pool may be NULL (the caller's thread only). */
void kern_sgemm(tpool_t *pool, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                int64_t ldc);
/* The same on one thread (for callers already inside a pool region). */
void kern_sgemm1(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                 int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* An elementwise map y = f(x) over n floats (x == y allowed), such as GELU. */
typedef void (*kern_map_fn)(const float *x, float *y, int64_t n);
/* C[M,N] = act(A[M,K] B[K,N] + bias[N]) on every row (row-major, contiguous); act may be NULL.
 * Each block of C is mapped while it is still in cache, on the thread that computed it. B is
 * row-major, or (b_packed) as kern_pack_b wrote it. */
void kern_sgemm_bias(tpool_t *pool, int64_t M, int64_t N, int64_t K, const float *A, const float *B,
                     bool b_packed, const float *bias, kern_map_fn act, float *C);
/* Whether a constant [K,N] right operand can be packed: N a whole number of column blocks. */
bool kern_b_packable(int64_t K, int64_t N);
/* Rewrites B[K,N] in place as N/64 column strips, each [K,64] contiguous, so a product streams
 * every strip from memory in order (as ORT's MLAS prepacks weights). scratch: K*N floats. */
void kern_pack_b(float *B, int64_t K, int64_t N, float *scratch);
/* Scalar oracle: C = alpha op(A) op(B) + beta C with double sums. */
void kern_sgemm_ref(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                    int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
/* Pins OpenBLAS to one thread; idempotent, called by kern_sgemm's first use and by sessions. */
void kern_blas_init(void);
/* The streaming few-rows kernel behind kern_sgemm1: C = alpha A B (+ C when acc_c, else + bias[N]
 * on every row when bias is not NULL), B row-major [K,N] with N >= 64. */
void kern_gemm_small(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float *C, int64_t ldc, int acc_c,
                     const float *bias);

#endif
