/* A snapshot from perf samples (mst_snapshot_take_sampled), and the
 * instants between two takes replayed from them (mst_snapshot_replay_sampled):
 * no thread is stopped. Each sample is decoded by the same unwinder and
 * decoder as a stopped thread, reading the sample's copies instead of the
 * process. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msttop/arch.h"
#include "msttop/perf.h"
#include "perf/bpf-abi.h"
#include "snapshot-int.h"

/* The slot's memo is t's from now on: what it kept of another thread is
 * forgotten. */
static void memo_own(struct mst_thread_snap *t)
{
	struct mst_thread_memo *m = &t->memo;
	if (m->tid == t->tid)
		return;
	m->tid = t->tid;
	m->walks = 0;
	m->walked = m->py_kept = m->sched_off = false;
	m->sample_ns = 0;
	m->py_tstate = m->match_tstate = 0;
}

/* Thread t from sample smp: the walk over the stack it copied, its Python
 * frames and GIL from the copies. */
static void from_sample(struct mst_snapshot *s, struct mst_unwinder *u, struct mst_py *py,
                        const struct mst_snap_samples *src, const struct mst_bpf_sample *smp,
                        bool fresh, unsigned flags, struct mst_thread_snap *t)
{
	struct mst_thread_memo *mm = &t->memo;
	/* The sample the slot already holds (the thread has not run a whole
	 * period since): decoded the same, so not decoded again. */
	if (mm->sample_ns && mm->sample_ns == smp->time_ns) {
		t->regs = mm->regs;
		t->npcs = mm->npcs;
		struct mst_py_thread *m =
		    py ? snap_match_tstate(s, t->tid, t->regs.tp, true) : NULL;
		if (m && smp->tstate && m->tstate == smp->tstate && snap_py_reuse(t, m)) {
			s->used[m - s->pt.v] = true;
			t->holds_gil = mm->sample_gil;
			/* Caught mid-change then: the same now (the same data
			 * is no second look). */
			t->py_transient = mm->sample_transient;
		}
		return;
	}
	mst_arch_regs_from_sample(smp->regs, &t->regs);
	/* The copy is the ring buffer's, read-only: nothing is copied past
	 * it; deeper words are read from the process (outer frames, which
	 * rarely move). */
	struct mst_stack_copy copy = {.base = smp->stack_base,
	                              .len = smp->stack_len,
	                              .cap = smp->stack_len,
	                              .at_end = true,
	                              .data = (uint8_t *)smp->stack};
	/* A running thread's outer frames stay while its inner ones change:
	 * its last walk ends this one where they meet. */
	if (u)
		snap_walk(s, u, t, &copy, snap_walk_memo(t, flags));
	mm->sys = (struct mst_syscall_line){.running = true};
	uint32_t need = mm->tid == t->tid ? mm->stack_need - mm->stack_need / 64 : 0;
	snap_memo_walk(t, &copy);
	uint64_t from = mst_stack_copy_base(&t->regs), reach = copy.base + copy.reach;
	if (reach > from && reach - from > need)
		need = (uint32_t)(reach - from < UINT32_MAX ? reach - from : UINT32_MAX);
	mm->stack_need = need;
	mm->regs = t->regs;
	mm->npcs = t->npcs;
	mm->sample_ns = smp->time_ns;
	mm->py_tstate = 0;
	if (!py)
		return;
	struct mst_py_thread *m = snap_match_tstate(s, t->tid, t->regs.tp, true);
	if (!m || !smp->tstate || m->tstate != smp->tstate)
		return;
	s->used[m - s->pt.v] = true;
	struct mst_perf_overlay o = {
	    .s = smp, .cap = src->cap, .live = *mst_py_reader(py), .codes = src->codes};
	struct mst_reader old = mst_py_swap_reader(py, mst_perf_overlay_reader(&o));
	/* Its GIL as the sample copied it. */
	snap_read_py_stopped(py, t, m, s->scratch, 0);
	/* The collector as it was at a sample of this tick: with the flag
	 * read now, a thread sampled in a collection that has ended since
	 * would not be shown in it. An older sample (a thread still running
	 * since) has the flag of now. */
	bool known = false, collecting = false;
	if (fresh)
		mst_py_read_gc_main(py, &known, &collecting);
	mst_py_swap_reader(py, old);
	s->gc_known |= known;
	s->gc_collecting |= collecting;
	snap_memo_py(t, false, 0);
	mm->sample_gil = t->holds_gil;
	mm->sample_transient = t->py_transient;
}

