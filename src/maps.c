/* Parsing /proc/PID/maps into an array of mappings. */
#include "msttop/maps.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Read a whole /proc file: its size is not known in advance (st_size is 0). */
static char *slurp(const char *path, int *errnum)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*errnum = errno;
		return NULL;
	}
	size_t cap = 16384, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf) {
			*errnum = ENOMEM;
			close(fd);
			return NULL;
		}
		if (cap - len < 4096) {
			cap *= 2;
			char *nb = realloc(buf, cap);
			if (!nb)
				free(buf);
			buf = nb;
			continue;
		}
		ssize_t r = read(fd, buf + len, cap - len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			*errnum = errno;
			free(buf);
			close(fd);
			return NULL;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	return buf;
}

int mst_maps_read(pid_t pid, struct mst_maps **out, struct mst_err *err)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	int e = 0;
	char *text = slurp(path, &e);
	if (!text)
		return mst_err_set(err, -e, "cannot read %s: %s", path, strerror(e));
	int rc = mst_maps_parse(text, out, err);
	free(text);
	return rc;
}

/* One line: "start-end perms offset dev inode   path". The path may hold
 * spaces; everything after the inode's trailing blanks is the path. */
static int parse_line(char *line, struct mst_map *m, char **path)
{
	unsigned long long start, end, off, inode;
	char perms[5];
	unsigned maj, min;
	int n = 0;
	if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &start, &end, perms, &off, &maj, &min,
	           &inode, &n) < 7)
		return -1;
	memset(m, 0, sizeof(*m));
	m->start = start;
	m->end = end;
	m->offset = off;
	m->inode = inode;
	memcpy(m->perms, perms, sizeof(m->perms));
	*path = n > 0 && line[n] ? line + n : NULL;
	return 0;
}

int mst_maps_parse(const char *text, struct mst_maps **out, struct mst_err *err)
{
	size_t lines = 1;
	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	struct mst_maps *m = calloc(1, sizeof(*m));
	char *copy = strdup(text);
	if (!m || !copy || !(m->v = calloc(lines, sizeof(*m->v)))) {
		free(copy);
		mst_maps_free(m);
		return mst_err_set(err, -ENOMEM, "out of memory parsing maps");
	}
	char *save = NULL;
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct mst_map *mp = &m->v[m->n];
		char *path;
		if (parse_line(line, mp, &path) < 0) {
			/* The message quotes the line: format it before freeing. */
			int rc = mst_err_set(err, -EINVAL, "malformed maps line: %.80s", line);
			free(copy);
			mst_maps_free(m);
			return rc;
		}
		if (path) {
			size_t len = strlen(path);
			static const char del[] = " (deleted)";
			if (len > sizeof(del) - 1 && !strcmp(path + len - (sizeof(del) - 1), del)) {
				path[len - (sizeof(del) - 1)] = '\0';
				mp->deleted = true;
			}
			mp->path = strdup(path);
			if (!mp->path) {
				free(copy);
				mst_maps_free(m);
				return mst_err_set(err, -ENOMEM, "out of memory parsing maps");
			}
		}
		m->n++;
	}
	free(copy);
	*out = m;
	return 0;
}

void mst_maps_free(struct mst_maps *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n; i++)
		free((char *)m->v[i].path);
	free(m->v);
	free(m->exe);
	free(m);
}

const struct mst_map *mst_maps_find(const struct mst_maps *m, uint64_t addr)
{
	/* The kernel lists mappings sorted by address. */
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (addr < m->v[mid].start)
			hi = mid;
		else if (addr >= m->v[mid].end)
			lo = mid + 1;
		else
			return &m->v[mid];
	}
	return NULL;
}

void mst_maps_open_path(pid_t pid, const struct mst_map *map, char *buf, size_t len)
{
	if (pid <= 0)
		snprintf(buf, len, "%s", map->path ? map->path : "");
	else if (map->deleted)
		snprintf(buf, len, "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)pid, map->start,
		         map->end);
	else
		snprintf(buf, len, "/proc/%d/root%s", (int)pid, map->path ? map->path : "");
}
