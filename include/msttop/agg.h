/* The model behind the live view: frame interning, own/total counts per thread
 * and for the process in two windows (recent, since start) and two modes (by
 * line, by function), thread shares (active, GIL, GC) and per-thread call
 * trees. The sampler feeds it one tick at a time; the UI reads snapshots of
 * it at its own pace. It knows nothing of how the frames were obtained.
 *
 * Lifetimes, once for the whole header:
 * - Everything the caller passes in (strings, frame arrays) is borrowed for
 *   the duration of the call only; the agg copies what it keeps.
 * - Frame strings handed out (function, file, module) are interned and stay
 *   valid, across mst_agg_reset, until their frames are evicted (see
 *   max_frames), which only happens inside mst_agg_add_thread and
 *   mst_agg_add, or until mst_agg_free.
 * - Row arrays returned by mst_agg_hot, mst_agg_threads,
 *   mst_agg_tree_children and mst_agg_thread_stack are owned by the agg and
 *   stay valid until the next call of the same function or mst_agg_free:
 *   they are copies, so ticks and resets do not change them (the strings
 *   they point to are the frames', above), and reads of different kinds do
 *   not invalidate each other.
 * - Frame ids are stable until their frame is evicted (see max_frames; the
 *   id may then be reused for another frame) or mst_agg_free; tree node ids
 *   until the next mst_agg_add_thread or mst_agg_add (which may prune trees)
 *   or mst_agg_reset. Everything read between two ticks is consistent.
 *
 * Memory is bounded by the configuration and stops growing once the caps
 * are reached: when a table is full, the coldest of what was not counted in
 * the recent window (fewest samples since start) is merged into the
 * "(other frames)" frame, the thread's "(other frames)" entry or an
 * "(other)" tree node, and its room reused. Own counts and shares stay
 * exact; a merged "(other frames)" total is held to the scope's samples.
 *
 * Not thread-safe: the live loop is single-threaded. */
#ifndef MSTTOP_AGG_H
#define MSTTOP_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msttop/err.h"
#include "msttop/tstate.h"

struct mst_agg;

/* ---- input ---- */

enum mst_agg_kind { MST_AGG_NATIVE = 0, MST_AGG_PYTHON = 1 };

/* One merged frame. */
struct mst_agg_frame_in {
	uint8_t kind;         /* enum mst_agg_kind */
	bool inlined;         /* native: an inlined call site (part of the frame's identity) */
	bool folded;          /* hidden in the folded view (merge's MST_MF_FOLDED) */
	uint32_t line;        /* 0 when unknown */
	const char *function; /* NULL when unknown (interned as "") */
	const char *file;
	const char *module;
	/* Where in file its short form starts, for the screen
	 * ("requests/sessions.py", "Objects/obmalloc.c"); 0: all of it. */
	uint16_t file_short;
	/* Native: the address as unwound, and as a link-time address of its
	 * module. Not part of the frame's identity: the agg ignores them; the
	 * recorder's pprof output names its locations and mappings with them. */
	uint64_t addr, module_off;
	/* The interpreter's own code: hidden in the user view (attrib.h). */
	bool interp;
};

/* One thread in one tick; frames innermost first. */
struct mst_agg_thread_in {
	pid_t tid;
	const char *name; /* may be NULL; kept truncated to MST_AGG_NAME_MAX - 1 bytes */
	uint32_t state;   /* MST_TS_* flags (tstate.h); the first MST_TS_SHARED are counted */
	const struct mst_agg_frame_in *frames;
	size_t nframes;
	pid_t pid; /* its process (several with --subprocesses); 0: not known */
	/* The caller's word that frames are those of this thread's sample at
	 * the last tick, unchanged: they are then not looked at, and their
	 * count may wait until the second ends or a query asks (the query
	 * functions count what waits first). With frames NULL: the frames
	 * of this thread's last sample, which the agg keeps (a caller need
	 * not keep them); -ENODATA when it has none (a thread it never had,
	 * or evicted), and then nothing is counted. */
	bool unchanged;
};

