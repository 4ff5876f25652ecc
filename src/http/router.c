/* Router: linear scan over pre-split patterns. */
#include "http/router.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROUTES 128

struct http_router {
    http_route_t routes[MAX_ROUTES];
    int n;
};

http_router_t *router_new(void)
{
    return calloc(1, sizeof(http_router_t));
}

void router_free(http_router_t *rt)
{
    free(rt);
}

/* Splits "/a/b/c" into segments. A trailing slash yields an empty last segment, so "/a/" and "/a"
 * are different paths, as they are for most servers. Returns the count or -1. */
static int split(http_span_t path, http_span_t *segs, int max)
{
    if (path.n == 0 || path.p[0] != '/') return -1;
    int n = 0;
    size_t i = 1, start = 1;
    for (; i <= path.n; i++) {
        if (i == path.n || path.p[i] == '/') {
            if (n == max) return -1;
            segs[n++] = (http_span_t){path.p + start, i - start};
            start = i + 1;
        }
    }
    return n;
}

const http_route_t *router_add(http_router_t *rt, unsigned methods, const char *pattern,
                               http_handler_fn fn, void *arg, unsigned flags)
{
    if (rt->n == MAX_ROUTES) return NULL;
    http_route_t *r = &rt->routes[rt->n];
    int n = split((http_span_t){pattern, strlen(pattern)}, r->segs, ROUTE_MAX_SEGS);
    if (n < 0) return NULL;
    if (methods & M(HTTP_GET)) methods |= M(HTTP_HEAD);
    r->nsegs = n;
    r->methods = methods;
    r->pattern = pattern;
    r->fn = fn;
    r->arg = arg;
    r->flags = flags;
    r->id = rt->n++;
    return r;
}

static bool is_param(http_span_t s)
{
    return s.n >= 2 && s.p[0] == '{' && s.p[s.n - 1] == '}';
}

const http_route_t *router_match(const http_router_t *rt, http_method_t method, http_span_t path,
                                 http_span_t *params, int *nparams, unsigned *allowed)
{
    http_span_t segs[ROUTE_MAX_SEGS];
    *allowed = 0;
    *nparams = 0;
    int n = split(path, segs, ROUTE_MAX_SEGS);
    if (n < 0) return NULL;
    for (int i = 0; i < rt->n; i++) {
        const http_route_t *r = &rt->routes[i];
        if (r->nsegs != n) continue;
        int np = 0, j;
        http_span_t got[HTTP_MAX_PARAMS];
        for (j = 0; j < n; j++) {
            if (is_param(r->segs[j])) {
                if (segs[j].n == 0 || np == HTTP_MAX_PARAMS) break;
                got[np++] = segs[j];
            } else if (r->segs[j].n != segs[j].n || memcmp(r->segs[j].p, segs[j].p, segs[j].n)) {
                break;
            }
        }
        if (j < n) continue;
        if (!(r->methods & M(method))) {
            *allowed |= r->methods;
            continue;
        }
        memcpy(params, got, sizeof(http_span_t) * (size_t)np);
        *nparams = np;
        return r;
    }
    return NULL;
}

int router_count(const http_router_t *rt)
{
    return rt->n;
}

const http_route_t *router_get(const http_router_t *rt, int id)
{
    return id >= 0 && id < rt->n ? &rt->routes[id] : NULL;
}

void router_allow_str(unsigned methods, char *buf, size_t len)
{
    static const char *names[] = {
        [HTTP_GET] = "GET",        [HTTP_HEAD] = "HEAD",     [HTTP_POST] = "POST",
        [HTTP_PUT] = "PUT",        [HTTP_DELETE] = "DELETE", [HTTP_PATCH] = "PATCH",
        [HTTP_OPTIONS] = "OPTIONS"};
    size_t off = 0;
    buf[0] = 0;
    for (int m = HTTP_GET; m <= HTTP_OPTIONS; m++) {
        if (!(methods & M(m))) continue;
        int w = snprintf(buf + off, len - off, "%s%s", off ? ", " : "", names[m]);
        if (w < 0 || (size_t)w >= len - off) break;
        off += (size_t)w;
    }
}
