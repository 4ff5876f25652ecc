/* Graph fusions, run once at load after constant folding: subgraphs the PyTorch and HF
 * exporters write for one operation are replaced by one fused op (engine/ops/fused.h), which
 * makes one pass over the data where the subgraph made up to nine:
 *   LayerNorm   ReduceMean, Sub, Pow 2, ReduceMean, Add eps, Sqrt, Div[, Mul gamma][, Add beta]
 *   GELU (erf)  Div sqrt2, Erf, Add 1, Mul x, Mul 0.5 (in either order of the two Muls)
 *   GELU (tanh) Pow 3, Mul 0.044715, Add x, Mul sqrt(2/pi), Tanh, Add 1, Mul 0.5 x (either order)
 *   bias        MatMul x by a constant [K,N] weight, then Add a constant [N] bias
 *   bias+GELU   a fused bias product whose only reader is a fused GELU
 *   attention   Reshape/Transpose of Q, K, V into heads, MatMul, Div, Add mask, Softmax,
 *               MatMul V, Transpose, Reshape back (the form the PyTorch exporter writes)
 * A match needs every inner value to be read only inside the pattern (and not be a graph
 * output); the fused node takes the place of the pattern's last node, keeping its output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/fuse.h"
#include "engine/ops/fused.h"
#include "kern/gemm.h"

typedef struct fuse {
    eng_model_t *m;
    graph_t *g;
    int *uses;  /* per value: readers among live nodes, +1 for a graph output */
    bool *dead; /* per node */
} fuse_t;

static bool is(const fuse_t *f, int node, const char *op)
{
    return node >= 0 && !f->dead[node] && strcmp(f->g->nodes[node].op_type, op) == 0 &&
           (!*f->g->nodes[node].domain || !strcmp(f->g->nodes[node].domain, "ai.onnx"));
}

static int producer(const fuse_t *f, int v)
{
    if (v < 0 || f->g->values[v].kind != VAL_NODE) return -1;
    return f->g->values[v].producer;
}

/* The single live node reading v, or -1. */
static int only_reader(const fuse_t *f, int v)
{
    if (v < 0 || f->uses[v] != 1) return -1;
    for (int k = 0; k < f->m->nrun; k++) {
        int ni = f->m->run_order[k];
        if (f->dead[ni]) continue;
        const node_t *n = &f->g->nodes[ni];
        for (int i = 0; i < n->nin; i++)
            if (n->in[i] == v) return ni;
    }
    return -1;
}

/* The float value of a one-element constant input, or NAN. */
static float const_scalar(const fuse_t *f, int v)
{
    if (v < 0 || f->g->values[v].kind != VAL_CONST) return NAN;
    const tensor_t *t = f->g->values[v].constant;
    if (tensor_numel(t) != 1) return NAN;
    if (t->dtype == DT_FLOAT) return *(const float *)t->data;
    if (t->dtype == DT_DOUBLE) return (float)*(const double *)t->data;
    return NAN;
}

static bool near(float a, float b)
{
    return fabsf(a - b) <= 1e-6f * fabsf(b);
}

static const tensor_t *const_tensor(const fuse_t *f, int v)
{
    return v >= 0 && f->g->values[v].kind == VAL_CONST ? f->g->values[v].constant : NULL;
}

/* The input of binary node n that is not v (-1 if neither or both are v). */
static int other(const node_t *n, int v)
{
    if (n->nin != 2) return -1;
    if (n->in[0] == v && n->in[1] != v) return n->in[1];
    if (n->in[1] == v && n->in[0] != v) return n->in[0];
    return -1;
}

/* ReduceMean over the last axis only, keeping dims. */
static bool mean_last(const fuse_t *f, int ni)
{
    if (!is(f, ni, "ReduceMean")) return false;
    const node_t *n = &f->g->nodes[ni];
    if (node_attr_int(n, "keepdims", 1) != 1) return false;
    int64_t cnt = 0;
    const int64_t *ax = NULL;
    if (n->opset < 18) {
        ax = node_attr_ints(n, "axes", &cnt);
    } else if (n->nin > 1) {
        const tensor_t *t = const_tensor(f, n->in[1]);
        if (t && t->dtype == DT_INT64) ax = t->data, cnt = tensor_numel(t);
    }
    return cnt == 1 && ax[0] == -1;
}

