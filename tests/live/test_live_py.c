/* Live tests of the merged --dump on every discovered interpreter (and an
 * embedding C program): what the user reads must name the right functions,
 * lines and states. A scenario fails the test if it fails on any
 * interpreter; each prints one RESULT line per interpreter for the summary
 * table. */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check_main.h"
#include "../harness.h"
#include "dumpparse.h"

#define MAXF 4096

struct ctx {
	const struct mst_interp *py;
	char fail[2048];
};

static void failf(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(struct ctx *c, const char *fmt, ...)
{
	if (c->fail[0])
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->fail, sizeof(c->fail), fmt, ap);
	va_end(ap);
}

#define EXPECT(c, cond, ...)                                                                       \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			failf((c), __VA_ARGS__);                                                   \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

static int mark(const char *target, const char *name)
{
	char *src = mst_src_path(target);
	int l = mst_marker_line(src, name);
	free(src);
	ck_assert_msg(l > 0, "marker %s missing in %s", name, target);
	return l;
}

static pid_t ready_tid(const struct mst_child *t, const char *key)
{
	char buf[32];
	return mst_child_ready_value(t, key, buf, sizeof(buf)) == 0 ? (pid_t)atoi(buf) : -1;
}

static bool frame_is(const struct pframe *f, const char *func, const char *file_suffix, int line)
{
	size_t fl = strlen(f->file), sl = strlen(file_suffix);
	return !strcmp(f->func, func) && fl >= sl && !strcmp(f->file + fl - sl, file_suffix) &&
	       (line < 0 || f->line == line);
}

/* Start a target, wait for it to settle, take a dump, parse it. */
static int start_and_dump(struct ctx *c, struct mst_child *t, const char *script, const char *arg,
                          bool settle, const char *opt, struct pdump *d, char **text)
{
	if (mst_child_start_py(t, c->py, script, arg, 30000) < 0) {
		failf(c, "%s did not start", script);
		return -1;
	}
	if (settle && mst_wait_all_sleeping(t->pid, 10000) < 0) {
		failf(c, "%s: threads did not settle", script);
		return -1;
	}
	int code;
	*text = mst_msttop_dump(t->pid, "--no-source", opt, NULL, &code);
	if (code != 0 || !*text) {
		failf(c, "msttop --dump exited %d", code);
		return -1;
	}
	pdump_parse(*text, d);
	return 0;
}

/* ---- scenarios ---- */

