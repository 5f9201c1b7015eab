/* Thread states from what a snapshot read (classify.h): pure, no reads. */
#include "msttop/classify.h"

#include <string.h>

#include "msttop/arch.h"
#include "msttop/merge.h"

void mst_classify(struct mst_snapshot *s, const struct mst_classify_in *in)
{
	const struct mst_py_runtime_info *info = in->info;
	const struct mst_py_gil *g = &in->gil;
	bool gc_seen = false;
	for (size_t i = 0; i < s->nthreads; i++) {
		struct mst_thread_snap *t = &s->threads[i];
		if (t->nkinds)
			memset(t->nkinds, MST_NK_OTHER, t->npcs);
		bool waits = t->gil_left, drops = false, in_gc = false;
		for (size_t k = 0; k < t->npcs && t->nkinds; k++) {
			/* A return address points after the call. */
			bool ret = mst_thread_pc_is_return(t, k);
			uint64_t a = ret ? t->pcs[k] - 1 : t->pcs[k];
			if (info && mst_py_runtime_is_eval_pc(info, a))
				t->nkinds[k] = MST_NK_EVAL;
			else if (info && a >= info->module_start && a < info->module_end)
				t->nkinds[k] = MST_NK_INTERP;
			for (size_t r = 0; r < in->ngc && t->nkinds[k] == MST_NK_INTERP; r++)
				in_gc |= a >= in->gc[r].lo && a < in->gc[r].hi;
			if (!in->role || k >= MST_CLASSIFY_ROLE_DEPTH ||
			    t->nkinds[k] == MST_NK_OTHER)
				continue;
			enum mst_py_fn_role role = in->role(in->ctx, t->pcs[k], ret);
			waits |= role == MST_PY_FN_GIL_WAIT;
			drops |= role == MST_PY_FN_GIL_DROP;
			in_gc |= role == MST_PY_FN_GC;
		}
		/* A thread blocked on a futex inside the GIL struct waits for
		 * it; on the switch condition, it is dropping it (FORCE_SWITCHING
		 * makes the releaser wait for the next holder). This needs no
		 * symbols, so it works on stripped builds too. */
		if (g->addr && (t->regs.syscall_nr == MST_SYS_FUTEX ||
		                t->regs.syscall_nr == MST_SYS_RESTART)) {
			uint64_t f = t->regs.syscall_arg0;
			if (f >= g->switch_lo && f < g->switch_hi)
				drops = true;
			else if (f >= g->addr && f < g->addr + g->size)
				waits = true;
		}
		unsigned st = 0;
		if (t->has_py)
			st |= MST_TS_PYTHON;
		if (t->holds_gil)
			st |= MST_TS_HOLDS_GIL;
		else if (drops)
			st |= MST_TS_DROPS_GIL;
		else if (waits)
			st |= MST_TS_WAITS_GIL;
		if (s->gc_collecting && in_gc) {
			st |= MST_TS_IN_GC;
			gc_seen = true;
		}
		/* /proc's letter was read before the stop; a thread stopped
		 * inside a sleeping system call was not on the CPU. */
		bool blocked =
		    t->regs.syscall_nr >= 0 && mst_arch_syscall_blocks(t->regs.syscall_nr);
		if (t->state == 'R' && !blocked && !waits && !drops)
			st |= MST_TS_RUNNING;
		else if (t->state == 'T' || t->state == 't')
			st |= MST_TS_STOPPED;
		else if (!(st & (MST_TS_WAITS_GIL | MST_TS_DROPS_GIL)))
			st |= MST_TS_IDLE;
		t->states = st;
	}
	s->gc_thread_unknown = s->gc_collecting && !gc_seen;
}
