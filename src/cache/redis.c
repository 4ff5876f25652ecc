/* Redis L2: one thread owns a non-blocking hiredis context and runs a poll loop over it and an
 * eventfd. Submitters (any thread) append to a mutex-protected list and wake the thread only
 * when it sleeps. The thread pipelines every submitted command, matches replies to requests in
 * FIFO order, and enforces each request's deadline itself: when the oldest request in flight
 * passes its deadline, Redis is treated as stalled, the connection is dropped (every request in
 * flight completes as a timeout) and a new one is tried after a back-off. A new connection
 * serves requests only after its handshake (AUTH, SELECT, PING) has been answered, so a stopped
 * server costs only the requests that were in flight when it stopped; every other lookup
 * meanwhile fails at once as "down". */
#define _GNU_SOURCE /* pthread_setname_np */
#include "cache/redis.h"

#include <ctype.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "metrics/metrics.h"
#include "util/clock.h"
#include "util/log.h"

#define BACKOFF_MIN_NS (50 * 1000000ull)
#define BACKOFF_MAX_NS (1000 * 1000000ull)
#define HANDSHAKE_NS   (1000 * 1000000ull) /* connect + AUTH/SELECT/PING answered within */

/* ---- URL ------------------------------------------------------------------------------------- */

/* Copies s[0..n) decoding %XX; NULL on a bad escape or out of memory. */
static char *dup_decoded(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        if (i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) || !isxdigit((unsigned char)s[i + 2]))
            goto bad;
        char hex[3] = {s[i + 1], s[i + 2], 0};
        *o++ = (char)strtol(hex, NULL, 16);
        i += 2;
    }
    *o = 0;
    return out;
bad:
    free(out);
    return NULL;
}

static int parse_int(const char *s, size_t n, int max, int *out)
{
    if (n == 0 || n > 9) return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max) return -1;
    *out = v;
    return 0;
}

void l2_url_free(l2_url_t *u)
{
    free(u->host);
    free(u->path);
    free(u->user);
    free(u->password);
    memset(u, 0, sizeof *u);
}

/* user:password or :password or password-less "user@"? Redis URLs put the password after ':'. */
static int parse_userinfo(const char *s, size_t n, l2_url_t *u)
{
    const char *colon = memchr(s, ':', n);
    if (!colon) return -1; /* "redis://secret@host" is ambiguous; require ":secret@" */
    if (colon > s && !(u->user = dup_decoded(s, (size_t)(colon - s)))) return -1;
    u->password = dup_decoded(colon + 1, n - (size_t)(colon + 1 - s));
    return u->password ? 0 : -1;
}

/* Query of a unix: URL: db=N and password=P, separated by '&'. */
static int parse_query(const char *q, l2_url_t *u)
{
    while (*q) {
        const char *end = strchr(q, '&');
        size_t n = end ? (size_t)(end - q) : strlen(q);
        if (n > 3 && memcmp(q, "db=", 3) == 0) {
            if (parse_int(q + 3, n - 3, 1 << 20, &u->db)) return -1;
        } else if (n >= 9 && memcmp(q, "password=", 9) == 0) {
            free(u->password);
            if (!(u->password = dup_decoded(q + 9, n - 9))) return -1;
        } else {
            return -1;
        }
        q += n + (end ? 1 : 0);
    }
    return 0;
}

int l2_url_parse(const char *url, l2_url_t *u, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    u->port = 6379;
    const char *what = "expected redis://[:password@]host[:port][/db] or unix:/path[?db=N]";
    if (strncmp(url, "unix:", 5) == 0) {
        const char *p = url + 5;
        if (strncmp(p, "//", 2) == 0) {
            /* unix://[:password@]/path */
            p += 2;
            const char *at = strchr(p, '@');
            if (at && at < strchr(p, '/')) {
                if (parse_userinfo(p, (size_t)(at - p), u)) goto bad;
                p = at + 1;
            }
        }
        const char *q = strchr(p, '?');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (n == 0 || *p != '/' || !(u->path = dup_decoded(p, n))) goto bad;
        if (q && parse_query(q + 1, u)) goto bad;
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0) goto bad;
    const char *p = url + 8;
    const char *slash = strchr(p, '/');
    const char *hend = slash ? slash : p + strlen(p);
    const char *at = memchr(p, '@', (size_t)(hend - p));
    if (at) {
        if (parse_userinfo(p, (size_t)(at - p), u)) goto bad;
        p = at + 1;
    }
    const char *port = NULL, *hostend;
    if (*p == '[') { /* [v6]:port */
        const char *close = memchr(p, ']', (size_t)(hend - p));
        if (!close) goto bad;
        u->host = strndup(p + 1, (size_t)(close - p - 1));
        hostend = close + 1;
        if (hostend < hend && *hostend != ':') goto bad;
        if (hostend < hend) port = hostend + 1;
    } else {
        const char *colon = memchr(p, ':', (size_t)(hend - p));
        hostend = colon ? colon : hend;
        u->host = strndup(p, (size_t)(hostend - p));
        if (colon) port = colon + 1;
    }
    if (!u->host || !*u->host) goto bad;
    if (port && parse_int(port, (size_t)(hend - port), 65535, &u->port)) goto bad;
    if (u->port == 0) goto bad;
    if (slash && slash[1] && parse_int(slash + 1, strlen(slash + 1), 1 << 20, &u->db)) goto bad;
    return 0;
bad:
    snprintf(err, errlen, "redis_url: bad URL \"%s\": %s", url, what);
    l2_url_free(u);
    return -EINVAL;
}

