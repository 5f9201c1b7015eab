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
import gc
import sys
import threading
import time

from targetlib import arm_safety_timeout, native_tid

tids = {}
idle_ready = threading.Event()


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
