/* In-process L1 cache: a thread-safe LRU of opaque byte values under opaque byte keys, bounded by
 * a byte budget (keys, values and per-entry overhead all counted). Sharded by key hash, one mutex
 * per shard, each shard a strict LRU with budget/nshards bytes. A hit returns a refcounted handle
 * to the stored bytes, so a hit copies nothing and stays valid while other threads evict. */
#ifndef INFERD_CACHE_LRU_H
#define INFERD_CACHE_LRU_H

#include <stddef.h>
#include <stdint.h>

typedef struct lru lru_t;
typedef struct lru_val lru_val_t;

typedef struct lru_stats {
    uint64_t hits, misses, puts, evictions, refused; /* refused: larger than a shard's budget */
    uint64_t bytes, entries;
} lru_stats_t;

/* Creates a cache holding at most budget bytes (0 = a cache that stores nothing) in nshards
 * shards (rounded up to a power of two; 0 = 64, fewer when a shard would get under 256 KiB).
 * metrics_name, when not NULL, registers the inferd_cache_l1_* series labelled
 * cache="<metrics_name>"; such a cache must then outlive every metrics_render (it is read at render
 * time), i.e. live until exit. NULL on out-of-memory. */
lru_t *lru_new(size_t budget, unsigned nshards, const char *metrics_name);
/* Frees the cache. Handles still held stay valid until released. */
void lru_free(lru_t *c);

/* Looks key up. A hit returns a handle (marking the entry most recently used) that the caller
 * must give back with lru_release; a miss returns NULL. Thread-safe. */
lru_val_t *lru_get(lru_t *c, const void *key, size_t klen);
/* The value's bytes and length; valid until lru_release(v). */
const void *lru_val_data(const lru_val_t *v);
size_t lru_val_len(const lru_val_t *v);
/* Gives a handle back; the entry's memory is freed once evicted and released by everyone. */
void lru_release(lru_val_t *v);

/* Stores a copy of (key, val), replacing any value under key, evicting least recently used
 * entries of its shard to stay within the budget. 0, -E2BIG when the entry alone exceeds a
 * shard's budget (nothing stored; an older value under key is removed), -ENOMEM. Thread-safe. */
int lru_put(lru_t *c, const void *key, size_t klen, const void *val, size_t vlen);
/* Removes key. 1 if it was there, else 0. Thread-safe. */
int lru_del(lru_t *c, const void *key, size_t klen);

/* Totals over all shards (a consistent snapshot per shard, not across shards). */
void lru_stats(lru_t *c, lru_stats_t *out);
/* Bytes one entry is charged against the budget: key + value + its header, rounded as glibc's
 * malloc rounds the block, plus the allocator's chunk header and a share of the hash table. */
size_t lru_entry_cost(size_t klen, size_t vlen);

#endif
