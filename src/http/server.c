/* HTTP server: workers (one event loop + listener each), connection limits, metrics, and the
 * drain-then-stop shutdown sequence. Per-connection logic lives in conn.c. */
#include "http/server.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "http/conn.h"
#include "net/sock.h"
#include "util/clock.h"
#include "util/log.h"

#define TICK_MS 100
#define BACKLOG 1024

static void update_date(http_worker_t *wk)
{
    time_t t = time(NULL);
    if (t == wk->date_sec) return;
    wk->date_sec = t;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(wk->date, sizeof wk->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void on_tick(loop_t *l, void *arg)
{
    http_worker_t *wk = arg;
    update_date(wk);
    http__sweep(wk);
    if (wk->accept_paused && !wk->draining) {
        wk->accept_paused = false;
        loop_watch_add(l, &wk->listen_w);
    }
}

static void on_drain_task(loop_t *l, loop_task_t *t)
{
    http_worker_t *wk = (http_worker_t *)((char *)t - offsetof(http_worker_t, drain_task));
    http__drain_worker(wk);
}

static double rss_bytes(void *arg)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    unsigned long size = 0, rss = 0;
    int n = fscanf(f, "%lu %lu", &size, &rss);
    fclose(f);
    return n == 2 ? (double)rss * (double)sysconf(_SC_PAGESIZE) : 0;
}

static double body_bytes(void *arg)
{
    http_server_t *s = arg;
    return (double)atomic_load(&s->body_bytes);
}

static void register_metrics(http_server_t *s)
{
    int nroutes = router_count(s->router);
    s->route_metrics = calloc((size_t)nroutes + 1, sizeof *s->route_metrics);
    metric_family_t *req =
        metrics_family("inferd_http_requests_total", "HTTP requests answered, by route and status",
                       METRIC_COUNTER, NULL, 0);
    metric_family_t *lat = metrics_family(
        "inferd_http_request_duration_seconds",
        "Time from a complete request head to its response being queued for writing, by route",
        METRIC_HISTOGRAM, metrics_latency_buckets, metrics_latency_nbuckets);
    for (int i = 0; i <= nroutes; i++) {
        const http_route_t *rt = router_get(s->router, i);
        const char *name = rt ? rt->pattern : "unmatched";
        char labels[256];
        http_route_metrics_t *rm = &s->route_metrics[i];
        snprintf(labels, sizeof labels, "route=\"%s\"", name);
        rm->latency = metrics_series(lat, labels, true);
        rm->by_status = calloc((size_t)http__nstatuses, sizeof(metric_t *));
        for (int j = 0; j < http__nstatuses; j++) {
            if (http__statuses[j])
                snprintf(labels, sizeof labels, "route=\"%s\",status=\"%d\"", name,
                         http__statuses[j]);
            else
                snprintf(labels, sizeof labels, "route=\"%s\",status=\"other\"", name);
            rm->by_status[j] = metrics_series(req, labels, true);
        }
    }
    s->m_conns_open =
        metrics_series(metrics_family("inferd_http_connections_open", "Client connections open now",
                                      METRIC_GAUGE, NULL, 0),
                       "", false);
    s->m_conns_total =
        metrics_series(metrics_family("inferd_http_connections_accepted_total",
                                      "Client connections accepted", METRIC_COUNTER, NULL, 0),
                       "", false);
    s->m_conns_refused = metrics_series(
        metrics_family("inferd_http_connections_refused_total",
                       "Connections refused with 503 because max_connections was reached",
                       METRIC_COUNTER, NULL, 0),
        "", false);
    metric_family_t *bytes =
        metrics_family("inferd_http_bytes_total", "Bytes read from and written to client sockets",
                       METRIC_COUNTER, NULL, 0);
    s->m_bytes_in = metrics_series(bytes, "direction=\"in\"", false);
    s->m_bytes_out = metrics_series(bytes, "direction=\"out\"", false);
    s->m_body_refused = metrics_series(
        metrics_family("inferd_http_body_memory_refused_total",
                       "Requests answered 503 because request bodies held in memory would have "
                       "exceeded max_body_memory",
                       METRIC_COUNTER, NULL, 0),
        "", false);
    metrics_gauge_fn(metrics_family("inferd_http_body_memory_bytes",
                                    "Bytes held by request bodies now (limit: max_body_memory)",
                                    METRIC_GAUGE, NULL, 0),
                     "", body_bytes, s);
    metrics_gauge_fn(metrics_family("process_resident_memory_bytes", "Resident memory size",
                                    METRIC_GAUGE, NULL, 0),
                     "", rss_bytes, NULL);
}

http_server_t *http_server_new(const config_t *cfg, http_router_t *rt, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (sock_parse_addr(cfg->listen, &ss, &sl, err, errlen)) return NULL;

    /* Request bodies (up to max_body_bytes each) are the large, short-lived allocations of a
     * server. glibc raises its mmap threshold after each large free, up to 32 MiB, after which
     * such bodies come from the heap and a burst's memory stays held; a fixed threshold keeps
     * every body in its own mapping, returned to the kernel when the request is freed. */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024);

    http_server_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    s->router = rt;
    s->nworkers = cfg->threads > 0 ? cfg->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (s->nworkers < 1) s->nworkers = 1;
    s->workers = calloc((size_t)s->nworkers, sizeof *s->workers);
    if (!s->workers) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    for (int i = 0; i < s->nworkers; i++) s->workers[i].listen_w.fd = -1;
    int rc = sock_check_free(&ss, sl);
    if (rc) {
        snprintf(err, errlen, "cannot listen on %s: %s", cfg->listen, strerror(-rc));
        goto fail;
    }
    for (int i = 0; i < s->nworkers; i++) {
        http_worker_t *wk = &s->workers[i];
        wk->srv = s;
        wk->drain_task.fn = on_drain_task;
        update_date(wk);
        wk->loop = loop_new(TICK_MS, on_tick, wk);
        wk->rbuf = malloc(HTTP_READ_CHUNK);
        if (!wk->loop || !wk->rbuf) {
            snprintf(err, errlen, "cannot create event loop: %s", strerror(errno));
            goto fail;
        }
        /* With port 0 the first bind picks a port; the others join it. */
        int fd = sock_listen(&ss, sl, BACKLOG);
        if (fd < 0) {
            snprintf(err, errlen, "cannot listen on %s: %s", cfg->listen, strerror(-fd));
            goto fail;
        }
        if (i == 0) {
            s->port = sock_local_port(fd);
            if (ss.ss_family == AF_INET)
                ((struct sockaddr_in *)&ss)->sin_port = htons(s->port);
            else
                ((struct sockaddr_in6 *)&ss)->sin6_port = htons(s->port);
        }
        wk->listen_w =
            (loop_watch_t){.fd = fd, .events = EPOLLIN, .fn = http__on_accept, .arg = wk};
        loop_watch_add(wk->loop, &wk->listen_w);
    }
    register_metrics(s);
    return s;
fail:
    http_server_free(s);
    return NULL;
}

