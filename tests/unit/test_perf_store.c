/* The perf back end's store of samples (perf.h): each thread's samples
 * since the last take, oldest first, the newest kept across takes, and the
 * instants a replay asks for. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

static int no_process(void *ctx, uint64_t addr, void *buf, size_t len)
{
	(void)ctx;
	(void)addr;
	(void)buf;
	(void)len;
	return -EFAULT;
}

static uint8_t read_byte(struct mst_reader *r, uint64_t addr)
{
	uint8_t b = 0xee;
	ck_assert_int_eq(mst_read(r, addr, &b, 1), 0);
	return b;
}

/* Frames the program read in place (the data stack's window, the stack's
 * copy) are served from there, not from their unwritten frames[] slot; a
 * code copied once serves every frame of it; the store keeps the window. */
START_TEST(overlay_in_place)
{
	struct mst_py_capture cap = {.frame_len = 64, .code_len = 32, .prev_off = 8};
	struct mst_bpf_sample *s = sample_at(7, 1000);
	s->win_base = 0x10000;
	s->win_len = 512;
	for (size_t i = 0; i < 512; i++)
		s->win[i] = (uint8_t)(i ^ 0x5a);
	s->stack_base = 0x20000;
	s->stack_len = 256;
	memset(s->stack, 0x33, 256);
	s->nframes = 3;
	s->frame_addr[0] = 0x10100; /* in the window */
	s->frame_addr[1] = 0x20040; /* in the stack's copy */
	s->frame_addr[2] = 0x30000; /* copied on its own */
	s->in_place = 3;
	memset(s->frames[0], 0xff, sizeof(s->frames[0])); /* unwritten slots */
	memset(s->frames[1], 0xff, sizeof(s->frames[1]));
	memset(s->frames[2], 0x44, sizeof(s->frames[2]));
	s->code_addr[0] = 0x40000; /* frames 0 and 2 share it: copied once */
	memset(s->codes[0], 0x55, sizeof(s->codes[0]));
	struct mst_perf_overlay o = {.s = s, .cap = &cap, .live = {.read = no_process}};
	struct mst_reader r = mst_perf_overlay_reader(&o);
	ck_assert_uint_eq(read_byte(&r, 0x10108), (uint8_t)(0x108 ^ 0x5a));
	ck_assert_uint_eq(read_byte(&r, 0x20048), 0x33);
	ck_assert_uint_eq(read_byte(&r, 0x30008), 0x44);
	ck_assert_uint_eq(read_byte(&r, 0x40008), 0x55);
	uint8_t b[16];
	ck_assert_int_eq(mst_read(&r, 0x10000 + 510, b, 4), -EFAULT); /* past the window */
	ck_assert_int_eq(mst_read(&r, 0x30000 + 60, b, 8), -EFAULT);  /* past the frame */
	/* The store keeps what the record holds, the window included. */
	struct mst_perf_store *st = mst_perf_store_new();
	ck_assert_int_eq(mst_perf_store_put(st, s), 0);
	bool fresh;
	const struct mst_bpf_sample *k = mst_perf_store_get(st, 7, &fresh);
	ck_assert_uint_eq(k->win_len, 512);
	ck_assert_int_eq(memcmp(k->win, s->win, 512), 0);
	o.s = k;
	ck_assert_uint_eq(read_byte(&r, 0x10108), (uint8_t)(0x108 ^ 0x5a));
	ck_assert_uint_eq(read_byte(&r, 0x30008), 0x44);
	ck_assert_uint_eq(read_byte(&r, 0x40008), 0x55);
	mst_perf_store_free(st);
	free(s);
}
END_TEST

/* The process of overlay_held: code objects whose bytes are a function of
 * their address and of the process's version (a code replaced at its
 * address); counts its reads. */
#define BYTE_AT(addr, version) ((uint8_t)((addr)*7 + (version)))
struct fake_proc {
	unsigned reads;
	uint8_t version;
};

static int fake_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct fake_proc *f = ctx;
	f->reads++;
	if (addr >= 0x90000)
		return -EFAULT; /* no such code */
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = BYTE_AT(addr + i, f->version);
	return 0;
}

/* A code the program only named is served from msttop's copy: the one the
 * sample that first brought it copied, then one read from the process once a
 * drain; the program's table names what is held, of which process; a code
 * that cannot be read is named no more; no copies: read from the process. */
