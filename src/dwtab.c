/* Compact per-unit line and scope tables (see dwtab.h for why). */
#include "dwtab-int.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A line row: the answer from its address (base + off) up to the next
 * row's. Its file, in a parallel array, indexes the unit's files; NO_FILE
 * marks the end of a sequence (no answer there), ANON_FILE a row without
 * a file. Addresses are kept as 32-bit offsets from the unit's lowest one:
 * a row costs 10 bytes, and libpython 3.13 has half a million of them. */
#define NO_FILE UINT16_MAX
#define ANON_FILE (UINT16_MAX - 1)
struct row {
	uint32_t off;
	int32_t line;
};

/* A function or an inlined call with code. */
struct node {
	const char *name;
	const char *call_file;
	int32_t call_line;
	int32_t parent; /* the node around it, -1 at the top */
	bool inlined;
};

/* From base + off up to the next segment, node is the innermost holder
 * (-1: none). */
struct seg {
	uint32_t off;
	int32_t node;
};

struct unit {
	Dwarf_Off off; /* of the unit's DIE: which unit this is, across restarts */
	uint64_t base; /* the lowest address of its code */
	const char **files;
	size_t nfiles;
	struct row *rows;
	uint16_t *rfile; /* each row's file */
	size_t nrows;
	struct node *nodes;
	size_t nnodes;
	struct seg *segs;
	size_t nsegs;
};

/* An address range of a unit, for finding the unit without libdw. */
struct span {
	uint64_t lo, hi;
	uint32_t unit;
};

struct mst_dwtab {
	struct mst_dwtab_strings str;
	struct unit *units;
	size_t nunits, capunits;
	struct span *spans;
	size_t nspans, capspans;
	uint64_t rows_read;
	uint64_t searches;
	size_t bytes;
};

/* Bounds on what one unit may hold: a corrupt file must not make us walk
 * or allocate without end. */
#define MAX_DEPTH 64
#define MAX_NODES (1u << 22)
/* Segments painted per unit: nesting is shallow in real code (libpython
 * 3.13's largest unit needs about a million), a corrupt file must not make
 * it quadratic. */
#define MAX_PAINT (64u << 20)

struct mst_dwtab *mst_dwtab_new(const struct mst_dwtab_strings *str)
{
	struct mst_dwtab *t = calloc(1, sizeof(*t));
	if (t)
		t->str = *str;
	return t;
}

static void unit_free(struct unit *u)
{
	free(u->files);
	free(u->rows);
	free(u->rfile);
	free(u->nodes);
	free(u->segs);
}

void mst_dwtab_free(struct mst_dwtab *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nunits; i++)
		unit_free(&t->units[i]);
	free(t->units);
	free(t->spans);
	free(t);
}

uint64_t mst_dwtab_rows_read(const struct mst_dwtab *t)
{
	return t->rows_read;
}

size_t mst_dwtab_units(const struct mst_dwtab *t)
{
	return t->nunits;
}

uint64_t mst_dwtab_searches(const struct mst_dwtab *t)
{
	return t->searches;
}

size_t mst_dwtab_bytes(const struct mst_dwtab *t)
{
	return t->bytes + t->capunits * sizeof(t->units[0]) + t->capspans * sizeof(t->spans[0]);
}

/* path with "//", "/./" and "/x/../" collapsed, into out (cap bytes):
 * its length. */
static size_t normalize(const char *path, char *out, size_t cap)
{
	size_t o = 0;
	for (const char *p = path; *p;) {
		while (*p == '/')
			p++;
		const char *e = p + strcspn(p, "/");
		size_t len = (size_t)(e - p);
		if (len == 0)
			break;
		if (len == 1 && p[0] == '.') {
			/* skip */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
		} else if (o + len + 2 < cap) {
			out[o++] = '/';
			memcpy(out + o, p, len);
			o += len;
		}
		p = e;
	}
	out[o] = '\0';
	return o;
}

/* DWARF records source names relative to the compilation directory
 * ("../tests/x.c" from a meson build dir, "Objects/obmalloc.c" from
 * CPython's build tree): join and normalize them so the path shown is the
 * one a user can open, and say where the part under the build tree starts
 * (the short form the screen shows). */
