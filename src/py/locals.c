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

static void read_name(struct mst_py *py, uint64_t s, char *buf, size_t len)
{
	struct mst_err e = {0};
	if (mst_py_str_read(&py->r, &py->str, s, py->info.unicode_type, buf, len, NULL, NULL, &e) <
	    0)
		snprintf(buf, len, "<?>");
}

/* What the slots of a frame are. */
struct frame_slots {
	size_t n;         /* slots read */
	size_t total;     /* slots the code object declares */
	size_t nargs;     /* the first nargs are arguments */
	uint64_t *names;  /* name str per slot */
	uint8_t *kinds;   /* MST_PY_LOCAL_VAR/CELL/FREE per slot */
	uint64_t *vals;   /* what the slot holds (still a cell for CELL/FREE) */
	uint8_t *tagged;  /* 3.14+: the slot holds a tagged int, vals = value */
	size_t ncellvars; /* 3.6-3.10: cells start at nlocals */
	size_t nlocals;
};

static void slots_free(struct frame_slots *s)
{
	free(s->names);
	free(s->kinds);
	free(s->vals);
	free(s->tagged);
}

static int slots_alloc(struct frame_slots *s, size_t n)
{
	s->names = calloc(n ? n : 1, sizeof(*s->names));
	s->kinds = calloc(n ? n : 1, 1);
	s->vals = calloc(n ? n : 1, sizeof(*s->vals));
	s->tagged = calloc(n ? n : 1, 1);
	return s->names && s->kinds && s->vals && s->tagged ? 0 : -ENOMEM;
}

static int64_t nargs_of(const struct mst_py_layout *l, const uint8_t *hdr)
{
	int32_t flags = get_i32(hdr, l->co_flags);
	int64_t n = (int64_t)get_i32(hdr, l->co_argcount) + get_i32(hdr, l->co_kwonlyargcount);
	n += (l->co_flag_varargs > 0 && (flags & l->co_flag_varargs)) ? 1 : 0;
	n += (l->co_flag_varkeywords > 0 && (flags & l->co_flag_varkeywords)) ? 1 : 0;
	return n;
}

/* 3.11+: co_localsplusnames and co_localspluskinds over localsplus. */
static int slots_fast(struct mst_py *py, const struct mst_py_frame *f, const uint8_t *hdr,
                      struct frame_slots *s, struct mst_err *err)
{
	const struct mst_py_layout *l = &py->lay;
	int64_t total = get_i32(hdr, l->co_nlocalsplus), nn;
	if (total < 0 || total > (1 << 20))
		return mst_err_set(err, -MST_ECORRUPT, "co_nlocalsplus is %" PRId64, total);
	s->total = (size_t)total;
	s->n = s->total < SLOTS_MAX ? s->total : SLOTS_MAX;
	int rc = slots_alloc(s, s->n);
	if (rc < 0)
		return mst_err_set(err, rc, "out of memory");
	rc = read_tuple(py, get_u64(hdr, l->co_localsplusnames), s->names, s->n, &nn);
	if (rc == 0 && nn != total)
		rc = -MST_ECORRUPT;
	if (rc < 0)
		return mst_err_set(err, rc, "cannot read co_localsplusnames of code 0x%" PRIx64,
		                   f->code);
	uint8_t *kinds = malloc(s->n ? s->n : 1);
	size_t ksize = 0;
	struct mst_err e = {0};
	rc = kinds ? mst_py_bytes_read(&py->r, get_u64(hdr, l->co_localspluskinds),
	                               py->info.bytes_type, kinds, s->n, &ksize, &e)
	           : -ENOMEM;
	/* More kinds than slots read: only the first are wanted. */
	if (rc == -ENOBUFS && ksize == s->total && s->total > s->n) {
		free(kinds);
		kinds = malloc(s->total);
		rc = kinds ? mst_py_bytes_read(&py->r, get_u64(hdr, l->co_localspluskinds),
		                               py->info.bytes_type, kinds, s->total, &ksize, &e)
		           : -ENOMEM;
	}
	if (rc == 0 && ksize != s->total)
		rc = -MST_ECORRUPT;
	if (rc < 0) {
		free(kinds);
		return mst_err_set(err, rc, "cannot read co_localspluskinds of code 0x%" PRIx64,
		                   f->code);
	}
	for (size_t i = 0; i < s->n; i++) {
		uint8_t k = kinds[i];
		s->kinds[i] = l->co_fast_free > 0 && (k & l->co_fast_free)   ? MST_PY_LOCAL_FREE
		              : l->co_fast_cell > 0 && (k & l->co_fast_cell) ? MST_PY_LOCAL_CELL
		                                                             : MST_PY_LOCAL_VAR;
	}
	free(kinds);
	rc = s->n ? rd(py, f->frame + (uint64_t)l->if_localsplus, s->vals, s->n * 8) : 0;
	if (rc < 0)
		return mst_err_set(err, rc, "cannot read the locals of frame 0x%" PRIx64, f->frame);
	/* 3.14+: _PyStackRefs. All tag bits set is an int kept in the word
	 * itself (value << 2); otherwise the tags mark reference kinds. */
	uint64_t tag = (uint64_t)l->stackref_tag_bits;
	for (size_t i = 0; tag && i < s->n; i++) {
		if ((s->vals[i] & tag) == tag && tag == 3) {
			s->tagged[i] = 1;
			s->vals[i] = (uint64_t)((int64_t)s->vals[i] >> 2);
		} else {
			s->vals[i] &= ~tag;
		}
	}
	int64_t na = nargs_of(l, hdr);
	s->nargs = na < 0 ? 0 : (size_t)na > s->n ? s->n : (size_t)na;
	return 0;
}

