/* --dump --subprocesses against a real process tree, on every interpreter:
 * a multiprocessing pool (fork), a "spawn" process, a subprocess of the
 * same interpreter and a "sleep" (no Python). Each process is dumped in
 * turn, parents first, each child's Python function at its marked line; no
 * process is left stopped or traced. */
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "../check_main.h"
#include "../harness.h"

#define TARGET "tests/targets/py_subproc.py"

/* The section of the text dump for process pid: from its header to the
 * next one (malloc'd), or NULL. The first process has no "===" line. */
static char *section(const char *out, int pid, bool first)
{
	char head[64];
	if (first)
		snprintf(head, sizeof(head), "Process %d: ", pid);
	else
		snprintf(head, sizeof(head), "=== process %d, a child of ", pid);
	const char *s = strstr(out, head);
	if (!s)
		return NULL;
	const char *e = strstr(s + strlen(head), "\n=== process ");
	return strndup(s, e ? (size_t)(e - s) : strlen(s));
}

static bool has_frame(const char *sec, const char *fn, int line)
{
	char want[256];
	snprintf(want, sizeof(want), "(Python) %s at ", fn);
	for (const char *p = sec; (p = strstr(p, want)); p++) {
		const char *nl = strchr(p, '\n');
		char l[512];
		snprintf(l, sizeof(l), "%.*s", (int)(nl ? nl - p : (long)strlen(p)), p);
		char tail[64];
		snprintf(tail, sizeof(tail), "py_subproc.py:%d", line);
		if (strstr(l, tail))
			return true;
	}
	return false;
}

/* Start py_subproc.py (with arg) under py: pids gets the two pool
 * workers, the spawned process and the subprocess child, sleep_ the pid
 * of the sleep child. Returns once the four sleep in their functions. */
static void start_tree(const struct mst_interp *py, const char *arg, struct mst_child *t,
                       int pids[4], char sleep_[32])
{
	ck_assert_msg(mst_child_start_py(t, py, TARGET, arg, 120000) == 0,
	              "py_subproc did not start under %s", py->label);
	char pool[64] = "", spawn[32] = "", child[32] = "";
	mst_child_ready_value(t, "pool", pool, sizeof(pool));
	mst_child_ready_value(t, "spawn", spawn, sizeof(spawn));
	mst_child_ready_value(t, "child", child, sizeof(child));
	sleep_[0] = '\0';
	mst_child_ready_value(t, "sleep", sleep_, 32);
	int pools[2] = {0, 0};
	sscanf(pool, "%d,%d", &pools[0], &pools[1]);
	pids[0] = pools[0];
	pids[1] = pools[1];
	pids[2] = atoi(spawn);
	pids[3] = atoi(child);
	/* The workers print their ready line from inside the function, but
	 * the stack is final only once they sleep. */
	for (size_t i = 0; i < 4; i++)
		mst_wait_all_sleeping(pids[i], 10000);
}

