/* The agg under long synthetic runs: its memory stays bounded after
 * warm-up whatever the stacks do, and its figures still add up. */
#include <check.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agg_fixture.h"

Suite *agg_bounds_suite(void);

/* ---- soak ---- */

START_TEST(agg_soak_bounded)
{
	/* 100k ticks at 100 Hz (about 17 minutes) over a fixed set of stacks
	 * in three threads: once every stack was seen, nothing grows. */
	struct mst_agg_config cfg = {.max_thread_entries = 64};
	struct mst_agg *a = agg_new(&cfg);
	enum { NF = 12, NS = 16 };
	struct mst_agg_frame_in pool[NF];
	char names[NF][16];
	for (int i = 0; i < NF; i++) {
		snprintf(names[i], sizeof(names[i]), "fn%d", i);
		pool[i] =
		    (struct mst_agg_frame_in){(uint8_t)(i % 3 ? MST_AGG_PYTHON : MST_AGG_NATIVE),
		                              false,
		                              i % 5 == 0,
		                              (uint32_t)(i * 7),
		                              names[i],
		                              "soak.py",
		                              "soak"};
	}
	struct mst_agg_frame_in stacks[NS][8];
	size_t lens[NS];
	for (int s = 0; s < NS; s++) {
		lens[s] = 3 + (size_t)s % 6;
		for (size_t d = 0; d < lens[s]; d++)
			stacks[s][d] = pool[(s * 5 + (int)d * 3) % NF];
	}
	struct mst_agg_stats warm = {0}, s;
	struct mst_err err = {0};
	size_t heap_warm = 0;
	for (int i = 0; i < 100000; i++) {
		struct mst_agg_thread_in th[3];
		for (int k = 0; k < 3; k++) {
			int si = (i * (k + 1) + k) % NS;
			uint32_t st = (uint32_t)((i + k) % 4 == 0 ? MST_TS_HOLDS_GIL : 0) |
			              (uint32_t)((i + k) % 2 ? MST_TS_RUNNING : 0);
			th[k] = (struct mst_agg_thread_in){100 + k, "t", st, stacks[si], lens[si]};
		}
		ck_assert_int_eq(mst_agg_add(a, (uint64_t)i * 10 * MS, 10 * MS, th, 3, &err), 0);
		if (i == 1000) {
			mst_agg_stats(a, &warm);
			heap_warm = mallinfo2().uordblks;
		}
	}
	mst_agg_stats(a, &s);
	ck_assert_uint_eq(s.frames, warm.frames);
	ck_assert_uint_le(s.frames, NF + 1);
	ck_assert_uint_eq(s.funcs, warm.funcs);
	ck_assert_uint_eq(s.strings, warm.strings);
	ck_assert_uint_eq(s.threads, 3);
	ck_assert_uint_eq(s.thread_entries, warm.thread_entries);
	ck_assert_uint_eq(s.tree_nodes, warm.tree_nodes);
	ck_assert_uint_eq(s.ticks, 100000);
	/* Warm ticks allocate nothing: the heap in use has not moved (under
	 * ASan mallinfo2 reports nothing and this holds trivially). */
	ck_assert_uint_eq(mallinfo2().uordblks, heap_warm);

	struct mst_agg_totals t;
	mst_agg_totals(a, MST_AGG_CUMULATIVE, &t);
	ck_assert_uint_eq(t.samples.samples, 300000);
	mst_agg_totals(a, MST_AGG_RECENT, &t);
	ck_assert_uint_eq(t.ticks.samples, 600); /* 5 s and the current second */
	struct mst_agg_node root;
	ck_assert_int_eq(mst_agg_tree_node(a, 101, MST_AGG_BY_FUNC, 0, &root), 0);
	ck_assert_uint_eq(root.total_samples, 100000);
	mst_agg_free(a);
}
END_TEST

