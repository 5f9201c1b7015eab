/* Internals of the CPython decoder (src/py/): struct mst_py, the code
 * cache's entries, the small read helpers every part uses, and what the
 * parts call of each other. Not for use outside src/py/. */
#ifndef MSTTOP_PY_INT_H
#define MSTTOP_PY_INT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <uthash.h>

#include "msttop/prefetch.h"
#include "msttop/py.h"
#include "msttop/strset.h"
#include "collector-int.h"
#include "decode-int.h"

/* Longest line table kept per code object; a bigger one leaves lines at 0. */
#define LINETABLE_MAX (1u << 20)
/* Code objects cached before the cache is dropped and rebuilt. */
#define CODE_CACHE_MAX 16384
/* Interpreters walked (sub-interpreters are rare; the list is cycle-checked
 * by this bound). */
#define MAX_INTERPS 64
/* Dict entries read for one dict (sys.modules is the biggest we read). */
#define DICT_ENTRIES_MAX 65536
/* Longest str kept as a function or file name (UTF-8 bytes). */
#define NAME_MAX_BYTES 1024

/* A decoded code object. The strings are interned in the mst_py and outlive
 * the entry (a stale entry is replaced, its strings stay valid). The
 * pointers and firstlineno are re-read on every hit and compared: code
 * objects die and their address is reused, and a new code object almost
 * never has the same name, qualname, filename and line-table objects. */
struct code_entry {
	uint64_t addr;
	uint64_t name_p, file_p, lt_p;
	int32_t firstlineno;
	int32_t firsttraceable; /* 3.11+, else 0 */
	bool retry;             /* a string or the line table could not be read */
	const char *func, *file;
	uint8_t *lt;
	size_t lt_len;
	UT_hash_handle hh;
};

/* A type object seen by the repr (repr.c): its tp_name, and which built-in
 * type it is. Re-validated on each hit by the tp_name pointer (a heap type
 * dies and another may take its address). */
struct type_entry {
	uint64_t addr;
	uint64_t name_p;
	const char *name; /* interned */
	int kind;         /* enum in repr.c */
	uint64_t epoch;   /* validated in this epoch: trusted without a read */
	UT_hash_handle hh;
};

/* A code object's local names and kinds, decoded once (locals.c). The name
 * tuples and kinds bytes are immutable: the entry holds while the code
 * object still points to the same ones. */
struct locals_code {
	uint64_t code;
	uint64_t key[3];           /* 3.11+: localsplusnames, localspluskinds; 3.6-3.10:
	                            * varnames, cellvars, freevars */
	size_t total;              /* slots the code object declares */
	size_t n;                  /* slots kept (SLOTS_MAX at most) */
	size_t nlocals, ncellvars; /* 3.6-3.10 */
	const char **names;        /* interned */
	uint8_t *kinds;            /* enum mst_py_local_kind: VAR, CELL or FREE */
	bool retry;                /* a name could not be read: decode again */
	UT_hash_handle hh;
};
#define LOCALS_CODE_CACHE_MAX 4096
/* Types cached before the cache is dropped and rebuilt. */
#define TYPE_CACHE_MAX 4096

struct mst_py {
	pid_t pid;
	struct mst_reader r;
	struct mst_py_runtime_info info;
	struct mst_py_layout lay;
	struct mst_py_str_layout str;
	char version[32];
	char limits[256]; /* what this build keeps from view, "" if nothing */

	struct code_entry *codes;
	size_t ncodes;
	struct mst_strset *strs;      /* function and file names */
	struct mst_py_frame *scratch; /* MST_PY_MAX_FRAMES */

	/* Bytes read at once from a tstate, a frame, a code object: enough
	 * for every field used (computed at open). */
	size_t ts_len, frame_len, code_len;

	/* Key objects found once by string compare, then matched by address
	 * (interned strings keep their address). */
	uint64_t key_threading, key_active, key_name;

	/* Types by address, for --locals (repr.c). */
	struct type_entry *types;
	size_t ntypes;
	/* Bumped by every read of one frame's locals (and every lone repr):
	 * a type validated in the current epoch is not read again, as types
	 * do not change while a stopped thread's frame is read. */
	uint64_t types_epoch;
	struct locals_code *lcodes;
	size_t nlcodes;

	/* The thread-state walk's reads of the last tick, fetched in a few
	 * system calls at the next (read_threads; NULL until first used). */
	struct mst_prefetch *pf;
	/* The same for the threads' names, read at refreshes only; and the
	 * live reader under a pass of pf (NULL outside one). */
	struct mst_prefetch *pf_names;
	const struct mst_reader *pf_under;
	/* One engine for every thread's own read of its frames, each seeded
	 * with that thread's ranges (mst_py_read_frames_fetched). */
	struct mst_prefetch *pf_frames;
	/* The main interpreter and (3.12+) its GIL, read once they are set:
	 * both stay where they are for the life of the runtime, and every
	 * tick reads the GIL and the collector's flag. 0: not yet; looked up
	 * again at each refresh (read_threads). */
	uint64_t main_interp, main_gil;

	/* The collector's code in a stripped build, found once on demand. */
	bool collector_done;
	struct mst_py_range collector[MST_PY_COLLECTOR_MAX];
	size_t ncollector;
};

/* ---- small helpers -------------------------------------------------------- */

static inline int rd(const struct mst_py *py, uint64_t addr, void *buf, size_t len)
{
	if (!addr)
		return -EFAULT;
	return mst_read(&py->r, addr, buf, len);
}

