/* The walk memo (snapshot-int.h): what a blocked thread's walk keeps to be
 * recognised next time, for a walk that noted no stack word (every frame
 * from registers) and one that noted some. Under the sanitizers the first
 * once passed memcpy a null array (CI, robust/churn_attach). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot-int.h"

Suite *snapshot_memo_suite(void);

static void blocked_thread(struct mst_thread_snap *t)
{
	memset(t, 0, sizeof(*t));
	t->tid = 42;
	t->npcs = 1;
	t->memo.sys.running = false;
	t->memo.sys.nr = 7; /* in read(2) */
}

START_TEST(test_memo_no_words)
{
	struct mst_thread_snap t;
	uint32_t reads[4];
	uint8_t data[64] = {1, 2, 3};
	struct mst_stack_copy copy = {
	    .base = 0x7000, .data = data, .used = 64, .reads = reads, .nreads = 0, .reads_max = 4};
	blocked_thread(&t);
	snap_memo_walk(&t, &copy);
	ck_assert(t.memo.walked);
	ck_assert_int_eq(t.memo.tid, 42);
	ck_assert_uint_eq(t.memo.nwords, 0);
	ck_assert_ptr_null(t.memo.word_offs);
	ck_assert_uint_eq(t.memo.stack_base, 0x7000);
	ck_assert_uint_eq(t.memo.stack_len, 64);

	/* The same slot's next walk notes words: kept, hashed. */
	reads[0] = 0;
	reads[1] = 8;
	reads[2] = 24;
	copy.nreads = 3;
	snap_memo_walk(&t, &copy);
	ck_assert(t.memo.walked);
	ck_assert_uint_eq(t.memo.nwords, 3);
	ck_assert_ptr_nonnull(t.memo.word_offs);
	ck_assert_uint_eq(t.memo.word_offs[2], 24);
	uint64_t h = t.memo.words_hash;
	/* A word under the walk changed: another hash. */
	data[8] = 9;
	snap_memo_walk(&t, &copy);
	ck_assert_uint_ne(t.memo.words_hash, h);
	free(t.memo.word_offs);
}
END_TEST

/* A thread in user space, or whose walk read more words than were kept,
 * cannot be recognised: nothing is kept of its walk. */
START_TEST(test_memo_not_kept)
{
	struct mst_thread_snap t;
	uint32_t reads[2] = {0, 8};
	uint8_t data[16] = {0};
	struct mst_stack_copy copy = {
	    .base = 0x7000, .data = data, .used = 16, .reads = reads, .nreads = 2, .reads_max = 2};
	blocked_thread(&t);
	t.memo.sys.running = true;
	snap_memo_walk(&t, &copy);
	ck_assert(!t.memo.walked);
	blocked_thread(&t);
	copy.nreads = 3; /* one more than reads_max: some not kept */
	snap_memo_walk(&t, &copy);
	ck_assert(!t.memo.walked);
	ck_assert_ptr_null(t.memo.word_offs);
}
END_TEST

Suite *snapshot_memo_suite(void)
{
	Suite *s = suite_create("snapshot_memo");
	TCase *tc = tcase_create("memo");
	tcase_add_test(tc, test_memo_no_words);
	tcase_add_test(tc, test_memo_not_kept);
	suite_add_tcase(s, tc);
	return s;
}
