/* Native symbolization with libdwfl, in the manner of eu-stack: the module
 * for an address, its ELF symbol for the enclosing function, and from the
 * module's DWARF tables (dwtab.h) the chain of inlined calls and file:line.
 * Answers are cached per looked-up address, and strings are interned, so a
 * hot address costs one hash lookup. */
#include "msttop/symbols.h"

#include "debugcache-int.h"
#include "msttop/maps.h"
#include "msttop/strset.h"
#include "dwtab-int.h"

#include <dwarf.h>
#include <fcntl.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <libiberty/demangle.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uthash.h>

/* The answers for recent addresses live in fixed tables, allocated and
 * touched once at open: a hot address costs one probe, a miss a few binary
 * searches in the symbol index and the DWARF tables, and the memory is all
 * there from the start, whatever the sampler meets (a new innermost pc with
 * nearly every sample of hot code). Answers: 1024 sets of two ways, the
 * least recently used way replaced; an answer of more than SLOT_FRAMES
 * frames (inlined deeper) is looked up each time. Names: direct-mapped. */
#define CACHE_SETS 1024
#define SLOT_FRAMES 8
#define NAME_SLOTS 4096

/* One frame of a cached answer; pc and module are the answer's. */
struct cframe {
	const char *func, *file;
	int32_t line;
	bool inlined;
};

struct slot {
	uint64_t key; /* the address looked up (pc, or pc - 1 for returns) + 1; 0: empty */
	uint64_t pc;
	const char *module;
	uint64_t module_off;
	uint32_t n;
	struct cframe fr[SLOT_FRAMES];
};

struct name_slot {
	uint64_t key; /* address + 1; 0: empty */
	const char *name;
	uint8_t tag; /* the caller's (mst_symbols_func_name_tag); 0: none yet */
};

struct mst_symbols {
	pid_t pid;
	char *maps_text; /* a core's map (mst_symbols_open_maps), else NULL */
	Dwfl *dwfl;
	struct slot *slots;      /* CACHE_SETS * 2 */
	uint8_t *mru;            /* per set: the way used last */
	struct name_slot *names; /* NAME_SLOTS */
	/* The answer handed out, valid until the next lookup. */
	struct mst_native_frame out[MST_DWTAB_MAX_INLINE + 1];
	uint64_t rows_read;          /* line rows libdwfl's own Dwarf parsed (and keeps) */
	uint64_t searches, released; /* DWARF searches (dwtab); as of the last release */
	unsigned release_calls;      /* mst_symbols_release calls since */
	struct mst_strset *strings;  /* names, files, modules */
	/* Names given by the caller to code no ELF symbol covers. */
	struct named_range {
		uint64_t lo, hi;
		const char *name;
	} ranges[MST_SYMBOLS_NAMED_MAX];
	size_t nranges;
	/* Source paths under a build tree: where the part under it starts. An
	 * open-addressing set keyed by the interned string's address. */
	struct short_slot {
		const char *file;
		uint16_t off;
	} * shorts;
	size_t nshorts, capshorts;
};

/* A compressed separate debug file is swapped for its uncompressed copy in
 * the debug cache, by the module's build-id; the rest is found by build-id
 * under /usr/lib/debug (or, for a module without one, by debuglink). This
 * must come first: the standard search hands libdwfl the file it opened
 * itself. */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname, GElf_Addr base,
                          const char *file_name, const char *debuglink_file,
                          GElf_Word debuglink_crc, char **debuginfo_file_name)
{
	const unsigned char *id;
	GElf_Addr id_vaddr;
	int n = dwfl_module_build_id(mod, &id, &id_vaddr);
	char dir[4096];
	int fd = n > 0 ? mst_debugcache_find(mst_debugcache_dir(dir, sizeof(dir)), "/usr/lib/debug",
	                                     id, (size_t)n, debuginfo_file_name)
	               : -1;
	if (fd >= 0)
		return fd;
	/* With a build-id, look it up under /usr/lib/debug/.build-id and stop
	 * there: the standard search would end by asking debuginfod, and
	 * libdw dlopens its client for that even with no server configured,
	 * which maps in libcurl, GnuTLS and more (7.5 MB of RSS at a random
	 * moment of a long run, when a module without debug info is first
	 * looked at). Without one, the standard search (.gnu_debuglink) can
	 * not get there. */
	if (n > 0)
		return dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name,
		                                    debuglink_file, debuglink_crc,
		                                    debuginfo_file_name);
	return dwfl_standard_find_debuginfo(mod, userdata, modname, base, file_name, debuglink_file,
	                                    debuglink_crc, debuginfo_file_name);
}

