/* Unit tests of src/py/string.c and src/py/linetable.c: str/bytes objects
 * built in a buffer (struct mst_buf_reader), hand-made line tables, and every
 * line table of a few stdlib modules compared with CPython's own
 * PyCode_Addr2Line under each installed interpreter. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "py/decode-int.h"

Suite *py_decode_suite(void);

/* ---- line tables: hand-made ------------------------------------------------ */

START_TEST(test_lnotab_basic)
{
	/* (4,+1) (0,+127) (6,+1) (2,-3): a jump of 128 lines split in two. */
	static const uint8_t t[] = {4, 1, 0, 127, 6, 1, 2, (uint8_t)-3};
	ck_assert_int_eq(mst_py_lnotab_line(t, sizeof(t), 1, -1), 1);
	ck_assert_int_eq(mst_py_lnotab_line(t, sizeof(t), 1, 0), 1);
	ck_assert_int_eq(mst_py_lnotab_line(t, sizeof(t), 1, 3), 1);
	ck_assert_int_eq(mst_py_lnotab_line(t, sizeof(t), 1, 4), 129);
	ck_assert_int_eq(mst_py_lnotab_line(t, sizeof(t), 1, 9), 129);
	ck_assert_int_eq(mst_py_lnotab_line(t, sizeof(t), 1, 10), 130);
	ck_assert_int_eq(mst_py_lnotab_line(t, sizeof(t), 1, 12), 127);
	ck_assert_int_eq(mst_py_lnotab_line(t, sizeof(t), 1, 1000), 127);
	ck_assert_int_eq(mst_py_lnotab_line(NULL, 0, 7, 20), 7);
	/* An odd trailing byte is ignored. */
	ck_assert_int_eq(mst_py_lnotab_line(t, 3, 1, 100), 2);
	/* Through the dispatcher, offsets in units (byte = 2 * unit). */
	ck_assert_int_eq(mst_py_line_at(9, t, sizeof(t), 1, 2), 129);
	ck_assert_int_eq(mst_py_line_at(6, t, sizeof(t), 1, 5), 130);
}
END_TEST

START_TEST(test_linetable310_basic)
{
	/* (4,0) (0,+127) (2,+3) (2,-128) (6,-100): bytes 0-3 line 5, 4-5 line
	 * 135, 6-7 no line, 8-13 line 35, then nothing. */
	static const uint8_t t[] = {4, 0, 0, 127, 2, 3, 2, 0x80, 6, (uint8_t)-100};
	ck_assert_int_eq(mst_py_linetable310_line(t, sizeof(t), 5, -1), 5);
	ck_assert_int_eq(mst_py_linetable310_line(t, sizeof(t), 5, 0), 5);
	ck_assert_int_eq(mst_py_linetable310_line(t, sizeof(t), 5, 2), 5);
	ck_assert_int_eq(mst_py_linetable310_line(t, sizeof(t), 5, 4), 135);
	ck_assert_int_eq(mst_py_linetable310_line(t, sizeof(t), 5, 6), MST_PY_NO_LINE);
	ck_assert_int_eq(mst_py_linetable310_line(t, sizeof(t), 5, 8), 35);
	ck_assert_int_eq(mst_py_linetable310_line(t, sizeof(t), 5, 12), 35);
	ck_assert_int_eq(mst_py_linetable310_line(t, sizeof(t), 5, 14), MST_PY_NO_LINE);
	ck_assert_int_eq(mst_py_linetable310_line(NULL, 0, 5, 0), MST_PY_NO_LINE);
	ck_assert_int_eq(mst_py_line_at(10, t, sizeof(t), 5, 4), 35);
}
END_TEST

