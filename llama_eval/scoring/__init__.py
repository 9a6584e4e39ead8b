"""Quality: scorers for answers, and statistics that say when a difference is real."""

from .scorers import SCORERS, Score, ScorerError, check_scorer, get_scorer, register_scorer, score, scorer

__all__ = ["SCORERS", "Score", "ScorerError", "check_scorer", "get_scorer", "register_scorer", "score", "scorer"]
