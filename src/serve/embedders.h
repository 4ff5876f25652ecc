/* The embedding models the repository holds, each with its running embed_model_t (batch threads,
 * sessions), started on first use and stopped when the repository retires or replaces the
 * version (the state hangs off the model entry and goes with it). */
#ifndef INFERD_SERVE_EMBEDDERS_H
#define INFERD_SERVE_EMBEDDERS_H

#include <stddef.h>

#include "serve/embed.h"

struct repo;
struct cache;
struct model_entry;

typedef struct embedders embedders_t;

/* A model in use: give it back with embedders_release when the job is done. */
typedef struct embed_ref {
    embed_model_t *em;
    struct model_entry *entry;
} embed_ref_t;

/* Borrows repo and cache (NULL: no caching). NULL on out-of-memory. */
embedders_t *embedders_new(struct repo *repo, const embed_cfg_t *cfg, struct cache *cache);
void embedders_free(embedders_t *e);

/* The embedding model called name, or when name is NULL the only one (the first by name when
 * there are several). 0, or ERR_NOT_FOUND with a message naming what is missing (or that the
 * model is not an embedding model), or ERR_UNAVAILABLE when it cannot be started. */
int embedders_acquire(embedders_t *e, const char *name, embed_ref_t *ref, char *err, size_t errlen);
void embedders_release(embed_ref_t *ref);
/* Names of the embedding models, comma-separated into out (for /info and errors). */
void embedders_names(embedders_t *e, char *out, size_t len);

#endif