START_TEST(dump_subprocesses)
{
	const struct mst_interp *in;
	size_t n = mst_test_interps(&in);
	ck_assert_msg((size_t)_i < n, "no interpreter");
	const struct mst_interp *py = &in[_i];
	struct mst_child t;
	int pids[4];
	char sleep_[32];
	start_tree(py, NULL, &t, pids, sleep_);
	char *src = mst_src_path(TARGET);
	int l_pool = mst_marker_line(src, "pool_sleep"),
	    l_spawn = mst_marker_line(src, "spawn_sleep"),
	    l_child = mst_marker_line(src, "child_sleep"),
	    l_main = mst_marker_line(src, "main_wait");
	free(src);
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)t.pid);
	int code = -1;
	char *out = mst_msttop_dump(t.pid, "--subprocesses", NULL, NULL, &code);
	int jcode = -1;
	char *json = mst_msttop_dump(t.pid, "--subprocesses", "--json", NULL, &jcode);
	bool ok = code == 0 && jcode == 0 && out && json;
	const char *fns[] = {"pool_task", "pool_task", "spawn_task", "child_task"};
	const int lines[] = {l_pool, l_pool, l_spawn, l_child};
	char why[512] = "";
	char *sec = out ? section(out, (int)t.pid, true) : NULL;
	if (ok && !(sec && has_frame(sec, "main", l_main)))
		snprintf(why, sizeof(why), "the parent's main() at line %d is not in its dump",
		         l_main);
	free(sec);
	for (size_t i = 0; ok && !why[0] && i < 4; i++) {
		sec = section(out, pids[i], false);
		if (!sec || !has_frame(sec, fns[i], lines[i]))
			snprintf(why, sizeof(why), "process %d: no %s at line %d", pids[i], fns[i],
			         lines[i]);
		free(sec);
	}
	if (ok && !why[0]) {
		sec = section(out, atoi(sleep_), false);
		if (!sec || !strstr(sec, ": sleep 1000") || strstr(sec, "(Python)"))
			snprintf(why, sizeof(why), "the sleep child %s: no native-only dump",
			         sleep_);
		free(sec);
	}
	/* The JSON: one object per process, and every child's parent. */
	if (ok && !why[0]) {
		char want[64];
		snprintf(want, sizeof(want), "\"%d\":%d", pids[2], (int)t.pid);
		if (strncmp(json, "{\"processes\":[", 14) || !strstr(json, want))
			snprintf(why, sizeof(why), "the JSON lacks the processes or the parents");
	}
	for (size_t i = 0; i < 4; i++) {
		char what[128] = "";
		if (!why[0] && mst_wait_none_held(pids[i], what, sizeof(what)))
			snprintf(why, sizeof(why), "process %d left held: %s", pids[i], what);
	}
	MST_ASSERT_FREE(t.pid);
	mst_child_stop(&t);
	printf("RESULT %s subprocesses %s\n", py->label, ok && !why[0] ? "ok" : "FAIL");
	ck_assert_msg(code == 0, "%s: --dump --subprocesses exited %d", py->label, code);
	ck_assert_msg(jcode == 0, "%s: --json exited %d", py->label, jcode);
	ck_assert_msg(!why[0], "%s: %s\n%.6000s", py->label, why, out);
	free(out);
	free(json);
}
END_TEST

/* The lines of a collapsed file whose thread is pid's main thread
 * ("PID/PID MainThread;") and that hold fn at py_subproc.py:line. */
