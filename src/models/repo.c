/* Model repository: directory scan beneath one directory, per-model config, reference-counted
 * entries, reload, and the loader thread that runs reloads off the serving threads. */
#define _GNU_SOURCE
#include "models/repo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "models/recommender.h"
#include "text/embed_folder.h"
#include "text/tokenizer.h"
#include "util/clock.h"
#include "util/log.h"

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
    for (int i = 0; i < REPO_SLOTS; i++) {
        repo_attach_t *a = atomic_load(&e->attached[i]);
        if (a) a->free(a);
    }
    text_tok_free(e->tok);
    free(e->embed);
    rec_free(e->rec);
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
    int64_t version; /* 0: the whole model failed (its folder or config.ini): keep what serves */
    char rel[512];   /* path beneath the repository directory */
    durability_t d;
    int fd; /* the model file, opened by the scan; -1 when refused (failed) */
    struct stat st;
    bool failed;
    bool is_embed; /* an embedding folder: embed describes it */
    embed_folder_t embed;
    bool is_rec; /* a recommender folder: the file is its user tower, rec describes the rest */
    rec_folder_t rec;
} found_t;

/* A file that failed to load, remembered so that polling retries it only once it changes. */
struct repo_bad {
    char name[160];
    int64_t version;
    struct stat st;
};

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Hex SHA-256 of the whole file fd (read with pread from 0) into out[65]. 0 or -1. */
static int file_sha256(int fd, char out[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
        EVP_MD_CTX_free(ctx);
        return -1;
    }
    static __thread unsigned char chunk[1 << 16];
    off_t off = 0;
    ssize_t n;
    while ((n = pread(fd, chunk, sizeof chunk, off)) > 0) {
        EVP_DigestUpdate(ctx, chunk, (size_t)n);
        off += n;
    }
    unsigned char md[32];
    unsigned len = 0;
    int ok = n == 0 && EVP_DigestFinal_ex(ctx, md, &len) && len == 32;
    EVP_MD_CTX_free(ctx);
    for (int i = 0; ok && i < 32; i++) snprintf(out + 2 * i, 3, "%02x", md[i]);
    return ok ? 0 : -1;
}

