"""``llama-eval history`` over a quarter of nightly runs (target: the question answered in under ~2 s on this machine).

90 synthetic nightly runs of 5 deployments (24 rows each, scored; the prompt set gains a version on
night 45), each added to a local run store (``store.add_run``): 450 Parquet files. The question is
"how did llama33-70b's TTFT p90 and score move since September, across prompt-set versions?":
``load_history(deployment="llama33-70b", since="2026-09-01")`` in this process, and the same as
``llama-eval history`` in a new process (start-up and imports included). Baseline: DuckDB reading
the same files alone (``SELECT count(*)`` over every column of every file the query reads), in the
same process, so the ratio shows what the query adds to reading. Also: the whole store (every
deployment), the time to add one run, and — when adlfs and Azurite are installed (``make azurite``) —
the same question with the store in Azure Blob Storage emulated by Azurite on this machine.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import duckdb  # noqa: E402

from _support.azurite import azurite_binary, running_azurite  # noqa: E402
from _support.nightly import nightly_runs  # noqa: E402
from llama_eval.store import add_run, load_history, resolve_store  # noqa: E402
from llama_eval.store.history import HistoryFilter, store_files  # noqa: E402

NIGHTS = 90


def best(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        start = time.perf_counter()
        runs = nightly_runs(root, NIGHTS, version_change_day=45)
        made = time.perf_counter() - start
        adds = []
        for run in runs:
            t = time.perf_counter()
            add_run(run)
            adds.append(time.perf_counter() - t)
        store = root / ".store"
        location = resolve_store(store)
        files = store_files(location, HistoryFilter(deployments=("llama33-70b",)))
        all_files = store_files(location)
        answer = load_history(store, deployment="llama33-70b", since="2026-09-01")
        assert len(answer) == NIGHTS and answer["prompt_set_sha256"].nunique() == 2

        def read_alone(paths):
            con = duckdb.connect()
            con.execute("SELECT count(*) FROM read_parquet($f, union_by_name = true, hive_partitioning = false)", {"f": paths}).fetchall()
            con.close()

        question = best(lambda: load_history(store, deployment="llama33-70b", since="2026-09-01"))
        baseline = best(lambda: read_alone(files))
        everything = best(lambda: load_history(store))
        baseline_all = best(lambda: read_alone(all_files))
        cli = best(lambda: subprocess.run([sys.executable, "-m", "llama_eval.cli", "history", "--store", str(store), "--deployment", "llama33-70b",
                                           "--since", "2026-09-01"], check=True, capture_output=True), repeat=3)  # fmt: skip
        print(f"store: {NIGHTS} runs x 5 deployments = {len(all_files)} files; the answer: {len(answer)} rows (one a night) "
              f"(made in {made:.1f} s; add_run median {sorted(adds)[len(adds) // 2] * 1000:.0f} ms)")
        print(f"the question (llama33-70b since September, {len(files)} files): load_history {question:.3f} s; DuckDB reading the files alone "
              f"{baseline:.3f} s; ratio {question / baseline:.2f}")
        print(f"the whole store ({len(all_files)} files, 5 deployments): load_history {everything:.3f} s; reading alone {baseline_all:.3f} s; "
              f"ratio {everything / baseline_all:.2f}")
        print(f"`llama-eval history --deployment llama33-70b --since 2026-09-01` in a new process: {cli:.2f} s (target < ~2 s)")
        on_azurite(runs, Path(tmp))


def on_azurite(runs: list[Path], tmp: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("adlfs") is None or azurite_binary() is None:
        print("Azurite: not measured (needs adlfs, pip install 'llama-eval[azure-store]', and Azurite, make azurite)")
        return
    (tmp / "azurite").mkdir()
    with running_azurite(tmp / "azurite") as connection_string:
        location = resolve_store("abfs://bench/store", storage_options={"connection_string": connection_string})
        start = time.perf_counter()
        for run in runs:
            add_run(run, location)
        uploaded = time.perf_counter() - start
        files = store_files(location, HistoryFilter(deployments=("llama33-70b",)))
        answer = load_history(location, deployment="llama33-70b", since="2026-09-01")
        assert len(answer) == NIGHTS
        question = best(lambda: load_history(location, deployment="llama33-70b", since="2026-09-01"), repeat=3)
        print(f"Azurite (Azure Blob through adlfs, same machine): {len(runs)} runs added in {uploaded:.1f} s; the question ({len(files)} blobs) "
              f"{question:.2f} s")


if __name__ == "__main__":
    main()
