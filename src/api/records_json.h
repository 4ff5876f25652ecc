/* The JSON the API shows for stored prediction records (GET /inferences/{id}, GET /inferences):
 * the store hands rows over (store/store.h), and this is where they become text. */
#ifndef INFERD_API_RECORDS_JSON_H
#define INFERD_API_RECORDS_JSON_H

#include "store/store.h"
#include "util/buf.h"

/* Appends r as {"id","ts" (RFC 3339, UTC, microseconds),"ts_us","model","version","request_id",
 * "input","output","latency_ms"}; input and output are JSON the server made, so they go out
 * verbatim. 0 or -ENOMEM. */
int api_record_json(buf_t *out, const store_record_t *r);

/* store_get, rendered: appends the record's JSON to out. Blocking. Returns store_get's values;
 * out is left as it was on failure. */
int api_record_get_json(store_t *s, const char *id, buf_t *out);

/* store_list, rendered: appends {"records":[...],"next_cursor":"<id>"|null} to out. Blocking.
 * Returns store_list's values (err set on failure); out is left as it was on failure. */
int api_records_list_json(store_t *s, const store_query_t *q, buf_t *out, char *err, size_t errlen);

#endif
