/* NAS-Bench-101's per-record loop in C: TFRecord framing and both CRC-32Cs, the JSON 5-tuple, the
 * base64 text, the fixed-layout ModelMetrics protobuf, the value checks and, for each new cell, the
 * cell checks and NNI's arch JSON; rows go straight into caller-owned column buffers.
 *
 * Fast path only. The C code accepts a record only in the exact shape the release writes (and that
 * the Python path, records.parse_record + convert.check_cell, accepts with the same values); for
 * anything else (a bad CRC, a truncated file, an escape it does not know, a value out of range, a
 * cell that fails a check, ...) it stops *before* that record and returns SCAN_SLOW, and the caller
 * reads that one record with the Python path, which either raises the error with its usual message
 * or accepts the record. So every error message comes from Python, and the C code only has to be
 * no more lenient than Python, never equally detailed.
 *
 * Safety: every length is checked against the buffer before a byte is read; lengths are 64-bit and
 * compared without overflow; decoded data goes to fixed stack buffers with explicit caps; nothing
 * is allocated per record except the Python objects of a new cell.
 *
 * Format: docs/formats.md#nb101-tfrecord-framing, #nb101-record-payload, #nb101-modelmetrics-protobuf.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_SSE42_PATH 1
#include <nmmintrin.h>
#endif

enum { SCAN_DONE = 0, SCAN_FULL = 1, SCAN_SLOW = 2 };
enum { INT_COLS = 6, FLOAT_COLS = 8 };  /* bucket, offset, epochs, vertices, params, cell index; 8 metrics */

/* ---- CRC-32C (Castagnoli), TensorFlow's mask ------------------------------------------------ */

static uint32_t crc_table[8][256];

static void crc_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++) crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
}

static uint32_t crc32c_sw(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    while (n >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
        c = crc_table[7][lo & 0xFF] ^ crc_table[6][(lo >> 8) & 0xFF] ^ crc_table[5][(lo >> 16) & 0xFF] ^
            crc_table[4][lo >> 24] ^ crc_table[3][p[4]] ^ crc_table[2][p[5]] ^ crc_table[1][p[6]] ^ crc_table[0][p[7]];
        p += 8;
        n -= 8;
    }
    while (n--) c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xFF];
    return ~c;
}

#ifdef HAVE_SSE42_PATH
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(const uint8_t *p, size_t n) {
    uint64_t c = 0xFFFFFFFFu;
    while (n >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        c = _mm_crc32_u64(c, word);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = _mm_crc32_u8(c32, *p++);
    return ~c32;
}
#endif

static uint32_t (*crc32c)(const uint8_t *, size_t) = crc32c_sw;

static uint32_t masked_crc(const uint8_t *p, size_t n) {
    uint32_t c = crc32c(p, n);
    return ((c >> 15) | (c << 17)) + 0xA282EAD8u;
}

static uint64_t load64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint32_t load32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static double load_double(const uint8_t *p) {
    uint64_t bits = load64(p);
    double d;
    memcpy(&d, &bits, 8);
    return d;
}

/* ---- the JSON 5-tuple, strict subset -------------------------------------------------------- */

typedef struct { const uint8_t *p; size_t n; } span;

typedef struct {
    span hash, adjacency, operations;
    int epochs;
    int64_t params;
    double values[FLOAT_COLS];  /* halfway time, train, valid, test; final time, train, valid, test */
} record;

static size_t skip_spaces(const uint8_t *p, size_t i, size_t n) {
    while (i < n && p[i] == ' ') i++;
    return i;
}

/* The text of the JSON string at i up to the next '"', unchecked (decode_base64 accepts only the
 * alphabet, '=' and \n escapes, so an escaped quote or any other escape fails there). Returns the
 * index after the closing quote, or 0 if there is no string at i. */
static size_t raw_string(const uint8_t *p, size_t i, size_t n, span *out) {
    if (i >= n || p[i] != '"') return 0;
    const uint8_t *end = memchr(p + i + 1, '"', n - i - 1);
    if (!end) return 0;
    out->p = p + i + 1;
    out->n = (size_t)(end - out->p);
    return (size_t)(end - p) + 1;
}

/* A JSON string of printable ASCII with no escape, or 0. */
static size_t plain_string(const uint8_t *p, size_t i, size_t n, span *out) {
    size_t next = raw_string(p, i, n, out);
    if (!next) return 0;
    int bad = 0;
    for (size_t k = 0; k < out->n; k++) bad |= (out->p[k] < 0x20) | (out->p[k] > 0x7E) | (out->p[k] == '\\');
    return bad ? 0 : next;
}

static size_t expect(const uint8_t *p, size_t i, size_t n, uint8_t c) {
    i = skip_spaces(p, i, n);
    if (i >= n || p[i] != c) return 0;
    return skip_spaces(p, i + 1, n);
}

static uint8_t B64[256];  /* value of a base64 alphabet character, 0xFF for any other byte */

static void b64_init(void) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    memset(B64, 0xFF, sizeof B64);
    for (int k = 0; k < 64; k++) B64[(uint8_t)alphabet[k]] = (uint8_t)k;
}

