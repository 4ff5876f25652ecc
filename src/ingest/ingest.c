/* Event ingestion: buffers, flushes, the journal writer and replay (ingest.h). Files are made
 * by files.c.
 *
 * One lock (mu) guards the buffers, the flush queue and the counters; what happens under it is
 * lookups and memcpy (merging a request's decoded columns), never parsing or I/O. Decoding runs
 * on the caller's thread beforehand, Parquet encoding and file writes on the flush threads. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest/files.h"
#include "ingest/ingest_impl.h"
#include "store/journal.h"
#include "util/clock.h"
#include "util/err.h"
#include "util/log.h"

#define WAL_TABLE  1  /* the journal's table id for a write (the ingest journal holds no other) */
#define WAL_HEADER 24 /* u8 version, u8 format, u16 db length, u32 0, i64 unit, i64 now */
#define RETRY_MS   1000

struct ingest {
    ingest_opts_t o;
    char *dir;
    pthread_mutex_t mu;
    pthread_cond_t cv_job, cv_idle, cv_wal, cv_timer;

    ibuf_t **slots; /* hash of (db, measurement) -> buffer, chained */
    int nslots, nbufs;
    ibuf_t *bufs; /* every buffer, for the timer's scan */

    job_t *jq, *jq_tail; /* flushes waiting for a thread */
    job_t *running;      /* flushes being written */
    _Atomic size_t mem;
    bool stopping; /* no more writes */
    bool quit;     /* flush threads exit once the queue is empty */
    int flush_failing;

    pthread_t *flushers;
    int nflushers;
    pthread_t timer;
    bool timer_on;

    /* wal */
    journal_t *j;
    pthread_t walw;
    bool walw_on, wal_quit;
    ingest_req_t *wq, *wq_tail;
    uint64_t applying; /* first LSN of the group being journaled and merged, 0: none */
    files_log_t *log;

    ingest_stats_t st; /* counters, under mu */
    uint64_t lost;
};

/* ---- buffers ---- */

