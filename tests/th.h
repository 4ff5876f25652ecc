/* Tiny test harness: CHECK macros count failures; TH_DONE() prints a summary and returns the
 * exit status. One binary per module, driven by ctest. */
#ifndef INFERD_TESTS_TH_H
#define INFERD_TESTS_TH_H

#include <stdio.h>
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

#define TH_DONE() (printf("%d passed, %d failed\n", th_passed, th_failed), th_failed ? 1 : 0)

#endif