#define PB_MAX 160  /* the fast protobuf layout is 152..156 bytes */

/* base64 as binascii.a2b_base64 decodes it, for text of alphabet characters and \n escapes with
 * correct padding at the end only; -1 for anything else (the Python path decides) or > cap bytes. */
static int decode_base64(span text, uint8_t *out, size_t cap) {
    const uint8_t *p = text.p;
    size_t n = text.n, len = 0;
    int quad = 0, pads = 0, done = 0;
    unsigned left = 0;
    for (size_t i = 0; i < n;) {
        uint8_t c = p[i];
        if (c == '\\') {  /* JSON escape: only \n (a newline, which a2b_base64 skips) */
            if (i + 1 >= n || p[i + 1] != 'n') return -1;
            i += 2;
            continue;
        }
        if (done) return -1;
        if (quad == 0 && !pads && i + 4 <= n) {  /* a whole quad */
            unsigned a = B64[p[i]], b = B64[p[i + 1]], d = B64[p[i + 2]], e = B64[p[i + 3]];
            if ((a | b | d | e) < 64) {
                if (len + 3 > cap) return -1;
                out[len] = (uint8_t)(a << 2 | b >> 4);
                out[len + 1] = (uint8_t)((b & 0x0F) << 4 | d >> 2);
                out[len + 2] = (uint8_t)((d & 0x03) << 6 | e);
                len += 3;
                i += 4;
                continue;
            }
        }
        i++;
        if (c == '=') {
            if (quad < 2) return -1;
            if (quad + ++pads >= 4) done = 1;
            continue;
        }
        unsigned v = B64[c];
        if (v >= 64 || pads) return -1;
        switch (quad) {
            case 0: left = v; quad = 1; break;
            case 1:
                if (len >= cap) return -1;
                out[len++] = (uint8_t)(left << 2 | v >> 4); left = v & 0x0F; quad = 2; break;
            case 2:
                if (len >= cap) return -1;
                out[len++] = (uint8_t)(left << 4 | v >> 2); left = v & 0x03; quad = 3; break;
            default:
                if (len >= cap) return -1;
                out[len++] = (uint8_t)(left << 6 | v); quad = 0; break;
        }
    }
    if (!done && (quad != 0 || pads)) return -1;
    return (int)len;
}

static const int TAG_POS[7] = {0, 1, 2, 11, 20, 29, 38};
static const uint8_t TAGS[7] = {0x0A, 0x2D, 0x09, 0x11, 0x19, 0x21, 0x29};

/* records.decode_metrics's fast path, byte for byte; 0 if the layout is another one. */
static int decode_metrics(const uint8_t *pb, size_t len, record *r) {
    if (len < 152) return 0;
    for (int e = 0; e < 3; e++)
        for (int k = 0; k < 7; k++)
            if (pb[47 * e + TAG_POS[k]] != TAGS[k]) return 0;
    if (pb[141] != 0x10) return 0;
    size_t pos = 142;
    int64_t params = 0;
    int shift = 0;
    while (pos < len && shift < 35) {
        uint8_t byte = pb[pos++];
        params |= (int64_t)(byte & 0x7F) << shift;
        shift += 7;
        if (!(byte & 0x80)) break;
    }
    if (pos + 9 != len || pb[pos] != 0x19) return 0;
    r->params = params;
    for (int k = 0; k < 4; k++) {
        r->values[k] = load_double(pb + 59 + 9 * k);      /* evaluation 1 (halfway), fields 2..5 */
        r->values[4 + k] = load_double(pb + 106 + 9 * k); /* evaluation 2 (final) */
    }
    return 1;
}

