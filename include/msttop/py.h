/* A CPython runtime inside a target: its thread states, each one's frame
 * chain decoded into (function, file, line), the GIL holder and the
 * collector's flag. Reads only through a struct mst_reader, so it works on a
 * live process (with or without threads stopped) and on captured memory.
 *
 * Lifetimes: strings in mst_py_frame (func, file) belong to the mst_py's
 * code-object cache and stay valid until mst_py_close. An mst_py_threads is
 * filled by mst_py_read_threads and released with mst_py_threads_free.
 * An mst_py is not thread-safe: it keeps caches and a scratch buffer, so
 * one thread at a time reads through it. */
#ifndef MSTTOP_PY_H
#define MSTTOP_PY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msttop/err.h"
#include "msttop/maps.h"
#include "msttop/prefetch.h"
#include "msttop/py_layout.h"
#include "msttop/py_runtime.h"
#include "msttop/reader.h"

#define MST_PY_MAX_FRAMES 1024  /* bound of one thread's frame walk */
#define MST_PY_MAX_THREADS 4096 /* bound of the thread-state list walk */

struct mst_py_frame {
	uint64_t code;    /* PyCodeObject address (cache key) */
	uint64_t frame;   /* frame address: PyFrameObject* (3.6-3.10) or
	                   * _PyInterpreterFrame* (3.11+) */
	const char *func; /* co_qualname on 3.11+, else co_name; UTF-8 */
	const char *file; /* co_filename, UTF-8 */
	int line;         /* current line from the line table; 0 if unknown */
	int firstlineno;
	/* This frame was entered by a fresh native call of the eval loop: it
	 * is the outermost Python frame run by one _PyEval_EvalFrameDefault
	 * activation. 3.6-3.10: every frame. 3.11: the frame's is_entry flag.
	 * 3.12+: the frame just above a shim (owner == CSTACK) frame, or the
	 * last frame of the chain. The merge pairs each such run with one
	 * native eval frame. */
	bool entry;
};

struct mst_py_thread {
	uint64_t tstate;
	uint64_t thread_id;          /* pthread_t: == the thread's fs_base on x86_64 glibc */
	int64_t native_tid;          /* kernel tid (3.11+ native_thread_id), -1 if unknown */
	bool holds_gil;              /* this tstate is the GIL holder right now */
	char name[64];               /* threading.Thread name, UTF-8, "" if not found */
	struct mst_py_frame *frames; /* innermost first */
	size_t nframes;
	size_t frames_cap; /* allocated entries of frames */
	bool truncated;    /* the walk hit a bound or a bad pointer */
	int error;         /* 0, or why the walk stopped early (frames then
	                    * holds what was read before) */
};

struct mst_py_threads {
	struct mst_py_thread *v;
	size_t n;
	bool gil_known; /* whether the GIL state could be read */
	bool gil_locked;
	uint64_t gil_holder;    /* tstate address, 0 if none */
	bool gc_known;          /* whether the collector's flag could be read (3.6:
	                         * the static `collecting` needs .symtab) */
	bool gc_collecting;     /* the collector runs (in some thread); false when
	                         * !gc_known */
	bool threads_truncated; /* the thread-state walk hit a bound or a list
	                         * that changed under it */
	size_t cap;             /* entries allocated in v: a later read into the
	                         * same struct reuses them and their frames */
};

struct mst_py;

/* Find and validate the runtime (mst_py_runtime_find) and pick the layout
 * (table for 3.6-3.12, _Py_DebugOffsets for 3.13+). -MST_ENOPYTHON when the
 * process has no CPython, -MST_EUNSUPPORTED with the version named.
 * *r is copied; the object r->ctx points to must outlive the mst_py. */
int mst_py_open(pid_t pid, const struct mst_maps *maps, const struct mst_reader *r,
                struct mst_py **out, struct mst_err *err);
void mst_py_close(struct mst_py *py);
/* The same from a runtime description the caller fills itself: for reading
 * captured or synthetic memory (tests, the fuzz harness) through r. */
int mst_py_open_info(const struct mst_py_runtime_info *info, const struct mst_reader *r,
                     struct mst_py **out, struct mst_err *err);

const struct mst_py_runtime_info *mst_py_info(const struct mst_py *py);
const struct mst_py_layout *mst_py_layout(const struct mst_py *py);
/* The reader the decoder uses (borrowed). */
const struct mst_reader *mst_py_reader(const struct mst_py *py);
/* Read through r from now on (the perf back end: a sample's copies over
 * the live process); returns the reader replaced, to be put back. */
struct mst_reader mst_py_swap_reader(struct mst_py *py, struct mst_reader r);

/* What a sampler that cannot call the decoder at the sample's instant (the
 * BPF half of the perf back end) must copy for it to decode the thread's
 * frames and the GIL afterwards: the thread state's first ts_len bytes; the
 * innermost frame, the word at ts_frame in it (deref >= 0: that word points
 * to a struct whose word at deref is the frame); frame_len bytes of each
 * frame, the caller's at prev_off, and the head of its code object; and
 * the fixed ranges the GIL's state
 * and the collector's flag are read from (nfixed 0: too many to copy).
 * From the layout table. */
#define MST_PY_CAPTURE_FIXED 6
struct mst_py_capture {
	size_t ts_len, frame_len;
	int64_t ts_frame, deref, prev_off;
	/* Each frame's code object: its pointer at code_off in the frame
	 * (masked with code_mask), its first code_len bytes. */
	int64_t code_off;
	size_t code_len;
	uint64_t code_mask;
	/* 3.11+: the words at chunk_off and top_off in the thread state are
	 * its data stack's current chunk and the end of what it holds; the
	 * chunk's frames start chunk_data bytes into it (-1: no data stack);
	 * they may lie beyond ts_len, which is what the decoder reads. Copied
	 * in one read, the chunk's top spares a read per frame. */
	int64_t chunk_off, top_off, chunk_data;
	size_t nfixed;
	struct {
		uint64_t addr;
		size_t len;
	} fixed[MST_PY_CAPTURE_FIXED];
};
int mst_py_capture_spec(struct mst_py *py, struct mst_py_capture *out);
/* The main interpreter's collector flag (a sampler reads it through its
 * copies: mst_py_swap_reader). */