static void scen_recurse(struct ctx *c, const char *opt)
{
	static const char *T = "tests/targets/py_recurse.py";
	struct mst_child t = {0};
	struct pdump d = {0};
	char *text = NULL;
	const int depth = 50;
	if (start_and_dump(c, &t, T, "50", true, opt, &d, &text) < 0)
		goto out;
	const struct pthread_ *m = pdump_thread(&d, ready_tid(&t, "tid"));
	EXPECT(c, m, "main thread missing");
	const struct pframe *py[MAXF];
	size_t n = pdump_py(m, py, MAXF);
	/* ... main, recurse x depth, leaf: the innermost depth + 2. */
	EXPECT(c, n >= (size_t)depth + 3, "main thread has %zu Python frames", n);
	size_t base = n - (size_t)depth - 1;
	EXPECT(c, !strcmp(py[0]->func, "<module>"), "outermost is %s, not <module>", py[0]->func);
	EXPECT(c, frame_is(py[base - 1], "main", "py_recurse.py", mark(T, "main_recurse")),
	       "expected main at main_recurse, got %s", py[base - 1]->raw);
	for (int i = 0; i < depth; i++) {
		int want = mark(T, i == depth - 1 ? "recurse_leaf" : "recurse_self");
		EXPECT(c, frame_is(py[base + (size_t)i], "recurse", "py_recurse.py", want),
		       "recursion frame %d: %s", i, py[base + (size_t)i]->raw);
	}
	EXPECT(c, frame_is(py[n - 1], "leaf", "py_recurse.py", mark(T, "leaf_sleep")),
	       "innermost Python frame: %s", py[n - 1]->raw);
	if (!opt) {
		/* Folded by default: no native frame between two Python frames of
		 * the recursion, and the sleep's native frames after leaf. */
		size_t first = (size_t)(py[base] - m->f), last = (size_t)(py[n - 1] - m->f);
		for (size_t k = first; k <= last; k++)
			EXPECT(c, m->f[k].py, "native frame inside the recursion: %s", m->f[k].raw);
		EXPECT(c, last + 1 < m->n, "no native frames under leaf()");
	} else if (!strcmp(opt, "--python-only")) {
		for (size_t k = 0; k < m->n; k++)
			EXPECT(c, m->f[k].py, "--python-only printed %s", m->f[k].raw);
	} else if (!strcmp(opt, "--native-all")) {
		size_t evals = 0;
		for (size_t k = 0; k < m->n; k++)
			evals += strstr(m->f[k].raw, "_PyEval_EvalFrameDefault") != NULL;
		/* 3.6-3.10: one eval frame per Python frame; 3.11+: at least one. */
		EXPECT(c, c->py->minor >= 11 ? evals >= 1 : evals >= (size_t)depth + 2,
		       "--native-all shows %zu eval frames", evals);
	}
	const struct pthread_ *ch = pdump_thread(&d, ready_tid(&t, "chain"));
	EXPECT(c, ch, "chain thread missing");
	EXPECT(c, strstr(ch->header, "\"chain\""), "chain thread not named: %s", ch->header);
	n = pdump_py(ch, py, MAXF);
	EXPECT(c, n >= 4, "chain thread has %zu Python frames", n);
	EXPECT(c,
	       frame_is(py[n - 4], "chain_entry", "py_recurse.py", mark(T, "chain_alpha")) &&
	           frame_is(py[n - 3], "alpha", "py_recurse.py", mark(T, "chain_beta")) &&
	           frame_is(py[n - 2], "beta", "py_recurse.py", mark(T, "chain_gamma")) &&
	           frame_is(py[n - 1], "gamma", "py_recurse.py", mark(T, "gamma_sleep")),
	       "chain frames wrong: %s / %s", py[n - 4]->raw, py[n - 1]->raw);
	EXPECT(c, strstr(m->header, "holds GIL") == NULL && strstr(ch->header, "holds GIL") == NULL,
	       "a sleeping thread holds the GIL: %s", m->header);
out:
	pdump_free(&d);
	free(text);
	mst_child_stop(&t);
}

/* A complete merged stack: npy Python frames from <module> on, and every
 * Python frame matched with a native eval frame and back. */
static void expect_complete(struct ctx *c, const struct pthread_ *m, const char *text, size_t npy)
{
	const struct pframe *py[MAXF];
	size_t n = pdump_py(m, py, MAXF);
	EXPECT(c, n == npy && !strcmp(py[0]->func, "<module>"), "Python frames: %zu", n);
	EXPECT(c,
	       !strstr(text, "(no native eval frame matched)") &&
	           !strstr(text, "(no Python frames left to match)"),
	       "unmatched frames in a complete stack");
out:;
}

