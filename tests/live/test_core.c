/* --core against real core files (issue 15), on every interpreter found:
 *  - gcore: the mixed target (a ctypes qsort whose Python comparator
 *    sleeps; a spinning thread) is stopped with SIGSTOP, dumped live, and
 *    written to a core by gdb's gcore; the core's merged stacks must be the
 *    live dump's, frame for frame and line for line, GIL holder included.
 *  - crash: the same target killed by SIGSEGV with RLIMIT_CORE unlimited:
 *    the kernel's core shows the signal and every thread's Python function.
 *  - bad cores: files that are not cores get one line and exit 2; cut and
 *    corrupted cores give what can be read, never a crash. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check_main.h"
#include "../harness.h"
#include "msttop/corefile.h"

#define TARGET "tests/targets/py_core.py"

/* Run msttop with the given arguments (NULL-terminated, at most 8). */
static char *msttop(int *code, char **err, const char *a0, const char *a1, const char *a2,
                    const char *a3)
{
	char *bin = mst_build_path("msttop");
	char *argv[8] = {bin};
	int n = 1;
	const char *a[] = {a0, a1, a2, a3};
	for (size_t i = 0; i < 4 && a[i]; i++)
		argv[n++] = (char *)a[i];
	argv[n] = NULL;
	char *out = NULL, *e = NULL;
	*code = mst_exit_code(mst_run(argv, 120000, &out, &e));
	free(bin);
	if (err)
		*err = e;
	else
		free(e);
	return out;
}

/* Task tid of pid asleep in time.sleep(): in select (3.6-3.10),
 * clock_nanosleep (3.11+), nanosleep or pselect6, not in a futex (a
 * thread that waits for the GIL on its way is 'S' too). */
static bool wait_in_sleep(pid_t pid, pid_t tid, int timeout_ms)
{
	long deadline = mst_now_ms() + timeout_ms;
	char path[128];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
	do {
		FILE *f = fopen(path, "r");
		if (!f)
			return false;
		long nr = -1;
		int got = fscanf(f, "%ld", &nr);
		fclose(f);
		if (got == 1 && (nr == 23 || nr == 35 || nr == 230 || nr == 270))
			return true;
		usleep(5000);
	} while (mst_now_ms() < deadline);
	return false;
}

/* What must agree between a live dump and a core's: per thread its tid,
 * Python name, whether it holds the GIL, and every frame and source line.
 * The header (process or core) and the thread's OS state differ by
 * nature: the live one is "stopped" (SIGSTOP), the core's is what its
 * registers say. Malloc'd. */
struct tsec {
	long tid;
	char *text;
};

static int cmp_tsec(const void *a, const void *b)
{
	const struct tsec *x = a, *y = b;
	return (x->tid > y->tid) - (x->tid < y->tid);
}

static char *frames_only(const char *dump)
{
	/* One section per thread, sorted by tid: a kernel core lists the
	 * thread that took the signal first. */
	struct tsec v[64];
	size_t nv = 0;
	size_t total = strlen(dump) + 1;
	for (const char *p = dump; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (!strncmp(p, "Thread ", 7) && nv < 64) {
			/* "Thread TID "name" [comm] (states)": tid and name, and
			 * the GIL (the comm is the process's in a core). */
			const char *sp = memchr(p + 7, ' ', n - 7);
			const char *q2 = sp && sp[1] == '"' ? strchr(sp + 2, '"') : NULL;
			size_t head = q2 && q2 < p + n ? (size_t)(q2 + 1 - p) : n;
			bool gil = memmem(p, n, "holds GIL", 9) != NULL;
			v[nv].tid = atol(p + 7);
			v[nv].text = malloc(total + 64);
			snprintf(v[nv].text, total + 64, "%.*s%s\n", (int)head, p,
			         gil ? " GIL" : "");
			nv++;
		} else if (nv && n) {
			size_t l = strlen(v[nv - 1].text);
			snprintf(v[nv - 1].text + l, total + 64 - l, "%.*s\n", (int)n, p);
		}
		p += n + (nl != NULL);
	}
	qsort(v, nv, sizeof(*v), cmp_tsec);
	char *out = malloc(total + 64 * nv + 1);
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < nv; i++) {
		len += (size_t)sprintf(out + len, "%s", v[i].text);
		free(v[i].text);
	}
	return out;
}

