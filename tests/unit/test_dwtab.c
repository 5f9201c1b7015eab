/* The DWARF tables (src/dwtab.c) against libdw asked directly, address by
 * address, on CPython's libpython: built -O3 with debug info, it has deep
 * chains of inlined calls (the eval loop's macros and static helpers). The
 * line must be dwfl_module_getsrc's; the chain of inlined calls must be the
 * concrete scope chain of the innermost function DIE holding the address
 * (dwarf_getscopes to find it, dwarf_getscopes_die for its parents). */
#include <check.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../harness.h"
#include "dwtab-int.h"

Suite *dwtab_suite(void);

/* Strings for the tables: kept as they are, freed at the end. */
struct strs {
	char **v;
	size_t n, cap;
};

static const char *keep(void *ctx, const char *s)
{
	struct strs *k = ctx;
	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 1024;
		k->v = realloc(k->v, k->cap * sizeof(k->v[0]));
		ck_assert_ptr_nonnull(k->v);
	}
	return k->v[k->n++] = strdup(s);
}

static void strs_free(struct strs *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
}

static const char *base(const char *p)
{
	const char *s = p ? strrchr(p, '/') : NULL;
	return s ? s + 1 : p ? p : "-";
}

static const char *ref_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *n = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
	return n ? n : dwarf_diename(die);
}

/* libdw's answer for addr, in the form mst_dwtab_pos gives it. */
static int reference(Dwfl_Module *mod, uint64_t addr, struct mst_dwtab_pos *pos, const char **files)
{
	memset(pos, 0, sizeof(*pos));
	Dwfl_Line *ln = dwfl_module_getsrc(mod, addr);
	if (ln) {
		files[0] = dwfl_lineinfo(ln, NULL, &pos->line, NULL, NULL, NULL);
		pos->file = files[0];
	}
	Dwarf_Addr bias;
	Dwarf_Die *cudie = dwfl_module_addrdie(mod, addr, &bias);
	if (!cudie)
		return ln != NULL;
	Dwarf_Die *scopes = NULL, *chain = NULL;
	int n = dwarf_getscopes(cudie, addr - bias, &scopes);
	int i = 0;
	while (i < n && dwarf_tag(&scopes[i]) != DW_TAG_inlined_subroutine &&
	       dwarf_tag(&scopes[i]) != DW_TAG_subprogram)
		i++;
	int m = i < n ? dwarf_getscopes_die(&scopes[i], &chain) : 0;
	const char *names[MST_DWTAB_MAX_INLINE];
	int lines[MST_DWTAB_MAX_INLINE];
	size_t k = 0;
	Dwarf_Files *df = NULL;
	size_t ndf = 0;
	dwarf_getsrcfiles(cudie, &df, &ndf);
	for (int j = 0; j < m; j++) {
		int tag = dwarf_tag(&chain[j]);
		if (tag == DW_TAG_subprogram) {
			pos->func = ref_name(&chain[j]);
			break;
		}
		if (tag != DW_TAG_inlined_subroutine || k == MST_DWTAB_MAX_INLINE)
			continue;
		Dwarf_Attribute attr;
		Dwarf_Word v;
		names[k] = ref_name(&chain[j]);
		lines[k] = dwarf_formudata(dwarf_attr(&chain[j], DW_AT_call_line, &attr), &v) == 0
		               ? (int)v
		               : 0;
		files[1 + k] =
		    dwarf_formudata(dwarf_attr(&chain[j], DW_AT_call_file, &attr), &v) == 0 &&
		            v < ndf
		        ? dwarf_filesrc(df, v, NULL, NULL)
		        : NULL;
		k++;
	}
	/* Outermost first, as the tables give it. */
	pos->ninl = k;
	for (size_t j = 0; j < k; j++)
		pos->inl[j] = (struct mst_dwtab_inline){.func = names[k - 1 - j],
		                                        .call_file = files[1 + k - 1 - j],
		                                        .call_line = lines[k - 1 - j]};
	free(scopes);
	free(chain);
	return 1;
}

static void describe(char *buf, size_t len, const struct mst_dwtab_pos *p)
{
	int o = snprintf(buf, len, "%s:%d fn=%s", base(p->file), p->line, p->func ? p->func : "-");
	for (size_t i = 0; i < p->ninl && o > 0 && (size_t)o < len; i++)
		o += snprintf(buf + o, len - (size_t)o, " <%s from %s:%d>", p->inl[i].func,
		              base(p->inl[i].call_file), p->inl[i].call_line);
}

/* The newest pyenv CPython with a shared libpython (malloc'd), or NULL. */
static char *find_libpython(void)
{
	const struct mst_interp *py;
	size_t n = mst_test_interps(&py);
	char *lib = NULL;
	for (size_t i = n; i-- > 0 && !lib;)
		if (!py[i].system)
			lib = mst_libpython_of(&py[i]);
	return lib;
}

