/* Sharded LRU with a byte budget. Each shard: a mutex, a chained hash table (power-of-two size,
 * doubled when entries outnumber buckets) and a doubly linked recency list. An entry is one
 * allocation (header, key, value) with a reference count: the shard holds one reference while the
 * entry is linked, each handle returned by lru_get holds one more, so eviction never frees bytes
 * a reader is still copying. Counters live in their shard (written under its lock, read without
 * it at render time), so a hit touches no cache line shared by all threads. */
#include "cache/lru.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "metrics/metrics.h"
#include "util/bytes.h"

typedef struct link {
    struct link *prev, *next;
} link_t;

struct lru_val {
    link_t lru; /* first: a link_t * to a linked entry is the entry */
    struct lru_val *hnext;
    uint64_t hash;
    _Atomic uint32_t refs;
    uint32_t klen;
    size_t vlen;
    unsigned char data[]; /* key, then value */
};

typedef struct shard {
    pthread_mutex_t mu;
    lru_val_t **tab;
    size_t mask; /* buckets - 1 */
    size_t budget;
    link_t head; /* head.next = most recently used */
    /* Written under mu by plain load+store (no read-modify-write), read by metrics without it. */
    _Atomic size_t bytes, count;
    _Atomic uint64_t hits, misses, puts, evictions, refused;
} __attribute__((aligned(64))) shard_t;

struct lru {
    shard_t *shards;
    unsigned shift; /* shard = hash >> shift */
    unsigned nshards;
    uint64_t seed;
};

#define INITIAL_BUCKETS 64

/* Relaxed increment by the one writer that holds the shard lock: a plain add, no locked bus op. */
#define BUMP(field, n)                                                                             \
    atomic_store_explicit(&(field), atomic_load_explicit(&(field), memory_order_relaxed) + (n),    \
                          memory_order_relaxed)
#define LOAD(field) atomic_load_explicit(&(field), memory_order_relaxed)

/* ---- hashing ------------------------------------------------------------------------------- */

/* Multiplies to 128 bits and folds the halves: every input bit reaches every output bit. */
static inline uint64_t fold(uint64_t a, uint64_t b)
{
    __uint128_t p = (__uint128_t)a * b;
    return (uint64_t)p ^ (uint64_t)(p >> 64);
}

/* Word-at-a-time keyed hash: 16 bytes per multiply, tails read as two overlapping words so short
 * keys need no byte loop. The per-cache random seed is in every multiplication (directly or
 * through h), so without knowing it no input can force a product to zero and collide keys on
 * purpose: chains stay short against chosen keys. */
static uint64_t key_hash(uint64_t seed, const void *key, size_t n)
{
    const unsigned char *p = key;
    const uint64_t k1 = 0xa0761d6478bd642full, k2 = 0xe7037ed1a0b428dbull;
    const uint64_t s1 = seed ^ k1, s2 = seed ^ k2;
    uint64_t h = s2 ^ (n * k1);
    size_t left = n;
    while (left > 16) {
        h = fold(load_u64(p) ^ s1, load_u64(p + 8) ^ h);
        p += 16, left -= 16;
    }
    uint64_t a = 0, b = 0;
    if (left > 8) {
        a = load_u64(p), b = load_u64(p + left - 8);
    } else if (left >= 4) {
        a = (uint64_t)load_u32(p), b = (uint64_t)load_u32(p + left - 4);
    } else if (left > 0) {
        a = ((uint64_t)p[0] << 16) | ((uint64_t)p[left / 2] << 8) | p[left - 1];
    }
    h = fold(a ^ s2 ^ h, b ^ s1);
    return fold(h ^ k1, n ^ s2);
}

/* ---- entries and lists ----------------------------------------------------------------------- */

size_t lru_entry_cost(size_t klen, size_t vlen)
{
    /* glibc: a block of n bytes takes (n + 8) rounded up to 16; plus 16 bytes of bucket array per
     * entry (the table has between one and two buckets per entry). */
    size_t block = (sizeof(lru_val_t) + klen + vlen + 8 + 15) & ~(size_t)15;
    return block + 16;
}

static inline size_t cost_of(const lru_val_t *e)
{
    return lru_entry_cost(e->klen, e->vlen);
}

static inline void list_unlink(link_t *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
}

static inline void list_push_front(link_t *head, link_t *l)
{
    l->next = head->next;
    l->prev = head;
    head->next->prev = l;
    head->next = l;
}

const void *lru_val_data(const lru_val_t *v)
{
    return v->data + v->klen;
}

size_t lru_val_len(const lru_val_t *v)
{
    return v->vlen;
}

void lru_release(lru_val_t *v)
{
    if (v && atomic_fetch_sub_explicit(&v->refs, 1, memory_order_acq_rel) == 1) free(v);
}

