/* The target process: checking a PID, attaching every task with PTRACE_SEIZE,
 * stopping one thread at a time only while it is read, reading memory with
 * process_vm_readv (never writing it), and detaching on every exit path. */
#ifndef MSTTOP_PROC_H
#define MSTTOP_PROC_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msttop/arch.h"
#include "msttop/err.h"
#include "msttop/reader.h"

/* Why a PID cannot be traced. The values are stable: main maps them to
 * documented exit codes. */
enum mst_pid_problem {
	MST_PID_OK = 0,
	MST_PID_NOSUCH,  /* no such process */
	MST_PID_SELF,    /* msttop itself */
	MST_PID_ZOMBIE,  /* exited, not reaped */
	MST_PID_KTHREAD, /* kernel thread: no user space to read */
};

/* Parse a PID argument strictly (digits only, 1..pid_max). 0 or -EINVAL. */
int mst_proc_parse_pid(const char *s, pid_t *out, struct mst_err *err);

/* Is pid something msttop can look at? Fills err with the one-line reason. */
enum mst_pid_problem mst_proc_check_pid(pid_t pid, struct mst_err *err);

/* A thread's name and state from /proc/PID/task/TID/{comm,stat}. state is the
 * kernel's letter (R, S, D, T, t, Z, ...); 0 or -errno. */
int mst_proc_task_info(pid_t pid, pid_t tid, char comm[16], char *state);
/* The same state letter for a task of p, through a /proc fd kept open for
 * it (the sampler asks on every tick). 0 or -errno. */
struct mst_proc;
int mst_proc_task_state(struct mst_proc *p, pid_t tid, char *state);
/* Where a task is blocked, from /proc/PID/task/TID/syscall, read without
 * stopping it: the system call and its arguments, stack pointer and pc.
 * running: it is on a CPU (nothing else is set); nr -1: blocked outside a
 * system call. */
struct mst_syscall_line {
	bool running;
	long nr;
	uint64_t args[6];
	uint64_t sp, pc;
};
int mst_proc_task_syscall(struct mst_proc *p, pid_t tid, struct mst_syscall_line *out);
/* The CPU time a task of p has run, in ns (the first field of
 * /proc/PID/task/TID/schedstat, kept open): it changes whenever the task
 * has run at all, so a thread whose runtime is unchanged has not touched
 * its memory since. 0 or -errno. */
int mst_proc_task_runtime(struct mst_proc *p, pid_t tid, uint64_t *ns);
/* "running", "sleeping", "disk wait", "stopped", ... for a state letter. */
const char *mst_proc_state_name(char state);

struct mst_proc;

enum {
	MST_PROC_ATTACH = 1 << 0, /* PTRACE_SEIZE every task (else read-only) */
};

/* Open pid. With MST_PROC_ATTACH every task is seized; EPERM comes back with
 * a message that says what to do. cancel, when not NULL, is polled in every
 * wait so a signal to msttop ends a stop promptly (-MST_EINTR). */
int mst_proc_open(pid_t pid, unsigned flags, volatile sig_atomic_t *cancel, struct mst_proc **out,
                  struct mst_err *err);
/* Resume and detach every task still attached (all asked to stop at once,
 * each detached as soon as it has stopped), then free. */
void mst_proc_close(struct mst_proc *p);

pid_t mst_proc_pid(const struct mst_proc *p);
/* The tasks seen at open or at the last refresh. Borrowed until refresh. */
size_t mst_proc_ntasks(const struct mst_proc *p);
pid_t mst_proc_task(const struct mst_proc *p, size_t i);
/* The i of tid for mst_proc_task, or -1 if it is not one of the tasks. */
ssize_t mst_proc_task_index(const struct mst_proc *p, pid_t tid);
/* Our tid of the task the process knows as ns_tid, or -1 if it is none of
 * the tasks: a process in a container has its own PID namespace, and the
 * thread ids it records (Python's native_thread_id, glibc's) are that
 * namespace's. ns_tid itself when the process shares ours. */
pid_t mst_proc_tid_of_ns(const struct mst_proc *p, pid_t ns_tid);
/* Re-read /proc/PID/task: seize new tasks, forget ended ones. */
int mst_proc_refresh_tasks(struct mst_proc *p, struct mst_err *err);

/* Pipelined stops: ask every given thread to stop at once, then take each
 * as soon as it has stopped. A thread needs the CPU to enter its stop, and
 * on a busy machine that can take milliseconds: asking them all first lets
 * those waits overlap, while each thread is still held only while it is
 * read (mst_proc_resume right after). */
int mst_proc_interrupt(struct mst_proc *p, pid_t tid);
/* Wait up to timeout_ns for any interrupted thread to stop: 0 with *tid and
 * its registers; -ESRCH with *tid when that thread ended; -ETIMEDOUT;
 * -MST_EINTR when cancelled. */
int mst_proc_wait_any(struct mst_proc *p, uint64_t timeout_ns, pid_t *tid, struct mst_regs *regs,
                      struct mst_err *err);

/* Resume a thread that mst_proc_wait_any handed over. A thread stopped by
 * someone else (SIGSTOP) is left stopped. */
int mst_proc_resume(struct mst_proc *p, pid_t tid);
/* Once the target has exited: collect the exit of every thread still
 * traced, without blocking, including threads a refresh dropped before
 * their exit could be collected. Until the tracer has, the target's
 * parent cannot reap it (a supervisor would wait on a zombie). Returns how
 * many threads are still to be collected. */
size_t mst_proc_reap(struct mst_proc *p);
/* Whether a wait of proc's collected the exit of the process itself (its
 * group leader), with the wait status. Only a tracer that is also the
 * target's parent gets it (msttop started the program): the kernel hands
 * that status to the first wait, which may be one of proc's. */
bool mst_proc_leader_exit(const struct mst_proc *p, int *status);

/* The descendants of process pid, parents before their children (breadth
 * first), from /proc/PID/task/TID/children of every thread; into *out
 * (malloc'd; *n of them, each with its parent in (*parent)[i]). A process
 * that ends meanwhile is left out. 0 or -ENOMEM. */
int mst_proc_descendants(pid_t pid, pid_t **out, pid_t **parent, size_t *n);
/* Or let go of it for good (a --dump is done with it): detached, it runs
 * on, or stays stopped if someone else stopped it. */
int mst_proc_detach(struct mst_proc *p, pid_t tid);

/* Read target memory with process_vm_readv. 0, -EFAULT or -ESRCH. */
int mst_proc_read(const struct mst_proc *p, uint64_t addr, void *buf, size_t len);
/* As much as is readable from addr, up to len, page by page: the number of
 * bytes copied (0 if none). */
size_t mst_proc_read_partial(const struct mst_proc *p, uint64_t addr, void *buf, size_t len);
/* A reader over this process for the CPython decoder. */
struct mst_reader mst_proc_reader(struct mst_proc *p);
/* A reader that needs no mst_proc (no attach): process_vm_readv on pid.
 * ctx must point at a pid_t that outlives the reader. */
int mst_pid_reader_read(void *ctx, uint64_t addr, void *buf, size_t len);

#endif
