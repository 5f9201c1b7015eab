/* One snapshot of every thread of a target: what --dump prints, and what one
 * tick of the sampler produces. Each thread is stopped only while its
 * registers and stack are copied, its native stack walked and its Python
 * frames read, so the two halves of its stack are consistent. */
#ifndef MSTTOP_SNAPSHOT_H
#define MSTTOP_SNAPSHOT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msttop/arch.h"
#include "msttop/corefile.h"
#include "msttop/err.h"
#include "msttop/merge.h"
#include "msttop/proc.h"
#include "msttop/py.h"
#include "msttop/py_locals.h"
#include "msttop/symbols.h"
#include "msttop/tstate.h"
#include "msttop/unwind.h"

/* What the last walk of a thread leaves for the next take. A thread still
 * blocked in the same system call on the same address at the same sp and
 * pc, whose stack words that the walk read are unchanged, has the same
 * native stack: it is not stopped again (its Python frames are still
 * read). Other words may change (a timeout on the stack) without
 * changing the walk. */
struct mst_thread_memo {
	pid_t tid;   /* whose; 0: nothing kept */
	bool walked; /* the walk below is valid */
	size_t npcs;
	struct mst_regs regs;
	struct mst_syscall_line sys; /* read just before it was stopped */
	uint64_t stack_base;
	size_t stack_len; /* bytes from stack_base the walk read */
	/* Where the words the walk read are (offsets from stack_base), and
	 * a 64-bit hash of their values in that order (snap_words_hash): a
	 * thousand idle threads keep 4 bytes a word, not 16. A change of
	 * any of them that leaves the hash as it was is a chance of 2^-64
	 * per take (the hash mixes each word with its place). */
	uint32_t *word_offs;
	size_t nwords, words_cap;
	uint64_t words_hash;
	/* The Python frames last read (still in the slot's py array), and
	 * the thread's CPU time then (mst_proc_task_runtime): a thread that
	 * has not run since cannot have changed them, so a blocked one that
	 * did not run is not read again. */
	bool py_kept;
	uint64_t py_tstate, runtime;
	bool py_read_ok; /* the last read of its Python frames found some */
	/* The thread state matched to it by its tid (3.6-3.10: a read of
	 * glibc's struct per candidate) and its pthread_t then, tried first
	 * next time. */
	uint64_t match_tstate, match_thread;
	size_t npy;
	bool py_truncated;
	int py_error;
	/* A sampled or watched take (perf.h): the thread's switch count
	 * then, when it was off a CPU (sched_off) — unchanged, it has not
	 * run since, and nothing of it is read again — and the state and
	 * system call it was shown in. */
	bool sched_off;
	uint64_t sched_seq;
	char state;
	/* A stopping take: blocked where it was, its CPU time (runtime) read
	 * before the rest: unchanged next time, it is reused whole, GIL
	 * ownership (holds_gil) and state included. */
	bool idle_ok, holds_gil;
	struct mst_syscall_line sched_line;
	/* The sample whose walk (regs, npcs) and Python frames the slot
	 * holds, with its GIL then (0: none). */
	uint64_t sample_ns;
	/* Bytes of its stack from sp minus the red zone that its sampled
	 * walks read (mst_stack_copy.reach), the most of the recent ones:
	 * the most of a walk, decaying by 1/64 a walk (after a deep call,
	 * about 45 walks to halve). How much a sample copies
	 * (mst_perf_thread.stack_bytes). */
	uint32_t stack_need;
	bool sample_gil;
	bool sample_transient; /* its Python frames were caught mid-change */
	/* Its last walk, to end the next one early (mst_unwind_memo): every
	 * take but a --dump's. NULL until its third walk (snap_walk_memo),
	 * and again once the thread has been found blocked where it was in
	 * SNAP_MEMO_IDLE_TAKES takes in a row (reuses counts them): most of
	 * a server's threads are idle for long, and their walks would be a
	 * third of what msttop holds per thread; one that wakes is walked
	 * in full once. */
	struct mst_walk_memo *walk;
	uint32_t reuses;
	uint8_t walks; /* walks of this thread in this slot, up to 255 */
	/* What its last read of its Python frames read, fetched at once the
	 * next time (mst_py_read_frames_fetched), and whose it was. */
	struct mst_py_reads py_reads;
	pid_t py_reads_tid;
};

