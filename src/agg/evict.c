/* Eviction: when a table is full, its coldest items go to the overflow
 * cells ("(other frames)", "(other)" nodes) and their slots are reused. */
#include "agg-int.h"

#include <stdlib.h>
#include <string.h>

/* ---- eviction ---- */

static int scratch(struct mst_agg *a, size_t n)
{
	if (n <= a->scr_cap)
		return 0;
	size_t c = a->scr_cap ? a->scr_cap : 64;
	while (c < n)
		c *= 2;
	uint32_t *s = realloc(a->scr, c * sizeof(*s));
	if (s)
		a->scr = s;
	uint32_t *r = realloc(a->remap, c * sizeof(*r));
	if (r)
		a->remap = r;
	uint8_t *m = realloc(a->mark, c);
	if (m)
		a->mark = m;
	if (!s || !r || !m)
		return -ENOMEM;
	a->scr_cap = c;
	return 0;
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return a < b ? -1 : a > b;
}

/* The threshold of the k coldest of nc candidate counts (in a->scr, which
 * this reorders): evict those below it, then those at it until k went. */
static uint32_t cold_threshold(struct mst_agg *a, size_t nc, size_t k)
{
	if (nc <= k)
		return UINT32_MAX;
	qsort(a->scr, nc, sizeof(*a->scr), cmp_u32);
	return a->scr[k - 1];
}

static bool ring_any(struct rblk *const r[NVAR])
{
	return r[0] || r[1] || r[2];
}

static bool ent_ring_any(const struct etab *tb, uint32_t p)
{
	for (int v = 0; v < NVAR; v++)
		if (agg_ent_ring_r(tb, p, v))
			return true;
	return false;
}

enum { KEEP = 0, PROTECT = 1, GONE = 2, CAND = 3 };

/* One table's side of an eviction: the since-start count of its item i,
 * and how to let item i go into the overflow (mark[i] is then set to
 * what the caller's sweep needs). */
struct victims {
	uint32_t (*total)(void *ctx, uint32_t i);
	void (*evict)(void *ctx, uint32_t i, uint8_t *mark);
	void *ctx;
};

/* Evict up to k of the nc candidates (mark[i] == CAND among items 1..n-1;
 * their counts in a->scr), the coldest first: those under the threshold of
 * the k coldest, then those at it. Returns how many went. Frames and
 * thread entries both go through here. */
static size_t evict_coldest(struct mst_agg *a, uint8_t *mark, uint32_t n, size_t nc, size_t k,
                            const struct victims *v)
{
	uint32_t thr = cold_threshold(a, nc, k);
	size_t gone = 0;
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t i = 1; i < n && gone < k; i++) {
			if (mark[i] != CAND)
				continue;
			uint32_t total = v->total(v->ctx, i);
			if (total > thr || (!pass && total == thr))
				continue;
			v->evict(v->ctx, i, mark);
			gone++;
		}
	return gone;
}

/* Merge the entries of t's table of mode whose frame fmark says GONE into
 * its overflow entry. */
static void etab_sweep(struct mst_agg *a, struct thr *t, int mode, const uint8_t *fmark)
{
	struct etab *tb = &t->tab[mode];
	size_t gone = 0;
	for (uint32_t p = 1; p < tb->n; p++) {
		struct tent *e = &tb->v[p];
		if (e->id == NO_IDX || fmark[e->id] != GONE)
			continue;
		/* A frame counted in the window is never evicted, so neither
		 * was this entry: no ring. Should one be, it goes back, lest
		 * it point into a reused slot. */
		agg_ent_give_rings(a, tb, p);
		agg_etab_merge_del(tb, p, &t->sh[0]);
		gone++;
	}
	if (gone)
		agg_etab_reindex(tb);
}

/* The coldest entries of t's table of mode go to its overflow entry:
 * those the last stack uses and those counted in the recent window stay. */
/* Thread entries as victims: what they counted goes to the thread's
 * overflow entry, held to the thread's own sample count. */
struct entry_victims {
	struct thr *t;
	struct etab *tb;
};

static uint32_t entry_total(void *ctx, uint32_t p)
{
	const struct entry_victims *ev = ctx;
	return ev->tb->v[p].c.total;
}

static void entry_evict(void *ctx, uint32_t p, uint8_t *mark)
{
	struct entry_victims *ev = ctx;
	struct etab *tb = ev->tb;
	agg_etab_merge_del(tb, p, &ev->t->sh[0]);
	mark[p] = KEEP;
}