static const char *source_path(const struct mst_dwtab *t, Dwarf_Die *cudie, const char *file)
{
	if (!file)
		return NULL;
	if (!cudie)
		return t->str.intern(t->str.ctx, file);
	Dwarf_Attribute attr;
	const char *dir = dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &attr));
	char buf[4096], out[4096], root[4096];
	if (file[0] == '/') {
		/* Already absolute (CPython's setup.py builds name their
		 * extensions' files so): the short form is still what lies
		 * under the build tree. */
		const char *s = t->str.intern(t->str.ctx, file);
		size_t r = dir && dir[0] == '/' ? normalize(dir, root, sizeof(root)) : 0;
		if (s && t->str.short_at && r && strlen(file) > r + 1 && !strncmp(file, root, r) &&
		    file[r] == '/')
			t->str.short_at(t->str.ctx, s, r + 1);
		return s;
	}
	if (!dir || dir[0] != '/')
		return t->str.intern(t->str.ctx, file);
	snprintf(buf, sizeof(buf), "%s/%s", dir, file);
	size_t o = normalize(buf, out, sizeof(out));
	const char *s = t->str.intern(t->str.ctx, o ? out : "/");
	size_t r = normalize(dir, root, sizeof(root));
	if (s && t->str.short_at && r && o > r + 1 && !strncmp(out, root, r) && out[r] == '/')
		t->str.short_at(t->str.ctx, s, r + 1);
	return s;
}

/* The name of a function DIE: the linkage name (demangled, so C++ shows its
 * scope), else the plain name, following abstract origins. */
static const char *die_name(const struct mst_dwtab *t, Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
	if (!n)
		n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
	if (!n)
		n = dwarf_diename(die);
	return n ? t->str.intern_name(t->str.ctx, n) : NULL;
}

/* The unit's file idx as a path, made on first use. */
static const char *unit_file(const struct mst_dwtab *t, struct unit *u, Dwarf_Die *cudie,
                             Dwarf_Files *files, size_t idx)
{
	if (idx >= u->nfiles)
		return NULL;
	if (!u->files[idx])
		u->files[idx] = source_path(t, cudie, dwarf_filesrc(files, idx, NULL, NULL));
	return u->files[idx];
}

/* --- line rows ----------------------------------------------------------- */

/* The lowest address of the unit's code: of its ranges and its rows. */
static uint64_t unit_base(Dwarf_Die *cudie, Dwarf_Lines *lines, size_t nlines)
{
	uint64_t lowest = UINT64_MAX;
	Dwarf_Addr base, lo, hi, addr;
	for (ptrdiff_t o = dwarf_ranges(cudie, 0, &base, &lo, &hi); o > 0;
	     o = dwarf_ranges(cudie, o, &base, &lo, &hi))
		if (hi > lo && lo < lowest)
			lowest = lo;
	/* libdw sorts the rows by address. */
	if (nlines && dwarf_lineaddr(dwarf_onesrcline(lines, 0), &addr) == 0 && addr < lowest)
		lowest = addr;
	return lowest == UINT64_MAX ? 0 : lowest;
}

