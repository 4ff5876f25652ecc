/* Compressed request bodies: gzip (zlib) and zstd (libzstd), recognised by their magic bytes
 * (as Arc does) or named by Content-Encoding, inflated with a bound on the output so that a
 * small bomb cannot take the server's memory. */
#ifndef INFERD_CODEC_DECOMPRESS_H
#define INFERD_CODEC_DECOMPRESS_H

#include <stddef.h>

#include "util/buf.h"

/* Which coding body[0..len) has: "gzip" or "zstd" by its magic bytes, else the one encoding
 * names (a Content-Encoding value: gzip, x-gzip, zstd, identity; NULL or empty: none); NULL for a
 * plain body. -1 in *bad for an encoding we do not know (err says which). */
const char *decompress_coding(const char *body, size_t len, const char *encoding, size_t enclen,
                              int *bad, char *err, size_t errlen);

/* Inflates body (coding "gzip" or "zstd") into out (appended). 0, or -EMSGSIZE when the output
 * would pass max_out bytes, -EINVAL for corrupt or truncated input, -ENOMEM; err says which. */
int decompress_body(const char *coding, const char *body, size_t len, size_t max_out, buf_t *out,
                    char *err, size_t errlen);

#endif
