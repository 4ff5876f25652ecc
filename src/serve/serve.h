/* Serving: transport-free request execution. A protocol file in api/ parses a request into
 * native values, hands a job to serve's compute pool, and on a compute worker calls one of
 * serve's operations, which runs the model, records what must be recorded and reports back
 * through callbacks; no JSON or HTTP type crosses this line. Every operation has the same shape,
 * so the ones to come (embed: tokenize, batch, run, pool) fit beside predict:
 *
 *   X_req_t   the native request (a model reference, tensors or texts, options)
 *   X_res_t   what the operation produced (outputs, record ids), valid during the result call
 *   X_cb_t    result(arg, res): build the answer (on the thread that finished the work);
 *             done(arg, code, msg): exactly once, last: send the answer (code 0) or the error
 *             (code: util/err.h), possibly on another thread (the store's, after a commit)
 *
 * The compute pool (sched/pool.c) stays a separate, policy-free mechanism (N threads, one bounded
 * queue); serve owns what runs on it: the jobs, the per-worker engine sessions (sessions.c) and
 * the stage metrics. */
#ifndef INFERD_SERVE_SERVE_H
#define INFERD_SERVE_SERVE_H

#include <stdint.h>

#include "models/repo.h"
#include "sched/pool.h"
#include "store/store.h"

typedef struct serve serve_t;

/* The compute worker a job runs on: its index (0..threads-1, for per-worker state such as engine
 * sessions) and when the job started there. */
typedef struct serve_worker {
    int id;
    uint64_t t_start_ns;
} serve_worker_t;

/* A job: embed it as the first member of the caller's job struct and give serve_submit a
 * function that recovers the struct from it. */
typedef struct serve_job serve_job_t;
typedef void (*serve_job_fn)(serve_job_t *job, const serve_worker_t *w);
struct serve_job { /* filled by serve_submit */
    serve_t *sv;
    serve_job_fn fn;
    uint64_t t_queued;
};

/* Borrows repo, pool and store (all must outlive it; store may be NULL: nothing is recorded).
 * session_threads is each engine session's thread count. NULL on out-of-memory. */
serve_t *serve_new(repo_t *repo, pool_t *pool, store_t *store, int session_threads);
/* The pool must have stopped. Sessions live on with their model entries (sessions.c). */
void serve_free(serve_t *sv);

repo_t *serve_repo(const serve_t *sv);
store_t *serve_store(const serve_t *sv);

/* Queues job on the compute pool; fn(job, worker) runs there. 0, or ERR_BUSY when the queue is
 * full or the pool is stopping (counted; the caller answers and frees the job). Thread-safe. */
int serve_submit(serve_t *sv, serve_job_t *job, serve_job_fn fn);

/* The model called name at version (the highest when version < 0) with a reference
 * (repo_release it), or NULL with ERR_NOT_FOUND's message in err, which names the version when
 * that is what is missing. */
model_entry_t *serve_model(serve_t *sv, const char *name, int64_t version, char *err,
                           size_t errlen);

#endif
