/* libFuzzer target for src/text/tokenizer.c: encodes arbitrary bytes with the real
 * all-MiniLM-L6-v2 tokenizer (loaded once from ../shared), under the options the first byte
 * picks, and checks the encoding's invariants: invalid UTF-8 is refused with the offset of the
 * first bad byte (found by an independent decoder), every span lies in the text, in order,
 * specials have none, truncation keeps [CLS] ... [SEP] and agrees with the untruncated run.
 * A first byte of 0xff or 0xfe makes the rest a tokenizer.json or a vocab.txt to load instead:
 * loading must fail with a message or give a tokenizer that encodes. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer.h"
#include "utf8_oracle.h"

#include "require.h"

static text_tok_t *tok;
static text_enc_t full, cut;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    tok = text_tok_load(MINILM_DIR "/tokenizer.json", err, sizeof err);
    if (!tok) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err);
        abort();
    }
    text_enc_init(&full);
    text_enc_init(&cut);
    return 0;
}

/* Loads data as a tokenizer file and, when it loads, encodes a few texts with it. */
static void load(bool json, const char *data, size_t size)
{
    char err[256] = "";
    text_tok_t *t = json ? text_tok_load_json(data, size, err, sizeof err)
                         : text_tok_load_vocab(data, size, NULL, 0, NULL, 0, err, sizeof err);
    if (!t) {
        REQUIRE(err[0] != '\0');
        return;
    }
    static const char *const texts[] = {"Hello, [CLS] world!", "abc ##d \xc3\xa9\xe4\xb8\xad", ""};
    text_enc_t e;
    text_enc_init(&e);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        REQUIRE(text_tok_encode(t, texts[i], strlen(texts[i]), 8, false, &e, err, sizeof err) == 0);
        for (size_t k = 0; k < e.n; k++) REQUIRE(text_tok_id_text(t, e.ids[k], NULL) != NULL);
        int rc = text_tok_encode(t, texts[i], strlen(texts[i]), 8, true, &e, err, sizeof err);
        REQUIRE(rc == 0 || (rc == -EINVAL && text_tok_num_special(t) > 8));
    }
    text_enc_free(&e);
    text_tok_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned opt = data[0];
    if (opt >= 0xfe) {
        load(opt == 0xff, (const char *)data + 1, size - 1);
        return 0;
    }
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    char err[256];
    bool special = opt & 1;
    int rc = text_tok_encode(tok, s, n, 0, special, &full, err, sizeof err);
    size_t bad = oracle_first_bad_utf8((const unsigned char *)s, n);
    if (bad != SIZE_MAX) {
        REQUIRE(rc == -EILSEQ);
        char want[64];
        snprintf(want, sizeof want, "at byte %zu", bad);
        REQUIRE(strstr(err, want) != NULL);
        REQUIRE(full.n == 0);
        return 0;
    }
    REQUIRE(rc == 0);
    REQUIRE(full.n == full.n_full && !full.truncated);
    size_t prev = 0;
    for (size_t i = 0; i < full.n; i++) {
        REQUIRE(text_tok_id_text(tok, full.ids[i], NULL) != NULL);
        REQUIRE(full.mask[i] == 1 && full.type_ids[i] == 0);
        if (full.special[i]) {
            REQUIRE(special && (i == 0 || i == full.n - 1));
            REQUIRE(full.start[i] == TEXT_NO_OFFSET && full.stop[i] == TEXT_NO_OFFSET);
            continue;
        }
        REQUIRE(full.start[i] >= prev && full.start[i] < full.stop[i] && full.stop[i] <= n);
        prev = full.start[i];
    }
    if (special) REQUIRE(full.n >= 2 && full.ids[0] == 101 && full.ids[full.n - 1] == 102);

    /* Truncated runs agree with the full one. */
    text_encode_opts_t o = {
        .max_len = 2 + (int)(opt >> 2 & 15), .add_special = special, .truncate_left = opt & 2};
    rc = text_tok_encode_ex(tok, s, n, &o, &cut, err, sizeof err);
    REQUIRE(rc == 0);
    REQUIRE(cut.n_full == full.n);
    REQUIRE(cut.n == (full.n < (size_t)o.max_len ? full.n : (size_t)o.max_len));
    size_t sp = special ? 1 : 0, keep = cut.n - 2 * sp,
           skip = o.truncate_left ? full.n - 2 * sp - keep : 0;
    for (size_t i = 0; i < keep; i++) {
        REQUIRE(cut.ids[sp + i] == full.ids[sp + skip + i]);
        REQUIRE(cut.start[sp + i] == full.start[sp + skip + i]);
        REQUIRE(cut.stop[sp + i] == full.stop[sp + skip + i]);
    }
    if (special) REQUIRE(cut.ids[0] == 101 && cut.ids[cut.n - 1] == 102);
    return 0;
}
