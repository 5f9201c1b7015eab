/* Counting merged stacks for the live view: frames interned into ids, own and
 * total counts per thread and for the process in a ring of per-second buckets
 * plus a since-start cell, thread shares, and bounded call trees.
 *
 * Memory stops growing once the caps are reached, whatever the target does:
 * frames, per-thread cells and call-tree nodes live in arrays that grow by
 * doubling up to their cap and are looked up through open-addressing indexes
 * of positions (no hash handle per item). When one is full, the coldest of
 * what was not counted in the recent window (fewest samples since start) is
 * merged into the "(other frames)" cell or an "(other)" tree node, and its
 * slot is reused: new hot frames keep getting their own rows, rare ones end
 * up in the overflow, and own counts still add up to the samples.
 *
 * A thread only ever seen in one stack (most of a server's idle workers)
 * keeps none of those cells: they are read from its sample counts and its
 * cached stack (lean.c), and built only when its stack changes or its call
 * tree is asked for. */

/* Lifetime and the tick API: begin, add a thread's stack, end. */
#include "agg-int.h"

#include <stdlib.h>
#include <string.h>

/* ---- lifetime ---- */

int mst_agg_new(const struct mst_agg_config *cfg, struct mst_agg **out, struct mst_err *err)
{
	*out = NULL;
	struct mst_agg_config c = cfg ? *cfg : (struct mst_agg_config){0};
	if (!c.recent_s)
		c.recent_s = 5;
	if (!c.max_frames)
		c.max_frames = 2048;
	if (!c.max_thread_entries)
		c.max_thread_entries = 256;
	if (!c.max_threads)
		c.max_threads = 4096;
	if (!c.max_tree_nodes)
		c.max_tree_nodes = 1024;
	if (!c.max_depth)
		c.max_depth = 2048;
	if (!c.end_after_ns)
		c.end_after_ns = 2 * SEC_NS;
	/* Ids and positions must stay clear of the reserved values. */
	if (c.recent_s > 3600 || c.max_frames > (1u << 28) || c.max_tree_nodes > (1u << 28) ||
	    c.max_thread_entries > (1u << 28))
		return mst_err_set(err, -EINVAL, "agg: configuration out of range");

	struct mst_agg *a = calloc(1, sizeof(*a));
	if (!a)
		return mst_err_set(err, -ENOMEM, "agg: out of memory");
	a->cfg = c;
	a->nb = c.recent_s + 1;
	a->stride = 1 + a->nb;
	a->tree_hard = c.max_tree_nodes + c.max_tree_nodes / 8 + 1;
	a->pt = calloc(a->stride, sizeof(*a->pt));
	a->psh = calloc(a->stride, sizeof(*a->psh));
	a->sf = calloc(c.max_depth, sizeof(*a->sf));
	a->sl[0] = calloc(c.max_depth, sizeof(*a->sl[0]));
	a->sl[1] = calloc(c.max_depth, sizeof(*a->sl[1]));
	a->strs = mst_strset_new();
	uint32_t other = NO_IDX;
	const struct mst_agg_frame_in oin = {.kind = MST_AGG_NATIVE, .function = "(other frames)"};
	if (!a->pt || !a->psh || !a->sf || !a->sl[0] || !a->sl[1] || !a->strs ||
	    agg_ftab_init(&a->ft[0]) < 0 || agg_ftab_init(&a->ft[1]) < 0 ||
	    agg_intern(a, &oin, &other) < 0 || other != MST_AGG_OTHER_FRAME || a->ft[0].live != 1) {
		mst_agg_free(a);
		return mst_err_set(err, -ENOMEM, "agg: out of memory");
	}
	/* Always listed, even in the folded view. */
	a->ft[0].v[0].unfolded = a->ft[1].v[0].unfolded = true;
	a->ft[0].v[0].user_shown = a->ft[1].v[0].user_shown = true;
	*out = a;
	return 0;
}

