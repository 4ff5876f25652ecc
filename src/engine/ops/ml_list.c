/* The ai.onnx.ml operator table that ops/registry.c searches: every op_def of the ml_*.c files,
 * NULL-terminated. */
#include "engine/ops/ops.h"

extern const op_def_t ml_op_array_feature_extractor, ml_op_binarizer, ml_op_imputer,
    ml_op_label_encoder, ml_op_linear_classifier, ml_op_linear_regressor, ml_op_normalizer,
    ml_op_one_hot_encoder, ml_op_scaler, ml_op_svm_classifier, ml_op_svm_regressor,
    ml_op_tree_classifier, ml_op_tree_regressor, ml_op_zipmap;

const op_def_t *const ops_ml[] = {
    &ml_op_array_feature_extractor,
    &ml_op_binarizer,
    &ml_op_imputer,
    &ml_op_label_encoder,
    &ml_op_linear_classifier,
    &ml_op_linear_regressor,
    &ml_op_normalizer,
    &ml_op_one_hot_encoder,
    &ml_op_scaler,
    &ml_op_svm_classifier,
    &ml_op_svm_regressor,
    &ml_op_tree_classifier,
    &ml_op_tree_regressor,
    &ml_op_zipmap,
    NULL,
};
