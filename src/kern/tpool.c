/* The compute thread pool (see tpool.h). A region is published by bumping a generation
 * counter; workers take items from a shared atomic cursor. The caller never waits for a worker
 * that has not joined: once every item is done it closes the region and waits only for the
 * workers inside it (a worker enters, then checks the region is still open, so the two sides
 * cannot miss each other). On a machine busier than its cores, a descheduled worker so costs
 * nothing, where waiting for every worker's acknowledgement cost a scheduler slice per op. */
#define _GNU_SOURCE /* pthread_setname_np */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "kern/tpool.h"

/* About 0.1-0.5 ms of pause instructions: an inference's ops follow each other much faster,
 * so workers stay awake through one inference and sleep between requests. */
#define SPIN_ROUNDS 20000

struct tpool {
    int nthreads;
    pthread_t *th;
    int nstarted;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint gen;     /* bumped to publish a region (or the stop) */
    atomic_uint open;    /* the generation whose region may still be joined; 0 once closed */
    atomic_int sleepers; /* workers waiting on cv */
    atomic_int active;   /* workers inside the current region */
    atomic_llong next;   /* the next item to hand out */
    atomic_llong done;   /* items finished */
    atomic_int rc;       /* first nonzero item result */
    bool stop;
    int64_t n;
    int (*fn)(void *, int64_t, int);
    void *arg;
};

typedef struct {
    tpool_t *p;
    int w;
} worker_arg_t;

static _Thread_local bool in_region;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void work(tpool_t *p, int w)
{
    int64_t i;
    while ((i = atomic_fetch_add(&p->next, 1)) < p->n) {
        int r = p->fn(p->arg, i, w);
        if (r) {
            int zero = 0;
            atomic_compare_exchange_strong(&p->rc, &zero, r);
        }
        atomic_fetch_add(&p->done, 1);
    }
}

static void *worker_main(void *a)
{
    worker_arg_t *wa = a;
    tpool_t *p = wa->p;
    int w = wa->w;
    free(wa);
    in_region = true;  /* a region's fn that starts another region runs it serially */
    unsigned seen = 0; /* the generation at creation: a region may be published before we run */
    for (;;) {
        unsigned g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen &&
               spins++ < SPIN_ROUNDS)
            cpu_relax();
        if (g == seen) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->sleepers, 1);
            while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen)
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mu);
        }
        seen = g;
        if (p->stop) return NULL;
        atomic_fetch_add(&p->active, 1);
        if (atomic_load(&p->open) == g) work(p, w);
        atomic_fetch_sub(&p->active, 1);
    }
}

tpool_t *tpool_new(int nthreads)
{
    tpool_t *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->nthreads = nthreads < 1 ? 1 : nthreads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    if (p->nthreads > 1) {
        p->th = calloc((size_t)p->nthreads - 1, sizeof *p->th);
        if (!p->th) {
            tpool_free(p);
            return NULL;
        }
        for (int w = 1; w < p->nthreads; w++) {
            worker_arg_t *wa = malloc(sizeof *wa);
            if (!wa) break;
            *wa = (worker_arg_t){p, w};
            if (pthread_create(&p->th[p->nstarted], NULL, worker_main, wa)) {
                free(wa);
                break;
            }
            pthread_setname_np(p->th[p->nstarted], "inferd-eng"); /* top -H, perf */
            p->nstarted++;
        }
        if (p->nstarted != p->nthreads - 1) {
            tpool_free(p);
            return NULL;
        }
    }
    return p;
}

static void publish(tpool_t *p)
{
    /* A worker counts itself a sleeper and checks gen under the mutex, so reading sleepers
     * under it too cannot miss one about to sleep. (Reading it before taking the mutex could:
     * the worker then slept through the bump, and through the stop, so tpool_free's join hung:
     * seen once in CI as `inferd run --threads 2` never exiting.) */
    pthread_mutex_lock(&p->mu);
    atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
    if (atomic_load(&p->sleepers) > 0) pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void tpool_free(tpool_t *p)
{
    if (!p) return;
    if (p->nstarted) {
        p->stop = true;
        publish(p);
        for (int i = 0; i < p->nstarted; i++) pthread_join(p->th[i], NULL);
    }
    free(p->th);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}

int tpool_size(const tpool_t *p)
{
    return p ? p->nthreads : 1;
}

int tpool_run(tpool_t *p, int64_t n, int (*fn)(void *arg, int64_t i, int w), void *arg)
{
    if (!p || p->nstarted == 0 || n <= 1 || in_region) {
        int rc = 0;
        for (int64_t i = 0; i < n; i++) {
            int r = fn(arg, i, 0);
            if (r && !rc) rc = r;
        }
        return rc;
    }
    p->n = n;
    p->fn = fn;
    p->arg = arg;
    atomic_store(&p->next, 0);
    atomic_store(&p->done, 0);
    atomic_store(&p->rc, 0);
    unsigned g = atomic_load(&p->gen) + 1;
    if (g == 0) g = 1; /* 0 means closed */
    atomic_store(&p->open, g);
    publish(p);
    in_region = true;
    work(p, 0);
    in_region = false;
    /* Items a worker took are finishing on a CPU it holds; then close, and wait only for the
     * workers that joined (they find no items left). */
    for (int spins = 0; atomic_load(&p->done) < n;)
        if (++spins > 2000)
            sched_yield();
        else
            cpu_relax();
    atomic_store(&p->open, 0);
    for (int spins = 0; atomic_load(&p->active) > 0;)
        if (++spins > 2000)
            sched_yield();
        else
            cpu_relax();
    return atomic_load(&p->rc);
}
