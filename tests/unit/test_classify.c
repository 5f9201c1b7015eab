/* The states users see, from synthetic snapshots (classify.h): every rule
 * of mst_classify on a thread built to meet it, and the ones next to it. */
#include <check.h>
#include <libunwind-x86_64.h>
#include <string.h>

#include "msttop/arch.h"
#include "msttop/classify.h"

Suite *classify_suite(void);

/* A made-up interpreter: its module at 0x100000-0x200000, the eval loop at
 * 0x110000-0x120000 and its cold part at 0x180000-0x181000; the collector
 * at 0x150000-0x151000; the GIL struct at 0x9000 (208 bytes), its switch
 * condition from 0x9078. */
static struct mst_py_runtime_info info = {
    .module_start = 0x100000,
    .module_end = 0x200000,
    .eval = {{0x110000, 0x120000}, {0x180000, 0x181000}},
    .n_eval = 2,
};
static const struct mst_py_range gc_code[] = {{0x150000, 0x151000}};
#define TAKE_GIL 0x160000 /* a function whose name says it waits for the GIL */

static enum mst_py_fn_role role(void *ctx, uint64_t pc, bool is_return)
{
	(void)ctx;
	uint64_t a = is_return ? pc - 1 : pc;
	return a >= TAKE_GIL && a < TAKE_GIL + 0x100 ? MST_PY_FN_GIL_WAIT : MST_PY_FN_NONE;
}

static struct mst_classify_in in(void)
{
	return (struct mst_classify_in){.info = &info,
	                                .gil = {.known = true,
	                                        .addr = 0x9000,
	                                        .size = 208,
	                                        .switch_lo = 0x9078,
	                                        .switch_hi = 0x90d0},
	                                .gc = gc_code,
	                                .ngc = 1,
	                                .role = role};
}

struct one {
	struct mst_snapshot s;
	struct mst_thread_snap t[2];
	uint64_t pcs[2][8];
	uint8_t kinds[2][8];
};

/* Thread i: /proc state, system call (-1: none) with its first argument,
 * native pcs innermost first. */
static void thread(struct one *o, int i, char state, int64_t nr, uint64_t arg0, const uint64_t *pcs,
                   size_t n)
{
	struct mst_thread_snap *t = &o->t[i];
	memset(t, 0, sizeof(*t));
	t->tid = 100 + i;
	t->state = state;
	t->regs.syscall_nr = nr;
	t->regs.syscall_arg0 = arg0;
	memcpy(o->pcs[i], pcs, n * sizeof(*pcs));
	t->pcs = o->pcs[i];
	t->npcs = n;
	t->nkinds = o->kinds[i];
	t->has_py = true;
	o->s.threads = o->t;
	if (o->s.nthreads < (size_t)i + 1)
		o->s.nthreads = (size_t)i + 1;
}

START_TEST(running_idle_stopped)
{
	struct one o = {0};
	const uint64_t pcs[] = {0x110010, 0x400000};
	struct mst_classify_in x = in();
	thread(&o, 0, 'R', -1, 0, pcs, 2);
	mst_classify(&o.s, &x);
	ck_assert_uint_eq(o.t[0].states, MST_TS_PYTHON | MST_TS_RUNNING);
	/* /proc said R before the stop, but it was caught in a sleeping call. */
	thread(&o, 0, 'R', 230 /* clock_nanosleep */, 0, pcs, 2);
	mst_classify(&o.s, &x);
	ck_assert_uint_eq(o.t[0].states, MST_TS_PYTHON | MST_TS_IDLE);
	thread(&o, 0, 'S', 7 /* poll */, 0, pcs, 2);
	mst_classify(&o.s, &x);
	ck_assert_uint_eq(o.t[0].states, MST_TS_PYTHON | MST_TS_IDLE);
	thread(&o, 0, 't', -1, 0, pcs, 2);
	mst_classify(&o.s, &x);
	ck_assert_uint_eq(o.t[0].states, MST_TS_PYTHON | MST_TS_STOPPED);
}
END_TEST

