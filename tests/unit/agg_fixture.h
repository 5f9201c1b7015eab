/* What the agg tests share: time units, a few frames, and short hands for
 * feeding and querying an agg inside a Check test. */
#ifndef MSTTOP_TEST_AGG_FIXTURE_H
#define MSTTOP_TEST_AGG_FIXTURE_H

#include <check.h>
#include <string.h>

#include "msttop/agg.h"

#define US 1000ull
#define MS 1000000ull
#define SEC 1000000000ull

__attribute__((unused)) static const struct mst_agg_frame_in PY_F10 = {
    MST_AGG_PYTHON, false, false, 10, "f", "a.py", "a"};
__attribute__((unused)) static const struct mst_agg_frame_in PY_F11 = {
    MST_AGG_PYTHON, false, false, 11, "f", "a.py", "a"};
__attribute__((unused)) static const struct mst_agg_frame_in PY_G20 = {
    MST_AGG_PYTHON, false, false, 20, "g", "a.py", "a"};

static inline struct mst_agg *agg_new(const struct mst_agg_config *cfg)
{
	struct mst_agg *a = NULL;
	struct mst_err err = {0};
	ck_assert_int_eq(mst_agg_new(cfg, &a, &err), 0);
	ck_assert_ptr_nonnull(a);
	return a;
}

/* One tick of one thread. */
static inline void tick1(struct mst_agg *a, uint64_t now, uint64_t w, pid_t tid, uint32_t state,
                         const struct mst_agg_frame_in *fr, size_t n)
{
	struct mst_agg_thread_in t = {tid, "worker", state, fr, n};
	struct mst_err err = {0};
	ck_assert_int_eq(mst_agg_add(a, now, w, &t, 1, &err), 0);
}

static inline struct mst_agg_query query(pid_t tid, enum mst_agg_window w, enum mst_agg_mode m)
{
	struct mst_agg_query q = {0};
	q.tid = tid;
	q.window = w;
	q.mode = m;
	q.sort = MST_AGG_SORT_TOTAL;
	return q;
}

/* The row of the frame with this function (and line, unless 0), or NULL. */
static inline const struct mst_agg_hot *find_row(const struct mst_agg_hot *rows, size_t n,
                                                 const char *func, uint32_t line)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(rows[i].frame.function, func) && (!line || rows[i].frame.line == line))
			return &rows[i];
	return NULL;
}

static inline void hot(struct mst_agg *a, const struct mst_agg_query *q,
                       const struct mst_agg_hot **rows, size_t *n, struct mst_agg_count *scope)
{
	struct mst_err err = {0};
	ck_assert_int_eq(mst_agg_hot(a, q, rows, n, scope, &err), 0);
}

#endif
