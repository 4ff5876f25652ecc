/* Tensors: element type (ONNX TensorProto.DataType codes), shape, and a data pointer the tensor
 * does not own. Strings are stored as arrays of `const char *` (NUL-terminated UTF-8). */
#ifndef INFERD_ENGINE_TENSOR_H
#define INFERD_ENGINE_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TENSOR_MAX_RANK 8

typedef enum dtype {
    DT_UNDEFINED = 0,
    DT_FLOAT = 1,
    DT_UINT8 = 2,
    DT_INT8 = 3,
    DT_UINT16 = 4,
    DT_INT16 = 5,
    DT_INT32 = 6,
    DT_INT64 = 7,
    DT_STRING = 8,
    DT_BOOL = 9,
    DT_FLOAT16 = 10,
    DT_DOUBLE = 11,
    DT_UINT32 = 12,
    DT_UINT64 = 13,
} dtype_t;

typedef struct tensor {
    dtype_t dtype;
    int rank;
    int64_t dims[TENSOR_MAX_RANK];
    void *data; /* row-major; borrowed */
    /* Set only on ZipMap outputs: the value is a sequence (one per row) of maps from these keys
     * (an INT64 or STRING tensor of length dims[1]) to the row's FLOAT values. */
    const struct tensor *map_keys;
} tensor_t;

/* Bytes per element (sizeof(const char *) for strings); 0 for unsupported types. */
size_t dtype_size(dtype_t t);
/* Open Inference Protocol name ("FP32", "INT64", "BYTES", "BOOL", ...), or "UNDEFINED". */
const char *dtype_name(dtype_t t);
/* Inverse of dtype_name (also accepts "STRING" for BYTES); DT_UNDEFINED if unknown. */
dtype_t dtype_from_name(const char *name);
/* Number of elements (1 for rank 0); INT64_MAX if it overflows or a dim is negative. */
int64_t tensor_numel(const tensor_t *t);
/* numel * dtype_size, or SIZE_MAX when it would overflow. */
size_t tensor_nbytes(const tensor_t *t);
/* True when a and b have the same rank and dims. */
bool tensor_same_shape(const tensor_t *a, const tensor_t *b);
/* Writes "[2,3,4]" into buf. */
const char *tensor_shape_str(const tensor_t *t, char *buf, size_t len);

#endif
