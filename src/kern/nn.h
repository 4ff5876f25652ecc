/* Neural-network row kernels: exp, erf, tanh, softmax, layer normalisation and GELU, vectorised
 * per CPU (kern/isa.h) with branch-free polynomial approximations of exp and erf (within a few
 * ulp of libm's, see nn.c). libm (expf, erff, tanhf) is the scalar oracle the tests use. */
#ifndef INFERD_KERN_NN_H
#define INFERD_KERN_NN_H

#include <stdint.h>

/* y[i] = exp(x[i]) (x and y may alias). Below -87.3 the result is 0, above 88.7 +inf; NaN
 * stays NaN. */
void kern_exp_f32(const float *x, float *y, int64_t n);
/* y[i] = erf(x[i]), absolute error below 2e-7. */
void kern_erf_f32(const float *x, float *y, int64_t n);
/* y[i] = tanh(x[i]), absolute error below 2e-7. */
void kern_tanh_f32(const float *x, float *y, int64_t n);
/* Softmax of each of `rows` contiguous rows of len floats, in place: subtract the row's max,
 * exponentiate, divide by the sum. Rows holding a NaN or infinity follow IEEE (NaN results). */
void kern_softmax_f32(float *x, int64_t rows, int64_t len);
/* Layer normalisation of `rows` rows of len floats: y = (x - mean) / sqrt(var + eps) * gamma +
 * beta, var the biased variance; beta may be NULL. x and y may alias. */
void kern_layernorm_f32(const float *x, float *y, int64_t rows, int64_t len, const float *gamma,
                        const float *beta, float eps);
/* GELU, exact form: y = 0.5 x (1 + erf(x / sqrt 2)). x and y may alias. */
void kern_gelu_erf_f32(const float *x, float *y, int64_t n);
/* GELU, tanh form: y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
void kern_gelu_tanh_f32(const float *x, float *y, int64_t n);

#endif
