/* Decoding CPython values read from a target: str and bytes objects (through
 * a struct mst_reader, never writing the target) and the per-version line
 * tables of code objects (pure functions over bytes already copied out).
 *
 * Nothing here knows a CPython version by itself: string layout facts come in
 * as parameters (the offset tables own them), and each line-table decoder is
 * named after the table format it reads. */
#ifndef MSTTOP_PY_DECODE_INT_H
#define MSTTOP_PY_DECODE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msttop/err.h"
#include "msttop/reader.h"

/* ---- str ---------------------------------------------------------------- */

/* Where a PyASCIIObject / PyCompactUnicodeObject keeps its parts. All offsets
 * are from the object's start. Values (x86_64):
 *   3.6-3.11: length 16, state 32, ascii data 48, compact data 72, has_ready true
 *   3.12+:    length 16, state 32, ascii data 40, compact data 56, has_ready false
 * (3.13+ also publishes them in _Py_DebugOffsets.unicode_object.) */
struct mst_py_str_layout {
	uint32_t length_off;       /* Py_ssize_t length (code points) */
	uint32_t state_off;        /* 32-bit bit-field word: interned 0-1, kind 2-4,
	                              compact 0x20, ascii 0x40, 0x80 ready (<=3.11) */
	uint32_t ascii_data_off;   /* data of a compact ASCII string */
	uint32_t compact_data_off; /* data of a compact non-ASCII string */
	bool has_ready;            /* 3.6-3.11: bit 0x80 is "ready" and must be set;
	                              3.12+: bit 0x80 means statically allocated */
};

/* Longest string mst_py_str_read decodes, in code points. Longer strings are
 * truncated (see *truncated), never read in full. */
#define MST_PY_STR_MAX_CHARS 4096

/* Read the str object at addr as NUL-terminated UTF-8 into buf (size buflen,
 * at least 1). When str_type is non-zero, ob_type (+8) must equal it. Only
 * compact strings are decoded (code names, qualnames and filenames always
 * are): a legacy string (a str subclass instance) or a not-ready one
 * (kind 0 / ready bit clear, <= 3.11) gives -MST_EUNSUPPORTED; an impossible
 * kind, a negative length, non-ASCII bytes in an ASCII string or a code point
 * above U+10FFFF give -MST_ECORRUPT; a failed read gives the reader's code.
 * Lone surrogates (legal in a Python str) become U+FFFD.
 * The output stops at whole characters when buf or MST_PY_STR_MAX_CHARS is
 * too small; *truncated (may be NULL) says so. *outlen (may be NULL) gets the
 * UTF-8 length without the NUL. On failure buf holds "". */
int mst_py_str_read(const struct mst_reader *r, const struct mst_py_str_layout *lay, uint64_t addr,
                    uint64_t str_type, char *buf, size_t buflen, size_t *outlen, bool *truncated,
                    struct mst_err *err);

/* ---- bytes -------------------------------------------------------------- */

/* Unicode state word bits, the same in 3.6-3.15 (Include/cpython/
 * unicodeobject.h; test_py_layout checks every table's u_* masks against
 * them): interned:2, kind:3, compact:1, ascii:1, ready:1 (<=3.11) /
 * statically_allocated:1 (3.12+). */
#define MST_PY_STATE_KIND_SHIFT 2
#define MST_PY_STATE_KIND_MASK 7u
#define MST_PY_STATE_COMPACT 0x20u
#define MST_PY_STATE_ASCII 0x40u
#define MST_PY_STATE_READY 0x80u

/* PyBytesObject, all versions 3.6-3.15 (x86_64; test_py_layout checks every
 * table's bytes_ob_size and bytes_ob_sval against them). */
#define MST_PY_BYTES_SIZE_OFF 16 /* ob_size */
#define MST_PY_BYTES_DATA_OFF 32 /* ob_sval */

/* Read the contents of the bytes object at addr into buf (capacity cap).
 * When bytes_type is non-zero, ob_type must equal it. *size gets ob_size.
 * A negative ob_size gives -MST_ECORRUPT; ob_size > cap gives -ENOBUFS with
 * *size still set, so a caller can retry with a larger (bounded) buffer;
 * cap 0 asks for the size only. */
int mst_py_bytes_read(const struct mst_reader *r, uint64_t addr, uint64_t bytes_type, void *buf,
                      size_t cap, size_t *size, struct mst_err *err);

/* ---- line tables ---------------------------------------------------------- */

/* Every decoder returns the line number, or MST_PY_NO_LINE where CPython's
 * PyCode_Addr2Line returns -1 (artificial code without a line, or an offset
 * past the table). A negative offset ("not started") gives firstlineno, as
 * CPython does. They read only tab[0..len) and never fail otherwise: a
 * truncated or corrupt table gives some line or MST_PY_NO_LINE. */
#define MST_PY_NO_LINE (-1)

/* 3.6-3.9 co_lnotab: (addr_incr u8, line_incr s8) pairs; offset in bytes. */
int mst_py_lnotab_line(const uint8_t *tab, size_t len, int firstlineno, int offset_bytes);

/* 3.10 co_linetable: (length u8, line_delta s8) pairs over byte ranges,
 * -128 = no line; offset in bytes. */
int mst_py_linetable310_line(const uint8_t *tab, size_t len, int firstlineno, int offset_bytes);

/* 3.11+ location table (co_linetable); offset in 2-byte code units. */
int mst_py_loctable_line(const uint8_t *tab, size_t len, int firstlineno, int offset_units);

/* Dispatch by CPython 3.minor with the offset in code units for every
 * version (3.6-3.9 f_lasti is in bytes: pass f_lasti / 2). 3.11 and later
 * use the location table (its format is unchanged through 3.14). Returns
 * MST_PY_NO_LINE for a minor below 6. */
int mst_py_line_at(int minor, const uint8_t *tab, size_t len, int firstlineno, int offset_units);

/* UTF-8 of code point c (a valid scalar value: the decoder substitutes
 * others first): its length, and its bytes at p (room for 4). The str
 * decoder and the repr writer both encode with these. */
static inline size_t py_utf8_len(uint32_t c)
{
	return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
}

static inline size_t py_utf8_put(char *p, uint32_t c)
{
	unsigned char *u = (unsigned char *)p;
	if (c < 0x80) {
		u[0] = (unsigned char)c;
	} else if (c < 0x800) {
		u[0] = (unsigned char)(0xc0 | (c >> 6));
		u[1] = (unsigned char)(0x80 | (c & 0x3f));
	} else if (c < 0x10000) {
		u[0] = (unsigned char)(0xe0 | (c >> 12));
		u[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (c & 0x3f));
	} else {
		u[0] = (unsigned char)(0xf0 | (c >> 18));
		u[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (c & 0x3f));
	}
	return py_utf8_len(c);
}

#endif
