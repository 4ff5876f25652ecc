/* Neural-network row kernels (see nn.h). libm's expf/erff are calls per element, which stop the
 * vectoriser; these polynomial versions are branch-free so whole loops of them vectorise. */
#include <math.h>
#include <string.h>

#include "kern/isa.h"
#include "kern/nn.h"
#include "kern/vec.h"

typedef union {
    uint32_t u;
    float f;
} fbits_t;

/* exp: Cody-Waite reduction x = n ln2 + r (n rounded by the 1.5 * 2^23 trick, which needs no
 * rounding instruction), the Cephes degree-6 polynomial for e^r, then 2^n from the exponent
 * bits. Within 2 ulp of the exact value. */
KERN_INLINE float exp_one(float x)
{
    float xc = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
    const float magic = 12582912.0f;
    float t = xc * 1.44269504088896341f + magic;
    fbits_t tb = {.f = t};
    float fn = t - magic;
    int32_t n = (int32_t)(tb.u - 0x4B400000u);
    float r = xc - fn * 0.693359375f;
    r = r - fn * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float e = p * r * r + r + 1.0f;
    /* n may be 128 at the top: scale in two halves so 2^n never overflows the exponent. */
    int32_t h = n >> 1;
    fbits_t s1 = {.u = (uint32_t)(h + 127) << 23}, s2 = {.u = (uint32_t)(n - h + 127) << 23};
    e = e * s1.f * s2.f;
    e = x < -87.3f ? 0.0f : e;
    e = x > 88.7f ? INFINITY : e;
    return x != x ? x : e;
}

/* erf(|x|) by Abramowitz & Stegun 7.1.26, 1 - (a1 t + ... + a5 t^5) e^(-x^2) with
 * t = 1/(1 + p|x|): absolute error below 1.5e-7 everywhere. */
KERN_INLINE float erf_as(float ax)
{
    float t = 1.0f / (1.0f + 0.3275911f * ax);
    float p = 1.061405429f;
    p = p * t + -1.453152027f;
    p = p * t + 1.421413741f;
    p = p * t + -0.284496736f;
    p = p * t + 0.254829592f;
    return 1.0f - p * t * exp_one(-ax * ax);
}

/* erf: for |x| < 0.8 its Taylor series to x^17 (truncation below 3e-9), so small arguments keep
 * their relative precision; above, erf_as. Both are computed and one picked, so the loop stays
 * branch-free. Odd-extended. */
KERN_INLINE float erf_one(float x)
{
    float ax = x < 0 ? -x : x;
    ax = ax > 10.0f ? 10.0f : ax;
    float big = erf_as(ax);
    float z = ax * ax;
    float q = 1.0f / 685440.0f;
    q = q * z - 1.0f / 75600.0f;
    q = q * z + 1.0f / 9360.0f;
    q = q * z - 1.0f / 1320.0f;
    q = q * z + 1.0f / 216.0f;
    q = q * z - 1.0f / 42.0f;
    q = q * z + 1.0f / 10.0f;
    q = q * z - 1.0f / 3.0f;
    q = q * z + 1.0f;
    float small = 1.1283791670955126f * ax * q;
    float y = ax < 0.8f ? small : big;
    y = x < 0 ? -y : y;
    return x != x ? x : y;
}

/* tanh(x) = sign(x) (1 - 2 / (e^(2|x|) + 1)); for |x| < 2^-12 tanh(x) = x to float precision. */
KERN_INLINE float tanh_one(float x)
{
    float ax = x < 0 ? -x : x;
    ax = ax > 20.0f ? 20.0f : ax;
    float y = 1.0f - 2.0f / (exp_one(2.0f * ax) + 1.0f);
    y = ax < 2.44140625e-4f ? ax : y;
    y = x < 0 ? -y : y;
    return x != x ? x : y;
}

KERN_INLINE void kern_exp_f32_body(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = exp_one(x[i]);
}
KERN_MULTI_VOID(kern_exp_f32, (const float *x, float *y, int64_t n), (x, y, n))

KERN_INLINE void kern_erf_f32_body(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = erf_one(x[i]);
}
KERN_MULTI_VOID(kern_erf_f32, (const float *x, float *y, int64_t n), (x, y, n))

