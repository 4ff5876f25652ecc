/* Serving context: the compute jobs (with their queue-wait metric), model lookup and the stage
 * metrics the operations share. */
#include "serve/serve.h"

#include <stdio.h>
#include <stdlib.h>

#include "serve/serve_internal.h"
#include "util/clock.h"
#include "util/err.h"

serve_t *serve_new(repo_t *repo, pool_t *pool, store_t *store, int session_threads)
{
    serve_t *sv = calloc(1, sizeof *sv);
    if (!sv) return NULL;
    sv->repo = repo;
    sv->pool = pool;
    sv->store = store;
    sv->nworkers = pool_threads(pool);
    sv->session_threads = session_threads;
    metric_family_t *stage =
        metrics_family("inferd_stage_seconds",
                       "Time per request stage: queue_wait (compute queue), compute "
                       "(decode, inference, encode)",
                       METRIC_HISTOGRAM, metrics_latency_buckets, metrics_latency_nbuckets);
    sv->m_queue_wait = metrics_series(stage, "stage=\"queue_wait\"", false);
    sv->m_compute = metrics_series(stage, "stage=\"compute\"", false);
    sv->m_commit = metrics_series(stage, "stage=\"commit\"", false);
    sv->m_rows = metrics_series(metrics_family("inferd_inference_rows_total",
                                               "Rows inferred (a request may hold many)",
                                               METRIC_COUNTER, NULL, 0),
                                "", false);
    sv->m_rejected =
        metrics_series(metrics_family("inferd_compute_rejected_total",
                                      "Requests answered 503 because the compute queue was full",
                                      METRIC_COUNTER, NULL, 0),
                       "", false);
    metric_family_t *rs = metrics_family(
        "inferd_recommend_stage_seconds",
        "Time per /recommend stage: embed (user tower, or the cache), retrieve (item index), rank "
        "(ranker)",
        METRIC_HISTOGRAM, metrics_latency_buckets, metrics_latency_nbuckets);
    metric_family_t *rp = metrics_family(
        "inferd_recommend_requests_total",
        "Recommendations by path: cold (popular items: no known history), cached (the user's "
        "vector from the cache), computed (the user tower ran)",
        METRIC_COUNTER, NULL, 0);
    const char *stages[] = {"stage=\"embed\"", "stage=\"retrieve\"", "stage=\"rank\""};
    const char *paths[] = {"path=\"cold\"", "path=\"cached\"", "path=\"computed\""};
    for (int i = 0; i < 3; i++) {
        sv->m_rec_stage[i] = metrics_series(rs, stages[i], true);
        sv->m_rec_path[i] = metrics_series(rp, paths[i], true);
    }
    return sv;
}

void serve_free(serve_t *sv)
{
    free(sv);
}

repo_t *serve_repo(const serve_t *sv)
{
    return sv->repo;
}

store_t *serve_store(const serve_t *sv)
{
    return sv->store;
}

/* Every job starts here on its worker: the queue wait is measured once, for all operations. */
static void run_job(void *arg, int worker)
{
    serve_job_t *job = arg;
    serve_worker_t w = {worker, clock_mono_ns()};
    metric_observe_ns(job->sv->m_queue_wait, w.t_start_ns - job->t_queued);
    job->fn(job, &w);
}

int serve_submit(serve_t *sv, serve_job_t *job, serve_job_fn fn)
{
    *job = (serve_job_t){sv, fn, clock_mono_ns()};
    if (pool_submit(sv->pool, run_job, job) == 0) return 0;
    metric_add(sv->m_rejected, 1);
    return ERR_BUSY;
}

model_entry_t *serve_model(serve_t *sv, const char *name, int64_t version, char *err, size_t errlen)
{
    model_entry_t *me = repo_acquire(sv->repo, name, version);
    if (me) return me;
    model_entry_t *any = version >= 0 ? repo_acquire(sv->repo, name, -1) : NULL;
    if (any)
        err_set(err, errlen, "model \"%s\" has no version %lld", name, (long long)version);
    else
        err_set(err, errlen, "unknown model \"%s\"", name);
    repo_release(any);
    return NULL;
}
