/* Compute pool: a mutex-guarded ring of jobs and a condition variable. Jobs are coarse
 * (a whole request), so one lock is not a bottleneck at the rates two cores can serve. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "sched/pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct job {
    pool_fn fn;
    void *arg;
} job_t;

struct pool {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    job_t *ring;
    size_t cap, head, len;
    bool stopping;
    int nthreads, started;
    pthread_t *threads;
};

typedef struct start {
    pool_t *p;
    int index;
} start_t;

static void *worker_main(void *arg)
{
    start_t st = *(start_t *)arg;
    free(arg);
    pool_t *p = st.p;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->len && !p->stopping) pthread_cond_wait(&p->ready, &p->lock);
        if (!p->len) break; /* stopping and drained */
        job_t j = p->ring[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
        pthread_mutex_unlock(&p->lock);
        j.fn(j.arg, st.index);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

pool_t *pool_new(int nthreads, size_t queue_max)
{
    if (nthreads < 1 || queue_max < 1) return NULL;
    pool_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->ring = calloc(queue_max, sizeof *p->ring);
    p->threads = calloc((size_t)nthreads, sizeof *p->threads);
    if (!p->ring || !p->threads) {
        pool_free(p);
        return NULL;
    }
    p->cap = queue_max;
    p->nthreads = nthreads;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->ready, NULL);
    for (int i = 0; i < nthreads; i++) {
        start_t *st = malloc(sizeof *st);
        if (!st) break;
        *st = (start_t){p, i};
        if (pthread_create(&p->threads[i], NULL, worker_main, st)) {
            free(st);
            break;
        }
        char name[16];
        snprintf(name, sizeof name, "inferd-work%d", i % 1000);
        pthread_setname_np(p->threads[i], name); /* for top -H and perf; failure is harmless */
        p->started++;
    }
    if (p->started != nthreads) {
        pool_stop(p);
        pool_free(p);
        return NULL;
    }
    return p;
}

int pool_submit(pool_t *p, pool_fn fn, void *arg)
{
    pthread_mutex_lock(&p->lock);
    if (p->stopping || p->len == p->cap) {
        pthread_mutex_unlock(&p->lock);
        return -EAGAIN;
    }
    p->ring[(p->head + p->len) % p->cap] = (job_t){fn, arg};
    p->len++;
    pthread_cond_signal(&p->ready);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

size_t pool_depth(pool_t *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->len;
    pthread_mutex_unlock(&p->lock);
    return n;
}

int pool_threads(const pool_t *p)
{
    return p->nthreads;
}

void pool_stop(pool_t *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->lock);
    bool was = p->stopping;
    p->stopping = true;
    pthread_cond_broadcast(&p->ready);
    pthread_mutex_unlock(&p->lock);
    if (was) return;
    for (int i = 0; i < p->started; i++) pthread_join(p->threads[i], NULL);
    p->started = 0;
}

void pool_free(pool_t *p)
{
    if (!p) return;
    if (p->nthreads && p->ring) {
        pthread_mutex_destroy(&p->lock);
        pthread_cond_destroy(&p->ready);
    }
    free(p->ring);
    free(p->threads);
    free(p);
}
