/* Elementwise math functions of one float input (FP32 or FP64): rounding (Floor, Ceil, Round),
 * Reciprocal, Sign, the trigonometric and hyperbolic functions and their inverses, and the
 * activation functions Softplus, Softsign, Elu, Selu, Celu, HardSigmoid, HardSwish,
 * ThresholdedRelu; and IsNaN, IsInf (to BOOL). Computed in the input's type with libm. */
#include <math.h>
#include <string.h>

#include "engine/ops/kern.h"

typedef enum ufn {
    U_FLOOR,
    U_CEIL,
    U_ROUND,
    U_RECIPROCAL,
    U_SIGN,
    U_SIN,
    U_COS,
    U_TAN,
    U_ASIN,
    U_ACOS,
    U_ATAN,
    U_SINH,
    U_COSH,
    U_ASINH,
    U_ACOSH,
    U_ATANH,
    U_SOFTPLUS,
    U_SOFTSIGN,
    U_ELU,
    U_SELU,
    U_CELU,
    U_HARDSIGMOID,
    U_HARDSWISH,
    U_THRESHOLDED_RELU,
    U_ISNAN,
    U_ISINF,
} ufn_t;

/* The attributes a function reads (defaults from the ONNX schemas). */
typedef struct uparams {
    double alpha, beta, gamma;
    int detect_pos, detect_neg;
} uparams_t;

static uparams_t uparams(ufn_t f, const node_t *n)
{
    uparams_t p = {0};
    switch (f) {
    case U_ELU:
    case U_CELU: p.alpha = node_attr_float(n, "alpha", 1.0f); break;
    case U_SELU:
        p.alpha = node_attr_float(n, "alpha", 1.67326319217681884765625f);
        p.gamma = node_attr_float(n, "gamma", 1.05070102214813232421875f);
        break;
    case U_HARDSIGMOID:
        p.alpha = node_attr_float(n, "alpha", 0.2f);
        p.beta = node_attr_float(n, "beta", 0.5f);
        break;
    case U_THRESHOLDED_RELU: p.alpha = node_attr_float(n, "alpha", 1.0f); break;
    case U_ISINF:
        p.detect_pos = node_attr_int(n, "detect_positive", 1) != 0;
        p.detect_neg = node_attr_int(n, "detect_negative", 1) != 0;
        break;
    default: break;
    }
    return p;
}

/* One element in double (float inputs use ufn_f32, which falls back to this). */
static double ufn_f64(ufn_t f, double x, const uparams_t *p)
{
    const double a = p->alpha, b = p->beta, g = p->gamma;
    switch (f) {
    case U_FLOOR: return floor(x);
    case U_CEIL: return ceil(x);
    case U_ROUND: return nearbyint(x); /* half to even */
    case U_RECIPROCAL: return 1 / x;
    case U_SIGN: return x > 0 ? 1 : x < 0 ? -1 : x == 0 ? 0 : x;
    case U_SIN: return sin(x);
    case U_COS: return cos(x);
    case U_TAN: return tan(x);
    case U_ASIN: return asin(x);
    case U_ACOS: return acos(x);
    case U_ATAN: return atan(x);
    case U_SINH: return sinh(x);
    case U_COSH: return cosh(x);
    case U_ASINH: return asinh(x);
    case U_ACOSH: return acosh(x);
    case U_ATANH: return atanh(x);
    case U_SOFTPLUS: return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    case U_SOFTSIGN: return x / (1 + fabs(x));
    case U_ELU: return x >= 0 ? x : a * (exp(x) - 1);
    case U_SELU: return x > 0 ? g * x : g * (a * exp(x) - a);
    case U_CELU: return (x > 0 ? x : 0) + fmin(0, a * (exp(x / a) - 1));
    case U_HARDSIGMOID: return fmax(0, fmin(1, a * x + b));
    case U_HARDSWISH: return x * fmax(0, fmin(1, x / 6 + 0.5));
    case U_THRESHOLDED_RELU: return x > a ? x : 0;
    default: return x;
    }
}

/* Float inputs use the float libm functions where the result should be float's own; the rest
 * compute in double and round (within an ulp of a float computation). */