static int read_rows(struct mst_dwtab *t, struct unit *u, Dwarf_Die *cudie)
{
	Dwarf_Files *files;
	size_t nfiles;
	Dwarf_Lines *lines = NULL;
	size_t nlines = 0;
	if (dwarf_getsrcfiles(cudie, &files, &nfiles) != 0 ||
	    dwarf_getsrclines(cudie, &lines, &nlines) != 0 || nlines == 0) {
		u->base = unit_base(cudie, NULL, 0);
		return 0;
	}
	u->base = unit_base(cudie, lines, nlines);
	t->rows_read += nlines;
	u->files = calloc(nfiles, sizeof(u->files[0]));
	u->rows = malloc(nlines * sizeof(u->rows[0]));
	u->rfile = malloc(nlines * sizeof(u->rfile[0]));
	if (!u->files || !u->rows || !u->rfile)
		return -ENOMEM;
	u->nfiles = nfiles;
	size_t n = 0;
	for (size_t i = 0; i < nlines; i++) {
		Dwarf_Line *l = dwarf_onesrcline(lines, i);
		Dwarf_Addr addr;
		bool end = false;
		int lineno = 0;
		Dwarf_Files *lf;
		size_t idx = NO_FILE;
		if (!l || dwarf_lineaddr(l, &addr) != 0 || addr < u->base ||
		    addr - u->base > UINT32_MAX)
			continue;
		dwarf_lineendsequence(l, &end);
		if (!end) {
			dwarf_lineno(l, &lineno);
			if (dwarf_line_file(l, &lf, &idx) != 0 || lf != files || idx >= nfiles ||
			    idx >= ANON_FILE)
				idx = ANON_FILE;
		}
		uint16_t file = end ? NO_FILE : (uint16_t)idx;
		int32_t line = end ? 0 : lineno;
		/* A row that gives what the one before gives adds nothing:
		 * the answer is the last row at or below an address. */
		if (n > 0 && !end && u->rfile[n - 1] == file && u->rows[n - 1].line == line)
			continue;
		u->rows[n] = (struct row){.off = (uint32_t)(addr - u->base), .line = line};
		u->rfile[n++] = file;
	}
	struct row *shrunk = realloc(u->rows, (n ? n : 1) * sizeof(u->rows[0]));
	if (shrunk)
		u->rows = shrunk;
	uint16_t *fshrunk = realloc(u->rfile, (n ? n : 1) * sizeof(u->rfile[0]));
	if (fshrunk)
		u->rfile = fshrunk;
	u->nrows = n;
	/* Name every file the rows use now, while libdw has the unit. */
	for (size_t i = 0; i < n; i++)
		if (u->rfile[i] < nfiles)
			unit_file(t, u, cudie, files, u->rfile[i]);
	t->bytes += n * (sizeof(u->rows[0]) + sizeof(u->rfile[0])) + nfiles * sizeof(u->files[0]);
	return 0;
}

/* dwfl_module_getsrc's answer: the last row at or below a, unless that one
 * ends a sequence. */
/* How many of the n items (each starting with its uint32_t offset, stride
 * bytes apart, sorted by it) start at or below address a of unit u; 0 when
 * a is outside the unit. Rows and segments are both searched this way. */
static size_t count_at_or_below(const struct unit *u, const void *items, size_t n, size_t stride,
                                uint64_t a)
{
	if (a < u->base || a - u->base > UINT32_MAX)
		return 0;
	uint32_t off = (uint32_t)(a - u->base);
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t at;
		memcpy(&at, (const char *)items + mid * stride, sizeof(at));
		if (at <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static ptrdiff_t find_row(const struct unit *u, uint64_t a)
{
	size_t k = count_at_or_below(u, u->rows, u->nrows, sizeof(u->rows[0]), a);
	if (k == 0 || u->rfile[k - 1] == NO_FILE)
		return -1;
	return (ptrdiff_t)k - 1;
}

/* --- scopes -------------------------------------------------------------- */

struct range {
	uint64_t lo, hi;
	int32_t node;
	uint32_t depth;
};

struct walk {
	struct mst_dwtab *t;
	struct unit *u;
	Dwarf_Die *cudie;
	Dwarf_Files *files;
	size_t nfiles;
	struct node *nodes;
	size_t nnodes, capnodes;
	struct range *ranges;
	size_t nranges, capranges;
	bool nomem;
};

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return true;
	size_t c = *cap ? *cap * 2 : 64;
	while (c < need)
		c *= 2;
	void *n = realloc(*p, c * size);
	if (!n)
		return false;
	*p = n;
	*cap = c;
	return true;
}

/* Tags whose children may hold code. */
static bool may_hold_code(int tag)
{
	switch (tag) {
	case DW_TAG_subprogram:
	case DW_TAG_inlined_subroutine:
	case DW_TAG_lexical_block:
	case DW_TAG_try_block:
	case DW_TAG_catch_block:
	case DW_TAG_namespace:
	case DW_TAG_module:
	case DW_TAG_class_type:
	case DW_TAG_structure_type:
	case DW_TAG_union_type:
		return true;
	default:
		return false;
	}
}

static void walk_children(struct walk *w, Dwarf_Die *parent, int32_t pnode, uint32_t depth);

static void walk_die(struct walk *w, Dwarf_Die *die, int32_t pnode, uint32_t depth)
{
	int tag = dwarf_tag(die);
	if (!may_hold_code(tag))
		return;
	int32_t me = pnode;
	if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
		Dwarf_Addr base, lo, hi;
		ptrdiff_t off = dwarf_ranges(die, 0, &base, &lo, &hi);
		if (off <= 0)
			return; /* a declaration or an abstract instance: no code */
		if (w->nnodes >= MAX_NODES ||
		    !grow((void **)&w->nodes, &w->capnodes, w->nnodes + 1, sizeof(w->nodes[0]))) {
			w->nomem = w->nnodes < MAX_NODES;
			return;
		}
		me = (int32_t)w->nnodes++;
		struct node *n = &w->nodes[me];
		*n = (struct node){.name = die_name(w->t, die),
		                   .parent = pnode,
		                   .inlined = tag == DW_TAG_inlined_subroutine};
		if (n->inlined) {
			Dwarf_Attribute attr;
			Dwarf_Word v;
			if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &v) == 0 &&
			    w->files)
				n->call_file = unit_file(w->t, w->u, w->cudie, w->files, (size_t)v);
			if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &v) == 0)
				n->call_line = (int32_t)v;
		}
		for (; off > 0; off = dwarf_ranges(die, off, &base, &lo, &hi)) {
			if (hi <= lo)
				continue;
			if (!grow((void **)&w->ranges, &w->capranges, w->nranges + 1,
			          sizeof(w->ranges[0]))) {
				w->nomem = true;
				return;
			}
			w->ranges[w->nranges++] =
			    (struct range){.lo = lo, .hi = hi, .node = me, .depth = depth};
		}
	}
	if (depth < MAX_DEPTH)
		walk_children(w, die, me, depth + 1);
}

