/* What every index kind shares: names, argument checks, COS normalisation, the top-k heap's
 * result, and saving and loading through format.c. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_impl.h"
#include "kern/vec.h"
#include "util/err.h"

static const char *const type_names[] = {[IDX_FLAT] = "flat",
                                         [IDX_IVF] = "ivf",
                                         [IDX_IVFSQ] = "ivfsq",
                                         [IDX_IVFPQ] = "ivfpq",
                                         [IDX_HNSW] = "hnsw"};
static const char *const metric_names[] = {[IDX_L2] = "l2", [IDX_IP] = "ip", [IDX_COS] = "cos"};
#define NTYPES   ((int)(sizeof type_names / sizeof *type_names))
#define NMETRICS ((int)(sizeof metric_names / sizeof *metric_names))

int idx_type_parse(const char *s)
{
    for (int i = 0; i < NTYPES; i++)
        if (type_names[i] && s && !strcmp(s, type_names[i])) return i;
    return -1;
}

int idx_metric_parse(const char *s)
{
    for (int i = 0; i < NMETRICS; i++)
        if (s && !strcmp(s, metric_names[i])) return i;
    return -1;
}

const char *idx_type_name(idx_type_t t)
{
    return (int)t >= 0 && (int)t < NTYPES && type_names[t] ? type_names[t] : "?";
}

const char *idx_metric_name(idx_metric_t m)
{
    return (int)m >= 0 && (int)m < NMETRICS ? metric_names[m] : "?";
}

static const idx_ops_t *ops_of(int type)
{
    switch (type) {
    case IDX_FLAT: return &idx_flat_ops;
    case IDX_IVF:
    case IDX_IVFSQ:
    case IDX_IVFPQ: return &idx_ivf_ops;
    case IDX_HNSW: return &idx_hnsw_ops;
    default: return NULL;
    }
}

float idx_distance(idx_metric_t m, const float *a, const float *b, int dim)
{
    return m == IDX_L2 ? kern_l2sq_f32(a, b, dim) : kern_ip_dist_f32(a, b, dim);
}

/* v scaled to unit length (a zero vector stays zero: every distance to it is then 1). */
static void normalise(float *v, int dim)
{
    float norm = sqrtf(kern_dot_f32(v, v, dim));
    if (norm > 0) kern_scale_f32(dim, 1.0f / norm, v);
}

/* An index of p's kind with nothing set up yet (the kind's init or load does that). */
static idx_t *idx_alloc(const idx_params_t *p, char *err, size_t errlen)
{
    const idx_ops_t *ops = ops_of(p->type);
    if (!ops) return err_fail(err, errlen, 0, "unknown index type %d", (int)p->type), NULL;
    if ((int)p->metric < 0 || (int)p->metric >= NMETRICS)
        return err_fail(err, errlen, 0, "unknown metric %d", (int)p->metric), NULL;
    if (p->dim < 1 || p->dim > IDX_MAX_DIM)
        return err_fail(err, errlen, 0, "dimension %d (expected 1 to %d)", p->dim, IDX_MAX_DIM),
               NULL;
    idx_t *x = calloc(1, sizeof *x);
    if (!x) return err_fail(err, errlen, 0, "out of memory"), NULL;
    x->ops = ops;
    x->p = *p;
    x->trained = !ops->train;
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    /* A growing index must not starve behind a steady stream of searches. */
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&x->lk, &a);
    pthread_rwlockattr_destroy(&a);
    pthread_mutex_init(&x->wmu, NULL);
    if (p->threads > 1 && !(x->pool = tpool_new(p->threads))) {
        free(x);
        return err_fail(err, errlen, 0, "cannot start %d threads", p->threads), NULL;
    }
    return x;
}

idx_t *idx_new(const idx_params_t *p, char *err, size_t errlen)
{
    if (p->refine && p->type != IDX_IVFPQ)
        return err_fail(err, errlen, 0, "--refine is for ivfpq indexes only"), NULL;
    idx_t *x = idx_alloc(p, err, errlen);
    if (x && x->ops->init && x->ops->init(x, err, errlen)) {
        idx_free(x);
        return NULL;
    }
    return x;
}

bool idx_needs_training(const idx_t *x)
{
    return x->ops->train != NULL;
}

/* The first non-finite value of n vectors: 0 if none, else -EINVAL with it named in err. */
static int check_finite(const float *v, int64_t n, int dim, char *err, size_t errlen)
{
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < dim; j++)
            if (!isfinite(v[i * dim + j]))
                return err_fail(err, errlen, -EINVAL,
                                "vector %lld: value %d is not a finite number", (long long)i, j);
    return 0;
}

/* v, or a copy scaled to unit rows for COS (in *owned, freed by the caller). NULL: no memory. */
static const float *unit_rows(const idx_t *x, const float *v, int64_t n, float **owned)
{
    *owned = NULL;
    if (x->p.metric != IDX_COS || !n) return v;
    const int dim = x->p.dim;
    float *u = malloc((size_t)n * (size_t)dim * sizeof *u);
    if (!u) return NULL;
    memcpy(u, v, (size_t)n * (size_t)dim * sizeof *u);
    for (int64_t i = 0; i < n; i++) normalise(u + i * dim, dim);
    return *owned = u;
}

