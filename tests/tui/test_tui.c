/* The live view end to end: the real msttop binary inside a private tmux
 * server, attached to tests/targets/tui_hot.py (three named threads, one
 * clearly hotter). Reads the screen back with capture-pane and checks the
 * header, the threads, the hottest function on top, the thread screen,
 * help, resizing down to "too small", and that q exits 0 leaving the target
 * alive and running, not traced. A msttop that cannot attach fails the
 * test: it never passes by skipping.
 *
 * The "changing" cases: the target exits under the live view (the figures
 * stay, keys work, q exits 0), threads churn by the thousand per second for
 * $MSTTOP_CHURN_SECONDS (default 4) while the screen keeps refreshing, and
 * a terminal below 40x10 from the start; each ends with q and checks that
 * the terminal is restored (tmux's pane modes and the tty's stty -a). */
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check_main.h"
#include "../harness.h"

#define STEP_MS 250
#define WAIT_MS 20000

/* One run: which interpreter, in which terminal. */
struct variant {
	const struct mst_interp *py;
	const char *term; /* TERM inside the pane */
	const char *lang; /* LC_ALL inside the pane */
	bool no_color;
	bool full;           /* every step, or the header and q only */
	const char *sampler; /* --sampler, or NULL */
};

static struct variant variants[5];
static int nvariants;

struct ctx {
	char sock[64];
	char pane[16384]; /* the last capture */
	char why[1024];
	struct mst_child target;
	pid_t shell;        /* the pane's shell, msttop's parent */
	char rcfile[128];   /* msttop's exit status, written by the shell */
	char sttyfile[128]; /* the tty's modes right after msttop (new tests) */
	char cwd[128];      /* msttop's working directory ("": /tmp) */
	char args[512];     /* more options after -p PID */
};

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* tmux's path: mst_run execs without a PATH search. */
static const char *tmux_path(void)
{
	static char path[4096];
	if (path[0])
		return path;
	const char *env = getenv("PATH");
	char dirs[4096];
	snprintf(dirs, sizeof(dirs), "%s", env && *env ? env : "/usr/local/bin:/usr/bin:/bin");
	for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(path, sizeof(path), "%s/tmux", d);
		if (access(path, X_OK) == 0)
			return path;
	}
	snprintf(path, sizeof(path), "/usr/bin/tmux");
	return path;
}

/* tmux -L sock ARGS...; the output (stdout) into out when not NULL. */
static int tmux(struct ctx *c, char **out, ...)
{
	char *argv[32] = {(char *)tmux_path(), "-u", "-L", c->sock, "-f", "/dev/null"};
	int n = 6;
	va_list ap;
	va_start(ap, out);
	const char *a;
	while ((a = va_arg(ap, const char *)) && n < 31)
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	char *o = NULL, *e = NULL;
	int st = mst_run(argv, 10000, &o, &e);
	if (st != 0 && e && *e && getenv("MSTTOP_TUI_DEBUG"))
		fprintf(stderr, "tui: tmux %s: %s", argv[6], e);
	free(e);
	if (out)
		*out = o;
	else
		free(o);
	return st == 0 ? 0 : -1;
}

static bool bad(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool bad(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
	fprintf(stderr, "tui: %s\n--- pane ---\n%s\n------------\n", c->why, c->pane);
	return false;
}

static void capture(struct ctx *c)
{
	char *o = NULL;
	c->pane[0] = '\0';
	if (tmux(c, &o, "capture-pane", "-p", "-t", "msttop", NULL) == 0 && o)
		snprintf(c->pane, sizeof(c->pane), "%s", o);
	free(o);
}

static void keys(struct ctx *c, const char *k)
{
	tmux(c, NULL, "send-keys", "-t", "msttop", k, NULL);
}

/* msttop has exited: its status, as the pane's shell wrote it. (tmux 3.3's
 * pane_dead_status is empty for some panes, so the shell keeps it.) */
static bool pane_dead(struct ctx *c, int *status)
{
	FILE *f = fopen(c->rcfile, "r");
	if (!f)
		return false;
	int s = -1;
	bool done = fscanf(f, "%d", &s) == 1;
	fclose(f);
	if (done && status)
		*status = s;
	return done;
}

/* The line of the pane holding s, or NULL. */
static const char *line_with(const char *pane, const char *s, char *line, size_t len)
{
	const char *p = strstr(pane, s);
	if (!p)
		return NULL;
	const char *start = p;
	while (start > pane && start[-1] != '\n')
		start--;
	const char *end = strchr(p, '\n');
	size_t n = end ? (size_t)(end - start) : strlen(start);
	if (n >= len)
		n = len - 1;
	memcpy(line, start, n);
	line[n] = '\0';
	return line;
}

/* The first row under the hot frames' column bar. */
static bool first_hot_row(const char *pane, char *line, size_t len)
{
	const char *bar = strstr(pane, "%OWN");
	if (!bar)
		return false;
	const char *nl = strchr(bar, '\n');
	if (!nl)
		return false;
	const char *end = strchr(nl + 1, '\n');
	size_t n = end ? (size_t)(end - nl - 1) : strlen(nl + 1);
	if (n >= len)
		n = len - 1;
	memcpy(line, nl + 1, n);
	line[n] = '\0';
	return true;
}

typedef bool (*pane_pred)(struct ctx *c, const void *arg);

/* Capture until pred holds, msttop dies or the time is up. */
static bool wait_for(struct ctx *c, pane_pred pred, const void *arg, int ms)
{
	for (int t = 0; t <= ms; t += STEP_MS) {
		capture(c);
		if (pred(c, arg))
			return true;
		int st;
		if (pane_dead(c, &st))
			return false;
		sleep_ms(STEP_MS);
	}
	return false;
}

static bool has_all(struct ctx *c, const void *arg)
{
	for (const char *const *s = arg; *s; s++)
		if (!strstr(c->pane, *s))
			return false;
	return true;
}

static bool hot_on_top(struct ctx *c, const void *arg)
{
	char line[1024];
	return strstr(c->pane, "[Python only]") && first_hot_row(c->pane, line, sizeof(line)) &&
	       strstr(line, (const char *)arg);
}

/* The default view puts the user's code first: the header names it, and
 * the first hot row is the function named arg with at least 60 % own time
 * (the interpreter's functions under it count as its own). */
static bool user_on_top(struct ctx *c, const void *arg)
{
	char line[1024];
	if (!strstr(c->pane, "[your code]") || !first_hot_row(c->pane, line, sizeof(line)) ||
	    !strstr(line, (const char *)arg))
		return false;
	/* The row starts with %OWN. */
	double own = strtod(line + strspn(line, " >"), NULL);
	return own >= 60.0;
}

/* The cursor row ('>' in the first column) shows arg. */
static bool cursor_on(struct ctx *c, const void *arg)
{
	for (const char *p = c->pane; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (*p != '>')
			continue;
		const char *end = strchr(p, '\n');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)(n < sizeof(line) ? n : sizeof(line) - 1),
		         p);
		return strstr(line, (const char *)arg) != NULL;
	}
	return false;
}

