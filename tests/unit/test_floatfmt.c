/* floatfmt_shortest against glibc: every text must be byte-identical to the snprintf/strtof/strtod
 * search (floatfmt_shortest_libc), over the values where integer arithmetic is most likely to go
 * wrong (binade edges, powers of ten, exact ties, the ends of the fast path's range) and over
 * random bit patterns. INFERD_FLOATFMT_EXHAUSTIVE=1 checks all 2^32 bit patterns instead (about
 * an hour on one core), or =LO:HI a range of them in hex. */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "th.h"
#include "util/floatfmt.h"

static int shown;
static uint64_t checked;

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t to_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Compares both writers on v (skipping NaN and infinities, which they do not take). */
static void same(float v)
{
    if (!isfinite(v)) return;
    char a[FLOATFMT_MAX + 1], b[FLOATFMT_MAX + 1];
    memset(a, 'x', sizeof a);
    int na = floatfmt_shortest(a, v), nb = floatfmt_shortest_libc(b, v);
    checked++;
    if (na == nb && strcmp(a, b) == 0 && (size_t)na == strlen(a)) {
        th_passed++;
        return;
    }
    th_failed++;
    if (shown++ < 20)
        fprintf(stderr, "floatfmt: bits 0x%08" PRIx32 ": got \"%s\" (%d), libc \"%s\" (%d)\n",
                to_bits(v), a, na, b, nb);
}

/* v and its neighbours up to d ulps either side, both signs. */
static void around(float v, int d)
{
    uint32_t u = to_bits(fabsf(v));
    for (int i = -d; i <= d; i++) {
        uint32_t w = u + (uint32_t)i;
        if (i < 0 && (uint32_t)-i > u) continue;
        same(from_bits(w));
        same(-from_bits(w));
    }
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_known(void)
{
    static const struct {
        float v;
        const char *s;
    } cases[] = {
        {0.0f, "0"},
        {-0.0f, "-0"},
        {0.1f, "0.1"},
        {1.0f, "1"},
        {-2.5f, "-2.5"},
        {1.0f / 3, "0.33333334"},
        {16777216.0f, "16777216"},
        {1234567.5f, "1234567.5"}, /* %.6g and %.7g both meet a tie here */
        {100000.0f, "100000"},
        {1000000.0f, "1e+06"},
        {0.0001f, "0.0001"},
        {0.00001f, "1e-05"},
        {3.4028235e38f, "3.4028235e+38"},
        {1.17549435e-38f, "1.1754944e-38"},
        {1e-45f, "1e-45"},
        {12.07f, "12.07"},
        {0.9999999f, "0.9999999"},
        {9999999.0f, "9999999"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char s[FLOATFMT_MAX + 1];
        int n = floatfmt_shortest(s, cases[i].v);
        CHECK_STR(s, cases[i].s);
        CHECK_EQ(n, strlen(cases[i].s));
    }
}

static void test_edges(void)
{
    /* Every binade's first and last values, and both sides of each power of two. */
    for (uint32_t ex = 0; ex < 255; ex++) {
        around(from_bits(ex << 23), 3);
        around(from_bits(ex << 23 | 0x7fffff), 3);
        around(from_bits(ex << 23 | 0x400000), 1);
    }
    /* Floats nearest the powers of ten, where the digit count changes. */
    for (int k = -45; k <= 38; k++) {
        around((float)pow(10, k), 4);
        char t[16];
        snprintf(t, sizeof t, "1e%d", k);
        around(strtof(t, NULL), 4);
        snprintf(t, sizeof t, "9.9999995e%d", k);
        around(strtof(t, NULL), 4);
    }
    /* Exact halves between 6- and 7-digit decimals: glibc rounds those ties to even. */
    for (uint32_t i = 0; i < 20000; i++) {
        same((float)(100000 + i * 37) + 0.5f);
        same((float)(1000000 + i * 41) + 0.5f);
        same((float)(1000000 + i * 13) * 10.0f + 5.0f);
    }
    /* Where the fast path hands over to libc (|v| about 1e-24) and the extremes. */
    around(1e-24f, 64);
    around(1e-23f, 64);
    around(1e-25f, 64);
    around(FLT_MAX, 8);
    around(FLT_MIN, 8);
    around(FLT_TRUE_MIN, 8);
}

static void test_random(long n)
{
    for (long i = 0; i < n; i++) {
        uint64_t r = next_rand();
        same(from_bits((uint32_t)r));
        /* Values an ML service prints: features, probabilities, logits. */
        same((float)((double)(r >> 40) / (1 << 24)));
        same((float)ldexp((double)(r >> 40), (int)((r >> 8) & 63) - 60));
    }
}

/* INFERD_FLOATFMT_EXHAUSTIVE: "1" for every pattern, or "LO:HI" (hex, inclusive). */
static void test_exhaustive(const char *spec)
{
    uint64_t lo = 0, hi = 0xffffffffu;
    if (strcmp(spec, "1") != 0 && sscanf(spec, "%" SCNx64 ":%" SCNx64, &lo, &hi) != 2) {
        fprintf(stderr, "INFERD_FLOATFMT_EXHAUSTIVE: want 1 or LO:HI in hex\n");
        th_failed++;
        return;
    }
    time_t t0 = time(NULL), last = t0;
    for (uint64_t u = lo; u <= hi; u++) {
        float v = from_bits((uint32_t)u);
        if (!isfinite(v)) continue;
        char a[FLOATFMT_MAX + 1], b[FLOATFMT_MAX + 1];
        floatfmt_shortest(a, v);
        floatfmt_shortest_libc(b, v);
        checked++;
        if (strcmp(a, b) != 0) {
            th_failed++;
            if (shown++ < 20)
                fprintf(stderr, "floatfmt: bits 0x%08" PRIx64 ": got \"%s\", libc \"%s\"\n", u, a,
                        b);
        }
        if ((u & 0xfffff) == 0 && time(NULL) - last >= 10) { /* progress, every 10 s */
            last = time(NULL);
            fprintf(stderr, "floatfmt: at 0x%08" PRIx64 " (%.1f%%), %ld s\n", u,
                    100.0 * (double)(u - lo) / (double)(hi - lo + 1), (long)(last - t0));
        }
    }
    if (!th_failed) th_passed++;
}

/* Not asserted (machines differ): the speed-up that motivated the fast path. */
static void bench(void)
{
    float vs[4096];
    for (int i = 0; i < 4096; i++) vs[i] = (float)((double)(next_rand() >> 40) / (1 << 20));
    char s[FLOATFMT_MAX + 1];
    size_t sink = 0;
    for (int w = 0; w < 2; w++) {
        int (*fn)(char *, float) = w ? floatfmt_shortest_libc : floatfmt_shortest;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int rep = 0; rep < 50; rep++)
            for (int i = 0; i < 4096; i++) sink += (size_t)fn(s, vs[i]);
        clock_gettime(CLOCK_MONOTONIC, &b);
        double ns =
            ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / (50.0 * 4096);
        printf("floatfmt: %s %.0f ns per float\n", w ? "libc      " : "shortest  ", ns);
    }
    if (sink == 0) printf("(unreachable)\n");
}

int main(void)
{
    const char *ex = getenv("INFERD_FLOATFMT_EXHAUSTIVE");
    if (ex && *ex) {
        test_exhaustive(ex);
    } else {
        test_known();
        test_edges();
        test_random(300000);
        bench();
    }
    printf("floatfmt: %" PRIu64 " values compared\n", checked);
    return TH_DONE();
}
