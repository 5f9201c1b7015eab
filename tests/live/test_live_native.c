/* Live tests of the native --dump: real targets, real ptrace. A test that
 * cannot attach fails; nothing here passes by skipping. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../check_main.h"
#include "../harness.h"
#include "msttop/proc.h"
#include "msttop/snapshot.h"
#include "msttop/symbols.h"
#include "msttop/unwind.h"

/* The harness's `msttop --dump -p PID [opt]`. */
static char *run_dump_opt(pid_t pid, const char *opt, int *code)
{
	return mst_msttop_dump(pid, opt, NULL, NULL, code);
}

static char *run_dump(pid_t pid, int *code)
{
	return mst_msttop_dump(pid, NULL, NULL, NULL, code);
}

/* The section of the dump for one thread: from its header to the next. */
static char *thread_section(const char *dump, pid_t tid)
{
	char head[64];
	snprintf(head, sizeof(head), "\nThread %d ", (int)tid);
	const char *s = strstr(dump, head);
	if (!s)
		return NULL;
	s++;
	const char *e = strstr(s, "\nThread ");
	size_t len = e ? (size_t)(e - s) : strlen(s);
	return strndup(s, len);
}

/* Every traced thread of pid is running again and nobody traces it. */
static void assert_target_free(pid_t pid)
{
	char path[64], what[128] = "";
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	ck_assert_msg(access(path, F_OK) == 0, "target %d is gone", (int)pid);
	if (mst_wait_none_held(pid, what, sizeof(what)))
		ck_abort_msg("target %d has a thread stopped or still traced: %s", (int)pid, what);
}

/* Find needle in hay at or after *pos, on one line; advance *pos past it. */
static bool find_line_after(const char *hay, const char **pos, const char *needle)
{
	const char *p = strstr(*pos, needle);
	if (!p)
		return false;
	*pos = p + strlen(needle);
	(void)hay;
	return true;
}

/* The frames want[0..n) in text, in this order, each on the line right
 * after the one before (most recent call last, nothing between them).
 * Returns where the last one ends. */
static const char *expect_adjacent(const char *text, const char (*want)[128], int n)
{
	const char *pos = text;
	for (int k = 0; k < n; k++) {
		const char *before = pos;
		ck_assert_msg(find_line_after(text, &pos, want[k]),
		              "frame '%s' missing or out of order:\n%s", want[k], text);
		if (k > 0) {
			const char *nl = strchr(before, '\n');
			const char *hit = strstr(before, want[k]);
			ck_assert_msg(nl && hit && !memchr(nl + 1, '\n', (size_t)(hit - nl - 1)),
			              "something between frames before '%s':\n%s", want[k], text);
		}
	}
	return pos;
}

/* native_chain, started by argv, in mode (NULL: sleeping), dumped: each
 * worker's chain named, in order, at its lines. */
