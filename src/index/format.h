/* The index file: a fixed header, a table of sections, and the sections (arrays the index maps
 * in place). Little-endian; documented in docs/index.md.
 *
 *   0   "INFERDIX"          8 bytes of magic
 *   8   u32 version         IXF_VERSION; a newer file is refused, naming both versions
 *   12  u32 type, metric    index.h's idx_type_t, idx_metric_t
 *   20  u32 dim
 *   24  u64 count           vectors
 *   32  u32 nsections       1..IXF_MAX_SECTIONS
 *   36  u32 0
 *   40  u64 file bytes      the whole file: a truncated copy fails here
 *   48  12 bytes of 0
 *   60  u32 CRC-32C of bytes 0..59
 *   64  nsections entries of 32 bytes: u32 tag (four ASCII letters), u32 0, u64 offset (a
 *       multiple of 64, after the table), u64 bytes, u32 CRC-32C of the section's bytes, u32
 *       CRC-32C of the entry's first 28 bytes
 *
 * Sections do not overlap and lie inside the file. */
#ifndef INFERD_INDEX_FORMAT_H
#define INFERD_INDEX_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#define IXF_VERSION      2 /* 2: HNSW's DELS section; 1 still read */
#define IXF_MAX_SECTIONS 16
#define IXF_TAG(a, b, c, d)                                                                        \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)

typedef struct ixf_header {
    uint32_t type, metric, dim;
    uint64_t count;
} ixf_header_t;

typedef struct ixf_section {
    uint32_t tag;
    const void *data;
    uint64_t bytes;
} ixf_section_t;

/* A parsed file: sections point into the bytes given to ixf_parse (or the mapping). */
typedef struct ixf {
    ixf_header_t h;
    uint32_t version; /* the file's format version, 1..IXF_VERSION */
    int nsections;
    ixf_section_t s[IXF_MAX_SECTIONS];
    void *map; /* ixf_open's mapping, or NULL */
    size_t size;
} ixf_t;

/* Writes a file of h and the n sections to path: a temporary name beside it, fsynced, renamed
 * over path, the directory fsynced. 0 or -errno with the problem in err. */
int ixf_write(const char *path, const ixf_header_t *h, const ixf_section_t *s, int n, char *err,
              size_t errlen);
/* Checks p[0..n) as a file and fills out (pointers into p). 0, or -EINVAL / -EPROTO (a newer
 * version) with the problem and its offset in err. */
int ixf_parse(const void *p, size_t n, ixf_t *out, char *err, size_t errlen);
/* Maps path read-only and parses it. 0 or -errno with the problem in err. */
int ixf_open(const char *path, ixf_t *out, char *err, size_t errlen);
/* Same for fd, a regular file open for reading (not closed; the mapping outlives it). */
int ixf_open_fd(int fd, ixf_t *out, char *err, size_t errlen);
/* Unmaps what ixf_open mapped. */
void ixf_close(ixf_t *f);
/* The section with this tag, or NULL. */
const ixf_section_t *ixf_find(const ixf_t *f, uint32_t tag);

#endif
