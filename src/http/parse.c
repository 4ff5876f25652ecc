/* Strict HTTP/1.1 request-head parser and chunked body decoder (RFC 9110/9112). Every byte here
 * comes from the network, so anything ambiguous is rejected rather than guessed at. */
#define _GNU_SOURCE /* memmem */
#include "http/parse.h"

#include <string.h>

#include "util/hex.h"

/* RFC 9112 2.2 asks servers to ignore at least one empty line before the request line (clients
 * sometimes send a stray CRLF after a body); a small cap keeps it from being a free-for-all. */
#define MAX_BLANK_LINES 4
/* Far beyond any body we would accept, and keeps the arithmetic well clear of overflow. */
#define CL_LIMIT ((int64_t)1 << 62)
/* 16 hex digits fill a uint64_t, so the size accumulator can never overflow. */
#define CHUNK_MAX_DIGITS 16

/* token = 1*tchar (RFC 9110 5.6.2) */
static const unsigned char tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1,         ['&'] = 1,         ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1,         ['^'] = 1,         ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1, ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

static inline bool is_tchar(char c)
{
    return tchar[(unsigned char)c];
}

static inline bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* field-vchar, SP or HTAB; obs-text (0x80-0xFF) is passed through opaquely. */
static inline bool is_fvalue(char ch)
{
    unsigned char c = (unsigned char)ch;
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static inline bool is_vchar(char ch)
{
    unsigned char c = (unsigned char)ch;
    return c >= 0x21 && c <= 0x7e;
}

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

static bool ieq(const char *p, size_t n, const char *lit)
{
    for (size_t i = 0; i < n; i++) {
        /* A NUL in lit ends it early and never equals a lowered byte that reached here. */
        if (lit[i] == '\0' || lower((unsigned char)p[i]) != lower((unsigned char)lit[i]))
            return false;
    }
    return lit[n] == '\0';
}

bool http_span_ieq(http_span_t s, const char *lit)
{
    return ieq(s.p, s.n, lit);
}

const http_span_t *http_head_get(const http_head_t *h, const char *name)
{
    for (int i = 0; i < h->nheaders; i++) {
        if (http_span_ieq(h->headers[i].name, name)) return &h->headers[i].value;
    }
    return NULL;
}

static int fail(int *status, const char **reason, int st, const char *why)
{
    *status = st;
    *reason = why;
    return HTTP_PARSE_ERROR;
}

/* A CR inside a line is always a bare CR (lines are split at LF), which deserves its own name. */
static const char *bad_byte(char c, const char *why)
{
    return c == '\r' ? "bare CR in request head" : why;
}

static http_method_t method_of(const char *p, size_t n)
{
    switch (n) {
    case 3:
        if (memcmp(p, "GET", 3) == 0) return HTTP_GET;
        if (memcmp(p, "PUT", 3) == 0) return HTTP_PUT;
        break;
    case 4:
        if (memcmp(p, "HEAD", 4) == 0) return HTTP_HEAD;
        if (memcmp(p, "POST", 4) == 0) return HTTP_POST;
        break;
    case 5:
        if (memcmp(p, "PATCH", 5) == 0) return HTTP_PATCH;
        break;
    case 6:
        if (memcmp(p, "DELETE", 6) == 0) return HTTP_DELETE;
        break;
    case 7:
        if (memcmp(p, "OPTIONS", 7) == 0) return HTTP_OPTIONS;
        break;
    }
    return HTTP_OTHER;
}

/* The head is not complete yet. Cheap checks catch garbage (a non-HTTP client, a port scanner,
 * LF-only line endings) now rather than after max_head bytes; everything else waits for the full
 * head. Only bytes in buf[s..win) are looked at: any valid head's prefix passes these checks. */
static int incomplete(const char *buf, size_t s, size_t win, size_t len, size_t max_head,
                      int *status, const char **reason)
{
    if (s < win) {
        size_t i = s;
        while (i < win && is_tchar(buf[i])) i++;
        if (i < win && buf[i] != ' ')
            return fail(status, reason, 400, bad_byte(buf[i], "invalid character in method"));
        if (i == s && i < win) return fail(status, reason, 400, "malformed request line");

        const char *end = buf + win;
        for (const char *p = buf + s; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++) {
            if (p == buf || p[-1] != '\r')
                return fail(status, reason, 400, "bare LF in request head");
        }
        for (const char *p = buf + s; (p = memchr(p, '\r', (size_t)(end - p))) != NULL; p++) {
            if (p + 1 < end && p[1] != '\n')
                return fail(status, reason, 400, "bare CR in request head");
        }
    }
    /* A head that is still incomplete at max_head bytes can only end past the limit. */
    if (len >= max_head) return fail(status, reason, 431, "header section too large");
    return HTTP_PARSE_AGAIN;
}

static int request_line(const char *p, size_t n, http_head_t *h, int *status, const char **reason)
{
    size_t i = 0;
    while (i < n && is_tchar(p[i])) i++;
    if (i < n && p[i] != ' ')
        return fail(status, reason, 400, bad_byte(p[i], "invalid character in method"));
    if (i == 0 || i == n) return fail(status, reason, 400, "malformed request line");
    h->method_str = (http_span_t){p, i};
    h->method = method_of(p, i);

    size_t t = ++i;
    while (i < n && is_vchar(p[i])) i++;
    if (i < n && p[i] != ' ')
        return fail(status, reason, 400, bad_byte(p[i], "invalid character in request target"));
    if (i == t)
        return fail(status, reason, 400,
                    i < n ? "extra whitespace in request line" : "missing request target");
    if (i == n) return fail(status, reason, 400, "missing HTTP version");
    h->target = (http_span_t){p + t, i - t};

    const char *v = p + i + 1;
    size_t vn = n - i - 1;
    if (vn != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
        v[7] < '0' || v[7] > '9') {
        if (vn > 0 && v[0] == ' ')
            return fail(status, reason, 400, "extra whitespace in request line");
        if (memchr(v, '\r', vn)) return fail(status, reason, 400, "bare CR in request head");
        return fail(status, reason, 400, "malformed HTTP version");
    }
    /* Checked before the target form so that an HTTP/2 preface ("PRI * HTTP/2.0") gets 505. */
    if (v[5] != '1' || v[7] > '1') return fail(status, reason, 505, "HTTP version not supported");
    h->minor = v[7] - '0';

    const char *tp = h->target.p;
    size_t tn = h->target.n;
    if (tp[0] != '/' && !(tn == 1 && tp[0] == '*' && h->method == HTTP_OPTIONS))
        return fail(status, reason, 400, "unsupported request target form");
    const char *q = memchr(tp, '?', tn);
    if (q) {
        h->path = (http_span_t){tp, (size_t)(q - tp)};
        h->query = (http_span_t){q + 1, tn - (size_t)(q - tp) - 1};
    } else {
        h->path = h->target;
        h->query = (http_span_t){tp + tn, 0};
    }
    return HTTP_PARSE_DONE;
}

static int header_line(const char *p, size_t n, http_head_t *h, int *status, const char **reason)
{
    /* A leading SP/HTAB is obs-fold (or whitespace before the first field): RFC 9112 5.2 lets a
     * server reject it, which is the only safe choice when proxies may unfold differently. */
    if (n == 0 || is_ws(p[0])) return fail(status, reason, 400, "obsolete line folding");
    size_t i = 0;
    while (i < n && is_tchar(p[i])) i++;
    if (i == n) return fail(status, reason, 400, "missing colon in header field");
    if (p[i] != ':') {
        if (is_ws(p[i]) && i > 0)
            return fail(status, reason, 400, "whitespace before colon in header field");
        return fail(status, reason, 400, bad_byte(p[i], "invalid character in header name"));
    }
    if (i == 0) return fail(status, reason, 400, "empty header name");
    if (h->nheaders == HTTP_MAX_HEADERS) return fail(status, reason, 431, "too many header fields");

    size_t a = i + 1, b = n;
    while (a < b && is_ws(p[a])) a++;
    while (b > a && is_ws(p[b - 1])) b--;
    for (size_t k = a; k < b; k++) {
        if (!is_fvalue(p[k]))
            return fail(status, reason, 400, bad_byte(p[k], "invalid character in header value"));
    }
    http_header_t *f = &h->headers[h->nheaders++];
    f->name = (http_span_t){p, i};
    f->value = (http_span_t){p + a, b - a};
    return HTTP_PARSE_DONE;
}

/* Content-Length = 1*DIGIT. Lists ("5, 5") are refused too: legal, but never needed. */
static bool parse_cl(http_span_t v, int64_t *out)
{
    if (v.n == 0) return false;
    int64_t x = 0;
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] < '0' || v.p[i] > '9') return false;
        int d = v.p[i] - '0';
        if (x > (CL_LIMIT - d) / 10) return false;
        x = x * 10 + d;
    }
    *out = x;
    return true;
}

