#include "util/i64map.h"

#include <errno.h>
#include <stdlib.h>

static size_t slot_of(int64_t key, size_t cap)
{
    uint64_t h = (uint64_t)key * 0x9E3779B97F4A7C15ull; /* Fibonacci hashing: top bits mix */
    return (size_t)(h >> 32) & (cap - 1);
}

void i64map_free(i64map_t *m)
{
    free(m->keys);
    free(m->vals);
    free(m->used);
    *m = (i64map_t){0};
}

bool i64map_get(const i64map_t *m, int64_t key, int64_t *val)
{
    if (!m->cap) return false;
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (!m->used[i]) return false;
        if (m->keys[i] == key) {
            if (val) *val = m->vals[i];
            return true;
        }
    }
}

static int grow(i64map_t *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    i64map_t g = {malloc(cap * sizeof(int64_t)), malloc(cap * sizeof(int64_t)), calloc(cap, 1), cap,
                  0};
    if (!g.keys || !g.vals || !g.used) {
        i64map_free(&g);
        return -ENOMEM;
    }
    for (size_t i = 0; i < m->cap; i++)
        if (m->used[i]) i64map_put(&g, m->keys[i], m->vals[i]); /* cannot grow: room enough */
    i64map_free(m);
    *m = g;
    return 0;
}

int i64map_put(i64map_t *m, int64_t key, int64_t val)
{
    if ((m->n + 1) * 4 > m->cap * 3 && grow(m)) return -ENOMEM;
    size_t i = slot_of(key, m->cap);
    while (m->used[i] && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
    if (!m->used[i]) m->n++;
    m->used[i] = 1, m->keys[i] = key, m->vals[i] = val;
    return 0;
}

bool i64map_del(i64map_t *m, int64_t key)
{
    if (!m->cap) return false;
    size_t mask = m->cap - 1, i = slot_of(key, m->cap);
    while (m->used[i] && m->keys[i] != key) i = (i + 1) & mask;
    if (!m->used[i]) return false;
    /* Shift back every later entry of the run that may sit at or before the hole. */
    for (size_t j = (i + 1) & mask; m->used[j]; j = (j + 1) & mask) {
        size_t home = slot_of(m->keys[j], m->cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->keys[i] = m->keys[j], m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->used[i] = 0;
    m->n--;
    return true;
}
