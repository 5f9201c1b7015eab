/* The perf back end's store of samples (perf.h): each thread's samples
 * since the last take, oldest first, the newest kept across takes, and the
 * instants a replay asks for. */
#include <check.h>
#include <stdlib.h>

#include "msttop/perf.h"
#include "perf/bpf-abi.h"

static struct mst_bpf_sample *sample_at(pid_t tid, uint64_t t)
{
	struct mst_bpf_sample *s = calloc(1, sizeof(*s));
	ck_assert_ptr_nonnull(s);
	s->pid = 1;
	s->tid = (mst_u32)tid;
	s->time_ns = t;
	s->regs[0] = t; /* to tell copies apart */
	return s;
}

static void put(struct mst_perf_store *st, pid_t tid, uint64_t t)
{
	struct mst_bpf_sample *s = sample_at(tid, t);
	ck_assert_int_eq(mst_perf_store_put(st, s), 0);
	free(s);
}

START_TEST(store_instants)
{
	struct mst_perf_store *st = mst_perf_store_new();
	ck_assert_ptr_nonnull(st);
	bool fresh = true;
	ck_assert_ptr_null(mst_perf_store_get(st, 7, &fresh));
	ck_assert(!fresh);
	/* Out of order (CPUs share the ring): kept in order. */
	put(st, 7, 3000);
	put(st, 7, 1000);
	put(st, 7, 2000);
	put(st, 9, 1500);
	const struct mst_bpf_sample *s = mst_perf_store_get(st, 7, &fresh);
	ck_assert(fresh);
	ck_assert_uint_eq(s->time_ns, 3000);
	ck_assert_uint_eq(s->regs[0], 3000);
	/* The newest in (lo, hi]. */
	ck_assert_uint_eq(mst_perf_store_get_in(st, 7, 0, 1000)->time_ns, 1000);
	ck_assert_uint_eq(mst_perf_store_get_in(st, 7, 1000, 2999)->time_ns, 2000);
	ck_assert_uint_eq(mst_perf_store_get_in(st, 7, 999, 5000)->time_ns, 3000);
	ck_assert_ptr_null(mst_perf_store_get_in(st, 7, 3000, 9000));
	ck_assert_ptr_null(mst_perf_store_get_in(st, 7, 1000, 1999));
	ck_assert_ptr_null(mst_perf_store_get_in(st, 8, 0, 9000));
	ck_assert_uint_eq(mst_perf_store_get_in(st, 9, 1000, 2000)->time_ns, 1500);
	/* A take: the newest stays, not fresh; the older are gone. */
	mst_perf_store_taken(st);
	s = mst_perf_store_get(st, 7, &fresh);
	ck_assert(!fresh);
	ck_assert_uint_eq(s->time_ns, 3000);
	ck_assert_uint_eq(s->regs[0], 3000);
	ck_assert_ptr_null(mst_perf_store_get_in(st, 7, 0, 2999));
	/* More than a queue holds: the oldest make room, in order. */
	const uint64_t n = MST_PERF_STORE_QUEUE + 24, end = 4000 + n * 100;
	const uint64_t first = end - MST_PERF_STORE_QUEUE * 100; /* the oldest kept */
	for (uint64_t t = 4000; t < end; t += 100)
		put(st, 7, t);
	s = mst_perf_store_get(st, 7, &fresh);
	ck_assert(fresh);
	ck_assert_uint_eq(s->time_ns, end - 100);
	ck_assert_uint_eq(mst_perf_store_get_in(st, 7, 0, first + 50)->time_ns, first);
	ck_assert_ptr_null(mst_perf_store_get_in(st, 7, 0, first - 1));
	for (uint64_t t = first; t < end; t += 100)
		ck_assert_uint_eq(mst_perf_store_get_in(st, 7, t - 1, t)->regs[0], t);
	/* Forgotten threads go; kept ones stay. */
	pid_t keep[] = {9};
	mst_perf_store_keep(st, keep, 1);
	ck_assert_ptr_null(mst_perf_store_get(st, 7, &fresh));
	ck_assert_ptr_nonnull(mst_perf_store_get(st, 9, &fresh));
	mst_perf_store_free(st);
}
END_TEST

Suite *perf_store_suite(void);
Suite *perf_store_suite(void)
{
	Suite *s = suite_create("perf_store");
	TCase *tc = tcase_create("store");
	tcase_add_test(tc, store_instants);
	suite_add_tcase(s, tc);
	return s;
}
