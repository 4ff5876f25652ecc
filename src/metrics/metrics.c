/* Metric registry and Prometheus text rendering. Series are created at start-up under a mutex and
 * never freed while the server runs, so updates need no lock. */
#include "metrics/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"

struct metric_family {
    const char *name;
    const char *help;
    metric_type_t type;
    double bounds[METRIC_MAX_BUCKETS];
    int nbounds;
    metric_t *head, *tail;
    struct metric_family *next;
};

const double metrics_latency_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                          0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                          1,      2.5,     5,      10};
const int metrics_latency_nbuckets =
    (int)(sizeof metrics_latency_buckets / sizeof metrics_latency_buckets[0]);

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static metric_family_t *families, *families_tail;

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n, sz);
    if (!p) {
        fprintf(stderr, "metrics: out of memory\n");
        abort();
    }
    return p;
}

metric_family_t *metrics_family(const char *name, const char *help, metric_type_t type,
                                const double *bounds, int nbounds)
{
    pthread_mutex_lock(&reg_lock);
    metric_family_t *f;
    for (f = families; f; f = f->next)
        if (strcmp(f->name, name) == 0) break;
    if (!f) {
        f = xcalloc(1, sizeof *f);
        f->name = name;
        f->help = help;
        f->type = type;
        if (nbounds > METRIC_MAX_BUCKETS) nbounds = METRIC_MAX_BUCKETS;
        for (int i = 0; i < nbounds; i++) f->bounds[i] = bounds[i];
        f->nbounds = nbounds;
        if (families_tail)
            families_tail->next = f;
        else
            families = f;
        families_tail = f;
    }
    pthread_mutex_unlock(&reg_lock);
    return f;
}

metric_t *metrics_series(metric_family_t *f, const char *labels, bool hide_zero)
{
    metric_t *m = xcalloc(1, sizeof *m);
    m->labels = strdup(labels ? labels : "");
    if (!m->labels) abort();
    m->hide_zero = hide_zero;
    m->family = f;
    pthread_mutex_lock(&reg_lock);
    if (f->tail)
        f->tail->next = m;
    else
        f->head = m;
    f->tail = m;
    pthread_mutex_unlock(&reg_lock);
    return m;
}

metric_t *metrics_gauge_fn(metric_family_t *f, const char *labels, double (*fn)(void *), void *arg)
{
    metric_t *m = metrics_series(f, labels, false);
    m->fn = fn;
    m->fn_arg = arg;
    return m;
}

void metric_observe_ns(metric_t *m, uint64_t ns)
{
    const metric_family_t *f = m->family;
    double s = (double)ns * 1e-9;
    int i = 0;
    while (i < f->nbounds && s > f->bounds[i]) i++;
    atomic_fetch_add_explicit(&m->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->sum_ns, ns, memory_order_relaxed);
}

static const char *type_name(metric_type_t t)
{
    return t == METRIC_COUNTER ? "counter" : t == METRIC_GAUGE ? "gauge" : "histogram";
}

/* Writes `name{labels,extra}` with the braces omitted when both are empty. */
static int series_name(buf_t *out, const char *name, const char *suffix, const char *labels,
                       const char *extra)
{
    bool l = labels && *labels, e = extra && *extra;
    if (!l && !e) return buf_printf(out, "%s%s ", name, suffix);
    return buf_printf(out, "%s%s{%s%s%s} ", name, suffix, l ? labels : "", l && e ? "," : "",
                      e ? extra : "");
}

/* A sample value as Prometheus reads it: the shortest text that reads back as exactly v ("0.05",
 * where %.17g prints "0.050000000000000003"), then a newline. */
static int put_value(buf_t *out, double v)
{
    int rc;
    if (isnan(v))
        rc = buf_puts(out, "NaN");
    else if (isinf(v))
        rc = buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else
        rc = json_write_double(out, v);
    return rc ? rc : buf_puts(out, "\n");
}

static int render_histogram(buf_t *out, const metric_family_t *f, const metric_t *m)
{
    uint64_t cum = 0;
    int rc = 0;
    char le[48];
    for (int i = 0; i <= f->nbounds && !rc; i++) {
        cum += atomic_load_explicit(&m->buckets[i], memory_order_relaxed);
        if (i < f->nbounds)
            snprintf(le, sizeof le, "le=\"%g\"", f->bounds[i]);
        else
            snprintf(le, sizeof le, "le=\"+Inf\"");
        rc = series_name(out, f->name, "_bucket", m->labels, le);
        if (!rc) rc = buf_printf(out, "%llu\n", (unsigned long long)cum);
    }
    if (!rc) rc = series_name(out, f->name, "_sum", m->labels, NULL);
    if (!rc)
        rc = put_value(out, (double)atomic_load_explicit(&m->sum_ns, memory_order_relaxed) / 1e9);
    if (!rc) rc = series_name(out, f->name, "_count", m->labels, NULL);
    /* _count is the +Inf bucket by definition; reuse it so the two always agree. */
    if (!rc) rc = buf_printf(out, "%llu\n", (unsigned long long)cum);
    return rc;
}

int metrics_render(buf_t *out)
{
    int rc = 0;
    pthread_mutex_lock(&reg_lock);
    for (metric_family_t *f = families; f && !rc; f = f->next) {
        rc = buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                        type_name(f->type));
        for (metric_t *m = f->head; m && !rc; m = m->next) {
            if (f->type == METRIC_HISTOGRAM) {
                if (m->hide_zero && atomic_load_explicit(&m->count, memory_order_relaxed) == 0)
                    continue;
                rc = render_histogram(out, f, m);
                continue;
            }
            double v = m->fn ? m->fn(m->fn_arg)
                             : (double)atomic_load_explicit(&m->value, memory_order_relaxed);
            if (m->hide_zero && v == 0) continue;
            rc = series_name(out, f->name, "", m->labels, NULL);
            if (!rc) rc = put_value(out, v);
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

void metrics_free_all(void)
{
    pthread_mutex_lock(&reg_lock);
    metric_family_t *f = families;
    while (f) {
        metric_family_t *fn = f->next;
        metric_t *m = f->head;
        while (m) {
            metric_t *mn = m->next;
            free(m->labels);
            free(m);
            m = mn;
        }
        free(f);
        f = fn;
    }
    families = families_tail = NULL;
    pthread_mutex_unlock(&reg_lock);
}