START_TEST(test_loctable_basic)
{
	/* firstlineno 10:
	 *  units 0-1: code 13 (no columns), svarint +3          -> 13
	 *  unit  2:   code 15 (none)                            -> no line
	 *  units 3-5: code 11 (one line, +1), 2 column bytes    -> 14
	 *  unit  6:   code 5 (short), 1 column byte             -> 14
	 *  unit  7:   code 14 (long), svarint +100 in two groups,
	 *             end-line 0, col+1 5, end-col+1 7          -> 114
	 *  unit  8:   code 13, svarint -110 in two groups       -> 4
	 *  unit  9:   code 10 (one line, +0)                    -> 4 */
	/* clang-format off */
	static const uint8_t t[] = {
		0x80 | 13 << 3 | 1, 0x06,
		0x80 | 15 << 3 | 0,
		0x80 | 11 << 3 | 2, 0x01, 0x02,
		0x80 | 5 << 3 | 0, 0x33,
		0x80 | 14 << 3 | 0, 0x40 | 8, 0x03, 0x00, 0x05, 0x07,
		0x80 | 13 << 3 | 0, 0x40 | 29, 0x03,
		0x80 | 10 << 3 | 0, 0x04, 0x05,
	};
	/* clang-format on */
	static const int want[] = {13, 13, MST_PY_NO_LINE, 14, 14, 14, 14, 114, 4, 4};
	for (int u = 0; u < (int)(sizeof(want) / sizeof(want[0])); u++)
		ck_assert_msg(mst_py_loctable_line(t, sizeof(t), 10, u) == want[u],
		              "unit %d: got %d want %d", u,
		              mst_py_loctable_line(t, sizeof(t), 10, u), want[u]);
	ck_assert_int_eq(mst_py_loctable_line(t, sizeof(t), 10, 10), MST_PY_NO_LINE);
	ck_assert_int_eq(mst_py_loctable_line(t, sizeof(t), 10, -1), 10);
	ck_assert_int_eq(mst_py_line_at(13, t, sizeof(t), 10, 7), 114);
	/* Truncated in the middle of a varint: no crash, some answer. */
	for (size_t n = 0; n <= sizeof(t); n++)
		for (int u = -1; u < 12; u++)
			(void)mst_py_loctable_line(t, n, 10, u);
	/* A run of continuation bytes far longer than 32 bits of varint. */
	uint8_t bad[64];
	memset(bad, 0x7f, sizeof(bad));
	bad[0] = 0x80 | 14 << 3;
	(void)mst_py_loctable_line(bad, sizeof(bad), 1, 0);
	/* Every byte pattern of a short table stays in bounds (run under ASan). */
	uint8_t fz[3];
	for (int a = 0; a < 256; a++)
		for (int b = 0; b < 256; b += 7) {
			fz[0] = (uint8_t)a;
			fz[1] = (uint8_t)b;
			fz[2] = (uint8_t)(a ^ b);
			(void)mst_py_loctable_line(fz, sizeof(fz), 1, 1);
			(void)mst_py_linetable310_line(fz, sizeof(fz), 1, 1);
			(void)mst_py_lnotab_line(fz, sizeof(fz), 1, 1);
		}
	ck_assert_int_eq(mst_py_line_at(5, t, sizeof(t), 10, 0), MST_PY_NO_LINE);
}
END_TEST

/* ---- line tables: against CPython ------------------------------------- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Compare every offset of every code object in one interpreter's dump.
 * Returns the number of offsets compared; fails the test on a mismatch. */
static long compare_dump(const struct mst_interp *py, const char *text)
{
	long compared = 0, codes = 0, s_codes = -1, s_offs = -1, s_dis = -1;
	const char *p = text;
	uint8_t *tab = NULL;
	size_t cap = 0;
	while (*p) {
		const char *eol = strchr(p, '\n');
		if (!eol)
			eol = p + strlen(p);
		if (p[0] == 'S') {
			ck_assert_int_eq(sscanf(p, "S %ld %ld %ld", &s_codes, &s_offs, &s_dis), 3);
		} else if (p[0] == 'C') {
			char *q;
			long first = strtol(p + 2, &q, 10);
			size_t len = 0;
			q++;
			const char *h = q;
			while (*q != ' ')
				q++;
			size_t hl = (size_t)(q - h);
			if (!(hl == 1 && *h == '-')) {
				if (hl / 2 > cap) {
					cap = hl / 2 * 2;
					tab = realloc(tab, cap);
					ck_assert_ptr_nonnull(tab);
				}
				for (size_t i = 0; i + 1 < hl; i += 2)
					tab[len++] =
					    (uint8_t)(hexval(h[i]) << 4 | hexval(h[i + 1]));
			}
			long n = strtol(q, &q, 10);
			for (long u = 0; u < n; u++) {
				long want = strtol(q, &q, 10);
				int got = mst_py_line_at(py->minor, tab, len, (int)first, (int)u);
				if (got != want)
					ck_abort_msg(
					    "%s: code #%ld (firstlineno %ld, %zu table bytes) "
					    "unit %ld: got %d, CPython says %ld",
					    py->label, codes, first, len, u, got, want);
				compared++;
			}
			codes++;
		}
		p = *eol ? eol + 1 : eol;
	}
	free(tab);
	ck_assert_msg(s_codes == codes && s_offs == compared,
	              "%s: dump incomplete (%ld/%ld codes, %ld/%ld offsets)", py->label, codes,
	              s_codes, compared, s_offs);
	ck_assert_msg(s_dis == 0, "%s: PyCode_Addr2Line and the Python API disagree %ld times",
	              py->label, s_dis);
	return compared;
}

