/* The engine's C API end to end on a fixture model: describe, run, errors, re-planning, sharing a
 * model across threads, and no allocation by our code once a plan is in place (malloc and friends
 * are wrapped at link time and counted); opening files beneath a directory. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/model.h"
#include "th.h"

static _Atomic long allocs;
static _Atomic int counting;

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t m);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t a, size_t n);
void *__wrap_malloc(size_t n)
{
    if (counting) allocs++;
    return __real_malloc(n);
}
void *__wrap_calloc(size_t n, size_t m)
{
    if (counting) allocs++;
    return __real_calloc(n, m);
}
void *__wrap_realloc(void *p, size_t n)
{
    if (counting) allocs++;
    return __real_realloc(p, n);
}
int __wrap_posix_memalign(void **p, size_t a, size_t n)
{
    if (counting) allocs++;
    return __real_posix_memalign(p, a, n);
}

#define MODEL(name) FIXTURES_DIR "/models/" name ".onnx"

static void fill(float *x, int64_t n, unsigned seed)
{
    for (int64_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (float)((seed >> 8) % 2000) / 100.0f - 5.0f;
    }
}

typedef struct shared {
    const eng_model_t *m;
    const float *x;
    const int64_t *want; /* labels computed single-threaded */
    int rows, bad;
} shared_t;

static void *worker(void *arg)
{
    shared_t *sh = arg;
    eng_session_t *s = eng_session_new(sh->m, 1);
    char err[256];
    for (int it = 0; it < 200; it++) {
        int rows = 1 + it % sh->rows;
        tensor_t in = {.dtype = DT_FLOAT, .rank = 2, .dims = {rows, 64}, .data = (void *)sh->x};
        const tensor_t *out;
        int nout;
        if (eng_session_run(s, &in, 1, &out, &nout, err, sizeof err)) {
            sh->bad++;
            continue;
        }
        const int64_t *label = out[out[0].dtype == DT_INT64 ? 0 : 1].data;
        for (int r = 0; r < rows; r++)
            if (label[r] != sh->want[r]) sh->bad++;
    }
    eng_session_free(s);
    return NULL;
}

/* Returns the result of eng_open_beneath (or the fallback walk), closing a descriptor. */
static int try_open(int dirfd, const char *path, int flags, bool walk)
{
    int fd = walk ? model_open_walk(dirfd, path, flags | O_RDONLY | O_CLOEXEC | O_NONBLOCK)
                  : eng_open_beneath(dirfd, path, flags);
    if (fd >= 0) close(fd);
    return fd >= 0 ? 0 : fd;
}

static void test_open_beneath(void)
{
    char root[] = "/tmp/inferd-test-open-XXXXXX", p[256];
    CHECK(mkdtemp(root) != NULL);
    snprintf(p, sizeof p, "%s/a", root);
    CHECK_EQ(mkdir(p, 0700), 0);
    snprintf(p, sizeof p, "%s/a/f", root);
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (f) fclose(f);
    snprintf(p, sizeof p, "%s/a/in", root);
    CHECK_EQ(symlink("f", p), 0); /* stays inside */
    snprintf(p, sizeof p, "%s/out", root);
    CHECK_EQ(symlink("/etc", p), 0); /* leaves */
    snprintf(p, sizeof p, "%s/a/up", root);
    CHECK_EQ(symlink("../../", p), 0); /* leaves through ".." */
    snprintf(p, sizeof p, "%s/fifo", root);
    CHECK_EQ(mkfifo(p, 0600), 0);
    int dfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    CHECK(dfd >= 0);

    CHECK_EQ(try_open(dfd, "a/f", 0, false), 0);
    CHECK_EQ(try_open(dfd, "a//f", 0, false), 0);
    CHECK_EQ(try_open(dfd, "a/in", 0, false), 0);
    CHECK_EQ(try_open(dfd, "out/passwd", 0, false), -EXDEV);
    CHECK_EQ(try_open(dfd, "a/up/etc/passwd", 0, false), -EXDEV);
    CHECK_EQ(try_open(dfd, "../etc/passwd", 0, false), -EXDEV);
    CHECK_EQ(try_open(dfd, "/etc/passwd", 0, false), -EXDEV);
    CHECK_EQ(try_open(dfd, "fifo", 0, false), -EINVAL); /* and it did not block */
    CHECK_EQ(try_open(dfd, "a", 0, false), -EINVAL);
    CHECK_EQ(try_open(dfd, "a", O_DIRECTORY, false), 0);
    CHECK_EQ(try_open(dfd, "a/f", O_DIRECTORY, false), -ENOTDIR);
    CHECK_EQ(try_open(dfd, "nope", 0, false), -ENOENT);

    /* The fallback refuses every symlink, even one that stays inside. */
    CHECK_EQ(try_open(dfd, "a/f", 0, true), 0);
    CHECK_EQ(try_open(dfd, "a/in", 0, true), -EXDEV);
    CHECK_EQ(try_open(dfd, "out/passwd", 0, true), -EXDEV);
    CHECK_EQ(try_open(dfd, "a/up/etc", 0, true), -EXDEV);
    CHECK_EQ(try_open(dfd, "a/../a/f", 0, true), -EXDEV);
    CHECK_EQ(try_open(dfd, "nope/f", 0, true), -ENOENT);
    close(dfd);

    const char *rm[] = {"a/f", "a/in", "a/up", "out", "fifo", "a", ""};
    for (int i = 0; i < 7; i++) {
        snprintf(p, sizeof p, "%s/%s", root, rm[i]);
        CHECK_EQ(remove(p), 0);
    }
}

