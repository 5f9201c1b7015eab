/* Unit tests of the foundation: maps parsing, ELF symbol lookup,
 * symbolization of a known function with its file:line, and every error
 * path of the command line (run against the real binary). */
#include <check.h>
#include <elf.h>
#include <elfutils/libdwfl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../check_main.h"
#include "../harness.h"
#include "msttop/elfsym.h"
#include "msttop/maps.h"
#include "msttop/proc.h"
#include "msttop/symbols.h"

/* ---- maps ---- */

__attribute__((noinline)) int mst_known_function(int x);

START_TEST(maps_parse_lines)
{
	const char *text =
	    "55d0c0a00000-55d0c0a01000 r--p 00000000 08:01 1234    /usr/bin/prog\n"
	    "55d0c0a01000-55d0c0a02000 r-xp 00001000 08:01 1234    /usr/bin/prog\n"
	    "7f0000000000-7f0000021000 rw-p 00000000 00:00 0 \n"
	    "7f1000000000-7f1000001000 r-xp 00000000 08:01 99      /tmp/my lib.so (deleted)\n"
	    "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0       [stack]\n";
	struct mst_maps *m = NULL;
	struct mst_err err = {0};
	ck_assert_int_eq(mst_maps_parse(text, &m, &err), 0);
	ck_assert_uint_eq(m->n, 5);
	ck_assert_uint_eq(m->v[1].start, 0x55d0c0a01000ull);
	ck_assert_uint_eq(m->v[1].offset, 0x1000);
	ck_assert_str_eq(m->v[1].perms, "r-xp");
	ck_assert_str_eq(m->v[1].path, "/usr/bin/prog");
	ck_assert_ptr_null(m->v[2].path);
	ck_assert_str_eq(m->v[3].path, "/tmp/my lib.so");
	ck_assert(m->v[3].deleted);
	ck_assert_str_eq(m->v[4].path, "[stack]");
	ck_assert_ptr_eq(mst_maps_find(m, 0x55d0c0a01800ull), &m->v[1]);
	ck_assert_ptr_null(mst_maps_find(m, 0x1000));
	ck_assert_ptr_eq(mst_maps_find(m, 0x7ffd00020fffull), &m->v[4]);
	ck_assert_ptr_null(mst_maps_find(m, 0x7ffd00021000ull));
	char path[256];
	mst_maps_open_path(42, &m->v[3], path, sizeof(path));
	ck_assert_str_eq(path, "/proc/42/map_files/7f1000000000-7f1000001000");
	mst_maps_open_path(42, &m->v[0], path, sizeof(path));
	ck_assert_str_eq(path, "/proc/42/root/usr/bin/prog");
	mst_maps_free(m);
}
END_TEST

START_TEST(maps_parse_malformed)
{
	struct mst_maps *m = NULL;
	struct mst_err err = {0};
	ck_assert_int_lt(mst_maps_parse("not a maps line\n", &m, &err), 0);
	ck_assert(strstr(err.msg, "malformed") != NULL);
}
END_TEST

START_TEST(maps_read_self)
{
	struct mst_maps *m = NULL;
	struct mst_err err = {0};
	ck_assert_int_eq(mst_maps_read(getpid(), &m, &err), 0);
	const struct mst_map *mp = mst_maps_find(m, (uint64_t)(uintptr_t)&mst_known_function);
	ck_assert_ptr_nonnull(mp);
	ck_assert_int_eq(mp->perms[2], 'x');
	ck_assert_ptr_nonnull(mp->path);
	ck_assert(strstr(mp->path, "test_unit") != NULL);
	mst_maps_free(m);
}
END_TEST

/* ---- ELF symbols ---- */

/* A function with a known name and line for the symbolization test. */
__attribute__((noinline)) int mst_known_function(int x);
__attribute__((noinline)) int mst_known_function(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3 + 1; /* MARK: known_function_body */
}

static char *self_exe(void)
{
	static char buf[4096];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	return buf;
}

