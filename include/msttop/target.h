/* Everything msttop holds of one target, opened once and released in one
 * place: the process (attached, or only read), its memory map, a memory
 * reader, the CPython decoder, the native unwinder and the symbols. --dump
 * and the sampler open their target here, and --dump --core its core file. */
#ifndef MSTTOP_TARGET_H
#define MSTTOP_TARGET_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "msttop/corefile.h"
#include "msttop/err.h"
#include "msttop/maps.h"
#include "msttop/proc.h"
#include "msttop/py.h"
#include "msttop/reader.h"
#include "msttop/symbols.h"
#include "msttop/unwind.h"

struct mst_target;

struct mst_target_opts {
	pid_t pid;
	/* Instead of pid: a core file, and optionally the executable to read
	 * in place of the one it names (corefile.h). */
	const char *core, *exe;
	/* Python frames only: the process is not attached, and no unwinder
	 * or symbols are opened. */
	bool python_only;
	/* The process is not attached (the perf back end stops nothing), but
	 * the unwinder and symbols are opened. */
	bool no_attach;
	/* Set by a signal handler: a wait inside gives up (-MST_EINTR). */
	volatile sig_atomic_t *cancel;
};

/* Open the target. A target without a readable CPython is still opened
 * (native stacks only): mst_target_py is then NULL and mst_target_py_error
 * says why (its code: -MST_ENOPYTHON, -MST_EUNSUPPORTED, ...); whether that
 * is fatal is the caller's call. Fails (with what the user should read) when
 * the process cannot be attached or read, or exits while it is opened:
 * -MST_EGONE then, with "process N exited during the snapshot". Before
 * the process is attached and read, the codes are mst_proc_open's (-ESRCH
 * no such process, -EPERM...). */
int mst_target_open(const struct mst_target_opts *o, struct mst_target **out, struct mst_err *err);
/* Release everything, in the reverse order of opening; detaches every
 * thread still attached. NULL is fine. */
void mst_target_close(struct mst_target *t);

/* Borrowed, valid until close (the unwinder until mst_target_drop_unwinder). */
pid_t mst_target_pid(const struct mst_target *t);
struct mst_proc *mst_target_proc(struct mst_target *t);         /* NULL for a core */
struct mst_corefile *mst_target_corefile(struct mst_target *t); /* NULL for a process */
struct mst_maps *mst_target_maps(struct mst_target *t);
/* Replace the memory map (after a refresh found new mappings); t owns it. */
void mst_target_set_maps(struct mst_target *t, struct mst_maps *maps);
struct mst_py *mst_target_py(struct mst_target *t);
/* Why there is no decoder: code 0 when there is one. */
const struct mst_err *mst_target_py_error(const struct mst_target *t, int *code);
/* A target opened without a readable Python: look again, in the memory map
 * it has now (after an exec, a dlopen of libpython, or once its runtime is
 * initialized). 0 when there is a decoder now, else its error's code
 * (mst_target_py_error says why). */
int mst_target_retry_py(struct mst_target *t);
struct mst_unwinder *mst_target_unwinder(struct mst_target *t);
struct mst_symbols *mst_target_symbols(struct mst_target *t);
/* Free the unwinder early (--dump: once every thread is let go). */
void mst_target_drop_unwinder(struct mst_target *t);

#endif
