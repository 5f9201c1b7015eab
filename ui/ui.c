/* The live view's loop: owns the terminal from newterm to endwin, samples
 * when the sampler is due, redraws about once a second and at once on a key
 * or a resize, and otherwise waits on the terminal with a timeout. Single
 * threaded; also the painter every screen draws through, and the keys all
 * screens share. */
#include "ui/ui.h"

#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <ncursesw/curses.h>

#include "msttop/format.h"
#include "ui/view.h"
#include "msttop/clock.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
/* How long a status message stays. */
#define MSG_NS (4 * NS_PER_S)
/* The longest wait on the terminal: bounds how late a cancel is seen even
 * if a signal does not interrupt the wait. */
#define WAIT_MAX_MS 200

/* ---- painting ---- */

enum {
	PAIR_BAR = 1,
	PAIR_SEL,
	PAIR_DIM,
	PAIR_HEADER,
	PAIR_WARN,
	PAIR_STATUS,
	PAIR_FLAME_PY,
	PAIR_FLAME_C,
	PAIR_FLAME_OTHER
};

static attr_t attr_of(const struct mst_ui *u, enum mst_ui_attr a)
{
	if (u->color) {
		switch (a) {
		case MST_A_NORMAL:
			return A_NORMAL;
		case MST_A_BAR:
			return COLOR_PAIR(PAIR_BAR);
		case MST_A_SELECTED:
			return COLOR_PAIR(PAIR_SEL);
		case MST_A_MARK:
			return A_BOLD;
		case MST_A_DIM:
			return COLOR_PAIR(PAIR_DIM);
		case MST_A_HEADER:
			return COLOR_PAIR(PAIR_HEADER) | A_BOLD;
		case MST_A_WARN:
			return COLOR_PAIR(PAIR_WARN) | A_BOLD;
		case MST_A_STATUS:
			return COLOR_PAIR(PAIR_STATUS);
		case MST_A_FLAME_PY:
			return COLOR_PAIR(PAIR_FLAME_PY);
		case MST_A_FLAME_C:
			return COLOR_PAIR(PAIR_FLAME_C);
		case MST_A_FLAME_OTHER:
			return COLOR_PAIR(PAIR_FLAME_OTHER);
		}
		return A_NORMAL;
	}
	/* Monochrome: reverse for bars and the cursor, bold for emphasis. */
	switch (a) {
	case MST_A_NORMAL:
		return A_NORMAL;
	case MST_A_BAR:
		return A_REVERSE;
	case MST_A_SELECTED:
		return A_REVERSE | A_BOLD;
	case MST_A_MARK:
		return A_BOLD;
	case MST_A_DIM:
		return A_DIM;
	case MST_A_HEADER:
		return A_BOLD;
	case MST_A_WARN:
		return A_BOLD | A_UNDERLINE;
	case MST_A_STATUS:
		return A_REVERSE;
	case MST_A_FLAME_PY:
		return A_REVERSE;
	case MST_A_FLAME_C:
		return A_REVERSE | A_DIM;
	case MST_A_FLAME_OTHER:
		return A_NORMAL;
	}
	return A_NORMAL;
}

int mst_ui_fit_flags(const struct mst_ui *u)
{
	return u->ascii ? MST_FIT_ASCII : 0;
}

void mst_ui_line(struct mst_ui *u, int y, const char *text, enum mst_ui_attr a)
{
	if (y < 0 || y >= u->rows)
		return;
	/* The bottom-right cell would scroll some terminals: leave it. */
	int w = y == u->rows - 1 ? u->cols - 1 : u->cols;
	char buf[4096];
	mst_fmt_fit(text, w, MST_FIT_PAD | mst_ui_fit_flags(u), buf, sizeof(buf));
	attr_t at = attr_of(u, a);
	attrset(at);
	mvaddstr(y, 0, buf);
	if (w < u->cols)
		clrtoeol();
	attrset(A_NORMAL);
}

