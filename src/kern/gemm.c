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
                             int64_t ldb, float *C, int64_t ldc, float alpha, int acc_c,
                             const float *bias)
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
            C[r * ldc + j] = acc_c  ? alpha * acc[r][j] + C[r * ldc + j]
                             : bias ? alpha * acc[r][j] + bias[j]
                                    : alpha * acc[r][j];
}

KERN_INLINE void kern_gemm_small_body(int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                                      int64_t lda, const float *B, int64_t ldb, float *C,
                                      int64_t ldc, int acc_c, const float *bias)
{
    int64_t j0 = 0;
    for (; j0 + SM_C <= N; j0 += SM_C)
        for (int64_t i0 = 0; i0 < M; i0 += SM_R) {
            /* R as a constant in each call, so the compiler drops the rows a last block lacks
             * (at 5 tokens the fifth row would otherwise cost a whole block of 4). */
            const float *a = A + i0 * lda, *b = B + j0, *bj = bias ? bias + j0 : NULL;
            float *c = C + i0 * ldc + j0;
            switch (M - i0 < SM_R ? M - i0 : SM_R) {
            case 1: small_block(1, K, a, lda, b, ldb, c, ldc, alpha, acc_c, bj); break;
            case 2: small_block(2, K, a, lda, b, ldb, c, ldc, alpha, acc_c, bj); break;
            case 3: small_block(3, K, a, lda, b, ldb, c, ldc, alpha, acc_c, bj); break;
            default: small_block(SM_R, K, a, lda, b, ldb, c, ldc, alpha, acc_c, bj); break;
            }
        }
    for (; j0 < N; j0++) /* a last partial column block */
        for (int64_t i = 0; i < M; i++) {
            float s = 0.0f;
            for (int64_t k = 0; k < K; k++) s = fmaf(A[i * lda + k], B[k * ldb + j0], s);
            C[i * ldc + j0] = acc_c  ? alpha * s + C[i * ldc + j0]
                              : bias ? alpha * s + bias[j0]
                                     : alpha * s;
        }
}
KERN_MULTI_VOID(kern_gemm_small,
                (int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float *C, int64_t ldc, int acc_c, const float *bias),
                (M, N, K, alpha, A, lda, B, ldb, C, ldc, acc_c, bias))

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
/* kern_sgemm1 plus a bias row (NULL: none) added to every row of the product; with a bias beta
 * must be 0. The streaming kernel adds it as it stores each result, after the product, as ORT's
 * MatMul then Add rounds; the BLAS paths start from C filled with it. */