START_TEST(elf_lookup_and_bias)
{
	struct mst_elf *e = NULL;
	struct mst_err err = {0};
	ck_assert_int_eq(mst_elf_open(self_exe(), &e, &err), 0);
	uint64_t value = 0, size = 0;
	ck_assert_int_eq(mst_elf_lookup(e, "mst_known_function", &value, &size), 0);
	ck_assert_uint_gt(size, 0);
	ck_assert_int_eq(mst_elf_lookup(e, "no_such_symbol_anywhere", NULL, NULL), -ENOENT);

	struct mst_maps *m = NULL;
	ck_assert_int_eq(mst_maps_read(getpid(), &m, &err), 0);
	uint64_t bias = 0;
	ck_assert_int_eq(mst_elf_bias(e, m, self_exe(), &bias), 0);
	/* bias + st_value must be where the function really is. */
	ck_assert_uint_eq(bias + value, (uint64_t)(uintptr_t)&mst_known_function);

	uint64_t start = 0;
	const char *name = mst_elf_symbol_at(e, value + 1, &start, NULL);
	ck_assert_str_eq(name, "mst_known_function");
	ck_assert_uint_eq(start, value);
	/* Past the end of the last byte: not this symbol. */
	name = mst_elf_symbol_at(e, value + size, NULL, NULL);
	ck_assert(!name || strcmp(name, "mst_known_function") != 0);

	/* File bytes at a link-time address equal the loaded bytes. */
	unsigned char file_bytes[16];
	ck_assert_int_eq(mst_elf_read(e, value, file_bytes, sizeof(file_bytes)), 0);
	ck_assert_int_eq(memcmp(file_bytes, (void *)&mst_known_function, sizeof(file_bytes)), 0);

	uint64_t tv, tsz;
	ck_assert_int_eq(mst_elf_phdr(e, PT_LOAD, PF_X, &tv, &tsz), 0);
	ck_assert(value >= tv && value < tv + tsz);
	ck_assert_int_eq(mst_elf_section(e, ".text", NULL, NULL), 0);
	ck_assert_int_eq(mst_elf_section(e, ".no_such_section", NULL, NULL), -ENOENT);
	ck_assert_uint_eq(strlen(mst_elf_build_id(e)), 40);
	mst_maps_free(m);
	mst_elf_close(e);
}
END_TEST

START_TEST(elf_open_errors)
{
	struct mst_elf *e = NULL;
	struct mst_err err = {0};
	ck_assert_int_eq(mst_elf_open("/nonexistent/file", &e, &err), -ENOENT);
	ck_assert(strstr(err.msg, "/nonexistent/file") != NULL);
	ck_assert_int_eq(mst_elf_open("/etc/hostname", &e, &err), -ENOEXEC);
}
END_TEST

START_TEST(symbols_known_function)
{
	struct mst_symbols *s = NULL;
	struct mst_err err = {0};
	ck_assert_int_eq(mst_symbols_open(getpid(), &s, &err), 0);
	uint64_t addr = (uint64_t)(uintptr_t)&mst_known_function;
	const struct mst_native_frame *fr;
	size_t n;
	/* An address inside the body, as the innermost frame. */
	ck_assert_int_eq(mst_symbols_resolve(s, addr + 4, false, &fr, &n), 0);
	ck_assert_uint_ge(n, 1);
	ck_assert_str_eq(fr[0].func, "mst_known_function");
	ck_assert_ptr_nonnull(fr[0].file);
	ck_assert(strstr(fr[0].file, "test_unit.c") != NULL);
	char *src = mst_src_path("tests/unit/test_unit.c");
	int body = mst_marker_line(src, "known_function_body");
	free(src);
	ck_assert_int_gt(body, 0);
	/* The function's lines span its braces; the body line is within 3. */
	ck_assert_int_ge(fr[0].line, body - 3);
	ck_assert_int_le(fr[0].line, body + 1);
	ck_assert(strstr(fr[0].module, "test_unit") != NULL);

	/* An address in no module: shown as unknown, not a crash. */
	ck_assert_int_eq(mst_symbols_resolve(s, 0x10, false, &fr, &n), 0);
	ck_assert_ptr_null(fr[0].func);
	ck_assert_ptr_null(fr[0].module);
	mst_symbols_close(s);
}
END_TEST

