/* JSON <-> tensor conversion for model inputs and outputs. */
#include "codec/tensor_json.h"

#include "util/err.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ========================================================================= decoding ==== */

typedef struct walker {
    const char *name; /* input name, for messages */
    dtype_t dtype;
    tensor_t *t;
    int64_t pos; /* next flat element */
    char *err;
    size_t errlen;
} walker_t;

/* Formats the index path [i][j] of the current position for messages. */
static void where(const int64_t *idx, int depth, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (int d = 0; d < depth && o < len; d++) {
        int w = snprintf(buf + o, len - o, "[%lld]", (long long)idx[d]);
        if (w < 0) break;
        o += (size_t)w;
    }
}

static int put_scalar(walker_t *w, const json_value_t *v, const int64_t *idx, int depth)
{
    char at[96];
    json_type_t jt = json_type(v);
    void *base = w->t->data;
    int64_t i = w->pos++;
    switch (w->dtype) {
    case DT_FLOAT:
    case DT_DOUBLE: {
        double d;
        if (jt == JSON_NUMBER)
            d = json_number(v);
        else if (jt == JSON_NULL)
            d = NAN; /* missing value, as sklearn pipelines expect */
        else
            goto not_number;
        if (w->dtype == DT_FLOAT) {
            if (isfinite(d) && fabs(d) > 3.4028234663852886e38) {
                where(idx, depth, at, sizeof at);
                return err_set(w->err, w->errlen, "input \"%s\": element %s is out of float range",
                               w->name, at),
                       -1;
            }
            ((float *)base)[i] = (float)d;
        } else {
            ((double *)base)[i] = d;
        }
        return 0;
    }
    case DT_INT64:
    case DT_INT32: {
        if (jt != JSON_NUMBER || !json_is_integer(v)) {
            where(idx, depth, at, sizeof at);
            return err_set(w->err, w->errlen, "input \"%s\": element %s must be an integer",
                           w->name, at),
                   -1;
        }
        int64_t x = json_int(v);
        if (w->dtype == DT_INT64) {
            ((int64_t *)base)[i] = x;
        } else {
            if (x < INT32_MIN || x > INT32_MAX) {
                where(idx, depth, at, sizeof at);
                return err_set(w->err, w->errlen, "input \"%s\": element %s is out of INT32 range",
                               w->name, at),
                       -1;
            }
            ((int32_t *)base)[i] = (int32_t)x;
        }
        return 0;
    }
    case DT_BOOL:
        if (jt == JSON_TRUE || jt == JSON_FALSE) {
            ((uint8_t *)base)[i] = jt == JSON_TRUE;
            return 0;
        }
        where(idx, depth, at, sizeof at);
        return err_set(w->err, w->errlen, "input \"%s\": element %s must be true or false", w->name,
                       at),
               -1;
    case DT_STRING:
        if (jt == JSON_STRING) {
            ((const char **)base)[i] = json_string(v, NULL);
            return 0;
        }
        where(idx, depth, at, sizeof at);
        return err_set(w->err, w->errlen, "input \"%s\": element %s must be a string", w->name, at),
               -1;
    default:
        return err_set(w->err, w->errlen, "input \"%s\": type %s is not supported in JSON", w->name,
                       dtype_name(w->dtype)),
               -1;
    }
not_number:
    where(idx, depth, at, sizeof at);
    return err_set(w->err, w->errlen, "input \"%s\": element %s is a %s, expected a number",
                   w->name, at,
                   jt == JSON_STRING  ? "string"
                   : jt == JSON_ARRAY ? "list"
                                      : "non-number"),
           -1;
}

