/* Turning model data into text for one row of the screen or of a report:
 * pure functions, no curses, so every column can be unit-tested without a
 * terminal (the htop habit: rows render into plain text, only then a panel
 * paints it). The screen (ui/), --batch's report and the stack labels share
 * it.
 *
 * Widths are terminal columns, not bytes: text is UTF-8 and a CJK character
 * takes two columns, a combining mark none. Every function writes a
 * NUL-terminated string into out (size len) and returns out; a too small
 * buffer cuts the text at a character boundary, never in the middle of one.
 * Text that comes from the target (names of functions, files, modules,
 * threads) is escaped here (msttop/text.h) before it is measured. */
#ifndef MSTTOP_FORMAT_H
#define MSTTOP_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "msttop/agg.h"

/* Flags of mst_fmt_fit. */
enum {
	MST_FIT_LEFT = 1 << 0,  /* cut on the left ("…/threading.py:320"), else on the right */
	MST_FIT_PAD = 1 << 1,   /* pad with spaces to exactly cols columns */
	MST_FIT_RIGHT = 1 << 2, /* with MST_FIT_PAD: pad on the left (right-align) */
	MST_FIT_ASCII = 1 << 3, /* the terminal is not UTF-8: non-ASCII shows as '?', "~" cuts */
	/* Frames' files in their short form (the main screen); full paths
	 * stay in the thread screen and --dump. For the frame functions. */
	MST_FIT_SHORT_PATH = 1 << 4,
	/* The threads table has a PROCESS column (--subprocesses). */
	MST_FIT_PROCESS = 1 << 5,
};

/* Where the short form of a Python file's path starts: after the last
 * site-packages/ or dist-packages/ ("requests/sessions.py"), after the
 * standard library's lib/pythonX.Y/ ("threading.py"), else after cwd/ when
 * below the target's working directory cwd (NULL or "": none); 0 when none
 * applies. Native files get theirs from their debug info (the build tree's
 * root, symbols.h). */
size_t mst_fmt_short_path_off(const char *path, const char *cwd);

/* Columns the UTF-8 text s takes (invalid bytes and unknown characters count
 * one column each, as the escaping shows them). */
int mst_fmt_width(const char *s);

/* s in at most cols columns: cut with an ellipsis ("…", or "~" with
 * MST_FIT_ASCII) on the side flags say, padded when asked. A wide character
 * that would straddle the limit is left out and replaced by a space. */
char *mst_fmt_fit(const char *s, int cols, int flags, char *out, size_t len);

/* A share in percent, short and unpadded: "0%" for none, "<0.1%" for a
 * little, "5.2%", "12.3%", "100%" (and "250%") from 99.95 on. */
char *mst_fmt_pct(double pct, char *out, size_t len);

/* A duration, at most 6 columns up to 99 days: "0ms", "950ms", "12.4s",
 * "3m05s", "1h02m", "3d04h". Rounded down, so it never overstates. */
char *mst_fmt_duration(uint64_t ns, char *out, size_t len);

/* A count, at most 6 columns: "999999", then "1.23M", "12.3M", "1.23G". */
char *mst_fmt_count(uint64_t n, char *out, size_t len);

/* "py" for a Python frame, "C" for a native one, "Ci" for an inlined call. */
const char *mst_fmt_frame_mark(const struct mst_agg_frame *f);

/* The last path component: "libpython3.11.so.1.0" of its full path. */
const char *mst_fmt_basename(const char *path);

/* "file:line", "file" without a line, "" without a file (escaped). */
char *mst_fmt_file_line(const struct mst_agg_frame *f, int flags, char *out, size_t len);

/* One frame on one line in cols columns: "function  file:line", the file
 * cut from the left first, then the function from the left, so the end of
 * the function's name (the method, the C++ member) stays visible. An empty
 * function shows as "??" plus the module. Never padded. */
char *mst_fmt_frame_label(const struct mst_agg_frame *f, int cols, int flags, char *out,
                          size_t len);

/* The state of a thread in its last sample, as a short word: "ended", "GC",
 * "wait" (for the GIL), "drop" (the GIL), "GIL" (running, holding it),
 * "run", "idle", "native" (running without a Python thread state). */
const char *mst_fmt_state(uint32_t state, bool ended);

/* ---- rows of the two panels ---- */

/* Which columns of the hot frames panel fit, and how wide the text ones
 * are. Lower-priority columns drop first as the terminal narrows: module,
 * then times, then file:line. */
struct mst_fmt_hot_layout {
	int cols; /* the whole row */
	int flags;
	bool own_ns, total_ns, file, module;
	int fn_w, file_w, mod_w;
};

/* fn_want: the widest function name among the rows to show (0: unknown);
 * room the function column does not need goes to file:line. */
void mst_fmt_hot_layout(int cols, int flags, int fn_want, struct mst_fmt_hot_layout *l);
/* The column titles; the sort key's one is marked ("%OWN▼" or "%OWN*"). */
char *mst_fmt_hot_header(const struct mst_fmt_hot_layout *l, enum mst_agg_sort sort, char *out,
                         size_t len);
/* One hot frame; percentages are of scope (samples of the whole view). */
char *mst_fmt_hot_row(const struct mst_fmt_hot_layout *l, const struct mst_agg_hot *h,
                      const struct mst_agg_count *scope, char *out, size_t len);

/* The threads panel: TID, name, state, CPU, GIL, wait-GIL and GC shares,
 * and the current top frame; the shares drop right to left as it narrows. */
struct mst_fmt_thread_layout {
	int cols;
	int flags;
	int name_w, top_w;
	int proc_w; /* the PROCESS column, 0 without it */
	bool gil, wait, gc;
};

void mst_fmt_thread_layout(int cols, int flags, struct mst_fmt_thread_layout *l);
char *mst_fmt_thread_header(const struct mst_fmt_thread_layout *l, char *out, size_t len);
/* top is the thread's current innermost frame, or NULL; proc the label of
 * its process ("1234 python3 app.py") for the PROCESS column, or NULL. */
char *mst_fmt_thread_row(const struct mst_fmt_thread_layout *l, const struct mst_agg_thread *t,
                         const struct mst_agg_frame *top, const char *proc, char *out, size_t len);

/* One frame of a thread's stack: its depth (0 innermost), the mark, the
 * frame's label and, when there is room, its module. */
char *mst_fmt_stack_row(int cols, int flags, size_t depth, const struct mst_agg_frame *f, char *out,
                        size_t len);

/* One node of a call tree: total and self shares of the thread, then the
 * frame indented by depth after an open/closed/leaf mark ("▾", "▸", or
 * "-", "+" on ASCII). f NULL: "(other)", the overflow node. */
char *mst_fmt_tree_row(int cols, int flags, int depth, bool has_children, bool expanded,
                       double total_pct, double self_pct, const struct mst_agg_frame *f, char *out,
                       size_t len);

#endif
