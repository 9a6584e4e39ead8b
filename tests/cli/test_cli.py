"""`llama-eval models` as a user runs it: a subprocess of the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from _support.constants import CATALOG_IDS as EXPECTED

CLI = [str(Path(sys.executable).parent / "llama-eval")]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60)


def test_models_table_lists_every_variant_with_limits_and_prices():
    out = run("models", "--on", "2026-11-26")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for model in EXPECTED:
        assert any(line.startswith(model + " ") for line in lines), model
    row_405 = next(line for line in lines if line.startswith("Meta-Llama-3.1-405B-Instruct "))
    assert "131072" in row_405 and "text" in row_405 and "5.33" in row_405 and "16" in row_405
    assert "retired 2026-06-13" in row_405 and "Llama-4-Maverick" in row_405
    row_l2 = next(line for line in lines if line.startswith("Llama-2-70b-chat "))
    assert "no price" in row_l2
    row_vision = next(line for line in lines if line.startswith("Llama-3.2-90B-Vision-Instruct "))
    assert "image+text" in row_vision


def test_models_json_and_available_filter():
    out = run("models", "--json", "--available", "--on", "2026-11-26")
    rows = json.loads(out.stdout)
    assert {r["model"] for r in rows} == {"Llama-3.3-70B-Instruct", "Llama-4-Scout-17B-16E-Instruct", "Llama-4-Maverick-17B-128E-Instruct-FP8"}
    maverick = next(r for r in rows if r["model"].startswith("Llama-4-Maverick"))
    assert maverick["input_usd_per_1m"] == "0.25" and maverick["context"] == 1000000


def test_models_before_retirement_shows_deprecated():
    rows = json.loads(run("models", "--json", "--on", "2026-05-01").stdout)
    r405 = next(r for r in rows if r["model"] == "Meta-Llama-3.1-405B-Instruct")
    assert r405["serverless"] == "deprecated, retires 2026-06-13"


def test_bad_date_is_a_usage_error():
    out = run("models", "--on", "yesterday")
    assert out.returncode == 2 and "invalid fromisoformat value" in out.stderr


def test_run_names_unknown_deployment_and_bad_prompt_line(tmp_path):
    from llama_eval.paths import data_dir

    config = data_dir() / "deployments.emulator.yaml"
    prompts = data_dir() / "prompts" / "quickstart.jsonl"
    out = run("run", "-d", str(config), "-p", str(prompts), "-o", str(tmp_path / "r"), "--only", "llama33-7b")
    assert out.returncode == 2 and "no deployment named 'llama33-7b'; did you mean 'llama33-70b'?" in out.stderr
    assert "deployments.emulator.yaml" in out.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "prompt": "ok"}\n{"id": "b", "promt": "typo"}\n')
    out = run("run", "-d", str(config), "-p", str(bad), "-o", str(tmp_path / "r"))
    assert out.returncode == 2 and "bad.jsonl line 2: unknown field 'promt'; did you mean 'prompt'?" in out.stderr
    assert not (tmp_path / "r").exists(), "nothing is created before the input is known to be good"


def test_run_rejects_a_non_numeric_budget(tmp_path):
    out = run("run", "-d", "x.yaml", "-p", "y.jsonl", "-o", str(tmp_path / "r"), "--budget-usd", "ten")
    assert out.returncode != 0 and "--budget-usd 'ten' is not a number" in out.stderr


# ------------------------------------------------------------------ --help, run directories, logging


def _subcommands() -> list[str]:
    import argparse

    from llama_eval.cli import build_parser

    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(action.choices)


def _main(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in this process (as fast as a function call); the subprocess tests above cover the console script."""
    import logging

    from llama_eval.cli import main

    root, ours = logging.getLogger(), logging.getLogger("llama_eval")
    saved = (list(root.handlers), root.level, ours.level)
    try:
        code = main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    finally:  # main() configures logging for a process of its own; leave the test session's as it was
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        ours.setLevel(saved[2])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_help_works_for_every_command(capsys):
    commands = _subcommands()
    assert {"models", "emulator", "run", "estimate", "cost", "score", "import", "report", "demo", "notebooks"} <= set(commands)
    for args in [(), *((c,) for c in commands)]:
        code, out, err = _main(capsys, *args, "--help")
        assert code == 0, f"llama-eval {' '.join(args)} --help: {err[-500:]}"
        assert out.startswith("usage: llama-eval") and not err
    assert "95% CIs" in _main(capsys, "--help")[1]
    console = run("--help")  # once through the installed script, as a newcomer types it
    assert console.returncode == 0 and "usage: llama-eval" in console.stdout


