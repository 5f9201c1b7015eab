"""py_subproc: a process with Python and non-Python children, for
--dump --subprocesses.

Children, each blocked in a function of its own until killed:
  - a multiprocessing pool of 2 forked workers, each in pool_task()
    (marker pool_sleep);
  - a process of the "spawn" context (a fresh interpreter) in spawn_task()
    (marker spawn_sleep);
  - a subprocess.Popen of this interpreter running child_task() of this file
    (marker child_sleep), through "-c";
  - a subprocess.Popen of "sleep", which is no Python at all.
The main thread waits in main() (marker main_wait).

Usage: py_subproc.py [--churn]
  --churn: after the ready line, start a short-lived child every half
  second: a Popen of this interpreter in churn_task() (marker churn_sleep),
  which exits after a second; children that come and go while msttop runs.
Ready line (once every child is in its function):
    ready pool=<pid>,<pid> spawn=<pid> child=<pid> sleep=<pid>
Exits by itself after $MSTTOP_TARGET_TIMEOUT seconds (default 300); its
children die with it (they share its process group, which the tests kill).
"""
import multiprocessing
import os
import subprocess
import sys
import time

from targetlib import arm_safety_timeout


POOL_Q = []  # the forked workers inherit the queue: a Queue cannot be an argument


def pool_task():
    POOL_Q[0].put(os.getpid())
    while True:
        time.sleep(1000)  # MARK: pool_sleep


def spawn_task(ready):
    arm_safety_timeout()
    ready.put(os.getpid())
    while True:
        time.sleep(1000)  # MARK: spawn_sleep


def child_task():
    arm_safety_timeout()
    sys.stdout.write("child ready\n")
    sys.stdout.flush()
    while True:
        time.sleep(1000)  # MARK: child_sleep


def churn_task():
    arm_safety_timeout()
    t = time.time()
    while time.time() - t < 1.0:
        time.sleep(0.05)  # MARK: churn_sleep


def main():
    arm_safety_timeout()
    fork = multiprocessing.get_context("fork")
    POOL_Q.append(fork.Queue())
    pool = fork.Pool(2)
    for _ in range(2):
        pool.apply_async(pool_task)
    spawn = multiprocessing.get_context("spawn")
    sq = spawn.Queue()
    sp = spawn.Process(target=spawn_task, args=(sq,), name="spawned")
    sp.start()
    here = os.path.dirname(os.path.abspath(__file__))
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; sys.path.insert(0, %r); import py_subproc; py_subproc.child_task()" % here],
        stdout=subprocess.PIPE)
    child.stdout.readline()
    sleeper = subprocess.Popen(["sleep", "1000"])
    pool_pids = sorted([POOL_Q[0].get(timeout=120), POOL_Q[0].get(timeout=120)])
    spawn_pid = sq.get(timeout=120)
    sys.stdout.write("ready pool=%d,%d spawn=%d child=%d sleep=%d\n"
                     % (pool_pids[0], pool_pids[1], spawn_pid, child.pid, sleeper.pid))
    sys.stdout.flush()
    if "--churn" in sys.argv:
        code = "import sys; sys.path.insert(0, %r); import py_subproc; py_subproc.churn_task()" % here
        kids = []
        while True:
            kids.append(subprocess.Popen([sys.executable, "-c", code]))
            kids = [k for k in kids if k.poll() is None]
            time.sleep(0.5)
    while True:
        time.sleep(1000)  # MARK: main_wait


if __name__ == "__main__":
    main()