static void check_chain_of(char *const argv[], const char *mode)
{
	struct mst_child t;
	ck_assert_int_eq(mst_child_start(&t, argv, 20000), 0);
	char tids[256];
	ck_assert_int_eq(mst_child_ready_value(&t, "tids", tids, sizeof(tids)), 0);

	int code;
	char *dump = run_dump(t.pid, &code);
	ck_assert_int_eq(code, 0);
	ck_assert_ptr_nonnull(dump);

	char *src = mst_src_path("tests/targets/native_chain.c");
	int l_a = mst_marker_line(src, "call_a"), l_b = mst_marker_line(src, "call_b"),
	    l_b2 = mst_marker_line(src, "call_b2"), l_c = mst_marker_line(src, "call_c");
	int l_end = mst_marker_line(src, mode ? "spin_loop" : "pause_call");
	ck_assert(l_a > 0 && l_b > 0 && l_b2 > 0 && l_c > 0 && l_end > 0);
	/* chain_b2 is inlined into chain_b, inlined into chain_a: both
	 * inlined frames, each at the line of its call. */
	enum { NWANT = 5 };
	char want[NWANT][128];
	snprintf(want[0], sizeof(want[0]), " worker_main at %s:%d ", src, l_a);
	snprintf(want[1], sizeof(want[1]), " chain_a at %s:%d ", src, l_b);
	snprintf(want[2], sizeof(want[2]), " chain_b (inlined) at %s:%d ", src, l_b2);
	snprintf(want[3], sizeof(want[3]), " chain_b2 (inlined) at %s:%d ", src, l_c);
	snprintf(want[4], sizeof(want[4]), " chain_c at %s:%d ", src, l_end);

	int workers = 0;
	char *save = NULL;
	for (char *tok = strtok_r(tids, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		pid_t tid = (pid_t)atoi(tok);
		char *sec = thread_section(dump, tid);
		ck_assert_msg(sec != NULL, "thread %d missing from the dump:\n%s", (int)tid, dump);
		char name[32];
		snprintf(name, sizeof(name), "\"worker-%d\"", workers + 1);
		ck_assert_msg(strstr(sec, name), "thread %d is not named %s:\n%s", (int)tid, name,
		              sec);
		ck_assert_msg(strstr(sec, mode ? "(running" : "(sleeping"),
		              "thread %d state wrong:\n%s", (int)tid, sec);
		/* Most recent call last, each frame on its own line, in order,
		 * with nothing between the chain's frames. */
		const char *pos = expect_adjacent(sec, want, NWANT);
		if (!mode)
			ck_assert_msg(strstr(pos, "pause"), "thread %d does not end in pause:\n%s",
			              (int)tid, sec);
		free(sec);
		workers++;
	}
	ck_assert_int_eq(workers, 3);
	assert_target_free(t.pid);
	/* And it still runs: the process has not been left stopped. */
	ck_assert_int_eq(kill(t.pid, 0), 0);
	free(src);
	free(dump);
	mst_child_stop(&t);
}

static void check_chain(const char *mode)
{
	char *bin = mst_build_path("tests/native_chain");
	char *argv[] = {bin, (char *)mode, NULL};
	check_chain_of(argv, mode);
	free(bin);
}

START_TEST(native_chain_sleeping)
{
	check_chain(NULL);
}
END_TEST

START_TEST(native_chain_spinning)
{
	check_chain("spin");
}
END_TEST

/* A process in its own mount namespace, as in a container, sees files
 * msttop does not: native_chain runs from a tmpfs mounted over a directory
 * where msttop's file system has another program (alt_sleep) at the same
 * path. Its functions are named from its own file (/proc/PID/root), not from
 * the one msttop would find at that path. Needs root (CI runs as root). */
START_TEST(container_files)
{
	/* In the build tree: a failed check leaves it there, not in /tmp. */
	char *dir = mst_build_path("tests/container-decoy"), decoy[PATH_MAX];
	ck_assert_msg(mkdir(dir, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", dir,
	              strerror(errno));
	snprintf(decoy, sizeof(decoy), "%s/native_chain", dir);
	char *bin = mst_build_path("tests/native_chain");
	char *other = mst_build_path("tests/alt_sleep");
	char *unshare = mst_which("unshare");
	ck_assert_msg(unshare, "unshare (util-linux) is not installed");
	char *cp[] = {"/bin/cp", other, decoy, NULL};
	ck_assert_int_eq(mst_run(cp, 10000, NULL, NULL), 0);
	char *argv[] = {unshare,
	                "--mount",
	                "--propagation",
	                "private",
	                "/bin/sh",
	                "-c",
	                "mount -t tmpfs msttop-ns \"$0\" && cp \"$1\" \"$0\"/native_chain && "
	                "exec \"$0\"/native_chain",
	                dir,
	                bin,
	                NULL};
	check_chain_of(argv, NULL);
	ck_assert_int_eq(unlink(decoy), 0);
	ck_assert_int_eq(rmdir(dir), 0);
	free(unshare);
	free(other);
	free(bin);
	free(dir);
}
END_TEST

START_TEST(many_threads)
{
	char *bin = mst_build_path("tests/native_chain");
	char *argv[] = {bin, "threads", "16", "spin", NULL};
	struct mst_child t;
	ck_assert_int_eq(mst_child_start(&t, argv, 20000), 0);
	int code;
	char *dump = run_dump(t.pid, &code);
	ck_assert_int_eq(code, 0);
	int threads = 0, chains = 0;
	for (const char *p = dump; (p = strstr(p, "\nThread ")); p++)
		threads++;
	for (const char *p = dump; (p = strstr(p, " chain_c at ")); p++)
		chains++;
	ck_assert_int_eq(threads, 17);
	ck_assert_int_eq(chains, 16);
	assert_target_free(t.pid);
	free(dump);
	free(bin);
	mst_child_stop(&t);
}
END_TEST

/* Signals arriving while msttop runs (SIGINT, SIGTERM, SIGHUP, SIGKILL, and
 * SIGSEGV/SIGABRT as a crash would): msttop ends and every thread is left
 * running, untraced. */
START_TEST(signal_during_dump)
{
	char *tbin = mst_build_path("tests/native_chain");
	char *argv[] = {tbin, "threads", "16", "spin", NULL};
	struct mst_child t;
	ck_assert_int_eq(mst_child_start(&t, argv, 20000), 0);
	char *bin = mst_build_path("msttop");
	char pids[32];
	snprintf(pids, sizeof(pids), "%d", (int)t.pid);
	srand((unsigned)getpid());
	/* A mix of signals at random moments, in --dump and in the sampler
	 * (--batch): whatever msttop was doing, the target runs on. SIGKILL
	 * gives msttop no chance to clean up: the kernel detaches then.
	 * SIGSEGV and SIGABRT stand for a crash of msttop: its handler gives
	 * the terminal back and dies of the signal. No core files. */
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGKILL, SIGSEGV, SIGABRT};
	const int nsigs = (int)(sizeof(sigs) / sizeof(sigs[0]));
	struct rlimit nocore = {0, 0};
	ck_assert_int_eq(setrlimit(RLIMIT_CORE, &nocore), 0);
	/* In the sanitizer build, AddressSanitizer would take these signals
	 * over (and exit 1): leave them to msttop's own handler. */
	char asan[512];
	const char *old_asan = getenv("ASAN_OPTIONS");
	snprintf(asan, sizeof(asan), "%s%shandle_segv=0:handle_abort=0", old_asan ? old_asan : "",
	         old_asan && *old_asan ? ":" : "");
	setenv("ASAN_OPTIONS", asan, 1);
	int counts = getenv("MSTTOP_KILL_ROUNDS") ? atoi(getenv("MSTTOP_KILL_ROUNDS")) : 24;
	for (int i = 0; i < counts; i++) {
		int sig = sigs[i % nsigs];
		bool batch = (i / nsigs) % 2;
		char *margv[] = {bin, "-p", pids, batch ? "--batch" : "--dump", NULL};
		int ofd, efd;
		pid_t m = mst_spawn(margv, &ofd, &efd);
		ck_assert_int_gt(m, 0);
		struct timespec ts = {0, (rand() % (batch ? 400 : 40)) * 1000000L};
		nanosleep(&ts, NULL);
		kill(m, sig);
		int st;
		waitpid(m, &st, 0);
		close(ofd);
		close(efd);
		int code = mst_exit_code(st);
		ck_assert_msg(code == 0 || code == 128 + sig, "msttop %s exited %d after signal %d",
		              margv[3], code, sig);
		assert_target_free(t.pid);
	}
	/* And the target still makes progress: its threads use CPU. */
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)t.pid);
	unsigned long long before = 0, after = 0;
	for (int k = 0; k < 2; k++) {
		FILE *f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		char *rp = strrchr(buf, ')');
		unsigned long long ut = 0;
		/* utime is field 14: 11 fields after the state. */
		sscanf(rp + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu", &ut);
		*(k ? &after : &before) = ut;
		if (!k)
			usleep(300000);
	}
	ck_assert_msg(after > before, "the target made no progress after the kills");
	free(bin);
	free(tbin);
	mst_child_stop(&t);
}
END_TEST

