/* Predict: run, record, acknowledge. The answer goes out when both the protocol has built it and
 * the store has called back (durable: after the commit), whichever comes last: the store may call
 * back on its thread before store_submit even returns, hence a two-count reference. */
#include "serve/predict.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "serve/serve_internal.h"
#include "serve/sessions.h"
#include "util/clock.h"
#include "util/err.h"

typedef struct pending {
    predict_cb_t cb;
    serve_t *sv;
    _Atomic int refs;
    _Atomic int status; /* 0, the store's -errno, or ERR_NOMEM when the answer failed */
    uint64_t t_submit;
    char why[160]; /* -EBADMSG: why the store refused the records */
} pending_t;

static void pending_release(pending_t *p)
{
    if (atomic_fetch_sub(&p->refs, 1) != 1) return;
    int st = atomic_load(&p->status);
    char msg[256];
    if (st == 0) {
        p->cb.done(p->cb.done_arg, 0, "");
    } else if (st == -EBADMSG) {
        /* The database refuses these records as they are: retrying cannot help. */
        err_set(msg, sizeof msg,
                "the prediction's record was refused by the store (%s); nothing was recorded",
                p->why);
        p->cb.done(p->cb.done_arg, ERR_REFUSED, msg);
    } else if (st == -ENOBUFS) {
        err_set(msg, sizeof msg,
                "the store's journal is full (journal_max_bytes): the database has not taken "
                "its records yet; nothing was recorded");
        p->cb.done(p->cb.done_arg, ERR_UNAVAILABLE, msg);
    } else {
        err_set(msg, sizeof msg, "the prediction could not be stored (%s); nothing was recorded",
                strerror(-st));
        p->cb.done(p->cb.done_arg, ERR_UNAVAILABLE, msg);
    }
    free(p);
}

static void on_stored(void *arg, int status)
{
    pending_t *p = arg;
    metric_observe_ns(p->sv->m_commit, clock_mono_ns() - p->t_submit);
    if (status == -EBADMSG) snprintf(p->why, sizeof p->why, "%s", store_done_reason());
    atomic_store(&p->status, status);
    pending_release(p);
}

/* Renders every row's record into rb (input then output, back to back) and points recs at it.
 * 0 or -ENOMEM. */
static int render_records(const predict_req_t *q, const predict_res_t *res, const char *ver,
                          store_record_t *recs, buf_t *rb)
{
    size_t *offs = calloc((size_t)res->rows * 3 + 1, sizeof *offs);
    int e = !offs;
    for (int64_t k = 0; k < res->rows && !e; k++) {
        offs[3 * k] = rb->len;
        e = q->render_input(q->render_arg, res, k, rb);
        offs[3 * k + 1] = rb->len;
        if (!e) e = q->render_output(q->render_arg, res, k, rb);
        offs[3 * k + 2] = rb->len;
    }
    for (int64_t k = 0; k < res->rows && !e; k++) /* rb no longer moves: point into it */
        recs[k] = (store_record_t){.model = q->model->name,
                                   .version = ver,
                                   .request_id = q->request_id,
                                   .input_json = rb->data + offs[3 * k],
                                   .input_len = offs[3 * k + 1] - offs[3 * k],
                                   .output_json = rb->data + offs[3 * k + 1],
                                   .output_len = offs[3 * k + 2] - offs[3 * k + 1],
                                   .latency_ms = res->latency_ms};
    free(offs);
    return e ? -ENOMEM : 0;
}

/* Queues the records; on failure calls done with the reason and returns it. */
static int submit_records(serve_t *sv, const predict_req_t *q, store_record_t *recs, int64_t rows,
                          pending_t *p, const predict_cb_t *cb)
{
    int sr = store_submit(sv->store, recs, (int)rows, q->model->durability, on_stored, p);
    if (sr == 0) return 0;
    char msg[160];
    int code;
    if (sr == -EMSGSIZE) {
        code = ERR_TOO_LARGE;
        err_set(msg, sizeof msg, "too many rows to record in one request");
    } else if (sr == -EAGAIN) {
        code = ERR_BUSY;
        err_set(msg, sizeof msg, "server busy: the record queue is full");
    } else {
        code = ERR_UNAVAILABLE;
        err_set(msg, sizeof msg, "cannot record the prediction: %s", strerror(-sr));
    }
    cb->done(cb->done_arg, code, msg);
    return code;
}

void serve_predict(serve_t *sv, const serve_worker_t *w, const predict_req_t *q,
                   const predict_cb_t *cb)
{
    model_entry_t *me = q->model;
    char err[1024];
    if (q->ninputs > 0 && q->inputs[0].rank >= 1 && q->inputs[0].dims[0] < 1) {
        /* Nothing to predict or record: the client's mistake, not a busy server. */
        err_set(err, sizeof err, "input \"%s\" has no rows (shape [0, ...]): send at least one",
                eng_model_input(me->m, 0)->name);
        cb->done(cb->done_arg, ERR_INVALID, err);
        return;
    }
    eng_session_t *s = serve_session(sv, me, w);
    if (!s) {
        cb->done(cb->done_arg, ERR_NOMEM, "out of memory");
        return;
    }
    const tensor_t *outs;
    int nout;
    int rc = eng_session_run(s, q->inputs, q->ninputs, &outs, &nout, err, sizeof err);
    if (rc) {
        cb->done(cb->done_arg, rc == ENG_EINPUT ? ERR_INVALID : ERR_INTERNAL, err);
        return;
    }
    uint64_t t1 = clock_mono_ns();
    metric_observe_ns(sv->m_compute, t1 - w->t_start_ns);
    predict_res_t res = {.model = me->m,
                         .inputs = q->inputs,
                         .ninputs = q->ninputs,
                         .outputs = outs,
                         .noutputs = nout,
                         .rows = q->ninputs > 0 && q->inputs[0].rank ? q->inputs[0].dims[0] : 1,
                         .latency_ms = (double)(t1 - q->t_arrival_ns) / 1e6};
    metric_add(sv->m_rows, (uint64_t)res.rows);

    /* Records first: their ids go into the answer. */
    store_record_t *recs = NULL;
    pending_t *p = NULL;
    buf_t rb; /* the records' texts, back to back */
    buf_init(&rb);
    if (sv->store && me->durability != DUR_OFF) {
        char ver[24];
        snprintf(ver, sizeof ver, "%lld", (long long)me->version);
        recs = calloc((size_t)res.rows, sizeof *recs);
        p = malloc(sizeof *p);
        if (!recs || !p || render_records(q, &res, ver, recs, &rb)) {
            cb->done(cb->done_arg, ERR_NOMEM, "out of memory building the records");
            free(p);
            goto out;
        }
        *p = (pending_t){.cb = *cb, .sv = sv, .t_submit = clock_mono_ns()};
        atomic_store(&p->refs, 2);
        atomic_store(&p->status, 0);
        if (submit_records(sv, q, recs, res.rows, p, cb)) {
            free(p);
            goto out;
        }
        res.records = recs;
    }
    int e = cb->result(cb->arg, &res);
    if (p) { /* the answer goes out once the store has called back */
        if (e) atomic_store(&p->status, -ENOMEM);
        pending_release(p);
    } else if (e) {
        cb->done(cb->done_arg, ERR_NOMEM, "out of memory building the response");
    } else {
        cb->done(cb->done_arg, 0, "");
    }
out:
    free(recs);
    buf_deinit(&rb);
}
