/* Unit tests of src/py/repr.c on objects built by hand in a buffer (a
 * struct mst_buf_reader, CPython 3.12's layout): ints at the digit
 * boundaries, bad digits, recursion, nesting, a huge list whose items are
 * mostly not there, a user class named like a built-in, unreadable
 * pointers. What real interpreters hold is tests/live/test_locals.c's. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msttop/py.h"
#include "msttop/py_locals.h"

Suite *py_repr_suite(void);

#define BASE 0x100000ull
#define SIZE (256u * 1024)

struct img {
	uint8_t mem[SIZE];
	size_t top;
	const struct mst_py_layout *l;
	uint64_t t_int, t_bool, t_float, t_str, t_list, t_tuple, t_none, t_fake_int, t_foo;
};

static uint64_t alloc(struct img *m, size_t n)
{
	m->top = (m->top + 15) & ~(size_t)15;
	uint64_t a = BASE + m->top;
	m->top += n;
	ck_assert_uint_le(m->top, SIZE);
	return a;
}

static void put64(struct img *m, uint64_t addr, int64_t off, uint64_t v)
{
	memcpy(m->mem + (addr - BASE) + off, &v, 8);
}

static uint64_t cstr(struct img *m, const char *s)
{
	uint64_t a = alloc(m, strlen(s) + 1);
	memcpy(m->mem + (a - BASE), s, strlen(s) + 1);
	return a;
}

static uint64_t type(struct img *m, const char *name, bool heap)
{
	uint64_t t = alloc(m, 512);
	put64(m, t, m->l->tp_name, cstr(m, name));
	put64(m, t, m->l->tp_flags, heap ? (uint64_t)m->l->tpflags_heaptype : 0);
	return t;
}

static uint64_t object(struct img *m, uint64_t tp, size_t size)
{
	uint64_t o = alloc(m, size < 32 ? 32 : size);
	put64(m, o, 0, 1); /* refcount */
	put64(m, o, m->l->ob_type, tp);
	return o;
}

/* 3.12 int: lv_tag = ndigits << 3 | sign (0 +, 1 zero, 2 -), 30-bit digits. */
static uint64_t mkint(struct img *m, uint64_t tp, int sign, const uint32_t *d, size_t n)
{
	uint64_t o = object(m, tp, (size_t)m->l->long_ob_digit + 4 * n + 8);
	put64(m, o, m->l->long_lv_tag, (uint64_t)n << m->l->long_ndigits_shift | (uint64_t)sign);
	if (n)
		memcpy(m->mem + (o - BASE) + m->l->long_ob_digit, d, 4 * n);
	return o;
}

static uint64_t mklist(struct img *m, int64_t n, const uint64_t *items, size_t have)
{
	uint64_t o = object(m, m->t_list, 48);
	uint64_t arr = alloc(m, have * 8 + 8);
	memcpy(m->mem + (arr - BASE), items, have * 8);
	put64(m, o, m->l->list_ob_size, (uint64_t)n);
	put64(m, o, m->l->list_ob_item, arr);
	return o;
}

static uint64_t mkfloat(struct img *m, double v)
{
	uint64_t o = object(m, m->t_float, 32);
	memcpy(m->mem + (o - BASE) + m->l->float_ob_fval, &v, 8);
	return o;
}

/* A compact ASCII str (3.12: data right after PyASCIIObject). */
static uint64_t mkstr(struct img *m, const char *s)
{
	size_t n = strlen(s);
	uint64_t o = object(m, m->t_str, (size_t)m->l->u_ascii_data + n + 1);
	put64(m, o, m->l->u_length, n);
	uint32_t state = (1u << 2) | 0x20 | 0x40; /* kind 1, compact, ascii */
	memcpy(m->mem + (o - BASE) + m->l->u_state, &state, 4);
	memcpy(m->mem + (o - BASE) + m->l->u_ascii_data, s, n);
	return o;
}

static struct img *img;
static struct mst_buf_reader br;
static struct mst_py *py;

static void setup(void)
{
	img = calloc(1, sizeof(*img));
	struct mst_err err = {0};
	ck_assert_int_eq(mst_py_layout_for_version(3, 12, 1, &img->l, &err), 0);
	img->top = 64;
	img->t_int = type(img, "int", false);
	img->t_bool = type(img, "bool", false);
	img->t_float = type(img, "float", false);
	img->t_str = type(img, "str", false);
	img->t_list = type(img, "list", false);
	img->t_tuple = type(img, "tuple", false);
	img->t_none = type(img, "NoneType", false);
	img->t_fake_int = type(img, "int", true);
	img->t_foo = type(img, "Foo", true);
	br = (struct mst_buf_reader){.base = BASE, .data = img->mem, .len = SIZE};
	struct mst_py_runtime_info info = {.major = 3, .minor = 12, .micro = 1};
	struct mst_reader r = {mst_buf_reader_read, &br, NULL};
	ck_assert_msg(mst_py_open_info(&info, &r, &py, &err) == 0, "%s", err.msg);
}

