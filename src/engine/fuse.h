/* Graph fusions (fuse.c): one fused op in place of the subgraphs exporters write for layer
 * normalisation, GELU and bias-add after MatMul. */
#ifndef INFERD_ENGINE_FUSE_H
#define INFERD_ENGINE_FUSE_H

#include <stddef.h>

#include "engine/model.h"

/* Rewrites m's run order in place, after constant folding. 0, or ENG_ENOMEM with err set.
 * The environment variable INFERD_NO_FUSE turns it off (to compare with the plain graph). */
int graph_fuse(eng_model_t *m, char *err, size_t errlen);

#endif