void mst_agg_free(struct mst_agg *a)
{
	if (!a)
		return;
	struct thr *t, *ttmp;
	HASH_ITER(hh, a->threads, t, ttmp)
	{
		agg_thr_free(a, t);
	}
	/* Process rings are still live; thread ones went with their threads. */
	while (a->nlive)
		agg_rblk_give(a, a->live[a->nlive - 1]);
	agg_rblk_drop_pool(a);
	free(a->live);
	for (int m = 0; m < 2; m++)
		agg_ftab_fini(&a->ft[m]);
	mst_strset_free(a->strs);
	free(a->pt);
	free(a->psh);
	free(a->sf);
	free(a->sl[0]);
	free(a->sl[1]);
	free(a->scr);
	free(a->remap);
	free(a->mark);
	free(a->fmark);
	free(a->hot);
	free(a->pacc);
	free(a->trows);
	free(a->nrows);
	free(a->srows);
	free(a);
}

void mst_agg_reset(struct mst_agg *a)
{
	struct thr *t, *ttmp;
	HASH_ITER(hh, a->threads, t, ttmp)
	{
		agg_thr_free(a, t);
	}
	while (a->nlive)
		agg_rblk_give(a, a->live[a->nlive - 1]);
	/* What was hot before the reset need not be again: start small. */
	agg_rblk_drop_pool(a);
	for (int m = 0; m < 2; m++) {
		for (uint32_t i = 0; i < a->ft[m].n; i++)
			memset(a->ft[m].v[i].c, 0, sizeof(a->ft[m].v[i].c));
		a->ft[m].full = false;
		a->ft[m].futile = 0;
	}
	memset(a->pt, 0, a->stride * sizeof(*a->pt));
	memset(a->psh, 0, a->stride * sizeof(*a->psh));
	a->have_first = false;
	a->first_ns = a->last_ns = 0;
}

/* ---- feeding ---- */

void mst_agg_begin(struct mst_agg *a, uint64_t now_ns, uint64_t weight_ns)
{
	/* Repeats wait within their second only: its ring slot is reused. */
	if (a->started && now_ns / SEC_NS != a->cur_sec)
		agg_rep_flush_all(a);
	agg_clock_advance(a, now_ns);
	a->now_ns = now_ns;
	a->weight = weight_ns;
	a->tick_no++;
	a->tick_flags = 0;
	a->in_tick = true;
}

static bool frame_matches(const struct mst_agg_frame_in *in, const struct frame *f)
{
	return f->key.line == in->line &&
	       f->key.flags == ((uint32_t)(in->kind & 1) | (in->inlined ? 2u : 0u)) &&
	       !strcmp(f->key.func, in->function ? in->function : "") &&
	       !strcmp(f->key.file, in->file ? in->file : "") &&
	       !strcmp(f->key.mod, in->module ? in->module : "");
}

/* What decides which frame of a stack has own counts in each view. */
struct mark {
	uint8_t kind;
	bool folded, interp;
};

/* Frame i's marks: its input's, or, for a sample told unchanged without
 * frames (fin NULL), those cached with it. */
static struct mark mark_of(const struct mst_agg_frame_in *fin, const struct thr *t, size_t n,
                           size_t i, const struct frame *f)
{
	if (fin)
		return (struct mark){fin[i].kind, fin[i].folded, fin[i].interp};
	const struct cslot *c = &t->cache[n - 1 - i];
	return (struct mark){(uint8_t)(f->key.flags & 1), c->folded, c->interp};
}

/* After a sample: what filled up makes room for what comes next. */
static void make_room(struct mst_agg *a, struct thr *t)
{
	if (t)
		for (int m = 0; m < 2; m++) {
			if (t->tab[m].full)
				agg_etab_evict(a, t, m);
			if (t->tree[m].full)
				agg_tree_prune(a, t, m);
		}
	/* By line first: the functions of evicted lines may go next. */
	for (int m = 0; m < 2; m++)
		if (a->ft[m].full)
			agg_ftab_evict(a, m);
}

/* The recent ring of every cell a sample of the stack in a->sf / a->sl
 * counts, taken now, while a failure still counts nothing; with own counts
 * for the frames that get one in some view (has_own, own_at). */
