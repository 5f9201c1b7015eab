/* Reading the perf back end's samples (perf.h): the reader over a sample's
 * copies and the newest sample per thread. Plain C over the record's
 * layout (bpf-abi.h): built with or without the BPF half, and fuzzed. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "bpf-abi.h"
#include "msttop/array.h"
#include "msttop/perf.h"

/* ---- a sample's copies ---- */

/* Where the len bytes at addr are in the copy of n bytes of base, or NULL. */
static const uint8_t *within(const uint8_t *copy, uint64_t base, size_t n, uint64_t addr,
                             size_t len)
{
	return mst_bpf_holds(base, n, addr, len) ? copy + (addr - base) : NULL;
}

static const uint8_t *in_copy(const struct mst_perf_overlay *o, uint64_t addr, size_t len)
{
	const struct mst_bpf_sample *s = o->s;
	const struct mst_py_capture *c = o->cap;
	if (!c)
		return NULL;
	const uint8_t *p = NULL;
	size_t tl = s->ts_ok && c->ts_len <= MST_BPF_TSTATE_MAX ? c->ts_len : 0;
	size_t wl = s->win_len <= MST_BPF_WIN_MAX ? s->win_len : 0;
	size_t sl = s->stack_len <= sizeof(s->stack) ? s->stack_len : 0;
	if ((p = within(s->ts, s->tstate, tl, addr, len)) ||
	    (p = within(s->win, s->win_base, wl, addr, len)) ||
	    (p = within(s->stack, s->stack_base, sl, addr, len)))
		return p;
	if (s->deref_addr && addr == s->deref_addr && len <= sizeof(s->deref_word))
		return (const uint8_t *)&s->deref_word;
	size_t flen = c->frame_len <= MST_BPF_FRAME_MAX ? c->frame_len : 0;
	size_t clen = c->code_len <= MST_BPF_CODE_MAX ? c->code_len : 0;
	for (size_t i = 0; i < s->nframes && i < MST_BPF_FRAMES; i++) {
		/* Read in the window or the stack, frames[i] unwritten. */
		if (!(s->in_place >> i & 1) &&
		    (p = within(s->frames[i], s->frame_addr[i], flen, addr, len)))
			return p;
		if (s->code_addr[i] && !(s->code_held >> i & 1) &&
		    (p = within(s->codes[i], s->code_addr[i], clen, addr, len)))
			return p;
	}
	for (size_t i = 0; i < c->nfixed && i < MST_BPF_FIXED; i++) {
		size_t fl = c->fixed[i].len <= MST_BPF_FIXED_MAX ? c->fixed[i].len : 0;
		if ((s->nfixed_ok >> i & 1) &&
		    (p = within(s->fixed[i], c->fixed[i].addr, fl, addr, len)))
			return p;
	}
	return NULL;
}

/* ---- the code objects msttop holds ---- */

struct held_code {
	uint64_t addr, drain;
	pid_t pid;
	uint32_t len;
	uint8_t bytes[MST_BPF_CODE_MAX];
};

/* One copy per slot of the program's table, so what it is told is held is
 * what is. */
struct mst_perf_codes {
	struct mst_bpf_held *held; /* the program's (mapped), or NULL */
	uint64_t drain;            /* this drain's number, from 1 */
	struct held_code v[MST_BPF_HELD];
};

struct mst_perf_codes *mst_perf_codes_new(struct mst_bpf_held *held)
{
	struct mst_perf_codes *c = calloc(1, sizeof(*c));
	if (c) {
		c->held = held;
		c->drain = 1;
	}
	return c;
}

void mst_perf_codes_free(struct mst_perf_codes *c)
{
	free(c);
}

void mst_perf_codes_next(struct mst_perf_codes *c)
{
	if (c)
		c->drain++;
}

static void codes_hold(struct mst_perf_codes *c, struct held_code *e, pid_t pid, uint64_t addr,
                       uint32_t len)
{
	e->pid = pid;
	e->addr = addr;
	e->len = len;
	e->drain = c->drain;
	if (c->held) {
		size_t k = (size_t)(e - c->v);
		__atomic_store_n(&c->held->pid[k], (mst_u32)pid, __ATOMIC_RELAXED);
		__atomic_store_n(&c->held->code[k], addr, __ATOMIC_RELAXED);
	}
}

