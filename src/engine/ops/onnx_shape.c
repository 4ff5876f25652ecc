/* Shape and data-movement ops: Identity, Reshape, Flatten, Squeeze, Unsqueeze, Dropout (which
 * only change the shape and copy the bytes), Shape, Size, Transpose, Concat, Gather, Constant. Each
 * works on any element type, strings included (their pointers are copied). */
#include <stdio.h>
#include <string.h>

#include "engine/ops/kern.h"

/* "[2,-1,0]" for an int64 list, in a buffer alive until the end of the enclosing block. */
#define INTS_STR(v, n) ints_str((v), (n), (char[200]){0}, 200)

static const char *ints_str(const int64_t *v, int64_t n, char *buf, size_t len)
{
    tensor_t t = {.rank = (int)(n < TENSOR_MAX_RANK ? n : TENSOR_MAX_RANK)};
    memcpy(t.dims, v, sizeof(int64_t) * (size_t)t.rank);
    return tensor_shape_str(&t, buf, len);
}

static int need_input(const node_t *n, const tensor_t *const *in, int i, char *err, size_t errlen)
{
    if (i < n->nin && in[i]) return 0;
    return kern_fail(err, errlen, "%s: missing input %d", n->op_type, i);
}

/* The value of a shape-determining input, which must be known at plan time. */
static int const_ints(const node_t *n, const tensor_t *t, const char *what, int64_t *v,
                      int64_t *cnt, char *err, size_t errlen)
{
    if (!t->data && tensor_numel(t) > 0)
        return kern_fail(err, errlen,
                         "%s: the %s input must be a constant (data-dependent shapes are not "
                         "supported)",
                         n->op_type, what);
    if (t->dtype != DT_INT64 || t->rank > 1)
        return kern_fail(err, errlen, "%s: %s must be a 1-D INT64 tensor, got %s %s", n->op_type,
                         what, dtype_name(t->dtype), KERN_SHAPE(t));
    if (kern_read_ints(t, v, TENSOR_MAX_RANK, cnt) < 0)
        return kern_fail(err, errlen, "%s: %s has %lld values; at most %d dims are supported",
                         n->op_type, what, (long long)tensor_numel(t), TENSOR_MAX_RANK);
    return 0;
}

static int copy_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    /* The executor may alias a reshaped output onto its input; then there is nothing to do. */
    if (out[0].data != in[0]->data)
        memcpy(out[0].data, in[0]->data, (size_t)tensor_numel(in[0]) * dtype_size(in[0]->dtype));
    return 0;
}

static int check_type(const node_t *n, const tensor_t *a, char *err, size_t errlen)
{
    if (dtype_size(a->dtype)) return 0;
    return kern_fail(err, errlen, "%s: unsupported type %s", n->op_type, dtype_name(a->dtype));
}

/* ==== Identity ==== */

static int identity_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                          size_t errlen)
{
    if (need_input(n, in, 0, err, errlen) || check_type(n, in[0], err, errlen)) return -1;
    out[0] = *in[0];
    out[0].data = NULL;
    out[0].map_keys = NULL;
    return 0;
}

/* ==== Reshape ==== */