void mst_py_read_gc_main(struct mst_py *py, bool *known, bool *collecting);
/* "3.11.7" */
const char *mst_py_version(const struct mst_py *py);
/* What this build keeps from view, as a sentence for the user ("" if
 * nothing): a stripped 3.6 libpython hides its static globals. */
const char *mst_py_limits(const struct mst_py *py);

struct mst_symbols;
/* Give sym the names of the interpreter's code that a stripped binary no
 * longer names (the eval loop's cold fragment), so that --native-all and
 * the hot frames show it for what it is: name is mst_symbols_name_range,
 * passed in so that the decoder does not link the symbols module (the
 * fuzz harness builds it alone). py or sym may be NULL. */
void mst_py_name_fragments(const struct mst_py *py, struct mst_symbols *sym,
                           int (*name)(struct mst_symbols *sym, uint64_t lo, uint64_t hi,
                                       const char *name));

/* Walk every thread state of every interpreter with its frames, the GIL
 * and GC state. Reads are bounded; a thread whose frames cannot be read is
 * kept with its error. Thread names are looked up in the threading module
 * when want_names. */
int mst_py_read_threads(struct mst_py *py, bool want_names, struct mst_py_threads *out,
                        struct mst_err *err);
/* The same without any frame (frames NULL, nframes 0): the thread states,
 * their ids and names, the GIL and GC state. For a caller that reads each
 * thread's frames itself, while that thread is stopped. */
int mst_py_read_thread_list(struct mst_py *py, bool want_names, struct mst_py_threads *out,
                            struct mst_err *err);
/* Only the frames of one thread state (the sampler's per-thread read while
 * the thread is stopped). frames must hold max entries. */
int mst_py_read_frames(struct mst_py *py, uint64_t tstate, struct mst_py_frame *frames, size_t max,
                       size_t *n, bool *truncated, struct mst_err *err);
/* The ranges one thread's last read of its frames went through (its
 * thread state, frames, code headers), kept by the caller per thread;
 * starts zeroed, mst_py_reads_free at the end. */
struct mst_py_reads {
	struct mst_prefetch_range *v;
	uint32_t n, cap;
};
void mst_py_reads_free(struct mst_py_reads *r);
/* mst_py_read_frames, where the last read's ranges are fetched first in
 * one vectored read and the walk is served from there (prefetch.h): a
 * thread whose frames have not moved costs one system call, not one per
 * frame. last gets this read's ranges. Without a vectored reader (a
 * core, a perf sample's copies), a plain read that leaves last alone. */
int mst_py_read_frames_fetched(struct mst_py *py, uint64_t tstate, struct mst_py_reads *last,
                               struct mst_py_frame *frames, size_t max, size_t *n, bool *truncated,
                               struct mst_err *err);
/* A struct mst_py_threads starts zeroed; reading into it again reuses its
 * memory (the sampler does so on every tick). Free it once at the end. */
void mst_py_threads_free(struct mst_py_threads *t);

/* What a native function of the interpreter says of the thread running it,
 * by its ELF name (the part before a ".cold" or ".constprop.0" suffix):
 * taking the GIL, dropping it, running the collector, or nothing. */
enum mst_py_fn_role {
	MST_PY_FN_NONE,
	MST_PY_FN_GIL_WAIT,
	MST_PY_FN_GIL_DROP,
	MST_PY_FN_GC,
};
enum mst_py_fn_role mst_py_function_role(const char *func);

/* The GIL right now, and where it lives: a thread blocked on a futex inside
 * [addr, addr + size) waits for it, one blocked inside [switch_lo,
 * switch_hi) is dropping it (FORCE_SWITCHING). */
struct mst_py_gil {
	bool known; /* locked and holder could be read */
	bool locked;
	uint64_t holder; /* tstate of the last holder (sticky: check locked) */
	uint64_t addr, size;
	uint64_t switch_lo, switch_hi;
};
int mst_py_read_gil(struct mst_py *py, struct mst_py_gil *out);
/* Only where it lives (addr to switch_hi; known false): no read once the
 * place is known. */
void mst_py_gil_where(struct mst_py *py, struct mst_py_gil *out);
/* The GIL (as mst_py_read_gil) and the main interpreter's collector flag
 * (as mst_py_read_gc_main), in one system call where both addresses are
 * known. */
int mst_py_read_gil_gc(struct mst_py *py, struct mst_py_gil *g, bool *gc_known,
                       bool *gc_collecting);

/* In a build without .symtab: the address ranges of the collector's
 * functions (src/py/collector.c), computed once; none otherwise. Borrowed
 * until mst_py_close. */
#define MST_PY_COLLECTOR_MAX 64
/* The kernel tid of Python thread t: native_tid where the runtime records
 * it (3.11+), else read from glibc's struct pthread at t->thread_id (3.6-3.10
 * store only pthread_self()). 0 when it cannot be read. For readers with
 * no registers to match the thread pointer with (--python-only). */
pid_t mst_py_thread_tid(struct mst_py *py, const struct mst_py_thread *t);

struct mst_py_range {
	uint64_t lo, hi; /* target addresses, [lo, hi) */
};
void mst_py_collector(struct mst_py *py, const struct mst_py_range **ranges, size_t *n);

#endif
