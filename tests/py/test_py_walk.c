/* Live tests of src/py/py.c: the thread-state and frame walk, code names,
 * line numbers, entry flags, thread names, the GIL holder and the
 * collector's flag, on a running target of every installed interpreter
 * (read without stopping it: the threads checked are blocked in sleeps).
 * One summary line per interpreter; the test fails if any check fails on
 * any interpreter. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "msttop/maps.h"
#include "msttop/proc.h"
#include "msttop/py.h"
#include "msttop/py_locals.h"

Suite *py_walk_suite(void);

#define START_TIMEOUT_MS 20000

/* Failures of one interpreter's checks, kept as text so that every
 * interpreter runs and the summary names every failure. */
struct ctx {
	const struct mst_interp *interp;
	char msg[8192];
	size_t len;
};

__attribute__((format(printf, 2, 3))) static bool flunk(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	if (c->len + 4 >= sizeof(c->msg))
		return false;
	c->len +=
	    (size_t)snprintf(c->msg + c->len, sizeof(c->msg) - c->len, "  [%s] ", c->interp->label);
	if (c->len >= sizeof(c->msg))
		c->len = sizeof(c->msg) - 1;
	va_start(ap, fmt);
	c->len += (size_t)vsnprintf(c->msg + c->len, sizeof(c->msg) - c->len, fmt, ap);
	va_end(ap);
	if (c->len + 2 < sizeof(c->msg)) {
		c->msg[c->len++] = '\n';
		c->msg[c->len] = '\0';
	} else {
		c->len = sizeof(c->msg) - 1;
	}
	return false;
}

#define CHECK(c, cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			flunk(c, __VA_ARGS__);                                                     \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

/* Wait until every thread of pid is asleep (state S) on two looks 20 ms
 * apart: the ready line is printed just before the final sleeps, and the
 * frames are only stable once they are reached. false after timeout_ms. */
static bool wait_all_sleeping(pid_t pid, int timeout_ms)
{
	int stable = 0;
	for (int waited = 0; waited < timeout_ms; waited += 20) {
		char path[64];
		DIR *d;
		struct dirent *de;
		bool all = true;
		snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
		d = opendir(path);
		if (!d)
			return false;
		while ((de = readdir(d)) && all) {
			char spath[300], buf[512], *p;
			FILE *f;
			if (de->d_name[0] == '.')
				continue;
			snprintf(spath, sizeof(spath), "/proc/%d/task/%s/stat", (int)pid,
			         de->d_name);
			f = fopen(spath, "r");
			if (!f)
				continue;
			if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] == ' ')
				all = p[2] == 'S';
			fclose(f);
		}
		closedir(d);
		stable = all ? stable + 1 : 0;
		if (stable >= 2)
			return true;
		usleep(20000);
	}
	return false;
}

/* A started target with its runtime opened. */
struct live {
	struct mst_child t;
	pid_t pid;
	struct mst_reader r;
	struct mst_py *py;
	char *script;
};

static bool live_start(struct ctx *c, struct live *lv, const char *rel, const char *arg,
                       bool settle)
{
	struct mst_err err = {0};
	struct mst_maps *maps = NULL;
	int rc;

	memset(lv, 0, sizeof(*lv));
	lv->script = mst_src_path(rel);
	if (mst_child_start_py(&lv->t, c->interp, rel, arg, START_TIMEOUT_MS) != 0)
		return flunk(c, "%s: target did not start", rel);
	lv->pid = lv->t.pid;
	if (settle && !wait_all_sleeping(lv->pid, 5000))
		return flunk(c, "%s: threads did not all reach their sleeps", rel);
	lv->r = (struct mst_reader){mst_pid_reader_read, &lv->pid};
	rc = mst_maps_read(lv->pid, &maps, &err);
	if (rc == 0)
		rc = mst_py_open(lv->pid, maps, &lv->r, &lv->py, &err);
	mst_maps_free(maps);
	if (rc < 0)
		return flunk(c, "%s: mst_py_open: %s", rel, err.msg);
	return true;
}

static void live_stop(struct live *lv)
{
	mst_py_close(lv->py);
	lv->py = NULL;
	mst_child_stop(&lv->t);
	free(lv->script);
	lv->script = NULL;
}

static bool read_threads(struct ctx *c, struct live *lv, struct mst_py_threads *th)
{
	struct mst_err err = {0};
	if (mst_py_read_threads(lv->py, true, th, &err) < 0)
		return flunk(c, "mst_py_read_threads: %s", err.msg);
	return true;
}

static int64_t ready_int(const struct live *lv, const char *key)
{
	char buf[64];
	if (mst_child_ready_value(&lv->t, key, buf, sizeof(buf)) != 0)
		return -2;
	return strtoll(buf, NULL, 10);
}

/* The thread whose innermost frame runs func, or NULL. */
static const struct mst_py_thread *thread_at(const struct mst_py_threads *th, const char *func)
{
	for (size_t i = 0; i < th->n; i++)
		if (th->v[i].nframes && strcmp(th->v[i].frames[0].func, func) == 0)
			return &th->v[i];
	return NULL;
}

static bool file_is(const char *file, const char *script)
{
	return file && strcmp(file, script) == 0;
}

