/* Tiny test harness: CHECK macros count failures; TH_DONE() prints a summary and returns the
 * exit status. One binary per module, driven by ctest. */
#ifndef INFERD_TESTS_TH_H
#define INFERD_TESTS_TH_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int th_failed, th_passed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            th_passed++;                                                                           \
        } else {                                                                                   \
            th_failed++;                                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long th_a = (long long)(a), th_b = (long long)(b);                                    \
        if (th_a == th_b) {                                                                        \
            th_passed++;                                                                           \
        } else {                                                                                   \
            th_failed++;                                                                           \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, expected %s == %lld\n", __FILE__, \
                    __LINE__, #a, th_a, #b, th_b);                                                 \
        }                                                                                          \
    } while (0)

#define CHECK_STR(a, b)                                                                            \
    do {                                                                                           \
        const char *th_a = (a), *th_b = (b);                                                       \
        if (th_a && th_b && strcmp(th_a, th_b) == 0) {                                             \
            th_passed++;                                                                           \
        } else {                                                                                   \
            th_failed++;                                                                           \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s = \"%s\", expected \"%s\"\n", __FILE__,   \
                    __LINE__, #a, th_a ? th_a : "(null)", th_b ? th_b : "(null)");                 \
        }                                                                                          \
    } while (0)

/* Compares a (pointer, length) span with a string literal. */
#define CHECK_SPAN(sp, lit) CHECK((sp).n == strlen(lit) && memcmp((sp).p, (lit), (sp).n) == 0)

/* A rendering buffer: tests print what a parser saw into one canonical string and compare it. */
typedef struct th_text {
    char s[8192];
    size_t n;
} th_text_t;

/* Appends printf-style to t, cut at its capacity (a cut rendering fails its comparison). */
static inline __attribute__((format(printf, 2, 3))) void th_put(th_text_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->s + t->n, sizeof t->s - t->n, fmt, ap);
    va_end(ap);
    if (k > 0) t->n += (size_t)k < sizeof t->s - t->n ? (size_t)k : sizeof t->s - t->n - 1;
}

/* The whole file at path, NUL-terminated (its length in *n), or NULL if it cannot be read. */
static inline void *th_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *p = NULL;
    long len = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 && (p = malloc((size_t)len + 1)) &&
        fread(p, 1, (size_t)len, f) != (size_t)len) {
        free(p);
        p = NULL;
    }
    fclose(f);
    if (p) {
        p[len] = 0;
        *n = (size_t)len;
    }
    return p;
}

#define TH_DONE() (printf("%d passed, %d failed\n", th_passed, th_failed), th_failed ? 1 : 0)

#endif
