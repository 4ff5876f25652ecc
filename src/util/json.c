/* Strict JSON reader: one pass with an explicit stack rather than recursion. Children gather on a
 * scratch stack and are copied into the document's arena when their container closes, so arrays
 * are contiguous (O(1) indexing) and no value costs a malloc of its own. */
#include "util/json.h"

#include "util/err.h"
#include "util/floatfmt.h"
#include "util/hex.h"
#include "util/utf8.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== Values and the arena ==== */

/* 16 bytes. n is a string's length or a container's element/member count: both fit 32 bits
 * because inputs are capped below 4 GiB. An object's kids are 2n values: key, value, key... */
struct json_value {
    uint8_t type;
    uint8_t flags;
    uint32_t n;
    union {
        double d;
        int64_t i;
        const char *s;
        const json_value_t *kids;
    } u;
};

enum {
    F_INT = 1,     /* number stored in u.i: the token was an integer that fits int64_t */
    F_NEGZERO = 2, /* with F_INT: the token was "-0", whose double is -0.0 */
};

typedef struct block {
    struct block *next;
    size_t cap, used;
    /* Data follows; the three words above keep it 8-aligned, enough for every value. */
} block_t;

struct json_doc {
    block_t *blocks; /* the head is the one being filled */
    json_value_t root;
};

#define BLOCK_MIN ((size_t)4 << 10)
#define BLOCK_MAX ((size_t)16 << 20) /* growth stops doubling here */

static inline unsigned char *block_data(block_t *b)
{
    return (unsigned char *)(b + 1);
}

/* ==== Parser state and errors ==== */

typedef struct frame {
    size_t base;      /* index in the value stack of the container's first child */
    const char *open; /* its opening bracket, to say where a duplicate key is */
    uint8_t type;
} frame_t;

#define STACK_VALUES 64 /* scratch that lives on the C stack before spilling to the heap */
#define STACK_FRAMES 32

typedef struct parser {
    const char *start, *end;
    json_doc_t *doc;
    size_t next_block; /* size of the next arena block */
    json_value_t *vs;  /* pending values: children of the open containers */
    size_t nvs, capvs;
    frame_t *fs; /* open containers */
    size_t nfs, capfs;
    size_t nvalues, max_values;
    unsigned max_depth;
    char *err;
    size_t errlen;
} parser_t;

/* Formats the message and appends where it happened. Line and column are found only now, by
 * counting newlines, so the happy path pays nothing for them. Always returns NULL. */