static int take_rings(struct mst_agg *a, struct thr *t, size_t n, unsigned vm, const bool *has_own,
                      const size_t *own_at)
{
	int rc;
	for (size_t i = 0; i < n; i++) {
		uint32_t id[2] = {a->sf[i], a->ft[0].v[a->sf[i]].fn};
		bool own = false;
		for (int view = 0; view < NVIEW; view++)
			own |= has_own[view] && own_at[view] == i;
		for (int v = 0; v < NVAR; v++) {
			if (!(vm & (1u << v)))
				continue;
			for (int m = 0; m < 2; m++) {
				if ((rc = agg_rblk_take(a, &a->ft[m].v[id[m]].r[v], NULL, m, id[m],
				                        v, own)) < 0)
					return rc;
				if (!t)
					continue;
				if (v && (rc = agg_etab_sub(&t->tab[m])) < 0)
					return rc;
				if ((rc = agg_rblk_take(a, agg_ent_ring(&t->tab[m], a->sl[m][i], v),
				                        t, m, a->sl[m][i], v, own)) < 0)
					return rc;
			}
		}
	}
	return 0;
}

/* Count k samples of the stack in a->sf / a->sl (w ns, w_us us in all) in
 * the cells of slot rs: totals once per distinct frame (recursion counts
 * once), own counts per view at own_at. No allocation, no failure. */
static void count_stack(struct mst_agg *a, struct thr *t, size_t n, unsigned vm,
                        const bool *has_own, const size_t *own_at, size_t rs, uint32_t k,
                        uint64_t w, uint64_t w_us)
{
	uint32_t g = agg_next_gen(a);
	uint32_t wu = w_us > UINT32_MAX ? UINT32_MAX : (uint32_t)w_us;
	for (size_t i = 0; i < n; i++) {
		struct frame *f = &a->ft[0].v[a->sf[i]], *fu = &a->ft[1].v[f->fn];
		struct tent *te[2] = {NULL, NULL};
		if (t) {
			te[0] = &t->tab[0].v[a->sl[0][i]];
			te[1] = &t->tab[1].v[a->sl[1][i]];
		}
		for (int v = 0; v < NVAR; v++) {
			if (!(vm & (1u << v)))
				continue;
			if (f->gen != g)
				agg_cnt_total(&f->c[v], f->r[v], rs, k, w, wu);
			if (fu->gen != g)
				agg_cnt_total(&fu->c[v], fu->r[v], rs, k, w, wu);
			for (int m = 0; m < 2; m++)
				if (te[m] && te[m]->gen != g) {
					struct etab *tb = &t->tab[m];
					uint32_t p = a->sl[m][i];
					agg_cnt_total(agg_ent_cnt_w(tb, p, v),
					              *agg_ent_ring(tb, p, v), rs, k, w, wu);
				}
		}
		f->gen = fu->gen = g;
		if (t)
			te[0]->gen = te[1]->gen = g;
	}
	for (int view = 0; view < NVIEW; view++) {
		if (!has_own[view])
			continue;
		size_t i = own_at[view];
		struct frame *f = &a->ft[0].v[a->sf[i]], *fu = &a->ft[1].v[f->fn];
		for (int v = 0; v < NVAR; v++) {
			if (!(vm & (1u << v)))
				continue;
			agg_cnt_own(&f->c[v], f->r[v], rs, view, k, w, wu);
			agg_cnt_own(&fu->c[v], fu->r[v], rs, view, k, w, wu);
			for (int m = 0; t && m < 2; m++) {
				struct etab *tb = &t->tab[m];
				uint32_t p = a->sl[m][i];
				agg_cnt_own(agg_ent_cnt_w(tb, p, v), *agg_ent_ring(tb, p, v), rs,
				            view, k, w, wu);
			}
		}
	}
}

static void rep_unlink(struct mst_agg *a, struct thr *t)
{
	(void)a;
	if (!t->rep_prev)
		return;
	*t->rep_prev = t->rep_next;
	if (t->rep_next)
		t->rep_next->rep_prev = t->rep_prev;
	t->rep_next = NULL;
	t->rep_prev = NULL;
}

/* Count t's pending repeats of its last stack (see mst_agg_add_thread):
 * its cache holds that stack's frames, entries and nodes, none of which
 * an eviction takes while cached. */
