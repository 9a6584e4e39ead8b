"""``llama-eval synth``: a prompt set of given shapes (input and output lengths, shared prefixes), counted with the model's tokenizer."""

from __future__ import annotations

import argparse


def command(args: argparse.Namespace) -> int:
    from llama_eval.catalog.models import load_catalog
    from llama_eval.catalog.tokens import counter_for
    from llama_eval.prompts.prompt_set import load_prompt_set
    from llama_eval.prompts.synth import LengthDistribution, SynthRecipe, write_synth_set

    counter = counter_for(load_catalog().get(args.model).family)
    recipe = SynthRecipe(
        count=args.count,
        input=LengthDistribution.parse(args.input, flag="--input"),
        output=LengthDistribution.parse(args.output_tokens, flag="--output-tokens"),
        prefix_tokens=args.prefix_tokens,
        prefix_share=args.prefix_share if args.prefix_share is not None else (1.0 if args.prefix_tokens else 0.0),
        prefix_groups=args.prefix_groups,
        seed=args.seed,
        tokenizer=counter.kind,
    )
    recorded = write_synth_set(recipe, counter, args.output)
    load_prompt_set(args.output)  # what was written must load as a prompt set
    raised = f"; {recorded['raised_to_minimum']} inputs raised to the least a request can hold" if recorded["raised_to_minimum"] else ""
    prefix = ""
    if args.prefix_tokens:
        prefix = f", {recorded['requests_with_prefix']} with a shared {args.prefix_tokens}-token prefix ({args.prefix_groups} group(s))"
    print(f"wrote {args.count} prompts to {args.output} ({counter.kind} tokenizer{prefix}{raised})")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    synth = sub.add_parser(
        "synth",
        help="write a synthetic prompt set of given input/output lengths and shared prefixes",
        epilog="Distributions: fixed:N | uniform:LO:HI | normal:MEAN:STD | lognormal:MEDIAN:SIGMA | hist:100=5,400-800=2 | hist:FILE.csv "
        "(columns tokens, weight). Input lengths are whole prompts (chat template and prefix included), counted with --model's tokenizer.",
    )
    synth.add_argument("-o", "--output", required=True, help="the prompt set to write (JSONL; its first line records the recipe)")
    synth.add_argument("--count", type=int, default=1000, help="requests in the set (default 1000)")
    synth.add_argument("--input", default="fixed:512", help="prompt-token length distribution (default fixed:512)")
    synth.add_argument("--output-tokens", default="fixed:128", help="completion-token length distribution, asked as max_tokens (default fixed:128)")
    synth.add_argument("--prefix-tokens", type=int, default=0, help="length of a shared system-prompt prefix, in tokens (0: none)")
    synth.add_argument("--prefix-share", type=float, help="share of requests that carry a prefix, 0..1 (default 1 when --prefix-tokens is set)")
    synth.add_argument("--prefix-groups", type=int, default=1, help="distinct prefixes, requests dealt evenly among them (default 1)")
    synth.add_argument("--model", default="Llama-3.3-70B-Instruct", help="catalog model whose tokenizer counts the lengths")
    synth.add_argument("--seed", type=int, default=0)
    synth.set_defaults(func=command)