void mst_ui_text(struct mst_ui *u, int y, int x, const char *text, enum mst_ui_attr a)
{
	if (y < 0 || y >= u->rows || x < 0 || x >= u->cols)
		return;
	attrset(attr_of(u, a));
	mvaddstr(y, x, text);
	attrset(A_NORMAL);
}

void mst_ui_msg(struct mst_ui *u, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(u->msg, sizeof(u->msg), fmt, ap);
	va_end(ap);
	u->msg_until = u->now_ns + MSG_NS;
}

void mst_ui_status(struct mst_ui *u, const char *hints)
{
	char line[512];
	enum mst_ui_attr a = MST_A_STATUS;
	if (u->editing) {
		snprintf(line, sizeof(line), "Filter: %s_   (Enter: keep, Esc: clear)", u->edit);
		a = MST_A_NORMAL;
	} else if (u->msg[0] && u->now_ns < u->msg_until) {
		snprintf(line, sizeof(line), "%s", u->msg);
		a = MST_A_WARN;
	} else if (u->exited) {
		snprintf(line, sizeof(line), "The target exited: showing its last data. q quits.");
		a = MST_A_WARN;
	} else if (u->recording_to) {
		snprintf(line, sizeof(line), "REC %s  %s", u->recording_to, hints);
	} else {
		snprintf(line, sizeof(line), "%s", hints);
	}
	mst_ui_line(u, u->rows - 1, line, a);
}

bool mst_ui_move(int ch, int *sel, size_t n, int page)
{
	int last = n ? (int)n - 1 : 0;
	if (page < 1)
		page = 1;
	switch (ch) {
	case KEY_UP:
	case 'k':
		*sel -= 1;
		break;
	case KEY_DOWN:
	case 'j':
		*sel += 1;
		break;
	case KEY_PPAGE:
		*sel -= page;
		break;
	case KEY_NPAGE:
		*sel += page;
		break;
	case KEY_HOME:
		*sel = 0;
		break;
	case KEY_END:
		*sel = last;
		break;
	default:
		return false;
	}
	if (*sel > last)
		*sel = last;
	if (*sel < 0)
		*sel = 0;
	return true;
}

void mst_ui_scroll(int sel, int h, int *top)
{
	if (h < 1)
		h = 1;
	if (sel < *top)
		*top = sel;
	if (sel >= *top + h)
		*top = sel - h + 1;
	if (*top < 0)
		*top = 0;
}

bool mst_ui_frame_shown(const struct mst_ui *u, const struct mst_agg_frame *f,
                        const struct mst_agg_stack_frame *at)
{
	switch (u->view) {
	case MST_AGG_VIEW_USER:
		return !at->interp;
	case MST_AGG_VIEW_ALL:
		return true;
	case MST_AGG_VIEW_FOLDED:
		return !at->folded;
	case MST_AGG_VIEW_PYTHON:
		return f->kind == MST_AGG_PYTHON;
	}
	return true;
}

int mst_ui_fn_want(const struct mst_agg_hot *rows, size_t n, int top, int h)
{
	int w = 0;
	for (int i = top; i < top + h && i < (int)n; i++) {
		int fw = mst_fmt_width(rows[i].frame.function);
		if (fw > w)
			w = fw;
	}
	return w;
}

/* ---- keys every screen shares ---- */

static const char *const sort_names[] = {"own samples", "total samples", "own time", "total time",
                                         "name"};
/* 'w': the window on screen (recent seconds, or since start or reset) to
 * a file named after the target and the time, in the working directory. */
