/* The recording (record.h): frames, frame sequences and stacks interned
 * once, counts per stack, the recent window's samples, and the timeline of
 * runs and state spans; at write time, one view (record-int.h) that the
 * format's writer reads. */
#include "msttop/record.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "msttop/array.h"
#include "msttop/clock.h"
#include "msttop/strset.h"
#include "record-int.h"

#define SEC_NS 1000000000ull
#define NONE UINT32_MAX
/* In a recorded sequence, a frame hidden in the folded view, and one that
 * is the interpreter's own code (hidden in the user view). */
#define FOLDED 0x80000000u
#define INTERP 0x40000000u
/* In a stack's states, beside the 1 << REC_ST_* bits: the thread was on a
 * CPU (the live view's "active"; samples without it are idle). */
#define RUNNING 0x100u

/* A frame sequence, root first, shared by the stacks of every thread and
 * state that ran it. */
struct seq {
	size_t off; /* into pool */
	uint32_t n;
	uint64_t hash;
};

struct stack {
	uint32_t thread, states, seq;
	bool other;
	uint64_t samples, ns;
};

struct thread {
	struct rec_thread pub; /* samples and ns are since start */
	uint64_t seen_tick;    /* the tick (1-based) of its last sample, 0: none */
	uint64_t last_end;     /* where its last sample ended (ns since start) */
	/* The timeline's open run and spans. */
	uint32_t run_stack, run_seq;
	uint64_t run_start;
	uint64_t span_start[REC_ST_N];
	unsigned spans_open; /* 1 << REC_ST_* */
	uint32_t other;      /* its "(other stacks)" stack, or NONE */
};

struct recent {
	uint64_t t_ns; /* monotonic */
	uint32_t stack;
	uint64_t ns;
};

/* A stack of the file being written: a recorded stack's thread, states
 * (without RUNNING) and its frames as the view shows them. */
struct vkey {
	uint32_t thread, states, seq; /* seq NONE: "(other stacks)" */
};

/* An open-addressing table of ids, keyed by a hash the caller compares. */
struct table {
	uint32_t *slot; /* id + 1, 0: empty */
	size_t cap;     /* power of two */
	size_t n;
};

struct mst_record {
	struct mst_record_config cfg;
	struct mst_strset *strings;
	struct rec_frame *frames;
	size_t nframes, frames_cap;
	struct table frame_tab;
	uint32_t *pool;
	size_t npool, pool_cap;
	struct seq *seqs;
	size_t nseqs, seqs_cap;
	struct table seq_tab;
	struct stack *stacks;
	size_t nstacks, stacks_cap;
	struct table stack_tab;
	struct thread *threads;
	size_t nthreads, threads_cap;
	struct recent *ring; /* circular: [head, head + nring) */
	size_t ring_cap, ring_head, nring;
	struct rec_event *events;
	size_t nevents, events_cap;
	uint64_t events_dropped;
	/* The tick being added. */
	bool in_tick;
	uint64_t now_ns, weight_ns, tick;
	uint64_t t0_ns, t0_unix_ns; /* the first tick's start, monotonic and wall */
	bool started;
	uint64_t last_ns, interval_ns;
	struct mst_record_stats st;
	uint32_t *scratch;
	size_t scratch_cap;
	/* The stacks of the file being written (build_stacks). */
	struct vkey *vkeys;
	size_t nvkeys, vkeys_cap;
};

/* ---- hashing and the tables ---- */

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdull;
}

typedef bool (*table_eq)(const struct mst_record *r, uint32_t id, const void *key);

static int table_grow(struct table *t, struct mst_record *r,
                      uint64_t (*hash_of)(const struct mst_record *, uint32_t))
{
	size_t nc = t->cap ? t->cap * 2 : 1024;
	uint32_t *ns = calloc(nc, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		if (!t->slot[i])
			continue;
		size_t k = hash_of(r, t->slot[i] - 1) & (nc - 1);
		while (ns[k])
			k = (k + 1) & (nc - 1);
		ns[k] = t->slot[i];
	}
	free(t->slot);
	t->slot = ns;
	t->cap = nc;
	return 0;
}

