/* Developer probe: prints, for the CPython whose headers it is compiled
 * against, every member of struct mst_py_layout as "name value" lines
 * (offsetof/sizeof and bit masks; -1 = absent in this version). Used by
 * share/tools/gen-py-layout.sh to generate src/py/layout_tables.inc and by
 * tests/py/test_py_layout.c to compare the committed tables with the headers.
 *
 * Build (see gen-py-layout.sh; internal headers include each other by bare
 * name, 3.12+ headers need C11 atomics):
 *   cc -std=gnu11 -w -I$INC -I$INC/internal py_offsets.c -o py_offsets
 *
 * For 3.13, built with
 *   -DPY_OFFSETS_DEBUG_TABLE -no-pie -Wl,--unresolved-symbols=ignore-all
 * it also prints
 * "dbg.<member> value" for the members that the target's _Py_DebugOffsets
 * table provides, as the header's own _PyRuntimeState_INIT initializer
 * computes them, so the debug-offsets path can be compared with offsetof.
 * The initializer's pointers to libpython data are left unresolved (linking
 * libpython3.13 does not help: it does not export all of them) and are never
 * read: only its integers are printed.
 *
 * It stands alone: it does not include msttop headers, so the member names
 * below must match include/msttop/py_layout.h (the test fails on a missing
 * or unknown name). */

/* Internal headers refuse to compile without it. */
#define Py_BUILD_CORE 1
#include <Python.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if PY_VERSION_HEX < 0x03060000 || PY_VERSION_HEX >= 0x03100000
#error "py_offsets.c knows CPython 3.6 to 3.15"
#endif

#define V(maj, min) (PY_VERSION_HEX >= (((maj) << 24) | ((min) << 16)))

#if !V(3, 11)
#include <frameobject.h>
#include <longintrepr.h>
#endif
#if V(3, 7) && !V(3, 8)
#include <internal/pystate.h>
#elif V(3, 8) && !V(3, 9)
#include <internal/pycore_pystate.h>
#elif V(3, 9)
#include <internal/pycore_runtime.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_pystate.h>
#endif
#if V(3, 10)
#include <internal/pycore_moduleobject.h>
#endif
#if V(3, 11)
#include <internal/pycore_frame.h>
#include <internal/pycore_code.h>
#include <internal/pycore_dict.h>
#endif
#if V(3, 11)
#include <internal/pycore_object.h> /* managed dict accessors */
#endif
#if V(3, 12)
#include <internal/pycore_long.h>
#endif
#if V(3, 13) && defined(PY_OFFSETS_DEBUG_TABLE)
#include <internal/pycore_ceval.h> /* Py_DEFAULT_RECURSION_LIMIT, used by the initializer */
#include <internal/pycore_runtime_init.h>
#endif

#if !V(3, 10)
/* Objects/moduleobject.c (3.6-3.9), not in any installed header; unchanged
 * since 3.4 up to its move to internal/pycore_moduleobject.h in 3.10. */
/* clang-format off */
typedef struct {
	PyObject_HEAD
	PyObject *md_dict;
} PyModuleObject;
/* clang-format on */
#endif

#if !V(3, 11)
/* Objects/dict-common.h (3.6-3.10), not installed. Copied from the 3.9/3.10
 * sources (3.6 spells dk_indices as a union, same offset); checked against
 * DWARF of the pyenv builds with gdb "ptype/o struct _dictkeysobject". */
typedef struct {
	Py_hash_t me_hash;
	PyObject *me_key;
	PyObject *me_value;
} PyDictKeyEntry;
struct _dictkeysobject {
	Py_ssize_t dk_refcnt;
	Py_ssize_t dk_size;
	void *dk_lookup;
	Py_ssize_t dk_usable;
	Py_ssize_t dk_nentries;
	char dk_indices[];
};
#endif

static void p(const char *name, long long v)
{
	printf("%s %lld\n", name, v);
}

#define OFF(name, type, member) p(name, (long long)offsetof(type, member))
#define SZ(name, type) p(name, (long long)sizeof(type))
#define NA(name) p(name, -1)

/* The 32-bit word holding a bit-field after setting only that field. */
static long long word_at(const void *base, size_t off)
{
	uint32_t w;
	memcpy(&w, (const char *)base + off, sizeof(w));
	return (long long)w;
}

