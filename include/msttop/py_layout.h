/* Per-version CPython layouts: every byte offset the decoder reads in a live
 * interpreter, selected once at attach. 3.6-3.12 come from tables generated
 * from each release's headers (share/tools/gen-py-layout.sh); 3.13 and later
 * are filled from the target's own _Py_DebugOffsets table at _PyRuntime+0. Linux
 * x86_64, release (non-Py_DEBUG), default-GIL builds only. */
#ifndef MSTTOP_PY_LAYOUT_H
#define MSTTOP_PY_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "msttop/err.h"

/* How a frame says which instruction it is at (see doc §3.1). */
enum {
	MST_PY_INSTR_LASTI_BYTES = 0, /* 3.6-3.9: int f_lasti, a byte offset; -1 = not started */
	MST_PY_INSTR_LASTI_UNITS = 1, /* 3.10: int f_lasti, in 2-byte code units */
	MST_PY_INSTR_PREV_INSTR = 2,  /* 3.11-3.12: _Py_CODEUNIT *prev_instr */
	MST_PY_INSTR_INSTR_PTR = 3,   /* 3.13+: _Py_CODEUNIT *instr_ptr */
};

/* Every numeric member is an int64_t so that tools and tests can treat the
 * struct as a list of named numbers (mst_py_layout_fields()). Offsets are in
 * bytes from the start of the named struct; -1 means "not present in this
 * version". Prefixes: rt_ _PyRuntimeState, is_ PyInterpreterState, gil_
 * struct _gil_runtime_state, ts_ PyThreadState, fo_ PyFrameObject (3.6-3.10),
 * if_ _PyInterpreterFrame (3.11+), co_ PyCodeObject, u_ PyASCIIObject and
 * friends, dk_/dke_/dkue_/dv_ dict keys, entries and split values. */
struct mst_py_layout {
	/* Where the numbers come from: "table 3.11.7 headers" or
	 * "debug offsets 3.13.0 + table 3.13.0 headers". Static storage. */
	const char *source;

	/* --- Facts that are not offsets --- */
	int64_t major, minor;
	int64_t micro;            /* of the headers / debug table the numbers come from */
	int64_t static_globals;   /* 1 in 3.6: no _PyRuntime; interp_head, gil_locked,
	                           * gil_last_holder and collecting are statics (.symtab) and
	                           * _PyThreadState_Current is exported. 0 otherwise. */
	int64_t instr_encoding;   /* MST_PY_INSTR_* */
	int64_t status_holds_gil; /* mask of _status.holds_gil in the 32-bit word at
	                           * ts_status (3.13: 0x20), -1 if absent */
	int64_t owner_generator;  /* FRAME_OWNED_BY_GENERATOR (3.11+: 1), -1 if absent */
	int64_t owner_cstack;     /* FRAME_OWNED_BY_CSTACK, the shim owner (3.12-3.13: 3) */
	int64_t u_kind_shift;     /* unicode state word: kind = (state >> shift) & kind_mask */
	int64_t u_kind_mask;
	int64_t u_compact_mask;
	int64_t u_ascii_mask;
	int64_t u_ready_mask;       /* 3.6-3.11; -1 from 3.12 (no more non-ready strings) */
	int64_t long_shift;         /* PyLong_SHIFT: bits per digit */
	int64_t long_digit_size;    /* sizeof(digit) */
	int64_t long_ndigits_shift; /* 3.12+: ndigits = lv_tag >> this; sign = lv_tag & 3
	                             * (0 positive, 1 zero, 2 negative). -1 before 3.12 */
	int64_t stackref_tag_bits;  /* 3.14+: f_executable and localsplus[] are
	                             * _PyStackRefs, PyObject pointers tagged in these
	                             * low bits (3.14, 3.15: 3; all set = a tagged int,
	                             * value >> 2); 0 before */
	/* Kinds of co_localspluskinds entries (3.11+, internal/pycore_code.h),
	 * -1 if absent: CO_FAST_LOCAL 0x20, CO_FAST_CELL 0x40, CO_FAST_FREE
	 * 0x80, CO_FAST_HIDDEN 0x10 (3.12+: inlined comprehension variables). */
	int64_t co_fast_local;
	int64_t co_fast_cell;
	int64_t co_fast_free;
	int64_t co_fast_hidden;
	int64_t co_flag_varargs;     /* CO_VARARGS in co_flags (0x4) */
	int64_t co_flag_varkeywords; /* CO_VARKEYWORDS in co_flags (0x8) */
	int64_t tpflags_heaptype;    /* Py_TPFLAGS_HEAPTYPE (1 << 9): a class made by
	                              * Python code, never a built-in type */