/* The slot where key is or would go. */
static uint32_t *table_find(struct table *t, const struct mst_record *r, uint64_t h, table_eq eq,
                            const void *key)
{
	size_t k = h & (t->cap - 1);
	while (t->slot[k] && !eq(r, t->slot[k] - 1, key))
		k = (k + 1) & (t->cap - 1);
	return &t->slot[k];
}

static uint64_t frame_hash(const struct rec_frame *f)
{
	uint64_t h = mix(f->kind, f->inlined);
	h = mix(h, f->line);
	h = mix(h, (uintptr_t)f->function);
	h = mix(h, (uintptr_t)f->file);
	return mix(h, (uintptr_t)f->module);
}

static uint64_t frame_hash_id(const struct mst_record *r, uint32_t id)
{
	return frame_hash(&r->frames[id]);
}

/* Interned strings compare by address. */
static bool frame_eq(const struct mst_record *r, uint32_t id, const void *key)
{
	const struct rec_frame *a = &r->frames[id], *b = key;
	return a->kind == b->kind && a->inlined == b->inlined && a->line == b->line &&
	       a->function == b->function && a->file == b->file && a->module == b->module;
}

static uint64_t seq_hash(const uint32_t *v, size_t n)
{
	uint64_t h = n;
	for (size_t i = 0; i < n; i++)
		h = mix(h, v[i]);
	return h;
}

static uint64_t seq_hash_id(const struct mst_record *r, uint32_t id)
{
	return r->seqs[id].hash;
}

struct seq_key {
	const uint32_t *v;
	size_t n;
	uint64_t hash;
};

static bool seq_eq(const struct mst_record *r, uint32_t id, const void *key)
{
	const struct seq *s = &r->seqs[id];
	const struct seq_key *k = key;
	return s->hash == k->hash && s->n == k->n &&
	       !memcmp(r->pool + s->off, k->v, k->n * sizeof(*k->v));
}

static uint64_t stack_hash(uint32_t thread, uint32_t states, uint32_t seq)
{
	return mix(mix(thread, states), seq);
}

static uint64_t stack_hash_id(const struct mst_record *r, uint32_t id)
{
	const struct stack *s = &r->stacks[id];
	return stack_hash(s->thread, s->states, s->seq);
}

static bool stack_eq(const struct mst_record *r, uint32_t id, const void *key)
{
	const struct stack *a = &r->stacks[id], *b = key;
	return !a->other && a->thread == b->thread && a->states == b->states && a->seq == b->seq;
}

/* ---- life ---- */

int mst_record_new(const struct mst_record_config *cfg, struct mst_record **out,
                   struct mst_err *err)
{
	struct mst_record *r = calloc(1, sizeof(*r));
	if (!r || !(r->strings = mst_strset_new())) {
		free(r);
		return mst_err_set(err, -ENOMEM, "out of memory");
	}
	if (cfg)
		r->cfg = *cfg;
	if (!r->cfg.recent_s)
		r->cfg.recent_s = 5;
	if (!r->cfg.max_events)
		r->cfg.max_events = 1000000;
	if (!r->cfg.max_stacks)
		r->cfg.max_stacks = 500000;
	if (table_grow(&r->frame_tab, r, frame_hash_id) < 0 ||
	    table_grow(&r->seq_tab, r, seq_hash_id) < 0 ||
	    table_grow(&r->stack_tab, r, stack_hash_id) < 0) {
		mst_record_free(r);
		return mst_err_set(err, -ENOMEM, "out of memory");
	}
	*out = r;
	return 0;
}

void mst_record_free(struct mst_record *r)
{
	if (!r)
		return;
	mst_strset_free(r->strings);
	free(r->frames);
	free(r->frame_tab.slot);
	free(r->pool);
	free(r->seqs);
	free(r->seq_tab.slot);
	free(r->stacks);
	free(r->stack_tab.slot);
	free(r->threads);
	free(r->ring);
	free(r->events);
	free(r->scratch);
	free(r->vkeys);
	free(r);
}

void mst_record_reset(struct mst_record *r)
{
	/* Frames and sequences stay interned; what was counted goes. */
	r->nstacks = 0;
	memset(r->stack_tab.slot, 0, r->stack_tab.cap * sizeof(*r->stack_tab.slot));
	r->stack_tab.n = 0;
	r->nthreads = 0;
	r->nring = r->ring_head = 0;
	r->nevents = 0;
	r->events_dropped = 0;
	r->started = false;
	r->tick = 0;
	struct mst_record_stats keep = {0};
	r->st = keep;
}