/* Zero (or a NULL config) means the default shown. The caps bound memory;
 * past each, the coldest go to the overflow (see above). */
struct mst_agg_config {
	uint32_t recent_s;           /* 5: the recent window, in whole seconds */
	uint32_t max_frames;         /* 2048 frames held per mode (by line, by function) */
	uint32_t max_thread_entries; /* 256 counted frames per thread and mode */
	uint32_t max_threads;        /* 4096 threads kept; the least recently seen is evicted */
	uint32_t max_tree_nodes;     /* 1024 call-tree nodes per thread and mode */
	uint32_t max_depth;          /* 2048 frames of one stack; outermost ones beyond dropped */
	uint64_t end_after_ns;       /* 2 s unseen: a thread is marked ended */
	/* false: a sample that repeats its thread's last (told unchanged, or
	 * found so) waits to be counted with the next that does not (the
	 * same figures, fewer cell updates); a thread only ever seen in one
	 * stack keeps no cells of its own, they are read from its sample
	 * counts (a "lean" thread). true: each counted at once in the
	 * thread's own cells, the reference the tests compare with. */
	bool count_each;
};

/* The ids of the frame every overflow (max_frames, max_thread_entries) is
 * counted under, in both modes; its function is "(other frames)". It is
 * never evicted. */
#define MST_AGG_OTHER_FRAME 0u
/* A top frame id meaning "no frame" (empty stack). */
#define MST_AGG_NONE UINT32_MAX
/* Call-tree frame ids of the root and of an "(other)" overflow node. */
#define MST_AGG_TREE_ROOT_FRAME (UINT32_MAX - 1)
#define MST_AGG_TREE_OTHER (UINT32_MAX - 2)
/* The node id of every call tree's root. */
#define MST_AGG_TREE_ROOT 0u
#define MST_AGG_NAME_MAX 64

int mst_agg_new(const struct mst_agg_config *cfg, struct mst_agg **out, struct mst_err *err);
void mst_agg_free(struct mst_agg *a);

/* One tick: begin, one add_thread per thread sampled, end. now_ns is a
 * monotonic timestamp (it places the tick in the recent window); weight_ns
 * is the tick's duration (the sampling interval) and is the time every
 * thread of the tick is counted for, next to a count of 1. Once every frame
 * is interned and every thread known, a tick allocates nothing. add_thread
 * is all or nothing: on an error nothing of that thread was counted.
 * Errors: -EINVAL (add_thread outside begin/end), -ENOMEM. */
void mst_agg_begin(struct mst_agg *a, uint64_t now_ns, uint64_t weight_ns);
int mst_agg_add_thread(struct mst_agg *a, const struct mst_agg_thread_in *t, struct mst_err *err);
void mst_agg_end(struct mst_agg *a);
/* The three above for a whole tick; stops at the first thread that fails. */
int mst_agg_add(struct mst_agg *a, uint64_t now_ns, uint64_t weight_ns,
                const struct mst_agg_thread_in *threads, size_t nthreads, struct mst_err *err);

/* The sampler knows a thread is gone: mark it ended now (its counts stay). */
void mst_agg_end_thread(struct mst_agg *a, pid_t tid);

/* Forget every count, share, call tree and thread; keep interned frames and
 * the clock. */
void mst_agg_reset(struct mst_agg *a);

/* ---- reading ---- */

/* Recent: the last recent_s whole seconds and the current one, with times
 * kept to the microsecond; cumulative: since start or reset, to the ns. */
enum mst_agg_window { MST_AGG_RECENT = 0, MST_AGG_CUMULATIVE = 1 };
enum mst_agg_mode { MST_AGG_BY_LINE = 0, MST_AGG_BY_FUNC = 1 };
/* Which samples count: all, only those where the thread was active, only
 * those where it held the GIL. */