static void scen_qsort(struct ctx *c)
{
	static const char *T = "tests/targets/py_qsort.py";
	struct mst_child t = {0};
	struct pdump d = {0};
	char *text = NULL;
	if (start_and_dump(c, &t, T, NULL, true, NULL, &d, &text) < 0)
		goto out;
	const struct pthread_ *m = pdump_thread(&d, ready_tid(&t, "tid"));
	EXPECT(c, m, "main thread missing");
	long outer = -1, qsort = -1, compare = -1, sleep = -1, mainf = -1;
	for (size_t k = 0; k < m->n; k++) {
		const struct pframe *f = &m->f[k];
		if (f->py && frame_is(f, "main", "py_qsort.py", mark(T, "main_outer")))
			mainf = (long)k;
		else if (f->py && frame_is(f, "outer", "py_qsort.py", mark(T, "qsort_call")))
			outer = (long)k;
		else if (f->py && frame_is(f, "compare", "py_qsort.py", mark(T, "compare_sleep")))
			compare = (long)k;
		else if (!f->py && strstr(f->func, "qsort") && qsort < 0)
			qsort = (long)k;
		else if (!f->py && compare >= 0 &&
		         (strstr(f->func, "sleep") || strstr(f->func, "select")))
			sleep = (long)k;
	}
	EXPECT(c, mainf >= 0 && outer > mainf, "main/outer frames missing or out of order");
	EXPECT(c, qsort > outer, "no qsort frame after outer (qsort=%ld outer=%ld)", qsort, outer);
	EXPECT(c, compare > qsort, "compare not after qsort (compare=%ld qsort=%ld)", compare,
	       qsort);
	EXPECT(c, sleep > compare, "no sleep frame after compare");
	/* Nothing lost: four Python frames, <module> main outer compare. */
	expect_complete(c, m, text, 4);
out:
	pdump_free(&d);
	free(text);
	mst_child_stop(&t);
}

/* A compiled C extension between Python frames: its two C functions stand
 * where outer() called it, and the callback's Python frame above them. The
 * target removes the extension's file once imported: its static functions
 * are named from the file the kernel still maps (a deleted library). */
static void scen_cext(struct ctx *c)
{
	static const char *T = "tests/targets/py_cext.py";
	struct mst_child t = {0};
	struct pdump d = {0};
	char *text = NULL;
	if (start_and_dump(c, &t, T, NULL, true, NULL, &d, &text) < 0)
		goto out;
	const struct pthread_ *m = pdump_thread(&d, ready_tid(&t, "tid"));
	EXPECT(c, m, "main thread missing");
	long mainf = -1, outer = -1, c_outer = -1, c_inner = -1, cb = -1, sleep = -1;
	for (size_t k = 0; k < m->n; k++) {
		const struct pframe *f = &m->f[k];
		if (f->py && frame_is(f, "main", "py_cext.py", mark(T, "main_outer")))
			mainf = (long)k;
		else if (f->py && frame_is(f, "outer", "py_cext.py", mark(T, "cext_call")))
			outer = (long)k;
		else if (f->py && frame_is(f, "callback", "py_cext.py", mark(T, "cb_sleep")))
			cb = (long)k;
		else if (!f->py && !strcmp(f->func, "cext_outer") &&
		         strstr(f->raw, "msttop_cext") && strstr(f->raw, "(deleted)"))
			c_outer = (long)k;
		else if (!f->py && !strcmp(f->func, "cext_inner") &&
		         strstr(f->raw, "msttop_cext") && strstr(f->raw, "(deleted)"))
			c_inner = (long)k;
		else if (!f->py && cb >= 0 &&
		         (strstr(f->func, "sleep") || strstr(f->func, "select")))
			sleep = (long)k;
	}
	EXPECT(c, mainf >= 0 && outer > mainf, "main/outer frames missing or out of order");
	EXPECT(c, c_outer > outer && c_inner > c_outer,
	       "the extension's frames do not follow outer (outer=%ld cext_outer=%ld "
	       "cext_inner=%ld)",
	       outer, c_outer, c_inner);
	EXPECT(c, cb > c_inner, "callback not after the extension (callback=%ld)", cb);
	EXPECT(c, sleep > cb, "no sleep frame after callback");
	/* <module> main outer callback. */
	expect_complete(c, m, text, 4);
out:
	pdump_free(&d);
	free(text);
	mst_child_stop(&t);
}

