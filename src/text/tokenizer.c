/* The encoder: one pass over the text that normalises each code point, splits words as it goes
 * and runs WordPiece on each finished word. Character classes follow HuggingFace `tokenizers`
 * (the implementation TEI serves with); utf8proc gives categories, decompositions and case. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/tok_impl.h"
#include "text/tokenizer.h"
#include "util/utf8.h"

/* ==== Character classes ==== */

/* Rust's char::is_whitespace (the White_Space property), which BertNormalizer and
 * BertPreTokenizer use; \t \n \r count although they are controls. */
static bool is_ws(uint32_t c)
{
    if (c < 0x80) return c == ' ' || (c >= 9 && c <= 13);
    switch (c) {
    case 0x85:
    case 0xa0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202f:
    case 0x205f:
    case 0x3000: return true;
    default: return c >= 0x2000 && c <= 0x200a;
    }
}

/* clean_text drops these: categories Cc, Cf and Co but \t \n \r (tokenizers' is_control; Cn is
 * kept, as there). Surrogates cannot occur: invalid UTF-8 is refused first. */
static bool is_control(uint32_t c)
{
    if (c == '\t' || c == '\n' || c == '\r') return false;
    if (c < 0x80) return c < 0x20 || c == 0x7f;
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CO;
}

/* BertPreTokenizer's punctuation: ASCII 33-47, 58-64, 91-96, 123-126 (so $ + < = > ^ ` | ~,
 * which Unicode calls symbols, split too) and Unicode P*. */