/* Loads f into a new entry (outside any lock: loading may take a while). NULL with err. */
static model_entry_t *entry_load(repo_t *r, int rootfd, const found_t *f, char *err, size_t errlen)
{
    model_entry_t *e = calloc(1, sizeof *e);
    if (!e) return snprintf(err, errlen, "out of memory"), NULL;
    e->name = strdup(f->name);
    e->path = strdup(f->rel);
    if (!e->name || !e->path) {
        entry_free(e);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* External data resolves beneath the version's folder, itself opened beneath the root. */
    char dir[512] = ".";
    const char *slash = strrchr(f->rel, '/');
    if (slash) snprintf(dir, sizeof dir, "%.*s", (int)(slash - f->rel), f->rel);
    int datadir = eng_open_beneath(rootfd, dir, O_DIRECTORY);
    if (datadir < 0) {
        snprintf(err, errlen, "its folder %s", eng_open_strerror(datadir));
        entry_free(e);
        return NULL;
    }
    eng_load_opts_t o = {.datadir = datadir, .cancel = &r->cancel};
    int rc = eng_model_load_fd(f->fd, &o, &e->m, err, errlen);
    close(datadir);
    if (rc) {
        entry_free(e);
        return NULL;
    }
    if (f->is_embed) {
        /* The tokenizer is read beneath the model's own folder, like every other file. */
        int mfd = eng_open_beneath(rootfd, f->name, O_DIRECTORY);
        if (mfd < 0) {
            snprintf(err, errlen, "its folder %s", eng_open_strerror(mfd));
            entry_free(e);
            return NULL;
        }
        char terr[400];
        e->tok =
            text_tok_load_at(mfd, eng_open_beneath, f->embed.tokenizer_file, terr, sizeof terr);
        close(mfd);
        e->embed = malloc(sizeof *e->embed);
        if (!e->tok || !e->embed) {
            snprintf(err, errlen, "%s", e->tok ? "out of memory" : terr);
            entry_free(e);
            return NULL;
        }
        *e->embed = f->embed;
        /* A digest of the bytes, so cached vectors are shared by every server with this file
         * and never outlive it. */
        if (file_sha256(f->fd, e->digest)) {
            snprintf(err, errlen, "cannot read it again to compute its digest");
            entry_free(e);
            return NULL;
        }
    }
    if (f->is_rec) {
        int mfd = eng_open_beneath(rootfd, f->name, O_DIRECTORY);
        if (mfd < 0) {
            snprintf(err, errlen, "its folder %s", eng_open_strerror(mfd));
            entry_free(e);
            return NULL;
        }
        e->rec = rec_load(mfd, eng_open_beneath, &f->rec, e->m, err, errlen);
        close(mfd);
        if (!e->rec) {
            entry_free(e);
            return NULL;
        }
    }
    e->version = f->version;
    e->durability = f->d;
    e->st = f->st;
    atomic_store(&e->refs, 1);
    return e;
}

/* ============================================================================= scan ==== */

typedef struct cfg_ctx {
    durability_t d;
    bool embed; /* the folder is an embedding model's */
    bool rec;   /* the folder is a recommender's */
    char msg[160];
} cfg_ctx_t;

static int on_cfg(void *user, const char *section, const char *name, const char *value)
{
    cfg_ctx_t *c = user;
    /* An embedding folder's own keys are read by embed_folder_read. */
    if (c->embed && strcmp(section, "model") == 0 &&
        (!strcmp(name, "pooling") || !strcmp(name, "max_length") || !strcmp(name, "normalize") ||
         !strcmp(name, "model_file")))
        return 1;
    /* A recommender's keys are read by rec_folder_read. */
    if (c->rec && strcmp(section, "model") == 0 && rec_folder_key(name)) return 1;
    if (strcmp(section, "model") == 0 && strcmp(name, "durability") == 0) {
        int d = durability_parse(value);
        if (d < 0) {
            snprintf(c->msg, sizeof c->msg,
                     "durability must be committed, durable, buffered or off");
            return 0;
        }
        c->d = (durability_t)d;
        return 1;
    }
    snprintf(c->msg, sizeof c->msg, "unknown setting %.40s in [%.40s]", name, section);
    return 0;
}

typedef struct scan {
    const repo_t *r;
    int rootfd;
    bool quiet; /* polling: the same refusal would be logged at every poll */
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
    f->fd = -1;
    return f;
}

static void scan_free(scan_t *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->f[i].fd >= 0) close(s->f[i].fd);
    free(s->f);
}

/* Records a failure: the HTTP-visible err names the model; the log line also has the path. */
static void scan_fail(scan_t *s, const char *name, int64_t version, const char *rel,
                      const char *why)
{
    char v[40] = "";
    if (version > 0) snprintf(v, sizeof v, " version %lld", (long long)version);
    snprintf(s->err, s->errlen, "model %s%s refused: %s", name, v, why);
    log_write(s->quiet ? LOG_DEBUG : LOG_ERROR, "model %s%s (%s/%s) refused: %s", name, v,
              s->r->dir, rel, why);
    s->failed++;
}

/* Adds name/version at rel: opened now (beneath the root), so what is checked is what loads. A
 * missing file is no version at all; anything else that cannot be opened is a refusal, which
 * keeps a loaded version serving. */
static void scan_file(scan_t *s, const char *name, int64_t version, const char *rel, durability_t d)
{
    int fd = eng_open_beneath(s->rootfd, rel, 0);
    if (fd == -ENOENT || fd == -ENOTDIR) return;
    found_t *f = scan_add(s);
    if (!f) {
        if (fd >= 0) close(fd);
        return;
    }
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->rel, sizeof f->rel, "%s", rel);
    f->version = version;
    f->d = d;
    s->n++;
    if (fd >= 0 && fstat(fd, &f->st) == 0) {
        f->fd = fd;
        return;
    }
    if (fd >= 0) close(fd);
    char why[200];
    snprintf(why, sizeof why, "%s %s", strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel,
             fd == -EXDEV ? "resolves outside the model repository (a symbolic link or \"..\")"
                          : eng_open_strerror(fd < 0 ? fd : -errno));
    f->failed = true;
    scan_fail(s, name, version, rel, why);
}

/* The whole model failed (folder or config.ini): a marker that keeps its versions serving. */
static void scan_model_failed(scan_t *s, const char *name, const char *rel, const char *why)
{
    found_t *f = scan_add(s);
    if (f) {
        snprintf(f->name, sizeof f->name, "%s", name);
        f->failed = true;
        s->n++;
    }
    scan_fail(s, name, 0, rel, why);
}

