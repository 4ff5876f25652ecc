/* Vector collections over HTTP (serve/collections.h does the work):
 *   PUT    /collections/{c}              {"dim", "metric"?, "index"?: {"type", ...}}
 *   GET    /collections/{c}              settings and counts; GET /collections lists them
 *   DELETE /collections/{c}              drops it with its points
 *   POST   /collections/{c}/points       {"ids": [...], "vectors": [[...]] | "texts": [...],
 *                                         "model"?, "payloads"?: [...]}
 *   POST   /collections/{c}/search       {"vector": [...] | "id": N | "text", "k"?, "ef"?,
 *                                         "nprobe"?, "rerank"?, "filter"?: {"ids"?: [...],
 *                                         "payload"?: {...}}}
 *   DELETE /collections/{c}/points/{id}
 * Everything runs on serve's compute pool; changes answer once stored (the points table). Texts
 * are embedded with an embedding model (serve/embed.h) first, then go the same way. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/job.h"
#include "codec/vector.h"
#include "serve/collections.h"
#include "serve/embedders.h"
#include "util/err.h"
#include "util/json.h"

#define MAX_EF     100000
#define DEFAULT_K  10
#define DEFAULT_EF 64 /* HNSW: beyond FAISS's 16, for recall a service can stand behind */

enum { W_CREATE, W_INFO, W_DROP, W_LIST, W_UPSERT, W_SEARCH, W_DELETE };

typedef struct coll_job {
    api_job_t base;
    const api_colls_t *api;
    colls_t *colls;
    int what;
    char name[COLL_NAME_MAX + 1];
    int64_t point;
    bool existed;
} coll_job_t;

/* A name of 1 to COLL_NAME_MAX letters, digits, '_' or '-'. */
static bool name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > COLL_NAME_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= 'A' && s[i] <= 'Z') &&
            !(s[i] >= '0' && s[i] <= '9') && s[i] != '_' && s[i] != '-')
            return false;
    return true;
}

/* ================================================================ answers ==== */

static void reply_done(void *arg, int code, const char *msg)
{
    coll_job_t *j = arg;
    http_req_t *r = j->base.r;
    buf_t *b = &r->out_body;
    if (code) {
        api_reply_err(r, code, "%s", msg);
    } else {
        int e = buf_puts(b, "{\"collection\":");
        if (!e) e = buf_json_str(b, j->name, strlen(j->name));
        if (!e && j->what == W_CREATE)
            e = buf_printf(b, ",\"created\":%s}\n", j->existed ? "false" : "true");
        if (!e && j->what == W_DROP) e = buf_puts(b, ",\"dropped\":true}\n");
        if (!e && j->what == W_UPSERT)
            e = buf_printf(b, ",\"upserted\":%lld}\n", (long long)j->point);
        if (!e && j->what == W_DELETE)
            e = buf_printf(b, ",\"deleted\":%lld}\n", (long long)j->point);
        if (e)
            api_reply_err(r, ERR_NOMEM, "out of memory");
        else
            http_reply_buf(r, j->what == W_CREATE && !j->existed ? 201 : 200, "application/json");
    }
    free(j);
}

static int put_info(buf_t *b, const char *name, const coll_info_t *in)
{
    int e = buf_puts(b, "{\"name\":");
    if (!e) e = buf_json_str(b, name, strlen(name));
    if (!e) e = buf_puts(b, ",\"settings\":");
    if (!e) e = coll_spec_json(&in->spec, b);
    if (!e)
        e = buf_printf(b, ",\"points\":%lld,\"deleted\":%lld,\"indexed\":%s,\"memory_bytes\":%zu}",
                       (long long)in->points, (long long)in->deleted,
                       in->trained ? "true" : "false", in->bytes);
    return e;
}

typedef struct list_ctx {
    buf_t *b;
    int n, e;
} list_ctx_t;

static void list_one(void *arg, const char *name, const coll_info_t *info)
{
    list_ctx_t *l = arg;
    if (!l->e && l->n++) l->e = buf_puts(l->b, ",");
    if (!l->e) l->e = put_info(l->b, name, info);
}

/* ================================================================ bodies ==== */

