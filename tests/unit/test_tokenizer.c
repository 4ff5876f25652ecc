/* Unit tests for text/tokenizer: token-exact against the reference tokenizer on every line of
 * ../shared/models/all-MiniLM-L6-v2/tokenizer_reference.jsonl (from tokenizer.json and from
 * vocab.txt), offsets, truncation, added tokens in the text, long words, invalid UTF-8. The
 * reference files must be present: a missing file fails the test. */
#include <errno.h>
#include <stdlib.h>

#include "text/textio.h"
#include "text/tokenizer.h"
#include "th.h"
#include "util/json.h"

#ifndef MINILM_DIR
#error MINILM_DIR must name the all-MiniLM-L6-v2 folder
#endif

static char err[256];

/* Allocations made by our code while `counting` (calls from the static library are wrapped at
 * link time). */
static long allocs;
static int counting;
void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n)
{
    if (counting) allocs++;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m)
{
    if (counting) allocs++;
    return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n)
{
    if (counting) allocs++;
    return __real_realloc(p, n);
}

/* Compares one reference line's expectations with our encoding. */
static int check_line(const text_tok_t *t, const json_value_t *ln, int lineno, text_enc_t *e)
{
    size_t tl;
    const char *text = json_string(json_get(ln, "text"), &tl);
    int max = (int)json_int(json_get(ln, "max_seq_length"));
    const json_value_t *tokens = json_get(ln, "tokens"), *ids = json_get(ln, "input_ids");
    const json_value_t *mask = json_get(ln, "attention_mask"),
                       *types = json_get(ln, "token_type_ids");
    int rc = text_tok_encode(t, text, tl, max, true, e, err, sizeof err);
    CHECK_EQ(rc, 0);
    if (rc) return 1;
    int bad = 0;
    if (e->n != json_size(ids) || json_size(tokens) != json_size(ids) ||
        json_size(mask) != json_size(ids) || json_size(types) != json_size(ids))
        bad = 1;
    for (size_t i = 0; !bad && i < e->n; i++) {
        size_t wl;
        const char *want = json_string(json_at(tokens, i), &wl), *got;
        size_t gl;
        got = text_tok_id_text(t, e->ids[i], &gl);
        if (e->ids[i] != json_int(json_at(ids, i)) || !got || gl != wl ||
            memcmp(got, want, wl) != 0 || e->mask[i] != json_int(json_at(mask, i)) ||
            e->type_ids[i] != json_int(json_at(types, i))) {
            fprintf(stderr, "line %d token %zu: got %lld \"%s\", want %lld \"%s\"\n", lineno, i,
                    (long long)e->ids[i], got ? got : "?", (long long)json_int(json_at(ids, i)),
                    want);
            bad = 1;
        }
    }
    if (bad) fprintf(stderr, "line %d: %zu tokens, want %zu\n", lineno, e->n, json_size(ids));
    CHECK(!bad);
    CHECK_EQ(e->n_full >= e->n, 1);
    CHECK_EQ((size_t)json_int(json_get(ln, "n_tokens")), e->n);

    /* Offsets: inside the text, in order, special tokens without; an ASCII token's span is the
     * token's text (lowercased, "##" dropped) unless it is [UNK]. */
    size_t prev = 0;
    for (size_t i = 0; i < e->n; i++) {
        if (e->special[i]) {
            CHECK(e->start[i] == TEXT_NO_OFFSET && e->stop[i] == TEXT_NO_OFFSET);
            continue;
        }
        bool ok = e->start[i] < e->stop[i] && e->stop[i] <= tl && e->start[i] >= prev;
        size_t gl;
        const char *tok = text_tok_id_text(t, e->ids[i], &gl);
        if (gl > 2 && tok[0] == '#' && tok[1] == '#') {
            /* A continuation starts where its word left off, or after removed characters. */
            ok = ok && i > 0 && !e->special[i - 1] && e->start[i] >= e->stop[i - 1];
            tok += 2, gl -= 2;
        }
        bool ascii = true;
        for (size_t k = e->start[i]; ok && k < e->stop[i]; k++)
            if ((unsigned char)text[k] >= 0x80) ascii = false;
        if (ok && ascii && e->ids[i] != 100) {
            ok = gl == e->stop[i] - e->start[i];
            for (size_t k = 0; ok && k < gl; k++) {
                char c = text[e->start[i] + k];
                if (c >= 'A' && c <= 'Z') c += 32;
                ok = c == tok[k];
            }
        }
        if (!ok)
            fprintf(stderr, "line %d token %zu \"%.*s\": bad span [%zu, %zu)\n", lineno, i, (int)gl,
                    tok, e->start[i], e->stop[i]);
        CHECK(ok);
        prev = e->stop[i];
    }
    return bad;
}