/* Walks the comma-separated Connection options; empty list elements are allowed (RFC 9110 5.6.1).
 */
static void connection_opts(http_span_t v, bool *close, bool *keep_alive)
{
    size_t i = 0;
    while (i < v.n) {
        const char *comma = memchr(v.p + i, ',', v.n - i);
        size_t e = comma ? (size_t)(comma - v.p) : v.n;
        size_t a = i, b = e;
        while (a < b && is_ws(v.p[a])) a++;
        while (b > a && is_ws(v.p[b - 1])) b--;
        if (ieq(v.p + a, b - a, "close")) *close = true;
        if (ieq(v.p + a, b - a, "keep-alive")) *keep_alive = true;
        i = e + 1;
    }
}

/* Runs after every line was validated, so a syntax error always wins over a semantic one. */
static int derive(http_head_t *h, int *status, const char **reason)
{
    int hosts = 0, tes = 0;
    bool te_chunked = true, close = false, ka = false, expect_100 = false, expect_bad = false;

    h->content_length = -1;
    for (int k = 0; k < h->nheaders; k++) {
        const http_header_t *f = &h->headers[k];
        if (http_span_ieq(f->name, "content-length")) {
            int64_t v;
            if (!parse_cl(f->value, &v))
                return fail(status, reason, 400, "malformed Content-Length");
            if (h->content_length >= 0 && h->content_length != v)
                return fail(status, reason, 400, "conflicting Content-Length headers");
            h->content_length = v;
        } else if (http_span_ieq(f->name, "transfer-encoding")) {
            tes++;
            if (!http_span_ieq(f->value, "chunked")) te_chunked = false;
        } else if (http_span_ieq(f->name, "host")) {
            hosts++;
        } else if (http_span_ieq(f->name, "connection")) {
            connection_opts(f->value, &close, &ka);
        } else if (http_span_ieq(f->name, "expect")) {
            if (http_span_ieq(f->value, "100-continue"))
                expect_100 = true;
            else
                expect_bad = true;
        }
    }

    /* Framing must be unambiguous (RFC 9112 6.1-6.3), or a proxy in front of us may see a
     * different message boundary than we do. */
    h->chunked = false;
    if (tes > 0) {
        if (h->minor == 0)
            return fail(status, reason, 400, "Transfer-Encoding in HTTP/1.0 request");
        if (h->content_length >= 0)
            return fail(status, reason, 400, "both Content-Length and Transfer-Encoding");
        if (tes > 1 || !te_chunked) return fail(status, reason, 501, "unsupported transfer coding");
        h->chunked = true;
    }
    if (hosts > 1) return fail(status, reason, 400, "duplicate Host header");
    if (hosts == 0 && h->minor == 1) return fail(status, reason, 400, "missing Host header");
    if (expect_bad) return fail(status, reason, 417, "unsupported expectation");

    h->keep_alive = h->minor == 1 ? !close : (ka && !close);
    /* RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request must be ignored. */
    h->expect_continue = expect_100 && h->minor == 1;
    return HTTP_PARSE_DONE;
}

