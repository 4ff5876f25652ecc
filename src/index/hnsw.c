/* HNSW (Malkov and Yashunin): a graph per layer, each node on layers 0..level with level drawn
 * as floor(-ln(U) / ln(M)); links M per node above layer 0 and 2M on it. A search descends
 * greedily from the entry point through the upper layers, then keeps the ef best candidates on
 * layer 0. Insertion searches the same way with ef_construction and links the new node to
 * neighbours chosen by the heuristic that keeps a candidate only if it is nearer the new node
 * than any neighbour already kept (so links spread in every direction); a neighbour whose list
 * overflows is pruned by the same rule.
 *
 * Sections: HPRM (u32 M, ef_construction, max level, entry node), IDS (int64 per node), VECS
 * (dim floats per node), LVLS (u8 per node), LNK0 (per node 1 + 2M int32: the count, then the
 * links), UOFF (u64 per node: where its upper layers' lists start in UPPR), UPPR (per upper
 * layer of a node 1 + M int32), and DELS (u8 per node, 1: removed) when a node was removed.
 *
 * A build with several threads (idx_params_t.threads) inserts the nodes above layer 0 one at a
 * time, then the layer-0 nodes (1 - 1/M of them) in parallel: the entry point and the upper
 * layers no longer change then, and each layer-0 list is changed under one of NLOCKS striped
 * locks.
 *
 * Adds run beside searches. The arrays grow and the new nodes are placed (vectors, levels,
 * empty lists) under the index's exclusive lock; the linking, the slow part, runs with
 * searches. A search reads the published entry point, then the published count, and answers
 * no node at or past that count, so new nodes appear all at once when the add publishes them.
 * On layer 0 it may walk through them, though (those placed, whose vectors are written):
 * linking a batch prunes old nodes' lists in favour of new nodes, and a search that could not
 * step onto those would find the old graph thinned while the batch is linked. Lists are read while
 * they are rewritten: each slot is read and written atomically (a plain move on x86), a list's
 * links are written before its count covers them, and a reader copies the count first, so it only
 * meets node numbers that were written (a mix of old and new links at worst, which a visited set
 * absorbs).
 *
 * A removed node stays in the graph as a waypoint (as hnswlib's markDelete) and is never
 * answered. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_impl.h"
#include "kern/tpool.h"

#define TAG_HPRM IXF_TAG('H', 'P', 'R', 'M')
#define TAG_IDS  IXF_TAG('I', 'D', 'S', ' ')
#define TAG_VECS IXF_TAG('V', 'E', 'C', 'S')
#define TAG_LVLS IXF_TAG('L', 'V', 'L', 'S')
#define TAG_LNK0 IXF_TAG('L', 'N', 'K', '0')
#define TAG_UOFF IXF_TAG('U', 'O', 'F', 'F')
#define TAG_UPPR IXF_TAG('U', 'P', 'P', 'R')
#define TAG_DELS IXF_TAG('D', 'E', 'L', 'S')

#define DEF_M     16
#define DEF_EFC   40
#define DEF_EF    16
#define MAX_LEVEL 30
#define NO_UPPER  UINT64_MAX
#define NLOCKS    4096 /* striped locks of a parallel build's layer-0 lists */

typedef struct hnsw {
    int m, m0, efc;
    int max_level;  /* the adding threads' view; searches read pub */
    int32_t entry;  /* -1 while empty */
    uint64_t pub;   /* published entry point: (max level + 1) << 32 | entry; 0 while empty */
    int64_t placed; /* nodes placed (vectors, levels, lists): searches may pass through them */
    int64_t cap;
    /* Per node (owned, or pointing into a mapped file). */
    int64_t *ids;
    float *vecs;
    uint8_t *levels;
    int32_t *link0; /* 1 + m0 per node */
    uint64_t *uoff; /* into upper, or NO_UPPER */
    int32_t *upper; /* 1 + m per upper layer */
    uint8_t *dead;  /* 1: removed; NULL until a node is */
    uint64_t upper_n, upper_cap;
    uint64_t rng;
    bool mapped;
    uint32_t parm[4];    /* for a save */
    pthread_mutex_t vmu; /* guards vfree: searches on many threads borrow visited sets */
    struct visited *vfree;
    pthread_mutex_t *locks; /* NLOCKS, during a parallel build only; else NULL */
} hnsw_t;

static hnsw_t *hnsw_of(const idx_t *x)
{
    return x->impl;
}

