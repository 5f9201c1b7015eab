/* One frame of a merged, symbolized stack: the one type that --dump, the
 * sampler and (later) the recorders read, built by stack.h. */
#ifndef MSTTOP_FRAME_H
#define MSTTOP_FRAME_H

#include <stdbool.h>
#include <stdint.h>

#include "msttop/merge.h"
#include "msttop/py.h"
#include "msttop/symbols.h"

struct mst_frame {
	/* A Python frame: the decoder's, borrowed from the thread snapshot
	 * it was built from. NULL for a native frame. */
	const struct mst_py_frame *py;
	/* A native frame: a copy of the symbols' answer (its strings live as
	 * long as the symbols). resolved is false when no module covers pc
	 * or no symbols were given; nat holds only pc then. */
	struct mst_native_frame nat;
	bool resolved;
	uint64_t pc;   /* native: the address as unwound */
	uint8_t flags; /* MST_MF_FOLDED, MST_MF_UNMATCHED (merge.h) */
	/* The interpreter's own code, hidden in the view that puts the
	 * user's code first (attrib.h). Never a Python frame. */
	bool interp_own;
	uint8_t nkind; /* native: the classifier's enum mst_native_kind of pc */
	/* Native: what to call it: the function, else module+0xoffset (the
	 * link-time offset, as addr2line wants it), else "??". Owned by the
	 * stack it came from. Python: the function. */
	const char *label;
};

#endif
