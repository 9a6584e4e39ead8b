"""A sweep with ``--executor ray --clients 2`` on a local Ray cluster (two worker processes) against servers of known capacity.

One Ray cluster for the module (``ray.init`` is the expensive part). Checked: the two-client sweep finds
the single-process sweep's capacity and its TTFT p50/p90 within 5%; every scheduled request appears
exactly once in the merged rows, with its client; the clock offsets are recorded with the uncertainty
they add; an emulator's time scale is applied as one process applies it; a killed client is reported
(which one, how many rows it had delivered, all of them on disk) and ``--resume`` finishes the sweep.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

ray = pytest.importorskip("ray", reason="Ray is an optional extra (pip install 'llama-eval[ray]'); make test installs it")

from _support.capacityserver import CapacityServer  # noqa: E402
from llama_eval.deployments.model import Deployment  # noqa: E402
from llama_eval.distributed import RayExecutor  # noqa: E402
from llama_eval.load.sweep import sweep  # noqa: E402
from llama_eval.rundir.store import read_rows  # noqa: E402

# serial: the percentiles are judged against wall-clock latency, and a Ray cluster's processes would slow whatever test
# ran beside it (make test runs serial tests alone, after the parallel part)
pytestmark = [pytest.mark.slow, pytest.mark.serial]

QUIET = {"progress": "none", "announce": lambda message: None, "store": "off"}
# service time 0.46 s; at most 4 served at once, FIFO beyond. A TTFT of 0.4 s keeps a loaded 2-core machine's scheduling jitter
# (tens of ms) inside the 5% the two sweeps must agree within
K, TTFT, TOKENS, INTERVAL = 4, 0.4, 4, 0.02


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster with two worker CPUs (one client process each), shared by the module's tests."""
    for attempt in (1, 2):  # Ray gives its raylet 30 s to register; on a busy 2-core machine the first start can miss that
        try:
            ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def kserver():
    with CapacityServer(K, ttft_s=TTFT, tokens=TOKENS, interval_s=INTERVAL) as server:
        yield server


@pytest.fixture
def prompts(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Say hello number {i}."}) + "\n" for i in range(5)))
    return path


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("RAY_TEST_KEY", "test-key")


def _deployment(url: str) -> Deployment:
    return Deployment(name="k4", model="Llama-3.3-70B-Instruct", kind="managed", endpoint=url, key_env="RAY_TEST_KEY")


def _measured(rows: list[dict], level: int) -> list[dict]:
    return [r for r in rows if r["level"] == level and not r["warmup"]]


def test_two_clients_find_the_single_process_capacity_and_percentiles(cluster, kserver, prompts, tmp_path, key):
    d = _deployment(kserver.url)
    common = {"concurrency": [2, 4, 6], "requests_per_level": 16, "warmup_s": 0.5, "slo": f"ttft_p90<={TTFT + 0.1}", "stop_factor": 10}
    one = sweep([d], prompts, tmp_path / "one", **common, **QUIET)
    two = sweep([d], prompts, tmp_path / "two", **common, executor=RayExecutor(clients=2), **QUIET)

    assert one.capacity.level.concurrency == K and two.capacity.level.concurrency == one.capacity.level.concurrency
    assert kserver.state.max_in_service <= K
    for a, b in zip(one.levels, two.levels, strict=True):
        assert a.requests == b.requests == 16
        if a.concurrency > K:  # past the knee both queue (which client's request is served first differs, so the split of
            assert not a.slo_met and not b.slo_met  # queued and unqueued requests at a percentile can too): both miss the SLO
            assert b.ttft_p90_s > TTFT + 0.8 * (TTFT + (TOKENS - 1) * INTERVAL)  # a queued request waits about a service time
            continue
        for metric in ("ttft_p50_s", "ttft_p90_s"):  # up to the capacity: the same percentiles within 5%
            x, y = getattr(a, metric), getattr(b, metric)
            assert abs(y - x) / x < 0.05, (a.load, metric, x, y)
    rows = read_rows(tmp_path / "two")
    assert len({r["key"] for r in rows}) == len(rows)
    assert sorted(r["repeat"] for r in rows) == list(range(1, len(rows) + 1))  # every request once, no gap, no repeat
    for level in (1, 2, 3):  # every level: its measured requests, dealt evenly over both clients
        by_client = [sum(1 for r in _measured(rows, level) if r["client"] == c) for c in (0, 1)]
        assert by_client == [8, 8]
    clients = json.loads((tmp_path / "two" / "sweep.json").read_text())["clients"]
    assert clients["count"] == 2 and [c["client"] for c in clients["clients"]] == [0, 1]
    assert all(c["probes"] == 8 and c["rtt_ms"] >= 0 and abs(c["offset_ms"]) < 1000 for c in clients["clients"])  # one machine: one clock
    assert len({c["pid"] for c in clients["clients"]}) == 2  # two processes
    assert f"±{clients['clock_offset_uncertainty_ms']:.1f} ms" in clients["uncertainty_note"]
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["clients"]["clock_offset_uncertainty_ms"] == clients["clock_offset_uncertainty_ms"]


def test_a_killed_client_is_reported_and_resume_finishes_its_level(cluster, prompts, tmp_path, key):
    # a server that announces an emulator time scale of 2: the sweep's times are the service's, measured / 2, as in one process
    with CapacityServer(K, ttft_s=TTFT, tokens=TOKENS, interval_s=INTERVAL, time_scale=2.0) as server:
        d, out = _deployment(server.url), tmp_path / "killed"

        class Keeping(RayExecutor):
            def sweeper(self, *args, **kwargs):
                self.made = super().sweeper(*args, **kwargs)
                return self.made

        executor = Keeping(clients=2)

        def kill_client_1_after_some_rows() -> None:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                path = out / "results.jsonl"
                if path.exists() and sum(json.loads(line).get("client") == 1 for line in path.read_text().splitlines() if line.endswith("}")) >= 6:
                    ray.kill(executor.made.actors[1])
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_client_1_after_some_rows, daemon=True)
        killer.start()
        first = sweep([d], prompts, out, concurrency=[4], requests_per_level=40, warmup_s=0, **QUIET, executor=executor)
        killer.join()
        assert first.stop_kind == "client-lost" and first.resumable
        assert "client 1 of 2 was lost during level 1" in first.stopped
        delivered = int(first.stopped.split("after delivering ")[1].split(" rows")[0])
        on_disk = read_rows(out)
        assert delivered >= 6 and sum(1 for r in on_disk if r["client"] == 1) == delivered  # every row it delivered is on disk
        assert len(first.levels) == 0  # the level was not finished: no statistics from a part of it
        lost = json.loads((out / "sweep.json").read_text())["clients"]["lost"]
        assert lost == [{"client": 1, "level": 1, "rows_delivered": delivered, "error": lost[0]["error"]}]

        again = sweep([d], prompts, out, concurrency=[4], requests_per_level=40, warmup_s=0, resume=True, **QUIET, executor=RayExecutor(clients=2))
    assert again.stopped is None and len(again.levels) == 1 and again.levels[0].requests == 40
    rows = read_rows(out)
    assert len({r["key"] for r in rows}) == len(rows)  # the first session's rows stay; no key is used twice
    assert len(rows) == len(on_disk) + 40 and sum(1 for r in rows if r.get("session") == 2) == 40
    # emulated time: TTFT 0.4 s measured is 0.2 s of the service (time scale 2), as a single process reports it
    assert again.levels[0].ttft_p50_s == pytest.approx(TTFT / 2, rel=0.05)


