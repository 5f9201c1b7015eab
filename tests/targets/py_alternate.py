"""py_alternate: a thread that blocks in turn in two functions.

Thread "alternator": alternate() calls first() and second() in turn; each
sleeps 0.2 s in time.sleep (MARKs alt_first, alt_second). The thread is
always blocked in the same system call, from the same native frames, but
its Python stack changes five times a second: a sampler that reused a
blocked thread's Python frames without noticing it ran would show one of
the two functions only.

Usage: py_alternate.py
Ready line: ready alternator=<tid> main=<tid>
Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import sys
import threading
import time

from targetlib import arm_safety_timeout, native_tid

tids = {}
started = threading.Event()


def first():
    time.sleep(0.2)  # MARK: alt_first


def second():
    time.sleep(0.2)  # MARK: alt_second


def alternate():
    tids["alternator"] = native_tid()
    started.set()
    while True:
        first()
        second()


def main():
    arm_safety_timeout()
    threading.Thread(target=alternate, name="alternator", daemon=True).start()
    started.wait()
    sys.stdout.write("ready alternator=%d main=%d\n" % (tids["alternator"], native_tid()))
    sys.stdout.flush()
    while True:
        time.sleep(1000)


if __name__ == "__main__":
    main()
