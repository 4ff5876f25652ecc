/* Inference endpoints: Open Inference Protocol (GET /v2/models/{m}, POST /v2/models/{m}/infer)
 * and the seed's POST /inferences. Handlers on the event loop only find the model and hand the
 * request to the compute pool; decoding, inference and encoding run on a pool worker, which
 * answers through http_reply (the loop writes it). */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/infer.h"
#include "codec/tensor_json.h"
#include "store/store.h"
#include "metrics/metrics.h"
#include "util/clock.h"
#include "util/json.h"
#include "util/log.h"

#define MAX_REQUEST_ID 127 /* bytes of a request id (JSON "id" or X-Request-Id) kept */

struct infer_ctx {
    repo_t *repo;
    pool_t *pool;
    store_t *store; /* NULL: nothing is recorded */
    int session_threads;
    metric_t *m_queue_wait, *m_compute, *m_commit;
    metric_t *m_rows, *m_rejected;
};

typedef enum { KIND_OIP, KIND_INFERENCES } kind_t;

typedef struct job {
    infer_ctx_t *ctx;
    http_req_t *r;
    model_entry_t *me; /* a reference; NULL for /inferences until the body names the model */
    kind_t kind;
    uint64_t t_queued;
} job_t;

/* Hands job to the compute pool; when the queue is full, frees it and answers 503. Returns
 * whether the job was queued. */
static bool offload(http_req_t *r, pool_t *pool, pool_fn fn, void *job)
{
    if (pool_submit(pool, fn, job) == 0) return true;
    free(job);
    http_add_header(r, "Retry-After", "1");
    http_reply_error(r, 503, "server busy: the compute queue is full");
    return false;
}

/* ===================================================================== metadata ==== */

/* A model version as text: 1 to 18 decimal digits, not 0. Returns it, or -1 for anything else
 * ("1abc", "1.5", "1e3", "", overflow), so no malformed version can fall back to another. */
static int64_t parse_version(const char *s, size_t n)
{
    if (n < 1 || n > 18) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 ? v : -1;
}

/* The model called name at version v (highest when v < 0) with a reference (repo_release it),
 * or NULL with the 404's message in err, which names the version when that is what is missing. */
static model_entry_t *lookup_model(infer_ctx_t *ctx, const char *name, int64_t v, char *err,
                                   size_t errlen)
{
    model_entry_t *me = repo_acquire(ctx->repo, name, v);
    if (me) return me;
    model_entry_t *any = v >= 0 ? repo_acquire(ctx->repo, name, -1) : NULL;
    if (any)
        snprintf(err, errlen, "model \"%s\" has no version %lld", name, (long long)v);
    else
        snprintf(err, errlen, "unknown model \"%s\"", name);
    repo_release(any);
    return NULL;
}

/* The model named by the path, with a reference (repo_release it), or NULL after answering. */
static model_entry_t *find_model(infer_ctx_t *ctx, http_req_t *r, bool with_version)
{
    char name[160], ver[32], err[256];
    http_req_param(r, 0, name, sizeof name);
    int64_t v = -1;
    if (with_version) {
        http_req_param(r, 1, ver, sizeof ver);
        v = parse_version(r->params[1].p, r->params[1].n);
        if (v < 0) {
            http_reply_error(r, 400, "model version must be a positive integer, got \"%s\"", ver);
            return NULL;
        }
    }
    model_entry_t *me = lookup_model(ctx, name, v, err, sizeof err);
    if (!me) http_reply_error(r, 404, "%s", err);
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
    model_entry_t *me = find_model(ctx, r, with_version);
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
    repo_release(me);
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
    model_entry_t *me = find_model(arg, r, false);
    if (!me) return;
    repo_release(me);
    http_reply(r, 200, "application/json", "{\"ready\":true}\n", 15);
}

typedef struct index_ctx {
    buf_t *b;
    int n, rc;
} index_ctx_t;

static void index_one(const model_entry_t *e, void *arg)
{
    index_ctx_t *x = arg;
    if (x->rc) return;
    x->rc = buf_puts(x->b, x->n++ ? ",{\"name\":" : "{\"name\":");
    if (!x->rc) x->rc = buf_json_str(x->b, e->name, strlen(e->name));
    if (!x->rc)
        x->rc =
            buf_printf(x->b, ",\"version\":\"%lld\",\"state\":\"READY\"}", (long long)e->version);
}

