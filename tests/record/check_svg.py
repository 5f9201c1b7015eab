#!/usr/bin/python3
"""Checks a flame graph SVG written by msttop (src/record/svg.c).

usage: check_svg.py FILE.svg [--expect NAME]... [--search REGEX] [--zoom TEXT]
                    [--shot OUT.png] [--shot-params]

1. The file must parse as XML, and for each --expect some box's <title> must
   hold NAME.
2. Headless chromium opens it twice: once for a screenshot (--shot, else a
   temporary file; with --shot-params on the same URL as the DOM dump), and
   once to dump the DOM after its script ran, on FILE.svg?s=REGEX&z=TEXT.
   Neither run may log a JavaScript console message (the script logs
   nothing, so any is an error). The dump must show the search ran
   ("Matched: X%", X > 0 when REGEX matches an --expect name) and the zoom
   applied (the widest box holding TEXT as wide as the root, "Reset Zoom"
   shown). TEXT is --zoom, else the first --expect.
3. The screenshot must not be blank: more than 10 distinct colours.

Prints "svg ok: ..." and exits 0, or one line per failure and exits 1.
Standard library only.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.parse
import xml.etree.ElementTree as ET
import zlib

from pngread import colour_count, read_png

CHROMIUM = "/usr/bin/chromium"
TIMEOUT = 180  # seconds per Chromium run: a loaded machine is slow; the run ends when the page is done
SVG_NS = "{http://www.w3.org/2000/svg}"


def local(tag):
    return tag.rsplit("}", 1)[-1]


def boxes(root):
    """(title, rect attributes, g attributes) of each box of #frames."""
    out = []
    for g in root.iter():
        if local(g.tag) != "g" or g.get("id") != "frames":
            continue
        for box in g:
            if local(box.tag) != "g":
                continue
            title = rect = None
            for el in box:
                if local(el.tag) == "title":
                    title = "".join(el.itertext())
                elif local(el.tag) == "rect":
                    rect = el.attrib
            if title is not None and rect is not None:
                out.append((title, rect, box.attrib))
    return out


def by_id(root, ident):
    for el in root.iter():
        if el.get("id") == ident:
            return el
    return None


def run_chromium(args, url, tmp):
    """chromium's stdout and stderr, or raises RuntimeError."""
    profile = tempfile.mkdtemp(dir=tmp)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync",
           "--user-data-dir=" + profile, "--enable-logging=stderr", "--v=0",
           "--virtual-time-budget=3000"] + args + [url]
    env = dict(os.environ, HOME=tmp)
    try:
        # A session of its own: on a timeout the whole process tree goes.
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env, cwd=tmp, start_new_session=True)
    except OSError as e:
        raise RuntimeError("cannot run %s: %s" % (CHROMIUM, e))
    try:
        out, err = p.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise RuntimeError("chromium timed out after %d s on %s" % (TIMEOUT, url))
    if p.returncode != 0:
        raise RuntimeError("chromium exited with %d on %s: %s" % (
            p.returncode, url, err.decode(errors="replace").strip().splitlines()[-1:]))
    return out.decode(errors="replace"), err.decode(errors="replace")


def console_errors(stderr):
    return [l.strip() for l in stderr.splitlines() if "CONSOLE" in l or "Uncaught" in l]


def png_colours(path):
    """Width, height and distinct pixel colours of a screenshot."""
    img = read_png(path)
    return img[0], img[1], colour_count(img)