int idx_train(idx_t *x, const float *vecs, int64_t n, char *err, size_t errlen)
{
    if (!x->ops->train) return 0;
    if (x->file.map) return err_fail(err, errlen, -EROFS, "a loaded index is read-only");
    int e = check_finite(vecs, n, x->p.dim, err, errlen);
    if (e) return e;
    float *owned;
    const float *v = unit_rows(x, vecs, n, &owned);
    if (!v) return err_fail(err, errlen, -ENOMEM, "out of memory");
    pthread_mutex_lock(&x->wmu);
    pthread_rwlock_wrlock(&x->lk);
    e = x->ops->train(x, v, n, err, errlen);
    if (!e) x->trained = true;
    pthread_rwlock_unlock(&x->lk);
    pthread_mutex_unlock(&x->wmu);
    free(owned);
    return e;
}

int idx_add(idx_t *x, const float *vecs, const int64_t *ids, int64_t n, char *err, size_t errlen)
{
    if (x->file.map) return err_fail(err, errlen, -EROFS, "a loaded index is read-only");
    if (n < 0) return err_fail(err, errlen, -EINVAL, "negative count");
    if (!x->trained)
        return err_fail(err, errlen, -EINVAL, "a %s index is trained before vectors are added",
                        idx_type_name(x->p.type));
    int e = check_finite(vecs, n, x->p.dim, err, errlen);
    if (e) return e;
    float *unit;
    const float *v = unit_rows(x, vecs, n, &unit);
    int64_t *own = NULL;
    if (v && !ids && (own = malloc((size_t)(n ? n : 1) * sizeof *own))) ids = own;
    if (!v || !ids) {
        free(unit);
        return err_fail(err, errlen, -ENOMEM, "out of memory");
    }
    pthread_mutex_lock(&x->wmu);
    for (int64_t i = 0; own && i < n; i++) own[i] = x->count + i; /* ids continue from it */
    if (x->ops->adds_beside_searches) {
        e = x->ops->add(x, v, ids, n);
    } else {
        pthread_rwlock_wrlock(&x->lk);
        e = x->ops->add(x, v, ids, n);
        if (!e) idx_publish_count(x, x->count + n);
        pthread_rwlock_unlock(&x->lk);
    }
    pthread_mutex_unlock(&x->wmu);
    free(unit);
    free(own);
    return e ? err_fail(err, errlen, e, "%s", strerror(-e)) : 0;
}

int64_t idx_remove(idx_t *x, int64_t id, char *err, size_t errlen)
{
    if (x->file.map) return err_fail(err, errlen, -EROFS, "a loaded index is read-only");
    pthread_mutex_lock(&x->wmu);
    pthread_rwlock_wrlock(&x->lk);
    int64_t r = x->ops->remove(x, id);
    pthread_rwlock_unlock(&x->lk);
    pthread_mutex_unlock(&x->wmu);
    return r < 0 ? err_fail(err, errlen, (int)r, "%s", strerror((int)-r)) : r;
}

/* idx_search with x->lk held shared. */
static int search_locked(const idx_t *x, const float *q, int k, const idx_search_params_t *sp,
                         int64_t *ids, float *dists)
{
    const int dim = x->p.dim;
    if (k < 1 || k > IDX_MAX_K) return -EINVAL;
    for (int j = 0; j < dim; j++)
        if (!isfinite(q[j])) return -EINVAL;
    float small[1024];
    float *unit = NULL;
    if (x->p.metric == IDX_COS) {
        unit = dim <= 1024 ? small : malloc((size_t)dim * sizeof *unit);
        if (!unit) return -ENOMEM;
        memcpy(unit, q, (size_t)dim * sizeof *unit);
        normalise(unit, dim);
        q = unit;
    }
    static const idx_search_params_t none;
    topk_t t = {.k = k, .dist = dists, .id = ids};
    x->ops->search(x, q, sp ? sp : &none, &t);
    if (unit != small) free(unit);
    topk_sort(&t);
    return t.n;
}

int idx_search(const idx_t *x, const float *q, int k, const idx_search_params_t *sp, int64_t *ids,
               float *dists)
{
    idx_t *w = (idx_t *)x; /* the lock is not the index's value */
    pthread_rwlock_rdlock(&w->lk);
    int r = search_locked(x, q, k, sp, ids, dists);
    pthread_rwlock_unlock(&w->lk);
    return r;
}

