/* The target process: PID checks, PTRACE_SEIZE of every task, stopping one
 * thread at a time, process_vm_readv reads, and detaching on every path.
 * Nothing here writes target memory: only PTRACE_SEIZE, INTERRUPT, GETREGS,
 * CONT, LISTEN and DETACH are used, and reads go through process_vm_readv. */
#include "msttop/proc.h"
#include "msttop/array.h"
#include "msttop/clock.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PF_KTHREAD 0x00200000u
/* How long a thread may take to reach a ptrace-stop before we give up on it:
 * a thread in uninterruptible sleep only stops when it leaves the kernel. */
#define STOP_TIMEOUT_NS (2ull * 1000 * 1000 * 1000)
#define MAX_TASK_SCANS 16

struct task {
	pid_t tid;
	bool seized;
	bool stopped;       /* in a ptrace-stop we caused */
	bool group_stopped; /* stopped by a stop signal from someone else */
	bool stop_pending;  /* interrupted, stop not yet seen (timed out) */
	int stat_fd;        /* /proc/PID/task/TID/stat kept open, or -1 */
	int sys_fd;         /* and its syscall file */
	int sched_fd;       /* and its schedstat */
	pid_t ns_tid;       /* its tid in the process's PID namespace */
};

/* A tid the process knows (ns) and ours, sorted by ns. */
struct ns_key {
	pid_t ns, tid;
};

struct mst_proc {
	pid_t pid;
	unsigned flags;
	volatile sig_atomic_t *cancel;
	struct task *tasks;
	size_t ntasks, cap;
	size_t nsorted; /* tasks[0..nsorted) are sorted by tid */
	size_t nseized; /* seizes that succeeded, ever: permission is not the problem */
	/* Traced threads that ended and were dropped from tasks before their
	 * exit could be collected (a group leader's only comes once all the
	 * others' have): until the tracer collects it, the target's parent
	 * cannot reap the process. */
	pid_t *unreaped;
	size_t nunreaped, unreaped_cap;
	/* The group leader's exit, when a wait here collected it: a tracer
	 * that is also the parent (msttop -- CMD) collects the status the
	 * parent would, and keeps it for the caller. */
	bool leader_done;
	int leader_status;
	/* In a PID namespace below ours (a container's): the thread ids it
	 * records (Python's native_thread_id, glibc's) are not ours. */
	bool other_ns;
	struct ns_key *ns;
	size_t nns, ns_cap;
};

int mst_proc_parse_pid(const char *s, pid_t *out, struct mst_err *err)
{
	if (!s || !*s)
		return mst_err_set(err, -EINVAL, "missing PID");
	for (const char *c = s; *c; c++)
		if (!isdigit((unsigned char)*c))
			return mst_err_set(err, -EINVAL,
			                   "invalid PID '%s': expected a positive number", s);
	errno = 0;
	char *end;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || v > INT_MAX)
		return mst_err_set(err, -EINVAL, "invalid PID '%s': out of range", s);
	if (v == 0)
		return mst_err_set(err, -EINVAL, "invalid PID 0: it names no process");
	*out = (pid_t)v;
	return 0;
}

static int parse_stat(char *buf, char *state, unsigned *flags);

/* A stat file read again through an fd kept open: one pread a tick instead
 * of open, read and close. A thread that has ended reads as ESRCH. */
static int pread_stat(int fd, char *state)
{
	char buf[1024];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return n < 0 ? -errno : -ESRCH;
	buf[n] = '\0';
	return parse_stat(buf, state, NULL);
}

static int read_stat(pid_t pid, pid_t tid, char *state, unsigned *flags)
{
	char path[64], buf[1024];
	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int en = errno;
	close(fd);
	if (n <= 0)
		return n < 0 ? -en : -ESRCH;
	buf[n] = '\0';
	return parse_stat(buf, state, flags);
}

/* Fields of /proc/PID/stat after the comm, which may hold spaces and ')'. */
static int parse_stat(char *buf, char *state, unsigned *flags)
{
	char *rp = strrchr(buf, ')');
	if (!rp || !rp[1] || !rp[2])
		return -EINVAL;
	if (state)
		*state = rp[2];
	if (flags) {
		/* ") S ppid pgrp session tty tpgid flags" */
		unsigned long f = 0;
		int ppid, pgrp, sess, tty, tpgid;
		char st;
		if (sscanf(rp + 2, "%c %d %d %d %d %d %lu", &st, &ppid, &pgrp, &sess, &tty, &tpgid,
		           &f) != 7)
			return -EINVAL;
		*flags = (unsigned)f;
	}
	return 0;
}

