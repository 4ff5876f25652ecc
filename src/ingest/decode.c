/* Decoding a write's body into a request's column buffers, one per measurement: ingest.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/arcmsgpack.h"
#include "codec/lineproto.h"
#include "ingest/ingest_impl.h"
#include "util/err.h"
#include "util/utf8.h"

bool ingest_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > INGEST_NAME_MAX || s[0] == '.') return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '/' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
    return utf8_valid_text(s, n);
}

/* The request's buffer for measurement m: -EINVAL (err says why) for a name that cannot be a
 * directory. */
static int meas_for(ingest_req_t *r, const lp_str_t *m, char *err, size_t errlen)
{
    if (r->last < r->nms && r->ms[r->last].nlen == m->n && !memcmp(r->ms[r->last].name, m->p, m->n))
        return r->last;
    for (int i = 0; i < r->nms; i++)
        if (r->ms[i].nlen == m->n && !memcmp(r->ms[i].name, m->p, m->n)) return r->last = i;
    if (!ingest_name_ok(m->p, m->n))
        return err_fail(err, errlen, ERR_INVALID,
                        "measurement \"%.*s\" cannot be a directory name (1 to %d bytes of UTF-8, "
                        "no '/' or control characters, not starting with '.')",
                        (int)(m->n > 64 ? 64 : m->n), m->p, INGEST_NAME_MAX);
    if (r->nms == r->capms) {
        int nc = r->capms ? 2 * r->capms : 4;
        req_meas_t *ms = realloc(r->ms, (size_t)nc * sizeof *ms);
        if (!ms) return err_fail(err, errlen, ERR_NOMEM, "out of memory");
        r->ms = ms;
        r->capms = nc;
    }
    req_meas_t *x = &r->ms[r->nms];
    memcpy(x->name, m->p, m->n);
    x->name[m->n] = 0;
    x->nlen = m->n;
    colbuf_init(&x->cb);
    x->cb.expect = r->nms ? 0 : r->expect; /* a body is mostly one measurement */
    return r->last = r->nms++;
}

typedef struct dec {
    ingest_req_t *r;
    int64_t maps; /* MessagePack maps seen */
    char *err;
    size_t errlen;
    int code;
} dec_t;

static int lp_point(void *arg, const lp_line_t *p)
{
    dec_t *d = arg;
    char why[300];
    int64_t t = d->r->now_ns;
    if (p->has_time && __builtin_mul_overflow(p->time, d->r->unit_ns, &t))
        return d->code = err_fail(d->err, d->errlen, ERR_INVALID,
                                  "line %lld: timestamp %lld is out of range at this precision",
                                  (long long)p->lineno, (long long)p->time);
    int m = meas_for(d->r, &p->measurement, why, sizeof why);
    int rc = m < 0 ? m : colbuf_append_point(&d->r->ms[m].cb, p, t, why, sizeof why);
    if (rc)
        return d->code =
                   err_fail(d->err, d->errlen, rc, "line %lld: %s", (long long)p->lineno, why);
    return 0;
}

static int am_point(void *arg, const lp_line_t *p)
{
    dec_t *d = arg;
    char why[300];
    d->maps++;
    int m = meas_for(d->r, &p->measurement, why, sizeof why);
    int rc = m < 0 ? m
                   : colbuf_append_point(&d->r->ms[m].cb, p, p->has_time ? p->time : d->r->now_ns,
                                         why, sizeof why);
    if (rc)
        return d->code = err_fail(d->err, d->errlen, rc, "map %lld: %s", (long long)d->maps, why);
    return 0;
}

static int am_columns(void *arg, const am_batch_t *b)
{
    dec_t *d = arg;
    char why[300];
    d->maps++;
    int m = meas_for(d->r, &b->measurement, why, sizeof why);
    int rc = m < 0 ? m : colbuf_append_batch(&d->r->ms[m].cb, b, d->r->now_ns, why, sizeof why);
    if (rc)
        return d->code = err_fail(d->err, d->errlen, rc, "map %lld: %s", (long long)d->maps, why);
    return 0;
}

ingest_req_t *ingest_decode(const char *db, ingest_format_t f, int64_t unit_ns, int64_t now_ns,
                            const char *body, size_t len, int *code, char *err, size_t errlen)
{
    size_t dblen = strlen(db);
    if (!ingest_name_ok(db, dblen)) {
        *code = err_fail(err, errlen, ERR_INVALID,
                         "database \"%.64s\" cannot be a directory name (1 to %d bytes of UTF-8, "
                         "no '/' or control characters, not starting with '.')",
                         db, INGEST_NAME_MAX);
        return NULL;
    }
    ingest_req_t *r = calloc(1, sizeof *r);
    if (!r) {
        *code = err_fail(err, errlen, ERR_NOMEM, "out of memory");
        return NULL;
    }
    memcpy(r->db, db, dblen + 1);
    r->format = f;
    r->unit_ns = unit_ns;
    r->now_ns = now_ns;
    dec_t d = {r, 0, err, errlen, 0};
    int rc;
    if (f == INGEST_LINEPROTO) {
        for (const char *p = body, *e = body + len; p < e && (p = memchr(p, '\n', (size_t)(e - p)));
             p++)
            r->expect++;
        r->expect++;
        rc = lp_parse(body, len, lp_point, &d, err, errlen);
    } else {
        am_sink_t sink = {am_point, am_columns, &d};
        rc = am_decode(body, len, &sink, err, errlen);
    }
    if (rc) {
        /* A callback's own error is in err already; the parser's came with its code. */
        *code = d.code ? d.code : rc == -ENOMEM ? ERR_NOMEM : ERR_INVALID;
        if (rc == -ENOMEM && !d.code) err_set(err, errlen, "out of memory");
        ingest_req_free(r);
        return NULL;
    }
    for (int i = 0; i < r->nms; i++) {
        r->rows += r->ms[i].cb.rows;
        r->bytes += colbuf_bytes(&r->ms[i].cb);
    }
    r->bytes += sizeof *r + (size_t)r->capms * sizeof *r->ms;
    return r;
}

int64_t ingest_req_rows(const ingest_req_t *r)
{
    return r->rows;
}

void ingest_req_free(ingest_req_t *r)
{
    if (!r) return;
    for (int i = 0; i < r->nms; i++) colbuf_free(&r->ms[i].cb);
    free(r->ms);
    free(r);
}
