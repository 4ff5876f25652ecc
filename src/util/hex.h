/* Hexadecimal digits, read the one way every parser here needs (HTTP chunk sizes and query
 * escapes, API-key digests, UUID text). */
#ifndef INFERD_UTIL_HEX_H
#define INFERD_UTIL_HEX_H

/* The value of hex digit c (0-9, a-f, A-F), or -1. */
static inline int hex_val(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* The value of lowercase hex digit c (0-9, a-f), or -1: canonical UUID text is lowercase. */
static inline int hex_val_lower(char c)
{
    return c >= 'A' && c <= 'F' ? -1 : hex_val(c);
}

#endif
