#include "store/points.h"

#include <stdio.h>
#include <string.h>

static const store_column_t cols[POINT_NCOLS] = {
    [POINT_ID] = {"id", ST_UUID, false},
    [POINT_TS] = {"ts", ST_TIME, false},
    [POINT_COLLECTION] = {"collection", ST_TEXT, false},
    [POINT_OP] = {"op", ST_TEXT, false},
    [POINT_POINT] = {"point_id", ST_INT64, true},
    [POINT_VECTOR] = {"vector", ST_JSON, true},
    [POINT_PAYLOAD] = {"payload", ST_JSON, true},
};

static bool check(const store_value_t *row, char *err, size_t errlen)
{
    static const char *const ops[] = {"create", "upsert", "delete", "drop"};
    if (!row[POINT_COLLECTION].len)
        return snprintf(err, errlen, "a point row needs a collection"), false;
    for (size_t k = 0; k < sizeof ops / sizeof *ops; k++)
        if (row[POINT_OP].len == strlen(ops[k]) && !memcmp(row[POINT_OP].s, ops[k], strlen(ops[k])))
            return true;
    return snprintf(err, errlen, "unknown point operation"), false;
}

/* Journal id 2: never reused. */
const store_table_t store_table_points = {2, "points", POINT_NCOLS, cols, POINT_TS, check};