KERN_INLINE void kern_tanh_f32_body(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) y[i] = tanh_one(x[i]);
}
KERN_MULTI_VOID(kern_tanh_f32, (const float *x, float *y, int64_t n), (x, y, n))

/* As the ONNX decomposition computes it: erf(x / sqrt(2)), + 1, times x, times 0.5; but erf_as
 * alone and a multiply by 1/sqrt(2): GELU adds 1 to erf, so erf's relative precision near 0,
 * which costs the Taylor branch, is lost in the sum anyway (the error stays below 1e-7 x |x|),
 * and the division was half the loop's time (the FFN's GELU was 5.7% of a 128-token MiniLM run). */
KERN_INLINE void kern_gelu_erf_f32_body(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i], u = v * 0.70710678118654752f, au = u < 0 ? -u : u;
        float e = erf_as(au > 10.0f ? 10.0f : au);
        e = u < 0 ? -e : e;
        y[i] = v != v ? v : v * (e + 1.0f) * 0.5f;
    }
}
KERN_MULTI_VOID(kern_gelu_erf_f32, (const float *x, float *y, int64_t n), (x, y, n))

KERN_INLINE void kern_gelu_tanh_f32_body(const float *x, float *y, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        float u = 0.7978845608028654f * (v + 0.044715f * v * v * v);
        y[i] = 0.5f * v * (1.0f + tanh_one(u));
    }
}
KERN_MULTI_VOID(kern_gelu_tanh_f32, (const float *x, float *y, int64_t n), (x, y, n))

/* One row: max, exp(x - max) and the sum in the same pass, then scale by 1 / sum. */
KERN_INLINE void softmax_row_body(float *x, int64_t len)
{
    float m = kern_max_f32(x, len);
    float acc[16] = {0}, s;
    int64_t i = 0;
    for (; i + 16 <= len; i += 16)
        for (int j = 0; j < 16; j++) {
            float e = exp_one(x[i + j] - m);
            x[i + j] = e;
            acc[j] += e;
        }
    for (int w = 8; w >= 1; w /= 2)
        for (int j = 0; j < w; j++) acc[j] += acc[j + w];
    s = acc[0];
    for (; i < len; i++) {
        float e = exp_one(x[i] - m);
        x[i] = e;
        s += e;
    }
    for (i = 0; i < len; i++) x[i] = x[i] / s;
}

KERN_INLINE void kern_softmax_f32_body(float *x, int64_t rows, int64_t len)
{
    for (int64_t r = 0; r < rows; r++) softmax_row_body(x + r * len, len);
}
KERN_MULTI_VOID(kern_softmax_f32, (float *x, int64_t rows, int64_t len), (x, rows, len))

/* Two passes as the decomposed graph computes it: mean, then the mean of squared deviations,
 * then (x - mean) / sqrt(var + eps). */
KERN_INLINE void kern_layernorm_f32_body(const float *x, float *y, int64_t rows, int64_t len,
                                         const float *gamma, const float *beta, float eps)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * len;
        float *yr = y + r * len;
        float mean = kern_sum_f32(xr, len) / (float)len;
        float acc[16] = {0}, v;
        int64_t i = 0;
        for (; i + 16 <= len; i += 16)
            for (int j = 0; j < 16; j++) {
                float d = xr[i + j] - mean;
                acc[j] += d * d;
            }
        for (int w = 8; w >= 1; w /= 2)
            for (int j = 0; j < w; j++) acc[j] += acc[j + w];
        v = acc[0];
        for (; i < len; i++) v += (xr[i] - mean) * (xr[i] - mean);
        float den = sqrtf(v / (float)len + eps);
        if (beta)
            for (i = 0; i < len; i++) yr[i] = (xr[i] - mean) / den * gamma[i] + beta[i];
        else
            for (i = 0; i < len; i++) yr[i] = (xr[i] - mean) / den * gamma[i];
    }
}
KERN_MULTI_VOID(kern_layernorm_f32,
                (const float *x, float *y, int64_t rows, int64_t len, const float *gamma,
                 const float *beta, float eps),
                (x, y, rows, len, gamma, beta, eps))
