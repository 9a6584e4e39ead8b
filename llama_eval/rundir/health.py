"""Assess a run directory before anything is concluded from it: which deployments can be judged.

A deployment that was stopped (401, 404, unreachable, failed probe) or whose rows are mostly errors
has no answers worth scoring: its zeros would read as a quality verdict. A run that was interrupted
or left rows undone has partial data: its numbers may be shown, but recommendations are limited to
deployments whose rows are complete. This module assesses a ``Run`` (``rundir.run.load_run``: the
manifest and the final rows, read once) and says so in typed records; reports and ``llama-eval score`` use it to banner, exclude and explain.

It is also the one reader of the measurement facts the runner records per deployment (time scale of
an emulator, event-loop saturation, warm-up rows), so every report rescales and labels the same way.
Old runs without those fields read as: time scale 1.0, not saturated, no warm-up rows.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from llama_eval.records import ANSWERED, ResultRow, Status  # ANSWERED: rows that hold an answer

from .run import Run, as_run
from .run import manifest_deployments as manifest_deployments  # re-exported: callers that read it from here
from .store import final_rows, read_rows

REFUSED = ("content_filter",)  # the platform blocked the prompt: a row about the prompt, not the deployment's health
MOSTLY = 0.5  # more than this share of error rows: "mostly errors"
SATURATION_P95_MS = 10.0  # old manifests: client_loop_lag p95 above this meant saturated (the runner's own warning)


# The intended-timing check (an emulated deployment's measured latency, rescaled, against what the emulator meant to do):
INTENDED_MEDIAN_TOLERANCE = 0.05  # a median more than 5% apart ...
INTENDED_P90_TOLERANCE = 0.10  # ... or a p90 more than 10% apart: the latency is not trustworthy on this machine


@dataclass(frozen=True)
class IntendedComparison:
    """One statistic of one latency, measured (rescaled to service time) and as the emulator intended it."""

    metric: str  # "TTFT", "ITL" (the median gap of each answer), "e2e"
    statistic: str  # "p50" | "p90", over the deployment's answers
    measured_s: float
    intended_s: float
    tolerance: float  # the largest relative difference that passes

    @property
    def off(self) -> float:
        """Relative difference, measured against intended (+0.35: measured 35% longer)."""
        if self.intended_s > 0:
            return self.measured_s / self.intended_s - 1
        return 0.0 if self.measured_s == 0 else float("inf")

    @property
    def ok(self) -> bool:
        return abs(self.off) <= self.tolerance

    def sentence(self) -> str:
        """``TTFT p90 2,818 ms measured vs 540 ms intended (+422%; tolerance 10%)``."""
        return (
            f"{self.metric} {self.statistic} {_ms(self.measured_s)} measured vs {_ms(self.intended_s)} intended "
            f"({self.off:+.0%}; tolerance {self.tolerance:.0%})"
        )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:,.1f} ms"


@dataclass(frozen=True)
class IntendedCheck:
    """An emulated deployment's measured latency against the timing the emulator intended (``records.IntendedTiming``).

    The emulator sends, with every answer, the time to first token, token gap and end-to-end time it
    simulated, in the service's time. Measured times are rescaled by the run's time scale and
    compared per statistic: a median more than ``INTENDED_MEDIAN_TOLERANCE`` or a p90 more than
    ``INTENDED_P90_TOLERANCE`` apart means delays that are not the emulated service's (this machine,
    the client, the emulator's own loop, magnified by 1/time scale) are in the figures: the
    deployment's latency is not trustworthy on this machine. This catches a stall of one deployment
    as well as of all, whatever caused it.
    """

    requests: int  # answers compared (answered, not warm-up, with an intended timing)
    comparisons: tuple[IntendedComparison, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.comparisons)

    @property
    def failed(self) -> tuple[IntendedComparison, ...]:
        return tuple(c for c in self.comparisons if not c.ok)

    def get(self, metric: str, statistic: str) -> IntendedComparison | None:
        return next((c for c in self.comparisons if c.metric == metric and c.statistic == statistic), None)

    def sentence(self) -> str:
        """The failed comparisons (all of them when it passed), joined."""
        return "; ".join(c.sentence() for c in (self.failed or self.comparisons))


def _quantiles(values: Sequence[float]) -> tuple[float, float]:
    """(median, p90) interpolated between ranks, as pandas' quantile (what the latency table shows)."""
    if len(values) == 1:
        return values[0], values[0]
    return statistics.median(values), statistics.quantiles(values, n=10, method="inclusive")[8]


