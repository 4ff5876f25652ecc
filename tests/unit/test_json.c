/* Unit tests for util/json: every value type, escapes and UTF-8, each class of invalid input,
 * limits, exact numbers, flattening to tensors, number writers, and a parse-speed figure. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "th.h"
#include "util/err.h"
#include "util/json.h"

static char err[256];

static json_doc_t *parse(const char *s)
{
    json_doc_t *d = json_parse(s, strlen(s), NULL, err, sizeof err);
    if (!d) fprintf(stderr, "unexpected parse error for <%s>: %s\n", s, err);
    return d;
}

/* Expects text[0..len) to be refused with a message containing `needle`. */
static void refuse_n(const char *text, size_t len, const json_limits_t *lim, const char *needle)
{
    json_doc_t *d = json_parse(text, len, lim, err, sizeof err);
    bool ok = d == NULL && strstr(err, needle) != NULL;
    if (!ok)
        fprintf(stderr, "input <%.*s>: got %s \"%s\", wanted an error with \"%s\"\n", (int)len,
                text, d ? "success" : "error", d ? "" : err, needle);
    CHECK(ok);
    json_doc_free(d);
}

static void refuse(const char *text, const char *needle)
{
    refuse_n(text, strlen(text), NULL, needle);
}

static uint64_t bits_d(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static uint32_t bits_f(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next_rand(void)
{
    /* xorshift64*: reproducible and good enough to pick test values. */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1du;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* ==== Valid documents ==== */

static void test_scalars(void)
{
    json_doc_t *d = parse("null");
    CHECK_EQ(json_type(json_root(d)), JSON_NULL);
    json_doc_free(d);
    d = parse(" \t\r\ntrue \n");
    CHECK_EQ(json_type(json_root(d)), JSON_TRUE);
    json_doc_free(d);
    d = parse("false");
    CHECK_EQ(json_type(json_root(d)), JSON_FALSE);
    json_doc_free(d);
    d = parse("42");
    CHECK_EQ(json_type(json_root(d)), JSON_NUMBER);
    CHECK(json_is_integer(json_root(d)));
    CHECK_EQ(json_int(json_root(d)), 42);
    CHECK(json_number(json_root(d)) == 42.0);
    json_doc_free(d);
    d = parse("\"hi\"");
    size_t n = 99;
    CHECK_STR(json_string(json_root(d), &n), "hi");
    CHECK_EQ(n, 2);
    CHECK(json_string(json_root(d), NULL) != NULL);
    json_doc_free(d);
    d = parse("\"\"");
    CHECK_STR(json_string(json_root(d), &n), "");
    CHECK_EQ(n, 0);
    json_doc_free(d);

    /* Accessors on the wrong type, or on NULL, answer as for null. */
    d = parse("\"s\"");
    const json_value_t *v = json_root(d);
    CHECK(isnan(json_number(v)));
    CHECK(!json_is_integer(v));
    CHECK_EQ(json_int(v), 0);
    CHECK_EQ(json_size(v), 0);
    CHECK(json_at(v, 0) == NULL);
    CHECK(json_get(v, "a") == NULL);
    CHECK(json_key_at(v, 0, &n) == NULL && n == 0);
    CHECK(json_value_at(v, 0) == NULL);
    json_doc_free(d);
    CHECK_EQ(json_type(NULL), JSON_NULL);
    CHECK(json_string(NULL, &n) == NULL && n == 0);
    CHECK_EQ(json_size(NULL), 0);
    CHECK(json_at(NULL, 0) == NULL);
    CHECK(json_get(NULL, "x") == NULL);
    CHECK(isnan(json_number(NULL)));
    CHECK(json_root(NULL) == NULL);
    json_doc_free(NULL);
}

static void test_containers(void)
{
    json_doc_t *d = parse("[]");
    CHECK_EQ(json_type(json_root(d)), JSON_ARRAY);
    CHECK_EQ(json_size(json_root(d)), 0);
    CHECK(json_at(json_root(d), 0) == NULL);
    json_doc_free(d);
    d = parse(" { } ");
    CHECK_EQ(json_type(json_root(d)), JSON_OBJECT);
    CHECK_EQ(json_size(json_root(d)), 0);
    CHECK(json_get(json_root(d), "") == NULL);
    json_doc_free(d);

    d = parse("[1, \"two\", [3, [4]], {\"five\": 5}, true, false, null, -6.5]");
    const json_value_t *a = json_root(d);
    CHECK_EQ(json_size(a), 8);
    CHECK_EQ(json_int(json_at(a, 0)), 1);
    CHECK_STR(json_string(json_at(a, 1), NULL), "two");
    CHECK_EQ(json_size(json_at(a, 2)), 2);
    CHECK_EQ(json_int(json_at(json_at(json_at(a, 2), 1), 0)), 4);
    CHECK_EQ(json_int(json_get(json_at(a, 3), "five")), 5);
    CHECK_EQ(json_type(json_at(a, 4)), JSON_TRUE);
    CHECK_EQ(json_type(json_at(a, 5)), JSON_FALSE);
    CHECK_EQ(json_type(json_at(a, 6)), JSON_NULL);
    CHECK(json_number(json_at(a, 7)) == -6.5);
    CHECK(json_at(a, 8) == NULL);
    json_doc_free(d);

    d = parse("{\"a\": 1, \"b\": {\"c\": [true]}, \"A\": 2, \"\": \"empty\"}");
    const json_value_t *o = json_root(d);
    CHECK_EQ(json_size(o), 4);
    CHECK_EQ(json_int(json_get(o, "a")), 1);
    CHECK_EQ(json_type(json_at(json_get(json_get(o, "b"), "c"), 0)), JSON_TRUE);
    CHECK_STR(json_string(json_get(o, ""), NULL), "empty");
    CHECK(json_get(o, "z") == NULL);
    CHECK(json_get(o, "ab") == NULL);
    size_t n;
    CHECK_STR(json_key_at(o, 2, &n), "A");
    CHECK_EQ(n, 1);
    CHECK_EQ(json_int(json_value_at(o, 2)), 2);
    CHECK(json_key_at(o, 4, NULL) == NULL);
    CHECK(json_value_at(o, 4) == NULL);
    CHECK(json_at(o, 0) == NULL); /* objects are not indexable as arrays */
    json_doc_free(d);

    /* A key holding a NUL is found only by length. */
    d = parse("{\"k\\u0000x\": 1, \"k\": 2}");
    CHECK_EQ(json_int(json_getn(json_root(d), "k\0x", 3)), 1);
    CHECK_EQ(json_int(json_get(json_root(d), "k")), 2);
    json_doc_free(d);

    /* Deep mixed nesting, and a shape that spills the parser's scratch stacks to the heap. */
    char deep[400];
    size_t k = 0;
    for (int i = 0; i < 60; i++) k += (size_t)sprintf(deep + k, i % 2 ? "{\"k\":" : "[");
    k += (size_t)sprintf(deep + k, "7");
    for (int i = 59; i >= 0; i--) deep[k++] = i % 2 ? '}' : ']';
    d = json_parse(deep, k, NULL, err, sizeof err);
    CHECK(d != NULL);
    const json_value_t *v = json_root(d);
    for (int i = 0; i < 60; i++) v = i % 2 ? json_get(v, "k") : json_at(v, 0);
    CHECK_EQ(json_int(v), 7);
    json_doc_free(d);

    /* 100000 elements: many arena blocks and a grown value stack; indexing stays exact. */
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "[");
    for (int i = 0; i < 100000; i++) buf_printf(&b, "%s[%d,\"s%d\"]", i ? "," : "", i, i);
    buf_puts(&b, "]");
    d = json_parse(b.data, b.len, NULL, err, sizeof err);
    CHECK(d != NULL);
    CHECK_EQ(json_size(json_root(d)), 100000);
    bool all = true;
    char want[16];
    for (int i = 0; i < 100000; i += 777) {
        const json_value_t *e = json_at(json_root(d), (size_t)i);
        sprintf(want, "s%d", i);
        all &= json_int(json_at(e, 0)) == i && strcmp(json_string(json_at(e, 1), NULL), want) == 0;
    }
    CHECK(all);
    json_doc_free(d);

    /* A long string gets a block of its own. */
    b.len = 0;
    buf_puts(&b, "[\"a\",\"");
    for (int i = 0; i < 200000; i++) buf_puts(&b, "xyz\\n");
    buf_puts(&b, "\",\"b\"]");
    d = json_parse(b.data, b.len, NULL, err, sizeof err);
    CHECK(d != NULL);
    json_string(json_at(json_root(d), 1), &n);
    CHECK_EQ(n, 800000);
    CHECK_STR(json_string(json_at(json_root(d), 2), NULL), "b");
    json_doc_free(d);
    buf_deinit(&b);

    /* The text need not be NUL-terminated; the document does not point into it. */
    char *t = malloc(6);
    memcpy(t, "[\"ok\"]", 6);
    d = json_parse(t, 6, NULL, err, sizeof err);
    memset(t, 'x', 6);
    free(t);
    CHECK_STR(json_string(json_at(json_root(d), 0), NULL), "ok");
    json_doc_free(d);
}

static void test_strings(void)
{
    size_t n;
    json_doc_t *d = parse("\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"");
    CHECK_STR(json_string(json_root(d), &n), "a\"b\\c/d\be\ff\ng\rh\ti");
    CHECK_EQ(n, 17);
    json_doc_free(d);

    d = parse("\"\\u0041\\u00e9\\u20AC\\uD83D\\ude00!\"");
    CHECK_STR(json_string(json_root(d), &n), "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80!");
    CHECK_EQ(n, 11);
    json_doc_free(d);

    d = parse("\"\\uDBFF\\uDFFF\""); /* U+10FFFF, the last code point */
    CHECK_STR(json_string(json_root(d), NULL), "\xf4\x8f\xbf\xbf");
    json_doc_free(d);

    /* \u0000 becomes a real NUL: the length counts it and the terminator follows. */
    d = parse("\"a\\u0000b\"");
    const char *s = json_string(json_root(d), &n);
    CHECK_EQ(n, 3);
    CHECK(s && memcmp(s, "a\0b\0", 4) == 0);
    json_doc_free(d);

    /* Raw UTF-8 of every length passes through unchanged. */
    d = parse("\"\xc2\xa9 \xe2\x82\xac \xef\xbf\xbd \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \x7f\"");
    CHECK_STR(json_string(json_root(d), NULL),
              "\xc2\xa9 \xe2\x82\xac \xef\xbf\xbd \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \x7f");
    json_doc_free(d);

    /* Escapes and raw UTF-8 mixed in one string take the unescaping pass. */
    d = parse("\"\xc3\xa9\\t\xe2\x82\xac\"");
    CHECK_STR(json_string(json_root(d), NULL), "\xc3\xa9\t\xe2\x82\xac");
    json_doc_free(d);
}

/* ==== Invalid documents ==== */

static void test_invalid(void)
{
    refuse("", "empty input");
    refuse(" \n\t ", "empty input");
    CHECK(json_parse(NULL, 0, NULL, err, sizeof err) == NULL);

    /* Trailing commas, comments, quotes. */
    refuse("[1,2,]", "trailing comma before ']'");
    refuse("{\"a\":1,}", "trailing comma before '}'");
    refuse("[1,,2]", "unexpected ','");
    refuse("[,]", "unexpected ','");
    refuse("// c\n1", "comments are not allowed");
    refuse("[1 /* c */]", "comments are not allowed");
    refuse("'a'", "single-quoted strings are not allowed");
    refuse("{'a':1}", "single-quoted strings are not allowed");

    /* Numbers. */
    refuse("01", "leading zeros");
    refuse("-01", "leading zeros");
    refuse("00", "leading zeros");
    refuse("+1", "unexpected '+'");
    refuse(".5", "unexpected '.'");
    refuse("1.", "expected a digit after '.'");
    refuse("1.e3", "expected a digit after '.'");
    refuse("-", "expected a digit after '-'");
    refuse("-a", "expected a digit after '-'");
    refuse("1e", "expected a digit in the exponent");
    refuse("1e+", "expected a digit in the exponent");
    refuse("1E-x", "expected a digit in the exponent");
    refuse("NaN", "unexpected 'N'");
    refuse("Infinity", "unexpected 'I'");
    refuse("-Infinity", "expected a digit after '-'");
    refuse("[nan]", "invalid literal");
    refuse("0x10", "unexpected 'x'");
    refuse("1e999", "number out of range");
    refuse("-1e999", "number out of range");
    refuse("1.8e308", "number out of range");
    refuse("[1e99999999999999999999]", "number out of range");
    /* Non-zero digits that round to 0 are out of range too (they would be kept as sent and read
     * back as 0, and PostgreSQL's numeric refuses them); zeros with any exponent are 0. */
    refuse("1e-400000", "number out of range at line 1, column 1 (byte 0)");
    refuse("[0, -1e-400000]", "number out of range at line 1, column 5 (byte 4)");
    refuse("1e-999", "number out of range");
    refuse("2.4703282292062327e-324", "number out of range"); /* below half the least subnormal */
    refuse("0.0000000000000000000000000000001e-300", "number out of range");
    refuse("12345678901234567890123e-400", "number out of range");
    refuse("1e-99999999999999999999", "number out of range");

    /* Duplicate keys: the message names the key and points at the repeat. */
    refuse("{\"a\":1,\"a\":2}", "duplicate key \"a\" at line 1, column 8 (byte 7)");
    refuse("{\"a\":1,\"b\":[{\"x\":1}],\n \"b\" : 3}", "duplicate key \"b\" at line 2, column 2");
    refuse("[{\"k\":{}, \"\\u006b\":null}]", "duplicate key \"k\" at line 1, column 11");
    refuse("{\"\\u0000\":1,\"\\u0000\":1}", "duplicate key \"\\x00\"");
    refuse("{\"q\\\"\":1,\"q\\\"\":1}", "duplicate key \"q\\x22\"");
    {
        /* A big object takes the sorted path; the first repeat in source order is named. */
        buf_t big;
        buf_init(&big);
        buf_puts(&big, "{");
        for (int i = 0; i < 1000; i++) buf_printf(&big, "\"k%d\":%d,", i, i);
        buf_puts(&big, "\"k700\":0,\"k5\":0}");
        refuse_n(big.data, big.len, NULL, "duplicate key \"k700\"");
        big.len -= 16;
        buf_puts(&big, "\"k1000\":0,\"kk\":0}");
        json_doc_t *bd = json_parse(big.data, big.len, NULL, err, sizeof err);
        CHECK(bd && json_size(json_root(bd)) == 1002);
        json_doc_free(bd);
        buf_deinit(&big);
    }
    /* Keys that only look alike are different keys; the same key in sibling objects is fine. */
    json_doc_free(parse("{\"a\":1,\"a \":2,\"A\":3,\"\\u0000a\":4,\"a\\u0000\":5}"));
    json_doc_free(parse("[{\"a\":1},{\"a\":2,\"b\":{\"a\":3}}]"));

    /* Literals. */
    refuse("tru", "invalid literal (expected true)");
    refuse("True", "unexpected 'T'");
    refuse("nul", "invalid literal (expected null)");
    refuse("falsey", "unexpected 'y'");
    refuse("[truefalse]", "unexpected 'f'");

    /* Strings: controls, escapes, surrogates. */
    refuse("\"a\nb\"", "unescaped control character 0x0a");
    refuse("\"\t\"", "unescaped control character 0x09");
    refuse_n("\"\0\"", 3, NULL, "unescaped control character 0x00");
    refuse("\"\x1f\"", "unescaped control character 0x1f");
    refuse("\"\\x\"", "invalid escape \\x");
    refuse("\"\\'\"", "invalid escape \\'");
    refuse("\"\\\xc3\xa9\"", "invalid escape \\(non-printable)");
    refuse("\"\\u12\"", "invalid \\u escape");
    refuse("\"\\u12G4\"", "invalid \\u escape");
    refuse("\"\\U0041\"", "invalid escape \\U");
    refuse("\"\\uD800\"", "lone surrogate \\uD800");
    refuse("\"\\uDBFFx\"", "lone surrogate \\uDBFF");
    refuse("\"\\uD800\\u0041\"", "lone surrogate \\uD800");
    refuse("\"\\uD800\\uD800\"", "lone surrogate \\uD800");
    refuse("\"\\uDC00\"", "lone surrogate \\uDC00");
    refuse("\"\\uDFFF\\uD800\"", "lone surrogate \\uDFFF");
    refuse("\"abc", "unterminated string");
    refuse("\"abc\\", "unterminated string");
    refuse("\"abc\\\"", "unterminated string");
    refuse("[\"a]", "unterminated string");

    /* UTF-8: stray continuation, overlongs, surrogates, beyond U+10FFFF, truncation. */
    refuse("\"\x80\"", "invalid UTF-8");
    refuse("\"\xbf\"", "invalid UTF-8");
    refuse("\"\xc0\x80\"", "invalid UTF-8");
    refuse("\"\xc1\xbf\"", "invalid UTF-8");
    refuse("\"\xe0\x80\x80\"", "invalid UTF-8");
    refuse("\"\xe0\x9f\xbf\"", "invalid UTF-8");
    refuse("\"\xed\xa0\x80\"", "invalid UTF-8");
    refuse("\"\xed\xbf\xbf\"", "invalid UTF-8");
    refuse("\"\xf0\x80\x80\x80\"", "invalid UTF-8");
    refuse("\"\xf0\x8f\xbf\xbf\"", "invalid UTF-8");
    refuse("\"\xf4\x90\x80\x80\"", "invalid UTF-8");
    refuse("\"\xf5\x80\x80\x80\"", "invalid UTF-8");
    refuse("\"\xff\"", "invalid UTF-8");
    refuse("\"\xfe\"", "invalid UTF-8");
    refuse("\"\xe2\x82\"", "invalid UTF-8");
    refuse("\"\xc3\"", "invalid UTF-8");
    refuse_n("\"\xe2\x82", 3, NULL, "invalid UTF-8");
    refuse("\"\xf0\x9f\x98\"", "invalid UTF-8");
    refuse("\"\xc3\x28\"", "invalid UTF-8");

    /* Structure. */
    refuse("1 2", "unexpected '2', expected end of input after the top-level value");
    refuse("{} x", "unexpected 'x'");
    refuse("[1]]", "unexpected ']'");
    refuse("\xef\xbb\xbf[]", "unexpected byte 0xef");
    refuse("[", "unexpected end of input, expected a value");
    refuse("[1", "unexpected end of input, expected ',' or ']'");
    refuse("[1 2]", "expected ',' or ']'");
    refuse("{", "unexpected end of input, expected a string key");
    refuse("{\"a\"", "unexpected end of input, expected ':'");
    refuse("{\"a\" 1}", "unexpected '1', expected ':'");
    refuse("{\"a\":}", "unexpected '}', expected a value");
    refuse("{\"a\":1", "expected ',' or '}'");
    refuse("{\"a\":1 \"b\":2}", "expected ',' or '}'");
    refuse("{1:2}", "expected a string key");
    refuse("{a:2}", "expected a string key");
    refuse("[}", "unexpected '}'");
    refuse("{]", "unexpected ']'");
    refuse("]", "unexpected ']'");
    refuse("\x01", "unexpected byte 0x01");
    refuse("[1]\v", "unexpected byte 0x0b"); /* only space, tab, CR, LF are whitespace */
    refuse_n("[1]\0", 4, NULL, "unexpected byte 0x00");

    /* Messages give line, column and byte. */
    json_parse("[1, 2, 3, 4, 5, 6 7]", 20, NULL, err, sizeof err);
    CHECK_STR(err, "unexpected '7', expected ',' or ']' at line 1, column 19 (byte 18)");
    json_parse("{\n  \"a\": [1,\n    2,]\n}", 22, NULL, err, sizeof err);
    CHECK_STR(err, "trailing comma before ']' at line 3, column 7 (byte 19)");
    json_parse("\n\n  \"ab\\q\"", 10, NULL, err, sizeof err);
    CHECK_STR(err, "invalid escape \\q at line 3, column 6 (byte 7)");
    json_parse("[1.5e]", 6, NULL, err, sizeof err);
    CHECK_STR(err, "expected a digit in the exponent at line 1, column 6 (byte 5)");

    /* A tiny or missing error buffer is fine. */
    char tiny[8];
    CHECK(json_parse("[1,]", 4, NULL, tiny, sizeof tiny) == NULL);
    CHECK_EQ(strlen(tiny), 7);
    CHECK(json_parse("[1,]", 4, NULL, NULL, 0) == NULL);
    CHECK(json_parse("[1,]", 4, NULL, tiny, 0) == NULL);
}

static void test_limits(void)
{
    char s[200];
    /* Default depth 64: 64 nested arrays parse, 65 do not. */
    for (int i = 0; i < 65; i++) s[i] = '[';
    for (int i = 0; i < 65; i++) s[65 + i] = ']';
    json_doc_t *d = json_parse(s + 1, 128, NULL, err, sizeof err);
    CHECK(d != NULL);
    json_doc_free(d);
    refuse_n(s, 130, NULL, "nesting deeper than 64 at line 1, column 65 (byte 64)");

    json_limits_t lim = {.max_depth = 3};
    d = json_parse("[{\"a\":[]}]", 10, &lim, err, sizeof err);
    CHECK(d != NULL);
    json_doc_free(d);
    refuse_n("[{\"a\":[[]]}]", 12, &lim, "nesting deeper than 3");

    /* Values, keys included. */
    lim = (json_limits_t){.max_values = 4};
    d = json_parse("[1,2,3]", 7, &lim, err, sizeof err);
    CHECK(d != NULL);
    json_doc_free(d);
    refuse_n("[1,2,3,4]", 9, &lim, "more than 4 values");
    refuse_n("{\"a\":1,\"b\":2}", 13, &lim, "more than 4 values");

    lim = (json_limits_t){.max_bytes = 8};
    d = json_parse("[1,2,3] ", 8, &lim, err, sizeof err);
    CHECK(d != NULL);
    json_doc_free(d);
    refuse_n("[1,2,3]  ", 9, &lim, "input of 9 bytes is over 8");
}

/* ==== Numbers ==== */

static double num_of(const char *s)
{
    json_doc_t *d = json_parse(s, strlen(s), NULL, err, sizeof err);
    double v = d ? json_number(json_root(d)) : NAN;
    json_doc_free(d);
    return v;
}

/* json_number() must equal strtod() bit for bit, both for a number that ends the input (read
 * byte by byte) and for one followed by more text (read eight bytes at a time). */
static bool same_as_strtod(const char *s)
{
    char arr[128];
    snprintf(arr, sizeof arr, "[%s,\n1]   ", s);
    json_doc_t *d = json_parse(arr, strlen(arr), NULL, err, sizeof err);
    double want = strtod(s, NULL), got = num_of(s);
    double got2 = d ? json_number(json_at(json_root(d), 0)) : NAN;
    json_doc_free(d);
    if (bits_d(want) == bits_d(got) && bits_d(want) == bits_d(got2)) return true;
    fprintf(stderr, "number <%s>: got %.17g and %.17g, strtod gives %.17g\n", s, got, got2, want);
    return false;
}

static void test_numbers(void)
{
    static const char *const exact[] = {
        "0",
        "-0",
        "0.0",
        "-0.0",
        "0e10",
        "-0E-10",
        "1",
        "-1",
        "0.1",
        "0.2",
        "0.3",
        "1.5",
        "3.141592653589793",
        "2.718281828459045",
        "1e-320",
        "4.9e-324",
        "5e-324",
        "2.4703282292062328e-324", /* just above: rounds up to it */
        "2.2250738585072014e-308",
        "2.2250738585072011e-308",
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "-1.7976931348623157e+308",
        "1e23",
        "8.589973e9",
        "9007199254740992.0",
        "9007199254740993.0",
        "9007199254740995.0",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "123456789012345678901234567890",
        "0.1000000000000000055511151231257827021181583404541015625",
        "0.1000000000000000055511151231257827021181583404541015624",
        "7.038531e-26",
        "1.00000005960464477539062500000000000000001",
        "0.000000000000000000000000000000000000001234",
        "1234567890123456789e-10",
        "123456789012345678e20",
        "0.6394267984578837",
        "0.025010755222666936",
        "1E+2",
        "1e-7",
        "100000000000000000000000e-3",
        "3.4028235677973366e38",
        "9.999999999999999e22",
        "1.0000000000000002",
        "0.99999999999999994",
        "4503599627370496.5",
        "4503599627370497.5",
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++) CHECK(same_as_strtod(exact[i]));

    CHECK(num_of("0e-400000") == 0 && num_of("-0.000e-99999999999999999999") == 0);
    CHECK(num_of("2.4703282292062328e-324") == 5e-324);
    CHECK(signbit(num_of("-0")) && num_of("-0") == 0);
    CHECK(signbit(num_of("-0.0")));
    CHECK(!signbit(num_of("0")));
    CHECK(num_of("1e-320") > 0 && num_of("1e-320") < 2.3e-308); /* subnormal, kept */
    CHECK(num_of("1.7976931348623157e308") == 1.7976931348623157e308);
    CHECK(num_of("0.1") == 0.1);
    json_doc_t *d;

    /* Many digits against a big exponent: the exponent must not be clipped. */
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "0.");
    for (int i = 0; i < 100000; i++) buf_puts(&b, "0");
    buf_puts(&b, "1e100001 ");
    d = json_parse(b.data, b.len, NULL, err, sizeof err);
    CHECK(json_number(json_root(d)) == 1.0);
    json_doc_free(d);
    b.len -= 8;
    buf_puts(&b, "e1000005");
    refuse_n(b.data, b.len, NULL, "number out of range");
    b.len -= 8;
    buf_puts(&b, "e-99999999999999999999");
    refuse_n(b.data, b.len, NULL, "number out of range");
    buf_deinit(&b);
    CHECK(same_as_strtod("12e-0000000000000000000001"));
    refuse("1e+99999999999999999999", "number out of range");

    /* Integers: exact as int64 even beyond 2^53. */
    d = parse("[9007199254740993, -9223372036854775808, 9223372036854775807, "
              "9223372036854775808, -9223372036854775809, -0, 1.0, 1e2, 2.5, -2.5, "
              "1e300, -1e300, 12345678901234567890123]");
    const json_value_t *a = json_root(d);
    CHECK(json_is_integer(json_at(a, 0)));
    CHECK(json_int(json_at(a, 0)) == INT64_C(9007199254740993));
    CHECK(json_number(json_at(a, 0)) == 9007199254740992.0); /* nearest double, ties to even */
    CHECK(json_is_integer(json_at(a, 1)) && json_int(json_at(a, 1)) == INT64_MIN);
    CHECK(json_is_integer(json_at(a, 2)) && json_int(json_at(a, 2)) == INT64_MAX);
    CHECK(!json_is_integer(json_at(a, 3)));
    CHECK(json_number(json_at(a, 3)) == 9223372036854775808.0);
    CHECK(json_int(json_at(a, 3)) == INT64_MAX); /* saturated */
    CHECK(!json_is_integer(json_at(a, 4)));
    CHECK(json_int(json_at(a, 4)) == INT64_MIN);
    CHECK(json_is_integer(json_at(a, 5)) && json_int(json_at(a, 5)) == 0);
    CHECK(signbit(json_number(json_at(a, 5))));
    CHECK(!json_is_integer(json_at(a, 6)) && json_int(json_at(a, 6)) == 1);
    CHECK(!json_is_integer(json_at(a, 7)) && json_int(json_at(a, 7)) == 100);
    CHECK_EQ(json_int(json_at(a, 8)), 2); /* truncated toward zero */
    CHECK_EQ(json_int(json_at(a, 9)), -2);
    CHECK(json_int(json_at(a, 10)) == INT64_MAX);
    CHECK(json_int(json_at(a, 11)) == INT64_MIN);
    CHECK(!json_is_integer(json_at(a, 12)));
    CHECK(same_as_strtod("12345678901234567890123"));
    json_doc_free(d);

    /* Random doubles printed as encoders do (shortest, 15, 17 digits) and random digit strings
     * with exponents around the fast paths' edges: all must match strtod. */
    char s[96];
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        uint64_t r = next_rand();
        double v;
        switch (i % 4) {
        case 0: /* any finite bit pattern */
            memcpy(&v, &r, sizeof v);
            if (!isfinite(v)) continue;
            snprintf(s, sizeof s, "%.17g", v);
            break;
        case 1: /* values in [0, 1) like a model's inputs */
            v = (double)(r >> 11) / 9007199254740992.0;
            snprintf(s, sizeof s, "%.*g", 15 + (int)(r % 3), v);
            break;
        case 2: { /* 1..25 random digits, a point somewhere, an exponent from -40 to 40 */
            int nd = 1 + (int)(r % 25), k = 0, point = (int)((r >> 8) % (uint64_t)(nd + 1));
            uint64_t q = next_rand();
            if (r & (1u << 20)) s[k++] = '-';
            for (int j = 0; j < nd; j++) {
                if (j == point && j > 0) s[k++] = '.';
                int dig = (int)(q % 10);
                q = q / 10 ? q / 10 : next_rand();
                s[k++] = (char)('0' + (j == 0 ? (dig ? dig : 1) : dig));
            }
            k += sprintf(s + k, "e%d", (int)((r >> 32) % 81) - 40);
            break;
        }
        default: /* floats printed to 9 digits, as json_write_float's callers see them */
            snprintf(s, sizeof s, "%.9g", (double)(float)((double)(r >> 11) / (1 << 20)));
            break;
        }
        if (!same_as_strtod(s) && ++bad > 10) break;
    }
    CHECK_EQ(bad, 0);

    /* Exact midpoints between adjacent doubles (and their neighbours) in [2^53, 10^18), where
     * the extended-precision fast path must notice it cannot decide and defer to strtod. */
    bad = 0;
    for (int i = 0; i < 100000; i++) {
        int sh = 53 + (int)(next_rand() % 6);
        uint64_t base = (UINT64_C(1) << sh) | (next_rand() & ((UINT64_C(1) << sh) - 1));
        uint64_t ulp = UINT64_C(1) << (sh - 52);
        base &= ~(ulp - 1);
        uint64_t mid = base + ulp / 2 + (uint64_t)(i % 3) - 1;
        snprintf(s, sizeof s, i & 1 ? "%llu.0" : "%llue0", (unsigned long long)mid);
        if (!same_as_strtod(s) && ++bad > 10) break;
    }
    CHECK_EQ(bad, 0);
}

/* ==== Flattening ==== */

static void test_flatten(void)
{
    char msg[160];
    json_shape_t sh;
    float f[64];
    double g[64];
    int64_t q[64];

    json_doc_t *d = parse("[[1, 2.5, -3], [4e0, 5, 6]]");
    const json_value_t *r = json_root(d);
    CHECK_EQ(json_shape(r, &sh, msg, sizeof msg), 0);
    CHECK(sh.rank == 2 && sh.dim[0] == 2 && sh.dim[1] == 3 && sh.count == 6);
    memset(&sh, 0xff, sizeof sh);
    CHECK_EQ(json_flatten(r, JSON_ELEM_F32, f, 64, &sh, msg, sizeof msg), 0);
    CHECK(sh.rank == 2 && sh.dim[0] == 2 && sh.dim[1] == 3 && sh.count == 6);
    CHECK(f[0] == 1 && f[1] == 2.5f && f[2] == -3 && f[3] == 4 && f[5] == 6);
    CHECK_EQ(json_flatten(r, JSON_ELEM_F64, g, 6, NULL, msg, sizeof msg), 0);
    CHECK(g[1] == 2.5 && g[4] == 5);
    CHECK_EQ(json_flatten(r, JSON_ELEM_I64, q, 64, NULL, msg, sizeof msg), -ERANGE);
    CHECK_STR(msg, "element [0][1] (2.5) is not an int64 integer");
    CHECK_EQ(json_flatten(r, JSON_ELEM_F32, f, 5, NULL, msg, sizeof msg), -ENOSPC);
    CHECK_STR(msg, "6 elements, room for 5");
    json_doc_free(d);

    /* Rank 3 and rank 1. */
    d = parse("[[[1,2],[3,4],[5,6]],[[7,8],[9,10],[11,12]]]");
    CHECK_EQ(json_flatten(json_root(d), JSON_ELEM_I64, q, 64, &sh, msg, sizeof msg), 0);
    CHECK(sh.rank == 3 && sh.dim[0] == 2 && sh.dim[1] == 3 && sh.dim[2] == 2 && sh.count == 12);
    bool seq = true;
    for (int i = 0; i < 12; i++) seq &= q[i] == i + 1;
    CHECK(seq);
    json_doc_free(d);
    d = parse("[0.5, -1, 1e-3]");
    CHECK_EQ(json_flatten(json_root(d), JSON_ELEM_F64, g, 3, &sh, msg, sizeof msg), 0);
    CHECK(sh.rank == 1 && sh.dim[0] == 3 && sh.count == 3 && g[2] == 1e-3);
    json_doc_free(d);

    /* A bare number is rank 0; empty arrays have count 0. */
    d = parse("7.25");
    CHECK_EQ(json_flatten(json_root(d), JSON_ELEM_F32, f, 1, &sh, msg, sizeof msg), 0);
    CHECK(sh.rank == 0 && sh.count == 1 && f[0] == 7.25f);
    json_doc_free(d);
    d = parse("-1e300");
    CHECK_EQ(json_flatten(json_root(d), JSON_ELEM_F32, f, 1, &sh, msg, sizeof msg), -ERANGE);
    CHECK_STR(msg, "value (-1e+300) is out of float range");
    CHECK_EQ(json_flatten(json_root(d), JSON_ELEM_I64, q, 1, &sh, msg, sizeof msg), -ERANGE);
    CHECK_STR(msg, "value (-1e+300) is not an int64 integer");
    json_doc_free(d);
    d = parse("[]");
    CHECK_EQ(json_flatten(json_root(d), JSON_ELEM_F32, NULL, 0, &sh, msg, sizeof msg), 0);
    CHECK(sh.rank == 1 && sh.dim[0] == 0 && sh.count == 0);
    json_doc_free(d);
    d = parse("[[], []]");
    CHECK_EQ(json_flatten(json_root(d), JSON_ELEM_F32, NULL, 0, &sh, msg, sizeof msg), 0);
    CHECK(sh.rank == 2 && sh.dim[0] == 2 && sh.dim[1] == 0 && sh.count == 0);
    json_doc_free(d);
    d = parse("[[], [1]]");
    CHECK_EQ(json_flatten(json_root(d), JSON_ELEM_F32, f, 64, &sh, msg, sizeof msg), -EINVAL);
    CHECK_STR(msg, "row 1 has 1 element, expected 0");
    json_doc_free(d);

    /* Integers for int64: integral numbers in any spelling; exact beyond 2^53. */
    d = parse("[3, 3.0, 3e0, -9223372036854775808, 9007199254740993, -0, 1e18]");
    CHECK_EQ(json_flatten(json_root(d), JSON_ELEM_I64, q, 64, &sh, msg, sizeof msg), 0);
    CHECK(q[0] == 3 && q[1] == 3 && q[2] == 3 && q[3] == INT64_MIN);
    CHECK(q[4] == INT64_C(9007199254740993) && q[5] == 0 && q[6] == INT64_C(1000000000000000000));
    json_doc_free(d);
    d = parse("[1, 9223372036854775808]");
    CHECK_EQ(json_flatten(json_root(d), JSON_ELEM_I64, q, 64, &sh, msg, sizeof msg), -ERANGE);
    CHECK_STR(msg, "element [1] (9.223372036854776e+18) is not an int64 integer");
    json_doc_free(d);

    /* float range: FLT_MAX itself and values that round to it pass; beyond is an error. */
    d = parse("[3.4028234663852886e38, 3.4028235677973362e38, 1e-50]");
    CHECK_EQ(json_flatten(json_root(d), JSON_ELEM_F32, f, 64, &sh, msg, sizeof msg), 0);
    CHECK(f[0] == 3.4028234663852886e38f && f[1] == f[0] && f[2] == 0);
    json_doc_free(d);
    d = parse("[[0, 0], [0, -3.4028235677973366e38]]");
    CHECK_EQ(json_flatten(json_root(d), JSON_ELEM_F32, f, 64, &sh, msg, sizeof msg), -ERANGE);
    CHECK_STR(msg, "element [1][1] (-3.4028235677973366e+38) is out of float range");
    json_doc_free(d);

    /* Ragged and non-numeric input: the first problem, by position. */
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "[");
    for (int i = 0; i < 5; i++) {
        buf_puts(&b, i ? ",[" : "[");
        for (int j = 0; j < (i == 3 ? 29 : 30); j++) buf_printf(&b, "%s%d", j ? "," : "", j);
        buf_puts(&b, "]");
    }
    buf_puts(&b, "]");
    d = json_parse(b.data, b.len, NULL, err, sizeof err);
    float big[150];
    CHECK_EQ(json_shape(json_root(d), &sh, msg, sizeof msg), 0);
    CHECK(sh.rank == 2 && sh.dim[0] == 5 && sh.dim[1] == 30 && sh.count == 150);
    CHECK_EQ(json_flatten(json_root(d), JSON_ELEM_F32, big, 150, &sh, msg, sizeof msg), -EINVAL);
    CHECK_STR(msg, "row 3 has 29 elements, expected 30");
    json_doc_free(d);
    buf_deinit(&b);

    static const struct {
        const char *json, *msg;
    } bad[] = {
        {"[[1,2,3,4,5,6],[1,2,3,4,5,6],[1,2,3,4,5,\"x\"]]",
         "element [2][5] is a string, expected a number"},
        {"[[1,2],[3,[4]]]", "element [1][1] is an array, expected a number"},
        {"[[1,2],3]", "element [1] is a number, expected an array"},
        {"[[1,2],{}]", "element [1] is an object, expected an array"},
        {"[1,null]", "element [1] is null, expected a number"},
        {"[true]", "first element is a boolean, expected a number"},
        {"[[[1,2],[3,4]],[[5,6],[7]]]", "array at [1][1] has 1 element, expected 2"},
        {"[[[1,2],[3,4]],[[5,6]]]", "row 1 has 1 element, expected 2"},
        {"\"1\"", "value is a string, expected a number or an array"},
        {"{\"a\":[1]}", "value is an object, expected a number or an array"},
        {"[[[[[[[[[1]]]]]]]]]", "arrays nested deeper than 8"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        d = parse(bad[i].json);
        int rc = json_flatten(json_root(d), JSON_ELEM_F64, g, 64, NULL, msg, sizeof msg);
        bool ok = rc == -EINVAL && strcmp(msg, bad[i].msg) == 0;
        if (!ok) fprintf(stderr, "flatten <%s>: %d \"%s\"\n", bad[i].json, rc, msg);
        CHECK(ok);
        json_doc_free(d);
    }
    d = parse("[[[[[[[[1]]]]]]]]");
    CHECK_EQ(json_flatten(json_root(d), JSON_ELEM_F64, g, 64, &sh, msg, sizeof msg), 0);
    CHECK(sh.rank == 8 && sh.count == 1 && g[0] == 1);
    json_doc_free(d);
    CHECK_EQ(json_shape(NULL, &sh, msg, sizeof msg), -EINVAL);
}

/* ==== Writers ==== */

static void test_writers(void)
{
    buf_t b;
    buf_init(&b);
    static const struct {
        double v;
        const char *s;
    } dcases[] = {
        {0.1, "0.1"},
        {1.0, "1"},
        {-0.0, "-0"},
        {1e21, "1e+21"},
        {1.5e-7, "1.5e-07"},
        {1.0 / 3, "0.3333333333333333"},
        {5e-324, "5e-324"},
        {1.7976931348623157e308, "1.7976931348623157e+308"},
        {123456789012.0, "123456789012"},
    };
    for (size_t i = 0; i < sizeof dcases / sizeof dcases[0]; i++) {
        b.len = 0;
        CHECK_EQ(json_write_double(&b, dcases[i].v), 0);
        buf_append(&b, "", 1);
        CHECK_STR(b.data, dcases[i].s);
    }
    static const struct {
        float v;
        const char *s;
    } fcases[] = {
        {0.1f, "0.1"},
        {1.0f, "1"},
        {-2.5f, "-2.5"},
        {1.0f / 3, "0.33333334"},
        {16777216.0f, "16777216"},
        {3.4028235e38f, "3.4028235e+38"},
        {1e-45f, "1e-45"},
    };
    for (size_t i = 0; i < sizeof fcases / sizeof fcases[0]; i++) {
        b.len = 0;
        CHECK_EQ(json_write_float(&b, fcases[i].v), 0);
        buf_append(&b, "", 1);
        CHECK_STR(b.data, fcases[i].s);
    }
    b.len = 0;
    json_write_double(&b, NAN);
    json_write_double(&b, -INFINITY);
    json_write_float(&b, INFINITY);
    json_write_float(&b, -NAN);
    buf_append(&b, "", 1);
    CHECK_STR(b.data, "nullnullnullnull");

    /* Random bit patterns, and the output must also parse back through json_parse. */
    int dbad = 0, fbad = 0, pbad = 0;
    size_t dlen = 0, flen = 0;
    for (int i = 0; i < 100000; i++) {
        uint64_t r = next_rand();
        double v;
        memcpy(&v, &r, sizeof v);
        if (i % 2) v = (double)(r >> 11) / 9007199254740992.0 * 100.0;
        if (isfinite(v)) {
            b.len = 0;
            json_write_double(&b, v);
            dlen += b.len;
            buf_append(&b, "", 1);
            dbad += bits_d(strtod(b.data, NULL)) != bits_d(v);
            json_doc_t *d = json_parse(b.data, b.len - 1, NULL, err, sizeof err);
            pbad += !d || bits_d(json_number(json_root(d))) != bits_d(v);
            json_doc_free(d);
        }
        uint32_t r32 = (uint32_t)(r >> 17);
        float fv;
        memcpy(&fv, &r32, sizeof fv);
        if (i % 2) fv = (float)(r >> 40) / 16777216.0f;
        if (isfinite(fv)) {
            b.len = 0;
            json_write_float(&b, fv);
            flen += b.len;
            buf_append(&b, "", 1);
            fbad += bits_f(strtof(b.data, NULL)) != bits_f(fv);
            json_doc_t *d = json_parse(b.data, b.len - 1, NULL, err, sizeof err);
            pbad += !d || bits_f((float)json_number(json_root(d))) != bits_f(fv);
            json_doc_free(d);
        }
    }
    CHECK_EQ(dbad, 0);
    CHECK_EQ(fbad, 0);
    CHECK_EQ(pbad, 0);
    printf("writers: mean %.1f chars per double, %.1f per float\n", dlen / 100000.0,
           flen / 100000.0);
    buf_deinit(&b);
}

/* ==== Speed ==== */

/* Prints the time to parse and flatten a 1000x30 array of floats: not asserted, since machines
 * differ, but watched for regressions. */
static void bench(const char *label, int digits)
{
    enum { ROWS = 1000, COLS = 30, REPS = 200 };
    buf_t b;
    buf_init(&b);
    buf_puts(&b, "{\"inputs\": [{\"name\": \"x\", \"shape\": [1000, 30], \"datatype\": \"FP32\", "
                 "\"data\": [");
    for (int i = 0; i < ROWS; i++) {
        buf_puts(&b, i ? ",[" : "[");
        for (int j = 0; j < COLS; j++) {
            double v = ((double)(next_rand() >> 11) / 9007199254740992.0 - 0.5) * 10;
            if (digits == 9)
                json_write_float(&b, (float)v);
            else
                json_write_double(&b, v);
            if (j + 1 < COLS) buf_puts(&b, ",");
        }
        buf_puts(&b, "]");
    }
    buf_puts(&b, "]}]}");

    static float out[ROWS * COLS];
    double best = 1e30, total = 0, fbest = 1e30;
    for (int r = 0; r < REPS; r++) {
        double t0 = now_us();
        json_doc_t *d = json_parse(b.data, b.len, NULL, err, sizeof err);
        double t1 = now_us();
        const json_value_t *data = json_get(json_at(json_get(json_root(d), "inputs"), 0), "data");
        json_shape_t sh;
        int rc = json_flatten(data, JSON_ELEM_F32, out, ROWS * COLS, &sh, err, sizeof err);
        double t2 = now_us();
        CHECK(d != NULL && rc == 0 && sh.count == ROWS * COLS);
        json_doc_free(d);
        best = t1 - t0 < best ? t1 - t0 : best;
        fbest = t2 - t1 < fbest ? t2 - t1 : fbest;
        total += t1 - t0;
    }
    printf("parse 1000x30 %s (%zu bytes): best %.0f us, mean %.0f us (%.0f MB/s); "
           "flatten to f32 %.0f us\n",
           label, b.len, best, total / REPS, b.len / best, fbest);
    buf_deinit(&b);
}

/* The span of key in text (which must parse), compacted, or "(none)". */
static const char *member_text(const char *text, const char *key, char *out, size_t cap)
{
    json_doc_t *d = json_parse(text, strlen(text), NULL, NULL, 0);
    CHECK(d != NULL);
    json_doc_free(d);
    json_span_t sp;
    if (!json_span_member(text, strlen(text), key, &sp)) return "(none)";
    buf_t b;
    buf_init(&b);
    CHECK_EQ(json_write_compact(&b, text, sp), 0);
    snprintf(out, cap, "%.*s", (int)b.len, b.data);
    buf_deinit(&b);
    return out;
}

static void test_spans(void)
{
    char s[256];
    CHECK_STR(member_text("{\"model\":\"m\",\"features\":[1,2.5,-3e2]}", "features", s, sizeof s),
              "[1,2.5,-3e2]");
    CHECK_STR(member_text(" {\n \"features\" : [ 1 ,\t2 ] , \"x\": 1 }\n", "features", s, sizeof s),
              "[1,2]");
    /* Keys and strings with brackets, quotes and escapes inside are skipped whole. */
    CHECK_STR(member_text("{\"a\":\"]}\\\"[{\",\"b\":{\"c\":[\"x y\",{}]},\"features\":[[1],[2]]}",
                          "features", s, sizeof s),
              "[[1],[2]]");
    CHECK_STR(member_text("{\"s\": [\"a b\", \"c\\\" d\"]}", "s", s, sizeof s),
              "[\"a b\",\"c\\\" d\"]");
    CHECK_STR(member_text("{\"f\":true, \"g\":null}", "g", s, sizeof s), "null");
    /* Numbers keep their text, unless its scale is so extreme that a store may refuse it
     * (PostgreSQL's numeric holds 16383 digits after the point): then the same double in its
     * shortest text. */
    CHECK_STR(
        member_text("{\"f\":[1e-300, 0.000001, 123e2, -0.0, 5e-324, 1.5E+300]}", "f", s, sizeof s),
        "[1e-300,0.000001,123e2,-0.0,5e-324,1.5E+300]");
    CHECK_STR(
        member_text("{\"f\":[0e-20000, 7, -0E+500, 0.0e-99999999999999999999]}", "f", s, sizeof s),
        "[0,7,-0,0]");
    {
        buf_t t, c;
        buf_init(&t);
        buf_init(&c);
        buf_puts(&t, "{\"f\": [1.");
        for (int i = 0; i < 2000; i++) buf_puts(&t, "0");
        buf_puts(&t, "5, 0.");
        for (int i = 0; i < 500; i++) buf_puts(&t, "0");
        buf_puts(&t, "25e801]}");
        json_doc_t *d = json_parse(t.data, t.len, NULL, err, sizeof err);
        json_span_t sp;
        CHECK(d && json_span_member(t.data, t.len, "f", &sp));
        CHECK_EQ(json_write_compact(&c, t.data, sp), 0);
        CHECK_EQ(buf_append(&c, "", 1), 0);
        CHECK_STR(c.data, "[1,2.5e+300]");
        json_doc_free(d);
        buf_deinit(&t);
        buf_deinit(&c);
    }
    {
        /* No strings and no exponents (the common case, compacted by dropping whitespace):
         * still, a digit run too long for a store is shortened, and everything else is kept. */
        buf_t t, c, want;
        buf_init(&t);
        buf_init(&c);
        buf_init(&want);
        buf_puts(&t, "{\"f\": [ 0.");
        for (int i = 0; i < 1200; i++) buf_puts(&t, "0");
        buf_puts(&t, "1,\t2 ]}");
        json_span_t sp;
        CHECK(json_span_member(t.data, t.len, "f", &sp));
        CHECK_EQ(json_write_compact(&c, t.data, sp), 0);
        CHECK_EQ(buf_append(&c, "", 1), 0);
        CHECK_STR(c.data, "[0,2]"); /* 1e-1201 is below the smallest double */
        buf_deinit(&t);
        buf_deinit(&c);
        buf_init(&t);
        buf_init(&c);
        buf_puts(&t, "{\"f\": [");
        buf_puts(&want, "[");
        for (int i = 0; i < 100; i++) {
            buf_printf(&t, "%s -%d.%03d\n", i ? "," : "", i, i * 7);
            buf_printf(&want, "%s-%d.%03d", i ? "," : "", i, i * 7);
        }
        buf_puts(&t, "]}");
        buf_puts(&want, "]");
        CHECK(json_span_member(t.data, t.len, "f", &sp));
        CHECK_EQ(json_write_compact(&c, t.data, sp), 0);
        CHECK(c.len == want.len && memcmp(c.data, want.data, c.len) == 0);
        buf_deinit(&t);
        buf_deinit(&c);
        buf_deinit(&want);
    }
    CHECK_STR(member_text("{\"f\":1}", "features", s, sizeof s), "(none)");
    CHECK_STR(member_text("[1,2]", "features", s, sizeof s), "(none)");
    CHECK_STR(member_text("{}", "f", s, sizeof s), "(none)");
    /* Escaped keys are compared as written: they are never the key looked for, and since
     * json_parse() refuses duplicates no other member can be named the same. */
    CHECK_STR(member_text("{\"\\u0067\":1,\"f\":2}", "f", s, sizeof s), "2");
    CHECK_STR(member_text("{\"\\u0066\":1}", "f", s, sizeof s), "(none)");

    const char *text = "{\"features\": [[1, 2], [3,4] ,[ 5 ,6 ]]}";
    json_span_t f, el[4];
    CHECK(json_span_member(text, strlen(text), "features", &f));
    CHECK_EQ(json_span_elements(text, f, el, 4), 3);
    CHECK(el[0].len == 6 && memcmp(text + el[0].off, "[1, 2]", 6) == 0);
    CHECK(el[2].len == 8 && memcmp(text + el[2].off, "[ 5 ,6 ]", 8) == 0);
    CHECK_EQ(json_span_elements(text, f, el, 1), 3); /* counts past cap */
    CHECK_EQ(json_span_elements(text, el[0], el, 4), 2);
    CHECK_EQ(json_span_elements(text, (json_span_t){0, 0}, el, 4), 0);
    const char *empty = "[ ]";
    CHECK_EQ(json_span_elements(empty, (json_span_t){0, 3}, el, 4), 0);
}

/* json_unknown_key: the first key outside the list, compared whole (an embedded NUL or a prefix
 * is not the allowed key). */
static void test_unknown_key(void)
{
    static const char *const allowed[] = {"k", "user_id", NULL};
    const char *cases[][2] = {{"{\"k\":1,\"user_id\":2}", "-1"},
                              {"{\"k\":1,\"userid\":2}", "1"},
                              {"{\"user_id\\u0000x\":1}", "0"},
                              {"{\"user\":1,\"k\":2}", "0"},
                              {"[1,2]", "-1"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char msg[200];
        json_doc_t *d = json_parse(cases[i][0], strlen(cases[i][0]), NULL, msg, sizeof msg);
        CHECK(d != NULL);
        if (d) CHECK_EQ(json_unknown_key(json_root(d), allowed), atol(cases[i][1]));
        json_doc_free(d);
    }
}

/* json_opt_int and json_opt_bool: absent keeps the default, a fitting value is taken, anything
 * else (out of range, fractional, wrong type, null) is refused naming the member. */
static void test_opt_members(void)
{
    const char *text = "{\"a\":5,\"b\":2.5,\"c\":\"x\",\"d\":true,\"e\":null,\"f\":0}";
    char msg[200];
    json_doc_t *d = json_parse(text, strlen(text), NULL, msg, sizeof msg);
    CHECK(d != NULL);
    if (!d) return;
    const json_value_t *r = json_root(d);
    int64_t v = 7;
    bool b = false;
    CHECK_EQ(json_opt_int(r, "zz", NULL, 1, 10, &v, msg, sizeof msg), 0);
    CHECK_EQ(v, 7);
    CHECK_EQ(json_opt_int(r, "a", NULL, 1, 10, &v, msg, sizeof msg), 0);
    CHECK_EQ(v, 5);
    CHECK_EQ(json_opt_int(r, "a", "index.a", 6, 10, &v, msg, sizeof msg), ERR_INVALID);
    CHECK(strstr(msg, "\"index.a\" must be an integer from 6 to 10") != NULL);
    for (const char *k = "bcde"; *k; k++) {
        char key[2] = {*k, 0};
        CHECK_EQ(json_opt_int(r, key, NULL, 0, 10, &v, msg, sizeof msg), ERR_INVALID);
    }
    CHECK_EQ(v, 5);
    CHECK_EQ(json_opt_bool(r, "zz", NULL, &b, msg, sizeof msg), 0);
    CHECK(!b);
    CHECK_EQ(json_opt_bool(r, "d", NULL, &b, msg, sizeof msg), 0);
    CHECK(b);
    CHECK_EQ(json_opt_bool(r, "f", NULL, &b, msg, sizeof msg), ERR_INVALID);
    CHECK(strstr(msg, "\"f\" must be true or false") != NULL);
    CHECK_EQ(json_opt_bool(r, "e", NULL, &b, msg, sizeof msg), ERR_INVALID);
    json_doc_free(d);
}

int main(void)
{
    test_scalars();
    test_unknown_key();
    test_opt_members();
    test_containers();
    test_strings();
    test_invalid();
    test_limits();
    test_numbers();
    test_flatten();
    test_writers();
    test_spans();
    bench("floats, shortest", 9);
    bench("doubles, shortest", 17);
    return TH_DONE();
}