/* Every line fits the width: a valid screen after a resize. */
static bool fits(struct ctx *c, const void *arg)
{
	const int *cols = arg;
	int w = 0;
	for (const unsigned char *p = (const unsigned char *)c->pane; *p; p++) {
		if (*p == '\n') {
			w = 0;
			continue;
		}
		if ((*p & 0xc0) != 0x80 && ++w > cols[0])
			return false;
	}
	return strstr(c->pane, "TID") && strstr(c->pane, "%OWN") && strstr(c->pane, "tui-hot");
}

/* Every thread of the target: alive, not stopped, not traced. */
static bool target_ok(struct ctx *c)
{
	pid_t pid = c->target.pid;
	if (kill(pid, 0) < 0)
		return bad(c, "the target %d is gone", (int)pid);
	char what[128] = "";
	return !mst_task_held(pid, what, sizeof(what)) || bad(c, "%s", what);
}

/* CPU time of a thread, in clock ticks. */
static long thread_ticks(pid_t pid, const char *tid)
{
	char path[128], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid, tid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	unsigned long ut = 0, stime = 0;
	if (!p ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &stime) != 2)
		return -1;
	return (long)(ut + stime);
}

static bool scenario(struct ctx *c, const struct variant *v)
{
	char hot_tid[32], ver[32], line[1024];
	if (mst_child_start_py(&c->target, v->py, "tests/targets/tui_hot.py", NULL, 20000) < 0)
		return bad(c, "the target did not start under %s", v->py->label);
	if (mst_child_ready_value(&c->target, "hot", hot_tid, sizeof(hot_tid)) < 0)
		return bad(c, "no hot= in '%s'", c->target.ready);

	const char *bin_env = getenv("MSTTOP_TUI_BIN"); /* a developer's own build */
	char *bin = bin_env && *bin_env ? strdup(bin_env) : mst_build_path("msttop");
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
	         "env TERM=%s LC_ALL=%s %s '%s' -p %d %s %s; echo $? > %s.tmp; mv %s.tmp %s",
	         v->term, v->lang, v->no_color ? "NO_COLOR=1" : "", bin, (int)c->target.pid,
	         v->sampler ? "--sampler" : "", v->sampler ? v->sampler : "", c->rcfile, c->rcfile,
	         c->rcfile);
	free(bin);
	/* remain-on-exit keeps the pane, and what msttop said, after it exits. */
	if (tmux(c, NULL, "start-server", ";", "set-option", "-g", "remain-on-exit", "on", ";",
	         "set-option", "-g", "default-terminal", "screen", ";", "new-session", "-d", "-s",
	         "msttop", "-x", "120", "-y", "40", cmd, NULL) < 0)
		return bad(c, "tmux did not start");
	char pidbuf[32] = "";
	char *o = NULL;
	if (tmux(c, &o, "display-message", "-p", "-t", "msttop", "#{pane_pid}", NULL) == 0 && o)
		snprintf(pidbuf, sizeof(pidbuf), "%s", o);
	free(o);
	c->shell = atoi(pidbuf);

	/* The header's Python version and the three threads. */
	snprintf(ver, sizeof(ver), "Python %d.%d", v->py->major, v->py->minor);
	const char *first[] = {ver, "tui-hot", "tui-warm-1", "tui-warm-2", NULL};
	if (!wait_for(c, has_all, first, WAIT_MS))
		return bad(c, "no '%s' and the three threads on the screen (%s)", ver,
		           pane_dead(c, NULL) ? "msttop exited: it could not attach?" : "timeout");
	if (!v->full)
		goto quit;

	/* Python frames only: the hottest function is the top row. */
	keys(c, "n");
	keys(c, "n");
	keys(c, "n");
	if (!wait_for(c, hot_on_top, "hot_spin_alpha", WAIT_MS)) {
		first_hot_row(c->pane, line, sizeof(line));
		return bad(c, "hot_spin_alpha is not on top of the hot frames: '%s'", line);
	}

	/* Enter on the hot thread: its screen, with its function on its stack. */
	keys(c, "Home");
	for (int i = 0; i < 8; i++) {
		if (wait_for(c, cursor_on, "tui-hot", 500))
			break;
		keys(c, "j");
	}
	if (!cursor_on(c, "tui-hot"))
		return bad(c, "the cursor never reached the tui-hot thread");
	keys(c, "Enter");
	char title[64];
	snprintf(title, sizeof(title), "Thread %s \"tui-hot\"", hot_tid);
	const char *thread_screen[] = {title, "STACK", "hot_spin_alpha", NULL};
	if (!wait_for(c, has_all, thread_screen, 5000))
		return bad(c, "Enter did not show the stack of thread %s", hot_tid);
	/* The first row under the stack's title is its innermost frame. */
	const char *stack = strstr(c->pane, "STACK");
	const char *row = stack ? strchr(stack, '\n') : NULL;
	if (!row || !line_with(row + 1, "py", line, sizeof(line)) ||
	    !strstr(line, "hot_spin_alpha"))
		return bad(c, "the innermost Python frame of tui-hot is not hot_spin_alpha");
	keys(c, "Escape");
	const char *top[] = {"TID", "%OWN", NULL};
	if (!wait_for(c, has_all, top, 5000))
		return bad(c, "Esc did not go back to the main screen");

	/* Help, and back. */
	keys(c, "?");
	const char *help[] = {"msttop help", "Keys", NULL};
	if (!wait_for(c, has_all, help, 5000))
		return bad(c, "? did not show the help");
	keys(c, "Escape");
	if (!wait_for(c, has_all, top, 5000))
		return bad(c, "the help did not go back");

	/* Resizing keeps a valid screen; a tiny one says it is too small. */
	tmux(c, NULL, "resize-window", "-t", "msttop", "-x", "60", "-y", "15", NULL);
	int w60 = 60;
	if (!wait_for(c, fits, &w60, 5000))
		return bad(c, "no valid screen at 60x15");
	tmux(c, NULL, "resize-window", "-t", "msttop", "-x", "20", "-y", "5", NULL);
	const char *small[] = {"too small", NULL};
	if (!wait_for(c, has_all, small, 5000))
		return bad(c, "no 'too small' at 20x5");
	tmux(c, NULL, "resize-window", "-t", "msttop", "-x", "100", "-y", "30", NULL);
	int w100 = 100;
	if (!wait_for(c, fits, &w100, 5000))
		return bad(c, "no valid screen back at 100x30");

