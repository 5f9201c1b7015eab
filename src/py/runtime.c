/* Runtime discovery: find the ELF object that holds CPython in a target
 * (a mapped libpython first, else the main executable), its exact version,
 * and the target addresses of the globals the decoder starts from.
 * Layout facts cited here come from docs/cpython-internals.md §1. */
#include "msttop/py_runtime.h"
#include "collector-int.h"

#include <ctype.h>
#include <elf.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "msttop/elfsym.h"

/* Newest and oldest versions msttop decodes. */
#define MIN_MINOR 6

/* Distinct libpython paths considered; a process maps one, an odd embedder
 * maybe two. */
#define MAX_CANDIDATES 8

/* Largest .rodata scanned for the version string (Debian's static python3.11
 * has 2 MiB). */
#define RODATA_MAX (64u << 20)

/* Where the object holding CPython is mapped, before it is opened. */
struct candidate {
	const struct mst_map *map;  /* a mapping of the file (offset 0 preferred) */
	int name_major, name_minor; /* from the file name, -1 when unknown */
};

/* ---- file names ---------------------------------------------------------- */

/* Parse "X.Y" at s into major/minor; returns the characters consumed or 0. */
static size_t parse_xy(const char *s, int *major, int *minor)
{
	const char *p = s;
	long a, b;
	char *end;
	if (!isdigit((unsigned char)*p))
		return 0;
	a = strtol(p, &end, 10);
	if (*end != '.' || !isdigit((unsigned char)end[1]) || a > 9)
		return 0;
	b = strtol(end + 1, &end, 10);
	if (b > 99)
		return 0;
	*major = (int)a;
	*minor = (int)b;
	return (size_t)(end - s);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* libpythonX.Y[dmut]*.so[.digits...]: 3.6/3.7 are "libpython3.6m.so.1.0",
 * 3.13t is "libpython3.13t.so.1.0". libpython3.so (the stable-ABI shim)
 * does not match: it has no minor version and defines nothing. */
static bool libpython_name(const char *path, int *major, int *minor)
{
	const char *b = base_name(path), *p;
	size_t n;
	if (strncmp(b, "libpython", 9))
		return false;
	n = parse_xy(b + 9, major, minor);
	if (!n)
		return false;
	p = b + 9 + n;
	while (*p && strchr("dmut", *p))
		p++;
	if (strncmp(p, ".so", 3))
		return false;
	for (p += 3; *p; p++)
		if (!isdigit((unsigned char)*p) && *p != '.')
			return false;
	return true;
}

/* pythonX.Y... (Debian's /usr/bin/python3.11): the minor, or -1. */
static void exe_name_version(const char *path, int *major, int *minor)
{
	const char *b = base_name(path);
	*major = *minor = -1;
	if (!strncmp(b, "python", 6) && !parse_xy(b + 6, major, minor))
		*major = *minor = -1;
}

/* ---- candidates -------------------------------------------------------- */

/* The first mapping of path, preferring the one at file offset 0. */
static const struct mst_map *map_of(const struct mst_maps *maps, const char *path)
{
	const struct mst_map *first = NULL;
	for (size_t i = 0; i < maps->n; i++) {
		const struct mst_map *m = &maps->v[i];
		if (!m->path || strcmp(m->path, path))
			continue;
		if (m->offset == 0)
			return m;
		if (!first)
			first = m;
	}
	return first;
}

static size_t libpython_candidates(const struct mst_maps *maps, struct candidate *c, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < maps->n && n < max; i++) {
		const struct mst_map *m = &maps->v[i];
		int major, minor;
		bool dup = false;
		if (!m->path || m->path[0] != '/' || !libpython_name(m->path, &major, &minor))
			continue;
		for (size_t j = 0; j < n; j++)
			dup |= !strcmp(c[j].map->path, m->path);
		if (dup)
			continue;
		c[n].map = map_of(maps, m->path);
		c[n].name_major = major;
		c[n].name_minor = minor;
		n++;
	}
	return n;
}