def intended_check(rows: Iterable[ResultRow], time_scale: float) -> IntendedCheck | None:
    """Compare a deployment's answers, measured and rescaled by ``time_scale``, with the emulator's intended timing.

    TTFT and end-to-end time: median and p90 over the answers; ITL: the median of each answer's
    median gap (what the latency table shows). Only answers that carry an intended timing count
    (warm-up rows and failures do not); None when there are none (a real service, the SDK client,
    a run from before the emulator sent it) or the emulator ran without delays (time scale 0).
    """
    if time_scale <= 0:
        return None
    pairs: dict[str, list[tuple[float, float]]] = {"TTFT": [], "ITL": [], "e2e": []}
    requests = 0
    for r in rows:
        if r.status not in ANSWERED or r.warmup or r.timing is None or r.intended_e2e_s is None:
            continue
        requests += 1
        t = r.timing
        pairs["e2e"].append((t.e2e_s / time_scale, r.intended_e2e_s))
        if t.ttft_s is not None and r.intended_ttft_s is not None:
            pairs["TTFT"].append((t.ttft_s / time_scale, r.intended_ttft_s))
        if t.itl_p50_s is not None and r.intended_itl_s is not None:
            pairs["ITL"].append((t.itl_p50_s / time_scale, r.intended_itl_s))
    if not requests:
        return None
    comparisons = []
    for metric, values in pairs.items():
        if not values:
            continue
        measured = _quantiles([m for m, _ in values])
        intended = _quantiles([i for _, i in values])
        comparisons.append(IntendedComparison(metric, "p50", measured[0], intended[0], INTENDED_MEDIAN_TOLERANCE))
        if metric != "ITL":  # the table shows ITL's median only
            comparisons.append(IntendedComparison(metric, "p90", measured[1], intended[1], INTENDED_P90_TOLERANCE))
    return IntendedCheck(requests, tuple(comparisons))


class DeploymentState(StrEnum):
    """How far a deployment's rows can be trusted."""

    OK = "ok"  # every row final, mostly answers
    INCOMPLETE = "incomplete"  # rows missing (interrupted, budget): shown, but no recommendation
    MOSTLY_ERRORS = "mostly errors"  # more than half its rows are errors: no verdict
    STOPPED = "stopped"  # the runner stopped it (auth, not found, unreachable, probe failed): no verdict


class RunState(StrEnum):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"  # finished, with rows not run (a deployment stopped, the budget reached)
    INTERRUPTED = "interrupted"  # stopped before the end (Ctrl-C, killed): resume it


EXCLUDED = (DeploymentState.STOPPED, DeploymentState.MOSTLY_ERRORS)


