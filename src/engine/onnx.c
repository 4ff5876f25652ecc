/* ONNX ModelProto -> graph_t, with our own wire-format reader (engine/pb.c). Field numbers follow
 * onnx.proto (ONNX IR version 3..10). Tensor payloads stay in the file bytes when aligned. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/model.h"
#include "engine/pb.h"
#include "util/err.h"

#define MAX_ITEMS (1 << 22) /* nodes, values or attributes in one graph: beyond is hostile */

typedef struct loader {
    eng_model_t *m;
    graph_t *g;
    char *err;
    size_t errlen;
    /* name -> value id, open addressing */
    int *slots;
    size_t nslots;
} loader_t;

static int fail(loader_t *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(loader_t *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(L->err, L->errlen, fmt, ap);
    va_end(ap);
    return ENG_EFORMAT;
}

/* A string field as a NUL-terminated copy; a field of the wrong wire type reads as "". */
static const char *str(loader_t *L, const pb_field_t *f)
{
    if (f->wire != PB_LEN) return arena_strndup(&L->g->arena, "", 0);
    return arena_strndup(&L->g->arena, (const char *)f->ptr, f->len);
}

/* ============================================================================ names ==== */

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static int *lookup_slot(loader_t *L, const char *name)
{
    size_t mask = L->nslots - 1;
    for (size_t i = hash(name) & mask;; i = (i + 1) & mask) {
        int *s = &L->slots[i];
        if (*s < 0 || strcmp(L->g->values[*s].name, name) == 0) return s;
    }
}

static int grow_names(loader_t *L)
{
    size_t n = L->nslots ? L->nslots * 2 : 1024;
    int *slots = malloc(n * sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < n; i++) slots[i] = -1;
    free(L->slots);
    L->slots = slots;
    L->nslots = n;
    for (int v = 0; v < L->g->nvalues; v++) *lookup_slot(L, L->g->values[v].name) = v;
    return 0;
}

static int find_value(loader_t *L, const char *name)
{
    if (!L->nslots) return -1;
    return *lookup_slot(L, name);
}

/* Adds a value called name; -1 on out-of-memory. Duplicate names are checked by callers. */
static int add_value(loader_t *L, const char *name, value_kind_t kind)
{
    graph_t *g = L->g;
    if (g->nvalues >= MAX_ITEMS) return -1;
    if (g->nvalues == g->values_cap) {
        int cap = g->values_cap ? g->values_cap * 2 : 256;
        value_t *v = realloc(g->values, (size_t)cap * sizeof *v);
        if (!v) return -1;
        g->values = v;
        g->values_cap = cap;
    }
    if ((size_t)(g->nvalues + 1) * 2 > L->nslots && grow_names(L)) return -1;
    int id = g->nvalues++;
    value_t *v = &g->values[id];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->kind = kind;
    v->rank = -1;
    v->producer = -1;
    *lookup_slot(L, name) = id;
    return id;
}

/* =========================================================================== tensors ==== */

/* The occurrences of one repeated field in a message, packed or not (proto2 files, which
 * onnx.proto is, often write every element as its own field). A view: nothing is copied. */
typedef struct fieldlist {
    pb_t msg;     /* the whole message */
    uint32_t num; /* the field number; 0 until the first occurrence */
    int64_t n;    /* occurrences */
} fieldlist_t;

static int fl_add(loader_t *L, fieldlist_t *fl, const pb_t *msg, const pb_field_t *f)
{
    (void)L;
    fl->msg = *msg;
    fl->num = f->num;
    fl->n++;
    return 0;
}

/* Next occurrence of the field, from iterator state *it (start with fl->msg). */
static bool fl_next(const fieldlist_t *fl, pb_t *it, pb_field_t *f)
{
    while (fl->n && pb_next(it, f) > 0)
        if (f->num == fl->num) return true;
    return false;
}

static int64_t fl_count(const fieldlist_t *fl, int elem)
{
    int64_t n = 0;
    pb_t it = fl->msg;
    pb_field_t f;
    while (fl_next(fl, &it, &f)) {
        int64_t c = pb_count_packed(&f, elem);
        if (c < 0) return -1;
        n += c;
    }
    return n;
}

/* The bytes of external data file location, read once per model into memory it owns. */
static int read_external(loader_t *L, const char *location, const uint8_t **base, size_t *len)
{
    eng_model_t *m = L->m;
    /* The data must stay inside the model's directory: no absolute paths, no "..", and no
     * symlink out (eng_open_beneath). */
    if (m->datadir < 0)
        return fail(L, "external data \"%s\" needs a model loaded from a file", location);
    if (location[0] == '/' || strstr(location, "..") || strchr(location, '\\'))
        return fail(L, "external data location \"%s\" leaves the model directory", location);
    for (int i = 1; i < m->nfiles; i++)
        if (strcmp(m->file_loc[i], location) == 0) {
            *base = m->files[i];
            *len = m->file_len[i];
            return 0;
        }
    if (m->nfiles == MODEL_MAX_FILES) return fail(L, "too many external data files");
    int fd = eng_open_beneath(m->datadir, location, 0);
    if (fd == -EXDEV)
        return fail(L, "external data location \"%s\" leaves the model directory", location);
    if (fd < 0) return fail(L, "external data \"%s\": %s", location, eng_open_strerror(fd));
    void *p;
    size_t n;
    char msg[256];
    int rc = model_read_fd(fd, m->cancel, &p, &n, msg, sizeof msg);
    close(fd);
    if (rc == ENG_ENOMEM) return rc;
    if (rc) {
        fail(L, "external data \"%s\": %s", location, msg);
        return rc;
    }
    m->files[m->nfiles] = p;
    m->file_len[m->nfiles] = n;
    m->file_loc[m->nfiles++] = location;
    *base = p;
    *len = n;
    return 0;
}

/* Parses a TensorProto into a tensor allocated in the graph arena. */
static int parse_tensor(loader_t *L, pb_t r, tensor_t *t, const char **name_out)
{
    const pb_t msg = r;
    fieldlist_t dims = {.n = 0}, data = {.n = 0};
    int data_field = 0, data_type = 0, location = 0;
    const uint8_t *raw = NULL;
    size_t raw_len = 0;
    bool has_raw = false;
    const char *ext_location = NULL;
    int64_t ext_offset = 0, ext_length = -1;
    const char *name = "";
    pb_field_t f;
    int rc;
    while ((rc = pb_next(&r, &f)) > 0) {
        switch (f.num) {
        case 1:
            if (fl_add(L, &dims, &msg, &f)) return ENG_EFORMAT;
            break;
        case 2: data_type = (int)f.u; break;
        case 8: name = str(L, &f); break;
        case 9:
            raw = f.ptr;
            raw_len = f.len;
            has_raw = true;
            break;
        case 14: location = (int)f.u; break;
        case 13: {
            pb_t e = pb_sub(&f);
            pb_field_t kf;
            const char *key = NULL, *val = NULL;
            while ((rc = pb_next(&e, &kf)) > 0) {
                if (kf.num == 1 && kf.wire == PB_LEN) key = str(L, &kf);
                if (kf.num == 2 && kf.wire == PB_LEN) val = str(L, &kf);
            }
            if (rc < 0 || !key || !val) return fail(L, "malformed external_data entry");
            if (strcmp(key, "location") == 0)
                ext_location = val;
            else if (strcmp(key, "offset") == 0)
                ext_offset = strtoll(val, NULL, 10);
            else if (strcmp(key, "length") == 0)
                ext_length = strtoll(val, NULL, 10);
            break;
        }
        case 4:
        case 5:
        case 6:
        case 7:
        case 10:
        case 11:
            if (data_field && data_field != (int)f.num)
                return fail(L, "tensor \"%s\" has data in two fields", name);
            data_field = (int)f.num;
            if (fl_add(L, &data, &msg, &f)) return ENG_EFORMAT;
            break;
        default: break;
        }
        if (!name) return ENG_ENOMEM;
    }
    if (rc < 0) return fail(L, "malformed TensorProto");
    *name_out = name;
    memset(t, 0, sizeof *t);
    t->dtype = (dtype_t)data_type;
    size_t esize = dtype_size(t->dtype);
    if (!esize) return fail(L, "tensor \"%s\": data type %d is not supported", name, data_type);
    int64_t rank = fl_count(&dims, PB_VARINT);
    if (rank < 0 || rank > TENSOR_MAX_RANK)
        return fail(L, "tensor \"%s\": bad dims (rank over %d?)", name, TENSOR_MAX_RANK);
    t->rank = (int)rank;
    int64_t k = 0;
    pb_field_t ff;
    for (pb_t it = dims.msg; fl_next(&dims, &it, &ff);) {
        int64_t got = pb_read_varints(&ff, t->dims + k, TENSOR_MAX_RANK - k);
        if (got < 0) return fail(L, "tensor \"%s\": malformed dims", name);
        k += got;
    }
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0) return fail(L, "tensor \"%s\": negative dimension", name);
    size_t nbytes = tensor_nbytes(t);
    if (nbytes == SIZE_MAX) return fail(L, "tensor \"%s\" is too large", name);
    int64_t numel = tensor_numel(t);

    if (location == 1 || ext_location) {
        if (!ext_location) return fail(L, "tensor \"%s\": external data without location", name);
        if (t->dtype == DT_STRING) return fail(L, "tensor \"%s\": external string data", name);
        const uint8_t *base = NULL;
        size_t len = 0;
        if ((rc = read_external(L, ext_location, &base, &len))) return rc;
        if (ext_length < 0) ext_length = (int64_t)nbytes;
        if (ext_offset < 0 || (uint64_t)ext_offset > len ||
            (uint64_t)ext_length > len - (uint64_t)ext_offset || (size_t)ext_length != nbytes)
            return fail(L, "tensor \"%s\": external data range does not match its shape", name);
        raw = base + ext_offset;
        raw_len = (size_t)ext_length;
        has_raw = true;
    }

    if (has_raw) {
        if (t->dtype == DT_STRING) return fail(L, "tensor \"%s\": raw string data", name);
        if (raw_len != nbytes)
            return fail(L, "tensor \"%s\": raw_data has %zu bytes, shape needs %zu", name, raw_len,
                        nbytes);
        if (((uintptr_t)raw % esize) == 0) {
            t->data = (void *)raw; /* zero-copy: the model owns the file bytes */
        } else {
            t->data = arena_alloc(&L->g->arena, nbytes);
            if (!t->data) return ENG_ENOMEM;
            memcpy(t->data, raw, nbytes);
        }
        return 0;
    }

    if (numel > 0 && !data_field) return fail(L, "tensor \"%s\" has no data", name);
    /* Every typed element takes at least one byte of the message: a shape larger than that is a
     * lie, refused before it becomes a huge allocation. */
    if (numel > msg.end - msg.p)
        return fail(L, "tensor \"%s\": %lld elements declared, the data holds fewer", name,
                    (long long)numel);
    t->data = arena_alloc(&L->g->arena, nbytes ? nbytes : 1);
    if (!t->data) return ENG_ENOMEM;
    if (numel == 0) return 0;
    /* Typed fields: which one is allowed depends on the element type (onnx.proto comments). */
    int64_t got = 0;
    switch (t->dtype) {
    case DT_FLOAT:
        if (data_field != 4) break;
        if (fl_count(&data, PB_I32) != numel) break;
        for (pb_t it = data.msg; fl_next(&data, &it, &ff);)
            got += pb_read_fixed32(&ff, (uint32_t *)t->data + got, numel - got);
        break;
    case DT_DOUBLE:
    case DT_UINT64:
    case DT_UINT32:
        if (data_field != (t->dtype == DT_DOUBLE ? 10 : 11)) break;
        if (fl_count(&data, t->dtype == DT_DOUBLE ? PB_I64 : PB_VARINT) != numel) break;
        if (t->dtype == DT_DOUBLE) {
            for (pb_t it = data.msg; fl_next(&data, &it, &ff);)
                got += pb_read_fixed64(&ff, (uint64_t *)t->data + got, numel - got);
        } else {
            int64_t *tmp = arena_alloc(&L->g->arena, (size_t)numel * 8);
            if (!tmp) return ENG_ENOMEM;
            for (pb_t it = data.msg; fl_next(&data, &it, &ff);)
                got += pb_read_varints(&ff, tmp + got, numel - got);
            for (int64_t i = 0; i < numel && got == numel; i++) {
                if (t->dtype == DT_UINT64)
                    ((uint64_t *)t->data)[i] = (uint64_t)tmp[i];
                else
                    ((uint32_t *)t->data)[i] = (uint32_t)tmp[i];
            }
        }
        break;
    case DT_INT64:
        if (data_field != 7 || fl_count(&data, PB_VARINT) != numel) break;
        for (pb_t it = data.msg; fl_next(&data, &it, &ff);)
            got += pb_read_varints(&ff, (int64_t *)t->data + got, numel - got);
        break;
    case DT_INT32:
    case DT_INT16:
    case DT_INT8:
    case DT_UINT16:
    case DT_UINT8:
    case DT_BOOL:
    case DT_FLOAT16: {
        if (data_field != 5 || fl_count(&data, PB_VARINT) != numel) break;
        int64_t *tmp = arena_alloc(&L->g->arena, (size_t)numel * 8);
        if (!tmp) return ENG_ENOMEM;
        for (pb_t it = data.msg; fl_next(&data, &it, &ff);)
            got += pb_read_varints(&ff, tmp + got, numel - got);
        for (int64_t i = 0; i < numel && got == numel; i++) {
            switch (esize) {
            case 1: ((uint8_t *)t->data)[i] = (uint8_t)tmp[i]; break;
            case 2: ((uint16_t *)t->data)[i] = (uint16_t)tmp[i]; break;
            default: ((int32_t *)t->data)[i] = (int32_t)tmp[i]; break;
            }
        }
        break;
    }
    case DT_STRING: {
        if (data_field != 6 || data.n != numel) break;
        const char **s = t->data;
        int64_t i = 0;
        for (pb_t it = data.msg; fl_next(&data, &it, &ff); i++) {
            if (ff.wire != PB_LEN) return fail(L, "tensor \"%s\": bad string", name);
            s[i] = str(L, &ff);
            if (!s[i]) return ENG_ENOMEM;
        }
        got = numel;
        break;
    }
    default: break;
    }
    if (got != numel)
        return fail(L, "tensor \"%s\": its data does not match shape and type %s", name,
                    dtype_name(t->dtype));
    return 0;
}

