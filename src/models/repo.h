/* Model repository: a directory of models laid out as Triton does.
 *
 *   DIR/<name>/<version>/model.onnx     (version: a positive integer)
 *   DIR/<name>/config.ini               (optional: [model] durability = durable|buffered|off)
 *   DIR/<name>.onnx                     (version 1 of <name>)
 *
 * Every version found is loaded at start; requests without a version get the highest one. */
#ifndef INFERD_MODELS_REPO_H
#define INFERD_MODELS_REPO_H

#include <stdint.h>

#include "engine/engine.h"

typedef enum durability { DUR_OFF, DUR_BUFFERED, DUR_DURABLE } durability_t;

typedef struct model_entry {
    char *name;
    int64_t version;
    char *path;
    eng_model_t *m;
    durability_t durability;
    int index; /* position in the repository: per-worker state is indexed by it */
} model_entry_t;

typedef struct repo {
    model_entry_t *models;
    int n;
    int nfailed; /* models that did not load (logged with the reason) */
} repo_t;

/* Parses "durable", "buffered" or "off"; -1 otherwise. */
int durability_parse(const char *s);
const char *durability_name(durability_t d);

/* Loads every model under dir; def is the durability of models without a config.ini. A model
 * that fails to load is skipped with an error logged (the rest still serve). Returns 0, or -1
 * with err when dir cannot be read. */
int repo_load(repo_t *r, const char *dir, durability_t def, char *err, size_t errlen);
/* The model called name at version (or the highest version when version < 0); NULL if none. */
const model_entry_t *repo_find(const repo_t *r, const char *name, int64_t version);
/* Versions of name in ascending order into out (at most cap); returns the count. */
int repo_versions(const repo_t *r, const char *name, int64_t *out, int cap);
void repo_free(repo_t *r);

#endif
