/* embed: a C program that embeds libpython in its own main(), so the
 * interpreter lives in a binary that is not "python" (no python symbols in
 * the executable, libpython as a shared library).
 *
 * Usage:
 *   embed              run the built-in snippet below
 *   embed SCRIPT [ARG...]
 *                      run SCRIPT as __main__ (sys.argv = [SCRIPT, ARG...])
 *                      through runpy, e.g. one of the tests/targets/py_*.py
 *
 * Built-in snippet: the main thread runs
 *   embed_main -> embed_outer -> embed_inner -> time.sleep
 * and prints, just before sleeping,
 *   ready tid=<native tid of the main thread> mode=builtin
 * Its Python code is compiled with this C file's name (__FILE__, so the name
 * ends in "embed.c") and with line numbers equal to the lines of this file,
 * so the MARK comments in the snippet (emb_call_main for the module level,
 * emb_call_outer, emb_call_inner, emb_sleep) give the Python line numbers. The C-level marker
 * c_run_call is on the line of main() that enters the interpreter.
 *
 * Builds against any CPython 3.6..3.13:
 *   cc embed.c $(python3-config --cflags --embed --ldflags)  (3.8+)
 *   cc embed.c $(python3-config --cflags --ldflags)          (3.6, 3.7)
 * Exits by itself (SIGALRM, default action) after $MSTTOP_TARGET_TIMEOUT
 * seconds (default 300). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target_timeout.h"

/* One Python line per C line; the first one is two lines below this one. */
static const int snippet_first_line = __LINE__ + 2;
static const char snippet[] =
    "import sys, threading, time\n"
    "def native_tid():\n"
    "    try:\n"
    "        return threading.get_native_id()\n"
    "    except AttributeError:\n"
    "        import ctypes\n"
    "        return ctypes.CDLL(None).syscall(186)\n"
    "def embed_inner():\n"
    "    sys.stdout.write('ready tid=%d mode=builtin\\n' % native_tid())\n"
    "    sys.stdout.flush()\n"
    "    while True:\n"
    "        time.sleep(1000)\n" /* MARK: emb_sleep */
    "def embed_outer():\n"
    "    embed_inner()\n" /* MARK: emb_call_inner */
    "def embed_main():\n"
    "    embed_outer()\n" /* MARK: emb_call_outer */
    "embed_main()\n";     /* MARK: emb_call_main */

static const char run_script[] = "import sys, runpy\n"
                                 "sys.argv = list(sys._msttop_embed_argv)\n"
                                 "del sys._msttop_embed_argv\n"
                                 "runpy.run_path(sys.argv[0], run_name='__main__')\n";

/* Compile and run the snippet padded with newlines so that its line numbers
 * are those of this file. */
static int run_builtin(void)
{
	size_t pad = (size_t)snippet_first_line - 1;
	char *src = malloc(pad + sizeof(snippet));
	PyObject *code, *mainmod, *globals, *res;

	if (!src)
		return -1;
	memset(src, '\n', pad);
	memcpy(src + pad, snippet, sizeof(snippet));
	code = Py_CompileString(src, __FILE__, Py_file_input);
	free(src);
	if (!code) {
		PyErr_Print();
		return -1;
	}
	mainmod = PyImport_AddModule("__main__"); /* borrowed */
	if (!mainmod) {
		Py_DECREF(code);
		PyErr_Print();
		return -1;
	}
	globals = PyModule_GetDict(mainmod); /* borrowed */
	res = PyEval_EvalCode(code, globals, globals);
	Py_DECREF(code);
	if (!res) {
		PyErr_Print();
		return -1;
	}
	Py_DECREF(res);
	return 0;
}

static int run_file(int argc, char **argv)
{
	PyObject *list = PyList_New(0);
	int i;

	if (!list)
		return -1;
	for (i = 1; i < argc; i++) {
		PyObject *s = PyUnicode_DecodeFSDefault(argv[i]);

		if (!s || PyList_Append(list, s) != 0) {
			Py_XDECREF(s);
			Py_DECREF(list);
			PyErr_Print();
			return -1;
		}
		Py_DECREF(s);
	}
	if (PySys_SetObject("_msttop_embed_argv", list) != 0) {
		Py_DECREF(list);
		PyErr_Print();
		return -1;
	}
	Py_DECREF(list);
	return PyRun_SimpleString(run_script);
}

int main(int argc, char **argv)
{
	int rc;

	arm_safety_timeout();
	Py_Initialize();
	if (argc > 1)
		rc = run_file(argc, argv);
	else
		rc = run_builtin(); /* MARK: c_run_call */
	if (Py_FinalizeEx() < 0 && rc == 0)
		rc = 120;
	return rc == 0 ? 0 : 1;
}
