/* Thread states: the interpreters' lists, each tstate's ids, frames and
 * names, and which one holds the GIL. */
#include "py-int.h"

#include <stdlib.h>

#include "msttop/arch.h"

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

int mst_py_main_interp(struct mst_py *py, uint64_t *interp)
{
	const struct mst_py_layout *l = &py->lay;
	*interp = py->main_interp;
	if (*interp)
		return 0;
	/* 3.6 names no main interpreter: the list's head, read each time. */
	if (l->static_globals || l->rt_interpreters_main < 0)
		return first_interp(py, interp, NULL);
	int rc = rd_u64(py, py->info.runtime + (uint64_t)l->rt_interpreters_main, interp);
	if (rc < 0)
		return rc;
	py->main_interp = *interp;
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

	/* Where the main interpreter and its GIL are is looked up again at
	 * each read of the names (a refresh): a program that finalizes and
	 * initializes Python again may put them elsewhere. */
	if (want_names)
		py->main_interp = py->main_gil = 0;
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
		mst_py_read_runtime_gil(py, &rtgil);

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
		mst_py_read_gc(py, interp, out);
		uint64_t gil_addr;
		if (l->is_ceval_gil >= 0)
			mst_py_read_interp_gil(py, interp, &g, &gil_addr);
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
			th->error = mst_py_frames_from_tstate(
			    py, ts, py->scratch, MST_PY_MAX_FRAMES, &nf, &trunc, &ferr);
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
		if (want_names && out->n > first) {
			/* Read at refreshes only: fetched from one refresh to
			 * the next, not at every tick. */
			struct mst_reader walk_r = py->r;
			bool pass =
			    py->pf_under && (py->pf_names || mst_prefetch_new(&py->pf_names) == 0);
			if (pass)
				py->r = mst_prefetch_begin(py->pf_names, py->pf_under);
			mst_py_fill_names(py, interp, out->v + first, out->n - first);
			if (pass)
				mst_prefetch_end(py->pf_names);
			py->r = walk_r;
		}
		if (rd_u64(py, interp + (uint64_t)l->is_next, &interp) < 0) {
			out->threads_truncated = true;
			break;
		}
	}
	return 0;
}

/* The walk reads nearly the same ranges every tick (the same thread
 * states, the same frames of idle threads): through a prefetch, each tick
 * fetches the last tick's in a few system calls (prefetch.h). Only where
 * the reader can read vectored (a live process). */
static int read_threads_fetched(struct mst_py *py, bool want_names, bool want_frames,
                                struct mst_py_threads *out, struct mst_err *err)
{
	if (!py->r.readv || (!py->pf && mst_prefetch_new(&py->pf) < 0))
		return read_threads(py, want_names, want_frames, out, err);
	struct mst_reader under = py->r;
	py->r = mst_prefetch_begin(py->pf, &under);
	py->pf_under = &under;
	int rc = read_threads(py, want_names, want_frames, out, err);
	mst_prefetch_end(py->pf);
	py->pf_under = NULL;
	py->r = under;
	return rc;
}

int mst_py_read_threads(struct mst_py *py, bool want_names, struct mst_py_threads *out,
                        struct mst_err *err)
{
	return read_threads_fetched(py, want_names, true, out, err);
}

int mst_py_read_thread_list(struct mst_py *py, bool want_names, struct mst_py_threads *out,
                            struct mst_err *err)
{
	return read_threads_fetched(py, want_names, false, out, err);
}

pid_t mst_py_thread_tid(struct mst_py *py, const struct mst_py_thread *t)
{
	if (t->native_tid > 0)
		return (pid_t)t->native_tid;
	/* glibc keeps the kernel tid in its struct pthread, which
	 * pthread_self() points to (arch.h has where). */
	int32_t tid = 0;
	if (!t->thread_id || rd(py, t->thread_id + MST_ARCH_PTHREAD_TID_OFF, &tid, sizeof(tid)) < 0)
		return 0;
	return tid > 0 ? (pid_t)tid : 0;
}
