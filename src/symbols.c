/* Native symbolization with libdwfl, in the manner of eu-stack: the module
 * for an address, its ELF symbol for the enclosing function, DWARF scopes
 * for inlined calls and the line table for file:line. Answers are cached per
 * looked-up address, and strings are interned, so a hot address costs one
 * hash lookup. */
#include "msttop/symbols.h"

#include "msttop/debugcache.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <libiberty/demangle.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define MAX_INLINE 16
/* Addresses remembered before the caches start over. The sampler sees a new
 * innermost pc with nearly every sample of hot code: without a bound the
 * cache grows for as long as it runs. Strings stay interned across a reset. */
#define CACHE_MAX 8192
/* Lookups that reach libdw before mst_symbols_trim starts it afresh. */
#define TRIM_MISSES 512

struct str {
	UT_hash_handle hh;
	char s[];
};

struct entry {
	uint64_t key; /* the address looked up (pc, or pc - 1 for returns) */
	UT_hash_handle hh;
	size_t n;
	struct mst_native_frame frames[];
};

struct name_entry {
	uint64_t key;
	const char *name;
	UT_hash_handle hh;
};

struct mst_symbols {
	pid_t pid;
	Dwfl *dwfl;
	struct entry *cache;
	struct name_entry *names;
	size_t ncache, nnames;
	size_t misses; /* lookups that went to libdw since it was (re)started */
	struct str *strings;
};

/* A compressed separate debug file is swapped for its uncompressed copy in
 * the debug cache, by the module's build-id; the rest is found the standard
 * way (build-id, then debuglink under /usr/lib/debug). This must come
 * first: the standard search hands libdwfl the file it opened itself. */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			  GElf_Addr base, const char *file_name, const char *debuglink_file,
			  GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	const unsigned char *id;
	GElf_Addr id_vaddr;
	int n = dwfl_module_build_id(mod, &id, &id_vaddr);
	char dir[4096];
	int fd = n > 0 ? mst_debugcache_find(mst_debugcache_dir(dir, sizeof(dir)), "/usr/lib/debug", id,
					    (size_t)n, debuginfo_file_name)
		       : -1;
	if (fd >= 0)
		return fd;
	return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name,
					    debuglink_file, debuglink_crc, debuginfo_file_name);
}

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_linux_proc_find_elf,
	.find_debuginfo = find_debuginfo,
	.debuginfo_path = &debuginfo_path,
};

static const char *intern(struct mst_symbols *s, const char *str)
{
	if (!str)
		return NULL;
	struct str *e;
	HASH_FIND_STR(s->strings, str, e);
	if (e)
		return e->s;
	size_t len = strlen(str);
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->s, str, len + 1);
	HASH_ADD_KEYPTR(hh, s->strings, e->s, len, e);
	return e->s;
}

/* Demangle C++ (and leave C names as they are), then intern. */
static const char *intern_name(struct mst_symbols *s, const char *name)
{
	if (!name)
		return NULL;
	if (name[0] == '_' && name[1] == 'Z') {
		char *d = cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI);
		if (d) {
			const char *r = intern(s, d);
			free(d);
			return r;
		}
	}
	return intern(s, name);
}

/* A module's ELF symbols sorted by address. dwfl_module_addrinfo scans the
 * whole symbol table for every address (libc's has ~10k entries): per
 * --dump that was a sixth of msttop's CPU. The index answers the same
 * question by binary search, with libdwfl's rules (elfutils 0.188):
 * - the closest sized symbol that holds the address, a global or weak one
 *   before any local one; at one address the stronger binding, then the
 *   larger size, then the first in the table;
 * - failing that, the highest sizeless label (hand-written assembly) at or
 *   below the address if no sized symbol reaches past it; of equal ones the
 *   last in libdwfl's search order (globals, then locals). An exact global
 *   label stops the search before the locals.
 * It lives in the module's userdata. */
struct sym_ent {
	uint64_t lo, size;
	const char *name;
	uint32_t idx; /* in the symbol table */
	bool local;
	uint8_t bind;
};

struct sym_sec {
	uint64_t lo, hi;
};

struct sym_index {
	size_t n, nsec;
	struct sym_sec *sec; /* the module's allocated sections, by index */
	struct sym_ent e[];
};

