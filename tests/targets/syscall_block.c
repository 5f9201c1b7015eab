/* syscall_block: threads blocked in long system calls, each measuring what
 * its call returned, so a test can tell whether a sampler disturbed them.
 *
 *   "reader"   blocks in read() on a pipe nobody writes to yet
 *   "sleeper"  blocks in nanosleep() for SECS seconds (relative)
 *   "waker"    blocks in clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)
 *              until SECS seconds after the start
 *   main       waits in sigwait() for SIGUSR1, then writes MESSAGE to the
 *              pipe in one write(), joins the threads and exits 0
 *
 * Usage: syscall_block [SECS]          (default 6; 1..3600)
 *
 * Every thread blocks SIGUSR1 (only main takes it, in sigwait), and SIGUSR2
 * has a handler installed without SA_RESTART: a call interrupted by a signal
 * would return -1/EINTR rather than be restarted behind our back.
 *
 * Output, one line each, flushed:
 *   ready reader=TID sleeper=TID waker=TID secs=SECS
 *       once every thread is asleep (state S) in its call
 *   read n=N errno=E match=0|1      when read() returns (N = bytes, -1 on
 *                                    error; match=1: exactly MESSAGE)
 *   slept ms=MS rc=RC errno=E       nanosleep's elapsed CLOCK_MONOTONIC ms
 *   woke ms=MS rc=RC late_ms=L      the absolute sleep: elapsed ms since the
 *                                    start, and how late past the deadline
 *                                    (negative: it woke early)
 *   done
 * Exits by itself (SIGALRM, default action) after $MSTTOP_TARGET_TIMEOUT
 * seconds (default 300). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "target_timeout.h"

#define MESSAGE "msttop-syscall-block: 0123456789 abcdefghijklmnopqrstuvwxyz\n"

static int pipefd[2];
static long secs = 6;
static struct timespec start;
static pid_t tids[3];
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_lock);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000L + (now.tv_nsec - t0->tv_nsec) / 1000000L;
}

static void *reader(void *arg)
{
	char buf[4096];
	ssize_t n;
	int e;

	(void)arg;
	pthread_setname_np(pthread_self(), "reader");
	tids[0] = (pid_t)syscall(SYS_gettid);
	n = read(pipefd[0], buf, sizeof(buf)); /* MARK: blocking_read */
	e = n < 0 ? errno : 0;
	say("read n=%zd errno=%d match=%d\n", n, e,
	    n == (ssize_t)strlen(MESSAGE) && memcmp(buf, MESSAGE, (size_t)n) == 0);
	return NULL;
}

static void *sleeper(void *arg)
{
	struct timespec t0, req = {secs, 0};
	int rc, e;

	(void)arg;
	pthread_setname_np(pthread_self(), "sleeper");
	tids[1] = (pid_t)syscall(SYS_gettid);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = nanosleep(&req, NULL); /* MARK: blocking_sleep */
	e = rc < 0 ? errno : 0;
	say("slept ms=%ld rc=%d errno=%d\n", ms_since(&t0), rc, e);
	return NULL;
}

static void *waker(void *arg)
{
	struct timespec until = start;
	int rc;
	long ms;

	(void)arg;
	pthread_setname_np(pthread_self(), "waker");
	tids[2] = (pid_t)syscall(SYS_gettid);
	until.tv_sec += secs;
	rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
	ms = ms_since(&start);
	say("woke ms=%ld rc=%d late_ms=%ld\n", ms, rc, ms - secs * 1000L);
	return NULL;
}

static void on_usr2(int sig)
{
	(void)sig;
}

/* Asleep in a system call: state S in /proc. */
static int asleep(pid_t tid)
{
	char path[64], buf[512];
	FILE *f;
	char *p;
	int ok = 0;

	if (tid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f)) {
		p = strrchr(buf, ')');
		ok = p && p[1] == ' ' && p[2] == 'S';
	}
	fclose(f);
	return ok;
}

int main(int argc, char **argv)
{
	pthread_t th[3];
	void *(*fn[3])(void *) = {reader, sleeper, waker};
	struct sigaction sa;
	sigset_t usr1;
	int i, sig, tries;

	if (argc > 2) {
		fprintf(stderr, "usage: syscall_block [SECS]\n");
		return 2;
	}
	if (argc == 2) {
		char *end;

		secs = strtol(argv[1], &end, 10);
		if (*end || secs < 1 || secs > 3600) {
			fprintf(stderr, "usage: syscall_block [SECS]\n");
			return 2;
		}
	}
	arm_safety_timeout();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART */
	sigaction(SIGUSR2, &sa, NULL);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	if (pipe(pipefd) != 0) {
		perror("pipe");
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (i = 0; i < 3; i++)
		if (pthread_create(&th[i], NULL, fn[i], NULL) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			return 1;
		}
	for (tries = 0; tries < 5000; tries++) {
		if (asleep(tids[0]) && asleep(tids[1]) && asleep(tids[2]))
			break;
		usleep(1000);
	}
	say("ready reader=%d sleeper=%d waker=%d secs=%ld\n", (int)tids[0], (int)tids[1],
	    (int)tids[2], secs);

	while (sigwait(&usr1, &sig) != 0)
		;
	if (write(pipefd[1], MESSAGE, strlen(MESSAGE)) != (ssize_t)strlen(MESSAGE))
		say("write failed: %s\n", strerror(errno));
	for (i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	say("done\n");
	return 0;
}
