"""What a reader sees: open a report in headless Chromium, return the rendered DOM's visible text, save a screenshot."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium() -> str:
    """Debian's chromium, installed here when missing (the test setup owns its browser)."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0:
        pytest.skip("chromium is not installed and this user cannot apt-get install it")
    subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=True, capture_output=True, timeout=900)
    return shutil.which("chromium") or pytest.fail("chromium did not install")


class _Visible(HTMLParser):
    """Text outside <script>, <style> and <head>: what is drawn on the page (plotly's SVG text included)."""

    HIDDEN = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth and data.strip():
            self.parts.append(data.strip())


def visible_text(dom: str) -> str:
    parser = _Visible()
    parser.feed(dom)
    return "\n".join(parser.parts)


def render(index: Path, workdir: Path, shot_name: str = "report.png", height: int = 2400) -> tuple[str, str, Path]:
    """(rendered DOM, console lines, screenshot path) of the page after its scripts ran."""
    browser = chromium()
    dom = subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={workdir / 'profile-dom'}", "--virtual-time-budget=8000", "--enable-logging=stderr", "--v=0", "--dump-dom",
         index.as_uri()],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    console = "\n".join(line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line)
    shot = workdir / shot_name
    subprocess.run(
        [browser, *FLAGS, f"--user-data-dir={workdir / 'profile-shot'}", f"--window-size=1280,{height}", "--hide-scrollbars", "--virtual-time-budget=8000",
         f"--screenshot={shot}", index.as_uri()],  # fmt: skip
        capture_output=True,
        timeout=180,
    )
    return dom.stdout, console, shot


# What the page measures of itself in the browser (``measure``): the layout at one window width, after its scripts ran.
_PROBE = """
<script>
window.addEventListener("load", () => setTimeout(() => {
  const doc = document.scrollingElement || document.documentElement;
  const first = document.querySelector("[data-first-screen]");
  const cells = [...document.querySelectorAll("td, th")].map(c => c.innerText.trim());
  const longest = cells.reduce((a, b) => (b.length > a.length ? b : a), "");
  const wide = [...document.querySelectorAll("table")].map(t => t.getBoundingClientRect().right).reduce((a, b) => Math.max(a, b), 0);
  const figures = [...document.querySelectorAll(".plotly-graph-div")];
  const decision = document.querySelector("#decision, #The-decision");
  const out = {
    innerWidth: window.innerWidth, innerHeight: window.innerHeight, scrollWidth: doc.scrollWidth, scrollHeight: doc.scrollHeight,
    firstScreenTop: first ? first.getBoundingClientRect().top + window.scrollY : null,
    firstScreenBottom: first ? first.getBoundingClientRect().bottom + window.scrollY : null,
    decisionTop: decision ? decision.getBoundingClientRect().top + window.scrollY : null,
    widestTableRight: wide, longestCell: longest.length, longestCellText: longest.slice(0, 120),
    figures: figures.length, figuresDrawn: figures.filter(f => f.querySelector("svg.main-svg")).length,
    tables: document.querySelectorAll("table").length,
    overflowing: [...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                    && !e.closest(".table-scroll")).slice(0, 5).map(e => e.tagName + "." + e.className),
  };
  const pre = document.createElement("pre"); pre.id = "__measure"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 500));
</script>
"""


def measure(index: Path, workdir: Path, width: int, height: int = 900) -> dict:
    """The page's own layout in a ``width`` x ``height`` window: scroll width, where the first screen's block is, the widest
    table, the longest table cell, how many figures plotly drew (an ``svg.main-svg`` inside each). Read from the rendered DOM."""
    import json
    import re

    probe = index.parent / f".measure-{width}.html"
    probe.write_text(index.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    try:
        out = subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={workdir / f'profile-measure-{width}'}", f"--window-size={width},{height}", "--hide-scrollbars",
             "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],  # fmt: skip
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        probe.unlink(missing_ok=True)
    found = re.search(r'<pre id="__measure">(.*?)</pre>', out.stdout, re.S)
    assert found, f"the page did not measure itself: {out.stderr[-1500:]}"
    import html as _html

    return json.loads(_html.unescape(found.group(1)))


def screenshot(index: Path, target: Path, workdir: Path, width: int = 1280, height: int = 900) -> Path:
    """A ``width`` x ``height`` screenshot of the top of the page (what a reader sees first)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={workdir / 'profile-top'}", f"--window-size={width},{height}", "--hide-scrollbars",
         "--virtual-time-budget=8000", f"--screenshot={target}", index.as_uri()],  # fmt: skip
        capture_output=True,
        timeout=180,
    )
    return target
