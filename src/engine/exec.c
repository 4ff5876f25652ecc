/* Session: plan (shapes, plan-time evaluation, buffer layout) and run. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/exec.h"
#include "kern/gemm.h"
#include "util/err.h"

#define ALIGN       64
#define MAX_NODE_IO 64
/* Activation memory one session may plan: a model whose shapes need more is refused with a
 * message rather than left to exhaust the machine. */
#define MAX_ACTIVATION_BYTES ((size_t)2 << 30)

struct eng_session {
    const eng_model_t *m;
    exec_ctx_t x;
    tensor_t *vals;  /* per value: shape, type and data of the current plan */
    size_t *off;     /* per value: offset in the activation arena, or SIZE_MAX */
    int *last_use;   /* per value: last position in run order that reads it */
    bool *is_output; /* per value: a graph output (never freed by the planner) */
    bool *skip;      /* per run position: evaluated at plan time */
    char *act;       /* activation arena */
    size_t act_cap;
    arena_t plan_arena; /* values evaluated at plan time */
    bool planned;
    tensor_t *key; /* input shapes and types of the current plan */
    tensor_t *outs;
    /* Planner free list: blocks [off, off+size) of the activation arena not in use. */
    struct block {
        size_t off, size;
    } * free_blocks;
    int nfree;
    size_t top;        /* end of the highest block in use */
    size_t high_water; /* the largest top seen: the arena size this plan needs */
};

eng_session_t *eng_session_new(const eng_model_t *m, int nthreads)
{
    const graph_t *g = &m->g;
    eng_session_t *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->m = m;
    s->x.nthreads = nthreads > 0 ? nthreads : 1;
    kern_blas_init();
    /* The session's threads live as long as it does: an inference wakes them, never starts them. */
    if (s->x.nthreads > 1 && !(s->x.pool = tpool_new(s->x.nthreads))) {
        eng_session_free(s);
        return NULL;
    }
    size_t nv = (size_t)g->nvalues + 1;
    s->vals = calloc(nv, sizeof *s->vals);
    s->off = calloc(nv, sizeof *s->off);
    s->last_use = calloc(nv, sizeof *s->last_use);
    s->is_output = calloc(nv, sizeof *s->is_output);
    s->skip = calloc((size_t)m->nrun + 1, sizeof *s->skip);
    s->key = calloc((size_t)g->ninputs + 1, sizeof *s->key);
    s->outs = calloc((size_t)g->noutputs + 1, sizeof *s->outs);
    s->free_blocks = calloc(nv + 1, sizeof *s->free_blocks);
    arena_init(&s->plan_arena, 1 << 14);
    if (!s->vals || !s->off || !s->last_use || !s->is_output || !s->skip || !s->key || !s->outs ||
        !s->free_blocks) {
        eng_session_free(s);
        return NULL;
    }
    for (int v = 0; v < g->nvalues; v++) s->last_use[v] = -1;
    for (int k = 0; k < m->nrun; k++) {
        const node_t *n = &g->nodes[m->run_order[k]];
        for (int i = 0; i < n->nin; i++)
            if (n->in[i] >= 0) s->last_use[n->in[i]] = k;
    }
    for (int o = 0; o < g->noutputs; o++) s->is_output[g->outputs[o]] = true;
    return s;
}

void eng_session_free(eng_session_t *s)
{
    if (!s) return;
    free(s->vals);
    free(s->off);
    free(s->last_use);
    free(s->is_output);
    free(s->skip);
    free(s->key);
    free(s->outs);
    free(s->free_blocks);
    free(s->act);
    free(s->x.scratch);
    tpool_free(s->x.pool);
    arena_deinit(&s->plan_arena);
    free(s);
}

/* ======================================================================= planner ==== */

