/* ONNX operator conformance: runs the ONNX project's node tests (Debian's libonnx-testdata, one
 * directory per test holding model.onnx and test_data_set_N/{input,output}_K.pb) through the
 * engine and classifies each test:
 *
 *   pass     every data set's outputs match the reference (floats within rtol 1e-3, atol 1e-7,
 *            as ONNX's backend test runner checks; integers, booleans and strings exactly)
 *   refused  the model does not load (an op, opset or type we do not claim): fine
 *   wrong    the model loads but an output differs, or the run fails on the reference inputs
 *   crash    the test process died (signal) or ran past the time limit
 *
 * Each test runs in a child process, so a crash is reported instead of ending the run.
 *
 *   run_onnx_tests [-v] [-d DATA_DIR] [-e expected_pass.txt] [-k known_wrong.txt] [TEST...]
 *
 * Exit status 1 when an expected pass does not pass, or any test is wrong (unless listed in the
 * known-wrong file) or crashes; tests that pass but are not listed are printed so the list can
 * grow. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/model.h"

#define DEFAULT_DIR  "/usr/share/libonnx-testdata/data/node"
#define MAX_IO       64
#define TEST_TIMEOUT 20 /* seconds per test */
#define RTOL         1e-3
#define ATOL         1e-7

enum { R_PASS, R_REFUSED, R_WRONG, R_CRASH, R_NRESULTS };
static const char *const result_name[] = {"pass", "refused", "wrong", "crash"};

static char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    char *p = NULL;
    if (fstat(fd, &st) == 0 && (p = malloc((size_t)st.st_size + 1))) {
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t r = read(fd, p + got, (size_t)st.st_size - got);
            if (r <= 0) break;
            got += (size_t)r;
        }
        if (got != (size_t)st.st_size) {
            free(p);
            p = NULL;
        } else {
            p[got] = 0;
            *len = got;
        }
    }
    close(fd);
    return p;
}

/* Loads dir/prefix_K.pb for K = 0, 1, ... into t[], bytes kept in bufs[]. Returns the count, or
 * -1 (message in err) when a file is not a TensorProto we can read (sequences, optionals). */
static int load_tensors(graph_t *g, const char *dir, const char *prefix, tensor_t *t,
                        const char **names, char **bufs, char *err, size_t errlen)
{
    int n = 0;
    for (; n < MAX_IO; n++) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s_%d.pb", dir, prefix, n) >= (int)sizeof path) break;
        size_t len;
        char *b = read_file(path, &len);
        if (!b) break;
        bufs[n] = b;
        if (onnx_parse_tensor(g, b, len, &t[n], &names[n], err, errlen)) return -1;
    }
    return n;
}