/* The text after "key:" in /proc/PID/status (tid 0) or
 * /proc/PID/task/TID/status, into buf; false when there is none. */
static bool status_line(pid_t pid, pid_t tid, const char *key, char *buf, size_t len)
{
	char path[64], line[256];
	if (tid > 0)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	bool found = false;
	size_t klen = strlen(key);
	while (!found && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			snprintf(buf, len, "%s", line + klen + 1);
			found = true;
		}
	fclose(f);
	return found;
}

static long status_field(pid_t pid, const char *key)
{
	char v[256];
	return status_line(pid, 0, key, v, sizeof(v)) ? strtol(v, NULL, 10) : -1;
}

/* The last id of a task's NSpid line (tid 0: the process's): its id in its
 * own PID namespace; *levels, the namespaces it is seen in from ours (1:
 * ours). -1 when unknown (a kernel before 4.1 has no such line). */
static pid_t ns_tid_of(pid_t pid, pid_t tid, int *levels)
{
	char v[256], *c = v, *end;
	pid_t last = -1;
	int n = 0;
	if (status_line(pid, tid, "NSpid", v, sizeof(v)))
		for (long id; (id = strtol(c, &end, 10)) > 0 && end != c; c = end) {
			last = (pid_t)id;
			n++;
		}
	if (levels)
		*levels = n;
	return last;
}

static int cmp_ns_key(const void *a, const void *b)
{
	const struct ns_key *x = a, *y = b;
	return (x->ns > y->ns) - (x->ns < y->ns);
}

pid_t mst_proc_tid_of_ns(const struct mst_proc *p, pid_t ns_tid)
{
	if (!p->other_ns)
		return ns_tid;
	size_t lo = 0, hi = p->nns;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->ns[mid].ns < ns_tid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < p->nns && p->ns[lo].ns == ns_tid ? p->ns[lo].tid : -1;
}

enum mst_pid_problem mst_proc_check_pid(pid_t pid, struct mst_err *err)
{
	char state = 0;
	unsigned flags = 0;
	int rc = read_stat(pid, 0, &state, &flags);
	if (rc < 0) {
		mst_err_set(err, -ESRCH, "no such process: %d", (int)pid);
		return MST_PID_NOSUCH;
	}
	long tgid = status_field(pid, "Tgid");
	if (pid == getpid() || tgid == getpid()) {
		mst_err_set(err, -EINVAL, "PID %d is msttop itself", (int)pid);
		return MST_PID_SELF;
	}
	if (state == 'Z' || state == 'X') {
		mst_err_set(err, -ESRCH, "PID %d is a zombie: it has exited and has no stack",
		            (int)pid);
		return MST_PID_ZOMBIE;
	}
	if (flags & PF_KTHREAD) {
		mst_err_set(err, -EINVAL, "PID %d is a kernel thread: it has no user-space stack",
		            (int)pid);
		return MST_PID_KTHREAD;
	}
	return MST_PID_OK;
}

int mst_proc_task_info(pid_t pid, pid_t tid, char comm[16], char *state)
{
	char path[64];
	if (comm) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		ssize_t n = read(fd, comm, 15);
		close(fd);
		if (n < 0)
			n = 0;
		comm[n] = '\0';
		char *nl = strchr(comm, '\n');
		if (nl)
			*nl = '\0';
	}
	if (state)
		return read_stat(pid, tid, state, NULL);
	return 0;
}

const char *mst_proc_state_name(char s)
{
	switch (s) {
	case 'R':
		return "running";
	case 'S':
		return "sleeping";
	case 'D':
		return "disk wait";
	case 'T':
		return "stopped";
	case 't':
		return "tracing stop";
	case 'Z':
		return "zombie";
	case 'X':
		return "dead";
	case 'I':
		return "idle";
	case 'P':
		return "parked";
	case 'W':
		return "paging";
	default:
		return "unknown";
	}
}

/* Tasks are sorted by tid after each refresh; seize appends new ones at
 * the end until then. */
MST_DEFINE_LOWER_BOUND(task_at, struct task, tid, pid_t)

static struct task *find_task(const struct mst_proc *p, pid_t tid)
{
	size_t lo = task_at(p->tasks, p->nsorted, tid);
	if (lo < p->nsorted && p->tasks[lo].tid == tid)
		return &p->tasks[lo];
	for (size_t i = p->nsorted; i < p->ntasks; i++)
		if (p->tasks[i].tid == tid)
			return &p->tasks[i];
	return NULL;
}

