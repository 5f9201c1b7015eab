/* x86_64: registers through PTRACE_GETREGS, numbered as libunwind numbers them. */
#include "msttop/arch.h"

#include <errno.h>
#include <libunwind-x86_64.h>
#include <stddef.h>
#include <string.h>
#include <sys/procfs.h>
#include <sys/ptrace.h>
#include <sys/user.h>

#include "msttop/proc.h"
#include "perf/bpf-abi.h"

static void from_user_regs(const struct user_regs_struct *up, struct mst_regs *out)
{
	struct user_regs_struct u = *up;
	out->ip = u.rip;
	out->sp = u.rsp;
	out->tp = u.fs_base;
	/* orig_rax holds the number of the system call the thread was in
	 * when it stopped (-1 outside one); rdi its first argument. */
	out->syscall_nr = (int64_t)u.orig_rax;
	out->syscall_arg0 = u.rdi;
	uint64_t *r = out->unw;
	r[UNW_X86_64_RAX] = u.rax;
	r[UNW_X86_64_RDX] = u.rdx;
	r[UNW_X86_64_RCX] = u.rcx;
	r[UNW_X86_64_RBX] = u.rbx;
	r[UNW_X86_64_RSI] = u.rsi;
	r[UNW_X86_64_RDI] = u.rdi;
	r[UNW_X86_64_RBP] = u.rbp;
	r[UNW_X86_64_RSP] = u.rsp;
	r[UNW_X86_64_R8] = u.r8;
	r[UNW_X86_64_R9] = u.r9;
	r[UNW_X86_64_R10] = u.r10;
	r[UNW_X86_64_R11] = u.r11;
	r[UNW_X86_64_R12] = u.r12;
	r[UNW_X86_64_R13] = u.r13;
	r[UNW_X86_64_R14] = u.r14;
	r[UNW_X86_64_R15] = u.r15;
	r[UNW_X86_64_RIP] = u.rip;
}

int mst_arch_getregs(pid_t tid, struct mst_regs *out)
{
	struct user_regs_struct u;
	if (ptrace(PTRACE_GETREGS, tid, 0, &u) < 0)
		return -errno;
	from_user_regs(&u, out);
	return 0;
}

int mst_arch_regs_from_prstatus(const void *desc, size_t len, pid_t *tid, int *cursig,
                                struct mst_regs *out)
{
	/* The kernel and gdb write the whole struct; its pr_reg is the
	 * user_regs_struct PTRACE_GETREGS fills. Copied out: the note's
	 * bytes are only 4-aligned. */
	struct elf_prstatus st;
	_Static_assert(sizeof(st.pr_reg) == sizeof(struct user_regs_struct),
	               "pr_reg is a user_regs_struct");
	if (len != sizeof(st))
		return -EINVAL;
	memcpy(&st, desc, sizeof(st));
	struct user_regs_struct u;
	memcpy(&u, &st.pr_reg, sizeof(u));
	from_user_regs(&u, out);
	*tid = st.pr_pid;
	*cursig = st.pr_cursig;
	return 0;
}

void mst_arch_syscall_pc_after(struct mst_regs *regs, const uint8_t *code)
{
	/* 0f 05: syscall. */
	if (code[0] != 0x0f || code[1] != 0x05)
		return;
	/* Back on the instruction with orig_rax -1: the restart put the call's
	 * number back in rax and returned to user mode, where the core's
	 * signal caught the thread before it entered the call again (a race
	 * between the threads a dump kills). It is in that call all the same,
	 * for a call that sleeps. */
	if (regs->syscall_nr < 0 && mst_arch_syscall_blocks((int64_t)regs->unw[UNW_X86_64_RAX])) {
		regs->syscall_nr = (int64_t)regs->unw[UNW_X86_64_RAX];
		regs->syscall_arg0 = regs->unw[UNW_X86_64_RDI];
	}
	if (regs->syscall_nr >= 0) {
		regs->ip += MST_ARCH_SYSCALL_INSN_LEN;
		regs->unw[UNW_X86_64_RIP] = regs->ip;
	}
}

