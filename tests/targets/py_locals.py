"""py_locals: frames whose arguments and locals hold one value of every kind
msttop --dump --locals shows (tests/live/test_locals.c checks each repr).

State (main thread, innermost last):
  holder(1, 2, 3, 4, key="v"): arguments a, b, *args, **kwargs, and locals
      of every supported type: ints (small, negative, zero, beyond 64 bits
      both signs, 5,001 digits), floats (shortest repr, exponents, signed
      zero, infinities, NaN), True/False/None, str (ASCII, non-ASCII, with
      control characters and quotes, with characters Python does not print,
      1 MiB), bytes, tuples, a nested list,
      a dict, a recursive list, a 10,000-item dict, an instance of a user
      class; calls outer() (marker call_outer).
  outer("shared arg"): its argument arg_cell and its local cellv are cells
      (inner uses them); calls inner(10) (marker call_inner).
  inner(10): x, y, and the free variables cellv and arg_cell; blocked in
      time.sleep (marker inner_sleep).
Thread "wide": many_locals(), a function with 300 locals (v0 = 0 ...).
Thread "deep": deep() 600 frames deep, each with eight locals whose reprs
  are about 1 KiB (more than the 4 MiB of locals msttop keeps per thread).

Usage: py_locals.py
Ready line (printed from inner() right before it sleeps):
    ready tid=<main tid>
Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import sys
import threading
import time

from targetlib import arm_safety_timeout, native_tid


class Custom(object):
    pass


def outer(arg_cell):
    cellv = "in a cell"
    unbound_later = None
    del unbound_later

    def inner(x):
        y = x + 1
        sys.stdout.write("ready tid=%d\n" % native_tid())
        sys.stdout.flush()
        while True:
            time.sleep(1000)  # MARK: inner_sleep
        return cellv, arg_cell, y

    return inner(10)  # MARK: call_inner


def holder(a, b=2, *args, **kwargs):
    small = 42
    negative = -7
    zero = 0
    big = 123456789012345678901234567890
    bigneg = -(2 ** 100)
    big_pad = 10 ** 30 + 7
    flt = 0.1
    flt_exp = 1e-07
    flt_big = 1e22
    flt_int = -2.0
    floats = [1 / 3.0, 1e16, 1e15, 123456789.0, 5e-324, 1.7976931348623157e308, -0.0,
              float("inf"), float("-inf"), float("nan")]
    hugeint = 10 ** 5000
    yes = True
    no = False
    nothing = None
    ascii_s = "it's \"quoted\""
    uni = "h\u00e9llo \u2603 \u65e5\u672c"
    unprintable = "\u00a0\u00ad\u200b\u202e\ud800x\U0001F600\u0085\u3000"
    ctrl = "tab\there\nbell\x07esc\x1b[31m\\"
    huge = "x" * (1 << 20)
    raw = b"\x00bytes\xff'"
    tup = (1, "two", 3.5)
    one = (None,)
    empty = ()
    nested = [1, [2, [3, [4, [5]]]]]
    dct = {"k": 1, 2: [b"v"]}
    rec = []
    rec.append(rec)
    bigdict = {i: i for i in range(10000)}
    obj = Custom()
    größe = 5
    return outer("shared arg")  # MARK: call_outer


# 300 locals v0 = 0 ... v299 = 299: more than msttop keeps per frame (256).
exec("def many_locals(ready):\n"
     + "".join("    v%d = %d\n" % (i, i) for i in range(300))
     + "    ready.set()\n"
     + "    while True:\n"
     + "        time.sleep(1000)\n")


def deep(n, ready):
    # Eight locals of about 1 KiB of repr each, in 600 frames: past the
    # 4 MiB msttop keeps per thread.
    a = b = c = d = e = f = g = h = ["y" * 300] * 10
    if n > 1:
        return deep(n - 1, ready)
    ready.set()
    while True:
        time.sleep(1000)
    return a, b, c, d, e, f, g, h


def main():
    arm_safety_timeout()
    sys.setrecursionlimit(5000)
    for name, fn, args in (("wide", many_locals, ()), ("deep", deep, (600,))):
        ev = threading.Event()
        threading.Thread(target=fn, args=args + (ev,), name=name, daemon=True).start()
        ev.wait()
    holder(1, 2, 3, 4, key="v")


if __name__ == "__main__":
    main()
