/* Counting merged stacks for the live view: frames interned into ids, own and
 * total counts per thread and for the process in a ring of per-second buckets
 * plus a since-start cell, thread shares, and bounded call trees. */

/* An allocation failure inside uthash must come back as -ENOMEM, not exit:
 * with this, a failed add leaves the item out of the table (hh.tbl NULL). */
#define HASH_NONFATAL_OOM 1

#include "msttop/agg.h"

#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define NVAR 3  /* enum mst_agg_subset */
#define NVIEW 3 /* enum mst_agg_view */
#define NSHR 7  /* samples, then one per state flag bit */
#define SEC_NS 1000000000ull
/* Longer names are cut: C++ names can be huge, and what is kept is bounded. */
#define STR_MAX 2048
#define CHUNK 256 /* tree nodes per chunk: nodes never move once hashed */
#define NO_NODE UINT32_MAX

/* One count cell. A view only changes which frame gets the own count, so
 * total is shared and own is kept per view. */
struct cnt {
	uint64_t total_ns;
	uint64_t own_ns[NVIEW];
	uint32_t total;
	uint32_t own[NVIEW];
};

/* The recent window of one count cell: a bucket per second of the ring. Only
 * cells counted within the window have one; a block whose buckets all aged
 * out goes back to a pool, so memory follows what is hot now and not every
 * cell ever counted (most of those only keep their since-start count). */
struct rblk {
	struct tent *e; /* owner: a thread cell, or NULL for a process cell */
	uint32_t pidx;  /* process cell: id * NVAR + subset */
	uint32_t mode;
	size_t live;        /* index in the agg's live list */
	struct rblk *next;  /* in the pool */
	struct cnt c[];     /* [nb] */
};

/* Thread-sample shares: [0] every sample, [1 + bit] samples with that flag. */
struct shr {
	uint32_t n[NSHR];
	uint64_t ns[NSHR];
};

struct tick {
	uint32_t ticks, gil, gc;
	uint64_t ns;
};

struct str {
	UT_hash_handle hh;
	char s[];
};

/* Interned strings are unique, so a frame's identity can hold their
 * addresses: a fixed-size key with no padding (hashed as bytes). */
struct fkey {
	const char *func, *file, *mod;
	uint32_t line;  /* 0 in by-function mode */
	uint32_t flags; /* kind | inlined << 1; kind only in by-function mode */
};

/* A frame in one mode's id space. */
struct frame {
	struct fkey key;
	UT_hash_handle hh;
	uint32_t id;
	uint32_t fn;  /* by-line frames: the by-function id */
	uint32_t gen; /* == agg gen: already counted in this thread sample */
	bool unfolded;
};

/* A thread's counts of one frame in one mode and subset: c since start, r
 * the recent ring when it has one. Keyed by id | mode << 31 | subset << 29. */
struct tent {
	uint32_t key;
	uint32_t gen;
	UT_hash_handle hh;
	/* On the all-samples by-line entry, what the hot path needs without
	 * another lookup: the subsets ([0] is itself) and the function's entry. */
	struct tent *var[NVAR];
	struct tent *fn;
	struct rblk *r;
	struct cnt c;
};

struct tnode {
	uint64_t key; /* parent << 32 | frame */
	UT_hash_handle hh;
	uint32_t idx, frame, parent, first_child, next_sibling;
	uint64_t self, total, self_ns, total_ns;
};

struct tree {
	struct tnode **chunks;
	uint32_t nchunks, n;
	struct tnode *hash;
};

/* One depth of a thread's last stack, counted from the outermost frame:
 * consecutive samples of a thread mostly share their outer frames, and what
 * was looked up for them last time (frame, entry, tree nodes) is reused
 * while the input frames compare equal. */
struct cslot {
	struct frame *f;
	struct tent *e;
	uint32_t node[2]; /* per mode; NO_NODE where the tree walk stopped */
	bool folded;
};

struct thr {
	pid_t tid;
	UT_hash_handle hh;
	char name[MST_AGG_NAME_MAX];
	uint32_t state, top;
	bool ended;
	uint64_t first_ns, last_ns, last_tick;
	struct tent *ents;
	size_t nents, nlines; /* entries, and all-samples by-line ones (the cap) */
	struct tent *other;   /* by-line entry of MST_AGG_OTHER_FRAME */
	struct tree tree[2];
	struct cslot *cache; /* the last stack, outermost first */
	size_t ncache, cache_cap;
	struct shr sh[]; /* [0] since start, [1 + slot] ring */
};

struct mst_agg {
	struct mst_agg_config cfg;
	size_t nb;          /* ring slots: recent_s + the current second */
	size_t stride;      /* cells per count: 1 + nb */
	uint32_t tree_hard; /* tree nodes including the "(other)" headroom */

	struct str *strs;
	size_t nstrs;
	struct frame *fh[2];  /* per mode, by key */
	struct frame **fv[2]; /* per mode, by id */
	uint32_t nf[2], fcap[2];
	struct cnt *pc[2];   /* process counts since start: [id][subset] */
	struct rblk **pr[2]; /* their recent rings, NULL when not hot: [id][subset] */
	uint32_t gen;

	struct thr *threads;
	size_t nthreads;

	bool started, in_tick, have_first;
	uint64_t cur_sec, now_ns, weight, tick_no, first_ns, last_ns;
	size_t slot;
	uint32_t tick_flags;
	struct tick *pt; /* [stride] */
	struct shr *psh; /* [stride]: every thread sample */

	/* Recent rings in use (the clock walks only these) and spare ones. */
	struct rblk **live;
	size_t nlive, live_cap;
	struct rblk *pool;

	/* Per-sample scratch, max_depth long, so a warm tick allocates nothing. */
	struct frame **sf;
	struct tent **sl;

	struct mst_agg_hot *hot;
	size_t hot_cap;
	struct mst_agg_thread *trows;
	size_t trows_cap;
	struct mst_agg_node *nrows;
	size_t nrows_cap;
	struct mst_agg_stack_frame *srows;
	size_t srows_cap;

	struct mst_agg_stats st;
};

/* ---- small helpers ---- */

static struct cnt *pcell(const struct mst_agg *a, int mode, int var, uint32_t id)
{
	return a->pc[mode] + (size_t)id * NVAR + (size_t)var;
}

static struct rblk **prec(const struct mst_agg *a, int mode, int var, uint32_t id)
{
	return a->pr[mode] + (size_t)id * NVAR + (size_t)var;
}

/* r is there: the feeding path takes one before it counts anything. */
static void cnt_total(struct cnt *c, struct rblk *r, size_t slot, uint64_t w)
{
	c->total++;
	c->total_ns += w;
	r->c[slot].total++;
	r->c[slot].total_ns += w;
}