/* The tid of the thread a --dump shows holding the GIL, or 0. */
static pid_t gil_holder(const char *dump)
{
	for (const char *p = dump; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		size_t n = strcspn(p, "\n");
		if (!strncmp(p, "Thread ", 7) && memmem(p, n, "holds GIL", 9))
			return (pid_t)atol(p + 7);
	}
	return 0;
}

/* The first line where a and b differ, for the failure message. */
static void first_diff(const char *a, const char *b, char *why, size_t len)
{
	int line = 1;
	while (*a && *a == *b) {
		line += *a == '\n';
		a++;
		b++;
	}
	while (line > 1 && a[-1] != '\n') {
		a--;
		b--;
	}
	snprintf(why, len, "line %d: live \"%.*s\" core \"%.*s\"", line, (int)strcspn(a, "\n"), a,
	         (int)strcspn(b, "\n"), b);
}

/* The text of thread tid's section in a dump (malloc'd), or NULL. */
static char *thread_section(const char *dump, const char *tid)
{
	char head[64];
	snprintf(head, sizeof(head), "\nThread %s ", tid);
	const char *s = strstr(dump, head);
	if (!s)
		return NULL;
	const char *e = strstr(s + 1, "\nThread ");
	return strndup(s, e ? (size_t)(e - s) : strlen(s));
}

/* A Python frame fn at py_core.py:line in sec. */
static bool has_py(const char *sec, const char *fn, int line)
{
	char want[256], tail[64];
	snprintf(want, sizeof(want), "(Python) %s at ", fn);
	snprintf(tail, sizeof(tail), "py_core.py:%d", line);
	for (const char *p = sec; sec && (p = strstr(p, want)); p++) {
		size_t n = strcspn(p, "\n");
		const char *at = memmem(p, n, tail, strlen(tail));
		if (at && (at + strlen(tail) == p + n || at[strlen(tail)] == ' '))
			return true;
	}
	return false;
}

/* What every dump of the target must show, live or core: the sorter's
 * merged stack (sorter, native frames, compare at its sleep), the spinner
 * in spin, the main thread in main. "" when it does. */
static void check_target(const char *dump, const struct mst_child *t, char *why, size_t len)
{
	char *src = mst_src_path(TARGET);
	int l_cmp = mst_marker_line(src, "core_compare"), l_qs = mst_marker_line(src, "core_qsort"),
	    l_spin = mst_marker_line(src, "core_spin"), l_main = mst_marker_line(src, "core_main");
	free(src);
	char sorter[32] = "", spinner[32] = "", main_[32] = "";
	mst_child_ready_value(t, "sorter", sorter, sizeof(sorter));
	mst_child_ready_value(t, "spinner", spinner, sizeof(spinner));
	mst_child_ready_value(t, "main", main_, sizeof(main_));
	char *s = thread_section(dump, sorter);
	const char *c = s ? strstr(s, "(Python) sorter at ") : NULL;
	const char *nat = c ? strstr(c, "\n    (C) ") : NULL;
	const char *cmp = nat ? strstr(nat, "(Python) compare at ") : NULL;
	if (!has_py(s, "sorter", l_qs) || !has_py(s, "compare", l_cmp) || !nat || !cmp)
		snprintf(why, len,
		         "thread %s: not sorter (line %d), native frames, then compare (line %d)",
		         sorter, l_qs, l_cmp);
	free(s);
	s = thread_section(dump, spinner);
	if (!why[0] && !has_py(s, "spin", l_spin))
		snprintf(why, len, "thread %s: no spin at line %d", spinner, l_spin);
	free(s);
	s = thread_section(dump, main_);
	if (!why[0] && !has_py(s, "main", l_main))
		snprintf(why, len, "thread %s: no main at line %d", main_, l_main);
	free(s);
}

