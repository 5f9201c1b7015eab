/* Taking a snapshot: for each thread in turn, stop it, copy registers and
 * the top of its stack, walk the native stack, read its Python frames and
 * whether it holds the GIL, resume it. Then classify what was seen. */
#include "msttop/snapshot.h"

#include <fcntl.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msttop/array.h"
#include "msttop/classify.h"
#include "msttop/clock.h"
#include "msttop/perf.h"
#include "snapshot-int.h"

/* How long a snapshot waits for its threads to stop. */
#define SNAP_STOP_TIMEOUT_NS (2ull * 1000 * 1000 * 1000)

void mst_read_cmdline(pid_t pid, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	buf[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0) {
		buf[0] = '\0';
		return;
	}
	buf[n] = '\0';
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
}

/* ---- finding a thread's Python thread state ---- */

/* Sorted keys of the thread list: a tick matches every thread, and a
 * thousand threads would cost a million comparisons by a scan. */
struct pykey {
	uint64_t key;
	size_t i;
};

struct mst_snap_pyindex {
	bool valid;                  /* of the thread list in s->pt now */
	struct pykey *tid, *tp, *ts; /* by native tid (3.11+), by pthread_t, by tstate */
	size_t ntid, ntp, nts, cap;
};

static int cmp_pykey(const void *a, const void *b)
{
	const struct pykey *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return (x->i > y->i) - (x->i < y->i);
}

static bool index_build(struct mst_snapshot *s)
{
	struct mst_snap_pyindex *ix = s->pyindex;
	if (!ix && !(ix = s->pyindex = calloc(1, sizeof(*ix))))
		return false;
	if (ix->valid)
		return true;
	size_t n = s->pt.n;
	if (n > ix->cap) {
		struct pykey *a = realloc(ix->tid, n * sizeof(*a));
		if (a)
			ix->tid = a;
		struct pykey *b = a ? realloc(ix->tp, n * sizeof(*b)) : NULL;
		if (b)
			ix->tp = b;
		struct pykey *c = b ? realloc(ix->ts, n * sizeof(*c)) : NULL;
		if (!c)
			return false;
		ix->ts = c;
		ix->cap = n;
	}
	ix->ntid = ix->ntp = ix->nts = 0;
	for (size_t i = 0; i < n; i++) {
		const struct mst_py_thread *t = &s->pt.v[i];
		if (t->native_tid > 0)
			ix->tid[ix->ntid++] = (struct pykey){(uint64_t)t->native_tid, i};
		else
			ix->tp[ix->ntp++] = (struct pykey){t->thread_id, i};
		ix->ts[ix->nts++] = (struct pykey){t->tstate, i};
	}
	if (ix->ntid > 1)
		qsort(ix->tid, ix->ntid, sizeof(struct pykey), cmp_pykey);
	if (ix->ntp > 1)
		qsort(ix->tp, ix->ntp, sizeof(struct pykey), cmp_pykey);
	if (ix->nts > 1)
		qsort(ix->ts, ix->nts, sizeof(struct pykey), cmp_pykey);
	ix->valid = true;
	return true;
}

/* The first entry (in thread list order) with key, or SIZE_MAX. */
MST_DEFINE_LOWER_BOUND(pykey_at, struct pykey, key, uint64_t)

static size_t index_find(const struct pykey *v, size_t n, uint64_t key)
{
	size_t lo = pykey_at(v, n, key);
	return lo < n && v[lo].key == key ? v[lo].i : SIZE_MAX;
}

void snap_index_drop(struct mst_snapshot *s)
{
	if (s->pyindex)
		s->pyindex->valid = false;
}

/* The Python thread state of a thread: by kernel tid where the runtime
 * records it (3.11+), else by pthread_self() == the thread pointer. */
struct mst_py_thread *snap_match_tstate(struct mst_snapshot *s, pid_t tid, uint64_t tp,
                                        bool have_tp)
{
	struct mst_py_threads *pt = &s->pt;
	if (!index_build(s)) {
		for (size_t i = 0; i < pt->n; i++) {
			struct mst_py_thread *t = &pt->v[i];
			if (t->native_tid > 0 ? t->native_tid == tid
			                      : have_tp && t->thread_id == tp)
				return t;
		}
		return NULL;
	}
	/* As a scan in list order would: the first that matches. */
	const struct mst_snap_pyindex *ix = s->pyindex;
	size_t a = tid > 0 ? index_find(ix->tid, ix->ntid, (uint64_t)tid) : SIZE_MAX;
	size_t b = have_tp ? index_find(ix->tp, ix->ntp, tp) : SIZE_MAX;
	size_t i = a < b ? a : b;
	return i < pt->n ? &pt->v[i] : NULL;
}

/* Room for n Python frames in t->py, kept from take to take: rounded up
 * to 4, not more (a thousand idle threads' six frames each). */
bool snap_py_room(struct mst_thread_snap *t, size_t n)
{
	return mst_array_fit((void **)&t->py, &t->py_cap, n, sizeof(*t->py), 4) == 0;
}

static void copy_py(struct mst_thread_snap *t, const struct mst_py_thread *pt)
{
	t->has_py = true;
	t->tstate = pt->tstate;
	snap_copy(t->pyname, sizeof(t->pyname), pt->name);
	t->holds_gil = pt->holds_gil;
	t->py_truncated = pt->truncated;
	t->py_error = pt->error;
	if (snap_py_room(t, pt->nframes)) {
		if (pt->nframes)
			memcpy(t->py, pt->frames, pt->nframes * sizeof(*t->py));
		t->npy = pt->nframes;
	}
}

