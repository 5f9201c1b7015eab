// SPDX-License-Identifier: GPL-2.0
/* The BPF half of the perf back end (perf.h): attached to each CPU's
 * clock event, it runs in the context of the thread on that CPU when the
 * clock fires and, for a thread of a watched process (configs), copies at
 * that one instant the thread's user registers, the top of its user stack,
 * its Python thread state and frame chain (with the code objects msttop
 * does not hold already: held), and a few fixed words of the runtime (the
 * GIL's state, the collector's flag).
 * It decodes nothing: which words to follow and how many bytes to copy
 * come from msttop (struct mst_bpf_config), which decodes the copies with
 * its own decoder. GPL: bpf_probe_read_user needs it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf-abi.h"

char LICENSE[] SEC("license") = "GPL";

/* The kernel's own types, as much as is read; CO-RE relocates the fields
 * against the running kernel's BTF. */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di, orig_ax, ip,
	    cs, flags, sp, ss;
} __attribute__((preserve_access_index));

struct thread_struct {
	unsigned long fsbase;
} __attribute__((preserve_access_index));

struct task_struct {
	struct thread_struct thread;
	int pid, tgid;
	unsigned int __state;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MST_BPF_PROCS);
	__type(key, __u32); /* mst_bpf_thread.proc */
	__type(value, struct mst_bpf_config);
} configs SEC(".maps");

/* The threads sampled, by msttop at refreshes. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32); /* tid */
	__type(value, struct mst_bpf_thread);
} threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24); /* msttop sets the size */
} samples SEC(".maps");

/* The slot of each thread msttop follows in tasks (bpf-abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MST_BPF_TASKS);
	__type(key, __u32);   /* tid */
	__type(value, __u32); /* its slot */
} slots SEC(".maps");

/* Each followed thread's last switches, mapped by msttop: what /proc would
 * tell of a thread (running or not, in which system call, its registers)
 * without a file read per thread per tick. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, MST_BPF_TASKS);
	__type(key, __u32);
	__type(value, struct mst_bpf_task);
} tasks SEC(".maps");

/* The code objects msttop holds (bpf-abi.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mst_bpf_held);
} held SEC(".maps");

/* Samples lost to a full ring buffer (msttop reads it). */
__u64 dropped = 0;

/* The x86_64 red zone below sp belongs to the interrupted function. */
#define RED_ZONE 128

static __always_inline int read_u64(__u64 *v, __u64 addr)
{
	return bpf_probe_read_user(v, sizeof(*v), (const void *)addr);
}

/* The word at off in a frame's bytes at f. The offsets are checked
 * against the frame's length and are of pointers (8-aligned): the mask
 * restates that bound where the verifier sees the load. */
static __always_inline __u64 word_at(const __u8 *f, __u32 off)
{
	__u32 o = off & (MST_BPF_FRAME_MAX - 8);
	barrier_var(o);
	return *(const __u64 *)(f + o);
}

/* Code objects seen in one sample, by address (a recursion's frames share
 * theirs): direct-mapped, a miss only costs a read. */
#define SEEN 16

static __always_inline void copy_code(struct mst_bpf_sample *s, const struct mst_bpf_config *c,
                                      const struct mst_bpf_held *hd, int i, __u64 code, __u64 *seen)
{
	__u32 len = c->code_len;
	code &= c->code_mask;
	if (!code || len == 0 || len > MST_BPF_CODE_MAX)
		return;
	/* Its copy for an earlier frame serves this one (msttop finds
	 * copies by address). */
	__u32 h = (code >> 4) & (SEEN - 1);
	if (seen[h] == code)
		return;
	/* msttop holds it: named, not copied. */
	if (hd && mst_bpf_held_has(hd, code, s->pid)) {
		s->code_addr[i] = code;
		s->code_held |= 1ull << i;
		seen[h] = code;
		return;
	}
	if (bpf_probe_read_user(s->codes[i], len, (const void *)code) == 0) {
		s->code_addr[i] = code;
		seen[h] = code;
	}
}