/* The sampler does not stop a thread that is still blocked where its last
 * walk left it (same system call, sp, pc, and stack words under the walk):
 * it reuses that walk. A thread that sleeps in the same place forever is
 * reused; one that sleeps at the same sp and pc from two callers in turn
 * must show the caller it is in now, as the target's own `side` says. */
static bool has_func(struct mst_symbols *sym, const struct mst_thread_snap *t, const char *name)
{
	for (size_t k = 0; k < t->npcs; k++) {
		const struct mst_native_frame *fr;
		size_t n;
		if (mst_symbols_resolve(sym, t->pcs[k], k > 0, &fr, &n) < 0)
			continue;
		for (size_t j = 0; j < n; j++)
			if (fr[j].func && !strcmp(fr[j].func, name))
				return true;
	}
	return false;
}

START_TEST(blocked_threads_reused)
{
	char *bin = mst_build_path("tests/alt_sleep");
	char *argv[] = {bin, NULL};
	struct mst_child t;
	ck_assert_int_eq(mst_child_start(&t, argv, 20000), 0);
	char v[64];
	ck_assert_int_eq(mst_child_ready_value(&t, "alt", v, sizeof(v)), 0);
	pid_t alt = (pid_t)atoi(v);
	ck_assert_int_eq(mst_child_ready_value(&t, "forever", v, sizeof(v)), 0);
	pid_t forever = (pid_t)atoi(v);
	ck_assert_int_eq(mst_child_ready_value(&t, "side", v, sizeof(v)), 0);
	uint64_t side_addr = strtoull(v, NULL, 16);

	struct mst_err err = {0};
	struct mst_proc *p = NULL;
	struct mst_unwinder *u = NULL;
	struct mst_symbols *sym = NULL;
	ck_assert_msg(mst_proc_open(t.pid, MST_PROC_ATTACH, NULL, &p, &err) == 0, "%s", err.msg);
	ck_assert_msg(mst_unwinder_new(p, &u, &err) == 0, "%s", err.msg);
	ck_assert_msg(mst_symbols_open(t.pid, &sym, &err) == 0, "%s", err.msg);
	struct mst_snapshot *s = NULL;
	int left = 0, right = 0, alt_reused = 0, wrong = 0, forever_reused = 0, takes = 300;
	for (int i = 0; i < takes; i++) {
		ck_assert_msg(mst_snapshot_take(p, u, NULL, NULL, 0, &s, &err) == 0, "%s", err.msg);
		int32_t now = 0;
		ck_assert_int_eq(mst_proc_read(p, side_addr, &now, sizeof(now)), 0);
		for (size_t k = 0; k < s->nthreads; k++) {
			const struct mst_thread_snap *th = &s->threads[k];
			if (th->tid == forever) {
				ck_assert_msg(has_func(sym, th, "forever"), "take %d: forever lost",
				              i);
				forever_reused += th->reused;
			}
			if (th->tid != alt || !has_func(sym, th, "nap"))
				continue;
			bool l = has_func(sym, th, "left"), r = has_func(sym, th, "right");
			ck_assert_msg(l != r, "take %d: left %d right %d", i, l, r);
			left += l;
			right += r;
			alt_reused += th->reused;
			/* side flips just before nap: only the instant of a
			 * switch may disagree. */
			wrong += (l && now != 1) || (r && now != 2);
		}
		usleep(4000);
	}
	mst_snapshot_free(s);
	mst_symbols_close(sym);
	mst_unwinder_free(u);
	mst_proc_close(p);
	mst_child_stop(&t);
	free(bin);
	fprintf(stderr,
	        "blocked_threads_reused: left %d right %d (reused %d), wrong %d, "
	        "forever reused %d of %d\n",
	        left, right, alt_reused, wrong, forever_reused, takes);
	ck_assert_int_ge(forever_reused, takes - 5);
	ck_assert_int_gt(alt_reused, 0);
	ck_assert_int_gt(left, takes / 6);
	ck_assert_int_gt(right, takes / 6);
	ck_assert_int_le(wrong, (left + right) / 20 + 2);
}
END_TEST

