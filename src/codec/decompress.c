/* Compressed request bodies: decompress.h. */
#include "codec/decompress.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>
#include <zstd.h>

#include "util/err.h"

const char *decompress_coding(const char *body, size_t len, const char *encoding, size_t enclen,
                              int *bad, char *err, size_t errlen)
{
    const unsigned char *b = (const unsigned char *)body;
    *bad = 0;
    if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b) return "gzip";
    if (len >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd) return "zstd";
    if (!encoding || !enclen) return NULL;
    if ((enclen == 4 && !strncasecmp(encoding, "gzip", 4)) ||
        (enclen == 6 && !strncasecmp(encoding, "x-gzip", 6)))
        return "gzip";
    if (enclen == 4 && !strncasecmp(encoding, "zstd", 4)) return "zstd";
    if (enclen == 8 && !strncasecmp(encoding, "identity", 8)) return NULL;
    *bad = -1;
    err_set(err, errlen, "Content-Encoding \"%.*s\" is not supported (gzip, zstd or identity)",
            (int)(enclen > 40 ? 40 : enclen), encoding);
    return NULL;
}

static int grow(buf_t *out, size_t max_out, size_t start, char *err, size_t errlen)
{
    size_t have = out->len - start;
    if (have >= max_out)
        return err_fail(err, errlen, ERR_TOO_LARGE, "decompressed body is larger than %zu bytes",
                        max_out);
    size_t want = have < 65536 ? 65536 : have;
    if (want > max_out - have) want = max_out - have + 1; /* one byte over tells "too large" */
    if (buf_reserve(out, want)) return err_fail(err, errlen, ERR_NOMEM, "out of memory");
    return 0;
}

static int gunzip(const char *body, size_t len, size_t max_out, buf_t *out, char *err,
                  size_t errlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return err_fail(err, errlen, ERR_NOMEM, "out of memory");
    size_t start = out->len;
    int rc = 0;
    z.next_in = (Bytef *)body;
    /* Members follow one another (gzip allows several): inflate each to its end. */
    for (size_t left = len;;) {
        uInt chunk = left > (1u << 30) ? (1u << 30) : (uInt)left;
        z.avail_in = chunk;
        if ((rc = grow(out, max_out, start, err, errlen))) break;
        z.next_out = (Bytef *)buf_tail(out);
        z.avail_out = (uInt)(buf_room(out) > (1u << 30) ? (1u << 30) : buf_room(out));
        uInt room = z.avail_out;
        int zr = inflate(&z, Z_NO_FLUSH);
        buf_commit(out, room - z.avail_out);
        left -= chunk - z.avail_in;
        if (out->len - start > max_out) {
            rc = err_fail(err, errlen, ERR_TOO_LARGE, "decompressed body is larger than %zu bytes",
                          max_out);
            break;
        }
        if (zr == Z_STREAM_END) {
            if (left == 0) break;
            if (inflateReset(&z) != Z_OK) {
                rc = err_fail(err, errlen, ERR_INVALID, "gzip: corrupt body");
                break;
            }
            continue;
        }
        if (zr == Z_BUF_ERROR && left == 0 && z.avail_out) {
            rc = err_fail(err, errlen, ERR_INVALID, "gzip: truncated body");
            break;
        }
        if (zr != Z_OK && zr != Z_BUF_ERROR) {
            rc = err_fail(err, errlen, zr == Z_MEM_ERROR ? ERR_NOMEM : ERR_INVALID, "gzip: %s",
                          z.msg ? z.msg : "corrupt body");
            break;
        }
    }
    inflateEnd(&z);
    if (rc) out->len = start;
    return rc;
}

static int unzstd(const char *body, size_t len, size_t max_out, buf_t *out, char *err,
                  size_t errlen)
{
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!d) return err_fail(err, errlen, ERR_NOMEM, "out of memory");
    ZSTD_inBuffer in = {body, len, 0};
    size_t start = out->len, zr = 1;
    int rc = 0;
    while (!rc) {
        if ((rc = grow(out, max_out, start, err, errlen))) break;
        ZSTD_outBuffer o = {buf_tail(out), buf_room(out), 0};
        zr = ZSTD_decompressStream(d, &o, &in);
        buf_commit(out, o.pos);
        if (ZSTD_isError(zr)) {
            rc = err_fail(err, errlen, ERR_INVALID, "zstd: %s", ZSTD_getErrorName(zr));
        } else if (out->len - start > max_out) {
            rc = err_fail(err, errlen, ERR_TOO_LARGE, "decompressed body is larger than %zu bytes",
                          max_out);
        } else if (in.pos == in.size && o.pos < o.size) {
            /* Everything read and room left over: done, or the frame was cut short. */
            if (zr != 0) rc = err_fail(err, errlen, ERR_INVALID, "zstd: truncated body");
            break;
        }
    }
    ZSTD_freeDCtx(d);
    if (rc) out->len = start;
    return rc;
}

int decompress_body(const char *coding, const char *body, size_t len, size_t max_out, buf_t *out,
                    char *err, size_t errlen)
{
    if (!strcmp(coding, "gzip")) return gunzip(body, len, max_out, out, err, errlen);
    if (!strcmp(coding, "zstd")) return unzstd(body, len, max_out, out, err, errlen);
    return err_fail(err, errlen, ERR_INVALID, "unknown coding %s", coding);
}
