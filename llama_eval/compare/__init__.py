"""Compare two runs and gate on it: ``compare_runs(a, b)``, ``--fail-if`` conditions, drift over scheduled runs.

Imports flow one way inside the package (each module imports only those above it in this list):

* ``result``   the records: ``RunComparison`` and its parts;
* ``quality``  paired differences on prompts matched by id and content (the quality section's tests);
* ``latency``  TTFT/ITL/e2e percentile shifts in service time, bootstrap intervals, measuring conditions;
* ``cost``     cost per 1,000 requests and its split into tokens, prices and capacity;
* ``changes``  what else changed (prompts, prices, deployments, models, parameters, versions);
* ``gates``    ``--fail-if`` parsed and judged: fails only on statistically supported conditions;
* ``runs``     ``compare_runs`` and ``check_run`` (one run against absolute targets);
* ``render``   the sections as rows and Markdown; ``html``: the page in the report's style;
* ``drift``    control limits from earlier runs of the same configuration.
"""

from .drift import DriftPoint, drift
from .gates import Condition, GateResult, judge, parse_conditions
from .result import Change, CostShift, PromptMatch, QualityShift, RunComparison, Shift, Target
from .runs import check_run, compare_runs

__all__ = [
    "Change",
    "Condition",
    "CostShift",
    "DriftPoint",
    "GateResult",
    "PromptMatch",
    "QualityShift",
    "RunComparison",
    "Shift",
    "Target",
    "check_run",
    "compare_runs",
    "drift",
    "judge",
    "parse_conditions",
]
