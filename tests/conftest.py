"""Fixtures every test module may use, the slow and serial marks, and two session switches.

Green from any clone, on any day (``.ci/run`` runs the fast suite with both switches on):

* ``LLAMA_EVAL_TEST_NO_SHARED=1``: the real data sets in ``../shared`` count as absent
  (``tests/_support/shared_data.py``, the one place that finds them), and ``SharedDataGuard`` fails any test
  that reaches that folder another way.
* ``LLAMA_EVAL_TEST_CLOCK_SHIFT_DAYS=N``: the wall clock runs N days ahead for the whole session, in
  this process and in every Python a test starts (``tests/clockshift/sitecustomize.py``): a test that
  depends on the day it runs fails here rather than on some later day. A test that means a day pins
  it (``time_machine.travel``, or an ``on=`` argument).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

from _support import shared_data
from _support.constants import FAKE_KEY
from _support.fakeserver import RecordingServer
from llama_eval import clock
from llama_eval.deployments.model import Deployment

CLOCK_SHIFT_DIR = Path(__file__).resolve().parent / "clockshift"


def _shift_clock() -> float | None:
    """Shift this process's wall clock as LLAMA_EVAL_TEST_CLOCK_SHIFT_DAYS asks (once: an xdist worker
    was already shifted at start-up) and put the shifting sitecustomize on the PYTHONPATH children inherit."""
    spec = importlib.util.spec_from_file_location("llama_eval_test_clockshift", CLOCK_SHIFT_DIR / "sitecustomize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # runs shift_wall_clock()
    days = module.shift_wall_clock()
    if days is not None:
        paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if str(CLOCK_SHIFT_DIR) not in paths:
            os.environ["PYTHONPATH"] = os.pathsep.join([str(CLOCK_SHIFT_DIR), *filter(None, paths)])
    return days


def pytest_configure(config):
    os.environ.pop("LLAMA_EVAL_STORE", None)  # a developer's run store is never written by a test: each run's store is .store beside it
    config.clock_shift_days = _shift_clock()
    if shared_data.hidden():
        config.pluginmanager.register(shared_data.SharedDataGuard().install(), "shared-data-guard")


def pytest_report_header(config):
    lines = []
    if config.clock_shift_days is not None:
        lines.append(f"wall clock shifted {config.clock_shift_days:g} days ahead (LLAMA_EVAL_TEST_CLOCK_SHIFT_DAYS): today is {clock.today()}")
    if shared_data.hidden():
        lines.append(f"real data sets hidden ({shared_data.NO_SHARED_ENV}=1): tests that need them skip, and reaching them otherwise fails")
    return lines


@pytest.fixture(scope="session")
def recording_server():
    server = RecordingServer()
    server.start()
    yield server
    server.stop()


def _once_per_run(tmp_path_factory, name: str, make):
    """``make(folder)`` once for the whole test run, however many xdist workers ask (the second waits, then reads
    what the first made): the wheel and its demo take minutes, and the packaging and report tests both need them."""
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent  # every worker's basetemp lives in one folder of this run
    folder, done = shared / name, shared / f"{name}.json"
    with FileLock(str(shared / f"{name}.lock")):
        if not done.exists():
            folder.mkdir()
            done.write_text(json.dumps(make(folder), default=str))
    return json.loads(done.read_text())


@pytest.fixture(scope="session")
def installed(tmp_path_factory):
    """The wheel installed into a fresh venv outside the checkout (tests/_support/installedwheel.py), once per test run."""
    from _support.installedwheel import install_wheel

    made = _once_per_run(tmp_path_factory, "wheel", install_wheel)
    return {**made, **{key: Path(made[key]) for key in ("venv", "python", "work", "wheel")}}


@pytest.fixture(scope="session")
def installed_demo(tmp_path_factory, installed):
    """``llama-eval demo --repeats 1`` run once by the installed wheel from its work folder: the packaging
    test checks that it ran there, the report test reads the page it wrote (one demo instead of two, once per test run)."""
    from _support.installedwheel import in_work

    def demo(_folder: Path) -> dict:
        done = in_work(installed, str(installed["venv"] / "bin" / "llama-eval"), "demo", "--repeats", "1")
        return {"args": done.args, "returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr}

    return subprocess.CompletedProcess(**_once_per_run(tmp_path_factory, "demo", demo))


@pytest.fixture
def server(recording_server):
    recording_server.reset()
    yield recording_server
    recording_server.reset()


@pytest.fixture
def key_env(monkeypatch):
    monkeypatch.setenv("LLAMA_TEST_KEY", FAKE_KEY)
    return "LLAMA_TEST_KEY"


@pytest.fixture(params=["azure-ai-inference", "openai-v1"])
def api(request):
    """Run a test once per transport: both must behave the same."""
    return request.param


@pytest.fixture
def deployment(server, key_env, api):
    return Deployment(
        name="llama405",
        model="Meta-Llama-3.1-405B-Instruct",
        kind="managed",  # managed: no lifecycle warning for a serverless offer that has retired
        endpoint=server.url,
        auth="key",
        key_env=key_env,
        api=api,
    )


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("AZURE_INFERENCE_", "LLAMA_EVAL_MODEL")):
            monkeypatch.delenv(name)
    return monkeypatch


# Whole modules that are slow by nature (papermill + headless Chromium, emulator fuzzing); their
# owners' files stay untouched. Single slow tests carry @pytest.mark.slow where they are defined.
SLOW_MODULES = ("test_report.py", "test_emulator_fuzz.py", "test_afternoon.py")  # test_afternoon: every test waits for the whole README walkthrough
# Single tests of a second or more (measured with --durations on the 2-core machine), listed here so
# their owners' files stay untouched: a `llama-eval` subprocess, a notebook, a load sweep, a
# statistical simulation of thousands of draws, or a real timeout waited out. `make test` runs them;
# `make test-fast` (-m "not slow") leaves them out. A parametrized test is named without its [id]
# (every case is slow) or with it (only that case: a check on the real data sets is slow, the same
# check on tests/data's sample is not).
SLOW_TESTS = frozenset(
    {
        "test_azure_eval.py::test_prompt_item_scorer_and_cli_override_with_judge",
        "test_azure_eval.py::test_the_judge_key_never_lands_in_output_caches_or_reasons",
        "test_choice_agreement.py::test_choice_scorer_reads_the_intended_option_in_97_percent_of_answer_styles[real-with-option-texts]",
        "test_choice_agreement.py::test_choice_scorer_reads_the_intended_option_in_97_percent_of_answer_styles[real-letters-only]",
        "test_cli.py::test_a_run_is_quiet_by_default_and_verbose_on_request_with_keys_redacted",
        "test_cli.py::test_run_names_unknown_deployment_and_bad_prompt_line",
        "test_cli.py::test_run_rejects_a_non_numeric_budget",
        "test_cost.py::test_cli_estimate_and_cost",
        "test_csv_import.py::test_cli_import_and_run_with_a_csv",
        "test_emulator.py::test_cli_subprocess_serves",
        "test_emulator.py::test_injected_faults[azure-ai-inference-stall-EndpointTimeout-False]",
        "test_emulator.py::test_injected_faults[openai-v1-stall-EndpointTimeout-False]",
        "test_export.py::test_azure_ai_evaluation_evaluates_the_export_unchanged",
        "test_emulator_capacity.py::test_a_sweep_of_a_sped_up_emulator_reports_the_emulated_service_time",
        "test_emulator_capacity.py::test_a_sweep_on_the_emulator_finds_the_batch_size_and_serverless_shows_no_knee",
        "test_emulator_capacity.py::test_emulator_cli_batch_size_gives_managed_deployments_a_knee",
        "test_emulator_surfaces.py::test_a_correct_answer_passes_the_items_own_scorer",
        "test_emulator_surfaces.py::test_cli_serves_the_paths_a_file_names_and_writes_it_for_its_port",
        "test_emulator_surfaces.py::test_teaching_a_prompt_set_at_run_time",
        "test_emulator_timing.py::test_ttft_and_inter_token_gaps_match_the_profile",
        "test_notebook_evaluate.py::test_no_successful_request_fails_the_notebook_with_the_reason",
        "test_notebook_evaluate.py::test_relative_paths_resolve_from_the_project_and_from_notebooks",
        "test_numeric_agreement.py::test_numeric_scorer_reads_the_intended_number_in_99_percent_of_model_style_gsm8k_answers[real]",
        "test_prices_update.py::test_cost_uses_the_updated_vm_price",
        "test_prices_update.py::test_unreachable_api_is_one_line_and_writes_nothing",
        "test_decide.py::test_demo_sweeps_then_recommend_end_to_end",
        "test_reference_agreement.py::test_rouge_l_is_exactly_rouge_score_on_scitldr[stemmer-real]",
        "test_reference_agreement.py::test_rouge_l_is_exactly_rouge_score_on_scitldr[no-stemmer-real]",
        "test_reliability.py::test_fault_matrix[stall past timeout]",
        "test_runner.py::test_429_storm_is_survived_with_retry_after",
        "test_runner.py::test_faulty_endpoint_every_row_final_no_duplicates_retries_recorded",
        "test_runner.py::test_pacing_keeps_under_the_quota_without_429s",
        "test_runner.py::test_ten_request_cli_run_prints_no_saturation_warning",
        "test_stats.py::test_false_positive_rate_with_no_real_difference_is_at_most_5_percent",
        "test_stats.py::test_random_sign_flip_agrees_with_scipy_permutation_test_at_30_prompts",
        "test_stats.py::test_verdict_and_printed_interval_always_agree",
        "test_sweep.py::test_an_emulator_time_scale_turns_measurements_into_the_emulated_service_time",
        "test_sweep.py::test_cli_sweep_prints_levels_and_capacity",
        "test_sweep.py::test_closed_loop_capacity_is_exactly_k",
        "test_sweep.py::test_ctrl_c_keeps_the_finished_levels_and_exits_130",
        "test_sweep.py::test_load_figure_from_a_sweep",
        "test_sweep.py::test_open_loop_sends_on_schedule_while_the_server_queues",
        "test_sweep.py::test_quota_stops_the_sweep_before_a_level_would_exceed_it",
        "test_sweep.py::test_the_budget_stops_the_sweep",
    }
)


# Modules whose tests judge wall-clock timing (a time to first token against its profile, loop lag,
# a sender's lateness, a capacity found from throughput, pacing under a quota, Ctrl-C at a moment).
# `make test` runs the rest two at a time (pytest-xdist) and these afterwards, alone, so a second
# test's CPU never lands in a measurement.
SERIAL_MODULES = ("test_emulator_timing.py", "test_emulator_latency.py", "test_emulator_capacity.py", "test_sweep.py", "test_quota.py", "test_peer_server.py")
SERIAL_TESTS = frozenset(
    {
        "test_runner.py::test_manifest_records_time_scale_loop_lag_and_warmup_rows",  # no saturation warning at concurrency 2
        "test_runner.py::test_ten_request_cli_run_prints_no_saturation_warning",
    }
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        test = f"{item.path.name}::{item.name}"
        if item.path.name in SERIAL_MODULES or test.split("[")[0] in SERIAL_TESTS:
            item.add_marker(pytest.mark.serial)
        if item.path.name in SLOW_MODULES or item.path.suffix == ".ipynb" or test in SLOW_TESTS or test.split("[")[0] in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
