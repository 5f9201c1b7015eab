/* The states users see, derived from what one snapshot read: a pure
 * function of the snapshot and of what the caller tells about the runtime
 * (its code ranges, the GIL's place, the collector's code, the role of a
 * native function). It reads nothing itself, so it is unit-tested on
 * synthetic snapshots; mst_snapshot_classify gathers its inputs. */
#ifndef MSTTOP_CLASSIFY_H
#define MSTTOP_CLASSIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msttop/py.h"
#include "msttop/py_runtime.h"
#include "msttop/snapshot.h"

struct mst_classify_in {
	/* The runtime's code: which native frames are the eval loop and
	 * which the interpreter. NULL: no Python (every frame is other). */
	const struct mst_py_runtime_info *info;
	/* The GIL struct's place (addr 0: unknown): a thread blocked on a
	 * futex in it waits for the GIL, on its switch condition drops it. */
	struct mst_py_gil gil;
	/* The collector's code where names are missing (stripped builds). */
	const struct mst_py_range *gc;
	size_t ngc;
	/* The role of the function holding native pc (looked up at pc - 1 when
	 * is_return), asked only for the interpreter's frames within the
	 * innermost MST_CLASSIFY_ROLE_DEPTH. NULL: no names. */
	enum mst_py_fn_role (*role)(void *ctx, uint64_t pc, bool is_return);
	void *ctx;
};

/* GIL and collector functions sit near the top of a stack: deeper frames
 * are not asked for their names. */
#define MST_CLASSIFY_ROLE_DEPTH 64

/* Fill every thread's nkinds (which must hold npcs bytes) and states, and
 * s->gc_thread_unknown. */
void mst_classify(struct mst_snapshot *s, const struct mst_classify_in *in);

#endif
