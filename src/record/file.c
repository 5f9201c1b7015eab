/* Files of recordings: the formats by name and by file name ending, and
 * writing a file whole or not at all. */
#include "msttop/record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	const char *name, *ext;
} formats[] = {
    [MST_RECORD_FLAMEGRAPH] = {"flamegraph", ".svg"},
    [MST_RECORD_SPEEDSCOPE] = {"speedscope", ".speedscope.json"},
    [MST_RECORD_COLLAPSED] = {"collapsed", ".folded"},
    [MST_RECORD_CHROME] = {"chrome", ".trace.json"},
    [MST_RECORD_PPROF] = {"pprof", ".pb.gz"},
};

int mst_record_format_parse(const char *name, enum mst_record_format *out)
{
	static const struct {
		const char *alias;
		enum mst_record_format f;
	} aliases[] = {
	    {"svg", MST_RECORD_FLAMEGRAPH},   {"flame", MST_RECORD_FLAMEGRAPH},
	    {"folded", MST_RECORD_COLLAPSED}, {"perfetto", MST_RECORD_CHROME},
	    {"trace", MST_RECORD_CHROME},
	};
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (!strcmp(name, formats[i].name)) {
			*out = (enum mst_record_format)i;
			return 0;
		}
	for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		if (!strcmp(name, aliases[i].alias)) {
			*out = aliases[i].f;
			return 0;
		}
	return -EINVAL;
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), k = strlen(tail);
	return n >= k && !strcasecmp(s + n - k, tail);
}

enum mst_record_format mst_record_format_guess(const char *path)
{
	/* The longer endings first: a.speedscope.json is not a trace. */
	if (ends_with(path, ".speedscope.json"))
		return MST_RECORD_SPEEDSCOPE;
	if (ends_with(path, ".folded") || ends_with(path, ".collapsed"))
		return MST_RECORD_COLLAPSED;
	if (ends_with(path, ".json"))
		return MST_RECORD_CHROME;
	if (ends_with(path, ".pb.gz") || ends_with(path, ".pprof"))
		return MST_RECORD_PPROF;
	return MST_RECORD_FLAMEGRAPH;
}

const char *mst_record_format_name(enum mst_record_format f)
{
	return formats[f].name;
}

const char *mst_record_format_ext(enum mst_record_format f)
{
	return formats[f].ext;
}

/* The directory part of path, "." when it has none. */
static void dir_of(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(buf, len, ".");
	else if (slash == path)
		snprintf(buf, len, "/");
	else
		snprintf(buf, len, "%.*s", (int)(slash - path), path);
}

/* A temporary file beside path: the rename that ends a write stays on one
 * file system. */
static int temp_beside(const char *path, char *tmp, size_t len)
{
	char dir[4096];
	dir_of(path, dir, sizeof(dir));
	snprintf(tmp, len, "%s/.msttop-record-XXXXXX", dir);
	return mkostemp(tmp, O_CLOEXEC);
}

int mst_record_check_path(const char *path, struct mst_err *err)
{
	struct stat st;
	if (!*path)
		return mst_err_set(err, -EINVAL, "cannot record to an empty file name");
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return mst_err_set(err, -EISDIR, "cannot record to %s: it is a directory", path);
	/* Writing a file there is the one test that tells: permissions,
	 * a read-only file system, a missing directory, a full disk. */
	char tmp[4200];
	int fd = temp_beside(path, tmp, sizeof(tmp));
	if (fd < 0) {
		int e = errno;
		return mst_err_set(err, -e, "cannot record to %s: %s", path, strerror(e));
	}
	close(fd);
	unlink(tmp);
	return 0;
}

int mst_record_write_path(struct mst_record *r, const char *path, enum mst_record_format fmt,
                          const struct mst_record_meta *meta, const struct mst_record_select *sel,
                          struct mst_err *err)
{
	char tmp[4200];
	int fd = temp_beside(path, tmp, sizeof(tmp));
	if (fd < 0) {
		int e = errno;
		return mst_err_set(err, -e, "cannot write %s: %s", path, strerror(e));
	}
	/* mkostemp makes the file 0600; a recording is meant to be shared. */
	mode_t um = umask(0);
	umask(um);
	fchmod(fd, 0666 & ~um);
	FILE *f = fdopen(fd, "w");
	if (!f) {
		int e = errno;
		close(fd);
		unlink(tmp);
		return mst_err_set(err, -e, "cannot write %s: %s", path, strerror(e));
	}
	int rc = mst_record_write(r, f, fmt, meta, sel, err);
	if (fclose(f) != 0 && rc == 0) {
		int e = errno;
		rc = mst_err_set(err, -e, "cannot write %s: %s", path, strerror(e));
	}
	if (rc == 0 && rename(tmp, path) < 0) {
		int e = errno;
		rc = mst_err_set(err, -e, "cannot write %s: %s", path, strerror(e));
	}
	if (rc < 0)
		unlink(tmp);
	return rc;
}