def test_commands_on_a_missing_or_empty_run_dir_fail_with_exit_2(tmp_path, monkeypatch, capsys):
    from llama_eval.paths import data_dir

    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    deployments, prompts = str(data_dir() / "deployments.emulator.yaml"), str(data_dir() / "prompts" / "quickstart.jsonl")
    for missing in ("runs/tyop", "empty"):
        for args in (
            ("cost", missing),
            ("cost", missing, "--requests-per-day", "1000"),
            ("score", missing),
            ("report", missing),
            ("estimate", "-d", deployments, "-p", prompts, "--from-run", missing),
        ):
            code, out, err = _main(capsys, *args)
            assert code == 2, (args, out, err)
            assert err.startswith(f"llama-eval: error: run directory not found: {missing}"), err
            assert "Total $0" not in out and not (tmp_path / "reports").exists()
    console = subprocess.run([*CLI, "cost", "runs/tyop"], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert console.returncode == 2 and console.stderr == "llama-eval: error: run directory not found: runs/tyop\n"


def test_notebooks_command_copies_and_refuses_to_overwrite(tmp_path, monkeypatch, capsys):
    from llama_eval.paths import bundled_notebooks

    monkeypatch.chdir(tmp_path)
    assert _main(capsys, "notebooks", "work")[0] == 0
    names = sorted(p.name for p in (tmp_path / "work").glob("*.ipynb"))
    assert names == sorted(p.name for p in bundled_notebooks()) and "00_quickstart.ipynb" in names
    (tmp_path / "work" / "10_evaluate.ipynb").write_text("my edits")
    code, _, err = _main(capsys, "notebooks", "work")
    assert code == 2 and "10_evaluate.ipynb" in err and "--force" in err
    assert (tmp_path / "work" / "10_evaluate.ipynb").read_text() == "my edits"
    assert _main(capsys, "notebooks", "work", "--force")[0] == 0
    assert (tmp_path / "work" / "10_evaluate.ipynb").read_text() != "my edits"


def _emulated_run(tmp_path, *extra: str, env_log: str | None = None, run_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    import os

    from _support.constants import FAKE_KEY
    from llama_eval.emulator import start_emulator

    with start_emulator(time_scale=0, models=["Llama-3.3-70B-Instruct"], key=FAKE_KEY) as emu:
        endpoint = emu.deployment_url("Llama-3.3-70B-Instruct")
        (tmp_path / "d.yaml").write_text(f"deployments:\n  - name: l33\n    model: Llama-3.3-70B-Instruct\n    endpoint: {endpoint}\n    key_env: QUIET_KEY\n")
        (tmp_path / "p.jsonl").write_text('{"id": "a", "prompt": "Capital of Peru?", "reference": "Lima"}\n{"id": "b", "prompt": "2+2?", "reference": "4"}\n')
        env = {**os.environ, "QUIET_KEY": FAKE_KEY}
        env.pop("LLAMA_EVAL_LOG", None)
        if env_log:
            env["LLAMA_EVAL_LOG"] = env_log
        args = [*CLI, *extra, "run", "-d", "d.yaml", "-p", "p.jsonl", "-o", f"runs/r{len(list(tmp_path.glob('runs/*')))}", "--progress", "none", *run_args]
        return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)


def test_a_run_is_quiet_by_default_and_verbose_on_request_with_keys_redacted(tmp_path):
    from _support.constants import FAKE_KEY

    quiet = _emulated_run(tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    for noise in ("HTTP Request", "Request URL", "Request headers", "Response status"):
        assert noise not in quiet.stderr, quiet.stderr[:2000]
    # the SDK transports log each request through azure-core / httpx; the runner's own wire client (aiohttp) logs none
    sdk = ("--client", "sdk") if "--client" in run("run", "--help").stdout else ()
    verbose = _emulated_run(tmp_path, "-vv", run_args=sdk)  # before the command; `run -vv` works too (test_verbose_after_the_command)
    assert verbose.returncode == 0, verbose.stderr
    assert "Request URL" in verbose.stderr or "HTTP Request" in verbose.stderr, verbose.stderr[:2000]
    by_env = _emulated_run(tmp_path, env_log="debug", run_args=sdk)
    assert "Request URL" in by_env.stderr or "HTTP Request" in by_env.stderr
    for out in (quiet, verbose, by_env):
        assert FAKE_KEY not in out.stdout + out.stderr


def test_log_redaction_covers_header_and_field_spellings():
    import logging

    from llama_eval.cli.log import RedactSecrets

    lines = ["'api-key': 'sk-123'", "Authorization: Bearer abc.def", '{"api_key": "zzz"}', "x-api-key=qqq", "api-key: REDACTED"]
    records = [logging.LogRecord("t", logging.DEBUG, __file__, 1, line, None, None) for line in lines]
    for record in records:
        RedactSecrets().filter(record)
    shown = [r.getMessage() for r in records]
    assert not any(secret in " ".join(shown) for secret in ("sk-123", "abc.def", "zzz", "qqq"))
    assert shown[1] == "Authorization: Bearer REDACTED"


def test_verbose_after_the_command():
    from llama_eval.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["models"]).verbose == 0
    assert parser.parse_args(["-v", "models"]).verbose == 1
    assert parser.parse_args(["run", "-vv", "-d", "d", "-p", "p", "-o", "o"]).verbose == 2


def test_every_long_running_command_documents_its_exit_status():
    """`run` and `sweep` (and `recommend`) say in --help which exit codes mean what: scripts branch on them."""
    import subprocess
    import sys
    from pathlib import Path

    cli = str(Path(sys.executable).parent / "llama-eval")
    documented = {
        "run": ("0 completed", "3 incomplete", "130 interrupted", "2 bad input"),
        "sweep": ("0 every level ran", "3 stopped early", "130 interrupted", "2 bad input"),
    }
    for command, codes in documented.items():
        out = subprocess.run([cli, command, "--help"], capture_output=True, text=True, timeout=60)
        text = " ".join(out.stdout.split())
        assert out.returncode == 0 and all(code in text for code in codes), (command, text[-600:])
