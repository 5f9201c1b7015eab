/* The header every screen starts with: the target, the sampler's health and
 * the process-wide GIL and GC shares, then the modes the views are in.
 * Items that do not fit the width are left out, least important last. */
#include <stdio.h>
#include <string.h>

#include "msttop/format.h"
#include "ui/view.h"

struct hline {
	char text[1024];
	int used, cols;
};

/* Append "  item" when it fits the line; skip it otherwise. */
static void add(struct hline *l, const char *item)
{
	int w = mst_fmt_width(item);
	int sep = l->used ? 2 : 0;
	if (l->used + sep + w > l->cols)
		return;
	size_t o = strlen(l->text);
	snprintf(l->text + o, sizeof(l->text) - o, "%s%s", sep ? "  " : "", item);
	l->used += sep + w;
}

int mst_header_draw(struct mst_ui *u)
{
	const struct mst_target_info *ti = mst_sampler_target(u->s);
	struct mst_sampler_stats st;
	mst_sampler_stats(u->s, &st);
	struct mst_agg_totals tot;
	mst_agg_totals(u->agg, u->window, &tot);
	int ff = mst_ui_fit_flags(u);
	char item[600], a[32], b[32];

	/* 1: who. The command line takes what is left, cut on the right. */
	struct hline l = {.cols = u->cols};
	snprintf(item, sizeof(item), "msttop  PID %d", (int)ti->pid);
	add(&l, item);
	size_t np = mst_sampler_nprocs(u->s), live = 0;
	for (size_t i = 0; i < np; i++) {
		bool gone = false;
		mst_sampler_proc(u->s, i, &gone);
		live += !gone;
	}
	if (np > 1) {
		snprintf(item, sizeof(item), "%zu processes (%zu live)", np, live);
		add(&l, item);
	}
	if (u->exited || st.target_exited)
		add(&l, "[target exited]");
	int left = u->cols - l.used - 2;
	if (left >= 8 && ti->cmdline[0]) {
		char cmd[2048];
		mst_fmt_fit(ti->cmdline, left, ff, cmd, sizeof(cmd));
		add(&l, cmd);
	}
	mst_ui_line(u, 0, l.text, u->exited ? MST_A_WARN : MST_A_HEADER);

	/* 2: the interpreter and the sampler's health. */
	memset(&l, 0, sizeof(l));
	l.cols = u->cols;
	if (ti->has_python && ti->py_version[0])
		snprintf(item, sizeof(item), "Python %s", ti->py_version);
	else
		snprintf(item, sizeof(item), "no Python view: %s",
		         ti->py_msg[0] ? ti->py_msg : "no CPython runtime found");
	if (mst_fmt_width(item) > u->cols) {
		char cut[700];
		mst_fmt_fit(item, u->cols, ff, cut, sizeof(cut));
		add(&l, cut);
	} else {
		add(&l, item);
	}
	snprintf(item, sizeof(item), "rate %.0f/%.1f Hz", st.rate_asked, st.rate_achieved);
	add(&l, item);
	snprintf(item, sizeof(item), "samples %s", mst_fmt_count(st.ticks, a, sizeof(a)));
	add(&l, item);
	snprintf(item, sizeof(item), "threads %zu", st.threads);
	add(&l, item);
	snprintf(item, sizeof(item), "misses %s", mst_fmt_count(st.misses, a, sizeof(a)));
	add(&l, item);
	if (st.errors) {
		snprintf(item, sizeof(item), "errors %s", mst_fmt_count(st.errors, a, sizeof(a)));
		add(&l, item);
	}
	mst_ui_line(u, 1, l.text, MST_A_NORMAL);

	/* 3: GIL and GC over the window, then the modes. */
	memset(&l, 0, sizeof(l));
	l.cols = u->cols;
	snprintf(item, sizeof(item), "GIL %s  GC %s", mst_fmt_pct(tot.gil_pct, a, sizeof(a)),
	         mst_fmt_pct(tot.gc_pct, b, sizeof(b)));
	add(&l, item);
	if (u->paused)
		add(&l, "PAUSED");
	add(&l, u->window == MST_AGG_RECENT ? "[recent]" : "[since start]");
	add(&l, u->mode == MST_AGG_BY_LINE ? "[by line]" : "[by function]");
	snprintf(item, sizeof(item), "[%s]", mst_ui_view_names[u->view]);
	add(&l, item);
	if (u->only_pid) {
		snprintf(item, sizeof(item), "[process %d]", (int)u->only_pid);
		add(&l, item);
	}
	if (u->subset == MST_AGG_ONLY_GIL)
		add(&l, "[GIL only]");
	else if (u->subset == MST_AGG_ALL)
		add(&l, "[+idle]");
	if (u->filter[0]) {
		char f[300];
		snprintf(item, sizeof(item), "filter '%s'",
		         mst_fmt_fit(u->filter, 24, ff, f, sizeof(f)));
		add(&l, item);
	}
	mst_ui_line(u, 2, l.text, u->paused ? MST_A_WARN : MST_A_NORMAL);
	return 3;
}
