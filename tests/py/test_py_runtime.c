/* Live tests of src/py/runtime.c: discovery against a running process of
 * every installed interpreter (pyenv 3.6-3.13 and Debian's static, stripped
 * python3.11), checked against what the interpreter says about itself; and
 * the refusals: no Python (/bin/sleep), Python 2.7, and 3.7.0-3.7.3 (a
 * 3.7 libpython whose version string is patched to 3.7.3). */
#include <check.h>
#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "msttop/elfsym.h"
#include "msttop/maps.h"
#include "msttop/proc.h"
#include "py/decode-int.h"
#include "msttop/py_runtime.h"

Suite *py_runtime_suite(void);

/* The target: builds non-interned strings of each kind, then prints their
 * addresses, the type objects' addresses and its version (id() is the
 * address in CPython). 3.6-compatible; also runs its first line on 2.7. */
static const char live_script[] =
    "import sys, time\n"
    "a = ''.join(['hello', '_ascii'])\n"
    "l = ''.join(['caf', '\\xe9'])\n"
    "u2 = ''.join(['\\u0394', 'x\\u20ac'])\n"
    "u4 = ''.join(['\\U0001f600', 'a'])\n"
    "b = bytes(bytearray(b'\\x00\\x01bytes'))\n"
    "f = sys._getframe()\n"
    "v = tuple(sys.version_info[:3])\n"
    "ids = (id(a), id(l), id(u2), id(u4), id(b), id(str), id(bytes), id(type(f.f_code)),\n"
    "       id(type(f)), id(None))\n"
    "print(('ready ver=%d.%d.%d ascii=%x latin=%x ucs2=%x ucs4=%x bytes=%x str_t=%x '\n"
    "       'bytes_t=%x code_t=%x frame_t=%x none=%x') % (v + ids))\n"
    "sys.stdout.flush()\n"
    "time.sleep(120)\n";

static const char idle_script[] = "import sys, time\n"
                                  "sys.stdout.write('ready\\n')\n"
                                  "sys.stdout.flush()\n"
                                  "time.sleep(120)\n";

static uint64_t ready_hex(const struct mst_child *t, const char *key)
{
	char buf[64];
	ck_assert_msg(mst_child_ready_value(t, key, buf, sizeof(buf)) == 0, "no %s in \"%s\"", key,
	              t->ready);
	return strtoull(buf, NULL, 16);
}

/* Discovery on a running target. */
static int find(pid_t pid, struct mst_py_runtime_info *info, struct mst_err *err)
{
	struct mst_maps *maps = NULL;
	pid_t rpid = pid;
	int rc;
	struct mst_reader r = {mst_pid_reader_read, &rpid};
	rc = mst_maps_read(pid, &maps, err);
	ck_assert_msg(rc == 0, "maps of %d: %s", (int)pid, err->msg);
	rc = mst_py_runtime_find(pid, maps, &r, info, err);
	mst_maps_free(maps);
	return rc;
}

static void check_str(const struct mst_reader *r, const struct mst_py_runtime_info *info,
                      const struct mst_py_str_layout *lay, uint64_t addr, const char *want,
                      const char *label)
{
	char buf[128];
	struct mst_err err = {0};
	bool trunc = true;
	int rc =
	    mst_py_str_read(r, lay, addr, info->unicode_type, buf, sizeof(buf), NULL, &trunc, &err);
	ck_assert_msg(rc == 0, "%s: str at 0x%" PRIx64 ": %s", label, addr, err.msg);
	ck_assert_msg(!strcmp(buf, want), "%s: str read \"%s\", want \"%s\"", label, buf, want);
	ck_assert(!trunc);
}

