/* One thread's screen: its last merged stack with its state, its hot
 * frames, and its call tree (since start) with expand/collapse. Tab moves
 * between the three panes; Esc or Backspace goes back to the main screen. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ncursesw/curses.h>

#include "msttop/format.h"
#include "ui/view.h"

enum { PANE_STACK = 0, PANE_HOT = 1, PANE_TREE = 2 };

void mst_view_thread_open(struct mst_ui *u, pid_t tid)
{
	if (u->tid != tid)
		mst_view_thread_forget(u);
	u->tid = tid;
	u->screen = MST_UI_THREAD;
	u->pane = PANE_STACK;
	memset(u->sel, 0, sizeof(u->sel));
	memset(u->top, 0, sizeof(u->top));
}

void mst_view_thread_forget(struct mst_ui *u)
{
	mst_calltree_forget(&u->ct);
	u->sel[PANE_TREE] = u->top[PANE_TREE] = 0;
}

void mst_view_thread_free(struct mst_ui *u)
{
	mst_calltree_free(&u->ct);
}

/* ---- drawing ---- */

static void pane_title(struct mst_ui *u, int y, int pane, const char *title)
{
	char line[512];
	snprintf(line, sizeof(line), "%s%s", u->pane == pane ? "> " : "  ", title);
	mst_ui_line(u, y, line, MST_A_BAR);
}

static void draw_stack(struct mst_ui *u, int y, int h, bool title)
{
	const struct mst_agg_stack_frame *fr;
	size_t n = 0;
	if (title)
		pane_title(u, y++, PANE_STACK, "STACK  last sample, innermost first");
	if (mst_agg_thread_stack(u->agg, u->tid, &fr, &n) < 0)
		n = 0;
	char line[4096];
	int ff = mst_ui_fit_flags(u);
	/* Count the shown frames first: the cursor and scroll work on them. */
	size_t shown = 0;
	for (size_t i = 0; i < n; i++) {
		struct mst_agg_frame f;
		if (mst_agg_frame(u->agg, MST_AGG_BY_LINE, fr[i].id, &f) == 0 &&
		    mst_ui_frame_shown(u, &f, &fr[i]))
			shown++;
	}
	u->count[PANE_STACK] = shown;
	if (u->sel[PANE_STACK] >= (int)shown)
		u->sel[PANE_STACK] = shown ? (int)shown - 1 : 0;
	mst_ui_scroll(u->sel[PANE_STACK], h, &u->top[PANE_STACK]);
	if (!shown) {
		mst_ui_line(u, y, " (no stack sampled)", MST_A_DIM);
		return;
	}
	size_t k = 0;
	int r = 0;
	for (size_t i = 0; i < n && r < h; i++) {
		struct mst_agg_frame f;
		if (mst_agg_frame(u->agg, MST_AGG_BY_LINE, fr[i].id, &f) < 0 ||
		    !mst_ui_frame_shown(u, &f, &fr[i]))
			continue;
		if ((int)k++ < u->top[PANE_STACK])
			continue;
		bool cur = u->pane == PANE_STACK && (int)k - 1 == u->sel[PANE_STACK];
		line[0] = cur ? '>' : ' ';
		mst_fmt_stack_row(u->cols - 1, ff, i, &f, line + 1, sizeof(line) - 1);
		enum mst_ui_attr a = f.kind == MST_AGG_NATIVE ? MST_A_DIM : MST_A_NORMAL;
		mst_ui_line(u, y + r++, line, cur ? MST_A_SELECTED : a);
	}
}

