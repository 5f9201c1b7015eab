/* A frame's arguments and locals (py_locals.h): which slots of the frame
 * hold which names, read through the code object (3.6-3.10: co_varnames,
 * co_cellvars, co_freevars over PyFrameObject.f_localsplus; 3.11+:
 * co_localsplusnames and co_localspluskinds over the interpreter frame's
 * localsplus, _PyStackRefs from 3.14), each value through repr.c. */
#include "py-int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "msttop/py_locals.h"

/* Slots of one frame read at most (a function with more locals than this
 * shows the first ones). */
#define SLOTS_MAX 4096

const char *mst_py_local_kind_name(enum mst_py_local_kind k)
{
	switch (k) {
	case MST_PY_LOCAL_ARG:
		return "arg";
	case MST_PY_LOCAL_VAR:
		return "local";
	case MST_PY_LOCAL_CELL:
		return "cell";
	case MST_PY_LOCAL_FREE:
		return "free";
	}
	return "?";
}

void mst_py_locals_fini(struct mst_py_locals *l)
{
	if (!l)
		return;
	free(l->v);
	free(l->text);
	memset(l, 0, sizeof(*l));
}

/* The strings of the locals being built, as offsets into text until the
 * end (text moves as it grows). */
struct build {
	struct mst_py_locals *out;
	size_t cap, text_cap;
	size_t (*offs)[3]; /* name, repr, type (SIZE_MAX: NULL) */
};

static int add_text(struct build *b, const char *s, size_t *off)
{
	struct mst_py_locals *l = b->out;
	size_t n = strlen(s) + 1;
	if (l->text_len + n > b->text_cap) {
		size_t cap = b->text_cap ? b->text_cap * 2 : 4096;
		while (cap < l->text_len + n)
			cap *= 2;
		char *t = realloc(l->text, cap);
		if (!t)
			return -ENOMEM;
		l->text = t;
		b->text_cap = cap;
	}
	memcpy(l->text + l->text_len, s, n);
	*off = l->text_len;
	l->text_len += n;
	return 0;
}

static int add_local(struct build *b, const char *name, const char *repr, const char *type,
                     const struct mst_py_local *proto)
{
	struct mst_py_locals *l = b->out;
	if (l->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct mst_py_local *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		size_t(*o)[3] = realloc(b->offs, cap * sizeof(*o));
		if (!o)
			return -ENOMEM;
		b->offs = o;
		b->cap = cap;
	}
	size_t *o = b->offs[l->n];
	o[2] = SIZE_MAX;
	if (add_text(b, name, &o[0]) < 0 || add_text(b, repr, &o[1]) < 0 ||
	    (type && add_text(b, type, &o[2]) < 0))
		return -ENOMEM;
	l->v[l->n++] = *proto;
	return 0;
}

/* The item pointers of a tuple of names (at most max); *n its size. */
static int read_tuple(struct mst_py *py, uint64_t tuple, uint64_t *items, size_t max, int64_t *n)
{
	const struct mst_py_layout *l = &py->lay;
	int rc = rd(py, tuple + (uint64_t)l->tuple_ob_size, n, 8);
	if (rc < 0)
		return rc;
	if (*n < 0 || *n > (1 << 24))
		return -MST_ECORRUPT;
	size_t k = (size_t)*n < max ? (size_t)*n : max;
	return k ? rd(py, tuple + (uint64_t)l->tuple_ob_item, items, k * 8) : 0;
}

static const char *read_name(struct mst_py *py, uint64_t s)
{
	char buf[NAME_MAX_BYTES];
	struct mst_err e = {0};
	if (mst_py_str_read(&py->r, &py->str, s, py->info.unicode_type, buf, sizeof(buf), NULL,
	                    NULL, &e) < 0)
		return "<?>";
	const char *n = mst_py_intern(py, buf);
	return n ? n : "<?>";
}

static void lcode_free(struct locals_code *c)
{
	free(c->names);
	free(c->kinds);
	free(c);
}

void mst_py_lcodes_drop(struct mst_py *py)
{
	struct locals_code *c, *tmp;
	HASH_ITER(hh, py->lcodes, c, tmp)
	{
		HASH_DEL(py->lcodes, c);
		lcode_free(c);
	}
	py->nlcodes = 0;
}

static int lcode_alloc(struct locals_code *c, size_t total)
{
	c->total = total;
	c->n = total < SLOTS_MAX ? total : SLOTS_MAX;
	c->names = calloc(c->n ? c->n : 1, sizeof(*c->names));
	c->kinds = calloc(c->n ? c->n : 1, 1);
	return c->names && c->kinds ? 0 : -ENOMEM;
}

/* The names of n str objects (at items) into names; false when one
 * could not be read ("<?>"). */
