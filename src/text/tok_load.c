/* Loading a tokenizer: HuggingFace tokenizer.json (model WordPiece, normalizer BertNormalizer,
 * pre_tokenizer BertPreTokenizer, post_processor TemplateProcessing or BertProcessing) or the
 * older vocab.txt + tokenizer_config.json + special_tokens_map.json, read with util/json. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "text/tok_impl.h"
#include "text/textio.h"
#include "util/json.h"

#define MAX_FILE_BYTES ((size_t)64 << 20)
#define MAX_CHARS_CAP  ((size_t)1 << 20) /* max_input_chars_per_word beyond this is clamped */

static text_tok_t *tok_new(void)
{
    text_tok_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    text_vocab_init(&t->v);
    t->clean_text = t->chinese = t->lowercase = t->strip_accents = true;
    t->max_chars = 100;
    memcpy(t->prefix, "##", 3);
    t->prefix_len = 2;
    t->unk_id = -1;
    return t;
}

void text_tok_free(text_tok_t *t)
{
    if (!t) return;
    text_vocab_free(&t->v);
    free(t->added);
    free(t);
}

static int cmp_added(const void *a, const void *b)
{
    const text_added_t *x = a, *y = b;
    return x->n != y->n ? (x->n < y->n ? 1 : -1) : (x->id > y->id) - (x->id < y->id);
}

int text_tok_add_added(text_tok_t *t, int32_t id)
{
    size_t n;
    const char *s = text_vocab_text(&t->v, id, &n);
    if (!s || n == 0) return 0;
    for (int k = 0; k < t->nadded; k++) /* .s may be stale (the blob grows): compare by id */
        if (t->added[k].n == n && memcmp(text_vocab_text(&t->v, t->added[k].id, NULL), s, n) == 0) {
            t->added[k].id = id; /* the later entry wins, as for the vocabulary */
            return 0;
        }
    text_added_t *a = realloc(t->added, (size_t)(t->nadded + 1) * sizeof *a);
    if (!a) return -ENOMEM;
    t->added = a;
    t->added[t->nadded++] = (text_added_t){s, (uint32_t)n, id};
    t->added_first[(unsigned char)s[0]] = 1;
    return 0;
}

/* Final steps shared by both formats: the added tokens' text points into the (now final) blob,
 * longest first so the first match is the longest; the hash of the prefix; the ASCII table. */
static int finish(text_tok_t *t, char *err, size_t errlen)
{
    if (t->unk_id < 0) return err_fail(err, errlen, -EINVAL, "no unknown token ([UNK])");
    for (int k = 0; k < t->nadded; k++)
        t->added[k].s = text_vocab_text(&t->v, t->added[k].id, NULL);
    if (t->nadded) qsort(t->added, (size_t)t->nadded, sizeof *t->added, cmp_added);
    t->prefix_hash = text_fnv(TEXT_FNV_INIT, t->prefix, t->prefix_len);
    text_tok_prepare(t);
    return 0;
}

static bool json_bool(const json_value_t *v, bool def)
{
    json_type_t k = json_type(v);
    return k == JSON_TRUE ? true : k == JSON_FALSE ? false : def;
}

/* A token named by a string or by an object with "content" (AddedToken), or NULL. */
static const char *token_name(const json_value_t *v, size_t *len)
{
    if (json_type(v) == JSON_OBJECT) v = json_get(v, "content");
    return json_string(v, len);
}

static int template_add(text_tok_t *t, bool after, int32_t id, int64_t type, char *err,
                        size_t errlen)
{
    int *n = after ? &t->npost : &t->npre;
    if (*n == TEXT_MAX_TEMPLATE)
        return err_fail(err, errlen, -EINVAL, "more than %d special tokens on one side",
                        TEXT_MAX_TEMPLATE);
    (after ? t->post : t->pre)[*n] = id;
    (after ? t->post_type : t->pre_type)[*n] = type;
    (*n)++;
    return 0;
}

