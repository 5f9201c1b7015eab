/* libunwind with our own accessors. find_proc_info builds the remote table
 * description of a module's .eh_frame_hdr itself (what libunwind-ptrace does
 * internally) so that every memory access comes back to us with our context,
 * and can be served from the stack copy or from the module file on disk. */
#include "msttop/unwind.h"

#include <elf.h>
#include <libunwind.h>
#include <link.h>
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
	struct mst_walk_memo *rec; /* the words it reads are kept here */
	/* Bumped when the modules are read again: a walk memo of an older
	 * generation may hold frames of unwind tables now gone. */
	uint64_t gen;
	/* The read-only file mapping the last word outside the stack came
	 * from, and its module: libunwind reads .eh_frame a word at a time,
	 * most of a step's words from one mapping. NULL: none yet. */
	uint64_t ro_lo, ro_hi;
	struct module *ro_mod;
};

/* A frame of a kept walk: what the next walk compares, and the number of
 * words the walk had read when it reached the frame (those read from
 * there on decide the rest of the walk). */
struct walk_frame {
	uint64_t ip, sp, saved[6];
	size_t first_word;
	uint8_t exact;
};

struct walk_word {
	uint64_t addr, val;
};

struct walk_buf {
	struct walk_frame *f;
	size_t nf, fcap;
	struct walk_word *w;
	size_t nw, wcap;
	bool ok; /* complete: nothing failed to be kept */
};

struct mst_walk_memo {
	struct walk_buf last, cur; /* the walk kept, the one being kept */
	uint64_t gen;
	const struct mst_unwinder *u;
	uint64_t spliced;
	/* Checking (mst_walk_memo_new): the walks it ended, and those a
	 * stepped walk found different, with the stepped walk's room. */
	bool verify;
	uint64_t verified, differed;
	uint64_t *vpcs;
	uint8_t *vexact;
	size_t vmax;
};

static void free_modules(struct mst_unwinder *u)
{
	u->gen++;
	for (size_t i = 0; i < u->nmods; i++) {
		mst_elf_close(u->mods[i].elf);
		free(u->mods[i].path);
	}
	free(u->mods);
	u->mods = NULL;
	u->nmods = 0;
	u->ro_mod = NULL;
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

static void keep_word(struct mst_walk_memo *m, uint64_t addr, uint64_t val)
{
	if (!m || !m->cur.ok)
		return;
	struct walk_buf *b = &m->cur;
	if (b->nw == b->wcap) {
		size_t nc = b->wcap ? 2 * b->wcap : 64;
		struct walk_word *w = realloc(b->w, nc * sizeof(*w));
		if (!w) {
			b->ok = false;
			return;
		}
		b->w = w;
		b->wcap = nc;
	}
	b->w[b->nw++] = (struct walk_word){addr, val};
}

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write, void *arg)
{
	(void)as;
	struct mst_unwinder *u = arg;
	if (write)
		return -UNW_EREADONLYREG; /* we never write the target */
	struct mst_stack_copy *st = u->stack;
	if (st && addr >= st->base && addr - st->base < MST_STACK_COPY_MAX &&
	    addr - st->base + sizeof(*val) > st->reach)
		st->reach = addr - st->base + sizeof(*val);
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
		keep_word(u->rec, addr, *val);
		return 0;
	}
	/* Unwind tables live in read-only segments: read them from the file
	 * rather than with a system call. */
	struct module *m = u->ro_mod && addr >= u->ro_lo && addr < u->ro_hi ? u->ro_mod : NULL;
	const struct mst_map *mp = m || !u->maps ? NULL : mst_maps_find(u->maps, addr);
	if (mp && mp->path && mp->perms[1] != 'w') {
		for (size_t i = 0; i < u->nmods && !m; i++)
			if (!strcmp(u->mods[i].path, mp->path)) {
				m = &u->mods[i];
				u->ro_mod = m;
				u->ro_lo = mp->start;
				u->ro_hi = mp->end;
			}
	}
	if (m && m->elf && addr >= m->bias &&
	    mst_elf_read(m->elf, addr - m->bias, val, sizeof(*val)) == 0)
		return 0;
	if (mst_read(&u->mem, addr, val, sizeof(*val)) < 0)
		return -UNW_EINVAL;
	keep_word(u->rec, addr, *val);
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