/* Node i's list on layer l: count, then links. */
static int32_t *links(const hnsw_t *h, int64_t i, int l)
{
    if (l == 0) return h->link0 + (size_t)i * (size_t)(1 + h->m0);
    return h->upper + h->uoff[i] + (size_t)(l - 1) * (size_t)(1 + h->m);
}

/* Node i's layer-l links, copied to buf (room for 2 * IDX_MAX_M); returns how many. Safe while
 * another thread rewrites the list (see the top of the file). */
static int links_get(const hnsw_t *h, int64_t i, int l, int32_t *buf)
{
    const int32_t *ln = links(h, i, l);
    int n = __atomic_load_n(&ln[0], __ATOMIC_ACQUIRE), max = l ? h->m : h->m0;
    if (n > max) n = max;
    for (int j = 0; j < n; j++) buf[j] = __atomic_load_n(&ln[1 + j], __ATOMIC_RELAXED);
    return n;
}

/* Sets node i's layer-l links to ids[0..n): the links first, then the count. */
static void links_set(hnsw_t *h, int64_t i, int l, const int32_t *ids, int n)
{
    int32_t *ln = links(h, i, l);
    for (int j = 0; j < n; j++) __atomic_store_n(&ln[1 + j], ids[j], __ATOMIC_RELAXED);
    __atomic_store_n(&ln[0], n, __ATOMIC_RELEASE);
}

/* Whether a search of the first n nodes answers node i: not removed, and kept by sp's filter
 * if any. */
static bool answers(const hnsw_t *h, const idx_search_params_t *sp, int64_t n, int32_t i)
{
    return i < n && !(h->dead && h->dead[i]) && (!sp || idx_keeps(sp, h->ids[i]));
}

static void lock_node(const hnsw_t *h, int64_t i, int l)
{
    if (h->locks && !l) pthread_mutex_lock(&h->locks[i % NLOCKS]);
}

static void unlock_node(const hnsw_t *h, int64_t i, int l)
{
    if (h->locks && !l) pthread_mutex_unlock(&h->locks[i % NLOCKS]);
}

static float dist(const idx_t *x, const float *q, int64_t i)
{
    const hnsw_t *h = hnsw_of(x);
    return idx_distance(x->p.metric, q, h->vecs + (size_t)i * (size_t)x->p.dim, x->p.dim);
}

static int hnsw_init(idx_t *x, char *err, size_t errlen)
{
    int m = x->p.hnsw_m ? x->p.hnsw_m : DEF_M;
    int efc = x->p.ef_construction ? x->p.ef_construction : DEF_EFC;
    if (m < 2 || m > IDX_MAX_M || efc < 1 || efc > 1 << 20)
        return snprintf(err, errlen, "--m %d (expected 2 to %d) or --ef-construction %d", m,
                        IDX_MAX_M, efc),
               -EINVAL;
    hnsw_t *h = calloc(1, sizeof *h);
    if (!h) return snprintf(err, errlen, "out of memory"), -ENOMEM;
    h->m = m, h->m0 = 2 * m, h->efc = efc, h->entry = -1, h->max_level = -1;
    h->rng = x->p.seed ? x->p.seed : 0x853C49E6748FEA9Bull;
    pthread_mutex_init(&h->vmu, NULL);
    x->impl = h;
    return 0;
}

/* ==== visited sets: arrays of stamps, lent to one search at a time ==== */

typedef struct visited {
    struct visited *next;
    uint32_t *mark;
    int64_t cap;
    uint32_t stamp;
} visited_t;

/* A visited set from the index's pool (or a new one), fresh for nodes 0..n. NULL without
 * memory. */
static visited_t *visited_get(const idx_t *x, int64_t n)
{
    hnsw_t *h = hnsw_of(x);
    pthread_mutex_lock(&h->vmu);
    visited_t *v = h->vfree;
    if (v) h->vfree = v->next;
    pthread_mutex_unlock(&h->vmu);
    if (!v && !(v = calloc(1, sizeof *v))) return NULL;
    if (v->cap <= n) {
        int64_t cap = n + n / 2 + 1024;
        uint32_t *m = realloc(v->mark, (size_t)cap * sizeof *m);
        if (!m) {
            free(v->mark);
            free(v);
            return NULL;
        }
        memset(m, 0, (size_t)cap * sizeof *m);
        v->mark = m, v->cap = cap, v->stamp = 0;
    }
    if (++v->stamp == 0) { /* wrapped: clear once every 4 billion searches */
        memset(v->mark, 0, (size_t)v->cap * sizeof *v->mark);
        v->stamp = 1;
    }
    return v;
}

