/* Unit tests for codec/arcmsgpack: bodies packed with msgpack-c's packer in every shape Arc
 * takes (one map, an array, {"batch": [...]} mixing row and columnar maps), Arc's time-unit
 * guess, number widening in columns, nils, and each kind of bad body refused with its map
 * number. Each decoded map is rendered in one canonical line and compared. */
#include <errno.h>
#include <inttypes.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codec/arcmsgpack.h"
#include "th.h"

static int on_point(void *arg, const lp_line_t *l)
{
    th_text_t *o = arg;
    th_put(o, "P %.*s", (int)l->measurement.n, l->measurement.p);
    for (int i = 0; i < l->ntags; i++)
        th_put(o, " %.*s=%.*s", (int)l->tags[i].key.n, l->tags[i].key.p, (int)l->tags[i].value.n,
               l->tags[i].value.p);
    for (int i = 0; i < l->nfields; i++) {
        const lp_field_t *f = &l->fields[i];
        th_put(o, " %.*s:", (int)f->key.n, f->key.p);
        switch (f->type) {
        case LP_FLOAT: th_put(o, "f%g", f->v.f); break;
        case LP_INT: th_put(o, "i%" PRId64, f->v.i); break;
        case LP_UINT: th_put(o, "u%" PRIu64, f->v.u); break;
        case LP_BOOL: th_put(o, "b%d", f->v.b); break;
        default: th_put(o, "s%.*s", (int)f->v.s.n, f->v.s.p);
        }
    }
    if (l->has_time) th_put(o, " @%" PRId64, l->time);
    th_put(o, ";");
    return 0;
}

static int on_batch(void *arg, const am_batch_t *b)
{
    th_text_t *o = arg;
    th_put(o, "C %.*s rows=%lld", (int)b->measurement.n, b->measurement.p, (long long)b->rows);
    if (b->time)
        for (int64_t r = 0; r < b->rows; r++) th_put(o, " @%" PRId64, b->time[r]);
    for (int c = 0; c < b->ncols; c++) {
        const am_column_t *col = &b->cols[c];
        th_put(o, " %.*s:%c[", (int)col->name.n, col->name.p, "fiubs"[col->type]);
        for (int64_t r = 0; r < b->rows; r++) {
            if (r) th_put(o, ",");
            if (col->valid && !col->valid[r]) {
                th_put(o, "-");
                continue;
            }
            switch (col->type) {
            case LP_FLOAT: th_put(o, "%g", col->v.f[r]); break;
            case LP_INT: th_put(o, "%" PRId64, col->v.i[r]); break;
            case LP_UINT: th_put(o, "%" PRIu64, col->v.u[r]); break;
            case LP_BOOL: th_put(o, "%d", col->v.b[r]); break;
            default: th_put(o, "%.*s", (int)col->v.s[r].n, col->v.s[r].p);
            }
        }
        th_put(o, "]");
    }
    th_put(o, ";");
    return 0;
}

static msgpack_sbuffer sb;
static msgpack_packer pk;

static void str(const char *s)
{
    msgpack_pack_str(&pk, strlen(s));
    msgpack_pack_str_body(&pk, s, strlen(s));
}

static void start(void)
{
    msgpack_sbuffer_clear(&sb);
}

static void check(const char *want)
{
    th_text_t o = {0};
    char err[256] = "";
    am_sink_t sink = {on_point, on_batch, &o};
    int rc = am_decode(sb.data, sb.size, &sink, err, sizeof err);
    if (rc || strcmp(o.s, want))
        fprintf(stderr, "got  <%s> (%d %s)\nwant <%s>\n", o.s, rc, err, want);
    CHECK_EQ(rc, 0);
    CHECK(!strcmp(o.s, want));
}

static void refused(const char *says)
{
    th_text_t o = {0};
    char err[256] = "";
    am_sink_t sink = {on_point, on_batch, &o};
    int rc = am_decode(sb.data, sb.size, &sink, err, sizeof err);
    if (rc != -EINVAL || !strstr(err, says)) fprintf(stderr, "%d <%s>, want <%s>\n", rc, err, says);
    CHECK_EQ(rc, -EINVAL);
    CHECK(strstr(err, says) != NULL);
}

