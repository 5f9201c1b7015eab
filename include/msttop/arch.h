/* Everything that depends on the CPU architecture, in one place so another
 * architecture (aarch64) only adds a file: the register set of a stopped
 * thread, how to fetch it, and how libunwind numbers it. */
#ifndef MSTTOP_ARCH_H
#define MSTTOP_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define MST_ARCH_NREGS 17 /* libunwind's UNW_X86_64_RAX..UNW_X86_64_RIP */

struct mst_regs {
	uint64_t ip, sp;
	/* The thread pointer: fs_base on x86_64. With glibc it equals
	 * pthread_self(), which CPython stores as tstate->thread_id. */
	uint64_t tp;
	/* The system call the thread is in, or -1: a thread stopped inside a
	 * blocking call (futex, nanosleep) reports it here, with its first
	 * argument (the futex address). */
	int64_t syscall_nr;
	uint64_t syscall_arg0;
	/* Indexed by libunwind register number. */
	uint64_t unw[MST_ARCH_NREGS];
};

/* Fetch the registers of a ptrace-stopped thread. 0 or -errno. */
int mst_arch_getregs(pid_t tid, struct mst_regs *out);

/* The registers of a thread as a core file's NT_PRSTATUS note holds them
 * (struct elf_prstatus), with its tid and the signal it had. 0, or -EINVAL
 * when the note's size is not this architecture's. */
int mst_arch_regs_from_prstatus(const void *desc, size_t len, pid_t *tid, int *cursig,
                                struct mst_regs *out);
/* The registers a perf back end sample holds (src/perf/bpf-abi.h order). */
void mst_arch_regs_from_sample(const uint64_t *regs, struct mst_regs *out);
/* What /proc/PID/task/TID/syscall tells of a blocked thread: its stack
 * pointer and pc, the call and its first argument; the other registers
 * are unknown (0). Enough to walk from a system call's wrapper, whose
 * frame is found from the stack pointer. */
void mst_arch_regs_from_syscall(uint64_t sp, uint64_t pc, long nr, uint64_t arg0,
                                struct mst_regs *out);
/* The system call a thread is in, from its registers as it left a CPU
 * (bpf-abi.h order, with the kernel's orig_ax): what /proc/.../syscall
 * would have said then; nr -1 when it was in none. */
struct mst_syscall_line;
void mst_arch_syscall_from_sample(const uint64_t *regs, struct mst_syscall_line *out);

/* Value of libunwind register regnum; false if we do not have it. */
bool mst_arch_unw_reg(const struct mst_regs *r, int regnum, uint64_t *val);

/* A thread that a signal took out of a system call, to be restarted, has
 * its pc moved back onto the system call instruction: a kernel core shows
 * it there, where a tracer sees the instruction after it. When the
 * MST_ARCH_SYSCALL_INSN_LEN bytes at regs->ip are that instruction and
 * the registers say a system call, move ip (and its unwind copy) past it,
 * so that a core's stacks read as a live process's. So for a thread caught
 * in user mode on the instruction, about to restart a call that sleeps
 * (its number back in the return register): it is in that call, and
 * syscall_nr and syscall_arg0 say so. */
#define MST_ARCH_SYSCALL_INSN_LEN 2
void mst_arch_syscall_pc_after(struct mst_regs *regs, const uint8_t *code);
/* System call numbers msttop interprets. */
#define MST_SYS_FUTEX 202
/* A blocking call interrupted by a ptrace stop resumes as restart_syscall:
 * after the first stop, that is what a thread blocked in futex shows, with
 * its registers (and so the futex address) unchanged. */
#define MST_SYS_RESTART 219

/* True for the system calls a thread sleeps in (futex, the sleeps, select,
 * poll, epoll, wait, pause, restart_syscall): a thread stopped inside one
 * is not using the CPU, whatever /proc said a moment before. */
bool mst_arch_syscall_blocks(int64_t nr);

/* glibc (2.36, x86_64) keeps the kernel tid of a thread in its struct
 * pthread at this offset from pthread_self(): how a 3.6-3.10 thread state
 * (which records only pthread_self) finds its OS thread without stopping
 * it. Checked against /proc/PID/task before use, never trusted alone. */
#define MST_ARCH_PTHREAD_TID_OFF 720

/* The ABI's red zone below the stack pointer that leaf code may use. */
#define MST_ARCH_RED_ZONE 128

#endif
