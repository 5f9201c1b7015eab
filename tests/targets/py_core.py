"""py_core: the mixed target the core-file tests dump live and from a core.

Threads:
  "sorter":  sorter() -> ctypes call of libc qsort (MARK core_qsort) ->
             (libc) -> ctypes callback -> compare() -> time.sleep
             (MARK core_compare): blocked in a merged Python/native/Python
             stack.
  "spinner": spinner() -> spin() (MARK core_spin): pure Python on the CPU.
  main thread: prints the ready line, then waits (MARK core_main).

Usage: py_core.py
Ready line: ready sorter=<tid> spinner=<tid> main=<tid>, printed once the
sorter sleeps in compare() and the spinner spins.
Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import ctypes
import sys
import threading
import time

from targetlib import arm_safety_timeout, native_tid

libc = ctypes.CDLL(None)
CMPFUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int))
tids = {}
in_compare = threading.Event()
spinning = threading.Event()


def compare(a, b):
    tids["sorter"] = native_tid()
    in_compare.set()
    while True:
        time.sleep(1000)  # MARK: core_compare
    return a[0] - b[0]


def sorter():
    values = (ctypes.c_int * 8)(5, 3, 8, 1, 9, 2, 7, 4)
    cmp = CMPFUNC(compare)
    libc.qsort.restype = None
    libc.qsort(values, len(values), ctypes.sizeof(ctypes.c_int), cmp)  # MARK: core_qsort


def spin():
    x = 0
    spinning.set()
    while True: x += 1  # noqa: E701 (one line: every instruction of the loop is on it) MARK: core_spin


def spinner():
    tids["spinner"] = native_tid()
    spin()


def main():
    arm_safety_timeout()
    for name, fn in (("sorter", sorter), ("spinner", spinner)):
        threading.Thread(target=fn, name=name, daemon=True).start()
    in_compare.wait()
    spinning.wait()
    sys.stdout.write("ready sorter=%d spinner=%d main=%d\n"
                     % (tids["sorter"], tids["spinner"], native_tid()))
    sys.stdout.flush()
    while True:
        time.sleep(1000)  # MARK: core_main


if __name__ == "__main__":
    main()