/* post_processor: the single-sequence template. */
static int load_post(text_tok_t *t, const json_value_t *pp, char *err, size_t errlen)
{
    if (json_type(pp) == JSON_NULL) return 0;
    const char *type = json_string(json_get(pp, "type"), NULL);
    if (!type) return err_fail(err, errlen, -EINVAL, "post_processor without a type");
    if (strcmp(type, "BertProcessing") == 0 || strcmp(type, "RobertaProcessing") == 0) {
        const json_value_t *cls = json_get(pp, "cls"), *sep = json_get(pp, "sep");
        if (!json_is_integer(json_at(cls, 1)) || !json_is_integer(json_at(sep, 1)))
            return err_fail(err, errlen, -EINVAL, "%s needs cls and sep as [token, id]", type);
        int rc = template_add(t, false, (int32_t)json_int(json_at(cls, 1)), 0, err, errlen);
        return rc ? rc : template_add(t, true, (int32_t)json_int(json_at(sep, 1)), 0, err, errlen);
    }
    if (strcmp(type, "TemplateProcessing") != 0)
        return err_fail(err, errlen, -EINVAL,
                        "post_processor type %.40s is not supported (TemplateProcessing, "
                        "BertProcessing)",
                        type);
    const json_value_t *single = json_get(pp, "single"), *specials = json_get(pp, "special_tokens");
    bool seen_seq = false;
    for (size_t i = 0; i < json_size(single); i++) {
        const json_value_t *e = json_at(single, i), *sp = json_get(e, "SpecialToken");
        const json_value_t *seq = json_get(e, "Sequence");
        if (seq) {
            if (seen_seq) return err_fail(err, errlen, -EINVAL, "template with two sequences");
            seen_seq = true;
            t->seq_type = json_int(json_get(seq, "type_id"));
            continue;
        }
        size_t nl;
        const char *name = json_string(json_get(sp, "id"), &nl);
        if (!name) return err_fail(err, errlen, -EINVAL, "template element %zu is malformed", i);
        const json_value_t *ids = json_get(json_getn(specials, name, nl), "ids");
        if (json_size(ids) == 0)
            return err_fail(err, errlen, -EINVAL,
                            "template names special token %.40s, which "
                            "special_tokens does not define",
                            name);
        for (size_t k = 0; k < json_size(ids); k++) {
            if (!json_is_integer(json_at(ids, k)))
                return err_fail(err, errlen, -EINVAL, "special token %.40s: bad id", name);
            int rc = template_add(t, seen_seq, (int32_t)json_int(json_at(ids, k)),
                                  json_int(json_get(sp, "type_id")), err, errlen);
            if (rc) return rc;
        }
    }
    if (!seen_seq) return err_fail(err, errlen, -EINVAL, "template without the sequence");
    return 0;
}