static float ufn_f32(ufn_t f, float x, const uparams_t *p)
{
    switch (f) {
    case U_FLOOR: return floorf(x);
    case U_CEIL: return ceilf(x);
    case U_ROUND: return nearbyintf(x);
    case U_RECIPROCAL: return 1.0f / x;
    case U_SIN: return sinf(x);
    case U_COS: return cosf(x);
    case U_TAN: return tanf(x);
    case U_ASIN: return asinf(x);
    case U_ACOS: return acosf(x);
    case U_ATAN: return atanf(x);
    case U_SINH: return sinhf(x);
    case U_COSH: return coshf(x);
    case U_ASINH: return asinhf(x);
    case U_ACOSH: return acoshf(x);
    case U_ATANH: return atanhf(x);
    case U_SOFTSIGN: return x / (1.0f + fabsf(x));
    default: return (float)ufn_f64(f, (double)x, p);
    }
}

static int u_infer(ufn_t f, const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                   size_t errlen)
{
    if (n->nin < 1 || !in[0]) return kern_fail(err, errlen, "%s: missing input", n->op_type);
    if (in[0]->dtype != DT_FLOAT && in[0]->dtype != DT_DOUBLE)
        return kern_fail(err, errlen, "%s: unsupported type %s (FP32, FP64)", n->op_type,
                         dtype_name(in[0]->dtype));
    out[0] = *in[0];
    out[0].data = NULL;
    out[0].map_keys = NULL;
    if (f == U_ISNAN || f == U_ISINF) out[0].dtype = DT_BOOL;
    return 0;
}

static int u_run(ufn_t f, const node_t *n, const tensor_t *const *in, tensor_t *out)
{
    uparams_t p = uparams(f, n);
    int64_t cnt = tensor_numel(in[0]);
    int f32 = in[0]->dtype == DT_FLOAT;
    for (int64_t i = 0; i < cnt; i++) {
        double v = f32 ? ((const float *)in[0]->data)[i] : ((const double *)in[0]->data)[i];
        if (f == U_ISNAN || f == U_ISINF) {
            int hit = f == U_ISNAN ? isnan(v) : (isinf(v) && (v > 0 ? p.detect_pos : p.detect_neg));
            ((uint8_t *)out[0].data)[i] = (uint8_t)(hit != 0);
        } else if (f32) {
            ((float *)out[0].data)[i] = ufn_f32(f, (float)v, &p);
        } else {
            ((double *)out[0].data)[i] = ufn_f64(f, v, &p);
        }
    }
    return 0;
}

#define UOP(var, NAME, SINCE, F)                                                                   \
    static int var##_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,   \
                           size_t errlen)                                                          \
    {                                                                                              \
        return u_infer(F, n, in, out, err, errlen);                                                \
    }                                                                                              \
    static int var##_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x) \
    {                                                                                              \
        return u_run(F, n, in, out);                                                               \
    }                                                                                              \
    const op_def_t onnx_op_##var = {                                                               \
        .domain = "",                                                                              \
        .name = NAME,                                                                              \
        .since = SINCE,                                                                            \
        .until = 21,                                                                               \
        .infer = var##_infer,                                                                      \
        .run = var##_run,                                                                          \
    };

UOP(floor, "Floor", 6, U_FLOOR)
UOP(ceil, "Ceil", 6, U_CEIL)
UOP(round, "Round", 11, U_ROUND)
UOP(reciprocal, "Reciprocal", 6, U_RECIPROCAL)
UOP(sign, "Sign", 9, U_SIGN)
UOP(sin, "Sin", 7, U_SIN)
UOP(cos, "Cos", 7, U_COS)
UOP(tan, "Tan", 7, U_TAN)
UOP(asin, "Asin", 7, U_ASIN)
UOP(acos, "Acos", 7, U_ACOS)
UOP(atan, "Atan", 7, U_ATAN)
UOP(sinh, "Sinh", 9, U_SINH)
UOP(cosh, "Cosh", 9, U_COSH)
UOP(asinh, "Asinh", 9, U_ASINH)
UOP(acosh, "Acosh", 9, U_ACOSH)
UOP(atanh, "Atanh", 9, U_ATANH)
UOP(softplus, "Softplus", 1, U_SOFTPLUS)
UOP(softsign, "Softsign", 1, U_SOFTSIGN)
UOP(elu, "Elu", 6, U_ELU)
UOP(selu, "Selu", 6, U_SELU)
UOP(celu, "Celu", 12, U_CELU)
UOP(hardsigmoid, "HardSigmoid", 6, U_HARDSIGMOID)
UOP(hardswish, "HardSwish", 14, U_HARDSWISH)
UOP(thresholded_relu, "ThresholdedRelu", 10, U_THRESHOLDED_RELU)
UOP(isnan, "IsNaN", 9, U_ISNAN)
UOP(isinf, "IsInf", 10, U_ISINF)
