"""Arrival schedules: seeded send offsets (seconds from the start) for open-loop load.

One job: say *when* each request is sent, not what it carries or how it is sent.

* ``poisson(rate, count)``: exponential gaps at ``rate`` requests/s;
* ``gamma(rate, burstiness, count)``: gamma gaps with vLLM's ``--burstiness`` semantics: shape =
  burstiness, scale = 1 / (rate x burstiness), so the mean rate stays ``rate`` and the gaps' coefficient
  of variation is 1 / sqrt(burstiness): 1 is Poisson, below 1 burstier, above 1 more regular;
* ``ramp(r0, r1, seconds, count)``: a Poisson process whose rate rises (or falls) linearly from ``r0``
  to ``r1`` over ``seconds`` and stays at ``r1`` after it (drawn by time rescaling: unit-rate
  arrivals mapped through the inverse of the cumulative rate);
* ``read_trace(path, speedup)``: a CSV of real traffic (``timestamp`` or ``offset_s``,
  ``input_tokens``, ``output_tokens``, optional ``conversation_id``; other columns are ignored),
  checked line by line before any request, its time divided by ``speedup``.

Every schedule starts at offset 0 (the first request is sent at once) and is reproducible from its
``recipe``, which the run records. ``send_instants`` is the form a sweep level needs: the instants in
a window of a perf-counter clock.
"""

from __future__ import annotations

import csv
import hashlib
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from llama_eval.errors import WorkloadError

TRACE_TIME_COLUMNS = ("timestamp", "offset_s")
TRACE_COLUMNS = ("input_tokens", "output_tokens")


@dataclass(frozen=True, slots=True)
class Arrival:
    """One request's send offset (seconds from the schedule's start); a trace row also says its token counts."""

    offset_s: float
    input_tokens: int | None = None
    output_tokens: int | None = None
    conversation_id: str | None = None
    source: str = ""  # "trace.csv line 12" for a trace row


