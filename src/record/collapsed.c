/* Brendan Gregg's folded stacks: one line per distinct stack of a thread,
 * root first, ';' between frames, then a space and the sample count. The
 * thread is the first frame ("name (tid N)"), so flamegraph.pl, inferno
 * and speedscope show each thread as a tree of its own. The states a stack
 * was seen in are not part of the line: its samples are summed. */
#include <stdlib.h>
#include <string.h>

#include "record-int.h"

static int cmp_stack(const void *a, const void *b)
{
	const struct rec_stack *x = *(const struct rec_stack *const *)a;
	const struct rec_stack *y = *(const struct rec_stack *const *)b;
	if (x->thread != y->thread)
		return x->thread < y->thread ? -1 : 1;
	if (x->other != y->other)
		return x->other ? 1 : -1;
	/* Stacks of one frame sequence share its frames array. */
	uintptr_t p = (uintptr_t)x->frames, q = (uintptr_t)y->frames;
	return (p > q) - (p < q);
}

int rec_write_collapsed(FILE *f, const struct rec_view *v, struct mst_err *err)
{
	const struct rec_stack **order = malloc((v->nstacks ? v->nstacks : 1) * sizeof(*order));
	if (!order)
		return mst_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < v->nstacks; i++)
		order[i] = &v->stacks[i];
	qsort(order, v->nstacks, sizeof(*order), cmp_stack);
	char label[1024];
	for (size_t i = 0; i < v->nstacks;) {
		const struct rec_stack *s = order[i];
		uint64_t count = 0;
		while (i < v->nstacks && !cmp_stack(&order[i], &s))
			count += order[i++]->samples;
		rec_thread_label(&v->threads[s->thread], label, sizeof(label));
		fputs(label, f);
		if (s->other)
			fputs(";(other stacks)", f);
		for (uint32_t k = 0; k < s->nframes; k++) {
			rec_frame_label(&v->frames[s->frames[k]], label, sizeof(label));
			fputc(';', f);
			fputs(label, f);
		}
		fprintf(f, " %llu\n", (unsigned long long)count);
	}
	free(order);
	return rec_check_write(f, "collapsed stacks", err);
}
