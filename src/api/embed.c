/* Embedding endpoints: TEI's POST /embed, POST /tokenize and GET /info, and OpenAI's
 * POST /v1/embeddings. This file only speaks the protocols: it parses a request into an
 * embed_job_t, and turns the job's per-text bytes (made by a codec/vector encoder and possibly
 * taken from the cache) into the answer. Small requests are handled on the event loop (an
 * all-cached answer then needs no thread hop); large ones are parsed on the compute pool. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "codec/vector.h"
#include "models/repo.h"
#include "sched/pool.h"
#include "serve/embedders.h"
#include "text/tokenizer.h"
#include "util/err.h"
#include "util/json.h"
#include "version.h"

/* Bodies up to this size are parsed and tokenised on the event loop: a few µs of work, less
 * than a hop to the pool and back. */
#define INLINE_BODY_MAX 16384

typedef enum proto { P_TEI, P_OPENAI } proto_t;

struct api_embed {
    embedders_t *emb;
    pool_t *pool;
    int max_inputs;
    size_t max_body;
};

/* One request in flight. */
typedef struct ereq {
    http_req_t *r;
    api_embed_t *ctx;
    proto_t proto;
    json_doc_t *doc;
    embed_ref_t ref;
    embed_job_t *job;
    const char **texts;
    size_t *lens;
    int64_t **ids; /* OpenAI token-id inputs: nids_n arrays */
    size_t *nids;
    int nids_n;
    bool b64;
} ereq_t;

static void ereq_free(ereq_t *e)
{
    if (!e) return;
    embed_job_free(e->job);
    if (e->ref.em) embedders_release(&e->ref);
    for (int i = 0; e->ids && i < e->nids_n; i++) free(e->ids[i]);
    free(e->ids);
    free(e->nids);
    free(e->texts);
    free(e->lens);
    json_doc_free(e->doc);
    free(e);
}

/* Status for a code from serve: the embedding protocols (TEI) answer 422 for input that is
 * well-formed JSON but not acceptable; everything else maps as everywhere (api/status.c). */
static int status_of(int rc)
{
    return rc == ERR_INVALID ? 422 : api_http_status(rc);
}

/* Answers an error in the protocol's shape: TEI {"error","error_type"}, OpenAI
 * {"error":{"message","type","param","code"}}. Then frees e. */
