/* util/err, util/hex, util/utf8, util/i64map and UUID text parsing: the helpers that replaced
 * per-file twins.
 * UTF-8 vectors follow RFC 3629 section 4 (the syntax) and its boundary cases. */
#include <stdint.h>

#include "store/uuid7.h"
#include "th.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/i64map.h"
#include "util/utf8.h"

static size_t seq(const char *s, size_t n)
{
    return utf8_seq((const unsigned char *)s, (const unsigned char *)s + n);
}

/* i64map against a direct-indexed array over a small key range, so probes collide, runs
 * wrap, and deletions shift entries back across the end of the table. */
static void test_i64map(void)
{
    enum { KEYS = 3000, OPS = 200000 };
    static int64_t ref[KEYS];
    static bool has[KEYS];
    i64map_t m = {0};
    uint64_t r = 12345;
    int bad = 0;
    size_t n = 0;
    for (int op = 0; op < OPS; op++) {
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        int k = (int)(r % KEYS);
        int64_t key = (int64_t)k * 1024 - 7; /* spread, negative one included */
        int64_t v;
        if (r >> 60 < 9) {
            bad += i64map_put(&m, key, (int64_t)op) != 0;
            n += !has[k];
            has[k] = true, ref[k] = op;
        } else {
            bad += i64map_del(&m, key) != has[k];
            n -= has[k];
            has[k] = false;
        }
        if (op % 1000 == 0)
            for (int j = 0; j < KEYS; j++)
                bad +=
                    i64map_get(&m, (int64_t)j * 1024 - 7, &v) != has[j] || (has[j] && v != ref[j]);
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(m.n, n);
    i64map_free(&m);
    CHECK(!i64map_get(&m, 1, NULL) && !i64map_del(&m, 1));
}

int main(void)
{
    test_i64map();

    /* err_set: formats, cuts to fit, tolerates no buffer. */
    char err[8];
    err_set(err, sizeof err, "%s %d", "abc", 12345);
    CHECK_STR(err, "abc 123");
    err_set(NULL, 0, "nothing %d", 1);
    CHECK(ERR_REFUSED == -EBADMSG && ERR_BUSY == -EAGAIN && ERR_NOT_FOUND == -ENOENT);

    /* hex */
    CHECK_EQ(hex_val('0'), 0);
    CHECK_EQ(hex_val('9'), 9);
    CHECK_EQ(hex_val('a'), 10);
    CHECK_EQ(hex_val('F'), 15);
    CHECK_EQ(hex_val('g'), -1);
    CHECK_EQ(hex_val('/'), -1);
    CHECK_EQ(hex_val(':'), -1);
    CHECK_EQ(hex_val('@'), -1);
    CHECK_EQ(hex_val_lower('f'), 15);
    CHECK_EQ(hex_val_lower('F'), -1);

    /* UTF-8: ASCII, the first and last code point of each length, and what RFC 3629 forbids. */
    CHECK_EQ(seq("A", 1), 1);
    CHECK_EQ(seq("\0", 1), 1);
    CHECK_EQ(seq("\xc2\x80", 2), 2);         /* U+0080 */
    CHECK_EQ(seq("\xdf\xbf", 2), 2);         /* U+07FF */
    CHECK_EQ(seq("\xe0\xa0\x80", 3), 3);     /* U+0800 */
    CHECK_EQ(seq("\xed\x9f\xbf", 3), 3);     /* U+D7FF */
    CHECK_EQ(seq("\xee\x80\x80", 3), 3);     /* U+E000 */
    CHECK_EQ(seq("\xef\xbf\xbf", 3), 3);     /* U+FFFF */
    CHECK_EQ(seq("\xf0\x90\x80\x80", 4), 4); /* U+10000 */
    CHECK_EQ(seq("\xf4\x8f\xbf\xbf", 4), 4); /* U+10FFFF */
    CHECK_EQ(seq("\xc0\xaf", 2), 0);         /* overlong '/' */
    CHECK_EQ(seq("\xc1\xbf", 2), 0);         /* overlong */
    CHECK_EQ(seq("\xe0\x80\xaf", 3), 0);     /* overlong */
    CHECK_EQ(seq("\xf0\x80\x80\xaf", 4), 0); /* overlong */
    CHECK_EQ(seq("\xed\xa0\x80", 3), 0);     /* U+D800, a surrogate */
    CHECK_EQ(seq("\xed\xbf\xbf", 3), 0);     /* U+DFFF */
    CHECK_EQ(seq("\xf4\x90\x80\x80", 4), 0); /* U+110000 */
    CHECK_EQ(seq("\xf5\x80\x80\x80", 4), 0); /* beyond */
    CHECK_EQ(seq("\x80", 1), 0);             /* a lone continuation */
    CHECK_EQ(seq("\xe2\x82", 2), 0);         /* cut short */
    CHECK_EQ(seq("\xe2\x28\xa1", 3), 0);     /* bad continuation */
    CHECK(utf8_valid_text("caf\xc3\xa9 \xe2\x82\xac", 9));
    CHECK(!utf8_valid_text("a\0b", 3)); /* PostgreSQL text holds no NUL */
    CHECK(!utf8_valid_text("caf\xc3", 4));
    CHECK(utf8_valid_text("", 0));

    /* UUID text: whole ids and prefixes, lowercase only. */
    uint8_t u[16];
    CHECK_EQ(uuid_parse("0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", u), 32);
    CHECK_EQ(u[0], 0x01);
    CHECK_EQ(u[15], 0x2b);
    char back[UUID_STRLEN + 1];
    uuid_format(u, back);
    CHECK_STR(back, "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b");
    CHECK_EQ(uuid_parse("0190a1b2-c", u), 9);
    CHECK_EQ(u[4], 0xc0);
    CHECK_EQ(uuid_parse("0190A1B2", u), -1);
    CHECK_EQ(uuid_parse("0190a1b2c", u), -1);
    CHECK_EQ(uuid_parse("0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b0", u), -1);
    return TH_DONE();
}
