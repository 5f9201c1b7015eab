/* A core file of a crashed or hung process, read after the fact: its
 * threads with their registers, its memory (the core's own segments, then
 * the mapped files for pages the core left out, as the kernel and gdb's
 * gcore do for unmodified file pages), and its memory map, rebuilt from the
 * core's notes (NT_FILE, NT_AUXV) in /proc/PID/maps form so that every
 * module that reads a live map reads this one the same way. Nothing here
 * knows Python: the decoder reads the core through mst_corefile_reader. */
#ifndef MSTTOP_COREFILE_H
#define MSTTOP_COREFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "msttop/arch.h"
#include "msttop/err.h"
#include "msttop/maps.h"
#include "msttop/reader.h"

struct mst_corefile;

struct mst_corefile_thread {
	pid_t tid;
	int cursig; /* the signal it had when the core was written, 0 if none */
	struct mst_regs regs;
};

/* Open path as an ELF core of an x86_64 process. exe, when not NULL,
 * replaces the executable the core names (it moved, or the core names a
 * path that does not exist here). -MST_ENOTCORE with a one-line reason
 * when the file is not an ELF core of this architecture, -errno when it
 * cannot be read. Missing memory is not an error: mst_corefile_notes says
 * what could not be read. */
int mst_corefile_open(const char *path, const char *exe, struct mst_corefile **out,
                      struct mst_err *err);
void mst_corefile_close(struct mst_corefile *c);

/* The path given to mst_corefile_open. */
const char *mst_corefile_path(const struct mst_corefile *c);
/* The dumped process: its pid at the time, the kernel's short name and the
 * start of its command line (NT_PRPSINFO: 80 bytes at most). */
pid_t mst_corefile_pid(const struct mst_corefile *c);
const char *mst_corefile_comm(const struct mst_corefile *c);
const char *mst_corefile_cmdline(const struct mst_corefile *c);
/* The signal that ended the process (the first thread's, which the kernel
 * writes first: the one that took it), 0 for a core written by gcore. */
int mst_corefile_signal(const struct mst_corefile *c);

size_t mst_corefile_nthreads(const struct mst_corefile *c);
const struct mst_corefile_thread *mst_corefile_thread(const struct mst_corefile *c, size_t i);

/* The memory map as /proc/PID/maps text (file mappings named, the vdso as
 * "[vdso]") and parsed; maps->exe names the executable. Borrowed. */
const char *mst_corefile_maps_text(const struct mst_corefile *c);
const struct mst_maps *mst_corefile_maps(const struct mst_corefile *c);

/* A reader of the process's memory as the core holds it. Valid until
 * close. */
struct mst_reader mst_corefile_reader(struct mst_corefile *c);

/* What could not be read, one sentence per line ("" when the core is
 * whole): a truncated file, memory the core filter left out, mapped files
 * missing or changed since (build-id). */
const char *mst_corefile_notes(const struct mst_corefile *c);

#endif
