/* libFuzzer target for codec/lineproto: any bytes either parse, every point holding a
 * measurement and at least one field, names without newlines and finite floats, or fail with
 * "line N: ..." naming a line that exists. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/lineproto.h"

#include "require.h"

typedef struct seen {
    int64_t lines, last;
} seen_t;

static void check_str(lp_str_t s)
{
    REQUIRE(s.n > 0 && memchr(s.p, '\n', s.n) == NULL);
}

static int check(void *arg, const lp_line_t *l)
{
    seen_t *s = arg;
    REQUIRE(l->lineno > s->last && l->lineno <= s->lines);
    s->last = l->lineno;
    check_str(l->measurement);
    REQUIRE(l->nfields >= 1 && l->nfields <= LP_MAX_FIELDS && l->ntags <= LP_MAX_TAGS);
    for (int i = 0; i < l->ntags; i++) check_str(l->tags[i].key), check_str(l->tags[i].value);
    for (int i = 0; i < l->nfields; i++) {
        check_str(l->fields[i].key);
        if (l->fields[i].type == LP_FLOAT) REQUIRE(isfinite(l->fields[i].v.f));
        if (l->fields[i].type == LP_STRING)
            REQUIRE(!l->fields[i].v.s.n || !memchr(l->fields[i].v.s.p, '\n', l->fields[i].v.s.n));
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    seen_t s = {.lines = 1};
    for (size_t i = 0; i < size; i++) s.lines += data[i] == '\n';
    char err[256] = "";
    int rc = lp_parse((const char *)data, size, check, &s, err, sizeof err);
    if (rc) {
        REQUIRE(rc == -EINVAL && !strncmp(err, "line ", 5));
        REQUIRE(atoll(err + 5) >= 1 && atoll(err + 5) <= s.lines);
    }
    return 0;
}
