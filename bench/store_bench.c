/* Store benchmark: closed-loop clients (each waits for its ack, like an HTTP client) submitting
 * prediction records to a real SQLite file; reports records/s, commits/s, records per commit and
 * ack latency percentiles. Usage:
 *   store_bench [--mode durable|buffered] [--clients N] [--bulk ROWS] [--seconds S]
 *               [--input-bytes B] [--db PATH]
 * With --db omitted the file goes to a fresh directory under $TMPDIR (or /tmp), removed after. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "util/clock.h"

typedef struct cfg {
    durability_t mode;
    int clients, bulk, seconds, input_bytes;
} cfg_t;

typedef struct client {
    store_t *s;
    const cfg_t *c;
    const char *input, *output;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int acks, failures;
    uint64_t records, rejected;
    uint64_t *lat_us; /* one per request, for percentiles */
    size_t nlat, caplat;
    pthread_t th;
} client_t;

static atomic_bool stop;

static void on_done(void *arg, int status)
{
    client_t *k = arg;
    pthread_mutex_lock(&k->mu);
    k->acks++;
    if (status) k->failures++;
    pthread_cond_signal(&k->cv);
    pthread_mutex_unlock(&k->mu);
}

static void *client_main(void *arg)
{
    client_t *k = arg;
    store_record_t *recs = calloc((size_t)k->c->bulk, sizeof *recs);
    int sent = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (int i = 0; i < k->c->bulk; i++)
            recs[i] = (store_record_t){.model = "breast_cancer",
                                       .version = "1",
                                       .request_id = "bench",
                                       .input_json = k->input,
                                       .output_json = k->output,
                                       .latency_ms = 0.05};
        uint64_t t0 = clock_mono_ns();
        int rc = store_submit(k->s, recs, k->c->bulk, k->c->mode, on_done, k);
        if (rc == -EAGAIN) {
            k->rejected++;
            usleep(100);
            continue;
        }
        if (rc) {
            fprintf(stderr, "store_submit: %s\n", strerror(-rc));
            break;
        }
        sent++;
        pthread_mutex_lock(&k->mu);
        while (k->acks < sent) pthread_cond_wait(&k->cv, &k->mu);
        pthread_mutex_unlock(&k->mu);
        k->records += (uint64_t)k->c->bulk;
        if (k->nlat == k->caplat) {
            k->caplat = k->caplat ? k->caplat * 2 : 4096;
            k->lat_us = realloc(k->lat_us, k->caplat * sizeof *k->lat_us);
        }
        k->lat_us[k->nlat++] = (clock_mono_ns() - t0) / 1000;
    }
    free(recs);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    cfg_t c = {.mode = DUR_DURABLE, .clients = 8, .bulk = 1, .seconds = 3, .input_bytes = 300};
    const char *db = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--mode") == 0 && v && durability_parse(v) > 0)
            c.mode = (durability_t)durability_parse(argv[++i]);
        else if (strcmp(argv[i], "--clients") == 0 && v)
            c.clients = atoi(argv[++i]);
        else if (strcmp(argv[i], "--bulk") == 0 && v)
            c.bulk = atoi(argv[++i]);
        else if (strcmp(argv[i], "--seconds") == 0 && v)
            c.seconds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--input-bytes") == 0 && v)
            c.input_bytes = atoi(argv[++i]);
        else if (strcmp(argv[i], "--db") == 0 && v)
            db = argv[++i];
        else {
            fprintf(stderr,
                    "usage: %s [--mode durable|buffered] [--clients N] [--bulk ROWS] "
                    "[--seconds S] [--input-bytes B] [--db PATH]\n",
                    argv[0]);
            return 2;
        }
    }
    if (c.clients < 1 || c.bulk < 1 || c.seconds < 1 || c.input_bytes < 8) return 2;

    char dir[256] = "", path[512];
    if (!db) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/store_bench_XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
        snprintf(path, sizeof path, "%s/bench.db", dir);
        db = path;
    }
    /* A feature vector of about input_bytes, like seed 000's 30-feature tabular request. */
    char *input = malloc((size_t)c.input_bytes + 32);
    size_t n = 0;
    n += (size_t)sprintf(input, "{\"features\":[");
    while (n < (size_t)c.input_bytes - 8) n += (size_t)sprintf(input + n, "0.%04d,", (int)n);
    sprintf(input + n - 1, "]}");
    const char *output = "{\"label\":1,\"probabilities\":[0.0123,0.9877]}";

    char uri[600], err[256];
    snprintf(uri, sizeof uri, "sqlite:%s", db);
    store_t *s = store_open(uri, NULL, err, sizeof err);
    if (!s) return fprintf(stderr, "%s\n", err), 1;
    client_t *k = calloc((size_t)c.clients, sizeof *k);
    uint64_t t0 = clock_mono_ns();
    for (int i = 0; i < c.clients; i++) {
        k[i] = (client_t){.s = s, .c = &c, .input = input, .output = output};
        pthread_mutex_init(&k[i].mu, NULL);
        pthread_cond_init(&k[i].cv, NULL);
        pthread_create(&k[i].th, NULL, client_main, &k[i]);
    }
    sleep((unsigned)c.seconds);
    atomic_store(&stop, true);
    uint64_t records = 0, rejected = 0;
    size_t nlat = 0;
    int failures = 0;
    for (int i = 0; i < c.clients; i++) {
        pthread_join(k[i].th, NULL);
        records += k[i].records;
        rejected += k[i].rejected;
        failures += k[i].failures;
        nlat += k[i].nlat;
    }
    double secs = (double)(clock_mono_ns() - t0) / 1e9;
    store_stats_t st;
    store_stats(s, &st);
    uint64_t tc = clock_mono_ns();
    store_close(s);
    double close_ms = (double)(clock_mono_ns() - tc) / 1e6;
    store_stats_t fin = st; /* commits made by close are not in the rate */

    uint64_t *lat = malloc((nlat ? nlat : 1) * sizeof *lat);
    size_t m = 0;
    for (int i = 0; i < c.clients; i++) {
        memcpy(lat + m, k[i].lat_us, k[i].nlat * sizeof *lat);
        m += k[i].nlat;
        free(k[i].lat_us);
    }
    qsort(lat, nlat, sizeof *lat, cmp_u64);
    printf("mode=%s clients=%d bulk=%d input_bytes=%d seconds=%.1f\n", durability_name(c.mode),
           c.clients, c.bulk, c.input_bytes, secs);
    printf("  requests/s %.0f  records/s %.0f  commits/s %.0f  records/commit %.1f\n",
           (double)nlat / secs, (double)records / secs, (double)fin.commits / secs,
           fin.commits ? (double)fin.records_written / (double)fin.commits : 0.0);
    if (nlat)
        printf("  ack latency us: p50 %llu  p99 %llu  max %llu\n",
               (unsigned long long)lat[nlat / 2], (unsigned long long)lat[nlat * 99 / 100],
               (unsigned long long)lat[nlat - 1]);
    printf("  failures %d  rejected(503) %llu  close %.1f ms\n", failures,
           (unsigned long long)rejected, close_ms);
    free(lat);
    free(k);
    free(input);
    if (dir[0]) {
        char p[600];
        const char *suffix[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
            snprintf(p, sizeof p, "%s%s", path, suffix[i]);
            unlink(p);
        }
        rmdir(dir);
    }
    return failures ? 1 : 0;
}