static void visited_put(const idx_t *x, visited_t *v)
{
    hnsw_t *h = hnsw_of(x);
    pthread_mutex_lock(&h->vmu);
    v->next = h->vfree;
    h->vfree = v;
    pthread_mutex_unlock(&h->vmu);
}

/* ==== a min-heap of candidates (nearest first) ==== */

typedef struct cand {
    float d;
    int32_t i;
} cand_t;

typedef struct cheap {
    cand_t *a;
    int n, cap;
} cheap_t;

static int cheap_push(cheap_t *h, float d, int32_t i)
{
    if (h->n == h->cap) {
        int cap = h->cap ? h->cap * 2 : 64;
        cand_t *a = realloc(h->a, (size_t)cap * sizeof *a);
        if (!a) return -ENOMEM;
        h->a = a, h->cap = cap;
    }
    int k = h->n++;
    while (k > 0) {
        int p = (k - 1) / 2;
        if (h->a[p].d <= d) break;
        h->a[k] = h->a[p];
        k = p;
    }
    h->a[k] = (cand_t){d, i};
    return 0;
}

static cand_t cheap_pop(cheap_t *h)
{
    cand_t top = h->a[0], last = h->a[--h->n];
    int k = 0;
    for (;;) {
        int l = 2 * k + 1, r = l + 1, m = k;
        float md = last.d;
        if (l < h->n && h->a[l].d < md) m = l, md = h->a[l].d;
        if (r < h->n && h->a[r].d < md) m = r;
        if (m == k) break;
        h->a[k] = h->a[m];
        k = m;
    }
    if (h->n) h->a[k] = last;
    return top;
}

/* Greedy descent on layer l from *ep (distance *ed) over nodes below lim: moves to any nearer
 * neighbour until none is. */
static void greedy(const idx_t *x, const float *q, int l, int64_t lim, int32_t *ep, float *ed)
{
    const hnsw_t *h = hnsw_of(x);
    int32_t ln[2 * IDX_MAX_M];
    for (bool moved = true; moved;) {
        moved = false;
        int n = links_get(h, *ep, l, ln);
        for (int j = 0; j < n; j++) {
            if (ln[j] >= lim) continue;
            float d = dist(x, q, ln[j]);
            if (d < *ed) *ed = d, *ep = ln[j], moved = true;
        }
    }
}

/* Beam search on layer l from ep over nodes below lim: leaves the ef nearest nodes found in
 * out (a topk_t with node numbers as ids, capacity ef). With n >= 0 (a query's search rather
 * than an insert's), only nodes that a search of the first n answers go to out: the walk
 * still passes through the others, and goes on while out is not full. 0 or -ENOMEM. */
static int search_layer(const idx_t *x, const float *q, int32_t ep, float ed, int l, int64_t lim,
                        int64_t n, const idx_search_params_t *sp, topk_t *out, cheap_t *cand)
{
    const hnsw_t *h = hnsw_of(x);
    visited_t *v = visited_get(x, lim);
    if (!v) return -ENOMEM;
    int rc = 0;
    cand->n = 0;
    out->n = 0;
    v->mark[ep] = v->stamp;
    if (cheap_push(cand, ed, ep)) rc = -ENOMEM;
    if (n < 0 || answers(h, sp, n, ep)) topk_push(out, ed, ep);
    while (cand->n && !rc) {
        cand_t c = cheap_pop(cand);
        if (out->n == out->k && c.d > out->dist[0]) break; /* nothing nearer is left */
        int32_t ln[2 * IDX_MAX_M];
        int nl = links_get(h, c.i, l, ln);
        for (int j = 0; j < nl; j++) {
            int32_t nb = ln[j];
            if (nb >= lim || v->mark[nb] == v->stamp) continue;
            v->mark[nb] = v->stamp;
            float d = dist(x, q, nb);
            if (out->n < out->k || d < out->dist[0]) {
                if ((rc = cheap_push(cand, d, nb))) break;
                if (n < 0 || answers(h, sp, n, nb)) topk_push(out, d, nb);
            }
        }
    }
    visited_put(x, v);
    return rc;
}

/* From candidates sorted nearest first (to node i's vector), the at most max that the
 * heuristic keeps, written to sel; returns how many. */
static int select_neighbours(const idx_t *x, const float *d_new, const int32_t *cand, int nc,
                             int max, int32_t *sel)
{
    const hnsw_t *h = hnsw_of(x);
    const int dim = x->p.dim;
    int ns = 0;
    for (int c = 0; c < nc && ns < max; c++) {
        const float *vc = h->vecs + (size_t)cand[c] * (size_t)dim;
        bool keep = true;
        for (int s = 0; s < ns && keep; s++)
            keep = idx_distance(x->p.metric, vc, h->vecs + (size_t)sel[s] * (size_t)dim, dim) >=
                   d_new[c];
        if (keep) sel[ns++] = cand[c];
    }
    return ns;
}

