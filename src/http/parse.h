/* Strict, incremental HTTP/1.1 request parser (RFC 9110/9112). It never allocates: a parsed
 * head is a set of spans into the caller's buffer, valid while that buffer is unchanged. */
#ifndef INFERD_HTTP_PARSE_H
#define INFERD_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

#define HTTP_MAX_HEADERS 64 /* more header fields than this: 431 */

typedef struct http_span {
    const char *p;
    size_t n;
} http_span_t;

typedef enum http_method {
    HTTP_OTHER = 0, /* a valid token we do not route (e.g. TRACE); router answers 405 */
    HTTP_GET,
    HTTP_HEAD,
    HTTP_POST,
    HTTP_PUT,
    HTTP_DELETE,
    HTTP_PATCH,
    HTTP_OPTIONS,
} http_method_t;

typedef struct http_header {
    http_span_t name;  /* as sent; compare case-insensitively */
    http_span_t value; /* leading and trailing OWS removed */
} http_header_t;

typedef struct http_head {
    http_method_t method;
    http_span_t method_str;
    http_span_t target; /* request-target as sent (origin-form, or "*" for OPTIONS) */
    http_span_t path;   /* target up to '?' (not percent-decoded) */
    http_span_t query;  /* after '?', empty when absent */
    int minor;          /* HTTP/1.<minor>: 0 or 1 */
    http_header_t headers[HTTP_MAX_HEADERS];
    int nheaders;
    size_t head_len; /* bytes of the head, the terminating empty line included */

    /* Derived from the fields above. */
    int64_t content_length; /* -1 when absent */
    bool chunked;           /* Transfer-Encoding: chunked */
    bool keep_alive;        /* HTTP/1.1 unless "Connection: close"; 1.0 only with keep-alive */
    bool expect_continue;   /* Expect: 100-continue */
} http_head_t;

enum {
    HTTP_PARSE_DONE = 1,  /* head complete; fields of http_head_t are set */
    HTTP_PARSE_AGAIN = 0, /* need more bytes */
    HTTP_PARSE_ERROR = -1 /* malformed; *status and *reason say why */
};

/* Parses one request head from buf[0..len). At most max_head bytes are allowed for the head;
 * past that the result is an error with status 431. On error sets *status to the HTTP status to
 * answer (400, 417 for an Expect other than 100-continue, 431, 501 for an unsupported transfer
 * coding, 505 for a version other than 1.0/1.1)
 * and *reason to a static, human-readable message. The parser is stateless: call it again on the
 * whole buffer when more bytes arrive. */
int http_parse_head(const char *buf, size_t len, size_t max_head, http_head_t *h, int *status,
                    const char **reason);

/* Returns the value of the first header named `name` (case-insensitive), or NULL. */
const http_span_t *http_head_get(const http_head_t *h, const char *name);

/* Chunked transfer-coding decoder (RFC 9112 section 7.1). Chunk extensions are skipped and
 * trailer fields are read and discarded. */
typedef struct http_chunked {
    int state;
    uint64_t remaining; /* bytes left in the current chunk */
    size_t meta_bytes;  /* bytes of chunk-size lines, extensions and trailers seen so far */
    int ndigits;
} http_chunked_t;

/* Resets the decoder for a new body. */
void http_chunked_init(http_chunked_t *c);

/* Decodes in[0..len), appending chunk data to out. Sets *consumed to the bytes used from `in`.
 * Returns HTTP_PARSE_DONE after the last chunk and trailers, HTTP_PARSE_AGAIN when all input was
 * used and more is needed, HTTP_PARSE_ERROR with *status, *reason (400 malformed, 413 when the
 * decoded body would exceed max_body, 431 when the framing overhead exceeds max_meta bytes, 500 on
 * allocation failure). */
int http_chunked_decode(http_chunked_t *c, const char *in, size_t len, size_t *consumed, buf_t *out,
                        size_t max_body, size_t max_meta, int *status, const char **reason);

/* Finds key in a query string ("a=1&b=x%20y") and percent-decodes its value ('+' is a space)
 * into out, NUL-terminated. Returns 1 if found, 0 if not, -1 if the value is malformed (bad
 * escape, a NUL) or does not fit in cap bytes. */
int http_query_get(http_span_t query, const char *key, char *out, size_t cap);

/* Case-insensitive comparison of a span with a NUL-terminated ASCII string. */
bool http_span_ieq(http_span_t s, const char *lit);

#endif
