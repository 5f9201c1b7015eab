"""The benchmark's time-taken target: one Python thread reads the clock in a
loop and counts every gap between two reads longer than GAP_NS, the time the
thread lost to something else (an interrupt, a profiler's sample, the host).

Why: section 7 measures the perf back end's loss as the throughput of a
CPU-bound target in windows alternated with windows without msttop, and on
a virtual machine that throughput moves by 15 % from one window to the next
(the host varies the CPU's speed): a 2 % loss cannot be told from the noise.
The time a sample takes from the thread it lands on does not depend on how
fast the CPU runs between samples: its gaps, summed, are that time, and the
window-to-window noise of their sum is a fraction of a percent. What it
does not see is the thread's slower run after a sample (caches refilled),
which the throughput figure keeps.

The loop is the interpreter's own (a call to the clock, a subtraction, a
comparison), so what a sample costs here includes reading this thread's
Python frames, as on any target. One thread: no GIL hand-over makes gaps.

Usage: gaps.py [work]
With "work" each turn also calls the loop of spin.py (the benchmark's
CPU-bound target): the reference of section 7c, which shares the target's
CPU and measures that CPU's speed in the same seconds, as its turns per
second of its own running time (the measured time less the gaps: the time
the target ran, or an interrupt, is taken out).
Ready line: ready tid=<tid>
For each line read on stdin it prints (and flushes):
    gaps n=<gaps> ns=<ns in gaps> measured=<ns measured> reads=<turns>
(totals since ready). It exits at end of input, or after
$MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import os
import select
import signal
import sys
import threading
import time

# A read of the clock and the loop around it take 0.2-0.4 us on the
# machines this ran on; a gap is well above that and below the shortest
# interrupt seen (about 2 us in a VM).
GAP_NS = 1500
# Reads between two looks at stdin (about a millisecond): the look itself
# is outside what is measured.
CHUNK = 4000


def work(x):
    return (x * 1103515245 + 12345) % 2147483648


def main():
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    secs = int(os.environ.get("MSTTOP_TARGET_TIMEOUT", "300") or 0)
    if secs > 0:
        signal.alarm(secs)
    pc = time.perf_counter_ns
    poll = select.poll()
    poll.register(sys.stdin.fileno(), select.POLLIN)
    tid = threading.get_native_id() if hasattr(threading, "get_native_id") else 0
    sys.stdout.write("ready tid=%d\n" % tid)
    sys.stdout.flush()
    n = lost = measured = reads = 0
    gap = GAP_NS
    busy = len(sys.argv) > 1 and sys.argv[1] == "work"
    x = 1
    while True:
        start = last = pc()
        for _ in range(CHUNK):
            if busy:
                x = work(x)
            t = pc()
            if t - last > gap:
                n += 1
                lost += t - last
            last = t
        measured += last - start
        reads += CHUNK
        if poll.poll(0):
            if not sys.stdin.readline():
                break
            sys.stdout.write("gaps n=%d ns=%d measured=%d reads=%d\n" % (n, lost, measured, reads))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