/* Sorts n (distance, node) pairs nearest first. */
static int cmp_cand(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    return x->d < y->d ? -1 : x->d > y->d ? 1 : (x->i > y->i) - (x->i < y->i);
}

/* Adds node i to nb's list on layer l, pruning the list by the heuristic when full. */
static int link_back_locked(idx_t *x, int32_t nb, int32_t i, int l);
static int link_back(idx_t *x, int32_t nb, int32_t i, int l)
{
    const hnsw_t *h = hnsw_of(x);
    lock_node(h, nb, l);
    int rc = link_back_locked(x, nb, i, l);
    unlock_node(h, nb, l);
    return rc;
}

static int link_back_locked(idx_t *x, int32_t nb, int32_t i, int l)
{
    hnsw_t *h = hnsw_of(x);
    const int max = l == 0 ? h->m0 : h->m;
    int32_t ln[2 * IDX_MAX_M + 1];
    int n = links_get(h, nb, l, ln);
    for (int j = 0; j < n; j++)
        if (ln[j] == i) return 0;
    if (n < max) {
        ln[n] = i;
        links_set(h, nb, l, ln, n + 1);
        return 0;
    }
    const float *vn = h->vecs + (size_t)nb * (size_t)x->p.dim;
    cand_t c[2 * IDX_MAX_M + 1];
    int nc = 0;
    for (int j = 0; j < n; j++) c[nc++] = (cand_t){dist(x, vn, ln[j]), ln[j]};
    c[nc++] = (cand_t){dist(x, vn, i), i};
    qsort(c, (size_t)nc, sizeof *c, cmp_cand);
    int32_t ids[2 * IDX_MAX_M + 1], sel[2 * IDX_MAX_M];
    float ds[2 * IDX_MAX_M + 1];
    for (int j = 0; j < nc; j++) ids[j] = c[j].i, ds[j] = c[j].d;
    links_set(h, nb, l, sel, select_neighbours(x, ds, ids, nc, max, sel));
    return 0;
}

static int grow(idx_t *x, int64_t need)
{
    hnsw_t *h = hnsw_of(x);
    if (need <= h->cap) return 0;
    int64_t cap = h->cap ? h->cap : 1024;
    while (cap < need) cap *= 2;
    const size_t dim = (size_t)x->p.dim;
    int64_t *ids = realloc(h->ids, (size_t)cap * sizeof *ids);
    if (ids) h->ids = ids;
    float *vecs = ids ? realloc(h->vecs, (size_t)cap * dim * sizeof *vecs) : NULL;
    if (vecs) h->vecs = vecs;
    uint8_t *lv = vecs ? realloc(h->levels, (size_t)cap) : NULL;
    if (lv) h->levels = lv;
    int32_t *l0 = lv ? realloc(h->link0, (size_t)cap * (size_t)(1 + h->m0) * sizeof *l0) : NULL;
    if (l0) h->link0 = l0;
    uint64_t *uo = l0 ? realloc(h->uoff, (size_t)cap * sizeof *uo) : NULL;
    if (uo) h->uoff = uo;
    uint8_t *dd = uo && h->dead ? realloc(h->dead, (size_t)cap) : NULL;
    if (dd) h->dead = dd;
    if (!uo || (h->dead && !dd)) return -ENOMEM;
    h->cap = cap;
    return 0;
}

/* Draws node i's level and gives it empty lists on layers 0..level. */
static int place(hnsw_t *h, int32_t i)
{
    h->rng ^= h->rng << 13, h->rng ^= h->rng >> 7, h->rng ^= h->rng << 17;
    double u = ((double)(h->rng >> 11) + 1) / 9007199254740993.0; /* (0, 1] */
    int level = (int)floor(-log(u) / log((double)h->m));
    if (level > MAX_LEVEL) level = MAX_LEVEL;
    h->levels[i] = (uint8_t)level;
    h->link0[(size_t)i * (size_t)(1 + h->m0)] = 0;
    h->uoff[i] = NO_UPPER;
    if (h->dead) h->dead[i] = 0;
    if (level > 0) {
        uint64_t need = h->upper_n + (uint64_t)level * (uint64_t)(1 + h->m);
        if (need > h->upper_cap) {
            uint64_t cap = h->upper_cap ? h->upper_cap * 2 : 4096;
            while (cap < need) cap *= 2;
            int32_t *up = realloc(h->upper, cap * sizeof *up);
            if (!up) return -ENOMEM;
            h->upper = up, h->upper_cap = cap;
        }
        h->uoff[i] = h->upper_n;
        for (int l = 0; l < level; l++) h->upper[h->upper_n + (size_t)l * (size_t)(1 + h->m)] = 0;
        h->upper_n = need;
    }
    return 0;
}

