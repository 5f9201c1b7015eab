/* Reading again, in a few system calls, what a walk read last time: see
 * prefetch.h. */
#include "msttop/prefetch.h"

#include "msttop/array.h"

#include <stdlib.h>
#include <string.h>

/* Reads longer than this are not noted: a walk's are a few words to a few
 * hundred bytes (a thread state, a frame); a code object's line table is
 * read once and cached above. */
#define NOTE_MAX_LEN 1024
/* Bounds on one pass's fetch, whatever the target does. */
#define NOTE_MAX 65536
/* Ranges this close, on one page, are fetched as one: a thread's frames
 * lie side by side on its data stack, a thread state's fields in one
 * allocation, and each range costs the kernel a page lookup. */
#define MERGE_GAP 256
#define PAGE 4096ull

struct fetched {
	uint64_t addr;
	uint32_t len;
	uint32_t span; /* the op it was read with */
	size_t off;    /* in buf */
};

struct mst_prefetch {
	const struct mst_reader *under;
	struct mst_prefetch_range *noted;
	size_t nnoted, noted_cap;
	struct fetched *f;
	size_t nf, f_cap;
	struct mst_read_op *ops;
	size_t nops, ops_cap;
	uint8_t *buf;
	size_t buf_cap;
	struct mst_prefetch_stats st;
};

int mst_prefetch_new(struct mst_prefetch **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void mst_prefetch_free(struct mst_prefetch *pf)
{
	if (!pf)
		return;
	free(pf->noted);
	free(pf->f);
	free(pf->ops);
	free(pf->buf);
	free(pf);
}

static int cmp_range(const void *a, const void *b)
{
	const struct mst_prefetch_range *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (x->len < y->len) - (x->len > y->len); /* longest first */
}

static void note(struct mst_prefetch *pf, uint64_t addr, size_t len)
{
	if (len > NOTE_MAX_LEN || pf->nnoted >= NOTE_MAX ||
	    mst_array_grow((void **)&pf->noted, &pf->noted_cap, pf->nnoted + 1,
	                   sizeof(*pf->noted)) < 0)
		return;
	pf->noted[pf->nnoted++] = (struct mst_prefetch_range){addr, (uint32_t)len};
}

/* The fetched range starting at addr, when it was read and holds len. */
MST_DEFINE_LOWER_BOUND(fetched_at, struct fetched, addr, uint64_t)

static const uint8_t *lookup(const struct mst_prefetch *pf, uint64_t addr, size_t len)
{
	size_t lo = fetched_at(pf->f, pf->nf, addr);
	if (lo == pf->nf || pf->f[lo].addr != addr || pf->f[lo].len < len ||
	    pf->ops[pf->f[lo].span].rc != 0)
		return NULL;
	return pf->buf + pf->f[lo].off;
}

static int pf_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct mst_prefetch *pf = ctx;
	note(pf, addr, len);
	const uint8_t *have = lookup(pf, addr, len);
	if (have) {
		memcpy(buf, have, len);
		pf->st.served++;
		return 0;
	}
	pf->st.missed++;
	return mst_read(pf->under, addr, buf, len);
}

static int pf_read2(void *ctx, uint64_t a1, void *b1, size_t l1, uint64_t a2, void *b2, size_t l2)
{
	struct mst_prefetch *pf = ctx;
	if (pf->under->read2 && !lookup(pf, a1, l1) && !lookup(pf, a2, l2)) {
		note(pf, a1, l1);
		note(pf, a2, l2);
		pf->st.missed += 2;
		return pf->under->read2(pf->under->ctx, a1, b1, l1, a2, b2, l2);
	}
	int rc1 = pf_read(pf, a1, b1, l1), rc2 = pf_read(pf, a2, b2, l2);
	return rc1 < 0 ? rc1 : rc2;
}

/* What the last pass noted, longest first per address, once each, into
 * spans of nearby ranges on one page; their bytes, one op per span. */
static int plan(struct mst_prefetch *pf)
{
	pf->nf = pf->nops = 0;
	if (!pf->nnoted)
		return 0;
	qsort(pf->noted, pf->nnoted, sizeof(*pf->noted), cmp_range);
	/* Ops grow as spans are made: a thousand threads' reads are tens of
	 * thousands of ranges in a few thousand spans. */
	if (mst_array_grow((void **)&pf->f, &pf->f_cap, pf->nnoted, sizeof(*pf->f)) < 0)
		return -ENOMEM;
	size_t total = 0;
	uint64_t start = 0, end = 0;
	for (size_t i = 0; i < pf->nnoted; i++) {
		const struct mst_prefetch_range *r = &pf->noted[i];
		if (pf->nf && pf->f[pf->nf - 1].addr == r->addr)
			continue; /* a shorter read of the same */
		uint64_t rend = r->addr + r->len;
		if (rend < r->addr)
			continue;
		bool join =
		    pf->nops && r->addr <= end + MERGE_GAP && (rend - 1) / PAGE == (end - 1) / PAGE;
		if (!join) {
			if (pf->nops)
				pf->ops[pf->nops - 1].len = (size_t)(end - start);
			total += pf->nops ? (size_t)(end - start) : 0;
			if (mst_array_grow((void **)&pf->ops, &pf->ops_cap, pf->nops + 1,
			                   sizeof(*pf->ops)) < 0)
				return -ENOMEM;
			pf->ops[pf->nops++] = (struct mst_read_op){.addr = r->addr};
			start = r->addr;
			end = rend;
		} else if (rend > end) {
			end = rend;
		}
		pf->f[pf->nf++] = (struct fetched){r->addr, r->len, (uint32_t)(pf->nops - 1),
		                                   total + (size_t)(r->addr - start)};
	}
	pf->ops[pf->nops - 1].len = (size_t)(end - start);
	total += (size_t)(end - start);
	if (mst_array_grow((void **)&pf->buf, &pf->buf_cap, total, 1) < 0)
		return -ENOMEM;
	size_t off = 0;
	for (size_t k = 0; k < pf->nops; k++) {
		pf->ops[k].buf = pf->buf + off;
		pf->ops[k].rc = -EFAULT;
		off += pf->ops[k].len;
	}
	return 0;
}

struct mst_reader mst_prefetch_begin(struct mst_prefetch *pf, const struct mst_reader *under)
{
	pf->under = under;
	pf->st.passes++;
	if (!under->readv || plan(pf) < 0 ||
	    (pf->nops && under->readv(under->ctx, pf->ops, pf->nops) < 0))
		pf->nf = pf->nops = 0;
	pf->st.fetched += pf->nf;
	pf->nnoted = 0;
	return (struct mst_reader){.read = pf_read, .ctx = pf, .read2 = pf_read2};
}

void mst_prefetch_end(struct mst_prefetch *pf)
{
	pf->under = NULL;
	pf->nf = pf->nops = 0;
}

int mst_prefetch_seed(struct mst_prefetch *pf, const struct mst_prefetch_range *r, size_t n)
{
	pf->nnoted = 0;
	if (n > NOTE_MAX)
		n = NOTE_MAX;
	if (n && mst_array_grow((void **)&pf->noted, &pf->noted_cap, n, sizeof(*pf->noted)) < 0)
		return -ENOMEM;
	if (n)
		memcpy(pf->noted, r, n * sizeof(*r));
	pf->nnoted = n;
	return 0;
}

size_t mst_prefetch_noted(const struct mst_prefetch *pf, const struct mst_prefetch_range **r)
{
	*r = pf->noted;
	return pf->nnoted;
}

void mst_prefetch_stats(const struct mst_prefetch *pf, struct mst_prefetch_stats *out)
{
	*out = pf->st;
}
