/* Unit tests for metrics: counters, hidden zero series, histogram buckets and text format. */
#include "metrics/metrics.h"
#include "th.h"

static double seven(void *arg)
{
    return 7;
}

static double given(void *arg)
{
    return *(const double *)arg;
}

int main(void)
{
    metric_family_t *c = metrics_family("t_requests_total", "Requests", METRIC_COUNTER, NULL, 0);
    metric_t *a = metrics_series(c, "route=\"/a\"", false);
    metric_t *hidden = metrics_series(c, "route=\"/b\"", true);
    metric_add(a, 3);
    CHECK(metrics_family("t_requests_total", "x", METRIC_COUNTER, NULL, 0) == c);

    const double bounds[] = {0.001, 0.01, 0.1};
    metric_family_t *h =
        metrics_family("t_latency_seconds", "Latency", METRIC_HISTOGRAM, bounds, 3);
    metric_t *lat = metrics_series(h, "", false);
    metric_observe_ns(lat, 500000);     /* 0.5 ms -> le 0.001 */
    metric_observe_ns(lat, 1000000);    /* exactly 1 ms -> le 0.001 (upper bounds are inclusive) */
    metric_observe_ns(lat, 50000000);   /* 50 ms -> le 0.1 */
    metric_observe_ns(lat, 2000000000); /* 2 s -> +Inf */
    metrics_gauge_fn(metrics_family("t_gauge", "Gauge", METRIC_GAUGE, NULL, 0), "", seven, NULL);
    /* Values print as the shortest text that reads back exactly, never %.17g's noise. */
    static const double vals[] = {0.05, 1e-7, 123456789012.0, 0.1 + 0.2, -2.5};
    metric_family_t *g = metrics_family("t_values", "Values", METRIC_GAUGE, NULL, 0);
    for (int i = 0; i < 5; i++) {
        char l[16];
        snprintf(l, sizeof l, "i=\"%d\"", i);
        metrics_gauge_fn(g, l, given, (void *)&vals[i]);
    }

    buf_t out;
    buf_init(&out);
    CHECK_EQ(metrics_render(&out), 0);
    CHECK_EQ(buf_append(&out, "", 1), 0);
    const char *s = out.data;
    CHECK(strstr(s, "# TYPE t_requests_total counter\n") != NULL);
    CHECK(strstr(s, "t_requests_total{route=\"/a\"} 3\n") != NULL);
    CHECK(strstr(s, "route=\"/b\"") == NULL);
    CHECK(strstr(s, "# TYPE t_latency_seconds histogram\n") != NULL);
    CHECK(strstr(s, "t_latency_seconds_bucket{le=\"0.001\"} 2\n") != NULL);
    CHECK(strstr(s, "t_latency_seconds_bucket{le=\"0.01\"} 2\n") != NULL);
    CHECK(strstr(s, "t_latency_seconds_bucket{le=\"0.1\"} 3\n") != NULL);
    CHECK(strstr(s, "t_latency_seconds_bucket{le=\"+Inf\"} 4\n") != NULL);
    CHECK(strstr(s, "t_latency_seconds_count 4\n") != NULL);
    CHECK(strstr(s, "t_latency_seconds_sum 2.0515\n") != NULL);
    CHECK(strstr(s, "t_gauge 7\n") != NULL);
    CHECK(strstr(s, "t_values{i=\"0\"} 0.05\n") != NULL);
    CHECK(strstr(s, "t_values{i=\"1\"} 1e-07\n") != NULL);
    CHECK(strstr(s, "t_values{i=\"2\"} 123456789012\n") != NULL);
    CHECK(strstr(s, "t_values{i=\"3\"} 0.30000000000000004\n") != NULL);
    CHECK(strstr(s, "t_values{i=\"4\"} -2.5\n") != NULL);

    metric_add(hidden, 1);
    out.len = 0;
    CHECK_EQ(metrics_render(&out), 0);
    CHECK_EQ(buf_append(&out, "", 1), 0);
    CHECK(strstr(out.data, "t_requests_total{route=\"/b\"} 1\n") != NULL);
    buf_deinit(&out);
    metrics_free_all();
    return TH_DONE();
}
