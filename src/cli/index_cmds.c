/* `inferd index build|search|info`: vector indexes from the command line, in FAISS's vocabulary
 * and the ANN benchmarks' file formats (docs/index.md). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "codec/vecs.h"
#include "index/format.h"
#include "index/index.h"
#include "util/clock.h"

#define MAX_THREADS 256
#define ADD_CHUNK   65536 /* vectors added between two progress reports */

static void index_usage(FILE *f)
{
    fprintf(f,
            "Usage:\n"
            "  inferd index build --type flat|ivf|ivfsq|ivfpq|hnsw --metric l2|ip|cos\n"
            "                     --input X.fvecs|X.npy --out FILE\n"
            "                     [--m M --ef-construction E | --nlist N --pq-m M --pq-bits B\n"
            "                     [--refine flat]] [--threads N] [--seed S]\n"
            "  inferd index search FILE --queries Q.fvecs|Q.npy --k K\n"
            "                     [--ef E | --nprobe P [--rerank R]]\n"
            "                     [--threads N] [--out R.ivecs]\n"
            "  inferd index info FILE\n\n"
            "build reads the vectors (ids are their row numbers), trains the IVF kinds on them\n"
            "(--nlist lists; ivfpq: --pq-m sub-quantizers of --pq-bits bits, default 8; hnsw:\n"
            "--m links per node, default 16, --ef-construction candidates, default 40), adds\n"
            "them with progress on stderr, writes FILE and prints its size and the build time.\n"
            "search runs every\n"
            "query row, writes the k nearest ids per query as .ivecs (-1 where fewer exist) and\n"
            "prints queries/s and the p50/p99 latency of one query. info describes FILE.\n"
            "Metrics: l2 (squared Euclidean distance), ip (1 - inner product), cos (cosine\n"
            "distance; vectors are normalised). --nprobe (IVF, default 1) is how many lists a\n"
            "query scans, --ef (HNSW, default 16, at least k) how many candidates it keeps.\n"
            "--refine flat (ivfpq) keeps every vector in the index too, so that a search with\n"
            "--rerank R takes the R best candidates by the codes and answers the k nearest of\n"
            "them by exact distance (FAISS's IndexRefineFlat, k_factor R / k). Exit "
            "status: 0 ok, 1 an input or index that cannot be read, 2 a usage\n"
            "error.\n");
}

/* --name VALUE as an int in [lo, hi]; false (with a message) when it is not. */
static bool int_arg(const char *name, const char *v, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || errno || *end || end == v || x < lo || x > hi) {
        fprintf(stderr, "inferd index: %s wants an integer from %d to %d, not \"%s\"\n", name, lo,
                hi, v ? v : "");
        return false;
    }
    *out = (int)x;
    return true;
}

/* Progress on stderr: a line redrawn in place on a terminal, every tenth otherwise. */
static void progress(void *arg, const char *what, int64_t done, int64_t total)
{
    int *last_tenth = arg;
    if (isatty(2)) {
        fprintf(stderr, "\r%s: %lld / %lld (%.0f%%)", what, (long long)done, (long long)total,
                total ? 100.0 * (double)done / (double)total : 100.0);
        if (done == total) fputc('\n', stderr);
        return;
    }
    int tenth = total ? (int)(10 * done / total) : 10;
    if (tenth != *last_tenth || done == total) {
        if (tenth == *last_tenth) return; /* 100% already said */
        fprintf(stderr, "%s: %lld / %lld (%d%%)\n", what, (long long)done, (long long)total,
                tenth * 10);
        *last_tenth = done == total ? -1 : tenth; /* the next stage starts afresh */
    }
}

