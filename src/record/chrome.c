/* The Trace Event Format (JSON object form), as chrome://tracing and
 * Perfetto open it. Per thread:
 * - a track of its sampled stacks as nested complete ("X") events, one per
 *   frame: a frame that stays the same over consecutive samples is one
 *   event, so the track reads as a flame chart over time;
 * - one track per state it was seen in (holds GIL, waits for GIL, in GC,
 *   idle), spans where the state held.
 * And for the process, one "GIL" track whose spans name the thread that
 * held it: who held the GIL when. Tracks that are not threads get tids
 * above any kernel pid (pid_max is at most 2^22). */
#include <stdlib.h>
#include <string.h>

#include "msttop/text.h"
#include "record-int.h"

#define PSEUDO_TID 0x40000000u
#define GIL_TID PSEUDO_TID

static uint32_t state_tid(uint32_t thread, unsigned state)
{
	return PSEUDO_TID + 1 + thread * REC_ST_N + state;
}

/* Microseconds, as the format wants them, to the nanosecond. */
static void put_us(FILE *f, const char *key, uint64_t ns)
{
	fprintf(f, ",\"%s\":%llu.%03u", key, (unsigned long long)(ns / 1000),
	        (unsigned)(ns % 1000));
}

struct emit {
	FILE *f;
	const struct rec_view *v;
	int pid; /* of the process the events being written belong to */
	bool first;
};

/* A thread's process: its own track group in the trace (several with
 * --subprocesses). */
static int pid_of(const struct emit *e, uint32_t thread)
{
	int p = (int)e->v->threads[thread].pid;
	return p > 0 ? p : (int)e->v->meta->pid;
}

static void begin_event(struct emit *e)
{
	fputs(e->first ? "\n" : ",\n", e->f);
	e->first = false;
}

static void meta_name(struct emit *e, const char *what, uint32_t tid, const char *name,
                      int sort_index)
{
	begin_event(e);
	fprintf(e->f, "{\"ph\":\"M\",\"pid\":%d,\"tid\":%u,\"name\":\"%s\",\"args\":{\"name\":\"",
	        e->pid, tid, what);
	mst_json_string(e->f, name);
	fputs("\"}}", e->f);
	if (sort_index >= 0) {
		begin_event(e);
		fprintf(e->f,
		        "{\"ph\":\"M\",\"pid\":%d,\"tid\":%u,\"name\":\"thread_sort_index\","
		        "\"args\":{\"sort_index\":%d}}",
		        e->pid, tid, sort_index);
	}
}

static void slice(struct emit *e, uint32_t tid, const char *name, const char *cat, uint64_t start,
                  uint64_t end, const struct rec_frame *fr)
{
	begin_event(e);
	fprintf(e->f, "{\"ph\":\"X\",\"pid\":%d,\"tid\":%u,\"cat\":\"%s\",\"name\":\"", e->pid, tid,
	        cat);
	mst_json_string(e->f, name);
	fputc('"', e->f);
	put_us(e->f, "ts", start);
	put_us(e->f, "dur", end - start);
	if (fr) {
		fputs(",\"args\":{\"file\":\"", e->f);
		mst_json_string(e->f, fr->file);
		fprintf(e->f, "\",\"line\":%u", (unsigned)fr->line);
		if (fr->kind == REC_NATIVE) {
			fputs(",\"module\":\"", e->f);
			mst_json_string(e->f, fr->module);
			fputc('"', e->f);
		}
		fputc('}', e->f);
	}
	fputc('}', e->f);
}

/* The stack events of one thread, in time order, as nested slices: open
 * frames that the next run shares (from the root, without a gap in time)
 * stay open. */
struct open_frame {
	uint32_t frame;
	uint64_t start;
};

static int stack_track(struct emit *e, uint32_t ti, const struct rec_event *const *ev, size_t n)
{
	const struct rec_view *v = e->v;
	uint32_t tid = (uint32_t)v->threads[ti].tid;
	e->pid = pid_of(e, ti);
	struct open_frame *open = NULL;
	size_t nopen = 0, cap = 0;
	uint64_t end = 0;
	char label[1024];
	for (size_t i = 0; i <= n; i++) {
		const struct rec_stack *s = i < n ? &v->stacks[ev[i]->id] : NULL;
		size_t keep = 0;
		if (s && ev[i]->start_ns == end)
			while (keep < nopen && keep < s->nframes &&
			       open[keep].frame == s->frames[keep])
				keep++;
		for (size_t k = nopen; k-- > keep;) {
			const struct rec_frame *fr =
			    open[k].frame == UINT32_MAX ? NULL : &v->frames[open[k].frame];
			if (fr)
				rec_frame_label(fr, label, sizeof(label));
			slice(e, tid, fr ? label : "(other stacks)",
			      !fr                      ? "other"
			      : fr->kind == REC_PYTHON ? "python"
			                               : "native",
			      open[k].start, end, fr);
		}
		nopen = keep;
		if (!s)
			break;
		size_t depth = s->other ? 1 : s->nframes;
		if (depth > cap) {
			struct open_frame *no = realloc(open, depth * sizeof(*open));
			if (!no) {
				free(open);
				return -ENOMEM;
			}
			open = no;
			cap = depth;
		}
		for (size_t k = nopen; k < depth; k++)
			open[k] = (struct open_frame){s->other ? UINT32_MAX : s->frames[k],
			                              ev[i]->start_ns};
		nopen = depth;
		end = ev[i]->start_ns + ev[i]->dur_ns;
	}
	free(open);
	return 0;
}

