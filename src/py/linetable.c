/* Line tables of code objects: instruction offset -> source line, for the
 * three formats CPython 3.6-3.15 use. Pure functions over copied bytes; each
 * mirrors the CPython function named in its comment, and the tests compare
 * them with PyCode_Addr2Line of every installed interpreter. */
#include "decode-int.h"

#include <limits.h>

/* Running lines are kept in 64 bits so a corrupt table cannot overflow them;
 * a result outside int is no line. */
static int clamp_line(int64_t line)
{
	return line < INT_MIN || line > INT_MAX ? MST_PY_NO_LINE : (int)line;
}

/* 3.6-3.9 Objects/codeobject.c PyCode_Addr2Line: pairs (addr_incr, line_incr).
 * A pair means "from byte addr + addr_incr on, the line is line + line_incr",
 * so the address test comes before the line is applied. Line increments are
 * signed since 3.6 (bpo-26107). */
int mst_py_lnotab_line(const uint8_t *tab, size_t len, int firstlineno, int offset_bytes)
{
	int64_t line = firstlineno;
	long addr = 0;
	if (offset_bytes < 0)
		return firstlineno;
	for (size_t i = 0; i + 1 < len; i += 2) {
		addr += tab[i];
		if (addr > offset_bytes)
			break;
		line += (int8_t)tab[i + 1];
	}
	return clamp_line(line);
}

/* 3.10 Objects/codeobject.c advance()/_PyCode_CheckLineNumber: pairs
 * (length, line_delta) cover consecutive byte ranges from 0. A delta of -128
 * marks a range without a line and leaves the running line alone; zero-length
 * pairs still apply their delta (they carry jumps beyond +-127). */
int mst_py_linetable310_line(const uint8_t *tab, size_t len, int firstlineno, int offset_bytes)
{
	int64_t line = firstlineno;
	long end = 0;
	if (offset_bytes < 0)
		return firstlineno;
	for (size_t i = 0; i + 1 < len; i += 2) {
		long start = end;
		int8_t d = (int8_t)tab[i + 1];
		int64_t cur;
		end += tab[i];
		if (d == -128) {
			cur = MST_PY_NO_LINE;
		} else {
			line += d;
			cur = line;
		}
		if (start <= offset_bytes && offset_bytes < end)
			return cur == MST_PY_NO_LINE ? MST_PY_NO_LINE : clamp_line(cur);
	}
	return MST_PY_NO_LINE;
}

/* 3.11+ location table (Objects/locations.md, Objects/codeobject.c
 * scan_varint/scan_signed_varint): 6-bit groups, least significant first,
 * 0x40 = more follows. Bounded to the table and to 32 bits of result. */
static unsigned read_varint(const uint8_t *tab, size_t len, size_t *pos)
{
	unsigned val = 0, shift = 0;
	while (*pos < len) {
		uint8_t b = tab[(*pos)++];
		if (shift < 32)
			val |= (unsigned)(b & 63) << shift;
		shift += 6;
		if (!(b & 64))
			break;
	}
	return val;
}

static int read_svarint(const uint8_t *tab, size_t len, size_t *pos)
{
	unsigned u = read_varint(tab, len, pos);
	return (u & 1) ? -(int)(u >> 1) : (int)(u >> 1);
}

/* Entry codes of the 3.11+ table (Include/cpython/code.h, 3.11). */
enum {
	LOC_ONE_LINE0 = 10,
	LOC_ONE_LINE2 = 12,
	LOC_NO_COLUMNS = 13,
	LOC_LONG = 14,
	LOC_NONE = 15,
};

/* 3.11 Objects/codeobject.c advance(): apply the entry's line delta, then
 * test the range; code 15 gives no line but the running line is kept. The
 * payload after the deltas (columns) is skipped by re-synchronising on the
 * next byte with bit 7 set, exactly as CPython does. */
int mst_py_loctable_line(const uint8_t *tab, size_t len, int firstlineno, int offset_units)
{
	int64_t line = firstlineno;
	long addr = 0;
	size_t pos = 0;
	if (offset_units < 0)
		return firstlineno;
	/* Skip leading garbage until an entry start (never in a real table). */
	while (pos < len && !(tab[pos] & 0x80))
		pos++;
	while (pos < len) {
		uint8_t first = tab[pos++];
		int code = (first >> 3) & 15;
		int length = (first & 7) + 1;
		int64_t cur;
		if (code == LOC_NO_COLUMNS || code == LOC_LONG)
			line += read_svarint(tab, len, &pos);
		else if (code >= LOC_ONE_LINE0 && code <= LOC_ONE_LINE2)
			line += code - LOC_ONE_LINE0;
		cur = code == LOC_NONE ? MST_PY_NO_LINE : line;
		if (addr <= offset_units && offset_units < addr + length)
			return cur == MST_PY_NO_LINE ? MST_PY_NO_LINE : clamp_line(cur);
		addr += length;
		while (pos < len && !(tab[pos] & 0x80))
			pos++;
	}
	return MST_PY_NO_LINE;
}

int mst_py_line_at(int minor, const uint8_t *tab, size_t len, int firstlineno, int offset_units)
{
	/* Keep the byte offset in range of int for the byte-addressed formats. */
	if (offset_units > (1 << 29))
		return MST_PY_NO_LINE;
	if (minor >= 11)
		return mst_py_loctable_line(tab, len, firstlineno, offset_units);
	if (minor == 10)
		return mst_py_linetable310_line(tab, len, firstlineno,
		                                offset_units < 0 ? -1 : 2 * offset_units);
	if (minor >= 6)
		return mst_py_lnotab_line(tab, len, firstlineno,
		                          offset_units < 0 ? -1 : 2 * offset_units);
	return MST_PY_NO_LINE;
}
