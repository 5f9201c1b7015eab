#!/usr/bin/env python3
"""Check a Chrome/Perfetto trace msttop wrote (Trace Event Format, JSON object).

Usage: check_trace.py FILE [--busy TID]... [--expect NAME]... [--gil-cover F]
                        [--moved TID WALL OLD NEW]...

Checks, one line per failure, exit 1 if any:
- the file is JSON with a traceEvents list; every complete event ("X") has
  numeric ts >= 0 and dur > 0, a pid and a tid;
- process_name and a thread_name for every thread track are there;
- on every track the complete events nest (a flame chart): two events of
  one track either do not overlap or one holds the other;
- the GIL spans never overlap across threads, neither on the "GIL holder"
  track nor between the per-thread "holds GIL" tracks, and both agree;
- for each --busy TID (a thread running pure Python), its GIL spans cover
  at least 90% (--gil-cover F: F) of the time of its outermost stack
  slices: a thread on a CPU in Python holds the GIL;
- each --expect NAME is the name of some stack slice (a substring);
- for each --moved TID WALL OLD NEW (thread TID left the function named
  like OLD for one named like NEW at wall clock WALL, time.time(), and stays
  there): TID's track holds an OLD slice before WALL, no OLD slice ending
  after it (a sample at a tick that began after the change showed the old
  stack: a shortcut kept what had changed), and a NEW slice after it;
  otherData.start_unix_us lines the clocks up.
Prints "trace ok: ..." with figures on success.
"""
import json
import sys


def fail(msgs, m):
    msgs.append(m)


def overlap(a0, a1, spans):
    """Time of [a0, a1) covered by the sorted, disjoint spans."""
    t = 0.0
    for s0, s1 in spans:
        if s1 <= a0:
            continue
        if s0 >= a1:
            break
        t += min(a1, s1) - max(a0, s0)
    return t


