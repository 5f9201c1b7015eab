/* Per-thread entry tables: a thread's cell for each frame id, bounded,
 * indexed. */
#include "agg-int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- thread entries ---- */

static uint32_t etab_find(const struct etab *tb, uint32_t id)
{
	for (uint32_t i = agg_mix32(id) & tb->ix.mask; tb->ix.slot[i]; i = (i + 1) & tb->ix.mask) {
		uint32_t p = tb->ix.slot[i] - 1;
		if (tb->v[p].id == id)
			return p;
	}
	return NO_IDX;
}

void agg_etab_reindex(struct etab *tb)
{
	agg_ix_reset(&tb->ix, tb->cap);
	for (uint32_t i = 0; i < tb->n; i++)
		if (tb->v[i].id != NO_IDX)
			agg_ix_put(&tb->ix, agg_mix32(tb->v[i].id), i);
}

/* A new entry for frame id, at most limit of them; -ENOSPC when full. */
static int etab_add(struct etab *tb, uint32_t id, uint32_t limit, uint32_t *out)
{
	uint32_t p;
	bool grew;
	if (tb->live >= limit)
		return -ENOSPC;
	/* Subsets first, to the room the entries will grow to: a failure
	 * leaves the table as it was. */
	if (tb->sub && tb->free == NO_IDX && tb->n == tb->cap) {
		uint32_t sc = tb->cap;
		int rc = agg_grow_to((void **)&tb->sub, &sc, limit, sizeof(*tb->sub));
		if (rc < 0)
			return rc;
	}
	int rc = agg_slot_take((void **)&tb->v, &tb->n, &tb->cap, &tb->free, &tb->ix,
	                       sizeof(*tb->v), offsetof(struct tent, gen), limit, &p, &grew);
	if (rc < 0)
		return rc;
	if (grew)
		agg_etab_reindex(tb);
	memset(&tb->v[p], 0, sizeof(tb->v[p]));
	if (tb->sub)
		memset(&tb->sub[p], 0, sizeof(tb->sub[p]));
	tb->v[p].id = id;
	agg_ix_put(&tb->ix, agg_mix32(id), p);
	tb->live++;
	*out = p;
	return 0;
}

int agg_etab_init(struct etab *tb, uint32_t limit)
{
	uint32_t other;
	tb->free = NO_IDX;
	if (agg_ix_reset(&tb->ix, 0) < 0)
		return -ENOMEM;
	/* The overflow entry first, at position 0, beside the limit. */
	return etab_add(tb, MST_AGG_OTHER_FRAME, limit + 1, &other) < 0 ? -ENOMEM : 0;
}

/* Room for the subsets after the first, for every entry there is room for
 * (the thread had its first sample in one of them). */
int agg_etab_sub(struct etab *tb)
{
	if (tb->sub)
		return 0;
	return (tb->sub = calloc(tb->cap, sizeof(*tb->sub))) ? 0 : -ENOMEM;
}

void agg_etab_fini(struct etab *tb)
{
	free(tb->sub);
	free(tb->v);
	free(tb->ix.slot);
	memset(tb, 0, sizeof(*tb));
}

/* Give back every recent ring of the entry at p. */
void agg_ent_give_rings(struct mst_agg *a, struct etab *tb, uint32_t p)
{
	for (int v = 0; v < NVAR; v++)
		if (agg_ent_ring_r(tb, p, v))
			agg_rblk_give(a, *agg_ent_ring(tb, p, v));
}

/* Merge the entry at p into the overflow entry (sh: the thread's
 * since-start shares, which bound it) and free it; it has no ring. */
void agg_etab_merge_del(struct etab *tb, uint32_t p, const struct shr *sh)
{
	for (int v = 0; v < (tb->sub ? NVAR : 1); v++)
		agg_cnt_merge(agg_ent_cnt_w(tb, 0, v), agg_ent_cnt(tb, p, v),
		              sh->n[agg_shr_index(v)], sh->ns[agg_shr_index(v)]);
	tb->v[p].id = NO_IDX;
	tb->v[p].gen = tb->free;
	tb->free = p;
	tb->live--;
}

/* The entry of frame id in t's table of mode; past max_thread_entries the
 * overflow entry, and the table is marked for an eviction after this
 * sample. */
int agg_ent_resolve(struct mst_agg *a, struct thr *t, int mode, uint32_t id, uint32_t *out)
{
	struct etab *tb = &t->tab[mode];
	uint32_t p = etab_find(tb, id);
	if (p == NO_IDX) {
		int rc = etab_add(tb, id, a->cfg.max_thread_entries + 1, &p);
		if (rc == -ENOSPC) {
			tb->full = true;
			a->st.entries_over_limit++;
			p = 0;
		} else if (rc < 0) {
			return rc;
		}
	}
	*out = p;
	return 0;
}
