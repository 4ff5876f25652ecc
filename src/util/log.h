/* Levelled logging to stderr or a file, as text or JSON lines. Each line is written with one
 * write(2), so lines from different threads never interleave. */
#ifndef INFERD_UTIL_LOG_H
#define INFERD_UTIL_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level_t;

extern log_level_t log_min_level;

/* Configures the logger: level name (debug|info|warn|error|off), format (text|json), file path
 * (NULL or "" or "-" for stderr). Returns 0, or -1 with *err set to a static message. */
int log_setup(const char *level, const char *format, const char *path, const char **err);
/* Closes a log file opened by log_setup. */
void log_close(void);
/* Parses a level name; -1 if unknown. */
int log_level_parse(const char *name);

void log_write(log_level_t lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One field of a structured line: key and pre-formatted value; numbers are emitted bare in JSON
 * when is_num is set. */
typedef struct log_field {
    const char *key;
    const char *val;
    size_t len;
    bool is_num;
} log_field_t;

/* Writes a structured line (the access log uses this): "msg k=v k=v" or a JSON object. */
void log_fields(log_level_t lvl, const char *msg, const log_field_t *f, int n);

#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_min_level <= LOG_DEBUG) log_write(LOG_DEBUG, __VA_ARGS__);                         \
    } while (0)
#define log_info(...)                                                                              \
    do {                                                                                           \
        if (log_min_level <= LOG_INFO) log_write(LOG_INFO, __VA_ARGS__);                           \
    } while (0)
#define log_warn(...)                                                                              \
    do {                                                                                           \
        if (log_min_level <= LOG_WARN) log_write(LOG_WARN, __VA_ARGS__);                           \
    } while (0)
#define log_error(...)                                                                             \
    do {                                                                                           \
        if (log_min_level <= LOG_ERROR) log_write(LOG_ERROR, __VA_ARGS__);                         \
    } while (0)

#endif
