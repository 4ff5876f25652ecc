/* libFuzzer target for the journal's row decoding (src/store/table.c), which reads what a crash
 * or a disk left in a segment: any bytes either fail with -EBADMSG or decode to a row that
 * encodes back to exactly the same bytes. The first byte picks the table (every registered one;
 * predictions today). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/table.h"

#include "require.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const store_table_t *t = store_table_by_id(data[0] % 4);
    if (!t) return 0;
    data++, size--;
    store_value_t row[STORE_MAX_COLS];
    char *scratch = malloc(size + (size_t)t->ncols + 1);
    REQUIRE(scratch != NULL);
    if (table_row_decode(t, data, size, row, scratch) == 0) {
        size_t n = table_row_size(t, row);
        REQUIRE(n == size);
        unsigned char *again = malloc(n);
        REQUIRE(again != NULL);
        REQUIRE(table_row_encode(t, row, again) == n);
        REQUIRE(memcmp(again, data, n) == 0);
        free(again);
    }
    free(scratch);
    return 0;
}