/* Thread t blocked in the system call now: walked from there without a
 * stop, unless its last walk still holds. */
static void blocked(struct mst_snapshot *s, struct mst_proc *p, struct mst_unwinder *u,
                    struct mst_py *py, bool fresh, const struct mst_snap_sched *sc, unsigned pyf,
                    unsigned flags, struct mst_thread_snap *t)
{
	const struct mst_syscall_line *now = &sc->line;
	struct mst_thread_memo *mm = &t->memo;
	mm->sample_ns = 0;
	/* Not run since the last walk: nothing to read. Else the same call
	 * over the same stack words. */
	size_t got = 0;
	bool same =
	    !fresh && mm->walked && (sc->still || snap_still_blocked(p, t, now, s->stack, &got));
	if (same) {
		t->regs = mm->regs;
		t->npcs = mm->npcs;
		snap_reused(s, t);
	} else {
		/* Its registers when it left the CPU, if they are of this
		 * very call (same sp and pc): with only sp and pc, a walk
		 * stops at the first frame found from a register the
		 * blocked call's callers kept (a frame pointer, say). */
		const struct mst_perf_task *k = &sc->k;
		if (sc->have && k->switched && !k->on_cpu && k->sys.sp == now->sp &&
		    k->sys.pc == now->pc) {
			t->regs = k->regs;
			t->regs.syscall_nr = now->nr;
			t->regs.syscall_arg0 = now->args[0];
		} else {
			mst_arch_regs_from_syscall(now->sp, now->pc, now->nr, now->args[0],
			                           &t->regs);
		}
		/* A stack walked before needs about what it needed then. The
		 * check above may have just read it, from where this walk
		 * starts: the walk goes on from those bytes (a thread blocked
		 * in the kernel does not move them), reading more if it must. */
		size_t want = mm->walked && mm->stack_len ? mm->stack_len + 4096 : STACK_COPY_FIRST;
		struct mst_stack_copy copy;
		if (got && mst_stack_copy_base(&t->regs) == mm->stack_base)
			mst_stack_copy_have(mm->stack_base, s->stack, got, MST_STACK_COPY_MAX,
			                    &copy);
		else
			mst_stack_copy_take(p, &t->regs, s->stack, MST_STACK_COPY_MAX,
			                    want < STACK_COPY_FIRST ? want : STACK_COPY_FIRST,
			                    &copy);
		copy.reads = s->reads;
		copy.reads_max = s->reads ? MST_STACK_READS_MAX : 0;
		/* Its outer frames are those it ran in. */
		if (u)
			snap_walk(s, u, t, &copy, snap_walk_memo(t, flags));
		mm->sys = *now;
		snap_memo_walk(t, &copy);
	}
	struct mst_py_thread *m = py ? snap_match_by_tid(s, p, py, t) : NULL;
	if (!m)
		return;
	s->used[m - s->pt.v] = true;
	/* Only a thread moves its own frame chain: one that has not run has
	 * the same frames. */
	if (sc->still && snap_py_reuse(t, m))
		return;
	uint64_t rt = 0;
	bool rt_ok = false;
	if (!sc->have) {
		rt_ok = mst_proc_task_runtime(p, t->tid, &rt) == 0;
		if (same && rt_ok && mm->py_kept && rt == mm->runtime && snap_py_reuse(t, m))
			return;
	}
	snap_read_py_stopped(py, t, m, s->scratch, pyf);
	snap_memo_py(t, rt_ok, rt);
}

/* Pass 1 for task i: its tid, state and system call now, from what the
 * scheduler program saw (no read), or from /proc. false: it has exited. */
