/* The perf back end (perf.h): a clock event per CPU, the BPF program
 * that copies each sample (sample.bpf.c), the ring buffer they arrive in. */
#include "msttop/perf.h"

#include "msttop/array.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

#ifndef MSTTOP_HAVE_PERF

int mst_perf_available(struct mst_err *err)
{
	return mst_err_set(err, -ENOTSUP,
	                   "this msttop was built without the perf back end "
	                   "(meson -Dperf=enabled needs libbpf, clang and bpftool)");
}

int mst_perf_open(const struct mst_perf_opts *o, struct mst_perf **out, struct mst_err *err)
{
	(void)o;
	*out = NULL;
	return mst_perf_available(err);
}

void mst_perf_close(struct mst_perf *pf)
{
	(void)pf;
}

int mst_perf_watch(struct mst_perf *pf, pid_t pid, const struct mst_py_capture *cap,
                   struct mst_err *err)
{
	(void)pf;
	(void)pid;
	(void)cap;
	return mst_perf_available(err);
}

void mst_perf_unwatch(struct mst_perf *pf, pid_t pid)
{
	(void)pf;
	(void)pid;
}

int mst_perf_threads(struct mst_perf *pf, pid_t pid, const struct mst_perf_thread *th, size_t n,
                     struct mst_err *err)
{
	(void)pf;
	(void)pid;
	(void)th;
	(void)n;
	return mst_perf_available(err);
}

int mst_perf_drain(struct mst_perf *pf, mst_perf_fn fn, void *ctx)
{
	(void)pf;
	(void)fn;
	(void)ctx;
	return -ENOTSUP;
}

bool mst_perf_task(void *pf, pid_t tid, struct mst_perf_task *out)
{
	(void)pf;
	(void)tid;
	(void)out;
	return false;
}

void mst_perf_stats(const struct mst_perf *pf, struct mst_perf_stats *out)
{
	(void)pf;
	memset(out, 0, sizeof(*out));
}

struct mst_perf_codes *mst_perf_codes_of(struct mst_perf *pf)
{
	(void)pf;
	return NULL;
}

#else

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "bpf-abi.h"
#include "sample.skel.h"

/* The ring's size: about half a second of samples from every CPU at the
 * rate asked (a slow tick, or the first ticks of a big target, must not
 * lose them), a power of two between these. All of it is resident once it
 * has wrapped, and the kernel maps its data twice: 16 MiB was 33 MB of a
 * 46 MB RSS at 100 Hz on 2 CPUs, where 4 MiB holds 100 samples of the
 * largest size, half a second. What does not fit is counted lost (-b). */
#define RING_MIN (4u << 20)
#define RING_MAX (16u << 20)

#define NO_SLOT UINT32_MAX

/* A thread sampled (in the map "threads") and followed (its slot). */
struct sthread {
	pid_t tid;
	struct mst_bpf_thread set; /* as in the map "threads" (tstate ~0: not yet) */
	uint32_t slot;             /* in tasks, or NO_SLOT */
};

/* tid -> slot, sorted by tid: rebuilt when the threads change (refreshes),
 * searched per thread per tick. */
struct tslot {
	pid_t tid;
	uint32_t slot;
};

struct pproc {
	pid_t pid;
	uint32_t idx;      /* its configuration's slot (mst_bpf_thread.proc) */
	uint32_t code_len; /* of its code objects copied */
	struct sthread *st;
	size_t nst, cap;
};

struct mst_perf {
	struct mst_sample *skel;
	struct ring_buffer *ring;
	uint64_t period_ns;
	unsigned stack_pages;
	bool switches_only;
	struct pproc *procs;
	size_t nprocs;
	mst_perf_fn fn; /* of the drain under way */
	void *fn_ctx;
	uint64_t samples, frames, frames_in_place, codes, codes_held;
	/* The code objects held for the program, its table mapped. */
	struct mst_perf_codes *held;
	struct mst_bpf_held *held_map;
	/* The CPU clocks, one per CPU (the program keeps the samples of the
	 * processes watched). */
	int *cpu_fds;
	size_t ncpu_fds;
	/* The scheduler program's slots, mapped read-only. */
	const volatile struct mst_bpf_task *tasks;
	size_t tasks_bytes;
	uint32_t *free_slots;
	size_t nfree;
	struct tslot *idx;
	size_t nidx;
};

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

_Static_assert(MST_BPF_PROCS <= 64, "watch() finds a free slot in a 64-bit mask");