static int *arena_ints(graph_t *g, int n)
{
    return arena_alloc(&g->arena, sizeof(int) * (size_t)n);
}

/* Turns node `last` into op with the given inputs; kills the other pattern nodes. */
static int replace(fuse_t *f, int last, const op_def_t *op, const int *ins, int nin,
                   const int *kill, int nkill)
{
    node_t *n = &f->g->nodes[last];
    int *in = arena_ints(f->g, nin);
    if (!in) return -1;
    for (int i = 0; i < nin; i++) {
        in[i] = ins[i];
        if (ins[i] >= 0) f->uses[ins[i]]++;
    }
    for (int i = 0; i < n->nin; i++)
        if (n->in[i] >= 0) f->uses[n->in[i]]--;
    for (int k = 0; k < nkill; k++) {
        const node_t *d = &f->g->nodes[kill[k]];
        for (int i = 0; i < d->nin; i++)
            if (d->in[i] >= 0) f->uses[d->in[i]]--;
        f->dead[kill[k]] = true;
    }
    n->in = in;
    n->nin = nin;
    n->op = op;
    n->op_type = op->name;
    n->domain = op->domain;
    n->state = NULL;
    return 0;
}

static int try_layer_norm(fuse_t *f, int mu)
{
    if (!mean_last(f, mu)) return 0;
    const node_t *nmu = &f->g->nodes[mu];
    int x = nmu->in[0];
    int sub = only_reader(f, nmu->out[0]);
    if (!is(f, sub, "Sub") || f->g->nodes[sub].in[0] != x || f->g->nodes[sub].in[1] != nmu->out[0])
        return 0;
    int d = f->g->nodes[sub].out[0];
    if (f->uses[d] != 2) return 0;
    /* d's two readers: Pow(d, 2) and Div(d, ...) */
    int pw = -1, dv = -1;
    for (int k = 0; k < f->m->nrun; k++) {
        int ni = f->m->run_order[k];
        if (f->dead[ni]) continue;
        const node_t *n = &f->g->nodes[ni];
        if (n->nin == 2 && n->in[0] == d) {
            if (is(f, ni, "Pow")) pw = ni;
            if (is(f, ni, "Div")) dv = ni;
        }
    }
    if (pw < 0 || dv < 0 || const_scalar(f, f->g->nodes[pw].in[1]) != 2.0f) return 0;
    int var = only_reader(f, f->g->nodes[pw].out[0]);
    if (!mean_last(f, var)) return 0;
    int add = only_reader(f, f->g->nodes[var].out[0]);
    if (!is(f, add, "Add")) return 0;
    float eps = const_scalar(f, other(&f->g->nodes[add], f->g->nodes[var].out[0]));
    if (!(eps >= 0)) return 0;
    int sq = only_reader(f, f->g->nodes[add].out[0]);
    if (!is(f, sq, "Sqrt") || only_reader(f, f->g->nodes[sq].out[0]) != dv ||
        f->g->nodes[dv].in[1] != f->g->nodes[sq].out[0])
        return 0;
    int last = dv, gamma = -1, beta = -1;
    int mul = only_reader(f, f->g->nodes[dv].out[0]);
    if (is(f, mul, "Mul")) {
        int gv = other(&f->g->nodes[mul], f->g->nodes[dv].out[0]);
        const tensor_t *gt = const_tensor(f, gv);
        if (gt && gt->dtype == DT_FLOAT && gt->rank == 1) {
            gamma = gv;
            last = mul;
            int ab = only_reader(f, f->g->nodes[mul].out[0]);
            if (is(f, ab, "Add")) {
                int bv = other(&f->g->nodes[ab], f->g->nodes[mul].out[0]);
                const tensor_t *bt = const_tensor(f, bv);
                if (bt && bt->dtype == DT_FLOAT && bt->rank == 1) beta = bv, last = ab;
            }
        }
    }
    if (gamma < 0) return 0; /* a plain normalisation without scale: leave it */
    float *st = arena_alloc(&f->g->arena, sizeof *st);
    if (!st) return -1;
    *st = eps;
    int kill[9] = {mu, sub, pw, var, add, sq, dv, mul, -1}, nk = 0;
    int k2[9];
    for (int i = 0; i < 9; i++)
        if (kill[i] >= 0 && kill[i] != last) k2[nk++] = kill[i];
    int ins[3] = {x, gamma, beta};
    if (replace(f, last, &fused_op_layer_norm, ins, 3, k2, nk)) return -1;
    f->g->nodes[last].state = st;
    return 1;
}