static void scan_model_dir(scan_t *s, const char *name, durability_t def)
{
    char rel[512], why[300];
    durability_t d = def;
    /* An embedding folder (model.onnx or onnx/model.onnx beside tokenizer files)? */
    embed_folder_t ef;
    rec_folder_t rf;
    int efd = eng_open_beneath(s->rootfd, name, O_DIRECTORY);
    int erc = -ENOENT, rrc = -ENOENT;
    if (efd >= 0) {
        char eerr[300];
        erc = embed_folder_read(efd, eng_open_beneath, &ef, eerr, sizeof eerr);
        /* ... or a recommender's (config.ini: kind = recommender)? */
        if (erc == -ENOENT) rrc = rec_folder_read(efd, eng_open_beneath, &rf, eerr, sizeof eerr);
        close(efd);
        if ((erc && erc != -ENOENT) || (rrc && rrc != -ENOENT)) {
            snprintf(rel, sizeof rel, "%s", name);
            scan_model_failed(s, name, rel, eerr);
            return;
        }
    }
    snprintf(rel, sizeof rel, "%s/config.ini", name);
    int fd = eng_open_beneath(s->rootfd, rel, 0);
    FILE *fp = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (fd >= 0 && !fp) close(fd);
    if (fp) {
        cfg_ctx_t c = {def, erc == 0, rrc == 0, ""};
        int line = ini_parse_file(fp, on_cfg, &c);
        fclose(fp);
        if (line) {
            snprintf(why, sizeof why, "config.ini:%d: %s", line, c.msg[0] ? c.msg : "syntax error");
            scan_model_failed(s, name, rel, why);
            return;
        }
        d = c.d;
    } else if (fd != -ENOENT) {
        snprintf(why, sizeof why, "config.ini %s",
                 fd == -EXDEV ? "resolves outside the model repository (a symbolic link)"
                              : eng_open_strerror(fd < 0 ? fd : -errno));
        scan_model_failed(s, name, rel, why);
        return;
    }
    if (erc == 0 || rrc == 0) { /* one file (version 1) and what describes the rest */
        snprintf(rel, sizeof rel, "%s/%s", name, erc == 0 ? ef.model_file : rf.user_model);
        int before = s->n;
        scan_file(s, name, 1, rel, d);
        if (s->n > before && erc == 0) s->f[before].is_embed = true, s->f[before].embed = ef;
        if (s->n > before && rrc == 0) s->f[before].is_rec = true, s->f[before].rec = rf;
        return;
    }
    int dfd = eng_open_beneath(s->rootfd, name, O_DIRECTORY);
    DIR *dd = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!dd) {
        if (dfd >= 0) close(dfd);
        snprintf(why, sizeof why, "its folder %s",
                 dfd == -EXDEV ? "resolves outside the model repository (a symbolic link)"
                               : eng_open_strerror(dfd < 0 ? dfd : -errno));
        scan_model_failed(s, name, name, why);
        return;
    }
    struct dirent *de;
    while ((de = readdir(dd))) {
        char *end;
        long long v = strtoll(de->d_name, &end, 10);
        if (*end || v < 1 || de->d_name[0] == '+' || de->d_name[0] == '-') continue;
        snprintf(rel, sizeof rel, "%s/%s/model.onnx", name, de->d_name);
        scan_file(s, name, v, rel, d);
    }
    closedir(dd);
}

