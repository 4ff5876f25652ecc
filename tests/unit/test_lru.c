/* L1 LRU: checked against a plain reference LRU (an array in recency order, as obvious as an LRU
 * can be written), the byte budget against the allocator's own accounting, handles against
 * concurrent eviction, and thread safety by hammering from several threads (run under ASan in
 * the sanitizer build; see docs/cache.md for the TSan run). */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/lru.h"
#include "metrics/metrics.h"
#include "th.h"
#include "util/buf.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZER_MALLOC 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_MALLOC 1
#endif
#endif

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return rng;
}

static int has(lru_t *c, const char *k, const char *want)
{
    lru_val_t *v = lru_get(c, k, strlen(k));
    if (!v) return 0;
    int ok = !want ||
             (lru_val_len(v) == strlen(want) && memcmp(lru_val_data(v), want, strlen(want)) == 0);
    lru_release(v);
    return ok ? 1 : -1;
}

static void test_basic(void)
{
    lru_t *c = lru_new(1 << 20, 4, NULL);
    CHECK(c != NULL);
    CHECK_EQ(has(c, "a", NULL), 0);
    CHECK_EQ(lru_put(c, "a", 1, "one", 3), 0);
    CHECK_EQ(has(c, "a", "one"), 1);
    CHECK_EQ(lru_put(c, "a", 1, "uno!", 4), 0); /* replace */
    CHECK_EQ(has(c, "a", "uno!"), 1);
    CHECK_EQ(lru_put(c, "", 0, "empty key", 9), 0);
    CHECK_EQ(has(c, "", "empty key"), 1);
    CHECK_EQ(lru_put(c, "z", 1, NULL, 0), 0); /* empty value */
    CHECK_EQ(has(c, "z", ""), 1);
    /* Keys differing only in the last byte or in length are distinct. */
    CHECK_EQ(lru_put(c, "model:v1:hello", 14, "A", 1), 0);
    CHECK_EQ(lru_put(c, "model:v1:hellp", 14, "B", 1), 0);
    CHECK_EQ(lru_put(c, "model:v1:hell", 13, "C", 1), 0);
    CHECK_EQ(has(c, "model:v1:hello", "A"), 1);
    CHECK_EQ(has(c, "model:v1:hellp", "B"), 1);
    CHECK_EQ(has(c, "model:v1:hell", "C"), 1);
    /* Binary keys with zeros. */
    CHECK_EQ(lru_put(c, "k\0x", 3, "bin", 3), 0);
    lru_val_t *v = lru_get(c, "k\0y", 3);
    CHECK(v == NULL);
    v = lru_get(c, "k\0x", 3);
    CHECK(v && lru_val_len(v) == 3);
    lru_release(v);
    CHECK_EQ(lru_del(c, "a", 1), 1);
    CHECK_EQ(lru_del(c, "a", 1), 0);
    CHECK_EQ(has(c, "a", NULL), 0);
    lru_stats_t st;
    lru_stats(c, &st);
    CHECK_EQ(st.entries, 6);
    CHECK_EQ(st.bytes, lru_entry_cost(0, 9) + lru_entry_cost(1, 0) + lru_entry_cost(14, 1) * 2 +
                           lru_entry_cost(13, 1) + lru_entry_cost(3, 3));
    CHECK_EQ(st.hits, 8);
    CHECK_EQ(st.misses, 3);
    lru_free(c);
}

