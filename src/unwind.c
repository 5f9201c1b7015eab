/* libunwind with our own accessors. find_proc_info builds the remote table
 * description of a module's .eh_frame_hdr itself (what libunwind-ptrace does
 * internally) so that every memory access comes back to us with our context,
 * and can be served from the stack copy or from the module file on disk. */
#include "msttop/unwind.h"

#include <elf.h>
#include <libunwind.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msttop/elfsym.h"
#include "msttop/maps.h"

/* Exported by libunwind for remote unwinders but not declared in its public
 * headers; the name carries the architecture. */
extern int _Ux86_64_dwarf_search_unwind_table(unw_addr_space_t as, unw_word_t ip,
                                              unw_dyn_info_t *di, unw_proc_info_t *pi,
                                              int need_unwind_info, void *arg);
#define search_unwind_table _Ux86_64_dwarf_search_unwind_table

#define MAX_MODULES 1024

/* One mapped object with executable code. */
struct module {
	uint64_t text_lo, text_hi; /* executable range in the target */
	uint64_t bias;
	struct mst_elf *elf; /* NULL when it could not be opened */
	bool have_table;
	unw_dyn_info_t di;
	char *path;
};

struct mst_unwinder {
	struct mst_proc *proc; /* NULL for memory that does not change (a core) */
	struct mst_reader mem; /* the target's memory: proc's, or a core's */
	pid_t pid;             /* 0: module files are opened at their own paths */
	/* A core's map, borrowed: never re-read. NULL: /proc/PID/maps. */
	const struct mst_maps *fixed;
	unw_addr_space_t as;
	struct mst_maps *maps;
	struct module *mods;
	size_t nmods;
	/* Per walk. */
	const struct mst_regs *regs;
	struct mst_stack_copy *stack;
};

static void free_modules(struct mst_unwinder *u)
{
	for (size_t i = 0; i < u->nmods; i++) {
		mst_elf_close(u->mods[i].elf);
		free(u->mods[i].path);
	}
	free(u->mods);
	u->mods = NULL;
	u->nmods = 0;
	if (!u->fixed)
		mst_maps_free(u->maps);
	u->maps = NULL;
}

void mst_unwinder_flush(struct mst_unwinder *u)
{
	free_modules(u);
	unw_flush_cache(u->as, 0, 0);
}

static int cmp_mod(const void *a, const void *b)
{
	const struct module *x = a, *y = b;
	return (x->text_lo > y->text_lo) - (x->text_lo < y->text_lo);
}

/* Read the encoded .eh_frame_hdr header and describe its binary-search table
 * for libunwind. Only the encodings every toolchain emits are accepted. */
static bool setup_table(struct module *m, uint64_t hdr_vaddr)
{
	uint8_t h[12];
	if (mst_elf_read(m->elf, hdr_vaddr, h, sizeof(h)) < 0)
		return false;
	enum { PE_udata4 = 0x03, PE_sdata4 = 0x0b, PE_pcrel = 0x10, PE_datarel = 0x30 };
	if (h[0] != 1 || h[1] != (PE_pcrel | PE_sdata4) || h[2] != PE_udata4 ||
	    h[3] != (PE_datarel | PE_sdata4))
		return false;
	uint32_t fde_count;
	memcpy(&fde_count, h + 8, 4);
	memset(&m->di, 0, sizeof(m->di));
	m->di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	m->di.start_ip = m->text_lo;
	m->di.end_ip = m->text_hi;
	m->di.u.rti.segbase = hdr_vaddr + m->bias;
	m->di.u.rti.table_data = hdr_vaddr + m->bias + 12;
	m->di.u.rti.table_len = (unw_word_t)fde_count * 8 / sizeof(unw_word_t);
	return true;
}

