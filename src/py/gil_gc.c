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

/* Where locked and last_holder of a struct _gil_runtime_state at base are
 * read from, in one read so the pair is consistent: len bytes at addr, the
 * two at offsets locked and holder of them. The layout table puts them
 * side by side in every version it holds; a layout with them further
 * apart than GIL_PAIR_MAX has no pair (the GIL is then not known). */
#define GIL_PAIR_MAX 64
struct gil_pair {
	uint64_t addr;
	size_t len;
	int64_t locked, holder;
};

static bool gil_pair_at(uint64_t base, int64_t locked_off, int64_t holder_off, struct gil_pair *p)
{
	int64_t lo = locked_off < holder_off ? locked_off : holder_off;
	int64_t hi = locked_off < holder_off ? holder_off + 8 : locked_off + 4;
	if (!base || lo < 0 || hi - lo > GIL_PAIR_MAX)
		return false;
	*p = (struct gil_pair){base + (uint64_t)lo, (size_t)(hi - lo), locked_off - lo,
	                       holder_off - lo};
	return true;
}

static void gil_pair_parse(const struct gil_pair *p, const uint8_t *buf, struct gil_state *g)
{
	g->known = true;
	g->locked = get_i32(buf, p->locked);
	g->holder = get_u64(buf, p->holder);
}

static void read_gil_struct(const struct mst_py *py, uint64_t gil, int64_t locked_off,
                            int64_t holder_off, struct gil_state *g)
{
	struct gil_pair p;
	uint8_t buf[GIL_PAIR_MAX];
	if (gil_pair_at(gil, locked_off, holder_off, &p) && rd(py, p.addr, buf, p.len) == 0)
		gil_pair_parse(&p, buf, g);
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

/* The main interpreter's flag (3.6-3.8: the runtime's). */
static uint64_t main_gc_flag_addr(struct mst_py *py)
{
	const struct mst_py_layout *l = &py->lay;
	uint64_t interp = 0;
	/* 3.6's flag is static, 3.7-3.8's in _PyRuntime: no interpreter. */
	if (!l->static_globals && l->rt_gc_collecting < 0 &&
	    (mst_py_main_interp(py, &interp) < 0 || !interp))
		return 0;
	return gc_flag_addr(py, interp);
}

void mst_py_read_gc_main(struct mst_py *py, bool *known, bool *collecting)
{
	int32_t v;
	uint64_t addr = main_gc_flag_addr(py);
	*known = addr && rd_i32(py, addr, &v) == 0;
	*collecting = *known && v != 0;
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

/* 3.7+: the main interpreter's GIL pair, at an address known without a
 * read once the GIL is found (1); not yet found (0); 3.6, whose GIL is
 * read another way (-1). */
static int main_gil_pair(struct mst_py *py, struct gil_pair *p)
{
	const struct mst_py_layout *l = &py->lay;
	if (l->is_ceval_gil >= 0)
		return gil_pair_at(gil_addr(py), l->gil_locked, l->gil_last_holder, p);
	if (l->static_globals)
		return -1;
	return gil_pair_at(py->info.runtime, l->rt_gil_locked, l->rt_gil_last_holder, p);
}

/* out from what was read of the GIL (g), its place already in out. */
static int gil_out(struct mst_py *py, struct gil_state *g, struct mst_py_gil *out)
{
	if (!g->known)
		return -ENOENT;
	if (g->locked == -1) {
		/* 3.6 creates the GIL when the first thread starts; until then
		 * the only thread runs and is _PyThreadState_Current. */
		if (rd_u64(py, py->info.tstate_current, &g->holder) < 0)
			return -EFAULT;
		g->locked = g->holder != 0;
	}
	out->known = true;
	out->locked = g->locked == 1; /* last_holder is sticky: locked decides */
	out->holder = g->holder;
	return 0;
}

int mst_py_read_gil(struct mst_py *py, struct mst_py_gil *out)
{
	struct gil_state g = {0};
	struct gil_pair p;
	uint8_t buf[GIL_PAIR_MAX];
	mst_py_gil_where(py, out);
	int at = main_gil_pair(py, &p);
	if (at < 0)
		mst_py_read_runtime_gil(py, &g);
	else if (at > 0 && rd(py, p.addr, buf, p.len) == 0)
		gil_pair_parse(&p, buf, &g);
	return gil_out(py, &g, out);
}

int mst_py_read_gil_gc(struct mst_py *py, struct mst_py_gil *g, bool *gc_known, bool *gc_collecting)
{
	/* 3.7+: both at addresses known without a read (once the main
	 * interpreter's are), so one call reads both. */
	struct gil_pair p;
	uint64_t gc;
	uint8_t buf[GIL_PAIR_MAX];
	int32_t v;
	if (py->r.read2 && main_gil_pair(py, &p) > 0 && (gc = main_gc_flag_addr(py)) &&
	    py->r.read2(py->r.ctx, p.addr, buf, p.len, gc, &v, sizeof(v)) == 0) {
		struct gil_state gs = {0};
		gil_pair_parse(&p, buf, &gs);
		*gc_known = true;
		*gc_collecting = v != 0;
		mst_py_gil_where(py, g);
		return gil_out(py, &gs, g);
	}
	mst_py_read_gc_main(py, gc_known, gc_collecting);
	return mst_py_read_gil(py, g);
}
