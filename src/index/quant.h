/* Vector codes for the IVF lists: SQ8 (sq.c: one byte per dimension, uniform over the range
 * each dimension had in training, as FAISS's QT_8bit) and PQ (pq.c: the vector cut into m
 * sub-vectors, each replaced by the nearest of 2^nbits trained centroids; distances by
 * asymmetric tables, ADC). */
#ifndef INFERD_INDEX_QUANT_H
#define INFERD_INDEX_QUANT_H

#include <stdint.h>

#include "index/kmeans.h"

/* ==== SQ8 ==== */

/* vmin[d] and vdiff[d] (max - min, or 1 where constant) over n rows of x. */
void sq8_train(const float *x, int64_t n, int dim, float *vmin, float *vdiff);
/* code[d] = the byte nearest (x[d] - vmin[d]) / vdiff[d] * 255, clamped to 0..255. */
void sq8_encode(const float *vmin, const float *vdiff, int dim, const float *x, uint8_t *code);
/* The vector a code stands for. */
void sq8_decode(const float *vmin, const float *vdiff, int dim, const uint8_t *code, float *x);
/* Squared L2 distance from q to the decoded code, and q . decoded, without materialising it. */
float sq8_l2(const float *vmin, const float *vdiff, int dim, const float *q, const uint8_t *code);
float sq8_dot(const float *vmin, const float *vdiff, int dim, const float *q, const uint8_t *code);

/* ==== PQ ==== */

typedef struct pq {
    int dim, m, nbits, ksub, dsub; /* dim = m * dsub, ksub = 2^nbits (nbits 1..8) */
    float *cb;                     /* m codebooks of ksub x dsub floats */
    /* Made by pq_prepare from cb, for pq_tables: each codebook transposed (dsub x ksub), so a
     * table is built with loops over the codes that vectorise, and the codewords' norms. */
    float *cbt, *norms;
} pq_t;

/* Trains the m codebooks on n rows of x (k-means per sub-space, n >= ksub). 0, -EINVAL or
 * -ENOMEM. */
int pq_train(tpool_t *pool, const pq_t *pq, const float *x, int64_t n, uint64_t seed,
             idx_progress_fn progress, void *parg);
/* Codes (m bytes each) of n rows of x. 0 or -ENOMEM. */
int pq_encode(tpool_t *pool, const pq_t *pq, const float *x, int64_t n, uint8_t *codes);
/* Makes pq->cbt and pq->norms from pq->cb (after training or loading). 0 or -ENOMEM. */
int pq_prepare(pq_t *pq);
/* Frees what pq_prepare made. */
void pq_release(pq_t *pq);
/* ADC tables for q (pq_prepare'd): tab[i * ksub + j] = |q_i - cb_i[j]|^2 (l2) or q_i . cb_i[j]
 * (dot). */
void pq_tables(const pq_t *pq, const float *q, int dot, float *tab);
/* sum over i of tab[i * ksub + code[i]], in four running sums: one chain of m dependent adds
 * would cost m times the add latency per code (4x slower at m = 32, measured), while the table
 * lookups themselves can run several at a time. */
static inline float pq_adc(const float *tab, const uint8_t *code, int m, int ksub)
{
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= m; i += 4, tab += 4 * ksub) {
        s0 += tab[code[i]];
        s1 += tab[ksub + code[i + 1]];
        s2 += tab[2 * ksub + code[i + 2]];
        s3 += tab[3 * ksub + code[i + 3]];
    }
    for (; i < m; i++, tab += ksub) s0 += tab[code[i]];
    return (s0 + s1) + (s2 + s3);
}

#endif
