/* Method + path router with {param} segments ("/v2/models/{m}/infer"). Routes are registered at
 * start-up; matching is a scan over pre-split patterns, which beats a trie at our route counts. */
#ifndef INFERD_HTTP_ROUTER_H
#define INFERD_HTTP_ROUTER_H

#include "http/http.h"

typedef void (*http_handler_fn)(http_req_t *r, void *arg);

#define ROUTE_PUBLIC   1u /* served without an API key (health probes) */
#define ROUTE_MAX_SEGS 12

struct http_route {
    unsigned methods; /* bit (1u << http_method_t); GET implies HEAD */
    const char *pattern;
    http_handler_fn fn;
    void *arg;
    unsigned flags;
    int id; /* index in registration order (metrics) */
    int nsegs;
    http_span_t segs[ROUTE_MAX_SEGS]; /* pattern segments; "{...}" matches any one segment */
};

typedef struct http_router http_router_t;

/* Creates an empty router. */
http_router_t *router_new(void);
void router_free(http_router_t *rt);
/* Registers fn for the methods (bitmask of 1u << HTTP_*) on pattern (a string literal, borrowed).
 * Returns the route or NULL if the pattern is malformed or has too many segments. */
const http_route_t *router_add(http_router_t *rt, unsigned methods, const char *pattern,
                               http_handler_fn fn, void *arg, unsigned flags);
/* Finds the route for method and path, filling params. Returns it, or NULL with *allowed set to
 * the methods the path accepts (0: no such path -> 404; nonzero -> 405 with Allow). */
const http_route_t *router_match(const http_router_t *rt, http_method_t method, http_span_t path,
                                 http_span_t *params, int *nparams, unsigned *allowed);
/* Number of routes and the route with a given id. */
int router_count(const http_router_t *rt);
const http_route_t *router_get(const http_router_t *rt, int id);
/* Writes the Allow header value for a method mask ("GET, HEAD, POST") into buf. */
void router_allow_str(unsigned methods, char *buf, size_t len);

#define M(m) (1u << (m))

#endif
