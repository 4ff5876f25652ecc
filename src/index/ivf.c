/* IVF: a coarse quantizer of nlist centroids (k-means) splits the vectors into inverted lists;
 * a search scans the nprobe lists whose centroids are nearest the query. The lists hold codes:
 * IDX_IVF the vectors themselves, IDX_IVFSQ SQ8 codes and IDX_IVFPQ PQ codes of the residual
 * x - centroid (quant.h), as FAISS's IndexIVFFlat, IndexIVFScalarQuantizer and IndexIVFPQ do
 * by default. Lists are assigned by the index's metric (L2: nearest centroid; IP and COS: the
 * largest inner product), the same rule probing uses.
 *
 * Sections: PARM (u32 nlist, pq_m, pq_bits), CENT (nlist x dim floats), LOFF (nlist + 1 u64:
 * where each list starts in LIDS and CODE, in vectors), LIDS (int64 per vector), CODE (code
 * bytes per vector), and SQMM (vmin, vdiff: 2 x dim floats) or PQCB (the codebooks). An IVF-PQ
 * index built with refine has an RFIN section (u32 1), and each CODE entry is then the PQ code
 * followed by the vector itself (dim floats, unaligned), for an exact re-rank of the best
 * candidates by the codes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index/index_impl.h"
#include "index/kmeans.h"
#include "index/quant.h"
#include "kern/vec.h"

#define TAG_PARM IXF_TAG('P', 'A', 'R', 'M')
#define TAG_CENT IXF_TAG('C', 'E', 'N', 'T')
#define TAG_LOFF IXF_TAG('L', 'O', 'F', 'F')
#define TAG_LIDS IXF_TAG('L', 'I', 'D', 'S')
#define TAG_CODE IXF_TAG('C', 'O', 'D', 'E')
#define TAG_SQMM IXF_TAG('S', 'Q', 'M', 'M')
#define TAG_PQCB IXF_TAG('P', 'Q', 'C', 'B')
#define TAG_RFIN IXF_TAG('R', 'F', 'I', 'N')

#define COARSE_ITERS    20
#define MAX_PER_CENTRE  256 /* training points per centroid at most (FAISS's default too) */
#define ENCODE_BLOCK    65536
#define MAX_NPROBE_HEAP 4096
#define PQ_TERM2_MAX    ((size_t)1 << 30)
/* A re-rank candidate's name while scanning: the probe it came from and its position there. */
#define ENTRY_BITS  40
#define ENTRY(p, i) (((int64_t)(p) << ENTRY_BITS) | (int64_t)(i))

typedef struct ivlist {
    int64_t n, cap;
    int64_t *ids;
    uint8_t *codes;
} ivlist_t;

typedef struct ivf {
    int nlist;
    size_t code_size;
    float *cent; /* nlist x dim */
    float *sq_min, *sq_diff;
    pq_t pq;
    /* IVF-PQ, L2: per list l, sub-quantizer i and code j, |cb_ij|^2 + 2 c_l,i . cb_ij. With it
     * |q - c_l - r|^2 = |q - c_l|^2 + term2[l] - 2 q . r, and q . cb_ij is one table per query
     * rather than one per list (FAISS's precomputed table). Made after training and at load;
     * NULL if it would take more than PQ_TERM2_MAX bytes. */
    float *pq_term2;
    ivlist_t *lists; /* built in memory */
    /* Loaded from a file: the lists back to back, and every array above points into it. */
    const uint64_t *loff;
    const int64_t *lids;
    const uint8_t *lcodes;
    /* Built for a save: the lists back to back (freed with the index). */
    uint64_t *pack_loff;
    int64_t *pack_ids;
    uint8_t *pack_codes;
    uint32_t parm[3];
    uint32_t rfin; /* 1: refine (the RFIN section) */
} ivf_t;

static ivf_t *ivf_of(const idx_t *x)
{
    return x->impl;
}

static bool residual(const idx_t *x)
{
    return x->p.type != IDX_IVF;
}

