/* Run-time choice of the instruction set the numeric kernels use. Every kernel is one C body
 * compiled three times (AVX-512, AVX2, baseline x86-64) and called through a switch on
 * kern_isa, which is set once at start-up from the CPU's features. The build's
 * -ffp-contract=off keeps the three variants rounding alike (no implicit FMA), so they give
 * the same bits; tests force each level in turn and compare it with a plain scalar oracle. */
#ifndef INFERD_KERN_ISA_H
#define INFERD_KERN_ISA_H

typedef enum { KERN_ISA_BASE = 0, KERN_ISA_AVX2 = 1, KERN_ISA_AVX512 = 2 } kern_isa_t;

/* The level in use (read by the dispatch switches; written only by kern_isa_force). */
extern int kern_isa;

/* The best level this CPU supports. */
kern_isa_t kern_isa_best(void);
/* Makes the kernels use level isa (tests and benchmarks). 0, or -1 if the CPU lacks it. */
int kern_isa_force(kern_isa_t isa);
/* "avx512", "avx2" or "base". */
const char *kern_isa_name(kern_isa_t isa);

#define KERN_INLINE static inline __attribute__((always_inline))

/* Defines `ret name params` calling name##_body args compiled for each level. */
#define KERN_MULTI(ret, name, params, args)                                                        \
    __attribute__((target("avx512f"))) static ret name##_avx512 params                             \
    {                                                                                              \
        return name##_body args;                                                                   \
    }                                                                                              \
    __attribute__((target("avx2,fma"))) static ret name##_avx2 params                              \
    {                                                                                              \
        return name##_body args;                                                                   \
    }                                                                                              \
    static ret name##_base params                                                                  \
    {                                                                                              \
        return name##_body args;                                                                   \
    }                                                                                              \
    ret name params                                                                                \
    {                                                                                              \
        switch (kern_isa) {                                                                        \
        case KERN_ISA_AVX512: return name##_avx512 args;                                           \
        case KERN_ISA_AVX2: return name##_avx2 args;                                               \
        default: return name##_base args;                                                          \
        }                                                                                          \
    }

/* The same for a body that returns nothing. */
#define KERN_MULTI_VOID(name, params, args)                                                        \
    __attribute__((target("avx512f"))) static void name##_avx512 params                            \
    {                                                                                              \
        name##_body args;                                                                          \
    }                                                                                              \
    __attribute__((target("avx2,fma"))) static void name##_avx2 params                             \
    {                                                                                              \
        name##_body args;                                                                          \
    }                                                                                              \
    static void name##_base params                                                                 \
    {                                                                                              \
        name##_body args;                                                                          \
    }                                                                                              \
    void name params                                                                               \
    {                                                                                              \
        switch (kern_isa) {                                                                        \
        case KERN_ISA_AVX512: name##_avx512 args; break;                                           \
        case KERN_ISA_AVX2: name##_avx2 args; break;                                               \
        default: name##_base args; break;                                                          \
        }                                                                                          \
    }

#endif
