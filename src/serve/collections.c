/* Collections: points in slots (vector, payload, id), an index over slot numbers, and the log of
 * changes. A change is checked, written to the points table, and applied to memory by whoever
 * drains the queue of changes once the store has acknowledged it: the queue is in the order the
 * store took the rows, so memory applies them in the order a replay will. A replaced or deleted
 * point's slot is only marked dead (searches skip it) until the next start compacts it away. */
#include "serve/collections.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics/metrics.h"
#include "serve/serve_internal.h"
#include "store/points.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/i64map.h"
#include "util/json.h"
#include "util/log.h"

#define DEF_M        16
#define DEF_EFC      40
#define MIN_TRAIN    1000
#define LOAD_WAIT_MS 60000 /* for the sink to catch up with the journal at start */

/* ================================================================== one collection ==== */

typedef struct coll {
    char name[COLL_NAME_MAX + 1];
    coll_spec_t spec;
    pthread_rwlock_t lk;
    idx_t *ix;    /* over slot numbers; for IVF kinds a flat index until trained */
    bool trained; /* ix is the kind's own index */
    int64_t n, cap, live;
    _Atomic int64_t live_pub; /* live, for /metrics without the lock */
    int64_t *pid;             /* slot -> point id */
    float *vec;               /* slot -> vector */
    char **pay;               /* slot -> payload JSON or NULL */
    size_t *plen;             /* its length */
    uint8_t *dead;            /* slot replaced or deleted */
    bool deferred; /* replaying: slots only; the index is built once at the end (coll_rebuild) */
    size_t pay_bytes;
    i64map_t map; /* point id -> live slot */
} coll_t;

static idx_params_t first_index(const coll_spec_t *s)
{
    idx_params_t p = s->p;
    if (p.type != IDX_FLAT && p.type != IDX_HNSW)
        p = (idx_params_t){.type = IDX_FLAT, .metric = p.metric, .dim = p.dim};
    return p;
}

static coll_t *coll_new(const char *name, const coll_spec_t *spec, char *err, size_t errlen)
{
    coll_t *k = calloc(1, sizeof *k);
    if (!k) return err_set(err, errlen, "out of memory"), NULL;
    snprintf(k->name, sizeof k->name, "%s", name);
    k->spec = *spec;
    idx_params_t p = first_index(spec);
    k->ix = idx_new(&p, err, errlen);
    if (!k->ix) return free(k), NULL;
    k->trained = p.type == spec->p.type;
    pthread_rwlockattr_t a;
    pthread_rwlockattr_init(&a);
    /* Changes must not starve behind a steady stream of searches. */
    pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&k->lk, &a);
    pthread_rwlockattr_destroy(&a);
    return k;
}

static void coll_free(coll_t *k)
{
    if (!k) return;
    idx_free(k->ix);
    for (int64_t i = 0; i < k->n; i++) free(k->pay[i]);
    free(k->pid);
    free(k->vec);
    free(k->pay);
    free(k->plen);
    free(k->dead);
    i64map_free(&k->map);
    pthread_rwlock_destroy(&k->lk);
    free(k);
}

static int grow_slots(coll_t *k, int64_t need)
{
    if (need <= k->cap) return 0;
    int64_t cap = k->cap ? k->cap : 64;
    while (cap < need) cap *= 2;
    size_t dim = (size_t)k->spec.p.dim, c = (size_t)cap;
    int64_t *pid = realloc(k->pid, c * sizeof *pid);
    if (pid) k->pid = pid;
    float *vec = pid ? realloc(k->vec, c * dim * sizeof *vec) : NULL;
    if (vec) k->vec = vec;
    char **pay = vec ? realloc(k->pay, c * sizeof *pay) : NULL;
    if (pay) k->pay = pay;
    size_t *plen = pay ? realloc(k->plen, c * sizeof *plen) : NULL;
    if (plen) k->plen = plen;
    uint8_t *dead = plen ? realloc(k->dead, c) : NULL;
    if (dead) k->dead = dead;
    if (!dead) return -ENOMEM;
    k->cap = cap;
    return 0;
}

static void kill_slot(coll_t *k, int64_t s)
{
    k->dead[s] = 1;
    k->live--;
    k->pay_bytes -= k->plen[s];
    free(k->pay[s]);
    k->pay[s] = NULL, k->plen[s] = 0;
}

/* IVF kinds: once enough points exist, trains the kind's index on the live ones and moves
 * every live slot into it. A failure keeps the exact index (logged). The applying thread's
 * (see coll_upsert): searches go on in the old index while the new one is built. */
static void maybe_train(coll_t *k)
{
    if (k->trained || k->live < k->spec.train_size) return;
    size_t dim = (size_t)k->spec.p.dim;
    float *v = malloc((size_t)k->live * dim * sizeof *v);
    int64_t *slots = malloc((size_t)k->live * sizeof *slots);
    char err[256] = "out of memory";
    idx_t *x = v && slots ? idx_new(&k->spec.p, err, sizeof err) : NULL;
    int64_t m = 0;
    for (int64_t s = 0; x && s < k->n; s++)
        if (!k->dead[s]) {
            memcpy(v + (size_t)m * dim, k->vec + (size_t)s * dim, dim * sizeof *v);
            slots[m++] = s;
        }
    log_info("collection %s: training %s on %lld points", k->name, idx_type_name(k->spec.p.type),
             (long long)m);
    if (x && (idx_train(x, v, m, err, sizeof err) || idx_add(x, v, slots, m, err, sizeof err))) {
        idx_free(x);
        x = NULL;
    }
    free(v);
    free(slots);
    pthread_rwlock_wrlock(&k->lk);
    idx_t *old = x ? k->ix : NULL;
    if (x) {
        k->ix = x;
        k->trained = true;
    } else { /* try again with more points, not on every change */
        k->spec.train_size = k->live * 2;
    }
    pthread_rwlock_unlock(&k->lk);
    idx_free(old); /* no search is inside it: they held the lock the swap took */
    if (!x) log_warn("collection %s: training failed (%s); searches stay exact", k->name, err);
}

/* Adds or replaces n points (their values checked already). 0 or ERR_NOMEM.
 *
 * Only the one thread that applies changes (the drainer, or the loader at start) changes a
 * collection, so it reads k without the lock, and takes it exclusively only to change what
 * searches read. The index gets the vectors beside running searches (index.h): their slots
 * may be answered before they are filled in here, and keep_slot refuses every slot at or past
 * k->n until they are. */