/* Two reads, in one call when the reader can. Returns which succeeded:
 * bit 0 the first, bit 1 the second. */
static inline unsigned rd2(const struct mst_py *py, uint64_t a1, void *b1, size_t l1, uint64_t a2,
                           void *b2, size_t l2)
{
	if (a1 && a2 && py->r.read2 && py->r.read2(py->r.ctx, a1, b1, l1, a2, b2, l2) == 0)
		return 3;
	return (rd(py, a1, b1, l1) == 0 ? 1u : 0u) | (rd(py, a2, b2, l2) == 0 ? 2u : 0u);
}

static inline int rd_u64(const struct mst_py *py, uint64_t addr, uint64_t *v)
{
	return rd(py, addr, v, sizeof(*v));
}

static inline int rd_i32(const struct mst_py *py, uint64_t addr, int32_t *v)
{
	return rd(py, addr, v, sizeof(*v));
}

static inline uint64_t get_u64(const uint8_t *buf, int64_t off)
{
	uint64_t v;
	memcpy(&v, buf + off, sizeof(v));
	return v;
}

static inline int32_t get_i32(const uint8_t *buf, int64_t off)
{
	int32_t v;
	memcpy(&v, buf + off, sizeof(v));
	return v;
}

static inline void fit(size_t *len, int64_t off, size_t width)
{
	if (off >= 0 && (size_t)off + width > *len)
		*len = (size_t)off + width;
}

/* The interned copy of s (py.c), NULL when out of memory. */
const char *mst_py_intern(struct mst_py *py, const char *s);

/* ---- code objects (code.c) ---------------------------------------------- */

/* Bytes of a code object's header read at once, at most. */
#define CODE_HDR_MAX 512

/* The code object at addr, from the cache when its header (given as have:
 * py->code_len bytes read with the frame, or NULL to read it now) still
 * matches. -MST_ECORRUPT when it is not a code object. */
int mst_py_code_get(struct mst_py *py, uint64_t addr, const uint8_t *have,
                    const struct code_entry **out, struct mst_err *err);
/* One shown frame of code object c at instruction units. */
struct mst_py_frame mst_py_make_frame(const struct mst_py *py, const struct code_entry *c,
                                      uint64_t code, uint64_t addr, int64_t units, bool entry);

/* ---- frames (frame.c) --------------------------------------------------- */

/* Where a thread state leads to its innermost frame: the word at ts_off
 * in it; with deref >= 0 (3.11-3.12), that word points to a _PyCFrame
 * whose word at deref is the frame. The decoder's walk and what the perf
 * back end copies (mst_py_capture_spec) both follow it. */
void mst_py_first_frame_path(const struct mst_py *py, int64_t *ts_off, int64_t *deref);
/* The frame chain of a tstate read into ts (py->ts_len bytes). */
int mst_py_frames_from_tstate(struct mst_py *py, const uint8_t *ts, struct mst_py_frame *frames,
                              size_t max, size_t *n, bool *truncated, struct mst_err *err);

/* ---- GIL and GC (gil_gc.c) ---------------------------------------------- */

struct gil_state {
	bool known;
	int32_t locked; /* 1 held, 0 free, -1 not created yet */
	uint64_t holder;
};

/* The GIL shared by the whole runtime (3.6-3.11). */
/* The main interpreter (py->main_interp): 0 with *interp 0 before the
 * runtime has one. */
int mst_py_main_interp(struct mst_py *py, uint64_t *interp);
void mst_py_read_runtime_gil(const struct mst_py *py, struct gil_state *g);
/* 3.12+: the GIL an interpreter points to; *gil_addr its address, 0 if
 * unknown. */
void mst_py_read_interp_gil(const struct mst_py *py, uint64_t interp, struct gil_state *g,
                            uint64_t *gil_addr);
/* The collector's flag into out->gc_known / gc_collecting. */
void mst_py_read_gc(const struct mst_py *py, uint64_t interp, struct mst_py_threads *out);

/* ---- objects: dicts, ints, thread names (object.c) ---------------------- */

/* The first live (key, value) pairs of a dict, at most max, into keys and
 * values (either may be NULL); *n gets how many. Reads only the entries it
 * needs (in chunks), so a huge dict costs no more than a small one. */
int mst_py_dict_first(const struct mst_py *py, uint64_t dict, size_t max, uint64_t *keys,
                      uint64_t *values, size_t *n);

/* Forget the type cache (repr.c; mst_py_close). */
void mst_py_types_drop(struct mst_py *py);
/* Forget the locals' code cache (locals.c; mst_py_close). */
void mst_py_lcodes_drop(struct mst_py *py);
struct mst_py_repr_info;
/* mst_py_repr within the current type epoch (locals.c: one frame). */
void mst_py_repr_epoch(struct mst_py *py, uint64_t obj, char *buf, size_t len,
                       struct mst_py_repr_info *info);
/* Whether obj is a cell (repr.c): 1 with its content in *value (0 when
 * empty), 0 when it is not one, -1 when its content cannot be read. */
int mst_py_cell_get(struct mst_py *py, uint64_t obj, uint64_t *value);

/* threading.Thread names of the n threads of interp, from threading's
 * _active dict, into threads[i].name. */
void mst_py_fill_names(struct mst_py *py, uint64_t interp, struct mst_py_thread *threads, size_t n);

#endif