static int cmd_build(int argc, char **argv)
{
    const char *type = NULL, *metric = NULL, *input = NULL, *out = NULL;
    int threads = 1, nlist = 0, pq_m = 0, pq_bits = 8, seed = 0, hnsw_m = 0, efc = 0;
    bool refine = false;
    for (int i = 0; i < argc; i += 2) { /* --flag VALUE pairs */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = v != NULL;
        if (!strcmp(a, "--type") && v)
            type = v;
        else if (!strcmp(a, "--metric") && v)
            metric = v;
        else if (!strcmp(a, "--input") && v)
            input = v;
        else if (!strcmp(a, "--out") && v)
            out = v;
        else if (!strcmp(a, "--threads"))
            ok = int_arg("--threads", v, 1, MAX_THREADS, &threads);
        else if (!strcmp(a, "--nlist"))
            ok = int_arg("--nlist", v, 1, IDX_MAX_NLIST, &nlist);
        else if (!strcmp(a, "--pq-m"))
            ok = int_arg("--pq-m", v, 1, IDX_MAX_DIM, &pq_m);
        else if (!strcmp(a, "--pq-bits"))
            ok = int_arg("--pq-bits", v, 1, 8, &pq_bits);
        else if (!strcmp(a, "--seed"))
            ok = int_arg("--seed", v, 0, INT_MAX, &seed);
        else if (!strcmp(a, "--m"))
            ok = int_arg("--m", v, 2, IDX_MAX_M, &hnsw_m);
        else if (!strcmp(a, "--ef-construction"))
            ok = int_arg("--ef-construction", v, 1, 1 << 20, &efc);
        else if (!strcmp(a, "--refine") && v && !strcmp(v, "flat"))
            refine = true;
        else
            ok = false;
        if (!ok) {
            fprintf(stderr, "inferd index build: unknown or incomplete argument \"%s\"\n", a);
            return 2;
        }
    }
    if (!type || !metric || !input || !out) {
        fprintf(stderr, "inferd index build: --type, --metric, --input and --out are required\n");
        return 2;
    }
    int t = idx_type_parse(type), m = idx_metric_parse(metric);
    if (t < 0) {
        fprintf(stderr,
                "inferd index build: unknown --type \"%s\" (flat, ivf, ivfsq, ivfpq, hnsw)\n",
                type);
        return 2;
    }
    if (t != IDX_FLAT && t != IDX_HNSW && !nlist) {
        fprintf(stderr, "inferd index build: --type %s needs --nlist\n", type);
        return 2;
    }
    if (t == IDX_IVFPQ && !pq_m) {
        fprintf(stderr, "inferd index build: --type ivfpq needs --pq-m\n");
        return 2;
    }
    if (m < 0) {
        fprintf(stderr, "inferd index build: unknown --metric \"%s\" (l2, ip or cos)\n", metric);
        return 2;
    }
    char err[512];
    uint64_t t0 = clock_mono_ns();
    vecs_t v;
    if (vecs_read(input, &v, err, sizeof err)) {
        fprintf(stderr, "inferd index build: %s\n", err);
        return 1;
    }
    if (v.n == 0) {
        fprintf(stderr, "inferd index build: %s holds no vectors\n", input);
        vecs_free(&v);
        return 1;
    }
    fprintf(stderr, "read %lld vectors of dimension %d from %s in %.2f s\n", (long long)v.n, v.dim,
            input, (double)(clock_mono_ns() - t0) / 1e9);
    int tenth = -1;
    idx_params_t p = {.type = (idx_type_t)t,
                      .metric = (idx_metric_t)m,
                      .dim = v.dim,
                      .nlist = nlist,
                      .pq_m = pq_m,
                      .pq_bits = pq_bits,
                      .refine = refine,
                      .hnsw_m = hnsw_m,
                      .ef_construction = efc,
                      .threads = threads,
                      .seed = (uint64_t)seed,
                      .progress = progress,
                      .progress_arg = &tenth};
    idx_t *x = idx_new(&p, err, sizeof err);
    int rc = x ? 0 : 1;
    if (!x) fprintf(stderr, "inferd index build: %s\n", err);
    uint64_t t1 = clock_mono_ns();
    if (x && idx_train(x, v.data, v.n, err, sizeof err)) {
        fprintf(stderr, "inferd index build: training on %s: %s\n", input, err);
        rc = 1;
    }
    if (x && !rc && idx_needs_training(x))
        fprintf(stderr, "trained in %.2f s\n", (double)(clock_mono_ns() - t1) / 1e9);
    /* IVF and HNSW report their adding themselves: one call for them. */
    int64_t chunk = x && t != IDX_FLAT ? v.n : ADD_CHUNK;
    for (int64_t at = 0; x && at < v.n && !rc; at += chunk) {
        int64_t n = v.n - at < chunk ? v.n - at : chunk;
        if (idx_add(x, v.data + (size_t)at * (size_t)v.dim, NULL, n, err, sizeof err)) {
            fprintf(stderr, "inferd index build: %s: row %lld on: %s\n", input, (long long)at, err);
            rc = 1;
        } else if (t == IDX_FLAT) { /* the other kinds report their own adding */
            progress(&tenth, "adding", at + n, v.n);
        }
    }
    double build_s = (double)(clock_mono_ns() - t1) / 1e9;
    if (!rc && idx_save(x, out, err, sizeof err)) {
        fprintf(stderr, "inferd index build: %s\n", err);
        rc = 1;
    }
    if (!rc) {
        idx_info_t info;
        idx_get_info(x, &info);
        printf("%s: %s index, metric %s, %lld vectors of dimension %d\n", out,
               idx_type_name(info.type), idx_metric_name(info.metric), (long long)info.count,
               info.dim);
        printf("  memory %.1f MiB, build %.3f s (%d thread%s), total %.3f s\n",
               (double)info.bytes / 1048576.0, build_s, threads, threads == 1 ? "" : "s",
               (double)(clock_mono_ns() - t0) / 1e9);
    }
    idx_free(x);
    vecs_free(&v);
    return rc;
}

