/* Inference endpoints: Open Inference Protocol (GET /v2/models/{m}, POST /v2/models/{m}/infer)
 * and the seed's POST /inferences. Handlers on the event loop only find the model and hand the
 * request to the compute pool; decoding, inference and encoding run on a pool worker, which
 * answers through http_reply (the loop writes it). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/infer.h"
#include "api/tensor_json.h"
#include "metrics/metrics.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"

struct infer_ctx {
    repo_t *repo;
    pool_t *pool;
    int nworkers;
    int session_threads;
    eng_session_t **sessions; /* [worker * nmodels + model]: created on first use */
    metric_t *m_queue_wait, *m_compute;
    metric_t *m_rows, *m_rejected;
};

typedef enum { KIND_OIP, KIND_INFERENCES } kind_t;

typedef struct job {
    infer_ctx_t *ctx;
    http_req_t *r;
    const model_entry_t *me; /* NULL for /inferences until the body names the model */
    kind_t kind;
    uint64_t t_queued;
} job_t;

/* ===================================================================== metadata ==== */

static const model_entry_t *find_model(infer_ctx_t *ctx, http_req_t *r, bool with_version)
{
    char name[160], ver[32];
    http_req_param(r, 0, name, sizeof name);
    int64_t v = -1;
    if (with_version) {
        http_req_param(r, 1, ver, sizeof ver);
        char *end;
        v = strtoll(ver, &end, 10);
        if (*end || v < 1) {
            http_reply_error(r, 400, "model version must be a positive integer, got \"%s\"", ver);
            return NULL;
        }
    }
    const model_entry_t *me = repo_find(ctx->repo, name, v);
    if (!me) {
        if (v >= 0 && repo_find(ctx->repo, name, -1))
            http_reply_error(r, 404, "model %s has no version %lld", name, (long long)v);
        else
            http_reply_error(r, 404, "unknown model \"%s\"", name);
    }
    return me;
}

static int put_io(buf_t *b, const eng_io_t *io)
{
    int rc = buf_puts(b, "{\"name\":");
    if (!rc) rc = buf_json_str(b, io->name, strlen(io->name));
    if (!rc)
        rc = buf_printf(b, ",\"datatype\":\"%s\",\"shape\":[",
                        io->is_map_seq ? "SEQ_MAP" : dtype_name(io->dtype));
    for (int d = 0; d < io->rank && !rc; d++)
        rc = buf_printf(b, "%s%lld", d ? "," : "", (long long)io->dims[d]);
    return rc ? rc : buf_puts(b, "]}");
}

static void metadata(http_req_t *r, infer_ctx_t *ctx, bool with_version)
{
    const model_entry_t *me = find_model(ctx, r, with_version);
    if (!me) return;
    buf_t *b = &r->out_body;
    int64_t vs[64];
    int nv = repo_versions(ctx->repo, me->name, vs, 64);
    int rc = buf_puts(b, "{\"name\":");
    if (!rc) rc = buf_json_str(b, me->name, strlen(me->name));
    if (!rc) rc = buf_puts(b, ",\"versions\":[");
    for (int i = 0; i < nv && !rc; i++)
        rc = buf_printf(b, "%s\"%lld\"", i ? "," : "", (long long)vs[i]);
    if (!rc)
        rc = buf_printf(b, "],\"platform\":\"onnx\",\"durability\":\"%s\",\"inputs\":[",
                        durability_name(me->durability));
    for (int i = 0; i < eng_model_ninputs(me->m) && !rc; i++) {
        if (i) rc = buf_puts(b, ",");
        if (!rc) rc = put_io(b, eng_model_input(me->m, i));
    }
    if (!rc) rc = buf_puts(b, "],\"outputs\":[");
    for (int i = 0; i < eng_model_noutputs(me->m) && !rc; i++) {
        if (i) rc = buf_puts(b, ",");
        if (!rc) rc = put_io(b, eng_model_output(me->m, i));
    }
    if (!rc) rc = buf_puts(b, "]}\n");
    if (rc)
        http_reply_error(r, 500, "out of memory");
    else
        http_reply_buf(r, 200, "application/json");
}

static void h_metadata(http_req_t *r, void *arg)
{
    metadata(r, arg, false);
}

static void h_metadata_v(http_req_t *r, void *arg)
{
    metadata(r, arg, true);
}

static void h_ready(http_req_t *r, void *arg)
{
    if (find_model(arg, r, false)) http_reply(r, 200, "application/json", "{\"ready\":true}\n", 15);
}