/* ---- feeding ---- */

static void add_event(struct mst_record *r, uint32_t thread, uint8_t kind, uint32_t id,
                      uint64_t start, uint64_t end)
{
	if (r->cfg.no_timeline || end <= start)
		return;
	/* Once full, the timeline stops rather than thinning out: a trace
	 * with holes would show a thread idle that was not. */
	if (r->events_dropped || r->nevents == r->cfg.max_events ||
	    mst_array_grow((void **)&r->events, &r->events_cap, r->nevents + 1,
	                   sizeof(*r->events)) < 0) {
		r->events_dropped++;
		return;
	}
	r->events[r->nevents++] = (struct rec_event){
	    .thread = thread, .kind = kind, .id = id, .start_ns = start, .dur_ns = end - start};
}

static void close_run(struct mst_record *r, uint32_t ti)
{
	struct thread *t = &r->threads[ti];
	if (t->run_stack != NONE)
		add_event(r, ti, REC_EV_STACK, t->run_stack, t->run_start, t->last_end);
	t->run_stack = t->run_seq = NONE;
}

static void close_spans(struct mst_record *r, uint32_t ti, unsigned which)
{
	struct thread *t = &r->threads[ti];
	for (unsigned b = 0; b < REC_ST_N; b++)
		if (which & t->spans_open & (1u << b))
			add_event(r, ti, REC_EV_STATE, b, t->span_start[b], t->last_end);
	t->spans_open &= ~which;
}

void mst_record_begin(struct mst_record *r, uint64_t now_ns, uint64_t weight_ns)
{
	if (!r->started) {
		r->started = true;
		r->t0_ns = now_ns - weight_ns;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t wall = (uint64_t)ts.tv_sec * SEC_NS + (uint64_t)ts.tv_nsec;
		uint64_t mono = mst_clock_ns();
		r->t0_unix_ns = wall - (mono > r->t0_ns ? mono - r->t0_ns : 0);
	}
	/* A thread that was not sampled in the last tick (it ended, or a read
	 * of it failed) ends its run and spans there: the timeline shows
	 * only what was seen. */
	for (uint32_t i = 0; i < r->nthreads; i++)
		if (r->threads[i].seen_tick && r->threads[i].seen_tick < r->tick) {
			close_run(r, i);
			close_spans(r, i, ~0u);
		}
	r->tick++;
	r->in_tick = true;
	r->now_ns = now_ns;
	r->weight_ns = weight_ns;
	r->interval_ns = weight_ns;
	/* The recent window: the last recent_s whole seconds and this one. */
	uint64_t keep_from =
	    (now_ns / SEC_NS > r->cfg.recent_s) ? (now_ns / SEC_NS - r->cfg.recent_s) * SEC_NS : 0;
	while (r->nring && r->ring[r->ring_head].t_ns < keep_from) {
		r->ring_head = (r->ring_head + 1) % r->ring_cap;
		r->nring--;
	}
}

void mst_record_end(struct mst_record *r)
{
	r->in_tick = false;
	r->last_ns = r->now_ns;
	r->st.ticks++;
}

static int find_thread(struct mst_record *r, pid_t tid, pid_t pid, const char *name, uint32_t *out)
{
	for (uint32_t i = 0; i < r->nthreads; i++)
		if (r->threads[i].pub.tid == tid) {
			r->threads[i].pub.pid = pid;
			if (name)
				snprintf(r->threads[i].pub.name, sizeof(r->threads[i].pub.name),
				         "%s", name);
			*out = i;
			return 0;
		}
	if (mst_array_grow((void **)&r->threads, &r->threads_cap, r->nthreads + 1,
	                   sizeof(*r->threads)) < 0)
		return -ENOMEM;
	struct thread *t = &r->threads[r->nthreads];
	memset(t, 0, sizeof(*t));
	t->pub.tid = tid;
	t->pub.pid = pid;
	snprintf(t->pub.name, sizeof(t->pub.name), "%s", name ? name : "");
	t->run_stack = t->run_seq = t->other = NONE;
	*out = (uint32_t)r->nthreads++;
	return 0;
}

