#include "api/records_json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int json_str_or_null(buf_t *out, const char *p)
{
    return p ? buf_json_str(out, p, strlen(p)) : buf_puts(out, "null");
}

static int json_raw_or_null(buf_t *out, const char *p, size_t n)
{
    return p && n ? buf_append(out, p, n) : buf_puts(out, "null");
}

int api_record_json(buf_t *out, const store_record_t *r)
{
    time_t sec = (time_t)(r->ts_us / 1000000);
    long us = (long)(r->ts_us % 1000000);
    if (us < 0) {
        sec--;
        us += 1000000;
    }
    struct tm tm;
    char ts[32] = "";
    if (gmtime_r(&sec, &tm)) strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    int rc = buf_puts(out, "{\"id\":");
    if (!rc) rc = buf_json_str(out, r->id, strlen(r->id));
    if (!rc)
        rc = buf_printf(out, ",\"ts\":\"%s.%06ldZ\",\"ts_us\":%lld,\"model\":", ts, us,
                        (long long)r->ts_us);
    if (!rc) rc = json_str_or_null(out, r->model);
    if (!rc) rc = buf_puts(out, ",\"version\":");
    if (!rc) rc = json_str_or_null(out, r->version);
    if (!rc) rc = buf_puts(out, ",\"request_id\":");
    if (!rc) rc = json_str_or_null(out, r->request_id);
    if (!rc) rc = buf_puts(out, ",\"input\":");
    if (!rc) rc = json_raw_or_null(out, r->input_json, r->input_len);
    if (!rc) rc = buf_puts(out, ",\"output\":");
    if (!rc) rc = json_raw_or_null(out, r->output_json, r->output_len);
    if (!rc) rc = buf_printf(out, ",\"latency_ms\":%.3f}", r->latency_ms);
    return rc;
}

static int one_row(void *arg, const store_record_t *r)
{
    return api_record_json(arg, r);
}

int api_record_get_json(store_t *s, const char *id, buf_t *out)
{
    size_t mark = out->len;
    int rc = store_get(s, id, one_row, out);
    if (rc) out->len = mark;
    return rc;
}

typedef struct page {
    buf_t *out;
    int n;
} page_t;

static int page_row(void *arg, const store_record_t *r)
{
    page_t *p = arg;
    int rc = p->n++ ? buf_puts(p->out, ",") : 0;
    return rc ? rc : api_record_json(p->out, r);
}

int api_records_list_json(store_t *s, const store_query_t *q, buf_t *out, char *err, size_t errlen)
{
    size_t mark = out->len;
    char next[37];
    page_t p = {out, 0};
    int rc = buf_puts(out, "{\"records\":[");
    if (!rc) {
        rc = store_list(s, q, page_row, &p, next, err, errlen);
        if (rc) {
            out->len = mark;
            return rc;
        }
    }
    if (!rc) rc = buf_puts(out, "],\"next_cursor\":");
    if (!rc) rc = next[0] ? buf_json_str(out, next, strlen(next)) : buf_puts(out, "null");
    if (!rc) rc = buf_puts(out, "}");
    if (rc) {
        out->len = mark;
        snprintf(err, errlen, "reading records failed: %s", strerror(-rc));
    }
    return rc;
}
