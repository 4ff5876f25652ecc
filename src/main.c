/* inferd command line: parses flags into a config, wires the subsystems, runs until a signal,
 * then shuts down in reverse order. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api/api.h"
#include "cli/cli.h"
#include "config.h"
#include "http/server.h"
#include "metrics/metrics.h"
#include "models/repo.h"
#include "sched/pool.h"
#include "cache/cache.h"
#include "ingest/ingest.h"
#include "serve/collections.h"
#include "serve/embedders.h"
#include "serve/serve.h"
#include "store/store.h"
#include "util/log.h"
#include "util/shutdown.h"
#include "version.h"

static void usage(FILE *out)
{
    fprintf(out,
            "inferd %s - ML inference server\n\n"
            "Usage: inferd <command> [options]\n\n"
            "Commands:\n"
            "  serve      run the HTTP server\n"
            "  run        run a model once on JSON input (offline inference)\n"
            "  check      load and validate a model, describe its inputs and ops\n"
            "  bench      time repeated runs of a model on one input\n"
            "  index      build, search and describe vector index files\n"
            "  version    print the version\n"
            "  help       show this help\n\n"
            "Run 'inferd <command> --help' for the options of a command.\n",
            INFERD_VERSION);
}

static void serve_usage(FILE *out)
{
    fprintf(out, "Usage: inferd serve [options]\n\n"
                 "Settings come from the built-in defaults, then the INI file given with\n"
                 "--config, then INFERD_<SETTING> environment variables (e.g. INFERD_LISTEN),\n"
                 "then these flags; later sources win.\n\n"
                 "  --config FILE            INI file ([server], [models], [store], [limits], "
                 "[auth], [log])\n"
                 "  --print-config           print the effective settings and exit\n"
                 "  --help                   show this help\n");
    config_print_help(out);
}

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    ssize_t r = write(sig_pipe[1], &b, 1); /* async-signal-safe; a full pipe loses nothing new */
    (void)r;
    errno = saved;
}

/* The loader thread says the first load has finished with a 0 byte: no signal is 0. */
static void on_first_load(void *arg, int failed, const char *err)
{
    if (failed == REPO_NOTFOUND) log_warn("%s: serving no models", err);
    unsigned char b = 0;
    ssize_t r = write(sig_pipe[1], &b, 1);
    (void)r;
}

/* Waits for the first load while still answering signals. Returns 0 once it has finished, or
 * the stop signal (SIGINT, SIGTERM) that came first: the load is then abandoned. */
static int wait_first_load(void)
{
    for (;;) {
        unsigned char sig = 0xff;
        struct pollfd pfd = {.fd = sig_pipe[0], .events = POLLIN};
        if (poll(&pfd, 1, -1) < 0 || read(sig_pipe[0], &sig, 1) != 1) continue;
        if (sig == 0) return 0;
        if (sig == SIGINT || sig == SIGTERM) return sig;
        /* SIGHUP: the load in progress reads the repository anyway. */
    }
}

/* Acknowledged records the store could not write, counted at its close: inferd then exits 1. */
static uint64_t store_lost;

/* The journal directory the "journal" setting names for this store, or NULL for none: "auto" is
 * PATH.journal beside sqlite:PATH and inferd-journal in the working directory otherwise. */
static const char *journal_dir(const char *store, const char *setting, char *out, size_t n)
{
    if (strcmp(setting, "none") == 0 || !*setting) return NULL;
    if (strcmp(setting, "auto") != 0) return setting;
    if (strncmp(store, "sqlite:", 7) == 0)
        snprintf(out, n, "%s.journal", store + 7);
    else
        snprintf(out, n, "inferd-journal");
    return out;
}

static void hook_store(void *arg)
{
    store_t **s = arg;
    store_lost = store_close(*s); /* commits everything queued; durable answers go out */
    *s = NULL;
}

static uint64_t ingest_lost; /* acknowledged rows the ingest could not write */
typedef struct ingest_hook {
    ingest_t *g;
    api_ingest_t *api;
} ingest_hook_t;

static void hook_ingest(void *arg)
{
    ingest_hook_t *h = arg;
    api_ingest_detach(h->api);        /* writes still arriving get 503 */
    ingest_lost = ingest_close(h->g); /* every buffer flushed to its file */
    h->g = NULL;
}

