/* libFuzzer harness for everything msttop decodes from target memory: the
 * CPython thread/frame/code/string/dict walk (through a reader over a
 * mutated memory image), every frame's locals and their reprs, the GIL read, the _Py_DebugOffsets
 * parser, the three line-table decoders, and the perf back end's samples (what its BPF program
 * would copy of the image, with the record's own fields mutated too, read back through the
 * decoder and kept in the per-thread store). Any crash, sanitizer report, hang or unbounded loop is
 * a bug: every walk must be bounded, every read checked. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "msttop/py.h"
#include "msttop/py_locals.h"
#include "py/decode-int.h"
#include "msttop/py_layout.h"
#include "msttop/perf.h"
#include "perf/bpf-abi.h"

#define MAX_SEGS 4096

struct segs {
	size_t n;
	uint64_t addr[MAX_SEGS];
	uint32_t len[MAX_SEGS];
	const uint8_t *data[MAX_SEGS];
};

static int seg_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct segs *s = ctx;
	for (size_t i = 0; i < s->n; i++)
		if (addr >= s->addr[i] && addr - s->addr[i] <= s->len[i] &&
		    len <= s->len[i] - (addr - s->addr[i])) {
			memcpy(buf, s->data[i] + (addr - s->addr[i]), len);
			return 0;
		}
	return -EFAULT;
}

/* What sample.bpf.c copies of thread state ts, done here over the image;
 * then the record's own fields mutated from the input, and the sample read
 * back through the decoder and the store. */
static void sample_walk(struct mst_py *py, const struct mst_reader *r, uint64_t ts,
                        const uint8_t *data, size_t size)
{
	static struct mst_bpf_sample smp;
	static struct mst_perf_store *store;
	/* The code objects held across inputs, as across samples. */
	static struct mst_bpf_held held;
	static struct mst_perf_codes *codes;
	if (!codes && !(codes = mst_perf_codes_new(&held)))
		return;
	struct mst_py_capture cap;
	if (mst_py_capture_spec(py, &cap) < 0 && !cap.ts_len)
		return;
	memset(&smp, 0, offsetof(struct mst_bpf_sample, frames));
	smp.pid = 1;
	smp.tid = 1;
	smp.tstate = ts;
	/* The data stack's words are copied with the thread state (perf.c). */
	size_t tl = cap.ts_len;
	int64_t end = (cap.chunk_off > cap.top_off ? cap.chunk_off : cap.top_off) + 8;
	bool window = cap.chunk_off >= 0 && cap.top_off >= 0 && cap.chunk_data >= 0 &&
	              end <= MST_BPF_TSTATE_MAX;
	if (window && tl < (size_t)end)
		tl = (size_t)end;
	if (tl <= MST_BPF_TSTATE_MAX && mst_read(r, ts, smp.ts, tl) == 0) {
		smp.ts_ok = 1;
		uint64_t frame = 0;
		if (cap.ts_frame >= 0 && (size_t)cap.ts_frame + 8 <= cap.ts_len)
			memcpy(&frame, smp.ts + cap.ts_frame, 8);
		if (cap.deref >= 0 && frame) {
			smp.deref_addr = frame + (uint64_t)cap.deref;
			frame = mst_read(r, smp.deref_addr, &smp.deref_word, 8) == 0
			            ? smp.deref_word
			            : 0;
		}
		/* The data stack's window (3.11+). */
		if (window) {
			uint64_t chunk, top, from = 0;
			memcpy(&chunk, smp.ts + cap.chunk_off, 8);
			memcpy(&top, smp.ts + cap.top_off, 8);
			uint64_t wl = mst_bpf_window(chunk, (uint64_t)cap.chunk_data, top, frame,
			                             cap.frame_len, &from);
			if (wl && mst_read(r, from, smp.win, wl) == 0) {
				smp.win_base = from;
				smp.win_len = (uint32_t)wl;
			}
		}
		for (size_t i = 0;
		     i < MST_BPF_FRAMES && frame && cap.frame_len <= MST_BPF_FRAME_MAX &&
		     cap.prev_off >= 0 && (size_t)cap.prev_off + 8 <= cap.frame_len;
		     i++) {
			const uint8_t *f = smp.frames[i];
			if (mst_bpf_holds(smp.win_base, smp.win_len, frame, cap.frame_len)) {
				f = smp.win + (frame - smp.win_base);
				smp.in_place |= 1ull << i;
			} else if (mst_read(r, frame, smp.frames[i], cap.frame_len) < 0) {
				break;
			}
			smp.frame_addr[i] = frame;
			smp.nframes = (uint32_t)i + 1;
			uint64_t code = 0;
			if (cap.code_off >= 0 && (size_t)cap.code_off + 8 <= cap.frame_len &&
			    cap.code_len <= MST_BPF_CODE_MAX) {
				memcpy(&code, f + cap.code_off, 8);
				code &= cap.code_mask;
			}
			/* A code copied for an earlier frame is not copied again;
			 * one held is named. */
			for (size_t j = 0; j < i && code; j++)
				if (smp.code_addr[j] == code)
					code = 0;
			if (code && mst_bpf_held_has(&held, code, smp.pid)) {
				smp.code_addr[i] = code;
				smp.code_held |= 1ull << i;
			} else {
				smp.code_addr[i] =
				    code && mst_read(r, code, smp.codes[i], cap.code_len) == 0
				        ? code
				        : 0;
			}
			memcpy(&frame, f + cap.prev_off, 8);
		}
	}
	for (size_t i = 0; i < cap.nfixed && i < MST_BPF_FIXED; i++)
		if (cap.fixed[i].len <= MST_BPF_FIXED_MAX &&
		    mst_read(r, cap.fixed[i].addr, smp.fixed[i], cap.fixed[i].len) == 0)
			smp.nfixed_ok |= 1u << i;
	/* The record's fields are input too. */
	if (size >= 24 && (data[1] & 1)) {
		smp.nframes = data[2];
		smp.nfixed_ok = data[3];
		smp.ts_ok = data[4] & 1;
		memcpy(&smp.stack_len, data + 4, 4);
		memcpy(&smp.deref_addr, data + 8, 8);
		memcpy(&smp.frame_addr[data[5] % MST_BPF_FRAMES], data + 16, 8);
		if (data[1] & 2) {
			memcpy(&smp.win_len, data + 8, 4);
			memcpy(&smp.win_base, data + 16, 8);
			memcpy(&smp.in_place, data + 12, 4);
		}
		if (data[1] & 4)
			memcpy(&smp.code_held, data + 16, 8);
	}
	/* As a drain: what the sample copied is held; a new drain, at times. */
	if (size >= 24 && (data[1] & 8))
		mst_perf_codes_next(codes);
	mst_perf_codes_put(codes, &smp, cap.code_len);
	struct mst_perf_overlay o = {.s = &smp, .cap = &cap, .live = *r, .codes = codes};
	struct mst_reader old = mst_py_swap_reader(py, mst_perf_overlay_reader(&o));
	struct mst_py_frame fr[64];
	size_t n;
	bool trunc, known, collecting;
	struct mst_err err;
	mst_py_read_frames(py, ts, fr, 64, &n, &trunc, &err);
	struct mst_py_gil g;
	mst_py_read_gil(py, &g);
	mst_py_read_gc_main(py, &known, &collecting);
	mst_py_swap_reader(py, old);
	if (!store)
		store = mst_perf_store_new();
	mst_perf_store_put(store, &smp);
	bool fresh;
	const struct mst_bpf_sample *back = mst_perf_store_get(store, 1, &fresh);
	if (back && (back->nframes > MST_BPF_FRAMES || back->stack_len > sizeof(back->stack) ||
	             back->win_len > MST_BPF_WIN_MAX))
		abort();
}