static int ivf_init(idx_t *x, char *err, size_t errlen)
{
    const idx_params_t *p = &x->p;
    if (p->nlist < 1 || p->nlist > IDX_MAX_NLIST)
        return snprintf(err, errlen, "--nlist %d (expected 1 to %d)", p->nlist, IDX_MAX_NLIST),
               -EINVAL;
    int bits = p->pq_bits ? p->pq_bits : 8;
    if (p->type == IDX_IVFPQ && (p->pq_m < 1 || p->dim % p->pq_m || bits < 1 || bits > 8))
        return snprintf(err, errlen,
                        "--pq-m %d must divide the dimension %d, and --pq-bits %d be 1 to 8",
                        p->pq_m, p->dim, bits),
               -EINVAL;
    ivf_t *v = calloc(1, sizeof *v);
    if (!v) return snprintf(err, errlen, "out of memory"), -ENOMEM;
    x->impl = v;
    v->nlist = p->nlist;
    v->cent = calloc((size_t)p->nlist * (size_t)p->dim, sizeof *v->cent);
    v->lists = calloc((size_t)p->nlist, sizeof *v->lists);
    int ok = v->cent && v->lists;
    if (p->type == IDX_IVF) {
        v->code_size = (size_t)p->dim * sizeof(float);
    } else if (p->type == IDX_IVFSQ) {
        v->code_size = (size_t)p->dim;
        v->sq_min = calloc(2 * (size_t)p->dim, sizeof(float)); /* then vdiff: one section */
        v->sq_diff = v->sq_min ? v->sq_min + p->dim : NULL;
        ok = ok && v->sq_min;
    } else {
        v->pq = (pq_t){.dim = p->dim,
                       .m = p->pq_m,
                       .nbits = bits,
                       .ksub = 1 << bits,
                       .dsub = p->dim / p->pq_m};
        v->code_size = (size_t)p->pq_m + (p->refine ? (size_t)p->dim * sizeof(float) : 0);
        v->rfin = p->refine;
        v->pq.cb = calloc((size_t)p->dim << bits, sizeof(float));
        ok = ok && v->pq.cb;
    }
    v->parm[0] = (uint32_t)p->nlist, v->parm[1] = (uint32_t)p->pq_m, v->parm[2] = (uint32_t)bits;
    return ok ? 0 : (snprintf(err, errlen, "out of memory"), -ENOMEM);
}

/* Rows from x to train on: all of them, or an evenly spread, seeded sample of max rows. */
static const float *sample(const float *x, int64_t n, int dim, int64_t max, uint64_t seed,
                           int64_t *out_n, float **owned)
{
    *owned = NULL;
    if (n <= max) return *out_n = n, x;
    float *s = malloc((size_t)max * (size_t)dim * sizeof *s);
    if (!s) return NULL;
    uint64_t r = seed ? seed : 0x2545F4914F6CDD1Dull;
    for (int64_t i = 0; i < max; i++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        int64_t lo = n * i / max, hi = n * (i + 1) / max; /* one row from each stretch */
        int64_t pick = lo + (int64_t)(r % (uint64_t)(hi - lo));
        memcpy(s + (size_t)i * (size_t)dim, x + (size_t)pick * (size_t)dim,
               (size_t)dim * sizeof *s);
    }
    *owned = s;
    return *out_n = max, s;
}

/* Each row's list, by the index's metric. */
static int assign_lists(const idx_t *x, const float *v, int64_t n, int32_t *a)
{
    const ivf_t *f = ivf_of(x);
    return kmeans_assign(x->pool, v, n, x->p.dim, f->cent, f->nlist, x->p.metric != IDX_L2, a,
                         NULL);
}

/* Rows minus their lists' centroids. */
static void residuals(const idx_t *x, const float *v, int64_t n, const int32_t *a, float *r)
{
    const int dim = x->p.dim;
    const float *cent = ivf_of(x)->cent;
    for (int64_t i = 0; i < n; i++)
        for (int d = 0; d < dim; d++)
            r[(size_t)i * (size_t)dim + d] =
                v[(size_t)i * (size_t)dim + d] - cent[(size_t)a[i] * (size_t)dim + d];
}

