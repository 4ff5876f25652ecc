/* Durability levels: what a request's answer promises about its records. One enum for the whole
 * code base (models' config.ini, the store, the protocols); docs/journal.md says what each level
 * promises after a crash.
 *   DUR_OFF        nothing is stored.
 *   DUR_BUFFERED   answered at once; stored within store_flush_ms (the loss window).
 *   DUR_DURABLE    answered once the records are on disk: the journal's fdatasync, or the
 *                  database's commit without a journal.
 *   DUR_COMMITTED  answered once the database's own transaction holding them has committed. */
#ifndef INFERD_UTIL_DURABILITY_H
#define INFERD_UTIL_DURABILITY_H

typedef enum durability { DUR_OFF, DUR_BUFFERED, DUR_DURABLE, DUR_COMMITTED } durability_t;

/* Parses "committed", "durable", "buffered" or "off" (any case); -1 otherwise (NULL too). */
int durability_parse(const char *s);
/* The level's name as durability_parse reads it. */
const char *durability_name(durability_t d);

#endif
