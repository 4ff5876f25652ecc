/* Redis L2 against a real redis-server that this test starts on a free loopback port (and a Unix
 * socket) in a temporary directory: values round-trip and are what a plain hiredis client sees
 * (db index, TTL), AUTH is enforced, and when the server is killed (SIGKILL) or frozen (SIGSTOP)
 * every lookup ends quickly as a miss with the error counted, then recovers once it is back. */
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "cache/redis.h"
#include "metrics/metrics.h"
#include "th.h"
#include "util/buf.h"
#include "util/clock.h"

#define PASSWORD "s3cr%t" /* '%' must be written %25 in the URL */

static char tmpdir[] = "/tmp/inferd-redis-XXXXXX";
static char sockpath[256];
static int port;
static pid_t server = -1;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &len))
        return -1;
    close(fd);
    return ntohs(a.sin_port);
}

/* A plain blocking hiredis client, the reference the L2's results are checked against. */
static redisContext *direct(int db)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c || c->err) {
        if (c) redisFree(c);
        return NULL;
    }
    redisReply *r = redisCommand(c, "AUTH %s", PASSWORD);
    int ok = r && r->type == REDIS_REPLY_STATUS;
    if (r) freeReplyObject(r);
    if (ok && db) {
        r = redisCommand(c, "SELECT %d", db);
        ok = r && r->type == REDIS_REPLY_STATUS;
        if (r) freeReplyObject(r);
    }
    if (!ok) return redisFree(c), NULL;
    return c;
}

static void start_server(void)
{
    server = fork();
    if (server == 0) {
        char p[16];
        snprintf(p, sizeof p, "%d", port);
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        execlp("redis-server", "redis-server", "--port", p, "--bind", "127.0.0.1", "--unixsocket",
               sockpath, "--dir", tmpdir, "--save", "", "--appendonly", "no", "--requirepass",
               PASSWORD, "--loglevel", "warning", "--daemonize", "no", (char *)NULL);
        perror("redis-server");
        _exit(127);
    }
    for (int i = 0; i < 500; i++) { /* up to 5 s */
        redisContext *c = direct(0);
        if (c) {
            redisFree(c);
            return;
        }
        int st;
        if (waitpid(server, &st, WNOHANG) == server) break;
        usleep(10000);
    }
    fprintf(stderr, "redis-server did not start (is it installed? scripts/deps.sh)\n");
    exit(1);
}

static void kill_server(void)
{
    kill(server, SIGKILL);
    waitpid(server, NULL, 0);
    server = -1;
}

static void cleanup(void)
{
    if (server > 0) {
        kill(server, SIGCONT);
        kill_server();
    }
    unlink(sockpath);
    char path[300];
    snprintf(path, sizeof path, "%s/dump.rdb", tmpdir);
    unlink(path);
    rmdir(tmpdir);
}

/* ---- GET completions ------------------------------------------------------------------------ */

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, hits, misses, errors, timeouts;
    char last[256];
    size_t last_len;
    uint64_t max_ns; /* longest submission-to-callback time */
} waiter_t;

typedef struct call {
    waiter_t *w;
    uint64_t t0;
} call_t;

static void on_get(void *arg, int status, const void *val, size_t len)
{
    call_t *c = arg;
    waiter_t *w = c->w;
    uint64_t dt = clock_mono_ns() - c->t0;
    pthread_mutex_lock(&w->mu);
    if (status == L2_HIT) {
        w->hits++;
        w->last_len = len < sizeof w->last ? len : sizeof w->last;
        memcpy(w->last, val, w->last_len);
    } else if (status == L2_MISS) {
        w->misses++;
    } else {
        w->errors++;
        if (status == L2_ETIMEDOUT) w->timeouts++;
    }
    if (dt > w->max_ns) w->max_ns = dt;
    w->done++;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    free(c);
}

static void waiter_init(waiter_t *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

/* Waits until n callbacks have run, at most ms; returns how many ran. */
static int wait_done(waiter_t *w, int n, int ms)
{
    struct timespec end;
    clock_gettime(CLOCK_REALTIME, &end);
    end.tv_sec += ms / 1000;
    end.tv_nsec += (long)(ms % 1000) * 1000000;
    if (end.tv_nsec >= 1000000000) end.tv_sec++, end.tv_nsec -= 1000000000;
    pthread_mutex_lock(&w->mu);
    while (w->done < n)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &end) == ETIMEDOUT) break;
    int d = w->done;
    pthread_mutex_unlock(&w->mu);
    return d;
}

