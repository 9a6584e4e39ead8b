"""Where the project's real data sets are, for the tests that need them: the one place that knows.

Contract:

* The real public data sets (GSM8K, TruthfulQA, SciTLDR, IFEval) live in the project's workspace,
  in ``shared/datasets/`` beside the checkout. A clone of the repository has no ``../shared``.
* ``path(name)`` says where a data set would be (it opens nothing), ``available(name)`` whether it
  is there, ``needs(*names)`` is a skip mark for a test or a module (``pytestmark``), and
  ``dataset(name)`` returns the path or skips the calling test, always with the reason. What a test
  checks on a real set it also checks on the small hand-written sets in ``tests/data/`` (``sample``),
  so a clone checks it too.
* ``LLAMA_EVAL_TEST_NO_SHARED=1`` makes this module report every data set absent, as in a clone.
  While it is on, ``SharedDataGuard`` (registered by ``tests/conftest.py``) fails any test, fixture,
  or test module that opens or lists a path under the shared folder anyway, or passes one to a
  subprocess: a test that found the data by a path of its own would pass in the workspace and fail
  in a clone. ``.ci/run`` runs the fast suite with it on.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

NO_SHARED_ENV = "LLAMA_EVAL_TEST_NO_SHARED"
SHARED = Path(__file__).resolve().parents[3] / "shared"  # the workspace's folder beside the checkout
DATASETS = SHARED / "datasets"
SAMPLES = Path(__file__).resolve().parents[1] / "data"


def hidden() -> bool:
    """True when LLAMA_EVAL_TEST_NO_SHARED asks the tests to behave as in a clone without ``../shared``."""
    return os.environ.get(NO_SHARED_ENV, "").strip() not in ("", "0")


def path(name: str) -> Path:
    """Where the real data set ``name`` (a file in shared/datasets) would be; opens nothing."""
    return DATASETS / name


def sample(name: str) -> Path:
    """A small hand-written set in tests/data (``gsm8k_sample.jsonl``...): always there."""
    found = SAMPLES / name
    assert found.is_file(), f"{found} is missing: tests/data is part of the repository"
    return found


# each real data set a test reads -> its hand-written sample in tests/data
SAMPLE_OF = {"gsm8k_test.jsonl": "gsm8k_sample.jsonl", "truthfulqa.csv": "truthfulqa_sample.csv", "scitldr_a_test.jsonl": "scitldr_sample.jsonl"}
SOURCES = ("sample", "real")  # parametrize a test over both: the sample always runs, the real set where it is


def source(which: str, name: str) -> Path:
    """``which`` "sample": the tests/data sample of the real set ``name``; "real": ``dataset(name)`` (or skip)."""
    if which == "sample":
        return sample(SAMPLE_OF[name])
    assert which == "real", which
    return dataset(name)


def available(name: str) -> bool:
    return not hidden() and path(name).is_file()


def reason(name: str) -> str:
    if hidden():
        return f"the real {name} is hidden by {NO_SHARED_ENV}=1 (as in a clone without ../shared)"
    return f"{path(name)} not present (the real data sets live in the project's workspace, in shared/datasets beside the checkout)"


def needs(*names: str) -> pytest.MarkDecorator:
    """Skip unless every data set named is available, saying which one is not."""
    missing = [n for n in names if not available(n)]
    return pytest.mark.skipif(bool(missing), reason="; ".join(reason(n) for n in missing))


def dataset(name: str) -> Path:
    """The real data set's path, or skip the calling test (or fixture) with the reason."""
    if not available(name):
        pytest.skip(reason(name))
    return path(name)


# ----- the guard: while the data is hidden, nothing may reach it by another way

_EVENTS = {"open": 1, "os.listdir": 1, "os.scandir": 1, "glob.glob": 1, "os.chdir": 1, "shutil.copytree": 1, "shutil.copyfile": 1}


def _text(value: object) -> str | None:
    if isinstance(value, (str, bytes, os.PathLike)):
        try:
            return os.fsdecode(value)
        except (TypeError, ValueError):
            return None
    return None


class SharedDataGuard:
    """A pytest plugin that fails whatever reaches the shared folder while it is hidden.

    An audit hook (``sys.addaudithook``, for the life of the process) records each open, listing,
    copy or subprocess argument under the shared folder with the test file and line that caused it;
    after each collection and each setup, call and teardown phase, anything recorded fails that phase.
    """

    def __init__(self, root: Path = SHARED) -> None:
        self.root = os.path.abspath(root)
        self.prefix = self.root + os.sep
        self.seen: list[str] = []

    def install(self) -> SharedDataGuard:
        sys.addaudithook(self.audit)
        return self

    def under_shared(self, text: str) -> bool:
        full = os.path.abspath(text)
        return full == self.root or full.startswith(self.prefix)

    def audit(self, event: str, args: tuple) -> None:
        try:
            self._audit(event, args)
        except Exception:  # noqa: BLE001, S110 - an audit hook that raises would break the open it watches
            pass

    def _audit(self, event: str, args: tuple) -> None:
        if event in _EVENTS:
            text = _text(args[0]) if args else None
            if text is not None and self.under_shared(text):
                self._record(event, text)
        elif event == "subprocess.Popen":  # (executable, args, cwd, env)
            _, argv, cwd, _ = args
            for arg in [*(argv if isinstance(argv, (list, tuple)) else [argv]), cwd]:
                text = _text(arg)
                if text is not None and self.root in text:
                    self._record(event, text)

    def _record(self, event: str, text: str) -> None:
        """Note the event with who asked: the innermost test module or conftest on the stack, else the
        innermost frame outside Python's own files (a test helper, llama_eval)."""
        frame, where, fallback = sys._getframe(2), None, None
        python = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})
        while frame is not None and where is None:
            name = frame.f_code.co_filename
            if name != __file__ and not name.startswith(("<", *python)):
                here = f"{os.path.basename(name)}:{frame.f_lineno}"
                if os.path.basename(name).startswith("test_") or os.path.basename(name) == "conftest.py":
                    where = here
                fallback = fallback or here
            frame = frame.f_back
        self.seen.append(f"{event} {text} (from {where or fallback or '?'})")

    def take(self) -> str | None:
        """What was recorded since the last call, as one message, or None."""
        if not self.seen:
            return None
        seen, self.seen[:] = list(self.seen), []
        return (
            f"{NO_SHARED_ENV}=1 hides ../shared, yet this reached it without tests/_support/shared_data.py "
            f"(use shared_data.needs / shared_data.dataset, and a sample in tests/data): " + "; ".join(dict.fromkeys(seen))
        )

    def _check(self) -> None:
        message = self.take()
        if message:
            pytest.fail(message, pytrace=False)

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector):
        report = yield
        message = self.take()
        if message:
            report.outcome, report.longrepr = "failed", message
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item):
        result = yield
        self._check()
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item):
        result = yield
        self._check()
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_teardown(self, item, nextitem):
        result = yield
        self._check()
        return result

    def pytest_sessionfinish(self, session, exitstatus):
        message = self.take()  # reached outside any test phase (a hook, a plugin): fail the session
        if message:
            print(f"\n{message}", file=sys.stderr)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