static void facts(void)
{
	p("major", PY_MAJOR_VERSION);
	p("minor", PY_MINOR_VERSION);
	p("micro", PY_MICRO_VERSION);
	p("static_globals", V(3, 7) ? 0 : 1);
#if V(3, 13)
	p("instr_encoding", 3);
#elif V(3, 11)
	p("instr_encoding", 2);
#elif V(3, 10)
	p("instr_encoding", 1);
#else
	p("instr_encoding", 0);
#endif

#if V(3, 14)
	/* 3.14 moved holds_gil out of _status into an int of its own. */
	NA("status_holds_gil");
#elif V(3, 13)
	{
		static PyThreadState t;
		memset(&t, 0, sizeof(t));
		t._status.holds_gil = 1;
		p("status_holds_gil", word_at(&t, offsetof(PyThreadState, _status)));
	}
#else
	NA("status_holds_gil");
#endif
#if V(3, 11)
	p("owner_generator", FRAME_OWNED_BY_GENERATOR);
#else
	NA("owner_generator");
#endif
#if V(3, 14)
	/* 3.14 renumbers: the frame _PyEval_EvalFrameDefault pushes on entry is
	 * owned by the INTERPRETER (3); CSTACK (4, gone in 3.15) is above it. */
	p("owner_cstack", FRAME_OWNED_BY_INTERPRETER);
#elif V(3, 12)
	p("owner_cstack", FRAME_OWNED_BY_CSTACK);
#else
	NA("owner_cstack");
#endif

	{
		PyASCIIObject a;
		size_t so = offsetof(PyASCIIObject, state);
		long long kind;
		int shift = 0;
		memset(&a, 0, sizeof(a));
		a.state.kind = 7;
		kind = word_at(&a, so);
		while (kind && !((kind >> shift) & 1))
			shift++;
		p("u_kind_shift", shift);
		p("u_kind_mask", kind >> shift);
		memset(&a, 0, sizeof(a));
		a.state.compact = 1;
		p("u_compact_mask", word_at(&a, so));
		memset(&a, 0, sizeof(a));
		a.state.ascii = 1;
		p("u_ascii_mask", word_at(&a, so));
#if V(3, 12)
		NA("u_ready_mask");
#else
		memset(&a, 0, sizeof(a));
		a.state.ready = 1;
		p("u_ready_mask", word_at(&a, so));
#endif
	}
#if V(3, 14)
	/* f_executable is a _PyStackRef: a tagged PyObject pointer. */
	p("stackref_tag_bits", (long long)Py_TAG_BITS);
#else
	p("stackref_tag_bits", 0);
#endif
#if V(3, 11)
	p("co_fast_local", CO_FAST_LOCAL);
	p("co_fast_cell", CO_FAST_CELL);
	p("co_fast_free", CO_FAST_FREE);
#else
	NA("co_fast_local");
	NA("co_fast_cell");
	NA("co_fast_free");
#endif
#ifdef CO_FAST_HIDDEN
	p("co_fast_hidden", CO_FAST_HIDDEN);
#else
	NA("co_fast_hidden");
#endif
	p("co_flag_varargs", CO_VARARGS);
	p("co_flag_varkeywords", CO_VARKEYWORDS);
	p("tpflags_heaptype", (long long)Py_TPFLAGS_HEAPTYPE);
	p("long_shift", PyLong_SHIFT);
	p("long_digit_size", sizeof(digit));
#if V(3, 12)
	p("long_ndigits_shift", NON_SIZE_BITS);
#else
	NA("long_ndigits_shift");
#endif
}

static void runtime(void)
{
#if V(3, 7)
	SZ("rt_size", _PyRuntimeState);
	OFF("rt_interpreters_head", _PyRuntimeState, interpreters.head);
	OFF("rt_interpreters_main", _PyRuntimeState, interpreters.main);
#else
	NA("rt_size");
	NA("rt_interpreters_head");
	NA("rt_interpreters_main");
#endif
#if V(3, 7) && !V(3, 9)
	OFF("rt_gc_collecting", _PyRuntimeState, gc.collecting);
#else
	NA("rt_gc_collecting");
#endif
#if V(3, 7) && !V(3, 12)
	OFF("rt_gil", _PyRuntimeState, ceval.gil);
	OFF("rt_gil_last_holder", _PyRuntimeState, ceval.gil.last_holder);
	OFF("rt_gil_locked", _PyRuntimeState, ceval.gil.locked);
	OFF("rt_tstate_current", _PyRuntimeState, gilstate.tstate_current);
#else
	NA("rt_gil");
	NA("rt_gil_last_holder");
	NA("rt_gil_locked");
	NA("rt_tstate_current");
#endif

#if V(3, 7)
	SZ("gil_size", struct _gil_runtime_state);
	OFF("gil_last_holder", struct _gil_runtime_state, last_holder);
	OFF("gil_locked", struct _gil_runtime_state, locked);
	OFF("gil_cond", struct _gil_runtime_state, cond);
	OFF("gil_switch_cond", struct _gil_runtime_state, switch_cond);
#else
	/* 3.6: the GIL is a set of statics in Python/ceval_gil.h. */
	NA("gil_size");
	NA("gil_last_holder");
	NA("gil_locked");
	NA("gil_cond");
	NA("gil_switch_cond");
#endif
}

