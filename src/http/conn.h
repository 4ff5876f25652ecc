/* Internal to src/http: one client connection and the per-loop state it belongs to. The
 * connection reads, parses, dispatches and writes on its loop thread only. */
#ifndef INFERD_HTTP_CONN_H
#define INFERD_HTTP_CONN_H

#include <stdatomic.h>
#include <time.h>

#include "http/http.h"
#include "http/router.h"
#include "http/server.h"
#include "metrics/metrics.h"

#define HTTP_READ_CHUNK (64 * 1024) /* most bytes one read(2) takes from a socket */

/* One per event loop. */
typedef struct http_worker {
    http_server_t *srv;
    loop_t *loop;
    loop_watch_t listen_w;
    http_conn_t *conns; /* every connection of this loop, for timeouts and shutdown */
    bool draining;
    bool accept_paused;     /* listener unwatched after EMFILE; the tick re-arms it */
    uint64_t accept_warned; /* last "out of descriptors" warning (rate limit) */
    char date[40];          /* "Date: ...\r\n" value, refreshed by the tick */
    char *rbuf;             /* HTTP_READ_CHUNK bytes every read lands in first (see on_io) */
    time_t date_sec;
    loop_task_t drain_task;
} http_worker_t;

/* Per-route metric series: a latency histogram and a counter per status code. */
typedef struct http_route_metrics {
    metric_t *latency;
    metric_t **by_status; /* indexed like http__status_index() */
} http_route_metrics_t;

struct http_server {
    const config_t *cfg;
    http_router_t *router;
    http_guard_fn guard;
    void *guard_arg;
    http_worker_t *workers;
    int nworkers;
    int port;
    _Atomic long open_conns;
    _Atomic long inflight;               /* dispatched requests not yet answered */
    _Atomic int64_t body_bytes;          /* held by request bodies now (max_body_memory) */
    http_route_metrics_t *route_metrics; /* router_count() + 1: the last is "unmatched" */
    metric_t *m_bytes_in, *m_bytes_out, *m_conns_total, *m_conns_refused, *m_conns_open;
    metric_t *m_body_refused;
};

typedef enum conn_state {
    C_HEAD,    /* waiting for / parsing a request head */
    C_BODY,    /* reading a Content-Length body */
    C_CHUNKED, /* decoding a chunked body */
    C_LINGER,  /* response sent, write side shut; draining input before close */
    C_CLOSED,  /* fd closed; kept only until in-flight requests complete */
} conn_state_t;

struct http_conn {
    loop_watch_t w;
    http_worker_t *wk;
    http_conn_t *prev, *next;
    conn_state_t state;
    buf_t in, out;
    size_t out_off;              /* bytes of out already written */
    http_req_t *q_head, *q_tail; /* requests in arrival order, answered in that order */
    int queued;
    http_req_t *cur; /* request whose body is being read */
    size_t body_got; /* bytes of a Content-Length body received so far */
    http_chunked_t chunk;
    uint64_t deadline;    /* head/body/idle/linger deadline, by state */
    uint64_t write_since; /* when out last became non-empty or made progress */
    uint64_t last_active; /* last read, or when every answer was written (idle timer) */
    bool close_after;     /* no more requests: close once the queue is written */
    bool in_run;          /* re-entrancy guard for conn_run */
    bool peer_eof;        /* the client shut its write side */
    char peer[64];
    loop_task_t free_task; /* frees the connection at the end of the loop iteration */
};

/* Accepts connections on the worker's listener (loop callback). */
void http__on_accept(loop_t *l, int fd, uint32_t events, void *arg);
/* Enforces timeouts on every connection of the worker (called by the tick). */
void http__sweep(http_worker_t *wk);
/* Closes the worker's idle connections and marks the rest to close after their next response. */
void http__drain_worker(http_worker_t *wk);
/* Frees every connection of the worker, in-flight or not (after the loop has stopped). */
void http__free_all(http_worker_t *wk);
/* Maps a status code to its index in http_route_metrics_t.by_status. */
int http__status_index(int status);
extern const int http__statuses[];
extern const int http__nstatuses;

#endif