#define LAT_QUERIES 500 /* per thread: queries searched one by one for the latencies */

typedef struct search_job {
    const idx_t *x;
    const vecs_t *q;
    int k;
    idx_search_params_t sp;
    int64_t lo, hi;
    int32_t *out;     /* k ids per query */
    uint64_t *lat_ns; /* per query of the latency pass, from lo */
    int64_t *ids;     /* k per query of the range */
    float *dists;
    int *counts;
    uint64_t batch_ns; /* the batch pass */
    int64_t nlat;
    int64_t rc; /* 0, the failing query + 1, or -1 for out of memory */
} search_job_t;

/* The range as one batch (timed: queries/s), then its first LAT_QUERIES queries one by one
 * (timed each: the latencies), as bench/ann.sh measures the peers. */
static void *search_range(void *arg)
{
    search_job_t *j = arg;
    const int64_t n = j->hi - j->lo, dim = j->q->dim;
    const float *q = j->q->data + (size_t)j->lo * (size_t)dim;
    int64_t bad = 0;
    uint64_t t0 = clock_mono_ns();
    int e = idx_search_batch(j->x, q, n, j->k, &j->sp, j->ids, j->dists, j->counts, &bad);
    j->batch_ns = clock_mono_ns() - t0;
    if (e) {
        j->rc = e == -EINVAL ? j->lo + bad + 1 : -1;
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        for (int c = 0; c < j->k; c++) {
            int64_t id = j->ids[(size_t)i * (size_t)j->k + (size_t)c];
            j->out[(j->lo + i) * j->k + c] = c < j->counts[i] && id <= INT32_MAX ? (int32_t)id : -1;
        }
    for (int64_t i = 0; i < n && i < LAT_QUERIES; i++, j->nlat++) {
        t0 = clock_mono_ns();
        idx_search(j->x, q + (size_t)i * (size_t)dim, j->k, &j->sp, j->ids, j->dists);
        j->lat_ns[j->lo + i] = clock_mono_ns() - t0;
    }
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmd_search(int argc, char **argv)
{
    if (argc < 1 || argv[0][0] == '-') {
        fprintf(stderr, "inferd index search: the index FILE comes first\n");
        return 2;
    }
    const char *file = argv[0], *queries = NULL, *out = NULL;
    int k = 0, threads = 1, ef = 0, nprobe = 0, rerank = 0;
    for (int i = 1; i < argc; i += 2) { /* --flag VALUE pairs */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool ok = true;
        if (!strcmp(a, "--queries") && v)
            queries = v;
        else if (!strcmp(a, "--out") && v)
            out = v;
        else if (!strcmp(a, "--k"))
            ok = int_arg("--k", v, 1, 100000, &k);
        else if (!strcmp(a, "--threads"))
            ok = int_arg("--threads", v, 1, MAX_THREADS, &threads);
        else if (!strcmp(a, "--ef"))
            ok = int_arg("--ef", v, 1, 1 << 20, &ef);
        else if (!strcmp(a, "--nprobe"))
            ok = int_arg("--nprobe", v, 1, 1 << 20, &nprobe);
        else if (!strcmp(a, "--rerank"))
            ok = int_arg("--rerank", v, 1, IDX_MAX_RERANK, &rerank);
        else {
            fprintf(stderr, "inferd index search: unknown or incomplete argument \"%s\"\n", a);
            return 2;
        }
        if (!ok) return 2;
    }
    if (!queries || !k) {
        fprintf(stderr, "inferd index search: --queries and --k are required\n");
        return 2;
    }
    char err[512];
    idx_t *x = idx_load(file, err, sizeof err);
    if (!x) {
        fprintf(stderr, "inferd index search: %s\n", err);
        return 1;
    }
    idx_info_t info;
    idx_get_info(x, &info);
    vecs_t q;
    if (vecs_read(queries, &q, err, sizeof err)) {
        fprintf(stderr, "inferd index search: %s\n", err);
        idx_free(x);
        return 1;
    }
    if (q.n > 0 && q.dim != info.dim) {
        fprintf(stderr, "inferd index search: %s has dimension %d, the index %d\n", queries, q.dim,
                info.dim);
        vecs_free(&q);
        idx_free(x);
        return 1;
    }
    int32_t *res = malloc((size_t)(q.n ? q.n : 1) * (size_t)k * sizeof *res);
    uint64_t *lat = malloc((size_t)(q.n ? q.n : 1) * sizeof *lat);
    search_job_t jobs[MAX_THREADS] = {0};
    pthread_t th[MAX_THREADS];
    int rc = res && lat ? 0 : 1;
    if (threads > q.n && q.n > 0) threads = (int)q.n;
    for (int t = 0; t < threads && !rc; t++) {
        int64_t lo = q.n * t / threads, hi = q.n * (t + 1) / threads, m = hi - lo ? hi - lo : 1;
        jobs[t] = (search_job_t){.x = x,
                                 .q = &q,
                                 .k = k,
                                 .sp = {.ef = ef, .nprobe = nprobe, .rerank = rerank},
                                 .lo = lo,
                                 .hi = hi,
                                 .out = res,
                                 .lat_ns = lat,
                                 .ids = malloc((size_t)m * (size_t)k * sizeof(int64_t)),
                                 .dists = malloc((size_t)m * (size_t)k * sizeof(float)),
                                 .counts = malloc((size_t)m * sizeof(int))};
        if (!jobs[t].ids || !jobs[t].dists || !jobs[t].counts) rc = 1;
    }
    int started = 0;
    for (int t = 0; t < threads && !rc; t++, started++)
        if (pthread_create(&th[t], NULL, search_range, &jobs[t])) rc = 1;
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    uint64_t wall_ns = 0; /* the batch passes ran side by side: the slowest is the wall time */
    int64_t nlat = 0;
    for (int t = 0; t < threads && !rc; t++) {
        if (jobs[t].rc > 0) {
            fprintf(stderr, "inferd index search: %s: query %lld is not finite\n", queries,
                    (long long)jobs[t].rc - 1);
            rc = 1;
        } else if (jobs[t].rc < 0) {
            fprintf(stderr, "inferd index search: out of memory\n");
            rc = 1;
        }
        if (jobs[t].batch_ns > wall_ns) wall_ns = jobs[t].batch_ns;
        /* gather the measured latencies at the front */
        memmove(lat + nlat, lat + jobs[t].lo, (size_t)jobs[t].nlat * sizeof *lat);
        nlat += jobs[t].nlat;
    }
    double wall = (double)wall_ns / 1e9;
    if (rc == 1 && (!res || !lat)) fprintf(stderr, "inferd index search: out of memory\n");
    if (!rc && out && vecs_write_ivecs(out, res, q.n, k, err, sizeof err)) {
        fprintf(stderr, "inferd index search: %s\n", err);
        rc = 1;
    }
    if (!rc) {
        qsort(lat, (size_t)nlat, sizeof *lat, cmp_u64);
        double p50 = nlat ? (double)lat[(nlat - 1) / 2] / 1e3 : 0;
        double p99 = nlat ? (double)lat[(nlat * 99 - 1) / 100] / 1e3 : 0;
        printf(
            "%lld queries, k %d, %d thread%s: %.0f queries/s, latency p50 %.1f us, p99 %.1f us\n",
            (long long)q.n, k, threads, threads == 1 ? "" : "s", wall > 0 ? (double)q.n / wall : 0,
            p50, p99);
    }
    for (int t = 0; t < threads; t++) {
        free(jobs[t].ids);
        free(jobs[t].dists);
        free(jobs[t].counts);
    }
    free(res);
    free(lat);
    vecs_free(&q);
    idx_free(x);
    return rc;
}

static int cmd_info(int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "inferd index info: expected one index FILE\n");
        return 2;
    }
    char err[512];
    idx_t *x = idx_load(argv[0], err, sizeof err);
    if (!x) {
        fprintf(stderr, "inferd index info: %s\n", err);
        return 1;
    }
    idx_info_t info;
    idx_get_info(x, &info);
    printf("%s: %s index%s, metric %s, %lld vectors of dimension %d\n", argv[0],
           idx_type_name(info.type), info.refine ? " (vectors kept: --refine flat)" : "",
           idx_metric_name(info.metric), (long long)info.count, info.dim);
    if (info.removed)
        printf("  %lld more removed, kept as waypoints of the graph\n", (long long)info.removed);
    printf("  file %zu bytes, format version %d, checksums verified\n", info.bytes, info.version);
    idx_free(x);
    return 0;
}

int cmd_index(int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        index_usage(argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            index_usage(stdout);
            return 0;
        }
    if (!strcmp(argv[0], "build")) return cmd_build(argc - 1, argv + 1);
    if (!strcmp(argv[0], "search")) return cmd_search(argc - 1, argv + 1);
    if (!strcmp(argv[0], "info")) return cmd_info(argc - 1, argv + 1);
    fprintf(stderr, "inferd index: unknown subcommand \"%s\" (build, search or info)\n", argv[0]);
    index_usage(stderr);
    return 2;
}