static void interp(void)
{
	SZ("is_size", PyInterpreterState);
	OFF("is_next", PyInterpreterState, next);
#if V(3, 11)
	OFF("is_threads_head", PyInterpreterState, threads.head);
#else
	OFF("is_threads_head", PyInterpreterState, tstate_head);
#endif
#if V(3, 7)
	OFF("is_id", PyInterpreterState, id);
#else
	NA("is_id");
#endif
#if V(3, 12)
	OFF("is_modules", PyInterpreterState, imports.modules);
#else
	OFF("is_modules", PyInterpreterState, modules);
#endif
	OFF("is_sysdict", PyInterpreterState, sysdict);
	OFF("is_builtins", PyInterpreterState, builtins);
#if V(3, 9)
	OFF("is_gc_collecting", PyInterpreterState, gc.collecting);
#else
	NA("is_gc_collecting");
#endif
#if V(3, 12)
	OFF("is_ceval_gil", PyInterpreterState, ceval.gil);
	OFF("is_gil", PyInterpreterState, _gil);
	OFF("is_gil_last_holder", PyInterpreterState, _gil.last_holder);
	OFF("is_gil_locked", PyInterpreterState, _gil.locked);
#else
	NA("is_ceval_gil");
	NA("is_gil");
	NA("is_gil_last_holder");
	NA("is_gil_locked");
#endif
}

static void tstate(void)
{
	SZ("ts_size", PyThreadState);
	OFF("ts_prev", PyThreadState, prev);
	OFF("ts_next", PyThreadState, next);
	OFF("ts_interp", PyThreadState, interp);
#if V(3, 11)
	NA("ts_frame");
#else
	OFF("ts_frame", PyThreadState, frame);
#endif
#if V(3, 10) && !V(3, 13)
	OFF("ts_cframe", PyThreadState, cframe);
#else
	NA("ts_cframe");
#endif
#if V(3, 11) && !V(3, 13)
	OFF("cframe_current_frame", _PyCFrame, current_frame);
	OFF("cframe_previous", _PyCFrame, previous);
#else
	NA("cframe_current_frame");
	NA("cframe_previous");
#endif
#if V(3, 13)
	OFF("ts_current_frame", PyThreadState, current_frame);
#else
	NA("ts_current_frame");
#endif
	OFF("ts_thread_id", PyThreadState, thread_id);
#if V(3, 11)
	OFF("ts_native_thread_id", PyThreadState, native_thread_id);
	OFF("ts_datastack_chunk", PyThreadState, datastack_chunk);
	OFF("ts_datastack_top", PyThreadState, datastack_top);
	OFF("chunk_data", _PyStackChunk, data);
#else
	NA("ts_native_thread_id");
	NA("ts_datastack_chunk");
	NA("ts_datastack_top");
	NA("chunk_data");
#endif
#if V(3, 12)
	OFF("ts_status", PyThreadState, _status);
#else
	NA("ts_status");
#endif
#if V(3, 13)
	OFF("ts_state", PyThreadState, state);
#else
	NA("ts_state");
#endif
}

