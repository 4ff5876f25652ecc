/* Files of vectors, as ANN benchmarks and NumPy write them: .fvecs (per row an int32 dimension,
 * then that many float32), .ivecs (the same with int32 values: search results) and .npy (NumPy's
 * format, version 1-3, a 2-D C-order array of little-endian float32, or float64 converted).
 * Everything is little-endian. The parsers take untrusted bytes (fuzzed: fuzz/fuzz_vecs.c). */
#ifndef INFERD_CODEC_VECS_H
#define INFERD_CODEC_VECS_H

#include <stddef.h>
#include <stdint.h>

/* n rows of dim float32 values, row after row. */
typedef struct vecs {
    float *data;
    int64_t n;
    int dim;
} vecs_t;

#define VECS_MAX_DIM 65536

/* Parses a whole .fvecs file: every row must have the first row's dimension (1..VECS_MAX_DIM),
 * and the bytes must end with a row. 0, or -EINVAL / -ENOMEM with the problem (and the row)
 * in err. An empty file is 0 rows of dimension 0. */
int vecs_parse_fvecs(const void *p, size_t n, vecs_t *out, char *err, size_t errlen);
/* Parses a whole .npy file holding a 2-D array of '<f4' or '<f8' (converted to float32) in C
 * order. 0, or -EINVAL / -ENOMEM with the problem in err. */
int vecs_parse_npy(const void *p, size_t n, vecs_t *out, char *err, size_t errlen);
/* Reads path by its extension (.fvecs or .npy). 0, or -errno with the problem in err. */
int vecs_read(const char *path, vecs_t *out, char *err, size_t errlen);
/* Frees the rows; the struct is left empty. */
void vecs_free(vecs_t *v);

/* Writes n rows of k int32 values each as .ivecs (written to a temporary name, then renamed).
 * 0, or -errno with the problem in err. */
int vecs_write_ivecs(const char *path, const int32_t *v, int64_t n, int k, char *err,
                     size_t errlen);

#endif
