/* The merge on synthetic stacks, and the escaping of target text. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "msttop/merge.h"
#include "msttop/stack.h"
#include "msttop/symbols.h"
#include "msttop/text.h"

Suite *merge_suite(void);

#define N MST_NK_OTHER
#define E MST_NK_EVAL
#define I MST_NK_INTERP

/* Render a merge as a compact string: "N0 I1 P0 e2 ..." where P/p is a
 * Python frame (p unmatched), N/I/E a shown native frame by kind, lower case
 * n/i/e a folded one and X an unmatched eval frame. */
static void render_chain(const uint8_t *nk, size_t nn, const bool *entry, size_t np, bool py_whole,
                         char *buf, size_t len)
{
	struct mst_mframe out[64];
	size_t n;
	mst_merge(nk, nn, entry, np, py_whole, out, 64, &n);
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		char c;
		if (out[i].kind == MST_MF_PYTHON) {
			c = out[i].flags & MST_MF_UNMATCHED ? 'p' : 'P';
		} else {
			uint8_t k = nk[out[i].index];
			c = k == E ? 'E' : k == I ? 'I' : 'N';
			if (out[i].flags & MST_MF_FOLDED)
				c = (char)(c - 'A' + 'a');
			if (out[i].flags & MST_MF_UNMATCHED)
				c = 'X';
		}
		size_t l = strlen(buf);
		snprintf(buf + l, len - l, "%s%c%u", i ? " " : "", c, out[i].index);
	}
}

/* The same, for a Python chain read whole. */
static void render(const uint8_t *nk, size_t nn, const bool *entry, size_t np, char *buf,
                   size_t len)
{
	render_chain(nk, nn, entry, np, true, buf, len);
}

START_TEST(merge_one_frame_per_eval)
{
	/* 3.6-3.10: time.sleep under f under g under main. */
	const uint8_t nk[] = {N, I, E, I, E, I, N};
	const bool entry[] = {true, true};
	char buf[256];
	render(nk, 7, entry, 2, buf, sizeof(buf));
	ck_assert_str_eq(buf, "N0 I1 P0 e2 i3 P1 e4 I5 N6");
}
END_TEST

START_TEST(merge_runs)
{
	/* 3.11+: a and b run in one eval activation, c in another. */
	const uint8_t nk[] = {E, I, E};
	const bool entry[] = {false, true, true};
	char buf[256];
	render(nk, 3, entry, 3, buf, sizeof(buf));
	ck_assert_str_eq(buf, "P0 P1 e0 i1 P2 e2");
}
END_TEST

START_TEST(merge_more_eval_than_python)
{
	/* The innermost eval frame has unlinked its frame and is returning
	 * (or has not linked it yet): with the whole chain read, the run is
	 * its caller's, and it stands as an interpreter frame. */
	const uint8_t nk[] = {I, E, N, E, N};
	const bool entry[] = {true};
	char buf[256];
	render(nk, 5, entry, 1, buf, sizeof(buf));
	ck_assert_str_eq(buf, "I0 E1 N2 P0 e3 N4");
	/* 3.11+: two runs (a b | c) and three eval frames. */
	const uint8_t nk3[] = {E, N, E, I, E};
	const bool entry3[] = {false, true, true};
	render(nk3, 5, entry3, 3, buf, sizeof(buf));
	ck_assert_str_eq(buf, "E0 N1 P0 P1 e2 i3 P2 e4");
	/* A chain cut short (too deep, or a read failed): which eval frames
	 * lost their run is unknown; runs match from the innermost end. */
	render_chain(nk, 5, entry, 1, false, buf, sizeof(buf));
	ck_assert_str_eq(buf, "I0 P0 e1 N2 X3 N4");
}
END_TEST

START_TEST(merge_more_python_than_eval)
{
	/* The native walk stopped early: leftover Python frames are kept. */
	const uint8_t nk[] = {N, E};
	const bool entry[] = {true, true, true};
	char buf[256];
	render(nk, 2, entry, 3, buf, sizeof(buf));
	ck_assert_str_eq(buf, "N0 P0 e1 p1 p2");
}
END_TEST

