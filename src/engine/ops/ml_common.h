/* Pieces shared by the ai.onnx.ml operators (ml_*.c): score post-transforms computed the way ONNX
 * Runtime computes them, row views of the X input, label outputs and attribute helpers.
 * Implemented in ml_common.c. */
#ifndef INFERD_ENGINE_OPS_ML_COMMON_H
#define INFERD_ENGINE_OPS_ML_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/ops/kern.h" /* kern_fail, for the ml_* ops' messages too */
#include "engine/ops/ops.h"

#define ML_DOMAIN "ai.onnx.ml"

/* The post_transform attribute of the classifiers and regressors. */
typedef enum ml_post {
    ML_POST_NONE,
    ML_POST_LOGISTIC,
    ML_POST_SOFTMAX,
    ML_POST_SOFTMAX_ZERO,
    ML_POST_PROBIT,
} ml_post_t;

/* Reads post_transform (default NONE); -1 with a message for an unknown name. */
int ml_parse_post(const node_t *n, ml_post_t *out, char *err, size_t errlen);

/* The transforms, in float as ONNX Runtime does them (ml_common.h there): logistic through
 * exp(-|x|), probit through a closed-form erfinv approximation (NaN outside (0,1), -inf at 0),
 * softmax from the max, and softmax_zero which leaves exact zeros at zero. */
float ml_logistic(float v);
float ml_probit(float v);
void ml_softmax(float *v, int64_t n);
void ml_softmax_zero(float *v, int64_t n);
/* Applies p to a score vector of n >= 2 entries in place: element-wise for LOGISTIC and PROBIT,
 * over the vector for the softmaxes. */
void ml_post_vector(ml_post_t p, float *v, int64_t n);
/* The same for the score rows of LinearClassifier, LinearRegressor and SVMClassifier, which ORT
 * transforms through MLAS: LOGISTIC there is MLAS's rational approximation (ml_logistic_mlas),
 * accurate near 0 where 1 - 1/(1+e^-x) is not. */
void ml_post_rows(ml_post_t p, float *v, int64_t n);
float ml_logistic_mlas(float v);
/* tanh as MlasComputeTanh (the SIGMOID kernel of the SVMs): a rational polynomial on [-9, 9]. */
float ml_tanh_mlas(float v);

/* a . b as ORT's SGEMM kernels compute it on FMA hardware: a float accumulator updated with one
 * fused multiply-add per element, in order. Bit-exact with ORT 1.30 on the probed cases (plain
 * float or double accumulation match only about half the time, which PROBIT then magnifies). */
float ml_dot(const float *a, const float *b, int64_t n);
/* The same dot product when the GEMM has a single row (M = 1, alpha = 1): MLAS then uses its AVX
 * M=1 kernel, which keeps 8 lane sums of rounded products and reduces them in an order that
 * depends on whether output `col` of `ncols` falls in a group of 4, 2 or 1 outputs. Bit-exact
 * with ORT 1.30 on every probed case. */
float ml_dot_m1(const float *a, const float *b, int64_t n, int64_t col, int64_t ncols);

/* ONNX Runtime's two-column expansion of one binary score s into z[0], z[1]: `mixed` (some weight
 * is negative) gives [-s, s] (LOGISTIC: [L(-s), L(s)]); otherwise [1-s, s] (LOGISTIC: [1-L(s),
 * L(s)]). Other transforms are not applied here, as in ORT. */
void ml_binary_pair(ml_post_t p, bool mixed, float s, float *z);

/* True for the numeric types the ML ops take as X (FLOAT, DOUBLE, INT64, INT32). */
bool ml_numeric(dtype_t t);
/* X as rows: rank 1 [F] is one row of F, rank 2 [N, F] is N rows. -1 with a message naming op
 * for other ranks. Dims may be -1 (unknown at plan time). */
int ml_rows(const tensor_t *x, const char *op, int64_t *nrows, int64_t *nfeat, char *err,
            size_t errlen);
/* Element i of a numeric tensor converted with a C cast to float / double. */
float ml_get_f32(const tensor_t *t, int64_t i);
double ml_get_f64(const tensor_t *t, int64_t i);
/* Copies count elements from element off of a numeric tensor into out as float (a C cast, which
 * is what ORT's static_cast<float> does). */
void ml_to_f32(const tensor_t *t, int64_t off, int64_t count, float *out);

/* Class labels: classlabels_ints / classlabels_int64s (name given) or classlabels_strings. */
typedef struct ml_labels {
    int64_t n;
    const int64_t *ints; /* NULL when labels are strings */
    const char **strs;
} ml_labels_t;
/* Reads the labels; -1 with a message when both or (if required) neither are set. */
int ml_read_labels(const node_t *n, const char *ints_name, ml_labels_t *l, bool required,
                   const char *op, char *err, size_t errlen);
dtype_t ml_label_dtype(const ml_labels_t *l);
/* Writes label k (an index into the labels) to element i of the Y tensor. */
void ml_put_label(const ml_labels_t *l, tensor_t *y, int64_t i, int64_t k);

/* A list attribute of floats, or the same attribute given as a tensor (the TreeEnsemble v3
 * *_as_tensor variants), widened to double into arena memory. *is_double tells whether the tensor
 * was DOUBLE. *count = 0 when both are absent; -1 with a message when both are set or the tensor
 * is not FLOAT/DOUBLE. */
int ml_attr_reals(graph_t *g, const node_t *n, const char *name, const char *tensor_name,
                  double **out, int64_t *count, bool *is_double, char *err, size_t errlen);

/* A read-only hash index over an array of keys (built once in prepare, in the graph arena):
 * maps a key to its position. Keys are int64 (also for INT32/INT16), double (also for FLOAT;
 * -0.0 equals 0.0) or strings. */
typedef struct ml_index {
    dtype_t kt; /* DT_INT64, DT_DOUBLE or DT_STRING */
    const void *keys;
    int32_t *slots; /* positions, -1 for empty; mask + 1 of them */
    uint64_t mask;
    bool nan_eq; /* a NaN key matches a NaN probe (LabelEncoder-4) */
} ml_index_t;
/* Builds the index over n keys; for repeated keys the first (last_wins false) or the last
 * position is kept. -1 on out-of-memory. */
int ml_index_build(arena_t *a, ml_index_t *ix, dtype_t kt, const void *keys, int64_t n,
                   bool last_wins, bool nan_eq);
/* Position of the key, or -1. */
int64_t ml_index_int(const ml_index_t *ix, int64_t key);
int64_t ml_index_real(const ml_index_t *ix, double key);
int64_t ml_index_str(const ml_index_t *ix, const char *key);

/* Rows per block in tree evaluation (ml_tree.c): trees are the outer loop within a block, rows
 * the inner one; 1 evaluates all trees row by row. A benchmark knob; default 128. */
extern int ml_tree_block;

/* Sets out to dtype and the rank-2 shape [d0, d1]. */
void ml_shape2(tensor_t *out, dtype_t dt, int64_t d0, int64_t d1);

#endif