static void h_index(http_req_t *r, void *arg)
{
    infer_ctx_t *ctx = arg;
    index_ctx_t x = {&r->out_body, 0, buf_puts(&r->out_body, "{\"models\":[")};
    repo_each(ctx->repo, index_one, &x);
    if (!x.rc) x.rc = buf_puts(&r->out_body, "]}\n");
    if (x.rc)
        http_reply_error(r, 500, "out of memory");
    else
        http_reply_buf(r, 200, "application/json");
}

/* ======================================================================= records ==== */

/* The answer to a request whose records are being committed. It goes out when both the job has
 * finished building it and the store has called back (durable: after the commit), whichever
 * comes last: the store may call back on its thread before store_submit even returns. */
typedef struct pending {
    http_req_t *r;
    infer_ctx_t *ctx;
    _Atomic int refs;
    _Atomic int status; /* 0 or the store's -errno */
    uint64_t t_submit;
    char why[160]; /* -EBADMSG: why the store refused the records */
} pending_t;

static void pending_release(pending_t *p)
{
    if (atomic_fetch_sub(&p->refs, 1) != 1) return;
    int st = atomic_load(&p->status);
    if (st == 0) {
        http_reply_buf(p->r, 200, "application/json");
    } else if (st == -EBADMSG) {
        /* The database refuses these records as they are: retrying cannot help. */
        http_reply_error(p->r, 422,
                         "the prediction's record was refused by the store (%s); nothing was "
                         "recorded",
                         p->why);
    } else {
        http_add_header(p->r, "Retry-After", "1");
        http_reply_error(p->r, 503,
                         "the prediction could not be stored (%s); nothing was "
                         "recorded",
                         strerror(-st));
    }
    free(p);
}

static void on_stored(void *arg, int status)
{
    pending_t *p = arg;
    metric_observe_ns(p->ctx->m_commit, clock_mono_ns() - p->t_submit);
    if (status == -EBADMSG) snprintf(p->why, sizeof p->why, "%s", store_done_reason());
    atomic_store(&p->status, status);
    pending_release(p);
}

/* Appends row r of t (all elements whose first index is r) as a JSON list. */
static int put_row(buf_t *b, const tensor_t *t, int64_t r)
{
    int64_t rows = t->rank ? t->dims[0] : 1, w = rows ? tensor_numel(t) / rows : 0;
    int rc = buf_puts(b, "[");
    for (int64_t k = 0; k < w && !rc; k++) {
        if (k) rc = buf_puts(b, ",");
        if (!rc) rc = tj_encode_elem(b, t, r * w + k);
    }
    return rc ? rc : buf_puts(b, "]");
}

/* Appends {"<name>": row, ...} over the tensors whose first dimension is the batch. */
static int put_named_rows(buf_t *b, const tensor_t *t, int n,
                          const eng_io_t *(*io)(const eng_model_t *, int), const eng_model_t *m,
                          int64_t rows, int64_t r)
{
    int rc = buf_puts(b, "{"), first = 1;
    for (int i = 0; i < n && !rc; i++) {
        if (t[i].rank < 1 || t[i].dims[0] != rows) continue;
        const char *name = io(m, i)->name;
        if (!first) rc = buf_puts(b, ",");
        first = 0;
        if (!rc) rc = buf_json_str(b, name, strlen(name));
        if (!rc) rc = buf_puts(b, ":");
        if (!rc) rc = put_row(b, &t[i], r);
    }
    return rc ? rc : buf_puts(b, "}");
}

/* ======================================================================= running ==== */

