/* Open Inference Protocol health probes. Readiness will later also wait for models to load. */
#include "api/api.h"

static void live(http_req_t *r, void *arg)
{
    http_reply(r, 200, "application/json", "{\"live\":true}\n", 14);
}

static void ready(http_req_t *r, void *arg)
{
    http_reply(r, 200, "application/json", "{\"ready\":true}\n", 15);
}

void api_health_register(http_router_t *rt)
{
    router_add(rt, M(HTTP_GET), "/v2/health/live", live, NULL, ROUTE_PUBLIC);
    router_add(rt, M(HTTP_GET), "/v2/health/ready", ready, NULL, ROUTE_PUBLIC);
}