	/* --- _PyRuntimeState (symbol _PyRuntime, 3.7+) --- */
	int64_t rt_size;
	int64_t rt_interpreters_head;
	int64_t rt_interpreters_main;
	int64_t rt_gc_collecting;   /* int, 3.7-3.8 */
	int64_t rt_gil;             /* embedded struct _gil_runtime_state, 3.7-3.11 */
	int64_t rt_gil_last_holder; /* = rt_gil + gil_last_holder */
	int64_t rt_gil_locked;      /* = rt_gil + gil_locked */
	int64_t rt_tstate_current;  /* gilstate.tstate_current, 3.7-3.11 */

	/* --- struct _gil_runtime_state, relative to its start (3.7+) --- */
	int64_t gil_size;
	int64_t gil_last_holder; /* PyThreadState* (atomic) */
	int64_t gil_locked;      /* int; -1 = GIL not created yet */
	int64_t gil_cond;        /* pthread_cond_t that GIL waiters sleep on */
	int64_t gil_switch_cond; /* pthread_cond_t a dropping thread waits on (FORCE_SWITCHING) */

	/* --- PyInterpreterState --- */
	int64_t is_size;
	int64_t is_next;
	int64_t is_threads_head; /* tstate_head (3.6-3.10), threads.head (3.11+) */
	int64_t is_id;           /* int64, 3.7+ */
	int64_t is_modules;      /* modules, imports.modules (3.12+) */
	int64_t is_sysdict;
	int64_t is_builtins;
	int64_t is_gc_collecting;   /* int gc.collecting, 3.9+ */
	int64_t is_ceval_gil;       /* pointer ceval.gil, 3.12+ */
	int64_t is_gil;             /* embedded _gil, 3.12+ */
	int64_t is_gil_last_holder; /* = is_gil + gil_last_holder */
	int64_t is_gil_locked;      /* = is_gil + gil_locked */

	/* --- PyThreadState --- */
	int64_t ts_size;
	int64_t ts_prev;
	int64_t ts_next;
	int64_t ts_interp;
	int64_t ts_frame;             /* PyFrameObject*, 3.6-3.10 */
	int64_t ts_cframe;            /* _PyCFrame*, 3.10-3.12 */
	int64_t cframe_current_frame; /* in _PyCFrame, 3.11-3.12 */
	int64_t cframe_previous;      /* the caller's _PyCFrame, 3.11-3.12 */
	int64_t ts_current_frame;     /* _PyInterpreterFrame*, 3.13+ */
	int64_t ts_thread_id;         /* unsigned long, pthread_self() */
	int64_t ts_native_thread_id;  /* unsigned long, gettid(), 3.11+ */
	int64_t ts_status;            /* 32-bit bit-field word _status, 3.12+ */
	int64_t ts_state;             /* int: 0 detached, 1 attached, 2 suspended; 3.13+ */
	int64_t ts_datastack_chunk;   /* _PyStackChunk*, 3.11+ */
	/* PyObject**, 3.11+: the end of what the current chunk holds. Frames
	 * are pushed into the chunk's data upwards, so [chunk's data, top)
	 * holds the innermost frames of the thread's stack, callers below. */
	int64_t ts_datastack_top;
	int64_t chunk_data; /* _PyStackChunk.data, 3.11+ */

	/* --- PyFrameObject, 3.6-3.10 --- */
	int64_t fo_back;
	int64_t fo_code;
	int64_t fo_lasti;      /* int, see instr_encoding */
	int64_t fo_lineno;     /* int, NOT the current line: decode the line table */
	int64_t fo_localsplus; /* PyObject *f_localsplus[]: co_nlocals locals, then
	                        * the cells, then the free variables */