ssize_t mst_proc_task_index(const struct mst_proc *p, pid_t tid)
{
	const struct task *t = find_task(p, tid);
	return t ? t - p->tasks : -1;
}

static void close_stat(struct task *t)
{
	if (t->stat_fd >= 0)
		close(t->stat_fd);
	if (t->sys_fd >= 0)
		close(t->sys_fd);
	if (t->sched_fd >= 0)
		close(t->sched_fd);
	t->stat_fd = t->sys_fd = t->sched_fd = -1;
}

int mst_proc_task_syscall(struct mst_proc *p, pid_t tid, struct mst_syscall_line *out)
{
	memset(out, 0, sizeof(*out));
	struct task *t = find_task(p, tid);
	if (!t)
		return -ESRCH;
	if (t->sys_fd < 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/task/%d/syscall", (int)p->pid, (int)tid);
		if ((t->sys_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			return -errno;
	}
	char buf[256];
	ssize_t n = pread(t->sys_fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return n < 0 ? -errno : -ESRCH;
	buf[n] = '\0';
	if (!strncmp(buf, "running", 7)) {
		out->running = true;
		return 0;
	}
	/* "nr a0 a1 a2 a3 a4 a5 sp pc", or "-1 sp pc" outside a call. */
	unsigned long long v[8];
	char *e;
	out->nr = strtol(buf, &e, 10);
	size_t k = 0;
	for (; k < 8; k++) {
		char *q;
		v[k] = strtoull(e, &q, 16);
		if (q == e)
			break;
		e = q;
	}
	if (out->nr >= 0 && k == 8) {
		for (int i = 0; i < 6; i++)
			out->args[i] = v[i];
		out->sp = v[6];
		out->pc = v[7];
	} else if (out->nr < 0 && k == 2) {
		out->sp = v[0];
		out->pc = v[1];
	} else {
		return -EINVAL;
	}
	return 0;
}

int mst_proc_task_runtime(struct mst_proc *p, pid_t tid, uint64_t *ns)
{
	struct task *t = find_task(p, tid);
	if (!t)
		return -ESRCH;
	char path[64], buf[128];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat", (int)p->pid, (int)tid);
	/* Kept open while descriptors last; past that, opened each time. */
	int fd = t->sched_fd >= 0 ? t->sched_fd : open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	int e = errno;
	if (t->sched_fd < 0 && n > 0)
		t->sched_fd = fd;
	else if (fd != t->sched_fd)
		close(fd);
	if (n <= 0)
		return n < 0 ? -e : -ESRCH;
	buf[n] = '\0';
	char *end;
	unsigned long long v = strtoull(buf, &end, 10);
	if (end == buf)
		return -EINVAL;
	*ns = v;
	return 0;
}

int mst_proc_task_state(struct mst_proc *p, pid_t tid, char *state)
{
	struct task *t = find_task(p, tid);
	if (t && t->stat_fd < 0) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", (int)p->pid, (int)tid);
		/* Out of descriptors (thousands of threads): read it the
		 * plain way. */
		t->stat_fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (t && t->stat_fd >= 0)
		return pread_stat(t->stat_fd, state);
	return read_stat(p->pid, tid, state, NULL);
}

static int permission_message(pid_t pid, struct mst_err *err)
{
	long tracer = status_field(pid, "TracerPid");
	if (tracer > 0 && tracer != getpid())
		return mst_err_set(err, -EPERM,
		                   "PID %d is already traced by PID %ld (a debugger or another "
		                   "profiler); detach it first",
		                   (int)pid, tracer);
	char scope[16] = "";
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
	if (f) {
		if (!fgets(scope, sizeof(scope), f))
			scope[0] = '\0';
		fclose(f);
		scope[strcspn(scope, "\n")] = '\0';
	}
	return mst_err_set(err, -EPERM,
	                   "not permitted to trace PID %d: run msttop as root or with "
	                   "CAP_SYS_PTRACE (setcap cap_sys_ptrace+ep), or allow it with "
	                   "'sysctl kernel.yama.ptrace_scope=0'%s%s%s; in a container, add "
	                   "--cap-add SYS_PTRACE",
	                   (int)pid, scope[0] ? " (now " : "", scope, scope[0] ? ")" : "");
}

static int seize(struct mst_proc *p, pid_t tid, struct mst_err *err)
{
	if (p->ntasks == p->cap) {
		size_t nc = p->cap ? 2 * p->cap : 32;
		struct task *nt = realloc(p->tasks, nc * sizeof(*nt));
		if (!nt)
			return mst_err_set(err, -ENOMEM, "out of memory");
		p->tasks = nt;
		p->cap = nc;
	}
	struct task *t = &p->tasks[p->ntasks];
	memset(t, 0, sizeof(*t));
	t->tid = tid;
	t->stat_fd = t->sys_fd = t->sched_fd = -1;
	t->ns_tid = p->other_ns ? ns_tid_of(p->pid, tid, NULL) : tid;
	if (p->flags & MST_PROC_ATTACH) {
		if (ptrace(PTRACE_SEIZE, tid, 0, 0) < 0) {
			if (errno == ESRCH)
				return 0; /* the thread ended meanwhile */
			/* A thread that is exiting refuses with EPERM too: once
			 * another thread of the process was seized, or this one
			 * is gone or a zombie, it is not a permission problem. */
			int en = errno;
			char st = 0;
			if (en == EPERM &&
			    (p->nseized > 0 || read_stat(p->pid, tid, &st, NULL) < 0 || st == 'Z' ||
			     st == 'X'))
				return 0;
			errno = en;
			if (en == EPERM)
				return permission_message(p->pid, err);
			return mst_err_set(err, -errno, "cannot attach to thread %d: %s", (int)tid,
			                   strerror(errno));
		}
		t->seized = true;
		p->nseized++;
	}
	p->ntasks++;
	return 0;
}

static void reap_dropped(struct mst_proc *p);

static int cmp_tid(const void *a, const void *b)
{
	const struct task *x = a, *y = b;
	return (x->tid > y->tid) - (x->tid < y->tid);
}

int mst_proc_refresh_tasks(struct mst_proc *p, struct mst_err *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)p->pid);
	/* Threads may be created while we attach: scan until a pass adds none. */
	for (int pass = 0; pass < MAX_TASK_SCANS; pass++) {
		DIR *d = opendir(path);
		if (!d)
			return mst_err_set(err, -ESRCH, "process %d has exited", (int)p->pid);
		bool added = false;
		struct dirent *de;
		while ((de = readdir(d))) {
			if (!isdigit((unsigned char)de->d_name[0]))
				continue;
			pid_t tid = (pid_t)strtol(de->d_name, NULL, 10);
			if (find_task(p, tid))
				continue;
			int rc = seize(p, tid, err);
			if (rc < 0) {
				closedir(d);
				return rc;
			}
			added = true;
		}
		closedir(d);
		if (!added)
			break;
	}
	/* Forget tasks that ended: their /proc entry is gone, or they are
	 * zombies waiting for a parent that has not reaped them yet. */
	size_t w = 0;
	for (size_t i = 0; i < p->ntasks; i++) {
		char st = 0;
		struct task *t = &p->tasks[i];
		int rc = t->stat_fd >= 0 ? pread_stat(t->stat_fd, &st)
		                         : read_stat(p->pid, t->tid, &st, NULL);
		if (rc == 0 && st != 'Z' && st != 'X') {
			p->tasks[w++] = *t;
			continue;
		}
		close_stat(t);
		if (t->seized && p->nunreaped < p->unreaped_cap)
			p->unreaped[p->nunreaped++] = t->tid;
		else if (t->seized) {
			size_t nc = p->unreaped_cap ? 2 * p->unreaped_cap : 16;
			pid_t *nu = realloc(p->unreaped, nc * sizeof(*nu));
			if (nu) {
				p->unreaped = nu;
				p->unreaped_cap = nc;
				p->unreaped[p->nunreaped++] = t->tid;
			}
		}
	}
	reap_dropped(p);
	p->ntasks = w;
	if (p->ntasks > 1)
		qsort(p->tasks, p->ntasks, sizeof(*p->tasks), cmp_tid);
	p->nsorted = p->ntasks;
	if (p->ntasks == 0)
		return mst_err_set(err, -ESRCH, "process %d has exited", (int)p->pid);
	if (p->other_ns) {
		if (p->ntasks > p->ns_cap) {
			struct ns_key *nk = realloc(p->ns, p->ntasks * sizeof(*nk));
			if (!nk)
				return mst_err_set(err, -ENOMEM, "out of memory");
			p->ns = nk;
			p->ns_cap = p->ntasks;
		}
		p->nns = 0;
		for (size_t i = 0; i < p->ntasks; i++)
			if (p->tasks[i].ns_tid > 0)
				p->ns[p->nns++] =
				    (struct ns_key){p->tasks[i].ns_tid, p->tasks[i].tid};
		qsort(p->ns, p->nns, sizeof(*p->ns), cmp_ns_key);
	}
	return 0;
}

int mst_proc_open(pid_t pid, unsigned flags, volatile sig_atomic_t *cancel, struct mst_proc **out,
                  struct mst_err *err)
{
	if (mst_proc_check_pid(pid, err) != MST_PID_OK)
		return err ? err->code : -EINVAL;
	long tgid = status_field(pid, "Tgid");
	if (tgid > 0)
		pid = (pid_t)tgid; /* a thread id names its whole process */
	struct mst_proc *p = calloc(1, sizeof(*p));
	if (!p)
		return mst_err_set(err, -ENOMEM, "out of memory");
	/* Tracee stops are announced with SIGCHLD; blocked, it queues, and the
	 * waits sleep on it (sigtimedwait) instead of polling. */
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	p->pid = pid;
	p->flags = flags;
	p->cancel = cancel;
	int levels = 0;
	p->other_ns = ns_tid_of(pid, 0, &levels) > 0 && levels > 1;
	int rc = mst_proc_refresh_tasks(p, err);
	if (rc < 0) {
		mst_proc_close(p);
		return rc;
	}
	*out = p;
	return 0;
}

pid_t mst_proc_pid(const struct mst_proc *p)
{
	return p->pid;
}

size_t mst_proc_ntasks(const struct mst_proc *p)
{
	return p->ntasks;
}

pid_t mst_proc_task(const struct mst_proc *p, size_t i)
{
	return i < p->ntasks ? p->tasks[i].tid : -1;
}

/* Sleep until a child or tracee changes state (SIGCHLD, kept blocked by
 * mst_proc_open so that it queues), a signal handler runs, or up to
 * max_ns. */
static void wait_sigchld(uint64_t max_ns)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (max_ns > 10000000)
		max_ns = 10000000; /* wake up to check the deadline and cancel */
	struct timespec ts = {0, (long)max_ns};
	sigtimedwait(&set, NULL, &ts);
}

