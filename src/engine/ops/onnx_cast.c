/* Cast between the numeric types, bool, and from strings (parsed as numbers). Numbers are not
 * cast to strings: a string output needs storage for its characters that outlives the run, and
 * ops own no memory beyond the preallocated pointer array. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops/kern.h"

static int numeric(dtype_t t)
{
    switch (t) {
    case DT_FLOAT:
    case DT_DOUBLE:
    case DT_INT8:
    case DT_UINT8:
    case DT_INT16:
    case DT_UINT16:
    case DT_INT32:
    case DT_UINT32:
    case DT_INT64:
    case DT_UINT64:
    case DT_BOOL:
    case DT_FLOAT16: return 1;
    default: return 0;
    }
}

static int cast_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                      size_t errlen)
{
    if (n->nin < 1 || !in[0]) return kern_fail(err, errlen, "Cast: missing input");
    const attr_t *to = node_attr(n, "to");
    if (!to || to->type != ATTR_INT)
        return kern_fail(err, errlen, "Cast: the integer attribute 'to' is required");
    dtype_t from = in[0]->dtype, t = (dtype_t)to->i;
    int ok = (numeric(from) && numeric(t)) || (from == DT_STRING && t == DT_STRING) ||
             (from == DT_STRING && numeric(t) && t != DT_BOOL);
    if (!ok)
        return kern_fail(err, errlen, "Cast: casting %s to %s (type %lld) is not supported%s",
                         dtype_name(from), dtype_name(t), (long long)to->i,
                         t == DT_STRING ? " (numbers are not formatted as strings)" : "");
    out[0] = *in[0];
    out[0].dtype = t;
    out[0].data = NULL;
    out[0].map_keys = NULL;
    return 0;
}

/* Float to integer where C leaves out-of-range values (and NaN) undefined. These give what
 * ONNX Runtime's static_cast compiles to on x86-64: cvttsd2si to 32 bits for types up to 32
 * bits signed (then truncated), to 64 bits for uint32 and int64, the "integer indefinite"
 * minimum value when out of range. */
static int32_t f2i32(double v)
{
    return v > -2147483649.0 && v < 2147483648.0 ? (int32_t)v : INT32_MIN;
}

static int64_t f2i64(double v)
{
    return v >= -9223372036854775808.0 && v < 9223372036854775808.0 ? (int64_t)v : INT64_MIN;
}

static uint64_t f2u64(double v)
{
    if (v >= 9223372036854775808.0 && v < 18446744073709551616.0) return (uint64_t)v;
    return (uint64_t)f2i64(v);
}

/* One loop per (source, destination) pair; F is 1 when the source is floating point. */
#define LOOP(D, EXPR)                                                                              \
    do {                                                                                           \
        D *o = out;                                                                                \
        for (int64_t i = 0; i < cnt; i++) o[i] = (D)(EXPR);                                        \
    } while (0)

#define TO_ANY(S, F)                                                                               \
    do {                                                                                           \
        const S *s = src;                                                                          \
        switch (to) {                                                                              \
        case DT_FLOAT: LOOP(float, s[i]); break;                                                   \
        case DT_DOUBLE: LOOP(double, s[i]); break;                                                 \
        case DT_BOOL: LOOP(uint8_t, s[i] != 0); break;                                             \
        case DT_INT8: LOOP(int8_t, F ? f2i32((double)s[i]) : (int64_t)s[i]); break;                \
        case DT_UINT8: LOOP(uint8_t, F ? f2i32((double)s[i]) : (int64_t)s[i]); break;              \
        case DT_INT16: LOOP(int16_t, F ? f2i32((double)s[i]) : (int64_t)s[i]); break;              \
        case DT_UINT16: LOOP(uint16_t, F ? f2i32((double)s[i]) : (int64_t)s[i]); break;            \
        case DT_INT32: LOOP(int32_t, F ? f2i32((double)s[i]) : (int64_t)s[i]); break;              \
        case DT_UINT32: LOOP(uint32_t, F ? f2i64((double)s[i]) : (int64_t)s[i]); break;            \
        case DT_INT64: LOOP(int64_t, F ? f2i64((double)s[i]) : (int64_t)s[i]); break;              \
        default: LOOP(uint64_t, F ? f2u64((double)s[i]) : (uint64_t)s[i]); break;                  \
        }                                                                                          \
    } while (0)

static void cast_numeric(dtype_t from, dtype_t to, const void *src, void *out, int64_t cnt)
{
    switch (from) {
    case DT_FLOAT: TO_ANY(float, 1); break;
    case DT_DOUBLE: TO_ANY(double, 1); break;
    case DT_INT8: TO_ANY(int8_t, 0); break;
    case DT_UINT8:
    case DT_BOOL: TO_ANY(uint8_t, 0); break;
    case DT_INT16: TO_ANY(int16_t, 0); break;
    case DT_UINT16: TO_ANY(uint16_t, 0); break;
    case DT_INT32: TO_ANY(int32_t, 0); break;
    case DT_UINT32: TO_ANY(uint32_t, 0); break;
    case DT_INT64: TO_ANY(int64_t, 0); break;
    default: TO_ANY(uint64_t, 0); break;
    }
}

