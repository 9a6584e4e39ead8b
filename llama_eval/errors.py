"""The exceptions llama-eval raises, so callers can branch on what went wrong.

Every exception and warning the package raises on purpose is defined here (modules re-export the
ones they raise, so ``from llama_eval.prompts.prompt_set import PromptSetError`` keeps working). Two families:

* input errors (``ConfigError``, ``CatalogError``, ``PriceTableError``, ``RequestValidationError``)
  are raised *before* anything is sent, and their message says where the problem is and what to do;
* endpoint errors (``EndpointError`` and its subclasses) wrap what a server answered, the same way
  for both transports (azure-ai-inference and openai-v1), so the runner can classify a failure
  without knowing which SDK raised it.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any


class LlamaEvalError(Exception):
    """Base class of every error llama-eval raises on purpose."""


class LlamaEvalWarning(UserWarning):
    """Base of llama-eval's warnings; shown as one readable line (``LifecycleWarning: ...``), no source path."""


class CatalogError(LlamaEvalError):
    """The model catalog (data/models.yaml) is malformed, or a model id is not in it."""


class PriceUpdateError(LlamaEvalError):
    """``llama-eval prices update`` could not read the Azure Retail Prices API; nothing was written."""


class EmulatorStartError(LlamaEvalError, OSError):
    """The emulator could not listen (a port in use, a bad host); the message says which and what to do."""


class UnverifiedParameterWarning(LlamaEvalWarning):
    """A request uses a Llama extra that no source says today's deployment of that model accepts."""


class UnknownPromptWarning(LlamaEvalWarning):
    """The emulator was sent a prompt whose reference it does not know: its answer cannot be scored fairly."""


class ConfigError(LlamaEvalError):
    """A deployments file or environment variable is wrong; the message names file, line and field."""


class PriceTableError(LlamaEvalError):
    """A price table (data/prices.csv, data/compute_prices.csv or a user override) is malformed."""


class ExportError(LlamaEvalError):
    """An export cannot be written: unknown format, no run there, or a prompt set that no longer matches the run."""


class JudgeOutputError(LlamaEvalError):
    """A judge's reply holds no JSON grade (azure:* scorers); caught where raised: the row is unscorable, never 0."""

    def __init__(self, text: str):
        super().__init__(f"unparseable judge output: {text.strip()[:120]!r}")
        self.text = text


class PromptSetError(LlamaEvalError):
    """A prompt-set file is malformed; the message names file, line and field."""


class ScorerError(LlamaEvalError):
    """A scorer name or its options are wrong (raised when the prompt set is loaded)."""


class RunError(LlamaEvalError):
    """The run cannot start (or go on): the message says why and what to do."""


class BudgetError(RunError):
    """The worst-case cost of the run exceeds the budget."""


class ReportError(LlamaEvalError):
    """A report notebook failed; the message names the notebook and the error."""


class LifecycleWarning(LlamaEvalWarning):
    """A serverless deployment points at a model whose serverless offer is deprecated or retired."""


class TornLineWarning(LlamaEvalWarning):
    """The last line of results.jsonl was cut off by a crash; its request will run again."""


class RequestValidationError(LlamaEvalError, ValueError):
    """A request breaks a rule of the Llama endpoints; raised before anything is sent.

    ``rule`` is a short stable name (e.g. ``"best_of_gt_n"``) that tests and callers can match on.
    """

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule


# Response headers that are useful to keep on an error; everything else (and anything that could carry
# a credential) is dropped, so an exception can be logged or stored without leaking a secret.
SAFE_RESPONSE_HEADERS = (
    "retry-after",
    "retry-after-ms",
    "x-ms-retry-after-ms",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ms-error-code",
    "x-request-id",
    "apim-request-id",
    "x-ms-client-request-id",
    "content-type",
)


def safe_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """Keep only the response headers in SAFE_RESPONSE_HEADERS (lower-cased names)."""
    if not headers:
        return {}
    return {k.lower(): v for k, v in headers.items() if k.lower() in SAFE_RESPONSE_HEADERS}


