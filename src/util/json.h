/* Strict RFC 8259 JSON reader that builds a read-only DOM in one arena, plus number writers
 * that print the shortest text which reads back to the same bits. */
#ifndef INFERD_UTIL_JSON_H
#define INFERD_UTIL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

typedef enum json_type {
    JSON_NULL,
    JSON_FALSE,
    JSON_TRUE,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
} json_type_t;

typedef struct json_value json_value_t; /* opaque; lives in its document's arena */
typedef struct json_doc json_doc_t;     /* one parse: owns every value, freed in one call */

/* Parser limits. A zero field takes the default shown. */
typedef struct json_limits {
    unsigned max_depth; /* arrays/objects open at once; default 64 */
    size_t max_values;  /* values in the document, object keys counted; default 4M */
    size_t max_bytes;   /* input length; default 64 MiB, never more than 4 GiB - 1 */
} json_limits_t;

#define JSON_DEFAULT_MAX_DEPTH  64
#define JSON_DEFAULT_MAX_VALUES ((size_t)4 << 20)
#define JSON_DEFAULT_MAX_BYTES  ((size_t)64 << 20)

/* Parses text[0..len) (need not be NUL-terminated; the document keeps no pointer into it). There
 * is no global state, and a finished document is never written again, so threads may parse at
 * once and may share one document for reading.
 * lim NULL means all defaults. Returns a new document, or NULL with a message in err that names
 * the problem and where it is, e.g. "unexpected '7', expected ',' or ']' at line 1, column 17
 * (byte 16)"; columns count bytes. err may be NULL. Refused besides what RFC 8259 forbids: an
 * object that repeats a key ("duplicate key \"x\"", at the repeat), and a number beyond double's
 * range ("number out of range": one that overflows, or non-zero digits that round to 0). Numbers
 * are read in the C locale's syntax: LC_NUMERIC must be "C" (the default for a program that never
 * calls setlocale). */
json_doc_t *json_parse(const char *text, size_t len, const json_limits_t *lim, char *err,
                       size_t errlen);
/* Frees the document and every value in it; NULL is allowed. */
void json_doc_free(json_doc_t *d);
/* The top-level value; valid until json_doc_free(). */
const json_value_t *json_root(const json_doc_t *d);

/* The accessors below accept NULL (a missing member or index) and then read it as JSON null:
 * type JSON_NULL, size 0, no string, no children. */

/* The value's type. */
json_type_t json_type(const json_value_t *v);
/* A number's value, correctly rounded to the nearest double ("-0" gives -0.0); NAN for
 * anything that is not a number. */
double json_number(const json_value_t *v);
/* True when v is a number written without fraction or exponent that fits int64_t. */
bool json_is_integer(const json_value_t *v);
/* That integer, exact. For other numbers the value truncated toward zero and saturated to the
 * int64_t range; 0 for anything that is not a number. */
int64_t json_int(const json_value_t *v);
/* A string's bytes: unescaped UTF-8, NUL-terminated, and possibly holding NULs of its own
 * ("\u0000"), so use *len (may be NULL). NULL (and *len 0) for anything that is not a string. */
const char *json_string(const json_value_t *v, size_t *len);
/* Elements of an array or members of an object; 0 for anything else. */
size_t json_size(const json_value_t *v);
/* Array element i in O(1), or NULL when v is not an array or i is out of range. */
const json_value_t *json_at(const json_value_t *arr, size_t i);
/* Value of the member of obj named key (json_parse() refuses duplicate keys), or NULL. The
 * search is linear in the member count. */
const json_value_t *json_get(const json_value_t *obj, const char *key);
/* Same, for a key of klen bytes that may hold NULs. */
const json_value_t *json_getn(const json_value_t *obj, const char *key, size_t klen);
/* Key of member i of obj (as json_string() gives it), or NULL when out of range. */
const char *json_key_at(const json_value_t *obj, size_t i, size_t *len);
/* The first member of obj whose key is not in allowed (NULL-terminated): its index, or -1 when
 * every key is allowed (or obj is not an object). Keys are compared whole, NULs included. */
