/* msttop --dump --locals on every interpreter, against
 * tests/targets/py_locals.py: every argument and local's repr exactly (the
 * text dump against fixed lines, the JSON against Python's own repr() of
 * the same values, computed by the interpreter under test), the bounds (a
 * 1 MiB str, a 10,000-item dict, a recursive list, nesting), cells and
 * free variables, arguments first; --python-only reads them too; no thread
 * is left held. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../check_main.h"
#include "../harness.h"

#define TARGET "tests/targets/py_locals.py"

/* The lines of frame fn's block in a text dump: from its "(Python) fn at"
 * line to the next frame (malloc'd), or NULL. The first such frame (the
 * outermost of a recursion), or the last one (the innermost) when last. */
static char *frame_block_at(const char *out, const char *fn, bool last)
{
	char head[128];
	snprintf(head, sizeof(head), "    (Python) %s at ", fn);
	const char *s = strstr(out, head);
	if (!s)
		return NULL;
	for (const char *n; last && (n = strstr(s + 1, head));)
		s = n;
	const char *e = s + strlen(head);
	const char *py = strstr(e, "\n    (Python) "), *c = strstr(e, "\n    (C) ");
	if (!py || (c && c < py))
		py = c;
	return strndup(s, py ? (size_t)(py - s) + 1 : strlen(s));
}

static char *frame_block(const char *out, const char *fn)
{
	return frame_block_at(out, fn, false);
}

/* Whether block has the whole line "            want" (a local's), and
 * under which header: 1 Arguments, 2 Locals, 0 missing. */
static int local_line(const char *block, const char *want)
{
	char line[2048];
	snprintf(line, sizeof(line), "\n            %s\n", want);
	const char *p = strstr(block, line);
	if (!p)
		return 0;
	const char *args = strstr(block, "\n        Arguments:\n");
	const char *locs = strstr(block, "\n        Locals:\n");
	if (locs && p > locs)
		return 2;
	return args && p > args ? 1 : 0;
}

struct want {
	const char *line;
	int section; /* 1 Arguments, 2 Locals */
};

/* What py_locals.py's frames hold, as the text dump shows them. */
static const struct want holder_lines[] = {
    {"a = 1", 1},
    {"b = 2", 1},
    {"args = (3, 4)", 1},
    {"kwargs = {'key': 'v'}", 1},
    {"small = 42", 2},
    {"negative = -7", 2},
    {"zero = 0", 2},
    {"big = 123456789012345678901234567890", 2},
    {"bigneg = -1267650600228229401496703205376", 2},
    {"big_pad = 1000000000000000000000000000007", 2},
    {"flt = 0.1", 2},
    {"flt_exp = 1e-07", 2},
    {"flt_big = 1e+22", 2},
    {"flt_int = -2.0", 2},
    {"yes = True", 2},
    {"no = False", 2},
    {"nothing = None", 2},
    {"ascii_s = 'it\\'s \"quoted\"'", 2},
    {"uni = 'h\xc3\xa9llo \xe2\x98\x83 \xe6\x97\xa5\xe6\x9c\xac'", 2},
    {"ctrl = 'tab\\there\\nbell\\x07esc\\x1b[31m\\\\'", 2},
    {"raw = b\"\\x00bytes\\xff'\"", 2},
    {"tup = (1, 'two', 3.5)", 2},
    {"one = (None,)", 2},
    {"empty = ()", 2},
    {"nested = [1, [2, [3, [4, [\xe2\x80\xa6]]]]] (2 items)", 2},
    {"dct = {'k': 1, 2: [b'v']}", 2},
    {"rec = [[...]]", 2},
    {"bigdict = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 9: 9, \xe2\x80\xa6} "
     "(10000 items)",
     2},
    {"gr\xc3\xb6\xc3\x9f"
     "e = 5",
     2},
};

static const struct want outer_lines[] = {
    {"arg_cell = 'shared arg' (cell)", 1},
    {"cellv = 'in a cell' (cell)", 2},
};

static const struct want inner_lines[] = {
    {"x = 10", 1},
    {"y = 11", 2},
    {"cellv = 'in a cell' (free)", 2},
    {"arg_cell = 'shared arg' (free)", 2},
};

