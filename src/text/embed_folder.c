/* Reading an embedding model folder's small description files (see embed_folder.h). */
#include "text/embed_folder.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "util/json.h"

#define SMALL_FILE   ((size_t)1 << 20)
#define MAX_LEN_SANE 1000000 /* model_max_length above this is a "no limit" sentinel (1e30) */

static const char *const pool_names[] = {"mean", "cls", "max", "lasttoken"};

const char *embed_pool_name(embed_pool_t p)
{
    return (unsigned)p < 4 ? pool_names[p] : "?";
}

int embed_pool_parse(const char *s)
{
    static const struct {
        const char *name;
        embed_pool_t p;
    } names[] = {
        {"mean", EMBED_POOL_MEAN},      {"mean_tokens", EMBED_POOL_MEAN},
        {"cls", EMBED_POOL_CLS},        {"cls_token", EMBED_POOL_CLS},
        {"max", EMBED_POOL_MAX},        {"max_tokens", EMBED_POOL_MAX},
        {"lasttoken", EMBED_POOL_LAST}, {"last_token", EMBED_POOL_LAST},
        {"last", EMBED_POOL_LAST},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(s, names[i].name) == 0) return (int)names[i].p;
    return -1;
}

static bool exists(int dirfd, text_open_fn opener, const char *rel)
{
    int fd = opener(dirfd, rel, 0);
    if (fd < 0) return false;
    close(fd);
    return true;
}

/* Reads and parses a small JSON file; NULL with *rc = -ENOENT when absent, or another error. */
static json_doc_t *read_json(int dirfd, text_open_fn opener, const char *rel, int *rc, char *err,
                             size_t errlen)
{
    char *b;
    size_t n;
    *rc = text_read_file(dirfd, opener, rel, SMALL_FILE, &b, &n, err, errlen);
    if (*rc) return NULL;
    char jerr[200];
    json_doc_t *d = json_parse(b, n, NULL, jerr, sizeof jerr);
    free(b);
    if (!d) *rc = err_fail(err, errlen, -EINVAL, "%s: %s", rel, jerr);
    return d;
}

typedef struct ini_ctx {
    embed_folder_t *f;
    int dirfd;
    text_open_fn opener;
    char msg[200];
} ini_ctx_t;

static int parse_bool(const char *v)
{
    if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on") || !strcmp(v, "1"))
        return 1;
    if (!strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off") || !strcmp(v, "0"))
        return 0;
    return -1;
}

/* A relative path without ".." components (the opener keeps it beneath the folder too). */
static bool safe_rel(const char *p)
{
    if (!*p || *p == '/' || strlen(p) >= EMBED_PATH_MAX) return false;
    for (const char *s = p; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.') return false;
        s += n + (s[n] == '/');
    }
    return true;
}

/* config.ini's [model] keys this module owns; other keys belong to the model repository. */
static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    ini_ctx_t *c = user;
    embed_folder_t *f = c->f;
    if (strcmp(section, "model") != 0) return 1;
    if (strcmp(name, "pooling") == 0) {
        int p = embed_pool_parse(value);
        if (p < 0) {
            snprintf(c->msg, sizeof c->msg, "pooling must be mean, cls, max or lasttoken");
            return 0;
        }
        f->pooling = (embed_pool_t)p;
        f->pooling_src = EMBED_SRC_CONFIG;
    } else if (strcmp(name, "max_length") == 0) {
        char *end;
        long v = strtol(value, &end, 10);
        if (*end || end == value || v < 1 || v > MAX_LEN_SANE) {
            snprintf(c->msg, sizeof c->msg, "max_length must be an integer in 1..%d", MAX_LEN_SANE);
            return 0;
        }
        f->max_length = (int)v;
        f->max_length_src = EMBED_SRC_CONFIG;
    } else if (strcmp(name, "normalize") == 0) {
        int b = parse_bool(value);
        if (b < 0) {
            snprintf(c->msg, sizeof c->msg, "normalize must be true or false");
            return 0;
        }
        f->normalize = b;
        f->normalize_src = EMBED_SRC_CONFIG;
    } else if (strcmp(name, "model_file") == 0) {
        if (!safe_rel(value)) {
            snprintf(c->msg, sizeof c->msg, "model_file must be a relative path inside the folder");
            return 0;
        }
        if (!exists(c->dirfd, c->opener, value)) {
            snprintf(c->msg, sizeof c->msg, "model_file %.100s does not exist", value);
            return 0;
        }
        snprintf(f->model_file, sizeof f->model_file, "%s", value);
        f->quantized = strstr(value, "quantized") != NULL;
    }
    return 1;
}

/* The pooling flags of a sentence-transformers Pooling config. */
static int read_pooling(const json_value_t *cfg, const char *rel, embed_folder_t *f, char *err,
                        size_t errlen)
{
    static const struct {
        const char *key;
        int pool; /* -1: a mode we do not implement */
    } modes[] = {
        {"pooling_mode_mean_tokens", EMBED_POOL_MEAN}, {"pooling_mode_cls_token", EMBED_POOL_CLS},
        {"pooling_mode_max_tokens", EMBED_POOL_MAX},   {"pooling_mode_lasttoken", EMBED_POOL_LAST},
        {"pooling_mode_mean_sqrt_len_tokens", -1},     {"pooling_mode_weightedmean_tokens", -1},
    };
    int found = -1, nfound = 0;
    const char *which = NULL;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        if (json_type(json_get(cfg, modes[i].key)) != JSON_TRUE) continue;
        nfound++;
        found = modes[i].pool;
        which = modes[i].key;
    }
    if (nfound > 1)
        return err_fail(err, errlen, -EINVAL,
                        "%s: several pooling modes are on (concatenated pooling is not "
                        "supported)",
                        rel);
    if (nfound == 1 && found < 0)
        return err_fail(err, errlen, -EINVAL, "%s: %s is not supported", rel, which);
    if (nfound == 1) {
        f->pooling = (embed_pool_t)found;
        f->pooling_src = EMBED_SRC_FOLDER;
    }
    const json_value_t *dim = json_get(cfg, "word_embedding_dimension");
    if (json_is_integer(dim) && json_int(dim) > 0 && json_int(dim) < 1 << 20)
        f->dim = (int)json_int(dim);
    return 0;
}