/* idx_search_batch with x->lk held shared. */
static int search_batch_locked(const idx_t *x, const float *q, int64_t nq, int k,
                               const idx_search_params_t *sp, int64_t *ids, float *dists,
                               int *counts, int64_t *bad)
{
    const int dim = x->p.dim;
    if (k < 1 || k > IDX_MAX_K) return -EINVAL;
    for (int64_t i = 0; i < nq; i++)
        for (int j = 0; j < dim; j++)
            if (!isfinite(q[(size_t)i * (size_t)dim + (size_t)j])) return *bad = i, -EINVAL;
    if (!x->ops->search_batch || (sp && sp->keep) || nq < 16) {
        for (int64_t i = 0; i < nq; i++) {
            int r = search_locked(x, q + (size_t)i * (size_t)dim, k, sp,
                                  ids + (size_t)i * (size_t)k, dists + (size_t)i * (size_t)k);
            if (r < 0) return *bad = i, r;
            counts[i] = r;
        }
        return 0;
    }
    float *unit = NULL;
    topk_t *t = malloc((size_t)nq * sizeof *t);
    if (x->p.metric == IDX_COS && t && (unit = malloc((size_t)nq * (size_t)dim * sizeof *unit))) {
        memcpy(unit, q, (size_t)nq * (size_t)dim * sizeof *unit);
        for (int64_t i = 0; i < nq; i++) normalise(unit + (size_t)i * (size_t)dim, dim);
        q = unit;
    }
    int e = !t || (x->p.metric == IDX_COS && !unit) ? -ENOMEM : 0;
    for (int64_t i = 0; !e && i < nq; i++)
        t[i] = (topk_t){
            .k = k, .dist = dists + (size_t)i * (size_t)k, .id = ids + (size_t)i * (size_t)k};
    if (!e) e = x->ops->search_batch(x, q, nq, t);
    for (int64_t i = 0; !e && i < nq; i++) {
        topk_sort(&t[i]);
        counts[i] = t[i].n;
    }
    free(t);
    free(unit);
    return e;
}

int idx_search_batch(const idx_t *x, const float *q, int64_t nq, int k,
                     const idx_search_params_t *sp, int64_t *ids, float *dists, int *counts,
                     int64_t *bad)
{
    idx_t *w = (idx_t *)x;
    pthread_rwlock_rdlock(&w->lk);
    int e = search_batch_locked(x, q, nq, k, sp, ids, dists, counts, bad);
    pthread_rwlock_unlock(&w->lk);
    return e;
}

int idx_save(const idx_t *x, const char *path, char *err, size_t errlen)
{
    idx_t *w = (idx_t *)x; /* no change may run while the sections are written */
    pthread_mutex_lock(&w->wmu);
    ixf_section_t s[IXF_MAX_SECTIONS];
    int n = x->ops->sections(x, s), e;
    ixf_header_t h = {x->p.type, x->p.metric, (uint32_t)x->p.dim, (uint64_t)x->count};
    if (n < 0)
        e = err_fail(err, errlen, n, "%s: %s", path, strerror(-n));
    else
        e = ixf_write(path, &h, s, n, err, errlen);
    pthread_mutex_unlock(&w->wmu);
    return e;
}

idx_t *idx_from_file(ixf_t *f, char *err, size_t errlen)
{
    idx_params_t p = {
        .type = (idx_type_t)f->h.type, .metric = (idx_metric_t)f->h.metric, .dim = (int)f->h.dim};
    idx_t *x = NULL;
    if (f->h.dim > IDX_MAX_DIM || f->h.count > INT64_MAX)
        err_fail(err, errlen, 0, "dimension %u or count %llu out of range", f->h.dim,
                 (unsigned long long)f->h.count);
    else
        x = idx_alloc(&p, err, errlen);
    if (x) {
        x->file = *f;
        x->count = (int64_t)f->h.count;
        if (x->ops->load(x, f, err, errlen)) {
            x->file.map = NULL; /* the caller's to close */
            idx_free(x);
            x = NULL;
        }
    }
    if (!x) ixf_close(f);
    return x;
}

idx_t *idx_load(const char *path, char *err, size_t errlen)
{
    ixf_t f;
    if (ixf_open(path, &f, err, errlen)) return NULL;
    char why[256];
    idx_t *x = idx_from_file(&f, why, sizeof why);
    if (!x) err_fail(err, errlen, 0, "%s: %s", path, why);
    return x;
}

idx_t *idx_load_fd(int fd, char *err, size_t errlen)
{
    ixf_t f;
    return ixf_open_fd(fd, &f, err, errlen) ? NULL : idx_from_file(&f, err, errlen);
}

void idx_get_info(const idx_t *x, idx_info_t *out)
{
    idx_t *w = (idx_t *)x;
    pthread_rwlock_rdlock(&w->lk);
    int64_t n = idx_count(x);
    *out = (idx_info_t){.type = x->p.type,
                        .metric = x->p.metric,
                        .dim = x->p.dim,
                        .count = n - x->removed,
                        .removed = x->removed,
                        .bytes = x->file.map ? x->file.size : x->ops->bytes(x),
                        .mapped = x->file.map != NULL,
                        .version = x->file.map ? (int)x->file.version : 0,
                        .refine = x->p.refine};
    pthread_rwlock_unlock(&w->lk);
}

void idx_free(idx_t *x)
{
    if (!x) return;
    x->ops->free(x);
    pthread_rwlock_destroy(&x->lk);
    pthread_mutex_destroy(&x->wmu);
    tpool_free(x->pool);
    ixf_close(&x->file);
    free(x);
}
