/* The live sampler: one tick is a snapshot of every thread (snapshot.c),
 * classified, merged and fed to the agg. Statistics are its own. */
#include "msttop/sampler.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "msttop/maps.h"
#include "msttop/perf.h"
#include "perf/bpf-abi.h"
#include "msttop/merge.h"
#include "msttop/stack.h"
#include "msttop/target.h"
#include "msttop/proc.h"
#include "msttop/py.h"
#include "msttop/record.h"
#include "msttop/snapshot.h"
#include "msttop/symbols.h"
#include "msttop/unwind.h"
#include "msttop/clock.h"
#include "msttop/format.h"
#include "msttop/array.h"
#include "msttop/strset.h"

/* How often the task list and the module list are refreshed: new threads
 * and newly loaded libraries are picked up within this time. */
#define REFRESH_NS 500000000ull
#define PAUSE_RING 1024
#define SEC_NS 1000000000ull
#define MEMLOG_NS (10 * SEC_NS)
/* Threads from which idle ones are followed by the scheduler program. */
#define SCHED_MIN_THREADS 64
/* How long after opening a target without a readable Python it is looked
 * for again at each refresh (later, only when the code mapped changes). */
#define PY_RETRY_NS (10 * SEC_NS)
#define MAX_MERGED (MST_MAX_NATIVE_FRAMES * 4 + MST_PY_MAX_FRAMES)
/* The perf back end wakes at most this often: the intervals in between are
 * replayed from the samples the kernel kept (each thread's, at its own
 * instant), up to BATCH_MAX of them. A wake costs more than a sample
 * (system calls, every thread's state, cold caches): at 1 kHz, waking every
 * interval cost the target about twice the CPU (bench section 7). Most of a
 * wake's own cost is the threads that ran and blocked since the last one (a
 * GIL waiter wakes every 5 ms), each read again once a wake however often
 * it woke: waking every 20 ms rather than 10 took msttop at 1 kHz from 6.5
 * to 5.3 % of a core. Only above 100 Hz (BATCH_ABOVE_NS): at 100 Hz a wake
 * is a tick. */
#define WAKE_NS (20 * 1000000ull)
#define BATCH_ABOVE_NS (10 * 1000000ull)
#define BATCH_MAX MST_PERF_STORE_QUEUE

/* One process sampled: the target, or (--subprocesses) one of its
 * descendants. */
struct sproc {
	struct mst_target *tg;     /* proc, py, unwinder, symbols: ask it */
	struct mst_snapshot *snap; /* the last tick's, its memory reused by the next */
	struct mst_target_info info;
	int rc;          /* of this tick's snapshot */
	bool exited;     /* gone: its threads are kept in the agg, ended */
	size_t unreaped; /* once exited: its traced threads not collected yet */
	uint64_t opened; /* when: its Python is looked for again for a while */
	/* Python thread names by tid, read at each refresh rather than every
	 * tick: the lookup walks dicts in the target and names rarely change. */
	struct pyname {
		pid_t tid;
		char name[sizeof(((struct mst_thread_snap *)0)->pyname)];
	} * pynames;
	size_t npynames, pynames_cap;
	/* The working directory, for the short form of its Python files
	 * (format.h), read at each refresh; and those forms, cached by the
	 * decoder's interned file name. */
	char cwd[1024];
	struct short_cache {
		const char *file;
		uint16_t off;
	} shorts[256];
	/* Per snapshot slot: the agg frames its thread gave last, for a
	 * thread whose native stack and Python frames were both reused (it
	 * has not run): the same merged stack, not built and named again.
	 * Without records, only whose they were (v NULL): the agg keeps each
	 * thread's last stack and is told to count it again, so a thousand
	 * idle threads are not a second copy of their stacks. */
	struct agg_cache {
		pid_t tid;
		struct mst_agg_frame_in *v;
		size_t n, cap;
	} * acache;
	size_t nacache;
	/* The labels the cached frames hold: a native frame without a symbol
	 * is named "module+0xoff" in the stack builder's buffer, which the
	 * next build overwrites. */
	struct mst_strset *labels;
	/* Perf back end: what its samples copy of its Python, and the newest
	 * sample of each thread. */
	struct mst_py_capture cap;
	bool cap_ok;
	struct mst_perf_store *store;
};

/* A process the descendants' walk found that could not be opened (not
 * permitted, gone, not Python with --nonblocking): not tried again. */
#define SKIPPED_MAX 256

struct mst_sampler {
	struct mst_sampler_opts o;
	volatile sig_atomic_t *cancel;
	/* $MSTTOP_VERIFY_WALKS: each walk ended from a thread's last one is
	 * stepped again and compared (the tests' check of that shortcut). */
	bool verify_walks;
	/* procs[0] is the target; with --subprocesses, its descendants follow
	 * in the order they were found. Pointers: an entry never moves. */
	struct sproc **procs;
	size_t nprocs, procs_cap;
	pid_t skipped[SKIPPED_MAX];
	size_t nskipped;
	struct mst_agg *agg;
	struct mst_record *records[MST_SAMPLER_RECORDS_MAX]; /* borrowed */
	size_t nrecords;
	struct mst_sampler_stats st;
	FILE *log;
	bool paused;
	uint64_t interval_ns, next_due, last_tick, last_refresh, last_memlog, started;
	/* Perf back end: intervals a tick covers, the ones it slept through
	 * replayed from their samples (WAKE_NS). */
	unsigned batch;
	uint64_t rate_t0, rate_ticks0;
	uint64_t tick_ns_sum;
	uint64_t steady_ns, steady_ticks; /* the first tick a second after the start */
	uint64_t pauses[PAUSE_RING];
	size_t npauses, pause_pos;
	struct mst_perf *perf; /* the perf back end, NULL with ptrace */
	/* With ptrace: the scheduler program alone, which tells a thread that
	 * has not run since the last tick (NULL: not permitted or built). */
	struct mst_perf *sched;
	bool sched_wanted, sched_tried;
	/* Per-tick buffers, reused. */
	struct mst_agg_frame_in *frames;
	struct mst_stack stack;
};

