"""Scorers backed by Microsoft's azure-ai-evaluation SDK (the ``foundry`` extra), named ``azure:*``.

Teams on Azure AI Foundry already trust these evaluators; here they score llama-eval runs beside the
native scorers, in the same scores.jsonl, so the report's statistics apply unchanged.

* Deterministic: ``azure:f1``, ``azure:rouge`` (option ``rouge_type``, default ``rougeL``),
  ``azure:bleu``, ``azure:gleu``, ``azure:meteor`` call the SDK's evaluator on (answer, reference);
  with several references the best score counts, as for the native scorers.
* AI-assisted: ``azure:relevance``, ``azure:coherence``, ``azure:fluency``, ``azure:similarity``
  and ``azure:groundedness`` (against the item's ``metadata.context``) are graded 1-5 by a judge
  deployment (``--judge NAME``; it sees the question as the last user message and, for
  similarity, the first reference) through its OpenAI-compatible ``/openai/v1`` URL, at the SDK
  prompts' temperature 0. The grade maps to [0, 1] as
  (grade - 1) / 4 and the raw grade is kept (``judge_grade``). Judgments are cached in the run
  directory (``azure_judgments.jsonl``) and the judge's cost is reported apart, as for ``judge``.

Meta Llama endpoints reject ``response_format: json_object`` (422), which the SDK's prompts ask
for; a Llama judge therefore gets the same prompt with ``response_format: text``, and its reply is
read as JSON the way llama-eval's own judge reads one (a fenced block or the first object). Output
that holds no JSON grade from 1 to 5, a "skipped" status, or a failed request makes the row
*unscorable* (None), never 0.

The SDK is imported on first use only (it takes seconds to import); without it every ``azure:*``
scorer raises a ScorerError naming the install command. BLEU, GLEU and METEOR tokenise with NLTK
data (punkt, punkt_tab, wordnet, perluniprops) that the SDK downloads at first use; offline, that
data must be installed beforehand, and its absence is reported before anything is scored.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import math
import weakref
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from llama_eval.deployments.model import openai_base_url
from llama_eval.errors import JudgeOutputError

from .judge import Judgment
from .registry import Score, scorer
from .scorers import ScorerError

INSTALL = "pip install 'llama-eval[foundry]'"
NLTK_RESOURCES = (
    ("wordnet", "corpora/wordnet.zip"),
    ("perluniprops", "misc/perluniprops.zip"),
    ("punkt", "tokenizers/punkt.zip"),
    ("punkt_tab", "tokenizers/punkt_tab.zip"),
)
ROUGE_TYPES = ("rouge1", "rouge2", "rouge3", "rouge4", "rouge5", "rougeL")
CACHE_FILE = "azure_judgments.jsonl"
# The SDK's judge requests log here: retries (429 and the like) stay quiet; the row's reason says what failed.
SDK_LOG = logging.getLogger("llama_eval.azure_eval.sdk")
SDK_LOG.setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class AzureEvaluator:
    """One SDK evaluator as a llama-eval scorer: its class, its result key and the inputs it reads."""

    scorer: str
    cls: str
    key: str
    inputs: tuple[str, ...]
    judged: bool
    needs_nltk: bool = False


EVALUATORS = {
    e.scorer: e
    for e in (
        AzureEvaluator("azure:f1", "F1ScoreEvaluator", "f1_score", ("response", "ground_truth"), False),
        AzureEvaluator("azure:rouge", "RougeScoreEvaluator", "rouge", ("response", "ground_truth"), False),
        AzureEvaluator("azure:bleu", "BleuScoreEvaluator", "bleu", ("response", "ground_truth"), False, needs_nltk=True),
        AzureEvaluator("azure:gleu", "GleuScoreEvaluator", "gleu", ("response", "ground_truth"), False, needs_nltk=True),
        AzureEvaluator("azure:meteor", "MeteorScoreEvaluator", "meteor", ("response", "ground_truth"), False, needs_nltk=True),
        AzureEvaluator("azure:relevance", "RelevanceEvaluator", "relevance", ("query", "response"), True),
        AzureEvaluator("azure:coherence", "CoherenceEvaluator", "coherence", ("query", "response"), True),
        AzureEvaluator("azure:fluency", "FluencyEvaluator", "fluency", ("response",), True),
        AzureEvaluator("azure:similarity", "SimilarityEvaluator", "similarity", ("query", "response", "ground_truth"), True),
        AzureEvaluator("azure:groundedness", "GroundednessEvaluator", "groundedness", ("response", "context"), True),  # the no-query prompt
    )
}


def is_judged(name: str | None) -> bool:
    """True for the AI-assisted azure:* scorers, which need a judge deployment."""
    spec = EVALUATORS.get(name or "")
    return spec is not None and spec.judged


def sdk() -> Any:
    """The ``azure.ai.evaluation`` module, imported now; a ScorerError naming the install command without it."""
    try:
        return importlib.import_module("azure.ai.evaluation")
    except ImportError as exc:
        raise ScorerError(f"the azure:* scorers need Microsoft's azure-ai-evaluation SDK, which is not installed ({exc}); install it with: {INSTALL}") from None


def context_of(item: Any) -> str | None:
    """The grounding text of a prompt item (``metadata.context``), as text."""
    context = (item.metadata or {}).get("context") if item is not None else None
    if context is None or isinstance(context, str):
        return context
    return json.dumps(context)


def check_extra(name: str | None, item: Any = None) -> None:
    """For an azure:* scorer: the SDK is installed (found, not imported) and the item has what it reads."""
    from importlib.util import find_spec

    spec = EVALUATORS.get(name or "")
    if spec is not None and "context" in spec.inputs and item is not None and not context_of(item):
        raise ScorerError(f"scorer {name!r} needs the text to ground the answer in: give the item metadata.context")
    if name in EVALUATORS:
        try:
            found = find_spec("azure.ai.evaluation") is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise ScorerError(f"scorer {name!r} needs Microsoft's azure-ai-evaluation SDK, which is not installed; install it with: {INSTALL}")


def sdk_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("azure-ai-evaluation")
    except PackageNotFoundError:
        return "not installed"


def missing_nltk_data() -> list[str]:
    """The NLTK resources BLEU/GLEU/METEOR need that are not installed (looked up, never downloaded)."""
    import nltk

    missing = []
    for name, resource in NLTK_RESOURCES:
        try:
            nltk.data.find(resource)
        except LookupError:
            missing.append(name)
    return missing


def _require_nltk(name: str) -> None:
    missing = missing_nltk_data()
    if missing:
        raise ScorerError(
            f"scorer {name!r}: azure-ai-evaluation tokenises with NLTK data that is not installed ({', '.join(missing)}); "
            f"the SDK would try to download it at first use. Install it once: python -m nltk.downloader {' '.join(missing)} "
            "(or point NLTK_DATA at a folder that holds it)"
        )


# --------------------------------------------------------------------------- deterministic

_EVALUATOR_CACHE: dict[tuple[str, str], Any] = {}


def deterministic_evaluator(name: str, rouge_type: str = "rougeL") -> Any:
    """The SDK evaluator behind a deterministic azure:* scorer (one instance per name and option)."""
    spec = EVALUATORS[name]
    key = (name, rouge_type if name == "azure:rouge" else "")
    if key not in _EVALUATOR_CACHE:
        module = sdk()
        if spec.needs_nltk:
            _require_nltk(name)
        cls = getattr(module, spec.cls)
        _EVALUATOR_CACHE[key] = cls(rouge_type=module.RougeType(rouge_type)) if name == "azure:rouge" else cls()
    return _EVALUATOR_CACHE[key]


def _references(reference: Any) -> list[str]:
    refs = reference if isinstance(reference, list) else [reference]
    return [json.dumps(r) if isinstance(r, (dict, list)) else str(r) for r in refs if r is not None]


def _deterministic(name: str):
    spec = EVALUATORS[name]

    def score_fn(answer: str, reference: Any, rouge_type: str = "rougeL") -> Score:
        if name == "azure:rouge" and rouge_type not in ROUGE_TYPES:
            raise ScorerError(f"scorer 'azure:rouge': rouge_type must be one of {', '.join(ROUGE_TYPES)}, got {rouge_type!r}")
        evaluator = deterministic_evaluator(name, rouge_type)
        best = None
        for ref in _references(reference):
            value = float(evaluator(response=answer, ground_truth=ref)[spec.key])
            if math.isnan(value):
                continue
            best = value if best is None else max(best, value)
        if best is None:
            return Score(None, f"azure-ai-evaluation {spec.cls} gave no number")
        label = f"{spec.cls} ({rouge_type} F1)" if name == "azure:rouge" else spec.cls
        return Score(best, f"azure-ai-evaluation {label} {best:.2f}")

    score_fn.__name__ = name.replace(":", "_")
    score_fn.__doc__ = f"azure-ai-evaluation's {spec.cls} on (answer, reference), best over the references."
    return score_fn


for _name in ("azure:f1", "azure:bleu", "azure:gleu", "azure:meteor"):
    scorer(_name)(_deterministic(_name))
scorer("azure:rouge", options=("rouge_type",))(_deterministic("azure:rouge"))


# --------------------------------------------------------------------------- AI-assisted


def _needs_judge(name: str):
    def score_fn(answer: str, reference: Any) -> Score:
        raise ScorerError(f"the {name!r} scorer is graded by a judge deployment: llama-eval score RUN --judge NAME -d deployments.yaml")

    score_fn.__name__ = name.replace(":", "_")
    score_fn.__doc__ = f"AI-assisted: azure-ai-evaluation's {EVALUATORS[name].cls}, graded 1-5 by the --judge deployment."
    return score_fn


for _spec in EVALUATORS.values():
    if _spec.judged:
        scorer(_spec.scorer, needs_reference="ground_truth" in _spec.inputs)(_needs_judge(_spec.scorer))


def model_configuration(deployment: Any) -> dict[str, Any]:
    """An OpenAI model configuration for the SDK, pointed at the deployment's ``/openai/v1`` URL.

    Holds the key in memory only; nothing here is written anywhere.
    """
    if deployment.auth != "key":
        raise ScorerError(
            f"judge deployment {deployment.name!r} uses auth: {deployment.auth}; the azure:* AI-assisted scorers reach the judge "
            "through an OpenAI model configuration, which takes a key: use a deployment with auth: key as the judge"
        )
    config: dict[str, Any] = {
        "type": "openai",
        "base_url": openai_base_url(deployment.resolve_endpoint()),
        "api_key": deployment.resolve_key(),
        "model": deployment.request_model_name() or deployment.model or deployment.name,
    }
    if deployment.headers:
        config["extra_headers"] = dict(deployment.headers)
    return config


def _judge_reply_as_json(text: str) -> dict[str, Any] | None:
    from .scorers import extract_json

    try:
        value = extract_json(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class _TextFlow:
    """Wraps an evaluator's prompty flow: the reply arrives as text (no json_object) and is handed on as JSON.

    Keeps the last raw reply and its token counts, so an unscorable row still says what the judge
    answered and what it cost.
    """

    def __init__(self, flow: Any):
        self.flow = flow
        self.last: dict[str, Any] = {}

    async def __call__(self, **kwargs: Any) -> Any:
        self.last = {}
        out = await self.flow(**kwargs)
        self.last = out if isinstance(out, dict) else {}
        text = self.last.get("llm_output")
        if isinstance(text, str):
            parsed = _judge_reply_as_json(text)
            if parsed is None:
                raise JudgeOutputError(text)
            return {**self.last, "llm_output": parsed}
        return out


def _text_flow(evaluator: Any, version: str) -> _TextFlow:
    """Ask for text instead of json_object and parse the reply ourselves (adapts SDK internals, tested on 1.18)."""
    try:
        flow = evaluator._flow
        flow._model.parameters["response_format"] = {"type": "text"}
        flow._logger = SDK_LOG  # its own logger prints a traceback to stdout for every retried 429
    except (AttributeError, KeyError, TypeError) as exc:
        raise ScorerError(
            f"azure-ai-evaluation {version} changed the internals llama-eval adapts for Llama judges ({exc}); "
            "llama-eval is tested with azure-ai-evaluation 1.18: pip install 'azure-ai-evaluation>=1.18,<1.19'"
        ) from None
    wrapped = _TextFlow(flow)
    evaluator._flow = wrapped
    return wrapped


def _refusal_status(exc: BaseException) -> str | None:
    """'404 Not Found'-style text when the chain of ``exc`` holds an auth or not-found answer from the judge's server."""
    from openai import APIStatusError

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, APIStatusError) and seen.status_code in (401, 403, 404):
            return f"{seen.status_code} ({str(seen.message)[:160]})"
        seen = seen.__cause__ or seen.__context__
    return None