static const char *intern(struct mst_symbols *s, const char *str)
{
	return str ? mst_strset_get(s->strings, str, 0, true) : NULL;
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
		x->e[x->n++] = (struct sym_ent){.lo = addr,
		                                .size = sym.st_size,
		                                .name = name,
		                                .idx = (uint32_t)i,
		                                .local = bind == STB_LOCAL,
		                                .bind = bind};
	}
	if (x->n > 1)
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
	return label->lo == addr || section_of(x, addr) == section_of(x, label->lo) ? label : NULL;
}

/* What we keep per module, in its libdwfl userdata: the symbol index
 * (rebuilt after a restart of libdw: it points into libdw's ELF data) and
 * the DWARF tables (carried over a restart). */
struct mod_data {
	struct sym_index *index;
	struct mst_dwtab *tab;
	char *elf_path; /* where find_elf opens its file */
};

static const char *intern_cb(void *ctx, const char *str)
{
	return intern(ctx, str);
}

static const char *intern_name_cb(void *ctx, const char *str)
{
	return intern_name(ctx, str);
}

static size_t short_hash(const char *file, size_t cap)
{
	return (size_t)(((uintptr_t)file >> 3) * 0x9e3779b97f4a7c15ull) & (cap - 1);
}

static void short_at_cb(void *ctx, const char *file, size_t off)
{
	struct mst_symbols *s = ctx;
	if (off > UINT16_MAX)
		return;
	if ((s->nshorts + 1) * 2 > s->capshorts) {
		size_t nc = s->capshorts ? s->capshorts * 2 : 256;
		struct short_slot *ns = calloc(nc, sizeof(*ns));
		if (!ns)
			return; /* the full path is shown: nothing is lost */
		for (size_t i = 0; i < s->capshorts; i++) {
			if (!s->shorts[i].file)
				continue;
			size_t k = short_hash(s->shorts[i].file, nc);
			while (ns[k].file)
				k = (k + 1) & (nc - 1);
			ns[k] = s->shorts[i];
		}
		free(s->shorts);
		s->shorts = ns;
		s->capshorts = nc;
	}
	size_t k = short_hash(file, s->capshorts);
	while (s->shorts[k].file && s->shorts[k].file != file)
		k = (k + 1) & (s->capshorts - 1);
	if (!s->shorts[k].file)
		s->nshorts++;
	s->shorts[k] = (struct short_slot){file, (uint16_t)off};
}

size_t mst_symbols_short_off(const struct mst_symbols *s, const char *file)
{
	if (!s || !file || !s->capshorts)
		return 0;
	size_t k = short_hash(file, s->capshorts);
	while (s->shorts[k].file && s->shorts[k].file != file)
		k = (k + 1) & (s->capshorts - 1);
	return s->shorts[k].file ? s->shorts[k].off : 0;
}

static struct mod_data *module_data(struct mst_symbols *s, Dwfl_Module *mod)
{
	void **ud = NULL;
	dwfl_module_info(mod, &ud, NULL, NULL, NULL, NULL, NULL, NULL);
	if (!ud)
		return NULL;
	struct mod_data *md = *ud;
	if (!md && !(md = *ud = calloc(1, sizeof(*md))))
		return NULL;
	if (!md->tab) {
		struct mst_dwtab_strings str = {.ctx = s,
		                                .intern = intern_cb,
		                                .intern_name = intern_name_cb,
		                                .short_at = short_at_cb};
		md->tab = mst_dwtab_new(&str);
	}
	return md;
}

static const struct sym_index *module_index(struct mst_symbols *s, Dwfl_Module *mod)
{
	struct mod_data *md = module_data(s, mod);
	if (md && !md->index)
		md->index = index_build(mod);
	return md ? md->index : NULL;
}

/* libdwfl's callback for a module going away: its second argument is
 * the address of the module's userdata (void **), whatever its type says. */
static int free_data(Dwfl_Module *mod, void *userdata, const char *name, Dwarf_Addr base, void *arg)
{
	(void)mod;
	(void)name;
	(void)base;
	(void)arg;
	void **ud = userdata;
	struct mod_data *md = *ud;
	if (md) {
		index_free(md->index);
		mst_dwtab_free(md->tab);
		free(md->elf_path);
		free(md);
	}
	*ud = NULL;
	return DWARF_CB_OK;
}