	/* --- _PyInterpreterFrame, 3.11+ --- */
	int64_t if_size;
	int64_t if_code; /* f_code (3.11-3.12), f_executable (3.13) */
	int64_t if_previous;
	int64_t if_instr;    /* prev_instr (3.11-3.12), instr_ptr (3.13) */
	int64_t if_is_entry; /* char, 3.11 only */
	int64_t if_owner;    /* char */
	int64_t if_localsplus;

	/* --- PyCodeObject --- */
	int64_t co_size;            /* sizeof, without the 3.11+ inline bytecode */
	int64_t co_argcount;        /* int; counts positional-only arguments too (3.8+) */
	int64_t co_kwonlyargcount;  /* int */
	int64_t co_nlocals;         /* int: local variables (arguments first) */
	int64_t co_nlocalsplus;     /* int, 3.11+: locals + cells + free variables */
	int64_t co_varnames;        /* tuple of str, 3.6-3.10 */
	int64_t co_cellvars;        /* tuple of str, 3.6-3.10 */
	int64_t co_freevars;        /* tuple of str, 3.6-3.10 */
	int64_t co_localsplusnames; /* tuple of str, 3.11+ */
	int64_t co_localspluskinds; /* bytes, one CO_FAST_* kind per name, 3.11+ */
	int64_t co_flags;
	int64_t co_firstlineno;
	int64_t co_code; /* bytes, 3.6-3.10 */
	int64_t co_filename;
	int64_t co_name;
	int64_t co_qualname;       /* 3.11+ */
	int64_t co_lnotab;         /* bytes, 3.6-3.9 */
	int64_t co_linetable;      /* bytes, 3.10+ */
	int64_t co_firsttraceable; /* int _co_firsttraceable, 3.11+ */
	int64_t co_code_adaptive;  /* inline bytecode, 3.11+ */

	/* --- Objects --- */
	int64_t ob_type;
	int64_t ob_size;  /* PyVarObject.ob_size */
	int64_t tp_name;  /* const char* */
	int64_t tp_flags; /* unsigned long */
	int64_t tp_dictoffset;
	int64_t tp_basicsize;
	int64_t ht_cached_keys;        /* PyHeapTypeObject: shared keys of managed dicts */
	int64_t tpflags_managed_dict;  /* Py_TPFLAGS_MANAGED_DICT (3.11+: 1 << 4) */
	int64_t tpflags_inline_values; /* Py_TPFLAGS_INLINE_VALUES (3.13+: 1 << 2) */
	int64_t managed_dict_pre;      /* bytes before the object of its managed dict
	                                * pointer (3.11, 3.13) or dict-or-values word (3.12) */
	int64_t managed_values_pre;    /* bytes before the object of its values pointer (3.11) */
	int64_t u_length;
	int64_t u_state;
	int64_t u_ascii_data;   /* compact ASCII data: sizeof(PyASCIIObject) */
	int64_t u_compact_data; /* compact non-ASCII data: sizeof(PyCompactUnicodeObject) */
	int64_t bytes_ob_size;
	int64_t bytes_ob_sval;
	int64_t tuple_ob_size;
	int64_t tuple_ob_item; /* inline array */
	int64_t list_ob_size;
	int64_t list_ob_item; /* PyObject** */
	int64_t md_dict;      /* PyModuleObject */
	int64_t long_ob_size; /* signed digit count, 3.6-3.11 */
	int64_t long_lv_tag;  /* 3.12+ */
	int64_t long_ob_digit;
	int64_t float_ob_fval; /* double */
	int64_t cell_ob_ref;   /* PyCellObject: the cell's value, NULL when empty */