int http_parse_head(const char *buf, size_t len, size_t max_head, http_head_t *h, int *status,
                    const char **reason)
{
    if (len == 0) return HTTP_PARSE_AGAIN;

    size_t s = 0;
    for (int blanks = 0; blanks < MAX_BLANK_LINES && s < len; blanks++) {
        if (buf[s] == '\n') return fail(status, reason, 400, "bare LF in request head");
        if (buf[s] != '\r') break;
        if (s + 1 == len) return incomplete(buf, len, len, len, max_head, status, reason);
        if (buf[s + 1] != '\n') return fail(status, reason, 400, "bare CR in request head");
        s += 2;
    }

    /* Only the first max_head bytes can hold an acceptable head; never scan a body. */
    size_t win = len < max_head ? len : max_head;
    const char *term = s < win ? memmem(buf + s, win - s, "\r\n\r\n", 4) : NULL;
    if (!term) return incomplete(buf, s, win, len, max_head, status, reason);

    size_t lines_end = (size_t)(term - buf) + 2; /* through the CRLF of the last line */
    const char *end = buf + lines_end;
    h->nheaders = 0;
    h->head_len = lines_end + 2;

    const char *cur = buf + s;
    bool first = true;
    while (cur < end) {
        const char *lf = memchr(cur, '\n', (size_t)(end - cur));
        /* lf is never NULL: end[-1] is the LF of the terminator's first CRLF. */
        if (lf == cur || lf[-1] != '\r')
            return fail(status, reason, 400, "bare LF in request head");
        size_t n = (size_t)(lf - 1 - cur);
        int rc = first ? request_line(cur, n, h, status, reason)
                       : header_line(cur, n, h, status, reason);
        if (rc != HTTP_PARSE_DONE) return rc;
        first = false;
        cur = lf + 1;
    }
    return derive(h, status, reason);
}