static int reshape_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                         size_t errlen)
{
    if (need_input(n, in, 0, err, errlen) || need_input(n, in, 1, err, errlen) ||
        check_type(n, in[0], err, errlen))
        return -1;
    const tensor_t *a = in[0];
    int64_t s[TENSOR_MAX_RANK], ns;
    if (const_ints(n, in[1], "shape", s, &ns, err, errlen) < 0) return -1;
    int allowzero = n->opset >= 14 && node_attr_int(n, "allowzero", 0) != 0;
    int infer_at = -1, has_zero = 0;
    int64_t known = 1;
    tensor_t *o = &out[0];
    o->dtype = a->dtype;
    o->rank = (int)ns;
    o->map_keys = NULL;
    for (int i = 0; i < ns; i++) {
        int64_t v = s[i];
        if (v == 0 && !allowzero) {
            if (i >= a->rank)
                return kern_fail(err, errlen,
                                 "Reshape: shape %s copies dim %d (0), but the input %s has "
                                 "rank %d",
                                 INTS_STR(s, ns), i, KERN_SHAPE(a), a->rank);
            v = a->dims[i];
        } else if (v == -1) {
            if (infer_at >= 0)
                return kern_fail(err, errlen, "Reshape: shape %s has more than one -1",
                                 INTS_STR(s, ns));
            infer_at = i;
            continue;
        } else if (v < 0) {
            return kern_fail(err, errlen, "Reshape: shape %s has invalid dim %lld", INTS_STR(s, ns),
                             (long long)v);
        }
        has_zero |= v == 0;
        o->dims[i] = v;
        if (__builtin_mul_overflow(known, v, &known))
            return kern_fail(err, errlen, "Reshape: shape %s is too large", INTS_STR(s, ns));
    }
    int64_t total = tensor_numel(a);
    if (infer_at >= 0) {
        if (has_zero)
            return kern_fail(err, errlen,
                             "Reshape: shape %s has both -1 and 0 with allowzero set, so the -1 "
                             "cannot be inferred",
                             INTS_STR(s, ns));
        if (known == 0 || total % known)
            return kern_fail(err, errlen,
                             "Reshape: cannot reshape input %s (%lld elements) to shape %s",
                             KERN_SHAPE(a), (long long)total, INTS_STR(s, ns));
        o->dims[infer_at] = total / known;
        known = total;
    }
    if (known != total)
        return kern_fail(err, errlen,
                         "Reshape: cannot reshape input %s (%lld elements) to shape %s (%lld "
                         "elements)",
                         KERN_SHAPE(a), (long long)total, INTS_STR(s, ns), (long long)known);
    return 0;
}

/* ==== Flatten ==== */

static int flatten_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                         size_t errlen)
{
    if (need_input(n, in, 0, err, errlen) || check_type(n, in[0], err, errlen)) return -1;
    const tensor_t *a = in[0];
    int64_t axis = node_attr_int(n, "axis", 1);
    int ax = (int)(axis < 0 ? axis + a->rank : axis);
    if (axis < -a->rank || axis > a->rank)
        return kern_fail(err, errlen, "Flatten: axis %lld is out of range for input %s",
                         (long long)axis, KERN_SHAPE(a));
    tensor_t *o = &out[0];
    o->dtype = a->dtype;
    o->rank = 2;
    o->map_keys = NULL;
    o->dims[0] = o->dims[1] = 1;
    for (int i = 0; i < a->rank; i++) o->dims[i >= ax] *= a->dims[i];
    return 0;
}

/* ==== Squeeze, Unsqueeze ==== */

/* Axes come from the attribute before opset 13 and from the optional second input after. */
static int get_axes(const node_t *n, const tensor_t *const *in, int64_t *v, int64_t *cnt,
                    int *given, char *err, size_t errlen)
{
    *cnt = 0;
    *given = 0;
    if (n->opset < 13) {
        const int64_t *a = node_attr_ints(n, "axes", cnt);
        if (*cnt > TENSOR_MAX_RANK)
            return kern_fail(err, errlen, "%s: %lld axes; at most %d dims are supported",
                             n->op_type, (long long)*cnt, TENSOR_MAX_RANK);
        if (*cnt) memcpy(v, a, sizeof(int64_t) * (size_t)*cnt);
        *given = node_attr(n, "axes") != NULL;
        return 0;
    }
    if (n->nin < 2 || !in[1]) return 0;
    *given = 1;
    return const_ints(n, in[1], "axes", v, cnt, err, errlen);
}

