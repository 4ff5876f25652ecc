/* POST /recommend (seed 001; serve/recommend.h does the work):
 *   {"user_id": N | "history": [item ids, oldest first], "k"?: 10, "exclude_seen"?: true,
 *    "model"?: name, "timings"?: false}
 *   -> {"user_id": N | null, "cold_start": bool,
 *       "items": [{"item_id", "title", "score"}, ...], "timings_ms"?: {"embed", "retrieve",
 * "rank"}} Parsed and run on serve's compute pool. Without "model" the repository's only
 * recommender answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/job.h"
#include "models/recommender.h"
#include "serve/recommend.h"
#include "util/err.h"
#include "util/floatfmt.h"
#include "util/json.h"

#define MAX_HISTORY_IDS 10000 /* items a request's history may list */

typedef struct rec_job {
    api_job_t base;
} rec_job_t;

typedef struct find_ctx {
    char name[160];
    int n;
} find_ctx_t;

static void find_rec(const model_entry_t *e, void *arg)
{
    find_ctx_t *f = arg;
    if (!e->rec || (f->n && !strcmp(f->name, e->name))) return;
    if (!f->n) snprintf(f->name, sizeof f->name, "%s", e->name);
    f->n++;
}

/* The recommender the request names, or the only one loaded. NULL with code and message. */
static model_entry_t *pick_model(serve_t *sv, const json_value_t *mv, int *code, char *err,
                                 size_t errlen)
{
    find_ctx_t f = {.n = 0};
    const char *name;
    if (mv) {
        if (!(name = json_string(mv, NULL)) || !*name) {
            *code = err_fail(err, errlen, ERR_INVALID, "\"model\" must be a model's name");
            return NULL;
        }
    } else {
        repo_each(serve_repo(sv), find_rec, &f);
        if (f.n != 1) {
            *code = err_fail(err, errlen, f.n ? ERR_INVALID : ERR_NOT_FOUND, "%s",
                             f.n ? "several recommenders are loaded: name one with \"model\""
                                 : "no recommender model is loaded");
            return NULL;
        }
        name = f.name;
    }
    model_entry_t *me = serve_model(sv, name, -1, err, errlen);
    if (!me) {
        *code = ERR_NOT_FOUND;
        return NULL;
    }
    if (!me->rec) {
        repo_release(me);
        *code = err_fail(err, errlen, ERR_INVALID, "model %s is not a recommender", name);
        return NULL;
    }
    return me;
}

static bool is_int(const json_value_t *v)
{
    return v && json_type(v) == JSON_NUMBER && json_is_integer(v);
}

/* Fills q from the body (history points into *hist, which the caller frees). */
static int parse(const json_value_t *root, const rec_model_t *m, rec_req_t *q, int64_t **hist,
                 bool *timings, char *err, size_t errlen)
{
    static const char *const keys[] = {"user_id", "history", "k", "exclude_seen",
                                       "model",   "timings", NULL};
    if (json_type(root) != JSON_OBJECT)
        return err_fail(err, errlen, ERR_INVALID,
                        "body must be {\"user_id\": N | \"history\": [item ids], \"k\"?, "
                        "\"exclude_seen\"?}");
    long unknown = json_unknown_key(root, keys);
    if (unknown >= 0)
        return err_fail(err, errlen, ERR_INVALID, "unknown member \"%.60s\"",
                        json_key_at(root, (size_t)unknown, NULL));
    const json_value_t *uv = json_get(root, "user_id"), *hv = json_get(root, "history");
    if (!!uv + !!hv != 1)
        return err_fail(err, errlen, ERR_INVALID,
                        "give exactly one of \"user_id\" and \"history\"");
    if (uv) {
        if (!is_int(uv))
            return err_fail(err, errlen, ERR_INVALID, "\"user_id\" must be an integer");
        q->has_user = true;
        q->user_id = json_int(uv);
    } else {
        size_t n = json_size(hv);
        if (json_type(hv) != JSON_ARRAY || n > MAX_HISTORY_IDS)
            return err_fail(err, errlen, ERR_INVALID,
                            "\"history\" must be an array of at most %d item ids", MAX_HISTORY_IDS);
        if (n && !(*hist = malloc(n * sizeof **hist)))
            return err_fail(err, errlen, ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            if (!is_int(json_at(hv, i)))
                return err_fail(err, errlen, ERR_INVALID,
                                "\"history\"[%zu] must be an integer item id", i);
            (*hist)[i] = json_int(json_at(hv, i));
        }
        q->history = *hist;
        q->nhistory = (int)n;
    }
    int64_t k = 10 < m->f.candidates ? 10 : m->f.candidates;
    int e = json_opt_int(root, "k", NULL, 1, m->f.candidates, &k, err, errlen);
    q->k = (int)k;
    q->exclude_seen = true;
    if (!e) e = json_opt_bool(root, "exclude_seen", NULL, &q->exclude_seen, err, errlen);
    return e ? e : json_opt_bool(root, "timings", NULL, timings, err, errlen);
}

