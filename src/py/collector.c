/* Unnamed code of an interpreter stripped of its .symtab, found through
 * .eh_frame_hdr: the cold part of the eval loop, and the collector.
 *
 * Which native code is the cyclic garbage collector, in a build stripped of
 * its .symtab (Debian's /usr/bin/python3.11): the collector's functions are
 * static and have no names there. What remains is the exported entry point
 * PyGC_Collect (3.6-3.15 API) and the binary's .eh_frame_hdr, which lists
 * where every function starts. The collector is what PyGC_Collect calls:
 * gc_collect_with_callback / collect_with_callback and, one call further,
 * gc_collect_main / collect. Those are found by decoding the direct calls
 * (E8 rel32) and tail jumps (E9 rel32) in the functions' code; only unnamed
 * targets inside the interpreter count, so exported helpers called on the
 * way (PyErr_Fetch...) are never taken for the collector. A false match
 * would also need the collecting flag set: it only narrows down which
 * thread, while a collection runs, is the one running it. */
#include "collector-int.h"

#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "msttop/elfsym.h"

#define MAX_FUNC_BYTES (64 * 1024)
/* 3.14's eval-loop fragment is 84 KB. */
#define MAX_COLD_BYTES (1024 * 1024)

struct fde_index {
	struct mst_elf *e;
	uint64_t hdr; /* link-time address of .eh_frame_hdr */
	uint32_t count;
};

/* Start and end (next function's start) of the function holding vaddr,
 * by binary search of the .eh_frame_hdr table (sorted, datarel sdata4). */
static bool fde_range_max(const struct fde_index *x, uint64_t vaddr, uint64_t *lo, uint64_t *hi,
                          uint64_t max)
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
	*hi = *lo + max;
	if (a + 1 < x->count && mst_elf_read(x->e, x->hdr + 12 + 8ull * (a + 1), ent, 4) == 0)
		*hi = x->hdr + (uint64_t)(int64_t)ent[0];
	if (*hi - *lo > max)
		*hi = *lo + max;
	return true;
}

static bool fde_range(const struct fde_index *x, uint64_t vaddr, uint64_t *lo, uint64_t *hi)
{
	return fde_range_max(x, vaddr, lo, hi, MAX_FUNC_BYTES);
}

static bool have(const struct mst_py_range *r, size_t n, uint64_t lo)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].lo == lo)
			return true;
	return false;
}

/* Add the unnamed direct-call targets of [lo, hi) to out. */
static void callees(const struct fde_index *x, uint64_t tlo, uint64_t thi, uint64_t lo, uint64_t hi,
                    struct mst_py_range *out, size_t max, size_t *n)
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

static bool fde_index_open(struct mst_elf *e, struct fde_index *x)
{
	uint64_t hdr;
	uint8_t h[12];
	if (mst_elf_phdr(e, PT_GNU_EH_FRAME, 0, &hdr, NULL) < 0 ||
	    mst_elf_read(e, hdr, h, sizeof(h)) < 0 || h[0] != 1 || h[3] != 0x3b)
		return false;
	*x = (struct fde_index){.e = e, .hdr = hdr};
	memcpy(&x->count, h + 8, 4);
	return true;
}

/* GCC moves the code a profile marks as rare out of a function into a
 * fragment of its own (func.cold, a local symbol that strip removes, with
 * an FDE of its own). PGO builds of 3.14+ (Debian's) leave only ~1 KB of
 * _PyEval_EvalFrameDefault under its exported name, the rest of the loop
 * runs in the fragment, so a PC there is the eval loop too. The fragment is
 * what the function jumps into (jmp/jcc rel32 to the middle of an unnamed
 * FDE); two distinct jumps are asked for, so that bytes that merely look
 * like a jump do not name a range. */
int mst_py_cold_parts(struct mst_elf *e, uint64_t lo, uint64_t hi, struct mst_py_range *out,
                      size_t max, size_t *n)
{
	struct fde_index x;
	uint64_t tv, tsz;
	*n = 0;
	if (!fde_index_open(e, &x) || mst_elf_phdr(e, PT_LOAD, PF_X, &tv, &tsz) < 0 || hi <= lo ||
	    hi - lo > MAX_FUNC_BYTES)
		return -ENOENT;
	size_t len = hi - lo;
	uint8_t *code = malloc(len);
	if (!code || mst_elf_read(e, lo, code, len) < 0) {
		free(code);
		return -ENOENT;
	}
	struct {
		uint64_t lo, hi;
		unsigned hits;
	} cand[8];
	size_t nc = 0;
	for (size_t i = 0; i + 5 <= len; i++) {
		size_t op = code[i] == 0xe9                                                     ? 1
		            : (code[i] == 0x0f && i + 6 <= len && (code[i + 1] & 0xf0) == 0x80) ? 2
		                                                                                : 0;
		if (!op)
			continue;
		int32_t rel;
		memcpy(&rel, code + i + op, 4);
		uint64_t target = lo + i + op + 4 + (uint64_t)(int64_t)rel;
		uint64_t flo, fhi;
		if ((target >= lo && target < hi) || target < tv || target >= tv + tsz ||
		    !fde_range_max(&x, target, &flo, &fhi, MAX_COLD_BYTES) || flo == target ||
		    mst_elf_symbol_at(e, flo, NULL, NULL))
			continue;
		size_t k = 0;
		while (k < nc && cand[k].lo != flo)
			k++;
		if (k == nc) {
			if (nc == sizeof(cand) / sizeof(cand[0]))
				continue;
			cand[nc++] = (typeof(cand[0])){flo, fhi, 0};
		}
		cand[k].hits++;
	}
	free(code);
	for (size_t k = 0; k < nc && *n < max; k++)
		if (cand[k].hits >= 2)
			out[(*n)++] = (struct mst_py_range){cand[k].lo, cand[k].hi};
	return 0;
}

int mst_py_collector_ranges(const struct mst_py_runtime_info *info, struct mst_py_range *out,
                            size_t max, size_t *n)
{
	*n = 0;
	struct mst_elf *e = NULL;
	if (mst_elf_open(info->open_path, &e, NULL) < 0)
		return -ENOENT;
	int rc = -ENOENT;
	uint64_t entry, size, tv, tsz;
	struct fde_index x;
	if (mst_elf_lookup(e, "PyGC_Collect", &entry, &size) < 0 || !size ||
	    !fde_index_open(e, &x) || mst_elf_phdr(e, PT_LOAD, PF_X, &tv, &tsz) < 0)
		goto out;
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
