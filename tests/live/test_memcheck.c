/* msttop under Valgrind's memcheck: a short live run (--batch, sampling at
 * 100 Hz for $MSTTOP_MEMCHECK_SECONDS, default 5) and one --dump, against
 * a real Python target (tests/targets/tui_hot.py).
 * Both must end with exit 0, no memcheck error and no definite or
 * indirect leak (--errors-for-leak-kinds=definite,indirect
 * --error-exitcode=99), and must have done their work under Valgrind: the
 * batch counted samples of the target's threads, the dump shows its Python
 * frames. Built only without sanitizers (Valgrind and ASan do not mix);
 * exits 77 (meson's SKIP) only when valgrind is not installed. No
 * suppressions: the only blocks left at exit are "still reachable" ones
 * allocated by libgnutls's constructor (pulled in with libdw's debuginfod
 * client), which are not errors with these options. */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check_main.h"
#include "../harness.h"

/* No task of pid stopped or traced (retrying briefly, as /proc may lag). */
static void assert_free(pid_t pid)
{
	char dir[64], what[128] = "";
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	ck_assert_msg(access(dir, F_OK) == 0, "the target %d is gone", (int)pid);
	if (mst_wait_none_held(pid, what, sizeof(what)))
		ck_abort_msg("%s", what);
}

struct vg_run {
	int code;
	char *out, *err;
};

/* valgrind [memcheck options] msttop ARGS; Valgrind's report is on stderr
 * (prefixed ==PID==), with msttop's own. */
static struct vg_run memcheck(const char *a1, const char *a2, const char *a3, const char *a4,
                              const char *a5)
{
	char *vg = mst_which("valgrind");
	char *bin = mst_build_path("msttop");
	/* msttop loads its scheduler program where BPF is permitted (as
	 * root here) once a target has 64 threads: libbpf's bpf() calls
	 * then need these (the file says why). */
	char *file = mst_src_path("tests/live/libbpf.supp"), supp[4200];
	snprintf(supp, sizeof(supp), "--suppressions=%s", file);
	free(file);
	char *argv[16] = {vg,
	                  "--tool=memcheck",
	                  "--leak-check=full",
	                  "--show-leak-kinds=definite,indirect",
	                  "--errors-for-leak-kinds=definite,indirect",
	                  "--error-exitcode=99",
	                  supp};
	int n = 7;
	argv[n++] = bin;
	const char *extra[] = {a1, a2, a3, a4, a5};
	for (int i = 0; i < 5 && extra[i]; i++)
		argv[n++] = (char *)extra[i];
	argv[n] = NULL;
	struct vg_run r = {0};
	r.code = mst_exit_code(mst_run(argv, 240000, &r.out, &r.err));
	free(bin);
	free(vg);
	return r;
}

/* Valgrind's verdict: exit 0 (99 would be errors or leaks), zero errors,
 * nothing definitely or indirectly lost. */
static void assert_clean(const struct vg_run *r, const char *what)
{
	ck_assert_msg(r->code == 0, "%s under memcheck exited %d:\n%s", what, r->code, r->err);
	ck_assert_msg(strstr(r->err, "ERROR SUMMARY: 0 errors from 0 contexts"),
	              "%s: memcheck errors:\n%s", what, r->err);
	bool no_leak = strstr(r->err, "All heap blocks were freed") ||
	               (strstr(r->err, "definitely lost: 0 bytes") &&
	                strstr(r->err, "indirectly lost: 0 bytes"));
	ck_assert_msg(no_leak, "%s: leaks:\n%s", what, r->err);
	/* The one-line verdicts, for the log. */
	for (const char *p = r->err; (p = strstr(p, "==")); p++) {
		const char *e = strchr(p, '\n');
		int len = e ? (int)(e - p) : (int)strlen(p);
		if (memmem(p, (size_t)len, "ERROR SUMMARY", 13) ||
		    memmem(p, (size_t)len, "in use at exit", 14) ||
		    memmem(p, (size_t)len, "All heap blocks", 15) ||
		    memmem(p, (size_t)len, "definitely lost", 15))
			fprintf(stderr, "memcheck %s: %.*s\n", what, len, p);
		if (!e)
			break;
		p = e;
	}
}

/* The target runs the system's interpreter when there is one (stripped,
 * as in production, its debug information in separate files: the first
 * sample is quick under Valgrind, so the run is mostly steady-state
 * sampling), else the newest. Not Debian unstable's 3.14/3.15: Debian 12's
 * libunwind 1.6.2 steps through their GCC 16 unwind tables reading a local
 * of its own that it never set (Memcheck: "uninitialised value created by
 * a stack allocation" in _Ux86_64_step, reaching msttop's access_mem);
 * the stacks come out right, as live-py checks. */