/* 3.11+: the top of the thread's data stack chunk (mst_bpf_window), in
 * one read: the innermost frames, which are read in place rather than one
 * by one. */
static __always_inline void copy_window(struct mst_bpf_sample *s, const struct mst_bpf_config *c,
                                        __u64 frame, __u32 flen)
{
	__s32 co = c->chunk_off, to = c->top_off;
	if (co < 0 || to < 0 || co > MST_BPF_TSTATE_MAX - 8 || to > MST_BPF_TSTATE_MAX - 8 ||
	    (__u32)co + 8 > c->ts_len || (__u32)to + 8 > c->ts_len)
		return;
	__u64 from = 0, len = mst_bpf_window(*(__u64 *)&s->ts[co], c->chunk_data,
	                                     *(__u64 *)&s->ts[to], frame, flen, &from);
	if (len && len <= MST_BPF_WIN_MAX &&
	    bpf_probe_read_user(s->win, len, (const void *)from) == 0) {
		s->win_base = from;
		s->win_len = len;
	}
}

/* The frame walk's state, between the steps of bpf_loop. */
struct walk {
	struct mst_bpf_sample *s;
	const struct mst_bpf_config *c;
	const struct mst_bpf_held *hd;
	__u64 frame, wbase, wlen;
	__u32 flen, prev;
	__s32 coff;
	__u64 seen[SEEN];
};

/* Frame i: read where the sample already holds it, else copied from the
 * process into frames[i]. */
static long walk_step(__u32 i, void *ctx)
{
	struct walk *w = ctx;
	struct mst_bpf_sample *s = w->s;
	__u64 frame = w->frame, wbase = w->wbase, wlen = w->wlen;
	__u64 sbase = s->stack_base, slen = s->stack_len;
	__u32 flen = w->flen;
	if (!frame || flen == 0 || flen > MST_BPF_FRAME_MAX)
		return 1;
	/* i < MST_BPF_FRAMES (the loop's count), restated for the verifier,
	 * to which i is not a constant here. */
	i &= MST_BPF_FRAMES - 1;
	/* The frame's bytes: in the window or the stack copied, read in place
	 * (a helper call costs about as much as a read); else copied from the
	 * process. */
	const __u8 *f;
	if (mst_bpf_holds(wbase, wlen, frame, flen)) {
		/* The masks restate the bounds just checked, for the verifier. */
		f = s->win + ((frame - wbase) & (MST_BPF_WIN_MAX - 1));
		s->in_place |= 1ull << i;
	} else if (mst_bpf_holds(sbase, slen, frame, flen)) {
		/* In the stack copied (3.12+: the frame each entry to the
		 * interpreter's loop keeps on the C stack). */
		f = s->stack + ((frame - sbase) & (sizeof(s->stack) - 1));
		s->in_place |= 1ull << i;
	} else {
		if (bpf_probe_read_user(s->frames[i], flen, (const void *)frame) < 0)
			return 1;
		f = s->frames[i];
	}
	s->frame_addr[i] = frame;
	s->code_addr[i] = 0;
	s->nframes = i + 1;
	copy_code(s, w->c, w->hd, i, w->coff >= 0 ? word_at(f, (__u32)w->coff) : 0, w->seen);
	w->frame = word_at(f, w->prev);
	return 0;
}