/* A row map: m, t (or none when t == 0), h, one tag, the fields given as "f". */
static void row(const char *m, int64_t t, const char *host)
{
    msgpack_pack_map(&pk, 3 + (t != 0) + (host != NULL));
    str("m"), str(m);
    if (t) str("t"), msgpack_pack_int64(&pk, t);
    if (host) str("h"), str(host);
    str("tags"), msgpack_pack_map(&pk, 1), str("region"), str("eu\xe2\x82\xac");
    str("f"), msgpack_pack_map(&pk, 6);
    str("a"), msgpack_pack_double(&pk, 0.5);
    str("b"), msgpack_pack_int64(&pk, -3);
    str("c"), msgpack_pack_uint64(&pk, 18446744073709551615ull);
    str("d"), msgpack_pack_true(&pk);
    str("e"), str("x y");
    str("z"), msgpack_pack_nil(&pk); /* a nil field is absent */
}

/* `test_arcmsgpack --decode FILE`: prints FILE's maps as the checks here render them, or the
 * error (tests/integration/test_arcmsgpack_npm.py feeds it bodies npm's @msgpack/msgpack made). */
static int decode_file(const char *path)
{
    static char body[1 << 20];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(body, 1, sizeof body, f) : 0;
    if (f) fclose(f);
    th_text_t o = {0};
    char err[256] = "";
    am_sink_t sink = {on_point, on_batch, &o};
    int rc = am_decode(body, n, &sink, err, sizeof err);
    printf("%s\n", rc ? err : o.s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--decode")) return decode_file(argv[2]);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

    /* Arc's unit guess. */
    CHECK_EQ(am_time_ns(1700000000), 1700000000000000000);
    CHECK_EQ(am_time_ns(1700000000123), 1700000000123000000);
    CHECK_EQ(am_time_ns(1700000000123456), 1700000000123456000);
    CHECK_EQ(am_time_ns(1700000000123456789), 1700000000123456789);
    CHECK_EQ(am_time_ns(-5), -5000000000);

    /* One row map; the same in an array and in a batch beside a columnar map. */
    start();
    row("cpu", 1700000000, "h1");
    const char *one = "P cpu host=h1 region=eu\xe2\x82\xac a:f0.5 b:i-3 c:u18446744073709551615 "
                      "d:b1 e:sx y @1700000000000000000;";
    check(one);
    start();
    msgpack_pack_array(&pk, 2);
    row("cpu", 1700000000, "h1");
    row("mem", 0, NULL);
    check("P cpu host=h1 region=eu\xe2\x82\xac a:f0.5 b:i-3 c:u18446744073709551615 d:b1 e:sx y "
          "@1700000000000000000;P mem region=eu\xe2\x82\xac a:f0.5 b:i-3 "
          "c:u18446744073709551615 d:b1 e:sx y;");
    /* Columnar, in a batch after a row: numbers widen (an int among floats is a float, a uint64
     * above int64 makes the column unsigned), nils are nulls, times in ms. */
    start();
    msgpack_pack_map(&pk, 1);
    str("batch"), msgpack_pack_array(&pk, 2);
    row("cpu", 0, NULL);
    msgpack_pack_map(&pk, 2);
    str("m"), str("disk");
    str("columns"), msgpack_pack_map(&pk, 6);
    str("time"), msgpack_pack_array(&pk, 3);
    msgpack_pack_int64(&pk, 1700000000001), msgpack_pack_int64(&pk, 1700000000002);
    msgpack_pack_int64(&pk, 1700000000003);
    str("used"), msgpack_pack_array(&pk, 3);
    msgpack_pack_double(&pk, 0.25), msgpack_pack_int64(&pk, 2), msgpack_pack_nil(&pk);
    str("n"), msgpack_pack_array(&pk, 3);
    msgpack_pack_int64(&pk, -1), msgpack_pack_int64(&pk, 7), msgpack_pack_int64(&pk, 8);
    str("big"), msgpack_pack_array(&pk, 3);
    msgpack_pack_uint64(&pk, 1), msgpack_pack_uint64(&pk, 9223372036854775808ull);
    msgpack_pack_nil(&pk);
    str("ok"), msgpack_pack_array(&pk, 3);
    msgpack_pack_false(&pk), msgpack_pack_true(&pk), msgpack_pack_nil(&pk);
    str("dev"), msgpack_pack_array(&pk, 3);
    str("sda"), str("sdb"), str("");
    check("P cpu region=eu\xe2\x82\xac a:f0.5 b:i-3 c:u18446744073709551615 d:b1 e:sx y;"
          "C disk rows=3 @1700000000001000000 @1700000000002000000 @1700000000003000000 "
          "used:f[0.25,2,-] n:i[-1,7,8] big:u[1,9223372036854775808,-] ok:b[0,1,-] "
          "dev:s[sda,sdb,];");
    /* "fields" works as "f" does; no time at all. */
    start();
    msgpack_pack_map(&pk, 2);
    str("m"), str("x");
    str("fields"), msgpack_pack_map(&pk, 1), str("v"), msgpack_pack_int64(&pk, 1);
    check("P x v:i1;");

    /* Refused, naming the map. */
    start();
    msgpack_pack_array(&pk, 2);
    row("cpu", 0, NULL);
    msgpack_pack_map(&pk, 1), str("m"), str("x");
    refused("map 2: a row needs \"fields\"");
    start();
    msgpack_pack_map(&pk, 2), str("m"), msgpack_pack_int64(&pk, 3), str("f");
    msgpack_pack_map(&pk, 1), str("v"), msgpack_pack_int64(&pk, 1);
    refused("map 1: \"m\" (the measurement) must be a non-empty string");
    start();
    msgpack_pack_map(&pk, 2), str("m"), str("x"), str("columns"), msgpack_pack_map(&pk, 2);
    str("a"), msgpack_pack_array(&pk, 2), msgpack_pack_int64(&pk, 1), msgpack_pack_int64(&pk, 2);
    str("b"), msgpack_pack_array(&pk, 1), msgpack_pack_int64(&pk, 1);
    refused("column \"b\" has 1 values, the columns before it 2");
    start();
    msgpack_pack_map(&pk, 2), str("m"), str("x"), str("columns"), msgpack_pack_map(&pk, 1);
    str("a"), msgpack_pack_array(&pk, 2), msgpack_pack_int64(&pk, 1), str("s");
    refused("column \"a\" mixes types");
    start();
    msgpack_pack_map(&pk, 2), str("m"), str("x"), str("columns"), msgpack_pack_map(&pk, 1);
    str("a"), msgpack_pack_array(&pk, 2), msgpack_pack_int64(&pk, -1);
    msgpack_pack_uint64(&pk, 18446744073709551615ull);
    refused("column \"a\" mixes types");
    start();
    msgpack_pack_map(&pk, 2), str("m"), str("x"), str("f"), msgpack_pack_map(&pk, 1);
    str("v"), msgpack_pack_array(&pk, 0);
    refused("field \"v\" must be a number");
    start();
    msgpack_pack_map(&pk, 3), str("m"), str("x"), str("t"), str("now"), str("f");
    msgpack_pack_map(&pk, 1), str("v"), msgpack_pack_int64(&pk, 1);
    refused("\"t\" must be an integer time");
    start();
    msgpack_pack_int64(&pk, 5);
    refused("the body must be a map");
    start();
    row("cpu", 0, NULL);
    msgpack_pack_int64(&pk, 5); /* bytes after the value */
    refused("bytes follow it");
    start();
    refused("not one MessagePack value"); /* empty */
    /* Six bytes declaring a map of 67 million entries: refused before msgpack-c allocates. */
    start();
    msgpack_sbuffer_write(&sb, "\xdf\x03\xff\xcb\x63\xcb", 6);
    refused("declares more than it holds (offset 0");
    start();
    msgpack_pack_array(&pk, 1), msgpack_pack_str(&pk, 1000), msgpack_pack_str_body(&pk, "ab", 2);
    refused("declares more than it holds (offset 1");
    msgpack_sbuffer_destroy(&sb);
    return TH_DONE();
}