/* Walks a nested array that must match w->t's shape exactly. */
static int walk(walker_t *w, const json_value_t *v, int64_t *idx, int depth)
{
    if (depth == w->t->rank) {
        if (json_type(v) == JSON_ARRAY) {
            char at[96];
            where(idx, depth, at, sizeof at);
            return err_set(w->err, w->errlen,
                           "input \"%s\": element %s is a list, expected a scalar", w->name, at),
                   -1;
        }
        return put_scalar(w, v, idx, depth);
    }
    if (json_type(v) != JSON_ARRAY) {
        char at[96];
        where(idx, depth, at, sizeof at);
        return err_set(w->err, w->errlen, "input \"%s\": %s%s should be a list of %lld", w->name,
                       depth ? "element " : "the value", at, (long long)w->t->dims[depth]),
               -1;
    }
    size_t n = json_size(v);
    if ((int64_t)n != w->t->dims[depth]) {
        char at[96];
        where(idx, depth, at, sizeof at);
        if (depth == w->t->rank - 1 && depth > 0)
            return err_set(w->err, w->errlen,
                           "input \"%s\": row %s has %zu features, expected %lld", w->name, at, n,
                           (long long)w->t->dims[depth]),
                   -1;
        return err_set(w->err, w->errlen, "input \"%s\": list %s has %zu elements, expected %lld",
                       w->name, depth ? at : "(outermost)", n, (long long)w->t->dims[depth]),
               -1;
    }
    for (size_t i = 0; i < n; i++) {
        idx[depth] = (int64_t)i;
        if (walk(w, json_at(v, i), idx, depth + 1)) return -1;
    }
    return 0;
}

/* Shape of a nested array from its first elements (the walk checks the rest). */
static int nested_shape(const json_value_t *v, tensor_t *t)
{
    t->rank = 0;
    while (json_type(v) == JSON_ARRAY) {
        if (t->rank == TENSOR_MAX_RANK) return -1;
        size_t n = json_size(v);
        t->dims[t->rank++] = (int64_t)n;
        if (!n) break;
        v = json_at(v, 0);
    }
    return 0;
}

static int alloc_tensor(tensor_t *t, const char *name, char *err, size_t errlen)
{
    size_t nb = tensor_nbytes(t);
    if (nb == SIZE_MAX || nb > ((size_t)1 << 34))
        return err_set(err, errlen, "input \"%s\" is too large", name), -1;
    t->data = calloc(1, nb ? nb : 1);
    if (!t->data) return err_set(err, errlen, "out of memory for input \"%s\"", name), -1;
    return 0;
}

/* Fills input i from a nested array; the model's declared rank decides whether a flat list is one
 * row ([F] for a [N,F] input becomes [1,F]). */
static int from_nested(const eng_io_t *io, const json_value_t *v, tensor_t *t, char *err,
                       size_t errlen)
{
    t->dtype = io->dtype ? io->dtype : DT_FLOAT;
    if (nested_shape(v, t))
        return err_set(err, errlen, "input \"%s\": nested deeper than %d", io->name,
                       TENSOR_MAX_RANK),
               -1;
    if (io->rank == 2 && t->rank == 1 && json_size(v) > 0 &&
        json_type(json_at(v, 0)) != JSON_ARRAY) {
        t->rank = 2; /* one row given as a flat list */
        t->dims[1] = t->dims[0];
        t->dims[0] = 1;
    }
    if (io->rank >= 0 && t->rank != io->rank)
        return err_set(err, errlen, "input \"%s\": expected rank %d (nested lists), got rank %d",
                       io->name, io->rank, t->rank),
               -1;
    /* Walk against the declared dimensions, so a short row is reported as such. */
    for (int d = 0; d < io->rank; d++)
        if (io->dims[d] >= 0) t->dims[d] = io->dims[d];
    if (alloc_tensor(t, io->name, err, errlen)) return -1;
    walker_t w = {io->name, t->dtype, t, 0, err, errlen};
    int64_t idx[TENSOR_MAX_RANK] = {0};
    if (t->rank == 2 && json_type(v) == JSON_ARRAY && json_size(v) > 0 &&
        json_type(json_at(v, 0)) != JSON_ARRAY) {
        /* the flat-row case: walk the row itself */
        tensor_t row = *t;
        row.rank = 1;
        row.dims[0] = t->dims[1];
        w.t = &row;
        int rc = walk(&w, v, idx, 0);
        return rc;
    }
    return walk(&w, v, idx, 0);
}