/* Links node i (placed) into the graph of the nodes below lim. */
static int insert(idx_t *x, int32_t i, int64_t lim, topk_t *best, cheap_t *cand)
{
    hnsw_t *h = hnsw_of(x);
    int level = h->levels[i];
    if (h->entry < 0) {
        h->entry = i, h->max_level = level;
        return 0;
    }
    const float *q = h->vecs + (size_t)i * (size_t)x->p.dim;
    int32_t ep = h->entry;
    float ed = dist(x, q, ep);
    for (int l = h->max_level; l > level; l--) greedy(x, q, l, lim, &ep, &ed);
    for (int l = level < h->max_level ? level : h->max_level; l >= 0; l--) {
        int rc = search_layer(x, q, ep, ed, l, lim, -1, NULL, best, cand);
        if (rc) return rc;
        topk_sort(best);
        int32_t ids[1 << 10], sel[2 * IDX_MAX_M];
        float ds[1 << 10];
        int nc = 0;
        for (int j = 0; j < best->n && nc < (1 << 10); j++)
            if (best->id[j] != i) ids[nc] = (int32_t)best->id[j], ds[nc++] = best->dist[j];
        if (!nc) continue;
        int max = l == 0 ? h->m0 : h->m;
        /* As many links as the layer holds (2M on layer 0), as FAISS: hnswlib's M everywhere
         * lost 0.01-0.02 of recall@10 at ef 16 on clustered data. */
        int ns = select_neighbours(x, ds, ids, nc, max, sel);
        lock_node(h, i, l);
        links_set(h, i, l, sel, ns);
        unlock_node(h, i, l);
        for (int s = 0; s < ns; s++) {
            rc = link_back(x, sel[s], i, l);
            if (rc) return rc;
        }
        ep = ids[0], ed = ds[0]; /* the nearest found seeds the layer below */
    }
    if (level > h->max_level) h->entry = i, h->max_level = level;
    return 0;
}

/* What the inserting threads share. */
typedef struct ins_ctx {
    idx_t *x;
    const int32_t *order;
    int64_t upper, n, step, lim;
    atomic_llong done;
    pthread_mutex_t pmu; /* progress callbacks, one at a time */
    topk_t *best;        /* per thread */
    cheap_t *cand;
} ins_ctx_t;

static void progress(ins_ctx_t *c, int64_t done)
{
    const idx_params_t *p = &c->x->p;
    if (p->progress && (done % c->step == 0 || done == c->n))
        p->progress(p->progress_arg, "inserting", done, c->n);
}

static int insert_one(void *arg, int64_t k, int w)
{
    ins_ctx_t *c = arg;
    int rc = insert(c->x, c->order[c->upper + k], c->lim, &c->best[w], &c->cand[w]);
    int64_t done = c->upper + atomic_fetch_add(&c->done, 1) + 1;
    if (c->x->p.progress && (done % c->step == 0 || done == c->n)) {
        pthread_mutex_lock(&c->pmu);
        progress(c, done);
        pthread_mutex_unlock(&c->pmu);
    }
    return rc;
}

/* The layer-0 nodes order[upper..n) on nt threads, under the striped locks. */
static int insert_parallel(idx_t *x, ins_ctx_t *c, int nt)
{
    hnsw_t *h = hnsw_of(x);
    int rc = 0;
    c->best = calloc((size_t)nt, sizeof *c->best);
    c->cand = calloc((size_t)nt, sizeof *c->cand);
    h->locks = malloc(NLOCKS * sizeof *h->locks);
    if (!c->best || !c->cand || !h->locks) rc = -ENOMEM;
    for (int w = 0; w < nt && !rc; w++) {
        c->best[w].k = h->efc;
        c->best[w].dist = malloc((size_t)h->efc * sizeof(float));
        c->best[w].id = malloc((size_t)h->efc * sizeof(int64_t));
        if (!c->best[w].dist || !c->best[w].id) rc = -ENOMEM;
    }
    if (!rc) {
        for (int i = 0; i < NLOCKS; i++) pthread_mutex_init(&h->locks[i], NULL);
        pthread_mutex_init(&c->pmu, NULL);
        atomic_init(&c->done, 0);
        rc = tpool_run(x->pool, c->n - c->upper, insert_one, c);
        pthread_mutex_destroy(&c->pmu);
        for (int i = 0; i < NLOCKS; i++) pthread_mutex_destroy(&h->locks[i]);
    }
    free(h->locks);
    h->locks = NULL;
    for (int w = 0; c->best && w < nt; w++) free(c->best[w].dist), free(c->best[w].id);
    for (int w = 0; c->cand && w < nt; w++) free(c->cand[w].a);
    free(c->best);
    free(c->cand);
    return rc;
}