@dataclass(frozen=True)
class DeploymentHealth:
    """One deployment of a run: its state, the error behind it and what to check; and how its times were measured."""

    name: str
    model: str | None
    kind: str | None
    state: DeploymentState
    rows: int  # final rows
    expected: int  # rows the run planned for it
    answered: int
    errors: int
    error: str = ""  # the stop reason or the most common error, as recorded
    check: str = ""  # what to look at
    time_scale: float = 1.0  # the emulator's time scale (1.0: real time); reported latencies are measured / time_scale
    saturated: bool = False  # the measuring client was saturated: latencies include client queueing
    loop_lag_ms: float | None = None  # the saturation figure recorded (p99, or p95 in old runs)
    warmup_rows: int = 0  # rows flagged warm-up: left out of latency statistics
    paused: str = ""  # a pause of this machine (or the emulator) that its in-flight requests sat through
    simulated: bool = False  # answered by the llama-eval emulator
    time_scale_recorded: bool = True  # False: a run from before the runner recorded the emulator's time scale
    incomplete_rows: int = 0  # rows whose answer was cut short (no finish_reason) after every retry: among ``errors``
    intended: IntendedCheck | None = None  # emulated: measured (rescaled) against the emulator's intended timing

    @property
    def latency_caveat(self) -> str:
        """Why this deployment's latency supports no conclusion ("" when it does)."""
        if self.saturated:
            return "the measuring client was saturated"
        if self.unknown_time_base:
            return "the emulator's time scale was not recorded"
        if self.intended_mismatch:
            assert self.intended is not None
            return f"not trustworthy on this machine: the measured times are not the emulator's intended ones ({self.intended.sentence()})"
        if self.paused:
            return self.paused
        return ""

    @property
    def intended_mismatch(self) -> bool:
        """Emulated, and the measured latency (rescaled) is further from the emulator's intended timing than the tolerance."""
        return self.intended is not None and not self.intended.ok

    @property
    def unknown_time_base(self) -> bool:
        """Emulated, with no recorded time scale: the times may be those of a sped-up emulator, not the service's."""
        return self.simulated and not self.time_scale_recorded

    @property
    def excluded(self) -> bool:
        """Left out of paired comparisons and recommendations."""
        return self.state in EXCLUDED

    @property
    def complete(self) -> bool:
        return self.state is DeploymentState.OK

    def cut_short(self) -> str:
        """A sentence naming the deployment's answers cut short (``incomplete`` rows), or "" when it has none.

        They are failed requests the server answered with 200, so nothing else in a report shows them
        as such: said here so a lower score or a shorter latency list is not read as the model's doing.
        """
        if not self.incomplete_rows:
            return ""
        return (
            f"{self.name}: {self.incomplete_rows} of {self.rows} requests ended without a finish_reason after every retry "
            f"(status incomplete: a stream the server cut short). They count as failed requests, as other failures do, "
            f"not as answers the model got wrong, and are left out of the latency figures. Check {what_to_check(Status.INCOMPLETE, 200, {})}."
        )

    def sentence(self) -> str:
        """One line for a banner or the CLI: name, state, error, what to check."""
        text = f"{self.name} ({self.model or 'no model'}) {self.state}: {self.answered} of {self.expected} requests answered."
        if self.error:
            text += f" Error: {self.error}."
        if self.check:
            text += f" Check {self.check}."
        return text


@dataclass(frozen=True)
class RunHealth:
    run_dir: Path
    state: RunState
    manifest_status: str
    rows: int
    expected: int
    deployments: dict[str, DeploymentHealth] = field(default_factory=dict)

    @property
    def excluded(self) -> list[DeploymentHealth]:
        return [d for d in self.deployments.values() if d.excluded]

    @property
    def comparable(self) -> list[str]:
        """Deployments that may enter paired comparisons (not stopped, not mostly errors)."""
        return [n for n, d in self.deployments.items() if not d.excluded]

    @property
    def recommendable(self) -> list[str]:
        """Deployments that may be recommended: complete rows, mostly answers."""
        return [n for n, d in self.deployments.items() if d.complete]

    def run_banner(self) -> str | None:
        """A sentence for an incomplete or interrupted run; None for a complete one."""
        if self.state is RunState.COMPLETE:
            return None
        done = f"{self.rows:,} of {self.expected:,} planned requests have a result"
        if self.state is RunState.INTERRUPTED:
            return (
                f"This run was interrupted ({self.manifest_status}): {done}. Figures describe the part that ran; "
                "recommendations are limited to deployments whose rows are complete. Finish it with `llama-eval run ... --resume`."
            )
        missing = " (the missing rows: a stopped deployment, or the budget; `llama-eval run ... --resume` runs them)" if self.rows < self.expected else ""
        return f"This run is incomplete ({self.manifest_status}): {done}. Recommendations are limited to deployments whose rows are complete{missing}."

    def cut_short(self) -> list[str]:
        """One sentence per deployment with answers cut short (``incomplete`` rows), for banners and report notes."""
        return [text for d in self.deployments.values() if (text := d.cut_short())]

    def latency_unreliable(self) -> list[str]:
        """Deployments whose latency figures support no conclusion (saturated client, unknown time base)."""
        return [n for n, d in self.deployments.items() if d.latency_caveat and not d.excluded]


# --------------------------------------------------------------------------- reading the run


def _probe_error(probe: Any) -> str | None:
    """The probe's error text, or None when it passed (or was not recorded)."""
    if probe is None or probe == "ok" or probe is True:
        return None
    if isinstance(probe, dict):
        if probe.get("ok") or probe.get("status") == "ok":
            return None
        return str(probe.get("error") or probe.get("reason") or probe.get("status") or probe)
    return str(probe)


def _float(value: Any, default: float | None) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if number == number else default  # NaN -> default


