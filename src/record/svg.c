/* The flame graph: one self-contained SVG, like flamegraph.pl's and
 * py-spy's, that a browser opens without anything else. A root box "all",
 * then each thread, then its stacks root first, as a tree in which equal
 * call paths of a thread are one box (stacks that differ in states only are
 * summed); the root is at the bottom. Boxes are as wide as their share of
 * the samples. A script of its own (written here, not flamegraph.pl's)
 * zooms on click, searches with a regular expression (the "Search" text,
 * Ctrl-F), and reads ?s=REGEX, ?z=TEXT and ?x=&y= from the URL so that a
 * view can be shared or replayed headless.
 *
 * The tree is built from the stacks sorted by thread, then by the labels of
 * their frames: equal prefixes are then adjacent, so each stack only adds
 * the nodes past what it shares with the one before it, and the nodes come
 * out in the order they are drawn (depth first, siblings by name). Memory
 * is the frames of the distinct stacks, once. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "msttop/array.h"
#include "record-int.h"

#define IMG_W 1200
#define PAD 10     /* left and right of the boxes */
#define BOX_H 16   /* one level of the stack */
#define TOP 64     /* title, subtitle, Reset Zoom and Search */
#define BOTTOM 34  /* the hovered box's title, and "Matched:" */
#define FONT_PX 12 /* boxes' text */
/* The average advance of a character of the font, as a share of its size:
 * what the text is cut to before the browser can measure it. */
#define CHAR_W (FONT_PX * 0.59)
/* Boxes under 0.1% of the width are left out (their samples stay in their
 * parents): thousands of slivers nobody can point at would only make the
 * file slow to open. */
#define MIN_SHARE 0.001
#define LABEL_MAX 1024
#define TITLE_CHARS 60 /* of the command line in the title */
#define HIGHLIGHT "rgb(230,0,230)"
/* The key of "(other stacks)" under a thread: after every frame. */
#define OTHER_KEY UINT32_MAX

enum node_kind { N_ROOT, N_THREAD, N_OTHER, N_FRAME };

struct node {
	uint64_t samples;
	uint64_t x;    /* samples left of it on its level */
	uint64_t next; /* while building: where its next child starts */
	size_t parent;
	uint32_t id; /* thread index, or the frame (the first one of its label) */
	uint32_t depth;
	uint8_t kind; /* enum node_kind */
};

struct tree {
	const struct rec_view *v;
	char *text;    /* frame labels, each NUL-terminated */
	size_t *label; /* per frame: its label's offset in text */
	uint32_t *rank;
	struct node *nodes;
	size_t n, cap;
};

static const char *frame_label(const struct tree *t, uint32_t id)
{
	return t->text + t->label[id];
}

static int cmp_frame(const void *a, const void *b, void *arg)
{
	const struct tree *t = arg;
	return strcmp(frame_label(t, *(const uint32_t *)a), frame_label(t, *(const uint32_t *)b));
}

/* Frames are merged by label, as flamegraph.pl merges by name: two native
 * frames at different addresses of one function are one box. A frame's
 * rank orders labels, equal for equal ones. */
static int rank_frames(struct tree *t)
{
	const struct rec_view *v = t->v;
	size_t cap = 0, used = 0;
	char buf[LABEL_MAX];
	t->label = malloc((v->nframes ? v->nframes : 1) * sizeof(*t->label));
	t->rank = malloc((v->nframes ? v->nframes : 1) * sizeof(*t->rank));
	uint32_t *ids = malloc((v->nframes ? v->nframes : 1) * sizeof(*ids));
	int rc = t->label && t->rank && ids ? 0 : -ENOMEM;
	for (size_t i = 0; !rc && i < v->nframes; i++) {
		rec_frame_label(&v->frames[i], buf, sizeof(buf));
		size_t len = strlen(buf) + 1;
		rc = mst_array_grow((void **)&t->text, &cap, used + len, 1);
		if (!rc) {
			memcpy(t->text + used, buf, len);
			t->label[i] = used;
			used += len;
			ids[i] = (uint32_t)i;
		}
	}
	if (!rc && v->nframes) {
		qsort_r(ids, v->nframes, sizeof(*ids), cmp_frame, t);
		t->rank[ids[0]] = 0;
		for (size_t i = 1; i < v->nframes; i++)
			t->rank[ids[i]] =
			    cmp_frame(&ids[i - 1], &ids[i], t) ? (uint32_t)i : t->rank[ids[i - 1]];
	}
	free(ids);
	return rc;
}

