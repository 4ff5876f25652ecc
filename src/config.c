/* Settings table and the three layers that override it (INI file, environment, flags). Every
 * limit the server enforces is a row here, so --help and --print-config document all of them. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef enum { T_STR, T_INT, T_SIZE, T_MS, T_BOOL } type_t;

typedef struct setting {
    const char *section;
    const char *key;
    type_t type;
    size_t offset;
    const char *def;
    const char *help;
    bool secret;
} setting_t;

#define F(field) offsetof(config_t, field)

static const setting_t settings[] = {
    {"server", "listen", T_STR, F(listen), "127.0.0.1:8080", "address to listen on, HOST:PORT", 0},
    {"server", "threads", T_INT, F(threads), "0", "event-loop threads (0 = one per CPU core)", 0},
    {"server", "debug_endpoints", T_BOOL, F(debug_endpoints), "false",
     "expose /debug/delay and /debug/echo (tests and diagnosis only)", 0},
    {"models", "models", T_STR, F(models), "models",
     "model repository: DIR/<name>/<version>/model.onnx or DIR/<name>.onnx", 0},
    {"models", "compute_threads", T_INT, F(compute_threads), "0",
     "inference worker threads (0 = one per CPU core)", 0},
    {"models", "compute_queue", T_INT, F(compute_queue), "1024",
     "requests waiting for a worker; beyond it 503 with Retry-After", 0},
    {"models", "engine_threads", T_INT, F(engine_threads), "1",
     "threads one inference may use: each engine session keeps a pool of this many (GEMM blocks, "
     "attention heads, large tree batches)",
     0},
    {"models", "model_load_queue", T_INT, F(model_load_queue), "16",
     "load requests (POST /v2/repository/models/{m}/load) waiting for the model loader; beyond "
     "it 503 with Retry-After",
     0},
    {"models", "model_poll_ms", T_MS, F(model_poll_ms), "0",
     "rescan the model repository this often and load changed files (0 = only on SIGHUP or the "
     "load API)",
     0},
    {"embed", "embed_max_inputs", T_INT, F(embed_max_inputs), "256",
     "texts in one embedding request (/embed, /v1/embeddings, /tokenize); more are answered 413",
     0},
    {"embed", "embed_workers", T_INT, F(embed_workers), "0",
     "batch threads per embedding model, each running one batch at a time with engine_threads "
     "(0 = one per CPU core)",
     0},
    {"embed", "embed_max_batch", T_INT, F(embed_max_batch), "32",
     "texts one encoder batch may hold (1 = no batching)", 0},
    {"embed", "embed_max_batch_tokens", T_INT, F(embed_max_batch_tokens), "16384",
     "tokens one encoder batch may hold, padding included (batch size x longest text)", 0},
    {"embed", "embed_max_delay_us", T_INT, F(embed_max_delay_us), "0",
     "microseconds a batch below embed_max_batch waits for more texts (0 = run what is queued "
     "at once; batches still form while every worker is busy)",
     0},
    {"embed", "embed_queue", T_INT, F(embed_queue), "4096",
     "texts waiting per embedding model; beyond it 503 with Retry-After", 0},
    {"store", "store", T_STR, F(store), "sqlite:inferd.db",
     "where predictions are recorded: sqlite:PATH, postgres:CONNINFO, none, or null:[US] "
     "(benchmarks: discards records, each commit takes US microseconds)",
     0},
    {"store", "durability", T_STR, F(durability), "durable",
     "models without config.ini: committed (answer after the database commit), durable (after "
     "the journal's fsync; the commit with --journal none), buffered, off",
     0},
    {"store", "journal", T_STR, F(journal), "auto",
     "journal directory: durable records are acknowledged on its fsync and fed to the store from "
     "it; auto = PATH.journal beside sqlite:PATH, else inferd-journal in the working directory; "
     "none = no journal (durable then waits for the database commit)",
     0},
    {"store", "journal_segment_bytes", T_SIZE, F(journal_segment_bytes), "16m",
     "size of each journal segment file (preallocated)", 0},
    {"store", "journal_feed_bytes", T_SIZE, F(journal_feed_bytes), "32m",
     "journal appends kept in memory until applied, so the applier need not read them back from "
     "disk; beyond it, it does",
     0},
    {"store", "journal_max_bytes", T_SIZE, F(journal_max_bytes), "1g",
     "journal segments kept for records the store has not applied yet; beyond it 503", 0},
    {"store", "store_queue_records", T_INT, F(store_queue_records), "65536",
     "records waiting to be committed; beyond it 503 with Retry-After", 0},
    {"store", "store_batch_records", T_INT, F(store_batch_records), "4096",
     "most records one transaction commits (group commit)", 0},
    {"store", "store_flush_ms", T_MS, F(store_flush_ms), "50ms",
     "buffered durability: longest time before a record is committed (the loss window)", 0},
    {"collections", "collection_durability", T_STR, F(collection_durability), "durable",
     "when a change to a vector collection is answered: committed, durable or buffered (as for "
     "predictions; off keeps collections in memory only)",
     0},
    {"collections", "collection_max_dim", T_INT, F(collection_max_dim), "4096",
     "values per vector a collection may hold", 0},
    {"collections", "collection_max_points", T_INT, F(collection_max_points), "10000",
     "points in one POST /collections/{c}/points; more are answered 413", 0},
    {"collections", "collection_max_k", T_INT, F(collection_max_k), "1000",
     "results one collection search may ask for", 0},
    {"collections", "collection_max_count", T_INT, F(collection_max_count), "1000",
     "collections at most", 0},
    {"cache", "cache_bytes", T_SIZE, F(cache_bytes), "64m",
     "in-process L1 cache of embedding answers: byte budget (keys, values and overhead); 0 = off",
     0},
    {"cache", "redis_url", T_STR, F(redis_url), "",
     "L2 cache in Redis: redis://[[user]:password@]host[:port][/db] or "
     "unix:/path.sock[?db=N&password=P]; empty = no L2",
     1},
    {"cache", "redis_ttl_s", T_INT, F(redis_ttl_s), "3600",
     "seconds an L2 entry lives in Redis (SET ... EX); 0 = no expiry", 0},
    {"cache", "redis_timeout_ms", T_MS, F(redis_timeout_ms), "10ms",
     "an L2 lookup not answered within this is a miss (computed instead); Redis is then "
     "reconnected with back-off",
     0},
    {"cache", "redis_queue", T_INT, F(redis_queue), "4096",
     "L2 requests queued or in flight; beyond it a lookup is a miss at once", 0},
    {"ingest", "ingest_dir", T_STR, F(ingest_dir), "",
     "where ingested events go as Parquet files (DIR/{db}/{measurement}/YYYY/MM/DD/HH/); enables "
     "the write endpoints (/api/v1/write/msgpack, /api/v2/write, /write, "
     "/api/v1/write/line-protocol); empty = off",
     0},
    {"ingest", "ingest_durability", T_STR, F(ingest_durability), "buffered",
     "when a write is answered: buffered (rows in memory; a crash loses up to ingest_flush_ms of "
     "them) or wal (after the ingest journal's fdatasync, in DIR/.wal; replayed at start)",
     0},
    {"ingest", "ingest_flush_records", T_INT, F(ingest_flush_records), "50000",
     "rows of one measurement that make a Parquet file", 0},
    {"ingest", "ingest_flush_ms", T_MS, F(ingest_flush_ms), "5s",
     "longest a row waits in memory before its file is written", 0},
    {"ingest", "ingest_compression", T_STR, F(ingest_compression), "zstd",
     "Parquet page compression: zstd, snappy or none", 0},
    {"ingest", "ingest_zstd_level", T_INT, F(ingest_zstd_level), "1",
     "zstd level of Parquet pages (1 to 19): 1 is zstd's fastest (compression is the flush "
     "threads' main cost); higher levels make smaller files for more CPU (docs/benchmarks.md)",
     0},
    {"ingest", "ingest_max_bytes", T_SIZE, F(ingest_max_bytes), "1g",
     "memory for rows not yet in files (buffers, flushes, writes waiting for the journal); "
     "beyond it writes are answered 503 with Retry-After",
     0},
    {"ingest", "ingest_flush_threads", T_INT, F(ingest_flush_threads), "2",
     "threads writing Parquet files, in parallel across measurements", 0},
    {"ingest", "ingest_max_measurements", T_INT, F(ingest_max_measurements), "10000",
     "(database, measurement) pairs; a write naming a new one beyond it is answered 503", 0},
    {"ingest", "ingest_max_body_bytes", T_SIZE, F(ingest_max_body_bytes), "64m",
     "a write's body once decompressed (gzip, zstd); larger is answered 413", 0},
    {"limits", "max_connections", T_INT, F(max_connections), "10000",
     "open client connections; more are answered 503 and closed", 0},
    {"limits", "max_header_bytes", T_SIZE, F(max_header_bytes), "16k",
     "request line plus headers; larger is answered 431", 0},
    {"limits", "max_body_bytes", T_SIZE, F(max_body_bytes), "8m",
     "request body after de-chunking; larger is answered 413", 0},
    {"limits", "max_body_memory", T_SIZE, F(max_body_memory), "256m",
     "request bodies held in memory at once, all connections together; a body that would "
     "exceed it is answered 503 with Retry-After",
     0},
    {"limits", "max_pipeline", T_INT, F(max_pipeline), "64",
     "requests in flight per connection; reading pauses beyond it", 0},
    {"limits", "header_timeout_ms", T_MS, F(header_timeout_ms), "10s",
     "time to receive a request head once it has begun (408)", 0},
    {"limits", "body_timeout_ms", T_MS, F(body_timeout_ms), "30s",
     "time to receive a request body once the head is in (408)", 0},
    {"limits", "idle_timeout_ms", T_MS, F(idle_timeout_ms), "60s",
     "keep-alive idle time, and write stall time, before the connection is closed", 0},
    {"limits", "shutdown_timeout_ms", T_MS, F(shutdown_timeout_ms), "10s",
     "on SIGTERM, time allowed for in-flight requests to finish", 0},
    {"auth", "api_keys", T_STR, F(api_keys), "",
     "comma-separated API keys; when set, all but health probes need Bearer auth", 1},
    {"auth", "api_key_hashes", T_STR, F(api_key_hashes), "",
     "comma-separated hex SHA-256 digests of API keys (alternative to api_keys)", 0},
    {"log", "log_level", T_STR, F(log_level), "info", "debug, info, warn, error or off", 0},
    {"log", "log_format", T_STR, F(log_format), "text", "text or json (one object per line)", 0},
    {"log", "log_file", T_STR, F(log_file), "", "log file path; empty = stderr", 0},
    {"log", "access_log", T_BOOL, F(access_log), "true", "one line per request", 0},
};

#define NSETTINGS ((int)(sizeof settings / sizeof settings[0]))
_Static_assert(NSETTINGS <= 128, "config_t.sources is too small");

static const setting_t *find(const char *key)
{
    for (int i = 0; i < NSETTINGS; i++)
        if (strcmp(settings[i].key, key) == 0) return &settings[i];
    return NULL;
}

/* Parses "16k", "8m", "1g" (powers of 1024) or a plain count. */
static int parse_size(const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || errno || n < 0) return -1;
    int64_t mul = 1;
    switch (tolower((unsigned char)*end)) {
    case 0: break;
    case 'k': mul = 1024, end++; break;
    case 'm': mul = 1024 * 1024, end++; break;
    case 'g': mul = 1024 * 1024 * 1024, end++; break;
    default: return -1;
    }
    if (*end == 'b' || *end == 'B') end++;
    if (*end || n > INT64_MAX / mul) return -1;
    *out = n * mul;
    return 0;
}