static void sgemm1_bias(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                        const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                        float *C, int64_t ldc, const float *bias)
{
    if (M <= 0 || N <= 0) return;
    if (STREAMS(M, K) && M > 1 && !ta && !tb && (beta == 0.0f || beta == 1.0f) && N >= SM_C &&
        K > 0) { /* writes every element of C: no clearing first */
        kern_gemm_small(M, N, K, alpha, A, lda, B, ldb, C, ldc, beta == 1.0f, bias);
        return;
    }
    if (bias) {
        for (int64_t i = 0; i < M; i++) memcpy(C + i * ldc, bias, (size_t)N * sizeof *C);
        beta = 1.0f;
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

void kern_sgemm1(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                 int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    sgemm1_bias(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, NULL);
}

typedef struct {
    bool ta, tb;
    int64_t M, N, K, lda, ldb, ldc;
    int64_t mb, nb, nrb; /* a tile is mb rows by nb columns; nrb tiles per column block */
    bool b_packed;       /* B is kern_pack_b's strips: a tile's columns are one strip */
    float alpha, beta;
    const float *A, *B;
    float *C;
    const float *bias; /* [N] added to every row of the product (beta 0), or NULL */
    kern_map_fn act;   /* applied to each finished tile of C, or NULL */
} gemm_job_t;

static void map_rows(kern_map_fn act, float *C, int64_t ldc, int64_t m, int64_t n)
{
    if (!act) return;
    if (ldc == n)
        act(C, C, m * n);
    else
        for (int64_t i = 0; i < m; i++) act(C + i * ldc, C + i * ldc, n);
}

/* One tile: consecutive items walk down one column block, so a thread taking several reuses the
 * strip of B it has in cache. */
static int gemm_tile(void *arg, int64_t i, int w)
{
    const gemm_job_t *j = arg;
    int64_t r0 = (i % j->nrb) * j->mb, c0 = (i / j->nrb) * j->nb;
    int64_t m = j->M - r0 < j->mb ? j->M - r0 : j->mb, n = j->N - c0 < j->nb ? j->N - c0 : j->nb;
    const float *A = j->ta ? j->A + r0 : j->A + r0 * j->lda;
    const float *B = j->b_packed ? j->B + c0 * j->K : j->tb ? j->B + c0 * j->ldb : j->B + c0;
    float *C = j->C + r0 * j->ldc + c0;
    sgemm1_bias(j->ta, j->tb, m, n, j->K, j->alpha, A, j->lda, B, j->b_packed ? n : j->ldb, j->beta,
                C, j->ldc, j->bias ? j->bias + c0 : NULL);
    map_rows(j->act, C, j->ldc, m, n);
    return 0;
}

/* Below about 2^16 multiply-adds a region's wake-up costs more than the split saves. */
#define MIN_SPLIT_FLOPS (1 << 16)
/* Tile sizes of the split. They do not depend on the number of threads: OpenBLAS rounds a
 * sub-product differently from the whole (its kernels pick other paths for other shapes), so a
 * split that followed the thread count would change the answer's last bits with
 * engine_threads. With fixed tiles, one thread and eight compute the very same products.
 * (Splitting column blocks into 64-row tiles as well measured no faster at 128 tokens.) */
#define COL_BLOCK 64
#define ROW_BLOCK 32

/* kern_sgemm with kern_sgemm_bias's two extras: bias (then beta must be 0) and act. */
static void sgemm_ext(tpool_t *pool, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                      const float *A, int64_t lda, const float *B, int64_t ldb, bool b_packed,
                      float beta, float *C, int64_t ldc, const float *bias, kern_map_fn act)
{
    kern_blas_init();
    gemm_job_t j = {ta, tb,       M,     N,    K, lda, ldb, ldc,  M,  N,
                    1,  b_packed, alpha, beta, A, B,   C,   bias, act};
    if (M <= 0 || N <= 0) return;
    if (b_packed || (M * N * K >= MIN_SPLIT_FLOPS && N >= 2 * COL_BLOCK))
        j.nb = COL_BLOCK; /* whole cache lines of C and B; a packed B has no other layout */
    else if (M * N * K >= MIN_SPLIT_FLOPS && M >= 2 * ROW_BLOCK)
        j.mb = ROW_BLOCK;
    j.nrb = (M + j.mb - 1) / j.mb;
    tpool_run(pool, j.nrb * ((N + j.nb - 1) / j.nb), gemm_tile, &j);
}

void kern_sgemm(tpool_t *pool, bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
                const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                int64_t ldc)
{
    sgemm_ext(pool, ta, tb, M, N, K, alpha, A, lda, B, ldb, false, beta, C, ldc, NULL, NULL);
}

void kern_sgemm_bias(tpool_t *pool, int64_t M, int64_t N, int64_t K, const float *A, const float *B,
                     bool b_packed, const float *bias, kern_map_fn act, float *C)
{
    sgemm_ext(pool, false, false, M, N, K, 1.0f, A, K, B, N, b_packed, 0.0f, C, N, bias, act);
}

bool kern_b_packable(int64_t K, int64_t N)
{
    return K > 0 && N > 0 && N % COL_BLOCK == 0;
}

void kern_pack_b(float *B, int64_t K, int64_t N, float *scratch)
{
    memcpy(scratch, B, sizeof *B * (size_t)(K * N));
    for (int64_t s = 0; s < N / COL_BLOCK; s++)
        for (int64_t k = 0; k < K; k++)
            memcpy(B + (s * K + k) * COL_BLOCK, scratch + k * N + s * COL_BLOCK,
                   sizeof *B * COL_BLOCK);
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
