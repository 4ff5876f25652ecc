/* Journal encoding of a prediction record (see record.h):
 *   u8 format (1) | id, 36 bytes | i64 ts_us | f64 latency_ms |
 *   model, version, request_id, input, output: each u32 length (0xFFFFFFFF = null) and bytes.
 * Little-endian, as the journal's frames. */
#include "store/record.h"

#include <errno.h>
#include <string.h>

#include "store/uuid7.h"
#include "util/bytes.h"

#define FORMAT 1
#define NUL32  0xFFFFFFFFu

static size_t field_len(const char *p, size_t n)
{
    return p ? (n ? n : strlen(p)) : 0;
}

size_t record_size(const store_record_t *r)
{
    return 1 + UUID_STRLEN + 8 + 8 + 5 * 4 + field_len(r->model, 0) + field_len(r->version, 0) +
           field_len(r->request_id, 0) + field_len(r->input_json, r->input_len) +
           field_len(r->output_json, r->output_len);
}

static unsigned char *put_field(unsigned char *o, const char *p, size_t n)
{
    store_u32(o, p ? (uint32_t)n : NUL32);
    o += 4;
    if (p && n) memcpy(o, p, n);
    return o + (p ? n : 0);
}

size_t record_encode(const store_record_t *r, unsigned char *out)
{
    unsigned char *o = out;
    *o++ = FORMAT;
    memcpy(o, r->id, UUID_STRLEN);
    o += UUID_STRLEN;
    memcpy(o, &r->ts_us, 8);
    memcpy(o + 8, &r->latency_ms, 8);
    o += 16;
    o = put_field(o, r->model, field_len(r->model, 0));
    o = put_field(o, r->version, field_len(r->version, 0));
    o = put_field(o, r->request_id, field_len(r->request_id, 0));
    o = put_field(o, r->input_json, field_len(r->input_json, r->input_len));
    o = put_field(o, r->output_json, field_len(r->output_json, r->output_len));
    return (size_t)(o - out);
}

/* Reads one field, copied NUL-terminated into *scratch (sinks and renderers may read the
 * strings as C strings). */
static int get_field(const unsigned char **p, const unsigned char *end, const char **val,
                     size_t *len, char **scratch)
{
    if (end - *p < 4) return -EBADMSG;
    uint32_t n = load_u32(*p);
    *p += 4;
    if (n == NUL32) {
        *val = NULL, *len = 0;
        return 0;
    }
    if ((size_t)(end - *p) < n) return -EBADMSG;
    memcpy(*scratch, *p, n);
    (*scratch)[n] = 0;
    *val = *scratch;
    *scratch += n + 1;
    *len = n;
    *p += n;
    return 0;
}

int record_decode(const unsigned char *p, size_t n, store_record_t *r, char *scratch)
{
    const unsigned char *end = p + n;
    if (n < 1 + UUID_STRLEN + 16 || *p != FORMAT) return -EBADMSG;
    p++;
    memset(r, 0, sizeof *r);
    memcpy(r->id, p, UUID_STRLEN);
    r->id[UUID_STRLEN] = 0;
    p += UUID_STRLEN;
    memcpy(&r->ts_us, p, 8);
    memcpy(&r->latency_ms, p + 8, 8);
    p += 16;
    size_t len;
    int e = get_field(&p, end, &r->model, &len, &scratch);
    if (!e) e = get_field(&p, end, &r->version, &len, &scratch);
    if (!e) e = get_field(&p, end, &r->request_id, &len, &scratch);
    if (!e) e = get_field(&p, end, &r->input_json, &r->input_len, &scratch);
    if (!e) e = get_field(&p, end, &r->output_json, &r->output_len, &scratch);
    if (!e && (p != end || !r->model)) e = -EBADMSG;
    return e;
}