size_t mst_perf_codes_put(struct mst_perf_codes *c, const struct mst_bpf_sample *s, size_t len)
{
	bool hold = c && len > 0 && len <= MST_BPF_CODE_MAX;
	size_t nf = s->nframes < MST_BPF_FRAMES ? s->nframes : MST_BPF_FRAMES, n = 0;
	for (size_t i = 0; i < nf; i++) {
		uint64_t a = s->code_addr[i];
		if (!a || (s->code_held >> i & 1))
			continue;
		n++;
		if (!hold)
			continue;
		struct held_code *e = &c->v[mst_bpf_held_slot(a)];
		memcpy(e->bytes, s->codes[i], len);
		codes_hold(c, e, (pid_t)s->pid, a, (uint32_t)len);
	}
	return n;
}

/* The held code at addr of o's process, len bytes: this drain's copy, else
 * read now (and held); NULL if it cannot be read. */
static const uint8_t *held_code(struct mst_perf_overlay *o, uint64_t addr, size_t len)
{
	struct mst_perf_codes *c = o->codes;
	pid_t pid = (pid_t)o->s->pid;
	struct held_code *e = &c->v[mst_bpf_held_slot(addr)];
	if (e->addr == addr && e->pid == pid && e->len == len && e->drain == c->drain)
		return e->bytes;
	if (mst_read(&o->live, addr, e->bytes, len) < 0) {
		/* Gone (or never a code): the program copies it again. */
		codes_hold(c, e, 0, 0, 0);
		return NULL;
	}
	codes_hold(c, e, pid, addr, (uint32_t)len);
	return e->bytes;
}

/* A code the sample only named, which msttop holds. */
static const uint8_t *in_held(struct mst_perf_overlay *o, uint64_t addr, size_t len)
{
	const struct mst_bpf_sample *s = o->s;
	size_t clen = o->cap->code_len <= MST_BPF_CODE_MAX ? o->cap->code_len : 0;
	for (size_t i = 0; s->code_held && i < s->nframes && i < MST_BPF_FRAMES; i++) {
		uint64_t a = s->code_addr[i];
		if (!(s->code_held >> i & 1) || !mst_bpf_holds(a, clen, addr, len))
			continue;
		const uint8_t *p = held_code(o, a, clen);
		return p ? p + (addr - a) : NULL;
	}
	return NULL;
}

static int overlay_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct mst_perf_overlay *o = ctx;
	const uint8_t *p = in_copy(o, addr, len);
	if (!p && o->codes && o->cap)
		p = in_held(o, addr, len);
	if (p) {
		memcpy(buf, p, len);
		return 0;
	}
	return mst_read(&o->live, addr, buf, len);
}

struct mst_reader mst_perf_overlay_reader(struct mst_perf_overlay *o)
{
	return (struct mst_reader){.read = overlay_read, .ctx = o};
}

/* ---- the samples of each thread since the last take ---- */

/* Sorted by tid: a tick looks up every thread, and only a new thread
 * moves entries. Each keeps its samples since the last take, oldest first,
 * up to STORE_QUEUE (the oldest make room), then only the newest; the
 * buffers stay for the next ones. */
#define STORE_QUEUE MST_PERF_STORE_QUEUE

struct held {
	pid_t tid;
	bool fresh;
	uint8_t n, nbuf; /* samples kept, buffers allocated */
	struct mst_bpf_sample *q[STORE_QUEUE];
};

struct mst_perf_store {
	struct held *v;
	size_t n, cap;
};

struct mst_perf_store *mst_perf_store_new(void)
{
	return calloc(1, sizeof(struct mst_perf_store));
}

static void held_free(struct held *h)
{
	for (size_t k = 0; k < h->nbuf; k++)
		free(h->q[k]);
}

void mst_perf_store_free(struct mst_perf_store *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++)
		held_free(&st->v[i]);
	free(st->v);
	free(st);
}

/* The first entry whose tid is >= tid. */
MST_DEFINE_LOWER_BOUND(held_at, struct held, tid, pid_t)

static size_t lower_bound(const struct mst_perf_store *st, pid_t tid)
{
	return held_at(st->v, st->n, tid);
}

static struct held *held_of(struct mst_perf_store *st, pid_t tid)
{
	size_t i = lower_bound(st, tid);
	return i < st->n && st->v[i].tid == tid ? &st->v[i] : NULL;
}

/* A buffer for h's next sample, at the end of its queue: a spare one, a
 * new one, or the oldest sample's. NULL: out of memory. */
static struct mst_bpf_sample *next_slot(struct held *h)
{
	if (h->n < h->nbuf)
		return h->q[h->n++];
	if (h->nbuf < STORE_QUEUE) {
		struct mst_bpf_sample *b = malloc(sizeof(*b));
		if (!b)
			return NULL;
		h->q[h->nbuf++] = b;
		h->n++;
		return b;
	}
	struct mst_bpf_sample *b = h->q[0];
	memmove(&h->q[0], &h->q[1], (STORE_QUEUE - 1) * sizeof(h->q[0]));
	h->q[STORE_QUEUE - 1] = b;
	return b;
}