static const char *intern(struct mst_record *r, const char *s)
{
	return mst_strset_get(r->strings, s ? s : "", 0, true);
}

static int intern_frame(struct mst_record *r, const struct mst_agg_frame_in *in, uint32_t *id)
{
	struct rec_frame f = {
	    .kind = in->kind == MST_AGG_PYTHON ? REC_PYTHON : REC_NATIVE,
	    .inlined = in->inlined,
	    .line = in->line,
	    .function = intern(r, in->function),
	    .file = intern(r, in->file),
	    .module = intern(r, in->module),
	};
	if (!f.function || !f.file || !f.module)
		return -ENOMEM;
	uint32_t *slot = table_find(&r->frame_tab, r, frame_hash(&f), frame_eq, &f);
	if (*slot) {
		*id = *slot - 1;
		return 0;
	}
	if (mst_array_grow((void **)&r->frames, &r->frames_cap, r->nframes + 1,
	                   sizeof(*r->frames)) < 0)
		return -ENOMEM;
	f.addr = in->kind == MST_AGG_PYTHON ? 0 : in->addr;
	f.module_off = in->kind == MST_AGG_PYTHON ? 0 : in->module_off;
	r->frames[r->nframes] = f;
	*id = (uint32_t)r->nframes++;
	*slot = *id + 1;
	if (++r->frame_tab.n * 2 > r->frame_tab.cap)
		return table_grow(&r->frame_tab, r, frame_hash_id);
	return 0;
}

static int intern_seq(struct mst_record *r, const uint32_t *v, size_t n, uint32_t *id)
{
	struct seq_key k = {v, n, seq_hash(v, n)};
	uint32_t *slot = table_find(&r->seq_tab, r, k.hash, seq_eq, &k);
	if (*slot) {
		*id = *slot - 1;
		return 0;
	}
	if (mst_array_grow((void **)&r->pool, &r->pool_cap, r->npool + n, sizeof(*r->pool)) < 0 ||
	    mst_array_grow((void **)&r->seqs, &r->seqs_cap, r->nseqs + 1, sizeof(*r->seqs)) < 0)
		return -ENOMEM;
	memcpy(r->pool + r->npool, v, n * sizeof(*v));
	r->seqs[r->nseqs] = (struct seq){.off = r->npool, .n = (uint32_t)n, .hash = k.hash};
	r->npool += n;
	*id = (uint32_t)r->nseqs++;
	*slot = *id + 1;
	if (++r->seq_tab.n * 2 > r->seq_tab.cap)
		return table_grow(&r->seq_tab, r, seq_hash_id);
	return 0;
}

static int new_stack(struct mst_record *r, const struct stack *s, uint32_t *id)
{
	if (mst_array_grow((void **)&r->stacks, &r->stacks_cap, r->nstacks + 1,
	                   sizeof(*r->stacks)) < 0)
		return -ENOMEM;
	r->stacks[r->nstacks] = *s;
	*id = (uint32_t)r->nstacks++;
	return 0;
}

/* The stack of thread ti with these states and frames; past max_stacks,
 * the thread's "(other stacks)". */
static int find_stack(struct mst_record *r, uint32_t ti, uint32_t states, uint32_t seq,
                      uint32_t *id)
{
	struct stack key = {.thread = ti, .states = states, .seq = seq};
	uint32_t *slot = table_find(&r->stack_tab, r, stack_hash(ti, states, seq), stack_eq, &key);
	if (*slot) {
		*id = *slot - 1;
		return 0;
	}
	struct thread *t = &r->threads[ti];
	if (r->nstacks >= r->cfg.max_stacks) {
		if (t->other == NONE) {
			struct stack o = {.thread = ti, .seq = NONE, .other = true};
			if (new_stack(r, &o, &t->other) < 0)
				return -ENOMEM;
		}
		*id = t->other;
		return 1;
	}
	if (new_stack(r, &key, id) < 0)
		return -ENOMEM;
	*slot = *id + 1;
	if (++r->stack_tab.n * 2 > r->stack_tab.cap)
		return table_grow(&r->stack_tab, r, stack_hash_id);
	return 0;
}

