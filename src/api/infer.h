/* Inference endpoints (Open Inference Protocol and POST /inferences) over a model repository
 * and the compute pool. */
#ifndef INFERD_API_INFER_H
#define INFERD_API_INFER_H

#include "http/router.h"
#include "models/repo.h"
#include "sched/pool.h"
#include "store/store.h"

typedef struct infer_ctx infer_ctx_t;

/* Borrows repo, pool and store (all must outlive the context; store may be NULL: nothing is
 * recorded). session_threads is each engine session's thread count. NULL on out-of-memory. */
infer_ctx_t *api_infer_new(repo_t *repo, pool_t *pool, store_t *store, int session_threads);
/* GET /v2/models, /v2/models/{m}[/versions/{v}], /v2/models/{m}/ready;
 * POST /v2/models/{m}[/versions/{v}]/infer; POST /inferences, GET /inferences[/{id}]. */
void api_infer_register(http_router_t *rt, infer_ctx_t *ctx);
/* Frees the per-worker sessions; the pool must have stopped. */
void api_infer_free(infer_ctx_t *ctx);

#endif
