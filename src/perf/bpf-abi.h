/* What the BPF sampler (sample.bpf.c) and msttop share: its configuration
 * per process and the record it writes per sample. Included by both sides,
 * so only fixed-size types. The layout facts themselves stay in the
 * decoder's table: msttop fills the configuration from it
 * (mst_py_capture_spec), and decodes what the program copied with the same
 * decoder, reading the copies instead of the process. */
#ifndef MSTTOP_PERF_BPF_ABI_H
#define MSTTOP_PERF_BPF_ABI_H

#ifdef __bpf__
#include <linux/types.h>
typedef __u8 mst_u8;
typedef __u32 mst_u32;
typedef __s32 mst_s32;
typedef __u64 mst_u64;
#else
#include <stdint.h>
typedef uint8_t mst_u8;
typedef uint32_t mst_u32;
typedef int32_t mst_s32;
typedef uint64_t mst_u64;
#endif

/* The most of the stack copied (mst_bpf_thread.stack_bytes), or, for a
 * thread whose need is not known yet, the pages copied from the page
 * holding sp (minus the red zone): deeper frames are read from the process
 * afterwards. */
#define MST_BPF_STACK_PAGES_MAX 8
/* Python frames copied per sample; deeper ones are read afterwards. */
#define MST_BPF_FRAMES 64
#define MST_BPF_FRAME_MAX 256
#define MST_BPF_TSTATE_MAX 512
/* The head of each frame's code object: its names and line table pointers,
 * checked against the decoder's cache, without a read of the process. */
#define MST_BPF_CODE_MAX 208
/* The most of a thread's data stack (3.11+) copied in one read: the top
 * of its current chunk, where its innermost frames lie (a power of two,
 * which the program's bounds need). Frames outside it are copied one by
 * one. */
#define MST_BPF_WIN_MAX 8192
/* Small fixed regions (the GIL's state, the collector's flag). */
#define MST_BPF_FIXED 6
#define MST_BPF_FIXED_MAX 64

/* General registers, in the order of mst_bpf_sample.regs. */
enum {
	MST_BPF_R_IP,
	MST_BPF_R_SP,
	MST_BPF_R_BP,
	MST_BPF_R_BX,
	MST_BPF_R_R12,
	MST_BPF_R_R13,
	MST_BPF_R_R14,
	MST_BPF_R_R15,
	MST_BPF_R_AX,
	MST_BPF_R_CX,
	MST_BPF_R_DX,
	MST_BPF_R_SI,
	MST_BPF_R_DI,
	MST_BPF_R_R8,
	MST_BPF_R_R9,
	MST_BPF_R_R10,
	MST_BPF_R_R11,
	MST_BPF_R_FSBASE,
	/* The system call the thread is in, -1 for none (the kernel's
	 * orig_ax): with di, si, dx, r10, r8, r9 its arguments. */
	MST_BPF_R_ORIG_AX,
	MST_BPF_NREGS
};

/* Code objects msttop holds a copy of (map "held": one value, which msttop
 * maps and writes). A frame whose code is named there has it read by
 * msttop, once a drain (mst_perf_codes), not copied by the program in the
 * sampled thread at every sample: about a quarter of a microsecond a code,
 * and a stack's functions are mostly different ones. Direct-mapped by
 * address (mst_bpf_held_slot). A hint only: msttop serves a held code from
 * its own copy of that process's code at that address, read in this drain,
 * and reads the process otherwise. */
#define MST_BPF_HELD_BITS 10
#define MST_BPF_HELD (1 << MST_BPF_HELD_BITS)
struct mst_bpf_held {
	mst_u64 code[MST_BPF_HELD];
	mst_u32 pid[MST_BPF_HELD];
};

/* Threads whose switches are kept (mst_bpf_task slots). */
#define MST_BPF_TASKS 16384

/* One thread's last switches, as the scheduler program saw them: a slot of
 * an array msttop maps and reads without a system call (slot per tid in the
 * map "slots", given by msttop). The program writes it as a sequence lock:
 * seq is odd while it writes and grows by 2 with every switch in or out, so
 * a thread whose seq is unchanged and was off a CPU has not run since. */
struct mst_bpf_task {
	mst_u64 seq;
	mst_u32 tid;   /* the slot's owner, set by the program */
	mst_u32 state; /* at its last switch out: 0 runnable (preempted), else
	                * the kernel's sleeping/stopped/dead bits */
	mst_u32 on_cpu, pad;
	mst_u64 off_ns; /* its last switch out (CLOCK_MONOTONIC) */
	/* Its user registers at its last switch out. */
	mst_u64 regs[MST_BPF_NREGS];
};

/* Processes watched at once: their configurations' slots. */
#define MST_BPF_PROCS 64

/* Per sampled thread (hash map "threads", keyed by tid), set by msttop at
 * refreshes: its Python thread state, and how much of its stack to copy. A
 * thread without one is not sampled (the clocks are the CPUs'). */
struct mst_bpf_thread {
	mst_u64 tstate; /* 0: none known */
	/* Bytes from sp minus the red zone that its recent walks read: the
	 * copy is exactly that, in one read (a few hundred bytes to a few
	 * KiB for most threads); 0: not known yet, config pages. */
	mst_u32 stack_bytes;
	/* Its process's configuration: its slot in the array "configs" (one
	 * hash lookup a sample, the thread's, not two). */
	mst_u32 proc;
};

