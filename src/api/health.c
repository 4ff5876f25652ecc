/* Open Inference Protocol health probes. Liveness says the process answers; readiness says it
 * can do its work: the model repository has loaded and the record store can write. Both run on
 * an event loop, so every check they call reads state and never blocks. */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "models/repo.h"
#include "serve/collections.h"
#include "store/store.h"

static void live(http_req_t *r, void *arg)
{
    http_reply(r, 200, "application/json", "{\"live\":true}\n", 14);
}

static void ready(http_req_t *r, void *arg)
{
    const api_health_t *h = arg;
    char why[200] = "shutting down";
    bool ok = !atomic_load(&h->stopping);
    if (ok && h->repo && !repo_ready(h->repo, why, sizeof why)) ok = false;
    if (ok && h->store && !store_healthy(h->store, why, sizeof why)) ok = false;
    if (ok && h->colls && !colls_ready(h->colls, why, sizeof why)) ok = false;
    if (ok) {
        http_reply(r, 200, "application/json", "{\"ready\":true}\n", 15);
        return;
    }
    int rc = buf_puts(&r->out_body, "{\"ready\":false,\"reason\":");
    if (!rc) rc = buf_json_str(&r->out_body, why, strlen(why));
    if (!rc) rc = buf_puts(&r->out_body, "}\n");
    http_reply_buf(r, 503, "application/json");
}

void api_health_register(http_router_t *rt, const api_health_t *h)
{
    router_add(rt, M(HTTP_GET), "/v2/health/live", live, NULL, ROUTE_PUBLIC);
    router_add(rt, M(HTTP_GET), "/v2/health/ready", ready, (void *)h, ROUTE_PUBLIC);
}
