"""Dump the line tables of stdlib code objects with CPython's own answers.

Run by tests/py/test_py_decode.c under every installed interpreter (3.6+;
keep this file free of syntax newer than 3.6). For every code object
(recursively through co_consts) of the modules below it prints one line:

    C <firstlineno> <table hex or -> <n> <line at unit 0> ... <line at unit n-1>

where the table is the raw co_lnotab (3.6-3.9) or co_linetable (3.10+) and the
lines are PyCode_Addr2Line(code, 2 * unit) through ctypes, i.e. CPython's C
answer at every instruction offset (-1 = no line). A second, independent
Python-level answer is compared here too (dis.findlinestarts for 3.6-3.9,
co_lines() for 3.10+, co_positions() for 3.11+); the last line is

    S <codes> <offsets> <disagreements between the two CPython answers>
"""
import ctypes
import dis
import importlib
import sys
import types

MODULES = [
    "os", "re", "json.decoder", "json.encoder", "argparse", "collections",
    "dis", "inspect", "textwrap", "difflib", "string", "typing", "ast",
    "tokenize", "pathlib", "email.message", "unittest.case", "threading",
    "asyncio.base_events", "decimal", "_pydecimal", "calendar", "pickle",
]

addr2line = ctypes.pythonapi.PyCode_Addr2Line
addr2line.argtypes = [ctypes.py_object, ctypes.c_int]
addr2line.restype = ctypes.c_int

V = sys.version_info[:2]


def codes_of(co, seen):
    if id(co) in seen:
        return
    seen.add(id(co))
    yield co
    for c in co.co_consts:
        if isinstance(c, types.CodeType):
            for x in codes_of(c, seen):
                yield x


def module_codes(name):
    mod = importlib.import_module(name)
    path = getattr(mod, "__file__", None)
    if not path or not path.endswith(".py"):
        return []
    with open(path, "rb") as f:
        src = f.read()
    return list(codes_of(compile(src, path, "exec"), set()))


def other_answer(co, n):
    """Line per unit from a Python-level API, or None if there is none."""
    out = [None] * n
    if V >= (3, 11):
        # co_positions() yields one (line, endline, col, endcol) per unit.
        for i, pos in enumerate(co.co_positions()):
            if i < n:
                out[i] = -1 if pos[0] is None else pos[0]
        return out
    if V >= (3, 10):
        for start, end, line in co.co_lines():
            for b in range(start, end, 2):
                if b // 2 < n:
                    out[b // 2] = -1 if line is None else line
        return out
    starts = list(dis.findlinestarts(co))
    cur = co.co_firstlineno
    j = 0
    for i in range(n):
        while j < len(starts) and starts[j][0] <= 2 * i:
            cur = starts[j][1]
            j += 1
        out[i] = cur
    return out


def main():
    ncodes = noffs = ndis = 0
    w = sys.stdout.write
    for name in MODULES:
        try:
            codes = module_codes(name)
        except Exception:  # a module missing from one version is fine
            continue
        for co in codes:
            table = co.co_lnotab if V < (3, 10) else co.co_linetable
            n = len(co.co_code) // 2
            lines = [addr2line(co, 2 * i) for i in range(n)]
            other = other_answer(co, n)
            for a, b in zip(lines, other):
                if b is not None and a != b:
                    ndis += 1
            w("C %d %s %d %s\n" % (co.co_firstlineno, table.hex() or "-", n,
                                  " ".join(str(x) for x in lines)))
            ncodes += 1
            noffs += n
    w("S %d %d %d\n" % (ncodes, noffs, ndis))


main()
