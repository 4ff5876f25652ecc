/* The dynamic batcher: every item runs exactly once, batches respect max_batch and the token
 * budget, similar lengths are grouped, a full queue refuses, a delay gathers company, and stop
 * drains what is queued. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "serve/batcher.h"
#include "th.h"
#include "util/clock.h"

typedef struct item {
    batch_item_t bi; /* first, so a batch_item_t * is an item_t * */
    atomic_int runs;
    int batch_size; /* size of the batch it ran in */
} item_t;

typedef struct ctx {
    int max_batch, max_tokens;
    atomic_int batches, items, bad_batch, bad_budget, max_seen;
    int spread_sum; /* longest - shortest summed over batches, under the lock of one worker */
    int slow_us;
    pthread_mutex_t lock;
} ctx_t;

static void run(void *arg, int worker, batch_item_t **items, int n)
{
    ctx_t *c = arg;
    (void)worker;
    if (c->slow_us) usleep((useconds_t)c->slow_us);
    if (n > c->max_batch) atomic_fetch_add(&c->bad_batch, 1);
    if (n > 1 && (long)n * items[0]->cost > c->max_tokens) atomic_fetch_add(&c->bad_budget, 1);
    for (int i = 1; i < n; i++)
        if (items[i]->cost > items[i - 1]->cost) atomic_fetch_add(&c->bad_batch, 1); /* sorted */
    pthread_mutex_lock(&c->lock);
    c->spread_sum += items[0]->cost - items[n - 1]->cost;
    pthread_mutex_unlock(&c->lock);
    int m = atomic_load(&c->max_seen);
    while (n > m && !atomic_compare_exchange_weak(&c->max_seen, &m, n)) {
    }
    for (int i = 0; i < n; i++) {
        item_t *it = (item_t *)items[i];
        it->batch_size = n;
        atomic_fetch_add(&it->runs, 1);
    }
    atomic_fetch_add(&c->batches, 1);
    atomic_fetch_add(&c->items, n);
}

static batcher_t *mk(ctx_t *c, int workers, int max_batch, int max_tokens, int delay_us, int queue)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    c->max_batch = max_batch;
    c->max_tokens = max_tokens;
    char err[128];
    batcher_cfg_t cfg = {workers, max_batch, max_tokens, delay_us, queue, "test"};
    batcher_t *b = batcher_new(&cfg, run, c, err, sizeof err);
    CHECK(b != NULL);
    return b;
}

/* Many threads submit many items of random length while workers are slow: each item runs once,
 * batches stay within limits, and real batches form (more than one item). */
typedef struct feeder {
    batcher_t *b;
    item_t *items;
    int n, refused;
} feeder_t;

static void *feed(void *arg)
{
    feeder_t *f = arg;
    for (int i = 0; i < f->n; i++) {
        batch_item_t *p = &f->items[i].bi;
        while (batcher_submit(f->b, &p, 1) == -EBUSY) {
            f->refused++;
            usleep(100);
        }
    }
    return NULL;
}

static void test_every_item_once_within_limits(void)
{
    ctx_t c;
    batcher_t *b = mk(&c, 2, 8, 512, 0, 64);
    c.slow_us = 300;
    enum { FEEDERS = 4, PER = 500 };
    static item_t items[FEEDERS][PER];
    feeder_t f[FEEDERS];
    pthread_t th[FEEDERS];
    unsigned seed = 7;
    for (int t = 0; t < FEEDERS; t++) {
        for (int i = 0; i < PER; i++) {
            memset(&items[t][i], 0, sizeof items[t][i]);
            items[t][i].bi.cost = 1 + (int)(rand_r(&seed) % 200);
        }
        f[t] = (feeder_t){b, items[t], PER, 0};
        pthread_create(&th[t], NULL, feed, &f[t]);
    }
    for (int t = 0; t < FEEDERS; t++) pthread_join(th[t], NULL);
    batcher_stop(b);
    int once = 1;
    for (int t = 0; t < FEEDERS; t++)
        for (int i = 0; i < PER; i++) once &= atomic_load(&items[t][i].runs) == 1;
    CHECK(once);
    CHECK_EQ(atomic_load(&c.items), FEEDERS * PER);
    CHECK_EQ(atomic_load(&c.bad_batch), 0);
    CHECK_EQ(atomic_load(&c.bad_budget), 0);
    CHECK(atomic_load(&c.max_seen) > 1);
    CHECK(atomic_load(&c.batches) < FEEDERS * PER);
    batcher_free(b);
}

