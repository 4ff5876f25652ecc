/* Turns a parsed graph into a runnable one: checks opsets, resolves every node to an op
 * implementation (so an unsupported model fails at load, never at request time), sorts nodes
 * topologically, prepares op state and folds constant subgraphs. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/exec.h"
#include "engine/fuse.h"
#include "engine/model.h"
#include "engine/ops/ops.h"
#include "util/err.h"

static bool is_onnx_domain(const char *d)
{
    return !*d || strcmp(d, "ai.onnx") == 0;
}

/* The model's imported version of a domain, or -1. */
static int64_t opset_of(const graph_t *g, const char *domain)
{
    for (int i = 0; i < g->nopsets; i++) {
        const char *d = g->opsets[i].domain;
        if ((is_onnx_domain(domain) && is_onnx_domain(d)) || strcmp(d, domain) == 0)
            return g->opsets[i].version;
    }
    return -1;
}

static int check_opsets(const graph_t *g, char *err, size_t errlen)
{
    for (int i = 0; i < g->nopsets; i++) {
        const char *d = g->opsets[i].domain;
        int64_t v = g->opsets[i].version;
        if (is_onnx_domain(d) && (v < 7 || v > 21))
            return err_fail(err, errlen, ENG_EUNSUPPORTED,
                            "opset ai.onnx %lld is not supported (7 to 21 are)", (long long)v);
        if (strcmp(d, "ai.onnx.ml") == 0 && (v < 1 || v > 5))
            return err_fail(err, errlen, ENG_EUNSUPPORTED,
                            "opset ai.onnx.ml %lld is not supported (1 to 5 are)", (long long)v);
    }
    return 0;
}

static int resolve_ops(graph_t *g, char *err, size_t errlen)
{
    for (int i = 0; i < g->nnodes; i++) {
        node_t *n = &g->nodes[i];
        const char *dom = is_onnx_domain(n->domain) ? "ai.onnx" : n->domain;
        int64_t v = opset_of(g, n->domain);
        if (v < 0)
            return err_fail(err, errlen, ENG_EFORMAT,
                            "node \"%s\" (%s) uses domain %s, which the model does not import",
                            n->name, n->op_type, dom);
        n->opset = (int)v;
        n->op = ops_find(n->domain, n->op_type, n->opset);
        if (n->op) {
            const op_arity_t *a = ops_find_arity(n->domain, n->op_type);
            if (!a) continue;
            if (n->nin < a->min_in || n->nin > a->max_in || n->nout < a->min_out ||
                n->nout > a->max_out)
                return err_fail(
                    err, errlen, ENG_EFORMAT,
                    "node \"%s\": %s takes %d to %d inputs and %d to %d outputs, has %d "
                    "and %d",
                    n->name, n->op_type, a->min_in, a->max_in, a->min_out, a->max_out, n->nin,
                    n->nout);
            for (int k = 0; k < a->min_in; k++)
                if (n->in[k] < 0)
                    return err_fail(err, errlen, ENG_EFORMAT,
                                    "node \"%s\": required input %d of %s is missing", n->name, k,
                                    n->op_type);
            continue;
        }
        if (ops_known(n->domain, n->op_type))
            return err_fail(err, errlen, ENG_EUNSUPPORTED,
                            "node \"%s\": %s at opset %s %lld is not supported", n->name,
                            n->op_type, dom, (long long)v);
        return err_fail(err, errlen, ENG_EUNSUPPORTED,
                        "node \"%s\": operator %s (domain %s, opset %lld) is not supported",
                        n->name, n->op_type, dom, (long long)v);
    }
    return 0;
}

/* Kahn's algorithm over value dependencies; the order goes to m->run_order. */
static int toposort(eng_model_t *m, char *err, size_t errlen)
{
    graph_t *g = &m->g;
    int n = g->nnodes;
    int *pending = calloc((size_t)n + 1, sizeof(int));
    int *order = arena_alloc(&g->arena, sizeof(int) * (size_t)(n + 1));
    int *queue = malloc(sizeof(int) * (size_t)(n + 1));
    /* users[v] lists the nodes that read value v (CSR layout). */
    int *ustart = calloc((size_t)g->nvalues + 1, sizeof(int));
    int nedges = 0;
    for (int i = 0; i < n; i++) nedges += g->nodes[i].nin;
    int *users = malloc(sizeof(int) * (size_t)(nedges + 1));
    int rc = 0;
    if (!pending || !order || !queue || !ustart || !users) {
        rc = ENG_ENOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i].nin; k++) {
            int v = g->nodes[i].in[k];
            if (v < 0) continue;
            ustart[v + 1]++;
            if (g->values[v].kind == VAL_NODE) pending[i]++;
        }
    for (int v = 0; v < g->nvalues; v++) ustart[v + 1] += ustart[v];
    int *fill = calloc((size_t)g->nvalues + 1, sizeof(int));
    if (!fill) {
        rc = ENG_ENOMEM;
        goto out;
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < g->nodes[i].nin; k++) {
            int v = g->nodes[i].in[k];
            if (v >= 0) users[ustart[v] + fill[v]++] = i;
        }
    free(fill);
    int head = 0, tail = 0, count = 0;
    for (int i = 0; i < n; i++)
        if (!pending[i]) queue[tail++] = i;
    while (head < tail) {
        int i = queue[head++];
        order[count++] = i;
        const node_t *nd = &g->nodes[i];
        for (int k = 0; k < nd->nout; k++) {
            int v = nd->out[k];
            for (int u = ustart[v]; u < ustart[v + 1]; u++)
                if (--pending[users[u]] == 0) queue[tail++] = users[u];
        }
    }
    if (count != n) {
        for (int i = 0; i < n; i++)
            if (pending[i] > 0) {
                rc = err_fail(err, errlen, ENG_EFORMAT,
                              "the graph has a cycle through node \"%s\" (%s)", g->nodes[i].name,
                              g->nodes[i].op_type);
                goto out;
            }
    }
    m->run_order = order;
    m->nrun = count;
