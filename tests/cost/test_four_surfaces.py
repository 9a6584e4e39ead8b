"""One number per quantity (issue 29): an option costs the same in every place the product shows it.

A demo-shaped run, made through the emulator (seeded, no delays): the demo's five deployments — two
serverless models that answer at different lengths, 3.1-405B and 3.1-8B on managed compute, 3.1-8B
self-hosted — scored, with real load sweeps of the 405B (managed) and the 70B (serverless) stored in
``RUN_DIR/sweeps`` as the demo stores its sweeps. Then, at the defaults (``llama_eval.defaults``: nothing given anywhere), each
option's monthly cost and cost per 1,000 requests is read from:

1. the report's projection table (``report.cost.options_table`` of ``cost_projection``, as notebook 40_cost builds it);
2. the report's decision (``report.brief``: its options table and its verdict sentence, as notebook 50_summary builds it);
3. ``llama-eval cost --json`` (a subprocess);
4. ``llama-eval recommend --json`` (a subprocess);
5. the Python API (``recommend(...)`` options' ``costed``; ``project_run(...).costs()``),

and every surface must give the same two numbers, to the cent and to the hundredth of a cent.
Before issue 29 the projection pooled token means over all models while the decision used each
model's own, so Maverick serverless cost $10.32 in one and $9.30 in the other on the same page;
the test checks first that the models' token means really differ here (else it could not catch that).
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from llama_eval import Deployment
from llama_eval.cost.traffic import option_token_means, token_means
from llama_eval.defaults import DEFAULT_REQUESTS_PER_DAY, DEFAULT_SLO, DEFAULT_TTFT_P90_SLO_S
from llama_eval.deployments.model import Compute
from llama_eval.emulator import start_emulator
from llama_eval.load.sweep import sweep
from llama_eval.paths import data_dir
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.quality.scoring import score_run
from llama_eval.run import RunParams, run_evaluation
from llama_eval.rundir.run import load_run

# The demo's run serves 3.1-8B and 3.1-405B (retired on serverless) through the emulator, which warns so: deliberate here.
pytestmark = pytest.mark.filterwarnings("ignore:emulated deployment:llama_eval.errors.LifecycleWarning")

MAVERICK = "Llama-4-Maverick-17B-128E-Instruct-FP8"
L70, L405, L8 = "Llama-3.3-70B-Instruct", "Meta-Llama-3.1-405B-Instruct", "Meta-Llama-3.1-8B-Instruct"
KEY_ENV = "FOUR_SURFACES_KEY"
CLI = str(Path(sys.executable).parent / "llama-eval")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The demo's deployments answered the quickstart and JSON-extraction prompts once each, scored; the 405B and the 70B swept."""
    base = tmp_path_factory.mktemp("four")
    prompts_path = base / "prompts.jsonl"
    lines = [line for name in ("quickstart.jsonl", "json_extraction.jsonl") for line in (data_dir() / "prompts" / name).read_text().splitlines()]
    prompts_path.write_text("\n".join(line for line in lines if line.strip() and not line.lstrip().startswith("//")) + "\n")
    prompts = load_prompt_set(prompts_path)
    run_dir = base / "runs" / "demo"
    with start_emulator(time_scale=0, seed=7, models=[L8, L405, L70, MAVERICK], prompt_sets=[prompts_path]) as emu, pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, emu.key)
        api = "azure-ai-inference"
        deployments = [
            Deployment(name="llama31-8b", model=L8, kind="managed", endpoint=emu.deployment_url(L8), key_env=KEY_ENV, api=api),
            Deployment(name="llama31-405b", model=L405, kind="managed", endpoint=emu.deployment_url(L405), key_env=KEY_ENV, api=api),
            Deployment(name="llama33-70b", model=L70, kind="serverless", endpoint=emu.deployment_url(L70), key_env=KEY_ENV, api=api),
            Deployment(name="llama4-maverick", model=MAVERICK, kind="serverless", endpoint=emu.deployment_url(MAVERICK), key_env=KEY_ENV, api=api),
            Deployment(
                name="llama31-8b-vllm",
                model=L8,
                kind="self-hosted",
                endpoint=f"{emu.url}/v1",  # the emulator's OpenAI-compatible /v1, as a vLLM server's
                deployment_name=L8,
                key_env=KEY_ENV,
                api="openai-v1",
                compute=Compute(gpu="H100", count=1, usd_per_hour=4.0),
            ),  # fmt: skip
        ]
        run_evaluation(deployments, prompts, run_dir, RunParams(repeats=1, temperature=0), progress="none", announce=lambda m: None)
    answered = {r.deployment for r in load_run(run_dir).answered}
    assert answered == {d.name for d in deployments}, f"every deployment answered: {answered}"
    # the sweep needs time that passes (a sweep at time scale 0 measures nothing): the same emulator at a tenth of the service's times
    with start_emulator(time_scale=0.1, seed=7, models=[L405, L70], prompt_sets=[prompts_path]) as emu, pytest.MonkeyPatch.context() as mp:
        mp.setenv(KEY_ENV, emu.key)
        for name, model, kind in (("llama31-405b", L405, "managed"), ("llama33-70b", L70, "serverless")):  # a fixed option, and the best-scoring one
            swept = Deployment(name=name, model=model, kind=kind, endpoint=emu.deployment_url(model), key_env=KEY_ENV, api="azure-ai-inference")
            sweep([swept], prompts, run_dir / "sweeps" / name, concurrency=[1, 2, 4], requests_per_level=8, warmup_s=0,
                  slo=DEFAULT_SLO, progress="none", announce=lambda m: None)  # fmt: skip
    score_run(run_dir)
    return run_dir