def test_the_cli_splits_an_open_loop_schedule_and_states_the_clock_uncertainty(cluster, kserver, prompts, tmp_path, monkeypatch, capsys):
    from llama_eval.cli import main

    config = tmp_path / "deployments.yaml"
    config.write_text(f"deployments:\n  - {{name: k4, model: Llama-3.3-70B-Instruct, kind: managed, endpoint: '{kserver.url}', key_env: RAY_TEST_KEY}}\n")
    out, store = tmp_path / "open", tmp_path / "store"
    monkeypatch.setenv("RAY_TEST_KEY", "k")
    # in this process: the module's cluster is already up (a second driver joining it costs ~10 s here); --ray-address is then unused
    code = main(["sweep", "-d", str(config), "-p", str(prompts), "-o", str(out), "--rate", "4,8", "--requests-per-level", "16",
                 "--warmup-s", "0.5", "--seed", "5", "--progress", "none", "--executor", "ray",
                 "--clients", "2", "--store", str(store)])  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "clients: 2 Ray clients" in printed and "clock offset uncertainty ±" in printed
    rows = read_rows(out)
    # the one seeded schedule: per level its warm-up arrivals plus 16 measured ones, each sent once, dealt round-robin
    assert sorted(r["repeat"] for r in rows) == list(range(1, len(rows) + 1))
    for level in (1, 2):
        arrivals = sorted((r for r in rows if r["level"] == level), key=lambda r: r["repeat"])
        assert len(_measured(rows, level)) == 16
        assert [r["client"] for r in arrivals] == [i % 2 for i in range(len(arrivals))]
        assert all(r["sender_lateness_s"] < 0.1 for r in arrivals)
    assert any(store.rglob("*.parquet")), "--store PATH: the finished sweep is in the run store"


def test_run_deals_every_request_once_over_two_clients_with_their_share_of_the_quota(cluster, prompts, tmp_path, monkeypatch, capsys):
    from llama_eval.cli import main

    monkeypatch.setenv("RAY_TEST_KEY", "k")
    with CapacityServer(8, ttft_s=0.05, tokens=3, interval_s=0.01) as server:
        config = tmp_path / "deployments.yaml"
        config.write_text(f"deployments:\n  - {{name: k8, model: Llama-3.3-70B-Instruct, kind: managed, endpoint: '{server.url}', key_env: RAY_TEST_KEY,"
                          " quota: {concurrency: 4}}\n")  # fmt: skip
        out = tmp_path / "run"
        code = main(["run", "-d", str(config), "-p", str(prompts), "-o", str(out), "--repeats", "4", "--concurrency", "4", "--progress", "none",
                     "--store", "off", "--executor", "ray", "--clients", "2"])  # fmt: skip
        assert code == 0, capsys.readouterr()
        assert server.state.max_in_service <= 4  # two clients, each pacing to its half of the deployment's 4 concurrent requests
    rows = read_rows(out)
    assert sorted(r["key"] for r in rows) == sorted(f"k8|p{i}|{r}" for i in range(5) for r in range(4))  # 20 requests, each once
    assert {r["client"] for r in rows} == {0, 1} and all(r["status"] == "ok" for r in rows)
    record = json.loads((out / "manifest.json").read_text())
    assert record["status"] == "completed" and record["clients"]["count"] == 2 and "clock_offset_uncertainty_ms" in record["clients"]