/* Div(h, sqrt2) -> Erf -> Add 1 -> Mul h -> Mul 0.5 (or Mul(Mul(h, 0.5), Add ...)). */
static int try_gelu_erf(fuse_t *f, int erf)
{
    if (!is(f, erf, "Erf")) return 0;
    int dv = producer(f, f->g->nodes[erf].in[0]);
    if (!is(f, dv, "Div") || f->uses[f->g->nodes[dv].out[0]] != 1 ||
        !near(const_scalar(f, f->g->nodes[dv].in[1]), 1.41421356f))
        return 0;
    int h = f->g->nodes[dv].in[0];
    int add = only_reader(f, f->g->nodes[erf].out[0]);
    if (!is(f, add, "Add") ||
        !near(const_scalar(f, other(&f->g->nodes[add], f->g->nodes[erf].out[0])), 1.0f))
        return 0;
    int m1 = only_reader(f, f->g->nodes[add].out[0]);
    if (!is(f, m1, "Mul")) return 0;
    int o = other(&f->g->nodes[m1], f->g->nodes[add].out[0]);
    if (o == h) { /* form A: Mul(Mul(h, add), 0.5) */
        int m2 = only_reader(f, f->g->nodes[m1].out[0]);
        if (!is(f, m2, "Mul") ||
            !near(const_scalar(f, other(&f->g->nodes[m2], f->g->nodes[m1].out[0])), 0.5f))
            return 0;
        int kill[4] = {dv, erf, add, m1}, ins[1] = {h};
        return replace(f, m2, &fused_op_gelu_erf, ins, 1, kill, 4) ? -1 : 1;
    }
    int mh = producer(f, o); /* form B: Mul(Mul(h, 0.5), add) */
    if (!is(f, mh, "Mul") || f->uses[o] != 1 ||
        !near(const_scalar(f, other(&f->g->nodes[mh], h)), 0.5f))
        return 0;
    int kill[4] = {dv, erf, add, mh}, ins[1] = {h};
    return replace(f, m1, &fused_op_gelu_erf, ins, 1, kill, 4) ? -1 : 1;
}

/* The 0.5 x (1 + t) tail both GELU forms end with, from t's value: Add(t, 1) then either
 * Mul(Mul(h, add), 0.5) or Mul(Mul(h, 0.5), add). Sets *last and kill[0..1]; 0 if no match. */
static int gelu_tail(const fuse_t *f, int t, int h, int *last, int *kill)
{
    int add = only_reader(f, t);
    if (!is(f, add, "Add") || !near(const_scalar(f, other(&f->g->nodes[add], t)), 1.0f)) return 0;
    int m1 = only_reader(f, f->g->nodes[add].out[0]);
    if (!is(f, m1, "Mul")) return 0;
    int o = other(&f->g->nodes[m1], f->g->nodes[add].out[0]);
    kill[0] = add;
    if (o == h) {
        int m2 = only_reader(f, f->g->nodes[m1].out[0]);
        if (!is(f, m2, "Mul") ||
            !near(const_scalar(f, other(&f->g->nodes[m2], f->g->nodes[m1].out[0])), 0.5f))
            return 0;
        kill[1] = m1, *last = m2;
        return 1;
    }
    int mh = producer(f, o);
    if (!is(f, mh, "Mul") || f->uses[o] != 1 ||
        !near(const_scalar(f, other(&f->g->nodes[mh], h)), 0.5f))
        return 0;
    kill[1] = mh, *last = m1;
    return 1;
}

