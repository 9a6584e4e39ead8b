"""Fast checks of a distributed sweep's parts that need no Ray: shard splitting, clock offsets, merging rows, the flags."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llama_eval.distributed.clock import ClockOffset, estimate_offset, uncertainty_s
from llama_eval.distributed.merge import to_samples
from llama_eval.errors import SweepError
from llama_eval.load.params import Shard


@given(st.integers(min_value=0, max_value=5000), st.integers(min_value=1, max_value=16))
def test_shares_add_up_and_differ_by_at_most_one(n, count):
    shares = [Shard(k, count).share(n) for k in range(count)]
    assert sum(shares) == n
    assert max(shares) - min(shares) <= 1


@given(st.integers(min_value=1, max_value=16), st.integers(min_value=0, max_value=300))
def test_every_arrival_belongs_to_exactly_one_shard(count, arrivals):
    for i in range(arrivals):
        assert sum(Shard(k, count).owns(i) for k in range(count)) == 1


def test_one_shard_owns_everything():
    assert Shard().share(7) == 7 and all(Shard().owns(i) for i in range(10))


def test_offset_is_exact_for_symmetric_legs_and_the_shortest_round_trip_wins():
    true_offset = 0.250  # the client's clock is 250 ms ahead
    # (t0, tc, t1): legs of 5+5 ms, then 1+1 ms, then 30 ms out and 2 ms back (asymmetric, long)
    probes = [(10.0, 10.005 + true_offset, 10.010), (11.0, 11.001 + true_offset, 11.002), (12.0, 12.030 + true_offset, 12.032)]
    est = estimate_offset(3, probes)
    assert est.client == 3 and est.probes == 3
    assert est.rtt_s == pytest.approx(0.002)
    assert est.offset_s == pytest.approx(true_offset)
    assert est.uncertainty_s == pytest.approx(0.001)


@given(st.floats(-5, 5), st.floats(0, 0.05), st.floats(0, 0.05))
def test_the_true_offset_lies_within_half_the_round_trip(offset, out_leg, back_leg):
    t0 = 1000.0
    est = estimate_offset(0, [(t0, t0 + out_leg + offset, t0 + out_leg + back_leg)])
    assert abs(est.offset_s - offset) <= est.uncertainty_s + 1e-9


def test_offset_refuses_no_probes_and_a_backwards_clock():
    with pytest.raises(ValueError, match="no clock probes"):
        estimate_offset(0, [])
    with pytest.raises(ValueError, match="ended before it began"):
        estimate_offset(0, [(5.0, 5.0, 4.0)])


def test_merged_uncertainty_is_the_two_worst_clients():
    offsets = [ClockOffset(0, 0.0, 0.002, 8), ClockOffset(1, 0.1, 0.010, 8), ClockOffset(2, -0.1, 0.004, 8)]
    assert uncertainty_s(offsets) == pytest.approx(0.005 + 0.002)
    assert uncertainty_s(offsets[:1]) == pytest.approx(0.001)
    assert uncertainty_s([]) == 0.0
    assert ClockOffset(1, 0.0123, 0.004, 8).to_json() == {"client": 1, "offset_ms": 12.3, "rtt_ms": 4.0, "uncertainty_ms": 2.0, "probes": 8}


def _row(key: str, repeat: int, client: int) -> dict:
    return {"key": key, "deployment": "d", "prompt_id": "p1", "repeat": repeat, "status": "ok", "e2e_s": 0.5, "ttft_s": 0.1,
            "streamed": True, "warmup": False, "client": client}  # fmt: skip


def test_merge_places_rows_on_the_coordinators_timeline_and_refuses_a_key_twice():
    seen: set[str] = set()
    first = to_samples([(_row("d:p1:1", 1, 0), 0.5, 1.0, None), (_row("d:p1:2", 2, 1), 0.25, 0.75, 0.002)], 100.0, seen)
    assert [(s.sent, s.ended, s.lateness_s) for s in first] == [(100.5, 101.0, None), (100.25, 100.75, 0.002)]
    assert [s.row.repeat for s in first] == [1, 2] and first[0].row.timing.ttft_s == 0.1
    with pytest.raises(SweepError, match="delivered twice"):
        to_samples([(_row("d:p1:2", 2, 0), 1.0, 2.0, None)], 100.0, seen)


def test_merged_percentiles_come_from_rows_not_from_per_client_summaries():
    """Two clients with very different loads: the median of the merged rows is not the mean of their medians."""
    from llama_eval.load.levels import summarise_level

    seen: set[str] = set()
    fast = [(_row(f"d:p1:{i}", i, 0) | {"ttft_s": 0.1}, i * 0.1, i * 0.1 + 0.5, None) for i in range(1, 10)]
    slow = [(_row(f"d:p1:{i}", i, 1) | {"ttft_s": 1.0}, i * 0.1, i * 0.1 + 2.0, None) for i in range(10, 13)]
    level = summarise_level(1, 4, True, to_samples(fast + slow, 0.0, seen), None, 1.0, None, False)
    assert level.requests == 12
    assert level.ttft_p50_s == pytest.approx(0.1)  # 9 of the 12 rows are 0.1 s; the mean of the two medians would be 0.55


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llama_eval.cli", *args], capture_output=True, text=True, timeout=60)


def test_clients_without_the_ray_executor_is_refused_before_anything_is_read(tmp_path):
    done = _cli("sweep", "-d", str(tmp_path / "missing.yaml"), "-p", "x.jsonl", "-o", str(tmp_path / "o"), "--concurrency", "1",
                "--requests-per-level", "1", "--clients", "2")  # fmt: skip
    assert done.returncode != 0 and "--clients splits the load over Ray clients; add --executor ray" in done.stderr
    assert not (tmp_path / "o").exists()


def test_a_missing_ray_says_which_extra_to_install():
    code = ("import sys; sys.modules['ray'] = None\n"
            "from llama_eval.distributed.executor import RayExecutor\n"
            "from llama_eval.errors import SweepError\n"
            "try:\n    RayExecutor(clients=2).sweeper()\nexcept SweepError as exc:\n    print(exc)\n")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "pip install 'llama-eval[ray]'" in out


def test_bad_client_counts_are_refused():
    from llama_eval.distributed import RayExecutor

    for bad in (0, -1, 1.5):
        with pytest.raises(SweepError, match="--clients must be a whole number"):
            RayExecutor(clients=bad)


def test_help_does_not_import_ray():
    code = ("import sys\nfrom llama_eval.cli import main\n"
            "try:\n    main(['sweep', '--help'])\nexcept SystemExit:\n    pass\nprint(json.dumps('ray' in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "--executor" in out and out.strip().splitlines()[-1] == json.dumps(False)