static void walk(const struct mst_py_runtime_info *info, const struct mst_reader *r,
                 const uint8_t *data, size_t size)
{
	struct mst_py *py = NULL;
	struct mst_err err;
	if (mst_py_open_info(info, r, &py, &err) < 0)
		return;
	struct mst_py_threads t = {0};
	if (mst_py_read_threads(py, true, &t, &err) == 0) {
		for (size_t i = 0; i < t.n; i++) {
			struct mst_py_frame fr[64];
			size_t n;
			bool trunc;
			mst_py_read_frames(py, t.v[i].tstate, fr, 64, &n, &trunc, &err);
			/* Locals of corrupt frames: every count, name tuple,
			 * slot and value is target memory. */
			for (size_t k = 0; k < n; k++) {
				struct mst_py_locals l = {0};
				if (mst_py_read_locals(py, &fr[k], &l, &err) == 0)
					for (size_t j = 0; j < l.n; j++)
						if (strlen(l.v[j].repr) > MST_PY_REPR_MAX)
							abort();
				mst_py_locals_fini(&l);
			}
			sample_walk(py, r, t.v[i].tstate, data, size);
		}
	}
	mst_py_threads_free(&t);
	struct mst_py_gil g;
	mst_py_read_gil(py, &g);
	mst_py_close(py);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8)
		return 0;
	/* The line tables and the debug-offsets parser on the raw bytes. */
	for (int minor = 6; minor <= 13; minor++)
		for (int off = -1; off < 64; off += 3)
			mst_py_line_at(minor, data, size, 100, off);
	struct mst_py_layout lay;
	struct mst_err err;
	mst_py_layout_from_debug_offsets(data, size, &lay, NULL, &err);

	static struct segs s;
	s.n = 0;
	struct mst_py_runtime_info info;
	if (size >= sizeof(struct image_hdr) && !memcmp(data, "MSTC", 4)) {
		struct image_hdr h;
		memcpy(&h, data, sizeof(h));
		image_info_from_hdr(&h, &info);
		size_t pos = sizeof(h);
		while (pos + sizeof(struct image_seg) <= size && s.n < MAX_SEGS) {
			struct image_seg sg;
			memcpy(&sg, data + pos, sizeof(sg));
			pos += sizeof(sg);
			if (sg.len > size - pos)
				break;
			s.addr[s.n] = sg.addr;
			s.len[s.n] = sg.len;
			s.data[s.n] = data + pos;
			s.n++;
			pos += sg.len;
		}
	} else {
		/* Raw: the bytes are memory at a fixed base; the first byte picks
		 * a version, the runtime sits at the base. */
		static const uint8_t minors[] = {6, 7, 8, 9, 10, 11, 12, 13};
		static const uint8_t micros[] = {15, 16, 18, 18, 13, 7, 1, 0};
		const uint64_t base = 0x10000;
		memset(&info, 0, sizeof(info));
		info.major = 3;
		info.minor = minors[data[0] % 8];
		info.micro = micros[data[0] % 8];
		info.runtime = base;
		info.tstate_current = base + 8;
		info.interp_head = base + 16;
		info.gil_locked = base + 24;
		info.gil_last_holder = base + 32;
		info.gc_collecting = base + 40;
		info.has_interp_head = info.has_gil_locked = info.has_gil_last_holder =
		    info.has_gc_collecting = true;
		s.addr[0] = base;
		s.len[0] = (uint32_t)(size > UINT32_MAX ? UINT32_MAX : size);
		s.data[0] = data;
		s.n = 1;
	}
	struct mst_reader r = {seg_read, &s};
	walk(&info, &r, data, size);
	return 0;
}
