/* Event ingestion endpoints, as Arc and InfluxDB speak them (docs/ingest.md):
 *   POST /api/v1/write/msgpack          Arc's MessagePack; database from x-arc-database
 *   POST /api/v1/write/line-protocol    line protocol; database from x-arc-database or ?db=
 *   POST /api/v2/write?bucket=&org=&precision=   InfluxDB 2 (what its clients call)
 *   POST /write?db=&precision=          InfluxDB 1
 * 204 on success; {"error": ...} otherwise. Bodies may be gzip or zstd, told by their magic bytes
 * or Content-Encoding. Decoding runs on the event loop (a body is at most max_body_bytes, and
 * ingest_max_body_bytes once decompressed); the rows then go to ingest.c. */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "codec/decompress.h"
#include "ingest/ingest.h"
#include "metrics/metrics.h"
#include "util/clock.h"
#include "util/err.h"

typedef struct fmt_metrics {
    metric_t *writes, *rows, *refused;
} fmt_metrics_t;

struct api_ingest {
    /* Writes and /metrics hold it shared; api_ingest_detach takes it to let go of g before the
     * shutdown closes it (keep-alive connections may still send until the server stops). */
    pthread_rwlock_t lk;
    ingest_t *g;
    size_t max_decoded;
    fmt_metrics_t m[3]; /* by ingest_format_t */
};

/* A write that waits for the journal: the decompressed body must outlive it. */
typedef struct wctx {
    http_req_t *r;
    api_ingest_t *a;
    ingest_format_t f;
    int64_t rows;
    buf_t plain;
} wctx_t;

static void answer(api_ingest_t *a, http_req_t *r, ingest_format_t f, int64_t rows, int code,
                   const char *msg)
{
    if (code) {
        metric_add(a->m[f].refused, 1);
        api_reply_err(r, code, "%s", msg);
        return;
    }
    metric_add(a->m[f].writes, 1);
    metric_add(a->m[f].rows, rows);
    http_reply(r, 204, NULL, NULL, 0);
}

static void done(void *arg, int code, const char *msg)
{
    wctx_t *w = arg;
    answer(w->a, w->r, w->f, w->rows, code, msg);
    buf_deinit(&w->plain);
    free(w);
}

static void write_body(http_req_t *r, api_ingest_t *a, ingest_format_t f, const char *db,
                       int64_t unit_ns)
{
    char err[512];
    const http_span_t *ce = http_req_header(r, "Content-Encoding");
    int bad;
    const char *coding = decompress_coding(r->body, r->body_len, ce ? ce->p : NULL, ce ? ce->n : 0,
                                           &bad, err, sizeof err);
    if (bad) {
        metric_add(a->m[f].refused, 1);
        return http_reply_error(r, 415, "%s", err);
    }
    wctx_t *w = calloc(1, sizeof *w);
    if (!w) return answer(a, r, f, 0, ERR_NOMEM, "out of memory");
    *w = (wctx_t){r, a, f, 0, {0}};
    buf_init(&w->plain);
    const char *body = r->body;
    size_t len = r->body_len;
    int code = 0;
    ingest_req_t *q = NULL;
    pthread_rwlock_rdlock(&a->lk);
    if (!a->g)
        code = err_fail(err, sizeof err, ERR_SHUTDOWN, "shutting down");
    else if (ingest_full(a->g)) /* before decoding: a writer that outruns the flushes should not
                                   make the loops decode bodies only to drop them (racy without
                                   harm: the submit checks again) */
        code = err_fail(err, sizeof err, ERR_BUSY,
                        "ingest buffers are full (ingest_max_bytes): files are being written; "
                        "retry");
    if (!code && coding) {
        code = decompress_body(coding, body, len, a->max_decoded, &w->plain, err, sizeof err);
        body = w->plain.data ? w->plain.data : "";
        len = w->plain.len;
    }
    if (!code)
        q = ingest_decode(db, f, unit_ns, (int64_t)clock_wall_ns(), body, len, &code, err,
                          sizeof err);
    if (q) {
        w->rows = ingest_req_rows(q);
        code = ingest_submit(a->g, q, body, len, done, w, err, sizeof err);
    }
    pthread_rwlock_unlock(&a->lk);
    if (code == 1) return; /* done() answers */
    answer(a, r, f, w->rows, code, err);
    buf_deinit(&w->plain);
    free(w);
}

