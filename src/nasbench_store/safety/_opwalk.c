/* The pickle opcode walk of safety/unpickler.py (`_walk`) in C: the same opcodes read the same way,
 * the same answer, at memory speed instead of ~20 ns a byte.
 *
 * walk(data, kinds, pos, stop, end, has_limit, limit, shift, count_tuples, tuples, max_tuples)
 *     -> (status, pos, value, tuples)
 *
 * `kinds` is unpickler._KINDS as 256 signed bytes (the one table both walks read). The walk reads
 * data[pos:end] from `pos` while pos < stop and returns
 *   WALK_DONE      the walk ended (STOP, an unknown opcode, a truncated argument, or stop reached)
 *   WALK_PUT       a PUT / LONG_BINPUT at `pos` stores to `value`, beyond the bound
 *   WALK_TUPLES    the tuple opcode at `pos` is tuple number `value` > max_tuples (count_tuples only)
 *   WALK_SLOW      a text PUT at `pos` whose line (ending at the newline at `value`) is not plain
 *                  ASCII digits: Python parses it (`_put_index`, int() semantics) and calls again
 *                  from value + 1 with the returned tuple count
 *   WALK_ARGS      arguments the Python walk reads differently (pos < 0, end past the buffer): the
 *                  caller runs the Python walk
 * Lengths are compared with the bytes left before they are added, so no offset overflows whatever
 * the bytes say. The GIL is released while a large range is walked.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum { WALK_DONE = 0, WALK_PUT = 1, WALK_TUPLES = 2, WALK_SLOW = 3, WALK_ARGS = 4 };
/* unpickler._INVALID, _STOP, _LEN1, ... = range(0, -11, -1); > 0 is a fixed total length */
enum { K_INVALID = 0, K_STOP = -1, K_LEN1 = -2, K_LEN4 = -3, K_LEN4_SIGNED = -4, K_LEN8 = -5, K_LINE = -6,
       K_LINES2 = -7, K_LONG_BINPUT = -8, K_PUT = -9, K_TUPLE = -10 };
#define MAX_PLAIN_DIGITS 18          /* below 10**18 < 2**63: exact in a long long */
#define GIL_FREE_BYTES (64 * 1024)   /* walks shorter than this keep the GIL (releasing costs more) */

typedef struct {
    const unsigned char *d;
    const signed char *kinds;
    Py_ssize_t stop, end;
    int has_limit, count_tuples;
    long long limit, shift, max_tuples;
} walk_args;

typedef struct {
    int status;
    Py_ssize_t pos;
    long long value, tuples;
} walk_result;