quit:
	keys(c, "q");
	int st = -1;
	for (int t = 0; t < 10000 && !pane_dead(c, &st); t += STEP_MS)
		sleep_ms(STEP_MS);
	capture(c);
	if (!pane_dead(c, &st))
		return bad(c, "q did not end msttop");
	if (st != 0)
		return bad(c, "msttop exited with %d after q", st);

	/* The target lives on, untraced, and its hot thread still runs. */
	if (!target_ok(c))
		return false;
	long t0 = thread_ticks(c->target.pid, hot_tid);
	sleep_ms(500);
	long t1 = thread_ticks(c->target.pid, hot_tid);
	if (t0 < 0 || t1 <= t0)
		return bad(c, "the hot thread does not run after msttop left (%ld -> %ld)", t0, t1);
	return target_ok(c);
}

/* SIGTERM (then SIGKILL) whatever the pane's shell still runs: msttop, if
 * a step failed before q. SIGTERM first so it detaches cleanly. */
static void kill_children(pid_t shell)
{
	if (shell <= 0)
		return;
	char path[128], buf[512] = "";
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)shell, (int)shell);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	pid_t kids[16];
	int nk = 0;
	for (char *p = buf, *end; nk < 16; p = end) {
		long v = strtol(p, &end, 10);
		if (end == p)
			break;
		kids[nk++] = (pid_t)v;
	}
	for (int i = 0; i < nk; i++)
		kill(kids[i], SIGTERM);
	for (int t = 0; t < 40; t++) {
		bool alive = false;
		for (int i = 0; i < nk; i++)
			alive |= kill(kids[i], 0) == 0;
		if (!alive)
			return;
		sleep_ms(50);
	}
	for (int i = 0; i < nk; i++)
		kill(kids[i], SIGKILL);
}

START_TEST(live_view)
{
	ck_assert_msg(nvariants > 0, "no Python interpreter found to test with");
	ck_assert_msg(access(tmux_path(), X_OK) == 0, "tmux is not installed");
	const struct variant *v = &variants[_i];
	struct ctx c = {0};
	snprintf(c.sock, sizeof(c.sock), "msttop-test-%d", (int)getpid());
	snprintf(c.rcfile, sizeof(c.rcfile), "/tmp/msttop-tui-%d.rc", (int)getpid());
	unlink(c.rcfile);
	fprintf(stderr, "tui: %s, TERM=%s LC_ALL=%s%s%s%s\n", v->py->label, v->term, v->lang,
	        v->no_color ? " NO_COLOR" : "", v->sampler ? " --sampler " : "",
	        v->sampler ? v->sampler : "");
	bool ok = scenario(&c, v);
	/* Cleanup before asserting: a failed assertion ends this process. */
	kill_children(c.shell);
	tmux(&c, NULL, "kill-server", NULL);
	unlink(c.rcfile);
	const char *tmpdir = getenv("TMUX_TMPDIR");
	char sockpath[512];
	snprintf(sockpath, sizeof(sockpath), "%s/tmux-%u/%s", tmpdir && *tmpdir ? tmpdir : "/tmp",
	         (unsigned)getuid(), c.sock);
	unlink(sockpath);
	mst_child_stop(&c.target);
	ck_assert_msg(ok, "%s (%s)", c.why, v->py->label);
}
END_TEST

/* ---- the target exits, threads churn, the terminal is too small ---- */

/* Start msttop on pid in a fresh tmux session of cols x rows (TERM=screen,
 * UTF-8). The pane's shell records msttop's exit status in c->rcfile and,
 * before that, the terminal's modes (stty -a) in c->sttyfile. */