@dataclass(frozen=True)
class Arrivals:
    """A whole schedule: its arrivals in send order, and the recipe that makes it again."""

    kind: str  # poisson | gamma | ramp | trace
    items: tuple[Arrival, ...]
    recipe: Mapping[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def offsets(self) -> tuple[float, ...]:
        return tuple(a.offset_s for a in self.items)

    @property
    def duration_s(self) -> float:
        return self.items[-1].offset_s if self.items else 0.0


def _positive(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise WorkloadError(f"{name} must be a number > 0, got {value!r}")
    return float(value)


def _count(count: int) -> int:
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise WorkloadError(f"the number of requests must be a whole number >= 1, got {count!r}")
    return count


def _cumulative(gaps: list[float]) -> tuple[float, ...]:
    offsets, t = [0.0], 0.0
    for gap in gaps:
        t += gap
        offsets.append(t)
    return tuple(offsets)


def gamma_gaps(rate: float, burstiness: float, count: int, rng: random.Random) -> list[float]:
    """``count`` inter-arrival gaps: gamma with shape ``burstiness`` and scale 1/(rate x burstiness) (1: exponential)."""
    if burstiness == 1.0:
        return [rng.expovariate(rate) for _ in range(count)]
    return [rng.gammavariate(burstiness, 1.0 / (rate * burstiness)) for _ in range(count)]


def poisson(rate: float, count: int, *, seed: int | None = 0) -> Arrivals:
    """``count`` Poisson arrivals at ``rate`` requests/s (exponential gaps), the first at 0."""
    return gamma(rate, 1.0, count, seed=seed)


def gamma(rate: float, burstiness: float, count: int, *, seed: int | None = 0) -> Arrivals:
    """``count`` arrivals with gamma gaps (vLLM's ``--burstiness``): mean rate ``rate``, gap CV 1/sqrt(burstiness)."""
    rate, burstiness, count = _positive("the rate (--rate)", rate), _positive("the burstiness (--burstiness)", burstiness), _count(count)
    rng = random.Random(f"arrivals:{seed}")
    offsets = _cumulative(gamma_gaps(rate, burstiness, count - 1, rng))
    kind = "poisson" if burstiness == 1.0 else "gamma"
    recipe = {"kind": kind, "rate_rps": rate, "count": count, "seed": seed} | ({"burstiness": burstiness} if kind == "gamma" else {})
    return Arrivals(kind, tuple(Arrival(t) for t in offsets), recipe)


def parse_ramp(text: str) -> tuple[float, float, float]:
    """``"R0:R1:SECONDS"`` (as ``--ramp`` takes it) as three numbers, or a WorkloadError saying what to write."""
    parts = str(text).split(":")
    try:
        if len(parts) != 3:
            raise ValueError(text)
        r0, r1, seconds = (float(p) for p in parts)
    except ValueError:
        raise WorkloadError(f"--ramp {text!r}: write START_RPS:END_RPS:SECONDS, e.g. --ramp 1:20:60 (1 request/s rising to 20 over a minute)") from None
    if r0 < 0 or not math.isfinite(r0):
        raise WorkloadError(f"--ramp {text!r}: the starting rate must be >= 0")
    _positive(f"--ramp {text!r}: the end rate", r1)
    _positive(f"--ramp {text!r}: the duration", seconds)
    return r0, r1, seconds


def ramp(start_rps: float, end_rps: float, seconds: float, count: int, *, seed: int | None = 0) -> Arrivals:
    """``count`` Poisson arrivals whose rate goes linearly from ``start_rps`` to ``end_rps`` over ``seconds``, then stays.

    Time rescaling: with the cumulative rate L(t) = r0 t + (r1 - r0) t^2 / (2T) up to T (then
    L(T) + r1 (t - T)), the instants L^-1(S_k) of unit-rate arrivals S_k are arrivals at rate r(t).
    """
    if start_rps < 0 or not math.isfinite(start_rps):
        raise WorkloadError(f"the ramp's starting rate must be >= 0, got {start_rps!r}")
    r1, span, count = _positive("the ramp's end rate", end_rps), _positive("the ramp's duration", seconds), _count(count)
    r0 = float(start_rps)
    a = (r1 - r0) / (2 * span)
    area = r0 * span + a * span * span  # L(T): expected arrivals during the ramp
    rng = random.Random(f"arrivals:{seed}")
    # the first request at 0, then the next count-1 arrivals of the process; S_k are unit-rate arrival instants
    s, offsets = 0.0, [0.0]
    for _ in range(count - 1):
        s += rng.expovariate(1.0)
        if s <= area:
            root = math.sqrt(max(0.0, r0 * r0 + 4 * a * s))
            offsets.append(2 * s / (r0 + root) if r0 + root > 0 else 0.0)
        else:
            offsets.append(span + (s - area) / r1)
    recipe = {"kind": "ramp", "start_rps": r0, "end_rps": r1, "seconds": span, "count": count, "seed": seed}
    return Arrivals("ramp", tuple(Arrival(t) for t in offsets), recipe)


def send_instants(rate: float, start: float, end: float, rng: random.Random, *, burstiness: float = 1.0, exact: bool = False) -> list[float]:
    """Send instants in ``[start, end)`` of a clock (a sweep level's window), gamma gaps at ``rate``/s.

    The first instant is one gap after ``start`` (not at it), so back-to-back windows join without
    a double arrival at their boundary. ``burstiness`` 1: Poisson.

    ``exact=True``: exactly ``round(rate x (end - start))`` instants — the same process *given* that
    count: n + 1 gamma gaps scaled to fill the window (Dirichlet gaps, the conditional law of a gamma
    renewal process whose (n+1)-th arrival falls at ``end``; for Poisson, the uniform order
    statistics). The window's rate is then the rate asked for, not a draw around it, and the gaps
    keep their coefficient of variation (scaling does not change it).
    """
    rate, burstiness = _positive("rate", rate), _positive("burstiness", burstiness)
    if exact:
        n = round(rate * (end - start))
        if n < 1:
            return []
        gaps = gamma_gaps(rate, burstiness, n + 1, rng)
        scale = (end - start) / sum(gaps)
        return [start + t * scale for t in _cumulative(gaps[:n])[1:]]
    instants, t = [], start
    while True:
        t += gamma_gaps(rate, burstiness, 1, rng)[0]
        if t >= end:
            return instants
        instants.append(t)


# --------------------------------------------------------------------------- trace replay


def _int_cell(value: str, where: str, name: str) -> int:
    text = (value or "").strip()
    try:
        number = float(text)
    except ValueError:
        raise WorkloadError(f"{where}: field {name!r}: {text!r} is not a number; write a whole number of tokens >= 1") from None
    if not number.is_integer() or number < 1:
        raise WorkloadError(f"{where}: field {name!r}: {text!r} must be a whole number of tokens >= 1")
    return int(number)


def _time_cell(value: str, where: str, column: str) -> float:
    """Seconds: ``offset_s`` as a number; ``timestamp`` as ISO 8601 or Unix epoch seconds."""
    text = (value or "").strip()
    if not text:
        raise WorkloadError(f"{where}: field {column!r} is empty")
    try:
        seconds = float(text)
    except ValueError:
        seconds = None
    if seconds is None:
        if column == "offset_s":
            raise WorkloadError(f"{where}: field 'offset_s': {text!r} is not a number of seconds")
        try:
            stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise WorkloadError(f"{where}: field 'timestamp': {text!r} is neither ISO 8601 (2026-01-31T12:00:00.250Z) nor Unix seconds") from None
        if stamp.tzinfo is None:
            raise WorkloadError(f"{where}: field 'timestamp': {text!r} has no time zone; add one (Z or +00:00) so the gaps are exact")
        return stamp.timestamp()
    if not math.isfinite(seconds) or (column == "offset_s" and seconds < 0):
        raise WorkloadError(f"{where}: field {column!r}: {text!r} must be a finite number{' >= 0' if column == 'offset_s' else ''}")
    return seconds


def read_trace(path: str | Path, *, speedup: float = 1.0) -> Arrivals:
    """A trace CSV as a schedule: every row checked first (file, line, field); times divided by ``speedup``.

    Rows are sent in time order (a file out of order is sorted; ties keep the file's order); the
    first row's time is offset 0. Columns besides the four known ones are ignored, so an export from
    Azure Monitor, LiteLLM's spend logs or Langfuse needs only its columns renamed.
    """
    path = Path(path)
    speedup = _positive("--speedup", speedup)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorkloadError(f"trace not found: {path}") from None
    except OSError as exc:
        raise WorkloadError(f"cannot read the trace {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise WorkloadError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the trace as UTF-8 CSV") from None
    reader = csv.reader(text.splitlines())
    header: list[str] | None = None
    rows: list[tuple[float, int, Arrival]] = []
    for line_no, cells in enumerate(reader, start=1):
        if not cells or all(not c.strip() for c in cells):
            continue
        if header is None:
            header = [c.strip().lower() for c in cells]
            times = [c for c in TRACE_TIME_COLUMNS if c in header]
            missing = [c for c in TRACE_COLUMNS if c not in header]
            if len(times) != 1 or missing:
                need = "one of 'timestamp' or 'offset_s'" if len(times) != 1 else ", ".join(repr(c) for c in missing)
                raise WorkloadError(
                    f"{path} line {line_no}: the header must name {need}; it has {', '.join(repr(c) for c in header)}. "
                    "Columns: timestamp (ISO 8601 or Unix seconds) or offset_s, input_tokens, output_tokens, optional conversation_id"
                )
            time_column = times[0]
            index = {name: header.index(name) for name in (time_column, *TRACE_COLUMNS, "conversation_id") if name in header}
            continue
        where = f"{path} line {line_no}"
        if len(cells) < len(header):
            cells = cells + [""] * (len(header) - len(cells))
        seconds = _time_cell(cells[index[time_column]], where, time_column)
        inputs = _int_cell(cells[index["input_tokens"]], where, "input_tokens")
        outputs = _int_cell(cells[index["output_tokens"]], where, "output_tokens")
        conversation = cells[index["conversation_id"]].strip() or None if "conversation_id" in index else None
        rows.append((seconds, line_no, Arrival(0.0, inputs, outputs, conversation, where)))
    if header is None or not rows:
        raise WorkloadError(f"{path}: no requests (expected a header line and one request a line)")
    rows.sort(key=lambda r: (r[0], r[1]))
    first = rows[0][0]
    items = tuple(Arrival((seconds - first) / speedup, a.input_tokens, a.output_tokens, a.conversation_id, a.source) for seconds, _, a in rows)
    recipe = {"kind": "trace", "path": str(path), "sha256": hashlib.sha256(data).hexdigest(), "speedup": speedup, "count": len(items),
              "trace_span_s": rows[-1][0] - first}  # fmt: skip
    return Arrivals("trace", items, recipe)


def inter_arrival_cv(arrivals: Arrivals) -> float:
    """The coefficient of variation (std / mean) of a schedule's gaps: 1 for Poisson, 1/sqrt(b) for gamma."""
    offsets = arrivals.offsets
    gaps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    if len(gaps) < 2:
        raise WorkloadError("the coefficient of variation needs at least 3 arrivals")
    mean = sum(gaps) / len(gaps)
    var = sum((g - mean) ** 2 for g in gaps) / (len(gaps) - 1)
    return math.sqrt(var) / mean
