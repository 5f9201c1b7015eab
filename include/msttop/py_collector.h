/* The garbage collector's code in an interpreter without .symtab, for
 * telling which thread runs a collection (see src/py/collector.c). */
#ifndef MSTTOP_PY_COLLECTOR_H
#define MSTTOP_PY_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "msttop/py_runtime.h"

struct mst_py_range {
	uint64_t lo, hi; /* target addresses, [lo, hi) */
};

/* Fill out with the collector functions' ranges. 0, or -ENOENT when the
 * file has no PyGC_Collect or no .eh_frame_hdr to work from. */
int mst_py_collector_ranges(const struct mst_py_runtime_info *info, struct mst_py_range *out,
			    size_t max, size_t *n);

#endif