static int cmp_sym(const void *a, const void *b)
{
	const struct sym_ent *x = a, *y = b;
	if (x->lo != y->lo)
		return (x->lo > y->lo) - (x->lo < y->lo);
	return (x->idx > y->idx) - (x->idx < y->idx);
}

static struct sym_index *index_build(Dwfl_Module *mod)
{
	int n = dwfl_module_getsymtab(mod);
	struct sym_index *x = malloc(sizeof(*x) + (n > 0 ? (size_t)n : 0) * sizeof(x->e[0]));
	if (!x)
		return NULL;
	x->n = 0;
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		GElf_Word shndx;
		const char *name = dwfl_module_getsym_info(mod, i, &sym, &addr, &shndx, NULL, NULL);
		int t = GELF_ST_TYPE(sym.st_info);
		if (!name || !*name || sym.st_shndx == SHN_UNDEF || t == STT_SECTION ||
		    t == STT_FILE || t == STT_TLS)
			continue;
		/* Absolute labels are version names ("XZ_5.2.2"), not code. */
		if (sym.st_size == 0 && shndx >= SHN_LORESERVE)
			continue;
		uint8_t bind = (uint8_t)GELF_ST_BIND(sym.st_info);
		x->e[x->n++] = (struct sym_ent){.lo = addr, .size = sym.st_size, .name = name,
						.idx = (uint32_t)i, .local = bind == STB_LOCAL,
						.bind = bind};
	}
	qsort(x->e, x->n, sizeof(x->e[0]), cmp_sym);
	/* Sections, for "is this label in the section of the address". */
	x->nsec = 0;
	x->sec = NULL;
	GElf_Addr bias;
	Elf *elf = dwfl_module_getelf(mod, &bias);
	size_t nsec;
	if (elf && elf_getshdrnum(elf, &nsec) == 0 && nsec > 0 &&
	    (x->sec = calloc(nsec, sizeof(*x->sec)))) {
		x->nsec = nsec;
		for (size_t i = 1; i < nsec; i++) {
			GElf_Shdr sh;
			if (gelf_getshdr(elf_getscn(elf, i), &sh) && (sh.sh_flags & SHF_ALLOC)) {
				x->sec[i].lo = sh.sh_addr + bias;
				x->sec[i].hi = x->sec[i].lo + sh.sh_size;
			}
		}
	}
	return x;
}

/* The index of the section holding addr, 0 if none does. As in libdwfl,
 * a section's end address belongs to it when no section starts there
 * ("_etext" is in .text). */
static size_t section_of(const struct sym_index *x, uint64_t addr)
{
	size_t end = 0;
	for (size_t i = 1; i < x->nsec; i++) {
		if (addr >= x->sec[i].lo && addr < x->sec[i].hi)
			return i;
		if (x->sec[i].hi && addr == x->sec[i].hi)
			end = i;
	}
	return end;
}

static void index_free(struct sym_index *x)
{
	if (x) {
		free(x->sec);
		free(x);
	}
}

static int bind_rank(uint8_t b)
{
	return b == STB_GLOBAL ? 3 : b == STB_WEAK ? 2 : b == STB_LOCAL ? 1 : 0;
}

/* Of two sized symbols holding the address, is a the better? */
static bool better(const struct sym_ent *a, const struct sym_ent *b)
{
	if (!b)
		return true;
	if (a->lo != b->lo)
		return a->lo > b->lo;
	if (bind_rank(a->bind) != bind_rank(b->bind))
		return bind_rank(a->bind) > bind_rank(b->bind);
	if (a->size != b->size)
		return a->size < b->size;
	return a->idx < b->idx;
}

/* Of two labels, is a the one libdwfl keeps: the higher, then the later in
 * its search (globals, then locals)? */
static bool later(const struct sym_ent *a, const struct sym_ent *b)
{
	if (!b)
		return true;
	if (a->lo != b->lo)
		return a->lo > b->lo;
	if (a->local != b->local)
		return a->local;
	return a->idx > b->idx;
}

/* Symbols looked at below an address: nested or overlapping symbols are
 * few, so the holder is among the nearest ones. */
#define INDEX_WALK 128

