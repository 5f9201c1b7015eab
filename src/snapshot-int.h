/* Snapshot internals shared by its two ways of taking one: stopping each
 * thread in turn (snapshot.c) and from perf samples, stopping none
 * (snapshot_sampled.c). */
#ifndef MSTTOP_SNAPSHOT_INT_H
#define MSTTOP_SNAPSHOT_INT_H

#include <string.h>

#include "msttop/perf.h"
#include "msttop/snapshot.h"

/* Stack words one walk may note for recognising it next time. */
#define MST_STACK_READS_MAX 4096
/* Takes in a row in which a thread was found blocked where it was, after
 * which its walk memo goes (struct mst_thread_memo): 2.5 s at 100 Hz. A
 * thread that wakes less often than that pays one full walk per wake-up,
 * not more. */
#define SNAP_MEMO_IDLE_TAKES 256
/* The first copy of a stack not seen before: most walks need less. */
#define STACK_COPY_FIRST (32 * 1024)

/* The thread state of thread tid (by its native tid, 3.11+, or its
 * pthread_t tp), in s->pt: the first in list order, as a scan would find,
 * through an index of the list built on first use. */
struct mst_py_thread *snap_match_tstate(struct mst_snapshot *s, pid_t tid, uint64_t tp,
                                        bool have_tp);
/* The index no longer describes s->pt (the list is read again). */
void snap_index_drop(struct mst_snapshot *s);
struct mst_py_thread *snap_match_by_tid(struct mst_snapshot *s, struct mst_proc *p,
                                        struct mst_py *py, struct mst_thread_snap *t);
bool snap_py_room(struct mst_thread_snap *t, size_t n);
void snap_locals_drop(struct mst_thread_snap *t);
/* Read t's frames and GIL ownership now through py's reader. */
void snap_read_py_stopped(struct mst_py *py, struct mst_thread_snap *t,
                          const struct mst_py_thread *pt, struct mst_py_frame *scratch,
                          unsigned flags);
/* *got (may be NULL): the bytes of buf read from the last walk's stack
 * base, 0 when none were (true or false). */
bool snap_still_blocked(struct mst_proc *p, const struct mst_thread_snap *t,
                        const struct mst_syscall_line *now, uint8_t *buf, size_t *got);
void snap_memo_walk(struct mst_thread_snap *t, const struct mst_stack_copy *copy);
void snap_memo_py(struct mst_thread_snap *t, bool rt_ok, uint64_t rt);
bool snap_py_unchanged(struct mst_py *py, struct mst_thread_snap *t, const struct mst_py_thread *pt,
                       uint64_t rt);
/* t's Python frames as the slot kept them (its memo), if they are pt's:
 * the caller knows they have not changed. The GIL is not read. */
bool snap_py_reuse(struct mst_thread_snap *t, const struct mst_py_thread *pt);
int snap_reset(struct mst_snapshot *s, size_t nt, bool native, bool python);
/* src into dst[cap], cut to fit: snprintf's "%s" without its machinery,
 * for the names copied per thread per tick. */
static inline void snap_copy(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* snap_py_begin: keep the thread list the last take read (without the
 * collector's flag: the sampled take reads it with the GIL); the sampled
 * take re-reads the list only when it reads names. */
#define SNAP_KEEP_THREAD_LIST (1u << 16)
/* snap_read_py_stopped: leave holds_gil alone (the caller sets it). */
#define SNAP_NO_GIL (1u << 17)
/* p: the live process (its tids translate the runtime's), NULL for a core. */
int snap_py_begin(struct mst_snapshot *s, struct mst_proc *p, struct mst_py *py,
                  const struct mst_err *py_err, unsigned flags, struct mst_err *err);
void snap_py_end(struct mst_snapshot *s, struct mst_py *py);
/* t's walk memo, made on first use (NULL when out of memory). */
struct mst_walk_memo *snap_walk_memo(struct mst_thread_snap *t, unsigned flags);
/* t is the last take's (blocked where it was): counted, and its walk memo
 * trimmed to the walk it keeps. */
void snap_reused(struct mst_snapshot *s, struct mst_thread_snap *t);
/* Walk t's stack (copy may be NULL: memory read in place) into the
 * snapshot's scratch and keep the frames in t's own arrays, sized to them:
 * a reused thread's frames are those arrays. wm may be NULL. */
void snap_walk(struct mst_snapshot *s, struct mst_unwinder *u, struct mst_thread_snap *t,
               struct mst_stack_copy *copy, struct mst_walk_memo *wm);
/* Sum the threads' walk checks into s->walk_* (MST_SNAP_VERIFY_WALKS). */
void snap_walk_stats(struct mst_snapshot *s);
/* Task i of p into t: its tid, name (when names are read or the slot is
 * new to it) and state (known, else read from /proc). false when it has
 * exited (t->error says so); *in_ptrace_stop tells a 't' state, shown as
 * 'T'. */
bool snap_thread_info(struct mst_proc *p, pid_t pid, size_t i, unsigned flags, char known,
                      struct mst_thread_snap *t, bool *in_ptrace_stop);

/* A sampled take's view of one thread at its instant (pass 1). */
struct mst_snap_sched {
	struct mst_syscall_line line; /* its system call now */
	struct mst_perf_task k;       /* what the scheduler program saw */
	bool have;                    /* k is valid */
	bool still;                   /* off a CPU at the last take and not run since */
};

/* What the scheduler program saw of thread tid (k, when have): off a CPU
 * at the last take and no switch since, it has not run since. */
static inline bool snap_sched_still(const struct mst_thread_memo *m, pid_t tid, bool have,
                                    const struct mst_perf_task *k)
{
	return have && m->tid == tid && m->sched_off && k->seq == m->sched_seq && !k->on_cpu;
}

/* Remember the switch count read before the rest of the thread, and
 * whether it was off a CPU then: by the program's word once it has seen
 * the thread switch, else by what /proc said (off_by_proc). */
static inline void snap_memo_sched(struct mst_thread_memo *m, const struct mst_snap_sched *sc,
                                   bool off_by_proc)
{
	m->sched_seq = sc->k.seq;
	m->sched_off = sc->have && (sc->k.switched ? !sc->k.on_cpu : off_by_proc);
}

#endif
