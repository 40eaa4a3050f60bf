/* Bulk INSERT of Arrow columns into an open sqlite3.Connection, at C speed.
 *
 * Python's executemany binds every value through Python objects (~1 us per row of 6 columns);
 * this binds straight from the Arrow buffers, through the same SQLite library and connection the
 * caller's sqlite3 module uses, with the same calls the sqlite3 module makes (bind_int64,
 * bind_double, bind_text with an explicit length, bind_null), in the same order. The database
 * bytes are therefore those the Python path writes. On a row SQLite refuses, it stops and
 * reports the row, so that the caller replays it through Python for the usual exception.
 *
 * Rows go in blocks of k through one k-row INSERT (fewer statement executions: about a quarter of
 * SQLite's time per row), which inserts the same rows in the same order, so the same bytes. A block
 * with a NULL or NaN in a NOT NULL column goes row by row instead, so that the refused row is
 * reported as before. With the rollback journal off, a k-row statement that fails keeps the
 * rows it inserted before failing: the caller gets the block's first row, the error and SQLite's
 * message, and abandons the write (the file is not kept) instead of replaying into that table.
 *
 * No SQLite header or import library is needed at build time: the few entry points are looked up
 * at run time with dlsym on the handle of Python's own _sqlite3 module (its path is passed to
 * `bind_library`), which resolves them exactly as _sqlite3 does: to the SQLite it is linked with.
 * Anything unexpected -> the caller keeps executemany.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_stmt sqlite3_stmt;
#define SQLITE_OK 0
#define SQLITE_DONE 101
#define SQLITE_TRANSIENT ((void (*)(void *))-1)

static struct {
    int (*prepare_v2)(sqlite3 *, const char *, int, sqlite3_stmt **, const char **);
    int (*bind_int64)(sqlite3_stmt *, int, long long);
    int (*bind_double)(sqlite3_stmt *, int, double);
    int (*bind_text)(sqlite3_stmt *, int, const char *, int, void (*)(void *));
    int (*bind_null)(sqlite3_stmt *, int);
    int (*step)(sqlite3_stmt *);
    int (*reset)(sqlite3_stmt *);
    int (*finalize)(sqlite3_stmt *);
    int (*bind_parameter_count)(sqlite3_stmt *);
    const char *(*db_filename)(sqlite3 *, const char *);
    const char *(*libversion)(void);
    const char *(*errmsg)(sqlite3 *);
} api;
static void *library = NULL;

/* The start of CPython's sqlite3.Connection object (Modules/_sqlite/connection.h, 3.8-3.13): the
 * database handle is the first field. Checked by the caller through db_filename before any use. */
typedef struct {
    PyObject_HEAD
    sqlite3 *db;
} ConnectionHead;

static PyObject *bind_library(PyObject *self, PyObject *args) {
    const char *path;
    if (!PyArg_ParseTuple(args, "s", &path)) return NULL;
    /* RTLD_NOLOAD: the _sqlite3 module already loaded, never a second copy; dlsym on its handle
     * searches it and then its dependencies, so a symbol resolves to the SQLite _sqlite3 calls */
    void *handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (handle == NULL) return PyErr_Format(PyExc_OSError, "%s is not loaded in this process", path);
#define LOOKUP(field, name)                                                           \
    *(void **)(&api.field) = dlsym(handle, name);                                     \
    if (api.field == NULL) {                                                          \
        dlclose(handle);                                                              \
        return PyErr_Format(PyExc_OSError, "%s has no symbol %s", path, name);        \
    }
    LOOKUP(prepare_v2, "sqlite3_prepare_v2")
    LOOKUP(bind_int64, "sqlite3_bind_int64")
    LOOKUP(bind_double, "sqlite3_bind_double")
    LOOKUP(bind_text, "sqlite3_bind_text")
    LOOKUP(bind_null, "sqlite3_bind_null")
    LOOKUP(step, "sqlite3_step")
    LOOKUP(reset, "sqlite3_reset")
    LOOKUP(finalize, "sqlite3_finalize")
    LOOKUP(bind_parameter_count, "sqlite3_bind_parameter_count")
    LOOKUP(db_filename, "sqlite3_db_filename")
    LOOKUP(libversion, "sqlite3_libversion")
    LOOKUP(errmsg, "sqlite3_errmsg")
#undef LOOKUP
    library = handle;
    return PyUnicode_FromString(api.libversion());
}

static sqlite3 *handle_of(PyObject *conn) { return ((ConnectionHead *)conn)->db; }

/* The main database's file name as SQLite sees it: the caller compares it with the one it opened. */
static PyObject *filename(PyObject *self, PyObject *conn) {
    if (library == NULL) return PyErr_Format(PyExc_RuntimeError, "bind_library first");
    sqlite3 *db = handle_of(conn);
    if (db == NULL) return PyErr_Format(PyExc_ValueError, "the connection is closed");
    const char *name = api.db_filename(db, "main");
    return PyUnicode_FromString(name ? name : "");
}