/* C++ frames are shown demangled, with their scope and parameters. */
START_TEST(cxx_demangled)
{
	char *bin = mst_build_path("tests/cxx_chain");
	char *argv[] = {bin, NULL};
	struct mst_child t;
	ck_assert_msg(mst_child_start(&t, argv, 20000) == 0, "no C++ target (is g++ installed?)");
	int code;
	char *dump = run_dump(t.pid, &code);
	ck_assert_int_eq(code, 0);
	char *src = mst_src_path("tests/targets/cxx_chain.cpp");
	char want[512];
	snprintf(want, sizeof(want), " demo::Worker::run(int) at %s:%d ", src,
	         mst_marker_line(src, "cxx_call"));
	ck_assert_msg(strstr(dump, want), "missing '%s':\n%s", want, dump);
	ck_assert_msg(strstr(dump, "demo::wait_here<int>(int) at "), "template not demangled:\n%s",
	              dump);
	ck_assert_msg(!strstr(dump, "_ZN4demo"), "a mangled name is shown:\n%s", dump);
	free(src);
	free(dump);
	free(bin);
	mst_child_stop(&t);
}
END_TEST

/* A frame a signal interrupted is shown at the instruction it was at (its
 * loop's line), the sigreturn trampoline by its name, and the handler
 * above them: neither pc is looked up as a return address. Both adjacent,
 * in this order, as eu-stack shows them. */
START_TEST(signal_handler_frames)
{
	char *bin = mst_build_path("tests/sig_handler");
	char *argv[] = {bin, NULL};
	struct mst_child t;
	ck_assert_int_eq(mst_child_start(&t, argv, 20000), 0);
	int code;
	char *dump = run_dump(t.pid, &code);
	ck_assert_int_eq(code, 0);
	char *src = mst_src_path("tests/targets/sig_handler.c");
	char want[3][128];
	snprintf(want[0], sizeof(want[0]), " spin at %s:%d ", src,
	         mst_marker_line(src, "spin_loop"));
	snprintf(want[1], sizeof(want[1]), " __restore_rt ");
	snprintf(want[2], sizeof(want[2]), " on_usr1 at %s:%d ", src,
	         mst_marker_line(src, "handler_pause"));
	expect_adjacent(dump, want, 3);
	free(src);
	free(dump);
	free(bin);
	mst_child_stop(&t);
}
END_TEST