START_TEST(test_linetables_vs_cpython)
{
	const struct mst_interp *py;
	size_t n = mst_test_interps(&py);
	char *script = mst_src_path("tests/py/dump_linetables.py");
	long total = 0;
	ck_assert_msg(n > 0, "no CPython 3 interpreter found");
	for (size_t i = 0; i < n; i++) {
		char *argv[] = {(char *)py[i].path, script, NULL};
		char *out = NULL, *errout = NULL;
		int st = mst_run(argv, 120000, &out, &errout);
		ck_assert_msg(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
		              "%s: dump_linetables.py failed: %s", py[i].label,
		              errout ? errout : "?");
		long c = compare_dump(&py[i], out);
		ck_assert_msg(c > 10000, "%s: only %ld offsets compared", py[i].label, c);
		printf("line tables: %s: %ld offsets match PyCode_Addr2Line\n", py[i].label, c);
		total += c;
		free(out);
		free(errout);
	}
	printf("line tables: %ld offsets over %zu interpreters, 0 mismatches\n", total, n);
	free(script);
}
END_TEST

/* ---- strings --------------------------------------------------------- */

#define BASE 0x7f0000001000ull
#define STR_TYPE 0x555500001000ull
#define BYTES_TYPE 0x555500002000ull

static const struct mst_py_str_layout lay311 = {16, 32, 48, 72, true};
static const struct mst_py_str_layout lay312 = {16, 32, 40, 56, false};

struct image {
	uint8_t mem[16384];
	struct mst_buf_reader br;
	struct mst_reader r;
};

static void image_init(struct image *im)
{
	memset(im->mem, 0xcc, sizeof(im->mem));
	im->br = (struct mst_buf_reader){BASE, im->mem, sizeof(im->mem)};
	im->r = (struct mst_reader){mst_buf_reader_read, &im->br};
}

static void put64(struct image *im, size_t off, uint64_t v)
{
	memcpy(im->mem + off, &v, 8);
}

/* A str at image offset off: kind 1/2/4, chars, the layout's state bits. */
static uint64_t put_str(struct image *im, const struct mst_py_str_layout *lay, size_t off, int kind,
                        bool ascii, bool compact, const uint32_t *chars, size_t n)
{
	uint32_t state = (uint32_t)kind << 2 | (compact ? 0x20 : 0) | (ascii ? 0x40 : 0) |
	                 (lay->has_ready ? 0x80 : 0);
	size_t data = off + (ascii ? lay->ascii_data_off : lay->compact_data_off);
	put64(im, off, 1);
	put64(im, off + 8, STR_TYPE);
	put64(im, off + lay->length_off, n);
	memcpy(im->mem + off + lay->state_off, &state, 4);
	for (size_t i = 0; i < n; i++) {
		if (kind == 1)
			im->mem[data + i] = (uint8_t)chars[i];
		else if (kind == 2) {
			uint16_t v = (uint16_t)chars[i];
			memcpy(im->mem + data + 2 * i, &v, 2);
		} else {
			memcpy(im->mem + data + 4 * i, &chars[i], 4);
		}
	}
	return BASE + off;
}

static int read_str(struct image *im, const struct mst_py_str_layout *lay, uint64_t addr, char *buf,
                    size_t len, bool *trunc)
{
	struct mst_err err = {0};
	size_t outlen = 0;
	int rc = mst_py_str_read(&im->r, lay, addr, STR_TYPE, buf, len, &outlen, trunc, &err);
	if (rc == 0)
		ck_assert_uint_eq(outlen, strlen(buf));
	else
		ck_assert_msg(err.code == rc && err.msg[0], "error without a message");
	return rc;
}

