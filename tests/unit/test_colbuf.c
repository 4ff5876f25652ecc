/* Unit tests for ingest/colbuf: points padded with nulls where they lack a column, the last of
 * two values for one name kept, a failed append leaving the buffer exactly as it was (type
 * clashes, the reserved "time", too many columns), columnar batches with nulls and strings,
 * merges that widen the schema and shift string offsets, merge checks, gathers by index, and
 * the Parquet description (validity only where a null exists). Each buffer is checked through
 * one rendering of its rows: time|name=value,... with nulls left out. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "ingest/colbuf.h"
#include "th.h"

static lp_str_t S(const char *s)
{
    return (lp_str_t){s, strlen(s)};
}

/* Renders every row of b (padding it first). */
static const char *dump(colbuf_t *b)
{
    static char out[8192];
    size_t n = 0;
    pq_column_t cols[COLBUF_MAX_COLUMNS + 1];
    int nc = colbuf_pq_columns(b, cols);
    out[0] = 0;
    for (int64_t r = 0; r < b->rows; r++) {
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%lld", r ? "\n" : "",
                              (long long)b->time[r]);
        for (int c = 1; c < nc; c++) {
            const pq_column_t *p = &cols[c];
            if (p->valid && !p->valid[r]) continue;
            n += (size_t)snprintf(out + n, sizeof out - n, "|%s=", p->name);
            switch (p->type) {
            case PQ_DOUBLE:
                n +=
                    (size_t)snprintf(out + n, sizeof out - n, "%g", ((const double *)p->values)[r]);
                break;
            case PQ_INT64:
                n += (size_t)snprintf(out + n, sizeof out - n, "%lldi",
                                      (long long)((const int64_t *)p->values)[r]);
                break;
            case PQ_UINT64:
                n += (size_t)snprintf(out + n, sizeof out - n, "%lluu",
                                      (unsigned long long)((const uint64_t *)p->values)[r]);
                break;
            case PQ_BOOL:
                n += (size_t)snprintf(out + n, sizeof out - n, "%s",
                                      ((const uint8_t *)p->values)[r] ? "T" : "F");
                break;
            default:
                n += (size_t)snprintf(out + n, sizeof out - n, "\"%.*s\"",
                                      (int)(p->offsets[r + 1] - p->offsets[r]),
                                      p->data + p->offsets[r]);
            }
        }
    }
    return out;
}

typedef struct pt {
    lp_tag_t tags[4];
    lp_field_t fields[4];
    lp_line_t line;
} pt_t;

/* A point of up to 4 tags ("k=v") and 4 fields ("k" with a type and value), NULL-terminated
 * lists of specs: "Tk=v" for a tag, "Fk:f:1.5", "Fk:i:3", "Fk:u:3", "Fk:b:1", "Fk:s:text". */
static const lp_line_t *point(pt_t *p, ...)
{
    va_list ap;
    va_start(ap, p);
    memset(p, 0, sizeof *p);
    static char keep[64][64];
    static int nk;
    for (const char *s; (s = va_arg(ap, const char *));) {
        char *c = keep[nk++ % 64];
        snprintf(c, 64, "%s", s + 1);
        if (s[0] == 'T') {
            char *eq = strchr(c, '=');
            *eq = 0;
            p->tags[p->line.ntags++] = (lp_tag_t){S(c), S(eq + 1)};
            continue;
        }
        char *k = c, *t = strchr(c, ':'), *v = t + 3;
        *t = 0;
        lp_field_t *f = &p->fields[p->line.nfields++];
        f->key = S(k);
        switch (t[1]) {
        case 'f': f->type = LP_FLOAT, f->v.f = strtod(v, NULL); break;
        case 'i': f->type = LP_INT, f->v.i = strtoll(v, NULL, 10); break;
        case 'u': f->type = LP_UINT, f->v.u = strtoull(v, NULL, 10); break;
        case 'b': f->type = LP_BOOL, f->v.b = v[0] == '1'; break;
        default: f->type = LP_STRING, f->v.s = S(v);
        }
    }
    va_end(ap);
    p->line.measurement = S("m");
    p->line.tags = p->tags;
    p->line.fields = p->fields;
    return &p->line;
}