static void scen_gil(struct ctx *c)
{
	static const char *T = "tests/targets/py_gil.py";
	struct mst_child t = {0};
	struct pdump d = {0};
	char *text = NULL;
	if (start_and_dump(c, &t, T, NULL, false, NULL, &d, &text) < 0)
		goto out;
	for (int round = 0; round < 3; round++) {
		if (round) {
			pdump_free(&d);
			free(text);
			int code;
			text = mst_msttop_dump(t.pid, "--no-source", NULL, NULL, &code);
			EXPECT(c, code == 0 && text, "dump %d failed", round);
			pdump_parse(text, &d);
		}
		const struct pthread_ *spin = pdump_thread(&d, ready_tid(&t, "spin"));
		const struct pthread_ *cont = pdump_thread(&d, ready_tid(&t, "contend"));
		const struct pthread_ *idle = pdump_thread(&d, ready_tid(&t, "idle"));
		EXPECT(c, spin && cont && idle, "threads missing");
		EXPECT(c, strstr(spin->header, "holds GIL"), "spinner: %s", spin->header);
		EXPECT(c, strstr(cont->header, "waits for GIL"), "contender: %s", cont->header);
		EXPECT(c, !strstr(idle->header, "GIL"), "idle thread: %s", idle->header);
		int holders = 0;
		for (size_t i = 0; i < d.n; i++)
			holders += strstr(d.t[i].header, "holds GIL") != NULL;
		EXPECT(c, holders == 1, "%d GIL holders", holders);
	}
out:
	pdump_free(&d);
	free(text);
	mst_child_stop(&t);
}

/* The first child of pid (unshare --fork's: the process in the new PID
 * namespace), or -1. */
static pid_t first_child(pid_t pid)
{
	char path[64], buf[64] = "";
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return buf[0] ? (pid_t)atoi(buf) : -1;
}

/* Our tid of the task of pid known in its own PID namespace as ns (the last
 * id of its NSpid line), or -1. */
static pid_t tid_from_ns(pid_t pid, pid_t ns)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	pid_t found = -1;
	for (struct dirent *e; d && found < 0 && (e = readdir(d));) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char sp[96], line[256];
		snprintf(sp, sizeof(sp), "%s/%s/status", path, e->d_name);
		FILE *f = fopen(sp, "re");
		while (f && fgets(line, sizeof(line), f)) {
			if (strncmp(line, "NSpid:", 6))
				continue;
			const char *last = strrchr(line, '\t');
			if (last && atoi(last + 1) == ns)
				found = (pid_t)atoi(e->d_name);
			break;
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}

/* py_gil.py in its own PID namespace, as in a container: the tids the
 * runtime records are that namespace's, not msttop's. Each thread still
 * has its Python frames and its GIL role. Needs root (CI runs as root). */
static void scen_gil_pidns(struct ctx *c)
{
	static const char *T = "tests/targets/py_gil.py";
	char *unshare = mst_which("unshare"), *path = mst_src_path(T);
	struct mst_child t = {0};
	struct pdump d = {0};
	char *text = NULL;
	EXPECT(c, unshare, "unshare (util-linux) is not installed");
	/* --kill-child: the process in the namespace dies with unshare, which
	 * alone gets the harness's death signal (a fork does not inherit it). */
	char *argv[] = {unshare,        "--pid",        "--fork",
	                "--kill-child", "--mount-proc", (char *)c->py->path,
	                "-u",           path,           NULL};
	EXPECT(c, mst_child_start(&t, argv, 30000) == 0, "%s did not start in a PID namespace", T);
	pid_t pid = first_child(t.pid);
	EXPECT(c, pid > 0, "no process under unshare (%d)", (int)t.pid);
	pid_t ns_spin = ready_tid(&t, "spin"), spin_tid = tid_from_ns(pid, ns_spin);
	EXPECT(c, spin_tid > 0 && spin_tid != ns_spin,
	       "spin's tid %d in the namespace is ours too (%d): no namespace", (int)ns_spin,
	       (int)spin_tid);
	int code;
	text = mst_msttop_dump(pid, "--no-source", NULL, NULL, &code);
	EXPECT(c, code == 0 && text, "msttop --dump exited %d", code);
	pdump_parse(text, &d);
	const struct pthread_ *spin = pdump_thread(&d, spin_tid);
	const struct pthread_ *cont = pdump_thread(&d, tid_from_ns(pid, ready_tid(&t, "contend")));
	const struct pthread_ *idle = pdump_thread(&d, tid_from_ns(pid, ready_tid(&t, "idle")));
	EXPECT(c, spin && cont && idle, "threads missing");
	EXPECT(c, strstr(spin->header, "holds GIL"), "spinner: %s", spin->header);
	EXPECT(c, strstr(cont->header, "waits for GIL"), "contender: %s", cont->header);
	EXPECT(c, !strstr(idle->header, "GIL"), "idle thread: %s", idle->header);
	const struct pthread_ *who[] = {spin, cont, idle};
	const char *func[] = {"spin", "contend", "idle"};
	for (int i = 0; i < 3; i++) {
		const struct pframe *py[MAXF];
		size_t n = pdump_py(who[i], py, MAXF), k = 0;
		while (k < n && strcmp(py[k]->func, func[i]))
			k++;
		EXPECT(c, k < n, "thread %s: %zu Python frames, none %s()", func[i], n, func[i]);
	}
out:
	pdump_free(&d);
	free(text);
	mst_child_stop(&t);
	free(path);
	free(unshare);
}

