/* Recommend: seed 001's pipeline over a recommender model (models/recommender.h), on a compute
 * worker: the user tower turns the user's recent items into a vector (or the cache has it), the
 * item index gives the nearest candidates (seen items filtered inside the search), the ranker
 * re-scores them, and the best k are answered. A user with no known history gets the most
 * popular items (cold start), never an error. */
#ifndef INFERD_SERVE_RECOMMEND_H
#define INFERD_SERVE_RECOMMEND_H

#include <stdbool.h>
#include <stdint.h>

#include "serve/serve.h"

typedef struct rec_req {
    model_entry_t *model; /* borrowed, a recommender (model->rec) */
    bool has_user;        /* user_id given: its history comes from the model's users file */
    int64_t user_id;
    const int64_t *history; /* or these item ids, oldest first (unknown ones are skipped) */
    int nhistory;
    int k; /* 1 .. the model's candidates */
    bool exclude_seen;
} rec_req_t;

typedef enum rec_path { REC_COLD, REC_CACHED, REC_COMPUTED } rec_path_t;

typedef struct rec_hit {
    int64_t item_id;
    const char *title; /* the model's: valid while the caller holds its reference */
    float score;       /* the ranker's; cold start: the item's popularity */
} rec_hit_t;

typedef struct rec_res {
    rec_path_t path;
    int n;            /* hits filled (fewer than k only when fewer items are left) */
    int history_used; /* history items the tower read (known ones, at most max_history) */
    double ms_embed, ms_retrieve, ms_rank;
} rec_res_t;

/* Runs q on worker w (w's own sessions): fills hits[0..k) and res. 0, or ERR_NOMEM /
 * ERR_INTERNAL (a model failed to run) with the problem in err. */
int serve_recommend(serve_t *sv, const serve_worker_t *w, const rec_req_t *q, rec_hit_t *hits,
                    rec_res_t *res, char *err, size_t errlen);

#endif
