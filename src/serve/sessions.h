/* The compute workers' engine sessions: one per worker and model version, created by that worker
 * on first use, so a run needs no lock. They hang off the model entry (repo_attach_t) and are
 * freed with it, when its last request has released a replaced or retired version. */
#ifndef INFERD_SERVE_SESSIONS_H
#define INFERD_SERVE_SESSIONS_H

#include "serve/serve.h"

/* Worker w's own session for me, created on first use; NULL on out-of-memory. Only worker w may
 * call it for w (its slot is touched by no other thread). */
eng_session_t *serve_session(serve_t *sv, model_entry_t *me, const serve_worker_t *w);
/* Same for another model the entry carries (a recommender's ranker), kept in attachment slot. */
eng_session_t *serve_session_of(serve_t *sv, model_entry_t *me, int slot, const eng_model_t *m,
                                const serve_worker_t *w);

#endif