static bool thread_now(struct mst_snapshot *s, struct mst_proc *p,
                       const struct mst_snap_samples *src, unsigned flags, size_t i)
{
	struct mst_thread_snap *t = &s->threads[i];
	struct mst_snap_sched *sc = &s->sched[i];
	const struct mst_thread_memo *mm = &t->memo;
	pid_t tid = mst_proc_task(p, i);
	memset(sc, 0, sizeof(*sc));
	sc->line.running = true;
	sc->have = src->task && src->task(src->task_ctx, tid, &sc->k);
	/* Off a CPU at the last take, and no switch since. */
	sc->still = snap_sched_still(mm, tid, sc->have, &sc->k) && t->comm_tid == tid;
	char known = sc->still ? mm->state : sc->have && sc->k.switched ? sc->k.state : 0;
	bool in_stop = false;
	if (!snap_thread_info(p, s->pid, i, flags, known, t, &in_stop))
		return false;
	if (sc->still)
		sc->line = mm->sched_line;
	else if (sc->have && sc->k.switched)
		sc->line = sc->k.sys;
	else if (mst_proc_task_syscall(p, t->tid, &sc->line) < 0)
		sc->line.running = true;
	return true;
}

/* Whether x copied every word the GIL and the collector are read from. */
static bool gil_copied(const struct mst_py_capture *c, const struct mst_bpf_sample *x)
{
	if (!c || !c->nfixed || c->nfixed > MST_BPF_FIXED)
		return false;
	uint32_t all = (1u << c->nfixed) - 1;
	return (x->nfixed_ok & all) == all;
}

/* The newest sample since the last take that copied every word the GIL and
 * the collector are read from (NULL: none). */
static const struct mst_bpf_sample *newest_sample(const struct mst_snapshot *s,
                                                  const struct mst_snap_samples *src)
{
	const struct mst_py_capture *c = src->cap;
	if (!c)
		return NULL;
	const struct mst_bpf_sample *at = NULL;
	for (size_t i = 0; i < s->nthreads; i++) {
		bool fresh = false;
		const struct mst_bpf_sample *x = src->get(src->ctx, s->threads[i].tid, &fresh);
		if (fresh && gil_copied(c, x) && (!at || x->time_ns > at->time_ns))
			at = x;
	}
	return at;
}

/* The GIL and the collector's flag as at (NULL: as they are now) copied
 * them; true when the GIL is known. */
static bool read_gil_gc(struct mst_snapshot *s, struct mst_py *py,
                        const struct mst_snap_samples *src, const struct mst_bpf_sample *at,
                        struct mst_py_gil *g)
{
	struct mst_perf_overlay o = {
	    .s = at, .cap = src->cap, .live = *mst_py_reader(py), .codes = src->codes};
	struct mst_reader old = {0};
	if (at)
		old = mst_py_swap_reader(py, mst_perf_overlay_reader(&o));
	bool known, collecting;
	bool ok = mst_py_read_gil_gc(py, g, &known, &collecting) == 0 && g->known;
	if (at)
		mst_py_swap_reader(py, old);
	s->gc_known |= known;
	s->gc_collecting |= collecting;
	return ok;
}

/* The instant's GIL g given to t; held: whether t held it at the sample it
 * is shown from. A tick is one instant: a sampled thread that held it then
 * and does not now has dropped it since (its clock has not fired again,
 * or fired before): it waits to take it back, and is not shown running
 * Python without it. */
static void gil_to(struct mst_thread_snap *t, const struct mst_py_gil *g, bool held)
{
	t->holds_gil = g->locked && t->has_py && g->holder == t->tstate;
	t->gil_left = held && g->locked && !t->holds_gil;
}

