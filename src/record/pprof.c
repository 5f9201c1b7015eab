/* pprof: the recording as a gzipped perftools.profiles.Profile (pprof's
 * proto/profile.proto), read by `go tool pprof`, Pyroscope, Parca and
 * speedscope. The encoder is our own: the schema needs only varints,
 * length-delimited fields and packed repeated integers, less code than a
 * dependency on libprotobuf(-c) would be.
 *
 * How the view maps onto the schema:
 * - one Sample per rec_stack, locations leaf first (pprof's order), values
 *   [samples, ns] under the sample types samples/count and cpu/nanoseconds;
 * - labels: "thread" (its name, left out when unknown) and "tid" (a number),
 *   and "state", once per state bit of the stack: "holds GIL", "waits for
 *   GIL", "in GC", "idle", or "running without GIL" when none is set.
 *   Several values of one key are what pprof's tag filters expect: a sample
 *   matches when any value matches the (unanchored) regexp, so
 *   -tagfocus=state=holds keeps the GIL holders, -tagignore=state=idle drops
 *   the sleepers, -tagfocus=state=without the threads that run with the GIL
 *   released, and -tags shows the split;
 * - one Location per frame of the view used by a stack, with one Line:
 *   the view has already expanded inlined calls into frames of their own
 *   (record-int.h), so each stays a Location rather than becoming a Line of
 *   its caller's Location, which would need the frames grouped by address
 *   first; has_inline_frames stays false;
 * - one Function per (name, file): the Python file, or for native code the
 *   source file when known, else the module's path;
 * - one Mapping per native module, named by its path with its GNU build-id.
 *   Native frames without a module (and "(other stacks)") share a Mapping
 *   with no name, last in the list: every native Location has a Mapping and
 *   no Python one has, which is how a reader (tests/record/check_pprof.py)
 *   tells "f" from "f ()" without a field of its own. Being last, with a
 *   range of [0, 0), pprof never merges it into its neighbour (it merges
 *   adjacent mappings when one has no name). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "msttop/elfsym.h"
#include "record-int.h"

#define ZBUF 16384
/* Encoded fields are handed to zlib in chunks of this much. */
#define FLUSH_AT 65536

/* Fields are written by their numbers in profile.proto, with the message
 * they belong to named where it is not obvious. */

/* A growable byte string. Out of memory sets *oom and drops the bytes: the
 * writer checks the flag between steps rather than after every put. */
struct buf {
	uint8_t *p;
	size_t n, cap;
	bool *oom;
};

/* uint64 -> nonzero uint32 (0: absent), open addressing. */
struct u64map {
	uint64_t *keys;
	uint32_t *vals;
	size_t n, cap;
};

struct str {
	size_t off, len; /* the bytes in strs.tab */
};

/* The string table, built as strings are first used: tab holds them
 * already encoded as string_table fields, so it is written as it is. */
struct strs {
	struct buf tab;
	struct str *v;
	size_t n, cap;
	struct u64map ids; /* hash (see intern_raw) -> index + 1 */
};

struct mapping {
	const char *path; /* the view's, for opening */
	uint32_t file;
	bool have_start;
	uint64_t start, limit;
};

struct pw {
	FILE *f;
	bool oom;
	z_stream z;
	struct buf out; /* top-level fields not yet compressed */
	struct buf sub; /* the message being built */
	struct buf in;  /* a message or packed field inside it */
	struct buf tmp; /* a string made valid UTF-8 */
	struct strs strs;
	struct u64map funcs;  /* name << 32 | file -> Function id */
	struct u64map mapids; /* module path string -> Mapping id */
	uint32_t nfuncs;
	uint8_t zbuf[ZBUF];
};

static void put(struct buf *b, const void *d, size_t len)
{
	if (!len || *b->oom)
		return;
	if (b->cap - b->n < len) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->n < len)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p) {
			*b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, d, len);
	b->n += len;
}

