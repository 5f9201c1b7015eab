/* Text rendering of one snapshot: per thread a header, then its frames,
 * most recent call last. */
#ifndef MSTTOP_DUMP_H
#define MSTTOP_DUMP_H

#include <stdio.h>

#include "msttop/snapshot.h"
#include "msttop/symbols.h"

/* Write the snapshot to out. Returns 0, or -EPIPE/-EIO when out failed. */
int mst_dump_text(FILE *out, const struct mst_snapshot *s, struct mst_symbols *sym);

#endif
