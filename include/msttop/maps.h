/* The memory map of a target, from /proc/PID/maps. */
#ifndef MSTTOP_MAPS_H
#define MSTTOP_MAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msttop/err.h"

struct mst_map {
	uint64_t start, end; /* [start, end) in the target */
	uint64_t offset;     /* file offset of start */
	uint64_t inode;
	char perms[5];    /* "r-xp" */
	const char *path; /* owned by the mst_maps; NULL when anonymous;
	                     pseudo names such as "[stack]" kept as they are */
	bool deleted;     /* the path was followed by " (deleted)", now stripped */
};

struct mst_maps {
	struct mst_map *v;
	size_t n;
	/* The executable's path when the maps say which it is (a core file's,
	 * from its auxv); NULL for a live process, whose /proc/PID/exe says. */
	char *exe;
};

/* Read and parse /proc/PID/maps. */
int mst_maps_read(pid_t pid, struct mst_maps **out, struct mst_err *err);
/* Parse the text of a maps file (tests use this directly). */
int mst_maps_parse(const char *text, struct mst_maps **out, struct mst_err *err);
void mst_maps_free(struct mst_maps *m);

/* The mapping that contains addr, or NULL. Borrowed from m. */
const struct mst_map *mst_maps_find(const struct mst_maps *m, uint64_t addr);

/* The path msttop should open to read a mapped file of pid: through
 * /proc/PID/root so container processes work, or through
 * /proc/PID/map_files/START-END when the file was deleted. pid 0: the
 * maps of no live process (a core file's): the path as it is. */
void mst_maps_open_path(pid_t pid, const struct mst_map *map, char *buf, size_t len);

#endif
