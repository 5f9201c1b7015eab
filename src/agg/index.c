/* Open-addressing indexes of positions (no hash handle per item). */
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
