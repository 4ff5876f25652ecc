/* One error convention for the whole server: a function returns 0 or a negative code and fills
 * a caller-supplied `char *err, size_t errlen` with a message for people. The codes are negative
 * errno values, so the store's codes (-EBADMSG, -ESTALE, ...) and the system's need no mapping;
 * the names below say what a caller should do about each. api/status.c turns a code into an
 * HTTP status in one place. */
#ifndef INFERD_UTIL_ERR_H
#define INFERD_UTIL_ERR_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>

enum {
    ERR_INVALID = -EINVAL,      /* the request is malformed or does not fit: fix it (400) */
    ERR_UNAUTHORIZED = -EACCES, /* no valid credentials (401) */
    ERR_NOT_FOUND = -ENOENT,    /* no such model, record or route (404) */
    ERR_CONFLICT = -EEXIST,     /* clashes with the current state (409) */
    ERR_TOO_LARGE = -EMSGSIZE,  /* more than a limit allows in one request (413) */
    ERR_REFUSED = -EBADMSG,     /* the store refuses this data as it is: retrying cannot help
                                 * (422) */
    ERR_INTERNAL = -EPROTO,     /* a fault of ours, not the client's (500) */
    ERR_BUSY = -EAGAIN,         /* a bounded queue is full: retry shortly (503, Retry-After) */
    ERR_UNAVAILABLE = -EIO,     /* a dependency cannot serve now, e.g. the store cannot write
                                 * (503, Retry-After); so is any code not named here */
    ERR_SHUTDOWN = -ESHUTDOWN,  /* the server is shutting down (503, no Retry-After) */
    ERR_NOMEM = -ENOMEM,        /* out of memory (503, no Retry-After) */
};

/* Writes the printf-style message into err (when err is not NULL and errlen > 0), cut to fit.
 * Returns nothing so that `return err_set(...), ERR_X;` reads as one step. */
void err_set(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* err_set with a va_list, for functions that add context of their own. */
void err_vset(char *err, size_t errlen, const char *fmt, va_list ap);
/* err_set, then returns code: `return err_fail(err, errlen, ERR_INVALID, "...", ...);`. */
int err_fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
