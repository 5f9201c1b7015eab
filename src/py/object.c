/* Objects the decoder reads beyond frames: dicts (combined and split, all
 * key kinds), ints, and threading.Thread names through threading._active. */
#include "py-int.h"

#include <stdlib.h>

/* ---- dicts and thread names --------------------------------------------- */

struct dict_item {
	uint64_t key, value;
};

/* The live (key, value) pairs of a dict given by its keys object and, for
 * a split table, the values array (PyObject *[]). 3.6-3.10 keys hold
 * dk_size and index widths follow from it; 3.11+ hold log2 sizes and a
 * kind (0 general entries {hash, key, value}, else {key, value}). *items
 * is malloc'd. */
static int dict_items_from(const struct mst_py *py, uint64_t keys, uint64_t values,
                           struct dict_item **items, size_t *n)
{
	const struct mst_py_layout *l = &py->lay;
	uint8_t hdr[64];
	uint64_t entries;
	int64_t nentries, esize, ekey, evalue;
	uint8_t *ebuf = NULL;
	uint64_t *vbuf = NULL;
	int rc;

	*items = NULL;
	*n = 0;
	if (l->dk_indices > (int64_t)sizeof(hdr))
		return -MST_ECORRUPT;
	rc = rd(py, keys, hdr, (size_t)l->dk_indices);
	if (rc < 0)
		return rc;
	nentries = (int64_t)get_u64(hdr, l->dk_nentries);
	if (l->dk_size >= 0) {
		int64_t size = (int64_t)get_u64(hdr, l->dk_size);
		int64_t width = size <= 0xff           ? 1
		                : size <= 0xffff       ? 2
		                : size <= 0xffffffffll ? 4
		                                       : 8;
		if (size <= 0 || size > (1 << 24))
			return -MST_ECORRUPT;
		entries = keys + (uint64_t)l->dk_indices + (uint64_t)(size * width);
		esize = l->dke_size;
		ekey = l->dke_key;
		evalue = l->dke_value;
		if (nentries > size)
			return -MST_ECORRUPT;
	} else {
		uint8_t log2size = hdr[l->dk_log2_size];
		uint8_t log2ib = hdr[l->dk_log2_index_bytes];
		uint8_t kind = hdr[l->dk_kind];
		if (log2size > 30 || log2ib > 33 || nentries > (1ll << log2size))
			return -MST_ECORRUPT;
		entries = keys + (uint64_t)l->dk_indices + (1ull << log2ib);
		if (kind == 0) {
			esize = l->dke_size;
			ekey = l->dke_key;
			evalue = l->dke_value;
		} else {
			esize = l->dkue_size;
			ekey = l->dkue_key;
			evalue = l->dkue_value;
		}
	}
	if (nentries < 0 || nentries > DICT_ENTRIES_MAX)
		return -MST_ECORRUPT;
	if (nentries == 0)
		return 0;
	ebuf = malloc((size_t)(nentries * esize));
	*items = calloc((size_t)nentries, sizeof(**items));
	if (values)
		vbuf = malloc((size_t)nentries * 8);
	if (!ebuf || !*items || (values && !vbuf)) {
		rc = -ENOMEM;
		goto out;
	}
	rc = rd(py, entries, ebuf, (size_t)(nentries * esize));
	if (rc == 0 && values)
		rc = rd(py, values, vbuf, (size_t)nentries * 8);
	if (rc < 0)
		goto out;
	for (int64_t i = 0; i < nentries; i++) {
		uint64_t k = get_u64(ebuf, i * esize + ekey);
		uint64_t v = values ? vbuf[i] : get_u64(ebuf, i * esize + evalue);
		if (k && v)
			(*items)[(*n)++] = (struct dict_item){k, v};
	}
out:
	free(ebuf);
	free(vbuf);
	if (rc < 0) {
		free(*items);
		*items = NULL;
		*n = 0;
	}
	return rc;
}

/* Where a dict's entries are: the keys object's entry array, the size of
 * an entry and where key and value sit in it, the entries used. The same
 * reading as dict_items_from, for a caller that wants only the first few. */
struct dict_geom {
	uint64_t entries;
	int64_t nentries, esize, ekey, evalue;
};