static const char *fail(parser_t *ps, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static const char *fail(parser_t *ps, const char *at, const char *fmt, ...)
{
    if (!ps->err || ps->errlen == 0) return NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(ps->err, ps->errlen, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= ps->errlen) return NULL;
    size_t line = 1;
    const char *bol = ps->start;
    for (const char *q = ps->start; (q = memchr(q, '\n', (size_t)(at - q))) != NULL; q++) {
        line++;
        bol = q + 1;
    }
    snprintf(ps->err + n, ps->errlen - (size_t)n, " at line %zu, column %zu (byte %zu)", line,
             (size_t)(at - bol) + 1, (size_t)(at - ps->start));
    return NULL;
}

/* Names the byte at p for a message: 'x' when printable, else its hex value. */
static const char *show(char out[16], const char *p, const char *end)
{
    if (p == end) return "end of input";
    unsigned char c = (unsigned char)*p;
    if (c >= 0x20 && c < 0x7f)
        snprintf(out, 16, "'%c'", c);
    else
        snprintf(out, 16, "byte 0x%02x", c);
    return out;
}

static void *arena_alloc(parser_t *ps, size_t n, size_t align)
{
    block_t *b = ps->doc->blocks;
    if (b) {
        size_t off = (b->used + align - 1) & ~(align - 1);
        if (off <= b->cap && n <= b->cap - off) {
            b->used = off + n;
            return block_data(b) + off;
        }
    }
    /* Something big gets a block of its own, put behind the head so the room left there is not
     * abandoned; otherwise start a new head, each one twice the last. */
    bool alone = b && n > ps->next_block / 4;
    size_t cap = alone ? n : ps->next_block;
    if (cap < n) cap = n;
    if (cap > SIZE_MAX - sizeof(block_t)) return NULL;
    block_t *nb = malloc(sizeof(block_t) + cap);
    if (!nb) return NULL;
    nb->cap = cap;
    nb->used = n;
    if (alone) {
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        ps->doc->blocks = nb;
        if (ps->next_block < BLOCK_MAX) ps->next_block *= 2;
    }
    return block_data(nb);
}

/* Gives back the tail of the most recent allocation p of `had` bytes, now `keep` long. */
static void arena_trim(parser_t *ps, void *p, size_t had, size_t keep)
{
    block_t *b = ps->doc->blocks;
    if (b && (unsigned char *)p + had == block_data(b) + b->used) b->used -= had - keep;
}

/* Grows a scratch stack, moving it off the C stack the first time. */
static bool grow(void **stack, size_t *cap, size_t elem, size_t on_c_stack)
{
    size_t ncap = *cap * 2;
    if (ncap > SIZE_MAX / elem) return false;
    void *p;
    if (*cap == on_c_stack) {
        p = malloc(ncap * elem);
        if (p) memcpy(p, *stack, *cap * elem);
    } else {
        p = realloc(*stack, ncap * elem);
    }
    if (!p) return false;
    *stack = p;
    *cap = ncap;
    return true;
}

/* Where the next value goes on the scratch stack, after checking the value limit and making
 * room; the caller fills it in place (a copy from a local would stall on store forwarding) and
 * then calls commit(). NULL after fail(). */
static __attribute__((noinline)) json_value_t *slot_slow(parser_t *ps, const char *at)
{
    if (ps->nvalues >= ps->max_values)
        return fail(ps, at, "more than %zu values", ps->max_values), NULL;
    if (ps->nvs == ps->capvs &&
        !grow((void **)&ps->vs, &ps->capvs, sizeof(json_value_t), STACK_VALUES))
        return fail(ps, at, "out of memory"), NULL;
    return &ps->vs[ps->nvs];
}

static inline json_value_t *slot(parser_t *ps, const char *at)
{
    if (ps->nvalues >= ps->max_values || ps->nvs == ps->capvs) return slot_slow(ps, at);
    return &ps->vs[ps->nvs];
}

static inline void commit(parser_t *ps)
{
    ps->nvs++;
    ps->nvalues++;
}

/* ==== Strings ==== */

/* Bytes that stop the fast scan: quote, backslash, controls and everything non-ASCII. */
static const uint8_t stop_byte[256] = {
    [0x00 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
    [0x80 ... 0xff] = 1,
};

static int hex4(const unsigned char *q)
{
    int v = 0;
    for (int k = 0; k < 4; k++) {
        int d = hex_val((char)q[k]);
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

static unsigned char *put_utf8(unsigned char *w, unsigned cp)
{
    if (cp < 0x80) {
        *w++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *w++ = (unsigned char)(0xc0 | cp >> 6);
        *w++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *w++ = (unsigned char)(0xe0 | cp >> 12);
        *w++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        *w++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else {
        *w++ = (unsigned char)(0xf0 | cp >> 18);
        *w++ = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        *w++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        *w++ = (unsigned char)(0x80 | (cp & 0x3f));
    }
    return w;
}

/* Decodes the escapes of the already-scanned body [r, e) into w. Every escape is at least as
 * long as what it decodes to, so w needs no more room than the body. Returns the decoded
 * length, or -1 after fail(). */
static ptrdiff_t unescape(parser_t *ps, const unsigned char *r, const unsigned char *e,
                          unsigned char *w0)
{
    unsigned char *w = w0;
    while (r < e) {
        if (*r != '\\') {
            *w++ = *r++;
            continue;
        }
        unsigned char c = r[1]; /* the scan made sure r + 1 < e */
        switch (c) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '/': *w++ = '/'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u': {
            int cp = e - r >= 6 ? hex4(r + 2) : -1;
            if (cp < 0) return fail(ps, (const char *)r, "invalid \\u escape"), -1;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return fail(ps, (const char *)r, "lone surrogate \\u%04X", (unsigned)cp), -1;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                /* UTF-16 pair (RFC 8259 section 7): a high half must be followed by a low one. */
                int lo = e - r >= 12 && r[6] == '\\' && r[7] == 'u' ? hex4(r + 8) : -1;
                if (lo < 0xdc00 || lo > 0xdfff)
                    return fail(ps, (const char *)r, "lone surrogate \\u%04X", (unsigned)cp), -1;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                r += 6;
            }
            w = put_utf8(w, (unsigned)cp);
            r += 6;
            continue;
        }
        default: /* the scan rejected everything else */ break;
        }
        r += 2;
    }
    return w - w0;
}

/* Parses the string whose opening quote is at p into *out; returns the byte after the closing
 * quote, or NULL after fail(). */
static const char *parse_string(parser_t *ps, const char *p, json_value_t *out)
{
    const unsigned char *s = (const unsigned char *)p + 1, *q = s;
    const unsigned char *e = (const unsigned char *)ps->end;
    bool escapes = false;
    char what[16];
    /* First pass: find the end and check everything but the \u escapes' content. */
    for (;;) {
        while (q < e && !stop_byte[*q]) q++;
        if (q == e) return fail(ps, p, "unterminated string");
        unsigned c = *q;
        if (c == '"') break;
        if (c == '\\') {
            if (q + 1 == e) return fail(ps, p, "unterminated string");
            switch (q[1]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't':
            case 'u': break;
            default:
                return fail(ps, (const char *)q, "invalid escape \\%s",
                            q[1] >= 0x20 && q[1] < 0x7f ? (snprintf(what, 16, "%c", q[1]), what)
                                                        : "(non-printable)");
            }
            escapes = true;
            q += 2;
            continue;
        }
        if (c < 0x20)
            return fail(ps, (const char *)q, "unescaped control character 0x%02x in string", c);
        size_t n = utf8_seq(q, e);
        if (n == 0) return fail(ps, (const char *)q, "invalid UTF-8 in string");
        q += n;
    }
    size_t raw = (size_t)(q - s);
    unsigned char *dst = arena_alloc(ps, raw + 1, 1);
    if (!dst) return fail(ps, p, "out of memory");
    size_t n = raw;
    if (!escapes) {
        memcpy(dst, s, raw);
    } else {
        ptrdiff_t got = unescape(ps, s, q, dst);
        if (got < 0) return NULL;
        n = (size_t)got;
        arena_trim(ps, dst, raw + 1, n + 1);
    }
    dst[n] = 0;
    out->type = JSON_STRING;
    out->flags = 0;
    out->n = (uint32_t)n;
    out->u.s = (const char *)dst;
    return (const char *)q + 1;
}

/* ==== Numbers ==== */

static const double pow10_d[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#if defined(__x86_64__) && LDBL_MANT_DIG == 64
#define HAVE_X87_LDBL 1
/* 10^27 = 2^27 * 5^27 and 5^27 < 2^64, so all of these are exact in a 64-bit significand. */
static const long double pow10_ld[] = {1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,
                                       1e7L,  1e8L,  1e9L,  1e10L, 1e11L, 1e12L, 1e13L,
                                       1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L,
                                       1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};
#endif

/* m * 10^e10 correctly rounded, for m < 2^64 and m != 0, when it can be done without strtod;
 * false otherwise. */
static bool fast_decimal(uint64_t m, int64_t e10, double *out)
{
#if FLT_EVAL_METHOD == 0
    /* Clinger's fast path: m and 10^|e10| are both exact doubles, so one IEEE operation rounds
     * the exact result once. */
    if (m <= (UINT64_C(1) << 53) && e10 >= -22 && e10 <= 22) {
        *out = e10 >= 0 ? (double)m * pow10_d[e10] : (double)m / pow10_d[-e10];
        return true;
    }
#endif
#ifdef HAVE_X87_LDBL
    /* The same in x87 extended precision (at its default: 64-bit significand, round to nearest),
     * which covers the 17-digit numbers most encoders print.
     * One rounding to 64 bits and then one to 53 bits gives the correctly rounded double unless
     * the first rounding landed exactly on a midpoint between two doubles (the 11 bits dropped
     * in the second rounding are 10000000000): then the true value may lie on either side. */
    if (e10 >= -27 && e10 <= 27) {
        long double r = e10 >= 0 ? (long double)m * pow10_ld[e10] : (long double)m / pow10_ld[-e10];
        uint64_t sig;
        memcpy(&sig, &r, sizeof sig);
        if ((sig & 0x7ff) == 0x400) return false;
        *out = (double)r;
        return true;
    }
#endif
    return false;
}

static inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static const uint64_t pow10_u64[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

/* Consumes the run of digits at p, folding them into *m (mod 2^64, so exact while at most 19
 * digits have gone in); returns the end of the run. Eight bytes at a time where the input
 * allows, which leaves one hard-to-predict branch per run instead of one per digit. */
static inline const char *digits(const char *p, const char *e, uint64_t *m)
{
    uint64_t acc = *m;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (e - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= UINT64_C(0x3030303030303030); /* digits become bytes 0..9 */
        /* Bit 7 of each byte that is not 0..9. A byte >= 0x8a carries into the next one, but
         * only after a non-digit, and only the first non-digit matters. */
        uint64_t bad = ((w + UINT64_C(0x7676767676767676)) | w) & UINT64_C(0x8080808080808080);
        unsigned n = bad ? (unsigned)__builtin_ctzll(bad) >> 3 : 8;
        if (n == 0) break;
        /* Keep the n digits, most significant in the lowest byte, zeros below them; then
         * combine pairs, quads and the two halves. */
        uint64_t v = w << (8 * (8 - n));
        v = (v * 10 + (v >> 8)) & UINT64_C(0x00ff00ff00ff00ff);
        v = (v * 100 + (v >> 16)) & UINT64_C(0x0000ffff0000ffff);
        v = (v * 10000 + (v >> 32)) & UINT64_C(0xffffffff);
        acc = acc * pow10_u64[n] + v;
        p += n;
        if (n < 8) {
            *m = acc;
            return p;
        }
    }
#endif
    for (; p < e && is_digit(*p); p++) acc = acc * 10 + (uint64_t)(*p - '0');
    *m = acc;
    return p;
}

static inline uint64_t add_digits(uint64_t m, const char *p, const char *e)
{
    for (; p < e; p++) m = m * 10 + (uint64_t)(*p - '0');
    return m;
}

/* Whether the integer digits [ip, ie) or the fraction digits [fp, fe) hold anything but '0'. */
static bool nonzero_digits(const char *ip, const char *ie, const char *fp, const char *fe)
{
    for (; ip < ie; ip++)
        if (*ip != '0') return true;
    for (; fp && fp < fe; fp++)
        if (*fp != '0') return true;
    return false;
}

/* Parses the number starting at p (a '-' or a digit) into *out; returns the byte after it, or
 * NULL after fail(). */
static const char *parse_number(parser_t *ps, const char *p, json_value_t *out)
{
    const char *start = p, *e = ps->end;
    bool neg = *p == '-', inexact = false;
    uint64_t m = 0;  /* the significant digits, when there are at most 19 */
    int64_t e10 = 0; /* value = m * 10^e10, unless inexact */

    p += neg;
    /* Digits are folded into m as they are found; m is exact when there are at most 19 of
     * them, and otherwise recomputed below. */
    const char *ip = p, *ie, *fp = NULL, *fe = NULL;
    if (p == e || !is_digit(*p)) return fail(ps, p, "expected a digit after '-'");
    if (*p == '0') {
        ie = ++p;
        if (p < e && is_digit(*p)) return fail(ps, start, "leading zeros are not allowed");
    } else {
        ie = p = digits(p, e, &m);
    }
    if (p < e && *p == '.') {
        fp = ++p;
        if (p == e || !is_digit(*p)) return fail(ps, p, "expected a digit after '.'");
        fe = p = digits(p, e, &m);
    }
    bool exp = p < e && (*p == 'e' || *p == 'E');
    if (exp) {
        p++;
        bool eneg = false;
        if (p < e && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p == e || !is_digit(*p)) return fail(ps, p, "expected a digit in the exponent");
        int64_t x = 0;
        for (; p < e && is_digit(*p); p++) {
            if (x < INT64_C(1000000000))
                x = x * 10 + (*p - '0');
            else
                inexact = true; /* such an exponent is strtod's business */
        }
        e10 = eneg ? -x : x;
    }
    size_t ni = (size_t)(ie - ip), nf = fp ? (size_t)(fe - fp) : 0;
    e10 -= (int64_t)nf; /* nf < 2^32: inputs are capped below 4 GiB */
    if (ni + nf > 19) {
        m = 0;
        if (ni == 1 && *ip == '0') {
            /* "0.000123...": the zeros after the point are not significant. */
            const char *q = fp;
            while (q < fe && *q == '0') q++;
            if (fe - q <= 19)
                m = add_digits(0, q, fe);
            else
                inexact = true;
        } else {
            inexact = true; /* a nonzero integer part has no leading zeros: all digits count */
        }
    }

    out->type = JSON_NUMBER;
    out->flags = 0;
    out->n = 0;
    if (!fp && !exp && !inexact) {
        if (!neg && m <= (uint64_t)INT64_MAX) {
            out->flags = F_INT;
            out->u.i = (int64_t)m;
            return p;
        }
        if (neg && m <= (uint64_t)INT64_MAX + 1) {
            out->flags = F_INT | (m == 0 ? F_NEGZERO : 0);
            out->u.i = m == 0 ? 0 : -(int64_t)(m - 1) - 1;
            return p;
        }
    }
    double d;
    if (!inexact && m == 0) {
        d = 0.0;
    } else if (inexact || !fast_decimal(m, e10, &d)) {
        /* strtod() is exact but wants a NUL-terminated string, and is several times slower. */
        char small[64], *tok = small;
        size_t n = (size_t)(p - start);
        if (n >= sizeof small && !(tok = malloc(n + 1))) return fail(ps, start, "out of memory");
        memcpy(tok, start, n);
        tok[n] = 0;
        d = strtod(tok, NULL);
        if (tok != small) free(tok);
        d = fabs(d); /* the sign is applied below, as for the fast path */
    }
    /* Beyond double's range either way: infinity, or digits that are not all zero rounding to
     * exactly 0. Such text would be kept as sent (the records keep a request's features text)
     * and read back as something else, and PostgreSQL's numeric refuses 1e-400000 outright. */
    if (isinf(d) || (d == 0 && nonzero_digits(ip, ie, fp, fe)))
        return fail(ps, start, "number out of range");
    out->u.d = neg ? -d : d;
    return p;
}

/* ==== The parser proper ==== */

static inline bool is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline const char *skip_ws(const char *p, const char *e)
{
    while (p < e && is_ws(*p)) p++;
    return p;
}

static const char *unexpected(parser_t *ps, const char *p, const char *wanted)
{
    char what[16];
    if (p < ps->end && *p == '/') return fail(ps, p, "comments are not allowed");
    if (p < ps->end && *p == '\'') return fail(ps, p, "single-quoted strings are not allowed");
    return fail(ps, p, "unexpected %s, expected %s", show(what, p, ps->end), wanted);
}

static const char *skip_string(const char *p, const char *e);
static const char *skip_value(const char *p, const char *e);

static bool same_key(const json_value_t *a, const json_value_t *b)
{
    return a->n == b->n && memcmp(a->u.s, b->u.s, a->n) == 0;
}

typedef struct key_ref {
    const char *s;
    uint32_t n, i; /* length, member index */
} key_ref_t;

static int key_cmp(const void *pa, const void *pb)
{
    const key_ref_t *a = pa, *b = pb;
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    int c = memcmp(a->s, b->s, a->n);
    return c ? c : a->i < b->i ? -1 : a->i > b->i;
}

/* The member index of the first key (in source order) that repeats an earlier one among the n
 * members whose keys are kv[0], kv[2], ...; n if none, (size_t)-1 when out of memory. Pairwise
 * for small objects; sorted otherwise, so a huge object costs n log n and not n^2. */
static size_t first_duplicate(const json_value_t *kv, size_t n)
{
    if (n <= 16) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (same_key(&kv[2 * i], &kv[2 * j])) return i;
        return n;
    }
    key_ref_t *r = malloc(n * sizeof *r);
    if (!r) return (size_t)-1;
    for (size_t i = 0; i < n; i++) r[i] = (key_ref_t){kv[2 * i].u.s, kv[2 * i].n, (uint32_t)i};
    qsort(r, n, sizeof *r, key_cmp);
    size_t first = n;
    for (size_t i = 1; i < n; i++)
        if (r[i].n == r[i - 1].n && memcmp(r[i].s, r[i - 1].s, r[i].n) == 0 &&
            (i < 2 || r[i - 1].n != r[i - 2].n || memcmp(r[i - 1].s, r[i - 2].s, r[i].n) != 0) &&
            r[i].i < first)
            first = r[i].i; /* the second of each run of equal keys is its first repeat */
    free(r);
    return first;
}

/* Where member i of the object whose '{' is at open starts: the text up to its closing bracket
 * has been parsed, so the scan only steps over tokens. */
static const char *member_at(const char *open, const char *e, size_t i)
{
    const char *p = skip_ws(open + 1, e);
    for (; i > 0 && p < e; i--) {
        p = skip_ws(skip_string(p, e), e);                /* key */
        p = skip_ws(skip_value(skip_ws(p + 1, e), e), e); /* ':' value */
        p = skip_ws(p + 1, e);                            /* ',' */
    }
    return p;
}

/* Refuses an object that repeats a key: RFC 8259 leaves the meaning to each reader (the first
 * wins here, the last in many others), so two readers of one request could act on different
 * values. */
static bool unique_keys(parser_t *ps, const frame_t *f, size_t n)
{
    size_t i = first_duplicate(ps->vs + f->base, n);
    if (i == n) return true;
    if (i == (size_t)-1) return fail(ps, f->open, "out of memory"), false;
    const json_value_t *k = &ps->vs[f->base + 2 * i];
    char name[64];
    size_t o = 0, j = 0;
    for (; j < k->n && o < 40; j++) {
        unsigned char c = (unsigned char)k->u.s[j];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            name[o++] = (char)c;
        else
            o += (size_t)snprintf(name + o, sizeof name - o, "\\x%02x", c);
    }
    if (j < k->n) o += (size_t)snprintf(name + o, sizeof name - o, "...");
    name[o] = 0;
    return fail(ps, member_at(f->open, ps->end, i), "duplicate key \"%s\"", name), false;
}

/* Pops the innermost container, copying its children into the arena, and leaves the container
 * itself in the next slot (for commit()). `at` is the closing bracket. */
static bool close_container(parser_t *ps, const char *at)
{
    frame_t f = ps->fs[--ps->nfs];
    size_t cnt = ps->nvs - f.base;
    if (f.type == JSON_OBJECT && cnt > 2 && !unique_keys(ps, &f, cnt / 2)) return false;
    json_value_t *kids = NULL;
    if (cnt) {
        kids = arena_alloc(ps, cnt * sizeof *kids, sizeof(double));
        if (!kids) return fail(ps, at, "out of memory"), false;
        memcpy(kids, ps->vs + f.base, cnt * sizeof *kids);
    }
    ps->nvs = f.base;
    json_value_t *v = slot(ps, at);
    if (!v) return false;
    v->type = f.type;
    v->flags = 0;
    v->n = (uint32_t)(f.type == JSON_OBJECT ? cnt / 2 : cnt);
    v->u.kids = kids;
    return true;
}

static bool parse(parser_t *ps)
{
    const char *p = skip_ws(ps->start, ps->end), *e = ps->end, *at;
    json_value_t *v;
    char closer;
    if (p == e) return fail(ps, p, "empty input"), false;

value: /* p is at the first byte of a value, whitespace skipped */
    at = p;
    if (p == e) return unexpected(ps, p, "a value"), false;
    switch (*p) {
    case '{':
    case '[':
        if (ps->nfs >= ps->max_depth)
            return fail(ps, p, "nesting deeper than %u", ps->max_depth), false;
        if (ps->nfs == ps->capfs &&
            !grow((void **)&ps->fs, &ps->capfs, sizeof(frame_t), STACK_FRAMES))
            return fail(ps, p, "out of memory"), false;
        ps->fs[ps->nfs].base = ps->nvs;
        ps->fs[ps->nfs].open = p;
        ps->fs[ps->nfs].type = *p == '{' ? JSON_OBJECT : JSON_ARRAY;
        ps->nfs++;
        closer = *p == '{' ? '}' : ']';
        p = skip_ws(p + 1, e);
        if (p < e && *p == closer) {
            if (!close_container(ps, p)) return false;
            p++;
            goto got_value;
        }
        if (closer == '}') goto key;
        goto value;
    case '"':
        if (!(v = slot(ps, at)) || !(p = parse_string(ps, p, v))) return false;
        break;
    case '-':
    case '0' ... '9':
        if (!(v = slot(ps, at)) || !(p = parse_number(ps, p, v))) return false;
        break;
    case 't':
    case 'f':
    case 'n': {
        static const char *const lit[] = {"true", "false", "null"};
        static const uint8_t type[] = {JSON_TRUE, JSON_FALSE, JSON_NULL};
        int k = *p == 't' ? 0 : *p == 'f' ? 1 : 2;
        size_t n = strlen(lit[k]);
        if ((size_t)(e - p) < n || memcmp(p, lit[k], n) != 0)
            return fail(ps, p, "invalid literal (expected %s)", lit[k]), false;
        if (!(v = slot(ps, at))) return false;
        v->type = type[k];
        v->flags = 0;
        v->n = 0;
        v->u.i = 0;
        p += n;
        break;
    }
    default: return unexpected(ps, p, "a value"), false;
    }

got_value: /* the next slot holds a complete value and p is just past it */
    commit(ps);
    p = skip_ws(p, e);
    if (ps->nfs == 0) {
        if (p != e) return unexpected(ps, p, "end of input after the top-level value"), false;
        ps->doc->root = ps->vs[0];
        return true;
    }
    closer = ps->fs[ps->nfs - 1].type == JSON_OBJECT ? '}' : ']';
    if (p < e && *p == ',') {
        p = skip_ws(p + 1, e);
        if (p < e && *p == closer) return fail(ps, p, "trailing comma before '%c'", closer), false;
        if (closer == ']') goto value;
        goto key;
    }
    if (p < e && *p == closer) {
        if (!close_container(ps, p)) return false;
        p++;
        goto got_value;
    }
    return unexpected(ps, p, closer == ']' ? "',' or ']'" : "',' or '}'"), false;

key: /* p is where a member's key must start, whitespace skipped */
    if (p == e || *p != '"') return unexpected(ps, p, "a string key"), false;
    if (!(v = slot(ps, p)) || !(p = parse_string(ps, p, v))) return false;
    commit(ps);
    p = skip_ws(p, e);
    if (p == e || *p != ':') return unexpected(ps, p, "':'"), false;
    p = skip_ws(p + 1, e);
    goto value;
}

json_doc_t *json_parse(const char *text, size_t len, const json_limits_t *lim, char *err,
                       size_t errlen)
{
    json_value_t vstack[STACK_VALUES];
    frame_t fstack[STACK_FRAMES];
    if (!text) {
        text = ""; /* "empty input", and no arithmetic on NULL */
        len = 0;
    }
    parser_t ps = {
        .start = text,
        .end = text + len,
        .vs = vstack,
        .capvs = STACK_VALUES,
        .fs = fstack,
        .capfs = STACK_FRAMES,
        .max_values = lim && lim->max_values ? lim->max_values : JSON_DEFAULT_MAX_VALUES,
        .max_depth = lim && lim->max_depth ? lim->max_depth : JSON_DEFAULT_MAX_DEPTH,
        .err = err,
        .errlen = errlen,
    };
    size_t max_bytes = lim && lim->max_bytes ? lim->max_bytes : JSON_DEFAULT_MAX_BYTES;
    if (max_bytes > UINT32_MAX) max_bytes = UINT32_MAX;
    if (err && errlen) err[0] = 0;
    if (len > max_bytes) {
        if (err && errlen) snprintf(err, errlen, "input of %zu bytes is over %zu", len, max_bytes);
        return NULL;
    }
    ps.doc = calloc(1, sizeof *ps.doc);
    if (!ps.doc) {
        if (err && errlen) snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* The DOM is usually 1-2x the text: start near that so a big body needs few blocks. */
    ps.next_block = len < BLOCK_MIN ? BLOCK_MIN : len > BLOCK_MAX ? BLOCK_MAX : len;
    bool ok = parse(&ps);
    if (ps.vs != vstack) free(ps.vs);
    if (ps.fs != fstack) free(ps.fs);
    if (!ok) {
        json_doc_free(ps.doc);
        return NULL;
    }
    return ps.doc;
}

void json_doc_free(json_doc_t *d)
{
    if (!d) return;
    for (block_t *b = d->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    free(d);
}

const json_value_t *json_root(const json_doc_t *d)
{
    return d ? &d->root : NULL;
}

/* ==== Accessors ==== */

json_type_t json_type(const json_value_t *v)
{
    return v ? (json_type_t)v->type : JSON_NULL;
}

static inline double num(const json_value_t *v)
{
    if (!(v->flags & F_INT)) return v->u.d;
    return v->flags & F_NEGZERO ? -0.0 : (double)v->u.i;
}

double json_number(const json_value_t *v)
{
    return v && v->type == JSON_NUMBER ? num(v) : NAN;
}

bool json_is_integer(const json_value_t *v)
{
    return v && v->type == JSON_NUMBER && (v->flags & F_INT);
}

int64_t json_int(const json_value_t *v)
{
    if (!v || v->type != JSON_NUMBER) return 0;
    if (v->flags & F_INT) return v->u.i;
    double d = v->u.d;
    if (d >= 0x1p63) return INT64_MAX;
    if (d <= -0x1p63) return INT64_MIN;
    return (int64_t)d;
}

const char *json_string(const json_value_t *v, size_t *len)
{
    bool ok = v && v->type == JSON_STRING;
    if (len) *len = ok ? v->n : 0;
    return ok ? v->u.s : NULL;
}

size_t json_size(const json_value_t *v)
{
    return v && (v->type == JSON_ARRAY || v->type == JSON_OBJECT) ? v->n : 0;
}

const json_value_t *json_at(const json_value_t *arr, size_t i)
{
    return arr && arr->type == JSON_ARRAY && i < arr->n ? &arr->u.kids[i] : NULL;
}

const json_value_t *json_getn(const json_value_t *obj, const char *key, size_t klen)
{
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    for (size_t i = 0; i < obj->n; i++) {
        const json_value_t *k = &obj->u.kids[2 * i];
        if (k->n == klen && memcmp(k->u.s, key, klen) == 0) return k + 1;
    }
    return NULL;
}

const json_value_t *json_get(const json_value_t *obj, const char *key)
{
    return json_getn(obj, key, strlen(key));
}

const char *json_key_at(const json_value_t *obj, size_t i, size_t *len)
{
    bool ok = obj && obj->type == JSON_OBJECT && i < obj->n;
    return json_string(ok ? &obj->u.kids[2 * i] : NULL, len);
}

long json_unknown_key(const json_value_t *obj, const char *const *allowed)
{
    for (size_t i = 0; obj && obj->type == JSON_OBJECT && i < obj->n; i++) {
        size_t n;
        const char *key = json_key_at(obj, i, &n);
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strlen(*a) == n && !memcmp(*a, key, n);
        if (!ok) return (long)i;
    }
    return -1;
}

int json_opt_int(const json_value_t *obj, const char *key, const char *name, int64_t lo, int64_t hi,
                 int64_t *out, char *err, size_t errlen)
{
    const json_value_t *v = json_get(obj, key);
    if (!v) return 0;
    if (v->type != JSON_NUMBER || !json_is_integer(v) || json_int(v) < lo || json_int(v) > hi)
        return err_fail(err, errlen, ERR_INVALID, "\"%s\" must be an integer from %lld to %lld",
                        name ? name : key, (long long)lo, (long long)hi);
    *out = json_int(v);
    return 0;
}

int json_opt_bool(const json_value_t *obj, const char *key, const char *name, bool *out, char *err,
                  size_t errlen)
{
    const json_value_t *v = json_get(obj, key);
    if (!v) return 0;
    if (v->type != JSON_TRUE && v->type != JSON_FALSE)
        return err_fail(err, errlen, ERR_INVALID, "\"%s\" must be true or false",
                        name ? name : key);
    *out = v->type == JSON_TRUE;
    return 0;
}

const json_value_t *json_value_at(const json_value_t *obj, size_t i)
{
    return obj && obj->type == JSON_OBJECT && i < obj->n ? &obj->u.kids[2 * i + 1] : NULL;
}

/* ==== Flattening ==== */

/* Prints finite v into s[40] as json_write_double() does; returns the length. */
static int shortest(char *s, double v)
{
    int n = 0;
    /* Decimals of 15 significant digits lie further apart than doubles, so a text of at most
     * 15 digits that reads back as v can only be the one %.15g prints (without its trailing
     * zeros); 17 digits always read back. Subnormals have fewer bits: start lower for them. */
    for (int prec = fabs(v) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
        n = snprintf(s, 40, "%.*g", prec, v);
        if (strtod(s, NULL) == v) break;
    }
    return n;
}

static const char *type_name(const json_value_t *v)
{
    switch (v->type) {
    case JSON_NULL: return "null";
    case JSON_FALSE:
    case JSON_TRUE: return "a boolean";
    case JSON_NUMBER: return "a number";
    case JSON_STRING: return "a string";
    case JSON_ARRAY: return "an array";
    default: return "an object";
    }
}

int json_shape(const json_value_t *v, json_shape_t *shape, char *err, size_t errlen)
{
    memset(shape, 0, sizeof *shape);
    if (err && errlen) err[0] = 0;
    if (!v) return err_set(err, errlen, "missing value, expected a number or an array"), -EINVAL;
    size_t count = 1;
    while (v->type == JSON_ARRAY) {
        if (shape->rank == JSON_MAX_RANK)
            return err_set(err, errlen, "arrays nested deeper than %d", JSON_MAX_RANK), -EINVAL;
        size_t n = v->n;
        if (n && count > SIZE_MAX / n)
            return err_set(err, errlen, "element count overflows"), -EINVAL;
        shape->dim[shape->rank++] = n;
        count *= n;
        if (n == 0) break;
        v = &v->u.kids[0];
    }
    if (v->type != JSON_NUMBER && v->type != JSON_ARRAY) {
        if (shape->rank == 0)
            err_set(err, errlen, "value is %s, expected a number or an array", type_name(v));
        else
            err_set(err, errlen, "first element is %s, expected a number", type_name(v));
        return -EINVAL;
    }
    shape->count = count;
    return 0;
}

typedef struct flat {
    json_elem_t et;
    char *out;
    size_t k; /* elements written */
    const json_shape_t *sh;
    size_t idx[JSON_MAX_RANK];
    char *err;
    size_t errlen;
} flat_t;

/* Names the element at the first `depth` indices: "element [i][j]", or "value" for a bare
 * number. */
static const char *path(const flat_t *f, unsigned depth, char *s, size_t n)
{
    if (f->sh->rank == 0) return "value";
    size_t o = (size_t)snprintf(s, n, "element ");
    for (unsigned d = 0; d < depth && o < n; d++) {
        int w = snprintf(s + o, n - o, "[%zu]", f->idx[d]);
        if (w < 0) break;
        o += (size_t)w;
    }
    return s;
}

#define PATH_MAX_LEN (sizeof "element " + JSON_MAX_RANK * 22)

static int bad_element(flat_t *f, unsigned depth, const json_value_t *v, const char *wanted)
{
    char s[PATH_MAX_LEN];
    err_set(f->err, f->errlen, "%s is %s, expected %s", path(f, depth, s, sizeof s), type_name(v),
            wanted);
    return -EINVAL;
}

/* The innermost arrays: this loop is where a request's numbers are converted. */
static int flat_leaves(flat_t *f, const json_value_t *kids, size_t n, unsigned depth)
{
    if (n == 0) return 0; /* out may be NULL when there is nothing to write */
    switch (f->et) {
    case JSON_ELEM_F32: {
        float *o = (float *)f->out + f->k;
        for (size_t i = 0; i < n; i++) {
            const json_value_t *v = &kids[i];
            if (v->type != JSON_NUMBER)
                return f->idx[depth] = i, bad_element(f, depth + 1, v, "a number");
            double d = num(v);
            /* Beyond FLT_MAX plus half an ulp the conversion would give inf (and is undefined
             * behaviour in C). */
            if (!(fabs(d) < 0x1.ffffffp127)) {
                char s[PATH_MAX_LEN], num[40];
                f->idx[depth] = i;
                shortest(num, d);
                err_set(f->err, f->errlen, "%s (%s) is out of float range",
                        path(f, depth + 1, s, sizeof s), num);
                return -ERANGE;
            }
            o[i] = (float)d;
        }
        break;
    }
    case JSON_ELEM_F64: {
        double *o = (double *)f->out + f->k;
        for (size_t i = 0; i < n; i++) {
            const json_value_t *v = &kids[i];
            if (v->type != JSON_NUMBER)
                return f->idx[depth] = i, bad_element(f, depth + 1, v, "a number");
            o[i] = num(v);
        }
        break;
    }
    case JSON_ELEM_I64: {
        int64_t *o = (int64_t *)f->out + f->k;
        for (size_t i = 0; i < n; i++) {
            const json_value_t *v = &kids[i];
            if (v->type != JSON_NUMBER)
                return f->idx[depth] = i, bad_element(f, depth + 1, v, "a number");
            if (v->flags & F_INT) {
                o[i] = v->u.i;
                continue;
            }
            double d = v->u.d;
            if (d != trunc(d) || d < -0x1p63 || d >= 0x1p63) {
                char s[PATH_MAX_LEN], num[40];
                f->idx[depth] = i;
                shortest(num, d);
                err_set(f->err, f->errlen, "%s (%s) is not an int64 integer",
                        path(f, depth + 1, s, sizeof s), num);
                return -ERANGE;
            }
            o[i] = (int64_t)d;
        }
        break;
    }
    }
    f->k += n;
    return 0;
}

/* Walks the array v found at `depth` (its indices in f->idx[0..depth)). */
static int flat_walk(flat_t *f, const json_value_t *v, unsigned depth)
{
    size_t want = f->sh->dim[depth];
    if (v->n != want) {
        char s[PATH_MAX_LEN];
        if (depth == 1)
            err_set(f->err, f->errlen, "row %zu has %u element%s, expected %zu", f->idx[0], v->n,
                    v->n == 1 ? "" : "s", want);
        else
            err_set(f->err, f->errlen, "array at %s has %u element%s, expected %zu",
                    path(f, depth, s, sizeof s) + strlen("element "), v->n, v->n == 1 ? "" : "s",
                    want);
        return -EINVAL;
    }
    if (depth + 1 == f->sh->rank) return flat_leaves(f, v->u.kids, v->n, depth);
    for (size_t i = 0; i < v->n; i++) {
        const json_value_t *c = &v->u.kids[i];
        f->idx[depth] = i;
        if (c->type != JSON_ARRAY) return bad_element(f, depth + 1, c, "an array");
        int rc = flat_walk(f, c, depth + 1);
        if (rc) return rc;
    }
    return 0;
}

int json_flatten(const json_value_t *v, json_elem_t et, void *out, size_t cap, json_shape_t *shape,
                 char *err, size_t errlen)
{
    json_shape_t local;
    json_shape_t *sh = shape ? shape : &local;
    int rc = json_shape(v, sh, err, errlen);
    if (rc) return rc;
    if (sh->count > cap) {
        err_set(err, errlen, "%zu elements, room for %zu", sh->count, cap);
        return -ENOSPC;
    }
    flat_t f = {.et = et, .out = out, .sh = sh, .err = err, .errlen = errlen};
    if (sh->rank == 0) return flat_leaves(&f, v, 1, 0);
    return flat_walk(&f, v, 0);
}

/* ==== Source spans ==== */

/* These scans trust that json_parse() accepted the text, so they only find where tokens end;
 * they still never read outside [p, e), whatever the bytes. */

/* p is at a string's opening quote; returns just past its closing quote. */
static const char *skip_string(const char *p, const char *e)
{
    for (p++; p < e && *p != '"'; p++)
        if (*p == '\\' && p + 1 < e) p++;
    return p < e ? p + 1 : e;
}

/* p is at a value's first byte; returns just past its last. */
static const char *skip_value(const char *p, const char *e)
{
    if (p >= e) return e;
    if (*p == '"') return skip_string(p, e);
    if (*p != '[' && *p != '{') {
        while (p < e && *p != ',' && *p != ']' && *p != '}' && !is_ws(*p)) p++;
        return p;
    }
    for (int depth = 0; p < e;) {
        char c = *p;
        if (c == '"') {
            p = skip_string(p, e);
            continue;
        }
        p++;
        if (c == '[' || c == '{')
            depth++;
        else if ((c == ']' || c == '}') && --depth == 0)
            return p;
    }
    return e;
}

bool json_span_member(const char *text, size_t len, const char *key, json_span_t *out)
{
    const char *p = skip_ws(text, text + len), *e = text + len;
    if (p == e || *p != '{') return false;
    size_t klen = strlen(key);
    for (p = skip_ws(p + 1, e); p < e && *p == '"';) {
        const char *k = p + 1;
        p = skip_string(p, e);
        /* A key written with escapes is compared as written, so it never matches; json_parse()
         * refuses duplicate keys, so it cannot stand for the key either. */
        const char *kend = p - 1;
        p = skip_ws(p, e);
        if (p == e || *p != ':') return false;
        p = skip_ws(p + 1, e);
        const char *v = p;
        p = skip_value(p, e);
        if ((size_t)(kend - k) == klen && memcmp(k, key, klen) == 0) {
            *out = (json_span_t){(size_t)(v - text), (size_t)(p - v)};
            return true;
        }
        p = skip_ws(p, e);
        if (p < e && *p == ',') p = skip_ws(p + 1, e);
    }
    return false;
}

size_t json_span_elements(const char *text, json_span_t arr, json_span_t *out, size_t cap)
{
    const char *p = text + arr.off, *e = p + arr.len;
    if (p == e || *p != '[') return 0;
    size_t n = 0;
    for (p = skip_ws(p + 1, e); p < e && *p != ']';) {
        const char *v = p;
        p = skip_value(p, e);
        if (n < cap) out[n] = (json_span_t){(size_t)(v - text), (size_t)(p - v)};
        n++;
        p = skip_ws(p, e);
        if (p < e && *p == ',') p = skip_ws(p + 1, e);
    }
    return n;
}

/* Whether the number token [p, e) is written with so extreme a scale that a store may refuse it
 * although its value is an ordinary double: PostgreSQL's numeric (under jsonb) holds at most
 * 16383 digits after the point and 131072 before, so "0e-20000" or a 1 followed by 20000 zeros
 * after the point fail there. The bounds here are far beyond any double's own shortest text
 * (at most 17 significant digits, exponents within -324..308). */
static bool extreme_number(const char *p, const char *e)
{
    int64_t ni = 0, nf = 0, x = 0;
    if (p < e && *p == '-') p++;
    for (; p < e && is_digit(*p); p++) ni++;
    if (p < e && *p == '.')
        for (p++; p < e && is_digit(*p); p++) nf++;
    if (p < e && (*p == 'e' || *p == 'E')) {
        bool neg = ++p < e && *p == '-';
        if (p < e && (*p == '+' || *p == '-')) p++;
        for (; p < e && is_digit(*p); p++)
            if (x < 1000000000) x = x * 10 + (*p - '0');
        if (neg) x = -x;
    }
    return nf - x > 1100 || ni + x > 400;
}

/* json_write_compact's common case: no strings and no exponents, so removing whitespace is all
 * there is to do, unless a number is hundreds of digits long (then extreme_number decides).
 * Returns false, having written nothing that counts, when that case does not hold. */
static bool compact_plain(const char *p, size_t n, char *out, size_t *outlen)
{
    if (memchr(p, '"', n) || memchr(p, 'e', n) || memchr(p, 'E', n)) return false;
    char *o = out;
    size_t run = 0;
    bool long_run = false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        bool ws = c == ' ' || c == '\n' || c == '\r' || c == '\t';
        *o = c; /* always written, kept only if not whitespace: no branch to mispredict */
        o += !ws;
        run = is_digit(c) || c == '.' || c == '-' || c == '+' ? run + 1 : 0;
        long_run |= run > 400;
    }
    *outlen = (size_t)(o - out);
    return !long_run;
}

int json_write_compact(buf_t *b, const char *text, json_span_t span)
{
    const char *p = text + span.off, *e = p + span.len;
    if (buf_reserve(b, span.len)) return -ENOMEM;
    char *o = buf_tail(b);
    size_t plain;
    if (compact_plain(p, span.len, o, &plain)) {
        buf_commit(b, plain);
        return 0;
    }
    while (p < e) {
        if (*p == '-' || is_digit(*p)) {
            const char *q = p;
            bool exp = false;
            for (; q < e; q++) {
                char c = *q;
                if (c == 'e' || c == 'E')
                    exp = true;
                else if (!is_digit(c) && c != '-' && c != '+' && c != '.')
                    break;
            }
            /* Without an exponent only a token of hundreds of digits can be out of range. */
            if ((!exp && q - p <= 400) || !extreme_number(p, q)) {
                memcpy(o, p, (size_t)(q - p));
                o += q - p;
                p = q;
                continue;
            }
            /* The same double in its shortest text, never longer than such a token. */
            char small[64],
                *tok = (size_t)(q - p) < sizeof small ? small : malloc((size_t)(q - p) + 1);
            if (!tok) return -ENOMEM;
            memcpy(tok, p, (size_t)(q - p));
            tok[q - p] = 0;
            double v = strtod(tok, NULL);
            if (tok != small) free(tok);
            char s[40];
            int n = isfinite(v) ? shortest(s, v) : INT_MAX;
            if (n > q - p) { /* cannot happen for text json_parse() accepted */
                n = (int)(q - p);
                memcpy(o, p, (size_t)n);
            } else {
                memcpy(o, s, (size_t)n);
            }
            o += n;
            p = q;
            continue;
        }
        if (*p == '"') {
            const char *q = skip_string(p, e);
            memcpy(o, p, (size_t)(q - p));
            o += q - p;
            p = q;
        } else if (is_ws(*p)) {
            p++;
        } else {
            *o++ = *p++;
        }
    }
    buf_commit(b, (size_t)(o - buf_tail(b)));
    return 0;
}

/* ==== Writers ==== */

int json_write_double(buf_t *b, double v)
{
    if (!isfinite(v)) return buf_append(b, "null", 4);
    char s[40];
    return buf_append(b, s, (size_t)shortest(s, v));
}

int json_write_float(buf_t *b, float v)
{
    if (!isfinite(v)) return buf_append(b, "null", 4);
    char s[FLOATFMT_MAX + 1];
    return buf_append(b, s, (size_t)floatfmt_shortest(s, v));
}
