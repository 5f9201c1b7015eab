/* Counting merged stacks for the live view: frames interned into ids, own and
 * total counts per thread and for the process in a ring of per-second buckets
 * plus a since-start cell, thread shares, and bounded call trees.
 *
 * Memory stops growing once the caps are reached, whatever the target does:
 * frames, per-thread cells and call-tree nodes live in arrays that grow by
 * doubling up to their cap and are looked up through open-addressing indexes
 * of positions (no hash handle per item). When one is full, the coldest of
 * what was not counted in the recent window (fewest samples since start) is
 * merged into the "(other frames)" cell or an "(other)" tree node, and its
 * slot is reused: new hot frames keep getting their own rows, rare ones end
 * up in the overflow, and own counts still add up to the samples. */

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
#define NO_IDX UINT32_MAX
#define NO_NODE UINT32_MAX
/* A full table evicts this fraction of its cap at once, so the scan that
 * picks the coldest is paid once per that many new items, not per item. */
#define EVICT_DIV 8

/* One count cell. A view only changes which frame gets the own count, so
 * total is shared and own is kept per view. */
struct cnt {
	uint64_t total_ns;
	uint64_t own_ns[NVIEW];
	uint32_t total;
	uint32_t own[NVIEW];
};

/* One second of a count cell: 32 bits suffice for a second, with time in
 * microseconds (saturating; a second of one cell is at most a second per
 * thread). Rings are most of what the agg holds, hence the smaller form. */
struct bkt {
	uint32_t total;
	uint32_t own[NVIEW];
	uint32_t total_us;
	uint32_t own_us[NVIEW];
};

struct thr;

/* The recent window of one count cell: a bucket per second of the ring. Only
 * cells counted within the window have one; a block whose buckets all aged
 * out goes back to a pool, so memory follows what is hot now and not every
 * cell ever counted (most of those only keep their since-start count). */
struct rblk {
	struct thr *t; /* owner: a thread's entry, or NULL for a process cell */
	uint32_t idx;  /* the entry's position in t->tab[mode], or the frame id */
	uint8_t mode, var;
	size_t live;       /* index in the agg's live list */
	struct rblk *next; /* in the pool */
	struct bkt c[];    /* [nb] */
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

/* An interned string, shared by the frames that name it and freed with the
 * last of them. */
struct str {
	UT_hash_handle hh;
	uint32_t refs;
	char s[];
};

/* An open-addressing index (linear probing) of positions in an array: a
 * slot holds position + 1, 0 is empty. It has at least twice as many slots
 * as the array has room for, so probes stay short, and it is rebuilt from
 * the array after an eviction instead of deleting in place. */
struct ix {
	uint32_t *slot;
	uint32_t mask; /* slots - 1 */
};

/* Interned strings are unique, so a frame's identity can hold their
 * addresses: a fixed-size key with no padding. */
struct fkey {
	const char *func, *file, *mod;
	uint32_t line;  /* 0 in by-function mode */
	uint32_t flags; /* kind | inlined << 1; kind only in by-function mode */
};

/* A frame in one mode's id space, with the process's counts of it. */
struct frame {
	struct fkey key; /* key.func NULL: a free slot */
	uint32_t fn;     /* by-line frames: the by-function id; free slots: the next free */
	uint32_t gen;    /* == agg gen: already counted in this thread sample */
	bool unfolded;
	struct rblk *r[NVAR]; /* recent rings, NULL when not hot */
	struct cnt c[NVAR];   /* since start, per subset */
};

/* The frames of one mode. Ids are positions; id 0 is "(other frames)". */
struct ftab {
	struct frame *v;
	uint32_t n, cap, live, free;
	struct ix ix;
	bool full;       /* a new frame found no room: evict after this sample */
	uint64_t futile; /* 1 + the second of the last eviction that freed nothing */
};

/* A thread's counts of one frame in one mode, per subset. */
struct tent {
	uint32_t id;  /* the frame id; NO_IDX: a free slot */
	uint32_t gen; /* == agg gen: counted in this sample; free slots: the next free */
	struct rblk *r[NVAR];
	struct cnt c[NVAR];
};

/* A thread's entries of one mode; position 0 is "(other frames)". */
struct etab {
	struct tent *v;
	uint32_t n, cap, live, free;
	struct ix ix;
	bool full;
	uint64_t futile;
};

/* Parents come before their children in the array, an order that
 * compaction keeps. */
struct tnode {
	uint32_t frame, parent, first_child, next_sibling;
	uint32_t self, total;
	uint64_t self_ns, total_ns;
};

struct tree {
	struct tnode *v;
	uint32_t n, cap;
	struct ix ix;
	bool full;
	uint64_t futile;
};

/* One depth of a thread's last stack, counted from the outermost frame:
 * consecutive samples of a thread mostly share their outer frames, and what
 * was looked up for them last time (frame, entries, tree nodes) is reused
 * while the input frames compare equal. What the cache holds is never
 * evicted. */
struct cslot {
	uint32_t f;       /* by-line frame id */
	uint32_t e[2];    /* entry positions per mode */
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
	struct etab tab[2]; /* by line, by function */
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
	size_t nstrs, str_bytes;
	struct ftab ft[2]; /* per mode */
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
	size_t nlive, live_cap, npool;
	struct rblk *pool;

	/* Per-sample scratch, max_depth long, so a warm tick allocates nothing. */
	uint32_t *sf;    /* by-line frame ids */
	uint32_t *sl[2]; /* entry positions per mode */