static void check_lines(const char *block, const char *fn, const struct want *w, size_t n,
                        char *why, size_t len)
{
	for (size_t i = 0; i < n && !why[0]; i++) {
		int sec = local_line(block, w[i].line);
		if (sec != w[i].section)
			snprintf(why, len, "%s: \"%s\" %s", fn, w[i].line,
			         sec ? "under the wrong header" : "missing");
	}
}

/* The checks of one text dump; why says the first failure. */
static void check_text(const char *out, char *why, size_t len)
{
	char *holder = frame_block(out, "holder");
	char *outer = frame_block(out, "outer");
	char *inner = frame_block(out, "outer.<locals>.inner");
	if (!inner)
		inner = frame_block(out, "inner"); /* 3.6-3.10: no qualified names */
	if (!holder || !outer || !inner) {
		snprintf(why, len, "a frame is missing (holder %d, outer %d, inner %d)", !!holder,
		         !!outer, !!inner);
		goto out;
	}
	check_lines(holder, "holder", holder_lines, sizeof(holder_lines) / sizeof(holder_lines[0]),
	            why, len);
	check_lines(outer, "outer", outer_lines, sizeof(outer_lines) / sizeof(outer_lines[0]), why,
	            len);
	check_lines(inner, "inner", inner_lines, sizeof(inner_lines) / sizeof(inner_lines[0]), why,
	            len);
	if (!why[0] && !strstr(holder, "\n            obj = <Custom at 0x"))
		snprintf(why, len, "holder: obj is not <Custom at 0x...>");
	/* The 1 MiB str: its first 200 characters, an ellipsis, its length. */
	if (!why[0]) {
		char want[512] = "huge = '";
		memset(want + 8, 'x', 200);
		snprintf(want + 208, sizeof(want) - 208, "\xe2\x80\xa6' (1048576 chars)");
		if (local_line(holder, want) != 2)
			snprintf(why, len, "holder: the 1 MiB str is not cut at 200 characters");
	}
	/* A local deleted before the call is unbound: not shown. */
	if (!why[0] && strstr(outer, "unbound_later"))
		snprintf(why, len, "outer: the unbound local is shown");
	/* 301 locals (ready, v0...v299): the first 256 shown, the rest counted. */
	if (!why[0]) {
		char *wide = frame_block(out, "many_locals");
		if (!wide || local_line(wide, "v0 = 0") != 2 ||
		    local_line(wide, "v254 = 254") != 2 || strstr(wide, "v255 = ") ||
		    !strstr(wide, "\n        (45 more locals not shown)\n"))
			snprintf(why, len, "many_locals: not ready, v0-v254 and 45 more");
		free(wide);
	}
	/* 600 frames of 8 KiB of locals: past 4 MiB, the outer frames say so;
	 * the innermost has them. */
	if (!why[0]) {
		char *d = frame_block_at(out, "deep", true);
		const char *budget = "(locals not read: this thread's locals reached 4 MiB)";
		if (!strstr(out, budget) || !d || strstr(d, budget) ||
		    !strstr(d, "\n            n = "))
			snprintf(why, len, "deep: the 4 MiB bound is not applied (or too early)");
		free(d);
	}
	/* Arguments come first. */
	if (!why[0] && !(strstr(holder, "Arguments:") < strstr(holder, "Locals:")))
		snprintf(why, len, "holder: Locals before Arguments");
	/* Every line of the dump stays bounded (a repr is at most 1 KiB). */
	for (const char *p = out; !why[0] && *p;) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);
		if (l > 1200)
			snprintf(why, len, "a %zu-byte line: %.80s", l, p);
		p += l + (nl ? 1 : 0);
	}
out:
	free(holder);
	free(outer);
	free(inner);
}

/* The JSON, checked by the interpreter under test: every repr equals
 * Python's own repr() of the same value, where no bound applies. */