static void put_varint(struct buf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;
	do {
		t[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			t[n] |= 0x80;
		n++;
	} while (v);
	put(b, t, n);
}

/* A varint field; zero is proto3's default and is left out. */
static void put_uint(struct buf *b, uint32_t field, uint64_t v)
{
	if (!v)
		return;
	put_varint(b, (uint64_t)field << 3);
	put_varint(b, v);
}

static void put_bytes(struct buf *b, uint32_t field, const void *d, size_t len)
{
	put_varint(b, (uint64_t)field << 3 | 2);
	put_varint(b, len);
	put(b, d, len);
}

/* The message (or packed field) m as field of b; m is emptied for the next. */
static void put_msg(struct buf *b, uint32_t field, struct buf *m)
{
	put_bytes(b, field, m->p, m->n);
	m->n = 0;
}

static uint64_t mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return k;
}

/* Where key is in m, or the free slot where it would go. */
static size_t map_slot(const uint64_t *keys, const uint32_t *vals, size_t cap, uint64_t key)
{
	size_t i = mix(key) & (cap - 1);
	while (vals[i] && keys[i] != key)
		i = (i + 1) & (cap - 1);
	return i;
}

static uint32_t map_get(const struct u64map *m, uint64_t key)
{
	return m->cap ? m->vals[map_slot(m->keys, m->vals, m->cap, key)] : 0;
}

/* key must be absent. false: out of memory. */
static bool map_set(struct u64map *m, uint64_t key, uint32_t val)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 64;
		uint64_t *keys = calloc(cap, sizeof(*keys));
		uint32_t *vals = calloc(cap, sizeof(*vals));
		if (!keys || !vals) {
			free(keys);
			free(vals);
			return false;
		}
		for (size_t i = 0; i < m->cap; i++) {
			if (!m->vals[i])
				continue;
			size_t j = map_slot(keys, vals, cap, m->keys[i]);
			keys[j] = m->keys[i];
			vals[j] = m->vals[i];
		}
		free(m->keys);
		free(m->vals);
		*m = (struct u64map){keys, vals, m->n, cap};
	}
	size_t i = map_slot(m->keys, m->vals, m->cap, key);
	m->keys[i] = key;
	m->vals[i] = val;
	m->n++;
	return true;
}

static uint64_t hash_bytes(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
	return h;
}

/* The string table index of s[0, len); 0 ("") when out of memory, with
 * w->oom set. */
static uint32_t intern_raw(struct pw *w, const char *s, size_t len)
{
	struct strs *t = &w->strs;
	if (w->oom)
		return 0;
	/* Keyed by the bytes' hash; a string whose hash is taken by another
	 * one takes the next free key (keys are never removed, so a lookup
	 * walking from the hash meets the string before a free key). */
	uint64_t key = hash_bytes(s, len);
	for (uint32_t id; (id = map_get(&t->ids, key)); key++) {
		const struct str *e = &t->v[id - 1];
		if (e->len == len && !memcmp(t->tab.p + e->off, s, len))
			return id - 1;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct str *v = realloc(t->v, cap * sizeof(*v));
		if (!v)
			goto nomem;
		t->v = v;
		t->cap = cap;
	}
	put_varint(&t->tab, 6 << 3 | 2); /* Profile.string_table */
	put_varint(&t->tab, len);
	size_t off = t->tab.n;
	put(&t->tab, s, len);
	if (w->oom || !map_set(&t->ids, key, (uint32_t)t->n + 1))
		goto nomem;
	t->v[t->n] = (struct str){off, len};
	return (uint32_t)t->n++;
nomem:
	w->oom = true;
	return 0;
}

/* The length of the well-formed UTF-8 sequence at p, or 0 with *bad the
 * length of the ill-formed one (its longest start of a valid sequence, at
 * least one byte). Strict (no overlong forms, surrogates or code points
 * past U+10FFFF): that is what protobuf readers check a string field
 * against. */
