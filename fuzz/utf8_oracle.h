/* The fuzz targets' own UTF-8 check (RFC 3629), by decoding rather than by the byte ranges
 * src/util/utf8.c uses, so a target never checks the code under test against itself. */
#ifndef INFERD_FUZZ_UTF8_ORACLE_H
#define INFERD_FUZZ_UTF8_ORACLE_H

#include <stddef.h>
#include <stdint.h>

/* Offset of the first invalid UTF-8 sequence in s[0..n), or SIZE_MAX when all is valid. */
static inline size_t oracle_first_bad_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            len = 2, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            len = 3, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            len = 4, cp = c & 0x07;
        else
            return i;
        if (n - i < len) return i;
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
        i += len;
    }
    return SIZE_MAX;
}

#endif
