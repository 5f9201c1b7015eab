/* A Python frame's arguments and local variables (cells and free variables
 * included), each with a safe, bounded repr read from the target's memory:
 * msttop --dump --locals. Only memory is read, through the decoder's
 * struct mst_reader: nothing runs in the target, so a value is shown the way
 * CPython's repr would show it only for the built-in types below; any other
 * object is "<TypeName at 0x...>".
 *
 * 3.11+ keep a frame's locals in the thread's data stack, which the thread
 * reuses as soon as it runs: read them while the thread is stopped (the
 * snapshot does, with MST_SNAP_LOCALS). */
#ifndef MSTTOP_PY_LOCALS_H
#define MSTTOP_PY_LOCALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msttop/err.h"
#include "msttop/py.h"

/* The bounds of one value's repr (README and msttop(1) document them). */
#define MST_PY_REPR_MAX 1024     /* bytes of UTF-8, the final "…" included */
#define MST_PY_REPR_STR_MAX 200  /* characters of a str (bytes of a bytes) */
#define MST_PY_REPR_ITEMS_MAX 10 /* items of a tuple, list or dict */
#define MST_PY_REPR_DEPTH_MAX 3  /* containers nested in a container */
#define MST_PY_REPR_INT_DIGITS                                                                     \
	1024                       /* 30-bit digits of an int written out                          \
	                            * (about 9,000 decimal digits) */
#define MST_PY_REPR_READS_MAX 1024 /* memory reads for one value */
/* Locals kept per frame; the rest are counted (omitted). */
#define MST_PY_LOCALS_MAX 256

enum mst_py_local_kind {
	MST_PY_LOCAL_ARG,  /* an argument (*args and **kwargs included) */
	MST_PY_LOCAL_VAR,  /* a local variable */
	MST_PY_LOCAL_CELL, /* a local variable a closure shares (a cell) */
	MST_PY_LOCAL_FREE, /* a closure's variable of an enclosing function */
};

/* "arg", "local", "cell", "free" */
const char *mst_py_local_kind_name(enum mst_py_local_kind k);

/* What a repr says about its object besides the text. */
struct mst_py_repr_info {
	const char *type; /* tp_name (interned in the mst_py, valid until
	                   * mst_py_close), NULL when unreadable */
	int64_t length;   /* len() of a str, bytes, tuple, list or dict, else -1 */
	bool truncated;   /* the repr stops at a bound (it ends with "…") */
	bool unreadable;  /* the object could not be read: "<unreadable 0x...>" */
};

struct mst_py_local {
	const char *name; /* UTF-8 */
	const char *repr; /* UTF-8, at most MST_PY_REPR_MAX bytes; Python's
	                   * escapes for control and other unprintable
	                   * characters of a str or bytes */
	const char *type; /* NULL when the object could not be read */
	uint64_t addr;    /* the object */
	int64_t length;   /* see mst_py_repr_info */
	enum mst_py_local_kind kind;
	bool cell;      /* an argument kept in a cell (a closure shares it) */
	bool truncated; /* repr stops at a bound */
};

/* One frame's locals: arguments first, in their order, then the other
 * locals, cells and free variables in the code object's order; unbound
 * ones (NULL, or an empty cell) are left out. Strings live in text (owned
 * by the struct) until mst_py_locals_fini. */
struct mst_py_locals {
	struct mst_py_local *v;
	size_t n;
	size_t omitted; /* bound locals past MST_PY_LOCALS_MAX */
	int error;      /* 0, or why they could not be read (msg then says) */
	char msg[160];
	char *text;
	size_t text_len;
};

/* Read frame f's locals (f from mst_py_read_frames or mst_py_read_threads,
 * read in the same stop) into out (zeroed or finished before). Bounded:
 * MST_PY_LOCALS_MAX locals, each repr as above. A value that cannot be
 * read is "<unreadable 0x...>"; the call fails only when the frame's code
 * object or slots cannot be read (out->error and the return value say why,
 * out then holds nothing) or on -ENOMEM. */
int mst_py_read_locals(struct mst_py *py, const struct mst_py_frame *f, struct mst_py_locals *out,
                       struct mst_err *err);
void mst_py_locals_fini(struct mst_py_locals *l);

/* The bounded repr of the object at obj into buf (len bytes, at least
 * MST_PY_REPR_MAX + 1 for the whole repr). Never fails: an unreadable
 * object gives "<unreadable 0x...>". info may be NULL. */
void mst_py_repr(struct mst_py *py, uint64_t obj, char *buf, size_t len,
                 struct mst_py_repr_info *info);

#endif
