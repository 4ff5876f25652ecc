/* Token table: one byte blob, an id-indexed array and a linear-probing hash table. */
#include "text/vocab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "text/textio.h"

#define MAX_TOKEN_BYTES 1024
#define MAX_ID          ((int32_t)1 << 24)

void text_vocab_init(text_vocab_t *v)
{
    memset(v, 0, sizeof *v);
}

void text_vocab_free(text_vocab_t *v)
{
    free(v->blob);
    free(v->off);
    free(v->len);
    free(v->slots);
    free(v->slot_hash);
    memset(v, 0, sizeof *v);
}

static bool same(const text_vocab_t *v, uint32_t id, const char *pre, size_t np, const char *s,
                 size_t n)
{
    const char *t = v->blob + v->off[id];
    return v->len[id] == np + n && memcmp(t, pre, np) == 0 && memcmp(t + np, s, n) == 0;
}

int32_t text_vocab_find_h(const text_vocab_t *v, uint32_t h, const char *pre, size_t np,
                          const char *s, size_t n)
{
    if (!v->slots) return -1;
    for (uint32_t i = h & v->mask;; i = (i + 1) & v->mask) {
        uint32_t e = v->slots[i];
        if (!e) return -1;
        if (v->slot_hash[i] == h && same(v, e - 1, pre, np, s, n)) return (int32_t)(e - 1);
    }
}

int32_t text_vocab_find(const text_vocab_t *v, const char *s, size_t n)
{
    return text_vocab_find_h(v, text_fnv(TEXT_FNV_INIT, s, n), "", 0, s, n);
}

const char *text_vocab_text(const text_vocab_t *v, int32_t id, size_t *len)
{
    if (id < 0 || id >= v->nids || v->off[id] == UINT32_MAX) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = v->len[id];
    return v->blob + v->off[id];
}

/* Doubles the table (or creates it) and reinserts every id that owns its text. */
static int rehash(text_vocab_t *v, uint32_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof *slots), *hs = calloc(nslots, sizeof *hs);
    if (!slots || !hs) {
        free(slots);
        free(hs);
        return -ENOMEM;
    }
    uint32_t mask = nslots - 1;
    for (uint32_t k = 0; v->slots && k <= v->mask; k++) {
        if (!v->slots[k]) continue;
        uint32_t i = v->slot_hash[k] & mask;
        while (slots[i]) i = (i + 1) & mask;
        slots[i] = v->slots[k];
        hs[i] = v->slot_hash[k];
    }
    free(v->slots);
    free(v->slot_hash);
    v->slots = slots;
    v->slot_hash = hs;
    v->mask = mask;
    return 0;
}

int text_vocab_add(text_vocab_t *v, const char *s, size_t n, int32_t id, bool index, char *err,
                   size_t errlen)
{
    if (id < 0 || id >= MAX_ID)
        return err_fail(err, errlen, -EINVAL, "token id %ld out of range", (long)id);
    if (n > MAX_TOKEN_BYTES)
        return err_fail(err, errlen, -EINVAL, "token of %zu bytes (at most %d)", n,
                        MAX_TOKEN_BYTES);
    if (id >= v->idcap) {
        int32_t cap = v->idcap ? v->idcap : 1024;
        while (cap <= id) cap *= 2;
        uint32_t *off = realloc(v->off, (size_t)cap * sizeof *off);
        if (off) v->off = off;
        uint32_t *len = off ? realloc(v->len, (size_t)cap * sizeof *len) : NULL;
        if (!off || !len) return err_fail(err, errlen, -ENOMEM, "out of memory");
        v->len = len;
        for (int32_t i = v->idcap; i < cap; i++) v->off[i] = UINT32_MAX, v->len[i] = 0;
        v->idcap = cap;
    }
    if (v->blob_len + n + 1 > v->blob_cap) {
        size_t cap = v->blob_cap ? v->blob_cap : 64 << 10;
        while (cap < v->blob_len + n + 1) cap *= 2;
        if (cap > UINT32_MAX) return err_fail(err, errlen, -ENOMEM, "vocabulary too large");
        char *b = realloc(v->blob, cap);
        if (!b) return err_fail(err, errlen, -ENOMEM, "out of memory");
        v->blob = b;
        v->blob_cap = cap;
    }
    if (!v->slots || (v->count + 1) * 2 > v->mask + 1) {
        if (rehash(v, v->slots ? (v->mask + 1) * 2 : 1024))
            return err_fail(err, errlen, -ENOMEM, "out of memory");
    }
    uint32_t h = text_fnv(TEXT_FNV_INIT, s, n);
    /* An id given twice keeps its last text; the old text's slot stays but no longer matches
     * (lookups compare the id's current text), so the old text is simply unknown. */
    memcpy(v->blob + v->blob_len, s, n);
    v->blob[v->blob_len + n] = '\0';
    if (id >= v->nids) v->nids = id + 1;
    v->off[id] = (uint32_t)v->blob_len;
    v->len[id] = (uint32_t)n;
    v->blob_len += n + 1;
    if (!index) return 0;
    if (n > v->max_len) v->max_len = n;
    for (uint32_t i = h & v->mask;; i = (i + 1) & v->mask) {
        uint32_t e = v->slots[i];
        if (!e) {
            v->slots[i] = (uint32_t)id + 1;
            v->slot_hash[i] = h;
            v->count++;
            break;
        }
        if (v->slot_hash[i] == h && same(v, e - 1, "", 0, s, n)) {
            v->slots[i] = (uint32_t)id + 1; /* a duplicate text: the later id wins */
            break;
        }
    }
    return 0;
}
