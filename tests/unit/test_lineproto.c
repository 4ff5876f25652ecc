/* Unit tests for codec/lineproto: every field type, InfluxDB's escaping rules (the examples of
 * its line-protocol reference), comments and blank lines, timestamps, and each kind of bad line
 * refused with its line number. Each case renders what the parser saw in one canonical form:
 * measurement|tag=value...|key:type:value...|time. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/lineproto.h"
#include "th.h"

static int render(void *arg, const lp_line_t *l)
{
    th_text_t *o = arg;
    if (o->n) th_put(o, "\n");
    th_put(o, "%.*s", (int)l->measurement.n, l->measurement.p);
    for (int i = 0; i < l->ntags; i++)
        th_put(o, "|%.*s=%.*s", (int)l->tags[i].key.n, l->tags[i].key.p, (int)l->tags[i].value.n,
               l->tags[i].value.p);
    for (int i = 0; i < l->nfields; i++) {
        const lp_field_t *f = &l->fields[i];
        th_put(o, "|%.*s:", (int)f->key.n, f->key.p);
        switch (f->type) {
        case LP_FLOAT: th_put(o, "f:%.17g", f->v.f); break;
        case LP_INT: th_put(o, "i:%" PRId64, f->v.i); break;
        case LP_UINT: th_put(o, "u:%" PRIu64, f->v.u); break;
        case LP_BOOL: th_put(o, "b:%d", f->v.b); break;
        default: th_put(o, "s:%.*s", (int)f->v.s.n, f->v.s.p);
        }
    }
    if (l->has_time) th_put(o, "|@%" PRId64, l->time);
    th_put(o, "#%lld", (long long)l->lineno);
    return 0;
}

static void good(const char *in, const char *want)
{
    th_text_t o = {0};
    char err[256] = "";
    int rc = lp_parse(in, strlen(in), render, &o, err, sizeof err);
    if (rc || strcmp(o.s, want))
        fprintf(stderr, "input <%s>\n  got  <%s> (%d %s)\n  want <%s>\n", in, o.s, rc, err, want);
    CHECK_EQ(rc, 0);
    CHECK(!strcmp(o.s, want));
}

static void refused(const char *in, const char *says)
{
    th_text_t o = {0};
    char err[256] = "";
    int rc = lp_parse(in, strlen(in), render, &o, err, sizeof err);
    if (rc != -EINVAL || !strstr(err, says))
        fprintf(stderr, "input <%s>: %d <%s>, want <%s>\n", in, rc, err, says);
    CHECK_EQ(rc, -EINVAL);
    CHECK(strstr(err, says) != NULL);
}

static int stop_at_two(void *arg, const lp_line_t *l)
{
    (*(int *)arg)++;
    return l->lineno == 2 ? 42 : 0;
}

static int take_float(void *arg, const lp_line_t *l)
{
    *(double *)arg = l->fields[0].type == LP_FLOAT ? l->fields[0].v.f : NAN;
    return 0;
}

/* The parser reads simple decimals itself (a fast path) and the rest with strtod: both must give
 * strtod's double, bit for bit, for every shape of number. */
static void floats_match_strtod(void)
{
    uint64_t seed = 88172645463325252u;
    int mismatches = 0;
    for (int i = 0; i < 300000; i++) {
        char num[64], line[80];
        int n = 0;
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        if (seed & 1) num[n++] = '-';
        int digits = 1 + (int)((seed >> 8) % 19),
            point = (int)((seed >> 16) % (uint64_t)(digits + 2));
        for (int d = 0; d < digits; d++) {
            if (d == point) num[n++] = '.';
            seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
            num[n++] = (char)('0' + (d == 0 && (seed & 3) ? 0 : seed % 10));
        }
        if ((seed >> 24) % 3 == 0)
            n += snprintf(num + n, sizeof num - (size_t)n, "e%d", (int)((seed >> 32) % 61) - 30);
        num[n] = 0;
        snprintf(line, sizeof line, "m f=%s", num);
        double got = NAN, want = strtod(num, NULL);
        char err[128];
        if (lp_parse(line, strlen(line), take_float, &got, err, sizeof err) != 0) continue;
        if (memcmp(&got, &want, sizeof got) != 0 && mismatches++ < 5)
            printf("%s: parsed %.17g, strtod %.17g\n", num, got, want);
    }
    CHECK_EQ(mismatches, 0);
}