/* Submits GET; returns the immediate result (0 = a callback will come). */
static int get(l2_t *l2, waiter_t *w, const char *key)
{
    call_t *c = malloc(sizeof *c);
    c->w = w;
    c->t0 = clock_mono_ns();
    int rc = l2_get(l2, key, strlen(key), on_get, c);
    if (rc) free(c);
    return rc;
}

/* One blocking lookup through the L2: L2_HIT/L2_MISS/error, or -100 if it never completed. */
static int get_sync(l2_t *l2, const char *key, char *val, size_t *vlen)
{
    waiter_t w;
    waiter_init(&w);
    int rc = get(l2, &w, key);
    if (rc) return rc;
    if (wait_done(&w, 1, 2000) != 1) return -100;
    if (val && w.hits) memcpy(val, w.last, w.last_len), *vlen = w.last_len;
    return w.hits ? L2_HIT : w.misses ? L2_MISS : L2_EIO;
}

static int wait_connected(l2_t *l2, int ms)
{
    for (int i = 0; i < ms; i++) {
        if (l2_connected(l2)) return 1;
        usleep(1000);
    }
    return 0;
}

static l2_t *open_l2(const char *url, int timeout_ms, int queue)
{
    char err[256] = "";
    l2_opts_t o = {.url = url, .timeout_ms = timeout_ms, .ttl_s = 60, .queue = queue};
    l2_t *l2 = l2_new(&o, err, sizeof err);
    if (!l2) fprintf(stderr, "l2_new: %s\n", err);
    return l2;
}

/* ---- tests ------------------------------------------------------------------------------------
 */

static void test_url(void)
{
    char err[256];
    l2_url_t u;
    CHECK_EQ(l2_url_parse("redis://localhost", &u, err, sizeof err), 0);
    CHECK_STR(u.host, "localhost");
    CHECK_EQ(u.port, 6379);
    CHECK(!u.password && !u.user && !u.path && u.db == 0);
    l2_url_free(&u);
    CHECK_EQ(l2_url_parse("redis://:p%40ss%3a@10.0.0.1:6380/5", &u, err, sizeof err), 0);
    CHECK_STR(u.host, "10.0.0.1");
    CHECK_STR(u.password, "p@ss:");
    CHECK_EQ(u.port, 6380);
    CHECK_EQ(u.db, 5);
    l2_url_free(&u);
    CHECK_EQ(l2_url_parse("redis://alice:pw@[::1]:7000/", &u, err, sizeof err), 0);
    CHECK_STR(u.host, "::1");
    CHECK_STR(u.user, "alice");
    CHECK_STR(u.password, "pw");
    CHECK_EQ(u.port, 7000);
    CHECK_EQ(u.db, 0);
    l2_url_free(&u);
    CHECK_EQ(l2_url_parse("unix:/run/redis/redis.sock?db=2&password=x%26y", &u, err, sizeof err),
             0);
    CHECK_STR(u.path, "/run/redis/redis.sock");
    CHECK_STR(u.password, "x&y");
    CHECK(!u.host);
    CHECK_EQ(u.db, 2);
    l2_url_free(&u);
    CHECK_EQ(l2_url_parse("unix://:pw@/tmp/r.sock", &u, err, sizeof err), 0);
    CHECK_STR(u.path, "/tmp/r.sock");
    CHECK_STR(u.password, "pw");
    l2_url_free(&u);
    const char *bad[] = {"",
                         "localhost:6379",
                         "http://x",
                         "redis://",
                         "redis://h:0",
                         "redis://h:65536",
                         "redis://h:12x",
                         "redis://h/db",
                         "redis://secret@h",
                         "redis://:%zz@h",
                         "redis://[::1",
                         "unix:",
                         "unix:relative.sock",
                         "unix:/x?db=a",
                         "unix:/x?foo=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        int rc = l2_url_parse(bad[i], &u, err, sizeof err);
        CHECK_EQ(rc, -EINVAL);
        CHECK(strstr(err, "redis_url") != NULL);
        if (rc == 0) fprintf(stderr, "accepted bad URL \"%s\"\n", bad[i]);
    }
    l2_opts_t o = {.url = "redis://h", .timeout_ms = 0, .queue = 1};
    CHECK(l2_new(&o, err, sizeof err) == NULL);
}

