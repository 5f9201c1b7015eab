"""py_record: a busy mixed process for the recording tests.

Threads, all working until killed:
  "sorter":    sorter() -> sort_once() -> ctypes call of libc qsort
               (MARK qsort_call) -> (libc) -> ctypes callback -> compare()
               (MARK compare_body): CPU in a merged Python/native/Python stack.
  "spinner":   spinner() -> spin() (MARK spin_body): pure Python on the CPU.
  "idler":     idler() blocked in threading.Event().wait() (MARK idle_wait).
  "collector": collector() -> gc.collect() (MARK gc_collect) over fresh
               reference cycles, then a short sleep: the collector runs often.
  main thread: prints the ready line, then waits.

Usage: py_record.py [--exit-after S]
  --exit-after S: exit by itself (status 0) after S seconds, printing
  "py_record done" on stdout first (the launch tests).
Ready line: ready sorter=<tid> spinner=<tid> idler=<tid> collector=<tid> main=<tid>
Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import ctypes
import gc
import sys
import threading
import time

from targetlib import arm_safety_timeout, native_tid

libc = ctypes.CDLL(None)
CMPFUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
tids = {}
started = threading.Event()
count = [0]


def compare(a, b):
    return a[0] - b[0]  # MARK: compare_body


# Built once: with the array built at each call, the sorter spent as much
# time in the list and Array_init as in qsort, and a loaded machine's
# recording could hold no sample in compare() at all. Sorting 1024 values
# is ~10,000 calls of compare() for one copy made in C.
N = 1024
UNSORTED = (ctypes.c_int * N)(*[(i * 7919) % N for i in range(N)])


def sort_once(cmp):
    values = (ctypes.c_int * N)()
    ctypes.memmove(values, UNSORTED, ctypes.sizeof(values))
    libc.qsort(values, N, ctypes.sizeof(ctypes.c_int), cmp)  # MARK: qsort_call


def sorter():
    tids["sorter"] = native_tid()
    cmp = CMPFUNC(compare)
    libc.qsort.restype = None
    started.set()
    while True:
        sort_once(cmp)


def spin():
    x = 0
    for i in range(10000):
        x += i * i  # MARK: spin_body
    return x


def spinner():
    tids["spinner"] = native_tid()
    while True:
        spin()


def idler():
    tids["idler"] = native_tid()
    threading.Event().wait()  # MARK: idle_wait


class Node(object):
    def __init__(self):
        self.me = self


def collector():
    tids["collector"] = native_tid()
    gc.disable()
    while True:
        garbage = [Node() for _ in range(2000)]
        del garbage
        gc.collect()  # MARK: gc_collect
        time.sleep(0.005)


def main():
    arm_safety_timeout()
    exit_after = None
    if len(sys.argv) > 2 and sys.argv[1] == "--exit-after":
        exit_after = float(sys.argv[2])
    tids["main"] = native_tid()
    for name, fn in (("sorter", sorter), ("spinner", spinner), ("idler", idler),
                     ("collector", collector)):
        threading.Thread(target=fn, name=name, daemon=True).start()
    started.wait()
    while len(tids) < 5:
        time.sleep(0.01)
    sys.stdout.write("ready sorter=%d spinner=%d idler=%d collector=%d main=%d\n"
                     % (tids["sorter"], tids["spinner"], tids["idler"], tids["collector"],
                        tids["main"]))
    sys.stdout.flush()
    if exit_after is not None:
        time.sleep(exit_after)
        sys.stdout.write("py_record done\n")
        sys.stdout.flush()
        return
    while True:
        time.sleep(1000)


if __name__ == "__main__":
    main()
