"""py_hot1: one CPU-bound thread in one pure-Python function, the case a
new user tries first (`for i in range(n): x += i * i`).

State: thread "hot" runs hot() (marker hot_body) in a loop; the main thread
waits in threading.Event().wait() (marker main_wait).

Usage: py_hot1.py
Ready line: ready hot=<tid of the hot thread> main=<main tid>
Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import sys
import threading

from targetlib import arm_safety_timeout, native_tid

tid = []
started = threading.Event()


def hot(n):
    x = 0
    for i in range(n):
        x += i * i  # MARK: hot_body
    return x


def loop():
    tid.append(native_tid())
    started.set()
    while True:
        hot(100000)


def main():
    arm_safety_timeout()
    threading.Thread(target=loop, name="hot", daemon=True).start()
    started.wait()
    sys.stdout.write("ready hot=%d main=%d\n" % (tid[0], native_tid()))
    sys.stdout.flush()
    threading.Event().wait()  # MARK: main_wait


if __name__ == "__main__":
    main()