/* Parses "250ms", "10s", "2m" or a plain number of milliseconds. */
static int parse_ms(const char *v, int64_t *out)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || errno || n < 0) return -1;
    int64_t mul = 1;
    if (strcmp(end, "") == 0 || strcmp(end, "ms") == 0)
        mul = 1;
    else if (strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "m") == 0)
        mul = 60000;
    else
        return -1;
    if (n > INT64_MAX / mul) return -1;
    *out = n * mul;
    return 0;
}

static int parse_bool(const char *v, bool *out)
{
    static const char *yes[] = {"1", "true", "yes", "on"}, *no[] = {"0", "false", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(v, yes[i]) == 0) return *out = true, 0;
        if (strcasecmp(v, no[i]) == 0) return *out = false, 0;
    }
    return -1;
}

static int apply(config_t *cfg, const setting_t *s, const char *value, const char *source,
                 char *err, size_t errlen)
{
    void *field = (char *)cfg + s->offset;
    int64_t n;
    switch (s->type) {
    case T_STR: {
        char *copy = strdup(value);
        if (!copy) return snprintf(err, errlen, "out of memory"), -2;
        free(*(char **)field);
        *(char **)field = copy;
        break;
    }
    case T_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (end == value || *end || errno || v < 0 || v > INT32_MAX) {
            snprintf(err, errlen, "%s: expected a non-negative integer, got \"%s\"", s->key, value);
            return -2;
        }
        if (strcmp(s->key, "threads") == 0)
            *(int *)field = (int)v;
        else
            *(int64_t *)field = v;
        break;
    }
    case T_SIZE:
        if (parse_size(value, &n)) {
            snprintf(err, errlen, "%s: expected a size like 512, 16k or 8m, got \"%s\"", s->key,
                     value);
            return -2;
        }
        *(int64_t *)field = n;
        break;
    case T_MS:
        if (parse_ms(value, &n)) {
            snprintf(err, errlen, "%s: expected a duration like 250ms, 10s or 2m, got \"%s\"",
                     s->key, value);
            return -2;
        }
        *(int64_t *)field = n;
        break;
    case T_BOOL:
        if (parse_bool(value, (bool *)field)) {
            snprintf(err, errlen, "%s: expected true or false, got \"%s\"", s->key, value);
            return -2;
        }
        break;
    }
    cfg->sources[s - settings] = source;
    return 0;
}

