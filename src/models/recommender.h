/* A recommender model folder (seed 001's pipeline), as scripts/train_recommender.sh writes it
 * (docs/recommend.md):
 *
 *   DIR/<name>/config.ini   [model] kind = recommender, and which file is which:
 *     user_model   (user_tower.onnx) history int64 [N, max_history] -> user float [N, D]; the
 *                  history holds tokens 1 + item row, oldest first, left-padded with 0
 *     ranker_model (ranker.onnx)     features float [N, 3 + D] -> score float [N, 1]; a
 *                  candidate's features are u.v, log1p(popularity), mean rating / 5, then u*v
 *     index        (items.index)     an inferd index over the item vectors, ids = item rows
 *     vectors      (items.npy)       the item vectors, row r (the ranker's features need them
 *                                    even when the index keeps only codes)
 *     items        (items.tsv)       row (1..N, in order), item id, popularity, mean rating, title
 *     users        (users.tsv)       user id, the item ids they rated, oldest first
 *     max_history (50), candidates (100), user_cache_mb (16)
 *
 * Everything is read beneath the folder through the caller's opener and checked against the
 * rest (dimensions, counts, rows, ids); a folder that does not fit is refused whole. */
#ifndef INFERD_MODELS_RECOMMENDER_H
#define INFERD_MODELS_RECOMMENDER_H

#include <stdatomic.h>
#include <stdint.h>

#include "cache/lru.h"
#include "engine/engine.h"
#include "index/index.h"
#include "text/textio.h"
#include "util/i64map.h"

#define REC_PATH_MAX       128
#define REC_MAX_HISTORY    1024
#define REC_MAX_CANDIDATES 10000
#define REC_POPULAR        1000 /* cold-start answers come from this many most popular items */

typedef struct rec_folder {
    char user_model[REC_PATH_MAX], ranker_model[REC_PATH_MAX], index[REC_PATH_MAX],
        vectors[REC_PATH_MAX], items[REC_PATH_MAX], users[REC_PATH_MAX];
    int max_history, candidates, user_cache_mb;
} rec_folder_t;

typedef struct rec_model {
    rec_folder_t f;
    eng_model_t *ranker;
    idx_t *index;
    int nitems, dim;
    float *vecs;      /* nitems x dim */
    int64_t *item_id; /* per row */
    int32_t *pop;     /* per row: ratings in training */
    float *feat;      /* per row: log1p(popularity), mean rating / 5 */
    char *titles;     /* per row, NUL-terminated, at title_off[row] */
    uint32_t *title_off;
    i64map_t item_row; /* item id -> row */
    i64map_t user_at;  /* user id -> index u: history rows hist[hist_off[u] .. hist_off[u+1]) */
    int64_t nusers;
    int64_t *hist_off;
    int32_t *hist;
    int32_t *popular; /* rows, most popular first (npopular) */
    int npopular;
    lru_t *cache; /* user id -> user vector (D floats) */
} rec_model_t;

/* Reads config.ini beneath the folder dirfd. 0 when it says kind = recommender (out filled,
 * defaults applied); -ENOENT when there is no config.ini or it is not a recommender's; -EINVAL
 * with the problem (key and line) in err. */
int rec_folder_read(int dirfd, text_open_fn opener, rec_folder_t *out, char *err, size_t errlen);
/* Whether name is one of a recommender's config.ini keys (the repository's own parser skips
 * them). */
bool rec_folder_key(const char *name);

/* Loads everything but the user tower (tower: already loaded, checked against the rest) beneath
 * dirfd. NULL with the problem, naming the file, in err. */
rec_model_t *rec_load(int dirfd, text_open_fn opener, const rec_folder_t *f,
                      const eng_model_t *tower, char *err, size_t errlen);
void rec_free(rec_model_t *m);

/* The row of item id, or -1. */
int32_t rec_item_row(const rec_model_t *m, int64_t item_id);
/* User id's history rows (oldest first) and their count; NULL when the user is unknown. */
const int32_t *rec_user_history(const rec_model_t *m, int64_t user_id, int *n);

#endif
