"""py_cext: Python -> a compiled C extension -> Python.

Compiles tests/targets/cext.c against this interpreter's own headers (from
sysconfig; Debian's multiarch pyconfig.h through the directory above) into
a temporary directory, imports it, and runs
    main() -> outer() -> msttop_cext.call -> cext_outer -> cext_inner
    -> callback() -> time.sleep
MARKs: main_outer (main calls outer), cext_call (outer calls the
extension), cb_sleep (callback sleeps).

Usage: py_cext.py
Ready line (printed from callback() right before it sleeps):
    ready tid=<native tid of the main thread>
A failed build prints "cext build failed: ..." and exits 3.
The build's directory is removed as soon as the module is imported: the
harness ends targets with SIGKILL, which runs no atexit, and each run left
one behind in /tmp. The extension is then a deleted file that stays mapped,
which msttop reads through /proc/PID/map_files (as a library upgraded under
a running service).
Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300).
"""
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time

from targetlib import arm_safety_timeout, native_tid

HERE = os.path.dirname(os.path.abspath(__file__))


def build():
    out = tempfile.mkdtemp(prefix="msttop-cext-")
    inc = sysconfig.get_paths()["include"]
    suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
    so = os.path.join(out, "msttop_cext" + suffix)
    cmd = [os.environ.get("CC", "cc"), "-shared", "-fPIC", "-O1", "-g", "-w",
           "-I" + inc, "-I" + os.path.dirname(inc),
           os.path.join(HERE, "cext.c"), "-o", so]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        shutil.rmtree(out, True)
        sys.stdout.write("cext build failed: %s\n" % p.stdout.decode(errors="replace")[:300])
        sys.stdout.flush()
        sys.exit(3)
    sys.path.insert(0, out)
    try:
        import msttop_cext  # noqa: F401 (mapped now; outer() imports it again)
    finally:
        sys.path.remove(out)
        shutil.rmtree(out, True)


def callback():
    sys.stdout.write("ready tid=%d\n" % native_tid())
    sys.stdout.flush()
    while True:
        time.sleep(1000)  # MARK: cb_sleep


def outer():
    import msttop_cext
    msttop_cext.call(callback)  # MARK: cext_call


def main():
    arm_safety_timeout()
    build()
    outer()  # MARK: main_outer


if __name__ == "__main__":
    main()