static int coll_upsert(coll_t *k, int n, const int64_t *ids, const float *vecs, char *const *pay,
                       const size_t *plen, char *err, size_t errlen)
{
    size_t dim = (size_t)k->spec.p.dim;
    int64_t *slots = malloc((size_t)n * sizeof *slots);
    pthread_rwlock_wrlock(&k->lk);
    int e = !slots || grow_slots(k, k->n + n);
    pthread_rwlock_unlock(&k->lk);
    if (e) return free(slots), err_fail(err, errlen, ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) slots[i] = k->n + i;
    e = k->deferred ? 0 : idx_add(k->ix, vecs, slots, n, err, errlen);
    free(slots);
    if (e) return e == -ENOMEM ? ERR_NOMEM : ERR_INVALID;
    pthread_rwlock_wrlock(&k->lk);
    for (int i = 0; i < n; i++) {
        int64_t s = k->n++, old;
        if (i64map_get(&k->map, ids[i], &old)) kill_slot(k, old);
        k->pid[s] = ids[i];
        memcpy(k->vec + (size_t)s * dim, vecs + (size_t)i * dim, dim * sizeof *vecs);
        k->pay[s] = NULL, k->plen[s] = 0, k->dead[s] = 0;
        if (pay && pay[i] && (k->pay[s] = malloc(plen[i] + 1))) {
            memcpy(k->pay[s], pay[i], plen[i]);
            k->pay[s][plen[i]] = 0;
            k->plen[s] = plen[i];
            k->pay_bytes += plen[i];
        }
        k->live++;
        if (i64map_put(&k->map, ids[i], s)) { /* the point stays unfindable by id */
            kill_slot(k, s);
            log_error("collection %s: out of memory indexing point %lld", k->name,
                      (long long)ids[i]);
        }
    }
    atomic_store_explicit(&k->live_pub, k->live, memory_order_relaxed);
    pthread_rwlock_unlock(&k->lk);
    if (!k->deferred) maybe_train(k);
    return 0;
}

/* After a replay: drops the dead slots (the history of replaced and deleted points) and builds
 * the index once over the live ones, in slot order (= the order they were last written). */
static int coll_rebuild(coll_t *k, char *err, size_t errlen)
{
    size_t dim = (size_t)k->spec.p.dim;
    int64_t m = 0;
    int e = 0;
    pthread_rwlock_wrlock(&k->lk); /* GET /collections may look while this loads */
    i64map_free(&k->map);
    for (int64_t s = 0; s < k->n && !e; s++) {
        if (k->dead[s]) continue;
        k->pid[m] = k->pid[s], k->pay[m] = k->pay[s], k->plen[m] = k->plen[s], k->dead[m] = 0;
        memmove(k->vec + (size_t)m * dim, k->vec + (size_t)s * dim, dim * sizeof *k->vec);
        if (i64map_put(&k->map, k->pid[m], m))
            e = err_fail(err, errlen, ERR_NOMEM, "out of memory");
        m++;
    }
    if (!e) {
        k->n = k->live = m;
        k->deferred = false;
        atomic_store_explicit(&k->live_pub, m, memory_order_relaxed);
    }
    pthread_rwlock_unlock(&k->lk);
    if (e) return e;
    idx_params_t p = first_index(&k->spec);
    idx_t *x = idx_new(&p, err, errlen);
    int64_t *slots = malloc((size_t)(m ? m : 1) * sizeof *slots);
    if (!x || !slots) {
        idx_free(x);
        free(slots);
        return x ? err_fail(err, errlen, ERR_NOMEM, "out of memory") : ERR_NOMEM;
    }
    for (int64_t s = 0; s < m; s++) slots[s] = s;
    if (m) log_info("collection %s: indexing %lld points", k->name, (long long)m);
    e = m ? idx_add(x, k->vec, slots, m, err, errlen) : 0;
    free(slots);
    if (e) {
        idx_free(x);
        return e == -ENOMEM ? ERR_NOMEM : ERR_INVALID;
    }
    pthread_rwlock_wrlock(&k->lk);
    idx_t *old = k->ix;
    k->ix = x;
    k->trained = p.type == k->spec.p.type;
    pthread_rwlock_unlock(&k->lk);
    idx_free(old);
    maybe_train(k);
    return 0;
}

static bool coll_delete(coll_t *k, int64_t id)
{
    int64_t s;
    if (!i64map_get(&k->map, id, &s)) return false;
    kill_slot(k, s);
    i64map_del(&k->map, id);
    return true;
}

static bool spec_same(const coll_spec_t *a, const coll_spec_t *b)
{
    return a->p.type == b->p.type && a->p.metric == b->p.metric && a->p.dim == b->p.dim &&
           a->p.nlist == b->p.nlist && a->p.pq_m == b->p.pq_m && a->p.pq_bits == b->p.pq_bits &&
           a->p.refine == b->p.refine && a->p.hnsw_m == b->p.hnsw_m &&
           a->p.ef_construction == b->p.ef_construction && a->train_size == b->train_size;
}

/* =================================================================== the set ==== */

enum { OP_CREATE, OP_UPSERT, OP_DELETE, OP_DROP };
static const char *const op_names[] = {"create", "upsert", "delete", "drop"};
#define OP_PENDING 1

/* A change between its submission and its application. */
typedef struct op {
    struct op *next;
    struct colls *set;
    int kind;
    char name[COLL_NAME_MAX + 1];
    coll_spec_t spec; /* create */
    int n;            /* upsert: points; delete: 1 */
    int dim;          /* upsert: values per vector, checked again when applied */
    int64_t *ids;
    float *vecs;
    char **pay;
    size_t *plen;
    char (*rid)[37]; /* the rows' ids, written by the store */
    int status;      /* OP_PENDING until the store answers; then 0 or an error code */
    char why[256];
    coll_done_fn done;
    void *arg;
} op_t;

struct colls {
    serve_t *sv;
    store_t *store;
    colls_limits_t lim;
    durability_t dur;
    pthread_rwlock_t mu; /* v; taken before any collection's lock */
    coll_t **v;
    int nv;
    pthread_mutex_t submit_mu; /* queue order = the store's order */
    pthread_mutex_t q_mu;      /* head, tail, draining, each op's status */
    op_t *head, *tail;
    bool draining;
    serve_job_t drain_job;
    pthread_t loader;
    bool loader_started;
    _Atomic bool ready, stop;
    _Atomic int64_t replayed;
    pthread_mutex_t why_mu;
    char why[256]; /* the replay's failure, or "" */
    metric_t *m_search, *m_changes, *m_failed;
};

