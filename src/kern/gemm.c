/* GEMM over OpenBLAS, split over the compute pool (see gemm.h). */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "kern/gemm.h"
#include "kern/isa.h"

/* Rows times a weight matrix (a transformer's activations by its weights): at few rows OpenBLAS
 * spends more time packing B than multiplying (at 5 tokens of a MiniLM, 47% of the run in
 * sgemm_itcopy), so these stream B straight from memory instead; columns are the outer loop,
 * so a 64-column strip of B stays in L2 while every row block of A passes over it. A block of 4
 * rows by 64 columns keeps its accumulators in vector registers; each row of B is read once per 4
 * rows of A. The sum over k runs in order, so the result does not depend on the block a column
 * falls in. */
#define SM_R 4
#define SM_C 64
KERN_INLINE void small_block(int64_t R, int64_t K, const float *A, int64_t lda, const float *B,
                             int64_t ldb, float *C, int64_t ldc, float alpha, int acc_c)
{
    float acc[SM_R][SM_C];
    memset(acc, 0, sizeof acc);
    for (int64_t k = 0; k < K; k++) {
        const float *b = B + k * ldb;
        for (int r = 0; r < R; r++) {
            float a = A[r * lda + k];
            for (int j = 0; j < SM_C; j++) acc[r][j] = fmaf(a, b[j], acc[r][j]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < SM_C; j++)
            C[r * ldc + j] = acc_c ? alpha * acc[r][j] + C[r * ldc + j] : alpha * acc[r][j];
}

KERN_INLINE void kern_gemm_small_body(int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                                      int64_t lda, const float *B, int64_t ldb, float *C,
                                      int64_t ldc, int acc_c)
{
    int64_t j0 = 0;
    for (; j0 + SM_C <= N; j0 += SM_C)
        for (int64_t i0 = 0; i0 < M; i0 += SM_R) {
            /* R as a constant in each call, so the compiler drops the rows a last block lacks
             * (at 5 tokens the fifth row would otherwise cost a whole block of 4). */
            const float *a = A + i0 * lda, *b = B + j0;
            float *c = C + i0 * ldc + j0;
            switch (M - i0 < SM_R ? M - i0 : SM_R) {
            case 1: small_block(1, K, a, lda, b, ldb, c, ldc, alpha, acc_c); break;
            case 2: small_block(2, K, a, lda, b, ldb, c, ldc, alpha, acc_c); break;
            case 3: small_block(3, K, a, lda, b, ldb, c, ldc, alpha, acc_c); break;
            default: small_block(SM_R, K, a, lda, b, ldb, c, ldc, alpha, acc_c); break;
            }
        }
    for (; j0 < N; j0++) /* a last partial column block */
        for (int64_t i = 0; i < M; i++) {
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++) s = fmaf(A[i * lda + k], B[k * ldb + j0], s);
            C[i * ldc + j0] = acc_c ? alpha * s + C[i * ldc + j0] : alpha * s;
        }
}
KERN_MULTI_VOID(kern_gemm_small,
                (int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float *C, int64_t ldc, int acc_c),
                (M, N, K, alpha, A, lda, B, ldb, C, ldc, acc_c))

/* Which products the streaming kernel takes: few rows (a transformer's tokens), or any rows with
 * a short inner dimension. Measured against Debian's OpenBLAS 0.3.21 on the development box (AMD
 * EPYC with AVX-512, where OpenBLAS picks its Haswell kernel), one thread, M x N x K: 128x1536x384
 * 1.1 vs 1.6 ms, 512x1536x384 4.5 vs 11.4, 4096x1536x384 46 vs 60, 128x768x3072 5.9 vs 9.2; but
 * 1024x768x3072 97 vs 81 and 1000x1000x1000 69 vs 27, where OpenBLAS's packing pays off. At
 * 128 tokens the whole MiniLM-shaped encoder takes 22 ms with it against 40 ms without. */
#define STREAMS(M, K) ((M) <= 256 || (K) <= 512)

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void blas_one_thread(void)
{
    openblas_set_num_threads(1);
}

void kern_blas_init(void)
{
    pthread_once(&blas_once, blas_one_thread);
}

/* Matrix-vector products go to sgemv: with one OpenBLAS thread on AVX-512, sgemm on a 1xK by
 * KxN problem is 3-6x slower than sgemv (K=N=768: 104 us vs 25-30 us). */
void kern_sgemm1(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                 int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    if (STREAMS(M, K) && M > 1 && !ta && !tb && (beta == 0.0f || beta == 1.0f) && N >= SM_C &&
        K > 0) { /* writes every element of C: no clearing first */
        kern_gemm_small(M, N, K, alpha, A, lda, B, ldb, C, ldc, beta == 1.0f);
        return;
    }
    if (beta == 0.0f) /* BLAS may read C when beta is 0: clear stale NaNs first */
        for (int64_t i = 0; i < M; i++) memset(C + i * ldc, 0, (size_t)N * sizeof *C);
    if (K <= 0) {
        if (beta != 0.0f && beta != 1.0f)
            for (int64_t i = 0; i < M; i++)
                for (int64_t j = 0; j < N; j++) C[i * ldc + j] *= beta;
        return;
    }
    if (M == 1 && !ta) {
        /* y[N] = alpha op(B)^T a + beta y */
        cblas_sgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, (int)(tb ? N : K),
                    (int)(tb ? K : N), alpha, B, (int)ldb, A, 1, beta, C, 1);
    } else if (N == 1 && !tb && ldc == 1) {
        cblas_sgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, (int)(ta ? K : M),
                    (int)(ta ? M : K), alpha, A, (int)lda, B, (int)ldb, beta, C, 1);
    } else {
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
    }
}

