/* Shortest round-trip text of a float with integer arithmetic.
 *
 * A finite float is v = m * 2^e exactly (m < 2^24). For each precision p the text is the decimal
 * c * 10^k, k = E - p + 1 with E = floor(log10 v), c = v / 10^k rounded half to even: what glibc
 * prints for "%.{p}g", because glibc rounds the exact binary value. Both the rounding and the
 * read-back test reduce to the sign of c * 10^k - a * 2^f for small integers c and a, which
 * 128-bit integers settle exactly once 10^k is split into 5^k * 2^k. A double estimate of c is
 * corrected by those comparisons, so the estimate only has to be close.
 *
 * The read-back test: strtof(text) == v iff the decimal lies inside v's rounding interval (ends
 * included when m is even). A reader that parses to double first rounds twice, which can only
 * matter within one double ulp of an end: texts that close (or on an end) are handed to
 * strtof/strtod themselves, as are subnormals and values whose powers of 5 would not fit. */
#include "util/floatfmt.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

static const uint64_t pow5_64[28] = {
    1u,
    5u,
    25u,
    125u,
    625u,
    3125u,
    15625u,
    78125u,
    390625u,
    1953125u,
    9765625u,
    48828125u,
    244140625u,
    1220703125ull,
    6103515625ull,
    30517578125ull,
    152587890625ull,
    762939453125ull,
    3814697265625ull,
    19073486328125ull,
    95367431640625ull,
    476837158203125ull,
    2384185791015625ull,
    11920928955078125ull,
    59604644775390625ull,
    298023223876953125ull,
    1490116119384765625ull,
    7450580596923828125ull,
};

/* Decimal exponents the fast path handles: c * 5^k (c < 2^32) and a * 5^-k (a < 2^53) must stay
 * below 2^128. */
#define K_MIN (-32)
#define K_MAX 41

static u128 pow5(int k) /* 0 <= k <= 54 */
{
    return k <= 27 ? pow5_64[k] : (u128)pow5_64[27] * pow5_64[k - 27];
}

/* Sign of c * 10^k - a * 2^f, for c, a > 0 and K_MIN <= k <= K_MAX. */
static int cmp_dec_bin(uint64_t c, int k, uint64_t a, int f)
{
    u128 l = c, r = a;
    if (k >= 0)
        l *= pow5(k);
    else
        r *= pow5(-k);
    /* Now l * 2^k against r * 2^f: shift the side with the larger power of two. A shift that
     * would overflow makes that side the larger, since the other is below 2^128. */
    int s = k - f;
    if (s > 0) {
        if (s >= 128 || l > (~(u128)0 >> s)) return 1;
        l <<= s;
    } else if (s < 0) {
        s = -s;
        if (s >= 128 || r > (~(u128)0 >> s)) return -1;
        r <<= s;
    }
    return (l > r) - (l < r);
}

/* Writes c (exactly p digits) times 10^(x - p + 1) the way "%.{p}g" does: trailing zeros
 * dropped, and the exponent form when x < -4 or x >= p. */
static int put_g(char *s, bool neg, uint64_t c, int p, int x)
{
    char d[10];
    for (int i = p - 1; i >= 0; i--, c /= 10) d[i] = (char)('0' + c % 10);
    int nd = p;
    while (nd > 1 && d[nd - 1] == '0') nd--;
    char *o = s;
    if (neg) *o++ = '-';
    if (x < -4 || x >= p) {
        *o++ = d[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, d + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        int ax = abs(x); /* a float's decimal exponent has at most two digits */
        *o++ = 'e';
        *o++ = x < 0 ? '-' : '+';
        *o++ = (char)('0' + ax / 10);
        *o++ = (char)('0' + ax % 10);
    } else if (x >= 0) {
        for (int i = 0; i <= x; i++) *o++ = i < nd ? d[i] : '0';
        if (nd > x + 1) {
            *o++ = '.';
            memcpy(o, d + x + 1, (size_t)(nd - x - 1));
            o += nd - x - 1;
        }
    } else {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -x - 1; i++) *o++ = '0';
        memcpy(o, d, (size_t)nd);
        o += nd;
    }
    *o = 0;
    return (int)(o - s);
}

