/* Flat: exact search, every vector compared with the query. Sections: IDS (int64 per vector) and
 * VECS (dim float32 per vector, unit length for COS). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_impl.h"

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

static int flat_add(idx_t *x, const float *v, const int64_t *ids, int64_t n)
{
    flat_t *f = flat_of(x);
    if (!f && !(f = x->impl = calloc(1, sizeof *f))) return -ENOMEM;
    const size_t dim = (size_t)x->p.dim;
    if (x->count + n > f->cap) {
        int64_t cap = f->cap ? f->cap : 1024;
        while (cap < x->count + n) cap *= 2;
        int64_t *ni = realloc((void *)f->ids, (size_t)cap * sizeof *ni);
        if (!ni) return -ENOMEM;
        f->ids = ni;
        float *nv = realloc((void *)f->vecs, (size_t)cap * dim * sizeof *nv);
        if (!nv) return -ENOMEM;
        f->vecs = nv;
        f->cap = cap;
    }
    memcpy((int64_t *)f->ids + x->count, ids, (size_t)n * sizeof *ids);
    memcpy((float *)f->vecs + (size_t)x->count * dim, v, (size_t)n * dim * sizeof *v);
    return 0;
}

static void flat_search(const idx_t *x, const float *q, const idx_search_params_t *sp, topk_t *t)
{
    const flat_t *f = flat_of(x);
    const int dim = x->p.dim;
    for (int64_t i = 0; f && i < x->count; i++)
        if (idx_keeps(sp, f->ids[i]))
            topk_push(t, idx_distance(x->p.metric, q, f->vecs + (size_t)i * (size_t)dim, dim),
                      f->ids[i]);
}

static int flat_sections(const idx_t *x, ixf_section_t *s)
{
    const flat_t *f = flat_of(x);
    static const char empty[1];
    size_t n = (size_t)x->count;
    s[0] = (ixf_section_t){TAG_IDS, f ? (const void *)f->ids : empty, n * sizeof(int64_t)};
    s[1] = (ixf_section_t){TAG_VECS, f ? (const void *)f->vecs : empty,
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
    return f ? (size_t)f->cap * (sizeof(int64_t) + (size_t)x->p.dim * sizeof(float)) : 0;
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

const idx_ops_t idx_flat_ops = {.add = flat_add,
                                .search = flat_search,
                                .sections = flat_sections,
                                .load = flat_load,
                                .bytes = flat_bytes,
                                .free = flat_free};
