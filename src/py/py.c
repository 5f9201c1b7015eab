/* Walking a CPython runtime in a target: interpreters, thread states, each
 * thread's frame chain decoded into (function, file, line), the GIL holder,
 * the collector's flag and threading.Thread names. Reads only through a
 * struct mst_reader; every walk is bounded and a failed read costs one
 * thread its frames, never the whole read. Layout facts come from
 * struct mst_py_layout; the few it lacks are cited inline with their CPython
 * version (docs/cpython-internals.md is the reference). */
#include "msttop/py.h"
#include "msttop/symbols.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "msttop/py_collector.h"
#include "msttop/py_decode.h"

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

struct istr {
	UT_hash_handle hh;
	char s[];
};

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
	struct istr *strs;
	struct mst_py_frame *scratch; /* MST_PY_MAX_FRAMES */

	/* Bytes read at once from a tstate, a frame, a code object: enough
	 * for every field used (computed at open). */
	size_t ts_len, frame_len, code_len;

	/* Key objects found once by string compare, then matched by address
	 * (interned strings keep their address). */
	uint64_t key_threading, key_active, key_name;

	/* The collector's code in a stripped build, found once on demand. */
	bool collector_done;
	struct mst_py_range collector[MST_PY_COLLECTOR_MAX];
	size_t ncollector;
};

/* ---- small helpers -------------------------------------------------------- */

static int rd(const struct mst_py *py, uint64_t addr, void *buf, size_t len)
{
	if (!addr)
		return -EFAULT;
	return mst_read(&py->r, addr, buf, len);
}

/* Two reads, in one call when the reader can. Returns which succeeded:
 * bit 0 the first, bit 1 the second. */
static unsigned rd2(const struct mst_py *py, uint64_t a1, void *b1, size_t l1, uint64_t a2,
		    void *b2, size_t l2)
{
	if (a1 && a2 && py->r.read2 && py->r.read2(py->r.ctx, a1, b1, l1, a2, b2, l2) == 0)
		return 3;
	return (rd(py, a1, b1, l1) == 0 ? 1u : 0u) | (rd(py, a2, b2, l2) == 0 ? 2u : 0u);
}

static int rd_u64(const struct mst_py *py, uint64_t addr, uint64_t *v)
{
	return rd(py, addr, v, sizeof(*v));
}

static int rd_i32(const struct mst_py *py, uint64_t addr, int32_t *v)
{
	return rd(py, addr, v, sizeof(*v));
}

static uint64_t get_u64(const uint8_t *buf, int64_t off)
{
	uint64_t v;
	memcpy(&v, buf + off, sizeof(v));
	return v;
}

static int32_t get_i32(const uint8_t *buf, int64_t off)
{
	int32_t v;
	memcpy(&v, buf + off, sizeof(v));
	return v;
}

static void fit(size_t *len, int64_t off, size_t width)
{
	if (off >= 0 && (size_t)off + width > *len)
		*len = (size_t)off + width;
}

static const char *intern(struct mst_py *py, const char *s)
{
	struct istr *e;
	size_t n = strlen(s);
	HASH_FIND(hh, py->strs, s, n, e);
	if (e)
		return e->s;
	e = malloc(sizeof(*e) + n + 1);
	if (!e)
		return NULL;
	memcpy(e->s, s, n + 1);
	HASH_ADD(hh, py->strs, s[0], n, e);
	return e->s;
}

/* ---- open / close ------------------------------------------------------- */


static void compute_read_lengths(struct mst_py *py)
{
	const struct mst_py_layout *l = &py->lay;
	size_t ts = 0, fr = 0, co = 0;

	fit(&ts, l->ts_prev, 8);
	fit(&ts, l->ts_next, 8);
	fit(&ts, l->ts_interp, 8);
	fit(&ts, l->ts_frame, 8);
	fit(&ts, l->ts_cframe, 8);
	fit(&ts, l->ts_current_frame, 8);
	fit(&ts, l->ts_thread_id, 8);
	fit(&ts, l->ts_native_thread_id, 8);
	fit(&ts, l->ts_status, 4);
	py->ts_len = ts;

	if (l->ts_frame >= 0) {
		fit(&fr, l->ob_type, 8);
		fit(&fr, l->fo_back, 8);
		fit(&fr, l->fo_code, 8);
		fit(&fr, l->fo_lasti, 4);
	} else {
		fit(&fr, l->if_code, 8);
		fit(&fr, l->if_previous, 8);
		fit(&fr, l->if_instr, 8);
		fit(&fr, l->if_is_entry, 1);
		fit(&fr, l->if_owner, 1);
	}
	py->frame_len = fr;

	fit(&co, l->ob_type, 8);
	fit(&co, l->co_firstlineno, 4);
	fit(&co, l->co_filename, 8);
	fit(&co, l->co_name, 8);
	fit(&co, l->co_qualname, 8);
	fit(&co, l->co_lnotab, 8);
	fit(&co, l->co_linetable, 8);
	fit(&co, l->co_firsttraceable, 4);
	py->code_len = co;
}

static int setup(struct mst_py *py, struct mst_err *err);

int mst_py_open(pid_t pid, const struct mst_maps *maps, const struct mst_reader *r,
                struct mst_py **out, struct mst_err *err)
{
	struct mst_py *py;
	int rc;

	*out = NULL;
	py = calloc(1, sizeof(*py));
	if (!py)
		return mst_err_set(err, -ENOMEM, "out of memory");
	py->pid = pid;
	py->r = *r;
	rc = mst_py_runtime_find(pid, maps, r, &py->info, err);
	if (rc < 0)
		goto fail;
	rc = setup(py, err);
	if (rc < 0)
		goto fail;
	*out = py;
	return 0;
fail:
	free(py);
	return rc;
}

int mst_py_open_info(const struct mst_py_runtime_info *info, const struct mst_reader *r,
		     struct mst_py **out, struct mst_err *err)
{
	*out = NULL;
	struct mst_py *py = calloc(1, sizeof(*py));
	if (!py)
		return mst_err_set(err, -ENOMEM, "out of memory");
	py->r = *r;
	py->info = *info;
	int rc = setup(py, err);
	if (rc < 0) {
		free(py);
		return rc;
	}
	*out = py;
	return 0;
}

/* Everything that follows from the runtime's version: the layout, string
 * layout, read sizes, buffers. */