class AzureJudge:
    """The AI-assisted azure:* evaluators on one judge deployment, with a per-run cache of judgments."""

    def __init__(self, deployment: Any, *, price: Any = None, cache_path: str | Path | None = None):
        from llama_eval.catalog.prices import RequestPrice

        self.deployment = deployment
        self.name = deployment.name
        self.price = price or RequestPrice(None)
        self.cache_path = Path(cache_path) if cache_path else None
        self.requests_sent = 0
        self._evaluators: dict[str, tuple[Any, _TextFlow]] = {}
        self._config: dict[str, Any] | None = None
        self._cache: dict[str, dict[str, Any]] = {}
        if self.cache_path and self.cache_path.exists():
            for line in self.cache_path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    entry = json.loads(line)
                    self._cache[entry["key"]] = entry

    def _evaluator(self, name: str) -> tuple[Any, _TextFlow]:
        if name not in self._evaluators:
            module = sdk()
            if self._config is None:
                self._config = model_configuration(self.deployment)
            evaluator = getattr(module, EVALUATORS[name].cls)(dict(self._config))
            self._evaluators[name] = (evaluator, _text_flow(evaluator, sdk_version()))
        return self._evaluators[name]

    def _key(self, name: str, inputs: dict[str, str]) -> str:
        material = json.dumps([self.name, self.deployment.model, name, sdk_version(), inputs], sort_keys=True)
        return hashlib.sha256(material.encode()).hexdigest()

    def judge(self, name: str, query: str, response: str, ground_truth: str | None = None, context: str | None = None) -> Judgment:
        spec = EVALUATORS[name]
        values = {"query": query, "response": response, "ground_truth": ground_truth or "", "context": context or ""}
        inputs = {k: values[k] for k in spec.inputs}
        key = self._key(name, inputs)
        if key in self._cache:
            e = self._cache[key]
            return Judgment(e["grade"], e["reason"], e["prompt_tokens"], e["completion_tokens"], Decimal(e["cost_usd"]) if e["cost_usd"] else None, True)
        evaluator, flow = self._evaluator(name)
        self.requests_sent += 1
        from azure.core.exceptions import AzureError  # the SDK's EvaluationException derives from it
        from openai import OpenAIError

        # What the judge says is untrusted: the SDK reading a malformed grade raises ValueError/TypeError/KeyError.
        unusable = (AzureError, OpenAIError, ValueError, TypeError, KeyError)
        try:
            result = evaluator(**inputs)
        except JudgeOutputError as exc:
            judgment = self._priced(None, f"unparseable judge output: {exc.text.strip()[:120]!r}", flow.last)
        except unusable as exc:
            refused = _refusal_status(exc)
            if refused is not None:  # the judge's URL, key or model name is wrong: every row would fail the same way
                raise ScorerError(
                    f"judge deployment {self.name!r}: {self._config['base_url'] if self._config else 'its /openai/v1 URL'} answered {refused}; "
                    "the azure:* AI-assisted scorers reach the judge at <endpoint>/openai/v1 with its deployment_name (or model) as 'model': "
                    "check the judge's endpoint (the resource root, or the emulator's root URL), key_env and deployment_name"
                ) from None
            if flow.last:  # the judge answered: what it said could not be used
                judgment = self._priced(None, f"unusable judge output ({type(exc).__name__}: {str(exc)[:120]})", flow.last)
            else:  # not cached: a later re-score tries again
                return Judgment(None, f"judge request failed: {type(exc).__name__}: {str(exc)[:200]}")
        else:
            judgment = self._priced(*self._grade(spec, result), flow.last)
        self._remember(key, name, judgment)
        return judgment

    @staticmethod
    def _grade(spec: AzureEvaluator, result: dict[str, Any]) -> tuple[int | None, str]:
        """A whole grade 1-5 from a completed evaluation, else None with the reason."""
        reason = str(result.get(f"{spec.key}_reason") or "")[:300]
        status = result.get(f"{spec.key}_status", "completed")
        if status != "completed":
            return None, f"judge {status}: {reason}"
        value = result.get(spec.key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not float(value).is_integer() or not 1 <= value <= 5:
            return None, f"judge grade {value!r} is not a whole number from 1 to 5: {reason}"
        return int(value), reason

    def _priced(self, grade: int | None, reason: str, out: dict[str, Any]) -> Judgment:
        prompt, completion = int(out.get("input_token_count") or 0), int(out.get("output_token_count") or 0)
        cost = self.price.cost(prompt, completion) if (prompt or completion) else None
        return Judgment(grade, reason, prompt, completion, cost)

    def _remember(self, key: str, name: str, j: Judgment) -> None:
        entry = {
            "key": key,
            "judge": self.name,
            "scorer": name,
            "grade": j.grade,
            "reason": j.reason,
            "prompt_tokens": j.prompt_tokens,
            "completion_tokens": j.completion_tokens,
            "cost_usd": str(j.cost_usd) if j.cost_usd is not None else None,
        }
        self._cache[key] = entry
        if self.cache_path:
            with self.cache_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")


_JUDGES: weakref.WeakKeyDictionary[Any, AzureJudge] = weakref.WeakKeyDictionary()


def azure_judge_for(judge: Any) -> AzureJudge:
    """The AzureJudge riding on a llama-eval Judge (same deployment, price and run directory)."""
    if judge not in _JUDGES:
        cache = Path(judge.cache_path).parent / CACHE_FILE if judge.cache_path else None
        _JUDGES[judge] = AzureJudge(judge.client.deployment, price=judge.price, cache_path=cache)
    return _JUDGES[judge]


def judged_row(judge: Any, name: str, query: str, response: str, reference: Any, context: str | None = None) -> dict[str, Any]:
    """The scores.jsonl fields of one AI-assisted azure:* row, graded by ``judge`` (a scoring.judge.Judge)."""
    azure = azure_judge_for(judge)
    refs = _references(reference)
    before = azure.requests_sent
    j = azure.judge(name, query, response, refs[0] if refs else None, context)
    judge.requests_sent += azure.requests_sent - before  # counted with the judge's other requests in the summary
    return {
        "scorer": name,
        "score": j.score.value,
        "reason": j.reason,
        "failed": False,
        "judge": azure.name,
        "judge_grade": j.grade,
        "judge_scale": "1-5",
        "judge_tokens": j.prompt_tokens + j.completion_tokens,
        "judge_cost_usd": str(j.cost_usd) if j.cost_usd is not None else None,
        "judge_cached": j.cached,
    }
