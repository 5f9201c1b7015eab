/* Internals of the aggregator (src/agg/): its tables, cells, rings and
 * trees, the small helpers every part inlines, and what the parts call of
 * each other. Not for use outside src/agg/. See agg.c for the whole. */
#ifndef MSTTOP_AGG_INT_H
#define MSTTOP_AGG_INT_H

/* An allocation failure inside uthash must come back as -ENOMEM, not exit:
 * with this, a failed add leaves the item out of the table (hh.tbl NULL). */
#define HASH_NONFATAL_OOM 1

#include "msttop/agg.h"
#include "msttop/array.h"
#include "msttop/strset.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define NVAR 3                   /* enum mst_agg_subset */
#define NVIEW 4                  /* enum mst_agg_view */
#define NSHR (1 + MST_TS_SHARED) /* samples, then one per state flag kept */
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

/* One second of a count cell that counted no own sample while its ring
 * lived: most cells of a stack are its callers', which only count totals
 * (a thousand idle threads' rings are mostly these, a quarter the size). */
struct bkt_t {
	uint32_t total;
	uint32_t total_us;
};

struct thr;

/* The recent window of one count cell: a bucket per second of the ring. Only
 * cells counted within the window have one; a block whose buckets all aged
 * out goes back to a pool, so memory follows what is hot now and not every
 * cell ever counted (most of those only keep their since-start count). A
 * ring is taken with own counts when its first sample gives the cell one,
 * else with totals only and made whole when one comes (agg_rblk_take). */
struct rblk {
	struct thr *t; /* owner: a thread's entry, or NULL for a process cell */
	uint32_t idx;  /* the entry's position in t->tab[mode], or the frame id */
	uint8_t mode, var;
	bool own;          /* c holds struct bkt; else struct bkt_t (agg_rblk_tot) */
	size_t live;       /* index in the agg's live list */
	struct rblk *next; /* in its pool */
	struct bkt c[];    /* [nb], own rings only */
};

static inline struct bkt_t *agg_rblk_tot(struct rblk *r)
{
	return (struct bkt_t *)(void *)r->c;
}

static inline const struct bkt_t *agg_rblk_tot_r(const struct rblk *r)
{
	return (const struct bkt_t *)(const void *)r->c;
}

/* Thread-sample shares: [0] every sample, [1 + bit] samples with that flag.
 * us is the time of the subsets (enum mst_agg_subset) in microseconds,
 * summed as the rings sum it, sample by sample: a lean thread's cells are
 * read from its shares (agg_lean_read) and must come out as its rings
 * would have. Kept only in a lean thread's ring slots (agg_shr_add_us). */
struct shr {
	uint32_t n[NSHR];
	uint32_t us[NVAR];
	uint64_t ns[NSHR];
};