static void teardown(void)
{
	mst_py_close(py);
	free(img);
}

static const char *repr(uint64_t obj, struct mst_py_repr_info *info)
{
	static char buf[MST_PY_REPR_MAX + 1];
	mst_py_repr(py, obj, buf, sizeof(buf), info);
	ck_assert_uint_le(strlen(buf), MST_PY_REPR_MAX);
	return buf;
}

START_TEST(test_ints)
{
	const uint32_t two64[] = {0, 0, 16}; /* 2^64 = 16 * 2^60 */
	ck_assert_str_eq(repr(mkint(img, img->t_int, 0, two64, 3), NULL), "18446744073709551616");
	ck_assert_str_eq(repr(mkint(img, img->t_int, 2, two64, 3), NULL), "-18446744073709551616");
	const uint32_t five[] = {5};
	ck_assert_str_eq(repr(mkint(img, img->t_int, 2, five, 1), NULL), "-5");
	ck_assert_str_eq(repr(mkint(img, img->t_int, 1, NULL, 0), NULL), "0");
	/* 10^9 exactly: the zero-padded part of the decimal conversion. */
	const uint32_t e9[] = {1000000000u & 0x3fffffffu};
	ck_assert_str_eq(repr(mkint(img, img->t_int, 0, e9, 1), NULL), "1000000000");
	const uint32_t e18[] = {1000000000000000000ull & 0x3fffffff,
	                        (uint32_t)(1000000000000000000ull >> 30)};
	ck_assert_str_eq(repr(mkint(img, img->t_int, 0, e18, 2), NULL), "1000000000000000000");
	/* bool: True and False are ints with one digit 1 / none. */
	const uint32_t one[] = {1};
	ck_assert_str_eq(repr(mkint(img, img->t_bool, 0, one, 1), NULL), "True");
	ck_assert_str_eq(repr(mkint(img, img->t_bool, 1, NULL, 0), NULL), "False");
	/* A digit past 30 bits is no int. */
	const uint32_t bad[] = {1u << 30};
	uint64_t b = mkint(img, img->t_int, 0, bad, 1);
	char want[64];
	snprintf(want, sizeof(want), "<unreadable 0x%llx>", (unsigned long long)b);
	ck_assert_str_eq(repr(b, NULL), want);
	/* A user's class named "int" is not read as one. */
	uint64_t fake = mkint(img, img->t_fake_int, 0, five, 1);
	snprintf(want, sizeof(want), "<int at 0x%llx>", (unsigned long long)fake);
	struct mst_py_repr_info info;
	ck_assert_str_eq(repr(fake, &info), want);
	ck_assert_str_eq(info.type, "int");
	/* Digits claimed beyond the image: unreadable, not a crash. */
	img->top = SIZE - 64;
	uint64_t huge = mkint(img, img->t_int, 0, five, 1);
	put64(img, huge, img->l->long_lv_tag, (uint64_t)1000 << 3);
	snprintf(want, sizeof(want), "<unreadable 0x%llx>", (unsigned long long)huge);
	ck_assert_str_eq(repr(huge, NULL), want);
	put64(img, huge, img->l->long_lv_tag, (uint64_t)100000 << 3);
	snprintf(want, sizeof(want), "<int of 3000000 bits at 0x%llx>", (unsigned long long)huge);
	ck_assert_str_eq(repr(huge, &info), want);
	ck_assert(info.truncated);
}
END_TEST

START_TEST(test_floats)
{
	ck_assert_str_eq(repr(mkfloat(img, 2.5), NULL), "2.5");
	ck_assert_str_eq(repr(mkfloat(img, 0.1 + 0.2), NULL), "0.30000000000000004");
	ck_assert_str_eq(repr(mkfloat(img, 1e-300), NULL), "1e-300");
	ck_assert_str_eq(repr(mkfloat(img, 1e16), NULL), "1e+16");
	ck_assert_str_eq(repr(mkfloat(img, 9999999999999998.0), NULL), "9999999999999998.0");
	ck_assert_str_eq(repr(mkfloat(img, 0.0001), NULL), "0.0001");
	ck_assert_str_eq(repr(mkfloat(img, 0.00001), NULL), "1e-05");
	ck_assert_str_eq(repr(mkfloat(img, -0.0), NULL), "-0.0");
	ck_assert_str_eq(repr(mkfloat(img, 100.0), NULL), "100.0");
}
END_TEST

