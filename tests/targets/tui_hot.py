"""tui_hot: three named threads with known hot functions, for the TUI test.

State:
  thread "tui-hot":    hot_spin_alpha(), a pure-Python loop that never
                       sleeps; its whole loop is one line (marker hot_line),
                       so by line and by function it is the same frame.
  thread "tui-warm-1": warm_spin_beta(), spins ~10 ms on one line (marker
                       beta_line), then sleeps ~10 ms in nap().
  thread "tui-warm-2": warm_spin_gamma(), the same (marker gamma_line).
  main thread: waits in signal.pause() (marker main_pause): idle.
The hot thread is clearly the hottest: busy whenever it holds the GIL,
while each warm thread asks for the GIL at most half of the time.

Usage: tui_hot.py
Ready line (once every thread runs its loop):
    ready hot=<tid> warm1=<tid> warm2=<tid> main=<tid>
Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import ctypes
import signal
import sys
import threading
import time

from targetlib import arm_safety_timeout, native_tid

tids = {}
started = {}


def hello(key):
    """Record the tid; also name the OS thread, so the name shows where
    only the kernel's comm is read."""
    try:
        name = threading.current_thread().name.encode()[:15]
        ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name), 0, 0, 0)  # PR_SET_NAME
    except (OSError, AttributeError):
        pass
    tids[key] = native_tid()
    started[key].set()


def hot_spin_alpha():
    hello("hot")
    x = 1
    while 1: x = (x * 1103515245 + 12345) % 2147483648  # noqa: E701  MARK: hot_line


def nap():
    time.sleep(0.01)


def warm_spin_beta():
    hello("warm1")
    x = 2
    while 1:
        end = time.monotonic() + 0.01
        while time.monotonic() < end: x = (x * 69069 + 1) % 4294967296  # noqa: E701  MARK: beta_line
        nap()


def warm_spin_gamma():
    hello("warm2")
    x = 3
    while 1:
        end = time.monotonic() + 0.01
        while time.monotonic() < end: x = (x * 69069 + 7) % 4294967296  # noqa: E701  MARK: gamma_line
        nap()


def main():
    arm_safety_timeout()
    threads = [("hot", "tui-hot", hot_spin_alpha),
               ("warm1", "tui-warm-1", warm_spin_beta),
               ("warm2", "tui-warm-2", warm_spin_gamma)]
    for key, name, fn in threads:
        started[key] = threading.Event()
        t = threading.Thread(target=fn, name=name)
        t.daemon = True
        t.start()
    for key in started:
        started[key].wait()
    sys.stdout.write("ready hot=%d warm1=%d warm2=%d main=%d\n"
                     % (tids["hot"], tids["warm1"], tids["warm2"], native_tid()))
    sys.stdout.flush()
    while True:
        signal.pause()  # MARK: main_pause


if __name__ == "__main__":
    main()