void agg_etab_evict(struct mst_agg *a, struct thr *t, int mode)
{
	struct etab *tb = &t->tab[mode];
	tb->full = false;
	if (tb->futile == a->cur_sec + 1 || scratch(a, tb->n) < 0)
		return;
	uint8_t *mark = a->mark;
	memset(mark, KEEP, tb->n);
	mark[0] = PROTECT;
	for (size_t k = 0; k < t->ncache; k++)
		mark[t->cache[k].e[mode]] = PROTECT;
	size_t nc = 0;
	for (uint32_t p = 1; p < tb->n; p++) {
		const struct tent *e = &tb->v[p];
		if (e->id == NO_IDX || mark[p] == PROTECT || ent_ring_any(tb, p))
			continue;
		mark[p] = CAND;
		a->scr[nc++] = e->c.total;
	}
	size_t k = a->cfg.max_thread_entries / EVICT_DIV;
	if (k < 1)
		k = 1;
	if (!nc) {
		tb->futile = a->cur_sec + 1;
		return;
	}
	struct entry_victims ev = {t, tb};
	const struct victims v = {entry_total, entry_evict, &ev};
	size_t gone = evict_coldest(a, mark, tb->n, nc, k, &v);
	agg_etab_reindex(tb);
	a->st.entries_evicted += gone;
	if (gone < k / 4)
		tb->futile = a->cur_sec + 1;
}

/* Drop subtrees of t's tree of mode into "(other)" children of where they
 * hang: with gone set, those of nodes whose frame a->mark says GONE; else
 * those with at most thr samples. The path of the last stack stays, and so
 * does every "(other)" node under a kept parent. Node ids change; the
 * cache follows. Returns the nodes removed. */
static size_t tree_compact(struct mst_agg *a, struct thr *t, int mode, bool gone, uint32_t thr,
                           const uint8_t *fmark)
{
	struct tree *tr = &t->tree[mode];
	uint32_t n = tr->n;
	uint8_t *st = a->mark;
	uint32_t *other = a->scr, *remap = a->remap;
	enum { NKEEP = 0, NPROT = 1, NDROP = 2, NCONV = 3 };
	memset(st, NKEEP, n);
	st[0] = NPROT;
	for (size_t k = 0; k < t->ncache && t->cache[k].node[mode] != NO_NODE; k++)
		st[t->cache[k].node[mode]] = NPROT;
	for (uint32_t i = 0; i < n; i++)
		other[i] = NO_NODE;
	for (uint32_t i = 1; i < n; i++)
		if (tr->v[i].frame == MST_AGG_TREE_OTHER)
			other[tr->v[i].parent] = i;
	size_t removed = 0, converted = 0;
	for (uint32_t i = 1; i < n; i++) {
		struct tnode *nd = &tr->v[i];
		uint8_t ps = st[nd->parent];
		if (ps == NDROP || ps == NCONV) {
			st[i] = NDROP; /* inside a subtree that went */
			removed++;
			continue;
		}
		if (st[i] == NPROT || nd->frame == MST_AGG_TREE_OTHER)
			continue;
		bool drop = gone ? nd->frame < MST_AGG_TREE_OTHER && fmark[nd->frame] == GONE
		                 : nd->total <= thr;
		if (!drop)
			continue;
		/* Every sample through nd ends in its subtree: its total is
		 * the subtree's self. */
		uint32_t o = other[nd->parent];
		if (o != NO_NODE) {
			tr->v[o].self += nd->total;
			tr->v[o].total += nd->total;
			tr->v[o].self_ns += nd->total_ns;
			tr->v[o].total_ns += nd->total_ns;
			st[i] = NDROP;
			removed++;
		} else {
			nd->frame = MST_AGG_TREE_OTHER;
			nd->self = nd->total;
			nd->self_ns = nd->total_ns;
			other[nd->parent] = i;
			st[i] = NCONV;
			converted++;
		}
	}
	if (!removed && !converted)
		return 0;
	uint32_t m = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (st[i] == NDROP) {
			remap[i] = NO_NODE;
			continue;
		}
		struct tnode nd = tr->v[i];
		nd.parent = i ? remap[nd.parent] : NO_NODE;
		nd.first_child = nd.next_sibling = NO_NODE;
		remap[i] = m;
		tr->v[m++] = nd;
	}
	/* Children lists again, from the parents kept. */
	for (uint32_t i = 1; i < m; i++) {
		struct tnode *p = &tr->v[tr->v[i].parent];
		tr->v[i].next_sibling = p->first_child;
		p->first_child = i;
	}
	memset(tr->v + m, 0, (size_t)(n - m) * sizeof(*tr->v));
	tr->n = m;
	agg_tree_reindex(tr);
	for (size_t k = 0; k < t->ncache; k++)
		if (t->cache[k].node[mode] != NO_NODE)
			t->cache[k].node[mode] = remap[t->cache[k].node[mode]];
	a->st.nodes_pruned += removed;
	return removed;
}