static const char json_check[] =
    "import json, sys\n"
    "d = json.load(open(sys.argv[1], encoding='utf-8'))\n"
    "fr = {}\n"
    "for t in d['threads']:\n"
    "    for f in t['frames']:\n"
    "        if f['kind'] == 'python':\n"
    "            assert isinstance(f['locals'], list), f\n"
    "            assert f['locals_error'] is None or t['name'] == 'deep', f\n"
    "            fr[f['function'].split('.')[-1]] = f['locals']\n"
    "class Custom(object): pass\n"
    "vals = [('a', 1), ('b', 2), ('args', (3, 4)), ('kwargs', {'key': 'v'}),\n"
    "  ('small', 42), ('negative', -7), ('zero', 0),\n"
    "  ('big', 123456789012345678901234567890), ('bigneg', -(2 ** 100)),\n"
    "  ('big_pad', 10 ** 30 + 7),\n"
    "  ('flt', 0.1), ('flt_exp', 1e-07), ('flt_big', 1e22), ('flt_int', -2.0),\n"
    "  ('floats', [1 / 3.0, 1e16, 1e15, 123456789.0, 5e-324, 1.7976931348623157e308, -0.0,\n"
    "    float('inf'), float('-inf'), float('nan')]), ('hugeint', None),\n"
    "  ('yes', True), ('no', False), ('nothing', None),\n"
    "  ('ascii_s', \"it's \\\"quoted\\\"\"), ('uni', 'h\\u00e9llo \\u2603 \\u65e5\\u672c'),\n"
    "  ('unprintable', '\\u00a0\\u00ad\\u200b\\u202e\\ud800x\\U0001F600\\u0085\\u3000'),\n"
    "  ('ctrl', 'tab\\there\\nbell\\x07esc\\x1b[31m\\\\'),\n"
    "  ('huge', None), ('raw', b\"\\x00bytes\\xff'\"), ('tup', (1, 'two', 3.5)),\n"
    "  ('one', (None,)), ('empty', ()), ('nested', None), ('dct', {'k': 1, 2: [b'v']}),\n"
    "  ('rec', None), ('bigdict', None), ('obj', None), ('gr\\u00f6\\u00dfe', 5)]\n"
    "rec = []\n"
    "rec.append(rec)\n"
    "loc = fr['holder']\n"
    "names = [l['name'] for l in loc]\n"
    "assert names == [n for n, v in vals], names\n"
    "by = dict((l['name'], l) for l in loc)\n"
    "for n, v in vals:\n"
    "    l = by[n]\n"
    "    assert l['kind'] == ('arg' if n in ('a', 'b', 'args', 'kwargs') else 'local'), l\n"
    "    if v is not None or n == 'nothing':\n"
    "        assert l['repr'] == repr(v), (l, repr(v))\n"
    "        assert l['type'] == type(v).__name__, (l, type(v).__name__)\n"
    "        assert l['truncated'] is False, l\n"
    "assert by['rec']['repr'] == repr(rec), by['rec']\n"
    "h = by['huge']\n"
    "assert h['repr'] == \"'\" + 'x' * 200 + '\\u2026\\'' and h['length'] == 1 << 20 and "
    "h['truncated'], h\n"
    "hi = by['hugeint']\n"
    "assert hi['repr'] == '1' + '0' * 1020 + '\\u2026' and hi['truncated'], hi\n"
    "b = by['bigdict']\n"
    "assert b['repr'] == '{' + ', '.join('%d: %d' % (i, i) for i in range(10)) + ', \\u2026}', b\n"
    "assert b['length'] == 10000 and b['truncated'] and b['type'] == 'dict', b\n"
    "assert by['nested']['repr'] == '[1, [2, [3, [4, [\\u2026]]]]]', by['nested']\n"
    "assert by['obj']['repr'].startswith('<Custom at 0x') and by['obj']['type'] == 'Custom'\n"
    "assert by['obj']['repr'] == '<Custom at %s>' % by['obj']['address'], by['obj']\n"
    "o = dict((l['name'], l) for l in fr['outer'])\n"
    "assert o['arg_cell']['kind'] == 'arg' and o['arg_cell']['cell'], o\n"
    "assert o['cellv']['kind'] == 'cell' and o['cellv']['repr'] == \"'in a cell'\", o\n"
    "assert 'unbound_later' not in o, o\n"
    "i = dict((l['name'], l) for l in fr['inner'])\n"
    "assert i['x']['kind'] == 'arg' and i['y']['repr'] == '11', i\n"
    "assert i['cellv']['kind'] == 'free' and i['arg_cell']['kind'] == 'free', i\n"
    "assert i['arg_cell']['repr'] == \"'shared arg'\", i\n"
    "deep = [f for t in d['threads'] if t['name'] == 'deep' for f in t['frames']\n"
    "        if f['kind'] == 'python']\n"
    "assert deep[0]['locals_error'] == \"this thread's locals reached 4 MiB\", deep[0]\n"
    "assert deep[-1]['locals_error'] is None and deep[-1]['locals'][0]['repr'] == '1', deep[-1]\n"
    "print('json ok')\n";