/* frames[i] is func in the target script at the line marked mark. */
static bool frame_is(struct ctx *c, const struct live *lv, const struct mst_py_thread *t, size_t i,
                     const char *func, const char *mark)
{
	const struct mst_py_frame *f;
	int want;

	if (i >= t->nframes)
		return flunk(c, "thread \"%s\": no frame %zu (want %s), %zu frames", t->name, i,
		             func, t->nframes);
	f = &t->frames[i];
	if (strcmp(f->func, func) != 0)
		return flunk(c, "thread \"%s\" frame %zu: func \"%s\", want \"%s\"", t->name, i,
		             f->func, func);
	if (!file_is(f->file, lv->script))
		return flunk(c, "frame %zu %s: file \"%s\", want \"%s\"", i, func, f->file,
		             lv->script);
	want = mst_marker_line(lv->script, mark);
	if (want <= 0)
		return flunk(c, "no MARK: %s in %s", mark, lv->script);
	if (f->line != want)
		return flunk(c, "frame %zu %s: line %d, want %d (MARK: %s)", i, func, f->line, want,
		             mark);
	return true;
}

static bool tid_is(struct ctx *c, const struct live *lv, const struct mst_py_thread *t,
                   const char *key)
{
	int64_t want = ready_int(lv, key);
	if (c->interp->minor < 11)
		return t->native_tid == -1
		           ? true
		           : flunk(c, "native_tid %" PRId64 " before 3.11", t->native_tid);
	if (t->native_tid != want)
		return flunk(c,
		             "thread \"%s\": native_tid %" PRId64 ", ready line says %s=%" PRId64,
		             t->name, t->native_tid, key, want);
	return true;
}

static bool name_is(struct ctx *c, const struct mst_py_thread *t, const char *want)
{
	if (strcmp(t->name, want) != 0)
		return flunk(c, "thread at %s: name \"%s\", want \"%s\"", t->frames[0].func,
		             t->name, want);
	return true;
}

static const char *threading_name(const struct ctx *c, const char *meth)
{
	static const char *const qual[][2] = {
	    {"run", "Thread.run"},
	    {"_bootstrap_inner", "Thread._bootstrap_inner"},
	    {"_bootstrap", "Thread._bootstrap"},
	};
	for (size_t i = 0; i < sizeof(qual) / sizeof(qual[0]); i++)
		if (strcmp(meth, qual[i][0]) == 0)
			return c->interp->minor >= 11 ? qual[i][1] : qual[i][0];
	return meth;
}

/* The three threading.py frames under a thread's target function. */
static bool bootstrap_frames(struct ctx *c, const struct mst_py_thread *t, size_t from)
{
	static const char *const meths[] = {"run", "_bootstrap_inner", "_bootstrap"};
	if (t->nframes != from + 3)
		return flunk(c, "thread \"%s\": %zu frames, want %zu", t->name, t->nframes,
		             from + 3);
	for (size_t i = 0; i < 3; i++) {
		const struct mst_py_frame *f = &t->frames[from + i];
		const char *want = threading_name(c, meths[i]);
		size_t fl = strlen(f->file);
		if (strcmp(f->func, want) != 0 || fl < 12 ||
		    strcmp(f->file + fl - 12, "threading.py") != 0 || f->line <= f->firstlineno)
			return flunk(c,
			             "thread \"%s\" frame %zu: %s %s:%d, want %s in threading.py",
			             t->name, from + i, f->func, f->file, f->line, want);
	}
	return true;
}

/* Entry flags: 3.6-3.10 every frame; 3.11+ exactly the frames listed. */
static bool entries_are(struct ctx *c, const struct mst_py_thread *t, const size_t *idx,
                        size_t nidx)
{
	for (size_t i = 0; i < t->nframes; i++) {
		bool want = c->interp->minor < 11;
		for (size_t j = 0; j < nidx && !want; j++)
			want = idx[j] == i;
		if (t->frames[i].entry != want)
			return flunk(c, "thread \"%s\" frame %zu (%s): entry %d, want %d", t->name,
			             i, t->frames[i].func, t->frames[i].entry, want);
	}
	return true;
}

/* ---- scenarios ------------------------------------------------------------ */

#define DEPTH 50

/* py_recurse.py: exact frames of a 50-deep recursion and of a second chain,
 * names, no GIL holder needed, no collection running. */
