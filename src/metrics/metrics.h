/* Prometheus metrics: counters, gauges and histograms registered at start-up and updated lock-free
 * (relaxed atomics) from any thread; rendered in the text exposition format 0.0.4. */
#ifndef INFERD_METRICS_METRICS_H
#define INFERD_METRICS_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/buf.h"

typedef enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM } metric_type_t;

#define METRIC_MAX_BUCKETS 20

typedef struct metric_family metric_family_t;

/* One labelled series. Counters and gauges use `value`; histograms use the bucket fields. */
typedef struct metric {
    _Atomic int64_t value;
    _Atomic uint64_t buckets[METRIC_MAX_BUCKETS + 1]; /* last one is +Inf */
    _Atomic uint64_t count;
    _Atomic uint64_t sum_ns;
    double (*fn)(void *); /* gauges computed at render time */
    void *fn_arg;
    bool hide_zero; /* omit from the output until it has been touched */
    char *labels;   /* `key="value",...` without braces; may be empty */
    metric_family_t *family;
    struct metric *next;
} metric_t;

/* Latency buckets in seconds, shared by all latency histograms. */
extern const double metrics_latency_buckets[];
extern const int metrics_latency_nbuckets;

/* Returns the family with this name, creating it on first use. Thread-safe; intended for
 * start-up. For histograms, bounds (seconds, ascending, at most METRIC_MAX_BUCKETS) are fixed by
 * the first call. Names and help must be string literals (they are not copied). */
metric_family_t *metrics_family(const char *name, const char *help, metric_type_t type,
                                const double *bounds, int nbounds);
/* Adds a series with the given label text (copied) to the family. Aborts on out-of-memory:
 * series are created at start-up and their number is fixed by code, not by requests. */
metric_t *metrics_series(metric_family_t *f, const char *labels, bool hide_zero);
/* Adds a gauge whose value is computed by fn(arg) at render time. */
metric_t *metrics_gauge_fn(metric_family_t *f, const char *labels, double (*fn)(void *), void *arg);

static inline void metric_add(metric_t *m, int64_t n)
{
    atomic_fetch_add_explicit(&m->value, n, memory_order_relaxed);
}
static inline void metric_set(metric_t *m, int64_t n)
{
    atomic_store_explicit(&m->value, n, memory_order_relaxed);
}
/* Records one observation of ns nanoseconds into a histogram series. */
void metric_observe_ns(metric_t *m, uint64_t ns);

/* Appends every family in registration order. Returns 0 or -ENOMEM. */
int metrics_render(buf_t *out);
/* Frees every family and series (at exit, after all threads have stopped). */
void metrics_free_all(void);

#endif
