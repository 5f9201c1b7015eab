/* The live view's pure formatting (ui/format.c): percentages, durations,
 * counts, widths and cuts of UTF-8 text that keep the function visible,
 * frame labels, thread states and whole rows at several widths. */
#include <check.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "msttop/agg.h"
#include "msttop/format.h"

Suite *format_suite(void);

#define MS 1000000ull
#define SEC 1000000000ull

/* wcwidth needs a UTF-8 locale to know wide and combining characters. */
static void utf8_locale(void)
{
	if (!setlocale(LC_CTYPE, "C.UTF-8"))
		ck_assert_ptr_nonnull(setlocale(LC_CTYPE, "en_US.UTF-8"));
}

static struct mst_agg_frame frame(uint8_t kind, const char *fn, const char *file, uint32_t line,
                                  const char *module)
{
	struct mst_agg_frame f = {0};
	f.kind = kind;
	f.function = fn;
	f.file = file;
	f.line = line;
	f.module = module;
	return f;
}

START_TEST(pct)
{
	char b[32];
	ck_assert_str_eq(mst_fmt_pct(12.34, b, sizeof(b)), "12.3%");
	ck_assert_str_eq(mst_fmt_pct(100.0, b, sizeof(b)), "100%");
	ck_assert_str_eq(mst_fmt_pct(99.96, b, sizeof(b)), "100%");
	ck_assert_str_eq(mst_fmt_pct(99.94, b, sizeof(b)), "99.9%");
	ck_assert_str_eq(mst_fmt_pct(0.0, b, sizeof(b)), "0%");
	ck_assert_str_eq(mst_fmt_pct(0.01, b, sizeof(b)), "<0.1%");
	ck_assert_str_eq(mst_fmt_pct(5.25, b, sizeof(b)), "5.2%");
	ck_assert_str_eq(mst_fmt_pct(250.0, b, sizeof(b)), "250%");
	ck_assert_str_eq(mst_fmt_pct(-3.0, b, sizeof(b)), "0%");
	ck_assert_str_eq(mst_fmt_pct(0.0 / 0.0, b, sizeof(b)), "0%");
	/* Padded into a column, right-aligned. */
	char c[32];
	ck_assert_str_eq(
	    mst_fmt_fit(mst_fmt_pct(0, b, sizeof(b)), 6, MST_FIT_PAD | MST_FIT_RIGHT, c, sizeof(c)),
	    "    0%");
}
END_TEST

START_TEST(duration)
{
	char b[32];
	ck_assert_str_eq(mst_fmt_duration(0, b, sizeof(b)), "0ms");
	ck_assert_str_eq(mst_fmt_duration(950 * MS + 999, b, sizeof(b)), "950ms");
	ck_assert_str_eq(mst_fmt_duration(999 * MS, b, sizeof(b)), "999ms");
	ck_assert_str_eq(mst_fmt_duration(SEC, b, sizeof(b)), "1.0s");
	ck_assert_str_eq(mst_fmt_duration(12 * SEC + 499 * MS, b, sizeof(b)), "12.4s");
	/* Rounded down: never 60.0s. */
	ck_assert_str_eq(mst_fmt_duration(59 * SEC + 999 * MS, b, sizeof(b)), "59.9s");
	ck_assert_str_eq(mst_fmt_duration(60 * SEC, b, sizeof(b)), "1m00s");
	ck_assert_str_eq(mst_fmt_duration(185 * SEC, b, sizeof(b)), "3m05s");
	ck_assert_str_eq(mst_fmt_duration(3720 * SEC + 59 * SEC, b, sizeof(b)), "1h02m");
	ck_assert_str_eq(mst_fmt_duration(76 * 3600 * SEC, b, sizeof(b)), "3d04h");
	ck_assert_str_eq(mst_fmt_duration(3599 * SEC, b, sizeof(b)), "59m59s");
	/* Never more than 6 columns (the time column) below 100 days. */
	uint64_t v[] = {1, 999 * MS, 59 * SEC, 3599 * SEC, 86399 * SEC, 99 * 86400 * SEC};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		ck_assert_int_le(strlen(mst_fmt_duration(v[i], b, sizeof(b))), 6);
}
END_TEST