static void test_roundtrip(void)
{
    char url[128];
    snprintf(url, sizeof url, "redis://:s3cr%%25t@127.0.0.1:%d/3", port);
    l2_t *l2 = open_l2(url, 1000, 4096);
    CHECK(wait_connected(l2, 3000));
    /* SET through the L2, then read it back through the L2 and through a plain client in db 3. */
    const char val[] = "[0.25,-1e-07,3]\0binary\xff";
    CHECK_EQ(l2_set(l2, "emb:m:1:hello", 13, val, sizeof val), 0);
    char got[256];
    size_t glen = 0;
    int st = -1;
    for (int i = 0; i < 200 && st != L2_HIT; i++) { /* the SET is fire and forget */
        st = get_sync(l2, "emb:m:1:hello", got, &glen);
        if (st != L2_HIT) usleep(1000);
    }
    CHECK_EQ(st, L2_HIT);
    CHECK(glen == sizeof val && memcmp(got, val, sizeof val) == 0);
    CHECK_EQ(get_sync(l2, "emb:m:1:absent", NULL, NULL), L2_MISS);
    redisContext *c = direct(3);
    CHECK(c != NULL);
    redisReply *r = redisCommand(c, "GET emb:m:1:hello");
    CHECK(r && r->type == REDIS_REPLY_STRING && r->len == sizeof val &&
          memcmp(r->str, val, sizeof val) == 0);
    freeReplyObject(r);
    r = redisCommand(c, "TTL emb:m:1:hello");
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer > 0 && r->integer <= 60);
    freeReplyObject(r);
    /* A value written by another client is read by the L2. */
    r = redisCommand(c, "SET %s %b", "emb:m:1:other", "xyz", (size_t)3);
    freeReplyObject(r);
    redisFree(c);
    CHECK_EQ(get_sync(l2, "emb:m:1:other", got, &glen), L2_HIT);
    CHECK(glen == 3 && memcmp(got, "xyz", 3) == 0);
    c = direct(0); /* db 0 does not have it */
    r = redisCommand(c, "EXISTS emb:m:1:hello");
    CHECK(r && r->type == REDIS_REPLY_INTEGER && r->integer == 0);
    freeReplyObject(r);
    redisFree(c);

    /* Round trip of one lookup at a time (printed, not asserted: speed is for benchmarks). */
    uint64_t t0 = clock_mono_ns();
    for (int i = 0; i < 500; i++) get_sync(l2, "emb:m:1:hello", NULL, NULL);
    printf("sequential GET through the L2 thread: %.1f us each\n",
           (double)(clock_mono_ns() - t0) / 500 / 1e3);

    /* Many lookups submitted at once are pipelined and all answered. */
    waiter_t w;
    waiter_init(&w);
    int sent = 0;
    t0 = clock_mono_ns();
    for (int i = 0; i < 2000; i++) sent += get(l2, &w, i % 2 ? "emb:m:1:hello" : "nope") == 0;
    CHECK_EQ(sent, 2000);
    CHECK_EQ(wait_done(&w, sent, 5000), sent);
    printf("2000 GETs submitted at once: all answered in %.2f ms\n",
           (double)(clock_mono_ns() - t0) / 1e6);
    CHECK_EQ(w.hits, 1000);
    CHECK_EQ(w.misses, 1000);
    l2_stats_t s;
    l2_stats(l2, &s);
    CHECK(s.hits >= 1502 && s.misses >= 1001 && s.sets == 1 && s.connects == 1);
    CHECK_EQ(s.err_io + s.err_timeout + s.err_reply + s.err_queue_full, 0);

    buf_t b;
    buf_init(&b);
    CHECK_EQ(metrics_render(&b), 0);
    buf_append(&b, "", 1);
    CHECK(strstr(b.data, "inferd_cache_l2_connected 1\n"));
    CHECK(strstr(b.data, "inferd_cache_l2_sets_total 1\n"));
    CHECK(strstr(b.data, "inferd_cache_l2_errors_total{kind=\"timeout\"} 0\n"));
    CHECK(strstr(b.data, "inferd_cache_l2_latency_seconds_bucket{op=\"get\",le=\"+Inf\"}"));
    buf_deinit(&b);
    l2_close(l2);
    metrics_free_all();
}

