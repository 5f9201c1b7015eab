/* alt_sleep: threads that stay blocked in the same place, and one that
 * blocks in the same system call at the same stack depth from two
 * different callers, for the sampler's reuse of blocked threads' stacks.
 *
 *   thread "alt":     loop { left(): nap(15 ms); right(): nap(15 ms) }
 *                     left and right have the same frame, so nap's
 *                     nanosleep runs at the same sp and pc from both; only
 *                     the return address on the stack tells them apart.
 *                     `side` says which one runs (1 left, 2 right).
 *   thread "forever": forever(): pause(), never woken.
 *
 * Ready line: ready alt=<tid> forever=<tid> side=<address of side>
 * Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "target_timeout.h"

#define NOINLINE __attribute__((noinline, noipa))

static volatile int side;
static volatile unsigned long sink;
static volatile pid_t alt_tid, forever_tid;

NOINLINE static void nap(long ms)
{
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, NULL);
	sink++;
}

NOINLINE static void left(void)
{
	side = 1;
	nap(15);
	sink++;
}

NOINLINE static void right(void)
{
	side = 2;
	nap(15);
	sink++;
}

static void *alt_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "alt");
	alt_tid = (pid_t)syscall(SYS_gettid);
	for (;;) {
		left();
		right();
	}
	return NULL;
}

NOINLINE static void forever(void)
{
	pause();
	sink++;
}

static void *forever_main(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "forever");
	forever_tid = (pid_t)syscall(SYS_gettid);
	forever();
	return NULL;
}

int main(void)
{
	arm_safety_timeout();
	pthread_t a, f;
	if (pthread_create(&a, NULL, alt_main, NULL) ||
	    pthread_create(&f, NULL, forever_main, NULL))
		return 1;
	while (!alt_tid || !forever_tid)
		usleep(1000);
	usleep(50000);
	printf("ready alt=%d forever=%d side=%p\n", (int)alt_tid, (int)forever_tid, (void *)&side);
	fflush(stdout);
	pthread_join(a, NULL);
	return 0;
}
