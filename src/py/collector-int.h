/* Unnamed code in an interpreter without .symtab: the eval loop's cold
 * fragment, and the garbage collector's code for telling which thread runs
 * a collection (see src/py/collector.c). */
#ifndef MSTTOP_PY_COLLECTOR_INT_H
#define MSTTOP_PY_COLLECTOR_INT_H

#include <stddef.h>
#include <stdint.h>

#include "msttop/py.h"

struct mst_elf;

/* The cold fragments of the function at link-time [lo, hi) in e (see
 * src/py/collector.c): link-time ranges into out. 0, or -ENOENT without
 * .eh_frame_hdr. */
int mst_py_cold_parts(struct mst_elf *e, uint64_t lo, uint64_t hi, struct mst_py_range *out,
                      size_t max, size_t *n);

/* Fill out with the collector functions' ranges. 0, or -ENOENT when the
 * file has no PyGC_Collect or no .eh_frame_hdr to work from. */
int mst_py_collector_ranges(const struct mst_py_runtime_info *info, struct mst_py_range *out,
                            size_t max, size_t *n);

#endif
