/* The recorder (record.h) on ticks made up here, where every answer is
 * known: counts and their sums, the view chosen at write time, idle
 * samples, the recent window, the timeline's runs and state spans, the
 * caps, and the file name rules. The live tests (tests/live/test_record.c)
 * read real recordings back with the viewers. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msttop/record.h"
#include "record/record-int.h"

#define MS 1000000ull
#define SEC 1000000000ull

static const struct mst_record_meta meta = {.pid = 42,
                                            .cmdline = "python3 app.py",
                                            .py_version = "3.12.1",
                                            .rate_hz = 100,
                                            .sampler = "ptrace"};

/* Frames innermost first, as the sampler gives them. */
static const struct mst_agg_frame_in f_spin = {
    .kind = MST_AGG_PYTHON, .line = 7, .function = "spin", .file = "app.py"};
static const struct mst_agg_frame_in f_main = {
    .kind = MST_AGG_PYTHON, .line = 20, .function = "main", .file = "app.py"};
static const struct mst_agg_frame_in f_eval = {.kind = MST_AGG_NATIVE,
                                               .folded = true,
                                               .function = "_PyEval_EvalFrameDefault",
                                               .module = "/usr/lib/libpython3.12.so",
                                               .addr = 0x7f0000001000,
                                               .module_off = 0x1000};
static const struct mst_agg_frame_in f_memcpy = {.kind = MST_AGG_NATIVE,
                                                 .function = "memcpy",
                                                 .module = "/usr/lib/libc.so.6",
                                                 .addr = 0x7f0000202000,
                                                 .module_off = 0x2000};

static void tick(struct mst_record *r, uint64_t now, const struct mst_agg_thread_in *t, size_t n)
{
	struct mst_err err = {0};
	mst_record_begin(r, now, 10 * MS);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(mst_record_add_thread(r, &t[i], &err), 0);
	mst_record_end(r);
}

/* The collapsed text of r as sel chooses, in a malloc'd string. */
static char *collapsed(struct mst_record *r, const struct mst_record_select *sel)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct mst_err err = {0};
	ck_assert_int_eq(mst_record_write(r, f, MST_RECORD_COLLAPSED, &meta, sel, &err), 0);
	fclose(f);
	return buf;
}

START_TEST(record_counts_and_views)
{
	struct mst_record *r = NULL;
	ck_assert_int_eq(mst_record_new(NULL, &r, NULL), 0);
	/* spin <- eval (folded) <- main; then memcpy under spin. */
	const struct mst_agg_frame_in a[] = {f_spin, f_eval, f_main};
	const struct mst_agg_frame_in b[] = {f_memcpy, f_spin, f_eval, f_main};
	struct mst_agg_thread_in t = {.tid = 100, .name = "MainThread", .frames = a, .nframes = 3};
	uint64_t now = 5 * SEC;
	for (int i = 0; i < 3; i++) {
		t.state = MST_TS_RUNNING | MST_TS_PYTHON | MST_TS_HOLDS_GIL;
		tick(r, now += 10 * MS, &t, 1);
	}
	t.frames = b;
	t.nframes = 4;
	tick(r, now += 10 * MS, &t, 1);
	/* Idle: left out unless asked for. */
	t.state = MST_TS_IDLE | MST_TS_PYTHON;
	tick(r, now += 10 * MS, &t, 1);

	struct mst_record_select sel = {.view = MST_AGG_VIEW_FOLDED};
	char *s = collapsed(r, &sel);
	ck_assert_str_eq(
	    s, "MainThread (tid 100);main (app.py:20);spin (app.py:7) 3\n"
	       "MainThread (tid 100);main (app.py:20);spin (app.py:7);memcpy [libc.so.6] 1\n");
	free(s);
	sel.view = MST_AGG_VIEW_ALL;
	s = collapsed(r, &sel);
	ck_assert_msg(strstr(s, "main (app.py:20);_PyEval_EvalFrameDefault [libpython3.12.so];spin "
	                        "(app.py:7) 3\n"),
	              "%s", s);
	free(s);
	/* Python only: the memcpy sample joins the three others; with idle,
	 * the idle one too (its stack is the same). */
	sel.view = MST_AGG_VIEW_PYTHON;
	sel.idle = true;
	s = collapsed(r, &sel);
	ck_assert_str_eq(s, "MainThread (tid 100);main (app.py:20);spin (app.py:7) 5\n");
	free(s);
	/* Only the samples holding the GIL (the live view's g): the idle
	 * one had not. */
	sel.gil_only = true;
	s = collapsed(r, &sel);
	ck_assert_str_eq(s, "MainThread (tid 100);main (app.py:20);spin (app.py:7) 4\n");
	free(s);
	struct mst_record_stats st;
	mst_record_stats(r, &st);
	ck_assert_uint_eq(st.samples, 5);
	ck_assert_uint_eq(st.idle, 1);
	ck_assert_uint_eq(st.ticks, 5);
	mst_record_free(r);
}
END_TEST