static bool check_recurse(struct ctx *c, size_t *nthreads)
{
	struct live lv;
	struct mst_py_threads th = {0};
	const struct mst_py_thread *m, *ch;
	struct mst_py_frame *fr = NULL;
	size_t n = 0, i;
	bool trunc = false, ok = false;
	struct mst_err err = {0};

	if (!live_start(c, &lv, "tests/targets/py_recurse.py", "50", true))
		goto out;
	if (!read_threads(c, &lv, &th))
		goto out;
	*nthreads = th.n;
	CHECK(c, th.n == 2, "py_recurse: %zu threads, want 2", th.n);
	CHECK(c, !th.threads_truncated, "py_recurse: thread walk truncated");
	m = thread_at(&th, "leaf");
	ch = thread_at(&th, "gamma");
	CHECK(c, m && ch, "py_recurse: no thread at leaf() or gamma()");
	CHECK(c, m->error == 0 && !m->truncated, "main thread: error %d truncated %d", m->error,
	      m->truncated);
	CHECK(c, m->nframes == DEPTH + 3, "main thread: %zu frames, want %d", m->nframes,
	      DEPTH + 3);
	if (!frame_is(c, &lv, m, 0, "leaf", "leaf_sleep") ||
	    !frame_is(c, &lv, m, 1, "recurse", "recurse_leaf"))
		goto out;
	for (i = 2; i < DEPTH + 1; i++)
		if (!frame_is(c, &lv, m, i, "recurse", "recurse_self"))
			goto out;
	if (!frame_is(c, &lv, m, DEPTH + 1, "main", "main_recurse"))
		goto out;
	CHECK(c,
	      strcmp(m->frames[DEPTH + 2].func, "<module>") == 0 &&
	          file_is(m->frames[DEPTH + 2].file, lv.script),
	      "main thread: outermost frame %s in %s", m->frames[DEPTH + 2].func,
	      m->frames[DEPTH + 2].file);
	{
		size_t last = DEPTH + 2;
		if (!entries_are(c, m, &last, 1))
			goto out;
	}
	if (!name_is(c, m, "MainThread") || !tid_is(c, &lv, m, "tid"))
		goto out;

	if (!frame_is(c, &lv, ch, 0, "gamma", "gamma_sleep") ||
	    !frame_is(c, &lv, ch, 1, "beta", "chain_gamma") ||
	    !frame_is(c, &lv, ch, 2, "alpha", "chain_beta") ||
	    !frame_is(c, &lv, ch, 3, "chain_entry", "chain_alpha") || !bootstrap_frames(c, ch, 4) ||
	    !name_is(c, ch, "chain") || !tid_is(c, &lv, ch, "chain"))
		goto out;
	CHECK(c, ch->frames[6].entry, "chain thread: outermost frame is not an entry");

	/* Nobody runs Python code: no holder; no collection. */
	CHECK(c, th.gil_known, "py_recurse: GIL state unknown");
	for (i = 0; i < th.n; i++)
		CHECK(c, !th.v[i].holds_gil, "py_recurse: sleeping thread \"%s\" holds the GIL",
		      th.v[i].name);
	CHECK(c, th.gc_known && !th.gc_collecting, "py_recurse: gc_known %d collecting %d",
	      th.gc_known, th.gc_collecting);

	/* The per-thread read gives the same frames, and bounds the walk. */
	fr = calloc(MST_PY_MAX_FRAMES, sizeof(*fr));
	CHECK(c, fr, "out of memory");
	CHECK(c, mst_py_read_frames(lv.py, m->tstate, fr, MST_PY_MAX_FRAMES, &n, &trunc, &err) == 0,
	      "mst_py_read_frames: %s", err.msg);
	CHECK(c, n == m->nframes && !trunc, "mst_py_read_frames: %zu frames (truncated %d)", n,
	      trunc);
	for (i = 0; i < n; i++)
		CHECK(c,
		      fr[i].code == m->frames[i].code && fr[i].line == m->frames[i].line &&
		          fr[i].func == m->frames[i].func,
		      "mst_py_read_frames: frame %zu differs", i);
	CHECK(c,
	      mst_py_read_frames(lv.py, m->tstate, fr, 10, &n, &trunc, &err) == 0 && n == 10 &&
	          trunc,
	      "mst_py_read_frames(max 10): n %zu truncated %d", n, trunc);
	CHECK(c, mst_py_read_frames(lv.py, 0x10, fr, 10, &n, &trunc, &err) < 0 && n == 0,
	      "mst_py_read_frames on a bad tstate did not fail");
	ok = true;
out:
	free(fr);
	mst_py_threads_free(&th);
	live_stop(&lv);
	return ok;
}

/* py_names.py: ASCII and non-ASCII thread names, non-ASCII function names,
 * qualified method names (3.11+), generator and coroutine frames. */
static bool check_names(struct ctx *c, size_t *nthreads)
{
	struct live lv;
	struct mst_py_threads th = {0};
	const struct mst_py_thread *t;
	bool q = c->interp->minor >= 11, ok = false;

	if (!live_start(c, &lv, "tests/targets/py_names.py", NULL, true))
		goto out;
	if (!read_threads(c, &lv, &th))
		goto out;
	*nthreads = th.n;
	CHECK(c, th.n == 4, "py_names: %zu threads, want 4", th.n);

	t = thread_at(&th, q ? "Klass.method" : "method");
	CHECK(c, t, "py_names: no thread at %s", q ? "Klass.method" : "method");
	if (!frame_is(c, &lv, t, 0, q ? "Klass.method" : "method", "method_sleep") ||
	    !frame_is(c, &lv, t, 1, "run_method", "method_call") || !bootstrap_frames(c, t, 2) ||
	    !name_is(c, t, "worker-1") || !tid_is(c, &lv, t, "method"))
		goto out;

	t = thread_at(&th, "\xe8\xae\xa1\xe7\xae\x97"); /* 计算 */
	CHECK(c, t, "py_names: no thread at 计算");
	if (!frame_is(c, &lv, t, 0, "\xe8\xae\xa1\xe7\xae\x97", "cjk_sleep") ||
	    !frame_is(c, &lv, t, 1,
	              "gr\xc3\xbc\xc3\x9f"
	              "e",
	              "call_cjk") || /* grüße */
	    !frame_is(c, &lv, t, 2, "run_unicode", "call_gruesse") ||
	    !bootstrap_frames(c, t, 3) ||
	    !name_is(c, t,
	             "worker-\xc3\xa4"
	             "1") ||
	    !tid_is(c, &lv, t, "unicode"))
		goto out;

	t = thread_at(&th, "produce");
	CHECK(c, t, "py_names: no thread in the generator");
	if (!frame_is(c, &lv, t, 0, "produce", "gen_sleep") ||
	    !frame_is(c, &lv, t, 1, "run_generator", "gen_iterate") || !bootstrap_frames(c, t, 2) ||
	    !name_is(c, t, "gen") || !tid_is(c, &lv, t, "gen"))
		goto out;

	t = thread_at(&th, "handle");
	CHECK(c, t, "py_names: no thread in the coroutine");
	if (!frame_is(c, &lv, t, 0, "handle", "coro_sleep") ||
	    !frame_is(c, &lv, t, 1, "serve", "coro_await") || !name_is(c, t, "MainThread") ||
	    !tid_is(c, &lv, t, "coro"))
		goto out;
	CHECK(c, t->nframes >= 4 && strcmp(t->frames[t->nframes - 1].func, "<module>") == 0,
	      "coroutine thread: outermost frame is not <module>");
	if (!frame_is(c, &lv, t, t->nframes - 2, "main", "loop_run"))
		goto out;
	/* The coroutine is resumed from C (the task's step): serve() starts an
	 * eval activation on every version. */
	CHECK(c, t->frames[1].entry, "coroutine thread: serve() is not an entry frame");
	ok = true;
out:
	mst_py_threads_free(&th);
	live_stop(&lv);
	return ok;
}