static bool start_session(struct ctx *c, pid_t pid, int cols, int rows)
{
	const char *bin_env = getenv("MSTTOP_TUI_BIN"); /* a developer's own build */
	char *bin = bin_env && *bin_env ? strdup(bin_env) : mst_build_path("msttop");
	char cmd[4096], xs[16], ys[16];
	snprintf(cmd, sizeof(cmd),
	         "cd '%s' && env TERM=screen LC_ALL=C.UTF-8 '%s' -p %d %s; s=$?; stty -a > %s "
	         "2>&1; echo $s > %s.tmp; mv %s.tmp %s; exec sleep 300",
	         c->cwd[0] ? c->cwd : "/tmp", bin, (int)pid, c->args, c->sttyfile, c->rcfile,
	         c->rcfile, c->rcfile);
	free(bin);
	snprintf(xs, sizeof(xs), "%d", cols);
	snprintf(ys, sizeof(ys), "%d", rows);
	if (tmux(c, NULL, "start-server", ";", "set-option", "-g", "remain-on-exit", "on", ";",
	         "set-option", "-g", "default-terminal", "screen", ";", "new-session", "-d", "-s",
	         "msttop", "-x", xs, "-y", ys, cmd, NULL) < 0)
		return bad(c, "tmux did not start");
	char *o = NULL;
	if (tmux(c, &o, "display-message", "-p", "-t", "msttop", "#{pane_pid}", NULL) == 0 && o)
		c->shell = atoi(o);
	free(o);
	return true;
}

static void session_init(struct ctx *c, const char *tag)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->sock, sizeof(c->sock), "msttop-test-%s-%d", tag, (int)getpid());
	snprintf(c->rcfile, sizeof(c->rcfile), "/tmp/msttop-tui-%s-%d.rc", tag, (int)getpid());
	snprintf(c->sttyfile, sizeof(c->sttyfile), "/tmp/msttop-tui-%s-%d.stty", tag,
	         (int)getpid());
	unlink(c->rcfile);
	unlink(c->sttyfile);
}

/* Everything a session started goes, whatever happened. */
static void session_end(struct ctx *c)
{
	kill_children(c->shell);
	tmux(c, NULL, "kill-server", NULL);
	unlink(c->rcfile);
	unlink(c->sttyfile);
	const char *tmpdir = getenv("TMUX_TMPDIR");
	char sockpath[512];
	snprintf(sockpath, sizeof(sockpath), "%s/tmux-%u/%s", tmpdir && *tmpdir ? tmpdir : "/tmp",
	         (unsigned)getuid(), c->sock);
	unlink(sockpath);
	mst_child_stop(&c->target);
}

/* The header's "samples N", or -1. */
static long samples_shown(const char *pane)
{
	const char *p = strstr(pane, "samples ");
	long n = -1;
	if (!p || sscanf(p + 8, "%ld", &n) != 1)
		return -1;
	return n;
}

static bool has_samples(struct ctx *c, const void *arg)
{
	(void)arg;
	return samples_shown(c->pane) > 0;
}

/* q ends msttop with 0 and leaves the terminal as it found it: out of the
 * alternate screen, cursor shown, keypad transmit off, and the tty back in
 * canonical mode with echo (the shell's `stty -a` right after msttop). */
static bool quit_clean(struct ctx *c)
{
	keys(c, "q");
	int st = -1;
	for (int t = 0; t < 10000 && !pane_dead(c, &st); t += STEP_MS)
		sleep_ms(STEP_MS);
	capture(c);
	if (!pane_dead(c, &st))
		return bad(c, "q did not end msttop");
	if (st != 0)
		return bad(c, "msttop exited with %d after q", st);
	/* The shell lives on (sleep) so the pane shows what msttop left;
	 * tmux may take a moment to process msttop's last output. */
	int alt = -1, cur = -1, kp = -1;
	for (int t = 0; t < 2000; t += 100) {
		char *o = NULL;
		tmux(c, &o, "display-message", "-p", "-t", "msttop",
		     "#{alternate_on} #{cursor_flag} #{keypad_flag}", NULL);
		if (!o || sscanf(o, "%d %d %d", &alt, &cur, &kp) != 3)
			alt = cur = kp = -1;
		free(o);
		if (alt == 0 && cur == 1 && kp == 0)
			break;
		sleep_ms(100);
	}
	if (alt != 0 || cur != 1 || kp != 0)
		return bad(c, "terminal not restored: alternate screen %d, cursor %d, keypad %d",
		           alt, cur, kp);
	char buf[4096] = "";
	FILE *f = fopen(c->sttyfile, "r");
	if (f) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		buf[n] = '\0';
		fclose(f);
	}
	/* Flags are words: " icanon" set, " -icanon" cleared. */
	if (!strstr(buf, " icanon") || !strstr(buf, " echo ") || !strstr(buf, " icrnl"))
		return bad(c, "the tty is not back in canonical mode with echo:\n%s", buf);
	return true;
}

/* The target lives, and within half a second /proc agrees that no thread
 * is stopped or traced (threads churning by the thousand come and go). */
static bool target_free_settled(struct ctx *c)
{
	if (kill(c->target.pid, 0) < 0)
		return bad(c, "the target %d is gone", (int)c->target.pid);
	char what[128] = "";
	return !mst_wait_none_held(c->target.pid, what, sizeof(what)) || bad(c, "%s", what);
}

static const struct mst_interp *newest_interp(void)
{
	const struct mst_interp *in;
	size_t n = mst_test_interps(&in);
	return n ? &in[n - 1] : NULL;
}

/* The target exits while the live view runs: its parent can reap it at
 * once (msttop does not hold on to the dead process), the screen says it
 * exited and keeps the last figures past the 5-s recent window, keys still
 * work, and q exits 0 with the terminal restored. */