/* The timeline of thread ti for one sample [start, end). A run is one
 * frame sequence, on a CPU or not throughout (idle runs may be left out of
 * a file). */
static void timeline(struct mst_record *r, uint32_t ti, uint32_t stack, uint32_t seq,
                     unsigned states, uint64_t start, uint64_t end)
{
	struct thread *t = &r->threads[ti];
	bool contiguous = t->seen_tick + 1 == r->tick;
	if (!contiguous) {
		close_run(r, ti);
		close_spans(r, ti, ~0u);
	}
	if (t->run_stack != NONE && (seq == NONE || t->run_seq != seq ||
	                             ((r->stacks[t->run_stack].states ^ states) & RUNNING)))
		close_run(r, ti);
	if (seq != NONE && t->run_stack == NONE) {
		t->run_stack = stack;
		t->run_seq = seq;
		t->run_start = start;
	}
	unsigned spans = states & ((1u << REC_ST_N) - 1);
	close_spans(r, ti, t->spans_open & ~spans);
	for (unsigned b = 0; b < REC_ST_N; b++)
		if ((spans & (1u << b)) && !(t->spans_open & (1u << b)))
			t->span_start[b] = start;
	t->spans_open |= spans;
	t->seen_tick = r->tick;
	t->last_end = end;
}

int mst_record_add_thread(struct mst_record *r, const struct mst_agg_thread_in *in,
                          struct mst_err *err)
{
	if (!r->in_tick)
		return mst_err_set(err, -EINVAL, "record: a thread outside a tick");
	uint32_t ti;
	if (find_thread(r, in->tid, in->pid, in->name, &ti) < 0)
		goto nomem;
	uint64_t end = r->now_ns - r->t0_ns, start = end - r->weight_ns;
	unsigned states = rec_states_of(in->state);
	if (in->state & MST_TS_RUNNING)
		states |= RUNNING;
	else
		r->st.idle++;
	if (mst_array_grow((void **)&r->scratch, &r->scratch_cap, in->nframes ? in->nframes : 1,
	                   sizeof(*r->scratch)) < 0)
		goto nomem;
	size_t n = 0;
	/* Root first: the input is innermost first. Every frame is kept, the
	 * folded ones marked: the view is chosen when a file is written. */
	for (size_t k = in->nframes; k-- > 0; n++) {
		if (intern_frame(r, &in->frames[k], &r->scratch[n]) < 0)
			goto nomem;
		if (in->frames[k].folded && in->frames[k].kind != MST_AGG_PYTHON)
			r->scratch[n] |= FOLDED;
		if (in->frames[k].interp && in->frames[k].kind != MST_AGG_PYTHON)
			r->scratch[n] |= INTERP;
	}
	uint32_t seq, stack;
	if (intern_seq(r, r->scratch, n, &seq) < 0)
		goto nomem;
	int rc = find_stack(r, ti, states, seq, &stack);
	if (rc < 0)
		goto nomem;
	if (rc > 0)
		r->st.stacks_over++;
	struct stack *s = &r->stacks[stack];
	s->samples++;
	s->ns += r->weight_ns;
	struct thread *t = &r->threads[ti];
	if (!t->pub.samples)
		t->pub.first_ns = start;
	t->pub.samples++;
	t->pub.ns += r->weight_ns;
	t->pub.last_ns = end;
	r->st.samples++;
	timeline(r, ti, stack, s->other ? NONE : seq, states, start, end);
	if (r->nring == r->ring_cap) {
		/* Grow the circle: unroll it into the new room. */
		size_t oc = r->ring_cap, nc = oc ? oc * 2 : 1024;
		struct recent *nr = malloc(nc * sizeof(*nr));
		if (!nr)
			goto nomem;
		for (size_t i = 0; i < r->nring; i++)
			nr[i] = r->ring[(r->ring_head + i) % oc];
		free(r->ring);
		r->ring = nr;
		r->ring_cap = nc;
		r->ring_head = 0;
	}
	r->ring[(r->ring_head + r->nring++) % r->ring_cap] =
	    (struct recent){.t_ns = r->now_ns, .stack = stack, .ns = r->weight_ns};
	return 0;
nomem:
	return mst_err_set(err, -ENOMEM, "out of memory");
}

