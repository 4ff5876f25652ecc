/* Growable byte buffer with the reserve/commit pattern (read() straight into spare room). */
#ifndef INFERD_UTIL_BUF_H
#define INFERD_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char *data;
    size_t len; /* bytes in use */
    size_t cap; /* bytes allocated */
} buf_t;

/* Initialises an empty buffer; allocates nothing. */
void buf_init(buf_t *b);
/* Frees the storage and leaves the buffer empty and reusable. */
void buf_deinit(buf_t *b);
/* Ensures at least `extra` bytes of spare room after len; 0 on success, -ENOMEM on failure. */
int buf_reserve(buf_t *b, size_t extra);
/* Appends n bytes; 0 or -ENOMEM. */
int buf_append(buf_t *b, const void *p, size_t n);
/* Appends a NUL-terminated string; 0 or -ENOMEM. */
int buf_puts(buf_t *b, const char *s);
/* Appends printf-formatted text (no NUL counted in len); 0 or -ENOMEM. */
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf_t *b, const char *fmt, va_list ap);
/* Removes the first n bytes, moving the rest to the front. */
void buf_consume(buf_t *b, size_t n);
/* Spare room pointer: write up to cap-len bytes here, then buf_commit(). */
static inline char *buf_tail(buf_t *b)
{
    return b->data + b->len;
}
static inline size_t buf_room(const buf_t *b)
{
    return b->cap - b->len;
}
static inline void buf_commit(buf_t *b, size_t n)
{
    b->len += n;
}
/* Appends s as a JSON string literal, quotes included, escaping as RFC 8259 requires. */
int buf_json_str(buf_t *b, const char *s, size_t n);

#endif
