/* Error codes (util/err.h) to HTTP statuses: the one place where a failure becomes a status. */
#include <stdarg.h>

#include "api/api.h"
#include "util/err.h"

int api_http_status(int code)
{
    switch (code) {
    case 0: return 200;
    case ERR_INVALID: return 400;
    case ERR_UNAUTHORIZED: return 401;
    case ERR_NOT_FOUND: return 404;
    case ERR_CONFLICT: return 409;
    case ERR_TOO_LARGE: return 413;
    case ERR_REFUSED: return 422;
    case ERR_INTERNAL: return 500;
    default: return 503; /* busy, unavailable, shutting down, out of memory, anything else */
    }
}

void api_reply_err(http_req_t *r, int code, const char *fmt, ...)
{
    int status = api_http_status(code);
    /* Worth retrying soon: a full queue or a dependency that is down. Not when the server is
     * going away or short of memory. */
    if (status == 503 && code != ERR_SHUTDOWN && code != ERR_NOMEM)
        http_add_header(r, "Retry-After", "1");
    va_list ap;
    va_start(ap, fmt);
    http_reply_verror(r, status, fmt, ap);
    va_end(ap);
}
