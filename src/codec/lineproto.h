/* InfluxDB line protocol: one point per line,
 *
 *   measurement[,tag=value...] field=value[,field=value...] [timestamp]
 *
 * with InfluxDB's escaping: a backslash escapes a comma or a space in a measurement, and a
 * comma, an equals sign or a space in a tag key, tag value or field key; a string field value is
 * double-quoted, a backslash escaping a double quote or a backslash in it. Field values: float
 * (1, -1.5, 2e10), integer (12i), unsigned (12u), boolean (t, T, true, True, TRUE and the f
 * forms) or string. Lines end with \n (\r\n too); empty lines and lines starting with # are
 * skipped. The parser takes untrusted bytes (fuzzed: fuzz/fuzz_lineproto.c). */
#ifndef INFERD_CODEC_LINEPROTO_H
#define INFERD_CODEC_LINEPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LP_MAX_TAGS   256
#define LP_MAX_FIELDS 1024

typedef enum lp_type { LP_FLOAT, LP_INT, LP_UINT, LP_BOOL, LP_STRING } lp_type_t;

/* A name or string, unescaped: it points into the body or into the parser's scratch, valid
 * until the callback returns. May hold any bytes but a newline (NUL included). */
typedef struct lp_str {
    const char *p;
    size_t n;
} lp_str_t;

typedef struct lp_tag {
    lp_str_t key, value;
} lp_tag_t;

typedef struct lp_field {
    lp_str_t key;
    lp_type_t type;
    union {
        double f; /* finite */
        int64_t i;
        uint64_t u;
        bool b;
        lp_str_t s;
    } v;
} lp_field_t;

typedef struct lp_line {
    lp_str_t measurement;
    const lp_tag_t *tags;
    int ntags;
    const lp_field_t *fields;
    int nfields;
    bool has_time;
    int64_t time;   /* as written: the request's precision gives its unit */
    int64_t lineno; /* 1-based, counting every line of the body */
} lp_line_t;

/* Takes one parsed line; non-zero stops the parse, and lp_parse returns it. */
typedef int (*lp_line_fn)(void *arg, const lp_line_t *line);

/* Parses body[0..len) and calls fn for each point in order. 0, what fn returned, or -EINVAL
 * with "line N: <problem>" in err (nothing after that line is passed to fn; a caller that keeps
 * nothing of a bad body parses it twice, or buffers the points) or -ENOMEM. */
int lp_parse(const char *body, size_t len, lp_line_fn fn, void *arg, char *err, size_t errlen);

#endif
