"""Arrival schedules: their statistics follow the process asked for; traces are checked line by line before any request."""

from __future__ import annotations

import math
import random

import pytest

from llama_eval.errors import WorkloadError
from llama_eval.load.arrivals import gamma, inter_arrival_cv, parse_ramp, poisson, ramp, read_trace, send_instants


def test_poisson_has_the_asked_rate_and_exponential_gaps():
    made = poisson(20.0, 20_000, seed=1)
    assert made.kind == "poisson" and len(made) == 20_000 and made.items[0].offset_s == 0.0
    rate = (len(made) - 1) / made.duration_s
    assert rate == pytest.approx(20.0, rel=0.03)
    assert inter_arrival_cv(made) == pytest.approx(1.0, rel=0.05), "exponential gaps: CV 1"
    assert made.recipe == {"kind": "poisson", "rate_rps": 20.0, "count": 20_000, "seed": 1}


@pytest.mark.parametrize("burstiness", [0.5, 0.25, 4.0])
def test_gamma_gaps_have_the_theoretical_coefficient_of_variation(burstiness):
    made = gamma(10.0, burstiness, 20_000, seed=7)
    theory = 1 / math.sqrt(burstiness)  # vLLM's semantics: shape = burstiness, scale = 1/(rate * burstiness)
    assert inter_arrival_cv(made) == pytest.approx(theory, rel=0.10)
    assert (len(made) - 1) / made.duration_s == pytest.approx(10.0, rel=0.05), "the mean rate stays the rate asked for"


def test_burstiness_half_is_within_ten_percent_of_root_two_for_every_seed_tried():
    cvs = [inter_arrival_cv(gamma(5.0, 0.5, 5_000, seed=s)) for s in range(10)]
    assert all(abs(cv - math.sqrt(2)) / math.sqrt(2) < 0.10 for cv in cvs), cvs


def test_schedules_are_reproducible_from_their_seed():
    assert gamma(3.0, 0.5, 100, seed=4).offsets == gamma(3.0, 0.5, 100, seed=4).offsets
    assert gamma(3.0, 0.5, 100, seed=4).offsets != gamma(3.0, 0.5, 100, seed=5).offsets


def test_ramp_rate_rises_linearly_then_holds():
    made = ramp(2.0, 40.0, 30.0, 3_000, seed=2)
    offsets = made.offsets
    assert all(b >= a for a, b in zip(offsets, offsets[1:], strict=False))

    def rate_in(lo: float, hi: float) -> float:
        return sum(lo <= t < hi for t in offsets) / (hi - lo)

    # r(t) = 2 + 38 t / 30: the mean rate over [0, 5) is r(2.5) ~ 5.2, over [25, 30) r(27.5) ~ 36.8, after 30 it is 40
    assert rate_in(0.5, 5) == pytest.approx(2 + 38 * 2.75 / 30, rel=0.35)
    assert rate_in(25, 30) == pytest.approx(2 + 38 * 27.5 / 30, rel=0.15)
    assert rate_in(30, offsets[-1]) == pytest.approx(40, rel=0.1)
    # expected arrivals during the ramp: the area under r(t) = (2 + 40) / 2 * 30 = 630
    assert sum(t < 30 for t in offsets) == pytest.approx(630, rel=0.1)


def test_ramp_from_zero_and_falling_ramps_work():
    up = ramp(0.0, 10.0, 10.0, 200, seed=1)
    assert up.offsets[1] > 0.3, "from rate 0 the first gaps are long"
    down = ramp(20.0, 1.0, 10.0, 150, seed=1)
    assert sum(t < 2 for t in down.offsets) > sum(5 <= t < 7 for t in down.offsets)


@pytest.mark.parametrize(
    "text, message",
    [("1:2", "write START_RPS:END_RPS:SECONDS"), ("a:2:3", "write START_RPS"), ("-1:2:3", "starting rate must be >= 0"), ("1:0:3", "end rate must be"),
     ("1:2:0", "duration must be")],
)  # fmt: skip
def test_ramp_text_errors_say_what_to_write(text, message):
    with pytest.raises(WorkloadError, match=message):
        parse_ramp(text)


def test_parse_ramp_reads_three_numbers():
    assert parse_ramp("1:20:60") == (1.0, 20.0, 60.0)