/* ---- state ----------------------------------------------------------------------------------- */

typedef enum { OP_GET, OP_SET } op_t;

typedef struct req {
    struct req *next;
    op_t op;
    uint64_t t0, deadline;
    l2_get_cb cb;
    void *arg;
    size_t klen, vlen;
    unsigned char data[]; /* key, then value */
} req_t;

enum { ST_DOWN, ST_CONNECTING, ST_HANDSHAKE, ST_READY };
enum { E_DOWN, E_FULL, E_TIMEOUT, E_IO, E_REPLY, E_KINDS };
static const char *err_kinds[E_KINDS] = {"down", "queue_full", "timeout", "io", "reply"};

struct l2 {
    l2_url_t url;
    uint64_t timeout_ns;
    int64_t ttl_s;
    int64_t queue_max;

    /* Submission side, shared. */
    pthread_mutex_t mu;
    req_t *qhead, *qtail;
    bool sleeping, stop;
    int efd;
    _Atomic int64_t pending; /* queued + in flight */
    _Atomic int state;

    /* Owned by the thread. */
    pthread_t thr;
    redisContext *rc;
    req_t *fhead, *ftail; /* in flight, in send order */
    int handshake_left;
    uint64_t handshake_deadline, next_connect, backoff;
    bool want_write, down_logged;

    metric_t *m_hits, *m_misses, *m_sets, *m_connects, *m_connect_fail, *m_err[E_KINDS];
    metric_t *m_lat_get, *m_lat_set, *m_connected, *m_pending;
};

static const double l2_buckets[] = {0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                    0.005,    0.01,    0.025,  0.05,    0.1,    0.25};

static void register_metrics(l2_t *l2)
{
    l2->m_hits = metrics_series(metrics_family("inferd_cache_l2_hits_total",
                                               "L2 (Redis) GETs that found the key", METRIC_COUNTER,
                                               NULL, 0),
                                "", false);
    l2->m_misses = metrics_series(metrics_family("inferd_cache_l2_misses_total",
                                                 "L2 GETs that Redis answered with nil",
                                                 METRIC_COUNTER, NULL, 0),
                                  "", false);
    l2->m_sets =
        metrics_series(metrics_family("inferd_cache_l2_sets_total",
                                      "L2 SETs that Redis acknowledged", METRIC_COUNTER, NULL, 0),
                       "", false);
    metric_family_t *fe = metrics_family(
        "inferd_cache_l2_errors_total",
        "L2 requests not answered by Redis (the lookup is a miss): down = not connected, "
        "queue_full, timeout, io = connection lost, reply = error reply",
        METRIC_COUNTER, NULL, 0);
    for (int k = 0; k < E_KINDS; k++) {
        char labels[32];
        snprintf(labels, sizeof labels, "kind=\"%s\"", err_kinds[k]);
        l2->m_err[k] = metrics_series(fe, labels, false);
    }
    metric_family_t *fc = metrics_family(
        "inferd_cache_l2_connects_total",
        "L2 connection attempts by result (ok = handshake answered)", METRIC_COUNTER, NULL, 0);
    l2->m_connects = metrics_series(fc, "result=\"ok\"", false);
    l2->m_connect_fail = metrics_series(fc, "result=\"fail\"", false);
    metric_family_t *fl = metrics_family(
        "inferd_cache_l2_latency_seconds", "L2 request time from submission to Redis's answer",
        METRIC_HISTOGRAM, l2_buckets, (int)(sizeof l2_buckets / sizeof l2_buckets[0]));
    l2->m_lat_get = metrics_series(fl, "op=\"get\"", false);
    l2->m_lat_set = metrics_series(fl, "op=\"set\"", false);
    /* Plain gauges the thread sets, not functions reading l2: /metrics may still be rendered
     * after l2_close during shutdown. */
    l2->m_connected = metrics_series(metrics_family("inferd_cache_l2_connected",
                                                    "1 while the L2 connection is up and serving",
                                                    METRIC_GAUGE, NULL, 0),
                                     "", false);
    l2->m_pending =
        metrics_series(metrics_family("inferd_cache_l2_pending",
                                      "L2 requests queued or in flight (bounded by redis_queue)",
                                      METRIC_GAUGE, NULL, 0),
                       "", false);
}

