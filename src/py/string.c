/* Reading str and bytes objects out of a target into msttop's memory:
 * compact str (ASCII, UCS-1/2/4) to UTF-8, bytes to a caller buffer. Layout
 * facts arrive as parameters; only PyObject's ob_type (+8, every version),
 * PyBytesObject and the str state bits are fixed (decode-int.h), the same in
 * every release 3.6-3.15: test_py_layout checks them against each layout
 * table. */
#include "decode-int.h"

#include <inttypes.h>
#include <string.h>

/* PyObject_HEAD on a release build, x86_64, all versions: ob_refcnt, ob_type. */
#define OB_TYPE_OFF 8

#define STATE_KIND(s) (((s) >> MST_PY_STATE_KIND_SHIFT) & MST_PY_STATE_KIND_MASK)
#define STATE_COMPACT MST_PY_STATE_COMPACT
#define STATE_ASCII MST_PY_STATE_ASCII
#define STATE_READY MST_PY_STATE_READY

/* Characters copied from the target per read: big enough that a typical
 * name is one process_vm_readv, small enough for the stack. */
#define CHUNK_BYTES 1024

static int check_type(const struct mst_reader *r, uint64_t addr, uint64_t want, const char *what,
                      struct mst_err *err)
{
	uint64_t t;
	int rc;
	if (!want)
		return 0;
	rc = mst_read(r, addr + OB_TYPE_OFF, &t, sizeof(t));
	if (rc < 0)
		return mst_err_set(err, rc, "cannot read ob_type of %s at 0x%" PRIx64, what, addr);
	if (t != want)
		return mst_err_set(err, -MST_ECORRUPT,
		                   "%s at 0x%" PRIx64 " has ob_type 0x%" PRIx64
		                   ", expected 0x%" PRIx64,
		                   what, addr, t, want);
	return 0;
}

int mst_py_str_read(const struct mst_reader *r, const struct mst_py_str_layout *lay, uint64_t addr,
                    uint64_t str_type, char *buf, size_t buflen, size_t *outlen, bool *truncated,
                    struct mst_err *err)
{
	int64_t length;
	uint32_t state, kind;
	uint64_t data;
	size_t nchars, out = 0, done = 0;
	bool ascii;
	int rc;

	if (outlen)
		*outlen = 0;
	if (truncated)
		*truncated = false;
	if (!buf || buflen == 0)
		return mst_err_set(err, -EINVAL, "no room for the string");
	buf[0] = '\0';
	if (!addr)
		return mst_err_set(err, -MST_ECORRUPT, "NULL str pointer");
	rc = check_type(r, addr, str_type, "str", err);
	if (rc < 0)
		return rc;
	rc = mst_read(r, addr + lay->length_off, &length, sizeof(length));
	if (rc == 0)
		rc = mst_read(r, addr + lay->state_off, &state, sizeof(state));
	if (rc < 0)
		return mst_err_set(err, rc, "cannot read str header at 0x%" PRIx64, addr);
	if (length < 0)
		return mst_err_set(err, -MST_ECORRUPT, "str at 0x%" PRIx64 " has length %" PRId64,
		                   addr, length);
	kind = STATE_KIND(state);
	ascii = state & STATE_ASCII;
	/* <= 3.11: kind 0 (PyUnicode_WCHAR_KIND) or ready == 0 means the
	 * canonical data was never built. */
	if (lay->has_ready && (!(state & STATE_READY) || kind == 0))
		return mst_err_set(err, -MST_EUNSUPPORTED, "str at 0x%" PRIx64 " is not ready",
		                   addr);
	if (kind != 1 && kind != 2 && kind != 4)
		return mst_err_set(err, -MST_ECORRUPT, "str at 0x%" PRIx64 " has kind %u", addr,
		                   kind);
	if (ascii && kind != 1)
		return mst_err_set(err, -MST_ECORRUPT, "str at 0x%" PRIx64 " is ASCII with kind %u",
		                   addr, kind);
	/* Legacy strings (str subclasses built the old way) keep their data
	 * behind a pointer; no name msttop needs is one. */
	if (!(state & STATE_COMPACT))
		return mst_err_set(err, -MST_EUNSUPPORTED,
		                   "str at 0x%" PRIx64 " is a legacy (non-compact) string", addr);
	data = addr + (ascii ? lay->ascii_data_off : lay->compact_data_off);

