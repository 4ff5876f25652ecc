/* Server settings: one table of defaults, overridden by an INI file, then INFERD_* environment
 * variables, then command-line flags, in that order of precedence. */
#ifndef INFERD_CONFIG_H
#define INFERD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct config {
    /* [server] */
    char *listen;         /* HOST:PORT */
    int threads;          /* event-loop threads; 0 = one per CPU core */
    bool debug_endpoints; /* expose the /debug routes (test and diagnosis aids) */
    /* [models] */
    char *models;             /* model repository directory */
    int64_t compute_threads;  /* inference workers; 0 = one per CPU core */
    int64_t compute_queue;    /* requests waiting for a worker before 503 */
    int64_t engine_threads;   /* threads one inference may use */
    int64_t model_load_queue; /* load API requests waiting for the loader before 503 */
    int64_t model_poll_ms;    /* repository rescan interval; 0 = off */
    /* [embed] */
    int64_t embed_max_inputs;       /* texts in one request before 413 */
    int64_t embed_workers;          /* batch threads per embedding model */
    int64_t embed_max_batch;        /* sequences per encoder batch */
    int64_t embed_max_batch_tokens; /* padded tokens per encoder batch */
    int64_t embed_max_delay_us;     /* how long a partial batch waits for company */
    int64_t embed_queue;            /* sequences waiting per model before 503 */
    /* [store] */
    char *store;                   /* "sqlite:PATH", or "none" */
    char *durability;              /* default for models without a config.ini */
    int64_t store_queue_records;   /* records accepted but not committed, before 503 */
    int64_t store_batch_records;   /* records per transaction */
    char *journal;                 /* journal directory, "auto" or "none" */
    int64_t journal_segment_bytes; /* per segment file */
    int64_t journal_max_bytes;     /* unapplied segments at most */
    int64_t journal_feed_bytes;    /* appends kept in memory for the applier */
    int64_t store_flush_ms;        /* buffered: longest wait before a commit */
    /* [collections] */
    char *collection_durability;   /* when a change is answered */
    int64_t collection_max_dim;    /* values per vector */
    int64_t collection_max_points; /* points per upsert before 413 */
    int64_t collection_max_k;      /* results per search */
    int64_t collection_max_count;  /* collections */
    /* [cache] */
    int64_t cache_bytes;      /* L1 LRU byte budget; 0 = no L1 */
    char *redis_url;          /* L2: redis://[:password@]host[:port][/db] or unix:PATH; "" = off */
    int64_t redis_ttl_s;      /* L2 entry lifetime */
    int64_t redis_timeout_ms; /* L2 GET answered within this, else a miss */
    int64_t redis_queue;      /* L2 requests queued or in flight before refusing */
    /* [ingest] */
    char *ingest_dir;                /* Parquet files of ingested events; "" = off */
    char *ingest_durability;         /* buffered or wal */
    int64_t ingest_flush_records;    /* rows per measurement that start a flush */
    int64_t ingest_flush_ms;         /* oldest row's age that starts a flush */
    char *ingest_compression;        /* zstd, snappy, none */
    int64_t ingest_zstd_level;       /* with zstd */
    int64_t ingest_max_bytes;        /* memory for rows in no file yet */
    int64_t ingest_flush_threads;    /* Parquet writers */
    int64_t ingest_max_measurements; /* (db, measurement) pairs */
    int64_t ingest_max_body_bytes;   /* a write's body, decompressed */
    /* [limits] */
    int64_t max_connections;
    int64_t max_header_bytes;
    int64_t max_body_bytes;
    int64_t max_body_memory; /* bytes held by request bodies on all connections, before 503 */
    int64_t max_pipeline;    /* requests in flight per connection before reading pauses */
    int64_t header_timeout_ms;
    int64_t body_timeout_ms;
    int64_t idle_timeout_ms;
    int64_t shutdown_timeout_ms;
    /* [auth] */
    char *api_keys;       /* comma-separated plaintext keys */
    char *api_key_hashes; /* comma-separated hex SHA-256 digests of keys */
    /* [log] */
    char *log_level;
    char *log_format;
    char *log_file;
    bool access_log;

    const char *sources[128]; /* per setting: "default", "file", "env" or "flag" */
} config_t;

/* Fills cfg with the built-in defaults. */
void config_init(config_t *cfg);
/* Frees the strings held by cfg. */
void config_deinit(config_t *cfg);

/* Applies the INI file at path. Returns 0, or -1 with a message in err (size errlen). */
int config_load_file(config_t *cfg, const char *path, char *err, size_t errlen);
/* Applies INFERD_<KEY> variables from the environment. Returns 0 or -1 with err. */
int config_load_env(config_t *cfg, char *err, size_t errlen);
/* Sets one setting by key (e.g. "max_body_bytes") from its text form; source tags where it came
 * from for --print-config. Returns 0, -1 for an unknown key, -2 for a bad value (err says why). */
int config_set(config_t *cfg, const char *key, const char *value, const char *source, char *err,
               size_t errlen);
/* Maps a flag name ("max-body-bytes") to its key; NULL if no setting has that flag. */
const char *config_key_for_flag(const char *flag);
/* Writes the effective settings as an INI file, secrets masked, each with its source. */
void config_print(const config_t *cfg, FILE *out);
/* Writes the flag list with defaults and help text (for --help). */
void config_print_help(FILE *out);

#endif
