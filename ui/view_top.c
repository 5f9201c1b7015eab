/* The main screen: header, the threads panel (busiest first) and the hot
 * frames of the whole process (hottest by the chosen key first). Tab moves
 * the cursor between the panels; Enter on a thread opens its screen. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ncursesw/curses.h>

#include "msttop/format.h"
#include "ui/view.h"

/* A thread counts as idle when it ran in under 0.1% of the window and is
 * not running now. */
static bool is_idle(const struct mst_agg_thread *t)
{
	return t->ended || (t->active_pct < 0.1 && !(t->state & MST_TS_RUNNING));
}

/* Case-insensitive substring (ASCII case; other bytes exactly). */
static bool contains(const char *hay, const char *needle)
{
	return !needle || !*needle || (hay && strcasestr(hay, needle));
}

/* The innermost frame of the thread's last stack that the view shows. */
static bool top_frame(struct mst_ui *u, pid_t tid, struct mst_agg_frame *out)
{
	const struct mst_agg_stack_frame *fr;
	size_t n;
	if (mst_agg_thread_stack(u->agg, tid, &fr, &n) < 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (mst_agg_frame(u->agg, MST_AGG_BY_LINE, fr[i].id, out) < 0)
			continue;
		if (mst_ui_frame_shown(u, out, &fr[i]))
			return true;
	}
	/* Nothing the view shows: the innermost frame says more than "-". */
	return n && mst_agg_frame(u->agg, MST_AGG_BY_LINE, fr[0].id, out) == 0;
}

static int by_activity(const void *pa, const void *pb)
{
	const struct mst_agg_thread *a = *(const struct mst_agg_thread *const *)pa;
	const struct mst_agg_thread *b = *(const struct mst_agg_thread *const *)pb;
	if (a->ended != b->ended)
		return a->ended ? 1 : -1;
	/* Whole tenths of a percent: rows do not swap on noise. */
	long ia = (long)(a->active_pct * 10), ib = (long)(b->active_pct * 10);
	if (ia != ib)
		return ia > ib ? -1 : 1;
	return a->tid < b->tid ? -1 : a->tid > b->tid;
}

static int keep_tids(struct mst_ui *u, size_t n)
{
	if (n <= u->cap_tids)
		return 0;
	pid_t *p = realloc(u->shown_tids, n * sizeof(*p));
	if (!p)
		return -1;
	u->shown_tids = p;
	u->cap_tids = n;
	return 0;
}

/* "1234 python3 app.py": a process's pid and the start of its command
 * line, the program's name without its directory. */
static void proc_label(struct mst_ui *u, pid_t pid, char *buf, size_t len)
{
	snprintf(buf, len, "%d", (int)pid);
	for (size_t i = 0; i < mst_sampler_nprocs(u->s); i++) {
		const struct mst_target_info *ti = mst_sampler_proc(u->s, i, NULL);
		if (ti->pid != pid)
			continue;
		const char *cmd = ti->cmdline, *base = cmd;
		size_t prog = strcspn(cmd, " ");
		for (size_t k = 0; k < prog; k++)
			if (cmd[k] == '/')
				base = cmd + k + 1;
		snprintf(buf, len, "%d %s", (int)pid, base);
		return;
	}
}

