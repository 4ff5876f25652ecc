/* Vector indexes: nearest-neighbour search over float32 vectors with int64 ids. One interface for
 * every kind, chosen by idx_params_t.type: flat.c (exact), ivf.c (IVF with flat, SQ8 or PQ
 * codes in its lists; trained before vectors are added), hnsw.c (a navigable small-world
 * graph).
 * Distances are "lower is nearer" whatever the metric: L2 is the squared Euclidean distance, IP
 * is 1 - a.b, COS is 1 - cos(a, b) (vectors are normalised when added and when searched, so
 * COS is IP on unit vectors). Saved indexes are one file (format.h); a loaded index maps it.
 *
 * Threads: any function may run on any thread at any time. Searches run at once on many
 * threads. Changes (idx_add, idx_remove, idx_train) run one at a time, beside the searches:
 * Flat and HNSW searches go on while vectors are added and wait only while the arrays grow
 * (FAISS and hnswlib leave this to the caller); on IVF kinds a change waits for running
 * searches and holds new ones until it is done. A search sees a batch of adds whole or not
 * at all. */
#ifndef INFERD_INDEX_INDEX_H
#define INFERD_INDEX_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum idx_metric { IDX_L2 = 0, IDX_IP = 1, IDX_COS = 2 } idx_metric_t;
typedef enum idx_type {
    IDX_FLAT = 1,
    IDX_IVF = 2,
    IDX_IVFSQ = 3,
    IDX_IVFPQ = 4,
    IDX_HNSW = 5
} idx_type_t;

#define IDX_MAX_DIM    65536
#define IDX_MAX_K      100000
#define IDX_MAX_RERANK 100000

/* Reports progress of long work: done of total units of the named stage. */
typedef void (*idx_progress_fn)(void *arg, const char *stage, int64_t done, int64_t total);

typedef struct idx_params {
    idx_type_t type;
    idx_metric_t metric;
    int dim;                  /* 1..IDX_MAX_DIM */
    int nlist;                /* IVF kinds: inverted lists (coarse centroids), 1..IDX_MAX_NLIST */
    int pq_m;                 /* IVF-PQ: sub-quantizers, dividing dim */
    int pq_bits;              /* IVF-PQ: bits per sub-quantizer code, 1..8 (default 8) */
    bool refine;              /* IVF-PQ: keep every vector too, for an exact re-rank (FAISS's
                                 IndexRefineFlat): dim x 4 more bytes a vector */
    int hnsw_m;               /* HNSW: links per node above layer 0 (2x on it), 2..IDX_MAX_M
                                 (default 16) */
    int ef_construction;      /* HNSW: candidates while inserting (default 40, as FAISS) */
    int threads;              /* for training and adding (default 1) */
    uint64_t seed;            /* training's sampling and k-means starts (0: a fixed default) */
    idx_progress_fn progress; /* optional, with progress_arg */
    void *progress_arg;
} idx_params_t;

#define IDX_MAX_NLIST 1000000
#define IDX_MAX_M     256

/* Per-search knobs of the approximate kinds (0 = the index's default); flat ignores them. */
typedef struct idx_search_params {
    int ef;     /* HNSW: candidates kept while searching (default 16, as FAISS; at least k) */
    int nprobe; /* IVF: lists searched (default 1, as FAISS) */
    int rerank; /* IVF-PQ built with refine: this many candidates by the codes (when more than
                   k, at most IDX_MAX_RERANK), then the k nearest by exact distance */
    /* Optional filter: only ids for which keep(keep_arg, id) is true are answered. HNSW still
     * walks through the others, so a filter that keeps few ids makes it visit more nodes. */
    bool (*keep)(void *keep_arg, int64_t id);
    void *keep_arg;
} idx_search_params_t;

/* What idx_info reports. */
typedef struct idx_info {
    idx_type_t type;
    idx_metric_t metric;
    int dim;
    int64_t count;   /* vectors a search may answer */
    int64_t removed; /* HNSW: removed vectors still held as waypoints of the graph */
    size_t bytes;    /* memory its vectors and structures take (or the mapped file) */
    bool mapped;     /* loaded from a file, read-only */
    int version;     /* loaded: the file's format version */
    bool refine;     /* IVF-PQ keeping its vectors for a re-rank */
} idx_info_t;