typedef struct {
    bool ta, tb, by_cols;
    int64_t M, N, K, lda, ldb, ldc, block;
    float alpha, beta;
    const float *A, *B;
    float *C;
} gemm_job_t;

static int gemm_block(void *arg, int64_t i, int w)
{
    const gemm_job_t *j = arg;
    int64_t lo = i * j->block;
    if (j->by_cols) {
        int64_t n = j->N - lo < j->block ? j->N - lo : j->block;
        const float *B = j->tb ? j->B + lo * j->ldb : j->B + lo;
        kern_sgemm1(j->ta, j->tb, j->M, n, j->K, j->alpha, j->A, j->lda, B, j->ldb, j->beta,
                    j->C + lo, j->ldc);
    } else {
        int64_t m = j->M - lo < j->block ? j->M - lo : j->block;
        const float *A = j->ta ? j->A + lo : j->A + lo * j->lda;
        kern_sgemm1(j->ta, j->tb, m, j->N, j->K, j->alpha, A, j->lda, j->B, j->ldb, j->beta,
                    j->C + lo * j->ldc, j->ldc);
    }
    return 0;
}

/* Below about 2^16 multiply-adds a region's wake-up costs more than the split saves. */
#define MIN_SPLIT_FLOPS (1 << 16)
/* Block sizes of the split. They do not depend on the number of threads: OpenBLAS rounds a
 * sub-product differently from the whole (its kernels pick other paths for other shapes), so a
 * split that followed the thread count would change the answer's last bits with
 * engine_threads. With fixed blocks, one thread and eight compute the very same products. */
#define COL_BLOCK 64
#define ROW_BLOCK 32

void kern_sgemm(tpool_t *pool, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                int64_t ldc)
{
    kern_blas_init();
    gemm_job_t j = {ta, tb, false, M, N, K, lda, ldb, ldc, 0, alpha, beta, A, B, C};
    int64_t nblocks;
    if (M <= 0 || N <= 0 || M * N * K < MIN_SPLIT_FLOPS) {
        kern_sgemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (N >= 2 * COL_BLOCK) { /* column blocks: whole cache lines of C and B */
        j.by_cols = true;
        j.block = COL_BLOCK;
        nblocks = (N + COL_BLOCK - 1) / COL_BLOCK;
    } else if (M >= 2 * ROW_BLOCK) {
        j.block = ROW_BLOCK;
        nblocks = (M + ROW_BLOCK - 1) / ROW_BLOCK;
    } else {
        kern_sgemm1(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    tpool_run(pool, nblocks, gemm_block, &j);
}

void kern_sgemm_bias(tpool_t *pool, int64_t M, int64_t N, int64_t K, const float *A, const float *B,
                     const float *bias, float *C)
{
    if (M <= 0 || N <= 0) return;
    /* The bias goes in first and the product is accumulated onto it (beta 1); the streaming
     * kernel's result is then one more rounding away from ORT's "product, then add", well
     * inside float noise. */
    for (int64_t i = 0; i < M; i++) memcpy(C + i * N, bias, (size_t)N * sizeof *C);
    kern_sgemm(pool, false, false, M, N, K, 1.0f, A, K, B, N, 1.0f, C, N);
}

void kern_sgemm_ref(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                    int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) {
                double a = ta ? A[k * lda + i] : A[i * lda + k];
                double b = tb ? B[j * ldb + k] : B[k * ldb + j];
                s += a * b;
            }
            float c = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
            C[i * ldc + j] = (float)(alpha * s) + c;
        }
}