/* The JSON array v as n int64 ids (malloc'd into *out). 0 or ERR_INVALID with err. */
static int int_array(const json_value_t *v, const char *what, int64_t **out, int *n, char *err,
                     size_t errlen)
{
    *out = NULL;
    *n = 0;
    if (json_type(v) != JSON_ARRAY)
        return err_fail(err, errlen, ERR_INVALID, "\"%s\" must be a list of integers", what);
    size_t m = json_size(v);
    if (m > 10000000) return err_fail(err, errlen, ERR_TOO_LARGE, "\"%s\" is too long", what);
    *out = malloc((m ? m : 1) * sizeof **out);
    if (!*out) return err_fail(err, errlen, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < m; i++) {
        const json_value_t *x = json_at(v, i);
        if (json_type(x) != JSON_NUMBER || !json_is_integer(x))
            return err_fail(err, errlen, ERR_INVALID, "\"%s\"[%zu] is not an integer", what, i);
        (*out)[i] = json_int(x);
    }
    *n = (int)m;
    return 0;
}

/* A points or search request between its parse and its answer: what it owns, and, when texts
 * are embedded first, the embedding in flight (the work goes on as a job on the pool). */
typedef struct preq {
    serve_job_t job; /* first: the continuation after an embedding */
    coll_job_t *j;   /* the answer, freed by whoever answers it */
    json_doc_t *doc;
    int n, dim;
    int64_t *ids;
    float *vecs;
    const char **pay;
    size_t *plen;
    buf_t pb; /* payloads, compact */
    const char **texts;
    size_t *tlens;
    coll_query_t q;
    int64_t *fids;
    coll_match_t *match;
    embed_ref_t ref;
    embed_job_t *ej;
} preq_t;

static void preq_free(preq_t *p)
{
    if (p->ej) embed_job_free(p->ej);
    if (p->ref.em) embedders_release(&p->ref);
    json_doc_free(p->doc);
    free(p->ids);
    free(p->vecs);
    free(p->pay);
    free(p->plen);
    buf_deinit(&p->pb);
    free(p->texts);
    free(p->tlens);
    free(p->fids);
    free(p->match);
    free(p);
}

/* Answers p's request with an error and frees everything. */
static void preq_fail(preq_t *p, int code, const char *msg)
{
    api_reply_err(p->j->base.r, code, "%s", msg);
    free(p->j);
    preq_free(p);
}

/* "payloads": n objects or nulls, kept as their compact text. 0 or an error with err. */
static int parse_payloads(preq_t *p, const json_value_t *pv, char *err, size_t errlen)
{
    const http_req_t *r = p->j->base.r;
    int n = p->n, e = 0;
    json_span_t all, *sp = malloc((size_t)(n ? n : 1) * sizeof *sp);
    size_t *off = calloc((size_t)(n ? n : 1), sizeof *off);
    p->pay = calloc((size_t)(n ? n : 1), sizeof *p->pay);
    p->plen = calloc((size_t)(n ? n : 1), sizeof *p->plen);
    if (!sp || !off || !p->pay || !p->plen)
        e = err_fail(err, errlen, ERR_NOMEM, "out of memory");
    else if (json_type(pv) != JSON_ARRAY || json_size(pv) != (size_t)n ||
             !json_span_member(r->body, r->body_len, "payloads", &all) ||
             json_span_elements(r->body, all, sp, (size_t)n) != (size_t)n)
        e = err_fail(err, errlen, ERR_INVALID,
                     "\"payloads\" must be a list of %d objects or nulls, one per id", n);
    for (int i = 0; i < n && !e; i++) {
        int t = json_type(json_at(pv, (size_t)i));
        off[i] = SIZE_MAX;
        if (t == JSON_NULL) continue;
        if (t != JSON_OBJECT)
            e = err_fail(err, errlen, ERR_INVALID, "payloads[%d] must be an object or null", i);
        off[i] = p->pb.len;
        if (!e && json_write_compact(&p->pb, r->body, sp[i]))
            e = err_fail(err, errlen, ERR_NOMEM, "out of memory");
        p->plen[i] = p->pb.len - off[i];
    }
    for (int i = 0; i < n && !e; i++) p->pay[i] = off[i] == SIZE_MAX ? NULL : p->pb.data + off[i];
    free(sp);
    free(off);
    return e;
}