/* walk_dict.py: thread names stored in each kind of instance dict (3.11+:
 * managed values without a dict, a materialised dict, a combined dict). */
static bool check_dict_kinds(struct ctx *c)
{
	static const char *const roles[][4] = {
	    {"in_plain", "plain_sleep", "plain-values", "plain"},
	    {"in_touched", "touched_sleep", "touched-dict", "touched"},
	    {"in_many", "many_sleep", "many-attrs", "many"},
	};
	struct live lv;
	struct mst_py_threads th = {0};
	const struct mst_py_thread *t;
	bool ok = false;

	if (!live_start(c, &lv, "tests/targets/walk_dict.py", NULL, true))
		goto out;
	if (!read_threads(c, &lv, &th))
		goto out;
	CHECK(c, th.n == 4, "walk_dict: %zu threads, want 4", th.n);
	for (size_t i = 0; i < 3; i++) {
		t = thread_at(&th, roles[i][0]);
		CHECK(c, t, "walk_dict: no thread at %s", roles[i][0]);
		if (!frame_is(c, &lv, t, 0, roles[i][0], roles[i][1]) ||
		    !name_is(c, t, roles[i][2]) || !tid_is(c, &lv, t, roles[i][3]))
			goto out;
	}
	/* The main thread waits inside threading.py, called from main(). */
	t = NULL;
	for (size_t i = 0; i < th.n; i++)
		if (th.v[i].nframes >= 2 &&
		    strcmp(th.v[i].frames[th.v[i].nframes - 2].func, "main") == 0)
			t = &th.v[i];
	CHECK(c, t, "walk_dict: no thread under main()");
	if (!name_is(c, t, "MainThread") || !tid_is(c, &lv, t, "main"))
		goto out;
	ok = true;
out:
	mst_py_threads_free(&th);
	live_stop(&lv);
	return ok;
}

/* py_qsort.py: Python -> qsort -> Python. compare() and the outermost frame
 * are entry frames on every version; on 3.11+ only they are. */
static bool check_qsort(struct ctx *c)
{
	struct live lv;
	struct mst_py_threads th = {0};
	const struct mst_py_thread *t;
	bool ok = false;

	if (!live_start(c, &lv, "tests/targets/py_qsort.py", NULL, true))
		goto out;
	if (!read_threads(c, &lv, &th))
		goto out;
	t = thread_at(&th, "compare");
	CHECK(c, t, "py_qsort: no thread at compare()");
	CHECK(c, t->nframes == 4, "py_qsort: %zu frames, want 4", t->nframes);
	if (!frame_is(c, &lv, t, 0, "compare", "compare_sleep") ||
	    !frame_is(c, &lv, t, 1, "outer", "qsort_call") ||
	    !frame_is(c, &lv, t, 2, "main", "main_outer"))
		goto out;
	CHECK(c, strcmp(t->frames[3].func, "<module>") == 0, "py_qsort: frame 3 is %s",
	      t->frames[3].func);
	{
		const size_t idx[] = {0, 3};
		if (!entries_are(c, t, idx, 2))
			goto out;
	}
	ok = true;
out:
	mst_py_threads_free(&th);
	live_stop(&lv);
	return ok;
}

#define GIL_READS 200

/* py_gil.py: at most one holder per read, exactly one while the GIL is
 * locked, and it is the spinning thread (in practice always). */
