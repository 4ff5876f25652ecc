/* REQUIRE(cond): the fuzz targets' invariant check. It aborts with the failed condition, which
 * libFuzzer reports as a crash; unlike assert() it survives -DNDEBUG. */
#ifndef INFERD_FUZZ_REQUIRE_H
#define INFERD_FUZZ_REQUIRE_H

#include <stdio.h>
#include <stdlib.h>

#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