/* The symbol index must name every address as libdwfl's own
 * dwfl_module_addrinfo does: checked on every module of this process
 * (libc with its debug file's full .symtab, libdw, libcheck, ...), at each
 * symbol's start, inside it, just past it, and at a spread of addresses. */
struct name_check {
	struct mst_symbols *s;
	Dwfl *d;
	size_t checked, named;
};

static void check_name_at(struct name_check *c, Dwfl_Module *mod, uint64_t a)
{
	/* Only addresses that are mapped from the module (not .bss past
	 * its file pages, which no unwound pc can be in). */
	if (dwfl_addrmodule(c->d, a) != mod)
		return;
	GElf_Off off;
	GElf_Sym sym;
	const char *want = dwfl_module_addrinfo(mod, a, &off, &sym, NULL, NULL, NULL);
	if (want && want[0] == '_' && want[1] == 'Z')
		return; /* ours is demangled */
	char plain[512] = "";
	if (want)
		snprintf(plain, sizeof(plain), "%.*s", (int)strcspn(want, "@"), want);
	const char *got = mst_symbols_func_name(c->s, a, false);
	if (!want != !got || (want && strcmp(plain, got) != 0))
		ck_abort_msg("at %#llx in %s: libdwfl says %s, msttop %s", (unsigned long long)a,
		             dwfl_module_info(mod, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
		             want ? want : "nothing", got ? got : "nothing");
	c->checked++;
	c->named += got != NULL;
}

static int check_module_names(Dwfl_Module *mod, void **ud, const char *name, Dwarf_Addr base,
                              void *arg)
{
	(void)ud;
	(void)name;
	(void)base;
	struct name_check *c = arg;
	Dwarf_Addr lo, hi;
	dwfl_module_info(mod, NULL, &lo, &hi, NULL, NULL, NULL, NULL);
	int n = dwfl_module_getsymtab(mod);
	/* libdwfl's own lookup is a scan of the table: a sample of the
	 * symbols of big modules keeps this test quick. */
	int step = n / 1500 + 1;
	for (int i = 1; i < n; i += step) {
		GElf_Sym sym;
		GElf_Addr a;
		if (!dwfl_module_getsym_info(mod, i, &sym, &a, NULL, NULL, NULL) || a < lo ||
		    a >= hi)
			continue;
		check_name_at(c, mod, a);
		check_name_at(c, mod, a + sym.st_size / 2);
		if (sym.st_size)
			check_name_at(c, mod, a + sym.st_size);
	}
	for (uint64_t a = lo; a < hi; a += (hi - lo) / 1024 + 1)
		check_name_at(c, mod, a);
	return DWARF_CB_OK;
}

START_TEST(symbols_names_as_libdwfl)
{
	struct name_check c = {0};
	struct mst_err err = {0};
	ck_assert_int_eq(mst_symbols_open(getpid(), &c.s, &err), 0);
	static char *path;
	static const Dwfl_Callbacks cb = {.find_elf = dwfl_linux_proc_find_elf,
	                                  .find_debuginfo = dwfl_standard_find_debuginfo,
	                                  .debuginfo_path = &path};
	Dwfl *d = c.d = dwfl_begin(&cb);
	ck_assert_ptr_nonnull(d);
	dwfl_report_begin(d);
	ck_assert_int_eq(dwfl_linux_proc_report(d, getpid()), 0);
	dwfl_report_end(d, NULL, NULL);
	dwfl_getmodules(d, check_module_names, &c, 0);
	dwfl_end(d);
	mst_symbols_close(c.s);
	/* Thousands of addresses, most of them named. */
	ck_assert_uint_gt(c.checked, 10000);
	ck_assert_uint_gt(c.named, c.checked / 2);
}
END_TEST

/* An answer is the same whether it comes from the cache or from a lookup:
 * twice over more addresses than the cache holds, the second time in the
 * other order (hits and evictions both), and after a refresh flushed it. */
static void describe_frames(char *buf, size_t len, const struct mst_native_frame *fr, size_t n)
{
	int o = 0;
	for (size_t i = 0; i < n && o >= 0 && (size_t)o < len; i++)
		o += snprintf(
		    buf + o, len - (size_t)o, "%llx %s %s:%d %s+%llx%s|",
		    (unsigned long long)fr[i].pc, fr[i].func ? fr[i].func : "-",
		    fr[i].file ? fr[i].file : "-", fr[i].line, fr[i].module ? fr[i].module : "-",
		    (unsigned long long)fr[i].module_off, fr[i].inlined ? " (inlined)" : "");
}

START_TEST(symbols_cache_same_answers)
{
	struct mst_symbols *s = NULL;
	struct mst_err err = {0};
	ck_assert_int_eq(mst_symbols_open(getpid(), &s, &err), 0);
	uint64_t base = (uint64_t)(uintptr_t)&mst_symbols_open;
	enum { N = 5000 };
	static char first[N][512];
	for (int i = 0; i < N; i++) {
		const struct mst_native_frame *fr;
		size_t k;
		ck_assert_int_eq(mst_symbols_resolve(s, base + 13u * (uint64_t)i, i % 2, &fr, &k),
		                 0);
		ck_assert_uint_gt(k, 0);
		describe_frames(first[i], sizeof(first[i]), fr, k);
	}
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			ck_assert_int_eq(mst_symbols_refresh(s, &err), 0);
		for (int i = N; i-- > 0;) {
			const struct mst_native_frame *fr;
			size_t k;
			char now[512];
			ck_assert_int_eq(
			    mst_symbols_resolve(s, base + 13u * (uint64_t)i, i % 2, &fr, &k), 0);
			describe_frames(now, sizeof(now), fr, k);
			ck_assert_str_eq(now, first[i]);
		}
	}
	struct mst_symbols_stats st;
	mst_symbols_stats(s, &st);
	ck_assert_uint_gt(st.cached, 1000);
	mst_symbols_close(s);
}
END_TEST

