/* A process that changes under msttop: it exits, execs another program,
 * forks, churns threads, passes the GIL around all the time, or blocks in
 * long system calls. Whatever it does, msttop ends with a clean report and
 * exit code, and leaves no thread stopped or traced, and no call disturbed.
 * Run on the newest interpreter found. (The same program runs the bad-input
 * suite, test_bad_input.c.) */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../check_main.h"
#include "../harness.h"

static const struct mst_interp *newest(void)
{
	const struct mst_interp *py;
	size_t n = mst_test_interps(&py);
	ck_assert_msg(n > 0, "no Python interpreter found");
	return &py[n - 1];
}

static int batch(pid_t pid, const char *secs, const char *extra, char **out)
{
	char *bin = mst_build_path("msttop");
	char pids[32];
	snprintf(pids, sizeof(pids), "%d", (int)pid);
	char *argv[] = {bin,          "-p",         pids,          "--batch",
	                "--duration", (char *)secs, (char *)extra, NULL};
	char *err = NULL;
	/* The run's own length, and time to attach and to report. */
	int timeout_ms = (int)(atof(secs) * 1000) + 60000;
	int code = mst_exit_code(mst_run(argv, timeout_ms, out, &err));
	if (code != 0)
		fprintf(stderr, "msttop exited %d: %s\n", code, err ? err : "");
	free(err);
	free(bin);
	return code;
}

START_TEST(target_exits)
{
	struct mst_child t;
	ck_assert_int_eq(
	    mst_child_start_py(&t, newest(), "tests/targets/py_robust.py", "exit", 30000), 0);
	char *out = NULL;
	ck_assert_int_eq(batch(t.pid, "4", NULL, &out), 0);
	ck_assert_msg(out && strstr(out, "the target exited"), "report:\n%s", out);
	free(out);
	mst_child_stop(&t);
	/* --dump racing the exit: a clean code, never a crash or a hang. */
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(
		    mst_child_start_py(&t, newest(), "tests/targets/py_robust.py", "exit", 30000),
		    0);
		usleep(850000 + 40000 * i);
		int code;
		char *d = mst_msttop_dump(t.pid, NULL, NULL, NULL, &code);
		/* 5: it is already a zombie (its parent, this test, has not reaped it). */
		ck_assert_msg(code == 0 || code == 1 || code == 3 || code == 5, "--dump exited %d",
		              code);
		free(d);
		mst_child_stop(&t);
	}
}
END_TEST

START_TEST(target_execs)
{
	struct mst_child t;
	ck_assert_int_eq(
	    mst_child_start_py(&t, newest(), "tests/targets/py_robust.py", "exec", 30000), 0);
	char *out = NULL;
	int code = batch(t.pid, "3", NULL, &out);
	ck_assert_int_eq(code, 0);
	ck_assert(out && strstr(out, "PID "));
	/* The program it became runs free. */
	char comm[64] = "";
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)t.pid);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(comm, sizeof(comm), f));
	fclose(f);
	ck_assert_msg(!strncmp(comm, "sleep", 5), "comm is %s", comm);
	MST_ASSERT_FREE(t.pid);
	free(out);
	mst_child_stop(&t);
}
END_TEST

START_TEST(target_forks)
{
	struct mst_child t;
	ck_assert_int_eq(
	    mst_child_start_py(&t, newest(), "tests/targets/py_robust.py", "fork", 30000), 0);
	char child[32];
	ck_assert_int_eq(mst_child_ready_value(&t, "child", child, sizeof(child)), 0);
	char *out = NULL;
	ck_assert_int_eq(batch(t.pid, "2", NULL, &out), 0);
	/* The child is not followed: it is not in the report and never traced. */
	char tag[48];
	snprintf(tag, sizeof(tag), "\n%8d ", atoi(child));
	ck_assert_msg(!strstr(out, tag), "the child appears in the report:\n%s", out);
	MST_ASSERT_FREE(t.pid);
	MST_ASSERT_FREE((pid_t)atoi(child));
	ck_assert_int_eq(kill((pid_t)atoi(child), 0), 0);
	kill((pid_t)atoi(child), SIGKILL);
	free(out);
	mst_child_stop(&t);
}
END_TEST