/* Finds the slot that points at the entry for key (or the NULL at the end of its chain). */
static lru_val_t **find_slot(shard_t *s, uint64_t h, const void *key, size_t klen)
{
    lru_val_t **pp = &s->tab[h & s->mask];
    for (lru_val_t *e = *pp; e; pp = &e->hnext, e = *pp)
        if (e->hash == h && e->klen == klen && memcmp(e->data, key, klen) == 0) return pp;
    return pp;
}

/* Unlinks the entry at *pp from table and list and pushes it on the caller's release list. */
static void remove_at(shard_t *s, lru_val_t **pp, lru_val_t **dead)
{
    lru_val_t *e = *pp;
    *pp = e->hnext;
    list_unlink(&e->lru);
    atomic_store_explicit(&s->bytes, LOAD(s->bytes) - cost_of(e), memory_order_relaxed);
    atomic_store_explicit(&s->count, LOAD(s->count) - 1, memory_order_relaxed);
    e->hnext = *dead;
    *dead = e;
}

static void release_list(lru_val_t *dead)
{
    while (dead) {
        lru_val_t *next = dead->hnext;
        lru_release(dead);
        dead = next;
    }
}

/* Doubles the bucket array; on allocation failure the table just stays more loaded. */
static void grow(shard_t *s)
{
    size_t n = (s->mask + 1) * 2;
    lru_val_t **tab = calloc(n, sizeof *tab);
    if (!tab) return;
    for (size_t i = 0; i <= s->mask; i++) {
        lru_val_t *e = s->tab[i];
        while (e) {
            lru_val_t *next = e->hnext;
            lru_val_t **slot = &tab[e->hash & (n - 1)];
            e->hnext = *slot;
            *slot = e;
            e = next;
        }
    }
    free(s->tab);
    s->tab = tab;
    s->mask = n - 1;
}

/* ---- metrics --------------------------------------------------------------------------------- */

#define SUM_FN(name, field)                                                                        \
    static double name(void *arg)                                                                  \
    {                                                                                              \
        lru_t *c = arg;                                                                            \
        uint64_t t = 0;                                                                            \
        for (unsigned i = 0; i < c->nshards; i++) t += LOAD(c->shards[i].field);                   \
        return (double)t;                                                                          \
    }
SUM_FN(m_hits, hits)
SUM_FN(m_misses, misses)
SUM_FN(m_evictions, evictions)
SUM_FN(m_bytes, bytes)
SUM_FN(m_entries, count)

static double m_budget(void *arg)
{
    lru_t *c = arg;
    return (double)c->shards[0].budget * c->nshards;
}

