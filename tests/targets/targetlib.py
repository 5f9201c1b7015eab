"""Helpers every Python test target shares (imported from the script's own
directory, which Python puts first on sys.path). Runs on CPython 3.6+."""
import ctypes
import os
import signal
import threading


def native_tid():
    """Kernel tid of the calling thread (get_native_id is 3.8+)."""
    try:
        return threading.get_native_id()
    except AttributeError:
        return ctypes.CDLL(None).syscall(186)  # SYS_gettid on x86_64


def arm_safety_timeout():
    """SIGALRM with its default action kills us even while in native code,
    so no target outlives its test: $MSTTOP_TARGET_TIMEOUT seconds (default
    300, 0 = never)."""
    try:
        secs = int(os.environ.get("MSTTOP_TARGET_TIMEOUT", "300"))
    except ValueError:
        secs = 300
    signal.signal(signal.SIGALRM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGALRM])
    if secs > 0:
        signal.alarm(secs)