static float half_to_float(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0    ? ldexpf((float)m, -24)
              : e == 31 ? (m ? NAN : INFINITY)
                        : ldexpf((float)(m | 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

/* Element i of a numeric tensor as a double. */
static double num_at(const tensor_t *t, int64_t i)
{
    switch (t->dtype) {
    case DT_FLOAT: return ((const float *)t->data)[i];
    case DT_DOUBLE: return ((const double *)t->data)[i];
    case DT_FLOAT16: return half_to_float(((const uint16_t *)t->data)[i]);
    default: return 0;
    }
}

/* 0 when got matches want, else -1 with the first difference in err. */
static int compare(const tensor_t *got, const tensor_t *want, char *err, size_t errlen)
{
    char a[96], b[96];
    if (got->dtype != want->dtype) {
        snprintf(err, errlen, "type %s, expected %s", dtype_name(got->dtype),
                 dtype_name(want->dtype));
        return -1;
    }
    if (!tensor_same_shape(got, want)) {
        snprintf(err, errlen, "shape %s, expected %s", tensor_shape_str(got, a, sizeof a),
                 tensor_shape_str(want, b, sizeof b));
        return -1;
    }
    int64_t n = tensor_numel(want);
    for (int64_t i = 0; i < n; i++) {
        switch (want->dtype) {
        case DT_FLOAT:
        case DT_DOUBLE:
        case DT_FLOAT16: {
            double x = num_at(got, i), y = num_at(want, i);
            if (isnan(x) && isnan(y)) continue;
            if (isinf(y) && x == y) continue;
            if (fabs(x - y) <= ATOL + RTOL * fabs(y)) continue;
            snprintf(err, errlen, "element %lld: %.9g, expected %.9g", (long long)i, x, y);
            return -1;
        }
        case DT_STRING: {
            const char *x = ((const char *const *)got->data)[i];
            const char *y = ((const char *const *)want->data)[i];
            if (strcmp(x, y) == 0) continue;
            snprintf(err, errlen, "element %lld: \"%.40s\", expected \"%.40s\"", (long long)i, x,
                     y);
            return -1;
        }
        default: {
            size_t es = dtype_size(want->dtype);
            if (memcmp((const char *)got->data + (size_t)i * es,
                       (const char *)want->data + (size_t)i * es, es) == 0)
                continue;
            snprintf(err, errlen, "element %lld differs (%s)", (long long)i,
                     dtype_name(want->dtype));
            return -1;
        }
        }
    }
    return 0;
}

/* Runs one data set on a loaded model: R_PASS or R_WRONG (why in msg), or R_REFUSED when the
 * data files hold something other than tensors. */
static int run_set(const eng_model_t *m, eng_session_t *s, const char *dir, char *msg,
                   size_t msglen)
{
    graph_t g = {0};
    arena_init(&g.arena, 1 << 16);
    tensor_t in[MAX_IO], want[MAX_IO], ordered[MAX_IO];
    const char *in_names[MAX_IO], *want_names[MAX_IO];
    char *bufs[2 * MAX_IO] = {0};
    int rc = R_WRONG;
    int nin = load_tensors(&g, dir, "input", in, in_names, bufs, msg, msglen);
    int nwant = nin < 0
                    ? -1
                    : load_tensors(&g, dir, "output", want, want_names, bufs + MAX_IO, msg, msglen);
    if (nin < 0 || nwant < 0) {
        rc = R_REFUSED;
        goto out;
    }
    int nmodel = eng_model_ninputs(m);
    if (nin != nmodel) {
        snprintf(msg, msglen, "%d input files for %d model inputs", nin, nmodel);
        rc = R_REFUSED;
        goto out;
    }
    /* Feed by name where the files name their tensor, else by position. */
    for (int i = 0; i < nmodel; i++) {
        int k = i;
        for (int j = 0; j < nin; j++)
            if (in_names[j] && strcmp(in_names[j], eng_model_input(m, i)->name) == 0) k = j;
        ordered[i] = in[k];
    }
    const tensor_t *out;
    int nout;
    char err[512];
    int r = eng_session_run(s, ordered, nmodel, &out, &nout, err, sizeof err);
    if (r) {
        snprintf(msg, msglen, "run fails: %s", err);
        goto out;
    }
    if (nout != nwant) {
        snprintf(msg, msglen, "%d outputs, %d expected", nout, nwant);
        goto out;
    }
    for (int o = 0; o < nout; o++) {
        if (out[o].map_keys) {
            snprintf(msg, msglen, "output %d is a sequence of maps", o);
            goto out;
        }
        if (compare(&out[o], &want[o], err, sizeof err)) {
            snprintf(msg, msglen, "output %d (%s): %s", o, eng_model_output(m, o)->name, err);
            goto out;
        }
    }
    rc = R_PASS;
out:
    for (int i = 0; i < 2 * MAX_IO; i++) free(bufs[i]);
    arena_deinit(&g.arena);
    return rc;
}

/* Runs test directory dir in this process; the result code, why in msg. */
static int run_test(const char *dir, char *msg, size_t msglen)
{
    char path[4096];
    eng_model_t *m;
    if (snprintf(path, sizeof path, "%s/model.onnx", dir) >= (int)sizeof path) {
        snprintf(msg, msglen, "path too long");
        return R_REFUSED;
    }
    if (eng_model_load(path, &m, msg, msglen)) return R_REFUSED;
    eng_session_t *s = eng_session_new(m, 1);
    int rc = s ? R_PASS : R_CRASH;
    int nsets = 0;
    for (int k = 0; s && rc == R_PASS; k++) {
        struct stat st;
        if (snprintf(path, sizeof path, "%s/test_data_set_%d", dir, k) >= (int)sizeof path ||
            stat(path, &st) != 0)
            break;
        rc = run_set(m, s, path, msg, msglen);
        nsets++;
    }
    if (rc == R_PASS && nsets == 0) {
        snprintf(msg, msglen, "no data sets");
        rc = R_REFUSED;
    }
    eng_session_free(s);
    eng_model_free(m);
    return rc;
}

/* Runs the test in a child process: a crash or a hang is a result, not the end of the run. */
static int run_isolated(const char *dir, char *msg, size_t msglen)
{
    int fds[2];
    if (pipe(fds)) {
        snprintf(msg, msglen, "pipe: %s", strerror(errno));
        return R_CRASH;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(msg, msglen, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return R_CRASH;
    }
    if (pid == 0) {
        close(fds[0]);
        alarm(TEST_TIMEOUT);
        char m[1024] = "";
        unsigned char rc = (unsigned char)run_test(dir, m, sizeof m);
        if (write(fds[1], &rc, 1) != 1 || write(fds[1], m, strlen(m)) < 0) _exit(3);
        _exit(0);
    }
    close(fds[1]);
    char buf[1100];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof buf - 1 && (r = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)r;
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status) || got == 0) {
        int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
        snprintf(msg, msglen, "%s", sig == SIGALRM ? "timed out" : sig ? strsignal(sig) : "died");
        return R_CRASH;
    }
    buf[got] = 0;
    buf[msglen < sizeof buf ? msglen : sizeof buf - 1] = 0;
    memcpy(msg, buf + 1, strlen(buf + 1) + 1);
    return buf[0] < R_NRESULTS ? buf[0] : R_CRASH;
}

/* A list file: one test name per line; '#' starts a comment. Returns a NULL-terminated array. */
static char **read_list(const char *path, int *count)
{
    size_t len;
    char *text = read_file(path, &len);
    if (!text) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    char **list = calloc(len / 2 + 3, sizeof *list);
    int n = 0;
    for (char *save, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *end = line + strlen(line);
        while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) *--end = 0;
        while (*line == ' ' || *line == '\t') line++;
        if (*line) list[n++] = line;
    }
    *count = n;
    list[n + 1] = text; /* after the NULL terminator: freed by free_list */
    return list;
}

static void free_list(char **list, int n)
{
    if (!list) return;
    free(list[n + 1]);
    free(list);
}

static int in_list(char **list, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0) return 1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv)
{
    const char *dir = DEFAULT_DIR, *expected_path = NULL, *known_path = NULL;
    int verbose = 0, opt;
    while ((opt = getopt(argc, argv, "vd:e:k:")) != -1) {
        if (opt == 'v')
            verbose = 1;
        else if (opt == 'd')
            dir = optarg;
        else if (opt == 'e')
            expected_path = optarg;
        else if (opt == 'k')
            known_path = optarg;
        else {
            fprintf(stderr, "usage: %s [-v] [-d DIR] [-e expected] [-k known_wrong] [TEST...]\n",
                    argv[0]);
            return 2;
        }
    }
    int nexpected = 0, nknown = 0;
    char **expected = expected_path ? read_list(expected_path, &nexpected) : NULL;
    char **known = known_path ? read_list(known_path, &nknown) : NULL;

    char **tests = NULL;
    int ntests = 0;
    if (optind < argc) {
        tests = argv + optind;
        ntests = argc - optind;
    } else {
        DIR *d = opendir(dir);
        if (!d) {
            /* Without the Debian test data there is nothing to check: skip (ctest code 77). */
            fprintf(stderr, "%s: %s (install libonnx-testdata)\n", dir, strerror(errno));
            return 77;
        }
        struct dirent *e;
        int cap = 0;
        while ((e = readdir(d)))
            if (strncmp(e->d_name, "test_", 5) == 0) {
                if (ntests == cap)
                    tests = realloc(tests, sizeof *tests * (size_t)(cap = cap * 2 + 64));
                tests[ntests++] = strdup(e->d_name);
            }
        closedir(d);
        qsort(tests, (size_t)ntests, sizeof *tests, cmp_str);
    }

    eng_init();
    int count[R_NRESULTS] = {0}, failures = 0, newly = 0;
    char *result = calloc((size_t)ntests + 1, 1);
    for (int i = 0; i < ntests; i++) {
        char path[4096], msg[1024] = "";
        if (snprintf(path, sizeof path, "%s/%s", dir, tests[i]) >= (int)sizeof path) continue;
        int r = run_isolated(path, msg, sizeof msg);
        result[i] = (char)r;
        count[r]++;
        int bad = r == R_CRASH || (r == R_WRONG && !in_list(known, nknown, tests[i]));
        if (expected && r != R_PASS && in_list(expected, nexpected, tests[i])) bad = 1;
        failures += bad;
        if (bad || verbose)
            printf("%s%s: %s%s%s\n", bad ? "FAIL " : "", tests[i], result_name[r],
                   msg[0] ? ": " : "", msg);
    }
    if (expected) {
        for (int i = 0; i < nexpected; i++) {
            int found = 0;
            for (int k = 0; k < ntests && !found; k++) found = strcmp(tests[k], expected[i]) == 0;
            if (!found && optind >= argc) {
                printf("FAIL %s: listed as an expected pass, but not in %s\n", expected[i], dir);
                failures++;
            }
        }
        for (int i = 0; i < ntests; i++)
            if (result[i] == R_PASS && !in_list(expected, nexpected, tests[i])) {
                if (!newly++) printf("newly passing (add to the expected list):\n");
                printf("%s\n", tests[i]);
            }
    }
    printf("onnx node tests: %d run, %d pass, %d refused at load, %d wrong, %d crash", ntests,
           count[R_PASS], count[R_REFUSED], count[R_WRONG], count[R_CRASH]);
    if (expected) printf("; %d expected to pass, %d newly passing", nexpected, newly);
    printf("; %d failure%s\n", failures, failures == 1 ? "" : "s");
    free(result);
    free_list(expected, nexpected);
    free_list(known, nknown);
    if (optind >= argc) {
        for (int i = 0; i < ntests; i++) free(tests[i]);
        free(tests);
    }
    return failures ? 1 : 0;
}