/* "vectors": n lists of dim numbers into p->vecs. */
static int parse_vectors(preq_t *p, const json_value_t *vv, char *err, size_t errlen)
{
    int n = p->n, dim = p->dim;
    if (json_type(vv) != JSON_ARRAY || json_size(vv) != (size_t)n)
        return err_fail(err, errlen, ERR_INVALID,
                        "\"vectors\" must be a list of %d vectors, one per id", n);
    if (!(p->vecs = malloc(((size_t)n * (size_t)dim + 1) * sizeof *p->vecs)))
        return err_fail(err, errlen, ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        json_shape_t sh;
        const json_value_t *row = json_at(vv, (size_t)i);
        char ferr[200];
        bool arr = json_type(row) == JSON_ARRAY;
        int fe = arr ? json_flatten(row, JSON_ELEM_F32, p->vecs + (size_t)i * (size_t)dim,
                                    (size_t)dim, &sh, ferr, sizeof ferr)
                     : -EINVAL;
        if (fe || sh.rank != 1 || sh.count != (size_t)dim)
            return err_fail(err, errlen, ERR_INVALID,
                            "vectors[%d] must be a list of %d numbers (collection \"%s\")%s%s", i,
                            dim, p->j->name, fe && arr ? ": " : "", fe && arr ? ferr : "");
    }
    return 0;
}

/* "texts" (or one "text"): strings to embed, borrowed from the document. */
static int parse_texts(preq_t *p, const json_value_t *tv, bool one, char *err, size_t errlen)
{
    size_t n = one ? 1 : json_size(tv);
    if ((!one && (json_type(tv) != JSON_ARRAY || n != (size_t)p->n)) ||
        (one && json_type(tv) != JSON_STRING))
        return err_fail(err, errlen, ERR_INVALID,
                        one ? "\"text\" must be a string"
                            : "\"texts\" must be a list of strings, one per id");
    p->texts = malloc((n ? n : 1) * sizeof *p->texts);
    p->tlens = malloc((n ? n : 1) * sizeof *p->tlens);
    if (!p->texts || !p->tlens) return err_fail(err, errlen, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_value_t *t = one ? tv : json_at(tv, i);
        if (!(p->texts[i] = json_string(t, &p->tlens[i])))
            return err_fail(err, errlen, ERR_INVALID, "texts[%zu] is not a string", i);
    }
    return 0;
}

/* Upsert: {"ids", "vectors" | "texts" + "model"?, "payloads"?}. */
static int parse_upsert(preq_t *p, const json_value_t *root, char *err, size_t errlen)
{
    const colls_limits_t *lim = colls_limits(p->j->colls);
    const json_value_t *vv = json_get(root, "vectors"), *tv = json_get(root, "texts"),
                       *pv = json_get(root, "payloads");
    if (json_type(root) != JSON_OBJECT || !json_get(root, "ids") || !vv == !tv)
        return err_fail(err, errlen, ERR_INVALID,
                        "body must be {\"ids\": [...], \"vectors\": [[...], ...] | \"texts\": "
                        "[...], \"model\"?: \"<embedding model>\", \"payloads\"?: [{...} | null, "
                        "...]}");
    int e = int_array(json_get(root, "ids"), "ids", &p->ids, &p->n, err, errlen);
    if (!e && p->n > lim->max_points)
        e = err_fail(err, errlen, ERR_TOO_LARGE,
                     "%d points in one request; at most %d (max_points)", p->n, lim->max_points);
    if (!e && vv) e = parse_vectors(p, vv, err, errlen);
    if (!e && tv) e = parse_texts(p, tv, false, err, errlen);
    if (!e && pv && json_type(pv) != JSON_NULL) e = parse_payloads(p, pv, err, errlen);
    return e;
}

