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

/* How often the task list and the module list are refreshed: new threads
 * and newly loaded libraries are picked up within this time. */
#define REFRESH_NS 500000000ull
#define PAUSE_RING 1024
#define SEC_NS 1000000000ull
#define MEMLOG_NS (10 * SEC_NS)
/* How long after opening a target without a readable Python it is looked
 * for again at each refresh (later, only when the code mapped changes). */
#define PY_RETRY_NS (10 * SEC_NS)
#define MAX_MERGED (MST_MAX_NATIVE_FRAMES * 4 + MST_PY_MAX_FRAMES)

struct mst_sampler {
	struct mst_sampler_opts o;
	volatile sig_atomic_t *cancel;
	struct mst_target *tg;     /* proc, py, unwinder, symbols: ask it */
	struct mst_snapshot *snap; /* the last tick's, its memory reused by the next */
	struct mst_agg *agg;
	struct mst_record *records[MST_SAMPLER_RECORDS_MAX]; /* borrowed */
	size_t nrecords;
	struct mst_target_info target;
	struct mst_sampler_stats st;
	FILE *log;
	bool paused;
	size_t unreaped; /* once the target exited: its traced threads not collected yet */
	uint64_t interval_ns, next_due, last_tick, last_refresh, last_memlog, started;
	uint64_t rate_t0, rate_ticks0;
	uint64_t tick_ns_sum;
	uint64_t pauses[PAUSE_RING];
	size_t npauses, pause_pos;
	/* Per-tick buffers, reused. */
	struct mst_agg_frame_in *frames;
	struct mst_agg_thread_in *threads;
	size_t threads_cap;
	struct mst_stack stack;
	/* Python thread names by tid, read at each refresh rather than every
	 * tick: the lookup walks dicts in the target and names rarely change. */
	struct pyname {
		pid_t tid;
		char name[64];
	} * pynames;
	size_t npynames, pynames_cap;
	/* The target's working directory, for the short form of its Python
	 * files (format.h), read at each refresh; and those forms, cached by
	 * the decoder's interned file name. */
	char cwd[1024];
	struct short_cache {
		const char *file;
		uint16_t off;
	} shorts[256];
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

static void retry_py(struct mst_sampler *s)
{
	if (mst_target_retry_py(s->tg) < 0)
		return;
	s->target.has_python = true;
	s->target.py_msg[0] = 0;
	s->target.py_code = 0;
	struct mst_py *py = mst_target_py(s->tg);
	snprintf(s->target.py_version, sizeof(s->target.py_version), "%s", mst_py_version(py));
	snprintf(s->target.py_note, sizeof(s->target.py_note), "%s", mst_py_limits(py));
	/* After an exec, the command line is the new program's. */
	mst_read_cmdline(s->target.pid, s->target.cmdline, sizeof(s->target.cmdline));
	logf_(s, "%s", "the target's Python can be read now");
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
	struct mst_target_opts to = {
	    .pid = o->pid, .python_only = o->nonblocking, .cancel = cancel};
	if ((rc = mst_target_open(&to, &s->tg, err)) < 0)
		goto fail;
	pid_t pid = mst_target_pid(s->tg);
	s->target.pid = pid;
	mst_read_cmdline(pid, s->target.cmdline, sizeof(s->target.cmdline));
	int py_rc;
	const struct mst_err *py_err = mst_target_py_error(s->tg, &py_rc);
	if (py_rc < 0) {
		if (o->nonblocking) {
			rc = mst_err_set(err, py_rc, "%s: --nonblocking reads Python frames only",
			                 py_err->msg);
			goto fail;
		}
		snprintf(s->target.py_msg, sizeof(s->target.py_msg), "%s", py_err->msg);
		s->target.py_code = py_rc;
	} else {
		s->target.has_python = true;
		snprintf(s->target.py_version, sizeof(s->target.py_version), "%s",
		         mst_py_version(mst_target_py(s->tg)));
		snprintf(s->target.py_note, sizeof(s->target.py_note), "%s",
		         mst_py_limits(mst_target_py(s->tg)));
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
	mst_snapshot_free(s->snap);
	mst_agg_free(s->agg);
	mst_target_close(s->tg);
	if (s->log)
		fclose(s->log);
	free(s->frames);
	free(s->threads);
	mst_stack_fini(&s->stack);
	free(s->pynames);
	free(s);
}

uint64_t mst_sampler_next_due(const struct mst_sampler *s)
{
	return s->next_due;
}

struct mst_agg *mst_sampler_agg(struct mst_sampler *s)
{
	return s->agg;
}

const struct mst_target_info *mst_sampler_target(const struct mst_sampler *s)
{
	return &s->target;
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

void mst_sampler_stats(const struct mst_sampler *s, struct mst_sampler_stats *out)
{
	*out = s->st;
	if (s->npauses) {
		uint64_t sorted[PAUSE_RING];
		memcpy(sorted, s->pauses, s->npauses * sizeof(sorted[0]));
		qsort(sorted, s->npauses, sizeof(sorted[0]), cmp_u64);
		out->pause_ns_p50 = sorted[s->npauses / 2];
		out->pause_ns_p99 = sorted[(s->npauses * 99) / 100];
	}
}

static void read_cwd(struct mst_sampler *s)
{
	char path[64], buf[sizeof(s->cwd)];
	snprintf(path, sizeof(path), "/proc/%d/cwd", (int)s->target.pid);
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return;
	buf[n] = '\0';
	if (strcmp(buf, s->cwd)) {
		snprintf(s->cwd, sizeof(s->cwd), "%s", buf);
		memset(s->shorts, 0, sizeof(s->shorts));
	}
}

static uint16_t py_short(struct mst_sampler *s, const char *file)
{
	struct short_cache *c = &s->shorts[((uintptr_t)file >> 4) % 256];
	if (c->file != file) {
		size_t off = mst_fmt_short_path_off(file, s->cwd);
		c->file = file;
		c->off = off <= UINT16_MAX ? (uint16_t)off : 0;
	}
	return c->off;
}

/* Turn one thread's merged stack into agg frames, innermost first. Native
 * frames no module covers are left out. */
static size_t to_agg(struct mst_sampler *s, const struct mst_thread_snap *t)
{
	mst_stack_build(&s->stack, t, mst_target_symbols(s->tg), MST_STACK_NATIVE);
	size_t n = 0;
	for (size_t i = 0; i < s->stack.n && n < MAX_MERGED; i++) {
		const struct mst_frame *f = &s->stack.v[i];
		if (f->py) {
			s->frames[n++] = (struct mst_agg_frame_in){
			    .kind = MST_AGG_PYTHON,
			    .line = (uint32_t)(f->py->line > 0 ? f->py->line : 0),
			    .function = f->py->func,
			    .file = f->py->file,
			    .file_short = f->py->file ? py_short(s, f->py->file) : 0};
		} else if (f->resolved) {
			s->frames[n++] = (struct mst_agg_frame_in){
			    .kind = MST_AGG_NATIVE,
			    .inlined = f->nat.inlined,
			    .folded = f->flags & MST_MF_FOLDED,
			    .interp = f->interp_own,
			    .line = (uint32_t)(f->nat.line > 0 ? f->nat.line : 0),
			    .function = f->label,
			    .file = f->nat.file,
			    .file_short = (uint16_t)mst_symbols_short_off(mst_target_symbols(s->tg),
			                                                  f->nat.file),
			    .module = f->nat.module,
			    .addr = f->pc,
			    .module_off = f->nat.module_off};
		}
	}
	return n;
}

/* The target has exited: collect its threads' exits now (they arrive
 * within moments of its death), so that its parent can reap it while the
 * view stays open on the last figures. What a busy machine leaves for later
 * is collected by mst_sampler_reap. */
static void target_gone(struct mst_sampler *s)
{
	s->st.target_exited = true;
	s->unreaped = (size_t)-1; /* not counted yet */
	for (int i = 0; i < 200 && mst_sampler_reap(s) > 0; i++) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
}

size_t mst_sampler_reap(struct mst_sampler *s)
{
	if (!s->st.target_exited || !s->unreaped)
		return 0;
	s->unreaped = mst_proc_reap(mst_target_proc(s->tg));
	s->st.exit_known = mst_proc_leader_exit(mst_target_proc(s->tg), &s->st.exit_status);
	return s->unreaped;
}

/* What memory holds, every MEMLOG_NS into the log: a long run's growth
 * can then be put down to its owner. */
static void log_memory(struct mst_sampler *s, uint64_t now)
{
	s->last_memlog = now;
	struct mst_symbols_stats st;
	mst_symbols_stats(mst_target_symbols(s->tg), &st);
	struct mallinfo2 mi = mallinfo2();
	fprintf(s->log,
	        "memory at %llu s: heap %zu KB in use of %zu KB; symbols: %zu addresses cached, "
	        "%zu strings, %zu units in tables (%zu KB), libdw holds %llu rows\n",
	        (unsigned long long)((now - s->started) / SEC_NS), mi.uordblks / 1024,
	        (mi.arena + mi.hblkhd) / 1024, st.cached, st.strings, st.units,
	        st.table_bytes / 1024, (unsigned long long)st.libdw_rows);
	fflush(s->log);
}

int mst_sampler_tick(struct mst_sampler *s, uint64_t now, struct mst_err *err)
{
	struct mst_proc *proc = mst_target_proc(s->tg);
	struct mst_py *py = mst_target_py(s->tg);
	struct mst_unwinder *unw = mst_target_unwinder(s->tg);
	struct mst_symbols *sym = mst_target_symbols(s->tg);
	const struct mst_err *py_err = mst_target_py_error(s->tg, NULL);
	if (s->st.target_exited)
		return -ESRCH;
	/* Stay on schedule: the next tick is due one interval after this one
	 * was due, unless we fell behind by more than an interval. */
	s->next_due += s->interval_ns;
	if (s->next_due < now)
		s->next_due = now + s->interval_ns;
	if (s->paused)
		return 0;
	uint64_t t0 = mst_clock_ns();
	struct mst_err e = {0};
	bool refresh = t0 - s->last_refresh >= REFRESH_NS || s->st.ticks == 0;
	if (refresh) {
		s->last_refresh = t0;
		read_cwd(s);
		if (mst_proc_refresh_tasks(proc, &e) < 0) {
			target_gone(s);
			logf_(s, "target exited: %s", e.msg);
			return mst_err_set(err, -ESRCH, "%s", e.msg);
		}
		/* Libraries loaded or unloaded since: name their code too. */
		struct mst_maps *nm = NULL;
		bool changed = false;
		if (mst_maps_read(s->target.pid, &nm, NULL) == 0) {
			if (!maps_equal(nm, mst_target_maps(s->tg))) {
				changed = true;
				mst_target_set_maps(s->tg, nm);
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
		if (!s->target.has_python && !s->o.nonblocking &&
		    (changed || t0 - s->started < PY_RETRY_NS))
			retry_py(s);
		py = mst_target_py(s->tg);
		py_err = mst_target_py_error(s->tg, NULL);
		if (sym)
			mst_symbols_release(sym);
		if (s->log && sym && t0 - s->last_memlog >= MEMLOG_NS)
			log_memory(s, t0);
	}
	/* One snapshot's memory serves every tick. */
	int rc = mst_snapshot_take(proc, unw, py, py_err,
	                           (s->o.nonblocking ? MST_SNAP_PYTHON_ONLY : 0) |
	                               (refresh ? 0 : MST_SNAP_NO_NAMES),
	                           &s->snap, &e);
	struct mst_snapshot *snap = s->snap;
	if (rc == -MST_EINTR)
		return mst_err_set(err, rc, "interrupted");
	if (rc < 0) {
		if (rc == -ESRCH) {
			target_gone(s);
			logf_(s, "target exited: %s", e.msg);
			return mst_err_set(err, rc, "%s", e.msg);
		}
		s->st.errors++;
		logf_(s, "sample failed: %s", e.msg);
		return 0;
	}
	mst_snapshot_classify(snap, py, sym);
	s->st.gc_known |= snap->gc_known;
	if (refresh) {
		/* Remember this tick's names for the ticks that skip them. */
		s->npynames = 0;
		for (size_t i = 0; i < snap->nthreads; i++) {
			if (!snap->threads[i].pyname[0])
				continue;
			if (s->npynames == s->pynames_cap) {
				size_t nc = s->pynames_cap ? 2 * s->pynames_cap : 16;
				struct pyname *np = realloc(s->pynames, nc * sizeof(*np));
				if (!np)
					break;
				s->pynames = np;
				s->pynames_cap = nc;
			}
			struct pyname *pn = &s->pynames[s->npynames++];
			pn->tid = snap->threads[i].tid;
			snprintf(pn->name, sizeof(pn->name), "%s", snap->threads[i].pyname);
		}
	} else {
		for (size_t i = 0; i < snap->nthreads; i++)
			for (size_t k = 0; k < s->npynames; k++)
				if (s->pynames[k].tid == snap->threads[i].tid)
					snprintf(snap->threads[i].pyname,
					         sizeof(snap->threads[i].pyname), "%s",
					         s->pynames[k].name);
	}
	if (s->threads_cap < snap->nthreads) {
		struct mst_agg_thread_in *nt = realloc(s->threads, snap->nthreads * sizeof(*nt));
		if (!nt)
			return mst_err_set(err, -ENOMEM, "out of memory");
		s->threads = nt;
		s->threads_cap = snap->nthreads;
	}
	uint64_t weight = s->last_tick && now > s->last_tick ? now - s->last_tick : s->interval_ns;
	if (weight > 4 * s->interval_ns)
		weight = 4 * s->interval_ns; /* a pause or a stall is not time spent */
	s->last_tick = now;
	mst_agg_begin(s->agg, now, weight);
	for (size_t r = 0; r < s->nrecords; r++)
		mst_record_begin(s->records[r], now, weight);
	size_t nthreads = 0;
	for (size_t i = 0; i < snap->nthreads; i++) {
		const struct mst_thread_snap *t = &snap->threads[i];
		if (t->error && !t->npy) {
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
		    .frames = s->frames,
		    .nframes = to_agg(s, t),
		};
		if (mst_agg_add_thread(s->agg, &in, &e) < 0) {
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
		nthreads++;
	}
	mst_agg_end(s->agg);
	for (size_t r = 0; r < s->nrecords; r++)
		mst_record_end(s->records[r]);
	s->st.threads = nthreads;
	s->st.ticks++;
	uint64_t t1 = mst_clock_ns();
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