void http_server_set_guard(http_server_t *s, http_guard_fn fn, void *arg)
{
    s->guard = fn;
    s->guard_arg = arg;
}

int http_server_start(http_server_t *s)
{
    for (int i = 0; i < s->nworkers; i++) {
        int rc = loop_start(s->workers[i].loop);
        if (rc) return rc;
    }
    return 0;
}

int http_server_port(const http_server_t *s)
{
    return s->port;
}

bool http_server_drain(http_server_t *s, long timeout_ms)
{
    for (int i = 0; i < s->nworkers; i++) loop_post(s->workers[i].loop, &s->workers[i].drain_task);
    uint64_t until = clock_mono_ns() + (uint64_t)timeout_ms * 1000000u;
    while (clock_mono_ns() < until) {
        if (atomic_load(&s->inflight) == 0 && atomic_load(&s->open_conns) == 0) return true;
        struct timespec ts = {0, 10 * 1000000};
        nanosleep(&ts, NULL);
    }
    log_warn("shutdown: %ld requests still in flight and %ld connections open after %ld ms",
             atomic_load(&s->inflight), atomic_load(&s->open_conns), timeout_ms);
    return false;
}

void http_server_stop(http_server_t *s)
{
    for (int i = 0; i < s->nworkers; i++)
        if (s->workers[i].loop) loop_stop_join(s->workers[i].loop);
}

void http_server_free(http_server_t *s)
{
    if (!s) return;
    for (int i = 0; i < s->nworkers; i++) {
        http_worker_t *wk = &s->workers[i];
        if (wk->loop) http__free_all(wk);
        if (wk->listen_w.fd >= 0) close(wk->listen_w.fd);
        loop_free(wk->loop);
        free(wk->rbuf);
    }
    if (s->route_metrics) {
        for (int i = 0; i <= router_count(s->router); i++) free(s->route_metrics[i].by_status);
        free(s->route_metrics);
    }
    free(s->workers);
    free(s);
}