/* Makes f->pq_term2 (see ivf_t) for an L2 IVF-PQ index, if it fits. */
static void make_term2(const idx_t *x, ivf_t *f)
{
    free(f->pq_term2);
    f->pq_term2 = NULL;
    const pq_t *pq = &f->pq;
    size_t per = (size_t)pq->m * (size_t)pq->ksub;
    if (x->p.type != IDX_IVFPQ || x->p.metric != IDX_L2 ||
        (size_t)f->nlist * per > PQ_TERM2_MAX / sizeof(float))
        return;
    float *t = malloc((size_t)f->nlist * per * sizeof *t), *norms = malloc(per * sizeof *norms);
    if (t && norms) {
        for (int i = 0; i < pq->m; i++)
            for (int j = 0; j < pq->ksub; j++) {
                const float *cb = pq->cb + ((size_t)i * pq->ksub + j) * pq->dsub;
                norms[i * pq->ksub + j] = kern_dot_f32(cb, cb, pq->dsub);
            }
        for (int l = 0; l < f->nlist; l++) {
            float *tl = t + (size_t)l * per;
            pq_tables(pq, f->cent + (size_t)l * (size_t)x->p.dim, 1, tl); /* c_l,i . cb_ij */
            for (size_t e = 0; e < per; e++) tl[e] = norms[e] + 2 * tl[e];
        }
        f->pq_term2 = t;
        t = NULL;
    }
    free(t);
    free(norms);
}

static int ivf_train(idx_t *x, const float *v, int64_t n, char *err, size_t errlen)
{
    ivf_t *f = ivf_of(x);
    const int dim = x->p.dim;
    int64_t need = f->nlist;
    if (x->p.type == IDX_IVFPQ && f->pq.ksub > need) need = f->pq.ksub;
    if (n < need)
        return snprintf(err, errlen, "training needs at least %lld vectors, got %lld",
                        (long long)need, (long long)n),
               -EINVAL;
    int64_t ns;
    float *owned;
    const float *s = sample(v, n, dim, (int64_t)f->nlist * MAX_PER_CENTRE, x->p.seed, &ns, &owned);
    if (!s) return snprintf(err, errlen, "out of memory"), -ENOMEM;
    int rc = kmeans_train(x->pool, s, ns, dim, f->nlist, COARSE_ITERS, x->p.seed, f->cent,
                          x->p.progress, x->p.progress_arg);
    free(owned);
    if (rc || !residual(x)) return rc ? (snprintf(err, errlen, "out of memory"), rc) : 0;
    /* The codes' training set: residuals of a sample against the new centroids. */
    int64_t cap = x->p.type == IDX_IVFPQ ? (int64_t)f->pq.ksub * MAX_PER_CENTRE : 65536;
    s = sample(v, n, dim, cap, x->p.seed + 1, &ns, &owned);
    float *r = s ? malloc((size_t)ns * (size_t)dim * sizeof *r) : NULL;
    int32_t *a = r ? malloc((size_t)ns * sizeof *a) : NULL;
    rc = a ? assign_lists(x, s, ns, a) : -ENOMEM;
    if (!rc) {
        residuals(x, s, ns, a, r);
        if (x->p.type == IDX_IVFSQ)
            sq8_train(r, ns, dim, f->sq_min, f->sq_diff);
        else
            rc = pq_train(x->pool, &f->pq, r, ns, x->p.seed, x->p.progress, x->p.progress_arg);
        if (!rc) rc = pq_prepare(&f->pq);
        if (!rc) make_term2(x, f);
    }
    free(owned);
    free(r);
    free(a);
    if (rc) snprintf(err, errlen, rc == -ENOMEM ? "out of memory" : "cannot train the codes");
    return rc;
}

static int list_push(ivlist_t *l, int64_t id, const uint8_t *code, size_t code_size)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? l->cap * 2 : 16;
        int64_t *ni = realloc(l->ids, (size_t)cap * sizeof *ni);
        if (!ni) return -ENOMEM;
        l->ids = ni;
        uint8_t *nc = realloc(l->codes, (size_t)cap * code_size);
        if (!nc) return -ENOMEM;
        l->codes = nc;
        l->cap = cap;
    }
    l->ids[l->n] = id;
    memcpy(l->codes + (size_t)l->n * code_size, code, code_size);
    l->n++;
    return 0;
}

