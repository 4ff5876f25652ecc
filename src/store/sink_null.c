/* Null sink, "null:" or "null:MICROSECONDS": keeps nothing, and each commit takes the given time
 * asleep (no CPU, like a disk whose flush costs that much). It exists to take the database out
 * of a measurement: with it the store's queue, group commit and callbacks run as usual, so a
 * benchmark shows what the serving path costs with durable acknowledgements and how much a given
 * commit latency alone takes away (docs/benchmarks.md). Acknowledged records are discarded:
 * never for production, and inferd says so at start.
 *
 * For tests, "null:US?refuse=TEXT" refuses (-EBADMSG, as a database refuses a value) every
 * batch holding a row with a text or JSON value that contains TEXT, as a real sink does for data it
 * cannot store; "&dead=refuse" makes the dead-letter table refuse them too. */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "store/sink.h"
#include "util/log.h"

#define MAX_DELAY_US 1000000

struct sink {
    long delay_us;
    char *refuse; /* NULL, or refuse records whose input contains this */
    bool dead_refuses;
    uint64_t applied, applied_next; /* journal mode: applied LSN, and set_applied's */
};

static bool refused(const sink_t *k, const store_table_t *t, const store_value_t *row)
{
    for (int c = 0; k->refuse && c < t->ncols; c++)
        if ((t->cols[c].type == ST_TEXT || t->cols[c].type == ST_JSON) && row[c].s &&
            memmem(row[c].s, row[c].len, k->refuse, strlen(k->refuse)))
            return true;
    return false;
}

static int null_open(const char *target, const store_opts_t *o, sink_t **out, char *err,
                     size_t errlen)
{
    (void)o;
    long us = 0;
    const char *q = strchr(target, '?'), *refuse = NULL;
    bool dead_refuses = false;
    if (q) {
        const char *amp = strstr(q, "&dead=refuse");
        dead_refuses = amp && amp[12] == 0;
        if (strncmp(q, "?refuse=", 8) == 0 && q[8] && q[8] != '&') refuse = q + 8;
    }
    bool bad = q && !refuse;
    if (*target && target != q) {
        char *end;
        errno = 0;
        us = strtol(target, &end, 10);
        bad = bad || errno || (*end && end != q) || end == target || us < 0 || us > MAX_DELAY_US;
    }
    if (bad) {
        snprintf(err, errlen,
                 "store: null:%s: expected null: or null:MICROSECONDS (0 to %d), the time each "
                 "commit takes (tests add ?refuse=TEXT[&dead=refuse])",
                 target, MAX_DELAY_US);
        return -EINVAL;
    }
    sink_t *k = malloc(sizeof *k);
    if (!k) {
        snprintf(err, errlen, "store: out of memory");
        return -ENOMEM;
    }
    k->delay_us = us;
    k->dead_refuses = dead_refuses;
    k->refuse = refuse ? strndup(refuse, dead_refuses ? (size_t)(strstr(refuse, "&dead=") - refuse)
                                                      : strlen(refuse))
                       : NULL;
    log_warn("store: null sink: records are discarded, each commit takes %ld us (benchmarking "
             "only)",
             us);
    *out = k;
    return 0;
}

static int null_migrate(sink_t *k, const store_table_t *const *tables, int n, char *err,
                        size_t errlen)
{
    (void)k, (void)tables, (void)n, (void)err, (void)errlen;
    return 0;
}

static int null_write_batch(sink_t *k, const store_table_t *t, const store_value_t *const *rows,
                            int n, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        if (refused(k, t, rows[i])) {
            snprintf(err, errlen, "null: row %s holds \"%s\" (refused for the test)", rows[i][0].s,
                     k->refuse);
            return -EBADMSG;
        }
    }
    /* A sleep overshoots by the thread's timer slack (50 us by default), which would make
     * null:100 stand for a slower disk than it says; an fsync's wake-up is an interrupt. */
    static _Thread_local bool slack_set;
    if (!slack_set) {
        prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
        slack_set = true;
    }
    struct timespec ts = {.tv_sec = k->delay_us / 1000000, .tv_nsec = k->delay_us % 1000000 * 1000};
    while (k->delay_us && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    if (k->applied_next) k->applied = k->applied_next, k->applied_next = 0;
    return 0;
}

static int null_write_dead(sink_t *k, const store_table_t *t, const store_value_t *const *rows,
                           int n, const char *why, char *err, size_t errlen)
{
    (void)t, (void)rows, (void)n, (void)why;
    if (!k->dead_refuses) {
        if (k->applied_next) k->applied = k->applied_next, k->applied_next = 0;
        return 0;
    }
    snprintf(err, errlen, "null: the dead-letter table refuses too (for the test)");
    return -EBADMSG;
}

/* Journal mode over null: the applied LSN lives in memory (benchmarks start from an empty
 * journal directory). */
static int null_applied_lsn(sink_t *k, const char *journal, uint64_t *out)
{
    (void)journal;
    *out = k->applied;
    return 0;
}

static void null_set_applied(sink_t *k, const char *journal, uint64_t lsn)
{
    (void)journal;
    k->applied_next = lsn;
}

static int null_get(sink_t *k, const char *id, sink_row_fn fn, void *arg)
{
    (void)k, (void)id, (void)fn, (void)arg;
    return -ENOENT;
}

static int null_list(sink_t *k, const sink_query_t *q, sink_row_fn fn, void *arg)
{
    (void)k, (void)q, (void)fn, (void)arg;
    return 0;
}

static void null_close(sink_t *k)
{
    if (k) free(k->refuse);
    free(k);
}

const sink_ops_t sink_null_ops = {
    .scheme = "null",
    .open = null_open,
    .migrate = null_migrate,
    .write_batch = null_write_batch,
    .write_dead = null_write_dead,
    .applied_lsn = null_applied_lsn,
    .set_applied = null_set_applied,
    .get = null_get,
    .list = null_list,
    .close = null_close,
};
