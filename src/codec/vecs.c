#include "codec/vecs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/bytes.h"
#include "util/err.h"

void vecs_free(vecs_t *v)
{
    free(v->data);
    *v = (vecs_t){0};
}

int vecs_parse_fvecs(const void *p, size_t n, vecs_t *out, char *err, size_t errlen)
{
    *out = (vecs_t){0};
    const unsigned char *b = p;
    if (n == 0) return 0;
    if (n < 4)
        return err_fail(err, errlen, -EINVAL, "fvecs: %zu bytes: not even one row's dimension", n);
    int32_t dim = (int32_t)load_u32(b);
    if (dim < 1 || dim > VECS_MAX_DIM)
        return err_fail(err, errlen, -EINVAL, "fvecs: row 0 has dimension %d (expected 1 to %d)",
                        dim, VECS_MAX_DIM);
    size_t row = 4 + (size_t)dim * 4;
    if (n % row)
        return err_fail(err, errlen, -EINVAL,
                        "fvecs: %zu bytes is not a whole number of %zu-byte rows (dimension %d): "
                        "truncated?",
                        n, row, dim);
    size_t rows = n / row;
    float *d = malloc(rows * (size_t)dim * sizeof *d);
    if (!d) return err_fail(err, errlen, -ENOMEM, "fvecs: out of memory for %zu rows", rows);
    for (size_t i = 0; i < rows; i++) {
        const unsigned char *r = b + i * row;
        if ((int32_t)load_u32(r) != dim) {
            free(d);
            return err_fail(err, errlen, -EINVAL, "fvecs: row %zu has dimension %d, row 0 has %d",
                            i, (int32_t)load_u32(r), dim);
        }
        memcpy(d + i * (size_t)dim, r + 4, (size_t)dim * 4);
    }
    *out = (vecs_t){d, (int64_t)rows, dim};
    return 0;
}

/* In the .npy header dict: the text after key's colon, or NULL. */
static const char *npy_value(const char *h, size_t n, const char *key)
{
    size_t k = strlen(key);
    for (size_t i = 0; i + k + 2 <= n; i++) {
        if ((h[i] == '\'' || h[i] == '"') && !memcmp(h + i + 1, key, k) && h[i + k + 1] == h[i]) {
            const char *v = h + i + k + 2;
            while (v < h + n && (*v == ' ' || *v == ':')) v++;
            return v < h + n ? v : NULL;
        }
    }
    return NULL;
}

