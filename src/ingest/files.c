/* Ingestion's Parquet files and flushed log: files.h. */
#define _GNU_SOURCE
#include "ingest/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/buf.h"
#include "util/clock.h"
#include "util/err.h"

#define PATH_CAP    (4096 + 1024 + 8)
#define LOG_NAME    "flushed"
#define LOG_COMPACT (1u << 20) /* the log is rewritten, one line per measurement, past this */
#define HOUR_NS     3600000000000LL

struct files_log {
    pthread_mutex_t mu;
    char *dir; /* DIR/.wal */
    int fd;
    size_t bytes;
    bool failed; /* an append or a rename after it failed: the log's end is unknown until the
                    next start recovers it (the journal keeps the rows meanwhile) */
    files_through_t *th; /* per measurement, the last record in a file */
    int n, cap;
};

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* A file name's nanoseconds: the wall clock, made unique across threads (Arc's names carry the
 * time of writing; two flushes in one nanosecond must not collide). */
static uint64_t unique_ns(void)
{
    static _Atomic uint64_t last;
    uint64_t now = clock_wall_ns(), prev = atomic_load(&last);
    for (;;) {
        uint64_t want = now > prev ? now : prev + 1;
        if (atomic_compare_exchange_weak(&last, &prev, want)) return want;
    }
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

/* mkdir -p of path's components after the first skip bytes (which exist); each directory made
 * is made durable by an fsync of its parent. */
static int mkdirs(char *path, size_t skip)
{
    for (char *p = path + skip + 1;; p++) {
        if (*p != '/' && *p) continue;
        char c = *p;
        *p = 0;
        if (mkdir(path, 0755) == 0) {
            char *slash = strrchr(path, '/');
            *slash = 0;
            int rc = fsync_path(path);
            *slash = '/';
            if (rc) {
                *p = c;
                return rc;
            }
        } else if (errno != EEXIST) {
            int rc = -errno;
            *p = c;
            return rc;
        }
        *p = c;
        if (!c) return 0;
    }
}

int files_prepare(const char *dir, char *err, size_t errlen)
{
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%.4000s/.tmp", dir);
    if (mkdir(dir, 0755) && errno != EEXIST)
        return err_fail(err, errlen, -errno, "ingest directory %s: %s", dir, strerror(errno));
    if (mkdir(path, 0755) && errno != EEXIST)
        return err_fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
    DIR *d = opendir(path);
    if (!d) return err_fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') unlinkat(dirfd(d), e->d_name, 0);
    closedir(d);
    return 0;
}

/* Renames DIR/tmp to DIR/fin (both relative): fin's directories made, then the rename, then an
 * fsync of the directory that holds it. With only_if_missing, a rename that already happened
 * (fin exists) or can no longer happen (tmp is gone) is not an error: recovery's case. */
static int place(const char *dir, const char *tmp_rel, const char *fin_rel, bool only_if_missing)
{
    char tmp[PATH_CAP], fin[PATH_CAP];
    snprintf(tmp, sizeof tmp, "%.4000s/%.1000s", dir, tmp_rel);
    snprintf(fin, sizeof fin, "%.4000s/%.1000s", dir, fin_rel);
    if (only_if_missing && (access(fin, F_OK) == 0 || access(tmp, F_OK) != 0)) return 0;
    char *slash = strrchr(fin, '/');
    *slash = 0;
    int rc = mkdirs(fin, strlen(dir));
    *slash = '/';
    if (!rc && rename(tmp, fin)) rc = -errno;
    *slash = 0;
    if (!rc) rc = fsync_path(fin);
    return rc;
}

/* ---- the flushed log ---- */

static int through_set(files_log_t *l, const char *db, const char *meas, uint64_t lsn)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->th[i].db, db) && !strcmp(l->th[i].meas, meas)) {
            if (lsn > l->th[i].lsn) l->th[i].lsn = lsn;
            return 0;
        }
    if (l->n == l->cap) {
        int nc = l->cap ? 2 * l->cap : 16;
        files_through_t *t = realloc(l->th, (size_t)nc * sizeof *t);
        if (!t) return -ENOMEM;
        l->th = t;
        l->cap = nc;
    }
    files_through_t *t = &l->th[l->n];
    if (!(t->db = strdup(db)) || !(t->meas = strdup(meas))) {
        free(t->db);
        return -ENOMEM;
    }
    t->lsn = lsn;
    l->n++;
    return 0;
}

