/* Internal to src/serve: the context the operations share. */
#ifndef INFERD_SERVE_INTERNAL_H
#define INFERD_SERVE_INTERNAL_H

#include "metrics/metrics.h"
#include "serve/serve.h"

struct serve {
    repo_t *repo;
    pool_t *pool;
    store_t *store; /* NULL: nothing is recorded */
    int nworkers, session_threads;
    metric_t *m_queue_wait, *m_compute, *m_commit;
    metric_t *m_rows, *m_rejected;
    metric_t *m_rec_stage[3]; /* recommend.c: embed, retrieve, rank */
    metric_t *m_rec_path[3];  /* recommend.c: cold, cached, computed */
};

#endif