/* A queue holding short and long items in alternation batches them by length, not by arrival. */
static void test_similar_lengths_are_grouped(void)
{
    ctx_t c;
    batcher_t *b = mk(&c, 1, 4, 100000, 0, 64);
    c.slow_us = 20000; /* the first batch (one item) runs while the rest queue up */
    static item_t items[33];
    batch_item_t *p[33];
    for (int i = 0; i < 33; i++) {
        memset(&items[i], 0, sizeof items[i]);
        items[i].bi.cost = i % 2 ? 200 : 5;
        p[i] = &items[i].bi;
    }
    CHECK_EQ(batcher_submit(b, p, 1), 0);
    usleep(5000);
    CHECK_EQ(batcher_submit(b, p + 1, 32), 0);
    batcher_stop(b);
    CHECK_EQ(atomic_load(&c.items), 33);
    CHECK_EQ(c.spread_sum, 0); /* no batch mixed 5 and 200 */
    batcher_free(b);
}

static void test_full_queue_refuses_and_stop_refuses(void)
{
    ctx_t c;
    batcher_t *b = mk(&c, 1, 1, 1000, 0, 4);
    c.slow_us = 50000;
    static item_t items[8];
    batch_item_t *p[8];
    for (int i = 0; i < 8; i++) {
        memset(&items[i], 0, sizeof items[i]);
        items[i].bi.cost = 3;
        p[i] = &items[i].bi;
    }
    CHECK_EQ(batcher_submit(b, p, 1), 0);
    usleep(10000); /* the worker holds item 0 */
    CHECK_EQ(batcher_submit(b, p + 1, 4), 0);
    CHECK_EQ(batcher_submit(b, p + 5, 1), -EBUSY);
    CHECK_EQ(batcher_depth(b), 4);
    batcher_stop(b);
    CHECK_EQ(atomic_load(&c.items), 5); /* stop ran the queued ones */
    CHECK_EQ(batcher_submit(b, p + 6, 1), -ESHUTDOWN);
    batcher_free(b);
}

/* With a delay, items arriving within it share one batch; without, the first runs alone. */
static void test_delay_gathers_company(void)
{
    for (int delay = 0; delay <= 1; delay++) {
        ctx_t c;
        batcher_t *b = mk(&c, 1, 8, 100000, delay ? 200000 : 0, 64);
        static item_t items[4];
        for (int i = 0; i < 4; i++) {
            memset(&items[i], 0, sizeof items[i]);
            items[i].bi.cost = 10;
            batch_item_t *p = &items[i].bi;
            CHECK_EQ(batcher_submit(b, &p, 1), 0);
            usleep(10000);
        }
        uint64_t t0 = clock_mono_ns();
        while (atomic_load(&c.items) < 4 && clock_mono_ns() - t0 < 2000000000u) usleep(1000);
        CHECK_EQ(atomic_load(&c.items), 4);
        if (delay)
            CHECK_EQ(items[0].batch_size, 4);
        else
            CHECK_EQ(items[0].batch_size, 1);
        batcher_free(b);
    }
}

int main(void)
{
    test_every_item_once_within_limits();
    test_similar_lengths_are_grouped();
    test_full_queue_refuses_and_stop_refuses();
    test_delay_gathers_company();
    return TH_DONE();
}