/* Lists every model file beneath the root (only `only` when not NULL). */
static void scan_dir(scan_t *s, durability_t def, const char *only)
{
    int fd = openat(s->rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0) close(fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *n = de->d_name;
        size_t len = strlen(n);
        if (n[0] == '.') continue;
        struct stat st;
        if (fstatat(s->rootfd, n, &st, 0)) continue;
        if (S_ISDIR(st.st_mode)) {
            if (!valid_name(n)) {
                log_warn("model repository: skipping %s/%s (names may use letters, digits, _ - .)",
                         s->r->dir, n);
                continue;
            }
            if (!only || strcmp(only, n) == 0) scan_model_dir(s, n, def);
        } else if (len > 5 && strcmp(n + len - 5, ".onnx") == 0) {
            char name[160];
            snprintf(name, sizeof name, "%.*s", (int)(len - 5), n);
            if (!valid_name(name) || (only && strcmp(only, name) != 0)) continue;
            /* A versioned folder of the same name wins; readdir order is arbitrary, so the
             * folder's versions may also come later: those replace this one below. */
            bool dup = false;
            for (int i = 0; i < s->n; i++) dup |= strcmp(s->f[i].name, name) == 0;
            if (!dup) scan_file(s, name, 1, n, def);
        }
    }
    closedir(d);
    /* Drop a bare NAME.onnx when a NAME/ folder was scanned after it. */
    for (int i = 0; i < s->n;) {
        found_t *f = &s->f[i];
        bool bare = !strchr(f->rel, '/') && f->rel[0], shadowed = false;
        for (int k = 0; bare && k < s->n; k++)
            shadowed |= k != i && strcmp(s->f[k].name, f->name) == 0 &&
                        (strchr(s->f[k].rel, '/') || !s->f[k].rel[0]);
        if (shadowed) {
            if (f->fd >= 0) close(f->fd);
            if (f->failed) s->failed--;
            s->f[i] = s->f[--s->n];
            continue;
        }
        i++;
    }
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
    return same_file(&e->st, &f->st) && e->durability == f->d && strcmp(e->path, f->rel) == 0;
}

static bool known_bad(const repo_t *r, const found_t *f)
{
    for (int i = 0; i < r->nbad; i++)
        if (r->bad[i].version == f->version && strcmp(r->bad[i].name, f->name) == 0 &&
            same_file(&r->bad[i].st, &f->st))
            return true;
    return false;
}

/* Remembers (ok = false) or forgets (ok = true) that name/version failed as st. */
static void note_bad(repo_t *r, const found_t *f, bool ok)
{
    for (int i = 0; i < r->nbad; i++)
        if (r->bad[i].version == f->version && strcmp(r->bad[i].name, f->name) == 0) {
            if (ok)
                r->bad[i] = r->bad[--r->nbad];
            else
                r->bad[i].st = f->st;
            return;
        }
    if (ok) return;
    repo_bad_t *b = realloc(r->bad, sizeof *b * (size_t)(r->nbad + 1));
    if (!b) return;
    r->bad = b;
    repo_bad_t *n = &r->bad[r->nbad++];
    snprintf(n->name, sizeof n->name, "%s", f->name);
    n->version = f->version;
    n->st = f->st;
}

