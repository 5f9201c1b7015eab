/* Lean threads (see struct thr): their cells read from their shares, and
 * their tables built when they stop being lean. */
#include "agg-int.h"

#include <stdlib.h>
#include <string.h>

void agg_lean_read(const struct mst_agg *a, const struct thr *t, int v, enum mst_agg_window w,
                   uint32_t *n, uint64_t *ns)
{
	int si = agg_shr_index(v);
	if (w == MST_AGG_CUMULATIVE) {
		*n = t->sh[0].n[si];
		*ns = t->sh[0].ns[si];
		return;
	}
	/* As a ring is read: its buckets' microseconds, made nanoseconds. */
	*n = 0;
	*ns = 0;
	for (size_t s = 1; s <= a->nb; s++) {
		*n += t->sh[s].n[si];
		*ns += t->sh[s].us[v] * 1000ull;
	}
}

uint32_t agg_lean_id(const struct mst_agg *a, const struct thr *t, int m, size_t i)
{
	uint32_t f = t->cache[t->ncache - 1 - i].f;
	return m ? a->ft[0].v[f].fn : f;
}

void agg_lean_each(struct mst_agg *a, const struct thr *t, int m, int v, enum mst_agg_window w,
                   void (*fn)(void *ctx, uint32_t id, const struct cnt *c), void *ctx)
{
	struct cnt c = {0};
	agg_lean_read(a, t, v, w, &c.total, &c.total_ns);
	if (!c.total)
		return;
	uint32_t own[NVIEW];
	for (int view = 0; view < NVIEW; view++)
		own[view] =
		    t->last_has_own[view] ? agg_lean_id(a, t, m, t->last_own_at[view]) : NO_IDX;
	uint32_t g = agg_next_gen(a);
	for (size_t i = 0; i < t->ncache; i++) {
		uint32_t id = agg_lean_id(a, t, m, i);
		struct frame *f = &a->ft[m].v[id];
		if (f->gen == g)
			continue;
		f->gen = g;
		struct cnt e = {.total = c.total, .total_ns = c.total_ns};
		for (int view = 0; view < NVIEW; view++)
			if (own[view] == id) {
				e.own[view] = c.total;
				e.own_ns[view] = c.total_ns;
			}
		fn(ctx, id, &e);
	}
}

void agg_thr_tables_free(struct mst_agg *a, struct thr *t)
{
	for (int m = 0; m < 2; m++) {
		struct etab *tb = &t->tab[m];
		for (uint32_t p = 0; p < tb->n; p++)
			if (tb->v[p].id != NO_IDX)
				agg_ent_give_rings(a, tb, p);
		agg_etab_fini(tb);
		agg_tree_fini(&t->tree[m]);
	}
}

/* The entry cells of subset v: since start from the shares, each second of
 * the window from that second's share. */
static int unlean_var(struct mst_agg *a, struct thr *t, int v)
{
	int si = agg_shr_index(v);
	const struct shr *sh = t->sh;
	if (!sh[0].n[si])
		return 0;
	bool recent = false;
	for (size_t s = 1; s <= a->nb; s++)
		recent |= sh[s].n[si] != 0;
	size_t n = t->ncache;
	int rc;
	for (int m = 0; m < 2; m++) {
		struct etab *tb = &t->tab[m];
		if (v && (rc = agg_etab_sub(tb)) < 0)
			return rc;
		uint32_t g = agg_next_gen(a);
		for (size_t i = 0; i < n; i++) {
			uint32_t p = a->sl[m][i];
			bool own = false;
			for (int view = 0; view < NVIEW; view++)
				own |= t->last_has_own[view] && a->sl[m][t->last_own_at[view]] == p;
			if (recent &&
			    (rc = agg_rblk_take(a, agg_ent_ring(tb, p, v), t, m, p, v, own)) < 0)
				return rc;
			if (tb->v[p].gen == g)
				continue;
			tb->v[p].gen = g;
			struct cnt *c = agg_ent_cnt_w(tb, p, v);
			c->total = sh[0].n[si];
			c->total_ns = sh[0].ns[si];
			struct rblk *r = recent ? *agg_ent_ring(tb, p, v) : NULL;
			for (size_t s = 0; r && s < a->nb; s++) {
				const struct shr *b = &sh[1 + s];
				if (r->own) {
					r->c[s].total = b->n[si];
					r->c[s].total_us = b->us[v];
				} else {
					agg_rblk_tot(r)[s].total = b->n[si];
					agg_rblk_tot(r)[s].total_us = b->us[v];
				}
			}
		}
		for (int view = 0; view < NVIEW; view++) {
			if (!t->last_has_own[view])
				continue;
			uint32_t p = a->sl[m][t->last_own_at[view]];
			struct cnt *c = agg_ent_cnt_w(tb, p, v);
			c->own[view] = sh[0].n[si];
			c->own_ns[view] = sh[0].ns[si];
			struct rblk *r = recent ? *agg_ent_ring(tb, p, v) : NULL;
			for (size_t s = 0; r && s < a->nb; s++) {
				r->c[s].own[view] = sh[1 + s].n[si];
				r->c[s].own_us[view] = sh[1 + s].us[v];
			}
		}
	}
	return 0;
}

int agg_thr_unlean(struct mst_agg *a, struct thr *t)
{
	if (!t->lean)
		return 0;
	int rc = -ENOMEM;
	if (agg_etab_init(&t->tab[0], a->cfg.max_thread_entries) < 0 ||
	    agg_etab_init(&t->tab[1], a->cfg.max_thread_entries) < 0 ||
	    agg_tree_init(&t->tree[0]) < 0 || agg_tree_init(&t->tree[1]) < 0)
		goto fail;
	/* A lean stack is shorter than either table's bound (mst_agg_add_thread),
	 * so every frame gets an entry and a node of its own. */
	size_t n = t->ncache;
	for (size_t k = 0; k < n; k++) {
		size_t i = n - 1 - k;
		a->sf[i] = t->cache[k].f;
		if ((rc = agg_ent_resolve(a, t, 0, a->sf[i], &a->sl[0][i])) < 0 ||
		    (rc = agg_ent_resolve(a, t, 1, a->ft[0].v[a->sf[i]].fn, &a->sl[1][i])) < 0)
			goto fail;
		t->cache[k].e[0] = a->sl[0][i];
		t->cache[k].e[1] = a->sl[1][i];
	}
	for (int v = 0; v < NVAR; v++)
		if ((rc = unlean_var(a, t, v)) < 0)
			goto fail;
	if (t->sh[0].n[0]) {
		agg_tree_add(a, t, 0, n, 0, t->sh[0].n[0], t->sh[0].ns[0]);
		agg_tree_add(a, t, 1, n, 0, t->sh[0].n[0], t->sh[0].ns[0]);
	}
	t->lean = false;
	a->st.threads_unleaned++;
	return 0;
fail:
	agg_thr_tables_free(a, t);
	for (size_t k = 0; k < t->ncache; k++)
		t->cache[k].node[0] = t->cache[k].node[1] = NO_NODE;
	return rc;
}
