"""Quality: scorers for answers, and statistics that say when a difference is real."""

from . import azure_eval  # noqa: F401  registers the azure:* scorers; imports no SDK until one is used
from .scorers import SCORERS, Score, ScorerError, check_scorer, get_scorer, score, scorer

__all__ = ["SCORERS", "Score", "ScorerError", "check_scorer", "get_scorer", "score", "scorer"]