static void h_index(http_req_t *r, void *arg)
{
    infer_ctx_t *ctx = arg;
    buf_t *b = &r->out_body;
    int rc = buf_puts(b, "{\"models\":[");
    for (int i = 0; i < ctx->repo->n && !rc; i++) {
        const model_entry_t *e = &ctx->repo->models[i];
        rc = buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
        if (!rc) rc = buf_json_str(b, e->name, strlen(e->name));
        if (!rc)
            rc = buf_printf(b, ",\"version\":\"%lld\",\"state\":\"READY\"}", (long long)e->version);
    }
    if (!rc) rc = buf_puts(b, "]}\n");
    if (rc)
        http_reply_error(r, 500, "out of memory");
    else
        http_reply_buf(r, 200, "application/json");
}

/* ======================================================================= running ==== */

static eng_session_t *session_for(infer_ctx_t *ctx, int worker, const model_entry_t *me)
{
    eng_session_t **slot = &ctx->sessions[worker * ctx->repo->n + me->index];
    if (!*slot) *slot = eng_session_new(me->m, ctx->session_threads);
    return *slot;
}

/* The outputs /inferences reports: the label ("prediction") and the class scores. */
static void pick_outputs(const tensor_t *outs, int n, int *label, int *probs)
{
    *label = *probs = -1;
    for (int i = 0; i < n; i++) {
        const tensor_t *t = &outs[i];
        if (*label < 0 && t->rank == 1 && (t->dtype == DT_INT64 || t->dtype == DT_STRING))
            *label = i;
        else if (*probs < 0 && t->dtype == DT_FLOAT && (t->rank == 2 || t->map_keys))
            *probs = i;
    }
}

/* Appends row r of the /inferences answer: "prediction" and, for classifiers, "probabilities". */
static int put_prediction(buf_t *b, const tensor_t *outs, int n, int64_t r)
{
    int label, probs;
    pick_outputs(outs, n, &label, &probs);
    int rc = buf_puts(b, "\"prediction\":");
    if (label >= 0) {
        if (!rc) rc = tj_encode_elem(b, &outs[label], r);
    } else {
        /* A regressor: its first output's row, a scalar when it has one value. */
        const tensor_t *t = &outs[0];
        int64_t w = t->rank >= 2 ? tensor_numel(t) / (t->dims[0] ? t->dims[0] : 1) : 1;
        if (w != 1 && !rc) rc = buf_puts(b, "[");
        for (int64_t k = 0; k < w && !rc; k++) {
            if (k) rc = buf_puts(b, ",");
            if (!rc) rc = tj_encode_elem(b, t, r * w + k);
        }
        if (w != 1 && !rc) rc = buf_puts(b, "]");
        probs = -1;
    }
    if (probs >= 0 && !rc) {
        const tensor_t *t = &outs[probs];
        int64_t c = t->rank == 2 ? t->dims[1] : 1;
        rc = buf_puts(b, ",\"probabilities\":[");
        for (int64_t k = 0; k < c && !rc; k++) {
            if (k) rc = buf_puts(b, ",");
            if (!rc) rc = tj_encode_elem(b, t, r * c + k);
        }
        if (!rc) rc = buf_puts(b, "]");
    }
    return rc;
}