enum {
    C_SIZE0,     /* first digit of a chunk-size */
    C_SIZE,      /* further digits */
    C_WS_SEMI,   /* BWS after size or value: only more BWS or ';' may follow */
    C_EXT_NAME0, /* after ';': BWS, then the first name byte */
    C_EXT_NAME,  /* in an extension name */
    C_WS_EQ,     /* BWS after a name: more BWS, '=' or ';' */
    C_EXT_VAL0,  /* after '=': BWS, then a token or a quoted-string */
    C_EXT_TOK,   /* in a token value */
    C_EXT_QS,    /* in a quoted-string value */
    C_EXT_QP,    /* after a backslash in a quoted-string */
    C_EXT_QEND,  /* after the closing quote */
    C_SIZE_LF,   /* CR of the chunk-size line seen */
    C_DATA,      /* chunk data, `remaining` bytes to go */
    C_DATA_CR,   /* CRLF after chunk data */
    C_DATA_LF,
    C_TR0,     /* start of a trailer line, or the final CRLF */
    C_TR_NAME, /* in a trailer field name */
    C_TR_VAL,  /* in a trailer field value */
    C_TR_LF,   /* CR of a trailer line seen */
    C_END_LF,  /* CR of the final line seen */
    C_DONE,
    C_ERROR,
};

void http_chunked_init(http_chunked_t *c)
{
    c->state = C_SIZE0;
    c->remaining = 0;
    c->meta_bytes = 0;
    c->ndigits = 0;
}

static int cfail(http_chunked_t *c, int *status, const char **reason, int st, const char *why)
{
    c->state = C_ERROR;
    return fail(status, reason, st, why);
}

/* Names the usual culprit for a byte that does not fit the grammar at this point. */
static const char *cbad(char ch, const char *why)
{
    if (ch == '\n') return "bare LF in chunked body";
    if (ch == '\r') return "bare CR in chunked body";
    return why;
}

static const char *meta_reason(int state)
{
    if (state >= C_WS_SEMI && state <= C_EXT_QEND) return "chunk extensions too long";
    if (state >= C_TR0) return "trailer section too large";
    return "chunk framing overhead too large";
}