START_TEST(agg_soak_new_frames)
{
	/* 200k ticks at 100 Hz (about 33 minutes) in three threads whose
	 * stacks keep showing new lines for the first half: past the caps the
	 * coldest are evicted to make room, memory is bounded by the caps, and
	 * once the recent window only sees what is seen from then on, the heap
	 * does not move. */
	struct mst_agg_config cfg = {
	    .max_frames = 512, .max_thread_entries = 128, .max_tree_nodes = 256};
	struct mst_agg *a = agg_new(&cfg);
	struct mst_err err = {0};
	struct mst_agg_stats warm = {0}, s;
	size_t heap_warm = 0;
	enum { TICKS = 200000, WARM = 100000 };
	for (int i = 0; i < TICKS; i++) {
		struct mst_agg_frame_in fr[3][4];
		struct mst_agg_thread_in th[3];
		for (int k = 0; k < 3; k++) {
			/* A new line every 20 ticks for the first half, then
			 * lines of a 10 s cycle (each evicted and interned
			 * again as the cycle comes round): warm is once the
			 * window has seen that cycle's mix. */
			uint32_t fresh = (uint32_t)(i < WARM ? i / 20 : i % 1000);
			fr[k][0] = (struct mst_agg_frame_in){
			    MST_AGG_PYTHON, false,     false, 1000 + fresh + (uint32_t)k,
			    "leaf",         "soak.py", "soak"};
			fr[k][1] = (struct mst_agg_frame_in){
			    MST_AGG_PYTHON, false,     false, (uint32_t)(i % 5),
			    "mid",          "soak.py", "soak"};
			fr[k][2] = PY_F10;
			fr[k][3] = (struct mst_agg_frame_in){MST_AGG_NATIVE, false,    true,    0,
			                                     "main",         "python", "python"};
			uint32_t st = (uint32_t)(i % 2 ? MST_TS_RUNNING : 0) |
			              (uint32_t)((i + k) % 4 == 0 ? MST_TS_HOLDS_GIL : 0);
			th[k] = (struct mst_agg_thread_in){200 + k, "t", st, fr[k], 4};
		}
		ck_assert_int_eq(mst_agg_add(a, (uint64_t)i * 10 * MS, 10 * MS, th, 3, &err), 0);
		if (i == WARM + 5000) {
			mst_agg_stats(a, &warm);
			heap_warm = mallinfo2().uordblks;
		}
	}
	mst_agg_stats(a, &s);
	ck_assert_uint_le(s.frames, cfg.max_frames);
	ck_assert_uint_gt(s.frames_evicted, 0);
	ck_assert_uint_gt(s.entries_evicted, 0);
	ck_assert_uint_gt(s.nodes_pruned, 0);
	/* Per thread and mode: the capped entries and the overflow one; trees
	 * within their headroom. */
	ck_assert_uint_le(s.thread_entries, 3 * 2 * (cfg.max_thread_entries + 1));
	ck_assert_uint_le(s.tree_nodes, 3 * 2 * (256 + 256 / 8 + 1));
	ck_assert_uint_le(s.bytes, warm.bytes);
#if !defined(__SANITIZE_ADDRESS__)
	/* Flat: nothing allocated after warm-up (ASan's allocator does not
	 * report through mallinfo2, so there the figure means nothing). */
	ck_assert_uint_eq(mallinfo2().uordblks, heap_warm);
#else
	(void)heap_warm;
#endif
	/* The recent window still adds up. */
	struct mst_agg_totals t;
	mst_agg_totals(a, MST_AGG_RECENT, &t);
	ck_assert_uint_eq(t.samples.samples, 3 * 600);
	struct mst_agg_query q = query(0, MST_AGG_RECENT, MST_AGG_BY_FUNC);
	const struct mst_agg_hot *rows;
	size_t n;
	struct mst_agg_count scope;
	hot(a, &q, &rows, &n, &scope);
	ck_assert_uint_eq(find_row(rows, n, "main", 0)->total_samples, 3 * 600);
	mst_agg_free(a);
}
END_TEST

/* Sum of self over the subtree under node (node's own self not included). */
static uint64_t tree_self_sum(struct mst_agg *a, pid_t tid, enum mst_agg_mode m, uint32_t node,
                              uint32_t *frame_ids, uint64_t *frame_totals, size_t nf)
{
	const struct mst_agg_node *rows;
	size_t n;
	struct mst_err err = {0};
	ck_assert_int_eq(mst_agg_tree_children(a, tid, m, node, &rows, &n, &err), 0);
	struct mst_agg_node *copy = malloc(n * sizeof(*copy) + 1);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, rows, n * sizeof(*copy));
	uint64_t sum = 0, kids = 0;
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(copy[i].parent, node);
		kids += copy[i].total_samples;
		for (size_t k = 0; k < nf; k++)
			if (copy[i].frame == frame_ids[k])
				frame_totals[k] += copy[i].total_samples;
		sum += copy[i].self_samples;
		if (copy[i].has_children)
			sum += tree_self_sum(a, tid, m, copy[i].node, frame_ids, frame_totals, nf);
	}
	struct mst_agg_node me;
	ck_assert_int_eq(mst_agg_tree_node(a, tid, m, node, &me), 0);
	ck_assert_uint_eq(me.self_samples + kids, me.total_samples);
	free(copy);
	return sum;
}

