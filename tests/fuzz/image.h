/* A memory image for the fuzz harness: the runtime description msttop would
 * find in a live process, and the regions of target memory the decoder read,
 * as "MSTC" header + (address, length, bytes) segments. capture.c records
 * one from a live interpreter; fuzz_py.c decodes mutated ones. */
#ifndef MSTTOP_FUZZ_IMAGE_H
#define MSTTOP_FUZZ_IMAGE_H

#include <stdint.h>
#include <string.h>

#include "msttop/py_runtime.h"

struct image_hdr {
	char magic[4]; /* "MSTC" */
	uint8_t major, minor, micro, pad;
	uint64_t runtime, tstate_current, interp_head, gil_locked, gil_last_holder, gc_collecting,
	    code_type, unicode_type, bytes_type, frame_type, none;
};

struct image_seg {
	uint64_t addr;
	uint32_t len;
	uint32_t pad;
	/* len bytes follow */
};

static inline void image_info_from_hdr(const struct image_hdr *h, struct mst_py_runtime_info *i)
{
	memset(i, 0, sizeof(*i));
	i->major = h->major;
	i->minor = h->minor;
	i->micro = h->micro;
	i->runtime = h->runtime;
	i->tstate_current = h->tstate_current;
	i->interp_head = h->interp_head;
	i->gil_locked = h->gil_locked;
	i->gil_last_holder = h->gil_last_holder;
	i->gc_collecting = h->gc_collecting;
	i->has_interp_head = h->interp_head != 0;
	i->has_gil_locked = h->gil_locked != 0;
	i->has_gil_last_holder = h->gil_last_holder != 0;
	i->has_gc_collecting = h->gc_collecting != 0;
	i->code_type = h->code_type;
	i->unicode_type = h->unicode_type;
	i->bytes_type = h->bytes_type;
	i->frame_type = h->frame_type;
	i->none = h->none;
}

#endif
