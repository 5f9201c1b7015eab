/* The thread states users see (design.md), one set of flags for everyone:
 * classify sets them on a snapshot's threads, the agg counts their shares,
 * the screen, --batch and --dump show them. The first six are the ones the
 * agg keeps shares of, in this order. */
#ifndef MSTTOP_TSTATE_H
#define MSTTOP_TSTATE_H

enum {
	MST_TS_RUNNING = 1 << 0,   /* on a CPU (R), as opposed to idle */
	MST_TS_HOLDS_GIL = 1 << 1, /* holds the GIL */
	MST_TS_WAITS_GIL = 1 << 2, /* inside the GIL acquisition path */
	MST_TS_DROPS_GIL = 1 << 3, /* releasing it, waiting for the next holder */
	MST_TS_IN_GC = 1 << 4,     /* this thread runs the collector */
	MST_TS_PYTHON = 1 << 5,    /* has a Python thread state */
	MST_TS_IDLE = 1 << 6,      /* sleeping in a system call, not for the GIL */
	MST_TS_STOPPED = 1 << 7,   /* stopped by someone else (T) */
};

/* How many of the flags, from the first, the agg keeps shares of. */
#define MST_TS_SHARED 6

#endif
