/* Wire forms of one embedding vector: a JSON array of shortest round-trip numbers, or the base64
 * of its little-endian float32 bytes in a JSON string (OpenAI's encoding_format "base64"). */
#ifndef INFERD_CODEC_VECTOR_H
#define INFERD_CODEC_VECTOR_H

#include <stdint.h>

#include "util/buf.h"

/* Appends "[v0,v1,...]". 0 or -ENOMEM. */
int codec_vec_json(const float *v, int64_t n, buf_t *out);
/* Appends the n float32 values' own bytes (native order): for callers inside the process that
 * want the vector back, not text. 0 or -ENOMEM. */
int codec_vec_raw(const float *v, int64_t n, buf_t *out);
/* Appends "\"<base64 of the float32 LE bytes>\"". 0 or -ENOMEM. */
int codec_vec_base64(const float *v, int64_t n, buf_t *out);

#endif