START_TEST(thread_churn)
{
	struct mst_child t;
	ck_assert_int_eq(
	    mst_child_start_py(&t, newest(), "tests/targets/py_robust.py", "churn", 30000), 0);
	const char *secs = getenv("MSTTOP_CHURN_SECONDS") ? getenv("MSTTOP_CHURN_SECONDS") : "5";
	char *out = NULL;
	ck_assert_int_eq(batch(t.pid, secs, NULL, &out), 0);
	ck_assert_msg(out && strstr(out, "misses"), "report:\n%s", out);
	/* Threads ending while msttop attaches are not the process ending. */
	ck_assert_msg(!strstr(out, "the target exited"), "a live target reported exited:\n%s", out);
	MST_ASSERT_FREE(t.pid);
	ck_assert_int_eq(kill(t.pid, 0), 0);
	free(out);
	/* The same with --nonblocking. */
	ck_assert_int_eq(batch(t.pid, "2", "--nonblocking", &out), 0);
	MST_ASSERT_FREE(t.pid);
	free(out);
	mst_child_stop(&t);
}
END_TEST

/* msttop attaching while threads come and go by the thousand: a thread
 * that ends under the attach is not the process ending. Many short
 * --batch runs, as the race is in the attach: each must exit 0 and none
 * may report that the (live) target exited. */
START_TEST(churn_attach)
{
	struct mst_child t;
	ck_assert_int_eq(
	    mst_child_start_py(&t, newest(), "tests/targets/py_robust.py", "churn", 30000), 0);
	int bad = 0, runs = 10;
	char first[1024] = "";
	char *bin = mst_build_path("msttop");
	char pids[32];
	snprintf(pids, sizeof(pids), "%d", (int)t.pid);
	for (int i = 0; i < runs; i++) {
		char *argv[] = {bin, "-p", pids, "--batch", "--duration", "0.2", NULL};
		char *out = NULL, *err = NULL;
		int code = mst_exit_code(mst_run(argv, 60000, &out, &err));
		ck_assert_int_eq(kill(t.pid, 0), 0);
		if ((code != 0 || !out || strstr(out, "the target exited")) && !bad++)
			snprintf(first, sizeof(first), "exit %d, stderr '%.300s', report:\n%.500s",
			         code, err ? err : "", out ? out : "");
		free(out);
		free(err);
	}
	free(bin);
	MST_ASSERT_FREE(t.pid);
	mst_child_stop(&t);
	ck_assert_msg(!bad, "%d of %d runs failed on a live, churning target; first: %s", bad, runs,
	              first);
}
END_TEST

START_TEST(gil_changes_every_sample)
{
	struct mst_child t;
	ck_assert_int_eq(
	    mst_child_start_py(&t, newest(), "tests/targets/py_robust.py", "gilflip", 30000), 0);
	char *out = NULL;
	ck_assert_int_eq(batch(t.pid, "3", NULL, &out), 0);
	/* Four spinners share the GIL: no single thread holds it all the
	 * time, and the process holds it nearly always. */
	double gil = -1;
	const char *g = out ? strstr(out, "GIL held ") : NULL;
	ck_assert_msg(g && sscanf(g, "GIL held %lf", &gil) == 1, "report:\n%s", out);
	ck_assert_msg(gil > 50, "GIL held only %.1f%%", gil);
	int spinners = 0;
	for (const char *p = out; (p = strstr(p, " spin-")); p++)
		spinners++;
	ck_assert_msg(spinners >= 4, "spinner threads missing:\n%s", out);
	MST_ASSERT_FREE(t.pid);
	free(out);
	mst_child_stop(&t);
}
END_TEST

/* ---- a thread blocked in a long system call ---- */

/* The block of the dump about thread tid ("Thread TID ..." up to the next
 * thread), malloc'd, or NULL. */
static char *thread_block(const char *dump, const char *tid)
{
	char head[64];
	snprintf(head, sizeof(head), "\nThread %s ", tid);
	const char *p = dump ? strstr(dump, head) : NULL;
	if (!p)
		return NULL;
	p++;
	const char *end = strstr(p, "\nThread ");
	size_t n = end ? (size_t)(end - p) : strlen(p);
	return strndup(p, n);
}

/* The JSON object of thread tid in a --dump --json, up to its frames. */
static char *json_thread(const char *json, const char *tid)
{
	char key[64];
	snprintf(key, sizeof(key), "{\"tid\":%s,", tid);
	const char *p = json ? strstr(json, key) : NULL;
	if (!p)
		return NULL;
	const char *end = strstr(p, "\"frames\":");
	return strndup(p, end ? (size_t)(end - p) : strlen(p));
}

