#include "index/format.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/bytes.h"
#include "util/crc32c.h"
#include "util/err.h"

#define MAGIC        "INFERDIX"
#define HEADER_BYTES 64
#define ENTRY_BYTES  32
#define ALIGN        64

static uint64_t align_up(uint64_t v)
{
    return (v + ALIGN - 1) / ALIGN * ALIGN;
}

/* Writes all of p, or returns -errno. */
static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return w < 0 ? -errno : -EIO;
        c += w, n -= (size_t)w;
    }
    return 0;
}

int ixf_write(const char *path, const ixf_header_t *h, const ixf_section_t *s, int n, char *err,
              size_t errlen)
{
    if (n < 1 || n > IXF_MAX_SECTIONS) return err_fail(err, errlen, -EINVAL, "%d sections", n);
    unsigned char head[HEADER_BYTES + IXF_MAX_SECTIONS * ENTRY_BYTES];
    memset(head, 0, sizeof head);
    uint64_t off = align_up(HEADER_BYTES + (uint64_t)n * ENTRY_BYTES);
    for (int i = 0; i < n; i++) {
        unsigned char *e = head + HEADER_BYTES + i * ENTRY_BYTES;
        store_u32(e, s[i].tag);
        store_u64(e + 8, off);
        store_u64(e + 16, s[i].bytes);
        store_u32(e + 24, crc32c(0, s[i].data, s[i].bytes));
        store_u32(e + 28, crc32c(0, e, 28));
        off = align_up(off + s[i].bytes);
    }
    memcpy(head, MAGIC, 8);
    store_u32(head + 8, IXF_VERSION);
    store_u32(head + 12, h->type);
    store_u32(head + 16, h->metric);
    store_u32(head + 20, h->dim);
    store_u64(head + 24, h->count);
    store_u32(head + 32, (uint32_t)n);
    store_u64(head + 40, off);
    store_u32(head + 60, crc32c(0, head, 60));

    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return err_fail(err, errlen, -ENAMETOOLONG, "%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return err_fail(err, errlen, -errno, "%s: %s", tmp, strerror(errno));
    static const unsigned char zeros[ALIGN];
    uint64_t at = HEADER_BYTES + (uint64_t)n * ENTRY_BYTES;
    int e = write_all(fd, head, (size_t)at);
    for (int i = 0; i < n && !e; i++) {
        e = write_all(fd, zeros, (size_t)(align_up(at) - at));
        at = align_up(at);
        if (!e) e = write_all(fd, s[i].data, s[i].bytes);
        at += s[i].bytes;
    }
    if (!e) e = write_all(fd, zeros, (size_t)(align_up(at) - at));
    if (!e && fsync(fd) != 0) e = -errno;
    if (close(fd) != 0 && !e) e = -errno;
    if (!e && rename(tmp, path) != 0) e = -errno;
    if (e) {
        unlink(tmp);
        return err_fail(err, errlen, e, "%s: %s", path, strerror(-e));
    }
    /* The rename is durable once the directory is. */
    char dirbuf[4096];
    snprintf(dirbuf, sizeof dirbuf, "%s", path);
    int dfd = open(dirname(dirbuf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int ixf_parse(const void *p, size_t n, ixf_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const unsigned char *b = p;
    if (n < HEADER_BYTES || memcmp(b, MAGIC, 8))
        return err_fail(err, errlen, -EINVAL, "not an inferd index file (no INFERDIX magic)");
    if (load_u32(b + 60) != crc32c(0, b, 60))
        return err_fail(err, errlen, -EINVAL, "the header's checksum does not match (offset 60)");
    uint32_t version = load_u32(b + 8);
    if (version > IXF_VERSION)
        return err_fail(err, errlen, -EPROTO,
                        "index format version %u is newer than this inferd reads (%d): upgrade",
                        version, IXF_VERSION);
    if (version < 1) return err_fail(err, errlen, -EINVAL, "index format version 0");
    uint32_t ns = load_u32(b + 32);
    uint64_t size = load_u64(b + 40);
    if (size != n)
        return err_fail(err, errlen, -EINVAL,
                        "the file is %zu bytes, its header says %llu: truncated or appended to", n,
                        (unsigned long long)size);
    if (ns < 1 || ns > IXF_MAX_SECTIONS || HEADER_BYTES + (size_t)ns * ENTRY_BYTES > n)
        return err_fail(err, errlen, -EINVAL, "%u sections (offset 32)", ns);
    out->h = (ixf_header_t){load_u32(b + 12), load_u32(b + 16), load_u32(b + 20), load_u64(b + 24)};
    out->version = version;
    uint64_t floor = HEADER_BYTES + (uint64_t)ns * ENTRY_BYTES;
    for (uint32_t i = 0; i < ns; i++) {
        const unsigned char *e = b + HEADER_BYTES + i * ENTRY_BYTES;
        size_t at = HEADER_BYTES + i * ENTRY_BYTES;
        if (load_u32(e + 28) != crc32c(0, e, 28))
            return err_fail(err, errlen, -EINVAL,
                            "section entry %u: checksum mismatch (offset %zu)", i, at);
        uint64_t off = load_u64(e + 8), len = load_u64(e + 16);
        /* In order, aligned, after the table, inside the file: no overlap, no overflow. */
        if (off % ALIGN || off < floor || off > n || len > n - off)
            return err_fail(err, errlen, -EINVAL,
                            "section entry %u: %llu bytes at %llu do not fit the file (offset %zu)",
                            i, (unsigned long long)len, (unsigned long long)off, at);
        if (load_u32(e + 24) != crc32c(0, b + off, (size_t)len))
            return err_fail(
                err, errlen, -EINVAL,
                "section %u (%llu bytes at %llu): checksum mismatch: the file is damaged", i,
                (unsigned long long)len, (unsigned long long)off);
        out->s[i] = (ixf_section_t){load_u32(e), b + off, len};
        floor = off + len;
    }
    out->nsections = (int)ns;
    out->size = n;
    return 0;
}

int ixf_open_fd(int fd, ixf_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
        return err_fail(err, errlen, -EINVAL, "not an index file (empty or not a regular file)");
    size_t n = (size_t)st.st_size;
    void *map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) return err_fail(err, errlen, -errno, "%s", strerror(errno));
    int e = ixf_parse(map, n, out, err, errlen);
    if (e) {
        munmap(map, n);
        return e;
    }
    out->map = map;
    return 0;
}

int ixf_open(const char *path, ixf_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
    char why[384];
    int e = ixf_open_fd(fd, out, why, sizeof why);
    close(fd);
    return e ? err_fail(err, errlen, e, "%s: %s", path, why) : 0;
}

void ixf_close(ixf_t *f)
{
    if (f->map) munmap(f->map, f->size);
    f->map = NULL;
}

const ixf_section_t *ixf_find(const ixf_t *f, uint32_t tag)
{
    for (int i = 0; i < f->nsections; i++)
        if (f->s[i].tag == tag) return &f->s[i];
    return NULL;
}
