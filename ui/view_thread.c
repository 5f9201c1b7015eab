/* One thread's screen: its last merged stack with its state, its hot
 * frames, and its call tree (since start) with expand/collapse. Tab moves
 * between the three panes; Esc or Backspace goes back to the main screen. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ncursesw/curses.h>

#include "ui/format.h"
#include "ui/view.h"

enum { PANE_STACK = 0, PANE_HOT = 1, PANE_TREE = 2 };
/* Bounds on what a tree shows, so a pathological tree cannot stall the
 * screen. */
#define TREE_ROWS_MAX 5000
#define TREE_DEPTH_MAX 512

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
	u->nexpanded = 0;
	u->ntree = 0;
	u->tree_init = false;
	u->sel[PANE_TREE] = u->top[PANE_TREE] = 0;
}

void mst_view_thread_free(struct mst_ui *u)
{
	free(u->expanded);
	free(u->tree);
	free(u->visible);
	u->expanded = NULL;
	u->tree = NULL;
	u->visible = NULL;
}

/* ---- the call tree ---- */

static bool is_expanded(const struct mst_ui *u, uint64_t path)
{
	for (size_t i = 0; i < u->nexpanded; i++)
		if (u->expanded[i] == path)
			return true;
	return false;
}

static void set_expanded(struct mst_ui *u, uint64_t path, bool on)
{
	for (size_t i = 0; i < u->nexpanded; i++) {
		if (u->expanded[i] == path) {
			if (!on)
				u->expanded[i] = u->expanded[--u->nexpanded];
			return;
		}
	}
	if (!on)
		return;
	if (u->nexpanded == u->cap_expanded) {
		size_t cap = u->cap_expanded ? 2 * u->cap_expanded : 64;
		uint64_t *p = realloc(u->expanded, cap * sizeof(*p));
		if (!p)
			return; /* stays closed: harmless */
		u->expanded = p;
		u->cap_expanded = cap;
	}
	u->expanded[u->nexpanded++] = path;
}

static uint64_t path_hash(uint64_t parent, uint32_t frame)
{
	/* FNV-1a over the frame ids from the root. */
	uint64_t h = parent ? parent : 0xcbf29ce484222325ull;
	for (int i = 0; i < 4; i++) {
		h ^= (frame >> (8 * i)) & 0xff;
		h *= 0x100000001b3ull;
	}
	return h;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The frames the view lists, from the agg's own answer for this thread
 * (it knows which frames were ever seen unfolded). */
static void load_visible(struct mst_ui *u)
{
	u->nvisible = 0;
	if (u->view == MST_AGG_VIEW_ALL)
		return;
	struct mst_agg_query q = {.tid = u->tid,
	                          .window = MST_AGG_CUMULATIVE,
	                          .mode = u->mode,
	                          .subset = MST_AGG_ALL,
	                          .view = u->view,
	                          .sort = MST_AGG_SORT_TOTAL};
	const struct mst_agg_hot *rows;
	size_t n;
	struct mst_agg_count scope;
	struct mst_err e = {0};
	if (mst_agg_hot(u->agg, &q, &rows, &n, &scope, &e) < 0)
		return;
	if (n > u->cap_visible) {
		uint32_t *p = realloc(u->visible, n * sizeof(*p));
		if (!p)
			return;
		u->visible = p;
		u->cap_visible = n;
	}
	for (size_t i = 0; i < n; i++)
		u->visible[i] = rows[i].frame.id;
	u->nvisible = n;
	if (n > 1)
		qsort(u->visible, n, sizeof(*u->visible), cmp_u32);
}

static bool frame_visible(const struct mst_ui *u, uint32_t frame)
{
	if (u->view == MST_AGG_VIEW_ALL || frame == MST_AGG_TREE_OTHER)
		return true;
	return u->nvisible &&
	       bsearch(&frame, u->visible, u->nvisible, sizeof(*u->visible), cmp_u32) != NULL;
}

/* The children of a row as the view shows them: the agg nodes under it,
 * hidden frames passed through (their children stand in their place), and
 * nodes of the same frame merged into one. */
struct kid {
	uint32_t frame;
	uint64_t self, total;
	uint32_t *nodes;
	size_t nnodes, cap;
};

struct kids {
	struct kid *v;
	size_t n, cap;
};

static void kids_free(struct kids *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i].nodes);
	free(k->v);
	k->v = NULL;
	k->n = k->cap = 0;
}

static int kid_add(struct kids *k, const struct mst_agg_node *n)
{
	struct kid *d = NULL;
	for (size_t i = 0; i < k->n && !d; i++)
		if (k->v[i].frame == n->frame)
			d = &k->v[i];
	if (!d) {
		if (k->n == k->cap) {
			size_t cap = k->cap ? 2 * k->cap : 8;
			struct kid *p = realloc(k->v, cap * sizeof(*p));
			if (!p)
				return -1;
			k->v = p;
			k->cap = cap;
		}
		d = &k->v[k->n++];
		*d = (struct kid){.frame = n->frame};
	}
	if (d->nnodes == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 4;
		uint32_t *p = realloc(d->nodes, cap * sizeof(*p));
		if (!p)
			return -1;
		d->nodes = p;
		d->cap = cap;
	}
	d->nodes[d->nnodes++] = n->node;
	d->self += n->self_samples;
	d->total += n->total_samples;
	return 0;
}