static void check_kinds(const struct mst_py_str_layout *lay)
{
	static struct image im;
	char buf[256];
	bool trunc;
	image_init(&im);
	const uint32_t ascii[] = {'h', 'e', 'l', 'l', 'o', '_', '1'};
	const uint32_t latin[] = {'c', 'a', 'f', 0xe9, 0xff};
	const uint32_t ucs2[] = {0x394, 'x', 0x20ac, 0xffff};
	const uint32_t ucs4[] = {0x1f600, 'a', 0x10ffff, 0x7ff, 0x800};
	const uint32_t sur[] = {'a', 0xd800, 'b'};
	uint64_t a = put_str(&im, lay, 0, 1, true, true, ascii, 7);
	uint64_t l = put_str(&im, lay, 256, 1, false, true, latin, 5);
	uint64_t u2 = put_str(&im, lay, 512, 2, false, true, ucs2, 4);
	uint64_t u4 = put_str(&im, lay, 768, 4, false, true, ucs4, 5);
	uint64_t s = put_str(&im, lay, 1024, 2, false, true, sur, 3);
	uint64_t empty = put_str(&im, lay, 1280, 1, true, true, NULL, 0);

	ck_assert_int_eq(read_str(&im, lay, a, buf, sizeof(buf), &trunc), 0);
	ck_assert_str_eq(buf, "hello_1");
	ck_assert(!trunc);
	ck_assert_int_eq(read_str(&im, lay, l, buf, sizeof(buf), &trunc), 0);
	ck_assert_str_eq(buf, "caf\xc3\xa9\xc3\xbf");
	ck_assert_int_eq(read_str(&im, lay, u2, buf, sizeof(buf), &trunc), 0);
	ck_assert_str_eq(buf, "\xce\x94x\xe2\x82\xac\xef\xbf\xbf");
	ck_assert_int_eq(read_str(&im, lay, u4, buf, sizeof(buf), &trunc), 0);
	ck_assert_str_eq(buf, "\xf0\x9f\x98\x80"
	                      "a\xf4\x8f\xbf\xbf\xdf\xbf\xe0\xa0\x80");
	ck_assert_int_eq(read_str(&im, lay, s, buf, sizeof(buf), &trunc), 0);
	ck_assert_str_eq(buf, "a\xef\xbf\xbd"
	                      "b");
	ck_assert_int_eq(read_str(&im, lay, empty, buf, sizeof(buf), &trunc), 0);
	ck_assert_str_eq(buf, "");

	/* Truncation stops at a whole character and says so. */
	ck_assert_int_eq(read_str(&im, lay, u4, buf, 6, &trunc), 0);
	ck_assert_str_eq(buf, "\xf0\x9f\x98\x80"
	                      "a");
	ck_assert(trunc);
	ck_assert_int_eq(read_str(&im, lay, a, buf, 1, &trunc), 0);
	ck_assert_str_eq(buf, "");
	ck_assert(trunc);
	/* No type check when str_type is 0. */
	struct mst_err err;
	ck_assert_int_eq(mst_py_str_read(&im.r, lay, a, 0, buf, sizeof(buf), NULL, NULL, &err), 0);
	ck_assert_str_eq(buf, "hello_1");
}

START_TEST(test_str_kinds_311)
{
	check_kinds(&lay311);
}
END_TEST

START_TEST(test_str_kinds_312)
{
	check_kinds(&lay312);
}
END_TEST

static void set_state(struct image *im, uint64_t addr, const struct mst_py_str_layout *lay,
                      uint32_t state)
{
	memcpy(im->mem + (addr - BASE) + lay->state_off, &state, 4);
}

