/* Unit tests for src/index and src/codec/vecs.c: the top-k heap against a full sort (ties
 * included), flat search against the scalar oracle for every metric, argument checks, the file
 * format (round trip, and every kind of damage refused with its reason), and the .fvecs/.npy
 * parsers. tests/integration/test_index_cli.py checks search results against NumPy. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "codec/vecs.h"
#include "index/format.h"
#include "index/index.h"
#include "index/index_impl.h"
#include "kern/vec.h"
#include "util/crc32c.h"
#include "th.h"

static char dir[256];

static uint64_t rng = 88172645463325252ull;
static float frand(void)
{
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2 - 1;
}

typedef struct pair {
    double d;
    int64_t id;
} pair_t;

static int cmp_pair(const void *a, const void *b)
{
    const pair_t *x = a, *y = b;
    if (x->d != y->d) return x->d < y->d ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* The heap keeps the k smallest (distance, id) pairs, in order, whatever the offer order. */
static void test_topk(void)
{
    enum { N = 500 };
    static pair_t all[N];
    float dist[64];
    int64_t id[64];
    for (int round = 0; round < 50; round++) {
        int k = 1 + round % 40;
        topk_t t = {.k = k, .dist = dist, .id = id};
        for (int i = 0; i < N; i++) {
            float d = (float)(int)(frand() * 20); /* many ties */
            all[i] = (pair_t){d, (int64_t)((i * 7919) % N)};
            topk_push(&t, d, all[i].id);
        }
        topk_sort(&t);
        qsort(all, N, sizeof *all, cmp_pair);
        int bad = t.n != k;
        for (int i = 0; i < t.n; i++) bad += t.dist[i] != (float)all[i].d || t.id[i] != all[i].id;
        CHECK_EQ(bad, 0);
    }
}

static double ref_dist(idx_metric_t m, const float *a, const float *b, int dim)
{
    if (m == IDX_L2) return kern_l2sq_ref(a, b, dim);
    if (m == IDX_IP) return 1 - kern_dot_ref(a, b, dim);
    return kern_cosine_dist_ref(a, b, dim);
}

/* Flat search returns what a sort of the oracle's distances gives (ids compared as sets where
 * distances are too close for float rounding to order them alike). */
static void test_flat_matches_oracle(void)
{
    enum { N = 3000, DIM = 37, Q = 20 };
    static float v[N * DIM], q[Q * DIM];
    static pair_t want[N];
    for (int i = 0; i < N * DIM; i++) v[i] = frand();
    for (int i = 0; i < Q * DIM; i++) q[i] = frand() * 3;
    for (int m = IDX_L2; m <= IDX_COS; m++) {
        char err[256];
        idx_t *x = idx_new(&(idx_params_t){.type = IDX_FLAT, .metric = (idx_metric_t)m, .dim = DIM},
                           err, sizeof err);
        CHECK(x != NULL);
        if (!x) continue;
        static int64_t ids[N];
        for (int i = 0; i < N; i++) ids[i] = 1000 + i * 3;
        CHECK_EQ(idx_add(x, v, ids, N / 2, err, sizeof err), 0);
        CHECK_EQ(idx_add(x, v + (N / 2) * DIM, ids + N / 2, N - N / 2, err, sizeof err), 0);
        int bad = 0;
        for (int j = 0; j < Q; j++) {
            for (int i = 0; i < N; i++)
                want[i] =
                    (pair_t){ref_dist((idx_metric_t)m, q + j * DIM, v + i * DIM, DIM), ids[i]};
            qsort(want, N, sizeof *want, cmp_pair);
            int64_t got[10];
            float gd[10];
            int r = idx_search(x, q + j * DIM, 10, NULL, got, gd);
            bad += r != 10;
            for (int i = 0; i < r; i++) {
                if (got[i] == want[i].id) continue;
                /* Accept a swap of near-equal distances only. */
                bad += fabs(want[i].d - (double)gd[i]) > 1e-4 * (1 + fabs(want[i].d));
            }
            for (int i = 1; i < r; i++) bad += gd[i] < gd[i - 1];
            bad += fabs((double)gd[0] - want[0].d) > 1e-4 * (1 + fabs(want[0].d));
        }
        CHECK_EQ(bad, 0);
        idx_free(x);
    }
}

static void test_arguments(void)
{
    char err[256];
    CHECK(idx_new(&(idx_params_t){.type = IDX_FLAT, .metric = IDX_L2, .dim = 0}, err, sizeof err) ==
          NULL);
    CHECK(idx_new(&(idx_params_t){.type = IDX_FLAT, .metric = (idx_metric_t)7, .dim = 4}, err,
                  sizeof err) == NULL);
    CHECK(idx_new(&(idx_params_t){.type = (idx_type_t)9, .metric = IDX_L2, .dim = 4}, err,
                  sizeof err) == NULL);
    CHECK_EQ(idx_type_parse("flat"), IDX_FLAT);
    CHECK_EQ(idx_type_parse("hnsw2"), -1);
    CHECK_EQ(idx_metric_parse("cos"), IDX_COS);
    CHECK_EQ(idx_metric_parse("L2"), -1);
    idx_t *x =
        idx_new(&(idx_params_t){.type = IDX_FLAT, .metric = IDX_COS, .dim = 3}, err, sizeof err);
    CHECK(x != NULL);
    if (!x) return;
    float good[6] = {1, 0, 0, 0, 0, 0}, bad[3] = {1, NAN, 0};
    CHECK_EQ(idx_add(x, bad, NULL, 1, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "vector 0: value 1") != NULL);
    CHECK_EQ(idx_add(x, good, NULL, 2, err, sizeof err), 0); /* ids 0, 1; the second is zero */
    int64_t ids[5];
    float d[5];
    CHECK_EQ(idx_search(x, bad, 1, NULL, ids, d), -EINVAL);
    CHECK_EQ(idx_search(x, good, 0, NULL, ids, d), -EINVAL);
    CHECK_EQ(idx_search(x, good, 5, NULL, ids, d), 2); /* k beyond the count */
    CHECK(ids[0] == 0 && fabsf(d[0]) < 1e-6f);
    CHECK(ids[1] == 1 && fabsf(d[1] - 1) < 1e-6f); /* a zero vector is at distance 1 */
    float scaled[3] = {5, 0, 0};                   /* cos ignores length */
    CHECK_EQ(idx_search(x, scaled, 1, NULL, ids, d), 1);
    CHECK(ids[0] == 0 && fabsf(d[0]) < 1e-6f);
    idx_free(x);
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(p, 1, n, f);
        fclose(f);
    }
}

