/* The embedding service. A request's texts are looked up in the cache, the misses tokenised
 * and queued to the model's batcher as one sequence each; a batch thread pads the batch to its
 * longest sequence, runs the encoder, pools and normalises each row, encodes it with the request's
 * encoder, caches the bytes and, when a request's last sequence is done, calls its done. */
#include "serve/embed.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "engine/engine.h"
#include "metrics/metrics.h"
#include "serve/batcher.h"
#include "text/tokenizer.h"
#include "util/clock.h"
#include "util/err.h"

struct embed_seq {
    batch_item_t bi; /* first: the batcher hands back batch_item_t pointers */
    embed_job_t *job;
    int index;
    buf_t key;      /* its cache key, made once for L1, L2 and the put (when there is a cache) */
    text_enc_t enc; /* a text's tokens */
    const int64_t *ids;   /* what runs: enc.ids, or the caller's ids */
    const int64_t *types; /* enc.type_ids, or NULL for zeros */
    size_t n;
    bool l2_hit;
};

/* A batch thread's reusable state: its engine session and input buffers. */
typedef struct worker {
    eng_session_t *sess;
    int64_t *ids, *mask, *types;
    size_t cap; /* elements in each buffer */
    float *vec;
    buf_t enc;
} worker_t;

struct embed_model {
    char *name, *ident;
    int64_t version;
    const eng_model_t *m;
    const text_tok_t *tok;
    embed_spec_t spec;
    embed_cfg_t cfg;
    cache_t *cache;                        /* L1 and L2; NULL: none */
    bool l2;                               /* the cache has an L2 */
    int ninputs, in_ids, in_mask, in_type; /* input positions, -1 when the graph lacks one */
    int out;                               /* output used */
    bool out_pooled;                       /* it is already [batch, dim] */
    bool dynq; /* it quantizes activations at run time: one sequence per run (see has_dynq) */
    int64_t dim;
    batcher_t *batcher;
    worker_t *workers;
};

/* Series shared by every embedding model. */
static struct {
    metric_t *stage[4], *batch_seqs, *batch_tokens, *seqs, *tokens, *hits, *misses, *errors;
    metric_t *l2_hits, *l2_misses;
} M;

static void metrics_init(void)
{
    static atomic_int done;
    if (atomic_exchange(&done, 1)) return;
    metric_family_t *f =
        metrics_family("inferd_embed_stage_seconds",
                       "Time per embedding stage: tokenize, queue (waiting for a "
                       "batch), compute (encoder run), pool (pool+encode)",
                       METRIC_HISTOGRAM, metrics_latency_buckets, metrics_latency_nbuckets);
    static const char *stages[] = {"stage=\"tokenize\"", "stage=\"queue\"", "stage=\"compute\"",
                                   "stage=\"pool\""};
    for (int i = 0; i < 4; i++) M.stage[i] = metrics_series(f, stages[i], false);
    /* Batch sizes as histograms with count-valued "seconds" would mislead; counters of batches
     * and sequences give the mean, which is what tuning max_batch needs. */
    f = metrics_family("inferd_embed_batches_total", "Encoder batches run", METRIC_COUNTER, NULL,
                       0);
    M.batch_seqs = metrics_series(f, "", false);
    f = metrics_family("inferd_embed_batch_padded_tokens_total",
                       "Tokens the encoder ran, padding included", METRIC_COUNTER, NULL, 0);
    M.batch_tokens = metrics_series(f, "", false);
    f = metrics_family("inferd_embed_sequences_total", "Texts embedded by the encoder",
                       METRIC_COUNTER, NULL, 0);
    M.seqs = metrics_series(f, "", false);
    f = metrics_family("inferd_embed_tokens_total", "Tokens of texts embedded by the encoder",
                       METRIC_COUNTER, NULL, 0);
    M.tokens = metrics_series(f, "", false);
    f = metrics_family(
        "inferd_embed_cache_lookups_total",
        "Embedding cache lookups: L1 hits and misses, then for L1 misses L2 hits and misses "
        "(an L2 error counts as a miss)",
        METRIC_COUNTER, NULL, 0);
    M.hits = metrics_series(f, "result=\"hit\"", false);
    M.misses = metrics_series(f, "result=\"miss\"", false);
    M.l2_hits = metrics_series(f, "result=\"l2_hit\"", false);
    M.l2_misses = metrics_series(f, "result=\"l2_miss\"", false);
    f = metrics_family("inferd_embed_errors_total", "Encoder batches that failed", METRIC_COUNTER,
                       NULL, 0);
    M.errors = metrics_series(f, "", false);
}