long json_unknown_key(const json_value_t *obj, const char *const *allowed);
/* Optional members of a request: absent leaves *out as it is (null is refused). 0, or ERR_INVALID
 * with
 * "\"<name>\" must be ..." in err (name: the member's name as the user knows it, e.g.
 * "index.m"; key when NULL). */
int json_opt_int(const json_value_t *obj, const char *key, const char *name, int64_t lo, int64_t hi,
                 int64_t *out, char *err, size_t errlen);
int json_opt_bool(const json_value_t *obj, const char *key, const char *name, bool *out, char *err,
                  size_t errlen);
/* Value of member i of obj, or NULL when out of range. */
const json_value_t *json_value_at(const json_value_t *obj, size_t i);

/* ---- Tensors: nested rectangular arrays of numbers to flat row-major buffers ---- */

#define JSON_MAX_RANK 8

typedef enum json_elem {
    JSON_ELEM_F32, /* float; a finite value beyond float's range is an error */
    JSON_ELEM_F64, /* double */
    JSON_ELEM_I64, /* int64_t; the number must be integral ("3", "3.0", "3e0") and in range */
} json_elem_t;

typedef struct json_shape {
    unsigned rank;             /* 0 for a bare number */
    size_t dim[JSON_MAX_RANK]; /* dim[0] is the outermost */
    size_t count;              /* product of the dims: elements in the flat buffer */
} json_shape_t;

/* Reads the shape of v from its first element at each level, without checking the rest (that
 * is json_flatten's job), so a caller can size its buffer. 0, or -EINVAL with a message in err
 * when v is neither a number nor an array whose first elements lead down to a number or an empty
 * array, or nests deeper than JSON_MAX_RANK, or has more elements than size_t counts. */
int json_shape(const json_value_t *v, json_shape_t *shape, char *err, size_t errlen);
/* Converts the numbers of v into out (room for cap elements of type et) in row-major order and
 * sets *shape (may be NULL) as json_shape() does. 0 on success. On failure out holds garbage and
 * err names the first problem: -EINVAL for a ragged or non-numeric array ("row 3 has 29
 * elements, expected 30", "element [2][5] is a string, expected a number"), -ERANGE for a value
 * that does not fit et, -ENOSPC when there are more than cap elements. */
int json_flatten(const json_value_t *v, json_elem_t et, void *out, size_t cap, json_shape_t *shape,
                 char *err, size_t errlen);

/* ---- Source spans: a value's own text, for callers that keep what the client sent ---- */

/* A byte range [off, off + len) of the text given to json_parse(). */
typedef struct json_span {
    size_t off, len;
} json_span_t;

/* In text that json_parse() accepted: sets *out to the text of the member named key of the
 * top-level object, the member json_get(json_root(doc), key) returns. False when the root is not
 * an object or has no such member, or writes that member's key with escapes (this scan compares
 * keys as written). */
bool json_span_member(const char *text, size_t len, const char *key, json_span_t *out);
/* In text that json_parse() accepted, for the array at span arr: the spans of its elements, at
 * most cap of them written to out. Returns the element count (which may exceed cap), or 0 when
 * arr does not hold an array. */
size_t json_span_elements(const char *text, json_span_t arr, json_span_t *out, size_t cap);
/* Appends text[span] without the whitespace between tokens (strings are kept whole): the text
 * must be valid JSON, e.g. a span found above. 0 or -ENOMEM. */
int json_write_compact(buf_t *b, const char *text, json_span_t span);

/* ---- Writers ---- */

/* Appends the first of "%.15g", "%.16g", "%.17g" that reads back as exactly v (from "%.1g" for
 * subnormals), which is the shortest such text since %g drops trailing zeros: 0.1 prints as
 * "0.1". "null" when v is NaN or infinite. 0 or -ENOMEM. */
int json_write_double(buf_t *b, double v);
/* Same for a float with "%.6g".."%.9g" (from "%.1g" for subnormals); the text reads back with
 * strtof() to the same bits, and through json_parse() and a cast to float as well. */
int json_write_float(buf_t *b, float v);

#endif
