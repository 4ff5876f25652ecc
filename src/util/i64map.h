/* A hash map from int64 keys to int64 values: open addressing with linear probing and
 * backward-shift deletion (no tombstones), kept at most 3/4 full. Not thread-safe. */
#ifndef INFERD_UTIL_I64MAP_H
#define INFERD_UTIL_I64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct i64map {
    int64_t *keys, *vals;
    uint8_t *used;
    size_t cap, n; /* cap: a power of two, or 0 */
} i64map_t;

/* An empty map needs no set-up: i64map_t m = {0}. */
void i64map_free(i64map_t *m);
/* Whether key is present; its value in *val (may be NULL). */
bool i64map_get(const i64map_t *m, int64_t key, int64_t *val);
/* Sets key to val. 0 or -ENOMEM (the map is unchanged). */
int i64map_put(i64map_t *m, int64_t key, int64_t val);
/* Removes key; whether it was present. */
bool i64map_del(i64map_t *m, int64_t key);

#endif
