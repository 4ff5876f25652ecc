/* Unit tests for http/router: static and parameter segments, 404 vs 405, HEAD via GET. */
#include "http/router.h"
#include "th.h"

static void h1(http_req_t *r, void *a) {}
static void h2(http_req_t *r, void *a) {}

static http_span_t sp(const char *s)
{
    return (http_span_t){s, strlen(s)};
}

int main(void)
{
    http_router_t *rt = router_new();
    const http_route_t *live =
        router_add(rt, M(HTTP_GET), "/v2/health/live", h1, NULL, ROUTE_PUBLIC);
    const http_route_t *infer = router_add(rt, M(HTTP_POST), "/v2/models/{m}/infer", h2, NULL, 0);
    const http_route_t *ver =
        router_add(rt, M(HTTP_POST), "/v2/models/{m}/versions/{v}/infer", h2, NULL, 0);
    const http_route_t *model = router_add(rt, M(HTTP_GET), "/v2/models/{m}", h1, NULL, 0);
    CHECK(live && infer && ver && model);
    CHECK(router_add(rt, M(HTTP_GET), "no-slash", h1, NULL, 0) == NULL);
    CHECK_EQ(router_count(rt), 4);
    CHECK(router_get(rt, 1) == infer);

    http_span_t params[HTTP_MAX_PARAMS];
    int np;
    unsigned allowed;
    CHECK(router_match(rt, HTTP_GET, sp("/v2/health/live"), params, &np, &allowed) == live);
    CHECK(router_match(rt, HTTP_HEAD, sp("/v2/health/live"), params, &np, &allowed) == live);
    CHECK(router_match(rt, HTTP_POST, sp("/v2/models/iris/infer"), params, &np, &allowed) == infer);
    CHECK_EQ(np, 1);
    CHECK_SPAN(params[0], "iris");
    CHECK(router_match(rt, HTTP_POST, sp("/v2/models/iris/versions/3/infer"), params, &np,
                       &allowed) == ver);
    CHECK_EQ(np, 2);
    CHECK_SPAN(params[0], "iris");
    CHECK_SPAN(params[1], "3");

    /* Wrong method: no match, but the allowed set names the methods that would work. */
    CHECK(router_match(rt, HTTP_DELETE, sp("/v2/health/live"), params, &np, &allowed) == NULL);
    CHECK_EQ(allowed, M(HTTP_GET) | M(HTTP_HEAD));
    char allow[64];
    router_allow_str(allowed, allow, sizeof allow);
    CHECK_STR(allow, "GET, HEAD");
    CHECK(router_match(rt, HTTP_GET, sp("/v2/models/iris/infer"), params, &np, &allowed) == NULL);
    CHECK_EQ(allowed, M(HTTP_POST));

    /* Unknown paths: 404 (allowed stays 0). */
    CHECK(router_match(rt, HTTP_GET, sp("/nope"), params, &np, &allowed) == NULL);
    CHECK_EQ(allowed, 0);
    CHECK(router_match(rt, HTTP_GET, sp("/v2/health/live/"), params, &np, &allowed) == NULL);
    CHECK(router_match(rt, HTTP_POST, sp("/v2/models//infer"), params, &np, &allowed) == NULL);
    CHECK_EQ(allowed, 0); /* an empty segment never fills a parameter */
    CHECK(router_match(rt, HTTP_GET, sp(""), params, &np, &allowed) == NULL);
    CHECK(router_match(rt, HTTP_GET, sp("/a/b/c/d/e/f/g/h/i/j/k/l/m/n"), params, &np, &allowed) ==
          NULL);
    router_free(rt);
    return TH_DONE();
}
