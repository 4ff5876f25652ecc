/* Dynamic batcher: one mutex-guarded FIFO, a condition variable, and worker threads that each
 * take a batch, run it unlocked, and come back for the next. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "serve/batcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/clock.h"

/* How far into the queue a batch looks for items of similar length: far enough to fill a batch
 * from a mixed queue, near enough that the oldest item always goes first and nothing starves. */
#define WINDOW_PER_BATCH 8

struct batcher {
    batcher_cfg_t cfg;
    batcher_run_fn run;
    void *ctx;
    pthread_mutex_t lock;
    pthread_cond_t ready;
    batch_item_t *head, *tail;
    int len;
    bool stopping, stopped;
    int started;
    pthread_t *threads;
    batch_item_t **window; /* per worker: WINDOW_PER_BATCH * max_batch slots, then max_batch */
};

typedef struct start {
    batcher_t *b;
    int index;
} start_t;

static int by_cost_desc(const void *a, const void *b)
{
    int ca = (*(batch_item_t *const *)a)->cost, cb = (*(batch_item_t *const *)b)->cost;
    return (ca < cb) - (ca > cb);
}

/* Takes a batch off the queue (lock held, queue not empty) into out; returns its size. The
 * oldest item always goes; the rest are the window's items nearest to its length that fit the
 * token budget, so padding stays small. Unchosen items return to the front in order. */
static int take_batch(batcher_t *b, batch_item_t **win, batch_item_t **out)
{
    int cap = b->cfg.max_batch * WINDOW_PER_BATCH, w = 0;
    while (b->head && w < cap) {
        win[w++] = b->head;
        b->head = b->head->next;
    }
    if (!b->head) b->tail = NULL;
    int n = 0, longest = win[0]->cost;
    out[n++] = win[0];
    win[0] = NULL;
    while (n < b->cfg.max_batch) {
        int best = -1, bestd = 0;
        for (int i = 1; i < w; i++) {
            if (!win[i]) continue;
            int c = win[i]->cost, l = c > longest ? c : longest;
            if ((int64_t)(n + 1) * l > b->cfg.max_tokens) continue;
            int d = abs(c - out[0]->cost);
            if (best < 0 || d < bestd) best = i, bestd = d;
        }
        if (best < 0) break;
        if (win[best]->cost > longest) longest = win[best]->cost;
        out[n++] = win[best];
        win[best] = NULL;
    }
    /* Put the rest back at the front, oldest first. */
    batch_item_t *front = NULL, *last = NULL;
    for (int i = 1; i < w; i++) {
        if (!win[i]) continue;
        if (last)
            last->next = win[i];
        else
            front = win[i];
        last = win[i];
    }
    if (last) {
        last->next = b->head;
        if (!b->head) b->tail = last;
        b->head = front;
    }
    b->len -= n;
    for (int i = 0; i < n; i++) out[i]->next = NULL;
    qsort(out, (size_t)n, sizeof *out, by_cost_desc);
    return n;
}

