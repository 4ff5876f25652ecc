/* Vector encoders. base64 is OpenSSL's (EVP_EncodeBlock: standard alphabet, padded, no line
 * breaks), which is what OpenAI's clients decode. */
#include "codec/vector.h"

#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

#include "util/json.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
               "base64 vectors are little-endian float32");

int codec_vec_json(const float *v, int64_t n, buf_t *out)
{
    /* A float's shortest text is at most 15 bytes ("-1.17549435e-38"), plus the comma. */
    if (buf_reserve(out, (size_t)n * 16 + 2)) return -ENOMEM;
    out->data[out->len++] = '[';
    for (int64_t i = 0; i < n; i++) {
        if (i) out->data[out->len++] = ',';
        if (json_write_float(out, v[i])) return -ENOMEM;
    }
    return buf_append(out, "]", 1);
}

int codec_vec_raw(const float *v, int64_t n, buf_t *out)
{
    return buf_append(out, v, (size_t)n * sizeof *v);
}

int codec_vec_base64(const float *v, int64_t n, buf_t *out)
{
    size_t raw = (size_t)n * sizeof(float);
    if (buf_reserve(out, (raw + 2) / 3 * 4 + 3)) return -ENOMEM;
    out->data[out->len++] = '"';
    /* The bytes as stored in memory: little-endian on every target we build for. */
    int w = EVP_EncodeBlock((unsigned char *)buf_tail(out), (const unsigned char *)v, (int)raw);
    out->len += (size_t)w;
    out->data[out->len++] = '"';
    return 0;
}