/* After a failed add: drops every link to a node at or past first from the older nodes'
 * lists, so that the graph is whole without the unpublished nodes. */
static void unlink_from(hnsw_t *h, int64_t first)
{
    for (int64_t i = 0; i < first; i++)
        for (int l = 0; l <= h->levels[i]; l++) {
            int32_t ln[2 * IDX_MAX_M];
            int n = links_get(h, i, l, ln), k = 0;
            for (int j = 0; j < n; j++)
                if (ln[j] < first) ln[k++] = ln[j];
            if (k < n) links_set(h, i, l, ln, k);
        }
}

static uint64_t entry_word(const hnsw_t *h)
{
    return h->entry < 0 ? 0 : (uint64_t)(h->max_level + 1) << 32 | (uint32_t)h->entry;
}

/* Grows the arrays and places the n new nodes from first on, with searches held off (the
 * arrays may move); fills order with them, highest level first. */
static int place_all(idx_t *x, const float *v, const int64_t *ids, int64_t n, int32_t *order,
                     int64_t *upper)
{
    hnsw_t *h = hnsw_of(x);
    const size_t dim = (size_t)x->p.dim;
    const int64_t first = x->count;
    pthread_rwlock_wrlock(&x->lk);
    int rc = grow(x, first + n);
    int64_t by_level[MAX_LEVEL + 2] = {0};
    for (int64_t k = 0; k < n && !rc; k++) {
        int32_t i = (int32_t)(first + k);
        h->ids[i] = ids[k];
        memcpy(h->vecs + (size_t)i * dim, v + (size_t)k * dim, dim * sizeof *v);
        rc = place(h, i);
        if (!rc) by_level[MAX_LEVEL - h->levels[i] + 1]++;
    }
    if (!rc) __atomic_store_n(&h->placed, first + n, __ATOMIC_RELEASE);
    pthread_rwlock_unlock(&x->lk);
    for (int l = 1; l <= MAX_LEVEL + 1; l++) by_level[l] += by_level[l - 1]; /* starts */
    for (int64_t k = 0; k < n && !rc; k++) {
        int32_t i = (int32_t)(first + k);
        order[by_level[MAX_LEVEL - h->levels[i]]++] = i;
    }
    *upper = by_level[MAX_LEVEL - 1]; /* where the level-0 nodes start in order */
    return rc;
}

static int hnsw_add(idx_t *x, const float *v, const int64_t *ids, int64_t n)
{
    hnsw_t *h = hnsw_of(x);
    if (x->count + n > INT32_MAX) return -E2BIG;
    const int64_t first = x->count;
    float *bd = malloc((size_t)h->efc * sizeof *bd);
    int64_t *bi = malloc((size_t)h->efc * sizeof *bi);
    int32_t *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    cheap_t cand = {0};
    topk_t best = {.k = h->efc, .dist = bd, .id = bi};
    /* Every node is placed first, then linked highest level first (as FAISS does): the upper
     * layers form before the crowd below them, which gave the graph better recall. */
    int64_t upper = 0;
    int rc = bd && bi && order ? place_all(x, v, ids, n, order, &upper) : -ENOMEM;
    /* Nodes above layer 0 one at a time (they may move the entry point), then the rest. */
    int nt = tpool_size(x->pool);
    if (nt < 2 || n - upper < 1024) upper = n;
    ins_ctx_t c = {.x = x,
                   .order = order,
                   .upper = upper,
                   .n = n,
                   .step = n / 100 > 1000 ? n / 100 : 1000,
                   .lim = first + n};
    const int32_t old_entry = h->entry;
    const int old_level = h->max_level;
    for (int64_t k = 0; k < upper && !rc; k++) {
        rc = insert(x, order[k], c.lim, &best, &cand);
        progress(&c, k + 1);
    }
    if (!rc && upper < n) rc = insert_parallel(x, &c, nt);
    if (rc) {
        h->entry = old_entry, h->max_level = old_level;
        __atomic_store_n(&h->placed, first, __ATOMIC_RELEASE);
        unlink_from(h, first);
    } else { /* the count before the entry point: a search reads them the other way round */
        idx_publish_count(x, first + n);
        __atomic_store_n(&h->pub, entry_word(h), __ATOMIC_RELEASE);
    }
    free(order);
    free(bd);
    free(bi);
    free(cand.a);
    return rc;
}