static size_t utf8_seq(const unsigned char *p, size_t *bad)
{
	unsigned c = p[0], lo = 0x80, hi = 0xbf;
	size_t n;
	*bad = 1;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
	else
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	/* A NUL is no continuation byte: the string's end stops the check. */
	for (size_t k = 2; k < n; k++)
		if ((p[k] & 0xc0) != 0x80) {
			*bad = k;
			return 0;
		}
	return n;
}

/* The string table index of s. Names are read from the target's memory
 * and may be any bytes, but a proto3 string must be UTF-8: protoc and Go's
 * protobuf reject the whole profile otherwise. Each ill-formed sequence
 * becomes U+FFFD, as Unicode recommends (and Python's
 * decode("utf-8", "replace") does, which the check script relies on). */
static uint32_t intern(struct pw *w, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, bad;
	while (*p && (n = utf8_seq(p, &bad)))
		p += n;
	if (!*p)
		return intern_raw(w, s, (size_t)(p - (const unsigned char *)s));
	w->tmp.n = 0;
	for (p = (const unsigned char *)s; *p;) {
		n = utf8_seq(p, &bad);
		put(&w->tmp, n ? (const void *)p : "\xef\xbf\xbd", n ? n : 3);
		p += n ? n : bad;
	}
	if (w->oom)
		return 0;
	return intern_raw(w, (const char *)w->tmp.p, w->tmp.n);
}

/* Compress len bytes at d into the file; finish ends the gzip stream.
 * 0, -EIO when the file refused them, -EPROTO when zlib failed. */
static int deflate_out(struct pw *w, const uint8_t *d, size_t len, bool finish)
{
	do {
		/* avail_in is an unsigned int: a large string table goes in parts. */
		size_t part = len > (1u << 30) ? (1u << 30) : len;
		w->z.next_in = (Bytef *)d;
		w->z.avail_in = (uInt)part;
		d += part;
		len -= part;
		int flush = finish && !len ? Z_FINISH : Z_NO_FLUSH, ret;
		do {
			w->z.next_out = w->zbuf;
			w->z.avail_out = ZBUF;
			ret = deflate(&w->z, flush);
			if (ret == Z_STREAM_ERROR)
				return -EPROTO;
			size_t have = ZBUF - w->z.avail_out;
			if (have && fwrite(w->zbuf, 1, have, w->f) != have)
				return -EIO;
		} while (ret != Z_STREAM_END && (w->z.avail_out == 0 || flush == Z_FINISH));
	} while (len);
	return 0;
}

/* Hand the pending top-level fields to zlib once there are enough of them. */
static int flush_out(struct pw *w, bool force)
{
	if (w->oom)
		return -ENOMEM;
	if (!force && w->out.n < FLUSH_AT)
		return 0;
	int rc = deflate_out(w, w->out.p, w->out.n, false);
	w->out.n = 0;
	return rc;
}

static void put_value_type(struct pw *w, uint32_t field, const char *type, const char *unit)
{
	put_uint(&w->in, 1, intern(w, type)); /* ValueType: type, unit */
	put_uint(&w->in, 2, intern(w, unit));
	put_msg(&w->out, field, &w->in);
}

/* The Function id of (name, file), written when first asked for. */
static uint32_t function_id(struct pw *w, const char *name, const char *file)
{
	uint32_t n = intern(w, name[0] ? name : "??"), fl = intern(w, file);
	uint64_t key = (uint64_t)n << 32 | fl;
	uint32_t id = map_get(&w->funcs, key);
	if (id || w->oom)
		return id;
	id = ++w->nfuncs;
	if (!map_set(&w->funcs, key, id)) {
		w->oom = true;
		return 0;
	}
	put_uint(&w->in, 1, id); /* Function: id, name, system_name, filename */
	put_uint(&w->in, 2, n);
	put_uint(&w->in, 3, n); /* the same: nothing is mangled */
	put_uint(&w->in, 4, fl);
	put_msg(&w->out, 5, &w->in); /* Profile.function */
	return id;
}

