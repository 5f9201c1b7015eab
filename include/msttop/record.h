/* Recording: what the sampler sees, kept to be written to a file in the
 * formats people open (flame graph SVG, speedscope, collapsed stacks,
 * Chrome/Perfetto trace with per-thread GIL/GC spans, pprof). It takes the
 * same ticks the agg does (mst_agg_thread_in) and keeps, with bounded
 * memory:
 * - every distinct stack once per thread and state, with its samples and
 *   time (what the aggregating formats are written from);
 * - the stacks of the last recent_s seconds with their times, so that a
 *   file can hold the live view's recent window too;
 * - a timeline for the trace format: runs of equal consecutive stacks and
 *   spans of thread states per thread, capped at max_events (the notice
 *   says what was cut).
 * Frames are kept by line: function, file, line and module. Which frames
 * and samples a file holds is chosen when it is written (select).
 * Not thread-safe: fed and written from the live loop. */
#ifndef MSTTOP_RECORD_H
#define MSTTOP_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "msttop/agg.h"
#include "msttop/err.h"

enum mst_record_format {
	MST_RECORD_FLAMEGRAPH = 0, /* one self-contained SVG */
	MST_RECORD_SPEEDSCOPE,     /* speedscope's JSON file format */
	MST_RECORD_COLLAPSED,      /* folded stacks: "a;b;c 12" */
	MST_RECORD_CHROME,         /* Trace Event Format JSON (Perfetto, chrome://tracing) */
	MST_RECORD_PPROF,          /* gzipped profile.proto */
};

/* By name ("flamegraph", "svg", "speedscope", "collapsed", "folded",
 * "chrome", "perfetto", "pprof"): 0 or -EINVAL. */
int mst_record_format_parse(const char *name, enum mst_record_format *out);
/* From a file name's ending (.svg, .speedscope.json, .folded, .collapsed,
 * .trace.json, .json, .pb.gz, .pprof); flamegraph when none matches. */
enum mst_record_format mst_record_format_guess(const char *path);
const char *mst_record_format_name(enum mst_record_format f);
/* The file name ending written for f: ".svg", ".speedscope.json"... */
const char *mst_record_format_ext(enum mst_record_format f);

struct mst_record_config {
	uint32_t recent_s; /* 5: the recent window kept, in whole seconds */
	size_t max_events; /* 1,000,000 timeline events, then the timeline stops */
	size_t max_stacks; /* 500,000 distinct stacks, then "(other stacks)" */
	bool no_timeline;  /* keep no timeline (the live view's 'w' has no use for it) */
};

/* What a file holds of a recording: every sample is kept with its frames
 * (folded ones marked) and whether the thread was on a CPU, so that the
 * same recording can be written as the live view shows it at the moment. */
struct mst_record_select {
	bool recent;            /* the recent window only (else since start or reset);
	                         * the timeline (chrome) is always since start */
	bool idle;              /* idle samples too (default: on-CPU only) */
	bool gil_only;          /* only samples where the thread held the GIL (the live view's g) */
	enum mst_agg_view view; /* which frames: every one, folded, Python only, the user's */
};

/* What the file says about the recording; borrowed for the write. */
struct mst_record_meta {
	pid_t pid;
	const char *cmdline;    /* "" if unknown */
	const char *py_version; /* "3.12.1", "" without Python */
	double rate_hz;         /* asked */
	const char *sampler;    /* "ptrace", "nonblocking" */
	/* Every process sampled (--subprocesses), the first one pid's; NULL
	 * and 0: pid alone. For the trace's process names. */
	const struct mst_record_proc {
		pid_t pid;
		const char *cmdline;
		const char *py_version;
	} * procs;
	size_t nprocs;
};

struct mst_record;

int mst_record_new(const struct mst_record_config *cfg, struct mst_record **out,
                   struct mst_err *err);
void mst_record_free(struct mst_record *r);

/* One tick, as the agg gets it (agg.h): begin, one add_thread per thread,
 * end. now_ns monotonic; weight_ns the time each sample stands for.
 * Errors: -ENOMEM (nothing of the thread was kept). */
void mst_record_begin(struct mst_record *r, uint64_t now_ns, uint64_t weight_ns);
int mst_record_add_thread(struct mst_record *r, const struct mst_agg_thread_in *t,
                          struct mst_err *err);
void mst_record_end(struct mst_record *r);
/* Forget everything recorded (the live view's 'r'); keep the frames. */
void mst_record_reset(struct mst_record *r);

/* Write what was recorded to f in format fmt, as sel chooses. 0, or a
 * negative errno of the write (err says which). */
int mst_record_write(struct mst_record *r, FILE *f, enum mst_record_format fmt,
                     const struct mst_record_meta *meta, const struct mst_record_select *sel,
                     struct mst_err *err);
/* The same into a file at path, created or truncated (written to a
 * temporary beside it and renamed, so a reader never sees half a file). */
int mst_record_write_path(struct mst_record *r, const char *path, enum mst_record_format fmt,
                          const struct mst_record_meta *meta, const struct mst_record_select *sel,
                          struct mst_err *err);
/* Whether path can be written (its directory exists and is writable, and
 * the file, if there, may be replaced): 0, or -errno with err saying why.
 * For checking before an hour of sampling, not after. */
int mst_record_check_path(const char *path, struct mst_err *err);

/* A recording as one call tree, for the live view's flame view: the root
 * (every sample), then threads (when the whole process is asked for), then
 * frames from the outermost in, as the selection chooses them. Children
 * are listed by samples, most first. */
enum mst_record_node_kind {
	MST_RECORD_NODE_ROOT = 0,
	MST_RECORD_NODE_THREAD,
	MST_RECORD_NODE_PYTHON,
	MST_RECORD_NODE_NATIVE,
	MST_RECORD_NODE_OTHER, /* "(other stacks)" */
};

#define MST_RECORD_NO_NODE UINT32_MAX

struct mst_record_node {
	uint32_t parent, first_child, next_sibling; /* MST_RECORD_NO_NODE: none */
	uint32_t depth;                             /* the root's is 0 */
	uint8_t kind;                               /* enum mst_record_node_kind */
	uint32_t line;                              /* 0 by function, or unknown */
	/* Frames: the recording's strings, valid until it is freed; "" when
	 * unknown. Threads: its name, and tid. */
	const char *function, *file, *module;
	char thread[64];
	pid_t tid;
	uint64_t samples, self; /* in it and under it; only in it */
};

struct mst_record_tree {
	struct mst_record_node *v; /* v[0] is the root */
	size_t n, cap;
};

/* The tree of what sel chooses, of thread tid (0: the process, threads as
 * the first level), frames merged by function, or by line with by_line.
 * out is reused across calls (its storage kept); 0 or -ENOMEM. */
int mst_record_tree(struct mst_record *r, const struct mst_record_select *sel, pid_t tid,
                    bool by_line, struct mst_record_tree *out, struct mst_err *err);
void mst_record_tree_fini(struct mst_record_tree *t);

struct mst_record_stats {
	uint64_t ticks, samples; /* kept since start or reset */
	uint64_t idle;           /* of which idle */
	size_t stacks, frames;   /* distinct */
	size_t events;           /* timeline events kept */
	uint64_t events_dropped; /* timeline events past max_events */
	uint64_t stacks_over;    /* samples counted as "(other stacks)" */
	size_t bytes;            /* held */
};
void mst_record_stats(const struct mst_record *r, struct mst_record_stats *out);

#endif
