/* ELF files through libelf: symbol tables, sections, file bytes and load bias.
 * The file is mapped read-only once; every lookup after that is in memory. */
#include "msttop/elfsym.h"

#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct sym {
	uint64_t value, size;
	const char *name; /* points into the mapped file's string table */
};

/* A PT_LOAD segment's file bytes, where mst_elf_read finds them. */
struct load {
	uint64_t vaddr, filesz, offset;
};

struct mst_elf {
	int fd;
	void *map;
	size_t map_len;
	Elf *elf;
	int type;
	bool has_symtab;
	struct sym *syms; /* .dynsym first, then .symtab: lookup order by name */
	size_t nsyms;
	size_t ndynsym;      /* how many of syms came from .dynsym */
	struct sym *by_addr; /* defined sized FUNC/OBJECT symbols sorted by value */
	size_t nby_addr;
	Elf_Scn *dynsym, *symtab;
	GElf_Shdr dynsh, tabsh;
	bool loaded, sorted, failed;
	char build_id[41];
	/* Read at open: the unwinder reads .eh_frame through mst_elf_read
	 * word by word, and converting every program header per word was a
	 * tenth of a 1 kHz tick. */
	struct load *loads;
	size_t nloads;
};

static int cmp_addr(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;
	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	/* Prefer the larger symbol at an address (a function over a label). */
	return x->size > y->size ? -1 : x->size < y->size;
}

static int load_symtab(struct mst_elf *e, Elf_Scn *scn, GElf_Shdr *sh)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	if (!data || sh->sh_entsize == 0)
		return 0;
	size_t n = sh->sh_size / sh->sh_entsize;
	struct sym *ns = realloc(e->syms, (e->nsyms + n) * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	e->syms = ns;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym s;
		if (!gelf_getsym(data, (int)i, &s) || s.st_shndx == SHN_UNDEF || s.st_name == 0)
			continue;
		int t = GELF_ST_TYPE(s.st_info);
		if (t != STT_FUNC && t != STT_OBJECT && t != STT_NOTYPE && t != STT_TLS &&
		    t != STT_GNU_IFUNC)
			continue;
		const char *name = elf_strptr(e->elf, sh->sh_link, s.st_name);
		if (!name || !*name)
			continue;
		e->syms[e->nsyms++] = (struct sym){s.st_value, s.st_size, name};
	}
	return 0;
}

static void load_build_id(struct mst_elf *e)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(e->elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		GElf_Nhdr nh;
		size_t off = 0, name_off, desc_off;
		while ((off = gelf_getnote(data, off, &nh, &name_off, &desc_off)) > 0) {
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    !memcmp((char *)data->d_buf + name_off, "GNU", 4)) {
				const unsigned char *d = (unsigned char *)data->d_buf + desc_off;
				size_t len = nh.n_descsz > 20 ? 20 : nh.n_descsz;
				for (size_t i = 0; i < len; i++)
					snprintf(e->build_id + 2 * i, 3, "%02x", d[i]);
				return;
			}
		}
	}
}