static bool check_gil(struct ctx *c)
{
	struct live lv;
	bool ok = false;
	int locked = 0, spin_holds = 0;
	struct mst_py_threads th = {0};

	if (!live_start(c, &lv, "tests/targets/py_gil.py", NULL, false))
		goto out;
	for (int k = 0; k < GIL_READS; k++) {
		size_t holders = 0;
		const struct mst_py_thread *h = NULL;
		mst_py_threads_free(&th);
		if (!read_threads(c, &lv, &th))
			goto out;
		CHECK(c, th.gil_known, "py_gil: GIL state unknown");
		CHECK(c, th.n == 4, "py_gil: %zu threads, want 4", th.n);
		for (size_t i = 0; i < th.n; i++)
			if (th.v[i].holds_gil) {
				holders++;
				h = &th.v[i];
			}
		CHECK(c, holders <= 1, "py_gil: %zu holders in one read", holders);
		if (!th.gil_locked) {
			CHECK(c, holders == 0 && th.gil_holder == 0,
			      "py_gil: unlocked GIL with a holder");
			continue;
		}
		locked++;
		CHECK(c, holders == 1 && h->tstate == th.gil_holder,
		      "py_gil: locked GIL, holder 0x%" PRIx64 ", %zu threads flagged",
		      th.gil_holder, holders);
		/* The spinner's top frame is spin() (a raced read may show
		 * it elsewhere, hence "most of the time"). */
		if (h->nframes && strcmp(h->frames[0].func, "spin") == 0 &&
		    strcmp(h->name, "spin") == 0 &&
		    (c->interp->minor < 11 || h->native_tid == ready_int(&lv, "spin")))
			spin_holds++;
		usleep(1000);
	}
	CHECK(c, locked >= GIL_READS * 9 / 10, "py_gil: GIL locked in %d of %d reads", locked,
	      GIL_READS);
	CHECK(c, spin_holds >= locked * 9 / 10, "py_gil: spinner held it in %d of %d locked reads",
	      spin_holds, locked);
	/* What a perf sample copies for the GIL and the collector: the words
	 * that change (the GIL's state, the collector's int flag), not the
	 * pointers the decoder keeps once read (the main interpreter's, its
	 * GIL's), each a read in the sampled thread at every sample. */
	struct mst_py_capture cap;
	struct mst_py_gil where;
	CHECK(c, mst_py_capture_spec(lv.py, &cap) == 0, "py_gil: no capture spec");
	mst_py_gil_where(lv.py, &where);
	CHECK(c, cap.nfixed >= 2 && cap.nfixed <= MST_PY_CAPTURE_FIXED,
	      "py_gil: a sample copies %zu fixed ranges, want the GIL's and the collector's",
	      cap.nfixed);
	for (size_t i = 0; i < cap.nfixed; i++) {
		uint64_t a = cap.fixed[i].addr;
		size_t len = cap.fixed[i].len;
		bool gil = where.addr && where.size && a >= where.addr &&
		           a + len <= where.addr + where.size;
		/* 3.6: the GIL's two statics and the collector's. */
		bool statics = c->interp->minor == 6 && len <= 8;
		CHECK(c, gil || len == 4 || statics,
		      "py_gil: a sample copies %zu bytes at 0x%" PRIx64
		      ", neither the GIL's state nor the collector's flag",
		      len, a);
	}
	ok = true;
out:
	mst_py_threads_free(&th);
	live_stop(&lv);
	return ok;
}

/* py_gc.py: the collector's flag while __del__ blocks inside gc.collect(). */
static bool check_gc(struct ctx *c)
{
	struct live lv;
	struct mst_py_threads th = {0};
	const struct mst_py_thread *t;
	const char *del = c->interp->minor >= 11 ? "Finalizable.__del__" : "__del__";
	bool ok = false;

	if (!live_start(c, &lv, "tests/targets/py_gc.py", NULL, true))
		goto out;
	if (!read_threads(c, &lv, &th))
		goto out;
	CHECK(c, th.gc_known, "py_gc: collector flag unknown");
	CHECK(c, th.gc_collecting, "py_gc: collector flag not set while __del__ runs in it");
	t = thread_at(&th, del);
	CHECK(c, t, "py_gc: no thread at %s", del);
	if (!frame_is(c, &lv, t, 0, del, "del_sleep") ||
	    !frame_is(c, &lv, t, 1, "collector", "gc_collect") ||
	    !frame_is(c, &lv, t, 2, "collector_main", "call_collector") ||
	    !name_is(c, t, "collector") || !tid_is(c, &lv, t, "gc_tid"))
		goto out;
	/* __del__ is called from the collector (C): an entry frame. */
	CHECK(c, t->frames[0].entry, "py_gc: __del__ is not an entry frame");
	ok = true;
out:
	mst_py_threads_free(&th);
	live_stop(&lv);
	return ok;
}

START_TEST(test_walk_every_interpreter)
{
	const struct mst_interp *interps;
	size_t n = mst_test_interps(&interps);
	char all[16384];
	size_t alen = 0;
	bool failed = false;

	all[0] = '\0';
	ck_assert_msg(n > 0, "no interpreter found");
	for (size_t i = 0; i < n; i++) {
		struct ctx c = {.interp = &interps[i]};
		size_t nthreads = 0, nrec = 0;
		bool frames = check_recurse(&c, &nrec);
		bool qsort = check_qsort(&c);
		bool names = check_names(&c, &nthreads);
		names = check_dict_kinds(&c) && names;
		bool gil = check_gil(&c);
		bool gc = check_gc(&c);
		printf("py-walk: %-16s threads=%zu frames %s entry %s names %s gil %s gc %s\n",
		       interps[i].label, nthreads, frames ? "ok" : "FAIL", qsort ? "ok" : "FAIL",
		       names ? "ok" : "FAIL", gil ? "ok" : "FAIL", gc ? "ok" : "FAIL");
		fflush(stdout);
		if (c.len) {
			failed = true;
			alen += (size_t)snprintf(all + alen, sizeof(all) - alen, "%s", c.msg);
			if (alen >= sizeof(all))
				alen = sizeof(all) - 1;
		}
	}
	ck_assert_msg(!failed, "py walk failed:\n%s", all);
}
END_TEST