/* A shape given as an input (Reshape's shape, axes) is planned per value: a new value plans
 * again, a repeated one reuses the plan without allocating. */
static void test_shape_inputs(void)
{
    char err[512];
    eng_model_t *m = NULL;
    CHECK_EQ(eng_model_load(MODEL("ops_shape_inputs"), &m, err, sizeof err), 0);
    if (!m) return;
    eng_session_t *s = eng_session_new(m, 1);
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = (float)i;
    int64_t shape[2] = {3, 4}, axes[1] = {1}, uaxes[2] = {0, 1}, tail[1] = {6};
    tensor_t in[5] = {
        {.dtype = DT_FLOAT, .rank = 2, .dims = {2, 6}, .data = x},
        {.dtype = DT_INT64, .rank = 1, .dims = {2}, .data = shape},
        {.dtype = DT_INT64, .rank = 1, .dims = {1}, .data = axes},
        {.dtype = DT_INT64, .rank = 1, .dims = {2}, .data = uaxes},
        {.dtype = DT_INT64, .rank = 1, .dims = {1}, .data = tail},
    };
    const tensor_t *out;
    int nout;
    CHECK_EQ(eng_session_run(s, in, 5, &out, &nout, err, sizeof err), 0);
    CHECK(out[0].rank == 2 && out[0].dims[0] == 3 && out[0].dims[1] == 4);
    CHECK(out[1].rank == 1 && out[1].dims[0] == 2 && ((float *)out[1].data)[1] == 51.0f);
    CHECK(out[2].rank == 4 && out[2].dims[0] == 1 && out[2].dims[1] == 1 && out[2].dims[2] == 2);
    CHECK(out[3].rank == 1 && out[3].dims[0] == 12);
    shape[0] = 4; /* same shapes, new contents: planned again */
    shape[1] = -1;
    axes[0] = 0;
    CHECK_EQ(eng_session_run(s, in, 5, &out, &nout, err, sizeof err), 0);
    CHECK(out[0].rank == 2 && out[0].dims[0] == 4 && out[0].dims[1] == 3);
    CHECK(((float *)out[0].data)[11] == 11.0f);
    CHECK(out[1].rank == 1 && out[1].dims[0] == 6 && ((float *)out[1].data)[5] == 16.0f);
    allocs = 0;
    counting = 1;
    for (int i = 0; i < 10; i++) eng_session_run(s, in, 5, &out, &nout, err, sizeof err);
    counting = 0;
    CHECK_EQ(allocs, 0);
    CHECK(out[0].dims[0] == 4 && out[0].dims[1] == 3);
    shape[1] = 5; /* 4 x 5 != 12: an input error naming the node, not a crash */
    CHECK_EQ(eng_session_run(s, in, 5, &out, &nout, err, sizeof err), ENG_EINPUT);
    CHECK(strstr(err, "Reshape") != NULL);
    shape[1] = 3;
    CHECK_EQ(eng_session_run(s, in, 5, &out, &nout, err, sizeof err), 0);
    eng_session_free(s);
    eng_model_free(m);
}