static char *gcore_of(pid_t pid, const char *dir, char *why, size_t len)
{
	char *gcore = mst_which("gcore");
	if (!gcore) {
		snprintf(why, len, "gcore (gdb) is not installed: apt-get install gdb");
		return NULL;
	}
	char prefix[512], pids[32];
	snprintf(prefix, sizeof(prefix), "%s/core", dir);
	snprintf(pids, sizeof(pids), "%d", (int)pid);
	char *argv[] = {gcore, "-o", prefix, pids, NULL};
	char *out = NULL, *err = NULL;
	int st = mst_run(argv, 300000, &out, &err);
	char *path = NULL;
	if (asprintf(&path, "%s.%d", prefix, (int)pid) < 0)
		path = NULL;
	struct stat sb;
	if (st < 0 || !path || stat(path, &sb) < 0) {
		snprintf(why, len, "gcore %s failed (status %d): %.300s", pids, st, err ? err : "");
		free(path);
		path = NULL;
	}
	free(out);
	free(err);
	free(gcore);
	return path;
}

/* The kernel writes "core" (core_pattern) into the crashing process's
 * directory. A pattern that pipes to a handler or names another directory
 * is set to "core" for the moment of the crash, and put back. */
static bool pattern_local(char *saved, size_t len)
{
	saved[0] = '\0';
	FILE *f = fopen("/proc/sys/kernel/core_pattern", "r");
	if (!f)
		return false;
	bool ok = fgets(saved, (int)len, f) != NULL;
	fclose(f);
	saved[strcspn(saved, "\n")] = '\0';
	if (!ok)
		return false;
	if (saved[0] != '|' && !strchr(saved, '/')) {
		saved[0] = '\0'; /* nothing to put back */
		return true;
	}
	f = fopen("/proc/sys/kernel/core_pattern", "w");
	ok = f && fputs("core", f) >= 0;
	if (f)
		ok &= fclose(f) == 0;
	return ok;
}

static void pattern_restore(const char *saved)
{
	if (!saved[0])
		return;
	FILE *f = fopen("/proc/sys/kernel/core_pattern", "w");
	if (f) {
		fputs(saved, f);
		fclose(f);
	}
}

/* The core file the kernel wrote into dir: "core" or "core.PID". */
static char *find_core(const char *dir, pid_t pid)
{
	char *p = NULL;
	struct stat sb;
	if (asprintf(&p, "%s/core", dir) >= 0 && stat(p, &sb) == 0)
		return p;
	free(p);
	if (asprintf(&p, "%s/core.%d", dir, (int)pid) >= 0 && stat(p, &sb) == 0)
		return p;
	free(p);
	return NULL;
}

/* Whether gcore wrote each thread's stack as the stopped process holds
 * it. gdb 13 writes zeros for a stack whose mapping holds a guard region
 * installed with MADV_GUARD_INSTALL (glibc 2.42+ on Linux 6.13+: Debian
 * unstable's interpreters here): its read of the whole mapping fails.
 * "" when it did, else what differs. */
static void gcore_faithful(const char *core, pid_t pid, char *why, size_t len)
{
	why[0] = '\0';
	struct mst_corefile *c = NULL;
	struct mst_err e = {0};
	if (mst_corefile_open(core, NULL, &c, &e) < 0) {
		snprintf(why, len, "%s", e.msg);
		return;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct mst_reader r = mst_corefile_reader(c);
	for (size_t i = 0; fd >= 0 && !why[0] && i < mst_corefile_nthreads(c); i++) {
		const struct mst_corefile_thread *th = mst_corefile_thread(c, i);
		uint8_t a[256], b[256];
		if (pread(fd, a, sizeof(a), (off_t)th->regs.sp) != (ssize_t)sizeof(a))
			continue;
		if (mst_read(&r, th->regs.sp, b, sizeof(b)) < 0 || memcmp(a, b, sizeof(a)))
			snprintf(why, len,
			         "gcore did not write thread %d's stack as the process holds it "
			         "(gdb cannot read a stack with a guard region: glibc 2.42+)",
			         (int)th->tid);
	}
	if (fd >= 0)
		close(fd);
	mst_corefile_close(c);
}

/* No tracer left on pid (it is stopped, so mst_task_held cannot tell). */
static bool untraced(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	bool ok = false;
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "TracerPid:", 10))
			ok = atoi(line + 10) == 0;
	if (f)
		fclose(f);
	return ok;
}