/* A stack's path under its thread: "(other stacks)" first if it is that,
 * then its frames. */
static size_t path_len(const struct rec_stack *s)
{
	return (size_t)s->nframes + s->other;
}

static uint32_t path_key(const struct tree *t, const struct rec_stack *s, size_t j)
{
	if (s->other) {
		if (j == 0)
			return OTHER_KEY;
		j--;
	}
	return t->rank[s->frames[j]];
}

static int cmp_stack(const void *a, const void *b, void *arg)
{
	const struct tree *t = arg;
	const struct rec_stack *x = &t->v->stacks[*(const size_t *)a];
	const struct rec_stack *y = &t->v->stacks[*(const size_t *)b];
	if (x->thread != y->thread)
		return x->thread < y->thread ? -1 : 1;
	size_t nx = path_len(x), ny = path_len(y);
	for (size_t j = 0; j < nx && j < ny; j++) {
		uint32_t kx = path_key(t, x, j), ky = path_key(t, y, j);
		if (kx != ky)
			return kx < ky ? -1 : 1;
	}
	return nx < ny ? -1 : nx > ny;
}

/* A writer is not the place to trust ids: a stack that points outside the
 * view is left out rather than read past an array. */
static bool stack_usable(const struct rec_view *v, const struct rec_stack *s)
{
	if (!s->samples || s->thread >= v->nthreads || (s->nframes && !s->frames))
		return false;
	for (uint32_t j = 0; j < s->nframes; j++)
		if (s->frames[j] >= v->nframes)
			return false;
	return true;
}

static bool wide_enough(uint64_t samples, uint64_t total)
{
	return (double)samples >= MIN_SHARE * (double)total;
}

/* A node starts where the samples of its parent's children before it end. */
static int add_node(struct tree *t, size_t parent, uint8_t kind, uint32_t id, size_t *out)
{
	if (mst_array_grow((void **)&t->nodes, &t->cap, t->n + 1, sizeof(*t->nodes)) < 0)
		return -ENOMEM;
	struct node *p = t->n ? &t->nodes[parent] : NULL;
	uint64_t x = p ? p->next : 0;
	t->nodes[t->n] = (struct node){.x = x,
	                               .next = x,
	                               .parent = parent,
	                               .id = id,
	                               .depth = p ? p->depth + 1 : 0,
	                               .kind = kind};
	*out = t->n++;
	return 0;
}

/* The nodes of the last path at depths from..to are done once a stack
 * leaves them: their samples are final, so their next siblings start past
 * them, and one too narrow to draw goes with what was built under it (the
 * nodes after it). Memory is then the boxes drawn, not every frame of
 * every stack. */
static void close_path(struct tree *t, const size_t *path, size_t from, size_t to, uint64_t total)
{
	for (size_t d = to + 1; d-- > from;) {
		struct node *nd = &t->nodes[path[d]];
		t->nodes[nd->parent].next += nd->samples;
		if (!wide_enough(nd->samples, total))
			t->n = path[d];
	}
}