static int free_data_cb(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr base,
                        void *arg)
{
	return free_data(mod, userdata, name, base, arg);
}

/* libdwfl opens a module at the path the process's maps give, in msttop's
 * own file system. The process may see another (a container's: the same
 * path, another libc), so each is opened where the process sees it,
 * through /proc/PID/root; a file deleted since it was mapped (a library
 * upgraded under a running service, an extension built in a directory
 * removed since) where the kernel still has it, whole, /proc/PID/map_files.
 * For the deleted one, libdwfl would rebuild an image from the process's
 * memory instead (it needs an attached Dwfl, and holds no symbol table: a
 * static function has no name); a file at its old path may be another one
 * now, never opened. */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *module_name, Dwarf_Addr base,
                    char **file_name, Elf **elfp)
{
	const struct mod_data *md = *userdata;
	struct stat st;
	/* Only a regular file, as libdwfl's own: a device's open or read
	 * may block, or do something. */
	if (md && md->elf_path && stat(md->elf_path, &st) == 0 && S_ISREG(st.st_mode)) {
		int fd = open(md->elf_path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			if ((*file_name = strdup(md->elf_path)))
				return fd;
			close(fd);
		}
	}
	return dwfl_linux_proc_find_elf(mod, userdata, module_name, base, file_name, elfp);
}

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
    .find_elf = find_elf,
    .find_debuginfo = find_debuginfo,
    .debuginfo_path = &debuginfo_path,
};

struct paths_ctx {
	pid_t pid;
	const struct mst_maps *maps;
};

/* Where find_elf opens module mod's file: as the unwinder opens the
 * mapping the module starts at (mst_maps_open_path). */
static int note_path(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr start,
                     void *arg)
{
	(void)mod;
	const struct paths_ctx *c = arg;
	struct mod_data *md = *userdata;
	const struct mst_map *m = mst_maps_find(c->maps, start);
	if (name[0] != '/' || (md && md->elf_path) || !m || !m->path)
		return DWARF_CB_OK;
	char path[PATH_MAX + 64];
	mst_maps_open_path(c->pid, m, path, sizeof(path));
	if (!md && !(md = *userdata = calloc(1, sizeof(*md))))
		return DWARF_CB_OK;
	md->elf_path = strdup(path);
	return DWARF_CB_OK;
}

static int report(struct mst_symbols *s, struct mst_err *err)
{
	dwfl_report_begin(s->dwfl);
	int rc;
	if (s->maps_text) {
		/* The same parser as a live process's maps: the core's map is
		 * written in that form. Files are opened at their paths. */
		FILE *f = fmemopen(s->maps_text, strlen(s->maps_text), "r");
		rc = f ? dwfl_linux_proc_maps_report(s->dwfl, f) : errno;
		if (f)
			fclose(f);
	} else {
		rc = dwfl_linux_proc_report(s->dwfl, s->pid);
	}
	dwfl_report_end(s->dwfl, free_data, NULL);
	struct mst_maps *maps = NULL;
	if (rc == 0 && !s->maps_text && mst_maps_read(s->pid, &maps, NULL) == 0) {
		/* Before any module's ELF is looked for. */
		struct paths_ctx c = {s->pid, maps};
		dwfl_getmodules(s->dwfl, note_path, &c, 0);
		mst_maps_free(maps);
	}
	if (rc != 0 && s->maps_text)
		return mst_err_set(err, rc > 0 ? -rc : -EIO, "cannot read the core's modules: %s",
		                   rc > 0 ? strerror(rc) : dwfl_errmsg(-1));
	if (rc != 0)
		return mst_err_set(err, rc > 0 ? -rc : -EIO,
		                   "cannot read the modules of PID %d: %s", (int)s->pid,
		                   rc > 0 ? strerror(rc) : dwfl_errmsg(-1));
	return 0;
}

static void flush_cache(struct mst_symbols *s);

