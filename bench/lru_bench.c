/* L1 LRU micro-benchmark in the shape of seed 004's cache_bench (criterion): get hit, get miss,
 * put, and a 70/30 get/put mix, on 1 and 2 threads. Prints ns per operation (per thread: each
 * thread's CPU time over its own operations) and wall-clock ns per operation. Each figure is the
 * best of `reps` runs, since this machine is shared.
 *
 *   build/lru_bench [keys=10000] [value_bytes=1536] [key_bytes=short|long] [reps=5]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/lru.h"
#include "util/clock.h"

enum { OPS = 2000000, IDX = 1 << 16 };

static lru_t *cache;
static char (*keys)[64], (*miss_keys)[64];
static size_t *klens, *miss_klens;
static unsigned nkeys;
static size_t vbytes;
static unsigned char *value;

typedef enum { GET_HIT, GET_MISS, PUT, MIXED } kind_t;
static const char *kind_names[] = {"get hit", "get miss", "put", "mixed 70/30"};

typedef struct job {
    kind_t kind;
    unsigned seed;
    pthread_barrier_t *start;
    uint64_t ns, wall_ns;
    uint64_t sink;
} job_t;

/* CPU time of the calling thread: on a machine shared with other work, wall time per operation
 * mostly measures how often the thread was descheduled. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *run(void *arg)
{
    job_t *j = arg;
    /* Random key order, precomputed so the loop measures the cache and not the generator. */
    uint32_t *idx = malloc(IDX * sizeof *idx);
    uint8_t *coin = malloc(IDX);
    uint64_t s = 0x9e3779b97f4a7c15ull * (j->seed + 7);
    for (int i = 0; i < IDX; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        idx[i] = (uint32_t)(s % nkeys);
        coin[i] = (uint8_t)((s >> 40) % 100);
    }
    pthread_barrier_wait(j->start);
    uint64_t t0 = thread_cpu_ns(), w0 = clock_mono_ns(), sink = 0;
    for (int i = 0; i < OPS; i++) {
        unsigned k = idx[i & (IDX - 1)];
        switch (j->kind) {
        case GET_HIT:
        case GET_MISS: {
            const char *key = j->kind == GET_HIT ? keys[k] : miss_keys[k];
            size_t kl = j->kind == GET_HIT ? klens[k] : miss_klens[k];
            lru_val_t *v = lru_get(cache, key, kl);
            if (v) {
                sink += lru_val_len(v);
                lru_release(v);
            }
            break;
        }
        case PUT: lru_put(cache, keys[k], klens[k], value, vbytes); break;
        case MIXED:
            if (coin[i & (IDX - 1)] < 70) {
                lru_val_t *v = lru_get(cache, keys[k], klens[k]);
                if (v) {
                    sink += lru_val_len(v);
                    lru_release(v);
                }
            } else {
                lru_put(cache, keys[k], klens[k], value, vbytes);
            }
            break;
        }
    }
    j->ns = thread_cpu_ns() - t0;
    j->wall_ns = clock_mono_ns() - w0;
    j->sink = sink;
    free(idx);
    free(coin);
    return NULL;
}

static void fill(void)
{
    for (unsigned i = 0; i < nkeys; i++) lru_put(cache, keys[i], klens[i], value, vbytes);
}

int main(int argc, char **argv)
{
    nkeys = argc > 1 ? (unsigned)atoi(argv[1]) : 10000;
    vbytes = argc > 2 ? (size_t)atoi(argv[2]) : 1536;
    int longkeys = argc > 3 && strcmp(argv[3], "long") == 0;
    int reps = argc > 4 ? atoi(argv[4]) : 5;
    if (nkeys == 0 || reps <= 0) return fprintf(stderr, "bad arguments\n"), 2;
    keys = malloc(nkeys * sizeof *keys);
    miss_keys = malloc(nkeys * sizeof *miss_keys);
    klens = malloc(nkeys * sizeof *klens);
    miss_klens = malloc(nkeys * sizeof *miss_klens);
    value = calloc(1, vbytes + 1);
    for (unsigned i = 0; i < nkeys; i++) {
        /* short: "key_123" as in the seed's bench; long: what the embed endpoint would build. */
        const char *fmt = longkeys ? "all-MiniLM-L6-v2\x1f"
                                     "1\x1fhow to reset password %u\x1fn1"
                                   : "key_%u";
        klens[i] = (size_t)snprintf(keys[i], sizeof keys[i], fmt, i);
        miss_klens[i] = (size_t)snprintf(miss_keys[i], sizeof miss_keys[i],
                                         longkeys ? "all-MiniLM-L6-v2\x1f"
                                                    "1\x1fhow to reset password %u\x1fn0"
                                                  : "miss_%u",
                                         i);
    }
    /* Room for every key, so "get hit" always hits and "put" replaces without evicting. */
    size_t budget = (size_t)nkeys * lru_entry_cost(64, vbytes) * 2 + (64u << 20);
    printf("keys %u, key %s (%zu bytes), value %zu bytes, %d ops per thread, best of %d\n", nkeys,
           longkeys ? "long" : "short", klens[0], vbytes, OPS, reps);
    printf("%-12s %10s %10s %10s %10s\n", "ns/op", "1 thr cpu", "1 thr wall", "2 thr cpu",
           "2 thr wall");
    for (int kind = 0; kind < 4; kind++) {
        double best_ns[3] = {1e18, 1e18, 1e18}, best_wall[3] = {1e18, 1e18, 1e18};
        for (int threads = 1; threads <= 2; threads++) {
            for (int r = 0; r < reps; r++) {
                cache = lru_new(budget, 0, NULL);
                fill();
                pthread_barrier_t bar;
                pthread_barrier_init(&bar, NULL, (unsigned)threads);
                pthread_t t[2];
                job_t j[2];
                for (int i = 0; i < threads; i++) {
                    j[i] = (job_t){
                        .kind = (kind_t)kind, .seed = (unsigned)(i * 31 + r), .start = &bar};
                    pthread_create(&t[i], NULL, run, &j[i]);
                }
                double ns = 0, wall = 0;
                for (int i = 0; i < threads; i++) {
                    pthread_join(t[i], NULL);
                    ns += (double)j[i].ns / OPS;
                    wall += (double)j[i].wall_ns / OPS;
                }
                ns /= threads, wall /= threads;
                if (ns < best_ns[threads]) best_ns[threads] = ns;
                if (wall < best_wall[threads]) best_wall[threads] = wall;
                pthread_barrier_destroy(&bar);
                lru_free(cache);
            }
        }
        printf("%-12s %10.1f %10.1f %10.1f %10.1f\n", kind_names[kind], best_ns[1], best_wall[1],
               best_ns[2], best_wall[2]);
    }
    free(keys);
    free(miss_keys);
    free(klens);
    free(miss_klens);
    free(value);
    return 0;
}
