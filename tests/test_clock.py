""""Today" comes from one place (llama_eval/clock.py) that tests can pin, and the suite runs on any day.

* ``clock.today()`` is the UTC day and follows a pinned wall clock (time-machine); every default
  "today" in the package (lifecycle status, price age, the deployments check, the overview) is it.
* No other module reads the calendar: a new ``date.today()`` elsewhere would escape the pin.
* ``LLAMA_EVAL_TEST_CLOCK_SHIFT_DAYS`` moves the wall clock of the test session and of every Python
  it starts (tests/clockshift/sitecustomize.py), leaving the monotonic clock, and so asyncio, alone.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from conftest import CLOCK_SHIFT_DIR

from llama_eval import clock, load_catalog, load_prices
from llama_eval.catalog.models import RETIRED
from llama_eval.catalog.overview import model_overview
from llama_eval.deployments.loader import load_deployments
from llama_eval.errors import LifecycleWarning

PACKAGE = Path(clock.__file__).resolve().parent


def test_today_is_the_utc_day_of_a_pinned_clock():
    """Late evening in UTC is already tomorrow at UTC+14: llama-eval's "today" is the UTC day, not the local one."""
    instant = datetime(2031, 1, 2, 23, 30, tzinfo=UTC)
    with time_machine.travel(instant.astimezone(ZoneInfo("Pacific/Kiritimati")), tick=False):  # a ZoneInfo: also the local zone
        assert date.today() == date(2031, 1, 3), "the local day, at UTC+14"
        assert clock.today() == date(2031, 1, 2)
        assert clock.now() == instant and clock.now().utcoffset() == timedelta(0)


def test_every_default_today_is_the_clocks():
    """Pinned to the day a catalog offer retires and to the day before, the defaults agree with ``on=`` that day."""
    catalog = load_catalog()
    model, offer = next((m, o) for m in catalog for o in m.offers.values() if o.retired and o.kind == "serverless")
    prices = load_prices(catalog=catalog)
    for day in (offer.retired - timedelta(days=1), offer.retired):
        with time_machine.travel(datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12), tick=False):
            assert clock.today() == day
            assert offer.status() == offer.status(day)
            assert model.status("serverless") == model.status("serverless", day)
            assert prices.freshness().on == day
            assert model_overview(prices=prices, catalog=catalog) == model_overview(day, prices=prices, catalog=catalog)
    assert offer.status(offer.retired) == RETIRED != offer.status(offer.retired - timedelta(days=1))


def test_the_deployments_check_warns_by_the_clocks_day(tmp_path, monkeypatch):
    """A serverless deployment of a model warns "retired" from its retirement day on, as the pinned clock has it."""
    catalog = load_catalog()
    model, offer = next((m, o) for m in catalog for o in m.offers.values() if o.retired and o.kind == "serverless")
    path = tmp_path / "deployments.yaml"
    path.write_text(f"deployments:\n  - name: d\n    model: {model.id}\n    kind: serverless\n    endpoint: https://example.invalid\n    key_env: K\n")
    monkeypatch.setenv("K", "k")
    first_clear = min(d for d in (offer.legacy, offer.deprecated, offer.retired) if d) - timedelta(days=1)
    with time_machine.travel(datetime.combine(first_clear, datetime.min.time(), UTC), tick=False), warnings.catch_warnings():
        warnings.simplefilter("error", LifecycleWarning)
        load_deployments(path, catalog=catalog)  # GA on that day: no warning
    with time_machine.travel(datetime.combine(offer.retired, datetime.min.time(), UTC), tick=False):
        with pytest.warns(LifecycleWarning, match="retired"):
            load_deployments(path, catalog=catalog)


_CALENDAR_CALLS = {("date", "today"), ("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today")}


def test_no_module_but_clock_reads_the_calendar():
    """``date.today()`` / ``datetime.now()`` anywhere but clock.py is a "today" that tests cannot pin the same way."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "clock.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                owner = node.func.value
                name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else None
                if (name, node.func.attr) in _CALENDAR_CALLS:
                    found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {name}.{node.func.attr}()")
    assert len(list(PACKAGE.rglob("*.py"))) > 20, "the scan saw the package"
    assert not found, f"read the day through llama_eval.clock: {found}"


_PROBE = """
import asyncio, json, time, datetime
import time_machine
travelling = time_machine.escape_hatch.is_travelling()
real = (time_machine.escape_hatch.datetime.datetime if travelling else datetime.datetime).now().date()
async def main():
    loop = asyncio.get_running_loop()
    start, mono = loop.time(), time.monotonic()
    await asyncio.sleep(0.2)
    return loop.time() - start, time.monotonic() - mono
loop_s, mono_s = asyncio.run(main())
print(json.dumps({"today": datetime.date.today().isoformat(), "real": real.isoformat(), "travelling": travelling, "loop_s": loop_s, "mono_s": mono_s}))
"""


def test_the_clock_shift_reaches_a_child_python_and_leaves_asyncio_alone():
    """With the switch and the folder on PYTHONPATH (as conftest sets them), a child's calendar runs 400 days
    ahead while asyncio's loop clock and time.monotonic measure a 0.2 s sleep as 0.2 s."""
    env = {**os.environ, "LLAMA_EVAL_TEST_CLOCK_SHIFT_DAYS": "400", "PYTHONPATH": str(CLOCK_SHIFT_DIR)}
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60, check=True)
    probe = json.loads(out.stdout)
    shifted = (date.fromisoformat(probe["today"]) - date.fromisoformat(probe["real"])).days
    assert probe["travelling"] and shifted in (400, 401), probe  # 401 only in the last seconds of a day
    assert 0.19 <= probe["loop_s"] < 2 and 0.19 <= probe["mono_s"] < 2, probe
    env.pop("LLAMA_EVAL_TEST_CLOCK_SHIFT_DAYS")
    plain = json.loads(subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=60, check=True).stdout)
    assert not plain["travelling"] and plain["today"] == plain["real"], "no switch, no shift"


def test_this_session_runs_on_the_day_the_switch_says(pytestconfig):
    """The session's own clock is shifted exactly when LLAMA_EVAL_TEST_CLOCK_SHIFT_DAYS is set (make test-anyday)."""
    days = pytestconfig.clock_shift_days
    real = (time_machine.escape_hatch.datetime.datetime if time_machine.escape_hatch.is_travelling() else datetime).now(UTC)
    ahead = (clock.now() - real).total_seconds() / 86400
    assert abs(ahead - (days or 0)) < 0.01, (days, ahead)
    assert (str(CLOCK_SHIFT_DIR) in os.environ.get("PYTHONPATH", "").split(os.pathsep)) == (days is not None)
