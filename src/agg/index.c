/* Open-addressing indexes of positions (no hash handle per item), and the
 * slots of the bounded tables they index (frames, thread entries). */
#include "agg-int.h"

#include <stdlib.h>
#include <string.h>

/* ---- indexes ---- */

/* Empty x, with room for an array of cap items (allocating only when the
 * size changes, so a rebuild after an eviction allocates nothing). */
int agg_ix_reset(struct ix *x, uint32_t cap)
{
	uint32_t want = 16;
	while (want < 2 * (size_t)cap)
		want *= 2;
	if (x->slot && x->mask + 1 == want) {
		memset(x->slot, 0, want * sizeof(*x->slot));
		return 0;
	}
	uint32_t *s = calloc(want, sizeof(*s));
	if (!s)
		return -ENOMEM;
	free(x->slot);
	x->slot = s;
	x->mask = want - 1;
	return 0;
}

size_t agg_ix_bytes(const struct ix *x)
{
	return x->slot ? ((size_t)x->mask + 1) * sizeof(*x->slot) : 0;
}

int agg_slot_take(void **v, uint32_t *n, uint32_t *cap, uint32_t *free_head, struct ix *ix,
                  size_t size, size_t link_off, uint32_t limit, uint32_t *out, bool *grew)
{
	*grew = false;
	if (*free_head != NO_IDX) {
		*out = *free_head;
		memcpy(free_head, (char *)*v + (size_t)*out * size + link_off, sizeof(*free_head));
		return 0;
	}
	if (*n == *cap) {
		int rc = agg_grow_to(v, cap, limit, size);
		if (rc < 0)
			return rc;
		/* A new index first: the old one stays whole if this fails. */
		struct ix nx = {0};
		if (agg_ix_reset(&nx, *cap) < 0)
			return -ENOMEM;
		free(ix->slot);
		*ix = nx;
		*grew = true;
	}
	*out = (*n)++;
	return 0;
}