static int ivf_add(idx_t *x, const float *v, const int64_t *ids, int64_t n)
{
    ivf_t *f = ivf_of(x);
    const int dim = x->p.dim;
    for (int64_t lo = 0; lo < n; lo += ENCODE_BLOCK) {
        int64_t m = n - lo < ENCODE_BLOCK ? n - lo : ENCODE_BLOCK;
        const float *b = v + (size_t)lo * (size_t)dim;
        int32_t *a = malloc((size_t)m * sizeof *a);
        float *r = residual(x) ? malloc((size_t)m * (size_t)dim * sizeof *r) : NULL;
        uint8_t *codes = malloc((size_t)m * f->code_size);
        int rc = a && codes && (r || !residual(x)) ? assign_lists(x, b, m, a) : -ENOMEM;
        if (!rc && residual(x)) residuals(x, b, m, a, r);
        if (!rc && x->p.type == IDX_IVF) memcpy(codes, b, (size_t)m * f->code_size);
        if (!rc && x->p.type == IDX_IVFSQ)
            for (int64_t i = 0; i < m; i++)
                sq8_encode(f->sq_min, f->sq_diff, dim, r + (size_t)i * (size_t)dim,
                           codes + (size_t)i * f->code_size);
        if (!rc && x->p.type == IDX_IVFPQ) rc = pq_encode(x->pool, &f->pq, r, m, codes);
        if (!rc && f->rfin) /* spread the codes out, each followed by its vector */
            for (int64_t i = m - 1; i >= 0; i--) {
                uint8_t *e = codes + (size_t)i * f->code_size;
                memmove(e, codes + (size_t)i * (size_t)f->pq.m, (size_t)f->pq.m);
                memcpy(e + f->pq.m, b + (size_t)i * (size_t)dim, (size_t)dim * sizeof(float));
            }
        for (int64_t i = 0; !rc && i < m; i++)
            rc = list_push(&f->lists[a[i]], ids[lo + i], codes + (size_t)i * f->code_size,
                           f->code_size);
        free(a);
        free(r);
        free(codes);
        if (rc) return rc;
        if (x->p.progress) x->p.progress(x->p.progress_arg, "adding", lo + m, n);
    }
    return 0;
}

/* Each list's entries with id are replaced by the list's last (order within a list does not
 * matter: a probe scans it whole). */
static int64_t ivf_remove(idx_t *x, int64_t id)
{
    ivf_t *f = ivf_of(x);
    int64_t removed = 0;
    for (int l = 0; l < f->nlist; l++) {
        ivlist_t *li = &f->lists[l];
        for (int64_t i = 0; i < li->n;) {
            if (li->ids[i] != id) {
                i++;
                continue;
            }
            li->n--, removed++;
            li->ids[i] = li->ids[li->n];
            memmove(li->codes + (size_t)i * f->code_size, li->codes + (size_t)li->n * f->code_size,
                    f->code_size);
        }
    }
    idx_publish_count(x, x->count - removed);
    return removed;
}

/* List l's ids and codes, in memory or in the mapped file. */
static int64_t list_of(const ivf_t *f, int l, const int64_t **ids, const uint8_t **codes)
{
    if (f->loff) {
        *ids = f->lids + f->loff[l];
        *codes = f->lcodes + f->loff[l] * f->code_size;
        return (int64_t)(f->loff[l + 1] - f->loff[l]);
    }
    *ids = f->lists[l].ids;
    *codes = f->lists[l].codes;
    return f->lists[l].n;
}

