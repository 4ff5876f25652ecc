/* Sentence-embedding pooling over an encoder's token states, as sentence-transformers defines
 * it, and L2 normalisation. Sums run in double so the result does not depend on the order in
 * which a batch was padded. */
#ifndef INFERD_SERVE_POOLING_H
#define INFERD_SERVE_POOLING_H

#include <stdbool.h>
#include <stdint.h>

#include "text/embed_folder.h"

/* Pools one sequence: h is [seq][dim] token states of which the first len are real tokens
 * (right padding), into out[dim]. len 0 yields zeros. */
void pool_tokens(embed_pool_t m, const float *h, int64_t len, int64_t dim, float *out);

/* Keeps the first dims values (0: all) and, when normalize, scales them to unit L2 norm
 * (a zero vector stays zero). Returns the kept count. */
int64_t pool_finish(float *v, int64_t dim, int64_t dims, bool normalize);

#endif