static void test_eviction_order(void)
{
    size_t cost = lru_entry_cost(1, 1);
    lru_t *c = lru_new(cost * 3, 1, NULL);
    lru_put(c, "a", 1, "1", 1);
    lru_put(c, "b", 1, "2", 1);
    lru_put(c, "c", 1, "3", 1);
    CHECK_EQ(has(c, "a", "1"), 1); /* a becomes most recent: b is now the oldest */
    lru_put(c, "d", 1, "4", 1);
    CHECK_EQ(has(c, "b", NULL), 0);
    CHECK_EQ(has(c, "c", "3"), 1);
    CHECK_EQ(has(c, "a", "1"), 1);
    CHECK_EQ(has(c, "d", "4"), 1);
    /* Those lookups left the order d, a, c (newest first); replacing c makes it the newest. */
    lru_put(c, "c", 1, "5", 1);
    lru_put(c, "e", 1, "6", 1); /* evicts a */
    CHECK_EQ(has(c, "a", NULL), 0);
    CHECK_EQ(has(c, "d", "4"), 1); /* order: d, e, c */
    /* A bigger entry evicts as many of the oldest as it needs. */
    char val[256];
    memset(val, 'x', sizeof val);
    size_t vlen = 1;
    while (lru_entry_cost(1, vlen + 1) <= cost * 2) vlen++;
    CHECK(vlen < sizeof val);
    CHECK_EQ(lru_put(c, "f", 1, val, vlen), 0); /* needs two slots: evicts c, then e */
    CHECK_EQ(has(c, "c", NULL), 0);
    CHECK_EQ(has(c, "e", NULL), 0);
    CHECK_EQ(has(c, "d", "4"), 1);
    CHECK_EQ(has(c, "f", NULL), 1);
    lru_stats_t st;
    lru_stats(c, &st);
    CHECK_EQ(st.evictions, 4);
    CHECK(st.bytes <= cost * 3);
    /* Too big for the budget: refused, and an older value under the key is gone. */
    char huge[512];
    memset(huge, 'y', sizeof huge);
    CHECK_EQ(lru_put(c, "d", 1, huge, sizeof huge), -E2BIG);
    CHECK_EQ(has(c, "d", NULL), 0);
    lru_stats(c, &st);
    CHECK_EQ(st.refused, 1);
    lru_free(c);

    lru_t *z = lru_new(0, 1, NULL); /* budget 0 stores nothing */
    CHECK_EQ(lru_put(z, "a", 1, "1", 1), -E2BIG);
    CHECK_EQ(has(z, "a", NULL), 0);
    lru_free(z);
}

/* ---- reference model: entries in recency order, most recent first ---------------------------- */

typedef struct ref_ent {
    char key[16];
    size_t klen, vlen;
    unsigned char tag; /* first value byte */
} ref_ent_t;

typedef struct ref {
    ref_ent_t e[4096];
    int n;
    size_t bytes, budget;
} ref_t;

static int ref_find(ref_t *r, const char *k, size_t klen)
{
    for (int i = 0; i < r->n; i++)
        if (r->e[i].klen == klen && memcmp(r->e[i].key, k, klen) == 0) return i;
    return -1;
}

static void ref_remove(ref_t *r, int i)
{
    r->bytes -= lru_entry_cost(r->e[i].klen, r->e[i].vlen);
    memmove(&r->e[i], &r->e[i + 1], (size_t)(r->n - i - 1) * sizeof r->e[0]);
    r->n--;
}

static void ref_touch(ref_t *r, int i)
{
    ref_ent_t t = r->e[i];
    memmove(&r->e[1], &r->e[0], (size_t)i * sizeof r->e[0]);
    r->e[0] = t;
}

static void ref_put(ref_t *r, const char *k, size_t klen, size_t vlen, unsigned char tag)
{
    int i = ref_find(r, k, klen);
    if (i >= 0) ref_remove(r, i);
    size_t cost = lru_entry_cost(klen, vlen);
    if (cost > r->budget) return;
    while (r->bytes + cost > r->budget) ref_remove(r, r->n - 1);
    memmove(&r->e[1], &r->e[0], (size_t)r->n * sizeof r->e[0]);
    memcpy(r->e[0].key, k, klen);
    r->e[0].klen = klen, r->e[0].vlen = vlen, r->e[0].tag = tag;
    r->n++;
    r->bytes += cost;
}