	nchars = (uint64_t)length > MST_PY_STR_MAX_CHARS ? MST_PY_STR_MAX_CHARS : (size_t)length;
	if ((uint64_t)length > nchars && truncated)
		*truncated = true;

	while (done < nchars) {
		unsigned char chunk[CHUNK_BYTES];
		size_t n = nchars - done, i;
		if (n > CHUNK_BYTES / kind)
			n = CHUNK_BYTES / kind;
		rc = mst_read(r, data + done * kind, chunk, n * kind);
		if (rc < 0) {
			buf[0] = '\0';
			return mst_err_set(err, rc, "cannot read %zu chars of str at 0x%" PRIx64, n,
			                   addr);
		}
		for (i = 0; i < n; i++) {
			uint32_t c;
			size_t need;
			if (kind == 1) {
				c = chunk[i];
			} else if (kind == 2) {
				uint16_t v;
				memcpy(&v, chunk + 2 * i, 2);
				c = v;
			} else {
				memcpy(&c, chunk + 4 * i, 4);
			}
			if (ascii && c >= 0x80) {
				buf[0] = '\0';
				return mst_err_set(err, -MST_ECORRUPT,
				                   "ASCII str at 0x%" PRIx64 " holds byte 0x%02x",
				                   addr, (unsigned)c);
			}
			if (c > 0x10ffff) {
				buf[0] = '\0';
				return mst_err_set(err, -MST_ECORRUPT,
				                   "str at 0x%" PRIx64 " holds U+%" PRIX32, addr,
				                   c);
			}
			/* A lone surrogate is a valid Python str character but not
			 * encodable in UTF-8 (surrogateescape file names). */
			if (c >= 0xd800 && c <= 0xdfff)
				c = 0xfffd;
			need = py_utf8_len(c);
			if (out + need >= buflen) {
				if (truncated)
					*truncated = true;
				goto end;
			}
			py_utf8_put(buf + out, c);
			out += need;
		}
		done += n;
	}
end:
	buf[out] = '\0';
	if (outlen)
		*outlen = out;
	return 0;
}

int mst_py_bytes_read(const struct mst_reader *r, uint64_t addr, uint64_t bytes_type, void *buf,
                      size_t cap, size_t *size, struct mst_err *err)
{
	int64_t n;
	int rc;

	if (size)
		*size = 0;
	if (!addr)
		return mst_err_set(err, -MST_ECORRUPT, "NULL bytes pointer");
	rc = check_type(r, addr, bytes_type, "bytes", err);
	if (rc < 0)
		return rc;
	rc = mst_read(r, addr + MST_PY_BYTES_SIZE_OFF, &n, sizeof(n));
	if (rc < 0)
		return mst_err_set(err, rc, "cannot read bytes size at 0x%" PRIx64, addr);
	if (n < 0)
		return mst_err_set(err, -MST_ECORRUPT, "bytes at 0x%" PRIx64 " has size %" PRId64,
		                   addr, n);
	if (size)
		*size = (size_t)n;
	if ((uint64_t)n > cap)
		return mst_err_set(err, -ENOBUFS,
		                   "bytes at 0x%" PRIx64 " hold %" PRId64 " bytes, room for %zu",
		                   addr, n, cap);
	if (n == 0)
		return 0;
	rc = mst_read(r, addr + MST_PY_BYTES_DATA_OFF, buf, (size_t)n);
	if (rc < 0)
		return mst_err_set(err, rc, "cannot read %" PRId64 " bytes at 0x%" PRIx64, n, addr);
	return 0;
}