/* ---- completion --------------------------------------------------------------------------------
 */

/* Ends a request: calls a GET's callback (errors count by kind), frees it. */
static void finish(l2_t *l2, req_t *r, int status, int kind, const void *val, size_t len)
{
    if (kind >= 0) metric_add(l2->m_err[kind], 1);
    if (r->op == OP_GET && r->cb) r->cb(r->arg, status, val, len);
    atomic_fetch_sub_explicit(&l2->pending, 1, memory_order_relaxed);
    free(r);
}

/* Closes the connection, failing everything in flight, and schedules the next attempt. */
static void drop(l2_t *l2, int status, int kind, const char *why)
{
    uint64_t now = clock_mono_ns();
    if (!l2->down_logged) { /* once per outage, not once per retry */
        log_warn("redis L2: %s; lookups are misses until it is back (retrying)", why);
        l2->down_logged = true;
    }
    if (atomic_load(&l2->state) != ST_READY) metric_add(l2->m_connect_fail, 1);
    atomic_store(&l2->state, ST_DOWN);
    metric_set(l2->m_connected, 0);
    if (l2->rc) redisFree(l2->rc);
    l2->rc = NULL;
    l2->want_write = false;
    l2->handshake_left = 0;
    req_t *r = l2->fhead;
    l2->fhead = l2->ftail = NULL;
    while (r) {
        req_t *next = r->next;
        finish(l2, r, status, kind, NULL, 0);
        r = next;
    }
    l2->next_connect = now + l2->backoff;
    l2->backoff = l2->backoff * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : l2->backoff * 2;
}

static void start_connect(l2_t *l2)
{
    redisContext *c = l2->url.path ? redisConnectUnixNonBlock(l2->url.path)
                                   : redisConnectNonBlock(l2->url.host, l2->url.port);
    if (!c || c->err) {
        char why[200];
        snprintf(why, sizeof why, "cannot connect: %s", c ? c->errstr : "out of memory");
        if (c) redisFree(c);
        drop(l2, L2_EIO, -1, why);
        return;
    }
    l2->rc = c;
    atomic_store(&l2->state, ST_CONNECTING);
    l2->handshake_deadline = clock_mono_ns() + HANDSHAKE_NS;
}

/* The socket became writable: the connect finished (or failed); send the handshake. */
static void connected(l2_t *l2)
{
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(l2->rc->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0) soerr = errno;
    if (soerr) {
        char why[160];
        snprintf(why, sizeof why, "cannot connect: %s", strerror(soerr));
        drop(l2, L2_EIO, -1, why);
        return;
    }
    int n = 0;
    if (l2->url.password) {
        if (l2->url.user)
            redisAppendCommand(l2->rc, "AUTH %s %s", l2->url.user, l2->url.password);
        else
            redisAppendCommand(l2->rc, "AUTH %s", l2->url.password);
        n++;
    }
    if (l2->url.db) redisAppendCommand(l2->rc, "SELECT %d", l2->url.db), n++;
    redisAppendCommand(l2->rc, "PING");
    l2->handshake_left = n + 1;
    l2->want_write = true;
    atomic_store(&l2->state, ST_HANDSHAKE);
}

static void handshake_reply(l2_t *l2, redisReply *rep)
{
    if (rep->type == REDIS_REPLY_ERROR) {
        char why[200];
        snprintf(why, sizeof why, "handshake refused: %.*s", (int)rep->len, rep->str);
        drop(l2, L2_EIO, -1, why);
        return;
    }
    if (--l2->handshake_left > 0) return;
    atomic_store(&l2->state, ST_READY);
    metric_set(l2->m_connected, 1);
    metric_add(l2->m_connects, 1);
    log_info("redis L2: connected to %s", l2->url.path ? l2->url.path : l2->url.host);
    l2->down_logged = false;
    l2->backoff = BACKOFF_MIN_NS;
}

