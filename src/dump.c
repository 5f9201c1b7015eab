/* --dump: one snapshot as text (in the spirit of pystack's merged traceback)
 * or as JSON. Both walk the same list of display frames. */
#include "msttop/dump.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "msttop/merge.h"
#include "msttop/stack.h"
#include "msttop/proc.h"
#include "msttop/text.h"

#define MAX_SOURCE_FILES 256
#define MAX_SOURCE_BYTES (8u << 20)

struct source {
	char *path;
	char *text;    /* NULL when unreadable */
	size_t *lines; /* offsets of line starts */
	size_t nlines;
	UT_hash_handle hh;
};

static void jstr(FILE *f, const char *key, const char *val, bool comma);

struct ctx {
	FILE *out;
	const struct mst_snapshot *s;
	struct mst_symbols *sym;
	unsigned flags;
	struct source *sources;
	size_t nsources;
	struct mst_stack st;
};

/* The frames of thread t as shown: most recent call last, so they are
 * walked from the end of c->st; folded ones are skipped unless every
 * native frame is asked for. */
static void build(struct ctx *c, const struct mst_thread_snap *t)
{
	bool py_only = c->flags & MST_DUMP_PYTHON_ONLY;
	unsigned sf = (!py_only && c->sym ? MST_STACK_NATIVE : 0) |
	              (c->flags & MST_DUMP_NATIVE_ALL ? 0 : MST_STACK_SKIP_FOLDED);
	mst_stack_build(&c->st, t, c->sym, sf);
}

static bool shown(const struct ctx *c, const struct mst_frame *f)
{
	return f->py || !(f->flags & MST_MF_FOLDED) || (c->flags & MST_DUMP_NATIVE_ALL);
}

static struct source *load_source(struct ctx *c, const char *file)
{
	struct source *src;
	HASH_FIND_STR(c->sources, file, src);
	if (src)
		return src;
	if (c->nsources >= MAX_SOURCE_FILES)
		return NULL;
	src = calloc(1, sizeof(*src));
	if (!src || !(src->path = strdup(file))) {
		free(src);
		return NULL;
	}
	HASH_ADD_KEYPTR(hh, c->sources, src->path, strlen(src->path), src);
	c->nsources++;
	if (file[0] == '<')
		return src; /* "<string>", "<frozen importlib._bootstrap>" */
	/* Through the target's root: the file it ran, even in a container; a
	 * relative name (3.6-3.8 keep the script's as given) from its cwd. A
	 * core's process is gone (and its pid may be another's now): an
	 * absolute path as it is; its cwd is not known. */
	char path[4200];
	if (c->s->core && file[0] != '/')
		return src;
	if (c->s->core)
		snprintf(path, sizeof(path), "%s", file);
	else
		snprintf(path, sizeof(path), "/proc/%d/%s%s%s", (int)c->s->pid,
		         file[0] == '/' ? "root" : "cwd", file[0] == '/' ? "" : "/", file);
	FILE *f = fopen(path, "re");
	if (!f)
		return src;
	size_t cap = 65536, len = 0;
	char *text = malloc(cap);
	size_t r;
	while (text && (r = fread(text + len, 1, cap - len - 1, f)) > 0) {
		len += r;
		if (cap - len < 2) {
			if (cap >= MAX_SOURCE_BYTES)
				break;
			char *nt = realloc(text, cap * 2);
			if (!nt)
				break;
			text = nt;
			cap *= 2;
		}
	}
	fclose(f);
	if (!text)
		return src;
	text[len] = '\0';
	size_t nl = 1;
	for (size_t i = 0; i < len; i++)
		nl += text[i] == '\n';
	src->lines = malloc(nl * sizeof(*src->lines));
	if (!src->lines) {
		free(text);
		return src;
	}
	src->lines[src->nlines++] = 0;
	for (size_t i = 0; i < len; i++)
		if (text[i] == '\n' && i + 1 < len)
			src->lines[src->nlines++] = i + 1;
	src->text = text;
	return src;
}