static int64_t hnsw_remove(idx_t *x, int64_t id)
{
    hnsw_t *h = hnsw_of(x);
    int64_t removed = 0, n = x->count;
    if (!h->dead && n && !(h->dead = calloc((size_t)h->cap, 1))) return -ENOMEM;
    for (int64_t i = 0; i < n; i++)
        if (h->ids[i] == id && !h->dead[i]) h->dead[i] = 1, removed++;
    x->removed += removed;
    return removed;
}

static void hnsw_search(const idx_t *x, const float *q, const idx_search_params_t *sp, topk_t *t)
{
    const hnsw_t *h = hnsw_of(x);
    uint64_t pub = __atomic_load_n(&h->pub, __ATOMIC_ACQUIRE);
    if (!pub) return;
    const int64_t n = idx_count(x), lim = __atomic_load_n(&h->placed, __ATOMIC_ACQUIRE);
    int ef = sp->ef > 0 ? sp->ef : DEF_EF;
    if (ef < t->k) ef = t->k;
    int32_t ep = (int32_t)(uint32_t)pub;
    float ed = dist(x, q, ep);
    /* The descent stays on published nodes: a node being linked may have its upper links
     * before its layer-0 ones, and a layer-0 search started there would find nothing. */
    for (int l = (int)(pub >> 32) - 1; l > 0; l--) greedy(x, q, l, n, &ep, &ed);
    float *bd = malloc((size_t)ef * sizeof *bd);
    int64_t *bi = malloc((size_t)ef * sizeof *bi);
    cheap_t cand = {0};
    topk_t best = {.k = ef, .dist = bd, .id = bi};
    if (bd && bi && search_layer(x, q, ep, ed, 0, lim, n, sp, &best, &cand) == 0)
        for (int j = 0; j < best.n; j++) topk_push(t, best.dist[j], h->ids[best.id[j]]);
    free(bd);
    free(bi);
    free(cand.a);
}

static int hnsw_sections(const idx_t *x, ixf_section_t *s)
{
    hnsw_t *h = hnsw_of(x);
    static const char empty[1];
    size_t n = (size_t)x->count;
    h->parm[0] = (uint32_t)h->m, h->parm[1] = (uint32_t)h->efc;
    h->parm[2] = (uint32_t)(h->max_level < 0 ? 0 : h->max_level);
    h->parm[3] = (uint32_t)h->entry;
    int k = 0;
#define OR_EMPTY(p) (n ? (const void *)(p) : empty)
    s[k++] = (ixf_section_t){TAG_HPRM, h->parm, sizeof h->parm};
    s[k++] = (ixf_section_t){TAG_IDS, OR_EMPTY(h->ids), n * sizeof(int64_t)};
    s[k++] = (ixf_section_t){TAG_VECS, OR_EMPTY(h->vecs), n * (size_t)x->p.dim * sizeof(float)};
    s[k++] = (ixf_section_t){TAG_LVLS, OR_EMPTY(h->levels), n};
    s[k++] =
        (ixf_section_t){TAG_LNK0, OR_EMPTY(h->link0), n * (size_t)(1 + h->m0) * sizeof(int32_t)};
    s[k++] = (ixf_section_t){TAG_UOFF, OR_EMPTY(h->uoff), n * sizeof(uint64_t)};
    s[k++] = (ixf_section_t){TAG_UPPR, h->upper_n ? (const void *)h->upper : empty,
                             (size_t)h->upper_n * sizeof(int32_t)};
    if (x->removed) s[k++] = (ixf_section_t){TAG_DELS, h->dead, n};
#undef OR_EMPTY
    return k;
}

static const void *exact(const ixf_t *file, uint32_t tag, uint64_t bytes)
{
    const ixf_section_t *sec = ixf_find(file, tag);
    return sec && sec->bytes == bytes ? sec->data : NULL;
}

/* Every link names a node that lives on the link's layer, every count fits its list, every
 * node's upper lists lie in UPPR, and the entry node is on the top layer. */
