/* Queries: hot frames, threads, totals, a thread's stack and call tree. */
#include "agg-int.h"

#include <stdlib.h>
#include <string.h>

/* ---- reading ---- */

static void frame_fill(int mode, uint32_t id, const struct frame *f, struct mst_agg_frame *out)
{
	out->id = id;
	out->fn_id = mode ? id : f->fn;
	out->kind = (uint8_t)(f->key.flags & 1);
	out->inlined = (f->key.flags & 2) != 0;
	out->line = f->key.line;
	out->function = f->key.func;
	out->file = f->key.file;
	out->short_file = f->key.file + f->short_off;
	out->module = f->key.mod;
}

int mst_agg_frame(struct mst_agg *a, enum mst_agg_mode mode, uint32_t id, struct mst_agg_frame *out)
{
	agg_rep_flush_all(a);
	int m = mode == MST_AGG_BY_FUNC;
	if (!agg_frame_live(&a->ft[m], id))
		return -ENOENT;
	frame_fill(m, id, &a->ft[m].v[id], out);
	return 0;
}

static int cmp_desc(uint64_t x, uint64_t y)
{
	return x < y ? 1 : x > y ? -1 : 0;
}

static int cmp_name(const struct mst_agg_hot *x, const struct mst_agg_hot *y)
{
	int c = strcasecmp(x->frame.function, y->frame.function);
	if (!c)
		c = strcasecmp(x->frame.file, y->frame.file);
	if (!c)
		c = x->frame.line < y->frame.line ? -1 : x->frame.line > y->frame.line;
	if (!c)
		c = x->frame.id < y->frame.id ? -1 : x->frame.id > y->frame.id;
	return c;
}

static int hot_cmp(const void *px, const void *py, void *ctx)
{
	const struct mst_agg_hot *x = px, *y = py;
	int c = 0;
	switch (*(const enum mst_agg_sort *)ctx) {
	case MST_AGG_SORT_OWN:
		c = cmp_desc(x->own_samples, y->own_samples);
		break;
	case MST_AGG_SORT_TOTAL:
		c = cmp_desc(x->total_samples, y->total_samples);
		break;
	case MST_AGG_SORT_OWN_NS:
		c = cmp_desc(x->own_ns, y->own_ns);
		break;
	case MST_AGG_SORT_TOTAL_NS:
		c = cmp_desc(x->total_ns, y->total_ns);
		break;
	case MST_AGG_SORT_NAME:
		return cmp_name(x, y);
	}
	/* Ties: hotter overall first, then a fixed order so rows do not
	 * swap places between two redraws. */
	if (!c)
		c = cmp_desc(x->total_ns, y->total_ns);
	if (!c)
		c = cmp_desc(x->own_ns, y->own_ns);
	return c ? c : cmp_name(x, y);
}

static bool hot_keep(const struct mst_agg_query *q, const struct frame *f)
{
	if (q->view == MST_AGG_VIEW_PYTHON && (f->key.flags & 1) != MST_AGG_PYTHON)
		return false;
	if (q->view == MST_AGG_VIEW_FOLDED && !f->unfolded)
		return false;
	if (q->view == MST_AGG_VIEW_USER && !f->user_shown)
		return false;
	if (!q->filter || !q->filter[0])
		return true;
	return strcasestr(f->key.func, q->filter) || strcasestr(f->key.file, q->filter) ||
	       strcasestr(f->key.mod, q->filter);
}

/* Append a row for frame id if it has samples in the window and passes the
 * query. */
static void hot_push_cnt(struct mst_agg *a, const struct mst_agg_query *q, int mode, uint32_t id,
                         struct cnt c, size_t *n)
{
	const struct frame *f = &a->ft[mode].v[id];
	if (!c.total || !hot_keep(q, f))
		return;
	struct mst_agg_hot *r = &a->hot[(*n)++];
	frame_fill(mode, id, f, &r->frame);
	r->own_samples = c.own[q->view];
	r->own_ns = c.own_ns[q->view];
	r->total_samples = c.total;
	r->total_ns = c.total_ns;
}

static void hot_push(struct mst_agg *a, const struct mst_agg_query *q, int mode, uint32_t id,
                     const struct cnt *cum, const struct rblk *ring, size_t *n)
{
	struct cnt c;
	agg_cnt_read(cum, ring, a->nb, q->window, &c);
	hot_push_cnt(a, q, mode, id, c, n);
}

static void pacc_add(void *ctx, uint32_t id, const struct cnt *c)
{
	struct cnt *acc = &((struct mst_agg *)ctx)->pacc[id];
	acc->total += c->total;
	acc->total_ns += c->total_ns;
	for (size_t k = 0; k < NVIEW; k++) {
		acc->own[k] += c->own[k];
		acc->own_ns[k] += c->own_ns[k];
	}
}