/* The mapping of the main executable: /proc/PID/exe names it as the maps do
 * (both are resolved in the reader's view of the target's root); a core's
 * maps name it themselves. */
static const struct mst_map *exe_map(pid_t pid, const struct mst_maps *maps)
{
	char link[64], path[PATH_MAX];
	static const char del[] = " (deleted)";
	ssize_t n;
	if (maps->exe || pid <= 0)
		return maps->exe ? map_of(maps, maps->exe) : NULL;
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return NULL;
	path[n] = '\0';
	if ((size_t)n > sizeof(del) - 1 && !strcmp(path + n - (sizeof(del) - 1), del))
		path[n - (sizeof(del) - 1)] = '\0';
	return map_of(maps, path);
}

static bool defines(struct mst_elf *e, const char *name)
{
	return mst_elf_lookup(e, name, NULL, NULL) == 0;
}

/* A CPython (any major) defines Py_Initialize; programs that only link
 * against libpython have it undefined, which mst_elf_lookup ignores. A
 * program with CPython linked in statically and stripped of every symbol
 * still has 3.10+'s .PyRuntime section. */
static bool is_python(struct mst_elf *e)
{
	uint64_t a, size;
	return defines(e, "Py_Initialize") ||
	       (mst_elf_section(e, ".PyRuntime", &a, &size) == 0 && size > 0);
}

/* ---- version ---------------------------------------------------------- */

static uint32_t version_hex(int major, int minor, int micro, int level, int serial)
{
	return (uint32_t)major << 24 | (uint32_t)minor << 16 | (uint32_t)micro << 8 |
	       (uint32_t)level << 4 | (uint32_t)serial;
}

static void set_version(struct mst_py_runtime_info *out, uint32_t hex)
{
	out->version_hex = hex;
	out->major = (int)(hex >> 24);
	out->minor = (int)((hex >> 16) & 255);
	out->micro = (int)((hex >> 8) & 255);
	out->level = (int)((hex >> 4) & 15);
	out->serial = (int)(hex & 15);
}

/* Match "M.N.P((a|b|rc)S)?+?\0" at p (not past end); fill *hex. The left side
 * is unanchored on purpose: the linker merges string tails, so pyenv's
 * PY_VERSION is the tail of "/root/.pyenv/versions/3.12.1" (§1.3). */
static bool match_version(const uint8_t *p, const uint8_t *end, int major, uint32_t *hex,
                          int *minor_out)
{
	long v[3] = {0, 0, 0};
	int level = 0xf, serial = 0;
	for (int k = 0; k < 3; k++) {
		int digits = 0;
		while (p < end && isdigit(*p) && digits < 3) {
			v[k] = v[k] * 10 + (*p - '0');
			p++;
			digits++;
		}
		if (!digits || (p < end && isdigit(*p)))
			return false;
		if (k < 2) {
			if (p >= end || *p != '.')
				return false;
			p++;
		}
	}
	if (v[0] != major || v[1] > 255 || v[2] > 255)
		return false;
	if (p < end && (*p == 'a' || *p == 'b' || *p == 'r')) {
		if (*p == 'r') {
			if (end - p < 2 || p[1] != 'c')
				return false;
			level = 0xc;
			p += 2;
		} else {
			level = *p == 'a' ? 0xa : 0xb;
			p++;
		}
		if (p >= end || !isdigit(*p))
			return false;
		serial = *p++ - '0';
		if (p < end && isdigit(*p))
			return false;
	}
	if (p < end && *p == '+')
		p++;
	if (p >= end || *p != '\0')
		return false;
	*hex = version_hex(major, (int)v[1], (int)v[2], level, serial);
	*minor_out = (int)v[1];
	return true;
}

/* ≤ 3.10 (and Python 2): search .rodata for the PY_VERSION string of the
 * given major, and of minor want_minor when it is known (>= 0). With the minor
 * unknown, minors 0-3 are skipped: "3.2.0" is the Unicode version of
 * unicodedata's legacy database and sits in every 3.x binary (Debian's). */
