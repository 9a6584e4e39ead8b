"""The typed records a run passes between its parts and writes to disk: statuses, usage, timing, rows.

One place names every row status (``Status``) and every row field (``ResultRow``); the results
file's column list is derived from ``ResultRow`` rather than written out a second time. Rows on disk
keep the layout runs have always had (``usage`` nested, ``params`` a mapping, optional fields left
out when empty), so ``ResultRow.from_json`` reads runs written before these records existed.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection
from dataclasses import dataclass, field, fields
from decimal import Decimal
from enum import StrEnum
from typing import Any

from .errors import IncompleteAnswerError


class Status(StrEnum):
    """The status of a result row; its string value is what ``results.jsonl`` holds.

    Only ``ok`` and ``length`` are answers (``ANSWERED``): scored, timed, counted as successes. Every
    other status is a failed request. All are final except ``budget_skipped``: ``--resume`` keeps a
    final row and sends only the requests without one (and the budget-skipped ones) again.

    ``incomplete``: the endpoint said 200 but the answer ended without a ``finish_reason`` on every
    choice, so it is not the model's answer but a generation the server dropped. llama.cpp's server
    (its default ``--interrupt_requests True``) ends a running stream when another request arrives,
    with the role chunk and then ``[DONE]``; a restart, a pre-empted sequence or a proxy cutting the
    connection look the same, and so does a non-streamed answer without a ``finish_reason``. Scoring
    its empty or partial text would read as a wrong answer, and timing it as a fast success, so it is
    retried like a dropped connection; after the last attempt it is final, like ``connection_error``
    (``--resume`` does not send it again). The row keeps the reason in ``error_message`` ("the stream
    ended without a finish_reason after N content chunks ..."), what text did arrive, and the tokens
    it used (the server's usage if it sent any, else counted here) so that its cost is not lost.
    """

    OK = "ok"
    LENGTH = "length"  # answered, cut at max_tokens
    CONTENT_FILTER = "content_filter"
    HTTP_ERROR = "http_error"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    INCOMPLETE = "incomplete"  # 200, but the answer ended without a finish_reason (a cut stream): a failure, not an answer
    AUTH_ERROR = "auth_error"
    INVALID_REQUEST = "invalid_request"
    MALFORMED_RESPONSE = "malformed_response"
    BUDGET_SKIPPED = "budget_skipped"  # not sent: the budget had no room; a resumed run tries it again

    @property
    def answered(self) -> bool:
        """The endpoint returned a completion (the row has text, usage and timings)."""
        return self in ANSWERED

    @property
    def final(self) -> bool:
        """A resumed run keeps the row (only budget-skipped rows are tried again)."""
        return self not in NOT_FINAL


# The string values, which equal (and hash like) the members: ``"ok" in ANSWERED`` and ``Status.OK in ANSWERED``.
# The one definition of "the endpoint answered": health, scoring, cost, export and reports all read it from here.
ANSWERED = frozenset({Status.OK.value, Status.LENGTH.value})
NOT_FINAL = frozenset({Status.BUDGET_SKIPPED.value})


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens of one request, from the server (``source="server"``) or counted here (``"estimated"``)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_tokens: int | None = None  # prompt tokens served from the server's prefix cache (vLLM's prompt_tokens_details); None: not reported

    def to_json(self) -> dict[str, int]:
        out = {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens, "total_tokens": self.total_tokens}
        if self.cached_tokens is not None:
            out["cached_tokens"] = self.cached_tokens
        return out

    @classmethod
    def from_json(cls, data: Any) -> Usage | None:
        """From a row on disk (``cached_tokens`` flat) or a server's usage (``prompt_tokens_details.cached_tokens``, as vLLM and OpenAI send it)."""
        if not isinstance(data, dict):
            return None
        prompt, completion = int(data.get("prompt_tokens") or 0), int(data.get("completion_tokens") or 0)
        cached = data.get("cached_tokens")
        details = data.get("prompt_tokens_details")
        if cached is None and isinstance(details, dict):
            cached = details.get("cached_tokens")
        return cls(prompt, completion, int(data.get("total_tokens") or prompt + completion), int(cached) if isinstance(cached, (int, float)) else None)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (0 <= q <= 1); the list need not be sorted."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass(frozen=True, slots=True)
class Timing:
    """What was measured of one request. Streams: first content and gaps; otherwise only end to end."""

    streamed: bool
    e2e_s: float
    ttft_s: float | None = None
    itl_mean_s: float | None = None
    itl_p50_s: float | None = None
    itl_p95_s: float | None = None
    output_tps: float | None = None
    content_chunks: int | None = None
    timing_note: str | None = None

    @classmethod
    def measure(cls, started: float, arrivals: list[float], ended: float, streamed: bool, completion_tokens: int | None) -> Timing:
        """Timing from perf_counter stamps: the request's start, each content event's arrival, the end."""
        e2e = round(ended - started, 6)
        if not streamed:
            return cls(False, e2e, timing_note="not streamed: only end-to-end time is measured")
        if not arrivals:
            return cls(True, e2e, content_chunks=0)
        ttft = round(arrivals[0] - started, 6)
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
        itl: dict[str, float] = {}
        if gaps:
            itl = {"itl_mean_s": round(statistics.fmean(gaps), 6), "itl_p50_s": round(percentile(gaps, 0.5), 6), "itl_p95_s": round(percentile(gaps, 0.95), 6)}
        decode = e2e - ttft
        tps = round(completion_tokens / decode, 3) if completion_tokens and decode > 0 else None
        return cls(True, e2e, ttft, output_tps=tps, content_chunks=len(arrivals), **itl)


INTENDED_HEADER = "x-llama-eval-intended"  # an answer's intended timing (the emulator only), streamed or not


@dataclass(frozen=True, slots=True)
class IntendedTiming:
    """The timing the emulator simulated for one answer, in the emulated service's time (seconds).

    The emulator knows what it meant to do: the time to first token (with any wait for a place in a
    batch), the gap between tokens, the end-to-end time and the number of token steps. It sends them
    with every answer (``to_text``: ``ttft=0.412;itl=0.021;e2e=1.93;tokens=80``) in the
    ``INTENDED_HEADER`` response header, streamed or not: it is decided before the first byte, and
    SDKs ignore headers they do not know (an SSE comment would not do: azure-ai-inference's stream
    parser raises on any line but ``data:``). The measuring client reads it back (``parse``); a real
    service sends none. ``rundir.health`` compares it with what was measured, rescaled: the truth the measurement is
    checked against.
    """

    ttft_s: float
    itl_s: float
    e2e_s: float
    tokens: int

    def to_text(self) -> str:
        return f"ttft={self.ttft_s:.6g};itl={self.itl_s:.6g};e2e={self.e2e_s:.6g};tokens={self.tokens}"

    @classmethod
    def parse(cls, text: str | bytes | None) -> IntendedTiming | None:
        """``to_text``'s output back; None when absent or not that."""
        if not text:
            return None
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        try:
            parts = dict(part.split("=", 1) for part in text.split(";"))
            return cls(float(parts["ttft"]), float(parts["itl"]), float(parts["e2e"]), int(parts["tokens"]))
        except (ValueError, KeyError):
            return None


# Fields written even when empty (None): the row's identity, outcome and money.
_ALWAYS = frozenset(
    {"key", "deployment", "model", "api", "prompt_id", "repeat", "tags", "params", "status", "attempts", "started_at", "finished_at", "cost_usd", "price_known"}
)
_TIMING_FIELDS = tuple(f.name for f in fields(Timing))
_CONVERTED = frozenset({"timing", "usage", "cost_usd", "status", "tags", "choices"})  # fields stored other than as they are


@dataclass(frozen=True, slots=True)
class ResultRow:
    """One line of ``results.jsonl``: one finished request (see ``results`` for the schema's meaning)."""

    key: str
    deployment: str
    model: str | None
    api: str
    prompt_id: str
    repeat: int
    status: Status
    tags: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    http_status: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    response_text: str | None = None
    choices: tuple[str, ...] | None = None  # every choice's text when n > 1
    finish_reason: str | None = None
    usage: Usage | None = None
    usage_source: str | None = None  # server | estimated
    timing: Timing | None = None
    attempts: int = 0
    retry_wait_s: float | None = None
    queue_wait_s: float | None = None
    started_at: str | None = None
    finished_at: str | None = None
    cost_usd: Decimal | None = None
    price_known: bool | None = None
    simulated: bool | None = None  # the answer came from the llama-eval emulator
    warmup: bool | None = None  # excluded from latency statistics (first request(s) of a deployment)
    # what the emulator meant to do (IntendedTiming, in the emulated service's time); None for a real service
    intended_ttft_s: float | None = None
    intended_itl_s: float | None = None
    intended_e2e_s: float | None = None
    # open-loop arrivals (``--rate``, ``--ramp``, ``--trace``): the send instant the schedule asked for and the one this
    # process managed, in seconds from the schedule's start, and the difference (the sender's own lateness, not the service's)
    scheduled_s: float | None = None
    sent_s: float | None = None
    sender_lateness_s: float | None = None
    # conversation prompt sets: one row per turn; ``prompt_id`` is then ``<conversation_id>#<turn>``
    conversation_id: str | None = None
    turn: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The row as ``results.jsonl`` stores it (usage nested, timing fields flat, Decimal as text)."""
        out: dict[str, Any] = {}
        for name in _ROW_FIELDS:  # runs once per request: plain attribute reads, no dataclasses.fields()
            value = getattr(self, name)
            if value is None:
                if name in _ALWAYS:
                    out[name] = None
            elif name not in _CONVERTED:
                out[name] = value
            elif name == "timing":
                for key in _TIMING_FIELDS:
                    part = getattr(value, key)
                    if part is not None:
                        out[key] = part
            elif name == "usage":
                out[name] = value.to_json()
            elif name == "cost_usd":
                out[name] = str(value)
            elif name == "status":
                out[name] = value.value
            else:  # tags, choices
                out[name] = list(value)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResultRow:
        """A row read back from disk, also one written by an older llama-eval (missing fields are None)."""
        timing = None
        if data.get("e2e_s") is not None or data.get("streamed") is not None:
            timing = Timing(**{k: data.get(k) for k in _TIMING_FIELDS} | {"streamed": bool(data.get("streamed")), "e2e_s": data.get("e2e_s") or 0.0})
        cost = data.get("cost_usd")
        return cls(
            key=data["key"],
            deployment=data["deployment"],
            model=data.get("model"),
            api=data.get("api") or "azure-ai-inference",
            prompt_id=str(data["prompt_id"]),
            repeat=int(data.get("repeat", 0)),
            status=Status(data["status"]),
            tags=tuple(data.get("tags") or ()),
            params=dict(data.get("params") or {}),
            http_status=data.get("http_status"),
            error_code=data.get("error_code"),
            error_message=data.get("error_message"),
            response_text=data.get("response_text"),
            choices=tuple(data["choices"]) if data.get("choices") else None,
            finish_reason=data.get("finish_reason"),
            usage=Usage.from_json(data.get("usage")),
            usage_source=data.get("usage_source"),
            timing=timing,
            attempts=int(data.get("attempts") or 0),
            retry_wait_s=data.get("retry_wait_s"),
            queue_wait_s=data.get("queue_wait_s"),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            cost_usd=Decimal(cost) if cost is not None else None,
            price_known=data.get("price_known"),
            simulated=data.get("simulated"),
            warmup=data.get("warmup"),
            intended_ttft_s=data.get("intended_ttft_s"),
            intended_itl_s=data.get("intended_itl_s"),
            intended_e2e_s=data.get("intended_e2e_s"),
            scheduled_s=data.get("scheduled_s"),
            sent_s=data.get("sent_s"),
            sender_lateness_s=data.get("sender_lateness_s"),
            conversation_id=data.get("conversation_id"),
            turn=data.get("turn"),
        )


_ROW_FIELDS = tuple(f.name for f in fields(ResultRow))


def row_fields() -> list[str]:
    """The top-level field names of a row on disk, in order (timing fields in place of ``timing``)."""
    names: list[str] = []
    for f in fields(ResultRow):
        names.extend(_TIMING_FIELDS if f.name == "timing" else [f.name])
    return names


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """The one cheap request sent to a deployment before any paid one (``/info``, ``/models`` or 1 token)."""

    ok: bool
    detail: str  # "ok (GET /info)" or the reason it failed
    time_scale: float = 1.0  # the emulator's x-llama-eval-time-scale header; 1.0 for a real service
    emulator: bool = False  # the answer carried x-llama-eval-emulator: simulated (so the runner may teach it the prompts)

    def to_json(self) -> str:
        return "ok" if self.ok else self.detail


@dataclass(frozen=True, slots=True)
class LoopLag:
    """How late this process's event loop woke up while a deployment had requests in flight."""

    saturated: bool
    p99_ms: float
    samples: int = 0
    p90_ms: float = 0.0
    median_latency_ms: float = 0.0  # what the lag is compared with (TTFT, or e2e when not streamed)

    def to_json(self) -> dict[str, Any]:
        return {"saturated": self.saturated, "p99_ms": self.p99_ms, "p90_ms": self.p90_ms, "samples": self.samples, "median_latency_ms": self.median_latency_ms}


@dataclass(slots=True)
class Reply:
    """One successful exchange as a transport saw it, before it becomes a row: texts, usage, stamps.

    ``started``/``ended``/``arrivals`` are ``time.perf_counter`` values: the send, the last byte, and
    each content-bearing event's arrival. Both the wire client and the SDK transports produce it.
    """

    texts: list[str]
    finish_reason: str | None
    usage: Usage | None
    streamed: bool
    started: float
    ended: float
    arrivals: list[float]
    simulated: bool = False
    time_scale: float | None = None
    intended: IntendedTiming | None = None  # the emulator's intended timing of this answer (service time); None elsewhere


_FINISH_AS_IS = frozenset({"stop", "length", "content_filter", "tool_calls"})


def normalise_finish(value: Any) -> str | None:
    """``stop`` / ``length`` / ... from any spelling (SDK enums, ``token_limit_reached``, ``stopped``)."""
    if not value:
        return None
    if type(value) is str and value in _FINISH_AS_IS:  # what nearly every answer says
        return value
    text = str(value).split(".")[-1].lower()
    return {"token_limit_reached": "length", "stopped": "stop"}.get(text, text)


def check_finished(reply: Reply, finished: Collection[int], *, ending: str) -> Reply:
    """``reply`` when every choice carries a ``finish_reason``; otherwise ``IncompleteAnswerError`` holding it.

    A model that finishes says why (``stop``, ``length``, ...) on every choice, streamed or not. An
    answer without one was cut short by the server (llama.cpp's server ends a running stream when
    another request arrives: role chunk, then ``[DONE]``), a restart or a proxy: it is not an answer,
    and must not be scored or timed as one. Both clients (wire and SDK) call this, so a row is never
    ``ok`` without a finish reason. ``finished``: the indexes of the choices that carried one;
    ``ending``: how the answer ended, for the message (``"[DONE] received"``, ``"the connection closed ..."``).
    """
    count = max(len(reply.texts), 1)
    missing = [i for i in range(count) if i not in finished]
    if not missing:
        return reply
    which = "" if len(missing) == count else f" on choice{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))}"
    if reply.streamed:
        message = f"the stream ended without a finish_reason{which} after {len(reply.arrivals)} content chunks ({ending})"
    else:
        message = f"the answer has no finish_reason{which} ({ending})"
    raise IncompleteAnswerError(message, reply=reply)


SERVERLESS, MANAGED, SELF_HOSTED = "serverless", "managed", "self-hosted"  # deployment kinds; the last two are billed per hour
PROVISIONED = "provisioned"  # provisioned throughput (PTU): reserved model throughput, billed per PTU-hour
KINDS = (SERVERLESS, MANAGED, SELF_HOSTED, PROVISIONED)  # every deployment kind, in the order tables list them
FIXED_KINDS = (MANAGED, SELF_HOSTED, PROVISIONED)  # billed by the hour, busy or idle (the one copy: deployments, cost and decide read it here)
MACHINE_KINDS = (MANAGED, SELF_HOSTED)  # billed per VM- or GPU-hour: the kinds that name a `compute`
