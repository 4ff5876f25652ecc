/* Loading a recommender folder: config.ini, then every file it names, each checked against
 * the others. */
#define _GNU_SOURCE /* qsort_r */
#include "models/recommender.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/vecs.h"

#define REC_FILE_MAX ((size_t)1 << 30) /* items.tsv, users.tsv, items.npy */

/* ========================================================================= config.ini ==== */

typedef struct cfg {
    rec_folder_t *f;
    bool is_rec;
    char msg[200];
} cfg_t;

static const char *const PATH_KEYS[] = {"user_model", "ranker_model", "index",
                                        "vectors",    "items",        "users"};

static char *path_slot(rec_folder_t *f, int i)
{
    char *slots[] = {f->user_model, f->ranker_model, f->index, f->vectors, f->items, f->users};
    return slots[i];
}

bool rec_folder_key(const char *name)
{
    for (size_t i = 0; i < sizeof PATH_KEYS / sizeof *PATH_KEYS; i++)
        if (!strcmp(name, PATH_KEYS[i])) return true;
    return !strcmp(name, "kind") || !strcmp(name, "max_history") || !strcmp(name, "candidates") ||
           !strcmp(name, "user_cache_mb");
}

static int int_in(const char *v, int lo, int hi, int *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) return -1;
    *out = (int)x;
    return 0;
}

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    cfg_t *c = user;
    if (strcmp(section, "model")) return 1; /* other sections are the repository's business */
    if (!strcmp(name, "kind")) {
        c->is_rec = !strcmp(value, "recommender");
        return 1;
    }
    for (size_t i = 0; i < sizeof PATH_KEYS / sizeof *PATH_KEYS; i++) {
        if (strcmp(name, PATH_KEYS[i])) continue;
        /* Plain names beneath the folder; the opener refuses anything that leaves it anyway. */
        if (!*value || strlen(value) >= REC_PATH_MAX || value[0] == '/') {
            snprintf(c->msg, sizeof c->msg, "%s must be a file name inside the model's folder",
                     name);
            return 0;
        }
        snprintf(path_slot(c->f, (int)i), REC_PATH_MAX, "%s", value);
        return 1;
    }
    struct {
        const char *key;
        int lo, hi, *out;
    } ints[] = {{"max_history", 1, REC_MAX_HISTORY, &c->f->max_history},
                {"candidates", 1, REC_MAX_CANDIDATES, &c->f->candidates},
                {"user_cache_mb", 0, 1 << 20, &c->f->user_cache_mb}};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        if (strcmp(name, ints[i].key)) continue;
        if (int_in(value, ints[i].lo, ints[i].hi, ints[i].out) == 0) return 1;
        snprintf(c->msg, sizeof c->msg, "%s must be an integer from %d to %d", name, ints[i].lo,
                 ints[i].hi);
        return 0;
    }
    return 1; /* durability and the like: the repository's */
}

int rec_folder_read(int dirfd, text_open_fn opener, rec_folder_t *out, char *err, size_t errlen)
{
    char *ini;
    size_t len;
    int rc = text_read_file(dirfd, opener, "config.ini", 1 << 20, &ini, &len, err, errlen);
    if (rc) return rc == -ENOENT ? -ENOENT : -EINVAL;
    *out = (rec_folder_t){.user_model = "user_tower.onnx",
                          .ranker_model = "ranker.onnx",
                          .index = "items.index",
                          .vectors = "items.npy",
                          .items = "items.tsv",
                          .users = "users.tsv",
                          .max_history = 50,
                          .candidates = 100,
                          .user_cache_mb = 16};
    cfg_t c = {.f = out};
    int line = ini_parse_string(ini, on_ini, &c);
    free(ini);
    if (line && c.is_rec)
        return err_fail(err, errlen, -EINVAL, "config.ini:%d: %s", line,
                        c.msg[0] ? c.msg : "syntax error");
    return c.is_rec ? 0 : -ENOENT;
}

/* ====================================================================== the files ==== */

typedef struct loader {
    int dirfd;
    text_open_fn opener;
    char *err;
    size_t errlen;
} loader_t;