static const struct sym_ent *index_find(const struct sym_index *x, uint64_t addr)
{
	size_t lo = 0, hi = x->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (x->e[mid].lo <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	const struct sym_ent *held[2] = {NULL, NULL}, *label = NULL, *glabel = NULL;
	uint64_t end[2] = {0, 0}; /* furthest end of a sized symbol: global, local */
	for (size_t i = lo, steps = 0; i > 0 && steps < INDEX_WALK; i--, steps++) {
		const struct sym_ent *e = &x->e[i - 1];
		if (e->size) {
			if (addr - e->lo < e->size && better(e, held[e->local]))
				held[e->local] = e;
			if (e->lo + e->size > end[e->local])
				end[e->local] = e->lo + e->size;
		} else {
			if (later(e, label))
				label = e;
			if (!e->local && later(e, glabel))
				glabel = e;
		}
	}
	if (held[0])
		return held[0];
	/* An exact global label: the locals are not searched. */
	if (glabel && glabel->lo >= end[0] && glabel->lo == addr)
		return glabel;
	if (held[1])
		return held[1];
	uint64_t min = end[0] > end[1] ? end[0] : end[1];
	if (!label || label->lo < min)
		return NULL;
	return label->lo == addr || section_of(x, addr) == section_of(x, label->lo) ? label
										    : NULL;
}

static const struct sym_index *module_index(Dwfl_Module *mod)
{
	void **ud = NULL;
	dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	if (!ud)
		return NULL;
	if (!*ud)
		*ud = index_build(mod);
	return *ud;
}

/* libdwfl's callback for a module going away: its second argument is
 * the address of the module's userdata (void **), whatever its type says. */
static int free_index(Dwfl_Module *mod, void *userdata, const char *name, Dwarf_Addr base,
		      void *arg)
{
	(void)mod;
	(void)name;
	(void)base;
	(void)arg;
	void **ud = userdata;
	index_free(*ud);
	*ud = NULL;
	return DWARF_CB_OK;
}

static int free_index_cb(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr base,
			 void *arg)
{
	return free_index(mod, userdata, name, base, arg);
}

static int report(struct mst_symbols *s, struct mst_err *err)
{
	dwfl_report_begin(s->dwfl);
	int rc = dwfl_linux_proc_report(s->dwfl, s->pid);
	dwfl_report_end(s->dwfl, free_index, NULL);
	if (rc != 0)
		return mst_err_set(err, rc > 0 ? -rc : -EIO, "cannot read the modules of PID %d: %s",
				   (int)s->pid, rc > 0 ? strerror(rc) : dwfl_errmsg(-1));
	return 0;
}

int mst_symbols_open(pid_t pid, struct mst_symbols **out, struct mst_err *err)
{
	struct mst_symbols *s = calloc(1, sizeof(*s));
	if (!s)
		return mst_err_set(err, -ENOMEM, "out of memory");
	s->pid = pid;
	s->dwfl = dwfl_begin(&callbacks);
	if (!s->dwfl) {
		free(s);
		return mst_err_set(err, -ENOMEM, "libdwfl: %s", dwfl_errmsg(-1));
	}
	int rc = report(s, err);
	if (rc < 0) {
		mst_symbols_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

static void flush_cache(struct mst_symbols *s)
{
	struct entry *e, *tmp;
	HASH_ITER(hh, s->cache, e, tmp)
	{
		HASH_DEL(s->cache, e);
		free(e);
	}
	struct name_entry *n, *ntmp;
	HASH_ITER(hh, s->names, n, ntmp)
	{
		HASH_DEL(s->names, n);
		free(n);
	}
	s->ncache = s->nnames = 0;
}

void mst_symbols_close(struct mst_symbols *s)
{
	if (!s)
		return;
	flush_cache(s);
	struct str *e, *tmp;
	HASH_ITER(hh, s->strings, e, tmp)
	{
		HASH_DEL(s->strings, e);
		free(e);
	}
	if (s->dwfl) {
		dwfl_getmodules(s->dwfl, free_index_cb, NULL, 0);
		dwfl_end(s->dwfl);
	}
	free(s);
}

int mst_symbols_trim(struct mst_symbols *s, struct mst_err *err)
{
	if (s->misses < TRIM_MISSES)
		return 0;
	Dwfl *fresh = dwfl_begin(&callbacks);
	if (!fresh)
		return mst_err_set(err, -ENOMEM, "libdwfl: %s", dwfl_errmsg(-1));
	dwfl_getmodules(s->dwfl, free_index_cb, NULL, 0);
	dwfl_end(s->dwfl);
	s->dwfl = fresh;
	s->misses = 0;
	int rc = report(s, err);
	/* Give what libdw held back to the system, or RSS would not show it. */
	malloc_trim(0);
	return rc < 0 ? rc : 1;
}

int mst_symbols_refresh(struct mst_symbols *s, struct mst_err *err)
{
	/* Addresses may now belong to other modules: drop cached answers. */
	flush_cache(s);
	return report(s, err);
}

/* DWARF records source names relative to the compilation directory
 * ("../tests/x.c" from a meson build dir): join and normalize them so the
 * path shown is the one a user can open. */
static const char *source_path(struct mst_symbols *s, Dwarf_Die *cudie, const char *file)
{
	if (!file)
		return NULL;
	if (file[0] == '/' || !cudie)
		return intern(s, file);
	Dwarf_Attribute attr;
	const char *dir = dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &attr));
	if (!dir || dir[0] != '/')
		return intern(s, file);
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s/%s", dir, file);
	/* Collapse "/./" and "/x/../" in place. */
	char out[4096];
	size_t o = 0;
	for (const char *p = buf; *p;) {
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
		} else if (o + len + 2 < sizeof(out)) {
			out[o++] = '/';
			memcpy(out + o, p, len);
			o += len;
		}
		p = e;
	}
	out[o] = '\0';
	return intern(s, o ? out : "/");
}

