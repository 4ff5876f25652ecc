/* libFuzzer target for src/http/parse.c: the request-head parser at several head limits, and the
 * chunked decoder over whatever follows a parsed head, fed whole and in data-derived pieces. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"

#include "require.h"

static bool span_in(http_span_t s, const char *lo, const char *hi)
{
    return s.p >= lo && s.n <= (size_t)(hi - s.p);
}

static void check_error(int status, const char *reason)
{
    REQUIRE(status == 400 || status == 417 || status == 431 || status == 501 || status == 505);
    REQUIRE(reason != NULL && reason[0] != '\0');
}

static void check_head(const char *buf, size_t len, size_t max_head, const http_head_t *h)
{
    const char *end = buf + h->head_len;
    REQUIRE(h->head_len <= len && h->head_len <= max_head);
    REQUIRE(h->head_len >= 4 && memcmp(end - 4, "\r\n\r\n", 4) == 0);
    REQUIRE(h->minor == 0 || h->minor == 1);
    REQUIRE(h->nheaders >= 0 && h->nheaders <= HTTP_MAX_HEADERS);
    REQUIRE(span_in(h->method_str, buf, end) && h->method_str.n > 0);
    REQUIRE(span_in(h->target, buf, end) && h->target.n > 0);
    REQUIRE(span_in(h->path, buf, end) && span_in(h->query, buf, end));
    REQUIRE(h->path.p == h->target.p && h->path.n <= h->target.n);
    REQUIRE(h->target.p[0] == '/' || (h->target.n == 1 && h->method == HTTP_OPTIONS));
    for (size_t i = 0; i < h->target.n; i++)
        REQUIRE(h->target.p[i] > 0x20 && h->target.p[i] < 0x7f);
    for (int i = 0; i < h->nheaders; i++) {
        const http_header_t *f = &h->headers[i];
        REQUIRE(span_in(f->name, buf, end) && f->name.n > 0);
        REQUIRE(span_in(f->value, buf, end));
        REQUIRE(memchr(f->value.p, '\r', f->value.n) == NULL);
        REQUIRE(memchr(f->value.p, '\n', f->value.n) == NULL);
        REQUIRE(memchr(f->value.p, '\0', f->value.n) == NULL);
        if (f->value.n) {
            REQUIRE(f->value.p[0] != ' ' && f->value.p[0] != '\t');
            REQUIRE(f->value.p[f->value.n - 1] != ' ' && f->value.p[f->value.n - 1] != '\t');
        }
    }
    REQUIRE(http_head_get(h, "") == NULL);
    REQUIRE(h->content_length >= -1);
    REQUIRE(!(h->chunked && h->content_length >= 0));
    REQUIRE(!h->chunked || h->minor == 1);
    REQUIRE(!h->expect_continue || h->minor == 1);
}

static bool same_head(const http_head_t *a, const http_head_t *b)
{
    if (a->head_len != b->head_len || a->method != b->method || a->minor != b->minor ||
        a->nheaders != b->nheaders || a->content_length != b->content_length ||
        a->chunked != b->chunked || a->keep_alive != b->keep_alive ||
        a->expect_continue != b->expect_continue || a->target.p != b->target.p ||
        a->target.n != b->target.n || a->query.p != b->query.p || a->query.n != b->query.n)
        return false;
    for (int i = 0; i < a->nheaders; i++) {
        if (a->headers[i].name.p != b->headers[i].name.p ||
            a->headers[i].name.n != b->headers[i].name.n ||
            a->headers[i].value.p != b->headers[i].value.p ||
            a->headers[i].value.n != b->headers[i].value.n)
            return false;
    }
    return true;
}

struct run {
    int rc, status;
    const char *reason;
    size_t consumed;
    buf_t out;
};

/* Piece sizes come from the input itself, so the fuzzer steers the splits too. Each is 1..16. */
static size_t piece(const uint8_t *data, size_t size, size_t k)
{
    return size ? (size_t)(data[k % size] & 15) + 1 : 1;
}

static void decode(const char *in, size_t len, const uint8_t *data, size_t size, bool whole,
                   size_t max_body, size_t max_meta, struct run *r)
{
    http_chunked_t c;
    http_chunked_init(&c);
    buf_init(&r->out);
    r->status = 0;
    r->reason = NULL;
    r->consumed = 0;
    r->rc = HTTP_PARSE_AGAIN;
    size_t k = 0;
    while (r->rc == HTTP_PARSE_AGAIN && (r->consumed < len || k == 0)) {
        size_t avail = len - r->consumed;
        size_t n = whole ? avail : piece(data, size, k);
        if (n > avail) n = avail;
        size_t used = (size_t)-1;
        r->rc = http_chunked_decode(&c, in + r->consumed, n, &used, &r->out, max_body, max_meta,
                                    &r->status, &r->reason);
        REQUIRE(used <= n);
        REQUIRE(r->out.len <= max_body);
        REQUIRE(r->rc == HTTP_PARSE_DONE || r->rc == HTTP_PARSE_AGAIN || r->rc == HTTP_PARSE_ERROR);
        if (r->rc == HTTP_PARSE_AGAIN) REQUIRE(used == n);
        r->consumed += used;
        k++;
    }
    if (r->rc == HTTP_PARSE_ERROR) {
        REQUIRE(r->status == 400 || r->status == 413 || r->status == 431 || r->status == 500);
        REQUIRE(r->reason != NULL && r->reason[0] != '\0');
    }
    if (r->rc == HTTP_PARSE_DONE) {
        /* The final CRLF is always the last thing consumed, and the decoder then stays put. */
        REQUIRE(r->consumed >= 5 && memcmp(in + r->consumed - 2, "\r\n", 2) == 0);
        size_t used = 1;
        REQUIRE(http_chunked_decode(&c, in + r->consumed, len - r->consumed, &used, &r->out,
                                    max_body, max_meta, &r->status, &r->reason) == HTTP_PARSE_DONE);
        REQUIRE(used == 0);
    }
}

