/* One module's DWARF answers, kept in compact tables of our own.
 *
 * For a native address, symbols wants the source line and the chain of
 * inlined calls. Asking libdw per address (dwfl_module_getsrc,
 * dwarf_getscopes) keeps, for as long as libdw lives, each compilation
 * unit's parsed line table (~50 bytes a row) and the pages of every DIE the
 * scope search walked; a sampler meets new addresses all the time, so that
 * memory only grows. Here, the first address in a compilation unit reads
 * the unit once: its line rows (one per change of file:line, 10 bytes) and
 * the address ranges of its functions and inlined calls, flattened into
 * segments where the innermost one is constant. The unit is read through a
 * Dwarf of our own, ended at once, so libdw keeps nothing of it; later
 * addresses in that unit are answered from the tables alone.
 *
 * The answers are the ones libdw gives: the line is dwfl_module_getsrc's
 * (the last row at or below the address, none in the gap after a sequence
 * ends); the inline chain runs from the concrete function through every
 * inlined call that holds the address (dwarf_getscopes gives only the
 * innermost one). */
#ifndef MSTTOP_DWTAB_INT_H
#define MSTTOP_DWTAB_INT_H

#include <elfutils/libdwfl.h>
#include <stddef.h>
#include <stdint.h>

#define MST_DWTAB_MAX_INLINE 16

/* Strings from the DWARF are handed out through these, so that they outlive
 * libdw: intern keeps a string as it is, intern_name demangles a symbol. */
struct mst_dwtab_strings {
	void *ctx;
	const char *(*intern)(void *ctx, const char *s);
	const char *(*intern_name)(void *ctx, const char *s);
	/* A source path made of the compilation directory (the build tree's
	 * root) and a name under it: the name starts at off. May be NULL. */
	void (*short_at)(void *ctx, const char *interned, size_t off);
};

struct mst_dwtab_inline {
	const char *func;      /* the inlined function */
	const char *call_file; /* where it was called from, NULL if unknown */
	int call_line;         /* 0 if unknown */
};

struct mst_dwtab_pos {
	const char *file; /* the innermost source position; NULL/0 if none */
	int line;
	const char *func; /* the concrete function's DWARF name, NULL if none */
	size_t ninl;      /* inlined calls holding the address, outermost first */
	struct mst_dwtab_inline inl[MST_DWTAB_MAX_INLINE];
};

struct mst_dwtab;

struct mst_dwtab *mst_dwtab_new(const struct mst_dwtab_strings *str);
void mst_dwtab_free(struct mst_dwtab *t);

/* The source position and inline chain of address addr (as mapped in the
 * target) of module mod, which this table belongs to. Returns 1 with *pos
 * filled, 0 when no compilation unit covers addr, or -ENOMEM. */
int mst_dwtab_lookup(struct mst_dwtab *t, Dwfl_Module *mod, uint64_t addr,
                     struct mst_dwtab_pos *pos);

/* Line rows libdwfl's Dwarf parsed for this table, when a unit could not be
 * read with a Dwarf of the table's own: libdwfl keeps them until it ends. */
uint64_t mst_dwtab_rows_read(const struct mst_dwtab *t);
/* Compilation units read into the tables, and the bytes the tables use. */
size_t mst_dwtab_units(const struct mst_dwtab *t);
/* Times libdw was asked which unit holds an address the tables did not
 * cover: each may touch pages of the debug file (the first one of a module
 * sets up its address ranges, which can read every unit's header), whether
 * or not a unit was found. */
uint64_t mst_dwtab_searches(const struct mst_dwtab *t);
size_t mst_dwtab_bytes(const struct mst_dwtab *t);

#endif