/* Fills input i from {"shape": [...], "datatype": "...", "data": [...]} (data flat or nested). */
static int from_oip(const eng_io_t *io, const json_value_t *spec, tensor_t *t, char *err,
                    size_t errlen)
{
    const json_value_t *shape = json_get(spec, "shape"), *dt = json_get(spec, "datatype"),
                       *data = json_get(spec, "data");
    if (!shape || json_type(shape) != JSON_ARRAY || !data || json_type(data) != JSON_ARRAY)
        return err_set(err, errlen, "input \"%s\": needs \"shape\" (list) and \"data\" (list)",
                       io->name),
               -1;
    t->dtype = io->dtype ? io->dtype : DT_FLOAT;
    if (dt) {
        dtype_t d = json_type(dt) == JSON_STRING ? dtype_from_name(json_string(dt, NULL)) : 0;
        if (!d) return err_set(err, errlen, "input \"%s\": unknown datatype", io->name), -1;
        if (io->dtype && d != io->dtype)
            return err_set(err, errlen, "input \"%s\": datatype %s, but the model takes %s",
                           io->name, dtype_name(d), dtype_name(io->dtype)),
                   -1;
        t->dtype = d;
    }
    size_t r = json_size(shape);
    if (r > TENSOR_MAX_RANK)
        return err_set(err, errlen, "input \"%s\": shape has more than %d dimensions", io->name,
                       TENSOR_MAX_RANK),
               -1;
    t->rank = (int)r;
    for (size_t d = 0; d < r; d++) {
        const json_value_t *x = json_at(shape, d);
        if (json_type(x) != JSON_NUMBER || !json_is_integer(x) || json_int(x) < 0)
            return err_set(err, errlen, "input \"%s\": shape must hold non-negative integers",
                           io->name),
                   -1;
        t->dims[d] = json_int(x);
    }
    /* Data may be flat (row-major) or nested like the shape. Either way it must match the shape
     * before anything is allocated: the shape is the client's word, the data is what was sent. */
    tensor_t flat = *t;
    flat.rank = 1;
    flat.dims[0] = tensor_numel(t);
    bool nested = json_size(data) > 0 && json_type(json_at(data, 0)) == JSON_ARRAY;
    if (!nested && (int64_t)json_size(data) != flat.dims[0])
        return err_set(err, errlen, "input \"%s\": data has %zu elements, shape needs %lld",
                       io->name, json_size(data), (long long)flat.dims[0]),
               -1;
    if (nested) {
        tensor_t ds = {0};
        if (nested_shape(data, &ds) || !tensor_same_shape(&ds, t))
            return err_set(err, errlen, "input \"%s\": the nesting of data does not match shape",
                           io->name),
                   -1;
    }
    if (alloc_tensor(t, io->name, err, errlen)) return -1;
    flat.data = t->data;
    walker_t w = {io->name, t->dtype, nested ? t : &flat, 0, err, errlen};
    int64_t idx[TENSOR_MAX_RANK] = {0};
    return walk(&w, data, idx, 0);
}

void tj_inputs_free(tj_inputs_t *in)
{
    for (int i = 0; in->t && i < in->n; i++) free(in->t[i].data);
    free(in->t);
    in->t = NULL;
    in->n = 0;
}