/* A process someone else stopped (SIGSTOP) is dumped and stays stopped;
 * SIGCONT then finds it runnable and untraced. */
START_TEST(stopped_target)
{
	char *bin = mst_build_path("tests/native_chain");
	char *argv[] = {bin, "threads", "3", "spin", NULL};
	struct mst_child t;
	ck_assert_int_eq(mst_child_start(&t, argv, 20000), 0);
	kill(t.pid, SIGSTOP);
	/* The group stop reaches each thread in its own time: wait until all
	 * four are stopped. */
	char path[64], buf[512];
	int all = 0;
	for (int i = 0; i < 400 && all < 4; i++) {
		all = 0;
		char dir[64];
		snprintf(dir, sizeof(dir), "/proc/%d/task", (int)t.pid);
		DIR *d = opendir(dir);
		struct dirent *de;
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%.20s/stat", dir, de->d_name);
			FILE *f = fopen(path, "r");
			size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
			if (f)
				fclose(f);
			buf[n] = '\0';
			char *rp = strrchr(buf, ')');
			all += rp && rp[2] == 'T';
		}
		if (d)
			closedir(d);
		if (all < 4)
			usleep(5000);
	}
	ck_assert_int_eq(all, 4);
	int code;
	char *dump = run_dump(t.pid, &code);
	ck_assert_int_eq(code, 0);
	int stopped = 0;
	for (const char *p = dump; (p = strstr(p, "\nThread ")); p++)
		stopped += strncmp(strchr(p, '(') ? strchr(p, '(') : "", "(stopped", 8) == 0;
	ck_assert_msg(stopped == 4, "%d threads shown stopped:\n%s", stopped, dump);
	ck_assert_msg(strstr(dump, " chain_c at "), "no stacks of the stopped threads");
	/* Still stopped, and nobody traces it. */
	snprintf(path, sizeof(path), "/proc/%d/status", (int)t.pid);
	FILE *f = fopen(path, "r");
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	ck_assert_msg(strstr(buf, "State:\tT (stopped)"), "target no longer stopped: %s", buf);
	ck_assert(strstr(buf, "TracerPid:\t0\n"));
	kill(t.pid, SIGCONT);
	assert_target_free(t.pid);
	free(dump);
	free(bin);
	mst_child_stop(&t);
}
END_TEST

START_TEST(python_interpreters)
{
	const struct mst_interp *py;
	size_t n = mst_test_interps(&py);
	ck_assert_msg(n > 0, "no Python interpreter found");
	int failures = 0;
	for (size_t i = 0; i < n; i++) {
		char *argv[] = {(char *)py[i].path, "-c",
		                "import time\nprint('ready', flush=True)\ntime.sleep(600)", NULL};
		struct mst_child t;
		ck_assert_int_eq(mst_child_start(&t, argv, 20000), 0);
		int code;
		/* Every native frame: the interpreter's own are folded by
		 * default once the Python frames are merged in. */
		char *dump = run_dump_opt(t.pid, "--native-all", &code);
		bool ok = code == 0 && dump && strstr(dump, "_PyEval_EvalFrameDefault") &&
		          (strstr(dump, "libpython3") || py[i].system);
		printf("live-native: %-22s %s\n", py[i].label, ok ? "ok" : "FAILED");
		if (!ok) {
			failures++;
			fprintf(stderr, "%s\n", dump ? dump : "(no output)");
		}
		assert_target_free(t.pid);
		free(dump);
		mst_child_stop(&t);
	}
	ck_assert_int_eq(failures, 0);
}
END_TEST

static Suite *live_suite(void)
{
	Suite *s = suite_create("live-native");
	TCase *tc = tcase_create("dump");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, native_chain_sleeping);
	tcase_add_test(tc, native_chain_spinning);
	tcase_add_test(tc, container_files);
	tcase_add_test(tc, many_threads);
	tcase_add_test(tc, signal_during_dump);
	tcase_add_test(tc, stopped_target);
	tcase_add_test(tc, signal_handler_frames);
	tcase_add_test(tc, cxx_demangled);
	tcase_add_test(tc, blocked_threads_reused);
	tcase_add_test(tc, python_interpreters);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	const struct mst_interp *py;
	size_t n = mst_test_interps(&py);
	printf("interpreters found: %zu\n", n);
	for (size_t i = 0; i < n; i++)
		printf("  %-22s %s\n", py[i].label, py[i].path);
	fflush(stdout);
	return mst_check_main(live_suite(), NULL, 0);
}
