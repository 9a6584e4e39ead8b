"""The emulator's sliding windows, on a fake clock."""

from __future__ import annotations

from llama_eval.emulator.quota import QuotaExceeded, QuotaLimiter, SlidingWindow


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_window_frees_capacity_as_entries_age_out():
    clock = Clock()
    window = SlidingWindow(limit=10, window_s=60, clock=clock)
    window.take(6)
    clock.now = 30
    window.take(4)
    assert window.remaining() == 0
    assert window.wait_for(5) == 30  # the first entry (6) leaves at t=60
    clock.now = 60
    assert window.remaining() == 6


def test_settling_an_expired_reservation_does_not_corrupt_the_total():
    clock = Clock()
    window = SlidingWindow(limit=100, window_s=10, clock=clock)
    old = window.take(50)
    clock.now = 11
    window.take(20)
    window.adjust(old, 5)  # the request finished after its reservation left the window
    assert window.remaining() == 80


def test_equal_reservations_are_settled_independently():
    clock = Clock()
    window = SlidingWindow(limit=100, window_s=10, clock=clock)
    a, b = window.take(30), window.take(30)
    window.adjust(b, 10)
    window.adjust(a, 20)
    assert window.remaining() == 70


def test_limiter_scales_limits_to_the_window_and_counts_concurrency():
    clock = Clock()
    limiter = QuotaLimiter(rpm=120, tpm=6000, concurrency=2, window_s=1.0, clock=clock)  # 2 requests, 100 tokens per second
    first = limiter.admit(40)
    limiter.admit(40)
    try:
        limiter.admit(10)
    except QuotaExceeded as exc:
        assert exc.what == "requests" and exc.remaining_requests == 0
    else:
        raise AssertionError("third request in the window must be refused")
    first.settle(10)
    clock.now = 1.0
    assert limiter.remaining() == (2, 100)  # both reservations aged out of the window


def test_concurrency_slot_is_freed_on_settle():
    limiter = QuotaLimiter(rpm=10_000, tpm=None, concurrency=2, clock=Clock())
    first = limiter.admit(1)
    limiter.admit(1)
    try:
        limiter.admit(1)
    except QuotaExceeded as exc:
        assert exc.what == "concurrent requests"
    else:
        raise AssertionError("a third concurrent request must be refused")
    first.settle(1)
    first.settle(1)  # settling twice frees one slot, not two
    limiter.admit(1)
    assert limiter.in_flight == 2
