/* Test and diagnosis endpoints, off unless debug_endpoints is set.
 * GET /debug/delay?ms=N: a request answered by another thread after N ms. It exercises the
 * asynchronous completion path (as the compute pool and storage writers use it) end to end, and
 * lets tests hold requests in flight across a shutdown. POST /debug/echo returns the body. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "util/clock.h"
#include "util/err.h"

#define MAX_PENDING  4096 /* more concurrent delays than this are answered 503 */
#define MAX_DELAY_MS 60000

typedef struct pending {
    http_req_t *req;
    uint64_t due;
    long ms;
} pending_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static pending_t pend[MAX_PENDING];
static int npend;
static pthread_t thread;
static bool running, stopping;

static void answer(pending_t *p, int status)
{
    if (status == 200) {
        buf_printf(&p->req->out_body, "{\"delayed_ms\":%ld}\n", p->ms);
        http_reply_buf(p->req, 200, "application/json");
    } else {
        api_reply_err(p->req, ERR_SHUTDOWN, "server is shutting down");
    }
}

static void *timer_main(void *arg)
{
    pthread_mutex_lock(&lock);
    while (!stopping) {
        uint64_t now = clock_mono_ns(), next = 0;
        for (int i = 0; i < npend;) {
            if (pend[i].due <= now) {
                pending_t p = pend[i];
                pend[i] = pend[--npend];
                answer(&p, 200);
                continue;
            }
            if (!next || pend[i].due < next) next = pend[i].due;
            i++;
        }
        if (!next) {
            pthread_cond_wait(&cond, &lock);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t wait = next - now;
        ts.tv_sec += (time_t)(wait / 1000000000u);
        ts.tv_nsec += (long)(wait % 1000000000u);
        if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&cond, &lock, &ts);
    }
    while (npend) answer(&pend[--npend], 503);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static long query_ms(const http_req_t *r)
{
    char v[16], *end;
    if (http_query_get(r->head.query, "ms", v, sizeof v) != 1 || !*v) return -1;
    long ms = strtol(v, &end, 10);
    return *end || v[0] < '0' || v[0] > '9' || ms > MAX_DELAY_MS ? -1 : ms;
}

static void delay(http_req_t *r, void *arg)
{
    long ms = query_ms(r);
    if (ms < 0) {
        api_reply_err(r, ERR_INVALID, "ms must be an integer between 0 and %d", MAX_DELAY_MS);
        return;
    }
    pthread_mutex_lock(&lock);
    if (stopping || npend == MAX_PENDING) {
        pthread_mutex_unlock(&lock);
        api_reply_err(r, ERR_BUSY, "too many delayed requests");
        return;
    }
    if (!running) {
        running = pthread_create(&thread, NULL, timer_main, NULL) == 0;
        if (!running) {
            pthread_mutex_unlock(&lock);
            api_reply_err(r, ERR_INTERNAL, "cannot start the timer thread");
            return;
        }
    }
    pend[npend++] = (pending_t){r, clock_mono_ns() + (uint64_t)ms * 1000000u, ms};
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
}

/* POST /debug/echo: answers the request body as it was received (after de-chunking). */
static void echo(http_req_t *r, void *arg)
{
    http_reply(r, 200, "application/octet-stream", r->body, r->body_len);
}

void api_debug_register(http_router_t *rt)
{
    router_add(rt, M(HTTP_GET), "/debug/delay", delay, NULL, 0);
    router_add(rt, M(HTTP_POST), "/debug/echo", echo, NULL, 0);
}

void api_debug_shutdown(void)
{
    pthread_mutex_lock(&lock);
    stopping = true;
    bool join = running;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
    if (join) pthread_join(thread, NULL);
    running = false;
}