static void ivf_search(const idx_t *x, const float *q, const idx_search_params_t *sp, topk_t *t)
{
    const ivf_t *f = ivf_of(x);
    const int dim = x->p.dim;
    const bool l2 = x->p.metric == IDX_L2;
    int nprobe = sp->nprobe > 0 ? sp->nprobe : 1;
    if (nprobe > f->nlist) nprobe = f->nlist;
    if (nprobe > MAX_NPROBE_HEAP) nprobe = MAX_NPROBE_HEAP;
    /* The nprobe nearest centroids, by the same rule as assignment (a dot-product rank for IP
     * and COS; idx_distance gives 1 - dot there). */
    float pd[MAX_NPROBE_HEAP];
    int64_t pl[MAX_NPROBE_HEAP];
    topk_t probe = {.k = nprobe, .dist = pd, .id = pl};
    for (int l = 0; l < f->nlist; l++)
        topk_push(&probe, idx_distance(x->p.metric, q, f->cent + (size_t)l * (size_t)dim, dim), l);
    float *qr = x->p.type == IDX_IVF ? NULL : malloc((size_t)dim * sizeof *qr);
    float *tab = x->p.type == IDX_IVFPQ
                     ? malloc(2 * (size_t)f->pq.m * (size_t)f->pq.ksub * sizeof *tab)
                     : NULL;
    if ((x->p.type != IDX_IVF && !qr) || (x->p.type == IDX_IVFPQ && !tab)) {
        free(qr);
        free(tab);
        return; /* out of memory: no results rather than wrong ones */
    }
    const size_t per = (size_t)f->pq.m * (size_t)f->pq.ksub;
    /* Re-rank: the scan keeps the best candidates by the codes, named by their entry (list,
     * position), and their kept vectors decide the k answered. */
    topk_t *scan = t, rt = {0};
    if (f->rfin && sp->rerank > t->k) {
        rt.k = sp->rerank < IDX_MAX_RERANK ? sp->rerank : IDX_MAX_RERANK;
        rt.dist = malloc((size_t)rt.k * sizeof *rt.dist);
        rt.id = malloc((size_t)rt.k * sizeof *rt.id);
        if (!rt.dist || !rt.id) {
            free(rt.dist), free(rt.id), free(qr), free(tab);
            return;
        }
        scan = &rt;
    }
    float *qcb = x->p.type == IDX_IVFPQ && (!l2 || f->pq_term2) ? tab + per : NULL;
    if (qcb) pq_tables(&f->pq, q, 1, qcb); /* q . codeword: once per query */
    for (int p = 0; p < probe.n; p++) {
        int l = (int)pl[p];
        const float *c = f->cent + (size_t)l * (size_t)dim;
        const int64_t *ids;
        const uint8_t *codes;
        int64_t n = list_of(f, l, &ids, &codes);
        if (!n) continue;
        if (x->p.type == IDX_IVF) {
            for (int64_t i = 0; i < n; i++)
                if (idx_keeps(sp, ids[i]))
                    topk_push(t,
                              idx_distance(x->p.metric, q,
                                           (const float *)(codes + (size_t)i * f->code_size), dim),
                              ids[i]);
            continue;
        }
        /* Residual codes: L2 compares q - c with the residual; IP adds q . c to q . residual. */
        float qc = l2 ? 0 : kern_dot_f32(q, c, dim);
        if (l2 && (x->p.type == IDX_IVFSQ || !f->pq_term2))
            for (int d = 0; d < dim; d++) qr[d] = q[d] - c[d];
        if (x->p.type == IDX_IVFSQ) {
            for (int64_t i = 0; i < n; i++) {
                if (!idx_keeps(sp, ids[i])) continue;
                const uint8_t *code = codes + (size_t)i * f->code_size;
                float d = l2 ? sq8_l2(f->sq_min, f->sq_diff, dim, qr, code)
                             : 1 - (qc + sq8_dot(f->sq_min, f->sq_diff, dim, q, code));
                topk_push(t, d, ids[i]);
            }
        } else {
            float base; /* what every code of this list adds */
            if (l2 && f->pq_term2) {
                const float *t2 = f->pq_term2 + (size_t)l * per;
                for (size_t e = 0; e < per; e++) tab[e] = t2[e] - 2 * qcb[e];
                base = pd[p]; /* |q - c_l|^2 */
            } else if (l2) {
                pq_tables(&f->pq, qr, 0, tab);
                base = 0;
            } else {
                memcpy(tab, qcb, per * sizeof *tab);
                base = 0;
            }
            for (int64_t i = 0; i < n; i++) {
                if (!idx_keeps(sp, ids[i])) continue;
                float s = base + pq_adc(tab, codes + (size_t)i * f->code_size, f->pq.m, f->pq.ksub);
                topk_push(scan, l2 ? s : 1 - (qc + s), scan == t ? ids[i] : ENTRY(p, i));
            }
        }
    }
    for (int e = 0; e < rt.n; e++) {
        int p = (int)(rt.id[e] >> ENTRY_BITS);
        int64_t i = rt.id[e] & (((int64_t)1 << ENTRY_BITS) - 1);
        const int64_t *ids;
        const uint8_t *codes;
        list_of(f, (int)pl[p], &ids, &codes);
        memcpy(qr, codes + (size_t)i * f->code_size + f->pq.m, (size_t)dim * sizeof *qr);
        topk_push(t, idx_distance(x->p.metric, q, qr, dim), ids[i]);
    }
    free(rt.dist);
    free(rt.id);
    free(qr);
    free(tab);
}