/* ======================================================================= attributes ==== */

static int parse_attr(loader_t *L, pb_t r, attr_t *a)
{
    const pb_t msg = r;
    pb_field_t ff;
    memset(a, 0, sizeof *a);
    fieldlist_t floats = {.n = 0}, ints = {.n = 0};
    int nstrings = 0;
    pb_t strings_scan = r;
    pb_field_t f;
    int rc;
    bool has_f = false, has_i = false, has_s = false, has_t = false, has_g = false;
    while ((rc = pb_next(&r, &f)) > 0) {
        switch (f.num) {
        case 1: a->name = str(L, &f); break;
        case 20: a->type = (attr_type_t)f.u; break;
        case 2:
            if (f.wire != PB_I32) return fail(L, "malformed float attribute");
            memcpy(&a->f, &(uint32_t){(uint32_t)f.u}, 4);
            has_f = true;
            break;
        case 3: a->i = (int64_t)f.u, has_i = true; break;
        case 4:
            if (f.wire != PB_LEN) return fail(L, "malformed string attribute");
            a->s = str(L, &f);
            a->slen = f.len;
            has_s = true;
            break;
        case 5: {
            if (f.wire != PB_LEN) return fail(L, "malformed tensor attribute");
            a->t = arena_alloc(&L->g->arena, sizeof *a->t);
            if (!a->t) return ENG_ENOMEM;
            const char *tn;
            if ((rc = parse_tensor(L, pb_sub(&f), a->t, &tn))) return rc;
            has_t = true;
            break;
        }
        case 6: has_g = true; break;
        case 7:
            if (fl_add(L, &floats, &msg, &f)) return ENG_EFORMAT;
            break;
        case 8:
            if (fl_add(L, &ints, &msg, &f)) return ENG_EFORMAT;
            break;
        case 9:
            if (f.wire != PB_LEN) return fail(L, "malformed strings attribute");
            nstrings++;
            break;
        default: break;
        }
    }
    if (rc < 0 || !a->name) return fail(L, "malformed AttributeProto");
    if (a->type == ATTR_UNDEFINED) { /* IR < 2 files: the set field says the type */
        a->type = has_f      ? ATTR_FLOAT
                  : has_i    ? ATTR_INT
                  : has_s    ? ATTR_STRING
                  : has_t    ? ATTR_TENSOR
                  : has_g    ? ATTR_GRAPH
                  : floats.n ? ATTR_FLOATS
                  : ints.n   ? ATTR_INTS
                  : nstrings ? ATTR_STRINGS
                             : ATTR_UNDEFINED;
    }
    /* Ops may rely on an attribute of a given type having its value. */
    if (a->type == ATTR_STRING && !a->s) a->s = arena_strndup(&L->g->arena, "", 0);
    if (a->type == ATTR_TENSOR && !a->t) return fail(L, "attribute %s has no tensor", a->name);
    if (a->type == ATTR_STRING && !a->s) return ENG_ENOMEM;
    if (a->type == ATTR_FLOATS) {
        int64_t n = fl_count(&floats, PB_I32);
        if (n < 0) return fail(L, "attribute %s: malformed floats", a->name);
        float *v = arena_alloc(&L->g->arena, (size_t)(n ? n : 1) * sizeof(float));
        if (!v) return ENG_ENOMEM;
        int64_t got = 0;
        for (pb_t it = floats.msg; fl_next(&floats, &it, &ff);)
            got += pb_read_fixed32(&ff, (uint32_t *)v + got, n - got);
        a->floats = v;
        a->n = n;
    } else if (a->type == ATTR_INTS) {
        int64_t n = fl_count(&ints, PB_VARINT);
        if (n < 0) return fail(L, "attribute %s: malformed ints", a->name);
        int64_t *v = arena_alloc(&L->g->arena, (size_t)(n ? n : 1) * sizeof(int64_t));
        if (!v) return ENG_ENOMEM;
        int64_t got = 0;
        for (pb_t it = ints.msg; fl_next(&ints, &it, &ff);)
            got += pb_read_varints(&ff, v + got, n - got);
        a->ints = v;
        a->n = n;
    } else if (a->type == ATTR_STRINGS) {
        const char **v = arena_alloc(&L->g->arena, (size_t)(nstrings ? nstrings : 1) * sizeof *v);
        if (!v) return ENG_ENOMEM;
        int k = 0;
        while (pb_next(&strings_scan, &f) > 0)
            if (f.num == 9 && f.wire == PB_LEN && !(v[k++] = str(L, &f))) return ENG_ENOMEM;
        a->strings = v;
        a->n = nstrings;
    } else if (a->type == ATTR_GRAPH) {
        return fail(L, "attribute %s: subgraphs (If/Loop/Scan) are not supported", a->name);
    }
    return 0;
}

