/* BERT WordPiece tokenizer, token-exact with HuggingFace `tokenizers` for BERT-family models
 * (BertNormalizer, BertPreTokenizer, WordPiece, a [CLS] A [SEP] template):
 *
 *   text -> split out added tokens ([CLS], [MASK] ... written in the text, matched on the raw
 *           bytes) -> normalise (drop control chars, whitespace to ' ', space out CJK
 *           ideographs, NFD and drop Mn marks, lowercase) -> split on whitespace and punctuation
 *           -> WordPiece (greedy longest match, "##" continuations, [UNK] for a word that does not
 *           split or is longer than max_input_chars_per_word) -> truncate -> add specials.
 *
 * A loaded tokenizer is immutable: threads share it. Encoding writes into a caller-owned
 * text_enc_t whose buffers are reused from call to call, so a steady state allocates nothing. */
#ifndef INFERD_TEXT_TOKENIZER_H
#define INFERD_TEXT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "text/textio.h"

typedef struct text_tok text_tok_t;

/* Offset of a token that has no span in the text (the [CLS]/[SEP] the template adds). */
#define TEXT_NO_OFFSET SIZE_MAX

/* One encoded text, unpadded. ids/type_ids/mask are int64 so a row can be copied straight into
 * an ONNX input tensor. Every array holds n entries; the rest of the struct is scratch. */
typedef struct text_enc {
    int64_t *ids;
    int64_t *type_ids; /* from the template (0 for a single text) */
    int64_t *mask;     /* attention mask: all 1 (there is no padding) */
    size_t *start;     /* byte offsets [start, stop) into the original text; TEXT_NO_OFFSET */
    size_t *stop;      /*   for tokens the template added */
    uint8_t *special;  /* 1 for tokens the template added */
    size_t n;          /* tokens, specials included, after truncation */
    size_t n_full;     /* tokens the text gives without truncation, specials included */
    bool truncated;    /* n < n_full */
    /* private scratch */
    size_t cap;
    void *priv;
} text_enc_t;

/* Options of text_tok_encode_ex; zero = no truncation, no specials, right truncation. */
typedef struct text_encode_opts {
    int max_len;        /* > 0: keep at most this many tokens, specials included */
    bool add_special;   /* add the template's tokens ([CLS] ... [SEP]) */
    bool truncate_left; /* drop tokens from the start instead of the end */
} text_encode_opts_t;

/* Loads a tokenizer from path: a folder holding tokenizer.json (preferred) or vocab.txt (with
 * tokenizer_config.json and special_tokens_map.json when present), or one of those files
 * itself. NULL with a message on failure (missing file, unsupported normaliser / pre-tokeniser /
 * model type, malformed JSON, missing special token). */
text_tok_t *text_tok_load(const char *path, char *err, size_t errlen);
/* Same from the folder dirfd, opening files with opener (NULL: text_open_default). file is
 * "tokenizer.json", "vocab.txt" or NULL to pick as text_tok_load does. */
text_tok_t *text_tok_load_at(int dirfd, text_open_fn opener, const char *file, char *err,
                             size_t errlen);
/* From the bytes of a tokenizer.json. */
text_tok_t *text_tok_load_json(const char *json, size_t len, char *err, size_t errlen);
/* From the bytes of a vocab.txt (one token per line, id = line number) and, when not NULL, of a
 * tokenizer_config.json and a special_tokens_map.json. */
text_tok_t *text_tok_load_vocab(const char *vocab, size_t vlen, const char *config, size_t clen,
                                const char *special_map, size_t slen, char *err, size_t errlen);
/* Frees t; NULL is allowed. */
void text_tok_free(text_tok_t *t);

/* Encodes s[0..n) into out (see text_enc_t), right-truncated to max_len tokens (<= 0: no
 * truncation) with [SEP] kept. 0, or negative with a message: -EILSEQ for invalid UTF-8
 * ("invalid UTF-8 at byte 17"), -EINVAL for a max_len too small for the specials, -ENOMEM. On
 * failure out->n is 0. */
int text_tok_encode(const text_tok_t *t, const char *s, size_t n, int max_len, bool add_special,
                    text_enc_t *out, char *err, size_t errlen);
/* Same with every option. */
int text_tok_encode_ex(const text_tok_t *t, const char *s, size_t n, const text_encode_opts_t *o,
                       text_enc_t *out, char *err, size_t errlen);

/* An empty encoding; its buffers grow on first use and are kept. */
void text_enc_init(text_enc_t *e);
/* Frees e's buffers. */
void text_enc_free(text_enc_t *e);

/* The text of token id ("hello", "##ing", "[CLS]"), NUL-terminated, *len bytes (len may be
 * NULL); NULL for an id the tokenizer does not have. */
const char *text_tok_id_text(const text_tok_t *t, int64_t id, size_t *len);
/* The id of a token's text, or -1. */
int64_t text_tok_token_id(const text_tok_t *t, const char *s, size_t n);
/* Number of ids (highest id + 1). */
size_t text_tok_vocab_size(const text_tok_t *t);
/* Tokens the template adds around one text (2 for [CLS] A [SEP]). */
int text_tok_num_special(const text_tok_t *t);
/* The padding id ([PAD]'s, 0 when the files name none). */
int64_t text_tok_pad_id(const text_tok_t *t);
#endif
