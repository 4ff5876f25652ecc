/* `inferd check` and `inferd run`: offline model inspection and inference. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/tensor_json.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "util/buf.h"
#include "util/clock.h"
#include "util/json.h"

static void check_usage(FILE *f)
{
    fprintf(f, "Usage: inferd check MODEL.onnx\n\n"
               "Loads and validates an ONNX model, then prints its inputs and outputs, opsets,\n"
               "operator histogram and parameter count. Exit status 0 if the model runs, 1 if\n"
               "not (the reason is printed), 2 for a usage error.\n");
}

static void run_usage(FILE *f)
{
    fprintf(f, "Usage: inferd run MODEL.onnx --input FILE.json [--threads N]\n\n"
               "Runs the model once and prints {\"outputs\": {name: {shape, datatype, data}}}.\n"
               "FILE.json (or - for standard input) is a list of rows for a single-input model,\n"
               "an object mapping input names to nested lists, or the Open Inference Protocol's\n"
               "{\"inputs\": ...}. null stands for a missing (NaN) feature.\n"
               "Exit status: 0 ok, 1 model cannot be loaded, 2 bad input or usage.\n");
}

static void print_io(const char *kind, const eng_io_t *io)
{
    printf("  %s %-24s %-6s [", kind, io->name, io->is_map_seq ? "SEQ_MAP" : dtype_name(io->dtype));
    if (io->rank < 0) printf("?");
    for (int d = 0; d < io->rank; d++) {
        if (d) printf(", ");
        if (io->dims[d] >= 0)
            printf("%lld", (long long)io->dims[d]);
        else
            printf("%s", io->dim_params[d] ? io->dim_params[d] : "?");
    }
    printf("]\n");
}

int cmd_check(int argc, char **argv)
{
    if (argc != 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
        bool help = argc == 1;
        check_usage(help ? stdout : stderr);
        return help ? 0 : 2;
    }
    char err[1024];
    eng_model_t *m;
    if (eng_model_load(argv[0], &m, err, sizeof err)) {
        printf("%s: does not run\n  reason: %s\n", argv[0], err);
        return 1;
    }
    eng_model_info_t info;
    eng_model_describe(m, &info);
    printf("%s: runs\n", argv[0]);
    printf("  ir_version %lld, producer \"%s\"\n", (long long)info.ir_version, info.producer);
    printf("  opsets:");
    for (int i = 0; i < info.nopsets; i++)
        printf(" %s %lld", info.opset_domain[i], (long long)info.opset_version[i]);
    printf("\n  nodes: %d (%d after constant folding), parameters: %lld\n", info.nnodes,
           info.nnodes_run, (long long)info.nparams);
    if (info.npacked) printf("  weights packed: %d\n", info.npacked);
    for (int i = 0; i < eng_model_ninputs(m); i++) print_io("input ", eng_model_input(m, i));
    for (int i = 0; i < eng_model_noutputs(m); i++) print_io("output", eng_model_output(m, i));
    printf("  operators:\n");
    for (int i = 0; i < info.nops; i++)
        printf("    %5d  %s%s%s\n", info.op_count[i], *info.op_domain[i] ? info.op_domain[i] : "",
               *info.op_domain[i] ? "." : "", info.op_name[i]);
    eng_model_free(m);
    return 0;
}

/* Reads a whole file (or stdin for "-"); NULL with errno on failure. */
static char *read_all(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    buf_t b;
    buf_init(&b);
    for (;;) {
        if (buf_reserve(&b, 1 << 16)) {
            buf_deinit(&b);
            b.data = NULL;
            errno = ENOMEM;
            break;
        }
        size_t n = fread(buf_tail(&b), 1, buf_room(&b), f);
        buf_commit(&b, n);
        if (n == 0) break;
    }
    if (f != stdin) fclose(f);
    *len = b.len;
    return b.data ? b.data : calloc(1, 1);
}

/* A model and one decoded input file, as `run` and `bench` both need them. */
typedef struct job {
    eng_model_t *m;
    char *text;
    json_doc_t *doc;
    tj_inputs_t in;
} job_t;

static void job_free(job_t *j)
{
    tj_inputs_free(&j->in);
    json_doc_free(j->doc);
    free(j->text);
    eng_model_free(j->m);
    memset(j, 0, sizeof *j);
}

/* Loads the model and decodes the input file; prints the problem prefixed by cmd. Returns 0, 1
 * (model cannot be loaded) or 2 (bad input). */
static int job_open(job_t *j, const char *cmd, const char *model, const char *input)
{
    char err[1024];
    memset(j, 0, sizeof *j);
    if (eng_model_load(model, &j->m, err, sizeof err)) {
        fprintf(stderr, "inferd %s: %s\n", cmd, err);
        return 1;
    }
    size_t len;
    if (!(j->text = read_all(input, &len))) {
        fprintf(stderr, "inferd %s: %s: %s\n", cmd, input, strerror(errno));
    } else if (!(j->doc = json_parse(j->text, len, NULL, err, sizeof err))) {
        fprintf(stderr, "inferd %s: %s: invalid JSON: %s\n", cmd, input, err);
    } else if (tj_decode_inputs(json_root(j->doc), j->m, &j->in, err, sizeof err)) {
        fprintf(stderr, "inferd %s: %s\n", cmd, err);
    } else {
        return 0;
    }
    job_free(j);
    return 2;
}