START_TEST(test_lists)
{
	const uint32_t one[] = {1};
	uint64_t i1 = mkint(img, img->t_int, 0, one, 1);
	/* A list inside itself, and a pointer to nowhere. */
	uint64_t items[2] = {0, 0xdead0};
	uint64_t l = mklist(img, 2, items, 2);
	items[0] = l;
	uint64_t arr;
	memcpy(&arr, img->mem + (l - BASE) + img->l->list_ob_item, 8);
	put64(img, arr, 0, l);
	ck_assert_str_eq(repr(l, NULL), "[[...], <unreadable 0xdead0>]");
	/* A million items, ten of them there: ten shown, then the ellipsis. */
	uint64_t ten[10];
	for (int i = 0; i < 10; i++)
		ten[i] = i1;
	struct mst_py_repr_info info;
	ck_assert_str_eq(repr(mklist(img, 1000000, ten, 10), &info),
	                 "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, \xe2\x80\xa6]");
	ck_assert(info.truncated);
	ck_assert_int_eq(info.length, 1000000);
	ck_assert_str_eq(info.type, "list");
	/* Nesting: three levels inside the top one, then […]. */
	uint64_t in = mklist(img, 1, &i1, 1);
	for (int d = 0; d < 6; d++)
		in = mklist(img, 1, &in, 1);
	ck_assert_str_eq(repr(in, &info), "[[[[[\xe2\x80\xa6]]]]]");
	ck_assert(info.truncated);
	/* A negative size is no list. */
	uint64_t neg = mklist(img, -1, ten, 1);
	char want[64];
	snprintf(want, sizeof(want), "<unreadable 0x%llx>", (unsigned long long)neg);
	ck_assert_str_eq(repr(neg, NULL), want);
}
END_TEST

START_TEST(test_str_and_others)
{
	ck_assert_str_eq(repr(mkstr(img, "a'b\"c\\\x1b"), NULL), "'a\\'b\"c\\\\\\x1b'");
	ck_assert_str_eq(repr(mkstr(img, "it's"), NULL), "\"it's\"");
	/* 5,000 characters: 200 shown. */
	char big[5001];
	memset(big, 'y', 5000);
	big[5000] = '\0';
	struct mst_py_repr_info info;
	const char *r = repr(mkstr(img, big), &info);
	ck_assert_uint_eq(strlen(r), 1 + 200 + 3 + 1);
	ck_assert(info.truncated && info.length == 5000);
	ck_assert_str_eq(repr(object(img, img->t_none, 16), NULL), "None");
	uint64_t foo = object(img, img->t_foo, 16);
	char want[64];
	snprintf(want, sizeof(want), "<Foo at 0x%llx>", (unsigned long long)foo);
	ck_assert_str_eq(repr(foo, &info), want);
	ck_assert_str_eq(info.type, "Foo");
	/* Outside the image, NULL, misaligned. */
	ck_assert_str_eq(repr(0x10, &info), "<unreadable 0x10>");
	ck_assert(info.unreadable && !info.type);
	ck_assert_str_eq(repr(0, NULL), "<unreadable 0x0>");
	ck_assert_str_eq(repr(BASE + 3, NULL), "<unreadable 0x100003>");
	/* A type whose name has no NUL within bounds, or a control byte. */
	uint64_t t = alloc(img, 512), s = alloc(img, 200);
	memset(img->mem + (s - BASE), 'z', 200);
	put64(img, t, img->l->tp_name, s);
	uint64_t o = object(img, t, 16);
	snprintf(want, sizeof(want), "<unreadable 0x%llx>", (unsigned long long)o);
	ck_assert_str_eq(repr(o, NULL), want);
	img->mem[s - BASE + 10] = '\0';
	img->mem[s - BASE + 3] = '\x1b';
	ck_assert_str_eq(repr(o, NULL), want);
}
END_TEST

Suite *py_repr_suite(void)
{
	Suite *s = suite_create("py_repr");
	TCase *tc = tcase_create("buffer");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ints);
	tcase_add_test(tc, test_floats);
	tcase_add_test(tc, test_lists);
	tcase_add_test(tc, test_str_and_others);
	suite_add_tcase(s, tc);
	return s;
}