static size_t round_up(size_t n)
{
    return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

/* First fit from the free list, else from the high-water mark. */
static size_t block_alloc(eng_session_t *s, size_t size)
{
    size = round_up(size ? size : 1);
    for (int i = 0; i < s->nfree; i++) {
        struct block *b = &s->free_blocks[i];
        if (b->size < size) continue;
        size_t off = b->off;
        b->off += size;
        b->size -= size;
        if (b->size == 0) s->free_blocks[i] = s->free_blocks[--s->nfree];
        return off;
    }
    size_t off = s->top;
    s->top += size;
    if (s->top > s->high_water) s->high_water = s->top;
    return off;
}

static void block_free(eng_session_t *s, size_t off, size_t size)
{
    size = round_up(size ? size : 1);
    /* Merge with neighbours so the arena does not fragment across a long graph. */
    for (int i = 0; i < s->nfree; i++) {
        struct block *b = &s->free_blocks[i];
        if (b->off + b->size == off) {
            b->size += size;
            off = b->off;
            size = b->size;
            s->free_blocks[i] = s->free_blocks[--s->nfree];
            i = -1;
        } else if (off + size == b->off) {
            size += b->size;
            s->free_blocks[i] = s->free_blocks[--s->nfree];
            i = -1;
        }
    }
    if (off + size == s->top) { /* the topmost block: lower the top instead of listing it */
        s->top = off;
        return;
    }
    s->free_blocks[s->nfree++] = (struct block){off, size};
}

static int check_inputs(eng_session_t *s, const tensor_t *inputs, int ninputs, char *err,
                        size_t errlen)
{
    const eng_model_t *m = s->m;
    if (ninputs != m->g.ninputs)
        return err_fail(err, errlen, ENG_EINPUT, "the model takes %d inputs, got %d", m->g.ninputs,
                        ninputs);
    for (int i = 0; i < ninputs; i++) {
        const eng_io_t *io = &m->inputs[i];
        const tensor_t *t = &inputs[i];
        char got[96];
        if (io->dtype && t->dtype != io->dtype)
            return err_fail(err, errlen, ENG_EINPUT, "input \"%s\": expected %s, got %s", io->name,
                            dtype_name(io->dtype), dtype_name(t->dtype));
        if (t->rank < 0 || t->rank > TENSOR_MAX_RANK)
            return err_fail(err, errlen, ENG_EINPUT, "input \"%s\": bad rank %d", io->name,
                            t->rank);
        for (int d = 0; d < t->rank; d++)
            if (t->dims[d] < 0)
                return err_fail(err, errlen, ENG_EINPUT, "input \"%s\": negative dimension",
                                io->name);
        if (io->rank < 0) continue;
        bool ok = io->rank == t->rank;
        for (int d = 0; ok && d < t->rank; d++)
            if (io->dims[d] >= 0 && io->dims[d] != t->dims[d]) ok = false;
        if (!ok) {
            char want[128] = "[";
            size_t o = 1;
            for (int d = 0; d < io->rank && o < sizeof want - 24; d++) {
                int w;
                if (io->dims[d] >= 0)
                    w = snprintf(want + o, sizeof want - o, "%s%lld", d ? "," : "",
                                 (long long)io->dims[d]);
                else
                    w = snprintf(want + o, sizeof want - o, "%s%s", d ? "," : "",
                                 io->dim_params[d] ? io->dim_params[d] : "?");
                o += w > 0 ? (size_t)w : 0;
            }
            snprintf(want + o, sizeof want - o, "]");
            return err_fail(err, errlen, ENG_EINPUT, "input \"%s\": expected shape %s, got %s",
                            io->name, want, tensor_shape_str(t, got, sizeof got));
        }
    }
    return 0;
}

/* A graph input whose contents decide shapes (graph.c, mark_shape_values): the plan reads it,
 * so its contents are part of the plan key. Strings are never (their pointers say nothing). */
static bool keyed_by_value(const graph_t *g, int i, const tensor_t *t)
{
    return g->values[g->inputs[i]].shapes_need && t->dtype != DT_STRING;
}

static bool same_key(const eng_session_t *s, const tensor_t *inputs, int n)
{
    if (!s->planned) return false;
    for (int i = 0; i < n; i++) {
        if (s->key[i].dtype != inputs[i].dtype || !tensor_same_shape(&s->key[i], &inputs[i]))
            return false;
        if (keyed_by_value(&s->m->g, i, &inputs[i]) &&
            memcmp(s->key[i].data, inputs[i].data, tensor_nbytes(&inputs[i])) != 0)
            return false;
    }
    return true;
}

static int plan(eng_session_t *s, const tensor_t *inputs, int ninputs, char *err, size_t errlen)
{
    const eng_model_t *m = s->m;
    const graph_t *g = &m->g;
    s->planned = false;
    s->nfree = 0;
    s->top = s->high_water = 0;
    arena_deinit(&s->plan_arena);
    arena_init(&s->plan_arena, 1 << 14);
    bool *known = calloc((size_t)g->nvalues + 1, 1);
    if (!known) return ENG_ENOMEM;
    int rc = 0;
    for (int v = 0; v < g->nvalues; v++) {
        s->off[v] = SIZE_MAX;
        if (g->values[v].kind == VAL_CONST) {
            s->vals[v] = *g->values[v].constant;
            known[v] = true;
        } else {
            memset(&s->vals[v], 0, sizeof s->vals[v]);
        }
    }
    for (int i = 0; i < ninputs; i++) {
        tensor_t *t = &s->vals[g->inputs[i]];
        *t = inputs[i];
        t->data = NULL;                         /* inputs' values are not known at plan time */
        if (keyed_by_value(g, i, &inputs[i])) { /* ... unless they decide shapes: keep a copy */
            size_t nb = tensor_nbytes(&inputs[i]);
            if (!(t->data = arena_alloc(&s->plan_arena, nb ? nb : 1))) {
                free(known);
                return ENG_ENOMEM;
            }
            memcpy(t->data, inputs[i].data, nb);
            known[g->inputs[i]] = true;
        }
    }
    char msg[384];
    for (int k = 0; k < m->nrun && !rc; k++) {
        const node_t *n = &g->nodes[m->run_order[k]];
        const tensor_t *in[MAX_NODE_IO];
        tensor_t out[MAX_NODE_IO];
        bool all_known = true;
        if (n->nin > MAX_NODE_IO || n->nout > MAX_NODE_IO) {
            rc = err_fail(err, errlen, ENG_EUNSUPPORTED, "node \"%s\" has too many inputs/outputs",
                          n->name);
            break;
        }
        /* Shape and Size read only their input's dims, which the plan knows. */
        bool shape_only = !strcmp(n->op_type, "Shape") || !strcmp(n->op_type, "Size");
        for (int i = 0; i < n->nin; i++) {
            in[i] = n->in[i] >= 0 ? &s->vals[n->in[i]] : NULL;
            if (n->in[i] >= 0 && !known[n->in[i]] && !shape_only) all_known = false;
        }
        memset(out, 0, sizeof(tensor_t) * (size_t)n->nout);
        msg[0] = 0;
        if (n->op->infer(n, in, out, msg, sizeof msg)) {
            rc =
                err_fail(err, errlen, ENG_EINPUT, "node \"%s\" (%s): %s", n->name, n->op_type, msg);
            break;
        }
        s->skip[k] = all_known;
        for (int o = 0; o < n->nout; o++) {
            size_t nb = tensor_nbytes(&out[o]);
            if (nb == SIZE_MAX || nb > MAX_ACTIVATION_BYTES) {
                rc = err_fail(err, errlen, ENG_EINPUT, "node \"%s\" (%s): output too large",
                              n->name, n->op_type);
                break;
            }
            if (all_known) { /* shape arithmetic: evaluate now, once per plan */
                out[o].data = arena_alloc(&s->plan_arena, nb ? nb : 1);
                if (!out[o].data) {
                    rc = ENG_ENOMEM;
                    break;
                }
            } else {
                s->off[n->out[o]] = block_alloc(s, nb);
            }
        }
        if (rc) break;
        if (all_known) {
            s->x.err = msg;
            s->x.errlen = sizeof msg;
            if (n->op->run(n, in, out, &s->x)) {
                rc = err_fail(err, errlen, ENG_EINPUT, "node \"%s\" (%s): %s", n->name, n->op_type,
                              msg);
                break;
            }
        }
        for (int o = 0; o < n->nout; o++) {
            s->vals[n->out[o]] = out[o];
            known[n->out[o]] = all_known;
        }
        /* Values read for the last time here give their space back. */
        for (int i = 0; i < n->nin; i++) {
            int v = n->in[i];
            if (v < 0 || s->last_use[v] != k || s->off[v] == SIZE_MAX || s->is_output[v]) continue;
            bool dup = false; /* the same value may feed two inputs of one node */
            for (int j = 0; j < i; j++) dup |= n->in[j] == v;
            if (!dup) block_free(s, s->off[v], tensor_nbytes(&s->vals[v]));
        }
    }
    free(known);
    if (rc) return rc;
    if (s->high_water > MAX_ACTIVATION_BYTES)
        return err_fail(err, errlen, ENG_EINPUT,
                        "the run would need %zu MiB of activations (limit %zu)",
                        s->high_water >> 20, MAX_ACTIVATION_BYTES >> 20);
    if (s->high_water > s->act_cap) {
        void *p = NULL;
        if (posix_memalign(&p, ALIGN, s->high_water)) return ENG_ENOMEM;
        free(s->act);
        s->act = p;
        s->act_cap = s->high_water;
    }
    for (int v = 0; v < g->nvalues; v++)
        if (s->off[v] != SIZE_MAX) s->vals[v].data = s->act + s->off[v];
    for (int i = 0; i < ninputs; i++) {
        s->key[i] = inputs[i];
        s->key[i].data = s->vals[g->inputs[i]].data; /* the copy when keyed by value */
    }
    s->planned = true;
    return 0;
}

int eng_session_run(eng_session_t *s, const tensor_t *inputs, int ninputs, const tensor_t **outputs,
                    int *noutputs, char *err, size_t errlen)
{
    const eng_model_t *m = s->m;
    const graph_t *g = &m->g;
    int rc = check_inputs(s, inputs, ninputs, err, errlen);
    if (rc) return rc;
    if (!same_key(s, inputs, ninputs) && (rc = plan(s, inputs, ninputs, err, errlen))) return rc;
    for (int i = 0; i < ninputs; i++) s->vals[g->inputs[i]].data = inputs[i].data;
    s->x.err = err;
    s->x.errlen = errlen;
    for (int k = 0; k < m->nrun; k++) {
        if (s->skip[k]) continue;
        /* Set only while the model loads (the dry run): a shutdown need not wait for it. */
        if (m->cancel && atomic_load_explicit(m->cancel, memory_order_relaxed))
            return err_fail(err, errlen, ENG_ECANCELED, "cancelled");
        const node_t *n = &g->nodes[m->run_order[k]];
        const tensor_t *in[MAX_NODE_IO];
        tensor_t out[MAX_NODE_IO];
        for (int i = 0; i < n->nin; i++) in[i] = n->in[i] >= 0 ? &s->vals[n->in[i]] : NULL;
        for (int o = 0; o < n->nout; o++) out[o] = s->vals[n->out[o]];
        if (n->op->run(n, in, out, &s->x)) {
            /* Prefix the op's message with the node, keeping the op's text. */
            char msg[512];
            snprintf(msg, sizeof msg, "%s", err);
            return err_fail(err, errlen, ENG_ERUN, "node \"%s\" (%s): %s", n->name, n->op_type,
                            msg);
        }
        for (int o = 0; o < n->nout; o++) s->vals[n->out[o]].map_keys = out[o].map_keys;
    }
    for (int o = 0; o < g->noutputs; o++) s->outs[o] = s->vals[g->outputs[o]];
    *outputs = s->outs;
    *noutputs = g->noutputs;
    return 0;
}