struct lean_hot {
	struct mst_agg *a;
	const struct mst_agg_query *q;
	int m;
	size_t *n;
};

static void lean_hot_push(void *ctx, uint32_t id, const struct cnt *c)
{
	struct lean_hot *lh = ctx;
	hot_push_cnt(lh->a, lh->q, lh->m, id, *c, lh->n);
}

/* The hot frames of one process's threads (--subprocesses): their
 * per-thread counts, summed by frame. A thread's table is bounded
 * (max_thread_entries), so what it sent to its "(other frames)" stays
 * there, as in its own view. */
static int hot_of_pid(struct mst_agg *a, const struct mst_agg_query *q, int m, int v, size_t *n,
                      struct shr *scope)
{
	size_t nf = a->ft[m].n;
	if (mst_array_grow((void **)&a->pacc, &a->pacc_cap, nf ? nf : 1, sizeof(*a->pacc)) < 0)
		return -ENOMEM;
	memset(a->pacc, 0, nf * sizeof(*a->pacc));
	memset(scope, 0, sizeof(*scope));
	struct thr *t, *tmp;
	HASH_ITER(hh, a->threads, t, tmp)
	{
		if (t->pid != q->pid)
			continue;
		struct shr s;
		agg_shr_read(t->sh, a->nb, q->window, &s);
		for (size_t k = 0; k < NSHR; k++) {
			scope->n[k] += s.n[k];
			scope->ns[k] += s.ns[k];
		}
		if (t->lean) {
			agg_lean_each(a, t, m, v, q->window, pacc_add, a);
			continue;
		}
		const struct etab *tb = &t->tab[m];
		for (uint32_t p = 0; p < tb->n; p++) {
			const struct tent *e = &tb->v[p];
			if (e->id == NO_IDX || e->id >= nf)
				continue;
			struct cnt c;
			agg_cnt_read(agg_ent_cnt(tb, p, v), agg_ent_ring_r(tb, p, v), a->nb,
			             q->window, &c);
			pacc_add(a, e->id, &c);
		}
	}
	for (uint32_t id = 0; id < nf; id++)
		if (a->ft[m].v[id].key.func)
			hot_push_cnt(a, q, m, id, a->pacc[id], n);
	return 0;
}

int mst_agg_hot(struct mst_agg *a, const struct mst_agg_query *q, const struct mst_agg_hot **rows,
                size_t *nrows, struct mst_agg_count *scope, struct mst_err *err)
{
	agg_rep_flush_all(a);
	*rows = NULL;
	*nrows = 0;
	int m = q->mode == MST_AGG_BY_FUNC;
	int v = q->subset >= 0 && q->subset < NVAR ? (int)q->subset : 0;
	struct mst_agg_query qq = *q;
	if (qq.view < 0 || qq.view >= NVIEW)
		qq.view = MST_AGG_VIEW_ALL;
	const struct shr *sh = a->psh;
	struct thr *t = NULL;
	if (q->tid) {
		if (!(t = agg_thr_find(a, q->tid)))
			return mst_err_set(err, -ENOENT, "agg: no thread %d", (int)q->tid);
		sh = t->sh;
	}
	size_t most = !t ? a->ft[m].live : t->lean ? t->ncache : t->tab[m].live;
	if (mst_array_grow((void **)&a->hot, &a->hot_cap, most, sizeof(*a->hot)) < 0)
		return mst_err_set(err, -ENOMEM, "agg: out of memory");
	size_t n = 0;
	struct shr pscope;
	bool by_pid = !t && q->pid;
	if (by_pid) {
		if (hot_of_pid(a, &qq, m, v, &n, &pscope) < 0)
			return mst_err_set(err, -ENOMEM, "agg: out of memory");
	} else if (!t) {
		const struct ftab *tb = &a->ft[m];
		for (uint32_t id = 0; id < tb->n; id++)
			if (tb->v[id].key.func)
				hot_push(a, &qq, m, id, &tb->v[id].c[v], tb->v[id].r[v], &n);
	} else if (t->lean) {
		struct lean_hot lh = {a, &qq, m, &n};
		agg_lean_each(a, t, m, v, qq.window, lean_hot_push, &lh);
	} else {
		const struct etab *tb = &t->tab[m];
		for (uint32_t p = 0; p < tb->n; p++) {
			const struct tent *e = &tb->v[p];
			if (e->id != NO_IDX)
				hot_push(a, &qq, m, e->id, agg_ent_cnt(tb, p, v),
				         agg_ent_ring_r(tb, p, v), &n);
		}
	}
	enum mst_agg_sort key = q->sort;
	if (n > 1)
		qsort_r(a->hot, n, sizeof(*a->hot), hot_cmp, &key);
	if (q->limit && n > q->limit)
		n = q->limit;
	if (scope) {
		struct shr s;
		if (by_pid)
			s = pscope;
		else
			agg_shr_read(sh, a->nb, q->window, &s);
		scope->samples = s.n[agg_shr_index(q->subset)];
		scope->ns = s.ns[agg_shr_index(q->subset)];
	}
	*rows = a->hot;
	*nrows = n;
	return 0;
}

