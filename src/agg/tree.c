/* Per-thread call trees: a node per (parent, frame), bounded. */
#include "agg-int.h"

#include <stdlib.h>
#include <string.h>

/* ---- call trees ---- */

int agg_tree_init(struct tree *tr)
{
	if (agg_ix_reset(&tr->ix, 0) < 0)
		return -ENOMEM;
	tr->cap = 16;
	if (!(tr->v = calloc(tr->cap, sizeof(*tr->v))))
		return -ENOMEM;
	struct tnode *root = &tr->v[0];
	root->frame = MST_AGG_TREE_ROOT_FRAME;
	root->parent = root->first_child = root->next_sibling = NO_NODE;
	tr->n = 1; /* the root is never looked up, so never indexed */
	return 0;
}

void agg_tree_fini(struct tree *tr)
{
	free(tr->v);
	free(tr->ix.slot);
	memset(tr, 0, sizeof(*tr));
}

void agg_tree_reindex(struct tree *tr)
{
	agg_ix_reset(&tr->ix, tr->cap);
	for (uint32_t i = 1; i < tr->n; i++)
		agg_ix_put(&tr->ix, agg_nkey_hash(tr->v[i].parent, tr->v[i].frame), i);
}

static uint32_t tree_child(const struct tree *tr, uint32_t parent, uint32_t frame)
{
	for (uint32_t i = agg_nkey_hash(parent, frame) & tr->ix.mask; tr->ix.slot[i];
	     i = (i + 1) & tr->ix.mask) {
		uint32_t p = tr->ix.slot[i] - 1;
		if (tr->v[p].parent == parent && tr->v[p].frame == frame)
			return p;
	}
	return NO_NODE;
}

/* A new child of parent, or NO_NODE when the tree holds limit nodes already
 * or memory runs out (the caller then counts the stack higher up). */
static uint32_t tree_node_add(struct mst_agg *a, struct tree *tr, uint32_t parent, uint32_t frame,
                              uint32_t limit)
{
	uint32_t i = tr->n;
	if (i >= limit)
		return NO_NODE;
	if (i == tr->cap) {
		if (agg_grow_to((void **)&tr->v, &tr->cap, a->tree_hard, sizeof(*tr->v)) < 0)
			return NO_NODE;
		struct ix nx = {0};
		if (agg_ix_reset(&nx, tr->cap) < 0)
			return NO_NODE;
		free(tr->ix.slot);
		tr->ix = nx;
		agg_tree_reindex(tr);
	}
	struct tnode *nd = &tr->v[i], *p = &tr->v[parent];
	memset(nd, 0, sizeof(*nd));
	nd->frame = frame;
	nd->parent = parent;
	nd->first_child = NO_NODE;
	nd->next_sibling = p->first_child;
	p->first_child = i;
	agg_ix_put(&tr->ix, agg_nkey_hash(parent, frame), i);
	tr->n++;
	return i;
}

/* Walk the stack from its outermost frame down the tree; the first match
 * depths are the thread's last stack, whose nodes are in its cache. */
void agg_tree_add(struct mst_agg *a, struct thr *t, int mode, size_t n, size_t match, uint32_t cnt,
                  uint64_t w)
{
	struct tree *tr = &t->tree[mode];
	uint32_t cur = 0;
	tr->v[0].total += cnt;
	tr->v[0].total_ns += w;
	size_t k;
	for (k = 0; k < n; k++) {
		size_t i = n - 1 - k;
		uint32_t id = mode ? a->ft[0].v[a->sf[i]].fn : a->sf[i];
		uint32_t nd;
		if (k < match && t->cache[k].node[mode] != NO_NODE)
			nd = t->cache[k].node[mode];
		else
			nd = tree_child(tr, cur, id);
		if (nd == NO_NODE) {
			nd = tree_node_add(a, tr, cur, id, a->cfg.max_tree_nodes);
			if (nd == NO_NODE && tr->n >= a->cfg.max_tree_nodes)
				tr->full = true;
		}
		bool full = nd == NO_NODE;
		if (full) {
			/* The rest of this stack goes to the "(other)" child;
			 * the headroom past max_tree_nodes exists for those. If
			 * even that is used up, the deepest node reached takes
			 * it as self, which keeps every total consistent. */
			nd = tree_child(tr, cur, MST_AGG_TREE_OTHER);
			if (nd == NO_NODE)
				nd = tree_node_add(a, tr, cur, MST_AGG_TREE_OTHER, a->tree_hard);
			if (nd == NO_NODE)
				break;
		}
		tr->v[nd].total += cnt;
		tr->v[nd].total_ns += w;
		cur = nd;
		if (full)
			break;
		t->cache[k].node[mode] = nd;
	}
	/* Where the walk stopped, the next one has nothing to reuse. */
	for (; k < n; k++)
		t->cache[k].node[mode] = NO_NODE;
	tr->v[cur].self += cnt;
	tr->v[cur].self_ns += w;
}
