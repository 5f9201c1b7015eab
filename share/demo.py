#!/usr/bin/env python3
"""msttop demo workload: something interesting to look at with msttop.

Start it, then attach:   python3 demo.py &   msttop -p <pid>

Threads (all named, see threading.Thread(name=...)):
  compute-1..N   pure-Python hot loops, cycling through three workloads:
                 compute_primes() (trial division), fib() (naive recursion)
                 and count_words() (string and dict work); they contend for
                 the GIL with each other and with the threads below
  native-qsort   sort_numbers(): libc qsort() called through ctypes with a
                 Python comparator, py_compare(), so the stack alternates
                 Python -> libc -> Python
  native-sleep   poll_device(): libc usleep() through ctypes in a loop (native
                 code, GIL released) with a little Python work in between
  gc-cycles      make_cycles() builds reference cycles that only the cyclic
                 collector can free, and collect_garbage() calls gc.collect()
                 on a timer (every 2 s)

Runs until Ctrl-C / SIGTERM, or for --duration seconds. Prints only at start
and at exit. Runs unchanged on CPython 3.6 and later, standard library only.
"""
import argparse
import ctypes
import gc
import os
import random
import signal
import sys
import threading
import time

stop = threading.Event()
counters = {}
counters_lock = threading.Lock()

libc = ctypes.CDLL(None)
CMPFUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
libc.qsort.restype = None
libc.usleep.argtypes = [ctypes.c_uint]

WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu").split()


def count(name, n=1):
    with counters_lock:
        counters[name] = counters.get(name, 0) + n


# --- pure-Python hot loops -------------------------------------------------

def is_prime(n):
    if n < 2:
        return False
    i = 2
    while i * i <= n:
        if n % i == 0:
            return False
        i += 1
    return True


def compute_primes(limit):
    return [n for n in range(limit) if is_prime(n)]


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def count_words(rng, n):
    freq = {}
    text = " ".join(rng.choice(WORDS) for _ in range(n))
    for word in text.split():
        key = word.upper()[::-1]
        freq[key] = freq.get(key, 0) + 1
    return sorted(freq.items(), key=lambda kv: -kv[1])[:3]


def compute_worker(kind):
    rng = random.Random(kind)
    while not stop.is_set():
        if kind == 0:
            compute_primes(20000)
        elif kind == 1:
            fib(22)
        else:
            count_words(rng, 20000)
        count(threading.current_thread().name)


# --- native code through ctypes ---------------------------------------------

def py_compare(a, b):
    x, y = a[0], b[0]
    return (x > y) - (x < y)


def sort_numbers(rng, n):
    values = (ctypes.c_int * n)(*[rng.randrange(1000000) for _ in range(n)])
    libc.qsort(values, n, ctypes.sizeof(ctypes.c_int), COMPARE)
    return values


COMPARE = CMPFUNC(py_compare)


def qsort_worker():
    rng = random.Random(1)
    while not stop.is_set():
        sort_numbers(rng, 5000)
        count("native-qsort")


def poll_device():
    libc.usleep(20000)
    return sum(range(200))


def sleep_worker():
    while not stop.is_set():
        poll_device()
        count("native-sleep")


# --- garbage collection ----------------------------------------------------

class Node(object):
    def __init__(self, parent=None):
        self.parent = parent
        self.children = []
        if parent is not None:
            parent.children.append(self)


def make_cycles(n):
    for _ in range(n):
        root = Node()
        for _ in range(5):
            Node(root)
        root.self_ref = root


def collect_garbage():
    return gc.collect()


def gc_worker():
    next_collect = time.monotonic() + 2.0
    while not stop.is_set():
        make_cycles(2000)
        time.sleep(0.05)
        if time.monotonic() >= next_collect:
            count("gc-collected", collect_garbage())
            count("gc-cycles")
            next_collect += 2.0


# --- main -------------------------------------------------------------------

def start(target, name, args=()):
    t = threading.Thread(target=target, name=name, args=args)
    t.daemon = True
    t.start()
    return t


def main():
    parser = argparse.ArgumentParser(description="msttop demo workload")
    parser.add_argument("--threads", type=int, default=4, metavar="N",
                        help="number of pure-Python compute threads (default 4)")
    parser.add_argument("--duration", type=float, default=0, metavar="N",
                        help="stop after N seconds (default: run until Ctrl-C/SIGTERM)")
    args = parser.parse_args()
    if args.threads < 0:
        parser.error("--threads must be >= 0")
    duration = args.duration
    limit = os.environ.get("MSTTOP_TARGET_TIMEOUT")  # when run by the test suite
    if limit:
        try:
            duration = min(duration, float(limit)) if duration > 0 else float(limit)
        except ValueError:
            pass

    # Also for SIGINT: a shell starts background jobs with SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: stop.set())

    print("msttop demo: pid %d" % os.getpid())
    print("%d compute threads (compute_primes, fib, count_words), libc qsort with a Python "
          "comparator, libc usleep via ctypes, reference cycles + gc.collect() every 2 s; %s"
          % (args.threads, "running for %g s" % duration if duration > 0 else "Ctrl-C to stop"))
    sys.stdout.flush()

    threads = [start(compute_worker, "compute-%d" % (i + 1), (i % 3,)) for i in range(args.threads)]
    threads.append(start(qsort_worker, "native-qsort"))
    threads.append(start(sleep_worker, "native-sleep"))
    threads.append(start(gc_worker, "gc-cycles"))

    deadline = time.monotonic() + duration if duration > 0 else None
    while not stop.is_set():
        timeout = 0.5
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                break
        stop.wait(timeout)
    stop.set()
    for t in threads:
        t.join(2.0)
    with counters_lock:
        summary = ", ".join("%s=%d" % kv for kv in sorted(counters.items()))
    print("msttop demo: done (%s)" % summary)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