static int is_lower_hex(span s) {
    for (size_t i = 0; i < s.n; i++) {
        uint8_t c = s.p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
    }
    return 1;
}

/* records.parse_record for the release's shape; 1 if parsed and every value passes its check. */
static int parse_payload(const uint8_t *p, size_t n, record *r) {
    span metrics;
    size_t i = expect(p, 0, n, '[');
    if (!i) return 0;
    if (!(i = plain_string(p, i, n, &r->hash)) || r->hash.n != 32 || !is_lower_hex(r->hash)) return 0;
    if (!(i = expect(p, i, n, ','))) return 0;
    int epochs = 0, digits = 0;
    while (i < n && p[i] >= '0' && p[i] <= '9' && digits < 4) epochs = epochs * 10 + (p[i++] - '0'), digits++;
    if (!((epochs == 4 && digits == 1) || (epochs == 12 && digits == 2) || (epochs == 36 && digits == 2) ||
          (epochs == 108 && digits == 3)))
        return 0;
    r->epochs = epochs;
    if (!(i = expect(p, i, n, ','))) return 0;
    if (!(i = plain_string(p, i, n, &r->adjacency))) return 0;
    if (!(i = expect(p, i, n, ','))) return 0;
    if (!(i = plain_string(p, i, n, &r->operations))) return 0;
    if (!(i = expect(p, i, n, ','))) return 0;
    if (!(i = raw_string(p, i, n, &metrics))) return 0;
    if (!(i = expect(p, i, n, ']')) || i != n) return 0;
    uint8_t pb[PB_MAX];
    int len = decode_base64(metrics, pb, sizeof pb);
    if (len < 0 || !decode_metrics(pb, (size_t)len, r)) return 0;
    const double *v = r->values;  /* each test written so that NaN fails it, as in parse_record */
    if (!(v[0] >= 0.0 && v[0] < HUGE_VAL && v[4] >= 0.0 && v[4] < HUGE_VAL)) return 0;
    for (int k = 1; k < 4; k++)
        if (!(v[k] >= 0.0 && v[k] <= 1.0 && v[4 + k] >= 0.0 && v[4 + k] <= 1.0)) return 0;
    return r->params > 0;
}

/* ---- a new cell: convert.check_cell ----------------------------------------------------------- */

static const char *const INTERIOR_OPS[3] = {"conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"};

static int span_is(const uint8_t *p, size_t n, const char *s) { return strlen(s) == n && memcmp(p, s, n) == 0; }

/* Vertices, labels and NNI's arch JSON (json_text(spec_to_arch(...))) of a cell that is square,
 * 0/1, strictly upper-triangular, at most 7 vertices and 9 edges, input..output ops, and pruned;
 * 0 otherwise. The graph hash is compared by the caller. */