START_TEST(overlay_held)
{
	struct mst_py_capture cap = {.frame_len = 64, .code_len = 32, .prev_off = 8};
	struct mst_bpf_held *tab = calloc(1, sizeof(*tab));
	ck_assert_ptr_nonnull(tab);
	struct mst_perf_codes *codes = mst_perf_codes_new(tab);
	ck_assert_ptr_nonnull(codes);
	struct fake_proc proc = {0};

	/* The first sample copies code 0x50000: held from then on. */
	struct mst_bpf_sample *s = sample_at(7, 1000);
	s->pid = 42;
	s->nframes = 2;
	s->frame_addr[0] = 0x30000;
	s->frame_addr[1] = 0x30100;
	s->code_addr[0] = 0x50000;
	memset(s->codes[0], 0x66, sizeof(s->codes[0]));
	mst_perf_codes_put(codes, s, cap.code_len);
	uint32_t k = mst_bpf_held_slot(0x50000);
	ck_assert_uint_eq(tab->code[k], 0x50000);
	ck_assert_uint_eq(tab->pid[k], 42);

	/* The next only names it (and 0x60000, never copied). */
	memset(s->codes, 0xff, sizeof(s->codes)); /* unwritten */
	s->code_addr[1] = 0x60000;
	s->code_held = 3;
	struct mst_perf_overlay o = {
	    .s = s, .cap = &cap, .live = {.read = fake_read, .ctx = &proc}, .codes = codes};
	struct mst_reader r = mst_perf_overlay_reader(&o);
	ck_assert_uint_eq(read_byte(&r, 0x50008), 0x66); /* the first sample's copy */
	ck_assert_uint_eq(proc.reads, 0);
	ck_assert_uint_eq(read_byte(&r, 0x60008), BYTE_AT(0x60000 + 8, 0));
	ck_assert_uint_eq(proc.reads, 1);
	ck_assert_uint_eq(read_byte(&r, 0x60004), BYTE_AT(0x60000 + 4, 0));
	ck_assert_uint_eq(proc.reads, 1); /* held now */
	ck_assert_uint_eq(tab->code[mst_bpf_held_slot(0x60000)], 0x60000);

	/* A new drain: each is read again once, as the process has it now. */
	mst_perf_codes_next(codes);
	proc.version = 1;
	ck_assert_uint_eq(read_byte(&r, 0x50008), BYTE_AT(0x50000 + 8, 1));
	ck_assert_uint_eq(read_byte(&r, 0x50009), BYTE_AT(0x50000 + 9, 1));
	ck_assert_uint_eq(proc.reads, 2);

	/* Another process's code at the same address is not this one's. */
	s->pid = 43;
	ck_assert_uint_eq(read_byte(&r, 0x50008), BYTE_AT(0x50000 + 8, 1));
	ck_assert_uint_eq(proc.reads, 3);
	ck_assert_uint_eq(tab->pid[k], 43);

	/* Past the code's copy: the process, as any read. */
	uint8_t b[8];
	ck_assert_int_eq(mst_read(&r, 0x50000 + 30, b, 4), 0);
	ck_assert_uint_eq(proc.reads, 4);

	/* One that cannot be read is named no more. */
	s->code_addr[1] = 0x90000;
	ck_assert_int_eq(mst_read(&r, 0x90000, b, 8), -EFAULT);
	ck_assert_uint_eq(tab->code[mst_bpf_held_slot(0x90000)], 0);

	/* Without msttop's copies, the process. */
	o.codes = NULL;
	unsigned before = proc.reads;
	ck_assert_uint_eq(read_byte(&r, 0x50008), BYTE_AT(0x50000 + 8, 1));
	ck_assert_uint_eq(proc.reads, before + 1);

	/* The store does not keep a held code's unwritten slot as a copy. */
	struct mst_perf_store *st = mst_perf_store_new();
	s->code_held = 1;
	s->code_addr[1] = 0x60000;
	memset(s->codes[1], 0x77, sizeof(s->codes[1]));
	ck_assert_int_eq(mst_perf_store_put(st, s), 0);
	bool fresh;
	o.s = mst_perf_store_get(st, 7, &fresh);
	ck_assert_uint_eq(read_byte(&r, 0x60008), 0x77);
	before = proc.reads;
	ck_assert_uint_eq(read_byte(&r, 0x50008), BYTE_AT(0x50000 + 8, 1));
	ck_assert_uint_eq(proc.reads, before + 1);
	mst_perf_store_free(st);
	mst_perf_codes_free(codes);
	free(tab);
	free(s);
}
END_TEST

Suite *perf_store_suite(void);
Suite *perf_store_suite(void)
{
	Suite *s = suite_create("perf_store");
	TCase *tc = tcase_create("store");
	tcase_add_test(tc, store_instants);
	tcase_add_test(tc, overlay_in_place);
	tcase_add_test(tc, overlay_held);
	suite_add_tcase(s, tc);
	return s;
}