def time_scale_of(record: dict[str, Any]) -> float:
    """The deployment's recorded time scale; 1.0 when missing (real services, runs made before it was recorded)."""
    scale = _float(record.get("time_scale"), 1.0)
    return 1.0 if scale is None or scale < 0 else scale


def _saturation(record: dict[str, Any], summary: Mapping[str, Any]) -> tuple[bool, float | None]:
    lag = record.get("loop_lag")
    if isinstance(lag, dict):
        return bool(lag.get("saturated")), _float(lag.get("p99_ms"), None)
    if record.get("time_scale") is not None:  # a runner that records per deployment, and recorded no lag for this one
        return False, None
    old = summary.get("client_loop_lag") or {}
    p95 = _float(old.get("p95_ms"), None)
    return (p95 is not None and p95 > SATURATION_P95_MS), p95


def what_to_check(status: str, http_status: int | None, record: dict[str, Any]) -> str:
    """Advice for the most common failure of a deployment, naming the config field to look at."""
    key = record.get("key_env")
    endpoint = record.get("endpoint") or (f"${record['endpoint_env']}" if record.get("endpoint_env") else "the endpoint")
    if status == "auth_error" or http_status in (401, 403):
        return f"the key in ${key} belongs to this endpoint ({endpoint})" if key else "the Entra ID credential and its role on the endpoint"
    if http_status == 404:
        return (
            f"the endpoint URL ({endpoint}): the deployment's target URI without a /chat/completions suffix, "
            "and deployment_name where the endpoint serves several models"
        )
    if status in ("connection_error", "unreachable"):
        return f"that {endpoint} is reachable from this machine (host name, network, VPN, the endpoint running)"
    if status == "rate_limited" or http_status == 429:
        return "the deployment's quota (TPM/RPM) and --concurrency; quotas can be shared by deployments of one subscription"
    if status == "timeout":
        return "the endpoint's load and --timeout"
    if status == "invalid_request" or (http_status is not None and 400 <= http_status < 500):
        return "the request parameters against what this deployment accepts (the error message names the field)"
    if status == "malformed_response":
        return "that the endpoint speaks the API set in the deployment's 'api' field"
    if status == Status.INCOMPLETE:
        return (
            "why the server ends generations early: llama.cpp's server cuts a running stream when another request arrives "
            "(start it with --interrupt_requests False), or a restart, a pre-empted sequence, a proxy or load balancer timeout"
        )
    if http_status is not None and http_status >= 500:
        return "the service's health (server errors); try again later"
    return "the error messages in results.jsonl"


def _stop_status(reason: str) -> tuple[str, int | None]:
    """(status, http status) guessed from a stop reason's text, for the advice."""
    text = reason.lower()
    if "authentication" in text or "401" in text or "403" in text:
        return "auth_error", 401
    if "not found" in text or "404" in text:
        return "http_error", 404
    if "unreachable" in text or "connect" in text or "resolve" in text:
        return "connection_error", None
    return "http_error", None


PAUSE_MIN_S = 1.0  # a stretch with requests in flight and none finishing, this long ...
PAUSE_MEDIANS = 5  # ... and this many times the median request, is a pause of the machine, not the service