/* 3.6-3.10: co_nlocals locals (co_varnames), then a cell per co_cellvars
 * and one per co_freevars, in f_localsplus. */
static int slots_frame_object(struct mst_py *py, const struct mst_py_frame *f, const uint8_t *hdr,
                              struct frame_slots *s, struct mst_err *err)
{
	const struct mst_py_layout *l = &py->lay;
	int64_t nlocals = get_i32(hdr, l->co_nlocals), nvar, ncell, nfree;
	int rc;
	if (nlocals < 0 || nlocals > (1 << 20))
		return mst_err_set(err, -MST_ECORRUPT, "co_nlocals is %" PRId64, nlocals);
	/* The three name tuples, each into its part of one array. */
	rc = read_tuple(py, get_u64(hdr, l->co_cellvars), NULL, 0, &ncell);
	if (rc == 0)
		rc = read_tuple(py, get_u64(hdr, l->co_freevars), NULL, 0, &nfree);
	if (rc < 0)
		return mst_err_set(err, rc, "cannot read the cell names of code 0x%" PRIx64,
		                   f->code);
	s->total = (size_t)(nlocals + ncell + nfree);
	s->n = s->total < SLOTS_MAX ? s->total : SLOTS_MAX;
	rc = slots_alloc(s, s->n);
	if (rc < 0)
		return mst_err_set(err, rc, "out of memory");
	const uint64_t tuples[3] = {get_u64(hdr, l->co_varnames), get_u64(hdr, l->co_cellvars),
	                            get_u64(hdr, l->co_freevars)};
	const int64_t counts[3] = {nlocals, ncell, nfree};
	const uint8_t kinds[3] = {MST_PY_LOCAL_VAR, MST_PY_LOCAL_CELL, MST_PY_LOCAL_FREE};
	size_t at = 0;
	for (int t = 0; t < 3 && at < s->n; t++) {
		size_t want = s->n - at < (size_t)counts[t] ? s->n - at : (size_t)counts[t];
		rc = read_tuple(py, tuples[t], s->names + at, want, &nvar);
		if (rc == 0 && nvar != counts[t])
			rc = -MST_ECORRUPT;
		if (rc < 0)
			return mst_err_set(err, rc, "cannot read the names of code 0x%" PRIx64,
			                   f->code);
		memset(s->kinds + at, kinds[t], want);
		at += want;
	}
	rc = s->n ? rd(py, f->frame + (uint64_t)l->fo_localsplus, s->vals, s->n * 8) : 0;
	if (rc < 0)
		return mst_err_set(err, rc, "cannot read the locals of frame 0x%" PRIx64, f->frame);
	s->nlocals = (size_t)nlocals;
	s->ncellvars = (size_t)ncell;
	int64_t na = nargs_of(l, hdr);
	s->nargs = na < 0 ? 0 : (size_t)na > (size_t)nlocals ? (size_t)nlocals : (size_t)na;
	return 0;
}