/* Compare a live dump with a core's: "" or why not. */
static void same_frames(const char *live, const char *cdump, const struct mst_child *t, char *why,
                        size_t len)
{
	char *a = frames_only(live), *b = frames_only(cdump);
	if (strcmp(a, b))
		first_diff(a, b, why, len);
	free(a);
	free(b);
	if (!why[0])
		check_target(cdump, t, why, len);
	/* Memory the process kept out of its core (MADV_DONTDUMP) may be
	 * noted; nothing else may be missing. */
	if (!why[0] && (!strstr(cdump, "Core file ") || strstr(cdump, "\nMissing: the core") ||
	                strstr(cdump, "cannot be opened") || strstr(cdump, "changed since")))
		snprintf(why, len, "the header names no core, or says memory is missing");
}

/* The mixed target, frozen with SIGSTOP, dumped live; then written to a
 * core by gcore, and then by the kernel (SIGSEGV, then SIGCONT: the
 * pending signal is taken before any thread runs Python again). Both
 * cores must give the live dump's stacks. */
START_TEST(gcore_every_python)
{
	const struct mst_interp *in;
	size_t n = mst_test_interps(&in);
	ck_assert_msg((size_t)_i < n, "no interpreter");
	const struct mst_interp *py = &in[_i];
	char dir[] = "/tmp/msttop-core-XXXXXX";
	ck_assert(mkdtemp(dir));
	/* The kernel's core goes to the target's directory (this test runs
	 * in a process of its own: the directory and the limit are its). */
	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
	ck_assert_msg(setrlimit(RLIMIT_CORE, &rl) == 0, "setrlimit: %s", strerror(errno));
	ck_assert(chdir(dir) == 0);
	struct mst_child t;
	ck_assert_msg(mst_child_start_py(&t, py, TARGET, NULL, 120000) == 0,
	              "py_core did not start under %s", py->label);
	/* Frozen, so that the live dump and the cores see one moment: once
	 * the main thread and the sorter sleep (the ready line is printed
	 * just before), and the spinner holds the GIL they dropped. A stop
	 * that catches the GIL in between is tried again. */
	char sorter[32] = "", main_[32] = "";
	mst_child_ready_value(&t, "sorter", sorter, sizeof(sorter));
	mst_child_ready_value(&t, "main", main_, sizeof(main_));
	bool stopped = false;
	char why[1024] = "", gwhy[512] = "";
	int lcode = -1, ccode = -1, kcode = -1;
	char *live = NULL;
	for (int attempt = 0; attempt < 20; attempt++) {
		wait_in_sleep(t.pid, atoi(main_), 20000);
		wait_in_sleep(t.pid, atoi(sorter), 20000);
		kill(t.pid, SIGSTOP);
		stopped = mst_wait_all_state(t.pid, 'T', 20000) == 0;
		free(live);
		live = stopped ? mst_msttop_dump(t.pid, NULL, NULL, NULL, &lcode) : NULL;
		if (!stopped || !live || strstr(live, "holds GIL"))
			break;
		kill(t.pid, SIGCONT);
		usleep(100000);
	}
	if (!stopped)
		snprintf(why, sizeof(why), "the target did not stop on SIGSTOP");
	else if (lcode != 0 || !live)
		snprintf(why, sizeof(why), "the live dump exited %d", lcode);
	else if (!strstr(live, "holds GIL"))
		snprintf(why, sizeof(why), "no thread held the GIL in 20 live dumps");
	else if (!untraced(t.pid))
		snprintf(why, sizeof(why), "msttop --dump left the target traced");
	/* With every local too: gcore writes the same stopped moment. */
	char *livel = why[0] ? NULL : mst_msttop_dump(t.pid, "--locals", NULL, NULL, &lcode);
	if (!why[0] && (lcode != 0 || !livel || !strstr(livel, "        Arguments:")))
		snprintf(why, sizeof(why), "the live dump --locals exited %d or has no arguments",
		         lcode);
	char *core = why[0] ? NULL : gcore_of(t.pid, dir, why, sizeof(why));
	if (core)
		gcore_faithful(core, t.pid, gwhy, sizeof(gwhy));
	char *cerr = NULL;
	char *cdump = core ? msttop(&ccode, &cerr, "--core", core, "--locals", NULL) : NULL;
	char *cjson = core ? msttop(&ccode, NULL, "--core", core, "--json", NULL) : NULL;
	if (!why[0] && (ccode != 0 || !cdump))
		snprintf(why, sizeof(why), "the gcore dump exited %d: %.300s", ccode,
		         cerr ? cerr : "");
	if (!why[0] && !gwhy[0])
		same_frames(livel, cdump, &t, why, sizeof(why));
	if (!why[0] &&
	    (!cjson || !strstr(cjson, "\"core\":{\"file\":") || !strstr(cjson, "\"missing\":[]")))
		snprintf(why, sizeof(why), "the JSON has no core object");
	/* The kernel's core of the same moment. */
	char saved[512];
	char *kcore = NULL, *kdump = NULL;
	if (!why[0] && !pattern_local(saved, sizeof(saved)))
		snprintf(why, sizeof(why), "cannot set /proc/sys/kernel/core_pattern (needs root)");
	if (!why[0]) {
		/* The signal goes to the thread that holds the GIL, the one
		 * running when stopped: it takes it on waking, before any
		 * instruction of its own. Sent to the process, another thread
		 * may take it, and the kernel then stops the GIL holder for
		 * its dump only after it has run on a little (a busy machine
		 * gives it time to move to the next instruction). */
		pid_t holder = gil_holder(live);
		if (holder <= 0 || tgkill(t.pid, holder, SIGSEGV) != 0)
			kill(t.pid, SIGSEGV);
		kill(t.pid, SIGCONT);
		int st = 0;
		pid_t w = waitpid(t.pid, &st, 0);
		pattern_restore(saved);
		if (w != t.pid || !WIFSIGNALED(st) || !WCOREDUMP(st))
			snprintf(why, sizeof(why), "the target did not dump core (status 0x%x)",
			         st);
		else if (!(kcore = find_core(dir, t.pid)))
			snprintf(why, sizeof(why), "no kernel core in %s", dir);
		kdump = kcore ? msttop(&kcode, NULL, "--core", kcore, NULL, NULL) : NULL;
		if (!why[0] && (kcode != 0 || !kdump))
			snprintf(why, sizeof(why), "the kernel core's dump exited %d", kcode);
		if (!why[0])
			same_frames(live, kdump, &t, why, sizeof(why));
		if (why[0])
			memmove(why + 13, why, strlen(why) + 1), memcpy(why, "kernel core: ", 13);
	}
	kill(t.pid, SIGCONT);
	mst_child_stop(&t);
	if (core)
		unlink(core);
	if (kcore)
		unlink(kcore);
	ck_assert(chdir("/") == 0);
	rmdir(dir);
	/* A gcore that could not write the stacks is said, not hidden: the
	 * kernel's core was compared instead. */
	printf("RESULT %s core-gcore %s%s%s%s\n", py->label, why[0] ? "FAIL" : "ok",
	       gwhy[0] ? " (kernel core only: " : "", gwhy, gwhy[0] ? ")" : "");
	if (why[0])
		fprintf(stderr, "--- live:\n%s\n--- gcore:\n%s\n--- kernel core:\n%s\n",
		        live ? live : "", cdump ? cdump : "", kdump ? kdump : "");
	ck_assert_msg(!why[0], "%s: %s", py->label, why);
	free(live);
	free(livel);
	free(cdump);
	free(cjson);
	free(cerr);
	free(core);
	free(kdump);
	free(kcore);
}
END_TEST