/* Decodes {"model": ..., "features": [...] | [[...], ...]} into one FP32 input. */
static int decode_features(const json_value_t *root, infer_ctx_t *ctx, const model_entry_t **me,
                           tensor_t *t, bool *single, char *err, size_t errlen)
{
    const json_value_t *mv = json_get(root, "model"), *fv = json_get(root, "features");
    if (json_type(root) != JSON_OBJECT || !mv || json_type(mv) != JSON_STRING || !fv) {
        snprintf(err, errlen, "body must be {\"model\": \"<name>\", \"features\": [...]}");
        return 400;
    }
    const char *name = json_string(mv, NULL);
    const json_value_t *vv = json_get(root, "version");
    int64_t v = -1;
    if (vv && json_type(vv) == JSON_STRING)
        v = strtoll(json_string(vv, NULL), NULL, 10);
    else if (vv && json_type(vv) == JSON_NUMBER && json_is_integer(vv))
        v = json_int(vv);
    *me = repo_find(ctx->repo, name, v);
    if (!*me) {
        snprintf(err, errlen, "unknown model \"%s\"", name);
        return 404;
    }
    const eng_model_t *m = (*me)->m;
    const eng_io_t *io = eng_model_input(m, 0);
    if (eng_model_ninputs(m) != 1 || io->dtype != DT_FLOAT || io->rank != 2) {
        snprintf(err, errlen,
                 "model \"%s\" does not take one [N, features] FP32 input; use "
                 "/v2/models/%s/infer",
                 name, name);
        return 400;
    }
    json_shape_t sh;
    if (json_shape(fv, &sh, err, errlen)) return 400;
    *single = sh.rank == 1;
    if (sh.rank != 1 && sh.rank != 2) {
        snprintf(err, errlen, "features must be a list of numbers or a list of rows");
        return 400;
    }
    int64_t nf = io->dims[1], rows = sh.rank == 1 ? 1 : (int64_t)sh.dim[0];
    int64_t got = sh.rank == 1 ? (int64_t)sh.dim[0] : (int64_t)sh.dim[1];
    if (nf >= 0 && got != nf) {
        snprintf(err, errlen, "model \"%s\" takes %lld features, got %lld", name, (long long)nf,
                 (long long)got);
        return 400;
    }
    *t = (tensor_t){.dtype = DT_FLOAT, .rank = 2, .dims = {rows, got}};
    int64_t count = rows * got;
    t->data = malloc((size_t)(count > 0 ? count : 1) * sizeof(float));
    if (!t->data) {
        snprintf(err, errlen, "out of memory");
        return 503;
    }
    if (json_flatten(fv, JSON_ELEM_F32, t->data, (size_t)(rows * got), NULL, err, errlen)) {
        free(t->data);
        t->data = NULL;
        return 400;
    }
    return 0;
}

static void run_job(void *arg, int worker)
{
    job_t *j = arg;
    infer_ctx_t *ctx = j->ctx;
    http_req_t *r = j->r;
    uint64_t t0 = clock_mono_ns();
    metric_observe_ns(ctx->m_queue_wait, t0 - j->t_queued);
    char err[1024];
    json_doc_t *doc = json_parse(r->body, r->body_len, NULL, err, sizeof err);
    tj_inputs_t in = {0};
    tensor_t feat = {0};
    bool single = false;
    int status = 0;
    if (!doc) {
        http_reply_error(r, 400, "invalid JSON: %s", err);
        goto out;
    }
    if (j->kind == KIND_INFERENCES) {
        status = decode_features(json_root(doc), ctx, &j->me, &feat, &single, err, sizeof err);
        if (status) {
            http_reply_error(r, status, "%s", err);
            goto out;
        }
        in.t = &feat;
        in.n = 1;
    } else if (tj_decode_inputs(json_root(doc), j->me->m, &in, err, sizeof err)) {
        http_reply_error(r, 400, "%s", err);
        goto out;
    }
    eng_session_t *s = session_for(ctx, worker, j->me);
    const tensor_t *outs;
    int nout;
    if (!s) {
        http_reply_error(r, 503, "out of memory");
        goto out;
    }
    int rc = eng_session_run(s, in.t, in.n, &outs, &nout, err, sizeof err);
    if (rc) {
        http_reply_error(r, rc == ENG_EINPUT ? 400 : 500, "%s", err);
        goto out;
    }
    uint64_t t1 = clock_mono_ns();
    metric_observe_ns(ctx->m_compute, t1 - t0);
    int64_t rows = in.t[0].rank ? in.t[0].dims[0] : 1;
    metric_add(ctx->m_rows, rows);
    buf_t *b = &r->out_body;
    const model_entry_t *me = j->me;
    double ms = (double)(t1 - r->t_start_ns) / 1e6;
    int e = 0;
    if (j->kind == KIND_OIP) {
        e = buf_puts(b, "{\"model_name\":");
        if (!e) e = buf_json_str(b, me->name, strlen(me->name));
        if (!e) e = buf_printf(b, ",\"model_version\":\"%lld\"", (long long)me->version);
        const json_value_t *id = json_get(json_root(doc), "id");
        if (id && json_type(id) == JSON_STRING && !e) {
            size_t n;
            const char *sid = json_string(id, &n);
            e = buf_puts(b, ",\"id\":");
            if (!e) e = buf_json_str(b, sid, n);
        }
        if (!e) e = buf_puts(b, ",\"outputs\":");
        if (!e) e = tj_encode_outputs_list(b, me->m, outs, nout);
        if (!e) e = buf_puts(b, "}\n");
    } else {
        e = buf_puts(b, "{\"model\":");
        if (!e) e = buf_json_str(b, me->name, strlen(me->name));
        if (!e) e = buf_printf(b, ",\"version\":\"%lld\",", (long long)me->version);
        if (single) {
            if (!e) e = put_prediction(b, outs, nout, 0);
        } else {
            if (!e) e = buf_puts(b, "\"results\":[");
            for (int64_t k = 0; k < rows && !e; k++) {
                e = buf_puts(b, k ? ",{" : "{");
                if (!e) e = put_prediction(b, outs, nout, k);
                if (!e) e = buf_puts(b, "}");
            }
            if (!e) e = buf_puts(b, "]");
        }
        if (!e) e = buf_printf(b, ",\"latency_ms\":%.3f}\n", ms);
    }
    if (e)
        http_reply_error(r, 503, "out of memory building the response");
    else
        http_reply_buf(r, 200, "application/json");
out:
    free(feat.data);
    if (in.t != &feat) tj_inputs_free(&in);
    json_doc_free(doc);
    free(j);
}