/* Tanh(Mul(Add(h, Mul(Pow(h, 3), 0.044715)), sqrt(2/pi))) and the GELU tail. */
static int try_gelu_tanh(fuse_t *f, int th)
{
    if (!is(f, th, "Tanh")) return 0;
    int c = producer(f, f->g->nodes[th].in[0]);
    if (!is(f, c, "Mul") || f->uses[f->g->nodes[c].out[0]] != 1) return 0;
    int sv = -1;
    for (int i = 0; i < 2; i++)
        if (near(const_scalar(f, f->g->nodes[c].in[i]), 0.7978845608f))
            sv = f->g->nodes[c].in[1 - i];
    int s = producer(f, sv);
    if (!is(f, s, "Add") || f->uses[sv] != 1) return 0;
    for (int i = 0; i < 2; i++) {
        int h = f->g->nodes[s].in[i], mv = f->g->nodes[s].in[1 - i], m3 = producer(f, mv);
        if (!is(f, m3, "Mul") || f->uses[mv] != 1) continue;
        int pv = -1;
        for (int j = 0; j < 2; j++)
            if (near(const_scalar(f, f->g->nodes[m3].in[j]), 0.044715f))
                pv = f->g->nodes[m3].in[1 - j];
        int pw = producer(f, pv);
        if (!is(f, pw, "Pow") || f->uses[pv] != 1 || f->g->nodes[pw].in[0] != h ||
            const_scalar(f, f->g->nodes[pw].in[1]) != 3.0f)
            continue;
        int last, kill[7] = {pw, m3, s, c, th, -1, -1};
        if (!gelu_tail(f, f->g->nodes[th].out[0], h, &last, kill + 5)) return 0;
        int ins[1] = {h};
        return replace(f, last, &fused_op_gelu_tanh, ins, 1, kill, 7) ? -1 : 1;
    }
    return 0;
}

/* Transpose(perm) of Reshape(x, [*, *, A, D] const): sets *x, *A, *D; returns the Reshape node. */
static int heads_of(const fuse_t *f, int tv, const int64_t *perm, int *x, int64_t *A, int64_t *D,
                    int *tr)
{
    int t = producer(f, tv);
    if (!is(f, t, "Transpose") || f->uses[tv] != 1) return -1;
    int64_t np;
    const int64_t *p = node_attr_ints(&f->g->nodes[t], "perm", &np);
    if (np != 4 || memcmp(p, perm, sizeof(int64_t) * 4)) return -1;
    int rv = f->g->nodes[t].in[0], r = producer(f, rv);
    if (!is(f, r, "Reshape") || f->uses[rv] != 1) return -1;
    const tensor_t *shp = const_tensor(f, f->g->nodes[r].in[1]);
    if (!shp || shp->dtype != DT_INT64 || tensor_numel(shp) != 4) return -1;
    const int64_t *sv = shp->data;
    if (sv[2] <= 0 || sv[3] <= 0) return -1;
    *x = f->g->nodes[r].in[0], *A = sv[2], *D = sv[3], *tr = t;
    return r;
}

/* Self-attention as the PyTorch exporter writes it (per layer):
 *   q = Transpose0213(Reshape(Q, [0,0,A,D])), k = Transpose0231(Reshape(K, ...)), v likewise
 *   Softmax(Add(Div(MatMul(q, k), c), mask)) -> MatMul(., v) -> Transpose0213 -> Reshape [B,S,H]
 * becomes FusedAttention(Q, K, V, mask, c), computed head by head straight from [B,S,H]. */