/* Start the target under py in dir (its working directory, where the
 * kernel writes the core), wait until its main thread and sorter sleep,
 * and kill it with SIGSEGV: the core's path (malloc'd), or NULL with why.
 * Check runs each test in a process of its own: the limit and the
 * directory are the test's, and the target inherits both. */
static char *crash_core(const struct mst_interp *py, const char *dir, struct mst_child *t,
                        char *why, size_t len)
{
	struct rlimit rl = {RLIM_INFINITY, RLIM_INFINITY};
	ck_assert_msg(setrlimit(RLIMIT_CORE, &rl) == 0, "setrlimit: %s", strerror(errno));
	ck_assert(chdir(dir) == 0);
	char saved[512];
	ck_assert_msg(pattern_local(saved, sizeof(saved)),
	              "cannot read or set /proc/sys/kernel/core_pattern (needs root)");
	int started = mst_child_start_py(t, py, TARGET, NULL, 120000);
	if (started != 0)
		pattern_restore(saved);
	ck_assert_msg(started == 0, "py_core did not start under %s", py->label);
	char sorter[32] = "", main_[32] = "";
	mst_child_ready_value(t, "sorter", sorter, sizeof(sorter));
	mst_child_ready_value(t, "main", main_, sizeof(main_));
	wait_in_sleep(t->pid, atoi(main_), 20000);
	wait_in_sleep(t->pid, atoi(sorter), 20000);
	kill(t->pid, SIGSEGV);
	int st = 0;
	pid_t w = waitpid(t->pid, &st, 0);
	pattern_restore(saved);
	ck_assert(chdir("/") == 0);
	if (w != t->pid || !WIFSIGNALED(st) || !WCOREDUMP(st)) {
		snprintf(why, len, "the target did not dump core (status 0x%x)", st);
		return NULL;
	}
	char *core = find_core(dir, t->pid);
	if (!core)
		snprintf(why, len, "no core file in %s", dir);
	return core;
}