static int version_from_rodata(struct mst_elf *e, int major, int want_minor,
                               struct mst_py_runtime_info *out, struct mst_err *err)
{
	uint64_t addr, size;
	uint8_t *data;
	uint32_t found = 0;
	int nfound = 0;
	if (mst_elf_section(e, ".rodata", &addr, &size) < 0 || size == 0)
		return mst_err_set(err, -MST_ENOPYTHON, "%s: no .rodata to find the version in",
		                   out->module_path);
	if (size > RODATA_MAX)
		size = RODATA_MAX;
	data = malloc(size);
	if (!data)
		return mst_err_set(err, -ENOMEM, "out of memory");
	if (mst_elf_read(e, addr, data, size) < 0) {
		free(data);
		return mst_err_set(err, -MST_ENOPYTHON, "%s: cannot read .rodata",
		                   out->module_path);
	}
	for (size_t i = 0; i + 6 <= size; i++) {
		uint32_t hex;
		int minor;
		if (data[i] != '0' + major || data[i + 1] != '.')
			continue;
		if (i > 0 && (isdigit(data[i - 1]) || data[i - 1] == '.'))
			continue;
		if (!match_version(data + i, data + size, major, &hex, &minor))
			continue;
		if (want_minor >= 0 ? minor != want_minor : minor <= 3)
			continue;
		if (!nfound)
			found = hex;
		else if (hex != found)
			out->version_ambiguous = true;
		nfound++;
	}
	free(data);
	if (!nfound) {
		char mn[16] = "N";
		if (want_minor >= 0)
			snprintf(mn, sizeof(mn), "%d", want_minor);
		return mst_err_set(err, -MST_ENOPYTHON,
		                   "%s: no version string %d.%s.x in its read-only data",
		                   out->module_path, major, mn);
	}
	set_version(out, found);
	out->version_source = MST_PY_VERSION_STRING;
	return 0;
}

static int detect_version(struct mst_elf *e, const struct candidate *c, const struct mst_reader *r,
                          struct mst_py_runtime_info *out, struct mst_err *err)
{
	uint64_t value;
	int major = c->name_major, minor = c->name_minor, rc;

	/* Python 2 defines PyString_Type; 3.x has no such type. */
	if (major == 2 || (major < 0 && defines(e, "PyString_Type")))
		major = 2;
	else
		major = 3;
	if (major == 3 && mst_elf_lookup(e, "Py_Version", &value, NULL) == 0) {
		/* 3.11+: const unsigned long Py_Version = PY_VERSION_HEX, in .rodata;
		 * from the file, else from memory. */
		uint64_t v = 0;
		out->py_version_addr = out->bias + value;
		if (mst_elf_read(e, value, &v, sizeof(v)) < 0) {
			rc = mst_read(r, out->py_version_addr, &v, sizeof(v));
			if (rc < 0)
				return mst_err_set(err, rc, "cannot read Py_Version at 0x%" PRIx64,
				                   out->py_version_addr);
		}
		if (v >> 32 || (v >> 24) != 3)
			return mst_err_set(err, -MST_ECORRUPT, "%s: Py_Version reads 0x%" PRIx64,
			                   out->module_path, v);
		set_version(out, (uint32_t)v);
		out->version_source = MST_PY_VERSION_PY_VERSION;
		if (minor >= 0 && out->minor != minor)
			return mst_err_set(err, -MST_ECORRUPT,
			                   "%s: Py_Version says 3.%d but the file name 3.%d",
			                   out->module_path, out->minor, minor);
		return 0;
	}
	return version_from_rodata(e, major, minor, out, err);
}

static const char *level_name(int level)
{
	switch (level) {
	case 0xa:
		return "a";
	case 0xb:
		return "b";
	case 0xc:
		return "rc";
	default:
		return "";
	}
}