static void draw_threads(struct mst_ui *u, int y, int h, const struct mst_agg_thread **list,
                         size_t n, size_t hidden)
{
	int ff = mst_ui_fit_flags(u) | MST_FIT_SHORT_PATH; /* the main screen: short paths */
	if (mst_sampler_nprocs(u->s) > 1)
		ff |= MST_FIT_PROCESS;
	struct mst_fmt_thread_layout tl;
	char line[4096];
	mst_fmt_thread_layout(u->cols - 1, ff, &tl);
	line[0] = ' ';
	mst_fmt_thread_header(&tl, line + 1, sizeof(line) - 1);
	mst_ui_line(u, y++, line, MST_A_BAR);

	int sel = 0;
	for (size_t i = 0; i < n; i++)
		if (list[i]->tid == u->sel_tid)
			sel = (int)i;
	if (n) {
		u->sel_tid = list[sel]->tid;
		u->sel_pid = list[sel]->pid;
	}
	mst_ui_scroll(sel, h, &u->thr_top);
	if (u->thr_top > 0 && u->thr_top + h > (int)n)
		u->thr_top = (int)n > h ? (int)n - h : 0;

	if (!n) {
		snprintf(line, sizeof(line),
		         " (no thread to show%s%zu hidden: i shows idle ones%s)",
		         hidden ? "; " : "", hidden, u->filter[0] ? ", / changes the filter" : "");
		if (!hidden)
			snprintf(line, sizeof(line), " (no thread sampled yet)");
		mst_ui_line(u, y, line, MST_A_DIM);
		return;
	}
	for (int r = 0; r < h && u->thr_top + r < (int)n; r++) {
		const struct mst_agg_thread *t = list[u->thr_top + r];
		struct mst_agg_frame f;
		bool has_top = top_frame(u, t->tid, &f);
		bool cur = u->thr_top + r == sel;
		line[0] = cur ? '>' : ' ';
		char proc[600] = "";
		if (ff & MST_FIT_PROCESS)
			proc_label(u, t->pid, proc, sizeof(proc));
		mst_fmt_thread_row(&tl, t, has_top ? &f : NULL, proc, line + 1, sizeof(line) - 1);
		enum mst_ui_attr a = is_idle(t) ? MST_A_DIM : MST_A_NORMAL;
		if (cur)
			a = u->focus == 0 ? MST_A_SELECTED : MST_A_MARK;
		mst_ui_line(u, y + r, line, a);
	}
}

static void draw_hot(struct mst_ui *u, int y, int h)
{
	int ff = mst_ui_fit_flags(u) | MST_FIT_SHORT_PATH;
	struct mst_fmt_hot_layout hl;
	char line[4096];
	int bar = y++;
	h--;

	struct mst_agg_query q = {
	    .tid = 0,
	    .pid = u->only_pid,
	    .window = u->window,
	    .mode = u->mode,
	    .subset = u->subset,
	    .view = u->view,
	    .sort = u->sort,
	    .filter = u->filter,
	    .limit = 2000,
	};
	const struct mst_agg_hot *rows;
	size_t n = 0;
	struct mst_agg_count scope;
	struct mst_err e = {0};
	if (mst_agg_hot(u->agg, &q, &rows, &n, &scope, &e) < 0) {
		mst_ui_msg(u, "hot frames: %s", e.msg);
		n = 0;
	}
	u->nhot_shown = n;
	if (u->hot_sel >= (int)n)
		u->hot_sel = n ? (int)n - 1 : 0;
	mst_ui_scroll(u->hot_sel, h, &u->hot_top);
	mst_fmt_hot_layout(u->cols - 1, ff, mst_ui_fn_want(rows, n, u->hot_top, h), &hl);
	line[0] = ' ';
	mst_fmt_hot_header(&hl, u->sort, line + 1, sizeof(line) - 1);
	mst_ui_line(u, bar, line, MST_A_BAR);
	if (!n) {
		mst_ui_line(u, y,
		            u->filter[0] ? " (no frame matches the filter)"
		                         : " (no samples in the window yet)",
		            MST_A_DIM);
		return;
	}
	for (int r = 0; r < h && u->hot_top + r < (int)n; r++) {
		const struct mst_agg_hot *row = &rows[u->hot_top + r];
		bool cur = u->focus == 1 && u->hot_top + r == u->hot_sel;
		line[0] = cur ? '>' : ' ';
		mst_fmt_hot_row(&hl, row, &scope, line + 1, sizeof(line) - 1);
		enum mst_ui_attr a = row->frame.kind == MST_AGG_NATIVE ? MST_A_DIM : MST_A_NORMAL;
		if (cur)
			a = MST_A_SELECTED;
		mst_ui_line(u, y + r, line, a);
	}
}

