/* msttop's entry point: options, modes, signal handling and exit codes. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "msttop/dump.h"
#include "msttop/maps.h"
#include "msttop/proc.h"
#include "msttop/py.h"
#include "msttop/record.h"
#include "msttop/report.h"
#include "msttop/sampler.h"
#include "msttop/snapshot.h"
#include "../ui/ui.h"
#include "msttop/symbols.h"
#include "msttop/target.h"
#include "msttop/unwind.h"
#include "msttop/clock.h"

/* Exit codes: documented in --help and README.md. */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,      /* the snapshot failed: target exited, I/O error */
	EXIT_USAGE = 2,       /* bad options or a malformed PID */
	EXIT_NOSUCH = 3,      /* no such process */
	EXIT_PERM = 4,        /* not permitted to trace it */
	EXIT_UNTRACEABLE = 5, /* msttop itself, a zombie, a kernel thread */
	EXIT_NOPYTHON = 6,    /* the Python runtime cannot be decoded */
	EXIT_LAUNCH = 7,      /* the command after -- could not be started */
};

#define MAX_RECORDS 8

struct options {
	bool dump, json, native_all, python_only, no_source;
	bool batch, nonblocking, idle, subprocesses;
	enum mst_sampler_backend backend;
	bool backend_set;
	double rate, duration;
	const char *log;
	/* --record FILE, given up to MAX_RECORDS times: every file is written
	 * from the one recording, each in its format (--format, else from
	 * its name). */
	const char *records[MAX_RECORDS];
	enum mst_record_format formats[MAX_RECORDS];
	size_t nrecords;
	enum mst_record_format format; /* --format; the w key's too */
	bool format_set;
	char **cmd;             /* after --: the program to start, NULL-terminated */
	const char *core, *exe; /* --core FILE [--exe PATH]: a dump of a core file */
	bool locals;            /* --locals: each Python frame's arguments and locals */
};

/* The program msttop started (--), 0 when it attached to a PID. */
struct child {
	pid_t pid;
	bool done;  /* its exit was collected */
	int status; /* the waitpid status then */
};

/* The only global state: set by the signal handler, polled by proc. */
static volatile sig_atomic_t cancel_signal;

static void on_signal(int sig)
{
	cancel_signal = sig;
}

/* libunwind blocks every signal around each use of its cache of unwind
 * rules, and unblocks them after: two rt_sigprocmask calls a step, over half
 * the system calls of a 1 kHz tick. That guards a program that unwinds in its
 * own signal handlers; msttop never does (its handlers set a flag or restore
 * the terminal and die), so the library's calls are answered here, without
 * the system call and without changing the mask. Every other caller's is
 * made (this definition takes the place of libc's in the whole process).
 * The library's code, found once at the start. */
static uintptr_t unwind_lo, unwind_hi;

int sigprocmask(int how, const sigset_t *restrict set, sigset_t *restrict old)
{
	uintptr_t from = (uintptr_t)__builtin_extract_return_addr(__builtin_return_address(0));
	if (from >= unwind_lo && from < unwind_hi) {
		if (old)
			sigemptyset(old); /* only given back to the next call */
		return 0;
	}
	int e = pthread_sigmask(how, set, old);
	if (e) {
		errno = e;
		return -1;
	}
	return 0;
}

/* The terminal as it was before curses took it, for the crash handler. */
static struct termios saved_tty;
static volatile sig_atomic_t tty_saved;

/* A fatal signal in msttop itself (a bug): give the terminal back (only
 * async-signal-safe calls) and die of the same signal. The kernel detaches
 * every traced thread when msttop exits, resuming any it had stopped. */