struct tick {
	uint32_t ticks, gil, gc;
	uint64_t ns;
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
	bool user_shown;      /* seen as code of its own, not the interpreter's */
	uint16_t short_off;   /* where the file's short form starts (agg.h) */
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

/* A thread's counts of one frame in one mode: those of every sample here,
 * those of the other subsets in its table's sub (agg_ent_cnt). */
struct tent {
	uint32_t id;  /* the frame id; NO_IDX: a free slot */
	uint32_t gen; /* == agg gen: counted in this sample; free slots: the next free */
	struct rblk *r;
	struct cnt c;
};

/* A thread entry's counts of the subsets after the first (samples of an
 * active thread, of the GIL holder). */
struct tsub {
	struct rblk *r[NVAR - 1];
	struct cnt c[NVAR - 1];
};

/* A thread's entries of one mode; position 0 is "(other frames)". sub is
 * NULL until the thread has a sample in a subset after the first, then as
 * long as v: most of a server's many threads are idle ones, whose samples
 * are neither active nor the GIL holder's, and their entries are a third
 * of the size they would be. */
struct etab {
	struct tent *v;
	struct tsub *sub;
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
	bool folded, interp;
};

/* A thread is lean while every sample it had was the one stack in its
 * cache, with the same marks: then each sample counted every distinct frame
 * of that stack once, in the subsets of its state, and the frame of each
 * view's own count never changed, so all its cells and its call tree follow
 * from its shares (sh) and its cache. It has no tables (tab, tree) and no
 * rings: a thousand threads idle in one place cost their cache and shares,
 * not a thousand copies of the cells. The first sample in another stack,
 * or a query of its tree, builds the tables from the shares
 * (agg_thr_unlean); from then on it is counted cell by cell. */
struct thr {
	pid_t tid;
	pid_t pid;
	UT_hash_handle hh;
	char name[MST_AGG_NAME_MAX];
	uint32_t state, top;
	bool ended, lean;
	uint64_t first_ns, last_ns, last_tick;
	struct etab tab[2]; /* by line, by function */
	struct tree tree[2];
	struct cslot *cache; /* the last stack, outermost first */
	size_t ncache, cache_cap;
	/* Samples that repeated the last stack in the same state, not yet
	 * counted in its cells (mst_agg_add_thread): an idle thread's
	 * stack is counted once a second, not at every tick. rep_slot is
	 * the second's slot; the rest is what the last full count used. */
	uint32_t rep;
	uint64_t rep_ns, rep_us;
	size_t rep_slot;
	struct thr *rep_next, **rep_prev; /* in the agg's list of pending ones */
	unsigned last_vm;
	bool last_has_own[NVIEW];
	size_t last_own_at[NVIEW];
	struct shr sh[]; /* [0] since start, [1 + slot] ring */
};

struct mst_agg {
	struct mst_agg_config cfg;
	size_t nb;          /* ring slots: recent_s + the current second */
	size_t stride;      /* cells per count: 1 + nb */
	uint32_t tree_hard; /* tree nodes including the "(other)" headroom */

	struct mst_strset *strs; /* the names frames hold */
	struct ftab ft[2];       /* per mode */
	uint32_t gen;

	struct thr *threads;
	size_t nthreads;
	uint64_t evict_none_tick; /* the tick in which every thread was seen */
	struct thr *rep_head;     /* threads with repeats to count */

	bool started, in_tick, have_first;
	uint64_t cur_sec, now_ns, weight, tick_no, first_ns, last_ns;
	size_t slot;
	uint32_t tick_flags;
	struct tick *pt; /* [stride] */
	struct shr *psh; /* [stride]: every thread sample */

	/* Recent rings in use (the clock walks only these) and spare ones,
	 * [own] per kind; what all of them hold, in bytes. */
	struct rblk **live;
	size_t nlive, live_cap, npool, ring_bytes;
	struct rblk *pool[2];

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
	struct cnt *pacc; /* per frame id: one process's counts (a pid query) */
	size_t pacc_cap;
	struct mst_agg_thread *trows;
	size_t trows_cap;
	struct mst_agg_node *nrows;
	size_t nrows_cap;
	struct mst_agg_stack_frame *srows;
	size_t srows_cap;

