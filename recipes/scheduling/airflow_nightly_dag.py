"""Airflow: the nightly evaluation — papermill runs notebooks/10_evaluate, then the run is scored and reported.

Copy this file into your Airflow ``dags/`` folder (needs ``apache-airflow-providers-papermill`` and
``llama-eval`` in the workers' environment). Every run writes to the run store named by
``LLAMA_EVAL_STORE`` (for example ``abfs://llama-eval/store`` with the ``azure-store`` extra and
``AZURE_STORAGE_CONNECTION_STRING`` in the workers' environment, or a shared folder), so
``llama-eval history`` sees every night. Edit the paths in ``CONFIG`` below; the run directory of each night is
``runs/nightly-<ds>`` (``ds``: the logical date Airflow gives the run), so a retried task resumes
the same run instead of starting over.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.providers.papermill.operators.papermill import PapermillOperator

try:  # Airflow 3: the standard provider and the task SDK
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.operators.bash import BashOperator

CONFIG = {
    "workdir": os.environ.get("LLAMA_EVAL_WORKDIR", "/opt/llama-eval"),  # holds notebooks/, deployments.yaml, prompts/, runs/
    "deployments": "deployments.yaml",
    "prompts": "prompts/nightly.jsonl",
    "store": os.environ.get("LLAMA_EVAL_STORE", "abfs://llama-eval/store"),
}
RUN_DIR = "runs/nightly-{{ ds }}"
ENV = {"LLAMA_EVAL_STORE": CONFIG["store"]}

with DAG(
    dag_id="llama_eval_nightly",
    description="llama-eval: evaluate the deployments nightly, score, report; every run lands in the run store",
    schedule="0 2 * * *",  # 02:00 UTC every night
    start_date=datetime(2026, 9, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=10)},
    tags=["llama-eval"],
) as dag:
    evaluate = PapermillOperator(
        task_id="evaluate",
        input_nb=f"{CONFIG['workdir']}/notebooks/10_evaluate.ipynb",
        output_nb=f"{CONFIG['workdir']}/{RUN_DIR}/10_evaluate.ipynb",
        parameters={
            "deployments_file": f"{CONFIG['workdir']}/{CONFIG['deployments']}",
            "prompt_set": f"{CONFIG['workdir']}/{CONFIG['prompts']}",
            "run_dir": f"{CONFIG['workdir']}/{RUN_DIR}",
            "resume": True,  # a retry continues the night's run: only what is missing runs
        },
    )
    score = BashOperator(
        task_id="score",
        bash_command=f"cd {CONFIG['workdir']} && llama-eval score {RUN_DIR}",  # also puts the scores in the run store
        env=ENV,
        append_env=True,
    )
    report = BashOperator(
        task_id="report",
        bash_command=f"cd {CONFIG['workdir']} && llama-eval report {RUN_DIR} -o reports/nightly-{{{{ ds }}}}",
        env=ENV,
        append_env=True,
    )
    evaluate >> score >> report
