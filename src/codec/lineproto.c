/* InfluxDB line protocol parser (lineproto.h). One pass per line: names without a backslash
 * point into the body; a name or string with escapes is copied, unescaped, into a scratch
 * buffer grown to the line's length before the line is read (an unescaped text is never longer
 * than its source), so pointers into it stay valid for the whole line. */
#include "codec/lineproto.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NUMBER 64 /* bytes of a float as written */

typedef struct lp {
    const char *p, *end; /* the rest of the current line */
    char *scratch;
    size_t cap, used;
    lp_tag_t *tags;
    lp_field_t *fields;
    int64_t lineno;
    char *err;
    size_t errlen;
} lp_t;

static int bad(lp_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(lp_t *l, const char *fmt, ...)
{
    int n = snprintf(l->err, l->errlen, "line %lld: ", (long long)l->lineno);
    if (n >= 0 && (size_t)n < l->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(l->err + n, l->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

/* Byte classes for names: which bytes end one (a measurement: comma, space; a tag key or value
 * or a field key: comma, equals, space) and which a backslash escapes (the same sets). A NUL
 * belongs to every set. One table lookup per byte: names are most of a body's bytes. */
enum { MEAS_STOP = 1, KEY_STOP = 2, MEAS_ESC = 4, KEY_ESC = 8 };
static const unsigned char name_class[256] = {
    [0] = 15, [','] = 15, [' '] = 15, ['='] = KEY_STOP | KEY_ESC};

/* Reads a name up to an unescaped byte of class stop (or the line's end); a backslash before a
 * byte of class esc stands for that byte, before anything else it is itself. */
static void read_name(lp_t *l, unsigned stop, unsigned esc, lp_str_t *out)
{
    const char *s = l->p;
    bool escaped = false;
    for (; l->p < l->end; l->p++) {
        unsigned char c = (unsigned char)*l->p;
        if (name_class[c] & stop) break;
        if (c == '\\' && l->p + 1 < l->end && (name_class[(unsigned char)l->p[1]] & esc)) {
            escaped = true;
            l->p++;
        }
    }
    if (!escaped) {
        *out = (lp_str_t){s, (size_t)(l->p - s)};
        return;
    }
    char *d = l->scratch + l->used;
    size_t n = 0;
    for (const char *c = s; c < l->p; c++) {
        if (*c == '\\' && c + 1 < l->p && (name_class[(unsigned char)c[1]] & esc)) c++;
        d[n++] = *c;
    }
    l->used += n;
    *out = (lp_str_t){d, n};
}

/* A double-quoted string at l->p (past the opening quote on return, then past the closing). */
static int read_string(lp_t *l, lp_str_t *out)
{
    const char *s = ++l->p;
    char *d = l->scratch + l->used;
    size_t n = 0;
    for (; l->p < l->end && *l->p != '"'; l->p++) {
        if (*l->p == '\\' && l->p + 1 < l->end && (l->p[1] == '"' || l->p[1] == '\\')) l->p++;
        d[n++] = *l->p;
    }
    if (l->p == l->end) return bad(l, "a string field value has no closing quote");
    l->p++;
    /* Without escapes the body's bytes serve as they are. */
    if (n == (size_t)(l->p - 1 - s)) {
        *out = (lp_str_t){s, n};
    } else {
        l->used += n;
        *out = (lp_str_t){d, n};
    }
    return 0;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Digits [p, e) as an unsigned value; false on overflow or a non-digit. */
static bool digits(const char *p, const char *e, uint64_t *out)
{
    uint64_t v = 0;
    if (p == e) return false;
    for (; p < e; p++) {
        if (!is_digit(*p) || v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10) return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return true;
}

/* An optionally negative integer in [p, e) that fits int64. */
static bool signed_int(const char *p, const char *e, int64_t *out)
{
    bool neg = p < e && *p == '-';
    uint64_t u;
    if (!digits(p + neg, e, &u) || u > (uint64_t)INT64_MAX + neg) return false;
    *out = neg ? (int64_t)(0 - u) : (int64_t)u;
    return true;
}

static bool same(const char *p, size_t n, const char *word)
{
    return strlen(word) == n && !memcmp(p, word, n);
}

/* Clinger's fast path: a decimal [-]digits[.digits][e[+-]digits] whose digits, leading zeros
 * aside, make an integer below 2^53 and whose power of ten is within 22 of zero is the exact
 * product or quotient of two doubles, rounded once: what strtod answers, at a fraction of its
 * cost (telemetry is mostly such numbers). False for anything else, which strtod then reads. */
static bool fast_float(const char *p, const char *e, double *out)
{
    static const double pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    bool neg = p < e && *p == '-';
    p += neg || (p < e && *p == '+');
    uint64_t m = 0;
    int exp10 = 0, digits = 0;
    bool any = false;
    for (; p < e && is_digit(*p); p++, any = true)
        if (m || *p != '0') m = m * 10 + (uint64_t)(*p - '0'), digits++;
    if (p < e && *p == '.') {
        for (p++; p < e && is_digit(*p); p++, any = true, exp10--)
            if (m || *p != '0') m = m * 10 + (uint64_t)(*p - '0'), digits++;
    }
    if (!any || digits > 15) return false;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = p < e && *p == '-';
        p += eneg || (p < e && *p == '+');
        int x = 0;
        if (p == e) return false;
        for (; p < e && is_digit(*p) && x < 1000; p++) x = x * 10 + (*p - '0');
        exp10 += eneg ? -x : x;
    }
    if (p != e || exp10 < -22 || exp10 > 22) return false;
    double v = (double)m;
    v = exp10 < 0 ? v / pow10[-exp10] : v * pow10[exp10];
    *out = neg ? -v : v;
    return true;
}

/* A field value that is not a string: [p, e). */
static int read_value(lp_t *l, const char *p, const char *e, const lp_str_t *key, lp_field_t *f)
{
    size_t n = (size_t)(e - p);
    if (!n) return bad(l, "field \"%.*s\" has no value", (int)(key->n < 64 ? key->n : 64), key->p);
    char last = e[-1];
    if (last == 'i' && signed_int(p, e - 1, &f->v.i)) return f->type = LP_INT, 0;
    if (last == 'u' && digits(p, e - 1, &f->v.u)) return f->type = LP_UINT, 0;
    if (same(p, n, "t") || same(p, n, "T") || same(p, n, "true") || same(p, n, "True") ||
        same(p, n, "TRUE"))
        return f->type = LP_BOOL, f->v.b = true, 0;
    if (same(p, n, "f") || same(p, n, "F") || same(p, n, "false") || same(p, n, "False") ||
        same(p, n, "FALSE"))
        return f->type = LP_BOOL, f->v.b = false, 0;
    /* A float: digits, one sign, a point, an exponent; strtod decides the rest (it would also
     * take hex, inf and nan, which these characters rule out). */
    bool digit = false, ok = n < MAX_NUMBER;
    for (const char *c = p; c < e && ok; c++) {
        digit |= is_digit(*c);
        ok = is_digit(*c) || *c == '.' || *c == '-' || *c == '+' || *c == 'e' || *c == 'E';
    }
    if (ok && digit && fast_float(p, e, &f->v.f)) return f->type = LP_FLOAT, 0;
    if (ok && digit) {
        char num[MAX_NUMBER], *stop;
        memcpy(num, p, n);
        num[n] = 0;
        f->v.f = strtod(num, &stop);
        if (stop == num + n && isfinite(f->v.f)) return f->type = LP_FLOAT, 0;
    }
    if (last == 'i' || last == 'u')
        return bad(l, "field \"%.*s\": %.*s is not a%s integer that fits 64 bits",
                   (int)(key->n < 64 ? key->n : 64), key->p, (int)(n < 40 ? n : 40), p,
                   last == 'u' ? "n unsigned" : "n");
    return bad(l, "field \"%.*s\": %.*s is not a number, a boolean or a quoted string",
               (int)(key->n < 64 ? key->n : 64), key->p, (int)(n < 40 ? n : 40), p);
}

static void skip_spaces(lp_t *l)
{
    while (l->p < l->end && *l->p == ' ') l->p++;
}

/* Parses the line [l->p, l->end) into line. */
static int parse_line(lp_t *l, lp_line_t *line)
{
    *line = (lp_line_t){.tags = l->tags, .fields = l->fields, .lineno = l->lineno};
    read_name(l, MEAS_STOP, MEAS_ESC, &line->measurement);
    if (!line->measurement.n) return bad(l, "no measurement");
    while (l->p < l->end && *l->p == ',') { /* tags */
        l->p++;
        if (line->ntags == LP_MAX_TAGS) return bad(l, "more than %d tags", LP_MAX_TAGS);
        lp_tag_t *t = &l->tags[line->ntags++];
        read_name(l, KEY_STOP, KEY_ESC, &t->key);
        if (!t->key.n || l->p == l->end || *l->p != '=')
            return bad(l, "a tag must be key=value with neither empty");
        l->p++;
        read_name(l, KEY_STOP, KEY_ESC, &t->value);
        if (!t->value.n || (l->p < l->end && *l->p == '='))
            return bad(l, "tag \"%.*s\" has no value (an = in a value is escaped as \\=)",
                       (int)(t->key.n < 64 ? t->key.n : 64), t->key.p);
    }
    if (l->p == l->end || *l->p != ' ')
        return bad(l, "no fields (measurement and tags, a space, then fields)");
    skip_spaces(l);
    for (;;) { /* fields */
        if (line->nfields == LP_MAX_FIELDS) return bad(l, "more than %d fields", LP_MAX_FIELDS);
        lp_field_t *f = &l->fields[line->nfields++];
        read_name(l, KEY_STOP, KEY_ESC, &f->key);
        if (!f->key.n || l->p == l->end || *l->p != '=')
            return bad(l, "a field must be key=value with neither empty");
        l->p++;
        if (l->p < l->end && *l->p == '"') {
            int e = read_string(l, &f->v.s);
            if (e) return e;
            f->type = LP_STRING;
        } else {
            const char *s = l->p;
            while (l->p < l->end && *l->p != ',' && *l->p != ' ') l->p++;
            int e = read_value(l, s, l->p, &f->key, f);
            if (e) return e;
        }
        if (l->p == l->end || *l->p == ' ') break;
        if (*l->p != ',')
            return bad(l, "after field \"%.*s\": a comma, a space or the line's end",
                       (int)(f->key.n < 64 ? f->key.n : 64), f->key.p);
        l->p++;
    }
    skip_spaces(l);
    if (l->p < l->end) { /* the timestamp */
        const char *s = l->p;
        while (l->p < l->end && *l->p != ' ') l->p++;
        if (!signed_int(s, l->p, &line->time))
            return bad(l, "the timestamp %.*s is not an integer that fits 64 bits",
                       (int)(l->p - s < 40 ? l->p - s : 40), s);
        line->has_time = true;
        skip_spaces(l);
        if (l->p < l->end) return bad(l, "something after the timestamp");
    }
    return 0;
}

int lp_parse(const char *body, size_t len, lp_line_fn fn, void *arg, char *err, size_t errlen)
{
    lp_t l = {.err = err, .errlen = errlen};
    l.tags = malloc(LP_MAX_TAGS * sizeof *l.tags);
    l.fields = malloc(LP_MAX_FIELDS * sizeof *l.fields);
    int rc = l.tags && l.fields ? 0 : -ENOMEM;
    const char *p = body, *end = body + len;
    while (!rc && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
        l.lineno++;
        l.p = p, l.end = e;
        p = nl ? nl + 1 : end;
        if (l.end > l.p && l.end[-1] == '\r') l.end--;
        while (l.p < l.end && (*l.p == ' ' || *l.p == '\t')) l.p++;
        if (l.p == l.end || *l.p == '#') continue;
        size_t need = (size_t)(l.end - l.p);
        if (need > l.cap) {
            char *s = realloc(l.scratch, need);
            if (!s) {
                rc = -ENOMEM;
                break;
            }
            l.scratch = s, l.cap = need;
        }
        l.used = 0;
        lp_line_t line;
        rc = parse_line(&l, &line);
        if (!rc) rc = fn(arg, &line);
    }
    if (rc == -ENOMEM) snprintf(err, errlen, "out of memory");
    free(l.scratch);
    free(l.tags);
    free(l.fields);
    return rc;
}