static void write_window(struct mst_ui *u)
{
	if (!u->rec) {
		mst_ui_msg(u, "Nothing to write: no recording");
		return;
	}
	char path[256], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	/* Two writes in one second get two files. */
	for (int k = 1; k < 100; k++) {
		char nth[16] = "";
		if (k > 1)
			snprintf(nth, sizeof(nth), "-%d", k);
		snprintf(path, sizeof(path), "msttop-%d-%s%s%s", (int)u->meta->pid, stamp, nth,
		         mst_record_format_ext(u->write_format));
		if (access(path, F_OK) < 0)
			break;
	}
	struct mst_err e = {0};
	/* As the screen shows it: window, idle samples, native frames. */
	struct mst_record_select sel = {.recent = u->window == MST_AGG_RECENT,
	                                .idle = u->show_idle,
	                                .gil_only = u->subset == MST_AGG_ONLY_GIL,
	                                .view = u->view};
	bool recent = sel.recent;
	/* The processes as they are now (--subprocesses). */
	struct mst_record_proc procs[64];
	struct mst_record_meta meta = *u->meta;
	meta.nprocs = mst_sampler_record_procs(u->s, procs, 64);
	meta.procs = procs;
	if (mst_record_write_path(u->rec, path, u->write_format, &meta, &sel, &e) < 0) {
		mst_ui_msg(u, "%s", e.msg);
		return;
	}
	char cwd[256];
	mst_ui_msg(u, "Wrote %s/%s (%s, %s)", getcwd(cwd, sizeof(cwd)) ? cwd : ".", path,
	           mst_record_format_name(u->write_format),
	           recent ? "recent seconds" : "since start");
}

/* By enum mst_agg_view. */
const char *const mst_ui_view_names[] = {"every frame", "folded", "Python only", "your code"};
static const char *const view_help[] = {
    "every native frame, the interpreter's too",
    "the interpreter's frames between Python frames folded",
    "Python frames alone",
    "your code first: the interpreter's own time is its Python frame's",
};

static void filter_key(struct mst_ui *u, int ch)
{
	size_t n = strlen(u->edit);
	switch (ch) {
	case 27: /* Esc: no filter (htop does the same) */
		u->edit[0] = '\0';
		u->editing = false;
		break;
	case '\n':
	case '\r':
	case KEY_ENTER:
		u->editing = false;
		break;
	case KEY_BACKSPACE:
	case 127:
	case 8:
		/* Remove a whole UTF-8 character. */
		while (n > 0 && ((unsigned char)u->edit[n - 1] & 0xc0) == 0x80)
			n--;
		if (n > 0)
			n--;
		u->edit[n] = '\0';
		break;
	case 21: /* Ctrl-U */
		u->edit[0] = '\0';
		break;
	default:
		/* Bytes of printable text (UTF-8 arrives a byte at a time). */
		if (ch >= 0x20 && ch < 0x100 && ch != 0x7f && n + 1 < sizeof(u->edit)) {
			u->edit[n] = (char)ch;
			u->edit[n + 1] = '\0';
		}
		break;
	}
	/* The filter applies while it is typed. */
	snprintf(u->filter, sizeof(u->filter), "%s", u->edit);
	u->hot_sel = u->hot_top = 0;
}

