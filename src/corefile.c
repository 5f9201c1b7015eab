/* Reading an ELF core file (corefile.h). The file is mapped read-only and
 * parsed by hand, every offset checked against its size: a core is input
 * like any other, and may be truncated (a full disk, a ulimit) or not a
 * core at all. */
#include "msttop/corefile.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include "msttop/elfsym.h"

#ifndef NT_FILE
#define NT_FILE 0x46494c45
#endif
/* A note's fields, and one NT_FILE list, are bounded to keep a corrupt
 * core from asking for gigabytes. */
#define MAX_THREADS 65536
#define MAX_FILES (1u << 20)
#define NOTES_MAX 2048

/* A PT_LOAD segment: [vaddr, vaddr + memsz) of the process, of which the
 * first avail bytes are in the core at offset (fewer than filesz when the
 * core is truncated; filesz 0 when the filter left the pages out). */
struct seg {
	uint64_t vaddr, memsz, filesz, avail, offset;
	uint32_t flags;
};

/* A file mapping from NT_FILE: [start, end) maps the file at byte pgoff. */
struct fmap {
	uint64_t start, end, off;
	size_t file; /* index in files */
};

struct cfile {
	char *path;
	int fd; /* -1 not opened yet, -2 cannot be */
	bool noted;
};

struct mst_corefile {
	char *path;
	int fd;
	const uint8_t *img;
	size_t size;
	struct seg *segs;
	size_t nsegs;
	struct fmap *fmaps;
	size_t nfmaps;
	struct cfile *files;
	size_t nfiles;
	struct mst_corefile_thread *threads;
	size_t nthreads;
	pid_t pid;
	char comm[17];
	char cmdline[81];
	int signo;
	uint64_t at_phdr, at_entry, at_vdso;
	char *maps_text;
	struct mst_maps *maps;
	char notes[NOTES_MAX];
};

static void note(struct mst_corefile *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void note(struct mst_corefile *c, const char *fmt, ...)
{
	size_t len = strlen(c->notes);
	if (len + 2 >= sizeof(c->notes))
		return;
	if (len)
		c->notes[len++] = '\n';
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->notes + len, sizeof(c->notes) - len, fmt, ap);
	va_end(ap);
}

/* Whether [off, off + len) lies inside the image. */
static bool in_image(const struct mst_corefile *c, uint64_t off, uint64_t len)
{
	return off <= c->size && len <= c->size - off;
}

static const struct seg *seg_at(const struct mst_corefile *c, uint64_t addr)
{
	size_t lo = 0, hi = c->nsegs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (addr < c->segs[mid].vaddr)
			hi = mid;
		else if (addr - c->segs[mid].vaddr >= c->segs[mid].memsz)
			lo = mid + 1;
		else
			return &c->segs[mid];
	}
	return NULL;
}

static const struct fmap *fmap_at(const struct mst_corefile *c, uint64_t addr)
{
	size_t lo = 0, hi = c->nfmaps;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (addr < c->fmaps[mid].start)
			hi = mid;
		else if (addr >= c->fmaps[mid].end)
			lo = mid + 1;
		else
			return &c->fmaps[mid];
	}
	return NULL;
}

static int file_fd(struct mst_corefile *c, struct cfile *f)
{
	if (f->fd == -1) {
		f->fd = open(f->path, O_RDONLY | O_CLOEXEC);
		if (f->fd < 0) {
			f->fd = -2;
			if (!f->noted)
				note(c,
				     "%s cannot be opened (%s): what the core left of it out is "
				     "missing",
				     f->path, strerror(errno));
			f->noted = true;
		}
	}
	return f->fd;
}

/* Copy from the core only, never from a mapped file: 0 or -EFAULT. */
static int read_core_only(const struct mst_corefile *c, uint64_t addr, void *buf, size_t len)
{
	uint8_t *out = buf;
	while (len) {
		const struct seg *s = seg_at(c, addr);
		if (!s || addr - s->vaddr >= s->avail)
			return -EFAULT;
		uint64_t in = addr - s->vaddr;
		size_t n = s->avail - in < len ? (size_t)(s->avail - in) : len;
		memcpy(out, c->img + s->offset + in, n);
		out += n;
		addr += n;
		len -= n;
	}
	return 0;
}