def main(argv):
    path = argv[1]
    busy, expect, moved = [], [], []
    cover = 0.9
    i = 2
    while i < len(argv):
        if argv[i] == "--busy":
            busy.append(int(argv[i + 1]))
            i += 2
        elif argv[i] == "--expect":
            expect.append(argv[i + 1])
            i += 2
        elif argv[i] == "--moved":
            moved.append((int(argv[i + 1]), float(argv[i + 2]), argv[i + 3], argv[i + 4]))
            i += 5
        elif argv[i] == "--gil-cover":
            cover = float(argv[i + 1])
            i += 2
        else:
            print("check_trace: unknown argument %s" % argv[i])
            return 2
    msgs = []
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print("trace: not JSON: %s" % e)
        return 1
    evs = doc.get("traceEvents") if isinstance(doc, dict) else None
    if not isinstance(evs, list):
        print("trace: no traceEvents list")
        return 1
    names = {}
    process_named = False
    tracks = {}
    for e in evs:
        ph = e.get("ph")
        if ph == "M":
            if e.get("name") == "process_name":
                process_named = True
            elif e.get("name") == "thread_name":
                names[e.get("tid")] = e.get("args", {}).get("name", "")
            continue
        if ph != "X":
            continue
        ts, dur = e.get("ts"), e.get("dur")
        if not isinstance(ts, (int, float)) or not isinstance(dur, (int, float)) \
                or ts < 0 or dur <= 0 or "pid" not in e or "tid" not in e:
            fail(msgs, "trace: a bad complete event: %r" % e)
            continue
        tracks.setdefault(e["tid"], []).append((float(ts), float(ts) + float(dur), e))
    if not process_named:
        fail(msgs, "trace: no process_name metadata")
    for tid in tracks:
        if tid not in names:
            fail(msgs, "trace: track %s has no thread_name" % tid)
    # Nesting on every track.
    eps = 1e-3  # the file's microseconds have 3 decimals
    for tid, evl in tracks.items():
        evl.sort(key=lambda x: (x[0], -x[1]))
        stack = []
        for s0, s1, e in evl:
            while stack and stack[-1] <= s0 + eps:
                stack.pop()
            if stack and s1 > stack[-1] + eps:
                fail(msgs, "trace: on track %s (%s), %r overlaps its parent without nesting"
                     % (tid, names.get(tid), e.get("name")))
                break
            stack.append(s1)
    # GIL: the per-thread "holds GIL" tracks, by the thread they belong to.
    gil_of = {}
    holder_track = None
    for tid, n in names.items():
        if n == "GIL holder":
            holder_track = tid
        elif n.endswith(": holds GIL"):
            gil_of[n[:-len(": holds GIL")]] = sorted((a, b) for a, b, _ in tracks.get(tid, []))
    allgil = sorted((a, b, who) for who, sp in gil_of.items() for a, b in sp)
    for (a0, a1, w0), (b0, b1, w1) in zip(allgil, allgil[1:]):
        if b0 < a1 - eps:
            fail(msgs, "trace: GIL spans of %s and %s overlap at %.3f us" % (w0, w1, b0))
            break
    if holder_track is None:
        fail(msgs, "trace: no \"GIL holder\" track")
    else:
        hold = sorted((a, b, e.get("name")) for a, b, e in tracks.get(holder_track, []))
        if [(a, b) for a, b, _ in hold] != [(a, b) for a, b, _ in allgil]:
            fail(msgs, "trace: the GIL holder track and the threads' GIL tracks disagree")
    # Busy threads: their outermost stack slices are under their GIL spans.
    for tid in busy:
        label = names.get(tid)
        if label is None:
            fail(msgs, "trace: no track for busy thread %d" % tid)
            continue
        spans = [(a, b) for a, b in gil_of.get(label, [])]
        evl = sorted(tracks.get(tid, []), key=lambda x: (x[0], -x[1]))
        outer, end = [], -1.0
        for s0, s1, _ in evl:
            if s0 >= end - eps:
                outer.append((s0, s1))
                end = s1
        total = sum(b - a for a, b in outer)
        covered = sum(overlap(a, b, spans) for a, b in outer)
        if total <= 0:
            fail(msgs, "trace: busy thread %d (%s) has no stack slices" % (tid, label))
        elif covered < cover * total:
            fail(msgs, "trace: busy thread %d (%s): GIL spans cover %.0f%% of its %.1f ms "
                 "on a CPU" % (tid, label, 100 * covered / total, total / 1000))
    # Threads that changed at a known time: never shown as they were after.
    start = (doc.get("otherData") or {}).get("start_unix_us")
    notes = []
    for tid, wall, old, new in moved:
        if not isinstance(start, (int, float)):
            fail(msgs, "trace: no otherData.start_unix_us to place %d's change" % tid)
            break
        at = wall * 1e6 - start
        tol = 1000.0  # the two clocks, each read once: well under a millisecond
        evl = tracks.get(tid, [])
        olds = [b for a, b, e in evl if old in e.get("name", "")]
        news = [a for a, b, e in evl if new in e.get("name", "") and b > at]
        late = [b for b in olds if b > at + tol]
        if not olds:
            fail(msgs, "trace: thread %d never shown in %s before its change" % (tid, old))
        if late:
            fail(msgs, "trace: thread %d shown in %s %.1f ms after it left it"
                 % (tid, old, (max(late) - at) / 1000))
        if not news:
            fail(msgs, "trace: thread %d never shown in %s after its change" % (tid, new))
        else:
            # The first sample after it covers the tick the change fell in.
            notes.append("%d's first %s sample covers from %.1f ms after its change"
                         % (tid, new, (min(news) - at) / 1000))
    slice_names = set(e.get("name", "") for evl in tracks.values() for _, _, e in evl)
    for x in expect:
        if not any(x in n for n in slice_names):
            fail(msgs, "trace: no slice named like %r" % x)
    if msgs:
        for m in msgs:
            print(m)
        return 1
    print("trace ok: %d events on %d tracks, %d GIL spans over %d threads%s"
          % (sum(len(v) for v in tracks.values()), len(tracks), len(allgil), len(gil_of),
             "".join("; " + n for n in notes)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
