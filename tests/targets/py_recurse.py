"""py_recurse: deep pure-Python recursion plus a second, different chain.

State:
  main thread:  main() -> recurse(DEPTH) -> recurse(DEPTH-1) -> ... -> recurse(1)
                -> leaf() -> time.sleep
                exactly DEPTH frames of recurse(); recurse(n) calls itself on
                marker recurse_self, recurse(1) calls leaf() on marker recurse_leaf,
                leaf() sleeps on marker leaf_sleep; main() calls recurse() on
                marker main_recurse.
  thread "chain": chain_entry() -> alpha() -> beta() -> gamma() -> time.sleep
                MARKs: chain_alpha, chain_beta, chain_gamma, gamma_sleep.

Usage: py_recurse.py [DEPTH]        (default 50)
Ready line (printed from leaf() right before it sleeps, after the "chain"
thread has reached gamma()):
    ready depth=DEPTH tid=<main thread tid> chain=<chain thread tid>
Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import sys
import threading
import time

from targetlib import arm_safety_timeout, native_tid

tids = {}
chain_ready = threading.Event()


def gamma():
    chain_ready.set()
    while True:
        time.sleep(1000)  # MARK: gamma_sleep


def beta():
    gamma()  # MARK: chain_gamma


def alpha():
    beta()  # MARK: chain_beta


def chain_entry():
    tids["chain"] = native_tid()
    alpha()  # MARK: chain_alpha


def leaf(depth):
    sys.stdout.write("ready depth=%d tid=%d chain=%d\n" % (depth, native_tid(), tids["chain"]))
    sys.stdout.flush()
    while True:
        time.sleep(1000)  # MARK: leaf_sleep


def recurse(n, depth):
    if n > 1:
        recurse(n - 1, depth)  # MARK: recurse_self
    else:
        leaf(depth)  # MARK: recurse_leaf


def main():
    arm_safety_timeout()
    depth = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    sys.setrecursionlimit(max(1000, depth + 100))
    t = threading.Thread(target=chain_entry, name="chain")
    t.daemon = True
    t.start()
    chain_ready.wait()
    time.sleep(0.05)  # let gamma() get from set() into time.sleep
    recurse(depth, depth)  # MARK: main_recurse


if __name__ == "__main__":
    main()