START_TEST(batch_and_dump)
{
	const struct mst_interp *in;
	size_t n = mst_test_interps(&in);
	ck_assert_msg(n > 0, "no Python interpreter found");
	const struct mst_interp *py = &in[n - 1];
	for (size_t i = 0; i < n; i++)
		if (in[i].system && !strncmp(in[i].path, "/usr/bin/", 9))
			py = &in[i];
	/* Without it, time for libdw to read the DWARF of a full libpython
	 * under Valgrind (~10 s) and then sample. */
	const char *secs = getenv("MSTTOP_MEMCHECK_SECONDS");
	if (!secs || atoi(secs) <= 0)
		secs = py->system ? "5" : "20";

	struct mst_child t;
	ck_assert_int_eq(mst_child_start_py(&t, py, "tests/targets/tui_hot.py", NULL, 20000), 0);
	char pid[32], hot[32];
	snprintf(pid, sizeof(pid), "%d", (int)t.pid);
	ck_assert_int_eq(mst_child_ready_value(&t, "hot", hot, sizeof(hot)), 0);
	struct vg_run b = memcheck("-p", pid, "--batch", "--duration", secs);
	assert_clean(&b, "--batch");
	/* It sampled: the report's sample count, and the hot thread's row. */
	long samples = -1;
	const char *s = b.out ? strstr(b.out, " s, ") : NULL;
	ck_assert_msg(s && sscanf(s, " s, %ld samples", &samples) == 1, "report:\n%s", b.out);
	char row[48];
	snprintf(row, sizeof(row), "\n%8s tui-hot ", hot);
	ck_assert_msg(samples >= 20 && strstr(b.out, row),
	              "only %ld samples under valgrind, or no tui-hot row:\n%s", samples, b.out);
	fprintf(stderr, "memcheck --batch --duration %s on %s: %ld samples\n", secs, py->label,
	        samples);
	assert_free(t.pid);

	struct vg_run d = memcheck("--dump", "-p", pid, NULL, NULL);
	assert_clean(&d, "--dump");
	ck_assert_msg(d.out && strstr(d.out, "(Python) hot_spin_alpha") && strstr(d.out, " at "),
	              "dump:\n%s", d.out);
	assert_free(t.pid);
	ck_assert_int_eq(kill(t.pid, 0), 0);

	free(b.out);
	free(b.err);
	free(d.out);
	free(d.err);
	mst_child_stop(&t);
}
END_TEST

/* --dump --locals: every value of py_locals.py read and written under
 * memcheck (the same interpreter choice as above). */
START_TEST(dump_locals)
{
	const struct mst_interp *in;
	size_t n = mst_test_interps(&in);
	ck_assert_msg(n > 0, "no Python interpreter found");
	const struct mst_interp *py = &in[n - 1];
	for (size_t i = 0; i < n; i++)
		if (in[i].system && !strncmp(in[i].path, "/usr/bin/", 9))
			py = &in[i];
	struct mst_child t;
	ck_assert_int_eq(mst_child_start_py(&t, py, "tests/targets/py_locals.py", NULL, 20000), 0);
	mst_wait_all_sleeping(t.pid, 10000);
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)t.pid);
	struct vg_run d = memcheck("--dump", "--locals", "-p", pid, "--json");
	assert_clean(&d, "--dump --locals --json");
	ck_assert_msg(d.out && strstr(d.out, "\"name\":\"big\",\"kind\":\"local\"") &&
	                  strstr(d.out, "\"repr\":\"123456789012345678901234567890\""),
	              "dump:\n%.3000s", d.out);
	fprintf(stderr, "memcheck --dump --locals on %s: clean\n", py->label);
	assert_free(t.pid);
	free(d.out);
	free(d.err);
	mst_child_stop(&t);
}
END_TEST

int main(void)
{
	char *vg = mst_which("valgrind");
	if (!vg) {
		printf("SKIP: valgrind is not installed (sh share/install-deps.sh installs it)\n");
		return 77;
	}
	free(vg);
	Suite *s = suite_create("memcheck");
	TCase *tc = tcase_create("valgrind");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, batch_and_dump);
	tcase_add_test(tc, dump_locals);
	suite_add_tcase(s, tc);
	return mst_check_main(s, NULL, 0);
}
