/* Open-loop load for bench/ingest.sh: posts pre-encoded bodies at a fixed rate, whether or not
 * the server keeps up (wrk is a closed loop: a slow answer delays the next request and hides
 * queueing). Request k is due at start + k / RATE; it goes out on the first idle connection, and
 * its latency runs from when it was due, not when it was sent, so time spent waiting for a
 * connection counts (no coordinated omission). One thread, epoll, keep-alive connections.
 *
 * Usage: ingest_load HOST:PORT PATH RATE SECONDS CONNS HEADER FILE [FILE...]
 *   HEADER: "name: value" or "" (none). Prints one JSON line: rate asked and achieved, requests,
 *   non-2xx answers, latency p50/p99/max in ms. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct conn {
    int fd;
    const char *req; /* the request being sent, or NULL when idle */
    size_t len, sent;
    char in[4096];
    size_t got;
    double due; /* when its request was due */
} conn_t;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)sz + 1);
    if (p && fread(p, 1, (size_t)sz, f) != (size_t)sz) p = (free(p), NULL);
    fclose(f);
    *n = (size_t)sz;
    return p;
}

int main(int argc, char **argv)
{
    if (argc < 8) {
        fprintf(stderr, "usage: ingest_load HOST:PORT PATH RATE SECONDS CONNS HEADER FILE...\n");
        return 2;
    }
    char host[64];
    snprintf(host, sizeof host, "%s", argv[1]);
    char *colon = strrchr(host, ':');
    if (!colon) return 2;
    *colon = 0;
    int port = atoi(colon + 1), nconn = atoi(argv[5]), nreq = argc - 7;
    double rate = atof(argv[3]), secs = atof(argv[4]);
    char **reqs = calloc((size_t)nreq, sizeof *reqs);
    size_t *lens = calloc((size_t)nreq, sizeof *lens);
    for (int i = 0; i < nreq; i++) {
        size_t n;
        char *body = slurp(argv[7 + i], &n);
        if (!body) return fprintf(stderr, "cannot read %s\n", argv[7 + i]), 1;
        size_t cap = n + 512;
        reqs[i] = malloc(cap);
        int h = snprintf(reqs[i], cap,
                         "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %zu\r\n%s%s\r\n", argv[2],
                         argv[1], n, argv[6], argv[6][0] ? "\r\n" : "");
        memcpy(reqs[i] + h, body, n);
        lens[i] = (size_t)h + n;
        free(body);
    }
    int ep = epoll_create1(0);
    conn_t *cs = calloc((size_t)nconn, sizeof *cs);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &sa.sin_addr);
    for (int i = 0; i < nconn; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa))
            return fprintf(stderr, "connect: %s\n", strerror(errno)), 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        fcntl(fd, F_SETFL, O_NONBLOCK);
        cs[i].fd = fd;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = &cs[i]};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    size_t cap = (size_t)(rate * secs) + 16, ndone = 0, bad = 0;
    double *lat = malloc(cap * sizeof *lat);
    double t0 = now(), end = t0 + secs;
    uint64_t next = 0; /* the next request to send */
    int which = 0;
    for (;;) {
        double t = now();
        /* Send every request that is due, while a connection is idle. */
        while (next < cap && t0 + (double)next / rate <= t && t0 + (double)next / rate < end) {
            conn_t *c = NULL;
            for (int i = 0; i < nconn && !c; i++)
                if (!cs[i].req) c = &cs[i];
            if (!c) break;
            c->req = reqs[which];
            c->len = lens[which];
            which = (which + 1) % nreq;
            c->sent = c->got = 0;
            c->due = t0 + (double)next / rate;
            next++;
            ssize_t w = send(c->fd, c->req, c->len, MSG_NOSIGNAL);
            if (w > 0) c->sent = (size_t)w;
        }
        bool busy = false;
        for (int i = 0; i < nconn; i++) busy |= cs[i].req != NULL;
        if (t >= end && !busy) break;
        if (t >= end + 30) break; /* answers that never come */
        double wait = t0 + (double)next / rate - t;
        int ms = wait > 0 ? (int)(wait * 1000) + 1 : 0;
        if (t >= end) ms = 100;
        struct epoll_event evs[64];
        int n = epoll_wait(ep, evs, 64, ms);
        for (int k = 0; k < n; k++) {
            conn_t *c = evs[k].data.ptr;
            if (!c->req) {
                char sink[256];
                while (read(c->fd, sink, sizeof sink) > 0) {
                }
                continue;
            }
            while (c->sent < c->len) {
                ssize_t w = send(c->fd, c->req + c->sent, c->len - c->sent, MSG_NOSIGNAL);
                if (w <= 0) break;
                c->sent += (size_t)w;
            }
            for (;;) {
                ssize_t r = read(c->fd, c->in + c->got, sizeof c->in - 1 - c->got);
                if (r <= 0) break;
                c->got += (size_t)r;
                c->in[c->got] = 0;
                char *eoh = strstr(c->in, "\r\n\r\n");
                if (!eoh) continue;
                char *cl = strcasestr(c->in, "content-length:");
                size_t body = cl && cl < eoh ? strtoul(cl + 15, NULL, 10) : 0;
                size_t need = (size_t)(eoh + 4 - c->in) + body;
                if (c->got < need) continue;
                int status = atoi(c->in + 9);
                if (status < 200 || status > 299) bad++;
                if (ndone < cap) lat[ndone++] = now() - c->due;
                memmove(c->in, c->in + need, c->got - need);
                c->got -= need;
                c->req = NULL;
                break;
            }
        }
    }
    double took = now() - t0;
    qsort(lat, ndone, sizeof *lat, cmp);
    double p50 = ndone ? lat[ndone / 2] : 0, p99 = ndone ? lat[(size_t)(ndone * 0.99)] : 0,
           mx = ndone ? lat[ndone - 1] : 0;
    printf(
        "{\"rate\": %.1f, \"achieved\": %.1f, \"requests\": %zu, \"sent\": %llu, \"non2xx\": %zu, "
        "\"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f}\n",
        rate, (double)ndone / (took < secs ? took : secs), ndone, (unsigned long long)next, bad,
        p50 * 1e3, p99 * 1e3, mx * 1e3);
    return 0;
}
