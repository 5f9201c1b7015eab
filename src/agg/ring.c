/* The recent window: per-thread rings of per-second buckets, their pool,
 * and the clock that advances them. */
#include "agg-int.h"

#include <stdlib.h>
#include <string.h>

/* ---- recent rings ---- */

static size_t data_size(const struct mst_agg *a, bool own)
{
	return a->nb * (own ? sizeof(struct bkt) : sizeof(struct bkt_t));
}

/* Where the owner of r keeps its pointer to it. */
static struct rblk **rblk_home(struct mst_agg *a, const struct rblk *r)
{
	if (r->t)
		return agg_ent_ring(&r->t->tab[r->mode], r->idx, r->var);
	return &a->ft[r->mode].v[r->idx].r[r->var];
}

/* A zeroed ring of the kind asked, from its pool when it can. */
static struct rblk *rblk_get(struct mst_agg *a, bool own)
{
	struct rblk *r = a->pool[own];
	if (r) {
		a->pool[own] = r->next;
		a->npool--;
		return r;
	}
	size_t size = sizeof(struct rblk) + data_size(a, own);
	if (!(r = calloc(1, size)))
		return NULL;
	r->own = own;
	a->ring_bytes += size;
	return r;
}

static void rblk_put(struct mst_agg *a, struct rblk *r)
{
	memset(r->c, 0, data_size(a, r->own));
	r->t = NULL;
	r->next = a->pool[r->own];
	a->pool[r->own] = r;
	a->npool++;
}

int agg_rblk_take(struct mst_agg *a, struct rblk **slot, struct thr *t, int mode, uint32_t idx,
                  int var, bool own)
{
	struct rblk *r = *slot;
	if (r && (r->own || !own))
		return 0;
	if (r) {
		/* Made whole: the same place in the live list, its totals. */
		struct rblk *w = rblk_get(a, true);
		if (!w)
			return -ENOMEM;
		const struct bkt_t *b = agg_rblk_tot(r);
		for (size_t i = 0; i < a->nb; i++) {
			w->c[i].total = b[i].total;
			w->c[i].total_us = b[i].total_us;
		}
		w->t = r->t;
		w->idx = r->idx;
		w->mode = r->mode;
		w->var = r->var;
		w->live = r->live;
		a->live[w->live] = w;
		*slot = w;
		rblk_put(a, r);
		return 0;
	}
	if (mst_array_grow((void **)&a->live, &a->live_cap, a->nlive + 1, sizeof(*a->live)) < 0)
		return -ENOMEM;
	if (!(r = rblk_get(a, own)))
		return -ENOMEM;
	r->t = t;
	r->idx = idx;
	r->mode = (uint8_t)mode;
	r->var = (uint8_t)var;
	r->next = NULL;
	r->live = a->nlive;
	a->live[a->nlive++] = r;
	*slot = r;
	return 0;
}

/* Detach r from its cell and keep it, zeroed, for the next cell that gets
 * hot: in a steady state the pool and the live list trade blocks and
 * nothing is allocated. */
void agg_rblk_give(struct mst_agg *a, struct rblk *r)
{
	*rblk_home(a, r) = NULL;
	struct rblk *last = a->live[--a->nlive];
	a->live[r->live] = last;
	last->live = r->live;
	rblk_put(a, r);
}

void agg_rblk_drop_pool(struct mst_agg *a)
{
	for (int own = 0; own < 2; own++)
		while (a->pool[own]) {
			struct rblk *r = a->pool[own];
			a->pool[own] = r->next;
			a->ring_bytes -= sizeof(struct rblk) + data_size(a, own);
			free(r);
		}
	a->npool = 0;
}

/* ---- the clock ---- */

static bool rblk_empty(const struct mst_agg *a, const struct rblk *r)
{
	/* Own is only ever counted next to a total in the same bucket. */
	for (size_t i = 0; i < a->nb; i++)
		if (r->own ? r->c[i].total : agg_rblk_tot_r(r)[i].total)
			return false;
	return true;
}

static void zero_slot(struct mst_agg *a, size_t slot)
{
	size_t s = 1 + slot;
	/* Backwards: giving a ring back moves the last one into its place. */
	for (size_t i = a->nlive; i-- > 0;) {
		struct rblk *r = a->live[i];
		if (r->own)
			memset(&r->c[slot], 0, sizeof(r->c[slot]));
		else
			memset(&agg_rblk_tot(r)[slot], 0, sizeof(struct bkt_t));
		if (rblk_empty(a, r))
			agg_rblk_give(a, r);
	}
	struct thr *t, *ttmp;
	HASH_ITER(hh, a->threads, t, ttmp)
	{
		memset(&t->sh[s], 0, sizeof(t->sh[s]));
	}
	memset(&a->pt[s], 0, sizeof(a->pt[s]));
	memset(&a->psh[s], 0, sizeof(a->psh[s]));
}

/* Move the recent window to now's second, emptying the buckets of the
 * seconds it enters: once a second, not per sample, and bounded by the
 * number of counted cells. Time that goes back stays in the current one. */
void agg_clock_advance(struct mst_agg *a, uint64_t now)
{
	uint64_t sec = now / SEC_NS;
	if (!a->started) {
		a->started = true;
		a->cur_sec = sec;
		a->slot = (size_t)(sec % a->nb);
		return;
	}
	if (sec <= a->cur_sec)
		return;
	uint64_t k = sec - a->cur_sec;
	if (k > a->nb)
		k = a->nb;
	for (uint64_t j = 1; j <= k; j++)
		zero_slot(a, (size_t)((a->cur_sec + j) % a->nb));
	a->cur_sec = sec;
	a->slot = (size_t)(sec % a->nb);
}

/* A fresh mark for "counted in this thread sample"; on wrap-around every
 * old mark is cleared so none can match by accident. */
uint32_t agg_next_gen(struct mst_agg *a)
{
	if (++a->gen != 0)
		return a->gen;
	for (int m = 0; m < 2; m++)
		for (uint32_t i = 0; i < a->ft[m].n; i++)
			a->ft[m].v[i].gen = 0;
	struct thr *t, *ttmp;
	HASH_ITER(hh, a->threads, t, ttmp)
	{
		for (int m = 0; m < 2; m++)
			for (uint32_t p = 0; p < t->tab[m].n; p++)
				if (t->tab[m].v[p].id != NO_IDX)
					t->tab[m].v[p].gen = 0;
	}
	return a->gen = 1;
}
