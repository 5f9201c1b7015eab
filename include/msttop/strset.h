/* A set of unique strings: each is stored once, so that its address stands
 * for it (keys compare by pointer, caches key on it). The decoder, the
 * symbols and the agg each keep one. Strings live until the set is freed,
 * or, for a set that counts references, until the last one is dropped. */
#ifndef MSTTOP_STRSET_H
#define MSTTOP_STRSET_H

#include <stdbool.h>
#include <stddef.h>

struct mst_strset;

/* NULL when out of memory. */
struct mst_strset *mst_strset_new(void);
void mst_strset_free(struct mst_strset *set);

/* The set's copy of s, its first max_len bytes (0: all of it). With create
 * false, NULL when it is not in the set; with create, NULL only when out
 * of memory (never exits: a failed add leaves it out). A new string has no
 * reference. */
const char *mst_strset_get(struct mst_strset *set, const char *s, size_t max_len, bool create);

/* References, for a set whose strings go when nothing names them: s must
 * come from a set. */
void mst_strset_ref(const char *s);
void mst_strset_unref(const char *s);
/* Free s unless something still references it. */
void mst_strset_drop_unused(struct mst_strset *set, const char *s);

/* How many strings, and the bytes the set holds (strings and table). */
size_t mst_strset_count(const struct mst_strset *set);
size_t mst_strset_bytes(const struct mst_strset *set);

#endif
