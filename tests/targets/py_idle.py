"""py_idle: the simplest target.

State: the main thread sleeps in idle_sleep() -> time.sleep (marker idle_sleep),
called from main() (marker idle_call). Single-threaded.

Usage: py_idle.py
Ready line (printed from idle_sleep() right before it sleeps):
    ready tid=<native tid of the main thread>
Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import sys
import time

from targetlib import arm_safety_timeout, native_tid


def idle_sleep():
    sys.stdout.write("ready tid=%d\n" % native_tid())
    sys.stdout.flush()
    while True:
        time.sleep(1000)  # MARK: idle_sleep


def main():
    arm_safety_timeout()
    idle_sleep()  # MARK: idle_call


if __name__ == "__main__":
    main()
