/* Internal to src/index: what every index kind implements, the shared top-k heap, and the
 * struct idx the kinds extend. */
#ifndef INFERD_INDEX_IMPL_H
#define INFERD_INDEX_IMPL_H

#include <pthread.h>

#include "index/format.h"
#include "index/index.h"
#include "kern/tpool.h"

/* The k best (lowest distance; ties: lower id) seen so far: a max-heap on (dist, id), so the
 * worst kept is at the root and a candidate is compared with it alone. */
typedef struct topk {
    int k, n;
    float *dist;
    int64_t *id;
} topk_t;

/* Whether entry a ranks after entry b (farther, or as far with a higher id). */
static inline int topk_after(const topk_t *t, int a, int b)
{
    return t->dist[a] > t->dist[b] || (t->dist[a] == t->dist[b] && t->id[a] > t->id[b]);
}

/* Restores the heap order below i among the first n entries. */
static inline void topk_sift_down(topk_t *t, int i, int n)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && topk_after(t, l, m)) m = l;
        if (r < n && topk_after(t, r, m)) m = r;
        if (m == i) return;
        float d = t->dist[i];
        int64_t id = t->id[i];
        t->dist[i] = t->dist[m], t->id[i] = t->id[m];
        t->dist[m] = d, t->id[m] = id;
        i = m;
    }
}

/* Offers (d, id); keeps it if it is among the k best so far. */
static inline void topk_push(topk_t *t, float d, int64_t id)
{
    if (t->n == t->k) {
        if (d > t->dist[0] || (d == t->dist[0] && id >= t->id[0])) return;
        t->dist[0] = d, t->id[0] = id;
        topk_sift_down(t, 0, t->n);
        return;
    }
    int i = t->n++;
    while (i > 0) { /* sift up */
        int p = (i - 1) / 2;
        if (t->dist[p] > d || (t->dist[p] == d && t->id[p] > id)) break;
        t->dist[i] = t->dist[p], t->id[i] = t->id[p];
        i = p;
    }
    t->dist[i] = d, t->id[i] = id;
}

/* Sorts the kept entries nearest first (a heap sort: the root is always the worst left). */
/* Whether a search with sp may answer id (its filter, if any, keeps it). */
static inline bool idx_keeps(const idx_search_params_t *sp, int64_t id)
{
    return !sp->keep || sp->keep(sp->keep_arg, id);
}

static inline void topk_sort(topk_t *t)
{
    for (int end = t->n - 1; end > 0; end--) {
        float d = t->dist[0];
        int64_t id = t->id[0];
        t->dist[0] = t->dist[end], t->id[0] = t->id[end];
        t->dist[end] = d, t->id[end] = id;
        topk_sift_down(t, 0, end);
    }
}

typedef struct idx_ops {
    /* Checks the kind's parameters in x->p and sets up x->impl. 0 or -EINVAL with the problem
     * in err. Optional. */
    int (*init)(idx_t *x, char *err, size_t errlen);
    /* Trains on n vectors (checked finite, normalised for COS). NULL: needs no training. */
    int (*train)(idx_t *x, const float *v, int64_t n, char *err, size_t errlen);
    /* Appends n vectors (checked finite, normalised for COS) with their ids; a trainable kind
     * is trained. Runs with x->wmu held. A kind with adds_beside_searches takes x->lk
     * exclusively only while arrays a search reads move, and publishes the new count itself
     * (idx_publish_count) once the vectors are searchable; otherwise idx_add holds x->lk
     * exclusively throughout and counts them. */
    int (*add)(idx_t *x, const float *v, const int64_t *ids, int64_t n);
    bool adds_beside_searches;
    /* Removes every vector added with id from what searches answer; returns how many, or
     * -ENOMEM. Runs with x->wmu and x->lk (exclusive) held. */
    int64_t (*remove)(idx_t *x, int64_t id);
    /* Offers the candidates for q (normalised for COS) to t. */
    void (*search)(const idx_t *x, const float *q, const idx_search_params_t *sp, topk_t *t);
    /* Many queries at once, without a filter: t[i] gets query i's candidates. 0 or -ENOMEM.
     * Optional (NULL: idx_search_batch asks search for each). */
    int (*search_batch)(const idx_t *x, const float *q, int64_t nq, topk_t *t);
    /* The sections a saved file holds; returns how many (<= IXF_MAX_SECTIONS). */
    int (*sections)(const idx_t *x, ixf_section_t *s);
    /* Takes the sections of a mapped file (their sizes checked against the header here). 0 or
     * -EINVAL with the problem in err. */
    int (*load)(idx_t *x, const ixf_t *f, char *err, size_t errlen);
    size_t (*bytes)(const idx_t *x);
    void (*free)(idx_t *x);
} idx_ops_t;

struct idx {
    const idx_ops_t *ops;
    idx_params_t p;
    /* Vectors held (removed HNSW nodes included). Written under wmu; read by searches with
     * idx_count, which sees only vectors a search may reach. */
    int64_t count;
    int64_t removed; /* HNSW: nodes removed but kept as waypoints */
    bool trained;
    /* Searches hold lk shared. Changes (add, remove, train, save) hold wmu, one at a time, and
     * take lk exclusively only where a search could see a half-made change (see add). */
    pthread_rwlock_t lk;
    pthread_mutex_t wmu;
    tpool_t *pool; /* p.threads for training and adding; NULL for one */
    ixf_t file;    /* a loaded index: the mapping its arrays point into */
    void *impl;    /* the kind's own state */
};

/* The count a search may rely on: every vector below it is whole and reachable. */
static inline int64_t idx_count(const idx_t *x)
{
    return __atomic_load_n(&x->count, __ATOMIC_ACQUIRE);
}

/* Makes vectors below count visible to searches that read idx_count afterwards. */
static inline void idx_publish_count(idx_t *x, int64_t count)
{
    __atomic_store_n(&x->count, count, __ATOMIC_RELEASE);
}

extern const idx_ops_t idx_flat_ops;
extern const idx_ops_t idx_ivf_ops;
extern const idx_ops_t idx_hnsw_ops;

/* Distance of a to b under the index's metric (vectors of a COS index are unit: IP). */
float idx_distance(idx_metric_t m, const float *a, const float *b, int dim);

#endif
