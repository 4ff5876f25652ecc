/* Vector kernels over contiguous float rows: reductions, dot/axpy and the distances the
 * engine's ops and the vector indexes share. Each is vectorised per CPU (kern/isa.h); the sums
 * use 16 independent partial sums, so their rounding differs from a left-to-right loop by a few
 * ulp (the same on every CPU). The *_ref functions are the plain scalar oracles tests use. */
#ifndef INFERD_KERN_VEC_H
#define INFERD_KERN_VEC_H

#include <stdint.h>

/* max of x[0..n), n >= 1 (NaN-oblivious: a NaN is skipped unless it is x[0]). */
float kern_max_f32(const float *x, int64_t n);
/* sum of x[0..n). */
float kern_sum_f32(const float *x, int64_t n);
double kern_sum_f64(const double *x, int64_t n);
/* sum of a[i] * b[i]. */
float kern_dot_f32(const float *a, const float *b, int64_t n);
/* y[i] += alpha * x[i]. */
void kern_axpy_f32(int64_t n, float alpha, const float *x, float *y);
/* y[i] *= alpha. */
void kern_scale_f32(int64_t n, float alpha, float *y);
/* Squared Euclidean distance sum (a[i] - b[i])^2. */
float kern_l2sq_f32(const float *a, const float *b, int64_t n);
/* Inner-product distance 1 - a.b (for unit vectors, as the vector indexes use it). */
float kern_ip_dist_f32(const float *a, const float *b, int64_t n);
/* Cosine distance 1 - a.b / (|a| |b|); 1 when either vector is zero. */
float kern_cosine_dist_f32(const float *a, const float *b, int64_t n);

/* Scalar oracles: left-to-right loops in double. */
double kern_dot_ref(const float *a, const float *b, int64_t n);
double kern_l2sq_ref(const float *a, const float *b, int64_t n);
double kern_cosine_dist_ref(const float *a, const float *b, int64_t n);

#endif
