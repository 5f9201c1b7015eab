/* A view as one call tree (record.h, mst_record_tree): the live view's
 * flame view draws it. Children are found by a scan of their parent's
 * list, fine for what a screen shows; they are ordered by samples last. */
#include <stdlib.h>
#include <string.h>

#include "msttop/array.h"
#include "record-int.h"

#define NO MST_RECORD_NO_NODE

static int add(struct mst_record_tree *t, uint32_t parent, const struct mst_record_node *proto,
               uint32_t *out)
{
	if (mst_array_grow((void **)&t->v, &t->cap, t->n + 1, sizeof(*t->v)) < 0)
		return -ENOMEM;
	struct mst_record_node *n = &t->v[t->n];
	*n = *proto;
	n->parent = parent;
	n->first_child = n->next_sibling = NO;
	n->depth = parent == NO ? 0 : t->v[parent].depth + 1;
	if (parent != NO) {
		n->next_sibling = t->v[parent].first_child;
		t->v[parent].first_child = (uint32_t)t->n;
	}
	*out = (uint32_t)t->n++;
	return 0;
}

static bool same(const struct mst_record_node *a, const struct mst_record_node *b)
{
	/* The recording's strings are interned: equal ones are one. */
	return a->kind == b->kind && a->line == b->line && a->function == b->function &&
	       a->file == b->file && a->module == b->module && a->tid == b->tid;
}

/* The child of parent like proto, made if there is none. */
static int child(struct mst_record_tree *t, uint32_t parent, const struct mst_record_node *proto,
                 uint32_t *out)
{
	for (uint32_t c = t->v[parent].first_child; c != NO; c = t->v[c].next_sibling)
		if (same(&t->v[c], proto)) {
			*out = c;
			return 0;
		}
	return add(t, parent, proto, out);
}

static int cmp_samples(const void *a, const void *b, void *ctx)
{
	const struct mst_record_tree *t = ctx;
	uint64_t x = t->v[*(const uint32_t *)a].samples, y = t->v[*(const uint32_t *)b].samples;
	return (x < y) - (x > y);
}

int rec_build_tree(const struct rec_view *v, pid_t tid, bool by_line, struct mst_record_tree *t)
{
	t->n = 0;
	uint32_t root;
	struct mst_record_node proto = {
	    .kind = MST_RECORD_NODE_ROOT, .function = "", .file = "", .module = ""};
	if (add(t, NO, &proto, &root) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < v->nstacks; i++) {
		const struct rec_stack *s = &v->stacks[i];
		const struct rec_thread *th = &v->threads[s->thread];
		if (tid && th->tid != tid)
			continue;
		uint32_t at = root;
		t->v[root].samples += s->samples;
		if (!tid) {
			proto = (struct mst_record_node){.kind = MST_RECORD_NODE_THREAD,
			                                 .function = "",
			                                 .file = "",
			                                 .module = "",
			                                 .tid = th->tid};
			snprintf(proto.thread, sizeof(proto.thread), "%s", th->name);
			if (child(t, at, &proto, &at) < 0)
				return -ENOMEM;
			t->v[at].samples += s->samples;
		}
		if (s->other) {
			proto = (struct mst_record_node){.kind = MST_RECORD_NODE_OTHER,
			                                 .function = "(other stacks)",
			                                 .file = "",
			                                 .module = ""};
			if (child(t, at, &proto, &at) < 0)
				return -ENOMEM;
			t->v[at].samples += s->samples;
		}
		for (uint32_t k = 0; k < s->nframes; k++) {
			const struct rec_frame *fr = &v->frames[s->frames[k]];
			proto = (struct mst_record_node){.kind = fr->kind == REC_PYTHON
			                                             ? MST_RECORD_NODE_PYTHON
			                                             : MST_RECORD_NODE_NATIVE,
			                                 .line = by_line ? fr->line : 0,
			                                 .function = fr->function,
			                                 .file = fr->file,
			                                 .module = fr->module};
			uint32_t next;
			if (child(t, at, &proto, &next) < 0)
				return -ENOMEM;
			/* Recursion is one node per call: a frame under itself
			 * is a child, as in any flame graph. */
			at = next;
			t->v[at].samples += s->samples;
		}
		t->v[at].self += s->samples;
	}
	/* Children by samples, most first: the widest on the left. */
	uint32_t *kids = NULL;
	size_t cap = 0;
	for (size_t p = 0; p < t->n; p++) {
		size_t nk = 0;
		for (uint32_t c = t->v[p].first_child; c != NO; c = t->v[c].next_sibling) {
			if (mst_array_grow((void **)&kids, &cap, nk + 1, sizeof(*kids)) < 0) {
				free(kids);
				return -ENOMEM;
			}
			kids[nk++] = c;
		}
		if (nk < 2)
			continue;
		qsort_r(kids, nk, sizeof(*kids), cmp_samples, t);
		t->v[p].first_child = kids[0];
		for (size_t k = 0; k < nk; k++)
			t->v[kids[k]].next_sibling = k + 1 < nk ? kids[k + 1] : NO;
	}
	free(kids);
	return 0;
}

void mst_record_tree_fini(struct mst_record_tree *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}
