/* The /recommend pipeline: history -> user vector -> candidates -> ranker -> top k. */
#include "serve/recommend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kern/vec.h"
#include "models/recommender.h"
#include "serve/serve_internal.h"
#include "serve/sessions.h"
#include "util/clock.h"
#include "util/err.h"

typedef struct scored {
    int32_t row;
    float score;
} scored_t;

static int by_score_desc(const void *a, const void *b)
{
    const scored_t *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

static bool not_seen(void *arg, int64_t row)
{
    const uint64_t *seen = arg;
    return !(seen[row >> 6] >> (row & 63) & 1);
}

static void fill_hit(const rec_model_t *m, int32_t row, float score, rec_hit_t *h)
{
    h->item_id = m->item_id[row];
    h->title = m->titles + m->title_off[row];
    h->score = score;
}

/* Cold start: the most popular items not seen, scored by popularity. */
static void cold(const rec_model_t *m, const uint64_t *seen, int k, rec_hit_t *hits, rec_res_t *res)
{
    for (int i = 0; i < m->npopular && res->n < k; i++) {
        int32_t row = m->popular[i];
        if (!seen || not_seen((void *)seen, row))
            fill_hit(m, row, (float)m->pop[row], &hits[res->n++]);
    }
}

/* The user tower on the last max_history rows (tokens 1 + row, left-padded with 0). */
static int run_tower(serve_t *sv, const serve_worker_t *w, model_entry_t *me, const int32_t *rows,
                     int n, float *u, char *err, size_t errlen)
{
    const rec_model_t *m = me->rec;
    int L = m->f.max_history;
    int64_t tok[REC_MAX_HISTORY] = {0};
    int used = n < L ? n : L;
    for (int i = 0; i < used; i++) tok[L - used + i] = (int64_t)rows[n - used + i] + 1;
    eng_session_t *s = serve_session(sv, me, w);
    if (!s) return err_fail(err, errlen, ERR_NOMEM, "out of memory");
    tensor_t in = {.dtype = DT_INT64, .rank = 2, .dims = {1, L}, .data = tok};
    const tensor_t *out;
    int nout;
    char why[300];
    if (eng_session_run(s, &in, 1, &out, &nout, why, sizeof why))
        return err_fail(err, errlen, ERR_INTERNAL, "the user model failed: %s", why);
    memcpy(u, out[0].data, (size_t)m->dim * sizeof *u);
    return 0;
}

/* Ranker scores for the n candidate rows into sc[i].score. */
static int run_ranker(serve_t *sv, const serve_worker_t *w, model_entry_t *me, const float *u,
                      scored_t *sc, int n, char *err, size_t errlen)
{
    const rec_model_t *m = me->rec;
    int D = m->dim, F = 3 + D;
    float *f = malloc((size_t)n * (size_t)F * sizeof *f);
    if (!f) return err_fail(err, errlen, ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        float *row = f + (size_t)i * (size_t)F;
        const float *v = m->vecs + (size_t)sc[i].row * (size_t)D;
        row[0] = kern_dot_f32(u, v, D);
        row[1] = m->feat[2 * sc[i].row];
        row[2] = m->feat[2 * sc[i].row + 1];
        for (int d = 0; d < D; d++) row[3 + d] = u[d] * v[d];
    }
    eng_session_t *s = serve_session_of(sv, me, REPO_SLOT_RANKER_SESSIONS, m->ranker, w);
    tensor_t in = {.dtype = DT_FLOAT, .rank = 2, .dims = {n, F}, .data = f};
    const tensor_t *out;
    int nout, rc = 0;
    char why[300];
    if (!s) {
        rc = err_fail(err, errlen, ERR_NOMEM, "out of memory");
    } else if (eng_session_run(s, &in, 1, &out, &nout, why, sizeof why)) {
        rc = err_fail(err, errlen, ERR_INTERNAL, "the ranker failed: %s", why);
    } else if (out[0].dtype != DT_FLOAT || tensor_numel(&out[0]) != n) {
        rc = err_fail(err, errlen, ERR_INTERNAL, "the ranker must answer one score per candidate");
    } else {
        const float *score = out[0].data;
        for (int i = 0; i < n; i++) sc[i].score = score[i];
    }
    free(f);
    return rc;
}

int serve_recommend(serve_t *sv, const serve_worker_t *w, const rec_req_t *q, rec_hit_t *hits,
                    rec_res_t *res, char *err, size_t errlen)
{
    model_entry_t *me = q->model;
    const rec_model_t *m = me->rec;
    *res = (rec_res_t){0};
    /* The history as rows: the users file's, or the request's known items. */
    const int32_t *rows = NULL;
    int32_t *own = NULL;
    int n = 0;
    if (q->has_user) {
        rows = rec_user_history(m, q->user_id, &n);
    } else if (q->nhistory > 0) {
        if (!(own = malloc((size_t)q->nhistory * sizeof *own)))
            return err_fail(err, errlen, ERR_NOMEM, "out of memory");
        for (int i = 0; i < q->nhistory; i++) {
            int32_t r = rec_item_row(m, q->history[i]);
            if (r >= 0) own[n++] = r;
        }
        rows = own;
    }
    uint64_t *seen = NULL;
    if (q->exclude_seen && n > 0) {
        if (!(seen = calloc(((size_t)m->nitems + 63) / 64, sizeof *seen))) {
            free(own);
            return err_fail(err, errlen, ERR_NOMEM, "out of memory");
        }
        for (int i = 0; i < n; i++) seen[rows[i] >> 6] |= 1ull << (rows[i] & 63);
    }
    int rc = 0;
    float *u = NULL;
    scored_t *sc = NULL;
    int64_t *ids = NULL;
    float *dists = NULL;
    if (n == 0) {
        res->path = REC_COLD;
        cold(m, seen, q->k, hits, res);
        goto out;
    }
    res->history_used = n < m->f.max_history ? n : m->f.max_history;
    int C = m->f.candidates;
    u = malloc((size_t)m->dim * sizeof *u);
    sc = malloc((size_t)C * sizeof *sc);
    ids = malloc((size_t)C * sizeof *ids);
    dists = malloc((size_t)C * sizeof *dists);
    if (!u || !sc || !ids || !dists) {
        rc = err_fail(err, errlen, ERR_NOMEM, "out of memory");
        goto out;
    }
    /* Embed: a known user's vector is cached (their history is the model's, so it cannot change
     * while this version serves). */
    uint64_t t0 = clock_mono_ns();
    lru_val_t *hit = q->has_user ? lru_get(m->cache, &q->user_id, sizeof q->user_id) : NULL;
    if (hit && lru_val_len(hit) == (size_t)m->dim * sizeof *u) {
        memcpy(u, lru_val_data(hit), lru_val_len(hit));
        res->path = REC_CACHED;
    } else {
        if ((rc = run_tower(sv, w, me, rows, n, u, err, errlen))) goto out;
        if (q->has_user) lru_put(m->cache, &q->user_id, sizeof q->user_id, u, (size_t)m->dim * 4);
        res->path = REC_COMPUTED;
    }
    if (hit) lru_release(hit);
    uint64_t t1 = clock_mono_ns();
    /* Retrieve: seen items are refused inside the search, so C candidates are all new. */
    idx_search_params_t sp = {.keep = seen ? not_seen : NULL, .keep_arg = seen};
    int nc = idx_search(m->index, u, C, &sp, ids, dists);
    if (nc < 0) {
        rc = err_fail(err, errlen, ERR_INTERNAL, "the user model gave a non-finite vector");
        goto out;
    }
    for (int i = 0; i < nc; i++) sc[i].row = (int32_t)ids[i];
    uint64_t t2 = clock_mono_ns();
    /* Rank. */
    if (nc > 0 && (rc = run_ranker(sv, w, me, u, sc, nc, err, errlen))) goto out;
    qsort(sc, (size_t)nc, sizeof *sc, by_score_desc);
    for (int i = 0; i < nc && res->n < q->k; i++)
        fill_hit(m, sc[i].row, sc[i].score, &hits[res->n++]);
    uint64_t t3 = clock_mono_ns();
    res->ms_embed = (double)(t1 - t0) / 1e6;
    res->ms_retrieve = (double)(t2 - t1) / 1e6;
    res->ms_rank = (double)(t3 - t2) / 1e6;
    metric_observe_ns(sv->m_rec_stage[0], t1 - t0);
    metric_observe_ns(sv->m_rec_stage[1], t2 - t1);
    metric_observe_ns(sv->m_rec_stage[2], t3 - t2);
out:
    if (!rc) metric_add(sv->m_rec_path[res->path], 1);
    free(own);
    free(seen);
    free(u);
    free(sc);
    free(ids);
    free(dists);
    return rc;
}