enum mst_agg_subset { MST_AGG_ALL = 0, MST_AGG_ONLY_ACTIVE = 1, MST_AGG_ONLY_GIL = 2 };
/* Which frame gets own time, and which rows are listed: every frame (own to
 * the innermost), the folded view (own to the innermost frame not folded;
 * frames never seen unfolded are not listed), the user view (own to the
 * innermost frame that is not the interpreter's own code: the Python frame
 * it runs, or an extension's frame; frames only ever seen as the
 * interpreter's are not listed), Python only (own to the
 * innermost Python frame; native frames are not listed). Totals are the
 * same in every view. */
enum mst_agg_view {
	MST_AGG_VIEW_ALL = 0,
	MST_AGG_VIEW_FOLDED = 1,
	MST_AGG_VIEW_PYTHON = 2,
	MST_AGG_VIEW_USER = 3,
};
enum mst_agg_sort {
	MST_AGG_SORT_OWN = 0,      /* own samples, most first */
	MST_AGG_SORT_TOTAL = 1,    /* total samples, most first */
	MST_AGG_SORT_OWN_NS = 2,   /* own time, most first */
	MST_AGG_SORT_TOTAL_NS = 3, /* total time, most first */
	MST_AGG_SORT_NAME = 4,     /* function, then file and line, A to Z ignoring case */
};

/* An interned frame. In by-function mode line is 0 and inlined false. */
struct mst_agg_frame {
	uint32_t id;    /* in the mode it was asked for */
	uint32_t fn_id; /* its by-function id (equal to id in by-function mode) */
	uint8_t kind;   /* enum mst_agg_kind */
	bool inlined;
	uint32_t line;
	const char *function, *file, *module; /* never NULL */
	const char *short_file;               /* the end of file the main screen shows */
};

/* A sample count and the time it stands for. */
struct mst_agg_count {
	uint64_t samples;
	uint64_t ns;
};

struct mst_agg_hot {
	struct mst_agg_frame frame;
	uint64_t own_samples, total_samples;
	uint64_t own_ns, total_ns;
};

struct mst_agg_query {
	pid_t tid; /* 0: the whole process */
	pid_t pid; /* with tid 0: only the threads of this process; 0: every one */
	enum mst_agg_window window;
	enum mst_agg_mode mode;
	enum mst_agg_subset subset;
	enum mst_agg_view view;
	enum mst_agg_sort sort;
	const char *filter; /* NULL or "": none; else a substring of function, file or
	                       module, ignoring case */
	size_t limit;       /* 0: every row */
};

/* The hot frames of the scope, sorted (the hottest by the key first),
 * without frames that have no sample in the window. *scope gets the
 * samples and time of the scope in the window and subset: the denominator
 * of %own and %total. With several threads the process's frames can add up
 * to more than 100% of the ticks, never of *scope.
 * Errors: -ENOENT (no such thread), -ENOMEM. */
int mst_agg_hot(struct mst_agg *a, const struct mst_agg_query *q, const struct mst_agg_hot **rows,
                size_t *nrows, struct mst_agg_count *scope, struct mst_err *err);

/* One row of the thread table; shares are over the window asked for, as
 * counts and as percentages of samples (0 when there are none). */
struct mst_agg_thread {
	pid_t tid;
	pid_t pid; /* as last given (mst_agg_thread_in) */
	char name[MST_AGG_NAME_MAX];
	uint32_t state;  /* flags of the last sample */
	bool ended;      /* unseen for end_after_ns, or ended by the sampler */
	uint32_t top_id; /* by-line id of the innermost frame of the last sample, or MST_AGG_NONE */
	uint64_t first_ns, last_ns;  /* first and last sample */
	struct mst_agg_count window; /* samples and time in the window */
	uint64_t active, gil_held, gil_wait, gil_drop, in_gc, has_python; /* samples */
	double active_pct, gil_pct, gil_wait_pct, gil_drop_pct, gc_pct;
};

/* Every known thread (ended ones too), by tid. Errors: -ENOMEM. */
int mst_agg_threads(struct mst_agg *a, enum mst_agg_window w, const struct mst_agg_thread **rows,
                    size_t *nrows, struct mst_err *err);

