/* --dump: text and JSON renderings of one snapshot. Frames are printed most
 * recent call last, Python frames where the interpreter ran them between the
 * native frames. */
#ifndef MSTTOP_DUMP_H
#define MSTTOP_DUMP_H

#include <stdio.h>

#include "msttop/snapshot.h"
#include "msttop/symbols.h"

enum {
	MST_DUMP_NATIVE_ALL = 1 << 0,  /* show folded native frames too */
	MST_DUMP_PYTHON_ONLY = 1 << 1, /* Python frames alone */
	MST_DUMP_NO_SOURCE = 1 << 2,   /* no source line under Python frames */
};

/* sym may be NULL (no native frames then). Returns 0, or -EPIPE/-EIO when
 * out failed. */
int mst_dump_text(FILE *out, const struct mst_snapshot *s, struct mst_symbols *sym, unsigned flags);
/* The same as one JSON object (format in README.md). */
int mst_dump_json(FILE *out, const struct mst_snapshot *s, struct mst_symbols *sym, unsigned flags);

/* "running, holds GIL" for a thread's states. */
void mst_dump_states(const struct mst_snapshot *s, const struct mst_thread_snap *t, char *buf,
                     size_t len);

#endif