/* Append what the target printed within ms to *acc (a malloc'd string). */
static void collect(int fd, char **acc, int ms)
{
	long end = mst_now_ms() + ms;
	size_t len = *acc ? strlen(*acc) : 0;
	for (;;) {
		long left = end - mst_now_ms();
		struct pollfd pfd = {fd, POLLIN, 0};
		if (poll(&pfd, 1, left > 0 ? (int)left : 0) <= 0)
			return;
		char buf[1024];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			return;
		*acc = realloc(*acc, len + (size_t)n + 1);
		memcpy(*acc + len, buf, (size_t)n);
		len += (size_t)n;
		(*acc)[len] = '\0';
		if (strstr(*acc, "\ndone\n") || !strncmp(*acc, "done\n", 5))
			return;
	}
}

/* One thread in read() on a pipe, one in a relative nanosleep, one in an
 * absolute clock_nanosleep, while msttop dumps them three times (text and
 * JSON) and samples them for 2 s at 100 Hz: every dump shows them asleep
 * in their calls, idle; none of the calls is disturbed: the read returns
 * exactly the bytes written after msttop left, never -1/EINTR, and the
 * sleeps last their full time, no less (and not restarted from scratch).
 * The sleeps must outlast msttop's watching: when msttop took longer (a slow
 * or busy machine, a sanitizer build), the run proves nothing, and *again
 * gets a longer sleep to try with, derived from the time msttop took. */
