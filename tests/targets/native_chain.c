/* native_chain: a pure C target with a known call chain in every worker.
 *
 * Each worker thread runs  worker_main -> chain_a -> chain_b -> chain_b2 ->
 * chain_c where chain_b2 is forced inline into chain_b and chain_b into
 * chain_a (two levels of inlined frames in the debug info) and chain_a /
 * chain_c are real out-of-line functions. The chain ends
 * either blocked in pause() (default) or busy-looping (spin modes). Workers
 * are named "worker-1".."worker-N" with pthread_setname_np; the main thread
 * waits in pthread_join.
 *
 * Usage:
 *   native_chain                 3 workers blocked in pause()      (mode=sleep)
 *   native_chain spin            3 workers busy-looping in chain_c (mode=spin)
 *   native_chain threads N       N workers blocked in pause()
 *   native_chain threads N spin  N CPU-bound workers (benchmarks use 16)
 *
 * Ready line (printed once every worker is at its blocking/spinning point):
 *   ready tids=<tid of worker-1>,<tid of worker-2>,... mode=sleep|spin threads=N
 *
 * Exits by itself (SIGALRM, default action) after $MSTTOP_TARGET_TIMEOUT
 * seconds (default 300). Line markers: call_a, call_b, call_c, pause_call,
 * spin_loop (see the MARK comments). */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "target_timeout.h"

/* Keep the chain deterministic at -O1 and -O2: no inlining, no IPA clones
 * (chain_c.constprop.0), no identical-code folding. */
#if defined(__clang__)
#define CHAIN_NOINLINE __attribute__((noinline))
#elif defined(__GNUC__) && __GNUC__ >= 8
#define CHAIN_NOINLINE __attribute__((noinline, noipa))
#else
#define CHAIN_NOINLINE __attribute__((noinline, noclone))
#endif

#define MAX_WORKERS 256

struct worker {
	pthread_t thread;
	int index; /* 1-based */
	pid_t tid;
};

static struct worker workers[MAX_WORKERS];
static int spin_mode;
static sem_t at_point; /* one post per worker reaching its point */

/* Side effects after each call keep the calls from becoming tail calls
 * (which would drop the caller's frame at -O2). */
static volatile unsigned long sink;

static void at_blocking_point(void)
{
	sem_post(&at_point);
}

CHAIN_NOINLINE static unsigned long chain_c(int depth)
{
	if (spin_mode) {
		volatile unsigned long n = (unsigned long)depth;

		at_blocking_point();
		/* One line: whichever instruction of the loop a sample hits,
		 * its line is the MARK's. */
		/* clang-format off */
		for (;;) n++; /* MARK: spin_loop */
		/* clang-format on */
	}
	at_blocking_point();
	for (;;) {
		pause(); /* MARK: pause_call */
		sink++;
	}
	return 0;
}

/* Two levels of inlining: chain_b2 into chain_b into chain_a. */
static inline __attribute__((always_inline)) unsigned long chain_b2(int depth)
{
	unsigned long r = chain_c(depth + 1); /* MARK: call_c */

	sink = r;
	return r + 1;
}

static inline __attribute__((always_inline)) unsigned long chain_b(int depth)
{
	unsigned long r = chain_b2(depth + 1); /* MARK: call_b2 */

	sink = r;
	return r + 2;
}

CHAIN_NOINLINE static unsigned long chain_a(int depth)
{
	unsigned long r = chain_b(depth + 1); /* MARK: call_b */

	sink = r;
	return r + 1;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	char name[16];
	unsigned long r;

	snprintf(name, sizeof(name), "worker-%d", w->index);
	pthread_setname_np(pthread_self(), name);
	w->tid = (pid_t)syscall(SYS_gettid);
	r = chain_a(0); /* MARK: call_a */
	sink = r;
	return NULL;
}

/* True once the thread sleeps in pause() (state S, in the pause syscall). */
static int thread_blocked(pid_t tid)
{
	char path[64], buf[512];
	FILE *f;
	char *p;
	int ok = 0;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		ok = p && p[1] == ' ' && p[2] == 'S';
	}
	fclose(f);
#ifdef SYS_pause
	if (ok) {
		long nr = -1;

		snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
		f = fopen(path, "r");
		if (f) {
			if (fscanf(f, "%ld", &nr) != 1)
				nr = -1;
			fclose(f);
			/* Unreadable (no permission): trust the state alone. */
			if (nr >= 0 && nr != SYS_pause)
				ok = 0;
		}
	}
#endif
	return ok;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void usage(void)
{
	fprintf(stderr, "usage: native_chain [spin] | native_chain threads N [spin]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int nthreads = 3, i, argi = 1;
	char line[MAX_WORKERS * 12 + 64];
	size_t off;

	if (argi < argc && strcmp(argv[argi], "threads") == 0) {
		char *end;

		if (argi + 1 >= argc)
			usage();
		nthreads = (int)strtol(argv[argi + 1], &end, 10);
		if (*end || nthreads < 1 || nthreads > MAX_WORKERS)
			usage();
		argi += 2;
	}
	if (argi < argc && strcmp(argv[argi], "spin") == 0) {
		spin_mode = 1;
		argi++;
	}
	if (argi != argc)
		usage();

	arm_safety_timeout();
	if (sem_init(&at_point, 0, 0) != 0) {
		perror("sem_init");
		return 1;
	}
	for (i = 0; i < nthreads; i++) {
		workers[i].index = i + 1;
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	}
	for (i = 0; i < nthreads; i++)
		while (sem_wait(&at_point) != 0)
			;
	if (spin_mode) {
		/* Each worker is at most a few instructions from its loop. */
		sleep_ms(20);
	} else {
		for (i = 0; i < nthreads; i++) {
			int tries;

			for (tries = 0; tries < 2000 && !thread_blocked(workers[i].tid); tries++)
				sleep_ms(1);
		}
	}

	off = (size_t)snprintf(line, sizeof(line), "ready tids=");
	for (i = 0; i < nthreads; i++)
		off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%d", i ? "," : "",
		                        (int)workers[i].tid);
	snprintf(line + off, sizeof(line) - off, " mode=%s threads=%d\n",
	         spin_mode ? "spin" : "sleep", nthreads);
	fputs(line, stdout);
	fflush(stdout);

	for (i = 0; i < nthreads; i++)
		pthread_join(workers[i].thread, NULL);
	return 0;
}