static void chunked(const char *in, size_t len, const uint8_t *data, size_t size)
{
    /* A few limit pairs, tight enough that 413 and 431 are reachable with small inputs. */
    static const size_t limits[][2] = {{1 << 20, 4096}, {16, 64}, {0, 8}};
    size_t which = size ? data[size - 1] % 3 : 0;
    size_t max_body = limits[which][0], max_meta = limits[which][1];

    struct run w, p;
    decode(in, len, data, size, true, max_body, max_meta, &w);
    decode(in, len, data, size, false, max_body, max_meta, &p);
    REQUIRE(w.rc == p.rc);
    REQUIRE(w.consumed == p.consumed);
    REQUIRE(w.out.len == p.out.len);
    REQUIRE(w.out.len == 0 || memcmp(w.out.data, p.out.data, w.out.len) == 0);
    if (w.rc == HTTP_PARSE_ERROR) REQUIRE(w.status == p.status && strcmp(w.reason, p.reason) == 0);
    buf_deinit(&p.out);

    /* Byte at a time, the hardest split, on inputs small enough to keep the fuzzer fast. */
    if (len <= 512) {
        http_chunked_t c;
        http_chunked_init(&c);
        buf_init(&p.out);
        int rc = HTTP_PARSE_AGAIN, st = 0;
        const char *rs = NULL;
        size_t off = 0;
        while (rc == HTTP_PARSE_AGAIN && off < len) {
            size_t used = 0;
            rc = http_chunked_decode(&c, in + off, 1, &used, &p.out, max_body, max_meta, &st, &rs);
            REQUIRE(used <= 1);
            off += used;
        }
        REQUIRE(rc == w.rc && off == w.consumed && p.out.len == w.out.len);
        REQUIRE(w.out.len == 0 || memcmp(w.out.data, p.out.data, w.out.len) == 0);
        if (rc == HTTP_PARSE_ERROR) REQUIRE(st == w.status && strcmp(rs, w.reason) == 0);
        buf_deinit(&p.out);
    }
    buf_deinit(&w.out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t max_heads[] = {0, 24, 256, 8192};
    const char *buf = (const char *)data;
    http_head_t h, h2;
    bool parsed = false;
    size_t body_at = 0;

    for (size_t m = 0; m < sizeof(max_heads) / sizeof(max_heads[0]); m++) {
        size_t max_head = max_heads[m];
        int st = 0;
        const char *rs = NULL;
        int rc = http_parse_head(buf, size, max_head, &h, &st, &rs);
        if (rc == HTTP_PARSE_ERROR) {
            check_error(st, rs);
            continue;
        }
        if (rc == HTTP_PARSE_AGAIN) {
            /* AGAIN past the limit would let a client grow our buffer forever. */
            REQUIRE(size < max_head || size == 0);
            continue;
        }
        REQUIRE(rc == HTTP_PARSE_DONE);
        check_head(buf, size, max_head, &h);

        /* Query parameters of the parsed target: found values are NUL-terminated and fit. */
        static const char *const keys[] = {"model", "limit", "cursor", "ms", ""};
        for (int k = 0; k < 5; k++) {
            char v[24];
            memset(v, 'x', sizeof v);
            int q = http_query_get(h.query, keys[k], v, sizeof v);
            REQUIRE(q >= -1 && q <= 1);
            if (q == 1) REQUIRE(memchr(v, 0, sizeof v) != NULL);
        }

        /* Stateless: the head alone, or with more bytes after it, parses the same. */
        REQUIRE(http_parse_head(buf, h.head_len, max_head, &h2, &st, &rs) == HTTP_PARSE_DONE);
        REQUIRE(same_head(&h, &h2));
        /* A strict prefix of a valid head is never an error, only incomplete. */
        size_t cuts[3] = {h.head_len - 1, h.head_len / 2, size ? data[0] % h.head_len : 0};
        for (int i = 0; i < 3; i++)
            REQUIRE(http_parse_head(buf, cuts[i], max_head, &h2, &st, &rs) == HTTP_PARSE_AGAIN);

        parsed = true;
        body_at = h.head_len;
    }

    /* Any body after a head goes through the decoder; without a head the whole input does, so
     * the decoder is fuzzed even when the head parser rejects the input. */
    if (parsed)
        chunked(buf + body_at, size - body_at, data, size);
    else
        chunked(buf, size, data, size);
    return 0;
}