int vecs_parse_npy(const void *p, size_t n, vecs_t *out, char *err, size_t errlen)
{
    *out = (vecs_t){0};
    const unsigned char *b = p;
    if (n < 10 || memcmp(b, "\x93NUMPY", 6))
        return err_fail(err, errlen, -EINVAL, "npy: not a NumPy .npy file (no \\x93NUMPY magic)");
    int major = b[6];
    size_t hlen, hoff;
    if (major == 1) {
        hlen = b[8] | (size_t)b[9] << 8, hoff = 10;
    } else if (major == 2 || major == 3) {
        if (n < 12) return err_fail(err, errlen, -EINVAL, "npy: truncated header");
        hlen = load_u32(b + 8), hoff = 12;
    } else {
        return err_fail(err, errlen, -EINVAL, "npy: format version %d.%d is not 1, 2 or 3", major,
                        b[7]);
    }
    if (hlen > n - hoff) return err_fail(err, errlen, -EINVAL, "npy: truncated header");
    const char *h = (const char *)b + hoff;
    const char *descr = npy_value(h, hlen, "descr");
    const char *fortran = npy_value(h, hlen, "fortran_order");
    const char *shape = npy_value(h, hlen, "shape");
    if (!descr || !fortran || !shape)
        return err_fail(err, errlen, -EINVAL,
                        "npy: the header lacks descr, fortran_order or shape");
    size_t left = (size_t)(h + hlen - descr);
    int esize;
    if (left >= 5 && !memcmp(descr + 1, "<f4", 3))
        esize = 4;
    else if (left >= 5 && !memcmp(descr + 1, "<f8", 3))
        esize = 8;
    else
        return err_fail(err, errlen, -EINVAL,
                        "npy: the array's dtype is not little-endian float32 or float64 ('<f4', "
                        "'<f8'): convert it with arr.astype('<f4')");
    if ((size_t)(h + hlen - fortran) < 5 || memcmp(fortran, "False", 5))
        return err_fail(err, errlen, -EINVAL,
                        "npy: the array is in Fortran order: save np.ascontiguousarray(arr)");
    /* shape: "(rows, cols)" */
    const char *s = shape, *end = h + hlen;
    if (s >= end || *s != '(') return err_fail(err, errlen, -EINVAL, "npy: cannot read the shape");
    int64_t dims[3];
    int nd = 0;
    s++;
    while (s < end && *s != ')') {
        while (s < end && *s == ' ') s++;
        if (s < end && *s == ')') break;
        int64_t v = 0;
        const char *d0 = s;
        while (s < end && *s >= '0' && *s <= '9' && v < ((int64_t)1 << 50))
            v = v * 10 + (*s++ - '0');
        if (s == d0 || nd == 3) return err_fail(err, errlen, -EINVAL, "npy: cannot read the shape");
        dims[nd++] = v;
        while (s < end && (*s == ' ' || *s == 'L')) s++;
        if (s < end && *s == ',') s++;
    }
    if (s >= end || nd != 2)
        return err_fail(err, errlen, -EINVAL,
                        "npy: the array has %d dimensions; expected 2 (rows, dim)", nd);
    if (dims[1] < 1 || dims[1] > VECS_MAX_DIM)
        return err_fail(err, errlen, -EINVAL, "npy: dimension %lld (expected 1 to %d)",
                        (long long)dims[1], VECS_MAX_DIM);
    size_t data = n - hoff - hlen;
    if ((uint64_t)dims[0] > data / (size_t)esize / (size_t)dims[1] ||
        (size_t)dims[0] * (size_t)dims[1] * (size_t)esize != data)
        return err_fail(
            err, errlen, -EINVAL,
            "npy: shape (%lld, %lld) needs %llu bytes of data, the file has %zu: truncated?",
            (long long)dims[0], (long long)dims[1],
            (unsigned long long)dims[0] * (unsigned long long)dims[1] * (unsigned)esize, data);
    size_t count = (size_t)dims[0] * (size_t)dims[1];
    float *d = malloc((count ? count : 1) * sizeof *d);
    if (!d)
        return err_fail(err, errlen, -ENOMEM, "npy: out of memory for %lld rows",
                        (long long)dims[0]);
    const unsigned char *src = b + hoff + hlen;
    if (esize == 4) {
        memcpy(d, src, count * 4);
    } else {
        for (size_t i = 0; i < count; i++) {
            double x;
            memcpy(&x, src + i * 8, 8);
            d[i] = (float)x;
        }
    }
    *out = (vecs_t){d, dims[0], (int)dims[1]};
    return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

int vecs_read(const char *path, vecs_t *out, char *err, size_t errlen)
{
    *out = (vecs_t){0};
    bool npy = ends_with(path, ".npy");
    if (!npy && !ends_with(path, ".fvecs"))
        return err_fail(err, errlen, -EINVAL, "%s: expected a .fvecs or .npy file", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno ? errno : EINVAL;
        close(fd);
        return err_fail(err, errlen, -e, "%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    void *p = n ? mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (n && p == MAP_FAILED) return err_fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
    char why[256];
    int rc = npy ? vecs_parse_npy(p, n, out, why, sizeof why)
                 : vecs_parse_fvecs(p, n, out, why, sizeof why);
    if (n) munmap(p, n);
    if (rc) err_fail(err, errlen, rc, "%s: %s", path, why);
    return rc;
}

int vecs_write_ivecs(const char *path, const int32_t *v, int64_t n, int k, char *err, size_t errlen)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return err_fail(err, errlen, -ENAMETOOLONG, "%s: path too long", path);
    FILE *f = fopen(tmp, "wb");
    if (!f) return err_fail(err, errlen, -errno, "%s: %s", tmp, strerror(errno));
    int32_t dim = k;
    bool ok = true;
    for (int64_t i = 0; i < n && ok; i++)
        ok = fwrite(&dim, 4, 1, f) == 1 && fwrite(v + i * k, 4, (size_t)k, f) == (size_t)k;
    int e = ok ? 0 : errno;
    if (fclose(f) != 0 && !e) e = errno;
    if (!e && rename(tmp, path) != 0) e = errno;
    if (e) {
        unlink(tmp);
        return err_fail(err, errlen, -e, "%s: %s", path, strerror(e));
    }
    return 0;
}
