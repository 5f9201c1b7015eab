/* A thread's call tree as the live view lists it: outermost first, the
 * agg's nodes merged by frame across the frames the view hides (their
 * children stand in their place), children by total, and which rows are
 * open remembered across rebuilds. No curses: the screen paints the rows,
 * the tests read them. */
#ifndef MSTTOP_CALLTREE_H
#define MSTTOP_CALLTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msttop/agg.h"

/* One row. A row stands for a path of frame ids from the root (hashed: what
 * the open set remembers), not for one agg node. */
struct mst_calltree_row {
	uint64_t path;
	uint32_t frame; /* in the tree's mode; MST_AGG_TREE_OTHER for "(other)" */
	int depth;
	/* In the view, what runs in hidden callees is the row's own. */
	uint64_t self_samples, total_samples;
	bool has_children, expanded;
};

/* Zero-initialized before first use; mst_calltree_free at the end. */
struct mst_calltree {
	struct mst_calltree_row *rows; /* after a build, n of them */
	size_t n;
	/* What the rows were built from (the agg is borrowed). */
	struct mst_agg *agg;
	pid_t tid;
	enum mst_agg_mode mode, built_mode;
	enum mst_agg_view view;
	/* Paths of the open rows; the hottest path opens by itself once. */
	uint64_t *expanded;
	size_t nexpanded, cap_expanded;
	bool init;
	/* The frame ids the view lists (sorted), from the agg. */
	uint32_t *visible;
	size_t nvisible, cap_visible;
	size_t cap;
};

/* Rebuild the rows of thread tid's tree in mode, as view shows it (since
 * start). Another thread or mode than the last build forgets what was open.
 * At most 5,000 rows and 512 levels. */
void mst_calltree_build(struct mst_calltree *ct, struct mst_agg *agg, pid_t tid,
                        enum mst_agg_mode mode, enum mst_agg_view view);
/* Open or close the row of path (takes effect at the next build). */
void mst_calltree_set_expanded(struct mst_calltree *ct, uint64_t path, bool on);
/* Forget the rows and what was open (after a reset). */
void mst_calltree_forget(struct mst_calltree *ct);
void mst_calltree_free(struct mst_calltree *ct);

#endif