uint64_t mst_stack_copy_base(const struct mst_regs *regs)
{
	return regs->sp >= MST_ARCH_RED_ZONE ? regs->sp - MST_ARCH_RED_ZONE : 0;
}

void mst_stack_copy_have(uint64_t base, uint8_t *buf, size_t len, size_t cap,
                         struct mst_stack_copy *out)
{
	*out = (struct mst_stack_copy){.base = base, .len = len, .cap = cap, .data = buf};
}

void mst_stack_copy_take(struct mst_proc *p, const struct mst_regs *regs, uint8_t *buf, size_t cap,
                         size_t first, struct mst_stack_copy *out)
{
	uint64_t base = mst_stack_copy_base(regs);
	size_t want = first < cap ? first : cap;
	mst_stack_copy_have(base, buf, mst_proc_read_partial(p, base, buf, want), cap, out);
	out->at_end = out->len < want;
}

struct mst_walk_memo *mst_walk_memo_new(bool verify)
{
	struct mst_walk_memo *m = calloc(1, sizeof(*m));
	if (m)
		m->verify = verify;
	return m;
}

void mst_walk_memo_free(struct mst_walk_memo *m)
{
	if (!m)
		return;
	free(m->last.f);
	free(m->last.w);
	free(m->cur.f);
	free(m->cur.w);
	free(m->vpcs);
	free(m->vexact);
	free(m);
}

void mst_walk_memo_trim(struct mst_walk_memo *m)
{
	if (!m)
		return;
	free(m->cur.f);
	free(m->cur.w);
	m->cur.f = NULL;
	m->cur.w = NULL;
	m->cur.fcap = m->cur.wcap = m->cur.nf = m->cur.nw = 0;
	struct walk_buf *b = &m->last;
	if (b->nf && b->fcap > b->nf) {
		struct walk_frame *f = realloc(b->f, b->nf * sizeof(*f));
		if (f) {
			b->f = f;
			b->fcap = b->nf;
		}
	}
	if (b->nw && b->wcap > b->nw) {
		struct walk_word *w = realloc(b->w, b->nw * sizeof(*w));
		if (w) {
			b->w = w;
			b->wcap = b->nw;
		}
	}
}

void mst_walk_memo_stats(const struct mst_walk_memo *m, uint64_t *spliced, uint64_t *verified,
                         uint64_t *differed)
{
	*spliced = m ? m->spliced : 0;
	*verified = m ? m->verified : 0;
	*differed = m ? m->differed : 0;
}

/* The callee-saved registers: with pc and sp, all a frame's caller's
 * unwind rules can use (besides memory). */
static const unw_regnum_t saved_regs[6] = {UNW_X86_64_RBX, UNW_X86_64_RBP, UNW_X86_64_R12,
                                           UNW_X86_64_R13, UNW_X86_64_R14, UNW_X86_64_R15};

static bool keep_frame(struct walk_buf *b, const struct walk_frame *f)
{
	if (!b->ok)
		return false;
	if (b->nf == b->fcap) {
		size_t nc = b->fcap ? 2 * b->fcap : 16;
		struct walk_frame *v = realloc(b->f, nc * sizeof(*v));
		if (!v) {
			b->ok = false;
			return false;
		}
		b->f = v;
		b->fcap = nc;
	}
	b->f[b->nf++] = *f;
	return true;
}

/* Whether every word the last walk read from its frame k outwards still
 * holds what it held (read as the walk would: the copy, else the
 * process). */
static bool words_hold(struct mst_unwinder *u, const struct walk_buf *last, size_t k)
{
	struct mst_walk_memo *rec = u->rec;
	u->rec = NULL; /* the check's reads are not the walk's */
	bool same = true;
	for (size_t i = last->f[k].first_word; i < last->nw && same; i++) {
		unw_word_t v;
		same = access_mem(u->as, last->w[i].addr, &v, 0, u) == 0 && v == last->w[i].val;
	}
	u->rec = rec;
	return same;
}