/* The worker's own session for the model: only that worker ever touches its slot. */
static eng_session_t *session_for(infer_ctx_t *ctx, int worker, model_entry_t *me)
{
    if (worker >= me->nsessions) return NULL;
    eng_session_t **slot = &me->sessions[worker];
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

/* Row r's "prediction" and "probabilities" members: the record's output (built by the same
 * put_prediction) without its braces when there is one, so each number is printed once. */
static int put_answer_row(buf_t *b, const store_record_t *recs, const tensor_t *outs, int n,
                          int64_t r)
{
    if (!recs) return put_prediction(b, outs, n, r);
    return buf_append(b, recs[r].output_json + 1, recs[r].output_len - 2);
}

/* The text of each row of "features" in the request, which is what the records store as input:
 * the numbers as the client wrote them (less whitespace), not as float32 reprints them. NULL when
 * the scan cannot vouch for the member json_get() found (see json_span_member) or on ENOMEM: the
 * caller then prints the rows from the tensor. */
static json_span_t *feature_spans(const http_req_t *r, bool single, int64_t rows)
{
    json_span_t f, *out = malloc((size_t)rows * sizeof *out);
    if (!out || !json_span_member(r->body, r->body_len, "features", &f)) {
        free(out);
        return NULL;
    }
    if (single)
        out[0] = f;
    else if (json_span_elements(r->body, f, out, (size_t)rows) != (size_t)rows) {
        free(out);
        return NULL;
    }
    return out;
}

/* Decodes {"model": ..., "features": [...] | [[...], ...]} into one FP32 input. */
static int decode_features(const json_value_t *root, infer_ctx_t *ctx, model_entry_t **me,
                           tensor_t *t, bool *single, char *err, size_t errlen)
{
    const json_value_t *mv = json_get(root, "model"), *fv = json_get(root, "features");
    if (json_type(root) != JSON_OBJECT || !mv || json_type(mv) != JSON_STRING || !fv) {
        snprintf(err, errlen, "body must be {\"model\": \"<name>\", \"features\": [...]}");
        return 400;
    }
    size_t name_len;
    const char *name = json_string(mv, &name_len);
    if (strlen(name) != name_len || name_len == 0) {
        snprintf(err, errlen, "\"model\" must be a non-empty name without NUL characters");
        return 400;
    }
    const json_value_t *vv = json_get(root, "version");
    int64_t v = -1;
    if (vv && json_type(vv) != JSON_NULL) { /* null, like no "version": the highest */
        size_t vn = 0;
        const char *vs = json_type(vv) == JSON_STRING ? json_string(vv, &vn) : NULL;
        if (vs)
            v = parse_version(vs, vn);
        else if (json_type(vv) == JSON_NUMBER && json_is_integer(vv) && json_int(vv) >= 1)
            v = json_int(vv);
        if (v < 0) {
            snprintf(err, errlen,
                     "\"version\" must be a positive integer (a JSON integer or a string of "
                     "digits)%s%.*s%s",
                     vs ? ", got \"" : "", vs ? (int)(vn < 40 ? vn : 40) : 0, vs ? vs : "",
                     vs ? "\"" : "");
            return 400;
        }
    }
    *me = lookup_model(ctx, name, v, err, errlen);
    if (!*me) return 404;
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

/* The request's "id" (echoed and recorded as request_id) must be a string that is stored as
 * sent: without NUL, which C strings and PostgreSQL text would cut at, and not truncated. */
static bool request_id_ok(const json_value_t *root, char *err, size_t errlen)
{
    const json_value_t *id = json_get(root, "id");
    if (!id) return true;
    size_t n = 0;
    const char *s = json_type(id) == JSON_STRING ? json_string(id, &n) : NULL;
    if (!s)
        snprintf(err, errlen, "\"id\" must be a string");
    else if (strlen(s) != n)
        snprintf(err, errlen, "\"id\" must not contain NUL characters");
    else if (n > MAX_REQUEST_ID)
        snprintf(err, errlen, "\"id\" is %zu bytes; at most %d are kept", n, MAX_REQUEST_ID);
    else
        return true;
    return false;
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
    if (!request_id_ok(json_root(doc), err, sizeof err)) {
        http_reply_error(r, 400, "%s", err);
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
    if (in.t[0].rank >= 1 && in.t[0].dims[0] < 1) {
        /* Nothing to predict or record: the client's mistake, not a busy server. */
        http_reply_error(r, 400, "input \"%s\" has no rows (shape [0, ...]): send at least one",
                         eng_model_input(j->me->m, 0)->name);
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
    model_entry_t *me = j->me;
    double ms = (double)(t1 - r->t_start_ns) / 1e6;
    int e = 0;

    /* Records first: their ids go into the answer. */
    store_record_t *recs = NULL;
    pending_t *p = NULL;
    buf_t rb; /* the records' JSON texts, back to back */
    buf_init(&rb);
    if (ctx->store && me->durability != DUR_OFF) {
        const json_value_t *oid = json_get(json_root(doc), "id");
        const http_span_t *hid = http_req_header(r, "X-Request-Id");
        char reqid[MAX_REQUEST_ID + 1] = "";
        if (oid && json_type(oid) == JSON_STRING)
            snprintf(reqid, sizeof reqid, "%s", json_string(oid, NULL));
        else if (hid)
            snprintf(reqid, sizeof reqid, "%.*s",
                     (int)(hid->n < MAX_REQUEST_ID ? hid->n : MAX_REQUEST_ID), hid->p);
        char ver[24];
        snprintf(ver, sizeof ver, "%lld", (long long)me->version);
        recs = calloc((size_t)rows, sizeof *recs);
        size_t *offs = calloc((size_t)rows * 4 + 1, sizeof *offs);
        json_span_t *raw = j->kind == KIND_INFERENCES ? feature_spans(r, single, rows) : NULL;
        p = malloc(sizeof *p);
        e = !recs || !offs || !p;
        for (int64_t k = 0; k < rows && !e; k++) {
            offs[4 * k] = rb.len;
            if (raw)
                e = json_write_compact(&rb, r->body, raw[k]);
            else
                e = j->kind == KIND_INFERENCES
                        ? put_row(&rb, &in.t[0], k)
                        : put_named_rows(&rb, in.t, in.n, eng_model_input, me->m, rows, k);
            offs[4 * k + 1] = rb.len;
            if (!e && j->kind == KIND_INFERENCES) {
                e = buf_puts(&rb, "{");
                if (!e) e = put_prediction(&rb, outs, nout, k);
                if (!e) e = buf_puts(&rb, "}");
            } else if (!e) {
                e = put_named_rows(&rb, outs, nout, eng_model_output, me->m, rows, k);
            }
            offs[4 * k + 2] = rb.len;
        }
        for (int64_t k = 0; k < rows && !e; k++) { /* rb no longer moves: point into it */
            recs[k] = (store_record_t){.model = me->name,
                                       .version = ver,
                                       .request_id = reqid[0] ? reqid : NULL,
                                       .input_json = rb.data + offs[4 * k],
                                       .input_len = offs[4 * k + 1] - offs[4 * k],
                                       .output_json = rb.data + offs[4 * k + 1],
                                       .output_len = offs[4 * k + 2] - offs[4 * k + 1],
                                       .latency_ms = ms};
        }
        free(offs);
        free(raw);
        if (e) {
            http_reply_error(r, 503, "out of memory building the records");
            free(p);
            goto records_done;
        }
        *p = (pending_t){.r = r, .ctx = ctx, .t_submit = clock_mono_ns()};
        atomic_store(&p->refs, 2);
        atomic_store(&p->status, 0);
        int sr = store_submit(ctx->store, recs, (int)rows,
                              me->durability == DUR_DURABLE ? STORE_DURABLE : STORE_BUFFERED,
                              on_stored, p);
        if (sr) {
            free(p);
            if (sr == -EMSGSIZE) {
                http_reply_error(r, 413, "too many rows to record in one request");
            } else if (sr == -EAGAIN) {
                http_add_header(r, "Retry-After", "1");
                http_reply_error(r, 503, "server busy: the record queue is full");
            } else {
                http_add_header(r, "Retry-After", "1");
                http_reply_error(r, 503, "cannot record the prediction: %s", strerror(-sr));
            }
            goto records_done;
        }
    }

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
        if (recs && !e) {
            e = buf_puts(b, ",\"parameters\":{\"record_ids\":[");
            for (int64_t k = 0; k < rows && !e; k++)
                e = buf_printf(b, "%s\"%s\"", k ? "," : "", recs[k].id);
            if (!e) e = buf_puts(b, "]}");
        }
        if (!e) e = buf_puts(b, ",\"outputs\":");
        if (!e) e = tj_encode_outputs_list(b, me->m, outs, nout);
        if (!e) e = buf_puts(b, "}\n");
    } else {
        e = buf_puts(b, "{");
        if (recs && single && !e) e = buf_printf(b, "\"id\":\"%s\",", recs[0].id);
        if (!e) e = buf_puts(b, "\"model\":");
        if (!e) e = buf_json_str(b, me->name, strlen(me->name));
        if (!e) e = buf_printf(b, ",\"version\":\"%lld\",", (long long)me->version);
        if (single) {
            if (!e) e = put_answer_row(b, recs, outs, nout, 0);
        } else {
            if (!e) e = buf_puts(b, "\"results\":[");
            for (int64_t k = 0; k < rows && !e; k++) {
                e = buf_puts(b, k ? ",{" : "{");
                if (recs && !e) e = buf_printf(b, "\"id\":\"%s\",", recs[k].id);
                if (!e) e = put_answer_row(b, recs, outs, nout, k);
                if (!e) e = buf_puts(b, "}");
            }
            if (!e) e = buf_puts(b, "]");
        }
        if (!e) e = buf_printf(b, ",\"latency_ms\":%.3f}\n", ms);
    }
    if (p) { /* the answer goes out once the store has called back */
        if (e) atomic_store(&p->status, -ENOMEM);
        pending_release(p);
    } else if (e) {
        http_reply_error(r, 503, "out of memory building the response");
    } else {
        http_reply_buf(r, 200, "application/json");
    }
records_done:
    free(recs);
    buf_deinit(&rb);
out:
    free(feat.data);
    if (in.t != &feat) tj_inputs_free(&in);
    json_doc_free(doc);
    repo_release(j->me);
    free(j);
}

/* Hands the request to the compute pool; takes over the reference to me. */
static void submit(http_req_t *r, infer_ctx_t *ctx, model_entry_t *me, kind_t kind)
{
    job_t *j = malloc(sizeof *j);
    if (!j) {
        repo_release(me);
        http_reply_error(r, 503, "out of memory");
        return;
    }
    *j = (job_t){ctx, r, me, kind, clock_mono_ns()};
    if (!offload(r, ctx->pool, run_job, j)) {
        repo_release(me);
        metric_add(ctx->m_rejected, 1);
    }
}

static void h_infer(http_req_t *r, void *arg)
{
    model_entry_t *me = find_model(arg, r, false);
    if (me) submit(r, arg, me, KIND_OIP);
}

static void h_infer_v(http_req_t *r, void *arg)
{
    model_entry_t *me = find_model(arg, r, true);
    if (me) submit(r, arg, me, KIND_OIP);
}

static void h_list_inferences(http_req_t *r, void *arg);

static void h_inferences(http_req_t *r, void *arg)
{
    if (r->head.method == HTTP_GET || r->head.method == HTTP_HEAD)
        h_list_inferences(r, arg);
    else
        submit(r, arg, NULL, KIND_INFERENCES);
}

/* ========================================================================= reads ==== */

typedef struct read_job {
    infer_ctx_t *ctx;
    http_req_t *r;
    char id[64];
    char model[160];
    int64_t since_us, until_us;
    int limit;
    char cursor[64];
    bool list;
} read_job_t;

static void run_read(void *arg, int worker)
{
    read_job_t *j = arg;
    http_req_t *r = j->r;
    char err[256];
    int rc;
    if (j->list) {
        rc = store_list(j->ctx->store, j->model[0] ? j->model : NULL, j->since_us, j->until_us,
                        j->limit, j->cursor[0] ? j->cursor : NULL, &r->out_body, err, sizeof err);
        if (!rc) rc = buf_puts(&r->out_body, "\n");
    } else {
        rc = store_get(j->ctx->store, j->id, &r->out_body);
        if (!rc) rc = buf_puts(&r->out_body, "\n");
        snprintf(err, sizeof err, "no inference with id %s", j->id);
    }
    if (rc == 0)
        http_reply_buf(r, 200, "application/json");
    else if (rc == -ENOENT)
        http_reply_error(r, 404, "%s", err);
    else if (rc == -EINVAL)
        http_reply_error(r, 400, "%s", err);
    else
        http_reply_error(r, 503, "cannot read the store: %s", strerror(-rc));
    free(j);
}

static void submit_read(http_req_t *r, read_job_t *j)
{
    if (!j->ctx->store) {
        free(j);
        http_reply_error(r, 404, "no store is configured (--store), so nothing is recorded");
        return;
    }
    offload(r, j->ctx->pool, run_read, j);
}

/* since/until: unix seconds (fractions allowed). */
static int parse_time(const char *s, int64_t *us)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !(v >= 0 && v < 1e11)) return -1;
    *us = (int64_t)(v * 1e6);
    return 0;
}

static void h_get_inference(http_req_t *r, void *arg)
{
    read_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        http_reply_error(r, 503, "out of memory");
        return;
    }
    j->ctx = arg;
    j->r = r;
    http_req_param(r, 0, j->id, sizeof j->id);
    submit_read(r, j);
}