void snap_locals_drop(struct mst_thread_snap *t)
{
	for (size_t i = 0; i < t->nlocals; i++)
		mst_py_locals_fini(&t->locals[i]);
	free(t->locals);
	t->locals = NULL;
	t->nlocals = 0;
}

/* Each of t's Python frames' locals (MST_SNAP_LOCALS), in the stop that
 * read the frames. A frame whose locals cannot be read keeps its error. */
static void read_locals(struct mst_py *py, struct mst_thread_snap *t)
{
	snap_locals_drop(t);
	if (!t->npy || !(t->locals = calloc(t->npy, sizeof(*t->locals))))
		return;
	t->nlocals = t->npy;
	size_t used = 0;
	for (size_t i = 0; i < t->npy; i++) {
		struct mst_py_locals *l = &t->locals[i];
		if (used >= MST_SNAP_LOCALS_THREAD_MAX) {
			l->error = -E2BIG;
			snprintf(l->msg, sizeof(l->msg), "this thread's locals reached %u MiB",
			         MST_SNAP_LOCALS_THREAD_MAX >> 20);
			continue;
		}
		struct mst_err e = {0};
		mst_py_read_locals(py, &t->py[i], l, &e);
		used += l->text_len;
	}
}

/* Read this (stopped) thread's frames and GIL ownership now, so they agree
 * with its native stack; with MST_SNAP_LOCALS, its frames' locals too. */
void snap_read_py_stopped(struct mst_py *py, struct mst_thread_snap *t,
                          const struct mst_py_thread *pt, struct mst_py_frame *scratch,
                          unsigned flags)
{
	t->has_py = true;
	t->tstate = pt->tstate;
	snap_copy(t->pyname, sizeof(t->pyname), pt->name);
	size_t n = 0;
	bool trunc = false;
	struct mst_err e = {0};
	struct mst_thread_memo *m = &t->memo;
	if (m->py_reads_tid != t->tid) {
		m->py_reads.n = 0;
		m->py_reads_tid = t->tid;
	}
	t->py_error = mst_py_read_frames_fetched(py, pt->tstate, &m->py_reads, scratch,
	                                         MST_PY_MAX_FRAMES, &n, &trunc, &e);
	t->py_truncated = trunc;
	t->py_transient = t->py_error && n == 0 && t->memo.tid == t->tid && t->memo.py_read_ok;
	t->memo.py_read_ok = n > 0;
	if (snap_py_room(t, n)) {
		memcpy(t->py, scratch, n * sizeof(*t->py));
		t->npy = n;
	}
	if (flags & MST_SNAP_LOCALS)
		read_locals(py, t);
	if (flags & SNAP_NO_GIL)
		return;
	struct mst_py_gil g;
	if (mst_py_read_gil(py, &g) == 0 && g.known)
		t->holds_gil = g.holder == pt->tstate && g.locked;
	else
		t->holds_gil = pt->holds_gil;
}

/* The same system call on the same first argument (a futex: the same
 * lock), at the same sp and pc. Other arguments may differ from one wait
 * to the next (a condition variable's sequence number). A wait with a
 * timeout that our stop interrupted continues as restart_syscall, with
 * the registers it had. */
static bool same_syscall(const struct mst_syscall_line *a, const struct mst_syscall_line *b)
{
	bool nr = a->nr == b->nr || a->nr == MST_SYS_RESTART || b->nr == MST_SYS_RESTART;
	return !a->running && !b->running && a->nr >= 0 && b->nr >= 0 && nr && a->sp == b->sp &&
	       a->pc == b->pc && a->args[0] == b->args[0];
}

/* The values of the n words at offs in buf, each mixed with its place
 * (a strong 64-bit finaliser per word): two different sets of values
 * agree by chance only. */
static uint64_t snap_words_hash(const uint8_t *buf, const uint32_t *offs, size_t n)
{
	uint64_t h = 0x243F6A8885A308D3ull ^ n;
	for (size_t i = 0; i < n; i++) {
		uint64_t v;
		memcpy(&v, buf + offs[i], sizeof(v));
		h ^= v + 0x9E3779B97F4A7C15ull * (i + 1);
		h ^= h >> 33;
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 33;
		h *= 0xc4ceb9fe1a85ec53ull;
		h ^= h >> 33;
	}
	return h;
}

/* Is t blocked where its last walk left it, with the same stack words
 * under the walk? Then its native stack is the same and it need not be
 * stopped. The stack is read without stopping it: a thread blocked in the
 * kernel does not change it. */
bool snap_still_blocked(struct mst_proc *p, const struct mst_thread_snap *t,
                        const struct mst_syscall_line *now, uint8_t *buf, size_t *got)
{
	const struct mst_thread_memo *m = &t->memo;
	if (got)
		*got = 0;
	if (m->tid != t->tid || !m->walked || m->stack_len > MST_STACK_COPY_MAX ||
	    !same_syscall(now, &m->sys) || mst_proc_read(p, m->stack_base, buf, m->stack_len) < 0)
		return false;
	if (got)
		*got = m->stack_len;
	return snap_words_hash(buf, m->word_offs, m->nwords) == m->words_hash;
}

/* Remember what this walk needs to be recognised next time (m->sys was
 * read just before the stop). */