static struct pproc *find_proc(struct mst_perf *pf, pid_t pid)
{
	for (size_t i = 0; i < pf->nprocs; i++)
		if (pf->procs[i].pid == pid)
			return &pf->procs[i];
	return NULL;
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct mst_perf *pf = ctx;
	if (size < sizeof(struct mst_bpf_sample))
		return 0;
	pf->samples++;
	const struct mst_bpf_sample *s = data;
	size_t nf = s->nframes < MST_BPF_FRAMES ? s->nframes : MST_BPF_FRAMES;
	pf->frames += nf;
	pf->frames_in_place += (uint64_t)__builtin_popcountll(s->in_place);
	pf->codes_held += (uint64_t)__builtin_popcountll(s->code_held);
	const struct pproc *pp = find_proc(pf, (pid_t)s->pid);
	pf->codes += mst_perf_codes_put(pf->held, s, pp ? pp->code_len : 0);
	if (pf->fn)
		pf->fn(pf->fn_ctx, data);
	return 0;
}

static int read_int(const char *path, int *v)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return -errno;
	int rc = fscanf(f, "%d", v) == 1 ? 0 : -EINVAL;
	fclose(f);
	return rc;
}

int mst_perf_available(struct mst_err *err)
{
	int paranoid = 2;
	if (geteuid() != 0 && read_int("/proc/sys/kernel/perf_event_paranoid", &paranoid) == 0 &&
	    paranoid > 1)
		return mst_err_set(err, -EPERM,
		                   "perf events: kernel.perf_event_paranoid is %d; run as root, or "
		                   "give msttop CAP_PERFMON and CAP_BPF",
		                   paranoid);
	struct mst_perf_opts o = {.rate_hz = 100, .stack_pages = 1};
	struct mst_perf *pf;
	int rc = mst_perf_open(&o, &pf, err);
	if (rc == 0)
		mst_perf_close(pf);
	return rc;
}

/* A CPU clock on every CPU, its samples handed to the BPF program only,
 * which keeps those of the processes watched. Not one clock per thread: the
 * kernel stops and starts a thread's own clock at each of its context
 * switches, and that doubled the cost of a switch (two threads handing a
 * byte back and forth on one CPU: 90,000 round trips a second without, 40,000
 * with a task clock on each, unchanged with a clock on the CPU). A GIL hand-off
 * is such a switch. The clock of a CPU running something else costs it the
 * program's first lookup (under a microsecond) per interval. CPUs brought
 * online later are not sampled. */
static int open_cpus(struct mst_perf *pf, struct mst_err *err)
{
	long n = sysconf(_SC_NPROCESSORS_CONF);
	if (n < 1)
		n = 1;
	if (!(pf->cpu_fds = malloc((size_t)n * sizeof(*pf->cpu_fds))))
		return mst_err_set(err, -ENOMEM, "out of memory");
	int prog = bpf_program__fd(pf->skel->progs.sample);
	for (long cpu = 0; cpu < n; cpu++) {
		struct perf_event_attr a;
		memset(&a, 0, sizeof(a));
		a.size = sizeof(a);
		a.type = PERF_TYPE_SOFTWARE;
		a.config = PERF_COUNT_SW_CPU_CLOCK;
		a.sample_period = pf->period_ns;
		a.exclude_idle = 1;
		a.disabled = 1;
		int fd =
		    (int)syscall(SYS_perf_event_open, &a, -1, (int)cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (fd < 0 && errno == ENODEV)
			continue; /* offline */
		if (fd < 0)
			return mst_err_set(err, -errno,
			                   "perf back end: cannot open a CPU clock on CPU %ld: %s",
			                   cpu, strerror(errno));
		pf->cpu_fds[pf->ncpu_fds++] = fd;
		if (ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog) < 0 ||
		    ioctl(fd, PERF_EVENT_IOC_ENABLE, 0) < 0)
			return mst_err_set(
			    err, -errno, "perf back end: cannot attach to the clock of CPU %ld: %s",
			    cpu, strerror(errno));
	}
	return 0;
}