struct mst_thread_snap {
	pid_t tid;
	char comm[16]; /* /proc/PID/task/TID/comm */
	char state;    /* /proc state letter before it was stopped */
	int error;     /* 0, or why the thread has no native stack */
	/* Shorter than an mst_err's: one per thread, and a thread's errors
	 * are short ("thread has exited", a stop's failure). */
	char errmsg[256];
	struct mst_regs regs;
	uint64_t *pcs; /* native, innermost first */
	/* Per pc: 1 when it is the instruction itself (innermost frame, or one
	 * a signal interrupted), 0 for a return address (mst_unwind). */
	uint8_t *pc_exact;
	size_t npcs;
	uint8_t *nkinds; /* enum mst_native_kind per pc (after classify) */

	/* Python, when a thread state belongs to this thread. */
	bool has_py;
	uint64_t tstate;
	char pyname[64];         /* threading name, "" if unknown */
	struct mst_py_frame *py; /* innermost first */
	size_t npy;
	bool py_truncated;
	int py_error;
	bool holds_gil; /* read while this thread was stopped */
	/* Perf back end: it held the GIL at its last sample and does not at
	 * the snapshot's instant: it has dropped it since, and a thread that
	 * drops the GIL waits to take it back (classified as waiting). */
	bool gil_left;
	/* With MST_SNAP_LOCALS: locals[i] are the arguments and locals of
	 * py[i] (nlocals == npy), read in the same stop; NULL otherwise. */
	struct mst_py_locals *locals;
	size_t nlocals;

	unsigned states;   /* MST_TS_* (after classify) */
	uint64_t pause_ns; /* how long it was stopped (0 if not stopped) */
	bool reused;       /* blocked where it was: last take's native stack */
	bool py_reused;    /* and it has not run since: last take's Python frames */
	/* Its Python frames could not be read this time although they could
	 * the last: caught while its interpreter was changing them (3.11-3.12
	 * link an eval loop's _PyCFrame in before setting its frame). The
	 * sampler counts such a thread an error for this tick rather than
	 * show its native stack without its Python one; twice in a row, it
	 * is shown as read. */
	bool py_transient;
	/* Kept for the next take into the same snapshot: pcs, pc_exact and
	 * nkinds hold pcs_cap frames (as many as the thread's deepest walk
	 * so far: a thousand idle threads would otherwise hold 5 KB each
	 * for 512 frames), py holds py_cap frames. */
	size_t pcs_cap, py_cap;
	pid_t comm_tid; /* whose comm the slot holds */
	struct mst_thread_memo memo;
};

struct mst_snap_sched;
struct mst_snap_pyindex;

struct mst_snapshot {
	pid_t pid;
	char cmdline[512];
	/* The core file it was read from (borrowed from the target), NULL
	 * for a live process. */
	const struct mst_corefile *core;
	size_t nthreads;
	struct mst_thread_snap *threads; /* by tid */

	/* The Python runtime: py_status is 0 when one was found and read,
	 * -MST_ENOPYTHON when there is none, another code when it could not
	 * be decoded (py_msg says why). */
	int py_status;
	char py_msg[MST_ERR_MSG_MAX];
	char py_version[32];
	char py_note[256]; /* what this build keeps from view (py.h), or "" */
	bool gc_known, gc_collecting;
	bool gc_thread_unknown; /* collecting, but no thread shows the collector */
	/* Thread states that no OS thread of the snapshot matched (a thread
	 * that just ended, or one created between the two reads). */
	size_t orphan_tstates;

	size_t reused; /* threads not stopped: blocked where they were */
	size_t unrun;  /* of them, known not to have run by their switch count alone */
	/* With MST_SNAP_VERIFY_WALKS: over its threads' walk memos
	 * (unwind.h), walks verified and found different; _gone: those of
	 * memos let go (a thread long blocked where it was keeps none). */
	uint64_t walk_verified, walk_differed;
	uint64_t walk_verified_gone, walk_differed_gone;