START_TEST(native_kinds)
{
	struct one o = {0};
	/* Innermost at the eval loop's first byte (itself); a return address
	 * right after the loop's end (pc - 1 is the last byte: eval); one at
	 * the start of the cold part (pc - 1 is before it: interpreter); one
	 * in the module; one outside. */
	const uint64_t pcs[] = {0x110000, 0x120000, 0x180000, 0x130000, 0x500000};
	struct mst_classify_in x = in();
	thread(&o, 0, 'R', -1, 0, pcs, 5);
	mst_classify(&o.s, &x);
	const uint8_t want[] = {MST_NK_EVAL, MST_NK_EVAL, MST_NK_INTERP, MST_NK_INTERP,
	                        MST_NK_OTHER};
	ck_assert_mem_eq(o.kinds[0], want, 5);
	/* The unwinder says which pcs are the instruction itself (a frame a
	 * signal interrupted): those are taken as they are, not at pc - 1. */
	uint8_t exact[5] = {1, 1, 0, 0, 0};
	o.t[0].pc_exact = exact;
	mst_classify(&o.s, &x);
	const uint8_t want_exact[] = {MST_NK_EVAL, MST_NK_INTERP, MST_NK_INTERP, MST_NK_INTERP,
	                              MST_NK_OTHER};
	ck_assert_mem_eq(o.kinds[0], want_exact, 5);
	ck_assert(!mst_thread_pc_is_return(&o.t[0], 1) && mst_thread_pc_is_return(&o.t[0], 2));
	o.t[0].pc_exact = NULL;
	/* Without a runtime every frame is other and nothing is asked. */
	x.info = NULL;
	mst_classify(&o.s, &x);
	const uint8_t none[5] = {0};
	ck_assert_mem_eq(o.kinds[0], none, 5);
}
END_TEST

START_TEST(gil_states)
{
	struct one o = {0};
	const uint64_t pcs[] = {0x7f0000001000, 0x110100};
	struct mst_classify_in x = in();
	/* Blocked on a futex inside the GIL struct: waits, not idle. */
	thread(&o, 0, 'S', MST_SYS_FUTEX, 0x9000 + 32, pcs, 2);
	/* On its switch condition: drops it. */
	thread(&o, 1, 'S', MST_SYS_FUTEX, 0x9080, pcs, 2);
	mst_classify(&o.s, &x);
	ck_assert_uint_eq(o.t[0].states, MST_TS_PYTHON | MST_TS_WAITS_GIL);
	ck_assert_uint_eq(o.t[1].states, MST_TS_PYTHON | MST_TS_DROPS_GIL);
	/* A futex elsewhere is a plain sleep; so is one when the GIL's place
	 * is unknown. */
	thread(&o, 0, 'S', MST_SYS_FUTEX, 0x8ff8, pcs, 2);
	mst_classify(&o.s, &x);
	ck_assert_uint_eq(o.t[0].states, MST_TS_PYTHON | MST_TS_IDLE);
	x.gil.addr = 0;
	thread(&o, 1, 'S', MST_SYS_FUTEX, 0x9080, pcs, 2);
	mst_classify(&o.s, &x);
	ck_assert_uint_eq(o.t[1].states, MST_TS_PYTHON | MST_TS_IDLE);
	/* Named: an interpreter frame whose function waits for the GIL. */
	const uint64_t named[] = {0x7f0000001000, TAKE_GIL + 0x10, 0x110100};
	thread(&o, 0, 'R', -1, 0, named, 3);
	mst_classify(&o.s, &x);
	ck_assert_uint_eq(o.t[0].states, MST_TS_PYTHON | MST_TS_WAITS_GIL);
	/* The holder holds it, whatever else it does. */
	thread(&o, 0, 'R', -1, 0, pcs, 2);
	o.t[0].holds_gil = true;
	mst_classify(&o.s, &x);
	ck_assert_uint_eq(o.t[0].states, MST_TS_PYTHON | MST_TS_HOLDS_GIL | MST_TS_RUNNING);
}
END_TEST

