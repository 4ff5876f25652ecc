/* The predictions table: one row per prediction (store_record_t), its schema, and the mapping
 * between a record and a row of it. */
#ifndef INFERD_STORE_PREDICTIONS_H
#define INFERD_STORE_PREDICTIONS_H

#include "store/store.h"
#include "store/table.h"

enum {
    PRED_ID,
    PRED_TS_US,
    PRED_LATENCY_MS,
    PRED_MODEL,
    PRED_VERSION,
    PRED_REQUEST_ID,
    PRED_INPUT,
    PRED_OUTPUT,
    PRED_NCOLS
};

extern const store_table_t store_table_predictions;

/* r as a row (pointers into r; lengths of 0 for input/output mean strlen, as in store.h; the id
 * column points at r->id, which store_submit_rows fills). */
void predictions_row(const store_record_t *r, store_value_t row[PRED_NCOLS]);
/* The record a decoded row holds (pointers into row's strings). */
void predictions_record(const store_value_t row[PRED_NCOLS], store_record_t *r);

/* Journal bytes of a record: table_row_size / table_row_encode / table_row_decode on this
 * table. */
size_t predictions_size(const store_record_t *r);
size_t predictions_encode(const store_record_t *r, unsigned char *out);
int predictions_decode(const unsigned char *p, size_t n, store_record_t *r, char *scratch);

#endif
