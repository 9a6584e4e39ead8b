"""What a run tells its user while it works: estimates, progress, and whether this process kept up.

``LagMonitor`` measures how late the event loop wakes up, but only while a deployment has requests
in flight (start-up work such as imports and tokenizer loading is not a request's delay), and
charges each sample to the deployments that were waiting then. A deployment's measurements are
called *saturated* when the lag is large enough to move its reported percentiles (``verdict``).

``Progress`` shows one bar per deployment: tqdm on a terminal; in a Jupyter kernel, one display per
deployment updated in place (``IPython.display`` handles), so a saved or papermill-executed notebook
keeps each bar in its final state ("10/10", not the "0/10" a widget leaves behind); else a log line
every few seconds. ``announce`` is where informational lines (the pre-run estimate) go: stdout in a
Jupyter kernel (stderr would show as red error boxes there), stderr on a terminal (stdout stays data).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from llama_eval.records import LoopLag, percentile

from .estimate import RunEstimate
from .lane import Lane

log = logging.getLogger("llama_eval.run")

# Measured = true latency + this process's lag at that moment. The reported percentiles (p50, p90)
# move by about the lag that one request in ten sees, so the verdict compares the lag's p90 with the
# deployment's median latency. LAG_SHARE is a chosen threshold: a shift under a tenth of the median
# is smaller than the differences a latency comparison between deployments is meant to show; above
# it, the figures partly describe this machine. A rare hiccup (a GC pause, the OS scheduling another
# process) shows in p99, which is recorded but is not a verdict by itself.
LAG_SHARE = 0.10
LAG_FLOOR_MS = 1.0  # timer jitter of an idle loop; never a verdict by itself
MIN_SAMPLES = 3  # below this (a run shorter than a tenth of a second) there is nothing to judge
P90_SAMPLES = 10  # with fewer samples the p90 is one sample; the median is used instead


class LagMonitor:
    """Samples event-loop lag every ``interval_s`` while requests are in flight, per deployment.

    A helper thread stamps the time and hands the loop a callback through its self-pipe, which wakes
    the loop exactly as bytes arriving on a socket do; the callback's delay is how late a chunk that
    arrived then would have been stamped. (Timing ``asyncio.sleep`` instead would add the kernel's
    timer granularity, 4 ms steps on some machines, to every sample.) A callback waits for this
    process only, so the OS giving the CPU to other processes shows up here too, as it should.
    """

    def __init__(self, lanes: dict[str, Lane], interval_s: float = 0.02):
        self.lanes = lanes
        self.interval_s = interval_s
        self.samples: dict[str, deque[float]] = {lane.name: deque(maxlen=50_000) for lane in lanes.values()}

    async def watch(self) -> None:
        """Run until cancelled (the sampling thread stops with it)."""
        loop = asyncio.get_running_loop()
        stop = threading.Event()

        def landed(stamp: float, busy: list[Lane]) -> None:
            lag = time.perf_counter() - stamp
            for lane in busy:
                if lane.in_flight > 0:
                    self.samples[lane.name].append(lag)

        def sampler() -> None:
            while not stop.wait(self.interval_s):
                busy = [lane for lane in self.lanes.values() if lane.in_flight > 0]
                if busy:
                    try:
                        loop.call_soon_threadsafe(landed, time.perf_counter(), busy)
                    except RuntimeError:  # the loop closed under us
                        return

        thread = threading.Thread(target=sampler, name="llama-eval-loop-lag", daemon=True)
        thread.start()
        try:
            await asyncio.Event().wait()
        finally:
            stop.set()

    def verdict(self, lane: Lane) -> LoopLag:
        """Saturated when the p90 lag exceeds both ``LAG_FLOOR_MS`` and ``LAG_SHARE`` of the median measured latency."""
        samples = list(self.samples[lane.name])
        if not samples:
            return LoopLag(False, 0.0, 0)
        p90_ms, p99_ms = (round(1000 * percentile(samples, q), 2) for q in (0.9, 0.99))
        judged_ms = p90_ms if len(samples) >= P90_SAMPLES else 1000 * statistics.median(samples)
        median_ms = 1000 * statistics.median(lane.latencies) if lane.latencies else 0.0
        saturated = len(samples) >= MIN_SAMPLES and judged_ms > LAG_FLOOR_MS and judged_ms > LAG_SHARE * median_ms
        return LoopLag(saturated, p99_ms, len(samples), p90_ms, round(median_ms, 2))


def saturation_message(lags: dict[str, LoopLag]) -> str | None:
    """One warning naming the deployments whose figures this process distorted, or None."""
    hit = {name: lag for name, lag in lags.items() if lag.saturated}
    if not hit:
        return None
    names = ", ".join(f"{name} (lag p90 {lag.p90_ms:.1f} ms vs median latency {lag.median_latency_ms:.1f} ms)" for name, lag in hit.items())
    return (
        f"Warning: this process could not keep up while measuring {names}: its own event-loop delay is large enough to move "
        "the reported latency percentiles. Run fewer requests at once (CLI --concurrency, Python RunParams(concurrency=...)), "
        "or measure from a less busy machine; the manifest records this per deployment."
    )


def in_kernel() -> bool:
    """True inside a Jupyter kernel (JupyterLab, papermill), where stderr output is shown as an error box.

    Asked of the running IPython shell, not of what is imported: a test process or a script may import
    ipykernel (nbval, papermill) without being a kernel, and ``display()`` there shows nothing.
    """
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def announce(message: str) -> None:
    """Print an informational line: stdout in a Jupyter kernel, stderr elsewhere (see the module docstring)."""
    print(message, file=sys.stdout if in_kernel() else sys.stderr, flush=True)


def announce_estimates(estimates: dict[str, RunEstimate], announce: Callable[[str], None]) -> None:
    announce("Estimated cost before the run (prompt tokens counted; every answer at max_tokens as the ceiling):")
    for name, e in estimates.items():
        cost = "no token cost" if e.worst_case_usd is None else f"at most ${e.worst_case_usd:.4f}"
        if e.expected_usd is not None:
            cost += f" (expected ${e.expected_usd:.4f}, from a previous run)"
        exact = "" if e.prompt_tokens_exact else " (estimated)"
        note = f" — {e.price_note}" if e.price_note else ""
        announce(f"  {name}: {e.requests} requests, {e.prompt_tokens} prompt tokens{exact}, up to {e.max_output_tokens} output tokens, {cost}{note}")


class Progress:
    """A bar per deployment when interactive (tqdm on a terminal, updated displays in a Jupyter kernel), else a log line every ``every_s`` seconds."""

    def __init__(self, lanes: dict[str, Lane], mode: str, every_s: float = 5.0, refresh_s: float = 0.25):
        self.lanes = lanes
        self.every_s = every_s
        self.refresh_s = refresh_s
        self._last = self._start = time.monotonic()
        interactive = mode == "bar" or (mode == "auto" and (sys.stderr.isatty() or in_kernel()))
        self.mode = "none" if mode == "none" else ("bar" if interactive else "log")
        self.bars: dict[str, Any] = {}
        self.displays: dict[str, Any] = {}
        if self.mode == "bar" and in_kernel():
            from IPython.display import display

            for name in lanes:
                self.displays[name] = display({"text/plain": self._line(name)}, raw=True, display_id=True)
        elif self.mode == "bar":
            from tqdm import tqdm

            for i, (name, lane) in enumerate(lanes.items()):
                self.bars[name] = tqdm(total=lane.total, desc=name, position=i, unit="req", leave=True)
        self._shown = time.monotonic()

    def _line(self, name: str, final: bool = False) -> str:
        """A deployment's bar as text, tqdm's layout: ``name: 100%|██████████| 10/10 [00:01<00:00, 9.50req/s]``."""
        from tqdm import tqdm

        lane = self.lanes[name]
        line = tqdm.format_meter(lane.done, lane.total or None, time.monotonic() - self._start, ncols=100, prefix=name, unit="req")
        errors = f", {lane.errors} errors" if lane.errors else ""
        return line + errors + (" — finished" if final and lane.done >= lane.total else " — stopped" if final else "")

    def advance(self, name: str) -> None:
        if self.displays:
            if time.monotonic() - self._shown >= self.refresh_s or self.lanes[name].done >= self.lanes[name].total:
                self._shown = time.monotonic()
                for shown, handle in self.displays.items():
                    handle.update({"text/plain": self._line(shown)}, raw=True)
        elif self.mode == "bar":
            self.bars[name].update(1)
        elif self.mode == "log" and time.monotonic() - self._last >= self.every_s:
            self.log_line()

    def log_line(self) -> None:
        self._last = time.monotonic()
        elapsed = self._last - self._start
        for name, lane in self.lanes.items():
            rate = lane.done / elapsed if elapsed > 0 else 0.0
            eta = (lane.total - lane.done) / rate if rate > 0 else float("inf")
            log.info(
                "%s: %d/%d done, %d errors, %.1f req/s, ETA %s", name, lane.done, lane.total, lane.errors, rate, "-" if eta == float("inf") else f"{eta:.0f} s"
            )

    def close(self) -> None:
        """Every bar in its final state (a saved notebook keeps what is shown last)."""
        for name, handle in self.displays.items():
            handle.update({"text/plain": self._line(name, final=True)}, raw=True)
        for bar in self.bars.values():
            bar.close()
        if self.mode == "log":
            self.log_line()
