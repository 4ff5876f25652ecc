/* Pooling and normalisation; the definitions are sentence-transformers' (Pooling and Normalize
 * modules), whose exports these models come from. */
#include "serve/pooling.h"

#include <math.h>
#include <string.h>

void pool_tokens(embed_pool_t m, const float *h, int64_t len, int64_t dim, float *out)
{
    if (len <= 0) {
        memset(out, 0, (size_t)dim * sizeof *out);
        return;
    }
    switch (m) {
    case EMBED_POOL_CLS: memcpy(out, h, (size_t)dim * sizeof *out); return;
    case EMBED_POOL_LAST: memcpy(out, h + (len - 1) * dim, (size_t)dim * sizeof *out); return;
    case EMBED_POOL_MAX:
        memcpy(out, h, (size_t)dim * sizeof *out);
        for (int64_t t = 1; t < len; t++)
            for (int64_t d = 0; d < dim; d++)
                if (h[t * dim + d] > out[d]) out[d] = h[t * dim + d];
        return;
    case EMBED_POOL_MEAN:
    default:
        for (int64_t d = 0; d < dim; d++) {
            double s = 0;
            for (int64_t t = 0; t < len; t++) s += h[t * dim + d];
            out[d] = (float)(s / (double)len);
        }
        return;
    }
}

int64_t pool_finish(float *v, int64_t dim, int64_t dims, bool normalize)
{
    int64_t n = dims > 0 && dims < dim ? dims : dim;
    if (!normalize) return n;
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)v[i] * v[i];
    /* torch.nn.functional.normalize divides by max(norm, 1e-12). */
    double norm = sqrt(ss);
    if (norm < 1e-12) norm = 1e-12;
    for (int64_t i = 0; i < n; i++) v[i] = (float)(v[i] / norm);
    return n;
}
