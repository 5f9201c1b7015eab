/* What the screens of the live view share: the one struct that holds all
 * UI state (owned by mst_ui_run), and each screen's draw and key functions
 * (the ncdu habit: one screen, one module, one pair of functions; the loop
 * switches on ui->screen). Private to ui/. */
#ifndef MSTTOP_UI_VIEW_H
#define MSTTOP_UI_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "msttop/agg.h"
#include "msttop/calltree.h"
#include "msttop/record.h"
#include "msttop/sampler.h"
#include "ui/ui.h"

enum mst_ui_screen { MST_UI_TOP = 0, MST_UI_THREAD, MST_UI_HELP };

/* The smallest terminal anything is drawn in. */
#define MST_UI_MIN_COLS 40
#define MST_UI_MIN_ROWS 10

/* Attributes a view asks the painter for; mapped to colour or monochrome. */
enum mst_ui_attr {
	MST_A_NORMAL = 0,
	MST_A_BAR,         /* column titles, section titles */
	MST_A_SELECTED,    /* the cursor row of the focused panel */
	MST_A_MARK,        /* the cursor row of a panel without focus */
	MST_A_DIM,         /* native frames, idle and ended threads */
	MST_A_HEADER,      /* header figures */
	MST_A_WARN,        /* target exited, errors */
	MST_A_STATUS,      /* the status (bottom) line */
	MST_A_FLAME_PY,    /* flame view boxes: Python frames */
	MST_A_FLAME_C,     /* native frames */
	MST_A_FLAME_OTHER, /* the root, threads, "(other stacks)" */
};

/* The flame view's state: the tree drawn last, the cursor and the zoom
 * (nodes of that tree, and their paths from the root to find them again
 * in the next one), and the boxes drawn, for the arrow keys. */
#define MST_UI_FLAME_DEPTH 256
#define MST_UI_FLAME_BOXES 4096
struct mst_ui_flame_path {
	struct mst_record_node key[MST_UI_FLAME_DEPTH];
	size_t n;
};
struct mst_ui_flame_box {
	uint32_t node;
	int x0, x1, row;
};
struct mst_ui_flame {
	struct mst_record_tree tree;
	uint32_t sel, zoom;
	pid_t tid;
	struct mst_ui_flame_path sel_path, zoom_path;
	struct mst_ui_flame_box boxes[MST_UI_FLAME_BOXES];
	size_t nboxes;
};

enum { MST_UI_FILTER_MAX = 128 };

struct mst_ui {
	struct mst_sampler *s; /* borrowed */
	struct mst_agg *agg;   /* borrowed from s */
	enum mst_ui_screen screen, help_back;
	bool color, ascii;
	int rows, cols;

	/* What every view shows. */
	enum mst_agg_window window;
	enum mst_agg_mode mode;
	enum mst_agg_subset subset;
	enum mst_agg_view view;
	enum mst_agg_sort sort;
	bool show_idle, paused, exited;
	/* --subprocesses: only this process's threads and hot frames (o);
	 * 0: every process. */
	pid_t only_pid;
	pid_t sel_pid; /* the process of the selected thread */
	char filter[MST_UI_FILTER_MAX];
	/* The filter being typed on the status line. */
	bool editing;
	char edit[MST_UI_FILTER_MAX];

	/* Main screen: which panel has the cursor, where it is, what was
	 * drawn last (the key functions move over that). */
	int focus; /* 0: threads, 1: hot frames */
	pid_t sel_tid;
	int thr_top, hot_sel, hot_top;
	int thr_h, hot_h; /* rows each panel had */
	pid_t *shown_tids;
	size_t nshown_tids, cap_tids;
	size_t nhot_shown;

	/* Thread screen: its thread, the focused pane (0 stack, 1 hot, 2
	 * tree), cursor and scroll per pane, the expanded tree nodes. */
	pid_t tid;
	char tid_name[MST_AGG_NAME_MAX];
	int pane;
	int sel[3], top[3];
	size_t count[3];
	struct mst_calltree ct; /* the thread screen's call tree */

	/* Help screen scroll. */
	int help_top;

	/* The status line: a message until msg_until, else key hints. */
	char msg[512];
	uint64_t msg_until;
	/* The 'w' key's recording (since start or reset, and its recent
	 * window), its format and what the files say. */
	struct mst_record *rec;
	enum mst_record_format write_format;
	const struct mst_record_meta *meta;
	const char *recording_to;
	/* The flame view ('f') in place of the hot frames. */
	bool flame;
	struct mst_ui_flame fl;
	uint64_t now_ns;
	bool quit, dirty;
};

/* ---- painting (ui.c) ---- */
/* Text (already formatted) at row y, cut/padded to the screen width. */
void mst_ui_line(struct mst_ui *u, int y, const char *text, enum mst_ui_attr a);
/* Text (already fitted) at row y, column x, as it is. */
void mst_ui_text(struct mst_ui *u, int y, int x, const char *text, enum mst_ui_attr a);
/* A message on the status line for a few seconds. */
void mst_ui_msg(struct mst_ui *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The bottom line: editor, message or the hints given. */
void mst_ui_status(struct mst_ui *u, const char *hints);
/* Flags for mst_fmt_*: MST_FIT_ASCII on a non-UTF-8 terminal. */
int mst_ui_fit_flags(const struct mst_ui *u);
/* Keys every screen shares (filter editor, sort, modes, pause, reset,
 * help, quit). Returns true when it took the key. */
bool mst_ui_common_key(struct mst_ui *u, int ch);
/* Move a cursor over n rows by a key (arrows, j/k, PgUp/PgDn, Home/End);
 * page is the visible height. Returns true when ch is a motion key. */
bool mst_ui_move(int ch, int *sel, size_t n, int page);
/* Whether a frame of a thread's last stack shows in the current view
 * (folded frames only with every native frame, native ones not in the
 * Python-only view). */
bool mst_ui_frame_shown(const struct mst_ui *u, const struct mst_agg_frame *f,
                        const struct mst_agg_stack_frame *at);
/* The frame views' names on the header, by enum mst_agg_view. */
extern const char *const mst_ui_view_names[];
/* The widest function name (in columns) of rows [top, top+h). */
int mst_ui_fn_want(const struct mst_agg_hot *rows, size_t n, int top, int h);
/* Keep sel visible in a window of h rows starting at *top. */
void mst_ui_scroll(int sel, int h, int *top);

/* ---- screens ---- */
/* The header: returns the rows it used. */
int mst_header_draw(struct mst_ui *u);

void mst_view_top_draw(struct mst_ui *u);
void mst_view_top_key(struct mst_ui *u, int ch);

/* Open the thread screen on tid. */
void mst_view_thread_open(struct mst_ui *u, pid_t tid);
void mst_view_thread_draw(struct mst_ui *u);
void mst_view_thread_key(struct mst_ui *u, int ch);
/* Forget the tree state (after a reset or a mode change). */
void mst_view_thread_forget(struct mst_ui *u);
void mst_view_thread_free(struct mst_ui *u);

/* The flame view of tid (0: the process) in rows [y, y + h). */
void mst_flame_draw(struct mst_ui *u, int y, int h, pid_t tid);
/* Arrows move, Enter zooms in, Esc out: true when it took the key. */
bool mst_flame_key(struct mst_ui *u, int ch);
/* Forget the cursor and the zoom (another thread, a reset). */
void mst_flame_reset(struct mst_ui *u);

void mst_help_draw(struct mst_ui *u);
void mst_help_key(struct mst_ui *u, int ch);

#endif