static int answer(buf_t *b, const rec_req_t *q, const rec_hit_t *hits, const rec_res_t *res,
                  bool timings)
{
    int e = q->has_user ? buf_printf(b, "{\"user_id\":%lld", (long long)q->user_id)
                        : buf_puts(b, "{\"user_id\":null");
    if (!e)
        e = buf_printf(b, ",\"cold_start\":%s,\"items\":[",
                       res->path == REC_COLD ? "true" : "false");
    for (int i = 0; !e && i < res->n; i++) {
        char num[32];
        num[floatfmt_shortest(num, hits[i].score)] = '\0';
        e = buf_printf(b, "%s{\"item_id\":%lld,\"title\":", i ? "," : "",
                       (long long)hits[i].item_id);
        if (!e) e = buf_json_str(b, hits[i].title, strlen(hits[i].title));
        if (!e) e = buf_printf(b, ",\"score\":%s}", num);
    }
    if (!e) e = buf_puts(b, "]");
    if (!e && timings)
        e = buf_printf(b, ",\"timings_ms\":{\"embed\":%.4f,\"retrieve\":%.4f,\"rank\":%.4f}",
                       res->ms_embed, res->ms_retrieve, res->ms_rank);
    return e ? e : buf_puts(b, "}\n");
}

static void run(serve_job_t *job, const serve_worker_t *w)
{
    rec_job_t *j = (rec_job_t *)job;
    http_req_t *r = j->base.r;
    serve_t *sv = j->base.sv;
    char err[400], perr[300];
    int code = 0;
    int64_t *hist = NULL;
    rec_hit_t *hits = NULL;
    model_entry_t *me = NULL;
    json_doc_t *doc = json_parse(r->body, r->body_len, NULL, perr, sizeof perr);
    if (!doc) {
        code = err_fail(err, sizeof err, ERR_INVALID, "invalid JSON: %s", perr);
        goto out;
    }
    const json_value_t *root = json_root(doc);
    if (!(me = pick_model(sv, json_type(root) == JSON_OBJECT ? json_get(root, "model") : NULL,
                          &code, err, sizeof err)))
        goto out;
    rec_req_t q = {.model = me};
    bool timings = false;
    rec_res_t res;
    if ((code = parse(root, me->rec, &q, &hist, &timings, err, sizeof err))) goto out;
    if (!(hits = malloc((size_t)q.k * sizeof *hits))) {
        code = err_fail(err, sizeof err, ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((code = serve_recommend(sv, w, &q, hits, &res, err, sizeof err))) goto out;
    if (answer(&r->out_body, &q, hits, &res, timings))
        code = err_fail(err, sizeof err, ERR_NOMEM, "out of memory");
out:
    if (code)
        api_reply_err(r, code, "%s", err);
    else
        http_reply_buf(r, 200, "application/json");
    if (me) repo_release(me);
    free(hits);
    free(hist);
    json_doc_free(doc);
    free(j);
}

static void h_recommend(http_req_t *r, void *arg)
{
    rec_job_t *j = api_job_new(r, arg, sizeof *j);
    if (j) api_job_submit(j, run);
}

void api_recommend_register(http_router_t *rt, serve_t *sv)
{
    router_add(rt, M(HTTP_POST), "/recommend", h_recommend, sv, 0);
}