static int symbols_open(pid_t pid, const char *maps_text, struct mst_symbols **out,
                        struct mst_err *err)
{
	struct mst_symbols *s = calloc(1, sizeof(*s));
	if (!s)
		return mst_err_set(err, -ENOMEM, "out of memory");
	s->pid = pid;
	if (maps_text && !(s->maps_text = strdup(maps_text))) {
		free(s);
		return mst_err_set(err, -ENOMEM, "out of memory");
	}
	/* malloc and memset rather than calloc: the pages are touched now. */
	s->slots = malloc(2 * CACHE_SETS * sizeof(s->slots[0]));
	s->mru = malloc(CACHE_SETS);
	s->names = malloc(NAME_SLOTS * sizeof(s->names[0]));
	s->strings = mst_strset_new();
	if (!s->slots || !s->mru || !s->names || !s->strings) {
		mst_symbols_close(s);
		return mst_err_set(err, -ENOMEM, "out of memory");
	}
	flush_cache(s);
	s->dwfl = dwfl_begin(&callbacks);
	if (!s->dwfl) {
		mst_symbols_close(s);
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

int mst_symbols_open(pid_t pid, struct mst_symbols **out, struct mst_err *err)
{
	return symbols_open(pid, NULL, out, err);
}

int mst_symbols_open_maps(const char *maps_text, struct mst_symbols **out, struct mst_err *err)
{
	return symbols_open(0, maps_text, out, err);
}

static void flush_cache(struct mst_symbols *s)
{
	memset(s->slots, 0, 2 * CACHE_SETS * sizeof(s->slots[0]));
	memset(s->mru, 0, CACHE_SETS);
	memset(s->names, 0, NAME_SLOTS * sizeof(s->names[0]));
}

void mst_symbols_close(struct mst_symbols *s)
{
	if (!s)
		return;
	free(s->slots);
	free(s->mru);
	free(s->names);
	free(s->shorts);
	free(s->maps_text);
	mst_strset_free(s->strings);
	if (s->dwfl) {
		dwfl_getmodules(s->dwfl, free_data_cb, NULL, 0);
		dwfl_end(s->dwfl);
	}
	free(s);
}

/* Our file mappings that hold no private (copied-on-write) page, from
 * /proc/self/smaps: dropping their pages loses nothing, they come back
 * from the file as they were. */
#define MAX_CLEAN 256
struct clean_maps {
	size_t n;
	uintptr_t lo[MAX_CLEAN], hi[MAX_CLEAN];
};

static void read_clean_maps(struct clean_maps *c)
{
	c->n = 0;
	FILE *f = fopen("/proc/self/smaps", "re");
	if (!f)
		return;
	char line[512];
	uintptr_t lo = 0, hi = 0;
	bool file = false;
	unsigned long kb;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b, ino;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %lu", &a, &b, &ino) == 3) {
			lo = a, hi = b, file = ino != 0;
		} else if (sscanf(line, "Anonymous: %lu kB", &kb) == 1 && file && kb == 0 &&
		           c->n < MAX_CLEAN) {
			c->lo[c->n] = lo;
			c->hi[c->n++] = hi;
		}
	}
	fclose(f);
}

/* Drop the pages of an ELF image libdwfl mapped, when its mapping holds
 * none of its own (then MADV_DONTNEED only unmaps them: they come back from
 * the file on the next touch); else ask the kernel to page them out, which
 * keeps any content but skips pages it cannot take (large folios it cannot
 * split, pages others map). */
static void release_image(const struct clean_maps *c, char *img, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t lo = (uintptr_t)img & ~(uintptr_t)(page - 1);
	uintptr_t hi = ((uintptr_t)img + len) & ~(uintptr_t)(page - 1);
	/* Only whole pages of the image: the partial ones at its ends may
	 * be shared with other memory (if libelf read it into the heap). */
	lo += (uintptr_t)page;
	if (hi <= lo)
		return;
	for (size_t i = 0; i < c->n; i++)
		if (c->lo[i] <= lo && hi <= c->hi[i]) {
			madvise((void *)lo, hi - lo, MADV_DONTNEED);
			return;
		}
	madvise((void *)lo, hi - lo, MADV_PAGEOUT);
}