/* ============================================================================ graph ==== */

/* Reads a ValueInfoProto's declared tensor type into v (name already matched). */
static int parse_type(loader_t *L, pb_t r, value_t *v, int *is_map_seq)
{
    pb_field_t f;
    int rc;
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num != 2 || f.wire != PB_LEN) continue; /* TypeProto */
        pb_t tp = pb_sub(&f);
        pb_field_t tf;
        while ((rc = pb_next(&tp, &tf)) > 0) {
            if ((tf.num == 4 || tf.num == 5) && is_map_seq) *is_map_seq = 1;
            if (tf.num != 1 || tf.wire != PB_LEN) continue; /* tensor_type */
            pb_t tt = pb_sub(&tf);
            pb_field_t ef;
            while ((rc = pb_next(&tt, &ef)) > 0) {
                if (ef.num == 1) v->dtype = (dtype_t)ef.u;
                if (ef.num != 2 || ef.wire != PB_LEN) continue; /* shape */
                v->rank = 0;
                pb_t sh = pb_sub(&ef);
                pb_field_t df;
                while ((rc = pb_next(&sh, &df)) > 0) {
                    if (df.num != 1 || df.wire != PB_LEN) continue;
                    if (v->rank == TENSOR_MAX_RANK)
                        return fail(L, "value \"%s\" has rank over %d", v->name, TENSOR_MAX_RANK);
                    int d = v->rank++;
                    v->dims[d] = -1;
                    v->dim_params[d] = NULL;
                    pb_t dm = pb_sub(&df);
                    pb_field_t xf;
                    while ((rc = pb_next(&dm, &xf)) > 0) {
                        if (xf.num == 1 && xf.wire == PB_VARINT) v->dims[d] = (int64_t)xf.u;
                        if (xf.num == 2 && xf.wire == PB_LEN) v->dim_params[d] = str(L, &xf);
                    }
                    if (rc < 0) return fail(L, "malformed shape of \"%s\"", v->name);
                }
                if (rc < 0) return fail(L, "malformed shape of \"%s\"", v->name);
            }
            if (rc < 0) return fail(L, "malformed type of \"%s\"", v->name);
        }
        if (rc < 0) return fail(L, "malformed type of \"%s\"", v->name);
    }
    return rc < 0 ? fail(L, "malformed ValueInfoProto") : 0;
}