/* The source line, stripped of indentation, into buf; false if unknown. */
static bool source_line(struct ctx *c, const char *file, int line, char *buf, size_t len)
{
	if (!file || line <= 0 || (c->flags & MST_DUMP_NO_SOURCE))
		return false;
	struct source *src = load_source(c, file);
	if (!src || !src->text || (size_t)line > src->nlines)
		return false;
	const char *p = src->text + src->lines[line - 1];
	while (*p == ' ' || *p == '\t')
		p++;
	size_t n = strcspn(p, "\r\n");
	if (n == 0)
		return false;
	char raw[1024];
	snprintf(raw, sizeof(raw), "%.*s", (int)n, p);
	mst_text_escape(raw, buf, len);
	return true;
}

/* Everything a dump holds: the source files read, the stack's memory. */
static void ctx_fini(struct ctx *c)
{
	struct source *src, *tmp;
	HASH_ITER(hh, c->sources, src, tmp)
	{
		HASH_DEL(c->sources, src);
		free(src->path);
		free(src->text);
		free(src->lines);
		free(src);
	}
	mst_stack_fini(&c->st);
}

void mst_dump_states(const struct mst_snapshot *s, const struct mst_thread_snap *t, char *buf,
                     size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
#define PUT(str) o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%s", o ? ", " : "", str)
	unsigned st = t->states;
	/* /proc said R just before the stop, but the thread was caught in a
	 * sleeping system call: it sleeps. */
	PUT(t->state == 'R' && !(st & MST_TS_RUNNING) && t->npcs ? "sleeping"
	                                                         : mst_proc_state_name(t->state));
	if (st & MST_TS_HOLDS_GIL)
		PUT("holds GIL");
	if (st & MST_TS_WAITS_GIL)
		PUT("waits for GIL");
	if (st & MST_TS_DROPS_GIL)
		PUT("drops GIL");
	if (st & MST_TS_IN_GC)
		PUT("in GC");
	if ((st & MST_TS_IDLE) && t->state != 'S' && t->state != 'R')
		PUT("idle");
	if (s->py_status == 0 && !(st & MST_TS_PYTHON))
		PUT("native only");
#undef PUT
}

static void text_native(struct ctx *c, const struct mst_frame *d)
{
	char a[1024], b[1024];
	FILE *out = c->out;
	fprintf(out, "    (C) 0x%016" PRIx64 " ", d->pc);
	const struct mst_native_frame *f = d->resolved ? &d->nat : NULL;
	fprintf(out, "%s%s", mst_text_escape(d->label, a, sizeof(a)),
	        f && f->func && f->inlined ? " (inlined)" : "");
	if (f && f->file)
		fprintf(out, " at %s:%d", mst_text_escape(f->file, a, sizeof(a)), f->line);
	if (f && f->module)
		fprintf(out, " [%s]", mst_text_escape(f->module, b, sizeof(b)));
	if (d->flags & MST_MF_UNMATCHED)
		fputs(" (no Python frames left to match)", out);
	fputc('\n', out);
}

/* The locals of Python frame d of t, when the snapshot read them. */
static const struct mst_py_locals *frame_locals(const struct mst_thread_snap *t,
                                                const struct mst_frame *d)
{
	if (!d->py || !t->locals || t->nlocals != t->npy || d->py < t->py ||
	    d->py >= t->py + t->npy)
		return NULL;
	return &t->locals[d->py - t->py];
}

/* What a truncated value's length counts. */
static const char *length_unit(const struct mst_py_local *v)
{
	if (v->type && !strcmp(v->type, "str"))
		return "chars";
	if (v->type && !strcmp(v->type, "bytes"))
		return "bytes";
	return "items";
}

