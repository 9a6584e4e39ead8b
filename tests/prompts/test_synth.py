"""Synthetic prompt sets: lengths follow the distribution asked for, counted with the model's tokenizer; prefixes are shared."""

from __future__ import annotations

import math
import random
import subprocess
import sys
from collections import Counter

import pytest
from scipy import stats

from llama_eval.catalog.tokens import counter_for
from llama_eval.errors import WorkloadError
from llama_eval.prompts.prompt_set import load_prompt_set
from llama_eval.prompts.synth import LengthDistribution, SynthRecipe, chat_of_tokens, synth_items, write_synth_set

LLAMA3 = counter_for(None)


def draws(text: str, n: int = 20_000, seed: int = 1) -> list[int]:
    dist, rng = LengthDistribution.parse(text), random.Random(seed)
    return [dist.draw(rng) for _ in range(n)]


def test_fixed_and_uniform_lengths():
    assert set(draws("fixed:300", 100)) == {300} and set(draws("300", 100)) == {300}
    values = draws("uniform:100:400")
    assert min(values) == 100 and max(values) == 400
    # every value equally likely: a chi-square test over ten equal bins
    counts = Counter((v - 100) * 10 // 301 for v in values)
    assert stats.chisquare([counts[i] for i in range(10)]).pvalue > 0.001


def test_normal_lengths_follow_the_normal_distribution():
    values = draws("normal:300:50")
    assert stats.kstest(values, stats.norm(loc=300, scale=50).cdf).pvalue > 0.001
    assert stats.kstest(values, stats.norm(loc=320, scale=50).cdf).pvalue < 1e-6, "the test can tell a shifted mean"


def test_lognormal_lengths_have_the_asked_median_and_log_spread():
    values = draws("lognormal:400:0.6")
    logs = [math.log(v) for v in values]
    assert stats.kstest(logs, stats.norm(loc=math.log(400), scale=0.6).cdf).pvalue > 0.001
    assert sorted(values)[len(values) // 2] == pytest.approx(400, rel=0.03)


def test_histogram_values_and_ranges_are_drawn_by_weight(tmp_path):
    values = draws("hist:100=5,200=3,400-800=2")
    counts = Counter("a" if v == 100 else "b" if v == 200 else "c" if 400 <= v <= 800 else "?" for v in values)
    assert "?" not in counts
    assert stats.chisquare([counts["a"], counts["b"], counts["c"]], [0.5 * len(values), 0.3 * len(values), 0.2 * len(values)]).pvalue > 0.001
    path = tmp_path / "h.csv"
    path.write_text("tokens,count\n50,1\n60-70,3\n")
    from_file = draws(f"hist:{path}", 4000)
    assert sum(v == 50 for v in from_file) / 4000 == pytest.approx(0.25, abs=0.03) and all(v == 50 or 60 <= v <= 70 for v in from_file)


@pytest.mark.parametrize(
    "text, message",
    [
        ("gauss:1:2", "unknown distribution 'gauss'"),
        ("normal:300", "normal takes 2 numbers"),
        ("uniform:400:100", "LO <= HI"),
        ("fixed:12.5", "whole numbers"),
        ("normal:a:b", "must be numbers"),
        ("hist:100=x", "entry 1: write TOKENS=WEIGHT"),
        ("hist:100=0", "the histogram is empty"),
        ("hist:nope.csv", "histogram file not found"),
    ],
)
def test_bad_distributions_say_what_to_write(text, message):
    with pytest.raises(WorkloadError, match=message):
        LengthDistribution.parse(text)


def test_histogram_file_errors_name_the_line(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("tokens,weight\n100,1\n200-x,2\n")
    with pytest.raises(WorkloadError, match=rf"{path} line 3: write TOKENS=WEIGHT"):
        LengthDistribution.parse(f"hist:{path}")


def test_every_prompt_has_exactly_its_drawn_length_with_the_tokenizer():
    recipe = SynthRecipe(300, LengthDistribution.parse("lognormal:300:0.8"), LengthDistribution.parse("uniform:10:60"), seed=3)
    lines, made = synth_items(recipe, LLAMA3)
    assert len(lines) == 300
    for line in lines:
        assert LLAMA3.count_chat(line["messages"]) == line["metadata"]["input_tokens"]
        assert line["max_tokens"] == line["metadata"]["output_tokens"] and line["metadata"]["ignore_eos"] is True
    assert made["raised_to_minimum"] == sum(line["metadata"]["input_tokens"] == 11 for line in lines)


def test_llama4_lengths_are_counted_with_its_own_tokenizer():
    llama4 = counter_for("llama-4")
    messages = chat_of_tokens(llama4, 777, random.Random(0))
    assert llama4.count_chat(messages) == 777


def test_shared_prefixes_go_to_the_asked_share_in_several_groups():
    recipe = SynthRecipe(500, LengthDistribution.parse("uniform:1100:1500"), LengthDistribution.parse("fixed:50"), prefix_tokens=1000,
                         prefix_share=0.8, prefix_groups=4, seed=5)  # fmt: skip
    lines, made = synth_items(recipe, LLAMA3)
    prefixed = [line for line in lines if line["metadata"]["prefix_group"] is not None]
    assert len(prefixed) == 400 == made["requests_with_prefix"]
    groups = Counter(line["metadata"]["prefix_group"] for line in prefixed)
    assert sorted(groups) == [0, 1, 2, 3] and set(groups.values()) == {100}, "dealt evenly"
    for group in range(4):
        texts = {line["messages"][0]["content"] for line in prefixed if line["metadata"]["prefix_group"] == group}
        assert len(texts) == 1, "one prefix per group, the same text in every request of it"
        assert LLAMA3.count(texts.pop()) == 1000
    assert len({line["messages"][0]["content"] for line in prefixed}) == 4, "the groups' prefixes differ"
    assert all(line["messages"][0]["role"] == "user" for line in lines if line["metadata"]["prefix_group"] is None)
    assert all(LLAMA3.count_chat(line["messages"]) == line["metadata"]["input_tokens"] for line in lines), "the prefix counts in the input length"


def test_the_set_records_its_recipe_and_is_reproducible(tmp_path):
    recipe = SynthRecipe(50, LengthDistribution.parse("normal:200:30"), LengthDistribution.parse("fixed:20"), prefix_tokens=64, prefix_share=0.5, seed=9)
    recorded = write_synth_set(recipe, LLAMA3, tmp_path / "a.jsonl")
    write_synth_set(recipe, LLAMA3, tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    loaded = load_prompt_set(tmp_path / "a.jsonl")
    assert len(loaded) == 50 and loaded.recipe == recorded
    assert loaded.recipe["input"]["distribution"] == "normal" and loaded.recipe["prefix_tokens"] == 64 and loaded.recipe["tokenizer"] == "llama3"
    assert loaded.items[0].metadata["ignore_eos"] is True


def test_synth_command_writes_a_set_and_refuses_bad_input_before_writing(tmp_path):
    out = tmp_path / "s.jsonl"
    command = [sys.executable, "-m", "llama_eval.cli", "synth", "-o", str(out), "--count", "40", "--input", "uniform:1100:1300",
               "--output-tokens", "normal:100:20", "--prefix-tokens", "1000", "--prefix-share", "0.8", "--prefix-groups", "2"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "wrote 40 prompts" in done.stdout and "32 with a shared 1000-token prefix (2 group(s))" in done.stdout
    assert load_prompt_set(out).recipe["prefix_share"] == 0.8
    bad = subprocess.run([*command[:5], str(tmp_path / "t.jsonl"), "--input", "normal:1"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--input 'normal:1': normal takes 2 numbers" in bad.stderr
    assert not (tmp_path / "t.jsonl").exists()