static int cell_shape(span adj, span ops, int labels[7], char *arch, size_t arch_cap, size_t *arch_len) {
    int n = 0;
    for (int k = 2; k <= 7; k++)
        if ((size_t)(k * k) == adj.n) n = k;
    if (!n) return 0;
    int m[7][7], edges = 0;
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++) {
            uint8_t c = adj.p[a * n + b];
            if (c != '0' && c != '1') return 0;
            m[a][b] = c == '1';
            if (m[a][b] && b <= a) return 0;
            edges += m[a][b];
        }
    if (edges > 9) return 0;
    int start[8], count = 0;  /* the ops text split at ',' */
    size_t from = 0;
    for (size_t i = 0; i <= ops.n; i++)
        if (i == ops.n || ops.p[i] == ',') {
            if (count >= n) return 0;
            start[count++] = (int)from;
            from = i + 1;
        }
    if (count != n) return 0;
    start[n] = (int)ops.n + 1;
    for (int v = 0; v < n; v++) {
        const uint8_t *name = ops.p + start[v];
        size_t len = (size_t)(start[v + 1] - start[v] - 1);
        labels[v] = -3;
        if (v == 0) { if (span_is(name, len, "input")) labels[v] = -1; }
        else if (v == n - 1) { if (span_is(name, len, "output")) labels[v] = -2; }
        else
            for (int k = 0; k < 3; k++)
                if (span_is(name, len, INTERIOR_OPS[k])) labels[v] = k;
        if (labels[v] == -3) return 0;
    }
    int forward[7] = {1}, backward[7] = {0};
    backward[n - 1] = 1;
    for (int v = 0; v < n; v++)
        if (forward[v])
            for (int w = v + 1; w < n; w++) forward[w] |= m[v][w];
    for (int v = n - 1; v >= 0; v--)
        if (backward[v])
            for (int w = 0; w < v; w++) backward[w] |= m[w][v];
    for (int v = 0; v < n; v++)
        if (!forward[v] || !backward[v]) return 0;
    /* sorted keys: input1..input{n-1} then op1..op{n-2} (single digits, so text order = number order) */
    size_t len = 0;
    char *out = arch;
    if (arch_cap < 512) return 0;
    out[len++] = '{';
    for (int v = 1; v < n; v++) {
        len += (size_t)sprintf(out + len, "%s\"input%d\":[", v > 1 ? "," : "", v);
        int first = 1;
        for (int k = 0; k < v; k++)
            if (m[k][v]) {
                len += (size_t)sprintf(out + len, first ? "%d" : ",%d", k);
                first = 0;
            }
        out[len++] = ']';
    }
    for (int v = 1; v < n - 1; v++)
        len += (size_t)sprintf(out + len, ",\"op%d\":\"%s\"", v, INTERIOR_OPS[labels[v]]);
    out[len++] = '}';
    *arch_len = len;
    return n;
}

/* The cell tuple (adjacency, operations, params, arch, vertices, index) of a new cell after all of
 * check_cell's tests and the graph hash passed, inserted into `cells`; Py_None if a test failed
 * (the Python path gives the message); NULL on a Python error. Returns a borrowed reference. */
static PyObject *new_cell(PyObject *cells, PyObject *key, const record *r, PyObject *hash_fn) {
    int labels[7];
    char arch[512];
    size_t arch_len = 0;
    int n = cell_shape(r->adjacency, r->operations, labels, arch, sizeof arch, &arch_len);
    if (!n) return Py_None;
    PyObject *adj = NULL, *ops = NULL, *lab = NULL, *got = NULL, *cell = NULL;
    PyObject *result = NULL;
    adj = PyUnicode_FromStringAndSize((const char *)r->adjacency.p, (Py_ssize_t)r->adjacency.n);
    ops = PyUnicode_FromStringAndSize((const char *)r->operations.p, (Py_ssize_t)r->operations.n);
    lab = PyList_New(n);
    if (!adj || !ops || !lab) goto end;
    for (int v = 0; v < n; v++) {
        PyObject *x = PyLong_FromLong(labels[v]);
        if (!x) goto end;
        PyList_SET_ITEM(lab, v, x);
    }
    got = PyObject_CallFunctionObjArgs(hash_fn, adj, lab, NULL);
    if (!got) goto end;
    int same = PyObject_RichCompareBool(got, key, Py_EQ);
    if (same < 0) goto end;
    if (!same) {
        result = Py_None;
        goto end;
    }
    cell = Py_BuildValue("(OOLs#in)", adj, ops, (long long)r->params, arch, (Py_ssize_t)arch_len, n,
                         PyDict_GET_SIZE(cells));
    if (!cell || PyDict_SetItem(cells, key, cell) < 0) goto end;
    result = cell;  /* the dict holds a reference */
end:
    Py_XDECREF(adj);
    Py_XDECREF(ops);
    Py_XDECREF(lab);
    Py_XDECREF(got);
    Py_XDECREF(cell);
    return result;
}

static int str_equals(PyObject *s, span text) {
    return PyUnicode_Check(s) && PyUnicode_IS_COMPACT_ASCII(s) && (size_t)PyUnicode_GET_LENGTH(s) == text.n &&
           memcmp(PyUnicode_DATA(s), text.p, text.n) == 0;
}

/* The cell of a record: known and agreeing, or new and passing every check. Borrowed reference,
 * Py_None to take the Python path, NULL on a Python error. */
