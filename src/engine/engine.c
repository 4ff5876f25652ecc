/* Model loading (reading the file, parse, finish, dry run), opening files beneath a directory,
 * and the public accessors. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
    if (m) {
        arena_init(&m->g.arena, 1 << 16);
        m->datadir = -1;
    }
    return m;
}

void eng_model_free(eng_model_t *m)
{
    if (!m) return;
    for (int i = 0; i < m->nfiles; i++) free(m->files[i]);
    free(m->g.values);
    arena_deinit(&m->g.arena);
    free(m);
}

/* ======================================================================= files ==== */

/* Without openat2 (kernels before 5.6, some seccomp filters): one component at a time with
 * O_NOFOLLOW, so every symlink is refused, even one that would stay inside. */
int model_open_walk(int dirfd, const char *path, int flags)
{
    int cur = dirfd;
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        bool last = !slash || !slash[strspn(slash, "/")];
        char comp[256];
        int fd;
        if (n >= sizeof comp) {
            fd = -ENAMETOOLONG;
        } else {
            memcpy(comp, p, n);
            comp[n] = 0;
            if (strcmp(comp, "..") == 0) {
                fd = -EXDEV;
            } else {
                int f = last ? flags | O_NOFOLLOW : O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
                fd = openat(cur, comp, f);
                if (fd < 0) {
                    struct stat st;
                    fd = (errno == ELOOP || errno == ENOTDIR) &&
                                 fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                                 S_ISLNK(st.st_mode)
                             ? -EXDEV
                             : -errno;
                }
            }
        }
        if (cur != dirfd) close(cur);
        if (fd < 0 || last) return fd;
        cur = fd;
        p = slash + strspn(slash, "/");
    }
}