START_TEST(count)
{
	char b[32];
	ck_assert_str_eq(mst_fmt_count(0, b, sizeof(b)), "0");
	ck_assert_str_eq(mst_fmt_count(999999, b, sizeof(b)), "999999");
	ck_assert_str_eq(mst_fmt_count(1234567, b, sizeof(b)), "1.23M");
	ck_assert_str_eq(mst_fmt_count(12345678, b, sizeof(b)), "12.3M");
	ck_assert_str_eq(mst_fmt_count(123456789, b, sizeof(b)), "123M");
	ck_assert_str_eq(mst_fmt_count(1999999999, b, sizeof(b)), "1.99G");
}
END_TEST

START_TEST(width_utf8)
{
	utf8_locale();
	ck_assert_int_eq(mst_fmt_width(""), 0);
	ck_assert_int_eq(mst_fmt_width(NULL), 0);
	ck_assert_int_eq(mst_fmt_width("abc"), 3);
	ck_assert_int_eq(mst_fmt_width("grüße"), 5);
	ck_assert_int_eq(mst_fmt_width("计算"), 4);
	/* e + combining acute: one column. */
	ck_assert_int_eq(mst_fmt_width("e\xcc\x81"), 1);
}
END_TEST

START_TEST(fit_right_and_pad)
{
	utf8_locale();
	char b[256];
	ck_assert_str_eq(mst_fmt_fit("hello", 10, 0, b, sizeof(b)), "hello");
	ck_assert_str_eq(mst_fmt_fit("hello", 8, MST_FIT_PAD, b, sizeof(b)), "hello   ");
	ck_assert_str_eq(mst_fmt_fit("hello", 8, MST_FIT_PAD | MST_FIT_RIGHT, b, sizeof(b)),
	                 "   hello");
	ck_assert_str_eq(mst_fmt_fit("hello world", 8, 0, b, sizeof(b)), "hello w\u2026");
	ck_assert_str_eq(mst_fmt_fit("hello world", 8, MST_FIT_ASCII, b, sizeof(b)), "hello w~");
	ck_assert_str_eq(mst_fmt_fit("hello", 1, 0, b, sizeof(b)), "\u2026");
	ck_assert_str_eq(mst_fmt_fit("hello", 0, MST_FIT_PAD, b, sizeof(b)), "");
	ck_assert_str_eq(mst_fmt_fit(NULL, 3, MST_FIT_PAD, b, sizeof(b)), "   ");
	/* A wide character that would straddle the edge leaves a space. */
	ck_assert_str_eq(mst_fmt_fit("计算计算", 6, 0, b, sizeof(b)), "计算 \u2026");
	ck_assert_int_eq(mst_fmt_width(b), 6);
	/* Exact fit of wide text: no cut. */
	ck_assert_str_eq(mst_fmt_fit("计算", 4, 0, b, sizeof(b)), "计算");
	/* A tiny buffer cuts at a character boundary. */
	char small[4];
	ck_assert_str_eq(mst_fmt_fit("计算", 4, 0, small, sizeof(small)), "计");
}
END_TEST

START_TEST(fit_left_keeps_the_end)
{
	utf8_locale();
	char b[256];
	const char *path = "/usr/lib/python3.11/threading.py:320";
	mst_fmt_fit(path, 18, MST_FIT_LEFT, b, sizeof(b));
	ck_assert_str_eq(b, "\u2026/threading.py:320");
	ck_assert_int_eq(mst_fmt_width(b), 18);
	ck_assert_str_eq(mst_fmt_fit(path, 20, MST_FIT_LEFT | MST_FIT_ASCII, b, sizeof(b)),
	                 "~11/threading.py:320");
	/* UTF-8 names cut from the left by columns, never inside a character. */
	mst_fmt_fit("模块/计算.py:7", 9, MST_FIT_LEFT, b, sizeof(b));
	ck_assert_int_eq(mst_fmt_width(b), 9);
	ck_assert(strstr(b, "算.py:7") != NULL);
	/* A wide character at the cut leaves a space after the ellipsis. */
	ck_assert_str_eq(mst_fmt_fit("计算计算", 6, MST_FIT_LEFT, b, sizeof(b)), "\u2026 计算");
	/* A very long path: the tail still shows. */
	char longp[10000];
	memset(longp, 'a', sizeof(longp));
	strcpy(longp + sizeof(longp) - 12, "/x.py:99");
	ck_assert_str_eq(mst_fmt_fit(longp, 9, MST_FIT_LEFT, b, sizeof(b)), "\u2026/x.py:99");
}
END_TEST

