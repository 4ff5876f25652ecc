/* The two cache levels behind one handle, for endpoints that cache answers: L1 (lru.h) in
 * process, then L2 (redis.h) when redis_url is set. Lookup order L1 -> L2 -> compute; an L2 hit
 * is copied into L1; a computed answer is stored in both. */
#ifndef INFERD_CACHE_CACHE_H
#define INFERD_CACHE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "cache/lru.h"
#include "cache/redis.h"

typedef struct cache cache_t;

typedef struct cache_opts {
    size_t l1_bytes;       /* cache_bytes; 0 = no L1 */
    const char *name;      /* metrics label cache="<name>" of the L1 series */
    const char *redis_url; /* NULL or "" = no L2 */
    int64_t redis_ttl_s, redis_timeout_ms, redis_queue;
} cache_opts_t;

/* Builds the levels the options ask for (possibly none). NULL with err on a bad setting. The
 * cache must live until exit when it registered metrics (see lru_new). */
cache_t *cache_new(const cache_opts_t *o, char *err, size_t errlen);
/* Stops the L2 thread (pending L2 lookups are answered L2_ECLOSED) and frees both levels. */
void cache_free(cache_t *c);
/* Stops the L2 thread (pending lookups are answered as misses), keeping the handle usable:
 * later lookups miss, puts go to L1 only. For shutdown, before the last users stop. */
void cache_stop_l2(cache_t *c);

/* L1 lookup: a handle to release with lru_release, or NULL (miss, or no L1). Never blocks
 * beyond a shard lock. */
lru_val_t *cache_get_l1(cache_t *c, const void *key, size_t klen);
/* L2 lookup after an L1 miss. 0: cb runs once on the L2 thread (L2_HIT: the bytes were also
 * stored in L1). Negative (no L2, not connected, queue full): cb is not called; compute. */
int cache_get_l2(cache_t *c, const void *key, size_t klen, l2_get_cb cb, void *arg);
/* Stores a computed answer in L1 and (fire and forget) in L2. */
void cache_put(cache_t *c, const void *key, size_t klen, const void *val, size_t vlen);

/* The levels themselves (NULL when off), for stats and tests. */
lru_t *cache_l1(cache_t *c);
l2_t *cache_l2(cache_t *c);

#endif