void snap_memo_walk(struct mst_thread_snap *t, const struct mst_stack_copy *copy)
{
	struct mst_thread_memo *m = &t->memo;
	if (m->tid != t->tid)
		m->walks = 0;
	m->tid = t->tid;
	m->walked = false;
	m->reuses = 0;
	if (m->walks < UINT8_MAX)
		m->walks++;
	m->stack_len = copy->used;
	/* Only a thread blocked in a system call can be recognised, and only
	 * when every word its walk read was noted. */
	if (m->sys.running || m->sys.nr < 0 || t->npcs == 0 || !copy->reads ||
	    copy->nreads > copy->reads_max)
		return;
	if (copy->nreads > m->words_cap) {
		uint32_t *w = realloc(m->word_offs, copy->nreads * sizeof(*w));
		if (!w)
			return;
		m->word_offs = w;
		m->words_cap = copy->nreads;
	}
	/* A walk can note no word (every read served from registers); the
	 * array is then still unallocated, and memcpy wants a pointer even
	 * for zero bytes. */
	if (copy->nreads)
		memcpy(m->word_offs, copy->reads, copy->nreads * sizeof(*m->word_offs));
	m->nwords = copy->nreads;
	m->words_hash = snap_words_hash(copy->data, m->word_offs, m->nwords);
	m->stack_base = copy->base;
	m->npcs = t->npcs;
	m->regs = t->regs;
	m->walked = true;
}

/* Remember the Python frames just read, with the thread's CPU time read
 * before them: had it run during the read, the next runtime differs and
 * they are read again. */
void snap_memo_py(struct mst_thread_snap *t, bool rt_ok, uint64_t rt)
{
	struct mst_thread_memo *m = &t->memo;
	m->py_kept = t->has_py && rt_ok;
	m->runtime = rt;
	m->py_tstate = t->tstate;
	m->npy = t->npy;
	m->py_truncated = t->py_truncated;
	m->py_error = t->py_error;
}

bool snap_py_reuse(struct mst_thread_snap *t, const struct mst_py_thread *pt)
{
	const struct mst_thread_memo *m = &t->memo;
	if (m->tid != t->tid || m->py_tstate != pt->tstate || !t->py || m->npy > t->py_cap)
		return false;
	t->has_py = true;
	t->tstate = pt->tstate;
	snap_copy(t->pyname, sizeof(t->pyname), pt->name);
	t->npy = m->npy;
	t->py_reused = true;
	t->py_truncated = m->py_truncated;
	t->py_error = m->py_error;
	return true;
}

/* A thread blocked where it was that has not run at all since its Python
 * frames were last read: they are the same (only a thread moves its own
 * frame chain), and are taken from the slot as they are. Its GIL
 * ownership is read again: another thread's take or drop changes it. */
bool snap_py_unchanged(struct mst_py *py, struct mst_thread_snap *t, const struct mst_py_thread *pt,
                       uint64_t rt)
{
	const struct mst_thread_memo *m = &t->memo;
	if (!m->py_kept || rt != m->runtime || !snap_py_reuse(t, pt))
		return false;
	struct mst_py_gil g;
	if (mst_py_read_gil(py, &g) == 0 && g.known)
		t->holds_gil = g.holder == pt->tstate && g.locked;
	else
		t->holds_gil = pt->holds_gil;
	return true;
}

/* Forget what the last take found, keep its memory, and make room for nt
 * threads. */
