/* Bump arena: many small allocations, freed together. Blocks are chained, so pointers stay valid
 * as the arena grows. */
#ifndef INFERD_UTIL_ARENA_H
#define INFERD_UTIL_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block_t;

typedef struct arena {
    arena_block_t *head;
    size_t block_size; /* default size of a new block */
    size_t used;       /* bytes handed out, for statistics */
} arena_t;

/* Initialises an empty arena whose blocks are at least block_size bytes. */
void arena_init(arena_t *a, size_t block_size);
/* Frees every block. */
void arena_deinit(arena_t *a);
/* Returns n bytes aligned to 64 (cache line / AVX-512), zeroed; NULL on out-of-memory. */
void *arena_alloc(arena_t *a, size_t n);
/* Copies n bytes into the arena and NUL-terminates them; NULL on out-of-memory. */
char *arena_strndup(arena_t *a, const char *s, size_t n);

#endif
