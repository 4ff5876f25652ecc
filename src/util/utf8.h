/* UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF), shared by the
 * JSON reader, the PostgreSQL sink and the tokenizer. */
#ifndef INFERD_UTIL_UTF8_H
#define INFERD_UTIL_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length (1-4) of the well-formed UTF-8 sequence that starts at p (p < end), or 0 if the bytes
 * there are not one. A NUL byte is a sequence of length 1. */
size_t utf8_seq(const unsigned char *p, const unsigned char *end);
/* utf8_seq, and the code point of that sequence in *cp when it is well-formed. */
size_t utf8_decode(const unsigned char *p, const unsigned char *end, uint32_t *cp);
/* True if the n bytes at s are well-formed UTF-8 without NUL bytes (what PostgreSQL's text
 * accepts). */
bool utf8_valid_text(const char *s, size_t n);

#endif
