/* UUIDv7 ids (RFC 9562 section 5.7): 48-bit unix milliseconds, version 7, a 26-bit counter that
 * starts at a random value each millisecond (section 6.2, method 1), then 48 random bits. Ids made
 * by one process are strictly increasing, so their text sorts in creation order. */
#ifndef INFERD_STORE_UUID7_H
#define INFERD_STORE_UUID7_H

#include <stdbool.h>
#include <stdint.h>

#define UUID_STRLEN      36 /* 8-4-4-4-12 hex digits and dashes, without the NUL */
#define UUID7_PREFIX_LEN 13 /* "xxxxxxxx-xxxx": the 48-bit millisecond field */

/* Writes the next id (36 chars + NUL) for wall-clock time now_us and returns the time, in unix
 * microseconds, that the id stands for: never less than now_us's previous values (a clock step back
 * is held), and always in the id's millisecond. Strictly increasing across calls. Thread-safe. */
int64_t uuid7_next(char out[UUID_STRLEN + 1], int64_t now_us);
/* Makes every id uuid7_next writes from now on greater than id (a valid v7 id, such as the
 * newest one a database holds): while the wall clock is behind id's millisecond, ids stay in that
 * millisecond and count on from id's counter. Returns how many milliseconds id lies ahead of
 * wall-clock time now_us (0 if none). Thread-safe. */
int64_t uuid7_floor(const char *id, int64_t now_us);
/* Writes the 16 bytes u as a lowercase canonical UUID (36 chars + NUL). */
void uuid_format(const uint8_t u[16], char out[UUID_STRLEN + 1]);
/* Reads the hex digits of a lowercase canonical UUID, or of a leading part of one ("0190a1b2-c"),
 * into out, zero-padded. Returns how many digits it read (32 for a whole id), or -1 if s is
 * neither. */
int uuid_parse(const char *s, uint8_t out[16]);
/* True if s is a lowercase canonical UUID (8-4-4-4-12 hex) of any version. */
bool uuid_canonical(const char *s);
/* True if s is canonical, version 7 and of variant 10 (RFC 9562). */
bool uuid7_valid(const char *s);
/* The unix milliseconds of a canonical v7 id. */
int64_t uuid7_ms(const char *s);
/* Writes the 13-char text prefix "xxxxxxxx-xxxx" (+ NUL) shared by every id of millisecond ms
 * (0 <= ms < 2^48). Every such id sorts above it, every id of an earlier millisecond below. */
void uuid7_ms_prefix(char out[UUID7_PREFIX_LEN + 1], int64_t ms);

#endif
