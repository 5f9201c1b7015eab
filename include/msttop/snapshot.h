/* One snapshot of every thread of a target: what --dump prints, and what one
 * tick of the sampler produces. Each thread is stopped only while its
 * registers and the top of its stack are copied and its stack is walked. */
#ifndef MSTTOP_SNAPSHOT_H
#define MSTTOP_SNAPSHOT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msttop/arch.h"
#include "msttop/err.h"
#include "msttop/proc.h"
#include "msttop/unwind.h"

struct mst_thread_snap {
	pid_t tid;
	char comm[16];        /* /proc/PID/task/TID/comm */
	char state;           /* /proc state letter before it was stopped */
	int error;            /* 0, or why the thread has no stack (-ESRCH...) */
	char errmsg[MST_ERR_MSG_MAX];
	struct mst_regs regs;
	uint64_t *pcs;        /* innermost first */
	size_t npcs;
};

struct mst_snapshot {
	pid_t pid;
	char cmdline[512];    /* NUL-separated arguments joined by spaces */
	size_t nthreads;
	struct mst_thread_snap *threads; /* by tid */
};

/* Take a snapshot of every task of p (attached with MST_PROC_ATTACH). A
 * thread that cannot be read is kept with its error; only a cancel
 * (-MST_EINTR) or the whole process being gone fails the call. */
int mst_snapshot_take(struct mst_proc *p, struct mst_unwinder *u, struct mst_snapshot **out,
		      struct mst_err *err);
void mst_snapshot_free(struct mst_snapshot *s);

/* The command line of pid, arguments separated by spaces. */
void mst_read_cmdline(pid_t pid, char *buf, size_t len);

#endif
