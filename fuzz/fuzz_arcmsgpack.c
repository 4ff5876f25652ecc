/* libFuzzer target for codec/arcmsgpack: any bytes either decode, every point holding a
 * measurement and at least one field and every batch columns of its row count, or fail with a
 * message. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "codec/arcmsgpack.h"

#include "require.h"

static int on_point(void *arg, const lp_line_t *p)
{
    (void)arg;
    REQUIRE(p->measurement.n > 0 && p->nfields >= 1 && p->nfields <= LP_MAX_FIELDS);
    for (int i = 0; i < p->nfields; i++)
        if (p->fields[i].type == LP_FLOAT) REQUIRE(isfinite(p->fields[i].v.f));
    return 0;
}

static int on_batch(void *arg, const am_batch_t *b)
{
    (void)arg;
    REQUIRE(b->measurement.n > 0 && b->rows >= 0 && b->ncols >= 1);
    for (int c = 0; c < b->ncols; c++)
        for (int64_t r = 0; r < b->rows; r++) {
            const am_column_t *col = &b->cols[c];
            if (col->valid && !col->valid[r]) continue;
            if (col->type == LP_FLOAT) REQUIRE(isfinite(col->v.f[r]));
            if (col->type == LP_STRING) REQUIRE(col->v.s[r].n == 0 || col->v.s[r].p != NULL);
        }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    am_sink_t sink = {on_point, on_batch, NULL};
    char err[256] = "";
    int rc = am_decode((const char *)data, size, &sink, err, sizeof err);
    if (rc) REQUIRE((rc == -EINVAL || rc == -ENOMEM) && err[0]);
    return 0;
}