/* One byte of framing (anything but chunk data). Returns 0 to go on, or DONE / ERROR. */
static int step(http_chunked_t *c, char ch, size_t room, int *status, const char **reason)
{
    static const char *const bad_ext = "malformed chunk extension";
    int d;

    switch (c->state) {
    case C_SIZE0:
        d = hex_val(ch);
        if (d < 0) return cfail(c, status, reason, 400, cbad(ch, "invalid chunk size"));
        c->remaining = (uint64_t)d;
        c->ndigits = 1;
        c->state = C_SIZE;
        break;
    case C_SIZE:
        d = hex_val(ch);
        if (d >= 0) {
            if (++c->ndigits > CHUNK_MAX_DIGITS)
                return cfail(c, status, reason, 400, "chunk size too long");
            c->remaining = c->remaining << 4 | (uint64_t)d;
            break;
        }
        if (ch == '\r')
            c->state = C_SIZE_LF;
        else if (ch == ';')
            c->state = C_EXT_NAME0;
        else if (is_ws(ch))
            c->state = C_WS_SEMI;
        else
            return cfail(c, status, reason, 400, cbad(ch, "invalid chunk size"));
        break;
    case C_WS_SEMI:
        if (ch == ';')
            c->state = C_EXT_NAME0;
        else if (!is_ws(ch))
            return cfail(c, status, reason, 400, cbad(ch, bad_ext));
        break;
    case C_EXT_NAME0:
        if (is_tchar(ch))
            c->state = C_EXT_NAME;
        else if (!is_ws(ch))
            return cfail(c, status, reason, 400, cbad(ch, bad_ext));
        break;
    case C_EXT_NAME:
        if (ch == '=')
            c->state = C_EXT_VAL0;
        else if (ch == ';')
            c->state = C_EXT_NAME0;
        else if (ch == '\r')
            c->state = C_SIZE_LF;
        else if (is_ws(ch))
            c->state = C_WS_EQ;
        else if (!is_tchar(ch))
            return cfail(c, status, reason, 400, cbad(ch, bad_ext));
        break;
    case C_WS_EQ:
        if (ch == '=')
            c->state = C_EXT_VAL0;
        else if (ch == ';')
            c->state = C_EXT_NAME0;
        else if (!is_ws(ch))
            return cfail(c, status, reason, 400, cbad(ch, bad_ext));
        break;
    case C_EXT_VAL0:
        if (ch == '"')
            c->state = C_EXT_QS;
        else if (is_tchar(ch))
            c->state = C_EXT_TOK;
        else if (!is_ws(ch))
            return cfail(c, status, reason, 400, cbad(ch, bad_ext));
        break;
    case C_EXT_TOK:
        if (ch == ';')
            c->state = C_EXT_NAME0;
        else if (ch == '\r')
            c->state = C_SIZE_LF;
        else if (is_ws(ch))
            c->state = C_WS_SEMI;
        else if (!is_tchar(ch))
            return cfail(c, status, reason, 400, cbad(ch, bad_ext));
        break;
    case C_EXT_QS:
        if (ch == '"')
            c->state = C_EXT_QEND;
        else if (ch == '\\')
            c->state = C_EXT_QP;
        else if (!is_fvalue(ch))
            return cfail(c, status, reason, 400, cbad(ch, bad_ext));
        break;
    case C_EXT_QP:
        if (!is_fvalue(ch)) return cfail(c, status, reason, 400, cbad(ch, bad_ext));
        c->state = C_EXT_QS;
        break;
    case C_EXT_QEND:
        if (ch == ';')
            c->state = C_EXT_NAME0;
        else if (ch == '\r')
            c->state = C_SIZE_LF;
        else if (is_ws(ch))
            c->state = C_WS_SEMI;
        else
            return cfail(c, status, reason, 400, cbad(ch, bad_ext));
        break;
    case C_SIZE_LF:
        if (ch != '\n') return cfail(c, status, reason, 400, "bare CR in chunked body");
        if (c->remaining > room) return cfail(c, status, reason, 413, "request body too large");
        c->state = c->remaining ? C_DATA : C_TR0;
        break;
    case C_DATA_CR:
        if (ch != '\r') return cfail(c, status, reason, 400, "missing CRLF after chunk data");
        c->state = C_DATA_LF;
        break;
    case C_DATA_LF:
        if (ch != '\n') return cfail(c, status, reason, 400, "missing CRLF after chunk data");
        c->state = C_SIZE0;
        c->ndigits = 0;
        break;
    case C_TR0:
        if (ch == '\r')
            c->state = C_END_LF;
        else if (is_tchar(ch))
            c->state = C_TR_NAME;
        else if (is_ws(ch))
            return cfail(c, status, reason, 400, "obsolete line folding in trailer section");
        else
            return cfail(c, status, reason, 400, cbad(ch, "invalid character in trailer field"));
        break;
    case C_TR_NAME:
        if (ch == ':')
            c->state = C_TR_VAL;
        else if (is_ws(ch))
            return cfail(c, status, reason, 400, "whitespace before colon in trailer field");
        else if (!is_tchar(ch))
            return cfail(c, status, reason, 400, cbad(ch, "invalid character in trailer field"));
        break;
    case C_TR_VAL:
        if (ch == '\r')
            c->state = C_TR_LF;
        else if (!is_fvalue(ch))
            return cfail(c, status, reason, 400, cbad(ch, "invalid character in trailer field"));
        break;
    case C_TR_LF:
        if (ch != '\n') return cfail(c, status, reason, 400, "bare CR in chunked body");
        c->state = C_TR0;
        break;
    case C_END_LF:
        if (ch != '\n') return cfail(c, status, reason, 400, "bare CR in chunked body");
        c->state = C_DONE;
        return HTTP_PARSE_DONE;
    default: return cfail(c, status, reason, 400, "invalid chunked decoder state");
    }
    return 0;
}