/* The filter's payload conditions: {"key": string | number | bool | null, ...}. */
static int parse_match(const json_value_t *p, coll_match_t **out, int *n, char *err, size_t errlen)
{
    if (json_type(p) != JSON_OBJECT)
        return err_fail(err, errlen, ERR_INVALID, "\"filter.payload\" must be an object");
    size_t m = json_size(p);
    *out = calloc(m ? m : 1, sizeof **out);
    if (!*out) return err_fail(err, errlen, ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < m; i++) {
        coll_match_t *c = &(*out)[i];
        const json_value_t *v = json_value_at(p, i);
        c->key = json_key_at(p, i, &c->key_len);
        switch (json_type(v)) {
        case JSON_STRING: c->type = CM_STRING, c->s = json_string(v, &c->s_len); break;
        case JSON_NUMBER: c->type = CM_NUMBER, c->num = json_number(v); break;
        case JSON_TRUE: c->type = CM_BOOL, c->b = true; break;
        case JSON_FALSE: c->type = CM_BOOL, c->b = false; break;
        case JSON_NULL: c->type = CM_NULL; break;
        default:
            return err_fail(err, errlen, ERR_INVALID,
                            "\"filter.payload\" values must be strings, numbers, booleans or "
                            "null (equality on a top-level member)");
        }
    }
    *n = (int)m;
    return 0;
}

typedef struct hits {
    int n, cap;
    int64_t *ids;
    float *scores;
    size_t *off, *len; /* into pay; len SIZE_MAX: none */
    buf_t pay;
} hits_t;

static int on_hit(void *arg, int64_t id, float score, const char *payload, size_t len)
{
    hits_t *h = arg;
    if (h->n == h->cap) return -ENOMEM; /* sized for k: cannot happen */
    h->ids[h->n] = id, h->scores[h->n] = score;
    h->off[h->n] = h->pay.len, h->len[h->n] = payload ? len : SIZE_MAX;
    h->n++;
    return payload ? buf_append(&h->pay, payload, len) : 0;
}

/* json_opt_int into an int. */
static int opt_int(const json_value_t *root, const char *key, int lo, int hi, int *out, char *err,
                   size_t errlen)
{
    int64_t v = *out;
    int e = json_opt_int(root, key, NULL, lo, hi, &v, err, errlen);
    *out = (int)v;
    return e;
}

/* Search: {"vector" | "id" | "text" + "model"?, "k"?, "ef"?, "nprobe"?, "filter"?}. */
static int parse_search(preq_t *p, const json_value_t *root, char *err, size_t errlen)
{
    coll_query_t *q = &p->q;
    const json_value_t *vv = json_get(root, "vector"), *iv = json_get(root, "id"),
                       *tv = json_get(root, "text"), *fv = json_get(root, "filter");
    *q = (coll_query_t){.k = DEFAULT_K, .ef = DEFAULT_EF};
    if (json_type(root) != JSON_OBJECT || (!!vv + !!iv + !!tv) != 1)
        return err_fail(err, errlen, ERR_INVALID,
                        "body must be {\"vector\": [...] | \"id\": N | \"text\": \"...\", "
                        "\"model\"?: \"<embedding model>\", \"k\"?: N, \"ef\"?: N, \"nprobe\"?: "
                        "N, \"filter\"?: {\"ids\"?: [...], \"payload\"?: {...}}}");
    int e = opt_int(root, "k", 1, colls_limits(p->j->colls)->max_k, &q->k, err, errlen);
    if (!e) e = opt_int(root, "ef", 1, MAX_EF, &q->ef, err, errlen);
    if (!e) e = opt_int(root, "nprobe", 1, IDX_MAX_NLIST, &q->nprobe, err, errlen);
    if (!e) e = opt_int(root, "rerank", 1, IDX_MAX_RERANK, &q->rerank, err, errlen);
    if (q->ef < q->k) q->ef = q->k;
    p->n = 1;
    if (!e && vv) {
        json_shape_t sh;
        char ferr[200] = "";
        if (!(p->vecs = malloc(((size_t)p->dim + 1) * sizeof *p->vecs)))
            return err_fail(err, errlen, ERR_NOMEM, "out of memory");
        if (json_type(vv) != JSON_ARRAY ||
            json_flatten(vv, JSON_ELEM_F32, p->vecs, (size_t)p->dim + 1, &sh, ferr, sizeof ferr) ||
            sh.rank != 1 || sh.count != (size_t)p->dim)
            return err_fail(err, errlen, ERR_INVALID,
                            "\"vector\" must be a list of %d numbers (collection \"%s\")%s%s",
                            p->dim, p->j->name, ferr[0] ? ": " : "", ferr);
    } else if (!e && iv) {
        if (json_type(iv) != JSON_NUMBER || !json_is_integer(iv))
            return err_fail(err, errlen, ERR_INVALID, "\"id\" must be an integer point id");
        q->id = json_int(iv);
    } else if (!e) {
        e = parse_texts(p, tv, true, err, errlen);
    }
    if (!e && fv) {
        if (json_type(fv) != JSON_OBJECT)
            return err_fail(err, errlen, ERR_INVALID, "\"filter\" must be an object");
        for (size_t i = 0; i < json_size(fv); i++) {
            size_t kn;
            const char *key = json_key_at(fv, i, &kn);
            if (!(kn == 3 && !memcmp(key, "ids", 3)) && !(kn == 7 && !memcmp(key, "payload", 7)))
                return err_fail(err, errlen, ERR_INVALID,
                                "unknown filter \"%.*s\" (expected \"ids\" or \"payload\")",
                                (int)(kn < 40 ? kn : 40), key);
        }
        if (json_get(fv, "ids"))
            e = int_array(json_get(fv, "ids"), "filter.ids", &p->fids, &q->nids, err, errlen);
        q->ids = p->fids;
        if (!e && json_get(fv, "payload"))
            e = parse_match(json_get(fv, "payload"), &p->match, &q->nmatch, err, errlen);
        q->match = p->match;
    }
    return e;
}

