/* The points table: the log of every change to the vector collections (serve/collections.c), one
 * row per change, replayed in id order at start to rebuild them. A collection's creation row
 * carries its settings as JSON in payload; an upsert row a point's id, vector (a JSON array of
 * float32 values printed exactly) and payload; a delete row the point's id; a drop row only the
 * collection. */
#ifndef INFERD_STORE_POINTS_H
#define INFERD_STORE_POINTS_H

#include "store/table.h"

enum {
    POINT_ID,         /* the row's UUIDv7 */
    POINT_TS,         /* when the change was made */
    POINT_COLLECTION, /* the collection's name */
    POINT_OP,         /* "create", "upsert", "delete" or "drop" */
    POINT_POINT,      /* the point's id (upsert, delete), else null */
    POINT_VECTOR,     /* upsert: the vector, JSON; else null */
    POINT_PAYLOAD,    /* upsert: the point's payload (JSON or null); create: the settings */
    POINT_NCOLS
};

extern const store_table_t store_table_points;

#endif
