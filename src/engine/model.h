/* Internal to src/engine: the loaded model (graph plus file mappings and I/O descriptions). */
#ifndef INFERD_ENGINE_MODEL_H
#define INFERD_ENGINE_MODEL_H

#include "engine/engine.h"
#include "engine/graph.h"

#define MODEL_MAX_MAPS 16

struct eng_model {
    graph_t g;
    void *maps[MODEL_MAX_MAPS]; /* read-only mappings: the model file, external data files */
    size_t map_len[MODEL_MAX_MAPS];
    int nmaps;
    char *dir; /* directory of the model file, for external data */
    eng_io_t *inputs, *outputs;
    int nnodes_file; /* nodes before constant folding */
    int *run_order;  /* indices of the nodes left to run, topologically sorted */
    int nrun;
};

/* Parses an ONNX ModelProto from bytes (which must outlive the model) into m->g. */
int onnx_parse(eng_model_t *m, const void *data, size_t len, char *err, size_t errlen);
/* Resolves ops, sorts, prepares and folds constants. */
int graph_finish(eng_model_t *m, char *err, size_t errlen);

#endif
