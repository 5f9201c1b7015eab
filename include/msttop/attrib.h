/* Which native frames are the interpreter's own code, for the view that
 * puts the user's code first: CPython's own functions (the interpreter's
 * module, or the python launcher), what they call in system libraries
 * (allocator, TLS, the futex under the GIL), and the system frames that
 * only lead into the interpreter (thread and process start). Their time is
 * the own time of the innermost frame left: the Python frame being run.
 * C extensions, what ctypes/cffi call, and what those call stay visible.
 * Decided from where the code is (module paths and the interpreter's
 * address range), never from function names. Pure: unit-tested. */
#ifndef MSTTOP_ATTRIB_H
#define MSTTOP_ATTRIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mst_attr_class {
	MST_AC_PYTHON = 0, /* a Python frame */
	MST_AC_INTERP,     /* the interpreter's module, or the python launcher */
	MST_AC_EXT,        /* a CPython extension module (.cpython-*.so, lib-dynload...) */
	MST_AC_SYSLIB,     /* a system library (/lib, /usr/lib, the vdso) */
	MST_AC_OTHER,      /* anything else: the program's own code, a library
	                    * of its own, an unknown address */
};

/* The class of a native frame by its module's path (NULL: unknown). The
 * caller says MST_AC_INTERP itself for addresses in the interpreter's
 * range; this only knows paths. */
enum mst_attr_class mst_attr_module_class(const char *module);

/* For a stack of n frames innermost first, classes in cls: own[i] true
 * when frame i is the interpreter's own code in the user view. */
void mst_attr_interp_own(const uint8_t *cls, size_t n, bool *own);

#endif