static __always_inline void copy_python(struct mst_bpf_sample *s, const struct mst_bpf_config *c,
                                        const struct mst_bpf_thread *th)
{
	if (!th || !th->tstate)
		return;
	s->tstate = th->tstate;
	__u32 len = c->ts_len;
	if (len == 0 || len > MST_BPF_TSTATE_MAX)
		return;
	if (bpf_probe_read_user(s->ts, len, (const void *)s->tstate) < 0)
		return;
	s->ts_ok = 1;
	__s32 off = c->ts_frame;
	if (off < 0 || off > MST_BPF_TSTATE_MAX - 8)
		return;
	__u64 frame = *(__u64 *)&s->ts[off];
	if (c->deref >= 0 && frame) {
		__u64 a = frame + (__u64)c->deref;
		s->deref_addr = a;
		/* The _PyCFrame is the interpreter loop's local: mostly in the
		 * stack's copy, read there. */
		if (mst_bpf_holds(s->stack_base, s->stack_len, a, 8))
			s->deref_word =
			    *(__u64 *)(s->stack + ((a - s->stack_base) & (sizeof(s->stack) - 1)));
		else if (read_u64(&s->deref_word, a) < 0)
			return;
		frame = s->deref_word;
	}
	__u32 flen = c->frame_len, prev = c->prev_off;
	__s32 coff = c->code_off;
	if (flen == 0 || flen > MST_BPF_FRAME_MAX || prev > MST_BPF_FRAME_MAX - 8 ||
	    prev + 8 > flen)
		return;
	if (coff > MST_BPF_FRAME_MAX - 8 || coff + 8 > (__s32)flen || (coff & 7))
		coff = -1;
	if (prev & 7)
		return;
	copy_window(s, c, frame, flen);
	__u32 zero = 0;
	struct walk w = {.s = s,
	                 .c = c,
	                 .hd = bpf_map_lookup_elem(&held, &zero),
	                 .frame = frame,
	                 .wbase = s->win_base,
	                 .wlen = s->win_len,
	                 .flen = flen,
	                 .prev = prev,
	                 .coff = coff};
	/* One step a frame: the verifier checks the step once, not once a
	 * frame (unrolled, the choices of 64 frames multiplied its work past
	 * its limit). Needs Linux 5.17. */
	bpf_loop(MST_BPF_FRAMES, walk_step, &w, 0);
}

static __always_inline void copy_fixed(struct mst_bpf_sample *s, const struct mst_bpf_config *c)
{
	for (int i = 0; i < MST_BPF_FIXED; i++) {
		if (i >= c->nfixed)
			break;
		__u32 len = c->fixed_len[i];
		if (len == 0 || len > MST_BPF_FIXED_MAX)
			continue;
		if (bpf_probe_read_user(s->fixed[i], len, (const void *)c->fixed_addr[i]) == 0)
			s->nfixed_ok |= 1u << i;
	}
}

/* Each bpf_probe_read_user costs about as much as a page's copy: a thread
 * whose need is known gets one read of what it needs, not a page more. */
static __always_inline void copy_stack(struct mst_bpf_sample *s, const struct mst_bpf_config *c,
                                       const struct mst_bpf_thread *th)
{
	__u64 sp = s->regs[MST_BPF_R_SP];
	__u64 from = sp > RED_ZONE ? sp - RED_ZONE : 0;
	__u32 want = th ? th->stack_bytes : 0;
	if (want > sizeof(s->stack))
		want = sizeof(s->stack);
	/* Within its stack, which it read then; a read that fails (the
	 * stack's end is nearer now) is made again page by page. */
	if (want && bpf_probe_read_user(s->stack, want, (const void *)from) == 0) {
		s->stack_base = from;
		s->stack_len = want;
		return;
	}
	__u64 base = from & ~4095ull;
	s->stack_base = base;
	/* Page by page: the last page of the stack ends the copy. */
	for (int i = 0; i < MST_BPF_STACK_PAGES_MAX; i++) {
		if (i >= c->stack_pages)
			break;
		if (bpf_probe_read_user(s->stack + i * 4096, 4096,
		                        (const void *)(base + i * 4096)) < 0)
			break;
		s->stack_len = (i + 1) * 4096;
	}
}