START_TEST(fit_escapes_target_text)
{
	utf8_locale();
	char b[256];
	/* Escape sequences from the target never reach the terminal raw. */
	mst_fmt_fit("evil\x1b[31mname", 40, 0, b, sizeof(b));
	ck_assert_ptr_null(strchr(b, 0x1b));
	ck_assert_str_eq(b, "evil\\x1b[31mname");
	mst_fmt_fit("bad\xff", 40, 0, b, sizeof(b));
	ck_assert_str_eq(b, "bad\\xff");
	/* Non-ASCII on an ASCII terminal: '?' per character, one column. */
	ck_assert_str_eq(mst_fmt_fit("grüße", 10, MST_FIT_ASCII, b, sizeof(b)), "gr??e");
	ck_assert_str_eq(mst_fmt_fit("计算", 10, MST_FIT_ASCII | MST_FIT_PAD, b, sizeof(b)),
	                 "??        ");
}
END_TEST

START_TEST(frame_labels)
{
	utf8_locale();
	char b[512];
	struct mst_agg_frame py =
	    frame(MST_AGG_PYTHON, "wait", "/usr/lib/python3.11/threading.py", 320, "threading");
	struct mst_agg_frame c =
	    frame(MST_AGG_NATIVE, "clock_nanosleep", "", 0, "/lib/x86_64-linux-gnu/libc.so.6");
	struct mst_agg_frame anon = frame(MST_AGG_NATIVE, "", "", 0, "/usr/lib/libfoo.so.1");
	ck_assert_str_eq(mst_fmt_frame_mark(&py), "py");
	ck_assert_str_eq(mst_fmt_frame_mark(&c), "C");
	c.inlined = true;
	ck_assert_str_eq(mst_fmt_frame_mark(&c), "Ci");
	c.inlined = false;
	ck_assert_str_eq(mst_fmt_basename(c.module), "libc.so.6");
	ck_assert_str_eq(mst_fmt_basename("plain"), "plain");
	ck_assert_str_eq(mst_fmt_basename(NULL), "");
	ck_assert_str_eq(mst_fmt_file_line(&py, 0, b, sizeof(b)),
	                 "/usr/lib/python3.11/threading.py:320");
	ck_assert_str_eq(mst_fmt_file_line(&c, 0, b, sizeof(b)), "");
	struct mst_agg_frame noline = py;
	noline.line = 0;
	ck_assert_str_eq(mst_fmt_file_line(&noline, 0, b, sizeof(b)),
	                 "/usr/lib/python3.11/threading.py");

	/* Wide: everything. */
	ck_assert_str_eq(mst_fmt_frame_label(&py, 80, 0, b, sizeof(b)),
	                 "wait  /usr/lib/python3.11/threading.py:320");
	/* Narrow: the file is cut from the left, the function stays whole. */
	mst_fmt_frame_label(&py, 24, 0, b, sizeof(b));
	ck_assert_str_eq(b, "wait  \u2026/threading.py:320");
	ck_assert_int_eq(mst_fmt_width(b), 24);
	/* Too narrow for a file: the function alone. */
	ck_assert_str_eq(mst_fmt_frame_label(&py, 9, 0, b, sizeof(b)), "wait");
	/* Narrower than the function: its end stays visible. */
	struct mst_agg_frame q = frame(MST_AGG_PYTHON, "Outer.Inner.method", "a.py", 1, "a");
	ck_assert_str_eq(mst_fmt_frame_label(&q, 8, 0, b, sizeof(b)), "\u2026.method");
	/* No file: just the function; no name: "??" and the module. */
	ck_assert_str_eq(mst_fmt_frame_label(&c, 40, 0, b, sizeof(b)), "clock_nanosleep");
	ck_assert_str_eq(mst_fmt_frame_label(&anon, 40, 0, b, sizeof(b)), "??  libfoo.so.1");
	/* UTF-8 names: widths by column. */
	struct mst_agg_frame u = frame(MST_AGG_PYTHON, "计算", "/src/grüße.py", 7, "grüße");
	ck_assert_str_eq(mst_fmt_frame_label(&u, 40, 0, b, sizeof(b)), "计算  /src/grüße.py:7");
	mst_fmt_frame_label(&u, 14, 0, b, sizeof(b));
	ck_assert_int_le(mst_fmt_width(b), 14);
	ck_assert(strncmp(b, "计算  \u2026", strlen("计算  \u2026")) == 0);
	ck_assert_int_eq(mst_fmt_frame_label(&u, 0, 0, b, sizeof(b))[0], '\0');
}
END_TEST

