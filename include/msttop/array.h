/* Growing a caller's array by doubling: the one helper for every module
 * that keeps a reusable buffer (the agg's tables and scratch, a stack's
 * frames). */
#ifndef MSTTOP_ARRAY_H
#define MSTTOP_ARRAY_H

#include <errno.h>
#include <stdlib.h>

/* Room for need items of size bytes in *buf (*cap items now), doubling from
 * 16. The old items stay; the new part is not cleared. 0 or -ENOMEM (the
 * array is then as it was). */
static inline int mst_array_grow(void **buf, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 16;
	while (n < need)
		n *= 2;
	void *p = realloc(*buf, n * size);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

#endif
