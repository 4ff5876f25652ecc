/* Pooling and normalisation; the definitions are sentence-transformers' (Pooling and Normalize
 * modules), whose exports these models come from. */
#include "serve/pooling.h"

#include <math.h>
#include <string.h>
#include <strings.h>

int pool_mode_parse(const char *s)
{
    if (!strcasecmp(s, "mean")) return POOL_MEAN;
    if (!strcasecmp(s, "cls")) return POOL_CLS;
    if (!strcasecmp(s, "max")) return POOL_MAX;
    if (!strcasecmp(s, "last") || !strcasecmp(s, "lasttoken") || !strcasecmp(s, "last_token"))
        return POOL_LAST;
    return -1;
}

const char *pool_mode_name(pool_mode_t m)
{
    static const char *names[] = {"mean", "cls", "max", "last"};
    return m <= POOL_LAST ? names[m] : "?";
}

void pool_tokens(pool_mode_t m, const float *h, int64_t len, int64_t dim, float *out)
{
    if (len <= 0) {
        memset(out, 0, (size_t)dim * sizeof *out);
        return;
    }
    switch (m) {
    case POOL_CLS: memcpy(out, h, (size_t)dim * sizeof *out); return;
    case POOL_LAST: memcpy(out, h + (len - 1) * dim, (size_t)dim * sizeof *out); return;
    case POOL_MAX:
        memcpy(out, h, (size_t)dim * sizeof *out);
        for (int64_t t = 1; t < len; t++)
            for (int64_t d = 0; d < dim; d++)
                if (h[t * dim + d] > out[d]) out[d] = h[t * dim + d];
        return;
    case POOL_MEAN:
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
