/* The GIL (holder, locked; its place by version) and the collector (its
 * flag, its functions by name, its code in a stripped build). */
#include "py-int.h"

/* ---- GIL and GC --------------------------------------------------------- */

/* "collect.constprop.0" and "take_gil.cold" are the function they split
 * from: compare the part before the first '.'. */
static bool name_is(const char *func, const char *const *names)
{
	if (!func)
		return false;
	size_t len = strcspn(func, ".");
	for (; *names; names++)
		if (strlen(*names) == len && !strncmp(func, *names, len))
			return true;
	return false;
}

/* The interpreter's own functions that mark a state, by version:
 * take_gil (3.6-3.15, static), drop_gil, and the collector's entry points
 * (3.6-3.7 collect/collect_with_callback, 3.8-3.12 gc_collect_main etc.,
 * 3.13 gc_collect_main/gc_collect_region). Static functions: found only in
 * builds that keep .symtab. */
static const char *const gil_wait_names[] = {
    "take_gil",
    /* Exported, so named even in stripped builds: they only block while
     * taking the GIL back (take_gil is inlined or unnamed there). */
    "PyEval_RestoreThread", "PyEval_AcquireThread", "PyEval_AcquireLock", NULL};
static const char *const gil_drop_names[] = {"drop_gil", NULL};
static const char *const gc_names[] = {"collect",
                                       "collect_with_callback",
                                       "collect_generations",
                                       "gc_collect_main",
                                       "gc_collect_with_callback",
                                       "gc_collect_generations",
                                       "gc_collect_region",
                                       "gc_collect_full",
                                       "gc_collect_young",
                                       "gc_collect_increment",
                                       "_PyGC_Collect",
                                       "PyGC_Collect",
                                       "_PyGC_CollectNoFail",
                                       NULL};

enum mst_py_fn_role mst_py_function_role(const char *func)
{
	if (name_is(func, gil_wait_names))
		return MST_PY_FN_GIL_WAIT;
	if (name_is(func, gil_drop_names))
		return MST_PY_FN_GIL_DROP;
	if (name_is(func, gc_names))
		return MST_PY_FN_GC;
	return MST_PY_FN_NONE;
}

/* locked and last_holder of a struct _gil_runtime_state at gil, in one
 * read (they are 8 bytes apart in 3.7-3.15) so the pair is consistent. */
static void read_gil_struct(const struct mst_py *py, uint64_t gil, int64_t locked_off,
                            int64_t holder_off, struct gil_state *g)
{
	uint8_t buf[64];
	int64_t lo = locked_off < holder_off ? locked_off : holder_off;
	int64_t hi = locked_off < holder_off ? holder_off + 8 : locked_off + 4;
	if (hi - lo > (int64_t)sizeof(buf) ||
	    rd(py, gil + (uint64_t)lo, buf, (size_t)(hi - lo)) < 0)
		return;
	g->known = true;
	g->locked = get_i32(buf, locked_off - lo);
	g->holder = get_u64(buf, holder_off - lo);
}

/* The GIL shared by the whole runtime (3.6-3.11). */
void mst_py_read_runtime_gil(const struct mst_py *py, struct gil_state *g)
{
	const struct mst_py_layout *l = &py->lay;
	const struct mst_py_runtime_info *in = &py->info;

	memset(g, 0, sizeof(*g));
	if (l->static_globals) { /* 3.6: statics in ceval.c */
		if (in->has_gil_locked && in->has_gil_last_holder) {
			if (rd_i32(py, in->gil_locked, &g->locked) == 0 &&
			    rd_u64(py, in->gil_last_holder, &g->holder) == 0)
				g->known = true;
		} else if (in->tstate_current) {
			/* Stripped: _PyThreadState_Current (exported) is the
			 * holder, NULL while nobody holds it. */
			if (rd_u64(py, in->tstate_current, &g->holder) == 0) {
				g->known = true;
				g->locked = g->holder != 0;
			}
		}
		return;
	}
	if (l->rt_gil_locked >= 0 && l->rt_gil_last_holder >= 0)
		read_gil_struct(py, in->runtime, l->rt_gil_locked, l->rt_gil_last_holder, g);
}

/* 3.12+: each interpreter points to its GIL (its own _gil, or the main
 * interpreter's when shared). *gil_addr gets where it is, 0 if unknown. */
void mst_py_read_interp_gil(const struct mst_py *py, uint64_t interp, struct gil_state *g,
                            uint64_t *gil_addr)
{
	const struct mst_py_layout *l = &py->lay;
	uint64_t gil;

	memset(g, 0, sizeof(*g));
	*gil_addr = 0;
	if (l->is_ceval_gil < 0 || rd_u64(py, interp + (uint64_t)l->is_ceval_gil, &gil) < 0 || !gil)
		return;
	*gil_addr = gil;
	read_gil_struct(py, gil, l->gil_locked, l->gil_last_holder, g);
}

/* The collector's flag: 3.6 static `collecting` (.symtab only), 3.7-3.8
 * _PyRuntime.gc, 3.9+ per interpreter. 0: unknown. */