/* A reader that, once armed, corrupts or fails some reads (xorshift PRNG,
 * deterministic): the walk must stay bounded and never crash. */
struct bad_reader {
	pid_t pid;
	bool armed;
	uint64_t rng;
	unsigned reads, corrupted, failed;
};

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int bad_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct bad_reader *b = ctx;
	int rc = mst_pid_reader_read(&b->pid, addr, buf, len);
	if (!b->armed || rc < 0)
		return rc;
	b->reads++;
	switch (xorshift(&b->rng) % 16) {
	case 0:
		b->failed++;
		return -EFAULT;
	case 1:
		/* Flip a few bits: pointers, counts and sizes go wild. */
		for (int k = 0; k < 3 && len; k++)
			((uint8_t *)buf)[xorshift(&b->rng) % len] ^=
			    (uint8_t)(1u << (xorshift(&b->rng) % 8));
		b->corrupted++;
		return 0;
	case 2:
		if (len >= 8) {
			uint64_t v = xorshift(&b->rng);
			memcpy((uint8_t *)buf + (xorshift(&b->rng) % (len / 8)) * 8, &v, 8);
			b->corrupted++;
		}
		return 0;
	default:
		return 0;
	}
}

START_TEST(test_corrupt_reads_are_contained)
{
	const struct mst_interp *interps;
	size_t n = mst_test_interps(&interps);
	ck_assert_msg(n > 0, "no interpreter found");
	for (size_t i = 0; i < n; i++) {
		struct mst_child t;
		struct bad_reader b = {.rng = 0x9e3779b97f4a7c15ull + i};
		struct mst_reader r = {bad_read, &b};
		struct mst_maps *maps = NULL;
		struct mst_py *py = NULL;
		struct mst_err err = {0};
		unsigned ok = 0;
		int rc;

		ck_assert_int_eq(mst_child_start_py(&t, &interps[i], "tests/targets/py_names.py",
		                                    NULL, START_TIMEOUT_MS),
		                 0);
		b.pid = t.pid;
		rc = mst_maps_read(t.pid, &maps, &err);
		if (rc == 0)
			rc = mst_py_open(t.pid, maps, &r, &py, &err);
		mst_maps_free(maps);
		if (rc < 0) {
			mst_child_stop(&t);
			ck_abort_msg("%s: mst_py_open: %s", interps[i].label, err.msg);
		}
		b.armed = true;
		for (int k = 0; k < 300; k++) {
			struct mst_py_threads th = {0};
			if (mst_py_read_threads(py, true, &th, &err) == 0) {
				ok++;
				ck_assert_uint_le(th.n, MST_PY_MAX_THREADS);
				for (size_t j = 0; j < th.n; j++) {
					ck_assert_uint_le(th.v[j].nframes, MST_PY_MAX_FRAMES);
					ck_assert(memchr(th.v[j].name, 0, sizeof(th.v[j].name)));
					for (size_t f = 0; f < th.v[j].nframes; f++)
						ck_assert(th.v[j].frames[f].func &&
						          th.v[j].frames[f].file);
				}
			}
			mst_py_threads_free(&th);
		}
		mst_py_close(py);
		mst_child_stop(&t);
		ck_assert_msg(ok > 0 && b.corrupted > 0 && b.failed > 0,
		              "%s: %u good reads, %u corrupted, %u failed", interps[i].label, ok,
		              b.corrupted, b.failed);
	}
}
END_TEST

/* The locals reader straight on the decoder, on every interpreter: the
 * innermost frames of py_locals.py read without stopping it (it sleeps),
 * then under corrupted and failing reads, which must stay bounded. */
