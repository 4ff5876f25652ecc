/* Internal to src/api: what every protocol file does with a request it hands to serve: one job
 * set-up, the request id, and answering a prediction's completion. */
#ifndef INFERD_API_JOB_H
#define INFERD_API_JOB_H

#include <stdbool.h>

#include "http/http.h"
#include "serve/serve.h"
#include "util/json.h"

#define API_MAX_REQUEST_ID 127 /* bytes of a request id (JSON "id" or X-Request-Id) kept */

/* The head of every api job struct. */
typedef struct api_job {
    serve_job_t job; /* first: serve hands it back */
    http_req_t *r;
    serve_t *sv;
} api_job_t;

/* A zeroed job of size bytes (a struct starting with api_job_t) bound to r and sv, or NULL after
 * answering 503. */
void *api_job_new(http_req_t *r, serve_t *sv, size_t size);
/* Queues the job (fn runs on a compute worker). When the queue is full it frees the job and
 * answers 503 + Retry-After; returns whether the job was queued. */
bool api_job_submit(void *job, serve_job_fn fn);

/* The request's "id" (echoed and recorded as request_id) must be a string that is stored as
 * sent: without NUL, which C strings and PostgreSQL text would cut at, and not truncated. False
 * with the 400's message when it is not. Otherwise out holds it, or X-Request-Id (cut to
 * API_MAX_REQUEST_ID bytes) when the body has none, or "". */
bool api_request_id(const http_req_t *r, const json_value_t *root, char out[API_MAX_REQUEST_ID + 1],
                    char *err, size_t errlen);

/* predict_cb_t.done for an HTTP request (done_arg): answers 200 with r->out_body as the result
 * callback built it, or the error. */
void api_predict_done(void *r, int code, const char *msg);

#endif
