/* L1 + L2 composition: keeps the "L2 hit fills L1" rule in one place. */
#include "cache/cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cache {
    lru_t *l1;
    l2_t *l2;
};

/* One L2 lookup in progress: the key is needed again to fill L1 on a hit. */
typedef struct pending {
    cache_t *c;
    l2_get_cb cb;
    void *arg;
    size_t klen;
    unsigned char key[];
} pending_t;

cache_t *cache_new(const cache_opts_t *o, char *err, size_t errlen)
{
    cache_t *c = calloc(1, sizeof *c);
    if (!c) return snprintf(err, errlen, "out of memory"), NULL;
    if (o->l1_bytes) {
        c->l1 = lru_new(o->l1_bytes, 0, o->name ? o->name : "default");
        if (!c->l1) {
            snprintf(err, errlen, "cache: out of memory");
            free(c);
            return NULL;
        }
    }
    if (o->redis_url && *o->redis_url) {
        l2_opts_t lo = {.url = o->redis_url,
                        .timeout_ms = o->redis_timeout_ms,
                        .ttl_s = o->redis_ttl_s,
                        .queue = o->redis_queue};
        c->l2 = l2_new(&lo, err, errlen);
        if (!c->l2) {
            lru_free(c->l1);
            free(c);
            return NULL;
        }
    }
    return c;
}

void cache_free(cache_t *c)
{
    if (!c) return;
    l2_close(c->l2);
    lru_free(c->l1);
    free(c);
}

void cache_stop_l2(cache_t *c)
{
    if (c) l2_stop(c->l2);
}

lru_val_t *cache_get_l1(cache_t *c, const void *key, size_t klen)
{
    return c->l1 ? lru_get(c->l1, key, klen) : NULL;
}

static void on_l2(void *arg, int status, const void *val, size_t len)
{
    pending_t *p = arg;
    if (status == L2_HIT && p->c->l1) lru_put(p->c->l1, p->key, p->klen, val, len);
    p->cb(p->arg, status, val, len);
    free(p);
}

int cache_get_l2(cache_t *c, const void *key, size_t klen, l2_get_cb cb, void *arg)
{
    if (!c->l2) return -ENOTCONN;
    pending_t *p = malloc(sizeof *p + klen);
    if (!p) return -ENOMEM;
    p->c = c;
    p->cb = cb;
    p->arg = arg;
    p->klen = klen;
    memcpy(p->key, key, klen);
    int rc = l2_get(c->l2, key, klen, on_l2, p);
    if (rc) free(p);
    return rc;
}

void cache_put(cache_t *c, const void *key, size_t klen, const void *val, size_t vlen)
{
    if (c->l1) lru_put(c->l1, key, klen, val, vlen); /* -E2BIG: too big to keep, fine */
    if (c->l2) l2_set(c->l2, key, klen, val, vlen);  /* errors are counted in its metrics */
}

lru_t *cache_l1(cache_t *c)
{
    return c->l1;
}

l2_t *cache_l2(cache_t *c)
{
    return c->l2;
}
