/* A thread's frame chain: PyFrameObjects (3.6-3.10), _PyInterpreterFrames
 * (3.11+) with their entry, shim and tagged-reference rules. */
#include "py-int.h"

#include <inttypes.h>

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
		rc = mst_py_code_get(py, code, got & 1 ? hdr : NULL, &c, err);
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
		out[*n] = mst_py_make_frame(py, c, code, addr, units, true);
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
		rc = mst_py_code_get(py, code, got & 1 ? hdr : NULL, &c, err);
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
			out[*n] = mst_py_make_frame(py, c, code, addr, units, is_entry);
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

void mst_py_first_frame_path(const struct mst_py *py, int64_t *ts_off, int64_t *deref)
{
	const struct mst_py_layout *l = &py->lay;
	*deref = -1;
	if (l->ts_frame >= 0) /* 3.6-3.10 */
		*ts_off = l->ts_frame;
	else if (l->ts_current_frame >= 0) /* 3.13+ */
		*ts_off = l->ts_current_frame;
	else { /* 3.11-3.12: tstate->cframe->current_frame */
		*ts_off = l->ts_cframe;
		*deref = l->cframe_current_frame;
	}
}

/* The innermost frame pointer in a tstate read into buf; *cframe the
 * _PyCFrame it was read from (3.11-3.12), else 0. */
static int first_frame(const struct mst_py *py, const uint8_t *ts, uint64_t *frame,
                       uint64_t *cframe, struct mst_err *err)
{
	int64_t off, deref;
	mst_py_first_frame_path(py, &off, &deref);
	*frame = get_u64(ts, off);
	*cframe = 0;
	if (deref < 0 || !*frame)
		return 0;
	uint64_t hop = *frame;
	*frame = 0;
	int rc = rd_u64(py, hop + (uint64_t)deref, frame);
	if (rc < 0)
		return mst_err_set(err, rc, "cannot read _PyCFrame at 0x%" PRIx64, hop);
	*cframe = hop;
	return 0;
}

/* 3.11-3.12 link a new eval loop's _PyCFrame into the thread state a few
 * instructions before they set its current_frame: caught in between, that
 * word is whatever the C stack held (NULL, or a pointer to anything), and
 * the thread's frames are its caller's, one _PyCFrame out. That frame, or
 * 0 (no caller: the root _PyCFrame, or not these versions). */
static uint64_t caller_frame(struct mst_py *py, uint64_t cframe)
{
	int64_t prev = py->lay.cframe_previous, deref = py->lay.cframe_current_frame;
	uint64_t outer = 0, frame = 0;
	if (!cframe || prev < 0 || deref < 0 || rd_u64(py, cframe + (uint64_t)prev, &outer) < 0 ||
	    !outer || rd_u64(py, outer + (uint64_t)deref, &frame) < 0)
		return 0;
	return frame;
}

int mst_py_frames_from_tstate(struct mst_py *py, const uint8_t *ts, struct mst_py_frame *frames,
                              size_t max, size_t *n, bool *truncated, struct mst_err *err)
{
	uint64_t frame, cframe;
	int rc;

	*n = 0;
	*truncated = false;
	rc = first_frame(py, ts, &frame, &cframe, err);
	if (rc < 0)
		return rc;
	if (py->lay.ts_frame >= 0)
		return walk_frame_objects(py, frame, frames, max, n, truncated, err);
	rc = walk_interp_frames(py, frame, frames, max, n, truncated, err);
	/* Nothing read from the innermost _PyCFrame: it may be one being
	 * linked in; its caller's frames are the thread's then. */
	if (cframe && *n == 0 && (rc < 0 || !frame)) {
		uint64_t outer = caller_frame(py, cframe);
		struct mst_err e2 = {0};
		size_t n2 = 0;
		bool t2 = false;
		if (outer && outer != frame &&
		    walk_interp_frames(py, outer, frames, max, &n2, &t2, &e2) == 0 && n2 > 0) {
			*n = n2;
			*truncated = t2;
			if (err) {
				err->code = 0;
				err->msg[0] = '\0';
			}
			return 0;
		}
	}
	return rc;
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
	return mst_py_frames_from_tstate(py, ts, frames, max, n, truncated, err);
}

void mst_py_reads_free(struct mst_py_reads *r)
{
	free(r->v);
	*r = (struct mst_py_reads){0};
}

int mst_py_read_frames_fetched(struct mst_py *py, uint64_t tstate, struct mst_py_reads *last,
                               struct mst_py_frame *frames, size_t max, size_t *n, bool *truncated,
                               struct mst_err *err)
{
	if (!py->r.readv || py->pf_under ||
	    (!py->pf_frames && mst_prefetch_new(&py->pf_frames) < 0) ||
	    mst_prefetch_seed(py->pf_frames, last->v, last->n) < 0)
		return mst_py_read_frames(py, tstate, frames, max, n, truncated, err);
	struct mst_reader under = py->r;
	py->r = mst_prefetch_begin(py->pf_frames, &under);
	int rc = mst_py_read_frames(py, tstate, frames, max, n, truncated, err);
	const struct mst_prefetch_range *r;
	size_t nr = mst_prefetch_noted(py->pf_frames, &r);
	mst_prefetch_end(py->pf_frames);
	py->r = under;
	/* Kept to the size read: a thousand threads keep theirs. */
	if (nr > last->cap) {
		struct mst_prefetch_range *v = realloc(last->v, nr * sizeof(*v));
		if (!v) {
			last->n = 0;
			return rc;
		}
		last->v = v;
		last->cap = (uint32_t)nr;
	}
	if (nr)
		memcpy(last->v, r, nr * sizeof(*r));
	last->n = (uint32_t)nr;
	return rc;
}