/* A line of a TSV file: its fields (at most n, the last one runs to the end of the line). */
static int split(char *line, char **fields, int n)
{
    int k = 0;
    fields[k++] = line;
    for (char *p = line; *p && k < n; p++)
        if (*p == '\t') *p = '\0', fields[k++] = p + 1;
    return k;
}

static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno) return -1;
    *out = v;
    return 0;
}

static int bad_line(loader_t *l, const char *file, int64_t line, const char *why)
{
    return err_fail(l->err, l->errlen, -EINVAL, "%s line %lld: %s", file, (long long)line, why);
}

/* items.tsv: a header line, then row, item id, popularity, mean rating, title per line. */
static int load_items(loader_t *l, rec_model_t *m)
{
    const char *file = m->f.items;
    char *text;
    size_t len;
    if (text_read_file(l->dirfd, l->opener, file, REC_FILE_MAX, &text, &len, l->err, l->errlen))
        return -1;
    int64_t lines = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    size_t cap = (size_t)lines + 1;
    m->item_id = malloc(cap * sizeof *m->item_id);
    m->pop = malloc(cap * sizeof *m->pop);
    m->feat = malloc(cap * 2 * sizeof *m->feat);
    m->title_off = malloc(cap * sizeof *m->title_off);
    m->titles = malloc(len + 1);
    if (!m->item_id || !m->pop || !m->feat || !m->title_off || !m->titles) {
        free(text);
        return err_fail(l->err, l->errlen, -ENOMEM, "out of memory");
    }
    size_t toff = 0;
    int rc = 0;
    int64_t ln = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && !rc;
         line = strtok_r(NULL, "\n", &save)) {
        ln++;
        if (ln == 1 && !strncmp(line, "row\t", 4)) continue;
        char *f[5];
        int64_t row, id, pop;
        char *end;
        if (split(line, f, 5) != 5 || parse_i64(f[0], &row) || parse_i64(f[1], &id) ||
            parse_i64(f[2], &pop) || pop < 0 || pop > INT32_MAX) {
            rc = bad_line(l, file, ln, "expected row, item id, popularity, mean rating, title");
            break;
        }
        double mean = strtod(f[3], &end);
        if (*end || !isfinite(mean) || mean < 0 || mean > 5) {
            rc = bad_line(l, file, ln, "the mean rating must be a number from 0 to 5");
            break;
        }
        int r = m->nitems;
        if (row != r + 1) {
            rc = bad_line(l, file, ln, "rows must be numbered 1, 2, 3... in order");
            break;
        }
        if (i64map_get(&m->item_row, id, NULL)) {
            rc = bad_line(l, file, ln, "the item id appears twice");
            break;
        }
        if (i64map_put(&m->item_row, id, r)) {
            rc = err_fail(l->err, l->errlen, -ENOMEM, "out of memory");
            break;
        }
        m->item_id[r] = id;
        m->pop[r] = (int32_t)pop;
        m->feat[2 * r] = (float)log1p((double)pop);
        m->feat[2 * r + 1] = (float)(mean / 5.0);
        size_t tl = strlen(f[4]);
        if (tl && f[4][tl - 1] == '\r') f[4][--tl] = '\0';
        memcpy(m->titles + toff, f[4], tl + 1);
        m->title_off[r] = (uint32_t)toff;
        toff += tl + 1;
        m->nitems++;
    }
    free(text);
    if (!rc && m->nitems == 0) rc = err_fail(l->err, l->errlen, -EINVAL, "%s has no items", file);
    return rc;
}

