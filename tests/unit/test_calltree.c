/* The call-tree model of the thread screen (calltree.h) on synthetic
 * stacks: row order, auto-open of the hottest path once, open and close,
 * rows merged across the frames a view hides, and forgetting. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "agg_fixture.h"
#include "msttop/calltree.h"

Suite *calltree_suite(void);

static const struct mst_agg_frame_in A = {MST_AGG_PYTHON, false, false, 1, "a", "t.py", "t"};
static const struct mst_agg_frame_in B = {MST_AGG_PYTHON, false, false, 2, "b", "t.py", "t"};
static const struct mst_agg_frame_in C = {MST_AGG_PYTHON, false, false, 3, "c", "t.py", "t"};
static const struct mst_agg_frame_in D = {MST_AGG_PYTHON, false, false, 4, "d", "t.py", "t"};
/* An interpreter frame the folded view hides. */
static const struct mst_agg_frame_in X = {MST_AGG_NATIVE, false, true, 0, "x", NULL, "libpython"};

/* The rows as "name:depth:total[+|-]" (+ open, - closed with children). */
static void render(struct mst_agg *a, const struct mst_calltree *ct, char *buf, size_t len)
{
	buf[0] = '\0';
	for (size_t i = 0; i < ct->n; i++) {
		const struct mst_calltree_row *r = &ct->rows[i];
		struct mst_agg_frame f;
		const char *name = mst_agg_frame(a, ct->mode, r->frame, &f) == 0 ? f.function : "?";
		size_t l = strlen(buf);
		snprintf(buf + l, len - l, "%s%s:%d:%llu%s", i ? " " : "", name, r->depth,
		         (unsigned long long)r->total_samples,
		         r->has_children ? (r->expanded ? "+" : "-") : "");
	}
}

static const struct mst_calltree_row *row_of(struct mst_agg *a, const struct mst_calltree *ct,
                                             const char *name)
{
	for (size_t i = 0; i < ct->n; i++) {
		struct mst_agg_frame f;
		if (mst_agg_frame(a, ct->mode, ct->rows[i].frame, &f) == 0 &&
		    !strcmp(f.function, name))
			return &ct->rows[i];
	}
	return NULL;
}

START_TEST(calltree_rows_and_opening)
{
	struct mst_agg *a = agg_new(NULL);
	/* Innermost first: a -> b -> c three times, a -> d once. */
	const struct mst_agg_frame_in abc[] = {C, B, A}, ad[] = {D, A};
	uint64_t t = SEC;
	for (int i = 0; i < 3; i++, t += 10 * MS)
		tick1(a, t, 10 * MS, 7, MST_TS_RUNNING, abc, 3);
	tick1(a, t, 10 * MS, 7, MST_TS_RUNNING, ad, 2);
	struct mst_calltree ct = {0};
	char buf[512];
	mst_calltree_build(&ct, a, 7, MST_AGG_BY_LINE, MST_AGG_VIEW_ALL);
	render(a, &ct, buf, sizeof(buf));
	/* The hottest path opened by itself; children by total. */
	ck_assert_str_eq(buf, "a:0:4+ b:1:3+ c:2:3 d:1:1");
	/* Closed, it stays closed; the auto-open happens once only. */
	mst_calltree_set_expanded(&ct, row_of(a, &ct, "a")->path, false);
	mst_calltree_build(&ct, a, 7, MST_AGG_BY_LINE, MST_AGG_VIEW_ALL);
	render(a, &ct, buf, sizeof(buf));
	ck_assert_str_eq(buf, "a:0:4-");
	/* Reopened: b is still open below it. */
	mst_calltree_set_expanded(&ct, row_of(a, &ct, "a")->path, true);
	mst_calltree_build(&ct, a, 7, MST_AGG_BY_LINE, MST_AGG_VIEW_ALL);
	render(a, &ct, buf, sizeof(buf));
	ck_assert_str_eq(buf, "a:0:4+ b:1:3+ c:2:3 d:1:1");
	/* Another thread: nothing open is carried over, and it has no tree. */
	mst_calltree_build(&ct, a, 8, MST_AGG_BY_LINE, MST_AGG_VIEW_ALL);
	ck_assert_uint_eq(ct.n, 0);
	mst_calltree_free(&ct);
	mst_agg_free(a);
}
END_TEST

START_TEST(calltree_hidden_frames)
{
	struct mst_agg *a = agg_new(NULL);
	/* a -> x (an interpreter frame) -> b, and a -> x -> c. */
	const struct mst_agg_frame_in axb[] = {B, X, A}, axc[] = {C, X, A};
	tick1(a, SEC, 10 * MS, 7, MST_TS_RUNNING, axb, 3);
	tick1(a, SEC + 10 * MS, 10 * MS, 7, MST_TS_RUNNING, axb, 3);
	tick1(a, SEC + 20 * MS, 10 * MS, 7, MST_TS_RUNNING, axc, 3);
	struct mst_calltree ct = {0};
	char buf[512];
	mst_calltree_build(&ct, a, 7, MST_AGG_BY_LINE, MST_AGG_VIEW_ALL);
	render(a, &ct, buf, sizeof(buf));
	ck_assert_str_eq(buf, "a:0:3+ x:1:3+ b:2:2 c:2:1");
	/* Folded: x's children stand in its place. */
	struct mst_calltree folded = {0};
	mst_calltree_build(&folded, a, 7, MST_AGG_BY_LINE, MST_AGG_VIEW_FOLDED);
	render(a, &folded, buf, sizeof(buf));
	ck_assert_str_eq(buf, "a:0:3+ b:1:2 c:1:1");
	/* Forgotten: no rows, and the hottest path opens again. */
	mst_calltree_forget(&folded);
	ck_assert_uint_eq(folded.n, 0);
	mst_calltree_build(&folded, a, 7, MST_AGG_BY_LINE, MST_AGG_VIEW_FOLDED);
	render(a, &folded, buf, sizeof(buf));
	ck_assert_str_eq(buf, "a:0:3+ b:1:2 c:1:1");
	mst_calltree_free(&ct);
	mst_calltree_free(&folded);
	mst_agg_free(a);
}
END_TEST

Suite *calltree_suite(void)
{
	Suite *s = suite_create("calltree");
	TCase *tc = tcase_create("calltree");
	tcase_add_test(tc, calltree_rows_and_opening);
	tcase_add_test(tc, calltree_hidden_frames);
	suite_add_tcase(s, tc);
	return s;
}