static void put_location(struct pw *w, uint32_t id, uint32_t mapping, uint64_t addr, uint32_t func,
                         uint32_t line)
{
	put_uint(&w->sub, 1, id); /* Location: id, mapping_id, address */
	put_uint(&w->sub, 2, mapping);
	put_uint(&w->sub, 3, addr);
	put_uint(&w->in, 1, func); /* Line: function_id, line */
	put_uint(&w->in, 2, line);
	put_msg(&w->sub, 4, &w->in);
	put_msg(&w->out, 4, &w->sub); /* Profile.location */
}

/* A Label of the Sample in w->sub: a string (str) or a number (num). */
static void put_label(struct pw *w, uint32_t key, uint32_t str, uint64_t num)
{
	put_uint(&w->in, 1, key); /* Label: key, str, num */
	put_uint(&w->in, 2, str);
	put_uint(&w->in, 3, num);
	put_msg(&w->sub, 3, &w->in);
}

/* The Mapping of module path (NULL: the unnamed one), with the module's
 * build-id as hex when its file can be read. The path is the target's:
 * through /proc/PID/root first, where a target in a container has it, then
 * as it is (the target may be gone by now). */
static void put_mapping(struct pw *w, const struct rec_view *v, uint32_t id,
                        const struct mapping *m)
{
	put_uint(&w->sub, 1, id);
	if (m) { /* memory_start, memory_limit, filename; file_offset 0 */
		put_uint(&w->sub, 2, m->start);
		put_uint(&w->sub, 3, m->limit);
		put_uint(&w->sub, 5, m->file);
	}
	const char *path = m ? m->path : "";
	struct mst_elf *e = NULL;
	if (v->meta && v->meta->pid > 0 && path[0] == '/') {
		char root[4200];
		snprintf(root, sizeof(root), "/proc/%d/root%s", (int)v->meta->pid, path);
		if (mst_elf_open(root, &e, NULL) < 0)
			e = NULL;
	}
	if (!e && path[0] && mst_elf_open(path, &e, NULL) < 0)
		e = NULL;
	if (e) {
		put_uint(&w->sub, 6, intern(w, mst_elf_build_id(e))); /* build_id */
		mst_elf_close(e);
	}
	/* has_functions, has_filenames, has_line_numbers: all we know is in
	 * the profile, pprof need not symbolize. */
	put_uint(&w->sub, 7, 1);
	put_uint(&w->sub, 8, 1);
	put_uint(&w->sub, 9, 1);
	put_msg(&w->out, 3, &w->sub); /* Profile.mapping */
}