static int thr_cmp(const void *px, const void *py)
{
	const struct mst_agg_thread *x = px, *y = py;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

int mst_agg_threads(struct mst_agg *a, enum mst_agg_window w, const struct mst_agg_thread **rows,
                    size_t *nrows, struct mst_err *err)
{
	agg_rep_flush_all(a);
	*rows = NULL;
	*nrows = 0;
	if (mst_array_grow((void **)&a->trows, &a->trows_cap, a->nthreads, sizeof(*a->trows)) < 0)
		return mst_err_set(err, -ENOMEM, "agg: out of memory");
	size_t n = 0;
	struct thr *t, *tmp;
	HASH_ITER(hh, a->threads, t, tmp)
	{
		struct mst_agg_thread *r = &a->trows[n++];
		memset(r, 0, sizeof(*r));
		r->tid = t->tid;
		r->pid = t->pid;
		memcpy(r->name, t->name, sizeof(r->name));
		r->state = t->state;
		r->ended = t->ended;
		r->top_id = t->top;
		r->first_ns = t->first_ns;
		r->last_ns = t->last_ns;
		struct shr s;
		agg_shr_read(t->sh, a->nb, w, &s);
		r->window.samples = s.n[0];
		r->window.ns = s.ns[0];
		r->active = s.n[1];
		r->gil_held = s.n[2];
		r->gil_wait = s.n[3];
		r->gil_drop = s.n[4];
		r->in_gc = s.n[5];
		r->has_python = s.n[6];
		r->active_pct = agg_pct(r->active, s.n[0]);
		r->gil_pct = agg_pct(r->gil_held, s.n[0]);
		r->gil_wait_pct = agg_pct(r->gil_wait, s.n[0]);
		r->gil_drop_pct = agg_pct(r->gil_drop, s.n[0]);
		r->gc_pct = agg_pct(r->in_gc, s.n[0]);
	}
	if (n > 1)
		qsort(a->trows, n, sizeof(*a->trows), thr_cmp);
	*rows = a->trows;
	*nrows = n;
	return 0;
}

void mst_agg_totals(const struct mst_agg *a, enum mst_agg_window w, struct mst_agg_totals *out)
{
	memset(out, 0, sizeof(*out));
	struct tick tk;
	agg_tick_read(a->pt, a->nb, w, &tk);
	struct shr s;
	agg_shr_read(a->psh, a->nb, w, &s);
	out->ticks.samples = tk.ticks;
	out->ticks.ns = tk.ns;
	out->samples.samples = s.n[0];
	out->samples.ns = s.ns[0];
	out->gil_ticks = tk.gil;
	out->gc_ticks = tk.gc;
	out->gil_pct = agg_pct(tk.gil, tk.ticks);
	out->gc_pct = agg_pct(tk.gc, tk.ticks);
	const struct thr *t, *tmp;
	HASH_ITER(hh, a->threads, t, tmp)
	{
		out->threads++;
		if (!t->ended)
			out->threads_live++;
	}
	out->first_ns = a->first_ns;
	out->last_ns = a->last_ns;
}

int mst_agg_thread_stack(struct mst_agg *a, pid_t tid, const struct mst_agg_stack_frame **frames,
                         size_t *nframes)
{
	agg_rep_flush_all(a);
	*frames = NULL;
	*nframes = 0;
	const struct thr *t = agg_thr_find(a, tid);
	if (!t)
		return -ENOENT;
	if (mst_array_grow((void **)&a->srows, &a->srows_cap, t->ncache, sizeof(*a->srows)) < 0)
		return -ENOMEM;
	/* The cache runs outermost first; the caller wants innermost first. */
	for (size_t k = 0; k < t->ncache; k++) {
		struct mst_agg_stack_frame *r = &a->srows[t->ncache - 1 - k];
		r->id = t->cache[k].f;
		r->folded = t->cache[k].folded;
		r->interp = t->cache[k].interp;
	}
	*frames = a->srows;
	*nframes = t->ncache;
	return 0;
}

static void node_fill(const struct tree *tr, uint32_t i, struct mst_agg_node *out)
{
	const struct tnode *nd = &tr->v[i];
	out->node = i;
	out->frame = nd->frame;
	out->parent = nd->parent;
	out->self_samples = nd->self;
	out->total_samples = nd->total;
	out->self_ns = nd->self_ns;
	out->total_ns = nd->total_ns;
	out->has_children = nd->first_child != NO_NODE;
}

/* A lean thread's tree is built when asked for: a user looks into a few
 * threads, not a thousand. */
static const struct tree *tree_of(struct mst_agg *a, pid_t tid, enum mst_agg_mode mode,
                                  uint32_t node)
{
	struct thr *t = agg_thr_find(a, tid);
	if (!t || agg_thr_unlean(a, t) < 0)
		return NULL;
	const struct tree *tr = &t->tree[mode == MST_AGG_BY_FUNC];
	return node < tr->n ? tr : NULL;
}

int mst_agg_tree_node(struct mst_agg *a, pid_t tid, enum mst_agg_mode mode, uint32_t node,
                      struct mst_agg_node *out)
{
	agg_rep_flush_all(a);
	const struct tree *tr = tree_of(a, tid, mode, node);
	if (!tr)
		return -ENOENT;
	node_fill(tr, node, out);
	return 0;
}

static int node_cmp(const void *px, const void *py)
{
	const struct mst_agg_node *x = px, *y = py;
	int c = cmp_desc(x->total_samples, y->total_samples);
	if (!c)
		c = cmp_desc(x->total_ns, y->total_ns);
	return c ? c : (x->frame < y->frame ? -1 : x->frame > y->frame);
}

int mst_agg_tree_children(struct mst_agg *a, pid_t tid, enum mst_agg_mode mode, uint32_t node,
                          const struct mst_agg_node **rows, size_t *nrows, struct mst_err *err)
{
	agg_rep_flush_all(a);
	*rows = NULL;
	*nrows = 0;
	const struct tree *tr = tree_of(a, tid, mode, node);
	if (!tr)
		return mst_err_set(err, -ENOENT, "agg: no node %u in thread %d", node, (int)tid);
	size_t n = 0;
	for (uint32_t c = tr->v[node].first_child; c != NO_NODE; c = tr->v[c].next_sibling)
		n++;
	if (mst_array_grow((void **)&a->nrows, &a->nrows_cap, n, sizeof(*a->nrows)) < 0)
		return mst_err_set(err, -ENOMEM, "agg: out of memory");
	n = 0;
	for (uint32_t c = tr->v[node].first_child; c != NO_NODE; c = tr->v[c].next_sibling)
		if (tr->v[c].total)
			node_fill(tr, c, &a->nrows[n++]);
	if (n > 1)
		qsort(a->nrows, n, sizeof(*a->nrows), node_cmp);
	*rows = a->nrows;
	*nrows = n;
	return 0;
}

void mst_agg_stats(const struct mst_agg *a, struct mst_agg_stats *out)
{
	*out = a->st;
	out->frames = a->ft[0].live;
	out->funcs = a->ft[1].live;
	out->strings = mst_strset_count(a->strs);
	out->threads = a->nthreads;
	out->rings = a->nlive + a->npool;
	/* What the agg holds, by capacity: the figure a bound is about. */
	size_t b = sizeof(*a) + mst_strset_bytes(a->strs);
	for (int m = 0; m < 2; m++)
		b += (size_t)a->ft[m].cap * sizeof(struct frame) + agg_ix_bytes(&a->ft[m].ix);
	b += a->stride * (sizeof(*a->pt) + sizeof(*a->psh));
	b += (size_t)a->cfg.max_depth * (sizeof(*a->sf) + 2 * sizeof(*a->sl[0]));
	b += a->ring_bytes + a->live_cap * sizeof(*a->live);
	b += a->scr_cap * (sizeof(*a->scr) + sizeof(*a->remap) + sizeof(*a->mark)) + a->fmark_cap;
	b += a->hot_cap * sizeof(*a->hot) + a->trows_cap * sizeof(*a->trows) +
	     a->nrows_cap * sizeof(*a->nrows) + a->srows_cap * sizeof(*a->srows);
	if (a->threads)
		b += sizeof(UT_hash_table) +
		     a->threads->hh.tbl->num_buckets * sizeof(UT_hash_bucket);
	const struct thr *t, *tmp;
	HASH_ITER(hh, a->threads, t, tmp)
	{
		b += sizeof(*t) + a->stride * sizeof(struct shr) + t->cache_cap * sizeof(*t->cache);
		out->threads_lean += t->lean;
		for (int m = 0; !t->lean && m < 2; m++) {
			out->thread_entries += t->tab[m].live;
			out->tree_nodes += t->tree[m].n;
			b += (size_t)t->tab[m].cap *
			     (sizeof(struct tent) + (t->tab[m].sub ? sizeof(struct tsub) : 0));
			b += agg_ix_bytes(&t->tab[m].ix);
			b += (size_t)t->tree[m].cap * sizeof(struct tnode) +
			     agg_ix_bytes(&t->tree[m].ix);
		}
	}
	out->bytes = b;
}