static int load_modules(struct mst_unwinder *u)
{
	pid_t pid = u->pid;
	if (u->fixed)
		u->maps = (struct mst_maps *)u->fixed; /* not freed: see free_modules */
	else if (mst_maps_read(pid, &u->maps, NULL) < 0)
		return -ESRCH;
	u->mods = calloc(u->maps->n ? u->maps->n : 1, sizeof(*u->mods));
	if (!u->mods)
		return -ENOMEM;
	for (size_t i = 0; i < u->maps->n && u->nmods < MAX_MODULES; i++) {
		const struct mst_map *mp = &u->maps->v[i];
		if (mp->perms[2] != 'x' || !mp->path || mp->path[0] != '/')
			continue;
		/* One module per file: skip a file already loaded. */
		bool seen = false;
		for (size_t k = 0; k < u->nmods && !seen; k++)
			seen = !strcmp(u->mods[k].path, mp->path);
		if (seen)
			continue;
		struct module *m = &u->mods[u->nmods];
		char open_path[4200];
		mst_maps_open_path(pid, mp, open_path, sizeof(open_path));
		if (mst_elf_open(open_path, &m->elf, NULL) < 0)
			continue;
		uint64_t tv, tsz, hv;
		if (mst_elf_bias(m->elf, u->maps, mp->path, &m->bias) < 0 ||
		    mst_elf_phdr(m->elf, PT_LOAD, PF_X, &tv, &tsz) < 0) {
			mst_elf_close(m->elf);
			m->elf = NULL;
			continue;
		}
		m->path = strdup(mp->path);
		m->text_lo = tv + m->bias;
		m->text_hi = tv + tsz + m->bias;
		if (mst_elf_phdr(m->elf, PT_GNU_EH_FRAME, 0, &hv, NULL) == 0)
			m->have_table = setup_table(m, hv);
		u->nmods++;
	}
	if (u->nmods > 1)
		qsort(u->mods, u->nmods, sizeof(*u->mods), cmp_mod);
	return 0;
}

static struct module *find_module(struct mst_unwinder *u, uint64_t ip)
{
	if (!u->maps && load_modules(u) < 0)
		return NULL;
	for (int attempt = 0; attempt < 2; attempt++) {
		for (size_t i = 0; i < u->nmods; i++)
			if (ip >= u->mods[i].text_lo && ip < u->mods[i].text_hi)
				return &u->mods[i];
		/* A module mapped after we looked: look again, once. */
		if (attempt == 0 && !u->fixed && u->maps && !mst_maps_find(u->maps, ip)) {
			free_modules(u);
			if (load_modules(u) < 0)
				return NULL;
		} else {
			break;
		}
	}
	return NULL;
}

static int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
                          int need_unwind_info, void *arg)
{
	struct mst_unwinder *u = arg;
	struct module *m = find_module(u, ip);
	if (!m || !m->have_table)
		return -UNW_ENOINFO;
	return search_unwind_table(as, ip, &m->di, pi, need_unwind_info, arg);
}

static void put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
	(void)as;
	(void)arg;
	/* The remote-table search allocates the unwind info it returns. */
	free(pi->unwind_info);
	pi->unwind_info = NULL;
}

static int get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *addr, void *arg)
{
	(void)as;
	(void)addr;
	(void)arg;
	return -UNW_ENOINFO;
}

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write, void *arg)
{
	(void)as;
	struct mst_unwinder *u = arg;
	if (write)
		return -UNW_EREADONLYREG; /* we never write the target */
	struct mst_stack_copy *st = u->stack;
	/* Deeper than the copy but within its room: copy the next stretch
	 * (the thread is still stopped) rather than read word by word. */
	if (st && u->proc && !st->at_end && addr >= st->base + st->len &&
	    addr - st->base + sizeof(*val) <= st->cap) {
		size_t want = (size_t)(addr - st->base) + sizeof(*val) + 32 * 1024;
		if (want > st->cap)
			want = st->cap;
		size_t got = mst_proc_read_partial(u->proc, st->base + st->len, st->data + st->len,
		                                   want - st->len);
		st->at_end = got < want - st->len;
		st->len += got;
	}
	if (st && addr >= st->base && addr - st->base + sizeof(*val) <= st->len) {
		memcpy(val, st->data + (addr - st->base), sizeof(*val));
		if (addr - st->base + sizeof(*val) > st->used)
			st->used = addr - st->base + sizeof(*val);
		if (st->reads && st->nreads < st->reads_max)
			st->reads[st->nreads] = (uint32_t)(addr - st->base);
		st->nreads++;
		return 0;
	}
	/* Unwind tables live in read-only segments: read them from the file
	 * rather than with a system call. */
	const struct mst_map *mp = u->maps ? mst_maps_find(u->maps, addr) : NULL;
	if (mp && mp->path && mp->perms[1] != 'w') {
		for (size_t i = 0; i < u->nmods; i++) {
			struct module *m = &u->mods[i];
			if (strcmp(m->path, mp->path))
				continue;
			if (addr >= m->bias &&
			    mst_elf_read(m->elf, addr - m->bias, val, sizeof(*val)) == 0)
				return 0;
			break;
		}
	}
	if (mst_read(&u->mem, addr, val, sizeof(*val)) < 0)
		return -UNW_EINVAL;
	return 0;
}

static int access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write, void *arg)
{
	(void)as;
	struct mst_unwinder *u = arg;
	if (write)
		return -UNW_EREADONLYREG;
	uint64_t v;
	if (!mst_arch_unw_reg(u->regs, reg, &v))
		return -UNW_EBADREG;
	*val = v;
	return 0;
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
                        void *arg)
{
	(void)as;
	(void)reg;
	(void)val;
	(void)write;
	(void)arg;
	return -UNW_EBADREG;
}

