/* Flat: exact search, every vector compared with the query. Sections: IDS (int64 per vector) and
 * VECS (dim float32 per vector, unit length for COS).
 *
 * Adds run beside searches: new rows are written past the published count, which searches
 * read once and stay below, and only growing the arrays (which may move them) waits for the
 * searches to leave. A removal moves the last row into the removed one's place, under the
 * exclusive lock. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_impl.h"
#include "kern/gemm.h"
#include "kern/vec.h"

#define TAG_IDS  IXF_TAG('I', 'D', 'S', ' ')
#define TAG_VECS IXF_TAG('V', 'E', 'C', 'S')

typedef struct flat {
    const int64_t *ids;
    const float *vecs;
    int64_t cap; /* rows allocated; 0 while the arrays point into a mapped file */
} flat_t;

static flat_t *flat_of(const idx_t *x)
{
    return x->impl;
}

static int flat_init(idx_t *x, char *err, size_t errlen)
{
    if (!(x->impl = calloc(1, sizeof(flat_t))))
        return snprintf(err, errlen, "out of memory"), -ENOMEM;
    return 0;
}

/* Room for need rows; the arrays may move, so searches are held off meanwhile. */
static int reserve(idx_t *x, flat_t *f, int64_t need)
{
    if (need <= f->cap) return 0;
    int64_t cap = f->cap ? f->cap : 1024;
    while (cap < need) cap *= 2;
    const size_t dim = (size_t)x->p.dim;
    int e = 0;
    pthread_rwlock_wrlock(&x->lk);
    int64_t *ni = realloc((void *)f->ids, (size_t)cap * sizeof *ni);
    if (ni) f->ids = ni;
    float *nv = ni ? realloc((void *)f->vecs, (size_t)cap * dim * sizeof *nv) : NULL;
    if (nv)
        f->vecs = nv, f->cap = cap;
    else
        e = -ENOMEM;
    pthread_rwlock_unlock(&x->lk);
    return e;
}

static int flat_add(idx_t *x, const float *v, const int64_t *ids, int64_t n)
{
    flat_t *f = flat_of(x);
    const size_t dim = (size_t)x->p.dim, at = (size_t)x->count;
    int e = reserve(x, f, x->count + n);
    if (e) return e;
    memcpy((int64_t *)f->ids + at, ids, (size_t)n * sizeof *ids);
    memcpy((float *)f->vecs + at * dim, v, (size_t)n * dim * sizeof *v);
    idx_publish_count(x, x->count + n);
    return 0;
}

static int64_t flat_remove(idx_t *x, int64_t id)
{
    flat_t *f = flat_of(x);
    int64_t *ids = (int64_t *)f->ids, n = x->count, removed = 0;
    float *vecs = (float *)f->vecs;
    const size_t dim = (size_t)x->p.dim;
    for (int64_t i = 0; i < n;) {
        if (ids[i] != id) {
            i++;
            continue;
        }
        n--, removed++;
        ids[i] = ids[n];
        memmove(vecs + (size_t)i * dim, vecs + (size_t)n * dim, dim * sizeof *vecs);
    }
    idx_publish_count(x, n);
    return removed;
}

static void flat_search(const idx_t *x, const float *q, const idx_search_params_t *sp, topk_t *t)
{
    const flat_t *f = flat_of(x);
    const int dim = x->p.dim;
    const int64_t n = idx_count(x);
    for (int64_t i = 0; i < n; i++)
        if (idx_keeps(sp, f->ids[i]))
            topk_push(t, idx_distance(x->p.metric, q, f->vecs + (size_t)i * (size_t)dim, dim),
                      f->ids[i]);
}

/* A block of queries against blocks of vectors as one matrix product each, FAISS's way for
 * batches: L2 as |q|^2 + |x|^2 - 2 q.x (the squared norms once per vector), IP and COS as
 * 1 - q.x. The products round differently from flat_search's sums, so near-ties may order
 * differently; both are exact otherwise. */
