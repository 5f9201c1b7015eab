/* The live view end to end: the real msttop binary inside a private tmux
 * server, attached to tests/targets/tui_hot.py (three named threads, one
 * clearly hotter). Reads the screen back with capture-pane and checks the
 * header, the threads, the hottest function on top, the thread screen,
 * help, resizing down to "too small", and that q exits 0 leaving the target
 * alive and running, not traced. A msttop that cannot attach fails the
 * test: it never passes by skipping. */
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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
	bool full; /* every step, or the header and q only */
};

static struct variant variants[4];
static int nvariants;

struct ctx {
	char sock[64];
	char pane[16384]; /* the last capture */
	char why[1024];
	struct mst_target target;
	pid_t shell;      /* the pane's shell, msttop's parent */
	char rcfile[128]; /* msttop's exit status, written by the shell */
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
	char dir[64];
	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return bad(c, "cannot list %s", dir);
	struct dirent *de;
	bool ok = true;
	while (ok && (de = readdir(d))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		char path[128], buf[4096];
		snprintf(path, sizeof(path), "%s/%s/status", dir, de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue; /* a thread that just ended */
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		const char *st = strstr(buf, "\nState:\t");
		const char *tp = strstr(buf, "\nTracerPid:\t");
		if (st && (st[8] == 't' || st[8] == 'T'))
			ok = bad(c, "thread %s of the target is left stopped (%c)", de->d_name,
			         st[8]);
		else if (tp && atoi(tp + 12) != 0)
			ok = bad(c, "thread %s is still traced by %d", de->d_name, atoi(tp + 12));
	}
	closedir(d);
	return ok;
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
	if (mst_target_start_py(&c->target, v->py, "tests/targets/tui_hot.py", NULL, 20000) < 0)
		return bad(c, "the target did not start under %s", v->py->label);
	if (mst_target_ready_value(&c->target, "hot", hot_tid, sizeof(hot_tid)) < 0)
		return bad(c, "no hot= in '%s'", c->target.ready);

	const char *bin_env = getenv("MSTTOP_TUI_BIN"); /* a developer's own build */
	char *bin = bin_env && *bin_env ? strdup(bin_env) : mst_build_path("msttop");
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
	         "env TERM=%s LC_ALL=%s %s '%s' -p %d; echo $? > %s.tmp; mv %s.tmp %s", v->term,
	         v->lang, v->no_color ? "NO_COLOR=1" : "", bin, (int)c->target.pid, c->rcfile,
	         c->rcfile, c->rcfile);
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
	fprintf(stderr, "tui: %s, TERM=%s LC_ALL=%s%s\n", v->py->label, v->term, v->lang,
	        v->no_color ? " NO_COLOR" : "");
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
	mst_target_stop(&c.target);
	ck_assert_msg(ok, "%s (%s)", c.why, v->py->label);
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
}

static Suite *tui_suite(void)
{
	pick_variants();
	Suite *s = suite_create("tui");
	TCase *tc = tcase_create("live_view");
	tcase_set_timeout(tc, 180);
	tcase_add_loop_test(tc, live_view, 0, nvariants > 0 ? nvariants : 1);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return mst_check_main(tui_suite(), NULL, 0);
}
