/* Embedding models in use: the repository's entries that came from embedding folders, each given
 * its running embed_model_t on first use. The state hangs off the entry (repo_attach_t), so a
 * reload that replaces the version stops its threads once the last request has released it. */
#include "serve/embedders.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/repo.h"
#include "util/err.h"

struct embedders {
    repo_t *repo;
    embed_cfg_t cfg;
    struct cache *cache;
    pthread_mutex_t lock; /* one start at a time */
};

typedef struct emb_attach {
    repo_attach_t base; /* first: the repository frees through it */
    embed_model_t *em;
} emb_attach_t;

static void attach_free(repo_attach_t *a)
{
    embed_model_free(((emb_attach_t *)a)->em);
    free(a);
}

embedders_t *embedders_new(repo_t *repo, const embed_cfg_t *cfg, struct cache *cache)
{
    embedders_t *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->repo = repo;
    e->cfg = *cfg;
    e->cache = cache;
    pthread_mutex_init(&e->lock, NULL);
    return e;
}

void embedders_free(embedders_t *e)
{
    if (!e) return;
    pthread_mutex_destroy(&e->lock);
    free(e);
}

typedef struct names {
    char *out;
    size_t len, used;
    char first[160];
    int n;
} names_t;

static void collect(const model_entry_t *me, void *arg)
{
    names_t *n = arg;
    if (!me->embed) return; /* an embedding folder is one version: each name comes once */
    if (!n->n++ || strcmp(me->name, n->first) < 0)
        snprintf(n->first, sizeof n->first, "%s", me->name);
    if (n->out && n->used + strlen(me->name) + 2 < n->len)
        n->used += (size_t)snprintf(n->out + n->used, n->len - n->used, "%s%s", n->used ? "," : "",
                                    me->name);
}

void embedders_names(embedders_t *e, char *out, size_t len)
{
    if (len) out[0] = 0;
    names_t n = {out, len, 0, "", 0};
    repo_each(e->repo, collect, &n);
}

int embedders_acquire(embedders_t *e, const char *name, embed_ref_t *ref, char *err, size_t errlen)
{
    memset(ref, 0, sizeof *ref);
    names_t n = {NULL, 0, 0, "", 0};
    if (!name) {
        repo_each(e->repo, collect, &n);
        if (!n.n) return err_set(err, errlen, "no embedding model is loaded"), ERR_NOT_FOUND;
        name = n.first;
    }
    model_entry_t *me = repo_acquire(e->repo, name, -1);
    if (!me) return err_set(err, errlen, "unknown model \"%s\"", name), ERR_NOT_FOUND;
    if (!me->embed) {
        repo_release(me);
        return err_set(err, errlen, "model \"%s\" is not an embedding model", name), ERR_INVALID;
    }
    emb_attach_t *a = (emb_attach_t *)atomic_load(&me->attached[REPO_SLOT_EMBED]);
    if (!a) {
        pthread_mutex_lock(&e->lock);
        a = (emb_attach_t *)atomic_load(&me->attached[REPO_SLOT_EMBED]);
        if (!a && (a = calloc(1, sizeof *a))) {
            a->base.free = attach_free;
            embed_spec_t spec = {me->embed->pooling, me->embed->max_length, me->embed->normalize};
            a->em = embed_model_new(me->name, me->version, me->digest, me->m, me->tok, &spec,
                                    &e->cfg, e->cache, err, errlen);
            if (a->em)
                atomic_store(&me->attached[REPO_SLOT_EMBED], &a->base);
            else {
                free(a);
                a = NULL;
            }
        } else if (!a) {
            err_set(err, errlen, "out of memory");
        }
        pthread_mutex_unlock(&e->lock);
        if (!a) {
            repo_release(me);
            return ERR_UNAVAILABLE;
        }
    }
    ref->em = a->em;
    ref->entry = me;
    return 0;
}

void embedders_release(embed_ref_t *ref)
{
    if (ref->entry) repo_release(ref->entry);
    ref->entry = NULL;
    ref->em = NULL;
}