static int squeeze_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                         size_t errlen)
{
    if (need_input(n, in, 0, err, errlen) || check_type(n, in[0], err, errlen)) return -1;
    const tensor_t *a = in[0];
    int64_t axes[TENSOR_MAX_RANK], na;
    int given, drop[TENSOR_MAX_RANK] = {0};
    if (get_axes(n, in, axes, &na, &given, err, errlen) < 0) return -1;
    for (int64_t i = 0; i < na; i++) {
        int ax = a->rank ? ops_axis(axes[i], a->rank) : -1;
        if (ax < 0)
            return kern_fail(err, errlen, "Squeeze: axis %lld is out of range for input %s",
                             (long long)axes[i], KERN_SHAPE(a));
        if (a->dims[ax] != 1)
            return kern_fail(err, errlen,
                             "Squeeze: cannot squeeze axis %lld of input %s: its size is %lld, "
                             "not 1",
                             (long long)axes[i], KERN_SHAPE(a), (long long)a->dims[ax]);
        drop[ax] = 1;
    }
    tensor_t *o = &out[0];
    o->dtype = a->dtype;
    o->rank = 0;
    o->map_keys = NULL;
    for (int i = 0; i < a->rank; i++) {
        int d = na ? drop[i] : a->dims[i] == 1;
        if (!d) o->dims[o->rank++] = a->dims[i];
    }
    return 0;
}

static int unsqueeze_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                           size_t errlen)
{
    if (need_input(n, in, 0, err, errlen) || check_type(n, in[0], err, errlen)) return -1;
    const tensor_t *a = in[0];
    int64_t axes[TENSOR_MAX_RANK], na;
    int given, ins[TENSOR_MAX_RANK] = {0};
    if (get_axes(n, in, axes, &na, &given, err, errlen) < 0) return -1;
    if (!given)
        return kern_fail(err, errlen, "Unsqueeze: axes are required (%s at opset %d)",
                         n->opset < 13 ? "attribute" : "second input", n->opset);
    int r = a->rank + (int)na;
    if (r > TENSOR_MAX_RANK)
        return kern_fail(err, errlen, "Unsqueeze: input %s with %lld new axes exceeds rank %d",
                         KERN_SHAPE(a), (long long)na, TENSOR_MAX_RANK);
    for (int64_t i = 0; i < na; i++) {
        int ax = ops_axis(axes[i], r);
        if (ax < 0)
            return kern_fail(err, errlen, "Unsqueeze: axis %lld is out of range for output rank %d",
                             (long long)axes[i], r);
        if (ins[ax])
            return kern_fail(err, errlen, "Unsqueeze: axis %lld is repeated", (long long)axes[i]);
        ins[ax] = 1;
    }
    tensor_t *o = &out[0];
    o->dtype = a->dtype;
    o->rank = r;
    o->map_keys = NULL;
    for (int i = 0, j = 0; i < r; i++) o->dims[i] = ins[i] ? 1 : a->dims[j++];
    return 0;
}

/* ==== Shape ==== */

/* [start, end) of the dims reported, clamped to [0, rank] as opset 15 specifies. */
static void shape_range(const node_t *n, int rank, int *start, int *end)
{
    int64_t s = 0, e = rank;
    if (n->opset >= 15) {
        s = node_attr_int(n, "start", 0);
        e = node_attr_int(n, "end", rank);
    }
    if (s < 0) s += rank;
    if (e < 0) e += rank;
    *start = (int)(s < 0 ? 0 : s > rank ? rank : s);
    *end = (int)(e < 0 ? 0 : e > rank ? rank : e);
}

static int shape_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                       size_t errlen)
{
    if (need_input(n, in, 0, err, errlen)) return -1;
    int s, e;
    shape_range(n, in[0]->rank, &s, &e);
    out[0].dtype = DT_INT64;
    out[0].rank = 1;
    out[0].dims[0] = e > s ? e - s : 0;
    out[0].map_keys = NULL;
    return 0;
}

/* Reads only the input's dims, never its data: the planner may run it on a value whose data is
 * not known yet. */
