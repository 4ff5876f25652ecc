/* The tokenizer's internals, shared by its loader (tok_load.c) and encoder (tokenizer.c). */
#ifndef INFERD_TEXT_TOK_IMPL_H
#define INFERD_TEXT_TOK_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "text/tokenizer.h"
#include "text/vocab.h"

#define TEXT_MAX_TEMPLATE 4 /* special tokens before or after the text */
#define TEXT_MAX_PREFIX   16

/* A token matched on the raw text before normalisation ([CLS], [MASK] ... typed by a user). */
typedef struct text_added {
    const char *s; /* in the vocabulary's blob */
    uint32_t n;
    int32_t id;
} text_added_t;

/* What the ASCII fast path does with a byte (precomputed from the flags at load). */
enum { ASC_DROP, ASC_SPACE, ASC_PUNCT, ASC_WORD };

struct text_tok {
    text_vocab_t v;
    /* BertNormalizer */
    bool clean_text, chinese, strip_accents, lowercase;
    /* WordPiece */
    int32_t unk_id;
    size_t max_chars; /* max_input_chars_per_word */
    char prefix[TEXT_MAX_PREFIX];
    size_t prefix_len;
    uint32_t prefix_hash; /* FNV-1a state after the prefix */
    int64_t pad_id;
    /* Template for one text: pre[] A post[] */
    int npre, npost;
    int32_t pre[TEXT_MAX_TEMPLATE], post[TEXT_MAX_TEMPLATE];
    int64_t pre_type[TEXT_MAX_TEMPLATE], post_type[TEXT_MAX_TEMPLATE], seq_type;
    /* Added tokens, longest first; added_first marks their first bytes. */
    text_added_t *added;
    int nadded;
    uint8_t added_first[256];
    /* ASCII fast path: class and lowercased byte. */
    uint8_t asc_class[128], asc_map[128];
};

/* Fills asc_class/asc_map from the normaliser flags (tokenizer.c). */
void text_tok_prepare(text_tok_t *t);
/* Registers an added token (its text must already be in t->v under id). -ENOMEM. */
int text_tok_add_added(text_tok_t *t, int32_t id);

#endif