static void *worker_main(void *arg)
{
    start_t st = *(start_t *)arg;
    free(arg);
    batcher_t *b = st.b;
    size_t wcap = (size_t)b->cfg.max_batch * (WINDOW_PER_BATCH + 1);
    batch_item_t **win = b->window + (size_t)st.index * wcap;
    batch_item_t **out = win + (size_t)b->cfg.max_batch * WINDOW_PER_BATCH;
    pthread_mutex_lock(&b->lock);
    for (;;) {
        while (!b->len && !b->stopping) pthread_cond_wait(&b->ready, &b->lock);
        if (!b->len) break; /* stopping and drained */
        /* A partial batch waits for company until its oldest item has waited max_delay_us. */
        while (b->cfg.max_delay_us > 0 && b->len < b->cfg.max_batch && !b->stopping) {
            uint64_t due = b->head->enq_ns + (uint64_t)b->cfg.max_delay_us * 1000;
            if (clock_mono_ns() >= due) break;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t wait = due - clock_mono_ns();
            ts.tv_sec += (time_t)(wait / 1000000000u);
            ts.tv_nsec += (long)(wait % 1000000000u);
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&b->ready, &b->lock, &ts);
            if (!b->len) break;
        }
        if (!b->len) continue;
        int n = take_batch(b, win, out);
        if (b->len) pthread_cond_signal(&b->ready); /* another worker can start on the rest */
        pthread_mutex_unlock(&b->lock);
        b->run(b->ctx, st.index, out, n);
        pthread_mutex_lock(&b->lock);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

batcher_t *batcher_new(const batcher_cfg_t *cfg, batcher_run_fn run, void *ctx, char *err,
                       size_t errlen)
{
    if (cfg->workers < 1 || cfg->max_batch < 1 || cfg->max_tokens < 1 || cfg->max_queue < 1 ||
        cfg->max_delay_us < 0) {
        snprintf(err, errlen, "batcher: workers, max_batch, max_tokens and max_queue must be >= 1");
        return NULL;
    }
    batcher_t *b = calloc(1, sizeof *b);
    if (!b) goto oom;
    b->cfg = *cfg;
    b->run = run;
    b->ctx = ctx;
    b->threads = calloc((size_t)cfg->workers, sizeof *b->threads);
    b->window = calloc((size_t)cfg->workers * (size_t)cfg->max_batch * (WINDOW_PER_BATCH + 1),
                       sizeof *b->window);
    if (!b->threads || !b->window) goto oom;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->ready, NULL);
    for (int i = 0; i < cfg->workers; i++) {
        start_t *st = malloc(sizeof *st);
        if (!st) break;
        *st = (start_t){b, i};
        if (pthread_create(&b->threads[i], NULL, worker_main, st)) {
            free(st);
            break;
        }
        char name[16];
        snprintf(name, sizeof name, "inferd-%.5s%d", cfg->name ? cfg->name : "batch", i % 100);
        pthread_setname_np(b->threads[i], name);
        b->started++;
    }
    if (b->started != cfg->workers) {
        snprintf(err, errlen, "batcher: cannot start %d threads", cfg->workers);
        batcher_free(b);
        return NULL;
    }
    return b;
oom:
    snprintf(err, errlen, "batcher: out of memory");
    if (b) {
        free(b->threads);
        free(b->window);
        free(b);
    }
    return NULL;
}

int batcher_submit(batcher_t *b, batch_item_t **items, int n)
{
    uint64_t now = clock_mono_ns();
    pthread_mutex_lock(&b->lock);
    if (b->stopping) {
        pthread_mutex_unlock(&b->lock);
        return -ESHUTDOWN;
    }
    if (b->len + n > b->cfg.max_queue) {
        pthread_mutex_unlock(&b->lock);
        return -EBUSY;
    }
    for (int i = 0; i < n; i++) {
        items[i]->next = NULL;
        items[i]->enq_ns = now;
        if (b->tail)
            b->tail->next = items[i];
        else
            b->head = items[i];
        b->tail = items[i];
    }
    b->len += n;
    /* Wake every waiter when a batch is now full, so a worker waiting out max_delay_us goes. */
    if (b->len >= b->cfg.max_batch || n > 1)
        pthread_cond_broadcast(&b->ready);
    else
        pthread_cond_signal(&b->ready);
    pthread_mutex_unlock(&b->lock);
    return 0;
}

int batcher_depth(batcher_t *b)
{
    pthread_mutex_lock(&b->lock);
    int n = b->len;
    pthread_mutex_unlock(&b->lock);
    return n;
}

void batcher_stop(batcher_t *b)
{
    if (!b) return;
    pthread_mutex_lock(&b->lock);
    bool was = b->stopping;
    b->stopping = true;
    pthread_cond_broadcast(&b->ready);
    pthread_mutex_unlock(&b->lock);
    if (was) return;
    for (int i = 0; i < b->started; i++) pthread_join(b->threads[i], NULL);
    b->started = 0;
}

bool batcher_on_worker(const batcher_t *b)
{
    for (int i = 0; i < b->started; i++)
        if (pthread_equal(b->threads[i], pthread_self())) return true;
    return false;
}

void batcher_free(batcher_t *b)
{
    if (!b) return;
    batcher_stop(b);
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->ready);
    free(b->threads);
    free(b->window);
    free(b);
}