/* The collection called name (v is sorted by name), or NULL; *at: where it is or would go. */
static coll_t *find(const colls_t *c, const char *name, int *at)
{
    int lo = 0, hi = c->nv;
    while (lo < hi) {
        int mid = (lo + hi) / 2, r = strcmp(c->v[mid]->name, name);
        if (r == 0) {
            if (at) *at = mid;
            return c->v[mid];
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (at) *at = lo;
    return NULL;
}

static int apply_create(colls_t *c, const char *name, const coll_spec_t *spec, char *err,
                        size_t errlen)
{
    pthread_rwlock_wrlock(&c->mu);
    int at, e = 0;
    coll_t *k = find(c, name, &at);
    if (k) {
        if (!spec_same(&k->spec, spec))
            e = err_fail(err, errlen, ERR_CONFLICT,
                         "collection \"%s\" exists with other settings; drop it first", name);
    } else if (!(k = coll_new(name, spec, err, errlen))) {
        e = ERR_NOMEM;
    } else {
        k->deferred = !atomic_load(&c->ready); /* a replay: the index is built at its end */
        coll_t **v = realloc(c->v, (size_t)(c->nv + 1) * sizeof *v);
        if (!v) {
            coll_free(k);
            e = err_fail(err, errlen, ERR_NOMEM, "out of memory");
        } else {
            c->v = v;
            memmove(v + at + 1, v + at, (size_t)(c->nv - at) * sizeof *v);
            v[at] = k;
            c->nv++;
        }
    }
    pthread_rwlock_unlock(&c->mu);
    return e;
}

static int apply_drop(colls_t *c, const char *name, char *err, size_t errlen)
{
    pthread_rwlock_wrlock(&c->mu);
    int at;
    coll_t *k = find(c, name, &at);
    if (k) {
        memmove(c->v + at, c->v + at + 1, (size_t)(c->nv - at - 1) * sizeof *c->v);
        c->nv--;
        pthread_rwlock_wrlock(&k->lk); /* searches still inside it finish first */
        pthread_rwlock_unlock(&k->lk);
    }
    pthread_rwlock_unlock(&c->mu);
    coll_free(k);
    return k ? 0 : err_fail(err, errlen, ERR_NOT_FOUND, "no collection \"%s\"", name);
}

/* The collection called name, write-locked (or read-locked), or NULL with 404's message. */
static coll_t *lock_coll(colls_t *c, const char *name, bool write, char *err, size_t errlen)
{
    pthread_rwlock_rdlock(&c->mu);
    coll_t *k = find(c, name, NULL);
    if (k) {
        if (write)
            pthread_rwlock_wrlock(&k->lk);
        else
            pthread_rwlock_rdlock(&k->lk);
    } else {
        err_set(err, errlen, "no collection \"%s\"", name);
    }
    pthread_rwlock_unlock(&c->mu);
    return k;
}

static int apply_upsert(colls_t *c, const char *name, int n, int dim, const int64_t *ids,
                        const float *vecs, char *const *pay, const size_t *plen, char *err,
                        size_t errlen)
{
    /* Unlocked (coll_upsert locks what it must): k stays valid, as only this thread, the one
     * applying changes, drops collections. */
    pthread_rwlock_rdlock(&c->mu);
    coll_t *k = find(c, name, NULL);
    pthread_rwlock_unlock(&c->mu);
    if (!k) return err_fail(err, errlen, ERR_NOT_FOUND, "no collection \"%s\"", name);
    if (k->spec.p.dim != dim) /* dropped and created again since the change was checked */
        return err_fail(err, errlen, ERR_CONFLICT,
                        "collection \"%s\" was created again with %d values per vector", name,
                        k->spec.p.dim);
    return coll_upsert(k, n, ids, vecs, pay, plen, err, errlen);
}

static int apply_delete(colls_t *c, const char *name, int64_t id, char *err, size_t errlen)
{
    coll_t *k = lock_coll(c, name, true, err, errlen);
    if (!k) return ERR_NOT_FOUND;
    bool had = coll_delete(k, id);
    atomic_store_explicit(&k->live_pub, k->live, memory_order_relaxed);
    pthread_rwlock_unlock(&k->lk);
    return had ? 0
               : err_fail(err, errlen, ERR_NOT_FOUND, "no point %lld in collection \"%s\"",
                          (long long)id, name);
}

/* ============================================================ changes, in order ==== */

static void op_free(op_t *op)
{
    for (int i = 0; op->pay && i < op->n; i++) free(op->pay[i]);
    free(op->pay);
    free(op->plen);
    free(op->ids);
    free(op->vecs);
    free(op->rid);
    free(op);
}

static void apply_op(colls_t *c, op_t *op)
{
    int e = op->status;
    if (!e) {
        switch (op->kind) {
        case OP_CREATE: e = apply_create(c, op->name, &op->spec, op->why, sizeof op->why); break;
        case OP_DROP: e = apply_drop(c, op->name, op->why, sizeof op->why); break;
        case OP_UPSERT:
            e = apply_upsert(c, op->name, op->n, op->dim, op->ids, op->vecs, op->pay, op->plen,
                             op->why, sizeof op->why);
            break;
        default: e = apply_delete(c, op->name, op->ids[0], op->why, sizeof op->why);
        }
    }
    metric_add(e ? c->m_failed : c->m_changes, 1);
    op->done(op->arg, e, op->why);
    op_free(op);
}

/* Applies the changes at the head of the queue whose rows the store has answered for, in
 * order, until the head is still waiting. One drainer at a time. */
static void drain(colls_t *c)
{
    for (;;) {
        pthread_mutex_lock(&c->q_mu);
        op_t *op = c->head;
        if (!op || op->status == OP_PENDING) {
            c->draining = false;
            pthread_mutex_unlock(&c->q_mu);
            return;
        }
        c->head = op->next;
        if (!c->head) c->tail = NULL;
        pthread_mutex_unlock(&c->q_mu);
        apply_op(c, op);
    }
}

static void drain_job(serve_job_t *job, const serve_worker_t *w)
{
    (void)w;
    drain((colls_t *)((char *)job - offsetof(colls_t, drain_job)));
}

/* Starts a drain if the head is ready and none runs: here (inline), or on the compute pool
 * (the store's thread must not apply changes: it would hold up every commit). */
static void kick(colls_t *c, bool inline_ok)
{
    pthread_mutex_lock(&c->q_mu);
    bool go = !c->draining && c->head && c->head->status != OP_PENDING;
    if (go) c->draining = true;
    pthread_mutex_unlock(&c->q_mu);
    if (!go) return;
    if (inline_ok || serve_submit(c->sv, &c->drain_job, drain_job) != 0) drain(c);
}

/* store_submit_rows' done: on the store's writer thread (durable), or inside the submission. */
static void on_stored(void *arg, int status)
{
    op_t *op = arg;
    colls_t *c = op->set;
    pthread_mutex_lock(&c->q_mu);
    if (status == -EBADMSG)
        err_set(op->why, sizeof op->why, "the store refused the change: %s", store_done_reason());
    else if (status)
        err_set(op->why, sizeof op->why, "the store could not commit the change: %s",
                strerror(-status));
    op->status = status == -EBADMSG ? ERR_REFUSED : status ? ERR_UNAVAILABLE : 0;
    pthread_mutex_unlock(&c->q_mu);
    kick(c, false);
}

/* The error a refused submission answers with. */
static int submit_error(int rc, op_t *op)
{
    switch (rc) {
    case -EAGAIN: return err_fail(op->why, sizeof op->why, ERR_BUSY, "the store's queue is full");
    case -EMSGSIZE:
        return err_fail(op->why, sizeof op->why, ERR_TOO_LARGE,
                        "the change is larger than the store's queue holds (store_queue_records)");
    case -ESHUTDOWN: return err_fail(op->why, sizeof op->why, ERR_SHUTDOWN, "shutting down");
    case -ENOMEM: return err_fail(op->why, sizeof op->why, ERR_NOMEM, "out of memory");
    default:
        return err_fail(op->why, sizeof op->why, ERR_UNAVAILABLE, "the store cannot write: %s",
                        strerror(-rc));
    }
}

/* Queues op and writes its nrows rows (values of the points table, ids pointing at op->rid);
 * op is applied (or failed) and answered in queue order. */
static void submit(colls_t *c, op_t *op, store_value_t *rows, int nrows)
{
    op->set = c;
    op->status = OP_PENDING;
    pthread_mutex_lock(&c->submit_mu);
    pthread_mutex_lock(&c->q_mu);
    if (c->tail)
        c->tail->next = op;
    else
        c->head = op;
    c->tail = op;
    pthread_mutex_unlock(&c->q_mu);
    int rc = c->store ? store_submit_rows(c->store, &store_table_points, rows, nrows, c->dur,
                                          on_stored, op)
                      : 0;
    if (rc || !c->store) {
        pthread_mutex_lock(&c->q_mu);
        op->status = rc ? submit_error(rc, op) : 0;
        pthread_mutex_unlock(&c->q_mu);
    }
    pthread_mutex_unlock(&c->submit_mu);
    kick(c, true);
}

static op_t *op_new(int kind, const char *name, int n, coll_done_fn done, void *arg)
{
    op_t *op = calloc(1, sizeof *op);
    if (!op) return NULL;
    op->kind = kind, op->n = n, op->done = done, op->arg = arg;
    snprintf(op->name, sizeof op->name, "%s", name);
    op->rid = calloc((size_t)(n ? n : 1), sizeof *op->rid);
    if (n) op->ids = calloc((size_t)n, sizeof *op->ids);
    if (!op->rid || (n && !op->ids)) {
        op_free(op);
        return NULL;
    }
    return op;
}

/* The row every change starts from: its collection and operation; the rest null. */
static void row_init(store_value_t *row, op_t *op, int i)
{
    for (int j = 0; j < POINT_NCOLS; j++) row[j] = (store_value_t){.null = true};
    row[POINT_ID] = (store_value_t){.s = op->rid[i], .len = 36};
    row[POINT_TS] = (store_value_t){0};
    row[POINT_COLLECTION] = (store_value_t){.s = op->name, .len = strlen(op->name)};
    row[POINT_OP] = (store_value_t){.s = op_names[op->kind], .len = strlen(op_names[op->kind])};
}

/* ================================================================ the interface ==== */

static double gauge_collections(void *arg)
{
    colls_t *c = arg;
    pthread_rwlock_rdlock(&c->mu);
    int n = c->nv;
    pthread_rwlock_unlock(&c->mu);
    return n;
}

static double gauge_points(void *arg)
{
    colls_t *c = arg;
    int64_t n = 0;
    pthread_rwlock_rdlock(&c->mu);
    for (int i = 0; i < c->nv; i++)
        n += atomic_load_explicit(&c->v[i]->live_pub, memory_order_relaxed);
    pthread_rwlock_unlock(&c->mu);
    return (double)n;
}

static double gauge_replayed(void *arg)
{
    return (double)atomic_load(&((colls_t *)arg)->replayed);
}

colls_t *colls_new(serve_t *sv, const colls_limits_t *lim, durability_t d)
{
    colls_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->sv = sv;
    c->store = serve_store(sv);
    c->dur = d;
    c->lim = lim ? *lim : (colls_limits_t){0};
    if (c->lim.max_dim <= 0) c->lim.max_dim = 4096;
    if (c->lim.max_points <= 0) c->lim.max_points = 10000;
    if (c->lim.max_k <= 0) c->lim.max_k = 1000;
    if (c->lim.max_colls <= 0) c->lim.max_colls = 1000;
    pthread_rwlock_init(&c->mu, NULL);
    pthread_mutex_init(&c->submit_mu, NULL);
    pthread_mutex_init(&c->q_mu, NULL);
    pthread_mutex_init(&c->why_mu, NULL);
    c->m_search = metrics_series(
        metrics_family("inferd_collection_search_seconds",
                       "Time of one collection search (filters and the index's walk included)",
                       METRIC_HISTOGRAM, metrics_latency_buckets, metrics_latency_nbuckets),
        "", false);
    metric_family_t *ch = metrics_family(
        "inferd_collection_changes_total",
        "Collection changes (creates, upserts, deletes, drops) by outcome: applied once stored, "
        "or failed (refused by the store or by the collection's state at their turn)",
        METRIC_COUNTER, NULL, 0);
    c->m_changes = metrics_series(ch, "outcome=\"applied\"", false);
    c->m_failed = metrics_series(ch, "outcome=\"failed\"", false);
    metrics_gauge_fn(
        metrics_family("inferd_collections", "Vector collections", METRIC_GAUGE, NULL, 0), "",
        gauge_collections, c);
    metrics_gauge_fn(metrics_family("inferd_collection_points", "Live points in every collection",
                                    METRIC_GAUGE, NULL, 0),
                     "", gauge_points, c);
    metrics_gauge_fn(metrics_family("inferd_collection_replayed",
                                    "Changes of the points table replayed at start so far",
                                    METRIC_GAUGE, NULL, 0),
                     "", gauge_replayed, c);
    return c;
}

const colls_limits_t *colls_limits(const colls_t *c)
{
    return &c->lim;
}

bool colls_ready(colls_t *c, char *why, size_t len)
{
    if (atomic_load(&c->ready)) return true;
    pthread_mutex_lock(&c->why_mu);
    if (c->why[0])
        snprintf(why, len, "collections cannot be loaded: %s", c->why);
    else
        snprintf(why, len, "collections are loading: %lld changes replayed so far",
                 (long long)atomic_load(&c->replayed));
    pthread_mutex_unlock(&c->why_mu);
    return false;
}

/* Checks a create against what exists: 0 to go on, or an error (with *existed for a repeat). */
static int check_create(colls_t *c, const char *name, const coll_spec_t *spec, bool *existed,
                        char *err, size_t errlen)
{
    pthread_rwlock_rdlock(&c->mu);
    coll_t *k = find(c, name, NULL);
    int e = 0;
    if (k && spec_same(&k->spec, spec))
        *existed = true;
    else if (k)
        e = err_fail(err, errlen, ERR_CONFLICT,
                     "collection \"%s\" exists with other settings; drop it first", name);
    else if (c->nv >= c->lim.max_colls)
        e = err_fail(err, errlen, ERR_CONFLICT, "there are already %d collections (max_colls)",
                     c->nv);
    pthread_rwlock_unlock(&c->mu);
    return e;
}

void colls_create(colls_t *c, const char *name, const coll_spec_t *spec, bool *existed,
                  coll_done_fn done, void *arg)
{
    char err[256];
    *existed = false;
    int e = check_create(c, name, spec, existed, err, sizeof err);
    if (e || *existed) return done(arg, e, err);
    op_t *op = op_new(OP_CREATE, name, 0, done, arg);
    buf_t b;
    buf_init(&b);
    if (!op || coll_spec_json(spec, &b)) {
        buf_deinit(&b);
        if (op) op_free(op);
        return done(arg, ERR_NOMEM, "out of memory");
    }
    op->spec = *spec;
    store_value_t row[POINT_NCOLS];
    row_init(row, op, 0);
    row[POINT_PAYLOAD] = (store_value_t){.s = b.data, .len = b.len};
    submit(c, op, row, 1);
    buf_deinit(&b);
}

void colls_drop(colls_t *c, const char *name, coll_done_fn done, void *arg)
{
    pthread_rwlock_rdlock(&c->mu);
    bool have = find(c, name, NULL) != NULL;
    pthread_rwlock_unlock(&c->mu);
    if (!have) return done(arg, ERR_NOT_FOUND, "no such collection");
    op_t *op = op_new(OP_DROP, name, 0, done, arg);
    if (!op) return done(arg, ERR_NOMEM, "out of memory");
    store_value_t row[POINT_NCOLS];
    row_init(row, op, 0);
    submit(c, op, row, 1);
}

void colls_upsert(colls_t *c, const char *name, int n, int dim, const int64_t *ids,
                  const float *vecs, const char *const *payloads, const size_t *payload_lens,
                  coll_done_fn done, void *arg)
{
    char err[256];
    coll_t *k = lock_coll(c, name, false, err, sizeof err);
    if (!k) return done(arg, ERR_NOT_FOUND, err);
    int kdim = k->spec.p.dim;
    pthread_rwlock_unlock(&k->lk);
    if (dim != kdim)
        return err_set(err, sizeof err, "collection \"%s\" holds vectors of %d values, got %d",
                       name, kdim, dim),
               done(arg, ERR_INVALID, err);
    if (n < 1 || n > c->lim.max_points)
        return err_set(err, sizeof err, "%d points in one request; 1 to %d (max_points) are taken",
                       n, c->lim.max_points),
               done(arg, n < 1 ? ERR_INVALID : ERR_TOO_LARGE, err);
    for (size_t i = 0; i < (size_t)n * (size_t)dim; i++)
        if (!isfinite(vecs[i]))
            return err_set(err, sizeof err, "vector %zu, value %zu is not a finite number",
                           i / (size_t)dim, i % (size_t)dim),
                   done(arg, ERR_INVALID, err);
    op_t *op = op_new(OP_UPSERT, name, n, done, arg);
    store_value_t *rows = malloc((size_t)n * POINT_NCOLS * sizeof *rows);
    size_t *voff = malloc(((size_t)n + 1) * sizeof *voff);
    buf_t b;
    buf_init(&b);
    int e = !op || !rows || !voff;
    if (!e) {
        op->vecs = malloc((size_t)n * (size_t)dim * sizeof *op->vecs);
        op->pay = payloads ? calloc((size_t)n, sizeof *op->pay) : NULL;
        op->plen = payloads ? calloc((size_t)n, sizeof *op->plen) : NULL;
        e = !op->vecs || (payloads && (!op->pay || !op->plen));
    }
    for (int i = 0; i < n && !e; i++) { /* the vectors as JSON, float32 exactly */
        voff[i] = b.len;
        e = buf_puts(&b, "[");
        for (int j = 0; j < dim && !e; j++) {
            if (j) e = buf_puts(&b, ",");
            if (!e) e = json_write_float(&b, vecs[(size_t)i * (size_t)dim + (size_t)j]);
        }
        if (!e) e = buf_puts(&b, "]");
        if (!e && payloads && payloads[i]) {
            op->pay[i] = malloc(payload_lens[i] + 1);
            e = !op->pay[i];
            if (!e)
                memcpy(op->pay[i], payloads[i], payload_lens[i]), op->pay[i][payload_lens[i]] = 0;
            op->plen[i] = payload_lens[i];
        }
    }
    if (e) {
        if (op) op_free(op);
        free(rows);
        free(voff);
        buf_deinit(&b);
        return done(arg, ERR_NOMEM, "out of memory");
    }
    voff[n] = b.len;
    op->dim = dim;
    memcpy(op->ids, ids, (size_t)n * sizeof *ids);
    memcpy(op->vecs, vecs, (size_t)n * (size_t)dim * sizeof *vecs);
    for (int i = 0; i < n; i++) {
        store_value_t *row = rows + (size_t)i * POINT_NCOLS;
        row_init(row, op, i);
        row[POINT_POINT] = (store_value_t){.i = ids[i]};
        row[POINT_VECTOR] = (store_value_t){.s = b.data + voff[i], .len = voff[i + 1] - voff[i]};
        if (op->pay && op->pay[i])
            row[POINT_PAYLOAD] = (store_value_t){.s = op->pay[i], .len = op->plen[i]};
    }
    submit(c, op, rows, n);
    free(rows);
    free(voff);
    buf_deinit(&b);
}

void colls_delete(colls_t *c, const char *name, int64_t id, coll_done_fn done, void *arg)
{
    char err[256];
    coll_t *k = lock_coll(c, name, false, err, sizeof err);
    if (!k) return done(arg, ERR_NOT_FOUND, err);
    bool have = i64map_get(&k->map, id, NULL);
    pthread_rwlock_unlock(&k->lk);
    if (!have)
        return err_set(err, sizeof err, "no point %lld in collection \"%s\"", (long long)id, name),
               done(arg, ERR_NOT_FOUND, err);
    op_t *op = op_new(OP_DELETE, name, 1, done, arg);
    if (!op) return done(arg, ERR_NOMEM, "out of memory");
    op->ids[0] = id;
    store_value_t row[POINT_NCOLS];
    row_init(row, op, 0);
    row[POINT_POINT] = (store_value_t){.i = id};
    submit(c, op, row, 1);
}

/* ==================================================================== searches ==== */

typedef struct search_ctx {
    const coll_t *k;
    const coll_query_t *q;
    int64_t *ids; /* q's filter ids, sorted */
    int64_t self; /* a search by id skips that point's slot */
} search_ctx_t;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Whether the payload text has every member the filter names, with equal values. */
static bool payload_matches(const char *text, size_t len, const coll_match_t *m, int nm)
{
    if (!text) return false;
    json_doc_t *d = json_parse(text, len, NULL, NULL, 0);
    const json_value_t *root = d ? json_root(d) : NULL;
    bool ok = root && json_type(root) == JSON_OBJECT;
    for (int i = 0; i < nm && ok; i++) {
        const json_value_t *v = json_getn(root, m[i].key, m[i].key_len);
        size_t n;
        const char *s;
        switch (m[i].type) {
        case CM_STRING:
            s = json_string(v, &n);
            ok = s && n == m[i].s_len && !memcmp(s, m[i].s, n);
            break;
        case CM_NUMBER: ok = json_type(v) == JSON_NUMBER && json_number(v) == m[i].num; break;
        case CM_BOOL: ok = json_type(v) == (m[i].b ? JSON_TRUE : JSON_FALSE); break;
        default: ok = v && json_type(v) == JSON_NULL;
        }
    }
    json_doc_free(d);
    return ok;
}

static bool keep_slot(void *arg, int64_t s)
{
    const search_ctx_t *x = arg;
    const coll_t *k = x->k;
    if (s >= k->n || k->dead[s] || s == x->self) return false; /* s >= n: being added */
    if (x->ids && !bsearch(&k->pid[s], x->ids, (size_t)x->q->nids, sizeof *x->ids, cmp_i64))
        return false;
    return !x->q->nmatch || payload_matches(k->pay[s], k->plen[s], x->q->match, x->q->nmatch);
}

int colls_search(colls_t *c, const char *name, const coll_query_t *q, coll_hit_fn hit, void *arg,
                 char *err, size_t errlen)
{
    if (q->k < 1 || q->k > c->lim.max_k)
        return err_fail(err, errlen, ERR_INVALID, "\"k\" must be 1 to %d (max_k)", c->lim.max_k);
    uint64_t t0 = clock_mono_ns();
    coll_t *k = lock_coll(c, name, false, err, errlen);
    if (!k) return ERR_NOT_FOUND;
    int e = 0, dim = k->spec.p.dim;
    search_ctx_t x = {.k = k, .q = q, .self = -1};
    const float *v = q->vector;
    float *ds = NULL;
    int64_t *is = NULL;
    if (v && q->dim != dim) {
        e = err_fail(err, errlen, ERR_INVALID,
                     "collection \"%s\" holds vectors of %d values, the query has %d", name, dim,
                     q->dim);
    } else if (!v) {
        if (!i64map_get(&k->map, q->id, &x.self))
            e = err_fail(err, errlen, ERR_NOT_FOUND, "no point %lld in collection \"%s\"",
                         (long long)q->id, name);
        else
            v = k->vec + (size_t)x.self * (size_t)dim;
    }
    if (!e && q->ids) {
        x.ids = malloc((size_t)(q->nids ? q->nids : 1) * sizeof *x.ids);
        if (!x.ids)
            e = err_fail(err, errlen, ERR_NOMEM, "out of memory");
        else {
            memcpy(x.ids, q->ids, (size_t)q->nids * sizeof *x.ids);
            qsort(x.ids, (size_t)q->nids, sizeof *x.ids, cmp_i64);
        }
    }
    if (!e) {
        ds = malloc((size_t)q->k * sizeof *ds);
        is = malloc((size_t)q->k * sizeof *is);
        if (!ds || !is) e = err_fail(err, errlen, ERR_NOMEM, "out of memory");
    }
    int r = 0;
    if (!e) {
        idx_search_params_t sp = {.ef = q->ef,
                                  .nprobe = q->nprobe,
                                  .rerank = q->rerank,
                                  .keep = keep_slot,
                                  .keep_arg = &x};
        r = idx_search(k->ix, v, q->k, &sp, is, ds);
        if (r < 0)
            e = err_fail(err, errlen, r == -ENOMEM ? ERR_NOMEM : ERR_INVALID,
                         "the query vector has a value that is not a finite number");
    }
    for (int i = 0; i < r && !e; i++) {
        int64_t s = is[i];
        float score = k->spec.p.metric == IDX_L2 ? ds[i] : 1 - ds[i];
        e = hit(arg, k->pid[s], score, k->pay[s], k->plen[s]);
    }
    pthread_rwlock_unlock(&k->lk);
    metric_observe_ns(c->m_search, clock_mono_ns() - t0);
    free(ds);
    free(is);
    free(x.ids);
    return e;
}

static void info_of(const coll_t *k, coll_info_t *out)
{
    idx_info_t ii;
    idx_get_info(k->ix, &ii);
    *out = (coll_info_t){.spec = k->spec,
                         .points = k->live,
                         .deleted = k->n - k->live,
                         .trained = k->trained,
                         .bytes = ii.bytes +
                                  (size_t)k->cap * ((size_t)k->spec.p.dim * 4 + 8 + sizeof(char *) +
                                                    sizeof(size_t) + 1) +
                                  k->pay_bytes + k->map.cap * 17};
}

int colls_info(colls_t *c, const char *name, coll_info_t *out, char *err, size_t errlen)
{
    coll_t *k = lock_coll(c, name, false, err, errlen);
    if (!k) return ERR_NOT_FOUND;
    info_of(k, out);
    pthread_rwlock_unlock(&k->lk);
    return 0;
}

void colls_each(colls_t *c, void (*fn)(void *arg, const char *name, const coll_info_t *info),
                void *arg)
{
    pthread_rwlock_rdlock(&c->mu);
    for (int i = 0; i < c->nv; i++) {
        coll_info_t info;
        pthread_rwlock_rdlock(&c->v[i]->lk);
        info_of(c->v[i], &info);
        pthread_rwlock_unlock(&c->v[i]->lk);
        fn(arg, c->v[i]->name, &info);
    }
    pthread_rwlock_unlock(&c->mu);
}

/* ==================================================================== settings ==== */

static const char *const type_names[] = {[IDX_FLAT] = "flat",
                                         [IDX_IVF] = "ivf",
                                         [IDX_IVFSQ] = "ivfsq",
                                         [IDX_IVFPQ] = "ivfpq",
                                         [IDX_HNSW] = "hnsw"};

/* Refuses members of obj other than the allowed ones, naming the first. */
static int only_keys(const json_value_t *obj, const char *const *allowed, const char *where,
                     char *err, size_t errlen)
{
    long i = json_unknown_key(obj, allowed);
    if (i < 0) return 0;
    size_t n;
    const char *key = json_key_at(obj, (size_t)i, &n);
    return err_fail(err, errlen, ERR_INVALID, "unknown setting \"%.*s\" in %s",
                    (int)(n < 40 ? n : 40), key, where);
}

int coll_spec_parse(const char *text, size_t len, const colls_limits_t *lim, coll_spec_t *out,
                    char *err, size_t errlen)
{
    static const char *const top[] = {"dim", "metric", "index", NULL};
    static const char *const ixk[] = {"type",    "m",          "ef_construction", "nlist", "pq_m",
                                      "pq_bits", "train_size", "refine",          NULL};
    colls_limits_t dl = {.max_dim = 4096};
    if (!lim) lim = &dl;
    char perr[200];
    json_doc_t *d = json_parse(text, len, NULL, perr, sizeof perr);
    if (!d) return err_fail(err, errlen, ERR_INVALID, "invalid JSON: %s", perr);
    const json_value_t *root = json_root(d), *ix = json_get(root, "index");
    int e = 0;
    int64_t dim = 0, m = DEF_M, efc = DEF_EFC, nlist = 0, pq_m = 0, pq_bits = 8, train = 0;
    *out = (coll_spec_t){.p = {.type = IDX_HNSW, .metric = IDX_COS}};
    if (json_type(root) != JSON_OBJECT || !json_get(root, "dim"))
        e = err_fail(err, errlen, ERR_INVALID,
                     "body must be {\"dim\": N, \"metric\"?: \"l2\"|\"ip\"|\"cos\", \"index\"?: "
                     "{\"type\": \"flat\"|\"ivf\"|\"ivfsq\"|\"ivfpq\"|\"hnsw\", ...}}");
    if (!e) e = only_keys(root, top, "the collection", err, errlen);
    if (!e) e = json_opt_int(root, "dim", NULL, 1, lim->max_dim, &dim, err, errlen);
    const json_value_t *mv = json_get(root, "metric");
    if (!e && mv) {
        int mt = json_type(mv) == JSON_STRING ? idx_metric_parse(json_string(mv, NULL)) : -1;
        if (mt < 0)
            e = err_fail(err, errlen, ERR_INVALID, "\"metric\" must be \"l2\", \"ip\" or \"cos\"");
        out->p.metric = (idx_metric_t)mt;
    }
    if (!e && ix && json_type(ix) != JSON_OBJECT)
        e = err_fail(err, errlen, ERR_INVALID, "\"index\" must be an object");
    if (!e && ix) e = only_keys(ix, ixk, "\"index\"", err, errlen);
    const json_value_t *tv = json_get(ix, "type");
    if (!e && tv) {
        int t = json_type(tv) == JSON_STRING ? idx_type_parse(json_string(tv, NULL)) : -1;
        if (t < 0)
            e = err_fail(
                err, errlen, ERR_INVALID,
                "\"index.type\" must be \"flat\", \"ivf\", \"ivfsq\", \"ivfpq\" or \"hnsw\"");
        out->p.type = (idx_type_t)t;
    }
    if (!e) e = json_opt_int(ix, "m", "index.m", 2, IDX_MAX_M, &m, err, errlen);
    if (!e)
        e = json_opt_int(ix, "ef_construction", "index.ef_construction", 1, 4096, &efc, err,
                         errlen);
    if (!e) e = json_opt_int(ix, "nlist", "index.nlist", 1, 65536, &nlist, err, errlen);
    if (!e) e = json_opt_int(ix, "pq_m", "index.pq_m", 1, 4096, &pq_m, err, errlen);
    if (!e) e = json_opt_int(ix, "pq_bits", "index.pq_bits", 1, 8, &pq_bits, err, errlen);
    if (!e)
        e = json_opt_int(ix, "train_size", "index.train_size", 1, 100000000, &train, err, errlen);
    if (!e) e = json_opt_bool(ix, "refine", "index.refine", &out->p.refine, err, errlen);
    json_doc_free(d);
    if (e) return e;
    idx_type_t t = out->p.type;
    bool ivf = t == IDX_IVF || t == IDX_IVFSQ || t == IDX_IVFPQ;
    if (ivf && !nlist)
        return err_fail(err, errlen, ERR_INVALID, "an %s index needs \"nlist\"", type_names[t]);
    if (t == IDX_IVFPQ && !pq_m)
        return err_fail(err, errlen, ERR_INVALID, "an ivfpq index needs \"pq_m\"");
    out->p.dim = (int)dim;
    if (t == IDX_HNSW) out->p.hnsw_m = (int)m, out->p.ef_construction = (int)efc;
    if (ivf) {
        out->p.nlist = (int)nlist;
        int64_t need = nlist;
        if (t == IDX_IVFPQ) {
            out->p.pq_m = (int)pq_m, out->p.pq_bits = (int)pq_bits;
            if (need < (1 << pq_bits)) need = 1 << pq_bits;
        }
        if (!train) train = 39 * nlist > MIN_TRAIN ? 39 * nlist : MIN_TRAIN;
        if (train < need)
            return err_fail(err, errlen, ERR_INVALID,
                            "\"train_size\" %lld is below the %lld points training needs",
                            (long long)train, (long long)need);
        out->train_size = train;
    }
    idx_t *x = idx_new(&out->p, err, errlen); /* the kind's own checks */
    if (!x) return ERR_INVALID;
    idx_free(x);
    return 0;
}

int coll_spec_json(const coll_spec_t *s, buf_t *b)
{
    const idx_params_t *p = &s->p;
    int e = buf_printf(b, "{\"dim\":%d,\"metric\":\"%s\",\"index\":{\"type\":\"%s\"", p->dim,
                       idx_metric_name(p->metric), type_names[p->type]);
    if (!e && p->type == IDX_HNSW)
        e = buf_printf(b, ",\"m\":%d,\"ef_construction\":%d", p->hnsw_m, p->ef_construction);
    if (!e && p->type != IDX_HNSW && p->type != IDX_FLAT)
        e = buf_printf(b, ",\"nlist\":%d,\"train_size\":%lld", p->nlist, (long long)s->train_size);
    if (!e && p->type == IDX_IVFPQ)
        e = buf_printf(b, ",\"pq_m\":%d,\"pq_bits\":%d%s", p->pq_m, p->pq_bits,
                       p->refine ? ",\"refine\":true" : "");
    return e ? e : buf_puts(b, "}}");
}

/* ====================================================================== replay ==== */

/* Applies one row of the points table as the change it records. A row that cannot apply (a
 * create that clashes, an upsert into a collection since dropped) failed the same way when it
 * was made: it is skipped, as it was then. */
static int replay_row(void *arg, const store_value_t *row)
{
    colls_t *c = arg;
    char err[256];
    const char *name = row[POINT_COLLECTION].s, *op = row[POINT_OP].s;
    const store_value_t *pv = &row[POINT_PAYLOAD];
    if (!name || !op || strlen(name) > COLL_NAME_MAX) return 0;
    if (!strcmp(op, "create")) {
        coll_spec_t spec;
        if (pv->s && coll_spec_parse(pv->s, pv->len, NULL, &spec, err, sizeof err) == 0)
            apply_create(c, name, &spec, err, sizeof err);
        else
            log_warn("collections: skipping a create of \"%s\" whose settings do not parse: %s",
                     name, pv->s ? err : "none");
    } else if (!strcmp(op, "drop")) {
        apply_drop(c, name, err, sizeof err);
    } else if (!strcmp(op, "delete") && !row[POINT_POINT].null) {
        apply_delete(c, name, row[POINT_POINT].i, err, sizeof err);
    } else if (!strcmp(op, "upsert") && !row[POINT_POINT].null && row[POINT_VECTOR].s) {
        coll_info_t info;
        if (colls_info(c, name, &info, err, sizeof err)) return 0;
        int dim = info.spec.p.dim;
        float *v = malloc((size_t)dim * sizeof *v);
        json_doc_t *d =
            json_parse(row[POINT_VECTOR].s, row[POINT_VECTOR].len, NULL, err, sizeof err);
        json_shape_t sh;
        int e = !v || !d ||
                json_flatten(json_root(d), JSON_ELEM_F32, v, (size_t)dim, &sh, err, sizeof err) ||
                sh.rank != 1 || sh.count != (size_t)dim;
        if (!e) {
            char *pay = pv->s ? (char *)pv->s : NULL;
            size_t plen = pv->len;
            apply_upsert(c, name, 1, dim, &row[POINT_POINT].i, v, &pay, &plen, err, sizeof err);
        } else {
            log_warn("collections: skipping point %lld of \"%s\": its vector does not parse",
                     (long long)row[POINT_POINT].i, name);
        }
        json_doc_free(d);
        free(v);
    }
    atomic_fetch_add(&c->replayed, 1);
    return atomic_load(&c->stop) ? 1 : 0;
}

static void replay_progress(void *arg, int64_t rows)
{
    (void)arg;
    log_info("collections: %lld changes replayed", (long long)rows);
}

static void *loader(void *arg)
{
    colls_t *c = arg;
    for (int attempt = 0; !atomic_load(&c->stop); attempt++) {
        /* A failed attempt leaves partial collections: start again from none. */
        pthread_rwlock_wrlock(&c->mu);
        for (int i = 0; i < c->nv; i++) coll_free(c->v[i]);
        c->nv = 0;
        pthread_rwlock_unlock(&c->mu);
        atomic_store(&c->replayed, 0);
        int e =
            store_scan(c->store, &store_table_points, LOAD_WAIT_MS, replay_row, replay_progress, c);
        for (int i = 0; !e && i < c->nv && !atomic_load(&c->stop); i++) {
            char err[256];
            if ((e = coll_rebuild(c->v[i], err, sizeof err)))
                log_error("collection %s: %s", c->v[i]->name, err);
        }
        if (!e && !atomic_load(&c->stop)) {
            log_info("collections: %d loaded from %lld changes", c->nv,
                     (long long)atomic_load(&c->replayed));
            atomic_store(&c->ready, true);
            return NULL;
        }
        if (e == -ENOTSUP) { /* a null: store keeps nothing to replay */
            atomic_store(&c->ready, true);
            return NULL;
        }
        pthread_mutex_lock(&c->why_mu);
        snprintf(c->why, sizeof c->why, "%s (retrying)",
                 e == -ETIMEDOUT ? "the database has not caught up with the journal"
                                 : strerror(-e));
        pthread_mutex_unlock(&c->why_mu);
        log_warn("collections: cannot replay the points table: %s", c->why);
        for (int i = 0; i < 20 && !atomic_load(&c->stop); i++)
            nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    return NULL;
}

int colls_start(colls_t *c)
{
    if (!c->store) {
        atomic_store(&c->ready, true);
        return 0;
    }
    int e = pthread_create(&c->loader, NULL, loader, c);
    if (e) return -e;
    c->loader_started = true;
    return 0;
}

void colls_stop(colls_t *c)
{
    if (!c) return;
    atomic_store(&c->stop, true);
    if (c->loader_started) pthread_join(c->loader, NULL);
    c->loader_started = false;
}

void colls_free(colls_t *c)
{
    if (!c) return;
    colls_stop(c);
    for (op_t *op = c->head, *next; op; op = next) { /* none once the store has closed */
        next = op->next;
        op->done(op->arg, ERR_SHUTDOWN, "shutting down");
        op_free(op);
    }
    for (int i = 0; i < c->nv; i++) coll_free(c->v[i]);
    free(c->v);
    pthread_rwlock_destroy(&c->mu);
    pthread_mutex_destroy(&c->submit_mu);
    pthread_mutex_destroy(&c->q_mu);
    pthread_mutex_destroy(&c->why_mu);
    free(c);
}
