/* HTTP/1.1 server: N event-loop threads, each with its own SO_REUSEPORT listener and its own
 * connections; limits from config_t; graceful drain on shutdown. */
#ifndef INFERD_HTTP_SERVER_H
#define INFERD_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "http/router.h"

typedef struct http_server http_server_t;

/* Called for every request before its handler, and before a 404/405 (r->route is then NULL).
 * Return true to go on; to refuse, reply to r (e.g. 401) and return false. */
typedef bool (*http_guard_fn)(http_req_t *r, void *arg);

/* Creates a server over cfg (borrowed; must outlive the server) and rt (borrowed). Binds the
 * listeners so that errors such as "address in use" surface here. NULL with err on failure. */
http_server_t *http_server_new(const config_t *cfg, http_router_t *rt, char *err, size_t errlen);
/* Installs the guard (API keys). Call before start. */
void http_server_set_guard(http_server_t *s, http_guard_fn fn, void *arg);
/* Starts the event-loop threads. 0 or -errno. */
int http_server_start(http_server_t *s);
/* The bound port (useful with port 0). */
int http_server_port(const http_server_t *s);
/* Stops accepting, closes idle connections and waits up to timeout_ms for in-flight requests to
 * be answered and connections to close. Returns true if everything finished in time. */
bool http_server_drain(http_server_t *s, long timeout_ms);
/* Stops and joins the loops, closing whatever connections remain. */
void http_server_stop(http_server_t *s);
/* Frees the server (after stop). */
void http_server_free(http_server_t *s);

#endif
