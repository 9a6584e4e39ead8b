"""What day it is: the one place llama-eval reads the calendar.

Contract:

* ``now()`` is the current time as an aware UTC ``datetime``; ``today()`` is its date, so "today" is
  the UTC day everywhere (a model's lifecycle, the age of the price tables, the ``checked`` day
  ``llama-eval prices update`` writes, a report's "Generated" line), and two answers given in one
  run never disagree about the day.
* Every public function that decides by the day takes ``on: date | None = None`` (``None``: ``today()``),
  so a caller, a notebook or a test can ask about any day without touching the clock.
* Both read the wall clock through ``datetime.now``, so a test that needs a fixed day pins it with
  ``time-machine`` (``time_machine.travel(...)``), and ``LLAMA_EVAL_TEST_CLOCK_SHIFT_DAYS`` (see
  ``tests/conftest.py``) moves it for a whole test session.

Not "today": instants that are measured rather than decided on (a row's ``started_at`` timestamp,
the expiry of an Entra token, the emulator's ``created`` field) read ``time.time()`` where they are
taken, and durations use the monotonic clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime


def now() -> datetime:
    """The current time, UTC, timezone-aware."""
    return datetime.now(UTC)


def today() -> date:
    """The current UTC day: what "today" means for lifecycle dates and price ages."""
    return now().date()