static void scen_gc(struct ctx *c)
{
	static const char *T = "tests/targets/py_gc.py";
	struct mst_child t = {0};
	struct pdump d = {0};
	char *text = NULL;
	if (start_and_dump(c, &t, T, NULL, true, NULL, &d, &text) < 0)
		goto out;
	pid_t gc = ready_tid(&t, "gc_tid");
	const struct pthread_ *g = pdump_thread(&d, gc);
	EXPECT(c, g, "collector thread missing");
	EXPECT(c, strstr(g->header, "in GC"), "collector not marked: %s", g->header);
	for (size_t i = 0; i < d.n; i++)
		EXPECT(c, d.t[i].tid == gc || !strstr(d.t[i].header, "in GC"),
		       "another thread in GC: %s", d.t[i].header);
	const struct pframe *py[MAXF];
	size_t n = pdump_py(g, py, MAXF);
	EXPECT(c,
	       n >= 2 && strstr(py[n - 1]->func, "__del__") &&
	           frame_is(py[n - 2], "collector", "py_gc.py", mark(T, "gc_collect")),
	       "collector frames wrong");
out:
	pdump_free(&d);
	free(text);
	mst_child_stop(&t);
}

static bool has_py_frame(const struct pthread_ *th, const char *func, const char *file, int line)
{
	for (size_t k = 0; th && k < th->n; k++)
		if (th->f[k].py && frame_is(&th->f[k], func, file, line))
			return true;
	return false;
}

static void scen_names(struct ctx *c)
{
	static const char *T = "tests/targets/py_names.py";
	struct mst_child t = {0};
	struct pdump d = {0};
	char *text = NULL;
	if (start_and_dump(c, &t, T, NULL, true, NULL, &d, &text) < 0)
		goto out;
	const struct pthread_ *meth = pdump_thread(&d, ready_tid(&t, "method"));
	const struct pthread_ *uni = pdump_thread(&d, ready_tid(&t, "unicode"));
	const struct pthread_ *gen = pdump_thread(&d, ready_tid(&t, "gen"));
	const struct pthread_ *coro = pdump_thread(&d, ready_tid(&t, "coro"));
	EXPECT(c, meth && uni && gen && coro, "threads missing");
	EXPECT(c, strstr(meth->header, "\"worker-1\""), "thread name: %s", meth->header);
	EXPECT(c,
	       strstr(uni->header, "\"worker-\xc3\xa4"
	                           "1\""),
	       "non-ASCII thread name: %s", uni->header);
	const char *method = c->py->minor >= 11 ? "Klass.method" : "method";
	EXPECT(c, has_py_frame(meth, method, "py_names.py", mark(T, "method_sleep")), "no %s frame",
	       method);
	EXPECT(c,
	       has_py_frame(uni,
	                    "gr\xc3\xbc\xc3\x9f"
	                    "e",
	                    "py_names.py", mark(T, "call_cjk")),
	       "no non-ASCII function frame");
	EXPECT(c,
	       has_py_frame(uni, "\xe8\xae\xa1\xe7\xae\x97", "py_names.py", mark(T, "cjk_sleep")),
	       "no CJK function frame");
	EXPECT(c,
	       has_py_frame(gen, "produce", "py_names.py", mark(T, "gen_sleep")) &&
	           has_py_frame(gen, "run_generator", "py_names.py", mark(T, "gen_iterate")),
	       "generator frames missing");
	EXPECT(c,
	       has_py_frame(coro, "handle", "py_names.py", mark(T, "coro_sleep")) &&
	           has_py_frame(coro, "serve", "py_names.py", mark(T, "coro_await")),
	       "coroutine frames missing");
out:
	pdump_free(&d);
	free(text);
	mst_child_stop(&t);
}