static bool exit_scenario(struct ctx *c, const struct mst_interp *py)
{
	if (mst_child_start_py(&c->target, py, "tests/targets/py_robust.py", "exitsig", 20000) < 0)
		return bad(c, "the target did not start under %s", py->label);
	if (!start_session(c, c->target.pid, 120, 40))
		return false;
	const char *threads[] = {"spin-0", "spin-1", NULL};
	if (!wait_for(c, has_all, threads, WAIT_MS))
		return bad(c, "the target's threads are not on the screen (%s)",
		           pane_dead(c, NULL) ? "msttop exited" : "timeout");
	/* Python frames only: the spinners' function tops the hot frames. */
	keys(c, "n");
	keys(c, "n");
	keys(c, "n");
	if (!wait_for(c, hot_on_top, " spin ", WAIT_MS))
		return bad(c, "spin is not on top of the hot frames");

	pid_t pid = c->target.pid;
	kill(pid, SIGUSR1);
	/* Its parent (this test) reaps it while msttop still runs: msttop
	 * collects each of its threads' exits as soon as they come (a traced
	 * zombie is reported to the tracer first). The bound is no budget, only
	 * the end of waiting for something that does not come. */
	int st = -1;
	pid_t r = 0;
	long kill_at = mst_now_ms();
	for (int t = 0; t < 60000 && (r = waitpid(pid, &st, WNOHANG)) == 0; t += 20)
		sleep_ms(20);
	if (r != pid) {
		/* What holds it: each task's state, where it waits, its tracer. */
		char cmd[256], why[1024] = "?";
		snprintf(cmd, sizeof(cmd),
		         "for x in /proc/%d/task/*; do echo $(cut -d' ' -f1,3 $x/stat) "
		         "$(cat $x/wchan) $(grep -E 'TracerPid|SigPnd|ShdPnd|SigBlk|SigCgt' "
		         "$x/status); done 2>&1 | head -8",
		         (int)pid);
		FILE *f = popen(cmd, "r");
		if (f) {
			size_t k = fread(why, 1, sizeof(why) - 1, f);
			why[k] = '\0';
			pclose(f);
		}
		return bad(c,
		           "the exited target could not be reaped by its parent in 60 s "
		           "while msttop runs (waitpid: %d); its tasks: %s",
		           (int)r, why);
	}
	fprintf(stderr, "tui: the exited target reaped by its parent %ld ms after its signal\n",
	        mst_now_ms() - kill_at);
	c->target.pid = 0; /* reaped: nothing to kill */
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return bad(c, "the target did not exit with 0 (status 0x%x)", st);
	long exited_at = mst_now_ms();

	const char *gone[] = {"[target exited]", "The target exited", NULL};
	if (!wait_for(c, has_all, gone, 5000))
		return bad(c, "the screen does not say the target exited");
	long last = samples_shown(c->pane);
	char line[1024];
	if (last <= 0)
		return bad(c, "no samples counted before the exit");
	if (!strstr(c->pane, "spin-0") || !strstr(c->pane, "spin-1") ||
	    !first_hot_row(c->pane, line, sizeof(line)) || !strstr(line, " spin "))
		return bad(c, "the last figures are gone once the target exited");

	/* Still responsive: help opens and closes. */
	keys(c, "?");
	const char *help[] = {"msttop help", "Keys", NULL};
	if (!wait_for(c, has_all, help, 5000))
		return bad(c, "? did not show the help after the target exited");
	keys(c, "Escape");
	const char *top[] = {"TID", "%OWN", "spin-0", NULL};
	if (!wait_for(c, has_all, top, 5000))
		return bad(c, "the help did not go back after the target exited");

	/* Past the recent window (5 s plus the current second): the figures
	 * stay, frozen. */
	while (mst_now_ms() - exited_at < 6500) {
		sleep_ms(500);
		capture(c);
		if (pane_dead(c, NULL))
			return bad(c, "msttop ended by itself after the target exited");
	}
	capture(c);
	if (!strstr(c->pane, "target exited"))
		return bad(c, "the exit notice went away");
	if (samples_shown(c->pane) != last)
		return bad(c, "samples went from %ld to %ld after the exit", last,
		           samples_shown(c->pane));
	if (!strstr(c->pane, "spin-0") || !strstr(c->pane, "spin-1") ||
	    !first_hot_row(c->pane, line, sizeof(line)) || !strstr(line, " spin "))
		return bad(c, "the last figures faded 6 s after the exit: '%s'", line);
	return quit_clean(c);
}

START_TEST(target_exits_live)
{
	ck_assert_msg(access(tmux_path(), X_OK) == 0, "tmux is not installed");
	const struct mst_interp *py = newest_interp();
	ck_assert_msg(py, "no Python interpreter found to test with");
	struct ctx c;
	session_init(&c, "exit");
	bool ok = exit_scenario(&c, py);
	session_end(&c);
	ck_assert_msg(ok, "%s (%s)", c.why, py->label);
}
END_TEST

/* Read the target's "churned N" lines available now; the last N and when it
 * was read. */
static void read_churned(struct ctx *c, long *n, long *at)
{
	char buf[4096];
	for (;;) {
		struct pollfd pfd = {c->target.out_fd, POLLIN, 0};
		if (poll(&pfd, 1, 0) <= 0)
			return;
		ssize_t k = read(c->target.out_fd, buf, sizeof(buf) - 1);
		if (k <= 0)
			return;
		buf[k] = '\0';
		for (const char *p = buf; (p = strstr(p, "churned ")); p += 8) {
			*n = atol(p + 8);
			*at = mst_now_ms();
		}
	}
}

/* Threads created and joined by the thousand per second while the live
 * view runs for $MSTTOP_CHURN_SECONDS (default 4): the screen keeps
 * refreshing, the churn goes on (its rate is reported, not asserted: a busy
 * machine slows the target as much as msttop; at least 100 threads must
 * come and go while watched), q exits 0, and the target is left alive,
 * untraced, no thread stopped. */