/* The short form of a path: the part after off. */
static const char *short_of(const char *path, const char *cwd)
{
	return path + mst_fmt_short_path_off(path, cwd);
}

START_TEST(short_paths)
{
	const char *cwd = "/srv/app";
	ck_assert_str_eq(
	    short_of("/srv/app/venv/lib/python3.12/site-packages/requests/sessions.py", cwd),
	    "requests/sessions.py");
	ck_assert_str_eq(short_of("/usr/lib/python3/dist-packages/yaml/__init__.py", cwd),
	                 "yaml/__init__.py");
	/* A package inside a package's vendored site-packages: the last one. */
	ck_assert_str_eq(short_of("/x/site-packages/pip/_vendor/site-packages/idna/core.py", NULL),
	                 "idna/core.py");
	ck_assert_str_eq(short_of("/root/.pyenv/versions/3.12.1/lib/python3.12/threading.py", cwd),
	                 "threading.py");
	ck_assert_str_eq(short_of("/usr/lib/python3.11/concurrent/futures/thread.py", cwd),
	                 "concurrent/futures/thread.py");
	ck_assert_str_eq(short_of("/opt/py/lib/python3.13t/json/decoder.py", NULL),
	                 "json/decoder.py");
	ck_assert_str_eq(short_of("/srv/app/worker/tasks.py", cwd), "worker/tasks.py");
	ck_assert_str_eq(short_of("/srv/application/x.py", cwd), "/srv/application/x.py");
	ck_assert_str_eq(short_of("/home/u/python3.12/x.py", NULL), "/home/u/python3.12/x.py");
	ck_assert_str_eq(short_of("<frozen importlib._bootstrap>", cwd),
	                 "<frozen importlib._bootstrap>");
	ck_assert_str_eq(short_of("/tmp/x.py", "/"), "/tmp/x.py");
	ck_assert_str_eq(short_of("", cwd), "");
	ck_assert_uint_eq(mst_fmt_short_path_off(NULL, cwd), 0);
	/* The main screen shows the short form; the thread screen the full. */
	struct mst_agg_frame f = {.kind = MST_AGG_PYTHON,
	                          .line = 7,
	                          .function = "get",
	                          .file = "/v/site-packages/requests/api.py",
	                          .module = ""};
	f.short_file = f.file + mst_fmt_short_path_off(f.file, NULL);
	char b[256];
	ck_assert_str_eq(mst_fmt_file_line(&f, MST_FIT_SHORT_PATH, b, sizeof(b)),
	                 "requests/api.py:7");
	ck_assert_str_eq(mst_fmt_file_line(&f, 0, b, sizeof(b)),
	                 "/v/site-packages/requests/api.py:7");
}
END_TEST

START_TEST(states)
{
	ck_assert_str_eq(mst_fmt_state(MST_TS_RUNNING | MST_TS_PYTHON, false), "run");
	ck_assert_str_eq(mst_fmt_state(MST_TS_RUNNING | MST_TS_HOLDS_GIL | MST_TS_PYTHON, false),
	                 "GIL");
	ck_assert_str_eq(mst_fmt_state(MST_TS_PYTHON, false), "idle");
	ck_assert_str_eq(mst_fmt_state(MST_TS_WAITS_GIL | MST_TS_PYTHON, false), "wait");
	ck_assert_str_eq(mst_fmt_state(MST_TS_DROPS_GIL | MST_TS_RUNNING, false), "drop");
	ck_assert_str_eq(mst_fmt_state(MST_TS_IN_GC | MST_TS_HOLDS_GIL | MST_TS_RUNNING, false),
	                 "GC");
	ck_assert_str_eq(mst_fmt_state(MST_TS_RUNNING, false), "native");
	ck_assert_str_eq(mst_fmt_state(0, false), "idle");
	ck_assert_str_eq(mst_fmt_state(MST_TS_RUNNING | MST_TS_PYTHON, true), "ended");
}
END_TEST