START_TEST(crash_every_python)
{
	const struct mst_interp *in;
	size_t n = mst_test_interps(&in);
	ck_assert_msg((size_t)_i < n, "no interpreter");
	const struct mst_interp *py = &in[_i];
	char dir[] = "/tmp/msttop-crash-XXXXXX";
	ck_assert(mkdtemp(dir));
	struct mst_child t;
	char why[1024] = "";
	char *core = crash_core(py, dir, &t, why, sizeof(why));
	int code = -1;
	char *err = NULL;
	char *dump = core ? msttop(&code, &err, "--core", core, NULL, NULL) : NULL;
	if (!why[0] && (code != 0 || !dump))
		snprintf(why, sizeof(why), "msttop --core exited %d: %.300s", code, err ? err : "");
	if (!why[0] && !strstr(dump, "Signal 11 (SIGSEGV), in thread "))
		snprintf(why, sizeof(why), "the dump does not say the process died of SIGSEGV");
	if (!why[0])
		check_target(dump, &t, why, sizeof(why));
	mst_child_stop(&t);
	if (core)
		unlink(core);
	rmdir(dir);
	printf("RESULT %s core-crash %s\n", py->label, why[0] ? "FAIL" : "ok");
	if (why[0])
		fprintf(stderr, "--- core:\n%s\n", dump ? dump : "");
	ck_assert_msg(!why[0], "%s: %s", py->label, why);
	free(dump);
	free(err);
	free(core);
}
END_TEST

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");
	ck_assert_msg(f, "cannot write %s", path);
	ck_assert(len == 0 || fwrite(data, 1, len, f) == len);
	ck_assert(fclose(f) == 0);
}

/* One line on stderr, exit 2, nothing on stdout. */
static void refused(const char *file, const char *want)
{
	int code = -1;
	char *err = NULL;
	char *out = msttop(&code, &err, "--core", file, NULL, NULL);
	ck_assert_msg(code == 2, "--core %s exited %d (want 2): %s", file, code, err ? err : "");
	ck_assert_msg(err && strstr(err, want) && strchr(err, '\n') == err + strlen(err) - 1,
	              "--core %s: want one line with \"%s\", got: %s", file, want, err ? err : "");
	ck_assert_msg(!out || !out[0], "--core %s printed: %.200s", file, out);
	free(out);
	free(err);
}

