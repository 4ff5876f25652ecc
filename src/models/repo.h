/* Model repository: a directory of models laid out as Triton does.
 *
 *   DIR/<name>/<version>/model.onnx     (version: a positive integer)
 *   DIR/<name>/config.ini               (optional: [model] durability = committed|durable|...)
 *   DIR/<name>.onnx                     (version 1 of <name>)
 *   DIR/<name>/model.onnx | onnx/model.onnx + tokenizer.json | vocab.txt
 *                                       (an embedding model, version 1: text/embed_folder.h)
 *   DIR/<name>/config.ini with kind = recommender, and the files it names
 *                                       (a recommender, version 1: models/recommender.h)
 *
 * Every version found is loaded; requests without a version get the highest one. A loaded
 * version is immutable: its bytes are read into memory it owns, so a file changed on disk changes
 * nothing until a reload (SIGHUP, the load API, or model_poll_ms) validates the new file fully
 * and swaps it in; a file that fails leaves the loaded version serving. Entries are reference
 * counted, so a replaced model is freed only when its last request has finished with it.
 *
 * Every file is opened beneath DIR (eng_open_beneath: no symlink or ".." out, regular files
 * only, never blocking on a FIFO); what leaves it is refused with a log line.
 *
 * Reloads run on one loader thread (inferd-load, repo_loader_start), never on a thread that
 * serves: requests keep using the loaded models meanwhile (the lock is held only to swap). */
#ifndef INFERD_MODELS_REPO_H
#define INFERD_MODELS_REPO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "engine/engine.h"
#include "util/durability.h"

/* State that the serving layer keeps per model version (serve/sessions.c: the compute workers'
 * engine sessions). The repository knows only how to free it, with the entry. */
typedef struct repo_attach repo_attach_t;
struct repo_attach {
    void (*free)(repo_attach_t *a);
};

/* Slots for attached state: one per kind of serving state an entry can carry. */
enum { REPO_SLOT_SESSIONS, REPO_SLOT_EMBED, REPO_SLOT_RANKER_SESSIONS, REPO_SLOTS };

typedef struct model_entry {
    char *name;
    int64_t version;
    char *path; /* relative to the repository directory (logs only: never shown to clients) */
    eng_model_t *m;
    durability_t durability;
    _Atomic(repo_attach_t *) attached[REPO_SLOTS]; /* set once each by the serving layer */
    /* Embedding models (a folder as sentence-transformers lays it out): the tokenizer and what
     * the folder says about pooling, length and normalisation; NULL for other models. */
    struct text_tok *tok;
    struct embed_folder *embed;
    struct rec_model *rec; /* recommenders (m is the user tower): models/recommender.h */
    char digest[65];       /* embedding models: sha256 of the model file (cache keys, /info) */
    _Atomic int refs;      /* the repository's own, plus one per request using it */
    struct stat st;        /* of the file as read: a reload compares device, inode, size, m/ctime */
} model_entry_t;

/* Called when a posted reload has finished (on the loader thread) or was cancelled at shutdown
 * (failed = REPO_CANCELLED, on the cancelling thread); exactly once per posted job. failed and
 * err are repo_reload's; err never holds a filesystem path. */
typedef void (*repo_done_fn)(void *arg, int failed, const char *err);
enum { REPO_NOTFOUND = -1, REPO_CANCELLED = -2 };

typedef struct repo_job repo_job_t;
typedef struct repo_bad repo_bad_t;

typedef struct repo {
    char *dir;
    durability_t def;
    pthread_rwlock_t lock;       /* guards entries/n; readers are requests, the writer a reload */
    pthread_mutex_t reload_lock; /* one reload at a time */
    model_entry_t **entries;
    int n;
    atomic_int loaded;    /* the first full load has finished (readiness) */
    atomic_int dir_errno; /* why the last scan could not read dir; 0 when it could */
    atomic_int cancel;    /* shutdown: loads in progress stop at their next check */
    repo_bad_t *bad;      /* files that failed, so polling does not retry them unchanged */
    int nbad;
    /* The loader thread and its queue (guarded by qlock). */
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    pthread_t loader;
    bool loader_started, stopping, exited;
    repo_job_t *head, *tail, *running;
    int nqueued, qmax;
    int poll_ms;
} repo_t;

/* Sets r up for dir without loading anything; def is the durability of models without a
 * config.ini. Returns 0, or -1 on out-of-memory. */
int repo_init(repo_t *r, const char *dir, durability_t def);
/* repo_init, then a full reload on the caller's thread. A model that fails to load is skipped
 * with the reason logged. Returns 0, or -1 with err when dir cannot be read (the repository is
 * then empty but usable). */
int repo_load(repo_t *r, const char *dir, durability_t def, char *err, size_t errlen);
/* Rescans the directory (only model `name` when not NULL) on the caller's thread: new and changed
 * files are loaded and swapped in; entries whose file is gone are retired. A file that fails to
 * load, or is refused, leaves the version already serving in place. Thread-safe. Returns the
 * number of models that failed, with the last reason in err (naming the model, never a path);
 * REPO_NOTFOUND if the directory (or the named model) cannot be found; REPO_CANCELLED if
 * repo_loader_cancel stopped it. */
int repo_reload(repo_t *r, const char *name, char *err, size_t errlen);

/* Starts the loader thread (inferd-load): it runs posted reloads one at a time, at most qmax
 * waiting; with poll_ms > 0 it also rescans the whole repository that often. Returns 0 or -1. */
int repo_loader_start(repo_t *r, int qmax, int poll_ms);
/* Queues a reload (of name, or everything when NULL) on the loader thread; done(arg, ...) runs
 * when it has finished. A job without done is dropped if the same reload is already waiting.
 * Returns 0; -1 when the queue is full; -2 when the loader is stopping or not started (done is
 * then not called). */
int repo_post_reload(repo_t *r, const char *name, repo_done_fn done, void *arg);
/* Shutdown, first step (any thread): the load in progress stops at its next check, and every
 * job not yet answered gets done(REPO_CANCELLED) now, so no request waits for a load. */
void repo_loader_cancel(repo_t *r);
/* Cancels, then waits up to wait_ms for the loader thread to exit. Returns true when it has (or
 * never ran); false when it is stuck in I/O and was abandoned: r must then not be freed. */
bool repo_loader_stop(repo_t *r, int wait_ms);
/* Whether the repository can serve: false (with why, no path in it) until the first full load
 * has finished, and while the last scan could not read the repository directory. Never
 * blocks: safe on an event loop. */
bool repo_ready(const repo_t *r, char *why, size_t len);

/* A model version as text: 1 to 18 decimal digits, not 0. Returns it, or -1 for anything else
 * ("1abc", "1.5", "1e3", "", overflow), so no malformed version can fall back to another. */
int64_t repo_parse_version(const char *s, size_t n);
/* The model called name at version (highest when version < 0) with a reference the caller must
 * give back with repo_release(); NULL if none. */
model_entry_t *repo_acquire(repo_t *r, const char *name, int64_t version);
void repo_release(model_entry_t *e);
/* Versions of name in ascending order into out (at most cap); returns the count. */
int repo_versions(repo_t *r, const char *name, int64_t *out, int cap);
/* Calls fn for every entry (under the read lock: fn must be quick and not call the repo). */
void repo_each(repo_t *r, void (*fn)(const model_entry_t *e, void *arg), void *arg);
/* Frees the entries (each when its last request releases it); the loader must have stopped. */
void repo_free(repo_t *r);

#endif