static void frames(void)
{
#if V(3, 11)
	NA("fo_back");
	NA("fo_code");
	NA("fo_lasti");
	NA("fo_lineno");
	NA("fo_localsplus");
	SZ("if_size", _PyInterpreterFrame);
#if V(3, 13)
	OFF("if_code", _PyInterpreterFrame, f_executable);
	OFF("if_instr", _PyInterpreterFrame, instr_ptr);
#else
	OFF("if_code", _PyInterpreterFrame, f_code);
	OFF("if_instr", _PyInterpreterFrame, prev_instr);
#endif
	OFF("if_previous", _PyInterpreterFrame, previous);
#if V(3, 12)
	NA("if_is_entry");
#else
	OFF("if_is_entry", _PyInterpreterFrame, is_entry);
#endif
	OFF("if_owner", _PyInterpreterFrame, owner);
	OFF("if_localsplus", _PyInterpreterFrame, localsplus);
#else
	OFF("fo_back", PyFrameObject, f_back);
	OFF("fo_code", PyFrameObject, f_code);
	OFF("fo_lasti", PyFrameObject, f_lasti);
	OFF("fo_lineno", PyFrameObject, f_lineno);
	OFF("fo_localsplus", PyFrameObject, f_localsplus);
	NA("if_size");
	NA("if_code");
	NA("if_instr");
	NA("if_previous");
	NA("if_is_entry");
	NA("if_owner");
	NA("if_localsplus");
#endif
}

static void code(void)
{
	SZ("co_size", PyCodeObject);
	OFF("co_argcount", PyCodeObject, co_argcount);
	OFF("co_kwonlyargcount", PyCodeObject, co_kwonlyargcount);
	OFF("co_nlocals", PyCodeObject, co_nlocals);
#if V(3, 11)
	OFF("co_nlocalsplus", PyCodeObject, co_nlocalsplus);
	NA("co_varnames");
	NA("co_cellvars");
	NA("co_freevars");
	OFF("co_localsplusnames", PyCodeObject, co_localsplusnames);
	OFF("co_localspluskinds", PyCodeObject, co_localspluskinds);
#else
	NA("co_nlocalsplus");
	OFF("co_varnames", PyCodeObject, co_varnames);
	OFF("co_cellvars", PyCodeObject, co_cellvars);
	OFF("co_freevars", PyCodeObject, co_freevars);
	NA("co_localsplusnames");
	NA("co_localspluskinds");
#endif
	OFF("co_flags", PyCodeObject, co_flags);
	OFF("co_firstlineno", PyCodeObject, co_firstlineno);
#if V(3, 11)
	NA("co_code");
#else
	OFF("co_code", PyCodeObject, co_code);
#endif
	OFF("co_filename", PyCodeObject, co_filename);
	OFF("co_name", PyCodeObject, co_name);
#if V(3, 11)
	OFF("co_qualname", PyCodeObject, co_qualname);
#else
	NA("co_qualname");
#endif
#if V(3, 10)
	NA("co_lnotab");
	OFF("co_linetable", PyCodeObject, co_linetable);
#else
	OFF("co_lnotab", PyCodeObject, co_lnotab);
	NA("co_linetable");
#endif
#if V(3, 11)
	OFF("co_firsttraceable", PyCodeObject, _co_firsttraceable);
	OFF("co_code_adaptive", PyCodeObject, co_code_adaptive);
#else
	NA("co_firsttraceable");
	NA("co_code_adaptive");
#endif
}

/* Where 3.11+ keep an object's managed dict (and, in 3.11, its values
 * pointer): words just before the object. Measured through the headers'
 * own accessors on a fake object whose type has Py_TPFLAGS_MANAGED_DICT
 * (their asserts read it), printed as bytes before the object. */
static void managed_dict(void)
{
#if V(3, 11)
	static PyTypeObject tp;
	static PyObject *mem[16];
	PyObject *o = (PyObject *)&mem[8];
	tp.tp_flags = Py_TPFLAGS_MANAGED_DICT;
	o->ob_type = &tp;
#endif
#if V(3, 13)
	p("managed_dict_pre", (long long)((char *)o - (char *)_PyObject_ManagedDictPointer(o)));
	NA("managed_values_pre");
#elif V(3, 12)
	p("managed_dict_pre", (long long)((char *)o - (char *)_PyObject_DictOrValuesPointer(o)));
	NA("managed_values_pre");
#elif V(3, 11)
	p("managed_dict_pre", (long long)((char *)o - (char *)_PyObject_ManagedDictPointer(o)));
	p("managed_values_pre", (long long)((char *)o - (char *)_PyObject_ValuesPointer(o)));
#else
	NA("managed_dict_pre");
	NA("managed_values_pre");
#endif
}

