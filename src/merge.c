/* The merge of native and Python frames (see merge.h). */
#include "msttop/merge.h"

static void put(struct mst_mframe *out, size_t max, size_t *n, uint8_t kind, uint8_t flags,
                size_t index)
{
	if (*n < max)
		out[(*n)++] = (struct mst_mframe){kind, flags, (uint32_t)index};
}

/* How many innermost eval frames have no Python run of their own: with the
 * whole chain read, an eval frame more than there are runs is one entering
 * its frame (not yet linked) or leaving it (already unlinked, the C call
 * not yet returned). Both happen only at the innermost activation; matched
 * from the innermost end, it would take its caller's run and push every
 * run one activation inwards. */
static size_t evals_between_frames(const uint8_t *native_kinds, size_t nnative,
                                   const bool *py_entry, size_t npy, bool py_whole)
{
	if (!py_whole || npy == 0)
		return 0;
	size_t neval = 0, nruns = 0;
	for (size_t i = 0; i < nnative; i++)
		neval += native_kinds[i] == MST_NK_EVAL;
	for (size_t i = 0; i < npy; i++)
		nruns += py_entry[i] || i == npy - 1;
	return neval > nruns ? neval - nruns : 0;
}

void mst_merge(const uint8_t *native_kinds, size_t nnative, const bool *py_entry, size_t npy,
               bool py_whole, struct mst_mframe *out, size_t max, size_t *nout)
{
	size_t n = 0, p = 0;
	size_t between = evals_between_frames(native_kinds, nnative, py_entry, npy, py_whole);
	/* Interpreter-internal frames are folded only when they stand between
	 * two Python runs; collect them until we know what comes next. */
	size_t pending_start = 0, pending = 0;
	bool seen_python = false;
	for (size_t i = 0; i < nnative; i++) {
		uint8_t k = native_kinds[i];
		if (k == MST_NK_EVAL && between > 0) {
			between--;
			k = MST_NK_INTERP; /* an interpreter frame like its callees */
		}
		if (k == MST_NK_INTERP && seen_python) {
			if (!pending)
				pending_start = i;
			pending++;
			continue;
		}
		if (k == MST_NK_EVAL && p < npy) {
			/* Interpreter frames just crossed lie between two Python
			 * runs: fold them. */
			for (size_t j = 0; j < pending; j++)
				put(out, max, &n, MST_MF_NATIVE, MST_MF_FOLDED, pending_start + j);
			pending = 0;
			/* One run: frames up to and including the next entry. */
			while (p < npy) {
				bool entry = py_entry[p];
				put(out, max, &n, MST_MF_PYTHON, 0, p);
				p++;
				if (entry)
					break;
			}
			put(out, max, &n, MST_MF_NATIVE, MST_MF_FOLDED, i);
			seen_python = true;
			continue;
		}
		for (size_t j = 0; j < pending; j++)
			put(out, max, &n, MST_MF_NATIVE, 0, pending_start + j);
		pending = 0;
		put(out, max, &n, MST_MF_NATIVE, k == MST_NK_EVAL ? MST_MF_UNMATCHED : 0, i);
		/* Interpreter frames next to a C extension's frame are not
		 * between two Python frames: show them. */
		if (k == MST_NK_OTHER)
			seen_python = false;
	}
	/* Python frames left over: the native walk ended early (or the eval
	 * frames were not recognised). Keep them outermost, marked, before the
	 * interpreter frames still pending, which are outermost of all. */
	for (; p < npy; p++)
		put(out, max, &n, MST_MF_PYTHON, MST_MF_UNMATCHED, p);
	for (size_t j = 0; j < pending; j++)
		put(out, max, &n, MST_MF_NATIVE, 0, pending_start + j);
	*nout = n;
}
