#!/usr/bin/env python3
"""Compare a pprof file and a collapsed file of the same recording.

Usage: same_counts.py FILE.folded FILE.pb.gz

Decodes the pprof file with check_pprof.py (protoc against pprof's
profile.proto), keys every sample by "thread (tid N);frame;frame..." as the
collapsed format writes it, and checks that both files hold the same stacks
with the same sample counts. Prints "counts ok: N samples in M stacks", or
one line per difference (the first few) and exits 1.
"""
import json
import os
import subprocess
import sys


def collapsed(path):
    stacks = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                raise ValueError("%s:%d: not 'stack count': %r" % (path, n, line))
            stacks[stack] = stacks.get(stack, 0) + int(count)
    return stacks


def pprof(path):
    here = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run([sys.executable, os.path.join(here, "check_pprof.py"), path],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise ValueError("check_pprof.py failed: %s%s" % (r.stdout, r.stderr))
    doc = json.loads(r.stdout)
    stacks = {}
    for s in doc["stacks"]:
        key = ";".join(["%s (tid %d)" % (s["thread"], s["tid"])] + s["frames"])
        stacks[key] = stacks.get(key, 0) + s["samples"]
    return stacks, doc


def main(argv):
    try:
        a = collapsed(argv[1])
        b, doc = pprof(argv[2])
    except (OSError, ValueError, KeyError) as e:
        print("counts: %s" % e)
        return 1
    diffs = []
    for k in sorted(set(a) | set(b)):
        if a.get(k, 0) != b.get(k, 0):
            diffs.append("counts: %d in collapsed, %d in pprof: %s"
                         % (a.get(k, 0), b.get(k, 0), k[:300]))
    total = sum(a.values())
    if doc.get("samples_total") is not None and doc["samples_total"] != total:
        diffs.insert(0, "counts: pprof says %s samples in all, collapsed %d"
                     % (doc["samples_total"], total))
    if diffs:
        for d in diffs[:8]:
            print(d)
        return 1
    print("counts ok: %d samples in %d stacks" % (total, len(a)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