static void cnt_own(struct cnt *c, struct rblk *r, size_t slot, int view, uint64_t w)
{
	c->own[view]++;
	c->own_ns[view] += w;
	r->c[slot].own[view]++;
	r->c[slot].own_ns[view] += w;
}

static void shr_add(struct shr *s, size_t slot, uint32_t state, uint64_t w)
{
	struct shr *both[2] = {&s[0], &s[slot]};
	for (int k = 0; k < 2; k++) {
		both[k]->n[0]++;
		both[k]->ns[0] += w;
		for (int b = 0; b < NSHR - 1; b++)
			if (state & (1u << b)) {
				both[k]->n[1 + b]++;
				both[k]->ns[1 + b] += w;
			}
	}
}

/* A cell's counts over a window: its since-start count, or the sum of its
 * recent ring (none: nothing in the window). */
static void cnt_read(const struct cnt *c, const struct rblk *r, size_t nb, enum mst_agg_window w,
                     struct cnt *out)
{
	if (w == MST_AGG_CUMULATIVE) {
		*out = *c;
		return;
	}
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; r && i < nb; i++) {
		out->total += r->c[i].total;
		out->total_ns += r->c[i].total_ns;
		for (int v = 0; v < NVIEW; v++) {
			out->own[v] += r->c[i].own[v];
			out->own_ns[v] += r->c[i].own_ns[v];
		}
	}
}


static void shr_read(const struct shr *s, size_t nb, enum mst_agg_window w, struct shr *out)
{
	memset(out, 0, sizeof(*out));
	size_t from = w == MST_AGG_CUMULATIVE ? 0 : 1, to = w == MST_AGG_CUMULATIVE ? 1 : 1 + nb;
	for (size_t i = from; i < to; i++)
		for (int k = 0; k < NSHR; k++) {
			out->n[k] += s[i].n[k];
			out->ns[k] += s[i].ns[k];
		}
}

static void tick_read(const struct tick *t, size_t nb, enum mst_agg_window w, struct tick *out)
{
	memset(out, 0, sizeof(*out));
	size_t from = w == MST_AGG_CUMULATIVE ? 0 : 1, to = w == MST_AGG_CUMULATIVE ? 1 : 1 + nb;
	for (size_t i = from; i < to; i++) {
		out->ticks += t[i].ticks;
		out->gil += t[i].gil;
		out->gc += t[i].gc;
		out->ns += t[i].ns;
	}
}