void agg_rep_flush(struct mst_agg *a, struct thr *t)
{
	if (!t->rep) {
		rep_unlink(a, t);
		return;
	}
	size_t n = t->ncache;
	for (size_t k = 0; k < n; k++) {
		size_t i = n - 1 - k;
		a->sf[i] = t->cache[k].f;
		a->sl[0][i] = t->cache[k].e[0];
		a->sl[1][i] = t->cache[k].e[1];
	}
	/* Their rings were taken in this second by the full count; taken
	 * again in case (a ring only ages out once its second has passed,
	 * and every pending repeat is counted before that). A lean thread's
	 * own cells are its shares, counted already. */
	struct thr *ct = t->lean ? NULL : t;
	if (take_rings(a, ct, n, t->last_vm, t->last_has_own, t->last_own_at) == 0) {
		count_stack(a, ct, n, t->last_vm, t->last_has_own, t->last_own_at, t->rep_slot,
		            t->rep, t->rep_ns, t->rep_us);
		if (ct) {
			agg_tree_add(a, t, 0, n, n, t->rep, t->rep_ns);
			agg_tree_add(a, t, 1, n, n, t->rep, t->rep_ns);
		}
	} else {
		a->st.repeats_dropped += t->rep;
	}
	t->rep = 0;
	t->rep_ns = t->rep_us = 0;
	rep_unlink(a, t);
}

void agg_rep_flush_all(struct mst_agg *a)
{
	while (a->rep_head)
		agg_rep_flush(a, a->rep_head);
}