int mst_snapshot_take_sampled(struct mst_proc *p, struct mst_unwinder *u, struct mst_py *py,
                              const struct mst_err *py_err, const struct mst_snap_samples *src,
                              unsigned flags, struct mst_snapshot **out, struct mst_err *err)
{
	struct mst_snapshot *s = *out;
	bool fresh = !s;
	if (fresh && !(s = calloc(1, sizeof(*s))))
		return mst_err_set(err, -ENOMEM, "out of memory");
	size_t nt = mst_proc_ntasks(p);
	int rc = 0;
	if (snap_reset(s, nt, true, py != NULL) < 0) {
		rc = mst_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (fresh) {
		s->pid = mst_proc_pid(p);
		mst_read_cmdline(s->pid, s->cmdline, sizeof(s->cmdline));
	}
	/* The thread states are read again with the names, at refreshes:
	 * new threads are sampled from then on anyway (mst_perf_threads). */
	unsigned pf = flags & MST_SNAP_NO_NAMES ? MST_SNAP_NO_NAMES | SNAP_KEEP_THREAD_LIST : 0;
	if ((rc = snap_py_begin(s, p, py, py_err, pf, err)) < 0)
		goto out;
	/* One instant first: every thread's state and system call, and the
	 * GIL's holder, read together; the walks and decoding after. */
	if (nt > s->sched_cap) {
		struct mst_snap_sched *l = realloc(s->sched, nt * sizeof(*l));
		if (!l) {
			rc = mst_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		s->sched = l;
		s->sched_cap = nt;
	}
	size_t alive = 0;
	for (size_t i = 0; i < nt; i++) {
		s->nthreads++;
		alive += thread_now(s, p, src, flags, i);
	}
	/* The collector's flag now, in the same system call as the GIL (the
	 * thread list, kept between refreshes, does not read it). */
	struct mst_py_gil g = {0};
	bool gil = false;
	/* Or both as the newest sample since the last take copied them: the
	 * tick is that instant (while a thread runs, its samples are an
	 * interval apart), and a 1 kHz tick saves the one read it would
	 * make. */
	const struct mst_bpf_sample *gil_at = py ? newest_sample(s, src) : NULL;
	if (py)
		gil = read_gil_gc(s, py, src, gil_at, &g);
	s->gil = g;
	s->gil_ok = gil;
	/* With the GIL read once, each thread's reads leave it alone. */
	unsigned pyf = gil ? SNAP_NO_GIL : 0;
	for (size_t i = 0; i < s->nthreads; i++) {
		struct mst_thread_snap *t = &s->threads[i];
		if (t->error)
			continue;
		const struct mst_snap_sched *sc = &s->sched[i];
		const struct mst_syscall_line *now = &sc->line;
		memo_own(t);
		bool new_sample = false, held = false;
		const struct mst_bpf_sample *smp = src->get(src->ctx, t->tid, &new_sample);
		/* In a system call now, even runnable (woken from a futex, not
		 * back on a CPU yet): taken where it is, as a stop would find
		 * it; the classification knows the calls that sleep. */
		if (!now->running && now->nr >= 0) {
			blocked(s, p, u, py, fresh, sc, pyf, flags, t);
		} else if (smp && t->state == 'R') {
			/* Running: its newest sample, taken since the last take
			 * or, when its clock has not reached another period
			 * since, earlier (it has run less than a period since). */
			from_sample(s, u, py, src, smp, new_sample, flags, t);
			t->reused = !new_sample;
			held = t->holds_gil; /* at its sample */
		} else {
			/* Running, never sampled yet: its Python frames as they
			 * are. */
			t->memo.sample_ns = 0;
			struct mst_py_thread *m = py ? snap_match_by_tid(s, p, py, t) : NULL;
			if (m) {
				s->used[m - s->pt.v] = true;
				if (!(sc->still && snap_py_reuse(t, m))) {
					snap_read_py_stopped(py, t, m, s->scratch, pyf);
					snap_memo_py(t, false, 0);
				}
			}
		}
		/* The GIL is the one read with the states (a recording's GIL
		 * spans never overlap). */
		if (gil)
			gil_to(t, &g, held);
		/* Blocked now, and it left its CPU after the sample the GIL
		 * was read from: what that said of it is not of now. */
		if (t->holds_gil && gil_at && !now->running && now->nr >= 0 && sc->have &&
		    sc->k.switched && !sc->k.on_cpu && sc->k.off_ns > gil_at->time_ns)
			t->holds_gil = false;
		/* What the next take needs to know it has not run since. */
		snap_memo_sched(&t->memo, sc, !now->running);
		t->memo.state = t->state;
		t->memo.sched_line = *now;
	}
	snap_py_end(s, py);
	if (flags & MST_SNAP_VERIFY_WALKS)
		snap_walk_stats(s); /* a test hook: not every tick's work */
	if (alive == 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d", (int)s->pid);
		if (access(path, F_OK) < 0) {
			rc = mst_err_set(err, -ESRCH, "process %d has exited", (int)s->pid);
			goto out;
		}
	}
	*out = s;
	return 0;
out:
	if (fresh) {
		mst_snapshot_free(s);
		*out = NULL;
	} else {
		s->nthreads = 0;
	}
	return rc;
}

/* What a take's reset clears of a thread about to be decoded again: a
 * sample leaves a field it does not set as a take would find it. */
static void replay_reset(struct mst_thread_snap *t)
{
	snap_locals_drop(t);
	t->npcs = t->npy = 0;
	t->has_py = t->py_truncated = t->py_transient = false;
	t->tstate = 0;
	t->py_error = 0;
	t->holds_gil = t->gil_left = false;
	t->reused = t->py_reused = false;
	t->states = 0;
	t->pause_ns = 0;
}

size_t mst_snapshot_replay_sampled(struct mst_snapshot *s, struct mst_proc *p,
                                   struct mst_unwinder *u, struct mst_py *py,
                                   const struct mst_snap_samples *src, uint64_t lo, uint64_t hi,
                                   unsigned flags)
{
	size_t decoded = 0;
	if (!s || !src->get_in)
		return 0;
	const struct mst_bpf_sample *at = NULL;
	bool sampled = false;
	for (size_t i = 0; i < s->nthreads; i++) {
		struct mst_thread_snap *t = &s->threads[i];
		if (t->error)
			continue;
		struct mst_thread_memo *mm = &t->memo;
		const struct mst_bpf_sample *smp = src->get_in(src->ctx, t->tid, lo, hi);
		/* Off its CPU since before this instant, in a system call,
		 * not run since, and last shown running (or sampled before it
		 * left): where it blocked. */
		struct mst_snap_sched sc = {0};
		if ((smp || mm->sample_ns) && src->task &&
		    src->task(src->task_ctx, t->tid, &sc.k) && sc.k.switched && !sc.k.on_cpu &&
		    sc.k.off_ns <= hi && (!smp || smp->time_ns < sc.k.off_ns) &&
		    !sc.k.sys.running && sc.k.sys.nr >= 0) {
			sc.have = true;
			sc.line = sc.k.sys;
			replay_reset(t);
			t->state = sc.k.state;
			blocked(s, p, u, py, false, &sc, s->gil_ok ? SNAP_NO_GIL : 0, flags, t);
			snap_memo_sched(mm, &sc, true);
			mm->state = t->state;
			mm->sched_line = sc.line;
			continue;
		}
		if (smp) {
			if (!sampled) {
				/* The collector as this instant's samples saw it. */
				s->gc_known = s->gc_collecting = false;
				sampled = true;
			}
			replay_reset(t);
			t->state = 'R';
			from_sample(s, u, py, src, smp, true, flags, t);
			decoded++;
			if (gil_copied(src->cap, smp) && (!at || smp->time_ns > at->time_ns))
				at = smp;
			mm->state = 'R';
			mm->sched_line = (struct mst_syscall_line){.running = true, .nr = -1};
			continue;
		}
		/* As the last instant: its native stack and Python frames. */
		t->reused = t->py_reused = true;
		t->pause_ns = 0;
	}
	struct mst_py_gil g = s->gil;
	bool gil = s->gil_ok;
	if (py && at) {
		gil = read_gil_gc(s, py, src, at, &g);
		s->gil = g;
		s->gil_ok = gil;
	}
	/* A thread shown blocked is as a take found it, or as a walk of this
	 * replay found it: it may lose the GIL to this instant's holder, not
	 * take it (one that has taken it since has not been sampled since:
	 * shown waiting, not holding it from a stack that waits). */
	for (size_t i = 0; gil && i < s->nthreads; i++) {
		struct mst_thread_snap *t = &s->threads[i];
		if (t->error)
			continue;
		if (t->memo.sample_ns)
			gil_to(t, &g, t->memo.sample_gil);
		else
			t->holds_gil = t->holds_gil && g.locked && g.holder == t->tstate;
	}
	return decoded;
}
