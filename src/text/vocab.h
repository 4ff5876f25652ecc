/* A tokenizer's vocabulary: token text <-> id. Text -> id is an open-addressing hash table built
 * at load (FNV-1a, so a lookup can hash a prefix such as "##" and the word's bytes as one string
 * without building it); id -> text is an array. Immutable once built, so threads share it. */
#ifndef INFERD_TEXT_VOCAB_H
#define INFERD_TEXT_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct text_vocab {
    char *blob; /* every token's bytes, each followed by a NUL */
    size_t blob_len, blob_cap;
    uint32_t *off;   /* per id: offset into blob, UINT32_MAX for an id no token has */
    uint32_t *len;   /* per id: bytes */
    int32_t nids;    /* ids are 0..nids-1 */
    int32_t idcap;   /* room in off/len */
    uint32_t *slots; /* hash table: id + 1, 0 for empty */
    uint32_t *slot_hash;
    uint32_t mask;  /* slots - 1 (a power of two minus one) */
    uint32_t count; /* distinct texts in the table */
    size_t max_len; /* bytes of the longest token */
} text_vocab_t;

#define TEXT_FNV_INIT 2166136261u

/* Continues an FNV-1a hash over n bytes. */
static inline uint32_t text_fnv(uint32_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 16777619u;
    return h;
}

/* An empty vocabulary. */
void text_vocab_init(text_vocab_t *v);
/* Frees what v holds; v may be zeroed. */
void text_vocab_free(text_vocab_t *v);
/* Maps id (0 <= id < 2^24) to text s[0..n), and when index is true text to id as well: a text
 * already present is remapped to the new id (the last of duplicate vocab.txt lines wins, as in
 * the reference tokenizers). 0, or -EINVAL (bad id, token over 1 KiB) / -ENOMEM with a
 * message. */
int text_vocab_add(text_vocab_t *v, const char *s, size_t n, int32_t id, bool index, char *err,
                   size_t errlen);
/* The id of the token whose text is pre[0..np) followed by s[0..n), where h is the FNV-1a hash
 * of those bytes (text_fnv); -1 when absent. */
int32_t text_vocab_find_h(const text_vocab_t *v, uint32_t h, const char *pre, size_t np,
                          const char *s, size_t n);
/* The id of s[0..n), or -1. */
int32_t text_vocab_find(const text_vocab_t *v, const char *s, size_t n);
/* The text of id (NUL-terminated, *len bytes; len may be NULL), or NULL for an unknown id. */
const char *text_vocab_text(const text_vocab_t *v, int32_t id, size_t *len);

#endif