static inline uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t le64(const unsigned char *p) {
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void walk_loop(const walk_args *a, walk_result *r) {
    const unsigned char *d = a->d;
    const signed char *kinds = a->kinds;
    const Py_ssize_t stop = a->stop, end = a->end;   /* 0 <= pos, stop <= end <= the buffer's length */
    Py_ssize_t pos = r->pos;
    long long tuples = r->tuples;
    int status = WALK_DONE;
    long long value = 0;
    while (pos < stop) {
        int kind = kinds[d[pos]];
        if (kind > 0) {               /* fixed length; a truncated argument ends the walk at the loop test */
            pos += kind;
            continue;
        }
        switch (kind) {
        case K_LEN1:
            if (end - pos < 2) goto out;
            pos += 2 + d[pos + 1];
            break;
        case K_LONG_BINPUT: {
            if (end - pos < 5) goto out;
            long long index = (long long)le32(d + pos + 1);
            long long bound = a->has_limit ? a->limit : (long long)pos + a->shift;
            if (index > bound) {
                status = WALK_PUT;
                value = index;
                goto out;
            }
            pos += 5;
            break;
        }
        case K_TUPLE:
            tuples++;
            if (a->count_tuples && tuples > a->max_tuples) {
                status = WALK_TUPLES;
                value = tuples;
                goto out;
            }
            pos += 1;
            break;
        case K_LEN4:
        case K_LEN4_SIGNED: {
            if (end - pos < 5) goto out;
            uint32_t n = le32(d + pos + 1);
            if (kind == K_LEN4_SIGNED && n >= 0x80000000u) goto out;   /* negative: the unpickler stops */
            if ((uint64_t)n > (uint64_t)(end - pos - 5)) goto out;       /* past the end: the walk ends */
            pos += 5 + (Py_ssize_t)n;
            break;
        }
        case K_LEN8: {
            if (end - pos < 9) goto out;
            uint64_t n = le64(d + pos + 1);
            if (n > (uint64_t)(end - pos - 9)) goto out;
            pos += 9 + (Py_ssize_t)n;
            break;
        }
        case K_LINE:
        case K_PUT:
        case K_LINES2: {
            /* data.find(b"\n", pos + 1, end); pos < stop <= end, so pos + 1 <= end */
            const unsigned char *nlp = memchr(d + pos + 1, '\n', (size_t)(end - pos - 1));
            if (nlp == NULL) goto out;
            Py_ssize_t nl = nlp - d;
            if (kind == K_PUT) {
                Py_ssize_t ndigits = nl - pos - 1;
                long long index = 0;
                int plain = ndigits >= 1 && ndigits <= MAX_PLAIN_DIGITS;
                for (Py_ssize_t i = pos + 1; plain && i < nl; i++) {
                    if (d[i] < '0' || d[i] > '9') plain = 0;
                    else index = index * 10 + (d[i] - '0');
                }
                if (!plain) {          /* spaces, a sign, underscores, no digits, a long number: Python's int() */
                    status = WALK_SLOW;
                    value = nl;
                    goto out;
                }
                if (index > (a->has_limit ? a->limit : (long long)pos + a->shift)) {
                    status = WALK_PUT;
                    value = index;
                    goto out;
                }
            } else if (kind == K_LINES2) {
                nlp = memchr(d + nl + 1, '\n', (size_t)(end - nl - 1));   /* nl < end */
                if (nlp == NULL) goto out;
                nl = nlp - d;
            }
            pos = nl + 1;
            break;
        }
        default:                      /* STOP or not an opcode */
            goto out;
        }
    }
out:
    r->status = status;
    r->pos = pos;
    r->value = value;
    r->tuples = tuples;
}

static PyObject *walk(PyObject *self, PyObject *args) {
    Py_buffer buf, kinds;
    Py_ssize_t pos, stop, end;
    int has_limit, count_tuples;
    long long limit, shift, tuples, max_tuples;
    if (!PyArg_ParseTuple(args, "y*y*nnnpLLpLL", &buf, &kinds, &pos, &stop, &end, &has_limit, &limit, &shift,
                          &count_tuples, &tuples, &max_tuples))
        return NULL;
    walk_result r = {WALK_DONE, pos, 0, tuples};
    if (kinds.len != 256) {
        PyBuffer_Release(&buf);
        PyBuffer_Release(&kinds);
        PyErr_SetString(PyExc_ValueError, "kinds must be 256 bytes");
        return NULL;
    }
    /* pos + shift stays far from overflow for any buffer this side of 2**61 bytes */
    const long long far = (long long)1 << 61;
    if (pos < 0 || end > buf.len || shift > far || shift < -far || (has_limit && (limit > far || limit < -far))) {
        r.status = WALK_ARGS;
    } else {
        walk_args a = {buf.buf, kinds.buf, stop < end ? stop : end, end, has_limit, count_tuples,
                       limit, shift, max_tuples};
        if (a.stop - pos >= GIL_FREE_BYTES) {
            Py_BEGIN_ALLOW_THREADS
            walk_loop(&a, &r);
            Py_END_ALLOW_THREADS
        } else {
            walk_loop(&a, &r);
        }
    }
    PyBuffer_Release(&buf);
    PyBuffer_Release(&kinds);
    return Py_BuildValue("(inLL)", r.status, r.pos, r.value, r.tuples);
}

static PyMethodDef methods[] = {
    {"walk", walk, METH_VARARGS,
     "walk(data, kinds, pos, stop, end, has_limit, limit, shift, count_tuples, tuples, max_tuples)\n"
     "-> (status, pos, value, tuples): safety.unpickler._walk's opcode loop (see the module's source)"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_opwalk", NULL, -1, methods};

/* KIND_CODES: the kinds above in unpickler's order (_INVALID, _STOP, _LEN1, ..., _TUPLE), for its tests */
PyMODINIT_FUNC PyInit__opwalk(void) {
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "WALK_DONE", WALK_DONE) < 0 || PyModule_AddIntConstant(m, "WALK_PUT", WALK_PUT) < 0 ||
              PyModule_AddIntConstant(m, "WALK_TUPLES", WALK_TUPLES) < 0 ||
              PyModule_AddIntConstant(m, "WALK_SLOW", WALK_SLOW) < 0 ||
              PyModule_AddIntConstant(m, "WALK_ARGS", WALK_ARGS) < 0 ||
              PyModule_AddObject(m, "KIND_CODES", Py_BuildValue("(iiiiiiiiiii)", K_INVALID, K_STOP, K_LEN1, K_LEN4,
                                 K_LEN4_SIGNED, K_LEN8, K_LINE, K_LINES2, K_LONG_BINPUT, K_PUT, K_TUPLE)) < 0)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