static void request_reply(l2_t *l2, redisReply *rep)
{
    req_t *r = l2->fhead;
    if (!r) { /* a reply nobody asked for: the stream is out of step */
        drop(l2, L2_EIO, E_IO, "unexpected reply");
        return;
    }
    l2->fhead = r->next;
    if (!l2->fhead) l2->ftail = NULL;
    uint64_t dt = clock_mono_ns() - r->t0;
    if (r->op == OP_GET) {
        metric_observe_ns(l2->m_lat_get, dt);
        if (rep->type == REDIS_REPLY_STRING) {
            metric_add(l2->m_hits, 1);
            finish(l2, r, L2_HIT, -1, rep->str, rep->len);
        } else if (rep->type == REDIS_REPLY_NIL) {
            metric_add(l2->m_misses, 1);
            finish(l2, r, L2_MISS, -1, NULL, 0);
        } else {
            finish(l2, r, L2_EIO, E_REPLY, NULL, 0);
        }
    } else {
        metric_observe_ns(l2->m_lat_set, dt);
        if (rep->type == REDIS_REPLY_STATUS) {
            metric_add(l2->m_sets, 1);
            finish(l2, r, 0, -1, NULL, 0);
        } else {
            finish(l2, r, 0, E_REPLY, NULL, 0);
        }
    }
}

static void read_replies(l2_t *l2)
{
    if (redisBufferRead(l2->rc) != REDIS_OK) {
        char why[160];
        snprintf(why, sizeof why, "connection lost: %s",
                 l2->rc->err == REDIS_ERR_EOF ? "closed by server" : l2->rc->errstr);
        drop(l2, L2_EIO, E_IO, why);
        return;
    }
    while (l2->rc) {
        void *reply = NULL;
        if (redisGetReply(l2->rc, &reply) != REDIS_OK) {
            drop(l2, L2_EIO, E_IO, "protocol error");
            return;
        }
        if (!reply) break;
        if (atomic_load(&l2->state) == ST_HANDSHAKE)
            handshake_reply(l2, reply);
        else
            request_reply(l2, reply);
        freeReplyObject(reply);
    }
}

static void flush_writes(l2_t *l2)
{
    int done = 0;
    if (redisBufferWrite(l2->rc, &done) != REDIS_OK) {
        char why[160];
        snprintf(why, sizeof why, "connection lost: %s", l2->rc->errstr);
        drop(l2, L2_EIO, E_IO, why);
        return;
    }
    l2->want_write = !done;
}

/* Sends (or fails) the requests taken from the submission list. */
static void dispatch(l2_t *l2, req_t *r, uint64_t now)
{
    while (r) {
        req_t *next = r->next;
        r->next = NULL;
        if (now >= r->deadline) {
            finish(l2, r, L2_ETIMEDOUT, E_TIMEOUT, NULL, 0);
        } else if (atomic_load(&l2->state) != ST_READY) {
            finish(l2, r, L2_EIO, E_DOWN, NULL, 0);
        } else {
            int rc;
            if (r->op == OP_GET)
                rc = redisAppendCommand(l2->rc, "GET %b", r->data, r->klen);
            else if (l2->ttl_s > 0)
                rc = redisAppendCommand(l2->rc, "SET %b %b EX %lld", r->data, r->klen,
                                        r->data + r->klen, r->vlen, (long long)l2->ttl_s);
            else
                rc = redisAppendCommand(l2->rc, "SET %b %b", r->data, r->klen, r->data + r->klen,
                                        r->vlen);
            if (rc != REDIS_OK) {
                finish(l2, r, L2_EIO, E_IO, NULL, 0);
            } else {
                if (l2->ftail)
                    l2->ftail->next = r;
                else
                    l2->fhead = r;
                l2->ftail = r;
                l2->want_write = true;
            }
        }
        r = next;
    }
}

