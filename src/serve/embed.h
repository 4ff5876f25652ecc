/* Sentence embeddings, transport-free: texts in, one encoded vector per text out, through the
 * L1 cache, the tokenizer, the dynamic batcher, the encoder and pooling.
 *
 *   embed_job_t *j = embed_job_new(model, n);   // fill j->texts / j->lens, j->opts, j->done
 *   int rc = embed_submit(j, err, sizeof err);  // 1: answered from cache now; 0: j->done(j) later
 *
 * The answer for each text is bytes made by the caller's encoder (JSON numbers, base64 ...), so a
 * cache hit is answered without formatting a float. */
#ifndef INFERD_SERVE_EMBED_H
#define INFERD_SERVE_EMBED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "serve/pooling.h"
#include "util/buf.h"

struct cache;
struct text_tok;
struct eng_model;
struct embed_job;

/* Batching and threading for one model (settings [embed]). */
typedef struct embed_cfg {
    int workers;        /* batch threads */
    int engine_threads; /* threads one batch may use */
    int max_batch;      /* sequences per batch */
    int max_tokens;     /* padded tokens per batch */
    int max_delay_us;   /* wait for company */
    int max_queue;      /* sequences waiting, beyond which 503 */
} embed_cfg_t;

/* What the model folder says (see text/embed_folder.h). */
typedef struct embed_spec {
    embed_pool_t pooling;
    int max_len;    /* tokens, specials included */
    bool normalize; /* default for requests that do not say */
} embed_spec_t;

typedef struct embed_model embed_model_t;

/* Wraps a loaded encoder and tokenizer (both borrowed: they must outlive the model) and starts
 * its batch threads. name, version and ident (what identifies the model's file, e.g. inode, size
 * and mtime, or a digest) make its cache keys, so a replaced file is never answered from a
 * cache; cache (L1 and L2) may be NULL. NULL with
 * a message when the graph has no usable inputs/outputs (it needs input_ids, and an output
 * sentence_embedding or a 3-D one to pool). */
embed_model_t *embed_model_new(const char *name, int64_t version, const char *ident,
                               const struct eng_model *m, const struct text_tok *tok,
                               const embed_spec_t *spec, const embed_cfg_t *cfg,
                               struct cache *cache, char *err, size_t errlen);
/* Runs what is queued, stops the threads, frees (the encoder and tokenizer stay). */
void embed_model_free(embed_model_t *em);
const char *embed_model_name(const embed_model_t *em);
int64_t embed_model_version(const embed_model_t *em);
int64_t embed_model_dim(const embed_model_t *em);
const embed_spec_t *embed_model_spec(const embed_model_t *em);
const struct text_tok *embed_model_tokenizer(const embed_model_t *em);
int embed_model_depth(embed_model_t *em);
/* The batching in force: the settings, but max_batch 1 for an int8 model (embed_model_int8). */
embed_cfg_t embed_model_cfg(const embed_model_t *em);
/* Whether the encoder quantizes its activations at run time (DynamicQuantizeLinear: int8
 * exports); such a model runs one sequence per encoder call, as batching would change results. */
bool embed_model_int8(const embed_model_t *em);

/* Per-request options. */
typedef struct embed_opts {
    bool normalize;
    bool truncate;      /* false: a text over the limit is an error */
    bool truncate_left; /* drop from the start instead of the end */
    int64_t dimensions; /* 0: all; else keep the first N, then normalise (Matryoshka) */
} embed_opts_t;

/* Turns a finished vector into the bytes answered for it (and cached). 0 or -ENOMEM. */
typedef int (*embed_encode_fn)(const float *v, int64_t dim, buf_t *out);

/* One text's answer. */
typedef struct embed_out {
    const char *data; /* the encoder's bytes */
    size_t len;
    int64_t tokens; /* tokens the text took (specials included, after truncation) */
    void *hold;     /* private: the cache handle or the owned bytes */
    bool owned;
} embed_out_t;

typedef struct embed_seq embed_seq_t;

typedef struct embed_job {
    /* In: set by the caller before embed_submit. */
    embed_model_t *model;
    int n;
    const char **texts; /* n texts, each lens[i] bytes (borrowed until done) */
    size_t *lens;
    const int64_t **ids; /* or n pre-tokenised sequences (texts NULL); nids[i] ids each */
    size_t *nids;
    embed_opts_t opts;
    embed_encode_fn encode;
    const char *encoding;              /* names the encoder in cache keys ("f32json", "b64") */
    void (*done)(struct embed_job *j); /* called once, from a batch thread */
    void *user;
    /* Out. */
    embed_out_t *out; /* n answers (valid when rc == 0) */
    int64_t tokens;   /* sum over texts */
    int rc;           /* 0, or negative with err */
    char err[256];
    /* Stage times (ns) for histograms: tokenize, queue wait, compute, pool+encode. */
    uint64_t t_tokenize, t_queue, t_compute, t_pool;
    int cache_hits;
    /* Private. */
    atomic_int pending, l2_left;
    embed_seq_t *seqs;
    struct batch_item **miss; /* the texts not in L1 */
    int nmiss;
} embed_job_t;

/* A job for n texts (answers and bookkeeping allocated); NULL on out-of-memory. */
embed_job_t *embed_job_new(embed_model_t *em, int n);
void embed_job_free(embed_job_t *j);

/* Answers what the cache holds, tokenises the rest and queues them. Returns 1 when every text
 * was answered from the cache (done is not called), 0 when done(j) will be called from a batch
 * thread, or negative (util/err.h) with a message in err and nothing pending: ERR_INVALID for
 * invalid UTF-8, a bad option or token id; ERR_TOO_LARGE for more texts than the queue holds or a
 * text over the model's limit without truncate; ERR_BUSY when the queue is full; ERR_SHUTDOWN;
 * ERR_NOMEM. */
int embed_submit(embed_job_t *j, char *err, size_t errlen);

#endif