void mst_record_stats(const struct mst_record *r, struct mst_record_stats *out)
{
	*out = r->st;
	out->stacks = r->nstacks;
	out->frames = r->nframes;
	out->events = r->nevents;
	out->events_dropped = r->events_dropped;
	out->bytes = r->frames_cap * sizeof(*r->frames) + r->pool_cap * sizeof(*r->pool) +
	             r->seqs_cap * sizeof(*r->seqs) + r->stacks_cap * sizeof(*r->stacks) +
	             r->threads_cap * sizeof(*r->threads) + r->ring_cap * sizeof(*r->ring) +
	             r->events_cap * sizeof(*r->events) +
	             (r->frame_tab.cap + r->seq_tab.cap + r->stack_tab.cap) * sizeof(uint32_t) +
	             mst_strset_bytes(r->strings);
}

/* ---- writing ---- */

static int cmp_event(const void *a, const void *b)
{
	const struct rec_event *x = a, *y = b;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	if (x->thread != y->thread)
		return x->thread < y->thread ? -1 : 1;
	return (int)x->kind - (int)y->kind;
}

static const char *view_name(enum mst_agg_view v)
{
	switch (v) {
	case MST_AGG_VIEW_ALL:
		return "all frames";
	case MST_AGG_VIEW_PYTHON:
		return "Python only";
	case MST_AGG_VIEW_FOLDED:
		return "folded";
	default:
		return "your code";
	}
}

/* The frames of sequence q that view shows, into r->scratch; their count. */
static size_t filter_seq(struct mst_record *r, const struct seq *q, enum mst_agg_view view)
{
	size_t n = 0;
	for (uint32_t k = 0; k < q->n; k++) {
		uint32_t x = r->pool[q->off + k], id = x & ~(FOLDED | INTERP);
		if (view == MST_AGG_VIEW_PYTHON && r->frames[id].kind != REC_PYTHON)
			continue;
		if (view == MST_AGG_VIEW_FOLDED && (x & FOLDED))
			continue;
		if (view == MST_AGG_VIEW_USER && (x & INTERP))
			continue;
		r->scratch[n++] = id;
	}
	return n;
}

static uint64_t vkey_hash(const struct vkey *k)
{
	return stack_hash(k->thread, k->states, k->seq);
}

static uint64_t vstack_hash(const struct mst_record *r, uint32_t id)
{
	return vkey_hash(&r->vkeys[id]);
}

static bool vstack_eq(const struct mst_record *r, uint32_t id, const void *key)
{
	const struct vkey *a = &r->vkeys[id], *b = key;
	return a->thread == b->thread && a->states == b->states && a->seq == b->seq;
}

/* The recorded stacks as the file shows them: remap[i] is the file's stack
 * of recorded stack i, or NONE when sel leaves its samples out; counts are
 * summed from cnt/cns (per recorded stack). Stacks that the view makes
 * equal (they differed in hidden frames, or only in being on a CPU) are
 * one. */
static int build_stacks(struct mst_record *r, const struct mst_record_select *sel,
                        const uint64_t *cnt, const uint64_t *cns, uint32_t *remap,
                        struct rec_stack **out, size_t *nout)
{
	struct table tab = {0};
	struct rec_stack *vs = NULL;
	size_t n = 0, cap = 0;
	int rc = -ENOMEM;
	r->nvkeys = 0;
	if (table_grow(&tab, r, vstack_hash) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < r->nstacks; i++) {
		const struct stack *s = &r->stacks[i];
		remap[i] = NONE;
		if (!cnt[i] || (!sel->idle && !s->other && !(s->states & RUNNING)))
			continue;
		if (sel->gil_only && !(s->states & (1u << REC_ST_GIL)))
			continue;
		struct vkey k = {.thread = s->thread, .states = s->states & ~RUNNING, .seq = NONE};
		if (!s->other) {
			size_t nf = filter_seq(r, &r->seqs[s->seq], sel->view);
			if (intern_seq(r, r->scratch, nf, &k.seq) < 0)
				goto out;
		}
		uint32_t *slot = table_find(&tab, r, vkey_hash(&k), vstack_eq, &k);
		if (!*slot) {
			if (mst_array_grow((void **)&vs, &cap, n + 1, sizeof(*vs)) < 0 ||
			    mst_array_grow((void **)&r->vkeys, &r->vkeys_cap, n + 1,
			                   sizeof(*r->vkeys)) < 0)
				goto out;
			vs[n] = (struct rec_stack){
			    .thread = k.thread, .states = k.states, .other = s->other};
			r->vkeys[n] = k;
			r->nvkeys = ++n;
			*slot = (uint32_t)n;
			if (++tab.n * 2 > tab.cap) {
				if (table_grow(&tab, r, vstack_hash) < 0)
					goto out;
			}
			slot = table_find(&tab, r, vkey_hash(&k), vstack_eq, &k);
		}
		uint32_t id = *slot - 1;
		vs[id].samples += cnt[i];
		vs[id].ns += cns[i];
		remap[i] = id;
	}
	/* Only now: interning may have moved the pool. */
	for (size_t i = 0; i < n; i++)
		if (r->vkeys[i].seq != NONE) {
			vs[i].frames = r->pool + r->seqs[r->vkeys[i].seq].off;
			vs[i].nframes = r->seqs[r->vkeys[i].seq].n;
		}
	*out = vs;
	*nout = n;
	vs = NULL;
	rc = 0;
out:
	free(vs);
	free(tab.slot);
	return rc;
}

