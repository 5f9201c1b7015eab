"""py_spin: N CPU-bound pure-Python threads, for throughput benchmarks.

State: threads "spin-1".."spin-N" each run spin(slot), a loop calling the
pure-Python function work() (marker spin_work) and counting iterations;
main thread waits in signal.pause() (marker main_pause).

Usage: py_spin.py [N]            (default 4)
Ready line (once every thread has started looping):
    ready threads=N tids=<tid1>,...,<tidN> main=<main tid>
On SIGUSR1 it prints one line (and flushes):
    iterations total=<sum over threads> elapsed=<seconds since ready> per_thread=<n1>,...,<nN>
Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import signal
import sys
import threading
import time

from targetlib import arm_safety_timeout, native_tid

counts = []
tids = []
started = []
t0 = [0.0]


def work(x):
    return (x * 1103515245 + 12345) % 2147483648  # MARK: work_body


def spin(slot):
    tids[slot] = native_tid()
    started[slot].set()
    x = slot
    n = 0
    while True:
        x = work(x)  # MARK: spin_work
        n += 1
        counts[slot] = n


def report(signum, frame):
    snap = list(counts)
    sys.stdout.write("iterations total=%d elapsed=%.3f per_thread=%s\n"
                     % (sum(snap), time.monotonic() - t0[0], ",".join(str(c) for c in snap)))
    sys.stdout.flush()


def main():
    arm_safety_timeout()
    nthreads = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    signal.signal(signal.SIGUSR1, report)
    for i in range(nthreads):
        counts.append(0)
        tids.append(0)
        started.append(threading.Event())
    for i in range(nthreads):
        t = threading.Thread(target=spin, args=(i,), name="spin-%d" % (i + 1))
        t.daemon = True
        t.start()
    for ev in started:
        ev.wait()
    t0[0] = time.monotonic()
    sys.stdout.write("ready threads=%d tids=%s main=%d\n"
                     % (nthreads, ",".join(str(t) for t in tids), native_tid()))
    sys.stdout.flush()
    while True:
        signal.pause()  # MARK: main_pause


if __name__ == "__main__":
    main()
