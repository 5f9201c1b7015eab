"""py_qsort: a Python -> native -> Python stack.

State: the main thread runs
    main() -> outer() -> ctypes call of libc qsort -> (libc sort internals)
    -> ctypes/libffi callback machinery -> compare() -> time.sleep
compare() blocks on its first call, so the merged stack is
Python (main, outer) / native (ctypes, qsort) / Python (compare) / native.
MARKs: main_outer (main calls outer), qsort_call (outer calls qsort),
compare_sleep (compare sleeps).

Usage: py_qsort.py
Ready line (printed from compare() right before it sleeps):
    ready tid=<native tid of the main thread>
Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import ctypes
import sys
import time

from targetlib import arm_safety_timeout, native_tid

libc = ctypes.CDLL(None)
CMPFUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))


def compare(a, b):
    sys.stdout.write("ready tid=%d\n" % native_tid())
    sys.stdout.flush()
    while True:
        time.sleep(1000)  # MARK: compare_sleep
    return a[0] - b[0]


def outer():
    values = (ctypes.c_int * 8)(5, 3, 8, 1, 9, 2, 7, 4)
    cmp = CMPFUNC(compare)
    libc.qsort.restype = None
    libc.qsort(values, len(values), ctypes.sizeof(ctypes.c_int), cmp)  # MARK: qsort_call
    return list(values)


def main():
    arm_safety_timeout()
    outer()  # MARK: main_outer


if __name__ == "__main__":
    main()
