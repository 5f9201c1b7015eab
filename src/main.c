/* msttop's entry point: options, modes, signal handling and exit codes. */
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "msttop/dump.h"
#include "msttop/maps.h"
#include "msttop/proc.h"
#include "msttop/py.h"
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
};

struct options {
	bool dump, json, native_all, python_only, no_source;
	bool batch, nonblocking;
	double rate, duration;
	const char *log;
};

/* The only global state: set by the signal handler, polled by proc. */
static volatile sig_atomic_t cancel_signal;

static void on_signal(int sig)
{
	cancel_signal = sig;
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
	fputs("Usage: msttop -p PID [--rate HZ] [--nonblocking] [--duration S] [--batch]\n"
	      "       msttop -p PID --dump [--json] [--native-all | --python-only]\n"
	      "A top for Python processes: every thread's merged Python and native stack.\n"
	      "\n"
	      "  -p, --pid PID     the process to look at\n"
	      "  -r, --rate HZ     samples per second (default 100)\n"
	      "      --nonblocking read Python frames without stopping any thread (no\n"
	      "                    native frames)\n"
	      "      --duration S  stop after S seconds\n"
	      "  -b, --batch       no screen: sample for --duration seconds (default 5)\n"
	      "                    and print the threads and hot frames as text\n"
	      "      --log FILE    append diagnostics to FILE\n"
	      "  -d, --dump        print one snapshot of every thread's stack and exit\n"
	      "      --json        print the snapshot as one JSON object\n"
	      "      --native-all  show every native frame, also the interpreter's own\n"
	      "                    frames between two Python frames (folded by default)\n"
	      "      --python-only show Python frames alone, read without stopping any\n"
	      "                    thread\n"
	      "      --no-source   no source line under Python frames\n"
	      "  -h, --help        show this help and exit\n"
	      "  -V, --version     show the version and exit\n"
	      "\n"
	      "In the live view: arrows/j k move, Enter a thread, s sort, n native frames,\n"
	      "l line/function, i idle, g GIL only, c recent/since start, p pause,\n"
	      "r reset, / filter, ? help, q quit.\n"
	      "\n"
	      "Exit codes:\n"
	      "  0  success\n"
	      "  1  the snapshot failed (the target exited, output error)\n"
	      "  2  usage error: bad option or malformed PID\n"
	      "  3  no such process\n"
	      "  4  not permitted to trace the process (run as root or with CAP_SYS_PTRACE,\n"
	      "     or set kernel.yama.ptrace_scope=0)\n"
	      "  5  the PID cannot be traced: msttop itself, a zombie, a kernel thread\n"
	      "  6  its Python cannot be decoded (unsupported version or build; with\n"
	      "     --python-only: no Python at all); native stacks are still printed\n"
	      "  128+N  interrupted by signal N\n"
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

static int run_dump(pid_t pid, const struct options *o)
{
	struct mst_err err = {0};
	struct mst_target *tg = NULL;
	struct mst_snapshot *snap = NULL;
	int code = EXIT_OK;

	struct mst_target_opts to = {
	    .pid = pid, .python_only = o->python_only, .cancel = &cancel_signal};
	int rc = mst_target_open(&to, &tg, &err);
	if (rc < 0) {
		fprintf(stderr, "msttop: %s\n", err.msg);
		return exit_code_for(rc);
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
	rc =
	    mst_snapshot_take(mst_target_proc(tg), mst_target_unwinder(tg), py, py_err,
	                      o->python_only ? MST_SNAP_PYTHON_ONLY : MST_SNAP_DETACH, &snap, &err);
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
	rc = o->json ? mst_dump_json(stdout, snap, sym, flags)
	             : mst_dump_text(stdout, snap, sym, flags);
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

/* Sample without a screen until the duration ends, then print a report. */
static int run_batch(struct mst_sampler *s, const struct options *o)
{
	struct mst_err err = {0};
	uint64_t end = mst_clock_ns() + (uint64_t)((o->duration > 0 ? o->duration : 5) * 1e9);
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
	}
	int rc = mst_report_text(stdout, s, 30);
	if (rc < 0 && rc != -EPIPE) {
		fprintf(stderr, "msttop: cannot write the report: %s\n", strerror(-rc));
		return EXIT_FAILED;
	}
	return cancel_signal ? 128 + (int)cancel_signal : EXIT_OK;
}

static int run_live(pid_t pid, const struct options *o)
{
	struct mst_err err = {0};
	struct mst_sampler_opts so = {
	    .pid = pid, .rate_hz = o->rate, .nonblocking = o->nonblocking, .log_path = o->log};
	struct mst_sampler *s = NULL;
	int rc = mst_sampler_open(&so, &cancel_signal, &s, &err);
	if (rc < 0) {
		fprintf(stderr, "msttop: %s\n", err.msg);
		if (rc == -MST_ENOPYTHON || rc == -MST_EUNSUPPORTED)
			return EXIT_NOPYTHON;
		return exit_code_for(rc);
	}
	int code;
	if (o->batch) {
		code = run_batch(s, o);
	} else {
		struct mst_ui_opts uo = {.duration_s = o->duration};
		if (o->native_all) {
			uo.view = MST_AGG_VIEW_ALL;
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
	mst_sampler_close(s);
	return code;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"pid", required_argument, NULL, 'p'},   {"dump", no_argument, NULL, 'd'},
	    {"json", no_argument, NULL, 'j'},        {"native-all", no_argument, NULL, 'N'},
	    {"python-only", no_argument, NULL, 'P'}, {"no-source", no_argument, NULL, 'S'},
	    {"rate", required_argument, NULL, 'r'},  {"duration", required_argument, NULL, 'D'},
	    {"nonblocking", no_argument, NULL, 'n'}, {"batch", no_argument, NULL, 'b'},
	    {"log", required_argument, NULL, 'L'},   {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},     {NULL, 0, NULL, 0},
	};
	const char *pid_arg = NULL;
	struct options o = {0};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "p:dhVr:b", opts, NULL)) != -1) {
		switch (c) {
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
		default:
			if (optopt == 'p')
				fprintf(stderr, "msttop: -p needs a PID (try --help)\n");
			else if (optopt)
				fprintf(stderr, "msttop: unknown option -%c (try --help)\n",
				        optopt);
			else
				fprintf(stderr, "msttop: unknown option %s (try --help)\n",
				        argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "msttop: unexpected argument '%s' (try --help)\n", argv[optind]);
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
	if (o.native_all && o.python_only) {
		fprintf(stderr, "msttop: --native-all and --python-only exclude each other\n");
		return EXIT_USAGE;
	}
	if ((o.json || o.python_only || o.no_source) && !o.dump) {
		fprintf(stderr, "msttop: --json, --python-only and --no-source "
		                "go with --dump\n");
		return EXIT_USAGE;
	}
	if (!pid_arg) {
		fprintf(stderr, "msttop: no PID given: use -p PID (try --help)\n");
		return EXIT_USAGE;
	}
	struct mst_err err = {0};
	pid_t pid;
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
	return o.dump ? run_dump(pid, &o) : run_live(pid, &o);
}