static bool graph_valid(const hnsw_t *h, int64_t n)
{
    if (n == 0) return true;
    if (h->entry < 0 || h->entry >= n || h->levels[h->entry] != h->max_level) return false;
    for (int64_t i = 0; i < n; i++) {
        int lv = h->levels[i];
        if (lv > h->max_level) return false;
        if (lv > 0 && (h->uoff[i] > h->upper_n ||
                       (uint64_t)lv * (uint64_t)(1 + h->m) > h->upper_n - h->uoff[i]))
            return false;
        for (int l = 0; l <= lv; l++) {
            const int32_t *ln = links(h, i, l);
            if (ln[0] < 0 || ln[0] > (l ? h->m : h->m0)) return false;
            for (int j = 1; j <= ln[0]; j++)
                if (ln[j] < 0 || ln[j] >= n || h->levels[ln[j]] < l) return false;
        }
    }
    return true;
}

static int hnsw_load(idx_t *x, const ixf_t *file, char *err, size_t errlen)
{
    const uint32_t *parm = exact(file, TAG_HPRM, 4 * sizeof(uint32_t));
    if (!parm) return snprintf(err, errlen, "an HNSW index needs an HPRM section"), -EINVAL;
    x->p.hnsw_m = (int)(parm[0] <= IDX_MAX_M ? parm[0] : 0);
    x->p.ef_construction = (int)(parm[1] <= (1 << 20) ? parm[1] : 0);
    int rc = hnsw_init(x, err, errlen);
    if (rc) return rc;
    hnsw_t *h = hnsw_of(x);
    h->mapped = true;
    uint64_t n = (uint64_t)x->count, dim = (uint64_t)x->p.dim;
    const ixf_section_t *up = ixf_find(file, TAG_UPPR);
    bool ok = n <= INT32_MAX && parm[2] <= MAX_LEVEL && up && up->bytes % 4 == 0;
    if (ok) {
        h->max_level = n ? (int)parm[2] : -1;
        h->entry = n ? (int32_t)parm[3] : -1;
        h->pub = entry_word(h);
        h->placed = (int64_t)n;
        h->ids = (int64_t *)exact(file, TAG_IDS, n * 8);
        h->vecs = (float *)exact(file, TAG_VECS, n * dim * 4);
        h->levels = (uint8_t *)exact(file, TAG_LVLS, n);
        h->link0 = (int32_t *)exact(file, TAG_LNK0, n * (uint64_t)(1 + h->m0) * 4);
        h->uoff = (uint64_t *)exact(file, TAG_UOFF, n * 8);
        h->upper = (int32_t *)up->data;
        h->upper_n = up->bytes / 4;
        ok = h->ids && h->vecs && h->levels && h->link0 && h->uoff && graph_valid(h, (int64_t)n);
    }
    if (ok && ixf_find(file, TAG_DELS)) {
        h->dead = (uint8_t *)exact(file, TAG_DELS, n);
        for (uint64_t i = 0; h->dead && i < n; i++) {
            if (h->dead[i] > 1)
                h->dead = NULL;
            else
                x->removed += h->dead[i];
        }
        if (!h->dead)
            return snprintf(err, errlen, "the DELS section is not one 0 or 1 per node"), -EINVAL;
    }
    if (!ok)
        return snprintf(err, errlen, "the HNSW sections do not hold a valid graph of %llu nodes",
                        (unsigned long long)n),
               -EINVAL;
    return 0;
}

static size_t hnsw_bytes(const idx_t *x)
{
    const hnsw_t *h = hnsw_of(x);
    return (size_t)h->cap *
               (sizeof(int64_t) + (size_t)x->p.dim * sizeof(float) + 1 + (h->dead ? 1 : 0) +
                (size_t)(1 + h->m0) * sizeof(int32_t) + sizeof(uint64_t)) +
           (size_t)h->upper_cap * sizeof(int32_t);
}

static void hnsw_free(idx_t *x)
{
    hnsw_t *h = hnsw_of(x);
    if (!h) return;
    for (visited_t *v = h->vfree, *next; v; v = next) {
        next = v->next;
        free(v->mark);
        free(v);
    }
    pthread_mutex_destroy(&h->vmu);
    if (!h->mapped) {
        free(h->ids);
        free(h->vecs);
        free(h->levels);
        free(h->link0);
        free(h->uoff);
        free(h->upper);
        free(h->dead);
    }
    free(h);
}

const idx_ops_t idx_hnsw_ops = {.init = hnsw_init,
                                .add = hnsw_add,
                                .adds_beside_searches = true,
                                .remove = hnsw_remove,
                                .search = hnsw_search,
                                .sections = hnsw_sections,
                                .load = hnsw_load,
                                .bytes = hnsw_bytes,
                                .free = hnsw_free};