START_TEST(merge_qsort_callback)
{
	/* Python outer -> ctypes -> libc qsort -> ffi closure -> Python cmp
	 * -> time.sleep. Interpreter frames next to C frames stay visible;
	 * only those between two Python frames fold. */
	const uint8_t nk[] = {N, I, E, I, N, N, N, N, I, E, I, N};
	const bool entry[] = {true, true};
	char buf[256];
	render(nk, 12, entry, 2, buf, sizeof(buf));
	ck_assert_str_eq(buf, "N0 I1 P0 e2 I3 N4 N5 N6 N7 I8 P1 e9 I10 N11");
}
END_TEST

START_TEST(merge_no_python)
{
	const uint8_t nk[] = {N, N};
	char buf[256];
	render(nk, 2, NULL, 0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "N0 N1");
	/* Python frames but no native stack at all (--python-only). */
	const bool entry[] = {false, true};
	render(nk, 0, entry, 2, buf, sizeof(buf));
	ck_assert_str_eq(buf, "p0 p1");
}
END_TEST

START_TEST(merge_bounded_output)
{
	const uint8_t nk[] = {N, E, N, E};
	const bool entry[] = {true, true};
	struct mst_mframe out[3];
	size_t n;
	mst_merge(nk, 4, entry, 2, true, out, 3, &n);
	ck_assert_uint_eq(n, 3);
}
END_TEST

/* The stack of a synthetic thread, without symbols: merged innermost first,
 * natives labelled "??", flags kept; Python alone clears them. Rendered as
 * in render() with the label of each native frame. */
static void render_stack(const struct mst_stack *st, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < st->n; i++) {
		const struct mst_frame *f = &st->v[i];
		size_t l = strlen(buf);
		snprintf(buf + l, len - l, "%s%s%s%s", i ? " " : "", f->py ? f->py->func : f->label,
		         f->flags & MST_MF_FOLDED ? "+f" : "",
		         f->flags & MST_MF_UNMATCHED ? "+u" : "");
	}
}

START_TEST(stack_without_symbols)
{
	uint64_t pcs[] = {0x1000, 0x2000, 0x3000, 0x4000};
	uint8_t nk[] = {N, E, I, E};
	struct mst_py_frame py[] = {{.func = "leaf", .entry = true},
	                            {.func = "main", .entry = true},
	                            {.func = "extra", .entry = true}};
	struct mst_thread_snap t = {.pcs = pcs, .npcs = 4, .nkinds = nk, .py = py, .npy = 3};
	struct mst_stack st = {0};
	char buf[256];
	ck_assert_int_eq(mst_stack_build(&st, &t, NULL, MST_STACK_NATIVE), 0);
	render_stack(&st, buf, sizeof(buf));
	/* Two eval frames for three Python frames: the outermost is kept and
	 * marked, nothing is lost. */
	ck_assert_str_eq(buf, "?? leaf ??+f ??+f main ??+f extra+u");
	ck_assert_uint_eq(st.v[0].pc, 0x1000);
	ck_assert(!st.v[0].resolved);
	/* Built again into the same stack: the same, and Python alone. */
	ck_assert_int_eq(mst_stack_build(&st, &t, NULL, MST_STACK_NATIVE), 0);
	render_stack(&st, buf, sizeof(buf));
	ck_assert_str_eq(buf, "?? leaf ??+f ??+f main ??+f extra+u");
	ck_assert_int_eq(mst_stack_build(&st, &t, NULL, 0), 0);
	render_stack(&st, buf, sizeof(buf));
	ck_assert_str_eq(buf, "leaf main extra");
	mst_stack_fini(&st);
}
END_TEST

/* A module without symbols labels its frames "module+0xoffset", as
 * snprintf's "%s+0x%lx" would, cut to the label's room. */
