/* Model loading (file mapping, parse, finish, dry run) and the public accessors. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/exec.h"

void openblas_set_num_threads(int n); /* from OpenBLAS; declared here to keep cblas.h local */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init(void)
{
    /* Requests run in parallel across the server's compute threads: BLAS spawning its own
     * threads per call would oversubscribe the cores. */
    openblas_set_num_threads(1);
}

void eng_init(void)
{
    pthread_once(&init_once, init);
}

static eng_model_t *model_new(void)
{
    eng_model_t *m = calloc(1, sizeof *m);
    if (m) arena_init(&m->g.arena, 1 << 16);
    return m;
}

void eng_model_free(eng_model_t *m)
{
    if (!m) return;
    for (int i = 0; i < m->nmaps; i++)
        if (m->maps[i]) {
            if (m->map_len[i] == (size_t)-1)
                free(m->maps[i]);
            else
                munmap(m->maps[i], m->map_len[i]);
        }
    free(m->g.values);
    free(m->dir);
    arena_deinit(&m->g.arena);
    free(m);
}

/* Runs the model once on zeros with every symbolic dimension set to 1, so shape errors surface
 * at load rather than on the first request. Skipped when an input's shape is not declared. */
static int dry_run(eng_model_t *m, char *err, size_t errlen)
{
    const graph_t *g = &m->g;
    tensor_t *in = calloc((size_t)g->ninputs + 1, sizeof *in);
    void **bufs = calloc((size_t)g->ninputs + 1, sizeof *bufs);
    int rc = 0;
    if (!in || !bufs) {
        rc = ENG_ENOMEM;
        goto out;
    }
    for (int i = 0; i < g->ninputs; i++) {
        const eng_io_t *io = &m->inputs[i];
        if (io->rank < 0 || !dtype_size(io->dtype)) goto out; /* cannot guess: skip */
        in[i].dtype = io->dtype;
        in[i].rank = io->rank;
        for (int d = 0; d < io->rank; d++) in[i].dims[d] = io->dims[d] >= 0 ? io->dims[d] : 1;
        size_t nb = tensor_nbytes(&in[i]);
        if (nb > ((size_t)1 << 30)) goto out; /* a fixed huge input: not worth a dry run */
        bufs[i] = calloc(1, nb ? nb : 1);
        if (!bufs[i]) {
            rc = ENG_ENOMEM;
            goto out;
        }
        if (io->dtype == DT_STRING)
            for (int64_t k = 0; k < tensor_numel(&in[i]); k++) ((const char **)bufs[i])[k] = "";
        in[i].data = bufs[i];
    }
    eng_session_t *s = eng_session_new(m, 1);
    if (!s) {
        rc = ENG_ENOMEM;
        goto out;
    }
    const tensor_t *outs;
    int nout;
    char msg[480];
    rc = eng_session_run(s, in, g->ninputs, &outs, &nout, msg, sizeof msg);
    if (rc) {
        snprintf(err, errlen, "model fails a trial run at batch 1: %s", msg);
        rc = rc == ENG_ENOMEM ? rc : ENG_EUNSUPPORTED;
    }
    eng_session_free(s);
out:
    if (bufs)
        for (int i = 0; i < g->ninputs; i++) free(bufs[i]);
    free(bufs);
    free(in);
    return rc;
}

static int load_common(eng_model_t *m, const void *data, size_t len, char *err, size_t errlen)
{
    eng_init();
    int rc = onnx_parse(m, data, len, err, errlen);
    if (!rc) rc = graph_finish(m, err, errlen);
    if (!rc) rc = dry_run(m, err, errlen);
    if (rc == ENG_ENOMEM) snprintf(err, errlen, "out of memory loading the model");
    return rc;
}

int eng_model_load(const char *path, eng_model_t **out, char *err, size_t errlen)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return ENG_EIO;
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size == 0) {
        snprintf(err, errlen, "%s: not a regular, non-empty file", path);
        close(fd);
        return ENG_EIO;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "%s: cannot map: %s", path, strerror(errno));
        return ENG_EIO;
    }
    eng_model_t *m = model_new();
    if (!m) {
        munmap(p, (size_t)st.st_size);
        snprintf(err, errlen, "out of memory");
        return ENG_ENOMEM;
    }
    m->maps[0] = p;
    m->map_len[0] = (size_t)st.st_size;
    m->nmaps = 1;
    const char *slash = strrchr(path, '/');
    m->dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
    if (slash == path) {
        free(m->dir);
        m->dir = strdup("/");
    }
    int rc = m->dir ? load_common(m, p, (size_t)st.st_size, err, errlen) : ENG_ENOMEM;
    if (rc) {
        eng_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int eng_model_load_mem(const void *data, size_t len, eng_model_t **out, char *err, size_t errlen)
{
    *out = NULL;
    eng_model_t *m = model_new();
    void *copy = malloc(len ? len : 1);
    if (!m || !copy) {
        free(copy);
        eng_model_free(m);
        snprintf(err, errlen, "out of memory");
        return ENG_ENOMEM;
    }
    memcpy(copy, data, len);
    m->maps[0] = copy;
    m->map_len[0] = (size_t)-1; /* malloc'd, not mapped */
    m->nmaps = 1;
    int rc = load_common(m, copy, len, err, errlen);
    if (rc) {
        eng_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int eng_model_ninputs(const eng_model_t *m)
{
    return m->g.ninputs;
}

int eng_model_noutputs(const eng_model_t *m)
{
    return m->g.noutputs;
}

const eng_io_t *eng_model_input(const eng_model_t *m, int i)
{
    return i >= 0 && i < m->g.ninputs ? &m->inputs[i] : NULL;
}

const eng_io_t *eng_model_output(const eng_model_t *m, int i)
{
    return i >= 0 && i < m->g.noutputs ? &m->outputs[i] : NULL;
}

void eng_model_describe(const eng_model_t *m, eng_model_info_t *info)
{
    const graph_t *g = &m->g;
    memset(info, 0, sizeof *info);
    info->ir_version = g->ir_version;
    info->producer = g->producer_name ? g->producer_name : "";
    for (int i = 0; i < g->nopsets && i < 8; i++) {
        info->opset_domain[i] = *g->opsets[i].domain ? g->opsets[i].domain : "ai.onnx";
        info->opset_version[i] = g->opsets[i].version;
        info->nopsets++;
    }
    info->nnodes = m->nnodes_file;
    info->nnodes_run = m->nrun;
    info->nparams = g->nparams;
    for (int i = 0; i < g->nnodes; i++) {
        const node_t *n = &g->nodes[i];
        int k;
        for (k = 0; k < info->nops; k++)
            if (strcmp(info->op_name[k], n->op_type) == 0 &&
                strcmp(info->op_domain[k], n->domain) == 0)
                break;
        if (k == info->nops) {
            if (k == 128) continue;
            info->op_name[k] = n->op_type;
            info->op_domain[k] = n->domain;
            info->nops++;
        }
        info->op_count[k]++;
    }
}
