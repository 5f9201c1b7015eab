/* Blocked threads that are not read again (issue 15/17): the sampler
 * reuses a blocked thread's native stack, and its Python frames too when
 * the thread has not run since (its CPU time is unchanged). A thread that
 * blocks in turn in two Python functions, in the same system call from
 * the same native frames, must show both, in about equal shares, on every
 * interpreter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check_main.h"
#include "../harness.h"

#define TARGET "tests/targets/py_alternate.py"

/* The count of the collapsed lines of thread tid that hold fn, summed. */
static long count_fn(const char *folded, const char *tid, const char *fn)
{
	char head[64], want[128];
	snprintf(head, sizeof(head), "(tid %s);", tid);
	snprintf(want, sizeof(want), ";%s (", fn);
	long sum = 0;
	for (const char *p = folded; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		const char *sp = memrchr(p, ' ', n);
		if (memmem(p, n, head, strlen(head)) && memmem(p, n, want, strlen(want)) && sp)
			sum += atol(sp + 1);
		p = nl ? nl + 1 : NULL;
	}
	return sum;
}

START_TEST(alternating)
{
	const struct mst_interp *in;
	size_t n = mst_test_interps(&in);
	ck_assert_msg((size_t)_i < n, "no interpreter");
	const struct mst_interp *py = &in[_i];
	struct mst_child t;
	ck_assert_msg(mst_child_start_py(&t, py, TARGET, NULL, 60000) == 0,
	              "py_alternate did not start under %s", py->label);
	char alt[32] = "";
	mst_child_ready_value(&t, "alternator", alt, sizeof(alt));
	char dir[] = "/tmp/msttop-idle-XXXXXX";
	ck_assert(mkdtemp(dir));
	char folded[600], pid[32];
	snprintf(folded, sizeof(folded), "%s/alt.folded", dir);
	snprintf(pid, sizeof(pid), "%d", (int)t.pid);
	char *bin = mst_build_path("msttop");
	char *argv[] = {bin, "-p",     pid,        "-b",   "--duration",
	                "4", "--idle", "--record", folded, NULL};
	char *out = NULL, *err = NULL;
	int code = mst_exit_code(mst_run(argv, 120000, &out, &err));
	free(bin);
	FILE *f = fopen(folded, "r");
	char *text = NULL;
	size_t len = 0;
	if (f) {
		FILE *m = open_memstream(&text, &len);
		char buf[4096];
		size_t r;
		while ((r = fread(buf, 1, sizeof(buf), f)) > 0)
			fwrite(buf, 1, r, m);
		fclose(m);
		fclose(f);
	}
	long a = text ? count_fn(text, alt, "first") : 0,
	     b = text ? count_fn(text, alt, "second") : 0;
	char why[512] = "";
	if (code != 0 || !text)
		snprintf(why, sizeof(why), "msttop exited %d: %.300s", code, err ? err : "");
	/* 0.2 s each in turn over 4 s: about half each. A third is far from
	 * what a stale read gives (one function, or nearly). */
	else if (a * 3 < a + b || b * 3 < a + b)
		snprintf(why, sizeof(why), "first %ld samples, second %ld: not about half each", a,
		         b);
	MST_ASSERT_FREE(t.pid);
	mst_child_stop(&t);
	unlink(folded);
	rmdir(dir);
	printf("RESULT %s alternating %s\n", py->label, why[0] ? "FAIL" : "ok");
	ck_assert_msg(!why[0], "%s: %s\n%.2000s", py->label, why, text ? text : "");
	free(text);
	free(out);
	free(err);
}
END_TEST

static Suite *idle_suite(void)
{
	const struct mst_interp *in;
	size_t n = mst_test_interps(&in);
	Suite *s = suite_create("idle");
	TCase *tc = tcase_create("alternating");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, alternating, 0, n ? (int)n : 1);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mst_check_main(idle_suite(), NULL, 0);
}