static int dict_geometry(const struct mst_py *py, uint64_t keys, struct dict_geom *g)
{
	const struct mst_py_layout *l = &py->lay;
	uint8_t hdr[64];
	if (l->dk_indices > (int64_t)sizeof(hdr) || l->dk_indices < 0)
		return -MST_ECORRUPT;
	int rc = rd(py, keys, hdr, (size_t)l->dk_indices);
	if (rc < 0)
		return rc;
	g->nentries = (int64_t)get_u64(hdr, l->dk_nentries);
	if (l->dk_size >= 0) {
		int64_t size = (int64_t)get_u64(hdr, l->dk_size);
		int64_t width = size <= 0xff           ? 1
		                : size <= 0xffff       ? 2
		                : size <= 0xffffffffll ? 4
		                                       : 8;
		if (size <= 0 || size > (1 << 30) || g->nentries > size)
			return -MST_ECORRUPT;
		g->entries = keys + (uint64_t)l->dk_indices + (uint64_t)(size * width);
		g->esize = l->dke_size;
		g->ekey = l->dke_key;
		g->evalue = l->dke_value;
	} else {
		uint8_t log2size = hdr[l->dk_log2_size];
		uint8_t log2ib = hdr[l->dk_log2_index_bytes];
		if (log2size > 30 || log2ib > 33 || g->nentries > (1ll << log2size))
			return -MST_ECORRUPT;
		g->entries = keys + (uint64_t)l->dk_indices + (1ull << log2ib);
		bool general = hdr[l->dk_kind] == 0;
		g->esize = general ? l->dke_size : l->dkue_size;
		g->ekey = general ? l->dke_key : l->dkue_key;
		g->evalue = general ? l->dke_value : l->dkue_value;
	}
	if (g->nentries < 0 || g->esize <= 0 || g->esize > 64 || g->ekey < 0 ||
	    g->ekey + 8 > g->esize || g->evalue < 0 || g->evalue + 8 > g->esize)
		return -MST_ECORRUPT;
	return 0;
}

int mst_py_dict_first(const struct mst_py *py, uint64_t dict, size_t max, uint64_t *keys,
                      uint64_t *values, size_t *n)
{
	const struct mst_py_layout *l = &py->lay;
	/* Entries read per chunk, and chunks read at most: deleted entries
	 * (NULL keys) are skipped, but not without end. */
	enum { CHUNK = 32, CHUNKS_MAX = 64 };
	uint64_t kobj, vals;
	struct dict_geom g = {0};
	int rc;

	*n = 0;
	rc = rd_u64(py, dict + (uint64_t)l->dict_ma_keys, &kobj);
	if (rc == 0)
		rc = rd_u64(py, dict + (uint64_t)l->dict_ma_values, &vals);
	if (rc == 0)
		rc = dict_geometry(py, kobj, &g);
	if (rc < 0)
		return rc;
	if (vals)
		vals += (uint64_t)l->dv_values;
	uint8_t ebuf[CHUNK * 64];
	uint64_t vbuf[CHUNK];
	for (int64_t i = 0, chunks = 0; i < g.nentries && *n < max && chunks < CHUNKS_MAX;
	     chunks++) {
		int64_t m = g.nentries - i < CHUNK ? g.nentries - i : CHUNK;
		rc = rd(py, g.entries + (uint64_t)(i * g.esize), ebuf, (size_t)(m * g.esize));
		if (rc == 0 && vals)
			rc = rd(py, vals + (uint64_t)i * 8, vbuf, (size_t)m * 8);
		if (rc < 0)
			return rc;
		for (int64_t j = 0; j < m && *n < max; j++) {
			uint64_t k = get_u64(ebuf, j * g.esize + g.ekey);
			uint64_t v = vals ? vbuf[j] : get_u64(ebuf, j * g.esize + g.evalue);
			if (!k || !v)
				continue;
			if (keys)
				keys[*n] = k;
			if (values)
				values[*n] = v;
			(*n)++;
		}
		i += m;
	}
	return 0;
}

static int dict_items(const struct mst_py *py, uint64_t dict, struct dict_item **items, size_t *n)
{
	const struct mst_py_layout *l = &py->lay;
	uint64_t keys, values;
	int rc;

	*items = NULL;
	*n = 0;
	rc = rd_u64(py, dict + (uint64_t)l->dict_ma_keys, &keys);
	if (rc == 0)
		rc = rd_u64(py, dict + (uint64_t)l->dict_ma_values, &values);
	if (rc < 0)
		return rc;
	return dict_items_from(py, keys, values ? values + (uint64_t)l->dv_values : 0, items, n);
}

/* Whether the object at key is the str want (ASCII). One read: type,
 * length, state and the compact ASCII data. *cache remembers a match. */