/* Arguments, then the other locals, under their frame: "name = repr". */
static void text_locals(struct ctx *c, const struct mst_py_locals *l)
{
	char name[1100], repr[4 * MST_PY_REPR_MAX + 16];
	if (l->error) {
		fprintf(c->out, "        (locals not read: %s)\n",
		        mst_text_escape(l->msg, repr, sizeof(repr)));
		return;
	}
	for (int args = 1; args >= 0; args--) {
		bool head = false;
		for (size_t i = 0; i < l->n; i++) {
			const struct mst_py_local *v = &l->v[i];
			if ((v->kind == MST_PY_LOCAL_ARG) != args)
				continue;
			if (!head)
				fprintf(c->out, "        %s\n", args ? "Arguments:" : "Locals:");
			head = true;
			fprintf(c->out, "            %s = %s",
			        mst_text_escape(v->name, name, sizeof(name)),
			        mst_text_escape(v->repr, repr, sizeof(repr)));
			if (v->truncated && v->length >= 0)
				fprintf(c->out, " (%" PRId64 " %s)", v->length, length_unit(v));
			if (v->cell || v->kind == MST_PY_LOCAL_CELL)
				fputs(" (cell)", c->out);
			else if (v->kind == MST_PY_LOCAL_FREE)
				fputs(" (free)", c->out);
			fputc('\n', c->out);
		}
	}
	if (l->omitted)
		fprintf(c->out, "        (%zu more locals not shown)\n", l->omitted);
}

static void text_python(struct ctx *c, const struct mst_frame *d)
{
	char a[1024], b[4200], line[1024];
	const struct mst_py_frame *f = d->py;
	fprintf(c->out, "    (Python) %s at %s:%d%s\n", mst_text_escape(f->func, a, sizeof(a)),
	        mst_text_escape(f->file, b, sizeof(b)), f->line,
	        d->flags & MST_MF_UNMATCHED ? " (no native eval frame matched)" : "");
	if (source_line(c, f->file, f->line, line, sizeof(line)))
		fprintf(c->out, "        %s\n", line);
}

static void jlocals(FILE *out, const struct mst_py_locals *l)
{
	fputs("\"locals\":[", out);
	for (size_t i = 0; i < l->n; i++) {
		const struct mst_py_local *v = &l->v[i];
		fputs(i ? ",{" : "{", out);
		jstr(out, "name", v->name, true);
		jstr(out, "kind", mst_py_local_kind_name(v->kind), true);
		fprintf(out, "\"cell\":%s,",
		        v->cell || v->kind == MST_PY_LOCAL_CELL ? "true" : "false");
		jstr(out, "type", v->type, true);
		jstr(out, "repr", v->repr, true);
		fprintf(out, "\"address\":\"0x%" PRIx64 "\",", v->addr);
		if (v->length >= 0)
			fprintf(out, "\"length\":%" PRId64 ",", v->length);
		else
			fputs("\"length\":null,", out);
		fprintf(out, "\"truncated\":%s}", v->truncated ? "true" : "false");
	}
	fprintf(out, "],\"locals_omitted\":%zu,", l->omitted);
	jstr(out, "locals_error", l->error ? l->msg : NULL, true);
}

static int finish(FILE *out)
{
	if (fflush(out) != 0 || ferror(out))
		return errno == EPIPE ? -EPIPE : -EIO;
	return 0;
}

