"""Load sweeps against a server whose capacity is known (tests/_support/capacityserver.py), over real HTTP.

The server serves at most K requests at once (FIFO beyond), each taking a fixed service time, so
the answers are known in advance: a closed-loop sweep's capacity at an SLO only <= K can meet is
exactly K, and below K throughput is c / service time. Open-loop behaviour (requests sent on
schedule whatever the others do; the sender's lateness recorded) is checked here; its speed
target (20 req/s within 2%, lateness p99 < 5 ms) is measured in benchmarks/bench_sweep.py.
"""

from __future__ import annotations

import csv
import json

import pytest

from _support.capacityserver import CapacityServer
from llama_eval.catalog.models import Quota
from llama_eval.deployments.model import Deployment
from llama_eval.errors import RunError, SloError, SweepError
from llama_eval.load.objectives import CSV_COLUMNS, Slo, SweepLevel
from llama_eval.load.slo import find_capacity, read_sweep
from llama_eval.load.sweep import sweep
from llama_eval.rundir.store import read_rows

QUIET = {"progress": "none", "announce": lambda message: None}
TTFT, TOKENS, INTERVAL = 0.2, 10, 0.02  # service time 0.38 s
K = 4


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Say hello number {i}."}) + "\n" for i in range(5)))
    return path


@pytest.fixture(scope="module")
def kserver():
    with CapacityServer(K, ttft_s=TTFT, tokens=TOKENS, interval_s=INTERVAL) as server:
        yield server


def _deployment(url: str, monkeypatch, **extra) -> Deployment:
    monkeypatch.setenv("SWEEP_TEST_KEY", "test-key")
    return Deployment(name="k4", model="Llama-3.3-70B-Instruct", kind="managed", endpoint=url, key_env="SWEEP_TEST_KEY", **extra)


def test_closed_loop_capacity_is_exactly_k(kserver, prompts, tmp_path, monkeypatch):
    service = kserver.state.service_s
    slo = f"ttft_p90<={TTFT + 0.15}"  # met while nothing queues (150 ms of slack for a loaded machine); a queued request waits a whole service time (0.38 s)
    out = tmp_path / "sweep"
    result = sweep([_deployment(kserver.url, monkeypatch)], prompts, out, concurrency=[1, 2, 4, 5, 8], requests_per_level=12, warmup_s=0, slo=slo,
                   stop_factor=1.5, **QUIET)  # fmt: skip
    frame = result.frame()

    assert result == read_sweep(out), "sweep() returns the SweepResult that read_sweep reads back"
    assert result.capacity.level.concurrency == K
    assert result.capacity.lower_bound is False
    assert kserver.state.max_in_service <= K
    by_c = {row["concurrency"]: row for row in frame.to_dict("records")}
    for c in (1, 2, 4):  # 12 requests per level: whole rounds at every c <= K, so theory is c / service time
        theory = c / service
        assert abs(by_c[c]["throughput_rps"] - theory) / theory < 0.05, (c, by_c[c]["throughput_rps"], theory)
        assert by_c[c]["slo_met"]
    assert not by_c[5]["slo_met"] and by_c[5]["ttft_p90_s"] > TTFT + service * 0.8  # a fifth of requests queue a whole service time
    # level 5 misses ttft_p90 by more than 1.5x (0.58 s against 0.35 s): the sweep stops there and never runs 8
    assert 8 not in by_c and "wide margin" in result.stopped

    with (out / "sweep.csv").open() as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == CSV_COLUMNS
        assert [int(r["concurrency"]) for r in reader] == [1, 2, 4, 5]
    data = json.loads((out / "sweep.json").read_text())
    assert data["capacity"]["concurrency"] == K and data["capacity_reason"] is None
    assert data["capacity"]["throughput_rps"] == by_c[4]["throughput_rps"]
    rows = read_rows(out)
    assert len(rows) == 4 * 12 and {r["level"] for r in rows} == {1, 2, 3, 4}
    assert all(r["status"] == "ok" and r["deployment"] == "k4" and "ttft_s" in r for r in rows)
    assert len({r["key"] for r in rows}) == len(rows)  # one key per request: nothing collapses when read back
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sweep"]["mode"] == "closed" and manifest["status"] == "stopped"
    # read back, and judged under another SLO without re-running
    assert read_sweep(out).capacity.level.concurrency == K
    assert read_sweep(out, slo="ttft_p90<=5").capacity.lower_bound is True


