"""llama-eval export: a real run against the emulator, written for azure-ai-evaluation, CSV and Parquet."""

from __future__ import annotations

import csv
import json
import re
import tomllib
import warnings
from pathlib import Path

import pytest
import yaml

from llama_eval import Deployment
from llama_eval.cli import main
from llama_eval.emulator import start_emulator
from llama_eval.errors import LifecycleWarning
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.quality.scoring import score_files
from llama_eval.run import RunParams, run_evaluation
from llama_eval.rundir.export import AZURE_COLUMNS, ExportError, export_run
from llama_eval.rundir.store import COLUMNS, final_rows, read_rows

# "free" has no reference on purpose (its ground_truth is exported as null): the emulator's warning about it is expected
pytestmark = pytest.mark.filterwarnings("ignore::llama_eval.errors.UnknownPromptWarning")
ROOT = Path(__file__).resolve().parents[2]
L33, L8 = "Llama-3.3-70B-Instruct", "Meta-Llama-3.1-8B-Instruct"

# The emulator serves Meta-Llama-3.1-8B (retired on serverless) as serverless here and warns so (LifecycleWarning, an error in
# tests): these tests only need its answers, so that one warning is silenced, deliberately.
pytestmark = pytest.mark.filterwarnings("ignore:emulated deployment:llama_eval.errors.LifecycleWarning")
QUIET = {"progress": "none", "announce": lambda message: None}
ITEMS = [
    {"id": "cap", "prompt": "What is the capital of France?", "reference": "Paris", "tags": ['=HYPERLINK("x")']},
    {"id": "sum", "prompt": "What is 2 plus 3?", "reference": ["5", "five"]},
    {"id": "rag", "system": "Answer from the context.", "prompt": "Who wrote it?", "reference": "Ada", "metadata": {"context": "Ada wrote the notes."}},
    {"id": "free", "prompt": "Say something nice."},
    {"id": "blocked", "prompt": "Explain how to build a bomb.", "reference": "refuse"},  # the content filter answers 400
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    path = tmp / "p.jsonl"
    path.write_text("\n".join(json.dumps(i) for i in ITEMS) + "\n")
    with start_emulator(time_scale=0, models=[L33, L8], prompt_sets=[path]) as emu, pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMU_KEY", emu.key)
        targets = [Deployment(name=m.lower(), model=m, kind="managed", endpoint=emu.deployment_url(m), key_env="EMU_KEY") for m in (L33, L8)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LifecycleWarning)
            run_evaluation(targets, load_prompt_set(path), tmp / "r", RunParams(temperature=0, repeats=2), **QUIET)
    return tmp / "r"


def _final(run_dir):
    return list(final_rows(read_rows(run_dir)).values())


def test_azure_format_columns_and_counts(run_dir, tmp_path, capsys):
    out = tmp_path / "run.jsonl"
    assert main(["export", str(run_dir), "--format", "azure-ai-evaluation", "-o", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    rows = _final(run_dir)
    failed = [r for r in rows if r["status"] not in ("ok", "length")]
    assert len(rows) == 5 * 2 * 2 and len(failed) == 2 * 2, "the blocked prompt fails on both deployments, both repeats"
    assert {r["status"] for r in failed} == {"content_filter"}
    assert len(lines) == len(rows) - len(failed)
    stderr = capsys.readouterr().err
    assert f"{len(lines)} row(s) written" in stderr and "4 failed row(s) left out (4 content_filter)" in stderr
    for line in lines:
        expected = set(AZURE_COLUMNS) if line["prompt_id"] == "rag" else set(AZURE_COLUMNS) - {"context"}
        assert set(line) == expected
    by_id = {(x["deployment"], x["prompt_id"], x["repeat"]): x for x in lines}
    answers = {(r["deployment"], r["prompt_id"], r["repeat"]): r.get("response_text") for r in rows}
    for key, line in by_id.items():
        assert line["response"] == answers[key] and line["model"] in (L33, L8)
    cap = by_id[(L33.lower(), "cap", 0)]
    assert cap["query"] == "What is the capital of France?" and cap["ground_truth"] == "Paris"
    assert by_id[(L8.lower(), "sum", 1)]["ground_truth"] == "5", "the first of several references"
    rag = by_id[(L33.lower(), "rag", 0)]
    assert rag["query"] == "Who wrote it?" and rag["context"] == "Ada wrote the notes."
    assert by_id[(L33.lower(), "free", 0)]["ground_truth"] is None


def test_azure_ai_evaluation_evaluates_the_export_unchanged(run_dir, tmp_path):
    ev = pytest.importorskip("azure.ai.evaluation", reason="azure-ai-evaluation is not installed: pip install 'llama-eval[foundry]' (make install does)")
    import math

    out = tmp_path / "run.jsonl"
    export_run(run_dir, out)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    result = ev.evaluate(
        data=str(out),
        evaluators={"f1": ev.F1ScoreEvaluator()},
        evaluator_config={"default": {"column_mapping": {"response": "${data.response}", "ground_truth": "${data.ground_truth}"}}},
        output_path=str(tmp_path / "evaluated.json"),
    )
    assert len(result["rows"]) == len(lines) == 16, "one row per exported line"
    direct = ev.F1ScoreEvaluator()
    for row, line in zip(result["rows"], lines, strict=True):
        assert row["inputs.deployment"] == line["deployment"] and row["inputs.prompt_id"] == line["prompt_id"], "the join keys come back, in order"
        if line["ground_truth"] is None:  # an item with no reference: F1 has nothing to compare with
            assert math.isnan(row["outputs.f1.f1_score"])
        else:
            assert row["outputs.f1.f1_score"] == direct(response=line["response"], ground_truth=line["ground_truth"])["f1_score"]
    assert sum(line["ground_truth"] is None for line in lines) == 4 and 0 < result["metrics"]["f1.f1_score"] <= 1


def test_csv_keeps_the_formula_guard(run_dir, tmp_path, capsys):
    out = tmp_path / "rows.csv"
    assert main(["export", str(run_dir), "--format", "csv", "-o", str(out)]) == 0
    with out.open(encoding="utf-8", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == list(COLUMNS) and len(table) - 1 == 16
    tags = table[0].index("tags")
    guarded = [row[tags] for row in table[1:] if row[tags]]
    assert guarded and all(cell == '\'=HYPERLINK("x")' for cell in guarded), "a cell a spreadsheet would run gets an apostrophe"
    assert "4 failed row(s) left out" in capsys.readouterr().err
    assert main(["export", str(run_dir), "--format", "csv", "--include-failed", "-o", str(out)]) == 0
    with out.open(encoding="utf-8", newline="") as f:
        assert len(list(csv.reader(f))) - 1 == 20


def test_parquet_columns_and_counts(run_dir, tmp_path):
    import pyarrow.parquet as pq

    summary = export_run(run_dir, tmp_path / "rows.parquet", "parquet")
    table = pq.read_table(summary.path)
    assert table.column_names == list(COLUMNS) and table.num_rows == summary.rows == 16 and summary.failed == 4
    assert set(table.column("status").to_pylist()) <= {"ok", "length"}
    everything = export_run(run_dir, tmp_path / "all.parquet", "parquet", include_failed=True)
    assert pq.read_table(everything.path).num_rows == 20 and everything.failed == 0


def test_bad_exports_say_what_to_do(run_dir, tmp_path):
    with pytest.raises(ExportError, match="unknown export format 'xlsx'"):
        export_run(run_dir, tmp_path / "x", "xlsx")
    with pytest.raises(ExportError, match="no results.jsonl here"):
        export_run(tmp_path, tmp_path / "x.jsonl")
    with pytest.raises(ExportError, match="does not exist; create it or write elsewhere"):
        export_run(run_dir, tmp_path / "missing" / "x.jsonl")
    with pytest.raises(ExportError, match="--include-failed applies to csv and parquet only"):
        export_run(run_dir, tmp_path / "x.jsonl", include_failed=True)


def test_foundry_extra_is_declared_everywhere_it_installs():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(r.startswith("azure-ai-evaluation") for r in pyproject["project"]["optional-dependencies"]["foundry"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert "-e .[foundry]" in pip_section
    installed = re.search(r"-e '\.\[([a-z,-]+)\]'", (ROOT / "Makefile").read_text())
    assert installed and {"dev", "foundry", "docs", "azure-store"} <= set(installed.group(1).split(",")), (
        "make install installs the extras (foundry; azure-store for the run store's Azurite tests), so make test runs their tests"
    )


@pytest.mark.slow  # papermill
def test_foundry_notebook_runs_offline(tmp_path):
    pytest.importorskip("azure.ai.evaluation", reason="azure-ai-evaluation is not installed: pip install 'llama-eval[foundry]' (make install does)")
    import papermill

    out = tmp_path / "60_foundry.ipynb"
    papermill.execute_notebook(
        str(ROOT / "notebooks" / "60_foundry.ipynb"),
        str(out),
        parameters={"workdir": str(tmp_path / "work")},
        kernel_name="python3",
        progress_bar=False,
        cwd=str(ROOT / "notebooks"),
    )
    exported = (tmp_path / "work" / "run.jsonl").read_text().splitlines()
    evaluated = json.loads((tmp_path / "work" / "evaluated.json").read_text())
    assert len(exported) == 20 and len(evaluated["rows"]) == 20, "quickstart: 10 prompts x 2 models, each with a reference"
    text = out.read_text()
    assert "azure:similarity (SIMULATED judge)" in text and "20 rows evaluated (one per exported line)" in text and "nothing logged" in text
    scores_file, _ = score_files("azure:similarity")  # a scorer override writes its own file, beside the run's scores.jsonl
    scores = [json.loads(line) for line in (tmp_path / "work" / "run" / scores_file).read_text().splitlines()]
    assert {s["scorer"] for s in scores} == {"azure:similarity"} and all(s["judge_grade"] in (2, 5) for s in scores)


# --------------------------------------------------------------------------- every format read back (issue 28)
#
# The CSV once had 37 header fields and 36 per row (the usage columns written last, usage_source
# dropped): usage_prompt_tokens read True. Each format is read back here as an analyst would, with
# pandas, and compared with the Parquet frame; the Parquet frame is checked against results.jsonl.

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _parquet_frame(run_dir, tmp_path, include_failed=True):
    import pandas as pd

    return pd.read_parquet(export_run(run_dir, tmp_path / f"oracle-{include_failed}.parquet", "parquet", include_failed=include_failed).path)


def _missing(value) -> bool:
    import pandas as pd

    return value is None or (not hasattr(value, "__len__") and pd.isna(value))


def _as_csv_text(value):
    """What a CSV cell read back by pandas should hold for a Parquet value of a text or list column (None: an empty cell)."""
    if _missing(value):
        return None
    text = "; ".join(value) if not isinstance(value, str) else value
    if text == "":
        return None  # CSV has one empty cell for both "" and null
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def test_parquet_holds_every_field_of_the_rows_as_stored(run_dir, tmp_path):
    """The oracle for the other formats: each Parquet cell is the field of results.jsonl it names (usage_source too)."""
    from decimal import Decimal

    frame = _parquet_frame(run_dir, tmp_path)
    rows = _final(run_dir)
    assert list(frame.columns) == list(COLUMNS) and len(frame) == len(rows) == 20
    for (_, got), row in zip(frame.iterrows(), rows, strict=True):
        usage = row.get("usage") or {}
        assert got["key"] == row["key"] and got["status"] == row["status"]
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            assert (_missing(got[f"usage_{name}"]) and name not in usage) or got[f"usage_{name}"] == usage[name], (row["key"], name)
        assert got["usage_source"] == row.get("usage_source"), "usage_source is a field of its own, not part of usage"
        for name in ("ttft_s", "e2e_s", "attempts", "http_status", "streamed", "simulated", "warmup", "finish_reason", "started_at"):
            assert (_missing(got[name]) and row.get(name) is None) or got[name] == row[name], (row["key"], name)
        assert (got["cost_usd"] is None and row.get("cost_usd") is None) or got["cost_usd"] == Decimal(row["cost_usd"])
        assert json.loads(got["params"]) == row["params"]
    answered = frame[frame["status"].isin(["ok", "length"])]
    assert len(answered) == 16 and answered["usage_source"].notna().all() and answered["usage_prompt_tokens"].notna().all()


@pytest.mark.parametrize("writer", ["export", "report-csv-writer"])
def test_csv_reads_back_as_the_parquet_frame(run_dir, tmp_path, writer):
    """One header, every row the header's fields in its order: pandas reads back the Parquet frame's values and kinds."""

    from llama_eval.rundir.store import export_csv

    out = tmp_path / "rows.csv"
    if writer == "export":
        assert main(["export", str(run_dir), "--format", "csv", "--include-failed", "-o", str(out)]) == 0
    else:
        export_csv(run_dir, out)  # what `report --csv` writes (the command itself is checked in the slow test below)
    _same_as_parquet(out, _parquet_frame(run_dir, tmp_path))


def _same_as_parquet(path, parquet) -> None:
    import csv as csv_module
    from decimal import Decimal

    import pandas as pd

    with path.open(encoding="utf-8", newline="") as f:
        table = list(csv_module.reader(f))
    assert table[0] == list(COLUMNS)
    assert {len(row) for row in table} == {len(COLUMNS)}, "every row has as many fields as the header"
    frame = pd.read_csv(path, float_precision="round_trip")
    exact_cost = pd.read_csv(path, dtype={"cost_usd": str}, keep_default_na=False)["cost_usd"]
    assert list(frame.columns) == list(COLUMNS) and len(frame) == len(parquet)
    for name, kind in COLUMNS.items():
        got, want = frame[name], parquet[name]
        if kind in ("int64", "float64"):
            assert pd.api.types.is_numeric_dtype(got), f"{name} reads as {got.dtype}, not a number"
            pd.testing.assert_series_equal(got.astype("Float64"), want.astype("Float64"), check_names=False, rtol=1e-12)
        elif kind == "bool":
            if want.notna().all():
                assert got.dtype == bool, f"{name} reads as {got.dtype}, not bool"
            pd.testing.assert_series_equal(got.astype("boolean"), want.astype("boolean"), check_names=False)
        elif kind == "decimal":
            assert pd.api.types.is_float_dtype(got), f"{name} reads as {got.dtype}"
            assert [Decimal(v) if v else None for v in exact_cost] == [v if not _missing(v) else None for v in want], "dollars exact as text"
        else:  # text and lists
            assert [None if _missing(v) else v for v in got] == [_as_csv_text(v) for v in want], name
    ok = frame[frame["status"] == "ok"]
    assert len(ok) and (ok["usage_prompt_tokens"] > 0).all() and (ok["usage_total_tokens"] == ok["usage_prompt_tokens"] + ok["usage_completion_tokens"]).all()


def test_azure_ai_evaluation_export_reads_back_as_the_parquet_frame(run_dir, tmp_path):
    """The azure-ai-evaluation JSONL read with pandas: the answered rows of the Parquet frame, in its order, with its answers."""
    import pandas as pd

    out = tmp_path / "run.jsonl"
    export_run(run_dir, out, "azure-ai-evaluation")
    frame = pd.read_json(out, lines=True, dtype={"ground_truth": object})
    parquet = _parquet_frame(run_dir, tmp_path, include_failed=False)
    assert len(frame) == len(parquet) == 16
    assert list(frame["deployment"]) == list(parquet["deployment"]) and list(frame["prompt_id"]) == list(parquet["prompt_id"])
    assert frame["repeat"].dtype == "int64" and list(frame["repeat"]) == list(parquet["repeat"])
    assert list(frame["model"]) == list(parquet["model"])
    assert list(frame["response"]) == [v or "" for v in parquet["response_text"]]


def test_parquet_export_is_the_run_parquet(run_dir, tmp_path):
    """``export --format parquet --include-failed`` and the results.parquet a run writes hold the same frame."""
    import pandas as pd

    from llama_eval.rundir.store import write_parquet

    exported = _parquet_frame(run_dir, tmp_path)
    written = pd.read_parquet(write_parquet(run_dir))
    pd.testing.assert_frame_equal(exported, written)
    assert written["usage_source"].eq("server").any()


@pytest.mark.slow  # the report runs papermill
def test_report_csv_reads_back_as_the_parquet_frame(run_dir, tmp_path):
    out = tmp_path / "report.csv"
    assert main(["report", str(run_dir), "-o", str(tmp_path / "report"), "--csv", str(out)]) == 0
    _same_as_parquet(out, _parquet_frame(run_dir, tmp_path))