static int core_read(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct mst_corefile *c = ctx;
	uint8_t *out = buf;
	while (len) {
		const struct seg *s = seg_at(c, addr);
		uint64_t in = s ? addr - s->vaddr : 0;
		size_t n;
		if (!s) {
			/* No segment at all: gcore writes none for a file
			 * mapping it leaves out. */
			const struct fmap *m = fmap_at(c, addr);
			if (!m)
				return -EFAULT;
			n = m->end - addr < len ? (size_t)(m->end - addr) : len;
			int fd = file_fd(c, &c->files[m->file]);
			if (fd < 0)
				return -EFAULT;
			ssize_t got = pread(fd, out, n, (off_t)(m->off + (addr - m->start)));
			if (got < 0 || (size_t)got != n)
				return -EFAULT;
		} else if (in < s->avail) {
			n = s->avail - in < len ? (size_t)(s->avail - in) : len;
			memcpy(out, c->img + s->offset + in, n);
		} else {
			/* Not in the core: a file page the process never
			 * changed, which the kernel (and gcore) leave out. A
			 * page beyond a truncated core's end was in the core:
			 * the file would not have what the process wrote. */
			const struct fmap *m = fmap_at(c, addr);
			if (!m || s->filesz > in)
				return -EFAULT;
			n = s->memsz - in < len ? (size_t)(s->memsz - in) : len;
			if (m->end - addr < n)
				n = m->end - addr;
			int fd = file_fd(c, &c->files[m->file]);
			if (fd < 0)
				return -EFAULT;
			ssize_t got = pread(fd, out, n, (off_t)(m->off + (addr - m->start)));
			if (got < 0 || (size_t)got != n)
				return -EFAULT;
		}
		out += n;
		addr += n;
		len -= n;
	}
	return 0;
}

static int cmp_seg(const void *a, const void *b)
{
	const struct seg *x = a, *y = b;
	return (x->vaddr > y->vaddr) - (x->vaddr < y->vaddr);
}

static int cmp_fmap(const void *a, const void *b)
{
	const struct fmap *x = a, *y = b;
	return (x->start > y->start) - (x->start < y->start);
}

static int parse_nt_file(struct mst_corefile *c, const uint8_t *d, size_t len)
{
	uint64_t count, page;
	if (len < 16)
		return -EINVAL;
	memcpy(&count, d, 8);
	memcpy(&page, d + 8, 8);
	if (count > MAX_FILES || count * 24 > len - 16 || !page || (page & (page - 1)))
		return -EINVAL;
	const char *names = (const char *)d + 16 + count * 24;
	const char *end = (const char *)d + len;
	c->fmaps = calloc(count ? count : 1, sizeof(*c->fmaps));
	c->files = calloc(count ? count : 1, sizeof(*c->files));
	if (!c->fmaps || !c->files)
		return -ENOMEM;
	for (uint64_t i = 0; i < count; i++) {
		const char *nul = memchr(names, '\0', (size_t)(end - names));
		if (!nul)
			return -EINVAL;
		uint64_t v[3];
		memcpy(v, d + 16 + i * 24, sizeof(v));
		if (v[1] <= v[0] || v[2] > UINT64_MAX / page) {
			names = nul + 1;
			continue;
		}
		size_t f = 0;
		while (f < c->nfiles && strcmp(c->files[f].path, names))
			f++;
		if (f == c->nfiles) {
			c->files[f].path = strdup(names);
			c->files[f].fd = -1;
			if (!c->files[f].path)
				return -ENOMEM;
			c->nfiles++;
		}
		c->fmaps[c->nfmaps++] = (struct fmap){v[0], v[1], v[2] * page, f};
		names = nul + 1;
	}
	if (c->nfmaps > 1)
		qsort(c->fmaps, c->nfmaps, sizeof(*c->fmaps), cmp_fmap);
	return 0;
}