static void on_fatal(int sig)
{
	if (tty_saved) {
		static const char reset[] = "\033[?1049l\033[?25h\033[0m\r\n";
		ssize_t w = write(STDOUT_FILENO, reset, sizeof(reset) - 1);
		(void)w;
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void usage(FILE *out)
{
	fputs("Usage: msttop -p PID [--rate HZ] [--nonblocking] [--sampler S] [--duration S]\n"
	      "                     [--batch] [--record FILE [--format F] [--idle]]\n"
	      "       msttop [options] -- CMD [ARGS...]\n"
	      "       msttop -p PID --dump [--json] [--locals] [--native-all | --python-only]\n"
	      "       msttop --core FILE [--exe PATH] [--json] [--locals]\n"
	      "                     [--native-all | --python-only]\n"
	      "A top for Python processes: every thread's merged Python and native stack.\n"
	      "\n"
	      "  -p, --pid PID     the process to look at\n"
	      "  -- CMD [ARGS...]  start CMD (its input and output its own) and look at it;\n"
	      "                    it is ended when msttop ends, and its exit is reported\n"
	      "  -r, --rate HZ     samples per second (default 100)\n"
	      "      --nonblocking read Python frames without stopping any thread (no\n"
	      "                    native frames)\n"
	      "      --sampler S   how merged stacks are sampled: ptrace (default: each\n"
	      "                    thread stopped for microseconds), perf (perf events and\n"
	      "                    BPF: no thread is ever stopped; root, or CAP_PERFMON and\n"
	      "                    CAP_BPF) or auto (perf where permitted, else ptrace)\n"
	      "      --duration S  stop after S seconds\n"
	      "  -b, --batch       no screen: sample for --duration seconds (default 5)\n"
	      "                    and print the threads and hot frames as text\n"
	      "  -o, --record FILE record while sampling and write FILE at the end (on\n"
	      "                    quit; with -b or without a terminal: after --duration,\n"
	      "                    Ctrl-C or the target's exit); may be given up to 8\n"
	      "                    times, for one recording in several formats\n"
	      "  -f, --format F    flamegraph (SVG), speedscope, collapsed, chrome (trace\n"
	      "                    with GIL/GC spans, for Perfetto) or pprof; default:\n"
	      "                    from FILE's name (.svg .speedscope.json .folded\n"
	      "                    .collapsed .trace.json .json .pb.gz), else flamegraph.\n"
	      "                    Also the format of the live view's w key\n"
	      "      --idle        record idle samples too (default: on-CPU only); the live\n"
	      "                    view starts showing idle threads\n"
	      "      --log FILE    append diagnostics to FILE\n"
	      "  -d, --dump        print one snapshot of every thread's stack and exit\n"
	      "      --json        print the snapshot as one JSON object\n"
	      "      --native-all  show every native frame, also the interpreter's own\n"
	      "                    frames between two Python frames (folded by default)\n"
	      "      --python-only show Python frames alone, read without stopping any\n"
	      "                    thread\n"
	      "      --no-source   no source line under Python frames\n"
	      "      --locals      with --dump: each Python frame's arguments and local\n"
	      "                    variables, as bounded reprs read from memory\n"
	      "      --subprocesses  also every descendant process (workers, pools), found\n"
	      "                    as they start; --dump: parents first (JSON:\n"
	      "                    {\"processes\": [...], \"parents\": {...}})\n"
	      "      --core FILE   --dump of a core file (kernel core, gdb's gcore): every\n"
	      "                    thread's merged stack, the GIL and GC as it was then\n"
	      "      --exe PATH    with --core: read PATH as the executable (the core names\n"
	      "                    the one it had, which may have moved)\n"
	      "  -h, --help        show this help and exit\n"
	      "  -V, --version     show the version and exit\n"
	      "\n"
	      "In the live view (your code first: the interpreter's own time is its\n"
	      "Python frame's): arrows/j k move, Enter a thread, s sort, n frame view,\n"
	      "l function/line, i idle, g GIL only, c recent/since start, f flame view,\n"
	      "p pause, r reset, w write the window to a file, / filter, ? help, q quit.\n"
	      "man msttop (share/msttop.1) has the details.\n"
	      "\n"
	      "Examples:\n"
	      "  msttop -p 1234 -b --duration 30 --record profile.svg\n"
	      "  msttop -p 1234 --record profile.speedscope.json   (open in speedscope.app)\n"
	      "  msttop -b --record out.folded -- python3 script.py (flamegraph.pl, inferno)\n"
	      "  msttop -p 1234 -b --duration 10 --record gil.trace.json (ui.perfetto.dev)\n"
	      "  msttop -p 1234 -b --duration 60 --record cpu.pb.gz (pprof, Pyroscope)\n"
	      "\n"
	      "Exit codes:\n"
	      "  0  success\n"
	      "  1  the snapshot failed (the target exited, output error)\n"
	      "  2  usage error: bad option, malformed PID, unknown format, a FILE that\n"
	      "     cannot be written, a --core FILE that is not a readable ELF core\n"
	      "  3  no such process\n"
	      "  4  not permitted to trace the process (run as root or with CAP_SYS_PTRACE,\n"
	      "     or set kernel.yama.ptrace_scope=0)\n"
	      "  5  the PID cannot be traced: msttop itself, a zombie, a kernel thread\n"
	      "  6  its Python cannot be decoded (unsupported version or build; with\n"
	      "     --python-only: no Python at all); native stacks are still printed\n"
	      "  7  the command after -- could not be started\n"
	      "  128+N  interrupted by signal N (with --record, SIGINT, SIGTERM or SIGHUP\n"
	      "     end the recording: the file is written and the code is 0)\n"
	      "\n"
	      "Environment:\n"
	      "  MSTTOP_CACHE_DIR  where compressed debug info is kept decompressed\n"
	      "                    (default $XDG_CACHE_HOME/msttop or ~/.cache/msttop;\n"
	      "                    off: no cache)\n",
	      out);
}

static int exit_code_for(int rc)
{
	switch (-rc) {
	case ESRCH:
		return EXIT_NOSUCH;
	case EPERM:
		return EXIT_PERM;
	case EACCES:
		return EXIT_PERM;
	default:
		return EXIT_FAILED;
	}
}

static int run_dump(pid_t pid, const struct options *o, FILE *out)
{
	struct mst_err err = {0};
	struct mst_target *tg = NULL;
	struct mst_snapshot *snap = NULL;
	int code = EXIT_OK;

	struct mst_target_opts to = {.pid = pid,
	                             .core = o->core,
	                             .exe = o->exe,
	                             .python_only = o->python_only,
	                             .cancel = &cancel_signal};
	int rc = mst_target_open(&to, &tg, &err);
	if (rc < 0) {
		fprintf(stderr, "msttop: %s\n", err.msg);
		/* A core that cannot be read is a bad argument, whatever why. */
		return o->core && rc != -ENOMEM ? EXIT_USAGE : exit_code_for(rc);
	}
	int py_rc;
	const struct mst_err *py_err = mst_target_py_error(tg, &py_rc);
	if (py_rc < 0 && py_rc != -MST_ENOPYTHON) {
		/* Say it once on stderr; the native stacks still follow. */
		fprintf(stderr, "msttop: %s\n", py_err->msg);
		code = EXIT_NOPYTHON;
	}
	if (py_rc < 0 && o->python_only) {
		if (py_rc == -MST_ENOPYTHON)
			fprintf(stderr, "msttop: %s: --python-only has nothing to show\n",
			        py_err->msg);
		code = EXIT_NOPYTHON;
		goto out;
	}
	struct mst_py *py = mst_target_py(tg);
	struct mst_symbols *sym = mst_target_symbols(tg);
	unsigned sflags = o->python_only ? MST_SNAP_PYTHON_ONLY : MST_SNAP_DETACH;
	/* Locals are read in the stop that reads the frames (3.11+ keep them
	 * in a data stack the thread reuses once it runs). */
	if (o->locals)
		sflags |= MST_SNAP_LOCALS;
	if (o->core)
		rc = mst_snapshot_take_core(mst_target_corefile(tg), mst_target_unwinder(tg), py,
		                            py_err, sflags & MST_SNAP_LOCALS, &snap, &err);
	else
		rc = mst_snapshot_take(mst_target_proc(tg), mst_target_unwinder(tg), py, py_err,
		                       sflags, &snap, &err);
	if (rc < 0) {
		code = rc == -MST_EINTR ? 128 + (int)cancel_signal : EXIT_FAILED;
		if (rc != -MST_EINTR)
			fprintf(stderr, "msttop: %s\n", err.msg);
		goto out;
	}
	/* Every thread is let go; the slow part, symbolization, only reads
	 * files and memory. */
	mst_target_drop_unwinder(tg);
	mst_snapshot_classify(snap, py, sym);
	unsigned flags = (o->native_all ? MST_DUMP_NATIVE_ALL : 0) |
	                 (o->python_only ? MST_DUMP_PYTHON_ONLY : 0) |
	                 (o->no_source ? MST_DUMP_NO_SOURCE : 0);
	rc = o->json ? mst_dump_json(out, snap, sym, flags) : mst_dump_text(out, snap, sym, flags);
	if (rc == -EPIPE) {
		/* The reader had enough: `msttop --dump | head`. */
	} else if (rc < 0) {
		fprintf(stderr, "msttop: cannot write the dump: %s\n", strerror(-rc));
		code = EXIT_FAILED;
	}
	if (cancel_signal)
		code = 128 + (int)cancel_signal;
out:
	mst_snapshot_free(snap);
	mst_target_close(tg);
	return code;
}

/* --dump --subprocesses: the process, then every descendant, parents
 * first. The exit status is the first process's; a descendant that cannot
 * be dumped (it ended meanwhile, it cannot be traced) is said on stderr
 * and the others follow. Each dump is made whole before it is printed, so
 * the JSON array never holds half of one. */
static int run_dump_tree(pid_t pid, const struct options *o)
{
	pid_t *kids = NULL, *parents = NULL;
	size_t n = 0;
	if (mst_proc_descendants(pid, &kids, &parents, &n) < 0) {
		fprintf(stderr, "msttop: out of memory\n");
		return EXIT_FAILED;
	}
	int code = EXIT_OK;
	size_t shown = 0;
	if (o->json)
		fputs("{\"processes\":[", stdout);
	for (size_t i = 0; i <= n && !cancel_signal; i++) {
		pid_t p = i ? kids[i - 1] : pid;
		char *buf = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&buf, &len);
		if (!mem) {
			code = EXIT_FAILED;
			break;
		}
		int c = run_dump(p, o, mem);
		fclose(mem);
		if (!i)
			code = c;
		if (len) {
			if (o->json && shown)
				fputc(',', stdout);
			else if (!o->json && i)
				printf("\n=== process %d, a child of %d\n\n", (int)p,
				       (int)parents[i - 1]);
			fwrite(buf, 1, len, stdout);
			shown++;
		}
		free(buf);
	}
	if (o->json) {
		fputs("],\"parents\":{", stdout);
		for (size_t i = 0; i < n; i++)
			printf("%s\"%d\":%d", i ? "," : "", (int)kids[i], (int)parents[i]);
		fputs("}}\n", stdout);
	}
	free(kids);
	free(parents);
	if (fflush(stdout) != 0 && errno != EPIPE)
		code = EXIT_FAILED;
	return cancel_signal ? 128 + (int)cancel_signal : code;
}

static bool parse_number(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

/* ---- the program started with -- ---- */

/* Start cmd with msttop's own input, output and environment. The exec's
 * failure comes back through a close-on-exec pipe: end of file means the
 * program runs. 0, or EXIT_LAUNCH with the reason said. */
static int launch(char **cmd, struct child *c)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		fprintf(stderr, "msttop: cannot start %s: %s\n", cmd[0], strerror(errno));
		return EXIT_LAUNCH;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "msttop: cannot start %s: %s\n", cmd[0], strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return EXIT_LAUNCH;
	}
	if (pid == 0) {
		/* Killed with msttop, even by SIGKILL: a program left running
		 * after its profiler died would surprise whoever started it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		/* msttop ignores SIGPIPE; an exec keeps that, the program must
		 * not. */
		signal(SIGPIPE, SIG_DFL);
		execvp(cmd[0], cmd);
		int e = errno;
		ssize_t w = write(fds[1], &e, sizeof(e));
		(void)w;
		_exit(127);
	}
	close(fds[1]);
	int e = 0;
	ssize_t n;
	do
		n = read(fds[0], &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(fds[0]);
	if (n == (ssize_t)sizeof(e)) {
		waitpid(pid, NULL, 0);
		fprintf(stderr, "msttop: cannot run %s: %s\n", cmd[0], strerror(e));
		return EXIT_LAUNCH;
	}
	c->pid = pid;
	return 0;
}

/* Whether the program has exited, without collecting it (a traced one is
 * collected by the sampler's waits, and the status kept there). */
static bool child_exited(struct child *c)
{
	if (!c->pid || c->done)
		return c->pid != 0;
	siginfo_t si = {0};
	if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno == ECHILD;
	return si.si_pid == c->pid &&
	       (si.si_code == CLD_EXITED || si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED);
}

/* At msttop's end: collect the program's exit, ending it first if it still
 * runs (SIGTERM, then SIGKILL after a grace period), and say how it ended. */
static void child_finish(struct child *c, const char *name)
{
	if (!c->pid)
		return;
	bool ended = false;
	if (!c->done && !child_exited(c)) {
		ended = true;
		kill(c->pid, SIGTERM);
		uint64_t until = mst_clock_ns() + 2000000000ull;
		while (!child_exited(c) && mst_clock_ns() < until) {
			struct timespec ts = {0, 10000000};
			nanosleep(&ts, NULL);
		}
		if (!child_exited(c))
			kill(c->pid, SIGKILL);
	}
	if (!c->done) {
		pid_t r;
		do
			r = waitpid(c->pid, &c->status, 0);
		while (r < 0 && errno == EINTR);
		c->done = r == c->pid;
	}
	if (!c->done)
		fprintf(stderr, "msttop: %s (pid %d): its exit status is unknown\n", name,
		        (int)c->pid);
	else if (WIFEXITED(c->status))
		fprintf(stderr, "msttop: %s (pid %d) exited with status %d\n", name, (int)c->pid,
		        WEXITSTATUS(c->status));
	else if (WIFSIGNALED(c->status))
		fprintf(stderr, "msttop: %s (pid %d) %s by signal %d (%s)\n", name, (int)c->pid,
		        ended ? "was ended" : "was killed", WTERMSIG(c->status),
		        strsignal(WTERMSIG(c->status)));
}

/* Open the sampler on the program just started. Right after the exec the
 * loader is still mapping libraries, and what cannot be read yet may be a
 * moment later: try again for a while, as long as the program runs. Its
 * Python, which comes up later still (or after a shell's exec), the
 * sampler looks for at each refresh. */
static int open_launched(const struct mst_sampler_opts *so, struct child *c,
                         struct mst_sampler **out, struct mst_err *err)
{
	uint64_t start = mst_clock_ns();
	for (;;) {
		int rc = mst_sampler_open(so, &cancel_signal, out, err);
		if (rc == 0 || cancel_signal)
			return rc < 0 && cancel_signal ? -MST_EINTR : rc;
		if (rc == -EPERM || rc == -EACCES || child_exited(c) ||
		    mst_clock_ns() - start >= 1000000000ull)
			return rc;
		struct timespec ts = {0, 20000000};
		nanosleep(&ts, NULL);
	}
}

/* ---- sampling ---- */

/* The processes a recording names (--subprocesses): refreshed before each
 * write, as children come and go. */
#define META_PROCS 64
static struct mst_record_proc meta_procs[META_PROCS];

static void fill_meta(struct mst_record_meta *m, const struct mst_sampler *s,
                      const struct options *o)
{
	const struct mst_target_info *ti = mst_sampler_target(s);
	m->nprocs = mst_sampler_record_procs(s, meta_procs, META_PROCS);
	m->procs = meta_procs;
	m->pid = ti->pid;
	m->cmdline = ti->cmdline;
	m->py_version = ti->py_version;
	m->rate_hz = o->rate > 0 ? o->rate : 100;
	struct mst_sampler_stats st;
	mst_sampler_stats(s, &st);
	m->sampler = o->nonblocking                   ? "nonblocking"
	             : st.backend == MST_BACKEND_PERF ? "perf"
	                                              : "ptrace";
}

/* Write --record's files and say so on stderr. */
static int write_records(struct mst_record *r, const struct mst_record_meta *meta,
                         const struct options *o)
{
	struct mst_record_select sel = {.idle = o->idle,
	                                .view = o->native_all    ? MST_AGG_VIEW_ALL
	                                        : o->python_only ? MST_AGG_VIEW_PYTHON
	                                                         : MST_AGG_VIEW_USER};
	struct mst_record_stats st;
	mst_record_stats(r, &st);
	uint64_t kept = o->idle ? st.samples : st.samples - st.idle;
	int code = EXIT_OK;
	for (size_t i = 0; i < o->nrecords; i++) {
		struct mst_err err = {0};
		if (mst_record_write_path(r, o->records[i], o->formats[i], meta, &sel, &err) < 0) {
			fprintf(stderr, "msttop: %s\n", err.msg);
			code = EXIT_FAILED;
			continue;
		}
		fprintf(stderr, "msttop: wrote %s (%s): %llu samples%s over %llu ticks\n",
		        o->records[i], mst_record_format_name(o->formats[i]),
		        (unsigned long long)kept, o->idle ? "" : " on a CPU",
		        (unsigned long long)st.ticks);
		if (o->formats[i] == MST_RECORD_CHROME && st.events_dropped)
			fprintf(stderr,
			        "msttop: the timeline stopped after %zu events (%llu more were not "
			        "kept); the other formats hold every sample\n",
			        st.events, (unsigned long long)st.events_dropped);
	}
	if (st.stacks_over)
		fprintf(stderr,
		        "msttop: %llu samples of stacks past the limit are counted as \"(other "
		        "stacks)\"\n",
		        (unsigned long long)st.stacks_over);
	return code;
}

/* Sample without a screen until the duration ends (with --record and no
 * --duration: until a signal or the target's exit), then print a report,
 * or, with --record, write the file. */
static int run_batch(struct mst_sampler *s, const struct options *o, struct child *c)
{
	struct mst_err err = {0};
	double dur = o->duration > 0 ? o->duration : o->nrecords ? 0 : 5;
	uint64_t end = dur > 0 ? mst_clock_ns() + (uint64_t)(dur * 1e9) : UINT64_MAX;
	for (;;) {
		uint64_t now = mst_clock_ns();
		if (now >= end || cancel_signal)
			break;
		uint64_t due = mst_sampler_next_due(s);
		if (due > now) {
			uint64_t wait = (due < end ? due : end) - now;
			struct timespec ts = {(time_t)(wait / 1000000000ull),
			                      (long)(wait % 1000000000ull)};
			nanosleep(&ts, NULL);
			continue;
		}
		int rc = mst_sampler_tick(s, now, &err);
		if (rc == -ESRCH)
			break; /* the target exited: report what was seen */
		if (rc == -MST_EINTR)
			break;
		if (child_exited(c))
			break;
	}
	/* A recording made headless for want of a terminal has its file for
	 * output; -b asked for the report too. */
	if (o->nrecords && !o->batch)
		return EXIT_OK;
	int rc = mst_report_text(stdout, s, 30);
	if (rc < 0 && rc != -EPIPE) {
		fprintf(stderr, "msttop: cannot write the report: %s\n", strerror(-rc));
		return EXIT_FAILED;
	}
	return cancel_signal && !o->nrecords ? 128 + (int)cancel_signal : EXIT_OK;
}

static int run_live(pid_t pid, const struct options *o, struct child *c)
{
	struct mst_err err = {0};
	struct mst_sampler_opts so = {.pid = pid,
	                              .rate_hz = o->rate,
	                              .nonblocking = o->nonblocking,
	                              .log_path = o->log,
	                              .subprocesses = o->subprocesses,
	                              .backend = o->backend};
	struct mst_sampler *s = NULL;
	struct mst_record *rec = NULL;
	int rc = c->pid ? open_launched(&so, c, &s, &err)
	                : mst_sampler_open(&so, &cancel_signal, &s, &err);
	if (rc < 0) {
		if (c->pid && child_exited(c))
			fprintf(stderr, "msttop: %s exited before it could be sampled\n",
			        o->cmd[0]);
		else
			fprintf(stderr, "msttop: %s\n", rc == -MST_EINTR ? "interrupted" : err.msg);
		child_finish(c, o->cmd ? o->cmd[0] : "");
		if (rc == -MST_EINTR)
			return 128 + (int)cancel_signal;
		if (rc == -MST_ENOPYTHON || rc == -MST_EUNSUPPORTED)
			return EXIT_NOPYTHON;
		if (rc == -MST_EGONE)
			return EXIT_FAILED;
		return exit_code_for(rc);
	}
	struct mst_record_meta meta;
	fill_meta(&meta, s, o);
	if (o->nrecords) {
		if ((rc = mst_record_new(NULL, &rec, &err)) < 0 ||
		    (rc = mst_sampler_add_record(s, rec)) < 0) {
			fprintf(stderr, "msttop: cannot record: %s\n",
			        err.msg[0] ? err.msg : strerror(-rc));
			mst_record_free(rec);
			mst_sampler_close(s);
			child_finish(c, o->cmd ? o->cmd[0] : "");
			return EXIT_FAILED;
		}
	}
	/* A recording without a terminal to show it on runs headless. */
	bool batch = o->batch || (o->nrecords && !(isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)));
	int code;
	if (batch) {
		code = run_batch(s, o, c);
	} else {
		struct mst_ui_opts uo = {.duration_s = o->duration,
		                         .show_idle = o->idle,
		                         .write_format = o->format,
		                         .meta = &meta,
		                         .recording_to = o->nrecords ? o->records[0] : NULL};
		if (o->native_all || o->python_only) {
			uo.view = o->native_all ? MST_AGG_VIEW_ALL : MST_AGG_VIEW_PYTHON;
			uo.view_set = true;
		}
		rc = mst_ui_run(s, &uo, &cancel_signal, &err);
		if (rc == -MST_EINTR) {
			code = 128 + (int)cancel_signal;
		} else if (rc < 0) {
			/* curses has given the terminal back: now we may speak. */
			fprintf(stderr, "msttop: %s\n", err.msg);
			code = rc == -ENOTTY ? EXIT_USAGE : EXIT_FAILED;
		} else {
			code = EXIT_OK;
		}
	}
	if (rec) {
		/* A signal is how a recording is ended: it is no failure. */
		if (code == 128 + (int)cancel_signal)
			code = EXIT_OK;
		fill_meta(&meta, s, o);
		int wc = write_records(rec, &meta, o);
		if (code == EXIT_OK)
			code = wc;
	}
	/* The program's exit, if the sampler's waits collected it. */
	if (c->pid) {
		struct mst_sampler_stats st;
		/* It exited (a zombie now): let the sampler see that and collect
		 * its threads, the leader's status among them. */
		uint64_t until = mst_clock_ns() + 2000000000ull;
		while (child_exited(c) && mst_clock_ns() < until) {
			struct mst_err e = {0};
			mst_sampler_stats(s, &st);
			if (!st.target_exited) {
				mst_sampler_tick(s, mst_clock_ns(), &e);
				continue;
			}
			if (mst_sampler_reap(s) == 0)
				break;
			struct timespec ts = {0, 5000000};
			nanosleep(&ts, NULL);
		}
		mst_sampler_stats(s, &st);
		c->done = st.exit_known;
		c->status = st.exit_status;
	}
	/* Detached first: a traced program would stop on the SIGTERM that
	 * ends it, waiting for a tracer that no longer looks. */
	mst_sampler_close(s);
	mst_record_free(rec);
	child_finish(c, o->cmd ? o->cmd[0] : "");
	return code;
}