START_TEST(test_live_interpreter)
{
	const struct mst_interp *all;
	size_t n = mst_test_interps(&all);
	ck_assert((size_t)_i < n);
	const struct mst_interp *py = &all[_i];
	char *argv[] = {(char *)py->path, "-c", (char *)live_script, NULL};
	struct mst_child t;
	struct mst_py_runtime_info *info = calloc(1, sizeof(*info));
	struct mst_err err = {0};
	char ver[32], got[32];

	ck_assert_msg(mst_child_start(&t, argv, 30000) == 0, "%s did not start", py->label);
	pid_t pid = t.pid;
	struct mst_reader r = {mst_pid_reader_read, &pid};
	int rc = find(t.pid, info, &err);
	ck_assert_msg(rc == 0, "%s: %s", py->label, err.msg);

	/* The version the interpreter reports about itself. */
	ck_assert_int_eq(mst_child_ready_value(&t, "ver", ver, sizeof(ver)), 0);
	snprintf(got, sizeof(got), "%d.%d.%d", info->major, info->minor, info->micro);
	ck_assert_msg(!strcmp(ver, got), "%s: detected %s, interpreter says %s", py->label, got,
	              ver);
	ck_assert_int_eq(info->level, 0xf);
	ck_assert_uint_eq(info->version_hex, (uint32_t)(info->major << 24 | info->minor << 16 |
	                                                info->micro << 8 | 0xf0));
	ck_assert_int_eq(info->version_source,
	                 info->minor >= 11 ? MST_PY_VERSION_PY_VERSION : MST_PY_VERSION_STRING);
	ck_assert(!info->version_ambiguous);

	/* The module: pyenv maps a libpython; Debian's is static and stripped. */
	ck_assert_int_eq(info->is_static, py->system);
	ck_assert_int_eq(info->stripped, py->system);
	if (py->system) {
		ck_assert_int_eq(info->elf_type, ET_EXEC);
		ck_assert_uint_eq(info->bias, 0);
	} else {
		ck_assert_int_eq(info->elf_type, ET_DYN);
		ck_assert_uint_ne(info->bias, 0);
		ck_assert_ptr_nonnull(strstr(info->module_path, "/libpython3."));
	}
	ck_assert_msg(!strncmp(info->open_path, "/proc/", 6), "%s", info->open_path);
	ck_assert_uint_lt(info->module_start, info->module_end);

	/* Type objects and None, as id() sees them. */
	ck_assert_uint_eq(info->unicode_type, ready_hex(&t, "str_t"));
	ck_assert_uint_eq(info->bytes_type, ready_hex(&t, "bytes_t"));
	ck_assert_uint_eq(info->code_type, ready_hex(&t, "code_t"));
	ck_assert_uint_eq(info->frame_type, ready_hex(&t, "frame_t"));
	ck_assert_uint_eq(info->none, ready_hex(&t, "none"));

	/* The eval loop lies in the module's mappings. */
	ck_assert_int_ge(info->n_eval, 1);
	for (int i = 0; i < info->n_eval; i++) {
		ck_assert_uint_ge(info->eval[i].start, info->module_start);
		ck_assert_uint_le(info->eval[i].end, info->module_end);
		ck_assert(mst_py_runtime_is_eval_pc(info, info->eval[i].start));
	}
	ck_assert(!mst_py_runtime_is_eval_pc(info, 0));

	/* Py_Version in memory agrees (3.11+). */
	if (info->minor >= 11) {
		uint64_t v = 0;
		ck_assert_uint_ne(info->py_version_addr, 0);
		ck_assert_int_eq(mst_read(&r, info->py_version_addr, &v, sizeof(v)), 0);
		ck_assert_uint_eq(v, info->version_hex);
	}

	if (info->minor >= 7) {
		uint64_t word;
		ck_assert_uint_ne(info->runtime, 0);
		ck_assert_int_eq(mst_read(&r, info->runtime, &word, sizeof(word)), 0);
		ck_assert_int_eq(info->runtime_source, MST_PY_RUNTIME_SYMBOL);
		ck_assert_uint_gt(info->runtime_size, 0);
		ck_assert_uint_ge(info->runtime, info->module_start);
		ck_assert_uint_lt(info->runtime, info->module_end);
	} else {
		ck_assert_uint_eq(info->runtime, 0);
		ck_assert_uint_ne(info->tstate_current, 0);
		/* pyenv's 3.6 keeps .symtab: the statics are there. */
		ck_assert(info->has_interp_head && info->has_gil_locked &&
		          info->has_gil_last_holder && info->has_gc_collecting);
		uint64_t head = 0;
		int32_t locked = 7;
		ck_assert_int_eq(mst_read(&r, info->interp_head, &head, sizeof(head)), 0);
		ck_assert_uint_ne(head, 0);
		ck_assert_int_eq(mst_read(&r, info->gil_locked, &locked, sizeof(locked)), 0);
		/* -1 until a thread is started: 3.6 creates the GIL lazily. */
		ck_assert_msg(locked >= -1 && locked <= 1, "gil_locked = %d", locked);
	}
	/* 3.10+: the .PyRuntime section (the fallback when the symbol is
	 * missing) names the same address. */
	if (info->minor >= 10) {
		struct mst_elf *e = NULL;
		uint64_t sec = 0, secsize = 0;
		ck_assert_msg(mst_elf_open(info->open_path, &e, &err) == 0, "%s", err.msg);
		ck_assert_int_eq(mst_elf_section(e, ".PyRuntime", &sec, &secsize), 0);
		mst_elf_close(e);
		ck_assert_uint_eq(info->bias + sec, info->runtime);
		ck_assert_uint_eq(secsize, info->runtime_size);
	}
	ck_assert_int_eq(info->has_debug_offsets, info->minor >= 13);
	if (info->minor >= 13)
		ck_assert_uint_eq(info->debug_offsets_version >> 8, info->version_hex >> 8);

	/* Strings of each kind through the discovered PyUnicode_Type, with the
	 * layout of §2.7 (3.6-3.11 vs 3.12+). */
	struct mst_py_str_layout lay = {16, 32, 48, 72, true};
	if (info->minor >= 12)
		lay = (struct mst_py_str_layout){16, 32, 40, 56, false};
	check_str(&r, info, &lay, ready_hex(&t, "ascii"), "hello_ascii", py->label);
	check_str(&r, info, &lay, ready_hex(&t, "latin"), "caf\xc3\xa9", py->label);
	check_str(&r, info, &lay, ready_hex(&t, "ucs2"), "\xce\x94x\xe2\x82\xac", py->label);
	check_str(&r, info, &lay, ready_hex(&t, "ucs4"),
	          "\xf0\x9f\x98\x80"
	          "a",
	          py->label);
	uint8_t bytes[16];
	size_t bsize;
	ck_assert_int_eq(mst_py_bytes_read(&r, ready_hex(&t, "bytes"), info->bytes_type, bytes,
	                                   sizeof(bytes), &bsize, &err),
	                 0);
	ck_assert_uint_eq(bsize, 7);
	ck_assert(!memcmp(bytes,
	                  "\x00\x01"
	                  "bytes",
	                  7));
	/* A str is not bytes, and the other way round. */
	ck_assert_int_eq(mst_py_bytes_read(&r, ready_hex(&t, "ascii"), info->bytes_type, bytes,
	                                   sizeof(bytes), &bsize, &err),
	                 -MST_ECORRUPT);

	printf("runtime: %s: %s 3.%d.%d runtime=0x%" PRIx64 " bias=0x%" PRIx64
	       " eval ranges=%d%s%s\n",
	       py->label, info->module_path, info->minor, info->micro, info->runtime, info->bias,
	       info->n_eval, info->stripped ? " stripped" : "", info->is_static ? " static" : "");
	mst_child_stop(&t);
	free(info);
}
END_TEST

