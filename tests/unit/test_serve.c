/* serve/: predict without any transport. A model from the fixtures runs through serve_submit and
 * serve_predict on the compute pool, and its outputs are compared with ONNX Runtime's for the same
 * input (tests/fixtures/data/NAME.expected.json); with a durable SQLite store the answer waits for
 * the commit and the stored record holds what the render callbacks wrote. */
#define _GNU_SOURCE /* memmem */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/records_json.h"
#include "codec/tensor_json.h"
#include "serve/predict.h"
#include "th.h"
#include "util/err.h"
#include "util/json.h"

static char dir[256];

/* One prediction's job and what came back. */
typedef struct job {
    serve_job_t head;
    serve_t *sv;
    model_entry_t *me;
    const tensor_t *in;
    int nin;
    /* out */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int finished, done_code, results;
    char msg[256];
    int64_t rows;
    int64_t label[8];
    float probs[16];
    char id0[40];
} job_t;

static int render_in(void *arg, const predict_res_t *res, int64_t row, buf_t *b)
{
    return buf_printf(b, "{\"row\":%lld}", (long long)row);
}

static int render_out(void *arg, const predict_res_t *res, int64_t row, buf_t *b)
{
    return tj_encode_named_rows(b, res->outputs, res->noutputs, eng_model_output, res->model,
                                res->rows, row);
}

static int on_result(void *arg, const predict_res_t *res)
{
    job_t *j = arg;
    j->results++;
    j->rows = res->rows;
    for (int i = 0; i < res->noutputs; i++) {
        const tensor_t *t = &res->outputs[i];
        for (int64_t k = 0; k < tensor_numel(t) && k < 16; k++) {
            if (t->dtype == DT_INT64 && k < 8) j->label[k] = ((const int64_t *)t->data)[k];
            if (t->dtype == DT_FLOAT) j->probs[k] = ((const float *)t->data)[k];
        }
    }
    if (res->records) snprintf(j->id0, sizeof j->id0, "%s", res->records[0].id);
    return 0;
}