static void blocked_syscalls_run(long secs, long *again)
{
	*again = 0;
	char *bin = mst_build_path("tests/syscall_block");
	char secs_s[16];
	snprintf(secs_s, sizeof(secs_s), "%ld", secs);
	char *argv[] = {bin, secs_s, NULL};
	struct mst_child t;
	ck_assert_int_eq(mst_child_start(&t, argv, 20000), 0);
	long t_ready = mst_now_ms();
	char reader[32], sleeper[32], waker[32];
	ck_assert_int_eq(mst_child_ready_value(&t, "reader", reader, sizeof(reader)), 0);
	ck_assert_int_eq(mst_child_ready_value(&t, "sleeper", sleeper, sizeof(sleeper)), 0);
	ck_assert_int_eq(mst_child_ready_value(&t, "waker", waker, sizeof(waker)), 0);

	static const struct {
		const char *what;
		const char *frame[3]; /* any of these in its frames */
	} calls[3] = {{"reader", {" read at ", "__libc_read", " read ["}},
	              {"sleeper", {"nanosleep", NULL, NULL}},
	              {"waker", {"clock_nanosleep", NULL, NULL}}};
	const char *tids[3] = {reader, sleeper, waker};
	for (int round = 0; round < 3; round++) {
		int code;
		char *dump = mst_msttop_dump(t.pid, NULL, NULL, NULL, &code);
		ck_assert_int_eq(code, 0);
		for (int k = 0; k < 3; k++) {
			char *b = thread_block(dump, tids[k]);
			ck_assert_msg(b, "no thread %s (%s) in the dump:\n%s", tids[k],
			              calls[k].what, dump);
			ck_assert_msg(strstr(b, "(sleeping"), "the %s is not shown sleeping:\n%s",
			              calls[k].what, b);
			bool in_call = false;
			for (int f = 0; f < 3; f++)
				in_call |= calls[k].frame[f] && strstr(b, calls[k].frame[f]);
			ck_assert_msg(in_call, "the %s is not shown in its call (%s):\n%s",
			              calls[k].what, calls[k].frame[0], b);
			free(b);
		}
		free(dump);
	}
	int code;
	char *json = mst_msttop_dump(t.pid, "--json", NULL, NULL, &code);
	ck_assert_int_eq(code, 0);
	for (int k = 0; k < 3; k++) {
		char *o = json_thread(json, tids[k]);
		ck_assert_msg(
		    o && strstr(o, "\"state\":\"sleeping\"") && strstr(o, "\"idle\":true"),
		    "the %s is not sleeping and idle in JSON: %s", calls[k].what, o ? o : json);
		free(o);
	}
	free(json);

	char *out = NULL;
	ck_assert_int_eq(batch(t.pid, "2", "--rate=100", &out), 0);
	/* Idle: no active samples, and the call on top. */
	for (int k = 0; k < 3; k++) {
		char tag[48], line[512] = "";
		snprintf(tag, sizeof(tag), "\n%8s ", tids[k]);
		const char *p = out ? strstr(out, tag) : NULL;
		ck_assert_msg(p, "no row for the %s in the report:\n%s", calls[k].what, out);
		const char *e = strchr(p + 1, '\n');
		snprintf(line, sizeof(line), "%.*s", (int)(e ? e - p - 1 : (long)strlen(p + 1)),
		         p + 1);
		double active = -1;
		ck_assert_msg(sscanf(line, "%*d %*s %lf", &active) == 1 && active == 0.0,
		              "the %s is not idle: '%s'", calls[k].what, line);
		ck_assert_msg(strstr(line, calls[k].what[0] == 'r' ? "read" : "nanosleep"),
		              "the %s's top frame is not its call: '%s'", calls[k].what, line);
	}
	free(out);
	MST_ASSERT_FREE(t.pid);
	long spent = mst_now_ms() - t_ready;
	if (spent >= secs * 1000 - 500) {
		*again = 2 * (spent / 1000) + 4;
		fprintf(stderr,
		        "blocked_syscalls: msttop watched for %ld ms, longer than the "
		        "%ld s sleeps: inconclusive, again with %ld s\n",
		        spent, secs, *again);
		free(bin);
		mst_child_stop(&t);
		return;
	}

	/* Nothing returned yet: the read has no data, the sleeps are not over. */
	char *said = NULL;
	collect(t.out_fd, &said, 0);
	ck_assert_msg(!said || !*said, "a call returned while msttop watched: %s", said);
	kill(t.pid, SIGUSR1); /* main writes the message now */
	collect(t.out_fd, &said, (int)(secs * 1000 + 10000));
	ck_assert_msg(said && strstr(said, "done\n"), "the target did not finish: %s", said);

	long n = -2, e = -1, match = -1, ms = -1, rc = -1, late = -1, ms2 = -1, rc2 = -1;
	const char *p = strstr(said, "read ");
	ck_assert_msg(p && sscanf(p, "read n=%ld errno=%ld match=%ld", &n, &e, &match) == 3, "%s",
	              said);
	ck_assert_msg(n == 60 && e == 0 && match == 1,
	              "the read was disturbed: n=%ld errno=%ld match=%ld (60 bytes expected)", n, e,
	              match);
	p = strstr(said, "slept ");
	ck_assert_msg(p && sscanf(p, "slept ms=%ld rc=%ld errno=%ld", &ms, &rc, &e) == 3, "%s",
	              said);
	ck_assert_msg(rc == 0 && ms >= secs * 1000 && ms < secs * 1000 + 1500,
	              "nanosleep(%ld s) returned %ld after %ld ms (errno %ld)", secs, rc, ms, e);
	p = strstr(said, "woke ");
	ck_assert_msg(p && sscanf(p, "woke ms=%ld rc=%ld late_ms=%ld", &ms2, &rc2, &late) == 3,
	              "%s", said);
	ck_assert_msg(rc2 == 0 && late >= 0 && late < 1500,
	              "clock_nanosleep(TIMER_ABSTIME) returned %ld, %ld ms past its deadline", rc2,
	              late);
	fprintf(stderr,
	        "blocked_syscalls: read %ld bytes intact, nanosleep %ld ms, "
	        "clock_nanosleep %ld ms late, msttop busy %ld ms\n",
	        n, ms, late, spent);
	int st;
	ck_assert_int_eq(waitpid(t.pid, &st, 0), t.pid);
	t.pid = 0;
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "target status 0x%x", st);
	free(said);
	free(bin);
	mst_child_stop(&t);
}

START_TEST(blocked_syscalls)
{
	long secs = 4, again = 0;
	for (int attempt = 0; attempt < 4; attempt++) {
		blocked_syscalls_run(secs, &again);
		if (!again)
			return;
		secs = again;
	}
	ck_abort_msg("msttop outlasted sleeps of up to %ld s four times: inconclusive", secs);
}
END_TEST

static Suite *robust_suite(void)
{
	Suite *s = suite_create("robust");
	TCase *tc = tcase_create("changing");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, target_exits);
	tcase_add_test(tc, target_execs);
	tcase_add_test(tc, target_forks);
	tcase_add_test(tc, thread_churn);
	tcase_add_test(tc, churn_attach);
	tcase_add_test(tc, gil_changes_every_sample);
	tcase_add_test(tc, blocked_syscalls);
	suite_add_tcase(s, tc);
	return s;
}

Suite *bad_input_suite(void);

int main(void)
{
	Suite *more[] = {bad_input_suite()};
	return mst_check_main(robust_suite(), more, 1);
}