static int grow(void **buf, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 16;
	while (n < need)
		n *= 2;
	void *p = realloc(*buf, n * size);
	if (!p)
		return -ENOMEM;
	*buf = p;
	*cap = n;
	return 0;
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* ---- recent rings ---- */

/* Make sure *slot has a recent ring (from the pool when it can); owner and
 * pidx say where it hangs, so it can be taken back when it ages out. */
static int rblk_take(struct mst_agg *a, struct rblk **slot, struct tent *owner, int mode,
                     size_t pidx)
{
	if (*slot)
		return 0;
	if (grow((void **)&a->live, &a->live_cap, a->nlive + 1, sizeof(*a->live)) < 0)
		return -ENOMEM;
	struct rblk *r = a->pool;
	if (r) {
		a->pool = r->next;
	} else {
		r = calloc(1, sizeof(*r) + a->nb * sizeof(struct cnt));
		if (!r)
			return -ENOMEM;
	}
	r->e = owner;
	r->pidx = (uint32_t)pidx;
	r->mode = (uint32_t)mode;
	r->next = NULL;
	r->live = a->nlive;
	a->live[a->nlive++] = r;
	*slot = r;
	return 0;
}

/* Detach r from its cell and keep it, zeroed, for the next cell that gets
 * hot: in a steady state the pool and the live list trade blocks and
 * nothing is allocated. */
static void rblk_give(struct mst_agg *a, struct rblk *r)
{
	if (r->e)
		r->e->r = NULL;
	else
		a->pr[r->mode][r->pidx] = NULL;
	struct rblk *last = a->live[--a->nlive];
	a->live[r->live] = last;
	last->live = r->live;
	memset(r->c, 0, a->nb * sizeof(struct cnt));
	r->e = NULL;
	r->next = a->pool;
	a->pool = r;
}

static void rblk_drop_pool(struct mst_agg *a)
{
	while (a->pool) {
		struct rblk *r = a->pool;
		a->pool = r->next;
		free(r);
	}
}

/* ---- interning ---- */

/* The interned copy of s (NULL is ""), or with create false NULL when it is
 * not known yet. */
static int str_get(struct mst_agg *a, const char *s, bool create, const char **out)
{
	if (!s)
		s = "";
	size_t len = strnlen(s, STR_MAX);
	struct str *e;
	HASH_FIND(hh, a->strs, s, len, e);
	if (e || !create) {
		*out = e ? e->s : NULL;
		return 0;
	}
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return -ENOMEM;
	memcpy(e->s, s, len);
	e->s[len] = '\0';
	HASH_ADD_KEYPTR(hh, a->strs, e->s, len, e);
	if (!e->hh.tbl) {
		free(e);
		return -ENOMEM;
	}
	a->nstrs++;
	*out = e->s;
	return 0;
}

static int frame_add(struct mst_agg *a, int mode, const struct fkey *k, struct frame **out)
{
	if (a->nf[mode] == a->fcap[mode]) {
		/* Both arrays grow together, only when a new frame appears. */
		uint32_t cap = a->fcap[mode] ? a->fcap[mode] * 2 : 64;
		if (cap > a->cfg.max_frames)
			cap = a->cfg.max_frames;
		if (cap <= a->fcap[mode])
			return -ENOSPC; /* callers check max_frames first */
		struct frame **v = realloc(a->fv[mode], cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		a->fv[mode] = v;
		size_t old = (size_t)a->fcap[mode] * NVAR, cells = (size_t)cap * NVAR;
		struct cnt *pc = realloc(a->pc[mode], cells * sizeof(*pc));
		if (!pc)
			return -ENOMEM;
		memset(pc + old, 0, (cells - old) * sizeof(*pc));
		a->pc[mode] = pc;
		/* Rings refer to their process cell by index, so moving the
		 * array leaves them valid. */
		struct rblk **pr = realloc(a->pr[mode], cells * sizeof(*pr));
		if (!pr)
			return -ENOMEM;
		memset(pr + old, 0, (cells - old) * sizeof(*pr));
		a->pr[mode] = pr;
		a->fcap[mode] = cap;
	}
	struct frame *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->key = *k;
	HASH_ADD(hh, a->fh[mode], key, sizeof(f->key), f);
	if (!f->hh.tbl) {
		free(f);
		return -ENOMEM;
	}
	f->id = a->nf[mode]++;
	a->fv[mode][f->id] = f;
	*out = f;
	return 0;
}

/* The by-line frame of in, created if new; past max_frames, the overflow
 * frame. Strings are only interned while there is room for a new frame, so
 * they stay bounded too. */
static int intern(struct mst_agg *a, const struct mst_agg_frame_in *in, struct frame **out)
{
	bool room = a->nf[0] < a->cfg.max_frames;
	struct fkey k;
	memset(&k, 0, sizeof(k));
	int rc;
	if ((rc = str_get(a, in->function, room, &k.func)) < 0 ||
	    (rc = str_get(a, in->file, room, &k.file)) < 0 ||
	    (rc = str_get(a, in->module, room, &k.mod)) < 0)
		return rc;
	struct frame *f = NULL;
	if (k.func && k.file && k.mod) {
		k.line = in->line;
		k.flags = (uint32_t)(in->kind & 1) | (in->inlined ? 2u : 0u);
		HASH_FIND(hh, a->fh[0], &k, sizeof(k), f);
	}
	if (f) {
		*out = f;
		return 0;
	}
	if (!room) {
		a->st.frames_over_limit++;
		*out = a->fv[0][MST_AGG_OTHER_FRAME];
		return 0;
	}
	/* Inlined or not, the same function is one function. */
	struct fkey fk = k;
	fk.line = 0;
	fk.flags = k.flags & 1;
	struct frame *fn;
	HASH_FIND(hh, a->fh[1], &fk, sizeof(fk), fn);
	if (!fn && (rc = frame_add(a, 1, &fk, &fn)) < 0)
		return rc;
	if ((rc = frame_add(a, 0, &k, &f)) < 0)
		return rc;
	f->fn = fn->id;
	*out = f;
	return 0;
}

/* ---- call trees ---- */

static struct tnode *tnode_at(const struct tree *tr, uint32_t i)
{
	return &tr->chunks[i / CHUNK][i % CHUNK];
}

static int tree_init(struct mst_agg *a, struct tree *tr)
{
	tr->nchunks = (a->tree_hard + CHUNK - 1) / CHUNK;
	tr->chunks = calloc(tr->nchunks, sizeof(*tr->chunks));
	if (!tr->chunks)
		return -ENOMEM;
	tr->chunks[0] = calloc(CHUNK, sizeof(struct tnode));
	if (!tr->chunks[0])
		return -ENOMEM;
	struct tnode *root = tnode_at(tr, 0);
	root->frame = MST_AGG_TREE_ROOT_FRAME;
	root->parent = root->first_child = root->next_sibling = NO_NODE;
	tr->n = 1; /* the root is never looked up, so never hashed */
	return 0;
}

static void tree_fini(struct tree *tr)
{
	HASH_CLEAR(hh, tr->hash);
	if (tr->chunks)
		for (uint32_t i = 0; i < tr->nchunks; i++)
			free(tr->chunks[i]);
	free(tr->chunks);
	memset(tr, 0, sizeof(*tr));
}

/* A new child of parent, or NULL when the tree holds limit nodes already or
 * memory runs out (the caller then counts the stack higher up). */
static struct tnode *tree_node_add(struct tree *tr, uint32_t parent, uint32_t frame, uint32_t limit)
{
	uint32_t i = tr->n;
	if (i >= limit)
		return NULL;
	if (!tr->chunks[i / CHUNK] &&
	    !(tr->chunks[i / CHUNK] = calloc(CHUNK, sizeof(struct tnode))))
		return NULL;
	struct tnode *nd = tnode_at(tr, i), *p = tnode_at(tr, parent);
	memset(nd, 0, sizeof(*nd));
	nd->key = (uint64_t)parent << 32 | frame;
	HASH_ADD(hh, tr->hash, key, sizeof(nd->key), nd);
	if (!nd->hh.tbl)
		return NULL;
	nd->idx = i;
	nd->frame = frame;
	nd->parent = parent;
	nd->first_child = NO_NODE;
	nd->next_sibling = p->first_child;
	p->first_child = i;
	tr->n++;
	return nd;
}

static struct tnode *tree_child(struct tree *tr, uint32_t parent, uint32_t frame)
{
	uint64_t key = (uint64_t)parent << 32 | frame;
	struct tnode *nd;
	HASH_FIND(hh, tr->hash, &key, sizeof(key), nd);
	return nd;
}

/* Walk the stack from its outermost frame down the tree; the first match
 * depths are the thread's last stack, whose nodes are in its cache. */
static void tree_add(struct mst_agg *a, struct thr *t, int mode, size_t n, size_t match, uint64_t w)
{
	struct tree *tr = &t->tree[mode];
	struct tnode *cur = tnode_at(tr, 0);
	cur->total++;
	cur->total_ns += w;
	size_t k;
	for (k = 0; k < n; k++) {
		size_t i = n - 1 - k;
		uint32_t id = mode ? a->sf[i]->fn : a->sf[i]->id;
		struct tnode *nd = NULL;
		if (k < match && t->cache[k].node[mode] != NO_NODE)
			nd = tnode_at(tr, t->cache[k].node[mode]);
		else
			nd = tree_child(tr, cur->idx, id);
		if (!nd)
			nd = tree_node_add(tr, cur->idx, id, a->cfg.max_tree_nodes);
		bool full = !nd;
		if (full) {
			/* The rest of this stack goes to the "(other)" child;
			 * the headroom past max_tree_nodes exists for those. If
			 * even that is used up, the deepest node reached takes
			 * it as self, which keeps every total consistent. */
			nd = tree_child(tr, cur->idx, MST_AGG_TREE_OTHER);
			if (!nd)
				nd = tree_node_add(tr, cur->idx, MST_AGG_TREE_OTHER, a->tree_hard);
			if (!nd)
				break;
		}
		nd->total++;
		nd->total_ns += w;
		cur = nd;
		if (full)
			break;
		t->cache[k].node[mode] = nd->idx;
	}
	/* Where the walk stopped, the next one has nothing to reuse. */
	for (; k < n; k++)
		t->cache[k].node[mode] = NO_NODE;
	cur->self++;
	cur->self_ns += w;
}

/* ---- threads ---- */

static uint32_t ekey(uint32_t id, int mode, int var)
{
	return id | (uint32_t)mode << 31 | (uint32_t)var << 29;
}

static int ent_get(struct thr *t, uint32_t key, struct tent **out)
{
	struct tent *e;
	HASH_FIND(hh, t->ents, &key, sizeof(key), e);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->key = key;
		e->var[0] = e;
		HASH_ADD(hh, t->ents, key, sizeof(e->key), e);
		if (!e->hh.tbl) {
			free(e);
			return -ENOMEM;
		}
		t->nents++;
	}
	*out = e;
	return 0;
}

/* The subsets vm asks for, on an entry from ent_resolve or the cache. */
static int ent_subsets(struct thr *t, struct tent *e, unsigned vm)
{
	int rc;
	uint32_t id = e->key & ((1u << 29) - 1), fn = e->fn->key & ((1u << 29) - 1);
	for (int v = 1; v < NVAR; v++) {
		if (!(vm & (1u << v)))
			continue;
		if (!e->var[v] && (rc = ent_get(t, ekey(id, 0, v), &e->var[v])) < 0)
			return rc;
		if (!e->fn->var[v] && (rc = ent_get(t, ekey(fn, 1, v), &e->fn->var[v])) < 0)
			return rc;
	}
	return 0;
}

/* The by-line, all-samples entry of frame f in t, with its function's
 * entry and the subsets in vm ready; past max_thread_entries, the overflow
 * frame's. */
static int ent_resolve(struct mst_agg *a, struct thr *t, const struct frame *f, unsigned vm,
                       struct tent **out)
{
	uint32_t key = ekey(f->id, 0, 0);
	struct tent *e;
	int rc;
	HASH_FIND(hh, t->ents, &key, sizeof(key), e);
	if (!e) {
		if (t->nlines >= a->cfg.max_thread_entries) {
			a->st.entries_over_limit++;
			e = t->other;
		} else {
			if ((rc = ent_get(t, key, &e)) < 0)
				return rc;
			t->nlines++;
		}
	}
	uint32_t fn = e == t->other ? MST_AGG_OTHER_FRAME : f->fn;
	if (!e->fn && (rc = ent_get(t, ekey(fn, 1, 0), &e->fn)) < 0)
		return rc;
	*out = e;
	return ent_subsets(t, e, vm);
}

static void thr_free(struct mst_agg *a, struct thr *t)
{
	struct tent *e, *tmp;
	HASH_ITER(hh, t->ents, e, tmp)
	{
		if (e->r)
			rblk_give(a, e->r);
		HASH_DEL(t->ents, e);
		free(e);
	}
	tree_fini(&t->tree[0]);
	tree_fini(&t->tree[1]);
	free(t->cache);
	if (t->hh.tbl) {
		HASH_DEL(a->threads, t);
		a->nthreads--;
	}
	free(t);
}

/* Make room for one more thread: evict the least recently seen one not seen
 * in this tick, ended ones first. False when every thread is in this tick. */
static bool thr_evict(struct mst_agg *a)
{
	struct thr *t, *tmp, *victim = NULL;
	HASH_ITER(hh, a->threads, t, tmp)
	{
		if (t->last_tick == a->tick_no)
			continue;
		if (!victim || (t->ended && !victim->ended) ||
		    (t->ended == victim->ended && t->last_ns < victim->last_ns))
			victim = t;
	}
	if (!victim)
		return false;
	thr_free(a, victim);
	a->st.threads_evicted++;
	return true;
}

/* A new thread record, or *out NULL when max_threads are all busy. */
static int thr_new(struct mst_agg *a, pid_t tid, struct thr **out)
{
	*out = NULL;
	if (a->nthreads >= a->cfg.max_threads && !thr_evict(a))
		return 0;
	struct thr *t = calloc(1, sizeof(*t) + a->stride * sizeof(struct shr));
	if (!t)
		return -ENOMEM;
	t->tid = tid;
	t->top = MST_AGG_NONE;
	t->first_ns = a->now_ns;
	if (tree_init(a, &t->tree[0]) < 0 || tree_init(a, &t->tree[1]) < 0 ||
	    ent_get(t, ekey(MST_AGG_OTHER_FRAME, 0, 0), &t->other) < 0 ||
	    ent_get(t, ekey(MST_AGG_OTHER_FRAME, 1, 0), &t->other->fn) < 0)
		goto fail;
	HASH_ADD(hh, a->threads, tid, sizeof(t->tid), t);
	if (!t->hh.tbl)
		goto fail;
	a->nthreads++;
	*out = t;
	return 0;
fail:
	thr_free(a, t);
	return -ENOMEM;
}

static struct thr *thr_find(const struct mst_agg *a, pid_t tid)
{
	struct thr *t;
	HASH_FIND(hh, a->threads, &tid, sizeof(tid), t);
	return t;
}

/* ---- the clock ---- */

static bool rblk_empty(const struct mst_agg *a, const struct rblk *r)
{
	/* Own is only ever counted next to a total in the same bucket. */
	for (size_t i = 0; i < a->nb; i++)
		if (r->c[i].total)
			return false;
	return true;
}

static void zero_slot(struct mst_agg *a, size_t slot)
{
	size_t s = 1 + slot;
	/* Backwards: giving a ring back moves the last one into its place. */
	for (size_t i = a->nlive; i-- > 0;) {
		struct rblk *r = a->live[i];
		memset(&r->c[slot], 0, sizeof(r->c[slot]));
		if (rblk_empty(a, r))
			rblk_give(a, r);
	}
	struct thr *t, *ttmp;
	HASH_ITER(hh, a->threads, t, ttmp)
	{
		memset(&t->sh[s], 0, sizeof(t->sh[s]));
	}
	memset(&a->pt[s], 0, sizeof(a->pt[s]));
	memset(&a->psh[s], 0, sizeof(a->psh[s]));
}

/* Move the recent window to now's second, emptying the buckets of the
 * seconds it enters: once a second, not per sample, and bounded by the
 * number of counted cells. Time that goes back stays in the current one. */
static void clock_advance(struct mst_agg *a, uint64_t now)
{
	uint64_t sec = now / SEC_NS;
	if (!a->started) {
		a->started = true;
		a->cur_sec = sec;
		a->slot = (size_t)(sec % a->nb);
		return;
	}
	if (sec <= a->cur_sec)
		return;
	uint64_t k = sec - a->cur_sec;
	if (k > a->nb)
		k = a->nb;
	for (uint64_t j = 1; j <= k; j++)
		zero_slot(a, (size_t)((a->cur_sec + j) % a->nb));
	a->cur_sec = sec;
	a->slot = (size_t)(sec % a->nb);
}

/* A fresh mark for "counted in this thread sample"; on wrap-around every
 * old mark is cleared so none can match by accident. */
static uint32_t next_gen(struct mst_agg *a)
{
	if (++a->gen != 0)
		return a->gen;
	for (int m = 0; m < 2; m++)
		for (uint32_t i = 0; i < a->nf[m]; i++)
			a->fv[m][i]->gen = 0;
	struct thr *t, *ttmp;
	HASH_ITER(hh, a->threads, t, ttmp)
	{
		struct tent *e, *etmp;
		HASH_ITER(hh, t->ents, e, etmp)
		{
			e->gen = 0;
		}
	}
	return a->gen = 1;
}

/* ---- lifetime ---- */

int mst_agg_new(const struct mst_agg_config *cfg, struct mst_agg **out, struct mst_err *err)
{
	*out = NULL;
	struct mst_agg_config c = cfg ? *cfg : (struct mst_agg_config){0};
	if (!c.recent_s)
		c.recent_s = 5;
	if (!c.max_frames)
		c.max_frames = 16384;
	if (!c.max_thread_entries)
		c.max_thread_entries = 8192;
	if (!c.max_threads)
		c.max_threads = 256;
	if (!c.max_tree_nodes)
		c.max_tree_nodes = 4096;
	if (!c.max_depth)
		c.max_depth = 2048;
	if (!c.end_after_ns)
		c.end_after_ns = 2 * SEC_NS;
	/* Ids share a 32-bit key with mode and subset bits. */
	if (c.recent_s > 3600 || c.max_frames > (1u << 28) || c.max_tree_nodes > (1u << 28))
		return mst_err_set(err, -EINVAL, "agg: configuration out of range");

	struct mst_agg *a = calloc(1, sizeof(*a));
	if (!a)
		return mst_err_set(err, -ENOMEM, "agg: out of memory");
	a->cfg = c;
	a->nb = c.recent_s + 1;
	a->stride = 1 + a->nb;
	a->tree_hard = c.max_tree_nodes + c.max_tree_nodes / 8 + 1;
	a->pt = calloc(a->stride, sizeof(*a->pt));
	a->psh = calloc(a->stride, sizeof(*a->psh));
	a->sf = calloc(c.max_depth, sizeof(*a->sf));
	a->sl = calloc(c.max_depth, sizeof(*a->sl));
	struct frame *other;
	const struct mst_agg_frame_in oin = {.kind = MST_AGG_NATIVE, .function = "(other frames)"};
	if (!a->pt || !a->psh || !a->sf || !a->sl || intern(a, &oin, &other) < 0) {
		mst_agg_free(a);
		return mst_err_set(err, -ENOMEM, "agg: out of memory");
	}
	/* Always listed, even in the folded view. */
	other->unfolded = a->fv[1][other->fn]->unfolded = true;
	*out = a;
	return 0;
}

void mst_agg_free(struct mst_agg *a)
{
	if (!a)
		return;
	struct thr *t, *ttmp;
	HASH_ITER(hh, a->threads, t, ttmp)
	{
		thr_free(a, t);
	}
	for (int m = 0; m < 2; m++) {
		HASH_CLEAR(hh, a->fh[m]);
		for (uint32_t i = 0; i < a->nf[m]; i++)
			free(a->fv[m][i]);
		free(a->fv[m]);
	}
	/* Process rings are still live; thread ones went with their threads. */
	while (a->nlive)
		rblk_give(a, a->live[a->nlive - 1]);
	for (int m = 0; m < 2; m++) {
		free(a->pc[m]);
		free(a->pr[m]);
	}
	rblk_drop_pool(a);
	free(a->live);
	struct str *s, *stmp;
	HASH_ITER(hh, a->strs, s, stmp)
	{
		HASH_DEL(a->strs, s);
		free(s);
	}
	free(a->pt);
	free(a->psh);
	free(a->sf);
	free(a->sl);
	free(a->hot);
	free(a->trows);
	free(a->nrows);
	free(a->srows);
	free(a);
}

void mst_agg_reset(struct mst_agg *a)
{
	struct thr *t, *ttmp;
	HASH_ITER(hh, a->threads, t, ttmp)
	{
		thr_free(a, t);
	}
	while (a->nlive)
		rblk_give(a, a->live[a->nlive - 1]);
	/* What was hot before the reset need not be again: start small. */
	rblk_drop_pool(a);
	for (int m = 0; m < 2; m++)
		memset(a->pc[m], 0, (size_t)a->fcap[m] * NVAR * sizeof(struct cnt));
	memset(a->pt, 0, a->stride * sizeof(*a->pt));
	memset(a->psh, 0, a->stride * sizeof(*a->psh));
	a->have_first = false;
	a->first_ns = a->last_ns = 0;
}

/* ---- feeding ---- */

void mst_agg_begin(struct mst_agg *a, uint64_t now_ns, uint64_t weight_ns)
{
	clock_advance(a, now_ns);
	a->now_ns = now_ns;
	a->weight = weight_ns;
	a->tick_no++;
	a->tick_flags = 0;
	a->in_tick = true;
}

static bool frame_matches(const struct mst_agg_frame_in *in, const struct frame *f)
{
	return f->key.line == in->line &&
	       f->key.flags == ((uint32_t)(in->kind & 1) | (in->inlined ? 2u : 0u)) &&
	       !strcmp(f->key.func, in->function ? in->function : "") &&
	       !strcmp(f->key.file, in->file ? in->file : "") &&
	       !strcmp(f->key.mod, in->module ? in->module : "");
}

int mst_agg_add_thread(struct mst_agg *a, const struct mst_agg_thread_in *in, struct mst_err *err)
{
	if (!a->in_tick)
		return mst_err_set(err, -EINVAL, "agg: thread %d added outside a tick",
		                   (int)in->tid);
	size_t n = in->nframes;
	if (n && !in->frames)
		return mst_err_set(err, -EINVAL, "agg: thread %d: no frame array", (int)in->tid);
	if (n > a->cfg.max_depth) {
		/* The innermost frames carry own time and the hot spots. */
		n = a->cfg.max_depth;
		a->st.stacks_truncated++;
	}
	const struct mst_agg_frame_in *fin = in->frames;
	int rc;

	/* Everything that can fail comes first, so a failure counts nothing. */
	struct thr *t = thr_find(a, in->tid);
	if (!t && (rc = thr_new(a, in->tid, &t)) < 0)
		goto nomem;
	/* Interning, outermost first: while the input repeats the thread's
	 * last stack, its frames are taken from there without a lookup. */
	size_t match = 0;
	bool same = t != NULL;
	for (size_t k = 0; k < n; k++) {
		size_t i = n - 1 - k;
		if (same && k < t->ncache && frame_matches(&fin[i], t->cache[k].f)) {
			a->sf[i] = t->cache[k].f;
			match++;
			continue;
		}
		same = false;
		if ((rc = intern(a, &fin[i], &a->sf[i])) < 0)
			goto nomem;
	}
	unsigned vm = 1u;
	if (in->state & MST_AGG_ACTIVE)
		vm |= 1u << MST_AGG_ONLY_ACTIVE;
	if (in->state & MST_AGG_GIL_HELD)
		vm |= 1u << MST_AGG_ONLY_GIL;
	if (t) {
		if ((rc = grow((void **)&t->cache, &t->cache_cap, n, sizeof(*t->cache))) < 0)
			goto nomem;
		for (size_t k = 0; k < n; k++) {
			size_t i = n - 1 - k;
			if (k < match)
				rc = ent_subsets(t, a->sl[i] = t->cache[k].e, vm);
			else
				rc = ent_resolve(a, t, a->sf[i], vm, &a->sl[i]);
			if (rc < 0)
				goto nomem;
		}
	} else {
		a->st.threads_uncounted++;
	}
	/* Every cell this sample counts gets its recent ring now, while a
	 * failure still counts nothing; a ring left unused ages out. */
	for (size_t i = 0; i < n; i++) {
		const struct frame *f = a->sf[i];
		for (int v = 0; v < NVAR; v++) {
			if (!(vm & (1u << v)))
				continue;
			struct tent *le = t ? a->sl[i]->var[v] : NULL;
			struct tent *fe = t ? a->sl[i]->fn->var[v] : NULL;
			if ((rc = rblk_take(a, prec(a, 0, v, f->id), NULL, 0,
			                    (size_t)f->id * NVAR + (size_t)v)) < 0 ||
			    (rc = rblk_take(a, prec(a, 1, v, f->fn), NULL, 1,
			                    (size_t)f->fn * NVAR + (size_t)v)) < 0 ||
			    (le && (rc = rblk_take(a, &le->r, le, 0, 0)) < 0) ||
			    (fe && (rc = rblk_take(a, &fe->r, fe, 0, 0)) < 0))
				goto nomem;
		}
	}

	/* Counting: no allocation, no failure. */
	uint32_t g = next_gen(a);
	uint64_t w = a->weight;
	size_t s = 1 + a->slot, rs = a->slot;
	size_t own_at[NVIEW];
	bool has_own[NVIEW] = {n > 0, false, false};
	own_at[0] = 0;
	for (size_t i = 0; i < n; i++) {
		struct frame *f = a->sf[i], *fu = a->fv[1][f->fn];
		if (!fin[i].folded) {
			f->unfolded = fu->unfolded = true;
			if (!has_own[MST_AGG_VIEW_FOLDED]) {
				has_own[MST_AGG_VIEW_FOLDED] = true;
				own_at[MST_AGG_VIEW_FOLDED] = i;
			}
		}
		if (fin[i].kind == MST_AGG_PYTHON && !has_own[MST_AGG_VIEW_PYTHON]) {
			has_own[MST_AGG_VIEW_PYTHON] = true;
			own_at[MST_AGG_VIEW_PYTHON] = i;
		}
		/* Total once per distinct frame: recursion is counted once. */
		for (int v = 0; v < NVAR; v++) {
			if (!(vm & (1u << v)))
				continue;
			if (f->gen != g)
				cnt_total(pcell(a, 0, v, f->id), *prec(a, 0, v, f->id), rs, w);
			if (fu->gen != g)
				cnt_total(pcell(a, 1, v, fu->id), *prec(a, 1, v, fu->id), rs, w);
			if (t && a->sl[i]->gen != g) {
				struct tent *e = a->sl[i]->var[v];
				cnt_total(&e->c, e->r, rs, w);
			}
			if (t && a->sl[i]->fn->gen != g) {
				struct tent *e = a->sl[i]->fn->var[v];
				cnt_total(&e->c, e->r, rs, w);
			}
		}
		f->gen = fu->gen = g;
		if (t)
			a->sl[i]->gen = a->sl[i]->fn->gen = g;
	}
	for (int view = 0; view < NVIEW; view++) {
		if (!has_own[view])
			continue;
		size_t i = own_at[view];
		const struct frame *f = a->sf[i];
		for (int v = 0; v < NVAR; v++) {
			if (!(vm & (1u << v)))
				continue;
			cnt_own(pcell(a, 0, v, f->id), *prec(a, 0, v, f->id), rs, view, w);
			cnt_own(pcell(a, 1, v, f->fn), *prec(a, 1, v, f->fn), rs, view, w);
			if (t) {
				struct tent *le = a->sl[i]->var[v], *fe = a->sl[i]->fn->var[v];
				cnt_own(&le->c, le->r, rs, view, w);
				cnt_own(&fe->c, fe->r, rs, view, w);
			}
		}
	}
	shr_add(a->psh, s, in->state, w);
	a->tick_flags |= in->state;
	if (!t)
		return 0;
	shr_add(t->sh, s, in->state, w);
	for (size_t k = 0; k < n; k++) {
		size_t i = n - 1 - k;
		t->cache[k].f = a->sf[i];
		t->cache[k].e = a->sl[i];
		t->cache[k].folded = fin[i].folded;
		if (k >= match)
			t->cache[k].node[0] = t->cache[k].node[1] = NO_NODE;
	}
	t->ncache = n;
	tree_add(a, t, 0, n, match, w);
	tree_add(a, t, 1, n, match, w);
	if (in->name && strncmp(t->name, in->name, sizeof(t->name) - 1) != 0) {
		strncpy(t->name, in->name, sizeof(t->name) - 1);
		t->name[sizeof(t->name) - 1] = '\0';
	}
	t->state = in->state;
	t->last_ns = a->now_ns;
	t->last_tick = a->tick_no;
	t->ended = false;
	t->top = n ? a->sf[0]->id : MST_AGG_NONE;
	return 0;
nomem:
	return mst_err_set(err, rc, "agg: out of memory counting thread %d", (int)in->tid);
}

void mst_agg_end(struct mst_agg *a)
{
	if (!a->in_tick)
		return;
	a->in_tick = false;
	a->st.ticks++;
	struct tick *both[2] = {&a->pt[0], &a->pt[1 + a->slot]};
	for (int k = 0; k < 2; k++) {
		both[k]->ticks++;
		both[k]->ns += a->weight;
		if (a->tick_flags & MST_AGG_GIL_HELD)
			both[k]->gil++;
		if (a->tick_flags & MST_AGG_IN_GC)
			both[k]->gc++;
	}
	if (!a->have_first) {
		a->have_first = true;
		a->first_ns = a->now_ns;
	}
	a->last_ns = a->now_ns;
	struct thr *t, *tmp;
	HASH_ITER(hh, a->threads, t, tmp)
	{
		if (!t->ended && t->last_tick != a->tick_no && a->now_ns > t->last_ns &&
		    a->now_ns - t->last_ns >= a->cfg.end_after_ns)
			t->ended = true;
	}
}

int mst_agg_add(struct mst_agg *a, uint64_t now_ns, uint64_t weight_ns,
                const struct mst_agg_thread_in *threads, size_t nthreads, struct mst_err *err)
{
	int rc = 0;
	mst_agg_begin(a, now_ns, weight_ns);
	for (size_t i = 0; i < nthreads && rc == 0; i++)
		rc = mst_agg_add_thread(a, &threads[i], err);
	mst_agg_end(a);
	return rc;
}

void mst_agg_end_thread(struct mst_agg *a, pid_t tid)
{
	struct thr *t = thr_find(a, tid);
	if (t)
		t->ended = true;
}

/* ---- reading ---- */

static void frame_fill(int mode, const struct frame *f, struct mst_agg_frame *out)
{
	out->id = f->id;
	out->fn_id = mode ? f->id : f->fn;
	out->kind = (uint8_t)(f->key.flags & 1);
	out->inlined = (f->key.flags & 2) != 0;
	out->line = f->key.line;
	out->function = f->key.func;
	out->file = f->key.file;
	out->module = f->key.mod;
}

int mst_agg_frame(const struct mst_agg *a, enum mst_agg_mode mode, uint32_t id,
                  struct mst_agg_frame *out)
{
	int m = mode == MST_AGG_BY_FUNC;
	if (id >= a->nf[m])
		return -ENOENT;
	frame_fill(m, a->fv[m][id], out);
	return 0;
}

static int cmp_desc(uint64_t x, uint64_t y)
{
	return x < y ? 1 : x > y ? -1 : 0;
}

static int cmp_name(const struct mst_agg_hot *x, const struct mst_agg_hot *y)
{
	int c = strcasecmp(x->frame.function, y->frame.function);
	if (!c)
		c = strcasecmp(x->frame.file, y->frame.file);
	if (!c)
		c = x->frame.line < y->frame.line ? -1 : x->frame.line > y->frame.line;
	if (!c)
		c = x->frame.id < y->frame.id ? -1 : x->frame.id > y->frame.id;
	return c;
}

static int hot_cmp(const void *px, const void *py, void *ctx)
{
	const struct mst_agg_hot *x = px, *y = py;
	int c = 0;
	switch (*(const enum mst_agg_sort *)ctx) {
	case MST_AGG_SORT_OWN:
		c = cmp_desc(x->own_samples, y->own_samples);
		break;
	case MST_AGG_SORT_TOTAL:
		c = cmp_desc(x->total_samples, y->total_samples);
		break;
	case MST_AGG_SORT_OWN_NS:
		c = cmp_desc(x->own_ns, y->own_ns);
		break;
	case MST_AGG_SORT_TOTAL_NS:
		c = cmp_desc(x->total_ns, y->total_ns);
		break;
	case MST_AGG_SORT_NAME:
		return cmp_name(x, y);
	}
	/* Ties: hotter overall first, then a fixed order so rows do not
	 * swap places between two redraws. */
	if (!c)
		c = cmp_desc(x->total_ns, y->total_ns);
	if (!c)
		c = cmp_desc(x->own_ns, y->own_ns);
	return c ? c : cmp_name(x, y);
}

static bool hot_keep(const struct mst_agg_query *q, const struct frame *f)
{
	if (q->view == MST_AGG_VIEW_PYTHON && (f->key.flags & 1) != MST_AGG_PYTHON)
		return false;
	if (q->view == MST_AGG_VIEW_FOLDED && !f->unfolded)
		return false;
	if (!q->filter || !q->filter[0])
		return true;
	return strcasestr(f->key.func, q->filter) || strcasestr(f->key.file, q->filter) ||
	       strcasestr(f->key.mod, q->filter);
}

/* Append a row for f if it has samples in the window and passes the query. */
static void hot_push(struct mst_agg *a, const struct mst_agg_query *q, int mode,
                     const struct frame *f, const struct cnt *cum, const struct rblk *ring,
                     size_t *n)
{
	struct cnt c;
	cnt_read(cum, ring, a->nb, q->window, &c);
	if (!c.total || !hot_keep(q, f))
		return;
	struct mst_agg_hot *r = &a->hot[(*n)++];
	frame_fill(mode, f, &r->frame);
	r->own_samples = c.own[q->view];
	r->own_ns = c.own_ns[q->view];
	r->total_samples = c.total;
	r->total_ns = c.total_ns;
}

static int shr_index(enum mst_agg_subset s)
{
	/* Subsets are the samples with a state flag: bit 0 active, bit 1 GIL. */
	return s == MST_AGG_ONLY_ACTIVE ? 1 : s == MST_AGG_ONLY_GIL ? 2 : 0;
}

int mst_agg_hot(struct mst_agg *a, const struct mst_agg_query *q, const struct mst_agg_hot **rows,
                size_t *nrows, struct mst_agg_count *scope, struct mst_err *err)
{
	*rows = NULL;
	*nrows = 0;
	int m = q->mode == MST_AGG_BY_FUNC;
	int v = q->subset >= 0 && q->subset < NVAR ? (int)q->subset : 0;
	struct mst_agg_query qq = *q;
	if (qq.view < 0 || qq.view >= NVIEW)
		qq.view = MST_AGG_VIEW_ALL;
	const struct shr *sh = a->psh;
	struct thr *t = NULL;
	if (q->tid) {
		if (!(t = thr_find(a, q->tid)))
			return mst_err_set(err, -ENOENT, "agg: no thread %d", (int)q->tid);
		sh = t->sh;
	}
	size_t most = t ? t->nents : a->nf[m];
	if (grow((void **)&a->hot, &a->hot_cap, most, sizeof(*a->hot)) < 0)
		return mst_err_set(err, -ENOMEM, "agg: out of memory");
	size_t n = 0;
	if (!t) {
		for (uint32_t id = 0; id < a->nf[m]; id++)
			hot_push(a, &qq, m, a->fv[m][id], pcell(a, m, v, id), *prec(a, m, v, id),
			         &n);
	} else {
		struct tent *e, *tmp;
		HASH_ITER(hh, t->ents, e, tmp)
		{
			if ((int)(e->key >> 31) != m || (int)((e->key >> 29) & 3) != v)
				continue;
			hot_push(a, &qq, m, a->fv[m][e->key & ((1u << 29) - 1)], &e->c, e->r, &n);
		}
	}
	enum mst_agg_sort key = q->sort;
	if (n > 1)
		qsort_r(a->hot, n, sizeof(*a->hot), hot_cmp, &key);
	if (q->limit && n > q->limit)
		n = q->limit;
	if (scope) {
		struct shr s;
		shr_read(sh, a->nb, q->window, &s);
		scope->samples = s.n[shr_index(q->subset)];
		scope->ns = s.ns[shr_index(q->subset)];
	}
	*rows = a->hot;
	*nrows = n;
	return 0;
}

static int thr_cmp(const void *px, const void *py)
{
	const struct mst_agg_thread *x = px, *y = py;
	return x->tid < y->tid ? -1 : x->tid > y->tid;
}

int mst_agg_threads(struct mst_agg *a, enum mst_agg_window w, const struct mst_agg_thread **rows,
                    size_t *nrows, struct mst_err *err)
{
	*rows = NULL;
	*nrows = 0;
	if (grow((void **)&a->trows, &a->trows_cap, a->nthreads, sizeof(*a->trows)) < 0)
		return mst_err_set(err, -ENOMEM, "agg: out of memory");
	size_t n = 0;
	struct thr *t, *tmp;
	HASH_ITER(hh, a->threads, t, tmp)
	{
		struct mst_agg_thread *r = &a->trows[n++];
		memset(r, 0, sizeof(*r));
		r->tid = t->tid;
		memcpy(r->name, t->name, sizeof(r->name));
		r->state = t->state;
		r->ended = t->ended;
		r->top_id = t->top;
		r->first_ns = t->first_ns;
		r->last_ns = t->last_ns;
		struct shr s;
		shr_read(t->sh, a->nb, w, &s);
		r->window.samples = s.n[0];
		r->window.ns = s.ns[0];
		r->active = s.n[1];
		r->gil_held = s.n[2];
		r->gil_wait = s.n[3];
		r->gil_drop = s.n[4];
		r->in_gc = s.n[5];
		r->has_python = s.n[6];
		r->active_pct = pct(r->active, s.n[0]);
		r->gil_pct = pct(r->gil_held, s.n[0]);
		r->gil_wait_pct = pct(r->gil_wait, s.n[0]);
		r->gil_drop_pct = pct(r->gil_drop, s.n[0]);
		r->gc_pct = pct(r->in_gc, s.n[0]);
	}
	if (n > 1)
		qsort(a->trows, n, sizeof(*a->trows), thr_cmp);
	*rows = a->trows;
	*nrows = n;
	return 0;
}

void mst_agg_totals(const struct mst_agg *a, enum mst_agg_window w, struct mst_agg_totals *out)
{
	memset(out, 0, sizeof(*out));
	struct tick tk;
	tick_read(a->pt, a->nb, w, &tk);
	struct shr s;
	shr_read(a->psh, a->nb, w, &s);
	out->ticks.samples = tk.ticks;
	out->ticks.ns = tk.ns;
	out->samples.samples = s.n[0];
	out->samples.ns = s.ns[0];
	out->gil_ticks = tk.gil;
	out->gc_ticks = tk.gc;
	out->gil_pct = pct(tk.gil, tk.ticks);
	out->gc_pct = pct(tk.gc, tk.ticks);
	const struct thr *t, *tmp;
	HASH_ITER(hh, a->threads, t, tmp)
	{
		out->threads++;
		if (!t->ended)
			out->threads_live++;
	}
	out->first_ns = a->first_ns;
	out->last_ns = a->last_ns;
}

int mst_agg_thread_stack(struct mst_agg *a, pid_t tid, const struct mst_agg_stack_frame **frames,
                         size_t *nframes)
{
	*frames = NULL;
	*nframes = 0;
	const struct thr *t = thr_find(a, tid);
	if (!t)
		return -ENOENT;
	if (grow((void **)&a->srows, &a->srows_cap, t->ncache, sizeof(*a->srows)) < 0)
		return -ENOMEM;
	/* The cache runs outermost first; the caller wants innermost first. */
	for (size_t k = 0; k < t->ncache; k++) {
		struct mst_agg_stack_frame *r = &a->srows[t->ncache - 1 - k];
		r->id = t->cache[k].f->id;
		r->folded = t->cache[k].folded;
	}
	*frames = a->srows;
	*nframes = t->ncache;
	return 0;
}

static void node_fill(const struct tnode *nd, struct mst_agg_node *out)
{
	out->node = nd->idx;
	out->frame = nd->frame;
	out->parent = nd->parent;
	out->self_samples = nd->self;
	out->total_samples = nd->total;
	out->self_ns = nd->self_ns;
	out->total_ns = nd->total_ns;
	out->has_children = nd->first_child != NO_NODE;
}

static const struct tree *tree_of(const struct mst_agg *a, pid_t tid, enum mst_agg_mode mode,
                                  uint32_t node)
{
	const struct thr *t = thr_find(a, tid);
	if (!t)
		return NULL;
	const struct tree *tr = &t->tree[mode == MST_AGG_BY_FUNC];
	return node < tr->n ? tr : NULL;
}

int mst_agg_tree_node(const struct mst_agg *a, pid_t tid, enum mst_agg_mode mode, uint32_t node,
                      struct mst_agg_node *out)
{
	const struct tree *tr = tree_of(a, tid, mode, node);
	if (!tr)
		return -ENOENT;
	node_fill(tnode_at(tr, node), out);
	return 0;
}

static int node_cmp(const void *px, const void *py)
{
	const struct mst_agg_node *x = px, *y = py;
	int c = cmp_desc(x->total_samples, y->total_samples);
	if (!c)
		c = cmp_desc(x->total_ns, y->total_ns);
	return c ? c : (x->frame < y->frame ? -1 : x->frame > y->frame);
}

int mst_agg_tree_children(struct mst_agg *a, pid_t tid, enum mst_agg_mode mode, uint32_t node,
                          const struct mst_agg_node **rows, size_t *nrows, struct mst_err *err)
{
	*rows = NULL;
	*nrows = 0;
	const struct tree *tr = tree_of(a, tid, mode, node);
	if (!tr)
		return mst_err_set(err, -ENOENT, "agg: no node %u in thread %d", node, (int)tid);
	size_t n = 0;
	for (uint32_t c = tnode_at(tr, node)->first_child; c != NO_NODE;
	     c = tnode_at(tr, c)->next_sibling)
		n++;
	if (grow((void **)&a->nrows, &a->nrows_cap, n, sizeof(*a->nrows)) < 0)
		return mst_err_set(err, -ENOMEM, "agg: out of memory");
	n = 0;
	for (uint32_t c = tnode_at(tr, node)->first_child; c != NO_NODE;
	     c = tnode_at(tr, c)->next_sibling)
		if (tnode_at(tr, c)->total)
			node_fill(tnode_at(tr, c), &a->nrows[n++]);
	if (n > 1)
		qsort(a->nrows, n, sizeof(*a->nrows), node_cmp);
	*rows = a->nrows;
	*nrows = n;
	return 0;
}

void mst_agg_stats(const struct mst_agg *a, struct mst_agg_stats *out)
{
	*out = a->st;
	out->frames = a->nf[0];
	out->funcs = a->nf[1];
	out->strings = a->nstrs;
	out->threads = a->nthreads;
	const struct thr *t, *tmp;
	HASH_ITER(hh, a->threads, t, tmp)
	{
		out->thread_entries += t->nents;
		out->tree_nodes += t->tree[0].n + t->tree[1].n;
	}
}