START_TEST(test_sleep_is_not_python)
{
	/* exec keeps the pid: wait until the shell has become sleep. */
	char *argv[] = {"/bin/sh", "-c", "echo ready; exec /bin/sleep 120", NULL};
	struct mst_child t;
	struct mst_py_runtime_info *info = calloc(1, sizeof(*info));
	struct mst_err err = {0};
	char link[64], exe[PATH_MAX];
	ck_assert_int_eq(mst_child_start(&t, argv, 10000), 0);
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)t.pid);
	for (int i = 0; i < 500; i++) {
		ssize_t k = readlink(link, exe, sizeof(exe) - 1);
		exe[k > 0 ? k : 0] = '\0';
		if (strstr(exe, "sleep"))
			break;
		usleep(10000);
	}
	ck_assert_msg(strstr(exe, "sleep"), "target never became sleep (%s)", exe);
	int rc = find(t.pid, info, &err);
	mst_child_stop(&t);
	ck_assert_msg(rc == -MST_ENOPYTHON, "rc %d: %s", rc, err.msg);
	ck_assert_ptr_nonnull(strstr(err.msg, "no CPython"));
	free(info);
}
END_TEST

static char *pyenv_path(const char *rel)
{
	const char *root = getenv("PYENV_ROOT");
	char *p = NULL;
	if (root && *root)
		ck_assert_int_ge(asprintf(&p, "%s/%s", root, rel), 0);
	else
		ck_assert_int_ge(
		    asprintf(&p, "%s/.pyenv/%s", getenv("HOME") ? getenv("HOME") : "/root", rel),
		    0);
	return p;
}