static int parse_note(struct mst_corefile *c, uint32_t type, const char *name, const uint8_t *d,
                      size_t len)
{
	if (strcmp(name, "CORE"))
		return 0;
	switch (type) {
	case NT_PRSTATUS: {
		if (c->nthreads >= MAX_THREADS)
			return 0;
		struct mst_corefile_thread t = {0};
		if (mst_arch_regs_from_prstatus(d, len, &t.tid, &t.cursig, &t.regs) < 0)
			return -EINVAL;
		struct mst_corefile_thread *v =
		    realloc(c->threads, (c->nthreads + 1) * sizeof(*c->threads));
		if (!v)
			return -ENOMEM;
		c->threads = v;
		c->threads[c->nthreads++] = t;
		return 0;
	}
	case NT_PRPSINFO: {
		struct elf_prpsinfo p;
		if (len < sizeof(p))
			return 0;
		memcpy(&p, d, sizeof(p));
		memcpy(c->comm, p.pr_fname, sizeof(p.pr_fname));
		memcpy(c->cmdline, p.pr_psargs, sizeof(p.pr_psargs));
		/* Keep trailing blanks out ("python3 x.py " from the kernel). */
		for (size_t n = strlen(c->cmdline); n && c->cmdline[n - 1] == ' ';)
			c->cmdline[--n] = '\0';
		if (!c->pid)
			c->pid = p.pr_pid;
		return 0;
	}
	case NT_AUXV:
		for (size_t off = 0; off + 16 <= len; off += 16) {
			uint64_t kv[2];
			memcpy(kv, d + off, sizeof(kv));
			if (kv[0] == AT_PHDR)
				c->at_phdr = kv[1];
			else if (kv[0] == AT_ENTRY)
				c->at_entry = kv[1];
			else if (kv[0] == AT_SYSINFO_EHDR)
				c->at_vdso = kv[1];
		}
		return 0;
	case NT_FILE:
		return c->fmaps ? 0 : parse_nt_file(c, d, len);
	default:
		return 0;
	}
}

static int parse_notes(struct mst_corefile *c, const uint8_t *d, size_t len)
{
	size_t off = 0;
	while (len - off >= 12) {
		uint32_t h[3];
		memcpy(h, d + off, sizeof(h));
		size_t nsz = ((size_t)h[0] + 3) & ~(size_t)3, dsz = ((size_t)h[1] + 3) & ~(size_t)3;
		off += 12;
		if (nsz > len - off || dsz > len - off - nsz || h[1] > dsz)
			return -EINVAL;
		char name[16] = "";
		if (h[0] && h[0] <= sizeof(name)) {
			memcpy(name, d + off, h[0]);
			name[sizeof(name) - 1] = '\0';
		}
		int rc = parse_note(c, h[2], name, d + off + nsz, h[1]);
		if (rc < 0)
			return rc;
		off += nsz + dsz;
	}
	return 0;
}

/* The build-id of the ELF image the process had mapped at start, as the
 * core holds its first page (the kernel's default filter keeps ELF
 * headers), hex into out; "" when the core does not have it. */
static void mapped_build_id(const struct mst_corefile *c, uint64_t start, char *out, size_t len)
{
	out[0] = '\0';
	Elf64_Ehdr eh;
	if (read_core_only(c, start, &eh, sizeof(eh)) < 0 || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 64)
		return;
	Elf64_Phdr ph[64];
	if (read_core_only(c, start + eh.e_phoff, ph, eh.e_phnum * sizeof(*ph)) < 0)
		return;
	/* Where the image's link-time address 0 is: its first PT_LOAD maps
	 * the start of the file at start. */
	uint64_t bias = 0;
	bool have = false;
	for (size_t i = 0; i < eh.e_phnum && !have; i++)
		if (ph[i].p_type == PT_LOAD) {
			bias = start - (ph[i].p_vaddr & ~(uint64_t)4095);
			have = true;
		}
	for (size_t i = 0; i < eh.e_phnum && have; i++) {
		if (ph[i].p_type != PT_NOTE || ph[i].p_filesz > 4096)
			continue;
		uint8_t buf[4096];
		size_t n = ph[i].p_filesz;
		if (read_core_only(c, bias + ph[i].p_vaddr, buf, n) < 0)
			continue;
		for (size_t off = 0; off + 12 <= n;) {
			uint32_t h[3];
			memcpy(h, buf + off, sizeof(h));
			size_t nsz = ((size_t)h[0] + 3) & ~(size_t)3;
			size_t dsz = ((size_t)h[1] + 3) & ~(size_t)3;
			if (nsz > n - off - 12 || dsz > n - off - 12 - nsz)
				break;
			if (h[2] == NT_GNU_BUILD_ID && h[0] == 4 &&
			    !memcmp(buf + off + 12, "GNU", 4)) {
				size_t k = 0;
				for (uint32_t b = 0; b < h[1] && k + 3 <= len; b++, k += 2)
					snprintf(out + k, 3, "%02x", buf[off + 12 + nsz + b]);
				return;
			}
			off += 12 + nsz + dsz;
		}
	}
}

