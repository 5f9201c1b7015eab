/* For the C test targets: SIGALRM with its default action kills the
 * target even while blocked, so none outlives its test:
 * $MSTTOP_TARGET_TIMEOUT seconds (default 300, 0 = never), as the Python
 * targets do in targetlib.py. */
#ifndef MSTTOP_TARGET_TIMEOUT_H
#define MSTTOP_TARGET_TIMEOUT_H

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

static void arm_safety_timeout(void)
{
	const char *s = getenv("MSTTOP_TARGET_TIMEOUT");
	long secs = 300;
	sigset_t set;

	if (s && *s) {
		char *end;

		secs = strtol(s, &end, 10);
		if (*end || secs < 0)
			secs = 300;
	}
	signal(SIGALRM, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, SIGALRM);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	if (secs > 0)
		alarm((unsigned)secs);
}

#endif