static __always_inline void copy_regs(__u64 *v, struct task_struct *task, struct pt_regs *r)
{
	v[MST_BPF_R_IP] = r->ip;
	v[MST_BPF_R_SP] = r->sp;
	v[MST_BPF_R_BP] = r->bp;
	v[MST_BPF_R_BX] = r->bx;
	v[MST_BPF_R_R12] = r->r12;
	v[MST_BPF_R_R13] = r->r13;
	v[MST_BPF_R_R14] = r->r14;
	v[MST_BPF_R_R15] = r->r15;
	v[MST_BPF_R_AX] = r->ax;
	v[MST_BPF_R_CX] = r->cx;
	v[MST_BPF_R_DX] = r->dx;
	v[MST_BPF_R_SI] = r->si;
	v[MST_BPF_R_DI] = r->di;
	v[MST_BPF_R_R8] = r->r8;
	v[MST_BPF_R_R9] = r->r9;
	v[MST_BPF_R_R10] = r->r10;
	v[MST_BPF_R_R11] = r->r11;
	v[MST_BPF_R_FSBASE] = task->thread.fsbase;
	v[MST_BPF_R_ORIG_AX] = r->orig_ax;
}

static __always_inline struct mst_bpf_task *task_slot(struct task_struct *t)
{
	__u32 tid = t->pid;
	__u32 *slot = bpf_map_lookup_elem(&slots, &tid);
	return slot ? bpf_map_lookup_elem(&tasks, slot) : NULL;
}

/* The slot's sequence lock: msttop reads seq before and after a copy. A
 * thread's switches are written one at a time (it leaves one CPU before
 * another takes it), and x86_64 keeps stores in order: only the compiler
 * must not move them. */
#define WRITE_BEGIN(e)                                                                             \
	do {                                                                                       \
		(e)->seq++;                                                                        \
		asm volatile("" ::: "memory");                                                     \
	} while (0)
#define WRITE_END(e)                                                                               \
	do {                                                                                       \
		asm volatile("" ::: "memory");                                                     \
		(e)->seq++;                                                                        \
	} while (0)

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, _Bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct mst_bpf_task *e = task_slot(prev);
	if (e) {
		struct pt_regs *r = (struct pt_regs *)bpf_task_pt_regs(prev);
		WRITE_BEGIN(e);
		e->tid = prev->pid;
		/* Preempted: runnable, whatever state it was about to sleep in. */
		e->state = preempt ? 0 : prev->__state;
		e->on_cpu = 0;
		e->off_ns = bpf_ktime_get_ns();
		if (r)
			copy_regs(e->regs, prev, r);
		WRITE_END(e);
	}
	e = task_slot(next);
	if (e) {
		WRITE_BEGIN(e);
		e->tid = next->pid;
		e->on_cpu = 1;
		WRITE_END(e);
	}
	return 0;
}

SEC("perf_event")
int sample(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	/* Only the threads msttop has seen (a new one from the refresh that
	 * finds it, with its thread state): a sample without it would lack
	 * the thread's Python frames. Any other thread's sample ends here. */
	__u32 tid = (__u32)id;
	struct mst_bpf_thread *th = bpf_map_lookup_elem(&threads, &tid);
	if (!th)
		return 0;
	/* An array's lookup: no hash. */
	__u32 proc = th->proc;
	struct mst_bpf_config *c = bpf_map_lookup_elem(&configs, &proc);
	if (!c)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *r = (struct pt_regs *)bpf_task_pt_regs(task);
	if (!r)
		return 0;
	struct mst_bpf_sample *s = bpf_ringbuf_reserve(&samples, sizeof(*s), 0);
	if (!s) {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	s->pid = tgid;
	s->tid = (__u32)id;
	s->time_ns = bpf_ktime_get_ns();
	copy_regs(s->regs, task, r);
	s->stack_len = 0;
	s->nframes = 0;
	s->tstate = 0;
	s->ts_ok = 0;
	s->nfixed_ok = 0;
	s->deref_addr = s->deref_word = 0;
	s->win_base = s->in_place = s->code_held = 0;
	s->win_len = 0;
	copy_stack(s, c, th);
	copy_python(s, c, th);
	copy_fixed(s, c);
	/* msttop drains the ring on its own clock and never waits on it. */
	bpf_ringbuf_submit(s, BPF_RB_NO_WAKEUP);
	return 0;
}