static void test_against_reference(void)
{
    static ref_t r;
    memset(&r, 0, sizeof r);
    r.budget = 20000;
    lru_t *c = lru_new(r.budget, 1, NULL);
    unsigned char val[1200];
    int mismatches = 0, over = 0;
    for (int op = 0; op < 200000; op++) {
        char k[16];
        size_t klen = (size_t)snprintf(k, sizeof k, "k%u", (unsigned)(next_rand() % 300));
        uint64_t x = next_rand();
        if (x % 10 < 6) {
            lru_val_t *v = lru_get(c, k, klen);
            int i = ref_find(&r, k, klen);
            if ((v != NULL) != (i >= 0)) {
                mismatches++;
            } else if (v) {
                if (lru_val_len(v) != r.e[i].vlen ||
                    (r.e[i].vlen && ((const unsigned char *)lru_val_data(v))[0] != r.e[i].tag))
                    mismatches++;
                ref_touch(&r, i);
            }
            lru_release(v);
        } else if (x % 10 < 9) {
            /* Mostly small values, sometimes large ones that evict several entries. */
            size_t vlen = (x >> 8) % 16 == 0 ? (x >> 16) % sizeof val : (x >> 16) % 64;
            unsigned char tag = (unsigned char)(x >> 40);
            memset(val, tag, vlen);
            lru_put(c, k, klen, val, vlen);
            ref_put(&r, k, klen, vlen, tag);
        } else {
            int had = lru_del(c, k, klen);
            int i = ref_find(&r, k, klen);
            if (had != (i >= 0)) mismatches++;
            if (i >= 0) ref_remove(&r, i);
        }
        lru_stats_t st;
        lru_stats(c, &st);
        if (st.bytes > r.budget) over++;
        if (st.bytes != r.bytes || st.entries != (uint64_t)r.n) mismatches++;
    }
    CHECK_EQ(mismatches, 0);
    CHECK_EQ(over, 0);
    lru_free(c);
}

/* The charge per entry must cover what the allocator really uses: fill a cache to its budget
 * with entries of many sizes and compare the heap's growth (glibc's own count) with the budget. */
static void test_budget_vs_heap(void)
{
#ifndef SANITIZER_MALLOC
    size_t budget = 8u << 20;
    struct mallinfo2 before = mallinfo2();
    lru_t *c = lru_new(budget, 16, NULL);
    struct mallinfo2 empty = mallinfo2();
    unsigned char val[2048] = {0};
    for (int i = 0; i < 200000; i++) {
        char k[32];
        size_t klen = (size_t)snprintf(k, sizeof k, "model:1:text number %d", i);
        size_t vlen = next_rand() % 4 == 0 ? next_rand() % sizeof val : next_rand() % 40;
        lru_put(c, k, klen, val, vlen);
    }
    struct mallinfo2 full = mallinfo2();
    lru_stats_t st;
    lru_stats(c, &st);
    size_t fixed = empty.uordblks - before.uordblks; /* shard array, initial tables */
    size_t grown = full.uordblks - empty.uordblks;
    printf("budget %zu, charged %llu, heap grew %zu (+%zu fixed), %llu entries\n", budget,
           (unsigned long long)st.bytes, grown, fixed, (unsigned long long)st.entries);
    CHECK(st.bytes <= budget);
    CHECK(st.bytes > budget * 9 / 10); /* the budget is actually used */
    CHECK(grown <= budget);
    CHECK(fixed < 128 * 1024);
    lru_free(c);
#endif
}

/* A handle stays readable after its entry is replaced, deleted and evicted. */
static void test_handle_outlives_eviction(void)
{
    lru_t *c = lru_new(4096, 1, NULL);
    lru_put(c, "k", 1, "held value", 10);
    lru_val_t *v = lru_get(c, "k", 1);
    lru_val_t *w = lru_get(c, "k", 1);
    CHECK(v && w && v == w);
    lru_put(c, "k", 1, "new value", 9);
    char big[1000];
    memset(big, 'b', sizeof big);
    for (int i = 0; i < 50; i++) {
        char k[8];
        snprintf(k, sizeof k, "f%d", i);
        lru_put(c, k, strlen(k), big, sizeof big);
    }
    CHECK_EQ(has(c, "k", NULL), 0);
    CHECK(lru_val_len(v) == 10 && memcmp(lru_val_data(v), "held value", 10) == 0);
    lru_release(v);
    CHECK(memcmp(lru_val_data(w), "held value", 10) == 0);
    lru_release(w); /* frees it (ASan checks the rest) */
    lru_release(NULL);
    lru_put(c, "h", 1, "x", 1);
    v = lru_get(c, "h", 1);
    lru_free(c); /* the handle outlives the cache itself */
    CHECK(memcmp(lru_val_data(v), "x", 1) == 0);
    lru_release(v);
}

/* ---- threads -----------------------------------------------------------------------------------
 */

typedef struct hammer {
    lru_t *c;
    unsigned seed;
    long gets, bad;
} hammer_t;

/* Values are the key repeated up to a length derived from the key and a version byte, so a
 * reader can check that what it got is exactly some value once stored under that key. */