int mst_dump_text(FILE *out, const struct mst_snapshot *s, struct mst_symbols *sym, unsigned flags)
{
	struct ctx c = {.out = out, .s = s, .sym = sym, .flags = flags};
	char a[4200], b[256];
	if (s->core) {
		fprintf(out, "Core file %s",
		        mst_text_escape(mst_corefile_path(s->core), a, sizeof(a)));
		fprintf(out, " of process %d: %s\n", (int)s->pid,
		        s->cmdline[0] ? mst_text_escape(s->cmdline, a, sizeof(a)) : "?");
		int sig = mst_corefile_signal(s->core);
		if (sig > 0 && s->nthreads)
			fprintf(out, "Signal %d (SIG%s), in thread %d\n", sig,
			        sigabbrev_np(sig) ? sigabbrev_np(sig) : "?",
			        (int)s->threads[0].tid);
		/* What the core could not give, before what it gave. */
		const char *n = mst_corefile_notes(s->core);
		while (*n) {
			size_t len = strcspn(n, "\n");
			fprintf(out, "Missing: %.*s\n", (int)len, n);
			n += len + (n[len] == '\n');
		}
	} else {
		fprintf(out, "Process %d: %s\n", (int)s->pid,
		        s->cmdline[0] ? mst_text_escape(s->cmdline, a, sizeof(a)) : "?");
	}
	if (s->py_status == 0) {
		fprintf(out, "Python %s", s->py_version);
		if (s->gc_collecting) {
			pid_t gc = 0;
			for (size_t i = 0; i < s->nthreads && !gc; i++)
				if (s->threads[i].states & MST_TS_IN_GC)
					gc = s->threads[i].tid;
			if (gc)
				fprintf(out, ", garbage collection running in thread %d", (int)gc);
			else
				fputs(", garbage collection running (the collecting thread is "
				      "unknown: the interpreter has no symbols for the collector)",
				      out);
		}
		if (s->orphan_tstates)
			fprintf(out, ", %zu Python thread state(s) with no OS thread",
			        s->orphan_tstates);
		fputc('\n', out);
		if (s->py_note[0])
			fprintf(out, "Note: %s\n", s->py_note);
	} else {
		fprintf(out, "%s: native stacks only\n",
		        mst_text_escape(s->py_msg[0] ? s->py_msg : "no Python runtime found", a,
		                        sizeof(a)));
	}
	for (size_t i = 0; i < s->nthreads; i++) {
		const struct mst_thread_snap *t = &s->threads[i];
		mst_dump_states(s, t, b, sizeof(b));
		fprintf(out, "\nThread %d", (int)t->tid);
		if (t->pyname[0]) {
			char n1[256], n2[64];
			fprintf(out, " \"%s\" [%s]", mst_text_escape(t->pyname, n1, sizeof(n1)),
			        mst_text_escape(t->comm, n2, sizeof(n2)));
		} else {
			char n2[64];
			fprintf(out, " \"%s\"", mst_text_escape(t->comm, n2, sizeof(n2)));
		}
		fprintf(out, " (%s)\n", b);
		if (t->error && !t->npy) {
			fprintf(out, "    (no stack: %s)\n",
			        mst_text_escape(t->errmsg, a, sizeof(a)));
			continue;
		}
		if (t->error)
			fprintf(out, "    (no native stack: %s)\n",
			        mst_text_escape(t->errmsg, a, sizeof(a)));
		build(&c, t);
		for (size_t k = c.st.n; k-- > 0;) {
			const struct mst_frame *f = &c.st.v[k];
			if (!shown(&c, f))
				continue;
			if (f->py) {
				text_python(&c, f);
				const struct mst_py_locals *l = frame_locals(t, f);
				if (l)
					text_locals(&c, l);
			} else
				text_native(&c, f);
		}
		if (t->py_truncated)
			fputs("    (Python frames truncated: the chain changed or hit the "
			      "depth bound)\n",
			      out);
		if ((flags & MST_DUMP_PYTHON_ONLY) && !t->npy)
			fputs("    (no Python frames)\n", out);
	}
	ctx_fini(&c);
	return finish(out);
}

static void jstr(FILE *f, const char *key, const char *val, bool comma)
{
	fprintf(f, "\"%s\":", key);
	if (val) {
		fputc('"', f);
		mst_json_string(f, val);
		fputc('"', f);
	} else {
		fputs("null", f);
	}
	if (comma)
		fputc(',', f);
}

