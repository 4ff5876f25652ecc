/* Shortest decimal text of a float that reads back to the same bits, without printf: the
 * record path prints ~30 floats per prediction and glibc's exact printf/strtod dominated it. */
#ifndef INFERD_UTIL_FLOATFMT_H
#define INFERD_UTIL_FLOATFMT_H

#define FLOATFMT_MAX 20 /* longest text, "-1.17549435e-38", with room to spare; excludes NUL */

/* Writes finite v into s (FLOATFMT_MAX + 1 bytes) as the first of "%.6g", "%.7g", "%.8g",
 * "%.9g" (from "%.1g" for subnormals) whose text reads back as v both with strtof() and with
 * strtod() then a cast to float. The text is byte-identical to what snprintf gives; most values
 * are computed with exact integer arithmetic, and the rest (subnormals, |v| below about 1e-23,
 * texts within a double's rounding of a float boundary) go through snprintf itself. Returns
 * the length. */
int floatfmt_shortest(char *s, float v);

/* The snprintf/strtof/strtod search itself, kept as the reference the fast path is tested
 * against. Same contract as floatfmt_shortest. */
int floatfmt_shortest_libc(char *s, float v);

#endif
