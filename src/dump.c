/* --dump: one snapshot as text, in the manner of pystack and eu-stack. */
#include "msttop/dump.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "msttop/proc.h"

static const char *basename_of(const char *path)
{
	const char *s = path ? strrchr(path, '/') : NULL;
	return s ? s + 1 : path;
}

static void print_native(FILE *out, const struct mst_native_frame *f)
{
	fprintf(out, "    (C) 0x%016" PRIx64 " ", f->pc);
	if (f->func)
		fprintf(out, "%s%s", f->func, f->inlined ? " (inlined)" : "");
	else if (f->module)
		fprintf(out, "%s+0x%" PRIx64, basename_of(f->module), f->module_off);
	else
		fprintf(out, "??");
	if (f->file)
		fprintf(out, " at %s:%d", f->file, f->line);
	if (f->module)
		fprintf(out, " [%s]", f->module);
	fputc('\n', out);
}

int mst_dump_text(FILE *out, const struct mst_snapshot *s, struct mst_symbols *sym)
{
	fprintf(out, "Process %d: %s\n", (int)s->pid, s->cmdline[0] ? s->cmdline : "?");
	for (size_t i = 0; i < s->nthreads; i++) {
		const struct mst_thread_snap *t = &s->threads[i];
		fprintf(out, "\nThread %d \"%s\" (%s)\n", (int)t->tid, t->comm,
			mst_proc_state_name(t->state));
		if (t->error) {
			fprintf(out, "    (no stack: %s)\n", t->errmsg);
			continue;
		}
		/* Most recent call last: walk the unwound pcs from the outermost. */
		for (size_t k = t->npcs; k-- > 0;) {
			const struct mst_native_frame *fr;
			size_t n;
			if (mst_symbols_resolve(sym, t->pcs[k], k > 0, &fr, &n) < 0) {
				fprintf(out, "    (C) 0x%016" PRIx64 " ??\n", t->pcs[k]);
				continue;
			}
			for (size_t j = 0; j < n; j++)
				print_native(out, &fr[j]);
		}
	}
	if (fflush(out) != 0 || ferror(out))
		return errno == EPIPE ? -EPIPE : -EIO;
	return 0;
}