static size_t make_val(const char *k, size_t klen, unsigned ver, unsigned char *out)
{
    size_t n = 8 + (ver * 37 + klen * 11) % 700;
    for (size_t i = 0; i < n; i++) out[i] = (unsigned char)(k[i % klen] ^ (i == 0 ? 0 : ver));
    out[0] = (unsigned char)ver;
    return n;
}

static void *hammer_run(void *arg)
{
    hammer_t *h = arg;
    uint64_t s = 0x9e3779b97f4a7c15ull * (h->seed + 1);
    unsigned char val[800], want[800];
    for (int i = 0; i < 300000; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        char k[16];
        size_t klen = (size_t)snprintf(k, sizeof k, "key%u", (unsigned)(s % 500));
        unsigned op = (unsigned)(s >> 32) % 100;
        if (op < 70) {
            lru_val_t *v = lru_get(h->c, k, klen);
            h->gets++;
            if (v) {
                const unsigned char *d = lru_val_data(v);
                size_t n = make_val(k, klen, d[0], want);
                if (lru_val_len(v) != n || memcmp(d, want, n) != 0) h->bad++;
                lru_release(v);
            }
        } else if (op < 97) {
            size_t n = make_val(k, klen, (unsigned)(s >> 48) % 251, val);
            lru_put(h->c, k, klen, val, n);
        } else {
            lru_del(h->c, k, klen);
        }
    }
    return NULL;
}

static void test_threads(void)
{
    /* Small budget (constant eviction), few shards (constant lock contention). */
    lru_t *c = lru_new(64 * 1024, 4, NULL);
    enum { N = 4 };
    pthread_t t[N];
    hammer_t h[N];
    for (int i = 0; i < N; i++) {
        h[i] = (hammer_t){.c = c, .seed = (unsigned)i};
        pthread_create(&t[i], NULL, hammer_run, &h[i]);
    }
    long gets = 0, bad = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        gets += h[i].gets;
        bad += h[i].bad;
    }
    lru_stats_t st;
    lru_stats(c, &st);
    CHECK_EQ(bad, 0);
    CHECK_EQ((long)(st.hits + st.misses), gets);
    CHECK(st.hits > 0 && st.evictions > 0);
    CHECK(st.bytes <= 64 * 1024);
    /* Recount what the shards hold: charged bytes equal the sum over the surviving entries. */
    size_t sum = 0, n = 0;
    for (unsigned i = 0; i < 500; i++) {
        char k[16];
        size_t klen = (size_t)snprintf(k, sizeof k, "key%u", i);
        lru_val_t *v = lru_get(c, k, klen);
        if (v) sum += lru_entry_cost(klen, lru_val_len(v)), n++;
        lru_release(v);
    }
    CHECK_EQ(sum, st.bytes);
    CHECK_EQ(n, st.entries);
    lru_free(c);
}

static void test_metrics(void)
{
    lru_t *c = lru_new(1 << 20, 2, "embed");
    lru_put(c, "a", 1, "1", 1);
    lru_release(lru_get(c, "a", 1));
    lru_release(lru_get(c, "a", 1));
    lru_release(lru_get(c, "b", 1));
    buf_t b;
    buf_init(&b);
    CHECK_EQ(metrics_render(&b), 0);
    CHECK_EQ(buf_append(&b, "", 1), 0);
    const char *t = b.data;
    CHECK(strstr(t, "# TYPE inferd_cache_l1_hits_total counter\n"));
    CHECK(strstr(t, "inferd_cache_l1_hits_total{cache=\"embed\"} 2\n"));
    CHECK(strstr(t, "inferd_cache_l1_misses_total{cache=\"embed\"} 1\n"));
    CHECK(strstr(t, "inferd_cache_l1_evictions_total{cache=\"embed\"} 0\n"));
    CHECK(strstr(t, "inferd_cache_l1_entries{cache=\"embed\"} 1\n"));
    char want[96];
    snprintf(want, sizeof want, "inferd_cache_l1_bytes{cache=\"embed\"} %zu\n",
             lru_entry_cost(1, 1));
    CHECK(strstr(t, want));
    CHECK(strstr(t, "inferd_cache_l1_budget_bytes{cache=\"embed\"} 1048576\n"));
    buf_deinit(&b);
    metrics_free_all();
    lru_free(c);
}

int main(void)
{
    test_basic();
    test_eviction_order();
    test_against_reference();
    test_budget_vs_heap();
    test_handle_outlives_eviction();
    test_threads();
    test_metrics();
    return TH_DONE();
}
