/* Model repository: a directory of models laid out as Triton does.
 *
 *   DIR/<name>/<version>/model.onnx     (version: a positive integer)
 *   DIR/<name>/config.ini               (optional: [model] durability = durable|buffered|off)
 *   DIR/<name>.onnx                     (version 1 of <name>)
 *
 * Every version found is loaded; requests without a version get the highest one. repo_reload()
 * picks up added, changed and removed files while requests keep flowing: entries are reference
 * counted, so a replaced model is freed only when its last request has finished with it. */
#ifndef INFERD_MODELS_REPO_H
#define INFERD_MODELS_REPO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "engine/engine.h"

typedef enum durability { DUR_OFF, DUR_BUFFERED, DUR_DURABLE } durability_t;

typedef struct model_entry {
    char *name;
    int64_t version;
    char *path;
    eng_model_t *m;
    durability_t durability;
    eng_session_t **sessions; /* one per compute worker, created by that worker on first use */
    int nsessions;
    _Atomic int refs;      /* the repository's own, plus one per request using it */
    struct timespec mtime; /* of the file when loaded: a reload compares it */
    off_t size;
} model_entry_t;

typedef struct repo {
    char *dir;
    durability_t def;
    int nworkers;
    pthread_rwlock_t lock;       /* guards entries/n; readers are requests, the writer a reload */
    pthread_mutex_t reload_lock; /* one reload at a time */
    model_entry_t **entries;
    int n;
} repo_t;

/* Parses "durable", "buffered" or "off"; -1 otherwise. */
int durability_parse(const char *s);
const char *durability_name(durability_t d);

/* Loads every model under dir; def is the durability of models without a config.ini; nworkers
 * sizes each entry's session table. A model that fails to load is skipped with the reason logged.
 * Returns 0, or -1 with err when dir cannot be read (the repository is then empty but usable). */
int repo_load(repo_t *r, const char *dir, durability_t def, int nworkers, char *err, size_t errlen);
/* Rescans the directory (only model `name` when not NULL): new and changed files are loaded and
 * swapped in; entries whose file is gone are retired. A file that fails to load leaves the
 * version already serving in place. Thread-safe. Returns the number of models that failed, with
 * the last reason in err; -1 if the directory (or the named model) cannot be found. */
int repo_reload(repo_t *r, const char *name, char *err, size_t errlen);
/* The model called name at version (highest when version < 0) with a reference the caller must
 * give back with repo_release(); NULL if none. */
model_entry_t *repo_acquire(repo_t *r, const char *name, int64_t version);
void repo_release(model_entry_t *e);
/* Versions of name in ascending order into out (at most cap); returns the count. */
int repo_versions(repo_t *r, const char *name, int64_t *out, int cap);
/* Calls fn for every entry (under the read lock: fn must be quick and not call the repo). */
void repo_each(repo_t *r, void (*fn)(const model_entry_t *e, void *arg), void *arg);
void repo_free(repo_t *r);

#endif