void mst_view_top_draw(struct mst_ui *u)
{
	int y = mst_header_draw(u);
	int avail = u->rows - y - 1; /* the status line */

	const struct mst_agg_thread *rows;
	size_t n = 0;
	struct mst_err e = {0};
	if (mst_agg_threads(u->agg, u->window, &rows, &n, &e) < 0) {
		mst_ui_msg(u, "threads: %s", e.msg);
		n = 0;
	}
	const struct mst_agg_thread **list = n ? calloc(n, sizeof(*list)) : NULL;
	size_t shown = 0, hidden = 0;
	if (n && !list)
		n = 0;
	for (size_t i = 0; i < n; i++) {
		const struct mst_agg_thread *t = &rows[i];
		char tid[16];
		snprintf(tid, sizeof(tid), "%d", (int)t->tid);
		if (u->filter[0] && !contains(t->name, u->filter) && !contains(tid, u->filter))
			continue;
		if (u->only_pid && t->pid != u->only_pid)
			continue;
		if (!u->show_idle && is_idle(t)) {
			hidden++;
			continue;
		}
		list[shown++] = t;
	}
	if (shown > 1)
		qsort(list, shown, sizeof(*list), by_activity);
	if (keep_tids(u, shown) == 0) {
		for (size_t i = 0; i < shown; i++)
			u->shown_tids[i] = list[i]->tid;
		u->nshown_tids = shown;
	} else {
		u->nshown_tids = 0;
	}

	/* Two bars, then the threads take up to 2/5 of what is left. */
	int rest = avail - 2;
	int th = (int)(shown ? shown : 1);
	int cap = rest * 2 / 5 > 1 ? rest * 2 / 5 : 1;
	if (th > cap)
		th = cap;
	u->thr_h = th;
	u->hot_h = rest - th;
	draw_threads(u, y, th, list, shown, hidden);
	free(list);
	if (u->flame)
		mst_flame_draw(u, y + 1 + th, u->hot_h + 1, 0);
	else
		draw_hot(u, y + 1 + th, u->hot_h + 1);

	mst_ui_status(
	    u, mst_sampler_nprocs(u->s) > 1
	           ? "F1 help  Enter thread  Tab panel  s sort  n native  l line/func  "
	             "i idle  g GIL  o process  c window  f flame  / filter  p pause  r reset  "
	             "w write  q quit"
	           : "F1 help  Enter thread  Tab panel  s sort  n native  l line/func  "
	             "i idle  g GIL  c window  f flame  / filter  p pause  r reset  w write  q "
	             "quit");
}

void mst_view_top_key(struct mst_ui *u, int ch)
{
	/* The flame graph's cursor takes the arrows, Enter and Esc. */
	if (u->flame && u->focus == 1 && mst_flame_key(u, ch))
		return;
	if (mst_ui_common_key(u, ch))
		return;
	if (ch == '\t' || ch == KEY_BTAB || ch == KEY_RIGHT || ch == KEY_LEFT) {
		u->focus = !u->focus;
		return;
	}
	if (u->focus == 0) {
		int sel = 0;
		for (size_t i = 0; i < u->nshown_tids; i++)
			if (u->shown_tids[i] == u->sel_tid)
				sel = (int)i;
		if (mst_ui_move(ch, &sel, u->nshown_tids, u->thr_h)) {
			if (u->nshown_tids)
				u->sel_tid = u->shown_tids[sel];
			return;
		}
		if ((ch == '\n' || ch == '\r' || ch == KEY_ENTER) && u->nshown_tids) {
			mst_view_thread_open(u, u->sel_tid);
			return;
		}
	} else if (!u->flame) {
		if (mst_ui_move(ch, &u->hot_sel, u->nhot_shown, u->hot_h))
			return;
	}
}