/* KB resident in libdwfl's mapping of path: private, writable, the whole
 * file from offset 0 (the program's own rw-p mapping of path is its .data,
 * at an offset), and made after the mappings in old[0..nold) (a sanitizer
 * runtime may map the program the same way). With old NULL, the starts of
 * those mappings go to found (up to 16), and their count is returned. */
static long dwfl_rss_kb(const char *path, const unsigned long *old, size_t nold,
                        unsigned long *found)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	ck_assert_ptr_nonnull(f);
	char line[4096];
	bool in = false;
	long kb = 0, v, count = 0;
	while (fgets(line, sizeof(line), f)) {
		char perms[8], name[PATH_MAX];
		unsigned long start;
		unsigned long long off;
		int got =
		    sscanf(line, "%lx-%*x %7s %llx %*s %*s %4095s", &start, perms, &off, name);
		if (got >= 3) { /* a mapping's first line; anonymous ones have no name */
			in = got == 4 && strcmp(perms, "rw-p") == 0 && off == 0 &&
			     strcmp(name, path) == 0;
			for (size_t i = 0; in && old && i < nold; i++)
				in = old[i] != start;
			if (in && !old && count < 16)
				found[count] = start;
			count += in;
		} else if (in && sscanf(line, "Rss: %ld kB", &v) == 1) {
			kb += v;
		}
	}
	fclose(f);
	return old ? kb : count;
}

/* Reading units touches their DIEs in libdwfl's mapping of the debug info;
 * mst_symbols_release gives those pages back, and the answers stay. */