	/* Memory kept for the next take into this snapshot. */
	size_t threads_cap;
	uint8_t *stack;
	uint32_t *reads; /* MST_STACK_READS_MAX offsets of one walk */
	/* One walk's frames, MST_MAX_NATIVE_FRAMES long, before they are
	 * kept in its thread's arrays (snap_walk). */
	uint64_t *wpcs;
	uint8_t *wexact;
	struct mst_py_frame *scratch;
	bool *used;
	size_t used_cap;
	struct mst_snap_sched *sched; /* per thread, for a sampled or watched take */
	/* A sampled take's GIL, for the replays after it (gil_ok: known). */
	struct mst_py_gil gil;
	bool gil_ok;
	size_t sched_cap;
	struct mst_snap_pyindex *pyindex; /* pt's, to match threads (snapshot.c) */
	struct mst_py_threads pt;
};

enum {
	/* Read Python frames without stopping any thread; no native stacks. */
	MST_SNAP_PYTHON_ONLY = 1 << 0,
	/* Skip the threading-module lookup of thread names (pyname stays ""):
	 * the sampler reads names only now and then. */
	MST_SNAP_NO_NAMES = 1 << 1,
	/* Detach each thread once read, instead of resuming it (--dump: no
	 * second round of stops to detach at the end). */
	MST_SNAP_DETACH = 1 << 2,
	/* Read each Python frame's arguments and locals (py_locals.h) with
	 * its frames, while the thread is stopped (--dump --locals): 3.11+
	 * keep them in a data stack the thread reuses once it runs. With
	 * MST_SNAP_PYTHON_ONLY they are read from running threads. */
	MST_SNAP_LOCALS = 1 << 3,
	/* Step again every walk ended from a thread's last walk, and count
	 * those that differ (mst_walk_memo_new): a test's check. */
	MST_SNAP_VERIFY_WALKS = 1 << 4,
};

/* Bytes of locals text kept per thread: past it, the remaining frames
 * say so instead of holding their locals (a 1,000-frame recursion of
 * big values stays bounded). */
#define MST_SNAP_LOCALS_THREAD_MAX (4u << 20)

/* Take a snapshot of every task of p. u is the unwinder (NULL with
 * MST_SNAP_PYTHON_ONLY); py the decoder, or NULL when the target has no
 * usable runtime (py_status/py_msg are then copied from py_err). A thread
 * that cannot be read is kept with its error; only a cancel (-MST_EINTR) or
 * the whole process being gone fails the call.
 *
 * *out is NULL for a new snapshot, or an earlier one of the same process
 * to take the new one into: its memory is reused, so that once warm a
 * sampler tick allocates nothing, and its command line is kept (as are the
 * threads' comm names with MST_SNAP_NO_NAMES). After a
 * failure an earlier snapshot stays the caller's to free, with no threads. */
int mst_snapshot_take(struct mst_proc *p, struct mst_unwinder *u, struct mst_py *py,
                      const struct mst_err *py_err, unsigned flags, struct mst_snapshot **out,
                      struct mst_err *err);
/* The same, told what the scheduler saw of each thread (mst_perf_task,
 * with a switches-only struct mst_perf as ctx; task NULL: nothing): a
 * thread found blocked at the last take that has not taken a CPU since is
 * reused without reading its CPU time (without its /proc state, with
 * MST_SNAP_PYTHON_ONLY). */
struct mst_perf_task;
int mst_snapshot_take_watched(struct mst_proc *p, struct mst_unwinder *u, struct mst_py *py,
                              const struct mst_err *py_err,
                              bool (*task)(void *ctx, pid_t tid, struct mst_perf_task *out),
                              void *task_ctx, unsigned flags, struct mst_snapshot **out,
                              struct mst_err *err);
/* The snapshot a core file holds: every thread with its registers, native
 * stack (u may be NULL: Python frames only) and Python frames, as if each
 * had been stopped when the core was written. A thread's state is what its
 * registers say (inside a call that sleeps: 'S', else 'R'); its name is
 * the process's. flags: MST_SNAP_LOCALS or 0. */
