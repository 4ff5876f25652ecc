/* Unaligned loads and stores of native-endian integers (memcpy, which compilers turn into one
 * instruction on x86-64 and aarch64, both little-endian: the journal's format relies on that). */
#ifndef INFERD_UTIL_BYTES_H
#define INFERD_UTIL_BYTES_H

#include <stdint.h>
#include <string.h>

static inline uint32_t load_u32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t load_u64(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline void store_u32(void *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static inline void store_u64(void *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

#endif