/* Name each mapped file that is not the one the process had (its build-id
 * differs): its frames would be named wrong. */
static void check_files(struct mst_corefile *c)
{
	for (size_t f = 0; f < c->nfiles; f++) {
		const struct fmap *m = NULL;
		for (size_t i = 0; i < c->nfmaps && !m; i++)
			if (c->fmaps[i].file == f && c->fmaps[i].off == 0)
				m = &c->fmaps[i];
		if (!m)
			continue;
		char was[129];
		mapped_build_id(c, m->start, was, sizeof(was));
		if (!was[0]) {
			/* No header page in the core: a file shorter than what
			 * the process mapped of it is another file. */
			uint64_t need = 0;
			for (size_t i = 0; i < c->nfmaps; i++)
				if (c->fmaps[i].file == f && c->fmaps[i].off > need)
					need = c->fmaps[i].off;
			struct stat sb;
			int fd = file_fd(c, &c->files[f]);
			if (fd >= 0 && fstat(fd, &sb) == 0 && (uint64_t)sb.st_size <= need)
				note(c,
				     "%s changed since the core was written (it is shorter than "
				     "the process's mapping of it): its frames may be named wrong",
				     c->files[f].path);
			continue;
		}
		struct mst_elf *e = NULL;
		if (mst_elf_open(c->files[f].path, &e, NULL) < 0) {
			file_fd(c, &c->files[f]); /* notes why, once */
			continue;
		}
		const char *now = mst_elf_build_id(e);
		if (now[0] && strcmp(now, was))
			note(c,
			     "%s changed since the core was written (build-id %.12s..., the "
			     "process had %.12s...): its frames may be named wrong",
			     c->files[f].path, now, was);
		mst_elf_close(e);
	}
}

static void note_missing(struct mst_corefile *c)
{
	uint64_t cut = 0, filtered = 0;
	for (size_t i = 0; i < c->nsegs; i++) {
		const struct seg *s = &c->segs[i];
		cut += s->filesz - s->avail;
		/* Left out of the core and not a file mapping: the filter
		 * (/proc/PID/coredump_filter) dropped it, or the process
		 * asked for it (madvise MADV_DONTDUMP: glibc 2.42 does for a
		 * page of its own). */
		if (!s->filesz && !fmap_at(c, s->vaddr) && (s->flags & PF_R))
			filtered += s->memsz;
	}
	if (cut)
		note(c,
		     "the core file is truncated: %" PRIu64 " KiB of the memory written in it "
		     "are missing",
		     cut / 1024);
	if (filtered)
		note(c,
		     "%" PRIu64 " KiB of the process's memory are not in the core (left out by "
		     "its coredump_filter, or marked MADV_DONTDUMP)",
		     filtered / 1024);
	if (!c->nfmaps)
		note(c, "the core names no mapped files (no NT_FILE note): native frames cannot "
		        "be named, nor Python found");
}

/* The executable: the file mapping that holds the program headers the
 * kernel handed the process (AT_PHDR), else its entry point. */
static const struct cfile *exe_file(const struct mst_corefile *c)
{
	const struct fmap *m = c->at_phdr ? fmap_at(c, c->at_phdr) : NULL;
	if (!m && c->at_entry)
		m = fmap_at(c, c->at_entry);
	return m ? &c->files[m->file] : NULL;
}