	/* --- Dicts: PyDictObject, PyDictKeysObject (3.6-3.10 from
	 * Objects/dict-common.h, 3.11+ internal/pycore_dict.h) --- */
	int64_t dict_ma_used;
	int64_t dict_ma_keys;
	int64_t dict_ma_values; /* NULL for a combined table */
	int64_t dk_size;        /* Py_ssize_t table size, 3.6-3.10 */
	int64_t dk_log2_size;   /* uint8_t, 3.11+ */
	int64_t
	    dk_log2_index_bytes; /* uint8_t, 3.11+; before: index width from dk_size
	                          * (1 if <= 0xff, 2 if <= 0xffff, 4 if <= 0xffffffff, else 8) */
	int64_t dk_kind;         /* uint8_t, 3.11+: 0 general, 1 unicode, 2 split */
	int64_t dk_nentries;
	int64_t dk_indices; /* entries start at dk_indices + table size * index width */
	int64_t dke_size;   /* PyDictKeyEntry {hash, key, value} */
	int64_t dke_hash;
	int64_t dke_key;
	int64_t dke_value;
	int64_t dkue_size; /* PyDictUnicodeEntry {key, value}, 3.11+ (dk_kind != 0) */
	int64_t dkue_key;
	int64_t dkue_value;
	int64_t dv_values; /* values array inside what ma_values points to */
	int64_t dv_valid;  /* uint8: inline values in use (3.13+) */
};

/* A named member of struct mst_py_layout, for dumps, the generator and tests. */
struct mst_py_layout_field {
	const char *name;
	size_t offset; /* of the int64_t member inside struct mst_py_layout */
};

/* All int64_t members, in declaration order. Static storage. */
const struct mst_py_layout_field *mst_py_layout_fields(size_t *count);

/* Value of a member by descriptor. */
int64_t mst_py_layout_get(const struct mst_py_layout *l, const struct mst_py_layout_field *f);

/* The built-in table for a 3.6-3.12 release. micro may be -1 when unknown
 * (only the file name gave the version); that is refused for 3.7 only.
 * Refuses 3.7.0-3.7.3 (another _PyRuntimeState layout), 3.13+ (use
 * mst_py_layout_from_debug_offsets) and anything else with
 * -MST_EUNSUPPORTED and a message naming the version. *out is static
 * storage (its micro is that of the headers the table came from). */
int mst_py_layout_for_version(int major, int minor, int micro, const struct mst_py_layout **out,
                              struct mst_err *err);

/* Bytes to read from _PyRuntime+0 for mst_py_layout_from_debug_offsets (the
 * largest table known, 3.15's 888 bytes, rounded up). */
#define MST_PY_DEBUG_OFFSETS_MAX 1024

/* Fill out from the _Py_DebugOffsets table at the start of a 3.13+
 * _PyRuntimeState (buf, len bytes read from _PyRuntime+0). Checks the
 * "xdebugpy" cookie, picks the table's own layout by its version's
 * major.minor (3.13, 3.14, 3.15), refuses free-threaded and Py_DEBUG builds
 * and checks every size and position it uses. Facts the table lacks (bit
 * masks, owner values, the _PyStackRef tag, dict keys, unicode compact
 * data...) come from the built-in header table of that release.
 * A release newer than the newest layout known (3.16+) is read with that
 * layout when every check passes: *newer (may be NULL) is then set to the
 * minor version of the layout used, else 0; when a check fails it is
 * refused (-MST_EUNSUPPORTED) with the reason.
 * -MST_ECORRUPT for a bad cookie, version or size, -MST_EUNSUPPORTED
 * otherwise. */
int mst_py_layout_from_debug_offsets(const void *buf, size_t len, struct mst_py_layout *out,
                                     int *newer, struct mst_err *err);

/* The newest CPython minor version whose _Py_DebugOffsets layout msttop
 * knows (15 for 3.15). */
int mst_py_debug_offsets_newest_minor(void);

/* Decode a PY_VERSION_HEX word (Py_Version, debug offsets .version):
 * major v>>24, minor (v>>16)&255, micro (v>>8)&255. Any out pointer may be
 * NULL. -EINVAL when major is not 3 or the word has bits above 32. */
int mst_py_version_parse_hex(uint64_t hex, int *major, int *minor, int *micro);

/* The origin of a layout, for messages and --debug dumps. */
const char *mst_py_layout_source(const struct mst_py_layout *l);

#endif