/* Rewrites the log as one line per measurement (temporary file, fsync, rename, fsync). */
static int compact(files_log_t *l, char *err, size_t errlen)
{
    buf_t b;
    buf_init(&b);
    for (int i = 0; i < l->n; i++)
        if (buf_printf(&b, "%" PRIu64 "\t%s\t%s\t0\n", l->th[i].lsn, l->th[i].db, l->th[i].meas)) {
            buf_deinit(&b);
            return err_fail(err, errlen, -ENOMEM, "out of memory");
        }
    char tmp[PATH_CAP], path[PATH_CAP];
    snprintf(tmp, sizeof tmp, "%.4000s/" LOG_NAME ".new", l->dir);
    snprintf(path, sizeof path, "%.4000s/" LOG_NAME, l->dir);
    int rc = 0, fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || (b.len && write(fd, b.data, b.len) != (ssize_t)b.len) || fdatasync(fd) ||
        rename(tmp, path) || (rc = fsync_path(l->dir)))
        rc = err_fail(err, errlen, rc ? rc : -errno, "%s: %s", tmp, strerror(rc ? -rc : errno));
    if (fd >= 0) close(fd);
    if (!rc) {
        if (l->fd >= 0) close(l->fd);
        l->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
        if (l->fd < 0) rc = err_fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
        l->bytes = b.len;
    }
    buf_deinit(&b);
    return rc;
}

/* One line: lsn, db, meas, n, then n pairs of temporary and final paths (relative to DIR), tab
 * separated. Finishes its renames; -EBADMSG for a line that is not one. */
static int recover_line(files_log_t *l, const char *root, char *line)
{
    char *f[8 + 2 * 64], *save = NULL;
    int nf = 0;
    for (char *t = strtok_r(line, "\t", &save); t && nf < (int)(sizeof f / sizeof *f);
         t = strtok_r(NULL, "\t", &save))
        f[nf++] = t;
    if (nf < 4) return -EBADMSG;
    char *end;
    uint64_t lsn = strtoull(f[0], &end, 10);
    long n = strtol(f[3], NULL, 10);
    if (*end || n < 0 || nf != 4 + 2 * n) return -EBADMSG;
    for (long i = 0; i < n; i++) {
        int rc = place(root, f[4 + 2 * i], f[5 + 2 * i], true);
        if (rc) return rc;
    }
    return through_set(l, f[1], f[2], lsn);
}