/* The name of a DWARF function DIE: the linkage name (demangled, so C++
 * shows its scope), else the plain name, following abstract origins. */
static const char *die_name(struct mst_symbols *s, Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
	if (!n)
		n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
	if (!n)
		n = dwarf_diename(die);
	return intern_name(s, n);
}

static const char *call_file(struct mst_symbols *s, Dwarf_Die *cudie, Dwarf_Die *inl)
{
	Dwarf_Attribute attr;
	Dwarf_Word idx;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_file, &attr), &idx) != 0)
		return NULL;
	Dwarf_Files *files;
	size_t nfiles;
	if (dwarf_getsrcfiles(cudie, &files, &nfiles) != 0 || idx >= nfiles)
		return NULL;
	return source_path(s, cudie, dwarf_filesrc(files, idx, NULL, NULL));
}

static int call_line(Dwarf_Die *inl)
{
	Dwarf_Attribute attr;
	Dwarf_Word line;
	if (dwarf_formudata(dwarf_attr(inl, DW_AT_call_line, &attr), &line) != 0)
		return 0;
	return (int)line;
}

/* The ELF symbol covering addr, without its version suffix, interned. */
static const char *elf_name(struct mst_symbols *s, Dwfl_Module *mod, uint64_t addr)
{
	const struct sym_index *x = module_index(mod);
	const struct sym_ent *e = x ? index_find(x, addr) : NULL;
	const char *symname = e ? e->name : NULL;
	if (!symname)
		return NULL;
	if (strchr(symname, '@')) {
		/* "memcpy@@GLIBC_2.14": the symbol version is noise here. */
		char plain[512];
		snprintf(plain, sizeof(plain), "%.*s", (int)strcspn(symname, "@"), symname);
		return intern_name(s, plain);
	}
	return intern_name(s, symname);
}

const char *mst_symbols_func_name(struct mst_symbols *s, uint64_t pc, bool is_return)
{
	uint64_t addr = is_return && pc > 0 ? pc - 1 : pc;
	struct name_entry *e;
	HASH_FIND(hh, s->names, &addr, sizeof(addr), e);
	if (e)
		return e->name;
	Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, addr);
	const char *name = mod ? elf_name(s, mod, addr) : NULL;
	if (s->nnames >= CACHE_MAX || s->ncache >= CACHE_MAX)
		flush_cache(s);
	e = malloc(sizeof(*e));
	if (!e)
		return name;
	e->key = addr;
	e->name = name;
	HASH_ADD(hh, s->names, key, sizeof(e->key), e);
	s->nnames++;
	return name;
}