def check(opts, tmp, fails):
    summary = []
    try:
        root = ET.parse(opts.file).getroot()
    except (ET.ParseError, OSError) as e:
        fails.append("%s: not well-formed XML: %s" % (opts.file, e))
        return summary
    if local(root.tag) != "svg":
        fails.append("%s: the root element is <%s>, not <svg>" % (opts.file, local(root.tag)))
    static = boxes(root)
    summary.append("%d boxes" % len(static))
    for name in opts.expect:
        if not any(name in t for t, _, _ in static):
            fails.append("no box title holds %r" % name)

    zoom = opts.zoom if opts.zoom is not None else (opts.expect[0] if opts.expect else None)
    params = {}
    if opts.search:
        params["s"] = opts.search
    if zoom:
        params["z"] = zoom
    base = "file://" + urllib.parse.quote(os.path.abspath(opts.file))
    url = base + ("?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
                  if params else "")

    # The screenshot.
    shot = opts.shot or os.path.join(tmp, "shot.png")
    try:
        _, err = run_chromium(["--screenshot=" + os.path.abspath(shot),
                               "--window-size=1200,900", "--hide-scrollbars"],
                              url if opts.shot_params else base, tmp)
        for line in console_errors(err):
            fails.append("console message (screenshot run): " + line)
        w, h, n = png_colours(shot)
        if n <= 10:
            fails.append("screenshot %s looks blank: %d colours" % (shot, n))
        summary.append("screenshot %dx%d with %d colours" % (w, h, n))
    except (RuntimeError, OSError, ValueError, zlib.error) as e:
        fails.append("screenshot: %s" % e)

    # The DOM once the script ran on ?s=&z=. chromium prints the SVG
    # document serialized, as XML.
    try:
        out, err = run_chromium(["--dump-dom"], url, tmp)
    except RuntimeError as e:
        fails.append("dump-dom: %s" % e)
        return summary
    for line in console_errors(err):
        fails.append("console message (dump-dom run): " + line)
    try:
        dom = ET.fromstring(out)
    except ET.ParseError as e:
        fails.append("the dumped DOM does not parse as XML: %s" % e)
        return summary
    dyn = boxes(dom)
    if len(dyn) != len(static):
        fails.append("the script changed the number of boxes: %d, was %d"
                     % (len(dyn), len(static)))
    if opts.search:
        m = by_id(dom, "matched")
        text = "".join(m.itertext()) if m is not None else ""
        got = re.fullmatch(r"Matched: ([0-9.]+)%", text.strip())
        try:
            rx = re.compile(opts.search)
            should = any(rx.search(n) for n in opts.expect)
        except re.error:
            should = False
        if not got:
            fails.append("search %r did not run: the matched line reads %r" % (opts.search, text))
        elif should and float(got.group(1)) <= 0:
            fails.append("search %r matched %s%%, expected more than 0" % (opts.search, got.group(1)))
        else:
            summary.append("search %r: %s" % (opts.search, text.strip()))
    if zoom:
        unz = by_id(dom, "unzoom")
        if unz is None or "hide" in (unz.get("class") or "").split():
            fails.append("zoom %r: \"Reset Zoom\" is not shown" % zoom)
        full = [float(r["width"]) for t, r, _ in dyn if t.startswith("all ")]
        hits = [(float(r["width"]), t, g) for t, r, g in dyn if zoom in t]
        if not full:
            fails.append("zoom: no root box \"all\"")
        elif not hits:
            fails.append("zoom %r: no box holds it" % zoom)
        else:
            wid, title, g = max(hits, key=lambda x: x[0])
            if abs(wid - full[0]) > 0.5 or "none" in (g.get("style") or ""):
                fails.append("zoom %r did not apply: the widest box is %.2f px, the root %.2f px"
                             % (zoom, wid, full[0]))
            else:
                hidden = sum(1 for _, _, a in dyn if "none" in (a.get("style") or ""))
                summary.append("zoomed to %r (%d boxes hidden)" % (title.split(" \u2014 ")[0],
                                                                   hidden))
    return summary


def main():
    ap = argparse.ArgumentParser(description="Check a flame graph SVG in headless chromium.")
    ap.add_argument("file")
    ap.add_argument("--expect", action="append", default=[], metavar="NAME",
                    help="a box title must hold NAME (repeatable)")
    ap.add_argument("--search", metavar="REGEX", help="run the search at load (?s=)")
    ap.add_argument("--zoom", metavar="TEXT", help="zoom at load (?z=), default the first --expect")
    ap.add_argument("--shot", metavar="OUT.png", help="keep the screenshot there")
    ap.add_argument("--shot-params", action="store_true",
                    help="take the screenshot with the search and zoom applied")
    opts = ap.parse_args()
    fails = []
    with tempfile.TemporaryDirectory(prefix="check_svg.") as tmp:
        summary = check(opts, tmp, fails)
    if fails:
        for f in fails:
            print("svg FAIL: %s: %s" % (opts.file, f))
        return 1
    print("svg ok: %s: %s" % (opts.file, ", ".join(summary)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