/* Frame f of this walk is frame k of the last one, and the rest follows:
 * the last walk's frames after k end this one, and are kept with the
 * words that decided them. Returns the frames added. */
static size_t splice(struct mst_walk_memo *m, size_t k, uint64_t *pcs, uint8_t *exact, size_t n,
                     size_t max)
{
	const struct walk_buf *last = &m->last;
	struct walk_buf *cur = &m->cur;
	size_t base = cur->nw, added = 0;
	for (size_t i = last->f[k].first_word; i < last->nw; i++)
		keep_word(m, last->w[i].addr, last->w[i].val);
	for (size_t i = k + 1; i < last->nf && n + added < max; i++, added++) {
		struct walk_frame f = last->f[i];
		f.first_word = base + (f.first_word - last->f[k].first_word);
		keep_frame(cur, &f);
		pcs[n + added] = f.ip;
		if (exact)
			exact[n + added] = f.exact;
	}
	m->spliced += added;
	return added;
}

static int walk(struct mst_unwinder *u, const struct mst_regs *regs, struct mst_stack_copy *stack,
                struct mst_walk_memo *m, uint64_t *pcs, uint8_t *exact, size_t max, size_t *n,
                struct mst_err *err)
{
	u->regs = regs;
	u->stack = stack;
	*n = 0;
	if (!u->maps && load_modules(u) < 0)
		return mst_err_set(err, -ESRCH, "process has exited");
	/* The last walk holds only for the same modules. */
	bool use_last = m && m->last.ok && m->gen == u->gen && m->u == u && m->last.nf > 0;
	if (m) {
		m->cur.nf = m->cur.nw = 0;
		m->cur.ok = true;
		u->rec = m;
	}
	unw_cursor_t c;
	int rc = unw_init_remote(&c, u->as, u);
	if (rc < 0) {
		if (exact)
			exact[*n] = 1;
		pcs[(*n)++] = regs->ip;
		u->rec = NULL;
		if (m)
			m->cur.ok = false;
		goto out;
	}
	uint64_t prev_sp = 0;
	size_t ko = 0, tries = 0;
	int step = 1;
	bool spliced = false;
	/* The innermost pc is where the thread is; so is the pc of a frame a
	 * signal interrupted, whose registers libunwind took from the signal
	 * context (it calls that frame the signal frame). The frame inside
	 * it, the sigreturn trampoline the handler returns to, is entered at
	 * its first byte without a call. Every other pc is a return address,
	 * which points after its call. */
	do {
		unw_word_t ip = 0, sp = 0;
		/* A zero return address ends a stack by convention. */
		if (unw_get_reg(&c, UNW_REG_IP, &ip) < 0 || ip == 0) {
			step = ip == 0 ? 0 : -1;
			break;
		}
		unw_get_reg(&c, UNW_REG_SP, &sp);
		/* A stack that does not grow towards its base is a loop. */
		if (*n > 0 && sp < prev_sp) {
			step = -1;
			break;
		}
		prev_sp = sp;
		bool sig = *n > 0 && unw_is_signal_frame(&c) > 0;
		if (exact) {
			exact[*n] = *n == 0 || sig;
			if (sig)
				exact[*n - 1] = 1;
		}
		pcs[(*n)++] = ip;
		if (!m)
			continue;
		struct walk_frame f = {.ip = ip, .sp = sp, .exact = exact ? exact[*n - 1] : 0};
		for (size_t r = 0; r < 6; r++) {
			unw_word_t v = 0;
			unw_get_reg(&c, saved_regs[r], &v);
			f.saved[r] = v;
		}
		f.first_word = m->cur.nw;
		/* A signal frame's mark is set on its inner neighbour too:
		 * keep the kept frames' marks as the walk's. */
		if (sig && m->cur.nf > 0)
			m->cur.f[m->cur.nf - 1].exact = 1;
		keep_frame(&m->cur, &f);
		if (!use_last || sig || tries >= 4)
			continue;
		while (ko < m->last.nf && m->last.f[ko].sp < sp)
			ko++;
		if (ko >= m->last.nf || m->last.f[ko].sp != sp || m->last.f[ko].ip != ip ||
		    memcmp(m->last.f[ko].saved, f.saved, sizeof(f.saved)) != 0)
			continue;
		tries++;
		if (!words_hold(u, &m->last, ko))
			continue;
		*n += splice(m, ko, pcs, exact, *n, max);
		spliced = true;
		break;
	} while (*n < max && (step = unw_step(&c)) > 0);
	/* Only a walk that reached the stack's end (libunwind's 0: the
	 * outermost frame) is one to end the next from: one cut short (an
	 * unreadable word, a loop, the frame limit) would cut every walk
	 * that meets it. A splice ends where its source ended. */
	if (m && !spliced && step != 0)
		m->cur.ok = false;
	if (*n == 0) {
		if (exact)
			exact[*n] = 1;
		pcs[(*n)++] = regs->ip;
	}
out:
	u->stack = NULL;
	u->rec = NULL;
	if (m) {
		/* This walk is the one to compare the next with. */
		struct walk_buf t = m->last;
		m->last = m->cur;
		m->cur = t;
		m->gen = u->gen;
		m->u = u;
	}
	return 0;
}

