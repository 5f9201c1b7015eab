/* Count cells: own and total per frame, thread shares, tick totals, over
 * the since-start cell or the recent window; bounded array growth. */
#include "agg-int.h"

#include <stdlib.h>
#include <string.h>

/* ---- small helpers ---- */

/* What an evicted cell counted goes to the overflow cell of its scope. Own
 * adds up exactly. Total is counted once per sample, and two cells merged
 * into one may have been on the same stack, so the sum is held to what the
 * scope itself counted (n samples, ns). */
void agg_cnt_merge(struct cnt *dst, const struct cnt *src, uint64_t n, uint64_t ns)
{
	uint64_t t = (uint64_t)dst->total + src->total;
	dst->total = (uint32_t)(t < n ? t : n);
	t = dst->total_ns + src->total_ns;
	dst->total_ns = t < ns ? t : ns;
	for (int v = 0; v < NVIEW; v++) {
		dst->own[v] += src->own[v];
		dst->own_ns[v] += src->own_ns[v];
	}
}

/* A cell's counts over a window: its since-start count, or the sum of its
 * recent ring (none: nothing in the window). */
void agg_cnt_read(const struct cnt *c, const struct rblk *r, size_t nb, enum mst_agg_window w,
                  struct cnt *out)
{
	if (w == MST_AGG_CUMULATIVE) {
		*out = *c;
		return;
	}
	memset(out, 0, sizeof(*out));
	if (r && !r->own) {
		const struct bkt_t *b = agg_rblk_tot_r(r);
		for (size_t i = 0; i < nb; i++) {
			out->total += b[i].total;
			out->total_ns += b[i].total_us * 1000ull;
		}
		return;
	}
	for (size_t i = 0; r && i < nb; i++) {
		out->total += r->c[i].total;
		out->total_ns += r->c[i].total_us * 1000ull;
		for (int v = 0; v < NVIEW; v++) {
			out->own[v] += r->c[i].own[v];
			out->own_ns[v] += r->c[i].own_us[v] * 1000ull;
		}
	}
}

void agg_shr_read(const struct shr *s, size_t nb, enum mst_agg_window w, struct shr *out)
{
	memset(out, 0, sizeof(*out));
	size_t from = w == MST_AGG_CUMULATIVE ? 0 : 1, to = w == MST_AGG_CUMULATIVE ? 1 : 1 + nb;
	for (size_t i = from; i < to; i++)
		for (int k = 0; k < NSHR; k++) {
			out->n[k] += s[i].n[k];
			out->ns[k] += s[i].ns[k];
		}
}

void agg_tick_read(const struct tick *t, size_t nb, enum mst_agg_window w, struct tick *out)
{
	memset(out, 0, sizeof(*out));
	size_t from = w == MST_AGG_CUMULATIVE ? 0 : 1, to = w == MST_AGG_CUMULATIVE ? 1 : 1 + nb;
	for (size_t i = from; i < to; i++) {
		out->ticks += t[i].ticks;
		out->gil += t[i].gil;
		out->gc += t[i].gc;
		out->ns += t[i].ns;
	}
}

/* Make an array of cap items room for one more, growing by half up to
 * limit items (doubling left an idle thread's 23 entries in room for 32: a
 * megabyte over a thousand threads); the new part is zeroed, so what is
 * allocated is also resident and memory does not creep up page by page as
 * items are added. */
int agg_grow_to(void **buf, uint32_t *cap, uint32_t limit, size_t size)
{
	uint32_t n =
	    *cap ? (*cap > limit / 3 * 2 ? limit : *cap + *cap / 2) : (limit < 16 ? limit : 16);
	if (n <= *cap)
		return -ENOSPC;
	void *p = realloc(*buf, (size_t)n * size);
	if (!p)
		return -ENOMEM;
	memset((char *)p + (size_t)*cap * size, 0, (size_t)(n - *cap) * size);
	*buf = p;
	*cap = n;
	return 0;
}