def test_open_loop_sends_on_schedule_while_the_server_queues(prompts, tmp_path, monkeypatch):
    # one slot, 0.38 s a request, 8 requests/s arriving: a closed loop would send ~2.6/s; an open loop keeps sending
    with CapacityServer(1, ttft_s=TTFT, tokens=TOKENS, interval_s=INTERVAL) as server:
        result = sweep([_deployment(server.url, monkeypatch)], prompts, tmp_path / "open", rate=[8.0], duration_s=2.0, warmup_s=0.25, seed=3, **QUIET)
    level = result.frame().to_dict("records")[0]
    rows = read_rows(tmp_path / "open")
    assert all("sender_lateness_s" in r and r["rate_rps"] == 8.0 for r in rows)
    assert level["warmup_requests"] == sum(1 for r in rows if r["warmup"]) and level["requests"] == sum(1 for r in rows if not r["warmup"])
    assert level["requests"] >= 8  # Poisson with mean 16 over 2 s; far above the 2.6/s a serial loop could send
    assert level["send_rate_rps"] > 4
    assert level["throughput_rps"] < 3.0  # the server still answers only one at a time
    assert level["ttft_p90_s"] > 1.0  # queued behind one another: TTFT grows with the backlog
    assert level["sender_lateness_p99_ms"] is not None and level["sender_lateness_p99_ms"] >= 0
    assert level["rate_rps"] == 8.0 and level["concurrency"] is None


def test_quota_stops_the_sweep_before_a_level_would_exceed_it(kserver, prompts, tmp_path, monkeypatch):
    deployment = _deployment(kserver.url, monkeypatch, quota=Quota(rpm=150))
    served = kserver.state.served
    result = sweep([deployment], prompts, tmp_path / "q", rate=[1.0, 2.0, 4.0], requests_per_level=3, warmup_s=0, slo="e2e_p90<=5", **QUIET)
    assert [level.rate_rps for level in result.levels] == [1.0, 2.0]  # 4 req/s = 240 requests/min > 150 rpm: never sent
    assert "150 rpm" in result.stopped
    assert kserver.state.served - served == 6
    assert result.capacity.level.rate_rps == 2.0 and result.capacity.lower_bound is True


def test_bad_input_is_refused_before_any_request(kserver, prompts, tmp_path, monkeypatch):
    d = _deployment(kserver.url, monkeypatch)
    served = kserver.state.served
    cases = [
        ({"concurrency": [1, 2], "rate": [1.0]}, "exactly one of --concurrency"),
        ({"concurrency": [4, 2]}, "rise strictly"),
        ({"concurrency": [1, 2], "duration_s": 1.0}, "exactly one of --duration-s"),
        ({"concurrency": "1,x"}, "cannot read levels"),
        ({"rate": [0.0, 1.0]}, "must be > 0"),
    ]
    for kwargs, message in cases:
        kwargs.setdefault("requests_per_level", 2)
        with pytest.raises(SweepError, match=message):
            sweep([d], prompts, tmp_path / "bad", warmup_s=0, **kwargs, **QUIET)
    with pytest.raises(SweepError, match="no deployment named 'nope'"):
        sweep([d], prompts, tmp_path / "bad", deployment="nope", concurrency=[1], requests_per_level=1, **QUIET)
    with pytest.raises(SloError, match="unknown SLO metric 'ttfb_p90'"):
        sweep([d], prompts, tmp_path / "bad", concurrency=[1], requests_per_level=1, slo="ttfb_p90<=1", **QUIET)
    assert kserver.state.served == served and not (tmp_path / "bad" / "results.jsonl").exists()


def test_slo_parsing():
    slo = Slo.parse("ttft_p90<=1.0, e2e_p90 <= 10 ; itl_p50<50ms")
    assert [(o.metric, o.limit, o.strict) for o in slo.objectives] == [
        ("ttft_p90_s", 1.0, False),
        ("e2e_p90_s", 10.0, False),
        ("itl_p50_s", 0.05, True),
        ("error_rate", 0.01, False),  # implicit: errors must stay under 1%
    ]
    assert Slo.parse("error_rate<=0.05").objectives == Slo.parse("error_rate<=0.05").objectives
    assert len(Slo.parse("error_rate<=0.05").objectives) == 1
    assert Slo.parse("") is None and Slo.parse(None) is None
    for bad, message in [("ttft_p90=1", "cannot read SLO term"), ("ttft_p90<=1,ttft_p90<=2", "twice"), ("error_rate<=1ms", "share")]:
        with pytest.raises(SloError, match=message):
            Slo.parse(bad)


