/* Uncompressed copies of compressed separate debug files, by build-id. See
 * the header for why. The copy is written with libelf: the same sections in
 * the same order (so section indices and sh_link stay valid), each
 * SHF_COMPRESSED one inflated, laid out anew by libelf. */
#include "debugcache-int.h"

#include <dirent.h>
#include <elfutils/libdwelf.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Entries kept before the oldest are removed: a few system libraries'
 * debug files (libc's is ~15 MB uncompressed) fit many times over. */
#define CACHE_MAX_BYTES (512ull << 20)
#define MAX_BUILD_ID 64

const char *mst_debugcache_dir(char *buf, size_t len)
{
	const char *d = getenv("MSTTOP_CACHE_DIR");
	const char *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	buf[0] = '\0';
	if (d) {
		if (*d && strcmp(d, "off") != 0)
			snprintf(buf, len, "%s", d);
	} else if (xdg && xdg[0] == '/') {
		snprintf(buf, len, "%s/msttop", xdg);
	} else if (home && home[0] == '/') {
		snprintf(buf, len, "%s/.cache/msttop", home);
	}
	return buf;
}

static bool has_compressed_debug(Elf *e)
{
	size_t shstrndx;
	if (elf_getshdrstrndx(e, &shstrndx) != 0)
		return false;
	for (Elf_Scn *scn = elf_nextscn(e, NULL); scn; scn = elf_nextscn(e, scn)) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || !(sh.sh_flags & SHF_COMPRESSED))
			continue;
		const char *name = elf_strptr(e, shstrndx, sh.sh_name);
		if (name && strncmp(name, ".debug_", 7) == 0)
			return true;
	}
	return false;
}

/* The build-id as hex, or false. */
static bool build_id_hex(Elf *e, char *hex, size_t len)
{
	const void *id;
	ssize_t n = dwelf_elf_gnu_build_id(e, &id);
	if (n <= 0 || n > MAX_BUILD_ID || (size_t)n * 2 + 1 > len)
		return false;
	for (ssize_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)id)[i]);
	return true;
}

/* Our own directory, that nobody else can put files into: a debug file
 * planted there would be parsed as if it were the library's. */
static bool dir_is_private(const char *dir)
{
	struct stat st;
	return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
	       !(st.st_mode & (S_IWGRP | S_IWOTH));
}

static bool make_dir(const char *dir)
{
	char p[4096];
	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
		return false;
	/* mkdir -p; the parents we create are private too. */
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			return false;
		*s = '/';
	}
	if (mkdir(p, 0700) != 0 && errno != EEXIST)
		return false;
	return dir_is_private(dir);
}

/* An entry is used only if it is a regular file of ours with the build-id it
 * is named after and nothing compressed left in it. */
static int open_entry(const char *path, const char *hex)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	struct stat st;
	bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid();
	Elf *e = ok ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;
	char id[2 * MAX_BUILD_ID + 1];
	ok = e && elf_kind(e) == ELF_K_ELF && build_id_hex(e, id, sizeof(id)) &&
	     strcmp(id, hex) == 0 && !has_compressed_debug(e);
	elf_end(e);
	if (!ok) {
		close(fd);
		return -1;
	}
	/* The modification time orders entries for trimming: mark it used. */
	futimens(fd, NULL);
	return fd;
}

/* Write in's sections, inflated, to the new file out_fd. */
static bool write_copy(Elf *in, int out_fd)
{
	GElf_Ehdr eh;
	size_t phnum, shstrndx;
	if (!gelf_getehdr(in, &eh) || elf_getphdrnum(in, &phnum) != 0 ||
	    elf_getshdrstrndx(in, &shstrndx) != 0 || shstrndx >= SHN_LORESERVE)
		return false;
	Elf *out = elf_begin(out_fd, ELF_C_WRITE, NULL);
	bool ok = out && gelf_newehdr(out, gelf_getclass(in));
	if (ok) {
		GElf_Ehdr oh;
		ok = gelf_getehdr(out, &oh) != NULL;
		memcpy(oh.e_ident, eh.e_ident, EI_NIDENT);
		oh.e_type = eh.e_type;
		oh.e_machine = eh.e_machine;
		oh.e_version = eh.e_version;
		oh.e_entry = eh.e_entry;
		oh.e_flags = eh.e_flags;
		oh.e_shstrndx = (GElf_Half)shstrndx;
		ok = ok && gelf_update_ehdr(out, &oh);
	}
	/* A debug file keeps the program headers of its library (the segments
	 * are NOBITS): libdwfl reads them to place the file. */
	if (ok && phnum) {
		ok = gelf_newphdr(out, phnum) != NULL;
		for (size_t i = 0; ok && i < phnum; i++) {
			GElf_Phdr ph;
			ok = gelf_getphdr(in, (int)i, &ph) && gelf_update_phdr(out, (int)i, &ph);
		}
	}
	for (Elf_Scn *scn = elf_nextscn(in, NULL); ok && scn; scn = elf_nextscn(in, scn)) {
		GElf_Shdr sh;
		ok = gelf_getshdr(scn, &sh) != NULL;
		/* Inflate in place (in is a private mapping): afterwards the
		 * header has the real size and alignment, the flag cleared. */
		if (ok && (sh.sh_flags & SHF_COMPRESSED))
			ok = elf_compress(scn, 0, 0) >= 0 && gelf_getshdr(scn, &sh);
		Elf_Scn *os = ok ? elf_newscn(out) : NULL;
		ok = os != NULL;
		Elf_Data *d = ok ? elf_getdata(scn, NULL) : NULL;
		if (ok && d) {
			Elf_Data *od = elf_newdata(os);
			ok = od != NULL;
			if (ok) {
				od->d_buf = d->d_buf;
				od->d_type = d->d_type;
				od->d_size = d->d_size;
				od->d_align = d->d_align;
				od->d_version = d->d_version;
				od->d_off = 0;
			}
		}
		ok = ok && gelf_update_shdr(os, &sh);
	}
	ok = ok && elf_update(out, ELF_C_WRITE) >= 0;
	elf_end(out);
	return ok;
}