static void draw_hot(struct mst_ui *u, int y, int h, bool title)
{
	int ff = mst_ui_fit_flags(u);
	struct mst_fmt_hot_layout hl;
	char line[4096];
	if (title)
		pane_title(u, y++, PANE_HOT, "HOT FRAMES of this thread");
	int bar = y++;
	h--;
	struct mst_agg_query q = {.tid = u->tid,
	                          .window = u->window,
	                          .mode = u->mode,
	                          .subset = u->subset,
	                          .view = u->view,
	                          .sort = u->sort,
	                          .filter = u->filter,
	                          .limit = 1000};
	const struct mst_agg_hot *rows;
	size_t n = 0;
	struct mst_agg_count scope;
	struct mst_err e = {0};
	if (mst_agg_hot(u->agg, &q, &rows, &n, &scope, &e) < 0)
		n = 0;
	u->count[PANE_HOT] = n;
	if (u->sel[PANE_HOT] >= (int)n)
		u->sel[PANE_HOT] = n ? (int)n - 1 : 0;
	mst_ui_scroll(u->sel[PANE_HOT], h, &u->top[PANE_HOT]);
	mst_fmt_hot_layout(u->cols - 1, ff, mst_ui_fn_want(rows, n, u->top[PANE_HOT], h), &hl);
	line[0] = ' ';
	mst_fmt_hot_header(&hl, u->sort, line + 1, sizeof(line) - 1);
	mst_ui_line(u, bar, line, MST_A_BAR);
	if (!n && h > 0) {
		mst_ui_line(u, y, " (no samples of this thread in the window)", MST_A_DIM);
		return;
	}
	for (int r = 0; r < h && u->top[PANE_HOT] + r < (int)n; r++) {
		const struct mst_agg_hot *row = &rows[u->top[PANE_HOT] + r];
		bool cur = u->pane == PANE_HOT && u->top[PANE_HOT] + r == u->sel[PANE_HOT];
		line[0] = cur ? '>' : ' ';
		mst_fmt_hot_row(&hl, row, &scope, line + 1, sizeof(line) - 1);
		enum mst_ui_attr a = row->frame.kind == MST_AGG_NATIVE ? MST_A_DIM : MST_A_NORMAL;
		mst_ui_line(u, y + r, line, cur ? MST_A_SELECTED : a);
	}
}

static void draw_tree(struct mst_ui *u, int y, int h, bool title)
{
	if (title)
		pane_title(u, y++, PANE_TREE,
		           "CALL TREE  since start, outermost first: %TOTAL %SELF  "
		           "(Enter/Right opens, Left closes)");
	if (u->ct.tid != u->tid || u->ct.built_mode != u->mode)
		u->sel[PANE_TREE] = u->top[PANE_TREE] = 0;
	mst_calltree_build(&u->ct, u->agg, u->tid, u->mode, u->view);
	u->count[PANE_TREE] = u->ct.n;
	if (u->sel[PANE_TREE] >= (int)u->ct.n)
		u->sel[PANE_TREE] = u->ct.n ? (int)u->ct.n - 1 : 0;
	mst_ui_scroll(u->sel[PANE_TREE], h, &u->top[PANE_TREE]);
	if (!u->ct.n) {
		mst_ui_line(u, y, " (no call tree: no samples since start or the last reset)",
		            MST_A_DIM);
		return;
	}
	struct mst_agg_node root;
	uint64_t whole = 0;
	if (mst_agg_tree_node(u->agg, u->tid, u->mode, MST_AGG_TREE_ROOT, &root) == 0)
		whole = root.total_samples;
	int ff = mst_ui_fit_flags(u);
	char line[4096];
	for (int r = 0; r < h && u->top[PANE_TREE] + r < (int)u->ct.n; r++) {
		const struct mst_calltree_row *t = &u->ct.rows[u->top[PANE_TREE] + r];
		struct mst_agg_frame f;
		bool have = t->frame != MST_AGG_TREE_OTHER &&
		            mst_agg_frame(u->agg, u->mode, t->frame, &f) == 0;
		double tp = whole ? 100.0 * (double)t->total_samples / (double)whole : 0;
		double sp = whole ? 100.0 * (double)t->self_samples / (double)whole : 0;
		bool cur = u->pane == PANE_TREE && u->top[PANE_TREE] + r == u->sel[PANE_TREE];
		line[0] = cur ? '>' : ' ';
		mst_fmt_tree_row(u->cols - 1, ff, t->depth, t->has_children, t->expanded, tp, sp,
		                 have ? &f : NULL, line + 1, sizeof(line) - 1);
		enum mst_ui_attr a = have && f.kind == MST_AGG_NATIVE ? MST_A_DIM : MST_A_NORMAL;
		mst_ui_line(u, y + r, line, cur ? MST_A_SELECTED : a);
	}
}