static int check_supported(const struct mst_py_runtime_info *out, struct mst_err *err)
{
	char v[32];
	if (out->level == 0xf)
		snprintf(v, sizeof(v), "%d.%d.%d", out->major, out->minor, out->micro);
	else
		snprintf(v, sizeof(v), "%d.%d.%d%s%d", out->major, out->minor, out->micro,
		         level_name(out->level), out->serial);
	/* No upper bound here: from 3.13 on, the runtime's own debug offsets
	 * say whether its layout is one msttop can read (py_layout.h). */
	if (out->major != 3 || out->minor < MIN_MINOR)
		return mst_err_set(
		    err, -MST_EUNSUPPORTED,
		    "Python %s (%s) is not supported: msttop reads CPython 3.%d and later", v,
		    out->module_path, MIN_MINOR);
	/* 3.7.0-3.7.3 lay out _PyRuntimeState differently from 3.7.4+
	 * (gilstate.tstate_current at 1392, not 1480) and were never measured. */
	if (out->minor == 7 && out->micro < 4)
		return mst_err_set(err, -MST_EUNSUPPORTED,
		                   "Python %s is not supported: 3.7.0-3.7.3 have another "
		                   "_PyRuntimeState layout than 3.7.4+",
		                   v);
	/* Pre-releases may move fields (3.8.0 alphas/betas moved
	 * interpreters.head): only release candidates and finals are trusted. */
	if (out->level == 0xa || out->level == 0xb)
		return mst_err_set(err, -MST_EUNSUPPORTED,
		                   "Python %s is a pre-release: its layout is unknown", v);
	return 0;
}

/* ---- addresses ----------------------------------------------------------- */

static uint64_t sym_addr(struct mst_elf *e, uint64_t bias, const char *name, bool *found)
{
	uint64_t v;
	bool ok = mst_elf_lookup(e, name, &v, NULL) == 0;
	if (found)
		*found = ok;
	return ok ? bias + v : 0;
}

static void add_eval_range(struct mst_elf *e, struct mst_py_runtime_info *out, const char *name)
{
	uint64_t v, size;
	if (out->n_eval >= MST_PY_EVAL_RANGES_MAX || mst_elf_lookup(e, name, &v, &size) < 0 ||
	    size == 0)
		return;
	out->eval[out->n_eval].start = out->bias + v;
	out->eval[out->n_eval].end = out->bias + v + size;
	out->n_eval++;
}

/* 3.13+ _Py_DebugOffsets at _PyRuntime + 0 (§1.4): cookie[8] "xdebugpy",
 * version (PY_VERSION_HEX), free_threaded; positions fixed since 3.13.0. */
static int check_debug_offsets(const struct mst_reader *r, struct mst_py_runtime_info *out,
                               struct mst_err *err)
{
	struct {
		char cookie[8];
		uint64_t version;
		uint64_t free_threaded;
	} head;
	int rc = mst_read(r, out->runtime, &head, sizeof(head));
	if (rc < 0)
		return mst_err_set(err, rc, "cannot read _PyRuntime.debug_offsets at 0x%" PRIx64,
		                   out->runtime);
	if (memcmp(head.cookie, "xdebugpy", 8))
		return mst_err_set(err, -MST_ECORRUPT,
		                   "_PyRuntime at 0x%" PRIx64 " lacks the \"xdebugpy\" cookie",
		                   out->runtime);
	if ((head.version >> 16) != (out->version_hex >> 16))
		return mst_err_set(err, -MST_ECORRUPT,
		                   "_PyRuntime.debug_offsets.version 0x%" PRIx64
		                   " disagrees with Py_Version 0x%08" PRIx32,
		                   head.version, out->version_hex);
	out->has_debug_offsets = true;
	out->debug_offsets_version = head.version;
	if (head.free_threaded)
		return mst_err_set(err, -MST_EUNSUPPORTED,
		                   "Python %d.%d.%d is a free-threaded build: not supported",
		                   out->major, out->minor, out->micro);
	return 0;
}

