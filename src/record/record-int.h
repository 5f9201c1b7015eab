/* What the writers of src/record read: one view of a recording, built by
 * record.c at write time. Each format is a file of its own with one entry
 * point, rec_write_<format>(f, view, err): 0, or a negative errno (err says
 * which) when writing failed. A writer never changes the view. */
#ifndef MSTTOP_RECORD_INT_H
#define MSTTOP_RECORD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "msttop/err.h"
#include "msttop/record.h"

enum rec_kind { REC_NATIVE = 0, REC_PYTHON = 1 };

struct rec_frame {
	uint8_t kind;                         /* enum rec_kind */
	bool inlined;                         /* native: inlined into the frame outside it */
	uint32_t line;                        /* 0 when unknown */
	const char *function, *file, *module; /* never NULL; "" when unknown */
	/* Native: an address seen for the frame (the first), as unwound, and
	 * the same as a link-time address of its module (addr2line's): their
	 * difference is the module's load bias. 0 for Python frames. */
	uint64_t addr, module_off;
};

struct rec_thread {
	pid_t tid;
	pid_t pid;                  /* its process; 0 when not known */
	bool show_pid;              /* the recording holds several processes: labels name it */
	char name[64];              /* Python's name, else the kernel's comm */
	uint64_t samples, ns;       /* kept in the view */
	uint64_t first_ns, last_ns; /* since the recording's start */
};

/* The states the trace shows as spans, and pprof as labels. */
enum rec_state {
	REC_ST_GIL = 0, /* holds the GIL */
	REC_ST_WAIT,    /* waits for the GIL (or is dropping it) */
	REC_ST_GC,      /* runs the collector */
	REC_ST_IDLE,    /* sleeps in a system call */
	REC_ST_N
};
/* "holds GIL", "waits for GIL", "in GC", "idle" */
extern const char *const rec_state_names[REC_ST_N];
/* The rec_state bits (1 << REC_ST_*) of MST_TS_* flags. */
unsigned rec_states_of(uint32_t ts);

/* One distinct stack of one thread in one state set. */
struct rec_stack {
	uint32_t thread;        /* index into view.threads */
	uint32_t states;        /* 1 << REC_ST_* bits of its samples */
	bool other;             /* "(other stacks)": stacks past max_stacks */
	const uint32_t *frames; /* ids into view.frames, root (outermost) first */
	uint32_t nframes;
	uint64_t samples, ns;
};

enum rec_event_kind { REC_EV_STACK = 0, REC_EV_STATE = 1 };

/* A span of the timeline. Stack events: consecutive samples of one thread
 * with the same stack, one event; a gap (the thread was not sampled, or was
 * idle and idle is not recorded) ends it. State events: a state held over
 * consecutive samples. Sorted by start, then thread. */
struct rec_event {
	uint32_t thread;           /* index into view.threads */
	uint8_t kind;              /* enum rec_event_kind */
	uint32_t id;               /* stack: index into view.stacks; state: enum rec_state */
	uint64_t start_ns, dur_ns; /* since the recording's start */
};

struct rec_view {
	const struct mst_record_meta *meta;
	const struct rec_frame *frames;
	size_t nframes;
	const struct rec_thread *threads;
	size_t nthreads;
	const struct rec_stack *stacks;
	size_t nstacks;
	const struct rec_event *events; /* none when the window is recent */
	size_t nevents;
	uint64_t events_dropped; /* past max_events: the timeline ends early */
	uint64_t samples, ns;    /* over every stack */
	uint64_t ticks;
	uint64_t duration_ns;   /* first to last tick of the window, plus one interval */
	uint64_t interval_ns;   /* 1e9 / rate */
	uint64_t start_unix_ns; /* wall clock of the window's first tick */
	bool idle;              /* idle samples are in */
	bool recent;            /* the recent window only */
	const char *view_name;  /* "folded", "all", "Python only" */
};

int rec_write_collapsed(FILE *f, const struct rec_view *v, struct mst_err *err);
int rec_write_svg(FILE *f, const struct rec_view *v, struct mst_err *err);
int rec_write_speedscope(FILE *f, const struct rec_view *v, struct mst_err *err);
int rec_write_chrome(FILE *f, const struct rec_view *v, struct mst_err *err);
int rec_write_pprof(FILE *f, const struct rec_view *v, struct mst_err *err);

/* The call tree of a view (tree.c): see mst_record_tree. */
int rec_build_tree(const struct rec_view *v, pid_t tid, bool by_line, struct mst_record_tree *out);

/* Shared text helpers (text.c of this module). */
/* A frame as the collapsed format writes it: "function (file:line)" for
 * Python, "function [module]" for native (module by its file name); ';'
 * and newlines replaced so the line stays parseable. */
void rec_frame_label(const struct rec_frame *fr, char *buf, size_t len);
/* The thread's root frame: "name (tid N)". */
void rec_thread_label(const struct rec_thread *t, char *buf, size_t len);
/* A module's file name: what follows its path's last '/'. */
const char *rec_base_name(const char *path);
/* The length of the well-formed UTF-8 sequence at p, or 0. */
size_t rec_utf8_len(const unsigned char *p);
/* s with XML's five characters escaped, and control bytes dropped. */
void rec_xml_str(FILE *f, const char *s);
/* The file's write status: 0 or -EIO/-errno with err filled. */
int rec_check_write(FILE *f, const char *what, struct mst_err *err);

#endif
