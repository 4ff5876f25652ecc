/* Vector collections over HTTP (serve/collections.h does the work):
 *   PUT    /collections/{c}              {"dim", "metric"?, "index"?: {"type", ...}}
 *   GET    /collections/{c}              settings and counts; GET /collections lists them
 *   DELETE /collections/{c}              drops it with its points
 *   POST   /collections/{c}/points       {"ids": [...], "vectors": [[...]], "payloads"?: [...]}
 *   POST   /collections/{c}/search       {"vector": [...] | "id": N, "k"?, "ef"?, "nprobe"?,
 *                                         "filter"?: {"ids"?: [...], "payload"?: {...}}}
 *   DELETE /collections/{c}/points/{id}
 * Everything runs on serve's compute pool; changes answer once stored (the points table). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/job.h"
#include "serve/collections.h"
#include "util/err.h"
#include "util/json.h"

#define MAX_EF     100000
#define DEFAULT_K  10
#define DEFAULT_EF 64 /* HNSW: beyond FAISS's 16, for recall a service can stand behind */

enum { W_CREATE, W_INFO, W_DROP, W_LIST, W_UPSERT, W_SEARCH, W_DELETE };

typedef struct coll_job {
    api_job_t base;
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

static void run_upsert(coll_job_t *j, const json_value_t *root)
{
    http_req_t *r = j->base.r;
    char err[300];
    coll_info_t info;
    int64_t *ids = NULL;
    float *vecs = NULL;
    const char **pay = NULL;
    size_t *plen = NULL;
    buf_t pb; /* payloads, compact */
    buf_init(&pb);
    int n = 0, e = colls_info(j->colls, j->name, &info, err, sizeof err);
    const json_value_t *vv = json_get(root, "vectors"), *pv = json_get(root, "payloads");
    if (!e && (json_type(root) != JSON_OBJECT || !json_get(root, "ids") || !vv))
        e = err_fail(err, sizeof err, ERR_INVALID,
                     "body must be {\"ids\": [...], \"vectors\": [[...], ...], \"payloads\"?: "
                     "[{...} | null, ...]}%s",
                     json_get(root, "texts") ? " (server-side embedding of \"texts\" is not "
                                               "available yet: send vectors)"
                                             : "");
    if (!e) e = int_array(json_get(root, "ids"), "ids", &ids, &n, err, sizeof err);
    int dim = info.spec.p.dim;
    if (!e && n > colls_limits(j->colls)->max_points)
        e = err_fail(err, sizeof err, ERR_TOO_LARGE,
                     "%d points in one request; at most %d (max_points)", n,
                     colls_limits(j->colls)->max_points);
    if (!e && (json_type(vv) != JSON_ARRAY || json_size(vv) != (size_t)n))
        e = err_fail(err, sizeof err, ERR_INVALID,
                     "\"vectors\" must be a list of %d vectors, one per id", n);
    if (!e && !(vecs = malloc(((size_t)n * (size_t)dim + 1) * sizeof *vecs)))
        e = err_fail(err, sizeof err, ERR_NOMEM, "out of memory");
    for (int i = 0; i < n && !e; i++) {
        json_shape_t sh;
        const json_value_t *row = json_at(vv, (size_t)i);
        char ferr[200];
        int fe = json_type(row) == JSON_ARRAY
                     ? json_flatten(row, JSON_ELEM_F32, vecs + (size_t)i * (size_t)dim, (size_t)dim,
                                    &sh, ferr, sizeof ferr)
                     : -EINVAL;
        if (fe || sh.rank != 1 || sh.count != (size_t)dim)
            e = err_fail(err, sizeof err, ERR_INVALID,
                         "vectors[%d] must be a list of %d numbers (collection \"%s\")%s%s", i, dim,
                         j->name, fe && json_type(row) == JSON_ARRAY ? ": " : "",
                         fe && json_type(row) == JSON_ARRAY ? ferr : "");
    }
    if (!e && pv && json_type(pv) != JSON_NULL) {
        json_span_t all, *sp = malloc((size_t)(n ? n : 1) * sizeof *sp);
        pay = calloc((size_t)(n ? n : 1), sizeof *pay);
        plen = calloc((size_t)(n ? n : 1), sizeof *plen);
        size_t *off = calloc((size_t)(n ? n : 1), sizeof *off);
        if (!sp || !pay || !plen || !off)
            e = err_fail(err, sizeof err, ERR_NOMEM, "out of memory");
        else if (json_type(pv) != JSON_ARRAY || json_size(pv) != (size_t)n ||
                 !json_span_member(r->body, r->body_len, "payloads", &all) ||
                 json_span_elements(r->body, all, sp, (size_t)n) != (size_t)n)
            e = err_fail(err, sizeof err, ERR_INVALID,
                         "\"payloads\" must be a list of %d objects or nulls, one per id", n);
        for (int i = 0; i < n && !e; i++) {
            int t = json_type(json_at(pv, (size_t)i));
            if (t == JSON_NULL) {
                off[i] = SIZE_MAX;
                continue;
            }
            if (t != JSON_OBJECT)
                e = err_fail(err, sizeof err, ERR_INVALID, "payloads[%d] must be an object or null",
                             i);
            off[i] = pb.len;
            if (!e && json_write_compact(&pb, r->body, sp[i]))
                e = err_fail(err, sizeof err, ERR_NOMEM, "out of memory");
            plen[i] = pb.len - off[i];
        }
        for (int i = 0; i < n && !e; i++) pay[i] = off[i] == SIZE_MAX ? NULL : pb.data + off[i];
        free(sp);
        free(off);
    }
    if (e) {
        api_reply_err(r, e, "%s", err);
        free(j);
    } else {
        j->point = n;
        colls_upsert(j->colls, j->name, n, dim, ids, vecs, pay, plen, reply_done, j);
    }
    free(ids);
    free(vecs);
    free(pay);
    free(plen);
    buf_deinit(&pb);
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

static int get_opt_int(const json_value_t *root, const char *key, int lo, int hi, int *out,
                       char *err, size_t errlen)
{
    const json_value_t *v = json_get(root, key);
    if (!v) return 0;
    if (json_type(v) != JSON_NUMBER || !json_is_integer(v) || json_int(v) < lo || json_int(v) > hi)
        return err_fail(err, errlen, ERR_INVALID, "\"%s\" must be an integer from %d to %d", key,
                        lo, hi);
    *out = (int)json_int(v);
    return 0;
}

static void run_search(coll_job_t *j, const json_value_t *root)
{
    http_req_t *r = j->base.r;
    char err[300];
    coll_info_t info;
    coll_query_t q = {.k = DEFAULT_K, .ef = DEFAULT_EF};
    float *vec = NULL;
    int64_t *fids = NULL;
    coll_match_t *match = NULL;
    hits_t h = {0};
    buf_init(&h.pay);
    const json_value_t *vv = json_get(root, "vector"), *iv = json_get(root, "id"),
                       *fv = json_get(root, "filter");
    int e = colls_info(j->colls, j->name, &info, err, sizeof err);
    int dim = info.spec.p.dim, maxk = colls_limits(j->colls)->max_k;
    if (!e && (json_type(root) != JSON_OBJECT || !vv == !iv))
        e = err_fail(err, sizeof err, ERR_INVALID,
                     "body must be {\"vector\": [...] | \"id\": N, \"k\"?: N, \"ef\"?: N, "
                     "\"nprobe\"?: N, \"filter\"?: {\"ids\"?: [...], \"payload\"?: {...}}}%s",
                     json_get(root, "text") ? " (server-side embedding of \"text\" is not "
                                              "available yet: send a vector)"
                                            : "");
    if (!e) e = get_opt_int(root, "k", 1, maxk, &q.k, err, sizeof err);
    if (!e) e = get_opt_int(root, "ef", 1, MAX_EF, &q.ef, err, sizeof err);
    if (!e) e = get_opt_int(root, "nprobe", 1, IDX_MAX_NLIST, &q.nprobe, err, sizeof err);
    if (q.ef < q.k) q.ef = q.k;
    if (!e && vv) {
        json_shape_t sh;
        char ferr[200] = "";
        vec = malloc(((size_t)dim + 1) * sizeof *vec);
        if (!vec)
            e = err_fail(err, sizeof err, ERR_NOMEM, "out of memory");
        else if (json_type(vv) != JSON_ARRAY ||
                 json_flatten(vv, JSON_ELEM_F32, vec, (size_t)dim + 1, &sh, ferr, sizeof ferr) ||
                 sh.rank != 1 || sh.count != (size_t)dim)
            e = err_fail(err, sizeof err, ERR_INVALID,
                         "\"vector\" must be a list of %d numbers (collection \"%s\")%s%s", dim,
                         j->name, ferr[0] ? ": " : "", ferr);
        q.vector = vec, q.dim = dim;
    } else if (!e) {
        if (json_type(iv) != JSON_NUMBER || !json_is_integer(iv))
            e = err_fail(err, sizeof err, ERR_INVALID, "\"id\" must be an integer point id");
        q.id = json_int(iv);
    }
    if (!e && fv) {
        static const char *const allowed[] = {"ids", "payload"};
        if (json_type(fv) != JSON_OBJECT)
            e = err_fail(err, sizeof err, ERR_INVALID, "\"filter\" must be an object");
        for (size_t i = 0; !e && i < json_size(fv); i++) {
            size_t kn;
            const char *key = json_key_at(fv, i, &kn);
            if (!(kn == 3 && !memcmp(key, allowed[0], 3)) &&
                !(kn == 7 && !memcmp(key, allowed[1], 7)))
                e = err_fail(err, sizeof err, ERR_INVALID,
                             "unknown filter \"%.*s\" (expected \"ids\" or \"payload\")",
                             (int)(kn < 40 ? kn : 40), key);
        }
        if (!e && json_get(fv, "ids"))
            e = int_array(json_get(fv, "ids"), "filter.ids", &fids, &q.nids, err, sizeof err);
        q.ids = fids;
        if (!e && json_get(fv, "payload"))
            e = parse_match(json_get(fv, "payload"), &match, &q.nmatch, err, sizeof err);
        q.match = match;
    }
    if (!e) {
        h.cap = q.k;
        h.ids = malloc((size_t)q.k * sizeof *h.ids);
        h.scores = malloc((size_t)q.k * sizeof *h.scores);
        h.off = malloc((size_t)q.k * sizeof *h.off);
        h.len = malloc((size_t)q.k * sizeof *h.len);
        if (!h.ids || !h.scores || !h.off || !h.len)
            e = err_fail(err, sizeof err, ERR_NOMEM, "out of memory");
    }
    if (!e) e = colls_search(j->colls, j->name, &q, on_hit, &h, err, sizeof err);
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
    free(vec);
    free(fids);
    free(match);
    free(h.ids);
    free(h.scores);
    free(h.off);
    free(h.len);
    buf_deinit(&h.pay);
    free(j);
}

/* ================================================================ dispatch ==== */

static void run_coll(serve_job_t *job, const serve_worker_t *w)
{
    (void)w;
    coll_job_t *j = (coll_job_t *)job;
    http_req_t *r = j->base.r;
    char err[300];
    if (!colls_ready(j->colls, err, sizeof err)) {
        api_reply_err(r, ERR_UNAVAILABLE, "%s", err);
        free(j);
        return;
    }
    if (j->what == W_INFO || j->what == W_LIST) {
        coll_info_t info;
        int e = 0;
        if (j->what == W_INFO) {
            e = colls_info(j->colls, j->name, &info, err, sizeof err);
            if (!e) e = put_info(&r->out_body, j->name, &info) ? ERR_NOMEM : 0;
        } else {
            list_ctx_t l = {&r->out_body, 0, buf_puts(&r->out_body, "{\"collections\":[")};
            colls_each(j->colls, list_one, &l);
            e = l.e || buf_puts(&r->out_body, "]") ? ERR_NOMEM : 0;
        }
        if (!e && buf_puts(&r->out_body, j->what == W_LIST ? "}\n" : "\n")) e = ERR_NOMEM;
        if (e)
            api_reply_err(r, e, "%s", e == ERR_NOMEM ? "out of memory" : err);
        else
            http_reply_buf(r, 200, "application/json");
        free(j);
        return;
    }
    if (j->what == W_DROP) return colls_drop(j->colls, j->name, reply_done, j);
    if (j->what == W_DELETE) return colls_delete(j->colls, j->name, j->point, reply_done, j);
    if (j->what == W_CREATE) {
        coll_spec_t spec;
        int e =
            coll_spec_parse(r->body, r->body_len, colls_limits(j->colls), &spec, err, sizeof err);
        if (e) {
            api_reply_err(r, e, "%s", err);
            free(j);
            return;
        }
        return colls_create(j->colls, j->name, &spec, &j->existed, reply_done, j);
    }
    json_doc_t *d = json_parse(r->body, r->body_len, NULL, err, sizeof err);
    if (!d) {
        api_reply_err(r, ERR_INVALID, "invalid JSON: %s", err);
        free(j);
        return;
    }
    if (j->what == W_UPSERT)
        run_upsert(j, json_root(d));
    else
        run_search(j, json_root(d));
    json_doc_free(d);
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