enum { KIND_INT64 = 0, KIND_FLOAT64 = 1, KIND_STRING = 2 };

typedef struct {
    int kind;
    int nullable;        /* 0: the column is NOT NULL (a NULL in it sends its block row by row) */
    Py_buffer data;      /* int64 / float64 values, or the string bytes */
    Py_buffer offsets;   /* int32 string offsets (strings only) */
    Py_buffer validity;  /* Arrow validity bitmap, or len 0 when there are no nulls */
    Py_ssize_t offset;   /* the array's offset into its buffers (a sliced Arrow array) */
} Column;

static void release(Column *cols, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        PyBuffer_Release(&cols[i].data);
        PyBuffer_Release(&cols[i].offsets);
        PyBuffer_Release(&cols[i].validity);
    }
    PyMem_Free(cols);
}

/* Bind row r of every column to parameters first+1 .. first+ncols; SQLITE_OK or the first error. */
static int bind_row(sqlite3_stmt *stmt, const Column *cols, Py_ssize_t ncols, Py_ssize_t row, int first) {
    for (Py_ssize_t j = 0; j < ncols; j++) {
        const Column *c = &cols[j];
        Py_ssize_t r = c->offset + row;
        int at = first + (int)j + 1, rc;
        const uint8_t *valid = (const uint8_t *)c->validity.buf;
        if (c->validity.len && !(valid[r >> 3] & (1u << (r & 7)))) {
            rc = api.bind_null(stmt, at);
        } else if (c->kind == KIND_INT64) {
            rc = api.bind_int64(stmt, at, ((const int64_t *)c->data.buf)[r]);
        } else if (c->kind == KIND_FLOAT64) {
            rc = api.bind_double(stmt, at, ((const double *)c->data.buf)[r]);
        } else {
            const int32_t *off = (const int32_t *)c->offsets.buf;
            rc = api.bind_text(stmt, at, (const char *)c->data.buf + off[r], off[r + 1] - off[r], SQLITE_TRANSIENT);
        }
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

/* Whether rows [row, row + k) hold a NULL in a NOT NULL column: an Arrow null, or a NaN, which
 * SQLite stores as NULL. */
static int null_where_not_null(const Column *cols, Py_ssize_t ncols, Py_ssize_t row, Py_ssize_t k) {
    for (Py_ssize_t j = 0; j < ncols; j++) {
        const Column *c = &cols[j];
        if (c->nullable) continue;
        const uint8_t *valid = (const uint8_t *)c->validity.buf;
        const double *values = (const double *)c->data.buf;
        for (Py_ssize_t r = c->offset + row; r < c->offset + row + k; r++) {
            if (c->validity.len && !(valid[r >> 3] & (1u << (r & 7)))) return 1;
            if (c->kind == KIND_FLOAT64 && values[r] != values[r]) return 1;
        }
    }
    return 0;
}

/* Run a statement whose parameters are bound; SQLITE_OK or the error. */
static int run(sqlite3_stmt *stmt) {
    int rc = api.step(stmt);
    api.reset(stmt);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* insert(conn, sql, rows, columns, block_sql, k)
 *     -> (rows inserted, error code or 0, whether a k-row statement failed, SQLite's message or None)
 * sql inserts one row, block_sql k rows (the same VALUES group k times; k = 1: not used).
 * columns: sequence of (kind, nullable, data, offsets, validity, offset), buffers as bytes-like objects. */
static PyObject *insert(PyObject *self, PyObject *args) {
    PyObject *conn, *columns;
    const char *sql, *block_sql;
    Py_ssize_t rows, k;
    if (!PyArg_ParseTuple(args, "OsnOsn", &conn, &sql, &rows, &columns, &block_sql, &k)) return NULL;
    if (library == NULL) return PyErr_Format(PyExc_RuntimeError, "bind_library first");
    if (k < 1) return PyErr_Format(PyExc_ValueError, "k must be at least 1");
    sqlite3 *db = handle_of(conn);
    if (db == NULL) return PyErr_Format(PyExc_ValueError, "the connection is closed");
    PyObject *seq = PySequence_Fast(columns, "columns must be a sequence");
    if (seq == NULL) return NULL;
    Py_ssize_t ncols = PySequence_Fast_GET_SIZE(seq);
    Column *cols = PyMem_Calloc(ncols > 0 ? ncols : 1, sizeof(Column));
    if (cols == NULL) { Py_DECREF(seq); return PyErr_NoMemory(); }
    Py_ssize_t got = 0;
    for (; got < ncols; got++) {
        Column *c = &cols[got];
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, got), "ipy*y*y*n", &c->kind, &c->nullable, &c->data,
                              &c->offsets, &c->validity, &c->offset)) goto fail;
        Py_ssize_t last = c->offset + rows;  /* one past the last row read */
        if (c->offset < 0 || rows < 0 || last < c->offset) { PyErr_SetString(PyExc_ValueError, "bad row range"); got++; goto fail; }
        if (c->validity.len && c->validity.len * 8 < last) { PyErr_SetString(PyExc_ValueError, "validity too short"); got++; goto fail; }
        if (c->kind == KIND_INT64 || c->kind == KIND_FLOAT64) {
            if (c->data.len / 8 < last) { PyErr_SetString(PyExc_ValueError, "values too short"); got++; goto fail; }
        } else if (c->kind == KIND_STRING) {
            if (c->offsets.len / 4 < last + 1) { PyErr_SetString(PyExc_ValueError, "offsets too short"); got++; goto fail; }
            const int32_t *off = (const int32_t *)c->offsets.buf;
            for (Py_ssize_t r = c->offset; r < last; r++)  /* every string inside the data, lengths >= 0 */
                if (off[r] < 0 || off[r + 1] < off[r] || off[r + 1] > c->data.len) {
                    PyErr_SetString(PyExc_ValueError, "string offsets outside the data");
                    got++;
                    goto fail;
                }
        } else { PyErr_SetString(PyExc_ValueError, "unknown column kind"); got++; goto fail; }
    }
    Py_DECREF(seq);
    seq = NULL;

    sqlite3_stmt *stmt = NULL, *block = NULL;
    int rc = api.prepare_v2(db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK || stmt == NULL) {
        release(cols, ncols);
        return PyErr_Format(PyExc_ValueError, "cannot prepare %s (SQLite code %d)", sql, rc);
    }
    if (api.bind_parameter_count(stmt) != ncols) {
        int count = api.bind_parameter_count(stmt);
        api.finalize(stmt);
        release(cols, ncols);
        return PyErr_Format(PyExc_ValueError, "%s takes %d values, %zd columns given", sql, count, ncols);
    }
    if (k > 1 && rows >= k) {
        rc = api.prepare_v2(db, block_sql, -1, &block, NULL);
        if (rc != SQLITE_OK || block == NULL || api.bind_parameter_count(block) != k * ncols) {
            if (block != NULL) api.finalize(block);
            api.finalize(stmt);
            release(cols, ncols);
            return PyErr_Format(PyExc_ValueError, "cannot prepare the %zd-row INSERT with %zd values per row "
                                "(SQLite code %d)", k, ncols, rc);
        }
    }
    Py_ssize_t done = 0;
    int error = 0, in_block = 0;
    Py_BEGIN_ALLOW_THREADS
    while (done < rows && !error) {
        if (block != NULL && done + k <= rows && !null_where_not_null(cols, ncols, done, k)) {
            int bound = SQLITE_OK;
            for (Py_ssize_t i = 0; i < k && bound == SQLITE_OK; i++)
                bound = bind_row(block, cols, ncols, done + i, (int)(i * ncols));
            if (bound == SQLITE_OK) {
                error = run(block);
                if (error) { in_block = 1; break; }
                done += k;
                continue;
            }
            /* a value SQLite would not bind (nothing ran): this block row by row, to name its row */
        }
        Py_ssize_t stop = block != NULL && done + k <= rows ? done + k : rows;  /* this block row by row */
        for (; done < stop; done++) {
            error = bind_row(stmt, cols, ncols, done, 0);
            if (!error) error = run(stmt);
            if (error) break;
        }
    }
    Py_END_ALLOW_THREADS
    PyObject *message = Py_None;
    if (error) {
        const char *text = api.errmsg(db);
        message = PyUnicode_DecodeUTF8(text, (Py_ssize_t)strlen(text), "replace");
    } else {
        Py_INCREF(message);
    }
    if (block != NULL) api.finalize(block);
    api.finalize(stmt);
    release(cols, ncols);
    if (message == NULL) return NULL;
    return Py_BuildValue("niiN", done, error, in_block, message);

fail:
    Py_XDECREF(seq);
    release(cols, got);
    return NULL;
}

static PyMethodDef methods[] = {
    {"bind_library", bind_library, METH_VARARGS, "Use the SQLite that the loaded module at this path (_sqlite3) calls; returns its version."},
    {"filename", filename, METH_O, "The main database file name of a sqlite3.Connection."},
    {"insert", insert, METH_VARARGS, "insert(conn, sql, rows, columns, block_sql, k) -> (rows inserted, SQLite error code or 0, "
                                    "whether a k-row statement failed, SQLite's message or None)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_sqlitebulk", NULL, -1, methods};

PyMODINIT_FUNC PyInit__sqlitebulk(void) { return PyModule_Create(&module); }
