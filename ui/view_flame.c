/* The flame view ('f'): the hot frames panel as an icicle graph of the
 * process (or of one thread), root at the top, width by share of samples.
 * It is drawn from the UI's recording (record.h's tree), so it follows the
 * frame view, the counting, idle samples and the window (recent or since
 * start) the screen shows. The cursor and the zoom are kept as paths of
 * frames from the root, found again in each new tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ncursesw/curses.h>

#include "msttop/format.h"
#include "ui/view.h"

#define NO MST_RECORD_NO_NODE

static bool same(const struct mst_record_node *a, const struct mst_record_node *b)
{
	return a->kind == b->kind && a->line == b->line && a->tid == b->tid &&
	       !strcmp(a->function, b->function) && !strcmp(a->file, b->file) &&
	       !strcmp(a->module, b->module);
}

/* The node at path in t (the deepest one found). */
static uint32_t find(const struct mst_record_tree *t, const struct mst_ui_flame_path *p)
{
	uint32_t at = 0;
	for (size_t d = 0; d < p->n; d++) {
		uint32_t c = t->v[at].first_child;
		while (c != NO && !same(&t->v[c], &p->key[d]))
			c = t->v[c].next_sibling;
		if (c == NO)
			break;
		at = c;
	}
	return at;
}

static void path_of(const struct mst_record_tree *t, uint32_t node, struct mst_ui_flame_path *p)
{
	size_t d = t->v[node].depth;
	p->n = d < MST_UI_FLAME_DEPTH ? d : MST_UI_FLAME_DEPTH;
	for (uint32_t at = node; at != 0 && at != NO; at = t->v[at].parent)
		if (t->v[at].depth - 1 < p->n)
			p->key[t->v[at].depth - 1] = t->v[at];
}

/* A node's label: "function  file:line", a thread's "name (tid N)". */
static void label(const struct mst_record_node *n, bool full, char *buf, size_t len)
{
	switch (n->kind) {
	case MST_RECORD_NODE_ROOT:
		snprintf(buf, len, "all");
		return;
	case MST_RECORD_NODE_THREAD:
		snprintf(buf, len, "%s (tid %d)", n->thread[0] ? n->thread : "thread", (int)n->tid);
		return;
	default:
		break;
	}
	const char *fn = n->function[0] ? n->function : "??";
	const char *file = n->file[0] ? n->file : mst_fmt_basename(n->module);
	if (!full)
		file = mst_fmt_basename(file);
	if (!*file)
		snprintf(buf, len, "%s", fn);
	else if (n->line)
		snprintf(buf, len, "%s  %s:%u", fn, file, (unsigned)n->line);
	else
		snprintf(buf, len, "%s  %s", fn, file);
}

static enum mst_ui_attr attr_of(const struct mst_record_node *n)
{
	switch (n->kind) {
	case MST_RECORD_NODE_PYTHON:
		return MST_A_FLAME_PY;
	case MST_RECORD_NODE_NATIVE:
		return MST_A_FLAME_C;
	default:
		return MST_A_FLAME_OTHER;
	}
}

/* Lay out and draw node's subtree from column x over w columns. */
static void draw_node(struct mst_ui *u, const struct mst_record_tree *t, uint32_t node, double x,
                      double w, int y, int rows, uint32_t zoom_depth)
{
	int row = (int)(t->v[node].depth - zoom_depth);
	if (row >= rows)
		return;
	int x0 = (int)(x + 0.5), x1 = (int)(x + w + 0.5);
	if (x1 - x0 < 1)
		return;
	struct mst_ui_flame *fl = &u->fl;
	if (fl->nboxes < MST_UI_FLAME_BOXES)
		fl->boxes[fl->nboxes++] = (struct mst_ui_flame_box){node, x0, x1, row};
	char text[512], fit[4096];
	label(&t->v[node], false, text, sizeof(text));
	/* A box: its label, cut to its width, with a space at its right
	 * edge so neighbours are told apart. */
	int bw = x1 - x0;
	/* Too narrow for a name: its colour alone. */
	mst_fmt_fit(bw >= 4 ? text : "", bw > 1 ? bw - 1 : bw, MST_FIT_PAD | mst_ui_fit_flags(u),
	            fit, sizeof(fit) - 1);
	size_t len = strlen(fit);
	if (bw > 1) {
		fit[len] = ' '; /* room was kept for it */
		fit[len + 1] = '\0';
	}
	mst_ui_text(u, y + row, x0, fit, node == fl->sel ? MST_A_SELECTED : attr_of(&t->v[node]));
	uint64_t total = t->v[node].samples;
	double cx = x;
	for (uint32_t c = t->v[node].first_child; c != NO; c = t->v[c].next_sibling) {
		double cw = total ? w * (double)t->v[c].samples / (double)total : 0;
		draw_node(u, t, c, cx, cw, y, rows, zoom_depth);
		cx += cw;
	}
}