static void walk_children(struct walk *w, Dwarf_Die *parent, int32_t pnode, uint32_t depth)
{
	Dwarf_Die child;
	if (dwarf_child(parent, &child) != 0)
		return;
	do
		walk_die(w, &child, pnode, depth);
	while (!w->nomem && dwarf_siblingof(&child, &child) == 0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static int cmp_depth(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	if (x->depth != y->depth)
		return (x->depth > y->depth) - (x->depth < y->depth);
	return (x->node > y->node) - (x->node < y->node);
}

static size_t lower_bound(const uint64_t *v, size_t n, uint64_t x)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Flatten the nested ranges: between two consecutive range ends, the
 * deepest range that covers the piece names the innermost node. */
static int make_segs(struct walk *w)
{
	struct unit *u = w->u;
	size_t nb = 0;
	uint64_t *b = malloc((2 * w->nranges + 1) * sizeof(*b));
	int32_t *owner = NULL;
	if (!b)
		return -ENOMEM;
	/* Offsets from the unit's base: a range outside its 4 GB is dropped. */
	size_t kept = 0;
	for (size_t i = 0; i < w->nranges; i++) {
		struct range r = w->ranges[i];
		if (r.lo < u->base)
			r.lo = u->base;
		if (r.hi > u->base + UINT32_MAX)
			r.hi = u->base + UINT32_MAX;
		if (r.hi <= r.lo)
			continue;
		w->ranges[kept++] = r;
		b[nb++] = r.lo;
		b[nb++] = r.hi;
	}
	w->nranges = kept;
	qsort(b, nb, sizeof(*b), cmp_u64);
	size_t k = 0;
	for (size_t i = 0; i < nb; i++)
		if (k == 0 || b[i] != b[k - 1])
			b[k++] = b[i];
	nb = k;
	owner = malloc((nb ? nb : 1) * sizeof(*owner));
	if (!owner) {
		free(b);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nb; i++)
		owner[i] = -1;
	/* Outer ranges first, so that inner ones paint over them. */
	if (w->nranges > 1) /* a unit without ranges has no array at all */
		qsort(w->ranges, w->nranges, sizeof(w->ranges[0]), cmp_depth);
	size_t work = 0;
	for (size_t i = 0; i < w->nranges && work < MAX_PAINT; i++)
		for (size_t j = lower_bound(b, nb, w->ranges[i].lo);
		     j < nb && b[j] < w->ranges[i].hi && work < MAX_PAINT; j++, work++)
			owner[j] = w->ranges[i].node;
	size_t n = 0;
	for (size_t i = 0; i < nb; i++)
		if (i == 0 || owner[i] != owner[i - 1])
			n++;
	u->segs = malloc((n ? n : 1) * sizeof(u->segs[0]));
	if (!u->segs) {
		free(b);
		free(owner);
		return -ENOMEM;
	}
	n = 0;
	for (size_t i = 0; i < nb; i++)
		if (n == 0 || owner[i] != u->segs[n - 1].node)
			u->segs[n++] =
			    (struct seg){.off = (uint32_t)(b[i] - u->base), .node = owner[i]};
	u->nsegs = n;
	free(b);
	free(owner);
	return 0;
}

static int read_scopes(struct mst_dwtab *t, struct unit *u, Dwarf_Die *cudie)
{
	struct walk w = {.t = t, .u = u, .cudie = cudie};
	if (dwarf_getsrcfiles(cudie, &w.files, &w.nfiles) != 0)
		w.files = NULL;
	/* read_rows sized the file names for the line table's files; an
	 * inlined call may name a file only the scopes use. */
	if (w.files && w.nfiles > u->nfiles) {
		const char **f = realloc(u->files, w.nfiles * sizeof(f[0]));
		if (!f)
			return -ENOMEM;
		memset(f + u->nfiles, 0, (w.nfiles - u->nfiles) * sizeof(f[0]));
		t->bytes += (w.nfiles - u->nfiles) * sizeof(f[0]);
		u->files = f;
		u->nfiles = w.nfiles;
	}
	walk_children(&w, cudie, -1, 0);
	int rc = w.nomem ? -ENOMEM : make_segs(&w);
	free(w.ranges);
	if (rc < 0) {
		free(w.nodes);
		return rc;
	}
	struct node *shrunk = realloc(w.nodes, (w.nnodes ? w.nnodes : 1) * sizeof(w.nodes[0]));
	u->nodes = shrunk ? shrunk : w.nodes;
	u->nnodes = w.nnodes;
	t->bytes += u->nnodes * sizeof(u->nodes[0]) + u->nsegs * sizeof(u->segs[0]);
	return 0;
}

static const struct node *find_node(const struct unit *u, uint64_t a)
{
	size_t k = count_at_or_below(u, u->segs, u->nsegs, sizeof(u->segs[0]), a);
	if (k == 0 || u->segs[k - 1].node < 0)
		return NULL;
	return &u->nodes[u->segs[k - 1].node];
}

/* --- units --------------------------------------------------------------- */

static int add_span(struct mst_dwtab *t, uint64_t lo, uint64_t hi, uint32_t unit)
{
	if (hi <= lo)
		return 0;
	if (!grow((void **)&t->spans, &t->capspans, t->nspans + 1, sizeof(t->spans[0])))
		return -ENOMEM;
	size_t i = t->nspans;
	while (i > 0 && t->spans[i - 1].lo > lo) {
		t->spans[i] = t->spans[i - 1];
		i--;
	}
	t->spans[i] = (struct span){.lo = lo, .hi = hi, .unit = unit};
	t->nspans++;
	return 0;
}

static struct unit *find_span(const struct mst_dwtab *t, uint64_t a)
{
	size_t lo = 0, hi = t->nspans;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->spans[mid].lo <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Spans of different units do not overlap in sane DWARF; look back a
	 * little in case they do. */
	for (size_t i = lo, k = 0; i > 0 && k < 4; i--, k++)
		if (a >= t->spans[i - 1].lo && a < t->spans[i - 1].hi)
			return &t->units[t->spans[i - 1].unit];
	return NULL;
}

/* Read the unit of main_cu into the tables. It is read through a Dwarf of
 * our own on the same ELF data, ended right after: libdw's memory for the
 * unit (its parsed line table, abbreviations, ranges) goes with it, where
 * libdwfl's Dwarf would keep it until libdwfl ends. */
static struct unit *read_unit(struct mst_dwtab *t, Dwarf *main_dw, Dwarf_Die *main_cu, int *rc)
{
	Dwarf_Off off = dwarf_dieoffset(main_cu);
	for (size_t i = 0; i < t->nunits; i++)
		if (t->units[i].off == off)
			return &t->units[i];
	if (!grow((void **)&t->units, &t->capunits, t->nunits + 1, sizeof(t->units[0]))) {
		*rc = -ENOMEM;
		return NULL;
	}
	Dwarf *own = dwarf_begin_elf(dwarf_getelf(main_dw), DWARF_C_READ, NULL);
	Dwarf_Die own_cu, *cudie = main_cu;
	if (own) {
		/* dwz's shared part (.gnu_debugaltlink), as libdwfl found it. */
		Dwarf *alt = dwarf_getalt(main_dw);
		if (alt)
			dwarf_setalt(own, alt);
		if (dwarf_offdie(own, off, &own_cu))
			cudie = &own_cu;
	}
	uint64_t before = t->rows_read;
	struct unit *u = &t->units[t->nunits];
	*u = (struct unit){.off = off};
	if ((*rc = read_rows(t, u, cudie)) < 0 || (*rc = read_scopes(t, u, cudie)) < 0) {
		unit_free(u);
		u = NULL;
	}
	/* Rows parsed by our own Dwarf are gone with it. */
	if (cudie == &own_cu)
		t->rows_read = before;
	uint32_t idx = (uint32_t)t->nunits;
	Dwarf_Addr base, lo, hi;
	bool any = false;
	if (u) {
		t->nunits++;
		for (ptrdiff_t o = dwarf_ranges(cudie, 0, &base, &lo, &hi); o > 0 && *rc == 0;
		     o = dwarf_ranges(cudie, o, &base, &lo, &hi)) {
			*rc = add_span(t, lo, hi, idx);
			any = true;
		}
	}
	if (own)
		dwarf_end(own);
	if (!u || *rc < 0)
		return NULL;
	/* A unit without ranges: its line sequences say where its code is. */
	for (size_t i = 0, start = 0; !any && i < u->nrows; i++)
		if (u->rfile[i] == NO_FILE) {
			if ((*rc = add_span(t, u->base + u->rows[start].off,
			                    u->base + u->rows[i].off, idx)) < 0)
				return NULL;
			start = i + 1;
		}
	return u;
}

int mst_dwtab_lookup(struct mst_dwtab *t, Dwfl_Module *mod, uint64_t addr,
                     struct mst_dwtab_pos *pos)
{
	memset(pos, 0, offsetof(struct mst_dwtab_pos, inl));
	Dwarf_Addr bias = 0;
	Dwarf *dw = dwfl_module_getdwarf(mod, &bias);
	if (!dw)
		return 0;
	uint64_t a = addr - bias;
	struct unit *u = find_span(t, a);
	if (!u) {
		t->searches++;
		Dwarf_Addr b2;
		Dwarf_Die *cudie = dwfl_module_addrdie(mod, addr, &b2);
		if (!cudie)
			return 0;
		int rc = 0;
		u = read_unit(t, dw, cudie, &rc);
		if (!u)
			return rc;
	}
	ptrdiff_t r = find_row(u, a);
	if (r >= 0) {
		pos->file = u->rfile[r] < u->nfiles ? u->files[u->rfile[r]] : NULL;
		pos->line = u->rows[r].line;
	}
	/* Inlined calls from the innermost out; the chain stops at the
	 * function they were inlined into. */
	const struct node *chain[MST_DWTAB_MAX_INLINE];
	size_t n = 0;
	const struct node *nd = find_node(u, a);
	for (size_t guard = 0; nd && guard < MAX_DEPTH; guard++) {
		if (!nd->inlined) {
			pos->func = nd->name;
			break;
		}
		if (n < MST_DWTAB_MAX_INLINE)
			chain[n++] = nd;
		nd = nd->parent >= 0 ? &u->nodes[nd->parent] : NULL;
	}
	pos->ninl = n;
	for (size_t i = 0; i < n; i++) {
		const struct node *c = chain[n - 1 - i];
		pos->inl[i] = (struct mst_dwtab_inline){
		    .func = c->name, .call_file = c->call_file, .call_line = c->call_line};
	}
	return 1;
}