int mst_perf_open(const struct mst_perf_opts *o, struct mst_perf **out, struct mst_err *err)
{
	*out = NULL;
	struct mst_perf *pf = calloc(1, sizeof(*pf));
	if (!pf)
		return mst_err_set(err, -ENOMEM, "out of memory");
	libbpf_set_print(quiet);
	double rate = o->rate_hz > 0 ? o->rate_hz : 100;
	pf->period_ns = (uint64_t)(1e9 / rate);
	pf->stack_pages = o->stack_pages < 1                         ? 1
	                  : o->stack_pages > MST_BPF_STACK_PAGES_MAX ? MST_BPF_STACK_PAGES_MAX
	                                                             : o->stack_pages;
	int rc;
	if (!(pf->skel = mst_sample__open())) {
		rc = mst_err_set(err, -errno, "perf back end: cannot open the BPF program: %s",
		                 strerror(errno));
		goto fail;
	}
	pf->switches_only = o->switches_only;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	double want = (double)(ncpu > 0 ? ncpu : 1) * rate * sizeof(struct mst_bpf_sample) / 2;
	uint32_t ring = RING_MIN;
	while (ring < want && ring < RING_MAX)
		ring *= 2;
	/* Nothing is sampled into the ring with switches only. */
	bpf_map__set_max_entries(pf->skel->maps.samples, o->switches_only ? 4096 : ring);
	if ((rc = mst_sample__load(pf->skel)) < 0) {
		rc = mst_err_set(err, rc,
		                 "perf back end: the kernel refused the BPF program (%s); "
		                 "BPF needs root or CAP_BPF and CAP_PERFMON",
		                 strerror(-rc));
		goto fail;
	}
	pf->ring = ring_buffer__new(bpf_map__fd(pf->skel->maps.samples), on_sample, pf, NULL);
	if (!pf->ring) {
		rc = mst_err_set(err, -errno, "perf back end: cannot map the ring buffer: %s",
		                 strerror(errno));
		goto fail;
	}
	pf->tasks_bytes = (sizeof(struct mst_bpf_task) * MST_BPF_TASKS + 4095) & ~(size_t)4095;
	void *m = mmap(NULL, pf->tasks_bytes, PROT_READ, MAP_SHARED,
	               bpf_map__fd(pf->skel->maps.tasks), 0);
	if (m == MAP_FAILED) {
		rc = mst_err_set(err, -errno, "perf back end: cannot map the threads' slots: %s",
		                 strerror(errno));
		goto fail;
	}
	pf->tasks = m;
	if (!o->switches_only) {
		m = mmap(NULL, sizeof(struct mst_bpf_held), PROT_READ | PROT_WRITE, MAP_SHARED,
		         bpf_map__fd(pf->skel->maps.held), 0);
		if (m == MAP_FAILED) {
			rc = mst_err_set(err, -errno,
			                 "perf back end: cannot map the code objects' table: %s",
			                 strerror(errno));
			goto fail;
		}
		pf->held_map = m;
		if (!(pf->held = mst_perf_codes_new(pf->held_map))) {
			rc = mst_err_set(err, -ENOMEM, "out of memory");
			goto fail;
		}
	}
	if (!(pf->free_slots = malloc(MST_BPF_TASKS * sizeof(*pf->free_slots)))) {
		rc = mst_err_set(err, -ENOMEM, "out of memory");
		goto fail;
	}
	for (uint32_t i = 0; i < MST_BPF_TASKS; i++)
		pf->free_slots[pf->nfree++] = MST_BPF_TASKS - 1 - i;
	if (!(pf->skel->links.on_switch = bpf_program__attach(pf->skel->progs.on_switch))) {
		rc = mst_err_set(err, -errno,
		                 "perf back end: cannot attach to the scheduler's switches: %s",
		                 strerror(errno));
		goto fail;
	}
	if (!pf->switches_only && (rc = open_cpus(pf, err)) < 0)
		goto fail;
	*out = pf;
	return 0;
fail:
	mst_perf_close(pf);
	return rc;
}

static void forget_thread(struct mst_perf *pf, struct sthread *e)
{
	__u32 k = (__u32)e->tid;
	bpf_map_delete_elem(bpf_map__fd(pf->skel->maps.threads), &k);
	if (e->slot != NO_SLOT) {
		/* The program may still write the slot once before it sees the
		 * deletion: a reader checks the slot's tid. */
		bpf_map_delete_elem(bpf_map__fd(pf->skel->maps.slots), &k);
		pf->free_slots[pf->nfree++] = e->slot;
		e->slot = NO_SLOT;
	}
}

