/* sig_handler: the main thread inside a signal handler that interrupted it.
 * main -> spin (a busy loop); a helper thread sends main SIGUSR1 ->
 * on_usr1 -> pause(). The stack then holds a frame that no call made (spin,
 * at the instruction the signal interrupted) and the sigreturn trampoline
 * the handler returns to, entered at its first byte: neither pc may be
 * looked up at pc - 1 as a return address is.
 * Prints "ready" from inside the handler. Exits after $MSTTOP_TARGET_TIMEOUT
 * seconds (default 300), like every target. */
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "target_timeout.h"

static pthread_t main_thread;

static void on_usr1(int sig)
{
	(void)sig;
	static const char ready[] = "ready\n";
	if (write(STDOUT_FILENO, ready, sizeof(ready) - 1) < 0)
		_exit(1);
	for (;;)
		pause(); /* MARK: handler_pause */
}

__attribute__((noinline)) static void spin(void)
{
	volatile unsigned long n = 0;
	/* One line: wherever the signal lands in the loop, the line is the
	 * MARK's. */
	/* clang-format off */
	for (;;) n++; /* MARK: spin_loop */
	/* clang-format on */
}

static void *kicker(void *arg)
{
	(void)arg;
	struct timespec ts = {0, 50 * 1000 * 1000};
	nanosleep(&ts, NULL);
	pthread_kill(main_thread, SIGUSR1);
	for (;;)
		pause();
	return NULL;
}

int main(void)
{
	arm_safety_timeout();
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	main_thread = pthread_self();
	pthread_t k;
	if (pthread_create(&k, NULL, kicker, NULL))
		return 1;
	spin();
	return 0;
}