int mst_agg_add_thread(struct mst_agg *a, const struct mst_agg_thread_in *in, struct mst_err *err)
{
	if (!a->in_tick)
		return mst_err_set(err, -EINVAL, "agg: thread %d added outside a tick",
		                   (int)in->tid);
	size_t n = in->nframes;
	/* Told unchanged without frames: those of the thread's last sample,
	 * which the agg holds (its cache). */
	bool from_cache = in->unchanged && !in->frames;
	if (n && !in->frames && !from_cache)
		return mst_err_set(err, -EINVAL, "agg: thread %d: no frame array", (int)in->tid);
	if (n > a->cfg.max_depth) {
		/* The innermost frames carry own time and the hot spots. */
		n = a->cfg.max_depth;
		a->st.stacks_truncated++;
	}
	const struct mst_agg_frame_in *fin = in->frames;
	int rc;

	/* Everything that can fail comes first, so a failure counts nothing. */
	struct thr *t = agg_thr_find(a, in->tid);
	if (from_cache) {
		if (!t || !t->sh[0].n[0])
			return mst_err_set(err, -ENODATA, "agg: thread %d: no last stack to repeat",
			                   (int)in->tid);
		n = t->ncache;
	}
	if (!t && (rc = agg_thr_new(a, in->tid, &t)) < 0)
		goto nomem;
	uint64_t w = a->weight;
	uint64_t wu = (w + 500) / 1000;
	uint32_t wu32 = wu > UINT32_MAX ? UINT32_MAX : (uint32_t)wu;
	unsigned vm = 1u;
	if (in->state & MST_TS_RUNNING)
		vm |= 1u << MST_AGG_ONLY_ACTIVE;
	if (in->state & MST_TS_HOLDS_GIL)
		vm |= 1u << MST_AGG_ONLY_GIL;
	size_t s = 1 + a->slot, rs = a->slot;

	/* Outermost first, how far the input repeats the thread's last
	 * stack: those frames are taken from there without a lookup. The
	 * caller may say it repeats all of it (unchanged): then nothing is
	 * compared. */
	bool rep_ok = !a->cfg.count_each && t && n && t->ncache == n &&
	              t->last_tick + 1 == a->tick_no && in->state == t->state && vm == t->last_vm &&
	              (!t->rep || t->rep_slot == rs);
	size_t match = from_cache ? n : 0;
	bool marks_same = true;
	for (size_t k = 0; t && !from_cache && !(rep_ok && in->unchanged) && k < n && k < t->ncache;
	     k++) {
		size_t i = n - 1 - k;
		if (!frame_matches(&fin[i], &a->ft[0].v[t->cache[k].f]))
			break;
		/* Which frames have own counts follows these too. */
		marks_same &=
		    t->cache[k].folded == fin[i].folded && t->cache[k].interp == fin[i].interp;
		match++;
	}
	/* The stack of the thread's last sample, in the same state, within
	 * the same second: the cells it counts are the ones the last count
	 * reached, and the count waits (until the second ends, the stack
	 * changes, or someone asks). A thousand idle threads then cost their
	 * cells once a second, not every tick; so does a thread read again
	 * and found where it was (a GIL waiter woken by its timeout). */
	if (rep_ok && (in->unchanged || (match == n && marks_same))) {
		if (!t->rep) {
			t->rep_slot = rs;
			t->rep_next = a->rep_head;
			t->rep_prev = &a->rep_head;
			if (a->rep_head)
				a->rep_head->rep_prev = &t->rep_next;
			a->rep_head = t;
		}
		t->rep++;
		a->st.repeats++;
		t->rep_ns += w;
		t->rep_us += wu;
		agg_shr_add(a->psh, s, in->state, w);
		a->tick_flags |= in->state;
		agg_shr_add(t->sh, s, in->state, w);
		if (t->lean)
			agg_shr_add_us(t->sh, s, in->state, wu32);
		goto seen;
	}
	if (t)
		agg_rep_flush(a, t); /* what came before this sample, first */
	/* A lean thread stays so in its stack, whatever its state; its first
	 * sample in another, or a stack too deep to be sure of a cell and a
	 * node per frame, gives it tables. */
	bool lean = t && t->lean;
	if (lean && ((t->sh[0].n[0] && !(match == n && t->ncache == n && marks_same)) ||
	             n >= a->cfg.max_thread_entries || n >= a->cfg.max_tree_nodes)) {
		if ((rc = agg_thr_unlean(a, t)) < 0)
			goto nomem;
		lean = false;
	}
	struct thr *ct = lean ? NULL : t;
	for (size_t k = 0; k < n; k++) {
		size_t i = n - 1 - k;
		if (k < match)
			a->sf[i] = t->cache[k].f;
		else if ((rc = agg_intern(a, &fin[i], &a->sf[i])) < 0)
			goto nomem;
	}
	/* Rounded up to 8: a thousand idle threads' caches are most of what
	 * they keep. */
	if (t &&
	    (rc = mst_array_fit((void **)&t->cache, &t->cache_cap, n, sizeof(*t->cache), 8)) < 0)
		goto nomem;
	if (ct) {
		for (size_t k = 0; k < n; k++) {
			size_t i = n - 1 - k;
			if (k < match) {
				a->sl[0][i] = t->cache[k].e[0];
				a->sl[1][i] = t->cache[k].e[1];
				continue;
			}
			if ((rc = agg_ent_resolve(a, t, 0, a->sf[i], &a->sl[0][i])) < 0 ||
			    (rc = agg_ent_resolve(a, t, 1, a->ft[0].v[a->sf[i]].fn, &a->sl[1][i])) <
			        0)
				goto nomem;
		}
	} else if (!t) {
		a->st.threads_uncounted++;
	}

	/* Which frame has the own count in each view, and what the views
	 * show. */
	size_t own_at[NVIEW] = {0};
	bool has_own[NVIEW] = {n > 0, false, false, false};
	for (size_t i = 0; i < n; i++) {
		struct frame *f = &a->ft[0].v[a->sf[i]], *fu = &a->ft[1].v[f->fn];
		struct mark mk = mark_of(fin, t, n, i, f);
		if (!mk.folded) {
			f->unfolded = fu->unfolded = true;
			if (!has_own[MST_AGG_VIEW_FOLDED]) {
				has_own[MST_AGG_VIEW_FOLDED] = true;
				own_at[MST_AGG_VIEW_FOLDED] = i;
			}
		}
		if (!mk.interp) {
			f->user_shown = fu->user_shown = true;
			if (!has_own[MST_AGG_VIEW_USER]) {
				has_own[MST_AGG_VIEW_USER] = true;
				own_at[MST_AGG_VIEW_USER] = i;
			}
		}
		if (mk.kind == MST_AGG_PYTHON && !has_own[MST_AGG_VIEW_PYTHON]) {
			has_own[MST_AGG_VIEW_PYTHON] = true;
			own_at[MST_AGG_VIEW_PYTHON] = i;
		}
	}
	/* Every cell this sample counts gets its recent ring now, while a
	 * failure still counts nothing; a ring left unused ages out. Then
	 * counting: no allocation, no failure. */
	if ((rc = take_rings(a, ct, n, vm, has_own, own_at)) < 0)
		goto nomem;
	count_stack(a, ct, n, vm, has_own, own_at, rs, 1, w, wu);
	agg_shr_add(a->psh, s, in->state, w);
	a->tick_flags |= in->state;
	if (!t) {
		make_room(a, NULL);
		return 0;
	}
	agg_shr_add(t->sh, s, in->state, w);
	if (!ct)
		agg_shr_add_us(t->sh, s, in->state, wu32);
	for (size_t k = 0; k < n; k++) {
		size_t i = n - 1 - k;
		t->cache[k].f = a->sf[i];
		t->cache[k].e[0] = ct ? a->sl[0][i] : NO_IDX;
		t->cache[k].e[1] = ct ? a->sl[1][i] : NO_IDX;
		if (fin) {
			t->cache[k].folded = fin[i].folded;
			t->cache[k].interp = fin[i].interp;
		}
		if (k >= match)
			t->cache[k].node[0] = t->cache[k].node[1] = NO_NODE;
	}
	t->ncache = n;
	t->last_vm = vm;
	memcpy(t->last_has_own, has_own, sizeof(has_own));
	memcpy(t->last_own_at, own_at, sizeof(own_at));
	if (ct) {
		agg_tree_add(a, t, 0, n, match, 1, w);
		agg_tree_add(a, t, 1, n, match, 1, w);
	}
	t->state = in->state;
	t->top = n ? a->sf[0] : MST_AGG_NONE;
	make_room(a, t);
seen:
	t->pid = in->pid;
	if (in->name && strncmp(t->name, in->name, sizeof(t->name) - 1) != 0) {
		strncpy(t->name, in->name, sizeof(t->name) - 1);
		t->name[sizeof(t->name) - 1] = '\0';
	}
	t->last_ns = a->now_ns;
	t->last_tick = a->tick_no;
	t->ended = false;
	return 0;
nomem:
	return mst_err_set(err, rc, "agg: out of memory counting thread %d", (int)in->tid);
}

