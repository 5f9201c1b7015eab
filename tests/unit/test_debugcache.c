/* The debug cache (src/debugcache.c) on a real compressed debug file: the
 * test target native_chain's DWARF, split off and zlib-compressed with
 * objcopy the way Debian's -dbg packages ship it, under a private
 * .build-id tree. The copy must carry the same DWARF, line for line. */
#include <check.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "../harness.h"
#include "debugcache-int.h"

Suite *debugcache_suite(void);

struct fixture {
	char root[256];  /* a temporary directory */
	char debug[300]; /* root/debug: the .build-id tree */
	char cache[300]; /* root/cache */
	char src[512];   /* the compressed debug file */
	unsigned char id[64];
	size_t idlen;
	char hex[129];
};

static int sh(const char *cmd)
{
	int st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static size_t build_id(const char *path, unsigned char *id, size_t len)
{
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	Elf *e = elf_begin(fd, ELF_C_READ, NULL);
	const void *p;
	ssize_t n = e ? dwelf_elf_gnu_build_id(e, &p) : -1;
	ck_assert_int_gt(n, 1);
	ck_assert_uint_le((size_t)n, len);
	memcpy(id, p, (size_t)n);
	elf_end(e);
	close(fd);
	return (size_t)n;
}

static size_t count_compressed(int fd)
{
	Elf *e = elf_begin(fd, ELF_C_READ, NULL);
	ck_assert_ptr_nonnull(e);
	size_t n = 0;
	for (Elf_Scn *scn = elf_nextscn(e, NULL); scn; scn = elf_nextscn(e, scn)) {
		GElf_Shdr sh;
		ck_assert_ptr_nonnull(gelf_getshdr(scn, &sh));
		n += (sh.sh_flags & SHF_COMPRESSED) != 0;
	}
	elf_end(e);
	return n;
}

/* Split native_chain's DWARF into root/debug/.build-id/xx/yyyy.debug,
 * compressed (or not). */
static void setup(struct fixture *f, bool compress)
{
	elf_version(EV_CURRENT);
	unsetenv("MSTTOP_CACHE_DIR");
	snprintf(f->root, sizeof(f->root), "/tmp/msttop-dc-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->root));
	snprintf(f->debug, sizeof(f->debug), "%s/debug", f->root);
	snprintf(f->cache, sizeof(f->cache), "%s/cache", f->root);
	char *bin = mst_build_path("tests/native_chain");
	f->idlen = build_id(bin, f->id, sizeof(f->id));
	for (size_t i = 0; i < f->idlen; i++)
		snprintf(f->hex + 2 * i, 3, "%02x", f->id[i]);
	snprintf(f->src, sizeof(f->src), "%s/.build-id/%.2s/%s.debug", f->debug, f->hex,
	         f->hex + 2);
	char cmd[2048];
	snprintf(cmd, sizeof(cmd),
	         "mkdir -p %s/.build-id/%.2s && objcopy --only-keep-debug %s %s %s", f->debug,
	         f->hex, compress ? "--compress-debug-sections=zlib" : "", bin, f->src);
	ck_assert_int_eq(sh(cmd), 0);
	free(bin);
	int fd = open(f->src, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_eq(count_compressed(fd) > 0, compress);
	close(fd);
}

static void teardown(struct fixture *f)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->root);
	ck_assert_int_eq(sh(cmd), 0);
}

/* Every line-table row of every CU, as text, for comparing two files. */
static char *lines_of(int fd, size_t *rows)
{
	Dwarf *dw = dwarf_begin(fd, DWARF_C_READ);
	ck_assert_ptr_nonnull(dw);
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap);
	ck_assert_ptr_nonnull(out);
	*rows = 0;
	Dwarf_Off off = 0, next;
	size_t hsize;
	while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu;
		Dwarf_Lines *lines;
		size_t n;
		if (dwarf_offdie(dw, off + hsize, &cu) && dwarf_getsrclines(&cu, &lines, &n) == 0) {
			for (size_t i = 0; i < n; i++) {
				Dwarf_Line *l = dwarf_onesrcline(lines, i);
				Dwarf_Addr a = 0;
				int line = 0;
				dwarf_lineaddr(l, &a);
				dwarf_lineno(l, &line);
				const char *file = dwarf_linesrc(l, NULL, NULL);
				if (len + 600 > cap) {
					cap *= 2;
					out = realloc(out, cap);
					ck_assert_ptr_nonnull(out);
				}
				len += (size_t)snprintf(out + len, cap - len, "%llx %s:%d\n",
				                        (unsigned long long)a, file ? file : "?",
				                        line);
				(*rows)++;
			}
		}
		off = next;
	}
	dwarf_end(dw);
	return out;
}

