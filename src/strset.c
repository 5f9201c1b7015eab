/* A set of unique strings (strset.h), in one uthash table. */

/* An allocation failure inside uthash must come back as NULL, not exit:
 * with this, a failed add leaves the item out of the table. */
#define HASH_NONFATAL_OOM 1

#include "msttop/strset.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

struct str {
	UT_hash_handle hh;
	uint32_t refs;
	char s[];
};

struct mst_strset {
	struct str *strs;
	size_t n, bytes;
};

static struct str *str_of(const char *s)
{
	return (struct str *)(void *)(s - offsetof(struct str, s));
}

struct mst_strset *mst_strset_new(void)
{
	return calloc(1, sizeof(struct mst_strset));
}

void mst_strset_free(struct mst_strset *set)
{
	if (!set)
		return;
	struct str *e, *tmp;
	HASH_ITER(hh, set->strs, e, tmp)
	{
		HASH_DEL(set->strs, e);
		free(e);
	}
	free(set);
}

const char *mst_strset_get(struct mst_strset *set, const char *s, size_t max_len, bool create)
{
	size_t len = max_len ? strnlen(s, max_len) : strlen(s);
	struct str *e;
	HASH_FIND(hh, set->strs, s, len, e);
	if (e || !create)
		return e ? e->s : NULL;
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	e->refs = 0;
	memcpy(e->s, s, len);
	e->s[len] = '\0';
	HASH_ADD_KEYPTR(hh, set->strs, e->s, len, e);
	if (!e->hh.tbl) {
		free(e);
		return NULL;
	}
	set->n++;
	set->bytes += sizeof(*e) + len + 1;
	return e->s;
}

void mst_strset_ref(const char *s)
{
	str_of(s)->refs++;
}

void mst_strset_unref(const char *s)
{
	str_of(s)->refs--;
}

void mst_strset_drop_unused(struct mst_strset *set, const char *s)
{
	if (!s)
		return;
	struct str *e = str_of(s);
	if (e->refs)
		return;
	set->bytes -= sizeof(*e) + strlen(e->s) + 1;
	set->n--;
	HASH_DEL(set->strs, e);
	free(e);
}

size_t mst_strset_count(const struct mst_strset *set)
{
	return set->n;
}

size_t mst_strset_bytes(const struct mst_strset *set)
{
	size_t b = sizeof(*set) + set->bytes;
	if (set->strs)
		b +=
		    sizeof(UT_hash_table) + set->strs->hh.tbl->num_buckets * sizeof(UT_hash_bucket);
	return b;
}
