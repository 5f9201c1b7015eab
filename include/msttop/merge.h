/* Merging a native stack with the Python frames the interpreter runs on it:
 * a pure function, so it is tested on synthetic stacks. Each native
 * eval-loop frame is replaced by the run of Python frames it executes
 * (3.6-3.10: one frame; 3.11+: a run ending at an entry frame). With the
 * whole Python chain and more eval frames than runs, the innermost extra
 * ones are between frames (entering or leaving one) and shown as
 * interpreter frames. Otherwise, when the counts disagree, runs are matched
 * from the innermost end and the rest is kept and marked; nothing is
 * dropped from either side. */
#ifndef MSTTOP_MERGE_H
#define MSTTOP_MERGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the caller knows about each native frame. */
enum mst_native_kind {
	MST_NK_OTHER = 0,  /* a C extension, libc, the program's own code */
	MST_NK_EVAL = 1,   /* _PyEval_EvalFrameDefault (and its .cold part) */
	MST_NK_INTERP = 2, /* other code of the interpreter module (libpython) */
};

enum mst_mframe_kind { MST_MF_NATIVE = 0, MST_MF_PYTHON = 1 };

enum {
	/* Hidden unless every native frame is asked for: an eval frame whose
	 * Python frames stand in its place, or an interpreter-internal frame
	 * between two Python frames. */
	MST_MF_FOLDED = 1 << 0,
	/* An eval frame with no Python frames left to match, or Python frames
	 * with no eval frame left (the native walk stopped early). */
	MST_MF_UNMATCHED = 1 << 1,
};

struct mst_mframe {
	uint8_t kind;   /* enum mst_mframe_kind */
	uint8_t flags;  /* MST_MF_* */
	uint32_t index; /* into the native or the Python input array */
};

/* native_kinds[0..nnative) and py_entry[0..npy) run innermost first, as does
 * the output. py_entry[i] tells whether Python frame i is the outermost of
 * the run one eval activation executes; py_whole, that the chain was read to
 * its outermost frame (not cut, no read error). Writes at most max frames
 * (enough: nnative + npy) and sets *nout. */
void mst_merge(const uint8_t *native_kinds, size_t nnative, const bool *py_entry, size_t npy,
               bool py_whole, struct mst_mframe *out, size_t max, size_t *nout);

#endif
