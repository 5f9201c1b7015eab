/* The aggregation on synthetic ticks with synthetic timestamps: interning,
 * own/total with recursion, windows, shares, sorting and filtering, views
 * and subsets, call trees, reset and thread ending (bounded memory under a
 * long run: test_agg_bounds.c). */
#include <check.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msttop/agg.h"

Suite *agg_suite(void);

#include "agg_fixture.h"

/* ---- interning ---- */

START_TEST(agg_intern_ids)
{
	struct mst_agg *a = agg_new(NULL);
	char fname[16] = "f", file[16] = "a.py";
	struct mst_agg_frame_in fr[6] = {
	    {MST_AGG_PYTHON, false, false, 10, fname, file, "a"},
	    {MST_AGG_PYTHON, false, false, 10, "f", "a.py", "a"}, /* same as [0] */
	    {MST_AGG_PYTHON, false, false, 11, "f", "a.py", "a"}, /* other line */
	    {MST_AGG_NATIVE, false, false, 10, "f", "a.py", "a"}, /* other kind */
	    {MST_AGG_NATIVE, true, false, 10, "f", "a.py", "a"},  /* inlined */
	    {MST_AGG_PYTHON, false, false, 10, "f", "b.py", "a"}, /* other file */
	};
	tick1(a, 0, MS, 1, 0, fr, 6);
	/* The agg copied the strings: changing the caller's does not matter. */
	strcpy(fname, "zzz");
	strcpy(file, "zzz");

	const struct mst_agg_stack_frame *st;
	size_t n;
	ck_assert_int_eq(mst_agg_thread_stack(a, 1, &st, &n), 0);
	ck_assert_uint_eq(n, 6);
	uint32_t id[6], fn[6];
	for (size_t i = 0; i < 6; i++) {
		struct mst_agg_frame f;
		ck_assert_int_eq(mst_agg_frame(a, MST_AGG_BY_LINE, st[i].id, &f), 0);
		id[i] = f.id;
		fn[i] = f.fn_id;
		ck_assert_str_eq(f.function, "f");
		ck_assert_uint_ne(id[i], MST_AGG_OTHER_FRAME);
	}
	ck_assert_uint_eq(id[0], id[1]);
	ck_assert_uint_ne(id[0], id[2]);
	ck_assert_uint_ne(id[0], id[3]);
	ck_assert_uint_ne(id[3], id[4]);
	ck_assert_uint_ne(id[0], id[5]);
	/* By function: the line and the inlined mark do not matter; kind and
	 * file do. */
	ck_assert_uint_eq(fn[0], fn[2]);
	ck_assert_uint_eq(fn[3], fn[4]);
	ck_assert_uint_ne(fn[0], fn[3]);
	ck_assert_uint_ne(fn[0], fn[5]);
	struct mst_agg_frame f;
	ck_assert_int_eq(mst_agg_frame(a, MST_AGG_BY_FUNC, fn[0], &f), 0);
	ck_assert_uint_eq(f.line, 0);
	ck_assert_str_eq(f.file, "a.py");
	ck_assert_int_eq(mst_agg_frame(a, MST_AGG_BY_LINE, 9999, &f), -ENOENT);

	/* The same frames later get the same ids, and nothing new is made. */
	struct mst_agg_stats s1, s2;
	mst_agg_stats(a, &s1);
	ck_assert_uint_eq(s1.frames, 6); /* 5 distinct + the overflow frame */
	ck_assert_uint_eq(s1.funcs, 4);
	strcpy(fname, "f");
	strcpy(file, "a.py");
	tick1(a, 10 * MS, MS, 1, 0, fr, 6);
	mst_agg_stats(a, &s2);
	ck_assert_uint_eq(s2.frames, s1.frames);
	ck_assert_uint_eq(s2.strings, s1.strings);
	ck_assert_int_eq(mst_agg_thread_stack(a, 1, &st, &n), 0);
	ck_assert_uint_eq(st[0].id, id[0]);
	/* The same buffers with other contents are another frame, even right
	 * after the thread's previous stack used them. */
	strcpy(fname, "h");
	tick1(a, 15 * MS, MS, 1, 0, fr, 1);
	ck_assert_int_eq(mst_agg_thread_stack(a, 1, &st, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(mst_agg_frame(a, MST_AGG_BY_LINE, st[0].id, &f), 0);
	ck_assert_str_eq(f.function, "h");
	ck_assert_uint_ne(st[0].id, id[0]);

	/* Unknown strings are "" and still a frame. */
	struct mst_agg_frame_in unk = {MST_AGG_NATIVE, false, false, 0, NULL, NULL, NULL};
	tick1(a, 20 * MS, MS, 1, 0, &unk, 1);
	ck_assert_int_eq(mst_agg_thread_stack(a, 1, &st, &n), 0);
	ck_assert_int_eq(mst_agg_frame(a, MST_AGG_BY_LINE, st[0].id, &f), 0);
	ck_assert_str_eq(f.function, "");
	mst_agg_free(a);
}
END_TEST

START_TEST(agg_frame_limit)
{
	struct mst_agg_config cfg = {.max_frames = 4};
	struct mst_agg *a = agg_new(&cfg);
	char name[32];
	for (int i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "fn%d", i);
		struct mst_agg_frame_in fr = {MST_AGG_PYTHON, false, false, 1, name, name, name};
		tick1(a, (uint64_t)i * MS, MS, 1, 0, &fr, 1);
	}
	struct mst_agg_stats s;
	mst_agg_stats(a, &s);
	ck_assert_uint_eq(s.frames, 4);
	ck_assert_uint_le(s.strings, 1 + 3 * 4);
	ck_assert_uint_eq(s.frames_over_limit, 47);
	struct mst_agg_query q = query(0, MST_AGG_CUMULATIVE, MST_AGG_BY_LINE);
	const struct mst_agg_hot *rows;
	size_t n;
	hot(a, &q, &rows, &n, NULL);
	const struct mst_agg_hot *r = find_row(rows, n, "(other frames)", 0);
	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(r->frame.id, MST_AGG_OTHER_FRAME);
	ck_assert_uint_eq(r->own_samples, 47);
	mst_agg_free(a);
}
END_TEST

/* ---- own and total ---- */

START_TEST(agg_own_total_recursion)
{
	struct mst_agg *a = agg_new(NULL);
	/* Innermost first: f called g called f (the same line twice). */
	const struct mst_agg_frame_in rec[] = {PY_F10, PY_G20, PY_F10};
	tick1(a, 0, 10 * MS, 7, MST_TS_RUNNING, rec, 3);
	for (int scope = 0; scope < 2; scope++) {
		struct mst_agg_query q = query(scope ? 7 : 0, MST_AGG_CUMULATIVE, MST_AGG_BY_LINE);
		const struct mst_agg_hot *rows;
		size_t n;
		struct mst_agg_count sc;
		hot(a, &q, &rows, &n, &sc);
		ck_assert_uint_eq(n, 2);
		ck_assert_uint_eq(sc.samples, 1);
		ck_assert_uint_eq(sc.ns, 10 * MS);
		const struct mst_agg_hot *f = find_row(rows, n, "f", 10),
		                         *g = find_row(rows, n, "g", 0);
		ck_assert_ptr_nonnull(f);
		ck_assert_ptr_nonnull(g);
		ck_assert_uint_eq(f->total_samples, 1);
		ck_assert_uint_eq(f->own_samples, 1);
		ck_assert_uint_eq(f->total_ns, 10 * MS);
		ck_assert_uint_eq(f->own_ns, 10 * MS);
		ck_assert_uint_eq(g->total_samples, 1);
		ck_assert_uint_eq(g->own_samples, 0);
	}

	/* f at two lines: two by-line frames, one function counted once. */
	const struct mst_agg_frame_in rec2[] = {PY_F11, PY_G20, PY_F10};
	tick1(a, 10 * MS, 10 * MS, 7, MST_TS_RUNNING, rec2, 3);
	for (int scope = 0; scope < 2; scope++) {
		struct mst_agg_query q = query(scope ? 7 : 0, MST_AGG_CUMULATIVE, MST_AGG_BY_LINE);
		const struct mst_agg_hot *rows;
		size_t n;
		hot(a, &q, &rows, &n, NULL);
		ck_assert_uint_eq(n, 3);
		ck_assert_uint_eq(find_row(rows, n, "f", 10)->total_samples, 2);
		ck_assert_uint_eq(find_row(rows, n, "f", 10)->own_samples, 1);
		ck_assert_uint_eq(find_row(rows, n, "f", 11)->total_samples, 1);
		ck_assert_uint_eq(find_row(rows, n, "f", 11)->own_samples, 1);
		q.mode = MST_AGG_BY_FUNC;
		hot(a, &q, &rows, &n, NULL);
		ck_assert_uint_eq(n, 2);
		const struct mst_agg_hot *f = find_row(rows, n, "f", 0);
		ck_assert_uint_eq(f->frame.line, 0);
		ck_assert_uint_eq(f->total_samples, 2);
		ck_assert_uint_eq(f->own_samples, 2);
		ck_assert_uint_eq(f->total_ns, 20 * MS);
		ck_assert_uint_eq(find_row(rows, n, "g", 0)->total_samples, 2);
		ck_assert_uint_eq(find_row(rows, n, "g", 0)->own_samples, 0);
	}
	mst_agg_free(a);
}
END_TEST

START_TEST(agg_process_sums_threads)
{
	struct mst_agg *a = agg_new(NULL);
	const struct mst_agg_frame_in s1[] = {PY_F10, PY_G20}, s2[] = {PY_G20};
	struct mst_agg_thread_in th[2] = {{1, "one", 0, s1, 2}, {2, "two", 0, s2, 1}};
	struct mst_err err = {0};
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(mst_agg_add(a, (uint64_t)i * 10 * MS, 10 * MS, th, 2, &err), 0);
	struct mst_agg_query q = query(0, MST_AGG_RECENT, MST_AGG_BY_FUNC);
	const struct mst_agg_hot *rows;
	size_t n;
	struct mst_agg_count sc;
	hot(a, &q, &rows, &n, &sc);
	ck_assert_uint_eq(sc.samples, 6); /* thread samples, not ticks */
	ck_assert_uint_eq(find_row(rows, n, "g", 0)->total_samples, 6);
	ck_assert_uint_eq(find_row(rows, n, "g", 0)->own_samples, 3);
	ck_assert_uint_eq(find_row(rows, n, "f", 0)->own_samples, 3);
	q.tid = 2;
	hot(a, &q, &rows, &n, &sc);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(sc.samples, 3);
	q.tid = 3;
	ck_assert_int_eq(mst_agg_hot(a, &q, &rows, &n, &sc, &err), -ENOENT);
	struct mst_agg_totals t;
	mst_agg_totals(a, MST_AGG_CUMULATIVE, &t);
	ck_assert_uint_eq(t.ticks.samples, 3);
	ck_assert_uint_eq(t.ticks.ns, 30 * MS);
	ck_assert_uint_eq(t.samples.samples, 6);
	ck_assert_uint_eq(t.threads, 2);
	mst_agg_free(a);
}
END_TEST

/* ---- windows ---- */

static uint64_t total_of(struct mst_agg *a, pid_t tid, enum mst_agg_window w, const char *func)
{
	struct mst_agg_query q = query(tid, w, MST_AGG_BY_LINE);
	const struct mst_agg_hot *rows;
	size_t n;
	hot(a, &q, &rows, &n, NULL);
	const struct mst_agg_hot *r = find_row(rows, n, func, 0);
	return r ? r->total_samples : 0;
}

START_TEST(agg_windows)
{
	struct mst_agg_config cfg = {.recent_s = 5};
	struct mst_agg *a = agg_new(&cfg);
	const struct mst_agg_frame_in f[] = {PY_F10}, g[] = {PY_G20};
	/* 10 samples of f in second 0, 5 of g in second 3. */
	for (int i = 0; i < 10; i++)
		tick1(a, 500 * MS + (uint64_t)i * MS, MS, 1, 0, f, 1);
	for (int i = 0; i < 5; i++)
		tick1(a, 3 * SEC + (uint64_t)i * MS, MS, 1, 0, g, 1);
	ck_assert_uint_eq(total_of(a, 0, MST_AGG_RECENT, "f"), 10);
	ck_assert_uint_eq(total_of(a, 0, MST_AGG_RECENT, "g"), 5);
	/* At 5.9 s the window (the last 5 seconds and the current one) still
	 * holds second 0. */
	tick1(a, 5 * SEC + 900 * MS, MS, 1, 0, g, 1);
	ck_assert_uint_eq(total_of(a, 0, MST_AGG_RECENT, "f"), 10);
	ck_assert_uint_eq(total_of(a, 1, MST_AGG_RECENT, "f"), 10);
	/* At 6 s second 0 drops out; since start keeps it. */
	tick1(a, 6 * SEC, MS, 1, 0, g, 1);
	ck_assert_uint_eq(total_of(a, 0, MST_AGG_RECENT, "f"), 0);
	ck_assert_uint_eq(total_of(a, 1, MST_AGG_RECENT, "f"), 0);
	ck_assert_uint_eq(total_of(a, 0, MST_AGG_RECENT, "g"), 7);
	ck_assert_uint_eq(total_of(a, 0, MST_AGG_CUMULATIVE, "f"), 10);
	ck_assert_uint_eq(total_of(a, 1, MST_AGG_CUMULATIVE, "f"), 10);
	struct mst_agg_totals t;
	mst_agg_totals(a, MST_AGG_RECENT, &t);
	ck_assert_uint_eq(t.ticks.samples, 7);
	mst_agg_totals(a, MST_AGG_CUMULATIVE, &t);
	ck_assert_uint_eq(t.ticks.samples, 17);
	/* A long gap empties the whole window at once. */
	tick1(a, 100 * SEC, MS, 1, 0, f, 1);
	ck_assert_uint_eq(total_of(a, 0, MST_AGG_RECENT, "f"), 1);
	ck_assert_uint_eq(total_of(a, 0, MST_AGG_RECENT, "g"), 0);
	ck_assert_uint_eq(total_of(a, 1, MST_AGG_CUMULATIVE, "g"), 7);
	const struct mst_agg_thread *rows;
	size_t n;
	struct mst_err err = {0};
	ck_assert_int_eq(mst_agg_threads(a, MST_AGG_RECENT, &rows, &n, &err), 0);
	ck_assert_uint_eq(rows[0].window.samples, 1);
	ck_assert_int_eq(mst_agg_threads(a, MST_AGG_CUMULATIVE, &rows, &n, &err), 0);
	ck_assert_uint_eq(rows[0].window.samples, 18);
	/* Time going back stays in the current second rather than corrupt
	 * the ring. */
	tick1(a, 99 * SEC, MS, 1, 0, f, 1);
	ck_assert_uint_eq(total_of(a, 0, MST_AGG_RECENT, "f"), 2);
	mst_agg_free(a);
}
END_TEST

/* A caller's ring holds totals only; when the frame becomes the innermost
 * (its own count) in the same second, the ring is made whole and keeps
 * what it had, and it ages out as any ring. */
static void own_total(struct mst_agg *a, pid_t tid, enum mst_agg_window w, enum mst_agg_mode m,
                      const char *func, uint64_t want_total, uint64_t want_own)
{
	struct mst_agg_query q = query(tid, w, m);
	const struct mst_agg_hot *rows;
	size_t n;
	hot(a, &q, &rows, &n, NULL);
	const struct mst_agg_hot *r = find_row(rows, n, func, 0);
	ck_assert_msg(r || !want_total, "%s: no row", func);
	ck_assert_uint_eq(r ? r->total_samples : 0, want_total);
	ck_assert_uint_eq(r ? r->own_samples : 0, want_own);
}

START_TEST(agg_ring_made_whole)
{
	struct mst_agg_config cfg = {.recent_s = 5};
	struct mst_agg *a = agg_new(&cfg);
	const struct mst_agg_frame_in fg[] = {PY_F10, PY_G20}, g[] = {PY_G20};
	for (int i = 0; i < 3; i++)
		tick1(a, 100 * MS + (uint64_t)i * MS, MS, 1, 0, fg, 2);
	for (int i = 0; i < 2; i++)
		tick1(a, 200 * MS + (uint64_t)i * MS, MS, 1, 0, g, 1);
	tick1(a, 2 * SEC, MS, 1, 0, fg, 2);
	for (int m = 0; m < 2; m++)
		for (pid_t tid = 0; tid < 2; tid++) {
			own_total(a, tid, MST_AGG_RECENT, m, "g", 6, 2);
			own_total(a, tid, MST_AGG_RECENT, m, "f", 4, 4);
		}
	/* Second 0 drops out of the window; since start keeps it. */
	tick1(a, 6 * SEC + 100 * MS, MS, 1, 0, g, 1);
	for (int m = 0; m < 2; m++)
		for (pid_t tid = 0; tid < 2; tid++) {
			own_total(a, tid, MST_AGG_RECENT, m, "g", 2, 1);
			own_total(a, tid, MST_AGG_RECENT, m, "f", 1, 1);
			own_total(a, tid, MST_AGG_CUMULATIVE, m, "g", 7, 3);
		}
	/* Past the window: every ring has aged out and gone back. */
	tick1(a, 20 * SEC, MS, 1, 0, g, 1);
	own_total(a, 1, MST_AGG_RECENT, MST_AGG_BY_LINE, "f", 0, 0);
	own_total(a, 1, MST_AGG_RECENT, MST_AGG_BY_LINE, "g", 1, 1);
	mst_agg_free(a);
}
END_TEST

/* ---- shares ---- */

START_TEST(agg_shares)
{
	struct mst_agg *a = agg_new(NULL);
	const struct mst_agg_frame_in f[] = {PY_F10};
	struct mst_err err = {0};
	/* Thread 1: 10 samples; 6 active, 4 holding the GIL, 3 waiting, 2 in
	 * GC. Thread 2 holds the GIL in 3 other ticks. */
	for (int i = 0; i < 10; i++) {
		uint32_t s1 = MST_TS_PYTHON;
		if (i < 6)
			s1 |= MST_TS_RUNNING;
		if (i < 4)
			s1 |= MST_TS_HOLDS_GIL;
		if (i >= 7)
			s1 |= MST_TS_WAITS_GIL;
		if (i < 2)
			s1 |= MST_TS_IN_GC;
		uint32_t s2 = i >= 4 && i < 7 ? MST_TS_HOLDS_GIL | MST_TS_RUNNING : 0;
		struct mst_agg_thread_in th[2] = {{1, "main", s1, f, 1}, {2, "bg", s2, f, 1}};
		ck_assert_int_eq(mst_agg_add(a, (uint64_t)i * 10 * MS, 10 * MS, th, 2, &err), 0);
	}
	const struct mst_agg_thread *rows;
	size_t n;
	ck_assert_int_eq(mst_agg_threads(a, MST_AGG_RECENT, &rows, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(rows[0].tid, 1);
	ck_assert_str_eq(rows[0].name, "main");
	ck_assert_uint_eq(rows[0].window.samples, 10);
	ck_assert_uint_eq(rows[0].active, 6);
	ck_assert_uint_eq(rows[0].gil_held, 4);
	ck_assert_uint_eq(rows[0].gil_wait, 3);
	ck_assert_uint_eq(rows[0].in_gc, 2);
	ck_assert_uint_eq(rows[0].has_python, 10);
	ck_assert_double_eq_tol(rows[0].active_pct, 60.0, 1e-9);
	ck_assert_double_eq_tol(rows[0].gil_pct, 40.0, 1e-9);
	ck_assert_double_eq_tol(rows[0].gil_wait_pct, 30.0, 1e-9);
	ck_assert_double_eq_tol(rows[0].gc_pct, 20.0, 1e-9);
	ck_assert_uint_eq(rows[0].state, MST_TS_PYTHON | MST_TS_WAITS_GIL);
	ck_assert_double_eq_tol(rows[1].gil_pct, 30.0, 1e-9);
	ck_assert(!rows[0].ended);
	struct mst_agg_frame fr;
	ck_assert_int_eq(mst_agg_frame(a, MST_AGG_BY_LINE, rows[0].top_id, &fr), 0);
	ck_assert_str_eq(fr.function, "f");
	struct mst_agg_totals t;
	mst_agg_totals(a, MST_AGG_RECENT, &t);
	ck_assert_uint_eq(t.ticks.samples, 10);
	ck_assert_uint_eq(t.gil_ticks, 7);
	ck_assert_uint_eq(t.gc_ticks, 2);
	ck_assert_double_eq_tol(t.gil_pct, 70.0, 1e-9);
	ck_assert_double_eq_tol(t.gc_pct, 20.0, 1e-9);
	ck_assert_uint_eq(t.threads_live, 2);

	/* Subsets: only GIL-holding samples, only active ones. */
	struct mst_agg_query q = query(0, MST_AGG_RECENT, MST_AGG_BY_LINE);
	q.subset = MST_AGG_ONLY_GIL;
	const struct mst_agg_hot *h;
	struct mst_agg_count sc;
	hot(a, &q, &h, &n, &sc);
	ck_assert_uint_eq(sc.samples, 7);
	ck_assert_uint_eq(sc.ns, 70 * MS);
	ck_assert_uint_eq(find_row(h, n, "f", 0)->total_samples, 7);
	q.subset = MST_AGG_ONLY_ACTIVE;
	q.tid = 1;
	hot(a, &q, &h, &n, &sc);
	ck_assert_uint_eq(sc.samples, 6);
	ck_assert_uint_eq(find_row(h, n, "f", 0)->own_samples, 6);
	mst_agg_free(a);
}
END_TEST

/* ---- sorting and filtering ---- */

static const struct mst_agg_frame_in FA = {MST_AGG_PYTHON, false, false, 1, "alpha", "x.py", "x"};
static const struct mst_agg_frame_in FB = {MST_AGG_PYTHON, false,  false, 2,
                                           "Bravo",        "y.py", "ymod"};
static const struct mst_agg_frame_in FC = {MST_AGG_NATIVE, false, false, 3,
                                           "charlie",      "c.c", "libc"};
static const struct mst_agg_frame_in FD = {MST_AGG_PYTHON, false, false, 4, "delta", "x.py", "x"};

static struct mst_agg *sort_fixture(void)
{
	struct mst_agg *a = agg_new(NULL);
	/* alpha: own 3, total 3, 3 us. Bravo (over charlie): own 1 of 100 us.
	 * delta (over charlie) twice: own 2, 2 us. charlie: total 3, 102 us.
	 * (The recent window keeps time to the microsecond.) */
	const struct mst_agg_frame_in s1[] = {FA}, s2[] = {FB, FC}, s3[] = {FD, FC};
	uint64_t t = 0;
	for (int i = 0; i < 3; i++)
		tick1(a, t++, US, 1, 0, s1, 1);
	tick1(a, t++, 100 * US, 1, 0, s2, 2);
	for (int i = 0; i < 2; i++)
		tick1(a, t++, US, 1, 0, s3, 2);
	return a;
}

static void order(struct mst_agg *a, enum mst_agg_sort key, const char *filter, char *buf,
                  size_t len)
{
	struct mst_agg_query q = query(0, MST_AGG_RECENT, MST_AGG_BY_LINE);
	q.sort = key;
	q.filter = filter;
	const struct mst_agg_hot *rows;
	size_t n;
	hot(a, &q, &rows, &n, NULL);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(buf);
		snprintf(buf + l, len - l, "%s%c", i ? " " : "", rows[i].frame.function[0]);
	}
}

START_TEST(agg_sort_keys)
{
	struct mst_agg *a = sort_fixture();
	char buf[64];
	order(a, MST_AGG_SORT_OWN, NULL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "a d B c");
	/* alpha and charlie tie on samples; charlie has more time. */
	order(a, MST_AGG_SORT_TOTAL, NULL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "c a d B");
	order(a, MST_AGG_SORT_OWN_NS, NULL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "B a d c");
	order(a, MST_AGG_SORT_TOTAL_NS, NULL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "c B a d");
	order(a, MST_AGG_SORT_NAME, NULL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "a B c d");

	struct mst_agg_query q = query(0, MST_AGG_RECENT, MST_AGG_BY_LINE);
	q.sort = MST_AGG_SORT_OWN;
	q.limit = 2;
	const struct mst_agg_hot *rows;
	size_t n;
	hot(a, &q, &rows, &n, NULL);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(rows[0].frame.function, "alpha");
	ck_assert_uint_eq(rows[0].own_samples, 3);
	mst_agg_free(a);
}
END_TEST

START_TEST(agg_filter)
{
	struct mst_agg *a = sort_fixture();
	char buf[64];
	order(a, MST_AGG_SORT_NAME, "BRAV", buf, sizeof(buf)); /* function, any case */
	ck_assert_str_eq(buf, "B");
	order(a, MST_AGG_SORT_NAME, "X.Py", buf, sizeof(buf)); /* file */
	ck_assert_str_eq(buf, "a d");
	order(a, MST_AGG_SORT_NAME, "LIBC", buf, sizeof(buf)); /* module */
	ck_assert_str_eq(buf, "c");
	order(a, MST_AGG_SORT_NAME, "nothing", buf, sizeof(buf));
	ck_assert_str_eq(buf, "");
	order(a, MST_AGG_SORT_NAME, "", buf, sizeof(buf));
	ck_assert_str_eq(buf, "a B c d");
	mst_agg_free(a);
}
END_TEST

/* ---- views ---- */

START_TEST(agg_views)
{
	struct mst_agg *a = agg_new(NULL);
	/* A native leaf under an eval-loop frame (folded) under a Python
	 * frame. */
	const struct mst_agg_frame_in st[] = {
	    {MST_AGG_NATIVE, false, false, 0, "memcpy", "", "libc.so.6"},
	    {MST_AGG_NATIVE, false, true, 0, "_PyEval_EvalFrameDefault", "", "python"},
	    {MST_AGG_PYTHON, false, false, 5, "work", "w.py", "w"},
	};
	const struct mst_agg_frame_in st2[] = {st[1], st[2]};
	tick1(a, 0, 1, 1, 0, st, 3);
	tick1(a, 1, 1, 1, 0, st2, 2);
	struct mst_agg_query q = query(1, MST_AGG_CUMULATIVE, MST_AGG_BY_LINE);
	const struct mst_agg_hot *rows;
	size_t n;
	hot(a, &q, &rows, &n, NULL);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(find_row(rows, n, "memcpy", 0)->own_samples, 1);
	ck_assert_uint_eq(find_row(rows, n, "_PyEval_EvalFrameDefault", 0)->own_samples, 1);
	ck_assert_uint_eq(find_row(rows, n, "work", 0)->own_samples, 0);
	q.view = MST_AGG_VIEW_FOLDED;
	hot(a, &q, &rows, &n, NULL);
	ck_assert_uint_eq(n, 2);
	ck_assert_ptr_null(find_row(rows, n, "_PyEval_EvalFrameDefault", 0));
	ck_assert_uint_eq(find_row(rows, n, "memcpy", 0)->own_samples, 1);
	ck_assert_uint_eq(find_row(rows, n, "work", 0)->own_samples, 1);
	q.view = MST_AGG_VIEW_PYTHON;
	q.tid = 0;
	q.mode = MST_AGG_BY_FUNC;
	hot(a, &q, &rows, &n, NULL);
	ck_assert_uint_eq(n, 1);
	ck_assert_str_eq(rows[0].frame.function, "work");
	ck_assert_uint_eq(rows[0].own_samples, 2);
	ck_assert_uint_eq(rows[0].total_samples, 2);

	const struct mst_agg_stack_frame *sf;
	ck_assert_int_eq(mst_agg_thread_stack(a, 1, &sf, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert(sf[0].folded);
	ck_assert(!sf[1].folded);
	mst_agg_free(a);
}
END_TEST

/* ---- call trees ---- */

static const struct mst_agg_frame_in TA = {MST_AGG_PYTHON, false, false, 1, "a", "t.py", "t"};
static const struct mst_agg_frame_in TB = {MST_AGG_PYTHON, false, false, 2, "b", "t.py", "t"};
static const struct mst_agg_frame_in TB3 = {MST_AGG_PYTHON, false, false, 3, "b", "t.py", "t"};
static const struct mst_agg_frame_in TC = {MST_AGG_PYTHON, false, false, 4, "c", "t.py", "t"};
static const struct mst_agg_frame_in TD = {MST_AGG_PYTHON, false, false, 5, "d", "t.py", "t"};
static const struct mst_agg_frame_in TE = {MST_AGG_PYTHON, false, false, 6, "e", "t.py", "t"};

/* Render a tree as "name(total/self)[children]" from node down. */
static void render_tree(struct mst_agg *a, pid_t tid, enum mst_agg_mode m, uint32_t node, char *buf,
                        size_t len)
{
	const struct mst_agg_node *rows;
	size_t n;
	struct mst_err err = {0};
	ck_assert_int_eq(mst_agg_tree_children(a, tid, m, node, &rows, &n, &err), 0);
	/* The row array is reused by the recursion: copy it first. */
	struct mst_agg_node copy[16];
	ck_assert_uint_le(n, 16);
	memcpy(copy, rows, n * sizeof(*rows));
	for (size_t i = 0; i < n; i++) {
		const char *name = "(other)";
		struct mst_agg_frame f;
		if (copy[i].frame != MST_AGG_TREE_OTHER) {
			ck_assert_int_eq(mst_agg_frame(a, m, copy[i].frame, &f), 0);
			name = f.function;
		}
		size_t l = strlen(buf);
		snprintf(buf + l, len - l, "%s%s(%llu/%llu)", i ? " " : "", name,
		         (unsigned long long)copy[i].total_samples,
		         (unsigned long long)copy[i].self_samples);
		ck_assert_uint_eq(copy[i].parent, node);
		if (copy[i].has_children) {
			l = strlen(buf);
			snprintf(buf + l, len - l, "[");
			render_tree(a, tid, m, copy[i].node, buf, len);
			l = strlen(buf);
			snprintf(buf + l, len - l, "]");
		}
	}
}

START_TEST(agg_call_tree)
{
	struct mst_agg *a = agg_new(NULL);
	/* Innermost first. */
	const struct mst_agg_frame_in s1[] = {TC, TB, TA}, s2[] = {TD, TB, TA}, s3[] = {TB, TA},
	                              s4[] = {TE}, s5[] = {TC, TB3, TA}, s6[] = {TC, TB, TA};
	const struct mst_agg_frame_in *stacks[] = {s1, s2, s3, s4, s5, s6};
	size_t lens[] = {3, 3, 2, 1, 3, 3};
	for (int i = 0; i < 6; i++)
		tick1(a, (uint64_t)i * MS, MS, 9, 0, stacks[i], lens[i]);
	char buf[512] = "";
	render_tree(a, 9, MST_AGG_BY_LINE, MST_AGG_TREE_ROOT, buf, sizeof(buf));
	ck_assert_str_eq(buf, "a(5/0)[b(4/1)[c(2/2) d(1/1)] b(1/0)[c(1/1)]] e(1/1)");
	buf[0] = '\0';
	render_tree(a, 9, MST_AGG_BY_FUNC, MST_AGG_TREE_ROOT, buf, sizeof(buf));
	ck_assert_str_eq(buf, "a(5/0)[b(5/1)[c(3/3) d(1/1)]] e(1/1)");
	struct mst_agg_node root;
	ck_assert_int_eq(mst_agg_tree_node(a, 9, MST_AGG_BY_LINE, MST_AGG_TREE_ROOT, &root), 0);
	ck_assert_uint_eq(root.total_samples, 6);
	ck_assert_uint_eq(root.total_ns, 6 * MS);
	ck_assert_uint_eq(root.frame, MST_AGG_TREE_ROOT_FRAME);
	ck_assert_int_eq(mst_agg_tree_node(a, 9, MST_AGG_BY_LINE, 9999, &root), -ENOENT);
	ck_assert_int_eq(mst_agg_tree_node(a, 8, MST_AGG_BY_LINE, 0, &root), -ENOENT);
	mst_agg_free(a);
}
END_TEST

START_TEST(agg_call_tree_bounded)
{
	/* Room for the root and 7 nodes: a chain a>b>c fills 3 and the first
	 * four leaves the rest. A stack that finds the tree full goes to an
	 * "(other)" child of where it diverges, and after that sample the
	 * coldest leaves are folded into it, so the next new leaves get nodes
	 * of their own: the latest ones are listed, the rest is "(other)". */
	struct mst_agg_config cfg = {.max_tree_nodes = 8};
	struct mst_agg *a = agg_new(&cfg);
	char name[32];
	for (int i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "leaf%d", i);
		struct mst_agg_frame_in st[] = {
		    {MST_AGG_PYTHON, false, false, 1, name, "t.py", "t"}, TC, TB, TA};
		tick1(a, (uint64_t)i * MS, MS, 3, 0, st, 4);
	}
	struct mst_agg_stats s;
	mst_agg_stats(a, &s);
	/* Two trees (by line, by function), each at most 8 + 8/8 + 1. */
	ck_assert_uint_le(s.tree_nodes, 2 * 10);
	char buf[512] = "";
	render_tree(a, 3, MST_AGG_BY_LINE, MST_AGG_TREE_ROOT, buf, sizeof(buf));
	ck_assert_str_eq(buf, "a(40/0)[b(40/0)[c(40/0)[(other)(37/37) leaf37(1/1) leaf38(1/1) "
	                      "leaf39(1/1)]]]");
	ck_assert_uint_gt(s.nodes_pruned, 0);
	mst_agg_free(a);
}
END_TEST

/* ---- reset and thread life ---- */

START_TEST(agg_reset)
{
	struct mst_agg *a = sort_fixture();
	struct mst_agg_query q = query(0, MST_AGG_CUMULATIVE, MST_AGG_BY_LINE);
	const struct mst_agg_hot *rows;
	size_t n;
	hot(a, &q, &rows, &n, NULL);
	uint32_t alpha = find_row(rows, n, "alpha", 0)->frame.id;
	mst_agg_reset(a);
	hot(a, &q, &rows, &n, NULL);
	ck_assert_uint_eq(n, 0);
	q.window = MST_AGG_RECENT;
	hot(a, &q, &rows, &n, NULL);
	ck_assert_uint_eq(n, 0);
	const struct mst_agg_thread *th;
	struct mst_err err = {0};
	ck_assert_int_eq(mst_agg_threads(a, MST_AGG_CUMULATIVE, &th, &n, &err), 0);
	ck_assert_uint_eq(n, 0);
	struct mst_agg_totals t;
	mst_agg_totals(a, MST_AGG_CUMULATIVE, &t);
	ck_assert_uint_eq(t.ticks.samples, 0);
	ck_assert_uint_eq(t.samples.samples, 0);
	struct mst_agg_stats s;
	mst_agg_stats(a, &s);
	ck_assert_uint_eq(s.tree_nodes, 0);
	ck_assert_uint_eq(s.frames, 5); /* interned frames stay */

	/* Counting goes on from zero, with the same ids. */
	tick1(a, 10, 1, 1, 0, &FA, 1);
	q.window = MST_AGG_CUMULATIVE;
	hot(a, &q, &rows, &n, NULL);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(rows[0].frame.id, alpha);
	ck_assert_uint_eq(rows[0].total_samples, 1);
	const struct mst_agg_node *nodes;
	ck_assert_int_eq(mst_agg_tree_children(a, 1, MST_AGG_BY_LINE, 0, &nodes, &n, &err), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(nodes[0].total_samples, 1);
	mst_agg_free(a);
}
END_TEST

START_TEST(agg_thread_end)
{
	struct mst_agg_config cfg = {.end_after_ns = 2 * SEC};
	struct mst_agg *a = agg_new(&cfg);
	const struct mst_agg_frame_in f[] = {PY_F10};
	struct mst_agg_thread_in both[2] = {{1, "a", 0, f, 1}, {2, "b", 0, f, 1}};
	struct mst_err err = {0};
	ck_assert_int_eq(mst_agg_add(a, 0, MS, both, 2, &err), 0);
	for (uint64_t t = 1; t <= 30; t++) {
		ck_assert_int_eq(mst_agg_add(a, t * 100 * MS, MS, &both[1], 1, &err), 0);
		const struct mst_agg_thread *rows;
		size_t n;
		ck_assert_int_eq(mst_agg_threads(a, MST_AGG_CUMULATIVE, &rows, &n, &err), 0);
		ck_assert_uint_eq(n, 2);
		ck_assert_int_eq(rows[0].ended, t * 100 * MS >= 2 * SEC);
		ck_assert(!rows[1].ended);
		/* Its counts stay. */
		ck_assert_uint_eq(rows[0].window.samples, 1);
	}
	struct mst_agg_totals tt;
	mst_agg_totals(a, MST_AGG_CUMULATIVE, &tt);
	ck_assert_uint_eq(tt.threads, 2);
	ck_assert_uint_eq(tt.threads_live, 1);
	ck_assert_uint_eq(total_of(a, 1, MST_AGG_CUMULATIVE, "f"), 1);
	/* Seen again: alive again. Ended by the sampler: at once. */
	ck_assert_int_eq(mst_agg_add(a, 4 * SEC, MS, both, 2, &err), 0);
	mst_agg_totals(a, MST_AGG_CUMULATIVE, &tt);
	ck_assert_uint_eq(tt.threads_live, 2);
	mst_agg_end_thread(a, 2);
	const struct mst_agg_thread *rows;
	size_t n;
	ck_assert_int_eq(mst_agg_threads(a, MST_AGG_CUMULATIVE, &rows, &n, &err), 0);
	ck_assert(!rows[0].ended);
	ck_assert(rows[1].ended);
	mst_agg_free(a);
}
END_TEST

START_TEST(agg_thread_limit)
{
	struct mst_agg_config cfg = {.max_threads = 2};
	struct mst_agg *a = agg_new(&cfg);
	const struct mst_agg_frame_in f[] = {PY_F10};
	for (pid_t tid = 1; tid <= 5; tid++)
		tick1(a, (uint64_t)tid * SEC, MS, tid, 0, f, 1);
	struct mst_agg_stats s;
	mst_agg_stats(a, &s);
	ck_assert_uint_eq(s.threads, 2);
	ck_assert_uint_eq(s.threads_evicted, 3);
	/* The least recently seen went; the process keeps every count. */
	const struct mst_agg_thread *rows;
	size_t n;
	struct mst_err err = {0};
	ck_assert_int_eq(mst_agg_threads(a, MST_AGG_CUMULATIVE, &rows, &n, &err), 0);
	ck_assert_int_eq(rows[0].tid, 4);
	ck_assert_int_eq(rows[1].tid, 5);
	ck_assert_uint_eq(total_of(a, 0, MST_AGG_CUMULATIVE, "f"), 5);
	/* Four threads in one tick with room for two: the third and the
	 * fourth are counted for the process only. */
	const struct mst_agg_frame_in g[] = {PY_G20};
	struct mst_agg_thread_in th[4] = {
	    {7, "", 0, g, 1}, {8, "", 0, g, 1}, {9, "", 0, g, 1}, {10, "", 0, g, 1}};
	ck_assert_int_eq(mst_agg_add(a, 10 * SEC, MS, th, 4, &err), 0);
	mst_agg_stats(a, &s);
	ck_assert_uint_eq(s.threads, 2);
	ck_assert_uint_eq(s.threads_uncounted, 2);
	ck_assert_uint_eq(total_of(a, 0, MST_AGG_CUMULATIVE, "g"), 4);
	/* The next tick: room again for the least recently seen's slot. */
	struct mst_agg_thread_in one = {11, "", 0, g, 1};
	ck_assert_int_eq(mst_agg_add(a, 11 * SEC, MS, &one, 1, &err), 0);
	mst_agg_stats(a, &s);
	ck_assert_uint_eq(s.threads, 2);
	ck_assert_uint_eq(s.threads_uncounted, 2);
	mst_agg_free(a);
}
END_TEST

/* Every query of a and b gives the same rows: a was told which samples
 * repeated the last (and may have counted them late), b was not; a keeps
 * threads lean, b does not. The process's rows, each thread's, and those
 * of the threads of process pid (a query that sums them); with trees,
 * each thread's call tree (which makes a lean thread's tables). */
static void same_answers(struct mst_agg *a, struct mst_agg *b, const pid_t *tids, size_t ntids,
                         pid_t pid, bool trees)
{
	for (size_t k = 0; k <= ntids + 1; k++)
		for (int w = 0; w < 2; w++)
			for (int m = 0; m < 2; m++)
				for (int sub = 0; sub < 3; sub++)
					for (int view = 0; view < 4; view++) {
						struct mst_agg_query q = query(
						    k < ntids ? tids[k] : 0, (enum mst_agg_window)w,
						    (enum mst_agg_mode)m);
						if (k == ntids + 1)
							q.pid = pid;
						q.subset = (enum mst_agg_subset)sub;
						q.view = (enum mst_agg_view)view;
						q.sort = MST_AGG_SORT_NAME;
						const struct mst_agg_hot *ra, *rb;
						size_t na, nb;
						struct mst_agg_count sa, sb;
						hot(a, &q, &ra, &na, &sa);
						hot(b, &q, &rb, &nb, &sb);
						ck_assert_uint_eq(na, nb);
						ck_assert_uint_eq(sa.samples, sb.samples);
						ck_assert_uint_eq(sa.ns, sb.ns);
						for (size_t i = 0; i < na; i++) {
							ck_assert_str_eq(ra[i].frame.function,
							                 rb[i].frame.function);
							ck_assert_uint_eq(ra[i].own_samples,
							                  rb[i].own_samples);
							ck_assert_uint_eq(ra[i].total_samples,
							                  rb[i].total_samples);
							ck_assert_uint_eq(ra[i].own_ns,
							                  rb[i].own_ns);
							ck_assert_uint_eq(ra[i].total_ns,
							                  rb[i].total_ns);
						}
					}
	for (size_t k = 0; trees && k < ntids; k++)
		for (int m = 0; m < 2; m++) {
			const struct mst_agg_node *ca, *cb;
			size_t na, nb;
			struct mst_err err = {0};
			ck_assert_int_eq(mst_agg_tree_children(a, tids[k], (enum mst_agg_mode)m,
			                                       MST_AGG_TREE_ROOT, &ca, &na, &err),
			                 0);
			struct mst_agg_node copy[8];
			ck_assert_uint_le(na, 8);
			memcpy(copy, ca, na * sizeof(*ca));
			ck_assert_int_eq(mst_agg_tree_children(b, tids[k], (enum mst_agg_mode)m,
			                                       MST_AGG_TREE_ROOT, &cb, &nb, &err),
			                 0);
			ck_assert_uint_eq(na, nb);
			for (size_t i = 0; i < na; i++) {
				ck_assert_uint_eq(copy[i].total_samples, cb[i].total_samples);
				ck_assert_uint_eq(copy[i].self_samples, cb[i].self_samples);
				ck_assert_uint_eq(copy[i].total_ns, cb[i].total_ns);
			}
		}
}

/* Repeats told as such (an idle thread's stack, tick after tick) are
 * counted the same as when each is looked at, and a lean thread's cells
 * read from its shares are those it would have counted: over seconds,
 * through stack and state changes, with a query in the middle of a second,
 * with the recent window moving on, and after its tables are built. */
START_TEST(agg_repeats_counted_alike)
{
	const struct mst_agg_config each = {.count_each = true};
	struct mst_agg *a = agg_new(NULL), *b = agg_new(&each);
	const struct mst_agg_frame_in s1[] = {PY_G20, PY_F10};
	const struct mst_agg_frame_in s2[] = {PY_F11, PY_G20, PY_F10};
	/* s1 again, its inner frame now folded: the same frames, but the
	 * own count goes elsewhere in the folded view. */
	struct mst_agg_frame_in s1f[] = {PY_G20, PY_F10};
	s1f[0].folded = true;
	/* A stack with a frame twice (counted once in total), and an
	 * interpreter frame inside a user one (own counts apart per view). */
	struct mst_agg_frame_in s3[] = {PY_F11, PY_G20, PY_F11, TA};
	s3[0].interp = true;
	/* Thread 6's: a folded interpreter frame in C inside Python ones, so
	 * each view's own count is elsewhere. */
	const struct mst_agg_frame_in s6[] = {{.kind = MST_AGG_NATIVE,
	                                       .folded = true,
	                                       .function = "poll",
	                                       .file = "",
	                                       .module = "libc.so.6",
	                                       .interp = true},
	                                      PY_G20,
	                                      PY_F10};
	const pid_t tids[] = {5, 6, 7, 8, 9};
	struct mst_err err = {0};
	uint64_t now = 100 * SEC;
	struct mst_agg_stats sa, sb;
	for (int i = 0; i < 700; i++) {
		/* Now and then a gap of seconds: the window empties. */
		now += 7 * MS + (uint64_t)(i % 3) * MS + (i % 211 == 210 ? 3 * SEC : 0);
		/* Thread 5 changes stack every 120 ticks and state every 50;
		 * thread 6 always repeats, and says so (to a without its
		 * frames), its state changing every 60 ticks; thread 7 repeats
		 * without saying so, and every 30 ticks has its frame folded
		 * for 10; threads 8 and 9 keep one stack (lean) while their
		 * state changes every 40 ticks, 9 missing every 13th tick;
		 * from tick 450 thread 9 is in s1 (its tables built then). */
		bool second = (i / 120) % 2;
		uint32_t st5 = (i / 50) % 2 ? MST_TS_RUNNING | MST_TS_HOLDS_GIL : 0;
		uint32_t st8 = (i / 40) % 3 == 1   ? MST_TS_RUNNING
		               : (i / 40) % 3 == 2 ? MST_TS_RUNNING | MST_TS_HOLDS_GIL
		                                   : 0;
		bool rep5 = i % 120 != 0 && i % 50 != 0;
		struct mst_agg_thread_in in[5] = {
		    {5, "w5", st5, second ? s2 : s1, second ? 3 : 2, 42, rep5},
		    {6, "w6", (i / 60) % 2 ? MST_TS_RUNNING : 0, s6, 3, 42, i > 0},
		    {7, "w7", 0, i % 30 < 10 ? s1f : s1, 2, 42, false},
		    {8, "w8", st8, s3, 4, 42, false},
		    {9, "w9", st8, i < 450 ? s3 : s1, i < 450 ? 4 : 2, 42, i % 13 != 6}};
		size_t nin = i % 13 == 5 ? 4 : 5;
		ck_assert_int_eq(mst_agg_add(b, now, 10 * MS, in, nin, &err), 0);
		/* a is not given 6's frames when it repeats: it has them. */
		if (i > 0)
			in[1].frames = NULL, in[1].nframes = 0;
		ck_assert_int_eq(mst_agg_add(a, now, 10 * MS, in, nin, &err), 0);
		if (i == 449) {
			/* 6, 8 and 9 kept no cells of their own so far. */
			mst_agg_stats(a, &sa);
			ck_assert_uint_eq(sa.threads_lean, 3);
		}
		if (i % 97 == 0 || i == 449 || i == 450 || i == 699)
			same_answers(a, b, tids, 5, 42, i >= 600);
	}
	/* Unchanged without frames, from a thread it does not have. */
	struct mst_agg_thread_in none = {77, "w77", 0, NULL, 0, 42, true};
	ck_assert_int_eq(mst_agg_add(a, now + MS, 10 * MS, &none, 1, &err), -ENODATA);
	ck_assert_ptr_nonnull(strstr(err.msg, "no last stack"));
	/* The repeats were counted late in a, each at once in b. */
	mst_agg_stats(a, &sa);
	mst_agg_stats(b, &sb);
	ck_assert_uint_eq(sb.repeats, 0);
	ck_assert_uint_eq(sb.threads_lean, 0);
	/* The trees' query built every table: 9's by its new stack, 6's and
	 * 8's then. */
	ck_assert_uint_eq(sa.threads_lean, 0);
	ck_assert_uint_eq(sa.threads_unleaned, 5);
	/* Thread 6: 699 repeats; 5 and 7 about 650 each, less a full count
	 * at each change and each new second. Without 7's found repeats,
	 * fewer than 1,400. */
	ck_assert_uint_gt(sa.repeats, 1800);
	mst_agg_free(a);
	mst_agg_free(b);
}
END_TEST

START_TEST(agg_errors_and_depth)
{
	struct mst_agg_config bad = {.max_frames = 1u << 30};
	struct mst_agg *a = NULL;
	struct mst_err err = {0};
	ck_assert_int_eq(mst_agg_new(&bad, &a, &err), -EINVAL);
	ck_assert_ptr_null(a);

	struct mst_agg_config cfg = {.max_depth = 2};
	a = agg_new(&cfg);
	const struct mst_agg_frame_in f[] = {PY_F10};
	struct mst_agg_thread_in t = {1, "x", 0, f, 1};
	ck_assert_int_eq(mst_agg_add_thread(a, &t, &err), -EINVAL);
	ck_assert(strstr(err.msg, "outside a tick") != NULL);
	/* Deeper than max_depth: the innermost frames are kept. */
	const struct mst_agg_frame_in deep[] = {TA, TB, TC, TD};
	tick1(a, 0, 1, 1, 0, deep, 4);
	struct mst_agg_stats s;
	mst_agg_stats(a, &s);
	ck_assert_uint_eq(s.stacks_truncated, 1);
	ck_assert_uint_eq(total_of(a, 1, MST_AGG_CUMULATIVE, "a"), 1);
	ck_assert_uint_eq(total_of(a, 1, MST_AGG_CUMULATIVE, "b"), 1);
	ck_assert_uint_eq(total_of(a, 1, MST_AGG_CUMULATIVE, "c"), 0);
	/* An empty stack counts a sample and no frame. */
	tick1(a, 1, 1, 1, MST_TS_RUNNING, NULL, 0);
	const struct mst_agg_thread *rows;
	size_t n;
	ck_assert_int_eq(mst_agg_threads(a, MST_AGG_CUMULATIVE, &rows, &n, &err), 0);
	ck_assert_uint_eq(rows[0].window.samples, 2);
	ck_assert_uint_eq(rows[0].top_id, MST_AGG_NONE);
	mst_agg_free(a);
}
END_TEST

Suite *agg_suite(void)
{
	Suite *s = suite_create("agg");
	TCase *tc = tcase_create("agg");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, agg_intern_ids);
	tcase_add_test(tc, agg_frame_limit);
	tcase_add_test(tc, agg_own_total_recursion);
	tcase_add_test(tc, agg_process_sums_threads);
	tcase_add_test(tc, agg_windows);
	tcase_add_test(tc, agg_ring_made_whole);
	tcase_add_test(tc, agg_shares);
	tcase_add_test(tc, agg_sort_keys);
	tcase_add_test(tc, agg_filter);
	tcase_add_test(tc, agg_views);
	tcase_add_test(tc, agg_call_tree);
	tcase_add_test(tc, agg_call_tree_bounded);
	tcase_add_test(tc, agg_reset);
	tcase_add_test(tc, agg_thread_end);
	tcase_add_test(tc, agg_thread_limit);
	tcase_add_test(tc, agg_repeats_counted_alike);
	tcase_add_test(tc, agg_errors_and_depth);
	suite_add_tcase(s, tc);
	return s;
}
