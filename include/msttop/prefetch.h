/* Reading again, in a few system calls, what a walk read one by one last
 * time. A walk of a target's thread states and frames is a chain of small
 * reads each of which names the next: a thousand idle threads cost ten
 * thousand process_vm_readv calls a tick, though nearly all read the same
 * ranges as the tick before. A pass notes every range read through its
 * reader; the next pass first reads all of those in one vectored read per
 * 1,024 ranges and serves the walk's reads of them from there. A range the
 * walk reads that was not fetched (the chain changed) is read on its own,
 * and noted for the next pass; one fetched and not read is dropped.
 *
 * What the walk sees is the same as reading one by one, only read a few
 * microseconds earlier: the walk takes no second look at any range. Only
 * for walks of running threads (a stopped thread's reads must follow its
 * stop). */
#ifndef MSTTOP_PREFETCH_H
#define MSTTOP_PREFETCH_H

#include "msttop/reader.h"

#include <stdbool.h>

struct mst_prefetch;

/* A range a pass read (mst_prefetch_noted), kept by a caller to seed a
 * later pass of its own (mst_prefetch_seed). */
struct mst_prefetch_range {
	uint64_t addr;
	uint32_t len;
};

struct mst_prefetch_stats {
	uint64_t passes, fetched, served, missed; /* ranges */
};

int mst_prefetch_new(struct mst_prefetch **out);
void mst_prefetch_free(struct mst_prefetch *pf);

/* Start a pass over under (kept by pointer until the pass ends): fetch
 * what the last pass read, when under can read vectored. Reads go through
 * the reader this returns, until mst_prefetch_end. */
struct mst_reader mst_prefetch_begin(struct mst_prefetch *pf, const struct mst_reader *under);
void mst_prefetch_end(struct mst_prefetch *pf);
/* One engine for many walks, each of which keeps its own ranges (one
 * thread's frames, say): seed, before mst_prefetch_begin, replaces what
 * the last pass noted with the walk's own; noted, before
 * mst_prefetch_end, is what this pass read (valid until the next begin
 * or seed). */
int mst_prefetch_seed(struct mst_prefetch *pf, const struct mst_prefetch_range *r, size_t n);
size_t mst_prefetch_noted(const struct mst_prefetch *pf, const struct mst_prefetch_range **r);
void mst_prefetch_stats(const struct mst_prefetch *pf, struct mst_prefetch_stats *out);

#endif