def _level(i: int, c: int, thr: float, ttft90: float, errors: int = 0) -> SweepLevel:
    return SweepLevel(i, c, None, 100, errors, thr, None, ttft90 / 2, ttft90, ttft90, 0.02, 1.0, 2.0)


def test_capacity_rules_by_hand():
    slo = Slo.parse("ttft_p90<=1.0")
    levels = [_level(1, 1, 1.0, 0.5), _level(2, 2, 2.0, 0.8), _level(3, 4, 3.0, 1.6), _level(4, 8, 3.2, 0.9)]
    cap = find_capacity(levels, slo)
    assert cap.level.concurrency == 2 and not cap.lower_bound  # level 4 passing above a failure is noise, not capacity
    # interpolation on ttft_p90 between (2.0 rps, 0.8 s) and (3.0 rps, 1.6 s): crosses 1.0 s at 2.25 rps
    assert cap.estimate.throughput_rps == pytest.approx(2.25) and cap.estimate.between_levels == (2, 3)
    assert cap.to_json()["throughput_rps"] == 2.0  # the capacity itself is the measured level, never the estimate

    first_fails = find_capacity([_level(1, 1, 1.0, 1.5)], slo)
    assert first_fails.level is None and "lowest level (concurrency 1) already misses" in first_fails.reason
    assert find_capacity(levels, None).reason.startswith("no SLO was given")
    errors = find_capacity([_level(1, 1, 1.0, 0.5), _level(2, 2, 2.0, 0.6, errors=5)], slo)
    assert errors.level.concurrency == 1  # 5% errors miss the implicit error_rate<=0.01
    assert find_capacity([_level(1, 1, 1.0, 0.5), _level(2, 2, 2.0, 0.6)], slo).lower_bound


def test_cli_sweep_prints_levels_and_capacity(kserver, prompts, tmp_path, monkeypatch, capsys):
    from llama_eval.cli import main

    monkeypatch.setenv("SWEEP_TEST_KEY", "test-key")
    config = tmp_path / "deployments.yaml"
    config.write_text(
        "deployments:\n"
        f"  - {{name: k4, model: Llama-3.3-70B-Instruct, kind: managed, endpoint: '{kserver.url}', key_env: SWEEP_TEST_KEY}}\n"
        f"  - {{name: other, model: Llama-3.3-70B-Instruct, kind: managed, endpoint: '{kserver.url}', key_env: SWEEP_TEST_KEY}}\n"
    )
    out = tmp_path / "cli"
    args = ["sweep", "-d", str(config), "-p", str(prompts), "-o", str(out), "--concurrency", "2,4", "--requests-per-level", "4", "--warmup-s", "0"]
    assert main(args + ["--slo", "ttft_p90<=0.25", "--progress", "none"]) == 2  # two deployments and no --deployment
    assert "choose one with --deployment: k4, other" in capsys.readouterr().err
    assert main(args + ["--deployment", "k4", "--slo", "ttft_p90<=0.25", "--progress", "none"]) == 0
    printed = capsys.readouterr().out
    assert "capacity at the SLO: concurrency 4" in printed and "sweep.csv" in printed
    assert main(args + ["--deployment", "k4", "--progress", "none"]) == 2  # the directory holds a sweep already
    assert "already holds a run; pass --resume to continue it, or choose a new directory" in capsys.readouterr().err


def _ks_exponential(gaps: list[float], rate: float) -> float:
    """The Kolmogorov-Smirnov statistic of ``gaps`` against the exponential law with this rate."""
    import math

    ordered, n = sorted(gaps), len(gaps)
    return max(max((i + 1) / n - (1 - math.exp(-rate * g)), (1 - math.exp(-rate * g)) - i / n) for i, g in enumerate(ordered))