START_TEST(copy_has_the_same_dwarf)
{
	struct fixture f;
	setup(&f, true);
	char *path = strdup("original");
	int fd = mst_debugcache_find(f.cache, f.debug, f.id, f.idlen, &path);
	ck_assert_int_ge(fd, 0);
	char want[600];
	snprintf(want, sizeof(want), "%s/%s.debug", f.cache, f.hex);
	ck_assert_str_eq(path, want);
	ck_assert_uint_eq(count_compressed(fd), 0);
	unsigned char id[64];
	ck_assert_uint_eq(build_id(path, id, sizeof(id)), f.idlen);
	ck_assert_mem_eq(id, f.id, f.idlen);

	/* The cache directory is private: nobody else may plant entries. */
	struct stat st;
	ck_assert_int_eq(stat(f.cache, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0700);

	int sfd = open(f.src, O_RDONLY);
	ck_assert_int_ge(sfd, 0);
	size_t n1, n2;
	char *a = lines_of(sfd, &n1), *b = lines_of(fd, &n2);
	ck_assert_uint_gt(n1, 20); /* native_chain has real line tables */
	ck_assert_uint_eq(n1, n2);
	ck_assert_str_eq(a, b);
	free(a);
	free(b);
	close(sfd);
	close(fd);
	free(path);
	teardown(&f);
}
END_TEST

START_TEST(second_lookup_hits_the_cache)
{
	struct fixture f;
	setup(&f, true);
	int fd = mst_debugcache_find(f.cache, f.debug, f.id, f.idlen, NULL);
	ck_assert_int_ge(fd, 0);
	struct stat a, b;
	ck_assert_int_eq(fstat(fd, &a), 0);
	close(fd);
	/* Without the source the entry alone must answer. */
	ck_assert_int_eq(unlink(f.src), 0);
	fd = mst_debugcache_find(f.cache, f.debug, f.id, f.idlen, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &b), 0);
	ck_assert_uint_eq(a.st_ino, b.st_ino);
	close(fd);
	teardown(&f);
}
END_TEST

START_TEST(bad_entry_is_not_used)
{
	struct fixture f;
	setup(&f, true);
	/* An entry that is another ELF file (wrong build-id) is replaced. */
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "mkdir -m 700 %s && cp /bin/true %s/%s.debug", f.cache, f.cache,
	         f.hex);
	ck_assert_int_eq(sh(cmd), 0);
	int fd = mst_debugcache_find(f.cache, f.debug, f.id, f.idlen, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_uint_eq(count_compressed(fd), 0);
	close(fd);
	char path[600];
	snprintf(path, sizeof(path), "%s/%s.debug", f.cache, f.hex);
	unsigned char id[64];
	ck_assert_uint_eq(build_id(path, id, sizeof(id)), f.idlen);
	ck_assert_mem_eq(id, f.id, f.idlen);

	/* Without the source a bad entry gives nothing, not a wrong file. */
	snprintf(cmd, sizeof(cmd), "cp /bin/true %s && rm %s", path, f.src);
	ck_assert_int_eq(sh(cmd), 0);
	ck_assert_int_eq(mst_debugcache_find(f.cache, f.debug, f.id, f.idlen, NULL), -1);
	teardown(&f);
}
END_TEST