static bool key_is(const struct mst_py *py, uint64_t key, const char *want, uint64_t *cache)
{
	const struct mst_py_layout *l = &py->lay;
	uint8_t buf[128];
	size_t wl = strlen(want);
	uint32_t state;

	if (*cache && key == *cache)
		return true;
	if ((size_t)l->u_ascii_data + wl > sizeof(buf) ||
	    rd(py, key, buf, (size_t)l->u_ascii_data + wl) < 0)
		return false;
	if (py->info.unicode_type && get_u64(buf, l->ob_type) != py->info.unicode_type)
		return false;
	if (get_u64(buf, l->u_length) != wl)
		return false;
	memcpy(&state, buf + l->u_state, sizeof(state));
	if (!(state & (uint32_t)l->u_compact_mask) || !(state & (uint32_t)l->u_ascii_mask))
		return false;
	if (memcmp(buf + l->u_ascii_data, want, wl) != 0)
		return false;
	*cache = key;
	return true;
}

/* The value under the str key want; pointer matches on the cached key
 * first, then string compares. 0 when absent. */
static uint64_t items_get(const struct mst_py *py, const struct dict_item *items, size_t n,
                          const char *want, uint64_t *cache)
{
	if (*cache)
		for (size_t i = 0; i < n; i++)
			if (items[i].key == *cache)
				return items[i].value;
	for (size_t i = 0; i < n; i++)
		if (key_is(py, items[i].key, want, cache))
			return items[i].value;
	return 0;
}

static uint64_t dict_get(const struct mst_py *py, uint64_t dict, const char *want, uint64_t *cache)
{
	struct dict_item *items;
	size_t n;
	uint64_t v;
	if (!dict || dict_items(py, dict, &items, &n) < 0)
		return 0;
	v = items_get(py, items, n, want, cache);
	free(items);
	return v;
}

/* An int that fits 64 bits (a thread ident). 3.6-3.11: signed digit count
 * ob_size; 3.12+: lv_tag = ndigits << 3 | sign. 30-bit digits. */
static int read_ulong(const struct mst_py *py, uint64_t obj, uint64_t *v)
{
	const struct mst_py_layout *l = &py->lay;
	uint8_t buf[64];
	int64_t ndigits;
	uint64_t x = 0;

	/* Every field read below must lie in buf: with 3.13+ the offsets come
	 * from the target's own (possibly corrupt) debug table. */
	size_t len = 0;
	fit(&len, l->long_ob_digit, (size_t)(3 * l->long_digit_size));
	fit(&len, l->long_lv_tag, 8);
	fit(&len, l->long_ob_size, 8);
	if (l->long_ob_digit < 0 || l->long_digit_size != 4 || len > sizeof(buf) ||
	    rd(py, obj, buf, len) < 0)
		return -EFAULT;
	if (l->long_lv_tag >= 0) {
		uint64_t tag = get_u64(buf, l->long_lv_tag);
		if ((tag & 3) == 2) /* negative */
			return -ERANGE;
		ndigits = (int64_t)(tag >> l->long_ndigits_shift);
	} else {
		ndigits = (int64_t)get_u64(buf, l->long_ob_size);
	}
	if (ndigits < 0 || ndigits > 3 || l->long_digit_size != 4)
		return -ERANGE;
	for (int64_t i = ndigits - 1; i >= 0; i--) {
		uint32_t d;
		memcpy(&d, buf + l->long_ob_digit + 4 * i, 4);
		if (i == 2 && (d >> (64 - 2 * l->long_shift)))
			return -ERANGE;
		x = (x << l->long_shift) | d;
	}
	*v = x;
	return 0;
}

/* Thread._name of a threading.Thread instance. Its attributes live in the
 * instance dict at tp_dictoffset (3.6-3.10), or in a managed dict (3.11+,
 * Py_TPFLAGS_MANAGED_DICT): 3.11 keeps a dict pointer and a values pointer
 * just before the object, 3.12 one tagged word, 3.13 a dict pointer or,
 * with Py_TPFLAGS_INLINE_VALUES, values inline at obj + tp_basicsize whose
 * `valid` byte says they are in use. Where they sit comes from the layout
 * (managed_dict_pre, managed_values_pre, dv_valid). The values' keys are
 * the type's shared ht_cached_keys. */