START_TEST(symbols_release_pages)
{
	struct mst_symbols *s = NULL;
	struct mst_err err = {0};
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	/* Dirty pages (the test binary was just linked) are not paged out. */
	int fd = open(exe, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fsync(fd), 0);
	close(fd);
	unsigned long old[16];
	size_t nold = (size_t)dwfl_rss_kb(exe, NULL, 0, old);
	ck_assert_int_eq(mst_symbols_open(getpid(), &s, &err), 0);
	uint64_t base = (uint64_t)(uintptr_t)&mst_symbols_open;
	enum { N = 400 };
	static char before[N][160];
	for (int i = 0; i < N; i++) {
		const struct mst_native_frame *fr;
		size_t k;
		ck_assert_int_eq(mst_symbols_resolve(s, base + 97u * (uint64_t)i, false, &fr, &k),
		                 0);
		snprintf(before[i], sizeof(before[i]), "%s %s:%d",
		         fr[k - 1].func ? fr[k - 1].func : "-",
		         fr[k - 1].file ? fr[k - 1].file : "-", fr[k - 1].line);
	}
	long held = dwfl_rss_kb(exe, old, nold, NULL), after = held;
	/* Some pages go only at a later call (see mst_symbols_release), or
	 * moments after it: as in the sampler, call it now and then. */
	for (int i = 0; i < 50 && after >= held / 2; i++) {
		mst_symbols_release(s);
		after = dwfl_rss_kb(exe, old, nold, NULL);
		if (after >= held / 2)
			usleep(100 * 1000);
	}
	fprintf(stderr, "symbols_release_pages: %ld KB of %s resident, %ld KB after release\n",
	        held, exe, after);
	ck_assert_int_gt(held, 64);
	ck_assert_int_lt(after, held / 2);
	/* Past the cache (flushed by a refresh), from the tables again. */
	ck_assert_int_eq(mst_symbols_refresh(s, &err), 0);
	for (int i = 0; i < N; i++) {
		const struct mst_native_frame *fr;
		size_t k;
		char now[160];
		ck_assert_int_eq(mst_symbols_resolve(s, base + 97u * (uint64_t)i, false, &fr, &k),
		                 0);
		snprintf(now, sizeof(now), "%s %s:%d", fr[k - 1].func ? fr[k - 1].func : "-",
		         fr[k - 1].file ? fr[k - 1].file : "-", fr[k - 1].line);
		ck_assert_str_eq(now, before[i]);
	}
	mst_symbols_close(s);
}
END_TEST

START_TEST(symbols_demangle_and_versions)
{
	/* libc's memcpy is exported with a version ("memcpy@@GLIBC_2.14"):
	 * the name shown must be plain. */
	struct mst_symbols *s = NULL;
	struct mst_err err = {0};
	ck_assert_int_eq(mst_symbols_open(getpid(), &s, &err), 0);
	const struct mst_native_frame *fr;
	size_t n;
	ck_assert_int_eq(mst_symbols_resolve(s, (uint64_t)(uintptr_t)&getpid, false, &fr, &n), 0);
	ck_assert_ptr_nonnull(fr[n - 1].func);
	ck_assert(strchr(fr[n - 1].func, '@') == NULL);
	ck_assert(strstr(fr[n - 1].module, "libc") != NULL);
	mst_symbols_close(s);
}
END_TEST

/* ---- PID parsing and checks ---- */

START_TEST(pid_parse)
{
	struct mst_err err = {0};
	pid_t pid;
	ck_assert_int_eq(mst_proc_parse_pid("123", &pid, &err), 0);
	ck_assert_int_eq(pid, 123);
	ck_assert_int_eq(mst_proc_parse_pid("0", &pid, &err), -EINVAL);
	ck_assert_int_eq(mst_proc_parse_pid("-5", &pid, &err), -EINVAL);
	ck_assert_int_eq(mst_proc_parse_pid("12abc", &pid, &err), -EINVAL);
	ck_assert_int_eq(mst_proc_parse_pid("", &pid, &err), -EINVAL);
	ck_assert_int_eq(mst_proc_parse_pid("99999999999999999999", &pid, &err), -EINVAL);
	ck_assert_int_eq(mst_proc_parse_pid(" 12", &pid, &err), -EINVAL);
}
END_TEST

/* ---- the binary's error paths ---- */

struct result {
	int code;
	char *out, *err;
};

static struct result run_msttop(const char *a1, const char *a2, const char *a3)
{
	char *bin = mst_build_path("msttop");
	char *argv[] = {bin, (char *)a1, (char *)a2, (char *)a3, NULL};
	struct result r = {0};
	int st = mst_run(argv, 30000, &r.out, &r.err);
	r.code = mst_exit_code(st);
	free(bin);
	return r;
}

static void free_result(struct result *r)
{
	free(r->out);
	free(r->err);
}

/* One line on stderr, non-empty, mentioning want. */
static void assert_one_line(const struct result *r, const char *want)
{
	ck_assert_msg(r->err && strstr(r->err, want), "stderr '%s' lacks '%s'", r->err, want);
	ck_assert_msg(strchr(r->err, '\n') == r->err + strlen(r->err) - 1,
	              "stderr is not one line: '%s'", r->err);
}

