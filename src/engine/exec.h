/* Internal to src/engine: sessions. A session plans a run for a set of input shapes (output shapes
 * of every node, shape-only subgraphs evaluated, activation buffers laid out by liveness in one
 * arena) and reuses that plan while the shapes repeat, so a steady-state run allocates nothing. */
#ifndef INFERD_ENGINE_EXEC_H
#define INFERD_ENGINE_EXEC_H

#include "engine/model.h"
#include "engine/ops/ops.h"

#endif