static void register_metrics(lru_t *c, const char *name)
{
    char labels[128];
    snprintf(labels, sizeof labels, "cache=\"%s\"", name);
    static const struct {
        const char *name, *help;
        metric_type_t type;
        double (*fn)(void *);
    } m[] = {
        {"inferd_cache_l1_hits_total", "L1 (in-process LRU) lookups that found the key",
         METRIC_COUNTER, m_hits},
        {"inferd_cache_l1_misses_total", "L1 lookups that did not find the key", METRIC_COUNTER,
         m_misses},
        {"inferd_cache_l1_evictions_total", "L1 entries evicted to stay within the byte budget",
         METRIC_COUNTER, m_evictions},
        {"inferd_cache_l1_bytes", "bytes charged to L1 entries (keys, values, overhead)",
         METRIC_GAUGE, m_bytes},
        {"inferd_cache_l1_entries", "entries in L1", METRIC_GAUGE, m_entries},
        {"inferd_cache_l1_budget_bytes", "L1 byte budget (cache_bytes)", METRIC_GAUGE, m_budget},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        metrics_gauge_fn(metrics_family(m[i].name, m[i].help, m[i].type, NULL, 0), labels, m[i].fn,
                         c);
}

/* ---- public API ------------------------------------------------------------------------------ */

lru_t *lru_new(size_t budget, unsigned nshards, const char *metrics_name)
{
    if (nshards == 0) {
        /* 64 shards keep threads off each other's locks; fewer for a small budget, so a shard
         * (and so the largest entry) keeps at least 256 KiB. */
        nshards = 64;
        while (nshards > 1 && budget / nshards < (256u << 10)) nshards /= 2;
    }
    unsigned n = 1, shift = 64;
    while (n < nshards && n < (1u << 16)) n <<= 1, shift--;
    lru_t *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->shards = aligned_alloc(64, n * sizeof(shard_t));
    if (!c->shards) return free(c), NULL;
    memset(c->shards, 0, n * sizeof(shard_t));
    c->nshards = n;
    c->shift = shift;
    if (getrandom(&c->seed, sizeof c->seed, 0) != sizeof c->seed)
        c->seed = (uint64_t)(uintptr_t)c ^ 0x5bd1e995u;
    for (unsigned i = 0; i < n; i++) {
        shard_t *s = &c->shards[i];
        pthread_mutex_init(&s->mu, NULL);
        s->head.next = s->head.prev = &s->head;
        s->budget = budget / n;
        s->tab = calloc(INITIAL_BUCKETS, sizeof *s->tab);
        s->mask = INITIAL_BUCKETS - 1;
        if (!s->tab) {
            c->nshards = i + 1;
            lru_free(c);
            return NULL;
        }
    }
    if (metrics_name) register_metrics(c, metrics_name);
    return c;
}

void lru_free(lru_t *c)
{
    if (!c) return;
    for (unsigned i = 0; i < c->nshards; i++) {
        shard_t *s = &c->shards[i];
        link_t *l = s->head.next;
        while (l && l != &s->head) {
            link_t *next = l->next;
            lru_release((lru_val_t *)l);
            l = next;
        }
        free(s->tab);
        pthread_mutex_destroy(&s->mu);
    }
    free(c->shards);
    free(c);
}

static inline shard_t *shard_for(lru_t *c, uint64_t h)
{
    /* shift is 64 for one shard; shifting a 64-bit value by 64 is undefined, hence the test. */
    return c->nshards == 1 ? c->shards : &c->shards[h >> c->shift];
}

lru_val_t *lru_get(lru_t *c, const void *key, size_t klen)
{
    uint64_t h = key_hash(c->seed, key, klen);
    shard_t *s = shard_for(c, h);
    pthread_mutex_lock(&s->mu);
    lru_val_t *e = *find_slot(s, h, key, klen);
    if (e) {
        list_unlink(&e->lru);
        list_push_front(&s->head, &e->lru);
        atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
        BUMP(s->hits, 1);
    } else {
        BUMP(s->misses, 1);
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

int lru_put(lru_t *c, const void *key, size_t klen, const void *val, size_t vlen)
{
    uint64_t h = key_hash(c->seed, key, klen);
    shard_t *s = shard_for(c, h);
    lru_val_t *dead = NULL, *e = NULL;
    size_t cost = lru_entry_cost(klen, vlen);
    bool fits = cost <= s->budget && klen <= UINT32_MAX;
    if (fits) {
        e = malloc(sizeof *e + klen + vlen);
        if (!e) return -ENOMEM;
        e->hash = h;
        atomic_init(&e->refs, 1);
        e->klen = (uint32_t)klen;
        e->vlen = vlen;
        memcpy(e->data, key, klen);
        if (vlen) memcpy(e->data + klen, val, vlen);
    }

    pthread_mutex_lock(&s->mu);
    lru_val_t **pp = find_slot(s, h, key, klen);
    if (*pp) remove_at(s, pp, &dead); /* the old value goes; *pp is now the rest of the chain */
    if (!fits) {
        BUMP(s->refused, 1);
        pthread_mutex_unlock(&s->mu);
        release_list(dead);
        return -E2BIG;
    }
    /* Make room first, so the budget holds at every instant anyone can observe. */
    while (LOAD(s->bytes) + cost > s->budget) {
        lru_val_t *victim = (lru_val_t *)s->head.prev;
        remove_at(s, find_slot(s, victim->hash, victim->data, victim->klen), &dead);
        BUMP(s->evictions, 1);
    }
    pp = &s->tab[h & s->mask]; /* evictions may have changed the chain; insert at its head */
    e->hnext = *pp;
    *pp = e;
    list_push_front(&s->head, &e->lru);
    atomic_store_explicit(&s->bytes, LOAD(s->bytes) + cost, memory_order_relaxed);
    atomic_store_explicit(&s->count, LOAD(s->count) + 1, memory_order_relaxed);
    BUMP(s->puts, 1);
    if (LOAD(s->count) > s->mask + 1) grow(s);
    pthread_mutex_unlock(&s->mu);
    release_list(dead);
    return 0;
}

int lru_del(lru_t *c, const void *key, size_t klen)
{
    uint64_t h = key_hash(c->seed, key, klen);
    shard_t *s = shard_for(c, h);
    lru_val_t *dead = NULL;
    pthread_mutex_lock(&s->mu);
    lru_val_t **pp = find_slot(s, h, key, klen);
    if (*pp) remove_at(s, pp, &dead);
    pthread_mutex_unlock(&s->mu);
    release_list(dead);
    return dead != NULL;
}

void lru_stats(lru_t *c, lru_stats_t *out)
{
    memset(out, 0, sizeof *out);
    for (unsigned i = 0; i < c->nshards; i++) {
        shard_t *s = &c->shards[i];
        pthread_mutex_lock(&s->mu);
        out->hits += LOAD(s->hits);
        out->misses += LOAD(s->misses);
        out->puts += LOAD(s->puts);
        out->evictions += LOAD(s->evictions);
        out->refused += LOAD(s->refused);
        out->bytes += LOAD(s->bytes);
        out->entries += LOAD(s->count);
        pthread_mutex_unlock(&s->mu);
    }
}