static void free_pack(ivf_t *f)
{
    free(f->pack_loff);
    free(f->pack_ids);
    free(f->pack_codes);
    f->pack_loff = NULL, f->pack_ids = NULL, f->pack_codes = NULL;
}

static int ivf_sections(const idx_t *x, ixf_section_t *s)
{
    ivf_t *f = ivf_of(x);
    /* The lists back to back, as the file holds them (kept until the next save or the end). */
    static const char empty[1];
    size_t n = (size_t)x->count;
    free_pack(f);
    uint64_t *loff = f->pack_loff = malloc(((size_t)f->nlist + 1) * sizeof *loff);
    int64_t *lids = f->pack_ids = malloc((n ? n : 1) * sizeof *lids);
    uint8_t *codes = f->pack_codes = malloc((n ? n : 1) * f->code_size);
    if (!loff || !lids || !codes) {
        free_pack(f);
        return -ENOMEM;
    }
    uint64_t at = 0;
    for (int l = 0; l < f->nlist; l++) {
        const int64_t *li;
        const uint8_t *lc;
        int64_t ln = list_of(f, l, &li, &lc);
        loff[l] = at;
        memcpy(lids + at, li, (size_t)ln * sizeof *lids);
        memcpy(codes + at * f->code_size, lc, (size_t)ln * f->code_size);
        at += (uint64_t)ln;
    }
    loff[f->nlist] = at;
    int k = 0;
    const size_t dim = (size_t)x->p.dim;
    s[k++] = (ixf_section_t){TAG_PARM, f->parm, sizeof f->parm};
    s[k++] = (ixf_section_t){TAG_CENT, f->cent, (size_t)f->nlist * dim * sizeof(float)};
    s[k++] = (ixf_section_t){TAG_LOFF, loff, ((size_t)f->nlist + 1) * sizeof *loff};
    s[k++] = (ixf_section_t){TAG_LIDS, n ? (const void *)lids : empty, n * sizeof *lids};
    s[k++] = (ixf_section_t){TAG_CODE, n ? (const void *)codes : empty, n * f->code_size};
    if (x->p.type == IDX_IVFSQ)
        s[k++] = (ixf_section_t){TAG_SQMM, f->sq_min, 2 * dim * sizeof(float)};
    if (x->p.type == IDX_IVFPQ)
        s[k++] = (ixf_section_t){TAG_PQCB, f->pq.cb, (dim << f->pq.nbits) * sizeof(float)};
    if (f->rfin) s[k++] = (ixf_section_t){TAG_RFIN, &f->rfin, sizeof f->rfin};
    return k;
}

/* The section tag's data if it holds exactly bytes, else NULL. */
static const void *exact(const ixf_t *file, uint32_t tag, uint64_t bytes)
{
    const ixf_section_t *sec = ixf_find(file, tag);
    return sec && sec->bytes == bytes ? sec->data : NULL;
}