static void note_exit(struct mst_proc *p, pid_t r, int status)
{
	if (r == p->pid && (WIFEXITED(status) || WIFSIGNALED(status))) {
		p->leader_done = true;
		p->leader_status = status;
	}
}

/* Wait for a state change of tid (-1: any tracee) without blocking past the
 * deadline or a cancel request. Returns the pid with *status, or a negative
 * code. */
static pid_t wait_change(struct mst_proc *p, pid_t tid, uint64_t timeout_ns, int *status)
{
	uint64_t start = mst_clock_ns();
	for (;;) {
		pid_t r = waitpid(tid, status, __WALL | WNOHANG);
		if (r > 0) {
			note_exit(p, r, *status);
			return r;
		}
		if (r < 0 && errno != EINTR)
			return -errno;
		if (p->cancel && *p->cancel)
			return -MST_EINTR;
		uint64_t el = mst_clock_ns() - start;
		if (el >= timeout_ns)
			return -ETIMEDOUT;
		wait_sigchld(timeout_ns - el);
	}
}

static int wait_stop(struct mst_proc *p, pid_t tid, int *status)
{
	pid_t r = wait_change(p, tid, STOP_TIMEOUT_NS, status);
	return r < 0 ? (int)r : 0;
}

/* What a waitpid status of an interrupted thread means. Signals that
 * arrive meanwhile are delivered (re-injected), never swallowed. Returns 1
 * when the thread is now in a stop we can read, 0 when it must be waited
 * for again, or -ESRCH when it ended. */
