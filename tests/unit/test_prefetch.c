/* The prefetch (prefetch.h) over a counting reader, and the live
 * process's vectored read on msttop's own memory with a hole in it. */
#include <check.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "msttop/prefetch.h"
#include "msttop/proc.h"

Suite *prefetch_suite(void);

/* A target of 4 pages at BASE, the third unmapped; reads are counted. */
#define BASE 0x10000ull
struct fake {
	uint8_t mem[4 * 4096];
	unsigned reads, readvs, ops;
};

static bool mapped(uint64_t a, size_t len)
{
	return a >= BASE && a + len <= BASE + 4 * 4096 &&
	       !(a + len > BASE + 2 * 4096 && a < BASE + 3 * 4096);
}

static int fake_read(void *ctx, uint64_t a, void *buf, size_t len)
{
	struct fake *f = ctx;
	f->reads++;
	if (!mapped(a, len))
		return -EFAULT;
	memcpy(buf, f->mem + (a - BASE), len);
	return 0;
}

static int fake_readv(void *ctx, struct mst_read_op *ops, size_t n)
{
	struct fake *f = ctx;
	f->readvs++;
	f->ops += (unsigned)n;
	for (size_t i = 0; i < n; i++) {
		ops[i].rc = mapped(ops[i].addr, ops[i].len) ? 0 : -EFAULT;
		if (!ops[i].rc)
			memcpy(ops[i].buf, f->mem + (ops[i].addr - BASE), ops[i].len);
	}
	return 0;
}

static uint64_t rd64(const struct mst_reader *r, uint64_t a, int *rc)
{
	uint64_t v = 0;
	*rc = mst_read(r, a, &v, sizeof(v));
	return v;
}

/* f's memory holds each word's index; reads through it are counted. */
static struct mst_reader fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < sizeof(f->mem) / 8; i++)
		memcpy(f->mem + 8 * i, &(uint64_t){i}, 8);
	return (struct mst_reader){.read = fake_read, .ctx = f, .readv = fake_readv};
}