static void test_reference(const char *file)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", MINILM_DIR, file);
    text_tok_t *t = text_tok_load(path, err, sizeof err);
    if (!t) fprintf(stderr, "load %s: %s\n", path, err);
    CHECK(t != NULL);
    if (!t) return;
    CHECK_EQ(text_tok_vocab_size(t), 30522);
    CHECK_EQ(text_tok_num_special(t), 2);
    CHECK_EQ(text_tok_pad_id(t), 0);
    size_t n;
    char *ref = th_slurp(MINILM_DIR "/tokenizer_reference.jsonl", &n);
    CHECK(ref != NULL);
    if (!ref) {
        fprintf(stderr, "missing %s\n", MINILM_DIR "/tokenizer_reference.jsonl");
        text_tok_free(t);
        return;
    }
    text_enc_t e;
    text_enc_init(&e);
    int lines = 0, bad = 0;
    for (char *p = ref; p < ref + n;) {
        char *nl = memchr(p, '\n', (size_t)(ref + n - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(ref + n - p);
        if (len) {
            json_doc_t *d = json_parse(p, len, NULL, err, sizeof err);
            CHECK(d != NULL);
            if (d) bad += check_line(t, json_root(d), ++lines, &e);
            json_doc_free(d);
        }
        p += len + 1;
    }
    printf("%s: %d reference lines, %d mismatched\n", file, lines, bad);
    CHECK_EQ(lines, 24);
    CHECK_EQ(bad, 0);
    text_enc_free(&e);
    free(ref);
    text_tok_free(t);
}

/* Unicode corners beyond the MiniLM reference, ids from transformers.js (tokenizer_extra.mjs). */
static void test_extra(void)
{
    text_tok_t *t = text_tok_load(MINILM_DIR "/tokenizer.json", err, sizeof err);
    size_t n;
    char *ref = th_slurp(FIXTURES_DIR "/tokenizer_extra.jsonl", &n);
    CHECK(t != NULL && ref != NULL);
    if (!t || !ref) {
        text_tok_free(t);
        free(ref);
        return;
    }
    text_enc_t e;
    text_enc_init(&e);
    int lines = 0, bad = 0;
    for (char *p = ref; p < ref + n;) {
        char *nl = memchr(p, '\n', (size_t)(ref + n - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(ref + n - p);
        json_doc_t *d = len ? json_parse(p, len, NULL, err, sizeof err) : NULL;
        p += len + 1;
        if (!d) continue;
        lines++;
        size_t tl;
        const char *text = json_string(json_get(json_root(d), "text"), &tl);
        const json_value_t *ids = json_get(json_root(d), "input_ids");
        int rc = text_tok_encode(t, text, tl, 0, true, &e, err, sizeof err);
        bool ok = rc == 0 && e.n == json_size(ids);
        for (size_t i = 0; ok && i < e.n; i++) ok = e.ids[i] == json_int(json_at(ids, i));
        if (!ok) {
            fprintf(stderr, "extra line %d: got", lines);
            for (size_t i = 0; i < e.n; i++) fprintf(stderr, " %lld", (long long)e.ids[i]);
            fprintf(stderr, "\n");
            bad++;
        }
        json_doc_free(d);
    }
    printf("tokenizer_extra.jsonl: %d lines, %d mismatched\n", lines, bad);
    CHECK_EQ(lines, 29);
    CHECK_EQ(bad, 0);
    text_enc_free(&e);
    free(ref);
    text_tok_free(t);
}

static text_tok_t *minilm(void)
{
    text_tok_t *t = text_tok_load(MINILM_DIR, err, sizeof err);
    if (!t) fprintf(stderr, "load: %s\n", err);
    return t;
}

/* Encodes s and checks the token texts and spans, given as "tok@start:stop" words. */
static void expect(const text_tok_t *t, const char *s, bool special, const char *want)
{
    text_enc_t e;
    text_enc_init(&e);
    int rc = text_tok_encode(t, s, strlen(s), 0, special, &e, err, sizeof err);
    CHECK_EQ(rc, 0);
    char got[2048] = "";
    size_t gl = 0;
    for (size_t i = 0; i < e.n && gl < sizeof got - 100; i++) {
        const char *tok = text_tok_id_text(t, e.ids[i], NULL);
        if (e.special[i])
            gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s%s", i ? " " : "", tok);
        else
            gl += (size_t)snprintf(got + gl, sizeof got - gl, "%s%s@%zu:%zu", i ? " " : "", tok,
                                   e.start[i], e.stop[i]);
    }
    if (strcmp(got, want)) fprintf(stderr, "text <%s>\n  got  %s\n  want %s\n", s, got, want);
    CHECK_STR(got, want);
    text_enc_free(&e);
}

static void test_offsets(void)
{
    text_tok_t *t = minilm();
    if (!t) {
        CHECK(0);
        return;
    }
    /* Accents: the span covers the original bytes ("é" is 2 bytes, "É" too). */
    expect(t, "Café ÉTÉ", true, "[CLS] cafe@0:5 et@6:9 ##e@9:11 [SEP]");
    /* A decomposed accent (e + U+0301) is dropped; the span ends at the e. */
    expect(t, "cafe\xcc\x81!", false, "cafe@0:4 !@6:7");
    /* Punctuation is its own token; whitespace and control characters vanish. */
    expect(t, "  Hi,\tyou\x01!", false, "hi@2:4 ,@4:5 you@6:9 !@10:11");
    /* Continuation pieces tile their word. */
    expect(t, "unaffable", false, "una@0:3 ##ffa@3:6 ##ble@6:9");
    /* CJK ideographs are split out even inside a word. */
    expect(t,
           "ab\xe4\xb8\xad"
           "cd",
           false, "ab@0:2 \xe4\xb8\xad@2:5 cd@5:7");
    /* Special tokens typed in the text are matched as written, before normalisation. */
    expect(t, "hello [MASK] world[SEP]x", false,
           "hello@0:5 [MASK]@6:12 world@13:18 [SEP]@18:23 x@23:24");
    expect(t, "[mask]", false, "[@0:1 mask@1:5 ]@5:6");
    /* NBSP is whitespace; a zero-width space (Cf) is dropped without splitting. */
    expect(t,
           "a\xc2\xa0"
           "b\xe2\x80\x8b"
           "c",
           false, "a@0:1 bc@3:8");
    /* U+0130 lowercases to i + U+0307, whose mark is then... kept only without NFD; with NFD the
     * decomposition I + U+0307 loses the mark first. */
    expect(t, "\xc4\xb0t", false, "it@0:3");
    text_tok_free(t);
}

static void test_long_words(void)
{
    text_tok_t *t = minilm();
    if (!t) {
        CHECK(0);
        return;
    }
    char w[256];
    memset(w, 'a', 101);
    w[101] = 0;
    text_enc_t e;
    text_enc_init(&e);
    CHECK_EQ(text_tok_encode(t, w, 101, 0, false, &e, err, sizeof err), 0);
    CHECK_EQ(e.n, 1);
    CHECK_EQ(e.ids[0], 100); /* more than max_input_chars_per_word: [UNK] over the whole word */
    CHECK_EQ(e.start[0], 0);
    CHECK_EQ(e.stop[0], 101);
    CHECK_EQ(text_tok_encode(t, w, 100, 0, false, &e, err, sizeof err), 0);
    CHECK(e.n > 1); /* exactly 100 characters still goes through WordPiece */
    CHECK(e.ids[0] != 100);
    /* A word with a character no piece covers is one [UNK] spanning the word. */
    expect(t, "x\xe2\x98\x83y z", false, "[UNK]@0:5 z@6:7");
    text_enc_free(&e);
    text_tok_free(t);
}

static void test_truncation(void)
{
    text_tok_t *t = minilm();
    if (!t) {
        CHECK(0);
        return;
    }
    const char *s = "one two three four five six seven eight nine ten eleven twelve";
    text_enc_t full, e;
    text_enc_init(&full);
    text_enc_init(&e);
    CHECK_EQ(text_tok_encode(t, s, strlen(s), 0, true, &full, err, sizeof err), 0);
    CHECK_EQ(full.n, 14);
    CHECK(!full.truncated);
    CHECK_EQ(text_tok_encode(t, s, strlen(s), 6, true, &e, err, sizeof err), 0);
    CHECK_EQ(e.n, 6);
    CHECK_EQ(e.n_full, 14);
    CHECK(e.truncated);
    CHECK_EQ(e.ids[0], 101);
    CHECK_EQ(e.ids[5], 102); /* [SEP] kept */
    CHECK(e.special[5] && e.start[5] == TEXT_NO_OFFSET);
    for (int i = 1; i < 5; i++) CHECK_EQ(e.ids[i], full.ids[i]);
    /* Left truncation keeps the last tokens, in order. */
    text_encode_opts_t o = {.max_len = 6, .add_special = true, .truncate_left = true};
    CHECK_EQ(text_tok_encode_ex(t, s, strlen(s), &o, &e, err, sizeof err), 0);
    CHECK_EQ(e.n, 6);
    CHECK_EQ(e.ids[0], 101);
    CHECK_EQ(e.ids[5], 102);
    for (int i = 1; i < 5; i++) {
        CHECK_EQ(e.ids[i], full.ids[full.n - 6 + i]);
        CHECK_EQ(e.start[i], full.start[full.n - 6 + i]);
    }
    /* Exactly the specials: no text tokens. Fewer: refused. */
    CHECK_EQ(text_tok_encode(t, s, strlen(s), 2, true, &e, err, sizeof err), 0);
    CHECK_EQ(e.n, 2);
    CHECK_EQ(text_tok_encode(t, s, strlen(s), 1, true, &e, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "special") != NULL);
    /* Without specials the limit is all text tokens. */
    CHECK_EQ(text_tok_encode(t, s, strlen(s), 3, false, &e, err, sizeof err), 0);
    CHECK_EQ(e.n, 3);
    CHECK_EQ(e.ids[2], full.ids[3]);
    text_enc_free(&full);
    text_enc_free(&e);
    text_tok_free(t);
}

/* Once an encoding's buffers have grown to the largest text, encoding allocates nothing. */
static void test_no_alloc(void)
{
    text_tok_t *t = minilm();
    if (!t) {
        CHECK(0);
        return;
    }
    static const char *const texts[] = {
        "how to reset password",
        "Caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e, na\xc3\xafve [MASK] "
        "supercalifragilisticexpialidocious!",
        "",
        "a",
    };
    char big[3000];
    for (size_t i = 0; i < sizeof big - 1; i++) big[i] = "ab cd, efg"[i % 10];
    big[sizeof big - 1] = 0;
    text_enc_t e;
    text_enc_init(&e);
    text_encode_opts_t left = {.max_len = 16, .add_special = true, .truncate_left = true};
    CHECK_EQ(text_tok_encode(t, big, strlen(big), 0, true, &e, err, sizeof err), 0);
    allocs = 0;
    counting = 1;
    for (int r = 0; r < 100; r++) {
        for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
            text_tok_encode(t, texts[i], strlen(texts[i]), 256, true, &e, err, sizeof err);
        text_tok_encode(t, big, strlen(big), 0, true, &e, err, sizeof err);
        text_tok_encode_ex(t, big, strlen(big), &left, &e, err, sizeof err);
    }
    counting = 0;
    CHECK_EQ(allocs, 0);
    text_enc_free(&e);
    text_tok_free(t);
}

static void test_invalid_utf8(void)
{
    text_tok_t *t = minilm();
    if (!t) {
        CHECK(0);
        return;
    }
    static const struct {
        const char *s;
        size_t n, at;
    } bad[] = {
        {"abc\xff", 4, 3},          {"\xc0\xaf", 2, 0},
        {"ok \xed\xa0\x80", 6, 3},  {"x\xe2\x82", 3, 1},
        {"\xf4\x90\x80\x80", 4, 0}, {"\x80", 1, 0},
        {"caf\xc3\xa9\xc3", 6, 5},  {"\xf8\x88\x80\x80\x80", 5, 0},
    };
    text_enc_t e;
    text_enc_init(&e);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = text_tok_encode(t, bad[i].s, bad[i].n, 0, true, &e, err, sizeof err);
        CHECK_EQ(rc, -EILSEQ);
        char want[64];
        snprintf(want, sizeof want, "at byte %zu", bad[i].at);
        if (!strstr(err, want)) fprintf(stderr, "case %zu: %s, want %s\n", i, err, want);
        CHECK(strstr(err, want) != NULL);
        CHECK_EQ(e.n, 0);
    }
    /* A NUL is valid UTF-8 and removed by clean_text. */
    CHECK_EQ(text_tok_encode(t, "a\0b", 3, 0, false, &e, err, sizeof err), 0);
    CHECK_EQ(e.n, 1);
    text_enc_free(&e);
    text_tok_free(t);
}

static void test_load_errors(void)
{
    static const char *const bad[] = {
        "{}",
        "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}",
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0},\"unk_token\":\"[UNK]\"},"
        "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}}",
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0},\"unk_token\":\"[UNK]\"},"
        "\"normalizer\":{\"type\":\"NFKC\"},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}}",
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0},\"unk_token\":\"[UNK]\"},"
        "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},\"post_processor\":{\"type\":"
        "\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"[X]\",\"type_id\":0}},"
        "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{}}}",
        "not json",
        /* a bad entry after a good one (fuzz_tokenizer found this loading with no [UNK]) */
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"b\":{}},"
        "\"unk_token\":\"[UNK]\"},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}}",
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0},\"unk_token\":\"[UNK]\"},"
        "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"},\"added_tokens\":[{\"id\":-1}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        text_tok_t *t = text_tok_load_json(bad[i], strlen(bad[i]), err, sizeof err);
        CHECK(t == NULL);
        CHECK(err[0] != 0);
        text_tok_free(t);
    }
    /* A minimal tokenizer.json without normaliser or template. */
    const char *ok =
        "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":0,\"Ab\":1,\"##c\":2},"
        "\"unk_token\":\"[UNK]\"},\"normalizer\":null,"
        "\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}}";
    text_tok_t *t = text_tok_load_json(ok, strlen(ok), err, sizeof err);
    CHECK(t != NULL);
    if (t) {
        expect(t, "Abc ab", true, "Ab@0:2 ##c@2:3 [UNK]@4:6");
        text_tok_free(t);
    }
    /* vocab.txt without a config: BERT defaults, [CLS]/[SEP] looked up by name. */
    const char *vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n##s\r\n";
    t = text_tok_load_vocab(vocab, strlen(vocab), NULL, 0, NULL, 0, err, sizeof err);
    CHECK(t != NULL);
    if (t) {
        expect(t, "HELLOS", true, "[CLS] hello@0:5 ##s@5:6 [SEP]");
        text_tok_free(t);
    }
    t = text_tok_load_vocab("a\nb\n", 4, NULL, 0, NULL, 0, err, sizeof err);
    CHECK(t == NULL && strstr(err, "unk_token") != NULL);
    t = text_tok_load("/nonexistent-dir/x", err, sizeof err);
    CHECK(t == NULL);
}

int main(void)
{
    test_reference("tokenizer.json");
    test_reference("vocab.txt");
    test_extra();
    test_offsets();
    test_long_words();
    test_truncation();
    test_no_alloc();
    test_invalid_utf8();
    test_load_errors();
    return TH_DONE();
}
