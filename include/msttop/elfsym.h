/* One ELF file opened with libelf: its symbol tables (.dynsym, then .symtab),
 * sections, program headers, and its load bias in a target's address space.
 * Used to find CPython's globals and to name addresses when DWARF is absent. */
#ifndef MSTTOP_ELFSYM_H
#define MSTTOP_ELFSYM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msttop/err.h"
#include "msttop/maps.h"

struct mst_elf;

int mst_elf_open(const char *path, struct mst_elf **out, struct mst_err *err);
void mst_elf_close(struct mst_elf *e);

/* ET_EXEC or ET_DYN. */
int mst_elf_type(const struct mst_elf *e);
/* True when the file still has a .symtab (not stripped). */
bool mst_elf_has_symtab(const struct mst_elf *e);

/* A defined symbol by exact name, .dynsym first, then .symtab. value is the
 * link-time address (add the bias for the target address). Returns 0 or
 * -ENOENT. value/size may be NULL. */
int mst_elf_lookup(struct mst_elf *e, const char *name, uint64_t *value, uint64_t *size);

/* The function or object symbol whose [st_value, st_value + st_size) holds the
 * link-time address vaddr, or NULL. Never the "nearest preceding" symbol:
 * with only .dynsym that names the wrong function. Borrowed from e. */
const char *mst_elf_symbol_at(struct mst_elf *e, uint64_t vaddr, uint64_t *start, uint64_t *size);

/* A section's link-time address and size by name. 0 or -ENOENT. */
int mst_elf_section(const struct mst_elf *e, const char *name, uint64_t *addr, uint64_t *size);

/* Copy len bytes at link-time address vaddr from the file's loadable
 * contents (for .rodata constants such as Py_Version). 0 or -EFAULT (also
 * for .bss, which has no file bytes). */
int mst_elf_read(const struct mst_elf *e, uint64_t vaddr, void *buf, size_t len);

/* The load bias of e as mapped by the target: bias + vaddr = target address.
 * map_path is the path as it appears in the maps (the mappings of the file).
 * 0 or -ENOENT. */
int mst_elf_bias(const struct mst_elf *e, const struct mst_maps *maps, const char *map_path,
                 uint64_t *bias);

/* The first program header of type p_type whose p_flags include all of
 * flags (e.g. PT_LOAD with PF_X, or PT_GNU_EH_FRAME with 0). 0 or -ENOENT. */
int mst_elf_phdr(const struct mst_elf *e, uint32_t p_type, uint32_t flags, uint64_t *vaddr,
                 uint64_t *memsz);

/* The GNU build-id note as hex, or "" when absent. Borrowed from e. */
const char *mst_elf_build_id(const struct mst_elf *e);

#endif