int http_chunked_decode(http_chunked_t *c, const char *in, size_t len, size_t *consumed, buf_t *out,
                        size_t max_body, size_t max_meta, int *status, const char **reason)
{
    *consumed = 0;
    if (c->state == C_DONE) return HTTP_PARSE_DONE;
    /* The original status and reason are gone; the caller should have stopped at the error. */
    if (c->state == C_ERROR) return fail(status, reason, 400, "malformed chunked body");

    size_t i = 0;
    while (i < len) {
        if (c->state == C_DATA) {
            size_t n = len - i;
            if (n > c->remaining) n = (size_t)c->remaining;
            /* Checked against the declared size at the size line; this is belt and braces. */
            if (out->len > max_body || n > max_body - out->len) {
                *consumed = i;
                return cfail(c, status, reason, 413, "request body too large");
            }
            if (buf_append(out, in + i, n) != 0) {
                *consumed = i;
                return cfail(c, status, reason, 500, "out of memory");
            }
            i += n;
            c->remaining -= n;
            if (c->remaining == 0) c->state = C_DATA_CR;
            continue;
        }
        /* The CRLF closing chunk data is not counted: it belongs to the data, not to metadata. */
        if (c->state != C_DATA_CR && c->state != C_DATA_LF && ++c->meta_bytes > max_meta) {
            *consumed = i;
            return cfail(c, status, reason, 431, meta_reason(c->state));
        }
        size_t room = out->len < max_body ? max_body - out->len : 0;
        int rc = step(c, in[i++], room, status, reason);
        if (rc != 0) {
            *consumed = i;
            return rc;
        }
    }
    *consumed = i;
    return HTTP_PARSE_AGAIN;
}

/* ==== query strings ==== */

int http_query_get(http_span_t q, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < q.n;) {
        size_t end = i;
        while (end < q.n && q.p[end] != '&') end++;
        if (end - i > kl && memcmp(q.p + i, key, kl) == 0 && q.p[i + kl] == '=') {
            size_t o = 0;
            for (size_t k = i + kl + 1; k < end; k++) {
                char c = q.p[k];
                if (c == '%') {
                    if (k + 2 >= end) return -1; /* needs two hex digits */
                    int hi = hex_val(q.p[k + 1]), lo = hex_val(q.p[k + 2]);
                    if (hi < 0 || lo < 0) return -1;
                    c = (char)(hi << 4 | lo);
                    k += 2;
                } else if (c == '+') {
                    c = ' ';
                }
                if (o + 1 >= cap || c == 0) return -1;
                out[o++] = c;
            }
            out[o] = 0;
            return 1;
        }
        i = end + 1;
    }
    return 0;
}
