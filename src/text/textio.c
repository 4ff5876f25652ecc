/* Whole-file reads beneath a directory and the error formatter of src/text/. */
#include "text/textio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int text_open_default(int dirfd, const char *rel, int flags)
{
    int fd = openat(dirfd, rel, flags | O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
    if (fd < 0) return errno == ELOOP ? -EXDEV : -errno;
    struct stat st;
    if (fstat(fd, &st) || ((flags & O_DIRECTORY) ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) {
        close(fd);
        return -EINVAL;
    }
    return fd;
}

int text_read_file(int dirfd, text_open_fn opener, const char *rel, size_t max, char **out,
                   size_t *len, char *err, size_t errlen)
{
    *out = NULL;
    *len = 0;
    int fd = (opener ? opener : text_open_default)(dirfd, rel, 0);
    if (fd < 0)
        return err_fail(err, errlen, fd, "%s: %s", rel,
                        fd == -EXDEV    ? "resolves outside its folder (a symbolic link)"
                        : fd == -EINVAL ? "not a regular file"
                                        : strerror(-fd));
    struct stat st;
    if (fstat(fd, &st)) {
        int rc = -errno;
        close(fd);
        return err_fail(err, errlen, rc, "%s: %s", rel, strerror(-rc));
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return err_fail(err, errlen, -EFBIG, "%s: %lld bytes, more than the %zu allowed", rel,
                        (long long)st.st_size, max);
    }
    /* Read until EOF rather than trusting st_size, so a file that grows is still bounded. */
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *b = malloc(cap + 1);
    if (!b) {
        close(fd);
        return err_fail(err, errlen, -ENOMEM, "%s: out of memory", rel);
    }
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                free(b);
                close(fd);
                return err_fail(err, errlen, -EFBIG, "%s: more than the %zu bytes allowed", rel,
                                max);
            }
            char *nb = realloc(b, cap * 2 + 1);
            if (!nb) {
                free(b);
                close(fd);
                return err_fail(err, errlen, -ENOMEM, "%s: out of memory", rel);
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int rc = -errno;
            free(b);
            close(fd);
            return err_fail(err, errlen, rc, "%s: %s", rel, strerror(-rc));
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (n > max) {
        free(b);
        return err_fail(err, errlen, -EFBIG, "%s: more than the %zu bytes allowed", rel, max);
    }
    b[n] = '\0';
    *out = b;
    *len = n;
    return 0;
}
