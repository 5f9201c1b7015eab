/* The live sampler: ties proc, unwind, py, merge and agg together at a rate.
 * One tick samples every thread of the target (each stopped only while it is
 * read, or none with nonblocking) and feeds the merged stacks to the agg. It
 * keeps its own statistics. Single-threaded: the UI loop calls
 * mst_sampler_tick when mst_sampler_next_due says so. */
#ifndef MSTTOP_SAMPLER_H
#define MSTTOP_SAMPLER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msttop/agg.h"
#include "msttop/err.h"
#include "msttop/record.h"

/* How threads are sampled (perf.h): by stopping each with ptrace, or by
 * perf events and BPF, stopping none; auto: perf where this build and the
 * machine permit it, else ptrace (mst_sampler_stats says which and why). */
enum mst_sampler_backend { MST_BACKEND_PTRACE, MST_BACKEND_PERF, MST_BACKEND_AUTO };

struct mst_sampler_opts {
	pid_t pid;
	double rate_hz;       /* samples per second, default 100 */
	bool nonblocking;     /* read Python frames only, stop nothing */
	const char *log_path; /* diagnostics file, or NULL */
	/* Also every descendant of pid, found at each refresh (every half
	 * second), each attached as it appears; one that exits stays in the
	 * agg with its threads ended. */
	bool subprocesses;
	enum mst_sampler_backend backend;
};

/* What the header shows about the target; stable for the sampler's life
 * except where noted. */
struct mst_target_info {
	pid_t pid;
	char cmdline[512];
	bool has_python;
	char py_version[32]; /* "3.11.7", "" without Python */
	char py_msg[256];    /* why there is no Python view, "" if there is */
	int py_code;         /* and its code: -MST_ENOPYTHON (none found), ... */
	char py_note[256];   /* what the Python view lacks (py.h), "" if nothing */
};

struct mst_sampler_stats {
	uint64_t ticks;          /* samples of the whole process */
	uint64_t thread_samples; /* thread stacks read */
	uint64_t thread_stops;   /* of which stopped; the others were blocked
	                          * where they were (snapshot.h, memo) or read
	                          * without stopping (--nonblocking) */
	uint64_t misses;         /* a thread vanished or its memory changed under us */
	uint64_t errors;         /* other failures */
	double rate_asked;
	double rate_achieved; /* over the last second or so */
	/* From the end of the first second (attaching to every thread and
	 * the first full reads are behind) to the last tick; 0 before. */
	double rate_steady;
	uint64_t tick_ns_last, tick_ns_avg;  /* time spent in one tick */
	uint64_t pause_ns_p50, pause_ns_p99; /* per-thread stop-to-resume time */
	size_t threads;                      /* threads in the last tick */
	bool target_exited;                  /* the process is gone; data is kept */
	bool gc_known;                       /* a tick could read the collector's flag */
	bool exit_known;                     /* msttop collected the target's exit (it is */
	int exit_status;                     /* its parent: --): a waitpid status */
	char status[256];                    /* last diagnostic, "" if none */
	enum mst_sampler_backend backend;    /* the one in use: ptrace or perf */
	char backend_why[256];               /* why auto chose ptrace, "" otherwise */
	/* ptrace and --nonblocking with 64 threads or more: the scheduler
	 * program follows the threads (perf.h, switches only), so an idle
	 * thread costs no read a tick; else why not ("" with fewer). */
	bool sched_watch;
	char sched_why[256];
	uint64_t sched_unrun;                       /* thread samples that read nothing for it */
	uint64_t perf_samples, perf_dropped;        /* perf: samples drained, lost */
	uint64_t perf_frames, perf_frames_in_place; /* mst_perf_stats */
	uint64_t perf_codes, perf_codes_held;       /* codes copied, held */
	/* perf above 100 Hz: instants a tick slept through and replayed, and
	 * the thread samples decoded for them. */
	uint64_t replayed, replay_samples;
	/* With $MSTTOP_VERIFY_WALKS set: walks ended from a thread's last one
	 * (unwind.h), stepped again to check, and those that differed (over
	 * the threads of the last tick). */
	uint64_t walk_verified, walk_differed;
};

struct mst_sampler;

int mst_sampler_open(const struct mst_sampler_opts *o, volatile sig_atomic_t *cancel,
                     struct mst_sampler **out, struct mst_err *err);
/* Detaches from the target (every thread left running) and frees. */
void mst_sampler_close(struct mst_sampler *s);

/* Once the target has exited: collect the exits of its threads that are
 * still traced, and return how many are left. A traced process that exits
 * is reported to its tracer first: its parent can reap it only once msttop
 * has collected it, so the live view calls this on every turn of its loop
 * (it never blocks) until it returns 0, however long the dying threads
 * take. 0 while the target lives. */
size_t mst_sampler_reap(struct mst_sampler *s);

/* Monotonic ns (CLOCK_MONOTONIC) when the next tick is due. With the perf
 * back end above 100 Hz, a tick is due every 20 ms and replays the
 * intervals in between from their samples (stats: replayed). */
uint64_t mst_sampler_next_due(const struct mst_sampler *s);
/* Take one tick now (now_ns from CLOCK_MONOTONIC). Errors of single threads
 * are counted, not returned; returns -ESRCH once the target has exited
 * (stats.target_exited is then set and later ticks do nothing), -MST_EINTR
 * when cancelled. */
int mst_sampler_tick(struct mst_sampler *s, uint64_t now_ns, struct mst_err *err);

/* The aggregation the ticks feed (borrowed; the UI reads it). */
struct mst_agg *mst_sampler_agg(struct mst_sampler *s);
const struct mst_target_info *mst_sampler_target(const struct mst_sampler *s);
/* The processes sampled: 0 is the target, then its descendants as they
 * were found (--subprocesses). *exited (may be NULL) says whether it is
 * gone. NULL past the last. */
size_t mst_sampler_nprocs(const struct mst_sampler *s);
const struct mst_target_info *mst_sampler_proc(const struct mst_sampler *s, size_t i, bool *exited);
/* The processes sampled as a recording names them (record.h), at most
 * max, into out; their strings are the sampler's. Returns how many. */
size_t mst_sampler_record_procs(const struct mst_sampler *s, struct mst_record_proc *out,
                                size_t max);
void mst_sampler_stats(const struct mst_sampler *s, struct mst_sampler_stats *out);
/* Feed r the ticks the agg gets, from the next one on (borrowed: r must
 * outlive the sampler's ticks). At most MST_SAMPLER_RECORDS_MAX: the
 * recording of --record, and the live view's own for its 'w' key.
 * 0 or -ENOSPC. */
#define MST_SAMPLER_RECORDS_MAX 2
int mst_sampler_add_record(struct mst_sampler *s, struct mst_record *r);
/* Stop feeding r (NULL or not fed: nothing happens). */
void mst_sampler_remove_record(struct mst_sampler *s, const struct mst_record *r);
/* Pause: ticks are skipped (the target is left alone) until resumed. */
void mst_sampler_pause(struct mst_sampler *s, bool paused);
bool mst_sampler_paused(const struct mst_sampler *s);

#endif