static int resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	(void)as;
	(void)c;
	(void)arg;
	return -UNW_EINVAL;
}

static int get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
                         unw_word_t *off, void *arg)
{
	(void)as;
	(void)addr;
	(void)buf;
	(void)len;
	(void)off;
	(void)arg;
	return -UNW_ENOINFO; /* names come from the symbols module */
}

static unw_accessors_t accessors = {
    .find_proc_info = find_proc_info,
    .put_unwind_info = put_unwind_info,
    .get_dyn_info_list_addr = get_dyn_info_list_addr,
    .access_mem = access_mem,
    .access_reg = access_reg,
    .access_fpreg = access_fpreg,
    .resume = resume,
    .get_proc_name = get_proc_name,
};

static int unwinder_new(struct mst_unwinder *u, struct mst_unwinder **out, struct mst_err *err)
{
	u->as = unw_create_addr_space(&accessors, 0);
	if (!u->as) {
		free(u);
		return mst_err_set(err, -ENOMEM, "libunwind: cannot create an address space");
	}
	unw_set_caching_policy(u->as, UNW_CACHE_GLOBAL);
	*out = u;
	return 0;
}

int mst_unwinder_new(struct mst_proc *p, struct mst_unwinder **out, struct mst_err *err)
{
	struct mst_unwinder *u = calloc(1, sizeof(*u));
	if (!u)
		return mst_err_set(err, -ENOMEM, "out of memory");
	u->proc = p;
	u->mem = mst_proc_reader(p);
	u->pid = mst_proc_pid(p);
	return unwinder_new(u, out, err);
}

int mst_unwinder_new_static(const struct mst_reader *r, const struct mst_maps *maps,
                            struct mst_unwinder **out, struct mst_err *err)
{
	struct mst_unwinder *u = calloc(1, sizeof(*u));
	if (!u)
		return mst_err_set(err, -ENOMEM, "out of memory");
	u->mem = *r;
	u->fixed = maps;
	return unwinder_new(u, out, err);
}

void mst_unwinder_free(struct mst_unwinder *u)
{
	if (!u)
		return;
	free_modules(u);
	unw_destroy_addr_space(u->as);
	free(u);
}

void mst_stack_copy_take(struct mst_proc *p, const struct mst_regs *regs, uint8_t *buf, size_t cap,
                         size_t first, struct mst_stack_copy *out)
{
	out->base = regs->sp >= MST_ARCH_RED_ZONE ? regs->sp - MST_ARCH_RED_ZONE : 0;
	out->data = buf;
	out->cap = cap;
	size_t want = first < cap ? first : cap;
	out->len = mst_proc_read_partial(p, out->base, buf, want);
	out->at_end = out->len < want;
	out->used = 0;
	out->reads = NULL;
	out->nreads = out->reads_max = 0;
}

int mst_unwind(struct mst_unwinder *u, const struct mst_regs *regs, struct mst_stack_copy *stack,
               uint64_t *pcs, uint8_t *exact, size_t max, size_t *n, struct mst_err *err)
{
	u->regs = regs;
	u->stack = stack;
	*n = 0;
	if (!u->maps && load_modules(u) < 0)
		return mst_err_set(err, -ESRCH, "process has exited");
	unw_cursor_t c;
	int rc = unw_init_remote(&c, u->as, u);
	if (rc < 0) {
		if (exact)
			exact[*n] = 1;
		pcs[(*n)++] = regs->ip;
		return 0;
	}
	uint64_t prev_sp = 0;
	/* The innermost pc is where the thread is; so is the pc of a frame a
	 * signal interrupted, whose registers libunwind took from the signal
	 * context (it calls that frame the signal frame). The frame inside
	 * it, the sigreturn trampoline the handler returns to, is entered at
	 * its first byte without a call. Every other pc is a return address,
	 * which points after its call. */
	do {
		unw_word_t ip = 0, sp = 0;
		if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || ip == 0)
			break;
		unw_get_reg(&c, UNW_REG_SP, &sp);
		/* A stack that does not grow towards its base is a loop. */
		if (*n > 0 && sp < prev_sp)
			break;
		prev_sp = sp;
		bool sig = *n > 0 && unw_is_signal_frame(&c) > 0;
		if (exact) {
			exact[*n] = *n == 0 || sig;
			if (sig)
				exact[*n - 1] = 1;
		}
		pcs[(*n)++] = ip;
	} while (*n < max && unw_step(&c) > 0);
	if (*n == 0) {
		if (exact)
			exact[*n] = 1;
		pcs[(*n)++] = regs->ip;
	}
	u->stack = NULL;
	return 0;
}
