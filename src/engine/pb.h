/* Protocol Buffers wire-format reader: just enough to walk ONNX files without generated code.
 * Every read is bounds-checked; a malformed or truncated message is an error, never a crash. */
#ifndef INFERD_ENGINE_PB_H
#define INFERD_ENGINE_PB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pb {
    const uint8_t *p, *end;
} pb_t;

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };

/* One field as read by pb_next: its number, wire type and payload. */
typedef struct pb_field {
    uint32_t num;
    int wire;
    uint64_t u;         /* PB_VARINT, PB_I64, PB_I32 payload */
    const uint8_t *ptr; /* PB_LEN payload */
    size_t len;
} pb_field_t;

static inline pb_t pb_init(const void *p, size_t len)
{
    if (!p) return (pb_t){NULL, NULL};
    return (pb_t){(const uint8_t *)p, (const uint8_t *)p + len};
}
/* Reads the next field. Returns 1 when a field was read, 0 at the end of the message, -1 when the
 * bytes are malformed (bad varint, unknown or group wire type, length past the end). */
int pb_next(pb_t *r, pb_field_t *f);
/* A PB_LEN field's payload as a nested reader. */
static inline pb_t pb_sub(const pb_field_t *f)
{
    if (f->wire != PB_LEN) return pb_init(NULL, 0); /* not a message: read as empty */
    return pb_init(f->ptr, f->len);
}

/* Counts the elements of a repeated scalar field value: packed (PB_LEN) or one element. elem is
 * the element's wire type (PB_VARINT, PB_I32, PB_I64). -1 if the packed payload is malformed. */
int64_t pb_count_packed(const pb_field_t *f, int elem);
/* Decodes elements of a repeated scalar field into out (at most cap); returns the count or -1.
 * For PB_VARINT the values are written as int64 (zig-zag is not used by ONNX). */
int64_t pb_read_varints(const pb_field_t *f, int64_t *out, int64_t cap);
int64_t pb_read_fixed32(const pb_field_t *f, uint32_t *out, int64_t cap);
int64_t pb_read_fixed64(const pb_field_t *f, uint64_t *out, int64_t cap);

#endif
