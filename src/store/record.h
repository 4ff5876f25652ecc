/* A prediction record as journal bytes (store.c's journal mode): the table id it is filed under
 * and a compact encoding that decodes back to the same store_record_t. */
#ifndef INFERD_STORE_RECORD_H
#define INFERD_STORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* The journal's table ids: one per kind of record the store keeps. */
enum { REC_TABLE_PREDICTIONS = 1 };

/* Bytes record_encode writes for r. */
size_t record_size(const store_record_t *r);
/* Writes r into out (record_size(r) bytes); returns the bytes written. */
size_t record_encode(const store_record_t *r, unsigned char *out);
/* Decodes p[0..n) into r, whose strings are copied NUL-terminated into scratch (n bytes are
 * enough) and point there; input_len and output_len are set. 0, or -EBADMSG for bytes that are
 * not an encoded record. */
int record_decode(const unsigned char *p, size_t n, store_record_t *r, char *scratch);

#endif