/* The protection of a file mapping the core has no segment for, from the
 * file's own program headers: the load segment that maps file offset off.
 * "r--" when the file does not say (then its code is not unwound). */
static uint32_t file_flags(struct mst_corefile *c, struct cfile *f, uint64_t off)
{
	int fd = file_fd(c, f);
	Elf64_Ehdr eh;
	if (fd < 0 || pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    eh.e_phnum > 256)
		return PF_R;
	for (size_t i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + i * sizeof(ph))) !=
		    (ssize_t)sizeof(ph))
			break;
		uint64_t lo = ph.p_offset & ~(uint64_t)4095;
		if (ph.p_type == PT_LOAD && off >= lo && off < ph.p_offset + ph.p_filesz)
			return ph.p_flags;
	}
	return PF_R;
}

struct region {
	uint64_t start, end;
	uint32_t flags;
	const struct fmap *m;
};

static int cmp_region(const void *a, const void *b)
{
	const struct region *x = a, *y = b;
	return (x->start > y->start) - (x->start < y->start);
}

/* The map: every segment, and every file mapping the core has no segment
 * for (gcore writes none for the file pages it leaves out). */
static int build_maps(struct mst_corefile *c, struct mst_err *err)
{
	struct region *r = calloc(c->nsegs + c->nfmaps + 1, sizeof(*r));
	if (!r)
		return mst_err_set(err, -ENOMEM, "out of memory");
	size_t nr = 0;
	for (size_t i = 0; i < c->nsegs; i++) {
		const struct seg *s = &c->segs[i];
		r[nr++] =
		    (struct region){s->vaddr, s->vaddr + s->memsz, s->flags, fmap_at(c, s->vaddr)};
	}
	for (size_t i = 0; i < c->nfmaps; i++) {
		const struct fmap *m = &c->fmaps[i];
		bool covered = false;
		for (size_t k = 0; k < c->nsegs && !covered; k++)
			covered = c->segs[k].vaddr < m->end &&
			          m->start < c->segs[k].vaddr + c->segs[k].memsz;
		if (!covered)
			r[nr++] = (struct region){m->start, m->end,
			                          file_flags(c, &c->files[m->file], m->off), m};
	}
	if (nr > 1)
		qsort(r, nr, sizeof(*r), cmp_region);
	size_t cap = 256 + nr * 64;
	for (size_t i = 0; i < nr; i++)
		cap += r[i].m ? strlen(c->files[r[i].m->file].path) : 0;
	char *t = malloc(cap);
	if (!t) {
		free(r);
		return mst_err_set(err, -ENOMEM, "out of memory");
	}
	size_t len = 0;
	t[0] = '\0';
	for (size_t i = 0; i < nr; i++) {
		const struct region *g = &r[i];
		const struct fmap *m = g->m;
		const char *path = m                        ? c->files[m->file].path
		                   : g->start == c->at_vdso ? "[vdso]"
		                                            : "";
		/* A path with a newline would split the line: keep such a
		 * mapping anonymous. */
		if (strchr(path, '\n'))
			path = "", m = NULL;
		uint64_t off = m ? m->off + (g->start - m->start) : 0;
		int n = snprintf(t + len, cap - len,
		                 "%" PRIx64 "-%" PRIx64 " %c%c%cp %08" PRIx64 " 00:00 %zu %s\n",
		                 g->start, g->end, g->flags & PF_R ? 'r' : '-',
		                 g->flags & PF_W ? 'w' : '-', g->flags & PF_X ? 'x' : '-', off,
		                 m ? m->file + 1 : 0, path);
		if (n < 0 || (size_t)n >= cap - len) {
			free(t);
			free(r);
			return mst_err_set(err, -ENOMEM, "out of memory");
		}
		len += (size_t)n;
	}
	free(r);
	c->maps_text = t;
	int rc = mst_maps_parse(t, &c->maps, err);
	if (rc < 0)
		return rc;
	const struct cfile *exe = exe_file(c);
	if (exe && !(c->maps->exe = strdup(exe->path)))
		return mst_err_set(err, -ENOMEM, "out of memory");
	return 0;
}

static int fail(struct mst_corefile *c, int rc)
{
	mst_corefile_close(c);
	return rc;
}