static void check_corrupt(const struct mst_py_str_layout *lay)
{
	static struct image im;
	char buf[64];
	bool trunc;
	const uint32_t ascii[] = {'a', 'b', 'c'};
	const uint32_t u4[] = {0x110000};
	const uint32_t hi[] = {'a', 0xff};
	uint32_t ready = lay->has_ready ? 0x80 : 0;
	image_init(&im);
	uint64_t a = put_str(&im, lay, 0, 1, true, true, ascii, 3);

	/* Kinds 0, 3, 5-7. */
	for (uint32_t k = 0; k < 8; k++) {
		if (k == 1 || k == 2 || k == 4)
			continue;
		set_state(&im, a, lay, k << 2 | 0x20 | ready);
		int rc = read_str(&im, lay, a, buf, sizeof(buf), &trunc);
		ck_assert_msg(rc == -MST_ECORRUPT || (k == 0 && rc == -MST_EUNSUPPORTED),
		              "kind %u: rc %d", k, rc);
		ck_assert_str_eq(buf, "");
	}
	/* ASCII flag on a 2-byte kind. */
	set_state(&im, a, lay, 2 << 2 | 0x20 | 0x40 | ready);
	ck_assert_int_eq(read_str(&im, lay, a, buf, sizeof(buf), &trunc), -MST_ECORRUPT);
	/* Legacy (not compact). */
	set_state(&im, a, lay, 1 << 2 | 0x40 | ready);
	ck_assert_int_eq(read_str(&im, lay, a, buf, sizeof(buf), &trunc), -MST_EUNSUPPORTED);
	/* Not ready (3.6-3.11 only; in 3.12+ the bit means something else). */
	set_state(&im, a, lay, 1 << 2 | 0x20 | 0x40);
	ck_assert_int_eq(read_str(&im, lay, a, buf, sizeof(buf), &trunc),
	                 lay->has_ready ? -MST_EUNSUPPORTED : 0);
	set_state(&im, a, lay, 1 << 2 | 0x20 | 0x40 | 0x80);
	ck_assert_int_eq(read_str(&im, lay, a, buf, sizeof(buf), &trunc), 0);
	ck_assert_str_eq(buf, "abc");

	/* Negative length. */
	put64(&im, (a - BASE) + lay->length_off, (uint64_t)-5);
	ck_assert_int_eq(read_str(&im, lay, a, buf, sizeof(buf), &trunc), -MST_ECORRUPT);
	/* A huge length: the read is capped and then runs off the image. */
	put64(&im, (a - BASE) + lay->length_off, 1ull << 40);
	int rc = read_str(&im, lay, a, buf, sizeof(buf), &trunc);
	ck_assert_msg(rc == -MST_ECORRUPT || rc == -EFAULT || (rc == 0 && trunc), "rc %d", rc);
	/* Huge length near the end of the image: only the reader can say no. */
	uint64_t e = put_str(&im, lay, sizeof(im.mem) - 128, 1, true, true, ascii, 3);
	put64(&im, (e - BASE) + lay->length_off, 100000);
	ck_assert_int_eq(read_str(&im, lay, e, buf, sizeof(buf), &trunc), -EFAULT);

	/* Code point beyond U+10FFFF. */
	uint64_t b = put_str(&im, lay, 1024, 4, false, true, u4, 1);
	ck_assert_int_eq(read_str(&im, lay, b, buf, sizeof(buf), &trunc), -MST_ECORRUPT);
	/* A byte >= 0x80 in an ASCII string. */
	uint64_t c = put_str(&im, lay, 2048, 1, true, true, hi, 2);
	ck_assert_int_eq(read_str(&im, lay, c, buf, sizeof(buf), &trunc), -MST_ECORRUPT);
	/* Wrong ob_type. */
	uint64_t d = put_str(&im, lay, 3072, 1, true, true, ascii, 3);
	put64(&im, (d - BASE) + 8, STR_TYPE + 8);
	ck_assert_int_eq(read_str(&im, lay, d, buf, sizeof(buf), &trunc), -MST_ECORRUPT);
	/* Unmapped object and NULL. */
	ck_assert_int_eq(read_str(&im, lay, BASE - 4096, buf, sizeof(buf), &trunc), -EFAULT);
	ck_assert_int_eq(read_str(&im, lay, 0, buf, sizeof(buf), &trunc), -MST_ECORRUPT);
	/* Header straddling the end of the image. */
	ck_assert_int_eq(mst_py_str_read(&im.r, lay, BASE + sizeof(im.mem) - 20, 0, buf,
	                                 sizeof(buf), NULL, &trunc, NULL),
	                 -EFAULT);
	/* Random state words and lengths never crash and never overflow buf. */
	srand(1);
	for (int i = 0; i < 20000; i++) {
		uint32_t st = (uint32_t)rand();
		int64_t len = (int64_t)(rand() % 300) - 10;
		set_state(&im, d, lay, st);
		put64(&im, (d - BASE) + 8, STR_TYPE);
		put64(&im, (d - BASE) + lay->length_off, (uint64_t)len);
		for (size_t k = 0; k < 64; k++)
			im.mem[(d - BASE) + 40 + k] = (uint8_t)rand();
		char small[64];
		(void)mst_py_str_read(&im.r, lay, d, STR_TYPE, small, sizeof(small), NULL, &trunc,
		                      NULL);
		ck_assert(memchr(small, '\0', sizeof(small)));
	}
}

