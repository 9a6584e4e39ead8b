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