/* Release the ELF images of a module whose DWARF was searched. */
static int release_module(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr start,
                          void *arg)
{
	(void)name;
	(void)start;
	const struct clean_maps *c = arg;
	const struct mod_data *md = *userdata;
	if (!md || !md->tab || !mst_dwtab_searches(md->tab))
		return DWARF_CB_OK;
	Dwarf_Addr bias;
	Elf *elfs[2] = {dwfl_module_getelf(mod, &bias), NULL};
	Dwarf *dw = dwfl_module_getdwarf(mod, &bias);
	if (dw && dwarf_getelf(dw) != elfs[0])
		elfs[1] = dwarf_getelf(dw);
	for (int i = 0; i < 2; i++) {
		size_t len = 0;
		char *img = elfs[i] ? elf_rawfile(elfs[i], &len) : NULL;
		if (img)
			release_image(c, img, len);
	}
	return DWARF_CB_OK;
}

void mst_symbols_release(struct mst_symbols *s)
{
	/* Not every page goes at the first call: pages faulted in moments ago
	 * may sit in the kernel's per-CPU LRU batches, and a debug file just
	 * written (a new debug cache entry) has dirty pages until writeback.
	 * Ask again at calls 1, 2, 4 ... 128 after DWARF was searched, and
	 * at every 64th call in any case: pages held for a reason not seen
	 * here go at the latest then. */
	if (s->released != s->searches) {
		s->released = s->searches;
		s->release_calls = 0;
		/* Reading a unit parsed its line table and more into the heap,
		 * freed with the unit's Dwarf but below what the tables keep:
		 * holes of megabytes that glibc keeps resident unless asked. */
		malloc_trim(0);
	}
	unsigned c = ++s->release_calls;
	if (!s->searches || (c > 128 ? c % 64 != 0 : (c & (c - 1)) != 0))
		return;
	struct clean_maps *maps = malloc(sizeof(*maps));
	if (!maps)
		return;
	read_clean_maps(maps);
	dwfl_getmodules(s->dwfl, release_module, maps, 0);
	free(maps);
}

static int add_stats(Dwfl_Module *mod, void **userdata, const char *name, Dwarf_Addr start,
                     void *arg)
{
	(void)mod;
	(void)name;
	(void)start;
	struct mst_symbols_stats *st = arg;
	const struct mod_data *md = *userdata;
	if (md && md->tab) {
		st->units += mst_dwtab_units(md->tab);
		st->table_bytes += mst_dwtab_bytes(md->tab);
	}
	return DWARF_CB_OK;
}

void mst_symbols_stats(struct mst_symbols *s, struct mst_symbols_stats *st)
{
	size_t cached = 0;
	for (size_t i = 0; i < 2 * CACHE_SETS; i++)
		cached += s->slots[i].key != 0;
	for (size_t i = 0; i < NAME_SLOTS; i++)
		cached += s->names[i].key != 0;
	*st = (struct mst_symbols_stats){
	    .cached = cached, .strings = mst_strset_count(s->strings), .libdw_rows = s->rows_read};
	dwfl_getmodules(s->dwfl, add_stats, st, 0);
}

int mst_symbols_refresh(struct mst_symbols *s, struct mst_err *err)
{
	/* Addresses may now belong to other modules: drop cached answers. */
	flush_cache(s);
	return report(s, err);
}

/* The ELF symbol covering addr, without its version suffix, interned. */
static const char *elf_name(struct mst_symbols *s, Dwfl_Module *mod, uint64_t addr)
{
	const struct sym_index *x = module_index(s, mod);
	const struct sym_ent *e = x ? index_find(x, addr) : NULL;
	const char *symname = e ? e->name : NULL;
	if (!symname) {
		for (size_t i = 0; i < s->nranges; i++)
			if (addr >= s->ranges[i].lo && addr < s->ranges[i].hi)
				return s->ranges[i].name;
		return NULL;
	}
	if (strchr(symname, '@')) {
		/* "memcpy@@GLIBC_2.14": the symbol version is noise here. */
		char plain[512];
		snprintf(plain, sizeof(plain), "%.*s", (int)strcspn(symname, "@"), symname);
		return intern_name(s, plain);
	}
	return intern_name(s, symname);
}

static size_t slot_hash(uint64_t addr, unsigned bits)
{
	return (size_t)((addr * 0x9E3779B97F4A7C15ull) >> (64 - bits));
}

int mst_symbols_name_range(struct mst_symbols *s, uint64_t lo, uint64_t hi, const char *name)
{
	if (s->nranges == MST_SYMBOLS_NAMED_MAX)
		return -ENOSPC;
	const char *n = intern_name(s, name);
	if (!n)
		return -ENOMEM;
	s->ranges[s->nranges++] = (struct named_range){lo, hi, n};
	return 0;
}