	/* Eviction scratch, as long as the largest table evicted from. */
	uint32_t *scr, *remap;
	uint8_t *mark;
	size_t scr_cap;
	uint8_t *fmark; /* frame marks, as long as a frame table */
	size_t fmark_cap;

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

static uint32_t mix32(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return (uint32_t)x;
}

static uint32_t sat_add(uint32_t x, uint32_t y)
{
	return x + y < x ? UINT32_MAX : x + y;
}

/* r is there: the feeding path takes one before it counts anything. w is
 * the weight in ns, w_us the same in microseconds. */
static void cnt_total(struct cnt *c, struct rblk *r, size_t slot, uint64_t w, uint32_t w_us)
{
	c->total++;
	c->total_ns += w;
	r->c[slot].total++;
	r->c[slot].total_us = sat_add(r->c[slot].total_us, w_us);
}

static void cnt_own(struct cnt *c, struct rblk *r, size_t slot, int view, uint64_t w, uint32_t w_us)
{
	c->own[view]++;
	c->own_ns[view] += w;
	r->c[slot].own[view]++;
	r->c[slot].own_us[view] = sat_add(r->c[slot].own_us[view], w_us);
}

/* What an evicted cell counted goes to the overflow cell of its scope. Own
 * adds up exactly. Total is counted once per sample, and two cells merged
 * into one may have been on the same stack, so the sum is held to what the
 * scope itself counted (n samples, ns). */
static void cnt_merge(struct cnt *dst, const struct cnt *src, uint64_t n, uint64_t ns)
{
	uint64_t t = (uint64_t)dst->total + src->total;
	dst->total = (uint32_t)(t < n ? t : n);
	t = dst->total_ns + src->total_ns;
	dst->total_ns = t < ns ? t : ns;
	for (int v = 0; v < NVIEW; v++) {
		dst->own[v] += src->own[v];
		dst->own_ns[v] += src->own_ns[v];
	}
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

static int shr_index(int subset)
{
	/* Subsets are the samples with a state flag: bit 0 active, bit 1 GIL. */
	return subset == MST_AGG_ONLY_ACTIVE ? 1 : subset == MST_AGG_ONLY_GIL ? 2 : 0;
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
		out->total_ns += r->c[i].total_us * 1000ull;
		for (int v = 0; v < NVIEW; v++) {
			out->own[v] += r->c[i].own[v];
			out->own_ns[v] += r->c[i].own_us[v] * 1000ull;
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

/* Make an array of cap items room for one more, doubling up to limit items;
 * the new part is zeroed, so what is allocated is also resident and memory
 * does not creep up page by page as items are added. */
static int grow_to(void **buf, uint32_t *cap, uint32_t limit, size_t size)
{
	uint32_t n = *cap ? (*cap > limit / 2 ? limit : *cap * 2) : (limit < 16 ? limit : 16);
	if (n <= *cap)
		return -ENOSPC;
	void *p = realloc(*buf, (size_t)n * size);
	if (!p)
		return -ENOMEM;
	memset((char *)p + (size_t)*cap * size, 0, (size_t)(n - *cap) * size);
	*buf = p;
	*cap = n;
	return 0;
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* ---- indexes ---- */

/* Empty x, with room for an array of cap items (allocating only when the
 * size changes, so a rebuild after an eviction allocates nothing). */
static int ix_reset(struct ix *x, uint32_t cap)
{
	uint32_t want = 16;
	while (want < 2 * (size_t)cap)
		want *= 2;
	if (x->slot && x->mask + 1 == want) {
		memset(x->slot, 0, want * sizeof(*x->slot));
		return 0;
	}
	uint32_t *s = calloc(want, sizeof(*s));
	if (!s)
		return -ENOMEM;
	free(x->slot);
	x->slot = s;
	x->mask = want - 1;
	return 0;
}

static void ix_put(struct ix *x, uint32_t h, uint32_t pos)
{
	uint32_t i = h & x->mask;
	while (x->slot[i])
		i = (i + 1) & x->mask;
	x->slot[i] = pos + 1;
}

static size_t ix_bytes(const struct ix *x)
{
	return x->slot ? ((size_t)x->mask + 1) * sizeof(*x->slot) : 0;
}

static uint32_t fkey_hash(const struct fkey *k)
{
	uint64_t h = (uintptr_t)k->func;
	h = h * 0x9E3779B97F4A7C15ull ^ (uintptr_t)k->file;
	h = h * 0x9E3779B97F4A7C15ull ^ (uintptr_t)k->mod;
	h = h * 0x9E3779B97F4A7C15ull ^ ((uint64_t)k->line << 2 | k->flags);
	return mix32(h);
}

static bool fkey_eq(const struct fkey *x, const struct fkey *y)
{
	return x->func == y->func && x->file == y->file && x->mod == y->mod && x->line == y->line &&
	       x->flags == y->flags;
}

static uint32_t nkey_hash(uint32_t parent, uint32_t frame)
{
	return mix32((uint64_t)parent << 32 | frame);
}

/* ---- recent rings ---- */

static size_t rblk_size(const struct mst_agg *a)
{
	return sizeof(struct rblk) + a->nb * sizeof(struct bkt);
}

/* Where the owner of r keeps its pointer to it. */
static struct rblk **rblk_home(struct mst_agg *a, const struct rblk *r)
{
	if (r->t)
		return &r->t->tab[r->mode].v[r->idx].r[r->var];
	return &a->ft[r->mode].v[r->idx].r[r->var];
}

/* Make sure *slot has a recent ring (from the pool when it can); the owner
 * (t, mode, idx, var) says where it hangs, so it can be taken back when it
 * ages out. */
static int rblk_take(struct mst_agg *a, struct rblk **slot, struct thr *t, int mode, uint32_t idx,
                     int var)
{
	if (*slot)
		return 0;
	if (grow((void **)&a->live, &a->live_cap, a->nlive + 1, sizeof(*a->live)) < 0)
		return -ENOMEM;
	struct rblk *r = a->pool;
	if (r) {
		a->pool = r->next;
		a->npool--;
	} else {
		r = calloc(1, rblk_size(a));
		if (!r)
			return -ENOMEM;
	}
	r->t = t;
	r->idx = idx;
	r->mode = (uint8_t)mode;
	r->var = (uint8_t)var;
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
	*rblk_home(a, r) = NULL;
	struct rblk *last = a->live[--a->nlive];
	a->live[r->live] = last;
	last->live = r->live;
	memset(r->c, 0, a->nb * sizeof(struct bkt));
	r->t = NULL;
	r->next = a->pool;
	a->pool = r;
	a->npool++;
}

static void rblk_drop_pool(struct mst_agg *a)
{
	while (a->pool) {
		struct rblk *r = a->pool;
		a->pool = r->next;
		free(r);
	}
	a->npool = 0;
}

/* ---- strings ---- */

static struct str *str_of(const char *s)
{
	return (struct str *)(void *)(s - offsetof(struct str, s));
}

/* The interned copy of s (NULL is ""), made with no reference when create
 * is set, else NULL when it is not known. */
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
	e->refs = 0;
	memcpy(e->s, s, len);
	e->s[len] = '\0';
	HASH_ADD_KEYPTR(hh, a->strs, e->s, len, e);
	if (!e->hh.tbl) {
		free(e);
		return -ENOMEM;
	}
	a->nstrs++;
	a->str_bytes += sizeof(*e) + len + 1;
	*out = e->s;
	return 0;
}

/* Free s if no frame names it (any more). */
static void str_drop_unused(struct mst_agg *a, const char *s)
{
	if (!s)
		return;
	struct str *e = str_of(s);
	if (e->refs)
		return;
	a->str_bytes -= sizeof(*e) + strlen(e->s) + 1;
	a->nstrs--;
	HASH_DEL(a->strs, e);
	free(e);
}

static void key_ref(const struct fkey *k)
{
	str_of(k->func)->refs++;
	str_of(k->file)->refs++;
	str_of(k->mod)->refs++;
}

static void key_unref(struct mst_agg *a, const struct fkey *k)
{
	const char *s[3] = {k->func, k->file, k->mod};
	for (int i = 0; i < 3; i++)
		str_of(s[i])->refs--;
	for (int i = 0; i < 3; i++)
		str_drop_unused(a, s[i]);
}

/* ---- frames ---- */

static int ftab_init(struct ftab *tb)
{
	tb->free = NO_IDX;
	return ix_reset(&tb->ix, 0);
}

static void ftab_fini(struct ftab *tb)
{
	free(tb->v);
	free(tb->ix.slot);
	memset(tb, 0, sizeof(*tb));
}

static bool frame_live(const struct ftab *tb, uint32_t id)
{
	return id < tb->n && tb->v[id].key.func != NULL;
}

static void ftab_reindex(struct ftab *tb)
{
	ix_reset(&tb->ix, tb->cap); /* the same size: nothing to allocate */
	for (uint32_t i = 0; i < tb->n; i++)
		if (tb->v[i].key.func)
			ix_put(&tb->ix, fkey_hash(&tb->v[i].key), i);
}

static uint32_t ftab_find(const struct ftab *tb, const struct fkey *k)
{
	for (uint32_t i = fkey_hash(k) & tb->ix.mask; tb->ix.slot[i]; i = (i + 1) & tb->ix.mask) {
		uint32_t p = tb->ix.slot[i] - 1;
		if (fkey_eq(&tb->v[p].key, k))
			return p;
	}
	return NO_IDX;
}

/* A new frame with key k (whose strings it now references); the caller
 * checked that there is room. */
static int ftab_add(struct mst_agg *a, struct ftab *tb, const struct fkey *k, uint32_t *out)
{
	uint32_t id;
	if (tb->free != NO_IDX) {
		id = tb->free;
		tb->free = tb->v[id].fn;
	} else {
		if (tb->n == tb->cap) {
			int rc =
			    grow_to((void **)&tb->v, &tb->cap, a->cfg.max_frames, sizeof(*tb->v));
			if (rc < 0)
				return rc == -ENOSPC ? -ENOMEM : rc;
			struct ix nx = {0};
			if (ix_reset(&nx, tb->cap) < 0)
				return -ENOMEM;
			free(tb->ix.slot);
			tb->ix = nx;
			ftab_reindex(tb);
		}
		id = tb->n++;
	}
	struct frame *f = &tb->v[id];
	memset(f, 0, sizeof(*f));
	f->key = *k;
	key_ref(k);
	ix_put(&tb->ix, fkey_hash(k), id);
	tb->live++;
	*out = id;
	return 0;
}

/* The by-line frame id of in, created if new; where there is no room for
 * it (or its function) the overflow frame, and the table is marked for an
 * eviction after this sample. */
static int intern(struct mst_agg *a, const struct mst_agg_frame_in *in, uint32_t *out)
{
	struct fkey k;
	memset(&k, 0, sizeof(k));
	const char *in_s[3] = {in->function, in->file, in->module};
	const char **ks[3] = {&k.func, &k.file, &k.mod};
	for (int i = 0; i < 3; i++)
		str_get(a, in_s[i], false, ks[i]); /* cannot fail without create */
	k.line = in->line;
	k.flags = (uint32_t)(in->kind & 1) | (in->inlined ? 2u : 0u);
	uint32_t id = NO_IDX;
	if (k.func && k.file && k.mod)
		id = ftab_find(&a->ft[0], &k);
	if (id != NO_IDX) {
		*out = id;
		return 0;
	}
	*out = MST_AGG_OTHER_FRAME;
	if (a->ft[0].live >= a->cfg.max_frames) {
		a->ft[0].full = true;
		a->st.frames_over_limit++;
		return 0;
	}
	int rc = 0;
	for (int i = 0; i < 3 && rc == 0; i++)
		if (!*ks[i])
			rc = str_get(a, in_s[i], true, ks[i]);
	/* Inlined or not, the same function is one function. */
	struct fkey fk = k;
	fk.line = 0;
	fk.flags = k.flags & 1;
	uint32_t fn = rc == 0 ? ftab_find(&a->ft[1], &fk) : NO_IDX;
	if (rc == 0 && fn == NO_IDX) {
		if (a->ft[1].live >= a->cfg.max_frames) {
			a->ft[1].full = true;
			a->st.frames_over_limit++;
		} else {
			rc = ftab_add(a, &a->ft[1], &fk, &fn);
		}
	}
	if (rc == 0 && fn != NO_IDX && (rc = ftab_add(a, &a->ft[0], &k, &id)) == 0) {
		a->ft[0].v[id].fn = fn;
		*out = id;
	}
	/* Strings made for a frame that could not be made go again. */
	for (int i = 0; i < 3; i++)
		str_drop_unused(a, *ks[i]);
	return rc;
}

/* ---- thread entries ---- */

static uint32_t etab_find(const struct etab *tb, uint32_t id)
{
	for (uint32_t i = mix32(id) & tb->ix.mask; tb->ix.slot[i]; i = (i + 1) & tb->ix.mask) {
		uint32_t p = tb->ix.slot[i] - 1;
		if (tb->v[p].id == id)
			return p;
	}
	return NO_IDX;
}

static void etab_reindex(struct etab *tb)
{
	ix_reset(&tb->ix, tb->cap);
	for (uint32_t i = 0; i < tb->n; i++)
		if (tb->v[i].id != NO_IDX)
			ix_put(&tb->ix, mix32(tb->v[i].id), i);
}

/* A new entry for frame id, at most limit of them; -ENOSPC when full. */
static int etab_add(struct etab *tb, uint32_t id, uint32_t limit, uint32_t *out)
{
	uint32_t p;
	if (tb->live >= limit)
		return -ENOSPC;
	if (tb->free != NO_IDX) {
		p = tb->free;
		tb->free = tb->v[p].gen;
	} else {
		if (tb->n == tb->cap) {
			int rc = grow_to((void **)&tb->v, &tb->cap, limit, sizeof(*tb->v));
			if (rc < 0)
				return rc;
			struct ix nx = {0};
			if (ix_reset(&nx, tb->cap) < 0)
				return -ENOMEM;
			free(tb->ix.slot);
			tb->ix = nx;
			etab_reindex(tb);
		}
		p = tb->n++;
	}
	memset(&tb->v[p], 0, sizeof(tb->v[p]));
	tb->v[p].id = id;
	ix_put(&tb->ix, mix32(id), p);
	tb->live++;
	*out = p;
	return 0;
}

static int etab_init(struct etab *tb, uint32_t limit)
{
	uint32_t other;
	tb->free = NO_IDX;
	if (ix_reset(&tb->ix, 0) < 0)
		return -ENOMEM;
	/* The overflow entry first, at position 0, beside the limit. */
	return etab_add(tb, MST_AGG_OTHER_FRAME, limit + 1, &other) < 0 ? -ENOMEM : 0;
}

static void etab_fini(struct etab *tb)
{
	free(tb->v);
	free(tb->ix.slot);
	memset(tb, 0, sizeof(*tb));
}

/* Free the entry at p: its counts went elsewhere, it has no ring. */
static void etab_del(struct etab *tb, uint32_t p)
{
	tb->v[p].id = NO_IDX;
	tb->v[p].gen = tb->free;
	tb->free = p;
	tb->live--;
}

/* The entry of frame id in t's table of mode; past max_thread_entries the
 * overflow entry, and the table is marked for an eviction after this
 * sample. */
static int ent_resolve(struct mst_agg *a, struct thr *t, int mode, uint32_t id, uint32_t *out)
{
	struct etab *tb = &t->tab[mode];
	uint32_t p = etab_find(tb, id);
	if (p == NO_IDX) {
		int rc = etab_add(tb, id, a->cfg.max_thread_entries + 1, &p);
		if (rc == -ENOSPC) {
			tb->full = true;
			a->st.entries_over_limit++;
			p = 0;
		} else if (rc < 0) {
			return rc;
		}
	}
	*out = p;
	return 0;
}

/* ---- call trees ---- */

static int tree_init(struct tree *tr)
{
	if (ix_reset(&tr->ix, 0) < 0)
		return -ENOMEM;
	tr->cap = 16;
	if (!(tr->v = calloc(tr->cap, sizeof(*tr->v))))
		return -ENOMEM;
	struct tnode *root = &tr->v[0];
	root->frame = MST_AGG_TREE_ROOT_FRAME;
	root->parent = root->first_child = root->next_sibling = NO_NODE;
	tr->n = 1; /* the root is never looked up, so never indexed */
	return 0;
}

static void tree_fini(struct tree *tr)
{
	free(tr->v);
	free(tr->ix.slot);
	memset(tr, 0, sizeof(*tr));
}

static void tree_reindex(struct tree *tr)
{
	ix_reset(&tr->ix, tr->cap);
	for (uint32_t i = 1; i < tr->n; i++)
		ix_put(&tr->ix, nkey_hash(tr->v[i].parent, tr->v[i].frame), i);
}

static uint32_t tree_child(const struct tree *tr, uint32_t parent, uint32_t frame)
{
	for (uint32_t i = nkey_hash(parent, frame) & tr->ix.mask; tr->ix.slot[i];
	     i = (i + 1) & tr->ix.mask) {
		uint32_t p = tr->ix.slot[i] - 1;
		if (tr->v[p].parent == parent && tr->v[p].frame == frame)
			return p;
	}
	return NO_NODE;
}

/* A new child of parent, or NO_NODE when the tree holds limit nodes already
 * or memory runs out (the caller then counts the stack higher up). */
static uint32_t tree_node_add(struct mst_agg *a, struct tree *tr, uint32_t parent, uint32_t frame,
                              uint32_t limit)
{
	uint32_t i = tr->n;
	if (i >= limit)
		return NO_NODE;
	if (i == tr->cap) {
		if (grow_to((void **)&tr->v, &tr->cap, a->tree_hard, sizeof(*tr->v)) < 0)
			return NO_NODE;
		struct ix nx = {0};
		if (ix_reset(&nx, tr->cap) < 0)
			return NO_NODE;
		free(tr->ix.slot);
		tr->ix = nx;
		tree_reindex(tr);
	}
	struct tnode *nd = &tr->v[i], *p = &tr->v[parent];
	memset(nd, 0, sizeof(*nd));
	nd->frame = frame;
	nd->parent = parent;
	nd->first_child = NO_NODE;
	nd->next_sibling = p->first_child;
	p->first_child = i;
	ix_put(&tr->ix, nkey_hash(parent, frame), i);
	tr->n++;
	return i;
}

/* Walk the stack from its outermost frame down the tree; the first match
 * depths are the thread's last stack, whose nodes are in its cache. */
static void tree_add(struct mst_agg *a, struct thr *t, int mode, size_t n, size_t match, uint64_t w)
{
	struct tree *tr = &t->tree[mode];
	uint32_t cur = 0;
	tr->v[0].total++;
	tr->v[0].total_ns += w;
	size_t k;
	for (k = 0; k < n; k++) {
		size_t i = n - 1 - k;
		uint32_t id = mode ? a->ft[0].v[a->sf[i]].fn : a->sf[i];
		uint32_t nd;
		if (k < match && t->cache[k].node[mode] != NO_NODE)
			nd = t->cache[k].node[mode];
		else
			nd = tree_child(tr, cur, id);
		if (nd == NO_NODE) {
			nd = tree_node_add(a, tr, cur, id, a->cfg.max_tree_nodes);
			if (nd == NO_NODE && tr->n >= a->cfg.max_tree_nodes)
				tr->full = true;
		}
		bool full = nd == NO_NODE;
		if (full) {
			/* The rest of this stack goes to the "(other)" child;
			 * the headroom past max_tree_nodes exists for those. If
			 * even that is used up, the deepest node reached takes
			 * it as self, which keeps every total consistent. */
			nd = tree_child(tr, cur, MST_AGG_TREE_OTHER);
			if (nd == NO_NODE)
				nd = tree_node_add(a, tr, cur, MST_AGG_TREE_OTHER, a->tree_hard);
			if (nd == NO_NODE)
				break;
		}
		tr->v[nd].total++;
		tr->v[nd].total_ns += w;
		cur = nd;
		if (full)
			break;
		t->cache[k].node[mode] = nd;
	}
	/* Where the walk stopped, the next one has nothing to reuse. */
	for (; k < n; k++)
		t->cache[k].node[mode] = NO_NODE;
	tr->v[cur].self++;
	tr->v[cur].self_ns += w;
}

/* ---- eviction ---- */

static int scratch(struct mst_agg *a, size_t n)
{
	if (n <= a->scr_cap)
		return 0;
	size_t c = a->scr_cap ? a->scr_cap : 64;
	while (c < n)
		c *= 2;
	uint32_t *s = realloc(a->scr, c * sizeof(*s));
	if (s)
		a->scr = s;
	uint32_t *r = realloc(a->remap, c * sizeof(*r));
	if (r)
		a->remap = r;
	uint8_t *m = realloc(a->mark, c);
	if (m)
		a->mark = m;
	if (!s || !r || !m)
		return -ENOMEM;
	a->scr_cap = c;
	return 0;
}

static int cmp_u32(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return a < b ? -1 : a > b;
}

/* The threshold of the k coldest of nc candidate counts (in a->scr, which
 * this reorders): evict those below it, then those at it until k went. */
static uint32_t cold_threshold(struct mst_agg *a, size_t nc, size_t k)
{
	if (nc <= k)
		return UINT32_MAX;
	qsort(a->scr, nc, sizeof(*a->scr), cmp_u32);
	return a->scr[k - 1];
}

static bool ring_any(struct rblk *const r[NVAR])
{
	return r[0] || r[1] || r[2];
}

enum { KEEP = 0, PROTECT = 1, GONE = 2, CAND = 3 };

/* Merge the entries of t's table of mode whose frame fmark says GONE into
 * its overflow entry. */
static void etab_sweep(struct mst_agg *a, struct thr *t, int mode, const uint8_t *fmark)
{
	struct etab *tb = &t->tab[mode];
	size_t gone = 0;
	for (uint32_t p = 1; p < tb->n; p++) {
		struct tent *e = &tb->v[p];
		if (e->id == NO_IDX || fmark[e->id] != GONE)
			continue;
		/* A frame counted in the window is never evicted, so neither
		 * was this entry: no ring. Should one be, it goes back, lest
		 * it point into a reused slot. */
		for (int v = 0; v < NVAR; v++)
			if (e->r[v])
				rblk_give(a, e->r[v]);
		for (int v = 0; v < NVAR; v++)
			cnt_merge(&tb->v[0].c[v], &e->c[v], t->sh[0].n[shr_index(v)],
			          t->sh[0].ns[shr_index(v)]);
		etab_del(tb, p);
		gone++;
	}
	if (gone)
		etab_reindex(tb);
}

/* The coldest entries of t's table of mode go to its overflow entry:
 * those the last stack uses and those counted in the recent window stay. */
static void etab_evict(struct mst_agg *a, struct thr *t, int mode)
{
	struct etab *tb = &t->tab[mode];
	tb->full = false;
	if (tb->futile == a->cur_sec + 1 || scratch(a, tb->n) < 0)
		return;
	uint8_t *mark = a->mark;
	memset(mark, KEEP, tb->n);
	mark[0] = PROTECT;
	for (size_t k = 0; k < t->ncache; k++)
		mark[t->cache[k].e[mode]] = PROTECT;
	size_t nc = 0;
	for (uint32_t p = 1; p < tb->n; p++) {
		const struct tent *e = &tb->v[p];
		if (e->id == NO_IDX || mark[p] == PROTECT || ring_any(e->r))
			continue;
		mark[p] = CAND;
		a->scr[nc++] = e->c[0].total;
	}
	size_t k = a->cfg.max_thread_entries / EVICT_DIV;
	if (k < 1)
		k = 1;
	if (!nc) {
		tb->futile = a->cur_sec + 1;
		return;
	}
	uint32_t thr = cold_threshold(a, nc, k);
	size_t gone = 0;
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t p = 1; p < tb->n && gone < k; p++) {
			struct tent *e = &tb->v[p];
			if (mark[p] != CAND || e->c[0].total > thr ||
			    (!pass && e->c[0].total == thr))
				continue;
			for (int v = 0; v < NVAR; v++)
				cnt_merge(&tb->v[0].c[v], &e->c[v], t->sh[0].n[shr_index(v)],
				          t->sh[0].ns[shr_index(v)]);
			etab_del(tb, p);
			mark[p] = KEEP;
			gone++;
		}
	etab_reindex(tb);
	a->st.entries_evicted += gone;
	if (gone < k / 4)
		tb->futile = a->cur_sec + 1;
}

/* Drop subtrees of t's tree of mode into "(other)" children of where they
 * hang: with gone set, those of nodes whose frame a->mark says GONE; else
 * those with at most thr samples. The path of the last stack stays, and so
 * does every "(other)" node under a kept parent. Node ids change; the
 * cache follows. Returns the nodes removed. */
static size_t tree_compact(struct mst_agg *a, struct thr *t, int mode, bool gone, uint32_t thr,
                           const uint8_t *fmark)
{
	struct tree *tr = &t->tree[mode];
	uint32_t n = tr->n;
	uint8_t *st = a->mark;
	uint32_t *other = a->scr, *remap = a->remap;
	enum { NKEEP = 0, NPROT = 1, NDROP = 2, NCONV = 3 };
	memset(st, NKEEP, n);
	st[0] = NPROT;
	for (size_t k = 0; k < t->ncache && t->cache[k].node[mode] != NO_NODE; k++)
		st[t->cache[k].node[mode]] = NPROT;
	for (uint32_t i = 0; i < n; i++)
		other[i] = NO_NODE;
	for (uint32_t i = 1; i < n; i++)
		if (tr->v[i].frame == MST_AGG_TREE_OTHER)
			other[tr->v[i].parent] = i;
	size_t removed = 0, converted = 0;
	for (uint32_t i = 1; i < n; i++) {
		struct tnode *nd = &tr->v[i];
		uint8_t ps = st[nd->parent];
		if (ps == NDROP || ps == NCONV) {
			st[i] = NDROP; /* inside a subtree that went */
			removed++;
			continue;
		}
		if (st[i] == NPROT || nd->frame == MST_AGG_TREE_OTHER)
			continue;
		bool drop = gone ? nd->frame < MST_AGG_TREE_OTHER && fmark[nd->frame] == GONE
		                 : nd->total <= thr;
		if (!drop)
			continue;
		/* Every sample through nd ends in its subtree: its total is
		 * the subtree's self. */
		uint32_t o = other[nd->parent];
		if (o != NO_NODE) {
			tr->v[o].self += nd->total;
			tr->v[o].total += nd->total;
			tr->v[o].self_ns += nd->total_ns;
			tr->v[o].total_ns += nd->total_ns;
			st[i] = NDROP;
			removed++;
		} else {
			nd->frame = MST_AGG_TREE_OTHER;
			nd->self = nd->total;
			nd->self_ns = nd->total_ns;
			other[nd->parent] = i;
			st[i] = NCONV;
			converted++;
		}
	}
	if (!removed && !converted)
		return 0;
	uint32_t m = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (st[i] == NDROP) {
			remap[i] = NO_NODE;
			continue;
		}
		struct tnode nd = tr->v[i];
		nd.parent = i ? remap[nd.parent] : NO_NODE;
		nd.first_child = nd.next_sibling = NO_NODE;
		remap[i] = m;
		tr->v[m++] = nd;
	}
	/* Children lists again, from the parents kept. */
	for (uint32_t i = 1; i < m; i++) {
		struct tnode *p = &tr->v[tr->v[i].parent];
		tr->v[i].next_sibling = p->first_child;
		p->first_child = i;
	}
	memset(tr->v + m, 0, (size_t)(n - m) * sizeof(*tr->v));
	tr->n = m;
	tree_reindex(tr);
	for (size_t k = 0; k < t->ncache; k++)
		if (t->cache[k].node[mode] != NO_NODE)
			t->cache[k].node[mode] = remap[t->cache[k].node[mode]];
	a->st.nodes_pruned += removed;
	return removed;
}

/* A full tree: the coldest subtrees go to "(other)" nodes. */
static void tree_prune(struct mst_agg *a, struct thr *t, int mode)
{
	struct tree *tr = &t->tree[mode];
	tr->full = false;
	if (tr->futile == a->cur_sec + 1 || scratch(a, tr->n) < 0)
		return;
	size_t nc = 0;
	for (uint32_t i = 1; i < tr->n; i++)
		if (tr->v[i].frame != MST_AGG_TREE_OTHER)
			a->scr[nc++] = tr->v[i].total;
	size_t k = a->cfg.max_tree_nodes / EVICT_DIV;
	if (k < 1)
		k = 1;
	uint32_t thr = nc ? cold_threshold(a, nc, k) : 0;
	if (!nc || tree_compact(a, t, mode, false, thr, NULL) < k / 4 + 1)
		tr->futile = a->cur_sec + 1;
}

/* A full frame table: the coldest frames nothing protects go, and with them
 * the thread entries and call-tree nodes that count them. Protected: the
 * overflow frame, frames of the threads' last stacks, frames counted in the
 * recent window, and functions of by-line frames that stay. */
static void ftab_evict(struct mst_agg *a, int mode)
{
	struct ftab *tb = &a->ft[mode];
	tb->full = false;
	uint32_t most = a->ft[0].n > a->ft[1].n ? a->ft[0].n : a->ft[1].n;
	uint32_t tmost = a->tree_hard > a->cfg.max_thread_entries + 1
	                     ? a->tree_hard
	                     : a->cfg.max_thread_entries + 1;
	if (tb->futile == a->cur_sec + 1 || scratch(a, most > tmost ? most : tmost) < 0)
		return;
	/* The frame marks outlive the scan, through the sweep of threads
	 * that uses the other scratch arrays. */
	if (a->fmark_cap < tb->n) {
		uint8_t *fm = realloc(a->fmark, tb->cap);
		if (!fm)
			return;
		a->fmark = fm;
		a->fmark_cap = tb->cap;
	}
	uint8_t *mark = a->fmark;
	memset(mark, KEEP, tb->n);
	mark[0] = PROTECT;
	struct thr *t, *ttmp;
	HASH_ITER(hh, a->threads, t, ttmp)
	{
		for (size_t k = 0; k < t->ncache; k++) {
			uint32_t f = t->cache[k].f;
			mark[mode ? a->ft[0].v[f].fn : f] = PROTECT;
		}
	}
	if (mode)
		for (uint32_t i = 0; i < a->ft[0].n; i++)
			if (a->ft[0].v[i].key.func)
				mark[a->ft[0].v[i].fn] = PROTECT;
	size_t nc = 0;
	for (uint32_t i = 1; i < tb->n; i++) {
		const struct frame *f = &tb->v[i];
		if (!f->key.func || mark[i] == PROTECT || ring_any(f->r)) {
			mark[i] = PROTECT;
			continue;
		}
		mark[i] = CAND;
		a->scr[nc++] = f->c[0].total;
	}
	size_t k = a->cfg.max_frames / EVICT_DIV;
	if (k < 1)
		k = 1;
	if (!nc) {
		tb->futile = a->cur_sec + 1;
		return;
	}
	uint32_t thr = cold_threshold(a, nc, k);
	size_t gone = 0;
	for (int pass = 0; pass < 2; pass++)
		for (uint32_t i = 1; i < tb->n && gone < k; i++) {
			struct frame *f = &tb->v[i];
			if (mark[i] != CAND || f->c[0].total > thr ||
			    (!pass && f->c[0].total == thr))
				continue;
			for (int v = 0; v < NVAR; v++)
				cnt_merge(&tb->v[0].c[v], &f->c[v], a->psh[0].n[shr_index(v)],
				          a->psh[0].ns[shr_index(v)]);
			key_unref(a, &f->key);
			memset(f, 0, sizeof(*f));
			f->fn = tb->free;
			tb->free = i;
			tb->live--;
			mark[i] = GONE;
			gone++;
		}
	ftab_reindex(tb);
	a->st.frames_evicted += gone;
	/* Little room made: do not sweep every thread again for each new
	 * frame, retry in the next second. */
	if (gone < k / 4)
		tb->futile = a->cur_sec + 1;
	/* What counted them goes to the overflow too. */
	HASH_ITER(hh, a->threads, t, ttmp)
	{
		etab_sweep(a, t, mode, mark);
		tree_compact(a, t, mode, true, 0, mark);
	}
}

/* ---- threads ---- */

static void thr_free(struct mst_agg *a, struct thr *t)
{
	for (int m = 0; m < 2; m++) {
		struct etab *tb = &t->tab[m];
		for (uint32_t p = 0; p < tb->n; p++)
			for (int v = 0; v < NVAR; v++)
				if (tb->v[p].id != NO_IDX && tb->v[p].r[v])
					rblk_give(a, tb->v[p].r[v]);
		etab_fini(tb);
		tree_fini(&t->tree[m]);
	}
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
	if (etab_init(&t->tab[0], a->cfg.max_thread_entries) < 0 ||
	    etab_init(&t->tab[1], a->cfg.max_thread_entries) < 0 || tree_init(&t->tree[0]) < 0 ||
	    tree_init(&t->tree[1]) < 0)
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
		for (uint32_t i = 0; i < a->ft[m].n; i++)
			a->ft[m].v[i].gen = 0;
	struct thr *t, *ttmp;
	HASH_ITER(hh, a->threads, t, ttmp)
	{
		for (int m = 0; m < 2; m++)
			for (uint32_t p = 0; p < t->tab[m].n; p++)
				if (t->tab[m].v[p].id != NO_IDX)
					t->tab[m].v[p].gen = 0;
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
		c.max_frames = 2048;
	if (!c.max_thread_entries)
		c.max_thread_entries = 256;
	if (!c.max_threads)
		c.max_threads = 256;
	if (!c.max_tree_nodes)
		c.max_tree_nodes = 1024;
	if (!c.max_depth)
		c.max_depth = 2048;
	if (!c.end_after_ns)
		c.end_after_ns = 2 * SEC_NS;
	/* Ids and positions must stay clear of the reserved values. */
	if (c.recent_s > 3600 || c.max_frames > (1u << 28) || c.max_tree_nodes > (1u << 28) ||
	    c.max_thread_entries > (1u << 28))
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
	a->sl[0] = calloc(c.max_depth, sizeof(*a->sl[0]));
	a->sl[1] = calloc(c.max_depth, sizeof(*a->sl[1]));
	uint32_t other = NO_IDX;
	const struct mst_agg_frame_in oin = {.kind = MST_AGG_NATIVE, .function = "(other frames)"};
	if (!a->pt || !a->psh || !a->sf || !a->sl[0] || !a->sl[1] || ftab_init(&a->ft[0]) < 0 ||
	    ftab_init(&a->ft[1]) < 0 || intern(a, &oin, &other) < 0 ||
	    other != MST_AGG_OTHER_FRAME || a->ft[0].live != 1) {
		mst_agg_free(a);
		return mst_err_set(err, -ENOMEM, "agg: out of memory");
	}
	/* Always listed, even in the folded view. */
	a->ft[0].v[0].unfolded = a->ft[1].v[0].unfolded = true;
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
	/* Process rings are still live; thread ones went with their threads. */
	while (a->nlive)
		rblk_give(a, a->live[a->nlive - 1]);
	rblk_drop_pool(a);
	free(a->live);
	for (int m = 0; m < 2; m++)
		ftab_fini(&a->ft[m]);
	struct str *s, *stmp;
	HASH_ITER(hh, a->strs, s, stmp)
	{
		HASH_DEL(a->strs, s);
		free(s);
	}
	free(a->pt);
	free(a->psh);
	free(a->sf);
	free(a->sl[0]);
	free(a->sl[1]);
	free(a->scr);
	free(a->remap);
	free(a->mark);
	free(a->fmark);
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
	for (int m = 0; m < 2; m++) {
		for (uint32_t i = 0; i < a->ft[m].n; i++)
			memset(a->ft[m].v[i].c, 0, sizeof(a->ft[m].v[i].c));
		a->ft[m].full = false;
		a->ft[m].futile = 0;
	}
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

/* After a sample: what filled up makes room for what comes next. */
static void make_room(struct mst_agg *a, struct thr *t)
{
	if (t)
		for (int m = 0; m < 2; m++) {
			if (t->tab[m].full)
				etab_evict(a, t, m);
			if (t->tree[m].full)
				tree_prune(a, t, m);
		}
	/* By line first: the functions of evicted lines may go next. */
	for (int m = 0; m < 2; m++)
		if (a->ft[m].full)
			ftab_evict(a, m);
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
		if (same && k < t->ncache && frame_matches(&fin[i], &a->ft[0].v[t->cache[k].f])) {
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
			if (k < match) {
				a->sl[0][i] = t->cache[k].e[0];
				a->sl[1][i] = t->cache[k].e[1];
				continue;
			}
			if ((rc = ent_resolve(a, t, 0, a->sf[i], &a->sl[0][i])) < 0 ||
			    (rc = ent_resolve(a, t, 1, a->ft[0].v[a->sf[i]].fn, &a->sl[1][i])) < 0)
				goto nomem;
		}
	} else {
		a->st.threads_uncounted++;
	}
	/* Every cell this sample counts gets its recent ring now, while a
	 * failure still counts nothing; a ring left unused ages out. */
	for (size_t i = 0; i < n; i++) {
		uint32_t id[2] = {a->sf[i], a->ft[0].v[a->sf[i]].fn};
		for (int v = 0; v < NVAR; v++) {
			if (!(vm & (1u << v)))
				continue;
			for (int m = 0; m < 2; m++) {
				if ((rc = rblk_take(a, &a->ft[m].v[id[m]].r[v], NULL, m, id[m],
				                    v)) < 0)
					goto nomem;
				if (t && (rc = rblk_take(a, &t->tab[m].v[a->sl[m][i]].r[v], t, m,
				                         a->sl[m][i], v)) < 0)
					goto nomem;
			}
		}
	}

	/* Counting: no allocation, no failure. */
	uint32_t g = next_gen(a);
	uint64_t w = a->weight;
	uint32_t wu = w / 1000 > UINT32_MAX ? UINT32_MAX : (uint32_t)((w + 500) / 1000);
	size_t s = 1 + a->slot, rs = a->slot;
	size_t own_at[NVIEW];
	bool has_own[NVIEW] = {n > 0, false, false};
	own_at[0] = 0;
	for (size_t i = 0; i < n; i++) {
		struct frame *f = &a->ft[0].v[a->sf[i]], *fu = &a->ft[1].v[f->fn];
		struct tent *te[2] = {NULL, NULL};
		if (t) {
			te[0] = &t->tab[0].v[a->sl[0][i]];
			te[1] = &t->tab[1].v[a->sl[1][i]];
		}
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
				cnt_total(&f->c[v], f->r[v], rs, w, wu);
			if (fu->gen != g)
				cnt_total(&fu->c[v], fu->r[v], rs, w, wu);
			for (int m = 0; m < 2; m++)
				if (te[m] && te[m]->gen != g)
					cnt_total(&te[m]->c[v], te[m]->r[v], rs, w, wu);
		}
		f->gen = fu->gen = g;
		if (t)
			te[0]->gen = te[1]->gen = g;
	}
	for (int view = 0; view < NVIEW; view++) {
		if (!has_own[view])
			continue;
		size_t i = own_at[view];
		struct frame *f = &a->ft[0].v[a->sf[i]], *fu = &a->ft[1].v[f->fn];
		for (int v = 0; v < NVAR; v++) {
			if (!(vm & (1u << v)))
				continue;
			cnt_own(&f->c[v], f->r[v], rs, view, w, wu);
			cnt_own(&fu->c[v], fu->r[v], rs, view, w, wu);
			for (int m = 0; t && m < 2; m++) {
				struct tent *e = &t->tab[m].v[a->sl[m][i]];
				cnt_own(&e->c[v], e->r[v], rs, view, w, wu);
			}
		}
	}
	shr_add(a->psh, s, in->state, w);
	a->tick_flags |= in->state;
	if (!t) {
		make_room(a, NULL);
		return 0;
	}
	shr_add(t->sh, s, in->state, w);
	for (size_t k = 0; k < n; k++) {
		size_t i = n - 1 - k;
		t->cache[k].f = a->sf[i];
		t->cache[k].e[0] = a->sl[0][i];
		t->cache[k].e[1] = a->sl[1][i];
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
	t->top = n ? a->sf[0] : MST_AGG_NONE;
	make_room(a, t);
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

static void frame_fill(int mode, uint32_t id, const struct frame *f, struct mst_agg_frame *out)
{
	out->id = id;
	out->fn_id = mode ? id : f->fn;
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
	if (!frame_live(&a->ft[m], id))
		return -ENOENT;
	frame_fill(m, id, &a->ft[m].v[id], out);
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

/* Append a row for frame id if it has samples in the window and passes the
 * query. */
static void hot_push(struct mst_agg *a, const struct mst_agg_query *q, int mode, uint32_t id,
                     const struct cnt *cum, const struct rblk *ring, size_t *n)
{
	const struct frame *f = &a->ft[mode].v[id];
	struct cnt c;
	cnt_read(cum, ring, a->nb, q->window, &c);
	if (!c.total || !hot_keep(q, f))
		return;
	struct mst_agg_hot *r = &a->hot[(*n)++];
	frame_fill(mode, id, f, &r->frame);
	r->own_samples = c.own[q->view];
	r->own_ns = c.own_ns[q->view];
	r->total_samples = c.total;
	r->total_ns = c.total_ns;
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
	size_t most = t ? t->tab[m].live : a->ft[m].live;
	if (grow((void **)&a->hot, &a->hot_cap, most, sizeof(*a->hot)) < 0)
		return mst_err_set(err, -ENOMEM, "agg: out of memory");
	size_t n = 0;
	if (!t) {
		const struct ftab *tb = &a->ft[m];
		for (uint32_t id = 0; id < tb->n; id++)
			if (tb->v[id].key.func)
				hot_push(a, &qq, m, id, &tb->v[id].c[v], tb->v[id].r[v], &n);
	} else {
		const struct etab *tb = &t->tab[m];
		for (uint32_t p = 0; p < tb->n; p++) {
			const struct tent *e = &tb->v[p];
			if (e->id != NO_IDX)
				hot_push(a, &qq, m, e->id, &e->c[v], e->r[v], &n);
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
		r->id = t->cache[k].f;
		r->folded = t->cache[k].folded;
	}
	*frames = a->srows;
	*nframes = t->ncache;
	return 0;
}

static void node_fill(const struct tree *tr, uint32_t i, struct mst_agg_node *out)
{
	const struct tnode *nd = &tr->v[i];
	out->node = i;
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
	node_fill(tr, node, out);
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
	for (uint32_t c = tr->v[node].first_child; c != NO_NODE; c = tr->v[c].next_sibling)
		n++;
	if (grow((void **)&a->nrows, &a->nrows_cap, n, sizeof(*a->nrows)) < 0)
		return mst_err_set(err, -ENOMEM, "agg: out of memory");
	n = 0;
	for (uint32_t c = tr->v[node].first_child; c != NO_NODE; c = tr->v[c].next_sibling)
		if (tr->v[c].total)
			node_fill(tr, c, &a->nrows[n++]);
	if (n > 1)
		qsort(a->nrows, n, sizeof(*a->nrows), node_cmp);
	*rows = a->nrows;
	*nrows = n;
	return 0;
}

void mst_agg_stats(const struct mst_agg *a, struct mst_agg_stats *out)
{
	*out = a->st;
	out->frames = a->ft[0].live;
	out->funcs = a->ft[1].live;
	out->strings = a->nstrs;
	out->threads = a->nthreads;
	out->rings = a->nlive + a->npool;
	/* What the agg holds, by capacity: the figure a bound is about. */
	size_t b = sizeof(*a) + a->str_bytes;
	if (a->strs)
		b += sizeof(UT_hash_table) + a->strs->hh.tbl->num_buckets * sizeof(UT_hash_bucket);
	for (int m = 0; m < 2; m++)
		b += (size_t)a->ft[m].cap * sizeof(struct frame) + ix_bytes(&a->ft[m].ix);
	b += a->stride * (sizeof(*a->pt) + sizeof(*a->psh));
	b += (size_t)a->cfg.max_depth * (sizeof(*a->sf) + 2 * sizeof(*a->sl[0]));
	b += out->rings * rblk_size(a) + a->live_cap * sizeof(*a->live);
	b += a->scr_cap * (sizeof(*a->scr) + sizeof(*a->remap) + sizeof(*a->mark)) + a->fmark_cap;
	b += a->hot_cap * sizeof(*a->hot) + a->trows_cap * sizeof(*a->trows) +
	     a->nrows_cap * sizeof(*a->nrows) + a->srows_cap * sizeof(*a->srows);
	if (a->threads)
		b += sizeof(UT_hash_table) +
		     a->threads->hh.tbl->num_buckets * sizeof(UT_hash_bucket);
	const struct thr *t, *tmp;
	HASH_ITER(hh, a->threads, t, tmp)
	{
		b += sizeof(*t) + a->stride * sizeof(struct shr) + t->cache_cap * sizeof(*t->cache);
		for (int m = 0; m < 2; m++) {
			out->thread_entries += t->tab[m].live;
			out->tree_nodes += t->tree[m].n;
			b += (size_t)t->tab[m].cap * sizeof(struct tent) + ix_bytes(&t->tab[m].ix);
			b += (size_t)t->tree[m].cap * sizeof(struct tnode) +
			     ix_bytes(&t->tree[m].ix);
		}
	}
	out->bytes = b;
}
