// cxx_chain: a C++ target, so the dump's demangling is checked on real
// symbols. The main thread runs demo::Worker::run(int) -> demo::wait_here<int>
// and blocks in pause(). Ready line: "ready tid=<tid>". Exits by itself
// after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>
#include <sys/syscall.h>

namespace demo {

template <typename T> __attribute__((noinline)) T wait_here(T x)
{
	std::printf("ready tid=%ld\n", (long)syscall(SYS_gettid));
	std::fflush(stdout);
	for (;;)
		pause(); // MARK: cxx_pause
	return x;
}

struct Worker {
	__attribute__((noinline)) int run(int n)
	{
		return wait_here<int>(n) + 1; // MARK: cxx_call
	}
};

} // namespace demo

int main()
{
	const char *t = std::getenv("MSTTOP_TARGET_TIMEOUT");
	int secs = t ? std::atoi(t) : 300;
	std::signal(SIGALRM, SIG_DFL);
	if (secs > 0)
		alarm((unsigned)secs);
	demo::Worker w;
	return w.run(41);
}