static void h_list_inferences(http_req_t *r, void *arg)
{
    read_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        http_reply_error(r, 503, "out of memory");
        return;
    }
    j->ctx = arg;
    j->r = r;
    j->list = true;
    j->limit = 100;
    char v[64];
    http_span_t q = r->head.query;
    int bad = http_query_get(q, "model", j->model, sizeof j->model) < 0 ||
              http_query_get(q, "cursor", j->cursor, sizeof j->cursor) < 0;
    int f;
    if (!bad && (f = http_query_get(q, "limit", v, sizeof v))) {
        char *end;
        long l = strtol(v, &end, 10);
        bad = f < 0 || *end || !*v || l < 1 || l > 1000;
        j->limit = (int)l;
    }
    if (!bad && (f = http_query_get(q, "since", v, sizeof v)))
        bad = f < 0 || parse_time(v, &j->since_us);
    if (!bad && (f = http_query_get(q, "until", v, sizeof v)))
        bad = f < 0 || parse_time(v, &j->until_us);
    if (bad) {
        free(j);
        http_reply_error(r, 400,
                         "query: model=<name>, since/until=<unix seconds>, limit=1..1000, "
                         "cursor=<next_cursor of the previous page>");
        return;
    }
    submit_read(r, j);
}

/* ==================================================================== repository ==== */

