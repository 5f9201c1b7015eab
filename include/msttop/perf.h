/* The perf back end of the sampler: nothing is stopped. Each CPU has a
 * clock perf event (PERF_COUNT_SW_CPU_CLOCK, one period per sampling
 * interval; not one per thread, whose clock the kernel would stop and start
 * at each of its context switches) with a BPF program attached that, when
 * the clock fires on a thread of a watched process, copies in that thread's
 * context its
 * user registers, the top of its stack, its Python thread state and frame
 * chain and the GIL's state (src/perf/bpf-abi.h) into a ring buffer that
 * msttop drains at each tick (above 100 Hz a tick covers several
 * intervals, replayed from the samples kept: mst_snapshot_replay_sampled).
 * Another BPF program, on the scheduler's switches, keeps each thread's
 * registers and time as it leaves a CPU, for the threads blocked in a system
 * call, and whether each is on a CPU, in memory msttop reads without a
 * system call (mst_perf_task): a thread that has not run since the last tick
 * costs no read at all. The native stack is walked over the copy and the
 * Python frames decoded from the copies by the same code as for a stopped
 * thread, so both halves are of one instant.
 *
 * A thread that does not run has no samples: the sampler takes it from
 * /proc (snapshot.h, mst_snapshot_take_sampled). Built only with libbpf,
 * clang and bpftool (-Dperf); otherwise every call fails with -ENOTSUP. */
#ifndef MSTTOP_PERF_H
#define MSTTOP_PERF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msttop/arch.h"
#include "msttop/err.h"
#include "msttop/proc.h"
#include "msttop/py.h"
#include "msttop/reader.h"

struct mst_bpf_held;
struct mst_bpf_sample;
struct mst_perf;

struct mst_perf_opts {
	double rate_hz; /* samples per second of a CPU's time (a running thread's) */
	/* Top of the stack copied, 1..8 pages, for a thread whose need is
	 * not known yet (mst_perf_thread.stack_bytes). */
	unsigned stack_pages;
	/* No sampling, only the scheduler program's record of each thread
	 * (mst_perf_task): how the ptrace back end learns that a thread has
	 * not run since the last tick without a read per thread. */
	bool switches_only;
};

/* Whether this build and this machine can run the perf back end: 0, or
 * why not (-ENOTSUP not built in, -EPERM not permitted: what to do, ...). */
int mst_perf_available(struct mst_err *err);

int mst_perf_open(const struct mst_perf_opts *o, struct mst_perf **out, struct mst_err *err);
void mst_perf_close(struct mst_perf *pf);

/* Sample process pid: cap says what to copy of its Python (NULL: native
 * stacks only). */
int mst_perf_watch(struct mst_perf *pf, pid_t pid, const struct mst_py_capture *cap,
                   struct mst_err *err);
/* Stop sampling pid: its threads are forgotten. */
void mst_perf_unwatch(struct mst_perf *pf, pid_t pid);
/* A thread to sample, and what its samples copy. */
struct mst_perf_thread {
	pid_t tid;
	uint64_t tstate; /* its Python thread state; 0: none known */
	/* Bytes of its stack from sp minus the red zone (its walks' need,
	 * mst_thread_memo.stack_need, with room to spare); 0: not known, the
	 * opts' pages. A walk reads what lies beyond from the process. */
	uint32_t stack_bytes;
};

/* The threads of pid to sample now: the others (new ones until the next
 * call, those gone) are not sampled, and their slots are given back. */
int mst_perf_threads(struct mst_perf *pf, pid_t pid, const struct mst_perf_thread *th, size_t n,
                     struct mst_err *err);

/* Hand each sample written since the last drain to fn (the sample is the
 * ring buffer's until fn returns). Returns how many, or a negative code. */
typedef void (*mst_perf_fn)(void *ctx, const struct mst_bpf_sample *s);
int mst_perf_drain(struct mst_perf *pf, mst_perf_fn fn, void *ctx);

/* What the scheduler program last saw of a thread: where /proc would be
 * read per thread per tick (its state, its system call), read from memory
 * msttop shares with the program, no system call. */
struct mst_perf_task {
	/* Changes whenever the thread takes or leaves a CPU: a thread off a
	 * CPU whose seq is unchanged has not run since. */
	uint64_t seq;
	bool switched; /* it has, since it was followed; else nothing below */
	bool on_cpu;   /* on a CPU now */
	/* Off a CPU: since when (CLOCK_MONOTONIC, the samples' clock). */
	uint64_t off_ns;
	/* Off a CPU: its /proc state letter then (R preempted, S, D, T, t;
	 * X exited), its system call then (running: preempted, as /proc
	 * says of a runnable thread) and its user registers. */
	char state;
	struct mst_syscall_line sys;
	struct mst_regs regs;
};
/* Thread tid as last seen: false when it is not followed (a thread newer
 * than the last mst_perf_threads, or beyond MST_BPF_TASKS). pf is a struct
 * mst_perf (the signature of mst_snap_samples.task). */
