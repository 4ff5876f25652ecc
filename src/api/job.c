/* Request plumbing shared by the protocol files. */
#include "api/job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "util/err.h"

void *api_job_new(http_req_t *r, serve_t *sv, size_t size)
{
    api_job_t *j = calloc(1, size);
    if (!j) {
        api_reply_err(r, ERR_NOMEM, "out of memory");
        return NULL;
    }
    j->r = r;
    j->sv = sv;
    return j;
}

bool api_job_submit(void *job, serve_job_fn fn)
{
    api_job_t *j = job;
    if (serve_submit(j->sv, &j->job, fn) == 0) return true;
    api_reply_err(j->r, ERR_BUSY, "server busy: the compute queue is full");
    free(j);
    return false;
}

bool api_request_id(const http_req_t *r, const json_value_t *root, char out[API_MAX_REQUEST_ID + 1],
                    char *err, size_t errlen)
{
    out[0] = 0;
    const json_value_t *id = json_get(root, "id");
    if (!id) {
        const http_span_t *hid = http_req_header(r, "X-Request-Id");
        if (hid)
            snprintf(out, API_MAX_REQUEST_ID + 1, "%.*s",
                     (int)(hid->n < API_MAX_REQUEST_ID ? hid->n : API_MAX_REQUEST_ID), hid->p);
        return true;
    }
    size_t n = 0;
    const char *s = json_type(id) == JSON_STRING ? json_string(id, &n) : NULL;
    if (!s)
        err_set(err, errlen, "\"id\" must be a string");
    else if (strlen(s) != n)
        err_set(err, errlen, "\"id\" must not contain NUL characters");
    else if (n > API_MAX_REQUEST_ID)
        err_set(err, errlen, "\"id\" is %zu bytes; at most %d are kept", n, API_MAX_REQUEST_ID);
    else
        return memcpy(out, s, n + 1), true;
    return false;
}

void api_predict_done(void *arg, int code, const char *msg)
{
    http_req_t *r = arg;
    if (code == 0)
        http_reply_buf(r, 200, "application/json");
    else
        api_reply_err(r, code, "%s", msg);
}
