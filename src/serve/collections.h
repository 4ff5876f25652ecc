/* Vector collections: named sets of points (an int64 id, a float32 vector, an optional JSON
 * payload) searched by similarity through an index of src/index. Every change is a row of the
 * store's points table (store/points.h), applied to memory once the store has acknowledged it
 * and in the order the store took the rows, so memory and the store agree; at start the table
 * is replayed. Without a store, collections live in memory only.
 *
 * Changes answer through done(arg, code, msg), exactly once, possibly on another thread (after
 * the store's acknowledgement): code 0, or util/err.h's code with its message. Searches and
 * reads answer at once.
 *
 * Threads: every call is thread-safe. Searches of a collection run concurrently; a change
 * waits for them and they wait for it (one lock per collection). */
#ifndef INFERD_SERVE_COLLECTIONS_H
#define INFERD_SERVE_COLLECTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "index/index.h"
#include "serve/serve.h"
#include "util/durability.h"

#define COLL_NAME_MAX 64 /* bytes of a collection name: [A-Za-z0-9_-] */

typedef struct colls colls_t;

typedef struct colls_limits {
    int max_dim;    /* a collection's dimension at most (default 4096) */
    int max_points; /* points in one upsert (default 10000) */
    int max_k;      /* results of one search (default 1000) */
    int max_colls;  /* collections (default 1000) */
} colls_limits_t;

/* A collection's settings: p's type, metric, dim and kind parameters (threads, seed and
 * progress are not settings); train_size: IVF kinds are searched exactly until this many points
 * exist, then trained on them (0: 39 x nlist, at least 1,000). */
typedef struct coll_spec {
    idx_params_t p;
    int64_t train_size;
} coll_spec_t;

typedef struct coll_info {
    coll_spec_t spec;
    int64_t points;  /* live points */
    int64_t deleted; /* slots of deleted or replaced points (reclaimed at the next start) */
    bool trained;    /* IVF kinds: the index is built (else searches are exact) */
    size_t bytes;    /* memory: index, vectors, payloads */
} coll_info_t;

/* One payload condition of a filter: the payload's top-level member key equals the value. */
typedef enum coll_match_type { CM_STRING, CM_NUMBER, CM_BOOL, CM_NULL } coll_match_type_t;
typedef struct coll_match {
    const char *key;
    size_t key_len;
    coll_match_type_t type;
    const char *s; /* CM_STRING */
    size_t s_len;
    double num; /* CM_NUMBER */
    bool b;     /* CM_BOOL */
} coll_match_t;

typedef struct coll_query {
    const float *vector; /* dim floats, or NULL to search by id */
    int dim;             /* floats in vector: must be the collection's */
    int64_t id;          /* with vector NULL: the point whose vector is the query (not answered) */
    int k;
    int ef, nprobe;     /* 0 = the index's default */
    int rerank;         /* ivfpq with refine: candidates re-ranked exactly (0: none) */
    const int64_t *ids; /* filter: only these point ids (nids of them; NULL = any) */
    int nids;
    const coll_match_t *match; /* filter: payloads with every one of these (nmatch) */
    int nmatch;
} coll_query_t;

/* One search result: the point's id, its score (L2: the squared distance, lower is nearer; IP:
 * the dot product; COS: the cosine similarity), its payload's JSON text (NULL: none). */
typedef int (*coll_hit_fn)(void *arg, int64_t id, float score, const char *payload, size_t len);
typedef void (*coll_done_fn)(void *arg, int code, const char *msg);

/* Borrows sv (its store, if any, persists the collections; its pool runs the work that follows
 * an acknowledgement). lim may be NULL (defaults). NULL on out-of-memory. */
colls_t *colls_new(serve_t *sv, const colls_limits_t *lim, durability_t d);
/* Starts replaying the points table on a thread of its own (without a store: ready at once).
 * 0 or -errno. */
int colls_start(colls_t *c);
/* Stops the replay thread (it reads the store: call before the store closes). Idempotent;
 * NULL is a no-op. */
void colls_stop(colls_t *c);
/* Stops the replay thread and frees everything. Changes still waiting for the store must have
 * been answered: call after the store has closed. */
void colls_free(colls_t *c);
/* Whether requests can be served: false while the points table is being replayed (why says how
 * far it is) or could not be read (why says why; the replay is retried). */
bool colls_ready(colls_t *c, char *why, size_t len);
const colls_limits_t *colls_limits(const colls_t *c);

/* Creates collection name with spec: done(arg, 0) once stored, or at once with 0 and *existed
 * set when it exists with the same settings (409 ERR_CONFLICT when they differ). */
void colls_create(colls_t *c, const char *name, const coll_spec_t *spec, bool *existed,
                  coll_done_fn done, void *arg);
/* Drops a collection and its points. */
void colls_drop(colls_t *c, const char *name, coll_done_fn done, void *arg);
/* Adds or replaces n points: ids, vectors (n x dim floats, dim the collection's), payloads (JSON
 * texts of payload_lens bytes; NULL or a NULL entry: none). Copies what it needs before it returns.
 */
void colls_upsert(colls_t *c, const char *name, int n, int dim, const int64_t *ids,
                  const float *vecs, const char *const *payloads, const size_t *payload_lens,
                  coll_done_fn done, void *arg);
/* Deletes point id (404 when there is none). */
void colls_delete(colls_t *c, const char *name, int64_t id, coll_done_fn done, void *arg);

/* Searches collection name: hit() for each result, nearest first (hit may stop it by returning
 * non-zero: that is returned). 0, or a code with the message in err. */
int colls_search(colls_t *c, const char *name, const coll_query_t *q, coll_hit_fn hit, void *arg,
                 char *err, size_t errlen);
/* A collection's settings and counts. 0 or ERR_NOT_FOUND with the message in err. */
int colls_info(colls_t *c, const char *name, coll_info_t *out, char *err, size_t errlen);
/* Calls fn for every collection, in name order; fn must not call colls_*. */
void colls_each(colls_t *c, void (*fn)(void *arg, const char *name, const coll_info_t *info),
                void *arg);

/* A collection's settings from JSON text, the PUT /collections/{c} body and the shape the
 * points table keeps: {"dim", "metric": "l2"|"ip"|"cos" (default cos), "index": {"type":
 * "flat"|"ivf"|"ivfsq"|"ivfpq"|"hnsw" (default hnsw), "m", "ef_construction", "nlist",
 * "pq_m", "pq_bits", "train_size"}}, checked against lim (NULL: defaults) and by idx_new.
 * 0 or ERR_INVALID with the problem in err. */
int coll_spec_parse(const char *text, size_t len, const colls_limits_t *lim, coll_spec_t *out,
                    char *err, size_t errlen);
/* Appends spec as coll_spec_parse reads it (every setting spelled out). 0 or -ENOMEM. */
struct buf;
int coll_spec_json(const coll_spec_t *spec, struct buf *b);

#endif
