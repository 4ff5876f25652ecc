/* libFuzzer target for the ingest path behind the endpoints: the first byte picks line
 * protocol, Arc's MessagePack or a compressed body (gzip or zstd, inflated with a bound); the
 * rest is decoded into per-measurement column buffers (ingest/decode.c, ingest/colbuf.c), which
 * are then merged into one buffer and encoded as a Parquet file. Any bytes: a clean refusal with
 * a message, or buffers whose rows and columns agree and a file that encodes. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/decompress.h"
#include "codec/parquet.h"
#include "ingest/ingest_impl.h"

#include "require.h"

static void encode(colbuf_t *b)
{
    pq_column_t *cols = malloc((size_t)(b->ncols + 1) * sizeof *cols);
    REQUIRE(cols);
    int n = colbuf_pq_columns(b, cols);
    REQUIRE(n == b->ncols + 1);
    for (int i = 0; i < b->ncols; i++) REQUIRE(b->cols[i].filled == b->rows);
    buf_t out;
    buf_init(&out);
    char err[256];
    REQUIRE(parquet_encode(&out, cols, n, b->rows, NULL, err, sizeof err) == 0);
    REQUIRE(out.len >= 12 && memcmp(out.data, "PAR1", 4) == 0);
    buf_deinit(&out);
    free(cols);
}

static void decode(ingest_format_t f, const char *p, size_t n)
{
    char err[512] = "";
    int code = 0;
    ingest_req_t *r = ingest_decode("db", f, 1000, 42, p, n, &code, err, sizeof err);
    if (!r) {
        REQUIRE(code < 0 && err[0]);
        return;
    }
    colbuf_t all;
    colbuf_init(&all);
    int64_t rows = 0;
    for (int i = 0; i < r->nms; i++) {
        colbuf_t *b = &r->ms[i].cb;
        REQUIRE(b->rows > 0 && b->tmin <= b->tmax);
        rows += b->rows;
        if (colbuf_check_merge(&all, b, err, sizeof err) == 0) REQUIRE(colbuf_merge(&all, b) == 0);
        encode(b);
    }
    REQUIRE(rows == ingest_req_rows(r));
    if (all.rows) encode(&all);
    colbuf_free(&all);
    ingest_req_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0: decode(INGEST_LINEPROTO, p, n); break;
    case 1: decode(INGEST_MSGPACK, p, n); break;
    default: {
        buf_t out;
        buf_init(&out);
        char err[256];
        int rc = decompress_body(data[0] % 4 == 2 ? "gzip" : "zstd", p, n, 1 << 20, &out, err,
                                 sizeof err);
        REQUIRE(rc == 0 || rc == -EINVAL || rc == -EMSGSIZE);
        REQUIRE(out.len <= (1 << 20));
        if (!rc) decode(INGEST_LINEPROTO, out.data ? out.data : "", out.len);
        buf_deinit(&out);
    }
    }
    return 0;
}