int mst_unwind(struct mst_unwinder *u, const struct mst_regs *regs, struct mst_stack_copy *stack,
               uint64_t *pcs, uint8_t *exact, size_t max, size_t *n, struct mst_err *err)
{
	return walk(u, regs, stack, NULL, pcs, exact, max, n, err);
}

int mst_unwind_memo(struct mst_unwinder *u, const struct mst_regs *regs,
                    struct mst_stack_copy *stack, struct mst_walk_memo *memo, uint64_t *pcs,
                    uint8_t *exact, size_t max, size_t *n, struct mst_err *err)
{
	uint64_t before = memo ? memo->spliced : 0;
	int rc = walk(u, regs, stack, memo, pcs, exact, max, n, err);
	if (rc < 0 || !memo || !memo->verify || memo->spliced == before)
		return rc;
	/* Checked: the whole walk again, stepped; the stepped one wins. */
	if (!memo->vpcs && !(memo->vpcs = malloc(max * sizeof(*memo->vpcs))))
		return rc;
	if (!memo->vexact && !(memo->vexact = malloc(max)))
		return rc;
	if (max > memo->vmax && memo->vmax) /* the first walk's max sized them */
		return rc;
	memo->vmax = max;
	size_t n2 = 0;
	if (walk(u, regs, stack, NULL, memo->vpcs, memo->vexact, max, &n2, NULL) < 0)
		return rc;
	memo->verified++;
	if (n2 != *n || memcmp(memo->vpcs, pcs, n2 * sizeof(*pcs)) != 0 ||
	    (exact && memcmp(memo->vexact, exact, n2) != 0)) {
		memo->differed++;
		memcpy(pcs, memo->vpcs, n2 * sizeof(*pcs));
		if (exact)
			memcpy(exact, memo->vexact, n2);
		*n = n2;
	}
	return rc;
}

struct text_at {
	uintptr_t addr, lo, hi;
};

static int text_of(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct text_at *t = arg;
	/* Not msttop itself: its own calls are never the library's. */
	if (!info->dlpi_name || !info->dlpi_name[0])
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && t->addr >= lo &&
		    t->addr - lo < ph->p_memsz) {
			t->lo = lo;
			t->hi = lo + ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

bool mst_unwind_text(uintptr_t *lo, uintptr_t *hi)
{
	/* The object unw_step is in: the one whose steps lock its cache. */
	struct text_at t = {.addr = (uintptr_t)(void *)unw_step};
	if (!dl_iterate_phdr(text_of, &t))
		return false;
	*lo = t.lo;
	*hi = t.hi;
	return true;
}