/* Per process (array "configs", by the slot msttop gives it). */
struct mst_bpf_config {
	mst_u32 stack_pages; /* 1..MST_BPF_STACK_PAGES_MAX */
	mst_u32 ts_len;      /* bytes of the thread state copied */
	/* The innermost frame: the word at ts_frame in the thread state;
	 * with deref >= 0 (3.11-3.12), that word points to a _PyCFrame whose
	 * word at deref is the frame. */
	mst_s32 ts_frame, deref;
	mst_u32 frame_len; /* bytes of a frame copied */
	mst_u32 prev_off;  /* the caller's frame within a frame */
	/* The code object's pointer within a frame (-1: none copied), the
	 * bits to keep of it (3.14+ tag their references), its bytes copied. */
	mst_s32 code_off;
	mst_u32 code_len;
	mst_u64 code_mask;
	/* 3.11+ (else -1): the words at chunk_off and top_off in the thread
	 * state are its data stack's chunk and the end of what the chunk
	 * holds, whose frames start chunk_data bytes into it. */
	mst_s32 chunk_off, top_off;
	mst_u32 chunk_data;
	mst_u32 nfixed;
	mst_u32 fixed_len[MST_BPF_FIXED];
	mst_u64 fixed_addr[MST_BPF_FIXED];
};

/* One sample of one thread, taken in the thread's own context when its CPU
 * clock fired: its user registers, the top of its stack and its Python
 * state, at the same instant. */
struct mst_bpf_sample {
	mst_u32 pid, tid;
	mst_u64 time_ns; /* CLOCK_MONOTONIC */
	mst_u64 regs[MST_BPF_NREGS];
	mst_u64 stack_base;             /* address of stack[0] */
	mst_u32 stack_len;              /* bytes copied */
	mst_u32 nframes;                /* frames copied */
	mst_u64 tstate;                 /* 0: no thread state known for tid */
	mst_u32 ts_ok, nfixed_ok;       /* tstate copied; fixed regions copied (bits) */
	mst_u64 deref_addr, deref_word; /* the _PyCFrame word, 3.11-3.12 */
	/* The top of the data stack's chunk (3.11+), win_len bytes from
	 * win_base (0: none copied). Frame i lies in it or in the stack
	 * copied when bit i of in_place is set, and frames[i] is then not
	 * written. */
	mst_u64 win_base, in_place;
	mst_u32 win_len, pad;
	/* Bit i: frame i's code is held by msttop (mst_bpf_held), named in
	 * code_addr[i], codes[i] not written. */
	mst_u64 code_held;
	mst_u64 frame_addr[MST_BPF_FRAMES];
	/* 0: not copied, or copied for an earlier frame of the same code */
	mst_u64 code_addr[MST_BPF_FRAMES];
	mst_u8 fixed[MST_BPF_FIXED][MST_BPF_FIXED_MAX];
	mst_u8 ts[MST_BPF_TSTATE_MAX];
	mst_u8 frames[MST_BPF_FRAMES][MST_BPF_FRAME_MAX];
	mst_u8 codes[MST_BPF_FRAMES][MST_BPF_CODE_MAX];
	/* A frame's words are read in place: the tail spares the program
	 * a bound the verifier could not follow. */
	mst_u8 win[MST_BPF_WIN_MAX + MST_BPF_FRAME_MAX];
	mst_u8 stack[MST_BPF_STACK_PAGES_MAX * 4096];
	mst_u8 stack_tail[MST_BPF_FRAME_MAX]; /* as win's */
};

/* Where the program and msttop reason alike: the same code on both sides
 * (inlined into the program, which has no calls but its own). */
#define MST_BPF_INLINE static inline __attribute__((always_inline))

/* Whether the n bytes at addr lie in the len bytes from base. */
MST_BPF_INLINE int mst_bpf_holds(mst_u64 base, mst_u64 len, mst_u64 addr, mst_u64 n)
{
	return addr >= base && n <= len && addr - base <= len - n;
}

/* A code object's slot in mst_bpf_held: its address's bits mixed
 * (objects are 16-aligned, and allocated near one another). */
MST_BPF_INLINE mst_u32 mst_bpf_held_slot(mst_u64 code)
{
	return (mst_u32)((code * 0x9E3779B97F4A7C15ull) >> (64 - MST_BPF_HELD_BITS));
}

/* Whether the table hd names code of process pid as held. */
MST_BPF_INLINE int mst_bpf_held_has(const struct mst_bpf_held *hd, mst_u64 code, mst_u32 pid)
{
	mst_u32 k = mst_bpf_held_slot(code);
	return hd->code[k] == code && hd->pid[k] == pid;
}

/* The data stack's window (3.11+): its length (0: none) and *from its
 * start. From the chunk's data to what the chunk holds (top), ending at the
 * innermost frame's head (frame_len bytes) when that lies in the chunk: the
 * rest of that frame is its value stack's room, whose page may never have
 * been touched, and the one read would fail there. The top
 * MST_BPF_WIN_MAX bytes at most. */
MST_BPF_INLINE mst_u64 mst_bpf_window(mst_u64 chunk, mst_u64 chunk_data, mst_u64 top, mst_u64 frame,
                                      mst_u64 frame_len, mst_u64 *from)
{
	mst_u64 lo = chunk + chunk_data;
	if (!chunk || top <= lo || top - lo > (1ull << 32))
		return 0;
	if (frame >= lo && frame < top && top - frame > frame_len)
		top = frame + frame_len;
	mst_u64 len = top - lo < MST_BPF_WIN_MAX ? top - lo : MST_BPF_WIN_MAX;
	*from = top - len;
	return len;
}

#endif