static uint64_t gc_flag_addr(const struct mst_py *py, uint64_t interp)
{
	const struct mst_py_layout *l = &py->lay;
	if (l->static_globals)
		return py->info.has_gc_collecting ? py->info.gc_collecting : 0;
	if (l->rt_gc_collecting >= 0)
		return py->info.runtime + (uint64_t)l->rt_gc_collecting;
	if (l->is_gc_collecting >= 0 && interp)
		return interp + (uint64_t)l->is_gc_collecting;
	return 0;
}

void mst_py_read_gc(const struct mst_py *py, uint64_t interp, struct mst_py_threads *out)
{
	int32_t v;
	uint64_t addr = gc_flag_addr(py, interp);
	if (!addr || rd_i32(py, addr, &v) < 0)
		return;
	out->gc_known = true;
	if (v)
		out->gc_collecting = true;
}

void mst_py_collector(struct mst_py *py, const struct mst_py_range **ranges, size_t *n)
{
	if (!py->collector_done) {
		py->collector_done = true;
		/* With .symtab the collector's functions are named: the names
		 * are the better evidence, and no code is decoded. */
		if (py->info.stripped)
			mst_py_collector_ranges(&py->info, py->collector, MST_PY_COLLECTOR_MAX,
			                        &py->ncollector);
	}
	*ranges = py->collector;
	*n = py->ncollector;
}

/* Where the GIL lives: 3.7-3.11 in _PyRuntime, 3.12+ where the main
 * interpreter points (read once it is set, py->main_gil). 0: unknown. */
static uint64_t gil_addr(struct mst_py *py)
{
	const struct mst_py_layout *l = &py->lay;
	if (l->is_ceval_gil < 0)
		return l->rt_gil >= 0 ? py->info.runtime + (uint64_t)l->rt_gil : 0;
	uint64_t interp, gil;
	if (!py->main_gil && mst_py_main_interp(py, &interp) == 0 && interp &&
	    rd_u64(py, interp + (uint64_t)l->is_ceval_gil, &gil) == 0)
		py->main_gil = gil;
	return py->main_gil;
}

void mst_py_gil_where(struct mst_py *py, struct mst_py_gil *out)
{
	const struct mst_py_layout *l = &py->lay;
	uint64_t gil = gil_addr(py);
	memset(out, 0, sizeof(*out));
	if (!gil)
		return;
	out->addr = gil;
	out->size = (uint64_t)l->gil_size;
	out->switch_lo = gil + (uint64_t)l->gil_switch_cond;
	out->switch_hi = gil + (uint64_t)l->gil_size;
}

int mst_py_read_gil(struct mst_py *py, struct mst_py_gil *out)
{
	const struct mst_py_layout *l = &py->lay;
	struct gil_state g;

	mst_py_gil_where(py, out);
	if (l->is_ceval_gil >= 0) {
		/* 3.12+: the main interpreter's GIL. */
		memset(&g, 0, sizeof(g));
		if (out->addr)
			read_gil_struct(py, out->addr, l->gil_locked, l->gil_last_holder, &g);
	} else {
		mst_py_read_runtime_gil(py, &g);
	}
	if (!g.known)
		return -ENOENT;
	if (g.locked == -1) {
		/* 3.6 creates the GIL when the first thread starts; until then
		 * the only thread runs and is _PyThreadState_Current. */
		if (rd_u64(py, py->info.tstate_current, &g.holder) < 0)
			return -EFAULT;
		g.locked = g.holder != 0;
	}
	out->known = true;
	out->locked = g.locked == 1; /* last_holder is sticky: locked decides */
	out->holder = g.holder;
	return 0;
}

int mst_py_read_gil_gc(struct mst_py *py, struct mst_py_gil *g, bool *gc_known, bool *gc_collecting)
{
	const struct mst_py_layout *l = &py->lay;
	*gc_known = *gc_collecting = false;
	uint64_t interp = 0, gc = 0, base = 0;
	int64_t locked = -1, holder = -1;
	/* 3.7+: both at addresses known without a read (once the main
	 * interpreter's are), so one call reads both. */
	if (!l->static_globals && py->r.read2) {
		if (l->rt_gc_collecting < 0)
			mst_py_main_interp(py, &interp);
		gc = gc_flag_addr(py, interp);
		mst_py_gil_where(py, g);
		if (l->is_ceval_gil >= 0) {
			base = g->addr;
			locked = l->gil_locked;
			holder = l->gil_last_holder;
		} else if (l->rt_gil_locked >= 0 && l->rt_gil_last_holder >= 0) {
			base = py->info.runtime;
			locked = l->rt_gil_locked;
			holder = l->rt_gil_last_holder;
		}
	}
	int64_t lo = locked < holder ? locked : holder;
	int64_t hi = locked < holder ? holder + 8 : locked + 4;
	uint8_t buf[64];
	int32_t v = 0;
	if (gc && base && lo >= 0 && hi - lo <= (int64_t)sizeof(buf) &&
	    py->r.read2(py->r.ctx, base + (uint64_t)lo, buf, (size_t)(hi - lo), gc, &v,
	                sizeof(v)) == 0 &&
	    get_i32(buf, locked - lo) != -1) {
		g->known = true;
		g->locked = get_i32(buf, locked - lo) == 1;
		g->holder = get_u64(buf, holder - lo);
		*gc_known = true;
		*gc_collecting = v != 0;
		return 0;
	}
	int rc = mst_py_read_gil(py, g);
	mst_py_read_gc_main(py, gc_known, gc_collecting);
	return rc;
}