static int shape_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    int s, e;
    shape_range(n, in[0]->rank, &s, &e);
    for (int i = s; i < e; i++) ((int64_t *)out[0].data)[i - s] = in[0]->dims[i];
    return 0;
}

/* ==== Transpose ==== */

static int transpose_perm(const node_t *n, const tensor_t *a, int *perm, char *err, size_t errlen)
{
    int64_t np;
    const int64_t *p = node_attr_ints(n, "perm", &np);
    int seen[TENSOR_MAX_RANK] = {0};
    if (!p) {
        for (int i = 0; i < a->rank; i++) perm[i] = a->rank - 1 - i;
        return 0;
    }
    if (np != a->rank)
        return kern_fail(err, errlen, "Transpose: perm %s has %lld entries for input %s",
                         INTS_STR(p, np), (long long)np, KERN_SHAPE(a));
    for (int i = 0; i < a->rank; i++) {
        int ax = ops_axis(p[i], a->rank);
        if (ax < 0 || seen[ax])
            return kern_fail(err, errlen, "Transpose: perm %s is not a permutation of 0..%d",
                             INTS_STR(p, np), a->rank - 1);
        seen[ax] = 1;
        perm[i] = ax;
    }
    return 0;
}

static int transpose_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                           size_t errlen)
{
    if (need_input(n, in, 0, err, errlen) || check_type(n, in[0], err, errlen)) return -1;
    int perm[TENSOR_MAX_RANK];
    if (transpose_perm(n, in[0], perm, err, errlen) < 0) return -1;
    out[0] = *in[0];
    out[0].data = NULL;
    out[0].map_keys = NULL;
    for (int i = 0; i < in[0]->rank; i++) out[0].dims[i] = in[0]->dims[perm[i]];
    return 0;
}

/* Walks the output in order; the input offset follows through permuted strides, innermost output
 * dim in the inner loop. Elements move as fixed-size integers where the size allows. */
#define TRANSPOSE_INNER(T)                                                                         \
    for (int64_t j = 0; j < len; j++) ((T *)o)[j] = ((const T *)src)[j * s];

static int transpose_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const tensor_t *a = in[0];
    int perm[TENSOR_MAX_RANK], r = a->rank;
    char err[256];
    if (transpose_perm(n, a, perm, err, sizeof err) < 0) return exec_fail(x, "%s", err);
    size_t es = dtype_size(a->dtype);
    int64_t total = tensor_numel(a);
    if (total == 0) return 0;
    if (r == 0) {
        memcpy(out[0].data, a->data, es);
        return 0;
    }
    int64_t istr[TENSOR_MAX_RANK], st[TENSOR_MAX_RANK], idx[TENSOR_MAX_RANK] = {0};
    istr[r - 1] = 1;
    for (int i = r - 2; i >= 0; i--) istr[i] = istr[i + 1] * a->dims[i + 1];
    for (int i = 0; i < r; i++) st[i] = istr[perm[i]];
    const int64_t *od = out[0].dims;
    int64_t len = od[r - 1], s = st[r - 1], off = 0;
    char *o = out[0].data;
    for (int64_t done = 0; done < total; done += len) {
        const char *src = (const char *)a->data + off * (int64_t)es;
        switch (es) {
        case 1: TRANSPOSE_INNER(uint8_t) break;
        case 2: TRANSPOSE_INNER(uint16_t) break;
        case 4: TRANSPOSE_INNER(uint32_t) break;
        case 8: TRANSPOSE_INNER(uint64_t) break;
        default:
            for (int64_t j = 0; j < len; j++)
                memcpy(o + j * (int64_t)es, src + j * s * (int64_t)es, es);
        }
        o += len * (int64_t)es;
        for (int k = r - 2; k >= 0; k--) {
            off += st[k];
            if (++idx[k] < od[k]) break;
            off -= st[k] * od[k];
            idx[k] = 0;
        }
    }
    return 0;
}

/* ==== Concat ==== */

