/* The model's graph as the engine holds it: values (tensors by name), nodes in topological order,
 * attributes. Built by onnx.c from the file, then validated, folded and prepared by graph.c.
 * Everything lives in the graph's arena and is immutable once loading is done, so one graph is
 * shared by every session on every thread. */
#ifndef INFERD_ENGINE_GRAPH_H
#define INFERD_ENGINE_GRAPH_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/tensor.h"
#include "util/arena.h"

typedef enum attr_type {
    ATTR_UNDEFINED = 0,
    ATTR_FLOAT = 1,
    ATTR_INT = 2,
    ATTR_STRING = 3,
    ATTR_TENSOR = 4,
    ATTR_GRAPH = 5,
    ATTR_FLOATS = 6,
    ATTR_INTS = 7,
    ATTR_STRINGS = 8,
} attr_type_t;

typedef struct attr {
    const char *name;
    attr_type_t type;
    float f;
    int64_t i;
    const char *s; /* NUL-terminated; slen bytes (may contain NUL) */
    size_t slen;
    tensor_t *t;
    const float *floats;
    const int64_t *ints;
    const char **strings;
    int64_t n; /* element count of floats/ints/strings */
} attr_t;

struct op_def;

typedef struct node {
    const char *name;
    const char *op_type;
    const char *domain; /* "" for ai.onnx */
    int opset;          /* the model's opset version for this node's domain */
    int *in;            /* value ids; -1 for an omitted optional input */
    int nin;
    int *out;
    int nout;
    attr_t *attrs;
    int nattrs;
    const struct op_def *op;
    void *state; /* op-private data built by op->prepare (in the graph arena) */
} node_t;

typedef enum value_kind { VAL_INPUT, VAL_CONST, VAL_NODE } value_kind_t;

typedef struct value {
    const char *name;
    value_kind_t kind;
    /* Declared type (graph inputs/outputs/value_info); dtype 0 / rank -1 when not declared. */
    dtype_t dtype;
    int rank;
    int64_t dims[TENSOR_MAX_RANK]; /* -1 where symbolic or unknown */
    const char *dim_params[TENSOR_MAX_RANK];
    tensor_t *constant; /* VAL_CONST: initializer or folded result */
    int producer;       /* node index for VAL_NODE, else -1 */
    /* Its contents decide shapes (a Reshape shape, Slice starts, axes given as an input...): a
     * session computes it while planning, and a graph input so marked is part of the plan key. */
    bool shapes_need;
} value_t;

typedef struct opset_import {
    const char *domain;
    int64_t version;
} opset_import_t;

typedef struct graph {
    arena_t arena;
    value_t *values;
    int nvalues, values_cap;
    node_t *nodes;
    int nnodes;
    int *inputs; /* graph inputs that are not initializers */
    int ninputs;
    int *outputs;
    int noutputs;
    opset_import_t *opsets;
    int nopsets;
    int64_t ir_version;
    const char *producer_name;
    int64_t nparams; /* elements in initializers */
} graph_t;

/* Attribute lookup for ops. The *_or getters return def when absent. */
const attr_t *node_attr(const node_t *n, const char *name);
int64_t node_attr_int(const node_t *n, const char *name, int64_t def);
float node_attr_float(const node_t *n, const char *name, float def);
const char *node_attr_str(const node_t *n, const char *name, const char *def);
/* List attributes: pointer and count (*count = 0 and NULL when absent). */
const int64_t *node_attr_ints(const node_t *n, const char *name, int64_t *count);
const float *node_attr_floats(const node_t *n, const char *name, int64_t *count);
const char **node_attr_strings(const node_t *n, const char *name, int64_t *count);

/* The constant tensor feeding input i of n (initializer or folded), or NULL if not constant. */
const tensor_t *node_const_input(const graph_t *g, const node_t *n, int i);

#endif