START_TEST(hot_rows)
{
	utf8_locale();
	char b[1024];
	struct mst_fmt_hot_layout l;
	struct mst_agg_hot h = {0};
	h.frame =
	    frame(MST_AGG_PYTHON, "hot_spin", "/work/tests/targets/tui_hot.py", 42, "tui_hot");
	h.own_samples = 123;
	h.total_samples = 1000;
	h.own_ns = 1230 * MS;
	h.total_ns = 10 * SEC;
	struct mst_agg_count scope = {1000, 10 * SEC};

	/* Wide: every column, exactly the width asked for. */
	mst_fmt_hot_layout(120, 0, 0, &l);
	ck_assert(l.own_ns && l.total_ns && l.file && l.module);
	mst_fmt_hot_row(&l, &h, &scope, b, sizeof(b));
	ck_assert_int_eq(mst_fmt_width(b), 120);
	ck_assert(strstr(b, " 12.3%") && strstr(b, " 100%") && strstr(b, "1.2s") &&
	          strstr(b, "10.0s") && strstr(b, "py hot_spin") &&
	          strstr(b, "/work/tests/targets/tui_hot.py:42") && strstr(b, "tui_hot"));
	mst_fmt_hot_header(&l, MST_AGG_SORT_OWN, b, sizeof(b));
	ck_assert(strstr(b, "%OWN\u25bc") && strstr(b, "FUNCTION") && strstr(b, "MODULE"));
	ck_assert_int_eq(mst_fmt_width(b), 120);
	mst_fmt_hot_header(&l, MST_AGG_SORT_NAME, b, sizeof(b));
	ck_assert(strstr(b, "FUNCTION\u25bc") && !strstr(b, "%OWN\u25bc"));
	mst_fmt_hot_layout(120, MST_FIT_ASCII, 0, &l);
	mst_fmt_hot_header(&l, MST_AGG_SORT_TOTAL_NS, b, sizeof(b));
	ck_assert(strstr(b, "TOTALv"));

	/* The function column takes only what its names need. */
	mst_fmt_hot_layout(120, 0, 8, &l);
	ck_assert_int_eq(l.fn_w, 16);
	mst_fmt_hot_row(&l, &h, &scope, b, sizeof(b));
	ck_assert_int_eq(mst_fmt_width(b), 120);

	/* Narrower: the module goes, then the times, then file:line; the
	 * function is always there. */
	int last_fn = 1 << 30;
	for (int cols = 120; cols >= 39; cols--) {
		mst_fmt_hot_layout(cols, 0, 0, &l);
		mst_fmt_hot_row(&l, &h, &scope, b, sizeof(b));
		ck_assert_int_eq(mst_fmt_width(b), cols);
		ck_assert_msg(strstr(b, "hot_spin") != NULL, "cols %d: '%s'", cols, b);
		ck_assert_msg(!l.module || l.file, "module without file at %d", cols);
		ck_assert(l.fn_w <= last_fn || l.fn_w >= 16);
		last_fn = l.fn_w;
	}
	mst_fmt_hot_layout(60, 0, 0, &l);
	ck_assert(!l.module);
	mst_fmt_hot_layout(40, 0, 0, &l);
	ck_assert(!l.module && !l.own_ns && !l.file);
}
END_TEST