static int ivf_load(idx_t *x, const ixf_t *file, char *err, size_t errlen)
{
    const uint32_t *parm = exact(file, TAG_PARM, 3 * sizeof(uint32_t));
    if (!parm) return snprintf(err, errlen, "an IVF index needs a PARM section"), -EINVAL;
    x->p.nlist = (int)(parm[0] <= IDX_MAX_NLIST ? parm[0] : 0);
    x->p.pq_m = (int)(parm[1] <= (uint32_t)x->p.dim ? parm[1] : 0);
    x->p.pq_bits = (int)(parm[2] <= 8 ? parm[2] : 0);
    /* The centroids must be in the file before init allocates for nlist of them: a header's
     * nlist alone could ask for gigabytes (fuzz_index_file). */
    const ixf_section_t *cs = ixf_find(file, TAG_CENT);
    if (!cs || cs->bytes != (uint64_t)x->p.nlist * (uint64_t)x->p.dim * sizeof(float))
        return snprintf(err, errlen, "the CENT section does not hold %d centroids of dimension %d",
                        x->p.nlist, x->p.dim),
               -EINVAL;
    const uint32_t *rfin = exact(file, TAG_RFIN, sizeof(uint32_t));
    if (ixf_find(file, TAG_RFIN) && (!rfin || *rfin != 1 || x->p.type != IDX_IVFPQ))
        return snprintf(err, errlen, "an RFIN section is one u32 1, in IVF-PQ indexes only"),
               -EINVAL;
    x->p.refine = rfin != NULL;
    int rc = ivf_init(x, err, errlen); /* checks them, as for a new index */
    if (rc) return rc;
    ivf_t *f = ivf_of(x);
    /* Point into the file instead of the arrays init made. */
    free(f->cent), free(f->sq_min), free(f->pq.cb), free(f->lists);
    f->cent = NULL, f->sq_min = f->sq_diff = NULL, f->pq.cb = NULL, f->lists = NULL;
    const uint64_t n = (uint64_t)x->count, dim = (uint64_t)x->p.dim, nl = (uint64_t)f->nlist;
    f->cent = (float *)exact(file, TAG_CENT, nl * dim * sizeof(float));
    f->loff = exact(file, TAG_LOFF, (nl + 1) * sizeof(uint64_t));
    f->lids = n <= UINT64_MAX / 8 ? exact(file, TAG_LIDS, n * sizeof(int64_t)) : NULL;
    f->lcodes = n <= UINT64_MAX / f->code_size ? exact(file, TAG_CODE, n * f->code_size) : NULL;
    bool ok = f->cent && f->loff && f->lids && f->lcodes;
    if (ok && x->p.type == IDX_IVFSQ) {
        f->sq_min = (float *)exact(file, TAG_SQMM, 2 * dim * sizeof(float));
        f->sq_diff = f->sq_min ? f->sq_min + dim : NULL;
        ok = f->sq_min != NULL;
    }
    if (ok && x->p.type == IDX_IVFPQ) {
        f->pq.cb = (float *)exact(file, TAG_PQCB, (dim << f->pq.nbits) * sizeof(float));
        ok = f->pq.cb != NULL && pq_prepare(&f->pq) == 0;
        if (ok) make_term2(x, f);
    }
    /* The lists must tile [0, n) in order, and PQ codes index their tables. */
    for (uint64_t l = 0; ok && l < nl; l++) ok = f->loff[l] <= f->loff[l + 1];
    ok = ok && f->loff[0] == 0 && f->loff[nl] == n;
    if (ok && x->p.type == IDX_IVFPQ && f->pq.ksub < 256)
        for (uint64_t i = 0; ok && i < n; i++)
            for (int j = 0; ok && j < f->pq.m; j++)
                ok = f->lcodes[i * f->code_size + j] < f->pq.ksub;
    if (!ok) {
        f->loff = NULL; /* nothing of the file is freed */
        f->cent = NULL, f->sq_min = NULL, f->pq.cb = NULL;
        return snprintf(err, errlen,
                        "the IVF sections do not fit %llu vectors of dimension %llu "
                        "in %llu lists",
                        (unsigned long long)n, (unsigned long long)dim, (unsigned long long)nl),
               -EINVAL;
    }
    x->trained = true;
    return 0;
}

static size_t ivf_bytes(const idx_t *x)
{
    const ivf_t *f = ivf_of(x);
    size_t b = (size_t)f->nlist * (size_t)x->p.dim * sizeof(float);
    for (int l = 0; !f->loff && l < f->nlist; l++)
        b += (size_t)f->lists[l].cap * (sizeof(int64_t) + f->code_size);
    if (f->pq.cb) b += ((size_t)x->p.dim << f->pq.nbits) * sizeof(float);
    return b;
}

static void ivf_free(idx_t *x)
{
    ivf_t *f = ivf_of(x);
    if (!f) return;
    if (!f->loff) { /* built in memory: it owns its arrays */
        for (int l = 0; f->lists && l < f->nlist; l++) {
            free(f->lists[l].ids);
            free(f->lists[l].codes);
        }
        free(f->lists);
        free(f->cent);
        free(f->sq_min);
        free(f->pq.cb);
    }
    free_pack(f);
    free(f->pq_term2);
    pq_release(&f->pq);
    free(f);
}

const idx_ops_t idx_ivf_ops = {.init = ivf_init,
                               .train = ivf_train,
                               .add = ivf_add,
                               .remove = ivf_remove,
                               .search = ivf_search,
                               .sections = ivf_sections,
                               .load = ivf_load,
                               .bytes = ivf_bytes,
                               .free = ivf_free};
