/* libFuzzer target for the .fvecs and .npy parsers (src/codec/vecs.c): the first byte picks the
 * parser; any bytes either fail with a message or give rows whose count and dimension the bytes
 * can hold. */
#include <stdint.h>
#include <stdlib.h>

#include "codec/vecs.h"

#include "require.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int npy = data[0] & 1;
    data++, size--;
    vecs_t v;
    char err[256];
    err[0] = 0;
    int rc = npy ? vecs_parse_npy(data, size, &v, err, sizeof err)
                 : vecs_parse_fvecs(data, size, &v, err, sizeof err);
    if (rc == 0) {
        REQUIRE(v.n >= 0 && v.dim >= 0 && v.dim <= VECS_MAX_DIM);
        REQUIRE((uint64_t)v.n * (uint64_t)v.dim * 4 <= (uint64_t)size * 2);
        if (v.n) REQUIRE(v.data != NULL);
        vecs_free(&v);
    } else {
        REQUIRE(err[0] != 0);
    }
    return 0;
}