void config_init(config_t *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    char err[64];
    for (int i = 0; i < NSETTINGS; i++) {
        int rc = apply(cfg, &settings[i], settings[i].def, "default", err, sizeof err);
        (void)rc; /* defaults are valid by construction; test_config checks it */
    }
}

void config_deinit(config_t *cfg)
{
    for (int i = 0; i < NSETTINGS; i++)
        if (settings[i].type == T_STR) {
            char **p = (char **)((char *)cfg + settings[i].offset);
            free(*p);
            *p = NULL;
        }
}

int config_set(config_t *cfg, const char *key, const char *value, const char *source, char *err,
               size_t errlen)
{
    const setting_t *s = find(key);
    if (!s) {
        snprintf(err, errlen, "unknown setting \"%s\"", key);
        return -1;
    }
    return apply(cfg, s, value, source, err, errlen);
}

typedef struct ini_ctx {
    config_t *cfg;
    char *err;
    size_t errlen;
    int failed;
} ini_ctx_t;

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    ini_ctx_t *c = user;
    if (c->failed) return 0;
    const setting_t *s = find(name);
    if (!s || strcmp(s->section, section) != 0) {
        snprintf(c->err, c->errlen, "unknown setting \"%s\" in section [%s]", name, section);
        c->failed = 1;
        return 0;
    }
    if (apply(c->cfg, s, value, "file", c->err, c->errlen)) {
        c->failed = 1;
        return 0;
    }
    return 1;
}

