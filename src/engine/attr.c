/* Attribute and constant-input accessors used by the operators. */
#include <string.h>

#include "engine/graph.h"

const attr_t *node_attr(const node_t *n, const char *name)
{
    for (int i = 0; i < n->nattrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

int64_t node_attr_int(const node_t *n, const char *name, int64_t def)
{
    const attr_t *a = node_attr(n, name);
    return a && a->type == ATTR_INT ? a->i : def;
}

float node_attr_float(const node_t *n, const char *name, float def)
{
    const attr_t *a = node_attr(n, name);
    return a && a->type == ATTR_FLOAT ? a->f : def;
}

const char *node_attr_str(const node_t *n, const char *name, const char *def)
{
    const attr_t *a = node_attr(n, name);
    return a && a->type == ATTR_STRING ? a->s : def;
}

const int64_t *node_attr_ints(const node_t *n, const char *name, int64_t *count)
{
    const attr_t *a = node_attr(n, name);
    if (!a || a->type != ATTR_INTS) return *count = 0, NULL;
    *count = a->n;
    return a->ints;
}

const float *node_attr_floats(const node_t *n, const char *name, int64_t *count)
{
    const attr_t *a = node_attr(n, name);
    if (!a || a->type != ATTR_FLOATS) return *count = 0, NULL;
    *count = a->n;
    return a->floats;
}

const char **node_attr_strings(const node_t *n, const char *name, int64_t *count)
{
    const attr_t *a = node_attr(n, name);
    if (!a || a->type != ATTR_STRINGS) return *count = 0, NULL;
    *count = a->n;
    return a->strings;
}

const tensor_t *node_const_input(const graph_t *g, const node_t *n, int i)
{
    if (i >= n->nin || n->in[i] < 0) return NULL;
    const value_t *v = &g->values[n->in[i]];
    return v->kind == VAL_CONST ? v->constant : NULL;
}
