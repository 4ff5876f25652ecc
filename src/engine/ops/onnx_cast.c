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
    case DT_BOOL: return 1;
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

static int cast_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    dtype_t from = in[0]->dtype, to = out[0].dtype;
    int64_t cnt = tensor_numel(in[0]);
    if (from == to) {
        memcpy(out[0].data, in[0]->data, (size_t)cnt * dtype_size(from));
        return 0;
    }
    if (from == DT_STRING) return cast_string(in[0]->data, to, out[0].data, cnt, x);
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