static int concat_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                        size_t errlen)
{
    if (n->nin < 1) return kern_fail(err, errlen, "Concat: needs at least one input");
    for (int i = 0; i < n->nin; i++)
        if (need_input(n, in, i, err, errlen)) return -1;
    const tensor_t *a = in[0];
    if (check_type(n, a, err, errlen)) return -1;
    const attr_t *at = node_attr(n, "axis");
    if (!at || at->type != ATTR_INT)
        return kern_fail(err, errlen, "Concat: the axis attribute is required");
    int ax = a->rank ? ops_axis(at->i, a->rank) : -1;
    if (ax < 0)
        return kern_fail(err, errlen, "Concat: axis %lld is out of range for input %s",
                         (long long)at->i, KERN_SHAPE(a));
    tensor_t *o = &out[0];
    *o = *a;
    o->data = NULL;
    o->map_keys = NULL;
    for (int i = 1; i < n->nin; i++) {
        const tensor_t *b = in[i];
        if (b->dtype != a->dtype)
            return kern_fail(err, errlen, "Concat: input %d is %s but input 0 is %s", i,
                             dtype_name(b->dtype), dtype_name(a->dtype));
        int ok = b->rank == a->rank;
        for (int k = 0; ok && k < a->rank; k++) ok = k == ax || b->dims[k] == a->dims[k];
        if (!ok)
            return kern_fail(err, errlen,
                             "Concat: input %d is %s but input 0 is %s: all dims but axis %d "
                             "must match",
                             i, KERN_SHAPE(b), KERN_SHAPE(a), ax);
        o->dims[ax] += b->dims[ax];
    }
    return 0;
}

static int concat_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    int ax = ops_axis(node_attr_int(n, "axis", 0), out[0].rank);
    size_t es = dtype_size(out[0].dtype);
    int64_t outer = 1, inner = (int64_t)es;
    for (int i = 0; i < ax; i++) outer *= out[0].dims[i];
    for (int i = ax + 1; i < out[0].rank; i++) inner *= out[0].dims[i];
    char *o = out[0].data;
    for (int64_t r = 0; r < outer; r++) {
        for (int i = 0; i < n->nin; i++) {
            size_t chunk = (size_t)(in[i]->dims[ax] * inner);
            memcpy(o, (const char *)in[i]->data + (size_t)r * chunk, chunk);
            o += chunk;
        }
    }
    return 0;
}

/* ==== Split ==== */

#define SPLIT_MAX 256 /* outputs of one Split */

/* The part sizes: the split input (13+) or attribute (<13), else num_outputs (18+, the last part
 * smaller when the axis does not divide), else as many equal parts as outputs. */
static int split_sizes(const node_t *n, const tensor_t *const *in, int64_t len, int64_t *sz,
                       char *err, size_t errlen)
{
    int64_t cnt = 0;
    if (n->nout > SPLIT_MAX)
        return kern_fail(err, errlen, "Split: %d outputs; at most %d are supported", n->nout,
                         SPLIT_MAX);
    if (n->opset >= 13 && n->nin > 1 && in[1]) {
        const tensor_t *t = in[1];
        if (!t->data && tensor_numel(t) > 0)
            return kern_fail(err, errlen, "Split: the split input must be a constant");
        if (t->dtype != DT_INT64 || t->rank != 1 || kern_read_ints(t, sz, SPLIT_MAX, &cnt) < 0)
            return kern_fail(err, errlen, "Split: split must be a 1-D INT64 tensor of at most %d",
                             SPLIT_MAX);
    } else if (n->opset < 13 && node_attr(n, "split")) {
        const int64_t *v = node_attr_ints(n, "split", &cnt);
        if (cnt > SPLIT_MAX) cnt = SPLIT_MAX + 1;
        for (int64_t i = 0; v && i < cnt && i < SPLIT_MAX; i++) sz[i] = v[i];
    } else {
        int64_t parts = n->opset >= 18 ? node_attr_int(n, "num_outputs", 0) : n->nout;
        if (parts != n->nout || parts < 1)
            return kern_fail(err, errlen, "Split: num_outputs (%lld) must equal the %d outputs",
                             (long long)parts, n->nout);
        int64_t each = n->opset >= 18 ? (len + parts - 1) / parts : len / parts;
        if (n->opset < 18 && len % parts)
            return kern_fail(err, errlen, "Split: axis length %lld does not divide into %lld parts",
                             (long long)len, (long long)parts);
        for (int64_t i = 0; i < parts; i++) {
            int64_t left = len - i * each;
            sz[i] = left < 0 ? 0 : left < each ? left : each;
        }
        cnt = parts;
    }
    if (cnt != n->nout)
        return kern_fail(err, errlen, "Split: %lld sizes for %d outputs", (long long)cnt, n->nout);
    int64_t sum = 0;
    for (int64_t i = 0; i < cnt; i++) {
        if (sz[i] < 0) return kern_fail(err, errlen, "Split: a negative part size");
        sum += sz[i];
    }
    if (sum != len)
        return kern_fail(err, errlen, "Split: the parts sum to %lld, the axis is %lld",
                         (long long)sum, (long long)len);
    return 0;
}

