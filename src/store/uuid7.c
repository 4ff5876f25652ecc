/* UUIDv7 generator. One process-wide state behind a mutex keeps ids strictly increasing even
 * within one millisecond; random bits come from getrandom(2) in 512-byte refills so that an id
 * costs no system call. */
#include "store/uuid7.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util/hex.h"

#define COUNTER_BITS 26
#define COUNTER_MAX  ((1u << COUNTER_BITS) - 1)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t last_us = -1, last_ms = -1;
static uint32_t counter;
static uint8_t pool[512];
static size_t pool_pos = sizeof pool;
static uint64_t fallback_state;

/* Fills the pool. getrandom only fails on ancient kernels or seccomp sandboxes; uniqueness then
 * rests on the counter and a time-seeded splitmix64, which is still fine for ids (they need to be
 * unique, not secret). */
static void refill(void)
{
    size_t got = 0;
    while (got < sizeof pool) {
        ssize_t r = getrandom(pool + got, sizeof pool - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got < sizeof pool) {
        if (!fallback_state) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            fallback_state =
                (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ ((uint64_t)getpid() << 40);
        }
        for (size_t i = got; i < sizeof pool; i++) {
            uint64_t z = (fallback_state += 0x9e3779b97f4a7c15ull);
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
            pool[i] = (uint8_t)(z ^ (z >> 31));
        }
    }
    pool_pos = 0;
}

static void random_bytes(uint8_t *p, size_t n)
{
    if (pool_pos + n > sizeof pool) refill();
    memcpy(p, pool + pool_pos, n);
    pool_pos += n;
}

/* A fresh counter for a new millisecond: random, with the top bit clear so that at least 2^25
 * increments fit before it would overflow (the guard bit of RFC 9562 section 6.2). */
static uint32_t seed_counter(void)
{
    uint8_t b[4];
    random_bytes(b, sizeof b);
    uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return v & (COUNTER_MAX >> 1);
}

static const char hex[] = "0123456789abcdef";

void uuid_format(const uint8_t u[16], char out[UUID_STRLEN + 1])
{
    int o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = hex[u[i] >> 4];
        out[o++] = hex[u[i] & 15];
    }
    out[o] = 0;
}

int64_t uuid7_next(char out[UUID_STRLEN + 1], int64_t now_us)
{
    uint8_t u[16];
    pthread_mutex_lock(&mu);
    if (now_us < last_us) now_us = last_us; /* the wall clock stepped back: hold time still */
    int64_t ms = now_us / 1000;
    if (ms > last_ms) {
        last_ms = ms;
        counter = seed_counter();
    } else if (++counter > COUNTER_MAX) {
        /* 2^25 ids in one millisecond: borrow the next one (allowed by section 6.2). */
        last_ms++;
        counter = seed_counter();
        now_us = last_ms * 1000;
    }
    last_us = now_us;
    uint64_t t = (uint64_t)last_ms;
    uint32_t c = counter;
    random_bytes(u + 10, 6);
    pthread_mutex_unlock(&mu);

    for (int i = 0; i < 6; i++) u[i] = (uint8_t)(t >> (40 - 8 * i));
    /* Counter bits 25..14 fill rand_a (after the version nibble), bits 13..0 the top of rand_b
     * (after the variant bits 10). */
    u[6] = (uint8_t)(0x70 | ((c >> 22) & 0x0f));
    u[7] = (uint8_t)(c >> 14);
    u[8] = (uint8_t)(0x80 | ((c >> 8) & 0x3f));
    u[9] = (uint8_t)c;
    uuid_format(u, out);
    return now_us;
}

bool uuid_canonical(const char *s)
{
    for (int i = 0; i < UUID_STRLEN; i++) {
        char ch = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (ch != '-') return false;
        } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
            return false; /* also stops at a NUL before 36 chars */
        }
    }
    return s[UUID_STRLEN] == 0;
}

bool uuid7_valid(const char *s)
{
    return uuid_canonical(s) && s[14] == '7' &&
           (s[19] == '8' || s[19] == '9' || s[19] == 'a' || s[19] == 'b');
}

int uuid_parse(const char *s, uint8_t out[16])
{
    memset(out, 0, 16);
    int digits = 0;
    for (int i = 0; s[i]; i++) {
        if (i >= UUID_STRLEN) return -1;
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return -1;
            continue;
        }
        int v = hex_val_lower(s[i]);
        if (v < 0) return -1;
        out[digits / 2] |= (uint8_t)(digits % 2 ? v : v << 4);
        digits++;
    }
    return digits;
}

int64_t uuid7_ms(const char *s)
{
    int64_t ms = 0;
    for (int i = 0; i < UUID7_PREFIX_LEN; i++)
        if (i != 8) ms = ms << 4 | hex_val(s[i]);
    return ms;
}

void uuid7_ms_prefix(char out[UUID7_PREFIX_LEN + 1], int64_t ms)
{
    int o = UUID7_PREFIX_LEN;
    out[o--] = 0;
    for (; o >= 0; o--) {
        if (o == 8) {
            out[o] = '-';
            continue;
        }
        out[o] = hex[ms & 15];
        ms >>= 4;
    }
}

int64_t uuid7_floor(const char *id, int64_t now_us)
{
    int64_t ms = uuid7_ms(id);
    /* The counter's 26 bits as uuid7_next lays them out: 12 after the version digit (text
     * positions 15-17), then 14 after the variant's two bits (the low 2 bits of position 19,
     * then 20-22). */
    uint32_t c = (uint32_t)hex_val(id[15]) << 22 | (uint32_t)hex_val(id[16]) << 18 |
                 (uint32_t)hex_val(id[17]) << 14 | (uint32_t)(hex_val(id[19]) & 3) << 12 |
                 (uint32_t)hex_val(id[20]) << 8 | (uint32_t)hex_val(id[21]) << 4 |
                 (uint32_t)hex_val(id[22]);
    pthread_mutex_lock(&mu);
    if (ms > last_ms || (ms == last_ms && c > counter)) {
        last_ms = ms;
        counter = c; /* the next id in this millisecond takes c + 1 */
        if (last_us < ms * 1000) last_us = ms * 1000;
    }
    pthread_mutex_unlock(&mu);
    return ms * 1000 > now_us ? ms - now_us / 1000 : 0;
}