int mst_corefile_open(const char *path, const char *exe, struct mst_corefile **out,
                      struct mst_err *err)
{
	*out = NULL;
	struct mst_corefile *c = calloc(1, sizeof(*c));
	if (!c)
		return mst_err_set(err, -ENOMEM, "out of memory");
	c->fd = -1;
	if (!(c->path = strdup(path)))
		return fail(c, mst_err_set(err, -ENOMEM, "out of memory"));
	c->fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (c->fd < 0 || fstat(c->fd, &st) < 0)
		return fail(c, mst_err_set(err, -errno, "cannot open core file %s: %s", path,
		                           strerror(errno)));
	if (!S_ISREG(st.st_mode))
		return fail(c, mst_err_set(err, -MST_ENOTCORE,
		                           "%s is not a core file: not a "
		                           "regular file",
		                           path));
	c->size = (size_t)st.st_size;
	if (c->size < sizeof(Elf64_Ehdr))
		return fail(c, mst_err_set(err, -MST_ENOTCORE,
		                           "%s is not a core file: %zu bytes, too short for an "
		                           "ELF header",
		                           path, c->size));
	void *img = mmap(NULL, c->size, PROT_READ, MAP_PRIVATE, c->fd, 0);
	if (img == MAP_FAILED)
		return fail(c, mst_err_set(err, -errno, "cannot map core file %s: %s", path,
		                           strerror(errno)));
	c->img = img;
	Elf64_Ehdr eh;
	memcpy(&eh, c->img, sizeof(eh));
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG))
		return fail(c, mst_err_set(err, -MST_ENOTCORE,
		                           "%s is not a core file: not an ELF file", path));
	if (eh.e_type != ET_CORE)
		return fail(c, mst_err_set(err, -MST_ENOTCORE,
		                           "%s is not a core file but an ELF %s", path,
		                           eh.e_type == ET_EXEC  ? "executable"
		                           : eh.e_type == ET_DYN ? "shared object or executable"
		                           : eh.e_type == ET_REL ? "object file"
		                                                 : "file of another type"));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh.e_machine != EM_X86_64)
		return fail(c, mst_err_set(err, -MST_ENOTCORE,
		                           "%s is the core of a process of another architecture "
		                           "(ELF machine %u): msttop reads x86_64 cores",
		                           path, eh.e_machine));
	uint64_t phnum = eh.e_phnum;
	if (phnum == PN_XNUM) {
		/* More segments than 16 bits count: the real number is in
		 * the first section header's sh_info. */
		Elf64_Shdr sh;
		if (!eh.e_shoff || !in_image(c, eh.e_shoff, sizeof(sh)))
			return fail(c, mst_err_set(err, -MST_ENOTCORE,
			                           "%s: corrupt core (segment count)", path));
		memcpy(&sh, c->img + eh.e_shoff, sizeof(sh));
		phnum = sh.sh_info;
	}
	if (eh.e_phentsize != sizeof(Elf64_Phdr) ||
	    !in_image(c, eh.e_phoff, phnum * sizeof(Elf64_Phdr)))
		return fail(c, mst_err_set(err, -MST_ENOTCORE,
		                           "%s: corrupt or truncated core: its program headers "
		                           "lie outside the file",
		                           path));
	c->segs = calloc(phnum ? phnum : 1, sizeof(*c->segs));
	if (!c->segs)
		return fail(c, mst_err_set(err, -ENOMEM, "out of memory"));
	bool notes = false;
	for (uint64_t i = 0; i < phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, c->img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE) {
			uint64_t n = ph.p_filesz;
			if (!in_image(c, ph.p_offset, 0))
				continue;
			if (n > c->size - ph.p_offset)
				n = c->size - ph.p_offset;
			int rc = parse_notes(c, c->img + ph.p_offset, n);
			if (rc == -ENOMEM)
				return fail(c, mst_err_set(err, rc, "out of memory"));
			if (rc < 0)
				note(c, "a note segment of the core is corrupt: what follows it in "
				        "that segment was not read");
			notes = true;
		} else if (ph.p_type == PT_LOAD && ph.p_memsz) {
			struct seg *s = &c->segs[c->nsegs];
			if (ph.p_vaddr + ph.p_memsz < ph.p_vaddr || ph.p_filesz > ph.p_memsz)
				continue;
			s->vaddr = ph.p_vaddr;
			s->memsz = ph.p_memsz;
			s->filesz = ph.p_filesz;
			s->offset = ph.p_offset;
			s->flags = ph.p_flags;
			s->avail = !in_image(c, ph.p_offset, 0)        ? 0
			           : c->size - ph.p_offset < s->filesz ? c->size - ph.p_offset
			                                               : s->filesz;
			c->nsegs++;
		}
	}
	if (!notes || !c->nthreads)
		return fail(c, mst_err_set(err, -MST_ENOTCORE,
		                           "%s: a core without threads (no NT_PRSTATUS note): "
		                           "nothing to show",
		                           path));
	if (c->nsegs > 1)
		qsort(c->segs, c->nsegs, sizeof(*c->segs), cmp_seg);
	/* Overlapping segments would make lookups ambiguous: keep the
	 * first of each overlap. */
	size_t k = 0;
	for (size_t i = 0; i < c->nsegs; i++)
		if (!k || c->segs[i].vaddr >= c->segs[k - 1].vaddr + c->segs[k - 1].memsz)
			c->segs[k++] = c->segs[i];
	c->nsegs = k;
	k = 0;
	for (size_t i = 0; i < c->nfmaps; i++)
		if (!k || c->fmaps[i].start >= c->fmaps[k - 1].end)
			c->fmaps[k++] = c->fmaps[i];
	c->nfmaps = k;
	c->pid = c->pid ? c->pid : c->threads[0].tid;
	c->signo = c->threads[0].cursig;
	const struct cfile *ef = exe_file(c);
	if (exe && ef) {
		/* Every mapping of the old executable reads the new one. */
		char *p = strdup(exe);
		if (!p)
			return fail(c, mst_err_set(err, -ENOMEM, "out of memory"));
		free(c->files[ef - c->files].path);
		c->files[ef - c->files].path = p;
	} else if (exe) {
		note(c, "--exe %s: the core does not say which mapping is the executable", exe);
	}
	note_missing(c);
	check_files(c);
	int rc = build_maps(c, err);
	if (rc < 0)
		return fail(c, rc);
	*out = c;
	return 0;
}

