#!/usr/bin/env python3
"""Checks that a speedscope file opens in speedscope itself, as a person would.

Usage: check_speedscope.py FILE [--expect NAME]... [--shot OUT.png]

1. validate_speedscope.mjs (node, ajv) checks the file against the schema
   that speedscope's npm package ships;
2. speedscope's release (node_modules/speedscope/dist/release) and the
   file's directory are served from 127.0.0.1 on a free port, and headless
   Chromium (/usr/bin/chromium) opens index.html#profileURL=<the file>;
3. its screenshot must be a drawn chart: not blank, not speedscope's empty
   drop screen (a screenshot of index.html without a profile), and with the
   coloured boxes of a flame chart when the file's first profile has
   samples;
4. Chromium's log must show no uncaught JS error, no error speedscope logs
   and no alert, and the page must have finished loading;
5. the page's DOM must hold the file's name (speedscope's title), each
   profile's name (its thread selector) and each --expect NAME. speedscope
   draws the chart on a canvas, so frame names are looked for in its
   sandwich view, the one view that lists them as text, one profile at a
   time: that of activeProfileIndex first; a name not found there is looked
   for in the first other profile whose samples hold a frame of that name,
   opened from a copy of the file with activeProfileIndex changed. The page
   is made tall for this, as its table draws only the rows in sight: the
   heaviest ~400 frames of a profile can be found.

The node_modules holding speedscope and ajv: $MSTTOP_NODE_MODULES, else
tests/record/node_modules (npm ci of package.json beside this script).
--shot OUT.png keeps the screenshot; MSTTOP_CHECK_KEEP=1 keeps the
temporary directory (Chromium's logs, the DOM dumps). Prints
"speedscope ok: ..." and exits 0, or one line per failure and exits 1
(2 for a usage error). Standard library only.
"""

import argparse
import html.parser
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import urllib.parse
import zlib

from pngread import pixels, read_png

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 180  # seconds, for every process run (a loaded machine is slow, the waits end on events)
HOLD = 120  # seconds a page may take to load and draw its profile
CHROMIUM = os.environ.get("MSTTOP_CHROMIUM", "/usr/bin/chromium")
WIDTH, HEIGHT = 1400, 900
# speedscope's toolbar (the view buttons, title, Export/Import) is the top
# 20 px; below it is the chart, whose frames are coloured boxes.
CHART_TOP = 24
# The window of the DOM dumps: tall enough for the sandwich table's rows.
DOM_HEIGHT = 8000

# index.html as served: speedscope's own, with this script ahead of it.
#
# Chromium takes its screenshot or DOM dump when the virtual time budget
# runs out, and virtual time runs while the page is idle: speedscope, idle
# between its import and the animation frame in which it draws (or lays
# out the sandwich table's rows), was caught half drawn about once in six
# runs. So the page holds a request to /__hold open (virtual time waits
# for pending fetches) until it is drawn, and then asks /__ready, which
# ends the hold and tells the server how the page ended: "ready", "error"
# (speedscope's error screen, an uncaught error) or "alert".
#
# It also turns what would not show in Chromium's log into lines that do:
# an alert() (speedscope's "Unrecognized format!") would block headless
# Chromium until the timeout, and console.error is logged at the level of
# console.log.
PRELUDE = b"""<script>
(function () {
  'use strict';
  var tag = 'msttop-check: ';
  var hash = location.hash;
  var run = (hash.match(/[#&]msttopRun=([0-9]+)/) || [])[1] || '0';
  var rows = /[#&]msttopRows=1/.test(hash);
  fetch('/__hold?' + run).catch(function () {});
  var done = false;
  function finish(why) {
    if (done)
      return;
    done = true;
    // Two frames: the one in which speedscope draws, and one after it.
    requestAnimationFrame(function () {
      requestAnimationFrame(function () {
        console.log(tag + 'page ' + why);
        fetch('/__ready?' + run + '&' + why).catch(function () {});
      });
    });
  }
  window.alert = function (m) {
    console.log(tag + 'alert: ' + m);
    finish('alert');
  };
  var err = console.error.bind(console);
  console.error = function () {
    err(tag + 'console.error: ' + Array.prototype.join.call(arguments, ' '));
  };
  window.addEventListener('error', function () { finish('error'); });
  window.addEventListener('unhandledrejection', function (e) {
    console.log(tag + 'unhandled rejection: ' + (e.reason && e.reason.stack || e.reason));
    finish('error');
  });
  function check() {
    if (done || !document.body)
      return;
    // (Split, so that this script does not match itself in the DOM.)
    if (document.body.textContent.indexOf('Something went ' + 'wrong') >= 0)
      return finish('error');
    if (!/[#&]profileURL=/.test(hash)) {
      if (document.readyState === 'complete')
        finish('ready');
      return;
    }
    // speedscope names the page after the profile once it is imported.
    if (document.title === 'speedscope')
      return;
    // The sandwich table is a virtual list (a translateY box holding the
    // rows in sight), filled in a frame after the rest.
    if (rows && /[#&]view=sandwich/.test(hash)) {
      var any = false;
      document.querySelectorAll('div[style*="translateY"]').forEach(function (l) {
        if (l.children.length)
          any = true;
      });
      if (!any)
        return;
    }
    finish('ready');
  }
  new MutationObserver(check).observe(document, {
    subtree: true, childList: true, attributes: true, characterData: true
  });
  window.addEventListener('load', check);
})();
</script>
"""


