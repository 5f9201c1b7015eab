/* A process that changes under msttop: it exits, execs another program,
 * forks, churns threads, or passes the GIL around all the time. Whatever it
 * does, msttop ends with a clean report and exit code, and leaves no thread
 * stopped or traced. Run on the newest interpreter found. */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	char *argv[] = {bin, "-p", pids, "--batch", "--duration", (char *)secs, (char *)extra, NULL};
	char *err = NULL;
	int code = mst_exit_code(mst_run(argv, 60000, out, &err));
	if (code != 0)
		fprintf(stderr, "msttop exited %d: %s\n", code, err ? err : "");
	free(err);
	free(bin);
	return code;
}

/* One pass over the tasks of pid: the first task found stopped or traced
 * (its description in what), or 0. A gone process is fine. */
static int find_held(pid_t pid, char *what, size_t len)
{
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int found = 0;
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char path[300], buf[2048] = "";
		snprintf(path, sizeof(path), "%s/%s/status", dir, de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
		if (strstr(buf, "State:\tZ") || strstr(buf, "State:\tX"))
			continue;
		if (strstr(buf, "State:\tt") || strstr(buf, "State:\tT")) {
			snprintf(what, len, "task %s of %d is stopped", de->d_name, (int)pid);
			found = 1;
		} else if (!strstr(buf, "TracerPid:\t0\n")) {
			snprintf(what, len, "task %s of %d is traced", de->d_name, (int)pid);
			found = 1;
		}
	}
	closedir(d);
	return found;
}

/* No task of pid is stopped or traced. Threads come and go by the
 * thousand here; give /proc up to half a second to agree, as
 * live-native's check does. */
static void assert_free(pid_t pid)
{
	char what[128] = "";
	for (int attempt = 0; attempt < 50; attempt++) {
		if (!find_held(pid, what, sizeof(what)))
			return;
		usleep(10000);
	}
	ck_abort_msg("%s", what);
}

START_TEST(target_exits)
{
	struct mst_target t;
	ck_assert_int_eq(mst_target_start_py(&t, newest(), "tests/targets/py_robust.py", "exit", 30000),
			 0);
	char *out = NULL;
	ck_assert_int_eq(batch(t.pid, "4", NULL, &out), 0);
	ck_assert_msg(out && strstr(out, "the target exited"), "report:\n%s", out);
	free(out);
	mst_target_stop(&t);
	/* --dump racing the exit: a clean code, never a crash or a hang. */
	for (int i = 0; i < 8; i++) {
		ck_assert_int_eq(
			mst_target_start_py(&t, newest(), "tests/targets/py_robust.py", "exit", 30000), 0);
		usleep(850000 + 40000 * i);
		int code;
		char *d = mst_msttop_dump(t.pid, NULL, NULL, NULL, &code);
		/* 5: it is already a zombie (its parent, this test, has not reaped it). */
		ck_assert_msg(code == 0 || code == 1 || code == 3 || code == 5, "--dump exited %d", code);
		free(d);
		mst_target_stop(&t);
	}
}
END_TEST

START_TEST(target_execs)
{
	struct mst_target t;
	ck_assert_int_eq(mst_target_start_py(&t, newest(), "tests/targets/py_robust.py", "exec", 30000),
			 0);
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
	assert_free(t.pid);
	free(out);
	mst_target_stop(&t);
}
END_TEST

START_TEST(target_forks)
{
	struct mst_target t;
	ck_assert_int_eq(mst_target_start_py(&t, newest(), "tests/targets/py_robust.py", "fork", 30000),
			 0);
	char child[32];
	ck_assert_int_eq(mst_target_ready_value(&t, "child", child, sizeof(child)), 0);
	char *out = NULL;
	ck_assert_int_eq(batch(t.pid, "2", NULL, &out), 0);
	/* The child is not followed: it is not in the report and never traced. */
	char tag[48];
	snprintf(tag, sizeof(tag), "\n%8d ", atoi(child));
	ck_assert_msg(!strstr(out, tag), "the child appears in the report:\n%s", out);
	assert_free(t.pid);
	assert_free((pid_t)atoi(child));
	ck_assert_int_eq(kill((pid_t)atoi(child), 0), 0);
	kill((pid_t)atoi(child), SIGKILL);
	free(out);
	mst_target_stop(&t);
}
END_TEST

START_TEST(thread_churn)
{
	struct mst_target t;
	ck_assert_int_eq(
		mst_target_start_py(&t, newest(), "tests/targets/py_robust.py", "churn", 30000), 0);
	const char *secs = getenv("MSTTOP_CHURN_SECONDS") ? getenv("MSTTOP_CHURN_SECONDS") : "5";
	char *out = NULL;
	ck_assert_int_eq(batch(t.pid, secs, NULL, &out), 0);
	ck_assert_msg(out && strstr(out, "misses"), "report:\n%s", out);
	assert_free(t.pid);
	ck_assert_int_eq(kill(t.pid, 0), 0);
	free(out);
	/* The same with --nonblocking. */
	ck_assert_int_eq(batch(t.pid, "2", "--nonblocking", &out), 0);
	assert_free(t.pid);
	free(out);
	mst_target_stop(&t);
}
END_TEST

START_TEST(gil_changes_every_sample)
{
	struct mst_target t;
	ck_assert_int_eq(
		mst_target_start_py(&t, newest(), "tests/targets/py_robust.py", "gilflip", 30000), 0);
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
	assert_free(t.pid);
	free(out);
	mst_target_stop(&t);
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
	tcase_add_test(tc, gil_changes_every_sample);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mst_check_main(robust_suite(), NULL, 0);
}