START_TEST(prefetch_serves_last_pass)
{
	static struct fake f;
	struct mst_reader under = fake_init(&f);
	struct mst_prefetch *pf;
	ck_assert_int_eq(mst_prefetch_new(&pf), 0);
	/* Pass 1: nothing known yet, every read goes through. Two reads on
	 * page 0 close together, one on page 1, one in the hole. */
	const uint64_t addrs[] = {BASE + 8, BASE + 64, BASE + 4096 + 16, BASE + 2 * 4096 + 8};
	struct mst_reader r = mst_prefetch_begin(pf, &under);
	int rc;
	for (size_t i = 0; i < 4; i++) {
		uint64_t v = rd64(&r, addrs[i], &rc);
		ck_assert_int_eq(rc, i == 3 ? -EFAULT : 0);
		if (i < 3)
			ck_assert_uint_eq(v, (addrs[i] - BASE) / 8);
	}
	mst_prefetch_end(pf);
	ck_assert_uint_eq(f.reads, 4);
	ck_assert_uint_eq(f.readvs, 0);

	/* The target changes; pass 2 fetches the four in one vectored read
	 * of three ranges (the two close ones on page 0 are one), and serves
	 * what it fetched as of then. */
	memcpy(f.mem + 64, &(uint64_t){777}, 8);
	f.reads = 0;
	r = mst_prefetch_begin(pf, &under);
	ck_assert_uint_eq(f.readvs, 1);
	ck_assert_uint_eq(f.ops, 3);
	memcpy(f.mem + 64, &(uint64_t){888}, 8); /* after the fetch */
	ck_assert_uint_eq(rd64(&r, addrs[1], &rc), 777);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(rd64(&r, addrs[0], &rc), 1);
	ck_assert_uint_eq(rd64(&r, addrs[2], &rc), (addrs[2] - BASE) / 8);
	ck_assert_uint_eq(f.reads, 0);
	/* The hole failed in the fetch: read again, and fails again. */
	rd64(&r, addrs[3], &rc);
	ck_assert_int_eq(rc, -EFAULT);
	ck_assert_uint_eq(f.reads, 1);
	/* Longer than fetched, or not fetched: read through. */
	uint8_t big[64];
	ck_assert_int_eq(mst_read(&r, addrs[0], big, sizeof(big)), 0);
	ck_assert_uint_eq(f.reads, 2);
	rd64(&r, BASE + 3 * 4096, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(f.reads, 3);
	mst_prefetch_end(pf);

	/* Pass 3 fetches what pass 2 read (and not addrs[2]'s neighbours
	 * it did not); without readv, nothing is fetched. */
	struct mst_reader plain = {.read = fake_read, .ctx = &f};
	f.reads = 0;
	r = mst_prefetch_begin(pf, &plain);
	ck_assert_uint_eq(rd64(&r, addrs[1], &rc), 888);
	ck_assert_uint_eq(f.reads, 1);
	mst_prefetch_end(pf);
	struct mst_prefetch_stats st;
	mst_prefetch_stats(pf, &st);
	ck_assert_uint_eq(st.passes, 3);
	ck_assert_uint_eq(st.served, 3);
	mst_prefetch_free(pf);
}
END_TEST

/* One engine for two walks that keep their own ranges (one thread's
 * frames each): each pass is seeded with its walk's last ranges, not with
 * the other walk's, and what it noted is what it read. */
START_TEST(prefetch_seeded_per_walk)
{
	static struct fake f;
	struct mst_reader under = fake_init(&f);
	struct mst_prefetch *pf;
	ck_assert_int_eq(mst_prefetch_new(&pf), 0);
	struct mst_prefetch_range a[4], b[4];
	size_t na = 0, nb = 0;
	const struct mst_prefetch_range *r;
	int rc;
	/* Walk A reads two words on page 0, walk B one on page 1 and one
	 * on page 3: first passes, seeded with nothing. */
	ck_assert_int_eq(mst_prefetch_seed(pf, a, na), 0);
	struct mst_reader rd = mst_prefetch_begin(pf, &under);
	rd64(&rd, BASE + 8, &rc);
	rd64(&rd, BASE + 128, &rc);
	na = mst_prefetch_noted(pf, &r);
	ck_assert_uint_eq(na, 2);
	memcpy(a, r, na * sizeof(*r));
	mst_prefetch_end(pf);
	ck_assert_int_eq(mst_prefetch_seed(pf, b, nb), 0);
	rd = mst_prefetch_begin(pf, &under);
	rd64(&rd, BASE + 4096, &rc);
	rd64(&rd, BASE + 3 * 4096 + 8, &rc);
	nb = mst_prefetch_noted(pf, &r);
	ck_assert_uint_eq(nb, 2);
	memcpy(b, r, nb * sizeof(*r));
	mst_prefetch_end(pf);
	ck_assert_uint_eq(f.readvs, 0);
	ck_assert_uint_eq(f.reads, 4);

	/* Walk A again: its two ranges in one vectored read (one page, one
	 * op), served; B's are not fetched. */
	f.reads = f.ops = 0;
	memcpy(f.mem + 128, &(uint64_t){4242}, 8);
	ck_assert_int_eq(mst_prefetch_seed(pf, a, na), 0);
	rd = mst_prefetch_begin(pf, &under);
	ck_assert_uint_eq(f.readvs, 1);
	ck_assert_uint_eq(f.ops, 1);
	ck_assert_uint_eq(rd64(&rd, BASE + 128, &rc), 4242);
	ck_assert_uint_eq(rd64(&rd, BASE + 8, &rc), 1);
	/* A read B made is not in A's fetch: read through. */
	ck_assert_uint_eq(rd64(&rd, BASE + 4096, &rc), 512);
	ck_assert_uint_eq(f.reads, 1);
	ck_assert_uint_eq(mst_prefetch_noted(pf, &r), 3);
	mst_prefetch_end(pf);

	/* Walk B again: its own two ranges on two pages, two ops. */
	f.reads = f.ops = 0;
	ck_assert_int_eq(mst_prefetch_seed(pf, b, nb), 0);
	rd = mst_prefetch_begin(pf, &under);
	ck_assert_uint_eq(f.readvs, 2);
	ck_assert_uint_eq(f.ops, 2);
	ck_assert_uint_eq(rd64(&rd, BASE + 3 * 4096 + 8, &rc), (3 * 4096 + 8) / 8);
	ck_assert_uint_eq(rd64(&rd, BASE + 4096, &rc), 512);
	ck_assert_uint_eq(f.reads, 0);
	mst_prefetch_end(pf);
	mst_prefetch_free(pf);
}
END_TEST

/* The live reader, on a child with msttop's memory: ranges before and
 * after an unmapped page are read, the one in it fails, in one call. */
START_TEST(proc_readv_hole)
{
	uint8_t *m =
	    mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	memset(m, 0x11, 4096);
	memset(m + 2 * 4096, 0x33, 4096);
	ck_assert_int_eq(munmap(m + 4096, 4096), 0);
	pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	struct mst_proc *p = NULL;
	struct mst_err err = {0};
	ck_assert_int_eq(mst_proc_open(child, 0, NULL, &p, &err), 0);
	struct mst_reader r = mst_proc_reader(p);
	ck_assert_ptr_nonnull(r.readv);
	uint8_t b[3][16];
	struct mst_read_op ops[3] = {{(uintptr_t)m + 8, b[0], 16, 1},
	                             {(uintptr_t)m + 4096 + 8, b[1], 16, 1},
	                             {(uintptr_t)m + 2 * 4096 + 8, b[2], 16, 1}};
	ck_assert_int_eq(r.readv(r.ctx, ops, 3), 0);
	ck_assert_int_eq(ops[0].rc, 0);
	ck_assert_int_eq(ops[1].rc, -EFAULT);
	ck_assert_int_eq(ops[2].rc, 0);
	ck_assert_uint_eq(b[0][0], 0x11);
	ck_assert_uint_eq(b[2][15], 0x33);
	mst_proc_close(p);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	munmap(m, 4096);
	munmap(m + 2 * 4096, 4096);
}
END_TEST

Suite *prefetch_suite(void)
{
	Suite *s = suite_create("prefetch");
	TCase *tc = tcase_create("prefetch");
	tcase_add_test(tc, prefetch_serves_last_pass);
	tcase_add_test(tc, prefetch_seeded_per_walk);
	tcase_add_test(tc, proc_readv_hole);
	suite_add_tcase(s, tc);
	return s;
}
