/* Tensor helpers. */
#include "engine/tensor.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const struct {
    dtype_t t;
    const char *name;
    size_t size;
} types[] = {
    {DT_FLOAT, "FP32", 4},    {DT_UINT8, "UINT8", 1},
    {DT_INT8, "INT8", 1},     {DT_UINT16, "UINT16", 2},
    {DT_INT16, "INT16", 2},   {DT_INT32, "INT32", 4},
    {DT_INT64, "INT64", 8},   {DT_STRING, "BYTES", sizeof(const char *)},
    {DT_BOOL, "BOOL", 1},     {DT_FLOAT16, "FP16", 2},
    {DT_DOUBLE, "FP64", 8},   {DT_UINT32, "UINT32", 4},
    {DT_UINT64, "UINT64", 8},
};
#define NTYPES (sizeof types / sizeof types[0])

size_t dtype_size(dtype_t t)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (types[i].t == t) return types[i].size;
    return 0;
}

const char *dtype_name(dtype_t t)
{
    for (size_t i = 0; i < NTYPES; i++)
        if (types[i].t == t) return types[i].name;
    return "UNDEFINED";
}

dtype_t dtype_from_name(const char *name)
{
    if (strcasecmp(name, "STRING") == 0) return DT_STRING;
    for (size_t i = 0; i < NTYPES; i++)
        if (strcasecmp(types[i].name, name) == 0) return types[i].t;
    return DT_UNDEFINED;
}

int64_t tensor_numel(const tensor_t *t)
{
    /* Saturates instead of overflowing: shapes come from untrusted files and requests, and the
     * planner refuses anything this large anyway. */
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0 || __builtin_mul_overflow(n, t->dims[i], &n)) return INT64_MAX;
    return n;
}

size_t tensor_nbytes(const tensor_t *t)
{
    size_t n = dtype_size(t->dtype);
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] < 0) return SIZE_MAX;
        size_t d = (size_t)t->dims[i];
        if (d && n > SIZE_MAX / d) return SIZE_MAX;
        n *= d;
    }
    return n;
}

bool tensor_same_shape(const tensor_t *a, const tensor_t *b)
{
    if (a->rank != b->rank) return false;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return false;
    return true;
}

const char *tensor_shape_str(const tensor_t *t, char *buf, size_t len)
{
    size_t off = 0;
    int w = snprintf(buf, len, "[");
    off = w > 0 ? (size_t)w : 0;
    for (int i = 0; i < t->rank && off < len; i++) {
        w = snprintf(buf + off, len - off, "%s%lld", i ? "," : "", (long long)t->dims[i]);
        if (w < 0) break;
        off += (size_t)w;
    }
    if (off < len) snprintf(buf + off, len - off, "]");
    return buf;
}