int tj_decode_inputs(const json_value_t *root, const eng_model_t *m, tj_inputs_t *out, char *err,
                     size_t errlen)
{
    int n = eng_model_ninputs(m);
    out->n = n;
    out->t = calloc((size_t)n + 1, sizeof *out->t);
    if (!out->t) return err_set(err, errlen, "out of memory"), -1;
    int rc = 0;
    json_type_t rt = json_type(root);
    if (rt == JSON_ARRAY) {
        if (n != 1) {
            err_set(err, errlen,
                    "the model has %d inputs: give an object mapping input names to "
                    "values",
                    n);
            rc = -1;
            goto out;
        }
        rc = from_nested(eng_model_input(m, 0), root, &out->t[0], err, errlen);
        goto out;
    }
    if (rt != JSON_OBJECT) {
        err_set(err, errlen, "input must be a JSON list of rows or an object");
        rc = -1;
        goto out;
    }
    const json_value_t *inputs = json_get(root, "inputs");
    for (int i = 0; i < n && !rc; i++) {
        const eng_io_t *io = eng_model_input(m, i);
        const json_value_t *v = NULL;
        if (inputs && json_type(inputs) == JSON_OBJECT) {
            v = json_get(inputs, io->name);
        } else if (inputs && json_type(inputs) == JSON_ARRAY) {
            for (size_t k = 0; k < json_size(inputs) && !v; k++) {
                const json_value_t *e = json_at(inputs, k), *nm = json_get(e, "name");
                if (nm && json_type(nm) == JSON_STRING &&
                    strcmp(json_string(nm, NULL), io->name) == 0)
                    v = e;
            }
        } else {
            v = json_get(root, io->name);
        }
        if (!v) {
            err_set(err, errlen, "missing input \"%s\"", io->name);
            rc = -1;
            break;
        }
        if (inputs && json_type(v) == JSON_OBJECT)
            rc = from_oip(io, v, &out->t[i], err, errlen);
        else
            rc = from_nested(io, v, &out->t[i], err, errlen);
    }
out:
    if (rc) tj_inputs_free(out);
    return rc;
}

/* ========================================================================= encoding ==== */

static int put_elem(buf_t *b, const tensor_t *t, int64_t i)
{
    switch (t->dtype) {
    case DT_FLOAT: return json_write_float(b, ((const float *)t->data)[i]);
    case DT_DOUBLE: return json_write_double(b, ((const double *)t->data)[i]);
    case DT_INT64: return buf_printf(b, "%lld", (long long)((const int64_t *)t->data)[i]);
    case DT_INT32: return buf_printf(b, "%d", ((const int32_t *)t->data)[i]);
    case DT_INT16: return buf_printf(b, "%d", ((const int16_t *)t->data)[i]);
    case DT_INT8: return buf_printf(b, "%d", ((const int8_t *)t->data)[i]);
    case DT_UINT8: return buf_printf(b, "%u", ((const uint8_t *)t->data)[i]);
    case DT_UINT16: return buf_printf(b, "%u", ((const uint16_t *)t->data)[i]);
    case DT_UINT32: return buf_printf(b, "%u", ((const uint32_t *)t->data)[i]);
    case DT_UINT64:
        return buf_printf(b, "%llu", (unsigned long long)((const uint64_t *)t->data)[i]);
    case DT_BOOL: return buf_puts(b, ((const uint8_t *)t->data)[i] ? "true" : "false");
    case DT_STRING: {
        const char *s = ((const char *const *)t->data)[i];
        return buf_json_str(b, s ? s : "", s ? strlen(s) : 0);
    }
    default: return buf_puts(b, "null");
    }
}

static int put_map_seq(buf_t *b, const tensor_t *t)
{
    const tensor_t *k = t->map_keys;
    int64_t rows = t->rank == 2 ? t->dims[0] : 1, cols = t->rank == 2 ? t->dims[1] : t->dims[0];
    int rc = buf_printf(b, "\"shape\":[%lld],\"datatype\":\"SEQ_MAP\",\"data\":[", (long long)rows);
    for (int64_t r = 0; r < rows && !rc; r++) {
        rc = buf_puts(b, r ? ",{" : "{");
        for (int64_t c = 0; c < cols && !rc; c++) {
            if (c) rc = buf_puts(b, ",");
            if (!rc && k->dtype == DT_STRING)
                rc = put_elem(b, k, c);
            else if (!rc)
                rc = buf_printf(b, "\"%lld\"", (long long)((const int64_t *)k->data)[c]);
            if (!rc) rc = buf_puts(b, ":");
            if (!rc) rc = json_write_float(b, ((const float *)t->data)[r * cols + c]);
        }
        if (!rc) rc = buf_puts(b, "}");
    }
    return rc ? rc : buf_puts(b, "]");
}

