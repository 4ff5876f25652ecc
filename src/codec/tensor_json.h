/* Tensors to and from JSON: model inputs as the CLI and the HTTP API accept them, and outputs in
 * the Open Inference Protocol's shape. */
#ifndef INFERD_CODEC_TENSOR_JSON_H
#define INFERD_CODEC_TENSOR_JSON_H

#include "engine/engine.h"
#include "util/buf.h"
#include "util/json.h"

/* Inputs decoded from JSON; buffers are owned here, strings borrow from the JSON document. */
typedef struct tj_inputs {
    tensor_t *t; /* in model input order */
    int n;
} tj_inputs_t;

/* Decodes model inputs from one of:
 *   [[...], ...]                          rows, for a model with a single input
 *   {"<input>": [[...], ...], ...}        nested arrays per input name
 *   {"inputs": {"<input>": {"shape": [...], "datatype": "FP32", "data": [...]}}}
 *   {"inputs": [{"name": ..., "shape": ..., "datatype": ..., "data": ...}]}  (Open Inference)
 * Element types follow the model's declared input types; JSON null is NaN for floating inputs.
 * Returns 0, or -1 with a message naming the input and the problem (wrong rank, wrong feature
 * count, a non-number) in err. The document must outlive the inputs. */
int tj_decode_inputs(const json_value_t *root, const eng_model_t *m, tj_inputs_t *out, char *err,
                     size_t errlen);
void tj_inputs_free(tj_inputs_t *in);

/* Appends {"outputs": {"<name>": {"shape": [...], "datatype": "...", "data": [...]}}}, ZipMap
 * outputs as {"datatype": "SEQ_MAP", "shape": [N], "data": [{"<label>": p, ...}, ...]}.
 * 0 or -ENOMEM. */
int tj_encode_outputs(buf_t *b, const eng_model_t *m, const tensor_t *outs, int n);

/* Appends the Open Inference Protocol's output list: [{"name", "shape", "datatype", "data"}]. */
int tj_encode_outputs_list(buf_t *b, const eng_model_t *m, const tensor_t *outs, int n);
/* Appends element i of t as a JSON value. */
int tj_encode_elem(buf_t *b, const tensor_t *t, int64_t i);
/* Appends row r of t (every element whose first index is r) as a JSON list. 0 or -ENOMEM. */
int tj_encode_row(buf_t *b, const tensor_t *t, int64_t r);
/* Appends {"<name>": row r, ...} over the n tensors t whose first dimension is rows, named by
 * io(m, i) (eng_model_input or eng_model_output). 0 or -ENOMEM. */
int tj_encode_named_rows(buf_t *b, const tensor_t *t, int n,
                         const eng_io_t *(*io)(const eng_model_t *, int), const eng_model_t *m,
                         int64_t rows, int64_t r);

#endif