static int build(struct tree *t)
{
	const struct rec_view *v = t->v;
	size_t n = 0, maxlen = 0, *order = malloc((v->nstacks ? v->nstacks : 1) * sizeof(*order));
	size_t *path = NULL; /* the last stack's nodes by depth */
	uint64_t total = 0;
	int rc = order ? rank_frames(t) : -ENOMEM;
	for (size_t i = 0; !rc && i < v->nstacks; i++) {
		if (!stack_usable(v, &v->stacks[i]))
			continue;
		order[n++] = i;
		total += v->stacks[i].samples;
		if (path_len(&v->stacks[i]) > maxlen)
			maxlen = path_len(&v->stacks[i]);
	}
	if (!rc && !(path = malloc((maxlen + 2) * sizeof(*path))))
		rc = -ENOMEM;
	if (!rc)
		rc = add_node(t, 0, N_ROOT, 0, &path[0]);
	if (!rc)
		qsort_r(order, n, sizeof(*order), cmp_stack, t);
	const struct rec_stack *prev = NULL;
	for (size_t i = 0; !rc && i < n; i++) {
		const struct rec_stack *s = &v->stacks[order[i]];
		size_t len = path_len(s), j = 0;
		bool same = prev && prev->thread == s->thread;
		if (same) {
			size_t plen = path_len(prev);
			while (j < len && j < plen && path_key(t, s, j) == path_key(t, prev, j))
				j++;
		}
		if (prev)
			close_path(t, path, same ? j + 2 : 1, path_len(prev) + 1, total);
		if (!same)
			rc = add_node(t, 0, N_THREAD, s->thread, &path[1]);
		for (; !rc && j < len; j++) {
			bool other = s->other && j == 0;
			uint32_t id = other ? 0 : s->frames[j - s->other];
			rc = add_node(t, path[j + 1], other ? N_OTHER : N_FRAME, id, &path[j + 2]);
		}
		for (size_t d = 0; !rc && d < len + 2; d++)
			t->nodes[path[d]].samples += s->samples;
		prev = s;
	}
	if (!rc && prev)
		close_path(t, path, 1, path_len(prev) + 1, total);
	free(path);
	free(order);
	return rc;
}

/* v >= 0 with 1 or 2 decimals, by hand: "%.2f" in a locale with a decimal
 * comma would write numbers SVG cannot read. */
static void put_dec(FILE *f, double v, int places)
{
	unsigned long long scale = places == 1 ? 10 : 100;
	unsigned long long n = v > 0 ? (unsigned long long)(v * (double)scale + 0.5) : 0;
	fprintf(f, "%llu.%0*llu", n / scale, places, n % scale);
}

static void put_count(FILE *f, uint64_t n)
{
	char d[32];
	int k = snprintf(d, sizeof(d), "%" PRIu64, n);
	for (int i = 0; i < k; i++) {
		if (i && (k - i) % 3 == 0)
			fputc(',', f);
		fputc(d[i], f);
	}
}

/* s, escaped, cut to at most max characters with the cut marked by dots
 * (max > strlen(dots)). Characters are counted as rec_xml_str writes them,
 * so that a name of stray bytes is cut like any other. */
static void put_cut(FILE *f, const char *s, size_t max, const char *dots)
{
	char buf[LABEL_MAX];
	/* What is kept, 4 bytes a character at most, fits buf with the dots. */
	if (max > sizeof(buf) / 4 - 1)
		max = sizeof(buf) / 4 - 1;
	size_t chars = 0, cut = 0, i = 0, keep = max - strlen(dots);
	while (s[i] && chars <= max) {
		if (chars == keep)
			cut = i;
		size_t n = rec_utf8_len((const unsigned char *)s + i);
		i += n ? n : 1; /* a stray byte is one character ('?') */
		chars++;
	}
	if (chars <= max) {
		rec_xml_str(f, s);
		return;
	}
	memcpy(buf, s, cut);
	strcpy(buf + cut, dots);
	rec_xml_str(f, buf);
}

static uint32_t name_hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 16777619u;
	}
	return h;
}

/* Python frames in blues, native ones in flamegraph.pl's warm "hot"
 * colours, threads and the root in greys. The shade comes from the
 * function's name, so a function keeps its colour across boxes and
 * files. */
static void box_fill(const struct tree *t, const struct node *nd, char *buf, size_t len)
{
	if (nd->kind != N_FRAME) {
		int grey = nd->kind == N_ROOT ? 170 : nd->kind == N_THREAD ? 192 : 215;
		snprintf(buf, len, "rgb(%d,%d,%d)", grey, grey, grey);
		return;
	}
	const struct rec_frame *fr = &t->v->frames[nd->id];
	uint32_t h = name_hash(fr->function);
	unsigned a = h & 0xff, b = (h >> 8) & 0xff, c = (h >> 16) & 0xff;
	if (fr->kind == REC_PYTHON)
		snprintf(buf, len, "rgb(%u,%u,%u)", 60 + 70 * a / 255, 150 + 70 * b / 255,
		         205 + 50 * c / 255);
	else
		snprintf(buf, len, "rgb(%u,%u,%u)", 205 + 50 * c / 255, 230 * a / 255,
		         55 * b / 255);
}

