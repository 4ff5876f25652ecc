/* Unit tests for src/http/parse.c: the HTTP/1.1 request-head parser and the chunked decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/parse.h"
#include "th.h"

#define MAXH   8192
#define LIT(s) (s), (sizeof(s) - 1)

/* Where the current case comes from: failures inside the helpers would otherwise all point at the
 * helper's own lines. */
static int at_line;

static void where(void)
{
    fprintf(stderr, "  (case at line %d)\n", at_line);
}

static int parse_n(const char *s, size_t n, size_t max_head, http_head_t *h, int *st,
                   const char **rs)
{
    *st = 0;
    *rs = NULL;
    return http_parse_head(s, n, max_head, h, st, rs);
}

/* Parses a request that must be complete and valid, returning the head for further checks. */
static bool good_n(const char *s, size_t n, http_head_t *h, int line)
{
    int st;
    const char *rs;
    at_line = line;
    int rc = parse_n(s, n, MAXH, h, &st, &rs);
    CHECK_EQ(rc, HTTP_PARSE_DONE);
    if (rc != HTTP_PARSE_DONE) {
        where();
        fprintf(stderr, "  status %d: %s\n", st, rs ? rs : "(null)");
        return false;
    }
    return true;
}
#define GOOD(lit, h) good_n(LIT(lit), (h), __LINE__)

/* Parses a request that must fail with `want`; `why`, when given, must be the reason. */
static void bad_n(const char *s, size_t n, size_t max_head, int want, const char *why, int line)
{
    http_head_t h;
    int st;
    const char *rs;
    at_line = line;
    int rc = parse_n(s, n, max_head, &h, &st, &rs);
    int failed_before = th_failed;
    CHECK_EQ(rc, HTTP_PARSE_ERROR);
    CHECK_EQ(st, want);
    CHECK(rs != NULL && rs[0] != '\0');
    if (why) CHECK_STR(rs, why);
    if (th_failed != failed_before) where();
}
#define BAD(lit, want)       bad_n(LIT(lit), MAXH, (want), NULL, __LINE__)
#define BADR(lit, want, why) bad_n(LIT(lit), MAXH, (want), (why), __LINE__)

/* Every strict prefix of a valid head must ask for more bytes, never fail. */
static void prefixes_again_n(const char *s, size_t n, int line)
{
    http_head_t h;
    int st;
    const char *rs;
    at_line = line;
    int failed_before = th_failed;
    for (size_t k = 0; k < n; k++) {
        int rc = parse_n(s, k, MAXH, &h, &st, &rs);
        if (rc != HTTP_PARSE_AGAIN) {
            CHECK_EQ(rc, HTTP_PARSE_AGAIN);
            fprintf(stderr, "  prefix of %zu bytes: status %d %s\n", k, st, rs ? rs : "");
            break;
        }
    }
    CHECK_EQ(parse_n(s, n, MAXH, &h, &st, &rs), HTTP_PARSE_DONE);
    CHECK_EQ(h.head_len, n);
    if (th_failed != failed_before) where();
}
#define PREFIXES(lit) prefixes_again_n(LIT(lit), __LINE__)

static void test_get(void)
{
    http_head_t h;
    const char req[] = "GET /v1/models HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\n\r\n";
    if (!GOOD(req, &h)) return;
    CHECK_EQ(h.method, HTTP_GET);
    CHECK_SPAN(h.method_str, "GET");
    CHECK_SPAN(h.target, "/v1/models");
    CHECK_SPAN(h.path, "/v1/models");
    CHECK_EQ(h.query.n, 0);
    CHECK_EQ(h.minor, 1);
    CHECK_EQ(h.nheaders, 2);
    CHECK_SPAN(h.headers[0].name, "Host");
    CHECK_SPAN(h.headers[0].value, "example.com");
    CHECK_SPAN(h.headers[1].name, "User-Agent");
    CHECK_SPAN(h.headers[1].value, "t/1");
    CHECK_EQ(h.head_len, sizeof(req) - 1);
    CHECK_EQ(h.content_length, -1);
    CHECK(!h.chunked);
    CHECK(h.keep_alive);
    CHECK(!h.expect_continue);
    /* Spans point into the caller's buffer; nothing is copied. */
    CHECK(h.target.p == req + 4);
}

static void test_head_and_methods(void)
{
    http_head_t h;
    if (GOOD("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n", &h)) {
        CHECK_EQ(h.method, HTTP_HEAD);
        CHECK_SPAN(h.path, "/");
    }
    if (GOOD("PUT /x HTTP/1.1\r\nHost: a\r\n\r\n", &h)) CHECK_EQ(h.method, HTTP_PUT);
    if (GOOD("DELETE /x HTTP/1.1\r\nHost: a\r\n\r\n", &h)) CHECK_EQ(h.method, HTTP_DELETE);
    if (GOOD("PATCH /x HTTP/1.1\r\nHost: a\r\n\r\n", &h)) CHECK_EQ(h.method, HTTP_PATCH);
    if (GOOD("OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n", &h)) CHECK_EQ(h.method, HTTP_OPTIONS);
    if (GOOD("POST /x HTTP/1.1\r\nHost: a\r\n\r\n", &h)) CHECK_EQ(h.method, HTTP_POST);
    /* Any other token is a valid method we just do not route; matching is case-sensitive. */
    if (GOOD("TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", &h)) {
        CHECK_EQ(h.method, HTTP_OTHER);
        CHECK_SPAN(h.method_str, "TRACE");
    }
    if (GOOD("get / HTTP/1.1\r\nHost: a\r\n\r\n", &h)) CHECK_EQ(h.method, HTTP_OTHER);
    if (GOOD("M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n", &h)) CHECK_EQ(h.method, HTTP_OTHER);
    if (GOOD("GETS / HTTP/1.1\r\nHost: a\r\n\r\n", &h)) CHECK_EQ(h.method, HTTP_OTHER);
    if (GOOD("!#$%&'*+-.^_`|~09azAZ / HTTP/1.1\r\nHost: a\r\n\r\n", &h))
        CHECK_EQ(h.method, HTTP_OTHER);
}