START_TEST(test_python27_refused)
{
	char *py = pyenv_path("versions/2.7.18/bin/python2.7");
	struct mst_py_runtime_info *info = calloc(1, sizeof(*info));
	struct mst_err err = {0};
	struct mst_child t;
	ck_assert_msg(access(py, X_OK) == 0, "%s is not installed", py);
	char *argv[] = {py, "-c", (char *)idle_script, NULL};
	ck_assert_int_eq(mst_child_start(&t, argv, 20000), 0);
	int rc = find(t.pid, info, &err);
	mst_child_stop(&t);
	ck_assert_msg(rc == -MST_EUNSUPPORTED, "rc %d: %s", rc, err.msg);
	ck_assert_msg(strstr(err.msg, "2.7.18"), "message does not name the version: %s", err.msg);
	ck_assert_int_eq(info->major, 2);
	ck_assert_int_eq(info->minor, 7);
	ck_assert_int_eq(info->micro, 18);
	free(info);
	free(py);
}
END_TEST

/* Copy a 3.7 libpython into a temporary directory with its PY_VERSION
 * rewritten to "3.7.3" (it is the tail of ".../versions/3.7.N", §1.3), run
 * the 3.7 interpreter on it through LD_LIBRARY_PATH (its RUNPATH yields), and
 * expect the 3.7.0-3.7.3 refusal. */
START_TEST(test_python373_refused)
{
	const struct mst_interp *all, *py = NULL;
	size_t n = mst_test_interps(&all);
	for (size_t i = 0; i < n; i++)
		if (all[i].minor == 7 && !all[i].system)
			py = &all[i];
	ck_assert_msg(py, "no pyenv 3.7 installed");
	char libsrc[PATH_MAX + 64], dir[] = "/tmp/msttop-py373-XXXXXX", libdst[PATH_MAX];
	char prefix[PATH_MAX];
	snprintf(prefix, sizeof(prefix), "%s", py->path);
	snprintf(libsrc, sizeof(libsrc), "%s/lib/libpython3.7m.so.1.0", dirname(dirname(prefix)));
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(libdst, sizeof(libdst), "%s/libpython3.7m.so.1.0", dir);

	FILE *f = fopen(libsrc, "rb");
	ck_assert_msg(f, "cannot open %s", libsrc);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *data = malloc((size_t)size);
	ck_assert_int_eq(fread(data, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	int patched = 0;
	for (long i = 1; i + 8 < size; i++) {
		/* "/3.7.N\0" (N >= 4): the merged PY_VERSION. */
		if (data[i - 1] == '/' && !memcmp(data + i, "3.7.", 4) && data[i + 4] >= '1' &&
		    data[i + 4] <= '9') {
			long e = i + 4;
			while (e < size && data[e] >= '0' && data[e] <= '9')
				e++;
			if (e >= size || data[e] != '\0')
				continue;
			memset(data + i, 0, (size_t)(e - i));
			memcpy(data + i, "3.7.3", 5);
			patched++;
		}
	}
	ck_assert_int_ge(patched, 1);
	f = fopen(libdst, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fwrite(data, 1, (size_t)size, f), (size_t)size);
	fclose(f);
	free(data);

	char env[PATH_MAX + 32];
	snprintf(env, sizeof(env), "LD_LIBRARY_PATH=%s", dir);
	char *argv[] = {"/usr/bin/env", env, (char *)py->path, "-c", (char *)idle_script, NULL};
	struct mst_child t;
	struct mst_py_runtime_info *info = calloc(1, sizeof(*info));
	struct mst_err err = {0};
	int started = mst_child_start(&t, argv, 20000);
	int rc = started == 0 ? find(t.pid, info, &err) : 0;
	if (started == 0)
		mst_child_stop(&t);
	unlink(libdst);
	rmdir(dir);
	ck_assert_int_eq(started, 0);
	ck_assert_msg(rc == -MST_EUNSUPPORTED, "rc %d: %s", rc, err.msg);
	ck_assert_msg(strstr(err.msg, "3.7.3"), "message does not name the version: %s", err.msg);
	ck_assert_msg(!strncmp(info->module_path, dir, strlen(dir)), "found %s", info->module_path);
	ck_assert_int_eq(info->micro, 3);
	free(info);
}
END_TEST

Suite *py_runtime_suite(void)
{
	Suite *s = suite_create("py_runtime");
	const struct mst_interp *all;
	size_t n = mst_test_interps(&all);
	TCase *tc = tcase_create("live");
	tcase_set_timeout(tc, 120);
	/* One test per interpreter; an empty list fails below, never skips. */
	tcase_add_loop_test(tc, test_live_interpreter, 0, n > 0 ? (int)n : 1);
	tcase_add_test(tc, test_sleep_is_not_python);
	tcase_add_test(tc, test_python27_refused);
	tcase_add_test(tc, test_python373_refused);
	suite_add_tcase(s, tc);
	return s;
}