START_TEST(agg_memory_bounded)
{
	/* A stream where nearly every sample brings frames never seen before,
	 * as native code sampled at random lines does: four threads, each
	 * stack a fixed outer part, a middle function from a slowly turning
	 * set, and a leaf whose function, file and line are new every tick.
	 * Without the caps frames, strings, entries and tree nodes grow with
	 * every tick (about 300k frames here); with them what the agg holds
	 * is bounded by the configuration and stops growing once the caps are
	 * reached, while counts stay conserved and a stack that gets hot late
	 * still gets rows and nodes of its own. */
	struct mst_agg_config cfg = {
	    .max_frames = 256, .max_thread_entries = 64, .max_tree_nodes = 128};
	struct mst_agg *a = agg_new(&cfg);
	struct mst_err err = {0};
	enum { TICKS = 80000, WARM = 20000, NT = 4, LATE = 2000 };
	static const struct mst_agg_frame_in late = {MST_AGG_NATIVE, false,    false,       77,
	                                             "late_hot",     "late.c", "liblate.so"};
	struct mst_agg_stats s, warm = {0};
	size_t heap_warm = 0, bytes_max = 0;
	for (int i = 0; i < TICKS; i++) {
		char leaf[NT][32], file[NT][32], mid[NT][32];
		struct mst_agg_frame_in fr[NT][5];
		struct mst_agg_thread_in th[NT];
		for (int k = 0; k < NT; k++) {
			snprintf(leaf[k], sizeof(leaf[k]), "leaf_%d_%d", i, k);
			snprintf(file[k], sizeof(file[k]), "gen_%d.c", i / 7);
			snprintf(mid[k], sizeof(mid[k]), "mid_%d", (i / 100 + k) % 40);
			fr[k][0] = (struct mst_agg_frame_in){
			    MST_AGG_NATIVE, i % 3 == 0, false,      (uint32_t)(i % 997),
			    leaf[k],        file[k],    "libgen.so"};
			fr[k][1] = (struct mst_agg_frame_in){
			    MST_AGG_PYTHON, false,    false, (uint32_t)(i % 13),
			    mid[k],         "mid.py", "mid"};
			if (k == 0 && i >= TICKS - LATE) {
				/* One new path from here on in thread 300. */
				fr[k][0] = late;
				fr[k][1].function = "late_mid";
				fr[k][1].line = 1;
			}
			fr[k][2] = PY_G20;
			fr[k][3] = PY_F10;
			fr[k][4] = (struct mst_agg_frame_in){MST_AGG_NATIVE, false,    true,    0,
			                                     "main",         "python", "python"};
			uint32_t st = (uint32_t)(i % 2 ? MST_TS_RUNNING : 0) |
			              (uint32_t)((i + k) % 3 == 0 ? MST_TS_HOLDS_GIL : 0);
			th[k] = (struct mst_agg_thread_in){300 + k, "gen", st, fr[k], 5};
		}
		ck_assert_int_eq(mst_agg_add(a, (uint64_t)i * 10 * MS, 10 * MS, th, NT, &err), 0);
		if (i % 1000 == 999) {
			mst_agg_stats(a, &s);
			ck_assert_uint_le(s.frames, cfg.max_frames);
			ck_assert_uint_le(s.funcs, cfg.max_frames);
			ck_assert_uint_le(s.strings, 6 * cfg.max_frames);
			ck_assert_uint_le(s.thread_entries, NT * 2 * (cfg.max_thread_entries + 1));
			ck_assert_uint_le(s.tree_nodes, NT * 2 * (128 + 128 / 8 + 1));
			/* Rings: at most one per cell and subset counted in
			 * the window, and cells are bounded above. */
			ck_assert_uint_le(s.rings, 3 * 2 * (cfg.max_frames + NT * 65));
			if (i + 1 == WARM) {
				warm = s;
				heap_warm = mallinfo2().uordblks;
			}
			if (i + 1 >= WARM && s.bytes > bytes_max)
				bytes_max = s.bytes;
		}
	}
	mst_agg_stats(a, &s);
	/* New frames come faster than the window lets any go (those counted
	 * in it stay): many are "(other frames)", the rest take the place of
	 * evicted ones. */
	ck_assert_uint_gt(s.frames_over_limit, 0);
	ck_assert_uint_gt(s.frames_evicted, 10000);
	ck_assert_uint_gt(s.entries_evicted, 0);
	ck_assert_uint_gt(s.nodes_pruned, 0);
	/* An absolute bound for this configuration (it holds about 1 MiB),
	 * reached by the end of warm-up: after it, only the number of
	 * interned strings (bounded by the frames) and the spare recent-window
	 * blocks move, by well under a percent. */
	ck_assert_uint_le(bytes_max, 2u << 20);
	ck_assert_uint_le(bytes_max, warm.bytes + warm.bytes / 64);
#if !defined(__SANITIZE_ADDRESS__)
	/* The heap agrees (ASan's allocator does not report through
	 * mallinfo2). */
	ck_assert_uint_le(mallinfo2().uordblks, heap_warm + heap_warm / 64);
#else
	(void)heap_warm;
#endif

	/* Own counts are conserved through every merge; the overflow's total
	 * never exceeds the scope. */
	for (pid_t tid = 0; tid <= 300; tid += 300) {
		for (int m = 0; m < 2; m++) {
			struct mst_agg_query q =
			    query(tid, MST_AGG_CUMULATIVE, (enum mst_agg_mode)m);
			const struct mst_agg_hot *rows;
			size_t n;
			struct mst_agg_count scope;
			hot(a, &q, &rows, &n, &scope);
			ck_assert_uint_eq(scope.samples, tid ? TICKS : NT * TICKS);
			uint64_t own = 0;
			for (size_t r = 0; r < n; r++) {
				own += rows[r].own_samples;
				ck_assert_uint_le(rows[r].total_samples, scope.samples);
			}
			ck_assert_uint_eq(own, scope.samples);
			const struct mst_agg_hot *o = find_row(rows, n, "(other frames)", 0);
			ck_assert_ptr_nonnull(o);
			ck_assert_uint_gt(o->own_samples, 0);
			/* The late hot frame is a row of its own: it may have
			 * found the tables full when it came (counted as
			 * "(other frames)" while room is made, which is
			 * retried once a second), never later. main stays on
			 * every stack. */
			const struct mst_agg_hot *lh = find_row(rows, n, "late_hot", 0);
			ck_assert_ptr_nonnull(lh);
			ck_assert_uint_le(lh->own_samples, LATE);
			ck_assert_uint_ge(lh->own_samples, LATE - 100);
			ck_assert_uint_eq(find_row(rows, n, "main", 0)->total_samples,
			                  scope.samples);
		}
	}
	/* The call tree too: every sample ends somewhere, and the late frame
	 * has its node. */
	for (int m = 0; m < 2; m++) {
		struct mst_agg_node root;
		ck_assert_int_eq(mst_agg_tree_node(a, 300, (enum mst_agg_mode)m, 0, &root), 0);
		ck_assert_uint_eq(root.total_samples, TICKS);
		const struct mst_agg_stack_frame *stk;
		size_t depth;
		ck_assert_int_eq(mst_agg_thread_stack(a, 300, &stk, &depth), 0);
		ck_assert_uint_eq(depth, 5);
		struct mst_agg_frame f;
		ck_assert_int_eq(mst_agg_frame(a, MST_AGG_BY_LINE, stk[0].id, &f), 0);
		ck_assert_str_eq(f.function, "late_hot");
		uint32_t lid = m ? f.fn_id : f.id;
		uint64_t ltotal = 0;
		uint64_t self = tree_self_sum(a, 300, (enum mst_agg_mode)m, 0, &lid, &ltotal, 1);
		ck_assert_uint_eq(self + root.self_samples, TICKS);
		ck_assert_uint_le(ltotal, LATE);
		ck_assert_uint_ge(ltotal, LATE - 100);
	}
	mst_agg_free(a);
}
END_TEST

Suite *agg_bounds_suite(void)
{
	Suite *s = suite_create("agg_bounds");
	TCase *tc = tcase_create("agg_bounds");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, agg_soak_bounded);
	tcase_add_test(tc, agg_soak_new_frames);
	tcase_add_test(tc, agg_memory_bounded);
	suite_add_tcase(s, tc);
	return s;
}
