/* epoll event loop. Other threads never touch a loop's fds: they post tasks, and the eventfd
 * wakes the loop to run them, which keeps every connection single-threaded. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "net/loop.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"

#define MAX_EVENTS 256

struct loop {
    int epfd;
    pthread_t thread;
    bool started;
    _Atomic bool stop;
    uint64_t now;
    int tick_ms;
    uint64_t next_tick;
    void (*tick_fn)(loop_t *, void *);
    void *tick_arg;

    /* Cross-thread task queue: a mutex-guarded list plus an eventfd. */
    pthread_mutex_t lock;
    loop_task_t *head, *tail;
    loop_watch_t wake;

    /* Loop thread only: tasks that run at the end of the iteration (loop_defer). */
    loop_task_t *deferred;
};

/* The loop running on this thread, if any. */
static __thread loop_t *current_loop;

static void on_wake(loop_t *l, int fd, uint32_t events, void *arg)
{
    uint64_t v;
    while (read(fd, &v, sizeof v) > 0) {
    }
    for (;;) {
        pthread_mutex_lock(&l->lock);
        loop_task_t *t = l->head;
        l->head = l->tail = NULL;
        pthread_mutex_unlock(&l->lock);
        if (!t) break;
        while (t) {
            loop_task_t *next = t->next;
            t->next = NULL;
            t->fn(l, t);
            t = next;
        }
    }
}

/* Runs the deferred tasks, including any that they defer in turn. */
static void run_deferred(loop_t *l)
{
    while (l->deferred) {
        loop_task_t *t = l->deferred;
        l->deferred = NULL;
        while (t) {
            loop_task_t *next = t->next;
            t->next = NULL;
            t->fn(l, t);
            t = next;
        }
    }
}

loop_t *loop_new(int tick_ms, void (*tick_fn)(loop_t *, void *), void *tick_arg)
{
    loop_t *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->epfd < 0 || efd < 0) {
        if (l->epfd >= 0) close(l->epfd);
        if (efd >= 0) close(efd);
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    l->tick_ms = tick_ms;
    l->tick_fn = tick_fn;
    l->tick_arg = tick_arg;
    l->now = clock_mono_ns();
    l->wake = (loop_watch_t){.fd = efd, .events = EPOLLIN, .fn = on_wake, .arg = NULL};
    loop_watch_add(l, &l->wake);
    return l;
}

void loop_free(loop_t *l)
{
    if (!l) return;
    close(l->wake.fd);
    close(l->epfd);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static void *run(void *arg)
{
    loop_t *l = arg;
    current_loop = l;
    struct epoll_event ev[MAX_EVENTS];
    l->now = clock_mono_ns();
    l->next_tick = l->now + (uint64_t)l->tick_ms * 1000000u;
    while (!atomic_load(&l->stop)) {
        int timeout = 0;
        if (l->next_tick > l->now) timeout = (int)((l->next_tick - l->now) / 1000000u) + 1;
        int n = epoll_wait(l->epfd, ev, MAX_EVENTS, timeout);
        l->now = clock_mono_ns();
        if (n < 0 && errno != EINTR) {
            log_error("epoll_wait: errno %d", errno);
            break;
        }
        /* Any handler may close and release an object whose events come later in ev[]: those
         * watches are disarmed and their memory is freed only by run_deferred() below. */
        for (int i = 0; i < n; i++) {
            loop_watch_t *w = ev[i].data.ptr;
            if (w->armed) w->fn(l, w->fd, ev[i].events, w->arg);
        }
        if (l->now >= l->next_tick) {
            l->next_tick = l->now + (uint64_t)l->tick_ms * 1000000u;
            if (l->tick_fn) l->tick_fn(l, l->tick_arg);
        }
        run_deferred(l);
    }
    /* Tasks posted after the last wake-up still run, so no completion is lost at shutdown. */
    on_wake(l, l->wake.fd, EPOLLIN, NULL);
    run_deferred(l);
    return NULL;
}

int loop_start(loop_t *l)
{
    int rc = pthread_create(&l->thread, NULL, run, l);
    if (rc) return -rc;
    pthread_setname_np(l->thread, "inferd-loop"); /* for top -H and perf; failure is harmless */
    l->started = true;
    return 0;
}

void loop_stop_join(loop_t *l)
{
    if (!l->started) return;
    atomic_store(&l->stop, true);
    uint64_t one = 1;
    ssize_t r = write(l->wake.fd, &one, sizeof one);
    (void)r;
    pthread_join(l->thread, NULL);
    l->started = false;
}

int loop_watch_add(loop_t *l, loop_watch_t *w)
{
    struct epoll_event ev = {.events = w->events, .data.ptr = w};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, w->fd, &ev)) return -errno;
    w->armed = true;
    return 0;
}

int loop_watch_mod(loop_t *l, loop_watch_t *w, uint32_t events)
{
    if (w->events == events) return 0;
    w->events = events;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) ? -errno : 0;
}

void loop_watch_del(loop_t *l, loop_watch_t *w)
{
    if (w->armed) epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->armed = false;
}

void loop_defer(loop_t *l, loop_task_t *t)
{
    t->next = l->deferred;
    l->deferred = t;
}

void loop_post(loop_t *l, loop_task_t *t)
{
    t->next = NULL;
    pthread_mutex_lock(&l->lock);
    bool was_empty = l->head == NULL;
    if (l->tail)
        l->tail->next = t;
    else
        l->head = t;
    l->tail = t;
    pthread_mutex_unlock(&l->lock);
    /* Only the first task of a batch needs a wake-up: the loop drains the whole list. */
    if (was_empty) {
        uint64_t one = 1;
        ssize_t r = write(l->wake.fd, &one, sizeof one);
        (void)r;
    }
}

bool loop_is_current(const loop_t *l)
{
    return current_loop == l;
}

void loop_run_or_post(loop_t *l, loop_task_t *t)
{
    if (loop_is_current(l))
        t->fn(l, t);
    else
        loop_post(l, t);
}

uint64_t loop_now(const loop_t *l)
{
    return l->now;
}