static void run_batch(void *ctx, int w, batch_item_t **items, int n);

/* Whether the graph has DynamicQuantizeLinear (int8 exports, model_quantized.onnx). It takes one
 * scale and zero point from the whole tensor, so a row's result depends on the other sequences of
 * its batch and on their padding (ONNX Runtime's own embedding of a text moves by ~1e-4 between
 * batch 1 and a batch of two). Such models run one sequence per encoder call, unpadded
 * (max_batch 1): each text then gets what ORT gives it alone, whatever the traffic, and a cached
 * answer is the one a fresh run would give. */
static bool has_dynq(const eng_model_t *m)
{
    eng_model_info_t info;
    eng_model_describe(m, &info);
    for (int i = 0; i < info.nops; i++)
        if (!strcmp(info.op_name[i], "DynamicQuantizeLinear") &&
            (!info.op_domain[i][0] || !strcmp(info.op_domain[i], "ai.onnx")))
            return true;
    return false;
}

static int find_input(const eng_model_t *m, const char *name)
{
    for (int i = 0; i < eng_model_ninputs(m); i++)
        if (!strcmp(eng_model_input(m, i)->name, name)) return i;
    return -1;
}

embed_model_t *embed_model_new(const char *name, int64_t version, const char *ident,
                               const eng_model_t *m, const text_tok_t *tok,
                               const embed_spec_t *spec, const embed_cfg_t *cfg, cache_t *cache,
                               char *err, size_t errlen)
{
    metrics_init();
    embed_model_t *em = calloc(1, sizeof *em);
    if (!em || !(em->name = strdup(name)) || !(em->ident = strdup(ident ? ident : ""))) goto oom;
    em->version = version;
    em->m = m;
    em->tok = tok;
    em->spec = *spec;
    em->cfg = *cfg;
    em->cache = cache;
    em->l2 = cache && cache_l2(cache);
    em->ninputs = eng_model_ninputs(m);
    em->in_ids = find_input(m, "input_ids");
    em->in_mask = find_input(m, "attention_mask");
    em->in_type = find_input(m, "token_type_ids");
    int known = (em->in_ids >= 0) + (em->in_mask >= 0) + (em->in_type >= 0);
    if (em->in_ids < 0 || known != em->ninputs) {
        snprintf(err, errlen,
                 "an embedding model's inputs must be input_ids and optionally attention_mask "
                 "and token_type_ids; this one has %d input(s)%s",
                 em->ninputs, em->in_ids < 0 ? " and no input_ids" : " including others");
        goto fail;
    }
    em->dynq = has_dynq(m);
    if (em->dynq) em->cfg.max_batch = 1;
    em->out = -1;
    for (int i = 0; i < eng_model_noutputs(m); i++)
        if (!strcmp(eng_model_output(m, i)->name, "sentence_embedding")) {
            em->out = i;
            em->out_pooled = true;
        }
    for (int i = 0; em->out < 0 && i < eng_model_noutputs(m); i++)
        if (!strcmp(eng_model_output(m, i)->name, "last_hidden_state")) em->out = i;
    for (int i = 0; em->out < 0 && i < eng_model_noutputs(m); i++)
        if (eng_model_output(m, i)->rank == 3) em->out = i;
    if (em->out < 0) {
        snprintf(err, errlen, "no output sentence_embedding, last_hidden_state or of rank 3");
        goto fail;
    }
    em->workers = calloc((size_t)cfg->workers, sizeof *em->workers);
    if (!em->workers) goto oom;
    for (int i = 0; i < cfg->workers; i++) {
        em->workers[i].sess = eng_session_new(m, cfg->engine_threads);
        if (!em->workers[i].sess) goto oom;
        buf_init(&em->workers[i].enc);
    }
    /* One run of [CLS]-like token 0 at length 2 finds the width (declared dims may be symbolic)
     * and checks the graph runs at all before requests come. */
    {
        int64_t ids[2] = {0, 0}, ones[2] = {1, 1}, zeros[2] = {0, 0};
        tensor_t in[3];
        for (int i = 0; i < em->ninputs; i++) {
            int64_t *d = i == em->in_ids ? ids : i == em->in_mask ? ones : zeros;
            in[i] = (tensor_t){.dtype = DT_INT64, .rank = 2, .dims = {1, 2}, .data = d};
        }
        const tensor_t *out;
        int nout;
        char e2[256];
        if (eng_session_run(em->workers[0].sess, in, em->ninputs, &out, &nout, e2, sizeof e2)) {
            snprintf(err, errlen, "the encoder does not run on a 2-token input: %s", e2);
            goto fail;
        }
        const tensor_t *o = &out[em->out];
        if (o->dtype != DT_FLOAT || o->rank != (em->out_pooled ? 2 : 3)) {
            snprintf(err, errlen, "output %s is not a float tensor of rank %d",
                     eng_model_output(m, em->out)->name, em->out_pooled ? 2 : 3);
            goto fail;
        }
        em->dim = o->dims[o->rank - 1];
    }
    for (int i = 0; i < cfg->workers; i++)
        if (!(em->workers[i].vec = malloc((size_t)em->dim * sizeof(float)))) goto oom;
    batcher_cfg_t bc = {cfg->workers,      em->cfg.max_batch, cfg->max_tokens,
                        cfg->max_delay_us, cfg->max_queue,    "emb"};
    em->batcher = batcher_new(&bc, run_batch, em, err, errlen);
    if (!em->batcher) goto fail;
    return em;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    embed_model_free(em);
    return NULL;
}

