"""The scheduling recipes in recipes/scheduling: each parses, runs the nightly steps in order, and writes to the run store.

The GitHub Actions workflow and the Airflow DAG's structure are checked here with no extra package; the Azure ML
job and schedule are validated by azure-ai-ml's own loaders (its schema), and the DAG is loaded by Airflow with
the papermill provider — both marked ``scheduler`` and skipped, with the reason, where those packages are absent.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest
import yaml

# azure-ai-ml's loaders warn about their own use of marshmallow (hundreds of RemovedInMarshmallow4Warning): not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::PendingDeprecationWarning", "ignore::FutureWarning")
RECIPES = Path(__file__).resolve().parents[2] / "recipes" / "scheduling"


def test_the_github_actions_workflow_is_a_nightly_cron_with_the_steps_in_order():
    workflow = yaml.safe_load((RECIPES / "github-actions-nightly.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert triggers["schedule"] == [{"cron": "0 2 * * *"}] and "workflow_dispatch" in triggers
    (job,) = workflow["jobs"].values()
    assert job["env"]["LLAMA_EVAL_STORE"].startswith("abfs://"), "every step writes to (and reads) the run store"
    assert job["env"]["AZURE_STORAGE_CONNECTION_STRING"] == "${{ secrets.AZURE_STORAGE_CONNECTION_STRING }}", "secrets only from the repository's secrets"
    runs = [step.get("run", "") for step in job["steps"]]
    order = [next(i for i, r in enumerate(runs) if r.startswith(f"llama-eval {verb}")) for verb in ("run", "score", "report", "history")]
    assert order == sorted(order)
    assert "llama-eval[azure-store]" in " ".join(runs)
    uses = [step.get("uses", "") for step in job["steps"]]
    assert uses[0].startswith("actions/checkout@") and any(u.startswith("actions/upload-artifact@") for u in uses)


def _dag_tree():
    return ast.parse((RECIPES / "airflow_nightly_dag.py").read_text())


def test_the_airflow_dag_runs_10_evaluate_with_papermill_then_scores_and_reports():
    tree = _dag_tree()
    imports = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert {"PapermillOperator", "BashOperator", "DAG"} <= imports
    calls = {kw.value.value: node for node in ast.walk(tree) if isinstance(node, ast.Call)
             for kw in node.keywords if kw.arg == "task_id" and isinstance(kw.value, ast.Constant)}  # fmt: skip
    assert set(calls) == {"evaluate", "score", "report"}
    assert calls["evaluate"].func.id == "PapermillOperator"
    source = ast.unparse(calls["evaluate"])
    assert "10_evaluate.ipynb" in source and "'resume': True" in source
    chain = next(node for node in ast.walk(tree) if isinstance(node, ast.Expr) and isinstance(node.value, ast.BinOp))
    assert ast.unparse(chain) == "evaluate >> score >> report"
    assert "LLAMA_EVAL_STORE" in ast.unparse(tree)


@pytest.mark.scheduler
def test_the_airflow_dag_loads_in_airflow_with_the_papermill_provider_and_its_tasks_render(tmp_path, monkeypatch):
    if importlib.util.find_spec("airflow") is None or importlib.util.find_spec("airflow.providers.papermill") is None:
        pytest.skip("apache-airflow and apache-airflow-providers-papermill are not installed (pip install apache-airflow-providers-papermill)")
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    from airflow.models import DagBag

    bag = DagBag(dag_folder=str(RECIPES / "airflow_nightly_dag.py"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["llama_eval_nightly"]  # parsed, not read from Airflow's database
    assert [t.task_id for t in dag.topological_sort()] == ["evaluate", "score", "report"]
    evaluate = dag.get_task("evaluate")
    assert type(evaluate).__name__ == "PapermillOperator" and evaluate.input_nb.endswith("notebooks/10_evaluate.ipynb")
    context = {"ds": "2026-09-01"}
    assert evaluate.render_template(evaluate.parameters, context)["run_dir"].endswith("runs/nightly-2026-09-01")
    report = dag.get_task("report")
    assert report.render_template(report.bash_command, context).endswith("llama-eval report runs/nightly-2026-09-01 -o reports/nightly-2026-09-01")
    assert dag.get_task("score").env["LLAMA_EVAL_STORE"]


@pytest.mark.scheduler
def test_the_azure_ml_job_and_schedule_validate_against_azure_ai_ml():
    if importlib.util.find_spec("azure.ai.ml") is None:
        pytest.skip("azure-ai-ml is not installed (pip install azure-ai-ml): the Azure ML YAML is validated by its loaders")
    from azure.ai.ml import load_job
    from azure.ai.ml.entities._load_functions import load_schedule

    job = load_job(RECIPES / "azureml" / "evaluate-job.yml")
    assert type(job).__name__ == "Command"
    assert job.environment_variables["LLAMA_EVAL_STORE"].startswith("abfs://")
    steps = [part.strip().split()[:2] for part in job.command.split("&&")]
    assert [s[1] for s in steps if s[0] == "llama-eval"] == ["run", "score", "report"]
    schedule = load_schedule(RECIPES / "azureml" / "nightly-schedule.yml")
    assert schedule.trigger.expression == "0 2 * * *" and type(schedule.create_job).__name__ == "Command"


@pytest.mark.scheduler
def test_azure_ai_ml_refuses_a_broken_job(tmp_path):
    """The validation above can fail: a job with a misspelt field is refused by the same loader."""
    if importlib.util.find_spec("azure.ai.ml") is None:
        pytest.skip("azure-ai-ml is not installed (pip install azure-ai-ml)")
    from azure.ai.ml import load_job

    broken = tmp_path / "job.yml"
    broken.write_text((RECIPES / "azureml" / "evaluate-job.yml").read_text().replace("compute: azureml:cpu-cluster", "comptue: azureml:cpu-cluster"))
    (tmp_path / "code").mkdir()
    with pytest.raises(Exception, match="comptue"):  # noqa: PT011 - azure-ai-ml's ValidationException, imported only when installed
        load_job(broken)