static bool churn_scenario(struct ctx *c, const struct mst_interp *py, int secs)
{
	if (mst_child_start_py(&c->target, py, "tests/targets/py_robust.py", "churncount", 20000) <
	    0)
		return bad(c, "the target did not start under %s", py->label);
	if (!start_session(c, c->target.pid, 120, 40))
		return false;
	char ver[32];
	snprintf(ver, sizeof(ver), "Python %d.%d", py->major, py->minor);
	const char *first[] = {ver, "TID", NULL};
	if (!wait_for(c, has_all, first, WAIT_MS))
		return bad(c, "no '%s' and threads on the screen (%s)", ver,
		           pane_dead(c, NULL) ? "msttop exited" : "timeout");

	/* The first sample (symbols loaded, every thread attached) may take
	 * a while, more so in a sanitized build: from then on, the count
	 * must move at every redraw (about once a second). */
	if (!wait_for(c, has_samples, NULL, WAIT_MS))
		return bad(c, "no sample counted under the churn");
	long n0 = -1, t0 = 0, n1 = -1, t1 = 0;
	read_churned(c, &n0, &t0);
	long start = mst_now_ms(), changed = start;
	long shown = samples_shown(c->pane), first_shown = shown;
	while (mst_now_ms() - start < secs * 1000L) {
		sleep_ms(STEP_MS);
		capture(c);
		if (pane_dead(c, NULL))
			return bad(c, "msttop ended during the churn");
		long now = samples_shown(c->pane);
		if (now != shown) {
			shown = now;
			changed = mst_now_ms();
		} else if (mst_now_ms() - changed > 3000) {
			return bad(c,
			           "the screen stopped refreshing: samples stuck at %ld for %.1f s",
			           shown, (mst_now_ms() - changed) / 1000.0);
		}
		if (n0 < 0)
			read_churned(c, &n0, &t0);
	}
	read_churned(c, &n1, &t1);
	if (shown <= first_shown)
		return bad(c, "no samples counted during the churn (%ld -> %ld)", first_shown,
		           shown);
	if (n0 < 0 || n1 <= n0 || t1 - t0 < 1000)
		return bad(c, "the target did not report its churn (%ld at %ld, %ld at %ld)", n0,
		           t0, n1, t1);
	double rate = (double)(n1 - n0) * 1000.0 / (double)(t1 - t0);
	fprintf(stderr, "tui: churn %.0f threads/s for %d s, %ld samples shown\n", rate, secs,
	        shown);
	if (n1 - n0 < 100)
		return bad(c, "only %ld threads came and went in %.1f s under the live view",
		           n1 - n0, (t1 - t0) / 1000.0);
	if (!quit_clean(c))
		return false;
	return target_free_settled(c);
}

START_TEST(churn_live)
{
	ck_assert_msg(access(tmux_path(), X_OK) == 0, "tmux is not installed");
	const struct mst_interp *py = newest_interp();
	ck_assert_msg(py, "no Python interpreter found to test with");
	const char *env = getenv("MSTTOP_CHURN_SECONDS");
	int secs = env && atoi(env) > 0 ? atoi(env) : 4;
	struct ctx c;
	session_init(&c, "churn");
	bool ok = churn_scenario(&c, py, secs);
	session_end(&c);
	ck_assert_msg(ok, "%s (%s)", c.why, py->label);
}
END_TEST

/* A screen that fits: no "too small", the column bars, no line wider. */
static bool usable(struct ctx *c, const void *arg)
{
	const int *cols = arg;
	int w = 0;
	for (const unsigned char *p = (const unsigned char *)c->pane; *p; p++) {
		if (*p == '\n') {
			w = 0;
			continue;
		}
		if ((*p & 0xc0) != 0x80 && ++w > cols[0])
			return false;
	}
	return !strstr(c->pane, "too small") && strstr(c->pane, "TID");
}

static bool resize(struct ctx *c, int cols, int rows)
{
	char xs[16], ys[16];
	snprintf(xs, sizeof(xs), "%d", cols);
	snprintf(ys, sizeof(ys), "%d", rows);
	return tmux(c, NULL, "resize-window", "-t", "msttop", "-x", xs, "-y", ys, NULL) == 0;
}

/* Started in a terminal below 40x10 the screen says so, with the size it
 * needs and has; exactly 40x10 is usable, one column or row less is not;
 * q quits from the "too small" screen too. */
static bool small_scenario(struct ctx *c, const struct mst_interp *py)
{
	if (mst_child_start_py(&c->target, py, "tests/targets/tui_hot.py", NULL, 20000) < 0)
		return bad(c, "the target did not start under %s", py->label);
	if (!start_session(c, c->target.pid, 30, 8))
		return false;
	const char *small[] = {"terminal too small", "need 40x10, have 30x8", NULL};
	if (!wait_for(c, has_all, small, WAIT_MS))
		return bad(c, "no 'too small' in a 30x8 terminal");
	int w40 = 40;
	resize(c, 40, 10);
	if (!wait_for(c, usable, &w40, 5000))
		return bad(c, "no usable screen at 40x10");
	resize(c, 39, 10);
	const char *s39[] = {"too small", "have 39x10", NULL};
	if (!wait_for(c, has_all, s39, 5000))
		return bad(c, "no 'too small' at 39x10");
	resize(c, 40, 9);
	const char *s9[] = {"too small", "have 40x9", NULL};
	if (!wait_for(c, has_all, s9, 5000))
		return bad(c, "no 'too small' at 40x9");
	int w100 = 100;
	resize(c, 100, 30);
	if (!wait_for(c, usable, &w100, 5000))
		return bad(c, "no usable screen after growing to 100x30");
	resize(c, 20, 5);
	const char *s20[] = {"too small", NULL};
	if (!wait_for(c, has_all, s20, 5000))
		return bad(c, "no 'too small' at 20x5");
	if (!quit_clean(c))
		return false;
	return target_ok(c);
}

START_TEST(too_small)
{
	ck_assert_msg(access(tmux_path(), X_OK) == 0, "tmux is not installed");
	const struct mst_interp *py = newest_interp();
	ck_assert_msg(py, "no Python interpreter found to test with");
	struct ctx c;
	session_init(&c, "small");
	bool ok = small_scenario(&c, py);
	session_end(&c);
	ck_assert_msg(ok, "%s (%s)", c.why, py->label);
}
END_TEST

/* The view that puts the user's code first, by default: on one CPU-bound
 * thread its function is the top hot row with most of the time; on the
 * qsort target, libc's qsort stays a frame of its own between the Python
 * caller and the comparator. */