int snap_reset(struct mst_snapshot *s, size_t nt, bool native, bool python)
{
	s->nthreads = 0;
	s->py_status = 0;
	s->py_msg[0] = s->py_version[0] = s->py_note[0] = '\0';
	s->gc_known = s->gc_collecting = s->gc_thread_unknown = false;
	s->orphan_tstates = s->reused = s->unrun = 0;
	if (native && !s->stack && !(s->stack = malloc(MST_STACK_COPY_MAX)))
		return -ENOMEM;
	if (native && !s->reads && !(s->reads = malloc(MST_STACK_READS_MAX * sizeof(*s->reads))))
		return -ENOMEM;
	if (native && !s->wpcs && !(s->wpcs = malloc(MST_MAX_NATIVE_FRAMES * sizeof(*s->wpcs))))
		return -ENOMEM;
	if (native && !s->wexact && !(s->wexact = malloc(MST_MAX_NATIVE_FRAMES)))
		return -ENOMEM;
	if (python && !s->scratch &&
	    !(s->scratch = malloc(MST_PY_MAX_FRAMES * sizeof(*s->scratch))))
		return -ENOMEM;
	if (nt > s->threads_cap) {
		struct mst_thread_snap *v = realloc(s->threads, nt * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memset(v + s->threads_cap, 0, (nt - s->threads_cap) * sizeof(*v));
		s->threads = v;
		s->threads_cap = nt;
	}
	for (size_t i = 0; i < nt; i++) {
		struct mst_thread_snap *t = &s->threads[i];
		snap_locals_drop(t);
		struct mst_thread_snap keep = *t;
		memset(t, 0, sizeof(*t));
		t->pcs = keep.pcs;
		t->pc_exact = keep.pc_exact;
		t->nkinds = keep.nkinds;
		t->pcs_cap = keep.pcs_cap;
		t->py = keep.py;
		t->py_cap = keep.py_cap;
		t->memo = keep.memo;
		t->comm_tid = keep.comm_tid;
		memcpy(t->comm, keep.comm, sizeof(t->comm));
	}
	return 0;
}

/* Room for n native frames in t's pcs, pc_exact and nkinds. */
static bool pcs_room(struct mst_thread_snap *t, size_t n)
{
	if (n <= t->pcs_cap)
		return true;
	size_t c = n < 16 ? 16 : n + n / 2;
	if (c > MST_MAX_NATIVE_FRAMES)
		c = n;
	uint64_t *p = realloc(t->pcs, c * sizeof(*p));
	if (p)
		t->pcs = p;
	uint8_t *e = p ? realloc(t->pc_exact, c) : NULL;
	if (e)
		t->pc_exact = e;
	uint8_t *k = e ? realloc(t->nkinds, c) : NULL;
	if (k)
		t->nkinds = k;
	if (!k)
		return false;
	t->pcs_cap = c;
	return true;
}

void snap_walk(struct mst_snapshot *s, struct mst_unwinder *u, struct mst_thread_snap *t,
               struct mst_stack_copy *copy, struct mst_walk_memo *wm)
{
	size_t n = 0;
	mst_unwind_memo(u, &t->regs, copy, wm, s->wpcs, s->wexact, MST_MAX_NATIVE_FRAMES, &n, NULL);
	/* Out of memory: no native frames, as an unwalkable thread. */
	if (!pcs_room(t, n))
		n = 0;
	/* An unwalkable thread may never have had room allocated. */
	if (n) {
		memcpy(t->pcs, s->wpcs, n * sizeof(*t->pcs));
		memcpy(t->pc_exact, s->wexact, n);
	}
	t->npcs = n;
}

/* Which thread states exist, their names, the collector's flag; or why
 * there is no Python. Their frames are read here only when no thread is
 * stopped (python-only); otherwise per thread, while it is stopped. */
int snap_py_begin(struct mst_snapshot *s, struct mst_proc *p, struct mst_py *py,
                  const struct mst_err *py_err, unsigned flags, struct mst_err *err)
{
	struct mst_py_threads *ptl = &s->pt;
	if (!py) {
		s->py_status = py_err && py_err->code ? py_err->code : -MST_ENOPYTHON;
		snprintf(s->py_msg, sizeof(s->py_msg), "%s",
		         py_err && py_err->msg[0] ? py_err->msg : "no Python runtime found");
		return 0;
	}
	snap_copy(s->py_version, sizeof(s->py_version), mst_py_version(py));
	snap_copy(s->py_note, sizeof(s->py_note), mst_py_limits(py));
	struct mst_err e = {0};
	bool names = !(flags & MST_SNAP_NO_NAMES);
	if ((flags & SNAP_KEEP_THREAD_LIST) && ptl->n) {
		memset(s->used, 0, ptl->n * sizeof(*s->used));
		return 0;
	}
	snap_index_drop(s);
	int prc = flags & MST_SNAP_PYTHON_ONLY ? mst_py_read_threads(py, names, ptl, &e)
	                                       : mst_py_read_thread_list(py, names, ptl, &e);
	if (prc < 0) {
		s->py_status = prc;
		snprintf(s->py_msg, sizeof(s->py_msg), "%s", e.msg);
	}
	/* The runtime's tids are its PID namespace's: ours from here on (-1,
	 * a thread not listed yet: matched as one without a tid). */
	for (size_t i = 0; p && i < ptl->n; i++)
		if (ptl->v[i].native_tid > 0)
			ptl->v[i].native_tid = mst_proc_tid_of_ns(p, (pid_t)ptl->v[i].native_tid);
	s->gc_known = ptl->gc_known;
	s->gc_collecting = ptl->gc_collecting;
	if (ptl->n > s->used_cap) {
		bool *nu = realloc(s->used, ptl->n * sizeof(*nu));
		if (!nu)
			return mst_err_set(err, -ENOMEM, "out of memory");
		s->used = nu;
		s->used_cap = ptl->n;
	}
	if (ptl->n)
		memset(s->used, 0, ptl->n * sizeof(*s->used));
	return 0;
}

/* Each thread's GIL ownership was read at a different instant (while it
 * was stopped, or one after another without stops): the GIL may have
 * moved in between. A snapshot shows one holder, as of now: a recording's
 * GIL spans never overlap. Also counts the thread states no thread
 * matched. */
void snap_py_end(struct mst_snapshot *s, struct mst_py *py)
{
	for (size_t k = 0; k < s->pt.n; k++)
		s->orphan_tstates += !s->used[k];
	if (!py)
		return;
	size_t holders = 0;
	for (size_t i = 0; i < s->nthreads; i++)
		holders += s->threads[i].holds_gil;
	struct mst_py_gil g;
	if (holders > 1 && mst_py_read_gil(py, &g) == 0 && g.known)
		for (size_t i = 0; i < s->nthreads; i++)
			s->threads[i].holds_gil =
			    g.locked && s->threads[i].has_py && g.holder == s->threads[i].tstate;
}

void snap_reused(struct mst_snapshot *s, struct mst_thread_snap *t)
{
	t->reused = true;
	s->reused++;
	if (++t->memo.reuses < SNAP_MEMO_IDLE_TAKES) {
		mst_walk_memo_trim(t->memo.walk);
		return;
	}
	if (!t->memo.walk)
		return;
	uint64_t a, b, c;
	mst_walk_memo_stats(t->memo.walk, &a, &b, &c);
	s->walk_verified_gone += b;
	s->walk_differed_gone += c;
	mst_walk_memo_free(t->memo.walk);
	t->memo.walk = NULL;
}

/* A thread's first two walks in its slot are not kept: one blocked from
 * the start (most of a thousand) is walked twice (the first take reads no
 * system call, so it is recognised from the second), and would then hold
 * its walk for nothing until it wakes; the memory a take of them all
 * allocated stays with msttop however much of it is freed later. Its third
 * walk is kept, and the ones after end early from the last. */
struct mst_walk_memo *snap_walk_memo(struct mst_thread_snap *t, unsigned flags)
{
	if (!t->memo.walk && t->memo.tid == t->tid && t->memo.walks >= 2)
		t->memo.walk = mst_walk_memo_new(flags & MST_SNAP_VERIFY_WALKS);
	return t->memo.walk;
}

void snap_walk_stats(struct mst_snapshot *s)
{
	s->walk_verified = s->walk_verified_gone;
	s->walk_differed = s->walk_differed_gone;
	for (size_t i = 0; i < s->nthreads; i++) {
		uint64_t a, b, c;
		mst_walk_memo_stats(s->threads[i].memo.walk, &a, &b, &c);
		s->walk_verified += b;
		s->walk_differed += c;
	}
}

/* The thread state of tid without its registers to match pthread_self()
 * with: the runtime's own record of the thread's tid (3.6-3.10 have none:
 * read from glibc's struct pthread). */
struct mst_py_thread *snap_match_by_tid(struct mst_snapshot *s, struct mst_proc *p,
                                        struct mst_py *py, struct mst_thread_snap *t)
{
	struct mst_py_threads *ptl = &s->pt;
	pid_t tid = t->tid;
	struct mst_py_thread *m = snap_match_tstate(s, tid, 0, false);
	if (m)
		return m;
	/* The thread state this thread had at the last take, if it still
	 * names the same pthread_t: no two live threads share one, and this
	 * thread is alive. Saves a read of glibc's struct per thread state
	 * per thread. */
	if (t->memo.tid == tid && t->memo.match_tstate && s->pyindex && s->pyindex->valid) {
		size_t k = index_find(s->pyindex->ts, s->pyindex->nts, t->memo.match_tstate);
		if (k < ptl->n && !s->used[k] && ptl->v[k].native_tid <= 0 &&
		    ptl->v[k].thread_id == t->memo.match_thread)
			return &ptl->v[k];
	}
	for (size_t k = 0; k < ptl->n && !m; k++)
		/* Without a native_tid, glibc's: its PID namespace's. */
		if (!s->used[k] && ptl->v[k].native_tid <= 0 &&
		    mst_proc_tid_of_ns(p, mst_py_thread_tid(py, &ptl->v[k])) == tid &&
		    mst_proc_task_index(p, tid) >= 0)
			m = &ptl->v[k];
	if (m && t->memo.tid == tid) {
		t->memo.match_tstate = m->tstate;
		t->memo.match_thread = m->thread_id;
	}
	return m;
}

bool snap_thread_info(struct mst_proc *p, pid_t pid, size_t i, unsigned flags, char known,
                      struct mst_thread_snap *t, bool *in_ptrace_stop)
{
	t->tid = mst_proc_task(p, i);
	t->regs.syscall_nr = -1;
	/* The state on every take, through an fd kept open; the name only
	 * when names are read, or for a thread new in this slot. */
	bool comm = !(flags & MST_SNAP_NO_NAMES) || t->comm_tid != t->tid;
	if (known)
		t->state = known;
	if ((comm && mst_proc_task_info(pid, t->tid, t->comm, NULL) < 0) || known == 'X' ||
	    (!known && mst_proc_task_state(p, t->tid, &t->state) < 0)) {
		t->comm_tid = 0;
		t->error = -ESRCH;
		snprintf(t->errmsg, sizeof(t->errmsg), "thread has exited");
		return false;
	}
	t->comm_tid = t->tid;
	/* Every thread runs between our stops; a seized thread that a stop
	 * signal halted shows as 't' (traced) instead of 'T'. So does one a
	 * signal has just reached: it waits in its signal-delivery-stop until
	 * we let the signal through, which only a stop does (handle_status). */
	*in_ptrace_stop = t->state == 't';
	if (t->state == 't')
		t->state = 'T';
	return true;
}

/* Task i has not run at all since the last take found it blocked and
 * kept its walk and Python frames (its CPU time, one read, is the same):
 * then nothing of it can have changed — not its stack, its frames, its
 * system call, nor whether it holds the GIL (another thread takes it only
 * once this one let it go) — and nothing else is read. Its state letter
 * stays too: woken meanwhile, it is shown still in its call, as a take a
 * moment earlier would. A thousand idle threads cost a thousand reads, or
 * none where the scheduler program (perf.h) says they have not run. */
static bool idle_since(struct mst_snapshot *s, struct mst_proc *p, struct mst_py *py, size_t i,
                       unsigned flags, const struct mst_snap_sched *sv, struct mst_thread_snap *t)
{
	struct mst_thread_memo *m = &t->memo;
	pid_t tid = mst_proc_task(p, i);
	/* Not the main thread: a process that has exited leaves it a zombie
	 * whose CPU time no longer changes, and its state is what tells. */
	if (m->tid != tid || tid == s->pid || !m->walked || !m->idle_ok || t->comm_tid != tid)
		return false;
	/* Has not taken a CPU since (the scheduler program says so), or its
	 * CPU time, one read, is the same. */
	uint64_t rt;
	if (!sv->still) {
		if (mst_proc_task_runtime(p, tid, &rt) < 0 || rt != m->runtime)
			return false;
		/* Read before its CPU time, which says it was off a CPU
		 * then: next time, the switch count will do. */
		snap_memo_sched(m, sv, true);
	}
	/* A refresh reads the names again: its name, the one read here (its
	 * Python name came with its thread state). */
	if (!(flags & MST_SNAP_NO_NAMES) && mst_proc_task_info(s->pid, tid, t->comm, NULL) < 0)
		return false;
	struct mst_py_thread *pt = NULL;
	t->tid = tid; /* snap_py_reuse checks the memo is this thread's */
	if (py && m->py_kept) {
		pt = snap_match_tstate(s, tid, m->regs.tp, true);
		if (!pt || s->used[pt - s->pt.v] || !snap_py_reuse(t, pt))
			return false;
		s->used[pt - s->pt.v] = true;
		t->holds_gil = m->holds_gil;
	} else if (py && snap_match_tstate(s, tid, m->regs.tp, true)) {
		return false; /* Python frames not kept */
	}
	t->state = m->state;
	t->regs = m->regs;
	t->npcs = m->npcs;
	snap_reused(s, t);
	s->unrun += sv->still;
	return true;
}

int mst_snapshot_take(struct mst_proc *p, struct mst_unwinder *u, struct mst_py *py,
                      const struct mst_err *py_err, unsigned flags, struct mst_snapshot **out,
                      struct mst_err *err)
{
	return mst_snapshot_take_watched(p, u, py, py_err, NULL, NULL, flags, out, err);
}

int mst_snapshot_take_watched(struct mst_proc *p, struct mst_unwinder *u, struct mst_py *py,
                              const struct mst_err *py_err,
                              bool (*task)(void *ctx, pid_t tid, struct mst_perf_task *out),
                              void *task_ctx, unsigned flags, struct mst_snapshot **out,
                              struct mst_err *err)
{
	bool py_only = flags & MST_SNAP_PYTHON_ONLY;
	struct mst_snapshot *s = *out;
	bool fresh = !s;
	if (fresh && !(s = calloc(1, sizeof(*s))))
		return mst_err_set(err, -ENOMEM, "out of memory");
	size_t nt = mst_proc_ntasks(p);
	struct mst_py_threads *ptl = &s->pt;
	int rc = 0;
	if (snap_reset(s, nt, !py_only, py != NULL) < 0) {
		rc = mst_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (fresh) {
		s->pid = mst_proc_pid(p);
		mst_read_cmdline(s->pid, s->cmdline, sizeof(s->cmdline));
	}
	/* What the scheduler saw of each thread, before anything of it is
	 * read (its Python frames are, in the next step, with
	 * MST_SNAP_PYTHON_ONLY): off a CPU at the last take and no switch
	 * since, it has not run since, and what is read after is what it
	 * was then. */
	if (task && !fresh) {
		if (mst_array_grow((void **)&s->sched, &s->sched_cap, nt, sizeof(*s->sched)) < 0) {
			task = NULL;
		} else {
			for (size_t i = 0; i < nt; i++) {
				struct mst_snap_sched *sc = &s->sched[i];
				const struct mst_thread_memo *mm = &s->threads[i].memo;
				pid_t tid = mst_proc_task(p, i);
				memset(sc, 0, sizeof(*sc));
				sc->have = task(task_ctx, tid, &sc->k);
				sc->still = snap_sched_still(mm, tid, sc->have, &sc->k);
			}
		}
	} else {
		task = NULL;
	}
	if ((rc = snap_py_begin(s, p, py, py_err, flags, err)) < 0)
		goto out;

	size_t alive = 0, pending = 0;
	for (size_t i = 0; i < nt; i++) {
		struct mst_thread_snap *t = &s->threads[s->nthreads++];
		bool in_ptrace_stop = false;
		static const struct mst_snap_sched none;
		const struct mst_snap_sched *sv = task ? &s->sched[i] : &none;
		pid_t tid = mst_proc_task(p, i);
		if (!py_only && !fresh && idle_since(s, p, py, i, flags, sv, t)) {
			alive++;
			continue;
		}
		char known = py_only && sv->still && t->comm_tid == tid ? t->memo.state
		             : py_only && sv->have && sv->k.switched    ? sv->k.state
		                                                        : 0;
		if (!snap_thread_info(p, s->pid, i, flags, known, t, &in_ptrace_stop))
			continue;
		if (py_only) {
			s->unrun += known && sv->still;
			/* Its state as read, with the switch count read before
			 * it: unchanged next time, the state is the same. */
			t->memo.tid = tid;
			snap_memo_sched(&t->memo, sv, t->state != 'R');
			struct mst_py_thread *m = snap_match_by_tid(s, p, py, t);
			if (m) {
				s->used[m - ptl->v] = true;
				copy_py(t, m);
				/* Not run since the last take, the same thread
				 * state: the frames are those given then (the
				 * agg counts them without looking). */
				if (known && sv->still && t->memo.py_tstate == m->tstate &&
				    t->memo.npy == t->npy) {
					t->py_reused = true;
					snap_reused(s, t);
				}
				t->memo.py_tstate = m->tstate;
				t->memo.npy = t->npy;
				/* Read from a running thread: a value may be caught
				 * mid-change or belong to a frame that has just
				 * returned (the reads are checked and bounded, the
				 * worst is a wrong or <unreadable> value). Who asks
				 * for no stop gets what can be read without one,
				 * as py-spy --nonblocking does. */
				if (flags & MST_SNAP_LOCALS)
					read_locals(py, t);
			}
			alive++;
			continue;
		}
		/* Blocked where it was last time: its native stack is the one
		 * walked then; read its Python frames, and check it did not
		 * move meanwhile. */
		/* Where it is blocked, read once: it decides whether the last
		 * walk still holds, and is kept for the next take otherwise. */
		struct mst_syscall_line now = {.running = true};
		if (!fresh && mst_proc_task_syscall(p, t->tid, &now) < 0)
			now = (struct mst_syscall_line){.running = true};
		t->memo.idle_ok = false;
		t->memo.sched_off = false;
		/* A blocked thread is not stopped again, unless a signal stopped
		 * it: left there, the signal would never reach its handler. Its
		 * CPU time is read before anything else of it: unchanged at
		 * the next take, what is read after is still so (idle_since). */
		uint64_t rt = 0;
		bool rt_ok = !fresh && !in_ptrace_stop && t->memo.tid == t->tid && t->memo.walked &&
		             mst_proc_task_runtime(p, t->tid, &rt) == 0;
		if (!fresh && !in_ptrace_stop && snap_still_blocked(p, t, &now, s->stack, NULL)) {
			t->regs = t->memo.regs;
			t->npcs = t->memo.npcs;
			struct mst_py_thread *m =
			    py ? snap_match_tstate(s, t->tid, t->regs.tp, true) : NULL;
			if (m && !(rt_ok && snap_py_unchanged(py, t, m, rt))) {
				snap_read_py_stopped(py, t, m, s->scratch, flags);
				snap_memo_py(t, rt_ok, rt);
			}
			struct mst_syscall_line after;
			bool read = mst_proc_task_syscall(p, t->tid, &after) == 0;
			if (read && same_syscall(&after, &now)) {
				if (m)
					s->used[m - ptl->v] = true;
				snap_reused(s, t);
				alive++;
				t->memo.runtime = rt;
				t->memo.idle_ok = rt_ok && (!m || t->memo.py_kept);
				/* The switch count, read before its system call
				 * and CPU time: blocked then. */
				snap_memo_sched(&t->memo, sv, !now.running);
				continue;
			}
			/* It moved: take it the usual way. */
			now = read ? after : (struct mst_syscall_line){.running = true};
			t->has_py = false;
			t->py_reused = false;
			t->npy = 0;
			t->npcs = 0;
			snap_locals_drop(t);
		}
		/* Ask every thread to stop first (see mst_proc_interrupt). */
		t->memo.sys = now;
		if (mst_proc_interrupt(p, t->tid) < 0) {
			t->error = -ESRCH;
			snprintf(t->errmsg, sizeof(t->errmsg), "thread has exited");
			continue;
		}
		t->pause_ns = 1; /* marks "interrupted, not yet read" */
		pending++;
	}
	uint64_t deadline = mst_clock_ns() + SNAP_STOP_TIMEOUT_NS;
	while (pending > 0) {
		uint64_t now = mst_clock_ns();
		pid_t tid = 0;
		struct mst_regs regs;
		struct mst_err terr = {0};
		int src = now < deadline ? mst_proc_wait_any(p, deadline - now, &tid, &regs, &terr)
		                         : -ETIMEDOUT;
		if (src == -MST_EINTR) {
			rc = mst_err_set(err, src, "interrupted");
			goto out;
		}
		if (src == -ETIMEDOUT) {
			/* Threads in uninterruptible sleep stop only when they
			 * leave the kernel: report them, do not wait for them. */
			for (size_t i = 0; i < s->nthreads; i++) {
				struct mst_thread_snap *t = &s->threads[i];
				if (t->pause_ns == 1 && !t->error) {
					t->error = -ETIMEDOUT;
					t->pause_ns = 0;
					snprintf(t->errmsg, sizeof(t->errmsg),
					         "did not stop in time (uninterruptible sleep?)");
				}
			}
			break;
		}
		/* Slot i is proc's task i. */
		ssize_t ti = mst_proc_task_index(p, tid);
		struct mst_thread_snap *t =
		    ti >= 0 && (size_t)ti < s->nthreads ? &s->threads[ti] : NULL;
		if (t && (t->tid != tid || t->pause_ns != 1))
			t = NULL;
		if (!t) {
			if (src == 0)
				mst_proc_resume(p, tid); /* not asked for in this snapshot */
			continue;
		}
		pending--;
		if (src < 0) {
			t->error = src;
			t->pause_ns = 0;
			snprintf(t->errmsg, sizeof(t->errmsg), "%s", terr.msg);
			continue;
		}
		uint64_t t0 = mst_clock_ns();
		t->regs = regs;
		struct mst_stack_copy copy;
		/* Copy what this thread's last walk used, and a page more. */
		size_t first = t->memo.tid == t->tid && t->memo.stack_len
		                   ? (t->memo.stack_len + 2 * 4096) & ~(size_t)4095
		                   : STACK_COPY_FIRST;
		mst_stack_copy_take(p, &t->regs, s->stack, MST_STACK_COPY_MAX, first, &copy);
		copy.reads = s->reads;
		copy.reads_max = s->reads ? MST_STACK_READS_MAX : 0;
		/* Stopped for its walk: one that ends from the thread's last
		 * walk where they meet stops it for less (--dump takes one
		 * look, no memo). */
		struct mst_walk_memo *wm =
		    flags & MST_SNAP_DETACH ? NULL : snap_walk_memo(t, flags);
		snap_walk(s, u, t, &copy, wm);
		if (py) {
			struct mst_py_thread *m = snap_match_tstate(s, t->tid, t->regs.tp, true);
			if (m) {
				s->used[m - ptl->v] = true;
				/* Stopped: its CPU time is that of the read. Only
				 * a thread blocked in a system call can be reused
				 * next time: a running one (or a --dump, which takes
				 * no second look) costs no extra read. */
				uint64_t rt = 0;
				bool rt_ok = !(flags & MST_SNAP_DETACH) && !t->memo.sys.running &&
				             t->memo.sys.nr >= 0 &&
				             mst_proc_task_runtime(p, t->tid, &rt) == 0;
				snap_read_py_stopped(py, t, m, s->scratch, flags);
				snap_memo_py(t, rt_ok, rt);
			}
		}
		if (flags & MST_SNAP_DETACH)
			mst_proc_detach(p, t->tid);
		else
			mst_proc_resume(p, t->tid);
		t->pause_ns = mst_clock_ns() - t0;
		/* The timeout is for the waits: the time this thread's read
		 * took is not time the others were waited for (a thread with
		 * megabytes of locals, read under valgrind, took more than the
		 * whole timeout, and a thread that had stopped long before was
		 * reported as not stopping). */
		deadline += t->pause_ns;
		if (t->pause_ns <= 1)
			t->pause_ns = 2;
		/* After the resume: what the walk read, for the next take (a
		 * --dump, which read no syscall line, keeps only the size). */
		snap_memo_walk(t, &copy);
		alive++;
	}
	snap_py_end(s, py);
	if (flags & MST_SNAP_VERIFY_WALKS)
		snap_walk_stats(s); /* a test hook: not every tick's work */
	/* What a thread that does not run until the next take is shown with
	 * then (idle_since). */
	for (size_t i = 0; i < s->nthreads; i++) {
		s->threads[i].memo.state = s->threads[i].state;
		s->threads[i].memo.holds_gil = s->threads[i].holds_gil;
	}
	if (alive == 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d", (int)s->pid);
		if (access(path, F_OK) < 0)
			rc = mst_err_set(err, -ESRCH, "process %d exited during the snapshot",
			                 (int)s->pid);
	}
out:
	if (rc < 0) {
		if (fresh)
			mst_snapshot_free(s);
		else
			s->nthreads = 0;
		return rc;
	}
	*out = s;
	return 0;
}

int mst_snapshot_take_core(struct mst_corefile *c, struct mst_unwinder *u, struct mst_py *py,
                           const struct mst_err *py_err, unsigned flags, struct mst_snapshot **out,
                           struct mst_err *err)
{
	*out = NULL;
	struct mst_snapshot *s = calloc(1, sizeof(*s));
	if (!s)
		return mst_err_set(err, -ENOMEM, "out of memory");
	size_t nt = mst_corefile_nthreads(c);
	int rc = snap_reset(s, nt, u != NULL, py != NULL);
	if (rc < 0 || (rc = snap_py_begin(s, NULL, py, py_err, 0, err)) < 0) {
		mst_snapshot_free(s);
		return rc == -ENOMEM ? mst_err_set(err, rc, "out of memory") : rc;
	}
	s->pid = mst_corefile_pid(c);
	s->core = c;
	snprintf(s->cmdline, sizeof(s->cmdline), "%s", mst_corefile_cmdline(c));
	for (size_t i = 0; i < nt; i++) {
		const struct mst_corefile_thread *ct = mst_corefile_thread(c, i);
		struct mst_thread_snap *t = &s->threads[s->nthreads++];
		t->tid = ct->tid;
		t->regs = ct->regs;
		uint8_t insn[MST_ARCH_SYSCALL_INSN_LEN];
		struct mst_reader r = mst_corefile_reader(c);
		if (mst_read(&r, t->regs.ip, insn, sizeof(insn)) == 0)
			mst_arch_syscall_pc_after(&t->regs, insn);
		/* A core keeps one name, the process's; no thread's own. */
		snprintf(t->comm, sizeof(t->comm), "%s", mst_corefile_comm(c));
		/* No /proc state either: a thread inside a call that sleeps
		 * was asleep, any other was running. */
		t->state = mst_arch_syscall_blocks(t->regs.syscall_nr) ? 'S' : 'R';
		/* Memory does not change: the walk reads it in place. */
		if (u)
			snap_walk(s, u, t, NULL, NULL);
		struct mst_py_thread *m =
		    py ? snap_match_tstate(s, t->tid, t->regs.tp, true) : NULL;
		if (m) {
			s->used[m - s->pt.v] = true;
			snap_read_py_stopped(py, t, m, s->scratch, flags & MST_SNAP_LOCALS);
		}
	}
	snap_py_end(s, py);
	*out = s;
	return 0;
}

void mst_snapshot_free(struct mst_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; s->threads && i < s->threads_cap; i++) {
		free(s->threads[i].memo.word_offs);
		mst_py_reads_free(&s->threads[i].memo.py_reads);
		mst_walk_memo_free(s->threads[i].memo.walk);
		free(s->threads[i].pcs);
		free(s->threads[i].pc_exact);
		free(s->threads[i].nkinds);
		free(s->threads[i].py);
		snap_locals_drop(&s->threads[i]);
	}
	free(s->threads);
	free(s->stack);
	free(s->reads);
	free(s->wpcs);
	free(s->wexact);
	free(s->scratch);
	free(s->used);
	free(s->sched);
	mst_py_threads_free(&s->pt);
	if (s->pyindex) {
		free(s->pyindex->tid);
		free(s->pyindex->tp);
		free(s->pyindex->ts);
		free(s->pyindex);
	}
	free(s);
}

void mst_snapshot_merge(const struct mst_thread_snap *t, bool native, bool *entry,
                        struct mst_mframe *out, size_t max, size_t *n)
{
	for (size_t i = 0; i < t->npy; i++)
		entry[i] = t->py[i].entry;
	size_t nnat = native && t->nkinds ? t->npcs : 0;
	mst_merge(t->nkinds, nnat, entry, t->npy, !t->py_truncated && !t->py_error, out, max, n);
}

/* The role of a native function by its ELF name (no DWARF is read for
 * frames that are folded away anyway). */
static enum mst_py_fn_role role_by_name(void *ctx, uint64_t pc, bool is_return)
{
	/* Asked of the same few addresses every tick: the answer is kept
	 * with the cached name (role + 1). */
	uint8_t *tag;
	const char *name = mst_symbols_func_name_tag(ctx, pc, is_return, &tag);
	if (*tag)
		return (enum mst_py_fn_role)(*tag - 1);
	enum mst_py_fn_role r = mst_py_function_role(name);
	*tag = (uint8_t)(r + 1);
	return r;
}

void mst_snapshot_classify(struct mst_snapshot *s, struct mst_py *py, struct mst_symbols *sym)
{
	struct mst_classify_in in = {
	    .info = py ? mst_py_info(py) : NULL, .role = sym ? role_by_name : NULL, .ctx = sym};
	/* Only where the GIL lives is needed: who holds it was read with
	 * the threads. */
	if (py)
		mst_py_gil_where(py, &in.gil);
	if (py && s->gc_collecting)
		mst_py_collector(py, &in.gc, &in.ngc);
	/* nkinds has the room of pcs (pcs_room). */
	mst_classify(s, &in);
}