static bool decode_names(struct mst_py *py, const uint64_t *items, size_t n, const char **names)
{
	bool ok = true;
	for (size_t i = 0; i < n; i++) {
		names[i] = read_name(py, items[i]);
		ok &= strcmp(names[i], "<?>") != 0;
	}
	return ok;
}

/* 3.11+: co_localsplusnames and co_localspluskinds. */
static int lcode_fast(struct mst_py *py, const struct mst_py_frame *f, const uint8_t *hdr,
                      struct locals_code *c, struct mst_err *err)
{
	const struct mst_py_layout *l = &py->lay;
	int64_t total = get_i32(hdr, l->co_nlocalsplus), nn;
	if (total < 0 || total > (1 << 20))
		return mst_err_set(err, -MST_ECORRUPT, "co_nlocalsplus is %" PRId64, total);
	int rc = lcode_alloc(c, (size_t)total);
	uint64_t *items = rc == 0 ? malloc((c->n ? c->n : 1) * 8) : NULL;
	uint8_t *kinds = items ? malloc(c->total ? c->total : 1) : NULL;
	if (!kinds) {
		free(items);
		return mst_err_set(err, -ENOMEM, "out of memory");
	}
	rc = read_tuple(py, c->key[0], items, c->n, &nn);
	if (rc == 0 && nn != total)
		rc = -MST_ECORRUPT;
	if (rc < 0) {
		mst_err_set(err, rc, "cannot read co_localsplusnames of code 0x%" PRIx64, f->code);
		goto out;
	}
	size_t ksize = 0;
	struct mst_err e = {0};
	rc = mst_py_bytes_read(&py->r, c->key[1], py->info.bytes_type, kinds, c->total, &ksize, &e);
	if (rc == 0 && ksize != c->total)
		rc = -MST_ECORRUPT;
	if (rc < 0) {
		mst_err_set(err, rc, "cannot read co_localspluskinds of code 0x%" PRIx64, f->code);
		goto out;
	}
	for (size_t i = 0; i < c->n; i++) {
		uint8_t k = kinds[i];
		c->kinds[i] = l->co_fast_free > 0 && (k & l->co_fast_free)   ? MST_PY_LOCAL_FREE
		              : l->co_fast_cell > 0 && (k & l->co_fast_cell) ? MST_PY_LOCAL_CELL
		                                                             : MST_PY_LOCAL_VAR;
	}
	c->retry = !decode_names(py, items, c->n, c->names);
out:
	free(items);
	free(kinds);
	return rc;
}

/* 3.6-3.10: co_nlocals locals (co_varnames), then a cell per co_cellvars
 * and one per co_freevars, in f_localsplus. */
static int lcode_frame_object(struct mst_py *py, const struct mst_py_frame *f, const uint8_t *hdr,
                              struct locals_code *c, struct mst_err *err)
{
	const struct mst_py_layout *l = &py->lay;
	int64_t nlocals = get_i32(hdr, l->co_nlocals), nvar, ncell, nfree;
	int rc;
	if (nlocals < 0 || nlocals > (1 << 20))
		return mst_err_set(err, -MST_ECORRUPT, "co_nlocals is %" PRId64, nlocals);
	rc = read_tuple(py, c->key[1], NULL, 0, &ncell);
	if (rc == 0)
		rc = read_tuple(py, c->key[2], NULL, 0, &nfree);
	if (rc < 0)
		return mst_err_set(err, rc, "cannot read the cell names of code 0x%" PRIx64,
		                   f->code);
	rc = lcode_alloc(c, (size_t)(nlocals + ncell + nfree));
	uint64_t *items = rc == 0 ? malloc((c->n ? c->n : 1) * 8) : NULL;
	if (!items)
		return mst_err_set(err, -ENOMEM, "out of memory");
	const int64_t counts[3] = {nlocals, ncell, nfree};
	const uint8_t kinds[3] = {MST_PY_LOCAL_VAR, MST_PY_LOCAL_CELL, MST_PY_LOCAL_FREE};
	size_t at = 0;
	for (int t = 0; t < 3 && at < c->n; t++) {
		size_t want = c->n - at < (size_t)counts[t] ? c->n - at : (size_t)counts[t];
		rc = read_tuple(py, c->key[t], items + at, want, &nvar);
		if (rc == 0 && nvar != counts[t])
			rc = -MST_ECORRUPT;
		if (rc < 0) {
			free(items);
			return mst_err_set(err, rc, "cannot read the names of code 0x%" PRIx64,
			                   f->code);
		}
		memset(c->kinds + at, kinds[t], want);
		at += want;
	}
	c->retry = !decode_names(py, items, c->n, c->names);
	free(items);
	c->nlocals = (size_t)nlocals;
	c->ncellvars = (size_t)ncell;
	return 0;
}