static int handle_status(struct task *t, int status)
{
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		t->seized = t->stop_pending = false;
		return -ESRCH;
	}
	if (!WIFSTOPPED(status))
		return 0;
	int sig = WSTOPSIG(status);
	int event = status >> 16;
	if (event == PTRACE_EVENT_STOP) {
		/* SIGTRAP: our interrupt. A stop signal: a group-stop, i.e.
		 * someone else stopped the process; it must stay stopped. */
		t->group_stopped = sig != SIGTRAP;
		t->stopped = true;
		t->stop_pending = false;
		return 1;
	}
	/* Signal-delivery-stop (event 0): let the signal through; our pending
	 * interrupt then stops the thread. Another ptrace event (none are
	 * enabled): continue. */
	if (ptrace(PTRACE_CONT, t->tid, 0, (void *)(long)(event == 0 ? sig : 0)) < 0 &&
	    errno == ESRCH) {
		t->seized = t->stop_pending = false;
		return -ESRCH;
	}
	return 0;
}

static int reach_stop(struct mst_proc *p, struct task *t, struct mst_err *err)
{
	for (int round = 0; round < 64; round++) {
		int status = 0;
		int rc = wait_stop(p, t->tid, &status);
		if (rc == -ETIMEDOUT) {
			t->stop_pending = true;
			return mst_err_set(err, rc,
			                   "thread %d did not stop (uninterruptible sleep?)",
			                   (int)t->tid);
		}
		if (rc == -MST_EINTR) {
			t->stop_pending = true;
			return mst_err_set(err, rc, "interrupted");
		}
		if (rc < 0) {
			t->seized = t->stop_pending = false;
			return mst_err_set(err, -ESRCH, "thread %d has exited", (int)t->tid);
		}
		int h = handle_status(t, status);
		if (h == 1)
			return 0;
		if (h < 0)
			return mst_err_set(err, -ESRCH, "thread %d has exited", (int)t->tid);
	}
	t->stop_pending = true;
	return mst_err_set(err, -EAGAIN, "thread %d kept receiving signals", (int)t->tid);
}