/* Whether the code the target has mapped is the same: mapped files and the
 * vdso, the only mappings symbols and unwind tables come from. The heap
 * and anonymous arenas change all the time and must not throw the symbol
 * caches away. */
static bool code_map(const struct mst_map *m)
{
	return m->path && (m->path[0] == '/' || !strcmp(m->path, "[vdso]"));
}

static bool maps_equal(const struct mst_maps *a, const struct mst_maps *b)
{
	size_t i = 0, k = 0;
	for (;;) {
		while (i < a->n && !code_map(&a->v[i]))
			i++;
		while (k < b->n && !code_map(&b->v[k]))
			k++;
		if (i == a->n || k == b->n)
			return i == a->n && k == b->n;
		const struct mst_map *x = &a->v[i++], *y = &b->v[k++];
		if (x->start != y->start || x->end != y->end || x->inode != y->inode ||
		    x->offset != y->offset || strcmp(x->path, y->path))
			return false;
	}
}

static void logf_(struct mst_sampler *s, const char *fmt, const char *msg)
{
	snprintf(s->st.status, sizeof(s->st.status), fmt, msg);
	if (s->log) {
		fprintf(s->log, "%s\n", s->st.status);
		fflush(s->log);
	}
}

/* Perf back end: have the BPF program sample p, copying what its Python
 * needs (once it has a readable one). */
static int perf_watch(struct mst_sampler *s, struct sproc *p, struct mst_err *err)
{
	struct mst_py *py = mst_target_py(p->tg);
	p->cap_ok = py && mst_py_capture_spec(py, &p->cap) == 0;
	if (!p->store && !(p->store = mst_perf_store_new()))
		return mst_err_set(err, -ENOMEM, "out of memory");
	return mst_perf_watch(s->perf, p->info.pid, p->cap_ok ? &p->cap : NULL, err);
}

static void retry_py(struct mst_sampler *s, struct sproc *p)
{
	if (mst_target_retry_py(p->tg) < 0)
		return;
	p->info.has_python = true;
	p->info.py_msg[0] = 0;
	p->info.py_code = 0;
	struct mst_py *py = mst_target_py(p->tg);
	snprintf(p->info.py_version, sizeof(p->info.py_version), "%s", mst_py_version(py));
	snprintf(p->info.py_note, sizeof(p->info.py_note), "%s", mst_py_limits(py));
	/* After an exec, the command line is the new program's. */
	mst_read_cmdline(p->info.pid, p->info.cmdline, sizeof(p->info.cmdline));
	logf_(s, "%s", "the target's Python can be read now");
	struct mst_err e = {0};
	if (s->perf && perf_watch(s, p, &e) < 0)
		logf_(s, "%s", e.msg);
}

static void sproc_free(struct sproc *p)
{
	if (!p)
		return;
	mst_snapshot_free(p->snap);
	mst_target_close(p->tg);
	free(p->pynames);
	for (size_t i = 0; i < p->nacache; i++)
		free(p->acache[i].v);
	free(p->acache);
	mst_strset_free(p->labels);
	mst_perf_store_free(p->store);
	free(p);
}

/* Open pid as one more process to sample. A target without a readable
 * Python is kept (native stacks), except with --nonblocking, which reads
 * Python alone: then -MST_ENOPYTHON and the reason in err. */
static int sproc_open(struct mst_sampler *s, pid_t pid, struct sproc **out, struct mst_err *err)
{
	struct sproc *p = calloc(1, sizeof(*p));
	if (!p)
		return mst_err_set(err, -ENOMEM, "out of memory");
	struct mst_target_opts to = {.pid = pid,
	                             .python_only = s->o.nonblocking,
	                             .no_attach = s->perf != NULL,
	                             .cancel = s->cancel};
	int rc = mst_target_open(&to, &p->tg, err);
	if (rc < 0) {
		free(p);
		return rc;
	}
	p->info.pid = mst_target_pid(p->tg);
	p->opened = mst_clock_ns();
	mst_read_cmdline(p->info.pid, p->info.cmdline, sizeof(p->info.cmdline));
	int py_rc;
	const struct mst_err *py_err = mst_target_py_error(p->tg, &py_rc);
	if (py_rc < 0) {
		if (s->o.nonblocking) {
			rc = mst_err_set(err, py_rc, "%s: --nonblocking reads Python frames only",
			                 py_err->msg);
			sproc_free(p);
			return rc;
		}
		snprintf(p->info.py_msg, sizeof(p->info.py_msg), "%s", py_err->msg);
		p->info.py_code = py_rc;
	} else {
		p->info.has_python = true;
		snprintf(p->info.py_version, sizeof(p->info.py_version), "%s",
		         mst_py_version(mst_target_py(p->tg)));
		snprintf(p->info.py_note, sizeof(p->info.py_note), "%s",
		         mst_py_limits(mst_target_py(p->tg)));
	}
	if (s->perf && (rc = perf_watch(s, p, err)) < 0) {
		sproc_free(p);
		return rc;
	}
	struct mst_err we = {0};
	if (s->sched && mst_perf_watch(s->sched, p->info.pid, NULL, &we) < 0)
		logf_(s, "%s", we.msg);
	*out = p;
	return 0;
}