static void on_done(void *arg, int code, const char *msg)
{
    job_t *j = arg;
    pthread_mutex_lock(&j->mu);
    j->done_code = code;
    snprintf(j->msg, sizeof j->msg, "%s", msg);
    j->finished++;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static void run(serve_job_t *h, const serve_worker_t *w)
{
    job_t *j = (job_t *)h;
    predict_req_t q = {.model = j->me,
                       .inputs = j->in,
                       .ninputs = j->nin,
                       .request_id = "req-1",
                       .render_input = render_in,
                       .render_output = render_out};
    predict_cb_t cb = {.result = on_result, .arg = j, .done = on_done, .done_arg = j};
    serve_predict(j->sv, w, &q, &cb);
}

/* Runs a prediction of in on me through the pool and waits for done. */
static void predict(serve_t *sv, model_entry_t *me, const tensor_t *in, int nin, job_t *j)
{
    memset(j, 0, sizeof *j);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->sv = sv;
    j->me = me;
    j->in = in;
    j->nin = nin;
    CHECK_EQ(serve_submit(sv, &j->head, run), 0);
    pthread_mutex_lock(&j->mu);
    while (!j->finished) pthread_cond_wait(&j->cv, &j->mu);
    pthread_mutex_unlock(&j->mu);
    CHECK_EQ(j->finished, 1);
}

/* Checks j's outputs against ONNX Runtime's label and probabilities for the same rows. */
static void check_against_ort(const job_t *j, const json_value_t *expected, int64_t rows)
{
    const json_value_t *outs = json_get(expected, "outputs");
    const json_value_t *lab = json_get(json_get(outs, "label"), "data");
    const json_value_t *pr = json_get(json_get(outs, "probabilities"), "data");
    CHECK(lab && pr);
    if (!lab || !pr) return;
    for (int64_t k = 0; k < rows && k < 8; k++)
        CHECK_EQ(j->label[k], json_int(json_at(lab, (size_t)k)));
    for (int64_t k = 0; k < 2 * rows && k < 16; k++)
        CHECK(fabs(j->probs[k] - json_number(json_at(pr, (size_t)k))) <= 1e-6);
}

static int copy_model(const char *from, const char *to)
{
    size_t n;
    char *p = th_slurp(from, &n);
    FILE *f = p ? fopen(to, "wb") : NULL;
    int rc = f && fwrite(p, 1, n, f) == n ? 0 : -1;
    if (f) fclose(f);
    free(p);
    return rc;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/inferd_serve_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/bc.onnx", dir);
    if (copy_model(FIXTURES_DIR "/models/breast_cancer_logreg.onnx", path)) return 1;

    static repo_t repo;
    CHECK_EQ(repo_load(&repo, dir, DUR_DURABLE, err, sizeof err), 0);
    pool_t *pool = pool_new(2, 8);
    snprintf(path, sizeof path, "sqlite:%s/records.db", dir);
    store_t *store = store_open(path, NULL, err, sizeof err);
    CHECK(pool && store);
    serve_t *sv = serve_new(&repo, pool, NULL, 1);
    serve_t *recorded = serve_new(&repo, pool, store, 1);

    /* Lookup: names and versions, with the messages the protocols pass on. */
    model_entry_t *me = serve_model(sv, "bc", -1, err, sizeof err);
    CHECK(me && me->version == 1);
    CHECK(serve_model(sv, "nope", -1, err, sizeof err) == NULL);
    CHECK_STR(err, "unknown model \"nope\"");
    CHECK(serve_model(sv, "bc", 9, err, sizeof err) == NULL);
    CHECK_STR(err, "model \"bc\" has no version 9");

    size_t n;
    char *itext = th_slurp(FIXTURES_DIR "/data/breast_cancer_logreg.b7.input.json", &n);
    json_doc_t *idoc = itext ? json_parse(itext, n, NULL, err, sizeof err) : NULL;
    char *etext = th_slurp(FIXTURES_DIR "/data/breast_cancer_logreg.b7.expected.json", &n);
    json_doc_t *edoc = etext ? json_parse(etext, n, NULL, err, sizeof err) : NULL;
    CHECK(idoc && edoc);
    tj_inputs_t in = {0};
    CHECK_EQ(tj_decode_inputs(json_root(idoc), me->m, &in, err, sizeof err), 0);

    /* Not recorded: result, then done(0); the outputs are ONNX Runtime's. Twice, so a worker's
     * session is reused. */
    job_t *j = malloc(sizeof *j);
    for (int round = 0; round < 2; round++) {
        predict(sv, me, in.t, in.n, j);
        CHECK_EQ(j->done_code, 0);
        CHECK_EQ(j->results, 1);
        CHECK_EQ(j->rows, 7);
        check_against_ort(j, json_root(edoc), 7);
        CHECK_EQ(j->id0[0], 0);
    }

    /* Durable: done comes after the commit, and the record holds what the callbacks rendered. */
    predict(recorded, me, in.t, in.n, j);
    CHECK_EQ(j->done_code, 0);
    CHECK_EQ(j->results, 1);
    check_against_ort(j, json_root(edoc), 7);
    CHECK(strlen(j->id0) == 36);
    buf_t got;
    buf_init(&got);
    CHECK_EQ(api_record_get_json(store, j->id0, &got), 0);
    CHECK(got.len && memmem(got.data, got.len, "\"input\":{\"row\":0}", 17) != NULL);
    CHECK(got.len && memmem(got.data, got.len, "\"request_id\":\"req-1\"", 20) != NULL);
    CHECK(got.len && memmem(got.data, got.len, "\"label\":[1]", 11) != NULL);
    buf_deinit(&got);

    /* No rows: the client's mistake, reported through done alone. */
    tensor_t empty = in.t[0];
    empty.dims[0] = 0;
    predict(recorded, me, &empty, 1, j);
    CHECK_EQ(j->done_code, ERR_INVALID);
    CHECK_EQ(j->results, 0);
    CHECK(strstr(j->msg, "no rows") != NULL);

    free(j);
    tj_inputs_free(&in);
    json_doc_free(idoc);
    json_doc_free(edoc);
    free(itext);
    free(etext);
    repo_release(me);
    pool_stop(pool);
    serve_free(sv);
    serve_free(recorded);
    pool_free(pool);
    CHECK_EQ(store_close(store), 0);
    repo_free(&repo);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
    return TH_DONE();
}