static bool user_view_scenario(struct ctx *c, const struct mst_interp *py)
{
	if (mst_child_start_py(&c->target, py, "tests/targets/py_hot1.py", NULL, 20000) < 0)
		return bad(c, "py_hot1 did not start under %s", py->label);
	if (!start_session(c, c->target.pid, 120, 40))
		return false;
	if (!wait_for(c, user_on_top, "hot ", WAIT_MS)) {
		char line[1024] = "";
		first_hot_row(c->pane, line, sizeof(line));
		return bad(c, "hot() is not the top row with >= 60%% own: '%s'", line);
	}
	/* The flame view: hot() is a box of its own at the left edge, the
	 * widest of its row; the cursor walks down to it, Enter zooms in, Esc
	 * zooms out. */
	keys(c, "f");
	const char *flame[] = {"FLAME all", "\nhot  py_hot1.py", NULL};
	if (!wait_for(c, has_all, flame, 5000))
		return bad(c, "f did not show hot() in the flame view");
	for (int i = 0; i < 12; i++) {
		const char *on[] = {">  hot  ", NULL};
		if (wait_for(c, has_all, on, 300))
			break;
		keys(c, "Down");
	}
	keys(c, "Enter");
	const char *zoomed[] = {"FLAME zoomed on hot  py_hot1.py", NULL};
	if (!wait_for(c, has_all, zoomed, 5000))
		return bad(c, "Enter on hot() did not zoom into it");
	keys(c, "Escape");
	const char *out[] = {"FLAME zoomed on loop", NULL};
	if (!wait_for(c, has_all, out, 5000))
		return bad(c, "Esc did not zoom out to hot()'s caller");
	if (!quit_clean(c))
		return false;
	if (!target_ok(c))
		return false;
	session_end(c);
	session_init(c, "user2");
	if (mst_child_start_py(&c->target, py, "tests/targets/py_record.py", NULL, 20000) < 0)
		return bad(c, "py_record did not start under %s", py->label);
	if (!start_session(c, c->target.pid, 140, 50))
		return false;
	/* By total share: the merged stack's frames are near the top however
	 * many rows the terminal has (own shares put the spinner's first). */
	keys(c, "s");
	const char *merged[] = {"[your code]", "%TOT", "compare", "qsort", "sort_once", NULL};
	if (!wait_for(c, has_all, merged, WAIT_MS))
		return bad(c, "compare, qsort and sort_once are not all in the hot frames");
	/* Short paths: no build tree of the interpreter on the main screen. */
	if (strstr(c->pane, "python-build") || strstr(c->pane, "/site-packages/"))
		return bad(c, "a long path on the main screen");
	if (!quit_clean(c))
		return false;
	return target_ok(c);
}

START_TEST(user_view)
{
	ck_assert_msg(access(tmux_path(), X_OK) == 0, "tmux is not installed");
	const struct mst_interp *in;
	size_t n = mst_test_interps(&in);
	ck_assert_msg((size_t)_i < n, "no Python interpreter found to test with");
	const struct mst_interp *py = &in[_i];
	struct ctx c;
	session_init(&c, "user");
	bool ok = user_view_scenario(&c, py);
	session_end(&c);
	printf("RESULT %s user-view %s\n", py->label, ok ? "ok" : "FAIL");
	ck_assert_msg(ok, "%s (%s)", c.why, py->label);
}
END_TEST

/* The file in dir whose name starts with prefix and ends with suffix, into
 * path; false if none. */
static bool file_like(const char *dir, const char *prefix, const char *suffix, char *path,
                      size_t len)
{
	DIR *d = opendir(dir);
	if (!d)
		return false;
	struct dirent *de;
	bool found = false;
	while (!found && (de = readdir(d))) {
		size_t n = strlen(de->d_name), k = strlen(suffix);
		if (!strncmp(de->d_name, prefix, strlen(prefix)) && n > k &&
		    !strcmp(de->d_name + n - k, suffix)) {
			snprintf(path, len, "%s/%s", dir, de->d_name);
			found = true;
		}
	}
	closedir(d);
	return found;
}

static bool file_has(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return strstr(buf, needle) != NULL;
}

/* --record in the live view: the status line says where; w writes the
 * window on screen to a file named after the target and the time, in
 * --record's format, and says where; q writes the recording. */
static bool record_scenario(struct ctx *c, const struct mst_interp *py)
{
	if (mst_child_start_py(&c->target, py, "tests/targets/tui_hot.py", NULL, 20000) < 0)
		return bad(c, "the target did not start under %s", py->label);
	snprintf(c->args, sizeof(c->args), "--record live.folded");
	if (!start_session(c, c->target.pid, 140, 40))
		return false;
	if (!wait_for(c, has_samples, NULL, WAIT_MS))
		return bad(c, "no samples on the screen");
	const char *rec[] = {"REC live.folded", NULL};
	if (!wait_for(c, has_all, rec, 5000))
		return bad(c, "the status line does not say where the recording goes");
	keys(c, "w");
	char prefix[64], path[512];
	snprintf(prefix, sizeof(prefix), "msttop-%d-", (int)c->target.pid);
	const char *wrote[] = {"Wrote ", prefix, ".folded (collapsed, recent seconds)", NULL};
	if (!wait_for(c, has_all, wrote, 5000))
		return bad(c, "w did not say what it wrote");
	if (!file_like(c->cwd, prefix, ".folded", path, sizeof(path)))
		return bad(c, "w wrote no %s*.folded in %s", prefix, c->cwd);
	if (!file_has(path, "hot_spin_alpha ("))
		return bad(c, "%s does not hold the hot function", path);
	if (!quit_clean(c))
		return false;
	snprintf(path, sizeof(path), "%s/live.folded", c->cwd);
	if (!file_has(path, "hot_spin_alpha ("))
		return bad(c, "q did not write the recording with the hot function in %s", path);
	return target_ok(c);
}