START_TEST(thread_rows)
{
	utf8_locale();
	char b[1024];
	struct mst_fmt_thread_layout l;
	struct mst_agg_thread t = {0};
	t.tid = 4321;
	snprintf(t.name, sizeof(t.name), "%s", "worker-ä1");
	t.state = MST_TS_RUNNING | MST_TS_HOLDS_GIL | MST_TS_PYTHON;
	t.active_pct = 97.5;
	t.gil_pct = 50;
	t.gil_wait_pct = 12.25;
	t.gc_pct = 0.01;
	struct mst_agg_frame top =
	    frame(MST_AGG_PYTHON, "hot_spin", "/work/tests/targets/tui_hot.py", 42, "tui_hot");

	mst_fmt_thread_layout(110, 0, &l);
	ck_assert(l.gil && l.wait && l.gc && l.top_w > 0);
	mst_fmt_thread_header(&l, b, sizeof(b));
	ck_assert(strstr(b, "TID") && strstr(b, "NAME") && strstr(b, "WAIT%") &&
	          strstr(b, "TOP FRAME"));
	mst_fmt_thread_row(&l, &t, &top, NULL, b, sizeof(b));
	ck_assert_int_eq(mst_fmt_width(b), 110);
	ck_assert_msg(strstr(b, "   4321 worker-ä1") && strstr(b, "GIL") && strstr(b, "97.5%") &&
	                  strstr(b, "50.0%") && strstr(b, "12.2%") && strstr(b, "<0.1%") &&
	                  strstr(b, "hot_spin  /work/tests/targets/tui_hot.py:42"),
	              "'%s'", b);
	/* Without a top frame: "-". */
	mst_fmt_thread_row(&l, &t, NULL, NULL, b, sizeof(b));
	ck_assert_int_eq(mst_fmt_width(b), 110);

	for (int cols = 100; cols >= 39; cols--) {
		mst_fmt_thread_layout(cols, 0, &l);
		mst_fmt_thread_row(&l, &t, &top, NULL, b, sizeof(b));
		ck_assert_int_le(mst_fmt_width(b), cols);
		ck_assert_msg(strstr(b, "4321") && strstr(b, "97.5%"), "cols %d: '%s'", cols, b);
		char h[1024];
		mst_fmt_thread_header(&l, h, sizeof(h));
		ck_assert_int_eq(mst_fmt_width(h), mst_fmt_width(b));
	}
	mst_fmt_thread_layout(60, 0, &l);
	ck_assert(!l.gc && !l.wait);
}
END_TEST

START_TEST(stack_and_tree_rows)
{
	utf8_locale();
	char b[1024];
	struct mst_agg_frame f =
	    frame(MST_AGG_PYTHON, "hot_spin", "/work/tests/targets/tui_hot.py", 42, "tui_hot");
	mst_fmt_stack_row(100, 0, 3, &f, b, sizeof(b));
	ck_assert_int_eq(mst_fmt_width(b), 100);
	ck_assert(strstr(b, "  #3 py hot_spin  /work/tests/targets/tui_hot.py:42") == b);
	ck_assert(strstr(b, "tui_hot") != NULL);

	mst_fmt_tree_row(80, 0, 2, true, false, 75.0, 5.0, &f, b, sizeof(b));
	ck_assert_int_eq(mst_fmt_width(b), 80);
	ck_assert(strstr(b, " 75.0%   5.0%     \u25b8 py hot_spin") == b);
	mst_fmt_tree_row(80, MST_FIT_ASCII, 0, true, true, 100, 0, &f, b, sizeof(b));
	ck_assert(strstr(b, "  100%     0% - py hot_spin") == b);
	mst_fmt_tree_row(80, 0, 1, false, false, 1, 1, NULL, b, sizeof(b));
	ck_assert(strstr(b, "(other)") != NULL);
	/* Deep trees: the name still shows. */
	mst_fmt_tree_row(60, 0, 200, false, false, 1, 1, &f, b, sizeof(b));
	ck_assert_int_eq(mst_fmt_width(b), 60);
	ck_assert(strstr(b, "hot_spin") != NULL);
}
END_TEST

Suite *format_suite(void)
{
	Suite *s = suite_create("format");
	TCase *tc = tcase_create("numbers");
	tcase_add_test(tc, pct);
	tcase_add_test(tc, duration);
	tcase_add_test(tc, count);
	suite_add_tcase(s, tc);
	tc = tcase_create("text");
	tcase_add_test(tc, width_utf8);
	tcase_add_test(tc, fit_right_and_pad);
	tcase_add_test(tc, fit_left_keeps_the_end);
	tcase_add_test(tc, fit_escapes_target_text);
	suite_add_tcase(s, tc);
	tc = tcase_create("frames");
	tcase_add_test(tc, frame_labels);
	tcase_add_test(tc, short_paths);
	tcase_add_test(tc, states);
	suite_add_tcase(s, tc);
	tc = tcase_create("rows");
	tcase_add_test(tc, hot_rows);
	tcase_add_test(tc, thread_rows);
	tcase_add_test(tc, stack_and_tree_rows);
	suite_add_tcase(s, tc);
	return s;
}