static int flat_search_batch(const idx_t *x, const float *q, int64_t nq, topk_t *t)
{
    enum { BQ = 256, BX = 1024 };
    const flat_t *f = flat_of(x);
    const int64_t n = idx_count(x), dim = x->p.dim;
    const bool l2 = x->p.metric == IDX_L2;
    if (!n) return 0;
    float *s = malloc((size_t)BQ * BX * sizeof *s),
          *xn = l2 ? malloc((size_t)n * sizeof *xn) : NULL;
    if (!s || (l2 && !xn)) {
        free(s);
        free(xn);
        return -ENOMEM;
    }
    for (int64_t j = 0; l2 && j < n; j++) {
        const float *v = f->vecs + (size_t)j * (size_t)dim;
        xn[j] = kern_dot_f32(v, v, dim);
    }
    for (int64_t q0 = 0; q0 < nq; q0 += BQ) {
        int64_t bq = nq - q0 < BQ ? nq - q0 : BQ;
        float qn[BQ];
        for (int64_t i = 0; l2 && i < bq; i++) {
            const float *v = q + (size_t)(q0 + i) * (size_t)dim;
            qn[i] = kern_dot_f32(v, v, dim);
        }
        for (int64_t x0 = 0; x0 < n; x0 += BX) {
            int64_t bx = n - x0 < BX ? n - x0 : BX;
            kern_sgemm1(false, true, bq, bx, dim, 1.0f, q + (size_t)q0 * (size_t)dim, dim,
                        f->vecs + (size_t)x0 * (size_t)dim, dim, 0.0f, s, bx);
            for (int64_t i = 0; i < bq; i++) {
                const float *row = s + (size_t)i * (size_t)bx;
                topk_t *ti = &t[q0 + i];
                for (int64_t j = 0; j < bx; j++) {
                    float d = l2 ? qn[i] + xn[x0 + j] - 2 * row[j] : 1 - row[j];
                    if (ti->n < ti->k || d <= ti->dist[0])
                        topk_push(ti, l2 && d < 0 ? 0 : d, f->ids[x0 + j]);
                }
            }
        }
    }
    free(s);
    free(xn);
    return 0;
}

static int flat_sections(const idx_t *x, ixf_section_t *s)
{
    const flat_t *f = flat_of(x);
    static const char empty[1];
    size_t n = (size_t)x->count;
    s[0] = (ixf_section_t){TAG_IDS, n ? (const void *)f->ids : empty, n * sizeof(int64_t)};
    s[1] = (ixf_section_t){TAG_VECS, n ? (const void *)f->vecs : empty,
                           n * (size_t)x->p.dim * sizeof(float)};
    return 2;
}

static int flat_load(idx_t *x, const ixf_t *file, char *err, size_t errlen)
{
    const ixf_section_t *ids = ixf_find(file, TAG_IDS), *vecs = ixf_find(file, TAG_VECS);
    uint64_t n = (uint64_t)x->count, dim = (uint64_t)x->p.dim;
    if (!ids || !vecs) return snprintf(err, errlen, "a flat index needs IDS and VECS"), -EINVAL;
    if (ids->bytes / sizeof(int64_t) != n || ids->bytes % sizeof(int64_t) ||
        vecs->bytes / sizeof(float) / dim != n || vecs->bytes % (dim * sizeof(float)))
        return snprintf(err, errlen, "sections of %llu and %llu bytes do not hold %llu vectors",
                        (unsigned long long)ids->bytes, (unsigned long long)vecs->bytes,
                        (unsigned long long)n),
               -EINVAL;
    flat_t *f = calloc(1, sizeof *f);
    if (!f) return snprintf(err, errlen, "out of memory"), -ENOMEM;
    f->ids = ids->data; /* format.c aligns sections to 64 bytes */
    f->vecs = vecs->data;
    x->impl = f;
    return 0;
}

static size_t flat_bytes(const idx_t *x)
{
    const flat_t *f = flat_of(x);
    return (size_t)f->cap * (sizeof(int64_t) + (size_t)x->p.dim * sizeof(float));
}

static void flat_free(idx_t *x)
{
    flat_t *f = flat_of(x);
    if (f && f->cap) {
        free((void *)f->ids);
        free((void *)f->vecs);
    }
    free(f);
}

const idx_ops_t idx_flat_ops = {.init = flat_init,
                                .add = flat_add,
                                .adds_beside_searches = true,
                                .remove = flat_remove,
                                .search = flat_search,
                                .search_batch = flat_search_batch,
                                .sections = flat_sections,
                                .load = flat_load,
                                .bytes = flat_bytes,
                                .free = flat_free};
