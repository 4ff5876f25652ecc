/* L2 cache over Redis (hiredis). Callers on any thread, event loops included, submit GET and SET
 * without blocking: requests go through a bounded queue to one dedicated thread that owns the
 * connection, pipelines commands, and answers each GET through a callback within the timeout.
 * When Redis is down, slow or the queue is full, a GET completes as a miss (at once, or at its
 * deadline) and an error counter goes up; the caller then computes the answer itself. */
#ifndef INFERD_CACHE_REDIS_H
#define INFERD_CACHE_REDIS_H

#include <stddef.h>
#include <stdint.h>

typedef struct l2 l2_t;

/* Where Redis is: redis://[[user]:password@]host[:port][/db] (host may be [v6]) or
 * unix:/path/to.sock[?db=N][&password=P]. Percent escapes (%40) are decoded in user, password
 * and path. */
typedef struct l2_url {
    char *host; /* TCP host, or NULL for a Unix socket */
    int port;
    char *path; /* Unix socket path, or NULL */
    char *user, *password;
    int db;
} l2_url_t;

/* Parses url into out (strings allocated; free with l2_url_free). 0, or -EINVAL with err. */
int l2_url_parse(const char *url, l2_url_t *out, char *err, size_t errlen);
void l2_url_free(l2_url_t *u);

typedef struct l2_opts {
    const char *url;
    int64_t timeout_ms; /* a GET not answered within this after submission is a miss */
    int64_t ttl_s;      /* SET ... EX ttl_s; 0 = no expiry */
    int64_t queue;      /* requests queued or in flight; beyond it a request is refused */
} l2_opts_t;

/* How a GET ended, as given to the callback. */
enum {
    L2_HIT = 1,
    L2_MISS = 0,
    /* errors (the caller treats them as misses): */
    L2_ETIMEDOUT = -1, /* no answer within timeout_ms (the connection is then dropped) */
    L2_EIO = -2,       /* connection lost, or an error reply */
    L2_ECLOSED = -3,   /* l2_close ran first */
};

/* GET completion, called once on the L2 thread: status is L2_HIT with the value's bytes (valid
 * only during the call: copy what you keep), L2_MISS, or an L2_E* error with val NULL. */
typedef void (*l2_get_cb)(void *arg, int status, const void *val, size_t len);

/* Parses the URL, registers the inferd_cache_l2_* metrics and starts the thread, which connects
 * in the background (l2_get misses until it is connected). NULL with err on a bad setting. */
l2_t *l2_new(const l2_opts_t *o, char *err, size_t errlen);
/* Stops the thread: GETs still pending are answered L2_ECLOSED, pending SETs are dropped; later
 * calls fail with -ENOTCONN. Idempotent; l2 stays allocated. */
void l2_stop(l2_t *l2);
/* l2_stop, then frees. */
void l2_close(l2_t *l2);

/* Submits GET key. 0: cb will be called exactly once, from the L2 thread, within about
 * timeout_ms. -ENOTCONN (not connected, e.g. Redis down or backing off), -EAGAIN (queue full) or
 * -ENOMEM: cb is not called; the lookup is a miss and counted as an error. Never blocks. */
int l2_get(l2_t *l2, const void *key, size_t klen, l2_get_cb cb, void *arg);
/* Submits SET key val EX ttl_s, fire and forget. 0 or the same errors as l2_get. Never blocks. */
int l2_set(l2_t *l2, const void *key, size_t klen, const void *val, size_t vlen);

/* True while connected and past the handshake (AUTH, SELECT, PING). */
int l2_connected(const l2_t *l2);

typedef struct l2_stats {
    uint64_t hits, misses, sets, connects, connect_failures;
    uint64_t err_down, err_queue_full, err_timeout, err_io, err_reply;
} l2_stats_t;
/* Counter totals (the same numbers /metrics shows). */
void l2_stats(const l2_t *l2, l2_stats_t *out);

#endif