int config_load_file(config_t *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char msg[256] = "";
    ini_ctx_t c = {cfg, msg, sizeof msg, 0};
    int line = ini_parse_file(f, on_ini, &c);
    fclose(f);
    if (line != 0) {
        if (!msg[0]) snprintf(msg, sizeof msg, "syntax error");
        snprintf(err, errlen, "%s:%d: %s", path, line, msg);
        return -1;
    }
    return 0;
}

int config_load_env(config_t *cfg, char *err, size_t errlen)
{
    for (int i = 0; i < NSETTINGS; i++) {
        char name[64] = "INFERD_";
        size_t n = strlen(name);
        for (const char *k = settings[i].key; *k && n < sizeof name - 1; k++)
            name[n++] = (char)toupper((unsigned char)*k);
        name[n] = 0;
        const char *v = getenv(name);
        if (!v) continue;
        char msg[200];
        if (apply(cfg, &settings[i], v, "env", msg, sizeof msg)) {
            snprintf(err, errlen, "%s: %s", name, msg);
            return -1;
        }
    }
    return 0;
}

const char *config_key_for_flag(const char *flag)
{
    for (int i = 0; i < NSETTINGS; i++) {
        const char *k = settings[i].key, *f = flag;
        while (*k && (*f == *k || (*k == '_' && *f == '-'))) k++, f++;
        if (!*k && !*f) return settings[i].key;
    }
    return NULL;
}

static void print_value(const config_t *cfg, const setting_t *s, FILE *out)
{
    const void *field = (const char *)cfg + s->offset;
    switch (s->type) {
    case T_STR: {
        const char *v = *(char *const *)field;
        fputs(s->secret && v && *v ? "***" : (v ? v : ""), out);
        break;
    }
    case T_INT:
        if (strcmp(s->key, "threads") == 0)
            fprintf(out, "%d", *(const int *)field);
        else
            fprintf(out, "%lld", (long long)*(const int64_t *)field);
        break;
    case T_SIZE:
    case T_MS: fprintf(out, "%lld", (long long)*(const int64_t *)field); break;
    case T_BOOL: fputs(*(const bool *)field ? "true" : "false", out); break;
    }
}

void config_print(const config_t *cfg, FILE *out)
{
    const char *section = "";
    for (int i = 0; i < NSETTINGS; i++) {
        const setting_t *s = &settings[i];
        if (strcmp(section, s->section) != 0) {
            fprintf(out, "%s[%s]\n", i ? "\n" : "", s->section);
            section = s->section;
        }
        fprintf(out, "%s = ", s->key);
        print_value(cfg, s, out);
        fprintf(out, "    ; %s\n", cfg->sources[i] ? cfg->sources[i] : "default");
    }
}

void config_print_help(FILE *out)
{
    for (int i = 0; i < NSETTINGS; i++) {
        const setting_t *s = &settings[i];
        char flag[64];
        size_t n = 0;
        for (const char *k = s->key; *k && n < sizeof flag - 1; k++)
            flag[n++] = *k == '_' ? '-' : *k;
        flag[n] = 0;
        fprintf(out, "  --%-22s %s [default: %s]\n", flag, s->help, *s->def ? s->def : "\"\"");
    }
}