static void collect(struct mst_ui *u, const uint32_t *nodes, size_t nn, struct kids *out, int hops)
{
	if (hops > 4 * TREE_DEPTH_MAX)
		return;
	for (size_t i = 0; i < nn; i++) {
		const struct mst_agg_node *rows;
		size_t n;
		struct mst_err e = {0};
		if (mst_agg_tree_children(u->agg, u->tid, u->mode, nodes[i], &rows, &n, &e) < 0 ||
		    !n)
			continue;
		/* The agg reuses its array on the next call: recursion needs a copy. */
		struct mst_agg_node *copy = malloc(n * sizeof(*copy));
		if (!copy)
			return;
		memcpy(copy, rows, n * sizeof(*copy));
		for (size_t j = 0; j < n; j++) {
			if (frame_visible(u, copy[j].frame))
				kid_add(out, &copy[j]);
			else if (copy[j].has_children)
				collect(u, &copy[j].node, 1, out, hops + 1);
		}
		free(copy);
	}
}

static int by_total(const void *pa, const void *pb)
{
	const struct kid *a = pa, *b = pb;
	if (a->total != b->total)
		return a->total > b->total ? -1 : 1;
	return a->frame < b->frame ? -1 : a->frame > b->frame;
}

static void push_row(struct mst_ui *u, const struct mst_ui_tree_row *r)
{
	if (u->ntree >= TREE_ROWS_MAX)
		return;
	if (u->ntree == u->cap_tree) {
		size_t cap = u->cap_tree ? 2 * u->cap_tree : 256;
		struct mst_ui_tree_row *p = realloc(u->tree, cap * sizeof(*p));
		if (!p)
			return;
		u->tree = p;
		u->cap_tree = cap;
	}
	u->tree[u->ntree++] = *r;
}

/* Rows for kids (already collected) at depth; each kid's own children are
 * collected one level ahead, which is what tells its self time and whether
 * it opens at all in this view. auto_open: the first time, the hottest
 * path opens by itself. */
static void build(struct mst_ui *u, struct kids *k, int depth, uint64_t parent, bool auto_open)
{
	if (k->n > 1)
		qsort(k->v, k->n, sizeof(*k->v), by_total);
	for (size_t i = 0; i < k->n && u->ntree < TREE_ROWS_MAX; i++) {
		struct kid *d = &k->v[i];
		struct kids gk = {0};
		if (depth < TREE_DEPTH_MAX)
			collect(u, d->nodes, d->nnodes, &gk, 0);
		uint64_t sum = 0;
		for (size_t j = 0; j < gk.n; j++)
			sum += gk.v[j].total;
		uint64_t path = path_hash(parent, d->frame);
		bool open_here = auto_open && i == 0 && gk.n;
		if (open_here)
			set_expanded(u, path, true);
		bool open = gk.n && is_expanded(u, path);
		struct mst_ui_tree_row r = {
		    .path = path,
		    .frame = d->frame,
		    .depth = depth,
		    /* In the view, what runs in hidden callees is the row's own. */
		    .self_samples = d->total > sum ? d->total - sum : 0,
		    .total_samples = d->total,
		    .has_children = gk.n > 0,
		    .expanded = open,
		};
		push_row(u, &r);
		if (open)
			build(u, &gk, depth + 1, path, open_here);
		kids_free(&gk);
	}
}

static void build_tree(struct mst_ui *u)
{
	if (u->tree_mode != u->mode) {
		mst_view_thread_forget(u);
		u->tree_mode = u->mode;
	}
	load_visible(u);
	u->ntree = 0;
	uint32_t root = MST_AGG_TREE_ROOT;
	struct kids k = {0};
	collect(u, &root, 1, &k, 0);
	build(u, &k, 0, 0, !u->tree_init);
	/* Only once there was something to open. */
	if (k.n)
		u->tree_init = true;
	kids_free(&k);
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
		    mst_ui_frame_shown(u, &f, fr[i].folded))
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
		    !mst_ui_frame_shown(u, &f, fr[i].folded))
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
	build_tree(u);
	u->count[PANE_TREE] = u->ntree;
	if (u->sel[PANE_TREE] >= (int)u->ntree)
		u->sel[PANE_TREE] = u->ntree ? (int)u->ntree - 1 : 0;
	mst_ui_scroll(u->sel[PANE_TREE], h, &u->top[PANE_TREE]);
	if (!u->ntree) {
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
	for (int r = 0; r < h && u->top[PANE_TREE] + r < (int)u->ntree; r++) {
		const struct mst_ui_tree_row *t = &u->tree[u->top[PANE_TREE] + r];
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
			draw_tree(u, y, avail - 1, true);
			break;
		}
	}
	mst_ui_status(u, "Esc back  Tab pane  Enter/Right open  Left close  s sort  n native  "
	                 "l line/func  c window  r reset  ? help  q quit");
}

static void tree_key(struct mst_ui *u, int ch)
{
	if (!u->ntree)
		return;
	int sel = u->sel[PANE_TREE];
	struct mst_ui_tree_row *t = &u->tree[sel];
	switch (ch) {
	case '\n':
	case '\r':
	case KEY_ENTER:
	case '+':
	case '-':
		if (t->has_children)
			set_expanded(u, t->path, !t->expanded);
		break;
	case KEY_RIGHT:
	case 'L':
		if (t->has_children && !t->expanded)
			set_expanded(u, t->path, true);
		else if (t->expanded && sel + 1 < (int)u->ntree)
			u->sel[PANE_TREE] = sel + 1;
		break;
	case KEY_LEFT:
	case 'H':
		if (t->expanded) {
			set_expanded(u, t->path, false);
		} else {
			/* To the parent: the nearest row above, one level out. */
			for (int i = sel - 1; i >= 0; i--) {
				if (u->tree[i].depth < t->depth) {
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