static void test_unix_and_auth(void)
{
    char url[400];
    snprintf(url, sizeof url, "unix:%s?db=1&password=s3cr%%25t", sockpath);
    l2_t *l2 = open_l2(url, 200, 64);
    CHECK(wait_connected(l2, 3000));
    CHECK_EQ(l2_set(l2, "u", 1, "via unix", 8), 0);
    char got[64];
    size_t glen = 0;
    int st = -1;
    for (int i = 0; i < 200 && st != L2_HIT; i++) {
        st = get_sync(l2, "u", got, &glen);
        if (st != L2_HIT) usleep(1000);
    }
    CHECK(st == L2_HIT && glen == 8 && memcmp(got, "via unix", 8) == 0);
    redisContext *c = direct(1);
    redisReply *r = redisCommand(c, "GET u");
    CHECK(r && r->type == REDIS_REPLY_STRING && r->len == 8);
    freeReplyObject(r);
    redisFree(c);
    l2_close(l2);
    metrics_free_all();

    /* A wrong password never connects: every lookup is an immediate miss counted as "down". */
    snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%d", port);
    l2 = open_l2(url, 50, 64);
    usleep(300000);
    CHECK(!l2_connected(l2));
    waiter_t w;
    waiter_init(&w);
    CHECK_EQ(get(l2, &w, "k"), -ENOTCONN);
    CHECK_EQ(l2_set(l2, "k", 1, "v", 1), -ENOTCONN);
    l2_stats_t s;
    l2_stats(l2, &s);
    CHECK_EQ(s.err_down, 2);
    CHECK(s.connect_failures >= 1);
    CHECK_EQ(s.connects, 0);
    l2_close(l2);
    metrics_free_all();
}

/* Lookups in flight when the connection is lost end at once as io errors, not at their
 * deadline: freeze the server so they stay unanswered, then kill it (the kernel closes its
 * sockets). */
static void test_lost_in_flight(void)
{
    char url[128];
    snprintf(url, sizeof url, "redis://:s3cr%%25t@127.0.0.1:%d", port);
    l2_t *l2 = open_l2(url, 5000, 64);
    CHECK(wait_connected(l2, 3000));
    kill(server, SIGSTOP);
    waiter_t w;
    waiter_init(&w);
    int sent = 0;
    for (int i = 0; i < 10; i++) sent += get(l2, &w, "k") == 0;
    CHECK_EQ(sent, 10);
    usleep(50000);
    CHECK_EQ(wait_done(&w, 1, 0), 0); /* still waiting for the frozen server */
    kill_server();
    CHECK_EQ(wait_done(&w, sent, 2000), sent);
    CHECK(w.max_ns < 2000 * 1000000ull); /* far from the 5 s deadline */
    l2_stats_t s;
    l2_stats(l2, &s);
    CHECK_EQ(s.err_io, 10);
    CHECK_EQ(s.err_timeout, 0);
    CHECK_EQ(w.errors, 10);
    l2_close(l2);
    metrics_free_all();
    start_server();
}