START_TEST(bad_cores)
{
	char dir[] = "/tmp/msttop-badcore-XXXXXX";
	ck_assert(mkdtemp(dir));
	char path[600];
	snprintf(path, sizeof(path), "%s/text", dir);
	static const char text[] = "not a core: a text file long enough to hold an ELF header, "
	                           "which it does not have\n";
	write_file(path, text, sizeof(text) - 1);
	refused(path, "not a core file: not an ELF file");
	snprintf(path, sizeof(path), "%s/empty", dir);
	write_file(path, "", 0);
	refused(path, "too short for an ELF header");
	char *bin = mst_build_path("msttop");
	refused(bin, "not a core file but an ELF");
	free(bin);
	refused(dir, "not a regular file");
	snprintf(path, sizeof(path), "%s/none", dir);
	refused(path, "No such file or directory");

	/* A real core (the kernel's: its notes come first, so a cut core
	 * still has them) to cut, corrupt and misname. */
	const struct mst_interp *in;
	size_t n = mst_test_interps(&in);
	ck_assert_msg(n > 0, "no interpreter");
	const struct mst_interp *py = &in[n - 1];
	struct mst_child t;
	char why[1024] = "";
	char *core = crash_core(py, dir, &t, why, sizeof(why));
	ck_assert_msg(core, "%s", why);
	mst_child_stop(&t);
	char *exe = NULL;
	{
		/* The executable the core names, as msttop reads it. */
		int c0 = -1;
		char *j = msttop(&c0, NULL, "--core", core, "--json", NULL);
		ck_assert_msg(c0 == 0 && j, "--core --json exited %d", c0);
		free(j);
		char *txt = msttop(&c0, NULL, "--core", core, NULL, NULL);
		const char *p = txt ? strstr(txt, " of process ") : NULL;
		p = p ? strstr(p, ": ") : NULL;
		ck_assert_msg(p, "no command line in the core's dump");
		exe = strndup(p + 2, strcspn(p + 2, " \n"));
		free(txt);
	}
	FILE *f = fopen(core, "r");
	ck_assert(f);
	size_t cut = 8u << 20;
	char *img = malloc(cut);
	size_t got = fread(img, 1, cut, f);
	fclose(f);
	ck_assert(got > 65536);

	/* Cut: the notes are there, most memory is not. */
	snprintf(path, sizeof(path), "%s/cut", dir);
	write_file(path, img, got);
	int code = -1;
	char *err = NULL;
	char *out = msttop(&code, &err, "--core", path, NULL, NULL);
	ck_assert_msg(code == 0 || code == 6, "a cut core: exit %d: %s", code, err ? err : "");
	ck_assert_msg(out && strstr(out, "\nMissing: the core file is truncated"),
	              "a cut core: no note of the missing memory:\n%.2000s", out ? out : "");
	free(out);
	free(err);

	/* Corrupt: flipped bytes in the headers and notes, read in this
	 * process (ASan watches in that build): open and every read must
	 * stay inside the file, whatever it says. */
	unsigned seed = 12345;
	for (int round = 0; round < 300; round++) {
		char *bad = malloc(256 * 1024);
		memcpy(bad, img, 256 * 1024);
		for (int k = 0; k < 8; k++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 8) % (16 * 1024);
			seed = seed * 1103515245u + 12345u;
			bad[at] = (char)(seed >> 16);
		}
		snprintf(path, sizeof(path), "%s/bad", dir);
		write_file(path, bad, 256 * 1024);
		free(bad);
		struct mst_corefile *c = NULL;
		struct mst_err e = {0};
		if (mst_corefile_open(path, NULL, &c, &e) < 0) {
			ck_assert_msg(e.msg[0] && !strchr(e.msg, '\n'), "no one-line reason");
			continue;
		}
		struct mst_reader r = mst_corefile_reader(c);
		const struct mst_maps *m = mst_corefile_maps(c);
		uint8_t buf[4096];
		for (size_t i = 0; i < m->n; i++) {
			mst_read(&r, m->v[i].start, buf, sizeof(buf));
			mst_read(&r, m->v[i].end - 8, buf, 16);
		}
		mst_corefile_close(c);
	}
	free(img);

	/* The executable moved: --exe names where it is now. */
	char moved[700];
	snprintf(moved, sizeof(moved), "%s/python-moved", dir);
	char *cpargs[] = {"/bin/cp", exe, moved, NULL};
	ck_assert(mst_run(cpargs, 60000, NULL, NULL) == 0);
	char *plain = msttop(&code, NULL, "--core", core, NULL, NULL);
	ck_assert_msg(code == 0, "--core exited %d", code);
	char *viaexe = msttop(&code, NULL, "--core", core, "--exe", moved);
	ck_assert_msg(code == 0, "--core --exe (a copy) exited %d", code);
	/* The same frames, the executable's named by its new path. */
	const char *st = strstr(plain, " _start [");
	ck_assert_msg(st, "no _start frame in the core's dump");
	char was[600], now[800];
	snprintf(was, sizeof(was), "[%.*s]", (int)strcspn(st + 9, "]"), st + 9);
	snprintf(now, sizeof(now), "[%s]", moved);
	/* A frame without a symbol is named after its file too. */
	char wbase[600], nbase[600];
	const char *ws = strrchr(was, '/');
	snprintf(wbase, sizeof(wbase), " %.*s+0x", (int)strcspn(ws + 1, "]"), ws + 1);
	snprintf(nbase, sizeof(nbase), " %s+0x", strrchr(moved, '/') + 1);
	char *renamed = malloc(strlen(viaexe) * 2 + 1);
	size_t rl = 0;
	for (const char *p = viaexe; *p;) {
		if (!strncmp(p, now, strlen(now))) {
			rl += (size_t)sprintf(renamed + rl, "%s", was);
			p += strlen(now);
		} else if (!strncmp(p, nbase, strlen(nbase))) {
			rl += (size_t)sprintf(renamed + rl, "%s", wbase);
			p += strlen(nbase);
		} else {
			renamed[rl++] = *p++;
		}
	}
	renamed[rl] = '\0';
	char *a = frames_only(plain), *b = frames_only(renamed);
	free(renamed);
	why[0] = '\0';
	if (strcmp(a, b))
		first_diff(a, b, why, sizeof(why));
	ck_assert_msg(!why[0], "--exe of a copy changed the stacks: %s", why);
	free(a);
	free(b);
	free(plain);
	free(viaexe);

	/* Another executable: named as changed, stacks still printed. */
	out = msttop(&code, &err, "--core", core, "--exe", "/bin/true");
	ck_assert_msg(code == 0 || code == 6, "--exe /bin/true exited %d: %s", code,
	              err ? err : "");
	ck_assert_msg(out && strstr(out, "Missing: /bin/true changed since the core was written"),
	              "no build-id note for /bin/true:\n%.1500s", out ? out : "");
	ck_assert_msg(strstr(out, "\nThread "), "no thread printed:\n%.1500s", out);
	free(out);
	free(err);
	char *args[] = {"/bin/rm", "-rf", dir, NULL};
	mst_run(args, 60000, NULL, NULL);
	free(core);
	free(exe);
}
END_TEST

static Suite *core_suite(void)
{
	const struct mst_interp *in;
	size_t n = mst_test_interps(&in);
	Suite *s = suite_create("core");
	TCase *tc = tcase_create("gcore");
	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, gcore_every_python, 0, n ? (int)n : 1);
	suite_add_tcase(s, tc);
	tc = tcase_create("crash");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, crash_every_python, 0, n ? (int)n : 1);
	suite_add_tcase(s, tc);
	tc = tcase_create("bad");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, bad_cores);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mst_check_main(core_suite(), NULL, 0);
}