static int thread_name(struct mst_py *py, uint64_t obj, char *name, size_t len)
{
	const struct mst_py_layout *l = &py->lay;
	uint8_t tbuf[1024];
	uint64_t type, dict = 0, keys = 0, values = 0, tpflags, name_obj;
	int64_t dictoffset;
	size_t tlen = 0;
	struct dict_item *items = NULL;
	size_t n = 0;
	struct mst_err e = {0};
	int rc;

	name[0] = '\0';
	if (rd_u64(py, obj + (uint64_t)l->ob_type, &type) < 0 || !type)
		return -EFAULT;
	fit(&tlen, l->tp_flags, 8);
	fit(&tlen, l->tp_dictoffset, 8);
	fit(&tlen, l->tp_basicsize, 8);
	fit(&tlen, l->ht_cached_keys, 8);
	if (tlen > sizeof(tbuf) || rd(py, type, tbuf, tlen) < 0)
		return -EFAULT;
	tpflags = get_u64(tbuf, l->tp_flags);
	dictoffset = (int64_t)get_u64(tbuf, l->tp_dictoffset);

	if (l->tpflags_managed_dict > 0 && (tpflags & (uint64_t)l->tpflags_managed_dict)) {
		uint64_t w;
		if (rd_u64(py, obj - (uint64_t)l->managed_dict_pre, &w) < 0)
			return -EFAULT;
		if (l->minor == 12) {
			/* 3.12: one word, the values pointer minus 1 when bit 0
			 * is set (_PyDictOrValues_GetValues). */
			if (w & 1)
				values = w + 1;
			else
				dict = w;
		} else {
			dict = w;
		}
		if (!dict && l->managed_values_pre >= 0 &&
		    rd_u64(py, obj - (uint64_t)l->managed_values_pre, &values) < 0)
			return -EFAULT;
		if (!dict && l->tpflags_inline_values > 0 &&
		    (tpflags & (uint64_t)l->tpflags_inline_values)) {
			uint8_t valid;
			values = obj + get_u64(tbuf, l->tp_basicsize);
			if (rd(py, values + (uint64_t)l->dv_valid, &valid, 1) < 0)
				return -EFAULT;
			if (!valid)
				values = 0;
		}
		if (!dict && values) {
			if (l->ht_cached_keys < 0)
				return -ENOENT;
			keys = get_u64(tbuf, l->ht_cached_keys);
			values += (uint64_t)l->dv_values;
		}
	} else if (dictoffset > 0) {
		if (rd_u64(py, obj + (uint64_t)dictoffset, &dict) < 0)
			return -EFAULT;
	}
	if (dict)
		rc = dict_items(py, dict, &items, &n);
	else if (keys && values)
		rc = dict_items_from(py, keys, values, &items, &n);
	else
		return -ENOENT;
	if (rc < 0)
		return rc;
	name_obj = items_get(py, items, n, "_name", &py->key_name);
	free(items);
	if (!name_obj)
		return -ENOENT;
	return mst_py_str_read(&py->r, &py->str, name_obj, py->info.unicode_type, name, len, NULL,
	                       NULL, &e);
}

/* Names from threading._active ({ident: Thread}) of one interpreter, put
 * on its threads by thread_id == ident. Failures leave names empty. */
void mst_py_fill_names(struct mst_py *py, uint64_t interp, struct mst_py_thread *threads,
                       size_t nthreads)
{
	const struct mst_py_layout *l = &py->lay;
	uint64_t modules, mod, mdict, active;
	struct dict_item *items;
	size_t n;

	if (!nthreads || l->is_modules < 0 ||
	    rd_u64(py, interp + (uint64_t)l->is_modules, &modules) < 0 || !modules)
		return;
	mod = dict_get(py, modules, "threading", &py->key_threading);
	if (!mod || rd_u64(py, mod + (uint64_t)l->md_dict, &mdict) < 0 || !mdict)
		return;
	active = dict_get(py, mdict, "_active", &py->key_active);
	if (!active || dict_items(py, active, &items, &n) < 0)
		return;
	if (n > MST_PY_MAX_THREADS)
		n = MST_PY_MAX_THREADS;
	for (size_t i = 0; i < n; i++) {
		uint64_t ident;
		size_t j;
		if (read_ulong(py, items[i].key, &ident) < 0)
			continue;
		for (j = 0; j < nthreads; j++)
			if (threads[j].thread_id == ident && !threads[j].name[0])
				break;
		if (j == nthreads)
			continue;
		thread_name(py, items[i].value, threads[j].name, sizeof(threads[j].name));
	}
	free(items);
}