int main(int argc, char **argv)
{
	/* Two entries a line, whatever their count. */
	/* clang-format off */
	static const struct option opts[] = {
	    {"pid", required_argument, NULL, 'p'},    {"dump", no_argument, NULL, 'd'},
	    {"json", no_argument, NULL, 'j'},         {"native-all", no_argument, NULL, 'N'},
	    {"python-only", no_argument, NULL, 'P'},  {"no-source", no_argument, NULL, 'S'},
	    {"rate", required_argument, NULL, 'r'},   {"duration", required_argument, NULL, 'D'},
	    {"nonblocking", no_argument, NULL, 'n'},  {"batch", no_argument, NULL, 'b'},
	    {"log", required_argument, NULL, 'L'},    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},      {"record", required_argument, NULL, 'o'},
	    {"format", required_argument, NULL, 'f'}, {"idle", no_argument, NULL, 'I'},
	    {"subprocesses", no_argument, NULL, 'C'}, {"locals", no_argument, NULL, 'l'},
	    {"core", required_argument, NULL, 'K'},   {"exe", required_argument, NULL, 'E'},
	    {"sampler", required_argument, NULL, 'Q'}, {NULL, 0, NULL, 0},
	};
	/* clang-format on */
	const char *pid_arg = NULL;
	struct options o = {0};
	int c;
	mst_unwind_text(&unwind_lo, &unwind_hi);
	opterr = 0;
	/* "+": options end at the first word that is not one, so that a
	 * command's own options after -- (or without it) stay its own. */
	while ((c = getopt_long(argc, argv, "+p:dhVr:bo:f:", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (o.nrecords == MAX_RECORDS) {
				fprintf(stderr, "msttop: --record given more than %d times\n",
				        MAX_RECORDS);
				return EXIT_USAGE;
			}
			o.records[o.nrecords++] = optarg;
			break;
		case 'f':
			if (mst_record_format_parse(optarg, &o.format) < 0) {
				fprintf(
				    stderr,
				    "msttop: unknown format '%s': expected flamegraph, speedscope, "
				    "collapsed, chrome or pprof\n",
				    optarg);
				return EXIT_USAGE;
			}
			o.format_set = true;
			break;
		case 'I':
			o.idle = true;
			break;
		case 'C':
			o.subprocesses = true;
			break;
		case 'Q':
			if (!strcmp(optarg, "ptrace"))
				o.backend = MST_BACKEND_PTRACE;
			else if (!strcmp(optarg, "perf"))
				o.backend = MST_BACKEND_PERF;
			else if (!strcmp(optarg, "auto"))
				o.backend = MST_BACKEND_AUTO;
			else {
				fprintf(
				    stderr,
				    "msttop: unknown sampler '%s': expected ptrace, perf or auto\n",
				    optarg);
				return EXIT_USAGE;
			}
			o.backend_set = true;
			break;
		case 'l':
			o.locals = true;
			break;
		case 'K':
			o.core = optarg;
			break;
		case 'E':
			o.exe = optarg;
			break;
		case 'p':
			if (pid_arg) {
				fprintf(stderr, "msttop: -p given twice\n");
				return EXIT_USAGE;
			}
			pid_arg = optarg;
			break;
		case 'd':
			o.dump = true;
			break;
		case 'j':
			o.json = true;
			break;
		case 'N':
			o.native_all = true;
			break;
		case 'P':
			o.python_only = true;
			break;
		case 'S':
			o.no_source = true;
			break;
		case 'r':
			if (!parse_number(optarg, 1, 10000, &o.rate)) {
				fprintf(stderr,
				        "msttop: invalid rate '%s': expected 1 to 10000 "
				        "samples per second\n",
				        optarg);
				return EXIT_USAGE;
			}
			break;
		case 'D':
			if (!parse_number(optarg, 0.001, 1e9, &o.duration)) {
				fprintf(stderr,
				        "msttop: invalid duration '%s': expected seconds "
				        "> 0\n",
				        optarg);
				return EXIT_USAGE;
			}
			break;
		case 'n':
			o.nonblocking = true;
			break;
		case 'b':
			o.batch = true;
			break;
		case 'L':
			o.log = optarg;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("msttop %s\n", MSTTOP_VERSION);
			return EXIT_OK;
		default: {
			/* A long option is named as it was typed (--core, not
			 * the -K getopt knows it by). */
			const char *word = optind > 0 ? argv[optind - 1] : "";
			bool is_long = !strncmp(word, "--", 2);
			if (optopt == 'p')
				fprintf(stderr, "msttop: -p needs a PID (try --help)\n");
			else if (optopt && strchr("ofrDLKE", optopt) && is_long)
				fprintf(stderr, "msttop: %.*s needs a value (try --help)\n",
				        (int)strcspn(word, "="), word);
			else if (optopt && strchr("ofrDLKE", optopt))
				fprintf(stderr, "msttop: -%c needs a value (try --help)\n", optopt);
			else if (optopt)
				fprintf(stderr, "msttop: unknown option -%c (try --help)\n",
				        optopt);
			else
				fprintf(stderr, "msttop: unknown option %s (try --help)\n",
				        argv[optind - 1]);
			return EXIT_USAGE;
		}
		}
	}
	if (optind > 0 && optind <= argc && !strcmp(argv[optind - 1], "--")) {
		if (optind == argc) {
			fprintf(stderr, "msttop: -- needs a command to start (try --help)\n");
			return EXIT_USAGE;
		}
		o.cmd = argv + optind;
	} else if (optind < argc) {
		fprintf(stderr,
		        "msttop: unexpected argument '%s' (to start a program: msttop [options] "
		        "-- %s ...)\n",
		        argv[optind], argv[optind]);
		return EXIT_USAGE;
	}
	if (o.exe && !o.core) {
		fprintf(stderr, "msttop: --exe goes with --core\n");
		return EXIT_USAGE;
	}
	if (o.core && (pid_arg || o.cmd || o.subprocesses)) {
		fprintf(stderr, "msttop: --core reads a core file: -p, -- and --subprocesses look "
		                "at live processes\n");
		return EXIT_USAGE;
	}
	/* A core holds one moment: it can only be dumped. */
	if (o.core && !o.dump) {
		if (o.nrecords || o.batch || o.rate > 0 || o.duration > 0 || o.idle) {
			fprintf(stderr, "msttop: a core file holds one moment: --core goes with "
			                "--dump, not with sampling options\n");
			return EXIT_USAGE;
		}
		o.dump = true;
	}
	for (size_t i = 0; i < o.nrecords; i++)
		o.formats[i] = o.format_set ? o.format : mst_record_format_guess(o.records[i]);
	if (o.nrecords && !o.format_set)
		o.format = o.formats[0];
	if (o.nrecords && o.dump) {
		fprintf(stderr, "msttop: --record samples over time; --dump takes one snapshot\n");
		return EXIT_USAGE;
	}
	if (o.idle && o.dump) {
		fprintf(stderr, "msttop: --idle goes with the live view and --record; --dump shows "
		                "every thread\n");
		return EXIT_USAGE;
	}
	if (o.cmd && pid_arg) {
		fprintf(stderr, "msttop: -p and -- exclude each other: look at a running process "
		                "or start one\n");
		return EXIT_USAGE;
	}
	if (o.cmd && o.dump) {
		fprintf(stderr, "msttop: --dump looks at a running process: use -p PID\n");
		return EXIT_USAGE;
	}
	if (o.native_all && o.python_only) {
		fprintf(stderr, "msttop: --native-all and --python-only exclude each other\n");
		return EXIT_USAGE;
	}
	if (o.dump && (o.batch || o.rate > 0 || o.duration > 0)) {
		fprintf(stderr, "msttop: --dump takes one snapshot: --batch, --rate and "
		                "--duration go with the live view\n");
		return EXIT_USAGE;
	}
	if (o.dump && o.nonblocking)
		o.python_only = true; /* the same thing for a single snapshot */
	if (o.backend_set && (o.dump || o.core)) {
		fprintf(stderr, "msttop: --sampler goes with the live view, -b and --record "
		                "(--dump stops each thread once)\n");
		return EXIT_USAGE;
	}
	if (o.backend == MST_BACKEND_PERF && (o.nonblocking || o.python_only)) {
		fprintf(stderr, "msttop: --sampler perf samples merged stacks: --nonblocking and "
		                "--python-only read Python frames alone\n");
		return EXIT_USAGE;
	}
	if (o.native_all && o.python_only) {
		fprintf(stderr, "msttop: --native-all and --python-only exclude each other\n");
		return EXIT_USAGE;
	}
	if (o.locals && !o.dump) {
		fprintf(stderr, "msttop: --locals goes with --dump (the live view, -b and --record "
		                "show no values)\n");
		return EXIT_USAGE;
	}
	if ((o.json || o.no_source) && !o.dump) {
		fprintf(stderr, "msttop: --json and --no-source go with --dump\n");
		return EXIT_USAGE;
	}
	/* Live, Python frames alone are what --nonblocking reads. */
	if (o.python_only && !o.dump)
		o.nonblocking = true;
	if (!pid_arg && !o.cmd && !o.core) {
		fprintf(stderr, "msttop: no PID given: use -p PID, or -- CMD to start a program "
		                "(try --help)\n");
		return EXIT_USAGE;
	}
	/* An hour of sampling must not end in a file that cannot be written. */
	for (size_t i = 0; i < o.nrecords; i++) {
		struct mst_err rerr = {0};
		if (mst_record_check_path(o.records[i], &rerr) < 0) {
			fprintf(stderr, "msttop: %s\n", rerr.msg);
			return EXIT_USAGE;
		}
	}
	struct mst_err err = {0};
	pid_t pid = 0;
	if (pid_arg) {
		if (mst_proc_parse_pid(pid_arg, &pid, &err) < 0) {
			fprintf(stderr, "msttop: %s\n", err.msg);
			return EXIT_USAGE;
		}
		switch (mst_proc_check_pid(pid, &err)) {
		case MST_PID_OK:
			break;
		case MST_PID_NOSUCH:
			fprintf(stderr, "msttop: %s\n", err.msg);
			return EXIT_NOSUCH;
		default:
			fprintf(stderr, "msttop: %s\n", err.msg);
			return EXIT_UNTRACEABLE;
		}
	}

	/* No debuginfod: a network lookup would stall a dump for seconds. */
	unsetenv("DEBUGINFOD_URLS");
	/* A signal ends the dump promptly; proc then detaches every thread. */
	struct sigaction sa = {0};
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!o.dump && !o.batch && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) &&
	    tcgetattr(STDIN_FILENO, &saved_tty) == 0)
		tty_saved = 1;
	struct sigaction fatal = {0};
	fatal.sa_handler = on_fatal;
	sigemptyset(&fatal.sa_mask);
	fatal.sa_flags = SA_RESETHAND;
	int fatal_sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL};
	for (size_t i = 0; i < sizeof(fatal_sigs) / sizeof(fatal_sigs[0]); i++)
		sigaction(fatal_sigs[i], &fatal, NULL);
	if (o.dump)
		return o.subprocesses ? run_dump_tree(pid, &o) : run_dump(pid, &o, stdout);
	struct child child = {0};
	if (o.cmd) {
		int rc = launch(o.cmd, &child);
		if (rc)
			return rc;
		pid = child.pid;
	}
	return run_live(pid, &o, &child);
}