/* A slot for tid, emptied before the program can find it. */
static uint32_t take_slot(struct mst_perf *pf, pid_t tid)
{
	if (!pf->nfree)
		return NO_SLOT;
	uint32_t slot = pf->free_slots[pf->nfree - 1];
	struct mst_bpf_task zero;
	memset(&zero, 0, sizeof(zero));
	__u32 k = (__u32)tid;
	if (bpf_map_update_elem(bpf_map__fd(pf->skel->maps.tasks), &slot, &zero, BPF_ANY) < 0 ||
	    bpf_map_update_elem(bpf_map__fd(pf->skel->maps.slots), &k, &slot, BPF_ANY) < 0)
		return NO_SLOT;
	pf->nfree--;
	return slot;
}

static int cmp_tslot(const void *a, const void *b)
{
	const struct tslot *x = a, *y = b;
	return (x->tid > y->tid) - (x->tid < y->tid);
}

static void index_slots(struct mst_perf *pf)
{
	size_t n = 0;
	for (size_t i = 0; i < pf->nprocs; i++)
		n += pf->procs[i].nst;
	struct tslot *v = realloc(pf->idx, (n ? n : 1) * sizeof(*v));
	if (!v) {
		pf->nidx = 0; /* every thread read from /proc */
		return;
	}
	pf->idx = v;
	pf->nidx = 0;
	for (size_t i = 0; i < pf->nprocs; i++)
		for (size_t j = 0; j < pf->procs[i].nst; j++)
			if (pf->procs[i].st[j].slot != NO_SLOT)
				v[pf->nidx++] =
				    (struct tslot){pf->procs[i].st[j].tid, pf->procs[i].st[j].slot};
	if (pf->nidx > 1)
		qsort(v, pf->nidx, sizeof(*v), cmp_tslot);
}

void mst_perf_unwatch(struct mst_perf *pf, pid_t pid)
{
	struct pproc *p = pf ? find_proc(pf, pid) : NULL;
	if (!p)
		return;
	for (size_t i = 0; i < p->nst; i++)
		forget_thread(pf, &p->st[i]);
	free(p->st);
	/* An array's slot cannot be deleted: emptied (its threads are gone). */
	struct mst_bpf_config none = {0};
	bpf_map_update_elem(bpf_map__fd(pf->skel->maps.configs), &p->idx, &none, BPF_ANY);
	*p = pf->procs[--pf->nprocs];
	index_slots(pf);
}

void mst_perf_close(struct mst_perf *pf)
{
	if (!pf)
		return;
	while (pf->nprocs)
		mst_perf_unwatch(pf, pf->procs[0].pid);
	free(pf->procs);
	for (size_t i = 0; i < pf->ncpu_fds; i++)
		close(pf->cpu_fds[i]);
	free(pf->cpu_fds);
	free(pf->idx);
	free(pf->free_slots);
	if (pf->tasks)
		munmap((void *)pf->tasks, pf->tasks_bytes);
	mst_perf_codes_free(pf->held);
	if (pf->held_map)
		munmap(pf->held_map, sizeof(struct mst_bpf_held));
	ring_buffer__free(pf->ring);
	mst_sample__destroy(pf->skel);
	free(pf);
}

