/* libFuzzer target for request decoding: arbitrary bytes as a JSON request body, decoded against
 * real models (one FP32 input; FP32 + STRING + INT64 inputs), then run when the decode succeeds.
 * Must never crash: every malformed body is a message. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "codec/tensor_json.h"
#include "engine/engine.h"
#include "util/json.h"

static eng_model_t *models[2];
static eng_session_t *sessions[2];

static void init(void)
{
    static const char *paths[] = {FIXTURES_DIR "/models/breast_cancer_logreg.onnx",
                                  FIXTURES_DIR "/models/pipeline_mixed.onnx"};
    char err[512];
    for (int i = 0; i < 2; i++) {
        if (eng_model_load(paths[i], &models[i], err, sizeof err)) abort();
        sessions[i] = eng_session_new(models[i], 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!models[0]) init();
    char err[512];
    json_limits_t lim = {.max_depth = 16, .max_values = 1 << 16, .max_bytes = 1 << 20};
    json_doc_t *doc = json_parse((const char *)data, size, &lim, err, sizeof err);
    if (!doc) return 0;
    for (int i = 0; i < 2; i++) {
        tj_inputs_t in = {0};
        if (tj_decode_inputs(json_root(doc), models[i], &in, err, sizeof err) == 0) {
            const tensor_t *outs;
            int nout;
            if (eng_session_run(sessions[i], in.t, in.n, &outs, &nout, err, sizeof err) == 0) {
                buf_t b;
                buf_init(&b);
                tj_encode_outputs_list(&b, models[i], outs, nout);
                buf_deinit(&b);
            }
            tj_inputs_free(&in);
        }
    }
    json_doc_free(doc);
    return 0;
}