void mst_flame_draw(struct mst_ui *u, int y, int h, pid_t tid)
{
	struct mst_ui_flame *fl = &u->fl;
	fl->nboxes = 0;
	if (fl->tid != tid)
		mst_flame_reset(u); /* another thread: its own tree */
	fl->tid = tid;
	struct mst_record_tree *t = &fl->tree;
	struct mst_record_select sel = {.recent = u->window == MST_AGG_RECENT,
	                                .idle = u->show_idle,
	                                .gil_only = u->subset == MST_AGG_ONLY_GIL,
	                                .view = u->view};
	struct mst_err e = {0};
	if (!u->rec || mst_record_tree(u->rec, &sel, tid, u->mode == MST_AGG_BY_LINE, t, &e) < 0) {
		mst_ui_line(u, y, u->rec ? e.msg : " (no recording: no flame view)", MST_A_WARN);
		return;
	}
	fl->zoom = find(t, &fl->zoom_path);
	fl->sel = find(t, &fl->sel_path);
	/* The cursor stays within the zoomed subtree. */
	uint32_t a = fl->sel;
	while (a != NO && a != fl->zoom)
		a = t->v[a].parent;
	if (a == NO)
		fl->sel = fl->zoom;
	path_of(t, fl->sel, &fl->sel_path);
	const struct mst_record_node *z = &t->v[fl->zoom], *s = &t->v[fl->sel];
	char zl[512], sl[1024], pct[32], line[2048];
	label(z, false, zl, sizeof(zl));
	label(s, true, sl, sizeof(sl));
	uint64_t all = t->v[0].samples;
	mst_fmt_pct(all ? 100.0 * (double)s->samples / (double)all : 0, pct, sizeof(pct));
	snprintf(line, sizeof(line), " FLAME %s%s  >  %s  %s of the samples (%llu, own %llu)",
	         fl->zoom ? "zoomed on " : "", zl, sl, pct, (unsigned long long)s->samples,
	         (unsigned long long)s->self);
	mst_ui_line(u, y, line, MST_A_BAR);
	if (!all) {
		mst_ui_line(u, y + 1, " (no samples in the window yet)", MST_A_DIM);
		return;
	}
	for (int r = 1; r < h; r++)
		mst_ui_line(u, y + r, "", MST_A_NORMAL);
	draw_node(u, t, fl->zoom, 0, u->cols - 1, y + 1, h - 1, z->depth);
}

/* The box after (dir 1) or before (dir -1) the cursor on its row. */
static uint32_t beside(const struct mst_ui_flame *fl, int dir)
{
	const struct mst_ui_flame_box *cur = NULL;
	for (size_t i = 0; i < fl->nboxes; i++)
		if (fl->boxes[i].node == fl->sel)
			cur = &fl->boxes[i];
	if (!cur)
		return NO;
	const struct mst_ui_flame_box *best = NULL;
	for (size_t i = 0; i < fl->nboxes; i++) {
		const struct mst_ui_flame_box *b = &fl->boxes[i];
		if (b->row != cur->row || b == cur)
			continue;
		if (dir > 0 && b->x0 >= cur->x1 && (!best || b->x0 < best->x0))
			best = b;
		if (dir < 0 && b->x1 <= cur->x0 && (!best || b->x0 > best->x0))
			best = b;
	}
	return best ? best->node : NO;
}

static bool drawn(const struct mst_ui_flame *fl, uint32_t node)
{
	for (size_t i = 0; i < fl->nboxes; i++)
		if (fl->boxes[i].node == node)
			return true;
	return false;
}

bool mst_flame_key(struct mst_ui *u, int ch)
{
	struct mst_ui_flame *fl = &u->fl;
	const struct mst_record_tree *t = &fl->tree;
	if (!t->n || fl->sel >= t->n)
		return false;
	uint32_t to = NO;
	switch (ch) {
	case KEY_LEFT:
		to = beside(fl, -1);
		break;
	case KEY_RIGHT:
		to = beside(fl, 1);
		break;
	case KEY_UP:
	case 'k':
		if (fl->sel != fl->zoom)
			to = t->v[fl->sel].parent;
		break;
	case KEY_DOWN:
	case 'j':
		to = t->v[fl->sel].first_child; /* the widest */
		break;
	case '\n':
	case '\r':
	case KEY_ENTER:
		fl->zoom = fl->sel;
		path_of(t, fl->zoom, &fl->zoom_path);
		return true;
	case 27: /* Esc */
	case KEY_BACKSPACE:
		if (!fl->zoom)
			return false; /* not zoomed: the screen's own Esc */
		fl->zoom = t->v[fl->zoom].parent;
		path_of(t, fl->zoom, &fl->zoom_path);
		return true;
	default:
		return false;
	}
	if (to != NO && (drawn(fl, to) || to == t->v[fl->sel].parent)) {
		fl->sel = to;
		path_of(t, to, &fl->sel_path);
	}
	return true;
}

void mst_flame_reset(struct mst_ui *u)
{
	u->fl.zoom_path.n = u->fl.sel_path.n = 0;
}
