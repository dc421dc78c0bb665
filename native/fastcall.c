/* breachindex._fastcall: the two single-lookup calls, without cffi's per-call cost.
 *
 * Why this exists beside the cffi module: cffi releases and retakes the GIL around every call
 * and converts each argument generically, which costs more than a lookup in a warm index takes
 * (docs/benchmarks.md, "What changed"). A check of one number is the app's most frequent
 * call, so these two entry points are plain CPython methods that keep the GIL (a lookup is
 * shorter than a thread switch) and call the C core through function pointers that the cffi
 * module hands over: the core itself is compiled once, in the cffi module.
 *
 * Errors take one path: a status other than BI_OK (and BI_FALLBACK, which is no failure) goes to
 * the owner's `error(status)`, breachindex._core.error, the decoder every other call of the core
 * goes through too, and the exception it returns is raised; bad arguments raise ValueError or
 * TypeError. Stable ABI (3.10), like the cffi module.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "breachindex.h"

typedef bi_status (*lookup_fn)(const bi_table *, uint64_t, int64_t *);
typedef bi_status (*phone_fn)(const bi_phone_ctx *, const char *, size_t, unsigned, int64_t *,
                              uint32_t *);

typedef struct {
    PyObject_HEAD
    PyObject *owner; /* keeps the mappings (and the structs below) alive */
    PyObject *error; /* error(status) -> exception instance */
    const bi_table *table;
    const bi_phone_ctx *ctx;
    lookup_fn lookup;
    phone_fn phone;
} Lookups;

static void *address(PyObject *value, const char *what)
{
    void *p = PyLong_AsVoidPtr(value);
    if (p == NULL && !PyErr_Occurred())
        PyErr_Format(PyExc_ValueError, "%s is a null pointer", what);
    return p;
}

static int Lookups_init(Lookups *self, PyObject *args, PyObject *kwds)
{
    PyObject *owner, *error, *table, *ctx, *lookup, *phone;
    static char *names[] = {"owner", "error", "table", "ctx", "lookup", "phone", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOOOO", names, &owner, &error, &table, &ctx,
                                     &lookup, &phone))
        return -1;
    if (!PyCallable_Check(error)) {
        PyErr_SetString(PyExc_TypeError, "error must be callable");
        return -1;
    }
    if (!(self->table = address(table, "table")) || !(self->ctx = address(ctx, "ctx")) ||
        !(self->lookup = (lookup_fn)address(lookup, "lookup")) ||
        !(self->phone = (phone_fn)address(phone, "phone")))
        return -1;
    Py_INCREF(owner);
    Py_INCREF(error);
    Py_CLEAR(self->owner);
    Py_CLEAR(self->error);
    self->owner = owner;
    self->error = error;
    return 0;
}

static void Lookups_dealloc(Lookups *self)
{
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->owner);
    Py_CLEAR(self->error);
    ((freefunc)PyType_GetSlot(type, Py_tp_free))(self);
    Py_DECREF(type);
}

static int Lookups_traverse(Lookups *self, visitproc visit, void *arg)
{
    Py_VISIT(self->owner);
    Py_VISIT(self->error);
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int Lookups_clear(Lookups *self)
{
    Py_CLEAR(self->owner);
    Py_CLEAR(self->error);
    return 0;
}

static PyObject *raise_status(Lookups *self, bi_status status)
{
    PyObject *exc = PyObject_CallFunction(self->error, "i", (int)status);
    if (exc == NULL)
        return NULL;
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

static int live(Lookups *self)
{
    if (self->owner == NULL) { /* only after tp_clear, during a collection */
        PyErr_SetString(PyExc_ValueError, "the index is closed");
        return 0;
    }
    return 1;
}

/* key(k) -> row or -1; ValueError unless k is an int in 0 .. 2^64-1 */
static PyObject *Lookups_key(Lookups *self, PyObject *arg)
{
    unsigned long long key;
    int64_t row;
    bi_status status;
    if (!live(self))
        return NULL;
    if (PyLong_CheckExact(arg)) { /* a type compare, where PyLong_Check calls the API */
        key = PyLong_AsUnsignedLongLong(arg);
    } else {
        PyObject *index = PyNumber_Index(arg); /* bool, numpy integers; nothing that is no int */
        if (index == NULL) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "a key is an unsigned 64-bit integer");
            return NULL;
        }
        key = PyLong_AsUnsignedLongLong(index);
        Py_DECREF(index);
    }
    if (key == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "a key is an unsigned 64-bit integer");
        return NULL;
    }
    status = self->lookup(self->table, (uint64_t)key, &row);
    if (status != BI_OK)
        return raise_status(self, status);
    return PyLong_FromLongLong(row);
}

