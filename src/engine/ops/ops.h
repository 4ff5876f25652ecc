/* The operator interface. Each ONNX operator is one op_def_t: prepare (once, at model load),
 * infer (output types and shapes from input shapes, at plan time) and run (compute). Ops never
 * allocate on the run path: outputs arrive allocated to the inferred sizes, and temporary memory
 * comes from exec_scratch(). */
#ifndef INFERD_ENGINE_OPS_OPS_H
#define INFERD_ENGINE_OPS_OPS_H

#include <stddef.h>

#include "engine/graph.h"
#include "engine/tensor.h"
#include "kern/tpool.h"

typedef struct exec_ctx {
    int nthreads;  /* threads this run may use (1 = run on the caller's thread only) */
    tpool_t *pool; /* the session's compute pool (nthreads threads), or NULL */
    char *err;     /* run-time error message buffer (ops write with exec_fail) */
    size_t errlen;
    void *scratch; /* owned by the session; see exec_scratch */
    size_t scratch_cap;
} exec_ctx_t;

typedef struct op_def {
    const char *domain; /* "" for ai.onnx, "ai.onnx.ml" */
    const char *name;
    int since; /* lowest opset version of the domain this implementation follows */
    int until; /* highest opset version it follows (inclusive) */
    /* Optional. At load: check attributes and constant inputs, build n->state (allocate it from
     * g->arena). Returns 0, or -1 with a message naming the problem in err. */
    int (*prepare)(graph_t *g, node_t *n, char *err, size_t errlen);
    /* Sets dtype, rank and dims of every output from the inputs' (in[i] is NULL for an omitted
     * optional input; in[i]->data is NULL unless the value is known at plan time, i.e. constant
     * or computed from shapes). Returns 0, or -1 with a message in err. */
    int (*infer)(const node_t *n, const tensor_t *const *in, tensor_t *out, char *err,
                 size_t errlen);
    /* Computes the outputs, whose data buffers are allocated to the inferred sizes. Returns 0, or
     * -1 after exec_fail() for data-dependent errors (e.g. an index out of range). */
    int (*run)(const node_t *n, const tensor_t *const *in, tensor_t *out, exec_ctx_t *x);
} op_def_t;

/* The table entry of an ai.onnx op implemented from opset SINCE through 21 (the newest checked),
 * without a prepare step: `ONNX_OP(add, "Add", 7, add_infer, add_run)` defines onnx_op_add. */
#define ONNX_OP(var, NAME, SINCE, INFER, RUN)                                                      \
    const op_def_t onnx_op_##var = {                                                               \
        .domain = "",                                                                              \
        .name = NAME,                                                                              \
        .since = SINCE,                                                                            \
        .until = 21,                                                                               \
        .infer = INFER,                                                                            \
        .run = RUN,                                                                                \
    };

/* Finds the implementation of domain/name (domain "" or "ai.onnx" for the default domain) that
 * covers opset; NULL if none. */
const op_def_t *ops_find(const char *domain, const char *name, int opset);
/* True if some opset of domain/name is implemented (to tell "unsupported op" from "unsupported
 * opset version" in load errors). */
int ops_known(const char *domain, const char *name);

/* Returns at least n bytes of scratch memory, valid until the op returns (64-byte aligned).
 * NULL on out-of-memory (after the first runs, the buffer is already large enough). */
void *exec_scratch(exec_ctx_t *x, size_t n);
/* Runs fn(arg, i) for every i in [0, n), spread over the session's compute pool (the caller's
 * thread included; no thread is started per call). fn may use per-index scratch indexed by i.
 * Returns 0, or the first nonzero result. */
int exec_parallel(exec_ctx_t *x, int n, int (*fn)(void *arg, int i), void *arg);
/* Formats a run-time error into x->err and returns -1. */
int exec_fail(exec_ctx_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* numpy-style multidirectional broadcasting of a and b: sets out->rank and out->dims. 0, or -1
 * with err naming both shapes. */
int ops_broadcast_shape(const tensor_t *a, const tensor_t *b, tensor_t *out, char *err,
                        size_t errlen);
/* Normalises a possibly negative axis against rank r; -1 if out of range. */
int ops_axis(int64_t axis, int r);

/* Input and output counts an operator accepts (from the ONNX schemas; ops/arity.c is generated
 * by tools/gen_op_arity.py). The loader checks every node against them, so an op's infer and run
 * may rely on its required inputs being present. */
typedef struct op_arity {
    const char *domain;
    const char *name;
    int min_in, max_in, min_out, max_out;
} op_arity_t;
extern const op_arity_t ops_arity[]; /* terminated by a NULL name */
/* The arity entry of domain/name, or NULL. */
const op_arity_t *ops_find_arity(const char *domain, const char *name);

/* Every op, per family (NULL-terminated), listed by ops/registry.c. */
extern const op_def_t *const ops_onnx[]; /* ai.onnx */
extern const op_def_t *const ops_ml[];   /* ai.onnx.ml */

#endif
