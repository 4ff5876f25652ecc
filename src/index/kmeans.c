#include "index/kmeans.h"

#include <errno.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "kern/gemm.h"
#include "kern/vec.h"

#define SCRATCH_FLOATS (1 << 20) /* per block of points: their dot products with the centroids */

typedef struct assign_job {
    const float *x, *c, *cnorm;
    int64_t n, block;
    int dim, k;
    bool ip;
    int32_t *assign;
    float *d2;
} assign_job_t;

static int assign_block(void *arg, int64_t b, int w)
{
    (void)w;
    const assign_job_t *j = arg;
    int64_t lo = b * j->block, m = j->n - lo < j->block ? j->n - lo : j->block;
    float *g = malloc((size_t)m * (size_t)j->k * sizeof *g);
    if (!g) return -ENOMEM;
    /* g = x_block . c^T: row i holds x_i . c_j for every centroid j. */
    kern_sgemm1(false, true, m, j->k, j->dim, 1.0f, j->x + (size_t)lo * (size_t)j->dim, j->dim,
                j->c, j->dim, 0.0f, g, j->k);
    for (int64_t i = 0; i < m; i++) {
        const float *row = g + (size_t)i * (size_t)j->k;
        float best = FLT_MAX;
        int32_t arg_best = 0;
        for (int c = 0; c < j->k; c++) {
            float d = j->ip ? -row[c] : j->cnorm[c] - 2 * row[c];
            if (d < best) best = d, arg_best = c;
        }
        j->assign[lo + i] = arg_best;
        if (j->d2 && !j->ip) {
            const float *xi = j->x + (size_t)(lo + i) * (size_t)j->dim;
            float d = kern_dot_f32(xi, xi, j->dim) + best;
            j->d2[lo + i] = d > 0 ? d : 0;
        }
    }
    free(g);
    return 0;
}

int kmeans_assign(tpool_t *pool, const float *x, int64_t n, int dim, const float *c, int k, bool ip,
                  int32_t *assign, float *d2)
{
    float *cnorm = malloc((size_t)k * sizeof *cnorm);
    if (!cnorm) return -ENOMEM;
    for (int j = 0; j < k; j++)
        cnorm[j] = kern_dot_f32(c + (size_t)j * (size_t)dim, c + (size_t)j * (size_t)dim, dim);
    int64_t block = SCRATCH_FLOATS / k;
    if (block < 16) block = 16;
    if (block > 1024) block = 1024;
    assign_job_t j = {x, c, cnorm, n, block, dim, k, ip, assign, d2};
    int rc = tpool_run(pool, (n + block - 1) / block, assign_block, &j);
    free(cnorm);
    return rc;
}

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    return *s;
}

int kmeans_train(tpool_t *pool, const float *x, int64_t n, int dim, int k, int iters, uint64_t seed,
                 float *c, idx_progress_fn progress, void *parg)
{
    if (k < 1 || n < k) return -EINVAL;
    uint64_t s = seed ? seed : 0x9E3779B97F4A7C15ull;
    /* k distinct starting points: the first k of a partial Fisher-Yates shuffle. */
    int64_t *perm = malloc((size_t)n * sizeof *perm);
    int32_t *assign = malloc((size_t)n * sizeof *assign);
    double *sum = malloc((size_t)k * (size_t)dim * sizeof *sum);
    int64_t *count = malloc((size_t)k * sizeof *count);
    int rc = perm && assign && sum && count ? 0 : -ENOMEM;
    for (int64_t i = 0; !rc && i < n; i++) perm[i] = i;
    for (int j = 0; !rc && j < k; j++) {
        int64_t r = j + (int64_t)(next_rand(&s) % (uint64_t)(n - j));
        int64_t t = perm[j];
        perm[j] = perm[r], perm[r] = t;
        memcpy(c + (size_t)j * (size_t)dim, x + (size_t)perm[j] * (size_t)dim,
               (size_t)dim * sizeof *c);
    }
    for (int it = 0; !rc && it < iters; it++) {
        rc = kmeans_assign(pool, x, n, dim, c, k, false, assign, NULL);
        if (rc) break;
        memset(sum, 0, (size_t)k * (size_t)dim * sizeof *sum);
        memset(count, 0, (size_t)k * sizeof *count);
        for (int64_t i = 0; i < n; i++) {
            double *sc = sum + (size_t)assign[i] * (size_t)dim;
            const float *xi = x + (size_t)i * (size_t)dim;
            for (int d = 0; d < dim; d++) sc[d] += xi[d];
            count[assign[i]]++;
        }
        for (int j = 0; j < k; j++)
            if (count[j])
                for (int d = 0; d < dim; d++)
                    c[(size_t)j * (size_t)dim + d] =
                        (float)(sum[(size_t)j * (size_t)dim + d] / (double)count[j]);
        /* An empty cluster takes half of the largest: its centroid, nudged apart both ways. */
        for (int j = 0; j < k; j++) {
            if (count[j]) continue;
            int big = 0;
            for (int b = 1; b < k; b++)
                if (count[b] > count[big]) big = b;
            float *cj = c + (size_t)j * (size_t)dim, *cb = c + (size_t)big * (size_t)dim;
            for (int d = 0; d < dim; d++) {
                float eps = (d % 2 ? 1 : -1) * 1.0f / 1024;
                cj[d] = cb[d] * (1 + eps);
                cb[d] = cb[d] * (1 - eps);
            }
            count[j] = count[big] / 2;
            count[big] -= count[j];
        }
        if (progress) progress(parg, "k-means", it + 1, iters);
    }
    free(perm);
    free(assign);
    free(sum);
    free(count);
    return rc;
}