/* repo_reload; polling (quiet) skips files that failed before and have not changed since. */
static int reload(repo_t *r, const char *name, bool quiet, char *err, size_t errlen)
{
    pthread_mutex_lock(&r->reload_lock);
    err[0] = 0;
    scan_t s = {.r = r, .quiet = quiet, .err = err, .errlen = errlen};
    s.rootfd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
    if (s.rootfd < 0) {
        int e = errno;
        if (!quiet || !atomic_load(&r->dir_errno))
            log_error("model repository %s: %s", r->dir, strerror(e));
        atomic_store(&r->dir_errno, e ? e : EIO);
        snprintf(err, errlen, "the model repository cannot be read: %s", strerror(e));
        pthread_mutex_unlock(&r->reload_lock);
        return REPO_NOTFOUND;
    }
    atomic_store(&r->dir_errno, 0);
    scan_dir(&s, r->def, name);
    if (name && s.n == 0 && !s.failed) {
        snprintf(err, errlen, "no model called \"%s\" in the repository", name);
        scan_free(&s);
        close(s.rootfd);
        pthread_mutex_unlock(&r->reload_lock);
        return REPO_NOTFOUND;
    }
    /* Load what is new or changed, outside the lock: requests keep using what is loaded. */
    model_entry_t **fresh = calloc((size_t)s.n + 1, sizeof *fresh);
    bool cancelled = false;
    for (int i = 0; fresh && i < s.n; i++) {
        found_t *f = &s.f[i];
        if (f->failed) continue;
        pthread_rwlock_rdlock(&r->lock);
        int k = find_index(r, f->name, f->version);
        bool same = k >= 0 && unchanged(r->entries[k], f);
        pthread_rwlock_unlock(&r->lock);
        if (same || (quiet && known_bad(r, f))) continue;
        if (atomic_load(&r->cancel)) {
            cancelled = true;
            break;
        }
        char msg[1024];
        fresh[i] = entry_load(r, s.rootfd, f, msg, sizeof msg);
        if (!fresh[i] && atomic_load(&r->cancel)) {
            cancelled = true;
            break;
        }
        note_bad(r, f, fresh[i] != NULL);
        if (!fresh[i]) {
            snprintf(err, errlen, "model %s version %lld not loaded: %s%s", f->name,
                     (long long)f->version, msg,
                     k >= 0 ? "; the loaded version keeps serving" : "");
            log_error("model %s version %lld (%s/%s) not loaded: %s%s", f->name,
                      (long long)f->version, r->dir, f->rel, msg,
                      k >= 0 ? "; the loaded version keeps serving" : "");
            s.failed++;
        }
    }
    if (cancelled) {
        for (int i = 0; fresh && i < s.n; i++)
            if (fresh[i]) entry_free(fresh[i]);
        free(fresh);
        scan_free(&s);
        close(s.rootfd);
        snprintf(err, errlen, "cancelled: the server is shutting down");
        pthread_mutex_unlock(&r->reload_lock);
        return REPO_CANCELLED;
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
        log_info("model %s version %lld loaded from %s/%s (durability %s)", fresh[i]->name,
                 (long long)fresh[i]->version, r->dir, fresh[i]->path,
                 durability_name(fresh[i]->durability));
    }
    for (int k = 0; retired && k < r->n;) {
        model_entry_t *e = r->entries[k];
        bool in_scope = !name || strcmp(e->name, name) == 0, present = false;
        for (int i = 0; i < s.n; i++)
            present |= (s.f[i].version == e->version || s.f[i].version == 0) &&
                       strcmp(s.f[i].name, e->name) == 0;
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
    scan_free(&s);
    close(s.rootfd);
    pthread_mutex_unlock(&r->reload_lock);
    return s.failed;
}

int repo_reload(repo_t *r, const char *name, char *err, size_t errlen)
{
    return reload(r, name, false, err, errlen);
}

/* ========================================================================== loader ==== */

struct repo_job {
    repo_job_t *next;
    char name[160]; /* "" for the whole repository */
    bool all, first;
    repo_done_fn done;
    void *arg;
    atomic_int answered; /* done has been called (by the loader, or by a cancel) */
};

static void job_answer(repo_job_t *j, int failed, const char *err)
{
    if (!atomic_exchange(&j->answered, 1) && j->done) j->done(j->arg, failed, err);
}

static void *loader_main(void *arg)
{
    repo_t *r = arg;
    pthread_setname_np(pthread_self(), "inferd-load");
    char err[1024];
    pthread_mutex_lock(&r->qlock);
    for (;;) {
        bool poll_now = false;
        while (!r->head && !r->stopping && !poll_now) {
            if (r->poll_ms <= 0) {
                pthread_cond_wait(&r->qcond, &r->qlock);
                continue;
            }
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += r->poll_ms / 1000;
            ts.tv_nsec += (long)(r->poll_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            poll_now = pthread_cond_timedwait(&r->qcond, &r->qlock, &ts) == ETIMEDOUT;
        }
        if (r->stopping) break;
        if (!r->head) { /* a poll: only after the first load, and quietly */
            pthread_mutex_unlock(&r->qlock);
            if (atomic_load(&r->loaded)) reload(r, NULL, true, err, sizeof err);
            pthread_mutex_lock(&r->qlock);
            continue;
        }
        repo_job_t *j = r->head;
        r->head = j->next;
        if (!r->head) r->tail = NULL;
        r->nqueued--;
        r->running = j;
        pthread_mutex_unlock(&r->qlock);
        int failed = reload(r, j->all ? NULL : j->name, false, err, sizeof err);
        if (j->first && failed != REPO_CANCELLED) atomic_store(&r->loaded, 1);
        if (!j->done && failed > 0)
            log_warn("reload: %d model(s) failed; the last: %s", failed, err);
        pthread_mutex_lock(&r->qlock);
        r->running = NULL; /* from here a cancel no longer sees j: only this thread answers */
        pthread_mutex_unlock(&r->qlock);
        job_answer(j, failed, err);
        free(j);
        pthread_mutex_lock(&r->qlock);
    }
    r->exited = true;
    pthread_cond_broadcast(&r->qcond);
    pthread_mutex_unlock(&r->qlock);
    return NULL;
}

int repo_loader_start(repo_t *r, int qmax, int poll_ms)
{
    r->qmax = qmax > 0 ? qmax : 1;
    r->poll_ms = poll_ms;
    if (pthread_create(&r->loader, NULL, loader_main, r)) return -1;
    r->loader_started = true;
    return 0;
}

int repo_post_reload(repo_t *r, const char *name, repo_done_fn done, void *arg)
{
    repo_job_t *j = calloc(1, sizeof *j);
    if (!j) return -1;
    j->all = !name;
    snprintf(j->name, sizeof j->name, "%s", name ? name : "");
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&r->qlock);
    /* The first full load is the first job posted (main posts it before serving). */
    j->first = j->all && !atomic_load(&r->loaded) && !r->head && !r->running;
    int rc = 0;
    if (!r->loader_started || r->stopping) {
        rc = -2;
    } else if (!done) {
        for (repo_job_t *q = r->head; q; q = q->next)
            if (q->all == j->all && strcmp(q->name, j->name) == 0) rc = 1; /* already waiting */
    }
    if (rc == 0 && r->nqueued >= r->qmax) rc = -1;
    if (rc == 0) {
        if (r->tail)
            r->tail->next = j;
        else
            r->head = j;
        r->tail = j;
        r->nqueued++;
        pthread_cond_signal(&r->qcond);
    }
    pthread_mutex_unlock(&r->qlock);
    if (rc) free(j);
    return rc > 0 ? 0 : rc;
}

void repo_loader_cancel(repo_t *r)
{
    atomic_store(&r->cancel, 1);
    pthread_mutex_lock(&r->qlock);
    r->stopping = true;
    repo_job_t *q = r->head;
    r->head = r->tail = NULL;
    r->nqueued = 0;
    if (r->running) job_answer(r->running, REPO_CANCELLED, "the server is shutting down");
    pthread_cond_broadcast(&r->qcond);
    pthread_mutex_unlock(&r->qlock);
    while (q) {
        repo_job_t *next = q->next;
        job_answer(q, REPO_CANCELLED, "the server is shutting down");
        free(q);
        q = next;
    }
}

bool repo_loader_stop(repo_t *r, int wait_ms)
{
    if (!r->loader_started) return true;
    repo_loader_cancel(r);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += wait_ms / 1000;
    ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&r->qlock);
    while (!r->exited && pthread_cond_timedwait(&r->qcond, &r->qlock, &ts) != ETIMEDOUT) {
    }
    bool exited = r->exited;
    pthread_mutex_unlock(&r->qlock);
    if (exited) {
        pthread_join(r->loader, NULL);
    } else {
        log_warn("model loader: a load is stuck in I/O after %d ms; abandoning it", wait_ms);
        pthread_detach(r->loader);
    }
    r->loader_started = false;
    return exited;
}