/* Lookups fired continuously while the server dies and comes back: none hangs. */
static void test_killed(void)
{
    char url[128];
    snprintf(url, sizeof url, "redis://:s3cr%%25t@127.0.0.1:%d", port);
    l2_t *l2 = open_l2(url, 20, 1024);
    CHECK(wait_connected(l2, 3000));
    waiter_t w;
    waiter_init(&w);
    int sent = 0, refused = 0;
    uint64_t worst_submit = 0;
    for (int i = 0; i < 400; i++) {
        if (i == 100) kill_server();
        uint64_t t0 = clock_mono_ns();
        int rc = get(l2, &w, "k");
        uint64_t dt = clock_mono_ns() - t0;
        if (dt > worst_submit) worst_submit = dt;
        if (rc == 0) {
            sent++;
        } else {
            refused++;
            CHECK_EQ(rc, -ENOTCONN);
        }
        usleep(500);
    }
    CHECK_EQ(wait_done(&w, sent, 2000), sent); /* every accepted lookup got its callback */
    CHECK(refused > 0);                        /* once it is known down, lookups fail at once */
    CHECK(worst_submit < 200 * 1000000ull);    /* submitting never blocks (generous: shared box) */
    CHECK(w.max_ns < 1000 * 1000000ull);       /* no callback waited much past its 20 ms */
    CHECK(!l2_connected(l2));
    l2_stats_t s;
    l2_stats(l2, &s);
    printf("killed: %d answered (%d hits/misses, %d errors), %d refused at once; errors: down "
           "%llu io %llu timeout %llu; slowest callback %.1f ms\n",
           sent, w.hits + w.misses, w.errors, refused, (unsigned long long)s.err_down,
           (unsigned long long)s.err_io, (unsigned long long)s.err_timeout, w.max_ns / 1e6);
    CHECK_EQ(s.err_down,
             (uint64_t)refused + (uint64_t)(w.errors - (int)s.err_io - (int)s.err_timeout));
    CHECK(s.err_down + s.err_io + s.err_timeout >= 300);

    /* Back: the L2 reconnects by itself (back-off at most 1 s) and serves again. */
    start_server();
    CHECK(wait_connected(l2, 4000));
    CHECK_EQ(l2_set(l2, "again", 5, "yes", 3), 0);
    int st = -1;
    for (int i = 0; i < 200 && st != L2_HIT; i++) {
        st = get_sync(l2, "again", NULL, NULL);
        if (st != L2_HIT) usleep(1000);
    }
    CHECK_EQ(st, L2_HIT);
    l2_stats(l2, &s);
    CHECK_EQ(s.connects, 2);
    l2_close(l2);
    metrics_free_all();
}

/* A frozen server (SIGSTOP) accepts connections but never answers: lookups in flight time out
 * at their deadline, later ones fail at once, and the queue bound holds. */
static void test_stopped(void)
{
    char url[128];
    snprintf(url, sizeof url, "redis://:s3cr%%25t@127.0.0.1:%d", port);
    l2_t *l2 = open_l2(url, 100, 8); /* 100 ms: the 20 submissions surely fit before it */
    CHECK(wait_connected(l2, 3000));
    kill(server, SIGSTOP);
    waiter_t w;
    waiter_init(&w);
    int sent = 0, full = 0;
    for (int i = 0; i < 20; i++) {
        int rc = get(l2, &w, "k");
        if (rc == 0) sent++;
        if (rc == -EAGAIN) full++;
    }
    CHECK_EQ(sent, 8); /* redis_queue = 8: the rest are refused at once */
    CHECK_EQ(full, 12);
    CHECK_EQ(wait_done(&w, sent, 2000), sent);
    CHECK_EQ(w.timeouts, 8);
    CHECK(w.max_ns >= 100 * 1000000ull); /* not before the deadline */
    CHECK(w.max_ns < 1000 * 1000000ull); /* and not long after it (shared, loaded machine) */
    /* While it stays frozen, reconnects pass TCP but not the handshake: lookups fail at once. */
    usleep(300000);
    CHECK(!l2_connected(l2));
    uint64_t t0 = clock_mono_ns();
    for (int i = 0; i < 100; i++) CHECK_EQ(get(l2, &w, "k"), -ENOTCONN);
    CHECK(clock_mono_ns() - t0 < 250 * 1000000ull);
    l2_stats_t s;
    l2_stats(l2, &s);
    CHECK_EQ(s.err_timeout, 8);
    CHECK_EQ(s.err_queue_full, 12);
    CHECK(s.err_down >= 100);
    printf("stopped: %d timed out (slowest %.1f ms), %d refused (queue full), %llu down\n",
           w.timeouts, w.max_ns / 1e6, full, (unsigned long long)s.err_down);
    kill(server, SIGCONT);
    CHECK(wait_connected(l2, 4000));
    CHECK_EQ(get_sync(l2, "k", NULL, NULL), L2_MISS);
    l2_close(l2);
    metrics_free_all();
}