/* Appends one tensor's "shape", "datatype" and "data" members (no braces). */
static int put_tensor_members(buf_t *b, const tensor_t *t)
{
    if (t->map_keys) return put_map_seq(b, t);
    int rc = buf_puts(b, "\"shape\":[");
    for (int d = 0; d < t->rank && !rc; d++)
        rc = buf_printf(b, "%s%lld", d ? "," : "", (long long)t->dims[d]);
    if (!rc) rc = buf_printf(b, "],\"datatype\":\"%s\",\"data\":[", dtype_name(t->dtype));
    int64_t numel = tensor_numel(t);
    for (int64_t i = 0; i < numel && !rc; i++) {
        if (i) rc = buf_puts(b, ",");
        if (!rc) rc = put_elem(b, t, i);
    }
    return rc ? rc : buf_puts(b, "]");
}

int tj_encode_outputs(buf_t *b, const eng_model_t *m, const tensor_t *outs, int n)
{
    int rc = buf_puts(b, "{\"outputs\":{");
    for (int o = 0; o < n && !rc; o++) {
        const eng_io_t *io = eng_model_output(m, o);
        if (o) rc = buf_puts(b, ",");
        if (!rc) rc = buf_json_str(b, io->name, strlen(io->name));
        if (!rc) rc = buf_puts(b, ":{");
        if (!rc) rc = put_tensor_members(b, &outs[o]);
        if (!rc) rc = buf_puts(b, "}");
    }
    return rc ? rc : buf_puts(b, "}}");
}

int tj_encode_outputs_list(buf_t *b, const eng_model_t *m, const tensor_t *outs, int n)
{
    int rc = buf_puts(b, "[");
    for (int o = 0; o < n && !rc; o++) {
        const eng_io_t *io = eng_model_output(m, o);
        rc = buf_puts(b, o ? ",{\"name\":" : "{\"name\":");
        if (!rc) rc = buf_json_str(b, io->name, strlen(io->name));
        if (!rc) rc = buf_puts(b, ",");
        if (!rc) rc = put_tensor_members(b, &outs[o]);
        if (!rc) rc = buf_puts(b, "}");
    }
    return rc ? rc : buf_puts(b, "]");
}

int tj_encode_elem(buf_t *b, const tensor_t *t, int64_t i)
{
    return put_elem(b, t, i);
}

int tj_encode_row(buf_t *b, const tensor_t *t, int64_t r)
{
    int64_t rows = t->rank ? t->dims[0] : 1, w = rows ? tensor_numel(t) / rows : 0;
    int rc = buf_puts(b, "[");
    for (int64_t k = 0; k < w && !rc; k++) {
        if (k) rc = buf_puts(b, ",");
        if (!rc) rc = tj_encode_elem(b, t, r * w + k);
    }
    return rc ? rc : buf_puts(b, "]");
}

int tj_encode_named_rows(buf_t *b, const tensor_t *t, int n,
                         const eng_io_t *(*io)(const eng_model_t *, int), const eng_model_t *m,
                         int64_t rows, int64_t r)
{
    int rc = buf_puts(b, "{"), first = 1;
    for (int i = 0; i < n && !rc; i++) {
        if (t[i].rank < 1 || t[i].dims[0] != rows) continue;
        const char *name = io(m, i)->name;
        if (!first) rc = buf_puts(b, ",");
        first = 0;
        if (!rc) rc = buf_json_str(b, name, strlen(name));
        if (!rc) rc = buf_puts(b, ":");
        if (!rc) rc = tj_encode_row(b, &t[i], r);
    }
    return rc ? rc : buf_puts(b, "}");
}
