/* Model repository: directory scan, per-model config, lookup. */
#include "models/repo.h"

#include <dirent.h>
#include <errno.h>
#include <ini.h>
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
static int valid_name(const char *s)
{
    if (!*s || strlen(s) > 128 || s[0] == '.') return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return 0;
    return 1;
}

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

static int add(repo_t *r, const char *name, int64_t version, const char *path, durability_t d)
{
    model_entry_t *m = realloc(r->models, sizeof *m * (size_t)(r->n + 1));
    if (!m) return -1;
    r->models = m;
    char err[1024];
    eng_model_t *em;
    if (eng_model_load(path, &em, err, sizeof err)) {
        log_error("model %s version %lld (%s) not loaded: %s", name, (long long)version, path, err);
        r->nfailed++;
        return 0;
    }
    model_entry_t *e = &r->models[r->n];
    e->name = strdup(name);
    e->path = strdup(path);
    if (!e->name || !e->path) {
        free(e->name);
        free(e->path);
        eng_model_free(em);
        return -1;
    }
    e->version = version;
    e->m = em;
    e->durability = d;
    e->index = r->n++;
    log_info("model %s version %lld loaded from %s (durability %s)", name, (long long)version, path,
             durability_name(d));
    return 0;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int load_model_dir(repo_t *r, const char *dir, const char *name, durability_t def)
{
    char path[4096];
    durability_t d = def;
    snprintf(path, sizeof path, "%s/%s/config.ini", dir, name);
    FILE *f = fopen(path, "r");
    if (f) {
        cfg_ctx_t c = {def, ""};
        int line = ini_parse_file(f, on_cfg, &c);
        fclose(f);
        if (line) {
            log_error("model %s not loaded: %s:%d: %s", name, path, line,
                      c.msg[0] ? c.msg : "syntax error");
            r->nfailed++;
            return 0;
        }
        d = c.d;
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    DIR *dd = opendir(path);
    if (!dd) return 0;
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(dd))) {
        char *end;
        long long v = strtoll(e->d_name, &end, 10);
        if (*end || v < 1 || e->d_name[0] == '+' || e->d_name[0] == '-') continue;
        snprintf(path, sizeof path, "%s/%s/%s/model.onnx", dir, name, e->d_name);
        if (access(path, R_OK) == 0) rc = add(r, name, v, path, d);
    }
    closedir(dd);
    return rc;
}

int repo_load(repo_t *r, const char *dir, durability_t def, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "model repository %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    char path[4096];
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        const char *n = e->d_name;
        size_t len = strlen(n);
        if (n[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, n);
        if (is_dir(path)) {
            if (!valid_name(n)) {
                log_warn("model repository: skipping %s (names may use letters, digits, _ - .)",
                         path);
                continue;
            }
            rc = load_model_dir(r, dir, n, def);
        } else if (len > 5 && strcmp(n + len - 5, ".onnx") == 0) {
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(len - 5), n);
            if (valid_name(name) && !repo_find(r, name, 1)) rc = add(r, name, 1, path, def);
        }
    }
    closedir(d);
    if (rc) {
        snprintf(err, errlen, "out of memory loading the model repository");
        repo_free(r);
        return -1;
    }
    return 0;
}

const model_entry_t *repo_find(const repo_t *r, const char *name, int64_t version)
{
    const model_entry_t *best = NULL;
    for (int i = 0; i < r->n; i++) {
        const model_entry_t *e = &r->models[i];
        if (strcmp(e->name, name) != 0) continue;
        if (version >= 0 ? e->version == version : (!best || e->version > best->version)) best = e;
    }
    return best;
}

int repo_versions(const repo_t *r, const char *name, int64_t *out, int cap)
{
    int n = 0;
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->models[i].name, name) == 0 && n < cap) out[n++] = r->models[i].version;
    for (int i = 1; i < n; i++) /* insertion sort: a handful of versions */
        for (int j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int64_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

void repo_free(repo_t *r)
{
    for (int i = 0; i < r->n; i++) {
        free(r->models[i].name);
        free(r->models[i].path);
        eng_model_free(r->models[i].m);
    }
    free(r->models);
    memset(r, 0, sizeof *r);
}