def _usd(text: str) -> Decimal | None:
    """``"$1,234.5600"`` (a report cell) -> Decimal; "no price" and floors ("at least ...") -> None: not a figure to compare."""
    return Decimal(text.removeprefix("$").replace(",", "")) if text.startswith("$") else None


def _dec(text: str | None) -> Decimal | None:
    return Decimal(text) if text else None


def _cli_json(*args: str) -> tuple[int, dict]:
    out = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=300)
    assert out.returncode in (0, 3), out.stderr[-3000:]
    return out.returncode, json.loads(out.stdout)


def test_every_surface_gives_an_option_the_same_monthly_cost_and_cost_per_1000_requests(demo_run):
    from llama_eval.cost.projection import project_run
    from llama_eval.decide import recommend
    from llama_eval.report.brief import brief_html, options_frame
    from llama_eval.report.cost import cost_projection, options_table
    from llama_eval.report.summary import recommendation

    # the case the test exists for: the models answer at different lengths, so pooled means would price Maverick wrong
    maverick, pooled = option_token_means(demo_run, MAVERICK, "serverless"), token_means(demo_run)
    assert maverick.deployments == ("llama4-maverick",)
    assert (maverick.input_tokens, maverick.output_tokens) != (pooled.input_tokens, pooled.output_tokens)

    # (1) the report's projection, as notebook 40_cost makes it with the report's defaults
    slo = f"ttft_p90<={DEFAULT_TTFT_P90_SLO_S}"
    projected = cost_projection(str(demo_run), DEFAULT_REQUESTS_PER_DAY, peak_rps=None, slo=slo)
    table = options_table(projected)
    surfaces: dict[str, dict[tuple[str, str], tuple[Decimal | None, Decimal | None]]] = {}
    surfaces["report projection"] = {
        (o.model, o.kind): (_usd(table.loc[o.label, "USD per month"]), _usd(table.loc[o.label, "USD per 1,000 requests"])) for o in projected.options
    }
    # (2) the report's decision, as notebook 50_summary makes it (the day's average as the peak, in floats, as the notebook computes it)
    decision = recommendation(str(demo_run), peak_rps=DEFAULT_REQUESTS_PER_DAY / 86_400, requests_per_day=DEFAULT_REQUESTS_PER_DAY, slo=slo)
    frame = options_frame(decision)
    surfaces["report decision"] = {
        (o.model, o.kind): tuple(Decimal(f"{frame.loc[o.label, c]:.{p}f}") if frame.loc[o.label, c] == frame.loc[o.label, c] else None
                                 for c, p in (("monthly", 2), ("per_1k", 4)))
        for o in decision.options
    }  # fmt: skip
    # (3) and (4): the two commands, with nothing given (their defaults are the report's)
    _, cost_out = _cli_json("cost", str(demo_run), "--json")
    surfaces["llama-eval cost"] = {
        (o["model"], o["kind"]): (Decimal(o["monthly_usd"]) if o["monthly_usd"] and not o["floor"] else None,
                                  Decimal(o["usd_per_1k_requests"]) if o["usd_per_1k_requests"] and not o["floor"] else None)
        for o in cost_out["projection"]["options"] if not o["retired"]
    }  # fmt: skip
    code, rec_out = _cli_json("recommend", str(demo_run), "--json")
    surfaces["llama-eval recommend"] = {(o["model"], o["kind"]): (_dec(o["monthly_usd"]), _dec(o["usd_per_1k_requests"])) for o in rec_out["options"]}
    # (5) the Python API, defaults and all
    api = recommend(demo_run)
    surfaces["recommend()"] = {(o.model, o.kind): (o.costed.monthly_usd, o.costed.usd_per_1k_requests) if o.costed else (None, None) for o in api.options}
    api_projection = project_run(demo_run, DEFAULT_REQUESTS_PER_DAY, slo=DEFAULT_SLO, sweeps=[demo_run / "sweeps"])
    surfaces["project_run()"] = {(o.model, o.kind): _figures(c) for o in api_projection.options if (c := api_projection.costs()[o.label])}

    # every option that two surfaces cost (a figure, not a floor) has one monthly cost and one cost per 1,000 requests
    keys = set().union(*surfaces.values())
    compared = 0
    for key in sorted(keys, key=str):
        seen = {name: figures[key] for name, figures in surfaces.items() if key in figures and figures[key][0] is not None}
        if len(seen) < 2:
            continue
        compared += 1
        assert len(set(seen.values())) == 1, f"{key}: {seen}"
    must = {(MAVERICK, "serverless"), (L70, "serverless"), (L405, "managed")}
    for key in must:  # the options the issue names, on all five surfaces
        assert all(key in figures and figures[key][0] is not None for figures in surfaces.values()), (key, {n: f.get(key) for n, f in surfaces.items()})
    assert compared >= len(must)

    # the summary's quality-vs-cost figure and its trend table give a per-token deployment the same cost per 1,000 requests
    from llama_eval.report.cost import cost_numbers

    numbers = cost_numbers(demo_run)["USD per 1k requests"]
    for name, model in (("llama4-maverick", MAVERICK), ("llama33-70b", L70)):
        assert Decimal(f"{numbers[name]:.4f}") == surfaces["recommend()"][(model, "serverless")][1], name

    # the decision's verdict sentence and the command's summary say the chosen option's figures, and the exit code says it was decided
    chosen = decision.chosen
    assert chosen is not None and chosen.costed is not None, decision.summary() + str([(o.label, o.lost) for o in decision.options])
    sentence = f"${chosen.costed.monthly_usd:,.2f} a month (${chosen.costed.usd_per_1k_requests:,.4f} per 1,000 requests)"
    assert sentence in brief_html(decision).replace("&#x27;", "'") and sentence in rec_out["summary"]
    assert code == rec_out["exit_status"] == (0 if rec_out["decided"] else 3)
    assert any("assumed 10,000 requests/day (default; --requests-per-day)" in line for line in rec_out["assumed"] + cost_out["assumed"])


