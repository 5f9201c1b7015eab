/* cext: a compiled C extension module for py_cext.py, built against the
 * headers of the interpreter under test (the target compiles it at start).
 * msttop_cext.call(fn) calls fn() through two C functions of its own, so a
 * merged stack shows Python / cext_outer, cext_inner / Python. Noinline and
 * an empty asm after each call keep both frames real (no inlining, no tail
 * call). Builds against CPython 3.6+. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

__attribute__((noinline)) PyObject *cext_inner(PyObject *fn);
__attribute__((noinline)) PyObject *cext_outer(PyObject *fn);

PyObject *cext_inner(PyObject *fn)
{
	PyObject *r = PyObject_CallObject(fn, NULL);
	__asm__ volatile("" ::: "memory");
	return r;
}

PyObject *cext_outer(PyObject *fn)
{
	PyObject *r = cext_inner(fn);
	__asm__ volatile("" ::: "memory");
	return r;
}

static PyObject *call(PyObject *self, PyObject *fn)
{
	(void)self;
	if (!PyCallable_Check(fn)) {
		PyErr_SetString(PyExc_TypeError, "call(fn): fn must be callable");
		return NULL;
	}
	return cext_outer(fn);
}

static PyMethodDef methods[] = {
    {"call", call, METH_O, "call(fn): fn() through two C frames"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "msttop_cext", NULL, -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_msttop_cext(void);
PyMODINIT_FUNC PyInit_msttop_cext(void)
{
	return PyModule_Create(&module);
}