static const char *value_info_name(loader_t *L, pb_t r)
{
    pb_field_t f;
    while (pb_next(&r, &f) > 0)
        if (f.num == 1 && f.wire == PB_LEN) return str(L, &f);
    return NULL;
}

/* Field occurrences of a GraphProto, gathered so they can be processed in dependency order. */
typedef struct flist {
    pb_field_t *f;
    int n, cap;
} flist_t;

static int flist_add(flist_t *l, const pb_field_t *f)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 64;
        if (cap > MAX_ITEMS) return -1;
        pb_field_t *p = realloc(l->f, (size_t)cap * sizeof *p);
        if (!p) return -1;
        l->f = p;
        l->cap = cap;
    }
    l->f[l->n++] = *f;
    return 0;
}

static int parse_node(loader_t *L, pb_t r, node_t *n, int idx)
{
    graph_t *g = L->g;
    flist_t ins = {0}, outs = {0}, attrs = {0};
    pb_field_t f;
    int rc;
    n->domain = "";
    n->name = "";
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.wire != PB_LEN) continue;
        switch (f.num) {
        case 1: rc = flist_add(&ins, &f); break;
        case 2: rc = flist_add(&outs, &f); break;
        case 3: n->name = str(L, &f); break;
        case 4: n->op_type = str(L, &f); break;
        case 7: n->domain = str(L, &f); break;
        case 5: rc = flist_add(&attrs, &f); break;
        default: break;
        }
        if (rc < 0) break;
    }
    if (rc < 0 || !n->op_type) {
        rc = fail(L, "malformed NodeProto #%d", idx);
        goto out;
    }
    n->nin = ins.n;
    n->nout = outs.n;
    n->nattrs = attrs.n;
    n->in = arena_alloc(&g->arena, sizeof(int) * (size_t)(ins.n + 1));
    n->out = arena_alloc(&g->arena, sizeof(int) * (size_t)(outs.n + 1));
    n->attrs = arena_alloc(&g->arena, sizeof(attr_t) * (size_t)(attrs.n + 1));
    if (!n->in || !n->out || !n->attrs) {
        rc = ENG_ENOMEM;
        goto out;
    }
    for (int i = 0; i < attrs.n; i++)
        if ((rc = parse_attr(L, pb_sub(&attrs.f[i]), &n->attrs[i]))) goto out;
    /* Inputs are resolved after all nodes are read (they may come in any order). Keep names. */
    for (int i = 0; i < ins.n; i++) {
        const char *nm = str(L, &ins.f[i]);
        if (!nm) {
            rc = ENG_ENOMEM;
            goto out;
        }
        n->in[i] = -1;
        if (*nm) {
            int v = find_value(L, nm);
            n->in[i] = v >= 0 ? v : -2 - i; /* unresolved for now */
        }
        /* Stash the name for the second pass in the attr slot past the end: simpler to re-read. */
    }
    for (int i = 0; i < outs.n; i++) {
        const char *nm = str(L, &outs.f[i]);
        if (!nm) {
            rc = ENG_ENOMEM;
            goto out;
        }
        if (*nm == 0) { /* omitted optional output: give it a private name */
            char anon[48];
            snprintf(anon, sizeof anon, "\x01unnamed:%d:%d", idx, i);
            nm = arena_strndup(&g->arena, anon, strlen(anon));
        }
        int v = find_value(L, nm);
        if (v >= 0) {
            rc = fail(L, "node \"%s\" (%s): output \"%s\" is already defined", n->name, n->op_type,
                      nm);
            goto out;
        }
        v = add_value(L, nm, VAL_NODE);
        if (v < 0) {
            rc = ENG_ENOMEM;
            goto out;
        }
        g->values[v].producer = idx;
        n->out[i] = v;
    }
    rc = 0;