int main(void)
{
    floats_match_strtod();
    /* Types. */
    good("m f=1", "m|f:f:1#1");
    good("m f=-1.5e3,g=.5,h=1.", "m|f:f:-1500|g:f:0.5|h:f:1#1");
    good("m i=-9223372036854775808i,j=9223372036854775807i",
         "m|i:i:-9223372036854775808|j:i:9223372036854775807#1");
    good("m u=18446744073709551615u", "m|u:u:18446744073709551615#1");
    good("m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE",
         "m|a:b:1|b:b:1|c:b:1|d:b:1|e:b:1|f:b:0|g:b:0|h:b:0|i:b:0|j:b:0#1");
    good("m s=\"hello world, a=b\"", "m|s:s:hello world, a=b#1");
    good("m s=\"\"", "m|s:s:#1");
    /* Escapes, as InfluxDB's reference gives them. */
    good("my\\ measurement,tag\\ key=tag\\ value field\\ key=\"string value\"",
         "my measurement|tag key=tag value|field key:s:string value#1");
    good("m\\,x,t\\,k=v\\,w,k\\=y=v\\=z f\\=g=1", "m,x|t,k=v,w|k=y=v=z|f=g:f:1#1");
    good("m s=\"a \\\"quoted\\\" \\\\ back\\slash\"", "m|s:s:a \"quoted\" \\ back\\slash#1");
    good("m\\=x,t=a\\b f=1", "m\\=x|t=a\\b|f:f:1#1"); /* other backslashes are themselves */
    good("caf\xc3\xa9,lieu=Z\xc3\xbcrich f=1", "caf\xc3\xa9|lieu=Z\xc3\xbcrich|f:f:1#1");
    /* Timestamps, spaces, line ends, comments. */
    good("m,t=1 f=1 1465839830100400200", "m|t=1|f:f:1|@1465839830100400200#1");
    good("m f=1 -5", "m|f:f:1|@-5#1");
    good("m f=1  7  ", "m|f:f:1|@7#1");
    good("# a comment\n\n  m f=1\r\n\tn g=2i\n", "m|f:f:1#3\nn|g:i:2#4");
    good("", "");
    /* Bad lines name their line. */
    refused("m f=1\nm", "line 2: no fields");
    refused("m f=1\n\nm,t f=1", "line 3: a tag must be key=value");
    refused(",t=1 f=1", "no measurement");
    refused("m,t= f=1", "tag \"t\" has no value");
    refused("m,t=a=b f=1", "tag \"t\" has no value");
    refused("m f", "a field must be key=value");
    refused("m =1", "a field must be key=value");
    refused("m f=", "field \"f\" has no value");
    refused("m f=1,", "a field must be key=value");
    refused("m f=abc", "field \"f\": abc is not a number");
    refused("m f=1.5i", "not an integer");
    refused("m f=-1u", "not an unsigned integer");
    refused("m f=9223372036854775808i", "not an integer that fits 64 bits");
    refused("m f=18446744073709551616u", "fits 64 bits");
    refused("m f=nan", "not a number");
    refused("m f=inf", "not a number");
    refused("m f=1e999", "not a number");
    refused("m f=0x10", "not a number");
    refused("m f=\"open", "no closing quote");
    refused("m f=\"a\"b", "after field \"f\"");
    refused("m f=1 12x", "the timestamp 12x");
    refused("m f=1 1 2", "after the timestamp");
    /* The callback's answer stops the parse and is returned. */
    int calls = 0;
    char err[64];
    const char *three = "m f=1\nm f=2\nm f=3";
    CHECK_EQ(lp_parse(three, strlen(three), stop_at_two, &calls, err, sizeof err), 42);
    CHECK_EQ(calls, 2);
    return TH_DONE();
}