static void test_post_body(void)
{
    http_head_t h;
    const char head[] = "POST /v1/infer HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\n"
                        "Content-Type: application/json\r\n\r\n";
    const char req[] = "POST /v1/infer HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\n"
                       "Content-Type: application/json\r\n\r\n{\"x\": [1, 2]}";
    if (!GOOD(req, &h)) return;
    CHECK_EQ(h.method, HTTP_POST);
    CHECK_EQ(h.content_length, 13);
    CHECK_EQ(h.head_len, sizeof(head) - 1);
    CHECK(memcmp(req + h.head_len, "{\"x\": [1, 2]}", 13) == 0);
    CHECK(!h.chunked);

    if (GOOD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &h))
        CHECK_EQ(h.content_length, 0);
    if (GOOD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n", &h))
        CHECK_EQ(h.content_length, 7);
    if (GOOD("POST / HTTP/1.1\r\nHost: a\r\ncontent-length:   42  \r\n\r\n", &h))
        CHECK_EQ(h.content_length, 42);
    if (GOOD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4611686018427387904\r\n\r\n", &h))
        CHECK_EQ(h.content_length, (int64_t)1 << 62);
}

static void test_query(void)
{
    http_head_t h;
    if (GOOD("GET /a/b?x=1&y=2 HTTP/1.1\r\nHost: a\r\n\r\n", &h)) {
        CHECK_SPAN(h.target, "/a/b?x=1&y=2");
        CHECK_SPAN(h.path, "/a/b");
        CHECK_SPAN(h.query, "x=1&y=2");
    }
    if (GOOD("GET /p? HTTP/1.1\r\nHost: a\r\n\r\n", &h)) {
        CHECK_SPAN(h.path, "/p");
        CHECK_EQ(h.query.n, 0);
    }
    if (GOOD("GET /?a?b=%20 HTTP/1.1\r\nHost: a\r\n\r\n", &h)) {
        CHECK_SPAN(h.path, "/");
        CHECK_SPAN(h.query, "a?b=%20");
    }
    if (GOOD("GET /%7Euser/x.json HTTP/1.1\r\nHost: a\r\n\r\n", &h)) {
        CHECK_SPAN(h.path, "/%7Euser/x.json"); /* not decoded */
        CHECK_EQ(h.query.n, 0);
    }
    if (GOOD("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &h)) {
        CHECK_SPAN(h.target, "*");
        CHECK_SPAN(h.path, "*");
        CHECK_EQ(h.query.n, 0);
    }
    BAD("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    BAD("OPTIONS *x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    BAD("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    BAD("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    BAD("GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void test_http10_and_connection(void)
{
    http_head_t h;
    /* HTTP/1.0 needs no Host and closes unless asked otherwise. */
    if (GOOD("GET / HTTP/1.0\r\n\r\n", &h)) {
        CHECK_EQ(h.minor, 0);
        CHECK(!h.keep_alive);
        CHECK_EQ(h.nheaders, 0);
        CHECK_EQ(h.head_len, 18);
    }
    if (GOOD("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &h)) CHECK(h.keep_alive);
    if (GOOD("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &h)) CHECK(h.keep_alive);
    if (GOOD("GET / HTTP/1.0\r\nConnection: foo , keep-alive\r\n\r\n", &h)) CHECK(h.keep_alive);
    if (GOOD("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &h)) CHECK(!h.keep_alive);
    if (GOOD("GET / HTTP/1.0\r\nConnection: keep-alives\r\n\r\n", &h)) CHECK(!h.keep_alive);
    if (GOOD("GET / HTTP/1.0\r\nHost: a\r\n\r\n", &h)) CHECK(!h.keep_alive);

    if (GOOD("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &h)) CHECK(!h.keep_alive);
    if (GOOD("GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", &h)) CHECK(!h.keep_alive);
    if (GOOD("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade,close\r\n\r\n", &h))
        CHECK(!h.keep_alive);
    if (GOOD("GET / HTTP/1.1\r\nHost: a\r\nConnection: ,, close ,\r\n\r\n", &h))
        CHECK(!h.keep_alive);
    if (GOOD("GET / HTTP/1.1\r\nHost: a\r\nConnection: te\r\nConnection: close\r\n\r\n", &h))
        CHECK(!h.keep_alive);
    if (GOOD("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", &h)) CHECK(h.keep_alive);
    if (GOOD("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", &h))
        CHECK(h.keep_alive);
    if (GOOD("GET / HTTP/1.1\r\nHost: a\r\nConnection:\r\n\r\n", &h)) CHECK(h.keep_alive);
}

static void test_lookup_and_ows(void)
{
    http_head_t h;
    const char req[] = "GET / HTTP/1.1\r\nHost: a\r\ncontent-TYPE: text/plain\r\n"
                       "X-Pad: \t v a l \t \r\nX-Empty:\r\nX-Blank:  \t \r\nX-Tight:v\r\n"
                       "X-Dup: one\r\nx-dup: two\r\nX-Obs: caf\xc3\xa9\r\nX-Tab: a\tb\r\n\r\n";
    if (!GOOD(req, &h)) return;
    CHECK_EQ(h.nheaders, 10);
    const http_span_t *v = http_head_get(&h, "Content-Type");
    CHECK(v != NULL);
    if (v) CHECK_SPAN(*v, "text/plain");
    v = http_head_get(&h, "CONTENT-type");
    CHECK(v != NULL);
    CHECK(http_head_get(&h, "Content-Typ") == NULL);
    CHECK(http_head_get(&h, "Content-Types") == NULL);
    CHECK(http_head_get(&h, "Accept") == NULL);
    CHECK(http_head_get(&h, "") == NULL);
    v = http_head_get(&h, "x-pad");
    if (v) CHECK_SPAN(*v, "v a l");
    CHECK(v != NULL);
    v = http_head_get(&h, "x-empty");
    CHECK(v != NULL && v->n == 0);
    v = http_head_get(&h, "x-blank");
    CHECK(v != NULL && v->n == 0);
    v = http_head_get(&h, "x-tight");
    if (v) CHECK_SPAN(*v, "v");
    CHECK(v != NULL);
    v = http_head_get(&h, "X-DUP");
    if (v) CHECK_SPAN(*v, "one"); /* the first one wins */
    CHECK(v != NULL);
    v = http_head_get(&h, "x-obs");
    if (v) CHECK_SPAN(*v, "caf\xc3\xa9");
    CHECK(v != NULL);
    v = http_head_get(&h, "x-tab");
    if (v) CHECK_SPAN(*v, "a\tb");
    CHECK(v != NULL);
    CHECK_SPAN(h.headers[1].name, "content-TYPE"); /* names kept as sent */
}

static void test_span_ieq(void)
{
    http_span_t s = {"Content-Length", 14};
    CHECK(http_span_ieq(s, "content-length"));
    CHECK(http_span_ieq(s, "CONTENT-LENGTH"));
    CHECK(!http_span_ieq(s, "content-lengt"));
    CHECK(!http_span_ieq(s, "content-lengthx"));
    CHECK(!http_span_ieq(s, "content_length"));
    CHECK(!http_span_ieq(s, ""));
    http_span_t e = {"", 0};
    CHECK(http_span_ieq(e, ""));
    CHECK(!http_span_ieq(e, "a"));
    /* Only ASCII letters fold: '@' (0x40) and '`' (0x60) differ by the case bit but are not
     * letters, nor are bytes >= 0x80. */
    http_span_t at = {"@", 1};
    CHECK(!http_span_ieq(at, "`"));
    http_span_t hi = {"\xc9", 1};
    CHECK(!http_span_ieq(hi, "\xe9"));
    http_span_t part = {"closed", 5};
    CHECK(http_span_ieq(part, "CLOSE"));
}

static void test_pipelined(void)
{
    http_head_t h;
    int st;
    const char *rs;
    const char first[] = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n";
    const char both[] = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
                        "GET /two?q HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
    CHECK_EQ(parse_n(both, sizeof(both) - 1, MAXH, &h, &st, &rs), HTTP_PARSE_DONE);
    CHECK_EQ(h.head_len, sizeof(first) - 1);
    CHECK_SPAN(h.path, "/one");
    CHECK(h.keep_alive);
    size_t off = h.head_len;
    CHECK_EQ(parse_n(both + off, sizeof(both) - 1 - off, MAXH, &h, &st, &rs), HTTP_PARSE_DONE);
    CHECK_EQ(h.head_len, sizeof(both) - 1 - off);
    CHECK_SPAN(h.path, "/two");
    CHECK_SPAN(h.query, "q");
    CHECK_SPAN(*http_head_get(&h, "host"), "b");
    CHECK(!h.keep_alive);

    /* A body sits between the heads: the caller skips head_len + Content-Length. */
    const char post[] = "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
                        "GET /g HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK_EQ(parse_n(post, sizeof(post) - 1, MAXH, &h, &st, &rs), HTTP_PARSE_DONE);
    CHECK_EQ(h.content_length, 5);
    off = h.head_len + (size_t)h.content_length;
    CHECK_EQ(parse_n(post + off, sizeof(post) - 1 - off, MAXH, &h, &st, &rs), HTTP_PARSE_DONE);
    CHECK_SPAN(h.path, "/g");

    /* A complete head is found even when the buffer runs past max_head. */
    char big[300];
    memset(big, 'x', sizeof(big));
    memcpy(big, first, sizeof(first) - 1);
    CHECK_EQ(parse_n(big, sizeof(big), 64, &h, &st, &rs), HTTP_PARSE_DONE);
    CHECK_EQ(h.head_len, sizeof(first) - 1);
}

static void test_leading_empty_lines(void)
{
    http_head_t h;
    const char req[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    if (GOOD(req, &h)) {
        CHECK_EQ(h.head_len, sizeof(req) - 1);
        CHECK_SPAN(h.method_str, "GET");
        CHECK(h.method_str.p == req + 4);
    }
    PREFIXES("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    BAD("\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    BAD("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    BAD("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
}

static void test_incremental(void)
{
    PREFIXES("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    PREFIXES("GET / HTTP/1.0\r\n\r\n");
    PREFIXES("POST /v1/infer?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 10\r\n"
             "Expect: 100-continue\r\nConnection: keep-alive\r\nX-Empty:\r\nX-Obs: \xff\r\n\r\n");
    PREFIXES("PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    PREFIXES("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");

    /* The same holds when the buffer already holds the start of a body. */
    http_head_t h;
    int st;
    const char *rs;
    const char req[] = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
    CHECK_EQ(parse_n(req, sizeof(req) - 5, MAXH, &h, &st, &rs), HTTP_PARSE_AGAIN);
    CHECK_EQ(parse_n(req, sizeof(req) - 4, MAXH, &h, &st, &rs), HTTP_PARSE_DONE);
    CHECK_EQ(parse_n(req, sizeof(req) - 1, MAXH, &h, &st, &rs), HTTP_PARSE_DONE);
    CHECK_EQ(h.head_len, sizeof(req) - 4);
    CHECK_EQ(parse_n("", 0, MAXH, &h, &st, &rs), HTTP_PARSE_AGAIN);
}

static void test_early_errors(void)
{
    http_head_t h;
    int st;
    const char *rs;
    /* Garbage is refused before a full head arrives. */
    CHECK_EQ(parse_n(LIT("\x16\x03\x01\x02"), MAXH, &h, &st, &rs), HTTP_PARSE_ERROR);
    CHECK_EQ(st, 400);
    CHECK_EQ(parse_n(LIT("G(T"), MAXH, &h, &st, &rs), HTTP_PARSE_ERROR);
    CHECK_EQ(st, 400);
    CHECK_EQ(parse_n(LIT(" GET"), MAXH, &h, &st, &rs), HTTP_PARSE_ERROR);
    CHECK_EQ(parse_n(LIT("GET / HTTP/1.1\n"), MAXH, &h, &st, &rs), HTTP_PARSE_ERROR);
    CHECK_STR(rs, "bare LF in request head");
    CHECK_EQ(parse_n(LIT("GET / HTTP/1.1\r\nHost: a\rX"), MAXH, &h, &st, &rs), HTTP_PARSE_ERROR);
    CHECK_STR(rs, "bare CR in request head");
    /* A trailing CR may still become a CRLF. */
    CHECK_EQ(parse_n(LIT("GET / HTTP/1.1\r"), MAXH, &h, &st, &rs), HTTP_PARSE_AGAIN);
    CHECK_EQ(parse_n(LIT("\r"), MAXH, &h, &st, &rs), HTTP_PARSE_AGAIN);
    CHECK_EQ(parse_n(LIT("GET"), MAXH, &h, &st, &rs), HTTP_PARSE_AGAIN);
}

static void test_request_line_errors(void)
{
    BADR("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid character in method");
    BAD("GE\x01T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    BAD("GE\x7fT / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    BAD("G\xc3\xa9T / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    BAD(" / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    BAD("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    /* missing SP */
    BAD("GET/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    BADR("GET /HTTP/1.1\r\nHost: a\r\n\r\n", 400, "missing HTTP version");
    BAD("GET / \r\nHost: a\r\n\r\n", 400);
    BAD("GET\r\nHost: a\r\n\r\n", 400);
    BAD("GET \r\nHost: a\r\n\r\n", 400);
    /* double SP */
    BADR("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "extra whitespace in request line");
    BADR("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400, "extra whitespace in request line");
    BAD("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\t\r\nHost: a\r\n\r\n", 400);
    /* versions */
    BADR("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "HTTP version not supported");
    BAD("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505);
    BAD("GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505);
    BAD("GET / HTTP/3.0\r\nHost: a\r\n\r\n", 505);
    BAD("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
    BADR("GET / http/1.1\r\nHost: a\r\n\r\n", 400, "malformed HTTP version");
    BAD("GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400);
    BAD("GET / HTTP/1\r\nHost: a\r\n\r\n", 400);
    BAD("GET / HTTP/11.1\r\nHost: a\r\n\r\n", 400);
    BAD("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400);
    BAD("GET / HTTPS/1.1\r\nHost: a\r\n\r\n", 400);
    BAD("GET / HTTP/1,1\r\nHost: a\r\n\r\n", 400);
    BAD("GET / HTTP 1.1\r\nHost: a\r\n\r\n", 400);
    BAD("GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400);
    /* request-target bytes */
    BADR("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid character in request target");
    BAD("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    BAD("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    BAD("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    BAD("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    /* line endings */
    BADR("GET / HTTP/1.1\nHost: a\r\n\r\n", 400, "bare LF in request head");
    BADR("GET / HTTP/1.1\rHost: a\r\n\r\n", 400, "bare CR in request head");
    BAD("GET /a\rb HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\n\n", 400);
}

static void test_header_errors(void)
{
    BAD("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\nHost: a\r\nX: b\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\n", 400);
    BADR("GET / HTTP/1.1\r\nHost: a\r\nX: b\rc\r\n\r\n", 400, "bare CR in request head");
    BAD("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\nHo\rst: a\r\n\r\n", 400);
    /* NUL and other control bytes */
    BADR("GET / HTTP/1.1\r\nHo\0st: a\r\n\r\n", 400, "invalid character in header name");
    BADR("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400, "invalid character in header value");
    BAD("GET / HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\x1f\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\nHost: a\r\nX: \x0b\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\nHost: a\r\nX\x01: a\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\nHost: a\r\nX(Y: a\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: a\r\n\r\n", 400);
    /* name/colon syntax */
    BADR("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "whitespace before colon in header field");
    BAD("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 400);
    BADR("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400, "empty header name");
    BADR("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400, "missing colon in header field");
    BAD("GET / HTTP/1.1\r\nHost: a\r\nNo colon\r\n\r\n", 400);
    /* obs-fold, and whitespace before the first field */
    BADR("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", 400, "obsolete line folding");
    BAD("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n", 400);
    BAD("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400);
    /* A syntax error is reported even after a semantically bad field. */
    BAD("GET / HTTP/1.1\r\nHost: a\r\nExpect: nope\r\nX : y\r\n\r\n", 400);
}

static void test_limits(void)
{
    http_head_t h;
    int st;
    const char *rs;
    char buf[4096];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int i = 1; i < HTTP_MAX_HEADERS; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: v\r\n", i);
    size_t n64 = n;
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
    CHECK_EQ(parse_n(buf, n, MAXH, &h, &st, &rs), HTTP_PARSE_DONE);
    CHECK_EQ(h.nheaders, HTTP_MAX_HEADERS);
    CHECK_SPAN(h.headers[HTTP_MAX_HEADERS - 1].name, "X-63");

    n = n64 + (size_t)snprintf(buf + n64, sizeof(buf) - n64, "X-64: v\r\n\r\n");
    CHECK_EQ(parse_n(buf, n, MAXH, &h, &st, &rs), HTTP_PARSE_ERROR);
    CHECK_EQ(st, 431);
    CHECK_STR(rs, "too many header fields");

    /* Head over max_head, terminator present... */
    const char req[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Long: 0123456789\r\n\r\n";
    size_t rn = sizeof(req) - 1;
    bad_n(req, rn, rn - 1, 431, "header section too large", __LINE__);
    bad_n(req, rn, 16, 431, NULL, __LINE__);
    CHECK_EQ(parse_n(req, rn, rn, &h, &st, &rs), HTTP_PARSE_DONE);
    /* ...and absent: refused as soon as the buffer reaches max_head. */
    CHECK_EQ(parse_n(req, rn - 2, rn - 2, &h, &st, &rs), HTTP_PARSE_ERROR);
    CHECK_EQ(st, 431);
    CHECK_EQ(parse_n(req, rn - 2, rn - 1, &h, &st, &rs), HTTP_PARSE_AGAIN);
    CHECK_EQ(parse_n(req, rn - 1, rn - 1, &h, &st, &rs), HTTP_PARSE_ERROR);
    CHECK_EQ(st, 431);
    memset(buf, 'a', sizeof(buf));
    memcpy(buf, "GET /", 5);
    CHECK_EQ(parse_n(buf, sizeof(buf), 1024, &h, &st, &rs), HTTP_PARSE_ERROR);
    CHECK_EQ(st, 431);
    CHECK_EQ(parse_n(buf, 1000, 1024, &h, &st, &rs), HTTP_PARSE_AGAIN);
    /* The terminator just past max_head does not count. */
    CHECK_EQ(parse_n(req, rn, rn - 1, &h, &st, &rs), HTTP_PARSE_ERROR);
    CHECK_EQ(st, 431);
}

static void test_framing(void)
{
    http_head_t h;
    if (GOOD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &h)) {
        CHECK(h.chunked);
        CHECK_EQ(h.content_length, -1);
    }
    if (GOOD("POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding:  Chunked \r\n\r\n", &h))
        CHECK(h.chunked);
    BADR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
         400, "both Content-Length and Transfer-Encoding");
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        400);
    BADR("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
         "unsupported transfer coding");
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 501);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", 501);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", 501);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
        501);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
        "Transfer-Encoding: chunked\r\n\r\n",
        501);
    BADR("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
         "Transfer-Encoding in HTTP/1.0 request");

    /* Content-Length syntax */
    BADR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400,
         "malformed Content-Length");
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5 5\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1.0\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4611686018427387905\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551621\r\n\r\n", 400);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999999999\r\n\r\n", 400);
    BADR("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400,
         "conflicting Content-Length headers");
    if (GOOD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", &h))
        CHECK_EQ(h.content_length, 5);
    if (GOOD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 05\r\n\r\n", &h))
        CHECK_EQ(h.content_length, 5);
}

static void test_host(void)
{
    http_head_t h;
    BADR("GET / HTTP/1.1\r\n\r\n", 400, "missing Host header");
    BAD("GET / HTTP/1.1\r\nX-Host: a\r\n\r\n", 400);
    BADR("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, "duplicate Host header");
    BAD("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400);
    BAD("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    if (GOOD("GET / HTTP/1.1\r\nHOST: a:80\r\n\r\n", &h))
        CHECK_SPAN(*http_head_get(&h, "Host"), "a:80");
    GOOD("GET / HTTP/1.1\r\nHost:\r\n\r\n", &h);
}

static void test_expect(void)
{
    http_head_t h;
    if (GOOD("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n", &h))
        CHECK(h.expect_continue);
    if (GOOD("POST / HTTP/1.1\r\nHost: a\r\nExpect:  100-Continue \r\n\r\n", &h))
        CHECK(h.expect_continue);
    /* RFC 9110 10.1.1: ignored in HTTP/1.0 requests. */
    if (GOOD("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n", &h)) CHECK(!h.expect_continue);
    BADR("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417, "unsupported expectation");
    BAD("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, foo\r\n\r\n", 417);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n", 417);
    BAD("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nExpect: x\r\n\r\n", 417);
}

/* ---- chunked ---- */

#define BIG ((size_t)1 << 20)

struct dec {
    int rc, status;
    const char *reason;
    size_t consumed;
    buf_t out;
};

static void dec_whole(const char *in, size_t n, size_t max_body, size_t max_meta, struct dec *d)
{
    http_chunked_t c;
    http_chunked_init(&c);
    buf_init(&d->out);
    d->status = 0;
    d->reason = NULL;
    d->rc = http_chunked_decode(&c, in, n, &d->consumed, &d->out, max_body, max_meta, &d->status,
                                &d->reason);
}

/* Feeds `step` bytes at a time, as a slow or hostile client would. */
static void dec_pieces(const char *in, size_t n, size_t step, size_t max_body, size_t max_meta,
                       struct dec *d)
{
    http_chunked_t c;
    http_chunked_init(&c);
    buf_init(&d->out);
    d->status = 0;
    d->reason = NULL;
    d->consumed = 0;
    d->rc = HTTP_PARSE_AGAIN;
    size_t off = 0;
    while (off < n && d->rc == HTTP_PARSE_AGAIN) {
        size_t k = n - off < step ? n - off : step, used = 0;
        d->rc = http_chunked_decode(&c, in + off, k, &used, &d->out, max_body, max_meta, &d->status,
                                    &d->reason);
        CHECK(used <= k);
        if (d->rc == HTTP_PARSE_AGAIN) CHECK_EQ(used, k);
        off += used;
    }
    d->consumed = off;
}

static bool same(const struct dec *a, const struct dec *b)
{
    if (a->rc != b->rc || a->consumed != b->consumed || a->out.len != b->out.len) return false;
    if (a->out.len && memcmp(a->out.data, b->out.data, a->out.len) != 0) return false;
    if (a->rc == HTTP_PARSE_ERROR)
        return a->status == b->status && a->reason && b->reason &&
               strcmp(a->reason, b->reason) == 0;
    return true;
}

/* Decodes whole, one byte at a time, and split at every single point; all must agree. */
static void chunked_n(const char *in, size_t n, size_t max_body, size_t max_meta, int want_rc,
                      int want_status, const char *want_body, size_t want_consumed, int line)
{
    struct dec w, p;
    at_line = line;
    int failed_before = th_failed;
    dec_whole(in, n, max_body, max_meta, &w);
    CHECK_EQ(w.rc, want_rc);
    if (want_rc == HTTP_PARSE_ERROR) {
        CHECK_EQ(w.status, want_status);
        CHECK(w.reason != NULL && w.reason[0] != '\0');
    }
    if (want_body) {
        CHECK_EQ(w.out.len, strlen(want_body));
        CHECK(w.out.len == strlen(want_body) &&
              (w.out.len == 0 || memcmp(w.out.data, want_body, w.out.len) == 0));
    }
    if (want_consumed != SIZE_MAX) CHECK_EQ(w.consumed, want_consumed);
    CHECK(w.consumed <= n);
    CHECK(w.out.len <= max_body);

    for (size_t step = 1; step <= 3; step++) {
        dec_pieces(in, n, step, max_body, max_meta, &p);
        CHECK(same(&w, &p));
        buf_deinit(&p.out);
    }
    /* Split once at every offset. */
    for (size_t k = 0; k <= n; k++) {
        http_chunked_t c;
        http_chunked_init(&c);
        buf_init(&p.out);
        size_t u1 = 0, u2 = 0;
        p.status = 0;
        p.reason = NULL;
        p.rc =
            http_chunked_decode(&c, in, k, &u1, &p.out, max_body, max_meta, &p.status, &p.reason);
        p.consumed = u1;
        if (p.rc == HTTP_PARSE_AGAIN) {
            p.rc = http_chunked_decode(&c, in + k, n - k, &u2, &p.out, max_body, max_meta,
                                       &p.status, &p.reason);
            p.consumed += u2;
        }
        CHECK(same(&w, &p));
        buf_deinit(&p.out);
    }
    buf_deinit(&w.out);
    if (th_failed != failed_before) where();
}
#define CHUNKED_OK(lit, body)                                                                      \
    chunked_n(LIT(lit), BIG, 4096, HTTP_PARSE_DONE, 0, (body), sizeof(lit) - 1, __LINE__)
#define CHUNKED_BAD(lit, st)                                                                       \
    chunked_n(LIT(lit), BIG, 4096, HTTP_PARSE_ERROR, (st), NULL, SIZE_MAX, __LINE__)

static void test_chunked_valid(void)
{
    CHUNKED_OK("5\r\nhello\r\n0\r\n\r\n", "hello");
    CHUNKED_OK("0\r\n\r\n", "");
    CHUNKED_OK("000\r\n\r\n", "");
    CHUNKED_OK("3\r\nabc\r\n4\r\ndefg\r\n1\r\nh\r\n0\r\n\r\n", "abcdefgh");
    CHUNKED_OK("A\r\n0123456789\r\n0\r\n\r\n", "0123456789");
    CHUNKED_OK("a\r\n0123456789\r\n0\r\n\r\n", "0123456789");
    CHUNKED_OK("1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n", "abcdefghijklmnopqrstuvwxyz");
    CHUNKED_OK("1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n", "abcdefghijklmnopqrstuvwxyz");
    CHUNKED_OK("0005\r\nhello\r\n0\r\n\r\n", "hello");
    CHUNKED_OK("000000000000000F\r\n0123456789abcde\r\n0\r\n\r\n", "0123456789abcde");
    /* chunk data is opaque: CR, LF, NUL and high bytes pass through */
    chunked_n(LIT("6\r\n\r\n\0\xff\r\n\r\n0\r\n\r\n"), BIG, 4096, HTTP_PARSE_DONE, 0, NULL, 16,
              __LINE__);
    /* extensions */
    CHUNKED_OK("5;foo=bar\r\nhello\r\n0;last\r\n\r\n", "hello");
    CHUNKED_OK("5;a;b=1;c=\"x y\"\r\nhello\r\n0\r\n\r\n", "hello");
    CHUNKED_OK("5;a=\"q\\\"uo\\\\te\"\r\nhello\r\n0\r\n\r\n", "hello");
    CHUNKED_OK("5 ; a = b ; c\r\nhello\r\n0\r\n\r\n", "hello");
    CHUNKED_OK("5;a=\"\"\r\nhello\r\n0\r\n\r\n", "hello");
    CHUNKED_OK("5;a=\"\xc3\xa9\"\r\nhello\r\n0\r\n\r\n", "hello");
    CHUNKED_OK("5;a=\"x\"\t;b\r\nhello\r\n0\r\n\r\n", "hello");
    /* trailers */
    CHUNKED_OK("5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n", "hello");
    CHUNKED_OK("5\r\nhello\r\n0\r\nA: 1\r\nB:\r\nC: x \t y\r\n\r\n", "hello");
    CHUNKED_OK("0;x=1\r\nX:y\r\n\r\n", "");
}

static void test_chunked_errors(void)
{
    /* chunk-size */
    CHUNKED_BAD("g\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD(" 5\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("-5\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("+5\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("0x5\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5g\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5 \r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5\t\r\nhello\r\n0\r\n\r\n", 400);
    /* too many digits: refused even when the value is small, before it can overflow */
    CHUNKED_BAD("00000000000000005\r\nhello\r\n0\r\n\r\n", 400);
    chunked_n(LIT("10000000000000000\r\n"), SIZE_MAX, 4096, HTTP_PARSE_ERROR, 400, NULL, SIZE_MAX,
              __LINE__);
    chunked_n(LIT("FFFFFFFFFFFFFFFFF\r\n"), SIZE_MAX, 4096, HTTP_PARSE_ERROR, 400, NULL, 17,
              __LINE__);
    /* 16 digits are fine as syntax; the size alone is then checked against max_body */
    chunked_n(LIT("FFFFFFFFFFFFFFFF\r\nab"), SIZE_MAX, 4096, HTTP_PARSE_AGAIN, 0, "ab", 20,
              __LINE__);
    CHUNKED_BAD("FFFFFFFFFFFFFFFF\r\nab", 413);
    /* line endings */
    CHUNKED_BAD("5\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5\rhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5;a=b\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5\r\nhello\n0\r\n\r\n", 400);
    CHUNKED_BAD("5\r\nhello\r0\r\n\r\n", 400);
    CHUNKED_BAD("5\r\nhelloX\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5\r\nhello0\r\n\r\n", 400);
    CHUNKED_BAD("3\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5\r\nhello\r\n0\n\r\n", 400);
    CHUNKED_BAD("5\r\nhello\r\n0\r\n\n", 400);
    CHUNKED_BAD("5\r\nhello\r\n0\r\n\rX", 400);
    /* extensions */
    CHUNKED_BAD("5;\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5;=b\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5;a=\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5;a \r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5;a=b \r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5;a=\"b\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5;a=\"b\"c\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5;a=\"\\\x01\"\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5;a(b\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5;a=b=c\r\nhello\r\n0\r\n\r\n", 400);
    CHUNKED_BAD("5;a\0\r\nhello\r\n0\r\n\r\n", 400);
    /* trailers */
    CHUNKED_BAD("0\r\nX: a\r\n b\r\n\r\n", 400);
    CHUNKED_BAD("0\r\n X: a\r\n\r\n", 400);
    CHUNKED_BAD("0\r\nX : a\r\n\r\n", 400);
    CHUNKED_BAD("0\r\nNoColon\r\n\r\n", 400);
    CHUNKED_BAD("0\r\n: a\r\n\r\n", 400);
    CHUNKED_BAD("0\r\nX: a\0\r\n\r\n", 400);
    CHUNKED_BAD("0\r\nX: a\x7f\r\n\r\n", 400);
    CHUNKED_BAD("0\r\nX: a\n\r\n", 400);
    CHUNKED_BAD("0\r\nX: a\rb\r\n\r\n", 400);
}

static void test_chunked_limits(void)
{
    /* max_body counts decoded bytes only */
    chunked_n(LIT("5\r\nhello\r\n0\r\n\r\n"), 5, 4096, HTTP_PARSE_DONE, 0, "hello", SIZE_MAX,
              __LINE__);
    chunked_n(LIT("5\r\nhello\r\n0\r\n\r\n"), 4, 4096, HTTP_PARSE_ERROR, 413, "", 3, __LINE__);
    chunked_n(LIT("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"), 5, 4096, HTTP_PARSE_ERROR, 413, "abc",
              SIZE_MAX, __LINE__);
    chunked_n(LIT("3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n"), 6, 4096, HTTP_PARSE_DONE, 0, "abcdef",
              SIZE_MAX, __LINE__);
    chunked_n(LIT("0\r\n\r\n"), 0, 4096, HTTP_PARSE_DONE, 0, "", SIZE_MAX, __LINE__);

    struct dec d;
    dec_whole(LIT("5\r\nhello\r\n0\r\n\r\n"), 4, 4096, &d);
    CHECK_STR(d.reason, "request body too large");
    buf_deinit(&d.out);

    /* meta: size lines, extensions and trailers; "5\r\n" + "0\r\n" + "\r\n" = 8 bytes here */
    chunked_n(LIT("5\r\nhello\r\n0\r\n\r\n"), BIG, 8, HTTP_PARSE_DONE, 0, "hello", SIZE_MAX,
              __LINE__);
    chunked_n(LIT("5\r\nhello\r\n0\r\n\r\n"), BIG, 7, HTTP_PARSE_ERROR, 431, "hello", SIZE_MAX,
              __LINE__);
    chunked_n(LIT("5;name=averylongvalue\r\nhello\r\n0\r\n\r\n"), BIG, 16, HTTP_PARSE_ERROR, 431,
              "", SIZE_MAX, __LINE__);
    dec_whole(LIT("5;name=averylongvalue\r\nhello\r\n0\r\n\r\n"), BIG, 16, &d);
    CHECK_STR(d.reason, "chunk extensions too long");
    buf_deinit(&d.out);
    dec_whole(LIT("0\r\nX-Trailer: averylongvalue\r\n\r\n"), BIG, 16, &d);
    CHECK_EQ(d.rc, HTTP_PARSE_ERROR);
    CHECK_EQ(d.status, 431);
    CHECK_STR(d.reason, "trailer section too large");
    buf_deinit(&d.out);

    /* Many tiny chunks run into the metadata limit instead of costing unbounded work. */
    char many[4096];
    size_t n = 0;
    for (int i = 0; i < 500; i++) {
        memcpy(many + n, "1\r\nx\r\n", 6);
        n += 6;
    }
    dec_whole(many, n, BIG, 1024, &d);
    CHECK_EQ(d.rc, HTTP_PARSE_ERROR);
    CHECK_EQ(d.status, 431);
    CHECK(d.out.len < 500);
    buf_deinit(&d.out);
}

static void test_chunked_boundaries(void)
{
    /* DONE stops right after the final CRLF; the next request's bytes stay unconsumed. */
    const char in[] = "5\r\nhello\r\n0\r\nX: y\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const size_t body_len = sizeof("5\r\nhello\r\n0\r\nX: y\r\n\r\n") - 1;
    chunked_n(LIT(in), BIG, 4096, HTTP_PARSE_DONE, 0, "hello", body_len, __LINE__);

    http_chunked_t c;
    buf_t out;
    buf_init(&out);
    int st = 0;
    const char *rs = NULL;
    size_t used = 99;
    http_chunked_init(&c);
    CHECK_EQ(http_chunked_decode(&c, in, 0, &used, &out, BIG, 4096, &st, &rs), HTTP_PARSE_AGAIN);
    CHECK_EQ(used, 0);
    CHECK_EQ(http_chunked_decode(&c, in, sizeof(in) - 1, &used, &out, BIG, 4096, &st, &rs),
             HTTP_PARSE_DONE);
    CHECK_EQ(used, body_len);
    /* After DONE the decoder takes nothing more. */
    CHECK_EQ(http_chunked_decode(&c, in + used, 5, &used, &out, BIG, 4096, &st, &rs),
             HTTP_PARSE_DONE);
    CHECK_EQ(used, 0);
    buf_deinit(&out);

    /* Errors stick: a decoder that failed does not resume. */
    http_chunked_init(&c);
    CHECK_EQ(http_chunked_decode(&c, LIT("zz"), &used, &out, BIG, 4096, &st, &rs),
             HTTP_PARSE_ERROR);
    CHECK_EQ(used, 1);
    st = 0;
    CHECK_EQ(http_chunked_decode(&c, LIT("0\r\n\r\n"), &used, &out, BIG, 4096, &st, &rs),
             HTTP_PARSE_ERROR);
    CHECK_EQ(st, 400);
    CHECK_EQ(used, 0);
    CHECK_EQ(out.len, 0);
    buf_deinit(&out);

    /* A reused decoder starts clean after init. */
    http_chunked_init(&c);
    CHECK_EQ(http_chunked_decode(&c, LIT("1\r\na\r\n0\r\n\r\n"), &used, &out, BIG, 4096, &st, &rs),
             HTTP_PARSE_DONE);
    CHECK_EQ(c.meta_bytes, 8);
    CHECK_EQ(out.len, 1);
    buf_deinit(&out);

    /* Allocation failure surfaces as 500. A buffer that claims to be nearly SIZE_MAX long makes
     * buf_append fail without touching memory; it is put back before anything frees it. */
    buf_t fake = {NULL, SIZE_MAX - 2, SIZE_MAX - 2};
    http_chunked_init(&c);
    st = 0;
    CHECK_EQ(
        http_chunked_decode(&c, LIT("1\r\na\r\n0\r\n\r\n"), &used, &fake, SIZE_MAX, 4096, &st, &rs),
        HTTP_PARSE_ERROR);
    CHECK_EQ(st, 500);
    CHECK_EQ(used, 3);
    CHECK(fake.data == NULL && fake.len == SIZE_MAX - 2);
}

static void test_query_get(void)
{
    char v[16];
    http_span_t q = {"model=a%20b&limit=10&x=1+2&empty=&bad=%zz&nul=%00&cut=%4", 0};
    q.n = strlen(q.p);
    CHECK_EQ(http_query_get(q, "model", v, sizeof v), 1);
    CHECK_STR(v, "a b");
    CHECK_EQ(http_query_get(q, "limit", v, sizeof v), 1);
    CHECK_STR(v, "10");
    CHECK_EQ(http_query_get(q, "x", v, sizeof v), 1);
    CHECK_STR(v, "1 2");
    CHECK_EQ(http_query_get(q, "empty", v, sizeof v), 1);
    CHECK_STR(v, "");
    CHECK_EQ(http_query_get(q, "lim", v, sizeof v), 0); /* a prefix is not a key */
    CHECK_EQ(http_query_get(q, "nope", v, sizeof v), 0);
    CHECK_EQ(http_query_get(q, "bad", v, sizeof v), -1);
    CHECK_EQ(http_query_get(q, "nul", v, sizeof v), -1);
    CHECK_EQ(http_query_get(q, "cut", v, sizeof v), -1);
    CHECK_EQ(http_query_get(q, "model", v, 3), -1); /* "a b" needs 4 bytes */
    http_span_t none = {"", 0};
    CHECK_EQ(http_query_get(none, "model", v, sizeof v), 0);
}

int main(void)
{
    test_get();
    test_head_and_methods();
    test_post_body();
    test_query();
    test_http10_and_connection();
    test_lookup_and_ows();
    test_span_ieq();
    test_pipelined();
    test_leading_empty_lines();
    test_incremental();
    test_early_errors();
    test_request_line_errors();
    test_header_errors();
    test_limits();
    test_framing();
    test_host();
    test_expect();
    test_chunked_valid();
    test_chunked_errors();
    test_chunked_limits();
    test_chunked_boundaries();
    test_query_get();
    return TH_DONE();
}