out:
    free(ins.f);
    free(outs.f);
    free(attrs.f);
    return rc;
}

/* Second pass over a node's inputs: names defined by later nodes are resolved now. */
static int resolve_inputs(loader_t *L, pb_t r, node_t *n)
{
    pb_field_t f;
    int i = 0;
    while (pb_next(&r, &f) > 0) {
        if (f.num != 1 || f.wire != PB_LEN) continue;
        if (n->in[i] <= -2) {
            const char *nm = str(L, &f);
            int v = nm ? find_value(L, nm) : -1;
            if (v < 0)
                return fail(L,
                            "node \"%s\" (%s): input \"%s\" is not produced by any node, "
                            "initializer or graph input",
                            n->name, n->op_type, nm ? nm : "?");
            n->in[i] = v;
        }
        i++;
    }
    return 0;
}

static int parse_graph(loader_t *L, pb_t r)
{
    graph_t *g = L->g;
    flist_t nodes = {0}, inits = {0}, inputs = {0}, outputs = {0}, infos = {0};
    pb_field_t f;
    int rc;
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.wire != PB_LEN) continue;
        switch (f.num) {
        case 1: rc = flist_add(&nodes, &f); break;
        case 5: rc = flist_add(&inits, &f); break;
        case 11: rc = flist_add(&inputs, &f); break;
        case 12: rc = flist_add(&outputs, &f); break;
        case 13: rc = flist_add(&infos, &f); break;
        case 15: rc = fail(L, "sparse initializers are not supported"); goto out;
        default: break;
        }
        if (rc < 0) {
            rc = fail(L, "malformed or oversized GraphProto");
            goto out;
        }
    }
    if (rc < 0) {
        rc = fail(L, "malformed GraphProto");
        goto out;
    }
    if (grow_names(L)) {
        rc = ENG_ENOMEM;
        goto out;
    }
    for (int i = 0; i < inits.n; i++) {
        tensor_t *t = arena_alloc(&g->arena, sizeof *t);
        const char *name;
        if (!t) {
            rc = ENG_ENOMEM;
            goto out;
        }
        if ((rc = parse_tensor(L, pb_sub(&inits.f[i]), t, &name))) goto out;
        if (!*name || find_value(L, name) >= 0) {
            rc = fail(L, "initializer \"%s\" is unnamed or defined twice", name);
            goto out;
        }
        int v = add_value(L, name, VAL_CONST);
        if (v < 0) {
            rc = ENG_ENOMEM;
            goto out;
        }
        g->values[v].constant = t;
        g->values[v].dtype = t->dtype;
        g->values[v].rank = t->rank;
        for (int d = 0; d < t->rank; d++) g->values[v].dims[d] = t->dims[d];
        g->nparams += tensor_numel(t);
    }
    g->inputs = arena_alloc(&g->arena, sizeof(int) * (size_t)(inputs.n + 1));
    g->outputs = arena_alloc(&g->arena, sizeof(int) * (size_t)(outputs.n + 1));
    g->nodes = arena_alloc(&g->arena, sizeof(node_t) * (size_t)(nodes.n + 1));
    if (!g->inputs || !g->outputs || !g->nodes) {
        rc = ENG_ENOMEM;
        goto out;
    }
    for (int i = 0; i < inputs.n; i++) {
        const char *name = value_info_name(L, pb_sub(&inputs.f[i]));
        if (!name || !*name) {
            rc = fail(L, "graph input #%d has no name", i);
            goto out;
        }
        int v = find_value(L, name);
        if (v >= 0 && g->values[v].kind == VAL_CONST) continue; /* IR < 4: initializer listed */
        if (v >= 0) {
            rc = fail(L, "graph input \"%s\" is declared twice", name);
            goto out;
        }
        if ((v = add_value(L, name, VAL_INPUT)) < 0) {
            rc = ENG_ENOMEM;
            goto out;
        }
        if ((rc = parse_type(L, pb_sub(&inputs.f[i]), &g->values[v], NULL))) goto out;
        g->inputs[g->ninputs++] = v;
    }
    g->nnodes = nodes.n;
    for (int i = 0; i < nodes.n; i++)
        if ((rc = parse_node(L, pb_sub(&nodes.f[i]), &g->nodes[i], i))) goto out;
    for (int i = 0; i < nodes.n; i++)
        if ((rc = resolve_inputs(L, pb_sub(&nodes.f[i]), &g->nodes[i]))) goto out;
    for (int i = 0; i < outputs.n; i++) {
        const char *name = value_info_name(L, pb_sub(&outputs.f[i]));
        int v = name ? find_value(L, name) : -1;
        if (v < 0) {
            rc = fail(L, "graph output \"%s\" is not produced by the graph", name ? name : "?");
            goto out;
        }
        int map_seq = 0;
        if ((rc = parse_type(L, pb_sub(&outputs.f[i]), &g->values[v], &map_seq))) goto out;
        g->outputs[g->noutputs++] = v;
    }
    for (int i = 0; i < infos.n; i++) {
        const char *name = value_info_name(L, pb_sub(&infos.f[i]));
        int v = name ? find_value(L, name) : -1;
        if (v >= 0 && g->values[v].kind == VAL_NODE &&
            (rc = parse_type(L, pb_sub(&infos.f[i]), &g->values[v], NULL)))
            goto out;
    }
    if (g->noutputs == 0)
        rc = fail(L, "the graph has no outputs");
    else
        rc = 0;
