/* Tokenizer micro-benchmark: seed 004's short / medium / long texts (about 5, 20 and 50 tokens)
 * through the all-MiniLM-L6-v2 tokenizer ([CLS]/[SEP] added, max length 256), one reused
 * encoding buffer, no cache. Prints µs per text and ns per token: the median of 7 rounds, and the
 * best round (steadier on a busy machine). Usage: bench_tokenizer [TOKENIZER_DIR_OR_FILE]
 * [ITERATIONS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "text/tokenizer.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* This thread's CPU time: on a shared machine it leaves out the time other jobs held the core. */
static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : MINILM_DIR;
    long iters = argc > 2 ? atol(argv[2]) : 200000;
    static const struct {
        const char *name, *text;
    } cases[] = {
        {"short", "how to reset password"},
        {"medium", "How do I reset my password if I no longer have access to the email address "
                   "on my account?"},
        {"long", "After the latest update, the mobile app keeps logging me out every few "
                 "minutes, and when I try to reset my password the confirmation email never "
                 "arrives; I've checked spam, tried two browsers, and cleared the cache twice. "
                 "What else can I do?"},
        {"accented", "Café déjà vu: naïve façade, Ærøskøbing coöperate — “smart quotes” and "
                     "日本語のテキスト."},
    };
    char err[256];
    double t0 = now_ns();
    text_tok_t *t = text_tok_load(path, err, sizeof err);
    if (!t) {
        fprintf(stderr, "bench_tokenizer: %s\n", err);
        return 1;
    }
    printf("load %s: %.1f ms\n", path, (now_ns() - t0) / 1e6);
    printf("%-9s %7s %7s %10s %10s %12s %14s\n", "text", "bytes", "tokens", "us/text", "ns/token",
           "best ns/tok", "cpu ns/token");
    text_enc_t e;
    text_enc_init(&e);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *s = cases[c].text;
        size_t n = strlen(s);
        if (text_tok_encode(t, s, n, 256, true, &e, err, sizeof err)) {
            fprintf(stderr, "bench_tokenizer: %s\n", err);
            return 1;
        }
        size_t ntok = e.n;
        double r[7], u[7];
        for (int k = 0; k < 7; k++) {
            double a = now_ns(), b = cpu_ns();
            for (long i = 0; i < iters / 7; i++)
                text_tok_encode(t, s, n, 256, true, &e, err, sizeof err);
            r[k] = (now_ns() - a) / (double)(iters / 7);
            u[k] = (cpu_ns() - b) / (double)(iters / 7);
        }
        qsort(r, 7, sizeof r[0], cmp);
        qsort(u, 7, sizeof u[0], cmp);
        printf("%-9s %7zu %7zu %10.3f %10.1f %12.1f %14.1f\n", cases[c].name, n, ntok, r[3] / 1e3,
               r[3] / (double)ntok, r[0] / (double)ntok, u[3] / (double)ntok);
    }
    text_enc_free(&e);
    text_tok_free(t);
    return 0;
}