int mst_py_read_locals(struct mst_py *py, const struct mst_py_frame *f, struct mst_py_locals *out,
                       struct mst_err *err)
{
	const struct mst_py_layout *l = &py->lay;
	struct build b = {.out = out};
	struct frame_slots s = {0};
	uint8_t hdr[CODE_HDR_MAX];
	size_t hlen = 0;
	bool *consumed = NULL;
	int rc;

	struct mst_err local = {0};
	if (!err)
		err = &local;
	mst_py_locals_fini(out);
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
	rc = fast ? slots_fast(py, f, hdr, &s, err) : slots_frame_object(py, f, hdr, &s, err);
	if (rc < 0)
		goto fail;
	consumed = calloc(s.n ? s.n : 1, 1);
	if (!consumed) {
		rc = mst_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	char name[NAME_MAX_BYTES], other[NAME_MAX_BYTES], repr[MST_PY_REPR_MAX + 1];
	for (size_t i = 0; i < s.n; i++) {
		struct mst_py_local loc = {.length = -1};
		uint64_t val = s.vals[i];
		bool arg = i < s.nargs, unreadable_cell = false;
		loc.kind = arg ? MST_PY_LOCAL_ARG : (enum mst_py_local_kind)s.kinds[i];
		loc.cell = arg && s.kinds[i] == MST_PY_LOCAL_CELL;
		if (consumed[i])
			continue;
		if (val && !s.tagged[i] && s.kinds[i] != MST_PY_LOCAL_VAR) {
			/* A cell (or, in 3.11+ before MAKE_CELL ran, already
			 * the value). */
			uint64_t inner;
			int c = mst_py_cell_get(py, val, &inner);
			if (c == 1)
				val = inner;
			unreadable_cell = c < 0;
		}
		bool named = false;
		if (!val && arg && !fast) {
			/* 3.6-3.10: an argument a closure shares lives in its
			 * cell; its own slot is NULL. */
			read_name(py, s.names[i], name, sizeof(name));
			named = true;
			for (size_t j = s.nlocals; j < s.nlocals + s.ncellvars && j < s.n; j++) {
				if (consumed[j] || !s.vals[j])
					continue;
				read_name(py, s.names[j], other, sizeof(other));
				uint64_t inner;
				if (!strcmp(name, other) &&
				    mst_py_cell_get(py, s.vals[j], &inner) == 1 && inner) {
					consumed[j] = 1;
					val = inner;
					loc.cell = true;
					break;
				}
			}
		}
		if (!val && !s.tagged[i])
			continue; /* unbound */
		if (out->n >= MST_PY_LOCALS_MAX) {
			out->omitted++;
			continue;
		}
		if (!named)
			read_name(py, s.names[i], name, sizeof(name));
		const char *type = NULL;
		if (s.tagged[i]) {
			snprintf(repr, sizeof(repr), "%" PRId64, (int64_t)val);
			type = "int";
		} else if (unreadable_cell) {
			snprintf(repr, sizeof(repr), "<unreadable 0x%" PRIx64 ">", val);
		} else {
			struct mst_py_repr_info info;
			mst_py_repr(py, val, repr, sizeof(repr), &info);
			type = info.type;
			loc.length = info.length;
			loc.truncated = info.truncated;
			loc.addr = val;
		}
		rc = add_local(&b, name, repr, type, &loc);
		if (rc < 0) {
			mst_err_set(err, rc, "out of memory");
			goto fail;
		}
	}
	/* Bound slots past SLOTS_MAX are not even read. */
	out->omitted += s.total - s.n;
	for (size_t i = 0; i < out->n; i++) {
		out->v[i].name = out->text + b.offs[i][0];
		out->v[i].repr = out->text + b.offs[i][1];
		out->v[i].type = b.offs[i][2] == SIZE_MAX ? NULL : out->text + b.offs[i][2];
	}
	free(b.offs);
	free(consumed);
	slots_free(&s);
	return 0;
fail:
	free(b.offs);
	free(consumed);
	slots_free(&s);
	mst_py_locals_fini(out);
	out->error = rc;
	snprintf(out->msg, sizeof(out->msg), "%s", err->msg);
	return rc;
}