START_TEST(dwtab_as_libdw_on_libpython)
{
	char *path = find_libpython();
	if (!path)
		ck_abort_msg(
		    "no pyenv CPython with a shared libpython: the inline chains cannot be "
		    "checked (install one, see README)");
	static char *dpath;
	static const Dwfl_Callbacks cb = {.find_elf = dwfl_build_id_find_elf,
	                                  .find_debuginfo = dwfl_standard_find_debuginfo,
	                                  .section_address = dwfl_offline_section_address,
	                                  .debuginfo_path = &dpath};
	Dwfl *d = dwfl_begin(&cb);
	ck_assert_ptr_nonnull(d);
	dwfl_report_begin(d);
	Dwfl_Module *mod = dwfl_report_elf(d, "libpython", path, -1, 0x7f0000000000ull, false);
	dwfl_report_end(d, NULL, NULL);
	ck_assert_msg(mod != NULL, "%s: %s", path, dwfl_errmsg(-1));
	Dwarf_Addr bias;
	ck_assert_msg(dwfl_module_getdwarf(mod, &bias) != NULL, "%s has no DWARF", path);
	/* .text, as mapped. */
	Elf *elf = dwfl_module_getelf(mod, &bias);
	ck_assert_ptr_nonnull(elf);
	size_t shstrndx;
	ck_assert_int_eq(elf_getshdrstrndx(elf, &shstrndx), 0);
	uint64_t lo = 0, hi = 0;
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(elf, scn));) {
		GElf_Shdr sh;
		const char *name;
		if (gelf_getshdr(scn, &sh) && (name = elf_strptr(elf, shstrndx, sh.sh_name)) &&
		    strcmp(name, ".text") == 0) {
			lo = sh.sh_addr + bias;
			hi = lo + sh.sh_size;
		}
	}
	ck_assert_uint_gt(hi, lo);

	struct strs k = {0};
	struct mst_dwtab_strings str = {.ctx = &k, .intern = keep, .intern_name = keep};
	struct mst_dwtab *t = mst_dwtab_new(&str);
	ck_assert_ptr_nonnull(t);
	size_t checked = 0, lined = 0, deep = 0, bad = 0;
	/* About 6000 addresses spread over the whole text, then every byte
	 * of a stretch of the eval loop's code, where chains change fast.
	 * (The reference walks a whole unit per address: more is slow.) */
	uint64_t step = (hi - lo) / 6000 | 1;
	for (int pass = 0; pass < 2; pass++) {
		uint64_t from = lo, to = hi, by = step;
		if (pass == 1) {
			GElf_Sym sym;
			GElf_Addr a = 0;
			for (int i = 1, n = dwfl_module_getsymtab(mod); i < n; i++) {
				const char *nm =
				    dwfl_module_getsym_info(mod, i, &sym, &a, NULL, NULL, NULL);
				if (nm && strcmp(nm, "_PyEval_EvalFrameDefault") == 0)
					break;
				a = 0;
			}
			ck_assert_msg(a != 0, "no _PyEval_EvalFrameDefault in %s", path);
			from = a + 4096;
			to = from + 4096;
			by = 1;
		}
		for (uint64_t a = from; a < to; a += by) {
			struct mst_dwtab_pos got, want;
			const char *files[1 + MST_DWTAB_MAX_INLINE] = {0};
			int rc = mst_dwtab_lookup(t, mod, a, &got);
			ck_assert_int_ge(rc, 0);
			reference(mod, a, &want, files);
			checked++;
			lined += want.line > 0;
			deep += want.ninl >= 2;
			bool same = got.line == want.line &&
			            !strcmp(base(got.file), base(want.file)) &&
			            got.ninl == want.ninl &&
			            !strcmp(got.func ? got.func : "-", want.func ? want.func : "-");
			for (size_t i = 0; same && i < got.ninl; i++)
				same = !strcmp(got.inl[i].func ? got.inl[i].func : "-",
				               want.inl[i].func ? want.inl[i].func : "-") &&
				       got.inl[i].call_line == want.inl[i].call_line &&
				       !strcmp(base(got.inl[i].call_file),
				               base(want.inl[i].call_file));
			if (!same && bad++ < 5) {
				char g[1024], w[1024];
				describe(g, sizeof(g), &got);
				describe(w, sizeof(w), &want);
				fprintf(stderr, "dwtab at +%#llx:\n  got  %s\n  want %s\n",
				        (unsigned long long)(a - lo), g, w);
			}
		}
	}
	fprintf(stderr,
	        "dwtab: %zu addresses of %s, %zu with a line, %zu in 2+ inlined calls, "
	        "%zu differ; tables %zu KB\n",
	        checked, path, lined, deep, bad, mst_dwtab_bytes(t) / 1024);
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_gt(lined, checked / 2);
	ck_assert_uint_gt(deep, 500);
	mst_dwtab_free(t);
	strs_free(&k);
	dwfl_end(d);
	free(path);
}
END_TEST

Suite *dwtab_suite(void)
{
	Suite *s = suite_create("dwtab");
	TCase *tc = tcase_create("dwtab");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, dwtab_as_libdw_on_libpython);
	suite_add_tcase(s, tc);
	return s;
}
