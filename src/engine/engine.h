/* inferd's ONNX execution engine: the public C API.
 *
 *   eng_model_t *m;  char err[512];
 *   if (eng_model_load("model.onnx", &m, err, sizeof err)) { puts(err); ... }
 *   eng_session_t *s = eng_session_new(m, 1);           // one per thread
 *   tensor_t in = {.dtype = DT_FLOAT, .rank = 2, .dims = {n, 30}, .data = rows};
 *   const tensor_t *out;  int nout;
 *   if (eng_session_run(s, &in, 1, &out, &nout, err, sizeof err)) { ... }
 *   // out[i] stays valid until the next run on s
 *   eng_session_free(s);  eng_model_free(m);
 *
 * A model is immutable after loading and may be shared by sessions on any number of threads; a
 * session is used by one thread at a time. Errors are negative ENG_E* codes with a message. */
#ifndef INFERD_ENGINE_ENGINE_H
#define INFERD_ENGINE_ENGINE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/tensor.h"

enum {
    ENG_OK = 0,
    ENG_EIO = -1,          /* file cannot be read */
    ENG_EFORMAT = -2,      /* not a valid ONNX model (malformed protobuf, bad references) */
    ENG_EUNSUPPORTED = -3, /* valid, but uses an op, opset or type we cannot run */
    ENG_EINPUT = -4,       /* run: the caller's inputs do not fit the model */
    ENG_ERUN = -5,         /* run: data-dependent failure inside an op */
    ENG_ENOMEM = -6,
    ENG_ECANCELED = -7, /* load: the caller's cancel flag was raised */
};

typedef struct eng_model eng_model_t;
typedef struct eng_session eng_session_t;

/* A graph input or output as declared by the model. */
typedef struct eng_io {
    const char *name;
    dtype_t dtype;                           /* DT_UNDEFINED if not declared */
    int rank;                                /* -1 if not declared */
    int64_t dims[TENSOR_MAX_RANK];           /* -1 for a symbolic or unknown dimension */
    const char *dim_params[TENSOR_MAX_RANK]; /* symbolic names ("N"), or NULL */
    int is_map_seq;                          /* output is a sequence of maps (ZipMap) */
} eng_io_t;

/* Loads, validates and prepares a model (ops resolved, constants folded, a dry run at batch 1).
 * The file is read into memory the model owns, so changing the file later changes nothing
 * loaded. External data files are resolved beneath the model file's directory (eng_open_beneath
 * rules). */
int eng_model_load(const char *path, eng_model_t **out, char *err, size_t errlen);

/* Where eng_model_load_fd finds external data, and when it gives up. */
typedef struct eng_load_opts {
    int datadir;              /* directory external data is resolved beneath; -1: none allowed */
    const atomic_int *cancel; /* when set (non-zero) the load stops with ENG_ECANCELED */
} eng_load_opts_t;
/* Same from fd, a regular file open for reading (not closed; read with pread from offset 0).
 * Fails with ENG_EIO if the file changes while it is being read. o may be NULL. */
int eng_model_load_fd(int fd, const eng_load_opts_t *o, eng_model_t **out, char *err,
                      size_t errlen);
/* Same from memory (the bytes are copied; external data is refused). */
int eng_model_load_mem(const void *data, size_t len, eng_model_t **out, char *err, size_t errlen);
void eng_model_free(eng_model_t *m);

int eng_model_ninputs(const eng_model_t *m);
int eng_model_noutputs(const eng_model_t *m);
const eng_io_t *eng_model_input(const eng_model_t *m, int i);
const eng_io_t *eng_model_output(const eng_model_t *m, int i);

/* Facts for `inferd check`. */
typedef struct eng_model_info {
    int64_t ir_version;
    const char *producer;
    int nopsets;
    const char *opset_domain[8];
    int64_t opset_version[8];
    int nnodes;      /* as in the file */
    int nnodes_run;  /* after constant folding */
    int64_t nparams; /* initialiser elements */
    int npacked;     /* weight matrices packed for the product kernel at load */
    int nops;        /* distinct (domain, op_type) pairs */
    const char *op_name[128];
    const char *op_domain[128];
    int op_count[128];
} eng_model_info_t;
void eng_model_describe(const eng_model_t *m, eng_model_info_t *info);

/* A session runs the model with up to nthreads threads (1 = the caller's thread only). */
eng_session_t *eng_session_new(const eng_model_t *m, int nthreads);
void eng_session_free(eng_session_t *s);
/* Runs on inputs given in model input order. On success *outputs points to *noutputs tensors
 * owned by the session, valid until its next run. */
int eng_session_run(eng_session_t *s, const tensor_t *inputs, int ninputs, const tensor_t **outputs,
                    int *noutputs, char *err, size_t errlen);

/* Opens path beneath the directory dirfd, never outside it: a relative path without a symlink,
 * ".." or magic link that leaves dirfd (openat2 RESOLVE_BENEATH; without openat2 every symlink is
 * refused). flags are added to O_RDONLY | O_CLOEXEC | O_NONBLOCK (so a FIFO cannot block us);
 * unless flags has O_DIRECTORY, only a regular file is accepted. Returns the descriptor, or
 * -errno: -EXDEV when the path leaves dirfd, -EINVAL when it is not a regular file. */
int eng_open_beneath(int dirfd, const char *path, int flags);
/* A reason for a negative eng_open_beneath result, for messages. */
const char *eng_open_strerror(int rc);

/* Process-wide set-up (BLAS threading); called by eng_model_load, idempotent. */
void eng_init(void);

#endif