/* The ingest store and its endpoints, when --ingest-dir is set: 0, or the exit code. */
static int start_ingest(const config_t *cfg, http_router_t *rt, ingest_hook_t *h)
{
    if (!cfg->ingest_dir[0]) return 0;
    ingest_opts_t o = {.dir = cfg->ingest_dir,
                       .flush_records = cfg->ingest_flush_records,
                       .flush_ms = cfg->ingest_flush_ms,
                       .zstd_level = (int)cfg->ingest_zstd_level,
                       .max_bytes = (size_t)cfg->ingest_max_bytes,
                       .flush_threads = (int)cfg->ingest_flush_threads,
                       .max_measurements = (int)cfg->ingest_max_measurements,
                       .journal_segment_bytes = (size_t)cfg->journal_segment_bytes,
                       .journal_max_bytes = (size_t)cfg->journal_max_bytes};
    if (!strcmp(cfg->ingest_durability, "buffered"))
        o.durability = INGEST_BUFFERED;
    else if (!strcmp(cfg->ingest_durability, "wal"))
        o.durability = INGEST_WAL;
    else {
        fprintf(stderr, "inferd serve: ingest_durability must be buffered or wal\n");
        return 2;
    }
    const char *bad = cfg->ingest_zstd_level < 1 || cfg->ingest_zstd_level > 19
                          ? "ingest_zstd_level must be 1 to 19"
                      : cfg->ingest_flush_records < 1 ? "ingest_flush_records must be at least 1"
                      : cfg->ingest_flush_ms < 1      ? "ingest_flush_ms must be at least 1ms"
                      : cfg->ingest_flush_threads < 1 || cfg->ingest_flush_threads > 64
                          ? "ingest_flush_threads must be 1 to 64"
                      : cfg->ingest_max_measurements < 1 || cfg->ingest_max_measurements > 1000000
                          ? "ingest_max_measurements must be 1 to 1,000,000"
                      : cfg->ingest_max_bytes < (1 << 20) ? "ingest_max_bytes must be at least 1m"
                                                          : NULL;
    if (bad) {
        fprintf(stderr, "inferd serve: %s\n", bad);
        return 2;
    }
    if (!strcmp(cfg->ingest_compression, "zstd"))
        o.codec = PQ_ZSTD;
    else if (!strcmp(cfg->ingest_compression, "snappy"))
        o.codec = PQ_SNAPPY;
    else if (!strcmp(cfg->ingest_compression, "none"))
        o.codec = PQ_UNCOMPRESSED;
    else {
        fprintf(stderr, "inferd serve: ingest_compression must be zstd, snappy or none\n");
        return 2;
    }
    char err[512];
    if (!(h->g = ingest_open(&o, err, sizeof err))) {
        fprintf(stderr, "inferd serve: ingest: %s\n", err);
        return 1;
    }
    if (!(h->api = api_ingest_new(h->g, (size_t)cfg->ingest_max_body_bytes))) {
        ingest_close(h->g);
        h->g = NULL;
        fprintf(stderr, "inferd serve: out of memory\n");
        return 1;
    }
    api_ingest_register(rt, h->api);
    shutdown_hook_add("ingest", hook_ingest, h);
    log_info("ingest: writing Parquet under %s (%s)", cfg->ingest_dir, cfg->ingest_durability);
    return 0;
}

static void hook_pool(void *arg)
{
    pool_stop(arg); /* runs what is queued; the answers still reach clients */
}

static void hook_colls(void *arg)
{
    colls_stop(arg); /* its replay reads the store, which closes next */
}

static void hook_debug(void *arg)
{
    api_debug_shutdown();
}

/* Applies flags (everything but --config) on top of cfg. Returns 0, or 2 on a usage error. */
static int apply_flags(config_t *cfg, int argc, char **argv, bool *print_config)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--print-config") == 0) {
            *print_config = true;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "inferd serve: unexpected argument \"%s\"\n", a);
            return 2;
        }
        char name[64];
        const char *eq = strchr(a, '='), *value;
        size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (n >= sizeof name) n = sizeof name - 1;
        memcpy(name, a + 2, n);
        name[n] = 0;
        if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            fprintf(stderr, "inferd serve: --%s needs a value\n", name);
            return 2;
        }
        if (strcmp(name, "config") == 0) continue; /* already loaded */
        const char *key = config_key_for_flag(name);
        char err[256];
        if (!key) {
            fprintf(stderr, "inferd serve: unknown option --%s (see inferd serve --help)\n", name);
            return 2;
        }
        if (config_set(cfg, key, value, "flag", err, sizeof err)) {
            fprintf(stderr, "inferd serve: --%s: %s\n", name, err);
            return 2;
        }
    }
    return 0;
}