int mst_proc_interrupt(struct mst_proc *p, pid_t tid)
{
	struct task *t = find_task(p, tid);
	if (!t || !t->seized)
		return -ESRCH;
	if (t->stopped || t->stop_pending)
		return 0;
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0) {
		t->seized = errno != ESRCH;
		return -ESRCH;
	}
	t->stop_pending = true;
	return 0;
}

int mst_proc_wait_any(struct mst_proc *p, uint64_t timeout_ns, pid_t *tid, struct mst_regs *regs,
                      struct mst_err *err)
{
	uint64_t start = mst_clock_ns();
	for (;;) {
		uint64_t el = mst_clock_ns() - start;
		if (el >= timeout_ns)
			return mst_err_set(err, -ETIMEDOUT, "threads did not stop in time");
		int status = 0;
		pid_t r = wait_change(p, -1, timeout_ns - el, &status);
		if (r == -MST_EINTR)
			return mst_err_set(err, (int)r, "interrupted");
		if (r == -ECHILD || r == -ETIMEDOUT)
			return mst_err_set(err, -ETIMEDOUT, "threads did not stop in time");
		if (r < 0)
			return mst_err_set(err, (int)r, "waitpid: %s", strerror((int)-r));
		struct task *t = find_task(p, r);
		if (!t)
			continue; /* not one of ours: a child of the caller */
		int h = handle_status(t, status);
		if (h == 0)
			continue;
		*tid = r;
		if (h < 0)
			return mst_err_set(err, -ESRCH, "thread %d has exited", (int)r);
		int rc = mst_arch_getregs(r, regs);
		if (rc < 0)
			return mst_err_set(err, rc, "cannot read registers of thread %d: %s",
			                   (int)r, strerror(-rc));
		return 0;
	}
}

int mst_proc_resume(struct mst_proc *p, pid_t tid)
{
	struct task *t = find_task(p, tid);
	if (!t || !t->stopped)
		return 0;
	/* PTRACE_LISTEN keeps a group-stopped thread stopped, as its owner
	 * wanted, while still letting us be notified. */
	long rc =
	    t->group_stopped ? ptrace(PTRACE_LISTEN, tid, 0, 0) : ptrace(PTRACE_CONT, tid, 0, 0);
	t->stopped = false;
	if (rc < 0 && errno == ESRCH)
		t->seized = false;
	return rc < 0 ? -errno : 0;
}

/* Detach one thread now (stopped by us or not). */
static int detach(struct mst_proc *p, pid_t tid)
{
	struct task *t = find_task(p, tid);
	if (!t || !t->seized)
		return 0;
	if (!t->stopped) {
		/* PTRACE_DETACH needs a ptrace-stop. A thread that would not stop
		 * in time is left to the kernel, which detaches it when we exit. */
		if (!t->stop_pending && ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0) {
			t->seized = false;
			return 0;
		}
		t->stop_pending = false;
		if (reach_stop(p, t, NULL) < 0)
			return 0;
	}
	ptrace(PTRACE_DETACH, tid, 0, 0);
	t->seized = t->stopped = false;
	return 0;
}

