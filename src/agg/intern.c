/* Names in the agg: every name counted is stored once (strset.h),
 * referenced by the frame keys that use it and freed with the last. */
#include "agg-int.h"

#include <stdlib.h>
#include <string.h>

/* ---- strings ---- */

/* The interned copy of s (NULL is ""), made with no reference when create
 * is set, else NULL when it is not known. */
int agg_str_get(struct mst_agg *a, const char *s, bool create, const char **out)
{
	*out = mst_strset_get(a->strs, s ? s : "", STR_MAX, create);
	return create && !*out ? -ENOMEM : 0;
}

/* Free s if no frame names it (any more). */
void agg_str_drop_unused(struct mst_agg *a, const char *s)
{
	mst_strset_drop_unused(a->strs, s);
}

void agg_key_ref(const struct fkey *k)
{
	mst_strset_ref(k->func);
	mst_strset_ref(k->file);
	mst_strset_ref(k->mod);
}

void agg_key_unref(struct mst_agg *a, const struct fkey *k)
{
	const char *s[3] = {k->func, k->file, k->mod};
	for (int i = 0; i < 3; i++)
		mst_strset_unref(s[i]);
	for (int i = 0; i < 3; i++)
		agg_str_drop_unused(a, s[i]);
}