/* A saved index loads (mapped, read-only) and answers as the original did; damage anywhere is
 * refused with its reason, never crashed on. */
static void test_file_format(void)
{
    enum { N = 700, DIM = 16 };
    static float v[N * DIM];
    for (int i = 0; i < N * DIM; i++) v[i] = frand();
    char err[512], path[300], bad[300];
    snprintf(path, sizeof path, "%s/a.idx", dir);
    snprintf(bad, sizeof bad, "%s/bad.idx", dir);
    idx_t *x =
        idx_new(&(idx_params_t){.type = IDX_FLAT, .metric = IDX_IP, .dim = DIM}, err, sizeof err);
    CHECK(x != NULL);
    if (!x) return;
    CHECK_EQ(idx_add(x, v, NULL, N, err, sizeof err), 0);
    CHECK_EQ(idx_save(x, path, err, sizeof err), 0);
    idx_t *y = idx_load(path, err, sizeof err);
    CHECK(y != NULL);
    if (!y) {
        fprintf(stderr, "%s\n", err);
        idx_free(x);
        return;
    }
    idx_info_t info;
    idx_get_info(y, &info);
    CHECK(info.mapped && info.count == N && info.dim == DIM && info.metric == IDX_IP);
    int64_t a[8], b[8];
    float da[8], db[8];
    int same = 1;
    for (int j = 0; j < 30; j++) {
        int ra = idx_search(x, v + j * DIM, 8, NULL, a, da);
        int rb = idx_search(y, v + j * DIM, 8, NULL, b, db);
        same &= ra == 8 && rb == 8 && !memcmp(a, b, sizeof a) && !memcmp(da, db, sizeof da);
    }
    CHECK(same);
    CHECK_EQ(idx_add(y, v, NULL, 1, err, sizeof err), -EROFS);
    idx_free(y);
    idx_free(x);

    size_t n;
    unsigned char *p = th_slurp(path, &n);
    CHECK(p != NULL && n > 256);
    if (!p) return;
    struct {
        size_t at;
        const char *says;
    } flips[] = {{0, "magic"},
                 {20, "header's checksum"},
                 {64 + 8, "entry 0: checksum"},
                 {n - 5, "checksum mismatch: the file is damaged"},
                 {200, "checksum mismatch"}};
    for (size_t i = 0; i < sizeof flips / sizeof *flips; i++) {
        p[flips[i].at] ^= 0x40;
        write_file(bad, p, n);
        p[flips[i].at] ^= 0x40;
        err[0] = 0;
        idx_t *z = idx_load(bad, err, sizeof err);
        CHECK(z == NULL);
        idx_free(z);
        if (!strstr(err, flips[i].says)) fprintf(stderr, "flip %zu: %s\n", i, err);
        CHECK(strstr(err, flips[i].says) != NULL);
    }
    for (size_t cut = 1; cut < n; cut += n / 7) { /* truncated copies */
        write_file(bad, p, cut);
        idx_t *z = idx_load(bad, err, sizeof err);
        CHECK(z == NULL);
        idx_free(z);
    }
    /* Version 1 (before HNSW's DELS) is still read, and reported as such. */
    unsigned char h[64];
    memcpy(h, p, 64);
    h[8] = 1;
    uint32_t crc1 = crc32c(0, h, 60);
    memcpy(h + 60, &crc1, 4);
    memcpy(p, h, 64);
    write_file(bad, p, n);
    idx_t *v1 = idx_load(bad, err, sizeof err);
    CHECK(v1 != NULL);
    idx_info_t i1 = {0};
    if (v1) idx_get_info(v1, &i1);
    CHECK_EQ(i1.version, 1);
    idx_free(v1);
    /* A newer format version, with a valid checksum, names both versions. */
    h[8] = IXF_VERSION + 1;
    uint32_t crc = crc32c(0, h, 60);
    memcpy(h + 60, &crc, 4);
    memcpy(p, h, 64);
    write_file(bad, p, n);
    idx_t *z = idx_load(bad, err, sizeof err);
    CHECK(z == NULL);
    char says[64];
    snprintf(says, sizeof says, "version %d is newer", IXF_VERSION + 1);
    CHECK(strstr(err, says) != NULL);
    idx_free(z);
    free(p);
    snprintf(bad, sizeof bad, "%s/missing.idx", dir);
    CHECK(idx_load(bad, err, sizeof err) == NULL);
    CHECK(strstr(err, "No such file") != NULL);
}

