/* A thread's call tree as the live view lists it (calltree.h): rows of
 * merged agg nodes, hidden frames passed through, and the set of open
 * rows kept across rebuilds. */
#include "msttop/calltree.h"

#include <stdlib.h>
#include <string.h>

/* Bounds on what a tree shows, so a pathological tree cannot stall the
 * screen. */
#define TREE_ROWS_MAX 5000
#define TREE_DEPTH_MAX 512

static bool is_expanded(const struct mst_calltree *ct, uint64_t path)
{
	for (size_t i = 0; i < ct->nexpanded; i++)
		if (ct->expanded[i] == path)
			return true;
	return false;
}

void mst_calltree_set_expanded(struct mst_calltree *ct, uint64_t path, bool on)
{
	for (size_t i = 0; i < ct->nexpanded; i++) {
		if (ct->expanded[i] == path) {
			if (!on)
				ct->expanded[i] = ct->expanded[--ct->nexpanded];
			return;
		}
	}
	if (!on)
		return;
	if (ct->nexpanded == ct->cap_expanded) {
		size_t cap = ct->cap_expanded ? 2 * ct->cap_expanded : 64;
		uint64_t *p = realloc(ct->expanded, cap * sizeof(*p));
		if (!p)
			return; /* stays closed: harmless */
		ct->expanded = p;
		ct->cap_expanded = cap;
	}
	ct->expanded[ct->nexpanded++] = path;
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
static void load_visible(struct mst_calltree *ct)
{
	ct->nvisible = 0;
	if (ct->view == MST_AGG_VIEW_ALL)
		return;
	struct mst_agg_query q = {.tid = ct->tid,
	                          .window = MST_AGG_CUMULATIVE,
	                          .mode = ct->mode,
	                          .subset = MST_AGG_ALL,
	                          .view = ct->view,
	                          .sort = MST_AGG_SORT_TOTAL};
	const struct mst_agg_hot *rows;
	size_t n;
	struct mst_agg_count scope;
	struct mst_err e = {0};
	if (mst_agg_hot(ct->agg, &q, &rows, &n, &scope, &e) < 0)
		return;
	if (n > ct->cap_visible) {
		uint32_t *p = realloc(ct->visible, n * sizeof(*p));
		if (!p)
			return;
		ct->visible = p;
		ct->cap_visible = n;
	}
	for (size_t i = 0; i < n; i++)
		ct->visible[i] = rows[i].frame.id;
	ct->nvisible = n;
	if (n > 1)
		qsort(ct->visible, n, sizeof(*ct->visible), cmp_u32);
}

static bool frame_visible(const struct mst_calltree *ct, uint32_t frame)
{
	if (ct->view == MST_AGG_VIEW_ALL || frame == MST_AGG_TREE_OTHER)
		return true;
	return ct->nvisible &&
	       bsearch(&frame, ct->visible, ct->nvisible, sizeof(*ct->visible), cmp_u32) != NULL;
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

static void collect(struct mst_calltree *ct, const uint32_t *nodes, size_t nn, struct kids *out,
                    int hops)
{
	if (hops > 4 * TREE_DEPTH_MAX)
		return;
	for (size_t i = 0; i < nn; i++) {
		const struct mst_agg_node *rows;
		size_t n;
		struct mst_err e = {0};
		if (mst_agg_tree_children(ct->agg, ct->tid, ct->mode, nodes[i], &rows, &n, &e) <
		        0 ||
		    !n)
			continue;
		/* The agg reuses its array on the next call: recursion needs a copy. */
		struct mst_agg_node *copy = malloc(n * sizeof(*copy));
		if (!copy)
			return;
		memcpy(copy, rows, n * sizeof(*copy));
		for (size_t j = 0; j < n; j++) {
			if (frame_visible(ct, copy[j].frame))
				kid_add(out, &copy[j]);
			else if (copy[j].has_children)
				collect(ct, &copy[j].node, 1, out, hops + 1);
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

static void push_row(struct mst_calltree *ct, const struct mst_calltree_row *r)
{
	if (ct->n >= TREE_ROWS_MAX)
		return;
	if (ct->n == ct->cap) {
		size_t cap = ct->cap ? 2 * ct->cap : 256;
		struct mst_calltree_row *p = realloc(ct->rows, cap * sizeof(*p));
		if (!p)
			return;
		ct->rows = p;
		ct->cap = cap;
	}
	ct->rows[ct->n++] = *r;
}

/* Rows for kids (already collected) at depth; each kid's own children are
 * collected one level ahead, which is what tells its self time and whether
 * it opens at all in this view. auto_open: the first time, the hottest
 * path opens by itself. */
static void build(struct mst_calltree *ct, struct kids *k, int depth, uint64_t parent,
                  bool auto_open)
{
	if (k->n > 1)
		qsort(k->v, k->n, sizeof(*k->v), by_total);
	for (size_t i = 0; i < k->n && ct->n < TREE_ROWS_MAX; i++) {
		struct kid *d = &k->v[i];
		struct kids gk = {0};
		if (depth < TREE_DEPTH_MAX)
			collect(ct, d->nodes, d->nnodes, &gk, 0);
		uint64_t sum = 0;
		for (size_t j = 0; j < gk.n; j++)
			sum += gk.v[j].total;
		uint64_t path = path_hash(parent, d->frame);
		bool open_here = auto_open && i == 0 && gk.n;
		if (open_here)
			mst_calltree_set_expanded(ct, path, true);
		bool open = gk.n && is_expanded(ct, path);
		struct mst_calltree_row r = {
		    .path = path,
		    .frame = d->frame,
		    .depth = depth,
		    /* In the view, what runs in hidden callees is the row's own. */
		    .self_samples = d->total > sum ? d->total - sum : 0,
		    .total_samples = d->total,
		    .has_children = gk.n > 0,
		    .expanded = open,
		};
		push_row(ct, &r);
		if (open)
			build(ct, &gk, depth + 1, path, open_here);
		kids_free(&gk);
	}
}

void mst_calltree_build(struct mst_calltree *ct, struct mst_agg *agg, pid_t tid,
                        enum mst_agg_mode mode, enum mst_agg_view view)
{
	/* Another thread or mode: what was open means nothing there. */
	if (ct->tid != tid || ct->built_mode != mode)
		mst_calltree_forget(ct);
	ct->agg = agg;
	ct->tid = tid;
	ct->mode = mode;
	ct->built_mode = mode;
	ct->view = view;
	load_visible(ct);
	ct->n = 0;
	uint32_t root = MST_AGG_TREE_ROOT;
	struct kids k = {0};
	collect(ct, &root, 1, &k, 0);
	build(ct, &k, 0, 0, !ct->init);
	/* Only once there was something to open. */
	if (k.n)
		ct->init = true;
	kids_free(&k);
}

void mst_calltree_forget(struct mst_calltree *ct)
{
	ct->nexpanded = 0;
	ct->n = 0;
	ct->init = false;
}

void mst_calltree_free(struct mst_calltree *ct)
{
	free(ct->expanded);
	free(ct->rows);
	free(ct->visible);
	memset(ct, 0, sizeof(*ct));
}