class EndpointError(LlamaEvalError):
    """The endpoint answered with an error status, or could not be reached.

    Attributes:
        status_code: HTTP status, or None when no response arrived (connection error, timeout).
        code: the service's error code (``error.code`` / ``code`` in the body, or the
            ``x-ms-error-code`` header), when there is one.
        message: the service's error message, or a description of the transport failure.
        body: the parsed JSON error body (or None).
        headers: the response headers that are safe to keep (see SAFE_RESPONSE_HEADERS).
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        code: str | None = None,
        body: object = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.body = body
        self.headers = safe_headers(headers)

    @property
    def retry_after_s(self) -> float | None:
        """Seconds the server asked us to wait (``retry-after-ms`` wins over ``retry-after``)."""
        for name, scale in (("retry-after-ms", 1000.0), ("x-ms-retry-after-ms", 1000.0), ("retry-after", 1.0)):
            value = self.headers.get(name)
            if value is None:
                continue
            try:
                return float(value) / scale
            except ValueError:
                continue  # an HTTP-date; the runner falls back to its own back-off
        return None

    def __str__(self) -> str:
        if self.status_code is None:
            return self.message
        code = f" {self.code}" if self.code else ""
        return f"HTTP {self.status_code}{code}: {self.message}"


class ContentFilterError(EndpointError):
    """Azure AI Content Safety blocked the prompt (HTTP 400, ``code == "content_filter"``).

    Not retryable and not a model failure: the platform refused the input. ``param`` says which part
    (``"prompt"`` or ``"messages"``).
    """

    @property
    def param(self) -> str | None:
        body = self.body if isinstance(self.body, dict) else {}
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        return inner.get("param") if isinstance(inner, dict) else None


class AuthenticationError(EndpointError):
    """HTTP 401/403: the key or token was refused. Not retryable."""


class RateLimitError(EndpointError):
    """HTTP 429: over the deployment's quota. Retry after ``retry_after_s`` (or back off)."""


class EndpointConnectionError(EndpointError):
    """No usable response: connection refused or reset, or a stream cut off mid-way."""


class EndpointTimeout(EndpointConnectionError):
    """The endpoint did not answer within the client's timeout."""


class IncompleteAnswerError(EndpointConnectionError):
    """The endpoint answered 200, but the answer ended without a ``finish_reason``: a generation the server dropped.

    llama.cpp's OpenAI server (default ``--interrupt_requests True``) ends a running stream when another
    request arrives: the role chunk, then ``data: [DONE]``, no content and no finish reason. A restart, a
    pre-empted sequence, or a proxy closing the connection mid-stream look the same, as does a
    non-streamed answer without a ``finish_reason``. What arrived is not the model's answer, so the
    runner records it as ``Status.INCOMPLETE`` (not ``ok``) and retries it like the dropped connection it
    is (hence the base class). ``reply`` is the partial ``records.Reply`` (texts so far, usage if the server
    sent any, arrival stamps), so the tokens it used can still be costed.
    """

    def __init__(self, message: str, *, reply: Any = None):
        super().__init__(message)
        self.reply = reply


class MalformedResponseError(EndpointError):
    """The endpoint answered, but with something that is not the API's shape (bad SSE line, bad JSON)."""


class PathNotFoundError(LlamaEvalError, FileNotFoundError):
    """A path a notebook or command named was not found in any of the places it is looked for."""


class RunDirNotFoundError(LlamaEvalError, FileNotFoundError):
    """A command was given a run directory that does not exist or holds no results ("run directory not found: ...")."""


class ScoresNotFoundError(LlamaEvalError, FileNotFoundError):
    """A run has not been scored yet (no scores.jsonl); the message gives the command that scores it.

    A FileNotFoundError too, as ``pandas.read_csv`` raises for a missing file, so notebook code that
    already catches that keeps working.
    """


class NoSuccessfulRequestsError(LlamaEvalError):
    """Every request of a run failed; the message lists the reasons by deployment (so a scheduled notebook fails)."""


class PromptImportWarning(LlamaEvalWarning):
    """An imported row is usable but incomplete (e.g. no reference); the message names file and line."""


_default_formatwarning = warnings.formatwarning


def _formatwarning(message: Any, category: type[Warning], filename: str, lineno: int, line: str | None = None) -> str:
    if issubclass(category, LlamaEvalWarning):
        return f"{category.__name__}: {message}\n"
    return _default_formatwarning(message, category, filename, lineno, line)


warnings.formatwarning = _formatwarning


# --- load sweeps and capacity (issue 14) ---------------------------------------------------------


class SloError(LlamaEvalError, ValueError):
    """A latency SLO such as ``"ttft_p90<=1.0,e2e_p90<=10"`` cannot be read; the message says which part."""


class SweepError(RunError):
    """A load sweep cannot start: bad levels, an unknown deployment, a missing duration; the message says what to do."""


class LevelAborted(SweepError):  # noqa: N818 - a signal inside the sweeper (caught there), never seen by a user as such
    """A sweep level that cannot be finished (a distributed sweep lost a client): ``kind`` is the sweep's ``stop_kind``, ``why`` the sentence."""

    def __init__(self, why: str, kind: str):
        super().__init__(why)
        self.why, self.kind = why, kind


# --- the run store (issue 25) ---------------------------------------------------------------------


class StoreError(LlamaEvalError):
    """The run store cannot be reached, read or written (a bad URL, a missing extra, an unreadable file); the message says what to do."""


# --- comparing runs and gating on them (issue 26) ------------------------------------------------


class GateError(LlamaEvalError, ValueError):
    """A ``--fail-if`` condition such as ``"quality_drop>2,ttft_p90_increase>20%"`` cannot be read; the message names the token and what is allowed."""


# --- production-shaped workloads (issue 30) -----------------------------------------------------


class WorkloadError(LlamaEvalError, ValueError):
    """An arrival schedule, a trace file or a synthetic-set recipe cannot be used; the message names the file, line and field."""
