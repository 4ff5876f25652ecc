/* The journal: an append-only log of records in segment files, the store's durability point.
 * A record is acknowledged once the fdatasync that holds it has returned; sinks (SQLite,
 * PostgreSQL) are fed from it afterwards by their appliers, each from its own last applied LSN.
 *
 * Layout: DIR/<first LSN, 20 digits>.jnl, each segment_bytes long, preallocated and zero-filled
 * at creation so that an fdatasync writes data, never the file's size or extents. A segment is a
 * 64-byte header (magic "INFERDJ1", version, first LSN, size, CRC) and then frames:
 *   u32 payload length | u32 CRC32C of the rest | u64 LSN | u16 table | u16 0 | u32 0 | payload
 * padded to 8 bytes. LSNs start at 1 and increase by one per record with no gaps, across
 * segments. A length of 0 (the zero fill) ends a segment's frames.
 *
 * Recovery (journal_open) reads every segment in LSN order and stops at the first frame that is
 * torn or corrupt (short, bad CRC, LSN out of sequence); everything before it is kept, the rest
 * of that segment is zeroed and later segments, which hold no frames then, are removed. Since a
 * record is acknowledged only after an fdatasync covering it, a crash can tear only frames nobody
 * was told about. Damage that a crash cannot explain (a segment whose frames stop although the
 * next segment's first frame would have fit in it, records after a missing stretch) is refused:
 * open fails rather than drop acknowledged records.
 *
 * Threads: one writer calls journal_append; any number of cursors read concurrently (each from
 * one thread); journal_release, journal_stats and the LSN getters may be called from any thread.
 * fsync failure is final (the PostgreSQL fsyncgate lesson: after a failed fsync the kernel may
 * have dropped the dirty pages, so retrying could report success for data that is gone): every
 * later append fails with -EIO until the journal is reopened, which re-reads what is on disk. */
#ifndef INFERD_STORE_JOURNAL_H
#define INFERD_STORE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct journal journal_t;

typedef struct journal_opts {
    size_t segment_bytes; /* per segment file (default 16 MiB; at least 64 KiB) */
    size_t max_bytes;     /* segments kept for records not yet released, at most (default
                             1 GiB); past it journal_append refuses with -ENOBUFS */
} journal_opts_t;

typedef struct journal_rec {
    uint16_t table; /* which table the payload belongs to (the store's schema ids) */
    const void *data;
    size_t len; /* at most JOURNAL_MAX_RECORD */
    bool more;  /* the next record of the append belongs with this one (one request's records):
                   they go in one segment, and recovery keeps the group whole or drops it whole */
} journal_rec_t;

#define JOURNAL_MAX_RECORD (64u << 20)

typedef struct journal_stats {
    uint64_t next_lsn;          /* the LSN the next record gets */
    uint64_t released_lsn;      /* every LSN below it may be recycled */
    uint64_t segments;          /* segment files in use */
    uint64_t bytes;             /* their size on disk */
    uint64_t appends;           /* journal_append calls that succeeded */
    uint64_t records;           /* records they appended */
    uint64_t payload_bytes;     /* framed bytes they wrote */
    uint64_t recycled;          /* segments reused after release */
    uint64_t recovered_records; /* records found at open */
    int failed;                 /* 0, or the -errno that stopped the journal (fsync failure) */
    bool direct;                /* appends are O_DIRECT | O_DSYNC writes, not write + fdatasync */
} journal_stats_t;

/* Opens (creating it and DIR if needed) the journal in dir and recovers it. NULL with a message
 * in err on failure (unreadable directory, a segment header that is not ours, I/O errors). o may
 * be NULL; zero fields take their defaults. */
journal_t *journal_open(const char *dir, const journal_opts_t *o, char *err, size_t errlen);

/* Appends n >= 1 records as consecutive LSNs with one pwritev per segment touched and one
 * fdatasync per segment, and returns once they are durable, with the first LSN in *first_lsn.
 * Only the writer thread may call it. 0, or:
 *   -ENOBUFS  the journal holds max_bytes of records not yet released: nothing appended;
 *   -ENOSPC   the file system is full (a new segment could not be made): nothing appended;
 *   -EMSGSIZE a record is larger than JOURNAL_MAX_RECORD, or a group larger than a segment:
 *             nothing appended;
 *   -EIO      (or another -errno) a write or fdatasync failed: the journal is failed for good.
 * err gets a message for each. */
int journal_append(journal_t *j, const journal_rec_t *recs, int n, uint64_t *first_lsn, char *err,
                   size_t errlen);

/* The journal's identity: 32 hex digits made at random when the directory is first used and kept
 * in DIR/journal.id. A database fed by several journals (several inferd nodes) keeps an applied
 * LSN per identity. */
const char *journal_id(const journal_t *j);

/* Bytes of segment space a record of len payload bytes takes, and how many of those one segment
 * holds: a group (see journal_rec_t) must fit in it. */
size_t journal_frame_bytes(size_t len);
size_t journal_segment_room(const journal_t *j);

/* The LSN the next append will get: every LSN below it is durable. */
uint64_t journal_next_lsn(journal_t *j);

/* Declares that every record with an LSN below lsn has been applied everywhere it must go: the
 * segments holding only such records are recycled as new segments (or removed when more than
 * one spare is kept). Never call it with an LSN a live cursor has not passed. */
void journal_release(journal_t *j, uint64_t lsn);

/* Reads durable records in LSN order from a given LSN. */
typedef struct journal_cursor journal_cursor_t;

/* A cursor at from_lsn (at least the released LSN, at most journal_next_lsn). NULL with a message
 * in err if that LSN is no longer kept, or on I/O or memory errors. */
journal_cursor_t *journal_cursor_open(journal_t *j, uint64_t from_lsn, char *err, size_t errlen);
/* 1 with the next record's LSN in *lsn and the record in *rec (data valid until the next call),
 * 0 when every durable record has been read (more may be appended later: call again), or -errno
 * with a message in err (a frame that fails its CRC on reread, I/O errors). */
int journal_cursor_next(journal_cursor_t *c, uint64_t *lsn, journal_rec_t *rec, char *err,
                        size_t errlen);
void journal_cursor_close(journal_cursor_t *c);

void journal_stats(journal_t *j, journal_stats_t *out);

/* Test hook: hook(fd) replaces the fdatasync of appends (returns 0, or -1 with errno set); NULL
 * restores it. Not thread-safe; set it while no journal is appending. */
void journal_set_sync_hook(int (*hook)(int fd));

/* Closes the files and frees the journal (cursors must be closed first). NULL is a no-op. */
void journal_close(journal_t *j);

#endif
