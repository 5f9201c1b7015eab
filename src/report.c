/* --batch output: the since-start figures of a sampler run as text. */
#include "msttop/report.h"

#include <errno.h>
#include <string.h>

#include "msttop/agg.h"
#include "msttop/format.h"
#include "msttop/text.h"

int mst_report_text(FILE *out, struct mst_sampler *s, size_t limit)
{
	const struct mst_target_info *ti = mst_sampler_target(s);
	struct mst_sampler_stats st;
	mst_sampler_stats(s, &st);
	struct mst_agg *agg = mst_sampler_agg(s);
	struct mst_agg_totals tot;
	mst_agg_totals(agg, MST_AGG_CUMULATIVE, &tot);
	char a[1024], b[1024];
	double secs = tot.last_ns > tot.first_ns ? (double)(tot.last_ns - tot.first_ns) / 1e9 : 0;
	fprintf(out, "PID %d: %s\n", (int)ti->pid, mst_text_escape(ti->cmdline, a, sizeof(a)));
	/* --subprocesses: every process, then a PID column in the threads. */
	size_t np = mst_sampler_nprocs(s);
	for (size_t i = 1; i < np; i++) {
		bool gone = false;
		const struct mst_target_info *pi = mst_sampler_proc(s, i, &gone);
		fprintf(out, "  child %d%s: %s%s%s\n", (int)pi->pid, gone ? " (exited)" : "",
		        mst_text_escape(pi->cmdline, a, sizeof(a)),
		        pi->has_python ? ", Python " : "", pi->has_python ? pi->py_version : "");
	}
	if (ti->has_python)
		fprintf(out, "Python %s", ti->py_version);
	else
		fprintf(out, "%s", mst_text_escape(ti->py_msg, a, sizeof(a)));
	char steady[64] = "";
	if (st.rate_steady > 0)
		snprintf(steady, sizeof(steady), "; %.1f Hz after the first second",
		         st.rate_steady);
	fprintf(out,
	        "; %.1f s, %llu samples at %.1f Hz (asked %.0f%s), %llu misses, %llu errors, "
	        "pause p50 %.1f us p99 %.1f us\n",
	        secs, (unsigned long long)st.ticks, secs > 0 ? (double)st.ticks / secs : 0.0,
	        st.rate_asked, steady, (unsigned long long)st.misses, (unsigned long long)st.errors,
	        (double)st.pause_ns_p50 / 1e3, (double)st.pause_ns_p99 / 1e3);
	if (ti->has_python && ti->py_note[0])
		fprintf(out, "Note: %s\n", mst_text_escape(ti->py_note, a, sizeof(a)));
	if (st.gc_known || !ti->has_python)
		fprintf(out, "GIL held %.1f%%, GC %.1f%%%s\n", tot.gil_pct, tot.gc_pct,
		        st.target_exited ? "; the target exited" : "");
	else
		fprintf(out, "GIL held %.1f%%, GC unknown%s\n", tot.gil_pct,
		        st.target_exited ? "; the target exited" : "");
	fprintf(out, "%llu thread stacks, %.1f per second; tick avg %.1f us; %zu threads\n",
	        (unsigned long long)st.thread_samples,
	        secs > 0 ? (double)st.thread_samples / secs : 0.0, (double)st.tick_ns_avg / 1e3,
	        st.threads);
	fprintf(out,
	        "%llu thread stops (the other stacks: blocked where they were, or read "
	        "without stopping)\n",
	        (unsigned long long)st.thread_stops);
	if (st.backend == MST_BACKEND_PERF)
		fprintf(out,
		        "Sampler: perf (no thread stopped), %llu samples, %llu lost; %llu ticks "
		        "replayed from %llu samples; %llu Python frames copied, %llu of them "
		        "read in place; %llu code objects copied, %llu more held by msttop\n",
		        (unsigned long long)st.perf_samples, (unsigned long long)st.perf_dropped,
		        (unsigned long long)st.replayed, (unsigned long long)st.replay_samples,
		        (unsigned long long)st.perf_frames,
		        (unsigned long long)st.perf_frames_in_place,
		        (unsigned long long)st.perf_codes, (unsigned long long)st.perf_codes_held);
	else if (st.backend_why[0])
		fprintf(out, "Sampler: ptrace (not perf: %s)\n",
		        mst_text_escape(st.backend_why, a, sizeof(a)));
	if (st.backend != MST_BACKEND_PERF && st.sched_watch)
		fprintf(out,
		        "Idle threads: known from the scheduler's switches (BPF); %llu thread "
		        "samples (%.1f%%) read nothing\n",
		        (unsigned long long)st.sched_unrun,
		        st.thread_samples
		            ? 100.0 * (double)st.sched_unrun / (double)st.thread_samples
		            : 0.0);
	else if (st.backend != MST_BACKEND_PERF && st.sched_why[0])
		fprintf(out,
		        "Idle threads: checked by a read each tick (not by the scheduler's "
		        "switches: %s)\n",
		        mst_text_escape(st.sched_why, a, sizeof(a)));
	/* $MSTTOP_VERIFY_WALKS (the tests): walks ended from a thread's last
	 * one, stepped again in full. */
	if (st.walk_verified)
		fprintf(out, "Walk check: %llu walks ended from the last one, %llu differed\n",
		        (unsigned long long)st.walk_verified, (unsigned long long)st.walk_differed);

	const struct mst_agg_thread *th;
	size_t nth;
	struct mst_err err = {0};
	if (mst_agg_threads(agg, MST_AGG_CUMULATIVE, &th, &nth, &err) == 0) {
		fputc('\n', out);
		if (np > 1)
			fprintf(out, "%8s ", "PID");
		fprintf(out, "%8s %-20s %7s %7s %7s %7s  %s\n", "TID", "NAME", "ACTIVE", "GIL",
		        "WAIT", "GC", "TOP FRAME");
		for (size_t i = 0; i < nth; i++) {
			struct mst_agg_frame f = {0};
			const char *top = "";
			if (th[i].top_id != MST_AGG_NONE &&
			    mst_agg_frame(agg, MST_AGG_BY_LINE, th[i].top_id, &f) == 0)
				top = f.function;
			if (np > 1)
				fprintf(out, "%8d ", (int)th[i].pid);
			fprintf(out, "%8d %-20.20s %6.1f%% %6.1f%% %6.1f%% %6.1f%%  %s\n",
			        (int)th[i].tid, mst_text_escape(th[i].name, a, sizeof(a)),
			        th[i].active_pct, th[i].gil_pct, th[i].gil_wait_pct, th[i].gc_pct,
			        mst_text_escape(top, b, sizeof(b)));
		}
	}
	struct mst_agg_query q = {.window = MST_AGG_CUMULATIVE,
	                          .mode = MST_AGG_BY_LINE,
	                          .view = MST_AGG_VIEW_USER,
	                          /* Where the time goes: samples of threads on the
	                           * CPU, as the live view shows by default. */
	                          .subset = MST_AGG_ONLY_ACTIVE,
	                          .sort = MST_AGG_SORT_OWN,
	                          .limit = limit ? limit : 30};
	const struct mst_agg_hot *rows;
	size_t n;
	struct mst_agg_count scope;
	if (mst_agg_hot(agg, &q, &rows, &n, &scope, &err) == 0) {
		fprintf(out,
		        "\nHot frames of the active samples (%llu):\n%6s %7s %9s %9s %-3s %s\n",
		        (unsigned long long)scope.samples, "%OWN", "%TOTAL", "OWN", "TOTAL", "",
		        "FRAME");
		for (size_t i = 0; i < n; i++) {
			const struct mst_agg_hot *r = &rows[i];
			double den = scope.samples ? (double)scope.samples : 1;
			fprintf(out, "%5.1f%% %6.1f%% %8.2fs %8.2fs %-3s %s",
			        100.0 * r->own_samples / den, 100.0 * r->total_samples / den,
			        (double)r->own_ns / 1e9, (double)r->total_ns / 1e9,
			        r->frame.kind == MST_AGG_PYTHON ? "py" : "C",
			        mst_text_escape(r->frame.function, a, sizeof(a)));
			if (r->frame.file[0])
				fprintf(out, " (%s:%u)",
				        mst_text_escape(r->frame.file, b, sizeof(b)),
				        r->frame.line);
			if (r->frame.module[0])
				fprintf(out, " [%s]",
				        mst_text_escape(mst_fmt_basename(r->frame.module), b,
				                        sizeof(b)));
			fputc('\n', out);
		}
	}
	if (fflush(out) != 0 || ferror(out))
		return errno == EPIPE ? -EPIPE : -EIO;
	return 0;
}