static void test_fvecs_npy(void)
{
    char err[256];
    vecs_t v;
    unsigned char f[2 * (4 + 12)];
    for (int r = 0; r < 2; r++) {
        int32_t d = 3;
        float x[3] = {(float)r, 1.5f, -2};
        memcpy(f + r * 16, &d, 4);
        memcpy(f + r * 16 + 4, x, 12);
    }
    CHECK_EQ(vecs_parse_fvecs(f, sizeof f, &v, err, sizeof err), 0);
    CHECK(v.n == 2 && v.dim == 3 && v.data[3] == 1.0f && v.data[5] == -2.0f);
    vecs_free(&v);
    CHECK_EQ(vecs_parse_fvecs(f, sizeof f - 1, &v, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "truncated") != NULL);
    f[16] = 4; /* row 1 claims dimension 4 */
    CHECK_EQ(vecs_parse_fvecs(f, sizeof f, &v, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "row 1 has dimension 4") != NULL);
    CHECK_EQ(vecs_parse_fvecs("\xff\xff\xff\xff", 4, &v, err, sizeof err), -EINVAL);

    /* .npy: a 2x3 float32 array as NumPy writes it (version 1.0, header padded to 64). */
    char hdr[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    unsigned char npy[10 + 118 + 24];
    size_t hl = 118;
    memcpy(npy, "\x93NUMPY\x01\x00", 8);
    npy[8] = (unsigned char)hl, npy[9] = 0;
    memset(npy + 10, ' ', hl);
    memcpy(npy + 10, hdr, strlen(hdr));
    npy[10 + hl - 1] = '\n';
    float data[6] = {1, 2, 3, 4, 5, 6};
    memcpy(npy + 10 + hl, data, 24);
    CHECK_EQ(vecs_parse_npy(npy, sizeof npy, &v, err, sizeof err), 0);
    CHECK(v.n == 2 && v.dim == 3 && v.data[5] == 6.0f);
    vecs_free(&v);
    CHECK_EQ(vecs_parse_npy(npy, sizeof npy - 4, &v, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "truncated") != NULL);
    memcpy(npy + 10 + 11, "<i4", 3);
    CHECK_EQ(vecs_parse_npy(npy, sizeof npy, &v, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "float32") != NULL);
    memcpy(npy + 10 + 11, "<f4", 3);
    char *fo = strstr((char *)npy + 10, "False");
    memcpy(fo, "True ", 5);
    CHECK_EQ(vecs_parse_npy(npy, sizeof npy, &v, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "Fortran") != NULL);
    memcpy(fo, "False", 5);
    char *sh = strstr((char *)npy + 10, "(2, 3)");
    memcpy(sh, "(6,)  ", 6);
    CHECK_EQ(vecs_parse_npy(npy, sizeof npy, &v, err, sizeof err), -EINVAL);
    CHECK(strstr(err, "1 dimensions") != NULL);
    CHECK_EQ(vecs_parse_npy("PK\3\4", 4, &v, err, sizeof err), -EINVAL);

    char path[300];
    snprintf(path, sizeof path, "%s/r.ivecs", dir);
    int32_t ids[4] = {1, 2, 3, -1};
    CHECK_EQ(vecs_write_ivecs(path, ids, 2, 2, err, sizeof err), 0);
    size_t n;
    int32_t *back = th_slurp(path, &n);
    CHECK(back && n == 24 && back[0] == 2 && back[1] == 1 && back[3] == 2 && back[4] == 3 &&
          back[5] == -1);
    free(back);
    CHECK(vecs_read("/nonexistent/x.fvecs", &v, err, sizeof err) < 0);
    CHECK(vecs_read("x.csv", &v, err, sizeof err) == -EINVAL);
}

/* Clustered points: around 24 random centres (the same for every call of a dimension, so
 * queries come from the data's distribution), so IVF lists and recall mean something. */
static void clustered(float *v, int64_t n, int dim)
{
    static float centres[24 * 128];
    static int made_for;
    if (made_for != dim)
        for (int i = 0; i < 24 * dim; i++) centres[i] = frand() * 4;
    made_for = dim;
    for (int64_t i = 0; i < n; i++) {
        int c = (int)((frand() + 1) * 12) % 24;
        for (int d = 0; d < dim; d++) v[i * dim + d] = centres[c * dim + d] + frand() * 1.5f;
    }
}

/* recall@10 of x against exact search over v, on nq queries. */
static double recall10(const idx_t *x, const idx_t *exact, const float *q, int nq, int dim,
                       int nprobe)
{
    int hit = 0;
    for (int j = 0; j < nq; j++) {
        int64_t a[10], b[10];
        float da[10], db[10];
        int ra = idx_search(x, q + j * dim, 10, &(idx_search_params_t){.nprobe = nprobe}, a, da);
        int rb = idx_search(exact, q + j * dim, 10, NULL, b, db);
        for (int i = 0; i < ra; i++)
            for (int k = 0; k < rb; k++) hit += a[i] == b[k];
    }
    return hit / (10.0 * nq);
}

/* IVF: scanning every list is exact (IVF-Flat) or close (SQ8, PQ); fewer lists trade recall;
 * training is required and checked; a saved index answers as the built one. */
static void test_ivf(void)
{
    enum { N = 6000, DIM = 32, Q = 50 };
    static float v[N * DIM], q[Q * DIM];
    clustered(v, N, DIM);
    clustered(q, Q, DIM);
    char err[256], path[300];
    snprintf(path, sizeof path, "%s/ivf.idx", dir);
    for (int m = IDX_L2; m <= IDX_COS; m++) {
        idx_t *exact =
            idx_new(&(idx_params_t){.type = IDX_FLAT, .metric = (idx_metric_t)m, .dim = DIM}, err,
                    sizeof err);
        CHECK(exact && idx_add(exact, v, NULL, N, err, sizeof err) == 0);
        for (int t = IDX_IVF; t <= IDX_IVFPQ && exact; t++) {
            idx_params_t p = {.type = (idx_type_t)t,
                              .metric = (idx_metric_t)m,
                              .dim = DIM,
                              .nlist = 16,
                              .pq_m = 16,
                              .threads = 2,
                              .seed = 5};
            idx_t *x = idx_new(&p, err, sizeof err);
            CHECK(x != NULL);
            if (!x) continue;
            CHECK(idx_needs_training(x));
            CHECK_EQ(idx_add(x, v, NULL, 10, err, sizeof err), -EINVAL); /* not trained */
            CHECK(strstr(err, "trained before") != NULL);
            CHECK_EQ(idx_train(x, v, 10, err, sizeof err), -EINVAL); /* too few */
            CHECK_EQ(idx_train(x, v, N, err, sizeof err), 0);
            CHECK_EQ(idx_add(x, v, NULL, N, err, sizeof err), 0);
            double all = recall10(x, exact, q, Q, DIM, 16), one = recall10(x, exact, q, Q, DIM, 1);
            double floor = t == IDX_IVF ? 1.0 : t == IDX_IVFSQ ? 0.9 : 0.6;
            if (all < floor || one > all)
                fprintf(stderr, "%s %s: recall@10 %.3f (all lists), %.3f (one)\n",
                        idx_type_name((idx_type_t)t), idx_metric_name((idx_metric_t)m), all, one);
            CHECK(all >= floor);
            CHECK(one <= all);
            CHECK_EQ(idx_save(x, path, err, sizeof err), 0);
            idx_t *y = idx_load(path, err, sizeof err);
            CHECK(y != NULL);
            int same = y != NULL;
            for (int j = 0; y && j < Q; j++) {
                int64_t a[10], b[10];
                float da[10], db[10];
                idx_search_params_t sp = {.nprobe = 4};
                int ra = idx_search(x, q + j * DIM, 10, &sp, a, da);
                int rb = idx_search(y, q + j * DIM, 10, &sp, b, db);
                same &= ra == rb && !memcmp(a, b, sizeof(int64_t) * (size_t)ra) &&
                        !memcmp(da, db, sizeof(float) * (size_t)ra);
            }
            CHECK(same);
            idx_free(y);
            idx_free(x);
        }
        idx_free(exact);
    }
    /* A 4-bit PQ code that is out of range (checksums made to match) is refused at load. */
    idx_t *x = idx_new(
        &(idx_params_t){
            .type = IDX_IVFPQ, .metric = IDX_L2, .dim = DIM, .nlist = 4, .pq_m = 8, .pq_bits = 4},
        err, sizeof err);
    CHECK(x && idx_train(x, v, N, err, sizeof err) == 0 &&
          idx_add(x, v, NULL, 100, err, sizeof err) == 0);
    CHECK(x && idx_save(x, path, err, sizeof err) == 0);
    idx_free(x);
    size_t n;
    unsigned char *b = th_slurp(path, &n);
    ixf_t f;
    CHECK(b && ixf_parse(b, n, &f, err, sizeof err) == 0);
    for (int i = 0; b && i < f.nsections; i++) {
        if (f.s[i].tag != IXF_TAG('C', 'O', 'D', 'E')) continue;
        unsigned char *code = (unsigned char *)f.s[i].data, *e = b + 64 + i * 32;
        code[5] = 0xF0;
        uint32_t c = crc32c(0, code, f.s[i].bytes);
        memcpy(e + 24, &c, 4);
        c = crc32c(0, e, 28);
        memcpy(e + 28, &c, 4);
    }
    if (b) write_file(path, b, n);
    free(b);
    CHECK(idx_load(path, err, sizeof err) == NULL);
    CHECK(strstr(err, "do not fit") != NULL);

    /* Parameters that cannot work are refused at creation. */
    CHECK(idx_new(&(idx_params_t){.type = IDX_IVF, .metric = IDX_L2, .dim = 8}, err, sizeof err) ==
          NULL);
    CHECK(strstr(err, "--nlist") != NULL);
    CHECK(
        idx_new(
            &(idx_params_t){.type = IDX_IVFPQ, .metric = IDX_L2, .dim = 10, .nlist = 4, .pq_m = 4},
            err, sizeof err) == NULL);
    CHECK(strstr(err, "must divide") != NULL);
}

/* IVF-PQ with refine: a re-rank of 100 candidates answers exact distances and most of the exact
 * answer (plain codes do not), per metric; a saved index re-ranks the same; 4-bit codes still
 * load; refine is refused for other kinds. */
static void test_ivfpq_refine(void)
{
    enum { N = 6000, DIM = 32, Q = 50 };
    static float v[N * DIM], q[Q * DIM];
    clustered(v, N, DIM);
    clustered(q, Q, DIM);
    char err[256], path[300];
    snprintf(path, sizeof path, "%s/refine.idx", dir);
    for (int m = IDX_L2; m <= IDX_COS; m++) {
        idx_t *exact =
            idx_new(&(idx_params_t){.type = IDX_FLAT, .metric = (idx_metric_t)m, .dim = DIM}, err,
                    sizeof err);
        idx_params_t p = {.type = IDX_IVFPQ,
                          .metric = (idx_metric_t)m,
                          .dim = DIM,
                          .nlist = 8,
                          .pq_m = 16,
                          .pq_bits = m == IDX_L2 ? 4 : 8,
                          .refine = true,
                          .seed = 3};
        idx_t *x = idx_new(&p, err, sizeof err);
        CHECK(exact && x);
        if (!exact || !x) continue;
        CHECK_EQ(idx_add(exact, v, NULL, N, err, sizeof err), 0);
        CHECK_EQ(idx_train(x, v, N, err, sizeof err), 0);
        CHECK_EQ(idx_add(x, v, NULL, N, err, sizeof err), 0);
        CHECK_EQ(idx_save(x, path, err, sizeof err), 0);
        idx_t *y = idx_load(path, err, sizeof err);
        CHECK(y != NULL);
        int hit_codes = 0, hit_rerank = 0, exact_d = 1, same = 1;
        for (int j = 0; y && j < Q; j++) {
            int64_t a[10], b[10], c[10], e[10];
            float da[10], db[10], dc[10], de[10];
            const float *qj = q + j * DIM;
            int re = idx_search(exact, qj, 10, NULL, e, de);
            int ra = idx_search(x, qj, 10, &(idx_search_params_t){.nprobe = 8}, a, da);
            idx_search_params_t rr = {.nprobe = 8, .rerank = 100};
            int rb = idx_search(x, qj, 10, &rr, b, db);
            int rc = idx_search(y, qj, 10, &rr, c, dc);
            same &= rb == rc && !memcmp(b, c, sizeof(int64_t) * (size_t)rb) &&
                    !memcmp(db, dc, sizeof(float) * (size_t)rb);
            for (int i = 0; i < rb; i++) {
                double want = ref_dist((idx_metric_t)m, qj, v + b[i] * DIM, DIM);
                exact_d &= fabs(db[i] - want) < 1e-3 * (1 + fabs(want));
            }
            for (int i = 0; i < re; i++)
                for (int k = 0; k < 10; k++) {
                    hit_codes += k < ra && a[k] == e[i];
                    hit_rerank += k < rb && b[k] == e[i];
                }
        }
        double rc_codes = hit_codes / (10.0 * Q), rc_rerank = hit_rerank / (10.0 * Q);
        if (rc_rerank < 0.95 || rc_rerank <= rc_codes)
            fprintf(stderr, "refine %s: recall@10 %.3f by codes, %.3f re-ranked\n",
                    idx_metric_name((idx_metric_t)m), rc_codes, rc_rerank);
        CHECK(rc_rerank >= 0.95);
        CHECK(rc_rerank > rc_codes);
        CHECK(exact_d);
        CHECK(same);
        idx_free(y);
        idx_free(x);
        idx_free(exact);
    }
    CHECK(idx_new(&(idx_params_t){.type = IDX_HNSW, .metric = IDX_L2, .dim = 8, .refine = true},
                  err, sizeof err) == NULL);
    CHECK(strstr(err, "--refine") != NULL);
}

/* A filter: every kind answers only kept ids; flat (and IVF-Flat at full probe) exactly the
 * nearest kept ones; HNSW finds k of them even when the filter keeps one id in 50. */
static bool keep_every(void *arg, int64_t id)
{
    return id % *(int *)arg == 0;
}

static void test_filter(void)
{
    enum { N = 3000, DIM = 16, Q = 20 };
    static float v[N * DIM], q[Q * DIM];
    clustered(v, N, DIM);
    clustered(q, Q, DIM);
    char err[256];
    idx_t *kinds[3] = {
        idx_new(&(idx_params_t){.type = IDX_FLAT, .metric = IDX_L2, .dim = DIM}, err, sizeof err),
        idx_new(&(idx_params_t){.type = IDX_IVF, .metric = IDX_L2, .dim = DIM, .nlist = 16}, err,
                sizeof err),
        idx_new(&(idx_params_t){.type = IDX_HNSW, .metric = IDX_L2, .dim = DIM}, err, sizeof err)};
    for (int k = 0; k < 3; k++) {
        CHECK(kinds[k] != NULL);
        if (!kinds[k]) goto out;
        CHECK_EQ(idx_train(kinds[k], v, N, err, sizeof err), 0);
        CHECK_EQ(idx_add(kinds[k], v, NULL, N, err, sizeof err), 0);
    }
    for (int every = 2; every <= 50; every += 48) {
        int bad = 0, short_hnsw = 0, hit = 0;
        for (int j = 0; j < Q; j++) {
            /* The exact answer: the 10 nearest kept ids by brute force. */
            pair_t all[N / 2 + 1];
            int na = 0;
            for (int i = 0; i < N; i += every)
                all[na++] = (pair_t){idx_distance(IDX_L2, q + j * DIM, v + i * DIM, DIM), i};
            qsort(all, (size_t)na, sizeof *all, cmp_pair);
            for (int k = 0; k < 3; k++) {
                int64_t ids[10];
                float d[10];
                idx_search_params_t sp = {
                    .ef = 64, .nprobe = 16, .keep = keep_every, .keep_arg = &every};
                int r = idx_search(kinds[k], q + j * DIM, 10, &sp, ids, d);
                for (int i = 0; i < r; i++) bad += ids[i] % every != 0;
                if (k < 2) {
                    bad += r != 10;
                    for (int i = 0; i < r; i++) bad += ids[i] != all[i].id;
                } else {
                    short_hnsw += r != 10;
                    for (int i = 0; i < r; i++)
                        for (int e = 0; e < 10; e++) hit += ids[i] == all[e].id;
                }
            }
        }
        CHECK_EQ(bad, 0);
        CHECK_EQ(short_hnsw, 0);
        if (hit < 0.9 * 10 * Q)
            fprintf(stderr, "filtered hnsw (1 in %d): %d of %d\n", every, hit, 10 * Q);
        CHECK(hit >= 0.9 * 10 * Q);
    }
out:
    for (int k = 0; k < 3; k++) idx_free(kinds[k]);
}

/* A batch answers as one query at a time: flat's matrix products give the same neighbours
 * (distances equal to rounding; an order may differ only between near-ties), every metric; a
 * non-finite query is named; a filter and the other kinds go query by query. */
static void test_search_batch(void)
{
    enum { N = 3000, DIM = 40, Q = 300, K = 10 };
    static float v[N * DIM], q[Q * DIM], d1[K], db[Q * K];
    static int64_t i1[K], ib[Q * K];
    static int counts[Q];
    clustered(v, N, DIM);
    clustered(q, Q, DIM);
    char err[256];
    for (int m = IDX_L2; m <= IDX_COS; m++) {
        idx_t *x = idx_new(&(idx_params_t){.type = IDX_FLAT, .metric = (idx_metric_t)m, .dim = DIM},
                           err, sizeof err);
        CHECK(x != NULL);
        if (!x) return;
        CHECK_EQ(idx_add(x, v, NULL, N, err, sizeof err), 0);
        int64_t bad = -1;
        CHECK_EQ(idx_search_batch(x, q, Q, K, NULL, ib, db, counts, &bad), 0);
        int wrong = 0;
        for (int j = 0; j < Q; j++) {
            int r = idx_search(x, q + j * DIM, K, NULL, i1, d1);
            wrong += counts[j] != r;
            for (int c = 0; c < r && c < counts[j]; c++) {
                float tol = 1e-4f * (1 + fabsf(d1[c]));
                wrong += fabsf(db[j * K + c] - d1[c]) > tol;
                bool same = ib[j * K + c] == i1[c];
                for (int o = 0; !same && o < r; o++) /* a near-tie in another order */
                    same = ib[j * K + c] == i1[o] && fabsf(d1[o] - d1[c]) <= tol;
                wrong += !same;
            }
        }
        if (wrong)
            fprintf(stderr, "batch %s: %d differences\n", idx_metric_name((idx_metric_t)m), wrong);
        CHECK_EQ(wrong, 0);
        q[123 * DIM + 7] = NAN;
        CHECK_EQ(idx_search_batch(x, q, Q, K, NULL, ib, db, counts, &bad), -EINVAL);
        CHECK_EQ(bad, 123);
        q[123 * DIM + 7] = 0.5f;
        int every = 3;
        idx_search_params_t sp = {.keep = keep_every, .keep_arg = &every};
        CHECK_EQ(idx_search_batch(x, q, Q, K, &sp, ib, db, counts, &bad), 0);
        int kept = 1;
        for (int j = 0; j < Q; j++)
            for (int c = 0; c < counts[j]; c++) kept &= ib[j * K + c] % 3 == 0;
        CHECK(kept && counts[0] == K);
        idx_free(x);
    }
}

/* A saved HNSW graph whose upper-layer link names a node that does not live on that layer is
 * refused at load (fuzz_index_file: a search followed it and read before the link arrays). */
static void test_hnsw_foreign_link(const char *path)
{
    char err[256], bad[300];
    snprintf(bad, sizeof bad, "%s/hnsw_bad.idx", dir);
    size_t n;
    unsigned char *p = th_slurp(path, &n);
    ixf_t f;
    CHECK(p && ixf_parse(p, n, &f, err, sizeof err) == 0);
    if (!p) return;
    const ixf_section_t *lv = ixf_find(&f, IXF_TAG('L', 'V', 'L', 'S'));
    const ixf_section_t *uo = ixf_find(&f, IXF_TAG('U', 'O', 'F', 'F'));
    const ixf_section_t *up = ixf_find(&f, IXF_TAG('U', 'P', 'P', 'R'));
    CHECK(lv && uo && up);
    if (!lv || !uo || !up) return free(p);
    const uint8_t *levels = lv->data;
    int64_t low = -1, high = -1;
    for (uint64_t i = 0; i < lv->bytes; i++) {
        uint64_t off;
        memcpy(&off, (const char *)uo->data + i * 8, 8);
        int32_t cnt;
        if (levels[i] == 0 && low < 0) low = (int64_t)i;
        if (levels[i] > 0 && high < 0 && (memcpy(&cnt, (const char *)up->data + off * 4, 4), cnt))
            high = (int64_t)i;
    }
    CHECK(low >= 0 && high >= 0);
    if (low < 0 || high < 0) return free(p);
    uint64_t off;
    memcpy(&off, (const char *)uo->data + high * 8, 8);
    int32_t to = (int32_t)low;
    size_t at = (size_t)((const unsigned char *)up->data - p) + (off + 1) * 4;
    memcpy(p + at, &to, 4);                 /* layer 1, first link -> a layer-0 node */
    for (int i = 0; i < f.nsections; i++) { /* keep the checksums true */
        unsigned char *e = p + 64 + 32 * i;
        if (memcmp(e, &up->tag, 4)) continue;
        uint32_t c = crc32c(0, up->data, up->bytes);
        memcpy(e + 24, &c, 4);
        c = crc32c(0, e, 28);
        memcpy(e + 28, &c, 4);
    }
    write_file(bad, p, n);
    free(p);
    idx_t *z = idx_load(bad, err, sizeof err);
    CHECK(z == NULL);
    CHECK(strstr(err, "valid graph") != NULL);
    idx_free(z);
}

/* HNSW: recall against exact search for every metric, vectors added in several batches
 * (later nodes join the graph built by earlier ones), ef at least k, an empty index, and a
 * saved graph answering as the built one. */
static void test_hnsw(void)
{
    enum { N = 5000, DIM = 24, Q = 60 };
    static float v[N * DIM], q[Q * DIM];
    clustered(v, N, DIM);
    clustered(q, Q, DIM);
    char err[256], path[300];
    snprintf(path, sizeof path, "%s/hnsw.idx", dir);
    /* threads 2: the last add's layer-0 nodes are inserted in parallel (hnsw.c); the graph must
     * be as good, and valid (the load checks every list). */
    for (int th = 1; th <= 2; th++)
        for (int m = IDX_L2; m <= IDX_COS; m++) {
            idx_t *exact =
                idx_new(&(idx_params_t){.type = IDX_FLAT, .metric = (idx_metric_t)m, .dim = DIM},
                        err, sizeof err);
            idx_t *x = idx_new(&(idx_params_t){.type = IDX_HNSW,
                                               .metric = (idx_metric_t)m,
                                               .dim = DIM,
                                               .hnsw_m = 12,
                                               .ef_construction = 60,
                                               .threads = th},
                               err, sizeof err);
            CHECK(exact && x);
            if (!exact || !x) continue;
            CHECK(!idx_needs_training(x));
            int64_t ids[1];
            float d[1];
            CHECK_EQ(idx_search(x, q, 1, NULL, ids, d), 0); /* empty */
            CHECK_EQ(idx_add(exact, v, NULL, N, err, sizeof err), 0);
            CHECK_EQ(idx_add(x, v, NULL, 1, err, sizeof err), 0);
            CHECK_EQ(idx_add(x, v + DIM, NULL, 999, err, sizeof err), 0);
            CHECK_EQ(idx_add(x, v + 1000 * DIM, NULL, N - 1000, err, sizeof err), 0);
            double r16 = recall10(x, exact, q, Q, DIM, 0);
            int hit = 0; /* ef 200 */
            for (int j = 0; j < Q; j++) {
                int64_t a[10], b[10];
                float da[10], db[10];
                int ra = idx_search(x, q + j * DIM, 10, &(idx_search_params_t){.ef = 200}, a, da);
                int rb = idx_search(exact, q + j * DIM, 10, NULL, b, db);
                for (int i = 0; i < ra; i++)
                    for (int k = 0; k < rb; k++) hit += a[i] == b[k];
            }
            double r200 = hit / (10.0 * Q);
            if (r16 < 0.85 || r200 < 0.98)
                fprintf(stderr, "hnsw %s, %d threads: recall@10 %.3f (ef 16), %.3f (ef 200)\n",
                        idx_metric_name((idx_metric_t)m), th, r16, r200);
            CHECK(r16 >= 0.85);
            CHECK(r200 >= 0.98);
            CHECK_EQ(idx_save(x, path, err, sizeof err), 0);
            idx_t *y = idx_load(path, err, sizeof err);
            CHECK(y != NULL);
            int same = y != NULL;
            for (int j = 0; y && j < Q; j++) {
                int64_t a[10], b[10];
                float da[10], db[10];
                int ra = idx_search(x, q + j * DIM, 10, NULL, a, da);
                int rb = idx_search(y, q + j * DIM, 10, NULL, b, db);
                same &= ra == rb && !memcmp(a, b, sizeof(int64_t) * (size_t)ra);
            }
            CHECK(same);
            if (m == IDX_L2 && th == 1) test_hnsw_foreign_link(path);
            idx_free(y);
            idx_free(x);
            idx_free(exact);
        }
    CHECK(idx_new(&(idx_params_t){.type = IDX_HNSW, .metric = IDX_L2, .dim = 8, .hnsw_m = 1}, err,
                  sizeof err) == NULL);
}

/* Removal, every kind: removed ids are never answered, the rest answer as an index that never
 * held them (exactly for flat; IVF and HNSW by recall), a second removal finds nothing, the
 * count drops, and a saved and loaded index keeps the removals (HNSW's DELS section). */
static void test_remove(void)
{
    enum { N = 3000, DIM = 16, Q = 30, EVERY = 5 };
    static float v[N * DIM], q[Q * DIM], kept[N * DIM];
    static int64_t kept_ids[N];
    clustered(v, N, DIM);
    clustered(q, Q, DIM);
    char err[256], path[300];
    snprintf(path, sizeof path, "%s/removed.idx", dir);
    int nk = 0;
    for (int i = 0; i < N; i++)
        if (i % EVERY) memcpy(kept + nk * DIM, v + i * DIM, DIM * sizeof *v), kept_ids[nk++] = i;
    idx_t *exact =
        idx_new(&(idx_params_t){.type = IDX_FLAT, .metric = IDX_L2, .dim = DIM}, err, sizeof err);
    CHECK(exact != NULL);
    if (!exact) return;
    CHECK_EQ(idx_add(exact, kept, kept_ids, nk, err, sizeof err), 0);
    const idx_type_t types[] = {IDX_FLAT, IDX_IVF, IDX_IVFSQ, IDX_IVFPQ, IDX_HNSW};
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        idx_t *x = idx_new(&(idx_params_t){.type = types[t],
                                           .metric = IDX_L2,
                                           .dim = DIM,
                                           .nlist = 8,
                                           .pq_m = 8,
                                           .refine = types[t] == IDX_IVFPQ},
                           err, sizeof err);
        CHECK(x != NULL);
        if (!x) continue;
        CHECK_EQ(idx_train(x, v, N, err, sizeof err), 0);
        CHECK_EQ(idx_add(x, v, NULL, N, err, sizeof err), 0);
        int64_t removed = 0;
        for (int i = 0; i < N; i += EVERY) removed += idx_remove(x, i, err, sizeof err);
        CHECK_EQ(removed, (N + EVERY - 1) / EVERY);
        CHECK_EQ(idx_remove(x, 0, err, sizeof err), 0);  /* already gone */
        CHECK_EQ(idx_remove(x, -7, err, sizeof err), 0); /* never there */
        idx_info_t in;
        idx_get_info(x, &in);
        CHECK_EQ(in.count, nk);
        CHECK_EQ(in.removed, types[t] == IDX_HNSW ? removed : 0);
        CHECK_EQ(idx_save(x, path, err, sizeof err), 0);
        idx_t *y = idx_load(path, err, sizeof err);
        CHECK(y != NULL);
        if (y) {
            idx_get_info(y, &in);
            CHECK_EQ(in.count, nk);
            CHECK_EQ(idx_remove(y, 1, err, sizeof err), -EROFS);
        }
        for (int round = 0; round < 2; round++) {
            const idx_t *z = round ? y : x;
            int bad = 0, hit = 0;
            for (int j = 0; z && j < Q; j++) {
                int64_t a[10], b[10];
                float da[10], db[10];
                idx_search_params_t sp = {.ef = 64, .nprobe = 8, .rerank = 40};
                int ra = idx_search(z, q + j * DIM, 10, &sp, a, da);
                int rb = idx_search(exact, q + j * DIM, 10, NULL, b, db);
                bad += ra != 10;
                for (int i = 0; i < ra; i++) {
                    bad += a[i] % EVERY == 0;
                    if (types[t] == IDX_FLAT) bad += a[i] != b[i];
                    for (int e = 0; e < rb; e++) hit += a[i] == b[e];
                }
            }
            if (bad || hit < 0.9 * 10 * Q)
                fprintf(stderr, "remove, %s (%s): %d bad, recall %d of %d\n",
                        idx_type_name(types[t]), round ? "loaded" : "built", bad, hit, 10 * Q);
            CHECK_EQ(bad, 0);
            CHECK(hit >= 0.9 * 10 * Q);
        }
        /* An id added again after its removal is answered again (HNSW: a new node). */
        CHECK_EQ(idx_add(x, q, (int64_t[]){0}, 1, err, sizeof err), 0);
        int64_t a[1];
        float da[1];
        CHECK_EQ(idx_search(x, q, 1, &(idx_search_params_t){.ef = 64, .nprobe = 8}, a, da), 1);
        CHECK_EQ(a[0], 0);
        idx_free(y);
        idx_free(x);
    }
    idx_free(exact);
}