/* Runs the search and answers {"ids", "scores", "payloads"}. */
static void do_search(preq_t *p)
{
    http_req_t *r = p->j->base.r;
    char err[300];
    coll_query_t *q = &p->q;
    q->vector = p->vecs, q->dim = p->dim;
    hits_t h = {.cap = q->k};
    buf_init(&h.pay);
    h.ids = malloc((size_t)q->k * sizeof *h.ids);
    h.scores = malloc((size_t)q->k * sizeof *h.scores);
    h.off = malloc((size_t)q->k * sizeof *h.off);
    h.len = malloc((size_t)q->k * sizeof *h.len);
    int e = !h.ids || !h.scores || !h.off || !h.len
                ? err_fail(err, sizeof err, ERR_NOMEM, "out of memory")
                : colls_search(p->j->colls, p->j->name, q, on_hit, &h, err, sizeof err);
    buf_t *b = &r->out_body;
    if (!e) {
        e = buf_puts(b, "{\"ids\":[");
        for (int i = 0; i < h.n && !e; i++)
            e = buf_printf(b, i ? ",%lld" : "%lld", (long long)h.ids[i]);
        if (!e) e = buf_puts(b, "],\"scores\":[");
        for (int i = 0; i < h.n && !e; i++) {
            if (i) e = buf_puts(b, ",");
            if (!e) e = json_write_float(b, h.scores[i]);
        }
        if (!e) e = buf_puts(b, "],\"payloads\":[");
        for (int i = 0; i < h.n && !e; i++) {
            if (i) e = buf_puts(b, ",");
            if (!e)
                e = h.len[i] == SIZE_MAX ? buf_puts(b, "null")
                                         : buf_append(b, h.pay.data + h.off[i], h.len[i]);
        }
        if (!e) e = buf_puts(b, "]}\n");
        if (e) e = err_fail(err, sizeof err, ERR_NOMEM, "out of memory");
    }
    if (e)
        api_reply_err(r, e, "%s", err);
    else
        http_reply_buf(r, 200, "application/json");
    free(h.ids);
    free(h.scores);
    free(h.off);
    free(h.len);
    buf_deinit(&h.pay);
    free(p->j);
}

/* With the vectors in hand: the upsert or the search. Frees p. */
static void go(preq_t *p)
{
    coll_job_t *j = p->j;
    if (j->what == W_SEARCH) {
        do_search(p);
    } else {
        j->point = p->n;
        colls_upsert(j->colls, j->name, p->n, p->dim, p->ids, p->vecs, p->pay, p->plen, reply_done,
                     j); /* copies what it keeps */
    }
    preq_free(p);
}