/* Strings parse as the ONNX spec describes: plain or scientific notation, with "INF", "+INF",
 * "-INF" and "NaN" in any case (strtod accepts all of these). Integers parse as integers. */
static int cast_string(const char *const *s, dtype_t to, void *out, int64_t cnt, exec_ctx_t *x)
{
    for (int64_t i = 0; i < cnt; i++) {
        const char *p = s[i] ? s[i] : "";
        char *end;
        errno = 0;
        if (to == DT_FLOAT || to == DT_DOUBLE) {
            double v = to == DT_FLOAT ? strtof(p, &end) : strtod(p, &end);
            if (end == p || *end)
                return exec_fail(x, "Cast: cannot parse \"%.64s\" as %s", p, dtype_name(to));
            if (to == DT_FLOAT)
                ((float *)out)[i] = (float)v;
            else
                ((double *)out)[i] = v;
            continue;
        }
        int unsig = to == DT_UINT8 || to == DT_UINT16 || to == DT_UINT32 || to == DT_UINT64;
        int64_t v = 0;
        uint64_t u = 0;
        if (unsig)
            u = strtoull(p, &end, 10);
        else
            v = strtoll(p, &end, 10);
        if (end == p || errno == ERANGE)
            return exec_fail(x, "Cast: cannot parse \"%.64s\" as %s", p, dtype_name(to));
        if (unsig)
            cast_numeric(DT_UINT64, to, &u, (char *)out + (size_t)i * dtype_size(to), 1);
        else
            cast_numeric(DT_INT64, to, &v, (char *)out + (size_t)i * dtype_size(to), 1);
    }
    return 0;
}

/* IEEE half precision <-> float. To half rounds to nearest even (as ONNX Runtime's MLFloat16
 * does); doubles go through float first, as ORT's Cast does. */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 31, m = h & 1023, bits;
    if (e == 31) {
        bits = sign | 0x7f800000u | (m << 13);
    } else if (e) {
        bits = sign | ((e + 112) << 23) | (m << 13);
    } else if (!m) {
        bits = sign;
    } else { /* subnormal: normalise */
        e = 113;
        while (!(m & 1024)) {
            m <<= 1;
            e--;
        }
        bits = sign | (e << 23) | ((m & 1023) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static uint16_t float_to_half(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    uint16_t sign = (uint16_t)((b >> 16) & 0x8000);
    uint32_t abs = b & 0x7fffffffu;
    if (abs > 0x7f800000u) return sign | 0x7e00;  /* NaN */
    if (abs >= 0x477ff000u) return sign | 0x7c00; /* rounds past 65504: infinity */
    if (abs < 0x38800000u) {                /* below the smallest normal half: subnormal or zero */
        if (abs < 0x33000000u) return sign; /* below half the smallest subnormal */
        uint32_t e = abs >> 23, m = (abs & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14..24: keep 24 - shift bits as the subnormal mantissa */
        uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return sign | (uint16_t)q;
    }
    uint32_t q = (abs >> 13) - (112u << 10), rem = abs & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (q & 1))) q++;
    return sign | (uint16_t)q;
}

/* Casts with FP16 on one side, element by element through float. */
static void cast_half(dtype_t from, dtype_t to, const void *src, void *out, int64_t cnt)
{
    size_t fs = dtype_size(from), ts = dtype_size(to);
    for (int64_t i = 0; i < cnt; i++) {
        const char *s = (const char *)src + (size_t)i * fs;
        float f;
        if (from == DT_FLOAT16)
            f = half_to_float(*(const uint16_t *)s);
        else
            cast_numeric(from, DT_FLOAT, s, &f, 1);
        if (to == DT_FLOAT16)
            ((uint16_t *)out)[i] = float_to_half(f);
        else
            cast_numeric(DT_FLOAT, to, &f, (char *)out + (size_t)i * ts, 1);
    }
}

static int cast_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    dtype_t from = in[0]->dtype, to = out[0].dtype;
    int64_t cnt = tensor_numel(in[0]);
    if (from == to) {
        memcpy(out[0].data, in[0]->data, (size_t)cnt * dtype_size(from));
        return 0;
    }
    if (from == DT_STRING && to == DT_FLOAT16) {
        float *tmp = exec_scratch(x, sizeof(float) * (size_t)(cnt + 1));
        if (!tmp) return exec_fail(x, "out of memory");
        if (cast_string(in[0]->data, DT_FLOAT, tmp, cnt, x)) return -1;
        cast_half(DT_FLOAT, DT_FLOAT16, tmp, out[0].data, cnt);
        return 0;
    }
    if (from == DT_STRING) return cast_string(in[0]->data, to, out[0].data, cnt, x);
    if (from == DT_FLOAT16 || to == DT_FLOAT16) {
        cast_half(from, to, in[0]->data, out[0].data, cnt);
        return 0;
    }
    cast_numeric(from, to, in[0]->data, out[0].data, cnt);
    return 0;
}

/* Cast-1 names the target type with a string; from 6 it is the TensorProto code. */
const op_def_t onnx_op_cast = {
    .domain = "",
    .name = "Cast",
    .since = 6,
    .until = 21,
    .infer = cast_infer,
    .run = cast_run,
};
