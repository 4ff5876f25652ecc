/* GET /metrics in the Prometheus text exposition format. */
#include "api/api.h"
#include "metrics/metrics.h"
#include "util/err.h"

static void get_metrics(http_req_t *r, void *arg)
{
    if (metrics_render(&r->out_body)) {
        api_reply_err(r, ERR_INTERNAL, "out of memory rendering metrics");
        return;
    }
    http_reply_buf(r, 200, "text/plain; version=0.0.4; charset=utf-8");
}

void api_metrics_register(http_router_t *rt)
{
    router_add(rt, M(HTTP_GET), "/metrics", get_metrics, NULL, 0);
}
