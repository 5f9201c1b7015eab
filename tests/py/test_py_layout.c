/* The per-version layout tables against the installed CPython headers (the
 * probe share/tools/py_offsets.c is compiled at test time for each), and the
 * 3.13 _Py_DebugOffsets reader against a real libpython3.13 file. */
#include "msttop/py_layout.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "py/decode-int.h"

Suite *py_layout_suite(void);

/* --- Finding headers and running the probe --- */

struct hdrs {
	char label[96];
	char inc[PATH_MAX];       /* include/python3.N */
	char extra_inc[PATH_MAX]; /* Debian's arch-specific pyconfig.h dir, or "" */
	char prefix[PATH_MAX];    /* install prefix, "" for the system */
	int minor;
};

#define MAX_HDRS 32

struct probe_entry {
	char name[64];
	long long value;
};

struct probe_out {
	size_t n;
	struct probe_entry e[512];
};

static bool is_dir(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool is_file(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* snprintf that reports truncation (paths built here must fit or be skipped). */
static bool fmt_ok(char *buf, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static bool fmt_ok(char *buf, size_t len, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int n = vsnprintf(buf, len, f, ap);
	va_end(ap);
	return n >= 0 && (size_t)n < len;
}

static const char *source_root(void)
{
	const char *r = getenv("MSTTOP_SOURCE_ROOT");
#ifdef MSTTOP_SOURCE_ROOT
	if (!r || !*r)
		r = MSTTOP_SOURCE_ROOT;
#endif
	ck_assert_msg(r && *r,
	              "MSTTOP_SOURCE_ROOT is not set: cannot find share/tools/py_offsets.c");
	return r;
}

static const char *pyenv_root(char *buf, size_t len)
{
	const char *r = getenv("PYENV_ROOT");
	if (r && *r)
		return r;
	const char *home = getenv("HOME");
	fmt_ok(buf, len, "%s/.pyenv", home && *home ? home : "/root");
	return buf;
}

/* pyenv releases 3.lo..3.hi that have headers, and /usr/include/python3.N
 * for the same range. */
static size_t find_headers(int lo, int hi, bool with_system, struct hdrs *out, size_t max)
{
	char rootbuf[PATH_MAX], vdir[PATH_MAX];
	const char *root = pyenv_root(rootbuf, sizeof(rootbuf));
	size_t n = 0;

	fmt_ok(vdir, sizeof(vdir), "%s/versions", root);
	DIR *d = opendir(vdir);
	struct dirent *de;
	while (d && (de = readdir(d)) && n < max) {
		int maj, min, mic;
		char tail;
		if (sscanf(de->d_name, "%d.%d.%d%c", &maj, &min, &mic, &tail) != 3 || maj != 3 ||
		    min < lo || min > hi)
			continue;
		struct hdrs *h = &out[n];
		memset(h, 0, sizeof(*h));
		if (!fmt_ok(h->prefix, sizeof(h->prefix), "%s/%s", vdir, de->d_name))
			continue;
		/* 3.6 and 3.7 name the directory python3.Nm. */
		bool found = false;
		const char *suffixes[] = {"", "m"};
		for (size_t i = 0; i < 2 && !found; i++) {
			found = fmt_ok(h->inc, sizeof(h->inc), "%s/include/python3.%d%s", h->prefix,
			               min, suffixes[i]) &&
			        is_dir(h->inc);
		}
		if (!found)
			continue;
		fmt_ok(h->label, sizeof(h->label), "pyenv %s", de->d_name);
		h->minor = min;
		n++;
	}
	if (d)
		closedir(d);

	for (int min = lo; with_system && min <= hi && n < max; min++) {
		struct hdrs *h = &out[n];
		memset(h, 0, sizeof(*h));
		fmt_ok(h->inc, sizeof(h->inc), "/usr/include/python3.%d", min);
		if (!is_dir(h->inc))
			continue;
		fmt_ok(h->extra_inc, sizeof(h->extra_inc),
		       "/usr/include/x86_64-linux-gnu/python3.%d", min);
		if (!is_dir(h->extra_inc))
			h->extra_inc[0] = '\0';
		fmt_ok(h->label, sizeof(h->label), "system /usr/include/python3.%d", min);
		h->minor = min;
		n++;
	}
	return n;
}

static void rm_tree(const char *dir)
{
	char p[PATH_MAX];
	const char *names[] = {"probe", "out", "cc.log"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		fmt_ok(p, sizeof(p), "%s/%s", dir, names[i]);
		unlink(p);
	}
	rmdir(dir);
}

static void read_file_text(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;
	buf[n] = '\0';
	if (f)
		fclose(f);
}

/* Compile and run the probe against h; 0 on success, else a message in msg.
 * debug_table: also build the 3.13 "dbg." lines (no libpython link needed:
 * the initializer's pointers stay unresolved and are never read). */
static int run_probe(const struct hdrs *h, bool debug_table, struct probe_out *po, char *msg,
                     size_t msglen)
{
	char tmpl[] = "/tmp/mst-py-layout-XXXXXX";
	char *cmd = NULL, outp[PATH_MAX], logp[PATH_MAX];
	const char *cc = getenv("CC");
	const char *root = source_root();

	if (!mkdtemp(tmpl)) {
		fmt_ok(msg, msglen, "mkdtemp failed");
		return -1;
	}
	if (strchr(h->inc, '\'') || strchr(root, '\'')) {
		fmt_ok(msg, msglen, "refusing a path with a quote");
		rm_tree(tmpl);
		return -1;
	}
	fmt_ok(outp, sizeof(outp), "%s/out", tmpl);
	fmt_ok(logp, sizeof(logp), "%s/cc.log", tmpl);
	if (asprintf(&cmd,
	             "'%s' -std=gnu11 -w %s -I'%s' -I'%s/internal' %s%s%s "
	             "'%s/share/tools/py_offsets.c' -o '%s/probe' >'%s' 2>&1 && '%s/probe' >'%s'",
	             cc && *cc ? cc : "cc",
	             debug_table ? "-DPY_OFFSETS_DEBUG_TABLE -no-pie "
	                           "-Wl,--unresolved-symbols=ignore-all"
	                         : "",
	             h->inc, h->inc, h->extra_inc[0] ? "-I'" : "", h->extra_inc,
	             h->extra_inc[0] ? "'" : "", root, tmpl, logp, tmpl, outp) < 0) {
		fmt_ok(msg, msglen, "out of memory");
		rm_tree(tmpl);
		return -1;
	}
	int st = system(cmd);
	free(cmd);
	if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		char log[2048];
		read_file_text(logp, log, sizeof(log));
		fmt_ok(msg, msglen, "%s: probe failed to build or run (status %d): %s", h->label,
		       st, log);
		rm_tree(tmpl);
		return -1;
	}

	FILE *f = fopen(outp, "r");
	po->n = 0;
	char line[256];
	while (f && fgets(line, sizeof(line), f) && po->n < sizeof(po->e) / sizeof(po->e[0])) {
		struct probe_entry *e = &po->e[po->n];
		if (sscanf(line, "%63s %lld", e->name, &e->value) == 2)
			po->n++;
	}
	if (f)
		fclose(f);
	rm_tree(tmpl);
	if (po->n == 0) {
		fmt_ok(msg, msglen, "%s: the probe printed nothing", h->label);
		return -1;
	}
	return 0;
}

static const struct probe_entry *probe_get(const struct probe_out *po, const char *name)
{
	for (size_t i = 0; i < po->n; i++)
		if (strcmp(po->e[i].name, name) == 0)
			return &po->e[i];
	return NULL;
}

/* Append to a bounded report. */
static void addf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void addf(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strlen(buf);
	if (used + 1 >= len)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

/* Compare every member of l with the probe; "micro" only when check_micro.
 * Returns the number of mismatches, described in report. */
static int compare_layout(const char *label, const struct mst_py_layout *l,
                          const struct probe_out *po, bool check_micro, char *report, size_t len)
{
	size_t nf;
	const struct mst_py_layout_field *f = mst_py_layout_fields(&nf);
	int bad = 0;

	for (size_t i = 0; i < nf; i++) {
		if (!check_micro && strcmp(f[i].name, "micro") == 0)
			continue;
		const struct probe_entry *e = probe_get(po, f[i].name);
		int64_t v = mst_py_layout_get(l, &f[i]);
		if (!e) {
			addf(report, len, "%s: %s missing from the probe output; ", label,
			     f[i].name);
			bad++;
		} else if (e->value != v) {
			addf(report, len, "%s: %s is %lld in %s, %lld in the headers; ", label,
			     f[i].name, (long long)v, mst_py_layout_source(l), e->value);
			bad++;
		}
	}
	/* A name the probe prints but the struct lacks means the probe and
	 * py_layout.h drifted apart. */
	for (size_t j = 0; j < po->n; j++) {
		if (strncmp(po->e[j].name, "dbg.", 4) == 0)
			continue;
		bool known = false;
		for (size_t i = 0; i < nf && !known; i++)
			known = strcmp(f[i].name, po->e[j].name) == 0;
		if (!known) {
			addf(report, len, "%s: probe prints unknown member %s; ", label,
			     po->e[j].name);
			bad++;
		}
	}
	return bad;
}

/* --- Tables vs headers --- */

START_TEST(test_tables_match_headers)
{
	static struct hdrs h[MAX_HDRS];
	static struct probe_out po;
	static char report[16384];
	size_t n = find_headers(6, 12, true, h, MAX_HDRS);

	/* CI machines have the pyenv builds: no headers at all is a broken
	 * setup, never a pass. */
	ck_assert_msg(n > 0,
	              "no CPython 3.6-3.12 headers found (pyenv under $PYENV_ROOT or ~/.pyenv, "
	              "or /usr/include/python3.N): the layout tables cannot be checked");

	report[0] = '\0';
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		char msg[4096];
		const struct mst_py_layout *l;
		struct mst_err err = {0};
		if (run_probe(&h[i], false, &po, msg, sizeof(msg)) < 0) {
			addf(report, sizeof(report), "%s; ", msg);
			bad++;
			continue;
		}
		const struct probe_entry *mic = probe_get(&po, "micro");
		ck_assert_ptr_nonnull(mic);
		if (mst_py_layout_for_version(3, h[i].minor, (int)mic->value, &l, &err) < 0) {
			addf(report, sizeof(report), "%s: no table: %s; ", h[i].label, err.msg);
			bad++;
			continue;
		}
		bad += compare_layout(h[i].label, l, &po, false, report, sizeof(report));
	}
	ck_assert_msg(bad == 0, "%d mismatches: %s", bad, report);
}
END_TEST

/* What the decoder fixes rather than reads from a layout (decode-int.h):
 * every table must agree with it. */
static void check_fixed_facts(const struct mst_py_layout *l)
{
	ck_assert_msg(l->u_kind_shift == MST_PY_STATE_KIND_SHIFT &&
	                  l->u_kind_mask == MST_PY_STATE_KIND_MASK &&
	                  l->u_compact_mask == MST_PY_STATE_COMPACT &&
	                  l->u_ascii_mask == MST_PY_STATE_ASCII &&
	                  (l->u_ready_mask < 0 || l->u_ready_mask == MST_PY_STATE_READY),
	              "3.%lld: str state bits differ from decode-int.h", (long long)l->minor);
	ck_assert_msg(l->bytes_ob_size == MST_PY_BYTES_SIZE_OFF &&
	                  l->bytes_ob_sval == MST_PY_BYTES_DATA_OFF,
	              "3.%lld: PyBytesObject differs from decode-int.h", (long long)l->minor);
}

START_TEST(test_for_version)
{
	const struct mst_py_layout *l;
	struct mst_err err = {0};

	for (int minor = 6; minor <= 12; minor++) {
		ck_assert_int_eq(mst_py_layout_for_version(3, minor, 5, &l, &err), 0);
		ck_assert_int_eq(l->major, 3);
		ck_assert_int_eq(l->minor, minor);
		ck_assert_ptr_nonnull(strstr(mst_py_layout_source(l), "table 3."));
		check_fixed_facts(l);
	}

	ck_assert_int_eq(mst_py_layout_for_version(3, 7, 3, &l, &err), -MST_EUNSUPPORTED);
	ck_assert_ptr_null(l);
	ck_assert_msg(strstr(err.msg, "3.7.3") != NULL, "message: %s", err.msg);
	ck_assert_int_eq(mst_py_layout_for_version(3, 7, 0, &l, &err), -MST_EUNSUPPORTED);
	ck_assert_int_eq(mst_py_layout_for_version(3, 7, -1, &l, &err), -MST_EUNSUPPORTED);
	ck_assert_int_eq(mst_py_layout_for_version(3, 7, 4, &l, &err), 0);
	ck_assert_int_eq(l->rt_tstate_current, 1480);

	ck_assert_int_eq(mst_py_layout_for_version(3, 13, 0, &l, &err), -MST_EUNSUPPORTED);
	ck_assert_msg(strstr(err.msg, "3.13.0") && strstr(err.msg, "_Py_DebugOffsets"),
	              "message: %s", err.msg);
	ck_assert_int_eq(mst_py_layout_for_version(3, 14, 0, &l, &err), -MST_EUNSUPPORTED);
	ck_assert_msg(strstr(err.msg, "3.14.0") != NULL, "message: %s", err.msg);
	ck_assert_int_eq(mst_py_layout_for_version(3, 5, 10, &l, &err), -MST_EUNSUPPORTED);
	ck_assert_int_eq(mst_py_layout_for_version(2, 7, 18, &l, &err), -MST_EUNSUPPORTED);
	ck_assert_msg(strstr(err.msg, "2.7.18") != NULL, "message: %s", err.msg);
}
END_TEST

START_TEST(test_version_hex)
{
	int maj = 0, min = 0, mic = 0;
	ck_assert_int_eq(mst_py_version_parse_hex(0x030b02f0, &maj, &min, &mic), 0);
	ck_assert_int_eq(maj, 3);
	ck_assert_int_eq(min, 11);
	ck_assert_int_eq(mic, 2);
	ck_assert_int_eq(mst_py_version_parse_hex(51183856, &maj, &min, &mic), 0);
	ck_assert_int_eq(min, 13);
	ck_assert_int_eq(mic, 0);
	ck_assert_int_eq(mst_py_version_parse_hex(0x020712f0, &maj, &min, &mic), -EINVAL);
	ck_assert_int_eq(mst_py_version_parse_hex(0x1030d00f0ull, NULL, NULL, NULL), -EINVAL);
}
END_TEST

/* --- 3.13 debug offsets --- */

/* The initialized bytes of _PyRuntime (from .dynsym) in an ELF file: its
 * first len bytes, which hold _Py_DebugOffsets. */
static int read_runtime_from_file(const char *path, unsigned char *buf, size_t len, char *msg,
                                  size_t msglen)
{
	int rc = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fmt_ok(msg, msglen, "cannot open %s", path);
		return -1;
	}
	elf_version(EV_CURRENT);
	Elf *e = elf_begin(fd, ELF_C_READ, NULL);
	Elf_Scn *scn = NULL;
	GElf_Sym sym = {0};
	bool found = false;

	while (e && !found && (scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		size_t count = sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
		for (size_t i = 0; data && i < count && !found; i++) {
			if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
				continue;
			const char *name = elf_strptr(e, sh.sh_link, sym.st_name);
			found = name && strcmp(name, "_PyRuntime") == 0;
		}
	}
	if (!found) {
		fmt_ok(msg, msglen, "%s: no defined _PyRuntime in .dynsym", path);
		goto out;
	}
	Elf_Scn *ds = elf_getscn(e, sym.st_shndx);
	GElf_Shdr dsh;
	if (!ds || !gelf_getshdr(ds, &dsh) || dsh.sh_type != SHT_PROGBITS ||
	    sym.st_value < dsh.sh_addr || sym.st_value + len > dsh.sh_addr + dsh.sh_size) {
		fmt_ok(msg, msglen, "%s: _PyRuntime is not in an initialized section", path);
		goto out;
	}
	off_t off = (off_t)(dsh.sh_offset + (sym.st_value - dsh.sh_addr));
	if (pread(fd, buf, len, off) != (ssize_t)len) {
		fmt_ok(msg, msglen, "%s: short read at %lld", path, (long long)off);
		goto out;
	}
	rc = 0;
out:
	if (e)
		elf_end(e);
	close(fd);
	return rc;
}

/* The newest pyenv 3.13.x: its headers and libpython. */
static bool find_313(struct hdrs *h, char *lib, size_t liblen)
{
	static struct hdrs all[MAX_HDRS];
	size_t n = find_headers(13, 13, false, all, MAX_HDRS);
	for (size_t i = 0; i < n; i++) {
		fmt_ok(lib, liblen, "%s/lib/libpython3.13.so.1.0", all[i].prefix);
		if (is_file(lib)) {
			*h = all[i];
			return true;
		}
	}
	return false;
}

static unsigned char dbg_buf[MST_PY_DEBUG_OFFSETS_MAX];
static struct hdrs h313;
static char lib313[PATH_MAX];

static void load_313_table(void)
{
	char msg[1024];
	ck_assert_msg(find_313(&h313, lib313, sizeof(lib313)),
	              "no pyenv CPython 3.13 with headers and libpython3.13.so.1.0 found: the "
	              "debug-offsets reader cannot be checked");
	ck_assert_msg(read_runtime_from_file(lib313, dbg_buf, 584, msg, sizeof(msg)) == 0, "%s",
	              msg);
}

static void put_u64(unsigned char *b, size_t pos, uint64_t v)
{
	memcpy(b + pos, &v, sizeof(v));
}

START_TEST(test_debug_offsets_real_file)
{
	static struct probe_out po;
	static char report[16384];
	char msg[4096];
	struct mst_py_layout l;
	struct mst_err err = {0};

	load_313_table();
	ck_assert_msg(run_probe(&h313, true, &po, msg, sizeof(msg)) == 0, "%s", msg);
	ck_assert_msg(mst_py_layout_from_debug_offsets(dbg_buf, 584, &l, NULL, &err) == 0, "%s",
	              err.msg);
	check_fixed_facts(&l);
	ck_assert_ptr_nonnull(strstr(mst_py_layout_source(&l), "debug offsets"));

	/* Every member: what the file's table says (plus the built-in 3.13
	 * facts) must equal offsetof() on the same release's headers. */
	report[0] = '\0';
	int bad = compare_layout(h313.label, &l, &po, true, report, sizeof(report));

	/* The headers' own debug-offsets initializer must agree with offsetof:
	 * this checks the probe's dbg mapping, the same as layout.c's. */
	int ndbg = 0;
	for (size_t i = 0; i < po.n; i++) {
		if (strncmp(po.e[i].name, "dbg.", 4) != 0)
			continue;
		ndbg++;
		const struct probe_entry *plain = probe_get(&po, po.e[i].name + 4);
		if (plain && plain->value != po.e[i].value) {
			addf(report, sizeof(report),
			     "header initializer %s = %lld, offsetof %lld; ", po.e[i].name,
			     po.e[i].value, plain->value);
			bad++;
		}
	}
	ck_assert_msg(ndbg > 40, "the 3.13 probe printed only %d dbg lines", ndbg);
	ck_assert_msg(bad == 0, "%d mismatches: %s", bad, report);

	/* Key facts, spelled out (doc §1.4, §2.3, §4.1). */
	ck_assert_int_eq(l.minor, 13);
	ck_assert_int_eq(l.ts_current_frame, 72);
	ck_assert_int_eq(l.is_threads_head, 7344);
	ck_assert_int_eq(l.gil_locked, 16);
	ck_assert_int_eq(l.gil_last_holder, 8);
	ck_assert_int_eq(l.status_holds_gil, 0x20);
	ck_assert_int_eq(l.owner_cstack, 3);
	ck_assert_int_eq(l.instr_encoding, MST_PY_INSTR_INSTR_PTR);
}
END_TEST

START_TEST(test_debug_offsets_refused)
{
	unsigned char b[MST_PY_DEBUG_OFFSETS_MAX];
	struct mst_py_layout l;
	struct mst_err err = {0};

	load_313_table();

	memcpy(b, dbg_buf, sizeof(b));
	b[0] = 'X';
	ck_assert_int_eq(mst_py_layout_from_debug_offsets(b, 584, &l, NULL, &err), -MST_ECORRUPT);
	ck_assert_msg(strstr(err.msg, "cookie") != NULL, "message: %s", err.msg);

	/* A 3.13 table claiming 3.14 is read with the 3.14 positions, where
	 * its numbers do not fit. */
	memcpy(b, dbg_buf, sizeof(b));
	put_u64(b, 8, 0x030e00f0); /* 3.14.0 final */
	ck_assert_int_lt(mst_py_layout_from_debug_offsets(b, sizeof(b), &l, NULL, &err), 0);

	put_u64(b, 8, 0x030c01f0); /* 3.12.1 has no table */
	ck_assert_int_eq(mst_py_layout_from_debug_offsets(b, 584, &l, NULL, &err), -MST_ECORRUPT);
	put_u64(b, 8, 0x020712f0);
	ck_assert_int_eq(mst_py_layout_from_debug_offsets(b, 584, &l, NULL, &err), -MST_ECORRUPT);

	memcpy(b, dbg_buf, sizeof(b));
	put_u64(b, 16, 1); /* free_threaded */
	ck_assert_int_eq(mst_py_layout_from_debug_offsets(b, 584, &l, NULL, &err),
	                 -MST_EUNSUPPORTED);
	ck_assert_msg(strstr(err.msg, "free-threaded") != NULL, "message: %s", err.msg);

	memcpy(b, dbg_buf, sizeof(b));
	ck_assert_int_eq(mst_py_layout_from_debug_offsets(b, 200, &l, NULL, &err), -MST_ECORRUPT);
	ck_assert_int_eq(mst_py_layout_from_debug_offsets(b, 10, &l, NULL, &err), -MST_ECORRUPT);

	put_u64(b, 24, 1ull << 40); /* runtime_state.size */
	ck_assert_int_eq(mst_py_layout_from_debug_offsets(b, 584, &l, NULL, &err), -MST_ECORRUPT);

	memcpy(b, dbg_buf, sizeof(b));
	put_u64(b, 184, 1ull << 20); /* thread_state.current_frame past the tstate */
	ck_assert_int_eq(mst_py_layout_from_debug_offsets(b, 584, &l, NULL, &err), -MST_ECORRUPT);
	ck_assert_msg(strstr(err.msg, "current_frame") != NULL, "message: %s", err.msg);

	memcpy(b, dbg_buf, sizeof(b));
	put_u64(b, 352, 32); /* pyobject.size of a Py_TRACE_REFS build */
	ck_assert_int_eq(mst_py_layout_from_debug_offsets(b, 584, &l, NULL, &err),
	                 -MST_EUNSUPPORTED);

	/* And the untouched table still parses. */
	memcpy(b, dbg_buf, sizeof(b));
	ck_assert_int_eq(mst_py_layout_from_debug_offsets(b, 584, &l, NULL, &err), 0);
}
END_TEST

/* --- 3.14 and 3.15: Debian unstable's static, stripped interpreters --- */

/* The interpreter path of 3.minor in MSTTOP_DEBIAN_PYTHONS (run-tests.sh
 * sets it), or NULL when the run has none. */
static const char *debian_python(int minor, char *buf, size_t len)
{
	const char *deb = getenv("MSTTOP_DEBIAN_PYTHONS");
	char want[32];
	fmt_ok(want, sizeof(want), "/python3.%d", minor);
	if (!deb || !*deb)
		return NULL;
	char *copy = strdup(deb), *save = NULL;
	const char *found = NULL;
	for (char *t = strtok_r(copy, ":", &save); t && !found; t = strtok_r(NULL, ":", &save)) {
		size_t n = strlen(t), w = strlen(want);
		if (n >= w && !strcmp(t + n - w, want))
			found = fmt_ok(buf, len, "%s", t) ? buf : NULL;
	}
	free(copy);
	return found;
}

/* The file's own table, read with its release's layout, gives what the
 * probe compiled against that release's headers computes: the positions
 * of every member msttop reads, in the table and in the structs. */
static void check_debian_release(int minor, const char *micro_tag)
{
	char path[PATH_MAX], msg[512];
	if (!debian_python(minor, path, sizeof(path)))
		return; /* a plain `meson test` without the sysroot */
	unsigned char b[MST_PY_DEBUG_OFFSETS_MAX];
	ck_assert_msg(read_runtime_from_file(path, b, sizeof(b), msg, sizeof(msg)) == 0, "%s", msg);
	struct mst_py_layout l;
	struct mst_err err = {0};
	int newer = -1;
	ck_assert_msg(mst_py_layout_from_debug_offsets(b, sizeof(b), &l, &newer, &err) == 0,
	              "3.%d: %s", minor, err.msg);
	ck_assert_int_eq(newer, 0);
	ck_assert_int_eq(l.minor, minor);
	check_fixed_facts(&l);
	ck_assert_msg(strstr(mst_py_layout_source(&l), micro_tag), "source %s",
	              mst_py_layout_source(&l));

	/* The header probe for this release: every member must agree. */
	struct hdrs h = {0};
	char inc[PATH_MAX];
	fmt_ok(inc, sizeof(inc), "%s", path);
	char *bin = strstr(inc, "/bin/python3.");
	ck_assert_ptr_nonnull(bin);
	*bin = '\0';
	fmt_ok(h.prefix, sizeof(h.prefix), "%s", inc);
	fmt_ok(h.inc, sizeof(h.inc), "%s/include/python3.%d", inc, minor);
	fmt_ok(h.extra_inc, sizeof(h.extra_inc), "%s/include", inc);
	fmt_ok(h.label, sizeof(h.label), "debian 3.%d", minor);
	static struct probe_out po;
	ck_assert_msg(run_probe(&h, false, &po, msg, sizeof(msg)) == 0, "%s", msg);
	/* Debian's 3.15 binaries are built with a member the -dev headers'
	 * pyconfig.h leaves out: _PyRuntimeState and PyInterpreterState are 8
	 * bytes larger than those headers say, while every member read sits
	 * where they say. Whole sizes may grow that much; nothing else. */
	const struct probe_entry *prt = probe_get(&po, "rt_size"), *pis = probe_get(&po, "is_size");
	ck_assert_ptr_nonnull(prt);
	ck_assert_ptr_nonnull(pis);
	if (l.rt_size >= prt->value && l.rt_size - prt->value <= 64 && l.is_size >= pis->value &&
	    l.is_size - pis->value <= 64) {
		if (l.rt_size != prt->value || l.is_size != pis->value)
			printf(
			    "Debian 3.%d: runtime %lld / interpreter %lld bytes, the headers say "
			    "%lld / %lld\n",
			    minor, (long long)l.rt_size, (long long)l.is_size, prt->value,
			    pis->value);
		l.rt_size = prt->value;
		l.is_size = pis->value;
	}
	char report[4096] = "";
	int bad = compare_layout(h.label, &l, &po, false, report, sizeof(report));
	ck_assert_msg(bad == 0, "3.%d debug offsets + table differ from its headers: %s", minor,
	              report);

	/* A fabricated next release: the same table under version 3.minor+1
	 * is read with the newest layout, and says so. */
	if (minor == mst_py_debug_offsets_newest_minor()) {
		put_u64(b, 8, 0x030000f0ull | ((uint64_t)(minor + 1) << 16));
		ck_assert_msg(mst_py_layout_from_debug_offsets(b, sizeof(b), &l, &newer, &err) == 0,
		              "%s", err.msg);
		ck_assert_int_eq(newer, minor);
		ck_assert_int_eq(l.minor, minor + 1);
		/* A next release whose table moved: refused, naming why. */
		unsigned char c[sizeof(b)];
		memcpy(c, b, sizeof(c));
		put_u64(c, 24, 1ull << 40); /* runtime_state.size */
		ck_assert_int_eq(mst_py_layout_from_debug_offsets(c, sizeof(c), &l, &newer, &err),
		                 -MST_EUNSUPPORTED);
		ck_assert_msg(strstr(err.msg, "newer") && strstr(err.msg, "implausible"),
		              "message: %s", err.msg);
		memcpy(c, b, sizeof(c));
		c[0] = 'X';
		ck_assert_int_eq(mst_py_layout_from_debug_offsets(c, sizeof(c), &l, &newer, &err),
		                 -MST_ECORRUPT);
		ck_assert_msg(strstr(err.msg, "cookie") != NULL, "message: %s", err.msg);
	}
	printf("debug offsets of Debian 3.%d (%s): every member matches its headers\n", minor,
	       path);
}

START_TEST(test_debug_offsets_debian)
{
	check_debian_release(14, "3.14.10");
	check_debian_release(15, "3.15.2");
}
END_TEST

Suite *py_layout_suite(void)
{
	Suite *s = suite_create("py_layout");

	TCase *tc = tcase_create("tables");
	/* Compiles the probe once per installed release. */
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_tables_match_headers);
	tcase_add_test(tc, test_for_version);
	tcase_add_test(tc, test_version_hex);
	suite_add_tcase(s, tc);

	tc = tcase_create("debug_offsets");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_debug_offsets_real_file);
	tcase_add_test(tc, test_debug_offsets_refused);
	tcase_add_test(tc, test_debug_offsets_debian);
	suite_add_tcase(s, tc);
	return s;
}
