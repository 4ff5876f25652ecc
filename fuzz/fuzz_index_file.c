/* libFuzzer target for index files (src/index/format.c and each kind's load): any bytes either
 * fail to load with a message or give an index that can be searched. The bytes are copied to
 * 64-byte-aligned memory, as a mapping would be. When the first byte is odd, the checksums are
 * recomputed first, so that mutations get past them to the structure behind (the sizes, the
 * sections, each kind's own checks). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "index/format.h"
#include "index/index.h"
#include "util/bytes.h"
#include "util/crc32c.h"

#include "require.h"

/* Makes every checksum the file carries match its bytes, as far as its structure can be read. */
static void fix_checksums(unsigned char *b, size_t n)
{
    if (n < 64) return;
    uint32_t ns = load_u32(b + 32);
    for (uint32_t i = 0; i < ns && i < IXF_MAX_SECTIONS && 64 + (i + 1) * 32 <= n; i++) {
        unsigned char *e = b + 64 + i * 32;
        uint64_t off = load_u64(e + 8), len = load_u64(e + 16);
        if (off <= n && len <= n - off) store_u32(e + 24, crc32c(0, b + off, (size_t)len));
        store_u32(e + 28, crc32c(0, e, 28));
    }
    store_u64(b + 40, n);
    store_u32(b + 60, crc32c(0, b, 60));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    int fix = data[0] & 1;
    data++, size--;
    void *p = aligned_alloc(64, (size + 63) / 64 * 64 + 64);
    REQUIRE(p != NULL);
    memcpy(p, data, size);
    if (fix) fix_checksums(p, size);
    ixf_t f;
    char err[512];
    if (ixf_parse(p, size, &f, err, sizeof err) == 0) {
        idx_t *x = idx_from_file(&f, err, sizeof err);
        if (x) {
            idx_info_t info;
            idx_get_info(x, &info);
            REQUIRE(info.dim >= 1 && info.dim <= IDX_MAX_DIM && info.count >= 0);
            float *q = calloc((size_t)info.dim, sizeof *q);
            int64_t ids[4];
            float d[4];
            REQUIRE(q != NULL);
            int r = idx_search(x, q, 4, NULL, ids, d);
            REQUIRE(r >= 0 && r <= 4 && (int64_t)r <= info.count);
            free(q);
            idx_free(x);
        } else {
            REQUIRE(err[0] != 0);
        }
    } else {
        REQUIRE(err[0] != 0);
    }
    free(p);
    return 0;
}
