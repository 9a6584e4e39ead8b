"""Green from any clone: the real data sets in ../shared are found in one place, and nothing else reaches them.

* ``LLAMA_EVAL_TEST_NO_SHARED=1`` makes tests/_support/shared_data.py report every data set absent, with the
  reason, as a clone without ``../shared`` would.
* While it is on, ``SharedDataGuard`` fails a test, a fixture or a test module that opens, lists or
  hands a subprocess a path under the shared folder by another way, even one that catches the
  error (shown here by running pytest on such tests, with the real tests/conftest.py as a plugin).
* No test file but shared_data.py spells out where the shared folder is.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from _support import shared_data

TESTS = Path(__file__).resolve().parent


def test_the_switch_hides_every_data_set_with_the_reason(monkeypatch):
    monkeypatch.setenv(shared_data.NO_SHARED_ENV, "1")
    assert shared_data.hidden()
    for name in ("gsm8k_test.jsonl", "truthfulqa.csv", "scitldr_a_test.jsonl"):
        assert not shared_data.available(name)
        assert shared_data.NO_SHARED_ENV in shared_data.reason(name) and name in shared_data.reason(name)
        with pytest.raises(pytest.skip.Exception, match="hidden by LLAMA_EVAL_TEST_NO_SHARED"):
            shared_data.dataset(name)
        assert shared_data.source("sample", name).is_file(), "the sample of every real set is in tests/data"
    mark = shared_data.needs("truthfulqa.csv", "gsm8k_test.jsonl")
    assert mark.args == (True,) and "truthfulqa.csv" in mark.kwargs["reason"] and "gsm8k_test.jsonl" in mark.kwargs["reason"]
    monkeypatch.setenv(shared_data.NO_SHARED_ENV, "0")
    assert not shared_data.hidden(), "0 means off"


def test_without_the_folder_the_reason_names_the_missing_path(monkeypatch, tmp_path):
    monkeypatch.delenv(shared_data.NO_SHARED_ENV, raising=False)
    monkeypatch.setattr(shared_data, "DATASETS", tmp_path / "shared" / "datasets")
    assert not shared_data.available("truthfulqa.csv")
    assert str(tmp_path / "shared" / "datasets" / "truthfulqa.csv") in shared_data.reason("truthfulqa.csv")
    (tmp_path / "shared" / "datasets").mkdir(parents=True)
    (tmp_path / "shared" / "datasets" / "truthfulqa.csv").write_text("Question\n")
    assert shared_data.dataset("truthfulqa.csv") == tmp_path / "shared" / "datasets" / "truthfulqa.csv"


def test_the_guard_records_what_reaches_the_folder_and_nothing_else(tmp_path, monkeypatch):
    guard = shared_data.SharedDataGuard(tmp_path / "shared")  # not installed: its audit hook is called by hand
    inside, beside = tmp_path / "shared" / "datasets" / "gsm8k_test.jsonl", tmp_path / "shared2" / "x.csv"
    guard.audit("open", (str(beside), "r", 0))
    guard.audit("open", (3, "r", 0))  # a file descriptor
    guard.audit("subprocess.Popen", (sys.executable, [sys.executable, "-c", "pass"], None, None))
    assert guard.take() is None
    guard.audit("open", (str(inside), "r", 0))
    monkeypatch.chdir(tmp_path)
    guard.audit("os.listdir", (b"shared/datasets",))  # relative, as bytes
    guard.audit("subprocess.Popen", ("llama-eval", ["llama-eval", "import", "gsm8k", str(inside)], None, None))
    message = guard.take()
    assert message is not None and shared_data.NO_SHARED_ENV in message
    assert f"open {inside} (from test_shared_data.py:" in message
    assert "os.listdir shared/datasets" in message and "subprocess.Popen" in message
    assert guard.take() is None, "taken once"


_REACHING = '''
import os
import subprocess
import sys

import pytest

from _support import shared_data

REAL = str(shared_data.DATASETS / "truthfulqa.csv")  # the path, computed without asking shared_data


def test_opens_it_by_its_own_path_and_forgives_a_missing_file():
    try:
        open(REAL).close()
    except OSError:
        pass


@pytest.fixture
def listing():
    try:
        return os.listdir(os.path.dirname(REAL))
    except OSError:
        return []


def test_lists_it_in_a_fixture(listing):
    pass


def test_hands_it_to_a_subprocess():
    subprocess.run([sys.executable, "-c", "pass", REAL], check=True)


def test_asks_the_one_place():
    shared_data.dataset("truthfulqa.csv")


def test_reads_its_own_sample():
    assert shared_data.sample("truthfulqa_sample.csv").read_text(encoding="utf-8")
'''

_AT_IMPORT = '''
from _support import shared_data

try:
    ROWS = open(shared_data.DATASETS / "gsm8k_test.jsonl").readlines()
except OSError:
    ROWS = []


def test_nothing():
    pass
'''


def test_the_guard_fails_each_way_of_reaching_it_and_lets_the_one_place_skip(tmp_path):
    (tmp_path / "test_reaching.py").write_text(_REACHING)
    (tmp_path / "test_at_import.py").write_text(_AT_IMPORT)
    env = {**os.environ, shared_data.NO_SHARED_ENV: "1", "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    env.pop("LLAMA_EVAL_TEST_CLOCK_SHIFT_DAYS", None)
    out = subprocess.run(
        # tests/conftest.py as a plugin: the real switch and guard, on tests that live outside tests/
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-p", "no:xdist", "--continue-on-collection-errors", "-rA", "-q"]
        + ["--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert "2 failed, 1 passed, 1 skipped, 2 errors" in text, text
    for outcome, test in [
        ("FAILED", "test_reaching.py::test_opens_it_by_its_own_path_and_forgives_a_missing_file"),
        ("FAILED", "test_reaching.py::test_hands_it_to_a_subprocess"),
        ("ERROR", "test_reaching.py::test_lists_it_in_a_fixture"),  # a fixture fails its setup
        ("ERROR", "test_at_import.py"),  # a module that reads it at import fails to collect
        ("PASSED", "test_reaching.py::test_reads_its_own_sample"),
    ]:
        assert re.search(rf"^{outcome} {re.escape(test)}\b", text, re.M), (outcome, test, text)
    # each failure says what reached the folder and from which line
    hides = f"{shared_data.NO_SHARED_ENV}=1 hides ../shared, yet this reached it without tests/_support/shared_data.py"
    reached = [("open", "test_reaching.py:15"), ("subprocess.Popen", "test_reaching.py:33"), ("os.listdir", "test_reaching.py:23")]
    reached.append(("open", "test_at_import.py:5"))
    for what, line in reached:
        assert re.search(rf"{re.escape(hides)}.*: {what} {re.escape(str(shared_data.DATASETS))}\S* \(from {re.escape(line)}\)", text), (what, line, text)
    assert re.search(r"SKIPPED \[1\] .*the real truthfulqa\.csv is hidden by LLAMA_EVAL_TEST_NO_SHARED=1", text), text

_SPELLS_OUT_SHARED = re.compile(r"""/\s*["']shared["']|["'](\.\./)?shared/datasets|["']\.\./shared""")


def test_no_test_file_but_shared_data_says_where_the_shared_folder_is():
    """The guard above sees what runs; this sees a path written for a subprocess or a notebook to use."""
    offenders = []
    files = [p for p in TESTS.rglob("*.py") if p.name not in ("shared_data.py", Path(__file__).name)]
    for path in files:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if _SPELLS_OUT_SHARED.search(line):
                offenders.append(f"{path.relative_to(TESTS)}:{n}: {line.strip()}")
    assert len(files) > 30, "the scan saw the tests"
    assert not offenders, offenders