/* Fill frames (outermost first) for address addr; returns the count. */
static size_t lookup(struct mst_symbols *s, uint64_t pc, uint64_t addr,
		     struct mst_native_frame *fr)
{
	s->misses++;
	struct mst_native_frame base = {.pc = pc};
	Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, addr);
	if (!mod) {
		fr[0] = base;
		return 1;
	}
	Dwarf_Addr start = 0;
	const char *modname = dwfl_module_info(mod, NULL, &start, NULL, NULL, NULL, NULL, NULL);
	base.module = intern(s, modname);
	Dwarf_Addr elf_bias = 0;
	if (dwfl_module_getelf(mod, &elf_bias))
		base.module_off = pc - elf_bias;
	else
		base.module_off = pc - start;

	base.func = elf_name(s, mod, addr);

	/* The innermost source position. */
	Dwfl_Line *ln = dwfl_module_getsrc(mod, addr);
	const char *src_file = NULL;
	int src_line = 0;
	if (ln) {
		int l = 0;
		src_file = dwfl_lineinfo(ln, NULL, &l, NULL, NULL, NULL);
		Dwarf_Die *lcu = dwfl_linecu(ln);
		src_file = source_path(s, lcu, src_file);
		src_line = l;
	}

	/* Inline chain: scopes run innermost to outermost; each inlined
	 * subroutine's call site is the position in the function around it. */
	Dwarf_Addr dbias = 0;
	Dwarf_Die *cudie = dwfl_module_addrdie(mod, addr, &dbias);
	Dwarf_Die *scopes = NULL;
	int nscopes = cudie ? dwarf_getscopes(cudie, addr - dbias, &scopes) : 0;
	Dwarf_Die *inl[MAX_INLINE];
	size_t ninl = 0;
	for (int i = 0; i < nscopes && ninl < MAX_INLINE; i++)
		if (dwarf_tag(&scopes[i]) == DW_TAG_inlined_subroutine)
			inl[ninl++] = &scopes[i];
		else if (dwarf_tag(&scopes[i]) == DW_TAG_subprogram)
			break;

	size_t n = 0;
	/* The real function: its ELF symbol's name (an inline's name would
	 * hide which function the code belongs to). */
	fr[n] = base;
	if (!fr[n].func && nscopes > 0) {
		for (int i = 0; i < nscopes; i++)
			if (dwarf_tag(&scopes[i]) == DW_TAG_subprogram) {
				fr[n].func = die_name(s, &scopes[i]);
				break;
			}
	}
	fr[n].file = ninl ? call_file(s, cudie, inl[ninl - 1]) : src_file;
	fr[n].line = ninl ? call_line(inl[ninl - 1]) : src_line;
	n++;
	for (size_t k = ninl; k-- > 0;) {
		fr[n] = base;
		fr[n].func = die_name(s, inl[k]);
		fr[n].inlined = true;
		fr[n].file = k ? call_file(s, cudie, inl[k - 1]) : src_file;
		fr[n].line = k ? call_line(inl[k - 1]) : src_line;
		n++;
	}
	free(scopes);
	return n;
}

int mst_symbols_resolve(struct mst_symbols *s, uint64_t pc, bool is_return,
			const struct mst_native_frame **frames, size_t *n)
{
	uint64_t addr = is_return && pc > 0 ? pc - 1 : pc;
	struct entry *e;
	HASH_FIND(hh, s->cache, &addr, sizeof(addr), e);
	if (!e) {
		struct mst_native_frame tmp[MAX_INLINE + 1];
		size_t cnt = lookup(s, pc, addr, tmp);
		if (s->ncache >= CACHE_MAX || s->nnames >= CACHE_MAX)
			flush_cache(s);
		e = malloc(sizeof(*e) + cnt * sizeof(e->frames[0]));
		if (!e)
			return -ENOMEM;
		e->key = addr;
		e->n = cnt;
		memcpy(e->frames, tmp, cnt * sizeof(tmp[0]));
		HASH_ADD(hh, s->cache, key, sizeof(e->key), e);
		s->ncache++;
	}
	/* The cached pc is the first one seen at this address; return
	 * addresses repeat exactly, so it is the same pc. */
	*frames = e->frames;
	*n = e->n;
	return 0;
}
