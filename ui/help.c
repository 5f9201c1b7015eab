/* The help screen (? or F1): every key, what the columns and states mean.
 * Any key that is not a motion key goes back to where help was opened. */
#include <stddef.h>

#include <ncursesw/curses.h>

#include "ui/view.h"

static const char *const help_text[] = {
    "msttop help: a top for Python processes (any other key goes back)",
    "",
    "Keys",
    "  Up/Down, j/k, PgUp/PgDn  move          Home/End   first/last row",
    "  Tab                      next panel    Enter      open the thread / a tree node",
    "  Esc, Backspace           back          Left/Right close/open a call-tree node",
    "  s   cycle the sort key of the hot frames: %own, %total, own time, total time, name",
    "  n   frames: your code (the interpreter's own time goes to the Python frame",
    "      it runs) -> folded (the interpreter's frames between Python frames",
    "      hidden) -> every frame -> Python only",
    "  l   count by function (the default) or by line",
    "  i   show or hide idle threads, and count idle samples in the hot frames",
    "  o   (--subprocesses) only the process of the selected thread: its threads and",
    "      its hot frames; o again: every process",
    "  g   only the samples where the thread held the GIL, or every sample",
    "  c   window: the recent seconds or since start",
    "  p, space  pause or resume sampling (the target is left alone)",
    "  r   reset every count (and what w writes; not --record's recording)",
    "  f   flame view in place of the hot frames (of a thread: of its call tree):",
    "      root at the top, width by share; arrows move, Enter zooms in, Esc out",
    "  w   write the window on screen to msttop-PID-TIME.svg (or --format's kind)",
    "      in the working directory: the status line says where",
    "  /   filter frames and threads by name (Enter keeps, Esc clears)",
    "  ?, F1  this help          q, F10  quit          Ctrl-L  redraw the screen",
    "",
    "Threads panel",
    "  STATE  run: on CPU  idle: sleeping  GIL: running, holding the GIL",
    "         wait: waiting for the GIL  drop: releasing it  GC: collecting",
    "         native: no Python thread state  ended: gone",
    "  CPU%, GIL%, WAIT%, GC%: share of the thread's samples in the window",
    "",
    "Hot frames panel",
    "  %OWN: samples where the frame is innermost   %TOT: where it is on the stack",
    "  OWN, TOTAL: the time those samples stand for",
    "  K: py Python frame, C native frame, Ci inlined native call",
    "  The sort key's column is marked; the top row is the hottest by it.",
    "  Without i, only samples where the thread was running count.",
    "",
    "Header",
    "  rate asked/achieved, samples taken, misses (a thread vanished or its memory",
    "  changed while read), GIL and GC: share of samples where some thread held the",
    "  GIL or ran the collector.",
};

void mst_help_draw(struct mst_ui *u)
{
	int n = (int)(sizeof(help_text) / sizeof(help_text[0]));
	int h = u->rows - 1;
	if (u->help_top > n - h)
		u->help_top = n - h > 0 ? n - h : 0;
	for (int r = 0; r < h && u->help_top + r < n; r++)
		mst_ui_line(u, r, help_text[u->help_top + r],
		            u->help_top + r == 0 ? MST_A_BAR : MST_A_NORMAL);
	mst_ui_status(u, "Up/Down scroll  any other key: back  q quit");
}

void mst_help_key(struct mst_ui *u, int ch)
{
	int n = (int)(sizeof(help_text) / sizeof(help_text[0]));
	if (mst_ui_move(ch, &u->help_top, (size_t)n, u->rows - 2))
		return;
	if (ch == 'q' || ch == KEY_F(10)) {
		u->quit = true;
		return;
	}
	u->screen = u->help_back;
}