static void test_points(void)
{
    colbuf_t b;
    colbuf_init(&b);
    pt_t p;
    char err[200];
    CHECK_EQ(colbuf_append_point(&b, point(&p, "Th=a", "Fv:f:1.5", "Fn:i:-3", NULL), 10, err,
                                 sizeof err),
             0);
    CHECK_EQ(colbuf_append_point(&b, point(&p, "Fv:f:2", "Fs:s:x y", NULL), 11, err, sizeof err),
             0);
    /* The same name twice in a point: the last value stays. */
    CHECK_EQ(colbuf_append_point(&b, point(&p, "Th=b", "Fs:s:first", "Fs:s:second", "Fu:u:7", NULL),
                                 12, err, sizeof err),
             0);
    CHECK_EQ(colbuf_append_point(&b, point(&p, "Fok:b:1", NULL), 13, err, sizeof err), 0);
    const char *want = "10|h=\"a\"|v=1.5|n=-3i\n"
                       "11|v=2|s=\"x y\"\n"
                       "12|h=\"b\"|s=\"second\"|u=7u\n"
                       "13|ok=T";
    CHECK_STR(dump(&b), want);
    CHECK_EQ(b.tmin, 10);
    CHECK_EQ(b.tmax, 13);
    /* Refused appends change nothing: a clash after a value was already put, a clash between a
     * tag and a field of one name, the time column's name. */
    CHECK(colbuf_append_point(&b, point(&p, "Th=c", "Fs:s:kept?", "Fv:i:1", NULL), 14, err,
                              sizeof err) < 0);
    CHECK(strstr(err, "field \"v\" is integer here, float in earlier rows") != NULL);
    CHECK(colbuf_append_point(&b, point(&p, "Tnew=1", "Fnew:i:1", NULL), 14, err, sizeof err) < 0);
    CHECK(colbuf_append_point(&b, point(&p, "Ftime:i:1", NULL), 14, err, sizeof err) < 0);
    CHECK(strstr(err, "time column") != NULL);
    /* Parquet strings are UTF-8: a tag, a string field or a name that is not is refused. */
    CHECK(colbuf_append_point(&b, point(&p, "Th=\xff", NULL), 14, err, sizeof err) < 0);
    CHECK(strstr(err, "the value of tag \"h\" is not UTF-8") != NULL);
    CHECK(colbuf_append_point(&b, point(&p, "Fs:s:\xc3(", NULL), 14, err, sizeof err) < 0);
    CHECK(colbuf_append_point(&b, point(&p, "F\xe2\x82:i:1", NULL), 14, err, sizeof err) < 0);
    CHECK_EQ(b.rows, 4);
    CHECK_EQ(b.ncols, 6);
    CHECK_STR(dump(&b), want);
    /* Still usable after the refusals. */
    CHECK_EQ(colbuf_append_point(&b, point(&p, "Th=d", NULL), 15, err, sizeof err), 0);
    CHECK(strstr(dump(&b), "\n15|h=\"d\"") != NULL);
    colbuf_free(&b);
}

static void test_too_many_columns(void)
{
    colbuf_t b;
    colbuf_init(&b);
    char err[200], names[COLBUF_MAX_COLUMNS + 1][8];
    lp_field_t f = {.type = LP_INT};
    lp_line_t l = {.measurement = S("m"), .fields = &f, .nfields = 1};
    for (int i = 0; i <= COLBUF_MAX_COLUMNS; i++) {
        snprintf(names[i], sizeof names[i], "c%d", i);
        f.key = S(names[i]);
        int rc = colbuf_append_point(&b, &l, i, err, sizeof err);
        CHECK_EQ(rc, i < COLBUF_MAX_COLUMNS ? 0 : -EINVAL);
    }
    CHECK(strstr(err, "columns") != NULL);
    CHECK_EQ(b.ncols, COLBUF_MAX_COLUMNS);
    CHECK_EQ(b.rows, COLBUF_MAX_COLUMNS);
    colbuf_free(&b);
}

