#!/usr/bin/env python3
"""Decode a pprof profile written by msttop and print it as JSON.

Usage: check_pprof.py FILE.pb.gz

The file is gunzipped and decoded with protoc (the schema of Debian's
golang-github-google-pprof-dev), so what is checked is the file as a
protobuf reader other than ours sees it. Printed on stdout:

  {"samples_total": N, "ns_total": N,
   "sample_types": [{"type": "samples", "unit": "count"}, ...],
   "period_type": {...}, "period": N, "time_nanos": N, "duration_nanos": N,
   "default_sample_type": "cpu",
   "stacks": [{"frames": [label, ...root first], "thread": name or "",
               "thread_label": "name (tid N)", "tid": N,
               "states": [state label values, in file order],
               "samples": N, "ns": N}],
   "mappings": [{"filename": ..., "build_id": ..., "memory_start": N,
                 "memory_limit": N}],
   "comments": [...]}

A frame's label is the text the collapsed format writes for it (text.c's
rec_frame_label): "function (file:line)" or "function (file)" for Python
frames, "function [module file name]" for native ones, "function" for native
frames without a module, with ';' made ':' and newlines spaces. msttop's
pprof gives every native Location a Mapping (an unnamed one when the module
is unknown) and Python Locations none: that is how the two are told apart.
thread_label is rec_thread_label's text. Names that were not UTF-8 hold
U+FFFD in the profile, as Python's decode("utf-8", "replace") would make
them.

Exit status 1, with one line on stderr, when the file cannot be read or
protoc cannot decode it.
"""

import gzip
import json
import os
import re
import subprocess
import sys

PROTO_DIR = "/usr/share/gocode/src/github.com/google/pprof/proto"


def fail(msg):
    sys.stderr.write("check_pprof: %s\n" % msg)
    sys.exit(1)


_ESC = {"n": 10, "r": 13, "t": 9, "a": 7, "b": 8, "f": 12, "v": 11,
        "\\": 92, "'": 39, '"': 34, "?": 63}


def unescape(s):
    """The bytes of a text-format string literal (C escapes, octal, hex)."""
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        i += 1
        c = s[i]
        if c in _ESC:
            out.append(_ESC[c])
            i += 1
        elif c in "01234567":
            m = re.match(r"[0-7]{1,3}", s[i:])
            out.append(int(m.group(0), 8) & 0xFF)
            i += len(m.group(0))
        elif c == "x":
            m = re.match(r"[0-9a-fA-F]{1,2}", s[i + 1:])
            out.append(int(m.group(0), 16))
            i += 1 + len(m.group(0))
        elif c in "uU":
            n = 4 if c == "u" else 8
            out += chr(int(s[i + 1:i + 1 + n], 16)).encode("utf-8")
            i += 1 + n
        else:
            raise ValueError("unknown escape \\%s" % c)
    return bytes(out)


def parse_text(text):
    """protoc's text format as nested dicts: field name -> list of values
    (int, bytes for strings, bool, or a dict for a message)."""
    root = {}
    stack = [root]
    # protoc writes one field per line: "name {", "}" or "name: value".
    for lineno, line in enumerate(text.splitlines(), 1):
        t = line.strip()
        if not t:
            continue
        if t == "}":
            stack.pop()
            if not stack:
                raise ValueError("line %d: unbalanced '}'" % lineno)
            continue
        if t.endswith("{") and ":" not in t:
            msg = {}
            stack[-1].setdefault(t[:-1].strip(), []).append(msg)
            stack.append(msg)
            continue
        name, colon, value = t.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not name.isidentifier():
            raise ValueError("line %d: cannot parse %r" % (lineno, line))
        if value.startswith('"'):
            if not value.endswith('"') or len(value) < 2:
                raise ValueError("line %d: unterminated string" % lineno)
            v = unescape(value[1:-1])
        elif value in ("true", "false"):
            v = value == "true"
        else:
            v = int(value, 0)
        stack[-1].setdefault(name, []).append(v)
    if len(stack) != 1:
        raise ValueError("unterminated message")
    return root


def one(msg, name, default=0):
    vals = msg.get(name)
    return vals[-1] if vals else default


def clean(label):
    """rec_frame_label's: the folded format has no quoting."""
    return label.replace(";", ":").replace("\n", " ").replace("\r", " ")