/* Nanoseconds per unit of a precision parameter (InfluxDB 1's and 2's spellings); 0 if bad. */
static int64_t precision_ns(const http_req_t *r)
{
    char p[8];
    int got = http_query_get(r->head.query, "precision", p, sizeof p);
    if (got == 0 || (got == 1 && !p[0])) return 1;
    if (got < 0) return 0;
    static const struct {
        const char *name;
        int64_t ns;
    } units[] = {{"ns", 1},       {"n", 1},          {"us", 1000},         {"u", 1000},
                 {"ms", 1000000}, {"s", 1000000000}, {"m", 60000000000LL}, {"h", 3600000000000LL}};
    for (size_t i = 0; i < sizeof units / sizeof *units; i++)
        if (!strcmp(p, units[i].name)) return units[i].ns;
    return 0;
}

/* The database from the query parameter key, or the header hdr, or def: 1 with it in out, or 0
 * after answering 400. */
static int database(http_req_t *r, const char *key, const char *hdr, const char *def, char *out,
                    size_t cap)
{
    int got = key ? http_query_get(r->head.query, key, out, cap) : 0;
    if (got < 0) {
        api_reply_err(r, ERR_INVALID, "malformed or too long \"%s\" parameter", key);
        return 0;
    }
    if (got == 1 && out[0]) return 1;
    const http_span_t *h = hdr ? http_req_header(r, hdr) : NULL;
    if (h && h->n) {
        if (h->n >= cap) {
            api_reply_err(r, ERR_INVALID, "%s is longer than %zu bytes", hdr, cap - 1);
            return 0;
        }
        memcpy(out, h->p, h->n);
        out[h->n] = 0;
        return 1;
    }
    if (!def) {
        api_reply_err(r, ERR_INVALID, "the \"%s\" parameter is required", key);
        return 0;
    }
    strcpy(out, def);
    return 1;
}

static void lineproto(http_req_t *r, api_ingest_t *a, const char *key, const char *hdr,
                      const char *def)
{
    char db[256];
    if (!database(r, key, hdr, def, db, sizeof db)) return;
    int64_t unit = precision_ns(r);
    if (!unit) {
        metric_add(a->m[INGEST_LINEPROTO].refused, 1);
        return api_reply_err(r, ERR_INVALID, "precision must be ns, us, ms, s (or n, u, m, h)");
    }
    write_body(r, a, INGEST_LINEPROTO, db, unit);
}

static void write_v2(http_req_t *r, void *arg)
{
    lineproto(r, arg, "bucket", NULL, NULL);
}

static void write_v1(http_req_t *r, void *arg)
{
    lineproto(r, arg, "db", NULL, NULL);
}

static void write_arc_lp(http_req_t *r, void *arg)
{
    lineproto(r, arg, "db", "x-arc-database", "default");
}

static void write_msgpack(http_req_t *r, void *arg)
{
    char db[256];
    if (database(r, NULL, "x-arc-database", "default", db, sizeof db))
        write_body(r, arg, INGEST_MSGPACK, db, 1);
}

/* ---- /metrics ---- */

static double stat_of(void *arg, size_t off, bool is_double)
{
    api_ingest_t *a = arg;
    ingest_stats_t s = {0};
    pthread_rwlock_rdlock(&a->lk);
    if (a->g) ingest_stats(a->g, &s);
    pthread_rwlock_unlock(&a->lk);
    if (is_double) return *(double *)((char *)&s + off);
    return (double)*(uint64_t *)((char *)&s + off);
}

#define STAT_FN(field, dbl)                                                                        \
    static double st_##field(void *arg)                                                            \
    {                                                                                              \
        return stat_of(arg, offsetof(ingest_stats_t, field), dbl);                                 \
    }
