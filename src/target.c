/* Opening a target once for every mode (target.h): one ladder up, one down. */
#include "msttop/target.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct mst_target {
	pid_t pid;
	struct mst_proc *proc;
	struct mst_corefile *core; /* instead of proc, for a core file */
	struct mst_maps *maps;
	struct mst_reader reader;
	struct mst_py *py;
	int py_code;
	struct mst_err py_err;
	struct mst_unwinder *unw;
	struct mst_symbols *sym;
};

/* A core file: the same modules over the core's memory and map. pid stays
 * 0, so that no file is looked for under /proc. */
static int open_core(const struct mst_target_opts *o, struct mst_target *t, struct mst_err *err)
{
	int rc = mst_corefile_open(o->core, o->exe, &t->core, err);
	if (rc < 0)
		return rc;
	const char *text = mst_corefile_maps_text(t->core);
	const struct mst_maps *cm = mst_corefile_maps(t->core);
	if ((rc = mst_maps_parse(text, &t->maps, err)) < 0)
		return rc;
	if (cm->exe && !(t->maps->exe = strdup(cm->exe)))
		return mst_err_set(err, -ENOMEM, "out of memory");
	t->reader = mst_corefile_reader(t->core);
	t->py_code = mst_py_open(0, t->maps, &t->reader, &t->py, &t->py_err);
	if (o->python_only)
		return 0;
	if ((rc = mst_unwinder_new_static(&t->reader, cm, &t->unw, err)) < 0 ||
	    (rc = mst_symbols_open_maps(text, &t->sym, err)) < 0)
		return rc;
	mst_py_name_fragments(t->py, t->sym, mst_symbols_name_range);
	return 0;
}

int mst_target_open(const struct mst_target_opts *o, struct mst_target **out, struct mst_err *err)
{
	*out = NULL;
	struct mst_target *t = calloc(1, sizeof(*t));
	if (!t)
		return mst_err_set(err, -ENOMEM, "out of memory");
	if (o->core) {
		int rc = open_core(o, t, err);
		if (rc < 0) {
			mst_target_close(t);
			return rc;
		}
		*out = t;
		return 0;
	}
	int rc = mst_proc_open(o->pid, o->python_only || o->no_attach ? 0 : MST_PROC_ATTACH,
	                       o->cancel, &t->proc, err);
	if (rc < 0)
		goto fail;
	t->pid = mst_proc_pid(t->proc);
	if ((rc = mst_maps_read(t->pid, &t->maps, err)) < 0)
		goto fail;
	t->reader = mst_proc_reader(t->proc);
	t->py_code = mst_py_open(t->pid, t->maps, &t->reader, &t->py, &t->py_err);
	if (!o->python_only) {
		if ((rc = mst_unwinder_new(t->proc, &t->unw, err)) < 0)
			goto fail;
		/* The modules are listed now, while the target surely lives: one
		 * that exits right after still gets its stacks named. */
		if ((rc = mst_symbols_open(t->pid, &t->sym, err)) < 0) {
			/* ESRCH: the maps went with the dying process's memory,
			 * maybe before /proc shows it a zombie. */
			char st = 0;
			if (rc == -ESRCH || mst_proc_task_info(t->pid, t->pid, NULL, &st) < 0 ||
			    st == 'Z' || st == 'X')
				rc = mst_err_set(err, -MST_EGONE,
				                 "process %d exited during the snapshot",
				                 (int)t->pid);
			goto fail;
		}
		mst_py_name_fragments(t->py, t->sym, mst_symbols_name_range);
	}
	*out = t;
	return 0;
fail:
	mst_target_close(t);
	return rc;
}

void mst_target_close(struct mst_target *t)
{
	if (!t)
		return;
	mst_symbols_close(t->sym);
	mst_unwinder_free(t->unw);
	mst_py_close(t->py);
	mst_maps_free(t->maps);
	mst_proc_close(t->proc);
	mst_corefile_close(t->core);
	free(t);
}

pid_t mst_target_pid(const struct mst_target *t)
{
	return t->pid;
}

struct mst_proc *mst_target_proc(struct mst_target *t)
{
	return t->proc;
}

struct mst_corefile *mst_target_corefile(struct mst_target *t)
{
	return t->core;
}

struct mst_maps *mst_target_maps(struct mst_target *t)
{
	return t->maps;
}

void mst_target_set_maps(struct mst_target *t, struct mst_maps *maps)
{
	mst_maps_free(t->maps);
	t->maps = maps;
}

struct mst_py *mst_target_py(struct mst_target *t)
{
	return t->py;
}

const struct mst_err *mst_target_py_error(const struct mst_target *t, int *code)
{
	if (code)
		*code = t->py ? 0 : t->py_code;
	return &t->py_err;
}

int mst_target_retry_py(struct mst_target *t)
{
	if (t->py)
		return 0;
	t->py_code = mst_py_open(t->pid, t->maps, &t->reader, &t->py, &t->py_err);
	if (t->py && t->sym)
		mst_py_name_fragments(t->py, t->sym, mst_symbols_name_range);
	return t->py ? 0 : t->py_code;
}

struct mst_unwinder *mst_target_unwinder(struct mst_target *t)
{
	return t->unw;
}

struct mst_symbols *mst_target_symbols(struct mst_target *t)
{
	return t->sym;
}

void mst_target_drop_unwinder(struct mst_target *t)
{
	mst_unwinder_free(t->unw);
	t->unw = NULL;
}
