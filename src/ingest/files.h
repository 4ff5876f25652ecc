/* Ingestion's files: a flush's rows as Parquet files in their hour's directory, each written
 * under DIR/.tmp, fsynced, renamed into place and its directory fsynced; and, under wal, the
 * flushed log (DIR/.wal/flushed) that says, per measurement, the last journal record whose rows
 * are in a file. A log line is appended and fdatasynced after the temporary files are durable
 * and before they are renamed, so a line in the log means its files exist or can be finished
 * from DIR/.tmp: the log's recovery renames what a crash left, and the journal's replay skips
 * what the log covers. Not a rows' second home: nothing here knows about buffers. */
#ifndef INFERD_INGEST_FILES_H
#define INFERD_INGEST_FILES_H

#include <stdint.h>

#include "codec/parquet.h"
#include "ingest/ingest_impl.h"

typedef struct files_log files_log_t;

/* How far one measurement's rows are in files. */
typedef struct files_through {
    char *db, *meas;
    uint64_t lsn;
} files_through_t;

typedef struct files_result {
    int files;
    uint64_t bytes;
} files_result_t;

/* Creates DIR and DIR/.tmp and empties DIR/.tmp (what is there is from a flush a crash cut
 * short: under wal its rows are replayed, under buffered they were never acknowledged as
 * durable). 0, or -errno with err. */
int files_prepare(const char *dir, char *err, size_t errlen);

/* Opens (creating it) the flushed log in waldir (DIR/.wal), finishes the renames its last lines
 * promised, rewrites it with one line per measurement, and gives those in *th (n in *nth; free
 * with files_through_free). NULL with err on failure. */
files_log_t *files_log_open(const char *waldir, files_through_t **th, int *nth, char *err,
                            size_t errlen);
void files_through_free(files_through_t *th, int n);
void files_log_close(files_log_t *l);

/* Writes jb's rows under dir: one file per hour of their timestamps (columns with no value in a
 * file's rows are left out of it), with codec; with a log, the log line before the renames.
 * Thread-safe. 0 with what was written in *out, or -errno with err (nothing is renamed into
 * place then, and the temporary files are removed). */
int files_write(const char *dir, pq_codec_t codec, int zstd_level, files_log_t *log, job_t *jb,
                files_result_t *out, char *err, size_t errlen);

#endif