STAT_FN(flushes, false)
STAT_FN(files, false)
STAT_FN(file_bytes, false)
STAT_FN(flush_errors, false)
STAT_FN(replayed_rows, false)
STAT_FN(buffered_rows, false)
STAT_FN(flushing_rows, false)
STAT_FN(mem_bytes, false)
STAT_FN(oldest_s, true)

api_ingest_t *api_ingest_new(ingest_t *g, size_t max_decoded)
{
    api_ingest_t *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    pthread_rwlock_init(&a->lk, NULL);
    a->g = g;
    a->max_decoded = max_decoded;
    metric_family_t *w =
        metrics_family("inferd_ingest_writes_total", "Ingestion writes accepted (answered 204)",
                       METRIC_COUNTER, NULL, 0);
    metric_family_t *rows = metrics_family(
        "inferd_ingest_rows_total", "Rows in accepted ingestion writes", METRIC_COUNTER, NULL, 0);
    metric_family_t *bad = metrics_family("inferd_ingest_refused_total",
                                          "Ingestion writes refused (4xx or 503), nothing kept",
                                          METRIC_COUNTER, NULL, 0);
    static const char *const labels[] = {NULL, "format=\"lineproto\"", "format=\"msgpack\""};
    for (int f = INGEST_LINEPROTO; f <= INGEST_MSGPACK; f++) {
        a->m[f].writes = metrics_series(w, labels[f], false);
        a->m[f].rows = metrics_series(rows, labels[f], false);
        a->m[f].refused = metrics_series(bad, labels[f], false);
    }
    static const struct {
        const char *name, *help;
        metric_type_t type;
        double (*fn)(void *);
    } g_[] = {
        {"inferd_ingest_flushes_total", "Buffers written to Parquet", METRIC_COUNTER, st_flushes},
        {"inferd_ingest_files_total", "Parquet files written", METRIC_COUNTER, st_files},
        {"inferd_ingest_file_bytes_total", "Bytes of Parquet files written", METRIC_COUNTER,
         st_file_bytes},
        {"inferd_ingest_flush_errors_total", "Failed flushes (each is retried)", METRIC_COUNTER,
         st_flush_errors},
        {"inferd_ingest_replayed_rows", "Rows replayed from the ingest journal at start",
         METRIC_GAUGE, st_replayed_rows},
        {"inferd_ingest_buffered_rows", "Rows accepted and in no Parquet file yet", METRIC_GAUGE,
         st_buffered_rows},
        {"inferd_ingest_flushing_rows",
         "Of those, rows handed to flushes, queued or being written (a backlog if it stays high)",
         METRIC_GAUGE, st_flushing_rows},
        {"inferd_ingest_memory_bytes", "Memory the ingest cap counts (ingest_max_bytes)",
         METRIC_GAUGE, st_mem_bytes},
        {"inferd_ingest_oldest_buffered_seconds",
         "Age of the oldest row in no file yet: what a crash loses under buffered durability",
         METRIC_GAUGE, st_oldest_s},
    };
    for (size_t i = 0; i < sizeof g_ / sizeof *g_; i++)
        metrics_gauge_fn(metrics_family(g_[i].name, g_[i].help, g_[i].type, NULL, 0), "", g_[i].fn,
                         a);
    return a;
}

void api_ingest_register(http_router_t *rt, api_ingest_t *a)
{
    router_add(rt, M(HTTP_POST), "/api/v1/write/msgpack", write_msgpack, a, 0);
    router_add(rt, M(HTTP_POST), "/api/v1/write/line-protocol", write_arc_lp, a, 0);
    router_add(rt, M(HTTP_POST), "/api/v2/write", write_v2, a, 0);
    router_add(rt, M(HTTP_POST), "/write", write_v1, a, 0);
}

void api_ingest_detach(api_ingest_t *a)
{
    pthread_rwlock_wrlock(&a->lk);
    a->g = NULL;
    pthread_rwlock_unlock(&a->lk);
}

void api_ingest_free(api_ingest_t *a)
{
    if (!a) return;
    pthread_rwlock_destroy(&a->lk);
    free(a);
}