static int cmp_by_thread(const void *a, const void *b)
{
	const struct rec_event *x = *(const struct rec_event *const *)a;
	const struct rec_event *y = *(const struct rec_event *const *)b;
	if (x->thread != y->thread)
		return x->thread < y->thread ? -1 : 1;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return 0;
}

int rec_write_chrome(FILE *f, const struct rec_view *v, struct mst_err *err)
{
	const struct mst_record_meta *m = v->meta;
	struct emit e = {.f = f, .v = v, .pid = (int)m->pid, .first = true};
	const struct rec_event **ev = malloc((v->nevents ? v->nevents : 1) * sizeof(*ev));
	if (!ev)
		return mst_err_set(err, -ENOMEM, "out of memory");
	size_t nstack = 0;
	for (size_t i = 0; i < v->nevents; i++)
		if (v->events[i].kind == REC_EV_STACK)
			ev[nstack++] = &v->events[i];
	/* Sorting is stable enough: equal keys cannot happen on one track. */
	if (nstack > 1)
		qsort(ev, nstack, sizeof(*ev), cmp_by_thread);

	fputs("{\"displayTimeUnit\":\"ms\",\"otherData\":{\"producer\":\"msttop\",\"command\":\"",
	      f);
	mst_json_string(f, m->cmdline);
	fprintf(f, "\",\"pid\":%d,\"python\":\"", (int)m->pid);
	mst_json_string(f, m->py_version);
	fprintf(f,
	        "\",\"rate_hz\":%.0f,\"sampler\":\"%s\",\"view\":\"%s\",\"idle\":%s,"
	        "\"samples\":%llu,\"ticks\":%llu,\"events_dropped\":%llu",
	        m->rate_hz, m->sampler ? m->sampler : "", v->view_name, v->idle ? "true" : "false",
	        (unsigned long long)v->samples, (unsigned long long)v->ticks,
	        (unsigned long long)v->events_dropped);
	/* The wall clock at ts 0: a trace lined up with the target's logs. */
	fprintf(f, ",\"start_unix_us\":%llu", (unsigned long long)(v->start_unix_ns / 1000));
	if (v->events_dropped)
		fprintf(f,
		        ",\"notice\":\"the timeline stopped after %zu events; the counts of every "
		        "sample are in the other formats\"",
		        v->nevents);
	fputs("},\"traceEvents\":[", f);

	char name[512];
	/* A process track each, with its GIL holder: each process has a
	 * GIL of its own. */
	struct mst_record_proc one = {m->pid, m->cmdline, m->py_version};
	const struct mst_record_proc *procs = m->nprocs ? m->procs : &one;
	size_t nprocs = m->nprocs ? m->nprocs : 1;
	for (size_t k = 0; k < nprocs; k++) {
		const struct mst_record_proc *pr = &procs[k];
		e.pid = (int)pr->pid;
		snprintf(name, sizeof(name), "%s (pid %d)%s%s",
		         pr->cmdline && pr->cmdline[0] ? pr->cmdline : "process", (int)pr->pid,
		         pr->py_version && pr->py_version[0] ? ", Python " : "",
		         pr->py_version ? pr->py_version : "");
		meta_name(&e, "process_name", 0, name, -1);
		meta_name(&e, "thread_name", GIL_TID, "GIL holder", 0);
	}
	/* The states each thread was seen in: a track for each. */
	unsigned *seen = calloc(v->nthreads ? v->nthreads : 1, sizeof(*seen));
	if (!seen) {
		free(ev);
		return mst_err_set(err, -ENOMEM, "out of memory");
	}
	for (size_t k = 0; k < v->nevents; k++)
		if (v->events[k].kind == REC_EV_STATE)
			seen[v->events[k].thread] |= 1u << v->events[k].id;
	for (uint32_t i = 0; i < v->nthreads; i++) {
		char tl[128];
		rec_thread_label(&v->threads[i], tl, sizeof(tl));
		e.pid = pid_of(&e, i);
		meta_name(&e, "thread_name", (uint32_t)v->threads[i].tid, tl,
		          1 + (int)i * (1 + REC_ST_N));
		for (unsigned b = 0; b < REC_ST_N; b++) {
			if (!(seen[i] & (1u << b)))
				continue;
			snprintf(name, sizeof(name), "%s: %s", tl, rec_state_names[b]);
			meta_name(&e, "thread_name", state_tid(i, b), name,
			          2 + (int)i * (1 + REC_ST_N) + (int)b);
		}
	}
	free(seen);
	for (size_t i = 0; i < v->nevents; i++) {
		const struct rec_event *x = &v->events[i];
		if (x->kind != REC_EV_STATE)
			continue;
		e.pid = pid_of(&e, x->thread);
		slice(&e, state_tid(x->thread, x->id), rec_state_names[x->id], "state", x->start_ns,
		      x->start_ns + x->dur_ns, NULL);
		if (x->id == REC_ST_GIL) {
			char tl[128];
			rec_thread_label(&v->threads[x->thread], tl, sizeof(tl));
			slice(&e, GIL_TID, tl, "gil", x->start_ns, x->start_ns + x->dur_ns, NULL);
		}
	}
	int rc = 0;
	for (size_t i = 0; i < nstack && rc == 0;) {
		size_t k = i;
		while (k < nstack && ev[k]->thread == ev[i]->thread)
			k++;
		rc = stack_track(&e, ev[i]->thread, ev + i, k - i);
		i = k;
	}
	free(ev);
	if (rc < 0)
		return mst_err_set(err, rc, "out of memory");
	fputs("\n]}\n", f);
	return rec_check_write(f, "trace", err);
}