static int sproc_add(struct mst_sampler *s, struct sproc *p)
{
	if (mst_array_grow((void **)&s->procs, &s->procs_cap, s->nprocs + 1, sizeof(*s->procs)) < 0)
		return -ENOMEM;
	s->procs[s->nprocs++] = p;
	return 0;
}

/* ptrace and --nonblocking, once the processes followed have
 * SCHED_MIN_THREADS threads: the scheduler program alone where BPF is
 * permitted (perf.h), else a read per idle thread per tick, as said in the
 * log. Not for fewer: the program runs at every context switch of the
 * machine (0.3 us each here), and a few idle threads cost a few reads. */
static void open_sched(struct mst_sampler *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->nprocs; i++)
		if (!s->procs[i]->exited && s->procs[i]->tg)
			n += mst_proc_ntasks(mst_target_proc(s->procs[i]->tg));
	if (!s->sched_wanted || s->sched_tried || n < SCHED_MIN_THREADS)
		return;
	s->sched_tried = true;
	struct mst_err e = {0};
	struct mst_perf_opts po = {.switches_only = true};
	if (mst_perf_open(&po, &s->sched, &e) < 0) {
		snprintf(s->st.sched_why, sizeof(s->st.sched_why), "%s", e.msg);
		logf_(s, "idle threads are checked by a read each: %s", e.msg);
		return;
	}
	s->st.sched_watch = true;
	for (size_t i = 0; i < s->nprocs; i++)
		if (!s->procs[i]->exited && s->procs[i]->tg &&
		    mst_perf_watch(s->sched, s->procs[i]->info.pid, NULL, &e) < 0)
			logf_(s, "%s", e.msg);
}

/* perf when asked, or when auto and this build and machine can (else
 * ptrace, with the reason kept for the header and -b's summary). */
static int choose_backend(struct mst_sampler *s, struct mst_err *err)
{
	s->st.backend = MST_BACKEND_PTRACE;
	if (s->o.backend == MST_BACKEND_PTRACE || s->o.nonblocking) {
		s->sched_wanted = true;
		return 0;
	}
	struct mst_err e = {0};
	struct mst_perf_opts po = {.rate_hz = s->o.rate_hz, .stack_pages = 4};
	int rc = mst_perf_open(&po, &s->perf, &e);
	if (rc == 0) {
		s->st.backend = MST_BACKEND_PERF;
		if (s->interval_ns < BATCH_ABOVE_NS)
			s->batch = (unsigned)(WAKE_NS / s->interval_ns);
		if (s->batch > BATCH_MAX)
			s->batch = BATCH_MAX;
		return 0;
	}
	if (s->o.backend == MST_BACKEND_PERF)
		return mst_err_set(err, rc, "%s", e.msg);
	snprintf(s->st.backend_why, sizeof(s->st.backend_why), "%s", e.msg);
	logf_(s, "sampling by ptrace: %s", e.msg);
	s->sched_wanted = true;
	return 0;
}

