/* speedscope's JSON file format (https://www.speedscope.app/file-format-schema.json):
 * the view's frames as the shared frame table, and one "sampled" profile per
 * thread whose samples are that thread's stacks, weighted by their time. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "msttop/text.h"
#include "record-int.h"

static void write_frame(FILE *f, const struct rec_frame *fr)
{
	fputs("{\"name\":\"", f);
	mst_json_string(f, fr->function[0] ? fr->function : "??");
	/* Native frames carry their module in the name: speedscope shows only
	 * the name in the chart, and a native memcpy must not pass for a
	 * Python function of the same name. */
	if (fr->kind != REC_PYTHON && fr->module[0]) {
		fputs(" [", f);
		mst_json_string(f, rec_base_name(fr->module));
		fputc(']', f);
	}
	fputc('"', f);
	/* Native frames without debug info have no source file: the module's
	 * path is the next best thing to say where the code is. */
	const char *file = fr->file;
	if (fr->kind != REC_PYTHON && !file[0])
		file = fr->module;
	if (file[0]) {
		fputs(",\"file\":\"", f);
		mst_json_string(f, file);
		fputc('"', f);
	}
	if (fr->line)
		fprintf(f, ",\"line\":%" PRIu32, fr->line);
	fputc('}', f);
}

/* Stacks by their frames, root first, so that equal call paths of a thread
 * (they differ in states only) are written one after the other: speedscope
 * merges consecutive equal samples, and its time-ordered chart then reads
 * like a flame graph instead of a scatter of thin slivers. */
static int cmp_stack(const void *a, const void *b, void *arg)
{
	const struct rec_stack *stacks = arg;
	const struct rec_stack *x = &stacks[*(const uint32_t *)a];
	const struct rec_stack *y = &stacks[*(const uint32_t *)b];
	if (x->other != y->other)
		return x->other ? 1 : -1;
	uint32_t n = x->nframes < y->nframes ? x->nframes : y->nframes;
	for (uint32_t i = 0; i < n; i++)
		if (x->frames[i] != y->frames[i])
			return x->frames[i] < y->frames[i] ? -1 : 1;
	if (x->nframes != y->nframes)
		return x->nframes < y->nframes ? -1 : 1;
	/* Equal paths keep the view's order, so that the file is the same for
	 * the same view whatever qsort does with ties. */
	return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

static void write_profile(FILE *f, const struct rec_view *v, const struct rec_thread *t,
                          const uint32_t *idx, size_t n, uint64_t ns, size_t other_frame)
{
	char label[128];
	rec_thread_label(t, label, sizeof(label));
	fputs("{\"type\":\"sampled\",\"name\":\"", f);
	mst_json_string(f, label);
	/* endValue is the sum of the weights written (t->ns should be the
	 * same): speedscope takes the larger of endValue and that sum as the
	 * profile's length, so a larger endValue would leave a gap at the end
	 * of the time-ordered chart. */
	fprintf(f, "\",\"unit\":\"nanoseconds\",\"startValue\":0,\"endValue\":%" PRIu64 ",\n", ns);
	fputs("\"samples\":[", f);
	for (size_t i = 0; i < n; i++) {
		const struct rec_stack *s = &v->stacks[idx[i]];
		fputs(i ? ",\n[" : "\n[", f);
		if (s->other) {
			fprintf(f, "%zu", other_frame);
		} else {
			for (uint32_t k = 0; k < s->nframes; k++)
				fprintf(f, k ? ",%" PRIu32 : "%" PRIu32, s->frames[k]);
		}
		fputc(']', f);
	}
	fputs("],\n\"weights\":[", f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, i ? ",%" PRIu64 : "%" PRIu64, v->stacks[idx[i]].ns);
	fputs("]}", f);
}

int rec_write_speedscope(FILE *f, const struct rec_view *v, struct mst_err *err)
{
	/* The stacks grouped by thread (a counting sort: start[t] is where
	 * thread t's run begins in order). Stacks that weigh nothing are left
	 * out: speedscope drops zero weights anyway, and a thread with none
	 * left gets no profile. */
	size_t *start = calloc(v->nthreads + 1, sizeof(*start));
	if (!start)
		return mst_err_set(err, -ENOMEM, "speedscope profile: out of memory");
	bool has_other = false;
	size_t nkept = 0;
	for (size_t i = 0; i < v->nstacks; i++) {
		const struct rec_stack *s = &v->stacks[i];
		if (!s->ns || s->thread >= v->nthreads)
			continue;
		start[s->thread + 1]++;
		nkept++;
		has_other |= s->other;
	}
	/* One at least, so that order is never NULL (nor order + 0). */
	uint32_t *order = malloc((nkept ? nkept : 1) * sizeof(*order));
	if (!order) {
		free(start);
		return mst_err_set(err, -ENOMEM, "speedscope profile: out of memory");
	}
	for (size_t t = 0; t < v->nthreads; t++)
		start[t + 1] += start[t];
	for (size_t i = 0; i < v->nstacks; i++) {
		const struct rec_stack *s = &v->stacks[i];
		if (s->ns && s->thread < v->nthreads)
			order[start[s->thread]++] = (uint32_t)i;
	}
	/* The fill above moved each start[t] to the end of thread t's run,
	 * which is where thread t + 1's begins: shift them back. */
	for (size_t t = v->nthreads; t > 0; t--)
		start[t] = start[t - 1];
	start[0] = 0;

	const struct mst_record_meta *m = v->meta;
	fputs("{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\n"
	      "\"exporter\":\"msttop\",\n\"name\":\"",
	      f);
	if (m && m->cmdline[0]) {
		mst_json_string(f, m->cmdline);
		fputc(' ', f);
	}
	fprintf(f, "(pid %d)\",\n\"activeProfileIndex\":0,\n", m ? (int)m->pid : 0);

	fputs("\"shared\":{\"frames\":[", f);
	for (size_t i = 0; i < v->nframes; i++) {
		fputs(i ? ",\n" : "\n", f);
		write_frame(f, &v->frames[i]);
	}
	/* Stacks past max_stacks were counted, not kept: they show as one
	 * frame of their own, after the view's. */
	size_t other_frame = v->nframes;
	if (has_other) {
		fputs(v->nframes ? ",\n" : "\n", f);
		fputs("{\"name\":\"(other stacks)\"}", f);
	}
	fputs("]},\n\"profiles\":[", f);

	bool any = false;
	for (size_t t = 0; t < v->nthreads; t++) {
		size_t n = start[t + 1] - start[t];
		if (!n)
			continue;
		uint32_t *idx = order + start[t];
		qsort_r(idx, n, sizeof(*idx), cmp_stack, (void *)v->stacks);
		uint64_t ns = 0;
		for (size_t i = 0; i < n; i++)
			ns += v->stacks[idx[i]].ns;
		fputs(any ? ",\n" : "\n", f);
		write_profile(f, v, &v->threads[t], idx, n, ns, other_frame);
		any = true;
	}
	/* speedscope cannot open a file without profiles (its import reads
	 * the first one's name): an empty one opens as a blank chart, which
	 * is what was recorded. */
	if (!any)
		fputs("\n{\"type\":\"sampled\",\"name\":\"no samples\",\"unit\":\"nanoseconds\","
		      "\"startValue\":0,\"endValue\":0,\"samples\":[],\"weights\":[]}",
		      f);
	fputs("]}\n", f);

	free(order);
	free(start);
	return rec_check_write(f, "speedscope profile", err);
}