int main(void)
{
    test_open_beneath();
    test_shape_inputs();

    char err[512];
    eng_model_t *m = NULL;

    /* Describe. */
    CHECK_EQ(eng_model_load(MODEL("breast_cancer_logreg"), &m, err, sizeof err), 0);
    CHECK_EQ(eng_model_ninputs(m), 1);
    const eng_io_t *io = eng_model_input(m, 0);
    CHECK(io && io->dtype == DT_FLOAT && io->rank == 2 && io->dims[0] == -1 && io->dims[1] == 30);
    CHECK(eng_model_input(m, 1) == NULL);
    CHECK_EQ(eng_model_noutputs(m), 2);
    eng_model_info_t info;
    eng_model_describe(m, &info);
    CHECK(info.nops == 2 && info.nnodes == 2);

    /* Run, then run again on the same shapes with no allocation at all. */
    eng_session_t *s = eng_session_new(m, 1);
    float x[100 * 30];
    fill(x, 100 * 30, 1);
    tensor_t in = {.dtype = DT_FLOAT, .rank = 2, .dims = {7, 30}, .data = x};
    const tensor_t *out;
    int nout;
    CHECK_EQ(eng_session_run(s, &in, 1, &out, &nout, err, sizeof err), 0);
    CHECK_EQ(nout, 2);
    CHECK(out[0].dtype == DT_INT64 && out[0].rank == 1 && out[0].dims[0] == 7);
    CHECK(out[1].dtype == DT_FLOAT && out[1].dims[0] == 7 && out[1].dims[1] == 2);
    float p0 = ((float *)out[1].data)[0] + ((float *)out[1].data)[1];
    CHECK(p0 > 0.9999f && p0 < 1.0001f);
    counting = 1;
    for (int i = 0; i < 100; i++) eng_session_run(s, &in, 1, &out, &nout, err, sizeof err);
    counting = 0;
    CHECK_EQ(allocs, 0);
    /* A new batch size plans again, which allocates (this also shows the counter works), then
     * is steady again. */
    in.dims[0] = 100;
    counting = 1;
    CHECK_EQ(eng_session_run(s, &in, 1, &out, &nout, err, sizeof err), 0);
    counting = 0;
    CHECK(allocs > 0);
    CHECK_EQ(out[0].dims[0], 100);
    allocs = 0;
    counting = 1;
    for (int i = 0; i < 100; i++) eng_session_run(s, &in, 1, &out, &nout, err, sizeof err);
    counting = 0;
    CHECK_EQ(allocs, 0);

    /* Inputs that do not fit: a clear error, and the session still works afterwards. */
    in.dims[1] = 29;
    CHECK_EQ(eng_session_run(s, &in, 1, &out, &nout, err, sizeof err), ENG_EINPUT);
    CHECK(strstr(err, "input") && strstr(err, "[N,30]") && strstr(err, "[100,29]"));
    in.dims[1] = 30;
    in.dtype = DT_INT64;
    CHECK_EQ(eng_session_run(s, &in, 1, &out, &nout, err, sizeof err), ENG_EINPUT);
    CHECK(strstr(err, "FP32") && strstr(err, "INT64"));
    in.dtype = DT_FLOAT;
    CHECK_EQ(eng_session_run(s, &in, 0, &out, &nout, err, sizeof err), ENG_EINPUT);
    in.rank = 1;
    CHECK_EQ(eng_session_run(s, &in, 1, &out, &nout, err, sizeof err), ENG_EINPUT);
    in.rank = 2;
    CHECK_EQ(eng_session_run(s, &in, 1, &out, &nout, err, sizeof err), 0);
    eng_session_free(s);
    eng_model_free(m);

    /* Load errors carry a code and a message. */
    CHECK_EQ(eng_model_load("/nonexistent.onnx", &m, err, sizeof err), ENG_EIO);
    CHECK(strstr(err, "/nonexistent.onnx") != NULL);
    CHECK(m == NULL);
    CHECK_EQ(eng_model_load_mem("\x08\x07garbage", 9, &m, err, sizeof err), ENG_EFORMAT);
    CHECK(err[0] != 0);

    /* One model, four threads, each with its own session: same answers as one thread. */
    CHECK_EQ(eng_model_load(MODEL("digits_mlp"), &m, err, sizeof err), 0);
    static float dx[64 * 64];
    fill(dx, 64 * 64, 7);
    int64_t want[64];
    s = eng_session_new(m, 1);
    tensor_t din = {.dtype = DT_FLOAT, .rank = 2, .dims = {64, 64}, .data = dx};
    CHECK_EQ(eng_session_run(s, &din, 1, &out, &nout, err, sizeof err), 0);
    int li = out[0].dtype == DT_INT64 ? 0 : 1;
    memcpy(want, out[li].data, sizeof want);
    eng_session_free(s);
    shared_t sh[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        sh[i] = (shared_t){m, dx, want, 64, 0};
        pthread_create(&th[i], NULL, worker, &sh[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(sh[i].bad, 0);
    }
    eng_model_free(m);
    return TH_DONE();
}