static void *free_later(void *em)
{
    embed_model_free(em);
    return NULL;
}

void embed_model_free(embed_model_t *em)
{
    if (!em) return;
    if (em->batcher && batcher_on_worker(em->batcher)) {
        /* The model's last reference went with a request answered inside one of its own
         * batches (a reload or shutdown dropped the repository's first): that worker is still in
         * run_batch, using the model, and cannot join itself. Another thread frees it, joining
         * the workers first. (ASan caught the worker reading its freed batcher.) */
        pthread_t t;
        if (pthread_create(&t, NULL, free_later, em) == 0) pthread_detach(t);
        return; /* without a thread, leaking one model beats freeing it under a worker */
    }
    batcher_free(em->batcher);
    for (int i = 0; em->workers && i < em->cfg.workers; i++) {
        worker_t *w = &em->workers[i];
        eng_session_free(w->sess);
        free(w->ids);
        free(w->mask);
        free(w->types);
        free(w->vec);
        buf_deinit(&w->enc);
    }
    free(em->workers);
    free(em->name);
    free(em->ident);
    free(em);
}

const char *embed_model_name(const embed_model_t *em)
{
    return em->name;
}
int64_t embed_model_version(const embed_model_t *em)
{
    return em->version;
}
int64_t embed_model_dim(const embed_model_t *em)
{
    return em->dim;
}
const embed_spec_t *embed_model_spec(const embed_model_t *em)
{
    return &em->spec;
}
const text_tok_t *embed_model_tokenizer(const embed_model_t *em)
{
    return em->tok;
}

bool embed_model_int8(const embed_model_t *em)
{
    return em->dynq;
}

embed_cfg_t embed_model_cfg(const embed_model_t *em)
{
    return em->cfg;
}
int embed_model_depth(embed_model_t *em)
{
    return batcher_depth(em->batcher);
}

embed_job_t *embed_job_new(embed_model_t *em, int n)
{
    embed_job_t *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->model = em;
    j->n = n;
    j->out = calloc((size_t)(n ? n : 1), sizeof *j->out);
    j->seqs = calloc((size_t)(n ? n : 1), sizeof *j->seqs);
    if (!j->out || !j->seqs) {
        embed_job_free(j);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        text_enc_init(&j->seqs[i].enc);
        buf_init(&j->seqs[i].key);
    }
    return j;
}

void embed_job_free(embed_job_t *j)
{
    if (!j) return;
    for (int i = 0; j->out && i < j->n; i++) {
        if (!j->out[i].hold) continue;
        if (j->out[i].owned)
            free(j->out[i].hold);
        else
            lru_release(j->out[i].hold);
    }
    for (int i = 0; j->seqs && i < j->n; i++) {
        text_enc_free(&j->seqs[i].enc);
        buf_deinit(&j->seqs[i].key);
    }
    free(j->out);
    free(j->seqs);
    free(j->miss);
    free(j);
}

/* Cached value: the token count (8 bytes) then the encoder's bytes. */
#define VAL_HDR sizeof(int64_t)

/* Keys: model, version, file digest, encoder and options (the job's prefix, the same for all its
 * texts), then the text or ids: all that decides the bytes. */
