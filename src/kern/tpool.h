/* A persistent compute thread pool: the threads one inference splits its work across (GEMM
 * column blocks, attention heads, batch rows). Created once per engine session and sized by
 * engine_threads; a parallel region costs a wake-up, never a thread start. Workers spin briefly
 * after a region (the next op usually follows within microseconds) and then sleep. One thread
 * at a time may call tpool_run on a pool; a region started from inside a region runs serially. */
#ifndef INFERD_KERN_TPOOL_H
#define INFERD_KERN_TPOOL_H

#include <stdint.h>

typedef struct tpool tpool_t;

/* A pool running regions on nthreads threads: the caller and nthreads - 1 workers. NULL on
 * failure to allocate or start them; nthreads <= 1 gives a pool with no workers (valid). */
tpool_t *tpool_new(int nthreads);
/* Stops and joins the workers. NULL is a no-op. */
void tpool_free(tpool_t *p);
/* Threads a region uses (1 for NULL). */
int tpool_size(const tpool_t *p);
/* Calls fn(arg, i, w) for every i in [0, n), spread over the pool's threads; w in
 * [0, tpool_size) is the calling thread's index (for per-thread scratch). Items are handed out
 * one at a time, so uneven items balance. Returns 0, or the first nonzero fn result (the other
 * items still run). p may be NULL (runs on the caller). */
int tpool_run(tpool_t *p, int64_t n, int (*fn)(void *arg, int64_t i, int w), void *arg);

#endif
