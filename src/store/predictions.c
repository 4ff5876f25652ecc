#include "store/predictions.h"

#include <stdio.h>
#include <string.h>

#include "store/uuid7.h"

/* The journal order: fixed-width columns first. It is the encoding the journal has used since
 * it began (issue 10), so segments written before tables had a schema still decode. */
static const store_column_t cols[PRED_NCOLS] = {
    [PRED_ID] = {"id", ST_UUID, false},
    [PRED_TS_US] = {"ts", ST_TIME, false},
    [PRED_LATENCY_MS] = {"latency_ms", ST_FLOAT64, false},
    [PRED_MODEL] = {"model", ST_TEXT, false},
    [PRED_VERSION] = {"version", ST_TEXT, true},
    [PRED_REQUEST_ID] = {"request_id", ST_TEXT, true},
    [PRED_INPUT] = {"input", ST_JSON, true},
    [PRED_OUTPUT] = {"output", ST_JSON, true},
};

static bool check(const store_value_t *row, char *err, size_t errlen)
{
    if (!row[PRED_MODEL].len) return snprintf(err, errlen, "a record needs a model"), false;
    if (row[PRED_LATENCY_MS].f < 0)
        return snprintf(err, errlen, "latency_ms cannot be negative"), false;
    return true;
}

const store_table_t store_table_predictions = {1,    "inferences", PRED_NCOLS,
                                               cols, PRED_TS_US,   check};

static store_value_t text(const char *p, size_t n)
{
    return (store_value_t){.s = p, .len = p ? (n ? n : strlen(p)) : 0};
}

void predictions_row(const store_record_t *r, store_value_t row[PRED_NCOLS])
{
    row[PRED_ID] = (store_value_t){.s = r->id, .len = UUID_STRLEN}; /* may be unset: an out field */
    row[PRED_TS_US] = (store_value_t){.i = r->ts_us};
    row[PRED_LATENCY_MS] = (store_value_t){.f = r->latency_ms};
    row[PRED_MODEL] = text(r->model, 0);
    row[PRED_VERSION] = text(r->version, 0);
    row[PRED_REQUEST_ID] = text(r->request_id, 0);
    row[PRED_INPUT] = text(r->input_json, r->input_len);
    row[PRED_OUTPUT] = text(r->output_json, r->output_len);
}

void predictions_record(const store_value_t row[PRED_NCOLS], store_record_t *r)
{
    memset(r, 0, sizeof *r);
    size_t n = row[PRED_ID].len < sizeof r->id - 1 ? row[PRED_ID].len : sizeof r->id - 1;
    memcpy(r->id, row[PRED_ID].s, n);
    r->ts_us = row[PRED_TS_US].i;
    r->latency_ms = row[PRED_LATENCY_MS].f;
    r->model = row[PRED_MODEL].s;
    r->version = row[PRED_VERSION].s;
    r->request_id = row[PRED_REQUEST_ID].s;
    r->input_json = row[PRED_INPUT].s;
    r->input_len = row[PRED_INPUT].len;
    r->output_json = row[PRED_OUTPUT].s;
    r->output_len = row[PRED_OUTPUT].len;
}

size_t predictions_size(const store_record_t *r)
{
    store_value_t row[PRED_NCOLS];
    predictions_row(r, row);
    return table_row_size(&store_table_predictions, row);
}

size_t predictions_encode(const store_record_t *r, unsigned char *out)
{
    store_value_t row[PRED_NCOLS];
    predictions_row(r, row);
    return table_row_encode(&store_table_predictions, row, out);
}

int predictions_decode(const unsigned char *p, size_t n, store_record_t *r, char *scratch)
{
    store_value_t row[PRED_NCOLS];
    int rc = table_row_decode(&store_table_predictions, p, n, row, scratch);
    if (!rc) predictions_record(row, r);
    return rc;
}
