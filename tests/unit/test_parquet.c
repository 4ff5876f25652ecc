/* Unit tests for codec/parquet: the file's frame (magic at both ends, the footer's length),
 * argument checks, and every codec and shape writing. `test_parquet --write DIR` writes the
 * files tests/integration/test_parquet_duckdb.py reads back with DuckDB, an independent reader,
 * comparing every value against the same formulas (row i's values are functions of i). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/parquet.h"
#include "th.h"

static const char *const TAGS[] = {"alpha",
                                   "\xce\xb2"
                                   "eta",
                                   "\xce\xb3\xce\xac\xce\xbc\xce\xbc\xce\xb1", "delta\"quote",
                                   "e,f g"};

/* The rows of one file: id INT64, u UINT64, x DOUBLE (null when i % 3 == 2, or always when
 * x_null), ok BOOL (null when i % 5 == 4), tag STRING (5 values: a dictionary), name STRING
 * (null when i % 7 == 6; every one different), t TIME_NS. */
typedef struct rows {
    int64_t n, *id, *t;
    uint64_t *u, *off_tag, *off_name;
    double *x;
    uint8_t *x_ok, *ok, *ok_ok, *name_ok;
    char *tag, *name;
} rows_t;

static void rows_make(rows_t *r, int64_t n, int x_null)
{
    r->n = n;
    r->id = malloc((size_t)n * 8), r->t = malloc((size_t)n * 8), r->u = malloc((size_t)n * 8);
    r->x = malloc((size_t)n * 8);
    r->x_ok = malloc((size_t)n), r->ok = malloc((size_t)n), r->ok_ok = malloc((size_t)n);
    r->name_ok = malloc((size_t)n);
    r->off_tag = malloc((size_t)(n + 1) * 8), r->off_name = malloc((size_t)(n + 1) * 8);
    r->tag = malloc((size_t)n * 24 + 1), r->name = malloc((size_t)n * 24 + 1);
    uint64_t at = 0, an = 0;
    r->off_tag[0] = r->off_name[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        r->id[i] = i * 1000003 - 5000000000;
        r->u[i] = (uint64_t)i * 0x9E3779B97F4A7C15ull;
        r->x[i] = (double)i * 0.25 - 3.5;
        r->x_ok[i] = !x_null && i % 3 != 2;
        r->ok[i] = i % 2 == 0;
        r->ok_ok[i] = i % 5 != 4;
        const char *tg = TAGS[i % 5];
        memcpy(r->tag + at, tg, strlen(tg));
        r->off_tag[i + 1] = at += strlen(tg);
        r->name_ok[i] = i % 7 != 6;
        an += (uint64_t)sprintf(r->name + an, "name-%lld", (long long)i);
        r->off_name[i + 1] = an;
        r->t[i] = 1700000000000000000 + i * 1000;
    }
}

static void rows_free(rows_t *r)
{
    free(r->id), free(r->t), free(r->u), free(r->x), free(r->x_ok), free(r->ok), free(r->ok_ok);
    free(r->name_ok), free(r->off_tag), free(r->off_name), free(r->tag), free(r->name);
}

static int encode(buf_t *b, const rows_t *r, const pq_options_t *o)
{
    pq_column_t c[] = {
        {.name = "id", .type = PQ_INT64, .values = r->id},
        {.name = "u", .type = PQ_UINT64, .values = r->u},
        {.name = "x", .type = PQ_DOUBLE, .valid = r->x_ok, .values = r->x},
        {.name = "ok", .type = PQ_BOOL, .valid = r->ok_ok, .values = r->ok},
        {.name = "tag", .type = PQ_STRING, .offsets = r->off_tag, .data = r->tag},
        {.name = "name",
         .type = PQ_STRING,
         .valid = r->name_ok,
         .offsets = r->off_name,
         .data = r->name},
        {.name = "t", .type = PQ_TIME_NS, .values = r->t},
    };
    char err[200];
    int rc = parquet_encode(b, c, 7, r->n, o, err, sizeof err);
    if (rc) fprintf(stderr, "parquet_encode: %s\n", err);
    return rc;
}