/* What a view holds besides the record's own arrays. */
struct view_ctx {
	struct rec_view v;
	struct rec_thread *threads;
	uint32_t *remap;
	uint64_t *cnt, *cns;
	struct rec_stack *stacks;
	struct rec_event *events;
};

static void view_close(struct view_ctx *c)
{
	free(c->stacks);
	free(c->threads);
	free(c->remap);
	free(c->cnt);
	free(c->cns);
	free(c->events);
}

/* The view of r that sel chooses (and its timeline, with events), for a
 * writer or a tree. 0 or -ENOMEM; view_close in any case. */
static int view_open(struct mst_record *r, const struct mst_record_meta *meta,
                     const struct mst_record_select *sel, bool events, struct view_ctx *c)
{
	memset(c, 0, sizeof(*c));
	size_t ns = r->nstacks, nt = r->nthreads, nstacks = 0, nev = 0;
	c->threads = calloc(nt ? nt : 1, sizeof(*c->threads));
	c->remap = calloc(ns ? ns : 1, sizeof(*c->remap));
	c->cnt = calloc(ns ? ns : 1, sizeof(*c->cnt));
	c->cns = calloc(ns ? ns : 1, sizeof(*c->cns));
	/* The longest sequence was built in the scratch: filtering fits. */
	if (!c->threads || !c->remap || !c->cnt || !c->cns ||
	    mst_array_grow((void **)&r->scratch, &r->scratch_cap, 1, sizeof(*r->scratch)) < 0)
		return -ENOMEM;
	uint64_t *cnt = c->cnt, *cns = c->cns;
	/* Counts per recorded stack: since start, or over the recent samples. */
	uint64_t first = UINT64_MAX, last = 0;
	if (sel->recent) {
		for (size_t i = 0; i < r->nring; i++) {
			const struct recent *e = &r->ring[(r->ring_head + i) % r->ring_cap];
			cnt[e->stack]++;
			cns[e->stack] += e->ns;
			first = e->t_ns - e->ns < first ? e->t_ns - e->ns : first;
			last = e->t_ns > last ? e->t_ns : last;
		}
	} else {
		for (size_t i = 0; i < ns; i++) {
			cnt[i] = r->stacks[i].samples;
			cns[i] = r->stacks[i].ns;
		}
	}
	if (build_stacks(r, sel, cnt, cns, c->remap, &c->stacks, &nstacks) < 0)
		return -ENOMEM;
	struct rec_view *v = &c->v;
	*v = (struct rec_view){
	    .meta = meta,
	    .frames = r->frames,
	    .nframes = r->nframes,
	    .threads = c->threads,
	    .nthreads = nt,
	    .stacks = c->stacks,
	    .nstacks = nstacks,
	    .interval_ns = meta->rate_hz > 0 ? (uint64_t)(1e9 / meta->rate_hz) : r->interval_ns,
	    .idle = sel->idle,
	    .recent = sel->recent,
	    .view_name = view_name(sel->view),
	};
	bool multi = false;
	for (size_t i = 0; i < nt; i++) {
		c->threads[i] = r->threads[i].pub;
		c->threads[i].samples = c->threads[i].ns = 0;
		multi |= c->threads[i].pid != c->threads[0].pid;
	}
	for (size_t i = 0; i < nt; i++)
		c->threads[i].show_pid = multi;
	for (size_t i = 0; i < nstacks; i++) {
		c->threads[c->stacks[i].thread].samples += c->stacks[i].samples;
		c->threads[c->stacks[i].thread].ns += c->stacks[i].ns;
		v->samples += c->stacks[i].samples;
		v->ns += c->stacks[i].ns;
	}
	if (sel->recent) {
		if (first != UINT64_MAX) {
			v->duration_ns = last - first;
			v->start_unix_ns = r->t0_unix_ns + (first - r->t0_ns);
		}
		return 0;
	}
	v->ticks = r->st.ticks;
	v->duration_ns = r->started ? r->last_ns - r->t0_ns : 0;
	v->start_unix_ns = r->t0_unix_ns;
	if (!events)
		return 0;
	/* The closed events, and those still open, as of now. */
	struct rec_event *ev = c->events =
	    malloc((r->nevents + nt * (1 + REC_ST_N) + 1) * sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	for (size_t i = 0; i < r->nevents; i++)
		ev[nev++] = r->events[i];
	for (uint32_t i = 0; i < nt && !r->events_dropped; i++) {
		const struct thread *t = &r->threads[i];
		if (t->run_stack != NONE && t->last_end > t->run_start)
			ev[nev++] = (struct rec_event){i, REC_EV_STACK, t->run_stack, t->run_start,
			                               t->last_end - t->run_start};
		for (unsigned b = 0; b < REC_ST_N; b++)
			if ((t->spans_open & (1u << b)) && t->last_end > t->span_start[b])
				ev[nev++] = (struct rec_event){i, REC_EV_STATE, b, t->span_start[b],
				                               t->last_end - t->span_start[b]};
	}
	/* Runs of stacks the file leaves out (idle ones) go too. */
	size_t w = 0;
	for (size_t i = 0; i < nev; i++) {
		if (ev[i].kind == REC_EV_STACK) {
			ev[i].id = c->remap[ev[i].id];
			if (ev[i].id == NONE)
				continue;
		}
		ev[w++] = ev[i];
	}
	if (w > 1)
		qsort(ev, w, sizeof(*ev), cmp_event);
	v->events = ev;
	v->nevents = w;
	v->events_dropped = r->events_dropped;
	return 0;
}

int mst_record_write(struct mst_record *r, FILE *f, enum mst_record_format fmt,
                     const struct mst_record_meta *meta, const struct mst_record_select *sel,
                     struct mst_err *err)
{
	struct view_ctx c;
	int rc = view_open(r, meta, sel, fmt == MST_RECORD_CHROME, &c);
	if (rc < 0) {
		view_close(&c);
		return mst_err_set(err, rc, "out of memory");
	}
	switch (fmt) {
	case MST_RECORD_FLAMEGRAPH:
		rc = rec_write_svg(f, &c.v, err);
		break;
	case MST_RECORD_SPEEDSCOPE:
		rc = rec_write_speedscope(f, &c.v, err);
		break;
	case MST_RECORD_COLLAPSED:
		rc = rec_write_collapsed(f, &c.v, err);
		break;
	case MST_RECORD_CHROME:
		rc = rec_write_chrome(f, &c.v, err);
		break;
	case MST_RECORD_PPROF:
		rc = rec_write_pprof(f, &c.v, err);
		break;
	default:
		rc = mst_err_set(err, -EINVAL, "unknown format");
	}
	view_close(&c);
	return rc;
}

int mst_record_tree(struct mst_record *r, const struct mst_record_select *sel, pid_t tid,
                    bool by_line, struct mst_record_tree *out, struct mst_err *err)
{
	static const struct mst_record_meta none = {.cmdline = "", .py_version = ""};
	struct view_ctx c;
	int rc = view_open(r, &none, sel, false, &c);
	if (rc == 0)
		rc = rec_build_tree(&c.v, tid, by_line, out);
	view_close(&c);
	return rc < 0 ? mst_err_set(err, rc, "out of memory") : 0;
}