bool mst_arch_unw_reg(const struct mst_regs *r, int regnum, uint64_t *val)
{
	if (regnum < 0 || regnum >= MST_ARCH_NREGS)
		return false;
	*val = r->unw[regnum];
	return true;
}

bool mst_arch_syscall_blocks(int64_t nr)
{
	switch (nr) {
	case 7:   /* poll */
	case 23:  /* select */
	case 34:  /* pause */
	case 35:  /* nanosleep */
	case 61:  /* wait4 */
	case 202: /* futex */
	case 219: /* restart_syscall */
	case 230: /* clock_nanosleep */
	case 232: /* epoll_wait */
	case 247: /* waitid */
	case 270: /* pselect6 */
	case 271: /* ppoll */
	case 281: /* epoll_pwait */
	case 441: /* epoll_pwait2 */
		return true;
	default:
		return false;
	}
}

void mst_arch_regs_from_sample(const uint64_t *v, struct mst_regs *out)
{
	memset(out, 0, sizeof(*out));
	out->ip = v[MST_BPF_R_IP];
	out->sp = v[MST_BPF_R_SP];
	out->tp = v[MST_BPF_R_FSBASE];
	/* On a CPU when its clock fired: not waiting in a system call. */
	out->syscall_nr = -1;
	uint64_t *r = out->unw;
	r[UNW_X86_64_RAX] = v[MST_BPF_R_AX];
	r[UNW_X86_64_RDX] = v[MST_BPF_R_DX];
	r[UNW_X86_64_RCX] = v[MST_BPF_R_CX];
	r[UNW_X86_64_RBX] = v[MST_BPF_R_BX];
	r[UNW_X86_64_RSI] = v[MST_BPF_R_SI];
	r[UNW_X86_64_RDI] = v[MST_BPF_R_DI];
	r[UNW_X86_64_RBP] = v[MST_BPF_R_BP];
	r[UNW_X86_64_RSP] = v[MST_BPF_R_SP];
	r[UNW_X86_64_R8] = v[MST_BPF_R_R8];
	r[UNW_X86_64_R9] = v[MST_BPF_R_R9];
	r[UNW_X86_64_R10] = v[MST_BPF_R_R10];
	r[UNW_X86_64_R11] = v[MST_BPF_R_R11];
	r[UNW_X86_64_R12] = v[MST_BPF_R_R12];
	r[UNW_X86_64_R13] = v[MST_BPF_R_R13];
	r[UNW_X86_64_R14] = v[MST_BPF_R_R14];
	r[UNW_X86_64_R15] = v[MST_BPF_R_R15];
	r[UNW_X86_64_RIP] = v[MST_BPF_R_IP];
}

void mst_arch_syscall_from_sample(const uint64_t *v, struct mst_syscall_line *out)
{
	memset(out, 0, sizeof(*out));
	out->nr = (long)v[MST_BPF_R_ORIG_AX];
	out->sp = v[MST_BPF_R_SP];
	out->pc = v[MST_BPF_R_IP];
	if (out->nr < 0)
		return;
	/* The kernel's system call convention. */
	out->args[0] = v[MST_BPF_R_DI];
	out->args[1] = v[MST_BPF_R_SI];
	out->args[2] = v[MST_BPF_R_DX];
	out->args[3] = v[MST_BPF_R_R10];
	out->args[4] = v[MST_BPF_R_R8];
	out->args[5] = v[MST_BPF_R_R9];
}

void mst_arch_regs_from_syscall(uint64_t sp, uint64_t pc, long nr, uint64_t arg0,
                                struct mst_regs *out)
{
	memset(out, 0, sizeof(*out));
	out->ip = out->unw[UNW_X86_64_RIP] = pc;
	out->sp = out->unw[UNW_X86_64_RSP] = sp;
	out->syscall_nr = nr;
	out->syscall_arg0 = out->unw[UNW_X86_64_RDI] = arg0;
}