void mst_agg_end(struct mst_agg *a)
{
	if (!a->in_tick)
		return;
	a->in_tick = false;
	a->st.ticks++;
	struct tick *both[2] = {&a->pt[0], &a->pt[1 + a->slot]};
	for (int k = 0; k < 2; k++) {
		both[k]->ticks++;
		both[k]->ns += a->weight;
		if (a->tick_flags & MST_TS_HOLDS_GIL)
			both[k]->gil++;
		if (a->tick_flags & MST_TS_IN_GC)
			both[k]->gc++;
	}
	if (!a->have_first) {
		a->have_first = true;
		a->first_ns = a->now_ns;
	}
	a->last_ns = a->now_ns;
	struct thr *t, *tmp;
	HASH_ITER(hh, a->threads, t, tmp)
	{
		if (!t->ended && t->last_tick != a->tick_no && a->now_ns > t->last_ns &&
		    a->now_ns - t->last_ns >= a->cfg.end_after_ns)
			t->ended = true;
	}
}

int mst_agg_add(struct mst_agg *a, uint64_t now_ns, uint64_t weight_ns,
                const struct mst_agg_thread_in *threads, size_t nthreads, struct mst_err *err)
{
	int rc = 0;
	mst_agg_begin(a, now_ns, weight_ns);
	for (size_t i = 0; i < nthreads && rc == 0; i++)
		rc = mst_agg_add_thread(a, &threads[i], err);
	mst_agg_end(a);
	return rc;
}

void mst_agg_end_thread(struct mst_agg *a, pid_t tid)
{
	struct thr *t = agg_thr_find(a, tid);
	if (t)
		t->ended = true;
}
