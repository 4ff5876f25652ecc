/* UTF-8 validation: one definition of a well-formed sequence for every reader of text. */
#include "util/utf8.h"

size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t avail = (size_t)(end - p);
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return avail >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned lo = c == 0xe0 ? 0xa0 : 0x80,
                 hi = c == 0xed ? 0x9f : 0xbf; /* overlong, surrogate */
        return avail >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned lo = c == 0xf0 ? 0x90 : 0x80,
                 hi = c == 0xf4 ? 0x8f : 0xbf; /* overlong, > 10FFFF */
        return avail >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xc0) == 0x80 &&
                       (p[3] & 0xc0) == 0x80
                   ? 4
                   : 0;
    }
    return 0;
}

size_t utf8_decode(const unsigned char *p, const unsigned char *end, uint32_t *cp)
{
    size_t n = utf8_seq(p, end);
    static const unsigned char lead_bits[5] = {0, 0x7f, 0x1f, 0x0f, 0x07};
    if (!n) return 0;
    uint32_t v = p[0] & lead_bits[n];
    for (size_t k = 1; k < n; k++) v = v << 6 | (p[k] & 0x3f);
    *cp = v;
    return n;
}

bool utf8_valid_text(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    size_t m;
    while (p < end && *p && (m = utf8_seq(p, end)) != 0) p += m;
    return p == end;
}