int mst_perf_watch(struct mst_perf *pf, pid_t pid, const struct mst_py_capture *cap,
                   struct mst_err *err)
{
	struct mst_bpf_config c = {.stack_pages = pf->stack_pages,
	                           .ts_frame = -1,
	                           .deref = -1,
	                           .code_off = -1,
	                           .chunk_off = -1,
	                           .top_off = -1};
	if (cap && cap->ts_len <= MST_BPF_TSTATE_MAX && cap->frame_len <= MST_BPF_FRAME_MAX &&
	    cap->ts_frame >= 0 && cap->prev_off >= 0) {
		c.ts_len = (mst_u32)cap->ts_len;
		c.ts_frame = (mst_s32)cap->ts_frame;
		c.deref = (mst_s32)cap->deref;
		c.frame_len = (mst_u32)cap->frame_len;
		c.prev_off = (mst_u32)cap->prev_off;
		if (cap->code_off >= 0 && cap->code_len <= MST_BPF_CODE_MAX) {
			c.code_off = (mst_s32)cap->code_off;
			c.code_len = (mst_u32)cap->code_len;
			c.code_mask = cap->code_mask;
		}
		/* The data stack's words, copied with the thread state when
		 * they fit in its copy. */
		size_t end =
		    (size_t)(cap->chunk_off > cap->top_off ? cap->chunk_off : cap->top_off) + 8;
		if (cap->chunk_off >= 0 && cap->top_off >= 0 && cap->chunk_data >= 0 &&
		    cap->chunk_data < 4096 && end <= MST_BPF_TSTATE_MAX) {
			c.chunk_off = (mst_s32)cap->chunk_off;
			c.top_off = (mst_s32)cap->top_off;
			c.chunk_data = (mst_u32)cap->chunk_data;
			if (c.ts_len < end)
				c.ts_len = (mst_u32)end;
		}
		/* All or none: the decoder finds them by index. */
		bool fit = cap->nfixed <= MST_BPF_FIXED;
		for (size_t i = 0; i < cap->nfixed && fit; i++)
			fit = cap->fixed[i].len <= MST_BPF_FIXED_MAX;
		for (size_t i = 0; fit && i < cap->nfixed; i++) {
			c.fixed_addr[i] = cap->fixed[i].addr;
			c.fixed_len[i] = (mst_u32)cap->fixed[i].len;
		}
		c.nfixed = fit ? (mst_u32)cap->nfixed : 0;
	}
	struct pproc *pp = find_proc(pf, pid);
	bool added = !pp;
	if (added) {
		/* The lowest slot no process has. */
		uint64_t used = 0;
		for (size_t i = 0; i < pf->nprocs; i++)
			used |= 1ull << pf->procs[i].idx;
		if (pf->nprocs >= MST_BPF_PROCS || !~used)
			return mst_err_set(err, -ENOSPC,
			                   "perf back end: more than %d processes sampled at once",
			                   MST_BPF_PROCS);
		struct pproc *np = realloc(pf->procs, (pf->nprocs + 1) * sizeof(*np));
		if (!np)
			return mst_err_set(err, -ENOMEM, "out of memory");
		pf->procs = np;
		pp = &pf->procs[pf->nprocs++];
		*pp = (struct pproc){.pid = pid, .idx = (uint32_t)__builtin_ctzll(~used)};
	}
	if (bpf_map_update_elem(bpf_map__fd(pf->skel->maps.configs), &pp->idx, &c, BPF_ANY) < 0) {
		int rc = -errno;
		if (added)
			pf->nprocs--; /* the last: not watched after all */
		return mst_err_set(err, rc, "perf back end: %s", strerror(-rc));
	}
	pp->code_len = c.code_len;
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

static int cmp_sthread(const void *a, const void *b)
{
	return cmp_pid(&((const struct sthread *)a)->tid, &((const struct sthread *)b)->tid);
}

/* The entry of tid among the first n of p (sorted by tid), or -1. */
MST_DEFINE_LOWER_BOUND(sthread_at, struct sthread, tid, pid_t)

static ssize_t sthread_index(const struct pproc *p, size_t n, pid_t tid)
{
	size_t lo = sthread_at(p->st, n, tid);
	return lo < n && p->st[lo].tid == tid ? (ssize_t)lo : -1;
}

int mst_perf_threads(struct mst_perf *pf, pid_t pid, const struct mst_perf_thread *th, size_t n,
                     struct mst_err *err)
{
	struct pproc *p = find_proc(pf, pid);
	if (!p)
		return mst_err_set(err, -ENOENT, "perf back end: process %d is not watched",
		                   (int)pid);
	int map = bpf_map__fd(pf->skel->maps.threads);
	/* Sorted, so that a thousand threads cost n log n, not n squared. */
	pid_t *k = malloc((n ? n : 1) * sizeof(*k));
	if (!k)
		return mst_err_set(err, -ENOMEM, "out of memory");
	for (size_t j = 0; j < n; j++)
		k[j] = th[j].tid;
	if (n > 1)
		qsort(k, n, sizeof(*k), cmp_pid);
	/* Gone threads first: their slots are reused. */
	for (size_t i = 0; i < p->nst;) {
		if (n && bsearch(&p->st[i].tid, k, n, sizeof(*k), cmp_pid)) {
			i++;
			continue;
		}
		forget_thread(pf, &p->st[i]);
		p->st[i] = p->st[--p->nst];
	}
	free(k);
	if (p->nst > 1)
		qsort(p->st, p->nst, sizeof(*p->st), cmp_sthread);
	size_t known = p->nst; /* sorted; new ones go after them */
	for (size_t j = 0; j < n; j++) {
		pid_t tid = th[j].tid;
		ssize_t si = sthread_index(p, known, tid);
		if (si < 0) {
			if (p->nst == p->cap) {
				size_t nc = p->cap ? 2 * p->cap : 16;
				struct sthread *v = realloc(p->st, nc * sizeof(*v));
				if (!v)
					return mst_err_set(err, -ENOMEM, "out of memory");
				p->st = v;
				p->cap = nc;
			}
			si = (ssize_t)p->nst++;
			p->st[si] = (struct sthread){
			    .tid = tid, .set = {.tstate = ~0ull}, .slot = take_slot(pf, tid)};
		}
		struct sthread *e = &p->st[si];
		struct mst_bpf_thread v = {
		    .tstate = th[j].tstate, .stack_bytes = th[j].stack_bytes, .proc = p->idx};
		/* Every thread has its entry (the program samples no other), and
		 * a system call only when it changed: a thread's need settles. */
		if (!pf->switches_only &&
		    (v.tstate != e->set.tstate || v.stack_bytes != e->set.stack_bytes ||
		     v.proc != e->set.proc)) {
			__u32 key = (__u32)tid;
			bpf_map_update_elem(map, &key, &v, BPF_ANY);
			e->set = v;
		}
	}
	index_slots(pf);
	return 0;
}

int mst_perf_drain(struct mst_perf *pf, mst_perf_fn fn, void *ctx)
{
	pf->fn = fn;
	pf->fn_ctx = ctx;
	mst_perf_codes_next(pf->held);
	uint64_t before = pf->samples;
	int rc = ring_buffer__consume(pf->ring);
	pf->fn = NULL;
	return rc < 0 ? rc : (int)(pf->samples - before);
}

/* The kernel's task state bits as /proc letters (fs/proc/array.c): the
 * highest reported bit wins; a task that left its CPU dead has exited. */
static char state_letter(uint32_t st)
{
	if (st & 0x80) /* TASK_DEAD */
		return 'X';
	st &= 0x7f; /* TASK_REPORT */
	static const char letters[] = "RSDTtXZP";
	int i = 0;
	while (st) {
		st >>= 1;
		i++;
	}
	return letters[i];
}

bool mst_perf_task(void *ctx, pid_t tid, struct mst_perf_task *out)
{
	struct mst_perf *pf = ctx;
	if (!pf || !pf->nidx)
		return false;
	struct tslot key = {.tid = tid};
	const struct tslot *f = bsearch(&key, pf->idx, pf->nidx, sizeof(key), cmp_tslot);
	if (!f)
		return false;
	const volatile struct mst_bpf_task *e = &pf->tasks[f->slot];
	struct mst_bpf_task c;
	/* The program's sequence lock (sample.bpf.c): a copy between two
	 * equal even values of seq is whole. A write takes well under a
	 * microsecond; a thread switching faster than we copy is retried. */
	for (int tries = 0;; tries++) {
		uint64_t s0 = e->seq;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		c.tid = e->tid;
		c.state = e->state;
		c.on_cpu = e->on_cpu;
		c.off_ns = e->off_ns;
		for (size_t i = 0; i < MST_BPF_NREGS; i++)
			c.regs[i] = e->regs[i];
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		c.seq = e->seq;
		if (!(s0 & 1) && c.seq == s0)
			break;
		if (tries == 100)
			return false;
	}
	memset(out, 0, sizeof(*out));
	out->seq = c.seq;
	if (c.seq == 0)
		return true; /* not switched since it was followed */
	if (c.tid != (uint32_t)tid)
		return false; /* a slot just given to another thread */
	out->switched = true;
	out->on_cpu = c.on_cpu;
	out->off_ns = c.on_cpu ? 0 : c.off_ns;
	out->state = c.on_cpu ? 'R' : state_letter(c.state);
	mst_arch_regs_from_sample(c.regs, &out->regs);
	if (out->state == 'R') {
		out->sys = (struct mst_syscall_line){.running = true, .nr = -1};
	} else {
		mst_arch_syscall_from_sample(c.regs, &out->sys);
		out->regs.syscall_nr = out->sys.nr;
		out->regs.syscall_arg0 = out->sys.args[0];
	}
	return true;
}

void mst_perf_stats(const struct mst_perf *pf, struct mst_perf_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->samples = pf->samples;
	out->frames = pf->frames;
	out->frames_in_place = pf->frames_in_place;
	out->codes = pf->codes;
	out->codes_held = pf->codes_held;
	out->dropped = pf->skel->bss ? pf->skel->bss->dropped : 0;
}

struct mst_perf_codes *mst_perf_codes_of(struct mst_perf *pf)
{
	return pf ? pf->held : NULL;
}

#endif