START_TEST(test_locals_every_interpreter)
{
	const struct mst_interp *interps;
	size_t n = mst_test_interps(&interps);
	ck_assert_msg(n > 0, "no interpreter found");
	for (size_t i = 0; i < n; i++) {
		struct mst_child t;
		struct bad_reader b = {.rng = 0x51ed270b27b8f4d1ull + i};
		struct mst_reader r = {bad_read, &b};
		struct mst_maps *maps = NULL;
		struct mst_py *py = NULL;
		struct mst_err err = {0};
		const char *label = interps[i].label;

		ck_assert_int_eq(mst_child_start_py(&t, &interps[i], "tests/targets/py_locals.py",
		                                    NULL, START_TIMEOUT_MS),
		                 0);
		wait_all_sleeping(t.pid, 10000);
		b.pid = t.pid;
		int rc = mst_maps_read(t.pid, &maps, &err);
		if (rc == 0)
			rc = mst_py_open(t.pid, maps, &r, &py, &err);
		mst_maps_free(maps);
		if (rc < 0) {
			mst_child_stop(&t);
			ck_abort_msg("%s: mst_py_open: %s", label, err.msg);
		}
		/* Clean reads: inner (innermost) holds x = 10, y = 11 and two
		 * free variables; outer an argument kept in a cell. */
		struct mst_py_threads th = {0};
		ck_assert_msg(mst_py_read_threads(py, false, &th, &err) == 0, "%s: %s", label,
		              err.msg);
		/* The main thread: the one whose innermost frame is inner(). */
		const struct mst_py_thread *m = NULL;
		for (size_t j = 0; j < th.n && !m; j++)
			if (th.v[j].nframes >= 3 && strstr(th.v[j].frames[0].func, "inner"))
				m = &th.v[j];
		ck_assert_msg(m, "%s: no thread in inner()", label);
		struct mst_py_locals l = {0};
		ck_assert_msg(mst_py_read_locals(py, &m->frames[0], &l, &err) == 0, "%s: %s", label,
		              err.msg);
		ck_assert_msg(l.n == 4 && !strcmp(l.v[0].name, "x") && !strcmp(l.v[0].repr, "10") &&
		                  l.v[0].kind == MST_PY_LOCAL_ARG && !strcmp(l.v[1].name, "y") &&
		                  !strcmp(l.v[1].repr, "11") && l.v[1].kind == MST_PY_LOCAL_VAR &&
		                  l.v[2].kind == MST_PY_LOCAL_FREE &&
		                  l.v[3].kind == MST_PY_LOCAL_FREE,
		              "%s: inner's locals: %zu, %s = %s", label, l.n,
		              l.n ? l.v[0].name : "", l.n ? l.v[0].repr : "");
		ck_assert_msg(mst_py_read_locals(py, &m->frames[1], &l, &err) == 0, "%s: %s", label,
		              err.msg);
		ck_assert_msg(l.n >= 1 && !strcmp(l.v[0].name, "arg_cell") && l.v[0].cell &&
		                  !strcmp(l.v[0].repr, "'shared arg'"),
		              "%s: outer's first local %s = %s", label, l.n ? l.v[0].name : "",
		              l.n ? l.v[0].repr : "");
		mst_py_locals_fini(&l);
		mst_py_threads_free(&th);

		/* Corrupt reads: every count, tuple, slot and value may be wild. */
		b.armed = true;
		unsigned read = 0, values = 0;
		for (int k = 0; k < 200; k++) {
			struct mst_py_threads tk = {0};
			if (mst_py_read_threads(py, false, &tk, &err) == 0)
				for (size_t j = 0; j < tk.n; j++)
					/* Not the 600 frames of "deep": the test would
					 * take minutes. */
					for (size_t f = 0; f < tk.v[j].nframes && f < 40; f++) {
						if (mst_py_read_locals(py, &tk.v[j].frames[f], &l,
						                       &err) < 0) {
							ck_assert(l.n == 0 && l.error < 0);
							continue;
						}
						read++;
						ck_assert_uint_le(l.n, MST_PY_LOCALS_MAX);
						for (size_t v = 0; v < l.n; v++) {
							ck_assert_uint_le(strlen(l.v[v].repr),
							                  MST_PY_REPR_MAX);
							ck_assert(l.v[v].name);
							values++;
						}
					}
			mst_py_threads_free(&tk);
		}
		mst_py_locals_fini(&l);
		mst_py_close(py);
		mst_child_stop(&t);
		printf("py-walk: %-16s locals ok (%u frames, %u values read under %u corrupted "
		       "and %u failed reads)\n",
		       label, read, values, b.corrupted, b.failed);
		ck_assert_msg(read > 0 && b.corrupted > 0 && b.failed > 0,
		              "%s: %u frames read, %u corrupted, %u failed", label, read,
		              b.corrupted, b.failed);
	}
}
END_TEST

/* 3.14+ keep f_executable as a _PyStackRef: the code object's address with
 * tag bits set when the reference is borrowed or immortal. The GIL builds
 * tested tag only the interpreter's own entry frames (their code objects
 * are mortal), so a reader sets the tag on every frame's f_executable as an
 * immortal code object would have it: the walk must give the same frames. */
struct tag_reader {
	struct mst_reader inner;
	size_t frame_len; /* a frame read is this long */
	int64_t code_off; /* f_executable in it */
	uint64_t bits;    /* the layout's tag bits */
	unsigned tagged;
};

static int tag_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct tag_reader *t = ctx;
	int rc = mst_read(&t->inner, addr, buf, len);
	if (rc < 0 || len != t->frame_len)
		return rc;
	uint64_t w;
	memcpy(&w, (uint8_t *)buf + t->code_off, sizeof(w));
	if (w && !(w & 7)) {
		w |= t->bits & 1; /* Py_TAG_REFCNT */
		memcpy((uint8_t *)buf + t->code_off, &w, sizeof(w));
		t->tagged++;
	}
	return 0;
}

static void frames_text(const struct mst_py_threads *th, char *out, size_t len)
{
	size_t n = 0;
	out[0] = '\0';
	for (size_t j = 0; j < th->n && n < len; j++)
		for (size_t f = 0; f < th->v[j].nframes && n < len; f++)
			n += (size_t)snprintf(out + n, len - n, "%s %s:%d%s\n",
			                      th->v[j].frames[f].func, th->v[j].frames[f].file,
			                      th->v[j].frames[f].line,
			                      th->v[j].frames[f].entry ? " entry" : "");
}

