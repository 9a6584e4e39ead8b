"""The scorer registry: ``Score``, the ``@scorer`` decorator, and lookup by name.

Built-in scorers (``scorers.py``, ``azure.py``) import this module to register themselves; it imports
none of them (``llama_eval.quality`` imports the built-ins, so they are registered whenever the
package is used).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from llama_eval.errors import ScorerError


@dataclass(frozen=True)
class Score:
    """A score in [0, 1] (None: could not be scored), why, and which extraction rule fired (numeric: strict/flexible)."""

    value: float | None
    reason: str
    rule: str | None = None


@dataclass(frozen=True)
class ScorerSpec:
    name: str
    fn: Callable[..., Score]
    needs_reference: bool
    options: tuple[str, ...] = ()
    required_options: tuple[str, ...] = ()


SCORERS: dict[str, ScorerSpec] = {}


def register_scorer(
    name: str, fn: Callable[..., Score], *, needs_reference: bool = True, options: tuple[str, ...] = (), required: tuple[str, ...] = ()
) -> ScorerSpec:
    """Put ``fn(answer, reference, **options) -> Score`` in the registry under ``name`` (public, stable: plug-ins use it)."""
    spec = ScorerSpec(name, fn, needs_reference, tuple(options), tuple(required))
    SCORERS[name] = spec
    return spec


def scorer(name: str, *, needs_reference: bool = True, options: tuple[str, ...] = (), required: tuple[str, ...] = ()):
    """Decorator form of ``register_scorer``."""

    def register(fn: Callable[..., Score]) -> Callable[..., Score]:
        register_scorer(name, fn, needs_reference=needs_reference, options=options, required=required)
        return fn

    return register


def get_scorer(name: str) -> ScorerSpec:
    spec = SCORERS.get(name)
    if spec is None:
        close = difflib.get_close_matches(name, list(SCORERS), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"scorers: {', '.join(sorted(SCORERS))}"
        raise ScorerError(f"unknown scorer {name!r}; {hint}")
    return spec


def check_scorer(name: str, options: dict[str, Any], has_reference: bool) -> ScorerSpec:
    """Everything about a scorer that can be wrong before a run: name, options, a missing reference."""
    spec = get_scorer(name)
    unknown = set(options) - set(spec.options)
    if unknown:
        raise ScorerError(f"scorer {name!r} has no option(s) {sorted(unknown)}; options: {', '.join(spec.options) or 'none'}")
    missing = [o for o in spec.required_options if o not in options]
    if missing:
        raise ScorerError(f"scorer {name!r} needs option(s) {missing}")
    if spec.needs_reference and not has_reference:
        raise ScorerError(f"scorer {name!r} needs a 'reference' to compare with")
    return spec


def score(name: str, answer: str, reference: Any = None, **options: Any) -> Score:
    return get_scorer(name).fn(answer or "", reference, **options)


def _references(reference: Any) -> list[str]:
    if reference is None:
        return []
    if isinstance(reference, list):
        return [str(r) for r in reference]
    return [str(reference)]