text_tok_t *text_tok_load_json(const char *text, size_t len, char *err, size_t errlen)
{
    char jerr[200];
    json_limits_t lim = {.max_bytes = MAX_FILE_BYTES};
    json_doc_t *d = json_parse(text, len, &lim, jerr, sizeof jerr);
    if (!d) {
        err_fail(err, errlen, -EINVAL, "tokenizer.json: %s", jerr);
        return NULL;
    }
    text_tok_t *t = tok_new();
    const json_value_t *root = json_root(d), *model = json_get(root, "model");
    const char *type = json_string(json_get(model, "type"), NULL);
    int rc = -EINVAL;
    char msg[256] = "";
    if (!t) {
        rc = -ENOMEM;
        snprintf(msg, sizeof msg, "out of memory");
        goto out;
    }
    if (json_type(root) != JSON_OBJECT || json_type(model) != JSON_OBJECT) {
        snprintf(msg, sizeof msg, "no \"model\" object");
        goto out;
    }
    if (!type || strcmp(type, "WordPiece") != 0) {
        snprintf(msg, sizeof msg, "model type %.40s is not supported (WordPiece only)",
                 type ? type : "(none)");
        goto out;
    }
    const json_value_t *vocab = json_get(model, "vocab");
    if (json_type(vocab) != JSON_OBJECT || json_size(vocab) == 0) {
        snprintf(msg, sizeof msg, "model.vocab is not a non-empty object");
        goto out;
    }
    for (size_t i = 0; i < json_size(vocab); i++) {
        size_t kl;
        const char *k = json_key_at(vocab, i, &kl);
        const json_value_t *id = json_value_at(vocab, i);
        if (!json_is_integer(id) || json_int(id) < 0 || json_int(id) > INT32_MAX) {
            snprintf(msg, sizeof msg, "model.vocab[\"%.40s\"] is not a token id", k);
            goto out;
        }
        if ((rc = text_vocab_add(&t->v, k, kl, (int32_t)json_int(id), true, msg, sizeof msg)))
            goto out;
    }
    rc = -EINVAL;
    size_t ul;
    const char *unk = json_string(json_get(model, "unk_token"), &ul);
    if (!unk || (t->unk_id = text_vocab_find(&t->v, unk, ul)) < 0) {
        snprintf(msg, sizeof msg, "model.unk_token is missing or not in the vocabulary");
        goto out;
    }
    const json_value_t *pfx = json_get(model, "continuing_subword_prefix");
    if (json_type(pfx) == JSON_STRING) {
        size_t pl;
        const char *p = json_string(pfx, &pl);
        if (pl >= TEXT_MAX_PREFIX) {
            snprintf(msg, sizeof msg, "continuing_subword_prefix is too long");
            goto out;
        }
        memcpy(t->prefix, p, pl + 1);
        t->prefix_len = pl;
    }
    const json_value_t *mc = json_get(model, "max_input_chars_per_word");
    if (json_type(mc) != JSON_NULL) {
        if (!json_is_integer(mc) || json_int(mc) < 1) {
            snprintf(msg, sizeof msg, "max_input_chars_per_word is not a positive integer");
            goto out;
        }
        t->max_chars = json_int(mc) > (int64_t)MAX_CHARS_CAP ? MAX_CHARS_CAP : (size_t)json_int(mc);
    }

    const json_value_t *norm = json_get(root, "normalizer");
    if (json_type(norm) == JSON_NULL) {
        t->clean_text = t->chinese = t->lowercase = t->strip_accents = false;
    } else {
        const char *nt = json_string(json_get(norm, "type"), NULL);
        if (!nt || strcmp(nt, "BertNormalizer") != 0) {
            snprintf(msg, sizeof msg, "normalizer type %.40s is not supported (BertNormalizer)",
                     nt ? nt : "(none)");
            goto out;
        }
        t->clean_text = json_bool(json_get(norm, "clean_text"), true);
        t->chinese = json_bool(json_get(norm, "handle_chinese_chars"), true);
        t->lowercase = json_bool(json_get(norm, "lowercase"), true);
        /* strip_accents null follows lowercase (BertNormalizer's rule). */
        t->strip_accents = json_bool(json_get(norm, "strip_accents"), t->lowercase);
    }
    const char *pt = json_string(json_get(json_get(root, "pre_tokenizer"), "type"), NULL);
    if (!pt || strcmp(pt, "BertPreTokenizer") != 0) {
        snprintf(msg, sizeof msg, "pre_tokenizer type %.40s is not supported (BertPreTokenizer)",
                 pt ? pt : "(none)");
        goto out;
    }
    if ((rc = load_post(t, json_get(root, "post_processor"), msg, sizeof msg))) goto out;
    rc = -EINVAL;

    const json_value_t *added = json_get(root, "added_tokens");
    for (size_t i = 0; i < json_size(added); i++) {
        const json_value_t *a = json_at(added, i), *id = json_get(a, "id");
        size_t cl;
        const char *c = json_string(json_get(a, "content"), &cl);
        if (!c || !json_is_integer(id) || json_int(id) < 0 || json_int(id) > INT32_MAX) {
            snprintf(msg, sizeof msg, "added_tokens[%zu] is malformed", i);
            goto out;
        }
        int32_t aid = (int32_t)json_int(id);
        /* Not in WordPiece's reach unless the model's own vocabulary has it. */
        if (text_vocab_find(&t->v, c, cl) != aid &&
            (rc = text_vocab_add(&t->v, c, cl, aid, false, msg, sizeof msg)))
            goto out;
        if (text_tok_add_added(t, aid)) {
            rc = -ENOMEM;
            snprintf(msg, sizeof msg, "out of memory");
            goto out;
        }
    }
    for (int k = 0; k < t->npre + t->npost; k++) {
        int32_t id = k < t->npre ? t->pre[k] : t->post[k - t->npre];
        if (!text_vocab_text(&t->v, id, NULL)) {
            snprintf(msg, sizeof msg, "special token id %ld is not in the vocabulary", (long)id);
            goto out;
        }
    }
    const json_value_t *pad = json_get(root, "padding");
    if (json_is_integer(json_get(pad, "pad_id")))
        t->pad_id = json_int(json_get(pad, "pad_id"));
    else if (text_vocab_find(&t->v, "[PAD]", 5) >= 0)
        t->pad_id = text_vocab_find(&t->v, "[PAD]", 5);
    rc = finish(t, msg, sizeof msg);
out:
    json_doc_free(d);
    if (!rc && msg[0]) rc = -EINVAL; /* every failure leaves a message, whatever rc says */
    if (rc) {
        err_fail(err, errlen, rc, "tokenizer.json: %s", msg);
        text_tok_free(t);
        return NULL;
    }
    return t;
}