out:
    free(nodes.f);
    free(inits.f);
    free(inputs.f);
    free(outputs.f);
    free(infos.f);
    return rc;
}

int onnx_parse(eng_model_t *m, const void *data, size_t len, char *err, size_t errlen)
{
    loader_t L = {.m = m, .g = &m->g, .err = err, .errlen = errlen};
    graph_t *g = &m->g;
    pb_t r = pb_init(data, len);
    pb_field_t f;
    int rc;
    bool have_graph = false;
    pb_field_t graph_field = {0};
    opset_import_t ops[8];
    int nops = 0;
    while ((rc = pb_next(&r, &f)) > 0) {
        if (f.num == 1 && f.wire == PB_VARINT)
            g->ir_version = (int64_t)f.u;
        else if (f.num == 2 && f.wire == PB_LEN)
            g->producer_name = str(&L, &f);
        else if (f.num == 7 && f.wire == PB_LEN)
            graph_field = f, have_graph = true;
        else if (f.num == 8 && f.wire == PB_LEN) {
            if (nops == 8) {
                rc = fail(&L, "more than 8 opset imports");
                goto out;
            }
            pb_t o = pb_sub(&f);
            pb_field_t of;
            ops[nops] = (opset_import_t){"", 1};
            while ((rc = pb_next(&o, &of)) > 0) {
                if (of.num == 1 && of.wire == PB_LEN) ops[nops].domain = str(&L, &of);
                if (of.num == 2 && of.wire == PB_VARINT) ops[nops].version = (int64_t)of.u;
            }
            if (rc < 0 || !ops[nops].domain) {
                rc = fail(&L, "malformed opset_import");
                goto out;
            }
            nops++;
        }
    }
    if (rc < 0) {
        rc = fail(&L, "not an ONNX model: malformed protobuf at byte %zu",
                  (size_t)(r.p - (const uint8_t *)data));
        goto out;
    }
    if (!have_graph) {
        rc = fail(&L, "not an ONNX model: no graph");
        goto out;
    }
    if (g->ir_version < 3) {
        rc = fail(&L, "ONNX IR version %lld is not supported (3 or later)",
                  (long long)g->ir_version);
        goto out;
    }
    g->opsets = arena_alloc(&g->arena, sizeof ops);
    if (!g->opsets) {
        rc = ENG_ENOMEM;
        goto out;
    }
    memcpy(g->opsets, ops, sizeof ops);
    g->nopsets = nops;
    rc = parse_graph(&L, pb_sub(&graph_field));
out:
    free(L.slots);
    return rc;
}

int onnx_parse_tensor(graph_t *g, const void *data, size_t len, tensor_t *t, const char **name,
                      char *err, size_t errlen)
{
    eng_model_t none = {.datadir = -1}; /* no directory: external data is refused */
    loader_t L = {.m = &none, .g = g, .err = err, .errlen = errlen};
    const char *nm = "";
    int rc = parse_tensor(&L, pb_init(data, len), t, &nm);
    if (name) *name = nm;
    return rc;
}