static void check_json(const struct mst_interp *py, const char *json, char *why, size_t len)
{
	char path[] = "/tmp/mst-locals-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) {
		snprintf(why, len, "mkstemp failed");
		return;
	}
	size_t n = strlen(json);
	bool wrote = write(fd, json, n) == (ssize_t)n;
	close(fd);
	char *argv[] = {(char *)py->path, "-c", (char *)json_check, path, NULL};
	char *out = NULL, *err = NULL;
	int st = wrote ? mst_run(argv, 60000, &out, &err) : -1;
	if (mst_exit_code(st) != 0 || !out || !strstr(out, "json ok"))
		snprintf(why, len, "the JSON check failed: %.1000s", err ? err : "(no output)");
	free(out);
	free(err);
	unlink(path);
}

START_TEST(dump_locals)
{
	const struct mst_interp *in;
	size_t n = mst_test_interps(&in);
	ck_assert_msg((size_t)_i < n, "no interpreter");
	const struct mst_interp *py = &in[_i];
	struct mst_child t;
	ck_assert_msg(mst_child_start_py(&t, py, TARGET, NULL, 60000) == 0,
	              "py_locals did not start under %s", py->label);
	mst_wait_all_sleeping(t.pid, 10000);
	char why[2048] = "";
	int code = -1, jcode = -1, pcode = -1;
	char *out = mst_msttop_dump(t.pid, "--locals", NULL, NULL, &code);
	char *json = mst_msttop_dump(t.pid, "--locals", "--json", NULL, &jcode);
	/* Without stopping any thread: the target sleeps, so the same values. */
	char *pyonly = mst_msttop_dump(t.pid, "--locals", "--python-only", NULL, &pcode);
	if (code || jcode || pcode || !out || !json || !pyonly)
		snprintf(why, sizeof(why), "exit codes %d %d %d", code, jcode, pcode);
	if (!why[0])
		check_text(out, why, sizeof(why));
	if (!why[0]) {
		check_text(pyonly, why, sizeof(why));
		if (why[0]) {
			char w[sizeof(why)];
			snprintf(w, sizeof(w), "--python-only: %s", why);
			snprintf(why, sizeof(why), "%s", w);
		}
	}
	if (!why[0])
		check_json(py, json, why, sizeof(why));
	/* Without --locals, the dump shows none. */
	if (!why[0]) {
		int c2 = -1;
		char *plain = mst_msttop_dump(t.pid, "--json", NULL, NULL, &c2);
		if (c2 || !plain || strstr(plain, "\"locals\""))
			snprintf(why, sizeof(why), "a dump without --locals has locals (exit %d)",
			         c2);
		free(plain);
	}
	MST_ASSERT_FREE(t.pid);
	mst_child_stop(&t);
	printf("RESULT %s locals %s\n", py->label, !why[0] ? "ok" : "FAIL");
	ck_assert_msg(!why[0], "%s: %s\n%.2000s", py->label, why, out ? out : "");
	free(out);
	free(json);
	free(pyonly);
}
END_TEST

/* --locals without --dump: a usage error, said on one line. */
START_TEST(locals_needs_dump)
{
	char *bin = mst_build_path("msttop");
	char *argv[] = {bin, "--locals", "-p", "1", NULL};
	char *out = NULL, *err = NULL;
	int code = mst_exit_code(mst_run(argv, 20000, &out, &err));
	ck_assert_int_eq(code, 2);
	ck_assert_msg(err && strstr(err, "--locals goes with --dump") && strchr(err, '\n') &&
	                  !strchr(strchr(err, '\n') + 1, '\n'),
	              "stderr: %s", err ? err : "");
	free(out);
	free(err);
	free(bin);
}
END_TEST

static Suite *locals_suite(void)
{
	const struct mst_interp *in;
	size_t n = mst_test_interps(&in);
	Suite *s = suite_create("locals");
	TCase *tc = tcase_create("dump");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, dump_locals, 0, n ? (int)n : 1);
	tcase_add_test(tc, locals_needs_dump);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mst_check_main(locals_suite(), NULL, 0);
}
