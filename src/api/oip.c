/* Open Inference Protocol (KServe v2): model metadata and readiness, inference, repository load.
 * Handlers on the event loop only find the model and hand the request to serve's compute pool;
 * decoding, inference and encoding run on a pool worker, which answers through http_reply (the
 * loop writes it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/job.h"
#include "codec/tensor_json.h"
#include "serve/predict.h"
#include "util/err.h"

/* ===================================================================== metadata ==== */

/* The model named by the path, with a reference (repo_release it), or NULL after answering. */
static model_entry_t *find_model(serve_t *sv, http_req_t *r, bool with_version)
{
    char name[160], ver[32], err[256];
    http_req_param(r, 0, name, sizeof name);
    int64_t v = -1;
    if (with_version) {
        http_req_param(r, 1, ver, sizeof ver);
        v = repo_parse_version(r->params[1].p, r->params[1].n);
        if (v < 0) {
            api_reply_err(r, ERR_INVALID, "model version must be a positive integer, got \"%s\"",
                          ver);
            return NULL;
        }
    }
    model_entry_t *me = serve_model(sv, name, v, err, sizeof err);
    if (!me) api_reply_err(r, ERR_NOT_FOUND, "%s", err);
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

static void metadata(http_req_t *r, serve_t *sv, bool with_version)
{
    model_entry_t *me = find_model(sv, r, with_version);
    if (!me) return;
    buf_t *b = &r->out_body;
    int64_t vs[64];
    int nv = repo_versions(serve_repo(sv), me->name, vs, 64);
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
        api_reply_err(r, ERR_INTERNAL, "out of memory");
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
    index_ctx_t x = {&r->out_body, 0, buf_puts(&r->out_body, "{\"models\":[")};
    repo_each(serve_repo(arg), index_one, &x);
    if (!x.rc) x.rc = buf_puts(&r->out_body, "]}\n");
    if (x.rc)
        api_reply_err(r, ERR_INTERNAL, "out of memory");
    else
        http_reply_buf(r, 200, "application/json");
}

/* ==================================================================== inference ==== */

typedef struct infer_job {
    api_job_t base;
    model_entry_t *me; /* a reference */
    json_doc_t *doc;
} infer_job_t;

/* A record holds the named rows of the inputs and of the outputs, as the tensors print. */
static int render_input(void *arg, const predict_res_t *res, int64_t row, buf_t *b)
{
    return tj_encode_named_rows(b, res->inputs, res->ninputs, eng_model_input, res->model,
                                res->rows, row);
}

static int render_output(void *arg, const predict_res_t *res, int64_t row, buf_t *b)
{
    return tj_encode_named_rows(b, res->outputs, res->noutputs, eng_model_output, res->model,
                                res->rows, row);
}

/* {"model_name", "model_version", "id"?, "parameters": {"record_ids"}?, "outputs": [...]}. */
static int put_answer(void *arg, const predict_res_t *res)
{
    infer_job_t *j = arg;
    model_entry_t *me = j->me;
    buf_t *b = &j->base.r->out_body;
    int e = buf_puts(b, "{\"model_name\":");
    if (!e) e = buf_json_str(b, me->name, strlen(me->name));
    if (!e) e = buf_printf(b, ",\"model_version\":\"%lld\"", (long long)me->version);
    const json_value_t *id = json_get(json_root(j->doc), "id");
    if (id && json_type(id) == JSON_STRING && !e) {
        size_t n;
        const char *sid = json_string(id, &n);
        e = buf_puts(b, ",\"id\":");
        if (!e) e = buf_json_str(b, sid, n);
    }
    if (res->records && !e) {
        e = buf_puts(b, ",\"parameters\":{\"record_ids\":[");
        for (int64_t k = 0; k < res->rows && !e; k++)
            e = buf_printf(b, "%s\"%s\"", k ? "," : "", res->records[k].id);
        if (!e) e = buf_puts(b, "]}");
    }
    if (!e) e = buf_puts(b, ",\"outputs\":");
    if (!e) e = tj_encode_outputs_list(b, me->m, res->outputs, res->noutputs);
    if (!e) e = buf_puts(b, "}\n");
    return e;
}

static void run_infer(serve_job_t *job, const serve_worker_t *w)
{
    infer_job_t *j = (infer_job_t *)job;
    http_req_t *r = j->base.r;
    char err[1024], reqid[API_MAX_REQUEST_ID + 1];
    tj_inputs_t in = {0};
    j->doc = json_parse(r->body, r->body_len, NULL, err, sizeof err);
    if (!j->doc) {
        api_reply_err(r, ERR_INVALID, "invalid JSON: %s", err);
    } else if (!api_request_id(r, json_root(j->doc), reqid, err, sizeof err) ||
               tj_decode_inputs(json_root(j->doc), j->me->m, &in, err, sizeof err)) {
        api_reply_err(r, ERR_INVALID, "%s", err);
    } else {
        predict_req_t q = {.model = j->me,
                           .inputs = in.t,
                           .ninputs = in.n,
                           .request_id = reqid[0] ? reqid : NULL,
                           .t_arrival_ns = r->t_start_ns,
                           .render_input = render_input,
                           .render_output = render_output};
        predict_cb_t cb = {.result = put_answer, .arg = j, .done = api_predict_done, .done_arg = r};
        serve_predict(j->base.sv, w, &q, &cb);
    }
    tj_inputs_free(&in);
    json_doc_free(j->doc);
    repo_release(j->me);
    free(j);
}

static void infer(http_req_t *r, serve_t *sv, bool with_version)
{
    model_entry_t *me = find_model(sv, r, with_version);
    if (!me) return;
    infer_job_t *j = api_job_new(r, sv, sizeof *j);
    if (j) j->me = me;
    if (!j || !api_job_submit(j, run_infer)) repo_release(me);
}

static void h_infer(http_req_t *r, void *arg)
{
    infer(r, arg, false);
}

static void h_infer_v(http_req_t *r, void *arg)
{
    infer(r, arg, true);
}

/* ==================================================================== repository ==== */

typedef struct load_job {
    serve_t *sv;
    http_req_t *r;
    char name[160];
} load_job_t;

/* The loader thread's answer to a load request (or a cancel's, at shutdown). */
static void load_done(void *arg, int failed, const char *err)
{
    load_job_t *j = arg;
    http_req_t *r = j->r;
    if (failed == REPO_CANCELLED) {
        api_reply_err(r, ERR_SHUTDOWN, "model %s not loaded: %s", j->name, err);
    } else if (failed < 0) {
        api_reply_err(r, ERR_NOT_FOUND, "%s", err);
    } else if (failed > 0) {
        api_reply_err(r, ERR_INVALID, "%s", err);
    } else {
        int64_t vs[64];
        int n = repo_versions(serve_repo(j->sv), j->name, vs, 64);
        buf_t *b = &r->out_body;
        int rc = buf_puts(b, "{\"name\":");
        if (!rc) rc = buf_json_str(b, j->name, strlen(j->name));
        if (!rc) rc = buf_puts(b, ",\"versions\":[");
        for (int i = 0; i < n && !rc; i++)
            rc = buf_printf(b, "%s\"%lld\"", i ? "," : "", (long long)vs[i]);
        if (!rc) rc = buf_puts(b, "]}\n");
        if (rc)
            api_reply_err(r, ERR_INTERNAL, "out of memory");
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
        api_reply_err(r, ERR_NOMEM, "out of memory");
        return;
    }
    j->sv = arg;
    j->r = r;
    http_req_param(r, 0, j->name, sizeof j->name);
    int rc = repo_post_reload(serve_repo(j->sv), j->name, load_done, j);
    if (rc == 0) return;
    free(j);
    api_reply_err(r, ERR_BUSY, "%s",
                  rc == -1 ? "server busy: the model load queue is full"
                           : "the model loader has stopped (shutting down)");
}

void api_oip_register(http_router_t *rt, serve_t *sv)
{
    router_add(rt, M(HTTP_GET), "/v2/models", h_index, sv, 0);
    router_add(rt, M(HTTP_GET), "/v2/models/{m}", h_metadata, sv, 0);
    router_add(rt, M(HTTP_GET), "/v2/models/{m}/versions/{v}", h_metadata_v, sv, 0);
    router_add(rt, M(HTTP_GET), "/v2/models/{m}/ready", h_ready, sv, 0);
    router_add(rt, M(HTTP_POST), "/v2/models/{m}/infer", h_infer, sv, 0);
    router_add(rt, M(HTTP_POST), "/v2/models/{m}/versions/{v}/infer", h_infer_v, sv, 0);
    router_add(rt, M(HTTP_POST), "/v2/repository/models/{m}/load", h_load, sv, 0);
}
