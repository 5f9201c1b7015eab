"""py_names: non-ASCII names, methods, generators and coroutines.

State:
  thread "worker-1" (ASCII name):
      run_method() -> Klass().method() (marker method_call)
      -> time.sleep (marker method_sleep). 3.11+ shows the qualified name
      "Klass.method".
  thread "worker-ä1" (non-ASCII name):
      run_unicode() -> grüße() (marker call_gruesse) -> 计算() (marker call_cjk)
      -> time.sleep (marker cjk_sleep).
  thread "gen":
      run_generator() iterates produce() with a for loop (marker gen_iterate);
      the generator body is blocked in time.sleep (marker gen_sleep).
  main thread: an asyncio event loop (run_until_complete, marker loop_run)
      running the coroutine serve(), which awaits handle() (marker coro_await),
      which is blocked in a *synchronous* time.sleep (marker coro_sleep), so
      both coroutine frames are on the thread's stack.

Usage: py_names.py
Ready line (printed from handle() right before it sleeps, once the other
threads are in their sleeps):
    ready method=<worker-1 tid> unicode=<worker-ä1 tid> gen=<gen tid> coro=<main tid>
Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import asyncio
import sys
import threading
import time

from targetlib import arm_safety_timeout, native_tid

tids = {}
events = []


def arrived(role):
    tids[role] = native_tid()
    ev = threading.Event()
    events.append(ev)
    ev.set()


class Klass(object):
    def method(self):
        arrived("method")
        while True:
            time.sleep(1000)  # MARK: method_sleep


def run_method():
    Klass().method()  # MARK: method_call


def 计算():
    arrived("unicode")
    while True:
        time.sleep(1000)  # MARK: cjk_sleep


def grüße():
    计算()  # MARK: call_cjk


def run_unicode():
    grüße()  # MARK: call_gruesse


def produce():
    yield 1
    arrived("gen")
    while True:
        time.sleep(1000)  # MARK: gen_sleep
    yield 2


def run_generator():
    for item in produce():  # MARK: gen_iterate
        pass


async def handle():
    while len(events) < 3:
        time.sleep(0.01)
    time.sleep(0.05)  # let the threads get from arrived() into their sleeps
    sys.stdout.write("ready method=%d unicode=%d gen=%d coro=%d\n"
                     % (tids["method"], tids["unicode"], tids["gen"], native_tid()))
    sys.stdout.flush()
    while True:
        time.sleep(1000)  # MARK: coro_sleep


async def serve():
    await handle()  # MARK: coro_await


def main():
    arm_safety_timeout()
    for target, name in ((run_method, "worker-1"), (run_unicode, "worker-ä1"),
                         (run_generator, "gen")):
        t = threading.Thread(target=target, name=name)
        t.daemon = True
        t.start()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(serve())  # MARK: loop_run


if __name__ == "__main__":
    main()