/* phone(data, flags) -> bi_lookup_phone_ctx for UTF-8 bytes: (profile << 32) | row if found, -1
 * if absent, None if the reference must decide (BI_FALLBACK); raises for a failure (a number
 * that is not possible, a damaged index). Rows and profile ids are below 2^32 and 2^31, so the
 * packed value is never negative: one int, not a tuple, on the path of every check. */
static PyObject *Lookups_phone(Lookups *self, PyObject *const *args, Py_ssize_t nargs)
{
    char *data;
    Py_ssize_t len;
    unsigned long flags;
    int64_t row;
    uint32_t profile = 0;
    bi_status status;
    if (!live(self))
        return NULL;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "phone(data, flags) takes two arguments");
        return NULL;
    }
    if (PyBytes_AsStringAndSize(args[0], &data, &len) < 0)
        return NULL;
    flags = PyLong_AsUnsignedLong(args[1]);
    if (flags == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    status = self->phone(self->ctx, data, (size_t)len, (unsigned)flags, &row, &profile);
    if (status == BI_OK)
        return PyLong_FromLongLong(row < 0 ? -1
                                           : (int64_t)(((uint64_t)profile << 32) | (uint64_t)row));
    if (status == BI_FALLBACK)
        Py_RETURN_NONE;
    return raise_status(self, status);
}

static PyMethodDef Lookups_methods[] = {
    {"key", (PyCFunction)Lookups_key, METH_O, "key(k) -> row of a uint64 key, -1 if absent"},
    {"phone", (PyCFunction)(void (*)(void))Lookups_phone, METH_FASTCALL,
     "phone(data, flags) -> (profile << 32) | row, -1 if absent, None for the reference"},
    {NULL, NULL, 0, NULL}};

static PyType_Slot Lookups_slots[] = {
    {Py_tp_doc, "Single lookups over one mapped index; holds the mapping alive."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Lookups_init},
    {Py_tp_dealloc, Lookups_dealloc},
    {Py_tp_traverse, Lookups_traverse},
    {Py_tp_clear, Lookups_clear},
    {Py_tp_methods, Lookups_methods},
    {0, NULL}};

static PyType_Spec Lookups_spec = {.name = "breachindex._fastcall.Lookups",
                                   .basicsize = sizeof(Lookups),
                                   .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
                                   .slots = Lookups_slots};

static int fastcall_exec(PyObject *module)
{
    PyObject *type = PyType_FromSpec(&Lookups_spec);
    if (type == NULL)
        return -1;
    if (PyModule_AddObject(module, "Lookups", type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    return PyModule_AddIntConstant(module, "ABI_VERSION", BI_ABI_VERSION);
}

static PyModuleDef_Slot fastcall_slots[] = {{Py_mod_exec, (void *)fastcall_exec}, {0, NULL}};

static struct PyModuleDef fastcall_module = {
    PyModuleDef_HEAD_INIT, .m_name = "breachindex._fastcall",
    .m_doc = "Single lookups without cffi's per-call GIL release (see native/fastcall.c).",
    .m_slots = fastcall_slots};

PyMODINIT_FUNC PyInit__fastcall(void) { return PyModuleDef_Init(&fastcall_module); }