static PyObject *cell_of(PyObject *cells, const record *r, PyObject *hash_fn) {
    PyObject *key = PyUnicode_FromStringAndSize((const char *)r->hash.p, 32);
    if (!key) return NULL;
    PyObject *cell = PyDict_GetItemWithError(cells, key);
    if (!cell) {
        cell = PyErr_Occurred() ? NULL : new_cell(cells, key, r, hash_fn);
    } else if (!PyTuple_Check(cell) || PyTuple_GET_SIZE(cell) != 6 || !str_equals(PyTuple_GET_ITEM(cell, 0), r->adjacency) ||
               !str_equals(PyTuple_GET_ITEM(cell, 1), r->operations) || !PyLong_CheckExact(PyTuple_GET_ITEM(cell, 2)) ||
               !PyLong_CheckExact(PyTuple_GET_ITEM(cell, 4)) || !PyLong_CheckExact(PyTuple_GET_ITEM(cell, 5))) {
        cell = Py_None;
    } else {
        int overflow = 0;
        long long params = PyLong_AsLongLongAndOverflow(PyTuple_GET_ITEM(cell, 2), &overflow);
        if (overflow || params != r->params) cell = Py_None;
    }
    Py_DECREF(key);
    return cell;
}

/* ---- Python functions -------------------------------------------------------------------------- */

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer buf, ints, floats;
    Py_ssize_t pos, stop, n, bucket_hex;
    PyObject *cells, *hash_fn;
    if (!PyArg_ParseTuple(args, "y*nnnw*w*O!On", &buf, &pos, &stop, &n, &ints, &floats, &PyDict_Type, &cells,
                          &hash_fn, &bucket_hex))
        return NULL;
    PyObject *result = NULL;
    Py_ssize_t size = buf.len, limit = ints.len / (Py_ssize_t)(INT_COLS * sizeof(int64_t));
    if (pos < 0 || stop < 0 || n < 0 || n > limit || bucket_hex < 1 || bucket_hex > 8 ||
        floats.len / (Py_ssize_t)(FLOAT_COLS * sizeof(double)) != limit) {
        PyErr_SetString(PyExc_ValueError, "scan: positions, row count, column buffers or bucket_hex out of range");
        goto end;
    }
    const uint8_t *p = buf.buf;
    int64_t *icol = ints.buf;
    double *fcol = floats.buf;
    if (stop > size) stop = size;
    int status = SCAN_DONE;
    struct {
        PyObject *cell;
        uint8_t hash[32];
        int64_t params, bucket, vertices, index;
        span adjacency, operations;
    } last = {NULL};
    while (pos < stop) {
        if (n >= limit) { status = SCAN_FULL; break; }
        status = SCAN_SLOW;
        if (size - pos < 16) break;
        uint64_t length = load64(p + pos);
        if (masked_crc(p + pos, 8) != load32(p + pos + 8)) break;
        if (length > (uint64_t)(size - pos - 16)) break;
        const uint8_t *payload = p + pos + 12;
        if (masked_crc(payload, (size_t)length) != load32(payload + length)) break;
        record r;
        if (!parse_payload(payload, (size_t)length, &r)) break;
        if (!last.cell || memcmp(r.hash.p, last.hash, 32) != 0 || r.params != last.params ||
            r.adjacency.n != last.adjacency.n || memcmp(r.adjacency.p, last.adjacency.p, r.adjacency.n) != 0 ||
            r.operations.n != last.operations.n || memcmp(r.operations.p, last.operations.p, r.operations.n) != 0) {
            /* not the previous record's cell (the release has a cell's 12 records in a row) */
            PyObject *cell = cell_of(cells, &r, hash_fn);
            if (!cell) goto end;
            if (cell == Py_None) break;
            last.cell = cell;  /* only ever tested for NULL: the values used are copied below */
            memcpy(last.hash, r.hash.p, 32);
            last.params = r.params;
            last.adjacency = r.adjacency;  /* spans into the buffer, which outlives this call */
            last.operations = r.operations;
            last.bucket = 0;
            for (Py_ssize_t k = 0; k < bucket_hex; k++) {
                uint8_t c = r.hash.p[k];
                last.bucket = last.bucket * 16 + (c <= '9' ? c - '0' : c - 'a' + 10);
            }
            last.vertices = PyLong_AsLongLong(PyTuple_GET_ITEM(cell, 4));
            last.index = PyLong_AsLongLong(PyTuple_GET_ITEM(cell, 5));
            if (PyErr_Occurred()) goto end;
        }
        int64_t row[INT_COLS] = {last.bucket, pos, r.epochs, last.vertices, r.params, last.index};
        for (int k = 0; k < INT_COLS; k++) icol[k * limit + n] = row[k];
        for (int k = 0; k < FLOAT_COLS; k++) fcol[k * limit + n] = r.values[k];
        n++;
        pos += 16 + (Py_ssize_t)length;
        status = SCAN_DONE;
    }
    result = Py_BuildValue("nni", pos, n, status);