/* The names and kinds of code object f->code (its header in hdr): from
 * the cache while it points to the same name tuples, else decoded now. */
static int lcode_get(struct mst_py *py, const struct mst_py_frame *f, const uint8_t *hdr, bool fast,
                     const struct locals_code **out, struct mst_err *err)
{
	const struct mst_py_layout *l = &py->lay;
	uint64_t key[3] = {0, 0, 0};
	if (fast) {
		key[0] = get_u64(hdr, l->co_localsplusnames);
		key[1] = get_u64(hdr, l->co_localspluskinds);
	} else {
		key[0] = get_u64(hdr, l->co_varnames);
		key[1] = get_u64(hdr, l->co_cellvars);
		key[2] = get_u64(hdr, l->co_freevars);
	}
	struct locals_code *c;
	HASH_FIND(hh, py->lcodes, &f->code, sizeof(f->code), c);
	if (c && !c->retry && !memcmp(c->key, key, sizeof(key))) {
		*out = c;
		return 0;
	}
	if (c) {
		HASH_DEL(py->lcodes, c);
		lcode_free(c);
		py->nlcodes--;
	}
	if (py->nlcodes >= LOCALS_CODE_CACHE_MAX)
		mst_py_lcodes_drop(py);
	c = calloc(1, sizeof(*c));
	if (!c)
		return mst_err_set(err, -ENOMEM, "out of memory");
	c->code = f->code;
	memcpy(c->key, key, sizeof(key));
	int rc = fast ? lcode_fast(py, f, hdr, c, err) : lcode_frame_object(py, f, hdr, c, err);
	if (rc < 0) {
		lcode_free(c);
		return rc;
	}
	HASH_ADD(hh, py->lcodes, code, sizeof(c->code), c);
	py->nlcodes++;
	*out = c;
	return 0;
}

static int64_t nargs_of(const struct mst_py_layout *l, const uint8_t *hdr)
{
	int32_t flags = get_i32(hdr, l->co_flags);
	int64_t n = (int64_t)get_i32(hdr, l->co_argcount) + get_i32(hdr, l->co_kwonlyargcount);
	n += (l->co_flag_varargs > 0 && (flags & l->co_flag_varargs)) ? 1 : 0;
	n += (l->co_flag_varkeywords > 0 && (flags & l->co_flag_varkeywords)) ? 1 : 0;
	return n;
}

int mst_py_read_locals(struct mst_py *py, const struct mst_py_frame *f, struct mst_py_locals *out,
                       struct mst_err *err)
{
	const struct mst_py_layout *l = &py->lay;
	struct build b = {.out = out};
	const struct locals_code *lc = NULL;
	uint8_t hdr[CODE_HDR_MAX];
	size_t hlen = 0;
	uint64_t *vals = NULL;
	uint8_t *flags = NULL; /* per slot: 1 a tagged int, 2 consumed */
	int rc;

