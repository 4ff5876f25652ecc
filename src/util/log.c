/* Levelled logging. Lines are assembled in a stack buffer and written with one write(2). */
#include "util/log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

log_level_t log_min_level = LOG_INFO;
static int log_fd = 2;
static bool log_json;

static const char *level_names[] = {"debug", "info", "warn", "error", "off"};

int log_level_parse(const char *name)
{
    for (int i = 0; i <= LOG_OFF; i++)
        if (strcasecmp(name, level_names[i]) == 0) return i;
    return -1;
}

int log_setup(const char *level, const char *format, const char *path, const char **err)
{
    int lvl = log_level_parse(level ? level : "info");
    if (lvl < 0) {
        *err = "log_level must be one of debug, info, warn, error, off";
        return -1;
    }
    if (format && strcmp(format, "json") != 0 && strcmp(format, "text") != 0) {
        *err = "log_format must be text or json";
        return -1;
    }
    int fd = 2;
    if (path && *path && strcmp(path, "-") != 0) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0) {
            *err = "cannot open log_file for appending";
            return -1;
        }
    }
    log_close();
    log_fd = fd;
    log_min_level = (log_level_t)lvl;
    log_json = format && strcmp(format, "json") == 0;
    return 0;
}

void log_close(void)
{
    if (log_fd > 2) close(log_fd);
    log_fd = 2;
}

/* Appends s to the line as JSON string content, escaped; truncates at the buffer end. */
static size_t put_json(char *o, size_t off, size_t cap, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n && off + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            o[off++] = '\\';
            o[off++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            memcpy(o + off, "\\u00", 4);
            o[off + 4] = hex[c >> 4];
            o[off + 5] = hex[c & 15];
            off += 6;
        } else {
            o[off++] = (char)c;
        }
    }
    return off;
}

static size_t put_raw(char *o, size_t off, size_t cap, const char *s, size_t n)
{
    if (off + 2 >= cap) return off;
    if (n > cap - off - 2) n = cap - off - 2;
    memcpy(o + off, s, n);
    return off + n;
}

static size_t put_prefix(char *o, size_t cap, log_level_t lvl)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char t[40];
    size_t n = strftime(t, sizeof t, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(t + n, sizeof t - n, ".%03ldZ", ts.tv_nsec / 1000000);
    int w;
    if (log_json)
        w = snprintf(o, cap, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", t, level_names[lvl]);
    else
        w = snprintf(o, cap, "%s %-5s ", t, level_names[lvl]);
    return w < 0 ? 0 : (size_t)w;
}

static void emit(char *o, size_t off)
{
    o[off++] = '\n';
    ssize_t r = write(log_fd, o, off);
    (void)r;
}

void log_write(log_level_t lvl, const char *fmt, ...)
{
    if (lvl < log_min_level) return;
    char o[LINE_MAX_BYTES];
    size_t off = put_prefix(o, sizeof o, lvl);
    char msg[LINE_MAX_BYTES];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
    if (log_json) {
        off = put_json(o, off, sizeof o - 3, msg, (size_t)n);
        o[off++] = '"';
        o[off++] = '}';
    } else {
        off = put_raw(o, off, sizeof o, msg, (size_t)n);
    }
    emit(o, off);
}

void log_fields(log_level_t lvl, const char *msg, const log_field_t *f, int nf)
{
    if (lvl < log_min_level) return;
    char o[LINE_MAX_BYTES];
    const size_t cap = sizeof o - 4;
    size_t off = put_prefix(o, sizeof o, lvl);
    if (log_json) {
        off = put_json(o, off, cap, msg, strlen(msg));
        o[off++] = '"';
        for (int i = 0; i < nf && off + 16 < cap; i++) {
            o[off++] = ',';
            o[off++] = '"';
            off = put_json(o, off, cap, f[i].key, strlen(f[i].key));
            o[off++] = '"';
            o[off++] = ':';
            if (f[i].is_num) {
                off = put_raw(o, off, cap, f[i].val, f[i].len);
            } else {
                o[off++] = '"';
                off = put_json(o, off, cap, f[i].val, f[i].len);
                o[off++] = '"';
            }
        }
        o[off++] = '}';
    } else {
        off = put_raw(o, off, cap, msg, strlen(msg));
        for (int i = 0; i < nf && off + 16 < cap; i++) {
            o[off++] = ' ';
            off = put_raw(o, off, cap, f[i].key, strlen(f[i].key));
            o[off++] = '=';
            /* Text values are JSON-escaped (and quoted when they hold spaces or quotes) so a
             * hostile path cannot forge a second log line. */
            bool quote = !f[i].is_num && (f[i].len == 0 || memchr(f[i].val, ' ', f[i].len) ||
                                          memchr(f[i].val, '"', f[i].len));
            if (quote) o[off++] = '"';
            off = f[i].is_num ? put_raw(o, off, cap, f[i].val, f[i].len)
                              : put_json(o, off, cap, f[i].val, f[i].len);
            if (quote) o[off++] = '"';
        }
    }
    emit(o, off);
}
