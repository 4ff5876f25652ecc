/* The ai.onnx.ml operator table that ops/registry.c searches: every op_def of the ml_*.c files,
 * NULL-terminated. */
#include "engine/ops/ops.h"

#define OPS(X)                                                                                     \
    X(array_feature_extractor) X(binarizer) X(imputer) X(label_encoder) X(linear_classifier)       \
    X(linear_regressor) X(normalizer) X(one_hot_encoder) X(scaler) X(svm_classifier)               \
    X(svm_regressor) X(tree_classifier) X(tree_regressor) X(zipmap)

#define DECLARE(op) extern const op_def_t ml_op_##op;
OPS(DECLARE)
#undef DECLARE

#define ENTRY(op) &ml_op_##op,
const op_def_t *const ops_ml[] = {OPS(ENTRY) NULL};
#undef ENTRY
