/* Formatting model data into row text: widths in terminal columns, cuts
 * that keep the end of a name visible, percentages, durations, frame labels
 * and thread states. Pure functions, no curses (see format.h). */
#include "msttop/format.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

#include "msttop/text.h"

/* Escaped names are at most 4 bytes per input byte ("\xNN"); a left cut of
 * a longer text escapes only its tail, which is all that can show. */
#define ESC_MAX 4096
#define TAIL_MAX ((ESC_MAX - 1) / 4)

/* One character of escaped text: its bytes and columns. */
struct uch {
	int n, w;
};

/* Decode one character of s (valid UTF-8 once escaped; stay safe anyway). */
static struct uch uch_at(const unsigned char *s, bool ascii)
{
	struct uch c = {1, 1};
	if (s[0] < 0x80)
		return c;
	int n = (s[0] & 0xe0) == 0xc0   ? 2
	        : (s[0] & 0xf0) == 0xe0 ? 3
	        : (s[0] & 0xf8) == 0xf0 ? 4
	                                : 1;
	uint32_t cp = n == 2 ? s[0] & 0x1f : n == 3 ? s[0] & 0x0f : s[0] & 0x07;
	for (int i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return c; /* invalid: one byte, one column */
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (n == 1)
		return c;
	c.n = n;
	if (!ascii) {
		/* wcwidth knows the East Asian wide and the combining characters
		 * of the locale; what it does not know shows as one cell. */
		int w = wcwidth((wchar_t)cp);
		c.w = w < 0 ? 1 : w;
	}
	return c;
}

int mst_fmt_width(const char *s)
{
	int w = 0;
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	while (*p) {
		struct uch c = uch_at(p, false);
		w += c.w;
		p += c.n;
	}
	return w;
}

/* An appender that never splits a character and always terminates. */
struct sbuf {
	char *out;
	size_t len, o;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->o + n >= b->len)
		return;
	memcpy(b->out + b->o, s, n);
	b->o += n;
	b->out[b->o] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void sb_spaces(struct sbuf *b, int n)
{
	while (n-- > 0)
		sb_put(b, " ", 1);
}

/* Append one character: itself, or '?' for a non-ASCII one on an ASCII
 * terminal. */
static void sb_char(struct sbuf *b, const unsigned char *p, struct uch c, bool ascii)
{
	if (ascii && p[0] >= 0x80)
		sb_put(b, "?", 1);
	else
		sb_put(b, (const char *)p, (size_t)c.n);
}

char *mst_fmt_fit(const char *s, int cols, int flags, char *out, size_t len)
{
	struct sbuf b = {out, len, 0};
	if (len)
		out[0] = '\0';
	if (!len || cols <= 0)
		return out;
	bool ascii = flags & MST_FIT_ASCII;
	const char *ell = ascii ? "~" : "\u2026";

	const char *in = s ? s : "";
	size_t inlen = strlen(in);
	if ((flags & MST_FIT_LEFT) && inlen > TAIL_MAX) {
		/* Only the tail can show; start it on a character boundary. */
		in += inlen - TAIL_MAX;
		while ((*(const unsigned char *)in & 0xc0) == 0x80)
			in++;
	}
	char esc[ESC_MAX];
	mst_text_escape(in, esc, sizeof(esc));

	int total = 0;
	for (const unsigned char *p = (const unsigned char *)esc; *p;) {
		struct uch c = uch_at(p, ascii);
		total += c.w;
		p += c.n;
	}

	int used = 0;
	/* Right-aligned padding goes first, so the width must be known first. */
	int shown = total <= cols ? total : cols;
	if ((flags & MST_FIT_PAD) && (flags & MST_FIT_RIGHT))
		sb_spaces(&b, cols - shown);

	if (total <= cols) {
		for (const unsigned char *p = (const unsigned char *)esc; *p;) {
			struct uch c = uch_at(p, ascii);
			sb_char(&b, p, c, ascii);
			p += c.n;
		}
		used = total;
	} else if (flags & MST_FIT_LEFT) {
		/* Skip from the start until the rest fits after the ellipsis. */
		int prefix = 0;
		const unsigned char *p = (const unsigned char *)esc;
		while (*p && total - prefix > cols - 1) {
			struct uch c = uch_at(p, ascii);
			prefix += c.w;
			p += c.n;
		}
		sb_str(&b, ell);
		used = 1;
		/* A wide character skipped at the edge leaves one column. */
		int gap = cols - 1 - (total - prefix);
		sb_spaces(&b, gap);
		used += gap;
		for (; *p;) {
			struct uch c = uch_at(p, ascii);
			sb_char(&b, p, c, ascii);
			used += c.w;
			p += c.n;
		}
	} else {
		for (const unsigned char *p = (const unsigned char *)esc; *p;) {
			struct uch c = uch_at(p, ascii);
			if (used + c.w > cols - 1)
				break;
			sb_char(&b, p, c, ascii);
			used += c.w;
			p += c.n;
		}
		sb_spaces(&b, cols - 1 - used);
		used = cols - 1;
		sb_str(&b, ell);
		used++;
	}
	if ((flags & MST_FIT_PAD) && !(flags & MST_FIT_RIGHT))
		sb_spaces(&b, cols - used);
	return out;
}

char *mst_fmt_pct(double pct, char *out, size_t len)
{
	if (!(pct > 0)) /* also NaN */
		snprintf(out, len, "0%%");
	else if (pct < 0.05)
		snprintf(out, len, "<0.1%%");
	else if (pct >= 99.95)
		snprintf(out, len, "%.0f%%", pct);
	else
		snprintf(out, len, "%.1f%%", pct);
	return out;
}

char *mst_fmt_duration(uint64_t ns, char *out, size_t len)
{
	const uint64_t ms = 1000000ull, s = 1000 * ms;
	if (ns < s) {
		snprintf(out, len, "%" PRIu64 "ms", ns / ms);
	} else if (ns < 60 * s) {
		uint64_t tenths = ns / (100 * ms);
		snprintf(out, len, "%" PRIu64 ".%" PRIu64 "s", tenths / 10, tenths % 10);
	} else if (ns < 3600 * s) {
		uint64_t sec = ns / s;
		snprintf(out, len, "%" PRIu64 "m%02" PRIu64 "s", sec / 60, sec % 60);
	} else if (ns < 86400 * s) {
		uint64_t min = ns / (60 * s);
		snprintf(out, len, "%" PRIu64 "h%02" PRIu64 "m", min / 60, min % 60);
	} else {
		uint64_t h = ns / (3600 * s);
		snprintf(out, len, "%" PRIu64 "d%02" PRIu64 "h", h / 24, h % 24);
	}
	return out;
}

char *mst_fmt_count(uint64_t n, char *out, size_t len)
{
	static const char units[] = "MGTPE";
	if (n < 1000000) {
		snprintf(out, len, "%" PRIu64, n);
		return out;
	}
	/* Hundredths of the unit, rounded down. */
	uint64_t div = 1000000;
	int u = 0;
	while (u < 4 && n / div >= 1000) {
		div *= 1000;
		u++;
	}
	uint64_t h = n / (div / 100);
	if (h < 1000)
		snprintf(out, len, "%" PRIu64 ".%02" PRIu64 "%c", h / 100, h % 100, units[u]);
	else if (h < 10000)
		snprintf(out, len, "%" PRIu64 ".%" PRIu64 "%c", h / 100, (h / 10) % 10, units[u]);
	else
		snprintf(out, len, "%" PRIu64 "%c", h / 100, units[u]);
	return out;
}

const char *mst_fmt_frame_mark(const struct mst_agg_frame *f)
{
	if (f->kind == MST_AGG_PYTHON)
		return "py";
	return f->inlined ? "Ci" : "C";
}

const char *mst_fmt_basename(const char *path)
{
	if (!path)
		return "";
	const char *slash = strrchr(path, '/');
	/* "dir/" keeps its last name rather than showing nothing. */
	if (slash && slash[1])
		return slash + 1;
	return path;
}

size_t mst_fmt_short_path_off(const char *path, const char *cwd)
{
	if (!path || path[0] != '/')
		return 0; /* "<frozen importlib._bootstrap>", a relative name */
	size_t off = 0;
	static const char *const pkgs[] = {"/site-packages/", "/dist-packages/"};
	for (size_t i = 0; i < 2; i++)
		for (const char *p = path; (p = strstr(p, pkgs[i])); p++)
			if ((size_t)(p - path) + strlen(pkgs[i]) > off)
				off = (size_t)(p - path) + strlen(pkgs[i]);
	if (off)
		return off;
	/* The standard library: .../lib/python3.12/threading.py */
	for (const char *p = path; (p = strstr(p, "/python")); p++) {
		const char *v = p + 7;
		size_t d = strspn(v, "0123456789");
		if (!d || v[d] != '.' || !strspn(v + d + 1, "0123456789"))
			continue;
		const char *e = v + d + 1 + strspn(v + d + 1, "0123456789");
		e += strspn(e, "tdm"); /* free-threaded, debug, pymalloc ABI letters */
		if (*e == '/' && (p - path >= 4 && !strncmp(p - 4, "/lib", 4)))
			off = (size_t)(e + 1 - path);
	}
	if (off)
		return off;
	size_t n = cwd ? strlen(cwd) : 0;
	if (n > 1 && !strncmp(path, cwd, n) && path[n] == '/')
		return n + 1;
	return 0;
}

char *mst_fmt_file_line(const struct mst_agg_frame *f, int flags, char *out, size_t len)
{
	char esc[ESC_MAX];
	const char *file = f->file ? f->file : "";
	if ((flags & MST_FIT_SHORT_PATH) && f->short_file && *f->short_file)
		file = f->short_file;
	if (!*file) {
		if (len)
			out[0] = '\0';
		return out;
	}
	size_t flen = strlen(file);
	if (flen > TAIL_MAX) {
		/* Shown cut from the left: only the tail matters. */
		file += flen - TAIL_MAX;
		while ((*(const unsigned char *)file & 0xc0) == 0x80)
			file++;
	}
	mst_text_escape(file, esc, sizeof(esc));
	if (f->line)
		snprintf(out, len, "%s:%" PRIu32, esc, f->line);
	else
		snprintf(out, len, "%s", esc);
	return out;
}

char *mst_fmt_frame_label(const struct mst_agg_frame *f, int cols, int flags, char *out, size_t len)
{
	int pf = flags & MST_FIT_SHORT_PATH;
	flags &= MST_FIT_ASCII;
	char fn[ESC_MAX], where[ESC_MAX];
	if (f->function && *f->function) {
		snprintf(fn, sizeof(fn), "%s", f->function);
		mst_fmt_file_line(f, pf, where, sizeof(where));
	} else {
		/* No name: the module is all that identifies the code. */
		snprintf(fn, sizeof(fn), "??");
		snprintf(where, sizeof(where), "%s", mst_fmt_basename(f->module));
	}
	int fw = mst_fmt_width(fn);
	struct sbuf b = {out, len, 0};
	if (len)
		out[0] = '\0';
	if (cols <= 0)
		return out;
	char piece[ESC_MAX];
	if (fw >= cols || !where[0] || cols - fw < 2 + 6) {
		/* Room for the function alone (a file in under 6 columns says
		 * nothing). */
		sb_str(&b, mst_fmt_fit(fn, cols, flags | MST_FIT_LEFT, piece, sizeof(piece)));
		return out;
	}
	sb_str(&b, mst_fmt_fit(fn, fw, flags, piece, sizeof(piece)));
	sb_str(&b, "  ");
	sb_str(&b, mst_fmt_fit(where, cols - fw - 2, flags | MST_FIT_LEFT, piece, sizeof(piece)));
	return out;
}

const char *mst_fmt_state(uint32_t state, bool ended)
{
	if (ended)
		return "ended";
	if (state & MST_TS_IN_GC)
		return "GC";
	if (state & MST_TS_WAITS_GIL)
		return "wait";
	if (state & MST_TS_DROPS_GIL)
		return "drop";
	if ((state & MST_TS_HOLDS_GIL) && (state & MST_TS_RUNNING))
		return "GIL";
	if (!(state & MST_TS_RUNNING))
		return "idle";
	return (state & MST_TS_PYTHON) ? "run" : "native";
}

/* ---- rows ---- */

enum { PCT_W = 6, TIME_W = 6, MARK_W = 2, TID_W = 7, STATE_W = 6, FN_MIN = 16 };

static int clampi(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void mst_fmt_hot_layout(int cols, int flags, int fn_want, struct mst_fmt_hot_layout *l)
{
	memset(l, 0, sizeof(*l));
	l->cols = cols;
	l->flags = flags & (MST_FIT_ASCII | MST_FIT_SHORT_PATH);
	l->own_ns = l->total_ns = l->file = l->module = true;
	for (;;) {
		int fixed = 2 * (PCT_W + 1) + MARK_W + 1;
		if (l->own_ns)
			fixed += 2 * (TIME_W + 1);
		int r = cols - fixed;
		if (l->module && r < FN_MIN + 1 + 16 + 1 + 8) {
			l->module = false;
			continue;
		}
		if (l->own_ns && r < FN_MIN + 1 + 12) {
			l->own_ns = l->total_ns = false;
			continue;
		}
		if (l->file && r < FN_MIN + 1 + 12) {
			l->file = false;
			continue;
		}
		if (l->module) {
			l->mod_w = clampi(r / 7, 8, 24);
			r -= l->mod_w + 1;
		}
		if (l->file) {
			l->file_w = clampi((r - 1) * 9 / 20, 12, 70);
			r -= l->file_w + 1;
		}
		l->fn_w = r < 1 ? 1 : r;
		int need = fn_want > FN_MIN ? fn_want : FN_MIN;
		if (fn_want > 0 && l->file && l->fn_w > need) {
			l->file_w += l->fn_w - need;
			l->fn_w = need;
		}
		return;
	}
}

/* A title in a column, with a sort marker when it is the key. */
static void title(struct sbuf *b, const char *t, bool key, bool ascii, int w, bool right, bool sep)
{
	char buf[64], fit[256];
	snprintf(buf, sizeof(buf), "%s%s", t, key ? (ascii ? "v" : "\u25bc") : "");
	mst_fmt_fit(buf, w, MST_FIT_PAD | (right ? MST_FIT_RIGHT : 0) | (ascii ? MST_FIT_ASCII : 0),
	            fit, sizeof(fit));
	sb_str(b, fit);
	if (sep)
		sb_str(b, " ");
}

char *mst_fmt_hot_header(const struct mst_fmt_hot_layout *l, enum mst_agg_sort sort, char *out,
                         size_t len)
{
	struct sbuf b = {out, len, 0};
	if (len)
		out[0] = '\0';
	bool a = l->flags & MST_FIT_ASCII;
	title(&b, "%OWN", sort == MST_AGG_SORT_OWN, a, PCT_W, true, true);
	title(&b, "%TOT", sort == MST_AGG_SORT_TOTAL, a, PCT_W, true, true);
	if (l->own_ns) {
		title(&b, "OWN", sort == MST_AGG_SORT_OWN_NS, a, TIME_W, true, true);
		title(&b, "TOTAL", sort == MST_AGG_SORT_TOTAL_NS, a, TIME_W, true, true);
	}
	title(&b, "K", false, a, MARK_W, false, true);
	title(&b, "FUNCTION", sort == MST_AGG_SORT_NAME, a, l->fn_w, false, l->file || l->module);
	if (l->file)
		title(&b, "FILE:LINE", false, a, l->file_w, false, l->module);
	if (l->module)
		title(&b, "MODULE", false, a, l->mod_w, false, false);
	return out;
}

static void col_text(struct sbuf *b, const char *s, int w, int flags, bool sep)
{
	char fit[ESC_MAX];
	sb_str(b, mst_fmt_fit(s, w, flags | MST_FIT_PAD, fit, sizeof(fit)));
	if (sep)
		sb_str(b, " ");
}

static double pct_of(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

char *mst_fmt_hot_row(const struct mst_fmt_hot_layout *l, const struct mst_agg_hot *h,
                      const struct mst_agg_count *scope, char *out, size_t len)
{
	struct sbuf b = {out, len, 0};
	if (len)
		out[0] = '\0';
	char t[ESC_MAX];
	int fl = l->flags;
	col_text(&b, mst_fmt_pct(pct_of(h->own_samples, scope->samples), t, sizeof(t)), PCT_W,
	         fl | MST_FIT_RIGHT, true);
	col_text(&b, mst_fmt_pct(pct_of(h->total_samples, scope->samples), t, sizeof(t)), PCT_W,
	         fl | MST_FIT_RIGHT, true);
	if (l->own_ns) {
		col_text(&b, mst_fmt_duration(h->own_ns, t, sizeof(t)), TIME_W, fl | MST_FIT_RIGHT,
		         true);
		col_text(&b, mst_fmt_duration(h->total_ns, t, sizeof(t)), TIME_W,
		         fl | MST_FIT_RIGHT, true);
	}
	col_text(&b, mst_fmt_frame_mark(&h->frame), MARK_W, fl, true);
	const char *fn = h->frame.function[0] ? h->frame.function : "??";
	col_text(&b, fn, l->fn_w, fl | MST_FIT_LEFT, l->file || l->module);
	if (l->file)
		col_text(&b, mst_fmt_file_line(&h->frame, fl, t, sizeof(t)), l->file_w,
		         fl | MST_FIT_LEFT, l->module);
	if (l->module)
		col_text(&b, mst_fmt_basename(h->frame.module), l->mod_w, fl, false);
	return out;
}

void mst_fmt_thread_layout(int cols, int flags, struct mst_fmt_thread_layout *l)
{
	memset(l, 0, sizeof(*l));
	l->cols = cols;
	l->flags = flags & (MST_FIT_ASCII | MST_FIT_SHORT_PATH);
	l->gil = l->wait = l->gc = true;
	l->name_w = 16;
	l->proc_w = flags & MST_FIT_PROCESS ? 18 : 0;
	for (;;) {
		int fixed = TID_W + 1 + l->name_w + 1 + STATE_W + 1 + PCT_W + 1;
		fixed += l->proc_w ? l->proc_w + 1 : 0;
		fixed += (l->gil + l->wait + l->gc) * (PCT_W + 1);
		int r = cols - fixed;
		if (r < 20 && l->gc) {
			l->gc = false;
			continue;
		}
		if (r < 20 && l->wait) {
			l->wait = false;
			continue;
		}
		if (r < 16 && l->gil) {
			l->gil = false;
			continue;
		}
		if (r < 10 && l->proc_w > 8) {
			l->proc_w = r + l->proc_w - 10 > 8 ? r + l->proc_w - 10 : 8;
			continue;
		}
		if (r < 10 && l->name_w > 8) {
			l->name_w = r + l->name_w - 10 > 8 ? r + l->name_w - 10 : 8;
			continue;
		}
		/* The top frame needs a few columns to say anything. */
		l->top_w = r >= 4 ? r : 0;
		return;
	}
}

char *mst_fmt_thread_header(const struct mst_fmt_thread_layout *l, char *out, size_t len)
{
	struct sbuf b = {out, len, 0};
	if (len)
		out[0] = '\0';
	bool a = l->flags & MST_FIT_ASCII;
	title(&b, "TID", false, a, TID_W, true, true);
	if (l->proc_w)
		title(&b, "PROCESS", false, a, l->proc_w, false, true);
	title(&b, "NAME", false, a, l->name_w, false, true);
	title(&b, "STATE", false, a, STATE_W, false, true);
	title(&b, "CPU%", false, a, PCT_W, true, l->gil || l->wait || l->gc || l->top_w);
	if (l->gil)
		title(&b, "GIL%", false, a, PCT_W, true, l->wait || l->gc || l->top_w);
	if (l->wait)
		title(&b, "WAIT%", false, a, PCT_W, true, l->gc || l->top_w);
	if (l->gc)
		title(&b, "GC%", false, a, PCT_W, true, l->top_w);
	if (l->top_w)
		title(&b, "TOP FRAME", false, a, l->top_w, false, false);
	return out;
}

char *mst_fmt_thread_row(const struct mst_fmt_thread_layout *l, const struct mst_agg_thread *t,
                         const struct mst_agg_frame *top, const char *proc, char *out, size_t len)
{
	struct sbuf b = {out, len, 0};
	if (len)
		out[0] = '\0';
	char s[ESC_MAX];
	int fl = l->flags;
	snprintf(s, sizeof(s), "%d", (int)t->tid);
	col_text(&b, s, TID_W, fl | MST_FIT_RIGHT, true);
	if (l->proc_w)
		col_text(&b, proc && proc[0] ? proc : "-", l->proc_w, fl, true);
	col_text(&b, t->name[0] ? t->name : "-", l->name_w, fl, true);
	col_text(&b, mst_fmt_state(t->state, t->ended), STATE_W, fl, true);
	bool more = l->gil || l->wait || l->gc || l->top_w;
	col_text(&b, mst_fmt_pct(t->active_pct, s, sizeof(s)), PCT_W, fl | MST_FIT_RIGHT, more);
	if (l->gil)
		col_text(&b, mst_fmt_pct(t->gil_pct, s, sizeof(s)), PCT_W, fl | MST_FIT_RIGHT,
		         l->wait || l->gc || l->top_w);
	if (l->wait)
		col_text(&b, mst_fmt_pct(t->gil_wait_pct, s, sizeof(s)), PCT_W, fl | MST_FIT_RIGHT,
		         l->gc || l->top_w);
	if (l->gc)
		col_text(&b, mst_fmt_pct(t->gc_pct, s, sizeof(s)), PCT_W, fl | MST_FIT_RIGHT,
		         l->top_w);
	if (l->top_w) {
		if (top)
			mst_fmt_frame_label(top, l->top_w, fl, s, sizeof(s));
		else
			snprintf(s, sizeof(s), "-");
		col_text(&b, s, l->top_w, fl, false);
	}
	return out;
}

char *mst_fmt_stack_row(int cols, int flags, size_t depth, const struct mst_agg_frame *f, char *out,
                        size_t len)
{
	struct sbuf b = {out, len, 0};
	if (len)
		out[0] = '\0';
	char t[ESC_MAX];
	int fl = flags & MST_FIT_ASCII;
	snprintf(t, sizeof(t), "#%zu", depth);
	col_text(&b, t, 4, fl | MST_FIT_RIGHT, true);
	col_text(&b, mst_fmt_frame_mark(f), MARK_W, fl, true);
	int rest = cols - 4 - 1 - MARK_W - 1;
	int mod_w = rest >= 60 ? clampi(rest / 5, 8, 24) : 0;
	int lab_w = mod_w ? rest - mod_w - 1 : rest;
	if (lab_w <= 0)
		return out;
	col_text(&b, mst_fmt_frame_label(f, lab_w, fl, t, sizeof(t)), lab_w, fl, mod_w > 0);
	if (mod_w)
		col_text(&b, mst_fmt_basename(f->module), mod_w, fl, false);
	return out;
}

char *mst_fmt_tree_row(int cols, int flags, int depth, bool has_children, bool expanded,
                       double total_pct, double self_pct, const struct mst_agg_frame *f, char *out,
                       size_t len)
{
	struct sbuf b = {out, len, 0};
	if (len)
		out[0] = '\0';
	char t[ESC_MAX];
	int fl = flags & MST_FIT_ASCII;
	bool ascii = fl;
	col_text(&b, mst_fmt_pct(total_pct, t, sizeof(t)), PCT_W, fl | MST_FIT_RIGHT, true);
	col_text(&b, mst_fmt_pct(self_pct, t, sizeof(t)), PCT_W, fl | MST_FIT_RIGHT, true);
	int rest = cols - 2 * (PCT_W + 1);
	/* Deep trees indent at most half the room, so names stay readable. */
	int indent = depth * 2;
	if (indent > rest / 2)
		indent = rest / 2;
	sb_spaces(&b, indent);
	rest -= indent;
	const char *mark = !has_children ? " "
	                   : expanded    ? (ascii ? "-" : "\u25be")
	                                 : (ascii ? "+" : "\u25b8");
	if (rest < 3)
		return out;
	sb_str(&b, mark);
	sb_str(&b, " ");
	rest -= 2;
	if (!f) {
		col_text(&b, "(other)", rest, fl, false);
		return out;
	}
	char lab[ESC_MAX];
	int mw = 3;
	if (rest > mw + 1 + 4) {
		col_text(&b, mst_fmt_frame_mark(f), mw - 1, fl, true);
		rest -= mw;
	}
	col_text(&b, mst_fmt_frame_label(f, rest, fl, lab, sizeof(lab)), rest, fl, false);
	return out;
}
