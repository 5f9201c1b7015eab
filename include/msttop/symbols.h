/* Names for native addresses of one target through libdwfl: the enclosing
 * function (its ELF symbol), the chain of inlined functions with their call
 * sites, source file:line where DWARF has it, the module, C++ demangled.
 * Results are cached by address for the life of the mst_symbols. */
#ifndef MSTTOP_SYMBOLS_H
#define MSTTOP_SYMBOLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msttop/err.h"

/* One native frame as shown: several of them come from one address when
 * functions were inlined there. Every string is owned by the mst_symbols and
 * stays valid until mst_symbols_close. */
struct mst_native_frame {
	uint64_t pc;         /* the address as unwound */
	const char *func;    /* demangled; NULL when no symbol covers pc */
	const char *file;    /* source file, NULL if unknown */
	int line;            /* 0 if unknown */
	const char *module;  /* path of the mapped object, or "[vdso]"; NULL if unmapped */
	uint64_t module_off; /* pc as a link-time address of the module (addr2line's) */
	bool inlined;        /* this frame was inlined into the frame before it */
};

struct mst_symbols;

int mst_symbols_open(pid_t pid, struct mst_symbols **out, struct mst_err *err);
/* The same for the modules of a map given as /proc/PID/maps text (a core
 * file's): files are opened at their own paths. */
int mst_symbols_open_maps(const char *maps_text, struct mst_symbols **out, struct mst_err *err);
void mst_symbols_close(struct mst_symbols *s);
/* Looking for the compilation unit of an address, and reading it into the
 * tables, touch the debug file through libdwfl's mapping of it: megabytes
 * of clean file pages (a module's first search may read every unit's
 * header) that count in msttop's RSS as long as they stay mapped in. After
 * such searches, hand those pages back to the kernel (MADV_PAGEOUT, which
 * keeps the contents: they come back on the next touch), and the heap's
 * free holes that reading left (malloc_trim). For a long run, at every
 * refresh (it does nothing unless DWARF was searched recently); --dump has
 * no use for it. */
void mst_symbols_release(struct mst_symbols *s);

/* What the symbols hold, for the log. */
struct mst_symbols_stats {
	size_t cached;       /* addresses with a cached answer */
	size_t strings;      /* interned names */
	size_t units;        /* compilation units in the DWARF tables */
	size_t table_bytes;  /* the DWARF tables' size */
	uint64_t libdw_rows; /* line rows libdwfl holds (when a unit could not be
	                        read with a Dwarf of the tables' own) */
};
void mst_symbols_stats(struct mst_symbols *s, struct mst_symbols_stats *st);

/* Re-read the target's modules (after new libraries were mapped). */
int mst_symbols_refresh(struct mst_symbols *s, struct mst_err *err);

/* Frames for one unwound address, outermost first (the real function, then
 * each inlined callee). is_return is true for every frame but the innermost
 * one: a return address points after the call, so it is looked up at pc - 1.
 * Returns 0 with *frames and *n, or a negative code. The array is owned by s
 * and stays valid until the next mst_symbols_resolve (copy what is kept);
 * the strings in it stay valid until close. */
int mst_symbols_resolve(struct mst_symbols *s, uint64_t pc, bool is_return,
                        const struct mst_native_frame **frames, size_t *n);

/* Name the code at target addresses [lo, hi) where no ELF symbol does: a
 * function's cold fragment in a stripped binary, which the caller found by
 * other means. Call before the first lookup (answers are cached). At most
 * MST_SYMBOLS_NAMED_MAX ranges; 0, -ENOSPC or -ENOMEM. */
#define MST_SYMBOLS_NAMED_MAX 8
int mst_symbols_name_range(struct mst_symbols *s, uint64_t lo, uint64_t hi, const char *name);

/* Where the part of a source path (a frame's file, as handed out) under
 * its build tree's root starts ("Objects/obmalloc.c" of
 * "/tmp/python-build.X/Python-3.12.1/Objects/obmalloc.c"), as its debug
 * info's compilation directory says; 0 when unknown. */
size_t mst_symbols_short_off(const struct mst_symbols *s, const char *file);

/* Only the ELF symbol name of the function holding the address (no DWARF:
 * cheap), version suffix removed, or NULL. Valid until close. */
const char *mst_symbols_func_name(struct mst_symbols *s, uint64_t pc, bool is_return);
/* The same, and *tag: a byte the caller may set to what it derived from
 * the name (0: nothing yet), kept with the name while it is cached, so a
 * per-tick question about the same address is not asked of the name
 * again. *tag is valid until the next call. */
const char *mst_symbols_func_name_tag(struct mst_symbols *s, uint64_t pc, bool is_return,
                                      uint8_t **tag);

#endif
