#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check a Hearth flame graph SVG in headless Chromium.

    check-svg.py SVGFILE [--expect NAME ...] [--search REGEX] [--chromium PATH]

The SVG must be well-formed XML. It is then embedded in an XHTML page (so the
browser parses it as XML too), and a script on that page drives the graph's
own script through window.hearth: the expected frames exist, a search
highlights what matches and reports the right share of samples (each sample
counted once), zooming into a frame makes it full width, hides what is not
above or below it, and resetting the zoom restores every frame. The results
come back as JSON in the page's DOM, read with --dump-dom.

Prints "check-svg: ok (...)" and exits 0, or prints one line saying what is
wrong and exits 1 (2 for bad usage).
"""
import argparse
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

TIMEOUT = 50  # seconds for Chromium; the whole check stays under a minute
SVG_NS = "{http://www.w3.org/2000/svg}"

# Runs in the page after the graph. Everything it finds goes into #result.
HARNESS_JS = r"""
(function () {
  var out = { ok: false, errors: [], info: {} };
  var CFG = __CONFIG__;
  function fail(msg) { out.errors.push(msg); }
  function near(a, b, eps) { return Math.abs(a - b) <= (eps || 0.02); }
  function hidden(g) { return getComputedStyle(g).display === 'none'; }
  try {
    var svg = document.querySelector('#graph svg');
    if (!svg) throw new Error('no <svg> element in the page');
    var h = window.hearth;
    if (!h) throw new Error('window.hearth is missing: the embedded script did not run');
    ['zoom', 'resetZoom', 'search', 'clearSearch', 'matchedPercent'].forEach(function (f) {
      if (typeof h[f] !== 'function') throw new Error('window.hearth.' + f + ' is not a function');
    });
    var gs = Array.prototype.slice.call(svg.querySelectorAll('g.frame'));
    if (!gs.length) throw new Error('no g.frame elements');
    var chart = Number(svg.getAttribute('data-chart-width'));
    var xpad = Number(svg.getAttribute('data-xpad'));
    var total = Number(svg.getAttribute('data-total'));
    if (!(chart > 0) || !(total > 0)) throw new Error('svg lacks data-chart-width or data-total');
    // Geometry as drawn, read from the rects alone.
    function geo(g) {
      var r = g.querySelector('rect');
      return { x: Number(r.getAttribute('x')), w: Number(r.getAttribute('width')),
               y: Number(r.getAttribute('y')), fill: r.getAttribute('fill') };
    }
    var F = gs.map(function (g) {
      var o = geo(g);
      o.g = g; o.name = g.getAttribute('data-name'); o.n = Number(g.getAttribute('data-samples'));
      return o;
    });
    // a is above (an ancestor of) b: lower on screen and spans it.
    function above(a, b) { return a.y > b.y && a.x <= b.x + 0.01 && a.x + a.w >= b.x + b.w - 0.01; }
    var root = F.reduce(function (a, b) { return b.y > a.y ? b : a; });
    if (!near(root.w, chart, 0.05) || root.n !== total)
      fail('root frame is ' + root.w + ' px wide with ' + root.n + ' samples, expected ' + chart + ' px, ' + total);
    F.forEach(function (f) {
      var bb = f.g.getBoundingClientRect();
      if (hidden(f.g) || !(f.w > 0) || f.x < xpad - 0.01 || f.x + f.w > xpad + chart + 0.05)
        fail('frame ' + f.name + ' is not drawn inside the chart');
      else if (f.w >= 1 && bb.width <= 0)
        fail('frame ' + f.name + ' has no size on screen');
      if (!near(f.w, f.n * chart / total, 0.02))
        fail('frame ' + f.name + ' is ' + f.w + ' px wide for ' + f.n + ' of ' + total + ' samples');
      if (f.g.querySelector('title') === null || f.g.querySelector('title').textContent.indexOf(f.name) !== 0)
        fail('frame ' + f.name + ' lacks its tooltip');
    });
    CFG.expect.forEach(function (name) {
      if (!F.some(function (f) { return f.name === name; })) fail('no frame named ' + JSON.stringify(name));
    });
    out.info.frames = F.length;

    // Search: what matches turns a new color; the share counts each sample once.
    function expected(re) {
      var hit = F.filter(function (f) { return re.test(f.name); });
      var top = hit.filter(function (f) { return !hit.some(function (a) { return a !== f && above(a, f); }); });
      return 100 * top.reduce(function (s, f) { return s + f.n; }, 0) / total;
    }
    function checkSearch(pattern) {
      var re = new RegExp(pattern), want = expected(re);
      var got = h.search(pattern), shown = h.matchedPercent();
      if (!near(got, want, 1e-6) || !near(shown, want, 1e-6))
        fail('search ' + pattern + ' matched ' + got + '%/' + shown + '%, expected ' + want + '%');
      var colored = 0;
      F.forEach(function (f) {
        var fill = f.g.querySelector('rect').getAttribute('fill');
        if (re.test(f.name)) { colored++; if (fill === f.fill) fail('match ' + f.name + ' is not highlighted'); }
        else if (fill !== f.fill) fail('frame ' + f.name + ' changed color without matching ' + pattern);
      });
      var texts = Array.prototype.map.call(svg.querySelectorAll('text'), function (t) { return t.textContent; });
      if (!texts.some(function (t) { return t === 'Matched: ' + want.toFixed(2) + '%'; }))
        fail('no "Matched: ' + want.toFixed(2) + '%" line after searching ' + pattern);
      return { pattern: pattern, percent: Number(got.toFixed(4)), frames: colored };
    }
    var esc = function (s) { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); };
    var literal = CFG.expect.length ? CFG.expect[0] : F[F.length - 1].name;
    var term = CFG.search || esc(literal);
    out.info.search = checkSearch(term);
    if (!(out.info.search.frames > 0)) fail('search ' + term + ' matched no frame');
    // Nested matches: a frame and its own child, counted once.
    var parent = F.filter(function (f) { return f !== root && F.some(function (c) { return above(f, c); }); })[0];
    if (parent) {
      var child = F.filter(function (c) { return above(parent, c); })
        .reduce(function (a, c) { return c.y > a.y ? c : a; });
      out.info.nested = checkSearch('^(' + esc(parent.name) + '|' + esc(child.name) + ')$');
    }
    h.clearSearch();
    if (h.matchedPercent() !== 0) fail('matchedPercent is ' + h.matchedPercent() + ' after clearSearch');
    F.forEach(function (f) {
      if (f.g.querySelector('rect').getAttribute('fill') !== f.fill) fail('clearSearch left ' + f.name + ' highlighted');
    });

    // Hovering shows the frame in the details line.
    var hover = F.filter(function (f) { return f !== root; })[0] || root;
    hover.g.querySelector('rect').dispatchEvent(new MouseEvent('mouseover', { bubbles: true }));
    var detail = Array.prototype.filter.call(svg.querySelectorAll('text'), function (t) {
      return !t.closest('g.frame') && t.textContent.indexOf(hover.name) === 0 &&
        t.textContent.indexOf(hover.n + ' sample') > 0;
    });
    if (!detail.length) fail('hovering ' + hover.name + ' shows no details line');

    // Zoom into a frame narrower than the chart, one with frames beside it if there is one.
    function outsideOf(t) {
      return F.filter(function (f) { return !above(f, t) && !above(t, f) && f !== t; });
    }
    var narrower = F.filter(function (f) { return f.w < chart - 0.5 && f.w >= 1; });
    var target = narrower.filter(function (f) { return !CFG.search && f.name === literal; })
      .concat(narrower).filter(function (f) { return outsideOf(f).length; })[0] || narrower[0];
    if (!target) throw new Error('no frame narrower than the chart to zoom into');
    var outside = outsideOf(target);
    var inside = F.filter(function (f) { return above(target, f); });
    if (!h.zoom(target.g)) fail('zoom(' + target.name + ') returned false');
    var z = geo(target.g);
    if (!near(z.x, xpad) || !near(z.w, chart, 0.05)) fail('zoomed frame ' + target.name + ' is at ' + z.x + ', ' + z.w + ' px wide');
    if (target.g.getBoundingClientRect().width < 0.9 * chart * svg.getBoundingClientRect().width / Number(svg.getAttribute('width')))
      fail('zoomed frame ' + target.name + ' is not full width on screen');
    outside.forEach(function (f) { if (!hidden(f.g)) fail('frame ' + f.name + ' outside the zoom is still shown'); });
    F.filter(function (f) { return above(f, target); }).forEach(function (f) {
      var g = geo(f.g);
      if (hidden(f.g) || !near(g.w, chart, 0.05)) fail('ancestor ' + f.name + ' is not full width when zoomed');
      if (Number(getComputedStyle(f.g).opacity) >= 1) fail('ancestor ' + f.name + ' is not dimmed when zoomed');
    });
    inside.forEach(function (f) {
      var g = geo(f.g);
      if (hidden(f.g) || !near(g.w, f.w * chart / target.w, 0.05) || g.x < xpad - 0.01)
        fail('descendant ' + f.name + ' did not rescale with the zoom');
    });
    out.info.zoom = { frame: target.name, hidden: outside.length, rescaled: inside.length };
    h.resetZoom();
    F.forEach(function (f) {
      var g = geo(f.g);
      if (hidden(f.g) || !near(g.x, f.x) || !near(g.w, f.w) || Number(getComputedStyle(f.g).opacity) < 1)
        fail('resetZoom did not restore ' + f.name);
    });
    // A click zooms too.
    target.g.querySelector('rect').dispatchEvent(new MouseEvent('click', { bubbles: true }));
    if (!near(geo(target.g).w, chart, 0.05)) fail('clicking ' + target.name + ' did not zoom');
    h.resetZoom();
  } catch (e) {
    fail(String(e && e.message || e));
  }
  out.ok = out.errors.length === 0;
  document.getElementById('result').textContent = JSON.stringify(out);
})();
"""


def die(msg, code=1):
    print("check-svg: " + msg, file=sys.stderr)
    sys.exit(code)


def build_page(svg_text, config):
    m = re.search(r"<svg\b", svg_text)
    if not m:
        die("no <svg> element")
    js = HARNESS_JS.replace("__CONFIG__", json.dumps(config)).replace("]]>", "]]\\u003e")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>check-svg</title></head><body>\n'
            '<pre id="result">harness did not run</pre>\n<div id="graph">\n'
            + svg_text[m.start():] +
            '</div>\n<script type="text/javascript"><![CDATA[' + js + ']]></script>\n</body></html>\n')


def run_chromium(chromium, page, tmp):
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--user-data-dir=" + os.path.join(tmp, "profile"),
            "--virtual-time-budget=5000", "--dump-dom", "file://" + page]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        die("chromium did not finish within %d s" % TIMEOUT)
    finally:
        # Chromium's helpers share its process group; leave none behind.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if proc.returncode != 0:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        die("chromium exited with %d: %s" % (proc.returncode, last[0]))
    return out.decode(errors="replace")


def main():
    ap = argparse.ArgumentParser(description="Check a Hearth flame graph SVG in headless Chromium.")
    ap.add_argument("svg")
    ap.add_argument("--expect", action="append", default=[], metavar="NAME",
                    help="a frame name that must be in the graph (repeatable)")
    ap.add_argument("--search", metavar="REGEX",
                    help="what to search for (default: the first --expect name)")
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
    a = ap.parse_args()

    try:
        with open(a.svg, encoding="utf-8") as f:
            svg_text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        die("cannot read %s: %s" % (a.svg, e))
    try:
        root = ET.fromstring(svg_text.encode("utf-8"))
    except ET.ParseError as e:
        die("%s is not well-formed XML: %s" % (a.svg, e))
    if root.tag != SVG_NS + "svg":
        die("%s: root element is %s, not svg" % (a.svg, root.tag))
    chromium = a.chromium if os.path.sep in a.chromium else shutil.which(a.chromium)
    if not chromium or not os.access(chromium, os.X_OK):
        die("chromium not found at %s" % a.chromium)

    with tempfile.TemporaryDirectory(prefix="check-svg-") as tmp:
        page = os.path.join(tmp, "harness.xhtml")
        with open(page, "w", encoding="utf-8") as f:
            f.write(build_page(svg_text, {"expect": a.expect, "search": a.search}))
        dom = run_chromium(chromium, page, tmp)

    m = re.search(r'<pre id="result"[^>]*>(.*?)</pre>', dom, re.S)
    if not m:
        if "parsererror" in dom:
            die("the browser could not parse the page: " +
                re.sub(r"<[^>]+>", " ", dom.split("parsererror", 1)[1])[:200].split("\n")[0].strip())
        die("no result in the page chromium returned")
    text = html.unescape(m.group(1))
    try:
        res = json.loads(text)
    except ValueError:
        die("the harness did not finish: " + text[:200])
    if not res.get("ok"):
        errs = res.get("errors") or ["unknown failure"]
        more = " (and %d more)" % (len(errs) - 1) if len(errs) > 1 else ""
        die(errs[0] + more)
    info = res["info"]
    s, z = info["search"], info["zoom"]
    print("check-svg: ok (%d frames, search %s matched %.2f%% in %d frames%s, zoom %s hid %d and rescaled %d)"
          % (info["frames"], s["pattern"], s["percent"], s["frames"],
             ", nested search counted once" if "nested" in info else "",
             z["frame"], z["hidden"], z["rescaled"]))


if __name__ == "__main__":
    main()