/* Adds beside searches (flat and HNSW, one and two adding threads): one thread adds batches
 * while others search for vectors of batches already added. Every answer comes from a batch
 * added or being added, nearest first, and finds the vector searched for (exactly for flat,
 * by recall for HNSW). And for HNSW, from inside an add (its progress report, while nodes are
 * being linked), a search on another thread completes: were the index locked for the whole
 * add, it would wait until the add ended and the probe would give up after 5 s. */
enum { CC_BATCH = 400, CC_BATCHES = 12, CC_DIM = 16, CC_READERS = 2 };
typedef struct cc {
    idx_t *x;
    const float *v;
    atomic_int added; /* batches whose idx_add returned */
    atomic_int stop;
    atomic_long bad, found, searches;
    pthread_t probe;
    atomic_int probing, probed; /* probe thread started; its search returned */
    int probe_ok;               /* it returned while the add still ran */
} cc_t;

static void *cc_probe(void *arg)
{
    cc_t *c = arg;
    int64_t id;
    float d;
    idx_search(c->x, c->v, 1, NULL, &id, &d);
    atomic_store(&c->probed, 1);
    return NULL;
}

static void cc_progress(void *arg, const char *stage, int64_t done, int64_t total)
{
    cc_t *c = arg;
    (void)stage, (void)done, (void)total;
    if (!atomic_load(&c->added) || atomic_exchange(&c->probing, 1)) return; /* once */
    if (pthread_create(&c->probe, NULL, cc_probe, c)) return;
    for (int i = 0; i < 5000 && !atomic_load(&c->probed); i++)
        nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
    c->probe_ok = atomic_load(&c->probed);
}