/* The name of special token `key` from special_tokens_map.json, else tokenizer_config.json,
 * else def. */
static const char *special_name(const json_value_t *map, const json_value_t *cfg, const char *key,
                                const char *def, size_t *len)
{
    const char *s = token_name(json_get(map, key), len);
    if (!s) s = token_name(json_get(cfg, key), len);
    if (!s) {
        s = def;
        *len = strlen(def);
    }
    return s;
}

text_tok_t *text_tok_load_vocab(const char *vocab, size_t vlen, const char *config, size_t clen,
                                const char *special_map, size_t slen, char *err, size_t errlen)
{
    char msg[256] = "";
    int rc = -EINVAL;
    json_doc_t *cd = NULL, *sd = NULL;
    text_tok_t *t = tok_new();
    if (!t) {
        rc = -ENOMEM;
        snprintf(msg, sizeof msg, "out of memory");
        goto out;
    }
    int32_t id = 0;
    for (size_t i = 0; i < vlen; id++) {
        const char *nl = memchr(vocab + i, '\n', vlen - i);
        size_t e = nl ? (size_t)(nl - vocab) : vlen, n = e - i;
        if (n && vocab[i + n - 1] == '\r') n--;
        if ((rc = text_vocab_add(&t->v, vocab + i, n, id, true, msg, sizeof msg))) {
            char m2[sizeof msg + 32];
            snprintf(m2, sizeof m2, "vocab.txt line %ld: %s", (long)id + 1, msg);
            memcpy(msg, m2, sizeof msg - 1);
            msg[sizeof msg - 1] = 0;
            goto out;
        }
        i = nl ? e + 1 : vlen;
    }
    if (id == 0) {
        rc = -EINVAL;
        snprintf(msg, sizeof msg, "vocab.txt is empty");
        goto out;
    }
    char jerr[200];
    if (config && !(cd = json_parse(config, clen, NULL, jerr, sizeof jerr))) {
        rc = -EINVAL;
        snprintf(msg, sizeof msg, "tokenizer_config.json: %s", jerr);
        goto out;
    }
    if (special_map && !(sd = json_parse(special_map, slen, NULL, jerr, sizeof jerr))) {
        rc = -EINVAL;
        snprintf(msg, sizeof msg, "special_tokens_map.json: %s", jerr);
        goto out;
    }
    const json_value_t *cfg = json_root(cd), *map = json_root(sd);
    t->lowercase = json_bool(json_get(cfg, "do_lower_case"), true);
    t->strip_accents = json_bool(json_get(cfg, "strip_accents"), t->lowercase);
    t->chinese = json_bool(json_get(cfg, "tokenize_chinese_chars"), true);
    t->clean_text = true;
    static const char *const keys[] = {"unk_token", "cls_token", "sep_token", "pad_token",
                                       "mask_token"};
    static const char *const defs[] = {"[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"};
    int32_t ids[5];
    for (int k = 0; k < 5; k++) {
        size_t n;
        const char *s = special_name(map, cfg, keys[k], defs[k], &n);
        ids[k] = text_vocab_find(&t->v, s, n);
        if (ids[k] < 0 && k < 3) {
            rc = -EINVAL;
            snprintf(msg, sizeof msg, "%s %.40s is not in vocab.txt", keys[k], s);
            goto out;
        }
        if (ids[k] >= 0 && text_tok_add_added(t, ids[k])) {
            rc = -ENOMEM;
            snprintf(msg, sizeof msg, "out of memory");
            goto out;
        }
    }
    t->unk_id = ids[0];
    t->pad_id = ids[3] >= 0 ? ids[3] : 0;
    t->npre = t->npost = 1;
    t->pre[0] = ids[1];
    t->post[0] = ids[2];
    /* added_tokens_decoder: {"30522": {"content": "..."}, ...} */
    const json_value_t *dec = json_get(cfg, "added_tokens_decoder");
    for (size_t i = 0; i < json_size(dec); i++) {
        const char *k = json_key_at(dec, i, NULL);
        char *end;
        long aid = strtol(k, &end, 10);
        size_t cl;
        const char *c = token_name(json_value_at(dec, i), &cl);
        if (*end || end == k || aid < 0 || aid > INT32_MAX || !c) {
            rc = -EINVAL;
            snprintf(msg, sizeof msg,
                     "tokenizer_config.json: added_tokens_decoder[\"%.20s\"] is "
                     "malformed",
                     k);
            goto out;
        }
        if (text_vocab_find(&t->v, c, cl) != aid &&
            (rc = text_vocab_add(&t->v, c, cl, (int32_t)aid, false, msg, sizeof msg)))
            goto out;
        if (text_tok_add_added(t, (int32_t)aid)) {
            rc = -ENOMEM;
            snprintf(msg, sizeof msg, "out of memory");
            goto out;
        }
    }
    rc = finish(t, msg, sizeof msg);
out:
    json_doc_free(cd);
    json_doc_free(sd);
    if (!rc && msg[0]) rc = -EINVAL; /* every failure leaves a message, whatever rc says */
    if (rc) {
        err_fail(err, errlen, rc, "%s", msg);
        text_tok_free(t);
        return NULL;
    }
    return t;
}