/* users.tsv: a header line, then user id and comma-separated item ids (oldest first). */
static int load_users(loader_t *l, rec_model_t *m)
{
    const char *file = m->f.users;
    char *text;
    size_t len;
    if (text_read_file(l->dirfd, l->opener, file, REC_FILE_MAX, &text, &len, l->err, l->errlen))
        return -1;
    int64_t lines = 1, commas = 0;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n', commas += text[i] == ',';
    m->hist_off = malloc((size_t)(lines + 1) * sizeof *m->hist_off);
    m->hist = malloc((size_t)(commas + lines) * sizeof *m->hist);
    if (!m->hist_off || !m->hist) {
        free(text);
        return err_fail(l->err, l->errlen, -ENOMEM, "out of memory");
    }
    int64_t nh = 0, ln = 0;
    int rc = 0;
    m->hist_off[0] = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && !rc;
         line = strtok_r(NULL, "\n", &save)) {
        ln++;
        if (ln == 1 && !strncmp(line, "user_id\t", 8)) continue;
        char *f[2];
        int64_t uid;
        if (split(line, f, 2) != 2 || parse_i64(f[0], &uid)) {
            rc = bad_line(l, file, ln, "expected a user id, a tab and item ids");
            break;
        }
        if (i64map_get(&m->user_at, uid, NULL)) {
            rc = bad_line(l, file, ln, "the user id appears twice");
            break;
        }
        char *save2 = NULL;
        for (char *it = strtok_r(f[1], ",\r", &save2); it; it = strtok_r(NULL, ",\r", &save2)) {
            int64_t id;
            int32_t row;
            if (parse_i64(it, &id) || (row = rec_item_row(m, id)) < 0) {
                rc = bad_line(l, file, ln, "an item id that is not in the items file");
                break;
            }
            m->hist[nh++] = row;
        }
        if (rc) break;
        if (i64map_put(&m->user_at, uid, m->nusers)) {
            rc = err_fail(l->err, l->errlen, -ENOMEM, "out of memory");
            break;
        }
        m->hist_off[++m->nusers] = nh;
    }
    free(text);
    return rc;
}

static int cmp_pop_desc(const void *a, const void *b, void *arg)
{
    const int32_t *pop = arg;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (pop[x] != pop[y]) return pop[x] > pop[y] ? -1 : 1;
    return (x > y) - (x < y);
}

static int open_file(loader_t *l, const char *file)
{
    int fd = l->opener(l->dirfd, file, 0);
    if (fd < 0) err_fail(l->err, l->errlen, fd, "%s: %s", file, eng_open_strerror(fd));
    return fd;
}

/* The tower's output width, from a run on a history of padding only. */
static int tower_dim(const eng_model_t *tower, int L, char *err, size_t errlen)
{
    const eng_io_t *in = eng_model_input(tower, 0);
    if (eng_model_ninputs(tower) != 1 || in->dtype != DT_INT64 || in->rank != 2)
        return err_fail(err, errlen, -EINVAL,
                        "the user model must take one int64 input [N, max_history]");
    eng_session_t *s = eng_session_new(tower, 1);
    if (!s) return err_fail(err, errlen, -ENOMEM, "out of memory");
    int64_t *hist = calloc((size_t)L, sizeof *hist);
    tensor_t t = {.dtype = DT_INT64, .rank = 2, .dims = {1, L}, .data = hist};
    const tensor_t *out;
    int nout, d = -1;
    char why[300];
    if (!hist) {
        err_fail(err, errlen, -ENOMEM, "out of memory");
    } else if (eng_session_run(s, &t, 1, &out, &nout, why, sizeof why)) {
        err_fail(err, errlen, -EINVAL, "the user model cannot run a history of %d items: %s", L,
                 why);
    } else if (nout < 1 || out[0].dtype != DT_FLOAT || out[0].rank != 2 || out[0].dims[0] != 1) {
        err_fail(err, errlen, -EINVAL, "the user model must answer one float [N, D] output");
    } else {
        d = (int)out[0].dims[1];
    }
    free(hist);
    eng_session_free(s);
    return d;
}