bool mst_ui_common_key(struct mst_ui *u, int ch)
{
	if (u->editing) {
		filter_key(u, ch);
		return true;
	}
	switch (ch) {
	case 'q':
	case KEY_F(10):
		u->quit = true;
		return true;
	case '?':
	case KEY_F(1):
		if (u->screen != MST_UI_HELP) {
			u->help_back = u->screen;
			u->screen = MST_UI_HELP;
			u->help_top = 0;
		}
		return true;
	case '/':
		u->editing = true;
		snprintf(u->edit, sizeof(u->edit), "%s", u->filter);
		return true;
	case 's':
		u->sort = (enum mst_agg_sort)((u->sort + 1) % 5);
		mst_ui_msg(u, "Hot frames sorted by %s", sort_names[u->sort]);
		return true;
	case 'n':
		/* your code -> folded -> all -> Python only -> your code */
		u->view = u->view == MST_AGG_VIEW_USER     ? MST_AGG_VIEW_FOLDED
		          : u->view == MST_AGG_VIEW_FOLDED ? MST_AGG_VIEW_ALL
		          : u->view == MST_AGG_VIEW_ALL    ? MST_AGG_VIEW_PYTHON
		                                           : MST_AGG_VIEW_USER;
		mst_view_thread_forget(u);
		mst_ui_msg(u, "Frames: %s", view_help[u->view]);
		return true;
	case 'l':
		u->mode = u->mode == MST_AGG_BY_LINE ? MST_AGG_BY_FUNC : MST_AGG_BY_LINE;
		mst_view_thread_forget(u);
		mst_ui_msg(u, "Counting by %s", u->mode == MST_AGG_BY_LINE ? "line" : "function");
		return true;
	case 'i':
		/* Idle threads and idle samples go together (py-spy's --idle):
		 * without them the hot frames are where the CPU goes. */
		u->show_idle = !u->show_idle;
		if (u->subset != MST_AGG_ONLY_GIL)
			u->subset = u->show_idle ? MST_AGG_ALL : MST_AGG_ONLY_ACTIVE;
		mst_ui_msg(u, "%s idle threads and idle samples",
		           u->show_idle ? "Showing" : "Hiding");
		return true;
	case 'o':
		if (mst_sampler_nprocs(u->s) < 2 && !u->only_pid) {
			mst_ui_msg(u,
			           "One process only: --subprocesses follows a process's children");
			return true;
		}
		u->only_pid = u->only_pid ? 0 : u->sel_pid;
		if (u->only_pid)
			mst_ui_msg(u, "Only process %d (o: every process)", (int)u->only_pid);
		else
			mst_ui_msg(u, "Every process");
		return true;
	case 'g':
		if (u->subset == MST_AGG_ONLY_GIL)
			u->subset = u->show_idle ? MST_AGG_ALL : MST_AGG_ONLY_ACTIVE;
		else
			u->subset = MST_AGG_ONLY_GIL;
		mst_ui_msg(u, "%s",
		           u->subset == MST_AGG_ONLY_GIL ? "Only samples holding the GIL"
		                                         : "Every sample again");
		return true;
	case 'c':
		u->window = u->window == MST_AGG_RECENT ? MST_AGG_CUMULATIVE : MST_AGG_RECENT;
		mst_ui_msg(u, "Window: %s",
		           u->window == MST_AGG_RECENT ? "recent seconds" : "since start");
		return true;
	case ' ':
	case 'p':
		u->paused = !u->paused;
		mst_sampler_pause(u->s, u->paused);
		mst_ui_msg(u, "%s", u->paused ? "Paused: the target is left alone" : "Sampling");
		return true;
	case 'w':
		write_window(u);
		return true;
	case 'f':
		u->flame = !u->flame;
		mst_flame_reset(u);
		if (u->flame)
			u->focus = 1; /* the keys move in the flame graph */
		mst_ui_msg(u, "%s",
		           u->flame ? "Flame view: arrows move, Enter zooms in, Esc out"
		                    : "Hot frames");
		return true;
	case 'r':
		mst_flame_reset(u);
		mst_agg_reset(u->agg);
		if (u->rec)
			mst_record_reset(u->rec);
		mst_view_thread_forget(u);
		u->hot_sel = u->hot_top = 0;
		mst_ui_msg(u, "Counts reset");
		return true;
	case 12: /* Ctrl-L */
		clearok(curscr, TRUE);
		return true;
	}
	return false;
}

/* ---- the loop ---- */

static void draw(struct mst_ui *u)
{
	getmaxyx(stdscr, u->rows, u->cols);
	erase();
	if (u->cols < MST_UI_MIN_COLS || u->rows < MST_UI_MIN_ROWS) {
		char line[128];
		mst_ui_line(u, 0, "terminal too small", MST_A_WARN);
		snprintf(line, sizeof(line), "need %dx%d, have %dx%d", MST_UI_MIN_COLS,
		         MST_UI_MIN_ROWS, u->cols, u->rows);
		if (u->rows > 2)
			mst_ui_line(u, 1, line, MST_A_NORMAL);
		if (u->rows > 3)
			mst_ui_line(u, 2, "q quits", MST_A_NORMAL);
	} else {
		switch (u->screen) {
		case MST_UI_TOP:
			mst_view_top_draw(u);
			break;
		case MST_UI_THREAD:
			mst_view_thread_draw(u);
			break;
		case MST_UI_HELP:
			mst_help_draw(u);
			break;
		}
	}
	refresh();
}

