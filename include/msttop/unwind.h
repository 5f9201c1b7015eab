/* Native stacks through libunwind, with msttop's own accessors: memory comes
 * from the copy of the stack taken while the thread was stopped, then from
 * the module files on disk (read-only segments), then from the target with
 * process_vm_readv. Never word by word through PTRACE_PEEKDATA. */
#ifndef MSTTOP_UNWIND_H
#define MSTTOP_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msttop/arch.h"
#include "msttop/err.h"
#include "msttop/maps.h"
#include "msttop/proc.h"
#include "msttop/reader.h"

#define MST_MAX_NATIVE_FRAMES 512

struct mst_unwinder;

/* p is borrowed and must outlive the unwinder. */
int mst_unwinder_new(struct mst_proc *p, struct mst_unwinder **out, struct mst_err *err);
/* The same for memory that does not change, read through r (a core file):
 * maps is borrowed and never re-read, module files are opened at their
 * own paths. r's ctx and maps must outlive the unwinder. */
int mst_unwinder_new_static(const struct mst_reader *r, const struct mst_maps *maps,
                            struct mst_unwinder **out, struct mst_err *err);
void mst_unwinder_free(struct mst_unwinder *u);
/* Forget what is known of the target's modules (after the maps changed). */
void mst_unwinder_flush(struct mst_unwinder *u);
/* Where in msttop the code of the libunwind that walks remote stacks lies
 * ([*lo, *hi)); false if not found (linked statically, say). */
bool mst_unwind_text(uintptr_t *lo, uintptr_t *hi);

/* A copy of the top of a thread's stack, taken while it was stopped. */
/* The most of a stack copied while a thread is stopped: enough for deep C
 * stacks and CPython's eval loop; deeper parts are read from the target as
 * the walk needs them. */
#define MST_STACK_COPY_MAX (256 * 1024)

struct mst_stack_copy {
	uint64_t base; /* target address of data[0] */
	size_t len;    /* bytes copied so far */
	size_t cap;    /* room in data: the walk copies more as it goes */
	bool at_end;   /* a copy stopped at unreadable memory: no more */
	uint8_t *data;
	size_t used; /* bytes from base the walk read (set by mst_unwind) */
	/* Bytes from base to the furthest stack word the walk read, in the
	 * copy or, past a copy that could not grow, from the process: what
	 * a copy taken ahead of the walk (a perf sample's) should hold. */
	size_t reach;
	/* Optional (reads NULL: not kept): the offsets from base of the
	 * stack words the walk read, in order; nreads > reads_max means some
	 * were not kept. The walk is a function of these words, the
	 * registers and the modules' files. */
	uint32_t *reads;
	size_t nreads, reads_max;
};

/* Copy the top of the stack from regs->sp (minus the red zone): first
 * bytes, then more as the walk needs it, up to cap in all. One
 * process_vm_readv copies what lies beyond the stack's end too, so the
 * first copy is best the size the last walk of this thread used. */
void mst_stack_copy_take(struct mst_proc *p, const struct mst_regs *regs, uint8_t *buf, size_t cap,
                         size_t first, struct mst_stack_copy *out);
/* Where such a copy starts for regs. */
uint64_t mst_stack_copy_base(const struct mst_regs *regs);
/* A copy whose first len bytes from base are already in buf (read just
 * now by the caller); the walk copies more as it needs, up to cap. */
void mst_stack_copy_have(uint64_t base, uint8_t *buf, size_t len, size_t cap,
                         struct mst_stack_copy *out);

/* Walk the native stack: pcs[0] is the innermost frame's pc, then the return
 * addresses outward. exact (may be NULL) gets, per pc, 1 when it is the
 * instruction the frame is at (the innermost frame, and a frame that a
 * signal interrupted), 0 for a return address, which is looked up at pc - 1:
 * decided here, once, as eu-stack's dwfl_frame_pc does. Returns 0 with *n
 * set (at least 1 frame), or a negative code; a walk that stops early is not
 * an error. */
int mst_unwind(struct mst_unwinder *u, const struct mst_regs *regs, struct mst_stack_copy *stack,
               uint64_t *pcs, uint8_t *exact, size_t max, size_t *n, struct mst_err *err);

/* One thread's last walk, to walk its next one faster: a running thread's
 * stack changes at its inner end and keeps its outer frames. A walk is a
 * function of the registers and the memory it reads (unwind tables aside),
 * so once a new walk reaches a frame of the last one with the same pc,
 * stack pointer and callee-saved registers, and every stack word the last
 * walk read from that frame outwards still holds its value, the rest of the
 * walk is the last one's: it is taken from the memo instead of stepped
 * (each libunwind step costs two system calls for its cache's lock). */
struct mst_walk_memo;
/* verify: every walk ended from the memo is stepped again in full, and
 * the stepped one is kept where they differ (counted: a test's check). */
struct mst_walk_memo *mst_walk_memo_new(bool verify);
void mst_walk_memo_free(struct mst_walk_memo *m);
/* Keep only the last walk, at its size: for a thread whose walk is being
 * reused (it has not moved), the room the next walk would fill is given
 * back until it moves again. Cheap when already trimmed. */
void mst_walk_memo_trim(struct mst_walk_memo *m);
/* Frames the walks through m took from it rather than stepped; walks
 * verified, and found different. */
void mst_walk_memo_stats(const struct mst_walk_memo *m, uint64_t *spliced, uint64_t *verified,
                         uint64_t *differed);
/* mst_unwind, ending from memo where it can, and keeping this walk in it
 * (memo NULL: mst_unwind). */
int mst_unwind_memo(struct mst_unwinder *u, const struct mst_regs *regs,
                    struct mst_stack_copy *stack, struct mst_walk_memo *memo, uint64_t *pcs,
                    uint8_t *exact, size_t max, size_t *n, struct mst_err *err);

#endif
