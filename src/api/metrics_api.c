/* GET /metrics in the Prometheus text exposition format. */
#include "api/api.h"
#include "metrics/metrics.h"

static void get_metrics(http_req_t *r, void *arg)
{
    if (metrics_render(&r->out_body)) {
        http_reply_error(r, 500, "out of memory rendering metrics");
        return;
    }
    http_reply_buf(r, 200, "text/plain; version=0.0.4; charset=utf-8");
}

void api_metrics_register(http_router_t *rt)
{
    router_add(rt, M(HTTP_GET), "/metrics", get_metrics, NULL, 0);
}