int mst_elf_open(const char *path, struct mst_elf **out, struct mst_err *err)
{
	elf_version(EV_CURRENT);
	struct mst_elf *e = calloc(1, sizeof(*e));
	if (!e)
		return mst_err_set(err, -ENOMEM, "out of memory");
	e->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (e->fd < 0) {
		int en = errno;
		free(e);
		return mst_err_set(err, -en, "cannot open %s: %s", path, strerror(en));
	}
	struct stat st;
	int rc;
	if (fstat(e->fd, &st) < 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
		rc = mst_err_set(err, -ENOEXEC, "%s: not an ELF file", path);
		goto fail;
	}
	e->map_len = (size_t)st.st_size;
	e->map = mmap(NULL, e->map_len, PROT_READ, MAP_PRIVATE, e->fd, 0);
	if (e->map == MAP_FAILED) {
		e->map = NULL;
		rc = mst_err_set(err, -errno, "cannot map %s: %s", path, strerror(errno));
		goto fail;
	}
	e->elf = elf_memory(e->map, e->map_len);
	GElf_Ehdr eh;
	if (!e->elf || elf_kind(e->elf) != ELF_K_ELF || !gelf_getehdr(e->elf, &eh)) {
		rc = mst_err_set(err, -ENOEXEC, "%s: not an ELF file", path);
		goto fail;
	}
	e->type = eh.e_type;
	size_t nph;
	if (elf_getphdrnum(e->elf, &nph) == 0 && nph && (e->loads = calloc(nph, sizeof(*e->loads))))
		for (size_t i = 0; i < nph; i++) {
			GElf_Phdr ph;
			if (gelf_getphdr(e->elf, (int)i, &ph) && ph.p_type == PT_LOAD)
				e->loads[e->nloads++] =
				    (struct load){ph.p_vaddr, ph.p_filesz, ph.p_offset};
		}

	Elf_Scn *dyn = NULL, *tab = NULL, *scn = NULL;
	GElf_Shdr dynsh, tabsh;
	while ((scn = elf_nextscn(e->elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_DYNSYM) {
			dyn = scn;
			dynsh = sh;
		} else if (sh.sh_type == SHT_SYMTAB) {
			tab = scn;
			tabsh = sh;
		}
	}
	/* Symbols are read on first use: the unwinder opens every module
	 * only for its sections and never asks for one. */
	e->dynsym = dyn;
	e->symtab = tab;
	e->has_symtab = tab != NULL;
	if (dyn)
		e->dynsh = dynsh;
	if (tab)
		e->tabsh = tabsh;
	load_build_id(e);
	*out = e;
	return 0;
fail:
	mst_elf_close(e);
	return rc;
}

void mst_elf_close(struct mst_elf *e)
{
	if (!e)
		return;
	if (e->elf)
		elf_end(e->elf);
	if (e->map)
		munmap(e->map, e->map_len);
	if (e->fd >= 0)
		close(e->fd);
	free(e->syms);
	free(e->by_addr);
	free(e->loads);
	free(e);
}

int mst_elf_type(const struct mst_elf *e)
{
	return e->type;
}

bool mst_elf_has_symtab(const struct mst_elf *e)
{
	return e->has_symtab;
}

const char *mst_elf_build_id(const struct mst_elf *e)
{
	return e->build_id;
}

/* Read .dynsym, then .symtab. False when out of memory. */
static bool load_symbols(struct mst_elf *e)
{
	if (e->loaded)
		return !e->failed;
	e->loaded = true;
	if ((e->dynsym && load_symtab(e, e->dynsym, &e->dynsh) < 0)) {
		e->failed = true;
		return false;
	}
	e->ndynsym = e->nsyms;
	if (e->symtab && load_symtab(e, e->symtab, &e->tabsh) < 0)
		e->failed = true;
	return !e->failed;
}

/* The sized symbols by address, for symbol_at: sorted on first use (a
 * libpython has ~15k symbols; only GC detection on stripped builds and
 * the tests ask). */
static bool sort_symbols(struct mst_elf *e)
{
	if (e->sorted)
		return e->by_addr != NULL;
	e->sorted = true;
	if (!load_symbols(e))
		return false;
	e->by_addr = malloc((e->nsyms ? e->nsyms : 1) * sizeof(*e->by_addr));
	if (!e->by_addr)
		return false;
	for (size_t i = 0; i < e->nsyms; i++)
		if (e->syms[i].size > 0)
			e->by_addr[e->nby_addr++] = e->syms[i];
	qsort(e->by_addr, e->nby_addr, sizeof(*e->by_addr), cmp_addr);
	return true;
}

int mst_elf_lookup(struct mst_elf *e, const char *name, uint64_t *value, uint64_t *size)
{
	if (!load_symbols(e))
		return -ENOMEM;
	for (size_t i = 0; i < e->nsyms; i++) {
		if (strcmp(e->syms[i].name, name))
			continue;
		if (value)
			*value = e->syms[i].value;
		if (size)
			*size = e->syms[i].size;
		return 0;
	}
	return -ENOENT;
}

const char *mst_elf_symbol_at(struct mst_elf *e, uint64_t vaddr, uint64_t *start, uint64_t *size)
{
	if (!sort_symbols(e))
		return NULL;
	/* Find the last symbol starting at or below vaddr, then walk back over
	 * the few that may still contain it (nested or aliased symbols). */
	size_t lo = 0, hi = e->nby_addr;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (e->by_addr[mid].value <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo, steps = 0; i > 0 && steps < 64; i--, steps++) {
		const struct sym *s = &e->by_addr[i - 1];
		if (vaddr >= s->value && vaddr - s->value < s->size) {
			if (start)
				*start = s->value;
			if (size)
				*size = s->size;
			return s->name;
		}
	}
	return NULL;
}

int mst_elf_section(const struct mst_elf *e, const char *name, uint64_t *addr, uint64_t *size)
{
	size_t shstrndx;
	if (elf_getshdrstrndx(e->elf, &shstrndx) < 0)
		return -ENOENT;
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(e->elf, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh))
			continue;
		const char *n = elf_strptr(e->elf, shstrndx, sh.sh_name);
		if (n && !strcmp(n, name)) {
			if (addr)
				*addr = sh.sh_addr;
			if (size)
				*size = sh.sh_size;
			return 0;
		}
	}
	return -ENOENT;
}

int mst_elf_read(const struct mst_elf *e, uint64_t vaddr, void *buf, size_t len)
{
	for (size_t i = 0; i < e->nloads; i++) {
		const struct load *ld = &e->loads[i];
		if (vaddr < ld->vaddr || vaddr - ld->vaddr >= ld->filesz ||
		    len > ld->filesz - (vaddr - ld->vaddr))
			continue;
		uint64_t off = ld->offset + (vaddr - ld->vaddr);
		if (off > e->map_len || len > e->map_len - off)
			return -EFAULT;
		memcpy(buf, (const char *)e->map + off, len);
		return 0;
	}
	return -EFAULT;
}

int mst_elf_bias(const struct mst_elf *e, const struct mst_maps *maps, const char *map_path,
                 uint64_t *bias)
{
	const struct load *first = NULL;
	for (size_t i = 0; i < e->nloads; i++)
		if (!first || e->loads[i].vaddr < first->vaddr)
			first = &e->loads[i];
	if (!first)
		return -ENOENT;
	/* The bias comes from the mapping of the first LOAD segment's page, not
	 * from any other mapping: the RW segment's offset and address differ. */
	uint64_t page_off = first->offset & ~(uint64_t)0xfff;
	for (size_t i = 0; i < maps->n; i++) {
		const struct mst_map *m = &maps->v[i];
		if (!m->path || strcmp(m->path, map_path) || m->offset != page_off)
			continue;
		*bias = m->start - (first->vaddr & ~(uint64_t)0xfff);
		return 0;
	}
	return -ENOENT;
}

int mst_elf_phdr(const struct mst_elf *e, uint32_t p_type, uint32_t flags, uint64_t *vaddr,
                 uint64_t *memsz)
{
	size_t n;
	if (elf_getphdrnum(e->elf, &n) < 0)
		return -ENOENT;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr ph;
		if (!gelf_getphdr(e->elf, (int)i, &ph) || ph.p_type != p_type ||
		    (ph.p_flags & flags) != flags)
			continue;
		if (vaddr)
			*vaddr = ph.p_vaddr;
		if (memsz)
			*memsz = ph.p_memsz;
		return 0;
	}
	return -ENOENT;
}
