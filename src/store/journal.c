/* The journal (see journal.h). */
#define _GNU_SOURCE /* fallocate, O_DIRECTORY */
#include "store/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/bytes.h"
#include "util/crc32c.h"
#include "util/err.h"

#define MAGIC      "INFERDJ1"
#define VERSION    1u
#define HDR_BYTES  64       /* segment header */
#define FRAME_HDR  24       /* frame header */
#define FRAME_MORE 1        /* flags (byte 18): the next frame belongs to the same group */
#define SUFFIX     ".jnl"   /* live segments: <20-digit first LSN>.jnl */
#define SPARE      ".spare" /* released segments kept for reuse: <n>.spare */
#define TMP        ".tmp"   /* a segment being created */
#define ZERO_CHUNK (1u << 20)
#define MAX_SPARES 2
#define BLOCK      4096u /* direct writes are whole, aligned blocks of this */

static const unsigned char zeros[ZERO_CHUNK];

static int (*sync_hook)(int fd); /* tests: stands in for fdatasync */

void journal_set_sync_hook(int (*hook)(int fd))
{
    sync_hook = hook;
}

static int data_sync(int fd)
{
    return sync_hook ? sync_hook(fd) : fdatasync(fd);
}

/* Every MARK_EVERY-th record of a segment has its offset remembered, so a cursor opened at any
 * LSN walks at most that many frames instead of the whole segment. */
#define MARK_EVERY 64

typedef struct seg {
    uint64_t first_lsn;
    uint64_t end_lsn; /* the first LSN not in it (durable records only) */
    size_t end_off;   /* bytes up to the end of its last durable frame */
    uint32_t *marks;  /* marks[i]: offset of the frame of LSN first_lsn + i * MARK_EVERY */
    size_t nmarks, capmarks;
} seg_t;

/* Notes the frame of lsn at off if it is a marked one. -ENOMEM (harmless: cursors walk more). */
static int add_mark(seg_t *g, uint64_t lsn, size_t off)
{
    if ((lsn - g->first_lsn) % MARK_EVERY || (lsn - g->first_lsn) / MARK_EVERY != g->nmarks)
        return 0;
    if (g->nmarks == g->capmarks) {
        size_t cap = g->capmarks ? g->capmarks * 2 : 64;
        uint32_t *m = realloc(g->marks, cap * sizeof *m);
        if (!m) return -ENOMEM;
        g->marks = m, g->capmarks = cap;
    }
    g->marks[g->nmarks++] = (uint32_t)off;
    return 0;
}

struct journal {
    char id[33];
    int dirfd;
    size_t seg_bytes, max_bytes;
    pthread_mutex_t mu; /* guards segs, nsegs, next_lsn, released, spares and the counters */
    seg_t *segs;        /* live segments in LSN order; the last is the one appended to */
    int nsegs, cap;
    int fd;                 /* the last segment, open for writing (writer only) */
    int dfd;                /* the same with O_DIRECT | O_DSYNC, or -1 (see set_write_seg) */
    unsigned char *tail;    /* with dfd: the bytes of the last segment's partial final block */
    uint64_t next_lsn;      /* durable end */
    uint64_t released;      /* LSNs below it may be recycled */
    int nspares, spare_seq; /* files named <n>.spare */
    unsigned char *wbuf;    /* the writer's frame buffer */
    size_t wcap;
    journal_stats_t st;
};

static void seg_name(char *out, size_t n, uint64_t first_lsn)
{
    snprintf(out, n, "%020" PRIu64 SUFFIX, first_lsn);
}

static size_t frame_bytes(size_t len)
{
    return (FRAME_HDR + len + 7) & ~(size_t)7;
}

static void make_header(unsigned char *h, uint64_t first_lsn, size_t seg_bytes)
{
    memset(h, 0, HDR_BYTES);
    memcpy(h, MAGIC, 8);
    store_u32(h + 8, VERSION);
    store_u64(h + 16, first_lsn);
    store_u64(h + 24, seg_bytes);
    store_u32(h + 60, crc32c(0, h, 60));
}

static int full_pwrite(int fd, const void *p, size_t n, off_t off)
{
    while (n) {
        ssize_t w = pwrite(fd, p, n, off);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        p = (const char *)p + w, n -= (size_t)w, off += w;
    }
    return 0;
}