START_TEST(record_live)
{
	ck_assert_msg(access(tmux_path(), X_OK) == 0, "tmux is not installed");
	const struct mst_interp *py = newest_interp();
	ck_assert_msg(py, "no Python interpreter found to test with");
	struct ctx c;
	session_init(&c, "rec");
	snprintf(c.cwd, sizeof(c.cwd), "/tmp/msttop-tui-rec-XXXXXX");
	ck_assert_msg(mkdtemp(c.cwd), "mkdtemp");
	bool ok = record_scenario(&c, py);
	session_end(&c);
	char *argv[] = {"/bin/rm", "-rf", c.cwd, NULL};
	mst_run(argv, 10000, NULL, NULL);
	ck_assert_msg(ok, "%s (%s)", c.why, py->label);
}
END_TEST

/* --subprocesses in the live view: the header counts the processes, the
 * threads panel has a PROCESS column naming each worker, o keeps only the
 * selected thread's process and o again every one. */
static bool subproc_scenario(struct ctx *c, const struct mst_interp *py)
{
	if (mst_child_start_py(&c->target, py, "tests/targets/py_subproc.py", NULL, 60000) < 0)
		return bad(c, "py_subproc did not start under %s", py->label);
	char pool[64] = "", spawn[32] = "", sleep_[32] = "";
	mst_child_ready_value(&c->target, "pool", pool, sizeof(pool));
	mst_child_ready_value(&c->target, "spawn", spawn, sizeof(spawn));
	mst_child_ready_value(&c->target, "sleep", sleep_, sizeof(sleep_));
	int w1 = 0, w2 = 0;
	sscanf(pool, "%d,%d", &w1, &w2);
	snprintf(c->args, sizeof(c->args), "--subprocesses");
	if (!start_session(c, c->target.pid, 160, 50))
		return false;
	if (!wait_for(c, has_samples, NULL, WAIT_MS))
		return bad(c, "no samples on the screen");
	/* Every thread here sleeps: i shows the idle ones. */
	keys(c, "i");
	char p1[64], p2[64], p3[64], p4[64];
	snprintf(p1, sizeof(p1), "%d python3", w1);
	snprintf(p2, sizeof(p2), "%d python3", w2);
	snprintf(p3, sizeof(p3), "%s python3", spawn);
	snprintf(p4, sizeof(p4), "%s sleep", sleep_);
	const char *all[] = {"processes (", "PROCESS", p1, p2, p3, p4, NULL};
	if (!wait_for(c, has_all, all, WAIT_MS))
		return bad(c,
		           "the header, the PROCESS column or a worker (%s, %s, %s, %s) is missing",
		           p1, p2, p3, p4);
	keys(c, "o");
	const char *only[] = {"[process ", "Only process ", NULL};
	if (!wait_for(c, has_all, only, 5000))
		return bad(c, "o did not keep one process");
	/* One process's threads: not every worker is shown any more. */
	if (strstr(c->pane, p1) && strstr(c->pane, p2) && strstr(c->pane, p4))
		return bad(c, "o left every process's threads on the screen");
	keys(c, "o");
	const char *every[] = {"Every process", p1, p2, p4, NULL};
	if (!wait_for(c, has_all, every, 5000))
		return bad(c, "o again did not show every process");
	if (!quit_clean(c))
		return false;
	return target_ok(c);
}

START_TEST(subprocesses_live)
{
	ck_assert_msg(access(tmux_path(), X_OK) == 0, "tmux is not installed");
	const struct mst_interp *py = newest_interp();
	ck_assert_msg(py, "no Python interpreter found to test with");
	struct ctx c;
	session_init(&c, "subproc");
	bool ok = subproc_scenario(&c, py);
	session_end(&c);
	printf("RESULT %s subprocesses-live %s\n", py->label, ok ? "ok" : "FAIL");
	ck_assert_msg(ok, "%s (%s)", c.why, py->label);
}
END_TEST

static void pick_variants(void)
{
	const struct mst_interp *in;
	size_t n = mst_test_interps(&in);
	if (!n)
		return;
	const struct mst_interp *newest = &in[n - 1];
	variants[nvariants++] = (struct variant){newest, "screen", "C.UTF-8", false, true};
	for (size_t i = 0; i < n; i++) {
		if (in[i].system && in[i].major == 3 && in[i].minor == 11 && &in[i] != newest) {
			variants[nvariants++] =
			    (struct variant){&in[i], "screen", "C.UTF-8", false, true};
			break;
		}
	}
	/* The Linux console, no colour, no UTF-8: the ASCII fallbacks. */
	variants[nvariants++] = (struct variant){newest, "linux", "C", true, false};
	/* Every step again, sampled by perf events and BPF (nothing stopped;
	 * on a machine without them msttop exits and this fails). */
	variants[nvariants++] = (struct variant){newest, "screen", "C.UTF-8", false, true, "perf"};
}

static Suite *tui_suite(void)
{
	pick_variants();
	Suite *s = suite_create("tui");
	TCase *tc = tcase_create("live_view");
	tcase_set_timeout(tc, 180);
	tcase_add_loop_test(tc, live_view, 0, nvariants > 0 ? nvariants : 1);
	suite_add_tcase(s, tc);
	TCase *tc2 = tcase_create("changing");
	tcase_set_timeout(tc2, 180);
	tcase_add_test(tc2, target_exits_live);
	tcase_add_test(tc2, churn_live);
	tcase_add_test(tc2, too_small);
	tcase_add_test(tc2, record_live);
	tcase_add_test(tc2, subprocesses_live);

	suite_add_tcase(s, tc2);
	/* The view that puts the user's code first, on every interpreter. */
	const struct mst_interp *in;
	size_t n = mst_test_interps(&in);
	TCase *tc3 = tcase_create("user_view");
	tcase_set_timeout(tc3, 180);
	tcase_add_loop_test(tc3, user_view, 0, n ? (int)n : 1);
	suite_add_tcase(s, tc3);
	return s;
}

int main(void)
{
	return mst_check_main(tui_suite(), NULL, 0);
}
