/* Compute pool: a fixed set of worker threads fed by one bounded queue. Event loops hand work
 * here so that inference (and JSON decoding, storage reads) never runs on an I/O thread. */
#ifndef INFERD_SCHED_POOL_H
#define INFERD_SCHED_POOL_H

#include <stddef.h>

typedef struct pool pool_t;

/* A job runs fn(arg, worker) on one of the workers; worker is 0..nthreads-1, so a job may use
 * per-worker state (engine sessions) without locks. */
typedef void (*pool_fn)(void *arg, int worker);

/* Starts nthreads workers with a queue of at most queue_max jobs. NULL on failure. */
pool_t *pool_new(int nthreads, size_t queue_max);
/* Queues a job. 0, or -EAGAIN when the queue is full (the caller answers 503) or the pool is
 * stopping. Thread-safe. */
int pool_submit(pool_t *p, pool_fn fn, void *arg);
/* Jobs waiting (not yet started). */
size_t pool_depth(pool_t *p);
int pool_threads(const pool_t *p);
/* Runs every queued job to completion, then stops and joins the workers (a shutdown hook). */
void pool_stop(pool_t *p);
void pool_free(pool_t *p);

#endif