	struct mst_agg_stats st;
};

/* ---- small helpers, inlined where they are used ---- */

/* Subset v's counts of entry p: zero where the table has none. */
static inline const struct cnt *agg_ent_cnt(const struct etab *tb, uint32_t p, int v)
{
	static const struct cnt zero;
	return v == 0 ? &tb->v[p].c : tb->sub ? &tb->sub[p].c[v - 1] : &zero;
}

/* The same to count in: the table's sub is there (take_rings). */
static inline struct cnt *agg_ent_cnt_w(struct etab *tb, uint32_t p, int v)
{
	return v == 0 ? &tb->v[p].c : &tb->sub[p].c[v - 1];
}

/* Where subset v's ring of entry p hangs; NULL where the table has none. */
static inline struct rblk **agg_ent_ring(struct etab *tb, uint32_t p, int v)
{
	return v == 0 ? &tb->v[p].r : tb->sub ? &tb->sub[p].r[v - 1] : NULL;
}

static inline const struct rblk *agg_ent_ring_r(const struct etab *tb, uint32_t p, int v)
{
	return v == 0 ? tb->v[p].r : tb->sub ? tb->sub[p].r[v - 1] : NULL;
}

static inline uint32_t agg_mix32(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return (uint32_t)x;
}

static inline uint32_t agg_sat_add(uint32_t x, uint32_t y)
{
	return x + y < x ? UINT32_MAX : x + y;
}

/* r is there: the feeding path takes one before it counts anything. w is
 * the weight in ns, w_us the same in microseconds. */
/* k samples of w ns in all (w_us in microseconds) */
static inline void agg_cnt_total(struct cnt *c, struct rblk *r, size_t slot, uint32_t k, uint64_t w,
                                 uint32_t w_us)
{
	c->total += k;
	c->total_ns += w;
	if (!r->own) {
		struct bkt_t *b = &agg_rblk_tot(r)[slot];
		b->total += k;
		b->total_us = agg_sat_add(b->total_us, w_us);
		return;
	}
	r->c[slot].total += k;
	r->c[slot].total_us = agg_sat_add(r->c[slot].total_us, w_us);
}

static inline void agg_cnt_own(struct cnt *c, struct rblk *r, size_t slot, int view, uint32_t k,
                               uint64_t w, uint32_t w_us)
{
	c->own[view] += k;
	c->own_ns[view] += w;
	r->c[slot].own[view] += k;
	r->c[slot].own_us[view] = agg_sat_add(r->c[slot].own_us[view], w_us);
}

static inline void agg_shr_add(struct shr *s, size_t slot, uint32_t state, uint64_t w)
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

/* A lean thread's sample in its shares' slot, in microseconds as its
 * rings would count it (only a lean thread's are read, and only those of
 * the window). */
static inline void agg_shr_add_us(struct shr *s, size_t slot, uint32_t state, uint32_t w_us)
{
	s[slot].us[0] = agg_sat_add(s[slot].us[0], w_us);
	if (state & MST_TS_RUNNING)
		s[slot].us[MST_AGG_ONLY_ACTIVE] =
		    agg_sat_add(s[slot].us[MST_AGG_ONLY_ACTIVE], w_us);
	if (state & MST_TS_HOLDS_GIL)
		s[slot].us[MST_AGG_ONLY_GIL] = agg_sat_add(s[slot].us[MST_AGG_ONLY_GIL], w_us);
}

static inline int agg_shr_index(int subset)
{
	/* Subsets are the samples with a state flag: bit 0 active, bit 1 GIL. */
	return subset == MST_AGG_ONLY_ACTIVE ? 1 : subset == MST_AGG_ONLY_GIL ? 2 : 0;
}

static inline uint32_t agg_fkey_hash(const struct fkey *k)
{
	uint64_t h = (uintptr_t)k->func;
	h = h * 0x9E3779B97F4A7C15ull ^ (uintptr_t)k->file;
	h = h * 0x9E3779B97F4A7C15ull ^ (uintptr_t)k->mod;
	h = h * 0x9E3779B97F4A7C15ull ^ ((uint64_t)k->line << 2 | k->flags);
	return agg_mix32(h);
}

static inline bool agg_fkey_eq(const struct fkey *x, const struct fkey *y)
{
	return x->func == y->func && x->file == y->file && x->mod == y->mod && x->line == y->line &&
	       x->flags == y->flags;
}

static inline uint32_t agg_nkey_hash(uint32_t parent, uint32_t frame)
{
	return agg_mix32((uint64_t)parent << 32 | frame);
}

static inline void agg_ix_put(struct ix *x, uint32_t h, uint32_t pos)
{
	uint32_t i = h & x->mask;
	while (x->slot[i])
		i = (i + 1) & x->mask;
	x->slot[i] = pos + 1;
}

static inline double agg_pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* ---- what the parts call of each other ---- */

/* count.c */
void agg_cnt_merge(struct cnt *dst, const struct cnt *src, uint64_t n, uint64_t ns);
void agg_cnt_read(const struct cnt *c, const struct rblk *r, size_t nb, enum mst_agg_window w,
                  struct cnt *out);
int agg_grow_to(void **buf, uint32_t *cap, uint32_t limit, size_t size);
void agg_shr_read(const struct shr *s, size_t nb, enum mst_agg_window w, struct shr *out);
void agg_tick_read(const struct tick *t, size_t nb, enum mst_agg_window w, struct tick *out);

/* index.c */
size_t agg_ix_bytes(const struct ix *x);
int agg_ix_reset(struct ix *x, uint32_t cap);
/* A free position in a bounded table (frames, thread entries) of *n used
 * out of *cap items of size bytes at *v: the head of its free list
 * (*free_head, linked through the uint32_t at link_off of each free item),
 * else the next at the end, the array growing by doubling up to limit items
 * with a new, empty index ix: then *grew is set and the caller re-indexes.
 * The slot is not cleared. -ENOSPC at the limit, -ENOMEM. */
int agg_slot_take(void **v, uint32_t *n, uint32_t *cap, uint32_t *free_head, struct ix *ix,
                  size_t size, size_t link_off, uint32_t limit, uint32_t *out, bool *grew);

/* ring.c */
void agg_rblk_drop_pool(struct mst_agg *a);
void agg_rblk_give(struct mst_agg *a, struct rblk *r);
/* *slot's ring, taken (from a pool when it can) if there is none, made
 * whole if own and it holds totals only. */
int agg_rblk_take(struct mst_agg *a, struct rblk **slot, struct thr *t, int mode, uint32_t idx,
                  int var, bool own);

/* intern.c */
void agg_key_ref(const struct fkey *k);
void agg_key_unref(struct mst_agg *a, const struct fkey *k);
void agg_str_drop_unused(struct mst_agg *a, const char *s);
int agg_str_get(struct mst_agg *a, const char *s, bool create, const char **out);

/* frames.c */
bool agg_frame_live(const struct ftab *tb, uint32_t id);
void agg_ftab_fini(struct ftab *tb);
int agg_ftab_init(struct ftab *tb);
void agg_ftab_reindex(struct ftab *tb);
int agg_intern(struct mst_agg *a, const struct mst_agg_frame_in *in, uint32_t *out);

/* entries.c */
int agg_ent_resolve(struct mst_agg *a, struct thr *t, int mode, uint32_t id, uint32_t *out);
void agg_ent_give_rings(struct mst_agg *a, struct etab *tb, uint32_t p);
void agg_etab_merge_del(struct etab *tb, uint32_t p, const struct shr *sh);
int agg_etab_sub(struct etab *tb);
void agg_etab_fini(struct etab *tb);
int agg_etab_init(struct etab *tb, uint32_t limit);
void agg_etab_reindex(struct etab *tb);

/* tree.c */
void agg_tree_add(struct mst_agg *a, struct thr *t, int mode, size_t n, size_t match, uint32_t k,
                  uint64_t w);
void agg_rep_flush(struct mst_agg *a, struct thr *t);
void agg_rep_flush_all(struct mst_agg *a);
void agg_tree_fini(struct tree *tr);
int agg_tree_init(struct tree *tr);
void agg_tree_reindex(struct tree *tr);

/* evict.c */
void agg_etab_evict(struct mst_agg *a, struct thr *t, int mode);
void agg_ftab_evict(struct mst_agg *a, int mode);
void agg_tree_prune(struct mst_agg *a, struct thr *t, int mode);

/* thread.c */
struct thr *agg_thr_find(const struct mst_agg *a, pid_t tid);
void agg_thr_free(struct mst_agg *a, struct thr *t);
int agg_thr_new(struct mst_agg *a, pid_t tid, struct thr **out);

/* lean.c */
/* The samples and time of a lean thread in subset v over window w: what
 * each distinct frame of its stack counted in total, and the own frame of
 * each view that has one. */
void agg_lean_read(const struct mst_agg *a, const struct thr *t, int v, enum mst_agg_window w,
                   uint32_t *n, uint64_t *ns);
/* The frame id in mode m of depth i (innermost 0) of t's cached stack. */
uint32_t agg_lean_id(const struct mst_agg *a, const struct thr *t, int m, size_t i);
/* t's cells of subset v in mode m over window w, one per distinct frame
 * of its stack, passed to fn with its id; frames are marked with a fresh
 * gen to count each once. */
void agg_lean_each(struct mst_agg *a, const struct thr *t, int m, int v, enum mst_agg_window w,
                   void (*fn)(void *ctx, uint32_t id, const struct cnt *c), void *ctx);
/* Give a lean thread its tables, filled with what its samples counted;
 * -ENOMEM leaves it lean. */
int agg_thr_unlean(struct mst_agg *a, struct thr *t);
void agg_thr_tables_free(struct mst_agg *a, struct thr *t);

/* ring.c */
void agg_clock_advance(struct mst_agg *a, uint64_t now);
uint32_t agg_next_gen(struct mst_agg *a);

#endif
