/* File access shared by src/text/: every file a tokenizer or an embedding
 * model folder names is read whole, beneath a directory, through a caller-chosen opener (the model
 * repository passes its own, which refuses symbolic links out of the repository). */
#ifndef INFERD_TEXT_TEXTIO_H
#define INFERD_TEXT_TEXTIO_H

#include <stddef.h>

#include "util/err.h"

/* Opens rel beneath dirfd for reading (flags adds e.g. O_DIRECTORY); a descriptor, or a negative
 * errno (-ENOENT when there is no such file). */
typedef int (*text_open_fn)(int dirfd, const char *rel, int flags);

/* The default opener: openat(2) with O_NOFOLLOW on the last component, non-blocking, regular
 * files (directories with O_DIRECTORY) only; -EINVAL for anything else. */
int text_open_default(int dirfd, const char *rel, int flags);

/* Reads the whole of rel beneath dirfd (opener NULL: text_open_default) into a new
 * NUL-terminated buffer (*out, *len; free() it). 0, -ENOENT when it does not exist, -EFBIG past
 * max bytes, or another negative errno; err names the file and the reason. */
int text_read_file(int dirfd, text_open_fn opener, const char *rel, size_t max, char **out,
                   size_t *len, char *err, size_t errlen);

#endif
