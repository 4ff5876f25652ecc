/* API-key check. Keys are kept only as SHA-256 digests and a presented key is hashed before the
 * comparison, so the compare is constant-time in the key's content and length alike. */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "util/err.h"
#include "util/hex.h"

#define DIGEST 32

struct auth {
    unsigned char (*digests)[DIGEST];
    int n;
};

static int sha256(const void *p, size_t n, unsigned char out[DIGEST])
{
    unsigned int len = 0;
    return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == DIGEST ? 0 : -1;
}

/* Calls fn on each comma-separated item of list, trimmed of spaces. */
static int each_item(const char *list, int (*fn)(auth_t *, const char *, size_t, char *, size_t),
                     auth_t *a, char *err, size_t errlen)
{
    const char *p = list;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (n && (*s == ' ' || *s == '\t')) s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
        if (n && fn(a, s, n, err, errlen)) return -1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

static int grow(auth_t *a)
{
    void *p = realloc(a->digests, (size_t)(a->n + 1) * DIGEST);
    if (!p) return -1;
    a->digests = p;
    return 0;
}

static int add_key(auth_t *a, const char *s, size_t n, char *err, size_t errlen)
{
    if (grow(a) || sha256(s, n, a->digests[a->n])) {
        snprintf(err, errlen, "cannot hash API key");
        return -1;
    }
    a->n++;
    return 0;
}

static int add_hash(auth_t *a, const char *s, size_t n, char *err, size_t errlen)
{
    if (n != 2 * DIGEST) {
        snprintf(err, errlen, "api_key_hashes: expected 64 hex digits (SHA-256), got %zu chars", n);
        return -1;
    }
    if (grow(a)) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < DIGEST; i++) {
        int hi = hex_val(s[2 * i]), lo = hex_val(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            snprintf(err, errlen, "api_key_hashes: \"%.*s\" is not hexadecimal", (int)n, s);
            return -1;
        }
        a->digests[a->n][i] = (unsigned char)(hi << 4 | lo);
    }
    a->n++;
    return 0;
}

auth_t *auth_new(const config_t *cfg, char *err, size_t errlen)
{
    auth_t *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (each_item(cfg->api_keys, add_key, a, err, errlen) ||
        each_item(cfg->api_key_hashes, add_hash, a, err, errlen)) {
        auth_free(a);
        return NULL;
    }
    return a;
}

void auth_free(auth_t *a)
{
    if (!a) return;
    free(a->digests);
    free(a);
}

bool auth_guard(http_req_t *r, void *arg)
{
    auth_t *a = arg;
    if (a->n == 0 || (r->route && (r->route->flags & ROUTE_PUBLIC))) return true;
    const http_span_t *h = http_req_header(r, "Authorization");
    int copies = 0;
    for (int i = 0; i < r->head.nheaders; i++)
        copies += http_span_ieq(r->head.headers[i].name, "authorization");
    if (copies > 1) {
        /* Proxies and servers disagree on which copy counts; guessing would be a bypass. */
        api_reply_err(r, ERR_INVALID, "more than one Authorization header");
        return false;
    }
    bool ok = false;
    /* "Token" is how InfluxDB's clients send theirs (the line-protocol endpoints). */
    size_t skip = !h                                                             ? 0
                  : h->n > 7 && http_span_ieq((http_span_t){h->p, 7}, "bearer ") ? 7
                  : h->n > 6 && http_span_ieq((http_span_t){h->p, 6}, "token ")  ? 6
                                                                                 : 0;
    if (skip) {
        const char *k = h->p + skip;
        size_t n = h->n - skip;
        while (n && *k == ' ') k++, n--;
        unsigned char d[DIGEST];
        if (n && sha256(k, n, d) == 0) {
            /* Check every key, so the time does not tell which one (if any) matched. */
            int hit = 0;
            for (int i = 0; i < a->n; i++) hit |= CRYPTO_memcmp(d, a->digests[i], DIGEST) == 0;
            ok = hit;
        }
    }
    if (ok) return true;
    http_add_header(r, "WWW-Authenticate", "Bearer realm=\"inferd\"");
    api_reply_err(r, ERR_UNAUTHORIZED, "%s",
                  h ? "invalid API key"
                    : "missing API key (Authorization: Bearer <key>, or Token <key>)");
    return false;
}