static void test_batches_merge_gather(void)
{
    int64_t t[3] = {100, 101, 102};
    double f[3] = {0.5, 1.5, 2.5};
    uint8_t valid[3] = {1, 0, 1};
    lp_str_t s[3] = {S("aa"), S(""), S("ccc")};
    am_column_t cols[2] = {{.name = S("f"), .type = LP_FLOAT, .v.f = f},
                           {.name = S("s"), .type = LP_STRING, .valid = valid, .v.s = s}};
    am_batch_t a = {.measurement = S("m"), .rows = 3, .time = t, .cols = cols, .ncols = 2};
    colbuf_t x, y;
    colbuf_init(&x);
    colbuf_init(&y);
    char err[200];
    CHECK_EQ(colbuf_append_batch(&x, &a, 0, err, sizeof err), 0);
    CHECK_STR(dump(&x), "100|f=0.5|s=\"aa\"\n101|f=1.5\n102|f=2.5|s=\"ccc\"");
    /* No time column: the server's. A column given twice in one batch is refused whole. */
    a.time = NULL;
    CHECK_EQ(colbuf_append_batch(&y, &a, 7, err, sizeof err), 0);
    CHECK_STR(dump(&y), "7|f=0.5|s=\"aa\"\n7|f=1.5\n7|f=2.5|s=\"ccc\"");
    am_column_t twice[2] = {cols[0], cols[0]};
    am_batch_t bad = {.measurement = S("m"), .rows = 3, .cols = twice, .ncols = 2};
    CHECK(colbuf_append_batch(&y, &bad, 8, err, sizeof err) < 0);
    CHECK(strstr(err, "given twice") != NULL);
    CHECK_EQ(y.rows, 3);
    /* A bad string after a good column: nothing of the batch stays, null counts included. */
    colbuf_t z;
    colbuf_init(&z);
    CHECK_EQ(colbuf_append_batch(&z, &a, 7, err, sizeof err), 0);
    lp_str_t bads[3] = {S("ok"), S("\xff"), S("ok")};
    am_column_t mixed[2] = {{.name = S("g"), .type = LP_FLOAT, .v.f = f},
                            {.name = S("s"), .type = LP_STRING, .valid = valid, .v.s = bads}};
    bad = (am_batch_t){.measurement = S("m"), .rows = 3, .cols = mixed, .ncols = 2};
    CHECK_EQ(colbuf_append_batch(&z, &bad, 8, err, sizeof err), 0); /* row 1 is a null: fine */
    bads[0] = S("\xff");
    CHECK(colbuf_append_batch(&z, &bad, 9, err, sizeof err) < 0);
    CHECK(strstr(err, "a value of column \"s\" is not UTF-8") != NULL);
    CHECK_EQ(z.rows, 6);
    CHECK_EQ(z.cols[1].nulls, 2);
    CHECK_STR(dump(&z), "7|f=0.5|s=\"aa\"\n7|f=1.5\n7|f=2.5|s=\"ccc\"\n8|s=\"ok\"|g=0.5\n8|g=1.5\n"
                        "8|s=\"ok\"|g=2.5");
    colbuf_free(&z);

    /* Merge: y gets a new column from a point buffer; x's strings land after y's. */
    colbuf_t p;
    colbuf_init(&p);
    pt_t pt;
    CHECK_EQ(colbuf_append_point(&p, point(&pt, "Fs:s:zz", "Fn:i:4", NULL), 9, err, sizeof err), 0);
    CHECK_EQ(colbuf_check_merge(&y, &p, err, sizeof err), 0);
    CHECK_EQ(colbuf_merge(&y, &p), 0);
    CHECK_EQ(colbuf_merge(&y, &x), 0);
    const char *want = "7|f=0.5|s=\"aa\"\n7|f=1.5\n7|f=2.5|s=\"ccc\"\n9|s=\"zz\"|n=4i\n"
                       "100|f=0.5|s=\"aa\"\n101|f=1.5\n102|f=2.5|s=\"ccc\"";
    CHECK_STR(dump(&y), want);
    CHECK_EQ(y.tmin, 7);
    CHECK_EQ(y.tmax, 102);
    /* A clash is found before anything moves. */
    colbuf_t q;
    colbuf_init(&q);
    CHECK_EQ(colbuf_append_point(&q, point(&pt, "Ff:i:1", NULL), 1, err, sizeof err), 0);
    CHECK(colbuf_check_merge(&y, &q, err, sizeof err) < 0);
    CHECK(strstr(err, "field \"f\" is integer here, float in the rows buffered before") != NULL);
    /* Declare: the new names, empty, so that the next check sees them. */
    colbuf_t e;
    colbuf_init(&e);
    CHECK_EQ(colbuf_declare(&e, &q), 0);
    CHECK_EQ(e.ncols, 1);
    CHECK_EQ(e.rows, 0);
    CHECK(colbuf_check_merge(&e, &y, err, sizeof err) < 0);

    /* Gather rows 6, 3, 0 in that order. */
    colbuf_t g;
    colbuf_init(&g);
    int64_t idx[3] = {6, 3, 0};
    CHECK_EQ(colbuf_gather(&g, &y, idx, 3), 0);
    CHECK_STR(dump(&g), "102|f=2.5|s=\"ccc\"\n9|s=\"zz\"|n=4i\n7|f=0.5|s=\"aa\"");
    CHECK_EQ(g.tmin, 7);
    CHECK_EQ(g.tmax, 102);
    /* Parquet: a validity array only for columns that hold a null. */
    pq_column_t pc[4];
    CHECK_EQ(colbuf_pq_columns(&g, pc), 4);
    CHECK(pc[0].type == PQ_TIME_NS && !strcmp(pc[0].name, "time") && !pc[0].valid);
    CHECK(pc[1].type == PQ_DOUBLE && pc[1].valid != NULL);
    CHECK(pc[2].type == PQ_STRING && pc[2].valid == NULL);
    CHECK(pc[3].type == PQ_INT64 && pc[3].valid != NULL);
    CHECK(colbuf_bytes(&g) > 0);
    colbuf_t m;
    colbuf_move(&m, &g);
    CHECK_EQ(g.rows, 0);
    CHECK_EQ(m.rows, 3);
    colbuf_free(&m);
    colbuf_free(&e);
    colbuf_free(&q);
    colbuf_free(&p);
    colbuf_free(&x);
    colbuf_free(&y);
}

int main(void)
{
    test_points();
    test_too_many_columns();
    test_batches_merge_gather();
    return TH_DONE();
}
