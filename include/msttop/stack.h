/* A thread's merged stack as frames (frame.h): its native and Python frames
 * merged (merge.h), each native address named by the symbols and expanded
 * into the functions inlined there. The one place this is done: --dump, the
 * sampler and the recorders all read the result. */
#ifndef MSTTOP_STACK_H
#define MSTTOP_STACK_H

#include <stdbool.h>
#include <stddef.h>

#include "msttop/frame.h"
#include "msttop/snapshot.h"

/* Reused from one build to the next: once warm, a build allocates nothing. */
struct mst_stack {
	struct mst_frame *v; /* innermost first */
	size_t n;
	/* Scratch and storage, the stack's own. */
	size_t cap;
	char (*labels)[96];
	struct mst_mframe *m;
	bool *entry;
	size_t mcap, ecap;
	uint8_t *cls; /* attrib.h's classes, and its answer */
	bool *own;
	size_t clscap, owncap;
};

enum {
	/* Native frames too; without it, the Python frames alone (merge flags
	 * cleared: nothing to pair them with). */
	MST_STACK_NATIVE = 1 << 0,
	/* Leave folded native frames unresolved (label "??"): a reader that
	 * hides them saves their DWARF lookups, most of a dump's work in the
	 * interpreter's own code. */
	MST_STACK_SKIP_FOLDED = 1 << 1,
};

/* Build the frames of classified thread t into st, innermost first (within
 * one address: the innermost inlined call first). flags: MST_STACK_*. sym
 * NULL: native frames are left unresolved. A return address is looked up at
 * pc - 1 (the unwinder said which pcs are: mst_thread_pc_is_return). 0, or
 * -ENOMEM (st then holds what was built). Frames stay valid until the next
 * build into st or its fini, and no longer than t and the symbols. */
int mst_stack_build(struct mst_stack *st, const struct mst_thread_snap *t, struct mst_symbols *sym,
                    unsigned flags);
void mst_stack_fini(struct mst_stack *st);

#endif