/* Each connection is a descriptor: lift the soft limit to the hard one (as nginx's
 * worker_rlimit_nofile does) and warn if max_connections still cannot be reached. */
static void raise_fd_limit(const config_t *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)cfg->max_connections + 64 > rl.rlim_cur)
        log_warn("max_connections=%lld but the descriptor limit is %llu; connections beyond it "
                 "will wait in the kernel's accept queue",
                 (long long)cfg->max_connections, (unsigned long long)rl.rlim_cur);
}

static int cmd_serve(int argc, char **argv)
{
    const char *config_path = NULL;
    embedders_t *embedders = NULL;
    colls_t *colls = NULL;
    api_embed_t *api_emb = NULL;
    cache_t *cache = NULL;
    static ingest_hook_t ingest; /* static: the shutdown hook holds it */
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            serve_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            config_path = argv[i] + 9;
    }

    config_t cfg;
    config_init(&cfg);
    char err[512];
    int rc = 0;
    bool print_config = false;
    if (config_path && config_load_file(&cfg, config_path, err, sizeof err)) {
        fprintf(stderr, "inferd serve: config: %s\n", err);
        rc = 2;
        goto out;
    }
    if (config_load_env(&cfg, err, sizeof err)) {
        fprintf(stderr, "inferd serve: environment: %s\n", err);
        rc = 2;
        goto out;
    }
    if ((rc = apply_flags(&cfg, argc, argv, &print_config))) goto out;
    if (print_config) {
        config_print(&cfg, stdout);
        goto out;
    }
    const char *lerr = NULL;
    if (log_setup(cfg.log_level, cfg.log_format, cfg.log_file, &lerr)) {
        fprintf(stderr, "inferd serve: %s\n", lerr);
        rc = 2;
        goto out;
    }

    raise_fd_limit(&cfg);
    /* Request bodies and decoded columns run to megabytes and live for one request: glibc would
     * map and unmap each (its threshold starts at 128 KiB), and the page faults and TLB
     * shootdowns that cost were a tenth of ingestion's CPU. Kept in the heap instead, they are
     * reused. */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);

    /* Signals go through a handler that writes to a pipe this thread reads. Blocking them and
     * calling sigwait() is not enough: libraries (OpenBLAS) start threads before main() with
     * the signals unblocked, and the default action on such a thread would kill the process. */
    if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK)) {
        fprintf(stderr, "inferd serve: pipe: %s\n", strerror(errno));
        rc = 1;
        goto out;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    http_router_t *rt = router_new();
    auth_t *auth = auth_new(&cfg, err, sizeof err);
    if (!rt || !auth) {
        fprintf(stderr, "inferd serve: %s\n", rt ? err : "out of memory");
        router_free(rt);
        auth_free(auth);
        rc = 2;
        goto out;
    }
    static api_health_t health; /* filled in below, once the store and models exist */
    api_health_register(rt, &health);
    api_metrics_register(rt);

    /* Models and the compute pool that runs them. */
    int defdur = durability_parse(cfg.durability);
    if (defdur < 0) {
        fprintf(stderr, "inferd serve: durability must be committed, durable, buffered or off\n");
        router_free(rt);
        auth_free(auth);
        rc = 2;
        goto out;
    }
    store_t *store = NULL;
    char jdir[4096];
    if (strcmp(cfg.store, "none") != 0) {
        store_opts_t so = {.queue_max_records = (size_t)cfg.store_queue_records,
                           .batch_max_records = (int)cfg.store_batch_records,
                           .flush_interval_ms = (int)cfg.store_flush_ms,
                           .journal_dir = journal_dir(cfg.store, cfg.journal, jdir, sizeof jdir),
                           .journal_segment_bytes = (size_t)cfg.journal_segment_bytes,
                           .journal_max_bytes = (size_t)cfg.journal_max_bytes,
                           .journal_feed_bytes = (size_t)cfg.journal_feed_bytes};
        store = store_open(cfg.store, &so, err, sizeof err);
        if (!store) {
            fprintf(stderr, "inferd serve: store: %s\n", err);
            router_free(rt);
            auth_free(auth);
            rc = 1;
            goto out;
        }
        shutdown_hook_add("store", hook_store, &store);
    }
    health.store = store;
    int nworkers =
        cfg.compute_threads > 0 ? (int)cfg.compute_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nworkers < 1) nworkers = 1;
    /* Static: a loader thread abandoned at shutdown (stuck in I/O) may still touch it. Models
     * load on that thread; this one keeps answering signals meanwhile. */
    static repo_t repo;
    health.repo = &repo;
    int stop_sig = 0;
    if (repo_init(&repo, cfg.models, (durability_t)defdur) ||
        repo_loader_start(&repo, (int)cfg.model_load_queue, (int)cfg.model_poll_ms) ||
        repo_post_reload(&repo, NULL, on_first_load, NULL))
        log_error("cannot start the model loader: serving no models");
    else
        stop_sig = wait_first_load();
    pool_t *pool = pool_new(nworkers, (size_t)cfg.compute_queue);
    serve_t *serve = pool ? serve_new(&repo, pool, store, (int)cfg.engine_threads) : NULL;
    if (!serve) {
        fprintf(stderr, "inferd serve: cannot start %d compute threads\n", nworkers);
        pool_free(pool);
        if (repo_loader_stop(&repo, 1000)) repo_free(&repo);
        store_close(store);
        router_free(rt);
        auth_free(auth);
        rc = 1;
        goto out;
    }
    api_oip_register(rt, serve);
    api_inferences_register(rt, serve);
    int colldur = durability_parse(cfg.collection_durability);
    colls_limits_t cl = {(int)cfg.collection_max_dim, (int)cfg.collection_max_points,
                         (int)cfg.collection_max_k, (int)cfg.collection_max_count};
    if (colldur < 0 || !(colls = colls_new(serve, &cl, (durability_t)colldur)) ||
        colls_start(colls)) {
        fprintf(stderr, "inferd serve: %s\n",
                colldur < 0 ? "collection_durability must be committed, durable, buffered or off"
                            : "cannot start the collections");
        rc = colldur < 0 ? 2 : 1;
        goto free_rt;
    }
    shutdown_hook_add("collections", hook_colls, colls);
    health.colls = colls;
    static api_colls_t acolls;
    acolls = (api_colls_t){serve, colls, NULL}; /* embedders are set below */
    api_collections_register(rt, &acolls);
    api_recommend_register(rt, serve);
    /* Throughput under load comes from one batch per core; a single request's latency from
     * engine_threads. */
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int embed_workers = cfg.embed_workers > 0 ? (int)cfg.embed_workers : ncpu > 0 ? (int)ncpu : 1;
    embed_cfg_t ecfg = {embed_workers,
                        (int)cfg.engine_threads,
                        (int)cfg.embed_max_batch,
                        (int)cfg.embed_max_batch_tokens,
                        (int)cfg.embed_max_delay_us,
                        (int)cfg.embed_queue};
    cache_opts_t co = {(size_t)cfg.cache_bytes, "embed",        cfg.redis_url, cfg.redis_ttl_s,
                       cfg.redis_timeout_ms,    cfg.redis_queue};
    if ((cfg.cache_bytes > 0 || cfg.redis_url[0]) && !(cache = cache_new(&co, err, sizeof err))) {
        fprintf(stderr, "inferd serve: cache: %s\n", err);
        rc = 1;
        goto free_rt;
    }
    embedders = embedders_new(&repo, &ecfg, cache);
    api_emb = embedders ? api_embed_new(embedders, pool, (int)cfg.embed_max_inputs,
                                        (size_t)cfg.max_body_bytes)
                        : NULL;
    if (!api_emb) {
        fprintf(stderr, "inferd serve: out of memory\n");
        rc = 1;
        goto free_rt;
    }
    api_embed_register(rt, api_emb);
    acolls.emb = embedders;
    shutdown_hook_add("compute pool", hook_pool, pool);
    if (cfg.debug_endpoints) {
        api_debug_register(rt);
        shutdown_hook_add("debug endpoints", hook_debug, NULL);
    }
    if ((rc = start_ingest(&cfg, rt, &ingest))) goto free_rt;
    if (stop_sig) {
        log_info("%s during the first model load: stopped",
                 stop_sig == SIGINT ? "SIGINT" : "SIGTERM");
        goto free_rt;
    }

    http_server_t *srv = http_server_new(&cfg, rt, err, sizeof err);
    if (!srv) {
        fprintf(stderr, "inferd serve: %s\n", err);
        rc = 1;
        goto free_rt;
    }
    http_server_set_guard(srv, auth_guard, auth);
    if (http_server_start(srv)) {
        fprintf(stderr, "inferd serve: cannot start event loops\n");
        rc = 1;
        goto free_srv;
    }
    log_info("inferd %s listening on %.*s:%d (api keys %s)", INFERD_VERSION,
             (int)(strrchr(cfg.listen, ':') - cfg.listen), cfg.listen, http_server_port(srv),
             cfg.api_keys[0] || cfg.api_key_hashes[0] ? "required" : "off");

    for (;;) {
        unsigned char sig = 0;
        struct pollfd pfd = {.fd = sig_pipe[0], .events = POLLIN};
        if (poll(&pfd, 1, -1) < 0 || read(sig_pipe[0], &sig, 1) != 1 || sig == 0) continue;
        if (sig == SIGHUP) {
            log_info("SIGHUP: reloading the model repository %s", cfg.models);
            if (repo_post_reload(&repo, NULL, NULL, NULL))
                log_warn("SIGHUP: the model loader's queue is full; reload not queued");
            continue;
        }
        log_info("%s: shutting down (up to %lld ms for in-flight requests)",
                 sig == SIGINT ? "SIGINT" : "SIGTERM", (long long)cfg.shutdown_timeout_ms);
        break;
    }
    /* Readiness says no from now on: balancers stop sending, and no probe reads the store once
     * its shutdown hook has closed it. */
    atomic_store(&health.stopping, true);
    repo_loader_cancel(&repo); /* a load in progress answers now, not after the drain */
    http_server_drain(srv, (long)cfg.shutdown_timeout_ms);
    shutdown_hooks_run();
    http_server_stop(srv);
    if (ingest_lost) {
        log_error("stopped: %llu acknowledged ingested rows were not written to files",
                  (unsigned long long)ingest_lost);
        rc = 1;
    } else if (store_lost) {
        log_error("stopped: %llu acknowledged records were not written (see the store's errors "
                  "above)",
                  (unsigned long long)store_lost);
        rc = 1;
    } else {
        log_info("stopped");
    }