static void scen_json(struct ctx *c)
{
	static const char *T = "tests/targets/py_recurse.py";
	struct mst_child t = {0};
	char *text = NULL, *out = NULL;
	char path[] = "/tmp/msttop-json-XXXXXX";
	int fd = -1;
	if (mst_child_start_py(&t, c->py, T, "50", 30000) < 0 ||
	    mst_wait_all_sleeping(t.pid, 10000) < 0) {
		failf(c, "target did not start");
		goto out;
	}
	int code;
	text = mst_msttop_dump(t.pid, "--json", NULL, NULL, &code);
	EXPECT(c, code == 0 && text, "--json exited %d", code);
	fd = mkstemp(path);
	EXPECT(c, fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text), "temp file");
	/* Parse it with a real JSON parser and count the recursion. */
	char script[512];
	snprintf(script, sizeof(script),
	         "import json,sys\nd=json.load(open(sys.argv[1]))\n"
	         "t=[t for t in d['threads'] if t['tid']==%d][0]\n"
	         "print(d['python']['version'], sum(1 for f in t['frames'] if f['kind']=='python' "
	         "and f['function']=='recurse'), t['frames'][-1]['kind'])\n",
	         (int)ready_tid(&t, "tid"));
	char *argv[] = {(char *)c->py->path, "-c", script, path, NULL};
	int st = mst_run(argv, 30000, &out, NULL);
	EXPECT(c, mst_exit_code(st) == 0 && out, "JSON did not parse");
	char ver[32];
	int count = 0;
	char last[32];
	EXPECT(c, sscanf(out, "%31s %d %31s", ver, &count, last) == 3, "bad answer %s", out);
	EXPECT(c, count == 50, "%d recurse frames in JSON", count);
	EXPECT(c, !strcmp(last, "native"), "innermost frame is %s", last);
	EXPECT(c, !strncmp(c->py->label, ver, strlen(ver)), "JSON version %s", ver);
out:
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	free(out);
	free(text);
	mst_child_stop(&t);
}

/* ---- the loop over interpreters ---- */

typedef void (*scenario)(struct ctx *c);

static void run_everywhere(const char *name, scenario fn)
{
	const struct mst_interp *py;
	size_t n = mst_test_interps(&py);
	ck_assert_msg(n > 0, "no Python interpreter found");
	int failures = 0;
	for (size_t i = 0; i < n; i++) {
		struct ctx c = {.py = &py[i]};
		fn(&c);
		printf("RESULT %-22s %-14s %s%s\n", py[i].label, name, c.fail[0] ? "FAIL: " : "ok",
		       c.fail);
		failures += c.fail[0] != 0;
	}
	fflush(stdout);
	ck_assert_msg(failures == 0, "%s failed on %d interpreter(s)", name, failures);
}

static void recurse_default(struct ctx *c)
{
	scen_recurse(c, NULL);
}
static void recurse_native_all(struct ctx *c)
{
	scen_recurse(c, "--native-all");
}
static void recurse_python_only(struct ctx *c)
{
	scen_recurse(c, "--python-only");
}