int mst_sampler_open(const struct mst_sampler_opts *o, volatile sig_atomic_t *cancel,
                     struct mst_sampler **out, struct mst_err *err)
{
	struct mst_sampler *s = calloc(1, sizeof(*s));
	if (!s)
		return mst_err_set(err, -ENOMEM, "out of memory");
	s->o = *o;
	s->cancel = cancel;
	if (s->o.rate_hz <= 0)
		s->o.rate_hz = 100;
	s->interval_ns = (uint64_t)(1e9 / s->o.rate_hz);
	int rc;
	if (o->log_path && !(s->log = fopen(o->log_path, "ae"))) {
		rc = mst_err_set(err, -errno, "cannot open log file %s: %s", o->log_path,
		                 strerror(errno));
		goto fail;
	}
	s->frames = calloc(MAX_MERGED, sizeof(*s->frames));
	if (!s->frames) {
		rc = mst_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	s->verify_walks = getenv("MSTTOP_VERIFY_WALKS") != NULL;
	if ((rc = choose_backend(s, err)) < 0)
		goto fail;
	struct sproc *root = NULL;
	if ((rc = sproc_open(s, o->pid, &root, err)) < 0)
		goto fail;
	if (sproc_add(s, root) < 0) {
		sproc_free(root);
		rc = mst_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if ((rc = mst_agg_new(NULL, &s->agg, err)) < 0)
		goto fail;
	s->st.rate_asked = s->o.rate_hz;
	s->next_due = mst_clock_ns();
	s->rate_t0 = s->started = s->next_due;
	s->last_refresh = s->next_due;
	*out = s;
	return 0;
fail:
	mst_sampler_close(s);
	return rc;
}

void mst_sampler_close(struct mst_sampler *s)
{
	if (!s)
		return;
	mst_agg_free(s->agg);
	for (size_t i = 0; i < s->nprocs; i++)
		sproc_free(s->procs[i]);
	mst_perf_close(s->perf);
	mst_perf_close(s->sched);
	free(s->procs);
	if (s->log)
		fclose(s->log);
	free(s->frames);
	mst_stack_fini(&s->stack);
	free(s);
}

uint64_t mst_sampler_next_due(const struct mst_sampler *s)
{
	return s->batch > 1 ? s->next_due + (s->batch - 1) * s->interval_ns : s->next_due;
}

struct mst_agg *mst_sampler_agg(struct mst_sampler *s)
{
	return s->agg;
}

const struct mst_target_info *mst_sampler_target(const struct mst_sampler *s)
{
	return &s->procs[0]->info;
}

size_t mst_sampler_nprocs(const struct mst_sampler *s)
{
	return s->nprocs;
}

const struct mst_target_info *mst_sampler_proc(const struct mst_sampler *s, size_t i, bool *exited)
{
	if (i >= s->nprocs)
		return NULL;
	if (exited)
		*exited = s->procs[i]->exited;
	return &s->procs[i]->info;
}

int mst_sampler_add_record(struct mst_sampler *s, struct mst_record *r)
{
	if (s->nrecords == MST_SAMPLER_RECORDS_MAX)
		return -ENOSPC;
	s->records[s->nrecords++] = r;
	return 0;
}

void mst_sampler_remove_record(struct mst_sampler *s, const struct mst_record *r)
{
	for (size_t i = 0; i < s->nrecords; i++)
		if (s->records[i] == r) {
			memmove(&s->records[i], &s->records[i + 1],
			        (s->nrecords - i - 1) * sizeof(s->records[0]));
			s->nrecords--;
			return;
		}
}

void mst_sampler_pause(struct mst_sampler *s, bool paused)
{
	s->paused = paused;
}

bool mst_sampler_paused(const struct mst_sampler *s)
{
	return s->paused;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

size_t mst_sampler_record_procs(const struct mst_sampler *s, struct mst_record_proc *out,
                                size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < s->nprocs && n < max; i++, n++) {
		const struct mst_target_info *ti = &s->procs[i]->info;
		out[n] = (struct mst_record_proc){ti->pid, ti->cmdline, ti->py_version};
	}
	return n;
}

void mst_sampler_stats(const struct mst_sampler *s, struct mst_sampler_stats *out)
{
	*out = s->st;
	if (s->steady_ns && s->last_tick > s->steady_ns)
		out->rate_steady = (double)(s->st.ticks - s->steady_ticks) /
		                   ((double)(s->last_tick - s->steady_ns) / 1e9);
	if (s->perf) {
		struct mst_perf_stats ps;
		mst_perf_stats(s->perf, &ps);
		out->perf_samples = ps.samples;
		out->perf_dropped = ps.dropped;
		out->perf_frames = ps.frames;
		out->perf_frames_in_place = ps.frames_in_place;
		out->perf_codes = ps.codes;
		out->perf_codes_held = ps.codes_held;
	}
	for (size_t i = 0; i < s->nprocs; i++) {
		const struct mst_snapshot *sn = s->procs[i]->snap;
		if (!sn)
			continue;
		out->walk_verified += sn->walk_verified;
		out->walk_differed += sn->walk_differed;
	}
	if (s->npauses) {
		uint64_t sorted[PAUSE_RING];
		memcpy(sorted, s->pauses, s->npauses * sizeof(sorted[0]));
		qsort(sorted, s->npauses, sizeof(sorted[0]), cmp_u64);
		out->pause_ns_p50 = sorted[s->npauses / 2];
		out->pause_ns_p99 = sorted[(s->npauses * 99) / 100];
	}
}

static void read_cwd(struct sproc *p)
{
	char path[64], buf[sizeof(p->cwd)];
	snprintf(path, sizeof(path), "/proc/%d/cwd", (int)p->info.pid);
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return;
	buf[n] = '\0';
	if (strcmp(buf, p->cwd)) {
		snprintf(p->cwd, sizeof(p->cwd), "%s", buf);
		memset(p->shorts, 0, sizeof(p->shorts));
		/* The short paths kept in the cached stacks are the old ones. */
		for (size_t i = 0; i < p->nacache; i++)
			p->acache[i].tid = 0;
	}
}

static uint16_t py_short(struct sproc *p, const char *file)
{
	struct short_cache *c = &p->shorts[((uintptr_t)file >> 4) % 256];
	if (c->file != file) {
		size_t off = mst_fmt_short_path_off(file, p->cwd);
		c->file = file;
		c->off = off <= UINT16_MAX ? (uint16_t)off : 0;
	}
	return c->off;
}

/* Turn one thread's merged stack into agg frames, innermost first. Native
 * frames no module covers are left out. */
static size_t to_agg(struct mst_sampler *s, struct sproc *p, const struct mst_thread_snap *t)
{
	struct mst_symbols *sym = mst_target_symbols(p->tg);
	mst_stack_build(&s->stack, t, sym, MST_STACK_NATIVE);
	size_t n = 0;
	for (size_t i = 0; i < s->stack.n && n < MAX_MERGED; i++) {
		const struct mst_frame *f = &s->stack.v[i];
		if (f->py) {
			s->frames[n++] = (struct mst_agg_frame_in){
			    .kind = MST_AGG_PYTHON,
			    .line = (uint32_t)(f->py->line > 0 ? f->py->line : 0),
			    .function = f->py->func,
			    .file = f->py->file,
			    .file_short = f->py->file ? py_short(p, f->py->file) : 0};
		} else if (f->resolved) {
			s->frames[n++] = (struct mst_agg_frame_in){
			    .kind = MST_AGG_NATIVE,
			    .inlined = f->nat.inlined,
			    .folded = f->flags & MST_MF_FOLDED,
			    .interp = f->interp_own,
			    .line = (uint32_t)(f->nat.line > 0 ? f->nat.line : 0),
			    .function = f->label,
			    .file = f->nat.file,
			    .file_short = (uint16_t)mst_symbols_short_off(sym, f->nat.file),
			    .module = f->nat.module,
			    .addr = f->pc,
			    .module_off = f->nat.module_off};
		}
	}
	return n;
}

/* A process has exited: collect its threads' exits now (they arrive
 * within moments of its death), so that its parent can reap it while the
 * view stays open on the last figures. What a busy machine leaves for later
 * is collected by mst_sampler_reap. The target's exit ends the sampling;
 * a descendant's only its own, and its threads end in the agg. */
static void proc_gone(struct mst_sampler *s, struct sproc *p)
{
	p->exited = true;
	p->unreaped = (size_t)-1; /* not counted yet */
	if (p == s->procs[0])
		s->st.target_exited = true;
	for (int i = 0; i < 200; i++) {
		p->unreaped = mst_proc_reap(mst_target_proc(p->tg));
		if (!p->unreaped)
			break;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	/* A child's threads end; the target's keep their last figures on
	 * the screen, which says the target exited. */
	if (p->snap && p != s->procs[0])
		for (size_t i = 0; i < p->snap->nthreads; i++)
			mst_agg_end_thread(s->agg, p->snap->threads[i].tid);
}

/* An exited child whose threads are all collected: its figures are in
 * the agg and its info stays for the screen; what it held (tracing, its
 * symbols, its snapshot) goes, or children that come and go all day
 * would pile up. */
static void child_release(struct mst_sampler *s, struct sproc *p)
{
	if (!p->tg)
		return;
	p->unreaped = mst_proc_reap(mst_target_proc(p->tg));
	if (p->unreaped)
		return;
	mst_perf_unwatch(s->perf, p->info.pid);
	mst_perf_unwatch(s->sched, p->info.pid);
	mst_perf_store_free(p->store);
	p->store = NULL;
	mst_snapshot_free(p->snap);
	p->snap = NULL;
	mst_target_close(p->tg);
	p->tg = NULL;
	for (size_t i = 0; i < p->nacache; i++)
		free(p->acache[i].v);
	free(p->acache);
	p->acache = NULL;
	p->nacache = 0;
	mst_strset_free(p->labels);
	p->labels = NULL;
}

size_t mst_sampler_reap(struct mst_sampler *s)
{
	size_t left = 0;
	for (size_t i = 0; i < s->nprocs; i++) {
		struct sproc *p = s->procs[i];
		if (!p->exited || !p->unreaped || !p->tg)
			continue;
		p->unreaped = mst_proc_reap(mst_target_proc(p->tg));
		left += p->unreaped;
	}
	struct sproc *root = s->procs[0];
	if (root->exited)
		s->st.exit_known =
		    mst_proc_leader_exit(mst_target_proc(root->tg), &s->st.exit_status);
	return s->st.target_exited ? left : 0;
}

/* What memory holds, every MEMLOG_NS into the log: a long run's growth
 * can then be put down to its owner. */
static void log_memory(struct mst_sampler *s, uint64_t now)
{
	s->last_memlog = now;
	struct mallinfo2 mi = mallinfo2();
	struct mst_agg_stats as;
	mst_agg_stats(s->agg, &as);
	fprintf(s->log,
	        "memory at %llu s: heap %zu KB in use of %zu KB; agg %zu KB (%zu threads, %zu "
	        "lean, %zu entries, %zu nodes, %zu rings, %zu frames)",
	        (unsigned long long)((now - s->started) / SEC_NS), mi.uordblks / 1024,
	        (mi.arena + mi.hblkhd) / 1024, as.bytes / 1024, as.threads, as.threads_lean,
	        as.thread_entries, as.tree_nodes, as.rings, as.frames);
	for (size_t i = 0; i < s->nprocs; i++) {
		if (s->procs[i]->exited || !s->procs[i]->tg)
			continue;
		struct mst_symbols *sym = mst_target_symbols(s->procs[i]->tg);
		if (!sym)
			continue;
		struct mst_symbols_stats st;
		mst_symbols_stats(sym, &st);
		fprintf(s->log,
		        "; process %d symbols: %zu addresses cached, %zu strings, %zu units in "
		        "tables (%zu KB), libdw holds %llu rows",
		        (int)s->procs[i]->info.pid, st.cached, st.strings, st.units,
		        st.table_bytes / 1024, (unsigned long long)st.libdw_rows);
	}
	fputc('\n', s->log);
	fflush(s->log);
}

/* New tasks, new libraries, a Python that came up: every refresh. -ESRCH
 * when the process is gone. */
static int refresh_proc(struct mst_sampler *s, struct sproc *p, uint64_t t0)
{
	struct mst_err e = {0};
	struct mst_symbols *sym = mst_target_symbols(p->tg);
	struct mst_unwinder *unw = mst_target_unwinder(p->tg);
	read_cwd(p);
	if (mst_proc_refresh_tasks(mst_target_proc(p->tg), &e) < 0) {
		logf_(s, p == s->procs[0] ? "target exited: %s" : "a child exited: %s", e.msg);
		return -ESRCH;
	}
	/* Libraries loaded or unloaded since: name their code too. */
	struct mst_maps *nm = NULL;
	bool changed = false;
	if (mst_maps_read(p->info.pid, &nm, NULL) == 0) {
		if (!maps_equal(nm, mst_target_maps(p->tg))) {
			changed = true;
			mst_target_set_maps(p->tg, nm);
			nm = NULL;
			if (sym && mst_symbols_refresh(sym, &e) < 0)
				logf_(s, "symbols: %s", e.msg);
			if (unw)
				mst_unwinder_flush(unw);
		}
		mst_maps_free(nm);
	}
	/* A program msttop started may still be a shell that will exec
	 * Python, or a Python whose runtime is coming up. */
	if (!p->info.has_python && !s->o.nonblocking && (changed || t0 - p->opened < PY_RETRY_NS))
		retry_py(s, p);
	if (sym)
		mst_symbols_release(sym);
	return 0;
}

static bool known_pid(const struct mst_sampler *s, pid_t pid)
{
	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i]->info.pid == pid)
			return true;
	for (size_t i = 0; i < s->nskipped; i++)
		if (s->skipped[i] == pid)
			return true;
	return false;
}

/* --subprocesses: the target's descendants now; each new one is opened
 * (and attached) as it is found. One that cannot be is said once in the
 * log and the status line, and not tried again. */
static void find_children(struct mst_sampler *s)
{
	pid_t *kids = NULL, *parents = NULL;
	size_t n = 0;
	if (mst_proc_descendants(s->procs[0]->info.pid, &kids, &parents, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (known_pid(s, kids[i]))
			continue;
		struct sproc *p = NULL;
		struct mst_err e = {0};
		if (sproc_open(s, kids[i], &p, &e) < 0 || sproc_add(s, p) < 0) {
			sproc_free(p);
			if (s->nskipped < SKIPPED_MAX)
				s->skipped[s->nskipped++] = kids[i];
			char msg[MST_ERR_MSG_MAX + 64];
			snprintf(msg, sizeof(msg), "process %d not followed: %s", (int)kids[i],
			         e.msg[0] ? e.msg : "out of memory");
			logf_(s, "%s", msg);
		}
	}
	free(kids);
	free(parents);
}

static int cmp_pyname(const void *a, const void *b)
{
	const struct pyname *x = a, *y = b;
	return (x->tid > y->tid) - (x->tid < y->tid);
}

MST_DEFINE_LOWER_BOUND(pyname_at, struct pyname, tid, pid_t)

/* Keep this tick's Python names for the ticks that skip them, or give
 * them back to the threads of a tick that skipped them (kept sorted by
 * tid: a thousand threads are not a million compares a tick). */
static void names(struct sproc *p, bool refresh)
{
	struct mst_snapshot *snap = p->snap;
	if (!refresh) {
		for (size_t i = 0; i < snap->nthreads && p->npynames; i++) {
			pid_t tid = snap->threads[i].tid;
			size_t k = pyname_at(p->pynames, p->npynames, tid);
			/* Copied whole, as kept: per thread per tick. */
			if (k < p->npynames && p->pynames[k].tid == tid)
				memcpy(snap->threads[i].pyname, p->pynames[k].name,
				       sizeof(snap->threads[i].pyname));
		}
		return;
	}
	p->npynames = 0;
	for (size_t i = 0; i < snap->nthreads; i++) {
		if (!snap->threads[i].pyname[0])
			continue;
		if (p->npynames == p->pynames_cap) {
			size_t nc = p->pynames_cap ? 2 * p->pynames_cap : 16;
			struct pyname *np = realloc(p->pynames, nc * sizeof(*np));
			if (!np)
				break;
			p->pynames = np;
			p->pynames_cap = nc;
		}
		struct pyname *pn = &p->pynames[p->npynames++];
		pn->tid = snap->threads[i].tid;
		snprintf(pn->name, sizeof(pn->name), "%s", snap->threads[i].pyname);
	}
	if (p->npynames > 1)
		qsort(p->pynames, p->npynames, sizeof(*p->pynames), cmp_pyname);
}

/* The agg frames of thread t (snapshot slot i): the ones it gave last
 * when it has not run since (native stack and Python frames reused),
 * else built and named now, and kept for the next tick. */
static void agg_frames(struct mst_sampler *s, struct sproc *p, size_t i,
                       const struct mst_thread_snap *t, struct mst_agg_thread_in *in)
{
	if (i >= p->nacache) {
		size_t nc = p->snap->threads_cap > i ? p->snap->threads_cap : i + 1;
		struct agg_cache *c = realloc(p->acache, nc * sizeof(*c));
		if (c) {
			memset(c + p->nacache, 0, (nc - p->nacache) * sizeof(*c));
			p->acache = c;
			p->nacache = nc;
		}
	}
	struct agg_cache *c = i < p->nacache ? &p->acache[i] : NULL;
	if (c && c->tid == t->tid && t->reused && t->py_reused && (c->v || !s->nrecords)) {
		/* None kept: the agg's copy (feed builds them should it have
		 * none). */
		in->frames = c->v;
		in->nframes = c->v ? c->n : 0;
		in->unchanged = true;
		return;
	}
	in->frames = s->frames;
	in->nframes = to_agg(s, p, t);
	if (!c)
		return;
	c->tid = 0;
	/* Kept only for a thread blocked in a system call: the only kind
	 * whose next tick can reuse it. */
	if (t->memo.sys.running || t->memo.sys.nr < 0)
		return;
	if (!s->nrecords) {
		free(c->v);
		c->v = NULL;
		c->n = c->cap = 0;
		c->tid = t->tid;
		return;
	}
	if (!p->labels && !(p->labels = mst_strset_new()))
		return;
	if (mst_array_grow((void **)&c->v, &c->cap, in->nframes ? in->nframes : 1, sizeof(*c->v)) <
	    0)
		return;
	memcpy(c->v, s->frames, in->nframes * sizeof(*c->v));
	for (size_t k = 0; k < in->nframes; k++)
		if (c->v[k].kind == MST_AGG_NATIVE && c->v[k].function &&
		    !(c->v[k].function = mst_strset_get(p->labels, c->v[k].function, 0, true)))
			return;
	c->n = in->nframes;
	c->tid = t->tid;
}

/* Feed one process's threads of this tick to the agg and the records. */
static void feed(struct mst_sampler *s, struct sproc *p, size_t *nthreads)
{
	struct mst_err e = {0};
	struct mst_snapshot *snap = p->snap;
	for (size_t i = 0; i < snap->nthreads; i++) {
		const struct mst_thread_snap *t = &snap->threads[i];
		if ((t->error && !t->npy) || t->py_transient) {
			if (t->error == -ESRCH)
				s->st.misses++;
			else
				s->st.errors++;
			continue;
		}
		if (t->pause_ns) {
			s->pauses[s->pause_pos] = t->pause_ns;
			s->pause_pos = (s->pause_pos + 1) % PAUSE_RING;
			if (s->npauses < PAUSE_RING)
				s->npauses++;
		}
		struct mst_agg_thread_in in = {
		    .tid = t->tid,
		    .name = t->pyname[0] ? t->pyname : t->comm,
		    .state = t->states, /* the agg counts the same flags */
		    .pid = p->info.pid,
		};
		agg_frames(s, p, i, t, &in);
		int rc = mst_agg_add_thread(s->agg, &in, &e);
		if (rc == -ENODATA && !in.frames) {
			/* The agg had no last stack of it (evicted): built now. */
			in.frames = s->frames;
			in.nframes = to_agg(s, p, t);
			in.unchanged = false;
			rc = mst_agg_add_thread(s->agg, &in, &e);
		}
		if (rc < 0) {
			s->st.errors++;
			logf_(s, "aggregation: %s", e.msg);
		}
		for (size_t r = 0; r < s->nrecords; r++)
			if (mst_record_add_thread(s->records[r], &in, &e) < 0) {
				s->st.errors++;
				logf_(s, "recording: %s", e.msg);
			}
		s->st.thread_samples++;
		s->st.thread_stops += t->pause_ns > 0;
		(*nthreads)++;
	}
}

/* A sample drained from the perf ring buffer, kept as its thread's
 * newest until the tick's snapshot reads it. */
static void perf_put(void *ctx, const struct mst_bpf_sample *smp)
{
	struct mst_sampler *s = ctx;
	for (size_t i = 0; i < s->nprocs; i++) {
		struct sproc *p = s->procs[i];
		if (!p->exited && p->info.pid == (pid_t)smp->pid) {
			if (mst_perf_store_put(p->store, smp) < 0)
				s->st.errors++;
			return;
		}
	}
}

/* Of a thread's stack, what a sample copies: its walks' need and room to
 * spare (a quarter, and 512 bytes), in 256-byte steps so that a need that
 * wanders a little costs no system call. */
static uint32_t stack_bytes(uint32_t need)
{
	if (!need)
		return 0;
	uint64_t b = ((uint64_t)need + need / 4 + 512 + 255) & ~(uint64_t)255;
	return b < MST_BPF_STACK_PAGES_MAX * 4096 ? (uint32_t)b : MST_BPF_STACK_PAGES_MAX * 4096;
}

/* At a refresh, after the snapshot: every thread of p sampled, each with
 * its Python thread state (as the snapshot matched it) and its stack's
 * need. */
static void perf_threads(struct mst_sampler *s, struct mst_perf *pf, struct sproc *p)
{
	struct mst_snapshot *snap = p->snap;
	size_t cap = snap->nthreads ? snap->nthreads : 1;
	struct mst_perf_thread *th = malloc(cap * sizeof(*th));
	pid_t *tids = malloc(cap * sizeof(*tids));
	size_t n = 0;
	for (size_t i = 0; th && tids && i < snap->nthreads; i++) {
		const struct mst_thread_snap *t = &snap->threads[i];
		if (t->error == -ESRCH)
			continue;
		tids[n] = t->tid;
		th[n++] = (struct mst_perf_thread){
		    .tid = t->tid,
		    .tstate = t->has_py ? t->tstate : 0,
		    .stack_bytes = t->memo.tid == t->tid ? stack_bytes(t->memo.stack_need) : 0};
	}
	struct mst_err e = {0};
	if (th && tids) {
		if (mst_perf_threads(pf, p->info.pid, th, n, &e) < 0) {
			s->st.errors++;
			logf_(s, "%s", e.msg);
		}
		mst_perf_store_keep(p->store, tids, n);
	}
	free(th);
	free(tids);
}

/* Feed every process's snapshot to the agg and the records as the instant
 * now. */
static void feed_all(struct mst_sampler *s, uint64_t now)
{
	uint64_t weight = s->last_tick && now > s->last_tick ? now - s->last_tick : s->interval_ns;
	if (weight > 4 * s->interval_ns)
		weight = 4 * s->interval_ns; /* a pause or a stall is not time spent */
	s->last_tick = now;
	mst_agg_begin(s->agg, now, weight);
	for (size_t r = 0; r < s->nrecords; r++)
		mst_record_begin(s->records[r], now, weight);
	size_t nthreads = 0;
	for (size_t i = 0; i < s->nprocs; i++)
		if (!s->procs[i]->exited && s->procs[i]->rc == 0)
			feed(s, s->procs[i], &nthreads);
	mst_agg_end(s->agg);
	for (size_t r = 0; r < s->nrecords; r++)
		mst_record_end(s->records[r]);
	s->st.threads = nthreads;
}

/* What a sampled take or replay of p reads its samples from. */
static struct mst_snap_samples samples_of(struct mst_sampler *s, struct sproc *p)
{
	return (struct mst_snap_samples){.get = mst_perf_store_get,
	                                 .get_in = mst_perf_store_get_in,
	                                 .ctx = p->store,
	                                 .cap = p->cap_ok ? &p->cap : NULL,
	                                 .task = mst_perf_task,
	                                 .task_ctx = s->perf,
	                                 .codes = mst_perf_codes_of(s->perf)};
}

/* Instant at of a tick that slept through it (perf back end): each
 * process's snapshot moved to at by the samples taken since the last
 * instant (mst_snapshot_replay_sampled), fed as a tick. */
static void replay(struct mst_sampler *s, uint64_t at)
{
	for (size_t i = 0; i < s->nprocs; i++) {
		struct sproc *p = s->procs[i];
		if (p->exited || p->rc < 0 || !p->snap)
			continue;
		struct mst_py *py = mst_target_py(p->tg);
		struct mst_snap_samples src = samples_of(s, p);
		s->st.replay_samples += mst_snapshot_replay_sampled(
		    p->snap, mst_target_proc(p->tg), mst_target_unwinder(p->tg), py, &src,
		    s->last_tick, at, s->verify_walks ? MST_SNAP_VERIFY_WALKS : 0);
		mst_snapshot_classify(p->snap, py, mst_target_symbols(p->tg));
	}
	feed_all(s, at);
	s->st.ticks++;
	s->st.replayed++;
}

int mst_sampler_tick(struct mst_sampler *s, uint64_t now, struct mst_err *err)
{
	if (s->st.target_exited)
		return -ESRCH;
	/* Stay on schedule: the next tick is due one interval after this one
	 * was due, unless we fell behind by more than an interval. */
	uint64_t due = s->next_due;
	s->next_due += s->interval_ns;
	if (s->next_due < now)
		s->next_due = now + s->interval_ns;
	if (s->paused)
		return 0;
	uint64_t t0 = mst_clock_ns();
	if (s->perf) {
		int n = mst_perf_drain(s->perf, perf_put, s);
		if (n < 0)
			s->st.errors++;
		/* The intervals slept through, from their samples; then this
		 * one, taken now. Not those of a pause or a stall, which are
		 * not time spent. */
		if (s->batch > 1 && due + (uint64_t)s->batch * s->interval_ns < now)
			due = now - (uint64_t)(s->batch - 1) * s->interval_ns;
		for (unsigned k = 0; s->batch > 1 && s->last_tick && k < BATCH_MAX &&
		                     due + s->interval_ns <= now && due > s->last_tick;
		     k++, due += s->interval_ns)
			replay(s, due);
		s->next_due = due + s->interval_ns;
		if (s->next_due < now)
			s->next_due = now + s->interval_ns;
	}
	bool refresh = t0 - s->last_refresh >= REFRESH_NS || s->st.ticks == 0;
	if (refresh) {
		s->last_refresh = t0;
		for (size_t i = 0; i < s->nprocs; i++) {
			struct sproc *p = s->procs[i];
			if (p->exited && i > 0)
				child_release(s, p);
			if (p->exited || refresh_proc(s, p, t0) == 0)
				continue;
			proc_gone(s, p);
			if (i == 0)
				return mst_err_set(err, -ESRCH, "%s", s->st.status);
		}
		if (s->o.subprocesses)
			find_children(s);
		open_sched(s);
		if (s->log && t0 - s->last_memlog >= MEMLOG_NS)
			log_memory(s, t0);
	}
	/* Every process's snapshot first: the tick is fed to the agg whole,
	 * or not at all when the target is gone. */
	for (size_t i = 0; i < s->nprocs; i++) {
		struct sproc *p = s->procs[i];
		if (p->exited)
			continue;
		struct mst_err e = {0};
		struct mst_py *py = mst_target_py(p->tg);
		struct mst_symbols *sym = mst_target_symbols(p->tg);
		unsigned names_flag = (refresh ? 0 : MST_SNAP_NO_NAMES) |
		                      (s->verify_walks ? MST_SNAP_VERIFY_WALKS : 0);
		/* One snapshot's memory serves every tick. */
		if (s->perf) {
			struct mst_snap_samples src = samples_of(s, p);
			p->rc = mst_snapshot_take_sampled(
			    mst_target_proc(p->tg), mst_target_unwinder(p->tg), py,
			    mst_target_py_error(p->tg, NULL), &src, names_flag, &p->snap, &e);
			mst_perf_store_taken(p->store);
		} else {
			p->rc = mst_snapshot_take_watched(
			    mst_target_proc(p->tg), mst_target_unwinder(p->tg), py,
			    mst_target_py_error(p->tg, NULL), s->sched ? mst_perf_task : NULL,
			    s->sched, (s->o.nonblocking ? MST_SNAP_PYTHON_ONLY : 0) | names_flag,
			    &p->snap, &e);
		}
		if (p->rc == -MST_EINTR)
			return mst_err_set(err, p->rc, "interrupted");
		if (p->rc == -ESRCH) {
			logf_(s, i == 0 ? "target exited: %s" : "a child exited: %s", e.msg);
			proc_gone(s, p);
			if (i == 0)
				return mst_err_set(err, -ESRCH, "%s", e.msg);
			continue;
		}
		if (p->rc < 0) {
			s->st.errors++;
			logf_(s, "sample failed: %s", e.msg);
			continue;
		}
		s->st.sched_unrun += p->snap->unrun;
		mst_snapshot_classify(p->snap, py, sym);
		s->st.gc_known |= p->snap->gc_known;
		names(p, refresh);
		if (s->perf && refresh)
			perf_threads(s, s->perf, p);
		else if (s->sched && refresh)
			perf_threads(s, s->sched, p);
	}
	feed_all(s, now);
	s->st.ticks++;
	uint64_t t1 = mst_clock_ns();
	if (!s->steady_ns && now - s->started >= SEC_NS) {
		s->steady_ns = now;
		s->steady_ticks = s->st.ticks;
	}
	s->st.tick_ns_last = t1 - t0;
	s->tick_ns_sum += t1 - t0;
	s->st.tick_ns_avg = s->tick_ns_sum / s->st.ticks;
	if (t1 - s->rate_t0 >= 1000000000ull) {
		s->st.rate_achieved =
		    (double)(s->st.ticks - s->rate_ticks0) * 1e9 / (double)(t1 - s->rate_t0);
		s->rate_t0 = t1;
		s->rate_ticks0 = s->st.ticks;
	}
	return 0;
}
