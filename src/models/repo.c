/* Model repository: directory scan, per-model config, reference-counted entries, reload. */
#include "models/repo.h"

#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

int durability_parse(const char *s)
{
    if (strcasecmp(s, "durable") == 0) return DUR_DURABLE;
    if (strcasecmp(s, "buffered") == 0) return DUR_BUFFERED;
    if (strcasecmp(s, "off") == 0) return DUR_OFF;
    return -1;
}

const char *durability_name(durability_t d)
{
    return d == DUR_DURABLE ? "durable" : d == DUR_BUFFERED ? "buffered" : "off";
}

/* Names become URL path segments and directory names: keep them to a safe alphabet. */
static bool valid_name(const char *s)
{
    if (!*s || strlen(s) > 128 || s[0] == '.') return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

/* ========================================================================== entries ==== */

static void entry_free(model_entry_t *e)
{
    for (int i = 0; i < e->nsessions; i++) eng_session_free(e->sessions[i]);
    free(e->sessions);
    eng_model_free(e->m);
    free(e->name);
    free(e->path);
    free(e);
}

void repo_release(model_entry_t *e)
{
    if (e && atomic_fetch_sub(&e->refs, 1) == 1) entry_free(e);
}

/* A file found by the scan, with what its entry would hold. */
typedef struct found {
    char name[160];
    int64_t version;
    char path[4096];
    durability_t d;
    struct stat st;
} found_t;

/* Loads f into a new entry (outside any lock: loading may take a while). NULL with err. */
static model_entry_t *entry_load(const repo_t *r, const found_t *f, char *err, size_t errlen)
{
    model_entry_t *e = calloc(1, sizeof *e);
    if (!e) return snprintf(err, errlen, "out of memory"), NULL;
    e->name = strdup(f->name);
    e->path = strdup(f->path);
    e->sessions = calloc((size_t)(r->nworkers > 0 ? r->nworkers : 1), sizeof *e->sessions);
    e->nsessions = r->nworkers;
    if (!e->name || !e->path || !e->sessions) {
        entry_free(e);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (eng_model_load(f->path, &e->m, err, errlen)) {
        entry_free(e);
        return NULL;
    }
    e->version = f->version;
    e->durability = f->d;
    e->mtime = f->st.st_mtim;
    e->size = f->st.st_size;
    atomic_store(&e->refs, 1);
    return e;
}

/* ============================================================================= scan ==== */

typedef struct cfg_ctx {
    durability_t d;
    char msg[160];
} cfg_ctx_t;

static int on_cfg(void *user, const char *section, const char *name, const char *value)
{
    cfg_ctx_t *c = user;
    if (strcmp(section, "model") == 0 && strcmp(name, "durability") == 0) {
        int d = durability_parse(value);
        if (d < 0) {
            snprintf(c->msg, sizeof c->msg, "durability must be durable, buffered or off");
            return 0;
        }
        c->d = (durability_t)d;
        return 1;
    }
    snprintf(c->msg, sizeof c->msg, "unknown setting %s in [%s]", name, section);
    return 0;
}

typedef struct scan {
    found_t *f;
    int n, cap;
    int failed;
    char *err;
    size_t errlen;
} scan_t;

static found_t *scan_add(scan_t *s)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        found_t *f = realloc(s->f, sizeof *f * (size_t)cap);
        if (!f) return NULL;
        s->f = f;
        s->cap = cap;
    }
    found_t *f = &s->f[s->n];
    memset(f, 0, sizeof *f);
    return f;
}