int eng_open_beneath(int dirfd, const char *path, int flags)
{
    static atomic_int no_openat2;
    if (!*path || path[0] == '/') return -EXDEV;
    flags |= O_RDONLY | O_CLOEXEC | O_NONBLOCK;
    int fd = -ENOSYS;
    if (!atomic_load_explicit(&no_openat2, memory_order_relaxed)) {
        struct open_how how = {.flags = (uint64_t)flags,
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
        /* EAGAIN: a concurrent rename made the kernel unsure ".." stayed inside; retry. */
        for (int tries = 0; tries < 8; tries++) {
            fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
            if (fd >= 0 || (errno != EAGAIN && errno != EINTR)) break;
        }
        if (fd < 0) fd = -errno;
        if (fd == -ENOSYS) atomic_store_explicit(&no_openat2, 1, memory_order_relaxed);
    }
    if (fd == -ENOSYS) fd = model_open_walk(dirfd, path, flags);
    if (fd < 0) return fd;
    struct stat st;
    if (fstat(fd, &st) || ((flags & O_DIRECTORY) ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) {
        close(fd);
        return -EINVAL;
    }
    return fd;
}

const char *eng_open_strerror(int rc)
{
    if (rc == -EXDEV) return "leaves the directory it must stay in (a symbolic link or \"..\")";
    if (rc == -EINVAL) return "not a regular file";
    if (rc == -ELOOP) return "too many symbolic links, or a magic link";
    return strerror(-rc);
}

int model_read_fd(int fd, const atomic_int *cancel, void **data, size_t *len, char *err,
                  size_t errlen)
{
    enum { CHUNK = 4 << 20 }; /* between cancel checks */
    struct stat a, b;
    *data = NULL;
    *len = 0;
    if (fstat(fd, &a)) return snprintf(err, errlen, "cannot stat: %s", strerror(errno)), ENG_EIO;
    if (!S_ISREG(a.st_mode)) return snprintf(err, errlen, "not a regular file"), ENG_EIO;
    size_t n = (size_t)a.st_size;
    if ((off_t)n != a.st_size || n > SIZE_MAX - 128)
        return snprintf(err, errlen, "file too large"), ENG_EIO;
    /* 64-byte aligned, so initialisers can point into it whatever their element type. */
    char *p = aligned_alloc(64, (n + 64) & ~(size_t)63);
    if (!p) return snprintf(err, errlen, "out of memory reading the file"), ENG_ENOMEM;
    size_t got = 0;
    while (got < n) {
        if (cancel && atomic_load(cancel)) {
            free(p);
            return snprintf(err, errlen, "cancelled"), ENG_ECANCELED;
        }
        ssize_t r = pread(fd, p + got, n - got < CHUNK ? n - got : CHUNK, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(err, errlen, "cannot read: %s", strerror(errno));
            free(p);
            return ENG_EIO;
        }
        if (r == 0) break; /* it shrank */
        got += (size_t)r;
    }
    char extra;
    ssize_t more = pread(fd, &extra, 1, (off_t)n);
    if (got != n || more > 0 || fstat(fd, &b) || b.st_size != a.st_size ||
        b.st_mtim.tv_sec != a.st_mtim.tv_sec || b.st_mtim.tv_nsec != a.st_mtim.tv_nsec ||
        b.st_ctim.tv_sec != a.st_ctim.tv_sec || b.st_ctim.tv_nsec != a.st_ctim.tv_nsec) {
        snprintf(err, errlen, "the file changed while it was being read; try again");
        free(p);
        return ENG_EIO;
    }
    *data = p;
    *len = n;
    return 0;
}

/* Runs the model once on zeros with every symbolic dimension set to 1, so shape errors surface
 * at load rather than on the first request. Skipped when an input's shape is not declared, or
 * when an input decides shapes by its contents. */
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
        /* An input whose contents decide shapes (a Reshape shape...): zeros cannot stand for it. */
        if (g->values[g->inputs[i]].shapes_need) goto out;
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
    /* A data-dependent failure (zeros or empty strings an op cannot take, such as Cast of "" to
     * FLOAT) says nothing about the model: only shape and type errors refuse it. */
    if (rc == ENG_ERUN) rc = 0;
    if (rc) {
        snprintf(err, errlen, "model fails a trial run at batch 1: %s", msg);
        rc = rc == ENG_ENOMEM || rc == ENG_ECANCELED ? rc : ENG_EUNSUPPORTED;
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
    if (!rc && m->cancel && atomic_load(m->cancel))
        rc = (snprintf(err, errlen, "cancelled"), ENG_ECANCELED);
    if (!rc) rc = graph_finish(m, err, errlen);
    if (!rc) rc = dry_run(m, err, errlen);
    if (rc == ENG_ENOMEM) snprintf(err, errlen, "out of memory loading the model");
    return rc;
}

/* Takes data (an aligned allocation of len bytes) into a new model and loads it. */
static int load_owned(void *data, size_t len, const eng_load_opts_t *o, eng_model_t **out,
                      char *err, size_t errlen)
{
    *out = NULL;
    eng_model_t *m = model_new();
    if (!m) {
        free(data);
        snprintf(err, errlen, "out of memory");
        return ENG_ENOMEM;
    }
    m->files[0] = data;
    m->file_len[0] = len;
    m->nfiles = 1;
    m->datadir = o ? o->datadir : -1;
    m->cancel = o ? o->cancel : NULL;
    int rc = load_common(m, data, len, err, errlen);
    m->datadir = -1;
    m->cancel = NULL;
    if (rc) {
        eng_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

int eng_model_load_fd(int fd, const eng_load_opts_t *o, eng_model_t **out, char *err, size_t errlen)
{
    *out = NULL;
    void *data;
    size_t len;
    int rc = model_read_fd(fd, o ? o->cancel : NULL, &data, &len, err, errlen);
    if (rc) return rc;
    if (len == 0) {
        free(data);
        snprintf(err, errlen, "the file is empty");
        return ENG_EIO;
    }
    return load_owned(data, len, o, out, err, errlen);
}

int eng_model_load(const char *path, eng_model_t **out, char *err, size_t errlen)
{
    *out = NULL;
    /* The caller chose path (a symlink included); external data must stay beneath the directory
     * the path names. O_NONBLOCK: a FIFO given by mistake is refused, not waited on. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
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
    const char *slash = strrchr(path, '/');
    char *dir = slash == path ? strdup("/")
                : slash       ? strndup(path, (size_t)(slash - path))
                              : strdup(".");
    int dfd = dir ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
    int rc;
    if (dfd < 0) {
        snprintf(err, errlen, "%s: %s", dir ? dir : path, dir ? strerror(errno) : "out of memory");
        rc = dir ? ENG_EIO : ENG_ENOMEM;
    } else {
        eng_load_opts_t o = {.datadir = dfd};
        rc = eng_model_load_fd(fd, &o, out, err, errlen);
        close(dfd);
    }
    free(dir);
    close(fd);
    return rc;
}

int eng_model_load_mem(const void *data, size_t len, eng_model_t **out, char *err, size_t errlen)
{
    *out = NULL;
    void *copy = aligned_alloc(64, (len + 64) & ~(size_t)63);
    if (!copy) {
        snprintf(err, errlen, "out of memory");
        return ENG_ENOMEM;
    }
    memcpy(copy, data, len);
    return load_owned(copy, len, NULL, out, err, errlen);
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
    info->npacked = m->npacked;
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