/* The texts are embedded (or failed): their vectors, then go on. */
static void embedded(preq_t *p)
{
    embed_job_t *ej = p->ej;
    if (ej->rc) return preq_fail(p, ej->rc == -EIO ? ERR_INTERNAL : ej->rc, ej->err);
    int n = ej->n;
    if (!(p->vecs = malloc((size_t)n * (size_t)p->dim * sizeof *p->vecs)))
        return preq_fail(p, ERR_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        if (ej->out[i].len != (size_t)p->dim * sizeof(float))
            return preq_fail(p, ERR_INTERNAL, "the embedding has an unexpected size");
        memcpy(p->vecs + (size_t)i * (size_t)p->dim, ej->out[i].data, ej->out[i].len);
    }
    go(p);
}

static void embedded_job(serve_job_t *job, const serve_worker_t *w)
{
    (void)w;
    embedded((preq_t *)job);
}

/* embed_job_t.done, on a batch thread: the rest runs on the compute pool. */
static void on_embedded(embed_job_t *ej)
{
    preq_t *p = ej->user;
    if (serve_submit(p->j->base.sv, &p->job, embedded_job) != 0)
        preq_fail(p, ERR_BUSY, "server busy: the compute queue is full");
}

/* Embeds p's texts with the request's "model" (or the only embedding model), which must make
 * vectors of the collection's dimension. */
static void embed_texts(preq_t *p, const json_value_t *root)
{
    char err[300];
    const json_value_t *mv = json_get(root, "model");
    const api_colls_t *a = p->j->api;
    if (mv && json_type(mv) != JSON_STRING)
        return preq_fail(p, ERR_INVALID, "\"model\" must be the name of an embedding model");
    if (!a->emb) return preq_fail(p, ERR_NOT_FOUND, "no embedding models are served");
    int e = embedders_acquire(a->emb, mv ? json_string(mv, NULL) : NULL, &p->ref, err, sizeof err);
    if (e) return preq_fail(p, e, err);
    int64_t dim = embed_model_dim(p->ref.em);
    if (dim != p->dim) {
        err_set(err, sizeof err,
                "model \"%s\" makes vectors of %lld values; collection \"%s\" holds %d",
                embed_model_name(p->ref.em), (long long)dim, p->j->name, p->dim);
        return preq_fail(p, ERR_INVALID, err);
    }
    int n = p->j->what == W_SEARCH ? 1 : p->n;
    embed_job_t *ej = p->ej = embed_job_new(p->ref.em, n);
    if (!ej) return preq_fail(p, ERR_NOMEM, "out of memory");
    ej->texts = p->texts;
    ej->lens = p->tlens;
    ej->opts =
        (embed_opts_t){.normalize = embed_model_spec(p->ref.em)->normalize, .truncate = true};
    ej->encode = codec_vec_raw;
    ej->encoding = "raw";
    ej->done = on_embedded;
    ej->user = p;
    int rc = embed_submit(ej, err, sizeof err);
    if (rc < 0) return preq_fail(p, rc, err);
    if (rc == 1) embedded(p); /* every text came from the cache */
}

/* Points and searches: parse, then embed texts first or go on at once. */
static void run_body(coll_job_t *j)
{
    http_req_t *r = j->base.r;
    char err[300];
    coll_info_t info;
    preq_t *p = calloc(1, sizeof *p);
    if (!p) {
        api_reply_err(r, ERR_NOMEM, "out of memory");
        free(j);
        return;
    }
    p->j = j;
    buf_init(&p->pb);
    int e = colls_info(j->colls, j->name, &info, err, sizeof err);
    p->dim = info.spec.p.dim;
    if (!e && !(p->doc = json_parse(r->body, r->body_len, NULL, err, sizeof err))) {
        char perr[320];
        snprintf(perr, sizeof perr, "invalid JSON: %.290s", err);
        return preq_fail(p, ERR_INVALID, perr);
    }
    if (!e)
        e = j->what == W_SEARCH ? parse_search(p, json_root(p->doc), err, sizeof err)
                                : parse_upsert(p, json_root(p->doc), err, sizeof err);
    if (e) return preq_fail(p, e, err);
    if (p->texts) return embed_texts(p, json_root(p->doc));
    go(p);
}

/* ================================================================ dispatch ==== */

