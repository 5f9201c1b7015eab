/* The string interner: every name counted is stored once, refcounted by
 * the frame keys that use it. */
#include "agg-int.h"

#include <stdlib.h>
#include <string.h>

/* ---- strings ---- */

static struct str *str_of(const char *s)
{
	return (struct str *)(void *)(s - offsetof(struct str, s));
}

/* The interned copy of s (NULL is ""), made with no reference when create
 * is set, else NULL when it is not known. */
int agg_str_get(struct mst_agg *a, const char *s, bool create, const char **out)
{
	if (!s)
		s = "";
	size_t len = strnlen(s, STR_MAX);
	struct str *e;
	HASH_FIND(hh, a->strs, s, len, e);
	if (e || !create) {
		*out = e ? e->s : NULL;
		return 0;
	}
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return -ENOMEM;
	e->refs = 0;
	memcpy(e->s, s, len);
	e->s[len] = '\0';
	HASH_ADD_KEYPTR(hh, a->strs, e->s, len, e);
	if (!e->hh.tbl) {
		free(e);
		return -ENOMEM;
	}
	a->nstrs++;
	a->str_bytes += sizeof(*e) + len + 1;
	*out = e->s;
	return 0;
}

/* Free s if no frame names it (any more). */
void agg_str_drop_unused(struct mst_agg *a, const char *s)
{
	if (!s)
		return;
	struct str *e = str_of(s);
	if (e->refs)
		return;
	a->str_bytes -= sizeof(*e) + strlen(e->s) + 1;
	a->nstrs--;
	HASH_DEL(a->strs, e);
	free(e);
}

void agg_key_ref(const struct fkey *k)
{
	str_of(k->func)->refs++;
	str_of(k->file)->refs++;
	str_of(k->mod)->refs++;
}

void agg_key_unref(struct mst_agg *a, const struct fkey *k)
{
	const char *s[3] = {k->func, k->file, k->mod};
	for (int i = 0; i < 3; i++)
		str_of(s[i])->refs--;
	for (int i = 0; i < 3; i++)
		agg_str_drop_unused(a, s[i]);
}