int mst_snapshot_take_core(struct mst_corefile *c, struct mst_unwinder *u, struct mst_py *py,
                           const struct mst_err *py_err, unsigned flags, struct mst_snapshot **out,
                           struct mst_err *err);

/* Samples taken without stopping anything (perf.h): for each thread, the
 * newest sample held of it, and whether it arrived since the last take. */
struct mst_bpf_sample;
struct mst_perf_task;
struct mst_perf_codes;
struct mst_snap_samples {
	const struct mst_bpf_sample *(*get)(void *ctx, pid_t tid, bool *fresh);
	/* For a replay: tid's newest sample taken in (lo, hi], or NULL. */
	const struct mst_bpf_sample *(*get_in)(void *ctx, pid_t tid, uint64_t lo, uint64_t hi);
	void *ctx;
	const struct mst_py_capture *cap; /* what the samples copied */
	/* Optional: what the scheduler last saw of tid (mst_perf_task): its
	 * state and system call without reading /proc, its registers when it
	 * left a CPU (complete, where /proc gives a blocked thread's sp and pc
	 * only), and whether it has run since the last take. */
	bool (*task)(void *ctx, pid_t tid, struct mst_perf_task *out);
	void *task_ctx;
	/* Optional: the code objects msttop holds, which samples only name
	 * (mst_perf_codes). */
	struct mst_perf_codes *codes;
};
/* A snapshot of every task of p in which no thread is stopped. A thread
 * running now (/proc) is its newest sample: registers and stack walked over
 * its copy, Python frames and GIL decoded from its copies. A thread blocked in a system call is
 * walked from where /proc says it is (its stack does not change while it
 * is blocked; the last walk is reused while it stays there), its Python
 * frames read as they are. Any other gets its Python frames only. flags:
 * MST_SNAP_NO_NAMES or 0. */
int mst_snapshot_take_sampled(struct mst_proc *p, struct mst_unwinder *u, struct mst_py *py,
                              const struct mst_err *py_err, const struct mst_snap_samples *src,
                              unsigned flags, struct mst_snapshot **out, struct mst_err *err);
/* The instant hi of a sampled snapshot s, between its take and the next (a
 * tick woken once for several intervals replays those it slept through, in
 * order): a thread with a sample taken in (lo, hi] is that sample, decoded
 * as a take does; one that left its CPU at or before hi, blocked in a system
 * call, and has not run since is taken where it blocked, as a take does (a
 * walk the next take finds still valid); every other thread is as the last
 * instant left it (reused). The GIL and the collector are the newest such
 * sample's, else the last instant's. Then classified like a take. Returns how
 * many threads were decoded from a sample. */
size_t mst_snapshot_replay_sampled(struct mst_snapshot *s, struct mst_proc *p,
                                   struct mst_unwinder *u, struct mst_py *py,
                                   const struct mst_snap_samples *src, uint64_t lo, uint64_t hi,
                                   unsigned flags);
void mst_snapshot_free(struct mst_snapshot *s);

/* Whether pcs[k] of t is a return address, to be looked up at pc - 1. Without
 * the unwinder's answer (synthetic snapshots), every pc but the innermost. */
static inline bool mst_thread_pc_is_return(const struct mst_thread_snap *t, size_t k)
{
	return t->pc_exact ? !t->pc_exact[k] : k > 0;
}

/* Fill nkinds and states of every thread: which native frames are the eval
 * loop or interpreter internals, and running / idle / GIL / GC states, from
 * /proc, the registers, the runtime and the native symbols. sym may be NULL
 * (then only what needs no names). */
void mst_snapshot_classify(struct mst_snapshot *s, struct mst_py *py, struct mst_symbols *sym);

/* The merged stack of a classified thread, innermost first (merge.h), into
 * out (at most max: t->npcs + t->npy is enough). entry is scratch for
 * t->npy flags. Native frames are left out when !native. */
void mst_snapshot_merge(const struct mst_thread_snap *t, bool native, bool *entry,
                        struct mst_mframe *out, size_t max, size_t *n);

/* The command line of pid, arguments separated by spaces. */
void mst_read_cmdline(pid_t pid, char *buf, size_t len);

#endif
