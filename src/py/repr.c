/* A bounded repr of an object in the target, read from memory only (nothing
 * runs there): CPython's own repr for None, bool, int, float, str, bytes,
 * tuple, list and dict, "<TypeName at 0x...>" for anything else. Types are
 * told apart by their tp_name, for built-in (non-heap) types only, so that a
 * user's class named "int" is not read as one. Every bound is in
 * py_locals.h; a read that fails gives "<unreadable 0x...>". */
#include "py-int.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "msttop/py_locals.h"

enum type_kind {
	TK_OTHER,
	TK_NONE,
	TK_BOOL,
	TK_INT,
	TK_FLOAT,
	TK_STR,
	TK_BYTES,
	TK_TUPLE,
	TK_LIST,
	TK_DICT,
	TK_CELL,
};

/* The output: at most MST_PY_REPR_MAX bytes, "…" (3 bytes) included. */
#define ELLIPSIS "\xe2\x80\xa6"
#define ROOM (MST_PY_REPR_MAX - 3)

struct rctx {
	struct mst_py *py;
	char *buf;
	size_t len;
	bool full;      /* a part did not fit: stop */
	bool truncated; /* something was left out */
	unsigned reads;
	uint64_t seen[MST_PY_REPR_DEPTH_MAX + 2]; /* containers being written */
	int nseen;
	/* The first bytes of the object being written, read at once: most
	 * values (an int, a float, a short str) need no other read. */
	uint64_t hobj;
	uint8_t hdr[64];
	size_t hlen;
};

static void put(struct rctx *c, const char *s, size_t n)
{
	if (c->full)
		return;
	if (c->len + n > ROOM) {
		c->full = c->truncated = true;
		return;
	}
	memcpy(c->buf + c->len, s, n);
	c->len += n;
	c->buf[c->len] = '\0';
}