/* The thread's title: who it is and its shares over the window. */
static void draw_title(struct mst_ui *u, int y)
{
	const struct mst_agg_thread *rows;
	size_t n = 0;
	struct mst_err e = {0};
	const struct mst_agg_thread *t = NULL;
	if (mst_agg_threads(u->agg, u->window, &rows, &n, &e) == 0)
		for (size_t i = 0; i < n; i++)
			if (rows[i].tid == u->tid)
				t = &rows[i];
	char line[1024], name[256], a[16], b[16], c[16], d[16];
	if (t)
		snprintf(u->tid_name, sizeof(u->tid_name), "%s", t->name);
	mst_fmt_fit(u->tid_name[0] ? u->tid_name : "-", 32, mst_ui_fit_flags(u), name,
	            sizeof(name));
	if (t)
		snprintf(line, sizeof(line),
		         "Thread %d \"%s\"  %s  CPU %s  GIL %s  wait-GIL %s  GC %s   Esc: back",
		         (int)u->tid, name, mst_fmt_state(t->state, t->ended),
		         mst_fmt_pct(t->active_pct, a, sizeof(a)),
		         mst_fmt_pct(t->gil_pct, b, sizeof(b)),
		         mst_fmt_pct(t->gil_wait_pct, c, sizeof(c)),
		         mst_fmt_pct(t->gc_pct, d, sizeof(d)));
	else
		snprintf(line, sizeof(line),
		         "Thread %d \"%s\"  (no samples since the reset)   Esc: back", (int)u->tid,
		         name);
	mst_ui_line(u, y, line, MST_A_HEADER);
}

void mst_view_thread_draw(struct mst_ui *u)
{
	int y = mst_header_draw(u);
	draw_title(u, y++);
	int avail = u->rows - y - 1;
	if (avail >= 16) {
		/* All three: three titles and the hot panel's column bar. */
		int rest = avail - 4;
		int sh = (int)u->count[PANE_STACK];
		const struct mst_agg_stack_frame *fr;
		size_t n;
		if (mst_agg_thread_stack(u->agg, u->tid, &fr, &n) == 0 && sh == 0)
			sh = (int)n;
		int cap = rest / 3;
		sh = sh < 1 ? 1 : sh > cap ? cap : sh;
		int hh = rest / 4;
		int th = rest - sh - hh;
		draw_stack(u, y, sh, true);
		y += 1 + sh;
		draw_hot(u, y, hh + 1, true);
		y += 2 + hh;
		if (u->flame)
			mst_flame_draw(u, y, th + 1, u->tid); /* in the call tree's place */
		else
			draw_tree(u, y, th, true);
	} else {
		/* Small: the focused pane alone, Tab shows the next. */
		switch (u->pane) {
		case PANE_STACK:
			draw_stack(u, y, avail - 1, true);
			break;
		case PANE_HOT:
			draw_hot(u, y, avail - 1, true);
			break;
		default:
			if (u->flame)
				mst_flame_draw(u, y, avail, u->tid);
			else
				draw_tree(u, y, avail - 1, true);
			break;
		}
	}
	mst_ui_status(u, "Esc back  Tab pane  Enter/Right open  Left close  s sort  n frames  "
	                 "l line/func  c window  f flame  r reset  ? help  q quit");
}

static void tree_key(struct mst_ui *u, int ch)
{
	if (!u->ct.n)
		return;
	int sel = u->sel[PANE_TREE];
	struct mst_calltree_row *t = &u->ct.rows[sel];
	switch (ch) {
	case '\n':
	case '\r':
	case KEY_ENTER:
	case '+':
	case '-':
		if (t->has_children)
			mst_calltree_set_expanded(&u->ct, t->path, !t->expanded);
		break;
	case KEY_RIGHT:
	case 'L':
		if (t->has_children && !t->expanded)
			mst_calltree_set_expanded(&u->ct, t->path, true);
		else if (t->expanded && sel + 1 < (int)u->ct.n)
			u->sel[PANE_TREE] = sel + 1;
		break;
	case KEY_LEFT:
	case 'H':
		if (t->expanded) {
			mst_calltree_set_expanded(&u->ct, t->path, false);
		} else {
			/* To the parent: the nearest row above, one level out. */
			for (int i = sel - 1; i >= 0; i--) {
				if (u->ct.rows[i].depth < t->depth) {
					u->sel[PANE_TREE] = i;
					break;
				}
			}
		}
		break;
	}
}

void mst_view_thread_key(struct mst_ui *u, int ch)
{
	/* The flame graph in the tree's place takes its keys (Esc zooms
	 * out before it goes back). */
	if (!u->editing && u->flame && u->pane == PANE_TREE && mst_flame_key(u, ch))
		return;
	if (!u->editing) {
		switch (ch) {
		case 27:
		case KEY_BACKSPACE:
		case 127:
		case 8:
			u->screen = MST_UI_TOP;
			return;
		case '\t':
			u->pane = (u->pane + 1) % 3;
			return;
		case KEY_BTAB:
			u->pane = (u->pane + 2) % 3;
			return;
		}
	}
	if (mst_ui_common_key(u, ch))
		return;
	int page = u->rows / 3;
	if (mst_ui_move(ch, &u->sel[u->pane], u->count[u->pane], page))
		return;
	if (u->pane == PANE_TREE)
		tree_key(u, ch);
}