def test_poisson_schedule_has_exponential_gaps_and_the_exact_rate():
    import math
    import random

    from llama_eval.load.arrivals import send_instants  # what a sweep level's open loop draws its warm-up and measured windows from

    rate, rng = 20.0, random.Random(7)
    times = send_instants(rate, 0.0, 5.0, rng, exact=True) + send_instants(rate, 5.0, 105.0, rng, exact=True)
    warm, measured = [t for t in times if t < 5.0], [t for t in times if t >= 5.0]
    assert len(warm) == 100 and len(measured) == 2000 and times == sorted(times)
    gaps = [b - a for a, b in zip(measured, measured[1:], strict=False)]
    critical = 1.63 / math.sqrt(len(gaps))  # KS critical value at the 1% level (asymptotic)
    assert _ks_exponential(gaps, rate) < critical  # the gaps of Poisson arrivals are exponential
    assert _ks_exponential([1 / rate] * len(gaps), rate) > critical  # a fixed-interval schedule is not


def test_load_figure_from_a_sweep(kserver, prompts, tmp_path, monkeypatch):
    from llama_eval.load.figure import load_figure, sweeps_in

    out = tmp_path / "sweeps" / "k4"
    sweep([_deployment(kserver.url, monkeypatch)], prompts, out, concurrency=[2, 4, 6], requests_per_level=6, warmup_s=0, slo="ttft_p90<=0.3", **QUIET)
    assert sweeps_in(tmp_path / "sweeps") == [out] and sweeps_in(out) == [out]
    fig = load_figure(sweeps_in(tmp_path / "sweeps"))
    names = [t.name for t in fig.data]
    assert "k4 p50" in names and "k4 p90" in names
    capacity = [t for t in fig.data if t.name.startswith("k4 capacity")]
    assert len(capacity) == 2 and "concurrency 4" in capacity[0].name  # circled in both panels
    assert list(fig.data[0].x) == [r["throughput_rps"] for r in json.loads((out / "sweep.json").read_text())["levels"]]
    assert any(a["text"] == "SLO ttft_p90<=0.3" for a in fig.to_dict()["layout"]["annotations"])  # the SLO line, labelled


def test_an_emulator_time_scale_turns_measurements_into_the_emulated_service_time(prompts, tmp_path, monkeypatch):
    # a server announcing time scale 0.5 runs twice as fast as the service it stands for: latencies x2, throughput /2
    with CapacityServer(K, ttft_s=TTFT, tokens=TOKENS, interval_s=INTERVAL, time_scale=0.5) as server:
        result = sweep([_deployment(server.url, monkeypatch)], prompts, tmp_path / "scaled", concurrency=[2], requests_per_level=4, warmup_s=0, **QUIET)
        opened = sweep([_deployment(server.url, monkeypatch)], prompts, tmp_path / "open", rate=[4.0], duration_s=2.0, warmup_s=0, **QUIET)
    level = result.frame().to_dict("records")[0]
    assert level["ttft_p50_s"] == pytest.approx(2 * TTFT, rel=0.1)
    service = TTFT + (TOKENS - 1) * INTERVAL
    assert level["throughput_rps"] == pytest.approx(2 / service / 2, rel=0.06)
    data = json.loads((tmp_path / "scaled" / "sweep.json").read_text())
    assert data["time_scale"] == 0.5 and "time scale 0.5" in data["units"]
    # open loop: 4 req/s of service time for 2 s of service time = 8 requests sent in 1 s of real time
    rows = read_rows(tmp_path / "open")
    assert len(rows) == 8
    assert 3.0 < opened.levels[0].send_rate_rps <= 4.0  # not 8 or 2: the schedule ran in the server's time (a stall can only lower it)


def test_the_budget_stops_the_sweep(kserver, prompts, tmp_path, monkeypatch):
    from llama_eval.run import RunParams

    deployment = _deployment(kserver.url, monkeypatch)
    deployment = Deployment(**{**deployment.__dict__, "kind": "serverless", "quota": Quota(rpm=100_000, tpm=100_000_000)})
    served = kserver.state.served
    # each request reserves its worst case, (prompt + 16 tokens) x $0.00071/1k ~ $0.00002: $0.0001 pays for a few
    result = sweep([deployment], prompts, tmp_path / "budget", concurrency=[1, 2], requests_per_level=20, warmup_s=0, budget_usd="0.0001",
                   params=RunParams(max_tokens=16), **QUIET)  # fmt: skip
    assert "budget" in result.stopped and list(result.frame()["concurrency"]) == [1]
    rows = read_rows(tmp_path / "budget")
    spent = sum(float(r["cost_usd"]) for r in rows if r["cost_usd"] is not None)
    assert 0 < kserver.state.served - served < 20 and spent <= 0.0001