static void *l2_main(void *arg)
{
    l2_t *l2 = arg;
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE); /* a write to a closed socket is an error, not a signal */
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);

    for (;;) {
        uint64_t now = clock_mono_ns();
        if (!l2->rc && now >= l2->next_connect) start_connect(l2);

        pthread_mutex_lock(&l2->mu);
        req_t *taken = l2->qhead;
        l2->qhead = l2->qtail = NULL;
        bool stop = l2->stop;
        pthread_mutex_unlock(&l2->mu);
        if (stop) {
            while (taken) {
                req_t *next = taken->next;
                finish(l2, taken, L2_ECLOSED, -1, NULL, 0);
                taken = next;
            }
            break;
        }
        dispatch(l2, taken, now);
        if (l2->rc && l2->want_write && atomic_load(&l2->state) >= ST_HANDSHAKE) flush_writes(l2);

        /* Deadlines: the oldest request in flight, or the handshake. */
        now = clock_mono_ns();
        if (l2->fhead && now >= l2->fhead->deadline)
            drop(l2, L2_ETIMEDOUT, E_TIMEOUT, "no answer within redis_timeout_ms");
        else if (l2->rc && atomic_load(&l2->state) != ST_READY && now >= l2->handshake_deadline)
            drop(l2, L2_EIO, -1, "connect/handshake timed out");

        uint64_t wake = now + 1000000000ull;
        if (l2->fhead && l2->fhead->deadline < wake) wake = l2->fhead->deadline;
        if (l2->rc && atomic_load(&l2->state) != ST_READY && l2->handshake_deadline < wake)
            wake = l2->handshake_deadline;
        if (!l2->rc && l2->next_connect < wake) wake = l2->next_connect;
        int timeout_ms = wake > now ? (int)((wake - now + 999999) / 1000000) : 0;
        metric_set(l2->m_pending, atomic_load_explicit(&l2->pending, memory_order_relaxed));

        struct pollfd pf[2] = {{.fd = l2->efd, .events = POLLIN}, {.fd = -1}};
        if (l2->rc) {
            pf[1].fd = l2->rc->fd;
            pf[1].events = POLLIN;
            if (l2->want_write || atomic_load(&l2->state) == ST_CONNECTING) pf[1].events |= POLLOUT;
        }
        pthread_mutex_lock(&l2->mu);
        bool idle = !l2->qhead && !l2->stop;
        l2->sleeping = idle;
        pthread_mutex_unlock(&l2->mu);
        int n = poll(pf, 2, idle ? timeout_ms : 0);
        pthread_mutex_lock(&l2->mu);
        l2->sleeping = false;
        pthread_mutex_unlock(&l2->mu);
        if (n <= 0) continue;
        if (pf[0].revents & POLLIN) {
            uint64_t v;
            ssize_t rd = read(l2->efd, &v, sizeof v);
            (void)rd;
        }
        if (!l2->rc || pf[1].revents == 0) continue;
        if (atomic_load(&l2->state) == ST_CONNECTING) {
            connected(l2);
            if (l2->rc) flush_writes(l2);
            continue;
        }
        if (pf[1].revents & POLLOUT) flush_writes(l2);
        if (l2->rc && (pf[1].revents & (POLLIN | POLLHUP | POLLERR))) read_replies(l2);
    }
    /* Stopping: whatever is in flight is answered as closed. */
    req_t *r = l2->fhead;
    l2->fhead = l2->ftail = NULL;
    while (r) {
        req_t *next = r->next;
        finish(l2, r, L2_ECLOSED, -1, NULL, 0);
        r = next;
    }
    if (l2->rc) redisFree(l2->rc);
    l2->rc = NULL;
    metric_set(l2->m_connected, 0);
    metric_set(l2->m_pending, 0);
    return NULL;
}

/* ---- public API ------------------------------------------------------------------------------ */

l2_t *l2_new(const l2_opts_t *o, char *err, size_t errlen)
{
    if (o->timeout_ms <= 0 || o->queue <= 0 || o->ttl_s < 0) {
        snprintf(err, errlen, "redis: redis_timeout_ms and redis_queue must be positive");
        return NULL;
    }
    l2_t *l2 = calloc(1, sizeof *l2);
    if (!l2) return snprintf(err, errlen, "out of memory"), NULL;
    if (l2_url_parse(o->url, &l2->url, err, errlen)) return free(l2), NULL;
    l2->timeout_ns = (uint64_t)o->timeout_ms * 1000000u;
    l2->ttl_s = o->ttl_s;
    l2->queue_max = o->queue;
    l2->backoff = BACKOFF_MIN_NS;
    pthread_mutex_init(&l2->mu, NULL);
    l2->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l2->efd < 0) {
        snprintf(err, errlen, "redis: eventfd: %s", strerror(errno));
        goto fail;
    }
    register_metrics(l2);
    int rc = pthread_create(&l2->thr, NULL, l2_main, l2);
    if (rc) {
        snprintf(err, errlen, "redis: cannot start thread: %s", strerror(rc));
        goto fail;
    }
    pthread_setname_np(l2->thr, "inferd-redis"); /* for top -H; failure is harmless */
    return l2;