static int find_runtime(struct mst_elf *e, const struct mst_reader *r,
                        struct mst_py_runtime_info *out, struct mst_err *err)
{
	uint64_t v, size, word;
	int rc;
	if (mst_elf_lookup(e, "_PyRuntime", &v, &size) == 0) {
		out->runtime_source = MST_PY_RUNTIME_SYMBOL;
	} else if (out->minor >= 10 && mst_elf_section(e, ".PyRuntime", &v, &size) == 0) {
		/* 3.10+ put _PyRuntime in its own section, which strip keeps. */
		out->runtime_source = MST_PY_RUNTIME_SECTION;
	} else {
		return mst_err_set(err, -MST_ENOPYTHON,
		                   "%s: Python %d.%d.%d without a _PyRuntime symbol%s",
		                   out->module_path, out->major, out->minor, out->micro,
		                   out->minor >= 10 ? " or .PyRuntime section" : "");
	}
	out->runtime = out->bias + v;
	out->runtime_size = size;
	rc = mst_read(r, out->runtime, &word, sizeof(word));
	if (rc < 0)
		return mst_err_set(err, rc, "cannot read _PyRuntime at 0x%" PRIx64, out->runtime);
	if (out->minor >= 13)
		return check_debug_offsets(r, out, err);
	return 0;
}

/* The module's extent: its file mappings plus the anonymous mapping right
 * after the last one, where the tail of .bss lives (3.7-3.9 _PyRuntime is
 * in .bss, and lands there). */
static void module_extent(const struct mst_maps *maps, const char *path,
                          struct mst_py_runtime_info *out)
{
	size_t last = maps->n;
	for (size_t i = 0; i < maps->n; i++) {
		const struct mst_map *m = &maps->v[i];
		if (!m->path || strcmp(m->path, path))
			continue;
		if (!out->module_start || m->start < out->module_start)
			out->module_start = m->start;
		if (m->end > out->module_end) {
			out->module_end = m->end;
			last = i;
		}
	}
	if (last + 1 < maps->n && !maps->v[last + 1].path &&
	    maps->v[last + 1].start == out->module_end)
		out->module_end = maps->v[last + 1].end;
}

/* Everything from the chosen object; e is open. */
static int inspect(const struct mst_maps *maps, const struct mst_reader *r, struct mst_elf *e,
                   const struct candidate *c, struct mst_py_runtime_info *out, struct mst_err *err)
{
	int rc;
	out->elf_type = mst_elf_type(e);
	out->stripped = !mst_elf_has_symtab(e);
	snprintf(out->build_id, sizeof(out->build_id), "%s", mst_elf_build_id(e));
	module_extent(maps, c->map->path, out);
	if (mst_elf_bias(e, maps, c->map->path, &out->bias) < 0)
		return mst_err_set(err, -MST_ENOPYTHON, "%s: cannot compute its load bias",
		                   out->module_path);

	rc = detect_version(e, c, r, out, err);
	if (rc < 0)
		return rc;
	rc = check_supported(out, err);
	if (rc < 0)
		return rc;

	out->code_type = sym_addr(e, out->bias, "PyCode_Type", NULL);
	out->unicode_type = sym_addr(e, out->bias, "PyUnicode_Type", NULL);
	out->bytes_type = sym_addr(e, out->bias, "PyBytes_Type", NULL);
	out->frame_type = sym_addr(e, out->bias, "PyFrame_Type", NULL);
	out->none = sym_addr(e, out->bias, "_Py_NoneStruct", NULL);
	add_eval_range(e, out, "_PyEval_EvalFrameDefault");
	/* The 3.11/3.12 builds split off _PyEval_EvalFrameDefault.cold (a local
	 * symbol): reached by a jump, so a PC there is the same activation. */
	add_eval_range(e, out, "_PyEval_EvalFrameDefault.cold");
	if (out->n_eval == 1) {
		/* Stripped: the fragment has lost its name (3.14+ PGO builds
		 * run most of the loop there). */
		struct mst_py_range cold[2];
		size_t ncold = 0;
		uint64_t lo = out->eval[0].start - out->bias, hi = out->eval[0].end - out->bias;
		if (mst_py_cold_parts(e, lo, hi, cold, 2, &ncold) == 0)
			for (size_t i = 0; i < ncold && out->n_eval < MST_PY_EVAL_RANGES_MAX; i++) {
				out->eval[out->n_eval].start = out->bias + cold[i].lo;
				out->eval[out->n_eval].end = out->bias + cold[i].hi;
				out->n_eval++;
			}
	}

	if (out->minor == 6) {
		/* 3.6 has no _PyRuntime: _PyThreadState_Current is exported, the
		 * rest are statics of pystate.c, ceval_gil.h and gcmodule.c. */
		out->tstate_current = sym_addr(e, out->bias, "_PyThreadState_Current", NULL);
		out->interp_head = sym_addr(e, out->bias, "interp_head", &out->has_interp_head);
		out->gil_locked = sym_addr(e, out->bias, "gil_locked", &out->has_gil_locked);
		out->gil_last_holder =
		    sym_addr(e, out->bias, "gil_last_holder", &out->has_gil_last_holder);
		out->gc_collecting = sym_addr(e, out->bias, "collecting", &out->has_gc_collecting);
		if (!out->tstate_current && !out->has_interp_head)
			return mst_err_set(err, -MST_ENOPYTHON,
			                   "%s: Python 3.6 without _PyThreadState_Current or "
			                   "interp_head",
			                   out->module_path);
		return 0;
	}
	return find_runtime(e, r, out, err);
}