static void write_box(FILE *f, const struct tree *t, const struct node *nd, int height)
{
	const struct rec_view *v = t->v;
	uint64_t total = t->nodes[0].samples;
	double scale = (double)(IMG_W - 2 * PAD) / (double)total;
	double x = PAD + (double)nd->x * scale, w = (double)nd->samples * scale;
	int y = height - BOTTOM - (int)(nd->depth + 1) * BOX_H;
	char buf[LABEL_MAX], fill[32];
	const char *label = buf;
	if (nd->kind == N_ROOT)
		label = "all";
	else if (nd->kind == N_THREAD)
		rec_thread_label(&v->threads[nd->id], buf, sizeof(buf));
	else if (nd->kind == N_OTHER)
		label = "(other stacks)";
	else
		label = frame_label(t, nd->id);
	/* The script takes the label back from the title, up to the last
	 * " — ": nothing after it may hold one. */
	fputs("<g><title>", f);
	rec_xml_str(f, label);
	fputs(" &#8212; ", f);
	put_count(f, nd->samples);
	fputs(nd->samples == 1 ? " sample, " : " samples, ", f);
	put_dec(f, 100.0 * (double)nd->samples / (double)total, 1);
	fputc('%', f);
	if (nd->kind == N_FRAME && v->frames[nd->id].inlined)
		fputs(", inlined", f);
	box_fill(t, nd, fill, sizeof(fill));
	fputs("</title><rect x=\"", f);
	put_dec(f, x, 2);
	fprintf(f, "\" y=\"%d\" width=\"", y);
	put_dec(f, w, 2);
	fprintf(f, "\" height=\"%d\" fill=\"%s\" rx=\"2\"/><text x=\"", BOX_H - 1, fill);
	put_dec(f, x + 3, 2);
	fprintf(f, "\" y=\"%d\">", y + BOX_H - 4);
	/* As flamegraph.pl does: what fits by the font's average advance, and
	 * nothing in a box too narrow for three characters. The script
	 * measures when it zooms. */
	double room = (w - 6) / CHAR_W;
	if (room >= 3)
		put_cut(f, label, (size_t)room, "..");
	fputs("</text></g>\n", f);
}

