/* The machine's single-core FP32 multiply-add peak, as a ceiling for the engine's figures: 24
 * independent chains of vector FMAs (more than the pipes' latency times their width), so the
 * loop is bound by FMA throughput alone. Prints GFLOP/s (2 per lane per FMA) for AVX-512 when the
 * CPU has it, else AVX2+FMA. bench/embed.sh uses it to bound what batching can gain. */
#include <stdio.h>
#include <time.h>

#if defined(__x86_64__)
#include <immintrin.h>

#define CHAINS 24
#define ROUNDS 20000000L

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

__attribute__((target("avx512f"))) static double peak512(void)
{
    __m512 a[CHAINS];
    for (int i = 0; i < CHAINS; i++) a[i] = _mm512_set1_ps((float)i * 1e-3f);
    __m512 b = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    double t0 = now();
    for (long k = 0; k < ROUNDS / CHAINS * 4; k++)
#pragma GCC unroll 24 /* every chain in a register */
        for (int i = 0; i < CHAINS; i++) a[i] = _mm512_fmadd_ps(a[i], b, c);
    double s = now() - t0;
    float sink = 0;
    for (int i = 0; i < CHAINS; i++) sink += _mm512_reduce_add_ps(a[i]);
    if (sink == 12345.0f) puts(""); /* keeps the chains live */
    return (double)(ROUNDS / CHAINS * 4) * CHAINS * 32 / s / 1e9;
}

__attribute__((target("avx2,fma"))) static double peak256(void)
{
    __m256 a[CHAINS];
    for (int i = 0; i < CHAINS; i++) a[i] = _mm256_set1_ps((float)i * 1e-3f);
    __m256 b = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    double t0 = now();
    for (long k = 0; k < ROUNDS / CHAINS * 4; k++)
#pragma GCC unroll 24
        for (int i = 0; i < CHAINS; i++) a[i] = _mm256_fmadd_ps(a[i], b, c);
    double s = now() - t0;
    float sink = 0;
    float v[8];
    for (int i = 0; i < CHAINS; i++) {
        _mm256_storeu_ps(v, a[i]);
        for (int j = 0; j < 8; j++) sink += v[j];
    }
    if (sink == 12345.0f) puts("");
    return (double)(ROUNDS / CHAINS * 4) * CHAINS * 16 / s / 1e9;
}

int main(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        double best = 0;
        for (int r = 0; r < 3; r++) {
            double g = peak512();
            best = g > best ? g : best;
        }
        printf("fma_peak avx512 %.1f GFLOP/s\n", best);
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        double best = 0;
        for (int r = 0; r < 3; r++) {
            double g = peak256();
            best = g > best ? g : best;
        }
        printf("fma_peak avx2 %.1f GFLOP/s\n", best);
    } else {
        puts("fma_peak: no AVX2/FMA on this CPU");
        return 1;
    }
    return 0;
}
#else
int main(void)
{
    puts("fma_peak: x86-64 only");
    return 1;
}
#endif
