/* Finding CPython in a target: which mapped object holds the interpreter,
 * which exact version it is, and the target addresses of the globals the
 * decoder starts from (_PyRuntime, 3.6's statics, type objects, the eval
 * loop's code range). It does not walk threads or frames: that needs the
 * per-version offset tables (py_layout.h). */
#ifndef MSTTOP_PY_RUNTIME_H
#define MSTTOP_PY_RUNTIME_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "msttop/err.h"
#include "msttop/maps.h"
#include "msttop/reader.h"

/* Where the exact version came from. */
enum mst_py_version_source {
	MST_PY_VERSION_NONE = 0,
	MST_PY_VERSION_PY_VERSION, /* the Py_Version constant (3.11+) */
	MST_PY_VERSION_STRING,     /* "3.N.M" found in the read-only data (<= 3.10) */
};

/* How _PyRuntime was found. */
enum mst_py_runtime_source {
	MST_PY_RUNTIME_NONE = 0, /* 3.6: there is no _PyRuntime */
	MST_PY_RUNTIME_SYMBOL,   /* the _PyRuntime symbol (.dynsym or .symtab) */
	MST_PY_RUNTIME_SECTION,  /* the .PyRuntime section header (3.10+) */
};

/* A range of code in the target, [start, end). */
struct mst_py_code_range {
	uint64_t start, end;
};

/* Most code ranges kept for the eval loop: the function and its .cold part. */
#define MST_PY_EVAL_RANGES_MAX 4

/* Everything discovery learns. Plain data: no pointers into other objects,
 * safe to copy. Target addresses are 0 when not found. */
struct mst_py_runtime_info {
	/* Version, decoded like PY_VERSION_HEX. */
	int major, minor, micro;
	int level; /* 0xA alpha, 0xB beta, 0xC rc, 0xF final */
	int serial;
	uint32_t version_hex; /* PY_VERSION_HEX; from the string: level/serial
	                         as parsed ("3.9.0rc1" -> 0x030900c1) */
	enum mst_py_version_source version_source;
	bool version_ambiguous; /* <= 3.10: several different "3.N.M" strings
	                           were found; the first one was taken */

	/* The object that holds the interpreter. */
	char module_path[PATH_MAX]; /* as in /proc/PID/maps */
	char open_path[PATH_MAX];   /* what was opened: /proc/PID/root/... or map_files */
	char build_id[41];          /* GNU build-id hex, "" when absent */
	bool is_static;             /* the interpreter is in the main executable
	                               (static build or embedder), not a libpython */
	bool stripped;              /* no .symtab: statics and local names unknown */
	int elf_type;               /* ET_EXEC or ET_DYN */
	uint64_t bias;              /* target address = bias + link-time address */
	/* Lowest start and highest end of its file mappings and of the
	 * anonymous .bss mapping that directly follows them. */
	uint64_t module_start, module_end;

	/* _PyRuntime (3.7+). */
	uint64_t runtime;
	uint64_t runtime_size; /* symbol or section size, 0 when unknown */
	enum mst_py_runtime_source runtime_source;

	/* 3.13+: _PyRuntime.debug_offsets, checked (cookie, version). */
	bool has_debug_offsets;
	uint64_t debug_offsets_version; /* its PY_VERSION_HEX */

	/* 3.6 globals. _PyThreadState_Current is exported; the others are
	 * statics found only in .symtab, hence the found flags. */
	uint64_t tstate_current;  /* _PyThreadState_Current (_Py_atomic_address) */
	uint64_t interp_head;     /* static PyInterpreterState *interp_head */
	uint64_t gil_locked;      /* static _Py_atomic_int gil_locked */
	uint64_t gil_last_holder; /* static _Py_atomic_address gil_last_holder */
	uint64_t gc_collecting;   /* static int collecting (gcmodule.c) */
	bool has_interp_head, has_gil_locked, has_gil_last_holder, has_gc_collecting;

	/* Py_Version (3.11+). */
	uint64_t py_version_addr;

	/* _PyEval_EvalFrameDefault and its .cold part (when .symtab names it):
	 * a native PC in any of these is an eval-loop activation. */
	struct mst_py_code_range eval[MST_PY_EVAL_RANGES_MAX];
	int n_eval;

	/* Type objects and None, for ob_type validation. */
	uint64_t code_type;    /* PyCode_Type */
	uint64_t unicode_type; /* PyUnicode_Type */
	uint64_t bytes_type;   /* PyBytes_Type */
	uint64_t frame_type;   /* PyFrame_Type */
	uint64_t none;         /* _Py_NoneStruct */
};

/* Find CPython in process pid, whose maps are given, reading its memory
 * through r (only to check _PyRuntime and the 3.13+ debug offsets; the rest
 * comes from the ELF file opened through /proc/PID/root).
 *
 * Returns 0 and fills *out, or:
 *   -MST_ENOPYTHON    no CPython in the process;
 *   -MST_EUNSUPPORTED a CPython before 3.6 (e.g. 2.7), 3.7.0-3.7.3,
 *                     an alpha/beta pre-release, or a free-threaded 3.13t
 *                     build; the message names the version;
 *   -MST_ECORRUPT     the version or runtime found do not agree;
 *   another negative errno when a file or the memory cannot be read.
 * *out is filled as far as discovery went even on failure (e.g. the version
 * of an unsupported interpreter). */
int mst_py_runtime_find(pid_t pid, const struct mst_maps *maps, const struct mst_reader *r,
                        struct mst_py_runtime_info *out, struct mst_err *err);

/* The eval loop's fragments beyond its exported function (its .cold part,
 * unnamed in a stripped binary): eval[1..n_eval) of info, as the name
 * "_PyEval_EvalFrameDefault.cold" for symbols to show. */
#define MST_PY_EVAL_COLD_NAME "_PyEval_EvalFrameDefault.cold"

/* True when pc (a target address) lies in the eval loop. */
bool mst_py_runtime_is_eval_pc(const struct mst_py_runtime_info *info, uint64_t pc);

#endif
