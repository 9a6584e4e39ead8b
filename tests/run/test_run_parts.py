"""The runner's parts on their own, with a fake client: no HTTP, fast.

Policy (each error class to its decision), the budget under concurrency, stream timing, the quota
pool, planning, one request through ``attempt.Requester`` (retries, stops, warm-up, budget skips),
and the typed rows (round trip, old rows, derived columns).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import deque
from datetime import date
from decimal import Decimal

import pytest

from llama_eval import Deployment
from llama_eval.catalog.prices import RequestPrice, TokenPrice
from llama_eval.catalog.tokens import counter_for
from llama_eval.endpoint.request import build_request
from llama_eval.errors import (
    AuthenticationError,
    ContentFilterError,
    EndpointConnectionError,
    EndpointError,
    EndpointTimeout,
    IncompleteAnswerError,
    MalformedResponseError,
    RateLimitError,
    RunError,
)
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.records import ResultRow, Status, Timing, Usage, row_fields
from llama_eval.run.attempt import Requester
from llama_eval.run.lane import Lane
from llama_eval.run.pacing import QuotaPool
from llama_eval.run.params import RunParams
from llama_eval.run.plan import make_plan, request_params
from llama_eval.run.policy import Budget, backoff, decide
from llama_eval.rundir.store import COLUMNS

L33 = "Llama-3.3-70B-Instruct"

# ------------------------------------------------------------------------------------ policy

CASES = [
    (ContentFilterError("blocked", status_code=400, code="content_filter"), Status.CONTENT_FILTER, False, False),
    (AuthenticationError("bad key", status_code=401), Status.AUTH_ERROR, False, True),
    (RateLimitError("slow down", status_code=429), Status.RATE_LIMITED, True, False),
    (EndpointTimeout("timed out"), Status.TIMEOUT, True, False),
    (MalformedResponseError("bad SSE"), Status.MALFORMED_RESPONSE, True, False),
    (EndpointConnectionError("reset"), Status.CONNECTION_ERROR, True, True),  # never answered: unreachable
    (IncompleteAnswerError("no finish_reason"), Status.INCOMPLETE, True, False),  # retried like a reset, but the server did answer
    (EndpointError("boom", status_code=500), Status.HTTP_ERROR, True, False),
    (EndpointError("busy", status_code=503), Status.HTTP_ERROR, True, False),
    (EndpointError("timeout", status_code=408), Status.HTTP_ERROR, True, False),
    (EndpointError("conflict", status_code=409), Status.HTTP_ERROR, True, False),
    (EndpointError("bad", status_code=400), Status.INVALID_REQUEST, False, False),
    (EndpointError("unprocessable", status_code=422), Status.INVALID_REQUEST, False, False),
    (EndpointError("no deployment", status_code=404), Status.INVALID_REQUEST, False, True),
    (EndpointError("teapot", status_code=418), Status.HTTP_ERROR, False, False),
]


@pytest.mark.parametrize("exc, status, retry, stops", CASES, ids=[f"{type(c[0]).__name__}-{c[0].status_code}" for c in CASES])
def test_each_error_class_gets_its_decision(exc, status, retry, stops):
    decision = decide(exc, answered_before=False, where="http://x", key_hint="KEY_ENV")
    assert (decision.status, decision.retry, decision.stop_deployment is not None) == (status, retry, stops)
    assert decision.billed is (status is not Status.CONTENT_FILTER)


def test_a_deployment_that_answered_before_is_not_stopped_by_a_404_or_a_reset():
    for exc in (EndpointError("gone", status_code=404), EndpointConnectionError("reset")):
        assert decide(exc, answered_before=True, where="http://x", key_hint="K").stop_deployment is None
    assert "check K" in decide(AuthenticationError("no", status_code=401), answered_before=True, where="x", key_hint="K").stop_deployment


def test_backoff_is_full_jitter_within_the_cap():
    rng = random.Random(1)
    waits = [backoff(attempt, 0.5, 4.0, rng) for attempt in range(1, 10) for _ in range(50)]
    assert all(0 <= w <= 4.0 for w in waits) and max(waits) > 3.0
    assert all(backoff(1, 0.5, 4.0, rng) <= 0.5 for _ in range(100))


# ------------------------------------------------------------------------------------ budget


async def test_budget_never_passes_its_limit_with_64_in_flight():
    budget = Budget(Decimal("1.00"))
    high_water = Decimal(0)
    skipped = 0

    async def request(worst: Decimal, actual: Decimal) -> None:
        nonlocal high_water, skipped
        if not await budget.reserve(worst):
            skipped += 1
            return
        high_water = max(high_water, budget.spent + budget.reserved)
        await asyncio.sleep(random.random() / 1000)
        await budget.settle(worst, actual)

    rng = random.Random(3)
    jobs = []
    for _ in range(400):
        worst = Decimal(rng.randint(1, 50)) / 1000
        jobs.append(request(worst, worst * Decimal(rng.randint(0, 100)) / 100))
    await asyncio.gather(*jobs)
    assert high_water <= Decimal("1.00") and budget.spent <= Decimal("1.00") and budget.reserved == 0
    assert skipped > 0 and budget.spent > Decimal("0.95"), "it waited for settlements instead of skipping early"


async def test_unlimited_budget_reserves_nothing():
    budget = Budget(None)
    assert await budget.reserve(Decimal(10**9))
    await budget.settle(Decimal(10**9), Decimal(5))
    assert budget.reserved == 0 and budget.spent == 5


# ------------------------------------------------------------------------------------ timing


def test_stream_timing_from_stamps():
    timing = Timing.measure(10.0, [10.2, 10.22, 10.24, 10.30], 10.31, True, completion_tokens=4)
    assert timing.ttft_s == pytest.approx(0.2) and timing.e2e_s == pytest.approx(0.31)
    assert timing.itl_mean_s == pytest.approx(0.1 / 3, abs=1e-6) and timing.itl_p50_s == pytest.approx(0.02) and timing.itl_p95_s == pytest.approx(0.06)
    assert timing.output_tps == pytest.approx(4 / 0.11, rel=1e-3) and timing.content_chunks == 4


def test_timing_without_stream_or_content():
    assert Timing.measure(0.0, [], 1.5, False, 10) == Timing(False, 1.5, timing_note="not streamed: only end-to-end time is measured")
    empty = Timing.measure(0.0, [], 0.5, True, 0)
    assert empty.ttft_s is None and empty.content_chunks == 0


# ------------------------------------------------------------------------------------ quota pool


async def test_quota_pool_caps_concurrency_and_refunds_unused_tokens():
    pool = QuotaPool("p", rpm=None, tpm=600_000, concurrency=3, largest_request_tokens=1000)
    in_flight, peak = 0, 0

    async def one() -> None:
        nonlocal in_flight, peak
        reservation = await pool.reserve(1000)
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        in_flight -= 1
        pool.release(reservation, used_tokens=100)

    await asyncio.gather(*(one() for _ in range(12)))
    assert peak == 3
    assert pool.tokens.level > pool.tokens.capacity - 1000, "unused tokens came back"


async def test_quota_pool_pause_holds_every_request_and_counts_429s():
    pool = QuotaPool("p", rpm=None, tpm=None, concurrency=None)
    pool.pause(0.15)
    start = time.monotonic()
    reservation = await pool.reserve(10)
    assert time.monotonic() - start >= 0.14 and reservation.waited_s >= 0.14 and pool.rate_limited == 1


async def test_quota_pool_paces_requests_per_minute():
    pool = QuotaPool("p", rpm=1200, tpm=None, concurrency=None)  # 20/s, bucket of ~20
    start = time.monotonic()
    for _ in range(30):
        pool.release(await pool.reserve(1), 1)
    assert time.monotonic() - start >= (30 - 20) / (20 * 0.98) * 0.9


# ------------------------------------------------------------------------------------ planning


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a", "prompt": "hi", "max_tokens": 7}\n{"id": "b", "prompt": "hello"}\n')
    return load_prompt_set(path)


def _deployment(monkeypatch, name="d", **fields) -> Deployment:
    monkeypatch.setenv("K", "k")
    return Deployment(name=name, model=L33, kind="serverless", endpoint="http://127.0.0.1:9", key_env="K", **fields)


def test_plan_counts_estimates_and_refuses_bad_input(tmp_path, prompts, monkeypatch):
    from llama_eval.catalog.models import load_catalog
    from llama_eval.catalog.prices import load_prices

    catalog = load_catalog()
    prices = load_prices(catalog=catalog)
    shown = []
    plan = make_plan([_deployment(monkeypatch)], prompts, tmp_path / "r", RunParams(repeats=2), resume=False, prices=prices, catalog=catalog,
                     show_estimates=shown.append)  # fmt: skip
    assert plan.done == frozenset() and shown and shown[0]["d"].requests == 4
    assert set(next(iter(plan.prompt_tokens.values()))) == {"a", "b"}
    with pytest.raises(RunError, match="unique"):
        make_plan([_deployment(monkeypatch), _deployment(monkeypatch)], prompts, tmp_path / "r", RunParams(), resume=False, prices=prices, catalog=catalog)
    with pytest.raises(RunError, match="client must be one of wire, sdk"):
        make_plan([_deployment(monkeypatch)], prompts, tmp_path / "r", RunParams(client="curl"), resume=False, prices=prices, catalog=catalog)


def test_request_params_item_max_tokens_wins_and_best_of_never_streams(prompts):
    from llama_eval.endpoint.request import ExtraParameters

    a, b = list(prompts)
    assert request_params(RunParams(max_tokens=50), a)["max_tokens"] == 7 and request_params(RunParams(max_tokens=50), b)["max_tokens"] == 50
    assert request_params(RunParams(), b)["max_tokens"] == 512
    assert request_params(RunParams(extra=ExtraParameters(n=1, best_of=2)), a)["stream"] is False


# ------------------------------------------------------------------------------------ one request, fake client


class FakeClient:
    """Answers from a script: an exception to raise or a (text, finish) to return; records calls."""

    api = "azure-ai-inference"
    model = None

    def __init__(self, script: list):
        self.script = deque(script)
        self.sent = 0

    def prepare(self, messages, *, stream=False, checked=False, **params):
        return build_request(messages, stream=stream, **params)

    async def send(self, prepared):
        from llama_eval.records import Reply

        self.sent += 1
        step = self.script.popleft() if self.script else ("fine", "stop")
        if isinstance(step, Exception):
            raise step
        now = time.perf_counter()
        return Reply([step[0]], step[1], Usage(5, 3, 8), prepared.stream, now - 0.3, now, [now - 0.2, now - 0.1] if prepared.stream else [])

    async def close(self):
        pass


PRICE = RequestPrice(TokenPrice(L33, "serverless", Decimal("0.71"), Decimal("0.71"), "USD", date(2026, 1, 1), "https://example.org"))


def _lane(monkeypatch, prompts, client) -> Lane:
    queue = deque((item, 0) for item in prompts)
    return Lane(_deployment(monkeypatch), client, QuotaPool("d", None, None, None), PRICE, queue, {i.id: 5 for i in prompts}, counter_for(None))


def _requester(params: RunParams, stopped: list, budget: Budget | None = None) -> Requester:
    return Requester(params, budget or Budget(params.budget_usd), lambda lane, why: stopped.append(why))


async def test_retries_until_an_answer_and_records_them(monkeypatch, prompts):
    stopped: list[str] = []
    client = FakeClient(
        [EndpointError("busy", status_code=503, headers={"retry-after-ms": "1"}), RateLimitError("slow", status_code=429, headers={"retry-after": "0"})]
    )
    lane = _lane(monkeypatch, prompts, client)
    row = await _requester(RunParams(max_attempts=5), stopped).one(lane, *lane.queue[0])
    assert row.status is Status.OK and row.attempts == 3 and client.sent == 3 and row.retry_wait_s == pytest.approx(0.001)
    assert row.timing.ttft_s == pytest.approx(0.1, abs=0.01) and row.cost_usd == Decimal(8) * Decimal("0.71") / 1000
    assert lane.pool.rate_limited == 1 and lane.in_flight == 0 and not stopped


async def test_auth_failure_stops_the_lane_once_and_is_not_retried(monkeypatch, prompts):
    stopped: list[str] = []
    client = FakeClient([AuthenticationError("denied", status_code=401)] * 3)
    lane = _lane(monkeypatch, prompts, client)
    requester = _requester(RunParams(max_attempts=5), stopped)
    row = await requester.one(lane, *lane.queue[0])
    assert row.status is Status.AUTH_ERROR and row.attempts == 1 and len(stopped) == 1 and "check K" in stopped[0]
    lane.dead = stopped[0]
    assert await requester.one(lane, *lane.queue[1]) is None, "a stopped deployment sends nothing more"


async def test_content_filter_row_costs_nothing_and_gives_up_after_max_attempts(monkeypatch, prompts):
    stopped: list[str] = []
    lane = _lane(monkeypatch, prompts, FakeClient([ContentFilterError("no", status_code=400, code="content_filter")] + [EndpointTimeout("slow")] * 5))
    requester = _requester(RunParams(max_attempts=3, backoff_base_s=0.001), stopped)
    filtered = await requester.one(lane, *lane.queue[0])
    assert filtered.status is Status.CONTENT_FILTER and filtered.cost_usd == 0 and filtered.http_status == 400
    timed_out = await requester.one(lane, *lane.queue[1])
    assert timed_out.status is Status.TIMEOUT and timed_out.attempts == 3 and timed_out.cost_usd is None and requester.retries == 2


def test_request_shape_is_worked_out_once_per_max_tokens(prompts):
    """Items differ from the run only by their own max_tokens: one shape each, shared by their rows, reserving max_tokens x choices."""
    from llama_eval.endpoint.request import ExtraParameters

    a, b = list(prompts)  # a asks for 7 tokens, b takes the run's 50
    requester = Requester(RunParams(max_tokens=50, temperature=0.5, extra=ExtraParameters(n=3)), Budget(None), lambda lane, why: None)
    shape_a, shape_b = requester.shape(a), requester.shape(b)
    assert requester.shape(a) is shape_a and shape_a is not shape_b
    assert (shape_a.max_out, shape_b.max_out) == (7 * 3, 50 * 3)
    assert shape_a.row_params == {"stream": True, "temperature": 0.5, "max_tokens": 7, "extra": {"n": 3}}
    assert shape_a.prepare == request_params(requester.params, a)


async def test_first_requests_are_marked_warmup(monkeypatch, prompts):
    lane = _lane(monkeypatch, list(prompts) * 2, FakeClient([]))
    requester = _requester(RunParams(warmup=2), [])
    rows = [await requester.one(lane, item, 0) for item, _ in list(lane.queue)]
    assert [r.warmup for r in rows] == [True, True, False, False] and len(lane.latencies) == 2


async def test_budget_skip_is_a_row_that_a_resume_retries(monkeypatch, prompts):
    lane = _lane(monkeypatch, prompts, FakeClient([]))
    row = await _requester(RunParams(budget_usd=Decimal("0.000001")), []).one(lane, *lane.queue[0])
    assert row.status is Status.BUDGET_SKIPPED and not row.status.final and row.attempts == 0 and lane.client.sent == 0


# ------------------------------------------------------------------------------------ typed rows


def test_row_round_trip_and_an_old_row_still_loads():
    row = ResultRow("d|a|0", "d", L33, "openai-v1", "a", 0, Status.LENGTH, tags=("x",), params={"max_tokens": 5}, http_status=200, response_text="hi",
                    finish_reason="length", usage=Usage(3, 5, 8), usage_source="server", timing=Timing(True, 1.0, 0.2, content_chunks=5), attempts=1,
                    cost_usd=Decimal("0.0000056"), price_known=True, warmup=False)  # fmt: skip
    data = json.loads(json.dumps(row.to_json()))
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8} and data["ttft_s"] == 0.2 and data["cost_usd"] == "0.0000056"
    assert "itl_mean_s" not in data and "error_code" not in data, "empty optional fields are left out, as rows always were"
    assert ResultRow.from_json(data) == row
    old = {"key": "d|q|0", "deployment": "d", "model": L33, "api": "azure-ai-inference", "prompt_id": "q", "repeat": 0, "tags": [], "status": "ok",
           "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}, "streamed": False, "e2e_s": 0.5, "attempts": 1,
           "cost_usd": None, "params": {}, "client_loop_lag": "ignored"}  # fmt: skip
    loaded = ResultRow.from_json(old)
    assert loaded.status is Status.OK and loaded.warmup is None and loaded.timing.e2e_s == 0.5


def test_columns_are_derived_from_the_record():
    names = row_fields()
    assert "ttft_s" in names and "warmup" in names and "timing" not in names
    usage_columns = [f"usage_{f}" for f in Usage.__slots__]
    assert [c for c in COLUMNS if c not in usage_columns] == [n for n in names if n != "usage"]
    assert COLUMNS["warmup"] == "bool" and COLUMNS["repeat"] == "int64" and COLUMNS["ttft_s"] == "float64" and COLUMNS["cost_usd"] == "decimal"
    assert {s.value for s in Status} >= {"ok", "length", "content_filter", "budget_skipped"}


# ------------------------------------------------------------------------------------ saturation


async def test_loop_lag_counts_only_while_requests_are_in_flight_and_judges_against_latency(monkeypatch, prompts):
    from llama_eval.run.progress import LagMonitor, saturation_message

    busy, idle = _lane(monkeypatch, prompts, FakeClient([])), _lane(monkeypatch, prompts, FakeClient([]))
    idle.deployment = _deployment(monkeypatch, name="idle")
    monitor = LagMonitor({busy.name: busy, idle.name: idle}, interval_s=0.005)
    watcher = asyncio.create_task(monitor.watch())
    time.sleep(0.05)  # start-up CPU with nothing in flight: not counted
    await asyncio.sleep(0.02)
    assert len(monitor.samples[busy.name]) == 0, "nothing in flight, nothing sampled"
    busy.in_flight = 1
    for _ in range(12):  # this process hogs its loop while a request waits: 20 ms late each time
        await asyncio.sleep(0.006)
        time.sleep(0.02)
    busy.in_flight = 0
    watcher.cancel()
    busy.latencies = [0.05] * 10  # 50 ms median latency: 20 ms of lag moves it by 40%
    verdict = monitor.verdict(busy)
    assert verdict.saturated and verdict.p90_ms >= 15 and verdict.samples >= 5
    assert monitor.verdict(idle).samples == 0 and not monitor.verdict(idle).saturated
    busy.latencies = [2.0] * 10  # the same lag against 2 s latencies is 1%: no verdict
    assert not monitor.verdict(busy).saturated
    busy.latencies = [0.05] * 10
    message = saturation_message({"busy-deployment": monitor.verdict(busy), "idle": monitor.verdict(idle)})
    assert "busy-deployment" in message and "idle" not in message
    assert "--concurrency" in message and "RunParams(concurrency=" in message, "worded for the CLI and for Python"
    assert saturation_message({"idle": monitor.verdict(idle)}) is None


def test_frozen_heap_keeps_start_up_objects_out_of_collections_while_requests_run():
    import gc

    from llama_eval.run.heap import frozen_heap

    before = [object() for _ in range(1000)]  # noqa: F841 - alive across the block
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        assert gc.get_freeze_count() > 1000, "what existed at the start is left out of the collector's passes"
    assert gc.get_freeze_count() == 0, "and given back afterwards, so a long-lived kernel can still collect it"
