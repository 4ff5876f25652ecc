/* libFuzzer target for src/util/json.c: parses arbitrary bytes under small limits, walks the
 * whole DOM checking invariants, writes it back out and parses that again expecting the same
 * tree, and flattens every array as each element type. Every number also goes through both float
 * writers (src/util/floatfmt.c), which must agree, and the source-span scans must find the
 * members and elements the DOM holds. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8_oracle.h"
#include "util/floatfmt.h"
#include "util/json.h"

#include "require.h"

static const json_limits_t lim = {.max_depth = 24, .max_values = 20000, .max_bytes = 1 << 20};

static bool valid_utf8(const unsigned char *s, size_t n)
{
    return oracle_first_bad_utf8(s, n) == SIZE_MAX;
}

static uint64_t bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* Checks v and everything under it, appending it as JSON to out. */
static void walk(const json_value_t *v, unsigned depth, buf_t *out)
{
    REQUIRE(depth <= lim.max_depth);
    size_t len, n = json_size(v);
    const char *s = json_string(v, &len);
    switch (json_type(v)) {
    case JSON_NULL: REQUIRE(buf_puts(out, "null") == 0); break;
    case JSON_FALSE: REQUIRE(buf_puts(out, "false") == 0); break;
    case JSON_TRUE: REQUIRE(buf_puts(out, "true") == 0); break;
    case JSON_NUMBER: {
        double d = json_number(v);
        REQUIRE(isfinite(d));
        if (json_is_integer(v)) {
            int64_t i = json_int(v);
            REQUIRE((double)i == d);
            if (i == 0 && signbit(d))
                REQUIRE(buf_puts(out, "-0") == 0);
            else
                REQUIRE(buf_printf(out, "%lld", (long long)i) == 0);
        } else {
            REQUIRE(json_write_double(out, d) == 0);
        }
        /* The float writer's integer fast path must print what glibc's search prints. */
        float f = (float)d;
        if (isfinite(f)) {
            char a[FLOATFMT_MAX + 1], b[FLOATFMT_MAX + 1];
            REQUIRE(floatfmt_shortest(a, f) == floatfmt_shortest_libc(b, f));
            REQUIRE(strcmp(a, b) == 0);
        }
        break;
    }
    case JSON_STRING:
        REQUIRE(s != NULL && s[len] == '\0');
        REQUIRE(valid_utf8((const unsigned char *)s, len));
        REQUIRE(buf_json_str(out, s, len) == 0);
        break;
    case JSON_ARRAY:
        REQUIRE(buf_puts(out, "[") == 0);
        for (size_t i = 0; i < n; i++) {
            if (i) REQUIRE(buf_puts(out, ",") == 0);
            const json_value_t *c = json_at(v, i);
            REQUIRE(c != NULL);
            walk(c, depth + 1, out);
        }
        REQUIRE(json_at(v, n) == NULL && json_value_at(v, 0) == NULL);
        REQUIRE(buf_puts(out, "]") == 0);
        break;
    case JSON_OBJECT:
        REQUIRE(buf_puts(out, "{") == 0);
        for (size_t i = 0; i < n; i++) {
            if (i) REQUIRE(buf_puts(out, ",") == 0);
            size_t klen;
            const char *k = json_key_at(v, i, &klen);
            REQUIRE(k != NULL && k[klen] == '\0' && valid_utf8((const unsigned char *)k, klen));
            /* Keys are unique (duplicates are refused), so lookup finds this very member. */
            REQUIRE(json_getn(v, k, klen) == json_value_at(v, i));
            REQUIRE(buf_json_str(out, k, klen) == 0 && buf_puts(out, ":") == 0);
            walk(json_value_at(v, i), depth + 1, out);
        }
        REQUIRE(json_key_at(v, n, NULL) == NULL && json_at(v, 0) == NULL);
        REQUIRE(buf_puts(out, "}") == 0);
        break;
    default: REQUIRE(!"bad type");
    }
    if (json_type(v) != JSON_STRING) REQUIRE(s == NULL && len == 0);
    if (json_type(v) != JSON_NUMBER) REQUIRE(isnan(json_number(v)) && json_int(v) == 0);
}

/* The same tree, numbers compared bit for bit. */
static void same(const json_value_t *a, const json_value_t *b)
{
    REQUIRE(json_type(a) == json_type(b) && json_size(a) == json_size(b));
    size_t la, lb;
    const char *sa = json_string(a, &la), *sb = json_string(b, &lb);
    REQUIRE(la == lb && (la == 0 || memcmp(sa, sb, la) == 0));
    if (json_type(a) == JSON_NUMBER) {
        REQUIRE(bits(json_number(a)) == bits(json_number(b)));
        REQUIRE(json_int(a) == json_int(b));
    }
    for (size_t i = 0; i < json_size(a); i++) {
        if (json_type(a) == JSON_ARRAY) {
            same(json_at(a, i), json_at(b, i));
        } else {
            sa = json_key_at(a, i, &la);
            sb = json_key_at(b, i, &lb);
            REQUIRE(la == lb && memcmp(sa, sb, la) == 0);
            same(json_value_at(a, i), json_value_at(b, i));
        }
    }
}