START_TEST(recursion)
{
	run_everywhere("recursion", recurse_default);
}
END_TEST
START_TEST(recursion_native_all)
{
	run_everywhere("native-all", recurse_native_all);
}
END_TEST
START_TEST(recursion_python_only)
{
	run_everywhere("python-only", recurse_python_only);
}
END_TEST
START_TEST(qsort_callback)
{
	run_everywhere("qsort", scen_qsort);
}
END_TEST
START_TEST(gil_states)
{
	run_everywhere("gil", scen_gil);
}
END_TEST
START_TEST(gil_pidns)
{
	run_everywhere("gil-pidns", scen_gil_pidns);
}
END_TEST
START_TEST(gc_state)
{
	run_everywhere("gc", scen_gc);
}
END_TEST
START_TEST(names)
{
	run_everywhere("names", scen_names);
}
END_TEST
START_TEST(json)
{
	run_everywhere("json", scen_json);
}
END_TEST

/* A C program with its own main() that embeds libpython: bin under the
 * build tree, home its PYTHONHOME (NULL: the libpython finds its own). */
static void embedded_one(const char *bin_rel, const char *home, const char *label)
{
	char *bin = mst_build_path(bin_rel);
	ck_assert_msg(access(bin, X_OK) == 0, "%s was not built", bin);
	char *argv[] = {bin, NULL};
	struct mst_child t;
	if (home)
		setenv("PYTHONHOME", home, 1);
	int started = mst_child_start(&t, argv, 30000);
	unsetenv("PYTHONHOME");
	ck_assert_int_eq(started, 0);
	ck_assert_int_eq(mst_wait_all_sleeping(t.pid, 10000), 0);
	int code;
	char *text = mst_msttop_dump(t.pid, "--no-source", NULL, NULL, &code);
	ck_assert_int_eq(code, 0);
	struct pdump d;
	pdump_parse(text, &d);
	const struct pthread_ *m = pdump_thread(&d, ready_tid(&t, "tid"));
	ck_assert_ptr_nonnull(m);
	static const char *E = "tests/targets/embed.c";
	ck_assert_msg(has_py_frame(m, "embed_outer", "embed.c", mark(E, "emb_call_inner")) &&
	                  has_py_frame(m, "embed_inner", "embed.c", mark(E, "emb_sleep")),
	              "%s: embedded Python frames missing:\n%s", label, text);
	/* The embedding program's own main is below the Python frames. */
	bool main_seen = false;
	for (size_t k = 0; k < m->n && !m->f[k].py; k++)
		main_seen |= !strcmp(m->f[k].func, "main") && strstr(m->f[k].raw, "embed");
	ck_assert_msg(main_seen, "%s: the embedder's main() is not under the Python frames:\n%s",
	              label, text);
	printf("RESULT %-22s %-14s ok\n", label, "embedded");
	pdump_free(&d);
	free(text);
	free(bin);
	mst_child_stop(&t);
}

START_TEST(cext)
{
	run_everywhere("cext", scen_cext);
}
END_TEST

START_TEST(embedded)
{
	embedded_one("tests/embed", NULL, "C-main embedding");
}
END_TEST

/* The same on Debian unstable's libpython3.14, whenever run-tests.sh
 * fetched it (MSTTOP_DEBIAN_PYTHONS names its interpreters). */
START_TEST(embedded_debian)
{
	const char *deb = getenv("MSTTOP_DEBIAN_PYTHONS");
	if (!deb || !*deb || !strstr(deb, "python3.14"))
		return;
	char home[PATH_MAX];
	snprintf(home, sizeof(home), "%s", deb);
	char *bin = strstr(home, "/bin/python3.14");
	ck_assert_ptr_nonnull(bin);
	*bin = '\0';
	embedded_one("tests/embed-debian-3.14", home, "C-main libpython3.14");
}
END_TEST