/* Collect tid's exit: true once it is collected (or not ours to wait for). */
static bool reaped(struct mst_proc *p, pid_t tid)
{
	int st = 0;
	pid_t r = waitpid(tid, &st, WNOHANG | __WALL);
	if (r > 0)
		note_exit(p, r, st);
	return (r == tid && (WIFEXITED(st) || WIFSIGNALED(st))) || (r < 0 && errno == ECHILD);
}

/* The dropped threads' exits that can be collected now. */
static void reap_dropped(struct mst_proc *p)
{
	size_t w = 0;
	for (size_t i = 0; i < p->nunreaped; i++)
		if (!reaped(p, p->unreaped[i]))
			p->unreaped[w++] = p->unreaped[i];
	p->nunreaped = w;
}

size_t mst_proc_reap(struct mst_proc *p)
{
	size_t left = 0;
	reap_dropped(p);
	/* The target is gone: no stop of a live thread can be taken here. */
	for (size_t i = 0; i < p->ntasks; i++) {
		struct task *t = &p->tasks[i];
		if (!t->seized)
			continue;
		if (reaped(p, t->tid))
			t->seized = t->stopped = t->stop_pending = false;
		else
			left++;
	}
	return left + p->nunreaped;
}

bool mst_proc_leader_exit(const struct mst_proc *p, int *status)
{
	if (p->leader_done && status)
		*status = p->leader_status;
	return p->leader_done;
}

int mst_proc_detach(struct mst_proc *p, pid_t tid)
{
	return detach(p, tid);
}

void mst_proc_close(struct mst_proc *p)
{
	if (!p)
		return;
	/* Detaching must happen even after a cancel request. */
	p->cancel = NULL;
	/* PTRACE_DETACH needs a ptrace-stop. Ask every thread to stop at
	 * once and detach each the moment it has: one after another, a busy
	 * process on few cores cost a scheduling round per thread. */
	size_t pending = 0;
	for (size_t i = 0; i < p->ntasks; i++) {
		struct task *t = &p->tasks[i];
		if (!t->seized)
			continue;
		if (t->stopped) {
			ptrace(PTRACE_DETACH, t->tid, 0, 0);
			t->seized = t->stopped = false;
			continue;
		}
		if (!t->stop_pending && ptrace(PTRACE_INTERRUPT, t->tid, 0, 0) < 0) {
			t->seized = false;
			continue;
		}
		t->stop_pending = true;
		pending++;
	}
	uint64_t start = mst_clock_ns();
	while (pending > 0) {
		uint64_t el = mst_clock_ns() - start;
		int status = 0;
		pid_t r = el < STOP_TIMEOUT_NS ? wait_change(p, -1, STOP_TIMEOUT_NS - el, &status)
		                               : -ETIMEDOUT;
		/* A thread that would not stop in time is left to the kernel,
		 * which detaches it when we exit. */
		if (r < 0)
			break;
		struct task *t = find_task(p, r);
		if (!t || !t->seized || !t->stop_pending)
			continue;
		int h = handle_status(t, status);
		if (h == 0)
			continue; /* a signal went through; the stop follows */
		pending--;
		if (h > 0)
			ptrace(PTRACE_DETACH, r, 0, 0);
		t->seized = t->stopped = false;
	}
	for (size_t i = 0; i < p->ntasks; i++)
		close_stat(&p->tasks[i]);
	free(p->unreaped);
	free(p->ns);
	free(p->tasks);
	free(p);
}

static int vm_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = {buf, len};
	struct iovec remote = {(void *)(uintptr_t)addr, len};
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	if (n < 0)
		return errno == ESRCH ? -ESRCH : errno == EPERM ? -EPERM : -EFAULT;
	return -EFAULT;
}

int mst_proc_read(const struct mst_proc *p, uint64_t addr, void *buf, size_t len)
{
	return vm_read(p->pid, addr, buf, len);
}

size_t mst_proc_read_partial(const struct mst_proc *p, uint64_t addr, void *buf, size_t len)
{
	/* process_vm_readv stops at the first iovec it cannot copy whole, so
	 * one remote iovec per page gives "everything readable from addr". */
	enum { MAXV = 64 };
	struct iovec local = {buf, len};
	struct iovec remote[MAXV];
	size_t nv = 0, off = 0;
	while (off < len && nv < MAXV) {
		uint64_t a = addr + off;
		size_t chunk = 4096 - (a & 4095);
		if (chunk > len - off)
			chunk = len - off;
		remote[nv++] = (struct iovec){(void *)(uintptr_t)a, chunk};
		off += chunk;
	}
	local.iov_len = off;
	ssize_t n = process_vm_readv(p->pid, &local, 1, remote, nv, 0);
	return n > 0 ? (size_t)n : 0;
}