typedef struct load_job {
    infer_ctx_t *ctx;
    http_req_t *r;
    char name[160];
} load_job_t;

/* The loader thread's answer to a load request (or a cancel's, at shutdown). */
static void load_done(void *arg, int failed, const char *err)
{
    load_job_t *j = arg;
    http_req_t *r = j->r;
    if (failed == REPO_CANCELLED) {
        http_reply_error(r, 503, "model %s not loaded: %s", j->name, err);
    } else if (failed < 0) {
        http_reply_error(r, 404, "%s", err);
    } else if (failed > 0) {
        http_reply_error(r, 400, "%s", err);
    } else {
        int64_t vs[64];
        int n = repo_versions(j->ctx->repo, j->name, vs, 64);
        buf_t *b = &r->out_body;
        int rc = buf_puts(b, "{\"name\":");
        if (!rc) rc = buf_json_str(b, j->name, strlen(j->name));
        if (!rc) rc = buf_puts(b, ",\"versions\":[");
        for (int i = 0; i < n && !rc; i++)
            rc = buf_printf(b, "%s\"%lld\"", i ? "," : "", (long long)vs[i]);
        if (!rc) rc = buf_puts(b, "]}\n");
        if (rc)
            http_reply_error(r, 500, "out of memory");
        else
            http_reply_buf(r, 200, "application/json");
    }
    free(j);
}