int cmd_run(int argc, char **argv)
{
    const char *model = NULL, *input = NULL;
    int threads = 1;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            run_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--input") == 0 && i + 1 < argc) {
            input = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            char *end;
            long t = strtol(argv[++i], &end, 10);
            if (*end || t < 1 || t > 256) {
                fprintf(stderr, "inferd run: --threads must be 1..256\n");
                return 2;
            }
            threads = (int)t;
        } else if (argv[i][0] != '-' && !model) {
            model = argv[i];
        } else {
            fprintf(stderr, "inferd run: unexpected argument \"%s\"\n", argv[i]);
            run_usage(stderr);
            return 2;
        }
    }
    if (!model || !input) {
        run_usage(stderr);
        return 2;
    }
    job_t j;
    int rc = job_open(&j, "run", model, input);
    if (rc) return rc;
    char err[1024];
    buf_t out;
    buf_init(&out);
    eng_session_t *s = eng_session_new(j.m, threads);
    const tensor_t *outs;
    int nout;
    if (!s) {
        fprintf(stderr, "inferd run: out of memory\n");
        rc = 1;
    } else if ((rc = eng_session_run(s, j.in.t, j.in.n, &outs, &nout, err, sizeof err))) {
        fprintf(stderr, "inferd run: %s\n", err);
        rc = rc == ENG_EINPUT ? 2 : 1;
    } else if (tj_encode_outputs(&out, j.m, outs, nout) || buf_puts(&out, "\n")) {
        fprintf(stderr, "inferd run: out of memory\n");
        rc = 1;
    } else {
        fwrite(out.data, 1, out.len, stdout);
    }
    buf_deinit(&out);
    eng_session_free(s);
    job_free(&j);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int cmd_bench(int argc, char **argv)
{
    const char *model = NULL, *input = NULL;
    int threads = 1;
    double seconds = 2.0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf(
                "Usage: inferd bench MODEL.onnx --input FILE.json [--threads N] [--seconds S]\n\n"
                "Times repeated runs of the model on one input (after a warm-up) and prints\n"
                "{\"runs\", \"median_us\", \"p90_us\", \"mean_us\", \"min_us\"} as JSON.\n");
            return 0;
        } else if (strcmp(argv[i], "--input") == 0 && i + 1 < argc) {
            input = argv[++i];
        } else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = atof(argv[++i]);
        } else if (argv[i][0] != '-' && !model) {
            model = argv[i];
        } else {
            fprintf(stderr, "inferd bench: unexpected argument \"%s\"\n", argv[i]);
            return 2;
        }
    }
    if (!model || !input || threads < 1 || seconds <= 0 || seconds > 600) {
        fprintf(stderr, "Usage: inferd bench MODEL.onnx --input FILE.json [--threads N] "
                        "[--seconds S]\n");
        return 2;
    }
    job_t j;
    int rc = job_open(&j, "bench", model, input);
    if (rc) return rc;
    char err[1024];
    const tj_inputs_t in = j.in;
    eng_session_t *s = eng_session_new(j.m, threads);
    size_t cap = 1 << 20, n = 0;
    uint64_t *lat = malloc(cap * sizeof *lat);
    if (!s || !lat) {
        rc = 1;
        goto done;
    }
    const tensor_t *outs;
    int nout;
    uint64_t warm_until = clock_mono_ns() + (uint64_t)(seconds * 0.1e9);
    do { /* warm-up: plan, caches, BLAS buffers */
        if (eng_session_run(s, in.t, in.n, &outs, &nout, err, sizeof err)) {
            fprintf(stderr, "inferd bench: %s\n", err);
            rc = 2;
            goto done;
        }
    } while (clock_mono_ns() < warm_until);
    uint64_t until = clock_mono_ns() + (uint64_t)(seconds * 1e9), sum = 0;
    while (n < cap && (clock_mono_ns() < until || n < 5)) {
        uint64_t t0 = clock_mono_ns();
        eng_session_run(s, in.t, in.n, &outs, &nout, err, sizeof err);
        lat[n] = clock_mono_ns() - t0;
        sum += lat[n++];
    }
    qsort(lat, n, sizeof *lat, cmp_u64);
    printf("{\"runs\":%zu,\"median_us\":%.3f,\"p90_us\":%.3f,\"mean_us\":%.3f,\"min_us\":%.3f}\n",
           n, lat[n / 2] / 1e3, lat[n * 9 / 10] / 1e3, (double)sum / (double)n / 1e3, lat[0] / 1e3);
    rc = 0;
done:
    free(lat);
    eng_session_free(s);
    job_free(&j);
    return rc;
}