int mst_py_runtime_find(pid_t pid, const struct mst_maps *maps, const struct mst_reader *r,
                        struct mst_py_runtime_info *out, struct mst_err *err)
{
	struct candidate cand[MAX_CANDIDATES + 1];
	size_t n;
	const struct mst_map *exe;
	struct mst_err oerr = {0};
	bool open_failed = false;
	int rc;
	char who[32] = "the core's process";
	if (pid > 0)
		snprintf(who, sizeof(who), "process %d", (int)pid);

	memset(out, 0, sizeof(*out));
	n = libpython_candidates(maps, cand, MAX_CANDIDATES);
	/* The executable comes last: static builds (Debian's python3.11) and
	 * embedders that link libpython statically. */
	exe = exe_map(pid, maps);
	if (exe) {
		cand[n].map = exe;
		exe_name_version(exe->path, &cand[n].name_major, &cand[n].name_minor);
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		struct mst_elf *e = NULL;
		bool last_is_exe = exe && i == n - 1;
		char path[PATH_MAX];
		struct mst_err e1;

		mst_maps_open_path(pid, cand[i].map, path, sizeof(path));
		if (mst_elf_open(path, &e, &e1) < 0) {
			/* A libpython we cannot open is not "no Python". */
			if (!last_is_exe && !open_failed) {
				oerr = e1;
				open_failed = true;
			}
			continue;
		}
		if (!is_python(e)) {
			mst_elf_close(e);
			continue;
		}
		snprintf(out->module_path, sizeof(out->module_path), "%s", cand[i].map->path);
		snprintf(out->open_path, sizeof(out->open_path), "%s", path);
		out->is_static = last_is_exe;
		rc = inspect(maps, r, e, &cand[i], out, err);
		mst_elf_close(e);
		return rc;
	}
	if (open_failed)
		return mst_err_set(err, oerr.code, "%s maps a libpython: %s", who, oerr.msg);
	if (!exe)
		return mst_err_set(err, -MST_ENOPYTHON,
		                   "%s has no CPython: no libpython mapped and its "
		                   "executable could not be identified",
		                   who);
	return mst_err_set(err, -MST_ENOPYTHON,
	                   "%s has no CPython: no libpython mapped, and %s neither "
	                   "defines Py_Initialize nor has a .PyRuntime section (a CPython "
	                   "linked in statically and stripped of its symbols looks the same)",
	                   who, exe->path);
}

bool mst_py_runtime_is_eval_pc(const struct mst_py_runtime_info *info, uint64_t pc)
{
	for (int i = 0; i < info->n_eval && i < MST_PY_EVAL_RANGES_MAX; i++)
		if (pc >= info->eval[i].start && pc < info->eval[i].end)
			return true;
	return false;
}
