/* Which native code is the cyclic garbage collector, in a build stripped of
 * its .symtab (Debian's /usr/bin/python3.11): the collector's functions are
 * static and have no names there. What remains is the exported entry point
 * PyGC_Collect (3.6-3.13 API) and the binary's .eh_frame_hdr, which lists
 * where every function starts. The collector is what PyGC_Collect calls:
 * gc_collect_with_callback / collect_with_callback and, one call further,
 * gc_collect_main / collect. Those are found by decoding the direct calls
 * (E8 rel32) and tail jumps (E9 rel32) in the functions' code; only unnamed
 * targets inside the interpreter count, so exported helpers called on the
 * way (PyErr_Fetch...) are never taken for the collector. A false match
 * would also need the collecting flag set: it only narrows down which
 * thread, while a collection runs, is the one running it. */
#include "msttop/py_collector.h"

#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "msttop/elfsym.h"

#define MAX_FUNC_BYTES (64 * 1024)

struct fde_index {
	struct mst_elf *e;
	uint64_t hdr;      /* link-time address of .eh_frame_hdr */
	uint32_t count;
};

/* Start and end (next function's start) of the function holding vaddr,
 * by binary search of the .eh_frame_hdr table (sorted, datarel sdata4). */
static bool fde_range(const struct fde_index *x, uint64_t vaddr, uint64_t *lo, uint64_t *hi)
{
	uint32_t a = 0, b = x->count;
	int32_t ent[2];
	while (b - a > 1) {
		uint32_t mid = a + (b - a) / 2;
		if (mst_elf_read(x->e, x->hdr + 12 + 8ull * mid, ent, sizeof(ent)) < 0)
			return false;
		if (x->hdr + (uint64_t)(int64_t)ent[0] <= vaddr)
			a = mid;
		else
			b = mid;
	}
	if (mst_elf_read(x->e, x->hdr + 12 + 8ull * a, ent, sizeof(ent)) < 0)
		return false;
	*lo = x->hdr + (uint64_t)(int64_t)ent[0];
	if (*lo > vaddr)
		return false;
	*hi = *lo + MAX_FUNC_BYTES;
	if (a + 1 < x->count && mst_elf_read(x->e, x->hdr + 12 + 8ull * (a + 1), ent, 4) == 0)
		*hi = x->hdr + (uint64_t)(int64_t)ent[0];
	if (*hi - *lo > MAX_FUNC_BYTES)
		*hi = *lo + MAX_FUNC_BYTES;
	return true;
}

static bool have(const struct mst_py_range *r, size_t n, uint64_t lo)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].lo == lo)
			return true;
	return false;
}

/* Add the unnamed direct-call targets of [lo, hi) to out. */
static void callees(const struct fde_index *x, uint64_t tlo, uint64_t thi, uint64_t lo,
		    uint64_t hi, struct mst_py_range *out, size_t max, size_t *n)
{
	size_t len = hi - lo;
	uint8_t *code = malloc(len);
	if (!code || mst_elf_read(x->e, lo, code, len) < 0) {
		free(code);
		return;
	}
	for (size_t i = 0; i + 5 <= len && *n < max; i++) {
		if (code[i] != 0xe8 && code[i] != 0xe9)
			continue;
		int32_t rel;
		memcpy(&rel, code + i + 1, 4);
		uint64_t target = lo + i + 5 + (uint64_t)(int64_t)rel;
		if (target < tlo || target >= thi || target == lo)
			continue;
		uint64_t flo, fhi;
		/* A real call lands on a function's first byte. */
		if (!fde_range(x, target, &flo, &fhi) || flo != target)
			continue;
		if (mst_elf_symbol_at(x->e, target, NULL, NULL) || have(out, *n, flo))
			continue;
		out[(*n)++] = (struct mst_py_range){flo, fhi};
	}
	free(code);
}

int mst_py_collector_ranges(const struct mst_py_runtime_info *info, struct mst_py_range *out,
			    size_t max, size_t *n)
{
	*n = 0;
	struct mst_elf *e = NULL;
	if (mst_elf_open(info->open_path, &e, NULL) < 0)
		return -ENOENT;
	int rc = -ENOENT;
	uint64_t entry, size, hdr, tv, tsz;
	uint8_t h[12];
	if (mst_elf_lookup(e, "PyGC_Collect", &entry, &size) < 0 || !size ||
	    mst_elf_phdr(e, PT_GNU_EH_FRAME, 0, &hdr, NULL) < 0 ||
	    mst_elf_phdr(e, PT_LOAD, PF_X, &tv, &tsz) < 0 ||
	    mst_elf_read(e, hdr, h, sizeof(h)) < 0 || h[0] != 1 || h[3] != 0x3b)
		goto out;
	struct fde_index x = {.e = e, .hdr = hdr};
	memcpy(&x.count, h + 8, 4);
	/* Depth 1: what PyGC_Collect calls; depth 2: what those call. */
	callees(&x, tv, tv + tsz, entry, entry + size, out, max, n);
	size_t d1 = *n;
	for (size_t i = 0; i < d1; i++)
		callees(&x, tv, tv + tsz, out[i].lo, out[i].hi, out, max, n);
	/* Link-time to target addresses. */
	for (size_t i = 0; i < *n; i++) {
		out[i].lo += info->bias;
		out[i].hi += info->bias;
	}
	rc = 0;
out:
	mst_elf_close(e);
	return rc;
}