/* Element k (row-major) of a rectangular array of the given shape. */
static const json_value_t *element(const json_value_t *v, const json_shape_t *sh, size_t k)
{
    size_t idx[JSON_MAX_RANK];
    for (unsigned d = sh->rank; d-- > 0;) {
        idx[d] = k % sh->dim[d];
        k /= sh->dim[d];
    }
    for (unsigned d = 0; d < sh->rank; d++) v = json_at(v, idx[d]);
    return v;
}

static void flatten(const json_value_t *v)
{
    static double f64[4096];
    static float f32[4096];
    static int64_t i64[4096];
    char err[200];
    json_shape_t sh, sh2;
    int rc = json_shape(v, &sh, err, sizeof err);
    if (rc) {
        REQUIRE(rc == -EINVAL && err[0]);
        REQUIRE(json_flatten(v, JSON_ELEM_F64, f64, 4096, NULL, err, sizeof err) == -EINVAL);
        return;
    }
    REQUIRE(sh.rank <= JSON_MAX_RANK);
    size_t cap = sh.count > 4096 ? 4096 : sh.count;
    rc = json_flatten(v, JSON_ELEM_F64, f64, cap, &sh2, err, sizeof err);
    REQUIRE(memcmp(&sh, &sh2, sizeof sh) == 0);
    if (sh.count > cap) {
        REQUIRE(rc == -ENOSPC);
        return;
    }
    REQUIRE(rc == 0 || rc == -EINVAL);
    REQUIRE(rc == 0 || err[0]);
    int rc32 = json_flatten(v, JSON_ELEM_F32, f32, cap, NULL, err, sizeof err);
    int rc64 = json_flatten(v, JSON_ELEM_I64, i64, cap, NULL, err, sizeof err);
    if (rc) return;
    REQUIRE(rc32 == 0 || rc32 == -ERANGE);
    REQUIRE(rc64 == 0 || rc64 == -ERANGE);
    for (size_t k = 0; k < sh.count; k++) {
        const json_value_t *e = element(v, &sh, k);
        REQUIRE(json_type(e) == JSON_NUMBER && bits(json_number(e)) == bits(f64[k]));
        if (rc32 == 0) REQUIRE((float)f64[k] == f32[k]);
        if (rc64 == 0) REQUIRE(json_is_integer(e) ? json_int(e) == i64[k] : f64[k] == i64[k]);
    }
}

static void flatten_all(const json_value_t *v)
{
    if (json_type(v) == JSON_ARRAY) flatten(v);
    for (size_t i = 0; i < json_size(v); i++)
        flatten_all(json_type(v) == JSON_ARRAY ? json_at(v, i) : json_value_at(v, i));
}

/* Parses text[span] (after compacting it) and requires the tree v. */
static void span_is(const char *text, json_span_t span, const json_value_t *v)
{
    buf_t c;
    buf_init(&c);
    REQUIRE(json_write_compact(&c, text, span) == 0);
    REQUIRE(c.len <= span.len);
    json_doc_t *d = json_parse(c.data, c.len, &lim, NULL, 0);
    REQUIRE(d != NULL);
    same(json_root(d), v);
    json_doc_free(d);
    buf_deinit(&c);
}

/* The source-span scans against the DOM: every member they find, and every element of an array
 * member, must be the value json_get() and json_at() give. */
static void spans(const char *text, size_t len, const json_value_t *root)
{
    span_is(text, (json_span_t){0, len}, root);
    if (json_type(root) != JSON_OBJECT) {
        json_span_t sp;
        REQUIRE(!json_span_member(text, len, "a", &sp));
        return;
    }
    for (size_t i = 0; i < json_size(root) && i < 8; i++) {
        size_t klen;
        const char *k = json_key_at(root, i, &klen);
        json_span_t sp;
        if (strlen(k) != klen || !json_span_member(text, len, k, &sp)) continue;
        const json_value_t *v = json_get(root, k);
        span_is(text, sp, v);
        json_span_t el[16];
        size_t n = json_span_elements(text, sp, el, 16);
        REQUIRE(n == (json_type(v) == JSON_ARRAY ? json_size(v) : 0));
        for (size_t j = 0; j < n && j < 16; j++) span_is(text, el[j], json_at(v, j));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    json_doc_t *d = json_parse((const char *)data, size, &lim, err, sizeof err);
    if (!d) {
        REQUIRE(err[0] != '\0');
        REQUIRE(size > lim.max_bytes || strstr(err, " at line ") != NULL);
        return 0;
    }
    buf_t out;
    buf_init(&out);
    walk(json_root(d), 0, &out);
    flatten_all(json_root(d));
    spans((const char *)data, size, json_root(d));

    /* What we wrote must parse to the same tree, under the same limits but for length: escaping
     * can make a string longer. */
    json_limits_t lim2 = lim;
    lim2.max_bytes = (size_t)1 << 30;
    json_doc_t *d2 = json_parse(out.data, out.len, &lim2, err, sizeof err);
    if (!d2) fprintf(stderr, "reparse failed: %s\n%.*s\n", err, (int)out.len, out.data);
    REQUIRE(d2 != NULL);
    same(json_root(d), json_root(d2));
    json_doc_free(d2);
    buf_deinit(&out);
    json_doc_free(d);
    return 0;
}