static int split_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                       size_t errlen)
{
    if (need_input(n, in, 0, err, errlen) || check_type(n, in[0], err, errlen)) return -1;
    const tensor_t *a = in[0];
    int ax = a->rank ? ops_axis(node_attr_int(n, "axis", 0), a->rank) : -1;
    if (ax < 0) return kern_fail(err, errlen, "Split: axis out of range for %s", KERN_SHAPE(a));
    int64_t sz[SPLIT_MAX + 1];
    if (split_sizes(n, in, a->dims[ax], sz, err, errlen)) return -1;
    for (int i = 0; i < n->nout; i++) {
        out[i] = *a;
        out[i].data = NULL;
        out[i].map_keys = NULL;
        out[i].dims[ax] = sz[i];
    }
    return 0;
}

static int split_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    (void)x;
    const tensor_t *a = in[0];
    int ax = ops_axis(node_attr_int(n, "axis", 0), a->rank);
    int64_t outer = 1, inner = (int64_t)dtype_size(a->dtype);
    for (int i = 0; i < ax; i++) outer *= a->dims[i];
    for (int i = ax + 1; i < a->rank; i++) inner *= a->dims[i];
    const char *src = a->data;
    size_t row = (size_t)(a->dims[ax] * inner);
    for (int64_t r = 0; r < outer; r++) {
        size_t off = 0;
        for (int i = 0; i < n->nout; i++) {
            size_t chunk = (size_t)(out[i].dims[ax] * inner);
            if (chunk)
                memcpy((char *)out[i].data + (size_t)r * chunk, src + (size_t)r * row + off, chunk);
            off += chunk;
        }
    }
    return 0;
}

/* ==== Gather ==== */

static int gather_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                        size_t errlen)
{
    if (need_input(n, in, 0, err, errlen) || need_input(n, in, 1, err, errlen) ||
        check_type(n, in[0], err, errlen))
        return -1;
    const tensor_t *a = in[0], *idx = in[1];
    if (idx->dtype != DT_INT64 && idx->dtype != DT_INT32)
        return kern_fail(err, errlen, "Gather: indices must be INT32 or INT64, got %s",
                         dtype_name(idx->dtype));
    int64_t axis = node_attr_int(n, "axis", 0);
    int ax = a->rank ? ops_axis(axis, a->rank) : -1;
    if (ax < 0)
        return kern_fail(err, errlen, "Gather: axis %lld is out of range for data %s",
                         (long long)axis, KERN_SHAPE(a));
    if (a->rank - 1 + idx->rank > TENSOR_MAX_RANK)
        return kern_fail(err, errlen, "Gather: data %s with indices %s exceeds rank %d",
                         KERN_SHAPE(a), KERN_SHAPE(idx), TENSOR_MAX_RANK);
    tensor_t *o = &out[0];
    o->dtype = a->dtype;
    o->rank = 0;
    o->map_keys = NULL;
    for (int i = 0; i < ax; i++) o->dims[o->rank++] = a->dims[i];
    for (int i = 0; i < idx->rank; i++) o->dims[o->rank++] = idx->dims[i];
    for (int i = ax + 1; i < a->rank; i++) o->dims[o->rank++] = a->dims[i];
    return 0;
}

