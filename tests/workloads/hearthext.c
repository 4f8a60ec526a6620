// SPDX-License-Identifier: MIT
/*
 * A CPython C extension with a known native chain, for the merged-stack
 * tests: hearthext.spin(n) -> ext_spin -> ext_helper (the hot loop), and
 * hearthext.call(f, n), which calls back into Python from C. Built
 * by the test against each interpreter's headers, -O2 -fomit-frame-pointer
 * as extensions usually are. Python 2.7 and 3.x.
 */
#include <Python.h>

#define NOINLINE __attribute__((noinline))

static volatile unsigned long ext_sink;

NOINLINE static unsigned long ext_helper(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++)
		ext_sink += i ^ (i >> 3);
	__asm__ volatile("" ::: "memory");
	return ext_sink;
}

NOINLINE static unsigned long ext_spin(unsigned long n)
{
	unsigned long r = ext_helper(n);

	__asm__ volatile("" ::: "memory");
	return r + 1;
}

static PyObject *hearthext_spin(PyObject *self, PyObject *args)
{
	unsigned long n;

	if (!PyArg_ParseTuple(args, "k", &n))
		return NULL;
	return PyLong_FromUnsignedLong(ext_spin(n));
}

/* hearthext.call(f, n): call f() n times from C, a Python -> C -> Python chain. */
static PyObject *hearthext_call(PyObject *self, PyObject *args)
{
	PyObject *f, *r;
	unsigned long n;

	if (!PyArg_ParseTuple(args, "Ok", &f, &n))
		return NULL;
	for (unsigned long i = 0; i < n; i++) {
		r = PyObject_CallObject(f, NULL);
		if (!r)
			return NULL;
		Py_DECREF(r);
	}
	Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
	{ "spin", hearthext_spin, METH_VARARGS, "burn n steps in C" },
	{ "call", hearthext_call, METH_VARARGS, "call f() n times from C" },
	{ NULL, NULL, 0, NULL },
};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef module = { PyModuleDef_HEAD_INIT, "hearthext", NULL, -1, methods };

PyMODINIT_FUNC PyInit_hearthext(void)
{
	return PyModule_Create(&module);
}
#else
PyMODINIT_FUNC inithearthext(void)
{
	Py_InitModule("hearthext", methods);
}
#endif