def _when(value: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def longest_pause(rows: Iterable[ResultRow]) -> tuple[float, float, set[str]] | None:
    """(start, seconds, deployments in flight) of the longest stretch in which no request finished while several were in flight.

    Every deployment stalling at once is not how services behave: it is this machine (or the emulator
    process) pausing, and rescaling an emulator's time by 1/scale magnifies such a pause 50 or 100 times.
    """
    spans = [(a, b, r.deployment) for r in rows if (a := _when(r.started_at)) is not None and (b := _when(r.finished_at)) is not None]
    if len(spans) < 3:
        return None
    ends = sorted(b for _, b, _ in spans)
    median = sorted(b - a for a, b, _ in spans)[len(spans) // 2]
    best = None
    for before, after in zip(ends, ends[1:], strict=False):
        gap = after - before
        if gap >= max(PAUSE_MIN_S, PAUSE_MEDIANS * median) and (best is None or gap > best[1]):
            through = {d for a, b, d in spans if a <= before and b >= after}
            if len(through) >= 2 or sum(a <= before and b >= after for a, b, _ in spans) >= 2:
                best = (before, gap, through)
    return best


def _describe(row: ResultRow) -> str:
    http = f"HTTP {row.http_status} " if row.http_status else ""
    message = str(row.error_message or row.error_code or "").strip()
    return f"{http}{row.status}" + (f": {message[:200]}" if message else "")


def run_rows(run_dir: str | Path) -> tuple[dict[str, Any], ...]:
    """The run's final rows as stored (dicts), read each time it is called.

    Kept for the cost modules that still take a run directory and read rows by key; analysis reads
    a ``Run`` (``rundir.run.load_run``) once and passes it on, which needs no cache.
    """
    return tuple(final_rows(read_rows(run_dir)).values())


def assess_run(run: Run | str | Path) -> RunHealth:
    """Say, per deployment and for the run, what can be concluded from it (a run directory is read first).

    A ``Run`` is assessed once: the health of the same ``Run`` object is returned again (a report asks in every section)."""
    return as_run(run).derived(_assess)


def _assess(run: Run) -> RunHealth:
    manifest = run.manifest
    records = manifest.deployments
    rows = run.rows
    by_deployment = run.by_deployment()
    items = manifest.prompt_set.items
    repeats = manifest.repeats
    planned = {(r.prompt_id, r.repeat) for r in rows}
    per_deployment_expected = int(items) * int(repeats) if items and repeats else len(planned)
    stopped = manifest.stopped_deployments
    pause = longest_pause(rows)

    deployments: dict[str, DeploymentHealth] = {}
    for name, own in by_deployment.items():
        record = records.get(name, {})
        answered = sum(r.status in ANSWERED for r in own)
        error_rows = [r for r in own if r.status not in ANSWERED and r.status not in REFUSED]
        common = Counter((r.status, r.http_status) for r in error_rows).most_common(1)
        example = next((r for r in error_rows if (r.status, r.http_status) == common[0][0]), None) if common else None
        stop_reason = stopped.get(name) or _probe_error(record.get("probe"))
        if stop_reason is None and example is not None and answered == 0 and (example.status == Status.AUTH_ERROR or example.http_status == 404):
            stop_reason = _describe(example)  # runs that did not record the stop: no answer and a fatal error
        if stop_reason:
            state = DeploymentState.STOPPED
            error = str(stop_reason)
            status, http = _stop_status(error) if example is None else (str(example.status), example.http_status)
            check = what_to_check(status, http, record)
        elif own and len(error_rows) > MOSTLY * len(own):
            state = DeploymentState.MOSTLY_ERRORS
            assert example is not None
            error = f"{len(error_rows)} of {len(own)} rows failed; most often {_describe(example)}"
            check = what_to_check(example.status, example.http_status, record)
        elif len(own) < per_deployment_expected:
            state = DeploymentState.INCOMPLETE
            error = f"{per_deployment_expected - len(own)} of {per_deployment_expected} requests have no result"
            check = "resume the run (`llama-eval run ... --resume`)"
        else:
            state, error, check = DeploymentState.OK, "", ""
        saturated, lag = _saturation(record, manifest.summary)
        deployments[name] = DeploymentHealth(
            name=name,
            model=record.get("model") or next((r.model for r in own), None),
            kind=record.get("kind"),
            state=state,
            rows=len(own),
            expected=max(per_deployment_expected, len(own)),
            answered=answered,
            errors=len(error_rows),
            error=error,
            check=check,
            time_scale=time_scale_of(record),
            saturated=saturated,
            loop_lag_ms=lag,
            warmup_rows=sum(bool(r.warmup) for r in own),
            paused=(
                f"requests sat through a {pause[1]:.1f} s pause in which no request of any deployment finished (this machine or the emulator paused)"
                if pause and name in pause[2]
                else ""
            ),
            simulated=any(r.simulated for r in own),
            time_scale_recorded=record.get("time_scale") is not None,
            incomplete_rows=sum(r.status == Status.INCOMPLETE for r in own),
            intended=intended_check(own, time_scale_of(record)),
        )

    expected = sum(d.expected for d in deployments.values())
    status = manifest.status
    if status in ("interrupted", "running") or (status == "no manifest" and len(rows) < expected):
        state = RunState.INTERRUPTED
    elif status not in ("completed", "no manifest") or any(d.rows < d.expected for d in deployments.values()):
        state = RunState.INCOMPLETE
    else:
        state = RunState.COMPLETE
    return RunHealth(run_dir=run.path.resolve(), state=state, manifest_status=status, rows=len(rows), expected=expected, deployments=deployments)