int mst_debugcache_find(const char *dir, const char *debug_root, const unsigned char *id,
                        size_t idlen, char **path)
{
	if (!dir || !*dir || !debug_root || idlen < 2 || idlen > MAX_BUILD_ID)
		return -1;
	char hex[2 * MAX_BUILD_ID + 1];
	for (size_t i = 0; i < idlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	char name[4096], tmp[4096], src[4096];
	if (snprintf(name, sizeof(name), "%s/%s.debug", dir, hex) >= (int)sizeof(name) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.%d.tmp", dir, hex, (int)getpid()) >=
	        (int)sizeof(tmp))
		return -1;
	int fd = dir_is_private(dir) ? open_entry(name, hex) : -1;
	if (fd < 0) {
		/* Where Debian's -dbg/-dbgsym packages put them, and where
		 * libdwfl looks first. */
		snprintf(src, sizeof(src), "%s/.build-id/%.2s/%s.debug", debug_root, hex, hex + 2);
		int sfd = open(src, O_RDONLY | O_CLOEXEC);
		Elf *e = sfd >= 0 ? elf_begin(sfd, ELF_C_READ_MMAP, NULL) : NULL;
		char sid[2 * MAX_BUILD_ID + 1];
		if (e && elf_kind(e) == ELF_K_ELF && has_compressed_debug(e) &&
		    build_id_hex(e, sid, sizeof(sid)) && strcmp(sid, hex) == 0 &&
		    (dir_is_private(dir) || make_dir(dir))) {
			int wfd =
			    open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
			if (wfd >= 0) {
				bool ok = write_copy(e, wfd);
				close(wfd);
				if (ok && rename(tmp, name) == 0)
					fd = open_entry(name, hex);
				else
					unlink(tmp);
				if (fd >= 0)
					mst_debugcache_trim(dir, CACHE_MAX_BYTES);
			}
		}
		elf_end(e);
		if (sfd >= 0)
			close(sfd);
	}
	if (fd >= 0 && path) {
		char *p = strdup(name);
		if (p) {
			free(*path);
			*path = p;
		}
	}
	return fd;
}

struct cache_file {
	char name[256];
	time_t mtime;
	off_t size;
};

static int by_age(const void *a, const void *b)
{
	const struct cache_file *x = a, *y = b;
	return (x->mtime > y->mtime) - (x->mtime < y->mtime);
}

void mst_debugcache_trim(const char *dir, size_t max_bytes)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct cache_file *f = NULL;
	size_t n = 0, cap = 0;
	unsigned long long total = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		struct stat st;
		if (len < 7 || len >= sizeof(f->name) || de->d_name[0] == '.' ||
		    strcmp(de->d_name + len - 6, ".debug") != 0 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct cache_file *g = realloc(f, ncap * sizeof(*f));
			if (!g)
				break;
			f = g;
			cap = ncap;
		}
		memcpy(f[n].name, de->d_name, len + 1);
		f[n].mtime = st.st_mtime;
		f[n].size = st.st_size;
		total += (unsigned long long)st.st_size;
		n++;
	}
	if (n)
		qsort(f, n, sizeof(*f), by_age);
	/* Never the newest: it was just written or used. */
	for (size_t i = 0; i + 1 < n && total > max_bytes; i++) {
		if (unlinkat(dirfd(d), f[i].name, 0) == 0)
			total -= (unsigned long long)f[i].size;
	}
	closedir(d);
	free(f);
}