START_TEST(stack_labels_module_offsets)
{
	char name[200], maps[400];
	memset(name, 'm', sizeof(name) - 4);
	memcpy(name + sizeof(name) - 4, ".so", 4);
	snprintf(maps, sizeof(maps),
	         "7f0000000000-7f0000100000 r-xp 00000000 fe:01 11 /nonexistent/libfoo.so\n"
	         "7f0000200000-7f0000300000 r-xp 00000000 fe:01 12 /nonexistent/%s\n",
	         name);
	struct mst_symbols *sym;
	struct mst_err e = {0};
	ck_assert_int_eq(mst_symbols_open_maps(maps, &sym, &e), 0);
	/* The offset of each pc, a return address or not. */
	uint64_t pcs[] = {0x7f0000000000, 0x7f0000001abd, 0x7f00000fffff, 0x7f0000200011};
	uint8_t nk[] = {N, N, N, N};
	struct mst_thread_snap t = {.pcs = pcs, .npcs = 4, .nkinds = nk};
	struct mst_stack st = {0};
	ck_assert_int_eq(mst_stack_build(&st, &t, sym, MST_STACK_NATIVE), 0);
	ck_assert_uint_eq(st.n, 4);
	char want[96];
	ck_assert_str_eq(st.v[0].label, "libfoo.so+0x0");
	ck_assert_str_eq(st.v[1].label, "libfoo.so+0x1abd");
	ck_assert_str_eq(st.v[2].label, "libfoo.so+0xfffff");
	snprintf(want, sizeof(want), "%s+0x%x", name, 0x10);
	ck_assert_str_eq(st.v[3].label, want);
	ck_assert_uint_eq(strlen(st.v[3].label), sizeof(want) - 1);
	mst_stack_fini(&st);
	mst_symbols_close(sym);
}
END_TEST

START_TEST(text_escapes)
{
	char out[128];
	ck_assert_str_eq(mst_text_escape("plain_name", out, sizeof(out)), "plain_name");
	ck_assert_str_eq(mst_text_escape("gr\xc3\xbc\xc3\x9f"
	                                 "e",
	                                 out, sizeof(out)),
	                 "gr\xc3\xbc\xc3\x9f"
	                 "e");
	ck_assert_str_eq(mst_text_escape("a\x1b[31mb", out, sizeof(out)), "a\\x1b[31mb");
	ck_assert_str_eq(mst_text_escape("tab\tnl\n", out, sizeof(out)), "tab\\x09nl\\x0a");
	ck_assert_str_eq(mst_text_escape("c1\xc2\x9b"
	                                 "x",
	                                 out, sizeof(out)),
	                 "c1\\u009bx");
	ck_assert_str_eq(mst_text_escape("bad\xff", out, sizeof(out)), "bad\\xff");
	/* Cut at a whole character, never in the middle of an escape. */
	char small[6];
	ck_assert_str_eq(mst_text_escape("ab\x1b"
	                                 "cd",
	                                 small, sizeof(small)),
	                 "ab");
	ck_assert_str_eq(mst_text_escape(NULL, out, sizeof(out)), "");
}
END_TEST

START_TEST(json_escapes)
{
	char buf[256] = "";
	FILE *f = fmemopen(buf, sizeof(buf), "w");
	mst_json_string(f, "q\"b\\s\x1b\n\xc3\xa4\xff");
	fclose(f);
	ck_assert_str_eq(buf, "q\\\"b\\\\s\\u001b\\n\xc3\xa4\\u00ff");
}
END_TEST

Suite *merge_suite(void)
{
	Suite *s = suite_create("merge");
	TCase *tc = tcase_create("merge");
	tcase_add_test(tc, merge_one_frame_per_eval);
	tcase_add_test(tc, merge_runs);
	tcase_add_test(tc, merge_more_eval_than_python);
	tcase_add_test(tc, merge_more_python_than_eval);
	tcase_add_test(tc, merge_qsort_callback);
	tcase_add_test(tc, merge_no_python);
	tcase_add_test(tc, merge_bounded_output);
	tcase_add_test(tc, stack_without_symbols);
	tcase_add_test(tc, stack_labels_module_offsets);
	suite_add_tcase(s, tc);
	tc = tcase_create("text");
	tcase_add_test(tc, text_escapes);
	tcase_add_test(tc, json_escapes);
	suite_add_tcase(s, tc);
	return s;
}