/* The comment: what was recorded, on one line. */
static void put_comment(struct pw *w, const struct rec_view *v)
{
	static const struct mst_record_meta none = {0};
	const struct mst_record_meta *m = v->meta ? v->meta : &none;
	/* Every part is bounded: n stays within c. */
	char c[1536];
	int n = snprintf(c, sizeof(c), "msttop: pid %d", (int)m->pid);
	if (m->cmdline && m->cmdline[0])
		n += snprintf(c + n, sizeof(c) - (size_t)n, " (%.1000s)", m->cmdline);
	if (m->py_version && m->py_version[0])
		n += snprintf(c + n, sizeof(c) - (size_t)n, ", Python %.40s", m->py_version);
	n += snprintf(c + n, sizeof(c) - (size_t)n, ", %g Hz", m->rate_hz);
	if (m->sampler && m->sampler[0])
		n += snprintf(c + n, sizeof(c) - (size_t)n, " (%.40s)", m->sampler);
	snprintf(c + n, sizeof(c) - (size_t)n, ", %.60s view, idle %s%s",
	         v->view_name ? v->view_name : "?", v->idle ? "in" : "left out",
	         v->recent ? ", recent window" : "");
	/* One line: a command line may hold newlines and tabs. */
	for (char *p = c; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	put_varint(&w->in, intern(w, c));
	put_msg(&w->out, 13, &w->in); /* Profile.comment, packed */
}

static int write_profile(struct pw *w, const struct rec_view *v, uint32_t *loc_of)
{
	int rc = 0;
	intern(w, "");                            /* string_table[0] must be "" */
	put_value_type(w, 1, "samples", "count"); /* sample_type */
	put_value_type(w, 1, "cpu", "nanoseconds");
	put_value_type(w, 11, "cpu", "nanoseconds"); /* period_type */
	put_uint(&w->out, 12, v->interval_ns);       /* period */
	put_uint(&w->out, 9, v->start_unix_ns);      /* time_nanos */
	put_uint(&w->out, 10, v->duration_ns);       /* duration_nanos */
	put_uint(&w->out, 14, intern(w, "cpu"));     /* default_sample_type */
	put_comment(w, v);

	/* Frames used by a stack get Locations, numbered from 1 in frame
	 * order: the view's frames may hold frames of no stack (the recent
	 * window, stacks cut by max_stacks). */
	bool other = false, unnamed = false;
	for (size_t i = 0; i < v->nstacks; i++) {
		const struct rec_stack *s = &v->stacks[i];
		other = other || s->other;
		for (uint32_t k = 0; k < s->nframes && !s->other; k++)
			if (s->frames[k] < v->nframes)
				loc_of[s->frames[k]] = 1;
	}
	uint32_t nloc = 0;
	for (size_t i = 0; i < v->nframes; i++)
		if (loc_of[i])
			loc_of[i] = ++nloc;

	/* Mappings: the load bias from the first frame with an address (where
	 * the module's link-time address 0 is), up to its highest address. */
	struct mapping *maps = NULL;
	size_t nmaps = 0, cap = 0;
	for (size_t i = 0; i < v->nframes; i++) {
		const struct rec_frame *fr = &v->frames[i];
		if (!loc_of[i] || fr->kind == REC_PYTHON)
			continue;
		if (!fr->module[0]) {
			unnamed = true;
			continue;
		}
		uint32_t file = intern(w, fr->module);
		uint32_t id = map_get(&w->mapids, file);
		if (w->oom)
			break;
		if (!id) {
			if (nmaps == cap) {
				cap = cap ? cap * 2 : 16;
				struct mapping *m = realloc(maps, cap * sizeof(*m));
				if (!m) {
					w->oom = true;
					break;
				}
				maps = m;
			}
			maps[nmaps] = (struct mapping){.path = fr->module, .file = file};
			id = (uint32_t)++nmaps;
			if (!map_set(&w->mapids, file, id)) {
				w->oom = true;
				break;
			}
		}
		struct mapping *m = &maps[id - 1];
		if (fr->addr && !m->have_start) {
			m->start = fr->addr >= fr->module_off ? fr->addr - fr->module_off : 0;
			m->have_start = true;
		}
		if (fr->addr && fr->addr + 1 > m->limit)
			m->limit = fr->addr + 1;
	}
	for (size_t i = 0; i < nmaps && !rc; i++) {
		put_mapping(w, v, (uint32_t)i + 1, &maps[i]);
		rc = flush_out(w, false);
	}
	free(maps);
	uint32_t unnamed_id = (uint32_t)nmaps + 1;
	if (!rc && (unnamed || other))
		put_mapping(w, v, unnamed_id, NULL);
	if (rc < 0 || (rc = flush_out(w, false)) < 0)
		return rc;

	for (size_t i = 0; i < v->nframes; i++) {
		const struct rec_frame *fr = &v->frames[i];
		if (!loc_of[i])
			continue;
		bool py = fr->kind == REC_PYTHON;
		uint32_t fid =
		    function_id(w, fr->function, py || fr->file[0] ? fr->file : fr->module);
		uint32_t mid = py              ? 0
		               : fr->module[0] ? map_get(&w->mapids, intern(w, fr->module))
		                               : unnamed_id;
		put_location(w, loc_of[i], mid, py ? 0 : fr->addr, fid, fr->line);
		if ((rc = flush_out(w, false)) < 0)
			return rc;
	}
	uint32_t other_loc = nloc + 1;
	if (other)
		put_location(w, other_loc, unnamed_id, 0, function_id(w, "(other stacks)", ""), 0);

	uint32_t k_thread = intern(w, "thread"), k_tid = intern(w, "tid");
	uint32_t k_state = intern(w, "state"), st[REC_ST_N], st_none;
	for (unsigned b = 0; b < REC_ST_N; b++)
		st[b] = intern(w, rec_state_names[b]);
	st_none = intern(w, "running without GIL");
	for (size_t i = 0; i < v->nstacks; i++) {
		const struct rec_stack *s = &v->stacks[i];
		if (s->other)
			put_varint(&w->in, other_loc);
		for (uint32_t k = s->nframes; k-- > 0 && !s->other;)
			if (s->frames[k] < v->nframes)
				put_varint(&w->in, loc_of[s->frames[k]]);
		if (w->in.n) /* Sample.location_id, packed */
			put_msg(&w->sub, 1, &w->in);
		put_varint(&w->in, s->samples);
		put_varint(&w->in, s->ns);
		put_msg(&w->sub, 2, &w->in); /* Sample.value, packed */
		if (s->thread < v->nthreads) {
			const struct rec_thread *t = &v->threads[s->thread];
			if (t->name[0])
				put_label(w, k_thread, intern(w, t->name), 0);
			put_label(w, k_tid, 0, (uint64_t)t->tid);
		}
		unsigned states = s->states & ((1u << REC_ST_N) - 1);
		for (unsigned b = 0; b < REC_ST_N; b++)
			if (states & (1u << b))
				put_label(w, k_state, st[b], 0);
		if (!states)
			put_label(w, k_state, st_none, 0);
		put_msg(&w->out, 2, &w->sub); /* Profile.sample */
		if ((rc = flush_out(w, false)) < 0)
			return rc;
	}
	if ((rc = flush_out(w, true)) < 0)
		return rc;
	/* Last, once every string is in: fields may come in any order. */
	return deflate_out(w, w->strs.tab.p, w->strs.tab.n, true);
}

int rec_write_pprof(FILE *f, const struct rec_view *v, struct mst_err *err)
{
	struct pw *w = calloc(1, sizeof(*w));
	uint32_t *loc_of = calloc(v->nframes ? v->nframes : 1, sizeof(*loc_of));
	int rc = -ENOMEM;
	if (!w || !loc_of)
		goto out;
	w->f = f;
	w->out.oom = w->sub.oom = w->in.oom = w->tmp.oom = w->strs.tab.oom = &w->oom;
	/* windowBits 15 + 16: the gzip wrapper pprof expects of a .pb.gz. */
	if (deflateInit2(&w->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
	                 Z_DEFAULT_STRATEGY) != Z_OK)
		goto out;
	rc = write_profile(w, v, loc_of);
	deflateEnd(&w->z);
out:
	if (rc == -ENOMEM || (w && w->oom))
		rc = mst_err_set(err, -ENOMEM, "out of memory writing the pprof profile");
	else if (rc == -EPROTO)
		rc = mst_err_set(err, -EPROTO, "cannot compress the pprof profile");
	else if (rc == 0 || rc == -EIO) {
		int wr = rec_check_write(f, "pprof profile", err);
		if (rc == -EIO && !wr)
			wr = mst_err_set(err, -EIO, "cannot write the pprof profile: %s",
			                 strerror(EIO));
		rc = wr;
	}
	if (w) {
		struct u64map *maps[] = {&w->strs.ids, &w->funcs, &w->mapids};
		for (size_t i = 0; i < 3; i++) {
			free(maps[i]->keys);
			free(maps[i]->vals);
		}
		struct buf *bufs[] = {&w->out, &w->sub, &w->in, &w->tmp, &w->strs.tab};
		for (size_t i = 0; i < 5; i++)
			free(bufs[i]->p);
		free(w->strs.v);
		free(w);
	}
	free(loc_of);
	return rc;
}