static bool folded_has(const char *folded, int pid, const char *fn, int line)
{
	char head[64], want[128], tail[64];
	snprintf(head, sizeof(head), "%d/%d ", pid, pid);
	snprintf(want, sizeof(want), ";%s (", fn);
	snprintf(tail, sizeof(tail), "py_subproc.py:%d)", line);
	for (const char *p = folded; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		const char *f = memmem(p, n, want, strlen(want));
		const char *close = f ? memchr(f, ')', (size_t)(p + n - f)) : NULL;
		size_t tl = strlen(tail);
		if (!strncmp(p, head, strlen(head)) && close && close + 1 - f >= (long)tl &&
		    !strncmp(close + 1 - tl, tail, tl))
			return true;
		p = nl ? nl + 1 : NULL;
	}
	return false;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	char chunk[65536];
	size_t r;
	while ((r = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, r, m);
	fclose(m);
	fclose(f);
	return buf;
}

/* -b --subprocesses --record over the same tree, with a child started
 * every half second that exits a second later: every process's function
 * in the recording under "pid/tid name", each process a track group of
 * the trace, the children that exited listed as such, new ones followed. */
/* Every interpreter through ptrace; then (index n) the newest through the
 * perf back end, which follows each child as it is found too. */
START_TEST(sample_subprocesses)
{
	const struct mst_interp *in;
	size_t n = mst_test_interps(&in);
	ck_assert_msg(n > 0 && (size_t)_i <= n, "no interpreter");
	bool perf = (size_t)_i == n;
	const struct mst_interp *py = &in[perf ? n - 1 : (size_t)_i];
	struct mst_child t;
	int pids[4];
	char sleep_[32];
	start_tree(py, "--churn", &t, pids, sleep_);
	char *src = mst_src_path(TARGET);
	int l_pool = mst_marker_line(src, "pool_sleep"),
	    l_spawn = mst_marker_line(src, "spawn_sleep"),
	    l_child = mst_marker_line(src, "child_sleep"),
	    l_churn = mst_marker_line(src, "churn_sleep");
	free(src);
	char dir[] = "/tmp/msttop-subproc-XXXXXX";
	ck_assert(mkdtemp(dir));
	char folded[600], trace[600], pid[32];
	snprintf(folded, sizeof(folded), "%s/tree.folded", dir);
	snprintf(trace, sizeof(trace), "%s/tree.trace.json", dir);
	snprintf(pid, sizeof(pid), "%d", (int)t.pid);
	char *bin = mst_build_path("msttop");
	char *argv[] = {bin,
	                "-p",
	                pid,
	                "-b",
	                "--duration",
	                "4",
	                "--subprocesses",
	                "--idle",
	                "--record",
	                folded,
	                "--record",
	                trace,
	                "--sampler",
	                perf ? "perf" : "ptrace",
	                NULL};
	char *out = NULL, *err = NULL;
	int code = mst_exit_code(mst_run(argv, 120000, &out, &err));
	free(bin);
	char why[512] = "";
	char *fo = slurp(folded), *tr = slurp(trace);
	if (code != 0 || !out || !fo || !tr)
		snprintf(why, sizeof(why), "msttop exited %d: %.300s", code, err ? err : "");
	const char *fns[] = {"pool_task", "pool_task", "spawn_task", "child_task"};
	const int lines[] = {l_pool, l_pool, l_spawn, l_child};
	for (size_t i = 0; !why[0] && i < 4; i++)
		if (!folded_has(fo, pids[i], fns[i], lines[i]))
			snprintf(why, sizeof(why),
			         "the recording has no \"%d/%d MainThread;...%s\"", pids[i],
			         pids[i], fns[i]);
	/* A child that started while msttop ran, with its function. */
	char want[128];
	snprintf(want, sizeof(want), "/py_subproc.py:%d)", l_churn);
	if (!why[0] && (!strstr(fo, ";churn_task (") || !strstr(fo, want)))
		snprintf(why, sizeof(why), "no churn child's churn_task in the recording");
	if (!why[0] && !strstr(out, " (exited): "))
		snprintf(why, sizeof(why), "the report lists no child that exited");
	char sleepline[64];
	snprintf(sleepline, sizeof(sleepline), "  child %s: sleep 1000", sleep_);
	if (!why[0] && !strstr(out, sleepline))
		snprintf(why, sizeof(why), "the report does not list the sleep child");
	/* A process track group per process: its name and its GIL holder. */
	size_t groups = 0;
	for (const char *p = tr; p && (p = strstr(p, "\"name\":\"process_name\"")); p++)
		groups++;
	if (!why[0] && groups < 7)
		snprintf(why, sizeof(why), "the trace has %zu process groups, not 7 or more",
		         groups);
	if (!why[0]) {
		/* Every file parses as its reader expects. */
		char *pyargv[] = {(char *)py->path, "-c",
		                  "import json,sys; d=json.load(open(sys.argv[1])); "
		                  "assert len({e['pid'] for e in d['traceEvents']}) >= 7",
		                  trace, NULL};
		if (mst_run(pyargv, 60000, NULL, NULL) != 0)
			snprintf(why, sizeof(why),
			         "the trace does not parse, or has fewer than 7 pids");
	}
	for (size_t i = 0; i < 4; i++) {
		char what[128] = "";
		if (!why[0] && mst_wait_none_held(pids[i], what, sizeof(what)))
			snprintf(why, sizeof(why), "process %d left held: %s", pids[i], what);
	}
	MST_ASSERT_FREE(t.pid);
	mst_child_stop(&t);
	char *rm[] = {"/bin/rm", "-rf", dir, NULL};
	mst_run(rm, 60000, NULL, NULL);
	printf("RESULT %s %s %s\n", py->label, perf ? "subprocesses-perf" : "subprocesses-sampled",
	       why[0] ? "FAIL" : "ok");
	ck_assert_msg(!why[0], "%s: %s\n%.3000s", py->label, why, out ? out : "");
	free(out);
	free(err);
	free(fo);
	free(tr);
}
END_TEST

static Suite *subproc_suite(void)
{
	const struct mst_interp *in;
	size_t n = mst_test_interps(&in);
	Suite *s = suite_create("subprocesses");
	TCase *tc = tcase_create("dump");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, dump_subprocesses, 0, n ? (int)n : 1);
	suite_add_tcase(s, tc);
	tc = tcase_create("sample");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, sample_subprocesses, 0, n ? (int)n + 1 : 1);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mst_check_main(subproc_suite(), NULL, 0);
}