void mst_corefile_close(struct mst_corefile *c)
{
	if (!c)
		return;
	for (size_t f = 0; f < c->nfiles; f++) {
		if (c->files[f].fd >= 0)
			close(c->files[f].fd);
		free(c->files[f].path);
	}
	free(c->files);
	free(c->fmaps);
	free(c->segs);
	free(c->threads);
	free(c->maps_text);
	mst_maps_free(c->maps);
	if (c->img)
		munmap((void *)c->img, c->size);
	if (c->fd >= 0)
		close(c->fd);
	free(c->path);
	free(c);
}

const char *mst_corefile_path(const struct mst_corefile *c)
{
	return c->path;
}

pid_t mst_corefile_pid(const struct mst_corefile *c)
{
	return c->pid;
}

const char *mst_corefile_comm(const struct mst_corefile *c)
{
	return c->comm;
}

const char *mst_corefile_cmdline(const struct mst_corefile *c)
{
	return c->cmdline;
}

int mst_corefile_signal(const struct mst_corefile *c)
{
	return c->signo;
}

size_t mst_corefile_nthreads(const struct mst_corefile *c)
{
	return c->nthreads;
}

const struct mst_corefile_thread *mst_corefile_thread(const struct mst_corefile *c, size_t i)
{
	return i < c->nthreads ? &c->threads[i] : NULL;
}

const char *mst_corefile_maps_text(const struct mst_corefile *c)
{
	return c->maps_text;
}

const struct mst_maps *mst_corefile_maps(const struct mst_corefile *c)
{
	return c->maps;
}

struct mst_reader mst_corefile_reader(struct mst_corefile *c)
{
	return (struct mst_reader){.read = core_read, .ctx = c};
}

const char *mst_corefile_notes(const struct mst_corefile *c)
{
	return c->notes;
}
