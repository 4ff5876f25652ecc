/* Bump arena. */
#include "util/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 64

struct arena_block {
    arena_block_t *next;
    size_t size, off;
    /* Data follows, aligned by the allocation below. */
};

void arena_init(arena_t *a, size_t block_size)
{
    a->head = NULL;
    a->block_size = block_size < 4096 ? 4096 : block_size;
    a->used = 0;
}

void arena_deinit(arena_t *a)
{
    arena_block_t *b = a->head;
    while (b) {
        arena_block_t *n = b->next;
        free(b);
        b = n;
    }
    a->head = NULL;
    a->used = 0;
}

static char *block_data(arena_block_t *b)
{
    return (char *)b + ALIGN; /* the header fits in the first cache line */
}

void *arena_alloc(arena_t *a, size_t n)
{
    if (n > SIZE_MAX - 2 * ALIGN) return NULL;
    size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (need == 0) need = ALIGN;
    arena_block_t *b = a->head;
    if (!b || b->size - b->off < need) {
        size_t size = need > a->block_size ? need : a->block_size;
        void *mem = NULL;
        if (posix_memalign(&mem, ALIGN, size + ALIGN)) return NULL;
        b = mem;
        b->size = size;
        b->off = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = block_data(b) + b->off;
    b->off += need;
    a->used += need;
    memset(p, 0, n);
    return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}
