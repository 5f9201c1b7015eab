"""The benchmark's CPU-bound Python target: N threads "spin-1".."spin-N" run
the loop of tests/targets/py_spin.py (a pure-Python call per iteration,
counted per thread); the main thread waits on stdin.

Why not py_spin.py's SIGUSR1: a process-directed signal goes to any thread
that does not block it, and one that is ptrace-stopped (as msttop stops each
thread in turn) is passed over. CPython runs Python-level handlers only in the
main thread, so a signal that lands on a spinning thread leaves the main
thread asleep in signal.pause(): under merged sampling some answers came late
or merged with the next one. A line on stdin wakes the main thread whichever
thread is stopped.

Usage: spin.py [N [IDLE]]     (default 4 busy, 0 idle)
IDLE more threads "idle-1".."idle-IDLE" block in Event.wait() all along (the
many-threads benchmark, issue 17).
Ready line: ready threads=N tids=<tid1>,...,<tidN> main=<main tid>
For each line read on stdin it prints (and flushes):
    iterations total=<sum over threads> elapsed=<seconds since ready>
It exits at end of input, or after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import os
import signal
import sys
import threading
import time

counts = []


def work(x):
    return (x * 1103515245 + 12345) % 2147483648


def spin(slot, tids, started):
    tids[slot] = threading.get_native_id() if hasattr(threading, "get_native_id") else 0
    started.release()
    x = slot
    n = 0
    while True:
        x = work(x)
        n += 1
        counts[slot] = n


def idle(started, forever):
    started.release()
    forever.wait()


def main():
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    secs = int(os.environ.get("MSTTOP_TARGET_TIMEOUT", "300") or 0)
    if secs > 0:
        signal.alarm(secs)
    nthreads = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    tids = [0] * nthreads
    counts.extend([0] * nthreads)
    started = threading.Semaphore(0)
    # The idle threads first: each start needs the GIL, which four
    # spinning threads would hand over only every switch interval.
    nidle = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    forever = threading.Event()
    for i in range(nidle):
        threading.Thread(target=idle, args=(started, forever), name="idle-%d" % (i + 1),
                         daemon=True).start()
    for i in range(nthreads):
        threading.Thread(target=spin, args=(i, tids, started), name="spin-%d" % (i + 1),
                         daemon=True).start()
    for _ in range(nthreads + nidle):
        started.acquire()
    t0 = time.monotonic()
    main_tid = threading.get_native_id() if hasattr(threading, "get_native_id") else 0
    sys.stdout.write("ready threads=%d tids=%s main=%d\n"
                     % (nthreads, ",".join(str(t) for t in tids), main_tid))
    sys.stdout.flush()
    for _ in sys.stdin:
        snap = list(counts)
        sys.stdout.write("iterations total=%d elapsed=%.6f\n" % (sum(snap), time.monotonic() - t0))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