/* A full tree: the coldest subtrees go to "(other)" nodes. */
void agg_tree_prune(struct mst_agg *a, struct thr *t, int mode)
{
	struct tree *tr = &t->tree[mode];
	tr->full = false;
	if (tr->futile == a->cur_sec + 1 || scratch(a, tr->n) < 0)
		return;
	size_t nc = 0;
	for (uint32_t i = 1; i < tr->n; i++)
		if (tr->v[i].frame != MST_AGG_TREE_OTHER)
			a->scr[nc++] = tr->v[i].total;
	size_t k = a->cfg.max_tree_nodes / EVICT_DIV;
	if (k < 1)
		k = 1;
	uint32_t thr = nc ? cold_threshold(a, nc, k) : 0;
	if (!nc || tree_compact(a, t, mode, false, thr, NULL) < k / 4 + 1)
		tr->futile = a->cur_sec + 1;
}

/* A full frame table: the coldest frames nothing protects go, and with them
 * the thread entries and call-tree nodes that count them. Protected: the
 * overflow frame, frames of the threads' last stacks, frames counted in the
 * recent window, and functions of by-line frames that stay. */
/* Frames as victims: what they counted goes to "(other frames)", held to
 * the process's sample count; their names are let go; the threads' entries
 * of them follow in the sweep (mark GONE). */
struct frame_victims {
	struct mst_agg *a;
	struct ftab *tb;
};

static uint32_t frame_total(void *ctx, uint32_t i)
{
	const struct frame_victims *fv = ctx;
	return fv->tb->v[i].c[0].total;
}

static void frame_evict(void *ctx, uint32_t i, uint8_t *mark)
{
	struct frame_victims *fv = ctx;
	struct ftab *tb = fv->tb;
	struct frame *f = &tb->v[i];
	for (int v = 0; v < NVAR; v++)
		agg_cnt_merge(&tb->v[0].c[v], &f->c[v], fv->a->psh[0].n[agg_shr_index(v)],
		              fv->a->psh[0].ns[agg_shr_index(v)]);
	agg_key_unref(fv->a, &f->key);
	memset(f, 0, sizeof(*f));
	f->fn = tb->free;
	tb->free = i;
	tb->live--;
	mark[i] = GONE;
}

void agg_ftab_evict(struct mst_agg *a, int mode)
{
	struct ftab *tb = &a->ft[mode];
	tb->full = false;
	uint32_t most = a->ft[0].n > a->ft[1].n ? a->ft[0].n : a->ft[1].n;
	uint32_t tmost = a->tree_hard > a->cfg.max_thread_entries + 1
	                     ? a->tree_hard
	                     : a->cfg.max_thread_entries + 1;
	if (tb->futile == a->cur_sec + 1 || scratch(a, most > tmost ? most : tmost) < 0)
		return;
	/* The frame marks outlive the scan, through the sweep of threads
	 * that uses the other scratch arrays. */
	if (a->fmark_cap < tb->n) {
		uint8_t *fm = realloc(a->fmark, tb->cap);
		if (!fm)
			return;
		a->fmark = fm;
		a->fmark_cap = tb->cap;
	}
	uint8_t *mark = a->fmark;
	memset(mark, KEEP, tb->n);
	mark[0] = PROTECT;
	struct thr *t, *ttmp;
	HASH_ITER(hh, a->threads, t, ttmp)
	{
		for (size_t k = 0; k < t->ncache; k++) {
			uint32_t f = t->cache[k].f;
			mark[mode ? a->ft[0].v[f].fn : f] = PROTECT;
		}
	}
	if (mode)
		for (uint32_t i = 0; i < a->ft[0].n; i++)
			if (a->ft[0].v[i].key.func)
				mark[a->ft[0].v[i].fn] = PROTECT;
	size_t nc = 0;
	for (uint32_t i = 1; i < tb->n; i++) {
		const struct frame *f = &tb->v[i];
		if (!f->key.func || mark[i] == PROTECT || ring_any(f->r)) {
			mark[i] = PROTECT;
			continue;
		}
		mark[i] = CAND;
		a->scr[nc++] = f->c[0].total;
	}
	size_t k = a->cfg.max_frames / EVICT_DIV;
	if (k < 1)
		k = 1;
	if (!nc) {
		tb->futile = a->cur_sec + 1;
		return;
	}
	struct frame_victims fv = {a, tb};
	const struct victims v = {frame_total, frame_evict, &fv};
	size_t gone = evict_coldest(a, mark, tb->n, nc, k, &v);
	agg_ftab_reindex(tb);
	a->st.frames_evicted += gone;
	/* Little room made: do not sweep every thread again for each new
	 * frame, retry in the next second. */
	if (gone < k / 4)
		tb->futile = a->cur_sec + 1;
	/* What counted them goes to the overflow too. */
	HASH_ITER(hh, a->threads, t, ttmp)
	{
		/* A lean thread's frames were all protected: it has none to lose. */
		if (t->lean)
			continue;
		etab_sweep(a, t, mode, mark);
		tree_compact(a, t, mode, true, 0, mark);
	}
}
