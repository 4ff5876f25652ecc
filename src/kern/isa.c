/* CPU feature detection for the kernels' dispatch (see isa.h). */
#include "kern/isa.h"

int kern_isa = KERN_ISA_BASE;

kern_isa_t kern_isa_best(void)
{
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return KERN_ISA_AVX512;
    if (__builtin_cpu_supports("avx2")) return KERN_ISA_AVX2;
    return KERN_ISA_BASE;
}

/* Chosen before main() so no caller ever sees the baseline on a better CPU. */
__attribute__((constructor)) static void isa_init(void)
{
    kern_isa = kern_isa_best();
}

int kern_isa_force(kern_isa_t isa)
{
    if (isa > kern_isa_best() || isa < KERN_ISA_BASE) return -1;
    kern_isa = isa;
    return 0;
}

const char *kern_isa_name(kern_isa_t isa)
{
    return isa == KERN_ISA_AVX512 ? "avx512" : isa == KERN_ISA_AVX2 ? "avx2" : "base";
}