rec_model_t *rec_load(int dirfd, text_open_fn opener, const rec_folder_t *f,
                      const eng_model_t *tower, char *err, size_t errlen)
{
    rec_model_t *m = calloc(1, sizeof *m);
    if (!m) return err_fail(err, errlen, -ENOMEM, "out of memory"), NULL;
    m->f = *f;
    loader_t l = {dirfd, opener, err, errlen};
    int fd = -1;
    vecs_t v = {0};
    char why[300];
    if ((m->dim = tower_dim(tower, f->max_history, err, errlen)) < 1) goto fail;
    if (load_items(&l, m) || load_users(&l, m)) goto fail;
    /* The index: ids are rows, vectors as wide as the tower's. */
    if ((fd = open_file(&l, f->index)) < 0) goto fail;
    m->index = idx_load_fd(fd, why, sizeof why);
    close(fd);
    if (!m->index) {
        err_fail(err, errlen, -EINVAL, "%s: %s", f->index, why);
        goto fail;
    }
    idx_info_t ii;
    idx_get_info(m->index, &ii);
    if (ii.dim != m->dim || ii.count != m->nitems) {
        err_fail(err, errlen, -EINVAL,
                 "%s holds %lld vectors of dimension %d; the items file has %d items and the "
                 "user model answers dimension %d",
                 f->index, (long long)ii.count, ii.dim, m->nitems, m->dim);
        goto fail;
    }
    char *bytes;
    size_t len;
    if (text_read_file(dirfd, opener, f->vectors, REC_FILE_MAX, &bytes, &len, err, errlen))
        goto fail;
    int vrc = vecs_parse_npy(bytes, len, &v, why, sizeof why);
    free(bytes);
    if (vrc || v.n != m->nitems || v.dim != m->dim) {
        err_fail(err, errlen, -EINVAL, "%s: %s", f->vectors,
                 vrc ? why : "must hold one vector per item, as wide as the user model's");
        goto fail;
    }
    m->vecs = v.data;
    v.data = NULL;
    /* The ranker: features [N, 3 + D] -> one score per row. */
    if ((fd = open_file(&l, f->ranker_model)) < 0) goto fail;
    eng_load_opts_t o = {.datadir = -1};
    int rc = eng_model_load_fd(fd, &o, &m->ranker, why, sizeof why);
    close(fd);
    if (rc) {
        err_fail(err, errlen, -EINVAL, "%s: %s", f->ranker_model, why);
        goto fail;
    }
    const eng_io_t *ri = eng_model_input(m->ranker, 0);
    if (eng_model_ninputs(m->ranker) != 1 || ri->dtype != DT_FLOAT || ri->rank != 2 ||
        (ri->dims[1] >= 0 && ri->dims[1] != 3 + m->dim)) {
        err_fail(err, errlen, -EINVAL, "%s must take one float input [N, %d] (3 + D features)",
                 f->ranker_model, 3 + m->dim);
        goto fail;
    }
    m->npopular = m->nitems < REC_POPULAR ? m->nitems : REC_POPULAR;
    int32_t *all = malloc((size_t)m->nitems * sizeof *all);
    m->popular = all;
    if (!all) {
        err_fail(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < m->nitems; i++) all[i] = i;
    qsort_r(all, (size_t)m->nitems, sizeof *all, cmp_pop_desc, m->pop);
    m->cache = lru_new((size_t)f->user_cache_mb << 20, 0, NULL);
    if (!m->cache) {
        err_fail(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }
    return m;
fail:
    vecs_free(&v);
    rec_free(m);
    return NULL;
}

void rec_free(rec_model_t *m)
{
    if (!m) return;
    eng_model_free(m->ranker);
    idx_free(m->index);
    free(m->vecs);
    free(m->item_id);
    free(m->pop);
    free(m->feat);
    free(m->titles);
    free(m->title_off);
    i64map_free(&m->item_row);
    i64map_free(&m->user_at);
    free(m->hist_off);
    free(m->hist);
    free(m->popular);
    if (m->cache) lru_free(m->cache);
    free(m);
}

int32_t rec_item_row(const rec_model_t *m, int64_t item_id)
{
    int64_t row;
    return i64map_get(&m->item_row, item_id, &row) ? (int32_t)row : -1;
}

const int32_t *rec_user_history(const rec_model_t *m, int64_t user_id, int *n)
{
    int64_t u;
    if (!i64map_get(&m->user_at, user_id, &u)) return NULL;
    *n = (int)(m->hist_off[u + 1] - m->hist_off[u]);
    return m->hist + m->hist_off[u];
}
