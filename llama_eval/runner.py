"""The runner's old import path; the runner is the ``llama_eval.run`` package now."""

from .errors import BudgetError, RunError
from .run import RunParams, RunSummary, arun_evaluation, run_evaluation

__all__ = ["BudgetError", "RunError", "RunParams", "RunSummary", "arun_evaluation", "run_evaluation"]