static void objects(void)
{
	OFF("ob_type", PyObject, ob_type);
	OFF("ob_size", PyVarObject, ob_size);
	OFF("tp_name", PyTypeObject, tp_name);
	OFF("tp_flags", PyTypeObject, tp_flags);
	OFF("tp_dictoffset", PyTypeObject, tp_dictoffset);
	OFF("u_length", PyASCIIObject, length);
	OFF("u_state", PyASCIIObject, state);
	SZ("u_ascii_data", PyASCIIObject);
	SZ("u_compact_data", PyCompactUnicodeObject);
	OFF("bytes_ob_size", PyBytesObject, ob_base.ob_size);
	OFF("bytes_ob_sval", PyBytesObject, ob_sval);
	OFF("tuple_ob_size", PyTupleObject, ob_base.ob_size);
	OFF("tuple_ob_item", PyTupleObject, ob_item);
	OFF("list_ob_size", PyListObject, ob_base.ob_size);
	OFF("list_ob_item", PyListObject, ob_item);
	OFF("md_dict", PyModuleObject, md_dict);
	OFF("tp_basicsize", PyTypeObject, tp_basicsize);
	OFF("ht_cached_keys", PyHeapTypeObject, ht_cached_keys);
#ifdef Py_TPFLAGS_MANAGED_DICT
	p("tpflags_managed_dict", (long long)Py_TPFLAGS_MANAGED_DICT);
#else
	NA("tpflags_managed_dict");
#endif
#ifdef Py_TPFLAGS_INLINE_VALUES
	p("tpflags_inline_values", (long long)Py_TPFLAGS_INLINE_VALUES);
#else
	NA("tpflags_inline_values");
#endif
	managed_dict();
	OFF("float_ob_fval", PyFloatObject, ob_fval);
	OFF("cell_ob_ref", PyCellObject, ob_ref);
#if V(3, 12)
	NA("long_ob_size");
	OFF("long_lv_tag", PyLongObject, long_value.lv_tag);
	OFF("long_ob_digit", PyLongObject, long_value.ob_digit);
#else
	OFF("long_ob_size", PyLongObject, ob_base.ob_size);
	NA("long_lv_tag");
	OFF("long_ob_digit", PyLongObject, ob_digit);
#endif
}

static void dicts(void)
{
	OFF("dict_ma_used", PyDictObject, ma_used);
	OFF("dict_ma_keys", PyDictObject, ma_keys);
	OFF("dict_ma_values", PyDictObject, ma_values);
#if V(3, 11)
	NA("dk_size");
	OFF("dk_log2_size", PyDictKeysObject, dk_log2_size);
	OFF("dk_log2_index_bytes", PyDictKeysObject, dk_log2_index_bytes);
	OFF("dk_kind", PyDictKeysObject, dk_kind);
#else
	OFF("dk_size", PyDictKeysObject, dk_size);
	NA("dk_log2_size");
	NA("dk_log2_index_bytes");
	NA("dk_kind");
#endif
	OFF("dk_nentries", PyDictKeysObject, dk_nentries);
	OFF("dk_indices", PyDictKeysObject, dk_indices);
	SZ("dke_size", PyDictKeyEntry);
	OFF("dke_hash", PyDictKeyEntry, me_hash);
	OFF("dke_key", PyDictKeyEntry, me_key);
	OFF("dke_value", PyDictKeyEntry, me_value);
#if V(3, 11)
	SZ("dkue_size", PyDictUnicodeEntry);
	OFF("dkue_key", PyDictUnicodeEntry, me_key);
	OFF("dkue_value", PyDictUnicodeEntry, me_value);
	OFF("dv_values", PyDictValues, values);
#if V(3, 13)
	OFF("dv_valid", PyDictValues, valid);
#else
	NA("dv_valid");
#endif
#else
	NA("dkue_size");
	NA("dkue_key");
	NA("dkue_value");
	/* ma_values is a plain PyObject ** up to 3.10. */
	p("dv_values", 0);
	NA("dv_valid");
#endif
}

#if V(3, 13) && defined(PY_OFFSETS_DEBUG_TABLE)
/* What a 3.13 _Py_DebugOffsets table says, as the header initializes it,
 * mapped onto mst_py_layout member names the same way
 * mst_py_layout_from_debug_offsets does. */
static const _PyRuntimeState rt_init = _PyRuntimeState_INIT(rt_init, "xdebugpy");

