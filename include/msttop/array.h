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

/* Room for need items in *buf (*cap of them now), rounded up to a multiple
 * of round (a power of two) rather than doubled: for what is kept per
 * thread, where a thousand idle threads would each hold room for twice
 * what they use. At least one round. 0 or -ENOMEM. */
static inline int mst_array_fit(void **buf, size_t *cap, size_t need, size_t size, size_t round)
{
	if (*buf && need <= *cap)
		return 0;
	size_t n = need ? (need + round - 1) & ~(round - 1) : round;
	void *p = realloc(*buf, n * size);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

/* Defines static size_t name(const type *v, size_t n, ktype key): the
 * index of the first of v[0..n) whose member field is not below key (n if
 * none), v sorted by field: the one binary search of every sorted table
 * (tasks by tid, thread states by address, ...). */
#define MST_DEFINE_LOWER_BOUND(name, type, field, ktype)                                           \
	static size_t name(const type *v, size_t n, ktype key)                                     \
	{                                                                                          \
		size_t lo = 0, hi = n;                                                             \
		while (lo < hi) {                                                                  \
			size_t mid = lo + (hi - lo) / 2;                                           \
			if (v[mid].field < key)                                                    \
				lo = mid + 1;                                                      \
			else                                                                       \
				hi = mid;                                                          \
		}                                                                                  \
		return lo;                                                                         \
	}

#endif
