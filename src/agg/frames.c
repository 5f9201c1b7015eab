/* The frame table: merged frames interned into ids, bounded, indexed. */
#include "agg-int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- frames ---- */

int agg_ftab_init(struct ftab *tb)
{
	tb->free = NO_IDX;
	return agg_ix_reset(&tb->ix, 0);
}

void agg_ftab_fini(struct ftab *tb)
{
	free(tb->v);
	free(tb->ix.slot);
	memset(tb, 0, sizeof(*tb));
}

bool agg_frame_live(const struct ftab *tb, uint32_t id)
{
	return id < tb->n && tb->v[id].key.func != NULL;
}

void agg_ftab_reindex(struct ftab *tb)
{
	agg_ix_reset(&tb->ix, tb->cap); /* the same size: nothing to allocate */
	for (uint32_t i = 0; i < tb->n; i++)
		if (tb->v[i].key.func)
			agg_ix_put(&tb->ix, agg_fkey_hash(&tb->v[i].key), i);
}

static uint32_t ftab_find(const struct ftab *tb, const struct fkey *k)
{
	for (uint32_t i = agg_fkey_hash(k) & tb->ix.mask; tb->ix.slot[i];
	     i = (i + 1) & tb->ix.mask) {
		uint32_t p = tb->ix.slot[i] - 1;
		if (agg_fkey_eq(&tb->v[p].key, k))
			return p;
	}
	return NO_IDX;
}

/* A new frame with key k (whose strings it now references); the caller
 * checked that there is room. */
static int ftab_add(struct mst_agg *a, struct ftab *tb, const struct fkey *k, uint32_t *out)
{
	uint32_t id;
	bool grew;
	int rc =
	    agg_slot_take((void **)&tb->v, &tb->n, &tb->cap, &tb->free, &tb->ix, sizeof(*tb->v),
	                  offsetof(struct frame, fn), a->cfg.max_frames, &id, &grew);
	if (rc < 0)
		return rc == -ENOSPC ? -ENOMEM : rc;
	if (grew)
		agg_ftab_reindex(tb);
	struct frame *f = &tb->v[id];
	memset(f, 0, sizeof(*f));
	f->key = *k;
	agg_key_ref(k);
	agg_ix_put(&tb->ix, agg_fkey_hash(k), id);
	tb->live++;
	*out = id;
	return 0;
}

/* The by-line frame id of in, created if new; where there is no room for
 * it (or its function) the overflow frame, and the table is marked for an
 * eviction after this sample. */
int agg_intern(struct mst_agg *a, const struct mst_agg_frame_in *in, uint32_t *out)
{
	struct fkey k;
	memset(&k, 0, sizeof(k));
	const char *in_s[3] = {in->function, in->file, in->module};
	const char **ks[3] = {&k.func, &k.file, &k.mod};
	for (int i = 0; i < 3; i++)
		agg_str_get(a, in_s[i], false, ks[i]); /* cannot fail without create */
	k.line = in->line;
	k.flags = (uint32_t)(in->kind & 1) | (in->inlined ? 2u : 0u);
	uint32_t id = NO_IDX;
	if (k.func && k.file && k.mod)
		id = ftab_find(&a->ft[0], &k);
	if (id != NO_IDX) {
		*out = id;
		return 0;
	}
	*out = MST_AGG_OTHER_FRAME;
	if (a->ft[0].live >= a->cfg.max_frames) {
		a->ft[0].full = true;
		a->st.frames_over_limit++;
		return 0;
	}
	int rc = 0;
	for (int i = 0; i < 3 && rc == 0; i++)
		if (!*ks[i])
			rc = agg_str_get(a, in_s[i], true, ks[i]);
	/* Inlined or not, the same function is one function. */
	struct fkey fk = k;
	fk.line = 0;
	fk.flags = k.flags & 1;
	uint32_t fn = rc == 0 ? ftab_find(&a->ft[1], &fk) : NO_IDX;
	if (rc == 0 && fn == NO_IDX) {
		if (a->ft[1].live >= a->cfg.max_frames) {
			a->ft[1].full = true;
			a->st.frames_over_limit++;
		} else {
			rc = ftab_add(a, &a->ft[1], &fk, &fn);
		}
	}
	if (rc == 0 && fn != NO_IDX && (rc = ftab_add(a, &a->ft[0], &k, &id)) == 0) {
		a->ft[0].v[id].fn = fn;
		/* A file's short form is the same wherever it is seen. */
		size_t flen = strlen(k.file);
		uint16_t off = in->file_short < flen ? in->file_short : 0;
		a->ft[0].v[id].short_off = a->ft[1].v[fn].short_off = off;
		*out = id;
	}
	/* Strings made for a frame that could not be made go again. */
	for (int i = 0; i < 3; i++)
		agg_str_drop_unused(a, *ks[i]);
	return rc;
}
