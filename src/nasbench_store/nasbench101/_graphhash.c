/* nasbench's graph hash (graph_util.hash_module) in C: the conversion checks 423,624 cells and
 * verify re-checks them, and in Python each costs ~57 md5 calls plus the string juggling.
 * Byte-for-byte the same strings as the Python version are hashed; tests compare the two.
 * MD5 follows RFC 1321. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MAXV 32

typedef struct { uint32_t a, b, c, d; uint64_t len; unsigned char buf[64]; size_t used; } md5_ctx;

static const uint32_t K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391};
static const unsigned char R[64] = {7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
                                    5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
                                    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
                                    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21};

static void md5_block(md5_ctx *c, const unsigned char *p) {
    uint32_t m[16], a = c->a, b = c->b, cc = c->c, d = c->d;
    for (int i = 0; i < 16; i++)
        m[i] = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
    for (int i = 0; i < 64; i++) {
        uint32_t f; int g;
        if (i < 16) { f = (b & cc) | (~b & d); g = i; }
        else if (i < 32) { f = (d & b) | (~d & cc); g = (5 * i + 1) % 16; }
        else if (i < 48) { f = b ^ cc ^ d; g = (3 * i + 5) % 16; }
        else { f = cc ^ (b | ~d); g = (7 * i) % 16; }
        uint32_t t = d; d = cc; cc = b;
        uint32_t x = a + f + K[i] + m[g];
        b = b + ((x << R[i]) | (x >> (32 - R[i])));
        a = t;
    }
    c->a += a; c->b += b; c->c += cc; c->d += d;
}

static void md5_hex(const unsigned char *data, size_t len, char out[33]) {
    md5_ctx c = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0, {0}, 0};
    size_t i = 0;
    for (; i + 64 <= len; i += 64) md5_block(&c, data + i);
    unsigned char tail[128];
    size_t rest = len - i;
    memcpy(tail, data + i, rest);
    tail[rest] = 0x80;
    size_t total = rest + 1 <= 56 ? 64 : 128;
    memset(tail + rest + 1, 0, total - rest - 1);
    uint64_t bits = (uint64_t)len * 8;
    for (int k = 0; k < 8; k++) tail[total - 8 + k] = (unsigned char)(bits >> (8 * k));
    md5_block(&c, tail);
    if (total == 128) md5_block(&c, tail + 64);
    uint32_t w[4] = {c.a, c.b, c.c, c.d};
    static const char hex[] = "0123456789abcdef";
    for (int k = 0; k < 16; k++) {
        unsigned char byte = (unsigned char)(w[k / 4] >> (8 * (k % 4)));
        out[2 * k] = hex[byte >> 4];
        out[2 * k + 1] = hex[byte & 15];
    }
    out[32] = 0;
}

static int cmp_hash(const void *x, const void *y) { return memcmp(*(const char **)x, *(const char **)y, 32); }

/* concatenate the hashes of `idx` (count k) in sorted order into dst; return bytes written */
static size_t sorted_concat(char hashes[][33], const int *idx, int k, char *dst) {
    const char *ptrs[MAXV];
    for (int i = 0; i < k; i++) ptrs[i] = hashes[idx[i]];
    qsort(ptrs, k, sizeof(char *), cmp_hash);
    for (int i = 0; i < k; i++) memcpy(dst + 32 * i, ptrs[i], 32);
    return (size_t)32 * k;
}

static PyObject *hash_cell(PyObject *self, PyObject *args) {
    const char *adj; Py_ssize_t adj_len; PyObject *labels_obj;
    if (!PyArg_ParseTuple(args, "s#O", &adj, &adj_len, &labels_obj)) return NULL;
    PyObject *labels = PySequence_Fast(labels_obj, "labels must be a sequence of ints");
    if (!labels) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(labels);
    if (n < 1 || n > MAXV || n * n != adj_len) {
        Py_DECREF(labels);
        PyErr_Format(PyExc_ValueError, "adjacency of length %zd does not match %zd labels (at most %d)", adj_len, n, MAXV);
        return NULL;
    }
    long lab[MAXV];
    for (Py_ssize_t v = 0; v < n; v++) {
        lab[v] = PyLong_AsLong(PySequence_Fast_GET_ITEM(labels, v));
        if (lab[v] == -1 && PyErr_Occurred()) { Py_DECREF(labels); return NULL; }
    }
    Py_DECREF(labels);
    int preds[MAXV][MAXV], succs[MAXV][MAXV], np_[MAXV] = {0}, ns[MAXV] = {0};
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            char bit = adj[i * n + j];
            if (bit != '0' && bit != '1') { PyErr_SetString(PyExc_ValueError, "adjacency must be '0'/'1' characters"); return NULL; }
            if (bit == '1') { succs[i][ns[i]++] = j; preds[j][np_[j]++] = i; }
        }
    char hashes[MAXV][33], next[MAXV][33];
    char buf[32 * MAXV * 2 + 64];
    for (int v = 0; v < n; v++) {
        int len = snprintf(buf, sizeof buf, "(%d, %d, %ld)", ns[v], np_[v], lab[v]);
        md5_hex((unsigned char *)buf, (size_t)len, hashes[v]);
    }
    for (int it = 0; it < n; it++) {
        for (int v = 0; v < n; v++) {
            size_t len = sorted_concat(hashes, preds[v], np_[v], buf);
            buf[len++] = '|';
            len += sorted_concat(hashes, succs[v], ns[v], buf + len);
            buf[len++] = '|';
            memcpy(buf + len, hashes[v], 32);
            md5_hex((unsigned char *)buf, len + 32, next[v]);
        }
        memcpy(hashes, next, sizeof hashes);
    }
    const char *order[MAXV];
    for (int v = 0; v < n; v++) order[v] = hashes[v];
    qsort(order, n, sizeof(char *), cmp_hash);
    char repr[MAXV * 36 + 4];
    size_t len = 0;
    repr[len++] = '[';
    for (int v = 0; v < n; v++) {
        if (v) { repr[len++] = ','; repr[len++] = ' '; }
        repr[len++] = '\'';
        memcpy(repr + len, order[v], 32);
        len += 32;
        repr[len++] = '\'';
    }
    repr[len++] = ']';
    char out[33];
    md5_hex((unsigned char *)repr, len, out);
    return PyUnicode_FromStringAndSize(out, 32);
}

static PyMethodDef methods[] = {
    {"hash_cell", hash_cell, METH_VARARGS,
     "hash_cell(adjacency, labels) -> nasbench graph hash of a row-major '0'/'1' matrix and int labels"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_graphhash", NULL, -1, methods};

PyMODINIT_FUNC PyInit__graphhash(void) { return PyModule_Create(&module); }
