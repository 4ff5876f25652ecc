/* Internal to src/engine: the loaded model (graph plus the file bytes it owns, I/O descriptions).
 */
#ifndef INFERD_ENGINE_MODEL_H
#define INFERD_ENGINE_MODEL_H

#include "engine/engine.h"
#include "engine/graph.h"

#define MODEL_MAX_FILES 16

struct eng_model {
    graph_t g;
    /* The model file's bytes and each external data file's, read at load and owned (aligned
     * allocations: initialisers point into them). Never mappings: a file changed under a mapping
     * would change, or SIGBUS, a loaded model. files[0] is the model file. */
    void *files[MODEL_MAX_FILES];
    size_t file_len[MODEL_MAX_FILES];
    const char *file_loc[MODEL_MAX_FILES]; /* external data location (arena), NULL for files[0] */
    int nfiles;
    int datadir;              /* during loading only: external data resolves beneath it; -1: none */
    const atomic_int *cancel; /* during loading only */
    eng_io_t *inputs, *outputs;
    int nnodes_file; /* nodes before constant folding */
    int npacked;     /* weights the fusion pass packed into column strips */
    int *run_order;  /* indices of the nodes left to run, topologically sorted */
    int nrun;
};

/* Parses an ONNX ModelProto from bytes (which must outlive the model) into m->g. */
int onnx_parse(eng_model_t *m, const void *data, size_t len, char *err, size_t errlen);
/* Parses one serialized TensorProto (as the ONNX test data stores inputs and outputs) into *t,
 * its data and *name in g's arena (data may point into the bytes, which must outlive it). */
int onnx_parse_tensor(graph_t *g, const void *data, size_t len, tensor_t *t, const char **name,
                      char *err, size_t errlen);
/* Resolves ops, sorts, prepares and folds constants. */
int graph_finish(eng_model_t *m, char *err, size_t errlen);
/* Reads the regular file fd (from offset 0) into a new 64-byte-aligned buffer of *len bytes
 * (free()). Checks cancel between chunks; fails with ENG_EIO if the file changes meanwhile. */
/* eng_open_beneath's fallback without openat2 (every symlink refused, -EXDEV), without its
 * file-type check; exposed for tests. */
int model_open_walk(int dirfd, const char *path, int flags);
int model_read_fd(int fd, const atomic_int *cancel, void **data, size_t *len, char *err,
                  size_t errlen);

#endif