typedef struct idx idx_t;

/* "flat" <-> IDX_FLAT, "l2"/"ip"/"cos" <-> IDX_*: -1 for an unknown name. */
int idx_type_parse(const char *s);
int idx_metric_parse(const char *s);
const char *idx_type_name(idx_type_t t);
const char *idx_metric_name(idx_metric_t m);

/* An empty index, or NULL with the problem in err (bad dimension, unknown type or metric, IVF
 * parameters that do not fit). */
idx_t *idx_new(const idx_params_t *p, char *err, size_t errlen);
/* Whether the kind must be trained before vectors are added (IVF kinds). */
bool idx_needs_training(const idx_t *x);
/* Trains on n vectors (a sample is taken when n is larger than training needs): IVF's coarse
 * centroids by k-means, then SQ8 ranges or PQ codebooks on the residuals. 0, or -EINVAL (too
 * few vectors: at least nlist, and 2^pq_bits for PQ; non-finite values) or -ENOMEM with the
 * problem in err. A no-op for kinds that need none. */
int idx_train(idx_t *x, const float *vecs, int64_t n, char *err, size_t errlen);
/* Adds n vectors (n * dim floats) with their ids (NULL: ids continue from the count). 0,
 * -EINVAL for a non-finite value (naming the row), -EROFS for a mapped index, or -ENOMEM. */
int idx_add(idx_t *x, const float *vecs, const int64_t *ids, int64_t n, char *err, size_t errlen);
/* Removes every vector added with id: searches no longer answer it (Flat and IVF drop it;
 * HNSW keeps the node as a waypoint, marked removed, and saves the mark). Returns how many
 * were removed (0: none had id), or -EROFS for a mapped index or -ENOMEM, with err set. Each
 * call scans the ids: for many removals at once, filter searches instead (keep). */
int64_t idx_remove(idx_t *x, int64_t id, char *err, size_t errlen);
/* The k nearest vectors to q (dim floats): fills ids[0..r) and dists[0..r), nearest first (ties
 * by id), r = min(k, count); returns r, or -EINVAL for a non-finite query or k < 1. */
int idx_search(const idx_t *x, const float *q, int k, const idx_search_params_t *sp, int64_t *ids,
               float *dists);
/* The k nearest vectors to each of nq queries (nq x dim floats): query i's results in
 * ids[i * k ..] and dists[i * k ..], counts[i] of them (the rest unset), as idx_search gives
 * them. Flat answers a batch without a filter with matrix products (FAISS's way: near-ties may
 * order differently from idx_search). 0, -EINVAL for k < 1 or a non-finite query (its index in
 * *bad), or -ENOMEM. */
int idx_search_batch(const idx_t *x, const float *q, int64_t nq, int k,
                     const idx_search_params_t *sp, int64_t *ids, float *dists, int *counts,
                     int64_t *bad);
/* Writes the index to path (a temporary name, fsynced, renamed, directory fsynced). 0 or -errno
 * with the problem in err. */
int idx_save(const idx_t *x, const char *path, char *err, size_t errlen);
/* Maps and checks an index file (format.h: magic, version, checksums, every size against the
 * file's); NULL with the problem in err for anything else. */
idx_t *idx_load(const char *path, char *err, size_t errlen);
/* Same from fd, a regular file open for reading (not closed). */
idx_t *idx_load_fd(int fd, char *err, size_t errlen);
/* An index over a parsed file (format.h), which it takes over (and unmaps at idx_free, or at
 * once on failure): the header's kind must be known and the sections must fit it. NULL with
 * the problem in err. */
struct ixf;
idx_t *idx_from_file(struct ixf *f, char *err, size_t errlen);
void idx_get_info(const idx_t *x, idx_info_t *out);
void idx_free(idx_t *x);

#endif