static void fail(ereq_t *e, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(ereq_t *e, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    http_req_t *r = e->r;
    buf_t *b = &r->out_body;
    b->len = 0;
    if (status == 503) http_add_header(r, "Retry-After", "1");
    if (e->proto == P_OPENAI) {
        const char *type = status == 503   ? "server_error"
                           : status == 404 ? "not_found_error"
                                           : "invalid_request_error";
        buf_puts(b, "{\"error\":{\"message\":");
        buf_json_str(b, msg, strlen(msg));
        buf_printf(b, ",\"type\":\"%s\",\"param\":null,\"code\":null}}\n", type);
    } else {
        const char *type = status == 503   ? "Overloaded"
                           : status == 413 ? "Validation"
                           : status == 422 ? "Validation"
                           : status == 404 ? "Validation"
                           : status >= 500 ? "Backend"
                                           : "Validation";
        buf_puts(b, "{\"error\":");
        buf_json_str(b, msg, strlen(msg));
        buf_printf(b, ",\"error_type\":\"%s\"}\n", type);
    }
    http_reply_buf(r, status, "application/json");
    ereq_free(e);
}

/* ---------------------------------------------------------------- parsing ---- */

/* Reads "inputs"/"input" into e->texts (strings) or e->ids (OpenAI token arrays). Returns the
 * count, or -1 after answering. */
static int read_inputs(ereq_t *e, const json_value_t *in, const char *field, bool allow_ids)
{
    int max = e->ctx->max_inputs;
    if (!in) return fail(e, 422, "missing \"%s\"", field), -1;
    if (json_type(in) == JSON_STRING) {
        e->texts = malloc(sizeof *e->texts);
        e->lens = malloc(sizeof *e->lens);
        if (!e->texts || !e->lens) return fail(e, 503, "out of memory"), -1;
        e->texts[0] = json_string(in, &e->lens[0]);
        return 1;
    }
    if (json_type(in) != JSON_ARRAY)
        return fail(e, 422, "\"%s\" must be a string or an array of strings%s", field,
                    allow_ids ? " or token ids" : ""),
               -1;
    size_t n = json_size(in);
    if (n == 0) return fail(e, 422, "\"%s\" is empty", field), -1;
    const json_value_t *first = json_at(in, 0);
    /* OpenAI: [int, ...] is one tokenised input; [[int, ...], ...] several. */
    if (allow_ids && json_type(first) != JSON_STRING) {
        bool flat = json_type(first) == JSON_NUMBER;
        size_t count = flat ? 1 : n;
        if (count > (size_t)max)
            return fail(e, 413, "%zu inputs, more than the limit of %d (embed_max_inputs)", count,
                        max),
                   -1;
        e->ids = calloc(count, sizeof *e->ids);
        e->nids = calloc(count, sizeof *e->nids);
        if (!e->ids || !e->nids) return fail(e, 503, "out of memory"), -1;
        e->nids_n = (int)count;
        for (size_t i = 0; i < count; i++) {
            const json_value_t *arr = flat ? in : json_at(in, i);
            if (json_type(arr) != JSON_ARRAY || json_size(arr) == 0)
                return fail(e, 422, "input %zu must be a non-empty array of token ids", i), -1;
            size_t m = json_size(arr);
            if (!(e->ids[i] = malloc(m * sizeof **e->ids)))
                return fail(e, 503, "out of memory"), -1;
            for (size_t t = 0; t < m; t++) {
                const json_value_t *v = json_at(arr, t);
                if (!json_is_integer(v))
                    return fail(e, 422, "input %zu, token %zu is not an integer id", i, t), -1;
                e->ids[i][t] = json_int(v);
            }
            e->nids[i] = m;
        }
        return (int)count;
    }
    if (n > (size_t)max)
        return fail(e, 413, "%zu inputs, more than the limit of %d (embed_max_inputs)", n, max), -1;
    e->texts = calloc(n, sizeof *e->texts);
    e->lens = calloc(n, sizeof *e->lens);
    if (!e->texts || !e->lens) return fail(e, 503, "out of memory"), -1;
    for (size_t i = 0; i < n; i++) {
        const json_value_t *v = json_at(in, i);
        if (json_type(v) != JSON_STRING)
            return fail(e, 422, "\"%s\"[%zu] must be a string", field, i), -1;
        e->texts[i] = json_string(v, &e->lens[i]);
    }
    return (int)n;
}

/* An optional boolean member: 0 and *out set, or -1 after answering. */
static int opt_bool(ereq_t *e, const json_value_t *root, const char *key, bool *out)
{
    char why[128];
    if (json_type(json_get(root, key)) == JSON_NULL) return 0; /* as TEI: null is the default */
    if (json_opt_bool(root, key, NULL, out, why, sizeof why)) return fail(e, 422, "%s", why), -1;
    return 0;
}

/* The optional "model" member; NULL when absent. -1 via *bad after answering. */
static const char *opt_model(ereq_t *e, const json_value_t *root, bool required, bool *bad)
{
    const json_value_t *v = json_get(root, "model");
    *bad = false;
    if (!v || json_type(v) == JSON_NULL) {
        if (required) {
            *bad = true;
            fail(e, 422, "missing \"model\"");
        }
        return NULL;
    }
    size_t n;
    const char *s = json_string(v, &n);
    if (!s || n == 0 || n > 128 || memchr(s, 0, n)) {
        *bad = true;
        fail(e, 422, "\"model\" must be a model name");
        return NULL;
    }
    return s;
}

/* ---------------------------------------------------------------- answers ---- */

static int put_answer(ereq_t *e)
{
    embed_job_t *j = e->job;
    buf_t *b = &e->r->out_body;
    b->len = 0;
    size_t need = 64;
    for (int i = 0; i < j->n; i++) need += j->out[i].len + 64;
    if (buf_reserve(b, need)) return -ENOMEM;
    if (e->proto == P_TEI) {
        buf_puts(b, "[");
        for (int i = 0; i < j->n; i++) {
            if (i) buf_puts(b, ",");
            buf_append(b, j->out[i].data, j->out[i].len);
        }
        return buf_puts(b, "]\n");
    }
    buf_puts(b, "{\"object\":\"list\",\"data\":[");
    for (int i = 0; i < j->n; i++) {
        buf_printf(b, "%s{\"object\":\"embedding\",\"index\":%d,\"embedding\":", i ? "," : "", i);
        buf_append(b, j->out[i].data, j->out[i].len);
        buf_puts(b, "}");
    }
    buf_puts(b, "],\"model\":");
    const char *name = embed_model_name(e->ref.em);
    buf_json_str(b, name, strlen(name));
    return buf_printf(b, ",\"usage\":{\"prompt_tokens\":%lld,\"total_tokens\":%lld}}\n",
                      (long long)j->tokens, (long long)j->tokens);
}

static void answer(ereq_t *e)
{
    if (put_answer(e)) return fail(e, 503, "out of memory");
    http_reply_buf(e->r, 200, "application/json");
    ereq_free(e);
}

static void on_done(embed_job_t *j)
{
    ereq_t *e = j->user;
    if (j->rc) return fail(e, status_of(j->rc == -EIO ? ERR_INTERNAL : j->rc), "%s", j->err);
    answer(e);
}

/* ------------------------------------------------------------- embed routes ---- */

/* Parses the body and takes the model it names (required for OpenAI). The root object, or NULL
 * after answering. */
static const json_value_t *open_request(ereq_t *e)
{
    char err[512];
    json_limits_t lim = {.max_bytes = e->ctx->max_body};
    e->doc = json_parse(e->r->body, e->r->body_len, &lim, err, sizeof err);
    if (!e->doc) return fail(e, 400, "invalid JSON: %s", err), NULL;
    const json_value_t *root = json_root(e->doc);
    if (json_type(root) != JSON_OBJECT) return fail(e, 422, "the body must be a JSON object"), NULL;
    bool bad;
    const char *model = opt_model(e, root, e->proto == P_OPENAI, &bad);
    if (bad) return NULL;
    int rc = embedders_acquire(e->ctx->emb, model, &e->ref, err, sizeof err);
    if (rc) return fail(e, status_of(rc), "%s", err), NULL;
    return root;
}

static void handle_embed(ereq_t *e)
{
    char err[512];
    const json_value_t *root = open_request(e);
    if (!root) return;
    int n = read_inputs(e, json_get(root, e->proto == P_TEI ? "inputs" : "input"),
                        e->proto == P_TEI ? "inputs" : "input", e->proto == P_OPENAI);
    if (n < 0) return;
    embed_opts_t o = {.normalize = embed_model_spec(e->ref.em)->normalize};
    if (e->proto == P_TEI) {
        if (opt_bool(e, root, "normalize", &o.normalize) ||
            opt_bool(e, root, "truncate", &o.truncate))
            return;
        const json_value_t *d = json_get(root, "truncation_direction");
        if (d && json_type(d) != JSON_NULL) {
            const char *s = json_string(d, NULL);
            if (s && !strcasecmp(s, "left"))
                o.truncate_left = true;
            else if (!s || strcasecmp(s, "right"))
                return fail(e, 422, "\"truncation_direction\" must be \"right\" or \"left\"");
        }
    } else {
        /* OpenAI's API truncates nothing: a text over the limit is an error. */
        const json_value_t *f = json_get(root, "encoding_format");
        if (f && json_type(f) != JSON_NULL) {
            const char *s = json_string(f, NULL);
            if (s && !strcmp(s, "base64"))
                e->b64 = true;
            else if (!s || strcmp(s, "float"))
                return fail(e, 422, "\"encoding_format\" must be \"float\" or \"base64\"");
        }
    }
    const json_value_t *dims = json_get(root, "dimensions");
    if (dims && json_type(dims) != JSON_NULL) {
        if (!json_is_integer(dims) || json_int(dims) < 1)
            return fail(e, 422, "\"dimensions\" must be a positive integer");
        o.dimensions = json_int(dims);
    }
    embed_job_t *j = e->job = embed_job_new(e->ref.em, n);
    if (!j) return fail(e, 503, "out of memory");
    j->texts = e->texts;
    j->lens = e->lens;
    j->ids = (const int64_t **)e->ids;
    j->nids = e->nids;
    j->opts = o;
    j->encode = e->b64 ? codec_vec_base64 : codec_vec_json;
    j->encoding = e->b64 ? "b64" : "json";
    j->done = on_done;
    j->user = e;
    int rc = embed_submit(j, err, sizeof err);
    if (rc < 0) return fail(e, status_of(rc), "%s", err);
    if (rc == 1) answer(e); /* every text came from the cache */
}

static void pool_embed(void *arg, int worker)
{
    (void)worker;
    handle_embed(arg);
}

static void start(http_req_t *r, api_embed_t *ctx, proto_t p, void (*handle)(ereq_t *),
                  pool_fn on_pool)
{
    ereq_t *e = calloc(1, sizeof *e);
    if (!e) return http_reply_error(r, 503, "out of memory");
    e->r = r;
    e->ctx = ctx;
    e->proto = p;
    if (r->body_len <= INLINE_BODY_MAX) return handle(e);
    if (pool_submit(ctx->pool, on_pool, e) == 0) return;
    fail(e, 503, "server busy: the compute queue is full");
}

static void h_embed(http_req_t *r, void *arg)
{
    start(r, arg, P_TEI, handle_embed, pool_embed);
}

static void h_openai(http_req_t *r, void *arg)
{
    start(r, arg, P_OPENAI, handle_embed, pool_embed);
}

/* ----------------------------------------------------------------- tokenize ---- */

static void handle_tokenize(ereq_t *e)
{
    http_req_t *r = e->r;
    const json_value_t *root = open_request(e);
    if (!root) return;
    bool special = true;
    int rc;
    int n = read_inputs(e, json_get(root, "inputs"), "inputs", false);
    if (n < 0 || opt_bool(e, root, "add_special_tokens", &special)) return;
    const text_tok_t *tok = embed_model_tokenizer(e->ref.em);
    text_enc_t enc;
    text_enc_init(&enc);
    buf_t *b = &r->out_body;
    b->len = 0;
    buf_puts(b, "[");
    for (int i = 0; i < n; i++) {
        text_encode_opts_t o = {0, special, false};
        char e2[200];
        rc = text_tok_encode_ex(tok, e->texts[i], e->lens[i], &o, &enc, e2, sizeof e2);
        if (rc) {
            text_enc_free(&enc);
            return fail(e, 422, "input %d: %s", i, e2);
        }
        buf_puts(b, i ? ",[" : "[");
        for (size_t t = 0; t < enc.n; t++) {
            size_t tl;
            const char *tt = text_tok_id_text(tok, enc.ids[t], &tl);
            buf_printf(b, "%s{\"id\":%lld,\"text\":", t ? "," : "", (long long)enc.ids[t]);
            /* TEI reports the text as it appears in the input for real tokens. */
            if (!enc.special[t])
                buf_json_str(b, e->texts[i] + enc.start[t], enc.stop[t] - enc.start[t]);
            else
                buf_json_str(b, tt ? tt : "", tt ? tl : 0);
            if (enc.special[t])
                buf_puts(b, ",\"special\":true,\"start\":null,\"stop\":null}");
            else
                buf_printf(b, ",\"special\":false,\"start\":%zu,\"stop\":%zu}", enc.start[t],
                           enc.stop[t]);
        }
        buf_puts(b, "]");
    }
    text_enc_free(&enc);
    if (buf_puts(b, "]\n")) return fail(e, 503, "out of memory");
    http_reply_buf(r, 200, "application/json");
    ereq_free(e);
}

static void pool_tokenize(void *arg, int worker)
{
    (void)worker;
    handle_tokenize(arg);
}

static void h_tokenize(http_req_t *r, void *arg)
{
    start(r, arg, P_TEI, handle_tokenize, pool_tokenize);
}

/* --------------------------------------------------------------------- info ---- */

static void h_info(http_req_t *r, void *arg)
{
    api_embed_t *ctx = arg;
    char name[160], err[256], names[1024];
    int q = http_query_get(r->head.query, "model", name, sizeof name);
    if (q < 0) return http_reply_error(r, 400, "malformed \"model\" query parameter");
    const char *want = q == 1 ? name : NULL;
    embed_ref_t ref;
    int rc = embedders_acquire(ctx->emb, want, &ref, err, sizeof err);
    if (rc) return http_reply_error(r, status_of(rc), "%s", err);
    const embed_spec_t *sp = embed_model_spec(ref.em);
    embedders_names(ctx->emb, names, sizeof names);
    buf_t *b = &r->out_body;
    buf_puts(b, "{\"model_id\":");
    buf_json_str(b, embed_model_name(ref.em), strlen(embed_model_name(ref.em)));
    buf_printf(b,
               ",\"model_sha\":\"%s\",\"model_dtype\":\"%s\",\"model_version\":%lld,"
               "\"model_type\":{\"embedding\":{\"pooling\":\"%s\"}},\"dimensions\":%lld,"
               "\"normalize\":%s,\"max_input_length\":%d,\"max_client_batch_size\":%d,",
               ref.entry->digest, embed_model_int8(ref.em) ? "int8" : "float32",
               (long long)embed_model_version(ref.em), embed_pool_name(sp->pooling),
               (long long)embed_model_dim(ref.em), sp->normalize ? "true" : "false", sp->max_len,
               ctx->max_inputs);
    embed_cfg_t c = embed_model_cfg(ref.em);
    buf_printf(b,
               "\"max_batch_tokens\":%d,\"max_batch_requests\":%d,\"max_concurrent_requests\":%d,"
               "\"models\":[",
               c.max_tokens, c.max_batch, c.max_queue);
    /* names is "a,b,c": quote each. */
    for (char *s = names, *comma; *s; s = comma ? comma + 1 : s + strlen(s)) {
        comma = strchr(s, ',');
        size_t l = comma ? (size_t)(comma - s) : strlen(s);
        if (s != names) buf_puts(b, ",");
        buf_json_str(b, s, l);
    }
    buf_puts(b, "],\"version\":\"" INFERD_VERSION "\"}\n");
    embedders_release(&ref);
    http_reply_buf(r, 200, "application/json");
}

/* ------------------------------------------------------------------ set-up ---- */

api_embed_t *api_embed_new(embedders_t *emb, pool_t *pool, int max_inputs, size_t max_body)
{
    api_embed_t *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NULL;
    *ctx = (api_embed_t){emb, pool, max_inputs, max_body};
    return ctx;
}

void api_embed_register(http_router_t *rt, api_embed_t *ctx)
{
    router_add(rt, M(HTTP_POST), "/embed", h_embed, ctx, 0);
    router_add(rt, M(HTTP_POST), "/v1/embeddings", h_openai, ctx, 0);
    router_add(rt, M(HTTP_POST), "/tokenize", h_tokenize, ctx, 0);
    router_add(rt, M(HTTP_GET), "/info", h_info, ctx, 0);
}

void api_embed_free(api_embed_t *ctx)
{
    free(ctx);
}
