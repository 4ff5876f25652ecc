/* An embedding model folder as sentence-transformers and TEI lay it out, described without
 * loading anything heavy (pure parsing of small files):
 *
 *   DIR/<name>/model.onnx | onnx/model.onnx            (fp32; preferred)
 *             model_quantized.onnx | onnx/model_quantized.onnx   (int8, used when no fp32)
 *             tokenizer.json | vocab.txt (+ tokenizer_config.json, special_tokens_map.json)
 *             modules.json                    (lists Pooling and Normalize modules)
 *             1_Pooling/config.json           (pooling_mode_*: mean, cls, max, lasttoken)
 *             sentence_bert_config.json       (max_seq_length)
 *             tokenizer_config.json           (model_max_length, when the above is absent)
 *             config.ini                      ([model] pooling, max_length, normalize,
 *                                              model_file: override any of the above)
 *
 * Normalisation: on, unless modules.json exists and lists no sentence_transformers Normalize
 * module (such a model's embeddings are meant unnormalised, e.g. the *-dot-* models), or
 * config.ini says normalize = false. A request may still ask either way. */
#ifndef INFERD_TEXT_EMBED_FOLDER_H
#define INFERD_TEXT_EMBED_FOLDER_H

#include <stdbool.h>
#include <stddef.h>

#include "text/textio.h"

typedef enum embed_pool {
    EMBED_POOL_MEAN, /* mean of the token vectors under the attention mask */
    EMBED_POOL_CLS,  /* the first token's vector */
    EMBED_POOL_MAX,  /* per-dimension max under the mask */
    EMBED_POOL_LAST, /* the last unmasked token's vector */
} embed_pool_t;

/* Where a setting came from, for logs and /info. */
typedef enum embed_src {
    EMBED_SRC_DEFAULT,
    EMBED_SRC_FOLDER, /* sentence-transformers / tokenizer files */
    EMBED_SRC_CONFIG, /* config.ini */
} embed_src_t;

#define EMBED_PATH_MAX 256

typedef struct embed_folder {
    char model_file[EMBED_PATH_MAX];     /* relative to the folder, e.g. "onnx/model.onnx" */
    bool quantized;                      /* the file's name says model_quantized */
    char tokenizer_file[EMBED_PATH_MAX]; /* "tokenizer.json" or "vocab.txt" */
    embed_pool_t pooling;
    int max_length; /* tokens, specials included; 0 when nothing says (use the graph's limit) */
    bool normalize;
    int dim; /* word_embedding_dimension from the pooling config; 0 when absent */
    embed_src_t pooling_src, max_length_src, normalize_src;
} embed_folder_t;

/* Describes the folder dirfd, opening files with opener (NULL: text_open_default). 0;
 * -ENOENT when the folder has no model file or no tokenizer file (it is not an embedding model);
 * -EINVAL for a malformed or contradictory file (the message names the file and the problem:
 * several pooling modes, an unsupported one such as weighted mean, a bad config.ini value). */
int embed_folder_read(int dirfd, text_open_fn opener, embed_folder_t *out, char *err,
                      size_t errlen);
/* Same for a folder path. */
int embed_folder_read_path(const char *dir, embed_folder_t *out, char *err, size_t errlen);

/* "mean", "cls", "max", "lasttoken". */
const char *embed_pool_name(embed_pool_t p);
/* Parses one of those names (also "last", "last_token", "mean_tokens"...); -1 otherwise. */
int embed_pool_parse(const char *s);

#endif
