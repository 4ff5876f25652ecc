/* HTTP endpoints. Each file registers one family of routes on the router. */
#ifndef INFERD_API_API_H
#define INFERD_API_API_H

#include <stdatomic.h>
#include <stdbool.h>

#include "config.h"
#include "http/router.h"
#include "serve/serve.h"

/* What readiness consults; a NULL member is not consulted. The caller owns it and may fill it
 * after registration, before the server starts. */
typedef struct api_health {
    struct repo *repo;     /* ready once the initial load is done and the directory is readable */
    struct store *store;   /* ready while the store can write */
    struct colls *colls;   /* ready once the collections are loaded */
    _Atomic bool stopping; /* set at shutdown: not ready, and neither member is read any more */
} api_health_t;

/* GET /v2/health/live, GET /v2/health/ready (public: no API key). Readiness is 200
 * {"ready":true}, or 503 {"ready":false,"reason":...} naming the first check that failed. */
void api_health_register(http_router_t *rt, const api_health_t *h);
/* GET /metrics. */
void api_metrics_register(http_router_t *rt);
/* GET /debug/delay?ms=N (answered from another thread after N ms) and POST /debug/echo; only
 * registered when debug_endpoints is set. */
void api_debug_register(http_router_t *rt);
/* Stops the debug endpoint's timer thread, answering what it still holds (a shutdown hook). */
void api_debug_shutdown(void);

/* The HTTP status for an error code of util/err.h (0 -> 200): the one mapping every handler
 * uses. */
int api_http_status(int code);
/* Answers r with {"error": message} and api_http_status(code); a 503 that is worth retrying
 * soon (not ERR_SHUTDOWN or ERR_NOMEM) carries Retry-After: 1. */
void api_reply_err(http_req_t *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Open Inference Protocol (oip.c): GET /v2/models, /v2/models/{m}[/versions/{v}],
 * /v2/models/{m}/ready; POST /v2/models/{m}[/versions/{v}]/infer;
 * POST /v2/repository/models/{m}/load. sv must outlive the router. */
void api_oip_register(http_router_t *rt, serve_t *sv);
/* The seed's records API (inferences.c): POST /inferences, GET /inferences[/{id}]. */
void api_inferences_register(http_router_t *rt, serve_t *sv);

/* Recommendations (recommend.c): POST /recommend over a recommender model. */
void api_recommend_register(http_router_t *rt, serve_t *sv);

/* Vector collections (collections.c): PUT/GET/DELETE /collections/{c}, GET /collections,
 * POST /collections/{c}/points, POST /collections/{c}/search, DELETE
 * /collections/{c}/points/{id}. The caller owns a and keeps it for the router's life. */
struct colls;
struct embedders;
typedef struct api_colls {
    serve_t *sv;
    struct colls *colls;
    struct embedders *emb; /* embeds "texts" and "text" (NULL: none) */
} api_colls_t;
void api_collections_register(http_router_t *rt, const api_colls_t *a);

/* API keys. auth_new parses cfg->api_keys and cfg->api_key_hashes; NULL with err if a hash is
 * malformed. With no keys configured, every request passes. */
typedef struct auth auth_t;
auth_t *auth_new(const config_t *cfg, char *err, size_t errlen);
void auth_free(auth_t *a);
/* The http_guard_fn: lets public routes through, checks "Authorization: Bearer <key>" on the
 * rest in constant time, answers 401 otherwise. */
bool auth_guard(http_req_t *r, void *auth);

/* Embedding endpoints (TEI's POST /embed, POST /tokenize, GET /info; OpenAI's
 * POST /v1/embeddings) over the embedding models in emb. Bodies above 16 KiB are parsed on pool. */
typedef struct api_embed api_embed_t;
struct embedders;
api_embed_t *api_embed_new(struct embedders *emb, struct pool *pool, int max_inputs,
                           size_t max_body);
void api_embed_register(http_router_t *rt, api_embed_t *ctx);
void api_embed_free(api_embed_t *ctx);

/* Event ingestion (ingest.c): POST /api/v1/write/msgpack, /api/v1/write/line-protocol,
 * /api/v2/write, /write into g; bodies decompress to at most max_decoded bytes. */
struct ingest;
typedef struct api_ingest api_ingest_t;
api_ingest_t *api_ingest_new(struct ingest *g, size_t max_decoded);
void api_ingest_register(http_router_t *rt, api_ingest_t *a);
/* Lets go of the ingest store (writes are answered 503 from then on): before closing it. */
void api_ingest_detach(api_ingest_t *a);
void api_ingest_free(api_ingest_t *a);

#endif