START_TEST(shared_dir_is_refused)
{
	struct fixture f;
	setup(&f, true);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "mkdir -m 777 %s && chmod 777 %s", f.cache, f.cache);
	ck_assert_int_eq(sh(cmd), 0);
	ck_assert_int_eq(mst_debugcache_find(f.cache, f.debug, f.id, f.idlen, NULL), -1);
	char entry[600];
	snprintf(entry, sizeof(entry), "%s/%s.debug", f.cache, f.hex);
	ck_assert_int_ne(access(entry, F_OK), 0);
	/* Off: "" as the directory. */
	ck_assert_int_eq(mst_debugcache_find("", f.debug, f.id, f.idlen, NULL), -1);
	teardown(&f);
}
END_TEST

START_TEST(uncompressed_is_left_alone)
{
	struct fixture f;
	setup(&f, false);
	ck_assert_int_eq(mst_debugcache_find(f.cache, f.debug, f.id, f.idlen, NULL), -1);
	char entry[600];
	snprintf(entry, sizeof(entry), "%s/%s.debug", f.cache, f.hex);
	ck_assert_int_ne(access(entry, F_OK), 0);
	teardown(&f);
}
END_TEST

START_TEST(dir_from_environment)
{
	char b[512];
	setenv("MSTTOP_CACHE_DIR", "off", 1);
	ck_assert_str_eq(mst_debugcache_dir(b, sizeof(b)), "");
	setenv("MSTTOP_CACHE_DIR", "", 1);
	ck_assert_str_eq(mst_debugcache_dir(b, sizeof(b)), "");
	setenv("MSTTOP_CACHE_DIR", "/x/y", 1);
	ck_assert_str_eq(mst_debugcache_dir(b, sizeof(b)), "/x/y");
	unsetenv("MSTTOP_CACHE_DIR");
	setenv("XDG_CACHE_HOME", "/xdg", 1);
	ck_assert_str_eq(mst_debugcache_dir(b, sizeof(b)), "/xdg/msttop");
	unsetenv("XDG_CACHE_HOME");
	setenv("HOME", "/home/u", 1);
	ck_assert_str_eq(mst_debugcache_dir(b, sizeof(b)), "/home/u/.cache/msttop");
}
END_TEST

START_TEST(trim_removes_oldest)
{
	char dir[] = "/tmp/msttop-dc-trim-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char path[128];
	/* Three 1000-byte entries, aged 30, 20 and 10 s. */
	for (int i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s/%d.debug", dir, i);
		FILE *fp = fopen(path, "w");
		ck_assert_ptr_nonnull(fp);
		for (int k = 0; k < 1000; k++)
			fputc('x', fp);
		fclose(fp);
		struct timeval tv[2];
		gettimeofday(&tv[0], NULL);
		tv[0].tv_sec -= 30 - 10 * i;
		tv[1] = tv[0];
		ck_assert_int_eq(utimes(path, tv), 0);
	}
	mst_debugcache_trim(dir, 2500);
	snprintf(path, sizeof(path), "%s/0.debug", dir);
	ck_assert_int_ne(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/1.debug", dir);
	ck_assert_int_eq(access(path, F_OK), 0);
	/* The newest stays even when it alone is over the limit. */
	mst_debugcache_trim(dir, 10);
	ck_assert_int_ne(access(path, F_OK), 0);
	snprintf(path, sizeof(path), "%s/2.debug", dir);
	ck_assert_int_eq(access(path, F_OK), 0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(sh(cmd), 0);
}
END_TEST

Suite *debugcache_suite(void)
{
	Suite *s = suite_create("debugcache");
	TCase *tc = tcase_create("debugcache");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, copy_has_the_same_dwarf);
	tcase_add_test(tc, second_lookup_hits_the_cache);
	tcase_add_test(tc, bad_entry_is_not_used);
	tcase_add_test(tc, shared_dir_is_refused);
	tcase_add_test(tc, uncompressed_is_left_alone);
	tcase_add_test(tc, dir_from_environment);
	tcase_add_test(tc, trim_removes_oldest);
	suite_add_tcase(s, tc);
	return s;
}
