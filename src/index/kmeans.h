/* k-means (Lloyd's algorithm) and nearest-centroid assignment, the training behind IVF's coarse
 * quantizer and PQ's codebooks. Distances to centroids come from one GEMM per block of points
 * (|x|^2 - 2 x.c + |c|^2), so assignment runs at BLAS speed. */
#ifndef INFERD_INDEX_KMEANS_H
#define INFERD_INDEX_KMEANS_H

#include <stdbool.h>
#include <stdint.h>

#include "index/index.h"
#include "kern/tpool.h"

/* Trains k centroids (k * dim floats, written to c) on n points x (n >= k >= 1): starts from k
 * distinct sampled points (seeded), then iters rounds of assignment and mean; a cluster left
 * empty takes half of the largest one (FAISS's rule). 0 or -ENOMEM. */
int kmeans_train(tpool_t *pool, const float *x, int64_t n, int dim, int k, int iters, uint64_t seed,
                 float *c, idx_progress_fn progress, void *parg);

/* For each of n points, the index of its nearest centroid (ties: lower index) by squared L2,
 * or, when ip, by the largest inner product; with d2 (L2 only) that squared distance too. 0 or
 * -ENOMEM. */
int kmeans_assign(tpool_t *pool, const float *x, int64_t n, int dim, const float *c, int k, bool ip,
                  int32_t *assign, float *d2);

#endif
