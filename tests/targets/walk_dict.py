"""walk_dict: threading.Thread objects whose attributes live in each kind of
instance dict, so thread-name lookup is tested on every storage path.

State (every thread blocked in time.sleep):
  thread "plain-values":  in_plain() (marker plain_sleep). Its attributes were
      never touched from outside: 3.11+ keep them as inline/managed values
      with no dict object; 3.6-3.10 in a split-table dict.
  thread "touched-dict":  in_touched() (marker touched_sleep). Its __dict__
      was materialised by vars(t): 3.11+ now have a dict object (3.13: a
      dict whose values are the inline ones).
  thread "many-attrs":    in_many() (marker many_sleep). 40 extra attributes
      set on the object: the shared keys overflow, so the instance gets a
      combined-table dict.
  main thread: waits in main() on threading.Event().wait() (marker main_wait).

Usage: walk_dict.py
Ready line (printed by main once the three threads sleep):
    ready plain=<tid> touched=<tid> many=<tid> main=<tid>
Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import sys
import threading
import time

from targetlib import arm_safety_timeout, native_tid

tids = {}
arrived = threading.Semaphore(0)


def in_plain():
    tids["plain"] = native_tid()
    arrived.release()
    while True:
        time.sleep(1000)  # MARK: plain_sleep


def in_touched():
    tids["touched"] = native_tid()
    arrived.release()
    while True:
        time.sleep(1000)  # MARK: touched_sleep


def in_many():
    tids["many"] = native_tid()
    arrived.release()
    while True:
        time.sleep(1000)  # MARK: many_sleep


def main():
    arm_safety_timeout()
    threads = []
    for target, name in ((in_plain, "plain-values"), (in_touched, "touched-dict"),
                         (in_many, "many-attrs")):
        t = threading.Thread(target=target, name=name)
        t.daemon = True
        threads.append(t)
    vars(threads[1])
    for i in range(40):
        setattr(threads[2], "extra_%d" % i, i)
    for t in threads:
        t.start()
    for _ in threads:
        arrived.acquire()
    time.sleep(0.05)  # let the threads get from release() into their sleeps
    sys.stdout.write("ready plain=%d touched=%d many=%d main=%d\n"
                     % (tids["plain"], tids["touched"], tids["many"], native_tid()))
    sys.stdout.flush()
    threading.Event().wait()  # MARK: main_wait


if __name__ == "__main__":
    main()