int embed_folder_read(int dirfd, text_open_fn opener, embed_folder_t *f, char *err, size_t errlen)
{
    if (!opener) opener = text_open_default;
    memset(f, 0, sizeof *f);
    f->pooling = EMBED_POOL_MEAN;
    f->normalize = true;

    static const char *const models[] = {"model.onnx", "onnx/model.onnx", "model_quantized.onnx",
                                         "onnx/model_quantized.onnx"};
    for (size_t i = 0; i < 4 && !f->model_file[0]; i++)
        if (exists(dirfd, opener, models[i])) {
            snprintf(f->model_file, sizeof f->model_file, "%s", models[i]);
            f->quantized = i >= 2;
        }
    if (exists(dirfd, opener, "tokenizer.json"))
        snprintf(f->tokenizer_file, sizeof f->tokenizer_file, "tokenizer.json");
    else if (exists(dirfd, opener, "vocab.txt"))
        snprintf(f->tokenizer_file, sizeof f->tokenizer_file, "vocab.txt");
    if (!f->tokenizer_file[0])
        return err_fail(err, errlen, -ENOENT, "no tokenizer.json or vocab.txt");

    int rc;
    /* modules.json: which modules follow the transformer, and where the pooling config is. */
    char pool_rel[EMBED_PATH_MAX] = "1_Pooling/config.json";
    json_doc_t *d = read_json(dirfd, opener, "modules.json", &rc, err, errlen);
    if (rc && rc != -ENOENT) return rc;
    if (d) {
        const json_value_t *mods = json_root(d);
        bool norm = false;
        for (size_t i = 0; i < json_size(mods); i++) {
            const json_value_t *m = json_at(mods, i);
            const char *type = json_string(json_get(m, "type"), NULL);
            const char *path = json_string(json_get(m, "path"), NULL);
            if (!type) continue;
            size_t tl = strlen(type);
            if (tl >= 9 && strcmp(type + tl - 9, "Normalize") == 0) norm = true;
            if (tl >= 7 && strcmp(type + tl - 7, "Pooling") == 0 && path && *path) {
                if (!safe_rel(path) || strlen(path) + 13 >= sizeof pool_rel) {
                    json_doc_free(d);
                    return err_fail(err, errlen, -EINVAL, "modules.json: bad Pooling path");
                }
                snprintf(pool_rel, sizeof pool_rel, "%s/config.json", path);
            }
        }
        if (json_type(mods) != JSON_ARRAY) {
            json_doc_free(d);
            return err_fail(err, errlen, -EINVAL, "modules.json: not an array");
        }
        f->normalize = norm;
        f->normalize_src = EMBED_SRC_FOLDER;
        json_doc_free(d);
    }

    d = read_json(dirfd, opener, pool_rel, &rc, err, errlen);
    if (rc && rc != -ENOENT) return rc;
    if (d) {
        rc = read_pooling(json_root(d), pool_rel, f, err, errlen);
        json_doc_free(d);
        if (rc) return rc;
    }

    d = read_json(dirfd, opener, "sentence_bert_config.json", &rc, err, errlen);
    if (rc && rc != -ENOENT) return rc;
    if (d) {
        const json_value_t *v = json_get(json_root(d), "max_seq_length");
        if (json_is_integer(v) && json_int(v) > 0 && json_int(v) <= MAX_LEN_SANE) {
            f->max_length = (int)json_int(v);
            f->max_length_src = EMBED_SRC_FOLDER;
        }
        json_doc_free(d);
    }
    if (!f->max_length) {
        d = read_json(dirfd, opener, "tokenizer_config.json", &rc, err, errlen);
        if (rc && rc != -ENOENT) return rc;
        if (d) {
            /* transformers writes int(1e30) when the model sets no limit: ignore sentinels. */
            double v = json_number(json_get(json_root(d), "model_max_length"));
            if (isfinite(v) && v >= 1 && v <= MAX_LEN_SANE && v == floor(v)) {
                f->max_length = (int)v;
                f->max_length_src = EMBED_SRC_FOLDER;
            }
            json_doc_free(d);
        }
    }

    char *ini;
    size_t n;
    rc = text_read_file(dirfd, opener, "config.ini", SMALL_FILE, &ini, &n, err, errlen);
    if (rc && rc != -ENOENT) return rc;
    if (rc == 0) {
        ini_ctx_t c = {.f = f, .dirfd = dirfd, .opener = opener};
        int line = ini_parse_string(ini, on_ini, &c);
        free(ini);
        if (line)
            return err_fail(err, errlen, -EINVAL, "config.ini:%d: %s", line,
                            c.msg[0] ? c.msg : "syntax error");
    }
    if (!f->model_file[0])
        return err_fail(err, errlen, -ENOENT,
                        "no model.onnx, onnx/model.onnx or model_quantized.onnx");
    return 0;
}

int embed_folder_read_path(const char *dir, embed_folder_t *out, char *err, size_t errlen)
{
    int fd = open(dir, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
    if (fd < 0) return err_fail(err, errlen, -errno, "%s: %s", dir, strerror(errno));
    int rc = embed_folder_read(fd, NULL, out, err, errlen);
    close(fd);
    return rc;
}
