/* Merge + symbolize + inline expansion of one thread's stack, for every
 * reader (stack.h). */
#include "msttop/stack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "msttop/array.h"
#include "msttop/attrib.h"
#include "msttop/format.h"

static int push(struct mst_stack *st, struct mst_frame f)
{
	size_t cap = st->cap;
	if (mst_array_grow((void **)&st->v, &cap, st->n + 1, sizeof(*st->v)) < 0)
		return -ENOMEM;
	if (cap != st->cap) {
		size_t lcap = st->cap;
		void *l = st->labels;
		if (mst_array_grow(&l, &lcap, cap, sizeof(*st->labels)) < 0)
			return -ENOMEM;
		st->labels = l;
		st->cap = cap;
	}
	st->v[st->n++] = f;
	return 0;
}

/* The label of native frame i of st (stored beside it). */
static void label_native(struct mst_stack *st, size_t i)
{
	struct mst_frame *f = &st->v[i];
	if (f->resolved && f->nat.func) {
		f->label = f->nat.func;
	} else if (f->resolved && f->nat.module) {
		/* "module+0xoff", as snprintf would put it: per frame per
		 * sample in a stripped program. */
		char *l = st->labels[i], hex[16];
		const char *base = mst_fmt_basename(f->nat.module);
		size_t room = sizeof(st->labels[i]) - 1, n = strnlen(base, room), h = 0;
		memcpy(l, base, n);
		uint64_t off = f->nat.module_off;
		do
			hex[h++] = "0123456789abcdef"[off & 15];
		while ((off >>= 4));
		for (const char *c = "+0x"; *c && n < room; c++)
			l[n++] = *c;
		while (h && n < room)
			l[n++] = hex[--h];
		l[n] = '\0';
		f->label = l;
	} else {
		f->label = "??";
	}
}

/* Which frames are the interpreter's own (attrib.h): the classifier's
 * kind of each pc says which are in the interpreter's range, the module's
 * path the rest. */
static int mark_interp_own(struct mst_stack *st)
{
	if (mst_array_grow((void **)&st->cls, &st->clscap, st->n ? st->n : 1, sizeof(*st->cls)) <
	        0 ||
	    mst_array_grow((void **)&st->own, &st->owncap, st->n ? st->n : 1, sizeof(*st->own)) < 0)
		return -ENOMEM;
	/* A module's class is a few string searches: the last one is kept,
	 * since a stack's frames come in runs of one module. */
	const char *last = NULL;
	uint8_t last_cls = MST_AC_OTHER;
	for (size_t i = 0; i < st->n; i++) {
		const struct mst_frame *f = &st->v[i];
		const char *mod = f->resolved ? f->nat.module : NULL;
		if (f->py) {
			st->cls[i] = MST_AC_PYTHON;
		} else if (f->nkind != MST_NK_OTHER) {
			st->cls[i] = MST_AC_INTERP;
		} else {
			if (!mod || mod != last) {
				last = mod;
				last_cls = (uint8_t)mst_attr_module_class(mod);
			}
			st->cls[i] = last_cls;
		}
	}
	mst_attr_interp_own(st->cls, st->n, st->own);
	for (size_t i = 0; i < st->n; i++)
		st->v[i].interp_own = st->own[i];
	return 0;
}

int mst_stack_build(struct mst_stack *st, const struct mst_thread_snap *t, struct mst_symbols *sym,
                    unsigned flags)
{
	bool native = flags & MST_STACK_NATIVE;
	st->n = 0;
	size_t max = t->npcs + t->npy;
	if (mst_array_grow((void **)&st->m, &st->mcap, max ? max : 1, sizeof(*st->m)) < 0 ||
	    mst_array_grow((void **)&st->entry, &st->ecap, t->npy ? t->npy : 1,
	                   sizeof(*st->entry)) < 0)
		return -ENOMEM;
	size_t nm;
	mst_snapshot_merge(t, native, st->entry, st->m, max, &nm);
	for (size_t i = 0; i < nm; i++) {
		const struct mst_mframe *m = &st->m[i];
		if (m->kind == MST_MF_PYTHON) {
			const struct mst_py_frame *p = &t->py[m->index];
			/* Python frames alone have no eval frames to pair with:
			 * they are not "unmatched". */
			if (push(st, (struct mst_frame){.py = p,
			                                .label = p->func,
			                                .flags = native ? m->flags : 0}) < 0)
				return -ENOMEM;
			continue;
		}
		uint64_t pc = t->pcs[m->index];
		uint8_t nkind = t->nkinds ? t->nkinds[m->index] : MST_NK_OTHER;
		const struct mst_native_frame *nf = NULL;
		size_t k = 0;
		/* A return address points after its call: it is looked up at
		 * pc - 1 (the unwinder said which pcs are). */
		bool is_return = mst_thread_pc_is_return(t, m->index);
		bool skip = (flags & MST_STACK_SKIP_FOLDED) && (m->flags & MST_MF_FOLDED);
		if (!sym || skip || mst_symbols_resolve(sym, pc, is_return, &nf, &k) < 0 || !k) {
			if (push(st, (struct mst_frame){.pc = pc,
			                                .nat = {.pc = pc},
			                                .flags = m->flags,
			                                .nkind = nkind}) < 0)
				return -ENOMEM;
			continue;
		}
		/* The symbols give the real function first, then each inlined
		 * callee: innermost first means from the last. The answer is
		 * copied: the symbols' array lasts only until their next lookup. */
		for (size_t j = k; j-- > 0;) {
			if (push(st, (struct mst_frame){.nat = nf[j],
			                                .resolved = true,
			                                .pc = pc,
			                                .flags = m->flags,
			                                .nkind = nkind}) < 0)
				return -ENOMEM;
		}
	}
	/* Labels last: the label storage may move while frames are added. */
	for (size_t i = 0; i < st->n; i++)
		if (!st->v[i].py)
			label_native(st, i);
	return native ? mark_interp_own(st) : 0;
}

void mst_stack_fini(struct mst_stack *st)
{
	free(st->v);
	free(st->labels);
	free(st->m);
	free(st->entry);
	free(st->cls);
	free(st->own);
	memset(st, 0, sizeof(*st));
}
