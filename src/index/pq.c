/* PQ: product quantization (quant.h). Each sub-space is trained and encoded as a k-means of its
 * own, so encoding is one GEMM-based assignment per sub-space. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "index/quant.h"
#include "kern/vec.h"

#define PQ_ITERS 25

/* The sub-vectors i of n rows, contiguous (n x dsub). */
static float *gather(const pq_t *pq, const float *x, int64_t n, int i)
{
    float *s = malloc((size_t)n * (size_t)pq->dsub * sizeof *s);
    if (!s) return NULL;
    for (int64_t r = 0; r < n; r++)
        memcpy(s + (size_t)r * (size_t)pq->dsub, x + (size_t)r * (size_t)pq->dim + i * pq->dsub,
               (size_t)pq->dsub * sizeof *s);
    return s;
}

int pq_train(tpool_t *pool, const pq_t *pq, const float *x, int64_t n, uint64_t seed,
             idx_progress_fn progress, void *parg)
{
    if (n < pq->ksub) return -EINVAL;
    for (int i = 0; i < pq->m; i++) {
        float *s = gather(pq, x, n, i);
        if (!s) return -ENOMEM;
        int rc = kmeans_train(pool, s, n, pq->dsub, pq->ksub, PQ_ITERS, seed + (uint64_t)i,
                              pq->cb + (size_t)i * (size_t)pq->ksub * (size_t)pq->dsub, NULL, NULL);
        free(s);
        if (rc) return rc;
        if (progress) progress(parg, "PQ codebooks", i + 1, pq->m);
    }
    return 0;
}

int pq_encode(tpool_t *pool, const pq_t *pq, const float *x, int64_t n, uint8_t *codes)
{
    int32_t *a = malloc((size_t)(n ? n : 1) * sizeof *a);
    if (!a) return -ENOMEM;
    for (int i = 0; i < pq->m; i++) {
        float *s = gather(pq, x, n, i);
        int rc = s ? kmeans_assign(pool, s, n, pq->dsub,
                                   pq->cb + (size_t)i * (size_t)pq->ksub * (size_t)pq->dsub,
                                   pq->ksub, false, a, NULL)
                   : -ENOMEM;
        free(s);
        if (rc) {
            free(a);
            return rc;
        }
        for (int64_t r = 0; r < n; r++) codes[(size_t)r * (size_t)pq->m + i] = (uint8_t)a[r];
    }
    free(a);
    return 0;
}

int pq_prepare(pq_t *pq)
{
    pq_release(pq);
    size_t per = (size_t)pq->ksub * (size_t)pq->dsub;
    pq->cbt = malloc((size_t)pq->m * per * sizeof *pq->cbt);
    pq->norms = malloc((size_t)pq->m * (size_t)pq->ksub * sizeof *pq->norms);
    if (!pq->cbt || !pq->norms) {
        pq_release(pq);
        return -ENOMEM;
    }
    for (int i = 0; i < pq->m; i++) {
        const float *cb = pq->cb + (size_t)i * per;
        float *t = pq->cbt + (size_t)i * per;
        for (int j = 0; j < pq->ksub; j++) {
            float n = 0;
            for (int d = 0; d < pq->dsub; d++) {
                float v = cb[(size_t)j * pq->dsub + d];
                t[(size_t)d * pq->ksub + j] = v;
                n += v * v;
            }
            pq->norms[i * pq->ksub + j] = n;
        }
    }
    return 0;
}

void pq_release(pq_t *pq)
{
    free(pq->cbt);
    free(pq->norms);
    pq->cbt = pq->norms = NULL;
}

void pq_tables(const pq_t *pq, const float *q, int dot, float *tab)
{
    const int ksub = pq->ksub, dsub = pq->dsub;
    for (int i = 0; i < pq->m; i++) {
        const float *qi = q + i * dsub, *t = pq->cbt + (size_t)i * (size_t)ksub * (size_t)dsub;
        float *out = tab + i * ksub;
        for (int j = 0; j < ksub; j++) out[j] = 0;
        for (int d = 0; d < dsub; d++) {
            const float qd = qi[d], *row = t + (size_t)d * (size_t)ksub;
            for (int j = 0; j < ksub; j++) out[j] += qd * row[j];
        }
        if (dot) continue;
        float qn = 0; /* |q_i - cb|^2 = |q_i|^2 - 2 q_i . cb + |cb|^2 */
        for (int d = 0; d < dsub; d++) qn += qi[d] * qi[d];
        const float *n = pq->norms + i * ksub;
        for (int j = 0; j < ksub; j++) {
            float v = qn - 2 * out[j] + n[j];
            out[j] = v > 0 ? v : 0;
        }
    }
}
