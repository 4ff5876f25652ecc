/* Per-worker engine sessions, attached to model entries. */
#include "serve/sessions.h"

#include <stdlib.h>

#include "serve/serve_internal.h"

typedef struct sessions {
    repo_attach_t head; /* first: the entry frees the table through it */
    int n;
    eng_session_t *s[];
} sessions_t;

static void sessions_free(repo_attach_t *a)
{
    sessions_t *t = (sessions_t *)a;
    for (int i = 0; i < t->n; i++) eng_session_free(t->s[i]);
    free(t);
}

/* The entry's table in slot, made by whichever worker comes first: a loser of the race frees
 * its own. */
static sessions_t *table(const serve_t *sv, model_entry_t *me, int slot)
{
    sessions_t *t = (sessions_t *)atomic_load_explicit(&me->attached[slot], memory_order_acquire);
    if (t) return t;
    t = calloc(1, sizeof *t + (size_t)sv->nworkers * sizeof t->s[0]);
    if (!t) return NULL;
    t->head.free = sessions_free;
    t->n = sv->nworkers;
    repo_attach_t *expected = NULL;
    if (atomic_compare_exchange_strong_explicit(&me->attached[slot], &expected, &t->head,
                                                memory_order_acq_rel, memory_order_acquire))
        return t;
    free(t);
    return (sessions_t *)expected;
}

eng_session_t *serve_session_of(serve_t *sv, model_entry_t *me, int slot, const eng_model_t *m,
                                const serve_worker_t *w)
{
    sessions_t *t = table(sv, me, slot);
    if (!t || w->id < 0 || w->id >= t->n) return NULL;
    if (!t->s[w->id]) t->s[w->id] = eng_session_new(m, sv->session_threads);
    return t->s[w->id];
}

eng_session_t *serve_session(serve_t *sv, model_entry_t *me, const serve_worker_t *w)
{
    return serve_session_of(sv, me, REPO_SLOT_SESSIONS, me->m, w);
}
