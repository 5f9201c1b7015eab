"""py_gil: one thread holds the GIL, one waits for it, one is idle.

The switch interval is raised to 1000 s, so the GIL only changes hands when
its holder releases it voluntarily; the spinning thread never does, which
makes the roles below stable for the whole run (not just statistically):

  thread "spin":    spin_main() -> spin(), a pure-Python busy loop holding the
                    GIL (marker spin_loop; spin_main calls spin on
                    marker call_spin).
  thread "contend": contend() sleeping 1 ms in a loop (marker contend_sleep);
                    on wake-up time.sleep tries to retake the GIL and stays
                    blocked in take_gil (native) with contend() as the top
                    Python frame.
  thread "idle":    idle() blocked in threading.Event().wait()
                    (marker idle_wait), GIL released.
  main thread:      blocked in threading.Event().wait() (marker main_wait).

Usage: py_gil.py
Ready line (written by spin() with a raw write(2) that keeps the GIL, after
0.3 s of spinning, by which time "contend" is in take_gil):
    ready spin=<tid> contend=<tid> idle=<tid> main=<tid>
Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300); the
timeout is SIGALRM with its default action, which needs no GIL.
"""
import ctypes
import sys
import threading
import time

from targetlib import arm_safety_timeout, native_tid

tids = {}
idle_ready = threading.Event()
contend_ready = threading.Event()
main_waiting = []
# PyDLL: calls the function without releasing the GIL.
raw_write = ctypes.PyDLL(None).write
raw_write.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
raw_write.restype = ctypes.c_ssize_t


def idle():
    tids["idle"] = native_tid()
    idle_ready.set()
    threading.Event().wait()  # MARK: idle_wait


def contend():
    tids["contend"] = native_tid()
    contend_ready.set()
    while True:
        time.sleep(0.001)  # MARK: contend_sleep


def spin():
    warm_until = time.monotonic() + 0.3
    while time.monotonic() < warm_until:
        pass
    line = "ready spin=%d contend=%d idle=%d main=%d\n" % (
        tids["spin"], tids["contend"], tids["idle"], tids["main"])
    data = line.encode("ascii")
    raw_write(1, data, len(data))
    n = 0
    while True: n += 1  # MARK: spin_loop


def spin_main():
    tids["spin"] = native_tid()
    # Give the GIL back until main() is in its final wait.
    while not main_waiting:
        time.sleep(0.01)
    time.sleep(0.05)
    spin()  # MARK: call_spin


def start(target, name):
    t = threading.Thread(target=target, name=name)
    t.daemon = True
    t.start()


def main():
    arm_safety_timeout()
    tids["main"] = native_tid()
    sys.setswitchinterval(1000.0)
    start(idle, "idle")
    idle_ready.wait()
    start(contend, "contend")
    contend_ready.wait()
    time.sleep(0.05)
    start(spin_main, "spin")
    main_waiting.append(True)
    threading.Event().wait()  # MARK: main_wait


if __name__ == "__main__":
    main()