/* The files the DuckDB test reads: NAME ROWS X_NULL CODEC GROUP PAGE. */
static const struct spec {
    const char *name;
    int64_t n;
    int x_null;
    pq_codec_t codec;
    int64_t group, page;
} specs[] = {
    {"small", 10, 0, PQ_UNCOMPRESSED, 0, 0}, {"mid", 1000, 0, PQ_SNAPPY, 300, 64},
    {"big", 200000, 0, PQ_ZSTD, 0, 10000},   {"allnull", 50, 1, PQ_ZSTD, 0, 0},
    {"empty", 0, 0, PQ_UNCOMPRESSED, 0, 0},
};

static int write_all(const char *dir)
{
    static const char *const kv[] = {"inferd.test", "yes", "measurement", "cpu \xc3\xa9t\xc3\xa9",
                                     NULL};
    for (size_t s = 0; s < sizeof specs / sizeof *specs; s++) {
        rows_t r;
        rows_make(&r, specs[s].n, specs[s].x_null);
        buf_t b;
        buf_init(&b);
        pq_options_t o = {.codec = specs[s].codec,
                          .row_group_rows = specs[s].group,
                          .page_rows = specs[s].page,
                          .kv = kv};
        int rc = encode(&b, &r, &o);
        char path[512];
        snprintf(path, sizeof path, "%s/%s.parquet", dir, specs[s].name);
        FILE *f = rc ? NULL : fopen(path, "wb");
        if (!f || fwrite(b.data, 1, b.len, f) != b.len || fclose(f)) {
            perror(path);
            return 1;
        }
        buf_deinit(&b);
        rows_free(&r);
    }
    return 0;
}

static uint32_t le32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return u[0] | u[1] << 8 | u[2] << 16 | (uint32_t)u[3] << 24;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--write")) return write_all(argv[2]);
    /* The frame, for every codec. */
    for (int codec = 0; codec < 3; codec++) {
        rows_t r;
        rows_make(&r, 3000, 0);
        buf_t b;
        buf_init(&b);
        pq_options_t o = {.codec = codec == 0   ? PQ_UNCOMPRESSED
                                   : codec == 1 ? PQ_SNAPPY
                                                : PQ_ZSTD,
                          .row_group_rows = 1000,
                          .page_rows = 100};
        CHECK_EQ(encode(&b, &r, &o), 0);
        CHECK(b.len > 12 && !memcmp(b.data, "PAR1", 4) && !memcmp(b.data + b.len - 4, "PAR1", 4));
        uint32_t meta = le32(b.data + b.len - 8);
        CHECK(meta > 0 && meta < b.len - 12);
        buf_deinit(&b);
        rows_free(&r);
    }
    /* Bad arguments are refused, naming the problem. */
    char err[200];
    buf_t b;
    buf_init(&b);
    int64_t v[1] = {1};
    pq_column_t ok = {.name = "a", .type = PQ_INT64, .values = v};
    pq_column_t bad[] = {{.name = "", .type = PQ_INT64, .values = v},
                         {.name = "a", .type = PQ_STRING, .values = v},
                         {.name = "a", .type = (pq_type_t)99, .values = v},
                         {.name = "a", .type = PQ_DOUBLE}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK_EQ(parquet_encode(&b, &bad[i], 1, 1, NULL, err, sizeof err), -EINVAL);
        CHECK(strstr(err, "column 0") != NULL);
    }
    CHECK_EQ(parquet_encode(&b, &ok, 0, 1, NULL, err, sizeof err), -EINVAL);
    CHECK_EQ(
        parquet_encode(&b, &ok, 1, 1, &(pq_options_t){.codec = (pq_codec_t)2}, err, sizeof err),
        -EINVAL);
    CHECK(strstr(err, "codec") != NULL);
    CHECK_EQ(parquet_encode(&b, &ok, 1, 1, NULL, err, sizeof err), 0);
    buf_deinit(&b);
    return TH_DONE();
}