int mst_perf_store_put(struct mst_perf_store *st, const struct mst_bpf_sample *s)
{
	if (!st)
		return 0;
	struct held *h = held_of(st, (pid_t)s->tid);
	if (!h) {
		if (mst_array_grow((void **)&st->v, &st->cap, st->n + 1, sizeof(*st->v)) < 0)
			return -ENOMEM;
		size_t at = lower_bound(st, (pid_t)s->tid);
		memmove(&st->v[at + 1], &st->v[at], (st->n - at) * sizeof(*st->v));
		st->n++;
		h = &st->v[at];
		*h = (struct held){.tid = (pid_t)s->tid};
	}
	struct mst_bpf_sample *b = next_slot(h);
	if (!b)
		return -ENOMEM;
	/* What the sample holds, not the whole record: the fixed part, the
	 * frames copied, the window, the stack copied. */
	size_t nf = s->nframes < MST_BPF_FRAMES ? s->nframes : MST_BPF_FRAMES;
	size_t sl = s->stack_len < sizeof(s->stack) ? s->stack_len : sizeof(s->stack);
	memcpy(b, s, offsetof(struct mst_bpf_sample, frames));
	size_t wl = s->win_len <= MST_BPF_WIN_MAX ? s->win_len : 0;
	for (size_t i = 0; i < nf; i++) {
		if (!(s->in_place >> i & 1))
			memcpy(b->frames[i], s->frames[i], sizeof(s->frames[0]));
		/* A code copied for an earlier frame is not copied again; one
		 * held was not copied. */
		if (s->code_addr[i] && !(s->code_held >> i & 1))
			memcpy(b->codes[i], s->codes[i], sizeof(s->codes[0]));
	}
	memcpy(b->win, s->win, wl);
	memcpy(b->stack, s->stack, sl);
	b->nframes = (mst_u32)nf;
	b->win_len = (mst_u32)wl;
	b->stack_len = (mst_u32)sl;
	/* A thread runs on one CPU at a time: its samples come in order,
	 * but a ring buffer shared by CPUs is not trusted to keep it. */
	for (size_t k = h->n - 1; k > 0 && h->q[k - 1]->time_ns > h->q[k]->time_ns; k--) {
		struct mst_bpf_sample *x = h->q[k];
		h->q[k] = h->q[k - 1];
		h->q[k - 1] = x;
	}
	h->fresh = true;
	return 0;
}

const struct mst_bpf_sample *mst_perf_store_get(void *ctx, pid_t tid, bool *fresh)
{
	struct held *h = ctx ? held_of(ctx, tid) : NULL;
	*fresh = h && h->n && h->fresh;
	return h && h->n ? h->q[h->n - 1] : NULL;
}

const struct mst_bpf_sample *mst_perf_store_get_in(void *ctx, pid_t tid, uint64_t lo, uint64_t hi)
{
	struct held *h = ctx ? held_of(ctx, tid) : NULL;
	for (size_t k = h ? h->n : 0; k-- > 0;) {
		uint64_t t = h->q[k]->time_ns;
		if (t <= lo)
			break;
		if (t <= hi)
			return h->q[k];
	}
	return NULL;
}

void mst_perf_store_taken(struct mst_perf_store *st)
{
	for (size_t i = 0; st && i < st->n; i++) {
		struct held *h = &st->v[i];
		h->fresh = false;
		if (h->n > 1) {
			/* The newest first, the others spare. */
			struct mst_bpf_sample *x = h->q[0];
			h->q[0] = h->q[h->n - 1];
			h->q[h->n - 1] = x;
			h->n = 1;
		}
	}
}

static int cmp_tid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

void mst_perf_store_keep(struct mst_perf_store *st, const pid_t *tids, size_t n)
{
	if (!st || !st->n)
		return;
	/* Both sorted: one pass. Out of memory, everything is kept (a gone
	 * thread's sample is never asked for). */
	pid_t *k = n ? malloc(n * sizeof(*k)) : NULL;
	if (n && !k)
		return;
	if (n)
		memcpy(k, tids, n * sizeof(*k));
	if (n > 1)
		qsort(k, n, sizeof(*k), cmp_tid);
	size_t out = 0, j = 0;
	for (size_t i = 0; i < st->n; i++) {
		while (j < n && k[j] < st->v[i].tid)
			j++;
		if (j < n && k[j] == st->v[i].tid)
			st->v[out++] = st->v[i];
		else
			held_free(&st->v[i]);
	}
	st->n = out;
	free(k);
}