static void run_coll(serve_job_t *job, const serve_worker_t *w)
{
    (void)w;
    coll_job_t *j = (coll_job_t *)job;
    http_req_t *r = j->base.r;
    char err[300];
    int e = 0;
    if (!colls_ready(j->colls, err, sizeof err)) {
        e = ERR_UNAVAILABLE;
    } else if (j->what == W_UPSERT || j->what == W_SEARCH) {
        return run_body(j);
    } else if (j->what == W_DROP) {
        return colls_drop(j->colls, j->name, reply_done, j);
    } else if (j->what == W_DELETE) {
        return colls_delete(j->colls, j->name, j->point, reply_done, j);
    } else if (j->what == W_CREATE) {
        coll_spec_t spec;
        e = coll_spec_parse(r->body, r->body_len, colls_limits(j->colls), &spec, err, sizeof err);
        if (!e) return colls_create(j->colls, j->name, &spec, &j->existed, reply_done, j);
    } else if (j->what == W_INFO) {
        coll_info_t info;
        e = colls_info(j->colls, j->name, &info, err, sizeof err);
        if (!e && (put_info(&r->out_body, j->name, &info) || buf_puts(&r->out_body, "\n")))
            e = err_fail(err, sizeof err, ERR_NOMEM, "out of memory");
    } else { /* W_LIST */
        list_ctx_t l = {&r->out_body, 0, buf_puts(&r->out_body, "{\"collections\":[")};
        colls_each(j->colls, list_one, &l);
        if (l.e || buf_puts(&r->out_body, "]}\n"))
            e = err_fail(err, sizeof err, ERR_NOMEM, "out of memory");
    }
    if (e)
        api_reply_err(r, e, "%s", err);
    else
        http_reply_buf(r, 200, "application/json");
    free(j);
}

/* Queues what on the compute pool for the collection named by the path's first parameter. */
static void queue(http_req_t *r, void *arg, int what)
{
    const api_colls_t *a = arg;
    char name[COLL_NAME_MAX + 2] = "", pid[32] = "";
    if (what != W_LIST) http_req_param(r, 0, name, sizeof name);
    if (what != W_LIST && !name_ok(name))
        return api_reply_err(r, ERR_INVALID,
                             "a collection name is 1 to %d letters, digits, '_' or '-'",
                             COLL_NAME_MAX);
    int64_t point = 0;
    if (what == W_DELETE) {
        char *end;
        http_req_param(r, 1, pid, sizeof pid);
        point = strtoll(pid, &end, 10);
        if (!pid[0] || *end)
            return api_reply_err(r, ERR_INVALID, "a point id is an integer, got \"%s\"", pid);
    }
    coll_job_t *j = api_job_new(r, a->sv, sizeof *j);
    if (!j) return;
    j->api = a;
    j->colls = a->colls;
    j->what = what;
    j->point = point;
    memcpy(j->name, name, strlen(name) + 1); /* name_ok: it fits */
    api_job_submit(j, run_coll);
}

static void h_coll(http_req_t *r, void *arg)
{
    http_method_t m = r->head.method;
    queue(r, arg, m == HTTP_PUT ? W_CREATE : m == HTTP_DELETE ? W_DROP : W_INFO);
}

static void h_list(http_req_t *r, void *arg)
{
    queue(r, arg, W_LIST);
}

static void h_points(http_req_t *r, void *arg)
{
    queue(r, arg, W_UPSERT);
}

static void h_search(http_req_t *r, void *arg)
{
    queue(r, arg, W_SEARCH);
}

static void h_point(http_req_t *r, void *arg)
{
    queue(r, arg, W_DELETE);
}

void api_collections_register(http_router_t *rt, const api_colls_t *a)
{
    void *arg = (void *)a;
    router_add(rt, M(HTTP_GET), "/collections", h_list, arg, 0);
    router_add(rt, M(HTTP_PUT) | M(HTTP_GET) | M(HTTP_DELETE), "/collections/{c}", h_coll, arg, 0);
    router_add(rt, M(HTTP_POST), "/collections/{c}/points", h_points, arg, 0);
    router_add(rt, M(HTTP_POST), "/collections/{c}/search", h_search, arg, 0);
    router_add(rt, M(HTTP_DELETE), "/collections/{c}/points/{id}", h_point, arg, 0);
}
