/* The small interface through which the CPython decoder reads target memory,
 * so the same decoder runs against a live process (process_vm_readv), against
 * bytes captured into a test fixture, and against corrupted images in fuzzing. */
#ifndef MSTTOP_READER_H
#define MSTTOP_READER_H

#include <stddef.h>
#include <stdint.h>

/* One range of a vectored read: len bytes at addr into buf; rc is set. */
struct mst_read_op {
	uint64_t addr;
	void *buf;
	size_t len;
	int rc;
};

struct mst_reader {
	/* Copy len bytes at target address addr into buf. Returns 0 when all
	 * len bytes were copied, else a negative errno code: -EFAULT for an
	 * unmapped or partial range, -ESRCH when the target is gone. Never
	 * writes the target. */
	int (*read)(void *ctx, uint64_t addr, void *buf, size_t len);
	void *ctx;
	/* Optional: copy two ranges in one go (one system call for a live
	 * process), for walks that know the next two addresses at once.
	 * Returns 0 when both were copied whole, else a negative code; the
	 * caller then reads them one by one to learn which failed. NULL: one
	 * by one from the start. */
	int (*read2)(void *ctx, uint64_t a1, void *b1, size_t l1, uint64_t a2, void *b2, size_t l2);
	/* Optional: copy many ranges, in as few system calls as the kernel
	 * allows (a live process: one per 1,024 ranges), for reads known
	 * ahead (prefetch.h). Sets each op's rc (0: copied whole) and returns
	 * 0, or a negative code when nothing can be read (-ESRCH: gone). */
	int (*readv)(void *ctx, struct mst_read_op *ops, size_t n);
};

static inline int mst_read(const struct mst_reader *r, uint64_t addr, void *buf, size_t len)
{
	return r->read(r->ctx, addr, buf, len);
}

/* A reader over one buffer that stands at target address base (tests, fuzzing). */
struct mst_buf_reader {
	uint64_t base;
	const uint8_t *data;
	size_t len;
};

int mst_buf_reader_read(void *ctx, uint64_t addr, void *buf, size_t len);

#endif