/* Closing with lookups in flight answers them (L2_ECLOSED) instead of dropping them. */
static void test_close_pending(void)
{
    char url[128];
    snprintf(url, sizeof url, "redis://:s3cr%%25t@127.0.0.1:%d", port);
    l2_t *l2 = open_l2(url, 5000, 64);
    CHECK(wait_connected(l2, 3000));
    kill(server, SIGSTOP);
    waiter_t w;
    waiter_init(&w);
    int sent = 0;
    for (int i = 0; i < 10; i++) sent += get(l2, &w, "k") == 0;
    usleep(20000);
    l2_close(l2);
    CHECK_EQ(w.done, sent);
    CHECK_EQ(w.errors, sent);
    kill(server, SIGCONT);
    metrics_free_all();
}

/* cache.h: a computed answer goes to both levels; a fresh process (empty L1) finds it in L2,
 * and that hit fills its L1. */
static void test_two_level(void)
{
    char url[128], err[256] = "";
    snprintf(url, sizeof url, "redis://:s3cr%%25t@127.0.0.1:%d/4", port);
    cache_opts_t o = {.l1_bytes = 1 << 20,
                      .name = "a",
                      .redis_url = url,
                      .redis_ttl_s = 60,
                      .redis_timeout_ms = 1000,
                      .redis_queue = 64};
    cache_t *a = cache_new(&o, err, sizeof err);
    o.name = "b";
    cache_t *b = cache_new(&o, err, sizeof err);
    CHECK(a && b);
    CHECK(wait_connected(cache_l2(a), 3000) && wait_connected(cache_l2(b), 3000));
    cache_put(a, "m|1|hi", 6, "[1,2]", 5);
    lru_val_t *v = cache_get_l1(a, "m|1|hi", 6);
    CHECK(v && lru_val_len(v) == 5);
    lru_release(v);
    CHECK(cache_get_l1(b, "m|1|hi", 6) == NULL);
    waiter_t w;
    int hit = 0;
    for (int i = 0; i < 200 && !hit; i++) { /* the SET is fire and forget */
        waiter_init(&w);
        call_t *c = malloc(sizeof *c);
        c->w = &w;
        c->t0 = clock_mono_ns();
        CHECK_EQ(cache_get_l2(b, "m|1|hi", 6, on_get, c), 0);
        CHECK_EQ(wait_done(&w, 1, 2000), 1);
        hit = w.hits;
        if (!hit) usleep(1000);
    }
    CHECK(hit && w.last_len == 5 && memcmp(w.last, "[1,2]", 5) == 0);
    v = cache_get_l1(b, "m|1|hi", 6); /* the L2 hit filled b's L1 */
    CHECK(v && lru_val_len(v) == 5 && memcmp(lru_val_data(v), "[1,2]", 5) == 0);
    lru_release(v);
    cache_free(a);
    cache_free(b);

    /* No L2: cache_get_l2 says so at once; no L1: nothing is kept. */
    cache_opts_t none = {.l1_bytes = 0};
    cache_t *n = cache_new(&none, err, sizeof err);
    CHECK(n && !cache_l1(n) && !cache_l2(n));
    cache_put(n, "k", 1, "v", 1);
    CHECK(cache_get_l1(n, "k", 1) == NULL);
    CHECK_EQ(cache_get_l2(n, "k", 1, on_get, NULL), -ENOTCONN);
    cache_free(n);
    cache_opts_t bad = {
        .l1_bytes = 1024, .redis_url = "redis:/x", .redis_timeout_ms = 10, .redis_queue = 1};
    CHECK(cache_new(&bad, err, sizeof err) == NULL);
    CHECK(strstr(err, "redis_url") != NULL);
    metrics_free_all();
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_url();
    if (!mkdtemp(tmpdir)) return perror("mkdtemp"), 1;
    snprintf(sockpath, sizeof sockpath, "%s/redis.sock", tmpdir);
    port = free_port();
    atexit(cleanup);
    start_server();
    test_roundtrip();
    test_unix_and_auth();
    test_lost_in_flight();
    test_killed();
    test_stopped();
    test_close_pending();
    test_two_level();
    return TH_DONE();
}