static void puts_(struct rctx *c, const char *s)
{
	put(c, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void putf(struct rctx *c, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(c, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* Every read of one value counts against MST_PY_REPR_READS_MAX. */
static int rread(struct rctx *c, uint64_t addr, void *buf, size_t len)
{
	if (c->reads >= MST_PY_REPR_READS_MAX) {
		c->truncated = c->full = true;
		return -E2BIG;
	}
	c->reads++;
	return rd(c->py, addr, buf, len);
}

/* A field of object obj: from its header when it was read with it. */
static int oread(struct rctx *c, uint64_t obj, int64_t off, void *buf, size_t len)
{
	if (off < 0)
		return -EFAULT;
	if (obj == c->hobj && (size_t)off + len <= c->hlen) {
		memcpy(buf, c->hdr + off, len);
		return 0;
	}
	return rread(c, obj + (uint64_t)off, buf, len);
}

/* Read obj's header: 64 bytes, or 16 (PyObject_HEAD) for an object at the
 * end of a mapping. */
static int load_header(struct rctx *c, uint64_t obj)
{
	c->hobj = 0;
	c->hlen = 0;
	if (rread(c, obj, c->hdr, sizeof(c->hdr)) == 0)
		c->hlen = sizeof(c->hdr);
	else if (rread(c, obj, c->hdr, 16) == 0)
		c->hlen = 16;
	else
		return -EFAULT;
	c->hobj = obj;
	return 0;
}

/* ---- types -------------------------------------------------------------- */

void mst_py_types_drop(struct mst_py *py)
{
	struct type_entry *t, *tmp;
	HASH_ITER(hh, py->types, t, tmp)
	{
		HASH_DEL(py->types, t);
		free(t);
	}
	py->ntypes = 0;
}

/* A C string at addr (a tp_name), read up to each page's end so that a
 * name near the end of a mapping is still found. */
static int read_cstr(struct rctx *c, uint64_t addr, char *out, size_t len)
{
	size_t got = 0;
	while (got + 1 < len) {
		size_t chunk = 4096 - ((addr + got) & 4095);
		if (chunk > len - 1 - got)
			chunk = len - 1 - got;
		if (chunk > 64)
			chunk = 64;
		if (rread(c, addr + got, out + got, chunk) < 0)
			return -EFAULT;
		char *z = memchr(out + got, '\0', chunk);
		if (z) {
			for (char *p = out; p < z; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f)
					return -MST_ECORRUPT;
			return z == out ? -MST_ECORRUPT : 0;
		}
		got += chunk;
	}
	return -MST_ECORRUPT; /* no NUL within bounds: not a name */
}

static int kind_of_name(const char *n)
{
	static const struct {
		const char *name;
		int kind;
	} builtins[] = {
	    {"NoneType", TK_NONE}, {"bool", TK_BOOL},   {"int", TK_INT},     {"float", TK_FLOAT},
	    {"str", TK_STR},       {"bytes", TK_BYTES}, {"tuple", TK_TUPLE}, {"list", TK_LIST},
	    {"dict", TK_DICT},     {"cell", TK_CELL},
	};
	for (size_t i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++)
		if (!strcmp(n, builtins[i].name))
			return builtins[i].kind;
	return TK_OTHER;
}

/* The type of obj: its entry in the cache, read when new or changed. */
static int type_of(struct rctx *c, uint64_t obj, const struct type_entry **out)
{
	struct mst_py *py = c->py;
	const struct mst_py_layout *l = &py->lay;
	uint64_t type;
	uint8_t tbuf[256];
	size_t tlen = 0;

	fit(&tlen, l->tp_name, 8);
	fit(&tlen, l->tp_flags, 8);
	if (tlen > sizeof(tbuf) || oread(c, obj, l->ob_type, &type, 8) < 0 || !type || (type & 7))
		return -EFAULT;
	struct type_entry *t;
	HASH_FIND(hh, py->types, &type, sizeof(type), t);
	if (t && t->epoch == py->types_epoch) {
		*out = t;
		return 0;
	}
	if (rread(c, type, tbuf, tlen) < 0)
		return -EFAULT;
	uint64_t name_p = get_u64(tbuf, l->tp_name);
	uint64_t flags = get_u64(tbuf, l->tp_flags);
	if (t && t->name_p == name_p) {
		t->epoch = py->types_epoch;
		*out = t;
		return 0;
	}
	char name[128];
	if (!name_p || read_cstr(c, name_p, name, sizeof(name)) < 0)
		return -EFAULT;
	const char *iname = mst_py_intern(py, name);
	if (!iname)
		return -ENOMEM;
	if (!t) {
		if (py->ntypes >= TYPE_CACHE_MAX)
			mst_py_types_drop(py);
		t = calloc(1, sizeof(*t));
		if (!t)
			return -ENOMEM;
		t->addr = type;
		HASH_ADD(hh, py->types, addr, sizeof(t->addr), t);
		py->ntypes++;
	}
	t->name_p = name_p;
	t->name = iname;
	t->epoch = py->types_epoch;
	/* A class made by Python code is never one of the built-in types,
	 * whatever its name. */
	t->kind = l->tpflags_heaptype > 0 && (flags & (uint64_t)l->tpflags_heaptype)
	              ? TK_OTHER
	              : kind_of_name(iname);
	*out = t;
	return 0;
}

/* ---- values ------------------------------------------------------------- */

/* An int's digits (base 2^PyLong_SHIFT, least significant first) and sign.
 * 3.6-3.11: signed digit count ob_size; 3.12+: lv_tag = ndigits << 3 | sign
 * (0 positive, 1 zero, 2 negative). */
static int int_header(struct rctx *c, uint64_t obj, int64_t *ndigits, bool *neg)
{
	const struct mst_py_layout *l = &c->py->lay;
	uint64_t w;
	if (l->long_lv_tag >= 0) {
		if (oread(c, obj, l->long_lv_tag, &w, 8) < 0)
			return -EFAULT;
		if ((w & 3) == 3 || l->long_ndigits_shift <= 0)
			return -MST_ECORRUPT;
		*neg = (w & 3) == 2;
		*ndigits = (w & 3) == 1 ? 0 : (int64_t)(w >> l->long_ndigits_shift);
	} else {
		if (oread(c, obj, l->long_ob_size, &w, 8) < 0)
			return -EFAULT;
		int64_t s = (int64_t)w;
		if (s == INT64_MIN)
			return -MST_ECORRUPT;
		*neg = s < 0;
		*ndigits = s < 0 ? -s : s;
	}
	/* No int has 2^40 digits: it would not fit in memory. */
	if (*ndigits < 0 || *ndigits > (1ll << 40))
		return -MST_ECORRUPT;
	return 0;
}

/* Decimal of the magnitude in d[0..n) (destroyed), into a malloc'd string:
 * repeated division by 10^9, the digits' base being 2^shift <= 2^30. */
static char *digits_to_dec(uint32_t *d, size_t n, int shift)
{
	size_t cap = n + 2;
	uint32_t *parts = malloc(cap * sizeof(*parts));
	char *out = malloc(cap * 9 + 2);
	size_t np = 0;
	if (!parts || !out) {
		free(parts);
		free(out);
		return NULL;
	}
	while (n > 0 && d[n - 1] == 0)
		n--;
	while (n > 0 && np < cap) {
		uint64_t rem = 0;
		for (size_t i = n; i-- > 0;) {
			uint64_t cur = (rem << shift) | d[i];
			d[i] = (uint32_t)(cur / 1000000000u);
			rem = cur % 1000000000u;
		}
		parts[np++] = (uint32_t)rem;
		while (n > 0 && d[n - 1] == 0)
			n--;
	}
	size_t o = 0;
	if (np == 0) {
		out[o++] = '0';
	} else {
		o += (size_t)sprintf(out, "%" PRIu32, parts[np - 1]);
		for (size_t i = np - 1; i-- > 0;)
			o += (size_t)sprintf(out + o, "%09" PRIu32, parts[i]);
	}
	out[o] = '\0';
	free(parts);
	return out;
}

static void repr_int(struct rctx *c, uint64_t obj, bool as_bool)
{
	const struct mst_py_layout *l = &c->py->lay;
	int64_t nd;
	bool neg;
	if (int_header(c, obj, &nd, &neg) < 0 || l->long_digit_size != 4 || l->long_shift <= 0 ||
	    l->long_shift > 30) {
		putf(c, "<unreadable 0x%" PRIx64 ">", obj);
		return;
	}
	if (as_bool) {
		/* False is 0 (no digit), True 1: only the count matters. */
		puts_(c, nd ? "True" : "False");
		return;
	}
	if (nd > MST_PY_REPR_INT_DIGITS) {
		putf(c, "<int of %" PRId64 " bits at 0x%" PRIx64 ">", nd * l->long_shift, obj);
		c->truncated = true;
		return;
	}
	uint32_t small[4];
	uint32_t *d = nd <= 4 ? small : malloc((size_t)nd * 4);
	if (!d) {
		putf(c, "<unreadable 0x%" PRIx64 ">", obj);
		return;
	}
	if (nd && oread(c, obj, l->long_ob_digit, d, (size_t)nd * 4) < 0) {
		putf(c, "<unreadable 0x%" PRIx64 ">", obj);
		goto out;
	}
	for (int64_t i = 0; i < nd; i++)
		if (d[i] >> l->long_shift) {
			putf(c, "<unreadable 0x%" PRIx64 ">", obj);
			goto out;
		}
	char *dec = digits_to_dec(d, (size_t)nd, (int)l->long_shift);
	if (!dec) {
		putf(c, "<unreadable 0x%" PRIx64 ">", obj);
		goto out;
	}
	if (neg && strcmp(dec, "0"))
		put(c, "-", 1);
	/* A number too long for the room: its first digits, then "…". */
	size_t n = strlen(dec);
	if (!c->full && c->len + n > ROOM) {
		put(c, dec, ROOM - c->len);
		c->full = c->truncated = true;
	} else {
		put(c, dec, n);
	}
	free(dec);
out:
	if (d != small)
		free(d);
}

/* Python's repr of a float: the shortest digits that read back the same,
 * in fixed notation for decimal exponents -4 < e <= 16, else d.dddde+XX
 * (Python/pystrtod.c, format_float_short with mode 'r'). */
static void format_float(double v, char *out, size_t len)
{
	if (isnan(v)) {
		snprintf(out, len, "nan");
		return;
	}
	if (isinf(v)) {
		snprintf(out, len, "%s", v < 0 ? "-inf" : "inf");
		return;
	}
	char tmp[40];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
		if (strtod(tmp, NULL) == v)
			break;
	}
	const char *p = tmp;
	bool neg = *p == '-';
	if (neg)
		p++;
	char digits[24];
	size_t nd = 0;
	for (; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9' && nd < sizeof(digits) - 1)
			digits[nd++] = *p;
	int exp10 = *p == 'e' ? atoi(p + 1) : 0;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	int decpt = v == 0 ? 1 : exp10 + 1;
	size_t o = 0;
	char *q = out;
#define ADD(ch)                                                                                    \
	do {                                                                                       \
		if (o + 1 < len)                                                                   \
			q[o++] = (ch);                                                             \
	} while (0)
	if (neg)
		ADD('-');
	if (decpt <= -4 || decpt > 16) {
		ADD(digits[0]);
		if (nd > 1) {
			ADD('.');
			for (size_t i = 1; i < nd; i++)
				ADD(digits[i]);
		}
		int e = decpt - 1;
		o += (size_t)snprintf(q + o, o < len ? len - o : 0, "e%c%02d", e < 0 ? '-' : '+',
		                      e < 0 ? -e : e);
		if (o >= len)
			o = len - 1;
	} else if (decpt <= 0) {
		ADD('0');
		ADD('.');
		for (int i = 0; i < -decpt; i++)
			ADD('0');
		for (size_t i = 0; i < nd; i++)
			ADD(digits[i]);
	} else if ((size_t)decpt >= nd) {
		for (size_t i = 0; i < nd; i++)
			ADD(digits[i]);
		for (size_t i = nd; i < (size_t)decpt; i++)
			ADD('0');
		ADD('.');
		ADD('0');
	} else {
		for (size_t i = 0; i < nd; i++) {
			if (i == (size_t)decpt)
				ADD('.');
			ADD(digits[i]);
		}
	}
#undef ADD
	q[o] = '\0';
}

static void repr_float(struct rctx *c, uint64_t obj)
{
	double v;
	char s[64];
	if (oread(c, obj, c->py->lay.float_ob_fval, &v, sizeof(v)) < 0) {
		putf(c, "<unreadable 0x%" PRIx64 ">", obj);
		return;
	}
	format_float(v, s, sizeof(s));
	puts_(c, s);
}

/* Whether Python's str.isprintable() holds for code point u >= 0x80, as far
 * as no Unicode table is needed: the controls, separators, format
 * characters, surrogates and private-use ranges are not printable (they
 * are escaped); unassigned code points pass as they are. */
static bool printable(uint32_t u)
{
	if (u < 0xa1 || u == 0xad)
		return false;
	if ((u >= 0x600 && u <= 0x605) || u == 0x61c || u == 0x6dd || u == 0x70f || u == 0x180e ||
	    u == 0x1680 || (u >= 0x2000 && u <= 0x200f) || (u >= 0x2028 && u <= 0x202f) ||
	    (u >= 0x205f && u <= 0x206f) || u == 0x3000 || (u >= 0xd800 && u <= 0xf8ff) ||
	    u == 0xfeff || (u >= 0xfff9 && u <= 0xfffb) || (u >= 0xe0000 && u <= 0xe0fff) ||
	    u >= 0xf0000)
		return false;
	return true;
}

/* One character of a str or bytes repr, escaped as Python does. */
static void put_char(struct rctx *c, uint32_t u, char quote, bool bytes)
{
	char tmp[16];
	if (u == (uint32_t)quote || u == '\\') {
		tmp[0] = '\\';
		tmp[1] = (char)u;
		put(c, tmp, 2);
	} else if (u == '\t') {
		put(c, "\\t", 2);
	} else if (u == '\n') {
		put(c, "\\n", 2);
	} else if (u == '\r') {
		put(c, "\\r", 2);
	} else if (u < 0x20 || u == 0x7f || (bytes && u >= 0x80)) {
		snprintf(tmp, sizeof(tmp), "\\x%02x", u);
		put(c, tmp, 4);
	} else if (u < 0x80) {
		tmp[0] = (char)u;
		put(c, tmp, 1);
	} else if (!printable(u)) {
		int n = u <= 0xff     ? snprintf(tmp, sizeof(tmp), "\\x%02x", u)
		        : u <= 0xffff ? snprintf(tmp, sizeof(tmp), "\\u%04x", u)
		                      : snprintf(tmp, sizeof(tmp), "\\U%08x", u);
		put(c, tmp, (size_t)n);
	} else {
		put(c, tmp, py_utf8_put(tmp, u));
	}
}

/* Code point i of a kind-width array. */
static uint32_t cp_at(const uint8_t *data, unsigned kind, size_t i)
{
	if (kind == 1)
		return data[i];
	if (kind == 2) {
		uint16_t v;
		memcpy(&v, data + 2 * i, 2);
		return v;
	}
	uint32_t v;
	memcpy(&v, data + 4 * i, 4);
	return v;
}

/* The quote Python picks: ' unless the text holds ' and no ". */
static char pick_quote(const uint8_t *data, unsigned kind, size_t n)
{
	bool sq = false, dq = false;
	for (size_t i = 0; i < n; i++) {
		uint32_t u = cp_at(data, kind, i);
		sq |= u == '\'';
		dq |= u == '"';
	}
	return sq && !dq ? '"' : '\'';
}

static void repr_str(struct rctx *c, uint64_t obj, int64_t *length)
{
	const struct mst_py_layout *l = &c->py->lay;
	int64_t n;
	uint32_t state;
	if (oread(c, obj, l->u_length, &n, 8) < 0 || oread(c, obj, l->u_state, &state, 4) < 0 ||
	    n < 0) {
		putf(c, "<unreadable 0x%" PRIx64 ">", obj);
		return;
	}
	unsigned kind = (state >> MST_PY_STATE_KIND_SHIFT) & MST_PY_STATE_KIND_MASK;
	bool ascii = state & MST_PY_STATE_ASCII;
	/* Only compact strings keep their characters after the header (every
	 * str made in 3.12+; legacy and not-ready ones in <= 3.11 are rare). */
	if ((kind != 1 && kind != 2 && kind != 4) || (ascii && kind != 1) ||
	    !(state & MST_PY_STATE_COMPACT) ||
	    (c->py->str.has_ready && !(state & MST_PY_STATE_READY))) {
		putf(c, "<str at 0x%" PRIx64 ">", obj);
		return;
	}
	*length = n;
	size_t show = n > MST_PY_REPR_STR_MAX ? MST_PY_REPR_STR_MAX : (size_t)n;
	uint8_t data[MST_PY_REPR_STR_MAX * 4];
	int64_t at = ascii ? c->py->str.ascii_data_off : c->py->str.compact_data_off;
	if (show && oread(c, obj, at, data, show * kind) < 0) {
		putf(c, "<unreadable 0x%" PRIx64 ">", obj);
		return;
	}
	char q = pick_quote(data, kind, show);
	put(c, &q, 1);
	for (size_t i = 0; i < show && !c->full; i++) {
		uint32_t u = cp_at(data, kind, i);
		if (u > 0x10ffff || (ascii && u >= 0x80)) {
			puts_(c, "\\ufffd");
			continue;
		}
		put_char(c, u, q, false);
	}
	if ((size_t)n > show) {
		puts_(c, ELLIPSIS);
		c->truncated = true;
	}
	put(c, &q, 1);
}

static void repr_bytes(struct rctx *c, uint64_t obj, int64_t *length)
{
	const struct mst_py_layout *l = &c->py->lay;
	int64_t n;
	if (oread(c, obj, l->bytes_ob_size, &n, 8) < 0 || n < 0) {
		putf(c, "<unreadable 0x%" PRIx64 ">", obj);
		return;
	}
	*length = n;
	size_t show = n > MST_PY_REPR_STR_MAX ? MST_PY_REPR_STR_MAX : (size_t)n;
	uint8_t data[MST_PY_REPR_STR_MAX];
	if (show && oread(c, obj, l->bytes_ob_sval, data, show) < 0) {
		putf(c, "<unreadable 0x%" PRIx64 ">", obj);
		return;
	}
	char q = pick_quote(data, 1, show);
	put(c, "b", 1);
	put(c, &q, 1);
	for (size_t i = 0; i < show && !c->full; i++)
		put_char(c, data[i], q, true);
	if ((size_t)n > show) {
		puts_(c, ELLIPSIS);
		c->truncated = true;
	}
	put(c, &q, 1);
}

static void repr_obj(struct rctx *c, uint64_t obj, int depth, struct mst_py_repr_info *info);

/* The items of a tuple or list: count, then the first item pointers. */
static void repr_seq(struct rctx *c, uint64_t obj, int kind, int depth, int64_t *length)
{
	const struct mst_py_layout *l = &c->py->lay;
	bool tuple = kind == TK_TUPLE;
	const char *open = tuple ? "(" : "[", *close = tuple ? ")" : "]";
	int64_t n;
	uint64_t items[MST_PY_REPR_ITEMS_MAX];
	if (oread(c, obj, tuple ? l->tuple_ob_size : l->list_ob_size, &n, 8) < 0 || n < 0) {
		putf(c, "<unreadable 0x%" PRIx64 ">", obj);
		return;
	}
	*length = n;
	size_t show = n > MST_PY_REPR_ITEMS_MAX ? MST_PY_REPR_ITEMS_MAX : (size_t)n;
	uint64_t at = 0;
	if (!tuple && show && oread(c, obj, l->list_ob_item, &at, 8) < 0) {
		putf(c, "<unreadable 0x%" PRIx64 ">", obj);
		return;
	}
	if (show && (tuple ? oread(c, obj, l->tuple_ob_item, items, show * 8)
	                   : rread(c, at, items, show * 8)) < 0) {
		putf(c, "<unreadable 0x%" PRIx64 ">", obj);
		return;
	}
	puts_(c, open);
	for (size_t i = 0; i < show && !c->full; i++) {
		if (i)
			puts_(c, ", ");
		repr_obj(c, items[i], depth + 1, NULL);
	}
	if ((size_t)n > show) {
		puts_(c, ", " ELLIPSIS);
		c->truncated = true;
	} else if (tuple && n == 1) {
		puts_(c, ",");
	}
	puts_(c, close);
}

static void repr_dict(struct rctx *c, uint64_t obj, int depth, int64_t *length)
{
	const struct mst_py_layout *l = &c->py->lay;
	int64_t used;
	uint64_t keys[MST_PY_REPR_ITEMS_MAX], vals[MST_PY_REPR_ITEMS_MAX];
	size_t n = 0;
	if (oread(c, obj, l->dict_ma_used, &used, 8) < 0 || used < 0) {
		putf(c, "<unreadable 0x%" PRIx64 ">", obj);
		return;
	}
	*length = used;
	size_t want = used > MST_PY_REPR_ITEMS_MAX ? MST_PY_REPR_ITEMS_MAX : (size_t)used;
	c->reads += 4; /* the dict's own reads, roughly */
	if (want && mst_py_dict_first(c->py, obj, want, keys, vals, &n) < 0) {
		putf(c, "<unreadable 0x%" PRIx64 ">", obj);
		return;
	}
	puts_(c, "{");
	for (size_t i = 0; i < n && !c->full; i++) {
		if (i)
			puts_(c, ", ");
		repr_obj(c, keys[i], depth + 1, NULL);
		puts_(c, ": ");
		repr_obj(c, vals[i], depth + 1, NULL);
	}
	if ((size_t)used > n) {
		puts_(c, n ? ", " ELLIPSIS : ELLIPSIS);
		c->truncated = true;
	}
	puts_(c, "}");
}

static void repr_obj(struct rctx *c, uint64_t obj, int depth, struct mst_py_repr_info *info)
{
	const struct type_entry *t = NULL;
	int64_t length = -1;
	if (c->full)
		return;
	if (!obj || (obj & 7) || load_header(c, obj) < 0 || type_of(c, obj, &t) < 0) {
		putf(c, "<unreadable 0x%" PRIx64 ">", obj);
		if (info)
			info->unreadable = true;
		return;
	}
	if (info)
		info->type = t->name;
	bool container = t->kind == TK_TUPLE || t->kind == TK_LIST || t->kind == TK_DICT;
	if (container) {
		const char *open = t->kind == TK_TUPLE ? "(" : t->kind == TK_LIST ? "[" : "{";
		const char *close = t->kind == TK_TUPLE ? ")" : t->kind == TK_LIST ? "]" : "}";
		/* A container inside itself: Python writes [...] (reprlib's
		 * Py_ReprEnter). */
		for (int i = 0; i < c->nseen; i++)
			if (c->seen[i] == obj) {
				putf(c, "%s...%s", open, close);
				return;
			}
		if (depth > MST_PY_REPR_DEPTH_MAX || c->nseen >= (int)(sizeof(c->seen) / 8)) {
			putf(c, "%s" ELLIPSIS "%s", open, close);
			c->truncated = true;
			return;
		}
		c->seen[c->nseen++] = obj;
	}
	switch (t->kind) {
	case TK_NONE:
		puts_(c, "None");
		break;
	case TK_BOOL:
		repr_int(c, obj, true);
		break;
	case TK_INT:
		repr_int(c, obj, false);
		break;
	case TK_FLOAT:
		repr_float(c, obj);
		break;
	case TK_STR:
		repr_str(c, obj, &length);
		break;
	case TK_BYTES:
		repr_bytes(c, obj, &length);
		break;
	case TK_TUPLE:
	case TK_LIST:
		repr_seq(c, obj, t->kind, depth, &length);
		break;
	case TK_DICT:
		repr_dict(c, obj, depth, &length);
		break;
	default:
		putf(c, "<%s at 0x%" PRIx64 ">", t->name, obj);
		break;
	}
	if (container)
		c->nseen--;
	if (info)
		info->length = length;
}

void mst_py_repr(struct mst_py *py, uint64_t obj, char *buf, size_t len,
                 struct mst_py_repr_info *info)
{
	py->types_epoch++;
	mst_py_repr_epoch(py, obj, buf, len, info);
}

void mst_py_repr_epoch(struct mst_py *py, uint64_t obj, char *buf, size_t len,
                       struct mst_py_repr_info *info)
{
	char out[MST_PY_REPR_MAX + 1];
	struct rctx c = {.py = py, .buf = out};
	struct mst_py_repr_info dummy;
	if (!info)
		info = &dummy;
	*info = (struct mst_py_repr_info){.length = -1};
	out[0] = '\0';
	repr_obj(&c, obj, 0, info);
	if (c.full)
		memcpy(out + c.len, ELLIPSIS, sizeof(ELLIPSIS)); /* ROOM keeps 3 bytes */
	info->truncated = c.truncated;
	if (len)
		snprintf(buf, len, "%s", out);
}

/* ---- cells (locals.c) --------------------------------------------------- */

/* Whether obj is a cell: 1 with its content in *value (0: empty), 0 when
 * it is not one, -1 when its content cannot be read. */
int mst_py_cell_get(struct mst_py *py, uint64_t obj, uint64_t *value)
{
	struct rctx c = {.py = py};
	const struct type_entry *t;
	*value = 0;
	if (!obj || (obj & 7) || load_header(&c, obj) < 0 || type_of(&c, obj, &t) < 0 ||
	    t->kind != TK_CELL)
		return 0;
	return oread(&c, obj, py->lay.cell_ob_ref, value, 8) < 0 ? -1 : 1;
}
