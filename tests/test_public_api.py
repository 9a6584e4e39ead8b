"""The public API: what ``from llama_eval import ...`` offers is pinned, and every exception lives in errors.py."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import llama_eval
from llama_eval import errors

PACKAGE = Path(llama_eval.__file__).parent

# Adding a name is fine (add it here too); removing or renaming one breaks users' notebooks.
PINNED = {
    "AsyncLlamaClient", "AuthenticationError", "BudgetError", "Catalog", "CatalogError", "CatalogModel", "Compute", "ConfigError",
    "ContentFilterError", "Deployment", "DeploymentsConfig", "EndpointConnectionError", "EndpointError", "EndpointTimeout", "ExtraParameters",
    "IncompleteAnswerError",
    "GateError", "RunComparison", "compare_runs",  # issue 26: llama-eval compare's function, its record and its usage error
    "LifecycleWarning", "LlamaClient", "LlamaEvalError", "MalformedResponseError", "Offer", "PriceBook", "PriceTableError", "PromptItem",
    "PromptSet", "PromptSetError", "QualitySummary", "Quota", "RateLimitError", "ReportError", "RequestValidationError", "ResultRow", "Run", "RunError",
    "RunEstimate", "RunParams", "RunSummary", "ScorerError", "SloError", "Status", "SweepError", "SweepResult", "TornLineWarning", "arun_evaluation",
    "build_report", "estimate_run",
    "load_catalog", "load_deployments", "load_prices", "load_prompt_set", "load_run", "load_scores", "make_async_client", "make_client", "model_overview",
    "model_overview_frame", "project_run", "read_manifest", "read_quality_summary", "read_sweep", "recommend", "run_evaluation", "score_run", "sweep",
    # the run store (issue 25): history over many runs with DuckDB, and adding run directories to it
    "StoreError", "add_run", "load_history",
}  # fmt: skip


def test_all_is_pinned_and_every_name_resolves():
    assert set(llama_eval.__all__) >= PINNED, f"removed from the public API: {PINNED - set(llama_eval.__all__)}"
    for name in llama_eval.__all__:
        assert getattr(llama_eval, name) is not None, name
    namespace: dict = {}
    exec("from llama_eval import *", namespace)  # noqa: S102 - the star import a notebook would do
    assert PINNED <= set(namespace)


def test_the_verbs_are_the_package_functions():
    from llama_eval.prompts.prompt_set import load_prompt_set
    from llama_eval.quality.scoring import load_scores, score_run
    from llama_eval.report.pipeline import build_report
    from llama_eval.run import RunParams, run_evaluation
    from llama_eval.run.estimate import estimate_run
    from llama_eval.rundir.run import load_run  # returns a Run (was: rundir.store.load_run, a DataFrame; run.frame() is that frame)

    assert (llama_eval.run_evaluation, llama_eval.RunParams, llama_eval.load_prompt_set) == (run_evaluation, RunParams, load_prompt_set)
    assert llama_eval.load_scores is load_scores
    assert (llama_eval.score_run, llama_eval.build_report, llama_eval.load_run, llama_eval.estimate_run) == (score_run, build_report, load_run, estimate_run)


def test_the_load_sweep_verbs_are_functions_whatever_was_imported_first():
    """``sweep`` and ``recommend`` are functions, not modules of the same name (which a prior import would put in their place)."""
    code = (
        "import llama_eval.cli.app, llama_eval.demo, llama_eval.report.view\n"
        "from llama_eval import sweep, recommend, project_run, read_sweep\n"
        "print(all(callable(f) and type(f).__name__ == 'function' for f in (sweep, recommend, project_run, read_sweep)))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "True"


def test_importing_the_package_does_not_import_the_heavy_parts():
    code = "import sys, llama_eval; print(','.join(m for m in ('pandas', 'plotly', 'papermill', 'llama_eval.run') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "", f"imported eagerly: {loaded}"


def test_every_exception_class_is_defined_in_errors_py():
    """Classes deriving from an exception or warning are defined in errors.py (the emulator's internal signals excepted)."""
    exception_names = {name for name, value in vars(errors).items() if isinstance(value, type) and issubclass(value, BaseException)}
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py" or "emulator" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in node.bases}
                if bases & (exception_names | {"Exception", "ValueError", "UserWarning", "Warning", "RuntimeError"}):
                    offenders.append(f"{path.relative_to(PACKAGE)}: {node.name}")
    assert offenders == []
    for name in ("PromptSetError", "ScorerError", "RunError", "BudgetError", "ReportError", "LifecycleWarning", "TornLineWarning"):
        assert getattr(llama_eval, name).__module__ == "llama_eval.errors", name


def test_lazy_names_and_all_agree():
    assert set(llama_eval._LAZY) <= set(llama_eval.__all__)
    assert llama_eval.__all__ == sorted(llama_eval.__all__)
