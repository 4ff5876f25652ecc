/* Operator lookup by domain, name and opset, and the helpers every op shares. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ops/ops.h"
#include "util/err.h"

static const char *norm_domain(const char *d)
{
    return d && strcmp(d, "ai.onnx") == 0 ? "" : (d ? d : "");
}

static const op_def_t *const *family(const char *domain)
{
    if (strcmp(domain, "") == 0) return ops_onnx;
    if (strcmp(domain, "ai.onnx.ml") == 0) return ops_ml;
    return NULL;
}

const op_def_t *ops_find(const char *domain, const char *name, int opset)
{
    domain = norm_domain(domain);
    const op_def_t *const *f = family(domain);
    for (; f && *f; f++)
        if (strcmp((*f)->name, name) == 0 && opset >= (*f)->since && opset <= (*f)->until)
            return *f;
    return NULL;
}

int ops_known(const char *domain, const char *name)
{
    const op_def_t *const *f = family(norm_domain(domain));
    for (; f && *f; f++)
        if (strcmp((*f)->name, name) == 0) return 1;
    return 0;
}

const op_arity_t *ops_find_arity(const char *domain, const char *name)
{
    domain = norm_domain(domain);
    for (const op_arity_t *a = ops_arity; a->name; a++)
        if (strcmp(a->name, name) == 0 && strcmp(a->domain, domain) == 0) return a;
    return NULL;
}

void *exec_scratch(exec_ctx_t *x, size_t n)
{
    if (n <= x->scratch_cap) return x->scratch;
    size_t cap = x->scratch_cap ? x->scratch_cap : 4096;
    while (cap < n) cap *= 2;
    void *p = NULL;
    if (posix_memalign(&p, 64, cap)) return NULL;
    free(x->scratch);
    x->scratch = p;
    x->scratch_cap = cap;
    return p;
}

typedef struct par_job {
    int (*fn)(void *, int);
    void *arg;
} par_job_t;

static int par_item(void *p, int64_t i, int w)
{
    (void)w;
    par_job_t *j = p;
    return j->fn(j->arg, (int)i);
}

int exec_parallel(exec_ctx_t *x, int n, int (*fn)(void *arg, int i), void *arg)
{
    par_job_t j = {fn, arg};
    return tpool_run(x->nthreads > 1 ? x->pool : NULL, n, par_item, &j);
}

int exec_fail(exec_ctx_t *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(x->err, x->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

int ops_broadcast_shape(const tensor_t *a, const tensor_t *b, tensor_t *out, char *err,
                        size_t errlen)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) {
            char sa[96], sb[96];
            snprintf(err, errlen, "shapes %s and %s cannot be broadcast",
                     tensor_shape_str(a, sa, sizeof sa), tensor_shape_str(b, sb, sizeof sb));
            return -1;
        }
        out->dims[i] = da == 1 ? db : da;
    }
    out->rank = r;
    return 0;
}

int ops_axis(int64_t axis, int r)
{
    if (axis < -r || axis >= (r > 0 ? r : 1)) return -1;
    return (int)(axis < 0 ? axis + r : axis);
}
