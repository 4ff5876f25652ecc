/* The seed's records API: POST /inferences {"model", "version"?, "id"?, "features"} predicts on a
 * model with one [N, features] FP32 input and answers with the stored records' ids; GET
 * /inferences/{id} and GET /inferences?model=&since=&until=&limit=&cursor= read them back. All
 * the work runs on serve's compute pool, never on the event loop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/job.h"
#include "api/records_json.h"
#include "codec/tensor_json.h"
#include "serve/predict.h"
#include "util/err.h"

/* =================================================================== predictions ==== */

typedef struct predict_job {
    api_job_t base;
    model_entry_t *me; /* a reference, once the body has named the model */
    json_doc_t *doc;
    tensor_t feat;
    bool single;      /* "features" was one row, not a list of rows */
    json_span_t *raw; /* each row's text in the body (see feature_spans); NULL: print tensors */
    bool raw_tried;
} predict_job_t;

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

/* A record's input: the row's text as the client sent it, whitespace removed. */
static int render_input(void *arg, const predict_res_t *res, int64_t row, buf_t *b)
{
    predict_job_t *j = arg;
    if (!j->raw_tried) {
        j->raw = feature_spans(j->base.r, j->single, res->rows);
        j->raw_tried = true;
    }
    if (j->raw) return json_write_compact(b, j->base.r->body, j->raw[row]);
    return tj_encode_row(b, &res->inputs[0], row);
}

/* A record's output: {"prediction", "probabilities"?}; the answer reuses this text. */
static int render_output(void *arg, const predict_res_t *res, int64_t row, buf_t *b)
{
    int e = buf_puts(b, "{");
    if (!e) e = put_prediction(b, res->outputs, res->noutputs, row);
    return e ? e : buf_puts(b, "}");
}

/* Row r's "prediction" and "probabilities" members: the record's output without its braces when
 * there is one, so each number is printed once. */
static int put_answer_row(buf_t *b, const predict_res_t *res, int64_t r)
{
    if (!res->records) return put_prediction(b, res->outputs, res->noutputs, r);
    return buf_append(b, res->records[r].output_json + 1, res->records[r].output_len - 2);
}

/* {"id"?, "model", "version", "prediction", ...} for one row; {..., "results": [...]} for many. */
static int put_answer(void *arg, const predict_res_t *res)
{
    predict_job_t *j = arg;
    model_entry_t *me = j->me;
    buf_t *b = &j->base.r->out_body;
    const store_record_t *recs = res->records;
    int e = buf_puts(b, "{");
    if (recs && j->single && !e) e = buf_printf(b, "\"id\":\"%s\",", recs[0].id);
    if (!e) e = buf_puts(b, "\"model\":");
    if (!e) e = buf_json_str(b, me->name, strlen(me->name));
    if (!e) e = buf_printf(b, ",\"version\":\"%lld\",", (long long)me->version);
    if (j->single) {
        if (!e) e = put_answer_row(b, res, 0);
    } else {
        if (!e) e = buf_puts(b, "\"results\":[");
        for (int64_t k = 0; k < res->rows && !e; k++) {
            e = buf_puts(b, k ? ",{" : "{");
            if (recs && !e) e = buf_printf(b, "\"id\":\"%s\",", recs[k].id);
            if (!e) e = put_answer_row(b, res, k);
            if (!e) e = buf_puts(b, "}");
        }
        if (!e) e = buf_puts(b, "]");
    }
    if (!e) e = buf_printf(b, ",\"latency_ms\":%.3f}\n", res->latency_ms);
    return e;
}

/* Decodes {"model": ..., "version"?: ..., "features": [...] | [[...], ...]} into j->me and one FP32
 * input, j->feat. 0, or an error code with its message. */
static int decode_features(predict_job_t *j, const json_value_t *root, char *err, size_t errlen)
{
    const json_value_t *mv = json_get(root, "model"), *fv = json_get(root, "features");
    if (json_type(root) != JSON_OBJECT || !mv || json_type(mv) != JSON_STRING || !fv)
        return err_set(err, errlen, "body must be {\"model\": \"<name>\", \"features\": [...]}"),
               ERR_INVALID;
    size_t name_len;
    const char *name = json_string(mv, &name_len);
    if (strlen(name) != name_len || name_len == 0)
        return err_set(err, errlen, "\"model\" must be a non-empty name without NUL characters"),
               ERR_INVALID;
    const json_value_t *vv = json_get(root, "version");
    int64_t v = -1;
    if (vv && json_type(vv) != JSON_NULL) { /* null, like no "version": the highest */
        size_t vn = 0;
        const char *vs = json_type(vv) == JSON_STRING ? json_string(vv, &vn) : NULL;
        if (vs)
            v = repo_parse_version(vs, vn);
        else if (json_type(vv) == JSON_NUMBER && json_is_integer(vv) && json_int(vv) >= 1)
            v = json_int(vv);
        if (v < 0)
            return err_set(err, errlen,
                           "\"version\" must be a positive integer (a JSON integer or a string "
                           "of digits)%s%.*s%s",
                           vs ? ", got \"" : "", vs ? (int)(vn < 40 ? vn : 40) : 0, vs ? vs : "",
                           vs ? "\"" : ""),
                   ERR_INVALID;
    }
    j->me = serve_model(j->base.sv, name, v, err, errlen);
    if (!j->me) return ERR_NOT_FOUND;
    const eng_model_t *m = j->me->m;
    const eng_io_t *io = eng_model_input(m, 0);
    if (eng_model_ninputs(m) != 1 || io->dtype != DT_FLOAT || io->rank != 2)
        return err_set(err, errlen,
                       "model \"%s\" does not take one [N, features] FP32 input; use "
                       "/v2/models/%s/infer",
                       name, name),
               ERR_INVALID;
    json_shape_t sh;
    if (json_shape(fv, &sh, err, errlen)) return ERR_INVALID;
    j->single = sh.rank == 1;
    if (sh.rank != 1 && sh.rank != 2)
        return err_set(err, errlen, "features must be a list of numbers or a list of rows"),
               ERR_INVALID;
    int64_t nf = io->dims[1], rows = sh.rank == 1 ? 1 : (int64_t)sh.dim[0];
    int64_t got = sh.rank == 1 ? (int64_t)sh.dim[0] : (int64_t)sh.dim[1];
    if (nf >= 0 && got != nf)
        return err_set(err, errlen, "model \"%s\" takes %lld features, got %lld", name,
                       (long long)nf, (long long)got),
               ERR_INVALID;
    tensor_t *t = &j->feat;
    *t = (tensor_t){.dtype = DT_FLOAT, .rank = 2, .dims = {rows, got}};
    int64_t count = rows * got;
    t->data = malloc((size_t)(count > 0 ? count : 1) * sizeof(float));
    if (!t->data) return err_set(err, errlen, "out of memory"), ERR_NOMEM;
    if (json_flatten(fv, JSON_ELEM_F32, t->data, (size_t)(rows * got), NULL, err, errlen))
        return ERR_INVALID;
    return 0;
}