START_TEST(record_recent_window)
{
	struct mst_record *r = NULL;
	struct mst_record_config cfg = {.recent_s = 2};
	ck_assert_int_eq(mst_record_new(&cfg, &r, NULL), 0);
	const struct mst_agg_frame_in a[] = {f_main};
	const struct mst_agg_frame_in b[] = {f_spin, f_main};
	struct mst_agg_thread_in t = {
	    .tid = 7, .name = "w", .state = MST_TS_RUNNING, .frames = a, .nframes = 1};
	/* 10 s of main, then 1 s of spin: the recent window (the last 2 whole
	 * seconds and this one) holds all of spin and some main. */
	uint64_t now = 100 * SEC;
	for (int i = 0; i < 1000; i++)
		tick(r, now += 10 * MS, &t, 1);
	t.frames = b;
	t.nframes = 2;
	for (int i = 0; i < 100; i++)
		tick(r, now += 10 * MS, &t, 1);
	struct mst_record_select sel = {.recent = true};
	char *s = collapsed(r, &sel);
	long spin = 0, main_ = 0;
	char *p = strstr(s, "spin (app.py:7) ");
	ck_assert_ptr_nonnull(p);
	spin = strtol(p + strlen("spin (app.py:7) "), NULL, 10);
	p = strstr(s, "main (app.py:20) ");
	ck_assert_ptr_nonnull(p);
	main_ = strtol(p + strlen("main (app.py:20) "), NULL, 10);
	ck_assert_int_eq(spin, 100);
	ck_assert_msg(main_ >= 100 && main_ <= 300, "recent main samples: %ld", main_);
	free(s);
	sel.recent = false;
	s = collapsed(r, &sel);
	ck_assert_ptr_nonnull(strstr(s, "main (app.py:20) 1000\n"));
	free(s);
	/* A reset forgets the counts. */
	mst_record_reset(r);
	s = collapsed(r, &sel);
	ck_assert_str_eq(s, "");
	free(s);
	mst_record_free(r);
}
END_TEST

/* The timeline, read through the trace writer's view: written to a file
 * and checked for what matters: a run per stack change, GIL spans that
 * never overlap, a gap ends spans. */
struct span {
	char tid[16];
	char name[64];
	double ts, dur;
};

static size_t spans_of(const char *json, const char *tid, const char *name, struct span *out,
                       size_t max)
{
	size_t n = 0;
	char key[64];
	snprintf(key, sizeof(key), "\"tid\":%s,", tid);
	for (const char *p = json; (p = strstr(p, "{\"ph\":\"X\"")) && n < max; p++) {
		const char *end = strchr(p, '}');
		char one[1024];
		snprintf(one, sizeof(one), "%.*s", (int)(end - p), p);
		if (!strstr(one, key))
			continue;
		char nm[80];
		snprintf(nm, sizeof(nm), "\"name\":\"%s\"", name);
		if (!strstr(one, nm))
			continue;
		struct span *s = &out[n++];
		snprintf(s->tid, sizeof(s->tid), "%s", tid);
		snprintf(s->name, sizeof(s->name), "%s", name);
		s->ts = strtod(strstr(one, "\"ts\":") + 5, NULL);
		s->dur = strtod(strstr(one, "\"dur\":") + 6, NULL);
	}
	return n;
}

START_TEST(record_timeline)
{
	struct mst_record *r = NULL;
	ck_assert_int_eq(mst_record_new(NULL, &r, NULL), 0);
	const struct mst_agg_frame_in a[] = {f_spin, f_main};
	struct mst_agg_thread_in t[2] = {
	    {.tid = 1, .name = "A", .frames = a, .nframes = 2},
	    {.tid = 2, .name = "B", .frames = a, .nframes = 2},
	};
	/* The GIL moves A, A, B, B, A every tick; B waits while A holds. */
	const int holder[] = {0, 0, 1, 1, 0};
	uint64_t now = SEC;
	for (int i = 0; i < 5; i++) {
		t[holder[i]].state = MST_TS_RUNNING | MST_TS_HOLDS_GIL;
		t[!holder[i]].state = MST_TS_WAITS_GIL;
		tick(r, now += 10 * MS, t, 2);
	}
	/* B is not sampled for a tick (a miss): its spans end there. */
	t[0].state = MST_TS_RUNNING | MST_TS_HOLDS_GIL;
	tick(r, now += 10 * MS, t, 1);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct mst_err err = {0};
	struct mst_record_select sel = {.idle = true};
	ck_assert_int_eq(mst_record_write(r, f, MST_RECORD_CHROME, &meta, &sel, &err), 0);
	fclose(f);
	struct span gil[16];
	/* GIL holder track: A [0,20), B [20,40), A [40,60) ms. */
	size_t n = spans_of(buf, "1073741824", "A (tid 1)", gil, 16);
	size_t m = spans_of(buf, "1073741824", "B (tid 2)", gil + n, 16 - n);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(m, 1);
	ck_assert_double_eq_tol(gil[0].ts, 0, 1e-6);
	ck_assert_double_eq_tol(gil[0].dur, 20000, 1e-6);
	ck_assert_double_eq_tol(gil[1].ts, 40000, 1e-6);
	ck_assert_double_eq_tol(gil[1].dur, 20000, 1e-6);
	ck_assert_double_eq_tol(gil[2].ts, 20000, 1e-6);
	ck_assert_double_eq_tol(gil[2].dur, 20000, 1e-6);
	/* A's stack: one run over all six ticks, as two nested slices. */
	struct span run[4];
	ck_assert_uint_eq(spans_of(buf, "1", "main (app.py:20)", run, 4), 1);
	ck_assert_double_eq_tol(run[0].dur, 60000, 1e-6);
	/* B's "waits for GIL" spans: [0,20) and [40,50), then B was missed. */
	struct span w[4];
	ck_assert_uint_eq(spans_of(buf, "1073741830", "waits for GIL", w, 4), 2);
	ck_assert_double_eq_tol(w[1].ts + w[1].dur, 50000, 1e-6);
	free(buf);
	mst_record_free(r);
}
END_TEST