static void scan_model_dir(scan_t *s, const char *dir, const char *name, durability_t def)
{
    char path[4096];
    durability_t d = def;
    snprintf(path, sizeof path, "%s/%s/config.ini", dir, name);
    FILE *fp = fopen(path, "r");
    if (fp) {
        cfg_ctx_t c = {def, ""};
        int line = ini_parse_file(fp, on_cfg, &c);
        fclose(fp);
        if (line) {
            snprintf(s->err, s->errlen, "model %s: %s:%d: %s", name, path, line,
                     c.msg[0] ? c.msg : "syntax error");
            log_error("%s", s->err);
            s->failed++;
            return;
        }
        d = c.d;
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    DIR *dd = opendir(path);
    if (!dd) return;
    struct dirent *de;
    while ((de = readdir(dd))) {
        char *end;
        long long v = strtoll(de->d_name, &end, 10);
        if (*end || v < 1 || de->d_name[0] == '+' || de->d_name[0] == '-') continue;
        found_t *f = scan_add(s);
        if (!f) break;
        snprintf(f->path, sizeof f->path, "%s/%s/%s/model.onnx", dir, name, de->d_name);
        if (stat(f->path, &f->st) || !S_ISREG(f->st.st_mode)) continue;
        snprintf(f->name, sizeof f->name, "%s", name);
        f->version = v;
        f->d = d;
        s->n++;
    }
    closedir(dd);
}

/* Lists every model file under dir (only `only` when not NULL). -1 if dir cannot be read. */
static int scan_dir(scan_t *s, const char *dir, durability_t def, const char *only)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(s->err, s->errlen, "model repository %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    char path[4096];
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        size_t len = strlen(n);
        if (n[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, n);
        struct stat st;
        if (stat(path, &st)) continue;
        if (S_ISDIR(st.st_mode)) {
            if (!valid_name(n)) {
                log_warn("model repository: skipping %s (names may use letters, digits, _ - .)",
                         path);
                continue;
            }
            if (!only || strcmp(only, n) == 0) scan_model_dir(s, dir, n, def);
        } else if (len > 5 && strcmp(n + len - 5, ".onnx") == 0 && S_ISREG(st.st_mode)) {
            char name[160];
            snprintf(name, sizeof name, "%.*s", (int)(len - 5), n);
            if (!valid_name(name) || (only && strcmp(only, name) != 0)) continue;
            bool dup = false; /* a versioned directory of the same name wins */
            for (int i = 0; i < s->n; i++) dup |= strcmp(s->f[i].name, name) == 0;
            found_t *f = dup ? NULL : scan_add(s);
            if (!f) continue;
            snprintf(f->name, sizeof f->name, "%s", name);
            snprintf(f->path, sizeof f->path, "%s", path);
            f->version = 1;
            f->d = def;
            f->st = st;
            s->n++;
        }
    }
    closedir(d);
    return 0;
}

/* ========================================================================== reload ==== */

static int find_index(const repo_t *r, const char *name, int64_t version)
{
    for (int i = 0; i < r->n; i++)
        if (r->entries[i]->version == version && strcmp(r->entries[i]->name, name) == 0) return i;
    return -1;
}

static bool unchanged(const model_entry_t *e, const found_t *f)
{
    return e->size == f->st.st_size && e->mtime.tv_sec == f->st.st_mtim.tv_sec &&
           e->mtime.tv_nsec == f->st.st_mtim.tv_nsec && e->durability == f->d &&
           strcmp(e->path, f->path) == 0;
}

int repo_reload(repo_t *r, const char *name, char *err, size_t errlen)
{
    pthread_mutex_lock(&r->reload_lock);
    scan_t s = {.err = err, .errlen = errlen};
    err[0] = 0;
    int rc = scan_dir(&s, r->dir, r->def, name);
    if (rc == 0 && name && s.n == 0 && !s.failed) {
        snprintf(err, errlen, "no model called \"%s\" in %s", name, r->dir);
        rc = -1;
    }
    if (rc) {
        free(s.f);
        pthread_mutex_unlock(&r->reload_lock);
        return -1;
    }
    /* Load what is new or changed, outside the lock. */
    model_entry_t **fresh = calloc((size_t)s.n + 1, sizeof *fresh);
    for (int i = 0; fresh && i < s.n; i++) {
        pthread_rwlock_rdlock(&r->lock);
        int k = find_index(r, s.f[i].name, s.f[i].version);
        bool same = k >= 0 && unchanged(r->entries[k], &s.f[i]);
        pthread_rwlock_unlock(&r->lock);
        if (same) continue;
        char msg[1024];
        fresh[i] = entry_load(r, &s.f[i], msg, sizeof msg);
        if (!fresh[i]) {
            snprintf(err, errlen, "model %s version %lld (%s) not loaded: %s%s", s.f[i].name,
                     (long long)s.f[i].version, s.f[i].path, msg,
                     k >= 0 ? "; the loaded version keeps serving" : "");
            log_error("%s", err);
            s.failed++;
        }
    }
    /* Swap in, and retire entries whose files are gone (only within the rescanned scope). */
    model_entry_t **retired = calloc((size_t)r->n + (size_t)s.n + 1, sizeof *retired);
    int nretired = 0;
    pthread_rwlock_wrlock(&r->lock);
    for (int i = 0; fresh && retired && i < s.n; i++) {
        if (!fresh[i]) continue;
        int k = find_index(r, fresh[i]->name, fresh[i]->version);
        if (k >= 0) {
            retired[nretired++] = r->entries[k];
            r->entries[k] = fresh[i];
        } else {
            model_entry_t **grown = realloc(r->entries, sizeof *grown * (size_t)(r->n + 1));
            if (!grown) {
                retired[nretired++] = fresh[i];
                continue;
            }
            r->entries = grown;
            r->entries[r->n++] = fresh[i];
        }
        log_info("model %s version %lld loaded from %s (durability %s)", fresh[i]->name,
                 (long long)fresh[i]->version, fresh[i]->path,
                 durability_name(fresh[i]->durability));
    }
    for (int k = 0; retired && k < r->n;) {
        model_entry_t *e = r->entries[k];
        bool in_scope = !name || strcmp(e->name, name) == 0, present = false;
        for (int i = 0; i < s.n; i++)
            present |= s.f[i].version == e->version && strcmp(s.f[i].name, e->name) == 0;
        if (in_scope && !present) {
            log_info("model %s version %lld unloaded: its file is gone", e->name,
                     (long long)e->version);
            retired[nretired++] = e;
            r->entries[k] = r->entries[--r->n];
            continue;
        }
        k++;
    }
    pthread_rwlock_unlock(&r->lock);
    for (int i = 0; i < nretired; i++) repo_release(retired[i]); /* freed when unused */
    free(retired);
    free(fresh);
    free(s.f);
    pthread_mutex_unlock(&r->reload_lock);
    return s.failed;
}

/* ============================================================================ setup ==== */

int repo_load(repo_t *r, const char *dir, durability_t def, int nworkers, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    pthread_rwlock_init(&r->lock, NULL);
    pthread_mutex_init(&r->reload_lock, NULL);
    r->dir = strdup(dir);
    r->def = def;
    r->nworkers = nworkers;
    if (!r->dir) return snprintf(err, errlen, "out of memory"), -1;
    return repo_reload(r, NULL, err, errlen) < 0 ? -1 : 0;
}

model_entry_t *repo_acquire(repo_t *r, const char *name, int64_t version)
{
    model_entry_t *best = NULL;
    pthread_rwlock_rdlock(&r->lock);
    for (int i = 0; i < r->n; i++) {
        model_entry_t *e = r->entries[i];
        if (strcmp(e->name, name) != 0) continue;
        if (version >= 0 ? e->version == version : (!best || e->version > best->version)) best = e;
    }
    if (best) atomic_fetch_add(&best->refs, 1);
    pthread_rwlock_unlock(&r->lock);
    return best;
}

int repo_versions(repo_t *r, const char *name, int64_t *out, int cap)
{
    int n = 0;
    pthread_rwlock_rdlock(&r->lock);
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->entries[i]->name, name) == 0 && n < cap) out[n++] = r->entries[i]->version;
    pthread_rwlock_unlock(&r->lock);
    for (int i = 1; i < n; i++) /* insertion sort: a handful of versions */
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int64_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

void repo_each(repo_t *r, void (*fn)(const model_entry_t *e, void *arg), void *arg)
{
    pthread_rwlock_rdlock(&r->lock);
    for (int i = 0; i < r->n; i++) fn(r->entries[i], arg);
    pthread_rwlock_unlock(&r->lock);
}

void repo_free(repo_t *r)
{
    if (!r->dir) return;
    for (int i = 0; i < r->n; i++) repo_release(r->entries[i]);
    free(r->entries);
    free(r->dir);
    pthread_rwlock_destroy(&r->lock);
    pthread_mutex_destroy(&r->reload_lock);
    memset(r, 0, sizeof *r);
}