static void run_predict(serve_job_t *job, const serve_worker_t *w)
{
    predict_job_t *j = (predict_job_t *)job;
    http_req_t *r = j->base.r;
    char err[1024], reqid[API_MAX_REQUEST_ID + 1];
    int code;
    j->doc = json_parse(r->body, r->body_len, NULL, err, sizeof err);
    if (!j->doc) {
        api_reply_err(r, ERR_INVALID, "invalid JSON: %s", err);
    } else if (!api_request_id(r, json_root(j->doc), reqid, err, sizeof err)) {
        api_reply_err(r, ERR_INVALID, "%s", err);
    } else if ((code = decode_features(j, json_root(j->doc), err, sizeof err))) {
        api_reply_err(r, code, "%s", err);
    } else {
        predict_req_t q = {.model = j->me,
                           .inputs = &j->feat,
                           .ninputs = 1,
                           .request_id = reqid[0] ? reqid : NULL,
                           .t_arrival_ns = r->t_start_ns,
                           .render_input = render_input,
                           .render_output = render_output,
                           .render_arg = j};
        predict_cb_t cb = {.result = put_answer, .arg = j, .done = api_predict_done, .done_arg = r};
        serve_predict(j->base.sv, w, &q, &cb);
    }
    free(j->feat.data);
    free(j->raw);
    json_doc_free(j->doc);
    repo_release(j->me);
    free(j);
}

/* ========================================================================= reads ==== */

typedef struct read_job {
    api_job_t base;
    char id[64];
    char model[160];
    int64_t since_us, until_us;
    int limit;
    char cursor[64];
    bool list;
} read_job_t;

static void run_read(serve_job_t *job, const serve_worker_t *w)
{
    read_job_t *j = (read_job_t *)job;
    http_req_t *r = j->base.r;
    store_t *store = serve_store(j->base.sv);
    char err[256];
    int rc;
    if (j->list) {
        store_query_t q = {j->model, j->since_us, j->until_us, j->limit, j->cursor};
        rc = api_records_list_json(store, &q, &r->out_body, err, sizeof err);
        if (!rc) rc = buf_puts(&r->out_body, "\n");
    } else {
        rc = api_record_get_json(store, j->id, &r->out_body);
        if (!rc) rc = buf_puts(&r->out_body, "\n");
        snprintf(err, sizeof err, "no inference with id %s", j->id);
    }
    if (rc == 0)
        http_reply_buf(r, 200, "application/json");
    else if (rc == -ENOENT || rc == -EINVAL)
        api_reply_err(r, rc == -ENOENT ? ERR_NOT_FOUND : ERR_INVALID, "%s", err);
    else
        api_reply_err(r, ERR_UNAVAILABLE, "cannot read the store: %s", strerror(-rc));
    free(j);
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

/* Queues a read, or answers 404 when nothing is recorded (no store). */
static void submit_read(read_job_t *j)
{
    if (!serve_store(j->base.sv)) {
        api_reply_err(j->base.r, ERR_NOT_FOUND,
                      "no store is configured (--store), so nothing is recorded");
        free(j);
        return;
    }
    api_job_submit(j, run_read);
}

static void h_get_inference(http_req_t *r, void *arg)
{
    read_job_t *j = api_job_new(r, arg, sizeof *j);
    if (!j) return;
    http_req_param(r, 0, j->id, sizeof j->id);
    submit_read(j);
}

static void list_inferences(http_req_t *r, serve_t *sv)
{
    read_job_t *j = api_job_new(r, sv, sizeof *j);
    if (!j) return;
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
        api_reply_err(r, ERR_INVALID,
                      "query: model=<name>, since/until=<unix seconds>, limit=1..1000, "
                      "cursor=<next_cursor of the previous page>");
        return;
    }
    submit_read(j);
}

static void h_inferences(http_req_t *r, void *arg)
{
    if (r->head.method == HTTP_GET || r->head.method == HTTP_HEAD) {
        list_inferences(r, arg);
        return;
    }
    predict_job_t *j = api_job_new(r, arg, sizeof *j);
    if (j) api_job_submit(j, run_predict);
}

void api_inferences_register(http_router_t *rt, serve_t *sv)
{
    router_add(rt, M(HTTP_POST) | M(HTTP_GET), "/inferences", h_inferences, sv, 0);
    router_add(rt, M(HTTP_GET), "/inferences/{id}", h_get_inference, sv, 0);
}
