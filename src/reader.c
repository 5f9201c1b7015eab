/* A reader over a captured memory image, for tests and the fuzz harness. */
#include "msttop/reader.h"

#include <errno.h>
#include <string.h>

int mst_buf_reader_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct mst_buf_reader *b = ctx;
	if (addr < b->base || addr - b->base > b->len || len > b->len - (addr - b->base))
		return -EFAULT;
	memcpy(buf, b->data + (addr - b->base), len);
	return 0;
}