static int key_prefix(const embed_job_t *j, buf_t *k)
{
    const embed_model_t *em = j->model;
    return buf_printf(k, "%s%c%lld%c%s%c%s%c%d%d%d%lld%c", em->name, 0, (long long)em->version, 0,
                      em->ident, 0, j->encoding ? j->encoding : "", 0, j->opts.normalize,
                      j->opts.truncate, j->opts.truncate_left, (long long)j->opts.dimensions,
                      j->texts ? 't' : 'i');
}

static int cache_key(const embed_job_t *j, int i, const buf_t *prefix, buf_t *k)
{
    if (buf_append(k, prefix->data, prefix->len)) return -ENOMEM;
    if (j->texts) return buf_append(k, j->texts[i], j->lens[i]);
    return buf_append(k, j->ids[i], j->nids[i] * sizeof(int64_t));
}

static void set_error(embed_job_t *j, int rc, const char *msg)
{
    int zero = 0;
    if (__atomic_compare_exchange_n(&j->rc, &zero, rc, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        snprintf(j->err, sizeof j->err, "%s", msg);
}

/* Points seq at the caller's ids (used as given: no special tokens added), cut to the model's
 * length when truncating. */
static int take_ids(embed_job_t *j, int i, embed_seq_t *q, char *err, size_t errlen)
{
    const embed_model_t *em = j->model;
    size_t n = j->nids[i], vocab = text_tok_vocab_size(em->tok);
    if (n == 0) return err_set(err, errlen, "input %d has no tokens", i), ERR_INVALID;
    if (n > (size_t)em->spec.max_len && !j->opts.truncate)
        return err_set(err, errlen, "input %d has %zu tokens, more than the model's maximum of %d",
                       i, n, em->spec.max_len),
               ERR_TOO_LARGE;
    for (size_t t = 0; t < n; t++)
        if (j->ids[i][t] < 0 || (size_t)j->ids[i][t] >= vocab)
            return err_set(err, errlen, "input %d: token id %lld is not in the vocabulary", i,
                           (long long)j->ids[i][t]),
                   ERR_INVALID;
    size_t keep = n > (size_t)em->spec.max_len ? (size_t)em->spec.max_len : n;
    q->ids = j->ids[i] + (j->opts.truncate_left ? n - keep : 0);
    q->types = NULL;
    q->n = keep;
    return 0;
}

/* Queues the job's misses (j->miss) for the encoder. 0, or ERR_BUSY / ERR_SHUTDOWN with err. */
static int queue(embed_job_t *j, char *err, size_t errlen)
{
    embed_model_t *em = j->model;
    atomic_store(&j->pending, j->nmiss);
    int rc = batcher_submit(em->batcher, j->miss, j->nmiss);
    if (rc == -EBUSY)
        return err_set(err, errlen, "the model's queue is full (%d texts waiting); retry later",
                       em->cfg.max_queue),
               ERR_BUSY;
    if (rc) return err_set(err, errlen, "the server is shutting down"), ERR_SHUTDOWN;
    return 0;
}

/* Every L2 answer is in: what Redis had is answered, the rest goes to the encoder. Runs on the
 * L2 thread, or on the caller's when no lookup could be sent. */
static void l2_all_done(embed_job_t *j)
{
    int n = 0;
    for (int i = 0; i < j->nmiss; i++)
        if (!((embed_seq_t *)j->miss[i])->l2_hit) j->miss[n++] = j->miss[i];
    j->nmiss = n;
    char err[200];
    int rc = n ? queue(j, err, sizeof err) : 0;
    if (rc) set_error(j, rc, err);
    if (rc || !n) j->done(j);
}

static void l2_got(void *arg, int status, const void *val, size_t len)
{
    embed_seq_t *s = arg;
    embed_job_t *j = s->job;
    char *copy = status == L2_HIT && len > VAL_HDR ? malloc(len) : NULL;
    if (copy) {
        memcpy(copy, val, len);
        embed_out_t *a = &j->out[s->index];
        memcpy(&a->tokens, copy, VAL_HDR);
        a->data = copy + VAL_HDR;
        a->len = len - VAL_HDR;
        a->hold = copy;
        a->owned = true;
        s->l2_hit = true;
        metric_add(M.l2_hits, 1); /* the cache put it in L1 too */
    } else {
        metric_add(M.l2_misses, 1);
    }
    if (atomic_fetch_sub(&j->l2_left, 1) == 1) l2_all_done(j);
}

/* Asks Redis for every miss at once; a lookup that cannot be sent is a miss. */
static void l2_lookup(embed_job_t *j)
{
    int n = j->nmiss;
    atomic_store(&j->l2_left, n);
    for (int i = 0; i < n; i++) {
        embed_seq_t *s = (embed_seq_t *)j->miss[i];
        if (cache_get_l2(j->model->cache, s->key.data, s->key.len, l2_got, s))
            l2_got(s, L2_EIO, NULL, 0);
    }
}

int embed_submit(embed_job_t *j, char *err, size_t errlen)
{
    embed_model_t *em = j->model;
    if (j->opts.dimensions < 0 || j->opts.dimensions > em->dim)
        return (err_set(err, errlen, "dimensions must be between 1 and the model's %lld, not %lld",
                        (long long)em->dim, (long long)j->opts.dimensions),
                ERR_INVALID);
    buf_t prefix;
    buf_init(&prefix);
    if (em->cache && key_prefix(j, &prefix))
        return err_set(err, errlen, "out of memory"), ERR_NOMEM;
    int rc = 0, nmiss = 0;
    batch_item_t **miss = malloc((size_t)(j->n ? j->n : 1) * sizeof *miss);
    if (!miss) {
        buf_deinit(&prefix);
        return err_set(err, errlen, "out of memory"), ERR_NOMEM;
    }
    uint64_t t0 = clock_mono_ns();
    for (int i = 0; i < j->n && !rc; i++) {
        embed_seq_t *s = &j->seqs[i];
        if (em->cache) {
            if (cache_key(j, i, &prefix, &s->key)) {
                rc = (err_set(err, errlen, "out of memory"), ERR_NOMEM);
                break;
            }
            lru_val_t *v = cache_get_l1(em->cache, s->key.data, s->key.len);
            if (v) {
                metric_add(M.hits, 1);
                const char *d = lru_val_data(v);
                memcpy(&j->out[i].tokens, d, VAL_HDR);
                j->out[i].data = d + VAL_HDR;
                j->out[i].len = lru_val_len(v) - VAL_HDR;
                j->out[i].hold = v;
                j->tokens += j->out[i].tokens;
                j->cache_hits++;
                continue;
            }
            metric_add(M.misses, 1);
        }
        s->job = j;
        s->index = i;
        if (j->texts) {
            text_encode_opts_t o = {em->spec.max_len, true, j->opts.truncate_left};
            char e2[200];
            int r =
                text_tok_encode_ex(em->tok, j->texts[i], j->lens[i], &o, &s->enc, e2, sizeof e2);
            if (r) {
                rc = (err_set(err, errlen, "input %d: %s", i, e2),
                      r == -ENOMEM ? ERR_NOMEM : ERR_INVALID);
                break;
            }
            if (s->enc.truncated && !j->opts.truncate) {
                rc = (err_set(err, errlen,
                              "input %d has %zu tokens, more than the model's maximum of %d (set "
                              "truncate to cut it)",
                              i, s->enc.n_full, em->spec.max_len),
                      ERR_TOO_LARGE);
                break;
            }
            s->ids = s->enc.ids;
            s->types = s->enc.type_ids;
            s->n = s->enc.n;
        } else if ((rc = take_ids(j, i, s, err, errlen))) {
            break;
        }
        s->bi.cost = (int)s->n;
        j->tokens += (int64_t)s->n;
        miss[nmiss++] = &s->bi;
    }
    buf_deinit(&prefix);
    j->t_tokenize = clock_mono_ns() - t0;
    if (!rc && nmiss) metric_observe_ns(M.stage[0], j->t_tokenize);
    if (rc || !nmiss) {
        free(miss);
        return rc ? rc : 1;
    }
    j->miss = miss;
    j->nmiss = nmiss;
    if (nmiss > em->cfg.max_queue)
        return err_set(err, errlen,
                       "%d texts to embed, more than the model's queue holds (embed_queue %d)",
                       nmiss, em->cfg.max_queue),
               ERR_TOO_LARGE;
    if (em->l2) return l2_lookup(j), 0;
    return queue(j, err, errlen);
}

/* Grows a worker's input buffers to hold n elements each. */
static int worker_reserve(worker_t *w, size_t n)
{
    if (n <= w->cap) return 0;
    int64_t *a = realloc(w->ids, n * sizeof *a);
    if (a) w->ids = a;
    int64_t *b = realloc(w->mask, n * sizeof *b);
    if (b) w->mask = b;
    int64_t *c = realloc(w->types, n * sizeof *c);
    if (c) w->types = c;
    if (!a || !b || !c) return -ENOMEM;
    w->cap = n;
    return 0;
}

static void seq_finish(embed_seq_t *s)
{
    embed_job_t *j = s->job;
    if (atomic_fetch_sub(&j->pending, 1) == 1) j->done(j);
}

static void run_batch(void *ctx, int wi, batch_item_t **items, int n)
{
    embed_model_t *em = ctx;
    worker_t *w = &em->workers[wi];
    uint64_t t0 = clock_mono_ns();
    int64_t L = items[0]->cost; /* longest first */
    char err[256];
    if (worker_reserve(w, (size_t)n * (size_t)L)) {
        for (int i = 0; i < n; i++) {
            embed_seq_t *s = (embed_seq_t *)items[i];
            set_error(s->job, ERR_NOMEM, "out of memory");
            seq_finish(s);
        }
        return;
    }
    int64_t real = 0;
    for (int i = 0; i < n; i++) {
        embed_seq_t *s = (embed_seq_t *)items[i];
        uint64_t q = t0 - s->bi.enq_ns;
        if (q > s->job->t_queue) s->job->t_queue = q;
        metric_observe_ns(M.stage[1], q);
        size_t len = s->n;
        real += (int64_t)len;
        int64_t *ids = w->ids + i * L, *mask = w->mask + i * L, *types = w->types + i * L;
        memcpy(ids, s->ids, len * sizeof *ids);
        if (s->types)
            memcpy(types, s->types, len * sizeof *types);
        else
            memset(types, 0, len * sizeof *types);
        for (size_t t = 0; t < len; t++) mask[t] = 1;
        int64_t pad = text_tok_pad_id(em->tok);
        for (int64_t t = (int64_t)len; t < L; t++) ids[t] = pad, mask[t] = 0, types[t] = 0;
    }
    tensor_t in[3];
    for (int i = 0; i < em->ninputs; i++) {
        int64_t *d = i == em->in_ids ? w->ids : i == em->in_mask ? w->mask : w->types;
        in[i] = (tensor_t){.dtype = DT_INT64, .rank = 2, .dims = {n, L}, .data = d};
    }
    const tensor_t *out;
    int nout;
    int rc = eng_session_run(w->sess, in, em->ninputs, &out, &nout, err, sizeof err);
    uint64_t t1 = clock_mono_ns();
    metric_observe_ns(M.stage[2], t1 - t0);
    metric_add(M.batch_seqs, 1);
    metric_add(M.batch_tokens, (int64_t)n * L);
    metric_add(M.seqs, n);
    metric_add(M.tokens, real);
    if (rc) metric_add(M.errors, 1);
    for (int i = 0; i < n; i++) {
        embed_seq_t *s = (embed_seq_t *)items[i];
        embed_job_t *j = s->job;
        if (t1 - t0 > j->t_compute) j->t_compute = t1 - t0;
        if (rc) {
            set_error(j, -EIO, err);
            seq_finish(s);
            continue;
        }
        const tensor_t *o = &out[em->out];
        if (em->out_pooled)
            memcpy(w->vec, (const float *)o->data + i * em->dim, (size_t)em->dim * sizeof(float));
        else
            pool_tokens(em->spec.pooling, (const float *)o->data + (int64_t)i * L * em->dim,
                        (int64_t)s->n, em->dim, w->vec);
        int64_t kept = pool_finish(w->vec, em->dim, j->opts.dimensions, j->opts.normalize);
        w->enc.len = 0;
        int64_t tokens = (int64_t)s->n;
        char *val = NULL;
        if (!buf_append(&w->enc, &tokens, VAL_HDR) && !j->encode(w->vec, kept, &w->enc))
            val = malloc(w->enc.len);
        if (!val) {
            set_error(j, ERR_NOMEM, "out of memory");
            seq_finish(s);
            continue;
        }
        memcpy(val, w->enc.data, w->enc.len);
        embed_out_t *a = &j->out[s->index];
        a->data = val + VAL_HDR;
        a->len = w->enc.len - VAL_HDR;
        a->tokens = tokens;
        a->hold = val;
        a->owned = true;
        if (em->cache) cache_put(em->cache, s->key.data, s->key.len, val, w->enc.len);
        uint64_t t2 = clock_mono_ns();
        if (t2 - t1 > j->t_pool) j->t_pool = t2 - t1;
        metric_observe_ns(M.stage[3], t2 - t1);
        seq_finish(s);
    }
}
