/* The request/response API that handlers see. A handler is called on an event-loop thread with a
 * complete request; it answers with one of the http_reply* calls, either before returning or
 * later from any thread (the answer then travels back to the loop through its task queue). Until
 * the reply, the request and everything it points to stay valid, even if the client goes away. */
#ifndef INFERD_HTTP_HTTP_H
#define INFERD_HTTP_HTTP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/parse.h"
#include "net/loop.h"
#include "util/buf.h"

#define HTTP_MAX_PARAMS 4

typedef struct http_conn http_conn_t;
typedef struct http_req http_req_t;
typedef struct http_route http_route_t;

struct http_req {
    /* Request, read-only for handlers. Spans point into memory the request owns. */
    http_head_t head;
    const char *body;
    size_t body_len;
    http_span_t params[HTTP_MAX_PARAMS]; /* path parameters, in pattern order */
    int nparams;
    const http_route_t *route;
    uint64_t t_start_ns; /* monotonic time the head was complete */

    /* Response, filled by http_reply*. */
    int status;
    const char *content_type;
    buf_t out_headers; /* extra "Name: value\r\n" lines */
    buf_t out_body;

    /* Owned by the connection machinery. */
    loop_task_t done_task;
    http_conn_t *conn;
    loop_t *loop;
    http_req_t *next; /* pipeline order on the connection */
    bool done;
    bool dispatched; /* handed to a handler (counts as in flight until answered) */
    bool keep_alive;
    char *raw;          /* the request's own copy of head and body */
    size_t body_charge; /* bytes counted against max_body_memory, returned at free */
    buf_t chunked_body;
};

/* Returns the value of the first request header called name (case-insensitive), or NULL. */
const http_span_t *http_req_header(const http_req_t *r, const char *name);
/* Returns path parameter i as a new NUL-terminated string in buf (truncated to len-1). */
const char *http_req_param(const http_req_t *r, int i, char *buf, size_t len);

/* Adds a response header line; name and value are copied. Call before the reply. */
void http_add_header(http_req_t *r, const char *name, const char *value);
/* Answers with status and body (copied). Thread-safe; exactly once per request. */
void http_reply(http_req_t *r, int status, const char *content_type, const void *body, size_t len);
/* Answers with status and r->out_body as it stands (handlers may have built it with buf_*). */
void http_reply_buf(http_req_t *r, int status, const char *content_type);
/* Answers {"error": "<printf message>"} with status. Thread-safe; exactly once per request. */
void http_reply_error(http_req_t *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* http_reply_error with a va_list, for wrappers that pick the status (api_reply_err). */
void http_reply_verror(http_req_t *r, int status, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Reason phrase for a status code ("Not Found"); "Unknown" for codes we never send. */
const char *http_status_text(int status);

#endif