static int setup(struct mst_py *py, struct mst_err *err)
{
	int rc;
	if (py->info.major == 3 && py->info.minor >= 13) {
		uint8_t buf[MST_PY_DEBUG_OFFSETS_MAX];
		rc = rd(py, py->info.runtime, buf, sizeof(buf));
		if (rc < 0) {
			mst_err_set(err, rc, "cannot read _Py_DebugOffsets at 0x%" PRIx64,
			            py->info.runtime);
			return rc;
		}
		int newer = 0;
		rc = mst_py_layout_from_debug_offsets(buf, sizeof(buf), &py->lay, &newer, err);
		if (rc < 0)
			return rc;
		if (newer)
			snprintf(py->limits, sizeof(py->limits),
				 "CPython %d.%d is newer than msttop was tested with (3.6-3.%d): "
				 "read with the 3.%d layout of its debug offsets",
				 py->info.major, py->info.minor, newer, newer);
	} else {
		const struct mst_py_layout *l;
		rc = mst_py_layout_for_version(py->info.major, py->info.minor, py->info.micro, &l,
		                               err);
		if (rc < 0)
			return rc;
		py->lay = *l;
	}
	py->str.length_off = (uint32_t)py->lay.u_length;
	py->str.state_off = (uint32_t)py->lay.u_state;
	py->str.ascii_data_off = (uint32_t)py->lay.u_ascii_data;
	py->str.compact_data_off = (uint32_t)py->lay.u_compact_data;
	py->str.has_ready = py->lay.u_ready_mask >= 0;
	compute_read_lengths(py);
	/* 3.6 keeps the interpreter list and the collector's flag in static
	 * variables: a libpython stripped of .symtab hides them. */
	if (py->lay.static_globals && !py->limits[0]) {
		const char *threads = !py->info.has_interp_head
			? "Python threads are found only through the one holding the GIL (none "
			  "while all wait)"
			: "";
		const char *gc = !py->info.has_gc_collecting ? "the GC state is unknown" : "";
		if (*threads || *gc)
			snprintf(py->limits, sizeof(py->limits),
				 "libpython has no symbol table (stripped): %s%s%s", threads,
				 *threads && *gc ? "; " : "", gc);
	}
	/* No symbol at all (a static CPython stripped of .dynsym too): the
	 * eval loop cannot be told apart from other native code. */
	if (!py->limits[0] && py->info.n_eval == 0)
		snprintf(py->limits, sizeof(py->limits),
			 "%s has no symbols (stripped): the interpreter's native frames are "
			 "not named, and Python frames are not placed between them",
			 py->info.module_path[0] ? py->info.module_path : "the interpreter");
	snprintf(py->version, sizeof(py->version), "%d.%d.%d", py->info.major, py->info.minor,
	         py->info.micro);
	py->scratch = calloc(MST_PY_MAX_FRAMES, sizeof(*py->scratch));
	if (!py->scratch)
		return mst_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

void mst_py_name_fragments(const struct mst_py *py, struct mst_symbols *sym)
{
	if (!py || !sym)
		return;
	for (int i = 1; i < py->info.n_eval && i < MST_PY_EVAL_RANGES_MAX; i++)
		mst_symbols_name_range(sym, py->info.eval[i].start, py->info.eval[i].end,
				       MST_PY_EVAL_COLD_NAME);
}

void mst_py_close(struct mst_py *py)
{
	struct code_entry *c, *ctmp;
	struct istr *s, *stmp;
	if (!py)
		return;
	HASH_ITER(hh, py->codes, c, ctmp)
	{
		HASH_DEL(py->codes, c);
		free(c->lt);
		free(c);
	}
	HASH_ITER(hh, py->strs, s, stmp)
	{
		HASH_DEL(py->strs, s);
		free(s);
	}
	free(py->scratch);
	free(py);
}

const struct mst_py_runtime_info *mst_py_info(const struct mst_py *py)
{
	return &py->info;
}

const struct mst_py_layout *mst_py_layout(const struct mst_py *py)
{
	return &py->lay;
}

const struct mst_reader *mst_py_reader(const struct mst_py *py)
{
	return &py->r;
}

const char *mst_py_limits(const struct mst_py *py)
{
	return py->limits;
}

const char *mst_py_version(const struct mst_py *py)
{
	return py->version;
}

/* ---- code objects ------------------------------------------------------- */

static void code_cache_drop(struct mst_py *py)
{
	struct code_entry *c, *tmp;
	HASH_ITER(hh, py->codes, c, tmp)
	{
		HASH_DEL(py->codes, c);
		free(c->lt);
		free(c);
	}
	py->ncodes = 0;
}

/* Read a str into an interned UTF-8 string; "<?>" when it cannot be read
 * (*ok false: the entry is then rebuilt on its next use). */
static const char *read_name(struct mst_py *py, uint64_t addr, bool *ok)
{
	char buf[NAME_MAX_BYTES];
	struct mst_err e = {0};
	if (mst_py_str_read(&py->r, &py->str, addr, py->info.unicode_type, buf, sizeof(buf), NULL,
	                    NULL, &e) < 0) {
		*ok = false;
		return "<?>";
	}
	const char *s = intern(py, buf);
	if (!s) {
		*ok = false;
		return "<?>";
	}
	return s;
}

/* The cache entry for the code object at addr, (re)built when missing or
 * stale. -MST_ECORRUPT when it is not a code object. */
/* The code object at addr, from the cache when its header (read now, or
 * given as have: py->code_len bytes read with the frame) still matches. */
#define CODE_HDR_MAX 512

static int code_get(struct mst_py *py, uint64_t addr, const uint8_t *have,
                    const struct code_entry **out, struct mst_err *err)
{
	const struct mst_py_layout *l = &py->lay;
	uint8_t buf[CODE_HDR_MAX];
	const uint8_t *hdr = have;
	struct code_entry *c;
	uint64_t name_p, file_p, lt_p;
	int32_t first, firsttr = 0;
	bool ok = true;
	int rc;

	if (py->code_len > sizeof(buf))
		return mst_err_set(err, -MST_ECORRUPT, "code header too large");
	if (!hdr) {
		rc = rd(py, addr, buf, py->code_len);
		if (rc < 0)
			return mst_err_set(err, rc, "cannot read code object at 0x%" PRIx64, addr);
		hdr = buf;
	}
	if (py->info.code_type && get_u64(hdr, l->ob_type) != py->info.code_type)
		return mst_err_set(err, -MST_ECORRUPT,
		                   "object at 0x%" PRIx64 " is not a code object", addr);
	name_p = get_u64(hdr, l->co_qualname >= 0 ? l->co_qualname : l->co_name);
	file_p = get_u64(hdr, l->co_filename);
	lt_p = get_u64(hdr, l->co_linetable >= 0 ? l->co_linetable : l->co_lnotab);
	first = get_i32(hdr, l->co_firstlineno);
	if (l->co_firsttraceable >= 0)
		firsttr = get_i32(hdr, l->co_firsttraceable);

	HASH_FIND(hh, py->codes, &addr, sizeof(addr), c);
	if (c && !c->retry && c->name_p == name_p && c->file_p == file_p && c->lt_p == lt_p &&
	    c->firstlineno == first && c->firsttraceable == firsttr) {
		*out = c;
		return 0;
	}
	if (c) {
		HASH_DEL(py->codes, c);
		free(c->lt);
		free(c);
		py->ncodes--;
	}
	if (py->ncodes >= CODE_CACHE_MAX)
		code_cache_drop(py);

	c = calloc(1, sizeof(*c));
	if (!c)
		return mst_err_set(err, -ENOMEM, "out of memory");
	c->addr = addr;
	c->name_p = name_p;
	c->file_p = file_p;
	c->lt_p = lt_p;
	c->firstlineno = first;
	c->firsttraceable = firsttr;
	c->func = read_name(py, name_p, &ok);
	c->file = read_name(py, file_p, &ok);
	{
		uint8_t small[4096];
		size_t size = 0;
		struct mst_err e = {0};
		rc = mst_py_bytes_read(&py->r, lt_p, py->info.bytes_type, small, sizeof(small),
		                       &size, &e);
		if (rc == 0) {
			c->lt = malloc(size ? size : 1);
			if (c->lt) {
				memcpy(c->lt, small, size);
				c->lt_len = size;
			}
		} else if (rc == -ENOBUFS && size <= LINETABLE_MAX) {
			c->lt = malloc(size);
			if (c->lt && mst_py_bytes_read(&py->r, lt_p, py->info.bytes_type, c->lt,
			                               size, &size, &e) == 0) {
				c->lt_len = size;
			} else {
				free(c->lt);
				c->lt = NULL;
				ok = false;
			}
		} else if (rc != -ENOBUFS) {
			ok = false;
		}
		/* A table over LINETABLE_MAX: lines stay unknown (0). */
	}
	/* A part that could not be read is retried on the next sight. */
	c->retry = !ok;
	HASH_ADD(hh, py->codes, addr, sizeof(c->addr), c);
	py->ncodes++;
	*out = c;
	return 0;
}

static int line_of(const struct mst_py *py, const struct code_entry *c, int64_t units)
{
	int line;
	if (units > INT32_MAX)
		return 0;
	if (units < -1)
		units = -1;
	if (!c->lt)
		return units < 0 ? c->firstlineno : 0;
	line = mst_py_line_at((int)py->lay.minor, c->lt, c->lt_len, c->firstlineno, (int)units);
	return line == MST_PY_NO_LINE ? 0 : line;
}

/* A decoded frame: its code object's names and the line at units. */
static struct mst_py_frame make_frame(const struct mst_py *py, const struct code_entry *c,
				      uint64_t code, uint64_t addr, int64_t units, bool entry)
{
	return (struct mst_py_frame){
		.code = code,
		.frame = addr,
		.func = c->func,
		.file = c->file,
		.line = line_of(py, c, units),
		.firstlineno = c->firstlineno,
		.entry = entry,
	};
}

/* ---- frames ------------------------------------------------------------- */

/* 3.6-3.10: PyFrameObject chain through f_back. Every frame has its own
 * _PyEval_EvalFrameDefault activation (doc §6.2), so every frame is an
 * entry. f_lasti is in bytes through 3.9 and in code units in 3.10. */
static int walk_frame_objects(struct mst_py *py, uint64_t addr, struct mst_py_frame *out,
                              size_t max, size_t *n, bool *truncated, struct mst_err *err)
{
	const struct mst_py_layout *l = &py->lay;
	uint8_t buf[256], next[256], hdr[CODE_HDR_MAX];
	bool have = false; /* buf already holds the frame at addr */
	size_t steps = 0;
	int rc;

	if (py->frame_len > sizeof(buf) || py->code_len > sizeof(hdr))
		return mst_err_set(err, -MST_ECORRUPT, "frame layout too large");
	while (addr) {
		const struct code_entry *c;
		uint64_t code, back;
		int32_t lasti;
		int64_t units;

		if (steps++ >= MST_PY_MAX_FRAMES || *n >= max) {
			*truncated = true;
			return 0;
		}
		rc = have ? 0 : rd(py, addr, buf, py->frame_len);
		have = false;
		if (rc < 0) {
			*truncated = true;
			return mst_err_set(err, rc, "cannot read frame at 0x%" PRIx64, addr);
		}
		if (py->info.frame_type && get_u64(buf, l->ob_type) != py->info.frame_type) {
			*truncated = true;
			return mst_err_set(err, -MST_ECORRUPT,
			                   "object at 0x%" PRIx64 " is not a frame", addr);
		}
		code = get_u64(buf, l->fo_code);
		lasti = get_i32(buf, l->fo_lasti);
		back = get_u64(buf, l->fo_back);
		/* The code header and the caller's frame, in one read. */
		unsigned got = rd2(py, code, hdr, py->code_len, back, next, py->frame_len);
		rc = code_get(py, code, got & 1 ? hdr : NULL, &c, err);
		if (rc < 0) {
			*truncated = true;
			return rc;
		}
		if (lasti < 0)
			units = -1; /* not started: co_firstlineno */
		else if (l->instr_encoding == MST_PY_INSTR_LASTI_BYTES)
			units = lasti / 2;
		else
			units = lasti;
		out[*n] = make_frame(py, c, code, addr, units, true);
		(*n)++;
		addr = back;
		if (got & 2) {
			memcpy(buf, next, py->frame_len);
			have = true;
		}
	}
	return 0;
}

/* 3.11+: _PyInterpreterFrame chain through previous. Entries (doc §6.3,
 * §6.4): 3.11 marks them with is_entry; 3.12+ put a shim frame (owner
 * CSTACK in 3.12-3.13, INTERPRETER in 3.14+: the layout's owner_cstack)
 * below each activation's first frame, so the entry is the last
 * frame before a shim, or the last of the chain. Shims and incomplete
 * frames (still in their prologue, doc §3.1) are not shown; when a hidden
 * frame closes an activation, the flag moves to the activation's
 * outermost shown frame. */
static int walk_interp_frames(struct mst_py *py, uint64_t addr, struct mst_py_frame *out,
                              size_t max, size_t *n, bool *truncated, struct mst_err *err)
{
	const struct mst_py_layout *l = &py->lay;
	uint8_t buf[256], next[256], hdr[CODE_HDR_MAX];
	bool have = false; /* buf already holds the frame at addr */
	size_t steps = 0;
	size_t group = *n; /* first frame shown since the last boundary */
	int rc;

	if (py->frame_len > sizeof(buf) || py->code_len > sizeof(hdr))
		return mst_err_set(err, -MST_ECORRUPT, "frame layout too large");
	while (addr) {
		const struct code_entry *c;
		uint64_t code, instr, prev;
		int64_t units;
		uint8_t owner;
		bool is_entry = false;

		if (steps++ >= MST_PY_MAX_FRAMES) {
			*truncated = true;
			return 0;
		}
		rc = have ? 0 : rd(py, addr, buf, py->frame_len);
		have = false;
		if (rc < 0) {
			*truncated = true;
			return mst_err_set(err, rc, "cannot read frame at 0x%" PRIx64, addr);
		}
		owner = buf[l->if_owner];
		if (l->owner_cstack >= 0 && owner >= l->owner_cstack) {
			/* A shim (3.12+; 3.14 renumbers, hence >=): the
			 * activation below ends here. */
			if (*n > group)
				out[*n - 1].entry = true;
			group = *n;
			addr = get_u64(buf, l->if_previous);
			continue;
		}
		if (l->if_is_entry >= 0)
			is_entry = buf[l->if_is_entry] != 0;
		/* 3.14+: f_executable is a _PyStackRef, tagged in its low bits. */
		code = get_u64(buf, l->if_code) & ~(uint64_t)l->stackref_tag_bits;
		/* 3.13+: f_executable is not always a code object. */
		if (l->instr_encoding == MST_PY_INSTR_INSTR_PTR && py->info.none &&
		    code == py->info.none) {
			addr = get_u64(buf, l->if_previous);
			continue;
		}
		/* The code header and the previous frame, in one read. */
		prev = get_u64(buf, l->if_previous);
		unsigned got = rd2(py, code, hdr, py->code_len, prev, next, py->frame_len);
		rc = code_get(py, code, got & 1 ? hdr : NULL, &c, err);
		if (rc < 0) {
			*truncated = true;
			return rc;
		}
		/* Subtract in bytes, then halve (doc §9.2). prev_instr starts at
		 * first - 1 unit in 3.11/3.12: -1 means not started. */
		instr = get_u64(buf, l->if_instr);
		units = ((int64_t)(instr - (code + (uint64_t)l->co_code_adaptive))) / 2;
		if (owner != l->owner_generator && units < c->firsttraceable) {
			if (is_entry) {
				if (*n > group)
					out[*n - 1].entry = true;
				group = *n;
			}
		} else {
			if (*n >= max) {
				*truncated = true;
				return 0;
			}
			out[*n] = make_frame(py, c, code, addr, units, is_entry);
			(*n)++;
			if (is_entry)
				group = *n;
		}
		addr = prev;
		if (got & 2) {
			memcpy(buf, next, py->frame_len);
			have = true;
		}
	}
	/* The chain's last frame was entered by the outermost activation. */
	if (*n > group)
		out[*n - 1].entry = true;
	return 0;
}

/* The innermost frame pointer in a tstate read into buf. */
static int first_frame(const struct mst_py *py, const uint8_t *ts, uint64_t *frame,
                       struct mst_err *err)
{
	const struct mst_py_layout *l = &py->lay;
	int rc;

	if (l->ts_frame >= 0) { /* 3.6-3.10 */
		*frame = get_u64(ts, l->ts_frame);
		return 0;
	}
	if (l->ts_current_frame >= 0) { /* 3.13 */
		*frame = get_u64(ts, l->ts_current_frame);
		return 0;
	}
	/* 3.11-3.12: tstate->cframe->current_frame. */
	uint64_t cframe = get_u64(ts, l->ts_cframe);
	*frame = 0;
	if (!cframe)
		return 0;
	rc = rd_u64(py, cframe + (uint64_t)l->cframe_current_frame, frame);
	if (rc < 0)
		return mst_err_set(err, rc, "cannot read _PyCFrame at 0x%" PRIx64, cframe);
	return 0;
}

static int frames_from_tstate(struct mst_py *py, const uint8_t *ts, struct mst_py_frame *frames,
                              size_t max, size_t *n, bool *truncated, struct mst_err *err)
{
	uint64_t frame;
	int rc;

	*n = 0;
	*truncated = false;
	rc = first_frame(py, ts, &frame, err);
	if (rc < 0)
		return rc;
	if (py->lay.ts_frame >= 0)
		return walk_frame_objects(py, frame, frames, max, n, truncated, err);
	return walk_interp_frames(py, frame, frames, max, n, truncated, err);
}

int mst_py_read_frames(struct mst_py *py, uint64_t tstate, struct mst_py_frame *frames, size_t max,
                       size_t *n, bool *truncated, struct mst_err *err)
{
	uint8_t ts[512];
	int rc;

	*n = 0;
	*truncated = false;
	if (py->ts_len > sizeof(ts))
		return mst_err_set(err, -MST_ECORRUPT, "tstate layout too large");
	rc = rd(py, tstate, ts, py->ts_len);
	if (rc < 0)
		return mst_err_set(err, rc, "cannot read thread state at 0x%" PRIx64, tstate);
	return frames_from_tstate(py, ts, frames, max, n, truncated, err);
}

/* ---- GIL and GC --------------------------------------------------------- */

/* "collect.constprop.0" and "take_gil.cold" are the function they split
 * from: compare the part before the first '.'. */
static bool name_is(const char *func, const char *const *names)
{
	if (!func)
		return false;
	size_t len = strcspn(func, ".");
	for (; *names; names++)
		if (strlen(*names) == len && !strncmp(func, *names, len))
			return true;
	return false;
}

/* The interpreter's own functions that mark a state, by version:
 * take_gil (3.6-3.13, static), drop_gil, and the collector's entry points
 * (3.6-3.7 collect/collect_with_callback, 3.8-3.12 gc_collect_main etc.,
 * 3.13 gc_collect_main/gc_collect_region). Static functions: found only in
 * builds that keep .symtab. */
static const char *const gil_wait_names[] = {
	"take_gil",
	/* Exported, so named even in stripped builds: they only block while
	 * taking the GIL back (take_gil is inlined or unnamed there). */
	"PyEval_RestoreThread", "PyEval_AcquireThread", "PyEval_AcquireLock", NULL};
static const char *const gil_drop_names[] = {"drop_gil", NULL};
static const char *const gc_names[] = {"collect", "collect_with_callback", "collect_generations",
				      "gc_collect_main", "gc_collect_with_callback",
				      "gc_collect_generations", "gc_collect_region",
				      "gc_collect_full", "gc_collect_young",
				      "gc_collect_increment", "_PyGC_Collect", "PyGC_Collect",
				      "_PyGC_CollectNoFail", NULL};

enum mst_py_fn_role mst_py_function_role(const char *func)
{
	if (name_is(func, gil_wait_names))
		return MST_PY_FN_GIL_WAIT;
	if (name_is(func, gil_drop_names))
		return MST_PY_FN_GIL_DROP;
	if (name_is(func, gc_names))
		return MST_PY_FN_GC;
	return MST_PY_FN_NONE;
}


struct gil_state {
	bool known;
	int32_t locked; /* 1 held, 0 free, -1 not created yet */
	uint64_t holder;
};

/* locked and last_holder of a struct _gil_runtime_state at gil, in one
 * read (they are 8 bytes apart in 3.7-3.13) so the pair is consistent. */
static void read_gil_struct(const struct mst_py *py, uint64_t gil, int64_t locked_off,
                            int64_t holder_off, struct gil_state *g)
{
	uint8_t buf[64];
	int64_t lo = locked_off < holder_off ? locked_off : holder_off;
	int64_t hi = locked_off < holder_off ? holder_off + 8 : locked_off + 4;
	if (hi - lo > (int64_t)sizeof(buf) ||
	    rd(py, gil + (uint64_t)lo, buf, (size_t)(hi - lo)) < 0)
		return;
	g->known = true;
	g->locked = get_i32(buf, locked_off - lo);
	g->holder = get_u64(buf, holder_off - lo);
}

/* The GIL shared by the whole runtime (3.6-3.11). */
static void read_runtime_gil(const struct mst_py *py, struct gil_state *g)
{
	const struct mst_py_layout *l = &py->lay;
	const struct mst_py_runtime_info *in = &py->info;

	memset(g, 0, sizeof(*g));
	if (l->static_globals) { /* 3.6: statics in ceval.c */
		if (in->has_gil_locked && in->has_gil_last_holder) {
			if (rd_i32(py, in->gil_locked, &g->locked) == 0 &&
			    rd_u64(py, in->gil_last_holder, &g->holder) == 0)
				g->known = true;
		} else if (in->tstate_current) {
			/* Stripped: _PyThreadState_Current (exported) is the
			 * holder, NULL while nobody holds it. */
			if (rd_u64(py, in->tstate_current, &g->holder) == 0) {
				g->known = true;
				g->locked = g->holder != 0;
			}
		}
		return;
	}
	if (l->rt_gil_locked >= 0 && l->rt_gil_last_holder >= 0)
		read_gil_struct(py, in->runtime, l->rt_gil_locked, l->rt_gil_last_holder, g);
}

/* 3.12+: each interpreter points to its GIL (its own _gil, or the main
 * interpreter's when shared). *gil_addr gets where it is, 0 if unknown. */
static void read_interp_gil(const struct mst_py *py, uint64_t interp, struct gil_state *g,
			    uint64_t *gil_addr)
{
	const struct mst_py_layout *l = &py->lay;
	uint64_t gil;

	memset(g, 0, sizeof(*g));
	*gil_addr = 0;
	if (l->is_ceval_gil < 0 || rd_u64(py, interp + (uint64_t)l->is_ceval_gil, &gil) < 0 || !gil)
		return;
	*gil_addr = gil;
	read_gil_struct(py, gil, l->gil_locked, l->gil_last_holder, g);
}

/* The collector's flag: 3.6 static `collecting` (.symtab only), 3.7-3.8
 * _PyRuntime.gc, 3.9+ per interpreter. */
static void read_gc(const struct mst_py *py, uint64_t interp, struct mst_py_threads *out)
{
	const struct mst_py_layout *l = &py->lay;
	int32_t v;
	uint64_t addr = 0;

	if (l->static_globals) {
		if (py->info.has_gc_collecting)
			addr = py->info.gc_collecting;
	} else if (l->rt_gc_collecting >= 0) {
		addr = py->info.runtime + (uint64_t)l->rt_gc_collecting;
	} else if (l->is_gc_collecting >= 0) {
		addr = interp + (uint64_t)l->is_gc_collecting;
	}
	if (!addr || rd_i32(py, addr, &v) < 0)
		return;
	out->gc_known = true;
	if (v)
		out->gc_collecting = true;
}

/* ---- dicts and thread names --------------------------------------------- */

struct dict_item {
	uint64_t key, value;
};

/* The live (key, value) pairs of a dict given by its keys object and, for
 * a split table, the values array (PyObject *[]). 3.6-3.10 keys hold
 * dk_size and index widths follow from it; 3.11+ hold log2 sizes and a
 * kind (0 general entries {hash, key, value}, else {key, value}). *items
 * is malloc'd. */
static int dict_items_from(const struct mst_py *py, uint64_t keys, uint64_t values,
                           struct dict_item **items, size_t *n)
{
	const struct mst_py_layout *l = &py->lay;
	uint8_t hdr[64];
	uint64_t entries;
	int64_t nentries, esize, ekey, evalue;
	uint8_t *ebuf = NULL;
	uint64_t *vbuf = NULL;
	int rc;

	*items = NULL;
	*n = 0;
	if (l->dk_indices > (int64_t)sizeof(hdr))
		return -MST_ECORRUPT;
	rc = rd(py, keys, hdr, (size_t)l->dk_indices);
	if (rc < 0)
		return rc;
	nentries = (int64_t)get_u64(hdr, l->dk_nentries);
	if (l->dk_size >= 0) {
		int64_t size = (int64_t)get_u64(hdr, l->dk_size);
		int64_t width = size <= 0xff           ? 1
		                : size <= 0xffff       ? 2
		                : size <= 0xffffffffll ? 4
		                                       : 8;
		if (size <= 0 || size > (1 << 24))
			return -MST_ECORRUPT;
		entries = keys + (uint64_t)l->dk_indices + (uint64_t)(size * width);
		esize = l->dke_size;
		ekey = l->dke_key;
		evalue = l->dke_value;
		if (nentries > size)
			return -MST_ECORRUPT;
	} else {
		uint8_t log2size = hdr[l->dk_log2_size];
		uint8_t log2ib = hdr[l->dk_log2_index_bytes];
		uint8_t kind = hdr[l->dk_kind];
		if (log2size > 30 || log2ib > 33 || nentries > (1ll << log2size))
			return -MST_ECORRUPT;
		entries = keys + (uint64_t)l->dk_indices + (1ull << log2ib);
		if (kind == 0) {
			esize = l->dke_size;
			ekey = l->dke_key;
			evalue = l->dke_value;
		} else {
			esize = l->dkue_size;
			ekey = l->dkue_key;
			evalue = l->dkue_value;
		}
	}
	if (nentries < 0 || nentries > DICT_ENTRIES_MAX)
		return -MST_ECORRUPT;
	if (nentries == 0)
		return 0;
	ebuf = malloc((size_t)(nentries * esize));
	*items = calloc((size_t)nentries, sizeof(**items));
	if (values)
		vbuf = malloc((size_t)nentries * 8);
	if (!ebuf || !*items || (values && !vbuf)) {
		rc = -ENOMEM;
		goto out;
	}
	rc = rd(py, entries, ebuf, (size_t)(nentries * esize));
	if (rc == 0 && values)
		rc = rd(py, values, vbuf, (size_t)nentries * 8);
	if (rc < 0)
		goto out;
	for (int64_t i = 0; i < nentries; i++) {
		uint64_t k = get_u64(ebuf, i * esize + ekey);
		uint64_t v = values ? vbuf[i] : get_u64(ebuf, i * esize + evalue);
		if (k && v)
			(*items)[(*n)++] = (struct dict_item){k, v};
	}
out:
	free(ebuf);
	free(vbuf);
	if (rc < 0) {
		free(*items);
		*items = NULL;
		*n = 0;
	}
	return rc;
}

static int dict_items(const struct mst_py *py, uint64_t dict, struct dict_item **items, size_t *n)
{
	const struct mst_py_layout *l = &py->lay;
	uint64_t keys, values;
	int rc;

	*items = NULL;
	*n = 0;
	rc = rd_u64(py, dict + (uint64_t)l->dict_ma_keys, &keys);
	if (rc == 0)
		rc = rd_u64(py, dict + (uint64_t)l->dict_ma_values, &values);
	if (rc < 0)
		return rc;
	return dict_items_from(py, keys, values ? values + (uint64_t)l->dv_values : 0, items, n);
}

/* Whether the object at key is the str want (ASCII). One read: type,
 * length, state and the compact ASCII data. *cache remembers a match. */
static bool key_is(const struct mst_py *py, uint64_t key, const char *want, uint64_t *cache)
{
	const struct mst_py_layout *l = &py->lay;
	uint8_t buf[128];
	size_t wl = strlen(want);
	uint32_t state;

	if (*cache && key == *cache)
		return true;
	if ((size_t)l->u_ascii_data + wl > sizeof(buf) ||
	    rd(py, key, buf, (size_t)l->u_ascii_data + wl) < 0)
		return false;
	if (py->info.unicode_type && get_u64(buf, l->ob_type) != py->info.unicode_type)
		return false;
	if (get_u64(buf, l->u_length) != wl)
		return false;
	memcpy(&state, buf + l->u_state, sizeof(state));
	if (!(state & (uint32_t)l->u_compact_mask) || !(state & (uint32_t)l->u_ascii_mask))
		return false;
	if (memcmp(buf + l->u_ascii_data, want, wl) != 0)
		return false;
	*cache = key;
	return true;
}

/* The value under the str key want; pointer matches on the cached key
 * first, then string compares. 0 when absent. */
static uint64_t items_get(const struct mst_py *py, const struct dict_item *items, size_t n,
                          const char *want, uint64_t *cache)
{
	if (*cache)
		for (size_t i = 0; i < n; i++)
			if (items[i].key == *cache)
				return items[i].value;
	for (size_t i = 0; i < n; i++)
		if (key_is(py, items[i].key, want, cache))
			return items[i].value;
	return 0;
}

static uint64_t dict_get(const struct mst_py *py, uint64_t dict, const char *want, uint64_t *cache)
{
	struct dict_item *items;
	size_t n;
	uint64_t v;
	if (!dict || dict_items(py, dict, &items, &n) < 0)
		return 0;
	v = items_get(py, items, n, want, cache);
	free(items);
	return v;
}

/* An int that fits 64 bits (a thread ident). 3.6-3.11: signed digit count
 * ob_size; 3.12+: lv_tag = ndigits << 3 | sign. 30-bit digits. */
static int read_ulong(const struct mst_py *py, uint64_t obj, uint64_t *v)
{
	const struct mst_py_layout *l = &py->lay;
	uint8_t buf[64];
	int64_t ndigits;
	uint64_t x = 0;

	/* Every field read below must lie in buf: with 3.13+ the offsets come
	 * from the target's own (possibly corrupt) debug table. */
	size_t len = 0;
	fit(&len, l->long_ob_digit, (size_t)(3 * l->long_digit_size));
	fit(&len, l->long_lv_tag, 8);
	fit(&len, l->long_ob_size, 8);
	if (l->long_ob_digit < 0 || l->long_digit_size != 4 || len > sizeof(buf) ||
	    rd(py, obj, buf, len) < 0)
		return -EFAULT;
	if (l->long_lv_tag >= 0) {
		uint64_t tag = get_u64(buf, l->long_lv_tag);
		if ((tag & 3) == 2) /* negative */
			return -ERANGE;
		ndigits = (int64_t)(tag >> l->long_ndigits_shift);
	} else {
		ndigits = (int64_t)get_u64(buf, l->long_ob_size);
	}
	if (ndigits < 0 || ndigits > 3 || l->long_digit_size != 4)
		return -ERANGE;
	for (int64_t i = ndigits - 1; i >= 0; i--) {
		uint32_t d;
		memcpy(&d, buf + l->long_ob_digit + 4 * i, 4);
		if (i == 2 && (d >> (64 - 2 * l->long_shift)))
			return -ERANGE;
		x = (x << l->long_shift) | d;
	}
	*v = x;
	return 0;
}

/* Thread._name of a threading.Thread instance. Its attributes live in the
 * instance dict at tp_dictoffset (3.6-3.10), or in a managed dict (3.11+,
 * Py_TPFLAGS_MANAGED_DICT): 3.11 keeps a dict pointer and a values pointer
 * just before the object, 3.12 one tagged word, 3.13 a dict pointer or,
 * with Py_TPFLAGS_INLINE_VALUES, values inline at obj + tp_basicsize whose
 * `valid` byte says they are in use. Where they sit comes from the layout
 * (managed_dict_pre, managed_values_pre, dv_valid). The values' keys are
 * the type's shared ht_cached_keys. */
static int thread_name(struct mst_py *py, uint64_t obj, char *name, size_t len)
{
	const struct mst_py_layout *l = &py->lay;
	uint8_t tbuf[1024];
	uint64_t type, dict = 0, keys = 0, values = 0, tpflags, name_obj;
	int64_t dictoffset;
	size_t tlen = 0;
	struct dict_item *items = NULL;
	size_t n = 0;
	struct mst_err e = {0};
	int rc;

	name[0] = '\0';
	if (rd_u64(py, obj + (uint64_t)l->ob_type, &type) < 0 || !type)
		return -EFAULT;
	fit(&tlen, l->tp_flags, 8);
	fit(&tlen, l->tp_dictoffset, 8);
	fit(&tlen, l->tp_basicsize, 8);
	fit(&tlen, l->ht_cached_keys, 8);
	if (tlen > sizeof(tbuf) || rd(py, type, tbuf, tlen) < 0)
		return -EFAULT;
	tpflags = get_u64(tbuf, l->tp_flags);
	dictoffset = (int64_t)get_u64(tbuf, l->tp_dictoffset);

	if (l->tpflags_managed_dict > 0 && (tpflags & (uint64_t)l->tpflags_managed_dict)) {
		uint64_t w;
		if (rd_u64(py, obj - (uint64_t)l->managed_dict_pre, &w) < 0)
			return -EFAULT;
		if (l->minor == 12) {
			/* 3.12: one word, the values pointer minus 1 when bit 0
			 * is set (_PyDictOrValues_GetValues). */
			if (w & 1)
				values = w + 1;
			else
				dict = w;
		} else {
			dict = w;
		}
		if (!dict && l->managed_values_pre >= 0 &&
		    rd_u64(py, obj - (uint64_t)l->managed_values_pre, &values) < 0)
			return -EFAULT;
		if (!dict && l->tpflags_inline_values > 0 &&
		    (tpflags & (uint64_t)l->tpflags_inline_values)) {
			uint8_t valid;
			values = obj + get_u64(tbuf, l->tp_basicsize);
			if (rd(py, values + (uint64_t)l->dv_valid, &valid, 1) < 0)
				return -EFAULT;
			if (!valid)
				values = 0;
		}
		if (!dict && values) {
			if (l->ht_cached_keys < 0)
				return -ENOENT;
			keys = get_u64(tbuf, l->ht_cached_keys);
			values += (uint64_t)l->dv_values;
		}
	} else if (dictoffset > 0) {
		if (rd_u64(py, obj + (uint64_t)dictoffset, &dict) < 0)
			return -EFAULT;
	}
	if (dict)
		rc = dict_items(py, dict, &items, &n);
	else if (keys && values)
		rc = dict_items_from(py, keys, values, &items, &n);
	else
		return -ENOENT;
	if (rc < 0)
		return rc;
	name_obj = items_get(py, items, n, "_name", &py->key_name);
	free(items);
	if (!name_obj)
		return -ENOENT;
	return mst_py_str_read(&py->r, &py->str, name_obj, py->info.unicode_type, name, len, NULL,
	                       NULL, &e);
}

/* Names from threading._active ({ident: Thread}) of one interpreter, put
 * on its threads by thread_id == ident. Failures leave names empty. */
static void fill_names(struct mst_py *py, uint64_t interp, struct mst_py_thread *threads,
                       size_t nthreads)
{
	const struct mst_py_layout *l = &py->lay;
	uint64_t modules, mod, mdict, active;
	struct dict_item *items;
	size_t n;

	if (!nthreads || l->is_modules < 0 ||
	    rd_u64(py, interp + (uint64_t)l->is_modules, &modules) < 0 || !modules)
		return;
	mod = dict_get(py, modules, "threading", &py->key_threading);
	if (!mod || rd_u64(py, mod + (uint64_t)l->md_dict, &mdict) < 0 || !mdict)
		return;
	active = dict_get(py, mdict, "_active", &py->key_active);
	if (!active || dict_items(py, active, &items, &n) < 0)
		return;
	if (n > MST_PY_MAX_THREADS)
		n = MST_PY_MAX_THREADS;
	for (size_t i = 0; i < n; i++) {
		uint64_t ident;
		size_t j;
		if (read_ulong(py, items[i].key, &ident) < 0)
			continue;
		for (j = 0; j < nthreads; j++)
			if (threads[j].thread_id == ident && !threads[j].name[0])
				break;
		if (j == nthreads)
			continue;
		thread_name(py, items[i].value, threads[j].name, sizeof(threads[j].name));
	}
	free(items);
}

/* ---- thread states ------------------------------------------------------ */

void mst_py_threads_free(struct mst_py_threads *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->cap; i++)
		free(t->v[i].frames);
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static int first_interp(const struct mst_py *py, uint64_t *interp, struct mst_err *err)
{
	const struct mst_py_layout *l = &py->lay;
	const struct mst_py_runtime_info *in = &py->info;
	int rc;

	*interp = 0;
	if (l->static_globals) {
		if (in->has_interp_head) {
			rc = rd_u64(py, in->interp_head, interp);
			if (rc < 0)
				return mst_err_set(err, rc, "cannot read interp_head");
			return 0;
		}
		/* Stripped 3.6 (doc §1.5 step 4): from the GIL holder's
		 * tstate; NULL while nobody holds the GIL. */
		uint64_t ts = 0;
		rc = rd_u64(py, in->tstate_current, &ts);
		if (rc < 0)
			return mst_err_set(err, rc, "cannot read _PyThreadState_Current");
		if (ts && (rc = rd_u64(py, ts + (uint64_t)l->ts_interp, interp)) < 0)
			return mst_err_set(err, rc, "cannot read tstate->interp");
		return 0;
	}
	rc = rd_u64(py, in->runtime + (uint64_t)l->rt_interpreters_head, interp);
	if (rc < 0)
		return mst_err_set(err, rc, "cannot read _PyRuntime.interpreters.head");
	return 0;
}

static void set_holds(struct mst_py_thread *t, size_t n, const struct gil_state *g)
{
	for (size_t i = 0; i < n; i++) {
		if (g->locked == 1)
			t[i].holds_gil = t[i].tstate == g->holder;
		else if (g->locked == -1)
			t[i].holds_gil = n == 1; /* no GIL yet: the one thread runs */
		else
			t[i].holds_gil = false;
	}
}

static int read_threads(struct mst_py *py, bool want_names, bool want_frames,
                        struct mst_py_threads *out, struct mst_err *err)
{
	const struct mst_py_layout *l = &py->lay;
	struct gil_state rtgil, g;
	uint64_t interps[MAX_INTERPS];
	size_t ninterps = 0, cap = 0;
	uint64_t interp;
	uint8_t ts[512];
	int rc;

	/* Keep the entries and frame buffers of an earlier read. */
	struct mst_py_thread *keep = out->v;
	cap = out->cap;
	memset(out, 0, sizeof(*out));
	out->v = keep;
	out->cap = cap;
	if (py->ts_len > sizeof(ts))
		return mst_err_set(err, -MST_ECORRUPT, "tstate layout too large");
	rc = first_interp(py, &interp, err);
	if (rc < 0)
		return rc;
	if (l->is_ceval_gil < 0)
		read_runtime_gil(py, &rtgil);

	while (interp) {
		uint64_t t, prev = 0, head;
		size_t first = out->n;
		bool seen = false;

		for (size_t i = 0; i < ninterps; i++)
			seen |= interps[i] == interp;
		if (seen || ninterps == MAX_INTERPS) {
			out->threads_truncated = true;
			break;
		}
		interps[ninterps++] = interp;
		read_gc(py, interp, out);
		uint64_t gil_addr;
		if (l->is_ceval_gil >= 0)
			read_interp_gil(py, interp, &g, &gil_addr);
		else
			g = rtgil;

		rc = rd_u64(py, interp + (uint64_t)l->is_threads_head, &head);
		if (rc < 0) {
			out->threads_truncated = true;
			break;
		}
		for (t = head; t; t = get_u64(ts, l->ts_next)) {
			struct mst_py_thread *th;
			size_t nf = 0;
			bool trunc = false;
			struct mst_err ferr = {0};

			if (out->n >= MST_PY_MAX_THREADS || rd(py, t, ts, py->ts_len) < 0 ||
			    get_u64(ts, l->ts_interp) != interp ||
			    get_u64(ts, l->ts_prev) != prev) {
				/* Bound hit, or the list changed under us. */
				out->threads_truncated = true;
				break;
			}
			prev = t;
			if (out->n == cap) {
				size_t ncap = cap ? 2 * cap : 8;
				struct mst_py_thread *v = realloc(out->v, ncap * sizeof(*v));
				if (!v) {
					mst_py_threads_free(out);
					return mst_err_set(err, -ENOMEM, "out of memory");
				}
				memset(v + cap, 0, (ncap - cap) * sizeof(*v));
				out->v = v;
				out->cap = cap = ncap;
			}
			th = &out->v[out->n++];
			struct mst_py_frame *fbuf = th->frames;
			size_t fcap = th->frames_cap;
			memset(th, 0, sizeof(*th));
			th->frames = fbuf;
			th->frames_cap = fcap;
			th->tstate = t;
			th->thread_id = get_u64(ts, l->ts_thread_id);
			th->native_tid = l->ts_native_thread_id >= 0
			                     ? (int64_t)get_u64(ts, l->ts_native_thread_id)
			                     : -1;
			if (!want_frames)
				continue;
			th->error = frames_from_tstate(py, ts, py->scratch, MST_PY_MAX_FRAMES, &nf,
			                               &trunc, &ferr);
			th->truncated = trunc;
			if (nf > th->frames_cap) {
				struct mst_py_frame *f = realloc(th->frames, nf * sizeof(*f));
				if (f) {
					th->frames = f;
					th->frames_cap = nf;
				}
			}
			if (nf <= th->frames_cap) {
				if (nf)
					memcpy(th->frames, py->scratch, nf * sizeof(*th->frames));
				th->nframes = nf;
			} else {
				th->error = -ENOMEM;
			}
		}
		if (g.known) {
			/* No thread states: out->v may still be NULL. */
			if (out->n > first)
				set_holds(out->v + first, out->n - first, &g);
			/* Report the main interpreter's GIL: the last in the
			 * list (the list is newest first). */
			out->gil_known = true;
			out->gil_locked = g.locked == 1 || (g.locked == -1 && out->n - first == 1);
			out->gil_holder = 0;
			if (g.locked == 1)
				out->gil_holder = g.holder;
			else if (g.locked == -1 && out->n - first == 1)
				out->gil_holder = out->v[first].tstate;
		}
		if (want_names && out->n > first)
			fill_names(py, interp, out->v + first, out->n - first);
		if (rd_u64(py, interp + (uint64_t)l->is_next, &interp) < 0) {
			out->threads_truncated = true;
			break;
		}
	}
	return 0;
}

int mst_py_read_threads(struct mst_py *py, bool want_names, struct mst_py_threads *out,
                        struct mst_err *err)
{
	return read_threads(py, want_names, true, out, err);
}

int mst_py_read_thread_list(struct mst_py *py, bool want_names, struct mst_py_threads *out,
                            struct mst_err *err)
{
	return read_threads(py, want_names, false, out, err);
}

void mst_py_collector(struct mst_py *py, const struct mst_py_range **ranges, size_t *n)
{
	if (!py->collector_done) {
		py->collector_done = true;
		/* With .symtab the collector's functions are named: the names
		 * are the better evidence, and no code is decoded. */
		if (py->info.stripped)
			mst_py_collector_ranges(&py->info, py->collector, MST_PY_COLLECTOR_MAX,
						&py->ncollector);
	}
	*ranges = py->collector;
	*n = py->ncollector;
}

int mst_py_read_gil(struct mst_py *py, struct mst_py_gil *out)
{
	const struct mst_py_layout *l = &py->lay;
	struct gil_state g;
	uint64_t gil = 0;

	memset(out, 0, sizeof(*out));
	if (l->is_ceval_gil >= 0) {
		/* 3.12+: the main interpreter's GIL. */
		int64_t off = l->rt_interpreters_main >= 0 ? l->rt_interpreters_main
							   : l->rt_interpreters_head;
		uint64_t interp;
		if (rd_u64(py, py->info.runtime + (uint64_t)off, &interp) < 0)
			return -EFAULT;
		read_interp_gil(py, interp, &g, &gil);
	} else {
		read_runtime_gil(py, &g);
		if (l->rt_gil >= 0) /* 3.7-3.11: embedded in _PyRuntime.ceval */
			gil = py->info.runtime + (uint64_t)l->rt_gil;
	}
	if (!g.known)
		return -ENOENT;
	if (g.locked == -1) {
		/* 3.6 creates the GIL when the first thread starts; until then
		 * the only thread runs and is _PyThreadState_Current. */
		if (rd_u64(py, py->info.tstate_current, &g.holder) < 0)
			return -EFAULT;
		g.locked = g.holder != 0;
	}
	out->known = true;
	out->locked = g.locked == 1; /* last_holder is sticky: locked decides */
	out->holder = g.holder;
	if (gil) {
		out->addr = gil;
		out->size = (uint64_t)l->gil_size;
		out->switch_lo = gil + (uint64_t)l->gil_switch_cond;
		out->switch_hi = gil + (uint64_t)l->gil_size;
	}
	return 0;
}