static void key(struct mst_ui *u, int ch)
{
	if (ch == KEY_RESIZE)
		return; /* the redraw that follows every key measures again */
	if (u->cols < MST_UI_MIN_COLS || u->rows < MST_UI_MIN_ROWS) {
		if (ch == 'q' || ch == KEY_F(10))
			u->quit = true;
		return;
	}
	switch (u->screen) {
	case MST_UI_TOP:
		mst_view_top_key(u, ch);
		break;
	case MST_UI_THREAD:
		mst_view_thread_key(u, ch);
		break;
	case MST_UI_HELP:
		mst_help_key(u, ch);
		break;
	}
}

static void init_colors(struct mst_ui *u, bool no_color)
{
	const char *nc = getenv("NO_COLOR");
	u->color = !no_color && !(nc && *nc) && has_colors();
	if (!u->color)
		return;
	if (start_color() == ERR) {
		u->color = false;
		return;
	}
	/* The terminal's own background where it has one (tmux, xterm). */
	short bg = use_default_colors() == OK ? -1 : COLOR_BLACK;
	init_pair(PAIR_BAR, COLOR_BLACK, COLOR_GREEN);
	init_pair(PAIR_SEL, COLOR_BLACK, COLOR_CYAN);
	init_pair(PAIR_DIM, COLOR_BLUE, bg);
	init_pair(PAIR_HEADER, COLOR_CYAN, bg);
	init_pair(PAIR_WARN, COLOR_RED, bg);
	init_pair(PAIR_STATUS, COLOR_BLACK, COLOR_CYAN);
	init_pair(PAIR_FLAME_PY, COLOR_BLACK, COLOR_CYAN);
	init_pair(PAIR_FLAME_C, COLOR_BLACK, COLOR_YELLOW);
	init_pair(PAIR_FLAME_OTHER, COLOR_BLACK, COLOR_WHITE);
}

/* How often a dead target's remaining thread exits are collected. */
#define REAP_POLL_NS (10 * NS_PER_MS)

/* Sample as long as the sampler is due; a stalled tick never starves the
 * screen because the caller redraws in between. */
static int sample(struct mst_ui *u, volatile sig_atomic_t *cancel)
{
	if (u->paused || u->exited)
		return 0;
	uint64_t now = mst_clock_ns();
	if (now < mst_sampler_next_due(u->s))
		return 0;
	struct mst_err e = {0};
	int rc = mst_sampler_tick(u->s, now, &e);
	if (rc == -ESRCH) {
		u->exited = true;
		u->dirty = true;
		mst_ui_msg(u, "The target exited: showing its last data. q quits.");
	} else if (rc == -MST_EINTR || (cancel && *cancel)) {
		return -MST_EINTR;
	} else if (rc < 0) {
		mst_ui_msg(u, "%s", e.msg[0] ? e.msg : strerror(-rc));
	}
	return 0;
}

int mst_ui_run(struct mst_sampler *s, const struct mst_ui_opts *o, volatile sig_atomic_t *cancel,
               struct mst_err *err)
{
	static const struct mst_ui_opts defaults = {0};
	if (!o)
		o = &defaults;
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		return mst_err_set(err, -ENOTTY,
		                   "the live view needs a terminal: use --batch or --dump");