START_TEST(test_str_corrupt_311)
{
	check_corrupt(&lay311);
}
END_TEST

START_TEST(test_str_corrupt_312)
{
	check_corrupt(&lay312);
}
END_TEST

START_TEST(test_bytes)
{
	static struct image im;
	struct mst_err err;
	uint8_t out[16];
	size_t size;
	image_init(&im);
	put64(&im, 0, 1);
	put64(&im, 8, BYTES_TYPE);
	put64(&im, MST_PY_BYTES_SIZE_OFF, 5);
	memcpy(im.mem + MST_PY_BYTES_DATA_OFF, "\x00\x01xyz", 5);
	ck_assert_int_eq(mst_py_bytes_read(&im.r, BASE, BYTES_TYPE, out, sizeof(out), &size, &err),
	                 0);
	ck_assert_uint_eq(size, 5);
	ck_assert(!memcmp(out, "\x00\x01xyz", 5));
	/* Too small a buffer: -ENOBUFS and the size. */
	ck_assert_int_eq(mst_py_bytes_read(&im.r, BASE, BYTES_TYPE, out, 4, &size, &err), -ENOBUFS);
	ck_assert_uint_eq(size, 5);
	ck_assert_int_eq(mst_py_bytes_read(&im.r, BASE, BYTES_TYPE, NULL, 0, &size, &err),
	                 -ENOBUFS);
	ck_assert_uint_eq(size, 5);
	/* Wrong type, negative size, huge size, NULL, unmapped. */
	ck_assert_int_eq(mst_py_bytes_read(&im.r, BASE, STR_TYPE, out, sizeof(out), &size, &err),
	                 -MST_ECORRUPT);
	put64(&im, MST_PY_BYTES_SIZE_OFF, (uint64_t)-1);
	ck_assert_int_eq(mst_py_bytes_read(&im.r, BASE, BYTES_TYPE, out, sizeof(out), &size, &err),
	                 -MST_ECORRUPT);
	put64(&im, MST_PY_BYTES_SIZE_OFF, 1ull << 50);
	ck_assert_int_eq(mst_py_bytes_read(&im.r, BASE, BYTES_TYPE, out, sizeof(out), &size, &err),
	                 -ENOBUFS);
	put64(&im, MST_PY_BYTES_SIZE_OFF, 0);
	ck_assert_int_eq(mst_py_bytes_read(&im.r, BASE, 0, out, sizeof(out), &size, &err), 0);
	ck_assert_uint_eq(size, 0);
	ck_assert_int_eq(mst_py_bytes_read(&im.r, 0, 0, out, sizeof(out), &size, &err),
	                 -MST_ECORRUPT);
	ck_assert_int_eq(mst_py_bytes_read(&im.r, BASE - 64, 0, out, sizeof(out), &size, &err),
	                 -EFAULT);
	/* Data running off the image. */
	put64(&im, sizeof(im.mem) - 64 + MST_PY_BYTES_SIZE_OFF, 40);
	ck_assert_int_eq(
	    mst_py_bytes_read(&im.r, BASE + sizeof(im.mem) - 64, 0, out, 64, &size, &err), -EFAULT);
}
END_TEST

Suite *py_decode_suite(void)
{
	Suite *s = suite_create("py_decode");
	TCase *tc = tcase_create("linetable");
	tcase_add_test(tc, test_lnotab_basic);
	tcase_add_test(tc, test_linetable310_basic);
	tcase_add_test(tc, test_loctable_basic);
	suite_add_tcase(s, tc);

	tc = tcase_create("linetable_vs_cpython");
	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, test_linetables_vs_cpython);
	suite_add_tcase(s, tc);

	tc = tcase_create("string");
	tcase_add_test(tc, test_str_kinds_311);
	tcase_add_test(tc, test_str_kinds_312);
	tcase_add_test(tc, test_str_corrupt_311);
	tcase_add_test(tc, test_str_corrupt_312);
	tcase_add_test(tc, test_bytes);
	suite_add_tcase(s, tc);
	return s;
}