START_TEST(cli_help_version)
{
	struct result r = run_msttop("--help", NULL, NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert(strstr(r.out, "Exit codes") != NULL);
	free_result(&r);
	r = run_msttop("--version", NULL, NULL);
	ck_assert_int_eq(r.code, 0);
	ck_assert(strncmp(r.out, "msttop ", 7) == 0);
	free_result(&r);
}
END_TEST

/* The man page covers every long option --help lists. */
START_TEST(cli_man_page_has_every_option)
{
	struct result r = run_msttop("--help", NULL, NULL);
	ck_assert_int_eq(r.code, 0);
	char *path = mst_src_path("share/msttop.1");
	FILE *f = fopen(path, "r");
	ck_assert_msg(f, "no man page at %s", path);
	static char man[1 << 17];
	size_t n = fread(man, 1, sizeof(man) - 1, f);
	fclose(f);
	man[n] = '\0';
	/* roff writes a hyphen as "\-": read it as one. */
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		if (man[i] == '\\' && man[i + 1] == '-')
			continue;
		man[w++] = man[i];
	}
	man[w] = '\0';
	size_t found = 0;
	for (const char *p = r.out; (p = strstr(p, "--")); p += 2) {
		char opt[64];
		size_t k = 0;
		while (k < sizeof(opt) - 1 &&
		       (p[2 + k] == '-' || (p[2 + k] >= 'a' && p[2 + k] <= 'z')))
			k++;
		if (!k)
			continue;
		snprintf(opt, sizeof(opt), "--%.*s", (int)k, p + 2);
		ck_assert_msg(strstr(man, opt), "%s is in --help but not in the man page", opt);
		found++;
	}
	ck_assert_uint_ge(found, 15);
	free(path);
	free_result(&r);
}
END_TEST

START_TEST(cli_usage_errors)
{
	struct result r = run_msttop("--dump", NULL, NULL);
	ck_assert_int_eq(r.code, 2);
	assert_one_line(&r, "no PID");
	free_result(&r);
	r = run_msttop("--bogus", NULL, NULL);
	ck_assert_int_eq(r.code, 2);
	assert_one_line(&r, "unknown option");
	free_result(&r);
	r = run_msttop("--dump", "-p", "0");
	ck_assert_int_eq(r.code, 2);
	assert_one_line(&r, "PID 0");
	free_result(&r);
	r = run_msttop("--dump", "-p", "-5");
	ck_assert_int_eq(r.code, 2);
	assert_one_line(&r, "invalid PID");
	free_result(&r);
	r = run_msttop("--dump", "-p", "abc");
	ck_assert_int_eq(r.code, 2);
	assert_one_line(&r, "invalid PID 'abc'");
	free_result(&r);
	r = run_msttop("--dump", "-p", NULL);
	ck_assert_int_eq(r.code, 2);
	assert_one_line(&r, "needs a PID");
	free_result(&r);
	/* A long option without its value is named as typed. */
	r = run_msttop("--core", NULL, NULL);
	ck_assert_int_eq(r.code, 2);
	assert_one_line(&r, "--core needs a value");
	free_result(&r);
	r = run_msttop("--log", NULL, NULL);
	ck_assert_int_eq(r.code, 2);
	assert_one_line(&r, "--log needs a value");
	free_result(&r);
	r = run_msttop("--exe", "/bin/true", NULL);
	ck_assert_int_eq(r.code, 2);
	assert_one_line(&r, "--exe goes with --core");
	free_result(&r);
	r = run_msttop("--core", "/nonexistent", "-b");
	ck_assert_int_eq(r.code, 2);
	assert_one_line(&r, "--core goes with --dump");
	free_result(&r);
	r = run_msttop("--core", "/nonexistent", NULL);
	ck_assert_int_eq(r.code, 2);
	assert_one_line(&r, "cannot open core file /nonexistent");
	free_result(&r);
}
END_TEST

START_TEST(cli_no_such_pid)
{
	/* A PID that existed a moment ago and was reaped. */
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)child);
	struct result r = run_msttop("--dump", "-p", pid);
	ck_assert_int_eq(r.code, 3);
	assert_one_line(&r, "no such process");
	free_result(&r);
}
END_TEST