static int proc_reader_read2(void *ctx, uint64_t a1, void *b1, size_t l1, uint64_t a2, void *b2,
                             size_t l2)
{
	const struct mst_proc *p = ctx;
	struct iovec local[2] = {{b1, l1}, {b2, l2}};
	struct iovec remote[2] = {{(void *)(uintptr_t)a1, l1}, {(void *)(uintptr_t)a2, l2}};
	ssize_t n = process_vm_readv(p->pid, local, 2, remote, 2, 0);
	if (n == (ssize_t)(l1 + l2))
		return 0;
	return n < 0 && errno == ESRCH ? -ESRCH : -EFAULT;
}

/* Many ranges, up to the kernel's 1,024 iovecs a call. process_vm_readv
 * copies remote iovecs in order and stops at the first it cannot copy
 * whole: the ones before it were copied, it failed, the rest are tried
 * again from the one after. */
static int proc_reader_readv(void *ctx, struct mst_read_op *ops, size_t n)
{
	enum { BATCH = 1024 };
	const struct mst_proc *p = ctx;
	struct iovec local[BATCH], remote[BATCH];
	size_t i = 0;
	while (i < n) {
		size_t k = 0;
		for (; k < BATCH && i + k < n; k++) {
			local[k] = (struct iovec){ops[i + k].buf, ops[i + k].len};
			remote[k] =
			    (struct iovec){(void *)(uintptr_t)ops[i + k].addr, ops[i + k].len};
		}
		ssize_t got = process_vm_readv(p->pid, local, k, remote, k, 0);
		if (got < 0 && (errno == ESRCH || errno == EPERM))
			return errno == ESRCH ? -ESRCH : -EPERM;
		size_t done = 0, sum = 0;
		while (got > 0 && done < k && sum + ops[i + done].len <= (size_t)got) {
			sum += ops[i + done].len;
			ops[i + done++].rc = 0;
		}
		if (done < k)
			ops[i + done++].rc = -EFAULT;
		i += done;
	}
	return 0;
}

static int proc_reader_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return mst_proc_read(ctx, addr, buf, len);
}

struct mst_reader mst_proc_reader(struct mst_proc *p)
{
	return (struct mst_reader){proc_reader_read, p, proc_reader_read2, proc_reader_readv};
}

int mst_pid_reader_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	return vm_read(*(pid_t *)ctx, addr, buf, len);
}

/* Append the children of process p (every thread's children file). */
static int add_children(pid_t p, pid_t **out, pid_t **parent, size_t *n, size_t *cap)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)p);
	DIR *d = opendir(path);
	if (!d)
		return 0; /* it ended: nothing under it */
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		char cpath[96];
		snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", (int)p, de->d_name);
		FILE *f = fopen(cpath, "re");
		if (!f)
			continue;
		long c;
		while (fscanf(f, "%ld", &c) == 1) {
			if (*n == *cap) {
				size_t nc = *cap ? *cap * 2 : 16;
				pid_t *no = realloc(*out, nc * sizeof(*no));
				if (!no) {
					fclose(f);
					closedir(d);
					return -ENOMEM;
				}
				*out = no;
				pid_t *np = realloc(*parent, nc * sizeof(*np));
				if (!np) {
					fclose(f);
					closedir(d);
					return -ENOMEM;
				}
				*parent = np;
				*cap = nc;
			}
			(*out)[*n] = (pid_t)c;
			(*parent)[(*n)++] = p;
		}
		fclose(f);
	}
	closedir(d);
	return 0;
}

int mst_proc_descendants(pid_t pid, pid_t **out, pid_t **parent, size_t *n)
{
	*out = *parent = NULL;
	*n = 0;
	size_t cap = 0;
	if (add_children(pid, out, parent, n, &cap) < 0)
		goto nomem;
	/* Breadth first: each one's children after everything found before. */
	for (size_t i = 0; i < *n; i++)
		if (add_children((*out)[i], out, parent, n, &cap) < 0)
			goto nomem;
	return 0;
nomem:
	free(*out);
	free(*parent);
	*out = *parent = NULL;
	*n = 0;
	return -ENOMEM;
}