static int try_attention(fuse_t *f, int sm)
{
    if (!is(f, sm, "Softmax") || f->g->nodes[sm].opset < 13) return 0;
    int64_t axis = node_attr_int(&f->g->nodes[sm], "axis", -1);
    if (axis != -1 && axis != 3) return 0;
    int adv = f->g->nodes[sm].in[0], ad = producer(f, adv);
    if (!is(f, ad, "Add") || f->uses[adv] != 1) return 0;
    for (int side = 0; side < 2; side++) {
        int dvv = f->g->nodes[ad].in[side], mask = f->g->nodes[ad].in[1 - side];
        int dv = producer(f, dvv);
        if (!is(f, dv, "Div") || f->uses[dvv] != 1) continue;
        float c = const_scalar(f, f->g->nodes[dv].in[1]);
        if (!(c > 0)) continue;
        int mmv = f->g->nodes[dv].in[0], mm = producer(f, mmv);
        if (!is(f, mm, "MatMul") || f->uses[mmv] != 1) continue;
        static const int64_t p0213[4] = {0, 2, 1, 3}, p0231[4] = {0, 2, 3, 1};
        int Q, K, V, tq, tk, tv, tc;
        int64_t A, D, A2, D2, A3, D3;
        int rq = heads_of(f, f->g->nodes[mm].in[0], p0213, &Q, &A, &D, &tq);
        int rk = heads_of(f, f->g->nodes[mm].in[1], p0231, &K, &A2, &D2, &tk);
        if (rq < 0 || rk < 0 || A != A2 || D != D2) continue;
        int mv = only_reader(f, f->g->nodes[sm].out[0]);
        if (!is(f, mv, "MatMul") || f->g->nodes[mv].in[0] != f->g->nodes[sm].out[0]) continue;
        int rv = heads_of(f, f->g->nodes[mv].in[1], p0213, &V, &A3, &D3, &tv);
        if (rv < 0 || A3 != A || D3 != D) continue;
        tc = only_reader(f, f->g->nodes[mv].out[0]);
        if (!is(f, tc, "Transpose")) continue;
        int64_t np;
        const int64_t *pp = node_attr_ints(&f->g->nodes[tc], "perm", &np);
        if (np != 4 || memcmp(pp, p0213, sizeof p0213)) continue;
        int last = only_reader(f, f->g->nodes[tc].out[0]);
        if (!is(f, last, "Reshape")) continue;
        const tensor_t *shp = const_tensor(f, f->g->nodes[last].in[1]);
        if (!shp || shp->dtype != DT_INT64 || tensor_numel(shp) != 3) continue;
        int64_t *st = arena_alloc(&f->g->arena, 2 * sizeof *st + sizeof(float));
        if (!st) return -1;
        st[0] = A, st[1] = D;
        memcpy(st + 2, &c, sizeof c);
        int kill[13] = {rq, tq, rk, tk, mm, dv, ad, sm, rv, tv, mv, tc}, ins[4] = {Q, K, V, mask};
        if (replace(f, last, &fused_op_attention, ins, 4, kill, 12)) return -1;
        f->g->nodes[last].state = st;
        return 1;
    }
    return 0;
}

/* Packs the weight value wv of FusedMatMulBias node ni in place into column strips
 * (kern_pack_b) and marks the node (state non-NULL). Only when the node is the weight's only
 * reader and no other constant shares its bytes (a folded Identity would): nothing else ever sees
 * the packed layout. -1 on out-of-memory. */
static int pack_weight(fuse_t *f, int ni, int wv)
{
    static const int packed = 1;
    tensor_t *w = f->g->values[wv].constant;
    int64_t K = w->dims[0], N = w->dims[1];
    if (!kern_b_packable(K, N) || f->uses[wv] != 1) return 0;
    size_t nb = tensor_nbytes(w);
    const char *lo = w->data, *hi = lo + nb;
    for (int v = 0; v < f->g->nvalues; v++) {
        const tensor_t *c = f->g->values[v].constant;
        if (v == wv || f->g->values[v].kind != VAL_CONST || !c || !c->data) continue;
        const char *a = c->data;
        if (a < hi && a + tensor_nbytes(c) > lo) return 0;
    }
    float *scratch = malloc(nb);
    if (!scratch) return -1;
    kern_pack_b(w->data, K, N, scratch);
    free(scratch);
    f->m->npacked++;
    f->g->nodes[ni].state = (void *)&packed;
    return 0;
}

