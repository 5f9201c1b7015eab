"""py_many: many idle threads, and two that change while msttop watches.

Threads: IDLE threads "idle-1".."idle-IDLE" block in Event.wait() in
idle_wait() (marker idle_wait) all along. "mover" blocks in mover_a()
(marker mover_a) until told to move, then in mover_b() (marker mover_b),
called after mover_a() returned (never both on its stack): its /proc state
stays S, only its Python stack changes. "waker" blocks in waker_wait()
(marker waker_wait) until told to wake, then spins in waker_spin() (marker
waker_spin), likewise.

Usage: py_many.py [IDLE]     (default 1000)
Ready line: ready mover=<tid> waker=<tid> threads=<all threads>
Commands are signals, taken by the main thread alone (sigwait; every other
thread blocks them, so none is lost to a thread a sampler has stopped), each
answered on stdout once done:
    SIGUSR1  ->  moved wall=<time.time() once mover is blocked in mover_b>
    SIGUSR2  ->  woke wall=<time.time() once waker is running waker_spin>
"Once blocked" is read from /proc: mover's state is S again (it sleeps in
its new wait), so every look at it from then on must find mover_b.
Exits after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import signal
import sys
import threading
import time

from targetlib import arm_safety_timeout, native_tid

tids = {}
forever = threading.Event()
go_b = threading.Event()
in_b = threading.Event()
go_spin = threading.Event()
spinning = threading.Event()


def idle_wait(started):
    started.release()
    forever.wait()  # MARK: idle_wait


def mover_a():
    go_b.wait()  # MARK: mover_a


def mover_b():
    in_b.set()
    forever.wait()  # MARK: mover_b


def mover(started):
    """One function, then another: never both on the stack."""
    tids["mover"] = native_tid()
    started.release()
    mover_a()
    mover_b()


def waker_wait():
    go_spin.wait()  # MARK: waker_wait


def waker_spin():
    spinning.set()
    x = 0
    while True:
        x = (x * 1103515245 + 12345) % 2147483648  # MARK: waker_spin


def waker(started):
    tids["waker"] = native_tid()
    started.release()
    waker_wait()
    waker_spin()


def state_of(tid):
    with open("/proc/self/task/%d/stat" % tid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def main():
    arm_safety_timeout()
    nidle = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    cmds = {signal.SIGUSR1, signal.SIGUSR2}
    signal.pthread_sigmask(signal.SIG_BLOCK, cmds)  # inherited by every thread
    started = threading.Semaphore(0)
    for i in range(nidle):
        threading.Thread(target=idle_wait, args=(started,), name="idle-%d" % (i + 1),
                         daemon=True).start()
    threading.Thread(target=mover, args=(started,), name="mover", daemon=True).start()
    threading.Thread(target=waker, args=(started,), name="waker", daemon=True).start()
    for _ in range(nidle + 2):
        started.acquire()
    # Each in its first wait before we say ready.
    for name in ("mover", "waker"):
        while state_of(tids[name]) != "S":
            time.sleep(0.001)
    sys.stdout.write("ready mover=%d waker=%d threads=%d\n"
                     % (tids["mover"], tids["waker"], threading.active_count()))
    sys.stdout.flush()
    while True:
        sig = signal.sigwait(cmds)
        if sig == signal.SIGUSR1:
            go_b.set()
            in_b.wait()
            while state_of(tids["mover"]) != "S":
                time.sleep(0.0005)
            sys.stdout.write("moved wall=%.6f\n" % time.time())
        else:
            go_spin.set()
            spinning.wait()
            sys.stdout.write("woke wall=%.6f\n" % time.time())
        sys.stdout.flush()

if __name__ == "__main__":
    main()