const char *mst_symbols_func_name_tag(struct mst_symbols *s, uint64_t pc, bool is_return,
                                      uint8_t **tag)
{
	uint64_t addr = is_return && pc > 0 ? pc - 1 : pc;
	struct name_slot *e = &s->names[slot_hash(addr, 12)];
	*tag = &e->tag;
	if (e->key == addr + 1)
		return e->name;
	Dwfl_Module *mod = dwfl_addrmodule(s->dwfl, addr);
	const char *name = mod ? elf_name(s, mod, addr) : NULL;
	*e = (struct name_slot){.key = addr + 1, .name = name};
	return name;
}

const char *mst_symbols_func_name(struct mst_symbols *s, uint64_t pc, bool is_return)
{
	uint8_t *tag;
	return mst_symbols_func_name_tag(s, pc, is_return, &tag);
}

/* Fill frames (outermost first) for address addr; returns the count. */
static size_t lookup(struct mst_symbols *s, uint64_t pc, uint64_t addr, struct mst_native_frame *fr)
{
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

	/* The source position and the inlined calls there. */
	struct mod_data *md = module_data(s, mod);
	struct mst_dwtab_pos pos = {0};
	if (md && md->tab) {
		uint64_t rows = mst_dwtab_rows_read(md->tab);
		uint64_t searches = mst_dwtab_searches(md->tab);
		/* 0 or an error leave pos empty: names alone. */
		mst_dwtab_lookup(md->tab, mod, addr, &pos);
		s->rows_read += mst_dwtab_rows_read(md->tab) - rows;
		s->searches += mst_dwtab_searches(md->tab) - searches;
	}

	size_t n = 0;
	/* The real function: its ELF symbol's name (an inline's name would
	 * hide which function the code belongs to), then each inlined call,
	 * each at the position of the call in the frame before it. */
	fr[n] = base;
	if (!fr[n].func)
		fr[n].func = pos.func;
	fr[n].file = pos.ninl ? pos.inl[0].call_file : pos.file;
	fr[n].line = pos.ninl ? pos.inl[0].call_line : pos.line;
	n++;
	for (size_t k = 0; k < pos.ninl; k++) {
		fr[n] = base;
		fr[n].func = pos.inl[k].func;
		fr[n].inlined = true;
		fr[n].file = k + 1 < pos.ninl ? pos.inl[k + 1].call_file : pos.file;
		fr[n].line = k + 1 < pos.ninl ? pos.inl[k + 1].call_line : pos.line;
		n++;
	}
	return n;
}

int mst_symbols_resolve(struct mst_symbols *s, uint64_t pc, bool is_return,
                        const struct mst_native_frame **frames, size_t *n)
{
	uint64_t addr = is_return && pc > 0 ? pc - 1 : pc;
	size_t set = slot_hash(addr, 10);
	struct slot *way = &s->slots[2 * set];
	int w = way[0].key == addr + 1 ? 0 : way[1].key == addr + 1 ? 1 : -1;
	*frames = s->out;
	if (w >= 0) {
		/* The cached pc is the first one seen at this address; return
		 * addresses repeat exactly, so it is the same pc. */
		const struct slot *e = &way[w];
		s->mru[set] = (uint8_t)w;
		for (uint32_t i = 0; i < e->n; i++)
			s->out[i] = (struct mst_native_frame){.pc = e->pc,
			                                      .func = e->fr[i].func,
			                                      .file = e->fr[i].file,
			                                      .line = e->fr[i].line,
			                                      .module = e->module,
			                                      .module_off = e->module_off,
			                                      .inlined = e->fr[i].inlined};
		*n = e->n;
		return 0;
	}
	size_t cnt = lookup(s, pc, addr, s->out);
	*n = cnt;
	if (cnt > SLOT_FRAMES)
		return 0;
	w = !s->mru[set];
	s->mru[set] = (uint8_t)w;
	struct slot *e = &way[w];
	*e = (struct slot){.key = addr + 1,
	                   .pc = s->out[0].pc,
	                   .module = s->out[0].module,
	                   .module_off = s->out[0].module_off,
	                   .n = (uint32_t)cnt};
	for (size_t i = 0; i < cnt; i++)
		e->fr[i] = (struct cframe){.func = s->out[i].func,
		                           .file = s->out[i].file,
		                           .line = s->out[i].line,
		                           .inlined = s->out[i].inlined};
	return 0;
}
