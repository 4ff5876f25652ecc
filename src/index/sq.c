/* SQ8: one byte per dimension (quant.h). */
#include <float.h>

#include "index/quant.h"

void sq8_train(const float *x, int64_t n, int dim, float *vmin, float *vdiff)
{
    for (int d = 0; d < dim; d++) vmin[d] = FLT_MAX, vdiff[d] = -FLT_MAX;
    for (int64_t i = 0; i < n; i++)
        for (int d = 0; d < dim; d++) {
            float v = x[i * dim + d];
            if (v < vmin[d]) vmin[d] = v;
            if (v > vdiff[d]) vdiff[d] = v; /* the max, for now */
        }
    for (int d = 0; d < dim; d++) {
        if (n == 0) vmin[d] = 0, vdiff[d] = 0;
        float span = vdiff[d] - vmin[d];
        vdiff[d] = span > 0 ? span : 1;
    }
}

void sq8_encode(const float *vmin, const float *vdiff, int dim, const float *x, uint8_t *code)
{
    for (int d = 0; d < dim; d++) {
        float t = (x[d] - vmin[d]) / vdiff[d] * 255.0f + 0.5f;
        code[d] = t <= 0 ? 0 : t >= 255 ? 255 : (uint8_t)t;
    }
}

void sq8_decode(const float *vmin, const float *vdiff, int dim, const uint8_t *code, float *x)
{
    for (int d = 0; d < dim; d++) x[d] = vmin[d] + (float)code[d] * (vdiff[d] / 255.0f);
}

float sq8_l2(const float *vmin, const float *vdiff, int dim, const float *q, const uint8_t *code)
{
    float s = 0;
    for (int d = 0; d < dim; d++) {
        float e = q[d] - (vmin[d] + (float)code[d] * (vdiff[d] / 255.0f));
        s += e * e;
    }
    return s;
}

float sq8_dot(const float *vmin, const float *vdiff, int dim, const float *q, const uint8_t *code)
{
    float s = 0;
    for (int d = 0; d < dim; d++) s += q[d] * (vmin[d] + (float)code[d] * (vdiff[d] / 255.0f));
    return s;
}
