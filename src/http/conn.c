/* One HTTP/1.1 connection: read, parse, dispatch, and write responses in request order
 * (pipelining). Handlers may answer from other threads; the answer comes back as a loop task. */
#define _GNU_SOURCE
#include "http/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/log.h"

#define OUT_HIGH_WATER (256 * 1024) /* stop parsing new requests while this much is unsent */
#define LINGER_NS      (2000000000ull)
#define MS             1000000ull

/* ====================================================================== status table ==== */

const int http__statuses[] = {100, 200, 201, 202, 204, 206, 301, 302, 304, 400, 401,
                              403, 404, 405, 408, 409, 411, 413, 414, 415, 417, 422,
                              429, 431, 500, 501, 502, 503, 504, 505, 0};
const int http__nstatuses = (int)(sizeof http__statuses / sizeof http__statuses[0]);

int http__status_index(int status)
{
    for (int i = 0; i < http__nstatuses - 1; i++)
        if (http__statuses[i] == status) return i;
    return http__nstatuses - 1; /* "other" */
}

const char *http_status_text(int s)
{
    switch (s) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

/* ===================================================================== request API ==== */

static void on_req_done(loop_t *l, loop_task_t *t);
static void conn_run(http_conn_t *c);
static void conn_release(http_conn_t *c);

const http_span_t *http_req_header(const http_req_t *r, const char *name)
{
    return http_head_get(&r->head, name);
}

const char *http_req_param(const http_req_t *r, int i, char *buf, size_t len)
{
    if (len == 0) return buf;
    buf[0] = 0;
    if (i < 0 || i >= r->nparams) return buf;
    size_t n = r->params[i].n < len - 1 ? r->params[i].n : len - 1;
    memcpy(buf, r->params[i].p, n);
    buf[n] = 0;
    return buf;
}

void http_add_header(http_req_t *r, const char *name, const char *value)
{
    /* CR/LF in a value would let a handler's input split the response; drop such headers. */
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n")) return;
    buf_printf(&r->out_headers, "%s: %s\r\n", name, value);
}

static void finish(http_req_t *r, int status, const char *ctype)
{
    r->status = status;
    r->content_type = ctype;
    loop_run_or_post(r->loop, &r->done_task);
}

void http_reply_buf(http_req_t *r, int status, const char *content_type)
{
    finish(r, status, content_type);
}

void http_reply(http_req_t *r, int status, const char *content_type, const void *body, size_t len)
{
    r->out_body.len = 0;
    if (buf_append(&r->out_body, body, len)) {
        http_reply_error(r, 500, "out of memory building the response");
        return;
    }
    finish(r, status, content_type);
}

void http_reply_error(http_req_t *r, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    http_reply_verror(r, status, fmt, ap);
    va_end(ap);
}

void http_reply_verror(http_req_t *r, int status, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    r->out_body.len = 0;
    int rc = buf_puts(&r->out_body, "{\"error\":");
    if (!rc) rc = buf_json_str(&r->out_body, msg, strlen(msg));
    if (!rc) rc = buf_puts(&r->out_body, "}\n");
    if (rc) r->out_body.len = 0; /* still answer: an empty body beats no answer */
    finish(r, status, "application/json");
}

/* ======================================================================= requests ==== */

static http_req_t *req_alloc(http_conn_t *c)
{
    http_req_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->conn = c;
    r->loop = c->wk->loop;
    r->done_task.fn = on_req_done;
    r->keep_alive = true;
    r->head.content_length = -1;
    r->t_start_ns = loop_now(c->wk->loop);
    buf_init(&r->out_headers);
    buf_init(&r->out_body);
    buf_init(&r->chunked_body);
    if (c->q_tail)
        c->q_tail->next = r;
    else
        c->q_head = r;
    c->q_tail = r;
    c->queued++;
    return r;
}

static void req_free(http_req_t *r)
{
    if (r->body_charge) atomic_fetch_sub(&r->conn->wk->srv->body_bytes, (int64_t)r->body_charge);
    buf_deinit(&r->out_headers);
    buf_deinit(&r->out_body);
    buf_deinit(&r->chunked_body);
    free(r->raw);
    free(r);
}

static void rebase(http_span_t *s, const char *from, const char *to)
{
    if (s->p) s->p = to + (s->p - from);
}

/* Gives the request its own copy of the head (and room for a Content-Length body), so that the
 * connection's read buffer can move on while the handler works. */
static int req_take_head(http_req_t *r, const http_head_t *h, const char *src, size_t body_room)
{
    r->raw = malloc(h->head_len + body_room + 1);
    if (!r->raw) return -ENOMEM;
    memcpy(r->raw, src, h->head_len);
    r->head = *h;
    http_head_t *d = &r->head;
    rebase(&d->method_str, src, r->raw);
    rebase(&d->target, src, r->raw);
    rebase(&d->path, src, r->raw);
    rebase(&d->query, src, r->raw);
    for (int i = 0; i < d->nheaders; i++) {
        rebase(&d->headers[i].name, src, r->raw);
        rebase(&d->headers[i].value, src, r->raw);
    }
    r->body = r->raw + h->head_len;
    r->body_len = 0;
    r->keep_alive = h->keep_alive;
    return 0;
}

/* Counts n more bytes of r's body against max_body_memory, the budget all connections share;
 * false (nothing counted) when they would exceed it. Without it, many concurrent bodies each
 * within max_body_bytes could take the process to gigabytes. */
static bool body_charge(http_conn_t *c, http_req_t *r, size_t n)
{
    http_server_t *s = c->wk->srv;
    int64_t held = atomic_fetch_add(&s->body_bytes, (int64_t)n) + (int64_t)n;
    if (held > s->cfg->max_body_memory) {
        atomic_fetch_sub(&s->body_bytes, (int64_t)n);
        return false;
    }
    r->body_charge += n;
    return true;
}

static void conn_fail(http_conn_t *c, http_req_t *r, int status, const char *msg);

/* Refuses r for want of body memory: a temporary condition, so 503 with Retry-After. */
static void body_refuse(http_conn_t *c, http_req_t *r)
{
    metric_add(c->wk->srv->m_body_refused, 1);
    http_add_header(r, "Retry-After", "1");
    conn_fail(c, r, 503, "server busy: request bodies in memory have reached max_body_memory");
}

/* Queues an answer that is not from a handler (parse errors, limits). The connection closes
 * after it, since the byte stream can no longer be trusted to frame the next request. */
static void conn_fail(http_conn_t *c, http_req_t *r, int status, const char *msg)
{
    if (!r) r = req_alloc(c);
    c->close_after = true;
    if (!r) return; /* out of memory: just close */
    r->keep_alive = false;
    http_reply_error(r, status, "%s", msg);
}

static void dispatch(http_conn_t *c, http_req_t *r)
{
    http_server_t *s = c->wk->srv;
    if (c->wk->draining || !r->keep_alive) {
        r->keep_alive = false;
        c->close_after = true;
    }
    atomic_fetch_add(&s->inflight, 1);
    r->dispatched = true;
    unsigned allowed;
    const http_route_t *rt =
        router_match(s->router, r->head.method, r->head.path, r->params, &r->nparams, &allowed);
    r->route = rt;
    /* The guard runs before 404/405 too, so callers without a key cannot map the routes. */
    if (s->guard && !s->guard(r, s->guard_arg)) return;
    if (!rt) {
        if (allowed) {
            char allow[80];
            router_allow_str(allowed, allow, sizeof allow);
            http_add_header(r, "Allow", allow);
            http_reply_error(r, 405, "method %.*s not allowed on %.*s", (int)r->head.method_str.n,
                             r->head.method_str.p, (int)r->head.path.n, r->head.path.p);
        } else {
            http_reply_error(r, 404, "no route for %.*s", (int)r->head.path.n, r->head.path.p);
        }
        return;
    }
    rt->fn(r, rt->arg);
}

/* ======================================================================== writing ==== */

static void serialize(http_conn_t *c, http_req_t *r)
{
    buf_t *o = &c->out;
    bool head_only = r->head.method == HTTP_HEAD;
    bool no_body = r->status == 204 || r->status == 304 || (r->status >= 100 && r->status < 200);
    int rc = buf_printf(o, "HTTP/1.1 %d %s\r\nServer: inferd\r\nDate: %s\r\n", r->status,
                        http_status_text(r->status), c->wk->date);
    if (!rc && r->content_type && !no_body)
        rc = buf_printf(o, "Content-Type: %s\r\n", r->content_type);
    if (!rc && !no_body) rc = buf_printf(o, "Content-Length: %zu\r\n", r->out_body.len);
    if (!rc && !r->keep_alive)
        rc = buf_puts(o, "Connection: close\r\n");
    else if (!rc && r->head.minor == 0)
        rc = buf_puts(o, "Connection: keep-alive\r\n");
    if (!rc) rc = buf_append(o, r->out_headers.data, r->out_headers.len);
    if (!rc) rc = buf_puts(o, "\r\n");
    if (!rc && !head_only && !no_body) rc = buf_append(o, r->out_body.data, r->out_body.len);
    if (rc) c->close_after = true; /* cannot build the response: end the connection */
}

static void account(http_conn_t *c, http_req_t *r)
{
    http_server_t *s = c->wk->srv;
    uint64_t dur = clock_mono_ns() - r->t_start_ns;
    int rid = r->route ? r->route->id : router_count(s->router);
    http_route_metrics_t *rm = &s->route_metrics[rid];
    metric_add(rm->by_status[http__status_index(r->status)], 1);
    metric_observe_ns(rm->latency, dur);
    if (!s->cfg->access_log || log_min_level > LOG_INFO) return;
    char status[8], bytes[24], ms[32];
    int ns = snprintf(status, sizeof status, "%d", r->status);
    int nb = snprintf(bytes, sizeof bytes, "%zu", r->out_body.len);
    int nm = snprintf(ms, sizeof ms, "%.3f", (double)dur / 1e6);
    const char *path = r->head.path.p ? r->head.path.p : "";
    const char *method = r->head.method_str.p ? r->head.method_str.p : "-";
    log_field_t f[] = {
        {"method", method, r->head.method_str.p ? r->head.method_str.n : 1, false},
        {"path", path, r->head.path.n, false},
        {"status", status, (size_t)ns, true},
        {"bytes", bytes, (size_t)nb, true},
        {"ms", ms, (size_t)nm, true},
        {"client", c->peer, strlen(c->peer), false},
    };
    log_fields(LOG_INFO, "access", f, 6);
}

/* For a closed connection: frees answered requests from the head of the queue, and the connection
 * itself once nothing is owed. Requests still with a handler keep it alive (as a zombie) until
 * their answer arrives, so handlers never see freed memory. */
static void drop_answered(http_conn_t *c)
{
    while (c->q_head && c->q_head->done) {
        http_req_t *r = c->q_head;
        c->q_head = r->next;
        c->queued--;
        req_free(r);
    }
    if (!c->q_head) {
        c->q_tail = NULL;
        conn_release(c);
    }
}

static void conn_close(http_conn_t *c)
{
    if (c->state == C_CLOSED) return;
    http_server_t *s = c->wk->srv;
    loop_watch_del(c->wk->loop, &c->w);
    close(c->w.fd);
    c->w.fd = -1;
    c->state = C_CLOSED;
    atomic_fetch_sub(&s->open_conns, 1);
    metric_add(s->m_conns_open, -1);
    buf_deinit(&c->in);
    buf_deinit(&c->out);
    c->out_off = 0;
    /* A request whose body was still arriving has not been dispatched: nobody will answer it. */
    if (c->cur) {
        c->cur->done = true;
        c->cur = NULL;
    }
    drop_answered(c);
}

static void conn_unlink(http_conn_t *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        c->wk->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

static void conn_free(http_conn_t *c)
{
    while (c->q_head) {
        http_req_t *r = c->q_head;
        c->q_head = r->next;
        req_free(r);
    }
    buf_deinit(&c->in);
    buf_deinit(&c->out);
    free(c);
}

static void on_conn_free(loop_t *l, loop_task_t *t)
{
    (void)l;
    conn_free((http_conn_t *)((char *)t - offsetof(http_conn_t, free_task)));
}

/* Retires a closed connection that owes nothing: it leaves the worker's list now and is freed
 * once the loop has handled the rest of this iteration's events and tasks, some of which may
 * still name it (its watch is already disarmed, so they are skipped). */
static void conn_release(http_conn_t *c)
{
    conn_unlink(c);
    c->free_task.fn = on_conn_free;
    loop_defer(c->wk->loop, &c->free_task);
}

/* Starts the close of a connection whose last response is written: shut the write side and read
 * until EOF (bounded), so unread request bytes do not make the kernel send RST over our answer. */
static void conn_linger(http_conn_t *c)
{
    shutdown(c->w.fd, SHUT_WR);
    c->state = C_LINGER;
    c->deadline = loop_now(c->wk->loop) + LINGER_NS;
    loop_watch_mod(c->wk->loop, &c->w, EPOLLIN | EPOLLRDHUP);
}

/* Moves finished responses (in order) to the output buffer and writes what the socket takes.
 * Returns false if the connection was closed. */
static bool conn_flush(http_conn_t *c)
{
    http_server_t *s = c->wk->srv;
    while (c->q_head && c->q_head->done && c->q_head != c->cur) {
        http_req_t *r = c->q_head;
        if (c->wk->draining) r->keep_alive = false; /* shutting down: this answer is the last */
        if (c->out.len - c->out_off == 0) c->write_since = loop_now(c->wk->loop);
        serialize(c, r);
        account(c, r);
        bool r_keep = r->keep_alive;
        if (!r_keep) c->close_after = true;
        c->q_head = r->next;
        c->queued--;
        req_free(r);
        if (!c->q_head) {
            c->q_tail = NULL;
            /* A partial head that waited behind this answer gets a fresh head timeout. */
            c->deadline =
                c->in.len ? loop_now(c->wk->loop) + (uint64_t)s->cfg->header_timeout_ms * MS : 0;
        }
        if (!r_keep) break; /* nothing after a closing answer is sent */
    }
    while (c->out_off < c->out.len) {
        ssize_t n = write(c->w.fd, c->out.data + c->out_off, c->out.len - c->out_off);
        if (n > 0) {
            c->out_off += (size_t)n;
            c->write_since = loop_now(c->wk->loop);
            metric_add(s->m_bytes_out, n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        conn_close(c);
        return false;
    }
    if (c->out_off == c->out.len) {
        c->last_active = loop_now(c->wk->loop);
        c->out.len = c->out_off = 0;
        /* Nothing more to send soon: an idle connection holds no output buffer. */
        if (!c->q_head || c->out.cap > 4 * HTTP_READ_CHUNK) buf_deinit(&c->out);
        if (c->close_after && !c->q_head) {
            conn_linger(c);
            return true;
        }
    } else if (c->out_off > c->out.cap / 2) {
        buf_consume(&c->out, c->out_off);
        c->out_off = 0;
    }
    return true;
}

/* ======================================================================== reading ==== */

static bool paused(const http_conn_t *c)
{
    const config_t *cfg = c->wk->srv->cfg;
    return c->close_after || c->queued >= cfg->max_pipeline ||
           c->out.len - c->out_off > OUT_HIGH_WATER;
}

/* Parses and dispatches as many complete requests as the input holds and limits allow. */
static void conn_process(http_conn_t *c)
{
    const config_t *cfg = c->wk->srv->cfg;
    uint64_t now = loop_now(c->wk->loop);
    for (;;) {
        if (c->state == C_HEAD) {
            if (paused(c) || c->in.len == 0) return;
            http_head_t h;
            int status = 0;
            const char *reason = NULL;
            int rc = http_parse_head(c->in.data, c->in.len, (size_t)cfg->max_header_bytes, &h,
                                     &status, &reason);
            if (rc == HTTP_PARSE_AGAIN) {
                if (!c->deadline) c->deadline = now + (uint64_t)cfg->header_timeout_ms * MS;
                return;
            }
            if (rc == HTTP_PARSE_ERROR) {
                conn_fail(c, NULL, status, reason);
                return;
            }
            c->deadline = 0;
            bool chunked = h.chunked;
            int64_t cl = h.content_length > 0 ? h.content_length : 0;
            http_req_t *r = req_alloc(c);
            if (!r) {
                conn_fail(c, NULL, 503, "out of memory");
                return;
            }
            if (cl > cfg->max_body_bytes) {
                conn_fail(c, r, 413, "request body too large");
                return;
            }
            if (cl > 0 && !body_charge(c, r, (size_t)cl)) {
                body_refuse(c, r);
                return;
            }
            if (req_take_head(r, &h, c->in.data, (size_t)cl)) {
                conn_fail(c, r, 503, "out of memory");
                return;
            }
            buf_consume(&c->in, h.head_len);
            if (!chunked && cl == 0) {
                dispatch(c, r);
                continue;
            }
            c->cur = r;
            c->body_got = 0;
            c->state = chunked ? C_CHUNKED : C_BODY;
            if (chunked) http_chunked_init(&c->chunk);
            c->deadline = now + (uint64_t)cfg->body_timeout_ms * MS;
            /* Ask for the body only when nothing earlier is still queued: an interim 100 must
             * not overtake the answers to earlier pipelined requests. */
            if (r->head.expect_continue && c->in.len == 0 && c->q_head == r)
                buf_puts(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
        } else if (c->state == C_BODY) {
            http_req_t *r = c->cur;
            size_t need = (size_t)r->head.content_length - c->body_got;
            size_t n = c->in.len < need ? c->in.len : need;
            if (n) memcpy(r->raw + r->head.head_len + c->body_got, c->in.data, n);
            c->body_got += n;
            buf_consume(&c->in, n);
            if (c->body_got < (size_t)r->head.content_length) return;
            r->body_len = c->body_got;
            r->raw[r->head.head_len + r->body_len] = 0;
            c->cur = NULL;
            c->state = C_HEAD;
            c->deadline = 0;
            dispatch(c, r);
        } else if (c->state == C_CHUNKED) {
            http_req_t *r = c->cur;
            size_t used = 0;
            int status = 0;
            const char *reason = NULL;
            int rc = http_chunked_decode(&c->chunk, c->in.data, c->in.len, &used, &r->chunked_body,
                                         (size_t)cfg->max_body_bytes, (size_t)cfg->max_header_bytes,
                                         &status, &reason);
            buf_consume(&c->in, used);
            if (r->chunked_body.cap > r->body_charge &&
                !body_charge(c, r, r->chunked_body.cap - r->body_charge)) {
                c->cur = NULL;
                c->state = C_HEAD;
                body_refuse(c, r);
                return;
            }
            if (rc == HTTP_PARSE_AGAIN) return;
            c->cur = NULL;
            c->state = C_HEAD;
            c->deadline = 0;
            if (rc == HTTP_PARSE_ERROR) {
                conn_fail(c, r, status, reason);
                return;
            }
            r->body = r->chunked_body.data ? r->chunked_body.data : r->raw + r->head.head_len;
            r->body_len = r->chunked_body.len;
            dispatch(c, r);
        } else {
            return;
        }
    }
}

/* True while an answer is still to be produced or written. A request whose body is still
 * arriving is not owed anything once the client has stopped sending. */
static bool owed(const http_conn_t *c)
{
    if (c->out_off < c->out.len) return true;
    return c->q_head && c->q_head != c->cur;
}

static void conn_update_events(http_conn_t *c)
{
    if (c->state == C_CLOSED || c->state == C_LINGER) return;
    uint32_t ev = 0;
    /* While paused, neither EPOLLIN nor EPOLLRDHUP is armed: level-triggered, either would fire
     * forever; TCP flow control holds the client back instead. */
    bool reading = !c->peer_eof && (c->state != C_HEAD || !paused(c));
    if (reading) ev |= EPOLLIN | EPOLLRDHUP;
    if (c->out_off < c->out.len) ev |= EPOLLOUT;
    loop_watch_mod(c->wk->loop, &c->w, ev);
}

/* Processes input, flushes output and re-arms events until nothing more can move. */
static void conn_run(http_conn_t *c)
{
    if (c->in_run) return;
    c->in_run = true;
    for (;;) {
        int queued_before = c->queued;
        size_t in_before = c->in.len;
        conn_process(c);
        if (!conn_flush(c)) return; /* closed, maybe freed */
        if (c->state == C_CLOSED || c->state == C_LINGER) break;
        /* Flushing may have unpaused the parsing of requests already buffered. */
        if (c->state != C_HEAD || c->in.len == 0 || paused(c)) break;
        if (c->queued == queued_before && c->in.len == in_before) break; /* partial head */
    }
    c->in_run = false;
    if (c->in.len == 0) buf_deinit(&c->in); /* give back what a burst of input needed */
    if (c->peer_eof && c->state != C_LINGER && c->state != C_CLOSED && !owed(c)) {
        conn_close(c); /* the client finished sending and has every answer it asked for */
        return;
    }
    conn_update_events(c);
}

static void on_req_done(loop_t *l, loop_task_t *t)
{
    http_req_t *r = (http_req_t *)((char *)t - offsetof(http_req_t, done_task));
    http_conn_t *c = r->conn;
    r->done = true;
    if (r->dispatched) atomic_fetch_sub(&c->wk->srv->inflight, 1);
    if (c->state == C_CLOSED) {
        drop_answered(c); /* the client left while the handler worked */
        return;
    }
    conn_run(c);
}

static void on_io(loop_t *l, int fd, uint32_t events, void *arg)
{
    http_conn_t *c = arg;
    http_server_t *s = c->wk->srv;
    if (c->state == C_LINGER) {
        char tmp[4096];
        ssize_t n;
        while ((n = read(fd, tmp, sizeof tmp)) > 0) {
        }
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) conn_close(c);
        return;
    }
    if ((events & (EPOLLIN | EPOLLRDHUP)) && !c->peer_eof) {
        /* Reads land in the worker's one read buffer and only what arrived is kept, so an idle
         * or trickling connection holds bytes, not a 64 KiB reserve. A Content-Length body goes
         * straight into the request's own buffer. */
        ssize_t n;
        if (c->state == C_BODY && c->in.len == 0) {
            http_req_t *r = c->cur;
            n = read(fd, r->raw + r->head.head_len + c->body_got,
                     (size_t)r->head.content_length - c->body_got);
            if (n > 0) c->body_got += (size_t)n;
        } else {
            n = read(fd, c->wk->rbuf, HTTP_READ_CHUNK);
            if (n > 0 && buf_append(&c->in, c->wk->rbuf, (size_t)n)) {
                conn_close(c);
                return;
            }
        }
        if (n > 0) {
            c->last_active = loop_now(l);
            metric_add(s->m_bytes_in, n);
        } else if (n == 0) {
            /* Half-close: answer what was asked (clients may shut their write side after the
             * last request), then close. */
            c->peer_eof = true;
        } else if (errno != EAGAIN && errno != EINTR) {
            conn_close(c);
            return;
        }
    } else if (events & (EPOLLERR | EPOLLHUP)) {
        conn_close(c);
        return;
    }
    conn_run(c);
}

/* ===================================================================== lifecycle ==== */

#define REFUSE_LEN  38 /* strlen(REFUSE_BODY), checked below */
#define REFUSE_BODY "{\"error\":\"too many open connections\"}\n"
#define STR2(x)     #x
#define STR(x)      STR2(x)
static const char refuse_503[] =
    "HTTP/1.1 503 Service Unavailable\r\nServer: inferd\r\n"
    "Content-Type: application/json\r\nContent-Length: " STR(
        REFUSE_LEN) "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" REFUSE_BODY;

_Static_assert(sizeof REFUSE_BODY - 1 == REFUSE_LEN, "REFUSE_LEN must match REFUSE_BODY");

void http__on_accept(loop_t *l, int lfd, uint32_t events, void *arg)
{
    http_worker_t *wk = arg;
    http_server_t *s = wk->srv;
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: the listener would stay readable and spin the loop, so
                 * stop watching it until the next tick (raise the fd limit or lower
                 * max_connections). */
                loop_watch_del(l, &wk->listen_w);
                wk->accept_paused = true;
                if (loop_now(l) - wk->accept_warned > 10000 * MS) {
                    wk->accept_warned = loop_now(l);
                    log_warn("accept: %s; pausing accepts briefly", strerror(errno));
                }
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                log_warn("accept: %s", strerror(errno));
            }
            return;
        }
        metric_add(s->m_conns_total, 1);
        if (atomic_load(&s->open_conns) >= s->cfg->max_connections) {
            ssize_t w = write(fd, refuse_503, sizeof refuse_503 - 1);
            (void)w;
            close(fd);
            metric_add(s->m_conns_refused, 1);
            continue;
        }
        http_conn_t *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c->wk = wk;
        c->state = C_HEAD;
        buf_init(&c->in);
        buf_init(&c->out);
        c->w = (loop_watch_t){.fd = fd, .events = EPOLLIN | EPOLLRDHUP, .fn = on_io, .arg = c};
        c->deadline = 0;
        c->write_since = c->last_active = loop_now(l);
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            char ip[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
            snprintf(c->peer, sizeof c->peer, "%s:%u", ip, ntohs(a->sin_port));
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            char ip[INET6_ADDRSTRLEN];
            inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
            snprintf(c->peer, sizeof c->peer, "[%s]:%u", ip, ntohs(a->sin6_port));
        }
        if (loop_watch_add(l, &c->w)) {
            close(fd);
            free(c);
            continue;
        }
        c->next = wk->conns;
        if (wk->conns) wk->conns->prev = c;
        wk->conns = c;
        atomic_fetch_add(&s->open_conns, 1);
        metric_add(s->m_conns_open, 1);
    }
}

/* Answers 408 for the request being read (r), or for a head that never completed when no earlier
 * answer is owed; otherwise just closes. The answer's completion runs the connection. */
static void time_out(http_conn_t *c, http_req_t *r, const char *msg)
{
    if (!r && !c->q_head) r = req_alloc(c);
    if (!r) {
        conn_close(c);
        return;
    }
    c->cur = NULL;
    c->state = C_HEAD;
    conn_fail(c, r, 408, msg);
}

void http__sweep(http_worker_t *wk)
{
    const config_t *cfg = wk->srv->cfg;
    uint64_t now = loop_now(wk->loop);
    uint64_t idle = (uint64_t)cfg->idle_timeout_ms * MS;
    http_conn_t *next;
    for (http_conn_t *c = wk->conns; c; c = next) {
        next = c->next; /* c may be freed below */
        if (c->state == C_CLOSED) continue;
        bool pending_out = c->out_off < c->out.len;
        if (c->state == C_LINGER) {
            if (now >= c->deadline) conn_close(c);
        } else if (pending_out && now - c->write_since > idle) {
            conn_close(c); /* the client stopped reading */
        } else if (c->state == C_BODY || c->state == C_CHUNKED) {
            if (now >= c->deadline) time_out(c, c->cur, "timed out reading the request body");
        } else if (c->in.len > 0 && c->deadline && !c->q_head) {
            /* Only once nothing is in flight: a head queued behind a slow request waits for it
             * (conn_flush restarts the clock when the queue empties). */
            if (now >= c->deadline) time_out(c, NULL, "timed out reading the request head");
        } else if (c->in.len == 0 && !c->q_head && !pending_out) {
            if (now - c->last_active > idle) conn_close(c); /* idle keep-alive */
        }
    }
}

void http__drain_worker(http_worker_t *wk)
{
    wk->draining = true;
    if (!wk->accept_paused) loop_watch_del(wk->loop, &wk->listen_w);
    close(wk->listen_w.fd);
    wk->listen_w.fd = -1;
    http_conn_t *next;
    for (http_conn_t *c = wk->conns; c; c = next) {
        next = c->next;
        if (c->state == C_HEAD && c->in.len == 0 && !c->q_head) conn_close(c);
    }
}

void http__free_all(http_worker_t *wk)
{
    while (wk->conns) {
        http_conn_t *c = wk->conns;
        if (c->state != C_CLOSED) {
            loop_watch_del(wk->loop, &c->w);
            close(c->w.fd);
            atomic_fetch_sub(&wk->srv->open_conns, 1);
        }
        conn_unlink(c);
        conn_free(c);
    }
}