static bool reads_back(const char *s, float v)
{
    /* Readers that parse to double and then cast must get v too: a short text can sit so near
     * a midpoint between floats that rounding to double first moves it onto one. */
    return strtof(s, NULL) == v && (float)strtod(s, NULL) == v;
}

int floatfmt_shortest_libc(char *s, float v)
{
    int n = 0;
    /* Decimals of 6 significant digits lie further apart than floats, so a text of at most 6
     * digits that reads back as v can only be the one %.6g prints; 9 digits always read back.
     * Subnormals have fewer bits: start lower for them. */
    for (int prec = fabsf(v) < FLT_MIN ? 1 : 6; prec <= 9; prec++) {
        n = snprintf(s, FLOATFMT_MAX + 1, "%.*g", prec, (double)v);
        if (reads_back(s, v)) break;
    }
    return n;
}

/* v's digits at precision p (c has exactly p digits, *x is its decimal exponent); false when the
 * estimate does not settle, which does not happen but keeps the loop bounded. */
static bool round_to(uint32_t m, int e, int E, int p, uint64_t *c_out, int *x)
{
    static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10,
                                 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21,
                                 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31, 1e32,
                                 1e33, 1e34, 1e35, 1e36, 1e37, 1e38, 1e39, 1e40, 1e41};
    int k = E - p + 1;
    double av = ldexp((double)m, e);
    double q = k >= 0 ? av / p10[k] : av * p10[-k];
    uint64_t c = (uint64_t)(q + 0.5);
    /* Make c the nearest to v / 10^k, ties to even: 2v against (2c -+ 1) * 10^k. */
    for (int guard = 0;; guard++) {
        if (guard == 4 || c == 0) return false;
        int lo = cmp_dec_bin(2 * c - 1, k, m, e + 1);
        if (lo > 0 || (lo == 0 && (c & 1))) {
            c--;
            continue;
        }
        int hi = cmp_dec_bin(2 * c + 1, k, m, e + 1);
        if (hi < 0 || (hi == 0 && (c & 1))) {
            c++;
            continue;
        }
        break;
    }
    *x = E;
    if (c == (uint64_t)p10[p]) { /* rounded up to 10^p: one more decimal place to the left */
        c /= 10;
        ++*x;
    }
    *c_out = c;
    return true;
}

int floatfmt_shortest(char *s, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    bool neg = bits >> 31;
    uint32_t ex = (bits >> 23) & 0xff, m = bits & 0x7fffff;
    if (ex == 0 && m == 0) return (int)(stpcpy(s, neg ? "-0" : "0") - s);
    if (ex == 0) return floatfmt_shortest_libc(s, v); /* subnormal */
    m |= 1u << 23;
    int e = (int)ex - 150;

    /* E = floor(log10 v): v lies in [2^(e+23), 2^(e+24)), so E is the estimate or one more. */
    int E = (int)floor((e + 23) * 0.30102999566398119521);
    if (E - 8 < K_MIN) return floatfmt_shortest_libc(s, v);
    if (cmp_dec_bin(1, E + 1, m, e) <= 0) E++;

    /* v's rounding interval in units of 2^(e-28): (2m +- 1) * 2^(e-1) apart from a power of two,
     * whose lower neighbour is only half as far away. The interval lies below 2^(e+24), where a
     * double's half ulp is 2^(e-30); margin, 2^(e-27), is well beyond that, so a text further
     * inside than margin reads back through double too. */
    int f = e - 28;
    uint64_t hi = (uint64_t)(2 * m + 1) << 27;
    uint64_t lo =
        m == 1u << 23 && ex > 1 ? (uint64_t)(4 * m - 1) << 26 : (uint64_t)(2 * m - 1) << 27;
    const uint64_t margin = 2;

    int n = 0;
    for (int p = 6; p <= 9; p++) {
        uint64_t c;
        int x;
        if (!round_to(m, e, E, p, &c, &x)) return floatfmt_shortest_libc(s, v);
        int k = x - p + 1;
        n = put_g(s, neg, c, p, x);
        if (cmp_dec_bin(c, k, hi, f) > 0 || cmp_dec_bin(c, k, lo, f) < 0) continue; /* outside */
        if (cmp_dec_bin(c, k, hi - margin, f) < 0 && cmp_dec_bin(c, k, lo + margin, f) > 0)
            return n;
        if (reads_back(s, v)) return n; /* too near an end to decide without the readers */
    }
    return n;
}