files_log_t *files_log_open(const char *waldir, files_through_t **th, int *nth, char *err,
                            size_t errlen)
{
    files_log_t *l = calloc(1, sizeof *l);
    char path[PATH_CAP], root[PATH_CAP];
    if (!l || !(l->dir = strdup(waldir))) {
        free(l);
        return err_set(err, errlen, "out of memory"), NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    l->fd = -1;
    snprintf(root, sizeof root, "%.4000s", waldir);
    char *slash = strrchr(root, '/');
    if (slash) *slash = 0;
    snprintf(path, sizeof path, "%.4000s", waldir);
    if (mkdir(root, 0755) && errno != EEXIST) {
        err_set(err, errlen, "ingest directory %s: %s", root, strerror(errno));
        goto fail;
    }
    if (mkdir(path, 0755) && errno != EEXIST) {
        err_set(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    snprintf(path, sizeof path, "%.4000s/" LOG_NAME, waldir);
    FILE *f = fopen(path, "re");
    if (f) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;
        int rc = 0;
        while (!rc && (n = getline(&line, &cap, f)) > 0) {
            if (line[n - 1] != '\n') break; /* torn by a crash: its renames never began */
            line[n - 1] = 0;
            if ((rc = recover_line(l, root, line)) == -EBADMSG)
                err_set(err, errlen, "%s: a line is damaged", path);
            else if (rc)
                err_set(err, errlen, "%s: finishing a flush: %s", path, strerror(-rc));
        }
        free(line);
        fclose(f);
        if (rc) goto fail;
    } else if (errno != ENOENT) {
        err_set(err, errlen, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (compact(l, err, errlen)) goto fail;
    *nth = 0;
    *th = calloc((size_t)(l->n ? l->n : 1), sizeof **th);
    if (!*th) {
        err_set(err, errlen, "out of memory");
        goto fail;
    }
    for (int i = 0; i < l->n; i++) {
        (*th)[i].lsn = l->th[i].lsn;
        if (!((*th)[i].db = strdup(l->th[i].db)) || !((*th)[i].meas = strdup(l->th[i].meas))) {
            files_through_free(*th, i + 1);
            err_set(err, errlen, "out of memory");
            goto fail;
        }
        *nth = i + 1;
    }
    return l;
fail:
    files_log_close(l);
    return NULL;
}

void files_through_free(files_through_t *th, int n)
{
    for (int i = 0; th && i < n; i++) {
        free(th[i].db);
        free(th[i].meas);
    }
    free(th);
}

void files_log_close(files_log_t *l)
{
    if (!l) return;
    if (l->fd >= 0) close(l->fd);
    files_through_free(l->th, l->n);
    pthread_mutex_destroy(&l->mu);
    free(l->dir);
    free(l);
}

/* ---- writing a flush ---- */

typedef struct part {
    char tmp[160];  /* relative to DIR */
    char fin[1024]; /* relative to DIR: names are at most INGEST_NAME_MAX bytes */
} part_t;

static int write_part(const char *dir, pq_codec_t codec, int zstd_level, const job_t *jb,
                      colbuf_t *cb, part_t *pt, uint64_t *bytes, char *err, size_t errlen)
{
    pq_column_t *cols = malloc((size_t)(cb->ncols + 1) * sizeof *cols);
    if (!cols) return err_fail(err, errlen, -ENOMEM, "out of memory");
    int n = colbuf_pq_columns(cb, cols), k = 1;
    if (n < 0) {
        free(cols);
        return err_fail(err, errlen, -ENOMEM, "out of memory");
    }
    /* A column with no value in these rows (named by a write that another measurement's clash
     * refused, or all nulls) stays out of the file. */
    for (int i = 1; i < n; i++)
        if (cb->cols[i - 1].nulls < cb->rows) cols[k++] = cols[i];
    const char *kv[] = {"inferd.database", jb->buf->db, "inferd.measurement", jb->buf->meas, NULL};
    pq_options_t po = {.codec = codec, .zstd_level = zstd_level, .kv = kv};
    buf_t out;
    buf_init(&out);
    int rc = parquet_encode(&out, cols, k, cb->rows, &po, err, errlen);
    free(cols);
    if (rc) {
        buf_deinit(&out);
        return rc;
    }
    time_t secs = (time_t)floor_div(cb->tmin, 1000000000LL);
    struct tm tm;
    gmtime_r(&secs, &tm);
    uint64_t ns = unique_ns();
    const char *m = jb->buf->meas;
    snprintf(pt->tmp, sizeof pt->tmp, ".tmp/%" PRIu64 ".parquet.tmp", ns);
    snprintf(pt->fin, sizeof pt->fin,
             "%s/%s/%04d/%02d/%02d/%02d/%s_%04d%02d%02d_%02d%02d%02d_%" PRIu64 ".parquet",
             jb->buf->db, m, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, m,
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ns);
    char path[PATH_CAP];
    snprintf(path, sizeof path, "%.4000s/%s", dir, pt->tmp);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) rc = -errno;
    for (size_t at = 0; !rc && at < out.len;) {
        ssize_t w = write(fd, out.data + at, out.len - at);
        if (w < 0 && errno != EINTR) rc = -errno;
        if (w > 0) at += (size_t)w;
    }
    if (!rc && fdatasync(fd)) rc = -errno;
    if (fd >= 0) close(fd);
    if (rc) {
        unlink(path);
        err_set(err, errlen, "%s: %s", path, strerror(-rc));
    }
    *bytes += out.len;
    buf_deinit(&out);
    return rc;
}

static int by_hour(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return x[0] != y[0] ? (x[0] < y[0] ? -1 : 1) : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

int files_write(const char *dir, pq_codec_t codec, int zstd_level, files_log_t *log, job_t *jb,
                files_result_t *out, char *err, size_t errlen)
{
    colbuf_t *cb = &jb->cb;
    int64_t h0 = floor_div(cb->tmin, HOUR_NS), h1 = floor_div(cb->tmax, HOUR_NS);
    int nparts = 1, rc = 0;
    part_t one, *parts = &one;
    int64_t *order = NULL;
    *out = (files_result_t){0};
    if (h0 != h1) {
        /* Rows of several hours: one file per hour, each keeping the rows' arrival order. */
        order = malloc((size_t)cb->rows * 2 * sizeof *order);
        if (!order) return err_fail(err, errlen, -ENOMEM, "out of memory");
        for (int64_t r = 0; r < cb->rows; r++) {
            order[2 * r] = floor_div(cb->time[r], HOUR_NS);
            order[2 * r + 1] = r;
        }
        qsort(order, (size_t)cb->rows, 2 * sizeof *order, by_hour);
        nparts = 1;
        for (int64_t r = 1; r < cb->rows; r++) nparts += order[2 * r] != order[2 * r - 2];
        if (!(parts = calloc((size_t)nparts, sizeof *parts))) {
            free(order);
            return err_fail(err, errlen, -ENOMEM, "out of memory");
        }
        int64_t *idx = malloc((size_t)cb->rows * sizeof *idx);
        if (!idx) rc = err_fail(err, errlen, -ENOMEM, "out of memory");
        for (int64_t r = 0, p = 0; !rc && r < cb->rows; p++) {
            int64_t e = r;
            while (e < cb->rows && order[2 * e] == order[2 * r]) idx[e - r] = order[2 * e + 1], e++;
            colbuf_t sub;
            colbuf_init(&sub);
            if (colbuf_gather(&sub, cb, idx, e - r))
                rc = err_fail(err, errlen, -ENOMEM, "out of memory");
            else
                rc = write_part(dir, codec, zstd_level, jb, &sub, &parts[p], &out->bytes, err,
                                errlen);
            colbuf_free(&sub);
            if (!rc) out->files++;
            r = e;
        }
        free(idx);
    } else {
        rc = write_part(dir, codec, zstd_level, jb, cb, parts, &out->bytes, err, errlen);
        if (!rc) out->files = 1;
    }
    free(order);
    if (rc) {
        for (int p = 0; p < out->files; p++) {
            char path[PATH_CAP];
            snprintf(path, sizeof path, "%.4000s/%s", dir, parts[p].tmp);
            unlink(path);
        }
        if (parts != &one) free(parts);
        return rc;
    }

    if (log) {
        pthread_mutex_lock(&log->mu);
        buf_t line;
        buf_init(&line);
        rc = buf_printf(&line, "%" PRIu64 "\t%s\t%s\t%d", jb->max_lsn, jb->buf->db, jb->buf->meas,
                        nparts);
        for (int p = 0; !rc && p < nparts; p++)
            rc = buf_printf(&line, "\t%s\t%s", parts[p].tmp, parts[p].fin);
        if (!rc) rc = buf_puts(&line, "\n");
        if (log->failed)
            rc = err_fail(err, errlen, -EIO, "the flushed log failed earlier: restart to recover");
        else if (rc)
            rc = err_fail(err, errlen, -ENOMEM, "out of memory");
        else if (write(log->fd, line.data, line.len) != (ssize_t)line.len || fdatasync(log->fd))
            rc = err_fail(err, errlen, -errno, "%s/" LOG_NAME ": %s", log->dir, strerror(errno));
        if (rc) log->failed = true;
        log->bytes += line.len;
        buf_deinit(&line);
    }
    /* Once the log line is durable the renames must happen: a failure now is reported, and the
     * log's recovery finishes them at the next start. */
    for (int p = 0; !rc && p < nparts; p++)
        if ((rc = place(dir, parts[p].tmp, parts[p].fin, false)))
            err_set(err, errlen, "renaming %s into place: %s", parts[p].fin, strerror(-rc));
    if (log) {
        if (rc) log->failed = true;
        if (!rc) rc = through_set(log, jb->buf->db, jb->buf->meas, jb->max_lsn);
        if (!rc && log->bytes > LOG_COMPACT) rc = compact(log, err, errlen);
        pthread_mutex_unlock(&log->mu);
    }
    if (parts != &one) free(parts);
    return rc;
}