	struct mst_ui *u = calloc(1, sizeof(*u));
	if (!u)
		return mst_err_set(err, -ENOMEM, "out of memory");
	u->s = s;
	u->agg = mst_sampler_agg(s);
	u->sort = o->sort;
	u->view = o->view_set ? o->view : MST_AGG_VIEW_USER;
	u->mode = o->mode_set ? o->mode : MST_AGG_BY_FUNC;
	u->subset = o->show_idle ? MST_AGG_ALL : MST_AGG_ONLY_ACTIVE;
	u->show_idle = o->show_idle;
	u->paused = mst_sampler_paused(s);
	u->write_format = o->write_format;
	u->meta = o->meta;
	u->recording_to = o->recording_to;
	/* The 'w' key's recording: what the view counts, without a timeline.
	 * Without room for it the key says so; the view works on. */
	struct mst_record_config rc_cfg = {.no_timeline = true};
	if (o->meta && mst_record_new(&rc_cfg, &u->rec, NULL) == 0 &&
	    mst_sampler_add_record(s, u->rec) < 0) {
		mst_record_free(u->rec);
		u->rec = NULL;
	}

	/* Names are UTF-8; only a UTF-8 locale lets curses show them. */
	setlocale(LC_ALL, "");
	const char *cs = nl_langinfo(CODESET);
	u->ascii = !(cs && (!strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "utf8")));

	/* newterm, not initscr: initscr exits the program on a bad $TERM. */
	SCREEN *scr = newterm(NULL, stdout, stdin);
	if (!scr) {
		const char *t = getenv("TERM");
		free(u);
		return mst_err_set(err, -ENOTTY, "cannot use the terminal (TERM=%s)",
		                   t ? t : "(unset)");
	}
	set_term(scr);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	curs_set(0);
	/* Esc alone must answer fast; keys with escape sequences arrive in
	 * one burst well within this. */
	set_escdelay(50);
	init_colors(u, o->no_color);

	unsigned refresh_ms = o->refresh_ms ? o->refresh_ms : 1000;
	uint64_t start = mst_clock_ns();
	uint64_t end = o->duration_s > 0 ? start + (uint64_t)(o->duration_s * 1e9) : 0;
	uint64_t next_draw = 0;
	int rc = 0;
	u->dirty = true;

	while (!u->quit) {
		if (cancel && *cancel) {
			rc = -MST_EINTR;
			break;
		}
		u->now_ns = mst_clock_ns();
		if (end && u->now_ns >= end)
			break;
		if (sample(u, cancel) < 0) {
			rc = -MST_EINTR;
			break;
		}
		if (!u->exited) {
			struct mst_sampler_stats st;
			mst_sampler_stats(s, &st);
			if (st.target_exited) {
				u->exited = true;
				u->dirty = true;
			}
		}
		u->now_ns = mst_clock_ns();
		if (u->dirty || u->now_ns >= next_draw) {
			draw(u);
			u->dirty = false;
			next_draw = u->now_ns + refresh_ms * NS_PER_MS;
		}

		/* Wait on the terminal until the next tick, redraw or end. */
		uint64_t wake = next_draw;
		if (!u->paused && !u->exited) {
			uint64_t due = mst_sampler_next_due(s);
			if (due < wake)
				wake = due;
		}
		/* A dead target's threads not collected yet keep its parent
		 * from reaping it: look again soon. */
		if (u->exited && mst_sampler_reap(s) > 0 && u->now_ns + REAP_POLL_NS < wake)
			wake = u->now_ns + REAP_POLL_NS;
		if (end && end < wake)
			wake = end;
		uint64_t now = mst_clock_ns();
		int ms = wake <= now ? 0 : (int)((wake - now + NS_PER_MS - 1) / NS_PER_MS);
		if (ms > WAIT_MAX_MS)
			ms = WAIT_MAX_MS;
		timeout(ms);
		int ch = getch();
		if (ch == ERR)
			continue;
		u->now_ns = mst_clock_ns();
		key(u, ch);
		u->dirty = true;
	}

	endwin();
	delscreen(scr);
	mst_view_thread_free(u);
	mst_record_tree_fini(&u->fl.tree);
	free(u->shown_tids);
	/* The sampler outlives the screen: it must not feed a freed record. */
	mst_sampler_remove_record(s, u->rec);
	mst_record_free(u->rec);
	free(u);
	return rc;
}