static bool is_punct(uint32_t c)
{
    if (c < 0x80)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
               (c >= 123 && c <= 126);
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* The CJK ideograph blocks BERT spaces out (as in the original BERT and transformers). */
static bool is_cjk(uint32_t c)
{
    return (c >= 0x4e00 && c <= 0x9fff) || (c >= 0x3400 && c <= 0x4dbf) ||
           (c >= 0x20000 && c <= 0x2a6df) || (c >= 0x2a700 && c <= 0x2b73f) ||
           (c >= 0x2b740 && c <= 0x2b81f) || (c >= 0x2b820 && c <= 0x2ceaf) ||
           (c >= 0xf900 && c <= 0xfaff) || (c >= 0x2f800 && c <= 0x2fa1f);
}

void text_tok_prepare(text_tok_t *t)
{
    for (uint32_t c = 0; c < 128; c++) {
        uint8_t k;
        if (t->clean_text && (c == 0 || is_control(c)))
            k = ASC_DROP;
        else if (is_ws(c))
            k = ASC_SPACE;
        else if (is_punct(c))
            k = ASC_PUNCT;
        else
            k = ASC_WORD;
        t->asc_class[c] = k;
        t->asc_map[c] = (uint8_t)(t->lowercase && c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
}

static size_t utf8_enc(uint32_t c, char *o)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xc0 | c >> 6);
        o[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xe0 | c >> 12);
        o[1] = (char)(0x80 | (c >> 6 & 0x3f));
        o[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | c >> 18);
    o[1] = (char)(0x80 | (c >> 12 & 0x3f));
    o[2] = (char)(0x80 | (c >> 6 & 0x3f));
    o[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* ==== Per-encoding scratch (kept in text_enc_t between calls) ==== */

typedef struct piece {
    int32_t id;
    uint32_t a, b; /* characters [a, b) of the word */
} piece_t;

typedef struct scratch {
    /* the current word, normalised: one entry per character */
    uint32_t *cp;
    uint8_t *ccc;
    size_t *src_s, *src_e; /* the original bytes each character came from */
    size_t wcap;           /* characters the arrays hold */
    size_t nch;            /* characters stored */
    size_t nword;          /* characters in the word (may exceed nch past max_chars) */
    size_t first_s, last_e;
    /* WordPiece work arrays, wcap + 1 entries */
    char *bytes;
    uint32_t *boff, *hs;
    piece_t *pieces;
} scratch_t;

typedef struct state {
    const text_tok_t *t;
    text_enc_t *out;
    scratch_t *w;
    size_t base;  /* index of the first text token in out's arrays */
    size_t keep;  /* text tokens kept; SIZE_MAX: all */
    bool left;    /* keep the last `keep` (a ring) rather than the first */
    size_t count; /* text tokens seen */
    int rc;       /* -ENOMEM once growing failed */
} state_t;

void text_enc_init(text_enc_t *e)
{
    memset(e, 0, sizeof *e);
}

void text_enc_free(text_enc_t *e)
{
    free(e->ids);
    free(e->type_ids);
    free(e->mask);
    free(e->start);
    free(e->stop);
    free(e->special);
    scratch_t *w = e->priv;
    if (w) {
        free(w->cp);
        free(w->ccc);
        free(w->src_s);
        free(w->src_e);
        free(w->bytes);
        free(w->boff);
        free(w->hs);
        free(w->pieces);
        free(w);
    }
    memset(e, 0, sizeof *e);
}

#define GROW(p, n)                                                                                 \
    do {                                                                                           \
        void *np_ = realloc((p), (n) * sizeof *(p));                                               \
        if (!np_) return -ENOMEM;                                                                  \
        (p) = np_;                                                                                 \
    } while (0)

/* Room for need tokens in every output array. */
static int out_reserve(text_enc_t *e, size_t need)
{
    if (need <= e->cap) return 0;
    size_t cap = e->cap ? e->cap : 64;
    while (cap < need) cap *= 2;
    GROW(e->ids, cap);
    GROW(e->type_ids, cap);
    GROW(e->mask, cap);
    GROW(e->start, cap);
    GROW(e->stop, cap);
    GROW(e->special, cap);
    e->cap = cap;
    return 0;
}

/* Room for need characters in the word arrays. */
static int word_reserve(scratch_t *w, size_t need)
{
    if (need <= w->wcap) return 0;
    size_t cap = w->wcap ? w->wcap : 128;
    while (cap < need) cap *= 2;
    GROW(w->cp, cap);
    GROW(w->ccc, cap);
    GROW(w->src_s, cap);
    GROW(w->src_e, cap);
    GROW(w->bytes, cap * 4);
    GROW(w->boff, cap + 1);
    GROW(w->hs, cap + 1);
    GROW(w->pieces, cap);
    w->wcap = cap;
    return 0;
}

/* ==== Emitting tokens ==== */

static void emit(state_t *st, int32_t id, size_t s, size_t e)
{
    size_t k = st->count++;
    size_t slot;
    if (k < st->keep)
        slot = k;
    else if (st->left && st->keep)
        slot = k % st->keep;
    else
        return;
    text_enc_t *o = st->out;
    if (st->base + slot >= o->cap && out_reserve(o, st->base + slot + 1 + TEXT_MAX_TEMPLATE)) {
        st->rc = -ENOMEM;
        return;
    }
    o->ids[st->base + slot] = id;
    o->start[st->base + slot] = s;
    o->stop[st->base + slot] = e;
}

/* Adds one normalised character to the current word. ccc > 0 (canonical combining class, given
 * only under NFD) moves it before stored characters of a higher class: NFD's canonical ordering.
 * Characters past max_input_chars_per_word are only counted: the word is [UNK] anyway. */
static void push_char(state_t *st, uint32_t cp, uint8_t ccc, size_t s, size_t e)
{
    scratch_t *w = st->w;
    if (w->nword++ == 0) w->first_s = s;
    w->last_e = e;
    if (w->nword > st->t->max_chars) return;
    if (w->nch == w->wcap && word_reserve(w, w->nch + 1)) {
        st->rc = -ENOMEM;
        return;
    }
    size_t j = w->nch++;
    if (ccc)
        for (; j > 0 && w->ccc[j - 1] > ccc; j--) {
            w->cp[j] = w->cp[j - 1];
            w->ccc[j] = w->ccc[j - 1];
            w->src_s[j] = w->src_s[j - 1];
            w->src_e[j] = w->src_e[j - 1];
        }
    w->cp[j] = cp;
    w->ccc[j] = ccc;
    w->src_s[j] = s;
    w->src_e[j] = e;
}

/* WordPiece on the current word: at each position the longest vocabulary entry (with the "##"
 * prefix after the first piece) that starts there; a position where none does makes the whole
 * word one [UNK]. Hashes of every candidate are computed in one forward pass (FNV-1a runs left
 * to right), and candidates longer than the longest token are never tried. */
static void flush_word(state_t *st)
{
    scratch_t *w = st->w;
    const text_tok_t *t = st->t;
    if (w->nword == 0) return;
    if (w->nword > t->max_chars || w->nch < w->nword) { /* too long, or growth failed */
        emit(st, t->unk_id, w->first_s, w->last_e);
        w->nword = w->nch = 0;
        return;
    }
    size_t n = w->nch, nb = 0;
    for (size_t k = 0; k < n; k++) {
        w->boff[k] = (uint32_t)nb;
        nb += utf8_enc(w->cp[k], w->bytes + nb);
    }
    w->boff[n] = (uint32_t)nb;
    size_t np = 0, start = 0;
    while (start < n) {
        size_t plen = start ? t->prefix_len : 0;
        const char *pre = start ? t->prefix : "";
        uint32_t h = start ? t->prefix_hash : TEXT_FNV_INIT;
        size_t last = start;
        for (size_t end = start + 1; end <= n; end++) {
            if (plen + w->boff[end] - w->boff[start] > t->v.max_len) break;
            h = text_fnv(h, w->bytes + w->boff[end - 1], w->boff[end] - w->boff[end - 1]);
            w->hs[end] = h;
            last = end;
        }
        int32_t id = -1;
        size_t end = last;
        for (; end > start; end--) {
            id = text_vocab_find_h(&t->v, w->hs[end], pre, plen, w->bytes + w->boff[start],
                                   w->boff[end] - w->boff[start]);
            if (id >= 0) break;
        }
        if (id < 0) {
            emit(st, t->unk_id, w->first_s, w->last_e);
            w->nword = w->nch = 0;
            return;
        }
        w->pieces[np++] = (piece_t){id, (uint32_t)start, (uint32_t)end};
        start = end;
    }
    for (size_t k = 0; k < np; k++)
        emit(st, w->pieces[k].id, w->src_s[w->pieces[k].a], w->src_e[w->pieces[k].b - 1]);
    w->nword = w->nch = 0;
}

/* One normalised character, classified as BertPreTokenizer does. */
static void put(state_t *st, uint32_t c, uint8_t ccc, size_t s, size_t e)
{
    if (is_ws(c)) {
        flush_word(st);
    } else if (is_punct(c)) {
        flush_word(st);
        push_char(st, c, 0, s, e);
        flush_word(st);
    } else {
        push_char(st, c, ccc, s, e);
    }
}

/* BertNormalizer on one non-ASCII code point of the original text at bytes [s, e). */
static void normalize_cp(state_t *st, uint32_t cp, size_t s, size_t e)
{
    const text_tok_t *t = st->t;
    if (t->clean_text) {
        if (cp == 0xfffd || is_control(cp)) return;
        if (is_ws(cp)) {
            flush_word(st);
            return;
        }
    }
    bool iso = t->chinese && is_cjk(cp);
    utf8proc_int32_t d[8];
    utf8proc_ssize_t k = 1;
    d[0] = (utf8proc_int32_t)cp;
    if (t->strip_accents) {
        k = utf8proc_decompose_char((utf8proc_int32_t)cp, d, 8, UTF8PROC_DECOMPOSE, NULL);
        if (k < 1 || k > 8) d[0] = (utf8proc_int32_t)cp, k = 1;
    }
    if (iso) flush_word(st);
    for (utf8proc_ssize_t i = 0; i < k; i++) {
        uint32_t c = (uint32_t)d[i];
        uint8_t ccc = 0;
        if (t->strip_accents) {
            const utf8proc_property_t *p = utf8proc_get_property(d[i]);
            if (p->category == UTF8PROC_CATEGORY_MN) continue;
            ccc = (uint8_t)p->combining_class;
        }
        if (t->lowercase) {
            /* Rust's char::to_lowercase is the full mapping: U+0130 becomes two characters. */
            if (c == 0x130) {
                put(st, 'i', 0, s, e);
                c = 0x307; /* only reached without NFD, so no reordering */
            } else {
                c = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
            }
        }
        if (iso)
            push_char(st, c, ccc, s, e);
        else
            put(st, c, ccc, s, e);
    }
    if (iso) flush_word(st);
}

/* The longest added token at s[i..n), or NULL. */
static const text_added_t *match_added(const text_tok_t *t, const char *s, size_t n, size_t i)
{
    for (int k = 0; k < t->nadded; k++) {
        const text_added_t *a = &t->added[k];
        if (a->n <= n - i && memcmp(s + i, a->s, a->n) == 0) return a;
    }
    return NULL;
}

/* Reverses entries [a, b) of the token arrays. */
static void reverse(text_enc_t *o, size_t a, size_t b)
{
    for (; a + 1 < b; a++, b--) {
        int64_t id = o->ids[a];
        o->ids[a] = o->ids[b - 1];
        o->ids[b - 1] = id;
        size_t x = o->start[a];
        o->start[a] = o->start[b - 1];
        o->start[b - 1] = x;
        x = o->stop[a];
        o->stop[a] = o->stop[b - 1];
        o->stop[b - 1] = x;
    }
}

int text_tok_encode_ex(const text_tok_t *t, const char *text, size_t n, const text_encode_opts_t *o,
                       text_enc_t *out, char *err, size_t errlen)
{
    static const text_encode_opts_t none = {0};
    if (!o) o = &none;
    out->n = out->n_full = 0;
    out->truncated = false;
    size_t npre = o->add_special ? (size_t)t->npre : 0,
           npost = o->add_special ? (size_t)t->npost : 0;
    if (o->max_len > 0 && (size_t)o->max_len < npre + npost)
        return err_fail(err, errlen, -EINVAL,
                        "max length %d leaves no room for the %zu special tokens", o->max_len,
                        npre + npost);
    if (!out->priv) {
        out->priv = calloc(1, sizeof(scratch_t));
        if (!out->priv) return err_fail(err, errlen, -ENOMEM, "out of memory");
    }
    state_t st = {
        .t = t,
        .out = out,
        .w = out->priv,
        .base = npre,
        .keep = o->max_len > 0 ? (size_t)o->max_len - npre - npost : SIZE_MAX,
        .left = o->truncate_left,
    };
    st.w->nch = st.w->nword = 0;
    /* Typical texts never grow the arrays again: room for a token per 3 bytes, up to keep. */
    size_t guess = n / 3 + 8;
    if (st.keep != SIZE_MAX && guess > st.keep) guess = st.keep;
    if (out_reserve(out, npre + guess + npost + TEXT_MAX_TEMPLATE) ||
        word_reserve(st.w, t->max_chars < 64 ? t->max_chars + 1 : 64))
        return err_fail(err, errlen, -ENOMEM, "out of memory");

    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (t->added_first[c]) {
            const text_added_t *a = match_added(t, text, n, i);
            if (a) {
                flush_word(&st);
                emit(&st, a->id, i, i + a->n);
                i += a->n;
                continue;
            }
        }
        if (c < 0x80) {
            switch (t->asc_class[c]) {
            case ASC_DROP: break;
            case ASC_SPACE: flush_word(&st); break;
            case ASC_PUNCT:
                flush_word(&st);
                push_char(&st, c, 0, i, i + 1);
                flush_word(&st);
                break;
            default: push_char(&st, t->asc_map[c], 0, i, i + 1); break;
            }
            i++;
            continue;
        }
        uint32_t cp;
        size_t len = utf8_decode((const unsigned char *)s + i, (const unsigned char *)s + n, &cp);
        if (!len) return err_fail(err, errlen, -EILSEQ, "invalid UTF-8 at byte %zu", i);
        normalize_cp(&st, cp, i, i + len);
        i += len;
    }
    flush_word(&st);
    if (st.rc) return err_fail(err, errlen, st.rc, "out of memory");

    size_t m = st.count < st.keep ? st.count : st.keep;
    if (st.left && st.count > st.keep && st.keep) {
        /* The ring's oldest entry is at count % keep: rotate it to the front. */
        size_t r = st.count % st.keep;
        reverse(out, npre, npre + r);
        reverse(out, npre + r, npre + m);
        reverse(out, npre, npre + m);
    }
    if (out_reserve(out, npre + m + npost)) return err_fail(err, errlen, -ENOMEM, "out of memory");
    for (size_t k = 0; k < npre; k++) {
        out->ids[k] = t->pre[k];
        out->type_ids[k] = t->pre_type[k];
        out->special[k] = 1;
        out->start[k] = out->stop[k] = TEXT_NO_OFFSET;
    }
    for (size_t k = npre; k < npre + m; k++) {
        out->type_ids[k] = t->seq_type;
        out->special[k] = 0;
    }
    for (size_t k = 0; k < npost; k++) {
        size_t j = npre + m + k;
        out->ids[j] = t->post[k];
        out->type_ids[j] = t->post_type[k];
        out->special[j] = 1;
        out->start[j] = out->stop[j] = TEXT_NO_OFFSET;
    }
    out->n = npre + m + npost;
    for (size_t k = 0; k < out->n; k++) out->mask[k] = 1;
    out->n_full = npre + st.count + npost;
    out->truncated = out->n < out->n_full;
    return 0;
}

int text_tok_encode(const text_tok_t *t, const char *s, size_t n, int max_len, bool add_special,
                    text_enc_t *out, char *err, size_t errlen)
{
    text_encode_opts_t o = {.max_len = max_len, .add_special = add_special};
    return text_tok_encode_ex(t, s, n, &o, out, err, errlen);
}

const char *text_tok_id_text(const text_tok_t *t, int64_t id, size_t *len)
{
    if (id < 0 || id > INT32_MAX) {
        if (len) *len = 0;
        return NULL;
    }
    return text_vocab_text(&t->v, (int32_t)id, len);
}

int64_t text_tok_token_id(const text_tok_t *t, const char *s, size_t n)
{
    return text_vocab_find(&t->v, s, n);
}

size_t text_tok_vocab_size(const text_tok_t *t)
{
    return (size_t)t->v.nids;
}

int text_tok_num_special(const text_tok_t *t)
{
    return t->npre + t->npost;
}

int64_t text_tok_pad_id(const text_tok_t *t)
{
    return t->pad_id;
}