out:
    free(pending);
    free(queue);
    free(ustart);
    free(users);
    return rc;
}

static int prepare_ops(graph_t *g, char *err, size_t errlen)
{
    for (int i = 0; i < g->nnodes; i++) {
        node_t *n = &g->nodes[i];
        if (!n->op->prepare) continue;
        char msg[384];
        msg[0] = 0;
        if (n->op->prepare(g, n, msg, sizeof msg))
            return err_fail(err, errlen, ENG_EUNSUPPORTED, "node \"%s\" (%s): %s", n->name,
                            n->op_type, msg[0] ? msg : "invalid attributes");
    }
    return 0;
}

/* Executes nodes whose inputs are all constant, once, at load; their outputs become constants
 * and the nodes leave the run order. */
static int fold_constants(eng_model_t *m, char *err, size_t errlen)
{
    graph_t *g = &m->g;
    exec_ctx_t x = {.nthreads = 1};
    char msg[384];
    x.err = msg;
    x.errlen = sizeof msg;
    int kept = 0, rc = 0;
    for (int k = 0; k < m->nrun; k++) {
        if (m->cancel && atomic_load_explicit(m->cancel, memory_order_relaxed)) {
            snprintf(err, errlen, "cancelled");
            rc = ENG_ECANCELED;
            break;
        }
        node_t *n = &g->nodes[m->run_order[k]];
        bool all_const = true;
        for (int i = 0; i < n->nin; i++)
            if (n->in[i] >= 0 && g->values[n->in[i]].kind != VAL_CONST) all_const = false;
        if (!all_const) {
            m->run_order[kept++] = m->run_order[k];
            continue;
        }
        const tensor_t *in[64];
        tensor_t out[16];
        if (n->nin > 64 || n->nout > 16) {
            m->run_order[kept++] = m->run_order[k];
            continue;
        }
        for (int i = 0; i < n->nin; i++)
            in[i] = n->in[i] >= 0 ? g->values[n->in[i]].constant : NULL;
        memset(out, 0, sizeof out);
        msg[0] = 0;
        if (n->op->infer(n, in, out, msg, sizeof msg)) {
            rc = err_fail(err, errlen, ENG_EFORMAT, "node \"%s\" (%s): %s", n->name, n->op_type,
                          msg);
            break;
        }
        for (int o = 0; o < n->nout; o++) {
            size_t nb = tensor_nbytes(&out[o]);
            if (nb == SIZE_MAX || !(out[o].data = arena_alloc(&g->arena, nb ? nb : 1))) {
                rc = ENG_ENOMEM;
                goto done;
            }
        }
        if (n->op->run(n, in, out, &x)) {
            rc = err_fail(err, errlen, ENG_EFORMAT, "node \"%s\" (%s): %s", n->name, n->op_type,
                          msg);
            break;
        }
        for (int o = 0; o < n->nout; o++) {
            tensor_t *t = arena_alloc(&g->arena, sizeof *t);
            if (!t) {
                rc = ENG_ENOMEM;
                goto done;
            }
            *t = out[o];
            value_t *v = &g->values[n->out[o]];
            v->kind = VAL_CONST;
            v->constant = t;
        }
    }
    free(x.scratch);
    m->nrun = kept;
    return rc;
done:
    free(x.scratch);
    return rc;
}

/* A graph input or output of a declared type the engine has no representation for (bfloat16,
 * complex, ...) could never be fed or returned: refused at load. */