def main():
    if len(sys.argv) != 2:
        fail("usage: check_pprof.py FILE.pb.gz")
    path = sys.argv[1]
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        fail("%s: not a readable gzip file: %s" % (path, e))
    if not raw:
        fail("%s: empty" % path)
    try:
        p = subprocess.run(
            ["protoc", "--decode", "perftools.profiles.Profile", "-I", PROTO_DIR,
             "profile.proto"],
            input=raw, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        fail("cannot run protoc: %s" % e)
    if p.returncode != 0:
        err = p.stderr.decode("utf-8", "replace").strip().replace("\n", "; ")
        fail("protoc cannot decode %s: %s" % (path, err or "exit %d" % p.returncode))
    # protoc prints a message it could not parse fully with a warning on
    # stderr and exit status 0: that is a broken file too.
    if p.stderr.strip():
        fail("protoc warns on %s: %s" % (
            path, p.stderr.decode("utf-8", "replace").strip().replace("\n", "; ")))
    try:
        prof = parse_text(p.stdout.decode("utf-8", "replace"))
    except (ValueError, IndexError, AttributeError) as e:
        fail("cannot parse protoc's output: %s" % e)

    strings = [b.decode("utf-8", "replace") for b in prof.get("string_table", [])]
    if not strings or strings[0] != "":
        fail("string_table[0] is not \"\"")

    def s(i):
        if not 0 <= i < len(strings):
            fail("string index %d out of range (%d strings)" % (i, len(strings)))
        return strings[i]

    def by_id(name):
        out = {}
        for m in prof.get(name, []):
            i = one(m, "id")
            if i == 0 or i in out:
                fail("%s id %d is 0 or not unique" % (name, i))
            out[i] = m
        return out

    functions = by_id("function")
    locations = by_id("location")
    mappings = by_id("mapping")

    cache = {}

    def labels_of(loc_id):
        """The location's frames, root first (pprof lists a location's
        lines innermost first)."""
        if loc_id not in cache:
            cache[loc_id] = make_labels(loc_id)
        return cache[loc_id]

    def make_labels(loc_id):
        loc = locations.get(loc_id)
        if loc is None:
            fail("sample names location %d, which is not there" % loc_id)
        mid = one(loc, "mapping_id")
        if mid and mid not in mappings:
            fail("location %d names mapping %d, which is not there" % (loc_id, mid))
        module = s(one(mappings[mid], "filename")) if mid else None
        out = []
        for line in reversed(loc.get("line", [])):
            fn = functions.get(one(line, "function_id"))
            if fn is None:
                fail("location %d names a missing function" % loc_id)
            name = s(one(fn, "name")) or "??"
            if module is None:  # Python
                file, ln = s(one(fn, "filename")), one(line, "line")
                label = "%s (%s:%d)" % (name, file, ln) if ln else "%s (%s)" % (name, file)
            elif module:
                label = "%s [%s]" % (name, os.path.basename(module))
            else:
                label = name
            out.append(clean(label))
        return out

    sample_types = [{"type": s(one(t, "type")), "unit": s(one(t, "unit"))}
                    for t in prof.get("sample_type", [])]
    stacks = []
    samples_total = ns_total = 0
    for smp in prof.get("sample", []):
        vals = smp.get("value", [])
        if len(vals) != len(sample_types):
            fail("a sample has %d values for %d types" % (len(vals), len(sample_types)))
        frames = []
        for lid in reversed(smp.get("location_id", [])):
            frames += labels_of(lid)
        thread, tid, states = "", None, []
        for lab in smp.get("label", []):
            key = s(one(lab, "key"))
            if key == "thread":
                thread = s(one(lab, "str"))
            elif key == "tid":
                tid = one(lab, "num")
            elif key == "state":
                states.append(s(one(lab, "str")))
        samples_total += vals[0]
        ns_total += vals[1] if len(vals) > 1 else 0
        stacks.append({
            "frames": frames,
            "thread": thread,
            "thread_label": clean("%s (tid %d)" % (thread or "thread", tid or 0)),
            "tid": tid,
            "states": states,
            "samples": vals[0],
            "ns": vals[1] if len(vals) > 1 else 0,
        })

    pt = (prof.get("period_type") or [{}])[0]
    doc = {
        "samples_total": samples_total,
        "ns_total": ns_total,
        "sample_types": sample_types,
        "period_type": {"type": s(one(pt, "type")), "unit": s(one(pt, "unit"))},
        "period": one(prof, "period"),
        "time_nanos": one(prof, "time_nanos"),
        "duration_nanos": one(prof, "duration_nanos"),
        "default_sample_type": s(one(prof, "default_sample_type")),
        "stacks": stacks,
        "mappings": [{"filename": s(one(m, "filename")), "build_id": s(one(m, "build_id")),
                      "memory_start": one(m, "memory_start"),
                      "memory_limit": one(m, "memory_limit")}
                     for m in prof.get("mapping", [])],
        "comments": [s(i) for i in prof.get("comment", [])],
    }
    out = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    sys.stdout.buffer.write(out.encode("utf-8"))


if __name__ == "__main__":
    main()