static int gather_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    const tensor_t *a = in[0], *idx = in[1];
    int ax = ops_axis(node_attr_int(n, "axis", 0), a->rank);
    size_t es = dtype_size(a->dtype);
    int64_t outer = 1, inner = (int64_t)es, len = a->dims[ax], ni = tensor_numel(idx);
    for (int i = 0; i < ax; i++) outer *= a->dims[i];
    for (int i = ax + 1; i < a->rank; i++) inner *= a->dims[i];
    const char *src = a->data;
    char *o = out[0].data;
    for (int64_t r = 0; r < outer; r++) {
        for (int64_t j = 0; j < ni; j++) {
            int64_t k = idx->dtype == DT_INT64 ? ((const int64_t *)idx->data)[j]
                                               : ((const int32_t *)idx->data)[j];
            if (k < -len || k >= len)
                return exec_fail(x, "Gather: index %lld is out of range for axis %d of size %lld",
                                 (long long)k, ax, (long long)len);
            if (k < 0) k += len;
            memcpy(o, src + (r * len + k) * inner, (size_t)inner);
            o += inner;
        }
    }
    return 0;
}

/* ==== Constant ==== */

/* The one value attribute a Constant node carries. */
static const attr_t *const_attr(const node_t *n, char *err, size_t errlen)
{
    static const char *const names[] = {"value",         "value_float", "value_floats",
                                        "value_int",     "value_ints",  "value_string",
                                        "value_strings", "sparse_value"};
    const attr_t *found = NULL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const attr_t *a = node_attr(n, names[i]);
        if (!a) continue;
        if (found) {
            kern_fail(err, errlen, "Constant: has both %s and %s; exactly one value is allowed",
                      found->name, a->name);
            return NULL;
        }
        found = a;
    }
    if (!found) kern_fail(err, errlen, "Constant: no value attribute");
    return found;
}

static int constant_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                          size_t errlen)
{
    const attr_t *a = const_attr(n, err, errlen);
    if (!a) return -1;
    tensor_t *o = &out[0];
    memset(o, 0, sizeof *o);
    switch (a->type) {
    case ATTR_TENSOR:
        if (strcmp(a->name, "value") != 0 || !a->t) break;
        if (!dtype_size(a->t->dtype))
            return kern_fail(err, errlen, "Constant: unsupported type %s", dtype_name(a->t->dtype));
        *o = *a->t;
        o->data = NULL;
        o->map_keys = NULL;
        return 0;
    case ATTR_FLOAT: o->dtype = DT_FLOAT; return 0;
    case ATTR_INT: o->dtype = DT_INT64; return 0;
    case ATTR_STRING: o->dtype = DT_STRING; return 0;
    case ATTR_FLOATS: o->dtype = DT_FLOAT, o->rank = 1, o->dims[0] = a->n; return 0;
    case ATTR_INTS: o->dtype = DT_INT64, o->rank = 1, o->dims[0] = a->n; return 0;
    case ATTR_STRINGS: o->dtype = DT_STRING, o->rank = 1, o->dims[0] = a->n; return 0;
    default: break;
    }
    return kern_fail(err, errlen, "Constant: attribute %s is not supported", a->name);
}

