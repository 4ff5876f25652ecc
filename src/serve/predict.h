/* Predict: run a model version on native input tensors, record one row per input row in the
 * store (per the model's durability) and report back, without any transport type. This is
 * today's path for the Open Inference Protocol and POST /inferences alike. */
#ifndef INFERD_SERVE_PREDICT_H
#define INFERD_SERVE_PREDICT_H

#include <stdint.h>

#include "engine/engine.h"
#include "serve/serve.h"
#include "store/store.h"
#include "util/buf.h"

/* What a run produced. Valid only during the result callback (the outputs belong to the worker's
 * session). */
typedef struct predict_res {
    const eng_model_t *model;
    const tensor_t *inputs;
    int ninputs;
    const tensor_t *outputs;
    int noutputs;
    int64_t rows;                  /* the batch: the first input's first dimension (1 if none) */
    const store_record_t *records; /* one per row, ids assigned; NULL when nothing is recorded */
    double latency_ms;             /* from the request's arrival to the end of the run */
} predict_res_t;

/* How a row reads in the store: the protocol appends row `row`'s input, or its output, as the
 * record keeps it. 0 or -ENOMEM. */
typedef int (*predict_render_fn)(void *arg, const predict_res_t *res, int64_t row, buf_t *b);

typedef struct predict_req {
    model_entry_t *model;   /* borrowed: the caller holds a reference until done */
    const tensor_t *inputs; /* in model input order; rank >= 1 inputs lead with the batch */
    int ninputs;
    const char *request_id; /* recorded with each row; NULL: none */
    uint64_t t_arrival_ns;  /* monotonic time the request arrived: the records' latency */
    predict_render_fn render_input, render_output; /* required when the model is recorded */
    void *render_arg;
} predict_req_t;

typedef struct predict_cb {
    /* On the worker, after the run (and after the records were queued): builds the answer.
     * Returns 0, or a negative code (the answer could not be built: done gets ERR_NOMEM). */
    int (*result)(void *arg, const predict_res_t *res);
    void *arg; /* result's: needed only until serve_predict returns */
    /* Exactly once, last, on the worker or on the store's thread: code 0 (send the answer built
     * by result) or an error code (util/err.h) with its message. */
    void (*done)(void *done_arg, int code, const char *msg);
    void *done_arg; /* done's: must live until done (the transport's request) */
} predict_cb_t;

/* Runs q on worker w with w's own engine session. Failures before the answer go to cb->done
 * alone (ERR_INVALID: no rows or bad input values; ERR_INTERNAL: the engine failed; ERR_NOMEM;
 * ERR_TOO_LARGE, ERR_BUSY, ERR_UNAVAILABLE: the records could not be queued). When the model is
 * recorded (a store and a durability other than off), done waits for the store's callback:
 * durable models answer after the commit, ERR_REFUSED when the store refuses the records. */
void serve_predict(serve_t *sv, const serve_worker_t *w, const predict_req_t *q,
                   const predict_cb_t *cb);

#endif
