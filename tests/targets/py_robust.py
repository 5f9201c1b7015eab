"""py_robust: a process that changes under the sampler.

Usage: py_robust.py MODE
  exit     exit(0) 1 s after the ready line, two threads spinning till then
  exec     1 s after ready, os.execv("/bin/sleep", ["sleep", "60"])
  fork     fork a child that spins in Python; both keep running
           (ready line: child=<pid>)
  churn    create and join threads at >= 500 per second until killed
           (reports nothing; the main thread loops)
  gilflip  four threads spinning with sys.setswitchinterval(1e-6), so the
           GIL changes hands all the time
  exitsig  two threads spinning; on SIGUSR1 the process exits with 0
           (os._exit, from the main thread's signal handler). The spinners
           block SIGUSR1: a traced thread that is stopped (for a sample)
           when a signal comes is passed over by the kernel, which would
           hand the signal to a spinner, and CPython's main thread, asleep
           in time.sleep, would not notice it. Only the main thread can
           take it here, once it runs again.
  churncount
           churn as above until killed, printing "churned N" (threads
           created so far) once a second, flushed, so a test can measure
           the rate
Ready line: "ready mode=MODE ..." printed once the mode's state is reached.
"""
import os
import signal
import sys
import threading
import time

from targetlib import arm_safety_timeout


def spin():
    n = 0
    while True:
        n += 1


def start_spinners(k, block=()):
    def run():
        if block:
            signal.pthread_sigmask(signal.SIG_BLOCK, block)
        spin()

    for i in range(k):
        threading.Thread(target=run, name="spin-%d" % i, daemon=True).start()


def short_life():
    sum(range(200))


def main():
    arm_safety_timeout()
    mode = sys.argv[1]
    if mode == "exit":
        start_spinners(2)
        print("ready mode=exit", flush=True)
        time.sleep(1)
        os._exit(0)
    elif mode == "exec":
        start_spinners(2)
        print("ready mode=exec", flush=True)
        time.sleep(1)
        os.execv("/bin/sleep", ["sleep", "60"])
    elif mode == "fork":
        pid = os.fork()
        if pid == 0:
            spin()
        start_spinners(1)
        print("ready mode=fork child=%d" % pid, flush=True)
        time.sleep(1000)
    elif mode == "churn":
        print("ready mode=churn", flush=True)
        # Until killed (or the safety alarm): the stress run samples it
        # for a full minute and then some.
        while True:
            ts = [threading.Thread(target=short_life) for _ in range(10)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
    elif mode == "exitsig":
        signal.signal(signal.SIGUSR1, lambda *_: os._exit(0))
        start_spinners(2, block=[signal.SIGUSR1])
        print("ready mode=exitsig", flush=True)
        while True:
            time.sleep(1000)
    elif mode == "churncount":
        print("ready mode=churncount", flush=True)
        made = 0
        report = time.time() + 1
        while True:
            ts = [threading.Thread(target=short_life) for _ in range(10)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            made += len(ts)
            if time.time() >= report:
                print("churned %d" % made, flush=True)
                report += 1
    elif mode == "gilflip":
        sys.setswitchinterval(1e-6)
        start_spinners(4)
        print("ready mode=gilflip", flush=True)
        time.sleep(1000)


if __name__ == "__main__":
    main()