static int constant_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    char err[256];
    const attr_t *a = const_attr(n, err, sizeof err);
    if (!a) return exec_fail(x, "%s", err);
    void *o = out[0].data;
    switch (a->type) {
    case ATTR_TENSOR: memcpy(o, a->t->data, tensor_nbytes(a->t)); break;
    case ATTR_FLOAT: *(float *)o = a->f; break;
    case ATTR_INT: *(int64_t *)o = a->i; break;
    case ATTR_STRING: *(const char **)o = a->s; break;
    case ATTR_FLOATS: memcpy(o, a->floats, sizeof(float) * (size_t)a->n); break;
    case ATTR_INTS: memcpy(o, a->ints, sizeof(int64_t) * (size_t)a->n); break;
    case ATTR_STRINGS: memcpy(o, a->strings, sizeof(const char *) * (size_t)a->n); break;
    default: return exec_fail(x, "Constant: attribute %s is not supported", a->name);
    }
    return 0;
}

/* ==== Size, Dropout ==== */

/* Size: the element count as an INT64 scalar (known while planning, like Shape). */
static int size_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                      size_t errlen)
{
    if (need_input(n, in, 0, err, errlen)) return -1;
    memset(&out[0], 0, sizeof out[0]);
    out[0].dtype = DT_INT64;
    return 0;
}

static int size_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    *(int64_t *)out[0].data = tensor_numel(in[0]);
    return 0;
}

/* Dropout at inference is the identity (and an all-true mask): a training_mode input must be a
 * constant false, since training-mode dropout is random. */
static int dropout_prepare(graph_t *g, node_t *n, char *err, size_t errlen)
{
    if (n->nin > 2 && n->in[2] >= 0) {
        const tensor_t *t = node_const_input(g, n, 2);
        if (!t || t->dtype != DT_BOOL || tensor_numel(t) != 1 || *(const uint8_t *)t->data)
            return kern_fail(err, errlen,
                             "Dropout: training_mode must be a constant false (training-mode "
                             "dropout is random)");
    }
    if (n->nout > 1 && n->out[1] >= 0 && n->opset < 10)
        return kern_fail(err, errlen, "Dropout: the mask output before opset 10 is not supported");
    return 0;
}

static int dropout_infer(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                         size_t errlen)
{
    if (identity_infer(n, in, out, err, errlen)) return -1;
    if (n->nout > 1) {
        out[1] = out[0];
        out[1].dtype = DT_BOOL;
    }
    return 0;
}

static int dropout_run(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x)
{
    copy_run(n, in, out, x);
    if (n->nout > 1 && out[1].data) memset(out[1].data, 1, (size_t)tensor_numel(&out[1]));
    return 0;
}

const op_def_t onnx_op_dropout = {
    .domain = "",
    .name = "Dropout",
    .since = 7,
    .until = 21,
    .prepare = dropout_prepare,
    .infer = dropout_infer,
    .run = dropout_run,
};

/* ==== op table ==== */

ONNX_OP(identity, "Identity", 1, identity_infer, copy_run)
/* Reshape-1 takes the shape as an attribute; from 5 it is an input. */
ONNX_OP(reshape, "Reshape", 5, reshape_infer, copy_run)
ONNX_OP(flatten, "Flatten", 1, flatten_infer, copy_run)
ONNX_OP(squeeze, "Squeeze", 1, squeeze_infer, copy_run)
ONNX_OP(unsqueeze, "Unsqueeze", 1, unsqueeze_infer, copy_run)
ONNX_OP(shape, "Shape", 1, shape_infer, shape_run)
/* Concat-1 has a default axis of 1; from 4 the attribute is required. */
ONNX_OP(concat, "Concat", 4, concat_infer, concat_run)
ONNX_OP(transpose, "Transpose", 1, transpose_infer, transpose_run)
/* Split-2 (Split-1's second input is not supported); split moves to an input at 13 and
 * num_outputs arrives at 18. */
ONNX_OP(split, "Split", 2, split_infer, split_run)
ONNX_OP(gather, "Gather", 1, gather_infer, gather_run)
ONNX_OP(constant, "Constant", 1, constant_infer, constant_run)
ONNX_OP(size, "Size", 1, size_infer, size_run)
