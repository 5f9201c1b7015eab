/* Where the GIL is and who holds it, per CPython version:
 * 3.6      statics gil_locked / gil_last_holder (.symtab only), and
 *          _PyThreadState_Current (exported) while the GIL is not created;
 * 3.7-3.11 struct _gil_runtime_state embedded in _PyRuntime.ceval.gil;
 * 3.12+    the interpreter's ceval.gil pointer (to its own _gil unless
 *          shared), since the GIL became per-interpreter. */
#include "msttop/py.h"

#include <string.h>

static int rd64(const struct mst_reader *r, uint64_t a, uint64_t *v)
{
	return a ? mst_read(r, a, v, sizeof(*v)) : -EFAULT;
}

int mst_py_read_gil(struct mst_py *py, struct mst_py_gil *out)
{
	const struct mst_py_runtime_info *info = mst_py_info(py);
	const struct mst_py_layout *l = mst_py_layout(py);
	const struct mst_reader *r = mst_py_reader(py);
	memset(out, 0, sizeof(*out));
	int32_t locked = 0;
	uint64_t holder = 0, gil = 0;
	if (l->static_globals) {
		/* 3.6 */
		if (!info->has_gil_locked ||
		    mst_read(r, info->gil_locked, &locked, sizeof(locked)) < 0)
			return -ENOENT;
		if (locked < 0) {
			/* 3.6 creates the GIL when the first thread starts; until
			 * then the only thread runs and is the current tstate. */
			if (rd64(r, info->tstate_current, &holder) < 0)
				return -EFAULT;
			out->known = true;
			out->locked = holder != 0;
			out->holder = holder;
			return 0;
		}
		if (!info->has_gil_last_holder || rd64(r, info->gil_last_holder, &holder) < 0)
			return -ENOENT;
	} else {
		if (l->rt_gil >= 0) {
			/* 3.7-3.11 */
			gil = info->runtime + (uint64_t)l->rt_gil;
		} else if (l->is_ceval_gil >= 0) {
			/* 3.12+: the main interpreter's GIL. */
			uint64_t interp = 0;
			int64_t off = l->rt_interpreters_main >= 0 ? l->rt_interpreters_main
								   : l->rt_interpreters_head;
			if (rd64(r, info->runtime + (uint64_t)off, &interp) < 0 ||
			    rd64(r, interp + (uint64_t)l->is_ceval_gil, &gil) < 0 || !gil)
				return -EFAULT;
		} else {
			return -ENOENT;
		}
		if (mst_read(r, gil + (uint64_t)l->gil_locked, &locked, sizeof(locked)) < 0 ||
		    rd64(r, gil + (uint64_t)l->gil_last_holder, &holder) < 0)
			return -EFAULT;
		out->addr = gil;
		out->size = (uint64_t)l->gil_size;
		out->switch_lo = gil + (uint64_t)l->gil_switch_cond;
		out->switch_hi = gil + (uint64_t)l->gil_size;
	}
	out->known = true;
	/* last_holder stays set after a release: only locked says it is held. */
	out->locked = locked == 1;
	out->holder = holder;
	return 0;
}