/* Reads up to n bytes; returns the count (short at end of file) or -errno. */
static ssize_t full_pread(int fd, void *p, size_t n, off_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)p + got, n - got, off + (off_t)got);
        if (r < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Makes fd (segment first_lsn, frames ending at end_off) the one appended to. Appends then go
 * through a second descriptor with O_DIRECT | O_DSYNC where the file system allows it: one
 * write that is durable when it returns, instead of a page-cache copy, writeback and a separate
 * fdatasync (about a third less CPU and a fifth less latency per append, measured on ext4).
 * Segments are fully allocated and zero-filled, so such a write changes no metadata. Elsewhere
 * (tmpfs), and under a test's sync hook, appends use fd and fdatasync. */
static void set_write_seg(journal_t *j, int fd, uint64_t first_lsn, size_t end_off)
{
    if (j->fd >= 0 && j->fd != fd) close(j->fd);
    if (j->dfd >= 0) close(j->dfd);
    j->fd = fd;
    j->dfd = -1;
    size_t pre = end_off % BLOCK;
    char name[40];
    seg_name(name, sizeof name, first_lsn);
    if (!sync_hook && (j->tail || !posix_memalign((void **)&j->tail, BLOCK, BLOCK)) &&
        full_pread(fd, j->tail, pre, (off_t)(end_off - pre)) == (ssize_t)pre)
        j->dfd = openat(j->dirfd, name, O_WRONLY | O_DIRECT | O_DSYNC | O_CLOEXEC);
    pthread_mutex_lock(&j->mu);
    j->st.direct = j->dfd >= 0;
    pthread_mutex_unlock(&j->mu);
}

/* ---- segment files --------------------------------------------------------------------------- */

/* Makes the segment that starts at first_lsn and returns its fd (open for writing), or -errno.
 * A spare is reused when there is one (its blocks are already written: no zero fill); otherwise
 * a new file is allocated and zero-filled under a temporary name, then renamed, so recovery never
 * sees a half-made segment. -ENOSPC when the file system is full. */
static int make_segment(journal_t *j, uint64_t first_lsn, char *err, size_t errlen)
{
    char name[40], tmp[40];
    unsigned char hdr[HDR_BYTES];
    seg_name(name, sizeof name, first_lsn);
    make_header(hdr, first_lsn, j->seg_bytes);
    int fd = -1, rc;
    pthread_mutex_lock(&j->mu);
    int spare = j->nspares > 0 ? j->spare_seq - j->nspares : -1;
    if (spare >= 0) j->nspares--;
    pthread_mutex_unlock(&j->mu);
    if (spare >= 0) {
        snprintf(tmp, sizeof tmp, "%d" SPARE, spare);
        fd = openat(j->dirfd, tmp, O_RDWR | O_CLOEXEC);
        struct stat st;
        if (fd >= 0 && (fstat(fd, &st) || (size_t)st.st_size != j->seg_bytes)) {
            close(fd); /* made for another segment size */
            unlinkat(j->dirfd, tmp, 0);
            fd = -1;
        }
        if (fd < 0) spare = -1; /* gone: make a new one */
    }
    if (spare < 0) {
        snprintf(tmp, sizeof tmp, "%020" PRIu64 TMP, first_lsn);
        fd = openat(j->dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
            return err_fail(err, errlen, -errno, "journal: create %s: %s", tmp, strerror(errno));
        rc = fallocate(fd, 0, 0, (off_t)j->seg_bytes) ? -errno : 0;
        if (rc == -EOPNOTSUPP) rc = 0; /* the zero fill below allocates anyway */
        for (size_t off = 0; !rc && off < j->seg_bytes; off += ZERO_CHUNK) {
            size_t n = j->seg_bytes - off < ZERO_CHUNK ? j->seg_bytes - off : ZERO_CHUNK;
            rc = full_pwrite(fd, zeros, n, (off_t)off);
        }
        if (rc) {
            close(fd);
            unlinkat(j->dirfd, tmp, 0);
            return err_fail(err, errlen, rc == -EDQUOT ? -ENOSPC : rc,
                            "journal: cannot allocate a %zu-byte segment: %s", j->seg_bytes,
                            strerror(-rc));
        }
    }
    rc = full_pwrite(fd, hdr, HDR_BYTES, 0);
    if (!rc && fdatasync(fd)) rc = -errno;
    if (!rc && renameat(j->dirfd, tmp, j->dirfd, name)) rc = -errno;
    if (!rc && fsync(j->dirfd)) rc = -errno;
    if (rc) {
        close(fd);
        return err_fail(err, errlen, rc, "journal: cannot make segment %s: %s", name,
                        strerror(-rc));
    }
    return fd;
}

static int push_seg(journal_t *j, uint64_t first_lsn)
{
    if (j->nsegs == j->cap) {
        int cap = j->cap ? j->cap * 2 : 8;
        seg_t *s = realloc(j->segs, sizeof *s * (size_t)cap);
        if (!s) return -ENOMEM;
        j->segs = s, j->cap = cap;
    }
    j->segs[j->nsegs++] = (seg_t){first_lsn, first_lsn, HDR_BYTES, NULL, 0, 0};
    return 0;
}

/* ---- recovery -------------------------------------------------------------------------------- */

typedef struct scan {
    uint64_t end_lsn;
    size_t end_off;
    size_t first_group; /* framed bytes of its first group of frames (0: no frames) */
} scan_t;

/* Reads the frames of one segment from its header on, expecting LSNs from first_lsn. */
static int scan_segment(int fd, uint64_t first_lsn, size_t seg_bytes, scan_t *out, seg_t *g)
{
    size_t cap = 1u << 20;
    unsigned char *buf = malloc(cap);
    if (!buf) return -ENOMEM;
    uint64_t lsn = first_lsn, end_lsn = first_lsn;
    size_t off = HDR_BYTES, end_off = HDR_BYTES, first_group = 0;
    for (;;) {
        unsigned char h[FRAME_HDR];
        if (off + FRAME_HDR > seg_bytes) break;
        ssize_t r = full_pread(fd, h, FRAME_HDR, (off_t)off);
        if (r < 0) {
            free(buf);
            return (int)r;
        }
        /* The frames end at: the file cut short, the zero fill, a frame out of sequence (a
         * reused segment's old contents, or garbage) or one that does not fit. */
        if (r < FRAME_HDR) break;
        uint32_t len = load_u32(h);
        if (len == 0 || load_u64(h + 8) != lsn) break;
        size_t fb = frame_bytes(len);
        if (len > JOURNAL_MAX_RECORD || off + fb > seg_bytes) break;
        if (len > cap) {
            unsigned char *nb = realloc(buf, len);
            if (!nb) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb, cap = len;
        }
        r = full_pread(fd, buf, len, (off_t)(off + FRAME_HDR));
        if (r < 0) {
            free(buf);
            return (int)r;
        }
        uint32_t crc = crc32c(crc32c(0, h + 8, FRAME_HDR - 8), buf, (size_t)r);
        if ((size_t)r < len || crc != load_u32(h + 4) || (h[18] & ~FRAME_MORE)) break;
        if (g) add_mark(g, lsn, off);
        off += fb;
        lsn++;
        if (!(h[18] & FRAME_MORE)) { /* a group ends here: what follows may be dropped alone */
            if (end_lsn == first_lsn) first_group = off - HDR_BYTES;
            end_lsn = lsn, end_off = off;
        }
    }
    free(buf);
    /* A torn group counts as not written: its frames were never acknowledged, and a group's
     * records are kept all or none. Marks past the end would not match the frames appended
     * there later. */
    if (g && g->nmarks > (end_lsn - first_lsn + MARK_EVERY - 1) / MARK_EVERY)
        g->nmarks = (size_t)((end_lsn - first_lsn + MARK_EVERY - 1) / MARK_EVERY);
    *out = (scan_t){end_lsn, end_off, first_group};
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Lists the directory: live segments' first LSNs (sorted), spares renumbered 0..n-1, leftover
 * temporary files removed. */
static int list_dir(journal_t *j, uint64_t **lsns, int *n, char *err, size_t errlen)
{
    int dfd = dup(j->dirfd);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        if (dfd >= 0) close(dfd);
        return err_fail(err, errlen, -errno, "journal: cannot list the directory: %s",
                        strerror(errno));
    }
    uint64_t *v = NULL;
    int nv = 0, cap = 0, rc = 0;
    char(*spares)[256] = NULL;
    int nsp = 0;
    struct dirent *e;
    while ((e = readdir(d)) && !rc) {
        size_t len = strlen(e->d_name);
        if (len == 20 + strlen(SUFFIX) && !strcmp(e->d_name + 20, SUFFIX)) {
            char *end;
            uint64_t lsn = strtoull(e->d_name, &end, 10);
            if (end != e->d_name + 20 || lsn == 0) continue;
            if (nv == cap) {
                cap = cap ? cap * 2 : 16;
                uint64_t *nvv = realloc(v, sizeof *v * (size_t)cap);
                if (!nvv) {
                    rc = -ENOMEM;
                    break;
                }
                v = nvv;
            }
            v[nv++] = lsn;
        } else if (len > strlen(TMP) && !strcmp(e->d_name + len - strlen(TMP), TMP)) {
            unlinkat(j->dirfd, e->d_name, 0);
        } else if (len > strlen(SPARE) && !strcmp(e->d_name + len - strlen(SPARE), SPARE) &&
                   len < 256) {
            char(*ns)[256] = realloc(spares, sizeof *spares * (size_t)(nsp + 1));
            if (!ns) {
                rc = -ENOMEM;
                break;
            }
            spares = ns;
            memcpy(spares[nsp++], e->d_name, len + 1);
        }
    }
    closedir(d);
    /* Spares become 0..n-1 (names made by earlier runs may have any number). */
    for (int i = 0; i < nsp && !rc; i++) {
        char want[40];
        snprintf(want, sizeof want, "%d" SPARE, i);
        if (strcmp(want, spares[i]) && renameat(j->dirfd, spares[i], j->dirfd, want)) rc = -errno;
    }
    free(spares);
    if (rc) {
        free(v);
        return err_fail(err, errlen, rc, "journal: cannot list the directory: %s", strerror(-rc));
    }
    j->nspares = j->spare_seq = nsp;
    if (nv) qsort(v, (size_t)nv, sizeof *v, cmp_u64);
    *lsns = v;
    *n = nv;
    return 0;
}

static int recover(journal_t *j, uint64_t start_lsn, char *err, size_t errlen)
{
    uint64_t *lsns = NULL;
    int n = 0, rc = list_dir(j, &lsns, &n, err, errlen);
    if (rc) return rc;
    uint64_t expect = n ? lsns[0] : start_lsn;
    size_t prev_end = 0, prev_bytes = 0; /* the segment before: where its frames end, its size */
    int i;
    for (i = 0; i < n; i++) {
        char name[40];
        seg_name(name, sizeof name, lsns[i]);
        if (lsns[i] != expect) break; /* a gap: what follows cannot be trusted to be complete */
        int fd = openat(j->dirfd, name, O_RDWR | O_CLOEXEC);
        if (fd < 0) {
            rc = err_fail(err, errlen, -errno, "journal: open %s: %s", name, strerror(errno));
            break;
        }
        unsigned char h[HDR_BYTES];
        ssize_t r = full_pread(fd, h, HDR_BYTES, 0);
        if (r != HDR_BYTES || memcmp(h, MAGIC, 8) || load_u32(h + 60) != crc32c(0, h, 60) ||
            load_u64(h + 16) != lsns[i] || load_u64(h + 24) < HDR_BYTES + FRAME_HDR) {
            close(fd);
            rc = err_fail(err, errlen, -EBADMSG,
                          "journal: %s has no valid segment header: not a journal file, or "
                          "damaged",
                          name);
            break;
        }
        size_t bytes = (size_t)load_u64(h + 24);
        scan_t sc;
        if ((rc = push_seg(j, lsns[i]))) {
            close(fd);
            break;
        }
        rc = scan_segment(fd, lsns[i], bytes, &sc, &j->segs[j->nsegs - 1]);
        if (rc) {
            close(fd);
            err_set(err, errlen, "journal: reading %s: %s", name, strerror(-rc));
            break;
        }
        j->segs[j->nsegs - 1].end_lsn = sc.end_lsn;
        j->segs[j->nsegs - 1].end_off = sc.end_off;
        j->st.recovered_records += sc.end_lsn - lsns[i];
        expect = sc.end_lsn;
        bool last = i == n - 1 || lsns[i + 1] != sc.end_lsn;
        if (i > 0 && sc.first_group && prev_end + sc.first_group <= prev_bytes) {
            /* The writer starts a segment only for a group that did not fit in the one before,
             * and only after that one's fdatasync: here it would have fit, so the segment
             * before lost frames it had made durable. Damage, not a torn write. */
            char prev[40];
            seg_name(prev, sizeof prev, j->segs[j->nsegs - 2].first_lsn);
            close(fd);
            rc = err_fail(err, errlen, -EBADMSG,
                          "journal: %s is damaged at byte %zu (its records end before LSN %" PRIu64
                          ", which %s holds): refusing to discard acknowledged records; move the "
                          "directory aside to start afresh",
                          prev, prev_end, lsns[i], name);
            break;
        }
        prev_end = sc.end_off, prev_bytes = bytes;
        if (last) {
            /* Zero what follows the last good frame, so appends never sit before stale bytes
             * that a later recovery could misread. */
            for (size_t off = sc.end_off; !rc && off < bytes; off += ZERO_CHUNK) {
                size_t m = bytes - off < ZERO_CHUNK ? bytes - off : ZERO_CHUNK;
                rc = full_pwrite(fd, zeros, m, (off_t)off);
            }
            if (!rc && fdatasync(fd)) rc = -errno;
            if (rc) {
                close(fd);
                err_set(err, errlen, "journal: cannot clear the tail of %s: %s", name,
                        strerror(-rc));
                break;
            }
            j->seg_bytes = bytes; /* keep appending to it at its own size */
            set_write_seg(j, fd, lsns[i], sc.end_off);
            i++;
            break;
        }
        close(fd);
    }
    /* Segments after the end (after a gap, or made after the last record's segment but left
     * empty) hold nothing acknowledged: remove them. */
    for (; !rc && i < n; i++) {
        char name[40];
        seg_name(name, sizeof name, lsns[i]);
        int fd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC);
        scan_t sc = {0};
        if (fd >= 0) {
            unsigned char h[HDR_BYTES];
            if (full_pread(fd, h, HDR_BYTES, 0) == HDR_BYTES && load_u64(h + 16) == lsns[i])
                scan_segment(fd, lsns[i], (size_t)load_u64(h + 24), &sc, NULL);
            close(fd);
        }
        if (sc.end_lsn > lsns[i]) {
            rc = err_fail(err, errlen, -EBADMSG,
                          "journal: %s holds records after a missing stretch (expected LSN %" PRIu64
                          "): refusing to discard them",
                          name, expect);
            break;
        }
        unlinkat(j->dirfd, name, 0);
    }
    free(lsns);
    if (rc) return rc;
    j->next_lsn = expect;
    j->released = j->nsegs ? j->segs[0].first_lsn : expect;
    if (!j->nsegs) { /* empty: make the first segment */
        if (push_seg(j, expect)) return -ENOMEM;
        int fd = make_segment(j, expect, err, errlen);
        if (fd < 0) return fd;
        set_write_seg(j, fd, expect, HDR_BYTES);
    }
    return 0;
}

/* Reads DIR/journal.id, or makes it (written to a temporary name, synced, renamed). */
static int load_id(journal_t *j, char *err, size_t errlen)
{
    int fd = openat(j->dirfd, "journal.id", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = full_pread(fd, j->id, 32, 0);
        close(fd);
        j->id[32] = 0;
        bool ok = r == 32;
        for (int i = 0; ok && i < 32; i++)
            ok = (j->id[i] >= '0' && j->id[i] <= '9') || (j->id[i] >= 'a' && j->id[i] <= 'f');
        if (ok) return 0;
        return err_fail(err, errlen, -EBADMSG, "journal: journal.id is not 32 hex digits");
    }
    if (errno != ENOENT)
        return err_fail(err, errlen, -errno, "journal: journal.id: %s", strerror(errno));
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != sizeof raw)
        return err_fail(err, errlen, -EIO, "journal: no random bytes for an id");
    for (int i = 0; i < 16; i++) snprintf(j->id + 2 * i, 3, "%02x", raw[i]);
    fd = openat(j->dirfd, "journal.id.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = fd < 0 ? -errno : full_pwrite(fd, j->id, 32, 0);
    if (!rc && fdatasync(fd)) rc = -errno;
    if (fd >= 0) close(fd);
    if (!rc && renameat(j->dirfd, "journal.id.tmp", j->dirfd, "journal.id")) rc = -errno;
    if (!rc && fsync(j->dirfd)) rc = -errno;
    return rc ? err_fail(err, errlen, rc, "journal: cannot write journal.id: %s", strerror(-rc))
              : 0;
}

const char *journal_id(const journal_t *j)
{
    return j->id;
}

journal_t *journal_open(const char *dir, const journal_opts_t *o, char *err, size_t errlen)
{
    journal_t *j = calloc(1, sizeof *j);
    if (!j) return err_set(err, errlen, "journal: out of memory"), NULL;
    j->fd = j->dfd = -1;
    j->seg_bytes = o && o->segment_bytes ? o->segment_bytes : 16u << 20;
    if (j->seg_bytes < 64u << 10) j->seg_bytes = 64u << 10;
    if (j->seg_bytes > 1u << 30) j->seg_bytes = 1u << 30; /* offsets are kept in 32 bits */
    j->seg_bytes &= ~(size_t)(BLOCK - 1);                 /* whole blocks, for direct writes */
    j->max_bytes = o && o->max_bytes ? o->max_bytes : (size_t)1 << 30;
    pthread_mutex_init(&j->mu, NULL);
    if (mkdir(dir, 0700) && errno != EEXIST) {
        err_set(err, errlen, "journal: cannot create %s: %s", dir, strerror(errno));
        journal_close(j);
        return NULL;
    }
    j->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (j->dirfd < 0) {
        err_set(err, errlen, "journal: cannot open %s: %s", dir, strerror(errno));
        journal_close(j);
        return NULL;
    }
    /* Two writers on one journal would interleave LSNs and each recycle the other's segments. */
    if (flock(j->dirfd, LOCK_EX | LOCK_NB)) {
        if (errno == EWOULDBLOCK)
            err_set(err, errlen,
                    "journal: %s is in use by another inferd (each node needs its own journal)",
                    dir);
        else
            err_set(err, errlen, "journal: cannot lock %s: %s", dir, strerror(errno));
        journal_close(j);
        return NULL;
    }
    if (load_id(j, err, errlen) || recover(j, 1, err, errlen)) {
        journal_close(j);
        return NULL;
    }
    return j;
}

/* ---- appending ------------------------------------------------------------------------------- */

/* Whether appends go through the O_DIRECT | O_DSYNC descriptor (see set_write_seg). */
static bool direct(const journal_t *j)
{
    return j->dfd >= 0 && !sync_hook;
}

/* Bytes of the last segment's partial final block that an append puts before its frames in
 * wbuf: with direct writes, whole blocks are written, so the block's earlier bytes go again. */
static size_t write_prefix(const journal_t *j)
{
    return direct(j) ? j->segs[j->nsegs - 1].end_off % BLOCK : 0;
}

/* Writes the frames in wbuf[pre..pre + n) (pre = write_prefix()) at the end of the last segment
 * and makes them durable. On failure the journal is failed for good (see journal.h). */
static int write_sync(journal_t *j, size_t n, char *err, size_t errlen)
{
    seg_t *s = &j->segs[j->nsegs - 1];
    int rc;
    size_t pre = s->end_off % BLOCK, all = (pre + n + BLOCK - 1) / BLOCK * BLOCK;
    /* A segment of a size that is not whole blocks (made by an older inferd) takes its last
     * block through the page cache: a direct write would run past its end. */
    if (direct(j) && s->end_off - pre + all <= j->seg_bytes) {
        /* The block's earlier bytes are rewritten as they are, so a torn write cannot damage
         * frames already acknowledged; the rest of the final block is zero, as on disk. */
        memcpy(j->wbuf, j->tail, pre);
        memset(j->wbuf + pre + n, 0, all - pre - n);
        rc = full_pwrite(j->dfd, j->wbuf, all, (off_t)(s->end_off - pre));
        size_t keep = (s->end_off + n) % BLOCK;
        if (!rc) memcpy(j->tail, j->wbuf + pre + n - keep, keep);
    } else {
        rc = full_pwrite(j->fd, j->wbuf + write_prefix(j), n, (off_t)s->end_off);
        if (!rc && data_sync(j->fd)) rc = -errno;
        size_t keep = (s->end_off + n) % BLOCK; /* a test's hook came after set_write_seg */
        if (!rc && j->dfd >= 0 &&
            full_pread(j->fd, j->tail, keep, (off_t)(s->end_off + n - keep)) != (ssize_t)keep)
            rc = -EIO;
    }
    if (rc) {
        pthread_mutex_lock(&j->mu);
        j->st.failed = rc;
        pthread_mutex_unlock(&j->mu);
        return err_fail(err, errlen, rc,
                        "journal: %s failed (%s): nothing more is acknowledged until a restart",
                        n ? "write or fdatasync" : "fdatasync", strerror(-rc));
    }
    return 0;
}

/* Frames recs[i..k) into out (LSNs from lsn); returns the bytes used. */
static size_t frame_into(unsigned char *out, const journal_rec_t *recs, int i, int k, uint64_t lsn)
{
    size_t used = 0;
    for (int r = i; r < k; r++) {
        size_t fb = frame_bytes(recs[r].len);
        unsigned char *f = out + used;
        memset(f, 0, fb);
        store_u32(f, (uint32_t)recs[r].len);
        store_u64(f + 8, lsn + (uint64_t)(r - i));
        f[16] = (unsigned char)(recs[r].table & 0xff);
        f[17] = (unsigned char)(recs[r].table >> 8);
        f[18] = recs[r].more && r + 1 < k ? FRAME_MORE : 0; /* groups never leave a chunk */
        if (recs[r].len) memcpy(f + FRAME_HDR, recs[r].data, recs[r].len);
        store_u32(f + 4, crc32c(crc32c(0, f + 8, FRAME_HDR - 8), f + FRAME_HDR, recs[r].len));
        used += fb;
    }
    return used;
}

int journal_append(journal_t *j, const journal_rec_t *recs, int n, uint64_t *first_lsn, char *err,
                   size_t errlen)
{
    pthread_mutex_lock(&j->mu);
    int failed = j->st.failed;
    uint64_t lsn = j->next_lsn;
    size_t live = (size_t)j->nsegs * j->seg_bytes;
    size_t off = j->segs[j->nsegs - 1].end_off;
    pthread_mutex_unlock(&j->mu);
    if (failed)
        return err_fail(err, errlen, failed, "journal: stopped after a failed write (%s)",
                        strerror(-failed));
    /* Plan where each record goes: cut[c] is the first record of chunk c; chunk 0 continues the
     * current segment, each later one starts a new segment. A group (records joined by `more`)
     * moves whole to the new segment, so recovery can keep or drop it whole. */
    int *cut = malloc(sizeof *cut * (size_t)(n + 2));
    if (!cut) return err_fail(err, errlen, -ENOMEM, "journal: out of memory");
    int ncut = 0, group = 0; /* group: the first record of the group record i is in */
    size_t total = 0, biggest = 0, chunk = 0, gbytes = 0;
    cut[ncut++] = 0;
    for (int i = 0; i < n; i++) {
        size_t fb = frame_bytes(recs[i].len);
        if (i > 0 && !recs[i - 1].more) group = i, gbytes = 0;
        if (recs[i].len > JOURNAL_MAX_RECORD || gbytes + fb > j->seg_bytes - HDR_BYTES) {
            free(cut);
            return err_fail(err, errlen, -EMSGSIZE,
                            "journal: a %zu-byte record (%d of a group of records) does not fit "
                            "in a segment",
                            recs[i].len, i - group + 1);
        }
        if (off + fb > j->seg_bytes) { /* a new segment from the group's first record */
            cut[ncut++] = group;
            biggest = chunk - gbytes > biggest ? chunk - gbytes : biggest;
            off = HDR_BYTES + gbytes, chunk = gbytes;
        }
        off += fb, chunk += fb, total += fb, gbytes += fb;
    }
    biggest = chunk > biggest ? chunk : biggest;
    cut[ncut] = n;
    int nnew = ncut - 1;
    if (nnew && live + (size_t)nnew * j->seg_bytes > j->max_bytes) {
        free(cut);
        return err_fail(err, errlen, -ENOBUFS,
                        "journal: full (%zu bytes of segments hold records not yet applied by "
                        "every sink; the cap is %zu)",
                        live, j->max_bytes);
    }
    if (j->wcap < biggest + 2 * BLOCK) { /* room for a block's prefix and the last block's rest */
        size_t cap = j->wcap ? j->wcap : 1u << 16;
        while (cap < biggest + 2 * BLOCK) cap *= 2;
        unsigned char *b = NULL;
        if (posix_memalign((void **)&b, BLOCK, cap)) {
            free(cut);
            return err_fail(err, errlen, -ENOMEM, "journal: out of memory");
        }
        free(j->wbuf);
        j->wbuf = b, j->wcap = cap;
    }
    /* Make every new segment before writing anything, so that a full disk refuses the whole
     * append and never leaves part of it durable but unacknowledged. Segments made but unused
     * (a later one failed) hold no frames: the next append uses the first, recovery removes
     * them. */
    int *fds = nnew ? malloc(sizeof *fds * (size_t)nnew) : NULL;
    if (nnew && !fds) {
        free(cut);
        return err_fail(err, errlen, -ENOMEM, "journal: out of memory");
    }
    for (int c = 0; c < nnew; c++) {
        fds[c] = make_segment(j, lsn + (uint64_t)cut[c + 1], err, errlen);
        if (fds[c] < 0) {
            int rc = fds[c];
            for (int d = 0; d < c; d++) {
                char name[40];
                seg_name(name, sizeof name, lsn + (uint64_t)cut[d + 1]);
                close(fds[d]);
                unlinkat(j->dirfd, name, 0);
            }
            free(fds);
            free(cut);
            return rc;
        }
    }
    int rc = 0;
    for (int c = 0; c <= nnew && !rc; c++) {
        if (c > 0) {
            pthread_mutex_lock(&j->mu);
            rc = push_seg(j, lsn + (uint64_t)cut[c]);
            pthread_mutex_unlock(&j->mu);
            if (rc) {
                err_set(err, errlen, "journal: out of memory");
                for (int d = c - 1; d < nnew; d++) close(fds[d]);
                break;
            }
            set_write_seg(j, fds[c - 1], lsn + (uint64_t)cut[c], HDR_BYTES);
        }
        if (cut[c + 1] == cut[c]) continue; /* the current segment takes none */
        size_t used =
            frame_into(j->wbuf + write_prefix(j), recs, cut[c], cut[c + 1], lsn + (uint64_t)cut[c]);
        rc = write_sync(j, used, err, errlen);
        if (rc) {
            for (int d = c; d < nnew; d++) close(fds[d]);
            break;
        }
        pthread_mutex_lock(&j->mu);
        seg_t *s = &j->segs[j->nsegs - 1];
        for (int r = cut[c], o = 0; r < cut[c + 1]; r++) {
            add_mark(s, lsn + (uint64_t)r, s->end_off + (size_t)o);
            o += (int)frame_bytes(recs[r].len);
        }
        s->end_off += used;
        s->end_lsn = lsn + (uint64_t)cut[c + 1];
        j->next_lsn = s->end_lsn; /* readable now; the caller hears of it when all are synced */
        pthread_mutex_unlock(&j->mu);
    }
    free(fds);
    free(cut);
    if (rc) return rc;
    pthread_mutex_lock(&j->mu);
    j->st.appends++;
    j->st.records += (uint64_t)n;
    j->st.payload_bytes += total;
    pthread_mutex_unlock(&j->mu);
    if (first_lsn) *first_lsn = lsn;
    return 0;
}

size_t journal_frame_bytes(size_t len)
{
    return frame_bytes(len);
}

size_t journal_segment_room(const journal_t *j)
{
    return j->seg_bytes - HDR_BYTES; /* set at open, never changed after */
}

uint64_t journal_next_lsn(journal_t *j)
{
    pthread_mutex_lock(&j->mu);
    uint64_t v = j->next_lsn;
    pthread_mutex_unlock(&j->mu);
    return v;
}

void journal_release(journal_t *j, uint64_t lsn)
{
    pthread_mutex_lock(&j->mu);
    if (lsn > j->released) j->released = lsn;
    /* Every segment but the last whose records all lie below the released LSN goes. */
    int drop = 0;
    while (drop < j->nsegs - 1 && j->segs[drop].end_lsn <= j->released) drop++;
    for (int k = 0; k < drop; k++) {
        free(j->segs[k].marks);
        char name[40], spare[40];
        seg_name(name, sizeof name, j->segs[k].first_lsn);
        if (j->nspares < MAX_SPARES) {
            snprintf(spare, sizeof spare, "%d" SPARE, j->spare_seq);
            if (!renameat(j->dirfd, name, j->dirfd, spare)) {
                j->spare_seq++, j->nspares++, j->st.recycled++;
                continue;
            }
        }
        unlinkat(j->dirfd, name, 0);
    }
    if (drop) {
        memmove(j->segs, j->segs + drop, sizeof *j->segs * (size_t)(j->nsegs - drop));
        j->nsegs -= drop;
        fsync(j->dirfd); /* a crash may leave a released segment in place: recovery keeps it */
    }
    pthread_mutex_unlock(&j->mu);
}

void journal_stats(journal_t *j, journal_stats_t *out)
{
    pthread_mutex_lock(&j->mu);
    *out = j->st;
    out->next_lsn = j->next_lsn;
    out->released_lsn = j->released;
    out->segments = (uint64_t)j->nsegs;
    out->bytes = (uint64_t)j->nsegs * j->seg_bytes;
    pthread_mutex_unlock(&j->mu);
}

void journal_close(journal_t *j)
{
    if (!j) return;
    if (j->fd >= 0) close(j->fd);
    if (j->dfd >= 0) close(j->dfd);
    if (j->dirfd > 0) close(j->dirfd);
    free(j->tail);
    pthread_mutex_destroy(&j->mu);
    for (int k = 0; k < j->nsegs; k++) free(j->segs[k].marks);
    free(j->segs);
    free(j->wbuf);
    free(j);
}

/* ---- reading --------------------------------------------------------------------------------- */

#define READ_AHEAD ((size_t)256 << 10) /* a cursor reads frames in chunks of up to this */

struct journal_cursor {
    journal_t *j;
    int fd;
    uint64_t seg_first; /* the segment open in fd */
    uint64_t lsn;       /* the next LSN to hand out */
    size_t off;         /* its frame's offset in the segment */
    uint64_t end_lsn;   /* the segment's durable frames end before it ... */
    size_t end_off;     /* ... at this offset (as of the last locate) */
    unsigned char *buf; /* segment bytes [win_off, win_off + win_len), read ahead */
    size_t cap, win_off, win_len;
};

/* Where the segment holding lsn is, and how far its durable frames go. -ENOENT if released. */
static int locate(journal_t *j, uint64_t lsn, uint64_t *first, size_t *end_off, uint64_t *end_lsn,
                  uint64_t *mark_lsn, size_t *mark_off)
{
    int rc = -ENOENT;
    pthread_mutex_lock(&j->mu);
    for (int k = j->nsegs - 1; k >= 0; k--)
        if (j->segs[k].first_lsn <= lsn) {
            if (lsn <= j->segs[k].end_lsn) {
                /* At the end of a segment that is not the last: the next one holds lsn. */
                if (lsn == j->segs[k].end_lsn && k + 1 < j->nsegs) k++;
                const seg_t *g = &j->segs[k];
                *first = g->first_lsn;
                *end_off = g->end_off;
                *end_lsn = g->end_lsn;
                if (mark_lsn) {
                    size_t i = lsn >= g->first_lsn ? (lsn - g->first_lsn) / MARK_EVERY : 0;
                    if (i >= g->nmarks) i = g->nmarks ? g->nmarks - 1 : 0;
                    *mark_lsn = g->nmarks ? g->first_lsn + i * MARK_EVERY : g->first_lsn;
                    *mark_off = g->nmarks ? g->marks[i] : HDR_BYTES;
                }
                rc = 0;
            }
            break;
        }
    pthread_mutex_unlock(&j->mu);
    return rc;
}

static int cursor_read(journal_cursor_t *c, uint64_t *lsn, journal_rec_t *rec, char *err,
                       size_t errlen);

journal_cursor_t *journal_cursor_open(journal_t *j, uint64_t from_lsn, char *err, size_t errlen)
{
    journal_cursor_t *c = calloc(1, sizeof *c);
    if (!c) return err_set(err, errlen, "journal: out of memory"), NULL;
    c->j = j;
    c->fd = -1;
    pthread_mutex_lock(&j->mu);
    uint64_t lo = j->nsegs ? j->segs[0].first_lsn : j->next_lsn, hi = j->next_lsn;
    pthread_mutex_unlock(&j->mu);
    if (from_lsn < lo || from_lsn > hi) {
        free(c);
        err_set(err, errlen,
                "journal: LSN %" PRIu64 " is not kept (the journal holds %" PRIu64 "..%" PRIu64 ")",
                from_lsn, lo, hi);
        return NULL;
    }
    /* Walk from the nearest mark before from_lsn. */
    uint64_t first, end_lsn, mark_lsn;
    size_t end_off, mark_off;
    if (locate(j, from_lsn, &first, &end_off, &end_lsn, &mark_lsn, &mark_off)) {
        free(c);
        err_set(err, errlen, "journal: LSN %" PRIu64 " was released", from_lsn);
        return NULL;
    }
    char name[40];
    seg_name(name, sizeof name, first);
    c->fd = openat(j->dirfd, name, O_RDONLY | O_CLOEXEC);
    if (c->fd < 0) {
        err_set(err, errlen, "journal: open %s: %s", name, strerror(errno));
        free(c);
        return NULL;
    }
    c->seg_first = first;
    c->lsn = mark_lsn;
    c->off = mark_off;
    while (c->lsn < from_lsn) {
        uint64_t l;
        journal_rec_t r;
        int rc = cursor_read(c, &l, &r, err, errlen);
        if (rc <= 0) {
            if (!rc) err_set(err, errlen, "journal: LSN %" PRIu64 " not found", from_lsn);
            journal_cursor_close(c);
            return NULL;
        }
    }
    return c;
}

/* Makes the bytes [c->off, c->off + need) of the segment readable in c->buf, reading ahead up to
 * READ_AHEAD bytes but never past end_off (what is beyond is not durable). 0 or -errno. */
static int cursor_fill(journal_cursor_t *c, size_t need, size_t end_off)
{
    if (c->off >= c->win_off && c->off + need <= c->win_off + c->win_len) return 0;
    size_t want = end_off - c->off;
    if (want > READ_AHEAD) want = READ_AHEAD;
    if (want < need) want = need;
    if (want > c->cap) {
        unsigned char *b = realloc(c->buf, want);
        if (!b) return -ENOMEM;
        c->buf = b, c->cap = want;
    }
    ssize_t r = full_pread(c->fd, c->buf, want, (off_t)c->off);
    c->win_off = c->off;
    c->win_len = r > 0 ? (size_t)r : 0;
    if (r < 0) return (int)r;
    return c->win_len >= need ? 0 : -EBADMSG;
}

static int cursor_read(journal_cursor_t *c, uint64_t *lsn, journal_rec_t *rec, char *err,
                       size_t errlen)
{
    /* Segments at or after a cursor are never released (the applier releases only what it has
     * applied; readers pin), so the bounds need refreshing only once the cursor reaches them. */
    if (c->fd < 0 || c->lsn >= c->end_lsn) {
        uint64_t first;
        if (locate(c->j, c->lsn, &first, &c->end_off, &c->end_lsn, NULL, NULL))
            return err_fail(err, errlen, -ENOENT,
                            "journal: LSN %" PRIu64 " was released under a cursor", c->lsn);
        if (first != c->seg_first || c->fd < 0) { /* into the next segment */
            char name[40];
            seg_name(name, sizeof name, first);
            int fd = openat(c->j->dirfd, name, O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                return err_fail(err, errlen, -errno, "journal: open %s: %s", name, strerror(errno));
            if (c->fd >= 0) close(c->fd);
            c->fd = fd;
            if (first != c->seg_first) c->off = HDR_BYTES;
            c->seg_first = first;
            c->win_len = 0;
        }
        if (c->lsn >= c->end_lsn) return 0; /* nothing durable beyond */
    }
    int rc = cursor_fill(c, FRAME_HDR, c->end_off);
    const unsigned char *h = c->buf + (c->off - c->win_off);
    uint32_t len = rc ? 0 : load_u32(h);
    if (rc || load_u64(h + 8) != c->lsn || c->off + frame_bytes(len) > c->end_off)
        return err_fail(err, errlen, rc ? rc : -EBADMSG,
                        "journal: frame of LSN %" PRIu64
                        " unreadable at byte %zu of segment %" PRIu64,
                        c->lsn, c->off, c->seg_first);
    if ((rc = cursor_fill(c, FRAME_HDR + len, c->end_off)))
        return err_fail(err, errlen, rc, "journal: frame of LSN %" PRIu64 " unreadable: %s", c->lsn,
                        strerror(-rc));
    h = c->buf + (c->off - c->win_off);
    if (crc32c(crc32c(0, h + 8, FRAME_HDR - 8), h + FRAME_HDR, len) != load_u32(h + 4))
        return err_fail(err, errlen, -EBADMSG,
                        "journal: frame of LSN %" PRIu64 " fails its checksum on reread", c->lsn);
    *lsn = c->lsn;
    *rec = (journal_rec_t){(uint16_t)(h[16] | h[17] << 8), h + FRAME_HDR, len,
                           (h[18] & FRAME_MORE) != 0};
    c->off += frame_bytes(len);
    c->lsn++;
    return 1;
}

int journal_cursor_next(journal_cursor_t *c, uint64_t *lsn, journal_rec_t *rec, char *err,
                        size_t errlen)
{
    return cursor_read(c, lsn, rec, err, errlen);
}

void journal_cursor_close(journal_cursor_t *c)
{
    if (!c) return;
    if (c->fd >= 0) close(c->fd);
    free(c->buf);
    free(c);
}
