/* Event loop: one thread, one epoll set, a periodic tick, and a thread-safe task queue woken by
 * an eventfd, through which other threads hand work (completed requests) back to the loop. */
#ifndef INFERD_NET_LOOP_H
#define INFERD_NET_LOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct loop loop_t;

/* Called on the loop thread when fd is ready; events is the epoll mask. */
typedef void (*loop_io_fn)(loop_t *l, int fd, uint32_t events, void *arg);

/* A unit of work posted to a loop. Embed it in the object it concerns (no allocation). */
typedef struct loop_task {
    void (*fn)(loop_t *l, struct loop_task *t);
    struct loop_task *next;
} loop_task_t;

/* A registered fd: embed it in the owner (connection, listener). An event the kernel reported
 * before loop_watch_del() is not delivered, even when it is still in the batch being handled. */
typedef struct loop_watch {
    int fd;
    uint32_t events;
    loop_io_fn fn;
    void *arg;
    bool armed; /* between loop_watch_add and loop_watch_del; maintained by the loop */
} loop_watch_t;

/* Creates a loop whose tick_fn(arg) runs every tick_ms on the loop thread. NULL on failure. */
loop_t *loop_new(int tick_ms, void (*tick_fn)(loop_t *, void *), void *tick_arg);
/* Frees the loop; the thread must have been joined. */
void loop_free(loop_t *l);
/* Starts the loop on a new thread. 0 or -errno. */
int loop_start(loop_t *l);
/* Asks the loop to return after the current iteration (thread-safe), then joins it. */
void loop_stop_join(loop_t *l);

/* Adds, modifies or removes a watch. Must be called on the loop thread (or before start). */
int loop_watch_add(loop_t *l, loop_watch_t *w);
int loop_watch_mod(loop_t *l, loop_watch_t *w, uint32_t events);
void loop_watch_del(loop_t *l, loop_watch_t *w);

/* Queues t to run on the loop thread. Thread-safe, never blocks on I/O, never fails. */
void loop_post(loop_t *l, loop_task_t *t);
/* Runs t on the loop thread once every event and task of the current iteration has been
 * handled. Owners free themselves this way, so that no later event of the same epoll batch can
 * reach freed memory. Loop thread only; t runs even when the loop is stopping. */
void loop_defer(loop_t *l, loop_task_t *t);
/* Runs t now when called on l's thread, else posts it. */
void loop_run_or_post(loop_t *l, loop_task_t *t);
/* True when called on l's own thread. */
bool loop_is_current(const loop_t *l);
/* Monotonic time cached at the start of the current iteration (ns). */
uint64_t loop_now(const loop_t *l);

#endif