static void *cc_reader(void *arg)
{
    cc_t *c = arg;
    uint64_t r = 0x9E3779B97F4A7C15ull;
    while (!atomic_load(&c->stop)) {
        int done = atomic_load(&c->added);
        if (!done) continue;
        r ^= r << 13, r ^= r >> 7, r ^= r << 17;
        int64_t want = (int64_t)(r % (uint64_t)(done * CC_BATCH));
        int64_t ids[10];
        float d[10];
        int n =
            idx_search(c->x, c->v + want * CC_DIM, 10, &(idx_search_params_t){.ef = 32}, ids, d);
        int after = atomic_load(&c->added);
        long bad = n < 1;
        for (int i = 0; i < n; i++) {
            bad += ids[i] < 0 || ids[i] >= (int64_t)(after + 1) * CC_BATCH;
            bad += i && d[i] < d[i - 1];
        }
        atomic_fetch_add(&c->bad, bad);
        atomic_fetch_add(&c->found, n > 0 && ids[0] == want);
        atomic_fetch_add(&c->searches, 1);
    }
    return NULL;
}

static void test_concurrent_adds(void)
{
    static float v[CC_BATCH * CC_BATCHES * CC_DIM];
    clustered(v, CC_BATCH * CC_BATCHES, CC_DIM);
    char err[256];
    for (int kind = 0; kind < 3; kind++) {
        bool hnsw = kind > 0;
        cc_t c = {.v = v};
        c.x = idx_new(&(idx_params_t){.type = hnsw ? IDX_HNSW : IDX_FLAT,
                                      .metric = IDX_L2,
                                      .dim = CC_DIM,
                                      .threads = kind == 2 ? 2 : 1,
                                      .progress = cc_progress,
                                      .progress_arg = &c},
                      err, sizeof err);
        CHECK(c.x != NULL);
        if (!c.x) continue;
        pthread_t th[CC_READERS];
        for (int i = 0; i < CC_READERS; i++) pthread_create(&th[i], NULL, cc_reader, &c);
        for (int b = 0; b < CC_BATCHES; b++) {
            CHECK_EQ(
                idx_add(c.x, v + (size_t)b * CC_BATCH * CC_DIM, NULL, CC_BATCH, err, sizeof err),
                0);
            atomic_store(&c.added, b + 1);
            /* Flat's adds are copies: let the readers search between them. */
            long s0 = atomic_load(&c.searches);
            for (int i = 0; i < 10000 && atomic_load(&c.searches) < s0 + 20; i++)
                nanosleep(&(struct timespec){0, 100 * 1000}, NULL);
        }
        atomic_store(&c.stop, 1);
        for (int i = 0; i < CC_READERS; i++) pthread_join(th[i], NULL);
        long s = atomic_load(&c.searches), f = atomic_load(&c.found);
        if (atomic_load(&c.probing)) pthread_join(c.probe, NULL);
        if (atomic_load(&c.bad) || f < (hnsw ? 0.95 : 1.0) * s || (hnsw && !c.probe_ok))
            fprintf(stderr,
                    "adds beside searches (%s, %d threads): %ld bad, %ld of %ld found, "
                    "probe %s\n",
                    hnsw ? "hnsw" : "flat", kind == 2 ? 2 : 1, atomic_load(&c.bad), f, s,
                    c.probe_ok ? "answered" : "waited");
        CHECK_EQ(atomic_load(&c.bad), 0);
        CHECK(s > 0 && f >= (hnsw ? 0.95 : 1.0) * s);
        if (hnsw) CHECK(c.probe_ok);
        idx_info_t in;
        idx_get_info(c.x, &in);
        CHECK_EQ(in.count, CC_BATCH * CC_BATCHES);
        idx_free(c.x);
    }
}

/* Runs every test, or those whose names contain argv[1] (make test-tsan runs the concurrent
 * ones: the rest take minutes under ThreadSanitizer). */
int main(int argc, char **argv)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/inferd_index_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    static const struct {
        const char *name;
        void (*fn)(void);
    } tests[] = {{"topk", test_topk},
                 {"flat_matches_oracle", test_flat_matches_oracle},
                 {"arguments", test_arguments},
                 {"file_format", test_file_format},
                 {"fvecs_npy", test_fvecs_npy},
                 {"ivf", test_ivf},
                 {"ivfpq_refine", test_ivfpq_refine},
                 {"hnsw", test_hnsw},
                 {"filter", test_filter},
                 {"search_batch", test_search_batch},
                 {"remove", test_remove},
                 {"concurrent_adds", test_concurrent_adds}};
    for (size_t i = 0; i < sizeof tests / sizeof *tests; i++)
        if (argc < 2 || strstr(tests[i].name, argv[1])) tests[i].fn();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return TH_DONE();
}