def test_bad_rates_are_refused():
    with pytest.raises(WorkloadError, match=r"rate \(--rate\) must be a number > 0"):
        poisson(0, 10)
    with pytest.raises(WorkloadError, match=r"burstiness \(--burstiness\) must be a number > 0"):
        gamma(1.0, -0.5, 10)
    with pytest.raises(WorkloadError, match="whole number >= 1"):
        poisson(1.0, 0)


def test_send_instants_fill_a_window_at_the_rate():
    rng = random.Random(3)
    instants = send_instants(50.0, 100.0, 300.0, rng, burstiness=0.5)
    assert all(100.0 < t < 300.0 for t in instants)
    assert len(instants) / 200.0 == pytest.approx(50.0, rel=0.05)


# ------------------------------------------------------------------------------------------- traces


def write(tmp_path, text: str, name: str = "trace.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_trace_with_offsets_is_compressed_by_the_speedup(tmp_path):
    path = write(tmp_path, "offset_s,input_tokens,output_tokens,conversation_id,extra\n0,100,20,c1,x\n2.5,300,40,,y\n10,50,5,c1,z\n")
    made = read_trace(path, speedup=10)
    assert made.offsets == (0.0, 0.25, 1.0)
    assert [(a.input_tokens, a.output_tokens, a.conversation_id) for a in made.items] == [(100, 20, "c1"), (300, 40, None), (50, 5, "c1")]
    assert made.items[1].source == f"{path} line 3"
    assert made.recipe["speedup"] == 10 and made.recipe["count"] == 3 and len(made.recipe["sha256"]) == 64


def test_trace_timestamps_iso_or_epoch_start_at_zero_and_are_sorted(tmp_path):
    iso = write(tmp_path, "timestamp,input_tokens,output_tokens\n2026-01-31T12:00:01.500Z,10,1\n2026-01-31T12:00:00Z,20,2\n", "iso.csv")
    made = read_trace(iso)
    assert made.offsets == (0.0, 1.5) and made.items[0].input_tokens == 20, "sorted by time"
    epoch = write(tmp_path, "Timestamp,Input_Tokens,Output_Tokens\n1700000000.25,10,1\n1700000003.25,20,2\n", "epoch.csv")
    assert read_trace(epoch, speedup=2).offsets == (0.0, 1.5)


@pytest.mark.parametrize(
    "text, message",
    [
        ("input_tokens,output_tokens\n10,1\n", r"line 1: the header must name one of 'timestamp' or 'offset_s'"),
        ("offset_s,input_tokens\n0,10\n", r"line 1: the header must name 'output_tokens'"),
        ("offset_s,input_tokens,output_tokens\n0,10,1\n1,ten,1\n", r"line 3: field 'input_tokens': 'ten' is not a number"),
        ("offset_s,input_tokens,output_tokens\n0,10,0\n", r"line 2: field 'output_tokens': '0' must be a whole number of tokens >= 1"),
        ("offset_s,input_tokens,output_tokens\n0,10.5,3\n", r"line 2: field 'input_tokens': '10.5' must be a whole number"),
        ("offset_s,input_tokens,output_tokens\n-1,10,3\n", r"line 2: field 'offset_s': '-1' must be a finite number >= 0"),
        ("timestamp,input_tokens,output_tokens\nyesterday,10,3\n", r"line 2: field 'timestamp': 'yesterday' is neither ISO 8601"),
        ("timestamp,input_tokens,output_tokens\n2026-01-31T12:00:00,10,3\n", r"line 2: field 'timestamp': .* has no time zone"),
        ("offset_s,input_tokens,output_tokens\n", r"no requests"),
    ],
)  # fmt: skip
def test_trace_errors_name_file_line_and_field(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(WorkloadError, match=message) as caught:
        read_trace(path)
    assert str(path) in str(caught.value)


def test_missing_trace_and_bad_speedup(tmp_path):
    with pytest.raises(WorkloadError, match="trace not found"):
        read_trace(tmp_path / "nope.csv")
    path = write(tmp_path, "offset_s,input_tokens,output_tokens\n0,10,1\n")
    with pytest.raises(WorkloadError, match="--speedup must be a number > 0"):
        read_trace(path, speedup=0)