def chromium_args(user_dir, height):
    return [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--user-data-dir=" + user_dir, "--enable-logging=stderr", "--v=0",
        "--window-size=%d,%d" % (WIDTH, height),
        # speedscope draws with WebGL; with --disable-gpu that is
        # SwiftShader, which Chromium now wants asked for by name. The page
        # is ours, served from this machine.
        "--enable-unsafe-swiftshader",
        # Virtual time: it waits for pending fetches (PRELUDE's hold), and
        # skips over the page's idle timers without sleeping for real.
        "--virtual-time-budget=10000",
    ]


def run(cmd, log_path=None, env=None):
    """Runs cmd in a process group of its own, so that on a timeout its
    children (Chromium's renderer, GPU and zygote processes) go too.
    Returns (exit code, None on a timeout; stdout, with stderr unless
    log_path takes it)."""
    log = open(log_path, "wb") if log_path else None
    try:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=log if log else subprocess.STDOUT,
                             start_new_session=True, env=env)
    except OSError as e:
        if log:
            log.close()
        return -1, "cannot run %s: %s" % (cmd[0], e)
    try:
        out, _ = p.communicate(timeout=TIMEOUT)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        out, rc = b"", None
    finally:
        # What is left of the group (Chromium's helpers may outlive it) is
        # ours alone: its id is that of the process we started.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if log:
            log.close()
    if rc is None:
        p.communicate()
    return rc, out.decode("utf-8", "replace")