START_TEST(cli_zombie)
{
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	/* Let it die but do not reap it. */
	char path[64], state = 0;
	for (int i = 0; i < 500 && state != 'Z'; i++) {
		usleep(2000);
		snprintf(path, sizeof(path), "/proc/%d/stat", (int)child);
		mst_proc_task_info(child, child, NULL, &state);
	}
	ck_assert_int_eq(state, 'Z');
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)child);
	struct result r = run_msttop("--dump", "-p", pid);
	waitpid(child, NULL, 0);
	ck_assert_int_eq(r.code, 5);
	assert_one_line(&r, "zombie");
	free_result(&r);
}
END_TEST

START_TEST(cli_kernel_thread)
{
	/* kthreadd is PID 2 wherever kernel threads are visible; look for
	 * any task flagged PF_KTHREAD rather than assume. */
	char pid[32] = "";
	for (int p = 2; p < 200 && !pid[0]; p++) {
		char path[64], buf[512];
		snprintf(path, sizeof(path), "/proc/%d/stat", p);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		char *rp = strrchr(buf, ')');
		unsigned long flags = 0;
		int a, b, c, d, e;
		char st;
		if (rp &&
		    sscanf(rp + 2, "%c %d %d %d %d %d %lu", &st, &a, &b, &c, &d, &e, &flags) == 7 &&
		    (flags & 0x00200000))
			snprintf(pid, sizeof(pid), "%d", p);
	}
	ck_assert_msg(pid[0], "no kernel thread is visible in /proc to test with");
	struct result r = run_msttop("--dump", "-p", pid);
	ck_assert_int_eq(r.code, 5);
	assert_one_line(&r, "kernel thread");
	free_result(&r);
}
END_TEST

START_TEST(cli_self)
{
	/* The shell execs msttop, so $$ is msttop's own PID. */
	char *bin = mst_build_path("msttop");
	char *cmd = NULL;
	ck_assert_int_gt(asprintf(&cmd, "exec '%s' --dump -p $$", bin), 0);
	char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	struct result r = {0};
	r.code = mst_exit_code(mst_run(argv, 30000, &r.out, &r.err));
	ck_assert_int_eq(r.code, 5);
	assert_one_line(&r, "msttop itself");
	free_result(&r);
	free(cmd);
	free(bin);
}
END_TEST

START_TEST(cli_not_permitted)
{
	/* An unprivileged user may not trace a root process. */
	ck_assert_msg(geteuid() == 0, "this test needs root to drop privileges");
	char *bin = mst_build_path("msttop");
	char pid[32];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	pid_t child = fork();
	if (child == 0) {
		dup2(p[1], 2);
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(99);
		execl(bin, bin, "--dump", "-p", pid, (char *)NULL);
		_exit(98);
	}
	close(p[1]);
	char buf[1024] = "";
	ssize_t n, len = 0;
	while ((n = read(p[0], buf + len, sizeof(buf) - 1 - (size_t)len)) > 0)
		len += n;
	buf[len] = '\0';
	close(p[0]);
	int st;
	waitpid(child, &st, 0);
	ck_assert_int_eq(mst_exit_code(st), 4);
	ck_assert_msg(strstr(buf, "CAP_SYS_PTRACE") && strstr(buf, "ptrace_scope") &&
	                  strstr(buf, "root"),
	              "message '%s' does not say what to do", buf);
	free(bin);
}
END_TEST

/* msttop reads its target and never writes it: no request that writes
 * memory or registers may appear anywhere in the sources. */