bool repo_ready(const repo_t *r, char *why, size_t len)
{
    if (!atomic_load(&r->loaded)) {
        snprintf(why, len, "the model repository is still loading");
        return false;
    }
    int e = atomic_load(&r->dir_errno);
    if (e) {
        snprintf(why, len, "the model repository cannot be read: %s", strerror(e));
        return false;
    }
    return true;
}

/* ============================================================================ setup ==== */

int repo_init(repo_t *r, const char *dir, durability_t def)
{
    memset(r, 0, sizeof *r);
    pthread_rwlock_init(&r->lock, NULL);
    pthread_mutex_init(&r->reload_lock, NULL);
    pthread_mutex_init(&r->qlock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->qcond, &ca);
    pthread_condattr_destroy(&ca);
    r->dir = strdup(dir);
    r->def = def;
    return r->dir ? 0 : -1;
}

int repo_load(repo_t *r, const char *dir, durability_t def, char *err, size_t errlen)
{
    if (repo_init(r, dir, def)) return snprintf(err, errlen, "out of memory"), -1;
    int rc = repo_reload(r, NULL, err, errlen);
    atomic_store(&r->loaded, 1);
    return rc < 0 ? -1 : 0;
}

int64_t repo_parse_version(const char *s, size_t n)
{
    if (n < 1 || n > 18) return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v >= 1 ? v : -1;
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
    free(r->bad);
    free(r->dir);
    pthread_rwlock_destroy(&r->lock);
    pthread_mutex_destroy(&r->reload_lock);
    pthread_mutex_destroy(&r->qlock);
    pthread_cond_destroy(&r->qcond);
    memset(r, 0, sizeof *r);
}