end:
    PyBuffer_Release(&buf);
    PyBuffer_Release(&ints);
    PyBuffer_Release(&floats);
    return result;
}

static PyObject *parse(PyObject *self, PyObject *args) {
    Py_buffer payload;
    if (!PyArg_ParseTuple(args, "y*", &payload)) return NULL;
    record r;
    PyObject *result;
    if (!parse_payload(payload.buf, (size_t)payload.len, &r)) {
        result = Py_NewRef(Py_None);
    } else {
        const double *v = r.values;
        result = Py_BuildValue("(s#is#s#L(dddd)(dddd))", r.hash.p, (Py_ssize_t)32, r.epochs, r.adjacency.p,
                               (Py_ssize_t)r.adjacency.n, r.operations.p, (Py_ssize_t)r.operations.n,
                               (long long)r.params, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
    }
    PyBuffer_Release(&payload);
    return result;
}

static PyObject *check_cell(PyObject *self, PyObject *args) {
    const char *hash, *adj, *ops;
    Py_ssize_t hash_n, adj_n, ops_n;
    PyObject *hash_fn;
    if (!PyArg_ParseTuple(args, "s#s#s#O", &hash, &hash_n, &adj, &adj_n, &ops, &ops_n, &hash_fn)) return NULL;
    record r;
    memset(&r, 0, sizeof r);
    r.hash = (span){(const uint8_t *)hash, (size_t)hash_n};
    r.adjacency = (span){(const uint8_t *)adj, (size_t)adj_n};
    r.operations = (span){(const uint8_t *)ops, (size_t)ops_n};
    r.params = 1;
    PyObject *cells = PyDict_New(), *key = PyUnicode_FromStringAndSize(hash, hash_n);
    PyObject *result = NULL;
    if (cells && key) {
        PyObject *cell = new_cell(cells, key, &r, hash_fn);
        if (cell == Py_None) result = Py_NewRef(Py_None);
        else if (cell) result = Py_BuildValue("(OO)", PyTuple_GET_ITEM(cell, 3), PyTuple_GET_ITEM(cell, 4));
    }
    Py_XDECREF(cells);
    Py_XDECREF(key);
    return result;
}

/* ---- tfrecord.sync_forward: the first plausible record header ---------------------------------- */

#define MAX_RECORD ((uint64_t)1 << 24)  /* tfrecord.MAX_RECORD */

static uint64_t load64_le(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* The first p in [pos, end) whose 8 bytes are a length <= MAX_RECORD followed by that length's
 * masked CRC-32C, or -1. The caller guarantees p + 12 <= the buffer's size for every p < end.
 * A length <= 2**24 has its bytes 4..7 zero, so a non-zero byte at pos + 7 rules out the offsets
 * pos..pos + 3 (it is byte 7, 6, 5 or 4 of their length): they are skipped. */
static Py_ssize_t find_header_sw(const uint8_t *p, Py_ssize_t pos, Py_ssize_t end) {
    for (; pos < end; pos++) {
        if (p[pos + 7]) { pos += 3; continue; }  /* and the loop's pos++ */
        uint64_t length = load64_le(p + pos);
        if (length > MAX_RECORD) continue;
        uint32_t c = crc32c_sw(p + pos, 8);  /* one slicing-by-8 step */
        if (((c >> 15) | (c << 17)) + 0xA282EAD8u == load32(p + pos + 8)) return pos;
    }
    return -1;
}

#ifdef HAVE_SSE42_PATH
__attribute__((target("sse4.2"))) static Py_ssize_t find_header_hw(const uint8_t *p, Py_ssize_t pos, Py_ssize_t end) {
    for (; pos < end; pos++) {
        if (p[pos + 7]) { pos += 3; continue; }  /* and the loop's pos++ */
        uint64_t length = load64_le(p + pos);
        if (length > MAX_RECORD) continue;
        uint32_t c = ~(uint32_t)_mm_crc32_u64(0xFFFFFFFFu, length);
        if (((c >> 15) | (c << 17)) + 0xA282EAD8u == load32(p + pos + 8)) return pos;
    }
    return -1;
}
#endif

static Py_ssize_t (*find_header)(const uint8_t *, Py_ssize_t, Py_ssize_t) = find_header_sw;

static PyObject *sync_forward(PyObject *self, PyObject *args) {
    Py_buffer buf;
    Py_ssize_t pos, limit, size;
    int software = 0;  /* tests: the table-driven CRC path that CPUs without SSE4.2 run */
    if (!PyArg_ParseTuple(args, "y*nnn|p", &buf, &pos, &limit, &size, &software)) return NULL;
    if (pos < 0 || size < 0 || size > buf.len) {
        PyBuffer_Release(&buf);
        Py_RETURN_NONE;  /* the Python loop decides (it reads such offsets differently, or fails) */
    }
    Py_ssize_t result = pos < limit ? limit : pos;  /* no header in [pos, limit) */
    /* a header needs 12 bytes before `size`: candidates are p <= size - 12, i.e. p < size - 11 */
    Py_ssize_t end = size - 11 < limit ? size - 11 : limit;
    if (pos < end) {
        Py_ssize_t found;
        Py_BEGIN_ALLOW_THREADS
        found = (software ? find_header_sw : find_header)(buf.buf, pos, end);
        Py_END_ALLOW_THREADS
        if (found >= 0) result = found;
    }
    PyBuffer_Release(&buf);
    return PyLong_FromSsize_t(result);
}

static PyObject *masked_crc32c(PyObject *self, PyObject *args) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    uint32_t c = masked_crc(data.buf, (size_t)data.len);
    PyBuffer_Release(&data);
    return PyLong_FromUnsignedLong(c);
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(buf, pos, stop, n, ints, floats, cells, hash_fn, bucket_hex) -> (pos, n, status)\n"
     "Read the records starting in [pos, stop) of a TFRecord buffer into rows n, n+1, ... of the int64\n"
     "columns `ints` (6 x limit: bucket, offset, epochs, vertices, params, cell index) and the float64\n"
     "columns `floats` (8 x limit), adding new cells to `cells` (hash -> (adjacency, operations, params,\n"
     "arch, vertices, index)). status 0: reached stop; 1: the buffers are full; 2: the record at pos\n"
     "needs the Python path (an error, or a shape the C code does not read)."},
    {"parse", parse, METH_VARARGS,
     "parse(payload) -> (hash, epochs, adjacency, operations, params, halfway, final) or None (Python path)"},
    {"check_cell", check_cell, METH_VARARGS,
     "check_cell(hash, adjacency, operations, hash_fn) -> (arch JSON, vertices) or None (Python path)"},
    {"sync_forward", sync_forward, METH_VARARGS,
     "sync_forward(buf, pos, limit, size, software=False) -> tfrecord.sync_forward's offset, or None for\n"
     "arguments it leaves to the Python loop (pos < 0, size past the buffer); software: the CRC path of\n"
     "CPUs without SSE4.2 (for tests)"},
    {"masked_crc32c", masked_crc32c, METH_VARARGS, "masked_crc32c(data) -> TensorFlow's masked CRC-32C"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_recordscan", NULL, -1, methods};

PyMODINIT_FUNC PyInit__recordscan(void) {
    crc_init();
    b64_init();
#ifdef HAVE_SSE42_PATH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        crc32c = crc32c_hw;
        find_header = find_header_hw;
    }
#endif
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "SCAN_DONE", SCAN_DONE) < 0 || PyModule_AddIntConstant(m, "SCAN_FULL", SCAN_FULL) < 0 ||
              PyModule_AddIntConstant(m, "SCAN_SLOW", SCAN_SLOW) < 0 || PyModule_AddIntConstant(m, "INT_COLUMNS", INT_COLS) < 0 ||
              PyModule_AddIntConstant(m, "FLOAT_COLUMNS", FLOAT_COLS) < 0 ||
              PyModule_AddStringConstant(m, "CRC32C", crc32c == crc32c_sw ? "software" : "sse4.2") < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