def _figures(cost) -> tuple[Decimal | None, Decimal | None]:  # type: ignore[no-untyped-def]
    return (None, None) if cost.floor else (cost.monthly_usd, cost.usd_per_1k_requests)


def test_recommend_exit_status_is_0_when_it_recommends_and_3_when_it_cannot(demo_run, tmp_path):
    """Through the command, as a script sees it: 0 with a recommendation; 3, and no "Recommended:" line, when none can be made."""
    made = subprocess.run([CLI, "recommend", str(demo_run)], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    assert "Recommended: " in made.stdout and "Assumed 10,000 requests/day (default; --requests-per-day)." in made.stdout
    # an objective no sweep can meet (a first token in 1 ms): no option is shown to hold it, so nothing can be recommended
    none = subprocess.run([CLI, "recommend", str(demo_run), "--slo", "ttft_p90<=0.000001", "--peak-rps", "1000"], capture_output=True, text=True, timeout=300)
    assert none.returncode == 3, none.stdout[-2000:] + none.stderr[-2000:]
    assert "No option can be recommended" in none.stdout and "Recommended:" not in none.stdout
    helped = subprocess.run([CLI, "recommend", "--help"], capture_output=True, text=True, timeout=60)
    assert "exit status:" in helped.stdout and "0  a recommendation is made" in helped.stdout and "3  no recommendation can be made" in helped.stdout