static int check_io_types(const graph_t *g, char *err, size_t errlen)
{
    for (int k = 0; k < g->ninputs + g->noutputs; k++) {
        const value_t *v = &g->values[k < g->ninputs ? g->inputs[k] : g->outputs[k - g->ninputs]];
        if (v->dtype && !dtype_size(v->dtype))
            return err_fail(err, errlen, ENG_EUNSUPPORTED,
                            "%s \"%s\" has data type %d, not supported",
                            k < g->ninputs ? "input" : "output", v->name, (int)v->dtype);
    }
    return 0;
}

/* Inputs of an op whose contents decide its output shapes (by input position), for any opset:
 * an input position absent at an opset is simply never present. */
static const struct {
    const char *op;
    unsigned mask;
} shape_inputs[] = {
    {"Reshape", 1u << 1},
    {"Expand", 1u << 1},
    {"Squeeze", 1u << 1},
    {"Unsqueeze", 1u << 1},
    {"ReduceSum", 1u << 1},
    {"ReduceMean", 1u << 1},
    {"ReduceMax", 1u << 1},
    {"ReduceMin", 1u << 1},
    {"ReduceProd", 1u << 1},
    {"ReduceL1", 1u << 1},
    {"ReduceL2", 1u << 1},
    {"ReduceLogSum", 1u << 1},
    {"ReduceLogSumExp", 1u << 1},
    {"ReduceSumSquare", 1u << 1},
    {"Slice", 0x1eu},
    {"ConstantOfShape", 1u << 0},
    {"Range", 0x7u},
    {"Tile", 1u << 1},
    {"OneHot", 1u << 1},
    {"Split", 1u << 1},
    {"Pad", (1u << 1) | (1u << 3)},
    {"TopK", 1u << 1},
    {"Resize", 0xeu},
    {"Upsample", 1u << 1},
    {"CenterCropPad", 1u << 1},
};

/* Marks the values whose contents decide shapes (value_t.shapes_need), and everything they are
 * computed from, back to constants, graph inputs and the outputs of Shape and Size (which read
 * only dims). A session evaluates all of them while planning; the graph inputs among them are
 * part of its plan key, so such a value may come from a request and still be fully planned. */
static void mark_shape_values(eng_model_t *m)
{
    graph_t *g = &m->g;
    for (int k = m->nrun - 1; k >= 0; k--) {
        const node_t *n = &g->nodes[m->run_order[k]];
        unsigned mask = 0;
        for (size_t t = 0; t < sizeof shape_inputs / sizeof *shape_inputs; t++)
            if (is_onnx_domain(n->domain) && strcmp(n->op_type, shape_inputs[t].op) == 0)
                mask = shape_inputs[t].mask;
        bool dims_only = strcmp(n->op_type, "Shape") == 0 || strcmp(n->op_type, "Size") == 0;
        for (int o = 0; o < n->nout && !dims_only; o++)
            if (g->values[n->out[o]].shapes_need) mask = ~0u; /* all of its inputs, then */
        for (int i = 0; i < n->nin && i < 32; i++)
            if ((mask >> i & 1) && n->in[i] >= 0 && g->values[n->in[i]].kind != VAL_CONST)
                g->values[n->in[i]].shapes_need = true;
    }
}

static int describe_io(eng_model_t *m)
{
    graph_t *g = &m->g;
    m->inputs = arena_alloc(&g->arena, sizeof(eng_io_t) * (size_t)(g->ninputs + 1));
    m->outputs = arena_alloc(&g->arena, sizeof(eng_io_t) * (size_t)(g->noutputs + 1));
    if (!m->inputs || !m->outputs) return ENG_ENOMEM;
    for (int k = 0; k < g->ninputs + g->noutputs; k++) {
        bool in = k < g->ninputs;
        const value_t *v = &g->values[in ? g->inputs[k] : g->outputs[k - g->ninputs]];
        eng_io_t *io = in ? &m->inputs[k] : &m->outputs[k - g->ninputs];
        io->name = v->name;
        io->dtype = v->dtype;
        io->rank = v->rank;
        for (int d = 0; d < v->rank && d < TENSOR_MAX_RANK; d++) {
            io->dims[d] = v->dims[d];
            io->dim_params[d] = v->dim_params[d];
        }
        if (!in && v->producer >= 0 && strcmp(g->nodes[v->producer].op_type, "ZipMap") == 0)
            io->is_map_seq = 1;
    }
    return 0;
}

int graph_finish(eng_model_t *m, char *err, size_t errlen)
{
    graph_t *g = &m->g;
    int rc;
    m->nnodes_file = g->nnodes;
    if ((rc = check_opsets(g, err, errlen))) return rc;
    if ((rc = check_io_types(g, err, errlen))) return rc;
    if ((rc = resolve_ops(g, err, errlen))) return rc;
    if ((rc = toposort(m, err, errlen))) return rc;
    if ((rc = prepare_ops(g, err, errlen))) return rc;
    if ((rc = fold_constants(m, err, errlen))) return rc;
    if ((rc = graph_fuse(m, err, errlen))) return rc;
    mark_shape_values(m);
    return describe_io(m);
}
