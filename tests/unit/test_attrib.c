/* The view that puts the user's code first (attrib.h): module classes by
 * path, which frames of a merged stack are the interpreter's own, and the
 * agg counting their time as the own time of the frame they run. */
#include <check.h>
#include <string.h>

#include "msttop/agg.h"
#include "msttop/attrib.h"

START_TEST(attrib_module_classes)
{
	static const struct {
		const char *path;
		enum mst_attr_class cls;
	} cases[] = {
	    {"/usr/lib/python3.11/lib-dynload/_ctypes.cpython-311-x86_64-linux-gnu.so", MST_AC_EXT},
	    {"/home/u/venv/lib/python3.12/site-packages/numpy/core/"
	     "_multiarray_umath.cpython-312-x86_64-linux-gnu.so",
	     MST_AC_EXT},
	    {"/home/u/venv/lib/python3.12/site-packages/numpy.libs/libopenblas64_p-r0.so",
	     MST_AC_EXT},
	    {"/usr/lib/python3/dist-packages/_cffi_backend.abi3.so", MST_AC_EXT},
	    {"/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0", MST_AC_INTERP},
	    {"/root/.pyenv/versions/3.12.1/bin/python3.12", MST_AC_INTERP},
	    {"/usr/bin/python3.11", MST_AC_INTERP},
	    {"/usr/bin/python3", MST_AC_INTERP},
	    {"/usr/lib/x86_64-linux-gnu/libc.so.6", MST_AC_SYSLIB},
	    {"/usr/lib/x86_64-linux-gnu/libffi.so.8.1.2", MST_AC_SYSLIB},
	    {"/lib64/ld-linux-x86-64.so.2", MST_AC_SYSLIB},
	    {"[vdso]", MST_AC_SYSLIB},
	    {"/opt/app/bin/server", MST_AC_OTHER},
	    {"/usr/bin/python3-config-not-a-launcher.sh", MST_AC_OTHER},
	    {"", MST_AC_OTHER},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(mst_attr_module_class(cases[i].path) == cases[i].cls,
		              "%s: %d, wanted %d", cases[i].path,
		              mst_attr_module_class(cases[i].path), cases[i].cls);
	ck_assert_int_eq(mst_attr_module_class(NULL), MST_AC_OTHER);
}
END_TEST

enum { P = MST_AC_PYTHON, I = MST_AC_INTERP, E = MST_AC_EXT, S = MST_AC_SYSLIB, O = MST_AC_OTHER };

static void check(const uint8_t *cls, const bool *want, size_t n, const char *what)
{
	bool own[32];
	mst_attr_interp_own(cls, n, own);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(own[i] == want[i], "%s: frame %zu (innermost 0) is %s", what, i,
		              own[i] ? "hidden" : "shown");
}

START_TEST(attrib_stacks)
{
	/* Innermost first. A pure-Python loop in the main thread: memcpy
	 * under the allocator, the eval loop, the launcher and libc's start. */
	const uint8_t spin[] = {S, I, I, P, I, P, I, I, S};
	const bool spin_own[] = {1, 1, 1, 0, 1, 0, 1, 1, 1};
	check(spin, spin_own, 9, "spin");
	/* ctypes qsort with a Python comparator, in a thread: what the
	 * extension calls (libffi, libc's sort) stays; the interpreter
	 * between the callback and compare goes; clone and start_thread lead
	 * only into the interpreter. */
	const uint8_t qs[] = {P, I, I, E, S, S, S, S, E, I, P, I, P, I, S, S};
	const bool qs_own[] = {0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 1, 1};
	check(qs, qs_own, 16, "qsort");
	/* A native thread of an extension's library: nothing is hidden. */
	const uint8_t nat[] = {S, E, S, S};
	const bool nat_own[] = {0, 0, 0, 0};
	check(nat, nat_own, 4, "native thread");
	/* Waiting for the GIL: the futex under take_gil is the Python
	 * frame's wait. */
	const uint8_t gil[] = {S, S, I, I, P, I, S, S};
	const bool gil_own[] = {1, 1, 1, 1, 0, 1, 1, 1};
	check(gil, gil_own, 8, "GIL wait");
	/* A program embedding CPython: its own main stays. */
	const uint8_t emb[] = {P, I, I, O, S};
	const bool emb_own[] = {0, 1, 1, 0, 0};
	check(emb, emb_own, 5, "embedding");
	/* An unknown address called by the interpreter is its own; one in a
	 * thread of its own is not. */
	const uint8_t unk[] = {O, I, P};
	const bool unk_own[] = {1, 1, 0};
	check(unk, unk_own, 3, "unknown under the interpreter");
	check((const uint8_t[]){O}, (const bool[]){0}, 1, "unknown alone");
}
END_TEST

/* A synthetic merged stack in, counts out: in the user view, the time
 * under the interpreter's frames is the own time of the Python frame they
 * run; in the view of every frame, it stays where it was. */
START_TEST(attrib_counts)
{
	struct mst_agg *a = NULL;
	ck_assert_int_eq(mst_agg_new(NULL, &a, NULL), 0);
	const struct mst_agg_frame_in fr[] = {
	    {.kind = MST_AGG_NATIVE, .interp = true, .function = "pymalloc_alloc", .module = "lp"},
	    {.kind = MST_AGG_NATIVE,
	     .interp = true,
	     .folded = true,
	     .function = "_PyEval_Eval",
	     .module = "lp"},
	    {.kind = MST_AGG_PYTHON, .line = 3, .function = "hot", .file = "app.py"},
	    {.kind = MST_AGG_NATIVE,
	     .interp = true,
	     .folded = true,
	     .function = "_PyEval_Eval",
	     .module = "lp"},
	    {.kind = MST_AGG_PYTHON, .line = 9, .function = "main", .file = "app.py"},
	};
	struct mst_agg_thread_in t = {
	    .tid = 1, .state = MST_TS_RUNNING, .frames = fr, .nframes = 5};
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(
		    mst_agg_add(a, 1000000000ull + i * 10000000ull, 10000000, &t, 1, NULL), 0);
	struct mst_agg_query q = {.window = MST_AGG_CUMULATIVE,
	                          .mode = MST_AGG_BY_FUNC,
	                          .view = MST_AGG_VIEW_USER,
	                          .sort = MST_AGG_SORT_OWN};
	const struct mst_agg_hot *rows;
	size_t n;
	struct mst_agg_count scope;
	ck_assert_int_eq(mst_agg_hot(a, &q, &rows, &n, &scope, NULL), 0);
	ck_assert_uint_eq(n, 2); /* hot and main: the interpreter's are not listed */
	ck_assert_str_eq(rows[0].frame.function, "hot");
	ck_assert_uint_eq(rows[0].own_samples, 10);
	ck_assert_uint_eq(rows[1].own_samples, 0);
	q.view = MST_AGG_VIEW_ALL;
	ck_assert_int_eq(mst_agg_hot(a, &q, &rows, &n, &scope, NULL), 0);
	ck_assert_str_eq(rows[0].frame.function, "pymalloc_alloc");
	ck_assert_uint_eq(rows[0].own_samples, 10);
	const struct mst_agg_stack_frame *st;
	size_t ns;
	ck_assert_int_eq(mst_agg_thread_stack(a, 1, &st, &ns), 0);
	ck_assert_uint_eq(ns, 5);
	ck_assert(st[0].interp && !st[2].interp);
	mst_agg_free(a);
}
END_TEST

Suite *attrib_suite(void);
Suite *attrib_suite(void)
{
	Suite *s = suite_create("attrib");
	TCase *tc = tcase_create("attrib");
	tcase_add_test(tc, attrib_module_classes);
	tcase_add_test(tc, attrib_stacks);
	tcase_add_test(tc, attrib_counts);
	suite_add_tcase(s, tc);
	return s;
}