free_srv:
    http_server_free(srv);
free_rt:
    if (ingest.g) { /* a start that failed before the shutdown hooks ran */
        api_ingest_detach(ingest.api);
        ingest_close(ingest.g);
        ingest.g = NULL;
    }
    colls_stop(colls); /* before the store closes */
    pool_stop(pool);   /* idempotent: a no-op after the shutdown hook */
    serve_free(serve);
    pool_free(pool);
    store_close(store); /* NULL after its shutdown hook */
    colls_free(colls);
    if (!repo_loader_stop(&repo, 1000)) {
        /* A load stuck in I/O still runs on its thread: leave before library destructors (such
         * as OpenBLAS freeing its buffers) pull memory from under it. */
        log_close();
        _exit(rc);
    }
    /* L2 first: lookups still pending are answered as misses and queue to batchers that the
     * repository then stops (running what is queued) with their entries. */
    cache_stop_l2(cache);
    repo_free(&repo);
    api_embed_free(api_emb);
    embedders_free(embedders);
    router_free(rt);
    auth_free(auth);
    metrics_free_all();
    api_ingest_free(ingest.api); /* after the last metrics render, which reads it */
    cache_free(cache);           /* after the last metrics render, which reads the L1 */
    log_close();
out:
    config_deinit(&cfg);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("inferd %s\n", INFERD_VERSION);
        return 0;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0) return cmd_serve(argc - 2, argv + 2);
    if (strcmp(cmd, "run") == 0) return cmd_run(argc - 2, argv + 2);
    if (strcmp(cmd, "check") == 0) return cmd_check(argc - 2, argv + 2);
    if (strcmp(cmd, "bench") == 0) return cmd_bench(argc - 2, argv + 2);
    if (strcmp(cmd, "index") == 0) return cmd_index(argc - 2, argv + 2);
    fprintf(stderr, "inferd: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return 2;
}
