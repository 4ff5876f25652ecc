/* Protocol Buffers wire-format reader. */
#include "engine/pb.h"

#include <string.h>

static int varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (p >= end) return -1;
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *pp = p;
            *out = v;
            return 0;
        }
    }
    return -1; /* more than 10 bytes */
}

int pb_next(pb_t *r, pb_field_t *f)
{
    if (r->p >= r->end) return 0;
    uint64_t key;
    if (varint(&r->p, r->end, &key)) return -1;
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    f->ptr = NULL; /* only a PB_LEN field has a payload; never leave a stale one */
    f->len = 0;
    f->u = 0;
    if (f->num == 0 || key >> 32) return -1;
    switch (f->wire) {
    case PB_VARINT: return varint(&r->p, r->end, &f->u) ? -1 : 1;
    case PB_I64:
        if (r->end - r->p < 8) return -1;
        memcpy(&f->u, r->p, 8);
        r->p += 8;
        return 1;
    case PB_I32: {
        if (r->end - r->p < 4) return -1;
        uint32_t v;
        memcpy(&v, r->p, 4);
        f->u = v;
        r->p += 4;
        return 1;
    }
    case PB_LEN: {
        uint64_t len;
        if (varint(&r->p, r->end, &len)) return -1;
        if (len > (uint64_t)(r->end - r->p)) return -1;
        f->ptr = r->p;
        f->len = (size_t)len;
        r->p += len;
        return 1;
    }
    default: return -1; /* groups (3, 4) and reserved types */
    }
}

int64_t pb_count_packed(const pb_field_t *f, int elem)
{
    if (f->wire != PB_LEN) return f->wire == elem ? 1 : -1;
    if (elem == PB_I32) return f->len % 4 ? -1 : (int64_t)(f->len / 4);
    if (elem == PB_I64) return f->len % 8 ? -1 : (int64_t)(f->len / 8);
    int64_t n = 0;
    const uint8_t *p = f->ptr, *end = f->ptr + f->len;
    while (p < end) {
        uint64_t v;
        if (varint(&p, end, &v)) return -1;
        n++;
    }
    return n;
}

int64_t pb_read_varints(const pb_field_t *f, int64_t *out, int64_t cap)
{
    if (f->wire == PB_VARINT) {
        if (cap < 1) return -1;
        out[0] = (int64_t)f->u;
        return 1;
    }
    if (f->wire != PB_LEN) return -1;
    int64_t n = 0;
    const uint8_t *p = f->ptr, *end = f->ptr + f->len;
    while (p < end) {
        uint64_t v;
        if (varint(&p, end, &v) || n >= cap) return -1;
        out[n++] = (int64_t)v;
    }
    return n;
}

int64_t pb_read_fixed32(const pb_field_t *f, uint32_t *out, int64_t cap)
{
    if (f->wire == PB_I32) {
        if (cap < 1) return -1;
        out[0] = (uint32_t)f->u;
        return 1;
    }
    if (f->wire != PB_LEN || f->len % 4 || (int64_t)(f->len / 4) > cap) return -1;
    memcpy(out, f->ptr, f->len);
    return (int64_t)(f->len / 4);
}

int64_t pb_read_fixed64(const pb_field_t *f, uint64_t *out, int64_t cap)
{
    if (f->wire == PB_I64) {
        if (cap < 1) return -1;
        out[0] = f->u;
        return 1;
    }
    if (f->wire != PB_LEN || f->len % 8 || (int64_t)(f->len / 8) > cap) return -1;
    memcpy(out, f->ptr, f->len);
    return (int64_t)(f->len / 8);
}