def test_ctrl_c_keeps_the_finished_levels_and_exits_130(kserver, prompts, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    config = tmp_path / "deployments.yaml"
    config.write_text(f"deployments:\n  - {{name: k4, model: Llama-3.3-70B-Instruct, kind: managed, endpoint: '{kserver.url}', key_env: SWEEP_TEST_KEY}}\n")
    out2 = tmp_path / "long"
    command = [sys.executable, "-m", "llama_eval.cli", "sweep", "-d", str(config), "-p", str(prompts), "-o", str(out2), "--concurrency", "2,4",
               "--duration-s", "60", "--warmup-s", "0", "--progress", "none"]  # fmt: skip
    proc = subprocess.Popen(command, env={**os.environ, "SWEEP_TEST_KEY": "k"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not ((out2 / "results.jsonl").exists() and (out2 / "results.jsonl").stat().st_size > 0):
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    data = json.loads((out2 / "sweep.json").read_text())
    assert data["levels"] == [] and data["stopped"].startswith("interrupted during level 1")
    assert len(read_rows(out2)) >= 2  # the rows sent before Ctrl-C are kept


# --------------------------------------------------------------------------- resuming a sweep


def test_more_levels_extend_a_finished_sweep_and_only_the_new_ones_are_sent(kserver, prompts, tmp_path, monkeypatch):
    d = _deployment(kserver.url, monkeypatch)
    out = tmp_path / "grow"
    first = sweep([d], prompts, out, concurrency=[1, 2], requests_per_level=4, warmup_s=0, slo="ttft_p90<=5", **QUIET)
    before = json.loads((out / "sweep.json").read_text())
    served = kserver.state.served
    grown = sweep([d], prompts, out, concurrency=[1, 2, 4], requests_per_level=4, warmup_s=0, slo="ttft_p90<=5", resume=True, **QUIET)
    assert kserver.state.served - served == 4, "only the new level's 4 requests were sent"
    assert [level.concurrency for level in grown.levels] == [1, 2, 4] and grown.sessions == 2
    after = json.loads((out / "sweep.json").read_text())
    assert after["levels"][:2] == before["levels"], "the levels measured earlier are kept exactly"
    assert first.levels == grown.levels[:2]
    rows = read_rows(out)
    assert len(rows) == 12 and len({r["key"] for r in rows}) == 12, "every row kept, no key twice"
    assert [r.get("session") for r in rows].count(2) == 4 and all(r["level"] == 3 for r in rows if r.get("session") == 2)

    # the same command again: nothing left to do, nothing sent, the stored levels returned
    said = []
    served = kserver.state.served
    again = sweep([d], prompts, out, concurrency=[1, 2, 4], requests_per_level=4, warmup_s=0, slo="ttft_p90<=5", resume=True, progress="none",
                  announce=said.append)  # fmt: skip
    assert kserver.state.served == served and again == read_sweep(out, slo="ttft_p90<=5") and len(again.levels) == 3
    assert any("nothing to resume" in line and "ran every level" in line for line in said)


def test_a_sweep_stopped_by_its_budget_resumes_at_the_level_it_was_in(kserver, prompts, tmp_path, monkeypatch):
    from llama_eval.run import RunParams

    deployment = _deployment(kserver.url, monkeypatch)
    deployment = Deployment(**{**deployment.__dict__, "kind": "serverless", "quota": Quota(rpm=100_000, tpm=100_000_000)})
    out = tmp_path / "budget"
    stopped = sweep([deployment], prompts, out, concurrency=[1, 2], requests_per_level=6, warmup_s=0, budget_usd="0.00005",
                    params=RunParams(max_tokens=16), **QUIET)  # fmt: skip
    assert stopped.stop_kind == "budget" and stopped.resumable is True
    partial = len(read_rows(out))
    assert 0 < partial < 6
    resumed = sweep([deployment], prompts, out, concurrency=[1, 2], requests_per_level=6, warmup_s=0, params=RunParams(max_tokens=16),
                    resume=True, **QUIET)  # fmt: skip
    assert [(level.concurrency, level.requests) for level in resumed.levels] == [(1, 6), (2, 6)], "level 1 ran again from its start"
    assert resumed.stopped is None
    rows = read_rows(out)
    assert len(rows) == partial + 12, "the first session's rows are kept beside the new ones"


def test_resume_refuses_other_settings_before_any_request(kserver, prompts, tmp_path, monkeypatch):
    d = _deployment(kserver.url, monkeypatch)
    out = tmp_path / "same"
    sweep([d], prompts, out, concurrency=[1, 2], requests_per_level=2, warmup_s=0, **QUIET)
    served = kserver.state.served
    with pytest.raises(SweepError, match=r"requests_per_level: 2 then, 3 now"):
        sweep([d], prompts, out, concurrency=[1, 2, 4], requests_per_level=3, warmup_s=0, resume=True, **QUIET)
    with pytest.raises(SweepError, match="must start with them"):
        sweep([d], prompts, out, concurrency=[2, 4], requests_per_level=2, warmup_s=0, resume=True, **QUIET)
    with pytest.raises(RunError, match="pass --resume to continue it"):
        sweep([d], prompts, out, concurrency=[1, 2, 4], requests_per_level=2, warmup_s=0, **QUIET)
    assert kserver.state.served == served


@pytest.mark.slow
def test_ctrl_c_then_resume_runs_the_interrupted_level_again(kserver, prompts, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    config = tmp_path / "deployments.yaml"
    config.write_text(f"deployments:\n  - {{name: k4, model: Llama-3.3-70B-Instruct, kind: managed, endpoint: '{kserver.url}', key_env: SWEEP_TEST_KEY}}\n")
    out = tmp_path / "cut"
    command = [sys.executable, "-m", "llama_eval.cli", "sweep", "-d", str(config), "-p", str(prompts), "-o", str(out), "--concurrency", "1,2",
               "--requests-per-level", "6", "--warmup-s", "0", "--progress", "none", "--slo", "ttft_p90<=5"]  # fmt: skip
    env = {**os.environ, "SWEEP_TEST_KEY": "k"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(read_rows(out) if (out / "results.jsonl").exists() else []) < 7:  # level 1 done, level 2 begun
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "--resume" in err
    cut = json.loads((out / "sweep.json").read_text())
    assert [level["concurrency"] for level in cut["levels"]] == [1] and cut["stop_kind"] == "interrupted" and cut["resumable"]
    before = len(read_rows(out))
    done = subprocess.run([*command, "--resume"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads((out / "sweep.json").read_text())
    assert [level["concurrency"] for level in data["levels"]] == [1, 2] and data["sessions"] == 2 and data["stop_kind"] is None
    assert data["levels"][0] == cut["levels"][0], "level 1 as the first session measured it"
    assert data["levels"][1]["requests"] == 6, "level 2 measured whole in the second session"
    assert len(read_rows(out)) == before + 6


def test_progress_lines_name_the_deployment(kserver, prompts, tmp_path, monkeypatch):
    """Sweeps of several deployments print one after another (``make demo``): every line says whose level it is."""
    monkeypatch.setenv("SWEEP_TEST_KEY", "test-key")
    said: list[str] = []
    first = Deployment(name="llama31-8b", model="Llama-3.3-70B-Instruct", kind="managed", endpoint=kserver.url, key_env="SWEEP_TEST_KEY")
    capped = Deployment(name="capped-70b", model="Llama-3.3-70B-Instruct", kind="managed", endpoint=kserver.url, key_env="SWEEP_TEST_KEY",
                        quota=Quota(concurrency=2))  # fmt: skip
    for d, levels in ((first, [1, 2]), (capped, [1, 2, 4])):
        sweep([d], prompts, tmp_path / d.name, concurrency=levels, requests_per_level=2, warmup_s=0, slo="ttft_p90<=5", progress="none",
              announce=said.append)  # fmt: skip
    levels = [line for line in said if " level " in line and "stopped" not in line]
    assert [line.split(":")[0] for line in levels] == [
        "llama31-8b level 1 (concurrency 1)", "llama31-8b level 2 (concurrency 2)",
        "capped-70b level 1 (concurrency 1)", "capped-70b level 2 (concurrency 2)",
    ]  # fmt: skip
    assert all(" requests, " in line and " req/s, TTFT p50 " in line for line in levels), "the figures follow the name"
    stopped = [line for line in said if "stopped" in line]
    assert len(stopped) == 1 and stopped[0].startswith("capped-70b: sweep stopped before level 3: ")
    assert all(line.startswith(("llama31-8b", "capped-70b")) for line in said), said
