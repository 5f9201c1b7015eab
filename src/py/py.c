/* The CPython decoder's entry points: open a target's runtime (version,
 * layout, read sizes), close it, and what it tells about itself. The walk
 * itself lives beside: thread.c (thread states), frame.c (frame chains),
 * code.c (code objects, names, lines), gil_gc.c (GIL and collector),
 * object.c (dicts, ints, thread names). Reads only through a struct
 * mst_reader; every walk is bounded and a failed read costs one thread its
 * frames, never the whole read. Layout facts come from struct
 * mst_py_layout; the few it lacks are cited inline with their CPython
 * version (docs/cpython-internals.md is the reference). */
#include "py-int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

const char *mst_py_intern(struct mst_py *py, const char *s)
{
	return mst_strset_get(py->strs, s, 0, true);
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
	mst_py_close(py);
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
		mst_py_close(py);
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
		const char *threads =
		    !py->info.has_interp_head
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
	py->strs = mst_strset_new();
	if (!py->scratch || !py->strs)
		return mst_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

void mst_py_name_fragments(const struct mst_py *py, struct mst_symbols *sym,
                           int (*name)(struct mst_symbols *sym, uint64_t lo, uint64_t hi,
                                       const char *name))
{
	if (!py || !sym)
		return;
	for (int i = 1; i < py->info.n_eval && i < MST_PY_EVAL_RANGES_MAX; i++)
		name(sym, py->info.eval[i].start, py->info.eval[i].end, MST_PY_EVAL_COLD_NAME);
}

void mst_py_close(struct mst_py *py)
{
	struct code_entry *c, *ctmp;
	if (!py)
		return;
	HASH_ITER(hh, py->codes, c, ctmp)
	{
		HASH_DEL(py->codes, c);
		free(c->lt);
		free(c);
	}
	mst_py_types_drop(py);
	mst_py_lcodes_drop(py);
	mst_strset_free(py->strs);
	mst_prefetch_free(py->pf);
	mst_prefetch_free(py->pf_names);
	mst_prefetch_free(py->pf_frames);
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

struct mst_reader mst_py_swap_reader(struct mst_py *py, struct mst_reader r)
{
	struct mst_reader old = py->r;
	py->r = r;
	return old;
}

/* Notes each range read, for mst_py_capture_spec. */
struct read_log {
	struct mst_reader inner;
	struct mst_py_capture *c;
};

static int log_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct read_log *l = ctx;
	struct mst_py_capture *c = l->c;
	for (size_t i = 0; i < c->nfixed && i < MST_PY_CAPTURE_FIXED; i++)
		if (c->fixed[i].addr == addr && c->fixed[i].len == len)
			return mst_read(&l->inner, addr, buf, len);
	if (c->nfixed < MST_PY_CAPTURE_FIXED) {
		c->fixed[c->nfixed].addr = addr;
		c->fixed[c->nfixed].len = len;
	}
	c->nfixed++;
	return mst_read(&l->inner, addr, buf, len);
}

int mst_py_capture_spec(struct mst_py *py, struct mst_py_capture *out)
{
	const struct mst_py_layout *l = &py->lay;
	memset(out, 0, sizeof(*out));
	out->ts_len = py->ts_len;
	out->frame_len = py->frame_len;
	mst_py_first_frame_path(py, &out->ts_frame, &out->deref);
	out->code_len = py->code_len;
	out->code_mask = ~(uint64_t)(l->stackref_tag_bits > 0 ? l->stackref_tag_bits : 0);
	bool objects = l->ts_frame >= 0; /* 3.6-3.10: PyFrameObjects */
	out->prev_off = objects ? l->fo_back : l->if_previous;
	out->code_off = objects ? l->fo_code : l->if_code;
	out->chunk_off = out->top_off = out->chunk_data = -1;
	if (l->ts_datastack_chunk >= 0 && l->ts_datastack_top >= 0 && l->chunk_data >= 0) {
		out->chunk_off = l->ts_datastack_chunk;
		out->top_off = l->ts_datastack_top;
		out->chunk_data = l->chunk_data;
	}
	/* The GIL's state and the collector's flag: whatever their reads
	 * read, as they read it now (the addresses do not move while the
	 * runtime lives). Where they are is found first, outside the log:
	 * the main interpreter's address and its GIL's (3.12+) are words the
	 * decoder keeps once read, and a sample would copy them for nothing
	 * (a read in the sampled thread, about 0.2 us, each). */
	struct mst_py_gil where;
	mst_py_gil_where(py, &where);
	uint64_t interp;
	(void)mst_py_main_interp(py, &interp);
	struct read_log log = {py->r, out};
	struct mst_reader rec = {.read = log_read, .ctx = &log};
	struct mst_reader old = mst_py_swap_reader(py, rec);
	struct mst_py_gil g;
	int rc = mst_py_read_gil(py, &g);
	bool known, collecting;
	mst_py_read_gc_main(py, &known, &collecting);
	mst_py_swap_reader(py, old);
	if (out->nfixed > MST_PY_CAPTURE_FIXED)
		out->nfixed = 0; /* more than a sample can copy: read at the tick */
	return rc < 0 ? rc : 0;
}