/* A function name carrying a terminal escape sequence and a newline (set
 * with code.replace) is shown escaped: in text as \x1b, in JSON as \u001b;
 * no raw ESC byte reaches the output. */
START_TEST(escaped_names)
{
	const struct mst_interp *py;
	size_t n = mst_test_interps(&py);
	ck_assert_uint_gt(n, 0);
	const struct mst_interp *newest = &py[n - 1];
	static const char script[] = "import sys, threading, time\n"
	                             "def f():\n"
	                             "    time.sleep(1000)\n"
	                             "bad = 'evil\\x1b[31mred\\nline'\n"
	                             "kw = {'co_name': bad}\n"
	                             "if sys.version_info >= (3, 11): kw['co_qualname'] = bad\n"
	                             "f.__code__ = f.__code__.replace(**kw)\n"
	                             "threading.current_thread().name = 'thr\\x1b]0;title\\x07'\n"
	                             "print('ready', flush=True)\n"
	                             "f()\n";
	char *argv[] = {(char *)newest->path, "-c", (char *)script, NULL};
	struct mst_child t;
	ck_assert_int_eq(mst_child_start(&t, argv, 30000), 0);
	ck_assert_int_eq(mst_wait_all_sleeping(t.pid, 10000), 0);
	int code;
	char *text = mst_msttop_dump(t.pid, NULL, NULL, NULL, &code);
	ck_assert_int_eq(code, 0);
	ck_assert_msg(!strchr(text, '\x1b') && !strchr(text, '\x07'), "raw control bytes:\n%s",
	              text);
	ck_assert_msg(strstr(text, "evil\\x1b[31mred\\x0aline"), "function not escaped:\n%s", text);
	ck_assert_msg(strstr(text, "thr\\x1b]0;title\\x07"), "thread name not escaped:\n%s", text);
	free(text);
	text = mst_msttop_dump(t.pid, "--json", NULL, NULL, &code);
	ck_assert_int_eq(code, 0);
	ck_assert(!strchr(text, '\x1b'));
	ck_assert_msg(strstr(text, "evil\\u001b[31mred\\nline"), "JSON not escaped:\n%s", text);
	free(text);
	mst_child_stop(&t);
}
END_TEST

START_TEST(not_python)
{
	/* A process without Python: native stacks and a note. */
	char *bin = mst_build_path("tests/native_chain");
	char *argv[] = {bin, NULL};
	struct mst_child t;
	ck_assert_int_eq(mst_child_start(&t, argv, 20000), 0);
	int code;
	char *text = mst_msttop_dump(t.pid, NULL, NULL, NULL, &code);
	ck_assert_int_eq(code, 0);
	ck_assert_msg(strstr(text, "no CPython") || strstr(text, "no Python"), "%s", text);
	ck_assert(strstr(text, "native stacks only"));
	ck_assert(strstr(text, "chain_c"));
	free(text);
	text = mst_msttop_dump(t.pid, "--python-only", NULL, NULL, &code);
	ck_assert_int_eq(code, 6);
	free(text);
	free(bin);
	mst_child_stop(&t);
}
END_TEST

static Suite *live_py_suite(void)
{
	Suite *s = suite_create("live-py");
	TCase *tc = tcase_create("dump");
	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, recursion);
	tcase_add_test(tc, recursion_native_all);
	tcase_add_test(tc, recursion_python_only);
	tcase_add_test(tc, qsort_callback);
	tcase_add_test(tc, gil_states);
	tcase_add_test(tc, gil_pidns);
	tcase_add_test(tc, gc_state);
	tcase_add_test(tc, names);
	tcase_add_test(tc, json);
	tcase_add_test(tc, cext);
	tcase_add_test(tc, embedded);
	tcase_add_test(tc, embedded_debian);
	tcase_add_test(tc, escaped_names);
	tcase_add_test(tc, not_python);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mst_check_main(live_py_suite(), NULL, 0);
}
