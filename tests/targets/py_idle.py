"""py_idle: the simplest target.

State: the main thread sleeps in idle_sleep() -> time.sleep (marker idle_sleep),
called from main() (marker idle_call). Single-threaded.

Usage: py_idle.py
Ready line (printed from idle_sleep() right before it sleeps):
    ready tid=<native tid of the main thread>
Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import ctypes
import os
import signal
import sys
import threading
import time


def native_tid():
    """Kernel tid of the calling thread (get_native_id is 3.8+)."""
    try:
        return threading.get_native_id()
    except AttributeError:
        return ctypes.CDLL(None).syscall(186)  # SYS_gettid on x86_64


def arm_safety_timeout():
    """SIGALRM with its default action kills us even while in native code."""
    try:
        secs = int(os.environ.get("MSTTOP_TARGET_TIMEOUT", "300"))
    except ValueError:
        secs = 300
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGALRM])
    if secs > 0:
        signal.alarm(secs)


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