START_TEST(gc_thread)
{
	struct one o = {0};
	const uint64_t collecting[] = {0x150010, 0x110100};
	const uint64_t other[] = {0x130000, 0x110100};
	struct mst_classify_in x = in();
	thread(&o, 0, 'R', -1, 0, other, 2);
	thread(&o, 1, 'R', -1, 0, collecting, 2);
	o.s.gc_collecting = true;
	mst_classify(&o.s, &x);
	ck_assert(!(o.t[0].states & MST_TS_IN_GC));
	ck_assert(o.t[1].states & MST_TS_IN_GC);
	ck_assert(!o.s.gc_thread_unknown);
	/* Collecting, but no thread shows the collector. */
	thread(&o, 1, 'R', -1, 0, other, 2);
	mst_classify(&o.s, &x);
	ck_assert(!(o.t[1].states & MST_TS_IN_GC));
	ck_assert(o.s.gc_thread_unknown);
	/* Not collecting: the collector's code means nothing. */
	thread(&o, 1, 'R', -1, 0, collecting, 2);
	o.s.gc_collecting = false;
	mst_classify(&o.s, &x);
	ck_assert(!(o.t[1].states & MST_TS_IN_GC));
	ck_assert(!o.s.gc_thread_unknown);
}
END_TEST

/* A core's registers: a thread in a call that sleeps is shown in it, after
 * the syscall instruction, as a live dump shows it; also one the kernel
 * put back on the instruction to restart the call and a dump caught in
 * user mode before it entered it again (orig_rax -1, the number in rax). */
START_TEST(core_syscall_pc)
{
	const uint8_t syscall_insn[] = {0x0f, 0x05}, other[] = {0x90, 0x90};
	struct mst_regs r = {.ip = 0x1000, .syscall_nr = 202};
	r.unw[UNW_X86_64_RIP] = r.ip;
	mst_arch_syscall_pc_after(&r, syscall_insn);
	ck_assert_uint_eq(r.ip, 0x1002);
	ck_assert_uint_eq(r.unw[UNW_X86_64_RIP], 0x1002);
	/* Restarting futex (202): caught on the instruction. */
	r = (struct mst_regs){.ip = 0x1000, .syscall_nr = -1};
	r.unw[UNW_X86_64_RAX] = 202;
	r.unw[UNW_X86_64_RDI] = 0xabc0;
	mst_arch_syscall_pc_after(&r, syscall_insn);
	ck_assert_uint_eq(r.ip, 0x1002);
	ck_assert_int_eq(r.syscall_nr, 202);
	ck_assert_uint_eq(r.syscall_arg0, 0xabc0);
	/* About to write (1): a call that does not sleep, left where it is. */
	r = (struct mst_regs){.ip = 0x1000, .syscall_nr = -1};
	r.unw[UNW_X86_64_RAX] = 1;
	mst_arch_syscall_pc_after(&r, syscall_insn);
	ck_assert_uint_eq(r.ip, 0x1000);
	ck_assert_int_eq(r.syscall_nr, -1);
	/* Not on a syscall instruction: nothing moves. */
	r = (struct mst_regs){.ip = 0x1000, .syscall_nr = 202};
	mst_arch_syscall_pc_after(&r, other);
	ck_assert_uint_eq(r.ip, 0x1000);
}
END_TEST

Suite *classify_suite(void)
{
	Suite *s = suite_create("classify");
	TCase *tc = tcase_create("classify");
	tcase_add_test(tc, running_idle_stopped);
	tcase_add_test(tc, native_kinds);
	tcase_add_test(tc, gil_states);
	tcase_add_test(tc, gc_thread);
	tcase_add_test(tc, core_syscall_pc);
	suite_add_tcase(s, tc);
	return s;
}