START_TEST(sources_never_write_target)
{
	static const char *const forbidden[] = {"PTRACE_POKE",
	                                        "process_vm_writev",
	                                        "PTRACE_SETREGS",
	                                        "PTRACE_SETFPREGS",
	                                        "PTRACE_SETREGSET",
	                                        "PTRACE_SETSIGINFO",
	                                        NULL};
	char *cmd = NULL;
	char *root = mst_src_path("");
	ck_assert_int_gt(
	    asprintf(&cmd, "find '%s/src' '%s/ui' '%s/include' -name '*.[ch]'", root, root, root),
	    0);
	FILE *list = popen(cmd, "r");
	ck_assert_ptr_nonnull(list);
	char path[4096];
	int files = 0;
	while (fgets(path, sizeof(path), list)) {
		path[strcspn(path, "\n")] = '\0';
		FILE *f = fopen(path, "r");
		ck_assert_ptr_nonnull(f);
		char line[4096];
		int n = 0;
		while (fgets(line, sizeof(line), f)) {
			n++;
			for (int k = 0; forbidden[k]; k++)
				ck_assert_msg(!strstr(line, forbidden[k]), "%s:%d uses %s", path, n,
				              forbidden[k]);
		}
		fclose(f);
		files++;
	}
	pclose(list);
	ck_assert_int_gt(files, 20);
	free(cmd);
	free(root);
}
END_TEST

START_TEST(cli_closed_pipe)
{
	/* `msttop --dump | head -1`: the reader leaves early; msttop must
	 * end quietly and successfully, its target untouched. */
	char *bin = mst_build_path("msttop");
	char *cmd = NULL;
	ck_assert_int_gt(asprintf(&cmd,
	                          "sleep 30 & p=$!; '%s' --dump -p $p | head -1; "
	                          "s=${PIPESTATUS[0]}; kill $p; exit $s",
	                          bin),
	                 0);
	char *argv[] = {"/bin/bash", "-c", cmd, NULL};
	struct result r = {0};
	r.code = mst_exit_code(mst_run(argv, 30000, &r.out, &r.err));
	ck_assert_msg(r.code == 0, "exit %d, stderr: %s", r.code, r.err);
	ck_assert(strncmp(r.out, "Process ", 8) == 0);
	ck_assert_str_eq(r.err, "");
	free_result(&r);
	free(cmd);
	free(bin);
}
END_TEST

static Suite *unit_suite(void)
{
	Suite *s = suite_create("unit");
	TCase *tc = tcase_create("maps");
	tcase_add_test(tc, maps_parse_lines);
	tcase_add_test(tc, maps_parse_malformed);
	tcase_add_test(tc, maps_read_self);
	suite_add_tcase(s, tc);
	tc = tcase_create("elf");
	tcase_add_test(tc, elf_lookup_and_bias);
	tcase_add_test(tc, elf_open_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("symbols");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, symbols_known_function);
	tcase_add_test(tc, symbols_demangle_and_versions);
	tcase_add_test(tc, symbols_names_as_libdwfl);
	tcase_add_test(tc, symbols_release_pages);
	tcase_add_test(tc, symbols_cache_same_answers);
	suite_add_tcase(s, tc);
	tc = tcase_create("cli");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, pid_parse);
	tcase_add_test(tc, cli_help_version);
	tcase_add_test(tc, cli_usage_errors);
	tcase_add_test(tc, cli_man_page_has_every_option);
	tcase_add_test(tc, cli_no_such_pid);
	tcase_add_test(tc, cli_zombie);
	tcase_add_test(tc, cli_kernel_thread);
	tcase_add_test(tc, cli_self);
	tcase_add_test(tc, cli_not_permitted);
	tcase_add_test(tc, cli_closed_pipe);
	tcase_add_test(tc, sources_never_write_target);
	suite_add_tcase(s, tc);
	return s;
}

Suite *merge_suite(void);
Suite *agg_suite(void);
Suite *format_suite(void);
Suite *debugcache_suite(void);
Suite *dwtab_suite(void);
Suite *classify_suite(void);
Suite *agg_bounds_suite(void);
Suite *calltree_suite(void);
Suite *record_suite(void);
Suite *attrib_suite(void);
Suite *prefetch_suite(void);
Suite *perf_store_suite(void);
Suite *snapshot_memo_suite(void);

int main(void)
{
	Suite *more[] = {merge_suite(),        agg_suite(),      format_suite(),
	                 debugcache_suite(),   dwtab_suite(),    classify_suite(),
	                 agg_bounds_suite(),   calltree_suite(), record_suite(),
	                 attrib_suite(),       prefetch_suite(), perf_store_suite(),
	                 snapshot_memo_suite()};
	return mst_check_main(unit_suite(), more, sizeof(more) / sizeof(more[0]));
}
