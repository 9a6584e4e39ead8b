"""Moves this Python's wall clock ``LLAMA_EVAL_TEST_CLOCK_SHIFT_DAYS`` days ahead as it starts.

Contract: with that variable unset or empty this module does nothing. Set to a number of days, it
starts a ``time_machine.travel`` to "now + that many days" with ``tick=True`` (time keeps flowing),
once per process: ``shift_wall_clock`` is a no-op in a process that is already travelling. Only the
wall clock moves (``time.time``, ``datetime.now``, ``date.today``...); ``time.monotonic`` and
``perf_counter``, which asyncio and every latency measurement use, are untouched.

``tests/conftest.py`` calls ``shift_wall_clock`` for the pytest process and puts this folder first
on ``PYTHONPATH``, so that every Python a test starts (the ``llama-eval`` CLI, pytest-xdist workers,
notebook kernels) runs on the same shifted day, as under Debian's ``faketime``. A test that
replaces the environment of its subprocess entirely (the installed-wheel tests) leaves the shift out.
"""

from __future__ import annotations

import os

SHIFT_ENV = "LLAMA_EVAL_TEST_CLOCK_SHIFT_DAYS"


def shift_wall_clock() -> float | None:
    """Start the shift named by SHIFT_ENV in this process (once); return the days shifted, or None."""
    days = os.environ.get(SHIFT_ENV, "").strip()
    if not days:
        return None
    import datetime as dt
    import sys

    try:
        import time_machine
    except ImportError:  # another Python a test started (a peer server's): say so, rather than shift silently nothing
        print(f"tests/clockshift: {SHIFT_ENV} is set but {sys.executable} has no time-machine: it runs on the real clock", file=sys.stderr)
        return None

    if not time_machine.escape_hatch.is_travelling():
        time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=float(days)), tick=True).start()
    return float(days)


shift_wall_clock()