START_TEST(test_tagged_executable)
{
	const struct mst_interp *interps;
	size_t n = mst_test_interps(&interps);
	unsigned tested = 0;
	for (size_t i = 0; i < n; i++) {
		if (interps[i].minor < 14)
			continue;
		struct mst_child t;
		ck_assert_int_eq(mst_child_start_py(&t, &interps[i], "tests/targets/py_names.py",
		                                    NULL, START_TIMEOUT_MS),
		                 0);
		struct mst_maps *maps = NULL;
		struct mst_err err = {0};
		pid_t pid = t.pid;
		struct mst_reader live = {mst_pid_reader_read, &pid, NULL};
		struct mst_py *plain = NULL, *tagged = NULL;
		ck_assert_int_eq(mst_maps_read(t.pid, &maps, &err), 0);
		ck_assert_msg(mst_py_open(t.pid, maps, &live, &plain, &err) == 0, "%s", err.msg);
		const struct mst_py_layout *l = mst_py_layout(plain);
		ck_assert_int_gt(l->stackref_tag_bits, 0);
		struct tag_reader tr = {
		    .inner = live, .code_off = l->if_code, .bits = (uint64_t)l->stackref_tag_bits};
		/* The decoder reads a frame as one block up to its last member used. */
		int64_t ends[] = {l->if_code + 8, l->if_previous + 8, l->if_instr + 8,
		                  l->if_owner + 1};
		for (size_t k = 0; k < sizeof(ends) / sizeof(ends[0]); k++)
			if ((size_t)ends[k] > tr.frame_len)
				tr.frame_len = (size_t)ends[k];
		struct mst_reader r = {tag_read, &tr, NULL};
		ck_assert_msg(mst_py_open(t.pid, maps, &r, &tagged, &err) == 0, "%s", err.msg);
		/* The target runs while it is read (its asyncio thread moves):
		 * the tagged read is judged between two untagged reads that agree,
		 * and one such moment where all three agree is enough. A tagged
		 * walk that lost frames never agrees. */
		static char ta[16384], tb[16384], tc[16384];
		int stable = 0;
		bool same = false;
		for (int k = 0; k < 50 && !same && stable < 5; k++) {
			struct mst_py_threads a = {0}, b = {0}, c = {0};
			ck_assert_msg(mst_py_read_threads(plain, false, &a, &err) == 0, "%s",
			              err.msg);
			ck_assert_msg(mst_py_read_threads(tagged, false, &b, &err) == 0, "%s",
			              err.msg);
			ck_assert_msg(mst_py_read_threads(plain, false, &c, &err) == 0, "%s",
			              err.msg);
			frames_text(&a, ta, sizeof(ta));
			frames_text(&b, tb, sizeof(tb));
			frames_text(&c, tc, sizeof(tc));
			if (!strcmp(ta, tc)) {
				stable++;
				same = !strcmp(ta, tb);
			}
			mst_py_threads_free(&a);
			mst_py_threads_free(&b);
			mst_py_threads_free(&c);
		}
		ck_assert_msg(stable > 0, "%s: the target never held still for three reads",
		              interps[i].label);
		ck_assert_msg(tr.tagged > 0 && strstr(ta, "py_names.py") && same,
		              "%s: %u tagged reads; untagged frames:\n%s\ntagged:\n%s",
		              interps[i].label, tr.tagged, ta, tb);
		printf("%s: %u frames read with tagged f_executable, all as untagged\n",
		       interps[i].label, tr.tagged);
		mst_py_close(plain);
		mst_py_close(tagged);
		mst_maps_free(maps);
		mst_child_stop(&t);
		tested++;
	}
	/* Where the run has 3.14+ (run-tests.sh always does), it was tested. */
	const char *deb = getenv("MSTTOP_DEBIAN_PYTHONS");
	ck_assert_msg(!(deb && *deb) || tested >= 2, "only %u interpreters of 3.14+ tested",
	              tested);
}
END_TEST

/* A process without CPython is refused with -MST_ENOPYTHON. */
START_TEST(test_open_no_python)
{
	char *argv[] = {"/bin/sh", "-c", "echo ready; exec sleep 60", NULL};
	struct mst_child t;
	struct mst_maps *maps = NULL;
	struct mst_py *py = NULL;
	struct mst_err err = {0};
	pid_t pid;
	int rc;

	ck_assert_int_eq(mst_child_start(&t, argv, START_TIMEOUT_MS), 0);
	pid = t.pid;
	struct mst_reader r = {mst_pid_reader_read, &pid};
	rc = mst_maps_read(pid, &maps, &err);
	if (rc == 0)
		rc = mst_py_open(pid, maps, &r, &py, &err);
	mst_maps_free(maps);
	mst_child_stop(&t);
	ck_assert_msg(rc == -MST_ENOPYTHON, "rc %d: %s", rc, err.msg);
	ck_assert_ptr_null(py);
}
END_TEST

Suite *py_walk_suite(void)
{
	Suite *s = suite_create("py-walk");
	TCase *tc = tcase_create("live");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_walk_every_interpreter);
	tcase_add_test(tc, test_open_no_python);
	tcase_add_test(tc, test_corrupt_reads_are_contained);
	tcase_add_test(tc, test_locals_every_interpreter);
	tcase_add_test(tc, test_tagged_executable);
	suite_add_tcase(s, tc);
	return s;
}