text_tok_t *text_tok_load_at(int dirfd, text_open_fn opener, const char *file, char *err,
                             size_t errlen)
{
    char *a = NULL, *b = NULL, *c = NULL;
    size_t al, bl, cl;
    text_tok_t *t = NULL;
    int rc;
    if (!file || strcmp(file, "tokenizer.json") == 0) {
        rc = text_read_file(dirfd, opener, "tokenizer.json", MAX_FILE_BYTES, &a, &al, err, errlen);
        if (rc == 0) {
            t = text_tok_load_json(a, al, err, errlen);
            free(a);
            return t;
        }
        if (file || rc != -ENOENT) return NULL;
    }
    if (file && strcmp(file, "vocab.txt") != 0) {
        err_fail(err, errlen, -EINVAL, "%s: not a tokenizer file (tokenizer.json, vocab.txt)",
                 file);
        return NULL;
    }
    rc = text_read_file(dirfd, opener, "vocab.txt", MAX_FILE_BYTES, &a, &al, err, errlen);
    if (rc == -ENOENT && !file) {
        err_fail(err, errlen, rc, "no tokenizer.json or vocab.txt");
        return NULL;
    }
    if (rc) return NULL;
    rc = text_read_file(dirfd, opener, "tokenizer_config.json", MAX_FILE_BYTES, &b, &bl, err,
                        errlen);
    if (rc == 0 || rc == -ENOENT)
        rc = text_read_file(dirfd, opener, "special_tokens_map.json", MAX_FILE_BYTES, &c, &cl, err,
                            errlen);
    if (rc == 0 || rc == -ENOENT) t = text_tok_load_vocab(a, al, b, bl, c, cl, err, errlen);
    free(a);
    free(b);
    free(c);
    return t;
}

text_tok_t *text_tok_load(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
    if (fd >= 0) {
        text_tok_t *t = text_tok_load_at(fd, NULL, NULL, err, errlen);
        close(fd);
        return t;
    }
    /* A file: open its folder and load by its name. */
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    char dir[4096];
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if ((size_t)(slash - path) >= sizeof dir)
        return err_fail(err, errlen, -ENAMETOOLONG, "path too long"), NULL;
    else
        snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    fd = open(dir, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
    if (fd < 0) return err_fail(err, errlen, -errno, "%s: %s", dir, strerror(errno)), NULL;
    text_tok_t *t = text_tok_load_at(fd, NULL, base, err, errlen);
    close(fd);
    return t;
}