int mst_dump_json(FILE *out, const struct mst_snapshot *s, struct mst_symbols *sym, unsigned flags)
{
	struct ctx c = {.out = out, .s = s, .sym = sym, .flags = flags};
	fprintf(out, "{\"pid\":%d,", (int)s->pid);
	jstr(out, "command", s->cmdline, true);
	if (s->core) {
		fputs("\"core\":{", out);
		jstr(out, "file", mst_corefile_path(s->core), true);
		int sig = mst_corefile_signal(s->core);
		fprintf(out, "\"signal\":%d,\"signal_thread\":%d,\"missing\":[", sig,
		        sig > 0 && s->nthreads ? (int)s->threads[0].tid : 0);
		const char *n = mst_corefile_notes(s->core);
		for (bool first = true; *n; first = false) {
			size_t len = strcspn(n, "\n");
			char line[MST_ERR_MSG_MAX * 2];
			snprintf(line, sizeof(line), "%.*s", (int)len, n);
			fputs(first ? "\"" : ",\"", out);
			mst_json_string(out, line);
			fputc('"', out);
			n += len + (n[len] == '\n');
		}
		fputs("]},", out);
	} else {
		fputs("\"core\":null,", out);
	}
	if (s->py_status == 0) {
		fputs("\"python\":{", out);
		jstr(out, "version", s->py_version, true);
		if (s->py_note[0])
			jstr(out, "note", s->py_note, true);
		fprintf(out, "\"gc_known\":%s,\"gc_collecting\":%s,\"orphan_thread_states\":%zu},",
		        s->gc_known ? "true" : "false", s->gc_collecting ? "true" : "false",
		        s->orphan_tstates);
		fputs("\"python_error\":null,", out);
	} else {
		fputs("\"python\":null,", out);
		jstr(out, "python_error", s->py_msg, true);
	}
	fputs("\"threads\":[", out);
	for (size_t i = 0; i < s->nthreads; i++) {
		const struct mst_thread_snap *t = &s->threads[i];
		unsigned st = t->states;
		fprintf(out, "%s{\"tid\":%d,", i ? "," : "", (int)t->tid);
		jstr(out, "name", t->pyname[0] ? t->pyname : NULL, true);
		jstr(out, "os_name", t->comm, true);
		jstr(out, "state", mst_proc_state_name(t->state), true);
		fprintf(out,
		        "\"python\":%s,\"holds_gil\":%s,\"waits_gil\":%s,\"drops_gil\":%s,"
		        "\"in_gc\":%s,\"idle\":%s,",
		        st & MST_TS_PYTHON ? "true" : "false",
		        st & MST_TS_HOLDS_GIL ? "true" : "false",
		        st & MST_TS_WAITS_GIL ? "true" : "false",
		        st & MST_TS_DROPS_GIL ? "true" : "false",
		        st & MST_TS_IN_GC ? "true" : "false", st & MST_TS_IDLE ? "true" : "false");
		jstr(out, "error", t->error ? t->errmsg : NULL, true);
		fprintf(out, "\"python_truncated\":%s,\"frames\":[",
		        t->py_truncated ? "true" : "false");
		build(&c, t);
		bool first = true;
		for (size_t k = c.st.n; k-- > 0;) {
			const struct mst_frame *d = &c.st.v[k];
			if (!shown(&c, d))
				continue;
			fputs(first ? "{" : ",{", out);
			first = false;
			if (d->py) {
				char line[1024];
				fputs("\"kind\":\"python\",", out);
				jstr(out, "function", d->py->func, true);
				jstr(out, "file", d->py->file, true);
				fprintf(out, "\"line\":%d,", d->py->line);
				jstr(out, "source",
				     source_line(&c, d->py->file, d->py->line, line, sizeof(line))
				         ? line
				         : NULL,
				     true);
				const struct mst_py_locals *l = frame_locals(t, d);
				if (l)
					jlocals(out, l);
			} else {
				const struct mst_native_frame *f = d->resolved ? &d->nat : NULL;
				fputs("\"kind\":\"native\",", out);
				fprintf(out, "\"address\":\"0x%" PRIx64 "\",", d->pc);
				jstr(out, "function", f ? f->func : NULL, true);
				jstr(out, "file", f ? f->file : NULL, true);
				fprintf(out, "\"line\":%d,", f && f->file ? f->line : 0);
				jstr(out, "module", f ? f->module : NULL, true);
				fprintf(out,
				        "\"offset\":\"0x%" PRIx64
				        "\",\"inlined\":%s,\"folded\":%s,",
				        f ? f->module_off : 0, f && f->inlined ? "true" : "false",
				        d->flags & MST_MF_FOLDED ? "true" : "false");
			}
			fprintf(out, "\"unmatched\":%s}",
			        d->flags & MST_MF_UNMATCHED ? "true" : "false");
		}
		fputs("]}", out);
	}
	fputs("]}\n", out);
	ctx_fini(&c);
	return finish(out);
}