/* POST /v2/repository/models/{m}/load: (re)load one model from the repository directory on the
 * model loader thread (never on a loop or compute worker: loading may take a while and do
 * blocking I/O); requests keep being served by what is loaded meanwhile. The answer goes out
 * when the load has finished. */
static void h_load(http_req_t *r, void *arg)
{
    load_job_t *j = calloc(1, sizeof *j);
    if (!j) {
        http_reply_error(r, 503, "out of memory");
        return;
    }
    j->ctx = arg;
    j->r = r;
    http_req_param(r, 0, j->name, sizeof j->name);
    int rc = repo_post_reload(j->ctx->repo, j->name, load_done, j);
    if (rc == 0) return;
    free(j);
    http_add_header(r, "Retry-After", "1");
    http_reply_error(r, 503,
                     rc == -1 ? "server busy: the model load queue is full"
                              : "the model loader has stopped (shutting down)");
}

/* ===================================================================== lifecycle ==== */

infer_ctx_t *api_infer_new(repo_t *repo, pool_t *pool, store_t *store, int session_threads)
{
    infer_ctx_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    ctx->repo = repo;
    ctx->pool = pool;
    ctx->store = store;
    ctx->session_threads = session_threads;
    metric_family_t *stage =
        metrics_family("inferd_stage_seconds",
                       "Time per request stage: queue_wait (compute queue), compute "
                       "(decode, inference, encode)",
                       METRIC_HISTOGRAM, metrics_latency_buckets, metrics_latency_nbuckets);
    ctx->m_queue_wait = metrics_series(stage, "stage=\"queue_wait\"", false);
    ctx->m_compute = metrics_series(stage, "stage=\"compute\"", false);
    ctx->m_commit = metrics_series(stage, "stage=\"commit\"", false);
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
    router_add(rt, M(HTTP_POST) | M(HTTP_GET), "/inferences", h_inferences, ctx, 0);
    router_add(rt, M(HTTP_GET), "/inferences/{id}", h_get_inference, ctx, 0);
    router_add(rt, M(HTTP_POST), "/v2/repository/models/{m}/load", h_load, ctx, 0);
}

void api_infer_free(infer_ctx_t *ctx)
{
    if (!ctx) return;
    free(ctx);
}