static void write_head(FILE *f, const struct rec_view *v, int height)
{
	const struct mst_record_meta *m = v->meta;
	fprintf(f,
	        "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
	        "<svg version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
	        "xmlns=\"http://www.w3.org/2000/svg\">\n"
	        "<defs><linearGradient id=\"bg\" x1=\"0\" y1=\"0\" x2=\"0\" y2=\"1\">"
	        "<stop stop-color=\"#eeeeee\" offset=\"5%%\"/>"
	        "<stop stop-color=\"#eeeeb0\" offset=\"95%%\"/></linearGradient></defs>\n"
	        "<style type=\"text/css\">\n"
	        "text{font-family:Verdana,\"DejaVu Sans\",sans-serif;font-size:%dpx;fill:#000}\n"
	        "#title{font-size:17px;text-anchor:middle}\n"
	        "#subtitle{text-anchor:middle;fill:#444}\n"
	        "#search,#matched{text-anchor:end}\n"
	        "#unzoom,#search{cursor:pointer}\n"
	        "#frames g{cursor:pointer}\n"
	        "#frames text{pointer-events:none}\n"
	        "#frames g:hover rect{stroke:#000;stroke-width:0.5}\n"
	        ".parent{opacity:0.5}\n"
	        ".hide{display:none}\n"
	        "</style>\n"
	        "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"url(#bg)\"/>\n"
	        "<text id=\"title\" x=\"%d\" y=\"24\">Flame graph",
	        IMG_W, height, IMG_W, height, FONT_PX, IMG_W, height, IMG_W / 2);
	if (m) {
		fprintf(f, " &#8212; pid %d", (int)m->pid);
		if (m->cmdline && m->cmdline[0]) {
			fputs(": ", f);
			put_cut(f, m->cmdline, TITLE_CHARS, "...");
		}
	}
	fprintf(f, "</text>\n<text id=\"subtitle\" x=\"%d\" y=\"44\">", IMG_W / 2);
	if (m && m->py_version && m->py_version[0]) {
		fputs("Python ", f);
		rec_xml_str(f, m->py_version);
	} else {
		fputs("no Python", f);
	}
	if (m) {
		fputs(" &#183; ", f);
		/* 100 Hz, not 100.0 Hz; 99.5 Hz when asked for. */
		unsigned long long r10 =
		    m->rate_hz > 0 ? (unsigned long long)(m->rate_hz * 10 + 0.5) : 0;
		if (r10 % 10)
			put_dec(f, m->rate_hz, 1);
		else
			fprintf(f, "%llu", r10 / 10);
		fputs(" Hz", f);
	}
	fputs(" &#183; ", f);
	put_count(f, v->samples);
	fputs(v->samples == 1 ? " sample &#183; " : " samples &#183; ", f);
	put_dec(f, (double)v->duration_ns / 1e9, 2);
	fputs(" s &#183; view: ", f);
	rec_xml_str(f, v->view_name ? v->view_name : "?");
	fputs(v->idle ? " &#183; idle included" : " &#183; on-CPU only", f);
	if (v->recent)
		fputs(" &#183; recent window", f);
	fprintf(f,
	        "</text>\n<text id=\"unzoom\" class=\"hide\" x=\"%d\" y=\"24\">Reset Zoom</text>\n"
	        "<text id=\"search\" x=\"%d\" y=\"24\">Search</text>\n",
	        PAD, IMG_W - PAD);
}

static const char script[] =
    "(function () {\n"
    "'use strict';\n"
    "var fr = document.getElementById('frames'), det = document.getElementById('details'),\n"
    " unz = document.getElementById('unzoom'), sb = document.getElementById('search'),\n"
    " mt = document.getElementById('matched'), boxes = [], cur = null, sq = null,\n"
    " E = 0.05, FW = W - 2 * PAD;\n"
    "/* A box's label: its title up to the last dash (the counts follow it). */\n"
    "function label(g) {\n"
    " var s = g.firstElementChild.textContent, i = s.lastIndexOf(' \\u2014 ');\n"
    " return i < 0 ? s : s.slice(0, i);\n"
    "}\n"
    "Array.prototype.forEach.call(fr.children, function (g) {\n"
    " var r = g.children[1], t = g.children[2];\n"
    " g.fgBox = {g: g, r: r, t: t, n: label(g), fill: r.getAttribute('fill'),\n"
    "  x: +r.getAttribute('x'), y: +r.getAttribute('y'), w: +r.getAttribute('width'),\n"
    "  s0: [r.getAttribute('x'), r.getAttribute('width'), t.getAttribute('x'), t.textContent]};\n"
    " boxes.push(g.fgBox);\n"
    "});\n"
    "/* Moves a box and fits its label as the file does, but measured. */\n"
    "function place(b, x, w) {\n"
    " var t = b.t, room = w - 6, n = Math.floor(room / CW), c;\n"
    " b.r.setAttribute('x', x.toFixed(2));\n"
    " b.r.setAttribute('width', w.toFixed(2));\n"
    " t.setAttribute('x', (x + 3).toFixed(2));\n"
    " t.textContent = '';\n"
    " if (n < 3)\n"
    "  return;\n"
    " c = Array.from(b.n);\n"
    " if (c.length <= n) {\n"
    "  t.textContent = b.n;\n"
    "  if (t.getComputedTextLength() <= room)\n"
    "   return;\n"
    "  n = c.length;\n"
    " }\n"
    " for (; n >= 3; n--) {\n"
    "  t.textContent = c.slice(0, n - 2).join('') + '..';\n"
    "  if (t.getComputedTextLength() <= room)\n"
    "   return;\n"
    " }\n"
    " t.textContent = '';\n"
    "}\n"
    "function show(b, on, parent) {\n"
    " b.g.style.display = on ? '' : 'none';\n"
    " b.g.classList.toggle('parent', !!parent);\n"
    "}\n"
    "/* Whether the file's URL can say what is shown depends on the browser. */\n"
    "function seturl() {\n"
    " var q = new URLSearchParams(location.search), s;\n"
    " ['s', 'x', 'y', 'z'].forEach(function (k) { q.delete(k); });\n"
    " if (sq !== null)\n"
    "  q.set('s', sq);\n"
    " if (cur) {\n"
    "  q.set('x', (cur.x + cur.w / 2).toFixed(1));\n"
    "  q.set('y', (cur.y + FH / 2).toFixed(1));\n"
    " }\n"
    " s = q.toString();\n"
    " try { history.replaceState(null, '', s ? '?' + s : location.pathname); } catch (e) {}\n"
    "}\n"
    "/* The box fills the width, its descendants scaled with it; its ancestors\n"
    " * stay at full width, faded; every other box is hidden. */\n"
    "function zoom(z) {\n"
    " var k = FW / z.w;\n"
    " cur = z;\n"
    " unz.classList.remove('hide');\n"
    " boxes.forEach(function (b) {\n"
    "  if (b.y < z.y - 1 && b.x > z.x - E && b.x + b.w < z.x + z.w + E) {\n"
    "   show(b, 1);\n"
    "   place(b, PAD + (b.x - z.x) * k, b.w * k);\n"
    "  } else if (b === z || (b.y > z.y + 1 && b.x < z.x + E && b.x + b.w > z.x + z.w - E)) {\n"
    "   show(b, 1, b !== z);\n"
    "   place(b, PAD, FW);\n"
    "  } else {\n"
    "   show(b, 0);\n"
    "  }\n"
    " });\n"
    " seturl();\n"
    "}\n"
    "function unzoom() {\n"
    " cur = null;\n"
    " unz.classList.add('hide');\n"
    " boxes.forEach(function (b) {\n"
    "  show(b, 1);\n"
    "  b.r.setAttribute('x', b.s0[0]);\n"
    "  b.r.setAttribute('width', b.s0[1]);\n"
    "  b.t.setAttribute('x', b.s0[2]);\n"
    "  b.t.textContent = b.s0[3];\n"
    " });\n"
    " seturl();\n"
    "}\n"
    "/* Matches are coloured; the share counts nested matches once. */\n"
    "function search(s) {\n"
    " var re, iv = [], tot = 0, end = 0;\n"
    " try { re = new RegExp(s); } catch (e) { mt.textContent = 'Bad regex'; return; }\n"
    " sq = s;\n"
    " boxes.forEach(function (b) {\n"
    "  var m = re.test(b.n);\n"
    "  b.r.setAttribute('fill', m ? HL : b.fill);\n"
    "  if (m)\n"
    "   iv.push([b.x, b.x + b.w]);\n"
    " });\n"
    " iv.sort(function (p, q) { return p[0] - q[0]; });\n"
    " iv.forEach(function (p) {\n"
    "  if (p[1] > end) {\n"
    "   tot += p[1] - Math.max(p[0], end);\n"
    "   end = p[1];\n"
    "  }\n"
    " });\n"
    " mt.textContent = 'Matched: ' + (100 * tot / FW).toFixed(1) + '%';\n"
    " sb.textContent = 'Reset Search';\n"
    " seturl();\n"
    "}\n"
    "function unsearch() {\n"
    " sq = null;\n"
    " mt.textContent = '';\n"
    " sb.textContent = 'Search';\n"
    " boxes.forEach(function (b) { b.r.setAttribute('fill', b.fill); });\n"
    " seturl();\n"
    "}\n"
    "function ask() {\n"
    " var s = prompt('Search for (a regular expression):', sq === null ? '' : sq);\n"
    " if (s)\n"
    "  search(s);\n"
    "}\n"
    "function boxof(e) {\n"
    " var g = e.target.closest ? e.target.closest('g') : null;\n"
    " return g && g.fgBox;\n"
    "}\n"
    "fr.addEventListener('click', function (e) {\n"
    " var b = boxof(e);\n"
    " if (b)\n"
    "  zoom(b);\n"
    "});\n"
    "fr.addEventListener('mouseover', function (e) {\n"
    " var b = boxof(e), s = b ? b.g.firstElementChild.textContent : '';\n"
    " det.textContent = s.length > 160 ? s.slice(0, 158) + '..' : s;\n"
    "});\n"
    "fr.addEventListener('mouseout', function () { det.textContent = ''; });\n"
    "unz.addEventListener('click', unzoom);\n"
    "sb.addEventListener('click', function () {\n"
    " if (sq !== null)\n"
    "  unsearch();\n"
    " else\n"
    "  ask();\n"
    "});\n"
    "window.addEventListener('keydown', function (e) {\n"
    " if (e.key === 'F3' || ((e.ctrlKey || e.metaKey) && (e.key === 'f' || e.key === 'F'))) {\n"
    "  e.preventDefault();\n"
    "  ask();\n"
    " } else if (e.key === 'Escape') {\n"
    "  if (sq !== null)\n"
    "   unsearch();\n"
    "  if (cur)\n"
    "   unzoom();\n"
    " }\n"
    "});\n"
    "/* ?z=TEXT zooms to the widest box whose label holds TEXT, ?x=&y= to the\n"
    " * box at that point (what a zoom leaves in the URL); ?s=REGEX searches. */\n"
    "(function () {\n"
    " var q = new URLSearchParams(location.search), z = q.get('z'), hit = null,\n"
    "  px = parseFloat(q.get('x')), py = parseFloat(q.get('y'));\n"
    " boxes.forEach(function (b) {\n"
    "  if (z ? b.n.indexOf(z) >= 0 && (!hit || b.w > hit.w + E)\n"
    "        : px >= b.x && px <= b.x + b.w && py >= b.y && py <= b.y + FH)\n"
    "   hit = b;\n"
    " });\n"
    " if (hit)\n"
    "  zoom(hit);\n"
    " if (q.get('s'))\n"
    "  search(q.get('s'));\n"
    "})();\n"
    "})();\n";

static void tree_free(struct tree *t)
{
	free(t->nodes);
	free(t->text);
	free(t->label);
	free(t->rank);
}

int rec_write_svg(FILE *f, const struct rec_view *v, struct mst_err *err)
{
	struct tree t = {.v = v};
	int rc = build(&t);
	if (rc < 0) {
		tree_free(&t);
		return mst_err_set(err, rc, "out of memory for the flame graph");
	}
	/* What is left is drawn; the deepest sets the height. */
	uint32_t maxdepth = 0;
	for (size_t i = 0; i < t.n; i++)
		if (t.nodes[i].depth > maxdepth)
			maxdepth = t.nodes[i].depth;
	bool empty = !t.nodes[0].samples;
	int height = TOP + (empty ? 3 : (int)maxdepth + 1) * BOX_H + BOTTOM;
	write_head(f, v, height);
	fputs("<g id=\"frames\">\n", f);
	for (size_t i = 0; !empty && i < t.n; i++)
		write_box(f, &t, &t.nodes[i], height);
	fputs("</g>\n", f);
	if (empty)
		fprintf(f,
		        "<text x=\"%d\" y=\"%d\" style=\"font-size:17px;text-anchor:middle\">"
		        "no samples</text>\n",
		        IMG_W / 2, TOP + 2 * BOX_H);
	fprintf(f,
	        "<text id=\"details\" x=\"%d\" y=\"%d\"></text>\n"
	        "<text id=\"matched\" x=\"%d\" y=\"%d\"></text>\n"
	        "<script type=\"text/ecmascript\"><![CDATA[\n"
	        "var W = %d, PAD = %d, FH = %d, HL = '" HIGHLIGHT "', CW = ",
	        PAD, height - 12, IMG_W - PAD, height - 12, IMG_W, PAD, BOX_H);
	put_dec(f, CHAR_W, 2);
	fputs(";\n", f);
	fputs(script, f);
	fputs("]]></script>\n</svg>\n", f);
	tree_free(&t);
	return rec_check_write(f, "flame graph", err);
}