bool mst_perf_task(void *pf, pid_t tid, struct mst_perf_task *out);

struct mst_perf_stats {
	uint64_t samples; /* drained */
	uint64_t dropped; /* the ring buffer was full */
	/* Python frames the samples copied, and of them those read in place,
	 * in the data stack's one read (3.11+) or the stack's copy (3.12+'s
	 * entry frames), rather than one by one. */
	uint64_t frames, frames_in_place;
	/* Code objects the samples copied, and those they only named,
	 * which msttop held (mst_perf_codes). */
	uint64_t codes, codes_held;
};
void mst_perf_stats(const struct mst_perf *pf, struct mst_perf_stats *out);

/* A reader over what sample s copied (the thread state, the frames, the
 * data stack's top and the stack, in which frames were read in place, the
 * fixed words cap names), and live for everything else: the decoder reads
 * a sample through it (mst_py_swap_reader). Every field of the sample is
 * checked against the bounds of the record: it comes from the kernel, but
 * its values from the target's memory. */
struct mst_perf_codes;
struct mst_perf_overlay {
	const struct mst_bpf_sample *s;
	const struct mst_py_capture *cap;
	struct mst_reader live;
	/* The code objects msttop holds (NULL: a code the sample only named
	 * is read from live). */
	struct mst_perf_codes *codes;
};
struct mst_reader mst_perf_overlay_reader(struct mst_perf_overlay *o);

/* The code objects msttop holds for the BPF program, which then names them
 * in a sample rather than copying them in the sampled thread
 * (bpf-abi.h, mst_bpf_held). A code is held from the copy of the sample
 * that first brings it; a sample that only names it is served from there
 * when the copy was made in this drain, else the code is read from the
 * process again (once a drain): a code object is not changed, but one freed
 * may be replaced by another at its address. What the program sees is a
 * hint; what is served is always a copy of that process's code at that
 * address. held: the program's table (mapped), or NULL. */
struct mst_perf_codes *mst_perf_codes_new(struct mst_bpf_held *held);
void mst_perf_codes_free(struct mst_perf_codes *c);
/* A new drain: every copy held is read again before it serves. */
void mst_perf_codes_next(struct mst_perf_codes *c);
/* The codes sample s copied (len bytes each), held from now on (c NULL or
 * len 0: none held). Returns how many s copied. */
size_t mst_perf_codes_put(struct mst_perf_codes *c, const struct mst_bpf_sample *s, size_t len);
/* The perf back end's codes (its drains call mst_perf_codes_next and _put). */
struct mst_perf_codes *mst_perf_codes_of(struct mst_perf *pf);

/* The samples of each thread of one process since the last take, copied
 * out of the ring buffer by a drain (mst_snap_samples): the newest, and the
 * older ones a tick replays (up to MST_PERF_STORE_QUEUE a thread, the
 * newest kept): as many as the sampler replays at a wake. */
#define MST_PERF_STORE_QUEUE 32
struct mst_perf_store;
struct mst_perf_store *mst_perf_store_new(void);
void mst_perf_store_free(struct mst_perf_store *st);
/* Keep s as its thread's newest (NULL st: nothing). 0 or -ENOMEM. */
int mst_perf_store_put(struct mst_perf_store *st, const struct mst_bpf_sample *s);
/* The newest sample of tid, and whether it came since the last
 * mst_perf_store_taken; NULL if none (the signature of
 * mst_snap_samples.get). */
const struct mst_bpf_sample *mst_perf_store_get(void *st, pid_t tid, bool *fresh);
/* The newest sample of tid taken in (lo, hi] (CLOCK_MONOTONIC ns), NULL if
 * none kept (the signature of mst_snap_samples.get_in). */
const struct mst_bpf_sample *mst_perf_store_get_in(void *st, pid_t tid, uint64_t lo, uint64_t hi);
/* A take has read the samples: none is fresh any more, and only each
 * thread's newest is kept. */
void mst_perf_store_taken(struct mst_perf_store *st);
/* Forget the threads not in tids[0..n). */
void mst_perf_store_keep(struct mst_perf_store *st, const pid_t *tids, size_t n);

#endif
