/* Vector kernels (see vec.h). Sixteen independent partial results let the compiler keep them
 * in vector lanes: one accumulator would be a serial dependency chain it may not reorder
 * (no -ffast-math). */
#include <math.h>

#include "kern/isa.h"
#include "kern/vec.h"

KERN_INLINE float kern_max_f32_body(const float *x, int64_t n)
{
    float m = x[0];
    int64_t i = 0;
    if (n >= 16) {
        float acc[16];
        for (int j = 0; j < 16; j++) acc[j] = x[j];
        for (i = 16; i + 16 <= n; i += 16)
            for (int j = 0; j < 16; j++) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
        for (int j = 0; j < 16; j++) m = acc[j] > m ? acc[j] : m;
    }
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}
KERN_MULTI(float, kern_max_f32, (const float *x, int64_t n), (x, n))

/* Pairwise fold of the 16 partial sums, then the tail in order. */
#define FOLD16(acc, s)                                                                             \
    do {                                                                                           \
        for (int w_ = 8; w_ >= 1; w_ /= 2)                                                         \
            for (int j_ = 0; j_ < w_; j_++) (acc)[j_] += (acc)[j_ + w_];                           \
        (s) = (acc)[0];                                                                            \
    } while (0)

KERN_INLINE float kern_sum_f32_body(const float *x, int64_t n)
{
    float acc[16] = {0}, s;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += x[i + j];
    FOLD16(acc, s);
    for (; i < n; i++) s += x[i];
    return s;
}
KERN_MULTI(float, kern_sum_f32, (const float *x, int64_t n), (x, n))

KERN_INLINE double kern_sum_f64_body(const double *x, int64_t n)
{
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) acc[j] += x[i + j];
    for (int w = 4; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    double s = acc[0];
    for (; i < n; i++) s += x[i];
    return s;
}
KERN_MULTI(double, kern_sum_f64, (const double *x, int64_t n), (x, n))

KERN_INLINE float kern_dot_f32_body(const float *a, const float *b, int64_t n)
{
    float acc[16] = {0}, s;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) acc[j] += a[i + j] * b[i + j];
    FOLD16(acc, s);
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
KERN_MULTI(float, kern_dot_f32, (const float *a, const float *b, int64_t n), (a, b, n))

KERN_INLINE void kern_axpy_f32_body(int64_t n, float alpha, const float *x, float *y)
{
    for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}
KERN_MULTI_VOID(kern_axpy_f32, (int64_t n, float alpha, const float *x, float *y), (n, alpha, x, y))

KERN_INLINE void kern_scale_f32_body(int64_t n, float alpha, float *y)
{
    for (int64_t i = 0; i < n; i++) y[i] *= alpha;
}
KERN_MULTI_VOID(kern_scale_f32, (int64_t n, float alpha, float *y), (n, alpha, y))

KERN_INLINE float kern_l2sq_f32_body(const float *a, const float *b, int64_t n)
{
    float acc[16] = {0}, s;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) {
            float d = a[i + j] - b[i + j];
            acc[j] += d * d;
        }
    FOLD16(acc, s);
    for (; i < n; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
    return s;
}
KERN_MULTI(float, kern_l2sq_f32, (const float *a, const float *b, int64_t n), (a, b, n))

float kern_ip_dist_f32(const float *a, const float *b, int64_t n)
{
    return 1.0f - kern_dot_f32(a, b, n);
}

/* One pass for the three sums keeps a, b in cache once. */
KERN_INLINE float kern_cosine_dist_f32_body(const float *a, const float *b, int64_t n)
{
    float ab[16] = {0}, aa[16] = {0}, bb[16] = {0}, sab, saa, sbb;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) {
            ab[j] += a[i + j] * b[i + j];
            aa[j] += a[i + j] * a[i + j];
            bb[j] += b[i + j] * b[i + j];
        }
    FOLD16(ab, sab);
    FOLD16(aa, saa);
    FOLD16(bb, sbb);
    for (; i < n; i++) {
        sab += a[i] * b[i];
        saa += a[i] * a[i];
        sbb += b[i] * b[i];
    }
    if (saa == 0.0f || sbb == 0.0f) return 1.0f;
    return 1.0f - sab / (sqrtf(saa) * sqrtf(sbb));
}
KERN_MULTI(float, kern_cosine_dist_f32, (const float *a, const float *b, int64_t n), (a, b, n))

double kern_dot_ref(const float *a, const float *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

double kern_l2sq_ref(const float *a, const float *b, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return s;
}

double kern_cosine_dist_ref(const float *a, const float *b, int64_t n)
{
    double ab = kern_dot_ref(a, b, n), aa = kern_dot_ref(a, a, n), bb = kern_dot_ref(b, b, n);
    if (aa == 0 || bb == 0) return 1.0;
    return 1.0 - ab / (sqrt(aa) * sqrt(bb));
}
