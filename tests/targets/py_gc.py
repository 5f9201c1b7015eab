"""py_gc: a thread stopped inside the cyclic garbage collector.

State:
  thread "collector": collector_main() -> collector() -> gc.collect()
      (marker gc_collect) -> (native collector: finalize garbage)
      -> Finalizable.__del__() -> time.sleep (marker del_sleep).
      The reference cycle is created in collector() right before the
      collection, with automatic collection disabled, so this explicit
      gc.collect() is the one that finds it.
  thread "idle": idle() blocked in threading.Event().wait() (marker idle_wait).
  main thread: waits in main() on threading.Event().wait() (marker main_wait).

Usage: py_gc.py
Ready line (printed from __del__ right before it sleeps):
    ready gc_tid=<collector tid> idle=<idle tid> main=<main thread tid>
Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import ctypes
import gc
import os
import signal
import sys
import threading
import time

tids = {}
idle_ready = threading.Event()


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


class Finalizable(object):
    def __init__(self):
        self.me = self  # a reference cycle: only the collector frees it

    def __del__(self):
        sys.stdout.write("ready gc_tid=%d idle=%d main=%d\n"
                         % (native_tid(), tids["idle"], tids["main"]))
        sys.stdout.flush()
        while True:
            time.sleep(1000)  # MARK: del_sleep


def collector():
    Finalizable()
    gc.collect()  # MARK: gc_collect


def collector_main():
    time.sleep(0.05)  # let main() get from start() into its wait()
    collector()  # MARK: call_collector


def idle():
    tids["idle"] = native_tid()
    idle_ready.set()
    threading.Event().wait()  # MARK: idle_wait


def main():
    arm_safety_timeout()
    gc.disable()
    tids["main"] = native_tid()
    t = threading.Thread(target=idle, name="idle")
    t.daemon = True
    t.start()
    idle_ready.wait()
    time.sleep(0.05)  # let idle() get from set() into wait()
    t = threading.Thread(target=collector_main, name="collector")
    t.daemon = True
    t.start()
    threading.Event().wait()  # MARK: main_wait


if __name__ == "__main__":
    main()