class Server:
    """speedscope's release at /, with PRELUDE in its index.html;
    directories at /NAME/ by mounts, a dict {NAME: directory}; PRELUDE's
    /__hold and /__ready."""

    def __init__(self, release, mounts):
        outer = self
        self.fetched = []
        self.lock = threading.Lock()
        self.runs = {}  # run id: [threading.Event, how the page ended]
        with open(os.path.join(release, "index.html"), "rb") as f:
            index = f.read()
        head = index.find(b"<head>")
        at = head + len(b"<head>") if head >= 0 else 0
        self.index = index[:at] + b"\n" + PRELUDE + index[at:]

        class Handler(http.server.SimpleHTTPRequestHandler):
            def translate_path(self, path):
                # The parent's translation (it drops '..' and the query)
                # under the directory the path belongs to.
                top, sep, _ = urllib.parse.urlsplit(path).path[1:].partition("/")
                if sep and top in mounts:
                    self.directory = mounts[top]
                    return super().translate_path(path[1 + len(top):])
                self.directory = release
                return super().translate_path(path)

            def reply(self, code, body=b"", ctype="text/plain"):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                if u.path == "/__hold":
                    outer.run_state(u.query)[0].wait(HOLD)
                    return self.reply(204)
                if u.path == "/__ready":
                    run, _, why = u.query.partition("&")
                    st = outer.run_state(run)
                    st[1] = why
                    st[0].set()
                    return self.reply(204)
                if u.path.count("/") >= 2:
                    with outer.lock:
                        outer.fetched.append(urllib.parse.unquote(u.path))
                if u.path in ("/", "/index.html"):
                    return self.reply(200, outer.index, "text/html; charset=utf-8")
                super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def run_state(self, run):
        with self.lock:
            return self.runs.setdefault(run, [threading.Event(), None])

    def url(self, run, mount=None, profile_name=None, view=None, rows=False):
        """The page for one Chromium run (its id: the hold it waits on)."""
        u = "http://127.0.0.1:%d/index.html#msttopRun=%d" % (self.port, run)
        if profile_name is None:
            return u
        # speedscope splits the fragment at '&' and '=' and then decodes
        # each value once; fetch() then takes it as a URL: so the name is
        # quoted twice.
        once = urllib.parse.quote(profile_name, safe="")
        u += "&profileURL=" + urllib.parse.quote("/%s/%s" % (mount, once), safe="")
        if view:
            u += "&view=" + view
        if rows:
            u += "&msttopRows=1"
        return u

    def ended(self, run):
        """How the page of a run ended: "ready", "error", "alert", or None
        when it never said."""
        with self.lock:
            st = self.runs.get(str(run))
        return st[1] if st else None

    def close(self):
        with self.lock:
            for st in self.runs.values():
                st[0].set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(TIMEOUT)


def image_stats(img):
    """Distinct colours; pixels of the chart area that are coloured (a
    flame chart's boxes), as opposed to the greys and whites of an empty
    chart, its grid and its labels."""
    _, _, chans, rows = img
    colours, coloured = set(), 0
    for y, row in enumerate(rows):
        for r, g, b in pixels(row, chans):
            colours.add((r, g, b))
            if y >= CHART_TOP and max(r, g, b) - min(r, g, b) >= 24:
                coloured += 1
    return len(colours), coloured


def differing_pixels(a, b):
    if a[:3] != b[:3]:
        return a[0] * a[1]
    chans, n = a[2], 0
    for ra, rb in zip(a[3], b[3]):
        if ra != rb:
            n += sum(1 for i in range(0, len(ra), chans) if ra[i:i + chans] != rb[i:i + chans])
    return n


class TextOf(html.parser.HTMLParser):
    """The page's text and title= values (speedscope puts names there
    too), and its <title>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.title, self._in = [], None, None

    def handle_starttag(self, tag, attrs):
        self._in = tag
        for k, v in attrs:
            if k == "title" and v:
                self.parts.append(v)

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in == "title":
            self.title = (self.title or "") + data
        # Not the code: PRELUDE's names the error screen's words.
        if self._in not in ("script", "style"):
            self.parts.append(data)


def page_text(dom):
    t = TextOf()
    t.feed(dom)
    t.close()
    return t.title, norm("\n".join(t.parts))


def norm(s):
    """A name as it can be compared with what the DOM shows: the DOM
    keeps neither control characters nor runs of white space as they
    were, so only the visible characters count."""
    return "".join(c for c in s if c.isprintable() and not c.isspace())


CONSOLE_MSG = re.compile(r':CONSOLE[^\]]*\] "(.*)", source: ')


def console_errors(log_path):
    """What Chromium's log tells of JS errors in the page: uncaught ones,
    speedscope's failed import, and what PRELUDE logs of errors."""
    bad = []
    try:
        with open(log_path, "r", encoding="utf-8", errors="replace") as f:
            for line in f:
                if ":CONSOLE" not in line:
                    continue
                m = CONSOLE_MSG.search(line)
                msg = m.group(1) if m else line.strip()
                if msg.startswith("msttop-check: page "):
                    continue
                if ("Uncaught" in msg or msg.startswith("msttop-check:")
                        or "Failed to load format" in msg):
                    bad.append(msg[:300])
    except OSError as e:
        bad.append("cannot read Chromium's log: %s" % e)
    return bad