/* MatMul(x, W[K,N] const) -> Add(., b[N] const). */
static int try_matmul_bias(fuse_t *f, int mm)
{
    if (!is(f, mm, "MatMul")) return 0;
    const node_t *n = &f->g->nodes[mm];
    const tensor_t *w = const_tensor(f, n->in[1]);
    if (!w || w->dtype != DT_FLOAT || w->rank != 2) return 0;
    int add = only_reader(f, n->out[0]);
    if (!is(f, add, "Add")) return 0;
    int bv = other(&f->g->nodes[add], n->out[0]);
    const tensor_t *b = const_tensor(f, bv);
    if (!b || b->dtype != DT_FLOAT || b->rank != 1 || b->dims[0] != w->dims[1]) return 0;
    int kill[1] = {mm}, ins[3] = {n->in[0], n->in[1], bv};
    if (replace(f, add, &fused_op_matmul_bias, ins, 3, kill, 1)) return -1;
    return pack_weight(f, add, ins[1]) ? -1 : 1;
}

/* FusedMatMulBias -> FusedGelu*: the product maps each block as it finishes (run order puts the
 * GELU, fused when its Erf or Tanh was visited, after the product). */
static int try_bias_gelu(fuse_t *f, int gl)
{
    if (gl < 0 || f->dead[gl]) return 0;
    const op_def_t *op = f->g->nodes[gl].op, *to;
    if (op == &fused_op_gelu_erf)
        to = &fused_op_matmul_bias_gelu_erf;
    else if (op == &fused_op_gelu_tanh)
        to = &fused_op_matmul_bias_gelu_tanh;
    else
        return 0;
    int hv = f->g->nodes[gl].in[0], mm = producer(f, hv);
    if (mm < 0 || f->dead[mm] || f->g->nodes[mm].op != &fused_op_matmul_bias || f->uses[hv] != 1)
        return 0;
    const int *mi = f->g->nodes[mm].in;
    int kill[1] = {mm}, ins[3] = {mi[0], mi[1], mi[2]};
    void *packed = f->g->nodes[mm].state;
    if (replace(f, gl, to, ins, 3, kill, 1)) return -1;
    f->g->nodes[gl].state = packed;
    return 1;
}

int graph_fuse(eng_model_t *m, char *err, size_t errlen)
{
    graph_t *g = &m->g;
    if (getenv("INFERD_NO_FUSE")) return 0; /* for comparing against the plain graph */
    fuse_t f = {m, g, calloc((size_t)g->nvalues + 1, sizeof(int)),
                calloc((size_t)g->nnodes + 1, sizeof(bool))};
    int rc = 0;
    if (!f.uses || !f.dead) {
        rc = ENG_ENOMEM;
        goto done;
    }
    for (int k = 0; k < m->nrun; k++) {
        const node_t *n = &g->nodes[m->run_order[k]];
        for (int i = 0; i < n->nin; i++)
            if (n->in[i] >= 0) f.uses[n->in[i]]++;
    }
    for (int o = 0; o < g->noutputs; o++) f.uses[g->outputs[o]]++;
    for (int k = 0; k < m->nrun && rc >= 0; k++) {
        int ni = m->run_order[k];
        if (f.dead[ni]) continue;
        rc = try_layer_norm(&f, ni);
        if (!rc) rc = try_gelu_erf(&f, ni);
        if (!rc) rc = try_gelu_tanh(&f, ni);
        if (!rc) rc = try_matmul_bias(&f, ni);
        if (!rc) rc = try_attention(&f, ni);
        if (!rc) rc = try_bias_gelu(&f, ni);
    }
    if (rc < 0) {
        snprintf(err, errlen, "out of memory while fusing");
        rc = ENG_ENOMEM;
        goto done;
    }
    rc = 0;
    int kept = 0;
    for (int k = 0; k < m->nrun; k++)
        if (!f.dead[m->run_order[k]]) m->run_order[kept++] = m->run_order[k];
    m->nrun = kept;
done:
    free(f.uses);
    free(f.dead);
    return rc;
}