START_TEST(record_caps)
{
	struct mst_record *r = NULL;
	struct mst_record_config cfg = {.max_stacks = 2, .max_events = 3};
	/* The GIL comes and goes every tick: a span each time. */
	ck_assert_int_eq(mst_record_new(&cfg, &r, NULL), 0);
	struct mst_agg_frame_in fr[1] = {f_spin};
	struct mst_agg_thread_in t = {
	    .tid = 9, .name = "T", .state = MST_TS_RUNNING, .frames = fr, .nframes = 1};
	char fn[8][8];
	uint64_t now = SEC;
	for (int i = 0; i < 8; i++) {
		snprintf(fn[i], sizeof(fn[i]), "f%d", i);
		fr[0].function = fn[i];
		t.state = MST_TS_RUNNING | (i % 2 ? MST_TS_HOLDS_GIL : 0);
		tick(r, now += 10 * MS, &t, 1);
	}
	struct mst_record_stats st;
	mst_record_stats(r, &st);
	ck_assert_uint_eq(st.stacks_over, 6);
	ck_assert_uint_gt(st.events_dropped, 0);
	ck_assert_uint_le(st.events, 3);
	struct mst_record_select sel = {0};
	char *s = collapsed(r, &sel);
	ck_assert_msg(strstr(s, "T (tid 9);(other stacks) 6\n"), "%s", s);
	free(s);
	mst_record_free(r);
}
END_TEST

START_TEST(record_format_names)
{
	enum mst_record_format f;
	ck_assert_int_eq(mst_record_format_guess("a.svg"), MST_RECORD_FLAMEGRAPH);
	ck_assert_int_eq(mst_record_format_guess("a.speedscope.json"), MST_RECORD_SPEEDSCOPE);
	ck_assert_int_eq(mst_record_format_guess("a.folded"), MST_RECORD_COLLAPSED);
	ck_assert_int_eq(mst_record_format_guess("a.collapsed"), MST_RECORD_COLLAPSED);
	ck_assert_int_eq(mst_record_format_guess("a.trace.json"), MST_RECORD_CHROME);
	ck_assert_int_eq(mst_record_format_guess("a.json"), MST_RECORD_CHROME);
	ck_assert_int_eq(mst_record_format_guess("a.pb.gz"), MST_RECORD_PPROF);
	ck_assert_int_eq(mst_record_format_guess("profile"), MST_RECORD_FLAMEGRAPH);
	ck_assert_int_eq(mst_record_format_parse("perfetto", &f), 0);
	ck_assert_int_eq(f, MST_RECORD_CHROME);
	ck_assert_int_eq(mst_record_format_parse("gif", &f), -EINVAL);
	struct mst_err err = {0};
	ck_assert_int_eq(mst_record_check_path("/nonexistent-dir/x.svg", &err), -ENOENT);
	ck_assert_int_eq(mst_record_check_path("/tmp", &err), -EISDIR);
	ck_assert_int_eq(mst_record_check_path("/tmp/x.svg", &err), 0);
	/* A refused write leaves the old file as it was. */
	struct mst_record *r = NULL;
	ck_assert_int_eq(mst_record_new(NULL, &r, NULL), 0);
	struct mst_record_select sel = {0};
	ck_assert_int_lt(mst_record_write_path(r, "/nonexistent-dir/x.svg", MST_RECORD_FLAMEGRAPH,
	                                       &meta, &sel, &err),
	                 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent-dir/x.svg"));
	mst_record_free(r);
}
END_TEST

Suite *record_suite(void);
Suite *record_suite(void)
{
	Suite *s = suite_create("record");
	TCase *tc = tcase_create("record");
	tcase_add_test(tc, record_counts_and_views);
	tcase_add_test(tc, record_recent_window);
	tcase_add_test(tc, record_timeline);
	tcase_add_test(tc, record_caps);
	tcase_add_test(tc, record_format_names);
	suite_add_tcase(s, tc);
	return s;
}
