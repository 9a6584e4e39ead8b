"""Quality: scorers for answers, the judge, and statistics that say when a difference is real.

Importing the package registers the built-in scorers (``scorers``: exact, numeric, choice, ...;
``azure``: the azure-ai-evaluation ones, whose SDK is imported only when one is used). The registry
(``registry``) imports none of them, so a scorer module can never be imported half-way through it.
"""

from llama_eval.errors import ScorerError

from . import azure, scorers  # noqa: F401  -- registers the built-in scorers
from .registry import SCORERS, Score, check_scorer, get_scorer, register_scorer, score, scorer

__all__ = ["SCORERS", "Score", "ScorerError", "check_scorer", "get_scorer", "register_scorer", "score", "scorer"]