fail:
    if (l2->efd >= 0) close(l2->efd);
    pthread_mutex_destroy(&l2->mu);
    l2_url_free(&l2->url);
    free(l2);
    return NULL;
}

void l2_stop(l2_t *l2)
{
    if (!l2) return;
    pthread_mutex_lock(&l2->mu);
    bool was = l2->stop;
    l2->stop = true;
    pthread_mutex_unlock(&l2->mu);
    if (was) return;
    uint64_t one = 1;
    ssize_t wr = write(l2->efd, &one, sizeof one);
    (void)wr;
    pthread_join(l2->thr, NULL);
}

void l2_close(l2_t *l2)
{
    if (!l2) return;
    l2_stop(l2);
    close(l2->efd);
    pthread_mutex_destroy(&l2->mu);
    l2_url_free(&l2->url);
    free(l2);
}

int l2_connected(const l2_t *l2)
{
    return atomic_load_explicit(&((l2_t *)l2)->state, memory_order_relaxed) == ST_READY;
}

static int submit(l2_t *l2, op_t op, const void *key, size_t klen, const void *val, size_t vlen,
                  l2_get_cb cb, void *arg)
{
    if (!l2_connected(l2)) {
        metric_add(l2->m_err[E_DOWN], 1);
        return -ENOTCONN;
    }
    if (atomic_fetch_add_explicit(&l2->pending, 1, memory_order_relaxed) >= l2->queue_max) {
        atomic_fetch_sub_explicit(&l2->pending, 1, memory_order_relaxed);
        metric_add(l2->m_err[E_FULL], 1);
        return -EAGAIN;
    }
    req_t *r = malloc(sizeof *r + klen + vlen);
    if (!r) {
        atomic_fetch_sub_explicit(&l2->pending, 1, memory_order_relaxed);
        return -ENOMEM;
    }
    r->next = NULL;
    r->op = op;
    r->t0 = clock_mono_ns();
    r->deadline = r->t0 + l2->timeout_ns;
    r->cb = cb;
    r->arg = arg;
    r->klen = klen;
    r->vlen = vlen;
    memcpy(r->data, key, klen);
    if (vlen) memcpy(r->data + klen, val, vlen);
    pthread_mutex_lock(&l2->mu);
    if (l2->stop) {
        pthread_mutex_unlock(&l2->mu);
        atomic_fetch_sub_explicit(&l2->pending, 1, memory_order_relaxed);
        free(r);
        metric_add(l2->m_err[E_DOWN], 1);
        return -ENOTCONN;
    }
    if (l2->qtail)
        l2->qtail->next = r;
    else
        l2->qhead = r;
    l2->qtail = r;
    bool wake = l2->sleeping;
    l2->sleeping = false; /* one wake-up per sleep is enough */
    pthread_mutex_unlock(&l2->mu);
    if (wake) {
        uint64_t one = 1;
        ssize_t wr = write(l2->efd, &one, sizeof one);
        (void)wr;
    }
    return 0;
}

int l2_get(l2_t *l2, const void *key, size_t klen, l2_get_cb cb, void *arg)
{
    return submit(l2, OP_GET, key, klen, NULL, 0, cb, arg);
}

int l2_set(l2_t *l2, const void *key, size_t klen, const void *val, size_t vlen)
{
    return submit(l2, OP_SET, key, klen, val, vlen, NULL, NULL);
}

void l2_stats(const l2_t *l2, l2_stats_t *out)
{
#define V(m) ((uint64_t)atomic_load_explicit(&(m)->value, memory_order_relaxed))
    out->hits = V(l2->m_hits);
    out->misses = V(l2->m_misses);
    out->sets = V(l2->m_sets);
    out->connects = V(l2->m_connects);
    out->connect_failures = V(l2->m_connect_fail);
    out->err_down = V(l2->m_err[E_DOWN]);
    out->err_queue_full = V(l2->m_err[E_FULL]);
    out->err_timeout = V(l2->m_err[E_TIMEOUT]);
    out->err_io = V(l2->m_err[E_IO]);
    out->err_reply = V(l2->m_err[E_REPLY]);
#undef V
}
