/* libFuzzer target for the ONNX loader: arbitrary bytes must load or fail with a message, never
 * crash, hang or leak. Models that load are also described and run once by the loader's dry run. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "engine/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    eng_model_t *m = NULL;
    err[0] = 0;
    int rc = eng_model_load_mem(data, size, &m, err, sizeof err);
    if (rc == 0) {
        eng_model_info_t info;
        eng_model_describe(m, &info);
        eng_model_free(m);
    } else if (!err[0]) {
        __builtin_trap(); /* every failure must say why */
    }
    return 0;
}
