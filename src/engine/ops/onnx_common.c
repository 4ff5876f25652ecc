/* Helpers shared by the ai.onnx operator families (see kern.h): error formatting, integer
 * constant inputs and broadcasting plans. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/ops/kern.h"
#include "util/err.h"

int kern_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int kern_read_ints(const tensor_t *t, int64_t *out, int64_t max, int64_t *n)
{
    int64_t cnt = tensor_numel(t);
    if (cnt > max || (t->dtype != DT_INT64 && t->dtype != DT_INT32)) return -1;
    for (int64_t i = 0; i < cnt; i++)
        out[i] =
            t->dtype == DT_INT64 ? ((const int64_t *)t->data)[i] : ((const int32_t *)t->data)[i];
    *n = cnt;
    return 0;
}

void kern_bcast_init(kern_bcast_t *p, const tensor_t *a, const tensor_t *b, const tensor_t *o)
{
    int r = o->rank;
    int64_t d[TENSOR_MAX_RANK], sa[TENSOR_MAX_RANK], sb[TENSOR_MAX_RANK];
    int64_t stra = 1, strb = 1;
    int k = 0;
    memset(p, 0, sizeof *p);
    /* Walk from the innermost dim so each input's contiguous stride is known; a dim of size 1 in
     * an input gets stride 0, which is what makes the broadcast a plain strided walk. */
    for (int i = r - 1; i >= 0; i--) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (o->dims[i] == 0) {
            p->inner = 0, p->outer = 0, p->a_step = p->b_step = 1;
            return;
        }
        if (o->dims[i] != 1) {
            d[k] = o->dims[i];
            sa[k] = da == 1 ? 0 : stra;
            sb[k] = db == 1 ? 0 : strb;
            k++;
        }
        stra *= da, strb *= db;
    }
    if (k == 0) {
        p->inner = p->outer = 1;
        p->a_step = p->b_step = 1;
        return;
    }
    /* d[] runs inner to outer; merge an outer dim into the run below it when both inputs step
     * through it exactly as if the two dims were one (this also merges runs of stride 0). */
    int m = 0;
    for (int i = 1; i < k; i++) {
        if (sa[i] == sa[m] * d[m] && sb[i] == sb[m] * d[m]) {
            d[m] *= d[i];
        } else {
            m++;
            d[m] = d[i], sa[m] = sa[i], sb[m] = sb[i];
        }
    }
    p->inner = d[0];
    p->a_step = (int)sa[0];
    p->b_step = (int)sb[0];
    p->outer = 1;
    p->rank = m;
    for (int i = 1; i <= m; i++) {
        p->dims[m - i] = d[i];
        p->sa[m - i] = sa[i];
        p->sb[m - i] = sb[i];
        p->outer *= d[i];
    }
}

void kern_bcast_next(kern_bcast_t *p)
{
    for (int k = p->rank - 1; k >= 0; k--) {
        if (++p->idx[k] < p->dims[k]) {
            p->oa += p->sa[k];
            p->ob += p->sb[k];
            return;
        }
        p->idx[k] = 0;
        p->oa -= p->sa[k] * (p->dims[k] - 1);
        p->ob -= p->sb[k] * (p->dims[k] - 1);
    }
}

int kern_mm_shape(const char *op, const tensor_t *a, const tensor_t *b, kern_mm_t *s, char *err,
                  size_t errlen)
{
    if (a->rank < 1 || b->rank < 1)
        return kern_fail(err, errlen, "%s: inputs must have rank >= 1, got %s and %s", op,
                         KERN_SHAPE(a), KERN_SHAPE(b));
    int64_t ka = a->dims[a->rank - 1], kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    if (ka != kb)
        return kern_fail(err, errlen, "%s: A is %s but B is %s: inner dimensions differ", op,
                         KERN_SHAPE(a), KERN_SHAPE(b));
    memset(s, 0, sizeof *s);
    s->K = ka;
    s->M = a->rank == 1 ? 1 : a->dims[a->rank - 2];
    s->N = b->rank == 1 ? 1 : b->dims[b->rank - 1];
    s->ba.rank = a->rank > 2 ? a->rank - 2 : 0;
    s->bb.rank = b->rank > 2 ? b->rank - 2 : 0;
    memcpy(s->ba.dims, a->dims, sizeof(int64_t) * (size_t)s->ba.rank);
    memcpy(s->bb.dims, b->dims, sizeof(int64_t) * (size_t)s->bb.rank);
    char why[512];
    if (ops_broadcast_shape(&s->ba, &s->bb, &s->bo, why, sizeof why) < 0)
        return kern_fail(err, errlen, "%s: batch dimensions of A %s and B %s differ (%s)", op,
                         KERN_SHAPE(a), KERN_SHAPE(b), why);
    return 0;
}

void kern_mm_out_shape(const tensor_t *a, const tensor_t *b, const kern_mm_t *s, dtype_t t,
                       tensor_t *o)
{
    memset(o, 0, sizeof *o);
    o->dtype = t;
    o->rank = s->bo.rank;
    memcpy(o->dims, s->bo.dims, sizeof(int64_t) * (size_t)s->bo.rank);
    if (a->rank > 1) o->dims[o->rank++] = s->M;
    if (b->rank > 1) o->dims[o->rank++] = s->N;
}

int64_t kern_mm_batch_off(const tensor_t *in, const tensor_t *o, int64_t i)
{
    int64_t off = 0, stride = 1;
    for (int k = o->rank - 1, ki = in->rank - 1; k >= 0; k--, ki--) {
        int64_t c = i % o->dims[k];
        i /= o->dims[k];
        if (ki < 0) continue;
        if (in->dims[ki] != 1) off += c * stride;
        stride *= in->dims[ki];
    }
    return off;
}
