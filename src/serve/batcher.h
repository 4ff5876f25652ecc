/* Dynamic batching: requests for one model queue here and leave in batches formed up to a
 * padded-token budget and a batch size, waiting at most a delay for company. Each batcher has
 * its own worker threads (a batch holds per-worker engine state, and a queue that only its own
 * threads drain can never strand an item when a shared pool is full). Under load, batches form by
 * themselves: while every worker is busy the queue fills, and a worker that comes free takes the
 * lot; at low load an item runs at once unless max_delay_us asks it to wait. */
#ifndef INFERD_SERVE_BATCHER_H
#define INFERD_SERVE_BATCHER_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

/* Embedded in the caller's per-sequence struct; the batcher links and times it. */
typedef struct batch_item {
    struct batch_item *next;
    int cost;        /* tokens this item occupies (sequence length, special tokens included) */
    uint64_t enq_ns; /* set by batcher_submit (monotonic) */
} batch_item_t;

typedef struct batcher_cfg {
    int workers;      /* threads running batches (>= 1) */
    int max_batch;    /* items per batch (>= 1) */
    int max_tokens;   /* batch size x longest item's cost, at most (an item alone may exceed) */
    int max_delay_us; /* how long a batch below max_batch waits for more items (0: never) */
    int max_queue;    /* items waiting, beyond which batcher_submit refuses */
    const char *name; /* thread name prefix (<= 5 chars), e.g. "emb" -> "inferd-emb0" */
} batcher_cfg_t;

/* Runs one batch on worker (0..workers-1): items[0..n-1], sorted by cost (longest first). The
 * callback owns completing every item; it must not call back into the batcher. */
typedef void (*batcher_run_fn)(void *ctx, int worker, batch_item_t **items, int n);

typedef struct batcher batcher_t;

/* Starts cfg->workers threads. NULL (and a message in err) on failure. */
batcher_t *batcher_new(const batcher_cfg_t *cfg, batcher_run_fn run, void *ctx, char *err,
                       size_t errlen);
/* Queues items[0..n-1] (one request's sequences, all or none). 0, -EBUSY when the queue would
 * exceed max_queue, -ESHUTDOWN when stopping. Thread-safe; never blocks on a running batch. */
int batcher_submit(batcher_t *b, batch_item_t **items, int n);
/* Items waiting now. */
int batcher_depth(batcher_t *b);
/* Refuses new items, runs every queued one, joins the workers. Idempotent. */
void batcher_stop(batcher_t *b);
/* Whether the calling thread is one of b's workers (inside a run callback). */
bool batcher_on_worker(const batcher_t *b);

/* Stops (if not yet) and frees. */
void batcher_free(batcher_t *b);

#endif