static void debug_offsets(void)
{
	const _Py_DebugOffsets *d = &rt_init.debug_offsets;
	p("dbg.version", (long long)d->version);
	p("dbg.free_threaded", (long long)d->free_threaded);
	p("dbg.rt_size", (long long)d->runtime_state.size);
	p("dbg.rt_interpreters_head", (long long)d->runtime_state.interpreters_head);
	p("dbg.is_size", (long long)d->interpreter_state.size);
	p("dbg.is_id", (long long)d->interpreter_state.id);
	p("dbg.is_next", (long long)d->interpreter_state.next);
	p("dbg.is_threads_head", (long long)d->interpreter_state.threads_head);
	p("dbg.is_modules", (long long)d->interpreter_state.imports_modules);
	p("dbg.is_sysdict", (long long)d->interpreter_state.sysdict);
	p("dbg.is_builtins", (long long)d->interpreter_state.builtins);
	p("dbg.is_ceval_gil", (long long)d->interpreter_state.ceval_gil);
	p("dbg.is_gil", (long long)d->interpreter_state.gil_runtime_state);
	p("dbg.is_gil_locked", (long long)d->interpreter_state.gil_runtime_state_locked);
	p("dbg.is_gil_last_holder", (long long)d->interpreter_state.gil_runtime_state_holder);
	p("dbg.is_gc_collecting", (long long)(d->interpreter_state.gc + d->gc.collecting));
	p("dbg.ts_size", (long long)d->thread_state.size);
	p("dbg.ts_prev", (long long)d->thread_state.prev);
	p("dbg.ts_next", (long long)d->thread_state.next);
	p("dbg.ts_interp", (long long)d->thread_state.interp);
	p("dbg.ts_current_frame", (long long)d->thread_state.current_frame);
	p("dbg.ts_thread_id", (long long)d->thread_state.thread_id);
	p("dbg.ts_native_thread_id", (long long)d->thread_state.native_thread_id);
	p("dbg.ts_datastack_chunk", (long long)d->thread_state.datastack_chunk);
	p("dbg.ts_status", (long long)d->thread_state.status);
	p("dbg.if_size", (long long)d->interpreter_frame.size);
	p("dbg.if_previous", (long long)d->interpreter_frame.previous);
	p("dbg.if_code", (long long)d->interpreter_frame.executable);
	p("dbg.if_instr", (long long)d->interpreter_frame.instr_ptr);
	p("dbg.if_localsplus", (long long)d->interpreter_frame.localsplus);
	p("dbg.if_owner", (long long)d->interpreter_frame.owner);
	p("dbg.co_size", (long long)d->code_object.size);
	p("dbg.co_filename", (long long)d->code_object.filename);
	p("dbg.co_name", (long long)d->code_object.name);
	p("dbg.co_qualname", (long long)d->code_object.qualname);
	p("dbg.co_linetable", (long long)d->code_object.linetable);
	p("dbg.co_firstlineno", (long long)d->code_object.firstlineno);
	p("dbg.co_argcount", (long long)d->code_object.argcount);
	p("dbg.co_code_adaptive", (long long)d->code_object.co_code_adaptive);
	p("dbg.co_localsplusnames", (long long)d->code_object.localsplusnames);
	p("dbg.co_localspluskinds", (long long)d->code_object.localspluskinds);
	p("dbg.float_ob_fval", (long long)d->float_object.ob_fval);
	p("dbg.ob_type", (long long)d->pyobject.ob_type);
	p("dbg.tp_name", (long long)d->type_object.tp_name);
	p("dbg.tp_flags", (long long)d->type_object.tp_flags);
	p("dbg.tuple_ob_item", (long long)d->tuple_object.ob_item);
	p("dbg.tuple_ob_size", (long long)d->tuple_object.ob_size);
	p("dbg.list_ob_item", (long long)d->list_object.ob_item);
	p("dbg.list_ob_size", (long long)d->list_object.ob_size);
	p("dbg.dict_ma_keys", (long long)d->dict_object.ma_keys);
	p("dbg.dict_ma_values", (long long)d->dict_object.ma_values);
	p("dbg.long_lv_tag", (long long)d->long_object.lv_tag);
	p("dbg.long_ob_digit", (long long)d->long_object.ob_digit);
	p("dbg.bytes_ob_size", (long long)d->bytes_object.ob_size);
	p("dbg.bytes_ob_sval", (long long)d->bytes_object.ob_sval);
	p("dbg.u_state", (long long)d->unicode_object.state);
	p("dbg.u_length", (long long)d->unicode_object.length);
	p("dbg.u_ascii_data", (long long)d->unicode_object.asciiobject_size);
}
#endif

int main(void)
{
	facts();
	runtime();
	interp();
	tstate();
	frames();
	code();
	objects();
	dicts();
#if V(3, 13) && defined(PY_OFFSETS_DEBUG_TABLE)
	debug_offsets();
#endif
	return 0;
}
