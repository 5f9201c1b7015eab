/* The interpreter's own frames (attrib.h). */
#include "msttop/attrib.h"

#include <string.h>

static bool has_prefix(const char *s, const char *p)
{
	return !strncmp(s, p, strlen(p));
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), k = strlen(tail);
	return n >= k && !strcmp(s + n - k, tail);
}

enum mst_attr_class mst_attr_module_class(const char *module)
{
	if (!module || !*module)
		return MST_AC_OTHER;
	if (!strcmp(module, "[vdso]"))
		return MST_AC_SYSLIB;
	const char *base = strrchr(module, '/');
	base = base ? base + 1 : module;
	/* Extensions first: Debian keeps them under /usr/lib too. Their
	 * names carry the ABI tag CPython builds them with; stdlib ones live
	 * in lib-dynload, third-party ones in site-/dist-packages. */
	if (strstr(base, ".cpython-") || ends_with(base, ".abi3.so") ||
	    strstr(module, "/lib-dynload/") || strstr(module, "/site-packages/") ||
	    strstr(module, "/dist-packages/"))
		return MST_AC_EXT;
	/* libpython outside the range the caller knows (a second copy), and
	 * the launcher: "python3.12" calls Py_BytesMain and nothing else. */
	if (has_prefix(base, "libpython") ||
	    (has_prefix(base, "python") && strspn(base + 6, "0123456789.") == strlen(base + 6)))
		return MST_AC_INTERP;
	if (has_prefix(module, "/lib/") || has_prefix(module, "/lib64/") ||
	    has_prefix(module, "/usr/lib/") || has_prefix(module, "/usr/lib64/"))
		return MST_AC_SYSLIB;
	return MST_AC_OTHER;
}

void mst_attr_interp_own(const uint8_t *cls, size_t n, bool *own)
{
	/* From the root inwards: what the interpreter calls is its own until
	 * a Python frame or an extension takes over; what an extension calls
	 * stays visible. */
	enum { NONE, INTERP, EXT } owner = NONE;
	for (size_t k = n; k-- > 0;) {
		switch (cls[k]) {
		case MST_AC_PYTHON:
			own[k] = false;
			owner = INTERP; /* its callees are the eval loop first */
			break;
		case MST_AC_INTERP:
			own[k] = true;
			owner = INTERP;
			break;
		case MST_AC_EXT:
			own[k] = false;
			owner = EXT;
			break;
		default:
			own[k] = owner == INTERP;
		}
	}
	/* System frames at the root that only lead into the interpreter
	 * (clone, start_thread, __libc_start_main) start it: its own too. A
	 * thread of native code alone keeps them. */
	size_t j = n;
	while (j > 0 && cls[j - 1] == MST_AC_SYSLIB)
		j--;
	if (j > 0 && (cls[j - 1] == MST_AC_INTERP || cls[j - 1] == MST_AC_PYTHON))
		for (size_t k = j; k < n; k++)
			own[k] = true;
}