def active_index(data):
    i = data.get("activeProfileIndex", 0)
    return i if isinstance(i, int) and not isinstance(i, bool) else 0


def profile_frames(p):
    """The frame indices a profile's samples (or events) use."""
    if p.get("type") == "sampled":
        return {i for s, w in zip(p.get("samples", []), p.get("weights", [])) if w for i in s}
    return {e.get("frame") for e in p.get("events", []) if isinstance(e, dict)}


def profiles_with_frame(data, name):
    """Indices of the profiles whose samples (or events) hold a frame
    called name."""
    try:
        frames = data["shared"]["frames"]
        ids = {i for i, f in enumerate(frames) if norm(f.get("name", "")) == norm(name)}
        return [k for k, p in enumerate(data["profiles"]) if profile_frames(p) & ids]
    except (KeyError, TypeError, AttributeError):
        return []


def has_frames(data, k):
    try:
        return bool(profile_frames(data["profiles"][k]))
    except (KeyError, IndexError, TypeError, AttributeError):
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--expect", action="append", default=[], metavar="NAME",
                    help="a name that must show in the page (repeatable)")
    ap.add_argument("--shot", metavar="OUT.png", help="keep the screenshot there")
    args = ap.parse_args()

    failures = []
    path = os.path.abspath(args.file)
    modules = os.path.abspath(os.environ.get("MSTTOP_NODE_MODULES")
                              or os.path.join(HERE, "node_modules"))
    release = os.path.join(modules, "speedscope", "dist", "release")
    if not os.path.isfile(path):
        print("%s: no such file" % args.file)
        return 1
    if not os.path.isfile(os.path.join(release, "index.html")):
        print("no speedscope at %s (npm ci of tests/record/package.json, "
              "and MSTTOP_NODE_MODULES set to its node_modules?)" % release)
        return 1
    if not os.access(CHROMIUM, os.X_OK):
        print("no Chromium at %s" % CHROMIUM)
        return 1

    # 1. The schema.
    env = dict(os.environ, MSTTOP_NODE_MODULES=modules)
    rc, out = run(["node", os.path.join(HERE, "validate_speedscope.mjs"), path], env=env)
    if rc is None:
        failures.append("schema: the validator timed out after %d s" % TIMEOUT)
    elif rc != 0:
        failures += ["schema: " + l for l in out.splitlines() if l.strip()] or \
            ["schema: the validator exited %d" % rc]

    # What the page must then show, from the file itself.
    data = None
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8", "replace"))
    except (OSError, ValueError) as e:
        failures.append("%s: not JSON: %s" % (args.file, e))
    if not isinstance(data, dict):
        data = {}
    profiles = [p for p in data.get("profiles", []) if isinstance(p, dict)] \
        if isinstance(data.get("profiles"), list) else []
    frames = data.get("shared", {}).get("frames") if isinstance(data.get("shared"), dict) \
        else None
    pnames = [p.get("name", "") for p in profiles]
    # speedscope's own choice of the page's title (Wo in its bundle).
    title = data.get("name") or (pnames[0] if pnames else "") or "profile"
    active = active_index(data)
    active_drawn = has_frames(data, active)

    tmp = tempfile.mkdtemp(prefix="check_speedscope.")
    alt = os.path.join(tmp, "alt")
    os.mkdir(alt)
    server = None
    stats = ""
    try:
        server = Server(release, {"profile": os.path.dirname(path), "alt": alt})
        name = os.path.basename(path)
        runs = [0]

        def chromium(what, page, *extra, height=HEIGHT):
            """One Chromium run on a page (Server.url's arguments less the
            run id); its stdout, and the failures it shows added."""
            runs[0] += 1
            url = server.url(runs[0], *page)
            user = tempfile.mkdtemp(prefix="chromium.", dir=tmp)
            log = os.path.join(tmp, what + ".log")
            rc, out = run(chromium_args(user, height) + list(extra) + [url], log)
            shutil.rmtree(user, ignore_errors=True)
            if "--dump-dom" in extra:
                with open(os.path.join(tmp, what + ".html"), "w") as f:
                    f.write(out)
            if rc is None:
                failures.append("%s: Chromium timed out after %d s" % (what, TIMEOUT))
            elif rc != 0:
                with open(log, errors="replace") as f:
                    tail = f.read().splitlines()[-3:]
                failures.append("%s: Chromium exited %d: %s" % (what, rc, " / ".join(tail)))
            ended = server.ended(runs[0])
            if ended is None:
                failures.append("%s: the page did not finish drawing in %d s" % (what, HOLD))
            failures.extend("JS error (%s): %s" % (what, l) for l in console_errors(log))
            return out

        # 2. speedscope without a profile: the drop screen to tell apart.
        base_png = os.path.join(tmp, "empty.png")
        chromium("empty page", (), "--screenshot=" + base_png)
        # 3. The profile as it opens (the time-ordered view).
        shot_png = os.path.join(tmp, "profile.png")
        chromium("profile", ("profile", name), "--screenshot=" + shot_png)
        if "/profile/" + name not in server.fetched:
            failures.append("speedscope never fetched the profile")
        # 4. The sandwich view's DOM: the frames' names as text.
        dom = chromium("sandwich view", ("profile", name, "sandwich", active_drawn),
                       "--dump-dom", height=DOM_HEIGHT)

        if not os.path.isfile(shot_png) or not os.path.isfile(base_png):
            failures.append("Chromium wrote no screenshot")
        else:
            try:
                shot, base = read_png(shot_png), read_png(base_png)
            except (ValueError, zlib.error, OSError) as e:
                failures.append("screenshot: %s" % e)
            else:
                ncol, coloured = image_stats(shot)
                diff = differing_pixels(shot, base)
                stats = "%dx%d, %d colours, %d chart px coloured" % (
                    shot[0], shot[1], ncol, coloured)
                if ncol <= 10:
                    failures.append("screenshot: blank (%d colours)" % ncol)
                if diff < shot[0] * shot[1] // 100:
                    failures.append("screenshot: speedscope's empty page, not the profile "
                                    "(%d pixels differ)" % diff)
                if active_drawn and coloured < 1000:
                    failures.append("screenshot: no flame chart drawn (%d coloured pixels "
                                    "in the chart area)" % coloured)
            if args.shot:
                shutil.copyfile(shot_png, args.shot)

        dom_title, page = page_text(dom)
        if norm("Something went wrong") in page:
            failures.append("speedscope shows \"Something went wrong\"")
        if not dom.strip():
            failures.append("sandwich view: Chromium dumped no DOM")
        elif norm(dom_title or "") != norm(title + " - speedscope"):
            failures.append("page title %r, not the file's name %r"
                            % (dom_title, title + " - speedscope"))
        for n in pnames:
            if norm(n) not in page:
                failures.append("profile %r not in speedscope's thread selector" % n)
        # Names not found: in the profile that holds them, if another.
        missing = [n for n in args.expect if norm(n) not in page]
        tried = {active}
        while missing:
            k = next((k for k in profiles_with_frame(data, missing[0]) if k not in tried), None)
            if k is None:
                failures.append("%r not in the page (not a frame of a profile, or not among "
                                "its heaviest ~400)" % missing[0])
                missing.pop(0)
                continue
            tried.add(k)
            with open(os.path.join(alt, "%d.json" % k), "w") as f:
                json.dump(dict(data, activeProfileIndex=k), f)
            dom_k = chromium("sandwich view %d" % k, ("alt", "%d.json" % k, "sandwich", True),
                             "--dump-dom", height=DOM_HEIGHT)
            page_k = page_text(dom_k)[1]
            missing = [n for n in missing if norm(n) not in page_k]
    finally:
        if server:
            server.close()
        if os.environ.get("MSTTOP_CHECK_KEEP"):
            print("kept: %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    if failures:
        for f in failures:
            print(f)
        return 1
    print("speedscope ok: %s: %d profiles, %s frames; %s; title %r; %d names found"
          % (args.file, len(profiles), len(frames) if isinstance(frames, list) else "?",
             stats, title, len(pnames) + len(args.expect)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
