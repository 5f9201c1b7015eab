/* The live view: a top-like ncurses screen over a running sampler. The one
 * entry point main.c calls; everything else in ui/ is private to it. */
#ifndef MSTTOP_UI_H
#define MSTTOP_UI_H

#include <signal.h>
#include <stdbool.h>

#include "msttop/agg.h"
#include "msttop/err.h"
#include "msttop/record.h"
#include "msttop/sampler.h"

/* Zero means the default shown. */
struct mst_ui_opts {
	enum mst_agg_sort sort; /* initial sort of the hot frames: MST_AGG_SORT_OWN */
	enum mst_agg_view view; /* native frames: 0 is MST_AGG_VIEW_ALL, so use view_set */
	bool view_set;          /* view above is meant (else MST_AGG_VIEW_USER) */
	enum mst_agg_mode mode; /* counting by line or by function (l) */
	bool mode_set;          /* mode above is meant (else MST_AGG_BY_FUNC) */
	double duration_s;      /* end by itself after this long; 0: until the user quits */
	unsigned refresh_ms;    /* redraw period: 1000 */
	bool no_color;          /* monochrome; $NO_COLOR (non-empty) also means it */
	bool show_idle;         /* idle threads and samples shown from the start ('i') */
	/* The 'w' key writes the current window to msttop-PID-TIME.EXT in
	 * the working directory, in this format (flamegraph by default). */
	enum mst_record_format write_format;
	const struct mst_record_meta *meta; /* what the files say of the target */
	/* --record's file, written by main on quit: the status line says so. */
	const char *recording_to;
};

/* Runs the screen until the user quits (q, F10), the duration ends or
 * *cancel is set (by main's SIGINT/SIGTERM handler, installed before this
 * call and without SA_RESTART so a wait on the terminal returns). Samples
 * with mst_sampler_tick when due and redraws about once a second and at
 * once on a key or a resize. Nothing is written to stdout or stderr while
 * curses owns the terminal, and the terminal is restored (endwin) on every
 * return. When the target exits, the screen says so and keeps the last
 * data until the user quits.
 * The UI keeps a recording of its own for 'w' (reset with 'r'), fed by the
 * sampler from the call on.
 * Returns 0 (quit or duration over), -MST_EINTR (cancelled), -ENOTTY (no
 * usable terminal: stdin/stdout not a tty, or an unknown $TERM; err says
 * which), -ENOMEM. */
int mst_ui_run(struct mst_sampler *s, const struct mst_ui_opts *o, volatile sig_atomic_t *cancel,
               struct mst_err *err);

#endif