	struct mst_err local = {0};
	if (!err)
		err = &local;
	mst_py_locals_fini(out);
	py->types_epoch++;
	bool fast = l->co_localsplusnames >= 0;
	fit(&hlen, l->ob_type, 8);
	fit(&hlen, l->co_argcount, 4);
	fit(&hlen, l->co_kwonlyargcount, 4);
	fit(&hlen, l->co_flags, 4);
	if (fast) {
		fit(&hlen, l->co_nlocalsplus, 4);
		fit(&hlen, l->co_localsplusnames, 8);
		fit(&hlen, l->co_localspluskinds, 8);
	} else {
		fit(&hlen, l->co_nlocals, 4);
		fit(&hlen, l->co_varnames, 8);
		fit(&hlen, l->co_cellvars, 8);
		fit(&hlen, l->co_freevars, 8);
	}
	if (hlen > sizeof(hdr) || l->co_argcount < 0 || l->co_kwonlyargcount < 0 ||
	    l->co_flags < 0 ||
	    (fast ? l->co_nlocalsplus < 0 || l->co_localspluskinds < 0 || l->if_localsplus < 0
	          : l->co_nlocals < 0 || l->co_varnames < 0 || l->co_cellvars < 0 ||
	                l->co_freevars < 0 || l->fo_localsplus < 0)) {
		rc = mst_err_set(err, -MST_EUNSUPPORTED, "this CPython's layout lacks the locals");
		goto fail;
	}
	rc = f->code && f->frame ? rd(py, f->code, hdr, hlen) : -EFAULT;
	if (rc < 0) {
		mst_err_set(err, rc, "cannot read code object 0x%" PRIx64, f->code);
		goto fail;
	}
	if (py->info.code_type && get_u64(hdr, l->ob_type) != py->info.code_type) {
		rc = mst_err_set(err, -MST_ECORRUPT, "0x%" PRIx64 " is no longer a code object",
		                 f->code);
		goto fail;
	}
	rc = lcode_get(py, f, hdr, fast, &lc, err);
	if (rc < 0)
		goto fail;
	size_t n = lc->n;
	vals = calloc(n ? n : 1, sizeof(*vals));
	flags = calloc(n ? n : 1, 1);
	if (!vals || !flags) {
		rc = mst_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	rc = n ? rd(py, f->frame + (uint64_t)(fast ? l->if_localsplus : l->fo_localsplus), vals,
	            n * 8)
	       : 0;
	if (rc < 0) {
		mst_err_set(err, rc, "cannot read the locals of frame 0x%" PRIx64, f->frame);
		goto fail;
	}
	/* 3.14+: _PyStackRefs. All tag bits set is an int kept in the word
	 * itself (value << 2); otherwise the tags mark reference kinds. */
	uint64_t tag = (uint64_t)l->stackref_tag_bits;
	for (size_t i = 0; tag && i < n; i++) {
		if (tag == 3 && (vals[i] & tag) == tag) {
			flags[i] = 1;
			vals[i] = (uint64_t)((int64_t)vals[i] >> 2);
		} else {
			vals[i] &= ~tag;
		}
	}
	int64_t na = nargs_of(l, hdr);
	size_t nargs = na < 0 ? 0 : (size_t)na;
	if (!fast && nargs > lc->nlocals)
		nargs = lc->nlocals;
	char repr[MST_PY_REPR_MAX + 1];
	for (size_t i = 0; i < n; i++) {
		struct mst_py_local loc = {.length = -1};
		uint64_t val = vals[i];
		bool arg = i < nargs, unreadable_cell = false, tagged = flags[i] & 1;
		loc.kind = arg ? MST_PY_LOCAL_ARG : (enum mst_py_local_kind)lc->kinds[i];
		loc.cell = arg && lc->kinds[i] == MST_PY_LOCAL_CELL;
		if (flags[i] & 2)
			continue;
		if (val && !tagged && lc->kinds[i] != MST_PY_LOCAL_VAR) {
			/* A cell (or, in 3.11+ before MAKE_CELL ran, already
			 * the value). */
			uint64_t inner;
			int c = mst_py_cell_get(py, val, &inner);
			if (c == 1)
				val = inner;
			unreadable_cell = c < 0;
		}
		if (!val && arg && !fast) {
			/* 3.6-3.10: an argument a closure shares lives in its
			 * cell; its own slot is NULL. */
			for (size_t j = lc->nlocals; j < lc->nlocals + lc->ncellvars && j < n;
			     j++) {
				uint64_t inner;
				if ((flags[j] & 2) || !vals[j] ||
				    strcmp(lc->names[i], lc->names[j]) ||
				    mst_py_cell_get(py, vals[j], &inner) != 1 || !inner)
					continue;
				flags[j] |= 2;
				val = inner;
				loc.cell = true;
				break;
			}
		}
		if (!val && !tagged)
			continue; /* unbound */
		if (out->n >= MST_PY_LOCALS_MAX) {
			out->omitted++;
			continue;
		}
		const char *type = NULL;
		if (tagged) {
			snprintf(repr, sizeof(repr), "%" PRId64, (int64_t)val);
			type = "int";
		} else if (unreadable_cell) {
			snprintf(repr, sizeof(repr), "<unreadable 0x%" PRIx64 ">", val);
		} else {
			struct mst_py_repr_info info;
			mst_py_repr_epoch(py, val, repr, sizeof(repr), &info);
			type = info.type;
			loc.length = info.length;
			loc.truncated = info.truncated;
			loc.addr = val;
		}
		rc = add_local(&b, lc->names[i], repr, type, &loc);
		if (rc < 0) {
			mst_err_set(err, rc, "out of memory");
			goto fail;
		}
	}
	/* Bound slots past SLOTS_MAX are not even read. */
	out->omitted += lc->total - lc->n;
	for (size_t i = 0; i < out->n; i++) {
		out->v[i].name = out->text + b.offs[i][0];
		out->v[i].repr = out->text + b.offs[i][1];
		out->v[i].type = b.offs[i][2] == SIZE_MAX ? NULL : out->text + b.offs[i][2];
	}
	free(b.offs);
	free(vals);
	free(flags);
	return 0;
fail:
	free(b.offs);
	free(vals);
	free(flags);
	mst_py_locals_fini(out);
	out->error = rc;
	snprintf(out->msg, sizeof(out->msg), "%s", err->msg);
	return rc;
}