static uint32_t key_hash(const char *db, const char *m)
{
    uint32_t h = 2166136261u;
    for (const char *p = db; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    h = (h ^ 0xff) * 16777619u;
    for (const char *p = m; *p; p++) h = (h ^ (unsigned char)*p) * 16777619u;
    return h;
}

/* The buffer of (db, m), made if new; NULL when max_measurements are taken or memory is out. */
static ibuf_t *buf_get(ingest_t *g, const char *db, const char *m, bool make)
{
    uint32_t h = key_hash(db, m);
    for (ibuf_t *b = g->slots[h & (uint32_t)(g->nslots - 1)]; b; b = b->hnext)
        if (b->hash == h && !strcmp(b->db, db) && !strcmp(b->meas, m)) return b;
    if (!make || g->nbufs >= g->o.max_measurements) return NULL;
    ibuf_t *b = calloc(1, sizeof *b);
    if (!b || !(b->db = strdup(db)) || !(b->meas = strdup(m))) {
        if (b) free(b->db);
        free(b);
        return NULL;
    }
    b->hash = h;
    colbuf_init(&b->cb);
    if (2 * (g->nbufs + 1) > g->nslots) {
        int ns = 2 * g->nslots;
        ibuf_t **s = calloc((size_t)ns, sizeof *s);
        if (s) {
            for (ibuf_t *x = g->bufs; x; x = x->next) {
                x->hnext = s[x->hash & (uint32_t)(ns - 1)];
                s[x->hash & (uint32_t)(ns - 1)] = x;
            }
            free(g->slots);
            g->slots = s;
            g->nslots = ns;
        }
    }
    b->hnext = g->slots[h & (uint32_t)(g->nslots - 1)];
    g->slots[h & (uint32_t)(g->nslots - 1)] = b;
    b->next = g->bufs;
    g->bufs = b;
    g->nbufs++;
    return b;
}

/* Puts a flush at the end of the queue and wakes a flush thread (under mu). */
static void enqueue(ingest_t *g, job_t *jb)
{
    jb->next = NULL;
    if (g->jq_tail)
        g->jq_tail->next = jb;
    else
        g->jq = jb;
    g->jq_tail = jb;
    pthread_cond_signal(&g->cv_job);
}

/* Hands b's rows to the flush threads (under mu); b starts over, empty. */
static void detach(ingest_t *g, ibuf_t *b)
{
    if (b->cb.rows == 0) return;
    job_t *jb = calloc(1, sizeof *jb);
    if (!jb) return; /* the timer tries again */
    jb->buf = b;
    colbuf_move(&jb->cb, &b->cb);
    b->cb.expect = jb->cb.rows; /* a buffer that filled once likely fills again */
    jb->min_lsn = b->min_lsn;
    jb->max_lsn = b->max_lsn;
    jb->bytes = b->bytes;
    jb->first_ns = b->first_ns;
    b->min_lsn = b->max_lsn = 0;
    b->bytes = 0;
    b->first_ns = 0;
    enqueue(g, jb);
}

/* Merges a request's rows of one measurement into b (under mu, checked beforehand). */
static int merge(ingest_t *g, ibuf_t *b, colbuf_t *src, uint64_t lsn)
{
    if (src->rows == 0) return 0;
    if (colbuf_merge(&b->cb, src)) return ERR_NOMEM;
    if (!b->first_ns) b->first_ns = clock_mono_ns();
    if (lsn && !b->min_lsn) b->min_lsn = lsn;
    if (lsn) b->max_lsn = lsn;
    size_t now = colbuf_bytes(&b->cb);
    atomic_fetch_add(&g->mem, now - b->bytes); /* grows only: wraps correctly either way */
    b->bytes = now;
    /* A buffer holding a quarter of the cap goes early: the cap must leave room to flush it. */
    if (b->cb.rows >= g->o.flush_records || b->bytes >= g->o.max_bytes / 4) detach(g, b);
    return 0;
}

/* Checks every measurement of r against its buffer (under mu): 0, or an error code with the
 * message in err. declare: add r's new columns to the buffers now, so that a later request of
 * the same journal group is checked against them. */
static int check_req(ingest_t *g, ingest_req_t *r, ibuf_t **bs, bool declare, char *err,
                     size_t errlen)
{
    for (int i = 0; i < r->nms; i++) {
        if (!(bs[i] = buf_get(g, r->db, r->ms[i].name, true)))
            return err_fail(err, errlen, ERR_BUSY,
                            "more than ingest_max_measurements (%d) measurements",
                            g->o.max_measurements);
        char why[300];
        if (colbuf_check_merge(&bs[i]->cb, &r->ms[i].cb, why, sizeof why))
            return err_fail(err, errlen, ERR_INVALID, "measurement \"%s\": %s", r->ms[i].name, why);
    }
    if (declare)
        for (int i = 0; i < r->nms; i++)
            if (colbuf_declare(&bs[i]->cb, &r->ms[i].cb))
                return err_fail(err, errlen, ERR_NOMEM, "out of memory");
    return 0;
}

static int merge_req(ingest_t *g, ingest_req_t *r, ibuf_t **bs, uint64_t lsn)
{
    for (int i = 0; i < r->nms; i++) {
        int rc = merge(g, bs[i], &r->ms[i].cb, lsn);
        if (rc) return rc;
    }
    g->st.requests++;
    g->st.rows += (uint64_t)r->rows;
    return 0;
}

/* The lowest LSN a buffer, a flush or the writer still needs (under mu): the journal may drop
 * everything below it. */
static uint64_t needed_lsn(ingest_t *g)
{
    uint64_t low = g->applying ? g->applying : UINT64_MAX;
    for (ibuf_t *b = g->bufs; b; b = b->next)
        if (b->min_lsn && b->min_lsn < low) low = b->min_lsn;
    for (job_t *x = g->jq; x; x = x->next)
        if (x->min_lsn && x->min_lsn < low) low = x->min_lsn;
    for (job_t *x = g->running; x; x = x->next)
        if (x->min_lsn && x->min_lsn < low) low = x->min_lsn;
    return low == UINT64_MAX ? journal_next_lsn(g->j) : low;
}

/* ---- flush threads ---- */

static void unlink_running(ingest_t *g, job_t *jb)
{
    for (job_t **p = &g->running; *p; p = &(*p)->next)
        if (*p == jb) {
            *p = jb->next;
            break;
        }
}

static void *flusher(void *arg)
{
    ingest_t *g = arg;
    pthread_setname_np(pthread_self(), "inferd-flush");
    pthread_mutex_lock(&g->mu);
    for (;;) {
        while (!g->jq && !g->quit) pthread_cond_wait(&g->cv_job, &g->mu);
        if (!g->jq) break;
        job_t *jb = g->jq;
        if (!(g->jq = jb->next)) g->jq_tail = NULL;
        jb->next = g->running;
        g->running = jb;
        pthread_mutex_unlock(&g->mu);

        files_result_t fr = {0};
        char err[512];
        int rc = files_write(g->dir, g->o.codec, g->o.zstd_level, g->log, jb, &fr, err, sizeof err);

        pthread_mutex_lock(&g->mu);
        if (rc) {
            g->st.flush_errors++;
            g->flush_failing = rc;
            jb->attempts++;
            log_error("ingest: flushing %lld rows of %s/%s failed (attempt %d): %s",
                      (long long)jb->cb.rows, jb->buf->db, jb->buf->meas, jb->attempts, err);
            if (g->quit && jb->attempts >= 3) {
                /* Giving up at shutdown: under wal the journal still has the rows. */
                unlink_running(g, jb);
                if (!g->j) g->lost += (uint64_t)jb->cb.rows;
                atomic_fetch_sub(&g->mem, jb->bytes);
                colbuf_free(&jb->cb);
                free(jb);
            } else {
                /* Still on the running list while it waits: the journal must keep its rows, and
                 * a flush_all must wait for it. */
                pthread_mutex_unlock(&g->mu);
                usleep(RETRY_MS * 1000);
                pthread_mutex_lock(&g->mu);
                unlink_running(g, jb);
                enqueue(g, jb);
            }
        } else {
            unlink_running(g, jb);
            g->flush_failing = 0;
            g->st.flushes++;
            g->st.files += (uint64_t)fr.files;
            g->st.file_bytes += fr.bytes;
            atomic_fetch_sub(&g->mem, jb->bytes);
            colbuf_free(&jb->cb);
            free(jb);
        }
        if (g->j) journal_release(g->j, needed_lsn(g));
        pthread_cond_broadcast(&g->cv_idle);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* Starts a flush of every buffer older than flush_ms, every tick. */
static void *timer(void *arg)
{
    ingest_t *g = arg;
    pthread_setname_np(pthread_self(), "inferd-ingtick");
    int64_t tick = g->o.flush_ms / 4;
    if (tick > 250) tick = 250;
    if (tick < 1) tick = 1;
    pthread_mutex_lock(&g->mu);
    while (!g->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)(tick % 1000) * 1000000L;
        ts.tv_sec += tick / 1000 + ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&g->cv_timer, &g->mu, &ts);
        uint64_t now = clock_mono_ns();
        for (ibuf_t *b = g->bufs; b; b = b->next)
            if (b->cb.rows && now - b->first_ns >= (uint64_t)g->o.flush_ms * 1000000u) detach(g, b);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* ---- wal: the journal writer ---- */

static size_t wal_record(const ingest_req_t *r, const char *body, size_t len, char *out)
{
    size_t dl = strlen(r->db);
    out[0] = 1;
    out[1] = (char)r->format;
    out[2] = (char)(dl & 0xff);
    out[3] = (char)(dl >> 8);
    memset(out + 4, 0, 4);
    memcpy(out + 8, &r->unit_ns, 8);
    memcpy(out + 16, &r->now_ns, 8);
    memcpy(out + WAL_HEADER, r->db, dl);
    memcpy(out + WAL_HEADER + dl, body, len);
    return WAL_HEADER + dl + len;
}

static void *wal_writer(void *arg)
{
    ingest_t *g = arg;
    pthread_setname_np(pthread_self(), "inferd-ingwal");
    pthread_mutex_lock(&g->mu);
    for (;;) {
        while (!g->wq && !g->wal_quit) pthread_cond_wait(&g->cv_wal, &g->mu);
        if (!g->wq) break;
        ingest_req_t *group = g->wq;
        g->wq = g->wq_tail = NULL;
        int n = 0, nok = 0;
        size_t bytes = 0;
        for (ingest_req_t *r = group; r; r = r->next) n++;
        ibuf_t ***bs = calloc((size_t)n, sizeof *bs);
        journal_rec_t *recs = calloc((size_t)n, sizeof *recs);
        int i = 0;
        for (ingest_req_t *r = group; r; r = r->next, i++) {
            if (!bs || !recs || !(bs[i] = calloc((size_t)(r->nms ? r->nms : 1), sizeof **bs))) {
                r->code = err_fail(r->msg, sizeof r->msg, ERR_NOMEM, "out of memory");
                continue;
            }
            r->code = check_req(g, r, bs[i], true, r->msg, sizeof r->msg);
            if (!r->code) nok++, bytes += WAL_HEADER + strlen(r->db) + r->len;
        }
        g->applying = journal_next_lsn(g->j);
        pthread_mutex_unlock(&g->mu);

        /* One record per write, every accepted write of the group in one append (one
         * fdatasync). */
        char *scratch = nok ? malloc(bytes) : NULL;
        int rc = nok && !scratch ? -ENOMEM : 0, k = 0;
        char err[256] = "";
        if (nok && scratch) {
            size_t at = 0;
            for (ingest_req_t *r = group; r; r = r->next) {
                if (r->code) continue;
                size_t len = wal_record(r, r->body, r->len, scratch + at);
                recs[k++] = (journal_rec_t){WAL_TABLE, scratch + at, len, false};
                at += len;
            }
        }
        uint64_t first = 0;
        if (nok && !rc) rc = journal_append(g->j, recs, k, &first, err, sizeof err);

        pthread_mutex_lock(&g->mu);
        i = 0;
        k = 0;
        for (ingest_req_t *r = group; r; r = r->next, i++) {
            if (r->code) continue;
            if (rc)
                r->code = err_fail(r->msg, sizeof r->msg,
                                   rc == -ENOBUFS || rc == -ENOSPC ? ERR_BUSY : ERR_UNAVAILABLE,
                                   "ingest journal: %s", err[0] ? err : strerror(-rc));
            else
                r->code = merge_req(g, r, bs[i], first + (uint64_t)k++);
        }
        g->applying = 0;
        for (ingest_req_t *r = group; r; r = r->next) {
            atomic_fetch_sub(&g->mem, r->bytes);
            if (r->code) g->st.rejected++;
        }
        pthread_mutex_unlock(&g->mu);
        for (i = 0; i < n; i++) free(bs ? bs[i] : NULL);
        free(bs);
        free(recs);
        free(scratch);
        while (group) {
            ingest_req_t *r = group;
            group = r->next;
            r->done(r->arg, r->code, r->msg);
            ingest_req_free(r);
        }
        pthread_mutex_lock(&g->mu);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* ---- writes ---- */

int ingest_submit(ingest_t *g, ingest_req_t *r, const char *body, size_t len, ingest_done_fn done,
                  void *arg, char *err, size_t errlen)
{
    int rc = 0;
    if (g->j && len + WAL_HEADER + INGEST_NAME_MAX > JOURNAL_MAX_RECORD) {
        ingest_req_free(r);
        return err_fail(err, errlen, ERR_TOO_LARGE, "body larger than the journal's %u bytes",
                        JOURNAL_MAX_RECORD);
    }
    size_t mem = atomic_load(&g->mem);
    pthread_mutex_lock(&g->mu);
    if (g->stopping) {
        rc = err_fail(err, errlen, ERR_SHUTDOWN, "shutting down");
    } else if (r->bytes > g->o.max_bytes / 2) {
        rc = err_fail(err, errlen, ERR_TOO_LARGE,
                      "the write's rows take %zu bytes decoded, more than half of "
                      "ingest_max_bytes (%zu): split it",
                      r->bytes, g->o.max_bytes);
    } else if (mem + r->bytes > g->o.max_bytes) {
        rc = err_fail(err, errlen, ERR_BUSY,
                      "ingest buffers are full (%zu of ingest_max_bytes %zu bytes): retry", mem,
                      g->o.max_bytes);
    } else if (g->j) {
        atomic_fetch_add(&g->mem, r->bytes);
        r->body = body;
        r->len = len;
        r->done = done;
        r->arg = arg;
        r->next = NULL;
        if (g->wq_tail)
            g->wq_tail->next = r;
        else
            g->wq = r;
        g->wq_tail = r;
        pthread_cond_signal(&g->cv_wal);
        pthread_mutex_unlock(&g->mu);
        return 1;
    } else {
        ibuf_t *one, **bs = r->nms <= 1 ? &one : malloc((size_t)r->nms * sizeof *bs);
        if (!bs)
            rc = err_fail(err, errlen, ERR_NOMEM, "out of memory");
        else if (!(rc = check_req(g, r, bs, false, err, errlen)) && (rc = merge_req(g, r, bs, 0)))
            err_set(err, errlen, "out of memory");
        if (bs != &one) free(bs);
    }
    if (rc) g->st.rejected++;
    pthread_mutex_unlock(&g->mu);
    ingest_req_free(r);
    return rc;
}

bool ingest_full(ingest_t *g)
{
    return atomic_load(&g->mem) >= g->o.max_bytes;
}

/* ---- replay ---- */

static int replay(ingest_t *g, char *err, size_t errlen)
{
    journal_stats_t js;
    journal_stats(g->j, &js);
    journal_cursor_t *c = journal_cursor_open(g->j, js.released_lsn, err, errlen);
    if (!c) return -EIO;
    uint64_t lsn;
    journal_rec_t rec;
    int rc;
    int64_t rows = 0;
    while ((rc = journal_cursor_next(c, &lsn, &rec, err, errlen)) == 1) {
        const unsigned char *p = rec.data;
        if (rec.table != WAL_TABLE || rec.len < WAL_HEADER || p[0] != 1) {
            rc = err_fail(err, errlen, -EBADMSG, "journal record %" PRIu64 " is not a write", lsn);
            break;
        }
        size_t dl = (size_t)p[2] | (size_t)p[3] << 8;
        int64_t unit, now;
        memcpy(&unit, p + 8, 8);
        memcpy(&now, p + 16, 8);
        char db[INGEST_NAME_MAX + 1];
        if (dl > INGEST_NAME_MAX || WAL_HEADER + dl > rec.len) {
            rc = err_fail(err, errlen, -EBADMSG, "journal record %" PRIu64 " is damaged", lsn);
            break;
        }
        memcpy(db, p + WAL_HEADER, dl);
        db[dl] = 0;
        int code;
        char why[300];
        ingest_req_t *r =
            ingest_decode(db, (ingest_format_t)p[1], unit, now, (const char *)p + WAL_HEADER + dl,
                          rec.len - WAL_HEADER - dl, &code, why, sizeof why);
        if (!r) {
            rc = err_fail(err, errlen, -EBADMSG, "journal record %" PRIu64 ": %s", lsn, why);
            break;
        }
        rc = 0;
        pthread_mutex_lock(&g->mu);
        /* The journal may not release past the cursor: flushes run during the replay. */
        g->applying = lsn;
        for (int i = 0; i < r->nms && !rc; i++) {
            ibuf_t *b = buf_get(g, r->db, r->ms[i].name, true);
            if (!b) {
                rc = err_fail(err, errlen, -ENOMEM, "replay: too many measurements");
            } else if (lsn > b->through) {
                /* Rows that went to separate files the first time (a flush had taken the buffer)
                 * may clash here: close this buffer's rows first, as then. */
                if (colbuf_check_merge(&b->cb, &r->ms[i].cb, why, sizeof why)) detach(g, b);
                rc = merge(g, b, &r->ms[i].cb, lsn);
                rows += r->ms[i].cb.rows;
            }
        }
        pthread_mutex_unlock(&g->mu);
        ingest_req_free(r);
        if (rc) break;
    }
    pthread_mutex_lock(&g->mu);
    g->applying = 0;
    pthread_mutex_unlock(&g->mu);
    journal_cursor_close(c);
    if (rc < 0) return rc;
    g->st.replayed_rows = (uint64_t)rows;
    if (rows) log_info("ingest: replayed %lld rows from the journal", (long long)rows);
    return ingest_flush_all(g);
}

/* ---- open, flush, close ---- */

int ingest_flush_all(ingest_t *g)
{
    pthread_mutex_lock(&g->mu);
    for (ibuf_t *b = g->bufs; b; b = b->next) detach(g, b);
    while ((g->jq || g->running) && !g->flush_failing) pthread_cond_wait(&g->cv_idle, &g->mu);
    int rc = g->flush_failing;
    pthread_mutex_unlock(&g->mu);
    return rc;
}

static void stop_threads(ingest_t *g)
{
    pthread_mutex_lock(&g->mu);
    g->stopping = true;
    g->wal_quit = true;
    pthread_cond_broadcast(&g->cv_wal);
    pthread_cond_broadcast(&g->cv_timer);
    pthread_mutex_unlock(&g->mu);
    if (g->walw_on) pthread_join(g->walw, NULL);
    if (g->timer_on) pthread_join(g->timer, NULL);
    g->walw_on = g->timer_on = false;
}

static void free_all(ingest_t *g)
{
    for (ibuf_t *b = g->bufs, *n; b; b = n) {
        n = b->next;
        colbuf_free(&b->cb);
        free(b->db);
        free(b->meas);
        free(b);
    }
    files_log_close(g->log);
    journal_close(g->j);
    pthread_mutex_destroy(&g->mu);
    pthread_cond_destroy(&g->cv_job);
    pthread_cond_destroy(&g->cv_idle);
    pthread_cond_destroy(&g->cv_wal);
    pthread_cond_destroy(&g->cv_timer);
    free(g->slots);
    free(g->flushers);
    free(g->dir);
    free(g);
}

uint64_t ingest_close(ingest_t *g)
{
    if (!g) return 0;
    stop_threads(g);
    pthread_mutex_lock(&g->mu);
    for (ibuf_t *b = g->bufs; b; b = b->next) detach(g, b);
    g->quit = true;
    pthread_cond_broadcast(&g->cv_job);
    pthread_mutex_unlock(&g->mu);
    for (int i = 0; i < g->nflushers; i++) pthread_join(g->flushers[i], NULL);
    uint64_t lost = g->lost;
    if (lost)
        log_error("ingest: %llu acknowledged rows could not be written", (unsigned long long)lost);
    free_all(g);
    return lost;
}

ingest_t *ingest_open(const ingest_opts_t *o, char *err, size_t errlen)
{
    ingest_t *g = calloc(1, sizeof *g);
    if (!g) return err_set(err, errlen, "out of memory"), NULL;
    g->o = *o;
    if (g->o.flush_records <= 0) g->o.flush_records = 50000;
    if (g->o.flush_ms <= 0) g->o.flush_ms = 5000;
    if (!g->o.max_bytes) g->o.max_bytes = (size_t)1 << 30;
    if (g->o.flush_threads <= 0) g->o.flush_threads = 2;
    if (g->o.max_measurements <= 0) g->o.max_measurements = 10000;
    pthread_mutex_init(&g->mu, NULL);
    pthread_cond_init(&g->cv_job, NULL);
    pthread_cond_init(&g->cv_idle, NULL);
    pthread_cond_init(&g->cv_wal, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cv_timer, &ca);
    pthread_condattr_destroy(&ca);
    g->nslots = 64;
    g->slots = calloc((size_t)g->nslots, sizeof *g->slots);
    g->flushers = calloc((size_t)g->o.flush_threads, sizeof *g->flushers);
    if (!(g->dir = strdup(o->dir)) || !g->slots || !g->flushers) {
        err_set(err, errlen, "out of memory");
        goto fail;
    }
    if (strlen(g->dir) > 4000) { /* files.c's paths hold it and a file's relative path */
        err_set(err, errlen, "ingest directory: longer than 4,000 bytes");
        goto fail;
    }
    if (g->o.durability == INGEST_WAL) {
        char jdir[4200];
        snprintf(jdir, sizeof jdir, "%s/.wal", g->dir);
        /* Finish what the log says was flushed, and learn per measurement how far. */
        files_through_t *th = NULL;
        int nth = 0;
        if (!(g->log = files_log_open(jdir, &th, &nth, err, errlen))) goto fail;
        for (int i = 0; i < nth; i++) {
            ibuf_t *b = buf_get(g, th[i].db, th[i].meas, true);
            if (b) b->through = th[i].lsn;
        }
        files_through_free(th, nth);
        journal_opts_t jo = {o->journal_segment_bytes, o->journal_max_bytes};
        char jerr[400];
        if (!(g->j = journal_open(jdir, &jo, jerr, sizeof jerr))) {
            err_set(err, errlen, "ingest journal %s: %s", jdir, jerr);
            goto fail;
        }
    }
    /* After the log's recovery, which may still need a temporary file. */
    if (files_prepare(g->dir, err, errlen)) goto fail;
    for (; g->nflushers < g->o.flush_threads; g->nflushers++)
        if (pthread_create(&g->flushers[g->nflushers], NULL, flusher, g)) {
            err_set(err, errlen, "cannot start the flush threads");
            goto fail_threads;
        }
    if (g->j) {
        int rc = replay(g, err, errlen);
        if (rc) goto fail_threads;
        if (pthread_create(&g->walw, NULL, wal_writer, g)) {
            err_set(err, errlen, "cannot start the journal writer");
            goto fail_threads;
        }
        g->walw_on = true;
    }
    if (pthread_create(&g->timer, NULL, timer, g)) {
        err_set(err, errlen, "cannot start the flush timer");
        goto fail_threads;
    }
    g->timer_on = true;
    return g;
fail_threads:
    stop_threads(g);
    pthread_mutex_lock(&g->mu);
    g->quit = true;
    pthread_cond_broadcast(&g->cv_job);
    pthread_mutex_unlock(&g->mu);
    for (int i = 0; i < g->nflushers; i++) pthread_join(g->flushers[i], NULL);
fail:
    free_all(g);
    return NULL;
}

void ingest_stats(ingest_t *g, ingest_stats_t *s)
{
    pthread_mutex_lock(&g->mu);
    *s = g->st;
    uint64_t now = clock_mono_ns(), oldest = 0;
    int64_t rows = 0, flushing = 0;
    for (ibuf_t *b = g->bufs; b; b = b->next)
        if (b->cb.rows) {
            rows += b->cb.rows;
            if (!oldest || b->first_ns < oldest) oldest = b->first_ns;
        }
    for (int pass = 0; pass < 2; pass++)
        for (job_t *x = pass ? g->running : g->jq; x; x = x->next) {
            flushing += x->cb.rows;
            if (!oldest || x->first_ns < oldest) oldest = x->first_ns;
        }
    pthread_mutex_unlock(&g->mu);
    s->buffered_rows = rows + flushing;
    s->flushing_rows = flushing;
    s->mem_bytes = atomic_load(&g->mem);
    s->oldest_s = oldest ? (double)(now - oldest) / 1e9 : 0;
}