static void submit(http_req_t *r, infer_ctx_t *ctx, const model_entry_t *me, kind_t kind)
{
    job_t *j = malloc(sizeof *j);
    if (!j) {
        http_reply_error(r, 503, "out of memory");
        return;
    }
    *j = (job_t){ctx, r, me, kind, clock_mono_ns()};
    if (pool_submit(ctx->pool, run_job, j)) {
        free(j);
        metric_add(ctx->m_rejected, 1);
        http_add_header(r, "Retry-After", "1");
        http_reply_error(r, 503, "server busy: the compute queue is full");
    }
}

static void h_infer(http_req_t *r, void *arg)
{
    const model_entry_t *me = find_model(arg, r, false);
    if (me) submit(r, arg, me, KIND_OIP);
}

static void h_infer_v(http_req_t *r, void *arg)
{
    const model_entry_t *me = find_model(arg, r, true);
    if (me) submit(r, arg, me, KIND_OIP);
}

static void h_inferences(http_req_t *r, void *arg)
{
    submit(r, arg, NULL, KIND_INFERENCES);
}

/* ===================================================================== lifecycle ==== */

infer_ctx_t *api_infer_new(repo_t *repo, pool_t *pool, int session_threads)
{
    infer_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    ctx->repo = repo;
    ctx->pool = pool;
    ctx->nworkers = pool_threads(pool);
    ctx->session_threads = session_threads;
    ctx->sessions =
        calloc((size_t)(ctx->nworkers * (repo->n ? repo->n : 1)), sizeof *ctx->sessions);
    if (!ctx->sessions) {
        free(ctx);
        return NULL;
    }
    metric_family_t *stage =
        metrics_family("inferd_stage_seconds",
                       "Time per request stage: queue_wait (compute queue), compute "
                       "(decode, inference, encode)",
                       METRIC_HISTOGRAM, metrics_latency_buckets, metrics_latency_nbuckets);
    ctx->m_queue_wait = metrics_series(stage, "stage=\"queue_wait\"", false);
    ctx->m_compute = metrics_series(stage, "stage=\"compute\"", false);
    ctx->m_rows = metrics_series(metrics_family("inferd_inference_rows_total",
                                                "Rows inferred (a request may hold many)",
                                                METRIC_COUNTER, NULL, 0),
                                 "", false);
    ctx->m_rejected =
        metrics_series(metrics_family("inferd_compute_rejected_total",
                                      "Requests answered 503 because the compute queue was full",
                                      METRIC_COUNTER, NULL, 0),
                       "", false);
    return ctx;
}

void api_infer_register(http_router_t *rt, infer_ctx_t *ctx)
{
    router_add(rt, M(HTTP_GET), "/v2/models", h_index, ctx, 0);
    router_add(rt, M(HTTP_GET), "/v2/models/{m}", h_metadata, ctx, 0);
    router_add(rt, M(HTTP_GET), "/v2/models/{m}/versions/{v}", h_metadata_v, ctx, 0);
    router_add(rt, M(HTTP_GET), "/v2/models/{m}/ready", h_ready, ctx, 0);
    router_add(rt, M(HTTP_POST), "/v2/models/{m}/infer", h_infer, ctx, 0);
    router_add(rt, M(HTTP_POST), "/v2/models/{m}/versions/{v}/infer", h_infer_v, ctx, 0);
    router_add(rt, M(HTTP_POST), "/inferences", h_inferences, ctx, 0);
}

void api_infer_free(infer_ctx_t *ctx)
{
    if (!ctx) return;
    for (int i = 0; i < ctx->nworkers * (ctx->repo->n ? ctx->repo->n : 1); i++)
        eng_session_free(ctx->sessions[i]);
    free(ctx->sessions);
    free(ctx);
}