/* Process-wide figures over a window. */
struct mst_agg_totals {
	struct mst_agg_count ticks;   /* ticks (mst_agg_begin/end pairs) */
	struct mst_agg_count samples; /* thread samples */
	uint64_t gil_ticks;           /* ticks where some thread held the GIL */
	uint64_t gc_ticks;            /* ticks where some thread was in GC */
	double gil_pct, gc_pct;       /* of ticks */
	size_t threads, threads_live;
	uint64_t first_ns, last_ns; /* first and last tick since start or reset */
};

void mst_agg_totals(const struct mst_agg *a, enum mst_agg_window w, struct mst_agg_totals *out);

/* The frame with this id in this mode. Errors: -ENOENT. */
int mst_agg_frame(struct mst_agg *a, enum mst_agg_mode mode, uint32_t id,
                  struct mst_agg_frame *out);

/* The last stack of a thread, innermost first, as by-line ids (map with
 * mst_agg_frame, whose fn_id gives the by-function id).
 * Errors: -ENOENT (no such thread), -ENOMEM. */
struct mst_agg_stack_frame {
	uint32_t id;
	bool folded;
	bool interp;
};
int mst_agg_thread_stack(struct mst_agg *a, pid_t tid, const struct mst_agg_stack_frame **frames,
                         size_t *nframes);

/* Call trees (since start only): a prefix tree per thread and mode of frame
 * ids from the outermost frame inwards. self counts samples whose stack ends
 * at the node. When a tree is full, the rest of a new stack is counted in an
 * "(other)" child (frame MST_AGG_TREE_OTHER) of the deepest node it reached,
 * and after that sample the coldest subtrees (and those of evicted frames)
 * are folded into "(other)" children of where they hung, so new paths find
 * room again; the path of the thread's last stack is kept. */
struct mst_agg_node {
	uint32_t node;  /* pass to mst_agg_tree_children */
	uint32_t frame; /* id in the tree's mode, MST_AGG_TREE_OTHER or MST_AGG_TREE_ROOT_FRAME */
	uint32_t parent;
	uint64_t self_samples, total_samples;
	uint64_t self_ns, total_ns;
	bool has_children;
};

/* One node (MST_AGG_TREE_ROOT: the thread's whole count). Errors: -ENOENT. */
int mst_agg_tree_node(struct mst_agg *a, pid_t tid, enum mst_agg_mode mode, uint32_t node,
                      struct mst_agg_node *out);
/* The children of a node, by total samples (most first), without empty
 * ones. Errors: -ENOENT (no such thread or node), -ENOMEM. */
int mst_agg_tree_children(struct mst_agg *a, pid_t tid, enum mst_agg_mode mode, uint32_t node,
                          const struct mst_agg_node **rows, size_t *nrows, struct mst_err *err);

/* Sizes, to watch memory stay flat, and what was cut to keep it so. */
struct mst_agg_stats {
	size_t frames, funcs, strings; /* interned now */
	size_t threads;
	size_t thread_entries; /* counted (thread, frame, mode) entries, overflow ones too */
	size_t tree_nodes;     /* over every thread and mode */
	size_t rings;          /* recent-window blocks, in use and spare */
	size_t bytes;          /* held by the agg (allocated capacity, not malloc's overhead) */
	uint64_t ticks;        /* since mst_agg_new */
	/* Frames and entries counted as "(other frames)" for want of room in
	 * their sample (room is made after it). */
	uint64_t frames_over_limit, entries_over_limit;
	uint64_t frames_evicted, entries_evicted, nodes_pruned; /* merged into the overflow */
	uint64_t stacks_truncated, threads_evicted;
	uint64_t threads_uncounted; /* thread samples kept only in the process counts */
	uint64_t repeats_dropped;   /* repeated samples lost for want of a ring */
	uint64_t repeats;           /* samples counted late, as repeats of their thread's last */
	size_t threads_lean;        /* threads whose cells are read from their shares (agg.c) */
	uint64_t threads_unleaned;  /* lean threads given tables of their own since mst_agg_new */
};

void mst_agg_stats(const struct mst_agg *a, struct mst_agg_stats *out);

#endif
