/* Code objects: the cache keyed by address, their names and files, line
 * tables, and the frame shown for (code object, instruction). */
#include "py-int.h"

#include <inttypes.h>
#include <stdlib.h>

/* ---- code objects ------------------------------------------------------- */

static void code_cache_drop(struct mst_py *py)
{
	struct code_entry *c, *tmp;
	HASH_ITER(hh, py->codes, c, tmp)
	{
		HASH_DEL(py->codes, c);
		free(c->lt);
		free(c);
	}
	py->ncodes = 0;
}

/* Read a str into an interned UTF-8 string; "<?>" when it cannot be read
 * (*ok false: the entry is then rebuilt on its next use). */
static const char *read_name(struct mst_py *py, uint64_t addr, bool *ok)
{
	char buf[NAME_MAX_BYTES];
	struct mst_err e = {0};
	if (mst_py_str_read(&py->r, &py->str, addr, py->info.unicode_type, buf, sizeof(buf), NULL,
	                    NULL, &e) < 0) {
		*ok = false;
		return "<?>";
	}
	const char *s = mst_py_intern(py, buf);
	if (!s) {
		*ok = false;
		return "<?>";
	}
	return s;
}

int mst_py_code_get(struct mst_py *py, uint64_t addr, const uint8_t *have,
                    const struct code_entry **out, struct mst_err *err)
{
	const struct mst_py_layout *l = &py->lay;
	uint8_t buf[CODE_HDR_MAX];
	const uint8_t *hdr = have;
	struct code_entry *c;
	uint64_t name_p, file_p, lt_p;
	int32_t first, firsttr = 0;
	bool ok = true;
	int rc;

	if (py->code_len > sizeof(buf))
		return mst_err_set(err, -MST_ECORRUPT, "code header too large");
	if (!hdr) {
		rc = rd(py, addr, buf, py->code_len);
		if (rc < 0)
			return mst_err_set(err, rc, "cannot read code object at 0x%" PRIx64, addr);
		hdr = buf;
	}
	if (py->info.code_type && get_u64(hdr, l->ob_type) != py->info.code_type)
		return mst_err_set(err, -MST_ECORRUPT,
		                   "object at 0x%" PRIx64 " is not a code object", addr);
	name_p = get_u64(hdr, l->co_qualname >= 0 ? l->co_qualname : l->co_name);
	file_p = get_u64(hdr, l->co_filename);
	lt_p = get_u64(hdr, l->co_linetable >= 0 ? l->co_linetable : l->co_lnotab);
	first = get_i32(hdr, l->co_firstlineno);
	if (l->co_firsttraceable >= 0)
		firsttr = get_i32(hdr, l->co_firsttraceable);

	HASH_FIND(hh, py->codes, &addr, sizeof(addr), c);
	if (c && !c->retry && c->name_p == name_p && c->file_p == file_p && c->lt_p == lt_p &&
	    c->firstlineno == first && c->firsttraceable == firsttr) {
		*out = c;
		return 0;
	}
	if (c) {
		HASH_DEL(py->codes, c);
		free(c->lt);
		free(c);
		py->ncodes--;
	}
	if (py->ncodes >= CODE_CACHE_MAX)
		code_cache_drop(py);

	c = calloc(1, sizeof(*c));
	if (!c)
		return mst_err_set(err, -ENOMEM, "out of memory");
	c->addr = addr;
	c->name_p = name_p;
	c->file_p = file_p;
	c->lt_p = lt_p;
	c->firstlineno = first;
	c->firsttraceable = firsttr;
	c->func = read_name(py, name_p, &ok);
	c->file = read_name(py, file_p, &ok);
	{
		uint8_t small[4096];
		size_t size = 0;
		struct mst_err e = {0};
		rc = mst_py_bytes_read(&py->r, lt_p, py->info.bytes_type, small, sizeof(small),
		                       &size, &e);
		if (rc == 0) {
			c->lt = malloc(size ? size : 1);
			if (c->lt) {
				memcpy(c->lt, small, size);
				c->lt_len = size;
			}
		} else if (rc == -ENOBUFS && size <= LINETABLE_MAX) {
			c->lt = malloc(size);
			if (c->lt && mst_py_bytes_read(&py->r, lt_p, py->info.bytes_type, c->lt,
			                               size, &size, &e) == 0) {
				c->lt_len = size;
			} else {
				free(c->lt);
				c->lt = NULL;
				ok = false;
			}
		} else if (rc != -ENOBUFS) {
			ok = false;
		}
		/* A table over LINETABLE_MAX: lines stay unknown (0). */
	}
	/* A part that could not be read is retried on the next sight. */
	c->retry = !ok;
	HASH_ADD(hh, py->codes, addr, sizeof(c->addr), c);
	py->ncodes++;
	*out = c;
	return 0;
}

static int line_of(const struct mst_py *py, const struct code_entry *c, int64_t units)
{
	int line;
	if (units > INT32_MAX)
		return 0;
	if (units < -1)
		units = -1;
	if (!c->lt)
		return units < 0 ? c->firstlineno : 0;
	line = mst_py_line_at((int)py->lay.minor, c->lt, c->lt_len, c->firstlineno, (int)units);
	return line == MST_PY_NO_LINE ? 0 : line;
}

/* A decoded frame: its code object's names and the line at units. */
struct mst_py_frame mst_py_make_frame(const struct mst_py *py, const struct code_entry *c,
                                      uint64_t code, uint64_t addr, int64_t units, bool entry)
{
	return (struct mst_py_frame){
	    .code = code,
	    .frame = addr,
	    .func = c->func,
	    .file = c->file,
	    .line = line_of(py, c, units),
	    .firstlineno = c->firstlineno,
	    .entry = entry,
	};
}
